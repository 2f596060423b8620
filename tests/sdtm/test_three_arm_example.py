"""The second bundled example (mappings/three-arm, examples/three-arm/raw-export.xlsx) mapped
to SDTM: records pinned to raw rows traced by hand, the design's facts, validation clean.

Raw rows are named as findings name them: Excel row numbers (header = row 1).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trialflow.pipeline import example_paths, map_study

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    study_dir, raw = example_paths("three-arm")
    assert study_dir == ROOT / "mappings" / "three-arm"
    return map_study(study_dir, raw, tmp_path_factory.mktemp("three-arm"), on_issue="none")


def _one(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column].astype(str) == str(value)
    rows = frame[mask]
    assert len(rows) == 1, f"{len(rows)} records match {where}"
    return rows.iloc[0]


def test_no_errors_and_the_expected_warnings(run):
    assert run.errors == 0
    warnings = sorted(f.code for f in run.findings if f.severity == "warning")
    # the three early discontinuers whose last dosing period has no end date (by design)
    assert warnings == ["end-missing"] * 3


def test_dm_arms_screen_failures_and_never_treated(run):
    dm = run.sdtm.domains["DM"]
    assert len(dm) == 98
    text = dm.astype("str").fillna("")
    assert text["ARMCD"].value_counts().to_dict() == {"PBO": 30, "LOW": 30, "HIGH": 30, "": 8}
    pairs = set(zip(text["ARMCD"], text["ARM"], strict=True))
    assert pairs == {
        ("PBO", "Placebo"),
        ("LOW", "Drug X 25 mg"),
        ("HIGH", "Drug X 50 mg"),
        ("", ""),
    }
    # SDTMIG 3.4 DM: ARMNRS says why ARMCD (screen failure) or ACTARMCD (not treated) is null
    assert text["ARMNRS"].value_counts().to_dict() == {
        "": 88,
        "SCREEN FAILURE": 8,
        "ASSIGNED, NOT TREATED": 2,
    }
    failed = text["ARMNRS"] == "SCREEN FAILURE"
    assert (text.loc[failed, ["ARMCD", "ARM", "ACTARMCD", "ACTARM", "RFSTDTC"]] == "").all().all()
    never = text["ARMNRS"] == "ASSIGNED, NOT TREATED"
    assert (text.loc[never, ["ACTARMCD", "ACTARM", "RFSTDTC", "RFXSTDTC"]] == "").all().all()
    treated = text["ARMNRS"] == ""
    assert (text.loc[treated, "ACTARMCD"] == text.loc[treated, "ARMCD"]).all()
    assert (text.loc[treated, "RFSTDTC"] != "").all()


def test_dm_records_traced_from_demog(run):
    dm = run.sdtm.domains["DM"]
    # DEMOG row 2: 03-001, no RAND_ARM; DISPOSITION row 2: Screen failure
    sf = _one(dm, USUBJID="TF3ARM-01-03-001")
    assert sf["ARMNRS"] == "SCREEN FAILURE" and pd.isna(sf["ARMCD"]) and pd.isna(sf["ACTARMCD"])
    # DEMOG row 22: 03-007, RAND_ARM "Drug X 50 mg", no DOSING row (withdrew before dosing)
    nt = _one(dm, USUBJID="TF3ARM-01-03-007")
    assert (nt["ARMCD"], nt["ARM"], nt["ARMNRS"]) == (
        "HIGH",
        "Drug X 50 mg",
        "ASSIGNED, NOT TREATED",
    )
    assert pd.isna(nt["ACTARMCD"]) and pd.isna(nt["ACTARM"])
    # DEMOG row 6: 01-003, RAND_ARM "Drug X 50mg" (typed without the space); DOSING rows 8-10:
    # 23-FEB-2024 to 14-JUN-2024
    s = _one(dm, USUBJID="TF3ARM-01-01-003")
    assert (s["ARMCD"], s["ARM"], s["ACTARMCD"], s["ACTARM"]) == (
        "HIGH", "Drug X 50 mg", "HIGH", "Drug X 50 mg",
    )  # fmt: skip
    assert pd.isna(s["ARMNRS"])
    # DEMOG row 3: 03-002, RAND_NO 1001 -> SUPPDM RANDNO; a screen failure has none
    supp = run.sdtm.domains["SUPPDM"]
    r = _one(supp, USUBJID="TF3ARM-01-03-002")
    assert (r["QNAM"], r["QLABEL"], r["QVAL"], r["QORIG"]) == (
        "RANDNO", "Randomization Number", "1001", "CRF",
    )  # fmt: skip
    assert len(supp) == 90 and "TF3ARM-01-03-001" not in set(supp["USUBJID"])
    assert (s["RFSTDTC"], s["RFXSTDTC"], s["RFXENDTC"]) == (
        "2024-02-23",
        "2024-02-23",
        "2024-06-14",
    )


def test_ex_placebo_is_dose_zero(run):
    ex = run.sdtm.domains["EX"]
    assert set(ex["EXTRT"]) == {"PLACEBO", "DRUG X"}
    assert set(ex.loc[ex["EXTRT"] == "PLACEBO", "EXDOSE"]) == {0}
    assert set(ex.loc[ex["EXTRT"] == "DRUG X", "EXDOSE"]) == {25, 50}
    # DOSING row 2: 03-002 line 1, "Placebo", 0 mg, QD, 20-FEB-2024 to 16-MAR-2024;
    # study days: 20 Feb is day 1 (first dose), 16 Mar is day 1 + 9 (to 29 Feb) + 16 = 26
    r = _one(ex, USUBJID="TF3ARM-01-03-002", EXSTDTC="2024-02-20")
    assert (r["EXTRT"], r["EXDOSE"], r["EXDOSU"], r["EXDOSFRQ"], r["EXROUTE"]) == (
        "PLACEBO", 0, "mg", "QD", "ORAL",
    )  # fmt: skip
    assert (r["EXENDTC"], r["EXSTDY"], r["EXENDY"]) == ("2024-03-16", 1, 26)
    # DOSING row 59: 03-009 line 1, 50 mg from 15-APR-2024, END_DT blank (stopped early)
    r = _one(ex, USUBJID="TF3ARM-01-03-009")
    assert (r["EXDOSE"], r["EXSTDTC"]) == (50, "2024-04-15") and pd.isna(r["EXENDTC"])


def test_vs_time_points_and_weight(run):
    vs = run.sdtm.domains["VS"]
    bp = vs[vs["VSTESTCD"].isin(["SYSBP", "DIABP", "PULSE"])]
    triples = set(zip(bp["VSTPTNUM"].astype(int), bp["VSTPT"], bp["VSPOS"], strict=True))
    assert triples == {
        (815, "AFTER LYING DOWN FOR 5 MINUTES", "SUPINE"),
        (816, "AFTER STANDING FOR 1 MINUTE", "STANDING"),
        (817, "AFTER STANDING FOR 3 MINUTES", "STANDING"),
    }
    weight = vs[vs["VSTESTCD"] == "WEIGHT"]
    assert weight["VSTPT"].isna().all() and weight["VSTPTNUM"].isna().all()
    assert weight["VSPOS"].isna().all()


def test_vs_records_traced_from_vitals(run):
    vs = run.sdtm.domains["VS"]
    # VITALS row 6: 03-002, "Day 1", 2024-02-20, "After standing 1 minute", 10:51, SYSBP 133
    r = _one(vs, USUBJID="TF3ARM-01-03-002", VSTESTCD="SYSBP", VSDTC="2024-02-20T10:51")
    assert (r["VSTPT"], r["VSTPTNUM"], r["VSPOS"]) == (
        "AFTER STANDING FOR 1 MINUTE",
        816,
        "STANDING",
    )
    assert (r["VSORRES"], r["VSSTRESN"], r["VSSTRESU"]) == ("133", 133, "mmHg")
    assert (r["VISITNUM"], r["VISIT"], r["VSDY"]) == (2, "BASELINE", 1)
    # VITALS row 5: the same visit's lying-down row carries the weight, 67.1 kg, no time point
    w = _one(vs, USUBJID="TF3ARM-01-03-002", VSTESTCD="WEIGHT", VISITNUM=2.0)
    assert (w["VSORRES"], w["VSDTC"]) == ("67.1", "2024-02-20T10:45") and pd.isna(w["VSTPT"])
    # VITALS row 56: 01-003, "Unsched.", 2024-04-28, "Lying 5 min", 09:50, SYSBP 141. The last
    # planned visit before it is Week 4 (2024-03-24; Week 8 was missed): VISITNUM 4.01.
    # Study day: 23 Feb is day 1, 29 Feb day 7, 31 Mar day 38, 28 Apr day 66.
    u = _one(vs, USUBJID="TF3ARM-01-01-003", VSTESTCD="SYSBP", VSDTC="2024-04-28T09:50")
    assert (u["VISITNUM"], u["VISIT"], u["VSDY"]) == (4.01, "UNSCHEDULED 4.01", 66)
    assert (u["VSTPTNUM"], u["VSORRES"]) == (815, "141")
    # 01-003 has no Week 8 record
    assert not ((vs["USUBJID"] == "TF3ARM-01-01-003") & (vs["VISITNUM"] == 5)).any()


def test_lb_glucose_converted_from_mg_dl(run):
    lb = run.sdtm.domains["LB"]
    # LABS row 2: 03-002, Screening, 2024/02/05 09:25, "GLU" 131 mg/dL, range 70-99 mg/dL.
    # 131 / 18.016 = 7.2713 -> 7.27; 70 / 18.016 = 3.8854 -> 3.89; 99 / 18.016 = 5.4951 -> 5.5.
    # 5 Feb is 15 days before the first dose (20 Feb, day 1): day -15 (no day 0).
    r = _one(lb, USUBJID="TF3ARM-01-03-002", LBTESTCD="GLUC", LBDTC="2024-02-05T09:25")
    assert (r["LBORRES"], r["LBORRESU"], r["LBSTRESN"], r["LBSTRESU"]) == (
        "131", "mg/dL", 7.27, "mmol/L",
    )  # fmt: skip
    assert (r["LBSTNRLO"], r["LBSTNRHI"], r["LBNRIND"]) == (3.89, 5.5, "HIGH")
    assert (r["VISITNUM"], r["VISIT"], r["LBDY"], r["EPOCH"]) == (1, "SCREENING", -15, "SCREENING")
    assert r["LBSPEC"] == "PLASMA"


def test_ds_screen_failure(run):
    ds = run.sdtm.domains["DS"]
    # DISPOSITION row 2: 03-001, 2024/02/10, "Screen failure", reason typed by the site; the
    # subject has no first dose, so the record is in the SCREENING epoch (never_reached)
    r = _one(ds, USUBJID="TF3ARM-01-03-001")
    assert (r["DSDECOD"], r["DSTERM"], r["DSSTDTC"], r["EPOCH"]) == (
        "SCREEN FAILURE", "Withdrew consent before randomisation", "2024-02-10", "SCREENING",
    )  # fmt: skip
    assert ds["DSDECOD"].value_counts()["SCREEN FAILURE"] == 8


def test_trial_design_has_the_three_arms(run):
    ta = run.sdtm.domains["TA"]
    arms = ta.groupby("ARMCD", sort=False)["ETCD"].apply(list).to_dict()
    assert arms == {"PBO": ["SCRN", "PBO", "FU"], "LOW": ["SCRN", "LOW", "FU"],
                    "HIGH": ["SCRN", "HIGH", "FU"]}  # fmt: skip
    ts = run.sdtm.domains["TS"].set_index("TSPARMCD")["TSVAL"]
    assert ts["NARMS"] == "3" and ts["RANDOM"] == "Y" and ts["TCNTRL"] == "PLACEBO"


# --- the spec language pieces the example needs, on a small export of the same design ---------


@pytest.fixture
def small(tmp_path):
    """A copy of the three-arm specs and a 6-subject export of the design (one screen failure,
    no subject left untreated: 6 x 2/90 = 0.13 rounds to 0)."""
    import shutil

    from trialflow.io.layouts import write_layout
    from trialflow.synth_three_arm import synthesize_three_arm

    specs = tmp_path / "study"
    shutil.copytree(ROOT / "mappings" / "three-arm", specs)
    raw = write_layout(synthesize_three_arm(subjects=6, seed=5), tmp_path / "raw.xlsx")
    return specs, raw


def _build(specs, raw):
    from trialflow.mapping.load import load_study
    from trialflow.raw import read_export
    from trialflow.sdtm.build import build_sdtm

    return build_sdtm(load_study(specs), read_export(raw), on_issue="none")


def _edit(path: Path, old: str, new: str) -> int:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    return next(n for n, t in enumerate(path.read_text().splitlines(), 1) if new in t)


def test_arm_null_reason_takes_terms_of_armnrs(small):
    from trialflow.errors import SpecError

    specs, raw = small
    line = _edit(specs / "dm.yaml", 'untreated: "ASSIGNED, NOT TREATED"', "untreated: NOT TREATED")
    with pytest.raises(SpecError, match=rf"dm\.yaml:{line}: .*untreated.*'NOT TREATED' is not a "
                       r"term of codelist ARMNRS"):  # fmt: skip
        _build(specs, raw)


def test_actual_arm_of_several_arms_needs_armcd_mapped_before_it(small):
    from trialflow.errors import SpecError

    specs, raw = small
    path = specs / "dm.yaml"
    text = path.read_text()
    armcd = "  - {name: ARMCD, method: assign_ct, raw: RAND_ARM, codelist: ARMCD}\n"
    path.write_text(text.replace(armcd, ""))
    with pytest.raises(
        SpecError, match=r"several arms: map ARMCD and ARM .* listed before ACTARMCD"
    ):
        _build(specs, raw)


def test_untreated_value_when_given_and_screen_failures_in_screening(small):
    specs, raw = small
    _edit(specs / "dm.yaml", "{name: ACTARMCD, method: actual_arm, field: armcd}",
          "{name: ACTARMCD, method: actual_arm, field: armcd, untreated: NOTTRT}")  # fmt: skip
    result = _build(specs, raw)
    dm = result.domains["DM"].astype("str").fillna("")
    failed = dm["ARMNRS"] == "SCREEN FAILURE"
    assert failed.sum() == 1
    # a subject without exposure gets the untreated value; the screen failure has no ARMCD
    assert set(dm.loc[failed, "ACTARMCD"]) == {"NOTTRT"} and set(dm.loc[failed, "ARMCD"]) == {""}
    assert (dm.loc[~failed, "ACTARMCD"] == dm.loc[~failed, "ARMCD"]).all()
    ds = result.domains["DS"]
    sf = ds["USUBJID"].isin(result.domains["DM"].loc[failed, "USUBJID"])
    assert set(ds.loc[sf, "EPOCH"]) == {"SCREENING"}


def test_never_reached_needs_before(small):
    from trialflow.errors import SpecError
    from trialflow.mapping.load import load_study

    specs, _ = small
    line = _edit(specs / "study.yaml", "{epoch: FOLLOW-UP, after: RFXENDTC}",
                 "{epoch: FOLLOW-UP, after: RFXENDTC, never_reached: true}")  # fmt: skip
    with pytest.raises(SpecError, match=rf"study\.yaml:{line}: .*never_reached needs before"):
        load_study(specs)


def test_study_yaml_declares_the_design_without_workarounds():
    """Issue 17's keys: placebo counts as treatment, baseline per time point, ANL01FL by the
    closest scheduled record, unscheduled visits out of the windows, LOCF and LOV records, the
    groups by TRT01P against placebo, and an LOCF analysis."""
    from trialflow.mapping.load import load_study

    spec = load_study(ROOT / "mappings" / "three-arm", domain_specs=False).spec
    adam, analysis = spec.adam, spec.analysis
    assert adam.treatment.min_dose == 0 and adam.treatment.end == "EXENDTC"
    assert adam.treatment.zero_dose.where == {"EXTRT": "PLACEBO"}
    assert adam.treatment.end_missing == "none"
    assert adam.baseline.by == ["ATPTN"] and adam.baseline.basetypes == []
    flag = adam.analysis_flag
    assert (flag.rule, flag.prefer_scheduled, flag.include_baseline) == ("closest", True, False)
    assert adam.analysis_visits.unscheduled == "exclude"
    assert [r.dtype for r in adam.derived_records] == ["LOCF", "LOV"]
    assert (analysis.group.variable, analysis.group.control) == ("TRT01P", "Placebo")
    assert [c.method for c in analysis.comparisons] == ["ancova", "wilcoxon"]
    assert analysis.derived_records == ["LOCF", "LOV"]
