"""`trialflow run` and `trialflow derive`: ADaM XPT files, lineage, and the ADaM checks on them."""

from __future__ import annotations

import csv
import json
import re
import shutil
from decimal import Decimal

import pandas as pd
import pyreadstat
import pytest
from click.testing import CliRunner
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS, sas_format

from trialflow.adam.metadata import adam_variables
from trialflow.cli import cli
from trialflow.pipeline import run_study

ADAM = ("adsl", "adlb", "advs", "adae")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return run_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, out, on_issue="none")


def test_run_writes_adam_xpt_with_metadata_labels_order_and_sas_dates(run):
    serious = [f.one_line() for f in run.findings if f.severity in ("error", "warning")]
    assert serious == []
    for name in ADAM:
        frame, meta = pyreadstat.read_xport(str(run.out / "adam" / f"{name}.xpt"))
        assert meta.table_name == name.upper()
        expected = adam_variables(name.upper()).set_index("name")
        assert list(frame.columns) == [c for c in expected.index if c in frame.columns]
        for column, label in meta.column_names_to_labels.items():
            assert label == expected.at[column, "label"], (name, column)
    adsl, meta = pyreadstat.read_xport(str(run.out / "adam" / "adsl.xpt"))
    assert sas_format(meta.original_variable_types["TRTSDT"]) == ("DATE", 9, 0)
    assert sas_format(meta.original_variable_types["TRTSDTM"]) == ("DATETIME", 20, 0)
    first = adsl.set_index("USUBJID").loc["HUCMSC-T2DM-01-001"]
    assert pd.Timestamp(first["TRTSDT"]) == pd.Timestamp("2019-05-12")
    manifest = json.loads((run.out / "manifest.json").read_text())
    paths = {e["path"] for e in manifest["files"]}
    assert {f"adam/{n}.xpt" for n in ADAM} <= paths
    assert {f"lineage/{n}.csv" for n in ADAM} <= paths


def test_adam_lineage_reaches_the_raw_row(run):
    lineage = pd.read_csv(run.out / "lineage" / "adlb.csv", dtype=str, keep_default_na=False)
    adlb = run.adam.datasets["ADLB"]
    assert len(lineage) == len(adlb)
    first = lineage.iloc[0]
    lb = run.sdtm.domains["LB"]
    sdtm_row = lb.iloc[int(first["sdtm_record"]) - 1]
    assert float(sdtm_row["LBSEQ"]) == adlb["SRCSEQ"].iloc[0]
    raw = run.sdtm.lineage["LB"].iloc[int(first["sdtm_record"]) - 1]
    assert (first["source_sheet"], first["source_row"]) == ("LAB", str(raw["source_row"]))
    homa = lineage[lineage["paramcd"] == "HOMAIR"]
    assert (
        not homa.empty and homa["computed_from"].str.match(r"FCP: LBSEQ \d+; FPG: LBSEQ \d+").all()
    )


def test_derive_from_sdtm_files_gives_the_same_adam_files(run, tmp_path):
    out = tmp_path / "derived"
    result = CliRunner().invoke(
        cli,
        ["derive", str(EXAMPLE_SPECS), "--sdtm", str(run.out / "sdtm"), "--out", str(out), "-q"],
    )
    assert result.exit_code == 0, result.output
    for name in ADAM:
        assert (out / "adam" / f"{name}.xpt").read_bytes() == (
            run.out / "adam" / f"{name}.xpt"
        ).read_bytes()
    assert "ADLB" in result.output and "0 errors" in result.output


def test_derive_without_the_mh_domain_reports_it_and_exits_1(run, tmp_path):
    sdtm = tmp_path / "sdtm"
    shutil.copytree(run.out / "sdtm", sdtm)
    (sdtm / "mh.xpt").unlink()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["derive", str(EXAMPLE_SPECS), "--sdtm", str(sdtm), "--out", str(out), "-q"]
    )
    assert result.exit_code == 1, result.output
    assert "adam-source-missing" in result.output and "DIABDXDT" in result.output
    report = json.loads((out / "validation" / "report.json").read_text())
    assert any(f["code"] == "adam-source-missing" for f in report["findings"])


def test_derive_without_an_adam_section_is_exit_2(run, study_copy, tmp_path):
    path = study_copy / "study.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("\nadam:")] + "\n")
    result = CliRunner().invoke(
        cli, ["derive", str(study_copy), "--sdtm", str(run.out / "sdtm"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no adam section" in result.output and "Traceback" not in result.output


def test_adam_checks_run_on_written_adam_files(run, tmp_path):
    # a seeded defect in a copy of ADLB: one CHG that is not AVAL - BASE
    adlb, _ = pyreadstat.read_xport(str(run.out / "adam" / "adlb.xpt"))
    row = int(adlb.index[adlb["CHG"].notna()][0])
    adlb.loc[row, "CHG"] = adlb.loc[row, "CHG"] + 1
    folder = tmp_path / "adam"
    folder.mkdir()
    adlb.to_csv(folder / "adlb.csv", index=False)
    shutil.copy(run.out / "adam" / "adsl.xpt", folder / "adsl.xpt")
    result = CliRunner().invoke(cli, ["validate", str(folder), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 1, result.output
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    chg = [f for f in findings if f["code"] == "chg-not-aval-minus-base"]
    assert [(f["dataset"], f["variable"], f["record"]) for f in chg] == [("ADLB", "CHG", row + 1)]


def test_run_writes_the_analysis_tables_figures_and_report(run):
    folder = run.out / "analysis"
    summary = pd.read_csv(folder / "cfb_summary.csv")
    adlb = run.adam.datasets["ADLB"]
    chg = adlb[
        (adlb["PARAMCD"] == "FPG")
        & (adlb["AVISIT"] == "DAY 14")
        & (adlb["ANL01FL"] == "Y")
        & (adlb["FASFL"] == "Y")
    ]["CHG"].dropna()
    row = summary[(summary["PARAMCD"] == "FPG") & (summary["AVISIT"] == "DAY 14")]
    row = row[row["VAR"] == "CHG"].iloc[0]
    assert row["N"] == len(chg) and row["MEDIAN"] == pytest.approx(chg.median())
    assert row["QUANTILE_METHOD"] == "spss" and row["TEST"].startswith("Wilcoxon signed rank")
    assert set(summary["PARAMCD"]) == {"FPG", "P2PG", "HBA1C", "FCP", "P2CP", "HOMAIR", "HOMAB"}
    table = pd.read_csv(folder / "table1.csv")
    age = table.set_index("CHARACTERISTIC").loc["Age (years)"]
    assert age["MEAN"] == pytest.approx(run.adam.datasets["ADSL"]["AGE"].mean())
    figures = sorted(p.name for p in (folder / "figures").glob("*.png"))
    assert len(figures) == 14 and "homab_median_iqr.png" in figures
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 14
    # the rules of rounding and ties are said in the report
    assert "rounded half away from zero as SAS" in html and "share their mid-rank" in html
    assert "Measured to 2 decimals: median, Q1, Q3 and mean with 3, SD with 4." in html
    assert "synthetic" in html.lower() and "HUCMSC-T2DM" in html
    manifest = {e["path"] for e in json.loads((run.out / "manifest.json").read_text())["files"]}
    assert {"analysis/cfb_summary.csv", "analysis/table1.csv", "analysis/report.html"} <= manifest


def test_report_command_from_adam_files_gives_the_same_statistics(run, tmp_path):
    result = CliRunner().invoke(
        cli,
        ["report", str(EXAMPLE_SPECS), "--adam", str(run.out / "adam"), "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "analysis/report.html" in result.output
    for name in ("cfb_summary.csv", "table1.csv", "figures/fpg_median_iqr.png"):
        assert (tmp_path / "analysis" / name).read_bytes() == (
            run.out / "analysis" / name
        ).read_bytes(), name


def test_analysis_csvs_carry_no_binary_representation_noise(run):
    # Every number written has at most 10 significant digits (7.19, not 7.1899999999999995).
    for name in ("cfb_summary.csv", "table1.csv"):
        with (run.out / "analysis" / name).open(newline="", encoding="utf-8") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        numbers = [c for c in cells if re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", c)]
        assert len(numbers) > 30, name
        digits = {c: len(Decimal(c).normalize().as_tuple().digits) for c in numbers}
        assert max(digits.values()) <= 10, [c for c, n in digits.items() if n > 10][:5]
