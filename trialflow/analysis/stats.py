"""Descriptive statistics and the paired Wilcoxon signed-rank test, matching SAS, SPSS and R.

Quantiles (Hyndman & Fan 1996, "Sample quantiles in statistical packages"; ``x_1 <= ... <= x_n``
are the sorted non-missing values, ``p`` the probability):

* ``"sas5"``: SAS default, PCTLDEF=/QNTLDEF=5, the empirical distribution function with
  averaging (R type 2). ``np = j + g``; ``(x_j + x_{j+1}) / 2`` when ``g == 0``, else
  ``x_{j+1}``; ``p = 0`` gives ``x_1`` and ``p = 1`` gives ``x_n``.
* ``"spss"``: SPSS default (HAVERAGE), SAS QNTLDEF=4, R type 6. ``(n + 1)p = j + g``;
  ``(1 - g) x_j + g x_{j+1}``; ``x_1`` when ``(n + 1)p < 1`` and ``x_n`` when ``(n + 1)p > n``.
* ``"r7"``: R default, type 7 (also Excel PERCENTILE.INC). ``h = 1 + (n - 1)p``;
  ``x_floor(h) + (h - floor(h)) (x_floor(h)+1 - x_floor(h))``.

:func:`wilcoxon_signed_rank` is the two-sided paired Wilcoxon signed-rank test with the
Hodges-Lehmann estimate and its confidence interval, by one of :data:`TEST_METHODS`:

* ``"r"``: R's ``wilcox.test(x, y, paired = TRUE, conf.int = TRUE)`` as implemented in R 4.0.0
  to 4.5.x: zero differences are dropped, the exact null distribution is used when ``n < 50``
  and there are neither ties nor zeros, the normal approximation (tie-corrected variance,
  continuity correction) otherwise. The exact branch reports the Hodges-Lehmann estimate and
  the exact Walsh-average interval; the normal branch reports R's root-finding estimate and
  interval (:func:`_r_uniroot` is a port of R's ``zeroin.c``, so the iteration stops where R's
  does, not merely within R's tolerance of the root; only last-bit differences between scipy's
  and R's normal quantile could move it).
* ``"spss"``: SPSS's NPAR TESTS /WILCOXON (the asymptotic significance SPSS reports by
  default): zero differences dropped, ``z = (V - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24 -
  sum(t^3 - t)/48)`` with no continuity correction, ``p = 2(1 - Phi(|z|))``. This is R's
  ``wilcox.test(exact = FALSE, correct = FALSE)``, whose estimate and interval are reported.
* ``"asymptotic"``: the same normal approximation with the continuity correction for every n
  (R's ``wilcox.test(exact = FALSE)``).
* ``"exact"``: the exact null distribution for every n. Zero differences are dropped before
  ranking (Wilcoxon); with tied absolute differences the p-value comes from the exact
  conditional distribution of V given the mid-ranks (every sign assignment of the observed
  mid-ranks equally likely), as SAS PROC UNIVARIATE computes its exact signed-rank test.
* ``"exact_pratt"``: the exact conditional distribution as R 4.6.0 introduced it for its
  exact branch: zero differences are ranked with the others (Pratt 1959) and then carry no
  sign, ties get mid-ranks, and the p-value comes from the distribution of V over the sign
  assignments of the non-zero differences' mid-ranks.

For both exact methods the estimate is the median of the Walsh averages of all differences
(zeros included) and the interval inverts the method's exact test: it spans the shifts ``d``
whose test of ``x - d`` is not rejected at ``1 - conf_level``. Without tied differences this
is R's exact interval to the last bit; with ties it is the exact conditional interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.stats import norm, rankdata

__all__ = [
    "QUANTILE_METHODS",
    "TEST_METHODS",
    "SignedRankResult",
    "describe",
    "psignrank",
    "qsignrank",
    "quantile",
    "signed_rank_distribution",
    "wilcoxon_signed_rank",
]

QUANTILE_METHODS: dict[str, str] = {
    "sas5": "SAS default (QNTLDEF=5): empirical distribution with averaging (R type 2)",
    "spss": "SPSS default (weighted average at (n+1)p) = SAS QNTLDEF=4 = R type 6",
    "r7": "R default (type 7): linear interpolation at 1+(n-1)p = Excel PERCENTILE.INC",
}

TEST_METHODS: dict[str, str] = {
    "r": (
        "R 4.0-4.5 wilcox.test(paired = TRUE) defaults: exact distribution when n < 50 without "
        "ties or zero differences, otherwise the normal approximation with tie and continuity "
        "corrections; zero differences dropped"
    ),
    "spss": (
        "SPSS (NPAR TESTS /WILCOXON, asymptotic significance): normal approximation with the "
        "tie correction and no continuity correction; zero differences dropped "
        "(= R wilcox.test(exact = FALSE, correct = FALSE))"
    ),
    "asymptotic": (
        "normal approximation with the tie and continuity corrections for every n; zero "
        "differences dropped (= R wilcox.test(exact = FALSE))"
    ),
    "exact": (
        "exact distribution for every n; zero differences dropped before ranking; with tied "
        "differences the exact conditional distribution given their mid-ranks"
    ),
    "exact_pratt": (
        "exact conditional distribution given the mid-ranks, zero differences ranked with the "
        "others and then given no sign (Pratt), as R >= 4.6.0 wilcox.test introduced it"
    ),
}
"""The signed-rank test methods ``analysis.test`` may name, with what each computes."""

EXACT_TIED_P_MAX_N = 1000
"""Largest number of signed, tied differences whose exact conditional p-value is computed."""

EXACT_TIED_INTERVAL_MAX_N = 200
"""Largest number of differences with tied values whose exact interval is computed (seconds
at 200; it grows as n^3 per distinct tie pattern). Above it the interval is not computed."""

_EPS = float(np.finfo(np.float64).eps)
# R's quantile() treats an index within 4 machine epsilons of an integer as that integer.
_FUZZ = 4 * _EPS
_M_LN2 = 0.693147180559945309417232121458  # M_LN2 of R's nmath (== math.log(2))
_DBL_MAX = float(np.finfo(np.float64).max)


# ---------------------------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------------------------


def _as_float_array(values: Any) -> np.ndarray:
    """A flat float64 array of ``values`` (lists, numpy arrays, pandas objects with NA)."""
    if hasattr(values, "to_numpy"):
        arr = values.to_numpy(dtype="float64", na_value=np.nan)
    else:
        arr = np.asarray(values, dtype="float64")
    return np.ravel(arr)


def _non_missing(values: Any) -> np.ndarray:
    arr = _as_float_array(values)
    return arr[~np.isnan(arr)]


# ---------------------------------------------------------------------------------------------
# Quantiles and descriptive statistics
# ---------------------------------------------------------------------------------------------
#
# numpy.quantile has these three definitions ("averaged_inverted_cdf", "weibull", "linear") and
# agrees with them at every edge (p = 0 and 1, n = 1 and 2, the clamping of the (n+1)p rule).
# The arithmetic is nevertheless written out here, for two reasons checked in the tests:
#  * numpy interpolates as a + g(b - a) (switching to b - (1 - g)(b - a) for g >= 0.5), R's
#    quantile() and the SAS/SPSS formulas as (1 - g)a + g b. The two differ in the last bit for
#    about one interpolated value in seven (0.75 * 10.1 + 0.25 * 10.4 is 10.174999999999999,
#    numpy gives 10.175), which decides how such a value rounds at two decimals. Written as R
#    writes it, "r7" and "spss" are R's type 7 and type 6 to the last bit.
#  * numpy decides "g == 0" of the SAS definition on the rounded product n*p: 100 * 0.07 is
#    7.000000000000001 in floating point, so numpy gives x_8 for the 7th percentile of 100
#    values instead of (x_7 + x_8)/2. Here n*p within a few machine epsilons of an integer
#    counts as that integer, as the definition means.


def _check_prob(prob: float) -> float:
    p = float(prob)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"prob must be between 0 and 1, got {prob!r}")
    return p


def _check_method(method: str) -> None:
    if method not in QUANTILE_METHODS:
        allowed = ", ".join(repr(m) for m in QUANTILE_METHODS)
        raise ValueError(f"unknown quantile method {method!r}; allowed: {allowed}")


def _quantiles_sorted(x: np.ndarray, probs: np.ndarray, method: str) -> np.ndarray:
    """Quantiles of the sorted, non-empty array ``x`` at ``probs`` (vectorised over probs)."""
    n = x.size
    if method == "sas5":
        np_ = n * probs
        j = np.floor(np_)
        near = np.rint(np_)
        exact = np.abs(np_ - near) <= _FUZZ * np.maximum(np_, 1.0)
        j = np.where(exact, near, j).astype(np.int64)
        lo = x[np.clip(j - 1, 0, n - 1)]  # x_j (x_0 taken as x_1)
        hi = x[np.clip(j, 0, n - 1)]  # x_{j+1} (x_{n+1} taken as x_n)
        out = np.where(exact, 0.5 * lo + 0.5 * hi, hi)
        # p = 0 gives x_1 through the clipping; p = 1 gives (x_n + x_n)/2 = x_n.
        return out
    if method == "spss":
        # R type 6, written as R's quantile.default computes it (same fuzz on the index).
        nppm = probs * (n + 1)
        j = np.floor(nppm + _FUZZ)
        h = nppm - j
        h = np.where(np.abs(h) < _FUZZ, 0.0, h)
        j = j.astype(np.int64)
        lo = x[np.clip(j - 1, 0, n - 1)]  # x_j; j = 0 -> x_1 (SPSS: minimum below 1/(n+1))
        hi = x[np.clip(j, 0, n - 1)]  # x_{j+1}; j >= n -> x_n (maximum above n/(n+1))
        return np.where((h == 0.0) | (lo == hi), lo, (1.0 - h) * lo + h * hi)
    # r7: R's type 7 formula, index = 1 + (n - 1) p.
    index = 1.0 + (n - 1) * probs
    lo_i = np.floor(index)
    h = index - lo_i
    lo_i = lo_i.astype(np.int64)
    lo = x[lo_i - 1]
    hi = x[np.minimum(lo_i, n - 1)]
    return np.where((h > 0.0) & (lo != hi), (1.0 - h) * lo + h * hi, lo)


def quantile(values: Any, prob: float, method: str) -> float:
    """The ``prob`` quantile of ``values`` by one of :data:`QUANTILE_METHODS`.

    NaN (and pandas NA) values are ignored; no values give NaN.

    Example:
        >>> quantile([2, 4, 1, 3], 0.25, "sas5")  # SAS PCTL(25, 2, 4, 1, 3)
        1.5
        >>> quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.25, "spss")
        2.75
        >>> quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.25, "r7")
        3.25
    """
    _check_method(method)
    p = _check_prob(prob)
    x = np.sort(_non_missing(values))
    if x.size == 0:
        return math.nan
    return float(_quantiles_sorted(x, np.array([p]), method)[0])


def describe(values: Any, method: str) -> dict[str, float]:
    """N, MEAN, SD, MEDIAN, Q1, Q3, MIN and MAX of the non-missing ``values``.

    ``SD`` uses the n - 1 denominator (NaN when N < 2); MEDIAN, Q1 and Q3 are the 0.5, 0.25 and
    0.75 quantiles by ``method`` (the three methods agree on the median). ``N`` is an int;
    with no values every other entry is NaN.

    Example:
        >>> d = describe([2, 4, 4, 5, 7, 9, 10, 12], "r7")
        >>> d["N"], d["MEAN"], d["MEDIAN"], d["Q1"], d["Q3"]
        (8, 6.625, 6.0, 4.0, 9.25)
    """
    _check_method(method)
    x = np.sort(_non_missing(values))
    n = int(x.size)
    if n == 0:
        nan = math.nan
        return {"N": 0, "MEAN": nan, "SD": nan, "MEDIAN": nan, "Q1": nan, "Q3": nan,
                "MIN": nan, "MAX": nan}
    mean = x.sum() / n
    if np.isfinite(mean):
        mean += (x - mean).sum() / n  # second pass, as R's mean() does
    sd = float(np.sqrt(np.sum((x - mean) ** 2) / (n - 1))) if n > 1 else math.nan
    q1, med, q3 = _quantiles_sorted(x, np.array([0.25, 0.5, 0.75]), method)
    return {
        "N": n,
        "MEAN": float(mean),
        "SD": sd,
        "MEDIAN": float(med),
        "Q1": float(q1),
        "Q3": float(q3),
        "MIN": float(x[0]),
        "MAX": float(x[-1]),
    }


# ---------------------------------------------------------------------------------------------
# Exact distribution of the signed-rank statistic (R's nmath/signrank.c)
# ---------------------------------------------------------------------------------------------
#
# scipy has this distribution only inside scipy.stats.wilcoxon, with no public cdf/quantile, and
# R's qsignrank has its own tie-breaking fuzz. The functions below follow signrank.c step by
# step (including R's factor exp(-n log 2), which is not exactly 2^-n for most n, and its
# summation order), so p-values and interval indices are R's to the last bit.


@lru_cache(maxsize=64)
def _signrank_density_counts(n: int) -> np.ndarray:
    """Number of sign assignments giving V = k, for k = 0 .. n(n+1)/2 (read-only)."""
    u = n * (n + 1) // 2
    c = u // 2
    w = np.zeros(c + 1)
    w[0] = 1.0
    for j in range(1, n + 1):
        end = min(j * (j + 1) // 2, c)
        if end >= j:
            # numpy buffers the overlapping operands, so this uses the old values as R's
            # downward loop does.
            w[j : end + 1] += w[0 : end + 1 - j]
    k = np.arange(u + 1)
    full = w[np.minimum(k, u - k)]  # R stores half the table and uses the symmetry
    full.flags.writeable = False
    return full


def _r_forceint(x: float) -> float:
    return float(np.rint(x))


def psignrank(q: float, n: int, lower_tail: bool = True) -> float:
    """R's ``psignrank(q, n, lower.tail)``: P(V <= q) (or P(V > q)) for n untied ranks.

    Example:
        >>> psignrank(39, 9, lower_tail=False)  # P(V >= 40) = 10/512
        0.01953125
    """
    if math.isnan(q) or math.isnan(n) or not math.isfinite(n):
        return math.nan
    nn = _r_forceint(n)
    if nn <= 0:
        return math.nan
    x = _r_forceint(q + 1e-7)
    u = nn * (nn + 1) / 2
    if x < 0.0:
        return 0.0 if lower_tail else 1.0
    if x >= u:
        return 1.0 if lower_tail else 0.0
    ni = int(nn)
    dens = _signrank_density_counts(ni)
    f = math.exp(-nn * _M_LN2)
    if x <= nn * (nn + 1) / 4:
        p = float(np.add.accumulate(dens[: int(x) + 1] * f)[-1])
    else:
        x = u - x
        p = float(np.add.accumulate(dens[: int(x)] * f)[-1])
        lower_tail = not lower_tail
    return p if lower_tail else (0.5 - p + 0.5)


def qsignrank(p: float, n: int) -> float:
    """R's ``qsignrank(p, n)``: the smallest q with P(V <= q) >= p (R's fuzz 10 * DBL_EPSILON).

    Example:
        >>> qsignrank(0.025, 9)
        6.0
    """
    if math.isnan(p) or math.isnan(n) or not math.isfinite(p) or not math.isfinite(n):
        return math.nan
    if p < 0.0 or p > 1.0:
        return math.nan
    nn = _r_forceint(n)
    if nn <= 0:
        return math.nan
    u = nn * (nn + 1) / 2
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return u
    dens = _signrank_density_counts(int(nn))
    f = math.exp(-nn * _M_LN2)
    cum = np.add.accumulate(dens * f)
    if p <= 0.5:
        x = p - 10 * _EPS
        return float(np.argmax(cum >= x))
    x = 1 - p + 10 * _EPS
    return float(u - np.argmax(cum > x))


# ---------------------------------------------------------------------------------------------
# Exact conditional distribution of the signed-rank statistic given the (mid-)ranks
# ---------------------------------------------------------------------------------------------
#
# Under the null hypothesis every sign assignment of the observed ranks is equally likely, so
# V = sum of the ranks given a + sign is a sum of independent terms 0 or r_i, each with
# probability 1/2 (the "convolution of scaled binomials" of SAS's documentation; Streitberg &
# Roehmel's shift algorithm). Mid-ranks are multiples of 1/2, so the distribution is held on
# 2V, an integer, and built by adding one rank at a time. Every probability is a dyadic
# rational, exact in floating point up to 2^-1074.


def _null_distribution(doubled_ranks: np.ndarray) -> np.ndarray:
    """P(2V = k), k = 0 .. sum(doubled_ranks), for independent signs of the given ranks."""
    total = int(doubled_ranks.sum())
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    top = 0
    for r in np.sort(doubled_ranks):
        r = int(r)
        shifted = dist[: top + 1] * 0.5
        dist[: top + 1] *= 0.5
        dist[r : r + top + 1] += shifted
        top += r
    return dist


def _doubled(ranks: np.ndarray) -> np.ndarray:
    """2 x ranks as integers (mid-ranks are multiples of 1/2)."""
    return np.rint(2 * np.asarray(ranks, dtype=float)).astype(np.int64)


def signed_rank_distribution(ranks: Any) -> tuple[np.ndarray, np.ndarray]:
    """The exact null distribution of V = sum of the ranks with a positive sign.

    ``ranks`` are the (mid-)ranks that carry a sign; every one of the ``2^n`` sign
    assignments is equally likely. Returns the support (multiples of 1/2) and the
    probabilities. With ranks 1..n this is R's ``dsignrank``; with tied mid-ranks it is the
    exact conditional distribution given the ties.

    Example:
        >>> v, p = signed_rank_distribution([1.5, 1.5, 3])
        >>> [(float(a), float(b)) for a, b in zip(v, p) if b > 0]
        [(0.0, 0.125), (1.5, 0.25), (3.0, 0.25), (4.5, 0.25), (6.0, 0.125)]
    """
    doubled = _doubled(np.ravel(np.asarray(ranks, dtype=float)))
    if (doubled < 1).any() or not np.allclose(doubled, 2 * np.asarray(ranks, dtype=float)):
        raise ValueError("ranks must be positive multiples of 1/2")
    dist = _null_distribution(doubled)
    return np.arange(dist.size) / 2, dist


def _two_sided_p(v2: int, dist: np.ndarray) -> float:
    """2 min(P(V <= v), P(V >= v)), at most 1, for 2V = v2 under ``dist`` (symmetric)."""
    lower = float(dist[: v2 + 1].sum())
    upper = float(dist[v2:].sum())
    return min(1.0, 2 * min(lower, upper))


# ---------------------------------------------------------------------------------------------
# R's uniroot (src/library/stats/src/zeroin.c, R_zeroin2)
# ---------------------------------------------------------------------------------------------
#
# scipy.optimize.brentq is a different variant of Brent's method and stops at a different
# point inside the tolerance; R's confidence limits and estimate in the normal branch are the
# points where this exact iteration stops, so the iteration is ported line by line.


def _r_fcn(f: Callable[[float], float], x: float) -> float:
    """R's fcn2 wrapper: non-finite function values become +-DBL_MAX."""
    v = f(x)
    if math.isfinite(v):
        return v
    return -_DBL_MAX if v == -math.inf else _DBL_MAX


def _r_uniroot(
    f: Callable[[float], float],
    lower: float,
    upper: float,
    f_lower: float,
    f_upper: float,
    tol: float,
    maxiter: int = 1000,
) -> float:
    """``uniroot(f, lower = lower, upper = upper, f.lower, f.upper, tol = tol)$root``."""
    if not lower < upper:
        raise ValueError("lower < upper is not fulfilled")
    if math.isnan(f_lower) or math.isnan(f_upper):
        raise ValueError("f() is NA at an end point")
    if np.sign(f_lower) * np.sign(f_upper) > 0:
        raise ValueError("f() values at end points not of opposite sign")
    a, b = lower, upper
    fa, fb = f_lower, f_upper
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    maxit = maxiter + 1
    while maxit:
        maxit -= 1
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0.0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = _r_fcn(f, b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b  # not converged; R warns and returns the last iterate too


# ---------------------------------------------------------------------------------------------
# Wilcoxon signed-rank test
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedRankResult:
    """Result of :func:`wilcoxon_signed_rank`, named after R's ``htest`` components.

    ``statistic`` is R's V (sum of the ranks of the positive differences); ``estimate`` is R's
    "(pseudo)median"; ``conf_low``/``conf_high`` its confidence interval at ``conf_level``
    requested. ``achieved_conf_level`` is the coverage the interval really has: in the exact
    branch ``1 - 2 * psignrank(qu - 1, n)`` (the interval is discrete, 0.961 rather than 0.95
    for n = 9); in the normal branch the level R reports (``conf_level``, lower when R had to
    widen alpha, 0 when no interval exists). :attr:`r_conf_level` is the value R stores in
    ``attr(conf.int, "conf.level")`` and prints.

    Example:
        >>> r = wilcoxon_signed_rank([1.5, -0.5, 2.0, 3.0, 2.5])
        >>> r.statistic, r.p_value, r.method
        (14.0, 0.125, 'Wilcoxon signed rank exact test')
    """

    statistic: float
    p_value: float
    method: str
    n: int
    n_zero: int
    ties: bool
    exact: bool
    estimate: float
    conf_low: float
    conf_high: float
    conf_level: float
    achieved_conf_level: float

    @property
    def r_conf_level(self) -> float:
        """R's ``attr(conf.int, "conf.level")``.

        In the exact branch R keeps the requested level unless the achieved alpha exceeds
        1.5 times the requested one, and then reports ``1 - signif(achieved alpha, 2)``.

        Example:
            >>> r = wilcoxon_signed_rank([1.5, -0.5, 2.0, 3.0])  # n = 4: at best 1 - 2/16
            >>> r.achieved_conf_level, r.r_conf_level
            (0.875, 0.88)
        """
        if not self.exact:
            return self.achieved_conf_level
        alpha = 1 - self.conf_level
        achieved_alpha = 1 - self.achieved_conf_level
        if achieved_alpha - alpha > alpha / 2:
            return 1 - _r_signif(achieved_alpha, 2)
        return self.conf_level


def _r_signif(x: float, digits: int) -> float:
    """R's signif() (nmath/fprec.c) for finite positive x and small ``digits``."""
    if x == 0.0 or not math.isfinite(x):
        return x
    sgn = -1.0 if x < 0 else 1.0
    x = abs(x)
    e10 = int(digits - 1 - math.floor(math.log10(x)))
    if e10 > 0:
        pow10 = 10.0**e10
        return sgn * (float(np.rint(x * pow10)) / pow10)
    pow10 = 10.0 ** (-e10)
    return sgn * (float(np.rint(x / pow10)) * pow10)


def _exact_qu(n: int, alpha: float) -> float:
    qu = qsignrank(alpha / 2, n)
    return 1.0 if qu == 0 else qu


def _walsh_averages(x: np.ndarray) -> np.ndarray:
    """Sorted (x_i + x_j)/2 for i <= j, as R builds them (sum, sort, halve)."""
    i, j = np.triu_indices(x.size)
    return np.sort(x[i] + x[j]) / 2


def _r_median(sorted_x: np.ndarray) -> float:
    m = sorted_x.size
    half = (m + 1) // 2
    if m % 2 == 1:
        return float(sorted_x[half - 1])
    return float((sorted_x[half - 1] + sorted_x[half]) / 2)


def _tie_sum(abs_values: np.ndarray) -> float:
    """sum(t^3 - t) over the groups of equal values (R: sum(NTIES^3 - NTIES))."""
    counts = np.unique(abs_values, return_counts=True)[1].astype(np.float64)
    return float(np.sum(counts**3 - counts))


def _ranks_and_ties(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Average ranks of ``values`` (R's rank, ties.method = "average") and sum(t^3 - t) over
    the groups of equal values, from one sort.

    The normal-approximation interval evaluates the statistic a few thousand times per visit
    (R's uniroot), each on all the differences; scipy's rankdata plus a separate np.unique
    sorted twice and carried array-API overhead on every call. The ranks are the same
    half-integers, so the sums built from them are bit for bit those of rankdata.
    """
    n = values.size
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, n))
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    ties = counts.astype(np.float64)
    return ranks, float(np.sum(ties**3 - ties))


def _asymptotic_w(x: np.ndarray, d: float, correct: bool) -> float:
    """R's W(d): the standardised signed-rank statistic of x - d (zeros of x - d dropped)."""
    xd = x - d
    xd = xd[xd != 0]
    nx = xd.size
    dr, tie_sum = _ranks_and_ties(np.abs(xd))
    zd = float(dr[xd > 0].sum()) - nx * (nx + 1) / 4
    sigma = math.sqrt(nx * (nx + 1) * (2 * nx + 1) / 24 - tie_sum / 48)
    if sigma == 0.0:
        return math.nan  # R: 0/0, "cannot compute confidence interval when all ... tied"
    correction = float(np.sign(zd)) * 0.5 if correct else 0.0
    return (zd - correction) / sigma


def _asymptotic_ci(
    x: np.ndarray, conf_level: float, correct: bool, tol_root: float = 1e-4
) -> tuple[float, float, float, float]:
    """R's two-sided normal-approximation interval and estimate: (low, high, est, level)."""
    alpha = 1 - conf_level
    mumin = float(np.min(x))
    mumax = float(np.max(x))
    wmumin = _asymptotic_w(x, mumin, correct)
    wmumax = _asymptotic_w(x, mumax, correct) if math.isfinite(wmumin) else math.nan
    if not math.isfinite(wmumax):
        return math.nan, math.nan, (mumin + mumax) / 2, 0.0

    def root(zq: float) -> float:
        return _r_uniroot(
            lambda d: _asymptotic_w(x, d, correct) - zq,
            mumin,
            mumax,
            wmumin - zq,
            wmumax - zq,
            tol_root,
        )

    while True:
        mindiff = wmumin - float(norm.isf(alpha / 2))
        maxdiff = wmumax - float(norm.ppf(alpha / 2))
        if mindiff < 0 or maxdiff > 0:
            alpha = alpha * 2
        else:
            break
    level = conf_level
    if alpha >= 1 or 1 - conf_level < alpha * 0.75:
        level = 1 - min(1.0, alpha)
    if alpha < 1:
        low = root(float(norm.isf(alpha / 2)))
        high = root(float(norm.ppf(alpha / 2)))
    else:
        low = high = _r_median(np.sort(x))

    # The estimate has no continuity correction.
    f_est = lambda d: _asymptotic_w(x, d, False)  # noqa: E731
    estimate = _r_uniroot(f_est, mumin, mumax, f_est(mumin), f_est(mumax), tol_root)
    return low, high, estimate, level


def _check_test_method(method: str) -> None:
    if method not in TEST_METHODS:
        allowed = ", ".join(repr(m) for m in TEST_METHODS)
        raise ValueError(f"unknown signed-rank test method {method!r}; allowed: {allowed}")


def _r_exact_interval(x: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """R's exact branch for untied x: (low, high, Hodges-Lehmann estimate, achieved level)."""
    n = int(x.size)
    nf = float(n)
    alpha = 1 - level
    walsh = _walsh_averages(x)
    qu = _exact_qu(n, alpha)
    ql = nf * (nf + 1) / 2 - qu
    achieved_alpha = 2 * psignrank(math.trunc(qu) - 1, n)
    # R: c(diffs[qu], diffs[ql + 1]) with 1-based indices.
    return float(walsh[int(qu) - 1]), float(walsh[int(ql)]), _r_median(walsh), 1 - achieved_alpha


def _group_midranks(abs_shifted: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mid-ranks of ``abs_shifted`` with ties exactly among the equal values of ``x``.

    Between two consecutive Walsh averages of x, |x_i - d| = |x_j - d| only when x_i = x_j;
    ranking by order and averaging within equal x keeps floating-point noise of x - d from
    making or breaking ties.
    """
    order = np.argsort(abs_shifted, kind="stable")
    ordinal = np.empty(x.size)
    ordinal[order] = np.arange(1, x.size + 1, dtype=float)
    _, group = np.unique(x, return_inverse=True)
    sums = np.bincount(group, weights=ordinal)
    counts = np.bincount(group)
    return (sums / counts)[group]


def _exact_interval(x: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """Estimate and interval of the exact methods on all differences ``x`` (zeros included).

    The estimate is the median of the Walsh averages. The interval holds the shifts d whose
    exact two-sided test of x - d is not rejected at alpha = 1 - level (both tails at least
    alpha/2, R's fuzz 10 eps); its limits are the Walsh averages bounding the outermost
    accepted gaps between consecutive distinct Walsh averages. Without tied values of x this
    is R's exact interval (returned from R's own indices). Returns (low, high, estimate,
    level achieved; 1 - 2^(1-n) when the interval is the whole range of x).

    Inside a gap V(x - d) is the number of Walsh averages above d (Tukey; tied values of x
    have the same sign, so their mid-ranks add up as untied ranks would), and the null
    distribution is that of the gap's mid-ranks, which only changes where d crosses a Walsh
    average of a tied value. Within a stretch of gaps with one distribution the accepted V
    form one range, so each stretch needs one distribution and a search, not one per gap.
    """
    if np.unique(x).size == x.size:
        return _r_exact_interval(x, level)
    alpha = 1 - level
    n = x.size
    i, j = np.triu_indices(n)
    sums = x[i] + x[j]
    order = np.argsort(sums, kind="stable")
    walsh = sums[order] / 2
    estimate = _r_median(walsh)
    # Distinct Walsh averages u; values equal up to floating-point noise count as one.
    scale = np.maximum(np.maximum(np.abs(walsh[1:]), np.abs(walsh[:-1])), 1e-300)
    new = np.concatenate([[True], np.diff(walsh) > 64 * _EPS * scale])
    u = walsh[new]
    m = u.size
    which = np.cumsum(new) - 1  # distinct index of each Walsh average
    # 2V in gap g (between u[g-1] and u[g]): twice the Walsh averages at or above u[g].
    below = np.concatenate([[0], np.cumsum(np.bincount(which, minlength=m))])
    v2 = 2 * (walsh.size - below)  # gaps 0 .. m, non-increasing
    values, counts = np.unique(x, return_counts=True)
    tied = np.isin(x, values[counts > 1])
    breaks = np.unique(which[(tied[i] | tied[j])[order]])  # crossing u[b] changes the ranks
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [m]])
    mids = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]])
    threshold = alpha / 2 - 10 * _EPS
    cache: dict[bytes, tuple[int, int]] = {}

    def accepted_range(start: int, end: int) -> tuple[int, int] | None:
        """The accepted gaps of one stretch, first and last, or None."""
        xd = x - mids[start]
        doubled = _doubled(_group_midranks(np.abs(xd), x))
        key = np.sort(doubled).tobytes()
        if key not in cache:
            dist = _null_distribution(doubled)
            cdf = np.cumsum(dist)
            sf = np.cumsum(dist[::-1])[::-1]
            ok = np.flatnonzero((cdf >= threshold) & (sf >= threshold))
            cache[key] = (int(ok[0]), int(ok[-1])) if ok.size else (1, 0)
        lo, hi = cache[key]
        v = v2[start : end + 1]
        inside = np.flatnonzero((v >= lo) & (v <= hi))
        if not inside.size:
            return None
        return start + int(inside[0]), start + int(inside[-1])

    first = last = None
    for s, e in zip(starts, ends, strict=True):  # stretches, from the left
        found = accepted_range(int(s), int(e))
        if found is not None:
            first = found[0]
            break
    if first is None:
        return math.nan, math.nan, estimate, 0.0
    for s, e in zip(starts[::-1], ends[::-1], strict=True):  # from the right
        found = accepted_range(int(s), int(e))
        if found is not None:
            last = found[1]
            break
    assert last is not None
    low = float(u[max(first, 1) - 1])
    high = float(u[min(last, m - 1)])
    if first == 0 and last == m:
        return low, high, estimate, 1 - 2.0 ** (1 - n)
    return low, high, estimate, level


def _normal_test(
    x: np.ndarray, statistic: float, level: float, correct: bool
) -> tuple[float, float, float, float, float]:
    """R's normal branch on the non-zero differences x: (p, low, high, estimate, level)."""
    nf = float(x.size)
    z = statistic - nf * (nf + 1) / 4
    sigma = math.sqrt(nf * (nf + 1) * (2 * nf + 1) / 24 - _tie_sum(np.abs(x)) / 48)
    correction = float(np.sign(z)) * 0.5 if correct else 0.0
    z = (z - correction) / sigma
    p_value = 2 * min(float(norm.cdf(z)), float(norm.sf(z)))
    conf_low, conf_high, estimate, achieved = _asymptotic_ci(x, level, correct)
    return p_value, conf_low, conf_high, estimate, achieved


def wilcoxon_signed_rank(
    differences: Any,
    *,
    conf_level: float = 0.95,
    method: str = "r",
    correct: bool = True,
    exact: bool | None = None,
) -> SignedRankResult:
    """Two-sided paired Wilcoxon signed-rank test of the ``differences`` (post - baseline).

    ``method`` is one of :data:`TEST_METHODS` (see the module docstring). With ``"r"`` the
    result is that of R's ``wilcox.test(post, baseline, paired = TRUE, conf.int = TRUE,
    conf.level, correct, exact)`` in R 4.0.0 to 4.5.x: zero differences are dropped before
    ranking (Wilcoxon's method, ``n_zero`` counts them); ``exact=None`` means exact when fewer
    than 50 non-zero differences remain; the exact branch is only used without ties and zeros
    (R then falls back to the normal approximation, as here). ``correct`` and ``exact`` are
    R's arguments and only apply to ``"r"``. Missing differences are dropped. With no
    non-zero difference the test is not computed: p-value, estimate and interval are NaN and
    ``method`` says why. ``n`` is the number of non-zero differences, which carry a sign.

    Example:
        >>> post = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
        >>> base = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
        >>> r = wilcoxon_signed_rank([a - b for a, b in zip(post, base)])
        >>> r.statistic, round(r.p_value, 5), r.method
        (40.0, 0.03906, 'Wilcoxon signed rank exact test')
        >>> wilcoxon_signed_rank([-1, -2, -2, -4, 3], method="exact").p_value  # 14/32
        0.4375
    """
    _check_test_method(method)
    if method != "r" and (exact is not None or correct is not True):
        raise ValueError(f"correct and exact are R's arguments of method 'r', not of {method!r}")
    level = float(conf_level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"conf_level must be strictly between 0 and 1, got {conf_level!r}")
    x = _non_missing(differences)
    if np.isinf(x).any():
        raise ValueError(
            "differences contain infinite values; the signed-rank test needs finite values"
        )
    nan = math.nan
    if x.size == 0:
        return SignedRankResult(
            statistic=nan, p_value=nan,
            method="Wilcoxon signed rank test not computed: no non-missing differences",
            n=0, n_zero=0, ties=False, exact=False, estimate=nan, conf_low=nan,
            conf_high=nan, conf_level=level, achieved_conf_level=0.0,
        )
    all_x = x
    zero = x == 0
    n_zero = int(zero.sum())
    x = x[~zero]
    n = int(x.size)
    if n == 0:
        return SignedRankResult(
            statistic=0.0, p_value=nan,
            method=(
                "Wilcoxon signed rank test not computed: "
                f"all {n_zero} differences are zero"
            ),
            n=0, n_zero=n_zero, ties=False, exact=False, estimate=nan, conf_low=nan,
            conf_high=nan, conf_level=level, achieved_conf_level=0.0,
        )

    # Pratt ranks |d| of all differences, zeros included, and zeros then carry no sign;
    # Wilcoxon drops the zeros first.
    pratt = method == "exact_pratt"
    ranks = rankdata(np.abs(all_x))[~zero] if pratt else rankdata(np.abs(x))
    statistic = float(ranks[x > 0].sum())
    ties = bool(np.unique(ranks).size != n)
    nf = float(n)

    def result(p_value: float, test: str, exact_: bool, ci: tuple) -> SignedRankResult:
        low, high, estimate, achieved = ci
        return SignedRankResult(
            statistic=statistic, p_value=p_value, method=test, n=n, n_zero=n_zero, ties=ties,
            exact=exact_, estimate=estimate, conf_low=low, conf_high=high, conf_level=level,
            achieved_conf_level=achieved,
        )

    if method in ("exact", "exact_pratt"):
        regular = not ties and (n_zero == 0 or method == "exact")
        test = "Wilcoxon signed rank exact test"
        if ties:
            test += ", exact conditional distribution given the tied ranks"
        if n_zero:
            test += (
                ", zero differences ranked then dropped (Pratt)"
                if method == "exact_pratt"
                else ", zero differences dropped"
            )
        if regular:
            # Ranks 1..n: R's psignrank, to the last bit.
            if statistic > nf * (nf + 1) / 4:
                p = psignrank(statistic - 1, n, lower_tail=False)
            else:
                p = psignrank(statistic, n)
            p_value = min(2 * p, 1.0)
        elif n <= EXACT_TIED_P_MAX_N:
            doubled = _doubled(ranks)
            p_value = _two_sided_p(int(_doubled([statistic])[0]), _null_distribution(doubled))
        else:
            p_value = nan
            test += f"; p-value not computed (more than {EXACT_TIED_P_MAX_N} tied differences)"
        if np.unique(all_x).size < all_x.size and all_x.size > EXACT_TIED_INTERVAL_MAX_N:
            interval = (nan, nan, _r_median(_walsh_averages(all_x)), 0.0)
            test += (
                f"; interval not computed (more than {EXACT_TIED_INTERVAL_MAX_N} differences "
                "with ties)"
            )
        else:
            interval = _exact_interval(all_x, level)
        return result(p_value, test, True, interval)

    if method == "r":
        use_exact = (n < 50) if exact is None else bool(exact)
        if use_exact and not ties and n_zero == 0:
            if statistic > nf * (nf + 1) / 4:
                p = psignrank(statistic - 1, n, lower_tail=False)
            else:
                p = psignrank(statistic, n)
            p_value = min(2 * p, 1.0)
            return result(
                p_value, "Wilcoxon signed rank exact test", True, _r_exact_interval(x, level)
            )
        test = "Wilcoxon signed rank test"
        if correct:
            test += " with continuity correction"
    elif method == "spss":
        correct = False
        test = "Wilcoxon signed rank test, normal approximation without continuity correction"
    else:  # asymptotic
        correct = True
        test = "Wilcoxon signed rank test with continuity correction"
    p_value, low, high, estimate, achieved = _normal_test(x, statistic, level, correct)
    return result(p_value, test, False, (low, high, estimate, achieved))


# ---------------------------------------------------------------------------------------------
# Wilcoxon rank sum: the location shift and its interval, as R's wilcox.test(x, y, conf.int)
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _wilcox_counts(m: int, n: int) -> tuple[float, ...]:
    """R's ``cwilcox(k, m, n)`` for k = 0 .. m * n: the number of the C(m + n, m) rankings in
    which W (the rank sum of the m values less m(m + 1)/2) is k.

    They are the coefficients of the Gaussian binomial [m + n, m], built here with exact
    integers (one factor (1 - q^(n + i)) / (1 - q^i) at a time) and given as doubles, as R
    holds them.

    Example:
        >>> _wilcox_counts(2, 2)  # W of 2 values among 4: 0, 1, 2, 2, 3, 4 -> 1, 1, 2, 1, 1
        (1.0, 1.0, 2.0, 1.0, 1.0)
    """
    size = m * n + 1
    poly = [1] + [0] * (size - 1)
    for i in range(1, m + 1):
        step = n + i
        for k in range(size - 1, step - 1, -1):  # times (1 - q^(n + i))
            poly[k] -= poly[k - step]
        for k in range(i, size):  # divided by (1 - q^i)
            poly[k] += poly[k - i]
    return tuple(float(c) for c in poly)


def _pwilcox(q: float, m: int, n: int) -> float:
    """R's ``pwilcox(q, m, n)``: P(W <= q), summed over the shorter tail as R does.

    Example:
        >>> _pwilcox(0, 3, 3)  # 1 / C(6, 3)
        0.05
    """
    q = math.floor(q + 1e-7)
    if q < 0:
        return 0.0
    if q >= m * n:
        return 1.0
    counts = _wilcox_counts(m, n)
    c = float(math.comb(m + n, n))
    p = 0.0
    if q <= m * n / 2:
        for i in range(int(q) + 1):
            p += counts[i] / c
        return p
    for i in range(int(m * n - q)):
        p += counts[i] / c
    return 0.5 - p + 0.5


def _qwilcox(x: float, m: int, n: int) -> int:
    """R's ``qwilcox(x, m, n)``: the smallest q with P(W <= q) >= x (R's fuzz 10 * DBL_EPSILON).

    Example:
        >>> _qwilcox(0.025, 5, 6)  # the 2.5 % point of W for 5 and 6 values
        4
    """
    counts = _wilcox_counts(m, n)
    c = float(math.comb(m + n, n))
    p = 0.0
    q = 0
    if x <= 0.5:
        x = x - 10 * _EPS
        while True:
            p += counts[q] / c
            if p >= x:
                return q
            q += 1
    x = 1 - x + 10 * _EPS
    while True:
        p += counts[q] / c
        if p > x:
            return m * n - q
        q += 1


def _rank_sum_w(x: np.ndarray, y: np.ndarray, d: float, correct: bool) -> float:
    """R's W(d) of the two-sample interval: the standardised rank sum of x - d among y."""
    m, n = x.size, y.size
    ranks, tie_sum = _ranks_and_ties(np.concatenate([x - d, y]))
    dz = float(ranks[:m].sum()) - m * (m + 1) / 2 - m * n / 2
    sigma = math.sqrt((m * n / 12) * ((m + n + 1) - tie_sum / ((m + n) * (m + n - 1))))
    if sigma == 0.0:
        return math.nan  # R warns "cannot compute confidence interval when all ... tied"
    correction = float(np.sign(dz)) * 0.5 if correct else 0.0
    return (dz - correction) / sigma


def _rank_sum_shift(
    x: np.ndarray, y: np.ndarray, conf_level: float = 0.95, tol_root: float = 1e-4
) -> tuple[float, float, float, float]:
    """The location shift of x against y with its two-sided interval, as R's ``wilcox.test(x,
    y, conf.int = TRUE, conf.level)`` gives them with its other defaults (R 4.x): (estimate,
    lower, upper, the confidence level R reports).

    With fewer than 50 values in each group and no ties: the median of the m * n differences
    x_i - y_j (the Hodges-Lehmann estimate) and the exact interval between the differences at
    the ``qwilcox`` points; the level is the requested one unless the achievable one is lower
    by more than half of alpha (then 1 - the achieved alpha, as R reports it). Otherwise: the
    normal approximation, each limit the root (R's uniroot, tolerance 1e-4) of the
    standardised rank sum of x - d with the tie and continuity corrections, the estimate its
    root without the continuity correction. NaN when every value is tied.

    Example:
        >>> # R: wilcox.test(c(1.2, 3.4, 2.2, 5.1, 0.3), c(2.5, 4.1, 3.3, 6.0, 5.5, 4.4),
        >>> #                conf.int = TRUE): -2.1, (-4.3, 0.9), 0.95
        >>> got = _rank_sum_shift(np.array([1.2, 3.4, 2.2, 5.1, 0.3]),
        ...                       np.array([2.5, 4.1, 3.3, 6.0, 5.5, 4.4]))
        >>> np.allclose(got, [-2.1, -4.3, 0.9, 0.95], rtol=0, atol=1e-12)  # R's, to 1e-12
        True
    """
    m, n = x.size, y.size
    pooled = np.concatenate([x, y])
    alpha = 1 - conf_level
    if m < 50 and n < 50 and np.unique(pooled).size == pooled.size:
        diffs = np.sort(np.subtract.outer(x, y).ravel())
        qu = _qwilcox(alpha / 2, m, n) or 1
        ql = m * n - qu
        achieved = 2 * _pwilcox(qu - 1, m, n)
        level = conf_level if achieved - alpha <= alpha / 2 else 1 - achieved
        return _r_median(diffs), float(diffs[qu - 1]), float(diffs[ql]), level
    mumin = float(np.min(x) - np.max(y))
    mumax = float(np.max(x) - np.min(y))
    w_min = _rank_sum_w(x, y, mumin, True)
    w_max = _rank_sum_w(x, y, mumax, True)
    if not (math.isfinite(w_min) and math.isfinite(w_max)):
        return math.nan, math.nan, math.nan, conf_level

    def root(zq: float) -> float:
        if w_min - zq <= 0:
            return mumin
        if w_max - zq >= 0:
            return mumax
        return _r_uniroot(
            lambda d: _rank_sum_w(x, y, d, True) - zq, mumin, mumax, w_min - zq, w_max - zq,
            tol_root,
        )  # fmt: skip

    lower = root(float(norm.isf(alpha / 2)))
    upper = root(float(norm.ppf(alpha / 2)))
    f_est = lambda d: _rank_sum_w(x, y, d, False)  # noqa: E731  (R: correct <- FALSE)
    estimate = _r_uniroot(f_est, mumin, mumax, f_est(mumin), f_est(mumax), tol_root)
    return estimate, lower, upper, conf_level
