"""Checks of a workbook against :mod:`trialflow.limits` before a reader decompresses it.

A workbook (.xlsx, .xlsm, .xlsb, .ods) is a zip file. Before python-calamine sees it:

* :func:`check_zip` reads the zip central directory only: the number of parts
  (``zip_parts``), their total uncompressed size (``zip_bytes``) and each part's inflation
  ratio (``zip_ratio``, for parts of at least ``zip_ratio_floor`` bytes), as Apache POI does;
* :func:`check_sheet` reads the sheet's XML as a stream, a chunk at a time: the declared
  ``<dimension ref="A1:XFD1048576"/>`` (a reader reserves room for that many cells), then
  the cells (``<c ...>``) and the area their references span (a reader allocates the whole
  rectangle from the first to the last cell, whatever the dimension says), against
  ``sheet_cells`` and ``columns``.

Either raises :class:`~trialflow.limits.LimitExceeded` naming the file, the part or sheet,
the value and the limit.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from trialflow.errors import RawInputError
from trialflow.limits import current, refuse

__all__ = [
    "check_sheet",
    "check_text_table",
    "check_xpt_padding",
    "check_zip",
    "excel_column",
    "xpt_layout",
]

_CHUNK = 8 * 1024 * 1024
_OVERLAP = 64
_DIMENSION = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*?\bref\s*=\s*"([^"]*)"')
_RANGE = re.compile(r"\$?([A-Z]{1,3})?\$?(\d{1,7})?(?::\$?([A-Z]{1,3})?\$?(\d{1,7})?)?")
_CELL_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s>/]")


def excel_column(letters: str) -> int:
    """The 1-based column number of Excel column letters.

    Example:
        >>> excel_column("A"), excel_column("AB"), excel_column("XFD")
        (1, 28, 16384)
    """
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def check_zip(path: Path, shown: str) -> None:
    """Refuse a workbook whose zip directory shows too many parts, too many bytes once
    inflated, or a part inflating more than ``zip_ratio``:1.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "export.xlsx"
        >>> with zipfile.ZipFile(path, "w") as book:
        ...     book.writestr("xl/workbook.xml", "<workbook/>")
        >>> check_zip(path, "export.xlsx")  # a small zip: nothing to refuse
    """
    limits = current()
    try:
        with zipfile.ZipFile(path) as book:
            infos = book.infolist()
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise RawInputError(f"{shown}: not a readable workbook ({exc})") from exc
    if len(infos) > limits.zip_parts:
        raise refuse(shown, "the zip file has", "zip_parts", len(infos))
    total = sum(i.file_size for i in infos)
    if total > limits.zip_bytes:
        raise refuse(shown, "the parts inflate to", "zip_bytes", total)
    for info in infos:
        if info.file_size < limits.zip_ratio_floor:
            continue
        ratio = info.file_size // max(info.compress_size, 1)
        if info.file_size > limits.zip_ratio * max(info.compress_size, 1):
            raise refuse(
                shown,
                f"part {info.filename} inflates from {info.compress_size:,} to "
                f"{info.file_size:,} bytes, a ratio of",
                "zip_ratio",
                ratio,
            )


def check_sheet(path: Path, shown: str, sheet: str) -> bool:
    """Refuse an .xlsx/.xlsm sheet that declares, or whose cells span, more than
    ``sheet_cells`` cells or ``columns`` columns; read as a stream, nothing kept.

    Returns whether the sheet may hold a formula or an Excel error value (an ``<f>`` element
    or a ``"e"`` attribute value anywhere), so that the reader looks for cells without a
    saved value (:func:`trialflow.raw.cells.lost_cells`) only then; True when the sheet
    could not be scanned.

    Example:
        >>> from trialflow.pipeline import example_paths
        >>> check_sheet(example_paths()[1], "raw-export.xlsx", "DEMOG")  # no formula in it
        False
    """
    from trialflow.raw.cells import sheet_member

    where = f"{shown}, sheet {sheet}"
    try:
        with zipfile.ZipFile(path) as book:
            member = sheet_member(book, sheet)
            if member is None:
                return True
            with book.open(member) as stream:
                return _scan(stream, where)
    except (OSError, KeyError, zipfile.BadZipFile, EOFError):
        return True  # the workbook reader names what is wrong with the file


def _scan(stream, where: str) -> bool:
    """Read the sheet XML a chunk at a time: the declared area, then the number of cells and
    the last column and row any cell or row reference names (a reader allocates the area
    from A1, or from the first cell, to there), refused as soon as one is over its limit."""
    limits = current()
    data = stream.read(_CHUNK)
    declared = _DIMENSION.search(data[: 1 << 20])
    if declared is not None:
        _check_area(declared.group(1).decode("ascii", "replace"), where, "declares")
    cells = last_col = last_row = 0
    tail = b""
    formulas = False
    while data:
        window = tail + data
        formulas = formulas or _formula_or_error(window)
        cells += _count_cells(data)
        col, row = _extent(window)
        if cells > limits.sheet_cells:
            raise refuse(where, "holds", "sheet_cells", cells)
        last_col, last_row = max(last_col, col), max(last_row, row)
        if last_col > limits.columns:
            raise refuse(where, f"has a cell in column {_letters(last_col)}, that is",
                         "columns", last_col)  # fmt: skip
        if last_col * last_row > limits.sheet_cells:
            raise refuse(
                where,
                f"has cells as far as column {_letters(max(last_col, 1))} and row "
                f"{last_row:,}: an area of",
                "sheet_cells",
                max(last_col, 1) * last_row,
            )
        tail = window[-_OVERLAP:]
        data = stream.read(_CHUNK)
    return formulas


_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")


def _formula_or_error(data: bytes) -> bool:
    """Whether ``data`` may hold a formula or an error cell (literal searches first: the
    expression, which stops at every ``<``, only runs where an ``<f`` or a prefix's ``:f``
    is in the chunk at all).

    Example:
        >>> _formula_or_error(b'<c r="A1"><v>1</v></c>'), _formula_or_error(b'<x:f>A1</x:f>')
        (False, True)
    """
    if b'"e"' in data or b"'e'" in data:
        return True
    if b"<f" not in data and b":f" not in data:
        return False
    return _FORMULA.search(data) is not None


_REF_SLOW = re.compile(rb"""(?<![\w.:-])r\s*=\s*["']([A-Z]{0,4})(\d{0,11})["']""")


def _blank(values: np.ndarray) -> np.ndarray:
    return (values == 32) | (values == 9) | (values == 10) | (values == 13)


def _count_cells(data: bytes) -> int:
    """How many cell elements (``<c ...>``) ``data`` holds.

    Example:
        >>> _count_cells(b'<row r="7"><c r="B7" t="n"><v>1</v></c><c r="AB3"/></row>')
        2
    """
    cells = data.count(b"<c ") + data.count(b"<c>")
    return cells or len(_CELL_OPEN.findall(data))  # a namespace prefix: <x:c r="A1">


def _extent(data: bytes) -> tuple[int, int]:
    """The largest column and row number an ``r="..."`` attribute in ``data`` names (a
    cell's ``r="XFD1048576"``, a row's ``r="12"``; 0 for none).

    Vectorised over the ``=`` signs of the chunk (a few passes of numpy over its bytes); a
    chunk with blanks beside an ``=`` (an attribute written ``r = "A1"``, allowed in XML and
    never written by Excel, or cell text such as ``BMI = 31``) is read by a slower regular
    expression instead.

    Example:
        >>> _extent(b'<row r="7"><c r="B7" t="n"><v>1</v></c><c r="AB3"/></row>')
        (28, 7)
    """
    arr = np.frombuffer(data + b'"' * 16, dtype=np.uint8)
    eq = np.flatnonzero(arr == 61)
    eq = eq[eq >= 2]
    if not len(eq):
        return 0, 0
    if _blank(arr[eq - 1]).any() or _blank(arr[eq + 1]).any():
        return _extent_slow(data)
    quote = arr[eq + 1]
    keep = (arr[eq - 1] == 114) & _blank(arr[eq - 2]) & ((quote == 34) | (quote == 39))
    start = eq[keep] + 2
    if not len(start):
        return 0, 0
    window = np.lib.stride_tricks.sliding_window_view(arr, 15)[start]
    closed = (window == 34) | (window == 39)
    size = np.argmax(closed, axis=1)  # where the closing quote is
    width = np.argmin((window >= 65) & (window <= 90), axis=1)  # the leading letters
    col = row = 0
    most = int(width.max())
    if most > 3 or not closed.any(axis=1).all():
        col = 1 << 40  # more letters, or longer, than any cell a reader can place
    elif most:
        pick = window[width == most, :most].astype(np.int64) - 64
        col = int((pick @ (26 ** np.arange(most - 1, -1, -1))).max())
    digits = size - width
    most = int(digits.max())
    if most > 0:
        chosen = np.flatnonzero(digits == most)
        first = start[chosen] + width[chosen]
        value = np.zeros(len(chosen), dtype=np.int64)
        for k in range(min(most, 15)):
            value = value * 10 + (arr[first + k].astype(np.int64) - 48)
        row = int(value.max())
    return col, row


def _extent_slow(data: bytes) -> tuple[int, int]:
    col = row = 0
    for match in _REF_SLOW.finditer(data):
        letters, digits = match.group(1), match.group(2)
        if letters:
            col = max(col, excel_column(letters.decode()))
        if digits:
            row = max(row, int(digits))
    return col, row


def _check_area(ref: str, where: str, verb: str) -> None:
    match = _RANGE.fullmatch(ref.strip().upper())
    if match is None:
        return
    c1, r1, c2, r2 = match.groups()
    first_col = excel_column(c1) if c1 else 1
    last_col = excel_column(c2) if c2 else (first_col if c1 else 16384)
    first_row = int(r1) if r1 else 1
    last_row = int(r2) if r2 else (first_row if r1 else 1048576)
    width = abs(last_col - first_col) + 1
    height = abs(last_row - first_row) + 1
    limits = current()
    if width > limits.columns:
        raise refuse(where, f"{verb} the area {ref} of", "columns", width)
    if width * height > limits.sheet_cells:
        raise refuse(where, f"{verb} the area {ref} of", "sheet_cells", width * height)


def _letters(column: int) -> str:
    out = ""
    while column:
        column, rem = divmod(column - 1, 26)
        out = chr(65 + rem) + out
    return out


def check_text_table(path: Path, shown: str) -> None:
    """Refuse a CSV file over ``file_bytes``, with a line longer than ``line_bytes`` or a
    header of more than ``columns`` columns, reading it a chunk at a time (nothing kept).

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "dm.csv"
        >>> _ = f.write_text("A,B\\n1,2\\n")
        >>> check_text_table(f, "dm.csv")
    """
    limits = current()
    size = path.stat().st_size
    if size > limits.file_bytes:
        raise refuse(shown, "the file is", "file_bytes", size)
    with path.open("rb") as handle:
        first = handle.readline(limits.line_bytes + 1)
        if len(first) > limits.line_bytes:
            raise refuse(shown, "line 1 (the header) is longer than", "line_bytes",
                         limits.line_bytes)  # fmt: skip
        # the commas outside quoted names (UTF-16/32 text: its NUL bytes dropped first)
        width = re.sub(rb'"[^"]*"', b"", first.replace(b"\0", b"")).count(b",") + 1
        if width > limits.columns:
            raise refuse(shown, "the header has", "columns", width)
        line, longest, run = 2, 0, 0
        while True:
            data = handle.read(_CHUNK)
            if not data:
                break
            breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            if not len(breaks):
                run += len(data)
            else:
                longest = max(run + int(breaks[0]) + 1, int(np.diff(breaks).max(initial=0)))
                if longest > limits.line_bytes:
                    at = line + (
                        0
                        if run + int(breaks[0]) + 1 > limits.line_bytes
                        else int(np.argmax(np.diff(breaks) > limits.line_bytes)) + 1
                    )
                    raise refuse(shown, f"line {at:,} is longer than", "line_bytes",
                                 limits.line_bytes)  # fmt: skip
                line += len(breaks)
                run = len(data) - int(breaks[-1]) - 1
            if run > limits.line_bytes:
                raise refuse(shown, f"line {line:,} is longer than", "line_bytes",
                             limits.line_bytes)  # fmt: skip


_XPT_RECORD = 80


def xpt_layout(path: Path) -> tuple[int, int, int | None] | None:
    """Where the observations of a SAS transport file start, the bytes of one record (the sum
    of the NAMESTR lengths) and, for v8, the record count its header declares; None when the
    headers are not there as expected (the reader then says what is wrong). Reads the headers
    only: at most ``xpt_variables`` NAMESTR records.

    Example:
        >>> import tempfile, pandas as pd
        >>> from trialflow.io.xpt import write_xpt
        >>> f = Path(tempfile.mkdtemp()) / "dm.xpt"
        >>> _ = write_xpt(pd.DataFrame({"USUBJID": ["S-01"], "AGE": [34.0]}), f, dataset="DM")
        >>> xpt_layout(f)
        (1040, 12, None)
    """
    limits = current()
    with path.open("rb") as handle:
        head = handle.read(12 * _XPT_RECORD + 140 * (limits.xpt_variables + 1))
    member = head.find(b"HEADER RECORD*******MEMB")
    names = head.find(b"HEADER RECORD*******NAMSTV8", member)
    if names < 0:
        names = head.find(b"HEADER RECORD*******NAMESTR", member)
    obs = head.find(b"HEADER RECORD*******OBS", max(names, 0))
    size_text, count_text = head[member + 74 : member + 78], head[names + 54 : names + 58]
    if min(member, names, obs) < 0 or not size_text.isdigit() or not count_text.isdigit():
        return None
    size, count = int(size_text), int(count_text)
    if count > limits.xpt_variables:
        raise refuse(str(path.name), "the NAMESTR header declares", "xpt_variables", count)
    first = names + _XPT_RECORD
    if size not in (136, 140) or first + count * size > obs:
        return None
    width = sum(
        max(
            int.from_bytes(head[first + i * size + 4 : first + i * size + 6], "big", signed=True), 0
        )
        for i in range(count)
    )
    declared = None
    if head[obs + 20 : obs + 25] == b"OBSV8":
        text = head[obs + 48 : obs + _XPT_RECORD].split()
        declared = int(text[0]) if text and text[0].isdigit() else None
    return obs + _XPT_RECORD, width, declared


def check_xpt_padding(path: Path, shown: str, start: int, width: int, declared: int | None) -> None:
    """Refuse an XPT file whose observations end in more blanks than padding explains: the
    rest of the last record (``width`` bytes at most), the blanks that fill its 80-byte
    record, and ``xpt_padding_bytes`` more; or, with a v8 record count, more bytes than
    that many records. Only the end of the file is read, backwards, a bounded amount.

    Example:
        >>> import tempfile, pandas as pd
        >>> from trialflow.io.xpt import write_xpt
        >>> f = Path(tempfile.mkdtemp()) / "dm.xpt"
        >>> _ = write_xpt(pd.DataFrame({"USUBJID": ["S-01"], "AGE": [34.0]}), f, dataset="DM")
        >>> check_xpt_padding(f, "dm.xpt", *xpt_layout(f))
        >>> _ = f.open("ab").write(b" " * 800)
        >>> check_xpt_padding(f, "dm.xpt", *xpt_layout(f))
        Traceback (most recent call last):
        trialflow.limits.LimitExceeded: dm.xpt: the file ends in blanks: after what can be its \
last 12-byte record and the blanks that fill its 80-byte record come at least 81 bytes, more \
than the limit xpt_padding_bytes=80 (refused before reading; if the file is trusted, raise it \
with --limit xpt_padding_bytes=N)
    """
    allowed = width + _XPT_RECORD + current().xpt_padding_bytes
    size = path.stat().st_size
    if declared is not None and width > 0:
        expected = start + declared * width
        expected += -expected % _XPT_RECORD
        if size - expected > allowed:
            raise refuse(
                shown,
                f"the header declares {declared:,} records of {width} bytes, and after them "
                f"come {size - expected:,} bytes; that is padding of",
                "xpt_padding_bytes",
                size - expected,
            )
    look = min(size - start, allowed + 1)
    if look <= allowed:
        return
    with path.open("rb") as fh:
        fh.seek(size - look)
        end = fh.read(look)
    if not end.strip(b" "):
        raise refuse(
            shown,
            f"the file ends in blanks: after what can be its last {width}-byte record and "
            "the blanks that fill its 80-byte record come at least",
            "xpt_padding_bytes",
            look - width - _XPT_RECORD,
        )
