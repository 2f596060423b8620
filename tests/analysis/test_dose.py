"""The dose analysis: dose_categories.csv, dose_changes.csv, the report's sentences and section,
from ADDOSE derived from a small made-up CM; every count is worked out by hand below."""

from __future__ import annotations

import pandas as pd
import pytest

from trialflow.adam.dose import derive_addose
from trialflow.analysis.dose import dose_categories, dose_changes, dose_sentences
from trialflow.analysis.figures import PNG_SIGNATURE, figure_dose_percent
from trialflow.analysis.report import render_report
from trialflow.mapping.spec import DoseSpec

VISITS = {"DAY 0": 1.0, "DAY 28": 4.0, "DAY 84": 5.0}
DATES = {"DAY 0": "2019-01-01", "DAY 28": "2019-01-29", "DAY 84": "2019-03-26"}
SPEC = DoseSpec(
    where={"CMCAT": "HYPOGLYCAEMIC AGENT"},
    visits=list(VISITS),
    classes={"insulin": {"CMCLASCD": "A10A"}, "oral": {"CMCLASCD": "A10B"}},
    ddd={"METFORMIN": {"ddd": 2000, "unit": "mg"}, "INSULIN GLARGINE": {"ddd": 40, "unit": "U"}},
    weight={"paramcd": "WEIGHT"},
    parameters=[
        {"paramcd": "TOTDDD", "paramn": 1, "param": "Total (DDD/day)", "agents": "all",
         "measure": "ddd", "digits": 4},
        {"paramcd": "ORALDDD", "paramn": 2, "param": "Oral (DDD/day)", "agents": "oral",
         "measure": "ddd", "digits": 4},
        {"paramcd": "INSTDD", "paramn": 4, "param": "Insulin (U/day)", "agents": "insulin",
         "measure": "dose", "unit": "U", "digits": 1},
        {"paramcd": "INSKGDD", "paramn": 5, "param": "Insulin (U/kg/day)", "agents": "insulin",
         "measure": "dose_per_kg", "unit": "U", "digits": 3},
    ],
    categories={
        "paramcd": ["TOTDDD", "ORALDDD", "INSTDD"],
        "discontinued": {"avalcat1": "DISCONTINUED", "avalca1n": 1},
        "by_pchg": [
            {"avalcat1": ">=50% REDUCTION", "avalca1n": 2, "pchg_max": -50},
            {"avalcat1": "10-<50% REDUCTION", "avalca1n": 3, "pchg_max": -10},
            {"avalcat1": "<10% REDUCTION OR INCREASE", "avalca1n": 4},
        ],
    },
    criteria=[
        {"crit": "Reduced by >= 10 %", "paramcd": ["TOTDDD"], "pchg_max": -10},
        {"crit": "Reduced by >= 50 % or discontinued", "paramcd": ["TOTDDD"], "pchg_max": -50},
        {"crit": "Insulin <= 0.2 U/kg/day", "paramcd": ["INSKGDD"], "aval_max": 0.2},
    ],
)  # fmt: skip
CATEGORIES = [(1, "DISCONTINUED"), (2, ">=50% REDUCTION"), (3, "10-<50% REDUCTION"),
              (4, "<10% REDUCTION OR INCREASE")]  # fmt: skip


def cm_row(usubjid, seq, decod, total, start, end=""):
    insulin = decod.startswith("INSULIN")
    return {"USUBJID": usubjid, "CMSEQ": seq, "CMDECOD": decod, "CMCAT": "HYPOGLYCAEMIC AGENT",
            "CMCLASCD": "A10A" if insulin else "A10B", "CMDOSTOT": total,
            "CMDOSU": "U" if insulin else "mg", "CMSTDTC": start, "CMENDTC": end}  # fmt: skip


def regimens(usubjid, doses, decod="METFORMIN"):
    """One subject's regimens: dose at DAY 0, from DAY 28, from DAY 84 (None: stopped)."""
    rows, seq = [], 1
    starts = ["2018-06-01", "2019-01-29", "2019-03-26"]
    ends = ["2019-01-28", "2019-03-25", ""]
    for dose, start, end in zip(doses, starts, ends, strict=True):
        if dose is not None:
            rows.append(cm_row(usubjid, seq, decod, dose, start, end))
            seq += 1
    return rows


@pytest.fixture(scope="module")
def addose():
    cm = [
        # metformin (DDD 2000 mg): DAY 0 / DAY 28 / DAY 84, PCHG of the total at 28 and 84
        *regimens("S1", [2000.0, 1000.0, 800.0]),  # -50 (>=50%), -60 (>=50%)
        *regimens("S2", [2000.0, 1800.0, 1000.0]),  # -10 (10-<50%), -50 (>=50%)
        *regimens("S3", [2000.0, 1900.0, None]),  # -5 (<10%), stopped: DISCONTINUED
        *regimens("S4", [1000.0, 1500.0, 1000.0]),  # +50 (<10% OR INCREASE), 0 (<10%)
        # S5: metformin 1000 mg throughout + insulin 28 U -> 14 U -> stopped (70 kg):
        # total 0.5 + 0.7 = 1.2 DDD -> 0.5 + 0.35 = 0.85 (-29.17 %) -> 0.5 (-58.33 %)
        *regimens("S5", [1000.0, 1000.0, 1000.0]),
        *[dict(r, CMSEQ=r["CMSEQ"] + 10) for r in regimens("S5", [28.0, 14.0, None],
                                                            "INSULIN GLARGINE")],
    ]  # fmt: skip
    subjects = ["S1", "S2", "S3", "S4", "S5"]
    sv = pd.DataFrame(
        [{"USUBJID": s, "VISITNUM": VISITS[v], "SVSTDTC": DATES[v]} for s in subjects
         for v in VISITS]
    )  # fmt: skip
    adsl = pd.DataFrame({"USUBJID": subjects, "FASFL": ["Y", "Y", "Y", "Y", "Y"]})
    advs = pd.DataFrame({"USUBJID": ["S5"], "PARAMCD": ["WEIGHT"], "AVAL": [70.0],
                         "ADT": pd.to_datetime(["2019-01-01"]), "ANL01FL": ["Y"]})  # fmt: skip
    out = derive_addose(pd.DataFrame(cm), sv, adsl, SPEC, VISITS, advs=advs, adsl_vars=["FASFL"])
    assert out.findings == []
    return out.dataset


def test_dose_categories_counts(addose):
    table = dose_categories(addose, "TOTDDD", CATEGORIES)
    got = {(r.AVISIT, r.AVALCAT1): (r.n, r.N, r.PERCENT) for r in table.itertuples()}
    assert got == {
        # DAY 28: S1 -50, S5 -29.17, S2 -10, S3 -5, S4 +50
        ("DAY 28", "DISCONTINUED"): (0, 5, 0.0),
        ("DAY 28", ">=50% REDUCTION"): (1, 5, 20.0),  # S1
        ("DAY 28", "10-<50% REDUCTION"): (2, 5, 40.0),  # S2, S5
        ("DAY 28", "<10% REDUCTION OR INCREASE"): (2, 5, 40.0),  # S3, S4
        # DAY 84: S1 -60, S2 -50, S5 -58.33, S3 stopped, S4 0
        ("DAY 84", "DISCONTINUED"): (1, 5, 20.0),  # S3
        ("DAY 84", ">=50% REDUCTION"): (3, 5, 60.0),  # S1, S2, S5
        ("DAY 84", "10-<50% REDUCTION"): (0, 5, 0.0),
        ("DAY 84", "<10% REDUCTION OR INCREASE"): (1, 5, 20.0),  # S4
    }
    assert table.columns.tolist() == ["PARAMCD", "AVISITN", "AVISIT", "AVALCA1N", "AVALCAT1",
                                      "n", "N", "PERCENT"]  # fmt: skip


def test_dose_categories_count_only_the_population(addose):
    flagged = addose.assign(FASFL=addose["USUBJID"].map(lambda s: "N" if s == "S4" else "Y"))
    table = dose_categories(flagged, "TOTDDD", CATEGORIES, population="FASFL")
    day28 = table[table["AVISIT"] == "DAY 28"].set_index("AVALCAT1")
    assert day28.loc["<10% REDUCTION OR INCREASE", "n"] == 1  # S3 only
    assert day28["N"].unique().tolist() == [4]
    assert day28.loc["10-<50% REDUCTION", "PERCENT"] == 50.0  # 2 of 4


def test_dose_changes_by_class_with_the_insulin_withdrawal(addose):
    table = dose_changes(
        addose,
        {"Oral agents": "ORALDDD", "Insulin": "INSTDD"},
        withdrawal=("Insulin", "INSKGDD", "CRIT3FL"),
    )
    got = {(r.AVISIT, r.CLASS, r.CHANGE): (r.n, r.N) for r in table.itertuples()}
    # oral at DAY 28: S1, S2, S3 reduced; S4 increased; S5 unchanged (1000 mg)
    assert got[("DAY 28", "Oral agents", "REDUCED")] == (3, 5)
    assert got[("DAY 28", "Oral agents", "INCREASED")] == (1, 5)
    assert got[("DAY 28", "Oral agents", "UNCHANGED")] == (1, 5)
    # oral at DAY 84: S3 stopped; S4 and S5 back at / still at baseline
    assert got[("DAY 84", "Oral agents", "STOPPED")] == (1, 5)
    assert got[("DAY 84", "Oral agents", "UNCHANGED")] == (2, 5)
    # insulin (S5, 70 kg): 28 U = 0.4 U/kg; 14 U = 0.2 U/kg at DAY 28 (threshold met), stopped
    # at DAY 84 after meeting it at DAY 28: withdrawn at the threshold
    assert got[("DAY 28", "Insulin", "REDUCED")] == (1, 1)
    assert got[("DAY 28", "Insulin", "THRESHOLD MET")] == (1, 1)
    assert got[("DAY 28", "Insulin", "WITHDRAWN AT THRESHOLD")] == (0, 1)
    assert got[("DAY 84", "Insulin", "STOPPED")] == (1, 1)
    assert got[("DAY 84", "Insulin", "WITHDRAWN AT THRESHOLD")] == (1, 1)
    insulin = table[(table["CLASS"] == "Insulin") & (table["AVISIT"] == "DAY 84")]
    assert insulin["CHANGE"].tolist() == ["REDUCED", "STOPPED", "UNCHANGED", "INCREASED",
                                          "THRESHOLD MET", "WITHDRAWN AT THRESHOLD"]  # fmt: skip


def test_withdrawal_needs_the_threshold_at_the_last_visit_before():
    # insulin 0.4 U/kg at DAY 0 and DAY 28, stopped at DAY 84: stopped, not at the threshold
    rows = pd.DataFrame({
        "USUBJID": ["S1"] * 6, "AVISITN": [1.0, 4.0, 5.0] * 2,
        "AVISIT": ["DAY 0", "DAY 28", "DAY 84"] * 2,
        "PARAMCD": ["INSTDD"] * 3 + ["INSKGDD"] * 3,
        "AVAL": [28.0, 28.0, 0.0, 0.4, 0.4, 0.0], "BASE": [28.0] * 3 + [0.4] * 3,
        "ABLFL": ["Y", None, None] * 2, "CRIT3FL": [None] * 3 + ["N", "N", "Y"],
    })  # fmt: skip
    table = dose_changes(rows, {"Insulin": "INSTDD"}, withdrawal=("Insulin", "INSKGDD", "CRIT3FL"),
                         population=None)  # fmt: skip
    got = {(r.AVISIT, r.CHANGE): r.n for r in table.itertuples()}
    assert got[("DAY 84", "STOPPED")] == 1
    assert got[("DAY 84", "WITHDRAWN AT THRESHOLD")] == 0


def test_sentences_are_built_from_the_counts(addose):
    table = dose_categories(addose, "TOTDDD", CATEGORIES)
    assert dose_sentences(table, reduced=[1, 2, 3], stopped=1) == [
        "At DAY 28, 3 of 5 subjects had reduced their dose: 10-<50% REDUCTION 2 (40.00%), "
        ">=50% REDUCTION 1 (20.00%); DISCONTINUED 0.",
        "At DAY 84, 4 of 5 subjects had reduced their dose: 10-<50% REDUCTION 0, "
        ">=50% REDUCTION 3 (60.00%); DISCONTINUED 1 (20.00%).",
    ]


def test_the_brief_sentence_for_all_sixteen():
    # the published DAY 28: 12 of 16 by 10-<50 % (75 %), 4 by >= 50 % (25 %)
    table = pd.DataFrame({
        "PARAMCD": "TOTDDD", "AVISITN": 4.0, "AVISIT": "DAY 28", "AVALCA1N": [1, 2, 3, 4],
        "AVALCAT1": [c for _, c in CATEGORIES], "n": [0, 4, 12, 0], "N": 16,
    })  # fmt: skip
    assert dose_sentences(table, reduced=[1, 2, 3], stopped=1) == [
        "At DAY 28, all 16 subjects had reduced their dose: 10-<50% REDUCTION 12 (75.00%), "
        ">=50% REDUCTION 4 (25.00%); DISCONTINUED 0."
    ]


def test_percentages_round_half_away_from_zero():
    # 2 of 3 = 66.666... -> 66.67; 1 of 3 = 33.333... -> 33.33 (two decimals)
    table = pd.DataFrame({
        "PARAMCD": "T", "AVISITN": [5.0, 5.0], "AVISIT": "DAY 84", "AVALCA1N": [1, 2],
        "AVALCAT1": ["DISCONTINUED", "HALF"], "n": [1, 2], "N": 3,
    })  # fmt: skip
    assert dose_sentences(table, reduced=[1, 2], stopped=1) == [
        "At DAY 84, all 3 subjects had reduced their dose: HALF 2 (66.67%); "
        "DISCONTINUED 1 (33.33%)."
    ]


def test_report_has_the_dose_section(addose):
    categories = dose_categories(addose, "TOTDDD", CATEGORIES)
    changes = dose_changes(addose, {"Oral agents": "ORALDDD"})
    page = render_report(
        study={"studyid": "S", "title": "T"}, validation={}, summary=pd.DataFrame(),
        table1=pd.DataFrame(), figures=[], dose_categories=categories, dose_changes=changes,
        dose_sentences=dose_sentences(categories, [1, 2, 3], stopped=1),
    )  # fmt: skip
    assert '<section id="dose">' in page and 'href="#dose"' in page
    assert "At DAY 84, 4 of 5 subjects had reduced their dose" in page
    assert "DAY 84 (N = 5)" in page
    assert "3 (60.00%)" in page  # >=50% REDUCTION at DAY 84
    without = render_report(study={}, validation={}, summary=pd.DataFrame(),
                            table1=pd.DataFrame(), figures=[])  # fmt: skip
    assert 'id="dose"' not in without


def test_dose_figure_is_png_and_the_same_bytes_twice(addose):
    one = figure_dose_percent(addose, "TOTDDD", title="Total", levels=[90, 50])
    two = figure_dose_percent(addose, "TOTDDD", title="Total", levels=[90, 50])
    assert one[:8] == PNG_SIGNATURE and one == two
    with pytest.raises(ValueError, match="no NONE record"):
        figure_dose_percent(addose, "NONE", title="x")
