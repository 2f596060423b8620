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

A value such as ``03/04/2019`` reads as 3 April under ``%d/%m/%Y`` and as 4 March under
``%m/%d/%Y``. :func:`day_month_ambiguous` finds the values whose day and month could be read
the other way round: when the declared formats hold both orders, or when other values of the
same column only read in the order the formats do not declare. The caller reports them.
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


CODES_TEXT = "formats use %d (day) %m (month number) %b (JAN) %Y (4-digit year) %H %M %S"
"""The format codes, in the words every format error ends with."""

_SAS_FORMATS = {
    "DATE9.": "%d%b%Y",
    "DATE11.": "%d-%b-%Y",
    "YYMMDD10.": "%Y-%m-%d",
    "E8601DA.": "%Y-%m-%d",
    "IS8601DA.": "%Y-%m-%d",
    "MMDDYY10.": "%m/%d/%Y",
    "DDMMYY10.": "%d/%m/%Y",
    "TIME5.": "%H:%M",
    "TIME8.": "%H:%M:%S",
}
_TOKENS = re.compile(r"YYYY|MMM|MON|MM|DD|HH24|HH|MI|NN|SS|YY|M|D", re.IGNORECASE)


def suggest_format(fmt: str) -> str | None:
    """The strftime format for a SAS, Excel or Oracle style pattern (``MM/DD/YYYY``), or None.

    ``MM`` after an hour is minutes (``HH:MM``), otherwise the month; ``MMM``/``MON`` is the
    month abbreviation; a SAS format name (``DATE9.``, ``YYMMDD10.``) is translated as a whole.

    Example:
        >>> suggest_format("MM/DD/YYYY"), suggest_format("DDMMMYYYY"), suggest_format("HH:mm")
        ('%m/%d/%Y', '%d%b%Y', '%H:%M')
    """
    if fmt.upper() in _SAS_FORMATS:
        return _SAS_FORMATS[fmt.upper()]
    out, last, hour = [], 0, False
    for token in _TOKENS.finditer(fmt):
        text = token.group(0).upper()
        if text == "YY":
            return None  # two-digit years are not read: nothing to suggest
        if text in ("HH", "HH24"):
            hour = True
        code = {
            "YYYY": "%Y", "MMM": "%b", "MON": "%b", "DD": "%d", "D": "%d", "HH": "%H",
            "HH24": "%H", "MI": "%M", "NN": "%M", "SS": "%S",
        }.get(text)  # fmt: skip
        if text in ("MM", "M"):
            code = "%M" if hour else "%m"
        between = fmt[last : token.start()]
        if any(c.isalnum() for c in between):
            return None
        out += [between, code or ""]
        last = token.end()
    rest = fmt[last:]
    if not out or any(c.isalnum() for c in rest):
        return None
    return "".join(out) + rest


def _no_codes(fmt: str) -> DateFormatError:
    hint = suggest_format(fmt)
    if fmt.upper().count("Y") == 2 or "%y" in fmt:
        return DateFormatError(
            f"{fmt!r}: two-digit years are not read (19 or 20?); {CODES_TEXT}, and the dates "
            "must hold four-digit years"
        )
    fix = f': write "{hint}"' if hint else ""
    return DateFormatError(f"{fmt!r} has no format codes; {CODES_TEXT}{fix}")


def compile_format(fmt: str) -> re.Pattern[str]:
    """Compile a strftime-style format into an anchored, case-insensitive regex.

    A format without codes, or with a code trialflow does not read, is refused with the codes
    it does read and, for a SAS or Excel style pattern, the format to write instead.

    Example:
        >>> bool(compile_format("%d-%b-%Y").match("UN-MAR-2009"))
        True
        >>> try:
        ...     compile_format("MM/DD/YYYY")
        ... except DateFormatError as exc:
        ...     str(exc).endswith('write "%m/%d/%Y"')
        True
    """
    out, i, seen = [], 0, set()
    while i < len(fmt):
        code = fmt[i : i + 2]
        if fmt[i] == "%":
            if code == "%y":
                raise _no_codes(fmt)
            if code not in _CODES:
                raise DateFormatError(f"unknown format code {code!r} in {fmt!r}; {CODES_TEXT}")
            if code in seen:
                raise DateFormatError(f"format code {code} appears twice in {fmt!r}")
            seen.add(code)
            out.append(_CODES[code])
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    if not seen:
        raise _no_codes(fmt)
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


def swap_day_month(fmt: str) -> str | None:
    """The format with ``%d`` and ``%m`` swapped; None when it lacks either (``%d-%b-%Y``).

    Example:
        >>> swap_day_month("%d/%m/%Y"), swap_day_month("%d-%b-%Y")
        ('%m/%d/%Y', None)
    """
    if "%d" not in fmt or "%m" not in fmt:
        return None
    return "%m".join(part.replace("%m", "%d") for part in fmt.split("%d"))


def _year_first(fmt: str) -> bool:
    """True for formats that put the year before the day and month (``%Y/%m/%d``)."""
    return "%Y" in fmt and fmt.index("%Y") < min(fmt.index("%d"), fmt.index("%m"))


AMBIGUITY_COLUMNS = ("taken", "format", "other", "other_format", "evidence")
"""Columns of :func:`day_month_ambiguous`'s result."""


def day_month_ambiguous(
    values: pd.Series, formats: list[str], parsed: Parsed | None = None
) -> pd.DataFrame:
    """Values whose day and month read either way, with both readings.

    A value is ambiguous when the format that read it (the first that matches) gives one date
    and the same format with day and month swapped gives another, and either

    * the swapped format is declared too (``[%d/%m/%Y, %m/%d/%Y]``: ``03/04/2019`` takes the
      first, silently), or
    * other values of the column match none of the declared formats but do read in the swapped
      order (``05/20/1966`` under ``%d/%m/%Y``): the column is probably in the other order.
      Formats that start with the year (``%Y/%m/%d``) are not weighed this way: a year-day-month
      column is not a thing sites write, and ``2019/13/01`` is a typo.

    Returns a frame aligned with ``values``: ``taken`` (the ISO date the formats gave),
    ``format``, ``other`` (the other reading), ``other_format`` and ``evidence`` (a value of the
    column that only reads in the other order, when that is the reason); all null on values
    that are not ambiguous. ``parsed`` (the values already read with ``formats``) saves the
    work when one order is declared and every value reads.

    Example:
        >>> out = day_month_ambiguous(pd.Series(["03/04/1966", "05/20/1966", "20/05/1966"]),
        ...                           ["%d/%m/%Y"])
        >>> out.loc[0, ["taken", "other", "evidence"]].tolist()
        ['1966-04-03', '1966-03-04', '05/20/1966']
        >>> out["taken"].notna().tolist()
        [True, False, False]
    """
    text = values.astype("str")
    empty = pd.DataFrame(
        {c: pd.Series(pd.NA, index=values.index, dtype="str") for c in AMBIGUITY_COLUMNS}
    )
    pairs = [(f, swap_day_month(f)) for f in formats]
    pairs = [(f, s) for f, s in pairs if s is not None]
    if not pairs or not text.notna().any():
        return empty
    both_declared = any(swapped in formats for _, swapped in pairs)
    if not both_declared and parsed is not None and not parsed.bad.any():
        return empty  # one order declared and every value reads in it: nothing to weigh
    codes, uniques = pd.factorize(text)
    u = pd.Series(uniques, dtype="str")
    chosen = _parse_dates(u, formats).iso
    if not both_declared and chosen.notna().all():
        return empty
    read = {f: _parse_dates(u, [f]).iso for f in dict.fromkeys(formats)}
    # the format that read each value: the first declared one that gives its date
    taken_by = pd.Series(pd.NA, index=u.index, dtype="str")
    for f in formats:
        taken_by = taken_by.mask(taken_by.isna() & read[f].notna() & read[f].eq(chosen), f)
    out = pd.DataFrame(
        {c: pd.Series(pd.NA, index=u.index, dtype="str") for c in AMBIGUITY_COLUMNS}
    )
    for fmt, swapped in pairs:
        if swapped not in read and _year_first(fmt):
            continue  # 2019/13/01 is a typo, not a year-day-month column
        other = read[swapped] if swapped in read else _parse_dates(u, [swapped]).iso
        evidence = pd.NA
        if swapped not in read:
            only_swapped = chosen.isna() & other.notna()
            if not only_swapped.any():
                continue
            evidence = u[only_swapped].iloc[0]
        hit = taken_by.eq(fmt).fillna(False) & other.notna() & other.ne(chosen).fillna(False)
        hit &= out["taken"].isna()
        if not hit.any():
            continue
        out.loc[hit, "taken"] = chosen[hit]
        out.loc[hit, "format"] = fmt
        out.loc[hit, "other"] = other[hit]
        out.loc[hit, "other_format"] = swapped
        out.loc[hit, "evidence"] = evidence
    if out["taken"].isna().all():
        return empty
    picked = out.to_numpy()[np.where(codes >= 0, codes, 0)]
    result = pd.DataFrame(picked, index=values.index, columns=list(AMBIGUITY_COLUMNS))
    result = result.astype("str")
    result.loc[codes < 0] = pd.NA
    return result
