"""Limits on the shape of untrusted input files, checked before a file is decompressed,
decoded or allocated.

A raw export or a package to validate may come from anywhere. A few kilobytes can declare a
sheet of 17 billion cells, inflate to gigabytes, or hold a million columns; a reader that
trusts them exhausts the machine (or aborts in native code, where Python cannot catch it).
Every reader of trialflow therefore decides from what it can learn cheaply (the zip central
directory, a sheet's declared ``<dimension>``, a CSV header line, an XPT file's NAMESTR
headers and size) whether the file is within these limits, and refuses it otherwise with one
line naming the file, the limit, the value found and how to raise it
(:class:`LimitExceeded`, a :class:`~trialflow.errors.RawInputError`: exit 2 on the command
line).

The defaults let a legitimate export of 25,000 subjects through (``trialflow synth
--subjects 10000`` writes a 21 MB workbook whose largest sheet inflates 11:1 to 187 MB and
holds 3.6 million cells). Raise a limit for a trusted file:

* command line: ``--limit NAME=VALUE`` (repeatable) on map, run, derive, report, validate
  and export, e.g. ``--limit zip_ratio=200 --limit sheet_cells=100000000``;
* Python: ``with trialflow.limits.using(zip_ratio=200): ...``, or pass a :class:`Limits`.

Example:
    >>> from trialflow.limits import DEFAULT, current, using
    >>> current().zip_ratio
    100
    >>> with using(zip_ratio=200):
    ...     current().zip_ratio
    200
    >>> current() == DEFAULT
    True
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace

from trialflow.errors import RawInputError

__all__ = [
    "DEFAULT",
    "LimitExceeded",
    "Limits",
    "current",
    "parse_limits",
    "refuse",
    "using",
]

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """The limits every reader of untrusted files checks (see the module docstring).

    Example:
        >>> Limits().zip_ratio, Limits(zip_ratio=50).zip_ratio
        (100, 50)
    """

    file_bytes: int = 2 * GiB
    """Largest CSV, SAS, ODM XML or Dataset-JSON file read, in bytes."""
    zip_ratio: int = 100
    """Largest inflation ratio (uncompressed / compressed size) of one part of a workbook
    (.xlsx, .xlsm, .xlsb, .ods: zip files), as Apache POI refuses parts inflating more than
    100:1 (its MIN_INFLATE_RATIO 0.01)."""
    zip_ratio_floor: int = 1 * MiB
    """Parts smaller than this (uncompressed bytes) are not held to :attr:`zip_ratio`: a
    small run of identical styles or blank cells compresses far better than 100:1."""
    zip_bytes: int = 2 * GiB
    """Largest total uncompressed size of all the parts of a workbook, in bytes."""
    zip_parts: int = 10_000
    """Largest number of parts (zip members) of a workbook."""
    sheet_cells: int = 20_000_000
    """Largest number of cells (rows x columns) of one sheet or dataset: what a workbook
    sheet declares (``<dimension ref="A1:XFD1048576"/>``), the area its cells span, a SAS
    dataset's rows x variables."""
    columns: int = 5_000
    """Largest number of columns of one sheet, CSV file or dataset."""
    line_bytes: int = 16 * MiB
    """Longest line of a CSV file, in bytes (bounds one field, and the header)."""
    xpt_padding_bytes: int = 80
    """Blank bytes allowed after the last record of an XPT file beyond those that fill its
    last 80-byte record (one more blank record)."""
    xpt_variables: int = 10_000
    """Largest number of variables (NAMESTR records) of an XPT file."""
    json_depth: int = 64
    """Deepest nesting of arrays and objects in a Dataset-JSON file (a valid one nests 3)."""


DEFAULT = Limits()
"""The limits in force unless changed by :func:`using` or ``--limit``."""

_lock = threading.Lock()
_active: Limits = DEFAULT


def current() -> Limits:
    """The limits in force now (process-wide, so reader threads see them too).

    Example:
        >>> current().columns
        5000
    """
    return _active


@contextmanager
def using(limits: Limits | None = None, **changes: int) -> Iterator[Limits]:
    """Make ``limits`` (default: the current ones) with ``changes`` the limits in force
    inside the ``with`` block.

    Example:
        >>> with using(columns=10) as active:
        ...     active.columns, current().columns
        (10, 10)
    """
    global _active
    base = current() if limits is None else limits
    try:
        chosen = replace(base, **changes)
    except TypeError as exc:
        raise RawInputError(f"unknown limit ({exc}); limits are {_names()}") from None
    with _lock:
        before = _active
        _active = chosen
    try:
        yield chosen
    finally:
        with _lock:
            _active = before


def parse_limits(items: tuple[str, ...] | list[str]) -> dict[str, int]:
    """``NAME=VALUE`` settings (as ``--limit`` takes them) as keyword arguments of
    :func:`using`; a value may be written 1_000_000 or with a K, M or G suffix (binary
    units: 1M is 1,048,576).

    Example:
        >>> parse_limits(["zip_ratio=200", "file_bytes=4G"])
        {'zip_ratio': 200, 'file_bytes': 4294967296}
    """
    known = {f.name for f in fields(Limits)}
    out: dict[str, int] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise RawInputError(f"--limit {item}: expected NAME=VALUE with NAME one of {_names()}")
        value = _number(text.strip())
        if value is None or value < 1:
            raise RawInputError(
                f"--limit {item}: the value must be a whole number of at least 1 "
                "(a K, M or G suffix multiplies by 1024, 1024**2, 1024**3)"
            )
        out[name] = value
    return out


def _number(text: str) -> int | None:
    scale = {"K": 1024, "M": MiB, "G": GiB}.get(text[-1:].upper(), 1)
    if scale != 1:
        text = text[:-1]
    try:
        return int(text.replace("_", "").replace(",", "")) * scale
    except ValueError:
        return None


def _names() -> str:
    return ", ".join(f.name for f in fields(Limits))


class LimitExceeded(RawInputError):
    """An input file is over one of the :class:`Limits`; the message names the file, the
    limit, the value found and how to raise it.

    Example:
        >>> exc = LimitExceeded("big.csv: 9 columns, over the limit of 8", "columns", 9, 8)
        >>> exc.name, exc.value, exc.limit, isinstance(exc, RawInputError)
        ('columns', 9, 8, True)
    """

    def __init__(self, message: str, name: str, value: int, limit: int) -> None:
        super().__init__(message)
        self.name = name
        self.value = value
        self.limit = limit


def refuse(file: str, what: str, name: str, value: int) -> LimitExceeded:
    """The error for ``file`` whose ``what`` is ``value``, over the limit ``name``.

    Example:
        >>> print(refuse("ae.csv", "the header has", "columns", 1_000_000))
        ae.csv: the header has 1,000,000 columns, more than the limit columns=5,000 (refused \
before reading; if the file is trusted, raise it with --limit columns=N)
    """
    limit = getattr(current(), name)
    unit = _UNITS[name]
    shown = f"{value:,}:1" if unit == ":1" else f"{value:,} {unit}"
    message = (
        f"{file}: {what} {shown}, more than the limit {name}={limit:,} (refused before "
        f"reading; if the file is trusted, raise it with --limit {name}=N)"
    )
    return LimitExceeded(message, name, value, limit)


_UNITS = {
    "file_bytes": "bytes", "zip_bytes": "bytes", "zip_ratio_floor": "bytes",
    "line_bytes": "bytes", "xpt_padding_bytes": "bytes", "columns": "columns",
    "sheet_cells": "cells", "zip_parts": "parts", "xpt_variables": "variables",
    "json_depth": "levels", "zip_ratio": ":1",
}  # fmt: skip
