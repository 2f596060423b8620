"""trialflow validate on trialflow's own output and on packages with seeded defects."""

import json
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS, ROOT

from trialflow.cli import cli
from trialflow.io.xpt import write_xpt
from trialflow.pipeline import map_study, xpt_variables
from trialflow.validation.core import catalogue_markdown


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return map_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, out, on_issue="none")


def test_run_validates_its_own_output_with_no_errors_or_warnings(demo):
    serious = [f.one_line() for f in demo.findings if f.severity in ("error", "warning")]
    assert serious == []
    assert demo.validation is not None and demo.validation.rules_run >= 40


def test_validate_a_clean_package_exits_0_and_writes_both_reports(demo, tmp_path):
    json_out, xlsx_out = tmp_path / "r.json", tmp_path / "r.xlsx"
    result = CliRunner().invoke(
        cli, ["validate", str(demo.out / "sdtm"), "--json", str(json_out), "--xlsx", str(xlsx_out)]
    )
    assert result.exit_code == 0, result.output
    # the eight mapped domains (EX DM VS LB AE MH DS CM), SUPPEX and the seven trial design
    # datasets (TS TA TE TV TI SV SE)
    assert "validated 16 datasets" in result.output
    assert all(f"\n  {name} " in result.output for name in ("TS", "TV", "SV", "SE", "DS"))
    assert report_datasets(json_out) == {
        "EX", "DM", "VS", "LB", "AE", "MH", "DS", "CM", "SUPPEX", "TS", "TA", "TE", "TV", "TI",
        "SV", "SE",
    }  # fmt: skip
    report = json.loads(json_out.read_text())
    assert report["summary"]["by_severity"].get("error", 0) == 0
    assert report["datasets"]["LB"] == 609
    details = pd.read_excel(xlsx_out, sheet_name="Details", engine="calamine")
    assert list(details.columns[:3]) == ["Dataset", "Record", "USUBJID"]
    datasets = pd.read_excel(xlsx_out, sheet_name="Dataset Summary", engine="calamine")
    assert datasets.set_index("Dataset").at["LB", "Records"] == 609


def report_datasets(path) -> set[str]:
    return set(json.loads(path.read_text())["datasets"])


def _rewrite(out, domain, frame):
    path = out / f"{domain.lower()}.xpt"
    write_xpt(frame, path, dataset=domain, variables=xpt_variables(domain, frame))


def test_seeded_defects_are_reported_at_dataset_variable_and_record(demo, tmp_path):
    sdtm = tmp_path / "sdtm"
    shutil.copytree(demo.out / "sdtm", sdtm)
    dm = demo.sdtm.domains["DM"].copy()
    dm.loc[2, "SEX"] = "X"
    _rewrite(sdtm, "DM", dm)
    lb = demo.sdtm.domains["LB"].copy()
    lb.loc[10, "LBDY"] = 0.0
    lb.loc[20, "LBSTRESC"] = "123"
    _rewrite(sdtm, "LB", lb)
    json_out = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["validate", str(sdtm), "--json", str(json_out)])
    assert result.exit_code == 1
    found = {
        (f["code"], f["dataset"], f["variable"], f["record"])
        for f in json.loads(json_out.read_text())["findings"]
        if f["severity"] == "error"
    }
    assert ("ct-value-not-in-codelist", "DM", "SEX", 3) in found
    assert ("study-day-mismatch", "LB", "LBDY", 11) in found
    assert ("stresc-stresn-mismatch", "LB", "LBSTRESC", 21) in found
    # define.xml binds SEX to its codelist of F and M: 'X' is not a term of it either
    assert ("define-value-not-in-codelist", "DM", "SEX", 3) in found
    assert len(found) == 4


def test_every_seeded_record_past_the_50th_is_reported_and_counted(demo, tmp_path):
    sdtm = tmp_path / "sdtm"
    shutil.copytree(demo.out / "sdtm", sdtm)
    lb = demo.sdtm.domains["LB"].copy()
    seeded = lb.index[lb["LBDY"].notna() & lb["LBDY"].ne(0)][:60]
    lb.loc[seeded, "LBDY"] = 0.0  # no study day 0 in SDTM: each one a study-day-mismatch
    _rewrite(sdtm, "LB", lb)
    json_out, xlsx_out = tmp_path / "r.json", tmp_path / "r.xlsx"
    args = ["validate", str(sdtm), "--json", str(json_out), "--xlsx", str(xlsx_out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    report = json.loads(json_out.read_text())
    found = [
        (f["record"], f["usubjid"]) for f in report["findings"] if f["code"] == "study-day-mismatch"
    ]
    assert found == [(int(i) + 1, lb.at[i, "USUBJID"]) for i in seeded]
    assert report["summary"]["by_code"]["study-day-mismatch"] == 60
    assert report["summary"]["by_dataset_severity"]["LB"] == {
        "error": 60,
        "warning": 0,
        "notice": 0,
    }
    assert not any("more record" in f["message"] for f in report["findings"])
    issues = pd.read_excel(xlsx_out, sheet_name="Issue Summary", engine="calamine")
    row = issues[issues["Code"].eq("study-day-mismatch")]
    assert (row["Dataset"].tolist(), row["Records"].tolist()) == (["LB"], [60])
    details = pd.read_excel(xlsx_out, sheet_name="Details", engine="calamine")
    assert details["Code"].eq("study-day-mismatch").sum() == 60
    # the console: three findings of the rule and one line counting the other 57
    lines = [line for line in result.output.splitlines() if "study-day-mismatch" in line]
    assert len(lines) == 1 + 3 + 1  # the by-rule count, three findings, the rest
    assert lines[-1].strip() == (
        f"... and 57 more records (error study-day-mismatch) in {json_out}"
    )
    assert f"LB.LBDY record {int(seeded[0]) + 1} " in lines[1]


def test_one_unreadable_file_is_reported_and_the_rest_validated(demo, tmp_path):
    sdtm = tmp_path / "sdtm"
    shutil.copytree(demo.out / "sdtm", sdtm)
    data = (sdtm / "ae.xpt").read_bytes()
    (sdtm / "ae.xpt").write_bytes(data[: len(data) // 2 + 7])
    result = CliRunner().invoke(cli, ["validate", str(sdtm)])
    assert result.exit_code == 1
    assert "file-unreadable" in result.output and "ae.xpt" in result.output
    assert "validated 15 datasets" in result.output  # the 16 of the package but AE


def test_missing_path_is_exit_2(tmp_path):
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {tmp_path / 'nothing'}: no such file or folder"


def test_rules_docs_are_generated_from_the_catalogue():
    assert (ROOT / "docs" / "rules.md").read_text() == catalogue_markdown()


def test_run_traces_validation_findings_back_to_the_raw_cell(tmp_path):
    from support import tiny_sheets, write_csv_export

    sheets = tiny_sheets()
    sheets["LAB"][0]["REF_LOW"] = "8.0"
    sheets["LAB"][0]["REF_HIGH"] = "6.1"
    export = write_csv_export(tmp_path / "raw", sheets)
    run = map_study(EXAMPLE_SPECS, export, tmp_path / "out", on_issue="none")
    [f] = [f for f in run.findings if f.code == "stnrlo-above-stnrhi"]
    assert (f.dataset, f.variable, f.usubjid) == ("LB", "LBSTNRLO", "HUCMSC-T2DM-01-001")
    assert (f.source.file, f.source.sheet, f.source.row) == ("raw/LAB.csv", "LAB", 2)
    report = json.loads((tmp_path / "out" / "validation" / "report.json").read_text())
    assert any(
        r["code"] == "stnrlo-above-stnrhi" and r["source"]["row"] == 2 for r in report["findings"]
    )
