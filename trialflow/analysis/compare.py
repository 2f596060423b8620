"""Between-group comparisons of a response (the change from baseline) at one visit.

:func:`ancova` fits the linear model ``response ~ group + covariates`` by ordinary least
squares (statsmodels OLS) with treatment coding against the control group, and reports, as R's
``lm`` followed by ``emmeans(fit, "group")`` and ``contrast(..., "trt.vs.ctrl", adjust =
"none")`` do:

* the least-squares mean of each group: the model's prediction for that group with every
  covariate at its mean over the subjects in the model (emmeans' default reference grid for
  numeric covariates), its standard error from the coefficients' covariance and its
  t-interval on the residual degrees of freedom;
* the difference of each group against control (the group's coefficient), its standard error,
  t-interval and two-sided p-value, not adjusted for multiplicity.

:func:`rank_tests` gives the nonparametric alternative (scipy), with R's defaults (R 4.0 to
4.5):

* Wilcoxon rank-sum (Mann-Whitney) of each group against control, as
  ``wilcox.test(group, control, conf.int = TRUE)``: W is the rank sum of the group's values
  minus ``n(n + 1)/2``; the exact distribution when both groups have fewer than 50 values and
  there are no ties, otherwise the normal approximation with the tie-corrected variance and
  the continuity correction; the location shift (the Hodges-Lehmann estimate, R's "difference
  in location") with its confidence interval, from the same branch;
* Kruskal-Wallis across all groups (more than two), as ``kruskal.test``: the tie-corrected H
  against chi-square with k - 1 degrees of freedom.

Example:
    >>> data = pd.DataFrame({"GROUP": ["P", "P", "P", "A", "A", "A"],
    ...                      "CHG": [1.0, 2.0, 0.0, -3.0, -1.0, -2.0],
    ...                      "BASE": [10.0, 12.0, 11.0, 12.0, 10.0, 11.0]})
    >>> out = ancova(data, "CHG", "GROUP", ["BASE"], control="P", order=["P", "A"])
    >>> out[["TERM", "GROUP", "ESTIMATE"]].round(6).values.tolist()
    [['LSMEAN', 'P', 1.0], ['LSMEAN', 'A', -2.0], ['DIFF', 'A', -3.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from trialflow.analysis.stats import _rank_sum_shift
from trialflow.errors import DerivationError

__all__ = ["COMPARISON_COLUMNS", "ancova", "rank_tests"]

COMPARISON_COLUMNS = [
    "METHOD", "TERM", "GROUP", "REFERENCE", "N", "ESTIMATE", "SE", "DF", "LOWER", "UPPER",
    "STATISTIC", "P_VALUE", "CONF_LEVEL", "TEST",
]  # fmt: skip
"""The statistics columns of cfb_comparisons.csv (after the by-variables):

* METHOD: ANCOVA, WILCOXON or KRUSKAL-WALLIS.
* TERM: LSMEAN (one group's least-squares mean), DIFF (group minus REFERENCE), RANKSUM
  (rank-sum test of GROUP against REFERENCE) or KRUSKAL (all groups; GROUP empty).
* N: subjects in GROUP (LSMEAN), in GROUP and REFERENCE (DIFF, RANKSUM), in all (KRUSKAL).
* ESTIMATE, SE, LOWER, UPPER at CONF_LEVEL, DF (residual df of the model; k - 1 for KRUSKAL).
  For RANKSUM, ESTIMATE is the location shift of GROUP against REFERENCE and LOWER/UPPER its
  interval at CONF_LEVEL, the level R reports (lower than asked when the exact interval can't
  reach it); no SE or DF.
* STATISTIC: t (DIFF), W (RANKSUM), the chi-squared H (KRUSKAL); P_VALUE two-sided.
* TEST: the model or test as R writes it.
"""


def _check(data: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DerivationError(f"{what}: required column(s) missing: {', '.join(missing)}")


def _row(**values: object) -> dict:
    return {c: values.get(c) for c in COMPARISON_COLUMNS}


_TEXT = ("METHOD", "TERM", "GROUP", "REFERENCE", "TEST")


def _frame(rows: list[dict]) -> pd.DataFrame:
    """The rows with every statistic a float64 (an empty one NaN) and N an integer, so that
    the CSV writes numbers, never text, whatever the test left empty."""
    frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    numbers = [c for c in COMPARISON_COLUMNS if c not in _TEXT and c != "N"]
    frame[numbers] = frame[numbers].astype("float64")
    frame["N"] = frame["N"].astype("int64")
    return frame


def ancova(
    data: pd.DataFrame,
    response: str,
    group: str,
    covariates: Sequence[str],
    *,
    control: str,
    order: Sequence[str],
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Least-squares means per group and differences against ``control`` of ``response``.

    Records with a missing response, group or covariate are left out (R's ``na.omit``);
    groups of ``order`` without a record are left out of the model. ``order`` gives the
    groups' order in the output. Returns :data:`COMPARISON_COLUMNS` rows: LSMEAN per group,
    then DIFF per group other than control; no rows when the control group has no record,
    when fewer than two groups have one, when the residual degrees of freedom are 0 or when
    the model is not estimable (a covariate constant or determined by the groups).

    Example:
        >>> data = pd.DataFrame({"GROUP": ["P", "P", "P", "A", "A", "A"],
        ...                      "CHG": [1.0, 2.0, 0.0, -3.0, -1.0, -2.0],
        ...                      "BASE": [10.0, 12.0, 11.0, 12.0, 10.0, 11.0]})
        >>> out = ancova(data, "CHG", "GROUP", ["BASE"], control="P", order=["P", "A"])
        >>> out[["TERM", "GROUP", "ESTIMATE", "DF"]].round(6).values.tolist()
        [['LSMEAN', 'P', 1.0, 3.0], ['LSMEAN', 'A', -2.0, 3.0], ['DIFF', 'A', -3.0, 3.0]]
    """
    _check(data, [response, group, *covariates], "ancova")
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must be strictly between 0 and 1, got {conf_level!r}")
    frame = data[[group, response, *covariates]].copy()
    for column in [response, *covariates]:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise DerivationError(f"ancova: {column} is not numeric")
        frame[column] = frame[column].astype("float64")
    frame = frame.dropna()
    present = set(frame[group].astype("str"))
    levels = [g for g in order if g in present]
    if control not in levels or len(levels) < 2:
        return _frame([])
    others = [g for g in levels if g != control]
    labels = frame[group].astype("str").to_numpy()
    n = len(frame)
    columns = [np.ones(n)] + [(labels == g).astype("float64") for g in others]
    # The covariates enter centred at their means: the same model, the LS means are then
    # intercept + group coefficient, and the fit is better conditioned.
    means = np.array([frame[c].mean() for c in covariates])
    columns += [
        frame[c].to_numpy(dtype="float64") - m for c, m in zip(covariates, means, strict=True)
    ]
    design = np.column_stack(columns)
    rank = int(np.linalg.matrix_rank(design))
    df_resid = n - rank
    if df_resid <= 0 or rank < design.shape[1]:  # no error variance, or a constant covariate
        return _frame([])
    # statsmodels loads slowly: only the runs that compare groups pay for it.
    from statsmodels.regression.linear_model import OLS

    fit = OLS(frame[response].to_numpy(dtype="float64"), design).fit(method="qr")
    k = design.shape[1]  # covariate weights stay 0: each covariate at its mean
    alpha = 1.0 - conf_level
    formula = " + ".join([group, *covariates])
    test = f"lm({response} ~ {formula}); emmeans at the mean of each covariate"
    rows = []
    for g in levels:
        weights = np.zeros(k)
        weights[0] = 1.0
        if g != control:
            weights[1 + others.index(g)] = 1.0
        t = fit.t_test(weights.reshape(1, -1))
        low, high = t.conf_int(alpha=alpha)[0]
        rows.append(
            _row(
                METHOD="ANCOVA", TERM="LSMEAN", GROUP=g, N=int((labels == g).sum()),
                ESTIMATE=float(np.ravel(t.effect)[0]), SE=float(np.ravel(t.sd)[0]),
                DF=float(df_resid), LOWER=float(low), UPPER=float(high),
                CONF_LEVEL=conf_level, TEST=test,
            )
        )  # fmt: skip
    for i, g in enumerate(others):
        weights = np.zeros(k)
        weights[1 + i] = 1.0
        t = fit.t_test(weights.reshape(1, -1))
        low, high = t.conf_int(alpha=alpha)[0]
        rows.append(
            _row(
                METHOD="ANCOVA", TERM="DIFF", GROUP=g, REFERENCE=control,
                N=int(((labels == g) | (labels == control)).sum()),
                ESTIMATE=float(np.ravel(t.effect)[0]), SE=float(np.ravel(t.sd)[0]),
                DF=float(df_resid), LOWER=float(low), UPPER=float(high),
                STATISTIC=float(np.ravel(t.tvalue)[0]), P_VALUE=float(np.ravel(t.pvalue)[0]),
                CONF_LEVEL=conf_level, TEST=test,
            )
        )  # fmt: skip
    return _frame(rows)


def _rank_sum(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    """R's ``wilcox.test(x, y)`` defaults: (W, two-sided p, R's method text)."""
    pooled = np.concatenate([x, y])
    ties = np.unique(pooled).size < pooled.size
    exact = x.size < 50 and y.size < 50 and not ties
    result = stats.mannwhitneyu(
        x, y, alternative="two-sided", use_continuity=True,
        method="exact" if exact else "asymptotic",
    )  # fmt: skip
    text = (
        "Wilcoxon rank sum exact test"
        if exact
        else ("Wilcoxon rank sum test with continuity correction")
    )
    return float(result.statistic), min(float(result.pvalue), 1.0), text


def rank_tests(
    data: pd.DataFrame,
    response: str,
    group: str,
    *,
    control: str,
    order: Sequence[str],
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Rank-sum tests of each group against ``control`` and Kruskal-Wallis across groups.

    Missing responses are left out. Returns :data:`COMPARISON_COLUMNS` rows: RANKSUM per
    group other than control (when both have values), with the location shift and its
    interval at ``conf_level``, then KRUSKAL when more than two groups have values and not
    every value is equal.

    Example:
        >>> data = pd.DataFrame({"G": ["P"] * 3 + ["A"] * 3,
        ...                      "CHG": [1.0, 2.0, 3.0, -1.0, -2.0, 0.5]})
        >>> out = rank_tests(data, "CHG", "G", control="P", order=["P", "A"])
        >>> out[["TERM", "STATISTIC", "P_VALUE"]].values.tolist()  # W = 0, p = 2/20
        [['RANKSUM', 0.0, 0.1]]
        >>> # R's wilcox.test(c(-1, -2, 0.5), c(1, 2, 3), conf.int = TRUE): the median of the 9
        >>> # differences, -3; with 3 and 3 values no exact interval reaches 95 %, so R gives
        >>> # the widest one, from the smallest to the largest difference, at 1 - 2/20
        >>> out[["ESTIMATE", "LOWER", "UPPER", "CONF_LEVEL"]].values.tolist()
        [[-3.0, -5.0, -0.5, 0.9]]
    """
    _check(data, [response, group], "rank_tests")
    frame = data[[group, response]].dropna()
    values = {
        g: frame.loc[frame[group].astype("str").eq(g).to_numpy(), response].to_numpy("float64")
        for g in order
    }
    values = {g: v for g, v in values.items() if v.size}
    rows = []
    if control in values:
        for g, v in values.items():
            if g == control:
                continue
            w, p, text = _rank_sum(v, values[control])
            shift, lower, upper, level = _rank_sum_shift(v, values[control], conf_level)
            rows.append(
                _row(
                    METHOD="WILCOXON", TERM="RANKSUM", GROUP=g, REFERENCE=control,
                    N=int(v.size + values[control].size), ESTIMATE=shift, LOWER=lower,
                    UPPER=upper, STATISTIC=w, P_VALUE=p, CONF_LEVEL=level, TEST=text,
                )
            )  # fmt: skip
    if len(values) > 2:
        pooled = np.concatenate(list(values.values()))
        if np.unique(pooled).size > 1:
            h, p = stats.kruskal(*values.values())
            rows.append(
                _row(
                    METHOD="KRUSKAL-WALLIS", TERM="KRUSKAL", N=int(pooled.size),
                    DF=float(len(values) - 1), STATISTIC=float(h), P_VALUE=float(p),
                    TEST="Kruskal-Wallis rank sum test",
                )
            )  # fmt: skip
    return _frame(rows)
