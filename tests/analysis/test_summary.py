"""Change-from-baseline summaries and Table 1 on hand-made ADaM records."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trialflow.adam.derive import derive_var_chg
from trialflow.analysis.stats import wilcoxon_signed_rank
from trialflow.analysis.summary import SUMMARY_COLUMNS, cfb_summary, table1

ISSUE_COLUMNS = [
    "PARAMCD", "AVISITN", "AVISIT", "VAR", "N", "MEAN", "SD", "MEDIAN", "Q1", "Q3", "MIN", "MAX",
    "P_VALUE", "TEST", "QUANTILE_METHOD",
]  # fmt: skip


def _bds() -> pd.DataFrame:
    """Six subjects: baseline 10..15, day 14 values with changes -1, -2, -3, -4, -6 and one
    subject out of the population; one non-analysis record that must not count."""
    rows = []
    changes = [-1.0, -2.0, -3.0, -4.0, -6.0]
    for i, chg in enumerate(changes):
        base = 10.0 + i
        rows.append((f"S{i}", 0.0, "BASELINE", base, np.nan, "Y", "Y"))
        rows.append((f"S{i}", 2.0, "DAY 14", base + chg, chg, "Y", "Y"))
    rows.append(("S9", 0.0, "BASELINE", 99.0, np.nan, "Y", "N"))  # not in FASFL
    rows.append(("S9", 2.0, "DAY 14", 0.0, -99.0, "Y", "N"))
    rows.append(("S0", 2.0, "DAY 14", 50.0, 40.0, None, "Y"))  # a second, unflagged record
    frame = pd.DataFrame(
        rows, columns=["USUBJID", "AVISITN", "AVISIT", "AVAL", "CHG", "ANL01FL", "FASFL"]
    )
    return frame.assign(PARAMCD="FPG", PARAM="Fasting Plasma Glucose (mmol/L)")


def test_columns_start_with_the_issue_contract():
    # Issue 17 puts the treatment group among the by-variables (PARAMCD, [ATPT], AVISIT,
    # group): GROUP follows AVISIT, the contract's columns keep their order around it.
    out = cfb_summary(_bds(), ["FPG"], quantile_method="spss")
    columns = list(out.columns)
    assert columns[: len(ISSUE_COLUMNS) + 1] == [*ISSUE_COLUMNS[:3], "GROUP", *ISSUE_COLUMNS[3:]]
    assert columns == SUMMARY_COLUMNS
    assert out["GROUP"].unique().tolist() == ["Total"]  # no analysis.group: one group


def test_aval_and_chg_rows_use_the_analysis_records_of_the_population():
    out = cfb_summary(_bds(), ["FPG"], quantile_method="spss")
    assert out[["AVISIT", "VAR", "N"]].values.tolist() == [
        ["BASELINE", "AVAL", 5],
        ["DAY 14", "AVAL", 5],
        ["DAY 14", "CHG", 5],
    ]
    chg = out[out["VAR"] == "CHG"].iloc[0]
    assert chg["MEAN"] == pytest.approx(-3.2)
    assert chg["SD"] == pytest.approx(np.std([-1, -2, -3, -4, -6], ddof=1))
    assert (chg["MIN"], chg["MEDIAN"], chg["MAX"]) == (-6.0, -3.0, -1.0)
    # SPSS (n+1)p: Q1 at position 1.5 of (-6, -4, -3, -2, -1) -> -5.0, Q3 at 4.5 -> -1.5
    assert (chg["Q1"], chg["Q3"]) == (-5.0, -1.5)
    # all five changes negative, no ties: exact p = 2 * (1/2^5) = 0.0625, V = 0
    assert chg["P_VALUE"] == pytest.approx(0.0625)
    assert chg["TEST"] == "Wilcoxon signed rank exact test" and chg["STATISTIC"] == 0
    assert set(out["QUANTILE_METHOD"]) == {"spss"}
    assert out.loc[out["VAR"] == "AVAL", "P_VALUE"].isna().all()


def test_quantile_method_changes_the_quartiles_and_is_named():
    r7 = cfb_summary(_bds(), ["FPG"], quantile_method="r7")
    chg = r7[r7["VAR"] == "CHG"].iloc[0]
    # R type 7: 1 + (n-1)p = 2 and 4 -> -4.0 and -2.0
    assert (chg["Q1"], chg["Q3"]) == (-4.0, -2.0)
    assert set(r7["QUANTILE_METHOD"]) == {"r7"}


def test_ties_and_zeros_switch_to_the_normal_approximation():
    frame = _bds()
    frame.loc[frame["AVISIT"].eq("DAY 14") & frame["USUBJID"].isin(["S0", "S1"]), "CHG"] = 0.0
    out = cfb_summary(frame, ["FPG"], quantile_method="spss")
    chg = out[out["VAR"] == "CHG"].iloc[0]
    assert chg["TEST"] == "Wilcoxon signed rank test with continuity correction"
    # zeros dropped: n = 3 changes -3, -4, -6, V = 0; z = (0 - 3 + 0.5) / sqrt(3.5)
    z = (0 - 3 + 0.5) / np.sqrt(3 * 4 * 7 / 24)
    from scipy.stats import norm

    assert chg["P_VALUE"] == pytest.approx(2 * norm.cdf(z))


def test_table1_continuous_and_categorical():
    adsl = pd.DataFrame(
        {
            "USUBJID": ["S0", "S1", "S2", "S3"],
            "AGE": [40.0, 50.0, 60.0, 99.0],
            "SEX": ["M", "F", "M", "F"],
            "FASFL": ["Y", "Y", "Y", "N"],
        }
    )
    bds = _bds()
    bds["ABLFL"] = np.where(bds["AVISIT"] == "BASELINE", "Y", None)
    rows = [
        {"label": "Age (years)", "variable": "AGE", "digits": 1},
        {"label": "Sex", "variable": "SEX", "kind": "categorical"},
        {"label": "FPG (mmol/L)", "dataset": "ADLB", "paramcd": "FPG", "digits": 2},
    ]
    t = table1(adsl, {"ADLB": bds}, rows)
    got = t.set_index("CHARACTERISTIC")
    assert got.at["Age (years)", "VALUE"] == "50.0 ± 10.0" and got.at["Age (years)", "N"] == 3
    assert got.at["Sex: M", "VALUE"] == "2 (66.7%)" and got.at["Sex: F", "COUNT"] == 1
    # baseline FPG of S0, S1, S2 (FASFL = Y): 10, 11, 12
    assert got.at["FPG (mmol/L)", "MEAN"] == pytest.approx(11.0)
    assert got.at["FPG (mmol/L)", "VALUE"] == "11.00 ± 1.00"


def test_signed_rank_test_decides_ties_and_zeros_on_changes_at_the_data_precision():
    # Seven subjects measured to 2 decimals. The decimal changes are -3.89 (twice: 5.13 - 9.02
    # and 6.07 - 9.96), -1.2, -2.5, 0.7, -4.1 and 0 (a value converted without rounding,
    # 0.1 + 0.2, against 0.3). In binary the two -3.89 differ (-3.8899999999999997,
    # -3.8900000000000006) and the zero is 5.6e-17, which would give an exact test with
    # V = 1 + 2 = 3, p = 2 x 5/128 = 0.078125.
    aval = [5.13, 6.07, 7.3, 6.0, 9.2, 4.4, 0.1 + 0.2]
    base = [9.02, 9.96, 8.5, 8.5, 8.5, 8.5, 0.3]
    chg = derive_var_chg(pd.DataFrame({"AVAL": aval, "BASE": base}), digits=2)["CHG"]
    assert chg.tolist() == [-3.89, -3.89, -1.2, -2.5, 0.7, -4.1, 0.0]
    result = wilcoxon_signed_rank(chg)
    # By hand (R <= 4.5 wilcox.test(x), normal approximation because of the tie): the zero is
    # dropped, n = 6; ranks of |x|: 0.7 -> 1, 1.2 -> 2, 2.5 -> 3, 3.89 -> 4.5 and 4.5,
    # 4.1 -> 6; V = 1. E(V) = 6 x 7 / 4 = 10.5; Var(V) = 6 x 7 x 13 / 24 - (2^3 - 2) / 48
    # = 22.625; z = (1 - 10.5 + 0.5) / sqrt(22.625) = -1.8921; p = 2 Phi(z) = 0.05848.
    assert (result.statistic, result.n, result.n_zero, result.ties) == (1.0, 6, 1, True)
    assert result.p_value == pytest.approx(math.erfc(9 / math.sqrt(22.625) / math.sqrt(2)))
    assert result.p_value == pytest.approx(0.05848, abs=5e-6)
    noisy = wilcoxon_signed_rank(np.subtract(aval, base))  # what the binary noise gave
    assert (noisy.statistic, noisy.exact) == (3.0, True)
    assert noisy.p_value == pytest.approx(0.078125)


def test_baseline_records_outside_anl01fl_give_the_baseline_row_once():
    # include_baseline: false leaves ANL01FL off the baseline records; the BASELINE row is
    # still there, from ABLFL = Y. S1's baseline shares its visit with an analysis record of
    # S1 (a visit whose window holds the baseline day): it is not counted a second time.
    rows = [
        ("S0", 0.0, "BASELINE", 10.0, "Y", None),
        ("S0", 2.0, "DAY 14", 9.0, None, "Y"),
        ("S1", 0.0, "BASELINE", 12.0, "Y", None),
        ("S1", 0.0, "BASELINE", 13.0, None, "Y"),
        ("S1", 2.0, "DAY 14", 11.0, None, "Y"),
        ("S2", 0.0, "BASELINE", 99.0, None, None),  # neither: left out
    ]
    bds = pd.DataFrame(rows, columns=["USUBJID", "AVISITN", "AVISIT", "AVAL", "ABLFL", "ANL01FL"])
    bds = bds.assign(PARAMCD="FPG", CHG=np.nan, FASFL="Y")
    out = cfb_summary(bds, ["FPG"], quantile_method="spss")
    baseline = out[out["AVISIT"] == "BASELINE"].iloc[0]
    assert (baseline["N"], baseline["MEAN"]) == (2, pytest.approx((10.0 + 13.0) / 2))
    assert out.loc[out["AVISIT"] == "DAY 14", "N"].tolist() == [2]
