"""The dose analysis: subjects per category of dose change by visit, medication changes by
class, and the sentences of the report, from ADDOSE (:mod:`trialflow.adam.dose`).

* :func:`dose_categories` (dose_categories.csv): per post-baseline visit and category of
  AVALCAT1 of one parameter, the subjects in it (``n``), the subjects with a category at that
  visit (``N``) and ``PERCENT`` = 100 x n / N. Every declared category is listed, with 0 when
  no subject is in it.
* :func:`dose_changes` (dose_changes.csv): per visit and class of agents (an ADDOSE parameter
  each), among the subjects on the class at baseline (BASE > 0) with a value at the visit:
  ``REDUCED`` (0 < AVAL < BASE), ``STOPPED`` (AVAL = 0), ``UNCHANGED`` (AVAL = BASE) and
  ``INCREASED`` (AVAL > BASE); for the class withdrawn at a threshold, ``THRESHOLD MET`` (the
  threshold criterion's flag is Y at the visit) and ``WITHDRAWN AT THRESHOLD`` (stopped at the
  visit, having met the threshold at the last visit before it with the class still given).
* :func:`dose_sentences`: one sentence per visit, "At DAY 28, all 16 subjects had reduced
  their dose by at least 10 %: ..." built from the counts.

The subjects counted are those of the ``population`` flag (Y), records with ANL01FL = Y.

Example:
    >>> addose = pd.DataFrame({"USUBJID": ["1", "2", "1", "2"], "PARAMCD": ["TOTDDD"] * 4,
    ...     "AVISITN": [1.0, 1.0, 4.0, 4.0], "AVISIT": ["DAY 0", "DAY 0", "DAY 28", "DAY 28"],
    ...     "AVAL": [2.0, 1.0, 1.0, 0.95], "BASE": [2.0, 1.0, 2.0, 1.0],
    ...     "AVALCA1N": [None, None, 2.0, 4.0],
    ...     "AVALCAT1": [None, None, ">=50% REDUCTION", "<10% REDUCTION OR INCREASE"],
    ...     "FASFL": ["Y"] * 4, "ANL01FL": ["Y"] * 4})
    >>> cats = [(1, "DISCONTINUED"), (2, ">=50% REDUCTION"), (3, "10-<50% REDUCTION"),
    ...         (4, "<10% REDUCTION OR INCREASE")]
    >>> table = dose_categories(addose, "TOTDDD", cats)
    >>> table[["AVISIT", "AVALCAT1", "n", "N", "PERCENT"]].values.tolist()[1:]
    [['DAY 28', '>=50% REDUCTION', 1, 2, 50.0], ['DAY 28', '10-<50% REDUCTION', 0, 2, 0.0], \
['DAY 28', '<10% REDUCTION OR INCREASE', 1, 2, 50.0]]
    >>> dose_sentences(table, reduced=[1, 2, 3], stopped=1)
    ['At DAY 28, 1 of 2 subjects had reduced their dose: 10-<50% REDUCTION 0, \
>=50% REDUCTION 1 (50.00%); DISCONTINUED 0.']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from trialflow.numbers import format_fixed

DOSE_CATEGORY_COLUMNS = ["PARAMCD", "AVISITN", "AVISIT", "AVALCA1N", "AVALCAT1", "n", "N",
                         "PERCENT"]  # fmt: skip
"""dose_categories.csv columns."""

DOSE_CHANGE_COLUMNS = ["AVISITN", "AVISIT", "CLASS", "PARAMCD", "CHANGE", "n", "N", "PERCENT"]
"""dose_changes.csv columns."""

CHANGES = ("REDUCED", "STOPPED", "UNCHANGED", "INCREASED")
"""The changes of :func:`dose_changes`, in table order (then the withdrawal rows)."""

_WITHDRAWAL = ("THRESHOLD MET", "WITHDRAWN AT THRESHOLD")


def _flag(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None or column not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return frame[column].astype("str").str.strip().eq("Y").fillna(False).to_numpy(dtype=bool)


def _records(addose: pd.DataFrame, paramcd: str, population: str | None) -> pd.DataFrame:
    keep = addose["PARAMCD"].eq(paramcd).fillna(False).to_numpy(dtype=bool)
    keep = keep & _flag(addose, population) & _flag(addose, "ANL01FL")
    rows = addose[keep]
    return rows.assign(
        AVISITN=pd.to_numeric(rows["AVISITN"], errors="coerce"),
        AVAL=pd.to_numeric(rows["AVAL"], errors="coerce"),
        BASE=pd.to_numeric(rows["BASE"], errors="coerce"),
    )


def _percent(n: pd.Series, total: pd.Series) -> pd.Series:
    total = total.astype("float64")
    return (100.0 * n.astype("float64") / total).where(total > 0)


def _visits(rows: pd.DataFrame) -> pd.DataFrame:
    """The post-baseline visits of ``rows`` (records without ABLFL), in AVISITN order."""
    post = rows[~_flag(rows, "ABLFL")] if "ABLFL" in rows.columns else rows
    return (
        post[["AVISITN", "AVISIT"]]
        .dropna()
        .drop_duplicates("AVISITN")
        .sort_values("AVISITN", kind="stable")
    )


def dose_categories(
    addose: pd.DataFrame,
    paramcd: str,
    categories: Sequence[tuple[int, str]],
    *,
    population: str | None = "FASFL",
) -> pd.DataFrame:
    """Subjects per AVALCAT1 category of ``paramcd`` at each visit with a category.

    ``categories`` are the declared (AVALCA1N, AVALCAT1) pairs, listed in that order at every
    visit. Columns: :data:`DOSE_CATEGORY_COLUMNS`. Example: see the module docstring.
    """
    rows = _records(addose, paramcd, population)
    rows = rows[rows["AVALCAT1"].notna().to_numpy()]
    visits = _visits(rows)
    order = pd.DataFrame(categories, columns=["AVALCA1N", "AVALCAT1"])
    grid = visits.merge(order, how="cross")
    n = rows.groupby(["AVISITN", "AVALCAT1"])["USUBJID"].nunique().rename("n").reset_index()
    total = rows.groupby("AVISITN")["USUBJID"].nunique().rename("N").reset_index()
    table = grid.merge(n, on=["AVISITN", "AVALCAT1"], how="left").merge(
        total, on="AVISITN", how="left"
    )
    table["n"] = table["n"].fillna(0).astype("int64")
    table["N"] = table["N"].fillna(0).astype("int64")
    table["PERCENT"] = _percent(table["n"], table["N"])
    table["PARAMCD"] = paramcd
    table["AVALCA1N"] = table["AVALCA1N"].astype("int64")
    return table[DOSE_CATEGORY_COLUMNS].reset_index(drop=True)


def dose_changes(
    addose: pd.DataFrame,
    classes: Mapping[str, str],
    *,
    withdrawal: tuple[str, str, str] | None = None,
    population: str | None = "FASFL",
) -> pd.DataFrame:
    """Medication changes by class of agents at each post-baseline visit.

    ``classes``: label -> the ADDOSE PARAMCD of the class's daily dose. ``withdrawal``:
    (label of the class, PARAMCD of its per-kg dose, its criterion flag variable, e.g.
    CRIT3FL) adds the withdrawal rows. Columns: :data:`DOSE_CHANGE_COLUMNS`.

    Example:
        >>> addose = pd.DataFrame({"USUBJID": ["1"] * 4, "AVISITN": [1.0, 4.0, 1.0, 4.0],
        ...     "AVISIT": ["DAY 0", "DAY 28"] * 2, "PARAMCD": ["INS", "INS", "INSKG", "INSKG"],
        ...     "AVAL": [20.0, 0.0, 0.25, 0.0], "BASE": [20.0, 20.0, 0.25, 0.25],
        ...     "ABLFL": ["Y", None, "Y", None], "CRIT3FL": [None, None, "N", "Y"]})
        >>> t = dose_changes(addose, {"Insulin": "INS"}, population=None)
        >>> t[["AVISIT", "CHANGE", "n", "N"]].values.tolist()
        [['DAY 28', 'REDUCED', 0, 1], ['DAY 28', 'STOPPED', 1, 1], ['DAY 28', 'UNCHANGED', 0, 1], \
['DAY 28', 'INCREASED', 0, 1]]
    """
    parts = []
    for label, paramcd in classes.items():
        rows = _records(addose, paramcd, population)
        on = rows[rows["BASE"].gt(0).fillna(False).to_numpy() & rows["AVAL"].notna().to_numpy()]
        on = on[~_flag(on, "ABLFL")] if "ABLFL" in on.columns else on
        change = np.select(
            [on["AVAL"].eq(0), on["AVAL"].lt(on["BASE"]), on["AVAL"].eq(on["BASE"])],
            ["STOPPED", "REDUCED", "UNCHANGED"],
            "INCREASED",
        )
        on = on.assign(CHANGE=change)
        withdrawn = withdrawal is not None and withdrawal[0] == label
        extra = _withdrawal_rows(addose, on, withdrawal, population) if withdrawn else []
        names = [*CHANGES, *(_WITHDRAWAL if withdrawn else ())]
        grid = _visits(rows).merge(pd.DataFrame({"CHANGE": names}), how="cross")
        counted = pd.concat([on[["USUBJID", "AVISITN", "CHANGE"]], *extra], ignore_index=True)
        n = counted.groupby(["AVISITN", "CHANGE"])["USUBJID"].nunique().rename("n").reset_index()
        total = on.groupby("AVISITN")["USUBJID"].nunique().rename("N").reset_index()
        table = grid.merge(n, on=["AVISITN", "CHANGE"], how="left").merge(
            total, on="AVISITN", how="left"
        )
        parts.append(table.assign(CLASS=label, PARAMCD=paramcd))
    if not parts:
        return pd.DataFrame(columns=DOSE_CHANGE_COLUMNS)
    table = pd.concat(parts, ignore_index=True)
    table["n"] = table["n"].fillna(0).astype("int64")
    table["N"] = table["N"].fillna(0).astype("int64")
    table["PERCENT"] = _percent(table["n"], table["N"])
    table["_C"] = table["CLASS"].map({c: i for i, c in enumerate(classes)})
    table["_R"] = table["CHANGE"].map({c: i for i, c in enumerate([*CHANGES, *_WITHDRAWAL])})
    table = table.sort_values(["AVISITN", "_C", "_R"], kind="stable")
    return table[DOSE_CHANGE_COLUMNS].reset_index(drop=True)


def _withdrawal_rows(
    addose: pd.DataFrame,
    on: pd.DataFrame,
    withdrawal: tuple[str, str, str],
    population: str | None,
) -> list[pd.DataFrame]:
    """(USUBJID, AVISITN, CHANGE) of THRESHOLD MET and WITHDRAWN AT THRESHOLD."""
    _label, per_kg, flag = withdrawal
    kg = _records(addose, per_kg, population)
    if flag not in kg.columns:
        return []
    met = kg[_flag(kg, flag)][["USUBJID", "AVISITN"]]
    met = met.merge(on[["USUBJID", "AVISITN"]], on=["USUBJID", "AVISITN"])  # on the class then
    # the last earlier visit with the class still given met the threshold
    given = kg[kg["AVAL"].gt(0).fillna(False).to_numpy()][["USUBJID", "AVISITN"]]
    given = given.assign(_MET=given.set_index(["USUBJID", "AVISITN"]).index.isin(
        kg[_flag(kg, flag)].set_index(["USUBJID", "AVISITN"]).index))  # fmt: skip
    stopped = on[on["CHANGE"].eq("STOPPED").to_numpy()][["USUBJID", "AVISITN"]]
    pairs = stopped.merge(given.rename(columns={"AVISITN": "_BEFORE"}), on="USUBJID")
    pairs = pairs[pairs["_BEFORE"] < pairs["AVISITN"]]
    last = pairs.sort_values("_BEFORE").groupby(["USUBJID", "AVISITN"]).tail(1)
    withdrawn = last[last["_MET"].to_numpy(dtype=bool)][["USUBJID", "AVISITN"]]
    return [
        met.assign(CHANGE="THRESHOLD MET"),
        withdrawn.assign(CHANGE="WITHDRAWN AT THRESHOLD"),
    ]


def dose_sentences(
    categories: pd.DataFrame,
    reduced: Sequence[int],
    *,
    noun: str = "subjects",
    stopped: int | None = None,
) -> list[str]:
    """One sentence per visit of :func:`dose_categories`'s table: how many subjects reduced
    their dose (the categories whose AVALCA1N is in ``reduced``) and how many were in each of
    them, the smaller reductions first and the category ``stopped`` (AVALCA1N; no agent left)
    last; percentages of the visit's N with two decimals (SAS rounding).

    Example: see the module docstring.
    """
    out = []
    for (_, visit), rows in categories.groupby(["AVISITN", "AVISIT"], sort=True):
        total = int(rows["N"].max()) if len(rows) else 0
        if total == 0:
            continue
        is_reduced = rows["AVALCA1N"].isin(list(reduced)).to_numpy()
        n_reduced = int(rows.loc[is_reduced, "n"].sum())
        if n_reduced == total:
            who = f"all {total} {noun}"
        elif n_reduced == 0:
            who = f"none of the {total} {noun}"
        else:
            who = f"{n_reduced} of {total} {noun}"
        shown = rows[is_reduced].sort_values("AVALCA1N", ascending=False, kind="stable")
        texts = []
        for label, number, n in zip(shown["AVALCAT1"], shown["AVALCA1N"], shown["n"],
                                    strict=True):  # fmt: skip
            pct = f" ({format_fixed(100.0 * int(n) / total, 2)}%)" if n else ""
            texts.append((number == stopped, f"{label} {int(n)}{pct}"))
        text = ", ".join(t for last, t in texts if not last)
        ends = [t for last, t in texts if last]
        if ends:
            text += "; " + "; ".join(ends)
        out.append(f"At {visit}, {who} had reduced their dose: {text}.")
    return out
