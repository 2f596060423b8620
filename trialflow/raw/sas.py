"""Reader of SAS datasets (``.sas7bdat`` and ``.xpt``, XPORT version 5 or 8), read with pyreadstat.

One dataset is one sheet, named by the file name without its suffix (``lab.sas7bdat`` is sheet
``lab``). Rows are named by their 1-based record number in the dataset. The file size is
checked before pyreadstat opens the file, and the rows times columns from the dataset's header
(read alone first) before its data are read.

How values become text, as the other readers do:

* character variables: leading and trailing spaces removed; blank is missing;
* numeric variables: the shortest form that reads back the same (``9.3``, ``120``); a missing
  value is missing; in a ``.sas7bdat`` file SAS special missing values (``.A`` to ``.Z``,
  ``._``) stay as the text ``.A`` ... so that a spec reports them instead of losing them
  (pyreadstat cannot tell them apart in an ``.xpt`` file, where they read as missing);
* numeric variables with a SAS date format (``DATE9.``, ``YYMMDD10.``, ``E8601DA.``, ...):
  ISO 8601 dates ``2019-01-12``; with a datetime format ``2019-01-12T07:30`` (seconds only
  when not zero); with a time format ``07:30``. pyreadstat tells these formats apart.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from trialflow import limits
from trialflow.errors import RawInputError
from trialflow.raw import ROW, RawSheet, cell_text, check_cells, check_size

__all__ = ["read_sas"]


def read_sas(path: Path, shown: str, sheet: str) -> RawSheet:
    """Read one SAS dataset as a sheet of text; ``shown`` is how messages name the file.

    Example:
        >>> import tempfile, pyreadstat
        >>> path = Path(tempfile.mkdtemp()) / "lab.xpt"
        >>> pyreadstat.write_xport(pd.DataFrame({"TEST": ["GLUC", "HBA1C"]}), str(path))
        >>> sheet = read_sas(path, "raw/lab.xpt", "lab")
        >>> sheet.frame["TEST"].tolist(), sheet.where("TEST", 2)
        (['GLUC', 'HBA1C'], 'raw/lab.xpt, record 2, column TEST')
    """
    import pyreadstat

    if not path.exists():
        raise RawInputError(f"{shown}: no such file for sheet {sheet!r}")
    check_size(path, shown)
    if path.suffix.lower() == ".xpt":
        from trialflow.raw.guard import check_xpt_padding, xpt_layout

        layout = xpt_layout(path)
        if layout is not None:
            check_xpt_padding(path, shown, *layout)
    read = pyreadstat.read_sas7bdat if path.suffix.lower() == ".sas7bdat" else pyreadstat.read_xport
    try:
        _, meta = read(str(path), metadataonly=True)
    except Exception as exc:  # pyreadstat raises its own error types for unreadable files
        raise RawInputError(f"{shown}: not a readable SAS dataset ({_reason(exc)})") from exc
    columns = max(len(meta.column_names), 1)
    if meta.number_rows is not None:
        check_cells(int(meta.number_rows), columns, shown)
    # An XPORT header does not give the row count: read at most one row past the limit.
    limit = limits.current().sheet_cells // columns + 1
    options = {"user_missing": True} if read is pyreadstat.read_sas7bdat else {}
    try:
        data, meta = read(str(path), row_limit=limit, **options)
    except Exception as exc:
        raise RawInputError(f"{shown}: not a readable SAS dataset ({_reason(exc)})") from exc
    check_cells(len(data), columns, shown)
    names = [str(c) for c in data.columns]
    seen: set[str] = set()
    for name in names:
        if name.upper() in seen:
            raise RawInputError(f"{shown}: variable {name!r} appears twice")
        seen.add(name.upper())
    types = getattr(meta, "readstat_variable_types", {}) or {}
    text = {name: _as_text(data[name], types.get(name) != "string") for name in names}
    frame = pd.DataFrame(text, dtype="str") if names else pd.DataFrame(index=data.index)
    frame[ROW] = pd.array(range(1, len(data) + 1), dtype="int64")
    blank = frame[names].isna().all(axis=1) if names else pd.Series(True, index=frame.index)
    frame = frame.loc[~blank].reset_index(drop=True)
    return RawSheet(shown, sheet, frame, names, sheet_word=None, row_word="record")


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _as_text(column: pd.Series, numeric: bool) -> pd.Series:
    """One SAS variable as text: each distinct value converted once, then mapped."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        values = column.astype(object).where(column.notna(), None)
        return pd.Series([cell_text(_plain(v)) for v in values], dtype="str")
    uniques = pd.unique(column.dropna()) if len(column) else []
    table = {v: _value_text(v, numeric) for v in uniques}
    return pd.Series(column.map(table).where(column.notna(), None), dtype="str")


def _plain(value: object) -> object:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _value_text(value: object, numeric: bool) -> str | None:
    if isinstance(value, str):
        if numeric and value.strip():
            # pyreadstat hands a special missing value of a numeric variable as its letter
            return f".{value.strip()}"
        return cell_text(value)
    if isinstance(value, pd.Timestamp):
        return cell_text(value.to_pydatetime())
    if isinstance(value, (dt.date, dt.time, dt.datetime)):
        return cell_text(value)
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return cell_text(value)
