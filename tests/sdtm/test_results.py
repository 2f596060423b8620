"""Standardised results (--STRESC/--STRESN/--STRESU) of values that are not plain numbers, and
raw columns no spec reads: each such value is in the output or named by a finding."""

import csv
import json

import pandas as pd
from click.testing import CliRunner
from support import EXAMPLE_SPECS, tiny_sheets, write_csv_export

from trialflow.cli import cli
from trialflow.errors import Source
from trialflow.mapping.load import load_study
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm

# tiny_sheets' LAB form: CSV line 2 is subject 01-001's fasting glucose in mmol/L (the
# standard unit, no conversion), line 3 subject 02-001's in mg/dL (converted: divide by 18.016,
# 2 decimals, lb.yaml).
SAME_UNIT = ("HUCMSC-T2DM-01-001", 2)
CONVERTED = ("HUCMSC-T2DM-02-001", 3)


GLUCOSE = {"HUCMSC-T2DM-01-001": "Glucose (fasting)", "HUCMSC-T2DM-02-001": "FPG"}


def _lab_result(sheets, usubjid, value):
    subj = usubjid.removeprefix("HUCMSC-T2DM-")
    row = next(r for r in sheets["LAB"] if r["SUBJ"] == subj and r["TEST"] == GLUCOSE[usubjid])
    row["RESULT"] = value


def _with_results(values):
    """tiny_sheets with one more fasting glucose per value and subject (same visit, a minute
    apart), and the CSV line and LBDTC of each: {(usubjid, value): (line, lbdtc)}."""
    sheets = tiny_sheets()
    lab = sheets["LAB"]
    where = {}
    for usubjid in GLUCOSE:
        subj = usubjid.removeprefix("HUCMSC-T2DM-")
        base = next(r for r in lab if r["SUBJ"] == subj and r["TEST"] == GLUCOSE[usubjid])
        for k, value in enumerate(values):
            lab.append({**base, "LAB_TIME": f"08:{k:02d}", "RESULT": value})
            where[usubjid, value] = (len(lab) + 1, f"08:{k:02d}")
    return sheets, where


def _build(tmp_path, sheets):
    export = write_csv_export(tmp_path / "raw", sheets)
    return build_sdtm(load_study(EXAMPLE_SPECS), read_export(export), on_issue="none")


def _glucose(result, usubjid, time=None):
    lb = result.domains["LB"]
    rows = lb.loc[(lb["USUBJID"] == usubjid) & (lb["LBTESTCD"] == "GLUC")]
    if time is not None:
        rows = rows.loc[rows["LBDTC"].str.endswith("T" + time)]
    [row] = rows.to_dict("records")
    return row


def _result_findings(result):
    return [f for f in result.findings if f.code.startswith("result-")]


TEXT = ["hemolysed", "N/A", "pending", "0x10", "nan", "1_000", "inf", "Infinity", "1e999"]
COMMA = ["78,5", "10,37", "123,4", "1,000"]


def test_text_results_and_comma_decimals_are_kept_as_text_without_a_unit_and_named(tmp_path):
    sheets, where = _with_results(TEXT + COMMA)
    result = _build(tmp_path, sheets)
    found = {
        (f.usubjid, f.value): (f.code, f.severity, f.dataset, f.variable, f.source)
        for f in _result_findings(result)
    }
    assert len(found) == len(_result_findings(result)) == len(where)  # one per value
    for (usubjid, value), (line, time) in where.items():
        code, severity = (
            ("result-decimal-comma", "error")
            if value in COMMA
            else ("result-not-numeric", "warning")
        )
        source = Source("raw/LAB.csv", "LAB", line, "RESULT")
        assert found[usubjid, value] == (code, severity, "LB", "LBORRES", source)
        row = _glucose(result, usubjid, time)
        # SDTMIG: --STRESC of a result that is not a number is the original text, which is in
        # no unit: the standard unit (mmol/L) is not claimed for it, converted or not
        assert row["LBORRES"] == row["LBSTRESC"] == value
        assert pd.isna(row["LBSTRESN"]) and pd.isna(row["LBSTRESU"]), (usubjid, value)


def test_limits_are_valid_character_results_with_their_unit_and_no_finding(tmp_path):
    sheets, where = _with_results(["<0.1", ">500", "<1.8"])
    result = _build(tmp_path, sheets)
    assert _result_findings(result) == []
    expected = {
        ("HUCMSC-T2DM-01-001", "<0.1"): "<0.1",
        ("HUCMSC-T2DM-01-001", ">500"): ">500",
        ("HUCMSC-T2DM-01-001", "<1.8"): "<1.8",
        # mg/dL / 18.016 to 2 decimals (lb.yaml): 0.1/18.016 = 0.00555 -> 0.01,
        # 500/18.016 = 27.7531 -> 27.75, 1.8/18.016 = 0.09991 -> 0.10 (written 0.1)
        ("HUCMSC-T2DM-02-001", "<0.1"): "<0.01",
        ("HUCMSC-T2DM-02-001", ">500"): ">27.75",
        ("HUCMSC-T2DM-02-001", "<1.8"): "<0.1",
    }
    for (usubjid, value), (_, time) in where.items():
        row = _glucose(result, usubjid, time)
        assert (row["LBSTRESC"], row["LBSTRESU"]) == (expected[usubjid, value], "mmol/L")
        assert pd.isna(row["LBSTRESN"])


def test_plain_decimals_are_numbers(tmp_path):
    sheets, where = _with_results([" 9.3 ", "1e1", ".5"])
    result = _build(tmp_path, sheets)
    assert _result_findings(result) == []
    expected = {" 9.3 ": 9.3, "1e1": 10.0, ".5": 0.5}
    for (usubjid, value), (_, time) in where.items():
        if usubjid == "HUCMSC-T2DM-01-001":  # mmol/L: the number as collected
            row = _glucose(result, usubjid, time)
            assert (row["LBSTRESN"], row["LBSTRESU"]) == (expected[value], "mmol/L")


def test_a_reference_limit_that_is_not_a_number_is_named_and_left_empty(tmp_path):
    sheets = tiny_sheets()
    sheets["LAB"][0]["REF_LOW"] = "inf"  # on main an infinite LBSTNRLO stopped the XPT writer
    result = _build(tmp_path, sheets)
    [f] = [f for f in result.findings if f.code == "value-not-numeric"]
    assert (f.variable, f.value, f.source.row, f.source.column) == ("LBSTNRLO", "inf", 2, "REF_LOW")
    row = _glucose(result, SAME_UNIT[0])
    assert row["LBORNRLO"] == "inf" and pd.isna(row["LBSTNRLO"]) and row["LBSTNRHI"] == 6.1


def _add_column(export, sheet, name, values):
    path = export / f"{sheet}.csv"
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    rows[0].append(name)
    for row, value in zip(rows[1:], values + [""] * len(rows), strict=False):
        row.append(value)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def test_each_raw_column_no_spec_reads_is_one_notice_with_its_count(tmp_path):
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    _add_column(export, "LAB", "COMMENT", ["repeat sample", "", "lipaemic"])
    _add_column(export, "DEMOG", "INITIALS", [])
    result = build_sdtm(load_study(EXAMPLE_SPECS), read_export(export), on_issue="none")
    found = sorted(
        (f.severity, f.dataset, f.source.file, f.source.sheet, f.source.row, f.source.column,
         f.value)
        for f in result.findings
        if f.code == "raw-column-unmapped"
    )  # fmt: skip
    # INITIALS holds no value: nothing of it is lost, so no notice
    assert found == [("notice", "LB", "raw/LAB.csv", "LAB", None, "COMMENT", "2")]


def test_the_tiny_export_has_no_unmapped_column(tmp_path):
    result = _build(tmp_path, tiny_sheets())
    assert [f for f in result.findings if f.code == "raw-column-unmapped"] == []


def test_map_reports_text_results_blank_results_and_extra_columns_by_cell(tmp_path):
    sheets = tiny_sheets()
    _lab_result(sheets, SAME_UNIT[0], "78,5")
    _lab_result(sheets, CONVERTED[0], "hemolysed")
    fcp = next(r for r in sheets["LAB"] if r["SUBJ"] == "02-001" and r["TEST"] == "FCP")
    fcp["RESULT"] = ""
    fcp_line = sheets["LAB"].index(fcp) + 2
    export = write_csv_export(tmp_path / "raw", sheets)
    _add_column(export, "LAB", "COMMENT", ["x"])
    out = tmp_path / "out"
    run = CliRunner().invoke(
        cli, ["map", str(EXAMPLE_SPECS), "--raw", str(export), "--out", str(out), "-q"]
    )
    assert run.exit_code == 1, run.output  # the comma decimal is an error
    assert "internal error" not in run.output and "Traceback" not in run.output
    report = json.loads((out / "validation" / "report.json").read_text())
    cells = sorted(
        (f["code"], f["source"]["row"], f["source"]["column"], f["value"])
        for f in report["findings"]
        if f["dataset"] == "LB" and f["code"] not in ("normal-range-not-continuous",)
    )
    assert cells == [
        ("orres-missing", fcp_line, "RESULT", None),
        ("raw-column-unmapped", None, "COMMENT", "1"),
        ("result-decimal-comma", 2, "RESULT", "78,5"),
        ("result-not-numeric", 3, "RESULT", "hemolysed"),
    ]
    # the blank result's record claims no standard unit (no stresu-without-stresc error)
    assert "stresu-without-stresc" not in {f["code"] for f in report["findings"]}
