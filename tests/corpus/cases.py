"""The malformed inputs of the bad-input corpus (issue 14), each a small mutation of a clean base.

The base is the bundled example export (examples/hucmsc-t2dm/raw-export.xlsx) cut down to two
subjects (01-001, and 01-005 who has the adverse event), so that each case maps in seconds. A
case writes its input into a folder of its own and says what a user should get: the exit codes
accepted, whether conservation is counted, the raw cells a finding must name and the text the
output must hold.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "mappings" / "hucmsc-t2dm"
EXAMPLE = ROOT / "examples" / "hucmsc-t2dm" / "raw-export.xlsx"
SUBJECTS = ("01-001", "01-005")

DATA = frozenset({0, 1})
"""Exit codes of a run that read its input: 0 no errors in the data, 1 errors found."""
UNUSABLE = frozenset({2})


def make_base(path: Path) -> Path:
    """The example export with the rows of :data:`SUBJECTS` only, written to ``path``."""
    book = openpyxl.load_workbook(EXAMPLE)
    for sheet in book.worksheets:
        header = [cell.value for cell in sheet[1]]
        if "SUBJ" not in header:
            continue
        column = header.index("SUBJ") + 1
        for row in range(sheet.max_row, 1, -1):
            if sheet.cell(row, column).value not in SUBJECTS:
                sheet.delete_rows(row)
    book.save(path)
    return path


@dataclass
class Inputs:
    """What a case runs on: the spec folder and the raw export (or the paths to validate)."""

    study: Path
    raw: Path
    args: list[str] = field(default_factory=list)
    encoding: str = "utf-8-sig"


@dataclass
class Case:
    """One malformed input and what a user should get from it."""

    id: str
    kind: str
    make: Callable[[Path, Path], Inputs]
    exits: frozenset[int] = DATA
    command: str = "map"
    conserve: bool = True
    names: list[tuple[str, int, str]] = field(default_factory=list)
    says: str | None = None  # a regular expression the output (or report) must match


# --- helpers -------------------------------------------------------------------------------


def _column(sheet, name: str) -> int:
    return [cell.value for cell in sheet[1]].index(name) + 1


def _workbook(edit: Callable[[openpyxl.Workbook], None]) -> Callable[[Path, Path], Inputs]:
    """A case that edits a copy of the base workbook."""

    def make(base: Path, folder: Path) -> Inputs:
        book = openpyxl.load_workbook(base)
        edit(book)
        target = folder / "export.xlsx"
        book.save(target)
        return Inputs(SPECS, target)

    return make


def _cell(sheet: str, row: int, column: str, value: object) -> Callable[[Path, Path], Inputs]:
    def edit(book: openpyxl.Workbook) -> None:
        book[sheet].cell(row, _column(book[sheet], column)).value = value

    return _workbook(edit)


def _cells(*edits: tuple[str, int, str, object]) -> Callable[[Path, Path], Inputs]:
    def edit(book: openpyxl.Workbook) -> None:
        for sheet, row, column, value in edits:
            book[sheet].cell(row, _column(book[sheet], column)).value = value

    return _workbook(edit)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d") if value.time() == dt.time() else value.isoformat()
    return str(value)


def csv_sheets(base: Path) -> dict[str, list[list[str]]]:
    """The base workbook's data sheets as rows of text (dates as ISO 8601)."""
    book = openpyxl.load_workbook(base)
    return {
        sheet.title: [[_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        for sheet in book.worksheets
        if sheet.title != "README"
    }


def _csv_folder(
    edit: Callable[[dict[str, list[list[str]]]], None] | None = None,
    *,
    encoding: str = "utf-8",
    raw_edit: Callable[[Path], None] | None = None,
    folder_name: str = "export",
) -> Callable[[Path, Path], Inputs]:
    """A case that writes the base as a folder of CSV files, edited as rows or as files."""

    def make(base: Path, folder: Path) -> Inputs:
        sheets = csv_sheets(base)
        if edit:
            edit(sheets)
        target = folder / folder_name
        target.mkdir()
        for name, rows in sheets.items():
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(rows)
            (target / f"{name}.csv").write_bytes(buffer.getvalue().encode(encoding))
        if raw_edit:
            raw_edit(target)
        return Inputs(SPECS, target, encoding="utf-8-sig" if encoding == "utf-8" else encoding)

    return make


def _bytes(data: Callable[[Path], bytes], name: str = "export.xlsx"):
    def make(base: Path, folder: Path) -> Inputs:
        target = folder / name
        target.write_bytes(data(base))
        return Inputs(SPECS, target)

    return make


def _ole2(stream: str) -> bytes:
    """An OLE2 compound file header (what encrypted .xlsx and .xls files are) naming a stream."""
    header = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(16) + struct.pack("<HH", 0x3E, 3)
    header += b"\xfe\xff" + struct.pack("<H", 9) + struct.pack("<H", 6) + bytes(10)
    body = header.ljust(512, b"\x00") + stream.encode("utf-16-le").ljust(64, b"\x00")
    return body.ljust(4096, b"\x00")


def _ods(base: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office:document-content/>")
        archive.writestr("META-INF/manifest.xml", "<manifest:manifest/>")
    return buffer.getvalue()


def _spec(file: str, old: str, new: str) -> Callable[[Path, Path], Inputs]:
    """A case that edits one spec file of a copy of the example study (``old`` must be there)."""

    def make(base: Path, folder: Path) -> Inputs:
        study = folder / "study"
        shutil.copytree(SPECS, study)
        path = study / file
        text = path.read_text(encoding="utf-8")
        assert old in text, (file, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return Inputs(study, base)

    return make


def _spec_bytes(file: str, data: bytes) -> Callable[[Path, Path], Inputs]:
    def make(base: Path, folder: Path) -> Inputs:
        study = folder / "study"
        shutil.copytree(SPECS, study)
        (study / file).write_bytes(data)
        return Inputs(study, base)

    return make


def _out_args(kind: str) -> Callable[[Path, Path], Inputs]:
    """A clean input with an output location that can't be written."""

    def make(base: Path, folder: Path) -> Inputs:
        if kind == "below-file":
            (folder / "afile").write_text("x")
            return Inputs(SPECS, base, args=["--out", str(folder / "afile" / "out")])
        link = folder / "dangling"
        link.symlink_to(folder / "nowhere" / "deeper")
        return Inputs(SPECS, base, args=["--out", str(link)])

    return make


# --- workbook edits ------------------------------------------------------------------------


def _delete_column(sheet: str, column: str):
    def edit(book):
        book[sheet].delete_cols(_column(book[sheet], column))

    return _workbook(edit)


def _rename_column(sheet: str, column: str, new: str):
    return _cell(sheet, 1, column, new)


def _append_column(sheet: str, header: str, values: list[object]):
    def edit(book):
        ws = book[sheet]
        col = ws.max_column + 1
        ws.cell(1, col).value = header
        for row, value in enumerate(values, start=2):
            ws.cell(row, col).value = value

    return _workbook(edit)


def _insert_row(sheet: str, at: int, values: list[object] | None):
    def edit(book):
        ws = book[sheet]
        header = [c.value for c in ws[1]]
        ws.insert_rows(at)
        for col, value in enumerate(values if values is not None else header, start=1):
            ws.cell(at, col).value = value

    return _workbook(edit)


def _copy_row(sheet: str, row: int, changes: dict[str, object] | None = None):
    def edit(book):
        ws = book[sheet]
        values = [c.value for c in ws[row]]
        ws.append(values)
        for column, value in (changes or {}).items():
            ws.cell(ws.max_row, _column(ws, column)).value = value

    return _workbook(edit)


def _merge(sheet: str, cells: str):
    def edit(book):
        book[sheet].merge_cells(cells)

    return _workbook(edit)


def _extra_sheet(title: str, state: str):
    def edit(book):
        ws = book.create_sheet(title)
        ws.append(["SUBJ", "VISIT", "PULSE"])
        ws.append(["01-001", "Day 0", 71])
        ws.sheet_state = state

    return _workbook(edit)


def _hide(sheet: str):
    def edit(book):
        book[sheet].sheet_state = "hidden"

    return _workbook(edit)


# --- CSV edits -----------------------------------------------------------------------------


def _csv_cell(sheet: str, row: int, column: str, value: str):
    def edit(sheets):
        rows = sheets[sheet]
        rows[row - 1][rows[0].index(column)] = value

    return edit


def _replace_in_file(file: str, old: bytes, new: bytes):
    def edit(folder: Path):
        path = folder / file
        data = path.read_bytes()
        assert old in data, (file, old)
        path.write_bytes(data.replace(old, new, 1))

    return edit


def _rename_file(old: str, new: str):
    def edit(folder: Path):
        (folder / old).rename(folder / new)

    return edit


def _ragged(sheets):
    sheets["VITALS"][3].append("spill")


def _semicolons(folder: Path) -> None:
    path = folder / "DISPOSITION.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",", ";"), encoding="utf-8")


# rows of the base: DEMOG 2 (01-001), 3 (01-005); AE 2 (01-005); LAB 2 Glucose (fasting)
# 10.41 mmol/L; VITALS 2 Day 0 of 01-001; INFUSION 2-7
CASES: list[Case] = [
    Case("clean-xlsx", "base", _workbook(lambda book: None), exits=frozenset({0})),
    Case("clean-csv-folder", "base", _csv_folder(), exits=frozenset({0})),
    # columns
    Case("missing-column", "columns", _delete_column("VITALS", "PULSE"), UNUSABLE, says=r"PULSE"),
    Case(
        "missing-mapped-column-lab",
        "columns",
        _delete_column("LAB", "UNIT"),
        UNUSABLE,
        says=r"UNIT",
    ),
    Case(
        "renamed-column",
        "columns",
        _rename_column("LAB", "RESULT", "RESULTS"),
        UNUSABLE,
        says=r"RESULT",
    ),
    Case(
        "renamed-column-case",
        "columns",
        _rename_column("VITALS", "TEMP_C", "temp_c"),
        frozenset({0, 1, 2}),
        says=r"(?i)temp_c",
    ),
    Case(
        "duplicated-column",
        "columns",
        _append_column("VITALS", "PULSE", [88, 89, 90]),
        frozenset({0, 1, 2}),
        says=r"PULSE",
    ),
    Case("extra-column", "columns", _append_column("VITALS", "RESP_RATE", [16, 18, 17])),
    Case(
        "extra-column-empty",
        "columns",
        _append_column("VITALS", "COMMENT", []),
        exits=frozenset({0}),
    ),
    Case(
        "extra-column-no-header",
        "columns",
        _append_column("AE", None, ["see notes"]),
        frozenset({0, 1, 2}),
        says=r"(?i)column M|no header",
    ),
    # layout
    Case("extra-header-row", "layout", _insert_row("VITALS", 2, None)),
    Case(
        "title-row-above-header",
        "layout",
        _insert_row("DEMOG", 1, ["Demographics export"]),
        UNUSABLE,
        says=r"DEMOG",
    ),
    Case("blank-row", "layout", _insert_row("LAB", 5, []), exits=frozenset({0})),
    Case("merged-subject-cells", "layout", _merge("VITALS", "A2:A3")),
    Case("merged-header-cells", "layout", _merge("AE", "D1:E1"), frozenset({0, 1, 2})),
    Case("hidden-extra-sheet", "layout", _extra_sheet("VITALS_OLD", "hidden")),
    Case("visible-extra-sheet", "layout", _extra_sheet("NOTES", "visible")),
    Case("hidden-used-sheet", "layout", _hide("DISPOSITION")),
    # formulas and error cells
    Case(
        "formula-no-cached-value",
        "formula",
        _cell("VITALS", 2, "PULSE", "=70+4"),
        names=[("VITALS", 2, "PULSE")],
    ),
    Case(
        "formula-in-lab-result",
        "formula",
        _cell("LAB", 2, "RESULT", "=SUM(10,0.41)"),
        names=[("LAB", 2, "RESULT")],
    ),
    Case(
        "error-cell-na",
        "formula",
        _cell("VITALS", 3, "SYSBP", "#N/A"),
        names=[("VITALS", 3, "SYSBP")],
    ),
    Case(
        "error-cell-div0",
        "formula",
        _cell("LAB", 3, "RESULT", "#DIV/0!"),
        names=[("LAB", 3, "RESULT")],
    ),
    # dates
    Case(
        "date-text-words",
        "dates",
        _cell("DEMOG", 2, "CONSENT_DT", "15 January 2019"),
        names=[("DEMOG", 2, "CONSENT_DT")],
    ),
    Case("date-excel-serial", "dates", _cell("VITALS", 2, "VIS_DATE", 43590)),
    Case(
        "date-serial-as-text",
        "dates",
        _cell("DISPOSITION", 2, "DS_DATE", "43673"),
        names=[("DISPOSITION", 2, "DS_DATE")],
    ),
    Case(
        "datetime-with-time",
        "dates",
        _cell("VITALS", 3, "VIS_DATE", dt.datetime(2019, 5, 20, 14, 30)),
    ),
    Case(
        "date-impossible",
        "dates",
        _cell("DEMOG", 2, "CONSENT_DT", "2019-02-30"),
        names=[("DEMOG", 2, "CONSENT_DT")],
    ),
    Case(
        "date-impossible-ae",
        "dates",
        _cell("AE", 2, "START_DT", "31-APR-2019"),
        names=[("AE", 2, "START_DT")],
    ),
    Case("date-partial", "dates", _cell("AE", 2, "END_DT", "2019-08")),
    Case("date-future", "dates", _cell("VITALS", 4, "VIS_DATE", "2099-01-01")),
    Case("date-year-1", "dates", _cell("AE", 2, "START_DT", "0001-01-01")),
    Case("date-year-9999", "dates", _cell("DISPOSITION", 3, "DS_DATE", "9999-12-31")),
    # numbers and units
    Case(
        "mixed-units-convertible",
        "units",
        _cells(("LAB", 2, "RESULT", 187.6), ("LAB", 2, "UNIT", "mg/dL")),
    ),
    Case("unit-unknown", "units", _cell("LAB", 2, "UNIT", "mmol/dl"), names=[("LAB", 2, "UNIT")]),
    Case(
        "comma-decimal-vitals",
        "numbers",
        _cell("VITALS", 2, "WEIGHT_KG", "78,5"),
        names=[("VITALS", 2, "WEIGHT_KG")],
    ),
    Case(
        "comma-decimal-convertible-unit",
        "numbers",
        _cells(("LAB", 2, "RESULT", "123,4"), ("LAB", 2, "UNIT", "mg/dL")),
        names=[("LAB", 2, "RESULT")],
    ),
    Case("less-than-limit", "numbers", _cell("LAB", 3, "RESULT", "<0.1")),
    Case("greater-than-limit", "numbers", _cell("LAB", 2, "RESULT", ">500")),
    Case(
        "text-result-hemolysed",
        "numbers",
        _cell("LAB", 4, "RESULT", "hemolysed"),
        names=[("LAB", 4, "RESULT")],
    ),
    Case(
        "text-result-pending",
        "numbers",
        _cell("LAB", 5, "RESULT", "pending"),
        names=[("LAB", 5, "RESULT")],
    ),
    Case(
        "text-result-na",
        "numbers",
        _cell("VITALS", 2, "PULSE", "N/A"),
        names=[("VITALS", 2, "PULSE")],
    ),
    Case(
        "text-result-hex",
        "numbers",
        _cell("VITALS", 2, "SYSBP", "0x10"),
        names=[("VITALS", 2, "SYSBP")],
    ),
    Case(
        "text-result-underscore",
        "numbers",
        _cell("VITALS", 2, "DIABP", "1_000"),
        names=[("VITALS", 2, "DIABP")],
    ),
    Case(
        "text-result-nan", "numbers", _cell("LAB", 6, "RESULT", "nan"), names=[("LAB", 6, "RESULT")]
    ),
    Case(
        "text-result-inf",
        "numbers",
        _cell("VITALS", 3, "PULSE", "inf"),
        frozenset({0, 1, 2}),
        names=[("VITALS", 3, "PULSE")],
    ),
    Case(
        "blank-lab-result", "numbers", _cell("LAB", 7, "RESULT", None), names=[("LAB", 7, "RESULT")]
    ),
    # text
    Case(
        "non-ascii-term",
        "text",
        _cell("AE", 2, "AE_TERM", "fièvre"),
        frozenset({1, 2}),
        conserve=False,
        names=[("AE", 2, "AE_TERM")],
    ),
    Case(
        "cjk-term",
        "text",
        _cell("AE", 2, "AE_TERM", "发热"),
        frozenset({1, 2}),
        conserve=False,
        names=[("AE", 2, "AE_TERM")],
    ),
    Case(
        "emoji-term",
        "text",
        _cell("AE", 2, "AE_TERM", "fever 🤒"),
        frozenset({1, 2}),
        conserve=False,
        names=[("AE", 2, "AE_TERM")],
    ),
    Case(
        "term-250-bytes",
        "text",
        _cell("AE", 2, "AE_TERM", "fever " + "x" * 244),
        frozenset({1, 2}),
        conserve=False,
        names=[("AE", 2, "AE_TERM")],
    ),
    Case(
        "several-bad-cells-one-pass",
        "text",
        _cells(
            ("AE", 2, "AE_TERM", "fièvre"),
            ("DEMOG", 3, "COUNTRY", "中国"),
            ("VITALS", 3, "PULSE", "inf"),
        ),
        frozenset({1, 2}),
        conserve=False,
        names=[("AE", 2, "AE_TERM"), ("DEMOG", 3, "COUNTRY"), ("VITALS", 3, "PULSE")],
    ),
    Case(
        "control-char-nul",
        "text",
        _csv_folder(_csv_cell("AE", 2, "AE_TERM", "fever\x00")),
        names=[("AE", 2, "AE_TERM")],
    ),
    Case(
        "control-char-soh-esc",
        "text",
        _csv_folder(_csv_cell("AE", 2, "OUTCOME", "Recovered\x01\x1b[0m")),
        names=[("AE", 2, "OUTCOME")],
    ),
    Case(
        "line-break-in-term",
        "text",
        _cell("AE", 2, "AE_TERM", "fever\nafter infusion"),
        names=[("AE", 2, "AE_TERM")],
    ),
    Case(
        "tab-in-term",
        "text",
        _cell("AE", 2, "AE_TERM", "fever\tafter infusion"),
        names=[("AE", 2, "AE_TERM")],
    ),
    Case(
        "leading-trailing-spaces", "text", _cell("DEMOG", 2, "SEX", "  M  "), exits=frozenset({0})
    ),
    # subjects
    Case("duplicate-subject-map", "subjects", _copy_row("DEMOG", 2), frozenset({1})),
    Case("duplicate-subject-run", "subjects", _copy_row("DEMOG", 2), frozenset({1}), command="run"),
    Case(
        "subject-not-in-demog",
        "subjects",
        _copy_row("VITALS", 2, {"SUBJ": "01-099"}),
        frozenset({1}),
    ),
    Case("subject-blank", "subjects", _cell("LAB", 8, "SUBJ", None), frozenset({1})),
    Case("duplicate-record", "subjects", _copy_row("VITALS", 2), frozenset({1})),
    # files
    Case(
        "encrypted-xlsx",
        "files",
        _bytes(lambda b: _ole2("EncryptionInfo")),
        UNUSABLE,
        conserve=False,
        says=r"(?i)encrypt|password",
    ),
    Case(
        "renamed-xls",
        "files",
        _bytes(lambda b: _ole2("Workbook")),
        UNUSABLE,
        conserve=False,
        says=r"(?i)\.xls\b|excel 97|biff",
    ),
    Case(
        "renamed-ods",
        "files",
        _bytes(_ods),
        UNUSABLE,
        conserve=False,
        says=r"(?i)\.ods|opendocument",
    ),
    Case(
        "truncated-xlsx",
        "files",
        _bytes(lambda b: b.read_bytes()[: len(b.read_bytes()) // 2]),
        UNUSABLE,
        conserve=False,
    ),
    Case("empty-xlsx", "files", _bytes(lambda b: b""), UNUSABLE, conserve=False),
    Case(
        "csv-renamed-xlsx",
        "files",
        _bytes(lambda b: b"SUBJ,SEX\n01-001,M\n"),
        UNUSABLE,
        conserve=False,
    ),
    # CSV files
    Case("csv-utf8-bom", "csv", _csv_folder(encoding="utf-8-sig"), exits=frozenset({0})),
    Case(
        "csv-upper-case-extension", "csv", _csv_folder(raw_edit=_rename_file("LAB.csv", "LAB.CSV"))
    ),
    Case(
        "csv-cp1252",
        "csv",
        _csv_folder(_csv_cell("AE", 2, "AE_TERM", "fièvre"), encoding="cp1252"),
        frozenset({1, 2}),
        conserve=False,
        says=r"(?i)cp1252|windows-1252|fièvre",
    ),
    Case(
        "csv-gbk",
        "csv",
        _csv_folder(_csv_cell("AE", 2, "AE_TERM", "发热"), encoding="gbk"),
        frozenset({1, 2}),
        conserve=False,
        says=r"(?i)gbk|gb2312|gb18030|发热",
    ),
    Case(
        "csv-utf16",
        "csv",
        _csv_folder(encoding="utf-16"),
        frozenset({0, 2}),
        says=r"(?i)utf-16|mapped",
    ),
    Case(
        "csv-unterminated-quote",
        "csv",
        _csv_folder(raw_edit=_replace_in_file("VITALS.csv", b"01-001,D14", b'01-001,"D14')),
        frozenset({1, 2}),
        conserve=False,
        says=r"(?i)quot[^\n]*line \d|line \d[^\n]*quot",
    ),
    Case(
        "csv-stray-quote",
        "csv",
        _csv_folder(_csv_cell("AE", 2, "AE_TERM", 'fever "high" after infusion')),
    ),
    Case(
        "csv-ragged-row",
        "csv",
        _csv_folder(_ragged),
        frozenset({0, 1, 2}),
        says=r"(?i)VITALS[^\n]*row 4[^\n]*(column J|no header)",
    ),
    Case(
        "csv-semicolon-delimited",
        "csv",
        _csv_folder(raw_edit=_semicolons),
        UNUSABLE,
        conserve=False,
        says=r"DISPOSITION",
    ),
    Case(
        "csv-non-utf8-folder-name",
        "csv",
        _csv_folder(folder_name=b"export-\xff".decode("utf-8", "surrogateescape")),
    ),
    # spec files
    Case(
        "spec-yaml-anchors",
        "spec",
        _spec(
            "vs.yaml",
            "      HEIGHT_CM: {VSTESTCD: HEIGHT, VSORRESU: cm}",
            "      HEIGHT_CM: &h {VSTESTCD: HEIGHT, VSORRESU: cm}",
        ),
        frozenset({0, 2}),
        conserve=False,
    ),
    Case(
        "spec-tab-indent",
        "spec",
        _spec("dm.yaml", "  sheet: DEMOG", "\tsheet: DEMOG"),
        UNUSABLE,
        conserve=False,
        says=r"dm\.yaml(:\d+|[^\n]*line)",
    ),
    Case(
        "spec-duplicate-key",
        "spec",
        _spec("dm.yaml", "  sheet: DEMOG", "  sheet: DEMOG\n  sheet: DEMOG2"),
        UNUSABLE,
        conserve=False,
        says=r"dm\.yaml.*(line|:\d)",
    ),
    Case(
        "spec-unknown-key",
        "spec",
        _spec("dm.yaml", "  sheet: DEMOG", "  sheet: DEMOG\n  tab: 1"),
        UNUSABLE,
        conserve=False,
        says=r"dm\.yaml.*tab",
    ),
    Case(
        "spec-wrong-type-list",
        "spec",
        _spec("dm.yaml", "record_key: [SUBJ]", "record_key: {SUBJ: 1}"),
        UNUSABLE,
        conserve=False,
        says=r"dm\.yaml.*record_key",
    ),
    Case(
        "spec-wrong-type-formats",
        "spec",
        _spec("dm.yaml", 'formats: ["%d-%b-%Y", "%Y/%m/%d", "%Y-%m-%d"]', "formats: 5"),
        UNUSABLE,
        conserve=False,
        says=r"dm\.yaml.*formats",
    ),
    Case(
        "spec-empty-file",
        "spec",
        _spec_bytes("mh.yaml", b""),
        UNUSABLE,
        conserve=False,
        says=r"mh\.yaml",
    ),
    Case(
        "spec-not-utf8",
        "spec",
        _spec_bytes("mh.yaml", b"# caf\xe9\ndomain: MH\n"),
        UNUSABLE,
        conserve=False,
        says=r"mh\.yaml",
    ),
    # output locations
    Case("out-below-a-file", "output", _out_args("below-file"), UNUSABLE, conserve=False),
    Case(
        "out-dangling-symlink", "output", _out_args("dangling"), frozenset({0, 2}), conserve=False
    ),
]
