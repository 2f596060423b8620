"""ADaM dates: analysis dates from ISO 8601 --DTC values, with imputation, and relative days.

The semantics follow admiral's ``derive_vars_dt`` / ``impute_dtc_dt`` / ``compute_dtf`` and
``derive_vars_dy``:

* ``highest_imputation`` sets the highest component that may be imputed: ``"n"`` (nothing),
  ``"D"`` (day), ``"M"`` (month and day), ``"Y"`` (year too). When a component above that level
  is missing the date is null ("2019" with ``"D"`` gives null).
* ``date_imputation``: ``"first"`` (01 / January), ``"mid"`` (15th when the month is known,
  June 30 when the month is missing), ``"last"`` (last day of the month / December 31),
  ``"mm-dd"`` or ``"dd"``.
* ``*DTF`` is ``"Y"``, ``"M"`` or ``"D"``: the highest component that was missing in the --DTC;
  null when the date was complete or could not be derived.
* ``min_dates`` / ``max_dates`` move the imputed date, but only to dates that the partial value
  allows ("2019-11" never becomes a December date).

Where trialflow deliberately differs from admiral (the known admiral pain points):

* ``date_imputation="mm-dd"`` is accepted with ``"D"``, ``"M"`` and ``"Y"`` (with ``"D"`` only
  the day is used); ``"dd"`` is accepted with ``"D"`` only, because it names no month. An
  imputation value that does not fit the level raises an error that says so (admiral#3014).
* ``min_dates`` and ``max_dates`` can be given together and both apply: first the date is
  raised to the latest in-range minimum, then lowered to the earliest in-range maximum
  (admiral#1843). When they contradict each other (an in-range maximum before an in-range
  minimum, e.g. an AE end before first dose) the maximum wins: a date is never imputed after a
  recorded upper bound. This is the documented rule, not an accident (admiral#2708).
* Imputing the start and the end of one event together (admiral#727) is done by two calls:
  impute the end date first, then pass it in ``max_dates`` when imputing the start.
* Values that are not ISO 8601 dates, or name impossible dates ("2019-02-30"), give a null date
  and no flag, as admiral does; they never raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from trialflow.errors import DerivationError

HighestImputation = Literal["n", "D", "M", "Y"]
FlagImputation = Literal["auto", "date", "none"]

_LEVELS: dict[str, int] = {"n": 0, "D": 1, "M": 2, "Y": 3}
_FLAG_BY_LEVEL = np.array([None, "D", "M", "Y"], dtype=object)
_DTC_PATTERN = (
    r"^(?P<y>\d{4}|-)?(?:-(?P<m>\d{2}|-)?(?:-(?P<d>\d{2}|-)?)?)?"
    r"(?:T[0-9:.\-+Z]*)?$"
)
# Years standing for "unknown, impute from min_dates/max_dates"; never left in a result.
_LOW_YEAR, _HIGH_YEAR = 1, 9998
_OUT_DTYPE = "datetime64[ns]"


def check_columns(dataset: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """Raise DerivationError naming every column of ``columns`` missing from ``dataset``.

    Example:
        >>> check_columns(pd.DataFrame({"A": [1]}), ["A"], "example")
    """
    if not isinstance(dataset, pd.DataFrame):
        raise DerivationError(f"{where}: dataset must be a pandas DataFrame")
    missing = [c for c in columns if c not in dataset.columns]
    if missing:
        raise DerivationError(
            f"{where}: required column(s) missing from the dataset: {', '.join(missing)}"
        )


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Days in each (year, month); both int arrays with valid values."""
    first = (year - 1970) * 12 + (month - 1)
    start = first.astype("datetime64[M]").astype("datetime64[D]")
    end = (first + 1).astype("datetime64[M]").astype("datetime64[D]")
    return (end - start).astype(np.int64)


def _to_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """datetime64[D] from int arrays; entries with day beyond the month become NaT."""
    ok = (month >= 1) & (month <= 12) & (day >= 1)
    y = np.where(ok, year, 2000)
    m = np.where(ok, month, 1)
    ok &= day <= _days_in_month(y, m)
    months = ((y - 1970) * 12 + (m - 1)).astype("datetime64[M]")
    out = months.astype("datetime64[D]") + (np.where(ok, day, 1) - 1).astype("timedelta64[D]")
    out[~ok] = np.datetime64("NaT")
    return out


def _parse_imputation(date_imputation: str, level: int) -> tuple[str, int | None, int | None]:
    """Check ``date_imputation`` against the level; return (kind, month, day)."""
    if date_imputation in ("first", "mid", "last"):
        return date_imputation, None, None
    parts = date_imputation.split("-")
    if not all(p.isdigit() and len(p) == 2 for p in parts) or len(parts) not in (1, 2):
        raise DerivationError(
            f"date_imputation must be 'first', 'mid', 'last', 'mm-dd' or 'dd', "
            f"not {date_imputation!r}"
        )
    month = int(parts[0]) if len(parts) == 2 else None
    day = int(parts[-1])
    if len(parts) == 1 and level > _LEVELS["D"]:
        raise DerivationError(
            f"date_imputation={date_imputation!r} gives only a day, but highest_imputation "
            "allows the month to be imputed too: use 'mm-dd' (e.g. '06-15') or "
            "highest_imputation='D'"
        )
    # Check against a non-leap year so that the value is a valid date in every year.
    if month is not None and not 1 <= month <= 12:
        raise DerivationError(f"date_imputation={date_imputation!r}: month must be 01-12")
    days_max = int(_days_in_month(np.array([2019]), np.array([month or 1]))[0]) if month else 28
    if not 1 <= day <= days_max:
        raise DerivationError(
            f"date_imputation={date_imputation!r} is not a valid day in every "
            f"{'year' if month else 'month'} (use 'last' for the last day of the month)"
        )
    return "fixed", month, day


def _bound_days(columns: Sequence[str] | None, dataset: pd.DataFrame) -> list[np.ndarray]:
    """The min_dates / max_dates columns as datetime64[D] arrays (time of day dropped)."""
    out = []
    for col in columns or ():
        values = pd.to_datetime(dataset[col]).to_numpy()
        out.append(values.astype("datetime64[D]"))
    return out


def derive_vars_dt(
    dataset: pd.DataFrame,
    *,
    new_vars_prefix: str,
    dtc: str,
    highest_imputation: HighestImputation = "n",
    date_imputation: str = "first",
    min_dates: Sequence[str] | None = None,
    max_dates: Sequence[str] | None = None,
    flag_imputation: FlagImputation = "auto",
    preserve: bool = False,
) -> pd.DataFrame:
    """Add ``<prefix>DT`` (and ``<prefix>DTF``) derived from the ISO 8601 column ``dtc``.

    ``dtc`` holds full or partial dates ("2019", "2019-03", "2019-03-15", "2019---15",
    "--03-15"), optionally with a time part, which is ignored. ``-`` marks a missing component.
    See the module docstring for the imputation rules; ``preserve=True`` keeps a known day
    when the month is missing ("2019---15" with "mid" gives 2019-06-15 instead of 2019-06-30).

    ``flag_imputation``: ``"auto"`` adds ``<prefix>DTF`` unless ``highest_imputation="n"``,
    ``"date"`` always adds it, ``"none"`` never. ``highest_imputation="Y"`` needs
    ``date_imputation="first"`` with ``min_dates`` or ``"last"`` with ``max_dates``.

    Returns a new dataset (the input is not changed, the row order is kept); the date column
    is ``datetime64[ns]``, the flag column ``str`` with nulls.

    Example:
        >>> ae = pd.DataFrame({"AESTDTC": ["2019-03-15", "2019-03", "2019", None]})
        >>> derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="M")
              AESTDTC      ASTDT ASTDTF
        0  2019-03-15 2019-03-15    NaN
        1     2019-03 2019-03-01      D
        2        2019 2019-01-01      M
        3         NaN        NaT    NaN
    """
    where = "derive_vars_dt"
    if highest_imputation not in _LEVELS:
        raise DerivationError(
            f"{where}: highest_imputation must be 'n', 'D', 'M' or 'Y', not {highest_imputation!r}"
        )
    if flag_imputation not in ("auto", "date", "none"):
        raise DerivationError(
            f"{where}: flag_imputation must be 'auto', 'date' or 'none', not {flag_imputation!r}"
        )
    min_dates = list(min_dates or ())
    max_dates = list(max_dates or ())
    check_columns(dataset, [dtc, *min_dates, *max_dates], where)
    level = _LEVELS[highest_imputation]
    kind, fix_month, fix_day = _parse_imputation(date_imputation, level)
    if level == _LEVELS["Y"] and not (
        (kind == "first" and min_dates) or (kind == "last" and max_dates)
    ):
        raise DerivationError(
            f"{where}: highest_imputation='Y' imputes the year from other dates, so it needs "
            "date_imputation='first' with min_dates or date_imputation='last' with max_dates"
        )

    # Parse each distinct value once, then spread back to the rows. A null or empty value is
    # a date with every component missing (only "Y" imputation can fill it).
    text = dataset[dtc].astype("str").fillna("").str.strip()
    codes, uniques = pd.factorize(text)
    distinct = pd.Series(uniques, dtype="str")
    parts = distinct.str.extract(_DTC_PATTERN)
    matched = distinct.str.fullmatch(_DTC_PATTERN).to_numpy(dtype=bool)
    comp = {
        key: pd.to_numeric(parts[key].where(parts[key] != "-"), errors="coerce").to_numpy(
            dtype=float
        )[codes]
        for key in ("y", "m", "d")
    }
    y, m, d = comp["y"], comp["m"], comp["d"]
    valid = matched[codes]
    miss_y, miss_m, miss_d = np.isnan(y), np.isnan(m), np.isnan(d)
    # Highest missing component: 3 year, 2 month, 1 day, 0 none.
    missing_level = np.select([miss_y, miss_m, miss_d], [3, 2, 1], 0)
    # Known components must be possible: month 01-12, day within the month when both known.
    bad_m = ~miss_m & ((m < 1) | (m > 12))
    bad_d = ~miss_d & ((d < 1) | (d > 31))
    valid &= ~bad_m & ~bad_d & (missing_level <= level)
    yi = np.where(miss_y, 2000, np.nan_to_num(y)).astype(np.int64)
    mi = np.where(miss_m | bad_m, 1, np.nan_to_num(m)).astype(np.int64)
    di = np.where(miss_d | bad_d, 1, np.nan_to_num(d)).astype(np.int64)
    known_md = ~miss_m & ~miss_d & ~bad_m & ~bad_d
    fits = di <= _days_in_month(yi, mi)  # unknown year counts as 2000, so Feb 29 fits
    valid &= ~known_md | fits

    def impute(how: str, keep_day: bool) -> np.ndarray:
        """Imputed dates (datetime64[D]) for every row; NaT where not possible."""
        year = np.where(miss_y, _LOW_YEAR if how == "first" else _HIGH_YEAR, yi)
        if how == "first":
            month = np.where(miss_m, 1, mi)
        elif how == "last":
            month = np.where(miss_m, 12, mi)
        elif how == "mid":
            month = np.where(miss_m, 6, mi)
        else:
            month = np.where(miss_m, fix_month or 1, mi)
        day_missing = miss_d | (miss_m & ~keep_day)
        if how == "first":
            day = np.ones_like(di)
        elif how == "last":
            day = _days_in_month(year, month)
        elif how == "mid":
            day = np.where(miss_m, 30, 15)
        else:
            day = np.full_like(di, fix_day or 1)
        day = np.where(day_missing, day, di)
        out = _to_days(year, month, day)
        out[~valid] = np.datetime64("NaT")
        return out

    result = impute(kind, preserve)
    bounds_min = _bound_days(min_dates, dataset)
    bounds_max = _bound_days(max_dates, dataset)
    if bounds_min or bounds_max:
        lowest = impute("first", False)
        highest = impute("last", False)
        # Unknown year: any date is compatible with the partial value.
        lowest[miss_y & valid] = np.datetime64("0001-01-01")
        highest[miss_y & valid] = np.datetime64("9998-12-31")
        for bound in bounds_min:
            use = ~np.isnat(bound) & ~np.isnat(result) & (lowest <= bound) & (bound <= highest)
            result = np.where(use & (bound > result), bound, result)
        for bound in bounds_max:
            use = ~np.isnat(bound) & ~np.isnat(result) & (lowest <= bound) & (bound <= highest)
            result = np.where(use & (bound < result), bound, result)
    # A year that is still the placeholder was not imputed from any date.
    years = result.astype("datetime64[Y]").astype(np.int64) + 1970
    result = np.where((years == _LOW_YEAR) | (years == _HIGH_YEAR), np.datetime64("NaT"), result)
    # Years outside what datetime64[ns] holds cannot be analysis dates.
    ns_ok = (result >= np.datetime64("1678-01-01")) & (result <= np.datetime64("2261-12-31"))
    result = np.where(ns_ok, result, np.datetime64("NaT")).astype("datetime64[D]")

    out = dataset.copy()
    out[f"{new_vars_prefix}DT"] = pd.Series(result, index=dataset.index).astype(_OUT_DTYPE)
    if flag_imputation == "date" or (flag_imputation == "auto" and level > 0):
        flag = np.where(np.isnat(result), None, _FLAG_BY_LEVEL[missing_level])
        out[f"{new_vars_prefix}DTF"] = pd.Series(flag, index=dataset.index, dtype="str")
    return out


def _dy_name(source: str) -> str:
    """ASTDT -> ASTDY, ADTM -> ADY; anything else is an error."""
    for suffix in ("DTM", "DT"):
        if source.endswith(suffix) and len(source) > len(suffix) - 1:
            return source[: -len(suffix)] + "DY"
    raise DerivationError(
        f"derive_vars_dy: source variable {source!r} does not end in DT or DTM; "
        "name the new variable explicitly with source_vars={'NEWDY': '" + source + "'}"
    )


def derive_vars_dy(
    dataset: pd.DataFrame,
    *,
    reference_date: str,
    source_vars: Sequence[str] | Mapping[str, str],
) -> pd.DataFrame:
    """Add relative day variables: ``target - reference + 1`` when ``>= 0``, else the difference.

    There is no day 0: the reference date is day 1 and the day before it is day -1. Each source
    variable ``xxDT`` (or ``xxDTM``) gives ``xxDY`` (ASTDT -> ASTDY, ADT -> ADY); a mapping
    ``{"TRTDY": "TRTEDT"}`` names the new variable explicitly. Times of day are ignored. Days are
    nullable integers (``Int64``); null when either date is null.

    Example:
        >>> df = pd.DataFrame({"TRTSDT": pd.to_datetime(["2019-01-10"] * 3),
        ...                    "ADT": pd.to_datetime(["2019-01-09", "2019-01-10", None])})
        >>> derive_vars_dy(df, reference_date="TRTSDT", source_vars=["ADT"])["ADY"].tolist()
        [-1, 1, <NA>]
    """
    where = "derive_vars_dy"
    if isinstance(source_vars, str):
        raise DerivationError(f"{where}: source_vars must be a list or a mapping, not a string")
    if isinstance(source_vars, Mapping):
        pairs = list(source_vars.items())
    else:
        pairs = [(_dy_name(s), s) for s in source_vars]
    check_columns(dataset, [reference_date, *(s for _, s in pairs)], where)
    ref = pd.to_datetime(dataset[reference_date]).dt.normalize()
    out = dataset.copy()
    for new_var, source in pairs:
        target = pd.to_datetime(dataset[source]).dt.normalize()
        diff = (target - ref).dt.days.astype("Int64")
        out[new_var] = diff.where(diff < 0, diff + 1)
    return out
