"""BDS derivations with admiral's semantics: extreme flags, BASE, CHG/PCHG, computed parameters.

Every derivation takes a dataset and returns a new one: the required columns are checked first
(a :class:`DerivationError` names the function and the missing columns), the input frame is
never modified and the input row order is kept. Arguments follow admiral's vocabulary:

* ``by_vars`` and ``order`` are lists of column names; a descending key is ``desc("AVAL")``.
  Missing values sort last for ascending and descending keys alike, and ties keep the input
  row order (admiral's ``arrange``).
* ``filter`` is a boolean Series aligned with the dataset, or a callable that takes the dataset
  and returns one; missing values in it count as False.
* :func:`restrict` is admiral's ``restrict_derivation``: run a derivation on a subset of the
  records and put the result back.

HOMA indices (not in admiral) are plain ``compute_*`` functions, vectorised over Series and
arrays, to be used as the ``compute`` argument of :func:`derive_param_computed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from trialflow.errors import DerivationError
from trialflow.numbers import sas_round

__all__ = [
    "DerivationError",
    "Desc",
    "compute_homa_b_cpeptide",
    "compute_homa_b_insulin",
    "compute_homa_ir_cpeptide",
    "compute_homa_ir_insulin",
    "derive_param_computed",
    "derive_var_base",
    "derive_var_chg",
    "derive_var_extreme_flag",
    "derive_var_pchg",
    "desc",
    "restrict",
]

FilterArg = pd.Series | np.ndarray | Callable[[pd.DataFrame], Any] | None
Digits = int | str | None
"""Decimals to round to: one number for every record, or the name of a column holding each
record's (missing: the function's rule for undeclared precision)."""
ArrayLike = pd.Series | np.ndarray | Sequence[float] | float


@dataclass(frozen=True)
class Desc:
    """A descending sort key for ``order``; build it with :func:`desc`.

    Example:
        >>> Desc("AVAL").name
        'AVAL'
    """

    name: str


def desc(name: str) -> Desc:
    """Mark the column ``name`` as a descending key in ``order`` (missing values still last).

    Example:
        >>> desc("AVAL")
        Desc(name='AVAL')
    """
    return Desc(name)


# ---------------------------------------------------------------------------------------------
# argument checks shared by the derivations


def _names(value: Sequence[str], arg: str, where: str) -> list[str]:
    """``value`` as a list of column names; a bare string is a usage error."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise DerivationError(f"{where}: {arg} must be a list of column names, not {value!r}")
    names = list(value)
    bad = [v for v in names if not isinstance(v, str)]
    if bad:
        raise DerivationError(f"{where}: {arg} must hold column names, got {bad[0]!r}")
    return names


def _order_keys(order: Sequence[str | Desc], where: str) -> tuple[list[str], list[bool]]:
    """Column names and ascending flags from an ``order`` list of names and ``desc()`` keys."""
    if isinstance(order, str | Desc) or not isinstance(order, Sequence):
        raise DerivationError(f"{where}: order must be a list of column names or desc() keys")
    names: list[str] = []
    ascending: list[bool] = []
    for key in order:
        if isinstance(key, Desc):
            names.append(key.name)
            ascending.append(False)
        elif isinstance(key, str):
            names.append(key)
            ascending.append(True)
        else:
            raise DerivationError(
                f"{where}: order keys must be column names or desc(name), got {key!r}"
            )
    return names, ascending


def _require(dataset: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """Raise DerivationError naming every column of ``columns`` missing from ``dataset``."""
    if not isinstance(dataset, pd.DataFrame):
        raise DerivationError(f"{where}: dataset must be a pandas DataFrame")
    missing = [c for c in dict.fromkeys(columns) if c not in dataset.columns]
    if missing:
        raise DerivationError(
            f"{where}: required column(s) missing from the dataset: {', '.join(missing)}"
        )


def _filter_mask(dataset: pd.DataFrame, filter: FilterArg, where: str) -> np.ndarray:
    """The ``filter`` argument as a boolean numpy array, one entry per record (NA -> False)."""
    if filter is None:
        return np.ones(len(dataset), dtype=bool)
    value = filter(dataset) if callable(filter) else filter
    if isinstance(value, pd.Series):
        if not value.index.equals(dataset.index):
            same_labels = (
                value.index.is_unique
                and dataset.index.is_unique
                and len(value) == len(dataset)
                and value.index.isin(dataset.index).all()
            )
            if not same_labels:
                raise DerivationError(f"{where}: filter must be aligned with the dataset's index")
            value = value.reindex(dataset.index)
        series = value
    else:
        array = np.asarray(value)
        if array.shape != (len(dataset),):
            raise DerivationError(f"{where}: filter must give one value per record")
        series = pd.Series(array, index=dataset.index)
    try:
        flags = series.astype("boolean")
    except (TypeError, ValueError):
        raise DerivationError(f"{where}: filter must hold True/False values") from None
    return flags.fillna(False).to_numpy(dtype=bool)


def _tmp_name(dataset: pd.DataFrame, stem: str) -> str:
    """A column name not used in ``dataset``."""
    name = f"__trialflow_{stem}__"
    while name in dataset.columns:
        name += "_"
    return name


def _describe_group(keys: pd.Series) -> str:
    """``USUBJID='01', PARAMCD='SYSBP'`` for one row of by-variable values."""
    return ", ".join(f"{k}={None if pd.isna(v) else v!r}" for k, v in keys.items())


# ---------------------------------------------------------------------------------------------
# derivations


def derive_var_extreme_flag(
    dataset: pd.DataFrame,
    *,
    by_vars: Sequence[str],
    order: Sequence[str | Desc],
    new_var: str,
    mode: Literal["first", "last"] = "last",
    filter: FilterArg = None,
    true_value: Any = "Y",
) -> pd.DataFrame:
    """Flag the first or last record of each ``by_vars`` group in ``order``.

    Only records in ``filter`` are candidates; the chosen record gets ``true_value`` in
    ``new_var`` and every other record gets null. Missing order values sort last (so with
    ``mode="last"`` a record with a missing date wins, as in admiral: filter those out). Ties
    are broken by the input row order.

    Example:
        >>> df = pd.DataFrame({"USUBJID": ["1", "1", "2"], "ADY": [-3, -1, -2]})
        >>> out = derive_var_extreme_flag(df, by_vars=["USUBJID"], order=["ADY"],
        ...                               new_var="ABLFL", mode="last")
        >>> out["ABLFL"].tolist()
        [nan, 'Y', 'Y']
    """
    where = "derive_var_extreme_flag"
    by = _names(by_vars, "by_vars", where)
    order_names, ascending = _order_keys(order, where)
    if mode not in ("first", "last"):
        raise DerivationError(f"{where}: mode must be 'first' or 'last', not {mode!r}")
    _require(dataset, [*by, *order_names], where)
    keep = _filter_mask(dataset, filter, where)

    pos = _tmp_name(dataset, "row")
    candidates = dataset.loc[keep, list(dict.fromkeys([*by, *order_names]))].copy()
    candidates[pos] = np.flatnonzero(keep)
    ordered = candidates.sort_values(
        [*order_names, pos], ascending=[*ascending, True], na_position="last", kind="stable"
    )
    if by:
        chosen = ordered.drop_duplicates(subset=by, keep=mode)[pos].to_numpy()
    else:
        chosen = ordered[pos].to_numpy()[[0 if mode == "first" else -1]] if len(ordered) else []

    flag = np.full(len(dataset), None, dtype=object)
    flag[np.asarray(chosen, dtype=np.intp)] = true_value
    return dataset.assign(**{new_var: pd.Series(flag, index=dataset.index)})


def derive_var_base(
    dataset: pd.DataFrame,
    *,
    by_vars: Sequence[str],
    source_var: str = "AVAL",
    new_var: str = "BASE",
    filter: FilterArg = None,
) -> pd.DataFrame:
    """Add ``new_var``: the ``source_var`` of the group's baseline record on every record.

    The baseline record is the one with ``ABLFL == "Y"`` (or in ``filter`` when given). Groups
    without one get null; a group with several is an error that names the group and the number
    of records (the rows are on the error's ``records``). Works for character variables too
    (BASEC from AVALC, BNRIND from ANRIND).

    Example:
        >>> df = pd.DataFrame({"USUBJID": ["1", "1", "2"], "AVAL": [5.0, 7.0, 3.0],
        ...                    "ABLFL": ["Y", None, None]})
        >>> derive_var_base(df, by_vars=["USUBJID"])["BASE"].tolist()
        [5.0, 5.0, nan]
    """
    where = "derive_var_base"
    by = _names(by_vars, "by_vars", where)
    if source_var in by:
        raise DerivationError(f"{where}: source_var {source_var!r} is also in by_vars")
    _require(dataset, [*by, source_var, *([] if filter is not None else ["ABLFL"])], where)
    if filter is None:
        keep = dataset["ABLFL"].eq("Y").fillna(False).to_numpy(dtype=bool)
    else:
        keep = _filter_mask(dataset, filter, where)

    base = dataset.loc[keep, [*by, source_var]]
    if not by:
        if len(base) > 1:
            raise DerivationError(
                f"{where}: input dataset contains {len(base)} baseline records and no by_vars",
                records=dataset.loc[keep],
            )
        column = base[source_var].reindex(dataset.index)
        if len(base):
            column = column.fillna(base[source_var].iloc[0])
        return dataset.assign(**{new_var: column})

    dup = base.duplicated(subset=by, keep=False).to_numpy()
    if dup.any():
        offending = dataset.loc[keep].loc[dup]
        counts = offending.groupby(by, dropna=False, sort=False).size()
        first_keys = pd.Series(
            counts.index[0] if len(by) > 1 else (counts.index[0],), index=by, dtype=object
        )
        more = f" (and {len(counts) - 1} more group(s))" if len(counts) > 1 else ""
        raise DerivationError(
            f"{where}: input dataset contains multiple baseline records with respect to "
            f"{', '.join(by)}: {_describe_group(first_keys)} has {counts.iloc[0]} records"
            f"{more}; see .records",
            records=offending,
        )

    value_col = _tmp_name(dataset, "base")
    right = base.rename(columns={source_var: value_col})
    merged = dataset[by].reset_index(drop=True).merge(right, on=by, how="left", sort=False)
    column = merged[value_col].set_axis(dataset.index)
    return dataset.assign(**{new_var: column})


def _places(dataset: pd.DataFrame, digits: Digits, where: str) -> np.ndarray:
    """The ``digits`` argument as decimals per record (NaN where none is declared)."""
    if digits is None:
        return np.full(len(dataset), np.nan)
    if isinstance(digits, str):
        _require(dataset, [digits], where)
        try:
            values = pd.to_numeric(dataset[digits]).to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError):
            raise DerivationError(
                f"{where}: column {digits} must hold numbers of decimals"
            ) from None
    elif isinstance(digits, int | np.integer) and not isinstance(digits, bool):
        values = np.full(len(dataset), float(digits))
    else:
        raise DerivationError(
            f"{where}: digits must be a number of decimals or a column name, not {digits!r}"
        )
    ok = np.isnan(values) | (values == np.floor(values))
    if not ok.all():
        raise DerivationError(f"{where}: digits must be whole numbers")
    return values


def _exact_difference(aval: pd.Series, base: pd.Series) -> pd.Series:
    """AVAL - BASE without the binary noise of the subtraction.

    Rounded at the 10th significant digit of the larger of |AVAL| and |BASE|: two values with
    the same decimals and up to 10 significant digits (two values of one parameter) give their
    exact decimal difference (9.02 - 5.13 is 3.89, not 3.8899999999999997), so equal changes
    are equal.
    """
    diff = aval - base
    larger = np.maximum(aval.abs(), base.abs()).to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        places = 9 - np.floor(np.log10(larger))
    places = np.where(np.isfinite(places), places, np.nan)
    return sas_round(diff.astype("float64"), places)


def derive_var_chg(
    dataset: pd.DataFrame, *, filter: FilterArg = None, digits: Digits = None
) -> pd.DataFrame:
    """Add CHG = AVAL - BASE on the records in ``filter`` (all records when None), null elsewhere.

    As in admiral the baseline record itself gets 0 unless ``filter`` leaves it out. CHG is
    rounded as SAS's ROUND does to ``digits`` decimals: a number for every record or the name
    of a column holding each record's (the parameter's precision). Where no digits are given,
    CHG is the exact decimal difference of AVAL and BASE (rounded at the 10th significant
    digit of the larger of the two), never the binary noise of the subtraction: two changes
    that are equal at the data's precision are equal, and no change is zero by accident.

    Example:
        >>> df = pd.DataFrame({"AVAL": [5.0, 7.0], "BASE": [5.0, 5.0], "AVISITN": [0, 1]})
        >>> derive_var_chg(df, filter=lambda d: d["AVISITN"] > 0)["CHG"].tolist()
        [nan, 2.0]
        >>> df = pd.DataFrame({"AVAL": [5.13, 6.07], "BASE": [9.02, 9.96]})
        >>> (df["AVAL"] - df["BASE"]).tolist(), derive_var_chg(df, digits=2)["CHG"].tolist()
        ([-3.8899999999999997, -3.8900000000000006], [-3.89, -3.89])
    """
    where = "derive_var_chg"
    _require(dataset, ["AVAL", "BASE"], where)
    keep = _filter_mask(dataset, filter, where)
    places = _places(dataset, digits, where)
    exact = _exact_difference(dataset["AVAL"], dataset["BASE"])
    chg = sas_round(exact, places)  # no digits (NaN): the exact difference as it is
    return dataset.assign(CHG=chg.where(keep))


def derive_var_pchg(
    dataset: pd.DataFrame, *, filter: FilterArg = None, digits: Digits = None
) -> pd.DataFrame:
    """Add PCHG = 100 * (AVAL - BASE) / abs(BASE) on the records in ``filter``.

    PCHG is null when BASE is 0, when AVAL or BASE is null, and outside ``filter``. The
    difference is the exact decimal one (as for CHG); PCHG is rounded as SAS's ROUND does to
    ``digits`` decimals (a number, or a column holding each record's), else to 10
    significant digits.

    Example:
        >>> df = pd.DataFrame({"AVAL": [6.0, 3.0, 7.0], "BASE": [4.0, 0.0, 9.0]})
        >>> derive_var_pchg(df)["PCHG"].tolist()
        [50.0, nan, -22.22222222]
        >>> derive_var_pchg(df, digits=1)["PCHG"].tolist()
        [50.0, nan, -22.2]
    """
    where = "derive_var_pchg"
    _require(dataset, ["AVAL", "BASE"], where)
    keep = _filter_mask(dataset, filter, where)
    places = _places(dataset, digits, where)
    base = dataset["BASE"]
    nonzero = base.ne(0).fillna(False).to_numpy(dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        pchg = 100 * _exact_difference(dataset["AVAL"], base) / base.abs()
    pchg = sas_round(pchg, places).where(~np.isnan(places), sas_round(pchg, significant=10))
    return dataset.assign(PCHG=pchg.where(keep & nonzero))


def derive_param_computed(
    dataset: pd.DataFrame,
    *,
    by_vars: Sequence[str],
    parameters: Sequence[str],
    compute: Callable[[pd.DataFrame], Any],
    set_values_to: Mapping[str, Any],
    constant_parameters: Sequence[str] = (),
    constant_by_vars: Sequence[str] = (),
    keep_sources: bool = False,
) -> pd.DataFrame:
    """Add one record per ``by_vars`` group computed from the AVAL of other parameters.

    ``compute`` gets a DataFrame with one row per group and one column per PARAMCD of
    ``parameters`` (holding that parameter's AVAL) and returns the new AVAL values (a Series
    or array of the same length). A group gets a record only when each parameter has exactly
    one record in it and that record's AVAL is not missing; other groups are skipped silently,
    as in admiral. The new records are appended after the input records; they hold the group's
    ``by_vars`` values, AVAL and ``set_values_to``; every other column is null. With
    ``keep_sources=True`` a column SRCRECS lists the index labels of the records each new
    record was computed from ("," separated, in ``parameters`` then ``constant_parameters``
    order).

    ``constant_parameters`` (admiral's argument of the same name) are parameters measured once
    and used at every group, such as HEIGHT for BMI: their record is looked up by
    ``constant_by_vars`` (a subset of ``by_vars``, typically ``["USUBJID"]``) and must be
    exactly one non-missing record there; ``compute`` sees them as columns too.

    New records get index labels after the largest integer label; a non-integer index is
    replaced by a RangeIndex over the whole result.

    Example:
        >>> df = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["FCP", "FPG"],
        ...                    "AVAL": [700.0, 8.0]})
        >>> out = derive_param_computed(
        ...     df, by_vars=["USUBJID"], parameters=["FCP", "FPG"],
        ...     compute=lambda d: compute_homa_ir_cpeptide(d["FCP"], d["FPG"]),
        ...     set_values_to={"PARAMCD": "HOMAIR"})
        >>> out["PARAMCD"].tolist(), out["AVAL"].tolist()
        (['FCP', 'FPG', 'HOMAIR'], [700.0, 8.0, 3.5])
    """
    where = "derive_param_computed"
    by = _names(by_vars, "by_vars", where)
    params = _names(parameters, "parameters", where)
    if not params:
        raise DerivationError(f"{where}: parameters must name at least one PARAMCD")
    if not isinstance(set_values_to, Mapping):
        raise DerivationError(f"{where}: set_values_to must be a dict of column -> value")
    clash = [c for c in set_values_to if c in by or c == "AVAL"]
    if clash:
        raise DerivationError(
            f"{where}: set_values_to may not set {', '.join(clash)} "
            "(AVAL comes from compute, by_vars from the group)"
        )
    constants = _names(constant_parameters, "constant_parameters", where)
    const_by = _names(constant_by_vars, "constant_by_vars", where)
    if constants and not const_by:
        raise DerivationError(f"{where}: constant_parameters need constant_by_vars")
    if [c for c in const_by if c not in by]:
        raise DerivationError(f"{where}: constant_by_vars must be a subset of by_vars")
    if set(constants) & set(params):
        raise DerivationError(f"{where}: a parameter can't be both constant and per group")
    _require(dataset, [*by, "PARAMCD", "AVAL"], where)

    used = dataset["PARAMCD"].isin(params).fillna(False).to_numpy(dtype=bool)
    sub = dataset.loc[used, [*by, "PARAMCD", "AVAL"]]
    gid_col, label_col = _tmp_name(dataset, "group"), _tmp_name(dataset, "label")
    sub = sub.assign(**{label_col: sub.index.astype(str)})
    if by:
        gid = sub.groupby(by, dropna=False, sort=False).ngroup().to_numpy()
    else:
        gid = np.zeros(len(sub), dtype=np.int64)
    sub = sub.assign(**{gid_col: gid})

    stats = sub.groupby(gid_col, sort=True).agg(
        n=("PARAMCD", "size"), kinds=("PARAMCD", "nunique"), filled=("AVAL", "count")
    )
    k = len(set(params))
    complete = stats.index[(stats["n"] == k) & (stats["kinds"] == k) & (stats["filled"] == k)]
    sub = sub.loc[sub[gid_col].isin(complete).to_numpy()]

    out_cols = list(dataset.columns)
    extra = [c for c in set_values_to if c not in out_cols]
    src_col = "SRCRECS" if keep_sources else None

    if sub.empty:
        out = dataset.copy()
        if src_col is not None:
            out[src_col] = pd.Series(np.nan, index=dataset.index, dtype="str")
        return out

    wide = sub.pivot(index=gid_col, columns="PARAMCD", values="AVAL")
    wide = wide.reindex(columns=list(dict.fromkeys(params)))
    labels = sub.pivot(index=gid_col, columns="PARAMCD", values=label_col)
    labels = labels.reindex(columns=list(dict.fromkeys(params)))
    if constants:
        wide, labels = _with_constants(
            dataset, sub, gid_col, label_col, wide, labels, constants, const_by
        )
        if wide.empty:
            out = dataset.copy()
            if src_col is not None:
                out[src_col] = pd.Series(np.nan, index=dataset.index, dtype="str")
            return out
    wide.columns.name = None
    wide.index.name = None
    order = list(wide.index)
    inputs = wide.reset_index(drop=True)
    result = compute(inputs.copy())
    values = result.to_numpy() if isinstance(result, pd.Series) else np.asarray(result)
    if values.shape != (len(inputs),):
        raise DerivationError(
            f"{where}: compute must return one value per group ({len(inputs)}), "
            f"got shape {values.shape}"
        )

    keys = sub.drop_duplicates(gid_col).set_index(gid_col).loc[order, by]
    new = keys.reset_index(drop=True)
    new["AVAL"] = values
    for col, val in set_values_to.items():
        new[col] = val
    if src_col is not None:
        labels = labels.reindex(index=order)
        joined = labels.iloc[:, 0].astype(str)
        for col in labels.columns[1:]:
            joined = joined + "," + labels[col].astype(str)
        new[src_col] = joined.to_numpy()

    if pd.api.types.is_integer_dtype(dataset.index.dtype):
        start = int(dataset.index.max()) + 1 if len(dataset) else 0
        new.index = pd.RangeIndex(start, start + len(new))
        out = pd.concat([dataset, new], axis=0)
    else:
        out = pd.concat([dataset, new], axis=0, ignore_index=True)
    return out[[*out_cols, *extra, *([src_col] if src_col else [])]]


def _with_constants(
    dataset: pd.DataFrame,
    sub: pd.DataFrame,
    gid_col: str,
    label_col: str,
    wide: pd.DataFrame,
    labels: pd.DataFrame,
    constants: list[str],
    const_by: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the constant parameters' AVAL (and record labels) to each complete group."""
    rows = dataset["PARAMCD"].isin(constants).fillna(False).to_numpy(dtype=bool)
    const = dataset.loc[rows, [*const_by, "PARAMCD", "AVAL"]]
    const = const.assign(**{label_col: const.index.astype(str)})
    counts = const.groupby([*const_by, "PARAMCD"], dropna=False).agg(
        n=("AVAL", "size"), filled=("AVAL", "count")
    )
    good = counts[(counts["n"] == 1) & (counts["filled"] == 1)].reset_index()
    const = const.merge(good[[*const_by, "PARAMCD"]], on=[*const_by, "PARAMCD"])
    cvals = const.pivot(index=const_by, columns="PARAMCD", values="AVAL")
    clabs = const.pivot(index=const_by, columns="PARAMCD", values=label_col)
    cvals = cvals.reindex(columns=constants).dropna()
    clabs = clabs.reindex(index=cvals.index, columns=constants)
    keys = sub.drop_duplicates(gid_col).set_index(gid_col).loc[wide.index, const_by]
    key_index = pd.MultiIndex.from_frame(keys) if len(const_by) > 1 else pd.Index(keys.iloc[:, 0])
    present = key_index.isin(cvals.index)
    wide, labels = wide.loc[present], labels.loc[present]
    picked = key_index[present]
    for col in constants:
        wide[col] = cvals[col].reindex(picked).to_numpy()
        labels[col] = clabs[col].reindex(picked).to_numpy()
    return wide, labels


def restrict(
    derivation: Callable[..., pd.DataFrame],
    *,
    filter: FilterArg,
    **kwargs: Any,
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A derivation step that runs ``derivation(dataset.loc[filter], **kwargs)`` and puts it back.

    admiral's ``restrict_derivation``, returned as a function of the dataset so it reads as a
    pipeline step (``adlb.pipe(restrict(derive_var_chg, filter=...))``). Columns the derivation
    adds are null on the records outside ``filter``; columns it changes keep their values
    there; the row order is kept. The derivation must return the records it was given, so
    record-adding derivations such as :func:`derive_param_computed` are not restricted this way.

    Example:
        >>> df = pd.DataFrame({"AVAL": [5.0, 7.0], "BASE": [5.0, 5.0], "AVISITN": [0, 1]})
        >>> step = restrict(derive_var_chg, filter=lambda d: d["AVISITN"] > 0)
        >>> step(df)["CHG"].tolist()
        [nan, 2.0]
    """
    name = getattr(derivation, "__name__", "derivation")
    where = f"restrict({name})"
    if not callable(derivation):
        raise DerivationError(f"restrict: derivation must be a function, not {derivation!r}")

    def step(dataset: pd.DataFrame) -> pd.DataFrame:
        _require(dataset, [], where)
        if not dataset.index.is_unique:
            raise DerivationError(f"{where}: the dataset's index must be unique")
        keep = _filter_mask(dataset, filter, where)
        subset = dataset.loc[keep]
        result = derivation(subset, **kwargs)
        same_records = (
            isinstance(result, pd.DataFrame)
            and len(result) == len(subset)
            and bool(result.index.isin(subset.index).all())
        )
        if not same_records:
            raise DerivationError(
                f"{where}: the derivation must return the records it was given "
                "(same index labels, none added or dropped)"
            )
        result = result.reindex(subset.index)
        out = dataset.copy()
        in_subset = pd.Series(keep, index=dataset.index)
        for col in result.columns:
            if col not in dataset.columns:
                out[col] = result[col].reindex(dataset.index)
            elif not result[col].equals(subset[col]):
                out[col] = dataset[col].mask(in_subset, result[col].reindex(dataset.index))
        return out

    step.__name__ = f"restricted_{name}"
    step.__doc__ = f"{name} restricted to the records in a filter (see trialflow restrict)."
    return step


# ---------------------------------------------------------------------------------------------
# HOMA indices (Matthews 1985; C-peptide variant with the 2800 constant)


def _float(x: ArrayLike) -> pd.Series | np.ndarray:
    """Series stay Series (float64, NA -> NaN); anything else becomes a float64 ndarray."""
    if isinstance(x, pd.Series):
        return pd.to_numeric(x).astype("float64")
    return np.asarray(x, dtype="float64")


def _null_unless(value: Any, ok: Any) -> pd.Series | np.ndarray | float:
    """``value`` with NaN where ``ok`` is False; a 0-d result comes back as a float."""
    ok_array = np.asarray(ok, dtype=bool)
    if isinstance(value, pd.Series):
        return value.where(ok_array)
    out = np.where(ok_array, value, np.nan)
    return float(out) if out.ndim == 0 else out


def compute_homa_ir_cpeptide(
    fcp_pmol_l: ArrayLike, fpg_mmol_l: ArrayLike
) -> pd.Series | np.ndarray | float:
    """HOMA-IR from fasting C-peptide (pmol/L) and fasting glucose (mmol/L): 1.5 + FCP*FPG/2800.

    Example:
        >>> sas_round(compute_homa_ir_cpeptide(741.56, 9.66), 4)
        4.0584
    """
    fcp, fpg = _float(fcp_pmol_l), _float(fpg_mmol_l)
    value = 1.5 + fcp * fpg / 2800
    return float(value) if np.ndim(value) == 0 else value


def compute_homa_b_cpeptide(
    fcp_pmol_l: ArrayLike, fpg_mmol_l: ArrayLike
) -> pd.Series | np.ndarray | float:
    """HOMA-B (%) from fasting C-peptide and glucose: 0.27*FCP/(FPG-3.5), null if FPG <= 3.5.

    Example:
        >>> sas_round(compute_homa_b_cpeptide(741.56, 9.66), 4)
        32.5034
        >>> compute_homa_b_cpeptide([741.56], [3.5])
        array([nan])
    """
    fcp, fpg = _float(fcp_pmol_l), _float(fpg_mmol_l)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 0.27 * fcp / (fpg - 3.5)
        return _null_unless(value, fpg > 3.5)


def compute_homa_ir_insulin(
    insulin_uu_ml: ArrayLike, glucose_mmol_l: ArrayLike
) -> pd.Series | np.ndarray | float:
    """HOMA-IR from fasting insulin (uU/mL) and glucose (mmol/L): glucose*insulin/22.5.

    Example:
        >>> compute_homa_ir_insulin(10.0, 4.5)
        2.0
    """
    insulin, glucose = _float(insulin_uu_ml), _float(glucose_mmol_l)
    value = glucose * insulin / 22.5
    return float(value) if np.ndim(value) == 0 else value


def compute_homa_b_insulin(
    insulin_uu_ml: ArrayLike, glucose_mmol_l: ArrayLike
) -> pd.Series | np.ndarray | float:
    """HOMA-B (%) from fasting insulin and glucose: 20*insulin/(glucose-3.5), null if <= 3.5.

    Example:
        >>> compute_homa_b_insulin(10.0, 5.5)
        100.0
    """
    insulin, glucose = _float(insulin_uu_ml), _float(glucose_mmol_l)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 20 * insulin / (glucose - 3.5)
        return _null_unless(value, glucose > 3.5)
