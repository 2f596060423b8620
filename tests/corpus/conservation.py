"""Row and value conservation of a mapping run, counted from the raw export and the run folder.

The house rule under test: every raw value is either in an SDTM record or named by a finding.
The raw export is read here independently of trialflow (openpyxl and the csv module), and each
cell is looked up in the run's lineage (``lineage/<domain>.csv``: one row per SDTM record with
the raw file, sheet and row it came from, and per variable the raw column(s) it was taken from)
and in ``validation/report.json`` (findings with ``source: {file, sheet, row, column}``) and
``lineage/excluded.csv`` (rows ``source.where`` leaves out, each with its reason).

Definitions:

- A *sheet* is a worksheet of an .xlsx workbook (hidden ones included) or a .csv file of a
  folder (its name without the extension). Sheets named in ``ignore`` (the export's README) are
  not data.
- Row 1 of a sheet is its header; the *data rows* are rows 2.. that hold at least one non-empty
  cell; rows are numbered as the sheet numbers them (CSV: the record number + 1, so a quoted
  line break does not shift it).
- A raw *value* is a non-empty cell of a data row: after stripping white space it is not "".
  A formula cell counts with its cached value, or its formula text when it has none (a formula
  without a cached value is a raw value that must not vanish); an error cell (#N/A) counts.
  Header cells are not values (a renamed or extra column is seen through its values).
- A value is *in an SDTM record* when a lineage row names its sheet and row, one of that row's
  variables names its column (the lineage text holds the column name as a word, e.g.
  ``VIS_DATE``, ``INF_DATE + INF_TIME``, ``spec: STUDYID + SUBJ``), and that variable of the
  record is not empty in the dataset written (``sdtm/<domain>.xpt``): a record whose result is
  empty does not carry the value its lineage names.
- A value is *named by a finding* when a finding's source names its sheet (or file) and
  - its row and its column: that cell;
  - its row and no column: every cell of that row (a row left out, a duplicate row);
  - its column and no row: every cell of that column (an unmapped or unknown column);
  - neither row nor column: every cell of that sheet (an unused or unreadable sheet).
  A row listed in ``lineage/excluded.csv`` is named with all its cells.
- A value of a column the spec *consumes* without writing it (``consumed``: its
  ``source.record_key``, ``source.where`` and ``coding.compare`` columns, see
  :func:`consumed_columns`) and that no lineage text names is carried when its row is in an
  SDTM record: it decided the row's identity or selection and the record's lineage is its
  trace. A consumed column that a variable also takes (VIS_DATE -> VSDTC) is checked as any
  other.
- A *row* is conserved when at least one lineage row names it or a finding names it (as above).

:func:`missing` returns what is neither, as readable lines; an empty list is conservation.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trialflow.io.xpt import read_xpt

Cell = tuple[str, int, str]
"""(sheet, row, column): the sheet upper-cased, the row as the sheet numbers it."""

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class RawSheet:
    """One sheet of a raw export: its header and its data rows, keyed by row number."""

    name: str
    header: list[str]
    rows: dict[int, dict[str, str]]


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip()


def read_raw(path: Path, *, encoding: str = "utf-8-sig", ignore: Iterable[str] = ("README",)
             ) -> list[RawSheet]:  # fmt: skip
    """The sheets of a raw export (.xlsx workbook, a .csv file or a folder of .csv files)."""
    skip = {name.upper() for name in ignore}
    tables: list[tuple[str, list[list[str]]]] = []
    if path.is_dir():
        for file in sorted(path.glob("*")):
            if file.suffix.lower() == ".csv":
                tables.append((file.stem, _csv_rows(file, encoding)))
    elif path.suffix.lower() == ".csv":
        tables.append((path.stem, _csv_rows(path, encoding)))
    else:
        tables.extend(_xlsx_rows(path))
    sheets = []
    for name, rows in tables:
        if name.upper() in skip or not rows:
            continue
        header = [_text(cell) for cell in rows[0]]
        width = len(header)
        data: dict[int, dict[str, str]] = {}
        for number, cells in enumerate(rows[1:], start=2):
            values = {}
            for index, cell in enumerate(cells):
                column = header[index] if index < width and header[index] else f"#{index + 1}"
                if _text(cell):
                    values[column] = _text(cell)
            if values:
                data[number] = values
        sheets.append(RawSheet(name, header, data))
    return sheets


def _csv_rows(path: Path, encoding: str) -> list[list[str]]:
    with path.open(newline="", encoding=encoding, errors="replace") as handle:
        return list(csv.reader(handle))


def _xlsx_rows(path: Path) -> list[tuple[str, list[list[str]]]]:
    import openpyxl

    cached = openpyxl.load_workbook(path, data_only=True)
    formulas = openpyxl.load_workbook(path, data_only=False)
    tables = []
    for sheet in cached.worksheets:
        raw = formulas[sheet.title]
        rows = []
        for cached_row, raw_row in zip(
            sheet.iter_rows(values_only=True), raw.iter_rows(values_only=True), strict=False
        ):
            rows.append(
                [
                    _text(value) if _text(value) else _text(formula)
                    for value, formula in zip(cached_row, raw_row, strict=False)
                ]
            )
        tables.append((sheet.title, rows))
    return tables


def raw_cells(sheets: list[RawSheet]) -> dict[Cell, str]:
    """Every raw value of the sheets: (SHEET, row, column) -> the text."""
    return {
        (sheet.name.upper(), row, column): value
        for sheet in sheets
        for row, values in sheet.rows.items()
        for column, value in values.items()
    }


def _sheet_of(source: dict) -> str | None:
    sheet = source.get("sheet")
    if sheet:
        return str(sheet).upper()
    file = source.get("file")
    return Path(str(file)).stem.upper() if file else None


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, float):
        return value != value  # NaN: a missing number
    return str(value).strip() == ""


def carried_cells(
    run_dir: Path, columns: dict[str, set[str]]
) -> tuple[set[Cell], set[tuple[str, int]], set[tuple[str, str]]]:
    """(cells whose value is in an SDTM record, rows some SDTM record came from, (SHEET,
    column) pairs some lineage text names).

    ``columns`` is each sheet's raw columns (SHEET -> names), to tell a column name in a
    lineage text from other words.
    """
    cells: set[Cell] = set()
    rows: set[tuple[str, int]] = set()
    mapped: set[tuple[str, str]] = set()
    lineage_dir = run_dir / "lineage"
    for path in sorted(lineage_dir.glob("*.csv")):
        if path.name == "excluded.csv":
            continue
        lineage = pd.read_csv(path, dtype=str, keep_default_na=False)
        if lineage.empty or "source_row" not in lineage.columns:
            continue
        xpt = run_dir / "sdtm" / f"{path.stem}.xpt"
        # pandas.read_sas drops the last record of some XPORT files; trialflow's reader does not
        data = read_xpt(xpt)[0] if xpt.exists() else None
        variables = [c for c in lineage.columns[7:]]
        for _, line in lineage.iterrows():
            if not line["source_row"] or not line["source_sheet"]:
                continue
            sheet = line["source_sheet"].upper()
            row = int(float(line["source_row"]))
            rows.add((sheet, row))
            record = int(float(line["record"])) - 1 if line["record"] else None
            known = columns.get(sheet, set())
            for variable in variables:
                named = set(_WORD.findall(line[variable])) & known
                if not named:
                    continue
                mapped.update((sheet, column) for column in named)
                if (
                    data is not None
                    and record is not None
                    and variable in data.columns
                    and _is_empty(data[variable].iloc[record])
                ):
                    continue
                for column in named:
                    cells.add((sheet, row, column))
    return cells, rows, mapped


def named_by_findings(run_dir: Path) -> list[tuple[str, int | None, str | None]]:
    """(SHEET, row or None, column or None) of every finding with a source, and excluded rows."""
    named: list[tuple[str, int | None, str | None]] = []
    report = run_dir / "validation" / "report.json"
    if report.exists():
        for finding in json.loads(report.read_text(encoding="utf-8"))["findings"]:
            source = finding.get("source") or {}
            sheet = _sheet_of(source)
            if sheet is None:
                continue
            row = source.get("row")
            named.append((sheet, int(row) if row is not None else None, source.get("column")))
    excluded = run_dir / "lineage" / "excluded.csv"
    if excluded.exists():
        for line in csv.DictReader(excluded.open(encoding="utf-8")):
            if line.get("source_row"):
                named.append((line["source_sheet"].upper(), int(float(line["source_row"])), None))
    return named


def consumed_columns(study_dir: Path) -> dict[str, set[str]]:
    """SHEET -> the raw columns a study's specs read without writing them to a variable.

    >>> sorted(consumed_columns(Path(__file__).parents[2] / "mappings/hucmsc-t2dm")["INFUSION"])
    ['GIVEN', 'INF_NO', 'SUBJ']
    """
    import yaml

    consumed: dict[str, set[str]] = {}
    for path in sorted(study_dir.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(spec, dict) or not isinstance(spec.get("source"), dict):
            continue
        source = spec["source"]
        sheet = str(source.get("sheet", "")).upper()
        columns = consumed.setdefault(sheet, set())
        columns.update(str(c) for c in source.get("record_key") or [])
        columns.update(str(c) for c in (source.get("where") or {}))
        coding = spec.get("coding") or {}
        columns.update(str(c) for c in (coding.get("compare") or {}).values())
    return consumed


def missing(
    raw: Path,
    run_dir: Path,
    *,
    consumed: dict[str, set[str]] | None = None,
    encoding: str = "utf-8-sig",
    ignore: Iterable[str] = ("README",),
) -> list[str]:
    """The raw rows and values of ``raw`` neither in the run's SDTM nor named by a finding.

    One line per lost row (``row lost: VITALS row 3``) or value (``value lost: VITALS row 3
    PULSE='74'``); an empty list is conservation. ``consumed`` as :func:`consumed_columns`.
    """
    consumed = consumed or {}
    sheets = read_raw(raw, encoding=encoding, ignore=ignore)
    columns = {sheet.name.upper(): set(sheet.header) | {c for r in sheet.rows.values() for c in r}
               for sheet in sheets}  # fmt: skip
    carried, carried_rows, mapped = carried_cells(run_dir, columns)
    named = named_by_findings(run_dir)
    whole_sheets = {s for s, r, c in named if r is None and c is None}
    whole_rows = {(s, r) for s, r, c in named if r is not None and c is None}
    whole_columns = {(s, c) for s, r, c in named if r is None and c is not None}
    single = {(s, r, c) for s, r, c in named if r is not None and c is not None}

    def is_named(sheet: str, row: int, column: str) -> bool:
        return (
            sheet in whole_sheets
            or (sheet, row) in whole_rows
            or (sheet, column) in whole_columns
            or (sheet, row, column) in single
        )

    problems = []
    for sheet in sheets:
        name = sheet.name.upper()
        for row, values in sheet.rows.items():
            row_named = (
                name in whole_sheets
                or (name, row) in whole_rows
                or any((name, row, column) in single for column in values)
            )
            if (name, row) not in carried_rows and not row_named:
                problems.append(f"row lost: {sheet.name} row {row}")
                continue
            for column, value in values.items():
                if (
                    (name, row) in carried_rows
                    and column in consumed.get(name, set())
                    and (name, column) not in mapped
                ):
                    continue
                if (name, row, column) not in carried and not is_named(name, row, column):
                    problems.append(f"value lost: {sheet.name} row {row} {column}={value!r}")
    return problems
