"""XPT files parsed in a child process while ``trialflow validate`` is still starting.

Before it reads a byte, ``trialflow validate`` spends 0.2-0.3 s importing pandas on one core,
and then parses the files on that same core. :class:`XptPrefetch` forks a child first, which
imports numpy and pyarrow only and parses the package's XPT v5 files
(:func:`~trialflow.io.xpt_v5.parse_xpt_v5`, the parse the reader itself runs) on the other
core meanwhile. It writes each file's columns into a memory file as an Arrow IPC stream and
says so through a pipe; the reader maps them without copying. pyreadstat, pandas and the
rest of the pipeline are never imported in the child.

The child is a helper, never the authority:

* the reader still runs every check of a file itself (its layout, its padding, the limits,
  the end of its records) before it takes the child's columns, and takes them only for the
  file the child read (same device, inode, size and modification time);
* the child reads a file only after the checks that guard the reader's memory (its headers
  and its padding, against the same ``--limit`` values), and leaves any file it does not
  parse exactly as the reader would to the reader;
* the two share the files as :class:`~trialflow.background.Claims`: the child takes them
  from the largest down, and the reader takes every file the child has not started when it
  gets there, so neither waits for work the other could do; a child that dies leaves its
  files to the reader.

Packages above :data:`MAX_BYTES` of XPT files are read as before: the import is then a small
part of the time, and the child would hold a second copy of the largest file for a moment.

Example:
    >>> import pathlib, tempfile
    >>> import pandas as pd
    >>> from trialflow.io.package import read_package
    >>> from trialflow.io.xpt import XptVariable, write_xpt
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> variables = [XptVariable("DOMAIN", "", "Char", 2),
    ...     XptVariable("USUBJID", "", "Char", 70), XptVariable("AGE", "", "Num", 8)]
    >>> dm = pd.DataFrame({"DOMAIN": ["DM", "DM"], "USUBJID": ["S-1", "S-2"], "AGE": [34.0, 51.0]})
    >>> _ = write_xpt(dm, folder / "dm.xpt", dataset="DM", variables=variables)
    >>> with XptPrefetch.start([folder]) as prefetch:
    ...     package, findings = read_package([folder], prefetch=prefetch)
    >>> package.get("DM").frame["AGE"].tolist(), findings
    ([34.0, 51.0], [])
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import signal
import struct
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from trialflow import limits
from trialflow.background import Claims, fork, parallel
from trialflow.io.xpt_v5 import RECORD, XptV5Data, XptV5Header

# trialflow.io.xpt_v5 imports numpy, so this process has numpy before the fork, on purpose:
# forked earlier, the child imports numpy while this process does, and both run slower (the
# whole command on the CDISC pilot's files: 0.84 s against 0.79 s, medians of 21).

__all__ = ["MAX_BYTES", "XptPrefetch"]

MAX_BYTES = 256 * 1024 * 1024
"""XPT bytes of a package above which nothing is read ahead."""

_LENGTH = struct.Struct("<Q")  # before each message on the pipe

_Key = tuple[int, int, int, int, int]
"""A file as read: device, inode, size, modification and change times (ns). The change time
is the kernel's: a file rewritten and given its old modification time back has a new one."""


class XptPrefetch:
    """The XPT v5 files of a package, parsed by a child process as the command starts.

    Use :meth:`start`; hand the object to :func:`~trialflow.io.package.read_package`, which
    asks :meth:`parsed` for each XPT file.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())  # no XPT file: nothing to read ahead
        >>> with XptPrefetch.start([folder]) as prefetch:
        ...     prefetch is None
        True
    """

    def __init__(self, files: list[Path]) -> None:
        self._files = files
        self._where = {os.path.realpath(path): i for i, path in enumerate(files)}
        self._claims = Claims(len(files))
        self._memory = os.memfd_create("trialflow-prefetch")
        self._lock = threading.Lock()  # the reader asks from two threads
        self._receiving = threading.Lock()
        self._mine: set[int] | None = None
        self._done: dict[int, Any] = {}
        self._ended = False
        self._closed = False
        self._read, write = os.pipe()
        self._pid: int | None = fork(lambda: self._child(write))
        os.close(write)

    @classmethod
    @contextlib.contextmanager
    def start(cls, paths: Sequence[str | os.PathLike[str]]) -> Iterator[XptPrefetch | None]:
        """Start parsing the XPT files of ``paths`` (files, folders, run folders) in a child,
        for the block; None (nothing read ahead) with one CPU, ``TRIALFLOW_JOBS=1``, no
        ``os.memfd_create`` (not Linux), no XPT file, or more than :data:`MAX_BYTES`. The
        child is stopped when the block ends."""
        files = _xpt_files(paths)
        if not files or not parallel() or not hasattr(os, "memfd_create"):
            yield None
            return
        prefetch = cls(files)
        try:
            yield prefetch
        finally:
            prefetch.close()

    def parsed(self, path: Path) -> XptV5Data | None:
        """The child's parse of the XPT file at ``path``, waiting for it if the child is at
        it; None when the caller is to read the file itself: the child did not get to it,
        could not parse it, or the file changed since.

        The first call claims every file the child has not started, for the caller.
        """
        index = self._where.get(os.path.realpath(path))
        if index is None:
            return None
        with self._lock:
            if self._mine is None:
                self._mine = set(self._claims.rest(False))
        if index in self._mine:
            return None
        with self._receiving:  # one thread reads the pipe; a file of the reader's never waits
            while index not in self._done and not self._ended:
                self._receive()
            entry = self._done.pop(index, None)
        if entry is None:
            return None
        key, offset, lengths, header, rows, counts = entry
        try:
            if _key(os.stat(path)) != key:
                return None
            return _load(self._memory, offset, lengths, header, rows, counts)
        except (OSError, ValueError):  # gone since, or no memory to map: read it here
            return None

    def close(self) -> None:
        """Stop the child (if it still runs), wait for it and release what it used.

        The columns already handed out stay valid: they map the memory file themselves.
        """
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None
        if not self._closed:
            self._closed = True
            os.close(self._read)
            os.close(self._memory)
            self._claims.close()

    def _receive(self) -> None:
        """Read one message of the child: (index, what the child found), or the end."""
        head = _read_exactly(self._read, _LENGTH.size)
        body = _read_exactly(self._read, _LENGTH.unpack(head)[0]) if head else b""
        if not body:
            self._ended = True
            return
        index, entry = pickle.loads(body)
        self._done[index] = entry

    def _child(self, write: int) -> None:
        """The child's work: parse the files it claims, largest first, and say so."""
        os.close(self._read)
        end = 0
        for index in self._claims.each(True):
            try:
                entry, end = _parse_into(self._files[index], self._memory, end)
            except OSError:  # gone, unreadable: the reader says what it finds
                entry = None
            message = pickle.dumps((index, entry))
            _write_all(write, _LENGTH.pack(len(message)) + message)
        os.close(write)


def _xpt_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The XPT files ``trialflow validate`` will read from ``paths``, largest first: files
    named, the files of folders, the sdtm/ and adam/ folders of a run folder. A path that
    can't be listed is left to the reader, which reports it."""
    found: dict[str, tuple[int, Path]] = {}
    for given in paths:
        path = Path(given)
        try:
            if path.is_dir():
                subs = [path / kind for kind in ("sdtm", "adam") if (path / kind).is_dir()]
                candidates = [c for folder in subs or [path] for c in folder.iterdir()]
            else:
                candidates = [path]
            for candidate in candidates:
                if candidate.suffix.lower() == ".xpt" and not candidate.name.startswith("."):
                    size = candidate.stat().st_size
                    found.setdefault(os.path.realpath(candidate), (size, candidate))
        except OSError:
            continue
    total = sum(size for size, _ in found.values())
    if total > MAX_BYTES:
        return []
    return [path for _, path in sorted(found.values(), key=lambda item: -item[0])]


def _key(stat: os.stat_result) -> _Key:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _parse_into(path: Path, memory: int, end: int) -> tuple[Any, int]:
    """Parse ``path`` and write its columns into the memory file after ``end``; what the
    reader needs to find them (None when the file is left to the reader) and the new end."""
    from trialflow.io.xpt_v5 import parse_xpt_v5, xpt_v5_header

    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        if stat.st_size == 0:
            return None, end
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            header = xpt_v5_header(data)
            if header is None or _padded(data, header):
                return None, end
            parsed = parse_xpt_v5(data, header)
    if parsed is None:
        return None, end
    offset = end + (-end % mmap.ALLOCATIONGRANULARITY)  # a map starts on a page
    lengths, counts = _write_ipc(parsed, memory, offset)
    return (_key(stat), offset, lengths, header, parsed.rows, counts), offset + sum(lengths)


def _padded(data: mmap.mmap, header: XptV5Header) -> bool:
    """Whether the file ends in more blanks than padding explains, as the reader's own check
    (``trialflow.raw.guard.check_xpt_padding``) judges it: such a file is not parsed here, and
    the reader refuses it before reading."""
    allowed = header.width + RECORD + limits.current().xpt_padding_bytes
    look = min(len(data) - header.start, allowed + 1)
    return look > allowed and not data[len(data) - look :].strip(b" ")


def _write_ipc(parsed: XptV5Data, memory: int, offset: int) -> tuple[tuple[int, int], list[int]]:
    """Write the columns and then the codes of the text columns as one Arrow IPC stream at
    ``offset`` of the memory file, and the text columns' distinct values one after another
    as a second stream after it; the lengths of the two streams and the number of distinct
    values of each text column."""
    import numpy as np
    import pyarrow as pa

    def numbers(values: np.ndarray, kind: Any) -> Any:
        return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])

    arrays = [
        numbers(column, pa.float64()) if isinstance(column, np.ndarray) else column
        for column in parsed.columns
    ]
    factors = [factor for factor in parsed.factors if factor is not None]
    arrays += [numbers(codes, pa.int64()) for codes, _ in factors]
    batches = [pa.RecordBatch.from_arrays(arrays, names=[str(i) for i in range(len(arrays))])]
    if factors:
        distinct = pa.concat_arrays([values for _, values in factors])
        batches.append(pa.RecordBatch.from_arrays([distinct], names=["distinct"]))
    lengths = []
    for batch in batches:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        stream = memoryview(sink.getvalue())
        lengths.append(len(stream))
        at = offset + sum(lengths[:-1])
        while stream:
            done = os.pwrite(memory, stream, at)
            stream, at = stream[done:], at + done
    return (lengths[0], sum(lengths[1:])), [len(values) for _, values in factors]


def _load(
    memory: int,
    offset: int,
    lengths: tuple[int, int],
    header: XptV5Header,
    rows: int,
    counts: list[int],
) -> XptV5Data:
    """The columns the child wrote, mapped from the memory file (not copied)."""
    import pyarrow as pa

    mapped = mmap.mmap(memory, sum(lengths), offset=offset, access=mmap.ACCESS_READ)
    whole = pa.py_buffer(mapped)
    batch = pa.ipc.open_stream(whole.slice(0, lengths[0])).read_next_batch()
    distinct = None
    if counts:
        distinct = pa.ipc.open_stream(whole.slice(lengths[0])).read_next_batch().column(0)
    count = len(header.types)
    columns: list[Any] = []
    factors: list[Any] = []
    codes = iter(batch.columns[count:])
    sizes = iter(counts)
    start = 0
    for kind, column in zip(header.types, batch.columns[:count], strict=True):
        if kind == 1:
            columns.append(column.to_numpy(zero_copy_only=True))
            factors.append(None)
            continue
        columns.append(column)
        size = next(sizes)
        factors.append((next(codes).to_numpy(zero_copy_only=True), distinct.slice(start, size)))
        start += size
    return XptV5Data(header, rows, columns, factors)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes:
    """``size`` bytes from ``fd``, or fewer when it ends first."""
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
