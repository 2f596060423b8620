"""SDTMIG 3.4 variable metadata and CDISC Controlled Terminology, shipped as package data.

Two CSV files under ``trialflow/sdtm/data`` hold the facts (see ``SOURCES.md`` next to them for
where each fact comes from and what could not be verified):

* ``sdtmig-3.4-variables.csv``: the SDTMIG 3.4 variables of DM, VS, LB, EX, AE, CM, MH, DS, the
  trial design datasets TS, TA, TE, TV, TI and the subject-level SV and SE in IG order, with
  label, type, role, core, codelist and the domain's natural keys (on every row).
* ``sdtm-ct.csv``: CDISC CT codelists (package :data:`CT_VERSION`) with codelist and term
  C-codes, CDISC synonyms and NCI preferred terms. Blank cells are empty strings.

The files are read once (``functools.lru_cache``); every function returns a fresh copy, so a
caller can change what it gets without changing what the next caller sees.

Example:
    >>> domain_variables("DM")["name"].head(3).tolist()
    ['STUDYID', 'DOMAIN', 'USUBJID']
    >>> codelist("SEX").lookup(pd.Series(["female", " M ", "x"])).tolist()
    ['F', 'M', nan]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from trialflow.errors import TrialflowError

SDTMIG_VERSION = "3.4"
SDTM_VERSION = "2.0"
"""The SDTM model version SDTMIG 3.4 implements (TS SDTMVER)."""
CT_VERSION = "2024-09-27"

_VARIABLES_FILE = "sdtmig-3.4-variables.csv"
_CT_FILE = "sdtm-ct.csv"
_TERM_COLUMNS = ["term", "term_code", "synonyms", "preferred_term"]


class MetadataError(TrialflowError):
    """Standards metadata asked for something trialflow does not ship (domain, codelist, ...)."""


class UnknownDomain(MetadataError):
    """The domain is not one of :func:`known_domains`."""


def read_data_csv(package: str, name: str) -> pd.DataFrame:
    """A CSV file of a package's ``data`` folder, all text, blank cells as empty strings.

    Example:
        >>> read_data_csv("trialflow.sdtm", "sdtm-ct.csv").columns[0]
        'codelist'
    """
    with resources.files(package).joinpath("data", name).open(encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def _read_csv(name: str) -> pd.DataFrame:
    return read_data_csv("trialflow.sdtm", name)


@functools.lru_cache(maxsize=1)
def _ts_parameters() -> pd.DataFrame:
    return read_data_csv("trialflow.sdtm", "ts-parameters.csv")


def ts_parameters() -> pd.DataFrame:
    """The TS parameters trialflow writes, in order: tsparmcd, tsparm, required (Y: FDA asks for
    it in every study; N: when the protocol defines it), source (study: from study.yaml
    trial.summary; otherwise derived) and codelist (the shipped CT codelist of its values).

    Read from ``trialflow/sdtm/data/ts-parameters.csv``; here rather than in
    :mod:`trialflow.sdtm.design` so that the validation rules read it without importing the
    mapping layer.

    Example:
        >>> ts = ts_parameters()
        >>> ts.set_index("tsparmcd").loc["ACTSUB", ["tsparm", "required", "source"]].tolist()
        ['Actual Number of Subjects', 'Y', 'dm_subjects']
    """
    return _ts_parameters().copy()


@functools.lru_cache(maxsize=1)
def _variables() -> pd.DataFrame:
    frame = _read_csv(_VARIABLES_FILE)
    frame["order"] = frame["order"].astype("int64")
    return frame


@functools.lru_cache(maxsize=1)
def _ct() -> pd.DataFrame:
    return _read_csv(_CT_FILE)


def supp_parent(name: str) -> str | None:
    """The parent domain of a SUPP-- dataset name (``SUPPEX`` -> ``EX``); None otherwise.

    Example:
        >>> supp_parent("SUPPEX"), supp_parent("SUPPQUAL"), supp_parent("EX")
        ('EX', None, None)
    """
    text = str(name).strip().upper()
    if len(text) == 6 and text.startswith("SUPP") and text[4:].isalpha():
        return text[4:]
    return None


def _domain_rows(domain: str) -> pd.DataFrame:
    rows = _rows_of(str(domain).strip().upper())
    if rows is None:
        raise _unknown_domain(domain)
    return rows


@functools.lru_cache(maxsize=256)
def _rows_of(name: str) -> pd.DataFrame | None:
    """The variables of one dataset name in IG order, None for a name trialflow does not know
    (cached: the validation rules ask for the same few domains hundreds of times; callers get
    copies or read only)."""
    frame = _variables()
    parent = supp_parent(name)
    if parent is not None:
        rows = frame[frame["dataset"] == "SUPPQUAL"].copy()
        label = f"Supplemental Qualifiers for {parent}"
        if parent in set(frame["dataset"]):
            full = f"Supplemental Qualifiers for {_domain_rows(parent)['dataset_label'].iloc[0]}"
            label = full if len(full) <= 40 else label  # XPT labels hold 40 characters
        rows["dataset"] = name
        rows["dataset_label"] = label
        return rows.sort_values("order").reset_index(drop=True)
    rows = frame[frame["dataset"] == name]
    if rows.empty:
        return None
    return rows.sort_values("order").reset_index(drop=True)


def _unknown_domain(domain: str) -> UnknownDomain:
    return UnknownDomain(
        f"unknown SDTM domain {domain!r}: trialflow ships SDTMIG {SDTMIG_VERSION} metadata "
        f"for {', '.join(known_domains())}"
    )


def known_domains() -> list[str]:
    """The domains whose SDTMIG 3.4 variable metadata ships with trialflow, sorted.

    SUPPQUAL stands for every SUPP-- dataset: :func:`domain_variables` of ``SUPPEX`` gives the
    SUPPQUAL variables under the name SUPPEX.

    Example:
        >>> known_domains()  # doctest: +NORMALIZE_WHITESPACE
        ['AE', 'CM', 'DM', 'DS', 'EX', 'LB', 'MH', 'SE', 'SUPPQUAL', 'SV', 'TA', 'TE', 'TI',
         'TS', 'TV', 'VS']
    """
    return sorted(_variables()["dataset"].unique().tolist())


def domain_variables(domain: str) -> pd.DataFrame:
    """The SDTMIG 3.4 variables of ``domain`` in IG order (a copy; the index runs 0..n-1).

    Columns: dataset, dataset_label, class, order (int), name, label, type (Char/Num), role,
    core (Req/Exp/Perm), codelist (short name, blank when trialflow ships no such codelist),
    codelist_code (NCI C-code, blank for none or for external dictionaries such as MedDRA),
    keys. Raises :class:`UnknownDomain` for a domain trialflow does not know.

    Example:
        >>> dm = domain_variables("DM")
        >>> dm["name"].head(5).tolist()
        ['STUDYID', 'DOMAIN', 'USUBJID', 'SUBJID', 'RFSTDTC']
        >>> dm.loc[dm["name"] == "SEX", ["core", "codelist", "codelist_code"]].values.tolist()
        [['Req', 'SEX', 'C66731']]
    """
    return _domain_rows(domain).copy()


def domain_label(domain: str) -> str:
    """The dataset label of ``domain`` as the SDTMIG gives it.

    Example:
        >>> domain_label("LB")
        'Laboratory Test Results'
    """
    return str(_domain_rows(domain)["dataset_label"].iloc[0])


def domain_keys(domain: str) -> list[str]:
    """The natural (sort) key variables of ``domain``, from SDTMIG 3.4 dataset-level metadata.

    Example:
        >>> domain_keys("VS")
        ['STUDYID', 'USUBJID', 'VSTESTCD', 'VISITNUM', 'VSTPTREF', 'VSTPTNUM']
    """
    return str(_domain_rows(domain)["keys"].iloc[0]).split()


def ct_version() -> str:
    """The CDISC Controlled Terminology package date the shipped term lists come from.

    Example:
        >>> ct_version()
        '2024-09-27'
    """
    return CT_VERSION


def _split_synonyms(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(";") if part.strip()]


def _unique_map(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Key -> term, leaving out keys that point at more than one term (ambiguous)."""
    seen: dict[str, set[str]] = {}
    for key, term in pairs:
        seen.setdefault(key, set()).add(term)
    return {key: next(iter(terms)) for key, terms in seen.items() if len(terms) == 1}


@dataclass(frozen=True, eq=False)
class Codelist:
    """One CDISC CT codelist: short name, C-code, name, extensibility and its terms.

    ``terms`` has the columns term (CDISC submission value), term_code (C-code, blank when not
    verified), synonyms (CDISC synonyms separated by ``;``) and preferred_term (NCI PT).

    Example:
        >>> ny = codelist("NY")
        >>> (ny.name, ny.code, ny.label, ny.extensible)
        ('NY', 'C66742', 'No Yes Response', False)
        >>> ny.terms["term"].tolist()
        ['N', 'NA', 'U', 'Y']
    """

    name: str
    code: str
    label: str
    extensible: bool
    terms: pd.DataFrame

    def lookup(self, values: pd.Series, *, case_sensitive: bool = False) -> pd.Series:
        """Map each value to its submission value; NA where nothing matches.

        A value matches when, trimmed, it equals a term or one of the term's CDISC synonyms
        (ignoring case unless ``case_sensitive``). An exact submission value wins over a
        case-insensitive one, which wins over a synonym; a synonym shared by several terms
        matches none. The result keeps the index of ``values``.

        Example:
            >>> unit = codelist("UNIT")
            >>> unit.lookup(pd.Series(["mmol/l", "Percentage", "ng/mL", "furlongs"])).tolist()
            ['mmol/L', '%', 'ug/L', nan]
            >>> unit.lookup(pd.Series(["mmol/l"]), case_sensitive=True).tolist()
            [nan]
        """
        text = pd.Series(values, copy=True).astype("string").str.strip()
        terms = self.terms["term"].astype(str).tolist()
        synonyms = [
            (syn, term)
            for term, syns in zip(terms, self.terms["synonyms"].astype(str), strict=True)
            for syn in _split_synonyms(syns)
        ]
        exact = {term: term for term in terms}
        result = text.map(exact)
        if case_sensitive:
            result = result.fillna(text.map(_unique_map(synonyms)))
        else:
            folded = text.str.casefold()
            by_term = _unique_map([(term.casefold(), term) for term in terms])
            by_synonym = _unique_map([(syn.casefold(), term) for syn, term in synonyms])
            result = result.fillna(folded.map(by_term)).fillna(folded.map(by_synonym))
        return result.astype("str").rename(getattr(values, "name", None))


@functools.lru_cache(maxsize=1)
def _ct_rows() -> dict[str, np.ndarray]:
    """Upper-case codelist short name or C-code -> positions of its rows in the CT, in order."""
    ct = _ct()
    found: dict[str, list[np.ndarray]] = {}
    for column in ("codelist", "codelist_code"):
        keys = ct[column].str.upper()
        for key, rows in keys.groupby(keys, sort=False).indices.items():
            found.setdefault(str(key), []).append(rows)
    return {key: np.unique(np.concatenate(rows)) for key, rows in found.items()}


def _codelist_row(name_or_code: str) -> pd.DataFrame:
    ct = _ct()
    key = str(name_or_code).strip().upper()
    rows = _ct_rows().get(key)
    hit = ct.iloc[rows] if rows is not None else ct.iloc[:0]
    if hit.empty:
        raise MetadataError(
            f"unknown codelist {name_or_code!r}: not a short name or C-code of the CDISC CT "
            f"{CT_VERSION} codelists shipped with trialflow"
        )
    return hit


def codelist(name_or_code: str) -> Codelist:
    """The codelist with this short name (e.g. ``SEX``) or NCI C-code (e.g. ``C66731``).

    Raises :class:`MetadataError` naming the codelist when trialflow does not ship it.

    Example:
        >>> sex = codelist("C66731")
        >>> sex.name, sex.extensible, sex.terms["term"].tolist()
        ('SEX', False, ['F', 'INTERSEX', 'M', 'U'])
        >>> codelist("UNIT").terms.set_index("term").loc["10^6/kg", "term_code"]
        'C198380'
    """
    rows = _codelist_row(name_or_code)
    first = rows.iloc[0]
    return Codelist(
        name=str(first["codelist"]),
        code=str(first["codelist_code"]),
        label=str(first["codelist_name"]),
        extensible=first["extensible"] == "Y",
        terms=rows[_TERM_COLUMNS].reset_index(drop=True).copy(),
    )


@dataclass(frozen=True)
class CodelistTerms:
    """A codelist's short name, C-code, extensibility and submission values, as plain text.

    What :func:`codelist` gives without its frame of terms: cheap enough to ask for every
    codelist-bound variable of a package (validation asks for dozens per run).

    Example:
        >>> sex = codelist_terms("C66731")
        >>> sex.name, sex.extensible, sex.terms
        ('SEX', False, ('F', 'INTERSEX', 'M', 'U'))
    """

    name: str
    code: str
    extensible: bool
    terms: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def _ct_text() -> dict[str, np.ndarray]:
    """The CT's columns as arrays of Python strings (indexing them costs no frame operation)."""
    ct = _ct()
    return {
        c: ct[c].to_numpy(dtype=object) for c in ("codelist", "codelist_code", "extensible", "term")
    }


def codelist_terms(name_or_code: str) -> CodelistTerms:
    """The codelist with this short name or C-code as :class:`CodelistTerms` (terms in order).

    Gives the values :func:`codelist` gives (``name``, ``code``, ``extensible`` and
    ``terms["term"]``) and raises the same :class:`MetadataError` for an unknown codelist.

    Example:
        >>> ny = codelist_terms("ny")
        >>> ny.name, ny.code, ny.extensible, ny.terms
        ('NY', 'C66742', False, ('N', 'NA', 'U', 'Y'))
    """
    rows = _ct_rows().get(str(name_or_code).strip().upper())
    if rows is None or not len(rows):
        _codelist_row(name_or_code)  # raises the error naming the codelist
        raise AssertionError("unreachable")
    text = _ct_text()
    first = rows[0]
    return CodelistTerms(
        name=str(text["codelist"][first]),
        code=str(text["codelist_code"][first]),
        extensible=text["extensible"][first] == "Y",
        terms=tuple(str(t) for t in text["term"][rows]),
    )


@functools.lru_cache(maxsize=1)
def _variable_records() -> dict[str, tuple[dict[str, object], ...]]:
    frame = _variables()
    columns = {c: frame[c].to_numpy(dtype=object) for c in frame.columns}
    by_dataset: dict[str, list[dict[str, object]]] = {}
    for i in range(len(frame)):
        row = {c: values[i] for c, values in columns.items()}
        row["order"] = int(row["order"])  # type: ignore[call-overload]
        by_dataset.setdefault(str(row["dataset"]), []).append(row)
    return {
        name: tuple(sorted(rows, key=lambda r: r["order"]))  # type: ignore[arg-type, return-value]
        for name, rows in by_dataset.items()
    }


def domain_variable_records(domain: str) -> tuple[dict[str, object], ...]:
    """The rows of :func:`domain_variables` as dicts (fresh copies), for a domain of
    :func:`known_domains`: the same columns, values and order without building a frame.

    Raises :class:`UnknownDomain` as :func:`domain_variables` does; unlike it, a SUPP--
    name other than SUPPQUAL itself is unknown here.

    Example:
        >>> [(r["name"], r["core"], r["codelist"]) for r in domain_variable_records("DM")][3:5]
        [('SUBJID', 'Req', ''), ('RFSTDTC', 'Exp', '')]
        >>> domain_variable_records("DM")[0]["keys"]
        'STUDYID USUBJID'
    """
    rows = _variable_records().get(str(domain).strip().upper())
    if rows is None:
        raise _unknown_domain(domain)
    return tuple(dict(r) for r in rows)


_SEARCHED = {
    "term": "submission value",
    "synonyms": "synonym",
    "preferred_term": "NCI preferred term",
    "term_code": "term C-code",
    "codelist": "codelist",
    "codelist_name": "codelist name",
    "codelist_code": "codelist C-code",
}


def search_ct(text: str, codelist_name: str | None = None) -> pd.DataFrame:
    """Terms of the shipped CDISC CT whose submission value, synonyms, NCI preferred term,
    C-code, codelist short name, codelist name or codelist C-code contain ``text``.

    The search ignores case and surrounding blanks. ``codelist_name`` (a short name or C-code)
    limits it to one codelist; an unknown one raises :class:`MetadataError`. Rows come best
    first: a submission value equal to the text, then one that starts with it, then the rest,
    each in codelist and term order; the column ``matched`` says where the text was found.

    Example:
        >>> hits = search_ct("10^6 therapeutic")
        >>> hits[["codelist", "term", "term_code", "matched"]].values.tolist()
        [['UNIT', '10^6 Therapeutic Cells', 'C187973', 'submission value']]
        >>> search_ct("female", "SEX")["term"].tolist()
        ['F']
    """
    ct = _ct()
    if codelist_name is not None:
        ct = ct[ct["codelist"] == str(_codelist_row(codelist_name)["codelist"].iloc[0])]
    needle = str(text).strip().casefold()
    matched = pd.Series("", index=ct.index, dtype="str")
    for column, label in _SEARCHED.items():
        hit = ct[column].str.casefold().str.contains(needle, regex=False) & (matched == "")
        matched = matched.mask(hit, label)
    found = ct[matched != ""].assign(matched=matched[matched != ""])
    term = found["term"].str.casefold()
    rank = (term != needle).astype(int) + (~term.str.startswith(needle)).astype(int)
    found = found.assign(_rank=rank).sort_values(["_rank", "codelist", "term"], kind="stable")
    columns = ["codelist", "codelist_code", "term", "term_code", "synonyms", "preferred_term"]
    return found[[*columns, "matched"]].reset_index(drop=True)
