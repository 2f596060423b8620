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

:func:`wilcoxon_signed_rank` is R's ``wilcox.test(x, y, paired = TRUE, conf.int = TRUE)``
(two-sided) as implemented in R 4.0.0 to 4.5.x: zero differences are dropped, the exact null
distribution is used when ``n < 50`` and there are neither ties nor zeros, the normal
approximation (tie-corrected variance, optional continuity correction) otherwise. The exact
branch reports the Hodges-Lehmann estimate and the exact Walsh-average interval; the normal
branch reports R's root-finding estimate and interval (:func:`_r_uniroot` is a port of R's
``zeroin.c``, so the iteration stops where R's does, not merely within R's tolerance of the
root; only last-bit differences between scipy's and R's normal quantile could move it).
R 4.6.0 changed ``wilcox.test``: with ties or zeros and fewer than 50 values it uses the exact
conditional distribution and ranks the zeros (Pratt); results then differ from this module's
(and from R <= 4.5) whenever the data have ties or zeros.
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
    "SignedRankResult",
    "describe",
    "psignrank",
    "qsignrank",
    "quantile",
    "wilcoxon_signed_rank",
]

QUANTILE_METHODS: dict[str, str] = {
    "sas5": "SAS default (QNTLDEF=5): empirical distribution with averaging (R type 2)",
    "spss": "SPSS default (weighted average at (n+1)p) = SAS QNTLDEF=4 = R type 6",
    "r7": "R default (type 7): linear interpolation at 1+(n-1)p = Excel PERCENTILE.INC",
}

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
        achieved_alpha = _exact_achieved_alpha(self.n, alpha)
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


def _exact_achieved_alpha(n: int, alpha: float) -> float:
    return 2 * psignrank(math.trunc(_exact_qu(n, alpha)) - 1, n)


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


def _asymptotic_w(x: np.ndarray, d: float, correct: bool) -> float:
    """R's W(d): the standardised signed-rank statistic of x - d (zeros of x - d dropped)."""
    xd = x - d
    xd = xd[xd != 0]
    nx = xd.size
    axd = np.abs(xd)
    dr = rankdata(axd)
    zd = float(dr[xd > 0].sum()) - nx * (nx + 1) / 4
    sigma = math.sqrt(nx * (nx + 1) * (2 * nx + 1) / 24 - _tie_sum(axd) / 48)
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


def wilcoxon_signed_rank(
    differences: Any,
    *,
    conf_level: float = 0.95,
    correct: bool = True,
    exact: bool | None = None,
) -> SignedRankResult:
    """Two-sided paired Wilcoxon signed-rank test of the ``differences`` (post - baseline).

    The result is that of R's ``wilcox.test(post, baseline, paired = TRUE, conf.int = TRUE,
    conf.level, correct, exact)`` in R 4.0.0 to 4.5.x. Missing differences are dropped, zero
    differences are dropped before ranking (Wilcoxon's method, ``n_zero`` counts them).
    ``exact=None`` means exact when fewer than 50 non-zero differences remain; the exact
    branch is only used without ties and zeros (R then falls back to the normal
    approximation, as here). With no non-zero difference the test is not computed: p-value,
    estimate and interval are NaN and ``method`` says why.

    Example:
        >>> post = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
        >>> base = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
        >>> r = wilcoxon_signed_rank([a - b for a, b in zip(post, base)])
        >>> r.statistic, round(r.p_value, 5), r.method
        (40.0, 0.03906, 'Wilcoxon signed rank exact test')
    """
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

    use_exact = (n < 50) if exact is None else bool(exact)
    ax = np.abs(x)
    r = rankdata(ax)
    statistic = float(r[x > 0].sum())
    ties = bool(np.unique(r).size != n)
    nf = float(n)

    if use_exact and not ties and n_zero == 0:
        if statistic > nf * (nf + 1) / 4:
            p = psignrank(statistic - 1, n, lower_tail=False)
        else:
            p = psignrank(statistic, n)
        p_value = min(2 * p, 1.0)
        alpha = 1 - level
        walsh = _walsh_averages(x)
        qu = _exact_qu(n, alpha)
        ql = nf * (nf + 1) / 2 - qu
        achieved_alpha = 2 * psignrank(math.trunc(qu) - 1, n)
        # R: c(diffs[qu], diffs[ql + 1]) with 1-based indices.
        conf_low = float(walsh[int(qu) - 1])
        conf_high = float(walsh[int(ql)])
        return SignedRankResult(
            statistic=statistic, p_value=p_value, method="Wilcoxon signed rank exact test",
            n=n, n_zero=n_zero, ties=ties, exact=True, estimate=_r_median(walsh),
            conf_low=conf_low, conf_high=conf_high, conf_level=level,
            achieved_conf_level=1 - achieved_alpha,
        )

    z = statistic - nf * (nf + 1) / 4
    sigma = math.sqrt(nf * (nf + 1) * (2 * nf + 1) / 24 - _tie_sum(ax) / 48)
    correction = float(np.sign(z)) * 0.5 if correct else 0.0
    z = (z - correction) / sigma
    p_value = 2 * min(float(norm.cdf(z)), float(norm.sf(z)))
    method = "Wilcoxon signed rank test"
    if correct:
        method += " with continuity correction"
    conf_low, conf_high, estimate, achieved = _asymptotic_ci(x, level, correct)
    return SignedRankResult(
        statistic=statistic, p_value=p_value, method=method, n=n, n_zero=n_zero, ties=ties,
        exact=False, estimate=estimate, conf_low=conf_low, conf_high=conf_high,
        conf_level=level, achieved_conf_level=achieved,
    )
