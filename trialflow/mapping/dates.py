"""Raw dates and times to ISO 8601, keeping partial dates partial.

Formats use the strftime codes a Python or SAS user already knows: ``%d`` day, ``%m`` month
number, ``%b`` month abbreviation (JAN), ``%Y`` four-digit year, ``%H`` hour, ``%M`` minute,
``%S`` second. Wherever a code stands, the unknown markers ``UN``, ``UK`` and ``UNK`` (``UNKN``
for a year) are accepted too and make the result partial, as SDTM wants it:

=================  ===============
raw                ISO 8601
=================  ===============
``12-JAN-2019``    ``2019-01-12``
``UN-MAR-2009``    ``2009-03``
``UN-UNK-2008``    ``2008``
``15-UNK-2008``    ``2008---15``
=================  ===============

A value that matches none of the formats, or names a day that does not exist (30-FEB-2019),
is a problem: the result is missing and the caller reports it. Nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

UNKNOWN = ("UN", "UK", "UNK", "UNKN", "NK")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
        start=1,
    )
}
_MONTH_NUMBERS = {name: f"{number:02d}" for name, number in _MONTHS.items()}
_UNK = r"UNKN|UNK|UN|UK|NK"
_CODES = {
    "%d": rf"(?P<d>\d{{1,2}}|{_UNK})",
    "%m": rf"(?P<m>\d{{1,2}}|{_UNK})",
    "%b": rf"(?P<b>[A-Za-z]{{3}}|{_UNK})",
    "%Y": rf"(?P<Y>\d{{4}}|{_UNK})",
    "%H": rf"(?P<H>\d{{1,2}}|{_UNK})",
    "%M": rf"(?P<M>\d{{2}}|{_UNK})",
    "%S": r"(?P<S>\d{2}(?:\.\d+)?)",
}


class DateFormatError(ValueError):
    """A format string that trialflow cannot use."""


def compile_format(fmt: str) -> re.Pattern[str]:
    """Compile a strftime-style format into an anchored, case-insensitive regex.

    Example:
        >>> bool(compile_format("%d-%b-%Y").match("UN-MAR-2009"))
        True
    """
    out, i, seen = [], 0, set()
    while i < len(fmt):
        code = fmt[i : i + 2]
        if fmt[i] == "%":
            if code not in _CODES:
                raise DateFormatError(f"unknown format code {code!r} in {fmt!r}")
            if code in seen:
                raise DateFormatError(f"format code {code} appears twice in {fmt!r}")
            seen.add(code)
            out.append(_CODES[code])
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    if {"%m", "%b"} <= seen:
        raise DateFormatError(f"format {fmt!r} has both %m and %b")
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE)


@dataclass(frozen=True)
class Parsed:
    """ISO 8601 values (NA where missing or bad) and the mask of values that could not be read."""

    iso: pd.Series
    bad: pd.Series


def _known(part: pd.Series) -> pd.Series:
    return part.notna() & ~part.str.upper().isin(UNKNOWN)


def _on_unique(values: pd.Series, formats: list[str], parse) -> Parsed:
    """Parse each distinct value once and spread the results back (dates repeat a lot)."""
    codes, uniques = pd.factorize(values.astype("str"))
    if len(uniques) == len(values) or len(uniques) == 0:
        return parse(values, formats)
    parsed = parse(pd.Series(uniques, dtype="str"), formats)
    safe = np.where(codes >= 0, codes, 0)
    iso = pd.Series(parsed.iso.to_numpy()[safe], index=values.index, dtype="str")
    bad = pd.Series(parsed.bad.to_numpy()[safe], index=values.index, dtype=bool)
    return Parsed(iso.where(codes >= 0), bad & (codes >= 0))


def parse_dates(values: pd.Series, formats: list[str]) -> Parsed:
    """Convert raw date text to ISO 8601 dates, trying each format in turn.

    Example:
        >>> p = parse_dates(pd.Series(["12-JAN-2019", "2019/01/13", "UN-MAR-2009", "x", None]),
        ...                 ["%d-%b-%Y", "%Y/%m/%d"])
        >>> p.iso.tolist()
        ['2019-01-12', '2019-01-13', '2009-03', nan, nan]
        >>> p.bad.tolist()
        [False, False, False, True, False]
    """
    return _on_unique(values, formats, _parse_dates)


def _parse_dates(values: pd.Series, formats: list[str]) -> Parsed:
    text = values.astype("str")
    iso = pd.Series(pd.NA, index=values.index, dtype="str")
    todo = text.notna()
    for fmt in formats:
        if not todo.any():
            break
        parts = text[todo].str.extract(compile_format(fmt))
        hit = parts.notna().any(axis=1)
        if not hit.any():
            continue
        parts = parts.loc[hit]
        year = parts.get("Y")
        if "b" in parts:
            month = parts["b"].str.upper()
            month = month.map(_MONTH_NUMBERS).fillna(month).astype("str")
            month_ok = ~_known(parts["b"]) | parts["b"].str.upper().isin(list(_MONTHS))
        else:
            month = parts.get("m", pd.Series(pd.NA, index=parts.index, dtype="str"))
            month_ok = pd.Series(True, index=parts.index)
        day = parts.get("d", pd.Series(pd.NA, index=parts.index, dtype="str"))
        y_k, m_k, d_k = _known(year), _known(month), _known(day)
        yy = year.where(y_k)
        mm = month.where(m_k).str.zfill(2)
        dd = day.where(d_k).str.zfill(2)
        full = yy + "-" + mm + "-" + dd
        out = pd.Series(pd.NA, index=parts.index, dtype="str")
        out = out.mask(y_k & m_k & d_k, full)
        out = out.mask(y_k & m_k & ~d_k, yy + "-" + mm)
        out = out.mask(y_k & ~m_k & ~d_k, yy)
        out = out.mask(y_k & ~m_k & d_k, yy + "---" + dd)
        complete = y_k & m_k & d_k
        real = pd.to_datetime(full.where(complete), format="%Y-%m-%d", errors="coerce")
        valid = month_ok & (~complete | real.notna())
        month_num = pd.to_numeric(mm, errors="coerce")
        valid &= ~(m_k & ~((month_num >= 1) & (month_num <= 12)))
        good = valid[valid].index
        iso.loc[good] = out.loc[good]
        todo.loc[good] = False
        # all-unknown values (UNK-UNK-UNKN) are read, but give no date
    bad = todo & ~_all_unknown(text)
    return Parsed(iso, bad)


def _all_unknown(text: pd.Series) -> pd.Series:
    stripped = text.str.upper().str.replace(rf"(?:{_UNK})", "", regex=True)
    return text.notna() & stripped.str.fullmatch(r"[\s/:.\-]*").fillna(False).astype(bool)


def parse_times(values: pd.Series, formats: list[str]) -> Parsed:
    """Convert raw time text to ISO 8601 times (``HH:MM`` or ``HH:MM:SS``).

    Example:
        >>> parse_times(pd.Series(["7:30", "10:05", "UN:UN", "25:00"]), ["%H:%M"]).iso.tolist()
        ['07:30', '10:05', nan, nan]
    """
    return _on_unique(values, formats, _parse_times)


def _parse_times(values: pd.Series, formats: list[str]) -> Parsed:
    """Parse times value by value (see :func:`parse_times`)."""
    text = values.astype("str")
    iso = pd.Series(pd.NA, index=values.index, dtype="str")
    todo = text.notna()
    for fmt in formats:
        if not todo.any():
            break
        parts = text[todo].str.extract(compile_format(fmt))
        hit = parts.notna().any(axis=1)
        parts = parts.loc[hit]
        if parts.empty:
            continue
        hh, mi = parts.get("H"), parts.get("M")
        ss = parts.get("S", pd.Series(pd.NA, index=parts.index, dtype="str"))
        h_k = _known(hh) if hh is not None else pd.Series(False, index=parts.index)
        m_k = _known(mi) if mi is not None else pd.Series(False, index=parts.index)
        h_num = pd.to_numeric(hh.where(h_k), errors="coerce") if hh is not None else None
        m_num = pd.to_numeric(mi.where(m_k), errors="coerce") if mi is not None else None
        valid = pd.Series(True, index=parts.index)
        if h_num is not None:
            valid &= ~(h_k & ~h_num.between(0, 23))
        if m_num is not None:
            valid &= ~(m_k & ~m_num.between(0, 59))
        out = pd.Series(pd.NA, index=parts.index, dtype="str")
        if hh is not None:
            h2 = hh.where(h_k).str.zfill(2)
            out = out.mask(h_k, h2)
            if mi is not None:
                out = out.mask(h_k & m_k, h2 + ":" + mi)
                out = out.mask(h_k & m_k & ss.notna(), h2 + ":" + mi + ":" + ss)
        good = valid[valid].index
        iso.loc[good] = out.loc[good]
        todo.loc[good] = False
    bad = todo & ~_all_unknown(text)
    return Parsed(iso, bad)


def combine_datetime(date: pd.Series, time: pd.Series) -> pd.Series:
    """Join ISO dates and times; a time is added only to a complete date.

    Example:
        >>> combine_datetime(pd.Series(["2019-01-12", "2019-01", None]),
        ...                  pd.Series(["07:30", "08:00", "09:00"])).tolist()
        ['2019-01-12T07:30', '2019-01', nan]
    """
    complete = date.str.len() == 10
    joined = date + "T" + time
    return date.mask(complete.fillna(False) & time.notna(), joined)


def time_dropped(date: pd.Series, time: pd.Series) -> pd.Series:
    """Mask of values whose time could not be kept because the date is partial or missing.

    Example:
        >>> dates = pd.Series(["2019-01", "2019-01-12"])
        >>> time_dropped(dates, pd.Series(["07:30", "07:30"])).tolist()
        [True, False]
    """
    complete = (date.str.len() == 10).fillna(False).astype(bool)
    return time.notna() & ~complete
