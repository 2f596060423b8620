"""Adverse events by term and infusion, and safety parameters by visit, on hand-made ADaM data.

Every expected count below is worked out by hand from the records written in the test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trialflow.analysis.safety import (
    AE_SUMMARY_COLUMNS,
    ANY_SERIOUS,
    ANY_TEAE,
    NOT_CODED,
    SAFETY_COLUMNS,
    ae_summary,
    safety_by_visit,
)
from trialflow.errors import DerivationError

GEN = "General disorders"
MET = "Metabolism"


def adsl() -> pd.DataFrame:
    """Five subjects: S1-S3 got 3 infusions, S4 got 2, S5 is not in the safety population."""
    return pd.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S3", "S4", "S5"],
            "NINFUS": [3.0, 3.0, 3.0, 2.0, 0.0],
            "SAFFL": ["Y", "Y", "Y", "Y", None],
        }
    )


def adae() -> pd.DataFrame:
    rows = [
        # USUBJID, AEBODSYS, AEDECOD, TRTEMFL, PREFL, AESER, INFNUM, INFDAYS
        ("S1", GEN, "Pyrexia", "Y", None, "N", 2.0, 0.0),  # within 1 day of infusion 2
        ("S1", GEN, "Pyrexia", "Y", None, "N", 3.0, 1.0),  # within 1 day of infusion 3
        ("S1", GEN, "Pyrexia", "Y", None, "N", 3.0, 4.0),  # after infusion 3, not within
        ("S2", GEN, "Pyrexia", "Y", None, "N", 2.0, 2.0),  # after infusion 2, not within
        ("S3", MET, "Hypoglycaemia", "Y", None, "Y", 3.0, 7.0),  # serious, day 7 after inf 3
        ("S4", GEN, "Pyrexia", "Y", None, "N", 1.0, 1.0),  # within 1 day of infusion 1
        ("S2", GEN, "Fatigue", None, "Y", "N", np.nan, np.nan),  # before treatment
        ("S5", GEN, "Pyrexia", "Y", None, "N", 1.0, 0.0),  # not in the safety population
        ("S4", GEN, "Fatigue", None, None, "N", 2.0, 60.0),  # after the emergent period
    ]
    return pd.DataFrame(
        rows,
        columns=["USUBJID", "AEBODSYS", "AEDECOD", "TRTEMFL", "PREFL", "AESER", "INFNUM",
                 "INFDAYS"],
    )  # fmt: skip


def row(out: pd.DataFrame, term: str, infusion: str) -> pd.Series:
    match = out[(out["AEDECOD"] == term).to_numpy() & (out["INFUSION"] == infusion).to_numpy()]
    assert len(match) == 1, (term, infusion)
    return match.iloc[0]


def test_ae_summary_columns_rows_and_order() -> None:
    out, _notes, findings = ae_summary(adae(), adsl(), within_days=1)
    assert list(out.columns) == AE_SUMMARY_COLUMNS
    assert findings == []
    # Any TEAE, any serious TEAE, then terms by AEBODSYS and AEDECOD; infusions 1-3 and ALL.
    terms = out["AEDECOD"].drop_duplicates().tolist()
    assert terms == [ANY_TEAE, ANY_SERIOUS, "Pyrexia", "Hypoglycaemia"]
    assert out["INFUSION"].tolist()[:4] == ["1", "2", "3", "ALL"]
    assert len(out) == 4 * 4
    assert set(out["WITHIN_DAYS"]) == {1}
    # Fatigue has no treatment-emergent event in the population: no row.
    assert "Fatigue" not in set(out["AEDECOD"])


def test_ae_summary_counts_by_hand() -> None:
    out, _notes, _findings = ae_summary(adae(), adsl(), within_days=1)
    # Infusions given: infusion 1 and 2 to S1-S4 (4 each), infusion 3 to S1-S3 (3): 11.
    for infusion, given in (("1", 4), ("2", 4), ("3", 3), ("ALL", 11)):
        r = row(out, "Pyrexia", infusion)
        assert r["N_INFUSIONS"] == given
    # Pyrexia, all infusions: S1 (3 events), S2 (1), S4 (1) -> 3 subjects of 4, 5 events;
    # infusions followed: S1 inf 2, S1 inf 3, S2 inf 2, S4 inf 1 -> 4 of 11;
    # within 1 day: S1 inf 2 (day 0), S1 inf 3 (day 1), S4 inf 1 (day 1) -> 3 events,
    # 3 infusions, 2 subjects.
    r = row(out, "Pyrexia", "ALL")
    assert (r["N_SUBJECTS"], r["SUBJECTS"], r["EVENTS"]) == (4, 3, 5)
    assert r["PCT_SUBJECTS"] == pytest.approx(75.0)
    assert (r["INFUSIONS_WITH_AE"], r["PCT_INFUSIONS"]) == (4, pytest.approx(400 / 11))
    assert (r["SUBJECTS_WITHIN"], r["EVENTS_WITHIN"], r["INFUSIONS_WITH_AE_WITHIN"]) == (2, 3, 3)
    assert r["PCT_INFUSIONS_WITHIN"] == pytest.approx(300 / 11)
    # Pyrexia after infusion 3: S1 twice (days 1 and 4) -> 1 infusion of 3, 2 events, 1 within.
    r = row(out, "Pyrexia", "3")
    assert (r["N_SUBJECTS"], r["SUBJECTS"], r["EVENTS"], r["INFUSIONS_WITH_AE"]) == (3, 1, 2, 1)
    assert (r["EVENTS_WITHIN"], r["INFUSIONS_WITH_AE_WITHIN"]) == (1, 1)
    assert r["PCT_INFUSIONS"] == pytest.approx(100 / 3)
    # Pyrexia after infusion 2: S1 (day 0) and S2 (day 2) -> 2 of 4; within: S1 only.
    r = row(out, "Pyrexia", "2")
    assert (r["SUBJECTS"], r["INFUSIONS_WITH_AE"], r["INFUSIONS_WITH_AE_WITHIN"]) == (2, 2, 1)
    # Hypoglycaemia: 1 event after infusion 3, 7 days later: 1 of 11 infusions, none within.
    r = row(out, "Hypoglycaemia", "ALL")
    assert (r["SUBJECTS"], r["EVENTS"], r["INFUSIONS_WITH_AE"]) == (1, 1, 1)
    assert r["PCT_INFUSIONS"] == pytest.approx(100 / 11)
    assert (r["EVENTS_WITHIN"], r["PCT_INFUSIONS_WITHIN"]) == (0, 0.0)
    assert row(out, "Hypoglycaemia", "1")[["SUBJECTS", "EVENTS"]].tolist() == [0, 0]
    # Any TEAE: 6 events in S1-S4; infusions followed: S1 inf 2 and 3, S2 inf 2, S3 inf 3,
    # S4 inf 1 -> 5 of 11; the serious one is S3's hypoglycaemia.
    r = row(out, ANY_TEAE, "ALL")
    assert (r["SUBJECTS"], r["EVENTS"], r["INFUSIONS_WITH_AE"]) == (4, 6, 5)
    r = row(out, ANY_SERIOUS, "ALL")
    assert (r["SUBJECTS"], r["EVENTS"], r["PCT_SUBJECTS"]) == (1, 1, 25.0)
    assert row(out, ANY_SERIOUS, "3")["INFUSIONS_WITH_AE"] == 1


def test_the_interval_bounds_are_inclusive_and_in_days() -> None:
    # within_days = 0: only events on the infusion's date (S1 inf 2) count.
    out, notes, _ = ae_summary(adae(), adsl(), within_days=0)
    r = row(out, "Pyrexia", "ALL")
    assert (r["EVENTS_WITHIN"], r["INFUSIONS_WITH_AE_WITHIN"]) == (1, 1)
    # within_days = 4 reaches S1's day-4 fever and S2's day-2 fever: all 5.
    out, _, _ = ae_summary(adae(), adsl(), within_days=4)
    assert row(out, "Pyrexia", "ALL")["EVENTS_WITHIN"] == 5
    assert any("counted in days" in note for note in notes)


def test_notes_say_what_was_not_counted() -> None:
    _out, notes, _ = ae_summary(adae(), adsl(), within_days=1)
    assert notes[0] == (
        "ADAE: 9 record(s); 6 treatment-emergent (TRTEMFL = Y) of SAFFL = Y subjects counted; "
        "1 before the first infusion (PREFL = Y) and 2 other record(s) (after the "
        "treatment-emergent period, undecided or outside SAFFL) not counted."
    )
    assert "11 infusion(s) to 4 subject(s)" in notes[2]


def test_uncoded_and_unattributed_events_are_findings() -> None:
    data = adae()
    data.loc[0, "AEDECOD"] = None  # S1's first fever: no preferred term
    data.loc[5, ["INFNUM", "INFDAYS"]] = np.nan  # S4's fever: no infusion before it
    out, _notes, findings = ae_summary(data, adsl(), within_days=1)
    assert [(f.code, f.record, f.usubjid) for f in findings] == [
        ("analysis-ae-not-coded", 1, "S1"),
        ("analysis-ae-no-infusion", 6, "S4"),
    ]
    assert row(out, NOT_CODED, "2")["EVENTS"] == 1
    # Pyrexia is now S1 after infusion 3 (twice), S2 after infusion 2 and S4 with no infusion:
    # 4 events of 3 subjects in ALL, but only 2 infusions followed (S4's counts in none).
    r = row(out, "Pyrexia", "ALL")
    assert (r["EVENTS"], r["SUBJECTS"], r["INFUSIONS_WITH_AE"]) == (4, 3, 2)
    assert row(out, "Pyrexia", "1")["EVENTS"] == 0


def test_no_events_and_missing_columns() -> None:
    empty = adae().iloc[0:0]
    out, _notes, findings = ae_summary(empty, adsl(), within_days=1)
    assert out["AEDECOD"].drop_duplicates().tolist() == [ANY_TEAE, ANY_SERIOUS]
    assert (out["EVENTS"] == 0).all() and findings == []
    assert row(out, ANY_TEAE, "ALL")["N_INFUSIONS"] == 11
    with pytest.raises(DerivationError, match="ADAE has no INFNUM"):
        ae_summary(adae().drop(columns="INFNUM"), adsl(), within_days=1)
    with pytest.raises(DerivationError, match="ADSL has no NINFUS"):
        ae_summary(adae(), adsl().drop(columns="NINFUS"), within_days=1)
    # Without AESER there is no serious row (nothing to count it from).
    out, _, _ = ae_summary(adae().drop(columns="AESER"), adsl(), within_days=1)
    assert ANY_SERIOUS not in set(out["AEDECOD"])


def test_safety_by_visit_is_the_change_from_baseline_summary_per_dataset() -> None:
    adlb = pd.DataFrame(
        {
            "USUBJID": ["S1", "S1", "S2", "S2", "S3", "S3"],
            "PARAMCD": "WBC",
            "AVISITN": [0.0, 2.0] * 3,
            "AVISIT": ["BASELINE", "DAY 14"] * 3,
            "AVAL": [6.0, 7.5, 5.0, 6.0, 7.0, 7.0],
            "CHG": [np.nan, 1.5, np.nan, 1.0, np.nan, 0.0],
            "ANL01FL": "Y",
            "SAFFL": ["Y", "Y", "Y", "Y", None, None],
        }
    )
    advs = adlb.assign(PARAMCD="PULSE")
    out = safety_by_visit(
        {"ADLB": adlb, "ADVS": advs},
        [("ADLB", ["WBC"]), ("ADVS", ["PULSE"])],
        quantile_method="spss",
        test_method="spss",
    )
    assert list(out.columns) == SAFETY_COLUMNS
    assert out[["DATASET", "PARAMCD", "AVISIT", "VAR", "N"]].values.tolist() == [
        ["ADLB", "WBC", "BASELINE", "AVAL", 2],
        ["ADLB", "WBC", "DAY 14", "AVAL", 2],
        ["ADLB", "WBC", "DAY 14", "CHG", 2],
        ["ADVS", "PULSE", "BASELINE", "AVAL", 2],
        ["ADVS", "PULSE", "DAY 14", "AVAL", 2],
        ["ADVS", "PULSE", "DAY 14", "CHG", 2],
    ]
    # S3 is outside SAFFL; S1 and S2 changes 1.5 and 1.0: ranks 2 and 1, V = 3,
    # E = 2*3/4 = 1.5, Var = 2*3*5/24 = 1.25; SPSS z = 1.5 / sqrt(1.25), no correction.
    chg = out.iloc[2]
    assert chg["MEDIAN"] == 1.25 and chg["TEST_METHOD"] == "spss"
    z = 1.5 / math.sqrt(1.25)
    assert chg["P_VALUE"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    with pytest.raises(DerivationError, match="dataset ADVS was not derived"):
        safety_by_visit({"ADLB": adlb}, [("ADVS", ["PULSE"])], quantile_method="spss",
                        test_method="spss")  # fmt: skip
