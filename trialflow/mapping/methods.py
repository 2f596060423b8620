"""Mapping methods on raw rows, named as sdtm.oak names its algorithms.

Each function takes the raw frame (str columns, see :mod:`trialflow.raw`) and returns a new
Series aligned with it; none changes its input. Problems come back as boolean masks so the
caller can turn each flagged row into a Finding that names the raw file, sheet, row and column.

Controlled terminology is passed in as a :class:`TermMap` (built by the SDTM layer from the
shipped CDISC CT and the study's own collected values), so this layer holds no CT itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from trialflow.mapping.dates import (
    Parsed,
    combine_datetime,
    day_month_ambiguous,
    parse_dates,
    parse_times,
    time_dropped,
)
from trialflow.mapping.spec import Condition
from trialflow.raw import ROW

SOURCE_COLUMN = "__COLUMN__"
"""Name of the column that holds, after transposition, the raw column each record came from."""


def _norm(values: pd.Series) -> pd.Series:
    return values.astype("str").str.strip().str.casefold()


@dataclass(frozen=True)
class TermMap:
    """How collected values map to the submission values of one codelist.

    ``table`` maps the case-folded collected text to the submission value; ``terms`` is the set
    of submission values (what a hardcoded value must be one of); ``extensible`` says whether
    sponsor terms outside the list are allowed.

    Example:
        >>> tm = TermMap.build("SEX", ["F", "M", "U"], {"Male": "M"}, extensible=False)
        >>> tm.map(pd.Series(["male", " F", "X"])).tolist()
        ['M', 'F', nan]
    """

    codelist: str
    table: Mapping[str, str]
    terms: frozenset[str]
    extensible: bool

    @classmethod
    def build(
        cls,
        codelist: str,
        terms: Iterable[str],
        collected: Mapping[str, str],
        *,
        extensible: bool,
        synonyms: Mapping[str, str] | None = None,
    ) -> TermMap:
        """Build from submission values, CDISC synonyms and study collected values.

        Study collected values win over CDISC synonyms when both name the same text.
        """
        terms = frozenset(terms)
        table: dict[str, str] = {}
        for text, term in (synonyms or {}).items():
            table[text.strip().casefold()] = term
        for term in terms:
            table[term.strip().casefold()] = term
        for text, term in collected.items():
            table[str(text).strip().casefold()] = term
        return cls(codelist, table, terms | frozenset(collected.values()), extensible)

    def map(self, values: pd.Series) -> pd.Series:
        """Submission value for each raw value; NA where nothing matches (never passed through)."""
        return _norm(values).map(self.table).astype("str")


def condition_mask(frame: pd.DataFrame, when: Condition | Mapping[str, object] | None) -> pd.Series:
    """Rows that meet a condition: each named column passes its test (AND), ``any`` holds
    when one of its conditions does (OR). Cells compare as trimmed text, exactly.

    A column test is a list of values (the cell holds one), ``blank``, ``filled`` or ``not``
    (the cell is blank or holds none of the values). ``frame`` must hold a column for every
    name the condition reads.

    Example:
        >>> f = pd.DataFrame({"TEST": ["FPG", "HbA1c", None]}, dtype="str")
        >>> condition_mask(f, {"TEST": ["FPG", "2hPG"]}).tolist()
        [True, False, False]
        >>> condition_mask(f, {"TEST": {"not": ["FPG"]}}).tolist()
        [False, True, True]
        >>> condition_mask(f, {"any": [{"TEST": {"blank": True}}, {"TEST": ["FPG"]}]}).tolist()
        [True, False, True]
    """
    if when is None:
        return pd.Series(True, index=frame.index)
    cond = when if isinstance(when, Condition) else Condition.model_validate(dict(when))
    mask = pd.Series(True, index=frame.index)
    for column, test in cond.columns.items():
        text = frame[column].astype("str").str.strip()
        blank = (text.isna() | (text == "")).astype(bool)
        if test.blank:
            mask &= blank
        if test.filled:
            mask &= ~blank
        if test.in_ is not None:
            wanted = [_scalar_text(v) for v in test.in_]
            mask &= text.isin(wanted).fillna(False).astype(bool)
        if test.not_ is not None:
            unwanted = [_scalar_text(v) for v in test.not_]
            mask &= blank | ~text.isin(unwanted).fillna(False).astype(bool)
    if cond.any_:
        either = pd.Series(False, index=frame.index)
        for part in cond.any_:
            either |= condition_mask(frame, part)
        mask &= either
    return mask


def _scalar_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def assign_no_ct(frame: pd.DataFrame, raw: str) -> pd.Series:
    """The raw column's values as they are (already trimmed text, NA where empty).

    Example:
        >>> assign_no_ct(pd.DataFrame({"AE_TERM": ["Fever"]}, dtype="str"), "AE_TERM").tolist()
        ['Fever']
    """
    return frame[raw].astype("str")


def assign_ct(frame: pd.DataFrame, raw: str, terms: TermMap) -> tuple[pd.Series, pd.Series]:
    """Map a raw column through controlled terminology.

    Returns the mapped values and the mask of non-empty raw values that map to nothing; those
    stay missing in SDTM and must be reported (sdtm.oak passes them through upper-cased; trialflow
    never does).

    Example:
        >>> tm = TermMap.build("NY", ["N", "Y"], {"Yes": "Y", "1": "Y"}, extensible=False)
        >>> values, unmapped = assign_ct(pd.DataFrame({"F": ["1", "yes", "maybe"]}), "F", tm)
        >>> values.tolist(), unmapped.tolist()
        (['Y', 'Y', nan], [False, False, True])
    """
    source = frame[raw]
    mapped = terms.map(source)
    unmapped = source.notna() & mapped.isna()
    return mapped, unmapped


def hardcode(frame: pd.DataFrame, value: object) -> pd.Series:
    """The same value on every row (text; numbers keep their shortest form).

    Example:
        >>> hardcode(pd.DataFrame(index=range(2)), "INTRAVENOUS").tolist()
        ['INTRAVENOUS', 'INTRAVENOUS']
    """
    return pd.Series(_scalar_text(value), index=frame.index, dtype="str")


@dataclass(frozen=True)
class DatetimeResult:
    """ISO 8601 values and the problems found on the way (masks aligned with the frame).

    ``ambiguous`` holds, for the date column, the values whose day and month read either way
    (see :func:`~trialflow.mapping.dates.day_month_ambiguous`; all null when there are none).
    """

    iso: pd.Series
    bad: dict[str, pd.Series]
    time_dropped: pd.Series | None
    ambiguous: pd.DataFrame | None = None


def assign_datetime(
    frame: pd.DataFrame, raw: list[str], formats: list[str] | list[list[str]]
) -> DatetimeResult:
    """Build ISO 8601 --DTC from a date column and optionally a time column.

    ``formats`` is a list of date formats, or ``[date formats, time formats]`` when ``raw``
    names a date and a time column. Partial dates stay partial; values that match no format
    are left missing and flagged in ``bad`` by raw column; values whose day and month could be
    read the other way round are described in ``ambiguous``.

    Example:
        >>> f = pd.DataFrame({"D": ["12-JAN-2019", "UN-FEB-2019", "2019-13-01"],
        ...                   "T": ["07:30", None, None]})
        >>> r = assign_datetime(f, ["D", "T"], [["%d-%b-%Y", "%Y-%m-%d"], ["%H:%M"]])
        >>> r.iso.tolist(), r.bad["D"].tolist()
        (['2019-01-12T07:30', '2019-02', nan], [False, False, True])
        >>> g = pd.DataFrame({"D": ["03/04/1966", "25/12/1970"]})
        >>> assign_datetime(g, ["D"], ["%d/%m/%Y", "%m/%d/%Y"]).ambiguous["other"].tolist()
        ['1966-03-04', nan]
    """
    if formats and isinstance(formats[0], list):
        date_formats, *rest = formats
        time_formats = rest[0] if rest else []
    else:
        date_formats, time_formats = list(formats), []  # type: ignore[arg-type]
    date: Parsed = parse_dates(frame[raw[0]], date_formats)  # type: ignore[arg-type]
    bad = {raw[0]: date.bad}
    ambiguous = day_month_ambiguous(frame[raw[0]], date_formats, date)  # type: ignore[arg-type]
    if len(raw) < 2:
        return DatetimeResult(date.iso, bad, None, ambiguous)
    time: Parsed = parse_times(frame[raw[1]], time_formats)  # type: ignore[arg-type]
    bad[raw[1]] = time.bad
    return DatetimeResult(
        combine_datetime(date.iso, time.iso), bad, time_dropped(date.iso, time.iso), ambiguous
    )


def transpose(
    frame: pd.DataFrame, columns: Mapping[str, Mapping[str, object]], result: str
) -> pd.DataFrame:
    """Findings transposition: one record per raw row and listed column with a value.

    The new frame keeps every raw column and :data:`~trialflow.raw.ROW`, adds ``result`` with
    the cell's text, :data:`SOURCE_COLUMN` with the raw column's name, and one column per value
    the spec sets for that raw column. Records keep the raw row order, then the listed order.

    Example:
        >>> f = pd.DataFrame({"SUBJ": ["01-001"], "WT": ["70"], "HT": [None], "__ROW__": [2]})
        >>> cols = {"WT": {"VSTESTCD": "WEIGHT"}, "HT": {"VSTESTCD": "HEIGHT"}}
        >>> t = transpose(f, cols, "VSORRES")
        >>> t[["VSTESTCD", "VSORRES", "__COLUMN__"]].values.tolist()
        [['WEIGHT', '70', 'WT']]
    """
    keep = [c for c in frame.columns if c not in columns]
    parts = []
    for position, (column, values) in enumerate(columns.items()):
        part = frame.loc[frame[column].notna(), keep].copy()
        part[result] = frame.loc[part.index, column].astype("str")
        part[SOURCE_COLUMN] = column
        for name, value in values.items():
            part[name] = _scalar_text(value)
        part["__ORDER__"] = position
        parts.append(part)
    out = pd.concat(parts) if parts else frame.loc[[], keep]
    set_names = sorted({n for v in columns.values() for n in v})
    for name in [*set_names, result, SOURCE_COLUMN]:
        out[name] = out[name].astype("str") if name in out else pd.Series(dtype="str")
    out = out.sort_values([ROW, "__ORDER__"], kind="stable").drop(columns="__ORDER__")
    return out.reset_index(drop=True)
