"""`trialflow run` and `trialflow derive`: ADaM XPT files, lineage, and the ADaM checks on them."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import statistics
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


def test_derive_and_report_need_study_yaml_alone(run, tmp_path):
    # a user with SDTM and no mapping specs: a study folder holding study.yaml only (the
    # domains it lists have no dm.yaml, ... beside it) derives the same ADaM files
    study = tmp_path / "study"
    study.mkdir()
    shutil.copy(EXAMPLE_SPECS / "study.yaml", study / "study.yaml")
    out = tmp_path / "derived"
    result = CliRunner().invoke(
        cli, ["derive", str(study), "--sdtm", str(run.out / "sdtm"), "--out", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "no spec file" not in result.output
    for name in ADAM:
        assert (out / "adam" / f"{name}.xpt").read_bytes() == (
            run.out / "adam" / f"{name}.xpt"
        ).read_bytes(), name
    result = CliRunner().invoke(
        cli, ["report", str(study), "--adam", str(run.out / "adam"), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "analysis" / "cfb_summary.csv").read_bytes() == (
        run.out / "analysis" / "cfb_summary.csv"
    ).read_bytes()


def test_derive_with_the_design_keys_gives_conformant_adam_with_lineage(run, tmp_path):
    # the example's SDTM with the keys of a design with arms and derived records: a placebo
    # rule, BASETYPE definitions, the ANL01FL rule, unscheduled visits out, LOCF and end of
    # treatment; the package validates without an error and each derived record's lineage is
    # its source record's
    text = (EXAMPLE_SPECS / "study.yaml").read_text()
    for old, new in (
        ("treatment: {domain: EX, min_dose: 0, end: EXSTDTC}",
         "treatment: {domain: EX, min_dose: 0, end: EXSTDTC, "
         "zero_dose: {where: {EXTRT: PLACEBO}}, end_missing: none}"),
        ("baseline: {rule: last_on_or_before, reference: TRTSDT, avisit: BASELINE, avisitn: 0}",
         "baseline: {rule: last_on_or_before, reference: TRTSDT, avisit: BASELINE, avisitn: 0,"
         " basetypes: [{basetype: LAST}, {basetype: PRE-DOSE, rule: last_before}]}\n"
         "  analysis_flag: {rule: last}\n"
         "  derived_records: [{dtype: LOCF}, {dtype: LOV, end_window: 90}]"),
        ("    windows: schedule\n", "    windows: schedule\n    unscheduled: exclude\n"),
    ):  # fmt: skip
        assert old in text
        text = text.replace(old, new, 1)
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.yaml").write_text(text)
    out = tmp_path / "derived"
    result = CliRunner().invoke(
        cli, ["derive", str(study), "--sdtm", str(run.out / "sdtm"), "--out", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output
    advs, _ = pyreadstat.read_xport(str(out / "adam" / "advs.xpt"))
    assert set(advs["BASETYPE"]) == {"LAST", "PRE-DOSE"}
    assert {"LOCF", "LOV"} <= set(advs["DTYPE"])
    lineage = pd.read_csv(out / "lineage" / "advs.csv", dtype=str, keep_default_na=False)
    assert len(lineage) == len(advs)
    derived = lineage.loc[advs.index[advs["DTYPE"].isin(["LOCF", "LOV"])]]
    # a measured source: its VS record and raw row; a computed one (BMI): its input records
    measured = derived["sdtm_dataset"].eq("VS")
    assert (measured | derived["computed_from"].ne("")).all()
    assert derived.loc[measured, "source_sheet"].eq("VITALS").all()
    assert measured.sum() > 0 and (~measured).sum() > 0


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
    # two per endpoint parameter (7) and the dose over time
    assert len(figures) == 15 and "homab_median_iqr.png" in figures
    assert "totddd_pct_baseline.png" in figures
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 15
    # the rules of rounding and ties are said in the report
    assert "rounded half away from zero as SAS" in html and "share their mid-rank" in html
    assert "Measured to 2 decimals: median, Q1, Q3 and mean with 3, SD with 4." in html
    assert "synthetic" in html.lower() and "HUCMSC-T2DM" in html
    # the report states the analysis visit rule of study.yaml, as the SAP says it
    assert (
        "Analysis visits by window, in days after the DAY 0 visit (day 0): DAY 0 days -3 to 3 "
        "(target 0), DAY 14 days 11 to 17 (target 14), DAY 21 days 18 to 24 (target 21), "
        "DAY 28 days 25 to 31 (target 28), DAY 84 days 81 to 87 (target 84); a record in no "
        "window is not analysed." in html
    )
    manifest = {e["path"] for e in json.loads((run.out / "manifest.json").read_text())["files"]}
    assert {
        "analysis/cfb_summary.csv", "analysis/table1.csv", "analysis/report.html",
        "analysis/ae_summary.csv", "analysis/safety_by_visit.csv",
    } <= manifest  # fmt: skip


def _analysis_chg(adlb, paramcd, avisitn, population="FASFL"):
    keep = (
        adlb["PARAMCD"].eq(paramcd) & adlb["AVISITN"].eq(avisitn) & adlb["ANL01FL"].eq("Y")
        & adlb[population].eq("Y")
    )  # fmt: skip
    return adlb.loc[keep.fillna(False).to_numpy(), "CHG"].dropna().astype(float).tolist()


def test_every_cfb_row_names_the_spss_test_and_its_p_value_is_spss(run):
    summary = pd.read_csv(run.out / "analysis" / "cfb_summary.csv")
    assert set(summary["TEST_METHOD"]) == {"spss"} and set(summary["QUANTILE_METHOD"]) == {"spss"}
    adlb = run.adam.datasets["ADLB"]
    chg_rows = summary[summary["VAR"].eq("CHG").to_numpy()]
    assert len(chg_rows) > 10
    for r in chg_rows.itertuples():  # one per parameter and visit
        chg = _analysis_chg(adlb, r.PARAMCD, r.AVISITN)
        assert len(chg) == r.N
        # SPSS, written out: zeros dropped, mid-ranks of |d|, z = (V - n(n+1)/4) /
        # sqrt(n(n+1)(2n+1)/24 - sum(t^3 - t)/48), p = erfc(|z| / sqrt 2).
        d = pd.Series([v for v in chg if v != 0])
        n = len(d)
        ranks = d.abs().rank(method="average")
        v = ranks[d > 0].sum()
        ties = d.abs().value_counts()
        var = n * (n + 1) * (2 * n + 1) / 24 - ((ties**3 - ties).sum()) / 48
        z = (v - n * (n + 1) / 4) / math.sqrt(var)
        p_value, q1_q3 = r.P_VALUE, (r.Q1, r.Q3)
        assert p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9), r
        assert r.TEST == (
            "Wilcoxon signed rank test, normal approximation without continuity correction"
        )
        # SPSS quartiles are the (n+1)p rule: Python's statistics.quantiles "exclusive".
        if r.N >= 3:
            q1, _, q3 = statistics.quantiles(chg, n=4, method="exclusive")
            assert q1_q3 == (pytest.approx(q1, abs=1e-9), pytest.approx(q3, abs=1e-9))


def test_the_box_plots_draw_the_quartiles_of_cfb_summary_csv(run):
    from trialflow.analysis.figures import _chg_boxplot_figure

    summary = pd.read_csv(run.out / "analysis" / "cfb_summary.csv")
    adlb = run.adam.datasets["ADLB"]
    population = adlb[adlb["FASFL"].eq("Y").fillna(False).to_numpy()]
    for paramcd in ("FPG", "P2PG", "HBA1C", "FCP", "P2CP", "HOMAIR", "HOMAB"):
        _fig, artists, footnote = _chg_boxplot_figure(population, summary, paramcd, "x", 0.05)
        drawn = [
            (patch.get_path().vertices[:, 1].min(), median.get_ydata()[0],
             patch.get_path().vertices[:, 1].max())
            for patch, median in zip(artists["boxes"], artists["medians"], strict=True)
        ]  # fmt: skip
        rows = summary[summary["PARAMCD"].eq(paramcd) & summary["VAR"].eq("CHG")]
        table = list(zip(rows["Q1"], rows["MEDIAN"], rows["Q3"], strict=True))
        assert len(drawn) == len(table) > 0
        for box, expected in zip(drawn, table, strict=True):
            assert box == pytest.approx(expected, abs=1e-12), paramcd
        assert "Quantile method: spss." in footnote and "test method spss" in footnote


def test_run_writes_the_safety_tables(run):
    folder = run.out / "analysis"
    ae = pd.read_csv(folder / "ae_summary.csv", keep_default_na=False, na_values=[""])
    ae["INFUSION"] = ae["INFUSION"].astype("str")
    rows = ae.set_index(["AEDECOD", "INFUSION"])
    # EX: 16 subjects x 3 infusions = 48 infusions given (test_pipeline pins the 48 records).
    ex = run.sdtm.domains["EX"]
    assert len(ex) == 48 and ex["USUBJID"].nunique() == 16
    assert rows.loc[("Pyrexia", "ALL"), "N_INFUSIONS"] == 48
    assert [rows.loc[("Pyrexia", k), "N_INFUSIONS"] for k in "123"] == [16, 16, 16]
    # From the AE and EX dates by hand: fevers of 01-005 on its 3rd infusion day, 01-008 and
    # 02-004 on their 2nd infusion day, 02-007 the day after its 2nd and its 3rd infusion:
    # 4 subjects, 5 episodes, all within 1 day of the 2nd or 3rd infusion (the brief's
    # "4 patients, 5 episodes within 24 h of the 2nd or 3rd infusion").
    fever = rows.loc[("Pyrexia", "ALL")]
    assert (fever["SUBJECTS"], fever["EVENTS"], fever["EVENTS_WITHIN"]) == (4, 5, 5)
    assert fever["PCT_SUBJECTS"] == pytest.approx(25.0)
    assert [rows.loc[("Pyrexia", k), "EVENTS_WITHIN"] for k in "123"] == [0, 3, 2]
    # 02-005's nocturnal hypoglycaemia 7 days after its 3rd infusion: 1 of 48 infusions,
    # 100/48 = 2.0833 -> 2.08 % (the brief's figure), none within 1 day.
    hypo = rows.loc[("Hypoglycaemia", "ALL")]
    assert (hypo["SUBJECTS"], hypo["EVENTS"], hypo["INFUSIONS_WITH_AE"]) == (1, 1, 1)
    assert hypo["PCT_INFUSIONS"] == pytest.approx(100 / 48) and round(100 / 48, 2) == 2.08
    assert hypo["EVENTS_WITHIN"] == 0
    assert rows.loc[("Any serious treatment-emergent adverse event", "ALL"), "EVENTS"] == 0
    # The same counts recomputed from SDTM AE and EX dates: each AE to the last infusion
    # on or before its start date.
    ae_sdtm = run.sdtm.domains["AE"]
    starts = pd.to_datetime(ae_sdtm["AESTDTC"])
    doses = pd.to_datetime(ex["EXSTDTC"].str[:10])
    days = [
        (start - doses[ex["USUBJID"].eq(subject) & (doses <= start)].max()).days
        for subject, start in zip(ae_sdtm["USUBJID"], starts, strict=True)
    ]
    within = ae_sdtm.assign(DAYS=days).query("DAYS <= 1")
    assert len(within) == rows.loc[("Any treatment-emergent adverse event", "ALL"),
                                   "EVENTS_WITHIN"]  # fmt: skip
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "1/48 (2.08%)" in html and 'id="safety-WBC"' in html

    by_visit = pd.read_csv(folder / "safety_by_visit.csv")
    assert list(by_visit["PARAMCD"].drop_duplicates()) == [
        "WBC", "ALT", "CREAT", "SYSBP", "DIABP", "PULSE", "TEMP", "WEIGHT",
    ]  # fmt: skip
    assert set(by_visit["TEST_METHOD"]) == {"spss"}
    assert set(by_visit.loc[by_visit["PARAMCD"].eq("WBC"), "DATASET"]) == {"ADLB"}
    assert set(by_visit.loc[by_visit["PARAMCD"].eq("PULSE"), "DATASET"]) == {"ADVS"}
    wbc = by_visit[by_visit["PARAMCD"].eq("WBC") & by_visit["VAR"].eq("CHG")]
    for r in wbc.itertuples():
        chg = _analysis_chg(run.adam.datasets["ADLB"], "WBC", r.AVISITN, "SAFFL")
        n, median = r.N, r.MEDIAN
        assert n == len(chg) and median == pytest.approx(statistics.median(chg))


def test_report_command_from_adam_files_gives_the_same_statistics(run, tmp_path):
    result = CliRunner().invoke(
        cli,
        ["report", str(EXAMPLE_SPECS), "--adam", str(run.out / "adam"), "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "analysis/report.html" in result.output
    for name in ("cfb_summary.csv", "table1.csv", "figures/fpg_median_iqr.png",
                 "figures/fpg_chg_box.png", "ae_summary.csv", "safety_by_visit.csv"):  # fmt: skip
        assert (tmp_path / "analysis" / name).read_bytes() == (
            run.out / "analysis" / name
        ).read_bytes(), name
    listed = {e["path"] for e in json.loads((tmp_path / "manifest.json").read_text())["files"]}
    assert {"analysis/ae_summary.csv", "analysis/safety_by_visit.csv"} <= listed


def test_report_into_a_run_folder_keeps_the_runs_files_in_the_manifest(run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(run.out, out)
    shutil.rmtree(out / "analysis")
    result = CliRunner().invoke(
        cli, ["report", str(EXAMPLE_SPECS), "--adam", str(out / "adam"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    def listed(folder):
        files = json.loads((folder / "manifest.json").read_text())["files"]
        return {e["path"]: e["sha256"] for e in files}

    # Every file of the run listed with the same checksum; the page differs (report validates
    # the ADaM datasets only, the run SDTM and ADaM together).
    after, before = listed(out), listed(run.out)
    assert set(after) == set(before)
    assert {k: v for k, v in after.items() if k != "analysis/report.html"} == {
        k: v for k, v in before.items() if k != "analysis/report.html"
    }


def test_report_without_adae_says_so(run, tmp_path):
    adam = tmp_path / "adam"
    shutil.copytree(run.out / "adam", adam)
    (adam / "adae.xpt").unlink()
    result = CliRunner().invoke(
        cli, ["report", str(EXAMPLE_SPECS), "--adam", str(adam), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert f"{adam}: no ADAE dataset to report on" in result.output


def test_analysis_csvs_carry_no_binary_representation_noise(run):
    # Every number written has at most 10 significant digits (7.19, not 7.1899999999999995).
    for name in ("cfb_summary.csv", "table1.csv"):
        with (run.out / "analysis" / name).open(newline="", encoding="utf-8") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        numbers = [c for c in cells if re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", c)]
        assert len(numbers) > 30, name
        digits = {c: len(Decimal(c).normalize().as_tuple().digits) for c in numbers}
        assert max(digits.values()) <= 10, [c for c, n in digits.items() if n > 10][:5]
