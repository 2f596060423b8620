"""Quantiles, descriptive statistics and the paired Wilcoxon signed-rank test.

Every expected value below comes from outside trialflow.analysis.stats: a hand computation
written out next to it, a brute-force enumeration, a published SAS or R output (source in the
comment), or, marked as such, a cross-check against scipy or numpy.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from trialflow.analysis.stats import (
    QUANTILE_METHODS,
    TEST_METHODS,
    SignedRankResult,
    _r_uniroot,
    describe,
    psignrank,
    qsignrank,
    quantile,
    signed_rank_distribution,
    wilcoxon_signed_rank,
)

METHODS = ["sas5", "spss", "r7"]
X8 = [2, 4, 4, 5, 7, 9, 10, 12]  # sorted; n = 8
X10 = list(range(1, 11))  # 1..10


## Quantiles ----------------------------------------------------------------------------------


def test_quantile_methods_are_the_three_documented_ones() -> None:
    assert list(QUANTILE_METHODS) == ["sas5", "spss", "r7"]
    for text in QUANTILE_METHODS.values():
        assert text and "\n" not in text
    assert "QNTLDEF=5" in QUANTILE_METHODS["sas5"]
    assert "R type 6" in QUANTILE_METHODS["spss"]
    assert "type 7" in QUANTILE_METHODS["r7"]


# x = 2, 4, 4, 5, 7, 9, 10, 12 (n = 8).
#  sas5: np = j + g; g == 0 -> (x_j + x_{j+1})/2, g > 0 -> x_{j+1}
#  spss: (n+1)p = j + g -> (1-g) x_j + g x_{j+1}; x_1 below 1, x_n above n
#  r7:   h = 1 + (n-1)p -> (1-g) x_floor(h) + g x_floor(h)+1, g = h - floor(h)
@pytest.mark.parametrize(
    ("method", "prob", "expected"),
    [
        ("sas5", 0.10, 2.0),  # np = 0.8 -> x_1 = 2
        ("sas5", 0.25, 4.0),  # np = 2, g = 0 -> (x_2 + x_3)/2 = (4 + 4)/2
        ("sas5", 0.50, 6.0),  # np = 4 -> (x_4 + x_5)/2 = (5 + 7)/2
        ("sas5", 0.75, 9.5),  # np = 6 -> (x_6 + x_7)/2 = (9 + 10)/2
        ("sas5", 0.90, 12.0),  # np = 7.2 -> x_8
        ("spss", 0.10, 2.0),  # (n+1)p = 0.9 < 1 -> x_1
        ("spss", 0.25, 4.0),  # 2.25 -> 0.75*4 + 0.25*4
        ("spss", 0.50, 6.0),  # 4.5 -> 0.5*5 + 0.5*7
        ("spss", 0.75, 9.75),  # 6.75 -> 0.25*9 + 0.75*10
        ("spss", 0.90, 12.0),  # 8.1 > n = 8 -> x_8
        ("r7", 0.10, 3.4),  # h = 1.7 -> 0.3*2 + 0.7*4
        ("r7", 0.25, 4.0),  # 2.75 -> 0.25*4 + 0.75*4
        ("r7", 0.50, 6.0),  # 4.5 -> 0.5*5 + 0.5*7
        ("r7", 0.75, 9.25),  # 6.25 -> 0.75*9 + 0.25*10
        ("r7", 0.90, 10.6),  # 7.3 -> 0.7*10 + 0.3*12
    ],
)
def test_quantile_textbook_eight_values(method: str, prob: float, expected: float) -> None:
    assert quantile(X8, prob, method) == pytest.approx(expected, abs=1e-12)


# x = 1..10 (n = 10)
@pytest.mark.parametrize(
    ("method", "prob", "expected"),
    [
        ("sas5", 0.10, 1.5),  # np = 1, g = 0 -> (1 + 2)/2
        ("sas5", 0.25, 3.0),  # np = 2.5 -> x_3
        ("sas5", 0.50, 5.5),  # np = 5 -> (5 + 6)/2
        ("sas5", 0.75, 8.0),  # np = 7.5 -> x_8
        ("spss", 0.10, 1.1),  # (n+1)p = 1.1 -> 0.9*1 + 0.1*2
        ("spss", 0.25, 2.75),  # 2.75 -> 0.25*2 + 0.75*3
        ("spss", 0.50, 5.5),
        ("spss", 0.75, 8.25),  # 8.25 -> 0.75*8 + 0.25*9
        ("r7", 0.10, 1.9),  # h = 1.9 -> 0.1*1 + 0.9*2
        ("r7", 0.25, 3.25),  # 3.25 -> 0.75*3 + 0.25*4
        ("r7", 0.50, 5.5),
        ("r7", 0.75, 7.75),  # 7.75 -> 0.25*7 + 0.75*8
    ],
)
def test_quantile_one_to_ten(method: str, prob: float, expected: float) -> None:
    assert quantile(X10, prob, method) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("percent", "expected"),
    [(25, 1.5), (100 / 3, 2.0), (50, 2.5), (200 / 3, 3.0), (75, 3.5)],
)
def test_sas5_matches_the_sas_pctl_documentation(percent: float, expected: float) -> None:
    # SAS Functions and CALL Routines, PCTL function (definition 5 is the default), examples:
    # PCTL(25,2,4,1,3) = 1.5, PCTL(100/3,...) = 2, PCTL(50,...) = 2.5, PCTL(200/3,...) = 3,
    # PCTL(75,...) = 3.5.
    assert quantile([2, 4, 1, 3], percent / 100, "sas5") == expected


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("prob", [0.0, 0.1, 0.25, 0.5, 0.75, 1.0])
def test_one_value_is_every_quantile(method: str, prob: float) -> None:
    assert quantile([3.7], prob, method) == 3.7


@pytest.mark.parametrize(
    ("method", "prob", "expected"),
    [
        # x = 10, 20 (n = 2)
        ("sas5", 0.25, 10.0),  # np = 0.5 -> x_1
        ("sas5", 0.50, 15.0),  # np = 1 -> (x_1 + x_2)/2
        ("sas5", 0.75, 20.0),  # np = 1.5 -> x_2
        ("spss", 0.25, 10.0),  # (n+1)p = 0.75 < 1 -> x_1
        ("spss", 0.50, 15.0),  # 1.5 -> 0.5*10 + 0.5*20
        ("spss", 0.75, 20.0),  # 2.25 > n -> x_2
        ("r7", 0.25, 12.5),  # h = 1.25 -> 0.75*10 + 0.25*20
        ("r7", 0.50, 15.0),
        ("r7", 0.75, 17.5),
    ],
)
def test_two_values(method: str, prob: float, expected: float) -> None:
    assert quantile([20, 10], prob, method) == expected


@pytest.mark.parametrize(
    ("prob", "expected"),
    [
        (0.20, 1.0),  # (n+1)p = 0.8 < 1: SPSS gives the minimum
        (0.25, 1.0),  # (n+1)p = 1 exactly: x_1, no interpolation
        (0.30, 1.2),  # 1.2 -> 0.8*1 + 0.2*2
        (0.50, 2.0),  # 2
        (0.75, 3.0),  # 3 = n: x_3
        (0.80, 3.0),  # 3.2 > n: SPSS gives the maximum
    ],
)
def test_spss_clamps_to_min_and_max_with_three_values(prob: float, expected: float) -> None:
    assert quantile([3, 1, 2], prob, "spss") == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_p0_and_p1_are_min_and_max(method: str) -> None:
    for n in range(1, 8):
        x = [float(v * v) for v in range(n, 0, -1)]
        assert quantile(x, 0.0, method) == min(x)
        assert quantile(x, 1.0, method) == max(x)


@pytest.mark.parametrize(
    ("method", "numpy_method"),
    [("sas5", "averaged_inverted_cdf"), ("spss", "weibull"), ("r7", "linear")],
)
def test_cross_check_against_numpy_named_methods(method: str, numpy_method: str) -> None:
    # Cross-check of the mapping to Hyndman & Fan types, not the source of the values: on
    # probabilities k/64 (so n*p is exact in floating point) numpy's methods agree up to the
    # last-bit difference of its interpolation formula.
    rng = np.random.default_rng(20240611)
    for n in range(1, 13):
        x = np.round(rng.normal(50, 10, n), 2)
        for k in range(65):
            p = k / 64
            ours = quantile(x, p, method)
            theirs = float(np.quantile(x, p, method=numpy_method))
            assert ours == pytest.approx(theirs, rel=1e-13, abs=1e-13), (n, p)


def test_r7_and_spss_interpolate_as_r_writes_it() -> None:
    # R's quantile() computes (1 - h) * x[lo] + h * x[hi]; for x = 10.1, 10.4 and p = 0.25 the
    # type 7 index is 1.25, so h = 0.25. numpy's a + h*(b - a) ends on the other side of
    # 10.175 in the last bit.
    assert quantile([10.1, 10.4], 0.25, "r7") == 0.75 * 10.1 + 0.25 * 10.4
    # type 6 with n = 3 and p = 0.3125: (n+1)p = 1.25 -> 0.75 x_1 + 0.25 x_2
    assert quantile([10.1, 10.4, 11.0], 0.3125, "spss") == 0.75 * 10.1 + 0.25 * 10.4


def test_sas5_treats_np_within_rounding_of_an_integer_as_an_integer() -> None:
    # 7th percentile of 1..100: np = 100 * 0.07 = 7 exactly, so the SAS definition averages
    # x_7 and x_8. In floating point 100 * 0.07 is 7.000000000000001, which numpy's
    # "averaged_inverted_cdf" takes as g > 0 (giving x_8 = 8).
    x = list(range(1, 101))
    assert 100 * 0.07 != 7
    assert quantile(x, 0.07, "sas5") == 7.5
    assert float(np.quantile(x, 0.07, method="averaged_inverted_cdf")) == 8.0


def test_quantile_ignores_missing_values_and_handles_empty_input() -> None:
    assert quantile([np.nan, 4, 2, None, 1, 3], 0.25, "sas5") == 1.5
    series = pd.Series([4.0, None, 2.0, 1.0, 3.0], dtype="Float64")  # pandas NA
    assert quantile(series, 0.5, "r7") == 2.5
    for method in METHODS:
        assert math.isnan(quantile([], 0.5, method))
        assert math.isnan(quantile([np.nan, np.nan], 0.5, method))


def test_quantile_rejects_unknown_method_and_bad_prob() -> None:
    with pytest.raises(ValueError, match=r"'sas5', 'spss', 'r7'"):
        quantile([1, 2], 0.5, "type7")
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="between 0 and 1"):
            quantile([1, 2], bad, "r7")


## describe -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "q1", "q3"),
    [("sas5", 4.0, 9.5), ("spss", 4.0, 9.75), ("r7", 4.0, 9.25)],  # as in the table above
)
def test_describe_eight_values(method: str, q1: float, q3: float) -> None:
    d = describe(X8, method)
    # mean = 53/8; sum of squared deviations = 435 - 8 * 6.625^2 = 83.875; sd = sqrt(83.875/7)
    assert d["N"] == 8 and isinstance(d["N"], int)
    assert d["MEAN"] == 6.625
    assert d["SD"] == pytest.approx(math.sqrt(83.875 / 7), rel=1e-14)
    assert d["SD"] == pytest.approx(3.4615231990, abs=1e-10)
    assert (d["MEDIAN"], d["Q1"], d["Q3"]) == (6.0, q1, q3)
    assert (d["MIN"], d["MAX"]) == (2.0, 12.0)
    assert list(d) == ["N", "MEAN", "SD", "MEDIAN", "Q1", "Q3", "MIN", "MAX"]


@pytest.mark.parametrize(
    "values",
    [X8, X10, [5.5], [3, 1], [2.5, 9.1, 4.4], [7, 1, 3, 3, 8, 2.25, 11], [1.1, 2.2, 3.3, 4.4]],
)
def test_all_methods_give_the_usual_median(values: list[float]) -> None:
    expected = statistics.median(values)
    for method in METHODS:
        assert describe(values, method)["MEDIAN"] == pytest.approx(expected, abs=1e-12)
        assert quantile(values, 0.5, method) == pytest.approx(expected, abs=1e-12)


def test_describe_one_value_missing_values_and_empty_input() -> None:
    one = describe([np.nan, 4.2], "spss")
    assert one["N"] == 1 and math.isnan(one["SD"])
    assert one["MEAN"] == one["MEDIAN"] == one["Q1"] == one["Q3"] == one["MIN"] == 4.2
    two = describe(pd.Series([1.0, None, 3.0], dtype="Float64"), "r7")
    assert (two["N"], two["MEAN"], two["SD"]) == (2, 2.0, math.sqrt(2.0))
    empty = describe([], "sas5")
    assert empty["N"] == 0
    assert all(math.isnan(v) for k, v in empty.items() if k != "N")
    with pytest.raises(ValueError, match="allowed"):
        describe([1.0], "sas")


## Signed-rank distribution -------------------------------------------------------------------


def _brute_force_v_counts(n: int) -> list[int]:
    """Number of the 2^n sign assignments of ranks 1..n giving each V = 0..n(n+1)/2."""
    counts = [0] * (n * (n + 1) // 2 + 1)
    for signs in itertools.product((0, 1), repeat=n):
        counts[sum(rank for rank, s in zip(range(1, n + 1), signs, strict=True) if s)] += 1
    return counts


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 10])
def test_psignrank_and_qsignrank_against_enumeration(n: int) -> None:
    counts = _brute_force_v_counts(n)
    total = 2**n
    cdf = [Fraction(sum(counts[: q + 1]), total) for q in range(len(counts))]
    for q, f in enumerate(cdf):
        assert psignrank(q, n) == pytest.approx(float(f), rel=1e-14, abs=1e-300)
        assert psignrank(q, n, lower_tail=False) == pytest.approx(float(1 - f), abs=1e-15)
    assert psignrank(-1, n) == 0.0 and psignrank(len(counts), n) == 1.0
    for p in (0.001, 0.025, 0.05, 0.3, 0.5, 0.7, 0.95, 0.975):
        # the smallest q with P(V <= q) >= p
        expected = next(q for q, f in enumerate(cdf) if f >= Fraction(p))
        assert qsignrank(p, n) == expected, p


## Wilcoxon signed-rank test: exact branch ----------------------------------------------------

# Hollander & Wolfe (1973), p. 29: Hamilton depression scale, first (x) and second (y) visit.
# R's ?wilcox.test example: wilcox.test(x, y, paired = TRUE) gives V = 40, p-value = 0.03906;
# with alternative = "greater" p-value = 0.01953.
HW_X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
HW_Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]


def test_hollander_wolfe_depression_example() -> None:
    d = [a - b for a, b in zip(HW_X, HW_Y, strict=True)]
    r = wilcoxon_signed_rank(d)
    assert r.statistic == 40.0
    assert r.p_value == pytest.approx(20 / 512, rel=1e-12)
    assert round(r.p_value, 5) == 0.03906
    assert psignrank(40 - 1, 9, lower_tail=False) == pytest.approx(10 / 512, rel=1e-12)
    assert round(psignrank(39, 9, lower_tail=False), 5) == 0.01953
    assert r.method == "Wilcoxon signed rank exact test"
    assert (r.n, r.n_zero, r.ties, r.exact) == (9, 0, False, True)
    # Hodges-Lehmann estimate: median of the 45 Walsh averages (written out independently)
    walsh = sorted((a + b) / 2 for a, b in itertools.combinations_with_replacement(d, 2))
    assert len(walsh) == 45
    assert r.estimate == statistics.median(walsh)
    assert r.estimate == pytest.approx(0.46, abs=1e-12)


def _brute_force_exact(d: list[float], conf_level: float) -> dict[str, float]:
    """Exact two-sided test and interval by enumerating all 2^n sign assignments."""
    n = len(d)
    ranks = {v: i + 1 for i, v in enumerate(sorted(abs(x) for x in d))}
    v_obs = sum(ranks[abs(x)] for x in d if x > 0)
    counts = _brute_force_v_counts(n)
    total = 2**n
    p_le = Fraction(sum(counts[: v_obs + 1]), total)
    p_ge = Fraction(sum(counts[v_obs:]), total)
    p_two = min(Fraction(1), 2 * min(p_le, p_ge))
    # Interval from the Walsh averages: lower limit the qu-th smallest, upper the qu-th
    # largest, qu the smallest q with P(V <= q) >= alpha/2 (at least 1).
    walsh = sorted((a + b) / 2 for a, b in itertools.combinations_with_replacement(d, 2))
    half_alpha = (1 - Fraction(conf_level).limit_denominator(10**6)) / 2
    cdf = itertools.accumulate(Fraction(c, total) for c in counts)
    qu = max(1, next(q for q, f in enumerate(cdf) if f >= half_alpha))
    coverage = 1 - 2 * Fraction(sum(counts[:qu]), total)
    positive_walsh = sum(w > 0 for w in walsh)
    return {
        "V": v_obs, "p": float(p_two), "low": walsh[qu - 1], "high": walsh[len(walsh) - qu],
        "coverage": float(coverage), "estimate": statistics.median(walsh),
        "positive_walsh": positive_walsh,
    }


@pytest.mark.parametrize("n", [8, 9, 10])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("conf_level", [0.95, 0.90])
def test_exact_branch_against_enumeration(n: int, seed: int, conf_level: float) -> None:
    rng = np.random.default_rng(1000 * n + seed)
    d = [float(v) for v in np.round(rng.normal(0.4, 1.0, n), 3)]
    assert len({abs(v) for v in d}) == n and 0.0 not in d  # no ties, no zeros
    r = wilcoxon_signed_rank(d, conf_level=conf_level)
    bf = _brute_force_exact(d, conf_level)
    assert r.exact and r.method == "Wilcoxon signed rank exact test"
    assert r.statistic == bf["V"] == bf["positive_walsh"]  # Tukey: V = #positive Walsh avgs
    assert r.p_value == pytest.approx(bf["p"], rel=1e-12)
    assert (r.conf_low, r.conf_high) == (bf["low"], bf["high"])
    assert r.achieved_conf_level == pytest.approx(bf["coverage"], rel=1e-12)
    assert r.achieved_conf_level >= conf_level
    assert r.estimate == bf["estimate"]


def test_exact_branch_published_r_values() -> None:
    # Values quoted from R in JuliaStats/HypothesisTests.jl test/wilcoxon.jl:
    # wilcox.test(x, conf.int = TRUE, exact = TRUE) -> (3.3, 15.5), estimate 9.675;
    # wilcox.test(x, alternative = "greater") -> 0.001678466797 (two-sided: twice that).
    x = [-7.8, -6.9, -4.7, 3.7, 6.5, 8.7, 9.1, 10.1, 10.8, 13.6, 14.4, 16.6, 20.2, 22.4, 23.5]
    r = wilcoxon_signed_rank(x)
    assert r.exact
    assert r.p_value == pytest.approx(2 * 0.001678466797, abs=1e-12)
    assert (r.conf_low, r.conf_high) == (pytest.approx(3.3, abs=1e-12), 15.5)
    assert r.estimate == pytest.approx(9.675, abs=1e-12)
    # same source: z = c(1.2, 2.3, 3.1, 4.4, 2.8, 3.9, 5.1, 2.2, 3.3, 4.0) - 3,
    # wilcox.test(z, conf.int = TRUE) -> (-0.7, 1.1)
    z = [v - 3 for v in [1.2, 2.3, 3.1, 4.4, 2.8, 3.9, 5.1, 2.2, 3.3, 4.0]]
    rz = wilcoxon_signed_rank(z)
    assert (rz.conf_low, rz.conf_high) == (pytest.approx(-0.7, abs=1e-12),
                                           pytest.approx(1.1, abs=1e-12))
    # same source: R p-values for the one-sample tests of 1:15 - 10.1 and 1:16 - 10.1
    assert wilcoxon_signed_rank([v - 10.1 for v in range(1, 16)]).p_value == pytest.approx(
        0.09460449, abs=5e-9)
    assert wilcoxon_signed_rank([v - 10.1 for v in range(1, 17)]).p_value == pytest.approx(
        0.1928101, abs=5e-8)


def test_one_difference_and_unachievable_level() -> None:
    # One difference: one Walsh average; R (as quoted in HypothesisTests.jl) gives the
    # interval (1.5, 1.5) and p = 1. The achieved level is 1 - 2 P(V <= 0) = 1 - 2/2 = 0,
    # and R reports conf.level 1 - signif(1, 2) = 0.
    r = wilcoxon_signed_rank([1.5])
    assert (r.p_value, r.conf_low, r.conf_high, r.estimate) == (1.0, 1.5, 1.5, 1.5)
    assert r.achieved_conf_level == 0.0 and r.r_conf_level == 0.0
    # n = 4: the widest interval (min and max Walsh average) has coverage 1 - 2/16 = 0.875,
    # so R reports 1 - signif(0.125, 2) = 0.88; n = 9 achieves 1 - 2 * 10/512 and R keeps 0.95.
    r4 = wilcoxon_signed_rank([1.5, -0.5, 2.0, 3.0])
    assert (r4.conf_low, r4.conf_high) == (-0.5, 3.0)
    assert r4.achieved_conf_level == pytest.approx(0.875, abs=1e-12)
    assert r4.r_conf_level == pytest.approx(0.88, abs=1e-12)
    r9 = wilcoxon_signed_rank([a - b for a, b in zip(HW_X, HW_Y, strict=True)])
    assert r9.achieved_conf_level == pytest.approx(1 - 20 / 512, abs=1e-12)
    assert r9.r_conf_level == 0.95


## Wilcoxon signed-rank test: normal approximation --------------------------------------------

# d = 0, 1, 1, 2, -2, 3, 3, 3, -1, 4. The zero is dropped: n = 9.
# |d| sorted: 1 1 1 | 2 2 | 3 3 3 | 4 -> average ranks 2, 4.5, 7, 9.
# V = ranks of the positive values = 2 + 2 + 4.5 + 7 + 7 + 7 + 9 = 38.5 (negatives: 4.5 + 2).
# E(V) = n(n+1)/4 = 22.5.
# Tie groups of sizes 3, 2, 3, 1: sum(t^3 - t) = 24 + 6 + 24 + 0 = 54.
# Var(V) = n(n+1)(2n+1)/24 - 54/48 = 71.25 - 1.125 = 70.125.
# With continuity correction z = (38.5 - 22.5 - 0.5)/sqrt(70.125); without, (38.5 - 22.5)/...
# Two-sided p = 2 * (1 - Phi(|z|)) = erfc(|z| / sqrt(2)).
D10 = [0, 1, 1, 2, -2, 3, 3, 3, -1, 4]


def test_normal_branch_by_hand_with_ties_and_zeros() -> None:
    sigma = math.sqrt(9 * 10 * 19 / 24 - (24 + 6 + 24 + 0) / 48)
    assert sigma == math.sqrt(70.125)
    z = (38.5 - 22.5 - 0.5) / sigma
    r = wilcoxon_signed_rank(D10)
    assert r.statistic == 38.5
    assert (r.n, r.n_zero, r.ties, r.exact) == (9, 1, True, False)
    assert r.method == "Wilcoxon signed rank test with continuity correction"
    assert r.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    assert r.p_value == pytest.approx(0.0641764, abs=5e-7)  # z = 1.850952

    z0 = (38.5 - 22.5) / sigma
    r0 = wilcoxon_signed_rank(D10, correct=False)
    assert r0.method == "Wilcoxon signed rank test"
    assert r0.p_value == pytest.approx(math.erfc(z0 / math.sqrt(2)), rel=1e-12)


def test_normal_branch_cross_check_with_scipy() -> None:
    # Cross-check, not the source: scipy's normal approximation with Wilcoxon's zero handling
    # and the same tie-corrected variance.
    for correct in (True, False):
        expected = sps.wilcoxon(D10, zero_method="wilcox", correction=correct, method="approx")
        ours = wilcoxon_signed_rank(D10, correct=correct)
        assert ours.p_value == pytest.approx(expected.pvalue, rel=1e-10)
        assert min(ours.statistic, 9 * 10 / 2 - ours.statistic) == expected.statistic


def test_branch_selection() -> None:
    untied = [0.5 * k * (-1) ** k for k in range(1, 50)]  # 49 distinct |d|, no zero
    assert wilcoxon_signed_rank(untied).exact
    assert not wilcoxon_signed_rank([*untied, 30.0]).exact  # n = 50: normal
    assert wilcoxon_signed_rank([*untied, 30.0], exact=True).exact
    assert not wilcoxon_signed_rank(untied[:10], exact=False).exact
    # exact requested but ties or zeros: normal approximation, as R falls back
    assert not wilcoxon_signed_rank([1.0, 1.0, 2.0, -3.0, 4.0], exact=True).exact
    assert not wilcoxon_signed_rank([0.0, 1.0, 2.0, -3.0, 4.0], exact=True).exact


def test_normal_branch_published_r_values() -> None:
    # R's interval and estimate here come from uniroot(tol = 1e-4); R prints them to about
    # five or six significant digits, so they are compared to half a unit of the last
    # printed digit.
    #
    # JuliaStats/HypothesisTests.jl test/wilcoxon.jl, quoting R:
    # wilcox.test(x, conf.int = TRUE, exact = FALSE) -> (3.05004, 15.50001);
    # "greater" with exact = FALSE, correct = TRUE -> 0.002938062707 (two-sided: twice).
    x = [-7.8, -6.9, -4.7, 3.7, 6.5, 8.7, 9.1, 10.1, 10.8, 13.6, 14.4, 16.6, 20.2, 22.4, 23.5]
    r = wilcoxon_signed_rank(x, exact=False)
    assert r.p_value == pytest.approx(2 * 0.002938062707, abs=2e-12)
    assert r.conf_low == pytest.approx(3.05004, abs=5e-6)
    assert r.conf_high == pytest.approx(15.50001, abs=5e-6)
    # same source: d with five zeros and ties,
    # wilcox.test(d, conf.int = TRUE, conf.level = 0.9) -> (-0.24999, 0.75005), estimate 0.5
    d = [0, 0, 0, 0.5, 0.5, 1, -0.5, -1, 1.5, -1.5, 0.5, 0, 1, -0.5, 2, 0, 0.5, -1, 1, 0.5]
    rd = wilcoxon_signed_rank(d, conf_level=0.9)
    assert (rd.n, rd.n_zero, rd.exact) == (15, 5, False)
    assert rd.conf_low == pytest.approx(-0.24999, abs=5e-6)
    assert rd.conf_high == pytest.approx(0.75005, abs=5e-6)
    assert rd.estimate == pytest.approx(0.5, abs=1e-4)
    # same source: tied sample 1:7, five 10s, 13:15 minus 10.1 -> estimate -2.1; with 16
    # added, p = 0.1021964.
    h = [v - 10.1 for v in [1, 2, 3, 4, 5, 6, 7, 10, 10, 10, 10, 10, 13, 14, 15]]
    assert wilcoxon_signed_rank(h).estimate == pytest.approx(-2.1, abs=1e-4)
    assert wilcoxon_signed_rank([*h, 16 - 10.1]).p_value == pytest.approx(0.1021964, abs=5e-8)


def test_normal_branch_widens_alpha_as_r_does() -> None:
    # kassambara/rstatix issue #127 prints R's result for these paired data (baseline minus
    # month 3): V = 0, p = 0.0975, estimate -1.71, CI (-5.00, -1), and the interval is at
    # 60% because R doubled alpha from 0.05 to 0.4 (rstatix PR #259).
    baseline = [0, 6, 0, 0, 0, 0, 1, 3, 1, 1, 3, 7]
    month3 = [9, 8, 0, 0, 0, 0, 2, 3, 2, 1, 3, 7]
    r = wilcoxon_signed_rank([a - b for a, b in zip(baseline, month3, strict=True)])
    assert (r.statistic, r.n, r.n_zero) == (0.0, 4, 8)
    assert round(r.p_value, 4) == 0.0975
    assert r.estimate == pytest.approx(-1.71, abs=5e-3)
    assert r.conf_low == pytest.approx(-5.00, abs=5e-3)
    assert r.conf_high == pytest.approx(-1.0, abs=5e-3)
    assert r.achieved_conf_level == pytest.approx(0.6, abs=1e-12)
    assert r.r_conf_level == r.achieved_conf_level


def test_normal_interval_limits_sit_on_walsh_averages() -> None:
    # The standardised statistic is a step function of the shift d that jumps only at Walsh
    # averages, so each root R's uniroot(tol = 1e-4) returns lies within 1e-4 of one.
    for data, level in ((D10, 0.95), (D10, 0.8), ([1.1, 2.3, 2.3, -0.7, 4.2, 3.3, 0.2], 0.9)):
        r = wilcoxon_signed_rank(data, conf_level=level)
        nonzero = [v for v in data if v != 0]
        walsh = [(a + b) / 2 for a, b in itertools.combinations_with_replacement(nonzero, 2)]
        for limit in (r.conf_low, r.conf_high):
            assert min(abs(limit - w) for w in walsh) < 1e-4
        assert r.conf_low < r.estimate < r.conf_high


def test_uniroot_port_finds_roots_within_tolerance() -> None:
    # R: uniroot(function(x) x^2 - 2, c(0, 2), tol = 1e-4)$root is within 1e-4 of sqrt(2);
    # scipy's brentq with the same bracket and xtol is a cross-check.
    from scipy.optimize import brentq

    def f(x: float) -> float:
        return x * x - 2

    root = _r_uniroot(f, 0.0, 2.0, f(0.0), f(2.0), 1e-4)
    assert abs(root - math.sqrt(2)) < 1e-4
    assert abs(root - brentq(f, 0.0, 2.0, xtol=1e-4)) < 1e-4
    assert _r_uniroot(f, 0.0, math.sqrt(2), f(0.0), 0.0, 1e-4) == math.sqrt(2)
    with pytest.raises(ValueError, match="opposite sign"):
        _r_uniroot(f, 2.0, 3.0, f(2.0), f(3.0), 1e-4)


def test_all_values_tied_gives_no_interval() -> None:
    # x = 2, 2, 2: ties, so the normal branch; V = 6, E = 3, Var = 3*4*7/24 - (27-3)/48 = 3.
    # At d = min(x) every difference is zero, R's W() is 0/0, and R returns the interval
    # (NaN, NaN) with conf.level 0 and the midrange as estimate.
    r = wilcoxon_signed_rank([2.0, 2.0, 2.0])
    assert r.statistic == 6.0
    assert r.p_value == pytest.approx(math.erfc(((6 - 3 - 0.5) / math.sqrt(3)) / math.sqrt(2)))
    assert math.isnan(r.conf_low) and math.isnan(r.conf_high)
    assert (r.estimate, r.achieved_conf_level) == (2.0, 0.0)


## Degenerate input and validation -----------------------------------------------------------


def test_no_non_zero_differences_is_not_an_error() -> None:
    zeros = wilcoxon_signed_rank([0.0, 0.0, np.nan, 0.0])
    assert (zeros.n, zeros.n_zero, zeros.statistic) == (0, 3, 0.0)
    assert math.isnan(zeros.p_value) and math.isnan(zeros.estimate)
    assert math.isnan(zeros.conf_low) and math.isnan(zeros.conf_high)
    assert "all 3 differences are zero" in zeros.method
    for empty in ([], [np.nan, np.nan], pd.Series([], dtype="float64")):
        r = wilcoxon_signed_rank(empty)
        assert r.n == 0 and math.isnan(r.p_value) and math.isnan(r.statistic)
        assert "no non-missing differences" in r.method


def test_missing_values_are_dropped() -> None:
    d = [a - b for a, b in zip(HW_X, HW_Y, strict=True)]
    with_na = pd.Series([np.nan, *d[:4], None, *d[4:]], dtype="Float64")
    assert wilcoxon_signed_rank(with_na) == wilcoxon_signed_rank(d)


def test_invalid_arguments() -> None:
    for level in (0.0, 1.0, 1.5, math.nan):
        with pytest.raises(ValueError, match="conf_level"):
            wilcoxon_signed_rank([1.0, 2.0], conf_level=level)
    with pytest.raises(ValueError, match="infinite"):
        wilcoxon_signed_rank([1.0, math.inf, 2.0])


def test_result_is_frozen() -> None:
    r = wilcoxon_signed_rank([1.0, 2.0, -0.5])
    assert isinstance(r, SignedRankResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.p_value = 0.0  # type: ignore[misc]


## The study's test methods: spss, asymptotic, exact, exact_pratt --------------------------------


def test_test_methods_are_the_five_documented_ones() -> None:
    assert list(TEST_METHODS) == ["r", "spss", "asymptotic", "exact", "exact_pratt"]
    for text in TEST_METHODS.values():
        assert text and "\n" not in text
    assert "no continuity correction" in TEST_METHODS["spss"]
    assert "Pratt" in TEST_METHODS["exact_pratt"]
    with pytest.raises(ValueError, match="unknown signed-rank test method 'sas'"):
        wilcoxon_signed_rank([1.0, 2.0], method="sas")
    with pytest.raises(ValueError, match="R's arguments"):
        wilcoxon_signed_rank([1.0, 2.0], method="spss", correct=False)
    with pytest.raises(ValueError, match="R's arguments"):
        wilcoxon_signed_rank([1.0, 2.0], method="exact", exact=True)


def test_spss_by_hand_with_ties_and_zeros() -> None:
    # D10 as worked out above: the zero dropped, n = 9, V = 38.5, E = 22.5, Var = 70.125.
    # SPSS: z = (V - E) / sd, no continuity correction, p = 2 (1 - Phi(|z|)).
    z = (38.5 - 22.5) / math.sqrt(9 * 10 * 19 / 24 - (24 + 6 + 24 + 0) / 48)
    r = wilcoxon_signed_rank(D10, method="spss")
    assert (r.statistic, r.n, r.n_zero, r.ties, r.exact) == (38.5, 9, 1, True, False)
    assert r.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-12)
    assert r.p_value == pytest.approx(0.05605, abs=5e-5)  # z = 1.91066, tail 0.02802
    assert r.method == (
        "Wilcoxon signed rank test, normal approximation without continuity correction"
    )
    # The estimate and interval are R's wilcox.test(exact = FALSE, correct = FALSE).
    r_ = wilcoxon_signed_rank(D10, exact=False, correct=False)
    assert (r.estimate, r.conf_low, r.conf_high) == (r_.estimate, r_.conf_low, r_.conf_high)


def test_spss_and_exact_on_fifteen_falls() -> None:
    # The FPG day 14: 15 changes, all negative, no ties. V = 0.
    # Exact (R's default for n < 50): p = 2 / 2^15 = 6.1035e-05.
    # SPSS: z = (0 - 15*16/4) / sqrt(15*16*31/24) = -60 / sqrt(310) = -3.40777,
    # p = erfc(3.40777 / sqrt 2) = 0.000655.
    d = [-0.5 - 0.3 * k for k in range(15)]
    assert wilcoxon_signed_rank(d).p_value == pytest.approx(2 / 2**15, rel=1e-12)
    assert wilcoxon_signed_rank(d, method="exact").p_value == pytest.approx(2 / 2**15, rel=1e-12)
    spss = wilcoxon_signed_rank(d, method="spss")
    assert spss.p_value == pytest.approx(math.erfc(60 / math.sqrt(310) / math.sqrt(2)), rel=1e-12)
    assert round(spss.p_value, 5) == 0.00065


def test_asymptotic_by_hand_without_ties() -> None:
    # Depression data: n = 9, V = 40, no ties; the normal approximation with continuity
    # correction even though n < 50: z = (40 - 22.5 - 0.5) / sqrt(9*10*19/24) = 17 / sqrt(71.25)
    d = [a - b for a, b in zip(HW_X, HW_Y, strict=True)]
    r = wilcoxon_signed_rank(d, method="asymptotic")
    z = 17 / math.sqrt(71.25)
    assert r.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    assert r.p_value == pytest.approx(0.04399, abs=5e-5)
    assert r.method == "Wilcoxon signed rank test with continuity correction"
    assert not r.exact


def _midranks(values: list[Fraction]) -> list[Fraction]:
    """Mid-ranks written out: 1 + (number smaller) + (number equal - 1) / 2."""
    return [
        1 + sum(w < v for w in values) + Fraction(sum(w == v for w in values) - 1, 2)
        for v in values
    ]


def _enumerated_p(d: list[float], pratt: bool) -> tuple[Fraction, Fraction]:
    """(V, two-sided p) by enumerating every sign assignment of the signed ranks."""
    exact = [Fraction(v).limit_denominator(10**6) for v in d]
    if pratt:  # rank all |d|, zeros included; zeros then carry no sign
        ranks = [r for r, v in zip(_midranks([abs(v) for v in exact]), exact, strict=True) if v]
        nonzero = [v for v in exact if v]
    else:  # drop zeros, then rank
        nonzero = [v for v in exact if v]
        ranks = _midranks([abs(v) for v in nonzero])
    v_obs = sum(r for r, v in zip(ranks, nonzero, strict=True) if v > 0)
    sums = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in
            itertools.product((False, True), repeat=len(ranks))]
    total = len(sums)
    p_le = Fraction(sum(s <= v_obs for s in sums), total)
    p_ge = Fraction(sum(s >= v_obs for s in sums), total)
    return v_obs, min(Fraction(1), 2 * min(p_le, p_ge))


def test_exact_methods_on_ties_and_zeros_by_hand() -> None:
    # D10 = 0, 1, 1, 2, -2, 3, 3, 3, -1, 4.
    # exact (Wilcoxon): zero dropped, mid-ranks 2, 2, 4.5, 4.5, 7, 7, 7, 2, 9; V = 38.5.
    # exact_pratt: zero ranked 1, then |1| -> 3, |2| -> 5.5, |3| -> 8, |4| -> 10;
    #   V = 3 + 3 + 5.5 + 8 + 8 + 8 + 10 = 45.5 over the nine signed ranks.
    wil = wilcoxon_signed_rank(D10, method="exact")
    pratt = wilcoxon_signed_rank(D10, method="exact_pratt")
    v, p = _enumerated_p(D10, pratt=False)
    assert (wil.statistic, v) == (38.5, 38.5)
    assert wil.p_value == pytest.approx(float(p), rel=1e-12)
    v, p = _enumerated_p(D10, pratt=True)
    assert (pratt.statistic, v) == (45.5, 45.5)
    assert pratt.p_value == pytest.approx(float(p), rel=1e-12)
    assert wil.exact and pratt.exact and (wil.n, wil.n_zero) == (9, 1) == (pratt.n, pratt.n_zero)
    assert wil.method == (
        "Wilcoxon signed rank exact test, exact conditional distribution given the tied ranks, "
        "zero differences dropped"
    )
    assert pratt.method.endswith("zero differences ranked then dropped (Pratt)")


@pytest.mark.parametrize("seed", range(8))
def test_exact_methods_against_enumeration(seed: int) -> None:
    rng = np.random.default_rng(500 + seed)
    n = int(rng.integers(6, 13))
    d = [float(v) for v in np.round(rng.normal(0.3, 1.2, n) * 2) / 2]  # halves: ties, zeros
    for method, pratt in (("exact", False), ("exact_pratt", True)):
        r = wilcoxon_signed_rank(d, method=method)
        if r.n == 0:
            continue
        v, p = _enumerated_p(d, pratt=pratt)
        assert r.statistic == float(v)
        assert r.p_value == pytest.approx(float(p), rel=1e-12)


def test_exact_methods_without_ties_or_zeros_are_r_exact() -> None:
    # Untied, zero-free data: both exact methods give R's exact test and interval; and the
    # exact distribution for any n (R with exact = TRUE), here n = 60.
    d = [a - b for a, b in zip(HW_X, HW_Y, strict=True)]
    r = wilcoxon_signed_rank(d)
    for method in ("exact", "exact_pratt"):
        e = wilcoxon_signed_rank(d, method=method)
        assert e == r
    big = [0.5 * k * (-1) ** (k // 3) for k in range(1, 61)]
    assert wilcoxon_signed_rank(big, method="exact") == wilcoxon_signed_rank(big, exact=True)


def test_signed_rank_distribution_by_enumeration() -> None:
    # Ranks 1..5: R's dsignrank; mid-ranks 1.5, 1.5, 3: the 8 sign assignments by hand.
    values, probs = signed_rank_distribution([1, 2, 3, 4, 5])
    counts = _brute_force_v_counts(5)
    assert values.tolist() == [k / 2 for k in range(31)]
    assert probs[::2].tolist() == [c / 32 for c in counts]
    assert not probs[1::2].any()
    values, probs = signed_rank_distribution([1.5, 1.5, 3])
    nonzero = {float(v): float(p) for v, p in zip(values, probs, strict=True) if p}
    assert nonzero == {0.0: 1 / 8, 1.5: 2 / 8, 3.0: 2 / 8, 4.5: 2 / 8, 6.0: 1 / 8}
    with pytest.raises(ValueError, match="multiples of 1/2"):
        signed_rank_distribution([1.25, 2])


def test_exact_pratt_cross_check_with_scipy_permutation_test() -> None:
    # Cross-check, not the source: scipy's exact sign-flip permutation test of the same
    # statistic (ranks of |d| with zeros included, so flipping a zero changes nothing).
    d = np.array([0.0, 0.5, 0.5, -1.0, 1.5, 1.5, 1.5, -0.5, 2.0, 0.0, 2.5])
    ranks = sps.rankdata(np.abs(d))

    def v(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(np.where(x > 0, ranks, 0.0), axis=axis)

    res = sps.permutation_test((d,), v, permutation_type="samples", n_resamples=np.inf,
                               alternative="two-sided", vectorized=True)
    assert wilcoxon_signed_rank(d, method="exact_pratt").p_value == pytest.approx(
        res.pvalue, rel=1e-9)


def _enumerated_interval(d: list[float], conf_level: float) -> tuple[float, float]:
    """Exact interval by inversion, written out: for one shift inside each gap between
    consecutive distinct Walsh averages, rank |d - shift| by hand, enumerate the sign
    assignments and keep the shift when both tails are at least alpha/2; the limits are the
    Walsh averages bounding the outermost kept gaps."""
    exact = [Fraction(v).limit_denominator(10**6) for v in d]
    walsh = sorted({(a + b) / 2 for a, b in itertools.combinations_with_replacement(exact, 2)})
    half_alpha = (1 - Fraction(conf_level).limit_denominator(10**6)) / 2
    shifts = [walsh[0] - 1, *((a + b) / 2 for a, b in itertools.pairwise(walsh)), walsh[-1] + 1]
    kept = []
    for g, shift in enumerate(shifts):
        xd = [v - shift for v in exact]
        ranks = _midranks([abs(v) for v in xd])
        v_obs = sum(r for r, v in zip(ranks, xd, strict=True) if v > 0)
        sums = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in
                itertools.product((False, True), repeat=len(ranks))]
        lower = Fraction(sum(s <= v_obs for s in sums), len(sums))
        upper = Fraction(sum(s >= v_obs for s in sums), len(sums))
        if min(lower, upper) >= half_alpha:
            kept.append(g)
    lo, hi = kept[0], kept[-1]
    return float(walsh[max(lo, 1) - 1]), float(walsh[min(hi, len(walsh) - 1)])


def test_enumerated_interval_reproduces_r_exact_intervals() -> None:
    # The inversion written out above gives R's exact intervals on untied data (the
    # published values quoted in test_exact_branch_published_r_values).
    z = [v - 3 for v in [1.2, 2.3, 3.1, 4.4, 2.8, 3.9, 5.1, 2.2, 3.3, 4.0]]
    assert _enumerated_interval(z, 0.95) == (pytest.approx(-0.7), pytest.approx(1.1))
    d = [a - b for a, b in zip(HW_X, HW_Y, strict=True)]
    r = wilcoxon_signed_rank(d)
    assert _enumerated_interval(d, 0.95) == (pytest.approx(r.conf_low), pytest.approx(r.conf_high))


@pytest.mark.parametrize(
    ("data", "level"),
    [
        (D10, 0.95),
        (D10, 0.80),
        ([1.0, 1.0, 2.5, -0.5, 3.0, 3.0, 4.0, -1.5, 2.0], 0.95),
        ([0.5, 0.5, 0.5, 1.0, -1.0, 2.0, 2.0, 0.0, 1.5, 3.0, -0.5], 0.90),
    ],
)
def test_exact_interval_with_ties_by_enumeration(data: list[float], level: float) -> None:
    low, high = _enumerated_interval(data, level)
    walsh = sorted((a + b) / 2 for a, b in itertools.combinations_with_replacement(data, 2))
    for method in ("exact", "exact_pratt"):
        r = wilcoxon_signed_rank(data, method=method, conf_level=level)
        assert (r.conf_low, r.conf_high) == (pytest.approx(low), pytest.approx(high))
        assert r.estimate == statistics.median(walsh)
        assert r.r_conf_level == level


def test_exact_interval_over_the_whole_range_reports_its_level() -> None:
    # n = 4 with a tie: no shift is rejected at 95% (the smallest tail is 1/16 > 0.025), so
    # the interval is (min, max) with coverage 1 - 2/2^4 = 0.875, reported as 0.88 (R's rule).
    r = wilcoxon_signed_rank([1.0, 1.0, -0.5, 3.0], method="exact")
    assert (r.conf_low, r.conf_high) == (-0.5, 3.0)
    assert r.achieved_conf_level == 0.875 and r.r_conf_level == pytest.approx(0.88)


def test_exact_methods_with_ties_state_their_size_limits() -> None:
    from trialflow.analysis import stats

    # 201 differences with one tie: the p-value is exact, the interval is not computed
    # and the method says so; without ties there is no limit (R's exact branch).
    d = [0.01 * k * (-1) ** (k % 3) for k in range(1, 201)]
    d.append(d[0])  # one value twice
    r = wilcoxon_signed_rank(d, method="exact")
    assert stats.EXACT_TIED_INTERVAL_MAX_N == 200 and len(d) == 201
    assert r.ties and 0 <= r.p_value <= 1
    assert math.isnan(r.conf_low) and math.isnan(r.conf_high) and r.achieved_conf_level == 0.0
    assert r.method.endswith("; interval not computed (more than 200 differences with ties)")
    walsh = sorted((a + b) / 2 for a, b in itertools.combinations_with_replacement(d, 2))
    assert r.estimate == pytest.approx(statistics.median(walsh), abs=1e-15)
    assert not math.isnan(wilcoxon_signed_rank(d[:-1], method="exact").conf_low)
