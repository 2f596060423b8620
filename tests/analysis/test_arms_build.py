"""The analysis stage of a three-arm study with time points: analysis.group and
analysis.comparisons from study.yaml to cfb_comparisons.csv, Table 1 and the report.

The week-2 records at time point 815 are the data of tests/analysis/test_compare.py, whose
docstring has the R script (lm + emmeans, wilcox.test, kruskal.test) and its output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from trialflow.analysis.build import build_analysis
from trialflow.mapping.load import load_study
from trialflow.mapping.spec import AnalysisSpec

ARMS = ["Placebo", "Drug X 25 mg", "Drug X 50 mg"]
BASE = [140.0, 135, 150, 145, 138, 142, 148, 139, 152, 136, 144, 141,
        146, 150, 137, 143, 155, 140]  # fmt: skip
CHG = [-2.0, 1, -4, 0, -1, 3, -6, -3, -8, -2, -5, -4, -10, -9, -5, -7, -12, -6]


def _datasets() -> dict[str, pd.DataFrame]:
    ids = [f"TF3-{i:03d}" for i in range(1, 19)]
    arm = [a for a in ARMS for _ in range(6)]
    adsl = pd.DataFrame({
        "USUBJID": ids, "TRT01P": arm, "TRT01PN": [ARMS.index(a) + 1.0 for a in arm],
        "SEX": ["F", "M"] * 9, "AGE": [40.0 + i for i in range(18)], "FASFL": "Y",
        "SAFFL": "Y",
    })  # fmt: skip
    # A screen failure (no arm, not in the population) and a subject of the population
    # without a planned arm: the latter is reported and left out.
    extra = pd.DataFrame({"USUBJID": ["TF3-098", "TF3-099"], "TRT01P": [None, None],
                          "TRT01PN": [np.nan, np.nan], "SEX": ["M", "F"], "AGE": [50.0, 51.0],
                          "FASFL": ["N", "Y"], "SAFFL": ["N", "Y"]})  # fmt: skip
    adsl = pd.concat([adsl, extra], ignore_index=True)
    rows = []
    for i, usubjid in enumerate([*ids, "TF3-099"]):
        base = BASE[i] if i < 18 else 150.0
        chg = CHG[i] if i < 18 else -30.0
        for atptn, atpt, shift in ((815.0, "AFTER LYING DOWN FOR 5 MINUTES", 0.0),
                                   (816.0, "AFTER STANDING FOR 1 MINUTE", 2.0)):  # fmt: skip
            rows.append((usubjid, atptn, atpt, 2.0, "BASELINE", base + shift, base + shift,
                         np.nan, "Y"))  # fmt: skip
            rows.append((usubjid, atptn, atpt, 3.0, "WEEK 2", base + chg, base + shift,
                         chg - shift, None))  # fmt: skip
    advs = pd.DataFrame(rows, columns=["USUBJID", "ATPTN", "ATPT", "AVISITN", "AVISIT", "AVAL",
                                       "BASE", "CHG", "ABLFL"])  # fmt: skip
    advs = advs.assign(PARAMCD="SYSBP", PARAM="Systolic Blood Pressure (mmHg)", ANL01FL="Y")
    advs["FASFL"] = advs["USUBJID"].map(adsl.set_index("USUBJID")["FASFL"])
    return {"ADSL": adsl, "ADVS": advs}


def _spec(**analysis):
    spec = load_study("mappings/hucmsc-t2dm").spec
    keys = {
        "quantile_method": "r7",
        "endpoints": [{"dataset": "ADVS", "paramcd": ["SYSBP"]}],
        "table1": [{"label": "Age (years)", "variable": "AGE", "digits": 1},
                   {"label": "Sex", "variable": "SEX", "kind": "categorical"}],
        "group": {"variable": "TRT01P", "control": "Placebo"},
        "comparisons": [{"method": "ancova", "covariates": ["BASE"]}, {"method": "wilcoxon"}],
        **analysis,
    }  # fmt: skip
    return spec.model_copy(update={"analysis": AnalysisSpec.model_validate(keys)})


def test_three_arms_with_time_points_from_study_yaml_to_the_report():
    result = build_analysis(_spec(), _datasets(), {}, {})
    comparisons = result.comparisons
    assert list(comparisons.columns[:5]) == ["PARAMCD", "ATPTN", "ATPT", "AVISITN", "AVISIT"]
    cell = comparisons[comparisons["ATPTN"] == 815].set_index(["TERM", "GROUP"])
    # R: emmeans / contrast(trt.vs.ctrl) / wilcox.test / kruskal.test (test_compare.py)
    assert cell.loc[("LSMEAN", "Placebo"), "ESTIMATE"] == pytest.approx(
        -1.07407407407407, abs=1e-12
    )
    assert cell.loc[("DIFF", "Drug X 50 mg"), "LOWER"] == pytest.approx(
        -8.31568435077881, abs=1e-12
    )
    assert cell.loc[("DIFF", "Drug X 25 mg"), "P_VALUE"] == pytest.approx(6.33826913956079e-04,
                                                                          rel=1e-9)  # fmt: skip
    assert cell.loc[("RANKSUM", "Drug X 25 mg"), "P_VALUE"] == pytest.approx(0.0198051234581123)
    kw = comparisons[(comparisons["ATPTN"] == 815) & (comparisons["TERM"] == "KRUSKAL")]
    assert kw["STATISTIC"].iloc[0] == pytest.approx(12.0614853195164073, rel=1e-12)
    # Baseline records are not compared; both time points are.
    assert set(comparisons["AVISIT"]) == {"WEEK 2"}
    assert set(comparisons["ATPTN"]) == {815.0, 816.0}
    # TF3-099 (no arm) is left out of everything and reported.
    [missing] = [f for f in result.findings if f.code == "analysis-group-missing"]
    assert "TF3-099" in missing.message and missing.severity == "warning"
    summary = result.summary
    chg = summary[(summary["ATPTN"] == 815) & (summary["VAR"] == "CHG")]
    assert chg["GROUP"].tolist() == ARMS
    assert chg["N"].tolist() == [6, 6, 6]
    assert chg["MEAN"].tolist() == pytest.approx([-0.5, -28 / 6, -49 / 6])  # sums -3, -28, -49
    t1 = result.table1.set_index(["CHARACTERISTIC", "GROUP"])
    assert t1.loc[("Sex: F", "Placebo"), "VALUE"] == "3 (50.0%)"
    assert t1.loc[("Sex: F", "Total"), "N"] == 18
    # Per time point: the medians and the change boxes of the three arms in one figure each.
    assert sorted(result.figures) == [
        "sysbp_tpt815_chg_box.png", "sysbp_tpt815_median_iqr.png",
        "sysbp_tpt816_chg_box.png", "sysbp_tpt816_median_iqr.png",
    ]  # fmt: skip
    html = result.html
    assert '<section id="comparisons">' in html and "Placebo (N = 6)" in html
    assert 'id="cfb-SYSBP-tpt815-drug-x-25-mg"' in html
    assert 'id="compare-SYSBP-tpt816"' in html


def test_without_comparisons_there_is_no_comparisons_table():
    result = build_analysis(_spec(comparisons=[]), _datasets(), {}, {})
    assert result.comparisons is None
    assert '<section id="comparisons">' not in result.html


def test_comparisons_need_a_control_and_covariates_only_for_ancova():
    base = {"quantile_method": "r7", "endpoints": [{"dataset": "ADVS", "paramcd": ["SYSBP"]}]}
    with pytest.raises(ValidationError, match=r"analysis\.group\.control"):
        AnalysisSpec.model_validate({**base, "group": {"variable": "TRT01P"},
                                     "comparisons": [{"method": "wilcoxon"}]})  # fmt: skip
    with pytest.raises(ValidationError, match="covariates are for method ancova"):
        AnalysisSpec.model_validate({**base, "group": {"variable": "TRT01P", "control": "P"},
                                     "comparisons": [{"method": "wilcoxon",
                                                      "covariates": ["BASE"]}]})  # fmt: skip


def test_a_control_arm_without_subjects_is_reported():
    spec = _spec(group={"variable": "TRT01P", "control": "Placebo 2"})
    result = build_analysis(spec, _datasets(), {}, {})
    assert [f.code for f in result.findings if f.code.startswith("analysis-group-control")] == [
        "analysis-group-control-missing"]  # fmt: skip
    skipped = [f.message for f in result.findings if f.code == "analysis-comparison-skipped"]
    assert len(skipped) == 2  # the ANCOVA at each time point of WEEK 2
    assert "no ancova of SYSBP AFTER LYING DOWN FOR 5 MINUTES at WEEK 2" in skipped[0]
    # Nothing against the missing control; Kruskal-Wallis across the arms needs none.
    assert result.comparisons["TERM"].tolist() == ["KRUSKAL", "KRUSKAL"]
