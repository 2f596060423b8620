"""Checks of an output location, made before any work: can a folder or file be written there?

A command that maps a whole study and only then finds it cannot write its output wastes the
run and ends in an OS error; these checks say in one line what is wrong with the path first.
They read the file system and write (and remove) one empty probe file, nothing else.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> base = Path(tempfile.mkdtemp())
    >>> check_output_folder(base / "new" / "out", "--out")  # creatable: no error
    >>> (base / "file").write_text("x")
    1
    >>> try:
    ...     check_output_folder(base / "file" / "out", "--out")
    ... except OutputLocationError as exc:
    ...     print(str(exc).replace(str(base), "BASE"))
    --out BASE/file/out: BASE/file is a file, not a folder; choose another --out
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from trialflow.errors import TrialflowError

__all__ = [
    "OutputBusyError",
    "OutputFolder",
    "OutputLocationError",
    "VerifyResult",
    "check_output_file",
    "check_output_folder",
    "file_mode",
    "fix_modes",
    "lock_path",
    "locked",
    "read_manifest",
    "recover",
    "replace_file",
    "replace_files",
    "swap_in",
    "verify_folder",
]


class OutputLocationError(TrialflowError):
    """An output path that can't be written: names the path, the option and the problem.

    Example:
        >>> str(OutputLocationError("--out x: x is a file, not a folder"))
        '--out x: x is a file, not a folder'
    """


def _dangling(path: Path) -> str | None:
    """The target of ``path`` when it is a symbolic link to nothing, else None."""
    if os.path.islink(path) and not path.exists():
        return os.readlink(path)
    return None


def _nearest(start: Path, path: Path, option: str) -> Path:
    """The nearest existing ancestor of ``start`` (or itself), which must be a folder;
    problems name ``path``, the path given."""
    shown = f"{option} {path}"
    for place in [start, *start.absolute().parents]:
        target = _dangling(place)
        if target is not None:
            raise OutputLocationError(
                f"{shown}: {place} is a symbolic link to {target}, which does not exist; "
                f"create its target or choose another {option}"
            )
        if place.exists():
            if not place.is_dir():
                raise OutputLocationError(
                    f"{shown}: {place} is a file, not a folder; choose another {option}"
                )
            return place
    raise OutputLocationError(f"{shown}: no part of the path exists")  # pragma: no cover


def _probe(folder: Path, path: Path, option: str) -> None:
    """Write and remove an empty file in ``folder``; an OS refusal becomes one line."""
    problem = None
    if not os.access(folder, os.W_OK | os.X_OK):
        problem = "is not writable"
    else:
        try:
            fd, name = tempfile.mkstemp(prefix=".trialflow-probe-", dir=folder)
        except OSError as exc:
            problem = f"can't be written ({exc.strerror or exc})"
        else:
            os.close(fd)
            os.unlink(name)
    if problem:
        raise OutputLocationError(
            f"{option} {path}: the folder {folder} {problem}; "
            f"choose another {option} or change its permissions"
        )


def check_output_folder(path: str | os.PathLike[str], option: str = "--out") -> None:
    """Raise :class:`OutputLocationError` unless ``path`` is a folder that can be written, or
    can be created (its nearest existing ancestor is a writable folder).

    Refused: a symbolic link to nothing (at the path or above it), a file at the path or
    above it, a folder (or the nearest existing ancestor) where a probe file can't be written.

    Example:
        >>> import tempfile
        >>> check_output_folder(tempfile.mkdtemp())
    """
    path = Path(path)
    _probe(_nearest(path, path, option), path, option)


def check_output_file(path: str | os.PathLike[str], option: str) -> None:
    """Raise :class:`OutputLocationError` unless a file can be written at ``path``: it is not a
    folder nor a symbolic link to nothing, and its folder exists or can be created, and can
    be written.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> check_output_file(Path(tempfile.mkdtemp()) / "report.json", "--json")
    """
    path = Path(path)
    target = _dangling(path)
    if target is not None:
        raise OutputLocationError(
            f"{option} {path}: {path} is a symbolic link to {target}, which does not exist; "
            f"create its target or choose another {option}"
        )
    if path.is_dir():
        raise OutputLocationError(f"{option} {path}: {path} is a folder, not a file")
    folder = _nearest(path.parent, path, option)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputLocationError(
            f"{option} {path}: the file is not writable; choose another {option} or change "
            "its permissions"
        )
    _probe(folder, path, option)


# --- whole-or-absent output folders ----------------------------------------------------------

LOCK_SUFFIX = ".trialflow.lock"
"""The lock file beside an output folder OUT is ``.OUT.trialflow.lock`` (kept after a run)."""

BUILD_MARK = ".trialflow-build-"
"""A folder being built beside OUT is named ``.OUT.trialflow-build-XXXX``."""

OLD_MARK = ".trialflow-old-"
"""An earlier OUT moved aside during a swap is named ``.OUT.trialflow-old-XXXX``."""

MANIFEST = "manifest.json"


class OutputBusyError(OutputLocationError):
    """Another trialflow run holds the lock of the output folder.

    Example:
        >>> issubclass(OutputBusyError, OutputLocationError)
        True
    """


def file_mode() -> int:
    """The mode every output file gets: 0666 less the process's umask (what ``open`` gives).

    Example:
        >>> import os
        >>> old = os.umask(0o022)
        >>> oct(file_mode())
        '0o644'
        >>> _ = os.umask(old)
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _umask_folder_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def replace_file(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Write a file by ``write(tmp)`` into a new file beside ``path``, then rename it to
    ``path``: a symbolic link at ``path`` is replaced, never written through, and a reader
    never sees half a file. The file gets :func:`file_mode`.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "report.json"
        >>> replace_file(target, lambda tmp: tmp.write_text("{}")).read_text()
        '{}'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}",
                                dir=path.parent)  # fmt: skip
    os.close(fd)
    tmp = Path(name)
    try:
        tmp.unlink()  # the writer creates it fresh
        write(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def replace_files(folder: str | os.PathLike[str], write: Callable[[Path], object]) -> list[Path]:
    """Write files by ``write(tmp)`` into a new folder beside ``folder``, then rename each into
    ``folder`` (created if needed): a symbolic link in ``folder`` with the name of a new file is
    replaced, never written through; other files in ``folder`` stay. Returns the files.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "export"
        >>> [p.name for p in replace_files(target, lambda tmp: (tmp / "dm.xpt").write_text("x"))]
        ['dm.xpt']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        write(build)
        placed = []
        for path in sorted(build.iterdir()):
            if path.is_file() and not path.is_symlink():
                os.chmod(path, file_mode())
                os.replace(path, folder / path.name)
                placed.append(folder / path.name)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return placed


def lock_path(out: str | os.PathLike[str]) -> Path:
    """The lock file of output folder ``out``: ``.NAME.trialflow.lock`` beside it.

    Example:
        >>> lock_path("runs/out").as_posix()
        'runs/.out.trialflow.lock'
    """
    out = Path(out)
    return out.parent / f".{out.name}{LOCK_SUFFIX}"


class _Lock:
    """An exclusive, non-blocking lock on ``lock_path(out)`` (fcntl.flock; msvcrt.locking on
    Windows). The file holds the holder's pid and command, so a refused run can name it."""

    def __init__(self, out: Path, shown: Path, command: str) -> None:
        self.path = lock_path(out)
        self.shown = shown
        self.command = command
        self.fd: int | None = None

    def acquire(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, file_mode())
        except OSError as exc:
            raise OutputLocationError(
                f"--out {self.shown}: the lock file {self.path} can't be opened "
                f"({exc.strerror or exc}); remove it if it is a symbolic link"
            ) from None
        try:
            locked = _try_lock(fd)
        except BaseException:
            os.close(fd)
            raise
        if not locked:
            try:
                holder = os.read(fd, 400).decode("utf-8", "replace").strip()
            except OSError:  # pragma: no cover - Windows: the holder's byte is locked
                holder = ""
            holder = holder or "unknown"
            os.close(fd)
            raise OutputBusyError(
                f"--out {self.shown} is in use by another trialflow run ({holder}); wait for "
                f"it to finish or choose another --out"
            )
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, trialflow {self.command}".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None


def _try_lock(fd: int) -> bool:
    """Lock ``fd`` without waiting: True when this process now holds it. Without fcntl
    (Windows) msvcrt locks the file's first byte; with neither, no lock is taken."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        try:
            import msvcrt
        except ImportError:
            return True
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _leftovers(out: Path, mark: str) -> list[Path]:
    prefix = f".{out.name}{mark}"
    if not out.parent.is_dir():
        return []
    return sorted(
        p for p in out.parent.iterdir()
        if p.name.startswith(prefix) and p.is_dir() and not p.is_symlink()
    )  # fmt: skip


def recover(out: str | os.PathLike[str]) -> list[str]:
    """Put right what a run killed beside ``out`` left (call it holding the lock): an
    earlier output moved aside with no ``out`` is renamed back to ``out``; unfinished build
    folders and other aside folders are removed. Returns what was done, one line each.

    A swap moves the old folder aside only where the atomic exchange of two folders
    (Linux renameat2) is not available; a run killed between its two renames leaves ``out``
    absent and the old folder aside, and the next run restores it here.

    Example:
        >>> import tempfile
        >>> base = Path(tempfile.mkdtemp())
        >>> (base / f".out{OLD_MARK}x1").mkdir()
        >>> recover(base / "out")
        ['restored out from .out.trialflow-old-x1']
        >>> (base / "out").is_dir()
        True
    """
    out = Path(out)
    done = []
    aside = _leftovers(out, OLD_MARK)
    if aside and not os.path.lexists(out):
        os.rename(aside[-1], out)
        done.append(f"restored {out.name} from {aside[-1].name}")
        aside = aside[:-1]
    for folder in [*aside, *_leftovers(out, BUILD_MARK)]:
        shutil.rmtree(folder, ignore_errors=True)
        done.append(f"removed {folder.name}")
    return done


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two folders (Linux renameat2 RENAME_EXCHANGE); False when the
    system or the file system can't."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]  # fmt: skip
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_in(build: Path, out: Path) -> None:
    """Put the finished folder ``build`` in place of ``out`` and remove the earlier ``out``.

    Where the system can exchange two folders atomically (Linux renameat2), ``out`` is never
    absent; elsewhere the earlier ``out`` is renamed aside first, and a run killed between
    the two renames is put right by :func:`recover` on the next run.

    Example:
        >>> import tempfile
        >>> base = Path(tempfile.mkdtemp())
        >>> (base / "new").mkdir(); (base / "out").mkdir()
        >>> _ = (base / "new" / "a.txt").write_text("new")
        >>> swap_in(base / "new", base / "out")
        >>> sorted(p.name for p in base.iterdir()), (base / "out" / "a.txt").read_text()
        (['out'], 'new')
    """
    if not os.path.lexists(out):
        os.rename(build, out)
        return
    if out.is_dir() and not out.is_symlink() and _exchange(build, out):
        shutil.rmtree(build)  # now the earlier output
        return
    old = out.parent / f".{out.name}{OLD_MARK}{build.name.rsplit('-', 1)[-1]}"
    os.rename(out, old)
    try:
        os.rename(build, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old)


def _safe_relative(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts and "\\" not in name


def _no_link_on_the_way(root: Path, name: str) -> str | None:
    """Why ``root/name`` is not a regular file reached without a symbolic link, or None."""
    place = root
    for part in Path(name).parts:
        place = place / part
        try:
            st = os.lstat(place)
        except FileNotFoundError:
            return "is missing"
        if stat.S_ISLNK(st.st_mode):
            return f"{place.relative_to(root).as_posix()} is a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    return None


def read_manifest(out: str | os.PathLike[str]) -> dict | None:
    """DIR/manifest.json as a dict, None when there is none; refused (OutputLocationError)
    when it is a symbolic link, not a regular file, or not a trialflow manifest.

    Example:
        >>> read_manifest("/nonexistent") is None
        True
    """
    out = Path(out)
    path = out / MANIFEST
    if not os.path.lexists(path):
        return None
    problem = _no_link_on_the_way(out, MANIFEST)
    if problem:
        raise OutputLocationError(f"{path}: {problem}; trialflow reads no manifest through one")
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise OutputLocationError(f"{path}: not a trialflow manifest ({exc})") from None
    entries = body.get("files") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("sha256"), str)
        for e in entries
    ):
        raise OutputLocationError(
            f'{path}: not a trialflow manifest (no "files" list of path and sha256)'
        )
    return body


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_kept(out: Path, build: Path, keep: Callable[[str], bool]) -> list[Path]:
    """Copy into ``build`` the files of ``out``'s manifest that ``keep`` accepts: regular
    files only, reached without a symbolic link, each checked against its sha256. A listed
    file that is gone is left out; one altered or behind a link is refused."""
    body = read_manifest(out)
    if body is None or body.get("status") == "refused":
        return []  # a refused run's folder holds only its report: nothing of it is kept
    kept = []
    for entry in body["files"]:
        name = entry["path"]
        if name == MANIFEST or not keep(name):
            continue
        if not _safe_relative(name):
            raise OutputLocationError(f"{out / MANIFEST}: lists {name!r}, outside the folder")
        problem = _no_link_on_the_way(out, name)
        if problem == "is missing":
            continue
        if problem:
            raise OutputLocationError(
                f"{out / name}: {problem}; trialflow copies no file through one (remove it, "
                "or rerun the command that wrote it)"
            )
        target = build / name
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(out / name, flags), "rb") as src, open(target, "xb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        if _sha256(target) != entry["sha256"]:
            raise OutputLocationError(
                f"{out / name}: differs from its sha256 in {out / MANIFEST}; the earlier output "
                f"was changed (see trialflow verify {out}): rerun the command that wrote it"
            )
        kept.append(target)
    return kept


def _copy_unlisted(out: Path, build: Path) -> list[Path]:
    """Copy every regular file of ``out`` (a folder with no manifest) into ``build``; a
    symbolic link in it is refused, never followed."""
    kept = []
    for here, dirs, names in os.walk(out):
        for name in sorted([*dirs, *names]):
            path = Path(here, name)
            if path.is_symlink():
                raise OutputLocationError(
                    f"{path}: is a symbolic link; trialflow copies no file through one (remove it)"
                )
        for name in sorted(names):
            source = Path(here, name)
            target = build / source.relative_to(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target, follow_symlinks=False)
            kept.append(target)
    return kept


@contextlib.contextmanager
def locked(out: str | os.PathLike[str], command: str) -> Iterator[None]:
    """Hold the lock of output folder ``out`` (:func:`lock_path`) for a block; another run
    holding it raises :class:`OutputBusyError` naming that run.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "out"
        >>> with locked(out, "example"):
        ...     lock_path(out).read_text()[:4]
        'pid '
    """
    lock = _Lock(Path(out), Path(out), command)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


class OutputFolder:
    """The output folder of one command, whole or absent.

    Entering locks ``out`` (:func:`lock_path`; a second run is refused with
    :class:`OutputBusyError`), puts right what a killed run left (:func:`recover`), and makes
    a new empty folder beside ``out`` (:attr:`path`) into which the command writes; the files
    of the earlier output's manifest that ``keep`` accepts are copied into it first
    (:attr:`kept`; with ``keep_unlisted``, a folder with no manifest has every file kept).
    Otherwise an ``out`` that holds files and no manifest.json is refused: it is not an
    earlier trialflow output, and the swap would replace it whole. Leaving without an
    exception, or :meth:`commit`, swaps it in (:func:`swap_in`); an exception before that
    removes it and leaves ``out`` as it was.
    Nothing is written into the earlier ``out``: a symbolic link planted in it is never
    followed. A symbolic link at ``out`` itself is the user's choice of place: its target is
    the folder replaced.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "out"
        >>> with OutputFolder(out, "example") as folder:
        ...     _ = (folder.path / "a.txt").write_text("a")
        >>> sorted(p.name for p in out.iterdir())
        ['a.txt']
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        command: str,
        keep: Callable[[str], bool] | None = None,
        *,
        keep_unlisted: bool = False,
    ) -> None:
        self.out = Path(out)
        self.command = command
        self.keep = keep
        self.keep_unlisted = keep_unlisted
        self.path = self.out  # the building folder, once entered
        self._build: Path | None = None
        self.kept: list[Path] = []
        self.committed = False
        real = Path(os.path.abspath(self.out))
        if real.is_symlink() and real.is_dir():
            real = real.resolve()
        self._real = real
        self._lock = _Lock(real, self.out, command)

    def __enter__(self) -> OutputFolder:
        check_output_folder(self.out, "--out")
        self._real.parent.mkdir(parents=True, exist_ok=True)
        _probe(self._real.parent, self.out, "--out")  # the new folder is built there
        self._lock.acquire()
        try:
            recover(self._real)
            self.path = Path(
                tempfile.mkdtemp(prefix=f".{self._real.name}{BUILD_MARK}", dir=self._real.parent)
            )
            self._build = self.path
            os.chmod(self.path, _umask_folder_mode())
            if not self._real.is_dir():
                pass
            elif os.path.lexists(self._real / MANIFEST):
                if self.keep is not None:
                    self.kept = _copy_kept(self._real, self.path, self.keep)
            elif self.keep_unlisted:
                self.kept = _copy_unlisted(self._real, self.path)
            elif any(self._real.iterdir()):
                raise OutputLocationError(
                    f"--out {self.out}: the folder holds files and no manifest.json, so it is "
                    "not an earlier trialflow output and would be replaced whole; choose a new "
                    "or empty --out"
                )
        except BaseException:
            self._discard()
            raise
        return self

    def final(self, path: str | os.PathLike[str]) -> Path:
        """Where a file written under :attr:`path` is once swapped in (under ``out``)."""
        path = Path(path)
        if self._build is not None and path.is_relative_to(self._build):
            return self.out / path.relative_to(self._build)
        return path

    def commit(self) -> None:
        """Swap the folder in now (a refused run's report goes in this way, then it raises)."""
        if not self.committed:
            fix_modes(self.path)
            swap_in(self.path, self._real)
            self.committed = True
            self.path = self.out

    def _discard(self) -> None:
        if self.path != self.out:
            shutil.rmtree(self.path, ignore_errors=True)
        self._lock.release()

    def __exit__(self, kind, value, trace) -> None:
        try:
            if kind is None:
                self.commit()
        finally:
            if not self.committed:
                self._discard()
            else:
                self._lock.release()


def fix_modes(root: Path) -> None:
    """Every file under ``root`` gets :func:`file_mode` and every folder the umask's mode
    (files made by mkstemp are 0600); symbolic links are left alone.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> fix_modes(root)
    """
    files, folders = file_mode(), _umask_folder_mode()
    for here, dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(here, name)
            if not os.path.islink(path):
                os.chmod(path, files)
        for name in dirs:
            path = os.path.join(here, name)
            if not os.path.islink(path):
                os.chmod(path, folders)


# --- verify ----------------------------------------------------------------------------------


class VerifyResult(NamedTuple):
    """What :func:`verify_folder` found: the problems (one line each), the files checked, and
    the manifest's ``status`` (``"refused"`` for the folder of a refused run, else None).

    Example:
        >>> result = VerifyResult([], 12)
        >>> not result.problems, result.checked, result.status
        (True, 12, None)
    """

    problems: list[str]
    checked: int
    status: str | None = None


def verify_folder(folder: str | os.PathLike[str]) -> VerifyResult:
    """Check an output folder against its manifest.json: each listed file present, a regular
    file, with the listed sha256 (and size); no file or folder the manifest does not list;
    no symbolic link anywhere in the tree. Raises :class:`OutputLocationError` when the
    folder can't be checked (not a folder, no manifest, a manifest not well-formed).

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> _ = (out / "a.txt").write_text("a")
        >>> _ = (out / "manifest.json").write_text(json.dumps({"files": [{"path": "a.txt",
        ...     "bytes": 1, "sha256": hashlib.sha256(b"a").hexdigest()}]}))
        >>> verify_folder(out).problems
        []
        >>> _ = (out / "b.txt").write_text("b")
        >>> verify_folder(out).problems
        ['b.txt: not in the manifest']
    """
    root = Path(folder)
    if root.is_symlink() or not root.is_dir():
        raise OutputLocationError(f"{root}: not a folder")
    body = read_manifest(root)
    if body is None:
        raise OutputLocationError(f"{root / MANIFEST}: no manifest; nothing to verify against")
    problems = []
    listed: dict[str, dict] = {}
    for entry in body["files"]:
        name = entry["path"]
        if not _safe_relative(name) or name == MANIFEST:
            problems.append(f"{name}: listed in the manifest, but not a file inside the folder")
        elif name in listed:
            problems.append(f"{name}: listed twice in the manifest")
        else:
            listed[name] = entry
    parents = {p.as_posix() for name in listed for p in Path(name).parents if p != Path(".")}
    for here, dirs, names in os.walk(root):
        for name in sorted([*dirs, *names]):
            path = Path(here, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                problems.append(f"{rel}: a symbolic link (to {os.readlink(path)})")
            elif name in dirs:
                if rel not in parents:
                    problems.append(f"{rel}/: a folder the manifest lists no file in")
            elif rel != MANIFEST and rel not in listed:
                problems.append(f"{rel}: not in the manifest")
    checked = 0
    for name, entry in sorted(listed.items()):
        problem = _no_link_on_the_way(root, name)
        if problem == "is missing":
            problems.append(f"{name}: missing")
            continue
        if problem:
            if "symbolic link" not in problem:  # links are reported by the walk
                problems.append(f"{name}: {problem}")
            continue
        checked += 1
        size = entry.get("bytes")
        if isinstance(size, int) and (root / name).stat().st_size != size:
            problems.append(f"{name}: {(root / name).stat().st_size} bytes, the manifest says "
                            f"{size}")  # fmt: skip
        elif _sha256(root / name) != entry["sha256"]:
            problems.append(f"{name}: sha256 differs from the manifest's")
    status = body.get("status")
    return VerifyResult(sorted(set(problems)), checked, status if isinstance(status, str) else None)
