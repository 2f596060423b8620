"""Analysis visits as the SAP declares them (study.yaml adam.analysis_visits).

Small hand-made LB data for each mode, with the expected values worked out by hand in the
comments, then the bundled example: every scheduled post-baseline record inside its protocol
window (the schedule's day +/- 3 after the subject's DAY 0 visit) is analysed at its own visit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.adam.bds import derive_bds
from trialflow.adam.build import build_adam
from trialflow.adam.windows import analysis_visits
from trialflow.analysis.summary import cfb_summary
from trialflow.mapping.load import load_study
from trialflow.mapping.spec import BaselineSpec, BdsSpec, StudySpec
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm

SCHEDULE = [
    {"visitnum": 1, "visit": "DAY 0", "day": 0, "window": 3},
    {"visitnum": 2, "visit": "DAY 14", "day": 14, "window": 3},
    {"visitnum": 3, "visit": "DAY 21", "day": 21, "window": 3},
    {"visitnum": 4, "visit": "DAY 28", "day": 28, "window": 3},
]
SPEC = BdsSpec.model_validate(
    {"source": "LB", "parameters": [
        {"paramcd": "FPG", "param": "Fasting glucose (mmol/L)", "unit": "mmol/L",
         "where": {"LBTESTCD": "GLUC"}}]}
)  # fmt: skip
BASELINE = BaselineSpec(rule="last_on_or_before")
# First infusion on 2020-01-10: 9 days after the DAY 0 visit of 2020-01-01 (ADY 1).
ADSL = pd.DataFrame(
    {"USUBJID": ["S-1", "S-2"], "TRTSDT": pd.to_datetime(["2020-01-10", "2020-01-10"])}
)
COLUMNS = ["USUBJID", "LBSEQ", "LBTESTCD", "LBSTRESN", "LBSTRESU", "LBDTC", "VISITNUM", "VISIT"]


def _lb(day21: str = "2020-01-23") -> pd.DataFrame:
    rows = [
        #                                    day from DAY 0   ADY
        ("S-1", 1, "GLUC", 8.0, "2020-01-01", 1, "DAY 0"),  # 0   -9  baseline
        ("S-1", 2, "GLUC", 7.0, "2020-01-14", 2, "DAY 14"),  # 13   5
        ("S-1", 3, "GLUC", 6.5, day21, 3, "DAY 21"),  # 22 (or 26)  14 (or 18)
        ("S-1", 4, "GLUC", 6.0, "2020-01-29", 4, "DAY 28"),  # 28  20
        ("S-1", 5, "GLUC", 6.8, "2020-02-15", 4.01, "UNSCHEDULED 4.01"),  # 45  37
    ]
    return pd.DataFrame(
        [(u, s, t, v, "mmol/L", d, n, name) for u, s, t, v, d, n, name in rows], columns=COLUMNS
    )


def _rule(by: str, reference: object, windows: object = "schedule"):
    spec = StudySpec.model_validate(
        {
            "study": {"studyid": "S"},
            "domains": ["DM"],
            "arms": [{"armcd": "A", "arm": "A"}],
            "visits": SCHEDULE,
            "adam": {
                "treatment": {},
                "baseline": {"rule": "last_on_or_before"},
                "analysis_visits": {"by": by, "reference": reference, "windows": windows},
            },
        }
    )
    return analysis_visits(spec)


def _codes(findings) -> list[tuple[str, int | None]]:
    return [(f.code, f.record) for f in findings]


def _col(frame: pd.DataFrame, name: str) -> list:
    return frame[name].astype(object).where(frame[name].notna(), "-").tolist()


def test_windows_from_the_day_0_visit_keep_each_visit_where_the_protocol_puts_it():
    rule = _rule("window", {"visit": "DAY 0"})
    adlb, findings = derive_bds("ADLB", _lb(), ADSL, SPEC, BASELINE, rule, ["TRTSDT"])
    # days 13, 22, 28 lie in DAY 14 (11-17), DAY 21 (18-24), DAY 28 (25-31); day 45 in none
    assert _col(adlb, "AVISIT") == ["BASELINE", "DAY 14", "DAY 21", "DAY 28", "-"]
    assert _col(adlb, "AWTARGET") == ["-", 14.0, 21.0, 28.0, "-"]
    assert _col(adlb, "AWTDIFF") == ["-", 1.0, 1.0, 0.0, "-"]
    assert _col(adlb, "AWLO") == ["-", 11.0, 18.0, 25.0, "-"]
    assert _col(adlb, "AWHI") == ["-", 17.0, 24.0, 31.0, "-"]
    assert _col(adlb, "AWU") == ["-", "DAYS", "DAYS", "DAYS", "-"]
    assert _col(adlb, "ANL01FL") == ["Y", "Y", "Y", "Y", "-"]
    # ADY stays the ADaMIG study day from TRTSDT: 2020-01-14 is day 5
    assert adlb["ADY"].tolist() == [-9, 5, 14, 20, 37]
    assert adlb["CHG"].tolist()[1:] == pytest.approx([-1.0, -1.5, -2.0, -1.2])
    assert _codes(findings) == [("adam-outside-windows", 5)]
    assert "day 45 from DAY 0" in findings[0].message


def test_the_same_windows_counted_from_the_first_infusion_move_visits_and_say_so():
    # The example's old rule: the schedule's days read as ADY. Day 13 after DAY 0 is ADY 5
    # (in no window), DAY 21 at ADY 14 lands in DAY 14 (11-17), DAY 28 at ADY 20 in DAY 21.
    rule = _rule("window", "first_treatment")
    adlb, findings = derive_bds("ADLB", _lb(), ADSL, SPEC, BASELINE, rule, ["TRTSDT"])
    assert _col(adlb, "AVISIT") == ["BASELINE", "-", "DAY 14", "DAY 21", "-"]
    assert _col(adlb, "AWTDIFF") == ["-", "-", 0.0, 1.0, "-"]
    assert _codes(findings) == [
        ("adam-outside-windows", 2),
        ("adam-outside-windows", 5),
        ("adam-visit-in-other-window", 3),
        ("adam-visit-in-other-window", 4),
    ]
    assert "DAY 21 is on analysis day (ADY) 14 from the first treatment" in findings[2].message
    assert "so its AVISIT is DAY 14 (by: window)" in findings[2].message


def test_by_nominal_visit_a_late_visit_keeps_its_visit_and_is_reported():
    # DAY 21 taken on 2020-01-27, day 26: outside 18-24 (and inside DAY 28's 25-31)
    rule = _rule("nominal_visit", {"visit": "DAY 0"})
    lb = _lb(day21="2020-01-27")
    adlb, findings = derive_bds("ADLB", lb, ADSL, SPEC, BASELINE, rule, ["TRTSDT"])
    assert _col(adlb, "AVISIT") == ["BASELINE", "DAY 14", "DAY 21", "DAY 28", "-"]
    assert _col(adlb, "AVISITN") == [0.0, 2.0, 3.0, 4.0, "-"]
    assert _col(adlb, "AWTDIFF") == ["-", 1.0, 5.0, 0.0, "-"]
    assert _col(adlb, "ANL01FL") == ["Y", "Y", "Y", "Y", "-"]
    assert _codes(findings) == [("adam-outside-windows", 5), ("adam-visit-out-of-window", 3)]
    assert findings[1].message == (
        "FPG at DAY 21 is on day 26 from DAY 0, outside the visit's window (days 18 to 24); it "
        "keeps its visit (by: nominal_visit)"
    )
    assert "is at no planned visit" in findings[0].message


def test_by_window_the_late_visit_is_in_the_next_window_and_said_so():
    rule = _rule("window", {"visit": "DAY 0"})
    adlb, findings = derive_bds(
        "ADLB", _lb(day21="2020-01-27"), ADSL, SPEC, BASELINE, rule, ["TRTSDT"]
    )
    # day 26 is in DAY 28 (25-31) beside the DAY 28 visit on day 28, which is closer
    assert _col(adlb, "AVISIT") == ["BASELINE", "DAY 14", "DAY 28", "DAY 28", "-"]
    assert _col(adlb, "ANL01FL") == ["Y", "Y", "-", "Y", "-"]
    assert ("adam-visit-in-other-window", 3) in _codes(findings)


def test_a_subject_without_the_reference_visit_is_reported_once():
    # S-2 has no DAY 0 record: its days can't be counted
    lb = pd.concat(
        [_lb(), pd.DataFrame([("S-2", 1, "GLUC", 7.2, "mmol/L", "2020-01-14", 2, "DAY 14")],
                             columns=COLUMNS)],
        ignore_index=True,
    )  # fmt: skip
    for by, avisit, flag in (("window", "-", "-"), ("nominal_visit", "DAY 14", "Y")):
        adlb, findings = derive_bds(
            "ADLB", lb, ADSL, SPEC, BASELINE, _rule(by, {"visit": "DAY 0"}), ["TRTSDT"]
        )
        s2 = adlb[adlb["USUBJID"] == "S-2"]
        assert _col(s2, "AVISIT") == [avisit] and _col(s2, "ANL01FL") == [flag]
        assert pd.isna(s2["AWTDIFF"].item())
        missing = [f for f in findings if f.code == "adam-window-reference-missing"]
        assert [(f.severity, f.usubjid) for f in missing] == [("warning", "S-2")]
        assert "no dated DAY 0 visit" in missing[0].message
        assert all(f.usubjid == "S-1" for f in findings if f.code == "adam-outside-windows")


def test_reference_dates_given_by_the_caller_win_over_the_dataset_s_own():
    # build_adam passes each subject's DAY 0 date over SV and every BDS source domain
    rule = _rule("window", {"visit": "DAY 0"})
    dates = pd.Series(pd.to_datetime(["2019-12-31"]), index=pd.Index(["S-1"], name="USUBJID"))
    adlb, _ = derive_bds("ADLB", _lb(), ADSL, SPEC, BASELINE, rule, ["TRTSDT"],
                         visit_dates=dates)  # fmt: skip
    assert _col(adlb, "AWTDIFF") == ["-", 0.0, 2.0, 1.0, "-"]  # days 14, 23, 29


def test_adlb_and_advs_count_from_the_subject_s_earliest_day_0_date():
    study = StudySpec.model_validate(
        {
            "study": {"studyid": "S"},
            "domains": ["DM", "EX", "LB", "VS"],
            "arms": [{"armcd": "A", "arm": "A"}],
            "visits": SCHEDULE,
            "adam": {
                "treatment": {},
                "baseline": {"rule": "last_on_or_before"},
                "analysis_visits": {"by": "window", "reference": {"visit": "DAY 0"},
                                    "windows": "schedule"},
                "datasets": {
                    "ADLB": SPEC.model_dump(),
                    "ADVS": {"source": "VS", "parameters": [
                        {"paramcd": "WEIGHT", "param": "Weight (kg)",
                         "where": {"VSTESTCD": "WEIGHT"}}]},
                },
            },
        }
    )  # fmt: skip
    dm = pd.DataFrame({"USUBJID": ["S-1"], "ARM": ["A"], "ARMCD": ["A"]})
    ex = pd.DataFrame({"USUBJID": ["S-1"], "EXDOSE": [1.0], "EXSTDTC": ["2020-01-10"]})
    lb = _lb().iloc[:4].assign(LBDTC=["2020-01-02", "2020-01-14", "2020-01-23", "2020-01-29"])
    vs = pd.DataFrame(
        {"USUBJID": ["S-1"] * 2, "VSSEQ": [1.0, 2.0], "VSTESTCD": ["WEIGHT"] * 2,
         "VSSTRESN": [70.0, 69.0], "VSDTC": ["2020-01-01", "2020-01-17"],
         "VISITNUM": [1.0, 2.0], "VISIT": ["DAY 0", "DAY 14"]}
    )  # fmt: skip
    adam = build_adam(study, {"DM": dm, "EX": ex, "LB": lb, "VS": vs}, on_issue="none")
    # DAY 0 was 2020-01-01 (vital signs); the labs of that visit a day later don't move it
    adlb, advs = adam.datasets["ADLB"], adam.datasets["ADVS"]
    assert _col(adlb, "AWTDIFF") == ["-", 1.0, 1.0, 0.0]  # days 13, 22, 28
    assert _col(advs, "AWTDIFF") == ["-", 2.0]  # 2020-01-17 is day 16
    assert _col(advs, "AVISIT") == ["BASELINE", "DAY 14"]


# --- the bundled example ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def example():
    study = load_study(EXAMPLE_SPECS)
    sdtm = build_sdtm(study, read_export(EXAMPLE_EXPORT), on_issue="none")
    adam = build_adam(study.spec, sdtm.domains, on_issue="none")
    return sdtm, adam


def _protocol_day(records: pd.DataFrame, sdtm: dict[str, pd.DataFrame]) -> pd.Series:
    """Days after the subject's DAY 0 visit, from the SDTM dates (LB and VS), by hand."""
    dates = pd.concat(
        [pd.DataFrame({"USUBJID": d["USUBJID"], "VISIT": d["VISIT"],
                       "DATE": pd.to_datetime(d[f"{k}DTC"].str[:10])})
         for k, d in (("LB", sdtm["LB"]), ("VS", sdtm["VS"]))]
    )  # fmt: skip
    day0 = dates[dates["VISIT"] == "DAY 0"].groupby("USUBJID")["DATE"].min()
    return (records["ADT"] - records["USUBJID"].map(day0)).dt.days


PLANNED = {"DAY 14": 14, "DAY 21": 21, "DAY 28": 28, "DAY 84": 84}


@pytest.mark.parametrize("name", ["ADLB", "ADVS"])
def test_example_scheduled_records_in_their_protocol_window_are_analysed_at_their_visit(
    example, name
):
    sdtm, adam = example
    data = adam.datasets[name]
    scheduled = data[data["VISIT"].isin(list(PLANNED)) & data["ABLFL"].isna()]
    day = _protocol_day(scheduled, sdtm.domains)
    inside = (day - scheduled["VISIT"].map(PLANNED)).abs() <= 3
    # every scheduled post-baseline record of the example is inside its protocol window
    # (495 in ADLB with HOMA-IR and HOMA-B, 378 in ADVS with BMI)
    assert inside.all() and len(scheduled) == {"ADLB": 495, "ADVS": 378}[name]
    assert (scheduled["AVISIT"] == scheduled["VISIT"]).all()
    assert (scheduled["AVISITN"] == scheduled["VISITNUM"]).all()
    assert np.array_equal(
        scheduled["AWTDIFF"].to_numpy(), (day - scheduled["VISIT"].map(PLANNED)).abs().to_numpy()
    )
    assert not [f for f in adam.findings if f.code == "adam-visit-in-other-window"]


def test_example_summary_has_no_misallocated_rows(example):
    sdtm, adam = example
    adlb = adam.datasets["ADLB"]
    endpoints = ["FPG", "P2PG", "HBA1C", "FCP", "P2CP", "HOMAIR", "HOMAB"]
    summary = cfb_summary(adlb, endpoints, quantile_method="spss")
    analysed = adlb[(adlb["ANL01FL"] == "Y") & (adlb["FASFL"] == "Y")]
    for paramcd in endpoints:
        rows = summary[summary["PARAMCD"] == paramcd]
        # a parameter has rows only at the visits where it has analysis records ...
        visits = set(analysed.loc[analysed["PARAMCD"] == paramcd, "AVISIT"])
        assert set(rows["AVISIT"]) == visits
        # ... which are the visits it is measured at (study brief): FPG at 0, 14, 21, 28
        # and 84, the others at 0, 28 and 84; no DAY 21 row from a day-28 record
        measured = {"BASELINE", "DAY 28", "DAY 84"} | (
            {"DAY 14", "DAY 21"} if paramcd == "FPG" else set()
        )
        assert visits == measured, paramcd
    # no row rests on one subject, and n at day 28 is the 16 subjects (hand count: each
    # subject has one scheduled DAY 28 record of each endpoint, all inside day 25-31)
    assert summary["N"].min() > 1
    day28 = summary[summary["AVISIT"] == "DAY 28"]
    assert set(day28["N"]) == {16}
    # FPG at DAY 21: 15 of the 16 subjects have a DAY 21 FPG record in the raw export
    lb = sdtm.domains["LB"]
    fpg21 = lb[(lb["VISIT"] == "DAY 21") & (lb["LBTESTCD"] == "GLUC")]["USUBJID"].nunique()
    assert fpg21 == 15
    fpg = summary[(summary["PARAMCD"] == "FPG") & (summary["AVISIT"] == "DAY 21")]
    assert set(fpg["N"]) == {15}


def test_example_unscheduled_visit_is_outside_every_window_and_reported(example):
    sdtm, adam = example
    for name in ("ADLB", "ADVS"):
        data = adam.datasets[name]
        unscheduled = data[data["VISIT"].str.startswith("UNSCHEDULED").fillna(False)]
        day = _protocol_day(unscheduled, sdtm.domains)
        assert set(day) == {41}  # between DAY 28 (25-31) and DAY 84 (81-87)
        assert unscheduled["AVISIT"].isna().all() and unscheduled["ANL01FL"].isna().all()
        noted = {f.record for f in adam.findings
                 if f.code == "adam-outside-windows" and f.dataset == name}  # fmt: skip
        assert noted == {int(i) + 1 for i in unscheduled.index}
