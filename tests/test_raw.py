import datetime as dt

import openpyxl
import pytest

from trialflow.errors import RawInputError
from trialflow.raw import ROW, read_export


def _workbook(path, sheets):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def test_cells_become_text_and_rows_keep_their_excel_numbers(tmp_path):
    path = _workbook(
        tmp_path / "export.xlsx",
        {
            "LAB": [
                ["SUBJ", "LAB_DATE", "RESULT", "FLAG", "TIME"],
                ["01-001", dt.date(2019, 1, 12), 9.3, True, dt.time(7, 30)],
                [None, None, None, None, None],
                ["01-002", "12-JAN-2019", 120.0, False, "07:45"],
                [" 01-003 ", dt.datetime(2019, 1, 2, 7, 30), "<0.5", None, None],
            ]
        },
    )
    sheet = read_export(path).sheet("LAB")
    frame = sheet.frame
    assert frame["SUBJ"].tolist() == ["01-001", "01-002", "01-003"]
    assert frame["LAB_DATE"].tolist() == ["2019-01-12", "12-JAN-2019", "2019-01-02T07:30"]
    assert frame["RESULT"].tolist() == ["9.3", "120", "<0.5"]
    assert frame["FLAG"].tolist()[:2] == ["TRUE", "FALSE"]
    assert frame["TIME"].tolist()[:2] == ["07:30", "07:45"]
    # the blank row 3 is skipped, the others keep their row numbers
    assert frame[ROW].tolist() == [2, 4, 5]
    assert str(frame["SUBJ"].dtype) == "str"


def test_file_that_is_not_really_xlsx_is_one_clear_error(tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_text("SUBJ,SEX\n01-001,M\n")
    with pytest.raises(RawInputError, match=r"export\.xlsx: not a readable \.xlsx workbook"):
        read_export(path)


def test_missing_sheet_names_the_sheets_there_are(tmp_path):
    path = _workbook(tmp_path / "e.xlsx", {"DEMOG": [["SUBJ"], ["1"]]})
    with pytest.raises(RawInputError, match=r"e\.xlsx: no sheet 'AE' \(sheets: DEMOG\)"):
        read_export(path).sheet("AE")


def test_duplicate_header_and_headerless_values_are_refused(tmp_path):
    path = _workbook(
        tmp_path / "e.xlsx",
        {"A": [["SUBJ", "SUBJ"], ["1", "2"]], "B": [["SUBJ"], ["1", "stray"]], "C": []},
    )
    export = read_export(path)
    with pytest.raises(RawInputError, match=r"sheet A, row 1: column header 'SUBJ' appears twice"):
        export.sheet("A")
    with pytest.raises(RawInputError, match=r"sheet B, row 2: value in column B has no header"):
        export.sheet("B")
    with pytest.raises(RawInputError, match=r"sheet C: the sheet is empty"):
        export.sheet("C")


def test_header_only_sheet_has_no_rows(tmp_path):
    path = _workbook(tmp_path / "e.xlsx", {"AE": [["SUBJ", "AE_TERM"]]})
    sheet = read_export(path).sheet("AE")
    assert sheet.columns == ["SUBJ", "AE_TERM"] and sheet.frame.empty


def test_folder_of_csv_is_an_export_with_one_sheet_per_file(tmp_path):
    (tmp_path / "DEMOG.csv").write_text("SUBJ,SEX\n01-001,M\n01-002,\n", encoding="utf-8")
    (tmp_path / "AE.csv").write_bytes("SUBJ,AE_TERM\n01-001,Fi\xe8vre\n".encode("cp1252"))
    export = read_export(tmp_path)
    assert export.sheet_names == ["AE", "DEMOG"]
    demog = export.sheet("DEMOG").frame
    assert demog["SEX"].isna().tolist() == [False, True]
    assert export.sheet("AE").frame["AE_TERM"].tolist() == ["Fièvre"]


def test_missing_path_and_wrong_extension(tmp_path):
    with pytest.raises(RawInputError, match="no such file or folder"):
        read_export(tmp_path / "nope.xlsx")
    odd = tmp_path / "export.txt"
    odd.write_text("x")
    with pytest.raises(RawInputError, match="not a raw export"):
        read_export(odd)
