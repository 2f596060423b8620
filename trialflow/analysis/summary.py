"""Change-from-baseline summaries and the baseline table (Table 1) from the ADaM datasets.

:func:`cfb_summary` gives, per PARAMCD and analysis visit, n, mean, SD, median, Q1, Q3, min
and max of AVAL and of CHG, with the Wilcoxon signed-rank test of each post-baseline visit
against baseline (on the subjects with both values, i.e. with a CHG) and the Hodges-Lehmann
estimate of the median change with its confidence interval. The quantile definition and the
test method (study.yaml's names) are named in every row. Records: the analysis records
(ANL01FL = "Y") of the analysis population, and its baseline records (ABLFL = "Y") where the
SAP's ANL01FL leaves them out (``adam.analysis_flag.include_baseline: false``): a by-visit
summary shows the baseline.

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

SINGLE_GROUP = "Total"
"""The GROUP value of every row when the study has no ``analysis.group`` (one group)."""

TIMEPOINT_COLUMNS = ["ATPTN", "ATPT"]
"""The time-point by-variables, in cfb_summary.csv after PARAMCD when the dataset has ATPTN."""

SUMMARY_COLUMNS = [
    "PARAMCD", "AVISITN", "AVISIT", "GROUP", "VAR", "N", "MEAN", "SD", "MEDIAN", "Q1", "Q3", "MIN",
    "MAX", "P_VALUE", "TEST", "QUANTILE_METHOD", "STATISTIC", "HL_ESTIMATE", "HL_LOWER",
    "HL_UPPER", "CONF_LEVEL", "PARAM", "TEST_METHOD",
]  # fmt: skip
"""cfb_summary.csv columns: the by-variables PARAMCD, AVISITN, AVISIT and GROUP (the treatment
group; :data:`SINGLE_GROUP` without ``analysis.group``; ATPTN and ATPT follow PARAMCD when
the dataset has time points), the change-from-baseline contract's columns, then on
the CHG rows of post-baseline visits the signed-rank statistic V and the Hodges-Lehmann
estimate with its confidence interval (CONF_LEVEL is the level R's ``wilcox.test`` reports for
it: the requested one unless the exact interval can't reach it), then PARAM, the label, and
TEST_METHOD, the study's signed-rank test method (``analysis.test``) on every row."""

TABLE1_COLUMNS = [
    "CHARACTERISTIC", "STATISTIC", "GROUP", "VALUE", "N", "MEAN", "SD", "COUNT", "PCT",
]  # fmt: skip
"""table1.csv columns: GROUP is the treatment group ("Total" for all groups together)."""


_BASELINE_BY = ("USUBJID", "PARAMCD", "BASETYPE", "ATPTN", "AVISITN")
"""A baseline record joins the summaries unless an analysis record shares these with it."""


def _analysis_records(bds: pd.DataFrame, population: str | None) -> pd.DataFrame:
    """The analysis records (ANL01FL = Y) of the population flag's subjects, with the baseline
    records (ABLFL = Y) ANL01FL does not flag.

    A SAP may keep the baseline record out of ANL01FL (``adam.analysis_flag``'s
    ``include_baseline: false``, as admiral's ``derive_var_anl_flag`` with a filter on the
    post-baseline records does); the by-visit summary still shows the baseline (the BASELINE
    row of AVAL), from the baseline records. A baseline record whose subject already has an
    analysis record at the same parameter, BASETYPE, time point and visit is not added, so no
    subject is counted twice at a visit.

    Example:
        >>> bds = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["SYSBP"] * 2,
        ...                     "AVISITN": [0.0, 4.0], "ABLFL": ["Y", None],
        ...                     "ANL01FL": [None, "Y"]})
        >>> _analysis_records(bds, None)["AVISITN"].tolist()
        [0.0, 4.0]
    """
    keep = bds["ANL01FL"].eq("Y").fillna(False).to_numpy()
    if "ABLFL" in bds.columns:
        baseline = bds["ABLFL"].eq("Y").fillna(False).to_numpy() & ~keep
        if baseline.any():
            by = [c for c in _BASELINE_BY if c in bds.columns]

            def keys(mask: np.ndarray) -> pd.MultiIndex:
                return pd.MultiIndex.from_frame(bds.loc[mask, by].astype("str").fillna(""))

            added = ~keys(baseline).isin(keys(keep))
            keep = keep.copy()
            keep[np.flatnonzero(baseline)[added]] = True
    keep = pd.Series(keep, index=bds.index)
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
    group: str | None = None,
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Summaries of AVAL and CHG per PARAMCD, [ATPTN,] AVISIT and group, with the signed-rank
    test on CHG.

    ``group`` names the column of ``bds`` whose values are the treatment groups (GROUP in
    the output; records without one are left out, the caller reports them), in ``order``
    (default: sorted); without it every row's GROUP is :data:`SINGLE_GROUP`. When a parameter
    of ``bds`` has several time points (:func:`has_timepoints`: several records per visit,
    one per time point), rows are also by ATPTN/ATPT
    (records without a time point form their own rows, after the time points).

    Rows come in PARAMCD order as given, then ATPTN, AVISITN, group, VAR (AVAL before CHG). The
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
    if group is not None and group not in bds.columns:
        raise DerivationError(f"cfb_summary: group variable {group} is not a column")
    timepoints = has_timepoints(bds)
    extra = ["PARAM", population, group, "ABLFL", "BASETYPE",
             *(TIMEPOINT_COLUMNS if timepoints else [])]  # fmt: skip
    keep = [*needed, *(c for c in extra if c and c in bds.columns)]
    data = _analysis_records(bds[list(dict.fromkeys(keep))], population)
    if group is None:
        data = data.assign(GROUP=SINGLE_GROUP)
        levels = [SINGLE_GROUP]
    else:
        data = data.assign(GROUP=_group_text(data[group]))
        data = data[data["GROUP"].notna().to_numpy()]
        present = set(data["GROUP"])
        levels = [g for g in (order or sorted(present)) if g in present]
        levels += sorted(present - set(levels))
    rank = {g: i for i, g in enumerate(levels)}
    data = data.assign(_GROUPN=data["GROUP"].map(rank))
    by = [*(["ATPTN"] if timepoints else []), "AVISITN", "_GROUPN"]
    by_param = dict(list(data.groupby("PARAMCD", sort=False)))
    rows: list[dict] = []
    for paramcd in paramcds:
        param = by_param.get(paramcd, data.iloc[:0])
        label = param["PARAM"].dropna().iloc[0] if "PARAM" in param and len(param) else None
        cells = param.dropna(subset=["AVISITN"]).groupby(by, sort=True, dropna=False)
        # One loop step per parameter, time point, visit and group: cells, not records.
        for key, visit in cells:
            avisitn = key[-2]
            avisit = visit["AVISIT"].dropna().iloc[0] if visit["AVISIT"].notna().any() else None
            base = {"PARAMCD": paramcd, "PARAM": label, "AVISITN": avisitn, "AVISIT": avisit,
                    "GROUP": levels[int(key[-1])]}  # fmt: skip
            if timepoints:
                atpt = visit["ATPT"].dropna() if "ATPT" in visit else visit["ATPTN"].iloc[:0]
                base |= {"ATPTN": key[0], "ATPT": atpt.iloc[0] if len(atpt) else None}
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
    columns = SUMMARY_COLUMNS
    if timepoints:
        columns = [SUMMARY_COLUMNS[0], *TIMEPOINT_COLUMNS, *SUMMARY_COLUMNS[1:]]
    out = pd.DataFrame(rows, columns=columns)
    out["QUANTILE_METHOD"] = quantile_method
    out["TEST_METHOD"] = test_method
    out["N"] = out["N"].astype("int64")
    return out


def has_timepoints(bds: pd.DataFrame) -> bool:
    """True when some parameter of ``bds`` has more than one ATPTN (a missing one counts as
    one): its analyses are then by time point, and the tables carry ATPTN and ATPT. A
    parameter measured at one time point only (a 2-hour value) needs no split.

    Example:
        >>> bds = pd.DataFrame({"PARAMCD": ["SYSBP", "SYSBP", "WEIGHT"],
        ...                     "ATPTN": [815.0, 816.0, None]})
        >>> has_timepoints(bds), has_timepoints(bds.iloc[[0, 2]])
        (True, False)
    """
    if "ATPTN" not in bds.columns or "PARAMCD" not in bds.columns or bds.empty:
        return False
    numbers = pd.to_numeric(bds["ATPTN"], errors="coerce").astype("float64")
    distinct = bds[["PARAMCD"]].assign(_T=numbers).groupby("PARAMCD")["_T"].nunique(dropna=False)
    return bool((distinct > 1).any())


def _group_text(values: pd.Series) -> pd.Series:
    """Group values as text, blank ones missing."""
    out = values.astype("str").str.strip()
    return out.where(values.notna() & out.ne(""), None)


def group_levels(
    values: pd.Series, order: Sequence[str] | None = None, control: str | None = None
) -> list[str]:
    """The groups present in ``values`` (text, blanks left out) in the study's order.

    ``order`` first (the groups it names that are present), then the others sorted, with
    ``control`` first among them when it is one.

    Example:
        >>> group_levels(pd.Series(["B", "A", None, "C"]), control="C")
        ['C', 'A', 'B']
    """
    present = set(_group_text(values).dropna())
    levels = [g for g in (order or []) if g in present]
    rest = sorted(present - set(levels))
    if control in rest:
        rest = [control, *(g for g in rest if g != control)]
    return levels + rest


def table1(
    adsl: pd.DataFrame,
    bds: Mapping[str, pd.DataFrame],
    rows: Sequence[Mapping[str, object]],
    *,
    population: str | None = "FASFL",
    group: str | None = None,
    order: Sequence[str] | None = None,
    total: bool = True,
) -> pd.DataFrame:
    """Baseline characteristics: continuous as mean +/- SD (n-1), categorical as n (%).

    Each row spec has ``label``, ``kind`` (continuous or categorical), ``digits`` and either
    ``variable`` (an ADSL column) or ``dataset`` and ``paramcd`` (the baseline AVAL,
    ABLFL = "Y", of that parameter). Subjects: the population flag's (all when None).
    Categorical rows list each category with its count and percent of the group's subjects.

    With ``group`` (an ADSL column) each characteristic has one row per group (GROUP, in
    ``order``; subjects without a group are left out, the caller reports them) and with
    ``total`` a last row of all groups together (GROUP "Total"); a category absent from a
    group counts 0 there. Without ``group`` GROUP is "Total" on every row.

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
    if group is None:
        labels = pd.Series(SINGLE_GROUP, index=subjects.index, dtype="str")
        levels = [SINGLE_GROUP]
    else:
        if group not in subjects.columns:
            raise DerivationError(f"table1: ADSL has no group variable {group}")
        labels = _group_text(subjects[group])
        subjects = subjects[labels.notna().to_numpy()]
        labels = labels[labels.notna()]
        levels = group_levels(labels, order)
    columns = [(g, labels.eq(g).to_numpy()) for g in levels]
    if group is not None and total:
        columns.append((SINGLE_GROUP, np.ones(len(subjects), dtype=bool)))
    ids = subjects["USUBJID"]
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
            text = values.astype("str").fillna("Missing")
            categories = sorted(set(text))
            for category in categories:
                for name_, mask in columns:
                    total_n = int(mask.sum())
                    count = int(text[mask].eq(category).sum())
                    pct = 100.0 * count / total_n if total_n else np.nan
                    out.append(
                        {
                            "CHARACTERISTIC": f"{label}: {category}",
                            "STATISTIC": "n (%)",
                            "GROUP": name_,
                            "VALUE": f"{count} ({format_fixed(pct, 1)}%)",
                            "N": total_n,
                            "COUNT": count,
                            "PCT": pct,
                        }
                    )
            continue
        for name_, mask in columns:
            numbers = pd.to_numeric(values[mask], errors="coerce").astype("float64").dropna()
            mean = float(numbers.mean()) if len(numbers) else np.nan
            sd = float(numbers.std(ddof=1)) if len(numbers) > 1 else np.nan
            out.append(
                {
                    "CHARACTERISTIC": label,
                    "STATISTIC": "mean ± SD",
                    "GROUP": name_,
                    "VALUE": f"{format_fixed(mean, digits)} ± {format_fixed(sd, digits)}",
                    "N": len(numbers),
                    "MEAN": mean,
                    "SD": sd,
                }
            )
    return pd.DataFrame(out, columns=TABLE1_COLUMNS)
