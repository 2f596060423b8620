"""SAS transport (XPORT) version 5 files, the format FDA and PMDA take SDTM and ADaM in.

trialflow writes XPT itself rather than through ``pyreadstat.write_xport``, whose files embed
the wall clock (so the bytes change on every run), take character lengths only from the data
(no per-variable length from metadata) and, in v5, silently truncate what doesn't fit (a
label over 40 bytes, for one). Here:

* the bytes are deterministic: the header's created/modified datetimes come from the caller
  (default 1960-01-01 00:00:00), never from the clock, so the same inputs give the same file;
* a character variable's length comes from the metadata (``XptVariable.length``), else from
  the longest value;
* nothing is truncated or changed silently: every value or attribute that XPT v5 can't hold
  (a name over 8 characters, a label over 40 bytes, a value over 200 bytes, non-ASCII text,
  a number outside the IBM range) is a :class:`~trialflow.errors.Finding`, and
  :func:`write_xpt` refuses to write while there is any.

The layout follows SAS technical note TS-140: 80-byte records; the LIBRARY, MEMBER,
DSCRPTR, NAMESTR and OBS header records; one 140-byte NAMESTR per variable; observations
packed back to back and the last record padded with spaces. Numbers are 8-byte big-endian
IBM/370 hexadecimal floating point (sign, base-16 exponent biased by 64, 56-bit fraction);
every double between 16**-65 and 16**63 converts exactly, smaller magnitudes become 0, and
SAS missing ``.`` is 0x2E followed by zero bytes. When the last observations are all blank
and shorter than a record, the padding can look like more blank observations to a reader;
as TS-140 prescribes, the file is still just padded with spaces.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"USUBJID": ["S-001", "S-002"], "AGE": [34, 51]})
    >>> xpt_findings(df, dataset="DM")
    []
"""

from __future__ import annotations

import contextlib
import decimal
import numbers
import os
import re
import struct
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from trialflow.errors import Finding, XptError
from trialflow.io.outputs import file_mode

__all__ = ["DEFAULT_CREATED", "XptVariable", "read_xpt", "write_xpt", "xpt_findings"]

DEFAULT_CREATED = datetime(1960, 1, 1)
"""Created/modified datetime written when the caller gives none (the SAS epoch)."""

SAS_VERSION = "9.4"
SAS_OS = "Python"
MAX_NAME_LENGTH = 8
MAX_LABEL_BYTES = 40
MAX_CHAR_BYTES = 200
MAX_VARIABLES = 9999
MAX_VALUE_FINDINGS = 20
"""Value findings reported per variable and code; one more finding counts the rest."""

_RECORD = 80
_CHUNK_BYTES = 1 << 23
_STRIP_BYTES = 1 << 28
_MISSING_WORD = np.uint64(0x2E << 56)
_IEEE_SIGN = np.uint64(1 << 63)
_IEEE_IMPLICIT = np.uint64(1 << 52)
_IEEE_FRACTION = np.uint64((1 << 52) - 1)
_IBM_MAX = 16.0**63
_EXACT_INT = 2**53
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DATASET_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_VARIABLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORMAT_RE = re.compile(
    r"(?P<name>\$?(?:[A-Za-z_](?:[A-Za-z0-9_]*[A-Za-z_])?)?)(?P<width>\d*)\.(?P<decimals>\d*)"
)
_NAMESTR = struct.Struct(">hhhh8s40s8shhh2s8shhi52s")


@dataclass(frozen=True)
class XptVariable:
    """Metadata of one column of an XPT dataset.

    ``type`` None takes the type from the dtype (numeric and boolean dtypes are Num, all
    others Char). ``length`` None is 8 for Num and the longest value in bytes (at least 1)
    for Char. ``format`` is a SAS format such as ``"DATE9."``, ``"$20."`` or ``"8.2"``.

    Example:
        >>> XptVariable("AETERM", "Reported Term for the Adverse Event", "Char", 200)
        XptVariable(name='AETERM', label='Reported Term for the Adverse Event', type='Char', length=200, format=None)
    """  # noqa: E501

    name: str
    label: str = ""
    type: Literal["Char", "Num"] | None = None
    length: int | None = None
    format: str | None = None


@dataclass
class _Column:
    """One variable ready to write: resolved attributes and the converted values."""

    name: str
    label: str
    type: str
    length: int
    format: tuple[str, int, int]
    data: np.ndarray  # Char: all values' ASCII bytes back to back; Num: (rows, 8) IBM bytes
    lengths: np.ndarray | None = None  # Char: each value's length in bytes
    offsets: np.ndarray | None = None  # Char: where each value starts in data, plus the end
    position: int = 0
    strip: Future[np.ndarray] | None = None  # Char: the (rows, length) bytes, when laid out


@dataclass
class _Check:
    """Findings collected for one dataset, with the count of problems they stand for."""

    dataset: str
    findings: list[Finding] = field(default_factory=list)
    problems: int = 0
    limit: int | None = MAX_VALUE_FINDINGS  # value findings per variable and code; None: all

    def add(self, code: str, message: str, variable: str | None = None, **kw: Any) -> None:
        self.findings.append(
            Finding(code, "error", message, dataset=self.dataset, variable=variable, **kw)
        )
        self.problems += 1

    def values(
        self, code: str, variable: str, rows: np.ndarray, values: Sequence[Any], what: Any
    ) -> None:
        """One finding per offending row, capped at ``limit`` plus one for the rest.

        ``rows`` are 0-based positions, ``values`` the offending values in the same order and
        ``what(value)`` the message for one value.
        """
        for row, value in zip(rows[: self.limit], values[: self.limit], strict=False):
            self.findings.append(
                Finding(
                    code,
                    "error",
                    what(value),
                    dataset=self.dataset,
                    variable=variable,
                    record=int(row) + 1,
                    value=str(value),
                )
            )
        rest = 0 if self.limit is None else len(rows) - self.limit
        if rest > 0:
            self.findings.append(
                Finding(
                    code,
                    "error",
                    f"{rest} more rows with this problem (first {self.limit} listed)",
                    dataset=self.dataset,
                    variable=variable,
                )
            )
        self.problems += len(rows)


def xpt_findings(
    df: pd.DataFrame,
    *,
    dataset: str,
    label: str = "",
    variables: Sequence[XptVariable] | None = None,
    limit: int | None = MAX_VALUE_FINDINGS,
) -> list[Finding]:
    """Every reason ``df`` can't be written to SAS XPORT v5 unchanged, as error findings.

    Checks the dataset name and label, the variable names, labels, types, lengths and formats
    (from ``variables`` where given) and every value: character values must be ASCII and fit
    the variable's length (at most 200 bytes), numbers must fit the IBM range. Value findings
    carry the 1-based ``record`` and the offending ``value``; after ``limit`` (20) for one
    variable and code, one more finding counts the rest (``limit=None`` lists every one).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"AETERM": ["HEADACHE", "NAUSÉE"]})
        >>> [f.one_line() for f in xpt_findings(df, dataset="AE")]
        ["error xpt-value-not-ascii: AE.AETERM record 2: value 'NAUSÉE' has non-ASCII character 'É' (U+00C9); XPT v5 text is ASCII"]
    """  # noqa: E501
    return _analyse(df, dataset, label, variables, limit=limit)[0].findings


def write_xpt(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    dataset: str,
    label: str = "",
    variables: Sequence[XptVariable] | None = None,
    created: datetime | None = None,
) -> Path:
    """Write ``df`` to ``path`` as a SAS XPORT v5 file and return the path.

    Runs :func:`xpt_findings` first and raises :class:`~trialflow.errors.XptError` (its
    ``findings`` attribute holds them all) when there is any: no value or attribute is ever
    truncated or changed. Columns are written in ``df``'s order. ``created`` is the header's
    created and modified datetime (default :data:`DEFAULT_CREATED`), so the same inputs give
    the same bytes. The file is written to a temporary name beside ``path`` and renamed.

    Example:
        >>> import pandas as pd, tempfile, pathlib
        >>> df = pd.DataFrame({"STUDYID": ["T1", "T1"], "AGE": [34.0, None]})
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "dm.xpt"
        >>> write_xpt(df, out, dataset="DM", label="Demographics",
        ...           variables=[XptVariable("AGE", "Age", length=8)]).stat().st_size
        1120
    """
    path = Path(path)
    # One worker thread: while the checks run over the next column (Python-bound), it lays
    # out the character columns already checked (numpy, which releases the GIL); later it
    # writes each block of rows while the next block is assembled.
    with ThreadPoolExecutor(1) as worker:
        check, columns = _analyse(df, dataset, label, variables, worker)
        if check.findings:
            for column in columns:
                if column.strip is not None:
                    column.strip.cancel()
            # every problem listed, not a count of the others: the user fixes them in one round
            text = "; ".join(f.one_line() for f in check.findings)
            error = XptError(text)
            error.findings = check.findings  # type: ignore[attr-defined]
            raise error
        header = _header(str(dataset), label or "", columns, created or DEFAULT_CREATED)
        obs_length = sum(c.length for c in columns)
        nrows = len(df)
        rows_per_chunk = max(1, _CHUNK_BYTES // obs_length)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(header)
                pending = None
                for start in range(0, nrows, rows_per_chunk):
                    stop = min(start + rows_per_chunk, nrows)
                    block = _observations(columns, start, stop, obs_length)
                    if pending is not None:
                        pending.result()
                    pending = worker.submit(fh.write, block.data)
                if pending is not None:
                    pending.result()
                fh.write(b" " * (-(nrows * obs_length) % _RECORD))
            os.chmod(tmp, file_mode())  # the umask's mode, as every output
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return path


def read_xpt(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read an XPT file with pyreadstat, numbers as stored (no date conversion), and its metadata.

    The metadata dict holds ``dataset``, ``label``, ``labels`` (column -> label, "" when
    blank), ``lengths`` (column -> storage length in bytes) and ``formats`` (column -> format
    written as in :class:`XptVariable`, e.g. ``"DATE9."``, or None).

    Example:
        >>> import pandas as pd, tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "ae.xpt"
        >>> _ = write_xpt(pd.DataFrame({"AESEQ": [1, 2]}), out, dataset="AE")
        >>> frame, meta = read_xpt(out)
        >>> frame["AESEQ"].tolist(), meta["dataset"], meta["lengths"]
        ([1.0, 2.0], 'AE', {'AESEQ': 8})
    """
    import pyreadstat

    frame, meta = pyreadstat.read_xport(os.fspath(path), disable_datetime_conversion=True)
    formats = {}
    for name, fmt in (meta.original_variable_types or {}).items():
        formats[name] = (fmt if "." in fmt else f"{fmt}.") if fmt else None
    return frame, {
        "dataset": meta.table_name,
        "label": meta.file_label or "",
        "labels": {n: lab or "" for n, lab in meta.column_names_to_labels.items()},
        "lengths": dict(meta.variable_storage_width),
        "formats": formats,
    }


# --- checks ---------------------------------------------------------------------------------


def _analyse(
    df: pd.DataFrame,
    dataset: str,
    label: str,
    variables: Sequence[XptVariable] | None,
    worker: ThreadPoolExecutor | None = None,
    limit: int | None = MAX_VALUE_FINDINGS,
) -> tuple[_Check, list[_Column]]:
    """Check everything and convert the values; the columns are only usable without findings.

    With a ``worker``, character columns checked without findings so far are laid out as
    fixed-width strips in the background, up to ``_STRIP_BYTES`` in all.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    check = _Check(str(dataset), limit=limit)
    _check_dataset(check, dataset, label, df.shape[1])
    meta = _metadata(check, df, variables)
    seen: dict[str, str] = {}
    columns: list[_Column] = []
    position = strip_bytes = 0
    for index in range(df.shape[1]):
        name = str(df.columns[index])
        if _check_name(check, name):
            upper = name.upper()
            if upper in seen:
                check.add(
                    "xpt-variable-duplicate",
                    f"variable {name!r} appears again (as {seen[upper]!r} before); "
                    "SAS names ignore case and must be unique",
                    name,
                )
            seen.setdefault(upper, name)
        column = _column(check, df.iloc[:, index], name, meta.get(name))
        if column is not None:
            column.position = position
            position += column.length
            columns.append(column)
            size = len(df) * column.length
            if (
                worker is not None
                and column.type == "Char"
                and not check.findings
                and strip_bytes + size <= _STRIP_BYTES
            ):
                column.strip = worker.submit(_char_strip, column)
                strip_bytes += size
    return check, columns


def _check_dataset(check: _Check, dataset: str, label: str, ncols: int) -> None:
    if ncols == 0:
        check.add("xpt-no-variables", "the dataset has no columns; an XPT dataset needs one")
    if ncols > MAX_VARIABLES:
        check.add(
            "xpt-too-many-variables",
            f"the dataset has {ncols} columns, XPT v5 allows {MAX_VARIABLES}",
        )
    name = str(dataset)
    if len(name) > MAX_NAME_LENGTH:
        check.add(
            "xpt-dataset-name",
            f"dataset name {name!r} is {len(name)} characters, XPT v5 allows {MAX_NAME_LENGTH}",
        )
    if not _DATASET_RE.fullmatch(name):
        check.add(
            "xpt-dataset-name",
            f"dataset name {name!r} must start with a letter and hold only ASCII letters "
            "and digits",
        )
    _check_label(check, label or "", None, "dataset label")


def _check_label(check: _Check, label: str, variable: str | None, what: str) -> None:
    text = str(label)
    size = len(text.encode("utf-8"))
    if size > MAX_LABEL_BYTES:
        check.add(
            "xpt-label-too-long",
            f"{what} {_show(text)} is {size} bytes, XPT v5 allows {MAX_LABEL_BYTES}",
            variable,
            value=text,
        )
    if not text.isascii():
        check.add(
            "xpt-label-not-ascii",
            f"{what} {_show(text)} has {_first_non_ascii(text)}; XPT v5 text is ASCII",
            variable,
            value=text,
        )


def _check_name(check: _Check, name: str) -> bool:
    """Report a bad variable name; True when the name is fine."""
    ok = True
    if len(name) > MAX_NAME_LENGTH:
        check.add(
            "xpt-variable-name",
            f"variable name {name!r} is {len(name)} characters, XPT v5 allows {MAX_NAME_LENGTH}",
            name,
        )
        ok = False
    if not _VARIABLE_RE.fullmatch(name):
        check.add(
            "xpt-variable-name",
            f"variable name {name!r} must start with a letter or underscore and hold only "
            "ASCII letters, digits and underscores",
            name,
        )
        ok = False
    return ok


def _metadata(
    check: _Check, df: pd.DataFrame, variables: Sequence[XptVariable] | None
) -> dict[str, XptVariable]:
    meta: dict[str, XptVariable] = {}
    columns = {str(c) for c in df.columns}
    for var in variables or ():
        if not isinstance(var, XptVariable):
            raise TypeError(f"variables must hold XptVariable, got {type(var).__name__}")
        if var.name in meta:
            check.add(
                "xpt-variable-duplicate",
                f"metadata lists variable {var.name!r} twice",
                var.name,
            )
            continue
        meta[var.name] = var
        if var.name not in columns:
            check.add(
                "xpt-variable-not-in-data",
                f"metadata variable {var.name!r} is not a column of the data",
                var.name,
            )
    return meta


def _column(check: _Check, series: pd.Series, name: str, var: XptVariable | None) -> _Column | None:
    """Resolve one column's attributes, check its values and convert them."""
    var = var or XptVariable(name)
    label = "" if var.label is None else str(var.label)
    _check_label(check, label, name, "label")
    if var.type is None:
        kind = "Num" if _is_number_dtype(series.dtype) else "Char"
    elif var.type in ("Char", "Num"):
        kind = var.type
    else:
        check.add(
            "xpt-type-invalid",
            f"type {var.type!r} is not 'Char' or 'Num'",
            name,
            value=str(var.type),
        )
        return None
    length = var.length
    if length is not None:
        low, high = (1, MAX_CHAR_BYTES) if kind == "Char" else (3, 8)
        if not isinstance(length, int | np.integer) or isinstance(length, bool):
            bad = True
        else:
            bad = not low <= int(length) <= high
        if bad:
            check.add(
                "xpt-length-invalid",
                f"{kind} length {length!r} is not a whole number from {low} to {high}",
                name,
                value=str(length),
            )
            length = None
        else:
            length = int(length)
    fmt = _parse_format(check, var.format, name, kind)
    if _is_datetime_dtype(series.dtype):
        check.add(
            "xpt-type-mismatch",
            f"column has dtype {series.dtype}; convert it to ISO 8601 text (Char) "
            "or SAS date/time numbers (Num) first",
            name,
        )
        return None
    if kind == "Char":
        converted = _char_values(check, series, name, length)
        if converted is None:
            return None
        data, lengths = converted
        if length is None:
            length = max(int(lengths.max(initial=0)), 1)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        return _Column(name, label, kind, length, fmt, data, lengths, offsets)
    data = _num_values(check, series, name)
    if data is None:
        return None
    return _Column(name, label, kind, length or 8, fmt, data)


def _parse_format(check: _Check, fmt: str | None, name: str, kind: str) -> tuple[str, int, int]:
    """The format as (name, width, decimals); blank when None or ''."""
    if not fmt:
        return ("", 0, 0)
    match = _FORMAT_RE.fullmatch(str(fmt))
    problem = None
    if match is None:
        problem = "is not a SAS format such as DATE9., $20. or 8.2"
    else:
        fname, width, decimals = match["name"], match["width"], match["decimals"]
        if not (fname or width):
            problem = "has neither a name nor a width"
        elif len(fname) > MAX_NAME_LENGTH:
            problem = f"has a name of {len(fname)} characters, XPT v5 allows {MAX_NAME_LENGTH}"
        elif width and int(width) > 32767:
            problem = "has a width over 32767"
        elif decimals and int(decimals) > 31:
            problem = "has more than 31 decimals"
        elif kind == "Char" and not fname.startswith("$"):
            problem = (
                "is a numeric format but the variable is Char (character formats start with $)"
            )
        elif kind == "Num" and fname.startswith("$"):
            problem = "is a character format but the variable is Num"
        elif kind == "Char" and decimals:
            problem = "has decimals, which character formats don't"
        else:
            return (fname, int(width or 0), int(decimals or 0))
    check.add("xpt-format-invalid", f"format {str(fmt)!r} {problem}", name, value=str(fmt))
    return ("", 0, 0)


def _is_number_dtype(dtype: Any) -> bool:
    return (
        ptypes.is_bool_dtype(dtype)
        or ptypes.is_integer_dtype(dtype)
        or ptypes.is_float_dtype(dtype)
    )


def _is_datetime_dtype(dtype: Any) -> bool:
    return (
        ptypes.is_datetime64_any_dtype(dtype)
        or ptypes.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    )


def _ascii_arrow_text(series: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """An Arrow-backed text column whose values are all ASCII as :func:`_char_values` gives
    it (the values' bytes back to back, missing values empty, and each value's length), read
    from Arrow's buffers; None for any other column (which takes the per-value way).

    Example:
        >>> data, lengths = _ascii_arrow_text(pd.Series(["AB", None, "C"], dtype="str"))
        >>> bytes(data), lengths.tolist()
        (b'ABC', [2, 0, 1])
    """
    dtype = series.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    if not len(series):
        return np.zeros(0, np.uint8), np.zeros(0, np.int64)
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.chunked_array([pa.array(series.array)]).fill_null("")
    if len(array) and not pc.all(pc.string_is_ascii(array)).as_py():
        return None
    array = array.cast(pa.large_string()).combine_chunks()
    bounds = np.frombuffer(array.buffers()[1], np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    lengths = np.diff(bounds).astype(np.int64) if len(array) else np.zeros(0, np.int64)
    buffer = array.buffers()[2]
    if buffer is None or not len(array):
        return np.zeros(0, np.uint8), lengths
    return np.frombuffer(buffer, np.uint8)[bounds[0] : bounds[-1]], lengths


def _char_values(
    check: _Check, series: pd.Series, name: str, declared: int | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The column's text as one ASCII byte string (uint8) and each value's length in bytes.

    Missing values are empty. Returns None when a value is not text; when a value is not
    ASCII the byte string is empty (the findings stop the write).
    """
    if _is_number_dtype(series.dtype):
        rows = np.flatnonzero(series.notna().to_numpy(dtype=bool))
        if len(rows) == 0:
            return np.zeros(0, np.uint8), np.zeros(len(series), np.int64)
        check.values(
            "xpt-type-mismatch",
            name,
            rows,
            series.iloc[rows[: check.limit]].tolist(),
            lambda v: f"value {v!r} is a number but the variable is Char",
        )
        return None
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if not isinstance(series.dtype, pd.StringDtype) and ptypes.infer_dtype(
        series, skipna=True
    ) not in ("string", "empty"):
        objects = series.to_numpy(dtype=object)
        is_text = np.fromiter((isinstance(v, str) for v in objects), bool, len(objects))
        bad = np.flatnonzero(series.notna().to_numpy(dtype=bool) & ~is_text)
        check.values(
            "xpt-type-mismatch",
            name,
            bad,
            [objects[i] for i in bad[: check.limit]],
            lambda v: f"value {v!r} is not text ({type(v).__name__}) but the variable is Char",
        )
        return None
    fast = _ascii_arrow_text(series)
    if fast is not None:
        data, lengths = fast
        if declared is None and not (lengths > MAX_CHAR_BYTES).any():
            return data, lengths  # nothing to report: no Python string made
        if declared is not None and not (lengths > min(declared, MAX_CHAR_BYTES)).any():
            return data, lengths
    values = series.to_numpy(dtype=object, na_value="")
    text = values.tolist()  # a list iterates faster than an object array
    lengths = np.fromiter(map(len, text), np.int64, len(text))
    joined = "".join(text)
    del text
    ascii_ = joined.isascii()
    if not ascii_:
        # Byte lengths differ from character lengths only for non-ASCII text.
        wide = np.flatnonzero(~np.fromiter(map(str.isascii, values), bool, len(values)))
        lengths[wide] = (
            pd.Series(values[wide], dtype="str").str.encode("utf-8").str.len().to_numpy(np.int64)
        )
    too_long = np.flatnonzero(lengths > MAX_CHAR_BYTES)
    if len(too_long):
        check.values(
            "xpt-value-too-long",
            name,
            too_long,
            values[too_long[: check.limit]].tolist(),
            lambda v: f"value {_show(v)} is {_utf8_len(v)} bytes, XPT v5 allows {MAX_CHAR_BYTES}",
        )
    if not ascii_:
        check.values(
            "xpt-value-not-ascii",
            name,
            wide,
            values[wide[: check.limit]].tolist(),
            lambda v: f"value {_show(v)} has {_first_non_ascii(v)}; XPT v5 text is ASCII",
        )
    if declared is not None:
        over = np.flatnonzero((lengths > declared) & (lengths <= MAX_CHAR_BYTES))
        if len(over):
            check.values(
                "xpt-length-exceeded",
                name,
                over,
                values[over[: check.limit]].tolist(),
                lambda v: (
                    f"value {_show(v)} is {_utf8_len(v)} bytes, longer than the "
                    f"declared length {declared}"
                ),
            )
    if not ascii_:
        return np.zeros(0, np.uint8), lengths
    return np.frombuffer(joined.encode("ascii"), np.uint8), lengths


def _num_values(check: _Check, series: pd.Series, name: str) -> np.ndarray | None:
    """IBM words of the column, or None when a value is not a number or doesn't fit."""
    n = len(series)
    missing = series.isna().to_numpy(dtype=bool)
    if _is_number_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        exact_check = ptypes.is_integer_dtype(series.dtype)
    else:
        objects = series.to_numpy(dtype=object)
        ok = missing | np.fromiter((_is_real(v) for v in objects), bool, n)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            check.values(
                "xpt-type-mismatch",
                name,
                bad,
                [objects[i] for i in bad[: check.limit]],
                lambda v: (
                    f"value {v!r} is not a number ({type(v).__name__}) but the variable is Num"
                ),
            )
            return None
        values = np.full(n, np.nan)
        present = ~missing
        try:
            values[present] = objects[present].astype(np.float64)
        except OverflowError:  # an int or Decimal beyond the double range
            values[present] = [_to_float(v) for v in objects[present]]
        exact_check = True
    if exact_check:
        big = np.flatnonzero(~missing & (np.abs(values) >= _EXACT_INT))
        originals = series.iloc[big].tolist() if len(big) else []
        inexact = [(row, v) for row, v in zip(big, originals, strict=True) if _inexact_integer(v)]
        if inexact:
            check.values(
                "xpt-number-not-exact",
                name,
                np.array([r for r, _ in inexact]),
                [v for _, v in inexact],
                lambda v: (
                    f"value {v} is an integer beyond 2**53 that a SAS number can't hold exactly"
                ),
            )
    with np.errstate(invalid="ignore"):
        out = np.flatnonzero(~missing & ~(np.abs(values) < _IBM_MAX))
    if len(out):
        check.values(
            "xpt-number-out-of-range",
            name,
            out,
            series.iloc[out[: check.limit]].tolist(),
            lambda v: (
                f"value {_clip(str(v))} is outside the range of XPT numbers "
                "(magnitude below 16**63, about 7.2E+75)"
            ),
        )
        return None
    return _ieee_to_ibm(values).astype(">u8").view(np.uint8).reshape(-1, 8)


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return np.inf


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real | decimal.Decimal)


def _inexact_integer(value: Any) -> bool:
    if isinstance(value, float | np.floating):
        return False
    try:
        return int(float(value)) != int(value)
    except (OverflowError, ValueError):
        return False


def _utf8_len(value: str) -> int:
    return len(value.encode("utf-8"))


def _first_non_ascii(text: str) -> str:
    char = next(c for c in text if not c.isascii())
    return f"non-ASCII character {char!r} (U+{ord(char):04X})"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _show(value: str, limit: int = 40) -> str:
    return repr(_clip(value, limit))


# --- encoding -------------------------------------------------------------------------------


def _ieee_to_ibm(values: np.ndarray) -> np.ndarray:
    """IEEE doubles as 64-bit words of IBM/370 hexadecimal floating point (vectorised).

    NaN becomes SAS missing ``.`` (0x2E then zeros); 0, -0 and magnitudes below 16**-65
    become 0; magnitudes of 16**63 and more (and infinities) raise ValueError. Inside the
    range the conversion is exact: a 53-bit mantissa always fits the 56-bit fraction.
    Store with ``.astype(">u8")`` for the big-endian bytes.

    Example:
        >>> [hex(w) for w in _ieee_to_ibm(np.array([1.0, -2.5, np.nan]))]
        ['0x4110000000000000', '0xc128000000000000', '0x2e00000000000000']
    """
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    ieee_exponent = ((bits >> 52) & 0x7FF).astype(np.int64)
    ieee_fraction = bits & _IEEE_FRACTION
    nan = (ieee_exponent == 0x7FF) & (ieee_fraction != 0)
    # |x| = (2**52 + ieee_fraction) * 2**(ieee_exponent - 1075) = F * 16**(E - 64) / 2**56
    # with F = (2**52 + ieee_fraction) << shift, shift = k mod 4, E - 64 = k div 4 and
    # k = ieee_exponent - 1019; F then lies in [2**52, 2**56): a normalised IBM fraction.
    k = ieee_exponent - 1019
    ibm_exponent = (k >> 2) + 64
    if np.any((ibm_exponent > 127) & ~nan):
        raise ValueError("numbers of magnitude 16**63 and over don't fit IBM floating point")
    shift = (k & 3).astype(np.uint64)
    words = (
        (bits & _IEEE_SIGN)
        | (ibm_exponent.astype(np.uint64) << 56)
        | ((ieee_fraction | _IEEE_IMPLICIT) << shift)
    )
    # Zero, IEEE subnormals and everything under 16**-65 become IBM zero.
    words[(ieee_exponent == 0) | (ibm_exponent < 0)] = 0
    words[nan] = _MISSING_WORD
    return words


def _datetime_text(when: datetime) -> str:
    return (
        f"{when.day:02d}{_MONTHS[when.month - 1]}{when.year % 100:02d}:"
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
    )


def _header(dataset: str, label: str, columns: list[_Column], created: datetime) -> bytes:
    """Every record before the observations: library, member, NAMESTR and OBS headers."""
    stamp = _datetime_text(created)

    def head(kind: str, numbers_: str = "0" * 30) -> str:
        return f"HEADER RECORD*******{kind:<8}HEADER RECORD!!!!!!!{numbers_}  "

    records = [
        head("LIBRARY"),
        f"{'SAS':<8}{'SAS':<8}{'SASLIB':<8}{SAS_VERSION:<8}{SAS_OS:<8}{'':24}{stamp}",
        f"{stamp}{'':64}",
        head("MEMBER", "000000000000000001600000000140"),
        head("DSCRPTR"),
        f"{'SAS':<8}{dataset:<8}{'SASDATA':<8}{SAS_VERSION:<8}{SAS_OS:<8}{'':24}{stamp}",
        f"{stamp}{'':16}{label:<40}{'':8}",
        head("NAMESTR", f"000000{len(columns):04d}" + "0" * 20),
    ]
    text = "".join(records).encode("ascii")
    assert len(text) == 8 * _RECORD
    namestrs = b"".join(
        _NAMESTR.pack(
            1 if c.type == "Num" else 2,
            0,
            c.length,
            number,
            c.name.encode("ascii").ljust(8),
            c.label.encode("ascii").ljust(40),
            c.format[0].encode("ascii").ljust(8),
            c.format[1],
            c.format[2],
            1 if c.type == "Num" else 0,
            b"\0\0",
            b" " * 8,
            0,
            0,
            c.position,
            b"\0" * 52,
        )
        for number, c in enumerate(columns, start=1)
    )
    namestrs += b" " * (-len(namestrs) % _RECORD)
    return text + namestrs + head("OBS").encode("ascii")


def _char_strip(column: _Column) -> np.ndarray:
    """All rows of a character column as a (rows, length) uint8 array, space padded."""
    return _char_block(column, 0, len(column.lengths))


def _char_block(column: _Column, start: int, stop: int) -> np.ndarray:
    """Rows start..stop-1 of a character column, values left-aligned and space padded.

    The values' bytes lie back to back in ``column.data``; a row-major boolean mask (or, when
    the column is mostly padding, the flat target index of every byte) puts each value at the
    start of its row. Lengths are at most 200, so uint8 comparisons suffice.
    """
    rows, width = stop - start, column.length
    first, last = int(column.offsets[start]), int(column.offsets[stop])
    data, lengths = column.data[first:last], column.lengths[start:stop]
    if len(data) == rows * width:
        return data.reshape(rows, width)
    out = np.full((rows, width), 32, dtype=np.uint8)
    if 8 * len(data) >= rows * width:
        out[np.arange(width, dtype=np.uint8) < lengths.astype(np.uint8)[:, None]] = data
    elif len(data):
        row_starts = np.arange(rows) * width - (column.offsets[start:stop] - first)
        out.reshape(-1)[np.repeat(row_starts, lengths) + np.arange(len(data))] = data
    return out


def _observations(columns: list[_Column], start: int, stop: int, obs_length: int) -> np.ndarray:
    """Rows start..stop-1 packed back to back as a (rows, obs_length) uint8 array.

    Built column by column with numpy, without a loop over rows: numbers are the first
    ``length`` IBM bytes, text comes from the column's strip or is laid out here.
    """
    block = np.empty((stop - start, obs_length), dtype=np.uint8)
    for c in columns:
        target = block[:, c.position : c.position + c.length]
        if c.type == "Num":
            target[...] = c.data[start:stop, : c.length]
        elif c.strip is not None:
            target[...] = c.strip.result()[start:stop]
        else:
            target[...] = _char_block(c, start, stop)
    return block
