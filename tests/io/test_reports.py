"""report.json and report.xlsx: every finding listed, counts of records, the P21 layout."""

from __future__ import annotations

import json

import pytest
from openpyxl import load_workbook

from trialflow.errors import Finding, Source
from trialflow.io import reports
from trialflow.io.reports import summarise, write_report_json, write_report_xlsx


def end_missing(count: int) -> list[Finding]:
    """``count`` AE records without an end date, as the end-missing rule reports them."""
    return [
        Finding(
            "end-missing",
            "warning",
            f"AEENDTC is missing on record {r}",
            dataset="AE",
            variable="AEENDTC",
            record=r,
            usubjid=f"S1-{r:03d}",
            refs=("SD1234",),
            source=Source("ae.xpt", None, r, "AEENDTC"),
        )
        for r in range(1, count + 1)
    ]


FILE_LEVEL = Finding("define-missing", "error", "define.xml is missing")
FORMULA = Finding(
    "ct-value-not-in-codelist",
    "error",
    "SEX value '=1+1' is not a submission value",
    dataset="DM",
    variable="SEX",
    record=2,
    usubjid="S1-002",
    value="=1+1",
)


def test_counts_are_of_records_affected():
    summary = summarise([*end_missing(478), FORMULA, FILE_LEVEL])
    assert summary["total"] == 480
    assert summary["by_code"] == {
        "ct-value-not-in-codelist": 1,
        "define-missing": 1,
        "end-missing": 478,
    }
    assert summary["by_severity"] == {"error": 2, "warning": 478}
    assert summary["by_dataset"] == {"": 1, "AE": 478, "DM": 1}
    assert summary["by_dataset_severity"] == {
        "": {"error": 1, "warning": 0, "notice": 0},
        "AE": {"error": 0, "warning": 478, "notice": 0},
        "DM": {"error": 1, "warning": 0, "notice": 0},
    }


def test_report_json_lists_every_finding_in_the_documented_shape(tmp_path):
    found = [*end_missing(478), FILE_LEVEL]
    path = write_report_json(found, tmp_path / "report.json", datasets={"AE": 500})
    body = json.loads(path.read_text(encoding="utf-8"))
    assert list(body) == ["findings", "summary", "datasets"]
    assert [f["record"] for f in body["findings"]] == [*range(1, 479), None]
    assert body["findings"][477] == found[477].to_dict()  # the 478th record, as to_dict has it
    assert body["findings"][-1]["source"] is None
    assert body["summary"]["by_code"]["end-missing"] == 478
    assert body["datasets"] == {"AE": 500}


def test_report_json_text_is_what_json_dumps_writes(tmp_path):
    odd = Finding(
        "value-leading-spaces",
        "warning",
        'AETERM " Céphalée\\x" starts\twith a space\n\x01',
        dataset="AE",
        variable="AETERM",
        record=7,
        value=" Céphalée",
        refs=("SD1234", "CORE-000001"),
        source=Source("raw/AE.csv", "AE", 8, "TERM"),
    )
    text = write_report_json([odd], tmp_path / "r.json").read_text(encoding="utf-8")
    assert text.splitlines()[2] == "    " + json.dumps(odd.to_dict(), ensure_ascii=False)


def test_report_json_streams_in_chunks_and_is_byte_identical_on_rerun(tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "_CHUNK", 7)  # chunk joins are where a stream goes wrong
    found = end_missing(30)
    first = write_report_json(found, tmp_path / "a.json").read_bytes()
    second = write_report_json(found, tmp_path / "b.json").read_bytes()
    assert first == second
    assert [f["record"] for f in json.loads(first)["findings"]] == list(range(1, 31))
    lines = first.decode().splitlines()
    assert lines[:2] == ["{", '  "findings": [']
    assert sum(line.startswith('    {"code": "end-missing"') for line in lines) == 30


def test_an_empty_report_is_the_documented_shape(tmp_path):
    body = json.loads(write_report_json([], tmp_path / "r.json").read_text())
    assert body["findings"] == [] and body["summary"]["total"] == 0


def rows(sheet) -> list[tuple]:
    return list(sheet.iter_rows(values_only=True))


def test_workbook_has_the_p21_sheets_with_frozen_filtered_headers(tmp_path):
    found = [*end_missing(60), FORMULA, FILE_LEVEL]
    path = write_report_xlsx(found, tmp_path / "r.xlsx", datasets={"AE": 75, "DM": 16})
    book = load_workbook(path)
    assert book.sheetnames == ["Dataset Summary", "Issue Summary", "Details"]
    for sheet in book:
        assert sheet.freeze_panes == "A2"
        width = sheet.max_column
        assert sheet.auto_filter.ref == f"A1:{chr(ord('A') + width - 1)}{sheet.max_row}"
    assert rows(book["Dataset Summary"]) == [
        ("Dataset", "Label", "Records", "Errors", "Warnings", "Notices"),
        ("-", None, None, 1, 0, 0),
        ("AE", "Adverse Events", 75, 0, 60, 0),
        ("DM", "Demographics", 16, 1, 0, 0),
    ]
    issues = rows(book["Issue Summary"])
    assert issues[0] == ("Dataset", "Code", "CDISC / P21 ids", "Severity", "Message", "Records")
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in issues[1:]] == [
        ("-", "define-missing", None, "error", 1),
        ("AE", "end-missing", "SD1234", "warning", 60),
        ("DM", "ct-value-not-in-codelist", None, "error", 1),
    ]
    details = rows(book["Details"])
    assert details[0] == (
        "Dataset",
        "Record",
        "USUBJID",
        "Variable",
        "Value",
        "Code",
        "CDISC / P21 ids",
        "Severity",
        "Message",
        "Source file",
        "Source sheet",
        "Source row",
        "Source column",
    )
    assert len(details) == 1 + 62
    assert details[55][:3] == ("AE", 55, "S1-055")  # the 55th record, past any old cap
    assert details[55][9:] == ("ae.xpt", None, 55, "AEENDTC")
    assert details[61][4] == "'=1+1"  # formula-like text neutralised, kept as text


def test_details_continue_on_further_sheets_past_the_row_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "XLSX_MAX_ROWS", 4)
    path = write_report_xlsx(end_missing(10), tmp_path / "r.xlsx", datasets={"AE": 10})
    book = load_workbook(path)
    assert book.sheetnames == [
        "Dataset Summary",
        "Issue Summary",
        "Details",
        "Details (2)",
        "Details (3)",
    ]
    records = [[r[1] for r in rows(book[name])[1:]] for name in book.sheetnames[2:]]
    assert records == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert book["Details (3)"].auto_filter.ref == "A1:M3"
    assert rows(book["Dataset Summary"])[-1][0] == (
        "10 findings: the details continue over 3 sheets (Details, Details (2), "
        "Details (3)), 4 rows each at most."
    )


def test_dataset_labels_are_the_implementation_guides(tmp_path):
    path = write_report_xlsx([], tmp_path / "r.xlsx", datasets={"ADSL": 3, "LB": 9, "XX": 1})
    assert [r[:3] for r in rows(load_workbook(path)["Dataset Summary"])[1:]] == [
        ("ADSL", "Subject-Level Analysis Dataset", 3),
        ("LB", "Laboratory Test Results", 9),
        ("XX", None, 1),
    ]


@pytest.mark.parametrize("count", [0, 60])
def test_workbook_is_byte_identical_on_rerun(tmp_path, count):
    found = end_missing(count)
    first = write_report_xlsx(found, tmp_path / "a.xlsx", datasets={"AE": 60}).read_bytes()
    second = write_report_xlsx(found, tmp_path / "b.xlsx", datasets={"AE": 60}).read_bytes()
    assert first == second
    assert not list(tmp_path.glob(".*"))  # the staging file is gone


HOSTILE = ["ok", "=1+1", "a<b&c>d", "x\x01y\x1fz", None, "+3", "-", "@a", "\tq", "é ünï", "'", ""]


def test_details_columns_give_the_bytes_rows_xml_gives():
    """The column-wise Details writer (pyarrow) and the row-by-row one agree byte for byte on
    text XML must escape, control characters, formula-like text, nulls and numbers."""
    from trialflow.io.workbook import columns_xml, rows_xml

    text = [HOSTILE[i % len(HOSTILE)] for i in range(200)]
    ints = [None if i % 7 == 0 else i * 1_000_003 for i in range(200)]
    rows = [[t, n, t] for t, n in zip(text, ints, strict=True)]
    expected = "".join(rows_xml(rows)).encode()
    got = b"".join(columns_xml([(text, "text"), (ints, "int"), (text, "text")], chunk=64))
    assert got == expected
    assert b"_x0001_" in got and b"a&lt;b&amp;c&gt;d" in got


def test_control_characters_and_formulas_in_every_sheet_are_written_as_text(tmp_path):
    """A message or value with a control character (read from a hostile file) does not stop the
    workbook: it is written as OOXML's _xHHHH_ escape in the summary and the details, and
    formula-like text keeps its apostrophe."""
    f = Finding(
        "not-in-catalogue",
        "error",
        "bad\x01value",
        dataset="LB",
        value="=SUM(A1)",
        record=4,
        source=Source("lb.xpt", None, 4, "LBORRES"),
    )
    out = write_report_xlsx([f], tmp_path / "r.xlsx", datasets={"LB": 4})
    book = load_workbook(out)
    issue = [c.value for c in book["Issue Summary"][2]]
    detail = [c.value for c in book["Details"][2]]
    assert issue[4] == detail[8] == "bad_x0001_value"
    assert detail[4] == "'=SUM(A1)" and detail[1] == 4
