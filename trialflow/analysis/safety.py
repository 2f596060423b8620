"""Safety summaries: adverse events by subject, by event and per infusion; safety parameters
by visit.

:func:`ae_summary` counts the treatment-emergent adverse events (ADAE TRTEMFL = "Y") of the
safety population, one row per preferred term (AEDECOD, with its AEBODSYS) and infusion, and
two overall rows first (any TEAE, any serious TEAE). An event belongs to the infusion before
it (ADAE INFNUM, the nearest infusion on or before its start date) and follows it *within the
interval* when it starts on the infusion's date or at most ``within_days`` days later (ADAE
INFDAYS from 0 to ``within_days``): ADAE holds the start as a date, so the interval is
counted in days. The infusions given come from ADSL NINFUS: infusion k was given to every
subject with NINFUS >= k. Columns (:data:`AE_SUMMARY_COLUMNS`):

* INFUSION: ``1``, ``2``, ... (the subject's k-th infusion given) or ``ALL``.
* N_SUBJECTS: subjects at risk (ALL: the population; k: the subjects who received infusion k).
* SUBJECTS, PCT_SUBJECTS, EVENTS: subjects with at least one such event (after infusion k),
  their percentage of N_SUBJECTS, and the number of events.
* N_INFUSIONS: infusions given (k: N_SUBJECTS; ALL: all infusions of the population).
* INFUSIONS_WITH_AE, PCT_INFUSIONS: infusions followed by at least one such event before
  the next infusion (or ever, after the last), and their percentage of N_INFUSIONS.
* SUBJECTS_WITHIN, EVENTS_WITHIN, INFUSIONS_WITH_AE_WITHIN, PCT_INFUSIONS_WITHIN: the same
  for the events within the interval; WITHIN_DAYS is the interval.

:func:`safety_by_visit` is :func:`trialflow.analysis.summary.cfb_summary` of the safety
parameters (labs, vital signs) in the safety population, with the dataset named.

Example:
    >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"], "NINFUS": [2.0, 1.0], "SAFFL": ["Y", "Y"]})
    >>> adae = pd.DataFrame({"USUBJID": ["1", "1"], "AEBODSYS": ["Gen"] * 2,
    ...                      "AEDECOD": ["Pyrexia"] * 2, "TRTEMFL": ["Y", "Y"],
    ...                      "INFNUM": [1.0, 2.0], "INFDAYS": [0.0, 5.0]})
    >>> out, notes, findings = ae_summary(adae, adsl, within_days=1)
    >>> rows = out[out["AEDECOD"] == "Pyrexia"]
    >>> rows[["INFUSION", "N_INFUSIONS", "INFUSIONS_WITH_AE", "INFUSIONS_WITH_AE_WITHIN"]].values.tolist()
    [['1', 2, 1, 1], ['2', 1, 1, 0], ['ALL', 3, 2, 1]]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from trialflow.analysis.summary import SUMMARY_COLUMNS, TIMEPOINT_COLUMNS, cfb_summary
from trialflow.errors import DerivationError, Finding

AE_SUMMARY_COLUMNS = [
    "AEBODSYS", "AEDECOD", "INFUSION", "N_SUBJECTS", "SUBJECTS", "PCT_SUBJECTS", "EVENTS",
    "N_INFUSIONS", "INFUSIONS_WITH_AE", "PCT_INFUSIONS", "SUBJECTS_WITHIN", "EVENTS_WITHIN",
    "INFUSIONS_WITH_AE_WITHIN", "PCT_INFUSIONS_WITHIN", "WITHIN_DAYS",
]  # fmt: skip
"""ae_summary.csv columns (see the module docstring)."""

ANY_TEAE = "Any treatment-emergent adverse event"
ANY_SERIOUS = "Any serious treatment-emergent adverse event"
NOT_CODED = "(not coded)"

SAFETY_COLUMNS = ["DATASET", *SUMMARY_COLUMNS]
"""safety_by_visit.csv columns: the dataset, then cfb_summary.csv's."""

_COUNTS = [
    "SUBJECTS", "EVENTS", "INFUSIONS_WITH_AE", "SUBJECTS_WITHIN", "EVENTS_WITHIN",
    "INFUSIONS_WITH_AE_WITHIN",
]  # fmt: skip


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].astype("str").str.strip().eq("Y").fillna(False)


def _text(values: pd.Series) -> pd.Series:
    out = values.astype("str").str.strip()
    return out.where(out.ne("") & values.notna(), None)


def _counts(events: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Subjects, events and infusions followed, per ``keys`` (all and within the interval)."""
    dated = events[events["INFNUM"].notna().to_numpy()]
    within = events[events["_WITHIN"].to_numpy()]

    def per(frame: pd.DataFrame, suffix: str) -> pd.DataFrame:
        grouped = frame.groupby(keys, sort=False, dropna=False)
        return pd.DataFrame(
            {f"SUBJECTS{suffix}": grouped["USUBJID"].nunique(), f"EVENTS{suffix}": grouped.size()}
        )

    def infusions(frame: pd.DataFrame, suffix: str) -> pd.Series:
        pairs = frame.drop_duplicates([*keys, "USUBJID", "INFNUM"])
        return pairs.groupby(keys, sort=False, dropna=False).size().rename(
            f"INFUSIONS_WITH_AE{suffix}"
        )

    return pd.concat(
        [
            per(events, ""),
            infusions(dated, ""),
            per(within, "_WITHIN")[["SUBJECTS_WITHIN", "EVENTS_WITHIN"]],
            infusions(within, "_WITHIN"),
        ],
        axis=1,
    )


def ae_summary(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    within_days: int,
    population: str = "SAFFL",
) -> tuple[pd.DataFrame, list[str], list[Finding]]:
    """Treatment-emergent adverse events by term and infusion (see the module docstring).

    Returns the table (:data:`AE_SUMMARY_COLUMNS`), notes for the report (what was counted
    and what not) and findings: a TEAE without a preferred term is counted as
    ``(not coded)`` (``analysis-ae-not-coded``); one without a preceding infusion counts in
    the ALL rows only (``analysis-ae-no-infusion``).

    Example:
        >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"], "NINFUS": [2.0, 1.0], "SAFFL": ["Y", "Y"]})
        >>> adae = pd.DataFrame({"USUBJID": ["1", "1"], "AEBODSYS": ["Gen"] * 2,
        ...                      "AEDECOD": ["Pyrexia"] * 2, "TRTEMFL": ["Y", "Y"],
        ...                      "INFNUM": [1.0, 2.0], "INFDAYS": [0.0, 5.0]})
        >>> out, notes, findings = ae_summary(adae, adsl, within_days=1)
        >>> rows = out[out["AEDECOD"] == "Pyrexia"]
        >>> columns = ["INFUSION", "N_INFUSIONS", "INFUSIONS_WITH_AE", "INFUSIONS_WITH_AE_WITHIN"]
        >>> rows[columns].values.tolist()  # 3 infusions given, 2 followed by the AE, 1 within a day
        [['1', 2, 1, 1], ['2', 1, 1, 0], ['ALL', 3, 2, 1]]
    """
    if within_days < 0:
        raise DerivationError(f"ae_summary: within_days must be 0 or more, not {within_days}")
    needed = ["USUBJID", "AEDECOD", "TRTEMFL", "INFNUM", "INFDAYS"]
    missing = [c for c in needed if c not in adae.columns]
    if missing:
        raise DerivationError(f"ae_summary: ADAE has no {', '.join(missing)}")
    for column in ("USUBJID", "NINFUS", population):
        if column not in adsl.columns:
            raise DerivationError(f"ae_summary: ADSL has no {column}")
    findings: list[Finding] = []

    subjects = adsl[_flag(adsl, population).to_numpy()]
    ids = _text(subjects["USUBJID"])
    doses = pd.to_numeric(subjects["NINFUS"], errors="coerce").fillna(0).astype("int64")
    n_subjects = len(subjects)
    top = int(doses.max()) if n_subjects else 0
    given = {k: int((doses >= k).sum()) for k in range(1, top + 1)}

    records = adae.assign(
        USUBJID=_text(adae["USUBJID"]),
        _RECORD=np.arange(1, len(adae) + 1),
        INFNUM=pd.to_numeric(adae["INFNUM"], errors="coerce"),
        INFDAYS=pd.to_numeric(adae["INFDAYS"], errors="coerce"),
    )
    in_population = records["USUBJID"].isin(set(ids.dropna())).to_numpy()
    emergent = _flag(records, "TRTEMFL").to_numpy()
    teae = records[in_population & emergent]
    counted = len(teae)
    before = int((in_population & ~emergent & _flag(records, "PREFL").to_numpy()).sum())
    notes = [
        f"ADAE: {len(records)} record(s); {counted} treatment-emergent (TRTEMFL = Y) of "
        f"{population} = Y subjects counted; {before} before the first infusion (PREFL = Y) "
        f"and {len(records) - counted - before} other record(s) (after the treatment-emergent "
        f"period, undecided or outside {population}) not counted.",
        f"Within the interval: the adverse event starts on the infusion's date or up to "
        f"{within_days} day(s) after it (ADAE INFDAYS 0 to {within_days}). ADAE holds start "
        "dates, not times, so the interval is counted in days and an event on the day of an "
        "infusion counts as following it.",
        f"Infusions given: from ADSL NINFUS ({sum(given.values())} infusion(s) to "
        f"{n_subjects} subject(s)); infusion k is the subject's k-th infusion given.",
    ]

    decod = _text(teae["AEDECOD"]) if "AEDECOD" in teae.columns else None
    uncoded = decod.isna().to_numpy() if decod is not None else np.ones(len(teae), bool)
    for pos in np.flatnonzero(uncoded):
        row = teae.iloc[pos]
        findings.append(
            Finding(
                "analysis-ae-not-coded",
                "warning",
                "treatment-emergent adverse event without a preferred term (AEDECOD) is "
                f"counted as {NOT_CODED}",
                dataset="ADAE",
                variable="AEDECOD",
                record=int(row["_RECORD"]),
                usubjid=str(row["USUBJID"]),
                value=str(row.get("AETERM", "")),
            )
        )
    undated = teae["INFNUM"].isna().to_numpy()
    for pos in np.flatnonzero(undated):
        row = teae.iloc[pos]
        findings.append(
            Finding(
                "analysis-ae-no-infusion",
                "warning",
                "treatment-emergent adverse event with no infusion on or before its start "
                "(INFNUM empty): counted in the ALL rows only",
                dataset="ADAE",
                variable="INFNUM",
                record=int(row["_RECORD"]),
                usubjid=str(row["USUBJID"]),
            )
        )
    soc = _text(teae["AEBODSYS"]) if "AEBODSYS" in teae.columns else None
    teae = teae.assign(
        AEDECOD=(decod if decod is not None else pd.Series(None, index=teae.index)).fillna(
            NOT_CODED
        ),
        AEBODSYS=(soc if soc is not None else pd.Series(None, index=teae.index)).fillna(""),
        _WITHIN=(teae["INFDAYS"] >= 0).fillna(False) & (teae["INFDAYS"] <= within_days).fillna(
            False
        ),
    )

    # Each event counts once under "any TEAE", once under its term, and once under "any
    # serious TEAE" when serious.
    overall = teae.assign(_ORDER=0, AEBODSYS="", AEDECOD=ANY_TEAE)
    parts = [overall]
    categories = [(0, "", ANY_TEAE)]
    if "AESER" in teae.columns:
        serious = teae[_flag(teae, "AESER").to_numpy()]
        parts.append(serious.assign(_ORDER=1, AEBODSYS="", AEDECOD=ANY_SERIOUS))
        categories.append((1, "", ANY_SERIOUS))
    parts.append(teae.assign(_ORDER=2))
    events = pd.concat(parts, ignore_index=True)
    terms = teae[["AEBODSYS", "AEDECOD"]].drop_duplicates().sort_values(["AEBODSYS", "AEDECOD"])
    keys = ["_ORDER", "AEBODSYS", "AEDECOD"]
    frame = pd.concat(
        [pd.DataFrame(categories, columns=keys), terms.assign(_ORDER=2)[keys]], ignore_index=True
    )

    infusions = [str(k) for k in range(1, top + 1)] + ["ALL"]
    grid = frame.merge(pd.DataFrame({"INFUSION": infusions}), how="cross")
    per_infusion = _counts(events.assign(INFUSION=events["INFNUM"].map(_infusion_label)),
                           [*keys, "INFUSION"])  # fmt: skip
    all_infusions = _counts(events.assign(INFUSION="ALL"), [*keys, "INFUSION"])
    counts = pd.concat([per_infusion, all_infusions]).reset_index()
    out = grid.merge(counts, on=[*keys, "INFUSION"], how="left")
    out[_COUNTS] = out[_COUNTS].fillna(0).astype("int64")
    at_risk = out["INFUSION"].map({str(k): n for k, n in given.items()})
    out["N_SUBJECTS"] = at_risk.fillna(n_subjects).astype("int64")
    out["N_INFUSIONS"] = at_risk.fillna(sum(given.values())).astype("int64")
    out["PCT_SUBJECTS"] = _percent(out["SUBJECTS"], out["N_SUBJECTS"])
    out["PCT_INFUSIONS"] = _percent(out["INFUSIONS_WITH_AE"], out["N_INFUSIONS"])
    out["PCT_INFUSIONS_WITHIN"] = _percent(out["INFUSIONS_WITH_AE_WITHIN"], out["N_INFUSIONS"])
    out["WITHIN_DAYS"] = within_days
    return out[AE_SUMMARY_COLUMNS].reset_index(drop=True), notes, findings


def _infusion_label(value: float) -> str | None:
    return None if pd.isna(value) else str(int(value))


def _percent(count: pd.Series, total: pd.Series) -> pd.Series:
    total = total.astype("float64")
    return (100.0 * count.astype("float64") / total).where(total > 0)


def safety_by_visit(
    datasets: Mapping[str, pd.DataFrame],
    parameters: Sequence[tuple[str, Sequence[str]]],
    *,
    quantile_method: str,
    test_method: str,
    population: str = "SAFFL",
    conf_level: float = 0.95,
    group: str | None = None,
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """AVAL and CHG of the safety parameters by analysis visit, with the signed-rank test.

    ``parameters`` are (dataset, PARAMCDs) pairs, e.g. ``("ADLB", ["WBC", "ALT"])``; each is
    summarised by :func:`trialflow.analysis.summary.cfb_summary` (the analysis records,
    ANL01FL = "Y", of the ``population`` flag's subjects; by ``group`` in ``order`` and by
    time point when the dataset has ATPTN, whose columns then follow PARAMCD) and the rows
    get DATASET first.

    Example:
        >>> adlb = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["WBC"] * 2,
        ...                      "AVISITN": [0.0, 2.0], "AVISIT": ["BASELINE", "DAY 14"],
        ...                      "AVAL": [6.1, 7.4], "CHG": [None, 1.3], "ANL01FL": ["Y"] * 2,
        ...                      "SAFFL": ["Y"] * 2})
        >>> out = safety_by_visit({"ADLB": adlb}, [("ADLB", ["WBC"])], quantile_method="spss",
        ...                       test_method="spss")
        >>> out[["DATASET", "AVISIT", "VAR", "N", "MEDIAN"]].values.tolist()
        [['ADLB', 'BASELINE', 'AVAL', 1, 6.1], ['ADLB', 'DAY 14', 'AVAL', 1, 7.4], ['ADLB', 'DAY 14', 'CHG', 1, 1.3]]
    """  # noqa: E501
    parts = []
    for dataset, paramcds in parameters:
        bds = datasets.get(dataset)
        if bds is None:
            raise DerivationError(f"safety: dataset {dataset} was not derived")
        summary = cfb_summary(
            bds,
            list(paramcds),
            quantile_method=quantile_method,
            population=population,
            conf_level=conf_level,
            test_method=test_method,
            group=group,
            order=order,
        )
        parts.append(summary.assign(DATASET=dataset))
    if not parts:
        return pd.DataFrame(columns=SAFETY_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    columns = SAFETY_COLUMNS
    if "ATPTN" in out.columns:
        columns = [*SAFETY_COLUMNS[:2], *TIMEPOINT_COLUMNS, *SAFETY_COLUMNS[2:]]
    return out[columns]
