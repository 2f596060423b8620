"""ADaM for any design (issue 17, section 1): arms, placebo, time points, BASETYPE, ANL01FL
rules, unscheduled visits, LOCF and end-of-treatment records.

Small SDTM frames built here; every expected value is worked out by hand in the comments, by
the admiral semantics cited there (ADSL template: ``TRT01P = ARM, TRT01A = ACTARM``, placebo
``EXDOSE == 0 & EXTRT PLACEBO`` counts, TRTEDTM from the latest non-missing EXENDTM; ADVS
template: ``derive_basetype_records``, ABLFL/BASE/CHG ``by_vars`` with BASETYPE, ANL01FL per
AVISIT and ATPT, end of treatment by ``derive_extreme_records`` with DTYPE "LOV";
``derive_locf_records``: a missed expected visit takes the previous observation's AVAL, in
AVISITN order, DTYPE "LOCF").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialflow.adam.adsl import derive_adsl
from trialflow.adam.bds import derive_bds
from trialflow.adam.windows import AnalysisVisits, Window, derive_var_anl_flag
from trialflow.mapping.spec import (
    AdamSpec,
    AnalysisFlagSpec,
    BaselineSpec,
    BdsSpec,
    EndOfTreatmentSpec,
    LocfSpec,
    TreatmentSpec,
)

# --- ADSL: arms, placebo, screen failures, never treated, TRTEDT --------------------------------

ARMS = ["PBO", "LOW", "HIGH"]  # study.yaml arms: order gives TRT01PN/TRT01AN 1, 2, 3
DM = pd.DataFrame(
    {
        "STUDYID": ["S"] * 5,
        "USUBJID": ["S-1", "S-2", "S-3", "S-4", "S-5"],
        "ARMCD": ["PBO", "HIGH", None, "LOW", "LOW"],
        "ARM": ["Placebo", "Drug X 50 mg", None, "Drug X 25 mg", "Drug X 25 mg"],
        "ACTARMCD": ["PBO", "HIGH", None, None, "LOW"],
        "ACTARM": ["Placebo", "Drug X 50 mg", None, None, "Drug X 25 mg"],
        "ARMNRS": [None, None, "SCREEN FAILURE", "ASSIGNED, NOT TREATED", None],
    }
)
EX = pd.DataFrame(
    {
        #            placebo (dose 0)      50 mg, two periods     25 mg, last period open
        "USUBJID": ["S-1", "S-1", "S-2", "S-2", "S-5", "S-5"],
        "EXTRT": ["PLACEBO", "PLACEBO", "DRUG X", "DRUG X", "DRUG X", "DRUG X"],
        "EXDOSE": [0.0, 0.0, 50.0, 50.0, 25.0, 25.0],
        "EXDOSU": ["mg"] * 6,
        "EXSTDTC": ["2024-01-10", "2024-02-07", "2024-01-11", "2024-02-08", "2024-01-12",
                    "2024-02-09"],
        "EXENDTC": ["2024-02-06", "2024-05-01", "2024-02-07", "2024-05-02", "2024-02-08", None],
    }
)  # fmt: skip
PLACEBO = {"zero_dose": {"where": {"EXTRT": "PLACEBO"}}}


def _adsl(treatment: dict, randomized: bool = True) -> pd.DataFrame:
    adsl, _ = derive_adsl(DM, EX, None, TreatmentSpec.model_validate(treatment), None, ARMS,
                          randomized=randomized)  # fmt: skip
    return adsl.set_index("USUBJID")


def test_placebo_with_zero_dose_is_treated_when_declared():
    # min_dose 0 alone: EXDOSE 0 is not above 0, so the placebo subject is untreated (the
    # issue's complaint); zero_dose {EXTRT: PLACEBO} counts it, as admiral's ADSL template.
    without = _adsl({"min_dose": 0})
    assert without.at["S-1", "SAFFL"] == "N" and pd.isna(without.at["S-1", "TRTSDT"])
    placebo = _adsl({"min_dose": 0, **PLACEBO})
    assert placebo.at["S-1", "SAFFL"] == "Y"
    assert placebo.at["S-1", "TRTSDT"] == pd.Timestamp("2024-01-10")  # first EXSTDTC
    assert placebo.at["S-1", "TRTEDT"] == pd.Timestamp("2024-05-01")  # last EXENDTC
    assert placebo.at["S-1", "TRTDURD"] == 113  # 2024-01-10 .. 2024-05-01: 21+29+31+30+1 + 1
    assert placebo.at["S-1", "CUMDOSE"] == 0.0


def test_trtedt_when_the_last_record_has_no_end():
    # S-5: 2024-01-12..2024-02-08, then 2024-02-09..(no EXENDTC).
    # none (admiral: TRTEDTM from the latest non-missing EXENDTM): 2024-02-08, TRTDURD 28.
    # start (the start counts as the end): 2024-02-09, TRTDURD 29.
    none = _adsl({**PLACEBO, "end_missing": "none"})
    assert none.at["S-5", "TRTEDT"] == pd.Timestamp("2024-02-08")
    assert none.at["S-5", "TRTDURD"] == 28
    start = _adsl({**PLACEBO, "end_missing": "start"})
    assert start.at["S-5", "TRTEDT"] == pd.Timestamp("2024-02-09")
    assert start.at["S-5", "TRTDURD"] == 29
    # a subject with complete ends is the same either way
    assert none.at["S-2", "TRTEDT"] == start.at["S-2", "TRTEDT"] == pd.Timestamp("2024-05-02")


def test_trtedt_findings_name_the_subject():
    _, found = derive_adsl(DM, EX, None, TreatmentSpec.model_validate(PLACEBO), None, ARMS)
    assert [(f.code, f.severity, f.usubjid) for f in found] == [
        ("adam-dose-end-missing", "warning", "S-5")
    ]
    spec = TreatmentSpec.model_validate({**PLACEBO, "end_missing": "start"})
    _, found = derive_adsl(DM, EX, None, spec, None, ARMS)
    assert [(f.code, f.severity, f.usubjid) for f in found] == [
        ("adam-dose-end-missing", "notice", "S-5")
    ]


def test_screen_failure_and_never_treated_rows():
    # admiral ADSL template: TRT01P = ARM, TRT01A = ACTARM; SDTMIG 3.4 leaves ARM/ACTARM
    # empty with the reason in ARMNRS, which ADSL keeps (ADaMIG v1.3 ADSL variable).
    adsl = _adsl(PLACEBO)
    cols = ["TRT01P", "TRT01PN", "TRT01A", "TRT01AN", "SAFFL", "RANDFL", "ARMNRS"]
    got = adsl[cols].astype(object).where(adsl[cols].notna(), None)
    assert got.loc["S-1"].tolist() == ["Placebo", 1.0, "Placebo", 1.0, "Y", "Y", None]
    assert got.loc["S-2"].tolist() == ["Drug X 50 mg", 3.0, "Drug X 50 mg", 3.0, "Y", "Y", None]
    # screen failure: not assigned, not treated, not randomised
    assert got.loc["S-3"].tolist() == [None, None, None, None, "N", "N", "SCREEN FAILURE"]
    # randomised to LOW, never treated: planned arm kept, no actual arm, no treatment dates
    assert got.loc["S-4"].tolist() == [
        "Drug X 25 mg", 2.0, None, None, "N", "Y", "ASSIGNED, NOT TREATED"
    ]
    assert pd.isna(adsl.at["S-4", "TRTSDT"]) and adsl.at["S-4", "NINFUS"] == 0


def test_randfl_only_for_a_randomised_trial():
    assert "RANDFL" not in _adsl(PLACEBO, randomized=False).columns


# --- BDS: time points, BASETYPE, ANL01FL rules, unscheduled, derived records -----------------

ADVS_SPEC = BdsSpec.model_validate(
    {"source": "VS", "parameters": [
        {"paramcd": "SYSBP", "paramn": 1, "param": "Systolic Blood Pressure (mmHg)",
         "where": {"VSTESTCD": "SYSBP"}, "unit": "mmHg", "digits": 0},
        {"paramcd": "WEIGHT", "paramn": 2, "param": "Weight (kg)", "where": {"VSTESTCD": "WEIGHT"},
         "unit": "kg", "digits": 1}]}
)  # fmt: skip
# First dose 2024-01-10 (ADY 1), last dose 2024-02-06 (ADY 28).
BDS_ADSL = pd.DataFrame(
    {
        "USUBJID": ["S-1", "S-2"],
        "TRTSDT": pd.to_datetime(["2024-01-10", "2024-01-10"]),
        "TRTEDT": pd.to_datetime(["2024-02-06", "2024-02-06"]),
        "TRT01P": ["Placebo", "Drug X 50 mg"],
    }
)
WINDOWS = (
    Window(3, "WEEK 2", 15, 8, 21),
    Window(4, "WEEK 4", 29, 22, 35),
    Window(5, "WEEK 8", 57, 36, 70),
)
PLANNED = (1.0, 2.0, 3.0, 4.0, 5.0)  # SCREENING, BASELINE, WEEK 2, WEEK 4, WEEK 8
LYING, STANDING = "AFTER LYING DOWN FOR 5 MINUTES", "AFTER STANDING FOR 1 MINUTE"
VS_COLUMNS = ["USUBJID", "VSSEQ", "VSTESTCD", "VSSTRESN", "VSSTRESU", "VSDTC", "VISITNUM",
              "VISIT", "VSTPT", "VSTPTNUM"]  # fmt: skip
VS = pd.DataFrame(
    [
        #                                               ADY
        ("S-1", 3, "SYSBP", 150, "mmHg", "2023-12-27", 1, "SCREENING", LYING, 815),  # -14
        ("S-1", 4, "SYSBP", 148, "mmHg", "2023-12-27", 1, "SCREENING", STANDING, 816),  # -14
        ("S-1", 1, "SYSBP", 140, "mmHg", "2024-01-10", 2, "BASELINE", LYING, 815),  # 1
        ("S-1", 2, "SYSBP", 136, "mmHg", "2024-01-10", 2, "BASELINE", STANDING, 816),  # 1
        ("S-1", 5, "WEIGHT", 80.0, "kg", "2024-01-10", 2, "BASELINE", None, None),  # 1
        ("S-1", 9, "SYSBP", 129, "mmHg", "2024-01-25", 3.1, "UNSCHEDULED 3.1", LYING, 815),  # 16
        ("S-1", 6, "SYSBP", 132, "mmHg", "2024-01-26", 3, "WEEK 2", LYING, 815),  # 17
        ("S-1", 7, "SYSBP", 131, "mmHg", "2024-01-26", 3, "WEEK 2", STANDING, 816),  # 17
        ("S-1", 8, "WEIGHT", 79.5, "kg", "2024-01-26", 3, "WEEK 2", None, None),  # 17
        # WEEK 4 missed
        ("S-1", 10, "SYSBP", 128, "mmHg", "2024-03-05", 5, "WEEK 8", LYING, 815),  # 56
        ("S-1", 11, "SYSBP", 127, "mmHg", "2024-03-05", 5, "WEEK 8", STANDING, 816),  # 56
        ("S-2", 1, "SYSBP", 145, "mmHg", "2024-01-10", 2, "BASELINE", LYING, 815),  # 1, then none
    ],
    columns=VS_COLUMNS,
)
BY_TPT = BaselineSpec(rule="last_on_or_before", by=["ATPTN"])


def _advs(
    baseline: BaselineSpec = BY_TPT,
    *,
    flag: dict | None = None,
    unscheduled: str = "include",
    derived: list | None = None,
) -> pd.DataFrame:
    visits = AnalysisVisits("window", WINDOWS, planned=PLANNED, unscheduled=unscheduled)
    advs, _ = derive_bds(
        "ADVS", VS, BDS_ADSL, ADVS_SPEC, baseline, visits, ["TRTSDT", "TRTEDT", "TRT01P"],
        analysis_flag=None if flag is None else AnalysisFlagSpec.model_validate(flag),
        derived_records=[] if derived is None else AdamSpec.model_validate({
            "treatment": {}, "baseline": {"rule": "last_on_or_before"},
            "analysis_visits": {"by": "window", "reference": "first_treatment",
                                "windows": "schedule"},
            "derived_records": derived}).derived_records,
    )  # fmt: skip
    return advs


def _rows(advs: pd.DataFrame, cols: list[str], **where) -> list[list]:
    mask = pd.Series(True, index=advs.index)
    for col, value in where.items():
        mask &= advs[col].eq(value).fillna(False) if value is not None else advs[col].isna()
    picked = advs.loc[mask, cols]
    return picked.astype(object).where(picked.notna(), None).values.tolist()


def test_baseline_and_change_per_time_point():
    advs = _advs()
    # ABLFL per USUBJID, PARAMCD, ATPTN: the last value on or before TRTSDT (2024-01-10).
    # 815: 150 (12-27) and 140 (01-10): 140. 816: 148, 136: 136. WEIGHT (no time point): 80.0.
    assert _rows(advs, ["PARAMCD", "ATPTN", "AVAL", "AVISIT"], ABLFL="Y") == [
        ["SYSBP", 815.0, 140.0, "BASELINE"],
        ["SYSBP", 816.0, 136.0, "BASELINE"],
        ["WEIGHT", None, 80.0, "BASELINE"],
        ["SYSBP", 815.0, 145.0, "BASELINE"],
    ]
    # WEEK 2 (ADY 17): 815 132 - 140 = -8, PCHG -8/140*100 = -5.714...; 816 131 - 136 = -5;
    # WEIGHT 79.5 - 80.0 = -0.5
    week2 = _rows(advs, ["ATPTN", "BASE", "CHG"], USUBJID="S-1", VISITNUM=3.0)
    assert week2 == [[815.0, 140.0, -8.0], [816.0, 136.0, -5.0], [None, 80.0, -0.5]]
    pchg = advs.loc[advs["VISITNUM"].eq(3.0) & advs["ATPTN"].eq(815.0), "PCHG"].iloc[0]
    assert pchg == pytest.approx(-8 / 140 * 100, abs=1e-8)
    # ATPT comes from VSTPT; the ADaMIG allows one baseline per USUBJID, PARAMCD and BASETYPE,
    # so each time point has its BASETYPE, named as admiral's ADVS template names them
    # ("LAST: AFTER LYING DOWN FOR 5 MINUTES" = ATPTN == 815, "LAST" = is.na(ATPTN))
    assert _rows(advs, ["ATPT", "BASETYPE"], USUBJID="S-1", ABLFL="Y") == [
        [LYING, f"LAST: {LYING}"],
        [STANDING, f"LAST: {STANDING}"],
        [None, "LAST"],
    ]


def test_one_baseline_per_parameter_without_by():
    # today's rule (by: []): one baseline per SYSBP, the last by ADT, ADTM, ATPTN, SEQ: on
    # 2024-01-10 ATPTN 816 sorts after 815, so 136 is the baseline of both time points and
    # the 815 value at WEEK 2 changes by 132 - 136 = -4.
    advs = _advs(BaselineSpec(rule="last_on_or_before"))
    assert _rows(advs, ["ATPTN", "AVAL"], USUBJID="S-1", PARAMCD="SYSBP", ABLFL="Y") == [
        [816.0, 136.0]
    ]
    assert _rows(advs, ["CHG"], VSSEQ=6) == [[-4.0]]


def test_basetype_gives_one_baseline_per_definition():
    # admiral derive_basetype_records: every record once per BASETYPE; ABLFL, BASE, CHG by
    # BASETYPE. LAST: on or before TRTSDT (815: 140). PRE-DOSE: before TRTSDT (815: 150 at
    # screening). WEEK 2 815 (132): CHG -8 for LAST, 132 - 150 = -18 for PRE-DOSE.
    baseline = BaselineSpec.model_validate(
        {"rule": "last_on_or_before", "by": ["ATPTN"],
         "basetypes": [{"basetype": "LAST"}, {"basetype": "PRE-DOSE", "rule": "last_before"}]}
    )  # fmt: skip
    advs = _advs(baseline)
    assert len(advs) == 2 * len(VS)
    # with time points (by: [ATPTN]) each definition is named per time point
    last, pre = f"LAST: {LYING}", f"PRE-DOSE: {LYING}"
    assert _rows(advs, ["BASETYPE", "AVAL"], USUBJID="S-1", ATPTN=815.0, ABLFL="Y") == [
        [last, 140.0],
        [pre, 150.0],
    ]
    assert _rows(advs, ["BASETYPE", "BASE", "CHG"], VSSEQ=6) == [
        [last, 140.0, -8.0],
        [pre, 150.0, -18.0],
    ]
    # S-2's only record is on TRTSDT: no PRE-DOSE baseline, so no BASE there
    assert _rows(advs, ["BASETYPE", "ABLFL", "BASE"], USUBJID="S-2") == [
        [last, "Y", 145.0],
        [pre, None, None],
    ]
    # without time points the BASETYPE is the definition's name
    plain = BaselineSpec.model_validate(
        {"rule": "last_on_or_before", "basetypes": [{"basetype": "LAST"}]}
    )
    assert set(_advs(plain)["BASETYPE"]) == {"LAST"}


def test_anl01fl_prefers_the_scheduled_visit_and_skips_baseline():
    # WEEK 2 of SYSBP 815 has the scheduled record (ADY 17, AWTDIFF |17 - 15| = 2) and an
    # unscheduled one (3.1, ADY 16, AWTDIFF 1).
    today = _advs()  # no analysis_flag key: closest wins, baseline flagged too
    assert _rows(today, ["VSSEQ", "ANL01FL"], USUBJID="S-1", ATPTN=815.0, AVISIT="WEEK 2") == [
        [9, "Y"], [6, None]
    ]  # fmt: skip
    assert _rows(today, ["ANL01FL"], USUBJID="S-1", VSSEQ=1) == [["Y"]]
    declared = _advs(flag={"rule": "closest"})  # prefer_scheduled, not on the baseline
    assert _rows(declared, ["VSSEQ", "ANL01FL"], USUBJID="S-1", ATPTN=815.0,
                 AVISIT="WEEK 2") == [[9, None], [6, "Y"]]  # fmt: skip
    assert _rows(declared, ["ANL01FL"], ABLFL="Y") == [[None]] * 4
    assert _rows(_advs(flag={"include_baseline": True}), ["ANL01FL"], ABLFL="Y") == [["Y"]] * 4


def test_unscheduled_records_excluded_from_windows_are_kept():
    advs = _advs(unscheduled="exclude")
    # the UNSCHEDULED 3.1 record stays, with its change, but has no analysis visit
    assert _rows(advs, ["AVISIT", "AVISITN", "AWTARGET", "CHG", "ANL01FL"], VSSEQ=9) == [
        [None, None, None, -11.0, None]  # 129 - 140
    ]
    assert _rows(advs, ["ANL01FL"], VSSEQ=6) == [["Y"]]
    # a planned visit the SAP leaves out (analysis_visits.exclude): WEEK 8 (VISITNUM 5)
    visits = AnalysisVisits("window", WINDOWS, planned=PLANNED, excluded=(5.0,))
    advs, found = derive_bds("ADVS", VS, BDS_ADSL, ADVS_SPEC, BY_TPT, visits, ["TRTSDT"])
    assert _rows(advs, ["AVISIT", "CHG"], USUBJID="S-1", VISITNUM=5.0) == [
        [None, -12.0],  # 128 - 140
        [None, -9.0],  # 127 - 136
    ]
    assert [f.code for f in found if f.variable == "AVISIT"] == ["adam-outside-windows"] * 2


@pytest.mark.parametrize(
    ("rule", "worst", "expected"),
    [
        # first: the earliest ADT, 2024-01-23 (the third); two records on 2024-01-24 (ADT
        # tie): last = the later ADTM (09:00, the first); worst highest: 150 twice -> the
        # earlier (ADT, ADTM): 08:00, the second
        ("first", None, [None, None, "Y"]),
        ("last", None, ["Y", None, None]),
        ("worst", {"SYSBP": "highest"}, [None, "Y", None]),
        ("worst", {"SYSBP": "lowest"}, [None, None, "Y"]),
        # closest: AWTDIFF 2, 2, 1 -> the third
        ("closest", None, [None, None, "Y"]),
    ],
)
def test_anl01fl_rules_at_ties(rule, worst, expected):
    df = pd.DataFrame(
        {
            "USUBJID": ["1"] * 3,
            "PARAMCD": ["SYSBP"] * 3,
            "AVISITN": [3.0] * 3,
            "AVAL": [150.0, 150.0, 120.0],
            "ADT": pd.to_datetime(["2024-01-24", "2024-01-24", "2024-01-23"]),
            "ADTM": pd.to_datetime(["2024-01-24 09:00", "2024-01-24 08:00", "2024-01-23 10:00"]),
            "SRCSEQ": [1.0, 2.0, 3.0],
            "ADY": [15, 15, 14],
            "AWTDIFF": [2, 2, 1],
        }
    )
    out = derive_var_anl_flag(df, rule=rule, worst=worst)
    assert out["ANL01FL"].astype(object).where(out["ANL01FL"].notna(), None).tolist() == expected


def test_locf_and_end_of_treatment_records():
    derived = [{"dtype": "LOCF"}, {"dtype": "LOV", "avisit": "END OF TREATMENT", "avisitn": 99}]
    advs = _advs(flag={"rule": "closest"}, derived=derived)
    cols = ["AVISIT", "AVISITN", "AVAL", "BASE", "CHG", "DTYPE", "ANL01FL"]
    # S-1 SYSBP 815: WEEK 4 missed -> LOCF of WEEK 2 (132, the ANL01FL record; the
    # unscheduled 129 is not the analysis value): CHG 132 - 140 = -8. End of treatment: the
    # last ANL01FL post-baseline record on or before TRTEDT 2024-02-06 is WEEK 2 (WEEK 8 is
    # 2024-03-05, after it): 132, CHG -8.
    assert _rows(advs, cols, USUBJID="S-1", ATPTN=815.0, DTYPE="LOCF") == [
        ["WEEK 4", 4.0, 132.0, 140.0, -8.0, "LOCF", "Y"]
    ]
    assert _rows(advs, cols, USUBJID="S-1", ATPTN=815.0, DTYPE="LOV") == [
        ["END OF TREATMENT", 99.0, 132.0, 140.0, -8.0, "LOV", "Y"]
    ]
    # WEIGHT: WEEK 2 only -> WEEK 4 and WEEK 8 carry 79.5 (CHG -0.5)
    assert _rows(advs, ["AVISIT", "AVAL", "CHG"], PARAMCD="WEIGHT", DTYPE="LOCF") == [
        ["WEEK 4", 79.5, -0.5],
        ["WEEK 8", 79.5, -0.5],
    ]
    # S-2 has its baseline only: admiral carries it (it is the previous observation) to each
    # expected visit, CHG 0; no post-baseline record, so no end-of-treatment record.
    assert _rows(advs, ["AVISIT", "AVAL", "CHG", "DTYPE"], USUBJID="S-2", ABLFL=None) == [
        ["WEEK 2", 145.0, 0.0, "LOCF"],
        ["WEEK 4", 145.0, 0.0, "LOCF"],
        ["WEEK 8", 145.0, 0.0, "LOCF"],
    ]
    # a derived record has no date or visit of its own; the LOV record keeps its source's
    locf = advs.loc[advs["DTYPE"].eq("LOCF").fillna(False)]
    assert locf["ADT"].isna().all() and locf["VISITNUM"].isna().all()
    lov = advs.loc[advs["DTYPE"].eq("LOV").fillna(False)]
    assert sorted(lov["SRCSEQ"].tolist()) == [6.0, 7.0, 8.0]
    # lineage (DIR/lineage/advs.csv) follows the SDTM row a record came from (__bds_row__):
    # a derived record's is its source record's, VS row 7 (VSSEQ 6) for both 815 records
    row = "__bds_row__"
    assert advs.loc[advs["DTYPE"].isna() & advs["VSSEQ"].eq(6), row].tolist() == [7]
    assert advs.loc[advs["DTYPE"].notna() & advs["ATPTN"].eq(815.0)
                    & advs["USUBJID"].eq("S-1"), row].tolist() == [7, 7]  # fmt: skip
    # derived records come after the observed ones of their parameter
    s1 = advs.loc[advs["USUBJID"].eq("S-1") & advs["PARAMCD"].eq("SYSBP"), "DTYPE"]
    assert s1.tolist()[-4:] == ["LOCF", "LOCF", "LOV", "LOV"]


def test_locf_options_and_end_window():
    # carry_baseline false: S-2 (baseline only) gets nothing; visits limits the expected ones
    advs = _advs(flag={"rule": "closest"},
                 derived=[{"dtype": "LOCF", "carry_baseline": False, "visits": ["WEEK 4"]}])
    assert _rows(advs, ["USUBJID", "PARAMCD", "ATPTN", "AVAL"], DTYPE="LOCF") == [
        ["S-1", "SYSBP", 815.0, 132.0],
        ["S-1", "SYSBP", 816.0, 131.0],
        ["S-1", "WEIGHT", None, 79.5],
    ]
    # end_window 28: WEEK 8 (2024-03-05 = TRTEDT 2024-02-06 + 28) is on treatment -> 128
    advs = _advs(derived=[{"dtype": "LOV", "end_window": 28}])
    assert _rows(advs, ["ATPTN", "AVAL", "CHG"], PARAMCD="SYSBP", DTYPE="LOV") == [
        [815.0, 128.0, -12.0],
        [816.0, 127.0, -9.0],
    ]


def test_derived_record_keys_are_checked():
    base = {"treatment": {}, "baseline": {"rule": "last_on_or_before"},
            "analysis_visits": {"by": "window", "reference": "first_treatment",
                                "windows": "schedule"}}  # fmt: skip
    with pytest.raises(ValueError, match="give dtype LOCF"):
        AdamSpec.model_validate({**base, "derived_records": [{"dtype": "BOCF"}]})
    spec = AdamSpec.model_validate({**base, "derived_records": [{"dtype": "LOV"}]})
    assert spec.derived_records == [EndOfTreatmentSpec(dtype="LOV")]
    assert isinstance(
        AdamSpec.model_validate({**base, "derived_records": [{"dtype": "LOCF"}]})
        .derived_records[0], LocfSpec
    )  # fmt: skip
    with pytest.raises(ValueError, match="always a by-variable"):
        BaselineSpec.model_validate({"rule": "last_on_or_before", "by": ["PARAMCD"]})
    assert np.isnan(float("nan"))


def test_bds_conformance_rules_pass_with_time_points_and_derived_records():
    # base-not-constant, ablfl-multiple (AD0154), chg-not-aval-minus-base, ... group by
    # USUBJID, PARAMCD and BASETYPE: a baseline per time point is conformant because each time
    # point has its BASETYPE
    from trialflow.adam.metadata import adam_variables
    from trialflow.validation.core import RULES, Dataset, Package
    from trialflow.validation.rules import bds

    advs = _advs(flag={"rule": "closest"}, derived=[{"dtype": "LOCF"}, {"dtype": "LOV"}])
    frame = advs[[n for n in adam_variables("ADVS")["name"] if n in advs.columns]]
    package = Package({"ADVS": Dataset.from_frame("ADVS", frame, kind="adam")})
    rules = [r for r in RULES.values() if r.run is not None and r.run.__module__ == bds.__name__]
    assert [f.one_line() for r in rules for f in r.run(package)] == []


def test_computed_parameter_per_time_point():
    # BMI = WEIGHT / (HEIGHT / 100)^2 per subject, visit, date and time point (admiral computes
    # MAP with VSTPT/VSTPTNUM among the by-variables): two WEIGHTs of one date at two time
    # points give two BMIs, 81.0 / 1.8^2 = 25.0 and 77.76 / 1.8^2 = 24.0
    spec = BdsSpec.model_validate(
        {"source": "VS", "parameters": [
            {"paramcd": "WEIGHT", "param": "Weight (kg)", "where": {"VSTESTCD": "WEIGHT"},
             "unit": "kg", "digits": 2},
            {"paramcd": "HEIGHT", "param": "Height (cm)", "where": {"VSTESTCD": "HEIGHT"},
             "unit": "cm", "digits": 1}],
         "computed": [{"paramcd": "BMI", "param": "BMI (kg/m2)", "formula": "bmi", "digits": 1,
                       "inputs": {"weight": "WEIGHT", "height": "HEIGHT"},
                       "constant": ["HEIGHT"]}]}
    )  # fmt: skip
    vs = pd.DataFrame(
        [
            ("S-1", 1, "HEIGHT", 180.0, "cm", "2024-01-10", 2, "BASELINE", None, None),
            ("S-1", 2, "WEIGHT", 81.0, "kg", "2024-01-10", 2, "BASELINE", "MORNING", 1),
            ("S-1", 3, "WEIGHT", 77.76, "kg", "2024-01-10", 2, "BASELINE", "EVENING", 2),
        ],
        columns=VS_COLUMNS,
    )
    visits = AnalysisVisits("window", WINDOWS, planned=PLANNED)
    advs, _ = derive_bds("ADVS", vs, BDS_ADSL, spec, BY_TPT, visits, ["TRTSDT"])
    assert _rows(advs, ["ATPTN", "ATPT", "AVAL"], PARAMCD="BMI") == [
        [1.0, "MORNING", 25.0],
        [2.0, "EVENING", 24.0],
    ]


def test_build_adam_population_flags_of_a_randomised_study():
    # RANDFL (trial.summary RANDOM = Y) and ITTFL (adam.adsl.intent_to_treat: assigned): Y for
    # a subject with an arm (S-1, S-2, S-4, S-5), N for the screen failure S-3
    from trialflow.adam.build import build_adam
    from trialflow.mapping.spec import StudySpec

    spec = StudySpec.model_validate({
        "study": {"studyid": "S"}, "domains": ["DM", "EX", "VS"],
        "arms": [{"armcd": a, "arm": a} for a in ARMS],
        "visits": [{"visitnum": 2, "visit": "BASELINE", "day": 1, "window": 0},
                   {"visitnum": 3, "visit": "WEEK 2", "day": 15, "window": 6}],
        "trial": {"summary": {"RANDOM": "Y"},
                  "elements": [{"etcd": a, "element": a, "start": "First dose",
                                "end": "Last dose", "epoch": "TREATMENT",
                                "starts_at": "RFXSTDTC"} for a in ARMS],
                  "arms": {a: [a] for a in ARMS}},
        "adam": {"treatment": PLACEBO, "baseline": {"rule": "last_on_or_before"},
                 "analysis_visits": {"by": "window", "reference": "first_treatment",
                                     "windows": "schedule"},
                 "adsl": {"intent_to_treat": "assigned"},
                 "datasets": {"ADVS": {"source": "VS", "parameters": [
                     {"paramcd": "SYSBP", "param": "Systolic Blood Pressure (mmHg)",
                      "where": {"VSTESTCD": "SYSBP"}, "unit": "mmHg"}]}}},
    })  # fmt: skip
    vs = VS.loc[VS["USUBJID"].eq("S-1")].assign(VSSEQ=lambda d: range(1, len(d) + 1))
    result = build_adam(spec, {"DM": DM, "EX": EX, "VS": vs}, on_issue="none")
    adsl = result.datasets["ADSL"].set_index("USUBJID")
    assert adsl["RANDFL"].tolist() == ["Y", "Y", "N", "Y", "Y"]
    assert adsl["ITTFL"].tolist() == ["Y", "Y", "N", "Y", "Y"]
    assert adsl["SAFFL"].tolist() == ["Y", "Y", "N", "N", "Y"]
