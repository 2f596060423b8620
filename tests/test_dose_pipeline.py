"""ADDOSE through the pipeline: skipped with a notice without CM; with a CM (made up here from
the example's SV dates) derived, written (XPT, define.xml, lineage), analysed, and the same
bytes on a rerun.

The made-up CM follows the brief's dose result: every subject takes metformin 2000 mg a day
(1 DDD) until the day before DAY 28; from DAY 28 subjects 1-12 take 70 % of it (-30 %,
10-<50 %), subjects 13-16 50 % (-50 %, >=50 %); from DAY 84 subjects 1-10 take 60 % (-40 %),
11-15 40 % (-60 %), subject 16 nothing (DISCONTINUED). Every fourth subject also takes insulin
glargine 20 U tapered the same way, so the total changes by the same percentage.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pyreadstat
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.adam.metadata import adam_variables
from trialflow.io.define import define_errors
from trialflow.pipeline import derive_study, run_study


def made_up_cm(sv: pd.DataFrame) -> pd.DataFrame:
    dates = sv.assign(USUBJID=sv["USUBJID"].astype("str").str.strip()).pivot_table(
        index="USUBJID", columns="VISITNUM", values="SVSTDTC", aggfunc="first"
    )
    rows = []

    def before(day: str) -> str:
        return (pd.Timestamp(day) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")

    for i, subject in enumerate(sorted(dates.index)):
        d28, d84 = dates.loc[subject, 4.0], dates.loc[subject, 5.0]
        f28 = 0.7 if i < 12 else 0.5
        f84 = 0.6 if i < 10 else (0.4 if i < 15 else 0.0)
        agents = [("METFORMIN", "A10B", 2000.0, "mg")]
        if i % 4 == 0:
            agents.append(("INSULIN GLARGINE", "A10A", 20.0, "U"))
        for decod, cls, dose, unit in agents:
            for start, end, factor in (("2018-05", before(d28), 1.0),
                                       (d28, before(d84), f28), (d84, "", f84)):  # fmt: skip
                if factor == 0:
                    continue
                rows.append({
                    "STUDYID": "HUCMSC-T2DM", "DOMAIN": "CM", "USUBJID": subject,
                    "CMSEQ": len([r for r in rows if r["USUBJID"] == subject]) + 1,
                    "CMTRT": decod.title(), "CMDECOD": decod, "CMCAT": "HYPOGLYCAEMIC AGENT",
                    "CMCLASCD": cls, "CMDOSE": dose * factor, "CMDOSU": unit,
                    "CMDOSFRQ": "QD", "CMDOSTOT": dose * factor, "CMSTDTC": start,
                    "CMENDTC": end, "CMENRTPT": "" if end else "ONGOING",
                    "CMENTPT": "" if end else "END OF STUDY",
                })  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("dose")
    example = run_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, base / "example", on_issue="none")

    def package(name: str, cm: pd.DataFrame | None):
        """The example's SDTM without its own CM, with ``cm`` (a CSV) when given."""
        sdtm = base / name / "sdtm"
        shutil.copytree(example.out / "sdtm", sdtm,
                        ignore=shutil.ignore_patterns("*.json", "*.xml", "cm.xpt"))  # fmt: skip
        shutil.copytree(example.out / "lineage", base / name / "lineage",
                        ignore=shutil.ignore_patterns("cm.csv"))  # fmt: skip
        if cm is not None:
            cm.to_csv(sdtm / "cm.csv", index=False)
        return sdtm

    plain = derive_study(EXAMPLE_SPECS, package("no-cm", None), base / "plain", on_issue="none")
    sdtm = package("with-cm", made_up_cm(example.sdtm.domains["SV"]))
    first = derive_study(EXAMPLE_SPECS, sdtm, base / "one", on_issue="none")
    second = derive_study(EXAMPLE_SPECS, sdtm, base / "two", on_issue="none")
    return plain, first, second


def test_without_cm_addose_is_left_out_with_a_notice(runs):
    plain, _, _ = runs
    assert "ADDOSE" not in plain.adam.datasets
    codes = {(f.code, f.severity) for f in plain.findings}
    assert {("adam-dose-no-cm", "notice"), ("analysis-dose-skipped", "notice")} <= codes
    assert not (plain.out / "analysis" / "dose_categories.csv").exists()
    assert [f for f in plain.findings if f.severity == "error"] == []


def test_with_cm_the_dose_categories_reproduce_the_brief(runs):
    _, run, _ = runs
    table = pd.read_csv(run.out / "analysis" / "dose_categories.csv")
    got = {(r.AVISIT, r.AVALCAT1): r.n for r in table.itertuples() if r.n}
    assert got == {
        ("DAY 14", "<10% REDUCTION OR INCREASE"): 16,
        ("DAY 21", "<10% REDUCTION OR INCREASE"): 15,  # one subject has no DAY 21 visit
        ("DAY 28", "10-<50% REDUCTION"): 12,
        ("DAY 28", ">=50% REDUCTION"): 4,
        ("DAY 84", "10-<50% REDUCTION"): 10,
        ("DAY 84", ">=50% REDUCTION"): 5,
        ("DAY 84", "DISCONTINUED"): 1,
    }
    day84 = table[table["AVISIT"] == "DAY 84"].set_index("AVALCAT1")
    assert day84.loc["DISCONTINUED", "PERCENT"] == 6.25  # 100 x 1 / 16
    assert day84.loc[">=50% REDUCTION", "PERCENT"] == 31.25  # 100 x 5 / 16
    page = (run.out / "analysis" / "report.html").read_text()
    assert (
        "At DAY 28, all 16 subjects had reduced their dose: 10-&lt;50% REDUCTION 12 (75.00%), "
        "&gt;=50% REDUCTION 4 (25.00%); DISCONTINUED 0." in page
    )
    assert "DISCONTINUED 1 (6.25%)" in page
    assert (run.out / "analysis" / "figures" / "totddd_pct_baseline.png").is_file()


def test_addose_is_written_with_its_metadata_define_and_lineage(runs):
    _, run, _ = runs
    frame, meta = pyreadstat.read_xport(str(run.out / "adam" / "addose.xpt"))
    assert meta.table_name == "ADDOSE"
    expected = adam_variables("ADDOSE").set_index("name")
    assert list(frame.columns) == [c for c in expected.index if c in frame.columns]
    assert {"AVALCAT1", "AVALCA1N", "CRIT1FL", "CRIT2FL", "CRIT3FL", "SRCRECS"} <= set(frame)
    assert define_errors(run.out / "adam" / "define.xml") == []
    define = (run.out / "adam" / "define.xml").read_text()
    assert 'OID="RD.ADDOSE.CAT"' in define and 'OID="IG.ADDOSE"' in define
    lineage = pd.read_csv(run.out / "lineage" / "addose.csv", dtype=str, keep_default_na=False)
    cm = run.sdtm.domains["CM"]
    # each CM row of the lineage names the CM record whose CMSEQ is in the record's SRCRECS
    linked = lineage[lineage["sdtm_dataset"] == "CM"]
    assert len(linked) > len(frame)  # several regimens behind a total
    for _, row in linked.head(20).iterrows():
        record = frame.iloc[int(row["record"]) - 1]
        seq = int(float(cm.iloc[int(row["sdtm_record"]) - 1]["CMSEQ"]))
        assert f"{seq}" in record["SRCRECS"].removeprefix("CMSEQ ").split("; ")[0].split(", ")
        assert cm.iloc[int(row["sdtm_record"]) - 1]["USUBJID"].strip() == record["USUBJID"]
    manifest = json.loads((run.out / "manifest.json").read_text())
    paths = {e["path"] for e in manifest["files"]}
    assert {"adam/addose.xpt", "lineage/addose.csv", "analysis/dose_categories.csv",
            "analysis/dose_changes.csv"} <= paths  # fmt: skip


def test_a_rerun_writes_the_same_bytes(runs):
    _, one, two = runs
    for name in ("adam/addose.xpt", "lineage/addose.csv", "analysis/dose_categories.csv",
                 "analysis/dose_changes.csv", "analysis/report.html",
                 "analysis/figures/totddd_pct_baseline.png", "adam/define.xml"):  # fmt: skip
        assert (one.out / name).read_bytes() == (two.out / name).read_bytes(), name


def test_addose_as_dataset_json_reads_back(runs, tmp_path):
    from trialflow.io.package import read_package
    from trialflow.pipeline import write_adam

    _, run, _ = runs
    write_adam(run.adam, tmp_path, formats=("dataset-json",))
    package, findings = read_package([tmp_path / "adam" / "addose.json"])
    assert [f for f in findings if f.severity == "error"] == []
    back = package.get("ADDOSE").frame
    addose = run.adam.datasets["ADDOSE"]
    assert len(back) == len(addose)
    assert back["AVALCAT1"].fillna("").astype("str").str.strip().tolist() == (
        addose["AVALCAT1"].fillna("").astype("str").tolist()
    )
    assert pd.to_numeric(back["AVAL"]).tolist() == addose["AVAL"].tolist()
