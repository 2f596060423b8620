import datetime as dt

import openpyxl
import pytest

from trialflow.errors import RawInputError
from trialflow.limits import using
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


# ----------------------------------------------------------------------------------------------
# flat CSV, SAS datasets, CDISC ODM
# ----------------------------------------------------------------------------------------------

import pandas as pd  # noqa: E402
import pyreadstat  # noqa: E402

from trialflow.raw import odm as odm_reader  # noqa: E402


def test_flat_csv_rows_are_named_by_their_line_even_after_a_multiline_value(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        'FORM,SUBJ,AE_TERM\nDEMOG,01-001,\nAE,01-001,"fever,\nthen chills"\n\nAE,01-002,rash\n'
    )
    sheet = read_export(path).sheet("export")
    assert sheet.frame[ROW].tolist() == [2, 3, 6]
    assert sheet.frame["AE_TERM"].tolist()[1:] == ["fever,\nthen chills", "rash"]
    assert sheet.where("AE_TERM", 6) == "export.csv, line 6, column AE_TERM"


def test_oversized_csv_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "export.csv"
    path.write_text("SUBJ\n" + "01-001\n" * 20)
    with (
        using(file_bytes=50),
        pytest.raises(
            RawInputError,
            match=r"export\.csv: the file is 145 bytes, more than the limit file_bytes=50 ",
        ),
    ):
        read_export(path).sheet("export")


def _xpt(path, frame, **kw):
    pyreadstat.write_xport(frame, str(path), file_format_version=8, **kw)
    return path


def test_sas_dataset_values_become_text_and_rows_their_record_numbers(tmp_path):
    folder = tmp_path / "sas"
    folder.mkdir()
    frame = pd.DataFrame(
        {
            "SUBJ": ["01-001", "", "01-002"],
            "VIS_DATE": [dt.date(2019, 1, 12), None, dt.date(2019, 2, 1)],
            "WEIGHT_KG": [78.5, None, 120.0],
            "RESULT": ["<0.5", "", "9.3"],
        }
    )
    _xpt(folder / "vitals.xpt", frame, variable_format={"VIS_DATE": "DATE9"})
    (folder / "README.txt").write_text("not data")
    export = read_export(folder)
    assert export.sheet_names == ["vitals"]
    sheet = export.sheet("vitals")
    assert sheet.frame["VIS_DATE"].tolist() == ["2019-01-12", "2019-02-01"]
    assert sheet.frame["WEIGHT_KG"].tolist() == ["78.5", "120"]
    assert sheet.frame["RESULT"].tolist() == ["<0.5", "9.3"]
    assert sheet.frame[ROW].tolist() == [1, 3]  # the blank record 2 is left out
    assert sheet.where("RESULT", 3) == "sas/vitals.xpt, record 3, column RESULT"


def test_sas_limits_and_unreadable_files_are_one_clear_line(tmp_path, monkeypatch):
    path = _xpt(tmp_path / "lab.xpt", pd.DataFrame({"A": [1.0, 2.0, 3.0], "B": ["x", "y", "z"]}))
    with (
        using(sheet_cells=5),
        pytest.raises(
            RawInputError, match=r"lab\.xpt: 3 rows x 2 columns is 6 cells, more than the limit "
        ),
    ):
        read_export(path).sheet("lab")
    with (
        using(file_bytes=100),
        pytest.raises(
            RawInputError, match=r"lab\.xpt: the file is [\d,]+ bytes, more than the limit"
        ),
    ):
        read_export(path).sheet("lab")
    fake = tmp_path / "ae.sas7bdat"
    fake.write_bytes(b"SUBJ,AE_TERM\n01-001,rash\n" * 40)
    with pytest.raises(RawInputError, match=r"ae\.sas7bdat: not a readable SAS dataset \("):
        read_export(fake).sheet("ae")


def test_folder_with_two_files_for_one_sheet_is_refused(tmp_path):
    _xpt(tmp_path / "lab.xpt", pd.DataFrame({"A": [1.0]}))
    (tmp_path / "lab.csv").write_text("A\n1\n")
    with pytest.raises(RawInputError, match=r"lab\.csv and lab\.xpt would both be sheet 'lab'"):
        read_export(tmp_path)


_ODM = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Snapshot" FileOID="F1"
     CreationDateTime="2020-01-01T00:00:00" ODMVersion="1.3.2">
 <Study OID="S1">
  <MetaDataVersion OID="M1" Name="v1">
   <FormDef OID="F.AE" Name="AE" Repeating="No">
    <ItemGroupRef ItemGroupOID="IG.AE" Mandatory="Yes"/>
   </FormDef>
   <ItemGroupDef OID="IG.AE" Name="AE" Repeating="Yes">
    <ItemRef ItemOID="I.TERM" Mandatory="Yes"/>
    <ItemRef ItemOID="I.START" Mandatory="No"/>
    <ItemRef ItemOID="I.NEVER" Mandatory="No"/>
   </ItemGroupDef>
   <ItemDef OID="I.TERM" Name="AE_TERM" DataType="text"/>
   <ItemDef OID="I.START" Name="START_DT" DataType="date"/>
   <ItemDef OID="I.NEVER" Name="NEVER_FILLED" DataType="text"/>
  </MetaDataVersion>
 </Study>
 <ClinicalData StudyOID="S1" MetaDataVersionOID="M1">
  <SubjectData SubjectKey="01-001">
   <SiteRef LocationOID="SITE01"/>
   <StudyEventData StudyEventOID="SE.AE">
    <FormData FormOID="F.AE">
     <ItemGroupData ItemGroupOID="IG.AE" ItemGroupRepeatKey="1">
      <ItemData ItemOID="I.TERM" Value=" fever "/>
      <ItemData ItemOID="I.START" Value="2019-03-02"/>
      <ItemData ItemOID="I.EXTRA" Value="x"/>
     </ItemGroupData>
     <ItemGroupData ItemGroupOID="IG.AE" ItemGroupRepeatKey="2">
      <ItemDataString ItemOID="I.TERM">rash &amp; itch</ItemDataString>
      <ItemData ItemOID="I.START" IsNull="Yes"/>
     </ItemGroupData>
    </FormData>
   </StudyEventData>
  </SubjectData>
 </ClinicalData>
</ODM>
"""


def test_odm_forms_become_sheets_with_key_columns_and_item_names(tmp_path):
    path = tmp_path / "study.xml"
    path.write_text(_ODM)
    export = read_export(path)
    assert export.sheet_names == ["AE"]
    sheet = export.sheet("AE")
    items = ["AE_TERM", "START_DT", "NEVER_FILLED", "I.EXTRA"]  # metadata order, then the rest
    assert sheet.columns == [*odm_reader.KEY_COLUMNS, *items]
    frame = sheet.frame
    assert frame["AE_TERM"].tolist() == ["fever", "rash & itch"]
    assert frame["START_DT"].tolist()[0] == "2019-03-02" and pd.isna(frame["START_DT"][1])
    assert frame["SiteRef"].tolist() == ["SITE01", "SITE01"]
    assert frame["ItemGroupRepeatKey"].tolist() == ["1", "2"]
    assert frame["NEVER_FILLED"].isna().all()
    assert frame[ROW].tolist() == [1, 2]
    assert sheet.where("AE_TERM", 2) == (
        "study.xml, form AE, record 2 (line 29, 01-001/SE.AE/F.AE/IG.AE[2]), column AE_TERM"
    )


_BOMB = """<?xml version="1.0"?>
<!DOCTYPE ODM [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<ODM><ClinicalData>&b;</ClinicalData></ODM>
"""

_EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE ODM SYSTEM "http://example.invalid/odm.dtd">
<ODM/>
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_BOMB, r"study\.xml, line 2: the file has a document type declaration"),
        (_EXTERNAL, r"study\.xml, line 2: the file has a document type declaration"),
        ("<ODM><ClinicalData></ODM>", r"study\.xml, line 1: not well-formed XML \(mismatched"),
        ("<Other/>", r"study\.xml, line 1: the file is not CDISC ODM \(its root element is Other"),
        ("<ODM><Study/></ODM>", r"study\.xml: the ODM file holds no ClinicalData"),
        (
            _ODM.replace('Key="2"', 'Key="2" TransactionType="Remove"'),
            r"study\.xml, line 29: the file removes data .*export the clinical data as a snapshot",
        ),
        (
            _ODM.replace('"I.EXTRA"', '"I.TERM"'),
            r"study\.xml, line 27: the file gives item I\.TERM twice in one ItemGroupData",
        ),
    ],
)
def test_odm_that_cannot_be_read_safely_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "study.xml"
    path.write_text(text)
    with pytest.raises(RawInputError, match=message):
        read_export(path)


def test_odm_limits_are_checked_before_the_file_is_parsed_whole(tmp_path, monkeypatch):
    path = tmp_path / "study.xml"
    path.write_text(_ODM)
    monkeypatch.setattr(odm_reader, "MAX_ELEMENTS", 10)
    with pytest.raises(RawInputError, match=r"study\.xml, line 15: the file has more than 10 XML"):
        read_export(path)
    with (
        using(file_bytes=1000),
        pytest.raises(
            RawInputError, match=r"study\.xml: the file is [\d,]+ bytes, more than the limit"
        ),
    ):
        read_export(path)
    monkeypatch.undo()
    deep = "<ODM>" + "<a>" * 70 + "</a>" * 70 + "</ODM>"
    path.write_text(deep)
    with pytest.raises(RawInputError, match=r"nests XML elements more than 64 deep"):
        read_export(path)
