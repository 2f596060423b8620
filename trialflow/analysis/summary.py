"""Change-from-baseline summaries and the baseline table (Table 1) from the ADaM datasets.

:func:`cfb_summary` gives, per PARAMCD and analysis visit, n, mean, SD, median, Q1, Q3, min
and max of AVAL and of CHG, with the Wilcoxon signed-rank test of each post-baseline visit
against baseline (on the subjects with both values, i.e. with a CHG) and the Hodges-Lehmann
estimate of the median change with its confidence interval. The quantile definition and the
test method (study.yaml's names) are named in every row. Records: the analysis records
(ANL01FL = "Y") of the analysis population.

:func:`table1` gives the baseline characteristics: continuous ones as mean +/- SD, categorical
ones as n (%). Its VALUE text is rounded half away from zero as SAS's ROUND does
(:func:`trialflow.numbers.format_fixed`): mean and SD to the row's ``digits``, percentages to
one decimal.

Example:
    >>> bds = pd.DataFrame({"USUBJID": ["1", "1", "2", "2"], "PARAMCD": ["FPG"] * 4,
    ...                     "AVISITN": [0.0, 2.0, 0.0, 2.0],
    ...                     "AVISIT": ["BASELINE", "DAY 14"] * 2, "AVAL": [9.0, 7.0, 8.0, 7.5],
    ...                     "CHG": [None, -2.0, None, -0.5], "ANL01FL": ["Y"] * 4,
    ...                     "FASFL": ["Y"] * 4})
    >>> out = cfb_summary(bds, ["FPG"], quantile_method="r7")
    >>> out[["AVISIT", "VAR", "N", "MEDIAN", "P_VALUE"]].values.tolist()
    [['BASELINE', 'AVAL', 2, 8.5, nan], ['DAY 14', 'AVAL', 2, 7.25, nan], ['DAY 14', 'CHG', 2, -1.25, 0.5]]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from trialflow.analysis.stats import TEST_METHODS, describe, wilcoxon_signed_rank
from trialflow.errors import DerivationError
from trialflow.numbers import format_fixed

SUMMARY_COLUMNS = [
    "PARAMCD", "AVISITN", "AVISIT", "VAR", "N", "MEAN", "SD", "MEDIAN", "Q1", "Q3", "MIN",
    "MAX", "P_VALUE", "TEST", "QUANTILE_METHOD", "STATISTIC", "HL_ESTIMATE", "HL_LOWER",
    "HL_UPPER", "CONF_LEVEL", "PARAM", "TEST_METHOD",
]  # fmt: skip
"""cfb_summary.csv columns: the change-from-baseline contract's columns in its order, then on
the CHG rows of post-baseline visits the signed-rank statistic V and the Hodges-Lehmann
estimate with its confidence interval (CONF_LEVEL is the level R's ``wilcox.test`` reports for
it: the requested one unless the exact interval can't reach it), then PARAM, the label, and
TEST_METHOD, the study's signed-rank test method (``analysis.test``) on every row."""

TABLE1_COLUMNS = ["CHARACTERISTIC", "STATISTIC", "VALUE", "N", "MEAN", "SD", "COUNT", "PCT"]


def _analysis_records(bds: pd.DataFrame, population: str | None) -> pd.DataFrame:
    """The analysis records (ANL01FL = Y) of the population flag's subjects."""
    keep = bds["ANL01FL"].eq("Y").fillna(False)
    if population:
        if population not in bds.columns:
            raise DerivationError(f"cfb_summary: population flag {population} is not a column")
        keep &= bds[population].eq("Y").fillna(False)
    return bds.loc[keep.to_numpy()]


def cfb_summary(
    bds: pd.DataFrame,
    paramcds: Sequence[str],
    *,
    quantile_method: str,
    population: str | None = "FASFL",
    conf_level: float = 0.95,
    test_method: str = "r",
) -> pd.DataFrame:
    """Summaries of AVAL and CHG per PARAMCD and AVISIT, with the signed-rank test on CHG.

    Rows come in PARAMCD order as given, then AVISITN, then VAR (AVAL before CHG). The
    baseline visit (no CHG) has an AVAL row only. P_VALUE, TEST, STATISTIC and the
    Hodges-Lehmann columns are filled on the CHG rows; TEST says how the p-value of those
    data was computed by ``test_method`` (one of
    :data:`trialflow.analysis.stats.TEST_METHODS`; with ``"r"``, R's ``wilcox.test(paired =
    TRUE)``: exact, or normal approximation with continuity correction when there are ties or
    zeros or n >= 50). QUANTILE_METHOD and TEST_METHOD are on every row.

    Example:
        >>> bds = pd.DataFrame({"USUBJID": ["1", "1", "2", "2"], "PARAMCD": ["FPG"] * 4,
        ...                     "AVISITN": [0.0, 2.0, 0.0, 2.0],
        ...                     "AVISIT": ["BASELINE", "DAY 14"] * 2, "AVAL": [9.0, 7.0, 8.0, 7.5],
        ...                     "CHG": [None, -2.0, None, -0.5], "ANL01FL": ["Y"] * 4,
        ...                     "FASFL": ["Y"] * 4})
        >>> out = cfb_summary(bds, ["FPG"], quantile_method="r7")
        >>> for row in out[["AVISIT", "VAR", "N", "MEDIAN", "P_VALUE"]].values.tolist():
        ...     print(row)  # medians by hand: (9 + 8) / 2, (7 + 7.5) / 2, (-2 - 0.5) / 2
        ['BASELINE', 'AVAL', 2, 8.5, nan]
        ['DAY 14', 'AVAL', 2, 7.25, nan]
        ['DAY 14', 'CHG', 2, -1.25, 0.5]
    """
    needed = ["USUBJID", "PARAMCD", "AVISITN", "AVISIT", "AVAL", "CHG", "ANL01FL"]
    missing = [c for c in needed if c not in bds.columns]
    if missing:
        raise DerivationError(f"cfb_summary: required column(s) missing: {', '.join(missing)}")
    if test_method not in TEST_METHODS:
        raise DerivationError(
            f"cfb_summary: unknown test method {test_method!r} ({', '.join(TEST_METHODS)})"
        )
    # Only the columns summarised are carried, and the records are split by PARAMCD once: a
    # BDS dataset is wide, and selecting every column per parameter cost more than the tests.
    keep = [*needed, *(c for c in ("PARAM", population) if c and c in bds.columns)]
    data = _analysis_records(bds[list(dict.fromkeys(keep))], population)
    by_param = dict(list(data.groupby("PARAMCD", sort=False)))
    rows: list[dict] = []
    for paramcd in paramcds:
        param = by_param.get(paramcd, data.iloc[:0])
        label = param["PARAM"].dropna().iloc[0] if "PARAM" in param and len(param) else None
        visits = param.dropna(subset=["AVISITN"]).groupby("AVISITN", sort=True)
        # One loop step per parameter and visit: a handful of groups, not records.
        for avisitn, visit in visits:
            avisit = visit["AVISIT"].dropna().iloc[0] if visit["AVISIT"].notna().any() else None
            base = {"PARAMCD": paramcd, "PARAM": label, "AVISITN": avisitn, "AVISIT": avisit}
            rows.append({**base, "VAR": "AVAL", **describe(visit["AVAL"], quantile_method)})
            chg = visit["CHG"].dropna()
            if chg.empty:
                continue
            test = wilcoxon_signed_rank(
                chg.to_numpy(dtype=float), conf_level=conf_level, method=test_method
            )
            rows.append(
                {
                    **base,
                    "VAR": "CHG",
                    **describe(chg, quantile_method),
                    "P_VALUE": test.p_value,
                    "TEST": test.method,
                    "STATISTIC": test.statistic,
                    "HL_ESTIMATE": test.estimate,
                    "HL_LOWER": test.conf_low,
                    "HL_UPPER": test.conf_high,
                    "CONF_LEVEL": test.r_conf_level,
                }
            )
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    out["QUANTILE_METHOD"] = quantile_method
    out["TEST_METHOD"] = test_method
    out["N"] = out["N"].astype("int64")
    return out


def table1(
    adsl: pd.DataFrame,
    bds: Mapping[str, pd.DataFrame],
    rows: Sequence[Mapping[str, object]],
    *,
    population: str | None = "FASFL",
) -> pd.DataFrame:
    """Baseline characteristics: continuous as mean +/- SD (n-1), categorical as n (%).

    Each row spec has ``label``, ``kind`` (continuous or categorical), ``digits`` and either
    ``variable`` (an ADSL column) or ``dataset`` and ``paramcd`` (the baseline AVAL,
    ABLFL = "Y", of that parameter). Subjects: the population flag's (all when None).
    Categorical rows list each category with its count and percent of the population.

    Example:
        >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"], "AGE": [50.0, 55.0],
        ...                      "SEX": ["M", "F"], "FASFL": ["Y", "Y"]})
        >>> t = table1(adsl, {}, [{"label": "Age (years)", "variable": "AGE"},
        ...                       {"label": "Sex", "variable": "SEX", "kind": "categorical"}])
        >>> t[["CHARACTERISTIC", "VALUE"]].values.tolist()
        [['Age (years)', '52.50 ± 3.54'], ['Sex: F', '1 (50.0%)'], ['Sex: M', '1 (50.0%)']]
    """
    subjects = adsl
    if population:
        subjects = adsl[adsl[population].eq("Y").fillna(False).to_numpy()]
    ids = subjects["USUBJID"]
    total = len(subjects)
    out: list[dict] = []
    for spec in rows:
        label = str(spec["label"])
        digits = int(spec.get("digits", 2))  # type: ignore[arg-type]
        if spec.get("variable"):
            name = str(spec["variable"])
            if name not in subjects.columns:
                raise DerivationError(f"table1: ADSL has no variable {name} ({label})")
            values = subjects[name]
        else:
            frame = bds.get(str(spec["dataset"]))
            if frame is None:
                raise DerivationError(f"table1: no dataset {spec['dataset']} ({label})")
            base = frame[(frame["PARAMCD"] == spec["paramcd"]) & frame["ABLFL"].eq("Y")]
            values = ids.map(base.drop_duplicates("USUBJID").set_index("USUBJID")["AVAL"])
        if spec.get("kind", "continuous") == "categorical":
            counts = values.astype("str").fillna("Missing").value_counts().sort_index()
            for category, count in counts.items():
                pct = 100.0 * count / total if total else np.nan
                out.append(
                    {
                        "CHARACTERISTIC": f"{label}: {category}",
                        "STATISTIC": "n (%)",
                        "VALUE": f"{count} ({format_fixed(pct, 1)}%)",
                        "N": total,
                        "COUNT": int(count),
                        "PCT": pct,
                    }
                )
            continue
        numbers = pd.to_numeric(values, errors="coerce").astype("float64").dropna()
        mean = float(numbers.mean()) if len(numbers) else np.nan
        sd = float(numbers.std(ddof=1)) if len(numbers) > 1 else np.nan
        out.append(
            {
                "CHARACTERISTIC": label,
                "STATISTIC": "mean ± SD",
                "VALUE": f"{format_fixed(mean, digits)} ± {format_fixed(sd, digits)}",
                "N": len(numbers),
                "MEAN": mean,
                "SD": sd,
            }
        )
    return pd.DataFrame(out, columns=TABLE1_COLUMNS)
