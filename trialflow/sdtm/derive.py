"""SDTM derivations: --SEQ, --DY, EPOCH, VISITNUM/VISIT, --LOBXFL, DM reference dates, AGE,
--DOSTOT.

Each takes a domain frame (and DM where it needs it) and returns a new Series or frame; none
changes its input. Dates are ISO 8601 text as SDTM holds them; only complete dates take part
in day arithmetic, so a partial date gives a missing --DY, EPOCH or AGE, never a guessed one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trialflow.numbers import parse_decimal, sas_round
from trialflow.raw import ROW


def date_part(dtc: pd.Series) -> pd.Series:
    """The calendar date of ISO 8601 values as datetime64[s]; NaT when the date is partial.

    Seconds, not pandas' default nanoseconds: every date ISO 8601 allows in SDTM
    (0001-01-01 to 9999-12-31) is a date, none overflows (OutOfBoundsDatetime).

    Example:
        >>> date_part(pd.Series(["2019-01-12T07:30", "2019-01", None])).dt.day.tolist()
        [12.0, nan, nan]
        >>> date_part(pd.Series(["0001-01-01", "9999-12-31"])).dt.year.tolist()
        [1, 9999]
    """
    codes, uniques = pd.factorize(dtc.astype("str").str.slice(0, 10))
    text = pd.Series(uniques, dtype="str")
    complete = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False).astype(bool)
    days = pd.to_datetime(text.where(complete), format="%Y-%m-%d", errors="coerce")
    if len(days) == 0:
        return pd.Series(pd.NaT, index=dtc.index, dtype="datetime64[s]")
    picked = days.astype("datetime64[s]").to_numpy()[np.where(codes >= 0, codes, 0)]
    out = pd.Series(picked, index=dtc.index, dtype="datetime64[s]")
    return out.where(codes >= 0)


def study_day(dates: pd.Series, reference: pd.Series) -> pd.Series:
    """SDTM study day: date - reference + 1 on or after the reference, date - reference before.

    There is no day 0; the result is missing when either date is partial or missing.

    Example:
        >>> study_day(pd.Series(["2019-01-12", "2019-01-10", "2019-01"]),
        ...           pd.Series(["2019-01-11"] * 3)).tolist()
        [2.0, -1.0, nan]
    """
    delta = (date_part(dates) - date_part(reference)).dt.days
    return delta.where(delta < 0, delta + 1).astype("float64")


def seq(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """--SEQ: 1, 2, ... within USUBJID in the order of ``keys`` (then raw row), missing last.

    Example:
        >>> f = pd.DataFrame({"USUBJID": ["A", "A", "B"], "X": ["b", "a", "c"],
        ...                   "__ROW__": [2, 3, 4]})
        >>> seq(f, ["USUBJID", "X"]).tolist()
        [2.0, 1.0, 1.0]
    """
    order = sort_order(frame, keys)
    ranked = frame.loc[order, "USUBJID"]
    numbers = ranked.groupby(ranked, sort=False).cumcount() + 1
    return numbers.reindex(frame.index).astype("float64")


def sort_order(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Index:
    """Index labels of ``frame`` sorted by ``keys`` present in it, then raw row; missing last.

    Example:
        >>> f = pd.DataFrame({"USUBJID": ["B", "A"], "__ROW__": [2, 3]})
        >>> list(sort_order(f, ["USUBJID"]))
        [1, 0]
    """
    by = [k for k in keys if k in frame.columns]
    if ROW in frame.columns:
        by.append(ROW)
    if not by:
        return frame.index
    return frame.sort_values(by, kind="stable", na_position="last").index


def reference_dates(
    sources: Sequence[pd.DataFrame], variables: Sequence[str], pick: str
) -> pd.Series:
    """The first or last complete date per USUBJID over several domains' date variables.

    Returns a Series indexed by USUBJID with the original ISO text of the chosen value.

    Example:
        >>> ex = pd.DataFrame({"USUBJID": ["A", "A"],
        ...                    "EXSTDTC": ["2019-01-20T09:00", "2019-01-13T09:00"]})
        >>> reference_dates([ex], ["EXSTDTC"], "first").to_dict()
        {'A': '2019-01-13T09:00'}
    """
    parts = []
    for frame, variable in zip(sources, variables, strict=True):
        part = frame[["USUBJID", variable]].rename(columns={variable: "DTC"})
        parts.append(part)
    if not parts:
        return pd.Series(dtype="str")
    values = pd.concat(parts, ignore_index=True)
    values = values.loc[date_part(values["DTC"]).notna()]
    if values.empty:
        return pd.Series(dtype="str")
    values = values.sort_values(["USUBJID", "DTC"], kind="stable")
    keep = "first" if pick == "first" else "last"
    chosen = values.drop_duplicates("USUBJID", keep=keep)
    return chosen.set_index("USUBJID")["DTC"].astype("str")


def age_in_years(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Completed years between two ISO dates; missing when either is partial.

    Example:
        >>> birth = pd.Series(["1966-05-20", "1966-05-20"])
        >>> age_in_years(birth, pd.Series(["2019-05-19", "2019-05-20"])).tolist()
        [52.0, 53.0]
    """
    b, a = date_part(birth), date_part(at)
    years = a.dt.year - b.dt.year
    before = (a.dt.month < b.dt.month) | ((a.dt.month == b.dt.month) & (a.dt.day < b.dt.day))
    return (years - before.astype("float64")).astype("float64")


def epoch(dates: pd.Series, bounds: pd.DataFrame, epochs: Sequence[dict]) -> pd.Series:
    """EPOCH of each record from its date and the subject's DM reference dates.

    ``bounds`` holds, aligned with ``dates``, the DM variables the epochs name. Each epoch is a
    dict with ``epoch`` and any of ``before``, ``from``, ``to``, ``after`` (inclusive ``from`` /
    ``to``, exclusive ``before`` / ``after``); with ``never_reached`` true, ``before`` also
    holds for a subject without that date (never treated). The first epoch that holds wins. A
    partial date (``2017-09``, ``2017``) gets the epoch that holds for every day it may be (its
    first and its last day: an epoch is one interval), and none when the days it may be fall in
    more than one epoch.

    Example:
        >>> b = pd.DataFrame({"RFXSTDTC": ["2019-01-10"] * 5, "RFXENDTC": ["2019-01-24"] * 5})
        >>> eps = [{"epoch": "RUN-IN", "before": "RFXSTDTC"},
        ...        {"epoch": "TREATMENT", "from": "RFXSTDTC", "to": "RFXENDTC"},
        ...        {"epoch": "FOLLOW-UP", "after": "RFXENDTC"}]
        >>> epoch(pd.Series(["2019-01-03", "2019-01-24", "2019-02-01", "2018-11", "2019-01"]),
        ...       b, eps).tolist()
        ['RUN-IN', 'TREATMENT', 'FOLLOW-UP', 'RUN-IN', nan]
        >>> b = pd.DataFrame({"RFXSTDTC": ["2019-01-10", None]})
        >>> eps = [{"epoch": "SCREENING", "before": "RFXSTDTC", "never_reached": True}]
        >>> epoch(pd.Series(["2019-01-11", "2019-01-11"]), b, eps).tolist()
        [nan, 'SCREENING']
    """
    first, last = date_range(dates)
    out = pd.Series(pd.NA, index=dates.index, dtype="str")
    for spec in epochs:
        holds = first.notna() & last.notna()
        for key, compare in (
            ("before", lambda d, r: d < r),
            ("from", lambda d, r: d >= r),
            ("to", lambda d, r: d <= r),
            ("after", lambda d, r: d > r),
        ):
            variable = spec.get(key)
            if variable:
                ref = date_part(bounds[variable])
                reached = ref.notna()
                never = ~reached if key == "before" and spec.get("never_reached") else False
                for day in (first, last):
                    holds &= (never | (reached & compare(day, ref))).fillna(False).astype(bool)
        out = out.mask(out.isna() & holds, spec["epoch"])
    return out


def date_range(dtc: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The first and the last day each ISO 8601 date may be: the date itself when complete,
    the month's or the year's first and last day when partial (``2019-02``, ``2019``); NaT
    for anything else.

    Example:
        >>> first, last = date_range(pd.Series(["2019-02-03T10:00", "2020-02", "2019", None]))
        >>> [str(d)[:10] for d in first], [str(d)[:10] for d in last]
        (['2019-02-03', '2020-02-01', '2019-01-01', 'NaT'], ['2019-02-03', '2020-02-29', \
'2019-12-31', 'NaT'])
    """
    # each distinct date text is read once (dates repeat a lot)
    codes, uniques = pd.factorize(dtc.astype("str").str.slice(0, 10))
    head = pd.Series(uniques, dtype="str")
    day = date_part(head).astype("datetime64[s]")
    month = head.str.fullmatch(r"\d{4}-\d{2}").fillna(False).astype(bool)
    year = head.str.fullmatch(r"\d{4}").fillna(False).astype(bool)
    month_first = pd.to_datetime(head.where(month) + "-01", format="%Y-%m-%d", errors="coerce")
    year_first = pd.to_datetime(head.where(year) + "-01-01", format="%Y-%m-%d", errors="coerce")
    month_last = month_first + pd.offsets.MonthEnd(0)
    year_last = year_first + pd.offsets.YearEnd(0)
    first = day.where(~month, month_first.astype("datetime64[s]"))
    first = first.where(~year, year_first.astype("datetime64[s]"))
    last = day.where(~month, month_last.astype("datetime64[s]"))
    last = last.where(~year, year_last.astype("datetime64[s]"))

    def spread(values: pd.Series) -> pd.Series:
        if len(values) == 0:
            return pd.Series(pd.NaT, index=dtc.index, dtype="datetime64[s]")
        picked = values.to_numpy(dtype="datetime64[s]")[np.where(codes >= 0, codes, 0)]
        return pd.Series(picked, index=dtc.index, dtype="datetime64[s]").where(codes >= 0)

    return spread(first), spread(last)


def last_obs_before_exposure(
    frame: pd.DataFrame, *, date: str, result: str, by: Sequence[str], reference: pd.Series
) -> pd.Series:
    """--LOBXFL: "Y" on the last record with a result before first exposure, per subject and ``by``.

    ``reference`` is RFXSTDTC aligned with ``frame``. A record counts when its date is before the
    reference date, or on the same date with both times known and earlier; partial dates never
    count.

    Example:
        >>> f = pd.DataFrame({"USUBJID": ["A", "A", "A"], "LBTESTCD": ["GLUC"] * 3,
        ...                   "LBDTC": ["2019-01-01", "2019-01-05", "2019-01-20"],
        ...                   "LBSTRESC": ["9.1", "8.8", "7.0"], "__ROW__": [2, 3, 4]})
        >>> last_obs_before_exposure(f, date="LBDTC", result="LBSTRESC", by=["LBTESTCD"],
        ...                          reference=pd.Series(["2019-01-07T09:00"] * 3)).tolist()
        [nan, 'Y', nan]
    """
    rec_day, ref_day = date_part(frame[date]), date_part(reference)
    rec_text, ref_text = frame[date].astype("str"), reference.astype("str")
    timed = (rec_text.str.len() > 10).fillna(False) & (ref_text.str.len() > 10).fillna(False)
    same_day_earlier = (rec_day == ref_day) & timed & (rec_text < ref_text).fillna(False)
    before = ((rec_day < ref_day) | same_day_earlier).fillna(False).astype(bool)
    eligible = before & frame[result].notna() & rec_day.notna()
    out = pd.Series(pd.NA, index=frame.index, dtype="str")
    if not eligible.any():
        return out
    cand = frame.loc[eligible, ["USUBJID", *by, date]].copy()
    cand["__ROW__"] = frame.loc[eligible, ROW] if ROW in frame else np.arange(eligible.sum())
    cand = cand.sort_values([date, "__ROW__"], kind="stable")
    last = cand.groupby(["USUBJID", *by], dropna=False, sort=False).tail(1).index
    out.loc[last] = "Y"
    return out


def normal_range_indicator(result: pd.Series, low: pd.Series, high: pd.Series) -> pd.Series:
    """--NRIND: LOW below the low limit, HIGH above the high limit, NORMAL within; else missing.

    Example:
        >>> normal_range_indicator(pd.Series([3.0, 5.0, 9.0, None]), pd.Series([3.9] * 4),
        ...                        pd.Series([6.1] * 4)).tolist()
        ['LOW', 'NORMAL', 'HIGH', nan]
    """
    out = pd.Series(pd.NA, index=result.index, dtype="str")
    has = result.notna() & (low.notna() | high.notna())
    above_low = low.isna() | (result >= low)
    below_high = high.isna() | (result <= high)
    out = out.mask(has & above_low & below_high, "NORMAL")
    out = out.mask(result.notna() & low.notna() & (result < low), "LOW")
    out = out.mask(result.notna() & high.notna() & (result > high), "HIGH")
    return out


def total_daily_dose(
    dose: pd.Series, frequency: pd.Series, per_day: dict[str, float]
) -> pd.Series:
    """--DOSTOT: the dose per administration times the administrations a day of --DOSFRQ.

    ``per_day`` gives the administrations a day of each frequency term (``{"BID": 2}``); a
    frequency it does not list, a missing frequency and a dose that is not a plain decimal give
    a missing total, never a guessed one. The product is kept to 10 significant digits (no
    binary noise: 0.1 x 3 is 0.3).

    Example:
        >>> total_daily_dose(pd.Series(["500", "0.1", "10", "500", None]),
        ...                  pd.Series(["BID", "TID", "PRN", None, "QD"]),
        ...                  {"QD": 1, "BID": 2, "TID": 3}).tolist()
        [1000.0, 0.3, nan, nan, nan]
    """
    numbers = parse_decimal(dose.astype("str"))
    times = frequency.astype("str").map(per_day).astype("float64")
    product = (numbers * times).to_numpy(dtype="float64")
    finite = np.isfinite(product)
    out = np.full(len(product), np.nan)
    if finite.any():
        out[finite] = sas_round(product[finite], significant=10)
    return pd.Series(out, index=dose.index, dtype="float64")
