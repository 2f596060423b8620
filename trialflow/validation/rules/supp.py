"""Rules of SUPP-- datasets: each record qualifies an existing record of its parent domain
under a qualifier name the parent does not use.

The SUPPQUAL structure itself (required variables, QVAL not blank, one record per parent
record and QNAM) is checked by :mod:`trialflow.validation.schema` from the SUPPQUAL metadata.

Example:
    >>> dm = Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["S-1"]}))
    >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0]}))
    >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ["EX", "EX"],
    ...     "USUBJID": ["S-1", "S-1"], "IDVAR": ["EXSEQ", "EXSEQ"], "IDVARVAL": ["1", "2"],
    ...     "QNAM": ["WEIGHTDS", "WEIGHTDS"]}))
    >>> package = Package({"DM": dm, "EX": ex, "SUPPEX": supp})
    >>> [(f.code, f.record) for f in supp_parent_missing(package)]
    [('supp-parent-missing', 2)]
"""

from __future__ import annotations

import contextlib
import re

import pandas as pd

from trialflow.errors import Finding
from trialflow.sdtm import metadata
from trialflow.validation.core import Dataset, Package, rule
from trialflow.validation.rules.common import (
    STR_DTYPE,
    dominant,
    fmt,
    numbers,
    one_value_per_group,
    others,
    present,
    report_rows,
    rows_where,
    stripped,
    value_codes,
)

__all__ = [
    "supp_datasets",
    "supp_idvar_idvarval_mismatch",
    "supp_idvar_missing",
    "supp_idvar_not_in_parent",
    "supp_parent_missing",
    "supp_qlabel_not_one_to_one",
    "supp_qlabel_too_long",
    "supp_qnam_invalid",
    "supp_qorig_invalid",
    "supp_rdomain_mismatch",
    "supp_rdomain_not_in_package",
]

_QNAM = re.compile(r"[A-Z][A-Z0-9_]{0,7}")


def supp_datasets(package: Package) -> list[Dataset]:
    """The package's SUPP-- datasets: read as such, or named SUPP plus a domain code.

    Example:
        >>> supp_datasets(Package({"SUPPEX": Dataset.from_frame("SUPPEX", pd.DataFrame())}))[0].name
        'SUPPEX'
    """
    return [
        ds
        for ds in package.datasets.values()
        if ds.kind == "supp" or (ds.kind == "sdtm" and metadata.supp_parent(ds.name))
    ]


def _text(values: pd.Series) -> pd.Series:
    """Values as trimmed text, "" where missing (text columns keep their Arrow data, so the
    trimmed values are the ones kept for the validation)."""
    if values.dtype != STR_DTYPE:
        values = values.astype("str")
    return stripped(values).fillna("")


def _id_text(values: pd.Series) -> pd.Series:
    """Identifier values as text compared with IDVARVAL: numbers written without ``.0``.

    Example:
        >>> _id_text(pd.Series([1.0, 2.5, None])).tolist()
        ['1', '2.5', '']
    """
    as_number = numbers(values)
    whole = (as_number.notna() & (as_number == as_number.round())).to_numpy()
    if values.dtype == STR_DTYPE or whole.all():
        text = _text(values) if values.dtype == STR_DTYPE else pd.Series("", index=values.index)
    else:  # a number column: only the values that are not whole numbers are written as such
        text = pd.Series("", index=values.index, dtype="str")
        rest = ~whole & values.notna().to_numpy()
        text[rest] = _text(values[rest])
    return text.mask(whole, as_number.where(whole).astype("Int64").astype("str"))


@rule(
    "supp-parent-missing",
    "error",
    "cross",
    checks="Every SUPP-- record points at a record of its parent domain (RDOMAIN): IDVAR and "
    "IDVARVAL name a record of that subject, or, with IDVAR blank, the subject has a record "
    "there.",
    why="A supplemental qualifier only has meaning attached to its parent record; one that "
    "points at nothing is an orphan that a reviewer cannot merge back.",
    refs=["CORE-000206", "CG0371", "SD0077"],
)
def supp_parent_missing(package: Package) -> list[Finding]:
    """SUPP-- records whose parent record does not exist.

    Example:
        >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0],
        ...                                            "EXDOSE": [1.0]}))
        >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ['EX', 'EX'],
        ...     "USUBJID": ['S-1', 'S-1'], "IDVAR": ['EXSEQ', 'EXSEQ'], "IDVARVAL": ['1', '2'],
        ...     "QNAM": ['WEIGHTDS', 'WEIGHTDS'],
        ...     "QLABEL": ['Weight at dosing', 'Weight at dosing'], "QORIG": ['CRF', 'CRF']}))
        >>> package = Package({"EX": ex, "SUPPEX": supp})  # EX has no EXSEQ 2
        >>> [(f.code, f.record) for f in supp_parent_missing(package)]
        [('supp-parent-missing', 2)]
    """
    out: list[Finding] = []
    for ds in supp_datasets(package):
        f = ds.frame
        if not {"RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL"} <= set(f.columns):
            continue
        rdomain, idvar = _text(f["RDOMAIN"]).str.upper(), _text(f["IDVAR"])
        idval = _text(f["IDVARVAL"])
        subject = _text(f["USUBJID"])
        found = pd.Series(False, index=f.index)
        checked = pd.Series(False, index=f.index)
        for (dom, var), group in f.groupby([rdomain, idvar], sort=True).groups.items():
            parent = package.get(dom)
            if parent is None or "USUBJID" not in parent.frame.columns:
                continue
            p = parent.frame
            if var == "":
                found[group] = subject[group].isin(pd.unique(_text(p["USUBJID"])))
            elif var in p.columns:
                keys = pd.MultiIndex.from_arrays([_text(p["USUBJID"]), _id_text(p[var])])
                pairs = pd.MultiIndex.from_arrays([subject[group], idval[group]])
                found[group] = pairs.isin(keys)
            checked[group] = True
        bad = checked & ~found & present(f["USUBJID"])
        out += report_rows(
            "supp-parent-missing",
            ds,
            rows_where(f, bad),
            "IDVARVAL",
            lambda r, name=ds.name: _orphan_message(name, r),
            value="IDVARVAL",
        )
    return out


def _orphan_message(name: str, r: pd.Series) -> str:
    idvar = str(r["IDVAR"]).strip() if pd.notna(r["IDVAR"]) else ""
    which = f"{idvar} = {fmt(r['IDVARVAL'])}" if idvar else "any record"
    return (
        f"no {fmt(r['RDOMAIN'])} record of {fmt(r['USUBJID'])} has {which}; this {name} "
        f"record (QNAM {fmt(r.get('QNAM'))}) qualifies nothing."
    )


@rule(
    "supp-qnam-invalid",
    "error",
    "cross",
    checks="QNAM is a valid variable name (at most 8 characters, upper case letters, digits "
    "and _, not starting with a digit) that is not a variable of the parent domain.",
    why="QNAM becomes a column when SUPP-- is merged back to its parent (and in define.xml's "
    "value-level metadata); it must be a valid name that does not collide with a standard one.",
    refs=["CORE-000221", "CG0417"],
)
def supp_qnam_invalid(package: Package) -> list[Finding]:
    """QNAM values that are not valid names or name a variable of the parent domain.

    Example:
        >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0],
        ...                                            "EXDOSE": [1.0]}))
        >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ['EX'],
        ...     "USUBJID": ['S-1'], "IDVAR": ['EXSEQ'], "IDVARVAL": ['1'], "QNAM": ['EXDOSE'],
        ...     "QLABEL": ['Weight at dosing'], "QORIG": ['CRF']}))
        >>> package = Package({"EX": ex, "SUPPEX": supp})  # EXDOSE is a variable of EX
        >>> [(f.code, f.record) for f in supp_qnam_invalid(package)]
        [('supp-qnam-invalid', 1)]
    """
    out: list[Finding] = []
    for ds in supp_datasets(package):
        f = ds.frame
        if "QNAM" not in f.columns:
            continue
        qnam = _text(f["QNAM"])
        parent = metadata.supp_parent(ds.name) or ""
        if "RDOMAIN" in f.columns:
            rdomains = _text(f["RDOMAIN"]).str.upper().replace("", parent)
        else:
            rdomains = pd.Series(parent, index=f.index)
        invalid = present(f["QNAM"]) & ~qnam.str.fullmatch(_QNAM.pattern)
        clash = pd.Series(False, index=f.index)
        for dom in rdomains.unique():
            names = _parent_variables(package, dom)
            rows = rdomains == dom
            clash |= rows & qnam.isin(names)
        out += report_rows(
            "supp-qnam-invalid",
            ds,
            rows_where(f, (invalid | clash) & present(f["QNAM"])),
            "QNAM",
            lambda r: (
                f"QNAM {fmt(r['QNAM'])} "
                + (
                    "is not a valid name (at most 8 characters: upper case letters, digits and "
                    "_, not starting with a digit)"
                    if not _QNAM.fullmatch(str(r["QNAM"]).strip())
                    else "is a variable of the parent domain; give the qualifier another name"
                )
                + "."
            ),
            value="QNAM",
        )
    return out


def _parent_variables(package: Package, domain: str) -> set[str]:
    """The variables of ``domain``: its SDTMIG metadata and the columns of its dataset."""
    names: set[str] = set()
    with contextlib.suppress(metadata.UnknownDomain):
        names |= set(metadata.domain_variables(domain)["name"])
    parent: Dataset | None = package.get(domain) if domain else None
    if parent is not None:
        names |= set(parent.frame.columns)
    return names


def _rdomain(f: pd.DataFrame) -> pd.Series:
    return _text(f["RDOMAIN"]).str.upper()


@rule(
    "supp-rdomain-not-in-package",
    "error",
    "cross",
    checks="RDOMAIN of every SUPP-- record names a dataset present in the package.",
    why="A supplemental qualifier of a domain that was not submitted qualifies nothing and "
    "cannot be merged back.",
    refs=["CORE-000457", "CG0373", "SD0072"],
)
def supp_rdomain_not_in_package(package: Package) -> list[Finding]:
    """SUPP-- records whose RDOMAIN is not a dataset of the package.

    Example:
        >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0],
        ...                                            "EXDOSE": [1.0]}))
        >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ['LB'],
        ...     "USUBJID": ['S-1'], "IDVAR": ['EXSEQ'], "IDVARVAL": ['1'], "QNAM": ['WEIGHTDS'],
        ...     "QLABEL": ['Weight at dosing'], "QORIG": ['CRF']}))
        >>> package = Package({"EX": ex, "SUPPEX": supp})  # no LB in the package
        >>> [(f.code, f.record) for f in supp_rdomain_not_in_package(package)]
        [('supp-rdomain-not-in-package', 1)]
    """
    names = {str(n).upper() for n in package.datasets}
    out: list[Finding] = []
    for ds in supp_datasets(package):
        f = ds.frame
        if "RDOMAIN" not in f.columns:
            continue
        bad = present(f["RDOMAIN"]) & ~_rdomain(f).isin(names)
        out += report_rows(
            "supp-rdomain-not-in-package",
            ds,
            rows_where(f, bad),
            "RDOMAIN",
            lambda r: (
                f"RDOMAIN is {fmt(r['RDOMAIN'])} but the package has no such dataset; submit "
                "the parent domain or correct RDOMAIN."
            ),
            value="RDOMAIN",
        )
    return out


@rule(
    "supp-rdomain-mismatch",
    "error",
    "cross",
    checks="RDOMAIN is the domain code in the SUPP-- dataset's name (characters 5 and 6: EX "
    "in SUPPEX and in SUPPEXAB).",
    why="A SUPP-- dataset holds the qualifiers of one parent domain; a record pointing at "
    "another domain is in the wrong dataset.",
    refs=["CORE-000538", "CG0334"],
)
def supp_rdomain_mismatch(package: Package) -> list[Finding]:
    """SUPP-- records whose RDOMAIN is not the domain in the dataset name.

    Example:
        >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0],
        ...                                            "EXDOSE": [1.0]}))
        >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ['DM'],
        ...     "USUBJID": ['S-1'], "IDVAR": ['EXSEQ'], "IDVARVAL": ['1'], "QNAM": ['WEIGHTDS'],
        ...     "QLABEL": ['Weight at dosing'], "QORIG": ['CRF']}))
        >>> package = Package({"EX": ex, "SUPPEX": supp})  # SUPPEX holds a DM qualifier
        >>> [(f.code, f.record) for f in supp_rdomain_mismatch(package)]
        [('supp-rdomain-mismatch', 1)]
    """
    out: list[Finding] = []
    for ds in supp_datasets(package):
        f = ds.frame
        expected = ds.name.upper()[4:6]
        if "RDOMAIN" not in f.columns or len(expected) != 2:
            continue
        bad = present(f["RDOMAIN"]) & _rdomain(f).ne(expected)
        out += report_rows(
            "supp-rdomain-mismatch",
            ds,
            rows_where(f, bad),
            "RDOMAIN",
            lambda r, name=ds.name, expected=expected: (
                f"RDOMAIN is {fmt(r['RDOMAIN'])} in {name}, which holds the qualifiers of "
                f"{expected}; move the record to the SUPP-- dataset of its domain."
            ),
            value="RDOMAIN",
        )
    return out


@rule(
    "supp-idvar-not-in-parent",
    "error",
    "cross",
    checks="A populated IDVAR names a variable of the parent dataset (RDOMAIN) in the package.",
    why="IDVAR and IDVARVAL are the key that attaches the qualifier to its parent record; with "
    "a variable the parent does not have, the qualifier cannot be attached.",
    refs=["CORE-000712", "CG0370", "SD0075"],
)
def supp_idvar_not_in_parent(package: Package) -> list[Finding]:
    """SUPP-- records whose IDVAR is not a variable of the parent dataset.

    Example:
        >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0],
        ...                                            "EXDOSE": [1.0]}))
        >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ['EX'],
        ...     "USUBJID": ['S-1'], "IDVAR": ['EXGRPID'], "IDVARVAL": ['1'], "QNAM": ['WEIGHTDS'],
        ...     "QLABEL": ['Weight at dosing'], "QORIG": ['CRF']}))
        >>> package = Package({"EX": ex, "SUPPEX": supp})  # EX has no EXGRPID
        >>> [(f.code, f.record) for f in supp_idvar_not_in_parent(package)]
        [('supp-idvar-not-in-parent', 1)]
    """
    out: list[Finding] = []
    for ds in supp_datasets(package):
        f = ds.frame
        if not {"RDOMAIN", "IDVAR"} <= set(f.columns):
            continue
        rdomain, idvar = _rdomain(f), _text(f["IDVAR"]).str.upper()
        bad = pd.Series(False, index=f.index)
        for dom in rdomain[present(f["IDVAR"])].unique():
            parent = package.get(dom)
            if parent is None:
                continue  # supp-rdomain-not-in-package reports it
            rows = (rdomain == dom) & present(f["IDVAR"])
            bad |= rows & ~idvar.isin({str(c).upper() for c in parent.variables})
        out += report_rows(
            "supp-idvar-not-in-parent",
            ds,
            rows_where(f, bad),
            "IDVAR",
            lambda r: (
                f"IDVAR is {fmt(r['IDVAR'])} but {fmt(r['RDOMAIN'])} has no such variable; "
                "name the parent's identifying variable (such as its --SEQ)."
            ),
            value="IDVAR",
        )
    return out


@rule(
    "supp-idvar-idvarval-mismatch",
    "error",
    "cross",
    checks="IDVAR and IDVARVAL are populated together: IDVARVAL is given when IDVAR is, and is "
    "null when IDVAR is.",
    why="IDVAR names the parent's identifying variable and IDVARVAL its value; one without the "
    "other points at no record.",
    refs=["CORE-000135", "CG0204", "CORE-000218", "CG0465"],
)
def supp_idvar_idvarval_mismatch(package: Package) -> list[Finding]:
    """SUPP-- records with IDVAR but no IDVARVAL, or IDVARVAL but no IDVAR.

    Example:
        >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0],
        ...                                            "EXDOSE": [1.0]}))
        >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ['EX'],
        ...     "USUBJID": ['S-1'], "IDVAR": ['EXSEQ'], "IDVARVAL": [None], "QNAM": ['WEIGHTDS'],
        ...     "QLABEL": ['Weight at dosing'], "QORIG": ['CRF']}))
        >>> package = Package({"EX": ex, "SUPPEX": supp})  # IDVAR without IDVARVAL
        >>> [(f.code, f.record) for f in supp_idvar_idvarval_mismatch(package)]
        [('supp-idvar-idvarval-mismatch', 1)]
    """
    out: list[Finding] = []
    for ds in supp_datasets(package):
        f = ds.frame
        if not {"IDVAR", "IDVARVAL"} <= set(f.columns):
            continue
        has_var, has_val = present(f["IDVAR"]), present(f["IDVARVAL"])
        out += report_rows(
            "supp-idvar-idvarval-mismatch",
            ds,
            rows_where(f, has_var != has_val),
            "IDVARVAL",
            lambda r: (
                f"IDVAR is {fmt(r['IDVAR'])} but IDVARVAL is {fmt(r['IDVARVAL'])}; give both "
                "(the parent's identifying variable and its value) or neither."
            ),
            value="IDVARVAL",
        )
    return out


@rule(
    "supp-idvar-missing",
    "error",
    "cross",
    checks="IDVAR is populated in SUPP-- records of every domain other than DM.",
    why="Only DM has one record per subject; a qualifier of any other domain must say which "
    "record it qualifies.",
    refs=["CORE-000134", "CG0203"],
)
def supp_idvar_missing(package: Package) -> list[Finding]:
    """SUPP-- records of domains other than DM without IDVAR.

    Example:
        >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0],
        ...                                            "EXDOSE": [1.0]}))
        >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ['EX'],
        ...     "USUBJID": ['S-1'], "IDVAR": [None], "IDVARVAL": [None], "QNAM": ['WEIGHTDS'],
        ...     "QLABEL": ['Weight at dosing'], "QORIG": ['CRF']}))
        >>> package = Package({"EX": ex, "SUPPEX": supp})  # an EX qualifier needs IDVAR
        >>> [(f.code, f.record) for f in supp_idvar_missing(package)]
        [('supp-idvar-missing', 1)]
    """
    out: list[Finding] = []
    for ds in supp_datasets(package):
        f = ds.frame
        if not {"RDOMAIN", "IDVAR"} <= set(f.columns):
            continue
        bad = present(f["RDOMAIN"]) & _rdomain(f).ne("DM") & ~present(f["IDVAR"])
        out += report_rows(
            "supp-idvar-missing",
            ds,
            rows_where(f, bad),
            "IDVAR",
            lambda r: (
                f"IDVAR is missing on a qualifier of {fmt(r['RDOMAIN'])} (QNAM "
                f"{fmt(r.get('QNAM'))}); name the parent record's identifying variable, such as "
                "its --SEQ."
            ),
            value="QNAM",
        )
    return out


@rule(
    "supp-qlabel-not-one-to-one",
    "error",
    "cross",
    checks="In each SUPP-- dataset QNAM and QLABEL have a one-to-one relationship. The records "
    "reported are those whose label (or name) differs from the one most records of the name "
    "(or label) use.",
    why="QLABEL is QNAM's label in define.xml and in the merged dataset; two labels for one "
    "qualifier (or one label for two) leave the reader guessing which is meant.",
    refs=["CORE-000302", "FB0920"],
)
def supp_qlabel_not_one_to_one(package: Package) -> list[Finding]:
    """Qualifier names with more than one label, and labels with more than one name.

    Example:
        >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0],
        ...                                            "EXDOSE": [1.0]}))
        >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ['EX', 'EX', 'EX'],
        ...     "USUBJID": ['S-1', 'S-1', 'S-1'], "IDVAR": ['EXSEQ', 'EXSEQ', 'EXSEQ'],
        ...     "IDVARVAL": ['1', '1', '1'], "QNAM": ['WEIGHTDS', 'WEIGHTDS', 'WEIGHTDS'],
        ...     "QLABEL": ['Weight at dosing', 'Weight at dosing', 'Body weight'],
        ...     "QORIG": ['CRF', 'CRF', 'CRF']}))
        >>> package = Package({"EX": ex, "SUPPEX": supp})  # two labels for WEIGHTDS
        >>> [(f.code, f.record) for f in supp_qlabel_not_one_to_one(package)]
        [('supp-qlabel-not-one-to-one', 3)]
    """
    out: list[Finding] = []
    for ds in supp_datasets(package):
        f = ds.frame
        if not {"QNAM", "QLABEL"} <= set(f.columns):
            continue
        odd: pd.Index = f.index[:0]
        why = pd.Series("", index=f.index, dtype=object)
        for key, value in (("QNAM", "QLABEL"), ("QLABEL", "QNAM")):
            both = present(f[key]) & present(f[value])
            if not both.any():
                continue
            mask = both.to_numpy()
            if one_value_per_group([value_codes(f[key])[mask]], value_codes(f[value])[mask]):
                continue  # every name has one label (or every label one name): nothing to report
            work = pd.DataFrame(
                {"K": _text(f.loc[both, key]), "V": _text(f.loc[both, value])},
                index=f.index[both.to_numpy()],
            )
            top = dominant(work, ["K"], "V")
            rows = work.index[work["V"].to_numpy() != top["dominant"].to_numpy()]
            rows = rows.difference(odd)
            why[rows] = [
                f"{key} {fmt(k)} has {value} {fmt(t)} on {others(n)}"
                for k, t, n in zip(
                    work.loc[rows, "K"],
                    top.loc[rows, "dominant"],
                    top.loc[rows, "count"],
                    strict=True,
                )
            ]
            odd = odd.union(rows)
        out += report_rows(
            "supp-qlabel-not-one-to-one",
            ds,
            f.assign(__WHY__=why).loc[odd],
            "QLABEL",
            lambda r: (
                f"QNAM {fmt(r['QNAM'])} with QLABEL {fmt(r['QLABEL'])}: {r['__WHY__']}; give "
                "each qualifier one label."
            ),
            value="QLABEL",
        )
    return out


@rule(
    "supp-qlabel-too-long",
    "error",
    "cross",
    checks="QLABEL is at most 40 characters.",
    why="QLABEL becomes the variable label when the qualifier is merged back; SAS XPORT v5 "
    "labels hold 40 characters.",
    refs=["CORE-000222", "CG0416"],
)
def supp_qlabel_too_long(package: Package) -> list[Finding]:
    """Qualifier labels longer than 40 characters.

    Example:
        >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0],
        ...                                            "EXDOSE": [1.0]}))
        >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ['EX'],
        ...     "USUBJID": ['S-1'], "IDVAR": ['EXSEQ'], "IDVARVAL": ['1'], "QNAM": ['WEIGHTDS'],
        ...     "QLABEL": ['Weight of the subject on the day of dosing, in kg'],
        ...     "QORIG": ['CRF']}))
        >>> package = Package({"EX": ex, "SUPPEX": supp})  # 49 characters
        >>> [(f.code, f.record) for f in supp_qlabel_too_long(package)]
        [('supp-qlabel-too-long', 1)]
    """
    out: list[Finding] = []
    for ds in supp_datasets(package):
        f = ds.frame
        if "QLABEL" not in f.columns:
            continue
        bad = _text(f["QLABEL"]).str.len().gt(40).fillna(False).astype(bool)
        out += report_rows(
            "supp-qlabel-too-long",
            ds,
            rows_where(f, bad),
            "QLABEL",
            lambda r: (
                f"QLABEL {fmt(r['QLABEL'])} has {len(str(r['QLABEL']).strip())} characters; "
                "shorten it to 40."
            ),
            value="QLABEL",
        )
    return out


_QORIG = frozenset(
    {"CRF", "EDT", "DERIVED", "ASSIGNED", "PROTOCOL", "PREDECESSOR", "COLLECTED", "NOT AVAILABLE"}
)
"""Origin types of define.xml 2.0 (CRF, eDT, Derived, Assigned, Protocol, Predecessor) and 2.1
(Collected, Derived, Assigned, Protocol, Predecessor, Not Available), compared in upper case."""


@rule(
    "supp-qorig-invalid",
    "warning",
    "cross",
    checks="QORIG is one of the define.xml origin types: CRF, eDT, Derived, Assigned, Protocol, "
    "Predecessor (define.xml 2.0), Collected or Not Available (2.1), in any case.",
    why="QORIG tells the reviewer where the qualifier's value came from, and define.xml's "
    "origin of the value-level metadata repeats it; a free-text origin cannot be matched.",
)
def supp_qorig_invalid(package: Package) -> list[Finding]:
    """Qualifier origins that are not define.xml origin types.

    Example:
        >>> ex = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["S-1"], "EXSEQ": [1.0],
        ...                                            "EXDOSE": [1.0]}))
        >>> supp = Dataset.from_frame("SUPPEX", pd.DataFrame({"RDOMAIN": ['EX'],
        ...     "USUBJID": ['S-1'], "IDVAR": ['EXSEQ'], "IDVARVAL": ['1'], "QNAM": ['WEIGHTDS'],
        ...     "QLABEL": ['Weight at dosing'], "QORIG": ['EDC']}))
        >>> package = Package({"EX": ex, "SUPPEX": supp})  # not an origin type
        >>> [(f.code, f.record) for f in supp_qorig_invalid(package)]
        [('supp-qorig-invalid', 1)]
    """
    out: list[Finding] = []
    for ds in supp_datasets(package):
        f = ds.frame
        if "QORIG" not in f.columns:
            continue
        bad = present(f["QORIG"]) & ~_text(f["QORIG"]).str.upper().isin(_QORIG)
        out += report_rows(
            "supp-qorig-invalid",
            ds,
            rows_where(f, bad),
            "QORIG",
            lambda r: (
                f"QORIG is {fmt(r['QORIG'])}; use an origin type: CRF, eDT, Derived, Assigned, "
                "Protocol, Predecessor, Collected or Not Available."
            ),
            value="QORIG",
        )
    return out
