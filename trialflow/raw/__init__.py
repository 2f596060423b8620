"""The only reader of raw exports, in the shapes EDC systems deliver them.

* an Excel workbook, one sheet per CRF form;
* a folder of CSV files, one per form (the sheet is the file name without ``.csv``);
* one flat CSV file holding every form (the sheet is the file name without ``.csv``; a spec
  picks its form's rows with ``source.where`` on the form column);
* a folder of SAS datasets, ``.sas7bdat`` or ``.xpt``, one per form (:mod:`trialflow.raw.sas`);
* a CDISC ODM 1.3 XML file of clinical data, one sheet per form (:mod:`trialflow.raw.odm`).

Every cell becomes text, exactly as a person reading the export would see it, and every row
keeps where it came from: the file, the sheet and the row's number in that file (Excel row
numbers for a workbook, so the header is row 1; the line for a CSV file; the record number for
a SAS dataset; the line of the ItemGroupData element for ODM). Nothing is dropped except rows
that are blank in every cell.

How cells become text:

* text cells: leading and trailing spaces (and other blank characters that are not control
  characters) removed; a tab, line break or other control character is kept, for the mapping
  to report (``raw-control-character``); an empty cell is missing (NA);
* number cells: shortest form that reads back the same (``9.3``, ``120``, ``0.05``);
* date cells: ISO 8601 (``2019-01-12``; ``2019-01-12T07:30`` when the cell has a time);
* time cells: ``HH:MM`` or ``HH:MM:SS``; booleans: ``TRUE`` / ``FALSE``.

Workbooks are read with python-calamine (a Rust reader, several times faster than openpyxl);
CSV files with Python's csv module, as UTF-8 (with or without BOM), UTF-16 or UTF-32 (by
BOM or by their NUL bytes) or, failing that, Windows-1252 when the bytes read plausibly as it
(:func:`decode_text`); quoting is read strictly, so a quote never closed is an error naming
its line, never rows merged.

Limits (:mod:`trialflow.limits`) are checked before a file is decompressed, decoded or
parsed: ``file_bytes`` for a CSV, SAS or XML file; for a workbook the parts, inflated size and
inflation ratio its zip directory shows, and the area each sheet declares and its cells span
(:mod:`trialflow.raw.guard`); ``sheet_cells`` for the rows times columns of one sheet,
``columns`` and ``line_bytes`` for a CSV file's header and lines.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trialflow import limits
from trialflow.errors import CONTROL, Finding, RawInputError, Source

__all__ = [
    "ROW",
    "RawExport",
    "RawSheet",
    "cell_text",
    "decode_text",
    "read_export",
    "shown_path",
]

ROW = "__ROW__"
"""Name of the column that holds each record's 1-based row number in its sheet."""

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
SAS_SUFFIXES = (".sas7bdat", ".xpt")
ODM_SUFFIXES = (".xml", ".odm")

MAX_FILE_BYTES = limits.DEFAULT.file_bytes
"""The default largest CSV, SAS dataset or ODM XML file read (bytes); the limit in force is
``trialflow.limits.current().file_bytes``."""

MAX_CELLS = limits.DEFAULT.sheet_cells
"""The default largest number of cells (rows times columns) of one sheet; the limit in force
is ``trialflow.limits.current().sheet_cells``."""


@dataclass
class RawSheet:
    """One CRF form of a raw export: its rows as text, each with its source row number.

    ``frame`` has one str column per raw column (NA where the cell is empty) and the column
    :data:`ROW` with the row number in the sheet.

    ``sheet_word`` and ``row_word`` say how the reader names a sheet and a row in messages
    (``sheet``/``row`` for a workbook, ``line`` for a flat CSV, ``record`` for a SAS dataset,
    ``form``/``record`` for ODM); ``sheet_word`` None leaves the sheet out (the file is the
    sheet). ``row_detail``, where the reader has one, adds the row's XML line and path (ODM).

    Example:
        >>> frame = pd.DataFrame({"SEX": ["F", pd.NA], ROW: [2, 3]})
        >>> sheet = RawSheet("export.xlsx", "DEMOG", frame, ["SEX"])
        >>> sheet.where("SEX", int(frame[ROW][1]))
        'export.xlsx, sheet DEMOG, row 3, column SEX'
    """

    file: str
    sheet: str
    frame: pd.DataFrame
    columns: list[str]
    sheet_word: str | None = "sheet"
    row_word: str = "row"
    row_detail: Callable[[int], str | None] | None = field(default=None, repr=False)
    findings: list[Finding] = field(default_factory=list, repr=False)
    """What the reader found while reading: cells it could only read as empty (a formula
    without a saved result, an Excel error value), each naming the cell."""

    def where(self, column: str | None = None, row: int | None = None) -> str:
        """Describe a place in this sheet for a message.

        Example:
            >>> s = RawSheet("export.xlsx", "DEMOG", pd.DataFrame(), [])
            >>> s.where("SEX", 4)
            'export.xlsx, sheet DEMOG, row 4, column SEX'
            >>> RawSheet("lab.xpt", "lab", pd.DataFrame(), [], None, "record").where("TEST", 7)
            'lab.xpt, record 7, column TEST'
        """
        text = self.file
        if self.sheet_word is not None:
            text += f", {self.sheet_word} {self.sheet}"
        if row is not None:
            text += f", {self.row_word} {row}"
            detail = self.row_detail(row) if self.row_detail is not None else None
            if detail:
                text += f" ({detail})"
        if column is not None:
            text += f", column {column}"
        return text


@dataclass
class RawExport:
    """A raw export: its sheets by name, read on demand (open one with :func:`read_export`).

    Example:
        >>> from trialflow.pipeline import example_paths
        >>> export = read_export(example_paths()[1])
        >>> export.name, export.sheet_names[:3]
        ('raw-export.xlsx', ['README', 'DEMOG', 'VITALS'])
    """

    path: Path
    sheet_names: list[str]
    _loaded: dict[str, RawSheet] = field(default_factory=dict, repr=False)
    _files: dict[str, Path] = field(default_factory=dict, repr=False)
    _parsing: dict[str, Future] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The export's file or folder name, as findings show it."""
        return shown_path(self.path.name)

    def sheet(self, name: str) -> RawSheet:
        """The sheet called ``name``; RawInputError naming the sheets there are if it is missing.

        Example:
            >>> from trialflow.pipeline import example_paths
            >>> export = read_export(example_paths()[1])
            >>> demog = export.sheet("DEMOG")
            >>> demog.frame["SEX"].head(2).tolist(), demog.frame[ROW].head(2).tolist()
            (['M', 'M'], [2, 3])
        """
        if name not in self._loaded:
            if name not in self.sheet_names:
                have = ", ".join(self.sheet_names) or "none"
                raise RawInputError(f"{self.name}: no sheet {name!r} (sheets: {have})")
            parsing = self._parsing.pop(name, None)
            if parsing is not None:
                self._loaded[name] = _sheet_from_parsed(self.path, name, *parsing.result())
            else:
                self._loaded[name] = _read_sheet(self.path, name, self._files.get(name))
        return self._loaded[name]

    def prefetch(self, names: Iterable[str]) -> None:
        """Start parsing these sheets of a workbook, in this order, on one background thread,
        while the caller maps the sheets before them; :meth:`sheet` then waits for its sheet.

        Two threads take the sheets in turn, so that a large sheet does not hold back the
        small ones before it. Only the limits check and calamine's parse run there (calamine
        releases the GIL while it parses, so this overlaps with the caller's work); the cells
        become text in the caller's thread as before, so what is read and every error raised
        is the same as without prefetching, raised when the sheet is asked for. Nothing to
        do for other kinds of export. :meth:`close` drops what has not been asked for.

        Example:
            >>> from trialflow.pipeline import example_paths
            >>> export = read_export(example_paths()[1])
            >>> export.prefetch(["INFUSION", "DEMOG"])
            >>> len(export.sheet("INFUSION").frame) > 0
            True
            >>> export.close()
        """
        if self.path.is_dir() or self.path.suffix.lower() not in WORKBOOK_SUFFIXES:
            return
        todo = [
            n for n in dict.fromkeys(names)
            if n in self.sheet_names and n not in self._loaded and n not in self._parsing
        ]  # fmt: skip
        if not todo:
            return
        reader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="trialflow-read")
        for name in todo:
            self._parsing[name] = reader.submit(_parse_sheet, self.path, name)
        reader.shutdown(wait=False)

    def close(self) -> None:
        """Drop the sheets :meth:`prefetch` started and no one asked for (the one being parsed
        finishes on its own; the others are never started).

        Example:
            >>> from trialflow.pipeline import example_paths
            >>> export = read_export(example_paths()[1])
            >>> export.prefetch(["LAB"])
            >>> export.close()  # LAB is not parsed unless asked for
        """
        for parsing in self._parsing.values():
            parsing.cancel()
        self._parsing.clear()


def read_export(path: str | Path | RawExport) -> RawExport:
    """Open a raw export: a workbook, a flat CSV, an ODM XML file, or a folder of CSV or SAS files.

    The sheets of a workbook or a folder are read when first asked for; an ODM file is read
    whole at once. A file that is not what its name says, a missing path, a folder without
    data files or a file over the limits raises RawInputError with one line naming the file.

    Example:
        >>> from trialflow.pipeline import example_paths
        >>> export = read_export(example_paths()[1])
        >>> export.sheet_names
        ['README', 'DEMOG', 'VITALS', 'LAB', 'INFUSION', 'AE', 'DISPOSITION', 'CONMED']
    """
    if isinstance(path, RawExport):  # already open (and perhaps being read ahead)
        return path
    path = Path(path)
    if not path.exists():
        raise RawInputError(f"{shown_path(path)}: no such file or folder")
    if path.is_dir():
        return _open_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return RawExport(path, [path.stem])
    if suffix in SAS_SUFFIXES:
        return RawExport(path, [path.stem], _files={path.stem: path})
    if suffix in ODM_SUFFIXES:
        from trialflow.raw.odm import read_odm

        sheets = read_odm(path)
        return RawExport(path, list(sheets), _loaded=dict(sheets))
    if suffix not in WORKBOOK_SUFFIXES:
        raise RawInputError(
            f"{shown_path(path)}: not a raw export (expected .xlsx, .xls, .ods, .csv, .sas7bdat, "
            ".xpt, .xml (CDISC ODM) or a folder of .csv, .sas7bdat or .xpt files)"
        )
    if suffix in (".xlsx", ".xlsm", ".xlsb"):
        _check_ooxml(path, suffix)
    if zipfile.is_zipfile(path):
        from trialflow.raw.guard import check_zip

        check_zip(path, shown_path(path))
    else:
        check_size(path, shown_path(path))
    workbook = _open_workbook(path)
    return RawExport(path, list(workbook.sheet_names))


OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""The first bytes of an OLE2 compound file: an Excel 97-2003 .xls, or an encrypted .xlsx."""


def _check_ooxml(path: Path, suffix: str) -> None:
    """Refuse a file named .xlsx/.xlsm/.xlsb that is not an Office Open XML zip, saying what it
    is where that is cheap to tell: an encrypted workbook or an .xls (OLE2 compound files, told
    apart by their EncryptedPackage or Workbook stream), an OpenDocument spreadsheet."""
    shown = shown_path(path)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as book:
                names = set(book.namelist())
                mimetype = book.read("mimetype")[:100] if "mimetype" in names else b""
        except (OSError, zipfile.BadZipFile) as exc:
            raise RawInputError(f"{shown}: not a readable {suffix} workbook ({exc})") from exc
        if "[Content_Types].xml" not in names and b"opendocument" in mimetype:
            raise RawInputError(
                f"{shown}: is an OpenDocument spreadsheet (.ods) renamed {suffix}; save it as "
                ".xlsx, or name it .ods"
            )
        return
    with path.open("rb") as handle:
        head = handle.read(8)
    if head != OLE2_MAGIC:
        raise RawInputError(f"{shown}: not a readable {suffix} workbook (the file is not a zip)")
    check_size(path, shown)
    data = path.read_bytes()
    # an encrypted Office Open XML workbook holds both streams; either names it
    if any(name.encode("utf-16-le") in data for name in ("EncryptedPackage", "EncryptionInfo")):
        raise RawInputError(f"{shown}: is an encrypted workbook; save it without a password")
    if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
        raise RawInputError(
            f"{shown}: is an Excel 97-2003 .xls file renamed {suffix}; save it as .xlsx"
        )
    raise RawInputError(
        f"{shown}: is an OLE2 compound file (an older Office format), not a {suffix} workbook; "
        "save it as .xlsx"
    )


def _open_folder(path: Path) -> RawExport:
    """A folder of CSV files or SAS datasets: one sheet per file, named by the file's stem."""
    files = sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".csv", *SAS_SUFFIXES)
    )
    if not files:
        raise RawInputError(f"{shown_path(path)}: folder holds no .csv, .sas7bdat or .xpt files")
    by_name: dict[str, Path] = {}
    for file in files:
        stem = shown_path(file.stem)
        if stem in by_name:
            raise RawInputError(
                f"{shown_path(path)}: {shown_path(by_name[stem].name)} and "
                f"{shown_path(file.name)} would both be sheet {stem!r}; keep one of them"
            )
        by_name[stem] = file
    return RawExport(path, list(by_name), _files=by_name)


def shown_path(path: str | Path) -> str:
    """A path as text safe to print and to write: bytes of a file name that are not UTF-8
    (a name made on a Latin-1 system) shown as ``\\xe9`` escapes instead of failing.

    Example:
        >>> shown_path(Path(b"caf\\xe9.csv".decode("utf-8", "surrogateescape")))
        'caf\\\\xe9.csv'
    """
    return os.fsencode(str(path)).decode("utf-8", errors="backslashreplace")


def check_size(path: Path, shown: str, limit: int | None = None) -> None:
    """Refuse a file larger than ``limit`` bytes (default: the ``file_bytes`` limit in force)
    before reading it."""
    size = path.stat().st_size
    if limit is not None:
        if size > limit:
            raise RawInputError(
                f"{shown}: the file is {size:,} bytes, more than the {limit:,} bytes trialflow "
                "reads"
            )
        return
    if size > limits.current().file_bytes:
        raise limits.refuse(shown, "the file is", "file_bytes", size)


def check_cells(rows: int, columns: int, shown: str) -> None:
    """Refuse a sheet of more than ``sheet_cells`` cells (the limit in force) before
    allocating it."""
    if rows * columns > limits.current().sheet_cells:
        raise limits.refuse(
            shown, f"{rows:,} rows x {columns:,} columns is", "sheet_cells", rows * columns
        )


def _open_workbook(path: Path):
    from python_calamine import CalamineWorkbook

    try:
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:  # a file name calamine cannot open by name
            with path.open("rb") as handle:
                return CalamineWorkbook.from_filelike(handle)
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types per format
        raise RawInputError(f"{shown_path(path)}: not a readable workbook ({exc})") from exc


def _read_sheet(path: Path, name: str, file: Path | None = None) -> RawSheet:
    if file is not None and file.suffix.lower() in SAS_SUFFIXES:
        from trialflow.raw.sas import read_sas

        shown = shown_path(f"{path.name}/{file.name}" if path.is_dir() else file.name)
        return read_sas(file, shown, name)
    if path.is_dir():
        target = file if file is not None else path / f"{name}.csv"
        return _read_csv(target, shown_path(f"{path.name}/{target.name}"), name)
    if path.suffix.lower() == ".csv":
        return _read_csv(path, shown_path(path.name), name, flat=True)
    return _sheet_from_parsed(path, name, *_parse_sheet(path, name))


def _parse_sheet(path: Path, name: str) -> tuple[bool, object]:
    """Check a workbook sheet against the limits, then parse it (calamine's sheet object):
    the part :meth:`RawExport.prefetch` runs on its thread. Also returns whether the sheet may
    hold formula or error cells."""
    formulas = False
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from trialflow.raw.guard import check_sheet

        formulas = check_sheet(path, shown_path(path.name), name)
    workbook = _open_workbook(path)
    try:
        return formulas, workbook.get_sheet_by_name(name)
    except Exception as exc:
        raise RawInputError(
            f"{shown_path(path.name)}, sheet {name}: cannot be read ({exc})"
        ) from exc


def _sheet_from_parsed(path: Path, name: str, formulas: bool, parsed) -> RawSheet:
    """The RawSheet of a parsed workbook sheet (:func:`_parse_sheet`)."""
    try:
        rows = parsed.to_python(skip_empty_area=False)
    except Exception as exc:
        raise RawInputError(
            f"{shown_path(path.name)}, sheet {name}: cannot be read ({exc})"
        ) from exc
    del parsed
    sheet = _sheet_from_rows(rows, shown_path(path.name), name)
    if formulas:  # the sheet holds a formula or an error value somewhere
        sheet.findings.extend(_lost_cell_findings(path, sheet, rows))
    return sheet


def _lost_cell_findings(path: Path, sheet: RawSheet, rows: list[list[object]]) -> list[Finding]:
    """A finding per cell the workbook holds no value for that a person could read: a formula
    without a saved result (nothing is evaluated) or an Excel error value."""
    from trialflow.raw.cells import lost_cells

    cells = lost_cells(str(path), sheet.sheet, MAX_FILE_BYTES)
    if not cells:
        return []
    start = next((i for i, r in enumerate(rows) if any(_filled(c) for c in r)), 0)
    names = {j: n for j, n in enumerate(sheet.columns)}
    findings = []
    for cell in cells:
        column = names.get(cell.column, _letters(cell.column)) if cell.row > start + 1 else None
        where = f"cell {cell.cell}"
        if cell.kind == "formula":
            code = "raw-formula-no-value"
            value = cell.formula
            text = (
                f"{where} holds the formula {cell.formula} with no saved result (the workbook "
                "was written by a program that does not calculate); read as empty, nothing is "
                "evaluated: open and save the file in Excel, or enter the value"
            )
        else:
            code = "raw-error-cell"
            value = cell.error
            made = f" (from the formula {cell.formula})" if cell.formula else ""
            text = (
                f"{where} holds the Excel error {cell.error}{made}; read as empty: correct "
                "the cell in the export"
            )
        findings.append(
            Finding(
                code,
                "error",
                text,
                value=value,
                source=Source(sheet.file, sheet.sheet, cell.row, column or _letters(cell.column)),
            )
        )
    return findings


def _sheet_from_rows(
    rows: list[list[object]],
    file: str,
    sheet: str,
    numbers: list[int] | None = None,
    flat: bool = False,
) -> RawSheet:
    """Turn rows (from A1, or a CSV's records) into a RawSheet; the first non-empty is the header.

    ``numbers`` holds each row's number in the file (a CSV record's first line) where it is
    not its 1-based position; ``flat`` names rows as lines of a file that is the sheet.
    """
    numbers = numbers if numbers is not None else list(range(1, len(rows) + 1))
    where = f"{file}" if flat else f"{file}, sheet {sheet}"
    word = "line" if flat else "row"
    start = next((i for i, r in enumerate(rows) if any(_filled(c) for c in r)), None)
    if start is None:
        raise RawInputError(f"{where}: the sheet is empty (no header row)")
    header = [_cell_text(c) for c in rows[start]]
    names = _column_names(header, where, numbers[start], word)
    body = rows[start + 1 :]
    width = len(names)
    # Cells are converted column by column; reading is per cell by nature (calamine hands
    # back Python objects), everything after this point is vectorised.
    columns: dict[str, list[str | None]] = {}
    for j, col in enumerate(names):
        columns[col] = [_cell_text(r[j]) if j < len(r) else None for r in body]
    extra = [(i, j) for i, r in enumerate(body) for j in range(width, len(r)) if _filled(r[j])]
    if extra:
        i, j = extra[0]
        raise RawInputError(
            f"{where}, {word} {numbers[start + 1 + i]}: value in column {_letters(j)} has no header"
        )
    frame = pd.DataFrame(columns, dtype="str")
    frame[ROW] = pd.array(numbers[start + 1 :], dtype="int64")
    blank = frame[names].isna().all(axis=1) if names else pd.Series(True, index=frame.index)
    frame = frame.loc[~blank].reset_index(drop=True)
    if flat:
        return RawSheet(file, sheet, frame, names, sheet_word=None, row_word="line")
    return RawSheet(file, sheet, frame, names)


def _column_names(header: list[str | None], where: str, row: int, word: str) -> list[str]:
    while header and header[-1] is None:
        header = header[:-1]
    names: list[str] = []
    for j, h in enumerate(header):
        if h is None:
            raise RawInputError(f"{where}, {word} {row}: column {_letters(j)} has no header")
        if h in names:
            raise RawInputError(f"{where}, {word} {row}: column header {h!r} appears twice")
        names.append(h)
    return names


def _read_csv(path: Path, file: str, sheet: str, flat: bool = False) -> RawSheet:
    if not path.exists():
        raise RawInputError(f"{file}: no such file for sheet {sheet!r}")
    from trialflow.raw.guard import check_text_table

    check_text_table(path, file)
    text = decode_text(path.read_bytes(), file)
    import csv
    import io

    # Each record is numbered by the line it starts on, so that a quoted value spanning
    # lines does not shift the numbers of the records after it. Quoting is read strictly:
    # a quote never closed, or text after a closing quote, is an error naming the line,
    # never two rows silently merged into one.
    reader = csv.reader(io.StringIO(text), strict=True)
    rows: list[list[str]] = []
    numbers: list[int] = []
    spanning: list[int] = []  # the records whose quoted values run over lines
    start = 1
    try:
        for record in reader:
            lines = _record_lines(record)
            if lines > 1:
                spanning.append(len(rows))
            numbers.append(reader.line_num - lines + 1)
            rows.append(record)
            start = reader.line_num + 1
    except csv.Error as exc:
        if "end of data" in str(exc):
            raise RawInputError(
                f"{file}, line {start}: a quoted value opened on this line is never closed "
                f"(it runs to the end of the file, line {reader.line_num}); close the quote"
            ) from exc
        raise RawInputError(
            f"{file}, line {reader.line_num}: not readable CSV ({exc}); a quote inside a "
            'value must be doubled ("")'
        ) from exc
    if spanning:
        _check_spans(rows, numbers, spanning, file)
    return _sheet_from_rows(rows, file, sheet, numbers, flat=flat)


def _check_spans(rows: list[list[str]], numbers: list[int], spanning: list[int], file: str) -> None:
    """Refuse a record whose quoted value spans lines when that merged rows: the record then
    has another number of values than the header, or a line inside the value has as many
    commas as a whole row (a quote opened on one line and closed by a stray quote later)."""
    header = next((r for r in rows if any(_filled(c) for c in r)), None)
    if header is None:
        return
    width = len(header)
    for i in spanning:
        record, line = rows[i], numbers[i]
        if record is header:
            continue
        last = line + _record_lines(record) - 1
        if len(record) != width:
            raise RawInputError(
                f"{file}, line {line}: a quoted value runs on to line {last}, and the record "
                f"so read has {len(record)} values, not the header's {width}: an unterminated "
                "quote merged rows; close the quote"
            )
        for value in record:
            inner = str(value).split("\n")[1:]
            if width >= 3 and any(part.count(",") >= width - 1 for part in inner):
                raise RawInputError(
                    f"{file}, line {line}: a quoted value runs on to line {last} and holds a "
                    "line with as many commas as a whole row: an unterminated quote merged "
                    "rows; close the quote"
                )


def _record_lines(record: list[str]) -> int:
    """How many lines a CSV record spans (its quoted values may hold line breaks)."""
    return 1 + sum(value.count("\n") for value in record)


_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32"),
    (b"\xff\xfe", "utf-16-le", "UTF-16"),
    (b"\xfe\xff", "utf-16-be", "UTF-16"),
)
_TRIED = (
    "trialflow reads CSV text as UTF-8 (with or without BOM), UTF-16 or UTF-32, or "
    "Windows-1252; save the file as UTF-8 (CSV UTF-8 in Excel)"
)


def decode_text(data: bytes, file: str) -> str:
    """A CSV file's bytes as text: UTF-8 (BOM or none), UTF-16/UTF-32 (by BOM, or by the NUL
    bytes of mostly-ASCII text), else Windows-1252 when the bytes read plausibly as it.

    Bytes that are none of these (GBK, Big5 or Shift-JIS text, which Windows-1252 would turn
    into mojibake: their characters are runs of two or more high bytes, where Windows-1252
    text has an accented letter between ASCII ones) raise RawInputError with one line naming
    the file and the encodings tried.

    Example:
        >>> decode_text("SUBJ,SEX".encode("utf-16"), "dm.csv")
        'SUBJ,SEX'
        >>> decode_text("caf\u00e9".encode("cp1252"), "x.csv")
        'café'
        >>> try:
        ...     decode_text("头痛发热".encode("gbk"), "ae.csv")
        ... except RawInputError as exc:
        ...     print(str(exc)[:60])
        ae.csv: not UTF-8 text, and not Windows-1252 either (on line
    """
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            return _decode_as(data[len(bom) :], codec, name, file)
    wide = _nul_pattern(data[:4096])
    if wide is not None:
        return _decode_as(data, wide, wide[:6].upper(), file)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8 = exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        first = data[: utf8.start].count(b"\n") + 1
        raise RawInputError(
            f"{file}: not UTF-8 text, and not Windows-1252 either (the first byte that is not "
            f"UTF-8 is on line {first}; byte 0x{data[exc.start]:02X} on line {line} is no "
            f"Windows-1252 character); {_TRIED}"
        ) from None
    line = _high_runs(data)
    if line is not None:
        raise RawInputError(
            f"{file}: not UTF-8 text, and not Windows-1252 either (on line {line} non-ASCII "
            "bytes stand in runs, as in GBK, Big5 or Shift-JIS text, not one accented letter "
            f"at a time); {_TRIED}"
        )
    return text


def _decode_as(data: bytes, codec: str, name: str, file: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise RawInputError(
            f"{file}: looks like {name} text ({codec}) but byte {exc.start} does not decode; "
            f"{_TRIED}"
        ) from None


def _nul_pattern(sample: bytes) -> str | None:
    """The UTF-16/UTF-32 byte order of BOM-less text whose NUL bytes show it (ASCII in UTF-16
    is every other byte NUL), or None. A stray NUL in UTF-8 text does not count."""
    if len(sample) < 4 or sample.count(0) < len(sample) // 3:
        return None
    n = len(sample) - len(sample) % 4
    quads = [sample[i : i + 4] for i in range(0, n, 4)]
    if sum(q[0] != 0 and q[1:] == b"\0\0\0" for q in quads) > len(quads) // 2:
        return "utf-32-le"
    if sum(q[:3] == b"\0\0\0" and q[3] != 0 for q in quads) > len(quads) // 2:
        return "utf-32-be"
    odd = sample[1::2].count(0)
    even = sample[0::2].count(0)
    half = len(sample) // 2
    if odd > half * 0.6 and even < half * 0.1:
        return "utf-16-le"
    if even > half * 0.6 and odd < half * 0.1:
        return "utf-16-be"
    return None


def _high_runs(data: bytes) -> int | None:
    """Where non-UTF-8 bytes read implausibly as Windows-1252, the first line showing it (else
    None). Western European text in Windows-1252 has its accented letters one at a time
    between ASCII ones (``Céphalée``), with now and then two together (``Größe``); a double-byte
    encoding (GBK, Big5, Shift-JIS) has two bytes per character, so runs of two, four, six
    non-ASCII bytes. Implausible: more than half of the non-ASCII bytes stand in runs of
    three or more, or in runs of two or more when there are at least three such runs."""
    import re

    total = len(data.translate(None, bytes(range(128))))
    if not total:
        return None
    long = [m for m in re.finditer(rb"[\x80-\xff]{3,}", data)]
    pairs = [m for m in re.finditer(rb"[\x80-\xff]{2,}", data)]
    in_long = sum(m.end() - m.start() for m in long)
    in_pairs = sum(m.end() - m.start() for m in pairs)
    if in_long * 2 > total:
        first = long[0]
    elif len(pairs) >= 3 and in_pairs * 2 > total:
        first = pairs[0]
    else:
        return None
    return data[: first.start()].count(b"\n") + 1


def _filled(value: object) -> bool:
    return _cell_text(value) is not None


_BLANKS = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and not CONTROL.match(c))
"""What :func:`cell_text` strips from the ends of text: the blank characters that are not
control characters (space, no-break space, the Unicode spaces)."""


def cell_text(value: object) -> str | None:
    """One cell as text (None when empty); see the module docstring for the rules.

    Example:
        >>> cell_text(9.30), cell_text(120.0), cell_text(dt.date(2019, 1, 12))
        ('9.3', '120', '2019-01-12')
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip(_BLANKS)
        return text or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.timedelta):
        total = int(value.total_seconds())
        return f"{total // 3600:02d}:{total % 3600 // 60:02d}"
    text = str(value).strip(_BLANKS)
    return text or None


def _letters(index: int) -> str:
    """Excel column letters for a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


_cell_text = cell_text
