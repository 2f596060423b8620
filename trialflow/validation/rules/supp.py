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
    fmt,
    numbers,
    present,
    report_rows,
    rows_where,
    stripped,
)

__all__ = ["supp_datasets", "supp_parent_missing", "supp_qnam_invalid"]

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
    return stripped(values.astype("str")).fillna("")


def _id_text(values: pd.Series) -> pd.Series:
    """Identifier values as text compared with IDVARVAL: numbers written without ``.0``."""
    as_number = numbers(values)
    whole = as_number.notna() & (as_number == as_number.round())
    text = _text(values)
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
)
def supp_parent_missing(package: Package) -> list[Finding]:
    """SUPP-- records whose parent record does not exist."""
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
                keys = set(_text(p["USUBJID"]))
                found[group] = subject[group].isin(keys)
            elif var in p.columns:
                keys = set(zip(_text(p["USUBJID"]), _id_text(p[var]), strict=True))
                pairs = pd.Series(list(zip(subject[group], idval[group], strict=True)), index=group)
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
)
def supp_qnam_invalid(package: Package) -> list[Finding]:
    """QNAM values that are not valid names or name a variable of the parent domain."""
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
