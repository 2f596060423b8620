"""Raw exports a user gets wrong: each value is kept or named, each bad file is one clear line.

Every input is made here: workbooks with openpyxl (which writes a formula with no saved result,
as pandas does), OLE2 headers as bytes, CSV text in the encodings a site exports.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from support import EXAMPLE_SPECS, HEADERS, tiny_sheets, write_csv_export

from trialflow.cli import cli
from trialflow.errors import RawInputError, Source
from trialflow.raw import ROW, decode_text, read_export, shown_path


def _book(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _map(args: list[str]):
    result = CliRunner().invoke(cli, ["map", str(EXAMPLE_SPECS), *args, "-q"])
    assert "internal error" not in result.output
    assert "Traceback" not in result.output
    return result


# --- formula cells without a saved result, Excel error cells ---------------------------------


def test_formula_without_a_saved_result_and_error_cells_are_findings_naming_the_cell(tmp_path):
    path = _book(
        tmp_path / "e.xlsx",
        {"VS": [["SUBJ", "WEIGHT", "HR"], ["01", 70, 60], ["02", "=1+1", 61], ["03", "#N/A", 62]]},
    )
    book = openpyxl.load_workbook(path)
    book["VS"]["C4"] = "#DIV/0!"
    book["VS"]["B5"], book["VS"]["A5"] = '=A2&"x"', "04"
    book.save(path)

    sheet = read_export(path).sheet("VS")

    found = [(f.code, f.severity, f.value, f.source) for f in sheet.findings]
    assert found == [
        ("raw-formula-no-value", "error", "=1+1", Source("e.xlsx", "VS", 3, "WEIGHT")),
        ("raw-error-cell", "error", "#N/A", Source("e.xlsx", "VS", 4, "WEIGHT")),
        ("raw-error-cell", "error", "#DIV/0!", Source("e.xlsx", "VS", 4, "HR")),
        ("raw-formula-no-value", "error", '=A2&"x"', Source("e.xlsx", "VS", 5, "WEIGHT")),
    ]
    assert "cell B3 holds the formula =1+1 with no saved result" in sheet.findings[0].message
    assert "nothing is evaluated" in sheet.findings[0].message
    assert "cell C4 holds the Excel error #DIV/0!" in sheet.findings[2].message
    # the records are kept, the lost values missing: no row vanishes
    assert sheet.frame[ROW].tolist() == [2, 3, 4, 5]
    assert sheet.frame["WEIGHT"].isna().tolist() == [False, True, True, True]


@pytest.mark.parametrize(
    "error", ["#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!"]
)
def test_every_excel_error_value_is_named(tmp_path, error):
    path = _book(tmp_path / "e.xlsx", {"LB": [["SUBJ", "RESULT"], ["01", error]]})
    [finding] = read_export(path).sheet("LB").findings
    assert (finding.code, finding.value, finding.source) == (
        "raw-error-cell",
        error,
        Source("e.xlsx", "LB", 2, "RESULT"),
    )


def test_a_workbook_with_saved_values_has_no_such_findings(tmp_path):
    # a formula cell that Excel saved holds its result: that is the value, no finding
    path = tmp_path / "saved.xlsx"
    _book(path, {"VS": [["SUBJ", "WEIGHT"], ["01", 70]]})
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet_xml = parts["xl/worksheets/sheet1.xml"].decode()
    parts["xl/worksheets/sheet1.xml"] = sheet_xml.replace(
        '<c r="B2" t="n"><v>70</v></c>', '<c r="B2"><f>35*2</f><v>70</v></c>'
    ).encode()
    assert "<f>35*2</f>" in parts["xl/worksheets/sheet1.xml"].decode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    sheet = read_export(path).sheet("VS")
    assert sheet.findings == []
    assert sheet.frame["WEIGHT"].tolist() == ["70"]


def test_map_reports_the_formula_cell_in_the_report_with_exit_1(tmp_path):
    sheets = tiny_sheets()
    sheets["AE"] = [dict.fromkeys(HEADERS["AE"], "")]  # a header row for the empty form
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        header = HEADERS[name]
        sheet.append(header)
        for row in rows if name != "AE" else []:
            sheet.append([row[c] or None for c in header])
    vitals = book["VITALS"]
    column = [c.value for c in vitals[1]].index("WEIGHT_KG") + 1
    vitals.cell(row=2, column=column, value="=70+0.5")
    vitals.cell(row=3, column=column, value="#N/A")
    raw = tmp_path / "export.xlsx"
    book.save(raw)
    out = tmp_path / "out"

    result = _map(["--raw", str(raw), "--out", str(out)])

    assert result.exit_code == 1, result.output
    report = json.loads((out / "validation" / "report.json").read_text())
    lost = [
        (f["code"], f["value"], f["source"])
        for f in report["findings"]
        if f["code"] in ("raw-formula-no-value", "raw-error-cell")
    ]
    letter = "ABCDEFGHI"[column - 1]
    assert lost == [
        ("raw-formula-no-value", "=70+0.5", _src("export.xlsx", "VITALS", 2, "WEIGHT_KG")),
        ("raw-error-cell", "#N/A", _src("export.xlsx", "VITALS", 3, "WEIGHT_KG")),
    ]
    assert f"cell {letter}2 holds the formula =70+0.5" in result.output


def _src(file: str, sheet: str, row: int, column: str) -> dict[str, object]:
    return {"file": file, "sheet": sheet, "row": row, "column": column}


# --- broken CSV quoting ------------------------------------------------------------------------


def test_an_unclosed_quote_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "AE.csv"
    path.write_text('SUBJ,TERM,SEV\n01,Headache,Mild\n02,"Fever,Mild\n03,Rash,Mild\n04,Pain,Mild\n')
    with pytest.raises(RawInputError) as info:
        read_export(tmp_path).sheet("AE")
    assert str(info.value) == (
        f"{tmp_path.name}/AE.csv, line 3: a quoted value opened on this line is never closed "
        "(it runs to the end of the file, line 5); close the quote"
    )


def test_a_quote_closed_by_a_stray_quote_rows_later_is_refused_not_merged(tmp_path):
    # 6 data lines; the quote opened on line 3 is closed on line 5: before, 4 records
    path = tmp_path / "AE.csv"
    path.write_text(
        'SUBJ,TERM,SEV\n01,Headache,Mild\n02,"Fever,Mild\n03,Rash,Mild\n04,Pain",Mild\n'
        "05,Cough,Mild\n06,Itch,Mild\n"
    )
    with pytest.raises(RawInputError, match=r"AE\.csv, line 3: a quoted value runs on to line 5"):
        read_export(tmp_path).sheet("AE")


def test_text_after_a_closing_quote_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "AE.csv"
    path.write_text('SUBJ,TERM\n01,"Fever"ish\n')
    with pytest.raises(
        RawInputError, match=r'AE\.csv, line 2: not readable CSV \(.*doubled \(""\)'
    ):
        read_export(tmp_path).sheet("AE")


def test_a_quoted_line_break_in_a_value_is_still_read(tmp_path):
    path = tmp_path / "AE.csv"
    path.write_text('SUBJ,TERM,SEV\n01,"Fever\nthen chills",Mild\n02,Rash,Mild\n')
    sheet = read_export(tmp_path).sheet("AE")
    assert sheet.frame["TERM"].tolist() == ["Fever\nthen chills", "Rash"]
    assert sheet.frame[ROW].tolist() == [2, 4]


def test_map_on_a_csv_with_an_unclosed_quote_is_exit_2_naming_the_line(tmp_path):
    raw = write_csv_export(tmp_path / "raw", tiny_sheets())
    vitals = raw / "VITALS.csv"
    lines = vitals.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",", ',"', 1)  # line 3: the second field opens a quote
    vitals.write_text("".join(lines))

    result = _map(["--raw", str(raw), "--out", str(tmp_path / "out")])

    assert result.exit_code == 2
    assert "raw/VITALS.csv, line 3: a quoted value opened on this line is never closed" in (
        result.output
    )
    assert not (tmp_path / "out" / "sdtm").exists()


# --- encodings -----------------------------------------------------------------------------


TEXT = "SUBJ,TERM\n01,Céphalée\n02,Größe\n"


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"]
)
def test_unicode_encodings_are_read_by_bom_or_nul_pattern(tmp_path, encoding):
    (tmp_path / "AE.csv").write_bytes(TEXT.encode(encoding))
    sheet = read_export(tmp_path).sheet("AE")
    assert sheet.frame["TERM"].tolist() == ["Céphalée", "Größe"]


def test_windows_1252_is_still_read(tmp_path):
    (tmp_path / "AE.csv").write_bytes(TEXT.encode("cp1252"))
    assert read_export(tmp_path).sheet("AE").frame["TERM"].tolist() == ["Céphalée", "Größe"]


@pytest.mark.parametrize(
    "encoding, terms",
    [
        ("gbk", ["头痛", "发热", "恶心", "皮疹"]),
        ("big5", ["頭痛", "發熱", "噁心", "皮疹"]),
        ("shift_jis", ["頭痛", "発熱", "吐き気", "発疹"]),
    ],
)
def test_double_byte_text_is_refused_naming_the_file_and_the_encodings_tried(
    tmp_path, encoding, terms
):
    text = "SUBJ,TERM\n01,Headache\n" + "".join(f"0{i},{t}\n" for i, t in enumerate(terms, 2))
    (tmp_path / "AE.csv").write_bytes(text.encode(encoding))
    with pytest.raises(RawInputError) as info:
        read_export(tmp_path).sheet("AE")
    message = str(info.value)
    assert message.startswith(f"{tmp_path.name}/AE.csv: not UTF-8 text, and not Windows-1252")
    assert re.search(r"\bline [3-6]\b", message)  # a line holding the double-byte text
    assert "UTF-8 (with or without BOM), UTF-16 or UTF-32, or Windows-1252" in message
    assert "\x00" not in message


def test_gbk_text_is_not_shown_as_mojibake_through_the_cli(tmp_path):
    sheets = tiny_sheets()
    raw = write_csv_export(tmp_path / "raw", sheets)
    demog = raw / "DEMOG.csv"
    demog.write_bytes(demog.read_text().replace("China", "中国大陆").encode("gbk"))

    result = _map(["--raw", str(raw), "--out", str(tmp_path / "out")])

    assert result.exit_code == 2
    assert "raw/DEMOG.csv: not UTF-8 text, and not Windows-1252 either" in result.output
    assert "Ö" not in result.output and "Ð" not in result.output


def test_decode_text_rules():
    assert decode_text("a,b\n".encode("utf-16-be"), "x.csv") == "a,b\n"
    assert decode_text(b"a,\x00b\n", "x.csv") == "a,\x00b\n"  # one NUL in UTF-8 is not UTF-16
    with pytest.raises(RawInputError, match=r"x\.csv: looks like UTF-16 text"):
        decode_text(b"\xff\xfe\x00\xd8a\x00", "x.csv")  # a lone surrogate


# --- files that are not what their name says ------------------------------------------------


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@pytest.mark.parametrize(
    "stream, message",
    [
        ("EncryptedPackage", "is an encrypted workbook; save it without a password"),
        ("Workbook", "is an Excel 97-2003 .xls file renamed .xlsx; save it as .xlsx"),
        ("Book", "is an Excel 97-2003 .xls file renamed .xlsx; save it as .xlsx"),
        ("WordDocument", "is an OLE2 compound file (an older Office format), not a .xlsx"),
    ],
)
def test_ole2_files_named_xlsx_say_what_they_are(tmp_path, stream, message):
    path = tmp_path / "export.xlsx"
    path.write_bytes(OLE2 + bytes(504) + stream.encode("utf-16-le") + bytes(64))
    with pytest.raises(RawInputError) as info:
        read_export(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_opendocument_named_xlsx_says_what_it_is(tmp_path):
    path = tmp_path / "export.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    with pytest.raises(RawInputError) as info:
        read_export(path)
    assert str(info.value) == (
        f"{path}: is an OpenDocument spreadsheet (.ods) renamed .xlsx; save it as .xlsx, or "
        "name it .ods"
    )


def test_encrypted_workbook_through_the_cli_is_exit_2_one_line(tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_bytes(OLE2 + bytes(504) + "EncryptedPackage".encode("utf-16-le"))
    result = _map(["--raw", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {path}: is an encrypted workbook; save it without a password"
    )


# --- file names --------------------------------------------------------------------------------


def test_upper_case_csv_extension_in_a_folder_is_read(tmp_path):
    (tmp_path / "LAB.CSV").write_text("SUBJ,TEST\n01,HBA1C\n")
    export = read_export(tmp_path)
    assert export.sheet_names == ["LAB"]
    assert export.sheet("LAB").frame["TEST"].tolist() == ["HBA1C"]
    assert export.sheet("LAB").file == f"{tmp_path.name}/LAB.CSV"


def test_upper_case_extensions_map_through_the_cli(tmp_path):
    raw = write_csv_export(tmp_path / "raw", tiny_sheets())
    for file in raw.iterdir():
        file.rename(file.with_suffix(".CSV"))
    result = _map(["--raw", str(raw), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


def _latin1_name(folder: Path, name: bytes) -> Path:
    import os

    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))
    try:
        path.mkdir() if not name.endswith(b".xlsx") else path.touch()
    except (OSError, UnicodeError):  # a file system that only takes UTF-8 names
        pytest.skip("the file system refuses non-UTF-8 names")
    return path


def test_a_non_utf8_folder_name_is_read_and_shown_escaped(tmp_path):
    folder = _latin1_name(tmp_path, b"caf\xe9")
    write_csv_export(folder, tiny_sheets())
    export = read_export(folder)
    assert export.name == "caf\\xe9"
    assert export.sheet("DEMOG").file == "caf\\xe9/DEMOG.csv"
    result = _map(["--raw", str(folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    json.loads((tmp_path / "out" / "validation" / "report.json").read_text())


def test_a_non_utf8_workbook_name_is_opened(tmp_path):
    path = _latin1_name(tmp_path, b"export\xff.xlsx")
    _book(path, {"VS": [["SUBJ", "WEIGHT"], ["01", "=1+1"]]})
    export = read_export(path)
    assert export.name == "export\\xff.xlsx"
    [finding] = export.sheet("VS").findings
    assert finding.source == Source("export\\xff.xlsx", "VS", 2, "WEIGHT")
    assert shown_path(path).endswith("export\\xff.xlsx")
