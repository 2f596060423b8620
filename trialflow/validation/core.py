"""The validation model: datasets, a package of them, the rule catalogue and the report.

Validation never reads files: a :class:`Package` of DataFrames comes in (read by
:mod:`trialflow.io.package` or built by the pipeline) and a :class:`ValidationReport` of
findings goes out. Every check is a :class:`Rule` in one catalogue (:data:`RULES`), with its
code, severity, what it checks, why, and the reference ids users know it by, so the
documentation is generated from the same place the checks run from.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
import pandas as pd

from trialflow.errors import Finding, Severity, Source

RECORD = "__RECORD__"
"""Column holding each record's 1-based row number in the file it was read from."""
FILE = "__FILE__"
"""Column holding the file each record was read from (datasets split over files)."""

Kind = Literal["sdtm", "supp", "adam", "other"]
Scope = Literal["dataset", "cross", "adam", "xpt"]


@dataclass
class Dataset:
    """One dataset as read: its records and the metadata its file carried.

    ``frame`` holds the variables plus :data:`RECORD` and :data:`FILE`. ``lengths`` are the
    declared character lengths (XPT), ``labels`` the variable labels.

    Example:
        >>> ds = Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["S-1", "S-2"]}))
        >>> ds.name, ds.kind, ds.variables, ds.frame[RECORD].tolist()
        ('DM', 'sdtm', ['USUBJID'], [1, 2])
    """

    name: str
    frame: pd.DataFrame
    kind: Kind = "sdtm"
    label: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    encoding: str | None = None
    sizes: tuple[int, ...] = ()
    """The size in bytes of each of ``files`` (empty when not read from files)."""
    members: tuple[str, ...] = ()
    """The dataset name stored inside each of ``files`` (the XPT member name; '' for formats
    without one)."""

    @property
    def variables(self) -> list[str]:
        """The dataset's variables (without the bookkeeping columns)."""
        return [c for c in self.frame.columns if c not in (RECORD, FILE)]

    @classmethod
    def from_frame(cls, name: str, frame: pd.DataFrame, **kw: object) -> Dataset:
        """Wrap an in-memory frame; records are numbered from 1, the file is ``name``.

        Example:
            >>> ds = Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["A"]}))
            >>> ds.frame[RECORD].tolist(), ds.variables
            ([1], ['USUBJID'])
        """
        out = frame.copy()
        out[RECORD] = range(1, len(out) + 1)
        out[FILE] = str(kw.pop("file", name))
        return cls(name, out, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class DefineCodelist:
    """A define.xml CodeList: its terms (CodedValue), whether the CDISC codelist it stands for
    is extensible, the terms flagged ``def:ExtendedValue="Yes"``, or the external dictionary
    (MedDRA, WHODrug, ...) and version it names instead of terms."""

    oid: str
    name: str = ""
    terms: frozenset[str] = frozenset()
    extended: frozenset[str] = frozenset()
    extensible: bool = False
    dictionary: str = ""
    version: str = ""


@dataclass(frozen=True)
class DefineVariable:
    """A variable as define.xml describes it (ItemRef and ItemDef)."""

    name: str
    data_type: str = ""
    length: int | None = None
    significant_digits: int | None = None
    mandatory: bool = False
    order: int | None = None
    key_sequence: int | None = None
    label: str = ""
    codelist: DefineCodelist | None = None


@dataclass(frozen=True)
class DefineGroup:
    """A dataset as define.xml describes it (ItemGroupDef): label, class, structure, the file
    it points at (def:leaf) and its variables in ItemRef order."""

    name: str
    label: str = ""
    cls: str = ""
    structure: str = ""
    leaf: str = ""
    variables: tuple[DefineVariable, ...] = ()

    def variable(self, name: str) -> DefineVariable | None:
        """The variable called ``name``, or None."""
        return next((v for v in self.variables if v.name == name), None)


@dataclass
class DefineMetadata:
    """What the package's define.xml file(s) say about its datasets (read by
    :mod:`trialflow.io.define_read`); rules of :mod:`trialflow.validation.rules.define` compare
    it with the data."""

    files: tuple[str, ...] = ()
    groups: dict[str, DefineGroup] = field(default_factory=dict)
    dictionaries: tuple[DefineCodelist, ...] = ()
    covered: frozenset[str] = frozenset()
    """The data files (upper-case names without extension) in the folders of the define.xml
    files: the datasets the define must describe. Empty: every dataset of the package."""

    def describes(self, dataset: Dataset) -> bool:
        """Whether ``dataset`` was read beside a define.xml (so it must be described there)."""
        if not self.covered:
            return True
        stems = {f.rsplit("/", 1)[-1].rsplit(".", 1)[0].upper() for f in dataset.files}
        return dataset.name in self.covered or bool(stems & self.covered)

    def lists(self, dataset: str | None, variable: str | None, value: object) -> bool:
        """Whether define.xml lists ``value`` as a term of the codelist of ``variable`` in
        ``dataset`` (a sponsor term of an extensible codelist, for instance)."""
        group = self.groups.get(str(dataset))
        var = group.variable(str(variable)) if group is not None else None
        return var is not None and var.codelist is not None and str(value) in var.codelist.terms


@dataclass
class Package:
    """The datasets of one submission, by name (DM, LB, SUPPLB, ADSL, ...), and what its
    define.xml says of them when one was read.

    Example:
        >>> dm = Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["S-1"]}))
        >>> package = Package({"DM": dm})
        >>> package.get("DM") is dm, package.get("LB")
        (True, None)
    """

    datasets: dict[str, Dataset] = field(default_factory=dict)
    test_units: dict | None = None
    """The study's test-units rows (see :mod:`trialflow.validation.units`), replacing the
    shipped rows of the same (domain, testcd); None to use the shipped table as it is. Read
    from a file by :func:`trialflow.io.units.read_test_units`."""
    cache: dict = field(default_factory=dict, repr=False, compare=False)
    """Facts several rules derive from the same data, kept only while one validation runs
    (see :func:`cached`); empty otherwise."""
    facts: dict = field(default_factory=dict, repr=False, compare=False)
    """Facts of column data known before any validation (see :func:`know_factorized`); every
    validation of the package starts from them."""
    define: DefineMetadata | None = None

    def get(self, name: str) -> Dataset | None:
        """The dataset called ``name``, or None.

        Example:
            >>> Package().get("DM") is None
            True
        """
        return self.datasets.get(name)


_ACTIVE = "__validating__"
_T = TypeVar("_T")

# Facts of column data (see :func:`column_fact`) for the validation running in this context.
_COLUMN_FACTS: ContextVar[dict | None] = ContextVar("trialflow_column_facts", default=None)


def cached(package: Package, key: tuple, compute: Callable[[], object]) -> object:
    """``compute()``, computed once per ``key`` while :func:`validating` ``package``.

    Outside a validation nothing is kept, so a package whose frames change between calls never
    sees stale facts.

    Example:
        >>> pkg = Package()
        >>> cached(pkg, ("demo",), lambda: 1), pkg.cache
        (1, {})
        >>> with validating(pkg):
        ...     cached(pkg, ("demo",), lambda: 2), cached(pkg, ("demo",), lambda: 3)
        (2, 2)
        >>> pkg.cache
        {}
    """
    if _ACTIVE not in package.cache:
        return compute()
    if key not in package.cache:
        package.cache[key] = compute()
    return package.cache[key]


def is_validating(package: Package) -> bool:
    """True inside :func:`validating` ``package``: :func:`cached` facts are kept.

    Example:
        >>> pkg = Package()
        >>> with validating(pkg):
        ...     is_validating(pkg)
        True
        >>> is_validating(pkg)
        False
    """
    return _ACTIVE in package.cache


@contextmanager
def validating(package: Package) -> Iterator[Package]:
    """Let rules share derived facts of ``package`` until the block ends (then dropped).

    The facts are those of :func:`cached` (about the package) and of :func:`column_fact`
    (about the data of its columns).
    """
    outer = _ACTIVE in package.cache
    if not outer:
        package.cache.clear()
        package.cache[_ACTIVE] = True
    token = _COLUMN_FACTS.set(_COLUMN_FACTS.get() if outer else dict(package.facts))
    try:
        yield package
    finally:
        _COLUMN_FACTS.reset(token)
        if not outer:
            package.cache.clear()


def _arrow_data(values: pd.Series) -> object | None:
    """The immutable Arrow array behind ``values``, or None for other storage."""
    array = values.array
    if isinstance(array, pd.arrays.ArrowExtensionArray):
        return array.__arrow_array__()
    return None


def column_fact(values: pd.Series, fact: Hashable, compute: Callable[[], _T]) -> _T:
    """``compute()``, computed once per ``fact`` of the data in ``values`` while validating.

    Rules look at the same columns again and again (USUBJID in most cross-domain rules, each
    date in several), so what they derive from a column's values (its distinct values, which
    of them are blank, their parsed dates) is kept for the rest of the validation. Only data
    held in Arrow arrays is remembered: those are immutable, the fact is keyed by the array
    itself and the array is kept alive with it, so a fact can never belong to other data. The
    index is not part of the data: facts are positional. Anything else is computed each time.

    Facts are shared, so arrays among them are made read-only.

    Example:
        >>> s = pd.Series(["a", "b"], dtype="str")
        >>> with validating(Package()):  # a copy of s holds the same Arrow data
        ...     column_fact(s, "demo", lambda: 1), column_fact(s.copy(), "demo", lambda: 2)
        (1, 1)
        >>> column_fact(s, "demo", lambda: 3)
        3
    """
    facts = _COLUMN_FACTS.get()
    data = _arrow_data(values) if facts is not None else None
    if data is None:
        return compute()
    key = (id(data), fact)
    entry = facts.get(key)
    if entry is None or entry[0] is not data:
        result = compute()
        for part in result if isinstance(result, tuple) else (result,):
            if isinstance(part, np.ndarray):
                part.setflags(write=False)
        entry = facts[key] = (data, result)
    return entry[1]


def factorized(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``values`` as text, factorised: (codes, the distinct non-missing texts as a Series).

    Codes are -1 where the value is missing; the distinct texts come in order of first
    appearance with a RangeIndex. Checks run their string work on the few distinct values and
    map the result back to the records with the codes; the factorisation of a column is done
    once per validation (:func:`column_fact`).

    Example:
        >>> codes, distinct = factorized(pd.Series(["b", None, "a", "b"]))
        >>> codes.tolist(), distinct.tolist()
        ([0, -1, 1, 0], ['b', 'a'])
    """

    def compute() -> tuple[np.ndarray, pd.Series]:
        codes, uniques = values.astype("str").factorize()
        return codes, pd.Series(uniques.array, dtype="str")

    return column_fact(values, "factorized", compute)


def know_factorized(
    package: Package, values: pd.Series, codes: np.ndarray, distinct: pd.Series
) -> None:
    """Record ``codes`` and ``distinct`` as :func:`factorized` ``values`` for every validation
    of ``package``: a reader that has the column's distinct values and codes at hand (the XPT
    reader decodes each distinct value once) spares the rules computing them again, in each
    process that runs rules. They must be what :func:`factorized` computes: codes -1 where the
    value is missing, the distinct values in order of first appearance. Only data held in
    Arrow arrays can be known this way (see :func:`column_fact`).

    Example:
        >>> s = pd.Series(["b", None, "b"], dtype="str")
        >>> pkg = Package()
        >>> know_factorized(pkg, s, np.array([0, -1, 0]), pd.Series(["b"], dtype="str"))
        >>> with validating(pkg):
        ...     factorized(s)[0].tolist(), factorized(s)[1].tolist()
        ([0, -1, 0], ['b'])
    """
    data = _arrow_data(values)
    if data is None:
        return
    codes = codes.astype(np.intp)  # as pandas' factorize gives them; a copy, made read-only
    codes.setflags(write=False)
    package.facts[(id(data), "factorized")] = (data, (codes, distinct))


def spread(codes: np.ndarray, per_value: np.ndarray, missing: object) -> np.ndarray:
    """``per_value[code]`` for every code, ``missing`` where the code is -1 (values to records).

    Example:
        >>> spread(np.array([1, -1, 0]), np.array([10, 20]), 0).tolist()
        [20, 0, 10]
    """
    out = np.append(per_value, np.array([missing], dtype=per_value.dtype))
    return out[codes]


Check = Callable[[Package], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """One check of the catalogue (registered with :func:`rule`, listed in :data:`RULES`).

    Example:
        >>> import trialflow.validation.engine  # loads the catalogue
        >>> found = RULES["required-variable-missing"]
        >>> found.severity, found.scope, "SD0056" in found.refs
        ('error', 'dataset', True)
    """

    code: str
    severity: Severity
    scope: Scope
    checks: str
    why: str
    refs: tuple[str, ...] = ()
    run: Check | None = field(default=None, compare=False, repr=False)


RULES: dict[str, Rule] = {}
"""The catalogue: every rule by code, in the order registered."""


def rule(
    code: str,
    severity: Severity,
    scope: Scope,
    *,
    checks: str,
    why: str,
    refs: Iterable[str] = (),
) -> Callable[[Check], Check]:
    """Register a check function in the catalogue under ``code``.

    Example:
        >>> @rule("example-always-fine", "notice", "dataset", checks="nothing", why="demo")
        ... def _fine(package):
        ...     return []
        >>> RULES.pop("example-always-fine").checks
        'nothing'
    """

    def register(func: Check) -> Check:
        if code in RULES:
            raise ValueError(f"rule {code} registered twice")
        RULES[code] = Rule(code, severity, scope, checks, why, tuple(refs), func)
        return func

    return register


def finding(
    rule_code: str,
    message: str,
    dataset: Dataset | None = None,
    *,
    variable: str | None = None,
    row: pd.Series | None = None,
    value: object = None,
    severity: Severity | None = None,
) -> Finding:
    """A Finding of a catalogue rule, located at one record (``row``) of ``dataset``.

    ``record`` is the row's :data:`RECORD`, ``usubjid`` its USUBJID, and the source points at
    the file and row it was read from.

    Example:
        >>> ds = Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["A"]}))
        >>> finding("dm-one-record-per-subject", "twice", ds, row=ds.frame.iloc[0]).record
        1
    """
    r = RULES.get(rule_code)
    sev = severity or (r.severity if r else "error")
    refs = r.refs if r else ()
    record = usubjid = source = None
    if row is not None:
        record = int(row[RECORD]) if RECORD in row and not _absent(row[RECORD]) else None
        if "USUBJID" in row and not _absent(row["USUBJID"]):
            usubjid = str(row["USUBJID"])
        if FILE in row and not _absent(row[FILE]):
            source = Source(str(row[FILE]), None, record, variable)
    text = None if _absent(value) else str(value)
    return Finding(
        rule_code,
        sev,
        message,
        dataset=dataset.name if dataset else None,
        variable=variable,
        record=record,
        usubjid=usubjid,
        value=text,
        refs=refs,
        source=source,
    )


def _absent(value: object) -> bool:
    """``pd.isna`` of one value, answered first for the text and integers findings mostly
    hold (a rule may report a million records, each asking this three or four times).

    Example:
        >>> [_absent(v) for v in ("", "A", 3, None, float("nan"), pd.NA, pd.NaT)]
        [False, False, False, True, True, True, True]
    """
    if value is None:
        return True
    if isinstance(value, (str, int, np.integer)):
        return False
    return bool(pd.isna(value))


@dataclass
class ValidationReport:
    """The findings of a validation, and what was validated.

    Example:
        >>> from trialflow.errors import Finding
        >>> report = ValidationReport([Finding("key-not-unique", "error", "two DM records")],
        ...                           {"DM": 2}, rules_run=1)
        >>> report.errors, report.datasets
        (1, {'DM': 2})
    """

    findings: list[Finding]
    datasets: dict[str, int] = field(default_factory=dict)
    rules_run: int = 0

    @property
    def errors(self) -> int:
        """How many findings are errors.

        Example:
            >>> ValidationReport([]).errors
            0
        """
        return sum(f.severity == "error" for f in self.findings)

    @property
    def valid(self) -> bool:
        """True when there is no error finding."""
        return self.errors == 0


def _module_title(module: str) -> str:
    """The first sentence of a rule module's docstring (its topic), for docs/rules.md."""
    doc = (getattr(sys.modules.get(module), "__doc__", None) or module).strip()
    first = " ".join(doc.split("\n\n")[0].split())
    return first.split(": ")[0].rstrip(".") if ": " in first else first.rstrip(".")


def catalogue_markdown(rules: dict[str, Rule] | None = None) -> str:
    """The rule catalogue as Markdown (docs/rules.md is this text; a test keeps them equal).

    One section per rule module, in the order the modules register their rules, so that the
    section a rule is listed under names the file it is written in.

    Example:
        >>> catalogue_markdown({}).splitlines()[0]
        '# Validation rules'
    """
    rules = RULES if rules is None else rules
    lines = [
        "# Validation rules",
        "",
        "Generated from the rule catalogue (`trialflow.validation.core.RULES`); do not edit by",
        "hand: `trialflow rules --markdown > docs/rules.md` writes it again.",
        "",
        f"{len(rules)} rules. Severity: error, warning or notice. References are the CDISC",
        "conformance rule ids (CG, CORE), the FDA business rule ids (FB) and the Pinnacle 21 ids",
        "(SD, CT, DD, AD) where one exists. Each section is one module of",
        "`trialflow/validation/`: the rule is written there.",
    ]
    modules: dict[str, list[Rule]] = {}
    for r in rules.values():
        module = r.run.__module__ if r.run is not None else ""
        modules.setdefault(module, []).append(r)
    for module, chosen in modules.items():
        path = module.removeprefix("trialflow.validation.").replace(".", "/") + ".py"
        lines += [
            "",
            f"## {_module_title(module)} (`{path}`)" if module else "## Other rules",
            "",
            "| code | severity | checks | why | refs |",
            "|---|---|---|---|---|",
        ]
        for r in chosen:
            cells = [f"`{r.code}`", r.severity, r.checks, r.why, ", ".join(r.refs)]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
