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

import os
import tempfile
from pathlib import Path

from trialflow.errors import TrialflowError

__all__ = ["OutputLocationError", "check_output_file", "check_output_folder"]


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
