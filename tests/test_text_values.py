"""Values that can't go into a submission file as they are: every one reported in one pass,
with the raw cell it came from, and control characters reported when mapping and validating."""

import json

import pandas as pd
import pyreadstat
import pytest
from click.testing import CliRunner
from support import EXAMPLE_SPECS, tiny_sheets, write_csv_export

from trialflow.cli import cli

AE = dict(
    SUBJ="01-001",
    AE_NO="1",
    AE_TERM="Headache",
    PT="Headache",
    SOC="Nervous system disorders",
    START_DT="2019-01-09",
    END_DT="2019-01-10",
    SEVERITY="Mild",
    SERIOUS="N",
    RELATED="Related",
    OUTCOME="Recovered",
    ACTION="None",
)


@pytest.fixture
def runner():
    return CliRunner()


def _export(tmp_path, ae_terms, weight=None):
    sheets = tiny_sheets()
    sheets["AE"] = [
        dict(AE, AE_NO=str(i), AE_TERM=term, START_DT=f"2019-01-{9 + i:02d}")
        for i, term in enumerate(ae_terms, 1)
    ]
    if weight is not None:
        sheets["VITALS"][0]["WEIGHT_KG"] = weight  # subject 01-001, Day 0: raw row 2
    return write_csv_export(tmp_path / "raw", sheets)


def _report(out):
    return json.loads((out / "validation" / "report.json").read_text(encoding="utf-8"))


def test_every_value_xpt_cannot_hold_is_reported_in_one_run_and_nothing_is_written(
    runner, tmp_path
):
    # two bad cells XPT v5 can't hold: a non-ASCII AE term and a 250-byte AE term (XPT v5
    # holds 200 bytes); and the text 'inf' as a weight, which is not a plain number: it stays
    # the original result (VSORRES, VSSTRESC) with a finding naming its cell, and never
    # becomes an infinite VSSTRESN that no IBM float holds
    export = _export(tmp_path, ["Fièvre", "x" * 250], weight="inf")
    out = tmp_path / "o"
    args = ["run", str(EXAMPLE_SPECS), "--raw", str(export), "--out", str(out), "-q"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "internal error" not in result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(
        "Error: 2 values or attributes can't be written to SAS XPORT v5 unchanged, so no "
        "dataset was written"
    )
    listed = lines[1:]
    assert len(listed) == 2
    assert any(
        line.startswith("  error xpt-value-not-ascii: AE.AETERM record 1")
        and line.endswith("[raw/AE.csv, sheet AE, row 2, column AE_TERM]")
        for line in listed
    )
    assert any(
        line.startswith("  error xpt-value-too-long: AE.AETERM record 2")
        and line.endswith("[raw/AE.csv, sheet AE, row 3, column AE_TERM]")
        for line in listed
    )
    # no dataset file and no lineage half-written: only the report of what to fix (and the
    # manifest of the refused run's folder)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "manifest.json",
        "validation/report.json",
        "validation/report.xlsx",
    ]
    findings = _report(out)["findings"]
    cells = sorted(
        (f["code"], f["dataset"], f["source"]["file"], f["source"]["row"], f["source"]["column"])
        for f in findings
        if f["code"].startswith("xpt-")
    )
    assert cells == [
        ("xpt-value-not-ascii", "AE", "raw/AE.csv", 2, "AE_TERM"),
        ("xpt-value-too-long", "AE", "raw/AE.csv", 3, "AE_TERM"),
    ]
    weight = [
        (f["code"], f["value"], f["source"]["row"], f["source"]["column"])
        for f in findings
        if f["source"] and f["source"].get("column") == "WEIGHT_KG"
    ]
    assert ("result-not-numeric", "inf", 2, "WEIGHT_KG") in weight


def test_map_lists_the_problems_too(runner, tmp_path):
    export = _export(tmp_path, ["Fièvre"], weight="inf")
    out = tmp_path / "o"
    args = ["map", str(EXAMPLE_SPECS), "--raw", str(export), "--out", str(out), "-q"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "internal error" not in result.output
    assert "Error: 1 value or attribute can't be written" in result.output
    assert not (out / "sdtm").exists() and not (out / "lineage").exists()


def test_dataset_json_alone_takes_non_ascii_text(runner, tmp_path):
    # the XPT checks apply to XPT files only: Dataset-JSON is UTF-8
    export = _export(tmp_path, ["Fièvre"])
    out = tmp_path / "o"
    args = ["map", str(EXAMPLE_SPECS), "--raw", str(export), "--out", str(out), "-q",
            "--format", "dataset-json"]  # fmt: skip
    result = runner.invoke(cli, args)
    assert "internal error" not in result.output
    assert result.exit_code in (0, 1), result.output
    assert (out / "sdtm" / "ae.json").is_file()


def test_a_control_character_is_a_mapping_finding_naming_the_raw_cell(runner, tmp_path):
    export = _export(tmp_path, ["Head\x1bache", "Nau\tsea\n"])
    out = tmp_path / "o"
    args = ["map", str(EXAMPLE_SPECS), "--raw", str(export), "--out", str(out), "-q"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "internal error" not in result.output
    found = [f for f in _report(out)["findings"] if f["code"] == "value-control-character"]
    assert [
        (f["dataset"], f["variable"], f["record"], f["value"], f["source"]) for f in found
    ] == [
        ("AE", "AETERM", 1, "Head\\x1bache",
         {"file": "raw/AE.csv", "sheet": "AE", "row": 2, "column": "AE_TERM"}),
        ("AE", "AETERM", 2, "Nau\\tsea\\n",
         {"file": "raw/AE.csv", "sheet": "AE", "row": 3, "column": "AE_TERM"}),
    ]  # fmt: skip
    # the mapping names the same raw cells, and keeps the trailing line break of the second
    raw = [f for f in _report(out)["findings"] if f["code"] == "raw-control-character"]
    assert [
        (f["severity"], f["value"], f["source"]["row"], f["source"]["column"]) for f in raw
    ] == [
        ("warning", "Head\\x1bache", 2, "AE_TERM"),
        ("warning", "Nau\\tsea\\n", 3, "AE_TERM"),
    ]
    # ESC is U+001B, TAB U+0009, LF U+000A (ASCII)
    assert (
        "U+001B (ESC)" in found[0]["message"] and "U+0009 (TAB), U+000A (LF)" in found[1]["message"]
    )
    # the value is kept as it was, not altered silently: the XPT holds the raw text
    ae, _ = pyreadstat.read_xport(str(out / "sdtm" / "ae.xpt"))
    assert ae["AETERM"].tolist() == ["Head\x1bache", "Nau\tsea\n"]

    # validate on the written XPT package finds the same values
    result = runner.invoke(cli, ["validate", str(out / "sdtm"), "--json", str(tmp_path / "v.json")])
    assert result.exit_code == 1
    report = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    found = [f for f in report["findings"] if f["code"] == "value-control-character"]
    assert [(f["dataset"], f["variable"], f["record"]) for f in found] == [
        ("AE", "AETERM", 1),
        ("AE", "AETERM", 2),
    ]


def test_validate_finds_control_characters_in_a_csv_package(runner, tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    pd.DataFrame(
        {
            "STUDYID": ["S1", "S1", "S1"],
            "DOMAIN": ["AE", "AE", "AE"],
            "USUBJID": ["S1-001", "S1-001", "S1-002"],
            "AESEQ": [1, 2, 1],
            "AETERM": ["HEADACHE", "NAUSEA\r\nVOMITING", "RASH\x7f"],
        }
    ).to_csv(package / "ae.csv", index=False)
    out = tmp_path / "v.json"
    result = runner.invoke(cli, ["validate", str(package), "--json", str(out)])
    assert "internal error" not in result.output
    assert result.exit_code == 1
    found = [
        f for f in json.loads(out.read_text())["findings"]
        if f["code"] == "value-control-character"
    ]  # fmt: skip
    assert [(f["variable"], f["record"], f["value"]) for f in found] == [
        ("AETERM", 2, "NAUSEA\\r\\nVOMITING"),
        ("AETERM", 3, "RASH\\x7f"),
    ]
    assert "U+000D (CR), U+000A (LF)" in found[0]["message"]
    assert "U+007F (DEL)" in found[1]["message"]


def test_derive_reports_every_adam_value_xpt_cannot_hold_and_writes_no_dataset(runner, tmp_path):
    export = _export(tmp_path, ["Headache"])
    mapped = tmp_path / "o"
    args = ["map", str(EXAMPLE_SPECS), "--raw", str(export), "--out", str(mapped), "-q"]
    assert runner.invoke(cli, args).exit_code in (0, 1)
    # an SDTM package as CSV (UTF-8) whose AE term XPT can't hold reaches ADAE
    ae, _ = pyreadstat.read_xport(str(mapped / "sdtm" / "ae.xpt"))
    ae.loc[0, "AETERM"] = "Fièvre"
    (mapped / "sdtm" / "ae.xpt").unlink()
    ae.to_csv(mapped / "sdtm" / "ae.csv", index=False)
    out = tmp_path / "a"
    args = ["derive", str(EXAMPLE_SPECS), "--sdtm", str(mapped / "sdtm"), "--out", str(out), "-q"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "internal error" not in result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("Error: 1 value or attribute can't be written to SAS XPORT v5")
    assert lines[1].startswith("  error xpt-value-not-ascii: ADAE.AETERM record 1: value 'Fièvre'")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "manifest.json",
        "validation/report.json",
        "validation/report.xlsx",
    ]


def test_every_offending_record_is_listed_in_the_report_and_20_per_variable_on_screen(tmp_path):
    from trialflow.errors import XptError
    from trialflow.io.outputs import OutputFolder
    from trialflow.pipeline import _refuse_unwritable, xpt_problems
    from trialflow.sdtm.build import SdtmResult

    # 25 records XPT can't hold in one variable: write_xpt's own message stops at 20 + a count
    terms = pd.DataFrame({"AETERM": [f"NAUSÉE {i}" for i in range(25)]})
    problems = xpt_problems(SdtmResult({"AE": terms}, {}, []))
    assert [f.record for f in problems] == list(range(1, 26))
    assert {f.code for f in problems} == {"xpt-value-not-ascii"}
    with pytest.raises(XptError) as caught, OutputFolder(tmp_path, "test") as folder:
        _refuse_unwritable(problems, [], folder, {})
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("25 values or attributes can't be written")
    assert len(lines) == 1 + 20 + 1
    assert lines[-1] == "  ... and 5 more xpt-value-not-ascii in AE.AETERM (each in the report)"
    report = json.loads((tmp_path / "validation" / "report.json").read_text(encoding="utf-8"))
    assert len(report["findings"]) == 25
