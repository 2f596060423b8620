"""Read a package of SDTM/ADaM datasets from files, for validation.

:func:`read_package` takes files and folders and returns a
:class:`~trialflow.validation.core.Package` plus the findings about the files themselves.
Supported formats:

* ``.xpt``: SAS transport, version 5 and version 8 (read by pyreadstat; a v5 file in UTF-8
  is parsed by :mod:`trialflow.io.xpt_v5` instead, value for value as pyreadstat reads it).
  Text is read as UTF-8, then as cp1252, then as Latin-1 (:data:`ENCODINGS`); a fallback is
  a ``notice``. The file's
  layout is checked as well, since the reader silently returns the records it could read
  from a truncated file: the size must be whole 80-byte records, the observations header must
  be there, the bytes after the last record read must be padding, and a v8 header's record
  count must be met.
* ``.csv``: text with a header row; UTF-8 (with or without BOM), else cp1252, else Latin-1.
  Only an empty cell is missing ("NA" is a value: the LBTESTCD of sodium). CSV carries no
  types, so a column is numeric when every non-blank value is a plain number without a leading
  zero (``001`` stays text, as identifiers need).
* ``.parquet`` (pyarrow): integer, floating and decimal columns are numeric; everything else
  is text (timestamps as ISO 8601 ``YYYY-MM-DDThh:mm:ss``).
* ``.json`` and ``.ndjson``: CDISC Dataset-JSON v1.1. The dataset name and label come from
  ``name`` and ``label``, variables and labels from ``columns``; dataTypes integer, float,
  double and decimal (which may be a string) are numeric, all others text, except that a
  date, datetime or time with targetDataType integer becomes the SAS number (days or seconds
  since 1960-01-01), as in the XPT file the dataset came from.

Every frame holds text columns as pandas ``str`` and numeric columns as ``float64``, plus
:data:`~trialflow.validation.core.RECORD` (the 1-based row in its file) and
:data:`~trialflow.validation.core.FILE` (the file name). An empty text value is read as
missing in every format: SDTM and ADaM follow SAS, where a blank character value and a
missing one are the same thing, so the rules see one kind of "no value" whatever the format.

A dataset's name is the upper-cased file stem, or the ``name`` of a Dataset-JSON file, and a
file whose DOMAIN column holds one two-letter code other than that name is a part of that
domain (``lbch.xpt`` and ``lbhe.xpt`` with DOMAIN ``LB``): the parts are combined into one
dataset in file order, each record keeping its RECORD and FILE. Names starting with SUPP or AD
are never renamed.

A file that can't be used is a finding and the others are still read; only a path that does
not exist, or a package in which nothing could be read, raises
:class:`~trialflow.errors.RawInputError`.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trialflow import limits
from trialflow.errors import Finding, RawInputError, Severity, Source
from trialflow.io import xpt_v5
from trialflow.io.xpt_v5 import XptV5Data, parse_xpt_v5, xpt_v5_header
from trialflow.validation.core import FILE, RECORD, Dataset, Kind, Package, know_factorized

if TYPE_CHECKING:
    from trialflow.io.prefetch import XptPrefetch

__all__ = ["ENCODINGS", "SUPPORTED_EXTENSIONS", "read_package", "xpt_v5_names"]

ENCODINGS: tuple[str, ...] = ("UTF-8", "cp1252", "latin1")
"""Text encodings tried in turn for XPT and CSV files; the first that decodes every byte wins."""

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".xpt", ".csv", ".parquet", ".json", ".ndjson")
"""File extensions read_package reads (compared case-insensitively)."""

_FOLDER_NOTED = (".sas7bdat",)
"""Unsupported extensions still reported when found in a folder (datasets we can't read)."""

_NUMERIC_JSON_TYPES = frozenset({"integer", "float", "double", "decimal"})
_SAS_UNITS = frozenset({"date", "datetime", "time"})
_ISO_FORMATS = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%dT%H:%M:%S", "time": "%Y-%m-%dT%H:%M:%S"}
_SAS_EPOCH = pd.Timestamp("1960-01-01")
_TWO_LETTERS = re.compile(r"[A-Z]{2}")
_PLAIN_NUMBER = r"\s*[+-]?(?:(?:0|[1-9]\d*)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*"

_READ_THREADS = 2
"""Files read at the same time (see :func:`_read_files`); more gained nothing on two cores."""

_XPT_RECORD = 80
_XPT_LIBRARY = b"HEADER RECORD*******LIB"
_XPT_MEMBER = b"HEADER RECORD*******MEMB"
_XPT_OBS = b"HEADER RECORD*******OBS"
_CPORT = b"**COMPRESSED**"


class _Unreadable(Exception):
    """The file is not what its extension says, or is damaged; the message is the reason."""


class _Undecodable(Exception):
    """The file's text is valid in none of the encodings tried; the message is the reason."""


class _Empty(Exception):
    """The file has no columns at all (it has no bytes, or no header)."""


@dataclass
class _Table:
    """One file as read: its typed frame (with RECORD and FILE) and its metadata."""

    file: str
    name: str
    frame: pd.DataFrame
    label: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)
    encoding: str | None = None
    size: int = 0
    member: str = ""
    factors: dict[str, tuple[np.ndarray, pd.Series]] = field(default_factory=dict)
    """Text columns factorised as the reader decoded them: codes (-1 where missing) and the
    distinct values in order of first appearance (see :func:`_know_factors`)."""


def read_package(
    paths: Sequence[str | os.PathLike[str]], *, prefetch: XptPrefetch | None = None
) -> tuple[Package, list[Finding]]:
    """Read every dataset in ``paths`` (files and folders) into a Package, with file findings.

    A folder contributes every supported file directly inside it, sorted by name (hidden files
    are skipped; a ``.sas7bdat`` file is reported as unsupported). A named file that can't be
    used becomes a finding (``file-unreadable``, ``file-unsupported``, ``file-empty``,
    ``file-no-domain``, ``file-encoding-undecodable``, ``file-duplicate-dataset``,
    ``file-split-type-mismatch``, ``file-formats-differ``, or the notices
    ``file-encoding-fallback`` and ``file-same-dataset``) and the other files are still read.
    Of one file name as XPT and as Dataset-JSON (``dm.xpt`` and ``dm.json``, as ``run
    --format`` writes them), the XPT file is validated and the others are compared with it.
    Findings come in file order. A single path may be given as is. ``prefetch`` (of the same
    paths) hands over the XPT files a child process has already parsed
    (:class:`~trialflow.io.prefetch.XptPrefetch`); the package is the same without it.

    Raises :class:`~trialflow.errors.RawInputError` when a path does not exist, and when no
    dataset at all could be read (its ``findings`` attribute then holds the findings).

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "dm.csv").write_text("STUDYID,DOMAIN,USUBJID,AGE\\nT1,DM,T1-001,34\\n")
        >>> package, findings = read_package([folder])
        >>> dm = package.get("DM")
        >>> dm.kind, dm.files, dm.frame["AGE"].tolist(), dm.frame["__FILE__"].tolist(), findings
        ('sdtm', ('dm.csv',), [34.0], ['dm.csv'], [])
        >>> read_package([folder / "lb.xpt"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        trialflow.errors.RawInputError: .../lb.xpt: no such file or folder
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    files = _expand(paths)
    findings: list[Finding] = []
    tables: list[_Table] = []
    for path, (table, found) in zip(files, _read_files(files, prefetch), strict=True):
        findings.extend(found)
        if table is not None:
            table.size = path.stat().st_size
            tables.append(table)
    package, found = _assemble(tables)
    findings.extend(found)
    order = {_name(path): i for i, path in reversed(list(enumerate(files)))}
    findings.sort(key=lambda f: order.get(f.source.file, len(order)) if f.source else len(order))
    if not package.datasets:
        where = ", ".join(_name(p, whole=True) for p in paths) or "(no paths given)"
        text = f"no readable datasets in {where}"
        if findings:
            text += ": " + "; ".join(f.message for f in findings)  # every one, not a count
        error = RawInputError(text)
        error.findings = findings  # type: ignore[attr-defined]
        raise error
    return package, findings


# --- files ----------------------------------------------------------------------------------


def _expand(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The files to read, in order and each once; raises when a path does not exist."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise RawInputError(f"{_name(given, whole=True)}: no such file or folder")
        if not path.is_dir():
            files.append(path)
            continue
        for child in sorted(path.iterdir(), key=lambda p: p.name):
            if not child.is_file() or child.name.startswith("."):
                continue
            if child.suffix.lower() in (*SUPPORTED_EXTENSIONS, *_FOLDER_NOTED):
                files.append(child)
    seen: set[Path] = set()
    unique = []
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def _name(path: str | os.PathLike[str], whole: bool = False) -> str:
    """A file's name (or whole path) as text safe to print and to write: bytes of a name that
    are not UTF-8 shown as ``\\xe9`` escapes, as the raw readers show them."""
    text = os.fspath(path) if whole else Path(path).name
    return os.fsencode(text).decode("utf-8", errors="backslashreplace")


def _finding(
    code: str, severity: Severity, message: str, file: str, dataset: str | None = None
) -> Finding:
    return Finding(code, severity, message, dataset=dataset, source=Source(file))


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _read_files(
    files: list[Path], prefetch: XptPrefetch | None = None
) -> list[tuple[_Table | None, list[Finding]]]:
    """:func:`_read_file` of each file, in the order given, two files at a time.

    The XPT reader spends most of its time in numpy and Arrow, which release the GIL, so two
    threads read a package in about 0.7 of the time of one (0.37 s -> 0.27 s for the 15 files
    of the 1,600-subject bench package). The largest files start first, so that one large
    file does not end the reading alone; each file is read exactly as on its own.
    """
    workers = min(_READ_THREADS, os.cpu_count() or 1, len(files))
    if workers < 2:
        return [_read_file(path, prefetch) for path in files]
    from concurrent.futures import ThreadPoolExecutor

    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    largest_first = sorted(range(len(files)), key=lambda i: -size(files[i]))
    with ThreadPoolExecutor(workers, thread_name_prefix="trialflow-read") as pool:
        futures = {i: pool.submit(_read_file, files[i], prefetch) for i in largest_first}
    return [futures[i].result() for i in range(len(files))]


def _read_file(
    path: Path, prefetch: XptPrefetch | None = None
) -> tuple[_Table | None, list[Finding]]:
    """Read one file; a file that can't be used gives a finding instead of a table."""
    file = _name(path)
    suffix = path.suffix.lower()
    stem = _name(path.stem).upper()
    if suffix not in _READERS:
        if suffix == ".sas7bdat":
            what = "SAS data sets (.sas7bdat) are not read; provide SAS transport (.xpt)"
        else:
            what = f"unsupported file type {suffix or '(no extension)'!r}; supported are"
            what += " " + ", ".join(SUPPORTED_EXTENSIONS)
        return None, [_finding("file-unsupported", "warning", f"{file}: {what}", file)]
    guess = None if suffix in (".json", ".ndjson") else stem
    try:
        if path.stat().st_size == 0:
            raise _Empty
        table = _read_xpt(path, prefetch) if suffix == ".xpt" else _READERS[suffix](path)
    except _Empty:
        message = f"{file}: the file has no columns (it is empty); nothing to validate"
        return None, [_finding("file-empty", "error", message, file, guess)]
    except _Undecodable as exc:
        message = f"{file}: can't decode the text: {_one_line(exc)}"
        return None, [_finding("file-encoding-undecodable", "error", message, file, guess)]
    except _Unreadable as exc:
        message = f"{file}: can't be read as {_FORMAT_NAMES[suffix]}: {_one_line(exc)}"
        return None, [_finding("file-unreadable", "error", message, file, guess)]
    except limits.LimitExceeded:
        raise  # refused before reading: the whole command stops with one line (exit 2)
    except Exception as exc:  # any reader failure on one file must not stop the others
        message = (
            f"{file}: can't be read as {_FORMAT_NAMES[suffix]}: "
            f"{type(exc).__name__}: {_one_line(exc)}"
        )
        return None, [_finding("file-unreadable", "error", message, file, guess)]
    if table.frame.shape[1] <= 2:  # only RECORD and FILE
        message = f"{file}: the dataset has no columns; nothing to validate"
        return None, [_finding("file-empty", "error", message, file, table.name)]
    return table, []


def _with_bookkeeping(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """``frame`` with RECORD (1-based row) and FILE columns added at the end."""
    out = frame.reset_index(drop=True)
    out[RECORD] = np.arange(1, len(out) + 1, dtype=np.int64)
    out[FILE] = pd.Series(file, index=out.index, dtype="str")
    return out


def _typed(frame: pd.DataFrame, numeric: set[str]) -> pd.DataFrame:
    """Numeric columns as float64, all others as str with empty strings missing."""
    out = {}
    for name in frame.columns:
        column = frame[name]
        if name in numeric:
            out[name] = _to_float(column, name)
        else:
            text = column.astype("str")
            out[name] = text.where(text != "")
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)


def _to_float(column: pd.Series, name: str) -> pd.Series:
    """The column as float64; a value that is not a number makes the file unreadable."""
    if pd.api.types.is_float_dtype(column.dtype):
        return column.astype("float64")
    if isinstance(column.dtype, pd.StringDtype):  # CSV text
        column = column.str.strip()
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise _Unreadable(
            f"variable {name} is numeric but record {row} holds {column[bad].iloc[0]!r}"
        )
    return values.astype("float64")


# --- XPT ------------------------------------------------------------------------------------


def _read_xpt(path: Path, prefetch: XptPrefetch | None = None) -> _Table:
    from trialflow.raw.guard import check_xpt_padding, xpt_layout

    layout = xpt_layout(path)  # the headers alone: padding refused before the file is mapped
    if layout is not None:
        check_xpt_padding(path, _name(path), *layout)
    start, declared = _xpt_layout(path)
    width = _xpt_check_namestr(path, start)
    check_xpt_padding(path, _name(path), start, width, declared)
    parsed = prefetch.parsed(path) if prefetch is not None else None
    if parsed is not None and parsed.header.start == start:
        fast = _fast_table(path, parsed)  # parsed by the child, after the same checks
    else:
        fast = _read_xpt_v5(path, start)
    if fast is not None:
        _xpt_check_end(path, start, declared, len(fast.frame), fast.width)
        return fast.table
    return _read_xpt_general(path, start, declared)


def _read_xpt_general(path: Path, start: int, declared: int | None) -> _Table:
    """Any XPT file pyreadstat reads (v5 and v8), trying the ENCODINGS in turn."""
    import pyreadstat

    reasons = []
    for encoding in ENCODINGS:
        try:
            frame, meta = pyreadstat.read_xport(
                os.fspath(path), encoding=encoding, disable_datetime_conversion=True
            )
        except UnicodeError as exc:
            reasons.append(f"{encoding}: {_one_line(exc)}")
            continue
        except pyreadstat.ReadstatError as exc:
            if "encoding" in str(exc).lower():
                reasons.append(f"{encoding}: {_one_line(exc)}")
                continue
            raise _Unreadable(_one_line(exc)) from exc
        break
    else:
        raise _Undecodable(f"text is valid in none of {', '.join(ENCODINGS)} ({reasons[-1]})")
    types = dict(meta.readstat_variable_types or {})
    widths = dict(meta.variable_storage_width or {})
    _xpt_check_end(path, start, declared, len(frame), sum(widths.values()))
    numeric = {name for name in frame.columns if types.get(name) != "string"}
    # SAS has no distinction between a blank and a missing character value (both are stored
    # as spaces); _typed makes every empty string a missing value.
    typed = _typed(frame, numeric)
    return _Table(
        file=_name(path),
        name=_name(path.stem).upper(),
        frame=_with_bookkeeping(typed, _name(path)),
        label=meta.file_label or "",
        labels={n: lab or "" for n, lab in (meta.column_names_to_labels or {}).items()},
        lengths={n: int(w) for n, w in widths.items() if n not in numeric},
        encoding=encoding,
        member=str(meta.table_name or ""),
    )


# The fast path: a v5 file (the FDA's format) parsed by trialflow.io.xpt_v5 with numpy and
# pyarrow. It gives the frame the general reader gives, value for value and bit for bit, and
# steps aside (None) for anything it does not handle the same way.


@dataclass
class _Fast:
    table: _Table
    width: int

    @property
    def frame(self) -> pd.DataFrame:
        return self.table.frame


def _read_xpt_v5(path: Path, start: int) -> _Fast | None:
    """A v5 file read without pyreadstat, or None when the general reader must read it."""
    data = path.read_bytes()
    header = xpt_v5_header(data)
    if header is None or header.start != start:
        return None
    return _fast_table(path, parse_xpt_v5(data, header))


def _fast_table(path: Path, parsed: XptV5Data | None) -> _Fast | None:
    """The table of a v5 file parsed by :func:`~trialflow.io.xpt_v5.parse_xpt_v5`."""
    if parsed is None:
        return None
    header = parsed.header
    columns = {
        # the Arrow strings wrapped as pandas str directly: a Series per column costs three
        # times as much, a tenth of reading the CDISC pilot's files
        name: pd.arrays.ArrowStringArray(values, dtype=_TEXT) if kind == 2 else values
        for name, kind, values in zip(header.names, header.types, parsed.columns, strict=True)
    }
    frame = pd.DataFrame(columns, columns=header.names)
    factors = {}
    for name, factor in zip(header.names, parsed.factors, strict=True):
        if factor is not None:
            codes, distinct = factor
            factors[name] = (codes, pd.Series(pd.arrays.ArrowStringArray(distinct, dtype=_TEXT)))
    table = _Table(
        file=_name(path),
        name=_name(path.stem).upper(),
        frame=_with_bookkeeping(frame, _name(path)),
        label=header.label,
        labels=dict(zip(header.names, header.labels, strict=True)),
        lengths=header.text_lengths,
        encoding=ENCODINGS[0],
        member=header.member,
        factors=factors,
    )
    return _Fast(table, header.width)


_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
"""pandas' ``str`` dtype (text in Arrow, NaN for missing), as ``dtype="str"`` gives it."""


def xpt_v5_names(path: Path) -> list[str] | None:
    """The variable names of a SAS XPORT v5 file, from its header alone; None when the file is
    not a v5 file whose header the fast reader (:func:`_read_xpt_v5`) understands, so the
    caller asks pyreadstat. The names are what pyreadstat reads (trailing blanks dropped).

    Example:
        >>> import tempfile, pathlib
        >>> from trialflow.io.xpt import write_xpt
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "dm.xpt"
        >>> _ = write_xpt(pd.DataFrame({"STUDYID": ["S"], "AGE": [34.0]}), out, dataset="DM")
        >>> xpt_v5_names(out), xpt_v5_names(out.with_name("none.xpt"))
        (['STUDYID', 'AGE'], None)
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(6 * _XPT_RECORD)
            member = data.find(xpt_v5.MEMBER)
            names_at = member + 4 * _XPT_RECORD
            data += fh.read(max(0, names_at + _XPT_RECORD - len(data)))
            count_text = data[names_at + 54 : names_at + 58]
            if member < 0 or not count_text.isdigit():
                return None
            # the headers up to the observations header, which xpt_v5_header reads
            end = names_at + _XPT_RECORD + int(count_text) * xpt_v5.NAMESTR.itemsize
            end += -end % _XPT_RECORD + _XPT_RECORD
            data += fh.read(max(0, end - len(data)))
    except OSError:
        return None
    header = xpt_v5_header(data)
    return header.names if header is not None else None


def _xpt_layout(path: Path) -> tuple[int, int | None]:
    """Where the observations start and, for v8, the record count the header declares.

    Raises _Unreadable when the file is not SAS transport, is not whole 80-byte records,
    has no observations header or holds more than one dataset.
    """
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        size = len(mm)
        if mm[: len(_XPT_LIBRARY)] != _XPT_LIBRARY:
            if mm[: len(_CPORT)] == _CPORT:
                raise _Unreadable("it is a SAS CPORT file, not SAS transport (XPORT)")
            raise _Unreadable("it does not start with a SAS transport LIBRARY header record")
        if size % _XPT_RECORD:
            raise _Unreadable(
                f"its {size} bytes are not whole 80-byte records; the file is truncated"
            )
        obs = mm.find(_XPT_OBS)
        if obs < 0:
            raise _Unreadable("it ends before the observations header; the file is truncated")
        start = obs + _XPT_RECORD
        if mm.find(_XPT_MEMBER, start) >= 0:
            raise _Unreadable("it holds more than one dataset; provide one dataset per file")
        declared = None
        if mm[obs + 20 : obs + 25] == b"OBSV8":
            count = mm[obs + 48 : start].split()
            if count and count[0].isdigit():
                declared = int(count[0])
    return start, declared


def _xpt_check_namestr(path: Path, start: int) -> int:
    """Raise _Unreadable naming the field when the NAMESTR header or a NAMESTR record (one per
    variable: type, length, name, position in the record) is corrupt, before a reader
    misreads the observations by it (which looks like a truncated file, or reads wrong values
    without a word)."""
    with path.open("rb") as fh:
        data = fh.read(start)
    member = data.find(_XPT_MEMBER)
    names_at = data.find(b"HEADER RECORD*******NAMSTV8", member)
    v8 = names_at >= 0
    if not v8:
        names_at = data.find(b"HEADER RECORD*******NAMESTR", member)
    if member < 0 or names_at < 0:
        raise _Unreadable("the NAMESTR header record (the list of variables) is missing")
    size_text = data[member + 74 : member + 78]
    size = int(size_text) if size_text.isdigit() else 0
    if size not in (136, 140):
        raise _Unreadable(
            f"the member header is corrupt: the NAMESTR record size is {_shown(size_text)}, "
            "not 0140"
        )
    count_text = data[names_at + 54 : names_at + 58]
    if not count_text.isdigit():
        raise _Unreadable(
            f"the NAMESTR header record is corrupt: its variable count is "
            f"{_shown(count_text)}, not a number"
        )
    count = int(count_text)
    if count > limits.current().xpt_variables:
        raise limits.refuse(_name(path), "the NAMESTR header declares", "xpt_variables", count)
    first = names_at + _XPT_RECORD
    end = first + count * size
    fits = end + (-end % _XPT_RECORD) + _XPT_RECORD
    # v8 may hold LABELV8/V9 records (long labels) between the NAMESTR records and OBS
    if fits > start or (not v8 and fits != start):
        raise _Unreadable(
            f"the NAMESTR header record is corrupt: it declares {count} variables, but the "
            f"NAMESTR records before the observations header hold {(start - first) // size}"
        )
    records = [data[first + i * size : first + (i + 1) * size].ljust(140) for i in range(count)]
    fields = [_XPT_NAMESTR_STRUCT.unpack(r) for r in records]
    width = sum(max(f[1], 0) for f in fields)
    problems = []
    for i, (kind, length, raw_name, position) in enumerate(fields, start=1):
        name = raw_name.decode("latin-1").rstrip(" ") or "(blank)"
        where = f"NAMESTR record {i} (variable {name})"
        if not raw_name.strip(b" \0"):
            problems.append(f"{where}: nname (the name) is blank")
        if kind not in (1, 2):
            problems.append(f"{where}: ntype is {kind}, not 1 (numeric) or 2 (character)")
        if length <= 0:
            problems.append(f"{where}: nlng (the length) is {length}")
        elif kind == 1 and not 2 <= length <= 8:
            problems.append(f"{where}: nlng is {length}; a numeric variable is 2 to 8 bytes")
        elif kind == 2 and not v8 and length > 200:
            problems.append(f"{where}: nlng is {length}; XPT v5 text is at most 200 bytes")
        if length > 0 and not 0 <= position <= width - length:
            problems.append(
                f"{where}: npos (its place in the record) is {position}, outside the "
                f"{width}-byte record"
            )
    if problems:
        raise _Unreadable("the NAMESTR records are corrupt: " + "; ".join(problems))
    return width


_XPT_NAMESTR_STRUCT = struct.Struct(">h2xh2x8s68xi52x")
"""ntype, nlng, nname and npos of a 140-byte NAMESTR record."""


def _shown(raw: bytes) -> str:
    return repr(raw.decode("latin-1"))


def _xpt_check_end(path: Path, start: int, declared: int | None, rows: int, width: int) -> None:
    """Raise _Unreadable when records are missing: the reader stops quietly at a cut."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        rest = mm[start + rows * width :]
    if rest.strip(b" "):
        raise _Unreadable(f"it ends inside record {rows + 1}; the file is truncated")
    if declared is not None and rows < declared:
        raise _Unreadable(
            f"its header declares {declared} records but it holds {rows}; the file is truncated"
        )


# --- CSV ------------------------------------------------------------------------------------


def _sdtmig_types(stem: str, text: pd.DataFrame) -> dict[str, str]:
    """SDTMIG variable types of the domain a CSV file holds (by DOMAIN, else its name)."""
    from trialflow.sdtm import metadata

    domain = stem
    if "DOMAIN" in text.columns:
        values = text["DOMAIN"].dropna().unique()
        if len(values) == 1:
            domain = str(values[0]).strip().upper()
    if domain not in metadata.known_domains():
        return {}
    meta = metadata.domain_variables(domain)
    return dict(zip(meta["name"], meta["type"], strict=True))


def _read_csv(path: Path) -> _Table:
    from trialflow.raw.guard import check_text_table

    check_text_table(path, _name(path))
    with path.open("rb") as fh:
        if b"\0" in fh.read(1 << 16):
            raise _Unreadable("it holds binary data (NUL bytes), not CSV text")
    reasons = []
    for encoding in ENCODINGS:
        codec = "utf-8-sig" if encoding.replace("-", "").lower() == "utf8" else encoding
        try:
            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, na_values=[""], encoding=codec
            )
        except UnicodeError as exc:
            reasons.append(f"{encoding}: {_one_line(exc)}")
            continue
        except pd.errors.EmptyDataError as exc:
            raise _Empty from exc
        except (pd.errors.ParserError, ValueError) as exc:
            raise _Unreadable(_one_line(exc)) from exc
        break
    else:
        raise _Undecodable(f"text is valid in none of {', '.join(ENCODINGS)} ({reasons[-1]})")
    text = frame.astype("str")
    plain = text.apply(lambda column: column.str.fullmatch(_PLAIN_NUMBER))
    numeric = {
        name
        for name in frame.columns
        if text[name].notna().any() and bool((plain[name] | text[name].isna()).all())
    }
    # CSV carries no types: where the SDTMIG knows the variable, its type decides (LBORRES
    # holding only numbers is still a character variable); elsewhere the values do.
    types = _sdtmig_types(_name(path.stem).upper(), text)
    numeric = {n for n in numeric if types.get(n, "Num") == "Num"}
    return _Table(
        file=_name(path),
        name=_name(path.stem).upper(),
        frame=_with_bookkeeping(_typed(frame, numeric), _name(path)),
        encoding=encoding,
    )


# --- Parquet --------------------------------------------------------------------------------


def _read_parquet(path: Path) -> _Table:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise _Unreadable(_one_line(exc)) from exc
    index = {
        c
        for c in (table.schema.pandas_metadata or {}).get("index_columns", [])
        if isinstance(c, str)
    }
    columns = {}
    numeric = set()
    for fld, column in zip(table.schema, table.columns, strict=True):
        if fld.name in index:
            continue
        kind = fld.type
        try:
            if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
                columns[fld.name] = column.cast(pa.float64())
                numeric.add(fld.name)
            elif pa.types.is_timestamp(kind):
                iso = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
                iso = pc.replace_substring_regex(iso, r"(\.\d*[1-9])0+$", r"\1")
                columns[fld.name] = pc.replace_substring_regex(iso, r"\.0+$", "")
            else:
                columns[fld.name] = column.cast(pa.string())
        except pa.ArrowException as exc:
            raise _Unreadable(f"column {fld.name} of type {kind} can't be a variable") from exc
    frame = pa.table(columns).to_pandas() if columns else pd.DataFrame()
    return _Table(
        file=_name(path),
        name=_name(path.stem).upper(),
        frame=_with_bookkeeping(_typed(frame, numeric), _name(path)),
    )


# --- Dataset-JSON ---------------------------------------------------------------------------


def _read_json(path: Path) -> _Table:
    try:
        document = _loads(_utf8(path), path)
    except json.JSONDecodeError as exc:
        raise _Unreadable(f"not valid JSON: {exc}") from exc
    return _dataset_json(
        path, document, document.get("rows") if isinstance(document, dict) else None
    )


def _read_ndjson(path: Path) -> _Table:
    lines = _utf8(path).rstrip().splitlines()
    if not lines:
        raise _Empty
    try:
        metadata = _loads(lines[0], path)
    except json.JSONDecodeError as exc:
        raise _Unreadable(f"line 1 (the metadata) is not valid JSON: {exc}") from exc
    try:
        # One parse for all rows instead of one per line.
        rows = _loads("[" + ",".join(lines[1:]) + "]", path, 1)
    except json.JSONDecodeError:
        for number, line in enumerate(lines[1:], start=2):  # only to name the bad line
            try:
                json.loads(line)
            except json.JSONDecodeError as exc:
                raise _Unreadable(f"line {number} is not valid JSON: {exc}") from exc
        raise
    return _dataset_json(path, metadata, rows)


def _loads(text: str, path: Path, outer: int = 0) -> object:
    """``json.loads`` refusing nesting deeper than ``json_depth``: the C parser's recursion
    limit stops the deepest at once (RecursionError), and a bounded walk of the top levels
    (not every value of the rows) finds the rest."""
    depth = limits.current().json_depth
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise limits.refuse(
            _name(path), "arrays and objects nest deeper than the parser allows, over",
            "json_depth", depth,
        ) from None  # fmt: skip
    found = _depth(document, outer, depth)
    if found > depth:
        raise limits.refuse(_name(path), "arrays and objects nest", "json_depth", found)
    return document


def _no_constant(name: str) -> object:
    """Python's parser reads NaN, Infinity and -Infinity, which JSON (RFC 8259) does not have:
    read as numbers they would be missing or infinite values no writer declared."""
    raise _Unreadable(
        f"it holds {name}, which is not JSON (RFC 8259): a missing value is null, and "
        "Dataset-JSON numbers are finite"
    )


def _depth(value: object, level: int, limit: int) -> int:
    """How deep ``value`` nests (stopping past ``limit``); of a long list only its first and
    last items are walked (the rows of Dataset-JSON are alike: the others are checked by
    their type when the frame is built)."""
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list):
        items = value if len(value) <= 64 else value[:32] + value[-32:]
    else:
        return level
    level += 1
    if level > limit:
        return level
    return max([level, *(_depth(v, level, limit) for v in items)])


def _utf8(path: Path) -> str:
    size = path.stat().st_size
    if size > limits.current().file_bytes:
        raise limits.refuse(_name(path), "the file is", "file_bytes", size)
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Undecodable(f"Dataset-JSON must be UTF-8: {_one_line(exc)}") from exc


def _sas_numbers(column: pd.Series, name: str, kind: str) -> pd.Series:
    """ISO 8601 dates, datetimes or times as SAS numbers (days or seconds from 1960-01-01)."""
    text = column.astype("str")
    text = text.where(text != "")
    base = "1960-01-01T" if kind == "time" else ""
    stamps = pd.to_datetime(base + text, format=_ISO_FORMATS[kind], errors="coerce")
    bad = stamps.isna() & text.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise _Unreadable(
            f"variable {name} is a {kind} (targetDataType integer) but record {row} holds "
            f"{text[bad].iloc[0]!r}, not ISO 8601"
        )
    seconds = (stamps - _SAS_EPOCH).dt.total_seconds()
    return seconds / 86400.0 if kind == "date" else seconds


def _check_json_numbers(column: pd.Series, name: str, kind: str) -> None:
    """Raise _Unreadable naming the record and the variable when a number of a numeric column
    is out of range: beyond a double's range (``1e400`` or a 400-digit integer), or for an
    integer column beyond 64 bits, so that it would become infinity or lose digits."""
    try:  # vectorised first; the values are walked one by one only to name a problem
        values = pd.to_numeric(column, errors="coerce").astype("float64")
    except (OverflowError, TypeError, ValueError):
        values = None
    if values is not None:
        suspect = ~np.isfinite(values) & column.notna().to_numpy()
        if kind == "integer":
            suspect |= np.abs(values.fillna(0)).to_numpy() >= 2.0**63
        if not suspect.any():
            return
    for record, value in enumerate(column.tolist(), start=1):
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            if kind == "integer" and not -(2**63) <= value < 2**63:
                problem = "beyond the 64-bit integer range"
            elif abs(value) >= 2**1024:
                problem = "beyond the range of a number (a double)"
            else:
                continue
            digits = len(str(value)) if value.bit_length() < 10_000 else None
            shown = (
                str(value)
                if digits is not None and digits <= 25
                else f"an integer of {digits or 'thousands of'} digits"
            )
            raise _Unreadable(f"variable {name} ({kind}) record {record} holds {shown}, {problem}")
        if isinstance(value, float) and not math.isfinite(value):
            raise _Unreadable(
                f"variable {name} ({kind}) record {record} holds a number beyond the range of a "
                "double (read as infinity)"
                if not math.isnan(value)
                else f"variable {name} ({kind}) record {record} holds NaN, not a number"
            )


def _dataset_json(path: Path, metadata: object, rows: object) -> _Table:
    if not isinstance(metadata, dict):
        raise _Unreadable("the top level is not a JSON object; not Dataset-JSON")
    if "clinicalData" in metadata or "referenceData" in metadata:
        raise _Unreadable("it is Dataset-JSON 1.0; only Dataset-JSON 1.1 is read")
    columns = metadata.get("columns")
    if not isinstance(columns, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in columns
    ):
        raise _Unreadable("'columns' is missing or has a column without a name; not Dataset-JSON")
    if len(columns) > limits.current().columns:
        raise limits.refuse(_name(path), "'columns' lists", "columns", len(columns))
    names = [c["name"] for c in columns]
    twice = pd.Index(names)[pd.Index(names).duplicated()]
    if len(twice):
        raise _Unreadable(f"column {twice[0]} appears more than once")
    rows = [] if rows is None else rows
    if not isinstance(rows, list) or set(map(type, rows)) - {list}:
        raise _Unreadable("'rows' is not a list of arrays")
    widths = set(map(len, rows)) - {len(names)}
    if widths:
        raise _Unreadable(f"a row has {min(widths)} values but there are {len(names)} columns")
    declared = metadata.get("records")
    if isinstance(declared, int) and declared != len(rows):
        raise _Unreadable(
            f"it declares {declared} records but holds {len(rows)}; the file is truncated"
            if declared > len(rows)
            else f"it declares {declared} records but holds {len(rows)}"
        )
    frame = pd.DataFrame(rows, columns=names, dtype=object) if names else pd.DataFrame()
    numeric = {c["name"] for c in columns if c.get("dataType") in _NUMERIC_JSON_TYPES}
    for c in columns:
        if c["name"] in numeric:
            _check_json_numbers(frame[c["name"]], c["name"], str(c.get("dataType")))
    for c in columns:
        if c.get("dataType") in _SAS_UNITS and c.get("targetDataType") == "integer":
            frame[c["name"]] = _sas_numbers(frame[c["name"]], c["name"], c["dataType"])
            numeric.add(c["name"])
    name = metadata.get("name")
    name = (
        name.strip().upper() if isinstance(name, str) and name.strip() else _name(path.stem).upper()
    )
    label = metadata.get("label")
    return _Table(
        file=_name(path),
        name=name,
        frame=_with_bookkeeping(_typed(frame, numeric), _name(path)),
        label=label if isinstance(label, str) else "",
        labels={c["name"]: str(c.get("label") or "") for c in columns},
        lengths={
            c["name"]: c["length"]
            for c in columns
            if c["name"] not in numeric and isinstance(c.get("length"), int)
        },
        encoding="UTF-8",
    )


_READERS = {
    ".xpt": _read_xpt,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
    ".json": _read_json,
    ".ndjson": _read_ndjson,
}
_FORMAT_NAMES = {
    ".xpt": "SAS transport (XPT)",
    ".csv": "CSV",
    ".parquet": "Parquet",
    ".json": "Dataset-JSON",
    ".ndjson": "Dataset-JSON (NDJSON)",
}


# --- the package ----------------------------------------------------------------------------


def _domain_code(frame: pd.DataFrame) -> str | None:
    """The one two-letter code the DOMAIN column holds, or None."""
    if "DOMAIN" not in frame.columns or not pd.api.types.is_string_dtype(frame["DOMAIN"].dtype):
        return None
    values = frame["DOMAIN"].dropna().str.strip().unique()
    if len(values) == 1 and _TWO_LETTERS.fullmatch(values[0]):
        return str(values[0])
    return None


def _named(name: str) -> bool:
    """True when the name alone says what the dataset is (SUPP-- and AD-- datasets)."""
    return name.startswith(("SUPP", "AD"))


def _target(table: _Table) -> str:
    """The dataset a file belongs to: its DOMAIN code when that differs from its own name."""
    code = _domain_code(table.frame)
    if code and code != table.name and not _named(table.name):
        return code
    return table.name


def _kind(name: str, frame: pd.DataFrame) -> Kind:
    if name.startswith("SUPP"):
        return "supp"
    if name.startswith("AD"):
        return "adam"
    if _TWO_LETTERS.fullmatch(name) or _domain_code(frame):
        return "sdtm"
    return "other"


def _sdtm_looking(table: _Table) -> bool:
    """A two-letter name, or a --SEQ variable named after the dataset (LBCH with LBSEQ)."""
    if _named(table.name):
        return False
    return bool(_TWO_LETTERS.fullmatch(table.name)) or f"{table.name[:2]}SEQ" in table.frame


def _file_notes(table: _Table, dataset: str) -> list[Finding]:
    """Notices and warnings about one file that was read."""
    out = []
    file = table.file
    if table.encoding and table.encoding != ENCODINGS[0]:
        out.append(
            _finding(
                "file-encoding-fallback",
                "notice",
                f"{file}: text is not valid {ENCODINGS[0]}; read as {table.encoding}",
                file,
                dataset,
            )
        )
    if len(table.frame) == 0:
        out.append(
            _finding("file-empty", "warning", f"{file}: the dataset has no records", file, dataset)
        )
    if "DOMAIN" not in table.frame.columns and _sdtm_looking(table):
        out.append(
            _finding(
                "file-no-domain",
                "warning",
                f"{file}: SDTM dataset {table.name} has no DOMAIN variable",
                file,
                dataset,
            )
        )
    return out


_PAIRED = (".xpt", ".json", ".ndjson")
"""Formats trialflow writes side by side (``run --format xpt,dataset-json``)."""


def _stem(table: _Table) -> str:
    return Path(table.file).stem.lower()


def _suffix(table: _Table) -> str:
    return Path(table.file).suffix.lower()


def _paired(first: _Table, other: _Table) -> bool:
    """True for an XPT file and a Dataset-JSON file of the same name (dm.xpt, dm.json)."""
    return (
        _stem(first) == _stem(other) and _suffix(first) == ".xpt" and _suffix(other) in _PAIRED[1:]
    )


def _xpt_first(members: list[_Table]) -> list[_Table]:
    """The tables in file order, except that of one file name as XPT and as Dataset-JSON
    (``dm.json``, ``dm.xpt``) the XPT file comes first: it is the one validated."""
    first_seen: dict[str, int] = {}
    for index, table in enumerate(members):
        first_seen.setdefault(_stem(table), index)
    order = {id(t): i for i, t in enumerate(members)}
    return sorted(
        members,
        key=lambda t: (first_seen[_stem(t)], _suffix(t) in _PAIRED[1:], order[id(t)]),
    )


def _same_dataset(first: _Table, other: _Table, dataset: str) -> Finding:
    """A notice when ``other`` (another format of the same file) holds what ``first`` holds,
    else an error saying where they differ; either way only ``first`` is validated."""
    a = first.frame.drop(columns=[FILE])
    b = other.frame.drop(columns=[FILE])
    problem = None
    if list(a.columns) != list(b.columns):
        only = [c for c in a.columns if c not in b.columns] + [
            c for c in b.columns if c not in a.columns
        ]
        problem = f"the variables differ ({', '.join(only) or 'their order'})"
    elif len(a) != len(b):
        problem = f"{len(b)} records, {first.file} has {len(a)}"
    else:
        for column in a.columns:
            left, right = a[column], b[column]
            same = (left == right).fillna(False) | (left.isna() & right.isna())
            if left.dtype != right.dtype:
                problem = f"variable {column} is {right.dtype} here, {left.dtype} there"
                break
            if not bool(same.all()):
                row = int(np.flatnonzero(~same.to_numpy(dtype=bool))[0])
                here, there = right.iloc[[row]].tolist()[0], left.iloc[[row]].tolist()[0]
                problem = f"record {row + 1}, variable {column}: {here!r} here, {there!r} there"
                break
    if problem is None and (first.label, first.labels) != (other.label, other.labels):
        problem = "the dataset or variable labels differ"
    if problem is None:
        return _finding(
            "file-same-dataset",
            "notice",
            f"{other.file}: holds the same dataset as {first.file}; validated once, "
            f"as {first.file}",
            other.file,
            dataset,
        )
    return _finding(
        "file-formats-differ",
        "error",
        f"{other.file}: holds dataset {other.name} as {first.file} does, but differs from it: "
        f"{problem}; only {first.file} is validated",
        other.file,
        dataset,
    )


def _assemble(tables: list[_Table]) -> tuple[Package, list[Finding]]:
    """Group the files into datasets: drop duplicates, combine the parts of a split domain."""
    findings: list[Finding] = []
    groups: dict[str, list[_Table]] = {}
    for table in tables:
        groups.setdefault(_target(table), []).append(table)
    package = Package()
    for name, members in groups.items():
        kept: list[_Table] = []
        owners: dict[str, str] = {}
        by_name: dict[str, _Table] = {}
        for table in _xpt_first(members):
            first = by_name.get(table.name)
            if first is not None and _paired(first, table):
                findings.append(_same_dataset(first, table, name))
                continue
            if table.name in owners:
                findings.append(
                    _finding(
                        "file-duplicate-dataset",
                        "error",
                        f"{table.file}: dataset {table.name} was already read from "
                        f"{owners[table.name]}; this file is ignored",
                        table.file,
                        name,
                    )
                )
                continue
            owners[table.name] = table.file
            by_name[table.name] = table
            kept.append(table)
            findings.extend(_file_notes(table, name))
        frame, found = _combine(name, kept)
        findings.extend(found)
        encodings = list(dict.fromkeys(t.encoding for t in kept if t.encoding))
        labels: dict[str, str] = {}
        lengths: dict[str, int] = {}
        for table in kept:
            for variable, text in table.labels.items():
                if not labels.get(variable):
                    labels[variable] = text
            for variable, length in table.lengths.items():
                lengths[variable] = max(length, lengths.get(variable, 0))
        package.datasets[name] = Dataset(
            name=name,
            frame=frame,
            kind=_kind(name, frame),
            label=next((t.label for t in kept if t.label), ""),
            labels={v: t for v, t in labels.items() if v in frame.columns},
            lengths={v: n for v, n in lengths.items() if v in frame.columns},
            files=tuple(t.file for t in kept),
            sizes=tuple(t.size for t in kept),
            members=tuple(t.member for t in kept),
            encoding=", ".join(encodings) if encodings else None,
        )
        _know_factors(package, package.datasets[name], kept)
    return package, findings


def _know_factors(package: Package, dataset: Dataset, parts: list[_Table]) -> None:
    """Hand the rules the factorisation of each text column the XPT reader decoded (see
    :func:`~trialflow.validation.core.know_factorized`), for the dataset its files make up:
    the parts' codes are renumbered over the distinct values of all parts, in order of first
    appearance, as a factorisation of the combined column gives them; a part without the
    column holds it missing. A column that a part read otherwise (another format, pyreadstat)
    is left to the rules."""
    frame = dataset.frame
    for variable in dataset.variables:
        column = frame[variable]
        if not isinstance(column.dtype, pd.StringDtype):
            continue
        if any(variable in t.frame.columns and variable not in t.factors for t in parts):
            continue
        known = [t.factors.get(variable) for t in parts]
        if len(parts) == 1:
            codes, distinct = known[0]  # type: ignore[misc]
        else:
            pieces = [k[1] for k in known if k is not None]
            merged_codes, merged = pd.concat(pieces, ignore_index=True).factorize()
            renumbered, start = [], 0
            for table, k in zip(parts, known, strict=True):
                if k is None:
                    renumbered.append(np.full(len(table.frame), -1, dtype=np.intp))
                    continue
                part_codes, part_distinct = k
                lookup = np.append(merged_codes[start : start + len(part_distinct)], -1)
                renumbered.append(lookup[part_codes])
                start += len(part_distinct)
            codes = np.concatenate(renumbered)
            distinct = pd.Series(merged.array, dtype="str")
        if len(codes) == len(frame):
            know_factorized(package, column, codes, distinct)


def _combine(name: str, tables: list[_Table]) -> tuple[pd.DataFrame, list[Finding]]:
    """The tables' records one after another; a variable typed differently is read as text."""
    if len(tables) == 1:
        return tables[0].frame, []
    findings = []
    frames = [t.frame for t in tables]
    variables = list(dict.fromkeys(c for f in frames for c in f.columns if c not in (RECORD, FILE)))
    combined = pd.concat(frames, ignore_index=True, sort=False)
    columns = {}
    for variable in variables:
        numeric = {
            t.file: pd.api.types.is_float_dtype(t.frame[variable].dtype)
            for t in tables
            if variable in t.frame.columns
        }
        if all(numeric.values()):
            columns[variable] = combined[variable].astype("float64")
            continue
        if any(numeric.values()):
            nums = ", ".join(f for f, is_num in numeric.items() if is_num)
            chars = ", ".join(f for f, is_num in numeric.items() if not is_num)
            findings.append(
                _finding(
                    "file-split-type-mismatch",
                    "warning",
                    f"{tables[0].file}: {name}.{variable} is numeric in {nums} but text in "
                    f"{chars}; read as text",
                    tables[0].file,
                    name,
                )
            )
        text = combined[variable].astype("str")
        columns[variable] = text.where(text != "")
    columns[RECORD] = combined[RECORD].astype("int64")
    columns[FILE] = combined[FILE].astype("str")
    return pd.DataFrame(columns, index=combined.index), findings
