"""What the rule modules share: reading values (present, stripped, text, numbers), comparing
ISO 8601 dates on the precision both share, picking and reporting violating records
(report_rows: one finding per record, however many), and the package's SDTM datasets.

Dates are compared as ISO 8601 text on the precision both values share ("2019-05" is neither
before nor after "2019-05-12"), so partial dates never produce guessed findings. Numbers are
compared as numbers ("9.30" equals 9.3), and a result that is not a plain number ("<0.5",
"NEGATIVE") is never treated as one.

Example:
    >>> numbers(pd.Series(["9.30", "<0.5", "NEGATIVE"])).tolist()[0]
    9.3
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trialflow.errors import Finding
from trialflow.sdtm import metadata
from trialflow.sdtm.derive import date_part
from trialflow.validation.core import (
    RECORD,
    Dataset,
    Package,
    column_fact,
    factorized,
    finding,
    spread,
)

MAX_PER_VARIABLE: int | None = None
"""Findings listed per dataset, variable and rule: None lists every violating record (the
default; a positive number lists that many and one more finding counts the rest)."""

NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
"""A plain number as text: "9.3", "-1", ".5", "1e3"; not "<0.5", "1,200" or "NEGATIVE"."""

ISO_PATTERN = (
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2}(?:\.\d+)?))?)?)?)?)?"
)
STR_DTYPE = pd.Series([], dtype="str").dtype


def distinct_codes(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``values`` as text, factorised: (codes, the distinct non-missing texts as a Series).

    Codes are -1 where the text is missing. Rules run the string work on the few distinct
    values and map the results back with the codes, instead of over every record; a column's
    factorisation and what is derived from it are kept while a validation runs.
    """
    return factorized(values)


def per_record(values: pd.Series, fact: str, compute: Callable[[], object]) -> pd.Series:
    """The per-record result ``compute()`` of ``values`` (kept while validating) as a Series."""
    data = column_fact(values, fact, compute)
    return pd.Series(data, index=values.index, name=values.name)


def filled(distinct: pd.Series) -> np.ndarray:
    """Which distinct texts are populated (not blank, not missing), kept while validating.

    Rules ask this of the same columns' distinct values again and again (every ``present``,
    ``text`` and DOMAIN lookup): Arrow's trim (the one ``str.strip`` uses for Arrow text)
    answers in a fifth of the time of the pandas chain, and the answer is kept with the
    distinct values.

    Example:
        >>> filled(pd.Series(["a", " ", None, "\u3000"], dtype="str")).tolist()
        [True, False, False, False]
    """

    def compute() -> np.ndarray:
        array = distinct.array
        if isinstance(array, pd.arrays.ArrowExtensionArray) and distinct.dtype == STR_DTYPE:
            trimmed = pc.utf8_trim_whitespace(array.__arrow_array__())
            kept = pc.fill_null(pc.not_equal(trimmed, ""), False)
            return np.asarray(kept.to_numpy(zero_copy_only=False), dtype=bool)
        return (distinct.notna() & distinct.str.strip().ne("")).to_numpy(dtype=bool)

    return column_fact(distinct, "filled", compute)


def stripped(values: pd.Series) -> pd.Series:
    """Values as text without surrounding blanks (``astype("str").str.strip()``), missing kept.

    Example:
        >>> stripped(pd.Series([" a ", None, "b"])).tolist()
        ['a', nan, 'b']
    """

    def compute() -> object:
        codes, distinct = distinct_codes(values)
        return distinct.str.strip().array.take(codes, allow_fill=True)

    return per_record(values, "stripped", compute)


def in_set(values: pd.Series, wanted: Iterable[object]) -> pd.Series:
    """``values.isin(wanted)`` for text, looking each distinct value up once.

    Example:
        >>> in_set(pd.Series(["a", "b", None], dtype="str"), pd.Index(["b", "c"])).tolist()
        [False, True, False]
    """
    if isinstance(wanted, (pd.Index, pd.Series)) and wanted.dtype == STR_DTYPE:
        # Text, so no Python loop over its Arrow strings (most cross-domain rules look their
        # records' subjects up in an index of DM's).
        words = wanted.to_numpy(dtype=object)
        text_only = not wanted.isna().any()
    else:
        words = list(wanted)
        text_only = all(isinstance(w, str) for w in words)
    if values.dtype != STR_DTYPE or not text_only:
        return values.isin(words)
    known = pd.Index(pd.unique(np.asarray(words, dtype=object)), dtype=object)
    codes, uniques = distinct_codes(values)
    member = known.get_indexer(uniques.to_numpy(dtype=object)) >= 0
    return pd.Series(spread(codes, member, False), index=values.index, name=values.name)


def value_codes(values: pd.Series) -> np.ndarray:
    """Codes of ``values`` that group them as ``groupby(dropna=False)`` does (missing: -1)."""
    if values.dtype == STR_DTYPE:
        return distinct_codes(values)[0]
    return pd.factorize(values)[0]


def hash_codes(values: pd.Series) -> np.ndarray:
    """Codes equal where the values are: text by its factorisation, the rest by pandas' hash."""
    if values.dtype == STR_DTYPE:
        return distinct_codes(values)[0]
    return pd.factorize(pd.util.hash_pandas_object(values, index=False).to_numpy())[0]


def row_codes(codes: list[np.ndarray]) -> np.ndarray:
    """One code per record for the combination of its codes in ``codes`` (-1 is a value too).

    Example:
        >>> row_codes([np.array([0, 0, 1, 0]), np.array([-1, -1, 0, 0])]).tolist()
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


def one_value_per_group(keys: list[np.ndarray], value: np.ndarray) -> bool:
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
            codes, distinct = distinct_codes(values)
            mask = mask & spread(codes, filled(distinct), False)
        return mask

    return per_record(values, "present", compute)


def text(values: pd.Series) -> pd.Series:
    """Values as trimmed upper-case text, missing where not populated.

    Example:
        >>> text(pd.Series([" y", "", None])).tolist()
        ['Y', nan, nan]
    """

    def compute() -> object:
        codes, distinct = distinct_codes(values)
        upper = distinct.str.strip().str.upper().where(filled(distinct))
        return upper.array.take(codes, allow_fill=True)

    return per_record(values, "text", compute)


def numbers(values: pd.Series) -> pd.Series:
    """Values that are plain numbers (see :data:`NUMBER`) as floats; NaN for anything else.

    Example:
        >>> numbers(pd.Series(["9.30", "<0.5", " 7 ", None])).tolist()
        [9.3, nan, 7.0, nan]
    """
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")

    def compute() -> np.ndarray:
        codes, distinct = distinct_codes(values)
        trimmed = distinct.str.strip()
        plain = trimmed.str.fullmatch(NUMBER).fillna(False).astype(bool)
        parsed = pd.to_numeric(trimmed.where(plain), errors="coerce").to_numpy(dtype="float64")
        return spread(codes, parsed, np.nan)

    return per_record(values, "numbers", compute)


def fmt(value: object) -> str:
    """A value as messages show it: text quoted, whole numbers without ".0", missing as missing.

    Example:
        >>> fmt("2019-05"), fmt(5.0), fmt(9.299999999999999), fmt(None)
        ("'2019-05'", '5', '9.3', 'missing')
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "missing"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        # 15 significant digits, as SAS's BEST formats show at most: 9.299999999999999 is 9.3
        return str(int(value)) if float(value).is_integer() else f"{float(value):.15g}"
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
# Where each ISO_PATTERN group sits in a matching value: (first, end or None, length reaching it).
_ISO_PLACES = ((0, 4, 4), (5, 7, 7), (8, 10, 10), (11, 13, 13), (14, 16, 16), (17, None, 19))


def iso_rows(values: pd.Series) -> np.ndarray:
    """:func:`iso_parts` as a float array (one row per record), kept while validating."""

    def compute() -> np.ndarray:
        codes, distinct = distinct_codes(values)
        trimmed = distinct.str.strip()
        whole = trimmed.str.fullmatch(ISO_PATTERN).fillna(False).to_numpy(dtype=bool)
        length = trimmed.str.len().fillna(0).to_numpy(dtype=np.int64)
        # In a value of the ISO_PATTERN form each component has a fixed place and is there when the
        # value is long enough to reach it, so slices give what ISO_PATTERN's groups would capture.
        # Every such slice is digits (with a decimal fraction for seconds): Arrow's cast reads
        # them as pd.to_numeric does (correctly rounded), at a fraction of its cost.
        arrow = pa.array(trimmed, type=pa.string(), from_pandas=True)
        parsed = np.full((len(distinct) + 1, len(_ISO_PARTS)), np.nan)
        for k, (start, stop, reach) in enumerate(_ISO_PLACES):
            keep = pa.array(whole & (length >= reach))
            part = pc.utf8_slice_codeunits(arrow, start, stop if stop is not None else 2**31 - 1)
            part = pc.if_else(keep, part, pa.scalar(None, pa.string()))
            parsed[:-1, k] = pc.cast(part, pa.float64()).to_numpy(zero_copy_only=False)
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
    return pd.DataFrame(iso_rows(values), index=values.index, columns=list(_ISO_PARTS))


def compare_iso(left: pd.Series, right: pd.Series, *, levels: int = 6) -> pd.Series:
    """Compare ISO 8601 values on the precision both share: -1, 0 or 1; NaN if either is unusable.

    ``levels`` limits the comparison to the first components (3 compares dates only).

    Example:
        >>> start = pd.Series(["2019-05-12", "2019-05", "2019-06-01T10", "x"])
        >>> end = pd.Series(["2019-05-10", "2019-05-20", "2019-06-01T09:59", "2019"])
        >>> compare_iso(start, end).tolist()
        [1.0, 0.0, 1.0, nan]
    """
    a, b = iso_rows(left), iso_rows(right)
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


def rows_where(frame: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
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
        for row in RowView.each(listed)
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


class RowView:
    """One record of a frame read as ``row["VAR"]`` and ``"VAR" in row``, as a pandas row is,
    without building a Series per record (a rule may flag a million records). Columns are
    taken out of the frame once, when a message first reads them."""

    __slots__ = ("_columns", "_frame", "_i", "_names")

    def __init__(
        self,
        frame: pd.DataFrame,
        columns: dict[str, np.ndarray],
        i: int,
        names: frozenset[object] | None = None,
    ) -> None:
        self._frame = frame
        self._columns = columns
        self._i = i
        self._names = frozenset(frame.columns) if names is None else names

    def __getitem__(self, name: str) -> object:
        values = self._columns.get(name)
        if values is None:
            column = self._frame[name]
            kind = getattr(column.dtype, "kind", "O")
            values = column.to_numpy() if kind in "fiub" else column.to_numpy(dtype=object)
            self._columns[name] = values
        return values[self._i]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def get(self, name: str, default: object = None) -> object:
        """The record's value of ``name``, or ``default`` when the frame has no such column."""
        return self[name] if name in self._names else default

    @classmethod
    def each(cls, frame: pd.DataFrame) -> Iterator[RowView]:
        """A view of each record in turn (the columns taken out once for all of them)."""
        columns: dict[str, np.ndarray] = {}
        names = frozenset(frame.columns)
        for i in range(len(frame)):
            yield cls(frame, columns, i, names)


def domain_prefix(dataset: Dataset) -> str:
    """The two-letter prefix of the dataset's variables: its DOMAIN value, else its name.

    Example:
        >>> domain_prefix(Dataset.from_frame("LBCH", pd.DataFrame({"DOMAIN": ["LB"]})))
        'LB'
    """
    if "DOMAIN" in dataset.frame.columns:
        column = dataset.frame["DOMAIN"]

        def domains() -> list[str]:
            distinct = distinct_codes(column)[1]
            return list(distinct.str.strip().str.upper().where(filled(distinct)).dropna().unique())

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


def dm_dataset(package: Package) -> Dataset | None:
    dm = package.get("DM")
    if dm is None or dm.kind != "sdtm" or "USUBJID" not in dm.frame.columns:
        return None
    return dm


def by_subject(dm: Dataset, columns: list[str]) -> pd.DataFrame:
    """DM's ``columns`` indexed by trimmed USUBJID (a subject's first record; absent ones NaN)."""
    frame = dm.frame.loc[present(dm.frame["USUBJID"])]
    subject = stripped(frame["USUBJID"])
    first = ~subject.duplicated()
    out = pd.DataFrame(index=pd.Index(subject[first], name="USUBJID"))
    for column in columns:
        out[column] = frame.loc[first, column].to_numpy() if column in frame.columns else np.nan
    return out


def complete_date(value: object) -> bool:
    """True when ``value`` is an ISO 8601 value with a complete, valid date part."""
    return bool(date_part(pd.Series([value], dtype="object")).notna().iloc[0])


def findings_like(dataset: Dataset, prefix: str) -> bool:
    if prefix in metadata.known_domains():
        return str(metadata.domain_variables(prefix)["class"].iloc[0]) == "Findings"
    return f"{prefix}TESTCD" in dataset.frame.columns


@functools.cache
def ig_variables(dataset_name: str) -> pd.DataFrame | None:
    """SDTMIG 3.4 variables of a dataset by name (SUPP-- as SUPPQUAL), or None when unknown.

    Read once per process and name, and shared by the rules; callers must not change the frame.

    Example:
        >>> ig_variables("LB")["name"].iloc[:3].tolist(), ig_variables("XY")
        (['STUDYID', 'DOMAIN', 'USUBJID'], None)
    """
    name = str(dataset_name).strip().upper()
    if name in metadata.known_domains() or metadata.supp_parent(name):
        return metadata.domain_variables(name)
    return None
