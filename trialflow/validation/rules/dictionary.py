"""Dictionary coding: the MedDRA hierarchy of coded events (AE, MH, CE) and the WHODrug
classes of coded medications (CM) are consistent within a dataset, codes accompany terms, and
the dictionary version is declared.

One dataset is coded with one dictionary version, so within it a term has one place in the
hierarchy: a preferred term (--DECOD) one system organ class (--BODSYS), a lowest level term
(--LLT) one preferred term, a high level term (--HLT) one high level group term (--HLGT), and
a term one code. A record that puts a term elsewhere than the dataset's other records do is
reported, naming where the others put it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import (
    Dataset,
    Package,
    finding,
    rule,
)
from trialflow.validation.rules.common import (
    domain_prefix,
    dominant,
    fmt,
    others,
    present,
    report_rows,
    rows_where,
    sdtm_datasets,
    text,
    value_codes,
)

_MEDDRA_DOMAINS = ("AE", "MH", "CE")


def _coded(package: Package, domains: tuple[str, ...]) -> list[tuple[Dataset, str]]:
    """The SDTM datasets of ``domains`` with their variable prefix."""
    out = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        if prefix in domains:
            out.append((ds, prefix))
    return out


def _consistent(child: pd.Series, parent: pd.Series, both: np.ndarray) -> bool:
    """True when each ``child`` value has one ``parent`` value on the ``both`` records (exact
    values: the quick test before the per-record work, which compares trimmed upper-case
    text)."""
    c = value_codes(child)[both].astype(np.int64)
    p = value_codes(parent)[both].astype(np.int64)
    pairs = np.unique(c * (int(p.max()) + 2) + p + 1)
    return len(pairs) == len(np.unique(c))


def _inconsistent(code: str, ds: Dataset, child: str, parent: str, what: str) -> list[Finding]:
    """Records whose ``parent`` is not the one most records with the same ``child`` have."""
    frame = ds.frame
    if child not in frame.columns or parent not in frame.columns:
        return []
    both = present(frame[child]) & present(frame[parent])
    if not both.any() or _consistent(frame[child], frame[parent], both.to_numpy(dtype=bool)):
        return []
    pairs = pd.DataFrame({"c": text(frame[child]), "p": text(frame[parent])})[both]
    usual = dominant(pairs, ["c"], "p")
    odd = pairs["p"].ne(usual["dominant"])
    if not odd.any():
        return []
    # show the usual value as written (its first record), not its normalised text
    raw = frame.loc[both, parent]
    written = pd.Series(raw.to_numpy(dtype=object), index=pairs["p"].to_numpy())
    written = written[~written.index.duplicated()]
    at = odd.index[odd]
    rows = rows_where(frame, both).loc[at]
    rows = rows.assign(
        __USUAL__=usual.loc[at, "dominant"].map(written).to_numpy(dtype=object),
        __COUNT__=usual.loc[at, "count"].to_numpy(),
    )
    return report_rows(
        code,
        ds,
        rows,
        parent,
        lambda r: (
            f"{child} {fmt(r[child])} has {parent} {fmt(r[parent])} here but "
            f"{fmt(r['__USUAL__'])} on {others(r['__COUNT__'])}; {what}"
        ),
        value=parent,
    )


def _pairs_rule(
    package: Package, code: str, domains: tuple[str, ...], pairs: list[tuple[str, str]], what: str
) -> list[Finding]:
    out = []
    for ds, prefix in _coded(package, domains):
        for child, parent in pairs:
            out += _inconsistent(code, ds, prefix + child, prefix + parent, what)
    return out


_ONE_VERSION = "within one MedDRA version a term has one place in the hierarchy: recode it."


@rule(
    "meddra-pt-soc-inconsistent",
    "error",
    "cross",
    checks="In AE, MH and CE, each --DECOD (preferred term) has one --BODSYS (system organ "
    "class), and each --PTCD one --BDSYCD.",
    why="Coded with one MedDRA version, a preferred term belongs to one primary SOC; two SOCs "
    "for one term split its counts in the safety tables.",
)
def meddra_pt_soc_inconsistent(package: Package) -> list[Finding]:
    """Records whose SOC differs from the other records of the same preferred term."""
    return _pairs_rule(
        package,
        "meddra-pt-soc-inconsistent",
        _MEDDRA_DOMAINS,
        [("DECOD", "BODSYS"), ("PTCD", "BDSYCD")],
        _ONE_VERSION,
    )


@rule(
    "meddra-llt-pt-inconsistent",
    "error",
    "cross",
    checks="In AE, MH and CE, each --LLT (lowest level term) has one --DECOD, and each --LLTCD "
    "one --PTCD.",
    why="In MedDRA a lowest level term links to exactly one preferred term.",
)
def meddra_llt_pt_inconsistent(package: Package) -> list[Finding]:
    """Records whose preferred term differs from the other records of the same LLT."""
    return _pairs_rule(
        package,
        "meddra-llt-pt-inconsistent",
        _MEDDRA_DOMAINS,
        [("LLT", "DECOD"), ("LLTCD", "PTCD")],
        _ONE_VERSION,
    )


@rule(
    "meddra-hlt-hlgt-inconsistent",
    "error",
    "cross",
    checks="In AE, MH and CE, each --DECOD has one --HLT, each --HLT one --HLGT and each --HLGT "
    "one --SOC (primary path), and the same for their codes.",
    why="The primary path of a preferred term is unique in one MedDRA version; two paths "
    "mean mixed versions or hand edits.",
)
def meddra_hlt_hlgt_inconsistent(package: Package) -> list[Finding]:
    """Records whose HLT, HLGT or SOC differs from the other records of the same term."""
    return _pairs_rule(
        package,
        "meddra-hlt-hlgt-inconsistent",
        _MEDDRA_DOMAINS,
        [
            ("DECOD", "HLT"),
            ("HLT", "HLGT"),
            ("HLGT", "SOC"),
            ("PTCD", "HLTCD"),
            ("HLTCD", "HLGTCD"),
            ("HLGTCD", "SOCCD"),
        ],
        _ONE_VERSION,
    )


@rule(
    "meddra-term-code-inconsistent",
    "error",
    "cross",
    checks="In AE, MH and CE, a MedDRA term and its code correspond one to one (--DECOD and "
    "--PTCD, --BODSYS and --BDSYCD, --LLT and --LLTCD, --HLT and --HLTCD, --HLGT and "
    "--HLGTCD, --SOC and --SOCCD).",
    why="Each MedDRA term has one code; a term with two codes (or a code with two terms) is a "
    "coding error.",
)
def meddra_term_code_inconsistent(package: Package) -> list[Finding]:
    """Records whose code (or term) differs from the other records of the same term (code)."""
    pairs = [
        ("DECOD", "PTCD"),
        ("BODSYS", "BDSYCD"),
        ("LLT", "LLTCD"),
        ("HLT", "HLTCD"),
        ("HLGT", "HLGTCD"),
        ("SOC", "SOCCD"),
    ]
    both = pairs + [(b, a) for a, b in pairs]
    return _pairs_rule(
        package,
        "meddra-term-code-inconsistent",
        _MEDDRA_DOMAINS,
        both,
        "a MedDRA term has one code: recode it.",
    )


_CODE_OF = {
    "DECOD": "PTCD",
    "BODSYS": "BDSYCD",
    "LLT": "LLTCD",
    "HLT": "HLTCD",
    "HLGT": "HLGTCD",
    "SOC": "SOCCD",
}


@rule(
    "meddra-code-missing",
    "warning",
    "cross",
    checks="In AE, MH and CE, where a MedDRA term variable is populated and its code variable "
    "(--PTCD, --BDSYCD, --LLTCD, --HLTCD, --HLGTCD, --SOCCD) is populated on other records, "
    "the code is populated too.",
    why="A dataset that carries MedDRA codes carries them for every coded term; a missing "
    "code makes the record uncoded for tools that work on codes.",
)
def meddra_code_missing(package: Package) -> list[Finding]:
    """Records with a MedDRA term but no code."""
    out = []
    for ds, prefix in _coded(package, _MEDDRA_DOMAINS):
        for term, code in _CODE_OF.items():
            t, c = prefix + term, prefix + code
            if t not in ds.frame.columns or c not in ds.frame.columns:
                continue
            coded = present(ds.frame[c])
            if not coded.any():  # a code variable never populated is not a partial coding
                continue
            missing = present(ds.frame[t]) & ~coded
            out += report_rows(
                "meddra-code-missing",
                ds,
                rows_where(ds.frame, missing),
                c,
                lambda r, t=t, c=c: (
                    f"{t} is {fmt(r[t])} but {c} is missing; add the MedDRA code of the term."
                ),
            )
    return out


@rule(
    "meddra-bodsys-not-soc",
    "warning",
    "cross",
    checks="In AE, MH and CE, where both are populated, --BODSYS (the SOC used for analysis) "
    "equals --SOC (the primary SOC).",
    why="SDTMIG: --BODSYS is the primary SOC unless the sponsor analyses by another one; a "
    "difference needs a look (and a note in the reviewer's guide when intended).",
)
def meddra_bodsys_not_soc(package: Package) -> list[Finding]:
    """Records whose --BODSYS is not their --SOC."""
    out = []
    for ds, prefix in _coded(package, _MEDDRA_DOMAINS):
        b, s = prefix + "BODSYS", prefix + "SOC"
        if b not in ds.frame.columns or s not in ds.frame.columns:
            continue
        frame = ds.frame
        differs = present(frame[b]) & present(frame[s]) & text(frame[b]).ne(text(frame[s]))
        out += report_rows(
            "meddra-bodsys-not-soc",
            ds,
            rows_where(frame, differs),
            b,
            lambda r, b=b, s=s: (
                f"{b} {fmt(r[b])} is not the primary SOC {s} {fmt(r[s])}; "
                "use the primary SOC or explain the secondary one in the reviewer's guide."
            ),
            value=b,
        )
    return out


def _meddra_declared(package: Package) -> bool:
    define = package.define
    if define is not None and any(
        c.dictionary.upper() == "MEDDRA" and c.version for c in define.dictionaries
    ):
        return True
    ts = package.get("TS")
    if ts is None or "TSVCDREF" not in ts.frame.columns or "TSVCDVER" not in ts.frame.columns:
        return False
    return bool((text(ts.frame["TSVCDREF"]).eq("MEDDRA") & present(ts.frame["TSVCDVER"])).any())


@rule(
    "meddra-version-missing",
    "warning",
    "cross",
    checks="When AE, MH or CE holds MedDRA-coded terms and the package has a define.xml, the "
    "MedDRA version is declared: a define.xml ExternalCodeList Dictionary='MedDRA' with a "
    "Version (or a TS record with TSVCDREF 'MedDRA' and TSVCDVER).",
    why="Coded terms can be checked and pooled only against the dictionary version they were "
    "coded with; FDA's technical conformance guide asks for it.",
)
def meddra_version_missing(package: Package) -> list[Finding]:
    """Coded datasets in a package that names no MedDRA version (one finding per dataset)."""
    if package.define is None:  # the version is declared in define.xml: judged with it only
        return []
    coded = [
        ds
        for ds, prefix in _coded(package, _MEDDRA_DOMAINS)
        if prefix + "DECOD" in ds.frame.columns and present(ds.frame[prefix + "DECOD"]).any()
    ]
    if not coded or _meddra_declared(package):
        return []
    return [
        finding(
            "meddra-version-missing",
            f"{ds.name} holds MedDRA-coded terms but neither TS (TSVCDREF 'MedDRA', TSVCDVER) "
            "nor define.xml (ExternalCodeList) names the MedDRA version; declare it.",
            ds,
        )
        for ds in coded
    ]


@rule(
    "decod-missing-when-coded",
    "warning",
    "cross",
    checks="In CM, when any record has --DECOD (the dataset is coded), every record with --TRT "
    "has --DECOD.",
    why="An uncoded medication drops out of every summary by standardised name and class; "
    "the coding team has to code it.",
)
def decod_missing_when_coded(package: Package) -> list[Finding]:
    """Records of a coded medication dataset whose verbatim name has no coded name."""
    out: list[Finding] = []
    for ds, prefix in _coded(package, ("CM",)):
        f = ds.frame
        trt, decod = f"{prefix}TRT", f"{prefix}DECOD"
        if trt not in f.columns or decod not in f.columns:
            continue
        coded = present(f[decod])
        if not coded.any():
            continue
        out += report_rows(
            "decod-missing-when-coded",
            ds,
            rows_where(f, present(f[trt]) & ~coded),
            decod,
            lambda r, trt=trt, decod=decod: (
                f"{trt} {fmt(r[trt])} has no {decod} although the other records are coded; "
                "have it coded."
            ),
            value=trt,
        )
    return out


@rule(
    "whodrug-class-inconsistent",
    "warning",
    "cross",
    checks="In CM, each --DECOD (WHODrug preferred name) has one --CLAS and one --CLASCD, and "
    "--CLAS and --CLASCD correspond one to one.",
    why="A drug coded with one WHODrug version sits in the class the sponsor chose for it; "
    "different classes for the same drug split its counts (a multi-ATC drug coded by "
    "indication needs a note in the reviewer's guide).",
)
def whodrug_class_inconsistent(package: Package) -> list[Finding]:
    """Records whose drug class differs from the other records of the same drug."""
    return _pairs_rule(
        package,
        "whodrug-class-inconsistent",
        ("CM",),
        [("DECOD", "CLAS"), ("DECOD", "CLASCD"), ("CLAS", "CLASCD"), ("CLASCD", "CLAS")],
        "code the drug to one class or explain the choice in the reviewer's guide.",
    )
