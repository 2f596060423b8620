"""Between-group comparisons pinned to R 4.2.2 (lm + emmeans 1.8, wilcox.test, kruskal.test).

The data (built in :func:`_three_arms`) and the R script that produced every expected number:

    library(emmeans)
    d <- data.frame(
      TRT = factor(rep(c("Placebo", "Drug X 25 mg", "Drug X 50 mg"), each = 6),
                   levels = c("Placebo", "Drug X 25 mg", "Drug X 50 mg")),
      BASE = c(140, 135, 150, 145, 138, 142,  148, 139, 152, 136, 144, 141,
               146, 150, 137, 143, 155, 140),
      CHG = c(-2, 1, -4, 0, -1, 3,  -6, -3, -8, -2, -5, -4,  -10, -9, -5, -7, -12, -6))
    fit <- lm(CHG ~ TRT + BASE, data = d)
    em <- emmeans(fit, "TRT")
    print(summary(em), digits = 15)
    #  TRT          emmean             SE                df lower.CL           upper.CL
    #  Placebo      -1.07407407407407 0.588609446919631 14 -2.33651578020995  0.18836763206182
    #  Drug X 25 mg -4.68518518518518 0.579076036610609 14 -5.92717975979982 -3.44319061057055
    #  Drug X 50 mg -7.57407407407407 0.589229683682237 14 -8.83784605576175 -6.31030209238639
    ct <- summary(contrast(em, "trt.vs.ctrl", ref = 1, adjust = "none"), infer = TRUE)
    #  contrast               estimate          SE                df lower.CL          upper.CL
    #  Drug X 25 mg - Placebo -3.61111111111111 0.825270376246271 14 -5.38114002801703 -1.84108219420519
    #  Drug X 50 mg - Placebo -6.50000000000000 0.846557077683798 14 -8.31568435077881 -4.68431564922119
    #  t.ratio -4.37567034398616, -7.67815918305729; p.value 6.33826913956079e-04, 2.20136853043449e-06
    wilcox.test(d$CHG[d$TRT == "Drug X 25 mg"], d$CHG[d$TRT == "Placebo"])
    #  W = 3, p-value = 0.0198051234581123  "Wilcoxon rank sum test with continuity correction"
    #  (ties: -2 and -4 occur in both arms, so R uses the normal approximation)
    wilcox.test(d$CHG[d$TRT == "Drug X 50 mg"], d$CHG[d$TRT == "Placebo"])
    #  W = 0, p-value = 0.00216450216450216  "Wilcoxon rank sum exact test" (= 2 / choose(12, 6))
    wilcox.test(d$CHG[d$TRT == "Drug X 25 mg"], d$CHG[d$TRT == "Placebo"], conf.int = TRUE)
    #  difference in location -4.00004300082250808, 95 % CI -7.00001759660218248
    #  -0.99998767318732718 (normal approximation: uniroot, tol 1e-4)
    wilcox.test(d$CHG[d$TRT == "Drug X 50 mg"], d$CHG[d$TRT == "Placebo"], conf.int = TRUE)
    #  difference in location -8, 95 % CI -11 -4 (exact); with conf.level = 0.9: -10 -5
    kruskal.test(CHG ~ TRT, data = d)
    #  Kruskal-Wallis chi-squared = 12.0614853195164073, df = 2, p-value = 0.0024037081782461

The least-squares means are at the mean BASE (143.388888...), emmeans' default reference grid.
"""  # noqa: E501

from __future__ import annotations

import pandas as pd
import pytest

from trialflow.analysis.compare import COMPARISON_COLUMNS, ancova, rank_tests
from trialflow.errors import DerivationError

ARMS = ["Placebo", "Drug X 25 mg", "Drug X 50 mg"]


def _three_arms() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "TRT01P": [a for a in ARMS for _ in range(6)],
            "BASE": [140.0, 135, 150, 145, 138, 142, 148, 139, 152, 136, 144, 141,
                     146, 150, 137, 143, 155, 140],
            "CHG": [-2.0, 1, -4, 0, -1, 3, -6, -3, -8, -2, -5, -4, -10, -9, -5, -7, -12, -6],
        }
    )  # fmt: skip


def test_ancova_three_arms_equals_lm_emmeans():
    out = ancova(_three_arms(), "CHG", "TRT01P", ["BASE"], control="Placebo", order=ARMS)
    assert out.columns.tolist() == COMPARISON_COLUMNS
    ls = out[out["TERM"] == "LSMEAN"].set_index("GROUP")
    expected = {  # emmean, SE, lower.CL, upper.CL from the module docstring
        "Placebo": (-1.07407407407407, 0.588609446919631, -2.33651578020995, 0.18836763206182),
        "Drug X 25 mg": (-4.68518518518518, 0.579076036610609, -5.92717975979982,
                         -3.44319061057055),
        "Drug X 50 mg": (-7.57407407407407, 0.589229683682237, -8.83784605576175,
                         -6.31030209238639),
    }  # fmt: skip
    assert ls.index.tolist() == ARMS
    for arm, (est, se, low, high) in expected.items():
        row = ls.loc[arm]
        assert row["ESTIMATE"] == pytest.approx(est, abs=1e-12)
        assert row["SE"] == pytest.approx(se, abs=1e-12)
        assert row["LOWER"] == pytest.approx(low, abs=1e-12)
        assert row["UPPER"] == pytest.approx(high, abs=1e-12)
        assert row["DF"] == 14  # 18 subjects - 4 coefficients
        assert row["N"] == 6
    diff = out[out["TERM"] == "DIFF"].set_index("GROUP")
    expected_diff = {  # estimate, SE, lower, upper, t.ratio, p.value
        "Drug X 25 mg": (-3.61111111111111, 0.825270376246271, -5.38114002801703,
                         -1.84108219420519, -4.37567034398616, 6.33826913956079e-04),
        "Drug X 50 mg": (-6.5, 0.846557077683798, -8.31568435077881, -4.68431564922119,
                         -7.67815918305729, 2.20136853043449e-06),
    }  # fmt: skip
    assert diff.index.tolist() == ARMS[1:]
    for arm, (est, se, low, high, t, p) in expected_diff.items():
        row = diff.loc[arm]
        assert row["REFERENCE"] == "Placebo"
        assert row["N"] == 12
        assert row["ESTIMATE"] == pytest.approx(est, abs=1e-12)
        assert row["SE"] == pytest.approx(se, abs=1e-12)
        assert row["LOWER"] == pytest.approx(low, abs=1e-12)
        assert row["UPPER"] == pytest.approx(high, abs=1e-12)
        assert row["STATISTIC"] == pytest.approx(t, abs=1e-12)
        assert row["P_VALUE"] == pytest.approx(p, rel=1e-9)
    # An LS mean differs from the raw mean by the coefficient of BASE times the distance of
    # the arm's mean BASE from the overall mean; the difference of two LS means is the DIFF.
    assert ls.loc["Drug X 25 mg", "ESTIMATE"] - ls.loc["Placebo", "ESTIMATE"] == pytest.approx(
        diff.loc["Drug X 25 mg", "ESTIMATE"], abs=1e-12
    )


def test_ancova_leaves_out_missing_and_needs_control():
    data = _three_arms()
    extra = pd.DataFrame({"TRT01P": ["Placebo", "Drug X 25 mg"], "BASE": [None, 150.0],
                          "CHG": [5.0, None]})  # fmt: skip
    out = ancova(pd.concat([data, extra]), "CHG", "TRT01P", ["BASE"], control="Placebo",
                 order=ARMS)  # fmt: skip
    # na.omit: the two incomplete records change nothing.
    assert out.loc[0, "ESTIMATE"] == pytest.approx(-1.07407407407407, abs=1e-12)
    no_control = data[data["TRT01P"] != "Placebo"]
    assert ancova(no_control, "CHG", "TRT01P", ["BASE"], control="Placebo", order=ARMS).empty
    with pytest.raises(DerivationError, match="AGE"):
        ancova(data, "CHG", "TRT01P", ["AGE"], control="Placebo", order=ARMS)


def test_ancova_without_covariate_is_the_cell_means():
    # CHG ~ TRT01P alone: the LS means are the arms' means, e.g. Placebo (-2+1-4+0-1+3)/6 = -0.5,
    # and the difference 25 mg - Placebo is -28/6 - (-0.5) = -4.1666...
    out = ancova(_three_arms(), "CHG", "TRT01P", [], control="Placebo", order=ARMS)
    est = out.set_index(["TERM", "GROUP"])["ESTIMATE"]
    assert est[("LSMEAN", "Placebo")] == pytest.approx(-0.5, abs=1e-12)
    assert est[("LSMEAN", "Drug X 25 mg")] == pytest.approx(-28 / 6, abs=1e-12)
    assert est[("DIFF", "Drug X 25 mg")] == pytest.approx(-28 / 6 + 0.5, abs=1e-12)


def test_rank_tests_equal_wilcox_and_kruskal():
    out = rank_tests(_three_arms(), "CHG", "TRT01P", control="Placebo", order=ARMS)
    ranksum = out[out["TERM"] == "RANKSUM"].set_index("GROUP")
    low = ranksum.loc["Drug X 25 mg"]
    assert low["STATISTIC"] == 3.0
    assert low["P_VALUE"] == pytest.approx(0.0198051234581123, rel=1e-12)
    assert low["TEST"] == "Wilcoxon rank sum test with continuity correction"
    high = ranksum.loc["Drug X 50 mg"]
    assert high["STATISTIC"] == 0.0
    assert high["P_VALUE"] == pytest.approx(2 / 924, rel=1e-12)  # 2 / choose(12, 6)
    assert high["TEST"] == "Wilcoxon rank sum exact test"
    kw = out[out["TERM"] == "KRUSKAL"].iloc[0]
    assert kw["STATISTIC"] == pytest.approx(12.0614853195164073, rel=1e-12)
    assert kw["DF"] == 2
    assert kw["P_VALUE"] == pytest.approx(0.0024037081782461, rel=1e-10)
    assert kw["N"] == 18


def test_rank_sum_location_shift_and_interval_equal_wilcox_test_conf_int():
    out = rank_tests(_three_arms(), "CHG", "TRT01P", control="Placebo", order=ARMS)
    ranksum = out[out["TERM"] == "RANKSUM"].set_index("GROUP")
    low = ranksum.loc["Drug X 25 mg"]  # ties: R's uniroot on the normal approximation
    assert low["ESTIMATE"] == pytest.approx(-4.00004300082250808, abs=1e-13)
    assert low["LOWER"] == pytest.approx(-7.00001759660218248, abs=1e-13)
    assert low["UPPER"] == pytest.approx(-0.99998767318732718, abs=1e-13)
    high = ranksum.loc["Drug X 50 mg"]  # exact: the qwilcox points of the 36 differences
    assert (high["ESTIMATE"], high["LOWER"], high["UPPER"]) == (-8.0, -11.0, -4.0)
    assert (low["CONF_LEVEL"], high["CONF_LEVEL"]) == (0.95, 0.95)
    assert ranksum[["SE", "DF"]].isna().all().all()
    at90 = rank_tests(_three_arms(), "CHG", "TRT01P", control="Placebo", order=ARMS,
                      conf_level=0.9).set_index(["TERM", "GROUP"])  # fmt: skip
    assert at90.loc[("RANKSUM", "Drug X 50 mg"), ["LOWER", "UPPER"]].tolist() == [-10.0, -5.0]


def test_rank_tests_two_arms_have_no_kruskal():
    data = _three_arms()
    out = rank_tests(data[data["TRT01P"] != "Drug X 50 mg"], "CHG", "TRT01P",
                     control="Placebo", order=ARMS)  # fmt: skip
    assert out["TERM"].tolist() == ["RANKSUM"]
    # the same pair as in the three-arm call: R's W = 3, p = 0.0198051234581123 (ties)
    assert out["STATISTIC"].iloc[0] == 3.0
    assert out["P_VALUE"].iloc[0] == pytest.approx(0.0198051234581123, rel=1e-12)


def test_ancova_is_not_estimated_with_a_constant_covariate():
    # BASE equal for everyone is collinear with the intercept: R's lm gives an NA coefficient;
    # nothing is reported rather than a number from an arbitrary generalised inverse.
    data = _three_arms().assign(BASE=140.0)
    assert ancova(data, "CHG", "TRT01P", ["BASE"], control="Placebo", order=ARMS).empty


def test_rank_sum_shift_equals_r_on_forty_random_pairs():
    """tests/data/rank_sum_r.json: 40 synthetic pairs of groups (numpy seed 11: small without
    ties, integer values with ties, one group of 50 or more, rounded normal values), each with
    R 4.2.2's answer, made by

        cases <- jsonlite::fromJSON("cases.json", simplifyVector = FALSE)
        lapply(cases, function(cs) {
          r <- suppressWarnings(wilcox.test(unlist(cs$x), unlist(cs$y), conf.int = TRUE,
                                            conf.level = cs$conf))
          list(estimate = unname(r$estimate), lower = r$conf.int[1], upper = r$conf.int[2],
               conf_level = attr(r$conf.int, "conf.level"), W = unname(r$statistic),
               p = r$p.value, method = r$method)
        })  # written with jsonlite::toJSON(digits = NA): every digit
    """
    import json
    from pathlib import Path

    import numpy as np

    from trialflow.analysis.compare import _rank_sum
    from trialflow.analysis.stats import _rank_sum_shift

    cases = json.loads((Path(__file__).parents[1] / "data" / "rank_sum_r.json").read_text())
    methods = set()
    for case in cases:
        x, y, r = np.array(case["x"]), np.array(case["y"]), case["r"]
        got = _rank_sum_shift(x, y, case["conf_level"])
        want = (r["estimate"], r["lower"], r["upper"], r["conf_level"])
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12), (len(x), len(y), r["method"])
        w, p, method = _rank_sum(x, y)
        assert (w, method) == (r["W"], r["method"]) and p == pytest.approx(r["p"], rel=1e-9)
        methods.add(method)
    assert methods == {"Wilcoxon rank sum exact test",
                       "Wilcoxon rank sum test with continuity correction"}  # fmt: skip
