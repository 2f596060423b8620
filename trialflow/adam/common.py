"""Small pieces the ADaM templates share: record selection, ISO 8601 datetimes, findings.

These are template plumbing, not admiral derivations; the derivations live in
:mod:`trialflow.adam.derive`, :mod:`trialflow.adam.dates` and :mod:`trialflow.adam.windows`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from trialflow.errors import Finding

_FULL_DTM = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"


def text(series: pd.Series) -> pd.Series:
    """A column as trimmed text with blanks as null (SDTM read from XPT has "" for missing).

    Example:
        >>> text(pd.Series([" Y", "", None])).tolist()
        ['Y', nan, nan]
    """
    out = series.astype("str").str.strip()
    return out.mask(out == "")


def matches(frame: pd.DataFrame, where: Mapping[str, Any]) -> pd.Series:
    """Records whose columns equal the given value (or one of a list of values), compared as text.

    A column the frame lacks matches nothing.

    Example:
        >>> df = pd.DataFrame({"LBTESTCD": ["GLUC", "GLUC"], "LBFAST": ["Y", "N"]})
        >>> matches(df, {"LBTESTCD": "GLUC", "LBFAST": ["Y"]}).tolist()
        [True, False]
    """
    mask = pd.Series(True, index=frame.index)
    for column, wanted in where.items():
        if column not in frame.columns:
            return pd.Series(False, index=frame.index)
        values = [wanted] if not isinstance(wanted, list) else wanted
        mask &= text(frame[column]).isin([str(v) for v in values]).fillna(False)
    return mask.astype(bool)


def full_datetime(series: pd.Series) -> pd.Series:
    """ISO 8601 values with a date and a time (to the minute at least) as datetime64; else NaT.

    As for the analysis dates (:func:`~trialflow.adam.dates.derive_vars_dt`), a year outside
    what datetime64[ns] holds (before 1678, after 2261) is no analysis datetime: NaT.

    Example:
        >>> full_datetime(pd.Series(["2019-05-12T09:50", "2019-05-12", None])).tolist()
        [Timestamp('2019-05-12 09:50:00'), NaT, NaT]
        >>> full_datetime(pd.Series(["0001-01-01T09:50", "9999-12-31T23:59"])).tolist()
        [NaT, NaT]
    """
    values = text(series)
    full = values.str.fullmatch(_FULL_DTM).fillna(False).astype(bool)
    year = pd.to_numeric(values.str.slice(0, 4), errors="coerce")
    full &= year.between(1678, 2261).fillna(False).astype(bool)
    out = pd.to_datetime(values.where(full), format="ISO8601", errors="coerce")
    return out.astype("datetime64[ns]")


def numbers(series: pd.Series) -> pd.Series:
    """A column as float64 (blank text and non-numbers become NaN).

    Example:
        >>> numbers(pd.Series(["1.5", "", None])).tolist()
        [1.5, nan, nan]
    """
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64")
    return pd.to_numeric(text(series), errors="coerce").astype("float64")


def record_findings(
    frame: pd.DataFrame,
    mask: pd.Series | np.ndarray,
    *,
    code: str,
    severity: str,
    dataset: str,
    variable: str | None,
    message: Any,
    value: str | None = None,
) -> list[Finding]:
    """One finding per flagged record; ``message`` is text or a function of the record's row.

    ``record`` is the 1-based position of the record in ``frame``.

    Example:
        >>> df = pd.DataFrame({"USUBJID": ["A", "B"]})
        >>> [f.record for f in record_findings(df, [False, True], code="x", severity="notice",
        ...                                     dataset="ADLB", variable=None, message="m")]
        [2]
    """
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    out: list[Finding] = []
    # One finding per flagged record: the list is as long as the problem, not the dataset.
    for pos in positions:
        row = frame.iloc[int(pos)]
        text_ = message(row) if callable(message) else str(message)
        usubjid = row.get("USUBJID")
        out.append(
            Finding(
                code,
                severity,  # type: ignore[arg-type]
                text_,
                dataset=dataset,
                variable=variable,
                record=int(pos) + 1,
                usubjid=None if pd.isna(usubjid) else str(usubjid),
                value=value
                if value is not None
                else (
                    None if variable is None or pd.isna(row.get(variable)) else str(row[variable])
                ),
            )
        )
    return out
