"""CDISC Dataset-JSON v1.1 files (JSON and NDJSON), written from the metadata XPT files get.

:func:`write_dataset_json` takes a dataset as :func:`~trialflow.io.xpt.write_xpt` takes it (the
frame, with SAS date numbers for ADaM dates, and the same :class:`~trialflow.io.xpt.XptVariable`
list) and writes the Dataset-JSON file, so both files describe the variables alike:

* ``dataType``: Char variables are ``string``; Num variables are ``integer`` when every value
  is a whole number (below 2**53), else ``double``. A Num variable with a SAS date, datetime or
  time format (``DATE9.``, ``DATETIME20.``, ``TIME8.``, ``E8601DA.``, ...) holding whole
  numbers is written as an ISO 8601 text with dataType ``date``, ``datetime`` or ``time`` and
  ``targetDataType`` ``integer``: the receiving system turns it back into the SAS number, as
  the Dataset-JSON 1.1 specification describes (:mod:`trialflow.io.package` does).
* ``length``: for Char variables, the declared length, else the longest value in bytes (as XPT).
* ``displayFormat``: the variable's SAS format, when it has one.
* ``keySequence``: the position of the variable in ``keys`` (the dataset's natural keys).
* ``itemOID`` ``IT.<DATASET>.<VARIABLE>`` and ``itemGroupOID`` ``IG.<DATASET>``, the OIDs
  define.xml uses.

Missing values (NaN, None, pandas NA) and empty text are ``null``. The creation datetime comes
from the caller (see :func:`creation_datetime`), never from the clock, so the same inputs give
the same bytes. Rows are encoded a column at a time and written in blocks, so a dataset of
millions of rows needs no more than one block of text in memory at once.

Example:
    >>> import pandas as pd
    >>> columns = dataset_json_columns(pd.DataFrame({"AESEQ": [1.0, 2.0]}), dataset="AE")
    >>> columns[0]["dataType"], columns[0]["itemOID"]
    ('integer', 'IT.AE.AESEQ')
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

from trialflow.errors import DatasetJsonError
from trialflow.io.outputs import file_mode
from trialflow.io.xpt import DEFAULT_CREATED, XptVariable

__all__ = [
    "DATASET_JSON_VERSION",
    "creation_datetime",
    "dataset_json_columns",
    "write_dataset_json",
]

DATASET_JSON_VERSION = "1.1.0"
"""The Dataset-JSON version written."""

SAS_EPOCH = pd.Timestamp("1960-01-01")
_EPOCH_SECONDS = -315619200  # 1960-01-01 in seconds since 1970-01-01

_ROWS_PER_BLOCK = 50_000
_EXACT_INT = 2.0**53
_DATE_FORMATS = ("DATE", "YYMMDD", "E8601DA", "IS8601DA", "MMDDYY", "DDMMYY")
_DATETIME_FORMATS = ("DATETIME", "E8601DT", "IS8601DT")
_TIME_FORMATS = ("TIME", "E8601TM", "IS8601TM", "TOD")
_ISO = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%dT%H:%M:%S", "time": "%H:%M:%S"}


def creation_datetime(
    fixed: str | datetime | None = None, environ: Mapping[str, str] | None = None
) -> datetime:
    """The creation datetime to write in file headers: never the clock.

    ``SOURCE_DATE_EPOCH`` (seconds since 1970-01-01 UTC, the reproducible-builds convention)
    wins when set; else ``fixed`` (a study's run date, ISO 8601 ``YYYY-MM-DD`` or
    ``YYYY-MM-DDThh:mm:ss``); else :data:`~trialflow.io.xpt.DEFAULT_CREATED`. The result is
    naive, in UTC for ``SOURCE_DATE_EPOCH``. A value that can't be read raises
    :class:`~trialflow.errors.DatasetJsonError` naming it.

    Example:
        >>> creation_datetime(environ={"SOURCE_DATE_EPOCH": "1700000000"})
        datetime.datetime(2023, 11, 14, 22, 13, 20)
        >>> creation_datetime("2024-05-01", environ={})
        datetime.datetime(2024, 5, 1, 0, 0)
    """
    environ = os.environ if environ is None else environ
    epoch = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            seconds = int(epoch)
            return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
        except (ValueError, OverflowError, OSError):
            raise DatasetJsonError(
                f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds since 1970-01-01 UTC"
            ) from None
    if isinstance(fixed, datetime):
        return fixed
    if fixed:
        try:
            return datetime.fromisoformat(str(fixed)).replace(tzinfo=None)
        except ValueError:
            raise DatasetJsonError(
                f"run date {fixed!r} is not an ISO 8601 date or datetime "
                "(YYYY-MM-DD or YYYY-MM-DDThh:mm:ss)"
            ) from None
    return DEFAULT_CREATED


def _temporal_kind(fmt: str | None) -> str | None:
    """'date', 'datetime' or 'time' for a SAS format of that kind, else None."""
    if not fmt:
        return None
    name = str(fmt).upper().rstrip("0123456789.")
    for kind, names in (
        ("datetime", _DATETIME_FORMATS),
        ("date", _DATE_FORMATS),
        ("time", _TIME_FORMATS),
    ):
        if name in names:
            return kind
    return None


def _is_number(dtype: Any) -> bool:
    return ptypes.is_bool_dtype(dtype) or ptypes.is_numeric_dtype(dtype)


def _numbers(series: pd.Series, dataset: str, name: str) -> np.ndarray:
    """The column as float64 (NaN missing); raises when a value is not a finite number."""
    try:
        values = pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError) as exc:
        raise DatasetJsonError(f"{dataset}.{name}: a value is not a number ({exc})") from None
    bad = np.flatnonzero(np.isinf(values))
    if len(bad):
        raise DatasetJsonError(
            f"{dataset}.{name} record {bad[0] + 1}: value {values[bad[0]]} is not a finite "
            "number; JSON can't hold it"
        )
    return values


def _whole(values: np.ndarray) -> bool:
    present = values[~np.isnan(values)]
    return bool(np.all((np.floor(present) == present) & (np.abs(present) < _EXACT_INT)))


def _resolve(
    df: pd.DataFrame, dataset: str, variables: Sequence[XptVariable] | None, keys: Sequence[str]
) -> list[tuple[dict[str, Any], pd.Series]]:
    """Each column's Dataset-JSON metadata and its values: float64 for numbers, the JSON text
    of each value for strings."""
    meta = {v.name: v for v in variables or ()}
    key_order = {k: i for i, k in enumerate(dict.fromkeys(k for k in keys if k in df.columns), 1)}
    out = []
    for index in range(df.shape[1]):
        name = str(df.columns[index])
        series = df.iloc[:, index]
        var = meta.get(name, XptVariable(name))
        if ptypes.is_datetime64_any_dtype(series.dtype) or ptypes.is_timedelta64_dtype(
            series.dtype
        ):
            raise DatasetJsonError(
                f"{dataset}.{name}: column has dtype {series.dtype}; convert it to ISO 8601 "
                "text or SAS date numbers first (as for XPT)"
            )
        kind = var.type or ("Num" if _is_number(series.dtype) else "Char")
        column: dict[str, Any] = {
            "itemOID": f"IT.{dataset}.{name}",
            "name": name,
            "label": var.label or "",
        }
        if kind == "Char":
            if _is_number(series.dtype) and series.notna().any():
                raise DatasetJsonError(f"{dataset}.{name}: the variable is Char but holds numbers")
            # Each distinct value once: its size in bytes and its JSON text. A blank and a
            # missing character value are the same thing in SAS: both are null.
            text = series.astype("str")
            codes, uniques = pd.factorize(text.where(text != ""), use_na_sentinel=True)
            distinct = uniques.tolist()
            longest = max((len(u.encode("utf-8")) for u in distinct), default=0)
            column["dataType"] = "string"
            column["length"] = var.length or max(longest, 1)
            texts = pa.array(
                [json.dumps(u, ensure_ascii=False) for u in distinct] + ["null"], pa.large_string()
            )
            values = texts.take(np.where(codes < 0, len(distinct), codes))  # -1 (missing): null
        else:
            values = pd.Series(_numbers(series, dataset, name), index=series.index)
            whole = _whole(values.to_numpy())
            temporal = _temporal_kind(var.format)
            if temporal and whole:
                column["dataType"] = temporal
                column["targetDataType"] = "integer"
            else:
                column["dataType"] = "integer" if whole else "double"
        if var.format:
            column["displayFormat"] = var.format
        if name in key_order:
            column["keySequence"] = key_order[name]
        out.append((column, values))
    return out


def dataset_json_columns(
    df: pd.DataFrame,
    *,
    dataset: str,
    variables: Sequence[XptVariable] | None = None,
    keys: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The ``columns`` metadata of ``df`` as :func:`write_dataset_json` writes it.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"USUBJID": ["S-1"], "TRTSDT": [21915.0]})
        >>> dataset_json_columns(df, dataset="ADSL", keys=["USUBJID"],
        ...     variables=[XptVariable("TRTSDT", "Start Date", "Num", format="DATE9.")])[1]
        {'itemOID': 'IT.ADSL.TRTSDT', 'name': 'TRTSDT', 'label': 'Start Date', 'dataType': 'date', 'targetDataType': 'integer', 'displayFormat': 'DATE9.'}
    """  # noqa: E501
    return [column for column, _ in _resolve(df, str(dataset), variables, keys)]


def _encode(column: dict[str, Any], values: Any) -> pa.Array:
    """Each value's JSON text (``null`` when missing), as an Arrow string array.

    Numbers are written by Arrow as the shortest text that reads back as the same double
    (``2.45``, ``1e-7``; a whole double as ``7``), integers as digits, dates, datetimes and
    times as quoted ISO 8601.
    """
    kind = column["dataType"]
    if kind == "string":
        return values  # encoded by _resolve
    numbers = values.to_numpy(dtype=np.float64)
    missing = np.isnan(numbers)
    if kind in _ISO:
        # Arrow's strftime costs about a microsecond a value; a column of dates holds few
        # distinct ones, so each distinct value is formatted once and the texts taken by code.
        unit = 86400 if kind == "date" else 1
        seconds = np.where(missing, 0, numbers * unit).astype(np.int64)
        distinct, codes = np.unique(seconds, return_inverse=True)
        stamps = pa.array(distinct + _EPOCH_SECONDS, pa.timestamp("s"))
        iso = pc.strftime(stamps, format=_ISO[kind]).cast(pa.large_string())
        quoted = pc.binary_join_element_wise(_QUOTE, iso, _QUOTE, _NONE)
        text = quoted.take(pa.array(codes.reshape(-1), mask=missing))
    elif kind == "integer":
        ints = np.where(missing, 0, numbers).astype(np.int64)
        text = pa.array(ints, mask=missing).cast(pa.large_string())
    else:
        text = pa.array(numbers, mask=missing).cast(pa.large_string())
    return pc.fill_null(text.cast(pa.large_string()), "null")


_OPEN, _CLOSE, _COMMA, _QUOTE, _NONE = (
    pa.scalar(text, pa.large_string()) for text in ("[", "]", ",", '"', "")
)


def _commas(columns: list[pa.Array]) -> list[pa.Array | pa.Scalar]:
    """The columns with "," between them, for binary_join_element_wise with no separator."""
    out: list[pa.Array | pa.Scalar] = []
    for index, column in enumerate(columns):
        out += [_COMMA, column] if index else [column]
    return out


def write_dataset_json(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    dataset: str,
    label: str = "",
    variables: Sequence[XptVariable] | None = None,
    keys: Sequence[str] = (),
    created: datetime | None = None,
    ndjson: bool = False,
    study_oid: str | None = None,
    originator: str | None = None,
    source_system: tuple[str, str] | None = None,
) -> Path:
    """Write ``df`` as a Dataset-JSON v1.1 file (NDJSON with ``ndjson=True``) and return the path.

    ``variables`` and ``keys`` give the metadata (see the module notes); ``created`` is
    ``datasetJSONCreationDateTime`` (default :data:`~trialflow.io.xpt.DEFAULT_CREATED`).
    ``study_oid``, ``originator`` and ``source_system`` (name, version) are written when given.
    The file is UTF-8, written to a temporary name beside ``path`` and renamed.

    Example:
        >>> import pandas as pd, tempfile, pathlib, json
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "dm.json"
        >>> df = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "AGE": [34.0, None]})
        >>> doc = json.loads(write_dataset_json(df, out, dataset="DM", label="Demographics",
        ...     keys=["USUBJID"]).read_text())
        >>> doc["records"], doc["rows"], doc["columns"][0]["keySequence"]
        (2, [['S-1', 34], ['S-2', None]], 1)
    """
    path = Path(path)
    dataset = str(dataset)
    resolved = _resolve(df, dataset, variables, keys)
    when = created or DEFAULT_CREATED
    meta: dict[str, Any] = {
        "datasetJSONCreationDateTime": when.strftime("%Y-%m-%dT%H:%M:%S"),
        "datasetJSONVersion": DATASET_JSON_VERSION,
    }
    if originator:
        meta["originator"] = originator
    if source_system:
        meta["sourceSystem"] = {"name": source_system[0], "version": source_system[1]}
    if study_oid:
        meta["studyOID"] = study_oid
    meta["itemGroupOID"] = f"IG.{dataset}"
    meta["records"] = len(df)
    meta["name"] = dataset
    meta["label"] = label or ""
    meta["columns"] = [column for column, _ in resolved]
    head = json.dumps(meta, ensure_ascii=False, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            if ndjson:
                fh.write(head + "\n")
            else:
                fh.write(head[:-1] + ', "rows": [')
            first = True
            for start in range(0, len(df), _ROWS_PER_BLOCK):
                stop = min(start + _ROWS_PER_BLOCK, len(df))
                encoded = [_encode(c, v[start:stop]) for c, v in resolved]
                if encoded:
                    joined = pc.binary_join_element_wise(_OPEN, *_commas(encoded), _CLOSE, _NONE)
                    rows = joined.to_pylist()
                else:
                    rows = ["[]"] * (stop - start)
                if ndjson:
                    fh.write("\n".join(rows) + "\n")
                else:
                    fh.write(("\n" if first else ",\n") + ",\n".join(rows))
                first = False
            if not ndjson:
                fh.write("\n]}\n" if not first else "]}\n")
        os.chmod(tmp, file_mode())  # the umask's mode, as every output
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
