"""The only reader of raw exports: Excel workbooks (one sheet per CRF form) or folders of CSV.

Every cell becomes text, exactly as a person reading the export would see it, and every row
keeps where it came from: the file, the sheet and the 1-based row number (Excel numbering, so
the header is row 1). Nothing is dropped except rows that are blank in every cell.

How cells become text:

* text cells: leading and trailing spaces removed; an empty cell is missing (NA);
* number cells: shortest form that reads back the same (``9.3``, ``120``, ``0.05``);
* date cells: ISO 8601 (``2019-01-12``; ``2019-01-12T07:30`` when the cell has a time);
* time cells: ``HH:MM`` or ``HH:MM:SS``; booleans: ``TRUE`` / ``FALSE``.

Workbooks are read with python-calamine (a Rust reader, several times faster than openpyxl);
CSV files with pandas, as UTF-8 (with or without BOM) or, failing that, Windows-1252.
"""

from __future__ import annotations

import datetime as dt
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trialflow.errors import RawInputError

ROW = "__ROW__"
"""Name of the column that holds each record's 1-based row number in its sheet."""

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")


@dataclass
class RawSheet:
    """One CRF form of a raw export: its rows as text, each with its source row number.

    ``frame`` has one str column per raw column (NA where the cell is empty) and the column
    :data:`ROW` with the row number in the sheet.
    """

    file: str
    sheet: str
    frame: pd.DataFrame
    columns: list[str]

    def where(self, column: str | None = None, row: int | None = None) -> str:
        """Describe a place in this sheet for a message.

        Example:
            >>> s = RawSheet("export.xlsx", "DEMOG", pd.DataFrame(), [])
            >>> s.where("SEX", 4)
            'export.xlsx, sheet DEMOG, row 4, column SEX'
        """
        text = f"{self.file}, sheet {self.sheet}"
        if row is not None:
            text += f", row {row}"
        if column is not None:
            text += f", column {column}"
        return text


@dataclass
class RawExport:
    """A raw export: its sheets by name, read on demand."""

    path: Path
    sheet_names: list[str]
    _loaded: dict[str, RawSheet] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The export's file or folder name, as findings show it."""
        return self.path.name

    def sheet(self, name: str) -> RawSheet:
        """The sheet called ``name``; RawInputError naming the sheets there are if it is missing.

        Example:
            >>> export = read_export("examples/hucmsc-t2dm/raw-export.xlsx")  # doctest: +SKIP
            >>> export.sheet("DEMOG").frame["SEX"].head(2).tolist()  # doctest: +SKIP
            ['M', 'Female']
        """
        if name not in self._loaded:
            if name not in self.sheet_names:
                have = ", ".join(self.sheet_names) or "none"
                raise RawInputError(f"{self.name}: no sheet {name!r} (sheets: {have})")
            self._loaded[name] = _read_sheet(self.path, name)
        return self._loaded[name]


def read_export(path: str | Path) -> RawExport:
    """Open a raw export: an Excel workbook, or a folder of CSV files (one per form).

    The sheets are read when first asked for. A file that is not really a workbook, a missing
    path or an empty folder raises RawInputError with one line naming the file.

    Example:
        >>> export = read_export("examples/hucmsc-t2dm/raw-export.xlsx")  # doctest: +SKIP
        >>> export.sheet_names  # doctest: +SKIP
        ['README', 'DEMOG', 'VITALS', 'LAB', 'INFUSION', 'AE']
    """
    path = Path(path)
    if not path.exists():
        raise RawInputError(f"{path}: no such file or folder")
    if path.is_dir():
        csvs = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv")
        if not csvs:
            raise RawInputError(f"{path}: folder holds no .csv files")
        return RawExport(path, [p.stem for p in csvs])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return RawExport(path, [path.stem])
    if suffix not in WORKBOOK_SUFFIXES:
        raise RawInputError(
            f"{path}: not a raw export (expected .xlsx, .xls, .ods, .csv or a folder of .csv)"
        )
    if suffix in (".xlsx", ".xlsm", ".xlsb") and not zipfile.is_zipfile(path):
        raise RawInputError(f"{path}: not a readable {suffix} workbook (the file is not a zip)")
    workbook = _open_workbook(path)
    return RawExport(path, list(workbook.sheet_names))


def _open_workbook(path: Path):
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types per format
        raise RawInputError(f"{path}: not a readable workbook ({exc})") from exc


def _read_sheet(path: Path, name: str) -> RawSheet:
    if path.is_dir():
        return _read_csv(path / f"{name}.csv", f"{path.name}/{name}.csv", name)
    if path.suffix.lower() == ".csv":
        return _read_csv(path, path.name, name)
    workbook = _open_workbook(path)
    try:
        rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception as exc:
        raise RawInputError(f"{path.name}, sheet {name}: cannot be read ({exc})") from exc
    return _sheet_from_rows(rows, path.name, name)


def _sheet_from_rows(rows: list[list[object]], file: str, sheet: str) -> RawSheet:
    """Turn calamine's rows (from A1) into a RawSheet; the first non-empty row is the header."""
    start = next((i for i, r in enumerate(rows) if any(_filled(c) for c in r)), None)
    if start is None:
        raise RawInputError(f"{file}, sheet {sheet}: the sheet is empty (no header row)")
    header = [_cell_text(c) for c in rows[start]]
    names = _column_names(header, file, sheet, start + 1)
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
            f"{file}, sheet {sheet}, row {start + 2 + i}: value in column {_letters(j)} "
            "has no header"
        )
    frame = pd.DataFrame(columns, dtype="str")
    frame[ROW] = pd.array(range(start + 2, start + 2 + len(body)), dtype="int64")
    blank = frame[names].isna().all(axis=1) if names else pd.Series(True, index=frame.index)
    frame = frame.loc[~blank].reset_index(drop=True)
    return RawSheet(file, sheet, frame, names)


def _column_names(header: list[str | None], file: str, sheet: str, row: int) -> list[str]:
    while header and header[-1] is None:
        header = header[:-1]
    names: list[str] = []
    for j, h in enumerate(header):
        if h is None:
            raise RawInputError(
                f"{file}, sheet {sheet}, row {row}: column {_letters(j)} has no header"
            )
        if h in names:
            raise RawInputError(
                f"{file}, sheet {sheet}, row {row}: column header {h!r} appears twice"
            )
        names.append(h)
    return names


def _read_csv(path: Path, file: str, sheet: str) -> RawSheet:
    if not path.exists():
        raise RawInputError(f"{file}: no such file for sheet {sheet!r}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="strict") if _is_cp1252(data) else None
        if text is None:
            raise RawInputError(f"{path.name}: not UTF-8 or Windows-1252 text") from None
    import csv
    import io

    try:
        rows: list[list[object]] = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise RawInputError(f"{path.name}: not a readable CSV file ({exc})") from exc
    return _sheet_from_rows(rows, file, sheet)


def _is_cp1252(data: bytes) -> bool:
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def _filled(value: object) -> bool:
    return _cell_text(value) is not None


def _cell_text(value: object) -> str | None:
    """One cell as text (None when empty); see the module docstring for the rules."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
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
    text = str(value).strip()
    return text or None


def _letters(index: int) -> str:
    """Excel column letters for a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
