"""Cells of an .xlsx sheet that a reader shows as empty although they are not.

python-calamine reads a cell's saved value. Two kinds of cell have none a person would call
data, and calamine gives them as empty text:

* a formula without a saved result: workbooks written by scripts (openpyxl, pandas) store the
  formula only, and nothing calculates it until Excel opens and saves the file;
* an Excel error value (``#N/A``, ``#DIV/0!``, ``#VALUE!``, ``#REF!``, ``#NAME?``, ``#NUM!``,
  ``#NULL!``, ...).

:func:`lost_cells` finds both in the sheet's XML, so that the reader can name each one in a
finding instead of losing the value without a word. Nothing is evaluated.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from xml.etree import ElementTree

__all__ = ["LostCell", "lost_cells"]

_NS = rb"(?:[A-Za-z_][\w.-]*:)?"


def _element(name: bytes, attrs: bytes) -> re.Pattern[bytes]:
    """An XML element ``name`` (any namespace prefix): empty, or with its content."""
    return re.compile(
        rb"<" + _NS + name + rb"\b" + attrs + rb"(?:/>|>(.*?)</" + _NS + name + rb">)", re.DOTALL
    )


_CELL = _element(b"c", rb"([^>]*?)")
_FORMULA = _element(b"f", rb"([^>]*?)")
_VALUE = _element(b"v", rb"[^>]*?")
_ATTR = re.compile(rb'\b(r|t)\s*=\s*"([^"]*)"')
_REF = re.compile(r"([A-Z]+)(\d+)")
_PREFILTER = re.compile(
    rb'\bt\s*=\s*"e"|<' + _NS + rb"f\b[^>]*(?:/>|>[^<]*</" + _NS + rb"f>)\s*"
    rb"(?:<" + _NS + rb"v\s*/>|<" + _NS + rb"v>\s*</" + _NS + rb"v>)?\s*</" + _NS + rb"c>"
)
"""An error cell, or a formula with no value after it: only then are the cells walked (a sheet
Excel saved holds a value after every formula)."""


def _may_hold_lost_cells(data: bytes) -> bool:
    """Whether ``_PREFILTER`` can match at all: an error cell's ``t="e"`` holds ``"e"``, and a
    formula element starts ``<f`` or ``<prefix:f``. Finding these bytes is a plain substring
    search; ``_PREFILTER``'s alternation tries every position of the sheet (15 s for the LAB
    sheet of a 10,000-subject export, 186 MB of XML, that holds neither).

    Example:
        >>> _may_hold_lost_cells(b'<c r="A1" t="n"><v>1</v></c>')
        False
        >>> _may_hold_lost_cells(b'<c r="A1" t="e"><v>#N/A</v></c>')
        True
        >>> _may_hold_lost_cells(b'<x:c r="A1"><x:f>1+1</x:f></x:c>')
        True
    """
    return b'"e"' in data or b"<f" in data or b":f" in data


_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}


@dataclass(frozen=True)
class LostCell:
    """A cell read as empty: its 1-based row, 0-based column, kind and the text to show.

    ``kind`` is ``"formula"`` (a formula with no saved result; ``formula`` holds it) or
    ``"error"`` (``error`` holds the Excel error value; ``formula`` the formula if any).

    Example:
        >>> cell = LostCell(4, 2, "formula", formula="=B4*2")
        >>> cell.row, cell.kind, cell.formula
        (4, 'formula', '=B4*2')
    """

    row: int
    column: int
    kind: str
    formula: str | None = None
    error: str | None = None

    @property
    def cell(self) -> str:
        """The cell's Excel reference (``B3``)."""
        return f"{letters(self.column)}{self.row}"


def letters(index: int) -> str:
    """Excel column letters for a 0-based column index.

    Example:
        >>> letters(0), letters(27)
        ('A', 'AB')
    """
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _column_index(text: str) -> int:
    n = 0
    for ch in text:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _unescape(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return re.sub(r"&(?:lt|gt|quot|apos|amp);", lambda m: _ENTITIES[m.group(0)], text)


def sheet_member(book: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member of the worksheet called ``sheet`` (None when the workbook has none)."""
    try:
        root = ElementTree.fromstring(book.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    rel_id = None
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "sheet" and el.get("name") == sheet:
            rel_id = next((v for k, v in el.attrib.items() if k.rsplit("}", 1)[-1] == "id"), None)
            break
    if rel_id is None:
        return None
    for el in rels.iter():
        if el.tag.rsplit("}", 1)[-1] == "Relationship" and el.get("Id") == rel_id:
            target = el.get("Target", "")
            if target.startswith("/"):
                return target.lstrip("/")
            parts: list[str] = []
            for part in PurePosixPath("xl", target).parts:
                if part == "..":
                    if parts:
                        parts.pop()
                elif part != ".":
                    parts.append(part)
            return "/".join(parts)
    return None


def lost_cells(path: str, sheet: str, limit: int) -> list[LostCell]:
    """The formula cells without a saved result and the error cells of an .xlsx/.xlsm sheet.

    ``limit`` is the largest uncompressed sheet XML read (bytes); a larger sheet, or a file
    that is not an OOXML zip, gives no cells (the workbook reader reports such files).

    Example:
        >>> import tempfile, openpyxl
        >>> book = openpyxl.Workbook(); ws = book.active; ws.title = "VS"
        >>> ws.append(["SUBJ", "WEIGHT"]); ws.append(["01", "=1+1"]); ws.append(["02", "#N/A"])
        >>> f = tempfile.mktemp(suffix=".xlsx"); book.save(f)
        >>> [(c.cell, c.kind, c.formula, c.error) for c in lost_cells(f, "VS", 10**9)]
        [('B2', 'formula', '=1+1', None), ('B3', 'error', None, '#N/A')]
    """
    try:
        with zipfile.ZipFile(path) as book:
            member = sheet_member(book, sheet)
            if member is None:
                return []
            info = book.getinfo(member)
            if info.file_size > limit:
                return []
            data = book.read(member)
    except (OSError, KeyError, zipfile.BadZipFile):
        return []
    if not _may_hold_lost_cells(data) or not _PREFILTER.search(data):
        return []
    found: list[LostCell] = []
    for match in _CELL.finditer(data):
        attrs = dict(_ATTR.findall(match.group(1)))
        body = match.group(2) or b""
        kind = attrs.get(b"t", b"n")
        formula = _FORMULA.search(body)
        if kind != b"e" and formula is None:
            continue
        ref = _REF.fullmatch(attrs.get(b"r", b"").decode("ascii", errors="replace"))
        if ref is None:
            continue
        row, column = int(ref.group(2)), _column_index(ref.group(1))
        value = _VALUE.search(body)
        saved = value.group(1) if value is not None and value.group(1) is not None else b""
        text = None
        if formula is not None:
            inner = formula.group(2)
            text = "=" + _unescape(inner) if inner else "(a shared formula)"
        if kind == b"e":
            found.append(LostCell(row, column, "error", text, _unescape(saved).strip() or None))
        elif not saved.strip() and kind not in (b"str", b"s", b"inlineStr"):
            found.append(LostCell(row, column, "formula", text))
    return found
