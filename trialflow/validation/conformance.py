"""Cross-variable and cross-domain SDTM rules, and the SAS XPORT v5 limits of every dataset.

Each rule takes the whole :class:`~trialflow.validation.core.Package`, finds the violating
records with vectorised pandas (masks, merges, groupbys) and reports every one of them: one
finding per violating record, however many there are (no cap, no "N more records" finding), so
that every count is of records affected. A rule whose dataset or variable is absent does not
apply and reports nothing; the presence of required and expected variables is the schema
rules' business.

Dates are compared as ISO 8601 text on the precision both values share ("2019-05" is neither
before nor after "2019-05-12"), so partial dates never produce guessed findings. Numbers are
compared as numbers ("9.30" equals 9.3), and a result that is not a plain number ("<0.5",
"NEGATIVE") is never treated as one.

Example:
    >>> dm = Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["S1"]}))
    >>> lb = Dataset.from_frame("LB", pd.DataFrame({"USUBJID": ["S1", "S2"]}))
    >>> [(f.dataset, f.record, f.usubjid) for f in usubjid_not_in_dm(Package({"DM": dm, "LB": lb}))]
    [('LB', 2, 'S2')]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.sdtm import metadata
from trialflow.sdtm.derive import date_part
from trialflow.validation.core import (
    RECORD,
    Dataset,
    Package,
    cached,
    column_fact,
    factorized,
    finding,
    rule,
    spread,
)

MAX_PER_VARIABLE: int | None = None
"""Findings listed per dataset, variable and rule: None lists every violating record (the
default; a positive number lists that many and one more finding counts the rest)."""

NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
"""A plain number as text: "9.3", "-1", ".5", "1e3"; not "<0.5", "1,200" or "NEGATIVE"."""

_ISO = (
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2}(?:\.\d+)?))?)?)?)?)?"
)
_NOT_TREATED = ("NOTTRT", "NOTASSGN", "SCRNFAIL")
_SERIOUS = ("AESCAN", "AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESOD", "AESMIE")
_END_CLASS_DOMAINS = ("AE", "CE", "MH", "HO", "CM", "EX", "EC", "PR", "SU", "AG", "ML")
_V5_NAME = r"[A-Za-z][A-Za-z0-9_]{0,7}"
_STR = pd.Series([], dtype="str").dtype


# --- helpers shared by the rules (and by the ADaM rules) -----------------------------------


def _distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``values`` as text, factorised: (codes, the distinct non-missing texts as a Series).

    Codes are -1 where the text is missing. Rules run the string work on the few distinct
    values and map the results back with the codes, instead of over every record; a column's
    factorisation and what is derived from it are kept while a validation runs.
    """
    return factorized(values)


def _per_record(values: pd.Series, fact: str, compute: Callable[[], object]) -> pd.Series:
    """The per-record result ``compute()`` of ``values`` (kept while validating) as a Series."""
    data = column_fact(values, fact, compute)
    return pd.Series(data, index=values.index, name=values.name)


def _filled(distinct: pd.Series) -> np.ndarray:
    """Which distinct texts are populated (not blank)."""
    return distinct.str.strip().ne("").fillna(False).to_numpy(dtype=bool)


def stripped(values: pd.Series) -> pd.Series:
    """Values as text without surrounding blanks (``astype("str").str.strip()``), missing kept.

    Example:
        >>> stripped(pd.Series([" a ", None, "b"])).tolist()
        ['a', nan, 'b']
    """

    def compute() -> object:
        codes, distinct = _distinct(values)
        return distinct.str.strip().array.take(codes, allow_fill=True)

    return _per_record(values, "stripped", compute)


def _isin(values: pd.Series, wanted: Iterable[object]) -> pd.Series:
    """``values.isin(wanted)`` for text, looking each distinct value up once."""
    wanted = list(wanted)
    if values.dtype != _STR or not all(isinstance(w, str) for w in wanted):
        return values.isin(wanted)
    known = pd.Index(pd.unique(np.asarray(wanted, dtype=object)), dtype=object)
    codes, uniques = _distinct(values)
    member = known.get_indexer(uniques.to_numpy(dtype=object)) >= 0
    return pd.Series(spread(codes, member, False), index=values.index, name=values.name)


def _codes(values: pd.Series) -> np.ndarray:
    """Codes of ``values`` that group them as ``groupby(dropna=False)`` does (missing: -1)."""
    if values.dtype == _STR:
        return _distinct(values)[0]
    return pd.factorize(values)[0]


def _hash_codes(values: pd.Series) -> np.ndarray:
    """Codes equal where the values are: text by its factorisation, the rest by pandas' hash."""
    if values.dtype == _STR:
        return _distinct(values)[0]
    return pd.factorize(pd.util.hash_pandas_object(values, index=False).to_numpy())[0]


def _row_codes(codes: list[np.ndarray]) -> np.ndarray:
    """One code per record for the combination of its codes in ``codes`` (-1 is a value too).

    Example:
        >>> _row_codes([np.array([0, 0, 1, 0]), np.array([-1, -1, 0, 0])]).tolist()
        [2, 2, 5, 3]
    """
    out = np.zeros(len(codes[0]) if codes else 0, dtype=np.int64)
    span = 1
    for column in codes:
        size = int(column.max()) + 2 if len(column) else 1
        if span * size >= 2**62:  # renumber the combinations seen so far to stay in int64
            out, seen = pd.factorize(out)
            span = max(len(seen), 1)
        out = out * size + (column + 1)
        span *= size
    return out


def _one_value_per_group(keys: list[np.ndarray], value: np.ndarray) -> bool:
    """True when all records with the same ``keys`` codes have the same ``value`` code."""
    pairs = pd.DataFrame({**{f"k{i}": k for i, k in enumerate(keys)}, "v": value})
    pairs = pairs.drop_duplicates()
    return not pairs.duplicated(subset=[f"k{i}" for i in range(len(keys))]).any()


def present(values: pd.Series) -> pd.Series:
    """True where a value is populated: not missing and, for text, not blank.

    Example:
        >>> present(pd.Series(["Y", " ", None])).tolist()
        [True, False, False]
    """

    def compute() -> np.ndarray:
        mask = values.notna().to_numpy(dtype=bool)
        if not pd.api.types.is_numeric_dtype(values):
            codes, distinct = _distinct(values)
            mask = mask & spread(codes, _filled(distinct), False)
        return mask

    return _per_record(values, "present", compute)


def text(values: pd.Series) -> pd.Series:
    """Values as trimmed upper-case text, missing where not populated.

    Example:
        >>> text(pd.Series([" y", "", None])).tolist()
        ['Y', nan, nan]
    """

    def compute() -> object:
        codes, distinct = _distinct(values)
        upper = distinct.str.strip().str.upper().where(_filled(distinct))
        return upper.array.take(codes, allow_fill=True)

    return _per_record(values, "text", compute)


def numbers(values: pd.Series) -> pd.Series:
    """Values that are plain numbers (see :data:`NUMBER`) as floats; NaN for anything else.

    Example:
        >>> numbers(pd.Series(["9.30", "<0.5", " 7 ", None])).tolist()
        [9.3, nan, 7.0, nan]
    """
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")

    def compute() -> np.ndarray:
        codes, distinct = _distinct(values)
        trimmed = distinct.str.strip()
        plain = trimmed.str.fullmatch(NUMBER).fillna(False).astype(bool)
        parsed = pd.to_numeric(trimmed.where(plain), errors="coerce").to_numpy(dtype="float64")
        return spread(codes, parsed, np.nan)

    return _per_record(values, "numbers", compute)


def fmt(value: object) -> str:
    """A value as messages show it: text quoted, whole numbers without ".0", missing as missing.

    Example:
        >>> fmt("2019-05"), fmt(5.0), fmt(9.3), fmt(None)
        ("'2019-05'", '5', '9.3', 'missing')
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "missing"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else str(float(value))
    return str(value)


def others(count: float) -> str:
    """ "N other records" with the right number: how many records hold the usual value.

    Example:
        >>> others(1), others(4.0)
        ('1 other record', '4 other records')
    """
    n = int(count)
    return f"{n} other record" + ("" if n == 1 else "s")


_ISO_PARTS = ("year", "month", "day", "hour", "minute", "second")
# Where each _ISO group sits in a matching value: (first, end or None, length that reaches it).
_ISO_PLACES = ((0, 4, 4), (5, 7, 7), (8, 10, 10), (11, 13, 13), (14, 16, 16), (17, None, 19))


def _iso_rows(values: pd.Series) -> np.ndarray:
    """:func:`iso_parts` as a float array (one row per record), kept while validating."""

    def compute() -> np.ndarray:
        codes, distinct = _distinct(values)
        trimmed = distinct.str.strip()
        whole = trimmed.str.fullmatch(_ISO).fillna(False).to_numpy(dtype=bool)
        length = trimmed.str.len().fillna(0).to_numpy(dtype=np.int64)
        # In a value of the _ISO form each component has a fixed place and is there when the
        # value is long enough to reach it, so slices give what _ISO's groups would capture.
        parsed = np.full((len(distinct) + 1, len(_ISO_PARTS)), np.nan)
        for k, (start, stop, reach) in enumerate(_ISO_PLACES):
            part = trimmed.str.slice(start, stop).where(whole & (length >= reach))
            parsed[:-1, k] = pd.to_numeric(part, errors="coerce").to_numpy(dtype="float64")
        return parsed[codes]

    return column_fact(values, "iso-parts", compute)


def iso_parts(values: pd.Series) -> pd.DataFrame:
    """Year, month, day, hour, minute and second of ISO 8601 values as floats (NaN when absent).

    Values that are not an ISO 8601 date/time (or are intervals, durations or have missing
    middle components such as "2019---12") give a row of NaN.

    Example:
        >>> iso_parts(pd.Series(["2019-05-12T09:30", "2019-05"])).iloc[:, :4].values.tolist()
        [[2019.0, 5.0, 12.0, 9.0], [2019.0, 5.0, nan, nan]]
    """
    return pd.DataFrame(_iso_rows(values), index=values.index, columns=list(_ISO_PARTS))


def compare_iso(left: pd.Series, right: pd.Series, *, levels: int = 6) -> pd.Series:
    """Compare ISO 8601 values on the precision both share: -1, 0 or 1; NaN if either is unusable.

    ``levels`` limits the comparison to the first components (3 compares dates only).

    Example:
        >>> start = pd.Series(["2019-05-12", "2019-05", "2019-06-01T10", "x"])
        >>> end = pd.Series(["2019-05-10", "2019-05-20", "2019-06-01T09:59", "2019"])
        >>> compare_iso(start, end).tolist()
        [1.0, 0.0, 1.0, nan]
    """
    a, b = _iso_rows(left), _iso_rows(right)
    valid = ~np.isnan(a[:, 0]) & ~np.isnan(b[:, 0])
    result = np.zeros(len(a))
    undecided = valid.copy()
    # Component by component, as far as both values go: the first that differs decides.
    for k in range(len(_ISO_PARTS))[:levels]:
        both = undecided & ~np.isnan(a[:, k]) & ~np.isnan(b[:, k])
        later, earlier = both & (a[:, k] > b[:, k]), both & (a[:, k] < b[:, k])
        result[later], result[earlier] = 1.0, -1.0
        undecided = both & ~later & ~earlier
    result[~valid] = np.nan
    return pd.Series(result, index=left.index)


def dominant(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """For each row, the most frequent ``value`` of its ``keys`` group and how many rows hold it.

    Ties go to the value seen first. Columns ``dominant`` and ``count``, aligned with ``frame``;
    missing keys form their own group.

    Example:
        >>> f = pd.DataFrame({"T": ["A", "A", "A"], "U": ["mg", "g", "mg"]})
        >>> dominant(f, ["T"], "U").values.tolist()
        [['mg', 2], ['mg', 2], ['mg', 2]]
    """
    if frame.empty:
        return pd.DataFrame({"dominant": [], "count": []}, index=frame.index)
    group = frame.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    pair = frame.groupby([*keys, value], dropna=False, sort=False).ngroup().to_numpy()
    size = np.bincount(pair)[pair]
    seen = pd.Series(np.arange(len(frame))).groupby(pair).transform("min").to_numpy()
    ranked = np.lexsort((seen, -size, group))
    leaders = ranked[np.r_[True, group[ranked][1:] != group[ranked][:-1]]]
    leader_of = np.empty(group.max() + 1, dtype=np.int64)
    leader_of[group[leaders]] = leaders
    rows = leader_of[group]
    return pd.DataFrame(
        {"dominant": frame[value].to_numpy()[rows], "count": size[rows]}, index=frame.index
    )


def _picked(frame: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    """``frame.loc[mask]``, without taking every column when no record is picked."""
    if not np.asarray(mask, dtype=bool).any():
        return frame.iloc[:0]
    return frame.loc[mask]


def report_rows(
    code: str,
    dataset: Dataset,
    rows: pd.DataFrame,
    variable: str | None,
    message: Callable[[pd.Series], str],
    *,
    value: str | None = None,
    limit: int | None = MAX_PER_VARIABLE,
) -> list[Finding]:
    """Findings of rule ``code`` for the flagged ``rows`` of ``dataset``, in record order.

    Every record is listed unless ``limit`` is a number: then at most ``limit`` records are
    listed and one more finding counts the rest. ``message`` builds each record's sentence (it
    reads the record's values as ``r["VAR"]``) and ``value`` names the column whose value the
    finding shows.

    Example:
        >>> ds = Dataset.from_frame("LB", pd.DataFrame({"USUBJID": ["A", "B", "C"]}))
        >>> found = report_rows("demo", ds, ds.frame, "USUBJID", lambda r: "odd")
        >>> [(f.record, f.usubjid, f.message) for f in found]
        [(1, 'A', 'odd'), (2, 'B', 'odd'), (3, 'C', 'odd')]
    """
    if rows.empty:
        return []
    ordered = rows.sort_values(RECORD, kind="stable") if RECORD in rows.columns else rows
    listed = ordered if limit is None else ordered.head(limit)
    out = [
        finding(
            code,
            message(row),
            dataset,
            variable=variable,
            row=row,
            value=row[value] if value is not None else None,
        )
        for row in _RowView.each(listed)
    ]
    rest = 0 if limit is None else len(ordered) - limit
    if rest > 0:
        records = "record" if rest == 1 else "records"
        where = f" in {variable}" if variable else ""
        out.append(
            finding(
                code,
                f"{rest} more {records} of {dataset.name} {'has' if rest == 1 else 'have'} "
                f"the same problem{where}; only the first {limit} are listed.",
                dataset,
                variable=variable,
            )
        )
    return out


class _RowView:
    """One record of a frame read as ``row["VAR"]`` and ``"VAR" in row``, as a pandas row is,
    without building a Series per record (a rule may flag a million records). Columns are
    taken out of the frame once, when a message first reads them."""

    __slots__ = ("_columns", "_frame", "_i")

    def __init__(self, frame: pd.DataFrame, columns: dict[str, np.ndarray], i: int) -> None:
        self._frame = frame
        self._columns = columns
        self._i = i

    def __getitem__(self, name: str) -> object:
        values = self._columns.get(name)
        if values is None:
            column = self._frame[name]
            kind = getattr(column.dtype, "kind", "O")
            values = column.to_numpy() if kind in "fiub" else column.to_numpy(dtype=object)
            self._columns[name] = values
        return values[self._i]

    def __contains__(self, name: object) -> bool:
        return name in self._frame.columns

    def get(self, name: str, default: object = None) -> object:
        """The record's value of ``name``, or ``default`` when the frame has no such column."""
        return self[name] if name in self._frame.columns else default

    @classmethod
    def each(cls, frame: pd.DataFrame) -> Iterator[_RowView]:
        columns: dict[str, np.ndarray] = {}
        for i in range(len(frame)):
            yield cls(frame, columns, i)


def domain_prefix(dataset: Dataset) -> str:
    """The two-letter prefix of the dataset's variables: its DOMAIN value, else its name.

    Example:
        >>> domain_prefix(Dataset.from_frame("LBCH", pd.DataFrame({"DOMAIN": ["LB"]})))
        'LB'
    """
    if "DOMAIN" in dataset.frame.columns:
        column = dataset.frame["DOMAIN"]

        def domains() -> list[str]:
            distinct = _distinct(column)[1]
            return list(distinct.str.strip().str.upper().where(_filled(distinct)).dropna().unique())

        values = column_fact(column, "domain-values", domains)
        if len(values) == 1:
            return str(values[0])
    return dataset.name[:2].upper()


def sdtm_datasets(package: Package, kinds: Iterable[str] = ("sdtm",)) -> list[Dataset]:
    """The package's datasets of the given kinds, in package order.

    Example:
        >>> sdtm_datasets(Package())
        []
    """
    wanted = set(kinds)
    return [ds for ds in package.datasets.values() if ds.kind in wanted]


def _dm(package: Package) -> Dataset | None:
    dm = package.get("DM")
    if dm is None or dm.kind != "sdtm" or "USUBJID" not in dm.frame.columns:
        return None
    return dm


def _by_subject(dm: Dataset, columns: list[str]) -> pd.DataFrame:
    """DM's ``columns`` indexed by trimmed USUBJID (a subject's first record; absent ones NaN)."""
    frame = dm.frame.loc[present(dm.frame["USUBJID"])]
    subject = stripped(frame["USUBJID"])
    first = ~subject.duplicated()
    out = pd.DataFrame(index=pd.Index(subject[first], name="USUBJID"))
    for column in columns:
        out[column] = frame.loc[first, column].to_numpy() if column in frame.columns else np.nan
    return out


def _complete_date(value: object) -> bool:
    """True when ``value`` is an ISO 8601 value with a complete, valid date part."""
    return bool(date_part(pd.Series([value], dtype="object")).notna().iloc[0])


def _findings_like(dataset: Dataset, prefix: str) -> bool:
    if prefix in metadata.known_domains():
        return str(metadata.domain_variables(prefix)["class"].iloc[0]) == "Findings"
    return f"{prefix}TESTCD" in dataset.frame.columns


# --- presence and identity ------------------------------------------------------------------


@rule(
    "dm-missing",
    "error",
    "cross",
    checks="A package of SDTM datasets includes a DM dataset.",
    why="DM is the parent of every subject-level record; without it no subject can be checked "
    "or traced, and agencies reject a submission that lacks it.",
    refs=["CORE-000581", "CG0368", "SD1020"],
)
def dm_missing(package: Package) -> list[Finding]:
    """No DM dataset in a package of SDTM datasets."""
    if package.get("DM") is not None:
        return []
    if not sdtm_datasets(package, ("sdtm", "supp")):
        return []
    names = ", ".join(ds.name for ds in sdtm_datasets(package, ("sdtm", "supp")))
    return [
        finding(
            "dm-missing",
            f"The package has SDTM datasets ({names}) but no DM dataset; add DM with one record "
            "per subject.",
            Dataset("DM", pd.DataFrame()),
        )
    ]


@rule(
    "usubjid-not-in-dm",
    "error",
    "cross",
    checks="Every USUBJID of every SDTM and SUPP-- dataset has a record in DM.",
    why="DM defines the subjects of the study; a record of a subject DM does not know cannot be "
    "attributed to an arm, reference dates or population.",
    refs=["CORE-000201", "CG0029"],
)
def usubjid_not_in_dm(package: Package) -> list[Finding]:
    """USUBJID values that DM does not hold."""
    dm = _dm(package)
    if dm is None:
        return []
    known = set(stripped(dm.frame["USUBJID"].dropna()))
    out: list[Finding] = []
    for ds in sdtm_datasets(package, ("sdtm", "supp")):
        if ds is dm or "USUBJID" not in ds.frame.columns:
            continue
        subjects = ds.frame["USUBJID"]
        bad = present(subjects) & ~_isin(stripped(subjects), known)
        out += report_rows(
            "usubjid-not-in-dm",
            ds,
            _picked(ds.frame, bad),
            "USUBJID",
            lambda r: (
                f"USUBJID {fmt(r['USUBJID'])} has no record in DM; every subject must be in DM."
            ),
            value="USUBJID",
        )
    return out


@rule(
    "dm-duplicate-subject",
    "error",
    "cross",
    checks="DM holds one record per USUBJID.",
    why="DM is one record per subject; a second record makes every subject-level lookup "
    "(reference dates, arm, death) ambiguous.",
    refs=["CORE-000351", "CG0151"],
)
def dm_duplicate_subject(package: Package) -> list[Finding]:
    """USUBJID values with more than one DM record."""
    dm = _dm(package)
    if dm is None:
        return []
    subjects = dm.frame["USUBJID"]
    dup = present(subjects) & subjects.duplicated(keep=False)
    counts = subjects[dup].value_counts()
    return report_rows(
        "dm-duplicate-subject",
        dm,
        _picked(dm.frame, dup),
        "USUBJID",
        lambda r: (
            f"USUBJID {fmt(r['USUBJID'])} has {counts[r['USUBJID']]} DM records; DM must "
            "hold exactly one record per subject."
        ),
        value="USUBJID",
    )


@rule(
    "seq-not-unique",
    "error",
    "cross",
    checks="--SEQ is unique within USUBJID in each SDTM dataset.",
    why="--SEQ identifies a subject's record within a domain; RELREC, SUPP-- and ADaM traceability "
    "(SRCSEQ) point at records by it.",
    refs=["CORE-000544", "CG0028"],
)
def seq_not_unique(package: Package) -> list[Finding]:
    """--SEQ values repeated within a subject."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        seq = f"{domain_prefix(ds)}SEQ"
        if seq not in ds.frame.columns or "USUBJID" not in ds.frame.columns:
            continue
        f = ds.frame
        as_number = numbers(f[seq])
        if pd.api.types.is_numeric_dtype(f[seq]):
            value = as_number  # no text to fall back to: every usable value is a number
        else:
            value = as_number.astype("object").where(as_number.notna(), stripped(f[seq]))
        usable = present(f[seq]) & present(f["USUBJID"])
        keyed = pd.DataFrame({"USUBJID": _codes(f["USUBJID"]), "SEQ": value}, index=f.index)
        keyed = keyed[usable]
        dup = keyed.duplicated(keep=False).reindex(f.index, fill_value=False)
        out += report_rows(
            "seq-not-unique",
            ds,
            _picked(f, dup),
            seq,
            lambda r, seq=seq: (
                f"{seq} {fmt(r[seq])} is used by more than one record of subject "
                f"{fmt(r['USUBJID'])}; {seq} must be unique within USUBJID."
            ),
            value=seq,
        )
    return out


@rule(
    "seq-not-integer",
    "warning",
    "cross",
    checks="--SEQ values are whole numbers.",
    why="Sequence numbers are counters; a fractional or non-numeric --SEQ usually means it was "
    "computed or merged wrongly and breaks references that match it as an integer.",
)
def seq_not_integer(package: Package) -> list[Finding]:
    """--SEQ values that are not whole numbers."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        seq = f"{domain_prefix(ds)}SEQ"
        if seq not in ds.frame.columns:
            continue
        f = ds.frame
        value = numbers(f[seq])
        bad = present(f[seq]) & ~(value.notna() & (value % 1 == 0))
        out += report_rows(
            "seq-not-integer",
            ds,
            _picked(f, bad),
            seq,
            lambda r, seq=seq: f"{seq} is {fmt(r[seq])}; expected a whole number (1, 2, ...).",
            value=seq,
        )
    return out


# --- study days and date order --------------------------------------------------------------

_DY_PAIRS = (("DY", "DTC"), ("STDY", "STDTC"), ("ENDY", "ENDTC"))


_DayInputs = tuple[Dataset, str, str, pd.Series, pd.Series, pd.Series, pd.Series, pd.Series]


def _study_day_inputs(package: Package) -> list[_DayInputs]:
    """(dataset, --DY, --DTC, known subject, RFSTDTC, expected day, actual day, --DY present)."""
    return cached(package, ("study-day-inputs",), lambda: list(_derive_study_days(package)))  # type: ignore[return-value]


def _dates(values: pd.Series) -> np.ndarray:
    """:func:`~trialflow.sdtm.derive.date_part` of each value (datetime64), kept while validating.

    The dates are parsed once per distinct value and spread to the records.
    """

    def compute() -> np.ndarray:
        codes, distinct = _distinct(values)
        days = date_part(distinct).to_numpy(dtype="datetime64[ns]")
        return spread(codes, days, np.datetime64("NaT", "ns"))

    return column_fact(values, "date-part", compute)


def _derive_study_days(package: Package) -> Iterator[_DayInputs]:
    dm = _dm(package)
    if dm is None or "RFSTDTC" not in dm.frame.columns:
        return
    reference = _by_subject(dm, ["RFSTDTC"])["RFSTDTC"]
    reference_day = pd.Series(date_part(reference).to_numpy(), index=reference.index)
    for ds in sdtm_datasets(package):
        if "USUBJID" not in ds.frame.columns:
            continue
        prefix = domain_prefix(ds)
        f = ds.frame
        subject = stripped(f["USUBJID"])
        known = present(f["USUBJID"]) & _isin(subject, reference.index)
        # DM.RFSTDTC of each record's subject (subject.map(reference)), looked up per subject.
        codes, subjects = _distinct(subject)
        per_subject = reference.reindex(subjects)
        rfstdtc = pd.Series(per_subject.array.take(codes, allow_fill=True), index=f.index)
        start = spread(
            codes,
            reference_day.reindex(subjects).to_numpy(dtype="datetime64[ns]"),
            np.datetime64("NaT", "ns"),
        )
        for day, date in _DY_PAIRS:
            dy, dtc = f"{prefix}{day}", f"{prefix}{date}"
            if dy not in f.columns or dtc not in f.columns:
                continue
            # study_day(f[dtc], rfstdtc) from dates parsed once per distinct value: the same
            # day arithmetic (no day 0) on the same dates.
            delta = pd.Series(_dates(f[dtc]) - start, index=f.index).dt.days
            expected = delta.where(delta < 0, delta + 1).astype("float64")
            actual = pd.to_numeric(f[dy], errors="coerce")
            yield ds, dy, dtc, known, rfstdtc, expected, actual, present(f[dy])


@rule(
    "study-day-mismatch",
    "error",
    "cross",
    checks="--DY, --STDY and --ENDY are populated and equal the SDTM study day of --DTC, --STDTC "
    "and --ENDTC from DM.RFSTDTC (no day 0) when both dates are complete.",
    why="Reviewers read timing from study days; a day that disagrees with its date (often an "
    "off-by-one around day 1) misplaces the record relative to treatment.",
    refs=["CORE-000529", "CG0006", "CORE-000552", "CG0220", "CORE-000553", "CG0222"],
)
def study_day_mismatch(package: Package) -> list[Finding]:
    """--DY that differs from the study day of its date."""
    out: list[Finding] = []
    for ds, dy, dtc, known, rfstdtc, expected, actual, has_dy in _study_day_inputs(package):
        bad = known & expected.notna() & (~has_dy | (actual != expected).fillna(True))
        frame = _picked(ds.frame, bad).assign(__REF__=rfstdtc[bad], __EXP__=expected[bad])

        def say(r: pd.Series, dy: str = dy, dtc: str = dtc) -> str:
            found = "missing" if pd.isna(r[dy]) else f"{fmt(r[dy])}"
            return (
                f"{dy} is {found} but {dtc} {fmt(r[dtc])} and DM.RFSTDTC {fmt(r['__REF__'])} "
                f"give study day {fmt(r['__EXP__'])} (there is no day 0); set {dy} to "
                f"{fmt(r['__EXP__'])}."
            )

        out += report_rows("study-day-mismatch", ds, frame, dy, say, value=dy)
    return out


@rule(
    "study-day-with-partial-date",
    "error",
    "cross",
    checks="--DY, --STDY and --ENDY are null when their date or DM.RFSTDTC is not a complete date.",
    why="A study day can only be computed from two complete dates; a day next to a partial date "
    "was imputed, which SDTM does not allow.",
    refs=["CORE-000354", "CG0007", "CORE-000138", "CG0221", "CORE-000139", "CG0223"],
)
def study_day_with_partial_date(package: Package) -> list[Finding]:
    """--DY present although a date it depends on is partial or missing."""
    out: list[Finding] = []
    for ds, dy, dtc, known, rfstdtc, expected, _actual, has_dy in _study_day_inputs(package):
        bad = known & has_dy & expected.isna()
        frame = _picked(ds.frame, bad).assign(__REF__=rfstdtc[bad])

        def say(r: pd.Series, dy: str = dy, dtc: str = dtc) -> str:
            reason = []
            if not _complete_date(r[dtc]):
                reason.append(f"{dtc} {fmt(r[dtc])} is not a complete date")
            if not _complete_date(r["__REF__"]):
                reason.append(f"DM.RFSTDTC {fmt(r['__REF__'])} is not a complete date")
            return f"{dy} is {fmt(r[dy])} but {' and '.join(reason)}; {dy} must be null."

        out += report_rows("study-day-with-partial-date", ds, frame, dy, say, value=dy)
    return out


@rule(
    "start-after-end",
    "error",
    "cross",
    checks="--STDTC is not after --ENDTC, RFSTDTC not after RFENDTC and RFXSTDTC not after "
    "RFXENDTC, compared on the precision both values share.",
    why="An interval that ends before it starts is a data entry or mapping error (swapped "
    "columns, day/month confusion) and breaks every duration and on-treatment derivation.",
    refs=["CORE-000718", "FB3209", "CORE-000711", "FB3404", "CORE-000714", "FB3408"],
)
def start_after_end(package: Package) -> list[Finding]:
    """Start dates after their end dates."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        pairs = [(f"{prefix}STDTC", f"{prefix}ENDTC")]
        if ds.name == "DM":
            pairs += [("RFSTDTC", "RFENDTC"), ("RFXSTDTC", "RFXENDTC")]
        for start, end in pairs:
            if start not in ds.frame.columns or end not in ds.frame.columns:
                continue
            later = compare_iso(ds.frame[start], ds.frame[end]) > 0
            out += report_rows(
                "start-after-end",
                ds,
                _picked(ds.frame, later),
                start,
                lambda r, s=start, e=end: (
                    f"{s} {fmt(r[s])} is after {e} {fmt(r[e])}; the start "
                    "must not be after the end."
                ),
                value=start,
            )
    return out


# --- results and units ----------------------------------------------------------------------


@rule(
    "stresc-stresn-mismatch",
    "error",
    "cross",
    checks="When --STRESN is populated --STRESC holds the same number, and a --STRESC that is a "
    "plain number has --STRESN populated. Compared as numbers: '9.30' equals 9.3; a --STRESC "
    "such as '<0.5' with --STRESN null is correct and not reported.",
    why="--STRESN is the numeric copy of --STRESC; when they disagree, analyses built on one "
    "and listings built on the other show different results.",
    refs=["CORE-000542", "FB3102", "CORE-000732", "FB3103"],
)
def stresc_stresn_mismatch(package: Package) -> list[Finding]:
    """--STRESC and --STRESN that disagree."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        c, n = f"{prefix}STRESC", f"{prefix}STRESN"
        if c not in ds.frame.columns or n not in ds.frame.columns:
            continue
        f = ds.frame
        as_number = numbers(f[c])
        stresn = pd.to_numeric(f[n], errors="coerce")
        has_n = stresn.notna()
        same = np.isclose(as_number.fillna(np.inf), stresn.fillna(-np.inf), rtol=1e-9, atol=0)
        differs = has_n & ~pd.Series(same, index=f.index)
        unfilled = ~has_n & as_number.notna()

        def say(r: pd.Series, c: str = c, n: str = n) -> str:
            if pd.isna(r[n]):
                number = str(r[c]).strip()
                return f"{c} {fmt(r[c])} is a number but {n} is missing; set {n} to {number}."
            return f"{c} is {fmt(r[c])} but {n} is {fmt(r[n])}; {c} must hold the value of {n}."

        out += report_rows(
            "stresc-stresn-mismatch", ds, _picked(f, differs | unfilled), c, say, value=c
        )
    return out


def _units_apply(frame: pd.DataFrame, unit: str, testcd: str) -> pd.Series:
    """True where some record of the same test (or of the dataset, without --TESTCD) has a unit."""
    has = present(frame[unit])
    if testcd in frame.columns:
        return has.groupby(_codes(frame[testcd])).transform("any").astype(bool)
    return pd.Series(bool(has.any()), index=frame.index)


@rule(
    "orresu-missing",
    "warning",
    "cross",
    checks="A numeric --ORRES has --ORRESU, for tests whose other records carry units. "
    "Qualitative results ('NEGATIVE', '<0.5') and tests recorded without any unit "
    "(pH, ratios, scores) are not reported.",
    why="A number without its unit cannot be converted to standard units or compared with its "
    "reference range.",
)
def orresu_missing(package: Package) -> list[Finding]:
    """Numeric original results without a unit."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        res, unit, testcd = f"{prefix}ORRES", f"{prefix}ORRESU", f"{prefix}TESTCD"
        if res not in ds.frame.columns or unit not in ds.frame.columns:
            continue
        f = ds.frame
        bad = numbers(f[res]).notna() & ~present(f[unit]) & _units_apply(f, unit, testcd)
        out += report_rows(
            "orresu-missing",
            ds,
            _picked(f, bad),
            unit,
            lambda r, res=res, unit=unit, t=testcd: (
                f"{res} {fmt(r[res])}"
                + (f" ({t} {fmt(r[t])})" if t in r else "")
                + f" has no {unit} although other records of the test have one; add the unit."
            ),
            value=res,
        )
    return out


@rule(
    "stresu-missing",
    "error",
    "cross",
    checks="A populated --STRESN has --STRESU, for tests whose other records carry standard "
    "units. Tests recorded without any unit are not reported.",
    why="Standard numeric results are pooled and summarised across subjects; without the unit "
    "a value cannot be interpreted or checked for consistency.",
)
def stresu_missing(package: Package) -> list[Finding]:
    """Standard numeric results without a standard unit."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        n, unit, testcd = f"{prefix}STRESN", f"{prefix}STRESU", f"{prefix}TESTCD"
        if n not in ds.frame.columns or unit not in ds.frame.columns:
            continue
        f = ds.frame
        has_n = pd.to_numeric(f[n], errors="coerce").notna()
        bad = has_n & ~present(f[unit]) & _units_apply(f, unit, testcd)
        out += report_rows(
            "stresu-missing",
            ds,
            _picked(f, bad),
            unit,
            lambda r, n=n, unit=unit, t=testcd: (
                f"{n} is {fmt(r[n])}"
                + (f" ({t} {fmt(r[t])})" if t in r else "")
                + f" but {unit} is missing while other records of the test have one; add the "
                "standard unit."
            ),
            value=n,
        )
    return out


@rule(
    "stresu-multiple-per-test",
    "warning",
    "cross",
    checks="Each test has one standard unit: records of the same --TESTCD (and, where present, "
    "--CAT, --SCAT, --SPEC, --METHOD and --TPT) share --STRESU. Records without a unit are left "
    "to stresu-missing; the records reported are those whose unit differs from the test's most "
    "used one.",
    why="Standard units exist so that a test's results can be summarised together; two units "
    "for one test means some results were not converted.",
    refs=["CORE-000699", "FB3001"],
)
def stresu_multiple_per_test(package: Package) -> list[Finding]:
    """Tests reported in more than one standard unit."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        unit, testcd = f"{prefix}STRESU", f"{prefix}TESTCD"
        if unit not in ds.frame.columns or testcd not in ds.frame.columns:
            continue
        keys = [
            f"{prefix}{k}"
            for k in ("TESTCD", "CAT", "SCAT", "SPEC", "METHOD", "TPT")
            if f"{prefix}{k}" in ds.frame.columns
        ]
        f = ds.frame
        has = present(f[unit])
        if not has.any():
            continue
        mask = has.to_numpy()
        units = _codes(stripped(f[unit]))[mask]
        if _one_value_per_group([_codes(f[k])[mask] for k in keys], units):
            continue  # every test has one unit: nothing to report
        work = f.loc[has, keys].assign(__UNIT__=stripped(f.loc[has, unit]))
        top = dominant(work, keys, "__UNIT__")
        odd = work.index[work["__UNIT__"].to_numpy() != top["dominant"].to_numpy()]
        frame = f.assign(__TOP__=top["dominant"], __N__=top["count"])
        out += report_rows(
            "stresu-multiple-per-test",
            ds,
            frame.loc[odd],
            unit,
            lambda r, unit=unit, t=testcd: (
                f"{unit} {fmt(r[unit])} differs from "
                f"{fmt(r['__TOP__'])} used by {others(r['__N__'])} of {t} "
                f"{fmt(r[t])}; report each test in one standard unit."
            ),
            value=unit,
        )
    return out


@rule(
    "stnrlo-above-stnrhi",
    "error",
    "cross",
    checks="--STNRLO is not greater than --STNRHI.",
    why="A reference range whose low limit exceeds its high limit makes every --NRIND derived "
    "from it wrong; the limits were usually swapped.",
    refs=["CORE-000672", "FB3901"],
)
def stnrlo_above_stnrhi(package: Package) -> list[Finding]:
    """Reference ranges with the low limit above the high limit."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        lo, hi = f"{prefix}STNRLO", f"{prefix}STNRHI"
        if lo not in ds.frame.columns or hi not in ds.frame.columns:
            continue
        f = ds.frame
        bad = (
            pd.to_numeric(f[lo], errors="coerce") > pd.to_numeric(f[hi], errors="coerce")
        ).fillna(False)
        out += report_rows(
            "stnrlo-above-stnrhi",
            ds,
            _picked(f, bad.astype(bool)),
            lo,
            lambda r, lo=lo, hi=hi: (
                f"{lo} {fmt(r[lo])} is above {hi} {fmt(r[hi])}; the low "
                "limit must not exceed the high limit."
            ),
            value=lo,
        )
    return out


# --- arms -----------------------------------------------------------------------------------


def _one_to_one(code: str, ds: Dataset, a: str, b: str) -> list[Finding]:
    """Records whose (a, b) pair is not the usual partner of its a value or of its b value."""
    f = ds.frame
    if a not in f.columns or b not in f.columns:
        return []
    both = present(f[a]) & present(f[b])
    mask = both.to_numpy()
    pair = [_codes(stripped(f[a]))[mask], _codes(stripped(f[b]))[mask]]
    if _one_value_per_group(pair[:1], pair[1]) and _one_value_per_group(pair[1:], pair[0]):
        return []  # the pairs are one-to-one: nothing to report
    work = pd.DataFrame({a: stripped(f.loc[both, a]), b: stripped(f.loc[both, b])})
    by_a, by_b = dominant(work, [a], b), dominant(work, [b], a)
    off_a = work[b].to_numpy() != by_a["dominant"].to_numpy()
    off_b = work[a].to_numpy() != by_b["dominant"].to_numpy()
    frame = f.assign(
        __OFFA__=pd.Series(off_a, index=work.index),
        __TOPB__=by_a["dominant"],
        __NA__=by_a["count"],
        __TOPA__=by_b["dominant"],
        __NB__=by_b["count"],
    )
    flagged = work.index[off_a | off_b]

    def say(r: pd.Series) -> str:
        if bool(r["__OFFA__"]):
            return (
                f"{a} {fmt(r[a])} has {b} {fmt(r[b])} here but {fmt(r['__TOPB__'])} on "
                f"{others(r['__NA__'])}; each {a} must have one {b}."
            )
        return (
            f"{b} {fmt(r[b])} has {a} {fmt(r[a])} here but {fmt(r['__TOPA__'])} on "
            f"{others(r['__NB__'])}; each {b} must have one {a}."
        )

    return report_rows(code, ds, frame.loc[flagged], a, say, value=a)


@rule(
    "arm-armcd-not-one-to-one",
    "error",
    "cross",
    checks="In DM, each ARMCD has one ARM and each ARM one ARMCD.",
    why="ARMCD is the code of ARM; two descriptions for one code (or one description under two "
    "codes) split or merge treatment groups in every table by arm.",
    refs=["CORE-000318", "FB0902"],
)
def arm_armcd_not_one_to_one(package: Package) -> list[Finding]:
    """ARMCD and ARM that do not pair one-to-one."""
    dm = _dm(package)
    return _one_to_one("arm-armcd-not-one-to-one", dm, "ARMCD", "ARM") if dm else []


@rule(
    "actarm-actarmcd-not-one-to-one",
    "error",
    "cross",
    checks="In DM, each ACTARMCD has one ACTARM and each ACTARM one ACTARMCD.",
    why="ACTARMCD is the code of ACTARM; a code with two descriptions splits or merges actual "
    "treatment groups in safety tables.",
    refs=["CORE-000791", "FB0903"],
)
def actarm_actarmcd_not_one_to_one(package: Package) -> list[Finding]:
    """ACTARMCD and ACTARM that do not pair one-to-one."""
    dm = _dm(package)
    return _one_to_one("actarm-actarmcd-not-one-to-one", dm, "ACTARMCD", "ACTARM") if dm else []


@rule(
    "actarmcd-differs-from-armcd",
    "warning",
    "cross",
    checks="ACTARMCD equals ARMCD unless either is NOTTRT, NOTASSGN or SCRNFAIL.",
    why="A subject treated differently from the planned arm is possible but rare; most "
    "differences are mapping errors and each real one needs explaining in the reviewer's guide.",
    refs=["CORE-000655", "FB2501"],
)
def actarmcd_differs_from_armcd(package: Package) -> list[Finding]:
    """Actual arm code different from the planned one."""
    dm = _dm(package)
    if dm is None or "ARMCD" not in dm.frame.columns or "ACTARMCD" not in dm.frame.columns:
        return []
    planned, actual = text(dm.frame["ARMCD"]), text(dm.frame["ACTARMCD"])
    exempt = planned.isin(_NOT_TREATED) | actual.isin(_NOT_TREATED)
    bad = planned.notna() & actual.notna() & (planned != actual) & ~exempt
    return report_rows(
        "actarmcd-differs-from-armcd",
        dm,
        _picked(dm.frame, bad.astype(bool)),
        "ACTARMCD",
        lambda r: (
            f"ACTARMCD {fmt(r['ACTARMCD'])} differs from ARMCD {fmt(r['ARMCD'])}; expected "
            "the planned arm unless the subject was not treated or not assigned."
        ),
        value="ACTARMCD",
    )


@rule(
    "armnrs-missing",
    "error",
    "cross",
    checks="When DM has ARMNRS: ARMNRS is populated where ARMCD or ACTARMCD is null.",
    why="SDTMIG 3.4 records why a subject has no arm in ARMNRS; a null arm without a reason "
    "cannot be told apart from missing data.",
    refs=["CORE-000045", "CG0517", "CORE-000223", "CG0513"],
)
def armnrs_missing(package: Package) -> list[Finding]:
    """Null arm codes without a reason in ARMNRS."""
    dm = _dm(package)
    if dm is None or "ARMNRS" not in dm.frame.columns:
        return []
    f = dm.frame
    null_arm = pd.Series(False, index=f.index)
    for column in ("ARMCD", "ACTARMCD"):
        if column in f.columns:
            null_arm |= ~present(f[column])
    bad = null_arm & ~present(f["ARMNRS"])
    return report_rows(
        "armnrs-missing",
        dm,
        _picked(f, bad),
        "ARMNRS",
        lambda r: (
            "ARMCD or ACTARMCD is null but ARMNRS is missing; give the reason the subject "
            "has no arm."
        ),
        value="ARMNRS",
    )


@rule(
    "armnrs-with-arms",
    "error",
    "cross",
    checks="When DM has ARMNRS: ARMNRS is null where both ARMCD and ACTARMCD are populated.",
    why="ARMNRS explains a missing arm; populated next to both arm codes it contradicts them.",
    refs=["CORE-000121", "CG0520"],
)
def armnrs_with_arms(package: Package) -> list[Finding]:
    """ARMNRS populated although both arm codes are."""
    dm = _dm(package)
    if dm is None or not {"ARMNRS", "ARMCD", "ACTARMCD"} <= set(dm.frame.columns):
        return []
    f = dm.frame
    bad = present(f["ARMCD"]) & present(f["ACTARMCD"]) & present(f["ARMNRS"])
    return report_rows(
        "armnrs-with-arms",
        dm,
        _picked(f, bad),
        "ARMNRS",
        lambda r: (
            f"ARMNRS is {fmt(r['ARMNRS'])} although ARMCD and ACTARMCD are populated; "
            "ARMNRS must be null."
        ),
        value="ARMNRS",
    )


# --- exposure, baseline, adverse events -----------------------------------------------------


_Exposure = tuple[Dataset, pd.Series, pd.Series, pd.Series]


def _exposure(package: Package) -> _Exposure | None:
    """DM, the subjects with EX records, and each subject's first start and last end in EX."""
    return cached(package, ("exposure",), lambda: _first_and_last_exposure(package))  # type: ignore[return-value]


def _first_and_last_exposure(package: Package) -> _Exposure | None:
    dm, ex = _dm(package), package.get("EX")
    if dm is None or ex is None or not {"USUBJID", "EXSTDTC"} <= set(ex.frame.columns):
        return None
    f = ex.frame
    keep = present(f["USUBJID"]).to_numpy()
    subject = stripped(f["USUBJID"])[keep]
    start = f["EXSTDTC"].where(~np.isnan(_iso_rows(f["EXSTDTC"])[:, 0]))[keep]
    end = f["EXENDTC"] if "EXENDTC" in f.columns else pd.Series(np.nan, index=f.index)
    end = end.where(~np.isnan(_iso_rows(end)[:, 0]))[keep].fillna(start)
    first = start.groupby(subject).min().dropna()
    last = end.groupby(subject).max().dropna()
    return dm, pd.Series(subject.unique()), first, last


@rule(
    "rfxstdtc-missing",
    "error",
    "cross",
    checks="A subject with EX records has DM.RFXSTDTC.",
    why="RFXSTDTC is the first exposure; a subject with exposure records but no RFXSTDTC drops "
    "out of every on-treatment and treatment-emergent derivation.",
    refs=["CORE-000239", "CG0148"],
)
def rfxstdtc_missing(package: Package) -> list[Finding]:
    """Exposed subjects without RFXSTDTC."""
    found = _exposure(package)
    if found is None or "RFXSTDTC" not in found[0].frame.columns:
        return []
    dm, exposed, _first, _last = found
    f = dm.frame
    bad = _isin(stripped(f["USUBJID"]), exposed) & ~present(f["RFXSTDTC"])
    return report_rows(
        "rfxstdtc-missing",
        dm,
        _picked(f, bad),
        "RFXSTDTC",
        lambda r: (
            "The subject has EX records but RFXSTDTC is missing; set it to the earliest EXSTDTC."
        ),
        value="RFXSTDTC",
    )


@rule(
    "rfxstdtc-not-first-exposure",
    "error",
    "cross",
    checks="DM.RFXSTDTC falls on the date of the subject's earliest EX.EXSTDTC (dates compared on "
    "the precision both share).",
    why="RFXSTDTC anchors treatment-emergence and exposure duration; it must be the first dose "
    "recorded in EX.",
    refs=["CORE-000239", "CG0148"],
)
def rfxstdtc_not_first_exposure(package: Package) -> list[Finding]:
    """RFXSTDTC that is not the first EXSTDTC."""
    found = _exposure(package)
    if found is None or "RFXSTDTC" not in found[0].frame.columns:
        return []
    dm, _exposed, first, _last = found
    f = dm.frame
    expected = stripped(f["USUBJID"]).map(first)
    order = compare_iso(f["RFXSTDTC"], expected, levels=3)
    bad = present(f["RFXSTDTC"]) & order.notna() & (order != 0)
    return report_rows(
        "rfxstdtc-not-first-exposure",
        dm,
        f.assign(__EXP__=expected).loc[bad],
        "RFXSTDTC",
        lambda r: (
            f"RFXSTDTC {fmt(r['RFXSTDTC'])} is not the date of the earliest EXSTDTC "
            f"{fmt(r['__EXP__'])}; RFXSTDTC must be the first exposure."
        ),
        value="RFXSTDTC",
    )


@rule(
    "rfxendtc-not-last-exposure",
    "error",
    "cross",
    checks="DM.RFXENDTC is populated for subjects with EX records and falls on the date of the "
    "latest EX.EXENDTC (EXSTDTC where EXENDTC is missing), compared on the shared precision.",
    why="RFXENDTC bounds the treatment period used for treatment-emergence windows and exposure "
    "duration; it must be the last dose recorded in EX.",
    refs=["CORE-000238", "CG0147"],
)
def rfxendtc_not_last_exposure(package: Package) -> list[Finding]:
    """RFXENDTC missing or not the last EX end."""
    found = _exposure(package)
    if found is None or "RFXENDTC" not in found[0].frame.columns:
        return []
    dm, _exposed, _first, last = found
    f = dm.frame
    expected = stripped(f["USUBJID"]).map(last)
    has = present(f["RFXENDTC"])
    order = compare_iso(f["RFXENDTC"], expected, levels=3)
    bad = expected.notna() & (~has | (order.notna() & (order != 0)))

    def say(r: pd.Series) -> str:
        if pd.isna(r["RFXENDTC"]) or not str(r["RFXENDTC"]).strip():
            return (
                f"RFXENDTC is missing but the subject's last exposure in EX ends "
                f"{fmt(r['__EXP__'])}; set RFXENDTC to it."
            )
        return (
            f"RFXENDTC {fmt(r['RFXENDTC'])} is not the date of the latest EXENDTC (or EXSTDTC) "
            f"{fmt(r['__EXP__'])}; RFXENDTC must be the last exposure."
        )

    return report_rows(
        "rfxendtc-not-last-exposure",
        dm,
        f.assign(__EXP__=expected).loc[bad],
        "RFXENDTC",
        say,
        value="RFXENDTC",
    )


@rule(
    "baseline-missing",
    "warning",
    "cross",
    checks="Every treated subject (DM.RFXSTDTC populated) with records in a Findings dataset that "
    "carries --BLFL or --LOBXFL has at least one record there with --BLFL or --LOBXFL = 'Y'. "
    "Reported once per subject and dataset (no record number).",
    why="Change from baseline is the primary analysis of most findings; a treated subject "
    "without a baseline record silently drops out of it.",
)
def baseline_missing(package: Package) -> list[Finding]:
    """Treated subjects with no baseline record in a Findings dataset."""
    dm = _dm(package)
    if dm is None or "RFXSTDTC" not in dm.frame.columns:
        return []
    treated = set(dm.frame.loc[present(dm.frame["RFXSTDTC"]), "USUBJID"].astype("str").str.strip())
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        flags = [f"{prefix}{v}" for v in ("BLFL", "LOBXFL") if f"{prefix}{v}" in ds.frame.columns]
        if ds is dm or not flags or "USUBJID" not in ds.frame.columns:
            continue
        if not _findings_like(ds, prefix):
            continue
        f = ds.frame
        keep = present(f["USUBJID"]).to_numpy()
        base = pd.Series(False, index=f.index)
        for flag in flags:
            base |= text(f[flag]).eq("Y").fillna(False).astype(bool)
        has_base = base[keep].groupby(stripped(f["USUBJID"])[keep]).any()
        subjects = has_base.index.to_series()
        missing = has_base.index[~has_base.to_numpy() & _isin(subjects, treated).to_numpy()]
        rows = pd.DataFrame({"USUBJID": missing})
        shown = " or ".join(flags)
        out += report_rows(
            "baseline-missing",
            ds,
            rows,
            flags[-1],
            lambda r, shown=shown, name=ds.name: (
                f"Treated subject {fmt(r['USUBJID'])} has "
                f"{name} records but none with {shown} = 'Y'; flag the baseline record."
            ),
        )
    return out


@rule(
    "aeser-without-criterion",
    "error",
    "cross",
    checks="When AE has seriousness criteria (AESCAN, AESCONG, AESDISAB, AESDTH, AESHOSP, "
    "AESLIFE, AESOD, AESMIE): AESER = 'Y' has at least one of them = 'Y'.",
    why="A serious event is serious for a reason; SDTMIG requires at least one criterion to be "
    "'Y' when AESER is 'Y'.",
    refs=["CORE-000266", "CG0042"],
)
def aeser_without_criterion(package: Package) -> list[Finding]:
    """Serious events with no seriousness criterion."""
    out: list[Finding] = []
    for ds, criteria, any_yes in _ae_seriousness(package):
        bad = text(ds.frame["AESER"]).eq("Y").fillna(False).astype(bool) & ~any_yes
        listed = (
            f"{criteria[0]} is not" if len(criteria) == 1 else f"none of {', '.join(criteria)} is"
        )
        out += report_rows(
            "aeser-without-criterion",
            ds,
            _picked(ds.frame, bad),
            "AESER",
            lambda r, c=listed: (
                f"AESER is 'Y' but {c} 'Y'; set the criterion that made the event serious."
            ),
            value="AESER",
        )
    return out


@rule(
    "aeser-criterion-not-serious",
    "error",
    "cross",
    checks="When any seriousness criterion (AESCAN ... AESMIE) is 'Y', AESER is 'Y'.",
    why="An event that meets a seriousness criterion is serious by definition; AESER 'N' or "
    "null under-reports serious adverse events.",
    refs=["CORE-000022", "CG0041"],
)
def aeser_criterion_not_serious(package: Package) -> list[Finding]:
    """Events meeting a seriousness criterion that are not marked serious."""
    out: list[Finding] = []
    for ds, criteria, any_yes in _ae_seriousness(package):
        bad = any_yes & text(ds.frame["AESER"]).ne("Y").fillna(True).astype(bool)

        def say(r: pd.Series, criteria: list[str] = criteria) -> str:
            met = [c for c in criteria if str(r[c]).strip().upper() == "Y"]
            return (
                f"{', '.join(met)} {'is' if len(met) == 1 else 'are'} 'Y' but AESER is "
                f"{fmt(r['AESER'])}; AESER must be 'Y'."
            )

        out += report_rows(
            "aeser-criterion-not-serious", ds, _picked(ds.frame, bad), "AESER", say, value="AESER"
        )
    return out


def _ae_seriousness(package: Package) -> Iterator[tuple[Dataset, list[str], pd.Series]]:
    """(AE dataset, its seriousness criteria, mask of records with any criterion 'Y')."""
    for ds in sdtm_datasets(package):
        if domain_prefix(ds) != "AE" or "AESER" not in ds.frame.columns:
            continue
        criteria = [c for c in _SERIOUS if c in ds.frame.columns]
        if not criteria:
            continue
        any_yes = pd.Series(False, index=ds.frame.index)
        for c in criteria:
            any_yes |= text(ds.frame[c]).eq("Y").fillna(False).astype(bool)
        yield ds, criteria, any_yes


def _fatal(package: Package) -> list[tuple[Dataset, pd.Series, pd.Series]]:
    """(AE dataset, AEOUT = FATAL mask, AESDTH = Y mask) for each AE dataset."""
    out = []
    for ds in sdtm_datasets(package):
        if domain_prefix(ds) != "AE" or "USUBJID" not in ds.frame.columns:
            continue
        f = ds.frame
        no = pd.Series(False, index=f.index)
        out_fatal = text(f["AEOUT"]).eq("FATAL").fillna(False) if "AEOUT" in f.columns else no
        death = text(f["AESDTH"]).eq("Y").fillna(False) if "AESDTH" in f.columns else no
        out.append((ds, out_fatal.astype(bool), death.astype(bool)))
    return out


@rule(
    "fatal-ae-death-not-in-dm",
    "error",
    "cross",
    checks="An AE with AEOUT = 'FATAL' or AESDTH = 'Y' belongs to a subject whose DM.DTHFL is "
    "'Y' and DM.DTHDTC is populated.",
    why="Deaths are counted from DM; a fatal adverse event whose subject is not marked dead in "
    "DM is missing from every mortality summary.",
    refs=["CORE-000253", "CG0135", "FB0604", "CORE-000254", "CG0134", "FB0603"],
)
def fatal_ae_death_not_in_dm(package: Package) -> list[Finding]:
    """Fatal adverse events whose subject is not recorded as dead in DM."""
    dm = _dm(package)
    if dm is None:
        return []
    subjects = _by_subject(dm, ["DTHFL", "DTHDTC"])
    flagged = text(subjects["DTHFL"]).eq("Y").fillna(False)
    dated = present(subjects["DTHDTC"])
    out: list[Finding] = []
    for ds, out_fatal, death in _fatal(package):
        subject = stripped(ds.frame["USUBJID"])
        known = _isin(subject, subjects.index)
        dead = _isin(subject, flagged.index[flagged.to_numpy()])
        has_date = _isin(subject, dated.index[dated.to_numpy()])
        wrong = known & ~(dead & has_date)
        frame = ds.frame.assign(__DEAD__=dead)
        for variable, mask, what in (
            ("AEOUT", out_fatal, "AEOUT is 'FATAL'"),
            ("AESDTH", death & ~out_fatal, "AESDTH is 'Y'"),
        ):
            out += report_rows(
                "fatal-ae-death-not-in-dm",
                ds,
                _picked(frame, wrong & mask),
                variable,
                lambda r, what=what: (
                    f"{what} but DM "
                    + ("DTHDTC is missing" if r["__DEAD__"] else "DTHFL is not 'Y'")
                    + " for this subject; set DM.DTHFL = 'Y' and DM.DTHDTC."
                ),
                value=variable,
            )
    return out


@rule(
    "dthdtc-missing",
    "warning",
    "cross",
    checks="DM records with DTHFL = 'Y' have DTHDTC (subjects with a fatal AE are reported by "
    "fatal-ae-death-not-in-dm instead).",
    why="DTHFL says the subject died; without DTHDTC time-to-death and on-study death "
    "analyses cannot place the death.",
    refs=["CORE-000705", "FB0610"],
)
def dthdtc_missing(package: Package) -> list[Finding]:
    """Subjects flagged dead without a date of death."""
    dm = _dm(package)
    if dm is None or "DTHFL" not in dm.frame.columns:
        return []
    f = dm.frame
    fatal_subjects: set[str] = set()
    for ds, out_fatal, death in _fatal(package):
        picked = stripped(ds.frame.loc[out_fatal | death, "USUBJID"])
        fatal_subjects |= set(picked)
    no_date = ~present(f["DTHDTC"]) if "DTHDTC" in f.columns else pd.Series(True, index=f.index)
    bad = (
        text(f["DTHFL"]).eq("Y").fillna(False).astype(bool)
        & no_date
        & ~_isin(stripped(f["USUBJID"]), fatal_subjects)
    )
    return report_rows(
        "dthdtc-missing",
        dm,
        _picked(f, bad),
        "DTHDTC",
        lambda r: (
            "DTHFL is 'Y' but DTHDTC is missing; record the date of death (partial if "
            "that is all that is known)."
        ),
        value="DTHFL",
    )


@rule(
    "end-missing",
    "warning",
    "cross",
    checks="Event and intervention records (AE, CE, MH, HO, CM, EX, EC, PR, SU, AG, ML) have an "
    "end point: --ENDTC, --ENRF or --ENRTPT (EX: EXENDTC); records with --OCCUR = 'N' are "
    "exempt. EX records are not checked when EXENDTC is null on every record: the end was not "
    "collected, which SDTM shows by keeping the Expected variable null.",
    why="Without an end point an event or medication cannot be placed relative to treatment "
    "or counted as ongoing; say 'ONGOING' in --ENRTPT/--ENRF when it had not ended.",
)
def end_missing(package: Package) -> list[Finding]:
    """Events and interventions without any end point."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        if prefix not in _END_CLASS_DOMAINS:
            continue
        names = ("ENDTC",) if prefix == "EX" else ("ENDTC", "ENRF", "ENRTPT")
        ends = [f"{prefix}{n}" for n in names if f"{prefix}{n}" in ds.frame.columns]
        hint = (
            "give the end of the administration (for an administration at a point in time, "
            "the SDTMIG has EXSTDTC copied to EXENDTC)."
            if prefix == "EX"
            else f"give the end date, or say in {prefix}ENRTPT or {prefix}ENRF that it is ongoing."
        )
        if not ends:
            continue
        f = ds.frame
        ended = pd.Series(False, index=f.index)
        for column in ends:
            ended |= present(f[column])
        if prefix == "EX" and not ended.any():
            # not collected (SDTMIG: an Expected variable is kept, null); RFXENDTC then rests on
            # EXSTDTC, which rfxendtc-not-last-exposure checks
            continue
        occur = f"{prefix}OCCUR"
        exempt = (
            text(f[occur]).eq("N").fillna(False).astype(bool)
            if occur in f.columns
            else pd.Series(False, index=f.index)
        )
        out += report_rows(
            "end-missing",
            ds,
            _picked(f, ~ended & ~exempt),
            ends[0],
            lambda r, ends=ends, hint=hint: (
                (
                    f"None of {', '.join(ends)} is populated"
                    if len(ends) > 1
                    else f"{ends[0]} is missing"
                )
                + f"; {hint}"
            ),
        )
    return out


def _visits_one_to_one(package: Package) -> bool:
    """True when each VISITNUM of the package has one VISIT and each VISIT one VISITNUM.

    Decided on the distinct (VISITNUM, VISIT) pairs of each dataset, grouping as the rule does
    (VISITNUM as a number, VISIT trimmed), so the rule only looks at records when some differ.
    """
    pairs = []
    for ds in sdtm_datasets(package):
        f = ds.frame
        if "VISITNUM" not in f.columns or "VISIT" not in f.columns:
            continue
        number = pd.to_numeric(f["VISITNUM"], errors="coerce")
        keep = (number.notna() & present(f["VISIT"])).to_numpy()
        visit = stripped(f["VISIT"])
        codes = pd.DataFrame({"n": _codes(number)[keep], "v": _codes(visit)[keep]})
        first = np.flatnonzero(keep)[~codes.duplicated().to_numpy()]
        pairs.append(
            pd.DataFrame(
                {"VISITNUM": number.to_numpy()[first], "VISIT": visit.to_numpy(dtype=object)[first]}
            )
        )
    if not pairs:
        return True
    work = pd.concat(pairs, ignore_index=True).drop_duplicates()
    return not (work["VISITNUM"].duplicated().any() or work["VISIT"].duplicated().any())


@rule(
    "visit-visitnum-not-one-to-one",
    "error",
    "cross",
    checks="Across all SDTM datasets of the package, each VISITNUM has one VISIT text and each "
    "VISIT one VISITNUM.",
    why="VISITNUM orders visits and VISIT names them; a number with two names (or two numbers "
    "for one name) splits or merges visits in every by-visit table.",
    refs=["CG0035", "CORE-000361", "FB0919"],
)
def visit_visitnum_not_one_to_one(package: Package) -> list[Finding]:
    """VISITNUM and VISIT that do not pair one-to-one across the package."""
    if _visits_one_to_one(package):
        return []
    parts = []
    datasets = {}
    for ds in sdtm_datasets(package):
        f = ds.frame
        if "VISITNUM" not in f.columns or "VISIT" not in f.columns:
            continue
        keep = pd.to_numeric(f["VISITNUM"], errors="coerce").notna() & present(f["VISIT"])
        datasets[ds.name] = ds
        parts.append(
            pd.DataFrame(
                {
                    "__DS__": ds.name,
                    "__IX__": f.index[keep.to_numpy()],
                    "VISITNUM": pd.to_numeric(f.loc[keep, "VISITNUM"], errors="coerce"),
                    "VISIT": stripped(f.loc[keep, "VISIT"]),
                }
            ).reset_index(drop=True)
        )
    if not parts:
        return []
    work = pd.concat(parts, ignore_index=True)
    by_num, by_text = dominant(work, ["VISITNUM"], "VISIT"), dominant(work, ["VISIT"], "VISITNUM")
    off_num = work["VISIT"].to_numpy() != by_num["dominant"].to_numpy()
    off_text = work["VISITNUM"].to_numpy() != by_text["dominant"].to_numpy()
    work = work.assign(
        __OFFNUM__=off_num,
        __OFFTEXT__=off_text,
        __TOPTEXT__=by_num["dominant"],
        __NTEXT__=by_num["count"],
        __TOPNUM__=by_text["dominant"],
        __NNUM__=by_text["count"],
    )
    out: list[Finding] = []
    for name, ds in datasets.items():
        mine = work[(work["__DS__"] == name) & (work["__OFFNUM__"] | work["__OFFTEXT__"])]
        if mine.empty:
            continue
        extra = mine.set_index("__IX__")[
            ["__OFFNUM__", "__TOPTEXT__", "__NTEXT__", "__TOPNUM__", "__NNUM__"]
        ]
        frame = ds.frame.loc[extra.index].join(extra)

        def say(r: pd.Series) -> str:
            if bool(r["__OFFNUM__"]):
                return (
                    f"VISITNUM {fmt(r['VISITNUM'])} is {fmt(r['VISIT'])} here but "
                    f"{fmt(r['__TOPTEXT__'])} on {others(r['__NTEXT__'])} of the "
                    "package; each VISITNUM must have one VISIT."
                )
            return (
                f"VISIT {fmt(r['VISIT'])} has VISITNUM {fmt(r['VISITNUM'])} here but "
                f"{fmt(r['__TOPNUM__'])} on {others(r['__NNUM__'])} of the package; "
                "each VISIT must have one VISITNUM."
            )

        out += report_rows(
            "visit-visitnum-not-one-to-one", ds, frame, "VISITNUM", say, value="VISITNUM"
        )
    return out


# --- dataset structure ----------------------------------------------------------------------


@rule(
    "variable-not-in-sdtmig",
    "notice",
    "cross",
    checks="Variables of a standard domain trialflow has SDTMIG 3.4 metadata for (DM, VS, LB, "
    "EX, AE, CM, MH, DS) that the SDTMIG does not list for that domain.",
    why="A model permissible variable may be added to a standard domain, but it must be "
    "deliberate and described in define.xml; an unexpected one is often a leftover raw column "
    "that belongs in SUPP--.",
)
def variable_not_in_sdtmig(package: Package) -> list[Finding]:
    """Variables that the SDTMIG does not list for the domain."""
    known = set(metadata.known_domains())
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        if ds.name.upper() not in known:
            continue
        listed = set(metadata.domain_variables(ds.name.upper())["name"])
        for variable in ds.variables:
            if variable in listed:
                continue
            out.append(
                finding(
                    "variable-not-in-sdtmig",
                    f"{variable} is not an SDTMIG 3.4 variable of {ds.name}; keep it only as a "
                    f"documented model permissible variable, otherwise move it to SUPP{ds.name}.",
                    ds,
                    variable=variable,
                )
            )
    return out


@rule(
    "duplicate-record",
    "warning",
    "cross",
    checks="No two records of an SDTM dataset are identical in every variable except --SEQ.",
    why="A record repeated under a new sequence number is almost always a mapping or merge "
    "error and double-counts the observation.",
)
def duplicate_record(package: Package) -> list[Finding]:
    """Records that repeat another record except for --SEQ."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        seq = f"{domain_prefix(ds)}SEQ"
        if seq not in ds.frame.columns or ds.frame.empty:
            continue
        columns = [v for v in ds.variables if v != seq]
        if not columns:
            continue
        f = ds.frame
        # Records compared through codes of their values: a text column's factorisation is
        # shared with the other rules; other columns are told apart by their pandas hash.
        key = _row_codes([_hash_codes(f[c]) for c in columns])
        dup = pd.Series(key).duplicated(keep="first").to_numpy()
        if not dup.any():
            continue
        number = f[RECORD] if RECORD in f.columns else pd.Series(np.arange(1, len(f) + 1), f.index)
        first = number.groupby(key).transform("min")
        out += report_rows(
            "duplicate-record",
            ds,
            f.assign(__FIRST__=first).loc[dup],
            seq,
            lambda r, seq=seq: (
                f"The record repeats record {int(r['__FIRST__'])} in every "
                f"variable except {seq}; remove the duplicate."
            ),
            value=seq,
        )
    return out


# --- SAS XPORT v5 limits --------------------------------------------------------------------


@rule(
    "v5-dataset-name",
    "error",
    "xpt",
    checks="Dataset names have at most 8 characters: letters, digits and underscores, starting "
    "with a letter.",
    why="SAS XPORT v5 stores the dataset name in 8 bytes and the file must be named after it.",
)
def v5_dataset_name(package: Package) -> list[Finding]:
    """Dataset names that SAS XPORT v5 cannot hold."""
    out = []
    for ds in package.datasets.values():
        if re.fullmatch(_V5_NAME, ds.name):
            continue
        out.append(
            finding(
                "v5-dataset-name",
                f"Dataset name {fmt(ds.name)} is not a SAS XPORT v5 name; use at most 8 letters, "
                "digits or underscores, starting with a letter.",
                ds,
            )
        )
    return out


@rule(
    "v5-variable-name",
    "error",
    "xpt",
    checks="Variable names have at most 8 characters: letters, digits and underscores, starting "
    "with a letter.",
    why="SAS XPORT v5 stores variable names in 8 bytes; longer names are truncated or refused.",
    refs=["CORE-000182", "CG0310"],
)
def v5_variable_name(package: Package) -> list[Finding]:
    """Variable names that SAS XPORT v5 cannot hold."""
    out = []
    for ds in package.datasets.values():
        names = pd.Series(ds.variables, dtype="str")
        for name in names[~names.str.fullmatch(_V5_NAME).fillna(False).astype(bool)]:
            out.append(
                finding(
                    "v5-variable-name",
                    f"Variable name {fmt(name)} is not a SAS XPORT v5 name; use at most 8 letters, "
                    "digits or underscores, starting with a letter.",
                    ds,
                    variable=name,
                )
            )
    return out


def _labels(ds: Dataset) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = [(None, ds.label)] if ds.label else []
    return out + [(v, str(lab)) for v, lab in ds.labels.items() if lab]


@rule(
    "v5-label-too-long",
    "error",
    "xpt",
    checks="The dataset label and variable labels have at most 40 characters.",
    why="SAS XPORT v5 stores labels in 40 bytes; a longer label is cut off.",
    refs=["CORE-000019", "CG0311"],
)
def v5_label_too_long(package: Package) -> list[Finding]:
    """Labels longer than 40 characters."""
    out = []
    for ds in package.datasets.values():
        for variable, label in _labels(ds):
            if len(label) <= 40:
                continue
            what = f"{variable} label" if variable else "Dataset label"
            out.append(
                finding(
                    "v5-label-too-long",
                    f"{what} {fmt(label)} has {len(label)} characters; SAS XPORT v5 allows 40.",
                    ds,
                    variable=variable,
                    value=label,
                )
            )
    return out


@rule(
    "v5-label-not-ascii",
    "error",
    "xpt",
    checks="The dataset label and variable labels are plain ASCII.",
    why="Agencies require ASCII metadata in transport files; other characters are garbled or "
    "take more than one of the 40 bytes.",
)
def v5_label_not_ascii(package: Package) -> list[Finding]:
    """Labels with non-ASCII characters."""
    out = []
    for ds in package.datasets.values():
        for variable, label in _labels(ds):
            if label.isascii():
                continue
            odd = "".join(sorted({ch for ch in label if not ch.isascii()}))
            what = f"{variable} label" if variable else "Dataset label"
            out.append(
                finding(
                    "v5-label-not-ascii",
                    f"{what} {fmt(label)} contains non-ASCII characters ({odd}); use ASCII only.",
                    ds,
                    variable=variable,
                    value=label,
                )
            )
    return out


@rule(
    "v5-length-over-200",
    "error",
    "xpt",
    checks="Declared character lengths are at most 200.",
    why="SAS XPORT v5 character variables hold at most 200 bytes; a longer declaration cannot "
    "be written without truncating values.",
)
def v5_length_over_200(package: Package) -> list[Finding]:
    """Declared character lengths above 200."""
    out = []
    for ds in package.datasets.values():
        for variable, length in ds.lengths.items():
            if int(length) <= 200:
                continue
            out.append(
                finding(
                    "v5-length-over-200",
                    f"{variable} is declared with length {int(length)}; SAS XPORT v5 allows 200 "
                    "(split longer text into --TERM-like variables or SUPP--).",
                    ds,
                    variable=variable,
                    value=int(length),
                )
            )
    return out
