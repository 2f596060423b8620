"""Table 1 and cfb_summary by treatment group (and time point), pinned to R 4.2.2.

R script and output (the data are the frames built below):

    adsl <- data.frame(
      TRT01P = c(rep("Placebo", 4), rep("Drug X 25 mg", 3), rep("Drug X 50 mg", 3)),
      SEX = c("F", "M", "F", "F",  "M", "M", "F",  "F", "M", "M"),
      AGE = c(51, 62, 45, 58,  49, 66, 53,  60, 47, 55))
    adsl$TRT01P <- factor(adsl$TRT01P, levels = c("Placebo", "Drug X 25 mg", "Drug X 50 mg"))
    tab <- table(adsl$TRT01P, adsl$SEX); prop.table(tab, 1) * 100
    #                 F  M      F                M
    #  Placebo        3  1      75.0000000000000 25.0000000000000
    #  Drug X 25 mg   1  2      33.3333333333333 66.6666666666667
    #  Drug X 50 mg   1  2      33.3333333333333 66.6666666666667
    table(adsl$SEX)                          # F 5, M 5 (50 %, 50 %)
    tapply(adsl$AGE, adsl$TRT01P, mean)      # 54, 56, 54
    tapply(adsl$AGE, adsl$TRT01P, sd)        # 7.52772652709081 8.88819441731559 6.55743852430200
    mean(adsl$AGE); sd(adsl$AGE)             # 54.6, 6.8507907086214
    # SYSBP, ATPTN 815, WEEK 2, Drug X 50 mg: the CHG values
    chg <- c(-12, -7, -9, -15, -7)
    # n 5, mean -10, sd 3.46410161513775, median -9, quantile(type = 6) 25% -13.5, 75% -7,
    # min -15, max -7
    wilcox.test(chg, exact = FALSE, correct = FALSE, conf.int = TRUE)
    # V = 0, p-value = 0.042168197097156   (analysis.test "spss")
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialflow.analysis.summary import TABLE1_COLUMNS, cfb_summary, group_levels, table1

ARMS = ["Placebo", "Drug X 25 mg", "Drug X 50 mg"]


def _adsl() -> pd.DataFrame:
    adsl = pd.DataFrame(
        {
            "USUBJID": [f"S{i}" for i in range(1, 11)],
            "TRT01P": ["Placebo"] * 4 + ["Drug X 25 mg"] * 3 + ["Drug X 50 mg"] * 3,
            "TRT01PN": [1.0] * 4 + [2.0] * 3 + [3.0] * 3,
            "SEX": ["F", "M", "F", "F", "M", "M", "F", "F", "M", "M"],
            "AGE": [51.0, 62, 45, 58, 49, 66, 53, 60, 47, 55],
            "FASFL": ["Y"] * 10,
        }
    )
    # Not counted: out of the population, and a screen failure without a planned arm.
    others = pd.DataFrame({"USUBJID": ["S11", "S12"], "TRT01P": ["Placebo", None],
                           "TRT01PN": [1.0, np.nan], "SEX": ["M", "M"], "AGE": [99.0, 99.0],
                           "FASFL": ["N", "N"]})  # fmt: skip
    return pd.concat([adsl, others], ignore_index=True)


def test_table1_by_arm_with_total_equals_r():
    rows = [{"label": "Age (years)", "variable": "AGE", "digits": 1},
            {"label": "Sex", "variable": "SEX", "kind": "categorical"}]  # fmt: skip
    t = table1(_adsl(), {}, rows, group="TRT01P", order=ARMS)
    assert list(t.columns) == TABLE1_COLUMNS
    got = t.set_index(["CHARACTERISTIC", "GROUP"])
    assert t["GROUP"].tolist()[:4] == [*ARMS, "Total"]
    # n (%) per arm: prop.table(tab, 1) * 100
    assert got.loc[("Sex: F", "Placebo"), "VALUE"] == "3 (75.0%)"
    assert got.loc[("Sex: M", "Drug X 25 mg"), "COUNT"] == 2
    assert got.loc[("Sex: M", "Drug X 25 mg"), "PCT"] == pytest.approx(66.6666666666667)
    assert got.loc[("Sex: M", "Drug X 25 mg"), "VALUE"] == "2 (66.7%)"
    assert got.loc[("Sex: F", "Drug X 50 mg"), "N"] == 3
    assert got.loc[("Sex: F", "Total"), "VALUE"] == "5 (50.0%)"
    assert got.loc[("Sex: F", "Total"), "N"] == 10
    # continuous per arm: tapply(mean), tapply(sd)
    sd = {"Placebo": 7.52772652709081, "Drug X 25 mg": 8.88819441731559,
          "Drug X 50 mg": 6.55743852430200, "Total": 6.8507907086214}  # fmt: skip
    mean = {"Placebo": 54.0, "Drug X 25 mg": 56.0, "Drug X 50 mg": 54.0, "Total": 54.6}
    for arm in [*ARMS, "Total"]:
        assert got.loc[("Age (years)", arm), "MEAN"] == pytest.approx(mean[arm], abs=1e-12)
        assert got.loc[("Age (years)", arm), "SD"] == pytest.approx(sd[arm], abs=1e-12)
    assert got.loc[("Age (years)", "Drug X 25 mg"), "VALUE"] == "56.0 ± 8.9"


def test_table1_without_total_and_a_category_absent_from_an_arm():
    adsl = _adsl()
    adsl.loc[adsl["TRT01P"].eq("Drug X 50 mg"), "SEX"] = "M"
    t = table1(adsl, {}, [{"label": "Sex", "variable": "SEX", "kind": "categorical"}],
               group="TRT01P", order=ARMS, total=False)  # fmt: skip
    got = t.set_index(["CHARACTERISTIC", "GROUP"])
    assert "Total" not in set(t["GROUP"])
    assert got.loc[("Sex: F", "Drug X 50 mg"), "VALUE"] == "0 (0.0%)"


def test_group_levels_follow_the_study_order():
    assert group_levels(pd.Series(["Drug X 50 mg", "Placebo", "Drug X 25 mg"]), ARMS) == ARMS
    assert group_levels(pd.Series(["B", "Placebo", "A"]), control="Placebo") == [
        "Placebo", "A", "B"]  # fmt: skip


def _sysbp() -> pd.DataFrame:
    """SYSBP at two time points (815, 816), baseline and week 2: three placebo subjects and
    five on 50 mg whose week-2 changes at 815 are -12, -7, -9, -15, -7."""
    chg_815 = {"P1": 1.0, "P2": -2.0, "P3": 0.0,
               "H1": -12.0, "H2": -7.0, "H3": -9.0, "H4": -15.0, "H5": -7.0}  # fmt: skip
    rows = []
    for subject, chg in chg_815.items():
        arm = "Placebo" if subject.startswith("P") else "Drug X 50 mg"
        for atptn, atpt, delta in ((815.0, "AFTER LYING DOWN FOR 5 MINUTES", chg),
                                   (816.0, "AFTER STANDING FOR 1 MINUTE", chg + 3)):  # fmt: skip
            rows.append((subject, arm, atptn, atpt, 2.0, "BASELINE", 140.0, np.nan))
            rows.append((subject, arm, atptn, atpt, 3.0, "WEEK 2", 140.0 + delta, delta))
    frame = pd.DataFrame(rows, columns=["USUBJID", "TRT01P", "ATPTN", "ATPT", "AVISITN",
                                        "AVISIT", "AVAL", "CHG"])  # fmt: skip
    return frame.assign(PARAMCD="SYSBP", ANL01FL="Y", FASFL="Y")


def test_cfb_summary_by_time_point_and_arm_equals_r():
    out = cfb_summary(_sysbp(), ["SYSBP"], quantile_method="spss", test_method="spss",
                      group="TRT01P", order=ARMS)  # fmt: skip
    assert list(out.columns[:6]) == ["PARAMCD", "ATPTN", "ATPT", "AVISITN", "AVISIT", "GROUP"]
    # Row order: time point, visit, group, VAR; placebo before 50 mg; no 25 mg rows (no data).
    assert out[["ATPTN", "AVISITN", "GROUP", "VAR"]].values.tolist()[:6] == [
        [815.0, 2.0, "Placebo", "AVAL"], [815.0, 2.0, "Drug X 50 mg", "AVAL"],
        [815.0, 3.0, "Placebo", "AVAL"], [815.0, 3.0, "Placebo", "CHG"],
        [815.0, 3.0, "Drug X 50 mg", "AVAL"], [815.0, 3.0, "Drug X 50 mg", "CHG"],
    ]  # fmt: skip
    row = out[(out["ATPTN"] == 815) & (out["GROUP"] == "Drug X 50 mg") & (out["VAR"] == "CHG")]
    assert len(row) == 1
    got = row.iloc[0]
    assert got["ATPT"] == "AFTER LYING DOWN FOR 5 MINUTES" and got["AVISIT"] == "WEEK 2"
    assert got["N"] == 5
    assert got["MEAN"] == pytest.approx(-10.0, abs=1e-12)
    assert got["SD"] == pytest.approx(3.46410161513775, abs=1e-12)
    assert (got["MEDIAN"], got["Q1"], got["Q3"], got["MIN"], got["MAX"]) == (
        -9.0, -13.5, -7.0, -15.0, -7.0)  # fmt: skip
    assert got["STATISTIC"] == 0.0
    assert got["P_VALUE"] == pytest.approx(0.042168197097156, rel=1e-12)
    # 816 is a time point of its own: its changes are 3 higher.
    other = out[(out["ATPTN"] == 816) & (out["GROUP"] == "Drug X 50 mg") & (out["VAR"] == "CHG")]
    assert other["MEAN"].iloc[0] == pytest.approx(-7.0, abs=1e-12)
