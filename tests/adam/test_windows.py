"""Analysis windows (AVISITN/AVISIT) and the one-record-per-window flag (ANL01FL)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from trialflow.adam.dates import DerivationError
from trialflow.adam.windows import (
    AnalysisVisits,
    Window,
    analysis_visits,
    compute_visit_dates,
    derive_var_anl_flag,
    derive_vars_avisit,
    derive_vars_avisit_nominal,
    describe_analysis_visits,
    windows_from_schedule,
)
from trialflow.mapping.spec import StudySpec

SCHEDULE = [
    {"visitnum": 1, "visit": "DAY 0", "day": 0, "window": 3},
    {"visitnum": 2, "visit": "DAY 14", "day": 14, "window": 3},
    {"visitnum": 3, "visit": "DAY 21", "day": 21, "window": 3},
]
WINDOWS = windows_from_schedule(SCHEDULE, day_offset=1)


## Test 1: windows from the study schedule ----
def test_windows_from_schedule() -> None:
    assert [
        Window(1.0, "DAY 0", 1, -2, 4),
        Window(2.0, "DAY 14", 15, 12, 18),
        Window(3.0, "DAY 21", 22, 19, 25),
    ] == WINDOWS


def test_schedule_with_overlap_or_missing_key_is_an_error() -> None:
    with pytest.raises(DerivationError, match="overlap"):
        windows_from_schedule([*SCHEDULE, {"visitnum": 4, "visit": "X", "day": 24, "window": 3}])
    with pytest.raises(DerivationError, match="window"):
        windows_from_schedule([{"visitnum": 1, "visit": "X", "day": 1}])


## Test 2: assignment, bounds inclusive, outside and null days get null ----
def test_assignment() -> None:
    adlb = pd.DataFrame(
        {"USUBJID": ["1"] * 7, "ADY": pd.array([-2, 4, 12, 18, 11, None, 40], dtype="Int64")},
        index=[6, 5, 4, 3, 2, 1, 0],
    )
    before = adlb.copy()
    out = derive_vars_avisit(adlb, windows=WINDOWS)
    assert_frame_equal(adlb, before)
    expected = adlb.assign(
        AVISITN=[1.0, 1.0, 2.0, 2.0, None, None, None],
        AVISIT=pd.Series(
            ["DAY 0", "DAY 0", "DAY 14", "DAY 14", None, None, None], dtype="str", index=adlb.index
        ),
        AWTARGET=pd.Series([1, 1, 15, 15, None, None, None], dtype="Int64", index=adlb.index),
        AWTDIFF=pd.Series([3, 3, 3, 3, None, None, None], dtype="Int64", index=adlb.index),
        AWLO=pd.Series([-2, -2, 12, 12, None, None, None], dtype="Int64", index=adlb.index),
        AWHI=pd.Series([4, 4, 18, 18, None, None, None], dtype="Int64", index=adlb.index),
    )
    assert_frame_equal(out, expected)


def test_windows_as_dicts_and_overlap_checked_up_front() -> None:
    df = pd.DataFrame({"ADY": [5]})
    out = derive_vars_avisit(
        df, windows=[{"avisitn": 1, "avisit": "W1", "target": 5, "low": 3, "high": 7}]
    )
    assert out["AVISIT"].tolist() == ["W1"]
    overlapping = [Window(1, "A", 5, 0, 10), Window(2, "B", 10, 10, 12)]
    with pytest.raises(DerivationError, match="overlap"):
        derive_vars_avisit(pd.DataFrame({"X": [1]}), windows=overlapping)
    with pytest.raises(DerivationError, match="low <= target <= high"):
        derive_vars_avisit(df, windows=[Window(1, "A", 20, 0, 10)])
    with pytest.raises(DerivationError, match="ADY"):
        derive_vars_avisit(pd.DataFrame({"X": [1]}), windows=WINDOWS)


## Test 3: ANL01FL picks the record closest to the target ----
def _windowed(days: list[int], avals: list[float | None], params: list[str] | None = None):
    n = len(days)
    df = pd.DataFrame(
        {
            "USUBJID": ["1"] * n,
            "PARAMCD": params or ["HBA1C"] * n,
            "ADY": pd.Series(days, dtype="Int64"),
            "AVAL": avals,
        }
    )
    return derive_vars_avisit(df, windows=WINDOWS)


def test_closest_to_target_wins() -> None:
    out = derive_var_anl_flag(_windowed([12, 14, 16, 1], [1.0, 2.0, 3.0, 4.0]))
    assert out["ANL01FL"].tolist()[1] == "Y"
    assert out["ANL01FL"].isna().tolist() == [True, False, True, False]


def test_tie_takes_the_earlier_day_then_the_earlier_row() -> None:
    # Two records 2 days either side of target day 15, the later one first in the data.
    out = derive_var_anl_flag(_windowed([17, 13], [1.0, 2.0]))
    assert out["ANL01FL"].isna().tolist() == [True, False]
    out = derive_var_anl_flag(_windowed([13, 13], [1.0, 2.0]))
    assert out["ANL01FL"].isna().tolist() == [False, True]


def test_only_records_with_window_and_value_and_filter() -> None:
    df = _windowed([15, 14, 30, 16], [None, 2.0, 3.0, 4.0])
    out = derive_var_anl_flag(df)
    # Day 15 has no AVAL; day 30 is outside every window.
    assert out["ANL01FL"].isna().tolist() == [True, False, True, True]
    out = derive_var_anl_flag(df, filter=lambda d: d["ADY"] != 14, new_var="ANL02FL")
    assert out["ANL02FL"].isna().tolist() == [True, True, True, False]


def test_by_parameter_and_input_kept() -> None:
    df = _windowed([14, 14, 15], [1.0, 2.0, 3.0], params=["HBA1C", "GLUC", "GLUC"])
    before = df.copy()
    out = derive_var_anl_flag(df)
    assert_frame_equal(df, before)
    assert out["ANL01FL"].isna().tolist() == [False, True, False]
    assert list(out.columns) == [*df.columns, "ANL01FL"]


## Test 4: property: at most one flagged record per subject, parameter and window ----
records = st.lists(
    st.tuples(
        st.sampled_from(["1", "2"]),
        st.sampled_from(["A", "B"]),
        st.one_of(st.none(), st.integers(-5, 30)),
        st.one_of(st.none(), st.floats(0, 10)),
    ),
    max_size=40,
)


@settings(max_examples=75, deadline=None)
@given(records)
def test_at_most_one_flag_per_group(rows: list) -> None:
    df = pd.DataFrame(rows, columns=["USUBJID", "PARAMCD", "ADY", "AVAL"])
    df["ADY"] = df["ADY"].astype("Int64")
    out = derive_var_anl_flag(derive_vars_avisit(df, windows=WINDOWS))
    flagged = out[out["ANL01FL"] == "Y"]
    assert not flagged.duplicated(["USUBJID", "PARAMCD", "AVISITN"]).any()
    assert flagged["AVAL"].notna().all() and flagged["AVISITN"].notna().all()
    eligible = out[out["AVISITN"].notna() & out["AVAL"].notna()]
    groups = eligible.groupby(["USUBJID", "PARAMCD", "AVISITN"]).ngroups
    assert len(flagged) == groups
    # The flagged record is one with the smallest distance to the target in its group.
    best = eligible.groupby(["USUBJID", "PARAMCD", "AVISITN"])["AWTDIFF"].min()
    got = flagged.set_index(["USUBJID", "PARAMCD", "AVISITN"])["AWTDIFF"].sort_index()
    assert got.tolist() == best.sort_index().tolist()


## Test 5: by nominal visit: the record's VISITNUM decides, its day only measures the distance ----
def test_nominal_visit_keeps_the_visit_and_measures_the_day() -> None:
    windows = windows_from_schedule(SCHEDULE[1:], disjoint=False)  # DAY 14 11-17, DAY 21 18-24
    df = pd.DataFrame(
        {
            "VISITNUM": [2.0, 2.0, 3.0, 2.01, 3.0],
            # day 12 in its window; day 19 is in the DAY 21 window but its visit is DAY 14;
            # day 26 is after the DAY 21 window; the unscheduled 2.01 has no planned visit
            "DAY": pd.array([12, 19, 26, 15, None], dtype="Int64"),
        }
    )
    out = derive_vars_avisit_nominal(df, windows=windows, day_var="DAY")
    assert out["AVISIT"].fillna("-").tolist() == ["DAY 14", "DAY 14", "DAY 21", "-", "DAY 21"]
    assert out["AVISITN"].tolist()[:3] == [2.0, 2.0, 3.0]
    assert out["AWTARGET"].tolist() == [14, 14, 21, pd.NA, 21]
    assert out["AWTDIFF"].tolist() == [2, 5, 5, pd.NA, pd.NA]
    assert out["AWLO"].tolist() == [11, 11, 18, pd.NA, 18]
    assert out["AWHI"].tolist() == [17, 17, 24, pd.NA, 24]


def test_nominal_windows_may_overlap_but_a_visit_is_given_once() -> None:
    overlapping = [Window(2, "DAY 14", 14, 7, 21), Window(3, "DAY 21", 21, 14, 28)]
    df = pd.DataFrame({"VISITNUM": [2.0, 3.0], "ADY": [20, 15]})
    out = derive_vars_avisit_nominal(df, windows=overlapping)
    assert out["AVISIT"].tolist() == ["DAY 14", "DAY 21"]
    with pytest.raises(DerivationError, match="overlap"):
        derive_vars_avisit(df, windows=overlapping)
    with pytest.raises(DerivationError, match="avisitn 2 is given twice"):
        derive_vars_avisit_nominal(df, windows=[overlapping[0], Window(2, "X", 1, 0, 2)])


def test_analysis_flag_takes_a_record_without_a_day_last() -> None:
    # by nominal visit a record keeps its visit when the subject has no reference date
    df = pd.DataFrame(
        {
            "USUBJID": ["1", "1", "2"],
            "PARAMCD": ["FPG"] * 3,
            "AVISITN": [2.0, 2.0, 2.0],
            "ADY": [None, 8, None],
            "AWTDIFF": [None, 4.0, None],
            "AVAL": [7.0, 7.5, 8.0],
        }
    )
    assert derive_var_anl_flag(df)["ANL01FL"].fillna("-").tolist() == ["-", "Y", "Y"]


## Test 6: the reference visit's date per subject ----
def test_visit_dates_are_the_earliest_dated_record_of_the_visit() -> None:
    records = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "A", "B", "C"],
            "VISITNUM": [1.0, 1.0, 2.0, 1.0, 2.0],
            "ADT": pd.to_datetime(["2020-01-05", "2020-01-03", "2020-01-01", None, "2020-02-01"]),
        }
    )
    got = compute_visit_dates(records, visitnum=1)
    # B's only DAY 0 record has no date and C has no DAY 0 record: neither has a reference
    assert got.to_dict() == {"A": pd.Timestamp("2020-01-03")}


## Test 7: the rule of study.yaml, resolved ----
def _spec(rule: dict, visits: list[dict] | None = None) -> StudySpec:
    return StudySpec.model_validate(
        {
            "study": {"studyid": "S"},
            "domains": ["DM"],
            "arms": [{"armcd": "A", "arm": "A"}],
            "visits": SCHEDULE if visits is None else visits,
            "adam": {
                "treatment": {},
                "baseline": {"rule": "last_on_or_before"},
                "analysis_visits": rule,
            },
        }
    )


def test_rule_from_the_schedule_counted_from_a_visit() -> None:
    rule = analysis_visits(
        _spec({"by": "window", "reference": {"visit": "DAY 0"}, "windows": "schedule"})
    )
    assert rule.by == "window"
    assert (rule.reference_visitnum, rule.reference) == (1.0, "DAY 0")
    # the schedule's days as they are: DAY 14 +/- 3 is days 11 to 17 after DAY 0
    assert rule.windows == (
        Window(1.0, "DAY 0", 0, -3, 3),
        Window(2.0, "DAY 14", 14, 11, 17),
        Window(3.0, "DAY 21", 21, 18, 24),
    )


def test_rule_with_listed_windows_by_first_treatment() -> None:
    rule = analysis_visits(
        _spec(
            {
                "by": "window",
                "reference": "first_treatment",
                "windows": [{"avisitn": 4, "avisit": "DAY 28", "target": 22, "low": 19,
                             "high": 50}],
            }
        )
    )  # fmt: skip
    # planned: the VISITNUMs of the schedule (a record of another visit is unscheduled)
    assert rule == AnalysisVisits("window", (Window(4.0, "DAY 28", 22, 19, 50),),
                                  planned=(1.0, 2.0, 3.0))  # fmt: skip
    assert rule.reference_visitnum is None
    assert (rule.unscheduled, rule.excluded) == ("include", ())


def test_rule_by_nominal_visit_takes_a_planned_visit_without_a_window_out() -> None:
    visits = [*SCHEDULE, {"visitnum": 9, "visit": "FOLLOW-UP", "day": 180}]
    rule = analysis_visits(
        _spec({"by": "nominal_visit", "reference": {"visit": "DAY 0"}, "windows": "schedule"},
              visits)
    )  # fmt: skip
    assert [w.avisit for w in rule.windows] == ["DAY 0", "DAY 14", "DAY 21"]


def test_the_rule_in_words() -> None:
    rule = AnalysisVisits("nominal_visit", (Window(2, "WEEK 2", 15, 12, 18),))
    assert describe_analysis_visits(rule) == (
        "Analysis visits by nominal visit, windows in analysis days (ADY; the first treatment is "
        "day 1): WEEK 2 days 12 to 18 (target 15); a record outside its visit's window is "
        "analysed at its visit and reported."
    )
