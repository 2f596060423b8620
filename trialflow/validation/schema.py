"""Dataset-level rules generated from the SDTMIG metadata and run with pandera.

Nothing here is written by hand per domain. :func:`schema_for` reads the SDTMIG 3.4 variables
of a domain (type, core, codelist, natural keys) from :mod:`trialflow.sdtm.metadata` and turns
the variables present in the data into a :class:`pandera.api.pandas.container.DataFrameSchema`:

* the dtype of each variable (Char -> ``str``, Num -> ``float64``; no coercion);
* ``nullable=False`` plus a blank-value check for Required variables;
* a codelist check (``sdtm_codelist``) for every variable with a CDISC CT codelist, matching
  submission values exactly (case-sensitive), as validators do;
* an ISO 8601 check (``sdtm_iso8601``) for every ``*DTC`` variable (dates, date/times, partial
  dates with SDTM's ``-`` for a missing component, intervals of uncertainty) and every
  ``*DUR`` / ``*ELTM`` variable (durations);
* the 200-byte limit of SAS XPORT v5 (``sdtm_max_bytes``) and leading spaces
  (``sdtm_no_leading_space``) for every character column;
* uniqueness of the natural keys present (``unique=`` with ``report_duplicates="all"``);
  the rules find the records that share keys with pandas' ``duplicated``, as pandera does,
  without pandera's slow reshaping of those failure cases (:func:`_key_failures`).

Domains trialflow has no metadata for (MH, DS, custom domains) get the checks that follow from
variable names alone; SUPP-- datasets get the SUPPQUAL structure below.

The rules registered at the bottom each take the failures of the part of the schema they own
(run alone, a rule runs only that part; within a validation all of them read one run of the
whole schema per dataset), convert ``SchemaErrors.failure_cases`` into
:class:`~trialflow.errors.Finding` objects with the record, USUBJID, value and source of every
failing record: every failing record is reported (:data:`MAX_FINDINGS` is None), so that the
counts are of records affected.

Example:
    >>> import pandas as pd
    >>> from trialflow.validation.core import Dataset, Package
    >>> dm = Dataset.from_frame("DM", pd.DataFrame({"STUDYID": ["S1"], "DOMAIN": ["DM"],
    ...     "USUBJID": ["S1-001"], "SUBJID": ["001"], "SITEID": ["01"], "SEX": ["X"],
    ...     "COUNTRY": ["CHN"]}))
    >>> [f.one_line() for f in ct_value_not_in_codelist(Package({"DM": dm}))]
    ["error ct-value-not-in-codelist: DM.SEX record 1 (S1-001): SEX value 'X' is not a \
submission value of the non-extensible codelist SEX (C66731) [DM, row 1, column SEX]"]
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trialflow.errors import Finding, Severity
from trialflow.sdtm import metadata
from trialflow.validation.core import (
    FILE,
    RECORD,
    Dataset,
    Package,
    cached,
    column_fact,
    factorized,
    finding,
    is_validating,
    rule,
    spread,
    validating,
)

__all__ = [
    "MAX_FINDINGS",
    "char_length_exceeds_200",
    "ct_value_not_in_codelist",
    "dtc_not_iso8601",
    "expected_variable_missing",
    "is_iso8601_datetime",
    "is_iso8601_duration",
    "key_not_unique",
    "required_value_missing",
    "required_variable_missing",
    "schema_for",
    "validate_dataset",
    "value_leading_spaces",
    "variable_type_mismatch",
]

MAX_FINDINGS: int | None = None
"""Findings listed per dataset, variable and rule: None lists every failing record (a number
lists that many and one more finding counts the rest)."""

_OTHERS = 5  # other records named in a key-not-unique message

MAX_BYTES = 200
"""Longest character value SAS XPORT v5 can hold, in bytes (SDTM inherits the limit)."""

# The SUPPQUAL structure of SDTMIG 3.4, kept here because the shipped metadata
# covers DM, VS, LB, EX, AE, CM and MH only. All ten variables are Char. The nine listed as
# required must be columns of every SUPP-- dataset; IDVAR and IDVARVAL are Expected in the IG
# table because they are null on records that qualify DM, so they are required as columns but
# not as values. QEVAL is Expected.
_SUPP_REQUIRED = (
    "STUDYID",
    "RDOMAIN",
    "USUBJID",
    "IDVAR",
    "IDVARVAL",
    "QNAM",
    "QLABEL",
    "QVAL",
    "QORIG",
)
_SUPP_NULLABLE = frozenset({"IDVAR", "IDVARVAL"})
_SUPP_EXPECTED = ("QEVAL",)
_SUPP_KEYS = ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM")

# Identifiers every subject-level dataset carries, for domains without shipped metadata. Trial
# design datasets have no subjects and RELREC has RDOMAIN instead of DOMAIN, so they require
# less.
_GENERIC_REQUIRED = ("STUDYID", "DOMAIN", "USUBJID")
_GENERIC_REQUIRED_BY_DATASET = {
    **{name: ("STUDYID", "DOMAIN") for name in ("TA", "TD", "TE", "TI", "TM", "TS", "TV")},
    "RELREC": ("STUDYID", "RDOMAIN"),
}

_CHECK_CT = "ct:"
_CHECK_DTC = "iso8601:datetime"
_CHECK_DUR = "iso8601:duration"
_CHECK_BLANK = "not_blank"
_CHECK_NULL = "not_nullable"
_CHECK_BYTES = f"max_bytes:{MAX_BYTES}"
_CHECK_LEADING = "no_leading_space"
_CHECK_UNIQUE = "multiple_fields_uniqueness"
_CHECK_DTYPE = "dtype("

_SDTM_KINDS = ("sdtm", "supp")
if TYPE_CHECKING:
    import pandera.pandas as pa

_TEXT_DTYPE = pd.Series([], dtype="str").dtype  # the dtype pandera's ``str`` stands for


# --- ISO 8601 as SDTM uses it ---------------------------------------------------------------

# Each date/time component is its digits or a single "-" when it is missing inside the value,
# as in the SDTMIG's examples "2003---15", "--12-15", "-----T07:15" and "2003-12-15T-:15".
# Right truncation drops components ("2003-12"), so a value never ends with a missing one.
_YEAR = r"(?:\d{4}|-)"
_MONTH = r"(?:0[1-9]|1[0-2]|-)"
_DAY = r"(?:0[1-9]|[12]\d|3[01]|-)"
_HOUR = r"(?:[01]\d|2[0-3]|-)"
_MINUTE = r"(?:[0-5]\d|-)"
_SECOND = r"(?:[0-5]\d(?:[.,]\d+)?)"
_OFFSET = r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)"
_TIME = rf"T(?:24:00(?::00(?:[.,]0+)?)?|{_HOUR}(?::{_MINUTE}(?::{_SECOND})?)?){_OFFSET}?"
_POINT = rf"{_YEAR}(?:-{_MONTH}(?:-{_DAY})?)?(?:{_TIME})?"
# A date/time, or an interval of uncertainty between two of them ("2003-12-01/2003-12-10").
_DATETIME = rf"{_POINT}(?:/{_POINT})?"
_DATETIME_RE = re.compile(rf"(?!.*-$)(?!.*-/){_DATETIME}")

_NUM = r"\d+(?:[.,]\d+)?"
# ISO 8601 durations PnYnMnDTnHnMnS or PnW with at least one component; a leading "-" is kept
# for elapsed times before the reference point (--ELTM).
_DURATION_RE = re.compile(
    rf"-?P(?:{_NUM}W|(?=\d|T\d)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}D)?"
    rf"(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?)"
)
_FULL_DATE_RE = r"(?<![\d-])(\d{4}-\d{2}-\d{2})"


def _is_text(series: pd.Series) -> bool:
    """True when the column holds text: a string dtype, or objects/categories that are strings."""
    if isinstance(series.dtype, pd.StringDtype):
        return True
    if isinstance(series.dtype, pd.CategoricalDtype):
        return _is_text(pd.Series(series.dtype.categories))
    if isinstance(series.dtype, np.dtype) and series.dtype.kind == "O":
        return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    return False


def _blank(values: pd.Series) -> pd.Series:
    return values.str.strip().eq("")


def _stored(values: pd.Series) -> pd.Series:
    """Values as SAS XPORT stores them: trailing blanks are padding and do not count."""
    return values.str.rstrip(" ")


def _iso8601_bad(values: pd.Series, duration: bool) -> pd.Series:
    """Which of the distinct non-blank ``values`` are not valid ISO 8601 (vectorised)."""
    if duration:
        return ~values.str.fullmatch(_DURATION_RE).fillna(False).astype(bool)
    # _DATETIME_RE without its lookaheads, which pyarrow's regex engine cannot run: a value of
    # the _DATETIME form holds no line break, so "(?!.*-$)" is "does not end with '-'" and
    # "(?!.*-/)" is "holds no '-/'".
    good = (
        values.str.fullmatch(_DATETIME)
        & ~values.str.endswith("-")
        & ~values.str.contains("-/", regex=False)
    )
    bad = ~good.fillna(False).astype(bool)
    valid = values[~bad]
    # In a valid value a full date (_FULL_DATE_RE) can only start one of its points: the time
    # part never holds "dddd-dd-dd". Outside intervals that is the first ten characters, which
    # spares the regex search through every value; intervals are searched.
    interval = valid.str.contains("/", regex=False).to_numpy(dtype=bool)
    heads = valid[~interval].str.slice(0, 10)
    dates = [heads[heads.str.fullmatch(r"\d{4}-\d{2}-\d{2}").to_numpy(dtype=bool)]]
    if interval.any():
        dates.append(valid[interval].str.extractall(_FULL_DATE_RE)[0].droplevel(1))
    found = pd.concat(dates)
    if not found.empty:
        when = pd.to_datetime(found, format="%Y-%m-%d", errors="coerce")
        impossible = when.isna().groupby(level=0).any()
        bad.loc[impossible.index[impossible.to_numpy()]] = True
    return bad


def is_iso8601_datetime(values: Iterable[str]) -> list[bool]:
    """Whether each value is an ISO 8601 date/time as SDTM allows (partial, missing parts).

    Example:
        >>> is_iso8601_datetime(["2003-12-15T13:14:17.5", "2003---15", "--12-15", "2019",
        ...                      "12/01/2019", "2019-02-30", "2003-12-01/2003-12-10"])
        [True, True, True, True, False, False, True]
    """
    texts = pd.Series(list(values), dtype="str")
    return (~_iso8601_bad(texts, duration=False)).tolist()


def is_iso8601_duration(values: Iterable[str]) -> list[bool]:
    """Whether each value is an ISO 8601 duration (PnYnMnDTnHnMnS or PnW, optional '-').

    Example:
        >>> is_iso8601_duration(["P2D", "PT1H30M", "-PT15M", "P1.5W", "P", "2 days"])
        [True, True, True, True, False, False]
    """
    texts = pd.Series(list(values), dtype="str")
    return (~_iso8601_bad(texts, duration=True)).tolist()


# --- registered pandera checks --------------------------------------------------------------
# Each returns True (nothing to report) or a boolean Series over the column. They leave numbers
# alone (a column of the wrong type is the dtype check's) and judge each distinct value once:
# a column holds few distinct values (11 LBTESTCD over 60,000 records), it is factorised once
# per validation, the verdicts per distinct value are kept (:func:`column_fact`) and the codes
# carry them back to the records.


def _passes(
    series: pd.Series, check: Hashable, judge: Callable[[pd.Series], Any]
) -> bool | pd.Series:
    """True when ``judge`` finds no distinct value of ``series`` bad, else the passing mask.

    ``judge`` maps the distinct non-null values (a ``str`` Series) to a boolean "bad" mask; its
    verdicts may already be known from :func:`_judge_package`.
    """
    codes, values = factorized(series)
    bad = column_fact(series, check, lambda: np.asarray(judge(values), dtype=bool))
    if not bad.any():
        return True
    return pd.Series(~spread(codes, bad, False), index=series.index, name=series.name)


# What each check finds bad among distinct values (a str Series with a RangeIndex). Each value
# is judged on its own, so values of several columns can be judged together.


def _judge_blank(values: pd.Series) -> np.ndarray:
    return _blank(values).to_numpy(dtype=bool)


def _judge_codelist(stored: pd.Series, blank: np.ndarray, codelist: str) -> np.ndarray:
    return (_submission_values(codelist).get_indexer(stored) < 0) & ~blank


def _judge_iso8601(values: pd.Series, blank: np.ndarray, kind: str) -> np.ndarray:
    filled = values[~blank].reset_index(drop=True)
    bad = np.zeros(len(values), dtype=bool)
    bad[~blank] = _iso8601_bad(_stored(filled), duration=kind == "duration").to_numpy(bool)
    return bad


def _judge_max_bytes(stored: pd.Series, limit: int) -> np.ndarray:
    # A character is at most 4 bytes in UTF-8, so only values longer than limit/4 can fail.
    long = stored[(stored.str.len() > limit // 4).to_numpy(dtype=bool)]
    bad = np.zeros(len(stored), dtype=bool)
    if not long.empty:
        bad[long.index.to_numpy()] = (long.str.encode("utf-8").str.len() > limit).to_numpy(bool)
    return bad


def _judge_leading(values: pd.Series, blank: np.ndarray) -> np.ndarray:
    return values.str.startswith(" ").to_numpy(dtype=bool) & ~blank


def _blank_values(series: pd.Series) -> np.ndarray:
    """Which distinct values of ``series`` are blank (empty or only spaces)."""
    values = factorized(series)[1]
    return column_fact(series, "blank", lambda: _judge_blank(values))


def _sdtm_codelist(series: pd.Series, *, codelist: str) -> bool | pd.Series:
    if not _is_text(series):
        return True
    blank = _blank_values(series)
    return _passes(
        series,
        ("codelist", codelist),
        lambda values: _judge_codelist(_stored(values), blank, codelist),
    )


def _sdtm_iso8601(series: pd.Series, *, kind: str) -> bool | pd.Series:
    if not _is_text(series):
        return True
    blank = _blank_values(series)
    return _passes(series, ("iso8601", kind), lambda values: _judge_iso8601(values, blank, kind))


def _sdtm_not_blank(series: pd.Series) -> bool | pd.Series:
    if not _is_text(series):
        return True
    blank = _blank_values(series)
    return _passes(series, ("not-blank",), lambda values: blank)


def _sdtm_max_bytes(series: pd.Series, *, limit: int) -> bool | pd.Series:
    if not _is_text(series):
        return True
    return _passes(
        series, ("max-bytes", limit), lambda values: _judge_max_bytes(_stored(values), limit)
    )


def _sdtm_no_leading_space(series: pd.Series) -> bool | pd.Series:
    if not _is_text(series):
        return True
    blank = _blank_values(series)
    return _passes(series, ("leading-space",), lambda values: _judge_leading(values, blank))


def _judge_package(package: Package) -> None:
    """Judge the distinct values of all text columns of the package at once, for the checks.

    The verdicts are kept for the validation (:func:`column_fact`) under the keys the checks
    look them up by, so the checks find them ready. A handful of string operations over the
    distinct values of every column replaces a handful per column, whose fixed cost is most
    of the work when a column holds few distinct values.
    """
    try:
        _judge_columns(package)
    except Exception:  # judging in bulk only saves time: the checks can judge their own
        return  # columns inside pandera, which reports any error of theirs as it always has


def _judge_columns(package: Package) -> None:
    texts, codelists = [], []
    for ds in _datasets(package):
        structure = _structure(_structure_name(ds))
        for name in ds.variables:
            series = ds.frame[name]
            if _is_text(series):
                var = structure.by_name.get(name)
                texts.append(series)
                codelists.append(var.codelist if var is not None else "")
    if not texts:
        return
    distinct = [factorized(series)[1] for series in texts]
    values = pd.concat(distinct, ignore_index=True)
    bounds = np.cumsum([0, *(len(d) for d in distinct)])
    blank = _judge_blank(values)
    stored = _stored(values)
    common = {
        "blank": blank,
        ("leading-space",): _judge_leading(values, blank),
        ("max-bytes", MAX_BYTES): _judge_max_bytes(stored, MAX_BYTES),
    }
    dated = np.zeros(len(values), dtype=bool)
    for series, a, b in zip(texts, bounds[:-1], bounds[1:], strict=True):
        dated[a:b] = _suffix_check(str(series.name)) == "datetime"
    dates = np.zeros(len(values), dtype=bool)
    if dated.any():
        chosen = values[dated].reset_index(drop=True)
        dates[dated] = _judge_iso8601(chosen, blank[dated], "datetime")
    for series, codelist, a, b in zip(texts, codelists, bounds[:-1], bounds[1:], strict=True):
        verdicts = {key: verdict[a:b] for key, verdict in common.items()}
        if dated[a:b].any():
            verdicts[("iso8601", "datetime")] = dates[a:b]
        if codelist:
            verdicts[("codelist", codelist)] = _judge_codelist(
                stored.iloc[a:b].reset_index(drop=True), blank[a:b], codelist
            )
        for key, verdict in verdicts.items():
            column_fact(series, key, lambda verdict=verdict: verdict)


@functools.cache
def _pandera() -> tuple[Any, Any]:
    """pandera (``pandera.pandas``) with trialflow's checks registered, and the ``str`` data
    type the schemas use; imported on first use.

    Most packages pass every column check and key check before pandera is needed (see
    :func:`_known_passing`), and a clean package then never imports pandera: its import is
    half a second of every ``trialflow validate``. A check that fails is run and reported by
    pandera, as before.
    """
    import pandera.pandas as pa
    from pandera import dtypes, extensions
    from pandera.engines import pandas_engine

    def register(func: Any, statistics: Sequence[str]) -> None:
        name = func.__name__.lstrip("_")
        if hasattr(pa.Check, name):  # registered by an earlier import of this module
            return

        def check(obj: pd.Series, **kwargs: Any) -> bool | pd.Series:
            return func(obj, **kwargs)

        check.__name__ = name
        check.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
        extensions.register_check_method(
            check, statistics=list(statistics), supported_types=pd.Series
        )

    for func, stats in (
        (_sdtm_codelist, ["codelist"]),
        (_sdtm_iso8601, ["kind"]),
        (_sdtm_not_blank, []),
        (_sdtm_max_bytes, ["limit"]),
        (_sdtm_no_leading_space, []),
    ):
        register(func, stats)

    @dtypes.immutable(init=True)
    class Char(pandas_engine.STRING):
        """pandera's ``str`` data type, answering True for a column that passes as a whole.

        pandera's own check answers a column of ``str`` dtype with one True per record, and
        pandera then formats failure cases and a message for every such column although none
        failed. Any other answer is passed on unchanged, so the same columns fail with the same
        failure cases.
        """

        def check(
            self, pandera_dtype: dtypes.DataType, data_container: pd.Series | None = None
        ) -> Any:
            result = super().check(pandera_dtype, data_container)
            if not isinstance(result, bool) and bool(np.all(result)):
                return True
            return result

    return pa, Char()


# --- metadata -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Var:
    name: str
    type: str  # "Char" or "Num"
    core: str  # "Req", "Exp" or "Perm"
    codelist: str  # short name of a shipped codelist, "" for none
    nullable: bool  # False: a Required variable that must hold a value on every record


@dataclass(frozen=True)
class _Structure:
    """What the rules know about a dataset: its variables, natural keys and their source."""

    name: str
    source: str  # how to name the standard in messages
    variables: tuple[_Var, ...]
    keys: tuple[str, ...]

    @functools.cached_property
    def by_name(self) -> dict[str, _Var]:
        return {v.name: v for v in self.variables}


@dataclass(frozen=True)
class _CodelistInfo:
    name: str
    code: str
    extensible: bool
    terms: tuple[str, ...]


@functools.cache
def _codelist_info(name: str) -> _CodelistInfo:
    cl = metadata.codelist_terms(name)
    return _CodelistInfo(cl.name, cl.code, cl.extensible, cl.terms)


@functools.cache
def _submission_values(name: str) -> pd.Index:
    """The submission values of a codelist as an index, to look many values up at once.

    ``Series.isin`` with the codelist's terms converts every term on each call, which costs
    more than the check when the codelist is long (2,000+ LBTESTCD terms).
    """
    return pd.Index(pd.unique(pd.Series(_codelist_info(name).terms, dtype="str")), dtype="str")


@functools.cache
def _shipped_codelist(name: str) -> str:
    """``name`` when trialflow ships that codelist, else "" (no check rather than a guess)."""
    if not name:
        return ""
    try:
        _codelist_info(name)
    except metadata.MetadataError:
        return ""
    return name


def _is_supp(name: str) -> bool:
    return name.upper().startswith("SUPP") and len(name) > 4


@functools.cache
def _known_domains() -> frozenset[str]:
    return frozenset(metadata.known_domains())


@functools.lru_cache(maxsize=64)
def _structure(domain: str) -> _Structure:
    """The variables and keys of ``domain``: SDTMIG metadata, SUPPQUAL, or the generic few."""
    name = str(domain).strip().upper()
    if name in _known_domains():
        rows = metadata.domain_variable_records(name)
        variables = tuple(
            _Var(
                str(r["name"]),
                str(r["type"]),
                str(r["core"]),
                _shipped_codelist(str(r["codelist"])),
                str(r["core"]) != "Req",
            )
            for r in rows
        )
        keys = tuple(str(rows[0]["keys"]).split())
        return _Structure(name, f"SDTMIG {metadata.SDTMIG_VERSION}", variables, keys)
    if _is_supp(name):
        variables = tuple(
            _Var(v, "Char", "Req", "", v in _SUPP_NULLABLE) for v in _SUPP_REQUIRED
        ) + tuple(_Var(v, "Char", "Exp", "", True) for v in _SUPP_EXPECTED)
        return _Structure(
            name, f"the SDTMIG {metadata.SDTMIG_VERSION} SUPPQUAL structure", variables, _SUPP_KEYS
        )
    required = _GENERIC_REQUIRED_BY_DATASET.get(name, _GENERIC_REQUIRED)
    variables = tuple(_Var(v, "Char", "Req", "", False) for v in required)
    return _Structure(name, "SDTM (every subject-level dataset)", variables, ())


def _key_columns(structure: _Structure, columns: Sequence[str]) -> tuple[str, ...]:
    """The natural keys to check: those present, or none when a Req/Exp key is absent.

    Leaving out a Permissible key the study does not collect (VSTPTREF) keeps the check
    meaningful; leaving out a Required or Expected one would call records duplicates that the
    IG tells apart, so then the missing-variable rules speak and this check stays silent.
    """
    present = set(columns)
    keys = tuple(k for k in structure.keys if k in present)
    for k in structure.keys:
        var = structure.by_name.get(k)
        if k not in present and (var is None or var.core in ("Req", "Exp")):
            return ()
    return keys if len(keys) > 1 else ()


def _suffix_check(name: str) -> str | None:
    name = str(name)
    if name.endswith("DTC"):
        return "datetime"
    if name.endswith(("DUR", "ELTM")):
        return "duration"
    return None


# --- schemas --------------------------------------------------------------------------------

_PARTS = frozenset({"dtype", "required", "ct", "dtc", "keys", "length", "leading"})


@functools.cache
def _check(kind: str, arg: Any = None) -> pa.Check:
    """One check object per kind and argument, shared by every column that runs it.

    Building a registered check validates its arguments against the function's signature, a
    cost paid once here rather than once per column and schema. The checks hold no state.
    """
    pa, _ = _pandera()
    # The checks pass null values themselves; given the whole column rather than pandera's
    # copy without nulls, they reuse its factorisation (see ``_passes``).
    whole = {"ignore_na": False}
    if kind == "required":
        return pa.Check.sdtm_not_blank(error=_CHECK_BLANK, **whole)
    if kind == "ct":
        return pa.Check.sdtm_codelist(codelist=arg, error=f"{_CHECK_CT}{arg}", **whole)
    if kind == "dtc":
        error = _CHECK_DUR if arg == "duration" else _CHECK_DTC
        return pa.Check.sdtm_iso8601(kind=arg, error=error, **whole)
    if kind == "length":
        return pa.Check.sdtm_max_bytes(limit=MAX_BYTES, error=_CHECK_BYTES, **whole)
    return pa.Check.sdtm_no_leading_space(error=_CHECK_LEADING, **whole)


@functools.lru_cache(maxsize=256)
def _build_schema(
    domain: str,
    columns: tuple[str, ...],
    parts: frozenset[str],
    passing: frozenset[tuple[str, str]] = frozenset(),
) -> pa.DataFrameSchema:
    """The schema of the ``parts`` for these ``columns``, without the (column, part) checks
    in ``passing``: those the data is known to pass (:func:`_known_passing`)."""
    pa, char = _pandera()
    structure = _structure(domain)
    schema_columns: dict[str, pa.Column] = {}
    for name in columns:
        var = structure.by_name.get(name)
        checks: list[pa.Check] = []
        dtype: Any = None
        nullable = True

        def wanted(part: str, name: str = name) -> bool:
            return part in parts and (name, part) not in passing

        if var is not None:
            if wanted("dtype"):
                dtype = char if var.type == "Char" else "float64"
            if wanted("required") and not var.nullable:
                nullable = False
                checks.append(_check("required"))
            if wanted("ct") and var.codelist:
                checks.append(_check("ct", var.codelist))
        kind = _suffix_check(name)
        if wanted("dtc") and kind:
            checks.append(_check("dtc", kind))
        if wanted("length"):
            checks.append(_check("length"))
        if wanted("leading"):
            checks.append(_check("leading"))
        if checks or dtype is not None or not nullable:
            schema_columns[name] = pa.Column(
                dtype, checks=checks, nullable=nullable, coerce=False, required=True, name=name
            )
    keys = list(_key_columns(structure, columns)) if "keys" in parts else []
    schema = pa.DataFrameSchema(
        {},
        unique=keys or None,
        report_duplicates="all",
        coerce=False,
        strict=False,
        name=domain,
    )
    # Given the columns, DataFrameSchema deep-copies each one (its checks and their arguments)
    # to set its name: 0.2 s for the 200 columns of a package. They are named already, built
    # here for this schema alone and never changed, so the schema takes them as they are.
    schema.columns = schema_columns
    return schema


def schema_for(domain: str, columns: Sequence[str]) -> pa.DataFrameSchema:
    """The pandera schema of ``domain`` for a dataset with these ``columns``.

    Built from the SDTMIG 3.4 metadata for DM, VS, LB, EX, AE, CM and MH, from the SUPPQUAL
    structure for SUPP-- datasets and from variable names for any other domain; only the
    variables in ``columns`` get column checks. Schemas are cached per domain and column set.
    Validate with ``schema.validate(frame, lazy=True)``; :func:`validate_dataset` turns the
    failures into findings.

    Example:
        >>> s = schema_for("DM", ["STUDYID", "DOMAIN", "USUBJID", "SEX", "RFSTDTC", "AGE"])
        >>> str(s.columns["AGE"].dtype), s.columns["SEX"].nullable, s.unique
        ('float64', False, ['STUDYID', 'USUBJID'])
        >>> [c.error for c in s.columns["SEX"].checks][:2]
        ['not_blank', 'ct:SEX']
        >>> [c.error for c in s.columns["RFSTDTC"].checks][0]
        'iso8601:datetime'
    """
    return _build_schema(str(domain).strip().upper(), tuple(columns), _PARTS)


# --- running a schema and turning failures into findings -----------------------------------

_EMPTY_FAILURES = pd.DataFrame(columns=["column", "check", "failure_case", "index"])


def _datasets(package: Package) -> Iterator[Dataset]:
    for ds in package.datasets.values():
        if ds.kind in _SDTM_KINDS:
            yield ds


def _structure_name(ds: Dataset) -> str:
    return str(ds.name).strip().upper()


def _harmonised(frame: pd.DataFrame, structure: _Structure, columns: Sequence[str]) -> pd.DataFrame:
    """The frame with equivalent storage made uniform, so the dtype check sees real mismatches.

    Text in another string dtype becomes ``str``; integers and numbers held as objects become
    ``float64``; an all-null column takes its variable's type. Text holding numbers is left as
    text and numbers in a Char variable are left as numbers: those are the mismatches.
    """
    changes: dict[str, pd.Series] = {}
    for name in columns:
        var = structure.by_name.get(name)
        if var is None:
            continue
        series = frame[name]
        dtype = series.dtype
        if dtype == (_TEXT_DTYPE if var.type == "Char" else np.float64):
            continue
        empty = not series.notna().any()
        if var.type == "Char":
            if empty or _is_text(series):
                changes[name] = series.astype("str")
        else:
            numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            if isinstance(dtype, np.dtype) and dtype.kind == "O" and not empty:
                numeric = pd.api.types.infer_dtype(series, skipna=True) in (
                    "floating",
                    "integer",
                    "mixed-integer-float",
                    "decimal",
                )
            if empty or numeric:
                changes[name] = pd.Series(
                    series.to_numpy(dtype=np.float64, na_value=np.nan), index=series.index
                )
    return frame.assign(**changes) if changes else frame


def _known_passing(
    structure: _Structure,
    runs: list[tuple[frozenset[str], pd.DataFrame]],
    columns: Sequence[str],
) -> frozenset[tuple[str, str]]:
    """The (column, part) checks that the data passes, found without pandera's run.

    Each column check is called here as pandera calls it (the registered function on the
    whole column, see :func:`_check`): while a package is validated the verdicts on each
    column's distinct values are known already (:func:`_judge_package`), so this costs a few
    lookups, whereas pandera's machinery costs about 2 ms per column and check. A check that
    answers True has no failure case to report; leaving it out of the schema changes no
    finding. A check that fails or raises stays in, and pandera reports it as before. The
    dtype part passes when the column already has its variable's storage type, and the
    Required part when the column holds neither null nor blank values.
    """
    out: set[tuple[str, str]] = set()
    for parts, frame in runs:
        for name in columns:
            var = structure.by_name.get(name)
            series = frame[name]
            calls: list[tuple[str, Callable[[], Any]]] = []
            if var is not None:
                if "dtype" in parts:
                    want = _TEXT_DTYPE if var.type == "Char" else np.dtype(np.float64)
                    if series.dtype == want:
                        out.add((name, "dtype"))
                if "required" in parts and not var.nullable and not series.isna().any():
                    calls.append(("required", lambda s=series: _sdtm_not_blank(s)))
                if "ct" in parts and var.codelist:
                    cl = var.codelist
                    calls.append(("ct", lambda s=series, cl=cl: _sdtm_codelist(s, codelist=cl)))
            kind = _suffix_check(name)
            if "dtc" in parts and kind:
                calls.append(("dtc", lambda s=series, k=kind: _sdtm_iso8601(s, kind=k)))
            if "length" in parts:
                calls.append(("length", lambda s=series: _sdtm_max_bytes(s, limit=MAX_BYTES)))
            if "leading" in parts:
                calls.append(("leading", lambda s=series: _sdtm_no_leading_space(s)))
            for part, call in calls:
                try:
                    passed = call() is True
                except Exception:  # pandera runs it and reports the error as it always has
                    passed = False
                if passed:
                    out.add((name, part))
    return frozenset(out)


def _nothing_left(
    structure: _Structure,
    columns: Sequence[str],
    parts: frozenset[str],
    passing: frozenset[tuple[str, str]],
) -> bool:
    """True when the schema of these ``parts`` would hold no check the data is not known to
    pass: every column check is in ``passing`` (the keys are checked without pandera, see
    :func:`_key_failures`)."""
    for name in columns:
        var = structure.by_name.get(name)
        wanted = []
        if var is not None:
            wanted.append("dtype")
            if not var.nullable:
                wanted.append("required")
            if var.codelist:
                wanted.append("ct")
        if _suffix_check(name):
            wanted.append("dtc")
        wanted += ["length", "leading"]
        if any(part in parts and (name, part) not in passing for part in wanted):
            return False
    return True


def _failures(
    ds: Dataset, parts: frozenset[str], prune: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the ``parts`` of the dataset's schema; return (frame by position, failure cases).

    The dtype part checks the frame with equivalent storage made uniform (:func:`_harmonised`),
    the other parts check the frame as it is. When both views are the same frame one pandera
    run checks all the parts; otherwise the dtype part runs on its own. With ``prune`` the
    column checks the data is known to pass are left out of the run (:func:`_known_passing`).
    The keys part is found without pandera (:func:`_key_failures`), as pandera would find it.
    """
    frame = ds.frame.set_axis(pd.RangeIndex(len(ds.frame)), axis=0)
    columns = tuple(ds.variables)
    domain = _structure_name(ds)
    structure = _structure(domain)
    found = []
    if "keys" in parts:
        found.append(_key_failures(frame, _key_columns(structure, columns)))
        parts = parts - {"keys"}
    data = _harmonised(frame, structure, columns) if "dtype" in parts else frame
    runs = [(parts, frame)]
    if data is not frame:
        runs = [(frozenset({"dtype"}), data), (parts - {"dtype"}, frame)]
    passing = _known_passing(structure, runs, columns) if prune else frozenset()
    for chosen, checked in runs:
        if prune and _nothing_left(structure, columns, chosen, passing):
            continue  # every check passes: pandera has nothing to report (nor to import)
        schema = _build_schema(domain, columns, chosen, passing)
        if not schema.columns and not schema.unique:
            continue
        pa, _ = _pandera()
        try:
            schema.validate(checked, lazy=True, inplace=True)
        except pa.errors.SchemaErrors as err:
            found.append(err.failure_cases)
    found = [cases for cases in found if not cases.empty]
    if not found:
        return frame, _EMPTY_FAILURES
    return frame, found[0] if len(found) == 1 else pd.concat(found, ignore_index=True)


def _key_failures(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The failure cases of the schema's ``unique`` (natural keys) part, found with pandas.

    pandera checks ``unique`` with ``DataFrame.duplicated(keep=False)`` on the key columns, the
    records reported being every record whose keys another record shares, nulls equal to nulls;
    these are the same records. pandera then reshapes its failure cases a column at a time
    through ``stack``/``unstack`` of the whole subset, which took 1.3 s for the 7,341 CM records
    of the CDISC pilot package that share keys, and made pandera (0.5 s to import) run for a
    dataset whose every column check passes. Only the record positions are read (by
    :func:`_key_findings`).

    Example:
        >>> f = pd.DataFrame({"A": ["x", "x", "y", None, None], "B": [1.0, 1.0, 2.0, None, None]})
        >>> _key_failures(f, ["A", "B"])["index"].tolist()
        [0, 1, 3, 4]
    """
    if not keys:
        return _EMPTY_FAILURES
    positions = np.flatnonzero(frame.duplicated(subset=list(keys), keep=False).to_numpy())
    return pd.DataFrame(
        {
            "column": pd.Series([None] * len(positions), dtype=object),
            "check": _CHECK_UNIQUE,
            "failure_case": pd.Series([None] * len(positions), dtype=object),
            "index": positions,
        }
    )


def _schema_failures(
    ds: Dataset, part: str, package: Package | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The failures of one part of the dataset's schema (and maybe of others).

    While ``package`` is being validated every rule of this module reads one run of the whole
    schema per dataset, kept for the validation: pandera's work per column is then done once
    rather than once per rule. Alone, a rule runs only its part.
    """
    if package is not None and is_validating(package):
        cached(package, ("judged",), lambda: _judge_package(package))
        run = functools.partial(_failures, ds, _PARTS, prune=True)
        return cached(package, ("schema-failures", id(ds)), run)  # type: ignore[return-value]
    return _failures(ds, frozenset({part}))


def _code_of(check: str) -> str | None:
    if check.startswith(_CHECK_CT):
        return "ct-value-not-in-codelist"
    if check in (_CHECK_DTC, _CHECK_DUR):
        return "dtc-not-iso8601"
    if check in (_CHECK_NULL, _CHECK_BLANK):
        return "required-value-missing"
    if check.startswith(_CHECK_DTYPE):
        return "variable-type-mismatch"
    if check == _CHECK_UNIQUE:
        return "key-not-unique"
    if check == _CHECK_BYTES:
        return "char-length-exceeds-200"
    if check == _CHECK_LEADING:
        return "value-leading-spaces"
    return None


class _Rows:
    """Light rows for :func:`core.finding`: record, file and USUBJID of each position."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._cols = [c for c in (RECORD, FILE, "USUBJID") if c in frame.columns]
        self._values = {c: frame[c].to_numpy(dtype=object) for c in self._cols}

    def row(self, position: int) -> Any:
        """The record's values as a dict, read by :func:`core.finding` as it reads a row
        (a Series per record would cost a millisecond each, minutes for a broken column)."""
        return {c: self._values[c][position] for c in self._cols}

    def record(self, position: int) -> Any:
        values = self._values.get(RECORD)
        return values[position] if values is not None else position + 1


def _show(value: Any) -> str:
    return (
        "null" if value is None or (isinstance(value, float) and np.isnan(value)) else repr(value)
    )


def _capped(
    ds: Dataset,
    code: str,
    variable: str | None,
    found: list[Finding],
    total: int,
    severity: Severity | None = None,
) -> list[Finding]:
    """``found`` and, when a limit left records out, one finding counting them."""
    if total > len(found):
        where = f"{ds.name}.{variable}" if variable else ds.name
        found.append(
            finding(
                code,
                f"{total - len(found)} more records of {where} have this problem; only the "
                f"first {len(found)} are listed",
                ds,
                variable=variable,
                severity=severity,
            )
        )
    return found


def _record_findings(ds: Dataset, code: str, failures: pd.DataFrame) -> list[Finding]:
    """One finding per failing record of one column-level rule, capped per variable."""
    cases = failures[failures["index"].notna()]
    if cases.empty:
        return []
    frame = ds.frame
    rows = _Rows(frame)
    structure = _structure(_structure_name(ds))
    order = {name: i for i, name in enumerate(frame.columns)}
    cases = cases.assign(
        _pos=cases["index"].astype(np.int64),
        _col=cases["column"].map(order),
    ).drop_duplicates(["column", "_pos"])
    cases = cases.sort_values(["_col", "_pos"], kind="stable")
    out: list[Finding] = []
    for variable, group in cases.groupby("column", sort=False):
        head = group if MAX_FINDINGS is None else group.head(MAX_FINDINGS)
        severity: Severity | None = None
        info = None
        hints: dict[Any, str] = {}
        if code == "ct-value-not-in-codelist":
            info = _codelist_info(str(group["check"].iloc[0])[len(_CHECK_CT) :])
            severity = "warning" if info.extensible else "error"
            hints = _hints(info.name, head["failure_case"])
        found = []
        for pos, value in zip(head["_pos"].to_numpy(), head["failure_case"], strict=True):
            text = _message(code, str(variable), value, structure, info)
            if hints.get(value):
                text += f" (did you mean {hints[value]!r}?)"
            found.append(
                finding(
                    code,
                    text,
                    ds,
                    variable=str(variable),
                    row=rows.row(int(pos)),
                    value=value,
                    severity=severity,
                )
            )
        out.extend(_capped(ds, code, str(variable), found, len(group), severity))
    return out


def _hints(codelist: str, values: pd.Series) -> dict[Any, str]:
    """Submission values the failing values match ignoring case, spaces or CDISC synonyms."""
    distinct = pd.Series(pd.unique(values.dropna()), dtype="str")
    if distinct.empty:
        return {}
    found = metadata.codelist(codelist).lookup(distinct)
    return {v: t for v, t in zip(distinct, found, strict=True) if isinstance(t, str)}


def _message(
    code: str, variable: str, value: Any, structure: _Structure, info: _CodelistInfo | None
) -> str:
    if code == "required-value-missing":
        state = "blank" if isinstance(value, str) else "null"
        return f"{variable} is Required in {structure.source} but is {state} on this record"
    if code == "ct-value-not-in-codelist" and info is not None:
        kind = "extensible" if info.extensible else "non-extensible"
        return (
            f"{variable} value {value!r} is not a submission value of the {kind} codelist "
            f"{info.name} ({info.code})"
        )
    if code == "dtc-not-iso8601":
        if _suffix_check(variable) == "duration":
            return f"{variable} value {value!r} is not an ISO 8601 duration (e.g. P2D, PT1H30M)"
        return (
            f"{variable} value {value!r} is not an ISO 8601 date/time as SDTM allows "
            "(YYYY[-MM[-DD[Thh[:mm[:ss]]]]], '-' for a missing component)"
        )
    if code == "char-length-exceeds-200":
        size = len(str(value).rstrip(" ").encode("utf-8"))
        return (
            f"{variable} value is {size} bytes long in UTF-8; SAS XPORT v5 holds at most "
            f"{MAX_BYTES}"
        )
    if code == "value-leading-spaces":
        return f"{variable} value {value!r} starts with a space"
    return f"{variable} value {_show(value)} fails {code}"


def _type_findings(ds: Dataset, failures: pd.DataFrame) -> list[Finding]:
    """One finding per variable whose storage type is not its SDTM type."""
    if failures.empty:
        return []
    structure = _structure(_structure_name(ds))
    out = []
    for variable in pd.unique(failures["column"]):
        var = structure.by_name[str(variable)]
        stored = str(ds.frame[variable].dtype)
        column = ds.frame[variable]
        if var.type == "Num":
            held = "holds text" if _is_text(column) else "is not numeric"
        else:
            held = "holds numbers" if pd.api.types.is_numeric_dtype(column) else "is not text"
        out.append(
            finding(
                "variable-type-mismatch",
                f"{variable} is {var.type} in {structure.source} but the column {held} "
                f"(dtype {stored}); it would be written to XPT with the wrong type",
                ds,
                variable=str(variable),
                value=stored,
            )
        )
    return out


def _key_findings(ds: Dataset, frame: pd.DataFrame, failures: pd.DataFrame) -> list[Finding]:
    """One finding per record whose natural keys repeat another record's, capped per dataset."""
    if failures.empty:
        return []
    keys = list(_key_columns(_structure(_structure_name(ds)), tuple(ds.variables)))
    positions = np.sort(pd.unique(failures["index"].dropna().astype(np.int64)))
    sub = frame.iloc[positions][keys]
    group = sub.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    records = frame[RECORD].to_numpy()[positions] if RECORD in frame else positions + 1
    head = slice(0, MAX_FINDINGS)
    shown = np.isin(group, group[head])
    # The first few other records of each group shown; a group can be the whole dataset.
    in_shown = pd.Series(records[shown])
    firsts = in_shown.groupby(group[shown], sort=False).head(_OTHERS + 1)
    listed = firsts.groupby(group[shown][firsts.index.to_numpy()]).agg(list).to_dict()
    sizes = pd.Series(group).value_counts()
    parts = sub.iloc[head].astype("str").fillna("")
    joined = parts.iloc[:, 0]
    for name in parts.columns[1:]:  # column by column: a million duplicates join in one pass
        joined = joined + " / " + parts[name]
    texts = joined.to_numpy()
    rows = _Rows(frame)
    found = []
    for i, pos in enumerate(positions[head]):
        g = int(group[i])
        others = [r for r in listed[g] if r != records[i]][:_OTHERS]
        more = int(sizes[g]) - 1 - len(others)
        names = ", ".join(str(r) for r in others) + (f" and {more} more" if more else "")
        found.append(
            finding(
                "key-not-unique",
                f"record {records[i]} has the same natural keys ({', '.join(keys)}) as "
                f"record{'s' if int(sizes[g]) > 2 else ''} {names}",
                ds,
                row=rows.row(int(pos)),
                value=texts[i],
            )
        )
    return _capped(ds, "key-not-unique", None, found, len(positions))


def validate_dataset(ds: Dataset, codes: Iterable[str] | None = None) -> list[Finding]:
    """Findings of this module's rules (or the ``codes`` named) on one SDTM or SUPP-- dataset.

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frame("CE", pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["CE"],
        ...     "USUBJID": ["S-1"], "CESTDTC": ["12/01/2019"]}))
        >>> [(f.code, f.variable, f.record) for f in validate_dataset(ds)]
        [('dtc-not-iso8601', 'CESTDTC', 1)]
    """
    wanted = list(_RUNNERS) if codes is None else list(codes)
    out: list[Finding] = []
    with validating(Package({ds.name: ds})) as package:
        for code in wanted:
            out.extend(_RUNNERS[code](ds, package))
    return out


# --- what each rule runs on one dataset -----------------------------------------------------


def _missing(ds: Dataset, core: str, code: str) -> list[Finding]:
    structure = _structure(_structure_name(ds))
    present = set(ds.variables)
    word = {"Req": "Required", "Exp": "Expected"}[core]
    out = []
    for var in structure.variables:
        if var.core == core and var.name not in present:
            message = (
                f"{var.name} is {word} in {structure.source} but the dataset has no such column"
            )
            if core == "Exp":
                message += "; Expected variables stay in the dataset, null, when not collected"
            out.append(finding(code, message, ds, variable=var.name))
    return out


def _value_rule(code: str, part: str) -> Any:
    def run(ds: Dataset, package: Package | None = None) -> list[Finding]:
        frame, failures = _schema_failures(ds, part, package)
        if failures.empty:
            return []
        checks = failures["check"]
        codes = {check: _code_of(check) for check in pd.unique(checks)}  # a few distinct checks
        failures = failures[checks.map(codes) == code]
        if code == "variable-type-mismatch":
            return _type_findings(ds, failures)
        if code == "key-not-unique":
            return _key_findings(ds, frame, failures)
        return _record_findings(ds, code, failures)

    return run


_RUNNERS = {
    "required-variable-missing": lambda ds, _: _missing(ds, "Req", "required-variable-missing"),
    "required-value-missing": _value_rule("required-value-missing", "required"),
    "expected-variable-missing": lambda ds, _: _missing(ds, "Exp", "expected-variable-missing"),
    "variable-type-mismatch": _value_rule("variable-type-mismatch", "dtype"),
    "ct-value-not-in-codelist": _value_rule("ct-value-not-in-codelist", "ct"),
    "dtc-not-iso8601": _value_rule("dtc-not-iso8601", "dtc"),
    "key-not-unique": _value_rule("key-not-unique", "keys"),
    "char-length-exceeds-200": _value_rule("char-length-exceeds-200", "length"),
    "value-leading-spaces": _value_rule("value-leading-spaces", "leading"),
}


def _run(code: str, package: Package) -> list[Finding]:
    out: list[Finding] = []
    for ds in _datasets(package):
        out.extend(_RUNNERS[code](ds, package))
    return out


# --- the catalogue --------------------------------------------------------------------------
# Reference ids are Pinnacle 21 rule ids (SDxxxx, CTxxxx), CDISC SDTMIG conformance rule ids
# (CGxxxx) and CDISC CORE ids of the same check; docs/rule-sources.md gives each one's source.


@rule(
    "required-variable-missing",
    "error",
    "dataset",
    checks="every Required variable of the domain (SDTMIG metadata, SUPPQUAL structure, or "
    "STUDYID/DOMAIN/USUBJID for other domains) is a column of the dataset",
    why="a Required variable identifies the record or is needed to understand it; the IG does "
    "not allow leaving it out",
    refs=("SD0056", "CG0014", "CORE-000355"),
)
def required_variable_missing(package: Package) -> list[Finding]:
    """Required variables of each SDTM/SUPP-- dataset that are not columns of it.

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frame("AE", pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"]}))
        >>> sorted(f.variable for f in required_variable_missing(Package({"AE": ds})))
        ['AEDECOD', 'AESEQ', 'AETERM', 'DOMAIN']
    """
    return _run("required-variable-missing", package)


@rule(
    "required-value-missing",
    "error",
    "dataset",
    checks="Required variables are neither null nor blank on any record",
    why="Required variables cannot be null for any record; a blank identifier breaks every "
    "join and every count",
    refs=("SD0002", "CG0014", "CORE-000356"),
)
def required_value_missing(package: Package) -> list[Finding]:
    """Records where a Required variable is null or blank.

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frame("MH", pd.DataFrame({"STUDYID": ["S", "S"],
        ...     "DOMAIN": ["MH", "MH"], "USUBJID": ["S-1", " "]}))
        >>> [(f.variable, f.record) for f in required_value_missing(Package({"MH": ds}))]
        [('USUBJID', 2)]
    """
    return _run("required-value-missing", package)


@rule(
    "expected-variable-missing",
    "warning",
    "dataset",
    checks="every Expected variable of the domain is a column of the dataset",
    why="Expected variables are included even when no data was collected (null, with a comment "
    "in define.xml)",
    refs=("SD0057", "CG0016", "CORE-000334"),
)
def expected_variable_missing(package: Package) -> list[Finding]:
    """Expected variables of each SDTM/SUPP-- dataset that are not columns of it.

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["S-1"]}))
        >>> "AGE" in [f.variable for f in expected_variable_missing(Package({"DM": ds}))]
        True
    """
    return _run("expected-variable-missing", package)


@rule(
    "variable-type-mismatch",
    "error",
    "dataset",
    checks="Num variables are stored as numbers and Char variables as text (no coercion)",
    why="XPT writes a column with the type it has; a Num variable written as Char (or the "
    "reverse) does not conform to the SDTM type",
    refs=("SD0055",),
)
def variable_type_mismatch(package: Package) -> list[Finding]:
    """Variables whose column type is not their SDTMIG type (one finding per variable).

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frame("VS", pd.DataFrame({"VSSTRESN": ["79"]}))
        >>> [(f.variable, f.value) for f in variable_type_mismatch(Package({"VS": ds}))]
        [('VSSTRESN', 'str')]
    """
    return _run("variable-type-mismatch", package)


@rule(
    "ct-value-not-in-codelist",
    "error",
    "dataset",
    checks="values of variables with a CDISC CT codelist are submission values of it (exact, "
    "case-sensitive); an error for non-extensible codelists, a warning for extensible ones",
    why="non-extensible codelists admit no other value; new terms in extensible codelists need "
    "review (no synonyms of existing terms)",
    refs=("CT2001", "CT2002"),
)
def ct_value_not_in_codelist(package: Package) -> list[Finding]:
    """Values not in their variable's CDISC CT codelist.

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frame("VS", pd.DataFrame({"VSORRESU": ["kg", "stone"]}))
        >>> [(f.record, f.severity) for f in ct_value_not_in_codelist(Package({"VS": ds}))]
        [(2, 'warning')]
    """
    found = _run("ct-value-not-in-codelist", package)
    define = package.define  # a sponsor term define.xml lists for the variable is no finding
    if define is None:
        return found
    listed = [define.lists(f.dataset, f.variable, f.value) for f in found]
    return [f for f, ok in zip(found, listed, strict=True) if f.severity == "error" or not ok]


@rule(
    "dtc-not-iso8601",
    "error",
    "dataset",
    checks="*DTC values are ISO 8601 dates/date-times (partial and with '-' for missing "
    "components as SDTM allows) and *DUR/*ELTM values are ISO 8601 durations",
    why="SDTM stores dates, times and durations as ISO 8601 text; any other form cannot be "
    "sorted, compared or converted",
    refs=("SD0003", "SD1011"),
)
def dtc_not_iso8601(package: Package) -> list[Finding]:
    """Date/time and duration values that are not ISO 8601.

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frame("LB", pd.DataFrame({"LBDTC": ["2019-12-01", "12/01/2019"]}))
        >>> [(f.record, f.value) for f in dtc_not_iso8601(Package({"LB": ds}))]
        [(2, '12/01/2019')]
    """
    return _run("dtc-not-iso8601", package)


@rule(
    "key-not-unique",
    "error",
    "dataset",
    checks="no two records share the values of the domain's natural keys (those present; "
    "STUDYID RDOMAIN USUBJID IDVAR IDVARVAL QNAM for SUPP--)",
    why="the natural keys identify a record; a repeat is a duplicated record or a missing "
    "qualifier",
    refs=("CG0019", "SD1117", "SD1201", "SD1352", "SD0086"),
)
def key_not_unique(package: Package) -> list[Finding]:
    """Records whose natural keys repeat those of another record (every such record).

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frame("DM", pd.DataFrame({"STUDYID": ["S", "S"],
        ...     "USUBJID": ["S-1", "S-1"]}))
        >>> [f.record for f in key_not_unique(Package({"DM": ds}))]
        [1, 2]
    """
    return _run("key-not-unique", package)


@rule(
    "char-length-exceeds-200",
    "error",
    "dataset",
    checks="no character value is longer than 200 bytes in UTF-8",
    why="SAS XPORT v5 holds at most 200 bytes per character value; longer text is split into "
    "SUPP-- records, never truncated",
)
def char_length_exceeds_200(package: Package) -> list[Finding]:
    """Character values longer than 200 bytes (UTF-8).

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frame("AE", pd.DataFrame({"AETERM": ["é" * 101]}))
        >>> [f.message for f in char_length_exceeds_200(Package({"AE": ds}))]
        ['AETERM value is 202 bytes long in UTF-8; SAS XPORT v5 holds at most 200']
    """
    return _run("char-length-exceeds-200", package)


@rule(
    "value-leading-spaces",
    "warning",
    "dataset",
    checks="no character value starts with a space",
    why="a leading space makes a value differ from the same value without it (codelists, "
    "joins, sorting) and is invisible in most viewers",
    refs=("SD1021",),
)
def value_leading_spaces(package: Package) -> list[Finding]:
    """Character values with leading spaces.

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frame("AE", pd.DataFrame({"AETERM": ["Headache", " Fever"]}))
        >>> [(f.record, f.value) for f in value_leading_spaces(Package({"AE": ds}))]
        [(2, ' Fever')]
    """
    return _run("value-leading-spaces", package)
