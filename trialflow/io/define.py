"""Define-XML 2.1 for the SDTM and the ADaM datasets of a run, built with lxml element by element.

:func:`write_define` takes the datasets as the XPT and Dataset-JSON writers take them (the
frame as written, its :class:`~trialflow.io.xpt.XptVariable` list and its keys) and writes
``define.xml`` with:

* the ODM root (``def:Context="Submission"``, the run's creation datetime, never the clock) and
  the ``xml-stylesheet`` instruction for ``define2-1.xsl``, copied beside the file;
* ``def:Standards``: SDTMIG 3.4 or ADaMIG 1.3 (and ADaM-OCCDSIG 1.1 for ADAE) and the CDISC
  CT package trialflow ships;
* one ``ItemGroupDef`` per dataset (OID ``IG.<DATASET>``, as Dataset-JSON) with its class,
  structure, keys (``KeySequence`` = Dataset-JSON ``keySequence``) and ``def:leaf`` to the XPT;
* one ``ItemDef`` per variable (OID ``IT.<DATASET>.<VARIABLE>``): DataType from the Dataset-JSON
  dataType (string -> text, or datetime/durationDatetime for ISO 8601 ``--DTC``/``--DUR``;
  integer; double -> float; SAS date numbers -> integer), Length, SignificantDigits and the
  origin: for SDTM from the lineage (a raw column is *Collected*, naming the form and field;
  ``derived: ...`` is *Derived* with a MethodDef; ``spec: ...`` is *Assigned*; ``coding: ...``
  is *Assigned* from the dictionary), for ADaM from the ADaM metadata (*Predecessor* naming the
  SDTM variable, *Derived*, *Assigned*) and study.yaml (baseline rule, windows, formulas);
* CodeLists of the CT terms used (C-codes as ``nci:ExtCodeID`` aliases, sponsor terms of an
  extensible codelist flagged ``def:ExtendedValue``), PARAMCD, and the external dictionaries
  (MedDRA with the coding file's version, ISO 8601, ISO 3166);
* value-level metadata for --ORRES/--STRESN by --TESTCD and AVAL by PARAMCD;
* ``arm:AnalysisResultDisplays`` for the study's change-from-baseline endpoints (ADaM).

Everything per record is vectorised pandas (unique values, group maxima), so a large study
costs little more than a small one.

Example:
    >>> import pandas as pd, tempfile, pathlib
    >>> dm = pd.DataFrame({"STUDYID": ["S1"], "DOMAIN": ["DM"], "USUBJID": ["S1-01"],
    ...                    "SEX": ["F"], "AGE": [41.0]})
    >>> path = write_define([DefineDataset("DM", dm)], pathlib.Path(tempfile.mkdtemp()),
    ...                     kind="sdtm", studyid="S1")
    >>> root = etree.parse(str(path)).getroot()
    >>> [e.get("OID") for e in root.iter(f"{{{ODM}}}ItemGroupDef")]
    ['IG.DM']
    >>> define_errors(path)
    []
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from trialflow.adam import metadata as adam_metadata
from trialflow.errors import Finding, Source
from trialflow.io.dataset_json import dataset_json_columns
from trialflow.io.xpt import DEFAULT_CREATED, XptVariable
from trialflow.sdtm import metadata as sdtm_metadata

__all__ = [
    "DEFINE_VERSION",
    "DefineDataset",
    "check_define",
    "define_errors",
    "define_schema_path",
    "stylesheet_path",
    "write_define",
]

DEFINE_VERSION = "2.1.0"

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
ARM = "http://www.cdisc.org/ns/arm/v1.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP = {None: ODM, "def": DEF, "xlink": XLINK, "arm": ARM}
STYLESHEET = "define2-1.xsl"

Kind = Literal["sdtm", "adam"]

# SDTMIG 3.4 dataset-level metadata: the structure of each dataset trialflow writes.
_STRUCTURE = {
    "DM": "One record per subject",
    "SV": "One record per actual or planned visit per subject",
    "SE": "One record per actual Element per subject",
    "TA": "One record per planned Element per Arm",
    "TE": "One record per planned Element",
    "TV": "One record per planned Visit per Arm",
    "TI": "One record per I/E criterion",
    "TS": "One record per trial summary parameter value",
    "EX": "One record per protocol-specified study treatment, constant-dosing interval, per "
    "subject",
    "AE": "One record per adverse event per subject",
    "CM": "One record per recorded intervention occurrence or constant-dosing interval per subject",
    "MH": "One record per medical history event per subject",
    "LB": "One record per lab test per time point per visit per subject",
    "VS": "One record per vital sign measurement per time point per visit per subject",
    "DS": "One record per disposition status or protocol milestone per subject",
}
_REFERENCE = {"TA", "TE", "TV", "TI", "TS"}
_ONE_PER_SUBJECT = {"DM", "ADSL"}
# value-level metadata: domain -> (the variable whose values split it, its name variable, the
# variables described per value)
_TESTCD = {
    "LB": ("LBTESTCD", "LBTEST", ["LBORRES", "LBSTRESN"]),
    "VS": ("VSTESTCD", "VSTEST", ["VSORRES", "VSSTRESN"]),
    "TS": ("TSPARMCD", "TSPARM", ["TSVAL"]),
}


@dataclass
class DefineDataset:
    """One dataset as define.xml describes it: the frame as written (ADaM dates as SAS
    numbers), its XPT variables, keys, label and (SDTM) lineage frame.

    Example:
        >>> DefineDataset("DM", pd.DataFrame({"USUBJID": ["1"]})).name
        'DM'
    """

    name: str
    frame: pd.DataFrame
    variables: list[XptVariable] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    label: str = ""
    lineage: pd.DataFrame | None = None


def stylesheet_path() -> Path:
    """The CDISC Define-XML 2.1 stylesheet (``define2-1.xsl``, MIT, from defineutils).

    Example:
        >>> stylesheet_path().name
        'define2-1.xsl'
    """
    return _defineutils() / "definehtml" / STYLESHEET


def _defineutils() -> Path:
    """The folder of the defineutils package, found without importing it (it is slow to)."""
    spec = importlib.util.find_spec("defineutils")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("defineutils is not installed; it ships the Define-XML XSDs")
    return Path(next(iter(spec.submodule_search_locations)))


def define_schema_path(arm: bool = False) -> Path:
    """The Define-XML 2.1 XSD (with ``arm=True``, the ARM 1.0 XSD that includes it).

    Example:
        >>> define_schema_path().name, define_schema_path(arm=True).name
        ('define2-1-0.xsd', 'arm1-0-0.xsd')
    """
    base = _defineutils() / "validate" / "schema"
    if arm:
        return base / "cdisc-arm-1.0" / "arm1-0-0.xsd"
    return base / "cdisc-define-2.1" / "define2-1-0.xsd"


_SCHEMAS: dict[bool, etree.XMLSchema] = {}


def _schema(arm: bool) -> etree.XMLSchema:
    if arm not in _SCHEMAS:
        _SCHEMAS[arm] = etree.XMLSchema(etree.parse(str(define_schema_path(arm))))
    return _SCHEMAS[arm]


def define_errors(path: str | Path) -> list[tuple[int, str]]:
    """XSD errors of a define.xml as (line, message); ``[]`` when it is valid.

    A document with ``arm:AnalysisResultDisplays`` is checked against the ARM 1.0 XSD (which
    includes Define-XML 2.1), any other against Define-XML 2.1. A file that is not XML gives
    one error.

    Example:
        >>> import tempfile, pathlib
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "define.xml"
        >>> _ = bad.write_text("<ODM/>")
        >>> define_errors(bad)[0][0]
        1
    """
    try:
        doc = etree.parse(str(path))
    except etree.XMLSyntaxError as exc:
        return [(exc.lineno or 0, str(exc))]
    has_arm = doc.find(f".//{{{ARM}}}AnalysisResultDisplays") is not None
    schema = _schema(has_arm)
    if schema.validate(doc):
        return []
    return [(e.line, e.message) for e in schema.error_log]


# --- small element helpers --------------------------------------------------------------------


def _el(parent: etree._Element, tag: str, attrs: Mapping[str, Any] | None = None) -> Any:
    """A child element; attribute values are written as text, None values left out."""
    ns, _, local = tag.rpartition(":")
    qname = f"{{{NSMAP[ns or None]}}}{local}"
    element = etree.SubElement(parent, qname)
    for key, value in (attrs or {}).items():
        if value is None:
            continue
        kns, _, klocal = key.rpartition(":")
        element.set(f"{{{NSMAP[kns]}}}{klocal}" if kns else klocal, str(value))
    return element


def _text(parent: etree._Element, tag: str, text: str) -> Any:
    """``<tag><TranslatedText xml:lang="en">text</TranslatedText></tag>``."""
    element = _el(parent, tag)
    translated = _el(element, "TranslatedText")
    translated.set(XML_LANG, "en")
    translated.text = text
    return element


def _oid(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", str(text))


# --- per-variable facts, vectorised -----------------------------------------------------------


def _number_facts(values: pd.Series) -> tuple[int, int]:
    """(Length, decimals) of a numeric column: digits before the point plus decimals."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    x = x[~np.isnan(x)]
    if not len(x):
        return 8, 0
    decimals = 0
    for decimals in range(13):
        scaled = x * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-7 * np.maximum(1.0, np.abs(scaled))):
            break
    biggest = float(np.max(np.abs(x)))
    whole = len(str(int(biggest))) if biggest >= 1 else 1
    sign = int(bool(np.any(x < 0)))
    return whole + decimals + sign, decimals


def _data_type(column: dict[str, Any], name: str) -> str:
    kind = column["dataType"]
    if kind == "string":
        if name.endswith("DTC"):
            return "datetime"
        if name.endswith("DUR"):
            return "durationDatetime"
        return "text"
    if kind in ("integer", "date", "datetime", "time"):
        return "integer"
    return "float"


@dataclass
class _Item:
    """One ItemDef to write (a dataset variable or a value-level item)."""

    oid: str
    name: str
    label: str
    data_type: str
    length: int | None
    digits: int | None
    display_format: str | None
    origin: tuple[str, str | None, str] | None  # (type, source, description)
    method: str | None = None
    codelist: str | None = None
    comment: str | None = None
    value_list: str | None = None
    parent: str | None = None  # a value-level item: the variable it describes values of


@dataclass
class _Doc:
    """What the document collects while the datasets are described."""

    kind: Kind
    items: list[_Item] = field(default_factory=list)
    methods: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # oid: name,type,text
    comments: dict[str, str] = field(default_factory=dict)
    codelists: dict[str, dict[str, Any]] = field(default_factory=dict)
    value_lists: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)
    where: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # oid: [(item, val)]


# --- origins ----------------------------------------------------------------------------------


def _kind_of(text: str) -> str:
    for prefix, kind in (
        ("derived:", "derived"),
        ("spec:", "assigned"),
        ("coding:", "coding"),
        ("not collected", "not collected"),
    ):
        if text.startswith(prefix):
            return kind
    return "collected"


def _lineage_origin(
    lineage: pd.DataFrame | None, name: str
) -> tuple[str, list[str], list[str]] | None:
    """(kind, texts, sheets) of a variable's lineage column: the first kind present of
    collected (a raw column), derived, coding, spec (assigned) and not collected."""
    if lineage is None or name not in lineage.columns:
        return None
    column = lineage[name]
    texts = [str(t) for t in column.dropna().unique().tolist() if str(t).strip()]
    if not texts:
        return None
    kinds = {t: _kind_of(t) for t in texts}
    order = ["collected", "derived", "coding", "assigned", "not collected"]
    kind = next(k for k in order if k in kinds.values())
    chosen = [t for t in texts if kinds[t] == kind]
    sheets: list[str] = []
    if kind == "collected" and "source_sheet" in lineage.columns:
        sheet = lineage.loc[column.isin(chosen), "source_sheet"].dropna().unique()
        sheets = [str(s) for s in sheet.tolist()]
    return kind, chosen, sheets


def _sdtm_origin(
    ds: DefineDataset, name: str, doc: _Doc, dictionaries: Mapping[str, dict]
) -> tuple[tuple[str, str | None, str] | None, str | None, str | None]:
    """(origin, MethodOID, CommentOID) of an SDTM variable from its lineage."""
    found = _lineage_origin(ds.lineage, name)
    if found is None:
        return None, None, None
    kind, texts, sheets = found
    if kind == "collected":
        forms = ", ".join(sheets)
        fields = ", ".join(texts[:5])
        return ("Collected", "Investigator", f"Form {forms}, field {fields}"), None, None
    if kind == "derived":
        oid = f"MT.{ds.name}.{name}"
        text = "; ".join(t.removeprefix("derived:").strip() for t in texts[:5])
        doc.methods[oid] = (f"Algorithm to derive {ds.name}.{name}", "Computation", text)
        return ("Derived", None, ""), oid, None
    if kind == "coding":
        entry = dictionaries.get(ds.name, {})
        what = f"{entry.get('dictionary', 'dictionary')} {entry.get('version', '')}".strip()
        files = ", ".join(
            dict.fromkeys(t.split(",")[0].removeprefix("coding:").strip() for t in texts)
        )
        column = texts[0].rsplit("column", 1)[-1].strip()
        text = f"Coded with {what} by the coding team ({files}, column {column})"
        return ("Assigned", "Vendor", text), None, None
    if kind == "assigned":
        text = "; ".join(t.removeprefix("spec:").strip() for t in texts[:5])
        if ds.name in _REFERENCE:  # trial design: the protocol's facts, as study.yaml holds them
            return ("Protocol", "Sponsor", f"From the protocol: {text}"), None, None
        return ("Assigned", "Sponsor", f"Assigned by the mapping specification: {text}"), None, None
    oid = f"COM.{ds.name}.{name}"
    doc.comments[oid] = "; ".join(
        f"{name} not collected ({t.removeprefix('not collected').strip(' :')})" for t in texts[:5]
    )
    return ("Not Available", None, ""), None, oid


def _adam_methods_from_study(spec: Any) -> dict[str, tuple[str, str]]:
    """(type, text) of the ADaM derivations study.yaml declares, by variable name."""
    adam = getattr(spec, "adam", None)
    if adam is None:
        return {}
    out: dict[str, tuple[str, str]] = {}
    base = adam.baseline
    when = "on or before" if base.rule == "last_on_or_before" else "before"
    out["ABLFL"] = (
        "Computation",
        f"Baseline: per subject and parameter, the last record with a non-missing AVAL whose "
        f"date is {when} {base.reference} (rule {base.rule}); it gets ABLFL = 'Y', "
        f"AVISIT '{base.avisit}' and AVISITN {base.avisitn:g}.",
    )
    out["BASE"] = (
        "Computation",
        "AVAL of the baseline record (ABLFL = 'Y') of the subject and parameter.",
    )
    out["CHG"] = ("Computation", "AVAL - BASE, on post-baseline records only.")
    out["PCHG"] = ("Computation", "100 x (AVAL - BASE) / BASE, on post-baseline records only.")
    visits = adam.analysis_visits
    ref = (
        visits.reference
        if isinstance(visits.reference, str)
        else (f"the subject's {visits.reference.visit} visit date (day 0)")
    )
    if visits.windows == "schedule":
        windows = "each planned visit of study.yaml with a window: its day +/- its window"
    else:
        windows = "; ".join(
            f"{w.avisit} (AVISITN {w.avisitn:g}): days {w.low} to {w.high}, target {w.target}"
            for w in visits.windows
        )
    text = (
        f"Analysis visits by {visits.by}: days counted from {ref}; windows: {windows}. "
        "A record in no window has no AVISIT; ANL01FL flags the record closest to the target "
        "day per window."
    )
    if getattr(visits, "exclude", []):
        text += (
            f" Records of the visits {', '.join(visits.exclude)} get no AVISIT and are not "
            "analysed."
        )
    if getattr(visits, "unscheduled", "include") == "exclude":
        text += (
            " Records of unscheduled visits (VISITNUM not a planned visit) get no AVISIT "
            "and are not analysed."
        )
    out["AVISIT"] = out["AVISITN"] = ("Computation", text)
    out["ANL01FL"] = ("Computation", text)
    out.update(_design_methods(adam, text))
    if getattr(adam, "dose", None) is not None:
        out.update(_dose_methods(adam.dose))
    diagnosis = adam.adsl.diagnosis
    if diagnosis is not None:
        where = ", ".join(f"{k} = {v}" for k, v in diagnosis.where.items())
        point = {"first": "first day", "mid": "middle", "last": "last day"}[diagnosis.imputation]
        flag = f" ({diagnosis.flag_var}: D or M)" if diagnosis.flag_var else ""
        out[diagnosis.date_var] = (
            "Imputation",
            f"{diagnosis.domain}.{diagnosis.date} of the record where {where}; a date known to "
            f"the month or year only is imputed to the {point} of that month or year{flag}.",
        )
    return out


def _design_methods(adam: Any, visits_text: str) -> dict[str, tuple[str, str]]:
    """Methods of the design keys of study.yaml's adam section (baseline.by, basetypes,
    analysis_flag, derived_records), only when the study declares them."""
    out: dict[str, tuple[str, str]] = {}
    base = adam.baseline
    by = [*(["BASETYPE"] if base.basetypes else []), *base.by]
    if by:
        group = ", ".join(["subject", "parameter", *by])
        when = "on or before" if base.rule == "last_on_or_before" else "before"
        types = "; ".join(
            f"BASETYPE '{b.basetype}': "
            + ("every record" if not b.where else
               "records where " + ", ".join(f"{k} = {v}" for k, v in b.where.items()))
            + f", rule {b.rule or base.rule}"
            for b in base.basetypes
        )  # fmt: skip
        out["ABLFL"] = (
            "Computation",
            f"Baseline: per {group}, the last record with a non-missing AVAL whose date is "
            f"{when} {base.reference} (rule {base.rule}); it gets ABLFL = 'Y', AVISIT "
            f"'{base.avisit}' and AVISITN {base.avisitn:g}."
            + (f" Each record is copied once per baseline definition ({types})." if types else ""),
        )  # fmt: skip
        out["BASE"] = ("Computation", f"AVAL of the baseline record (ABLFL = 'Y') of the {group}.")
        if base.basetypes:
            out["BASETYPE"] = ("Computation", f"The baseline definition of the record: {types}.")
    flag = adam.analysis_flag
    if flag is not None:
        rule = {
            "closest": "the record closest to the window's target day (tie: the earlier day)",
            "first": "the first record (by ADT, ADTM, --SEQ)",
            "last": "the last record (by ADT, ADTM, --SEQ)",
            "worst": "the worst value ("
            + ", ".join(f"{p}: {d}" for p, d in flag.worst.items())
            + "; tie: the earlier record)",
        }[flag.rule]
        out["ANL01FL"] = (
            "Computation",
            f"{visits_text} ANL01FL = 'Y' on one record per "
            + ", ".join(["subject", "parameter", *by, "analysis visit"])
            + (": records of planned visits first, then" if flag.prefer_scheduled else ":")
            + f" {rule}; "
            + ("the baseline record too." if flag.include_baseline else "not the baseline record."),
        )  # fmt: skip
    parts = []
    for record in adam.derived_records:
        if record.dtype == "LOCF":
            visits = ", ".join(record.visits) if record.visits else "every post-baseline window"
            parts.append(
                f"LOCF: a record for each expected analysis visit ({visits}) without an "
                "analysis value, carrying the AVAL of the latest earlier visit"
                + (" (the baseline counts)" if record.carry_baseline else "")
                + " (admiral derive_locf_records)"
            )
        else:
            parts.append(
                f"LOV: AVISIT '{record.avisit}' (AVISITN {record.avisitn:g}), a copy of the "
                "last post-baseline ANL01FL record on treatment (ADT <= TRTEDT + "
                f"{record.end_window} days) (admiral derive_extreme_records)"
            )
    if parts:
        out["DTYPE"] = (
            "Computation",
            "; ".join(parts) + ". Records whose AVAL is imputed from a censored result: "
            "HALFLLOQ, LLOQ or ULOQ. The lineage of a derived record names its source record.",
        )
    return out


def _dose_methods(dose: Any) -> dict[str, tuple[str, str]]:
    """(type, text) of ADDOSE's derivations (study.yaml adam.dose), keyed ``ADDOSE.<name>``."""
    where = ", ".join(f"{k} = {v}" for k, v in dose.where.items())
    group = {p.paramcd: "all agents" if p.agents == "all" else f"the {p.agents} agents"
             for p in dose.parameters}  # fmt: skip
    measures = "; ".join(
        f"{p.paramcd}: "
        + {
            "ddd": f"sum of CMDOSTOT / DDD (adam.dose.ddd by CMDECOD) over {group[p.paramcd]}",
            "dose": f"sum of CMDOSTOT ({p.unit}) over {group[p.paramcd]}",
            "dose_per_kg": f"sum of CMDOSTOT ({p.unit}) over {group[p.paramcd]} / the weight "
            "(ADVS, the last on or before the visit date)",
            "percent_of_baseline": f"100 x AVAL of {p.of} / its BASE",
        }[p.measure]
        + f", rounded to {p.digits} decimals"
        for p in dose.parameters
    )
    active = (
        f"The CM records where {where} active on the visit date (SV SVSTDTC): CMSTDTC on or "
        "before it and CMENDTC empty or on or after it; a partial start is completed to the "
        "first day of its month (year), a partial end to the last (IMPUTFL = 'Y')."
    )
    out = {
        "ADDOSE.AVAL": ("Computation", f"{active} {measures}. No active record: 0."),
        "ADDOSE.ABLFL": ("Computation", f"'Y' on the {dose.visits[0]} visit's record."),
        "ADDOSE.AVISIT": ("Computation", f"The planned visit ({', '.join(dose.visits)})."),
        "ADDOSE.AVISITN": ("Computation", "VISITNUM of the planned visit."),
        "ADDOSE.ANL01FL": ("Computation", "'Y': one record per subject, parameter and visit."),
        "ADDOSE.ADT": ("Computation", "SV SVSTDTC of the visit: the date the dose is taken on."),
        "ADDOSE.PCHG": (
            "Computation",
            f"100 x (AVAL - BASE) / BASE on post-baseline records, rounded to "
            f"{dose.pchg_digits} decimals; empty when BASE is 0.",
        ),
    }
    if dose.categories is not None:
        cats = dose.categories
        rules = [f"'{cats.discontinued.avalcat1}' ({cats.discontinued.avalca1n}) when AVAL is 0"]
        rules += [
            f"'{c.avalcat1}' ({c.avalca1n}) when PCHG <= {c.pchg_max:g}"
            if c.pchg_max is not None else f"else '{c.avalcat1}' ({c.avalca1n})"
            for c in cats.by_pchg
        ]  # fmt: skip
        text = (
            f"Post-baseline records of {', '.join(cats.paramcd)} with BASE above 0: "
            + "; ".join(rules) + " (the first that applies)."
        )  # fmt: skip
        out["ADDOSE.AVALCAT1"] = out["ADDOSE.AVALCA1N"] = ("Computation", text)
    for y, crit in enumerate(dose.criteria, start=1):
        test = (
            f"PCHG <= {crit.pchg_max:g} (post-baseline records with a PCHG)"
            if crit.pchg_max is not None
            else f"AVAL <= {crit.aval_max:g} (records with an AVAL)"
        )
        out[f"ADDOSE.CRIT{y}FL"] = (
            "Computation",
            f"'Y' when {test}, else 'N', on {', '.join(crit.paramcd)}: {crit.crit}.",
        )
    return out


# --- codelists --------------------------------------------------------------------------------


def _used(frame: pd.DataFrame, name: str) -> list[str]:
    values = frame[name]
    if pd.api.types.is_numeric_dtype(values.dtype):
        return []
    text = pd.Series(values.dropna().unique()).astype(str)
    return sorted(t for t in text.tolist() if t.strip())


@functools.lru_cache(maxsize=256)
def _codelist(name: str) -> sdtm_metadata.Codelist:
    return sdtm_metadata.codelist(name)


def _add_ct_codelist(doc: _Doc, codelist_name: str, values: list[str]) -> str | None:
    if not values:
        return None
    try:
        cl = _codelist(codelist_name)
    except sdtm_metadata.MetadataError:
        return None
    oid = f"CL.{_oid(cl.name)}"
    entry = doc.codelists.setdefault(
        oid, {"name": cl.label or cl.name, "ct": cl, "values": set(), "decodes": {}}
    )
    entry["values"].update(values)
    return oid


def _sponsor_terms(spec: Any, name: str) -> list[str]:
    """The terms of study.yaml's sponsor codelist named after variable ``name`` (AEREL, CMCAT).

    controlled_terms holds CDISC codelists (synonyms of their terms) and sponsor codelists,
    which are exactly their declared terms. A variable the SDTMIG binds to no CDISC codelist
    takes the sponsor codelist of its own name, as the mapping specs assign it; define.xml
    then lists every declared term, so a reviewer sees the codelist, not only the values used.
    """
    terms = (getattr(spec, "controlled_terms", None) or {}).get(name)
    if not terms:
        return []
    try:
        _codelist(name)
    except sdtm_metadata.MetadataError:
        return [str(term) for term in terms]
    return []  # a CDISC codelist of that name: described from the CT, not here


def _add_external(doc: _Doc, oid: str, name: str, dictionary: str, version: str) -> str:
    doc.codelists.setdefault(
        oid, {"name": name, "external": (dictionary, version), "values": set(), "decodes": {}}
    )
    return oid


# --- value-level metadata ---------------------------------------------------------------------


def _value_level(
    doc: _Doc,
    ds: DefineDataset,
    by: str,
    targets: list[str],
    describe: Mapping[str, str],
    methods: Mapping[str, str],
) -> dict[str, str]:
    """Value-level ItemDefs of ``targets`` per value of ``by``; returns variable -> VL OID."""
    frame = ds.frame
    if by not in frame.columns:
        return {}
    keys = frame[by].astype(str)
    codes = sorted(k for k in keys.unique().tolist() if k.strip() and k != "nan")
    out = {}
    for target in targets:
        if target not in frame.columns or not codes:
            continue
        vl_oid = f"VL.{ds.name}.{target}"
        out[target] = vl_oid
        refs = doc.value_lists.setdefault(vl_oid, [])
        numeric = pd.api.types.is_numeric_dtype(frame[target].dtype)
        if numeric:
            grouped = frame.groupby(keys, sort=True)[target]
        for code in codes:
            wc = f"WC.{ds.name}.{by}.{_oid(code)}"
            doc.where[wc] = [(f"IT.{ds.name}.{by}", code)]
            item_oid = f"IT.{ds.name}.{target}.{_oid(code)}"
            if numeric:
                length, digits = _number_facts(grouped.get_group(code))
                data_type = "float" if digits else "integer"
            else:
                texts = frame.loc[keys == code, target].dropna().astype(str)
                length = max(int(texts.str.len().max()) if len(texts) else 1, 1)
                digits, data_type = None, "text"
            method = methods.get(code)
            origin = ("Derived", None, "") if method else None
            doc.items.append(
                _Item(
                    item_oid,
                    target,
                    f"{target} where {by} = {code}",
                    data_type,
                    length,
                    digits if data_type == "float" else None,
                    None,
                    origin,
                    method=method,
                )
            )
            doc.items[-1].label = describe.get(code, doc.items[-1].label)
            refs.append((item_oid, wc, method))
            doc.items[-1].parent = f"IT.{ds.name}.{target}"  # gets its parent's origin
    return out


def _test_descriptions(frame: pd.DataFrame, domain: str, target: str) -> dict[str, str]:
    """'<target> of <test name> in <units>' per --TESTCD, from --TEST and the unit variable."""
    testcd, test, _ = _TESTCD[domain]
    unit = f"{domain}STRESU" if "STRES" in target else f"{domain}ORRESU"
    cols = [c for c in (testcd, test, unit) if c in frame.columns]
    pairs = frame[cols].drop_duplicates().astype(str)
    out: dict[str, str] = {}
    for code, group in pairs.groupby(testcd, sort=True):
        name = group[test].iloc[0] if test in group else code
        units = (
            sorted(
                u for u in group[unit].unique() if isinstance(u, str) and u.strip() and u != "nan"
            )
            if (unit in group)
            else []
        )
        out[str(code)] = f"{target} of {name}" + (f" in {', '.join(units)}" if units else "")
    return out


def _bds_value_level(doc: _Doc, ds: DefineDataset, spec: Any) -> dict[str, str]:
    frame = ds.frame
    describe: dict[str, str] = {}
    if {"PARAMCD", "PARAM"} <= set(frame.columns):
        pairs = frame[["PARAMCD", "PARAM"]].drop_duplicates("PARAMCD")
        describe = {
            str(c): f"AVAL of {p}" for c, p in zip(pairs["PARAMCD"], pairs["PARAM"], strict=True)
        }
    from trialflow.adam.bds import FORMULA_TEXT  # the writer only: checking a define needs none

    methods: dict[str, str] = {}
    bds = (getattr(getattr(spec, "adam", None), "datasets", None) or {}).get(ds.name)
    for comp in getattr(bds, "computed", []) or []:
        oid = f"MT.{ds.name}.AVAL.{_oid(comp.paramcd)}"
        formula = FORMULA_TEXT[comp.formula].format(**comp.inputs)
        extra = " Inputs are the same visit's values" + (
            f"; {', '.join(comp.constant)} is the subject's single value" if comp.constant else ""
        )
        if comp.censored_inputs == "imputed":
            extra += "; an input below its limit enters with its imputed value (IMPUTFL = 'Y')"
        digits = f"; rounded to {comp.digits} decimals" if comp.digits is not None else ""
        doc.methods[oid] = (
            f"Algorithm to derive AVAL for {comp.paramcd}",
            "Computation",
            f"{formula}.{extra}{digits}.",
        )
        methods[comp.paramcd] = oid
    for par in getattr(bds, "parameters", []) or []:
        parts = [f"AVAL from {', '.join(f'{k} = {v}' for k, v in par.where.items())}"]
        if par.convert:
            parts.append(
                "converted to "
                + str(par.unit)
                + " ("
                + "; ".join(
                    f"{unit}: {'x' if c.multiply else '/'} {c.multiply or c.divide}"
                    for unit, c in par.convert.items()
                )
                + ")"
            )
        if par.digits is not None:
            parts.append(f"rounded to {par.digits} decimals")
        if par.censored is not None and par.censored.below == "half_limit":
            parts.append(
                "a result below the limit of quantification is imputed as half the "
                "limit (DTYPE HALFLLOQ, IMPUTFL = 'Y')"
            )
        oid = f"MT.{ds.name}.AVAL.{_oid(par.paramcd)}"
        kind = "Imputation" if par.censored is not None else "Computation"
        doc.methods[oid] = (
            f"Algorithm to derive AVAL for {par.paramcd}",
            kind,
            "; ".join(parts) + ".",
        )
        methods[par.paramcd] = oid
    return _value_level(doc, ds, "PARAMCD", ["AVAL"], describe, methods)


# --- datasets ---------------------------------------------------------------------------------


def _sdtm_meta(name: str) -> pd.DataFrame | None:
    if name in sdtm_metadata.known_domains():
        return sdtm_metadata.domain_variables(name).set_index("name")
    return None


def _adam_meta(name: str) -> pd.DataFrame | None:
    try:
        return adam_metadata.adam_variables(name).set_index("name")
    except adam_metadata.UnknownAdamDataset:
        return None


def _group_attrs(kind: Kind, ds: DefineDataset) -> dict[str, str]:
    """Purpose, structure, class, standard of a dataset."""
    name = ds.name
    if kind == "sdtm":
        meta = _sdtm_meta(name)
        cls = (
            str(meta["class"].iloc[0])
            if meta is not None
            else ("Relationship" if name.startswith("SUPP") else "Findings")
        )
        structure = _STRUCTURE.get(name) or (
            "One record per IDVAR, IDVARVAL, and QNAM value per subject"
            if name.startswith("SUPP")
            else "One record per " + ", ".join(ds.keys[1:]) or name
        )
        return {
            "class": cls.upper().replace("-", " "),
            "structure": structure,
            "standard": "STD.SDTMIG",
            "subclass": "",
        }
    structure_key = adam_metadata.adam_class(name)
    row = {
        "ADSL": "SUBJECT LEVEL ANALYSIS DATASET",
        "BDS": "BASIC DATA STRUCTURE",
        "OCCDS": "OCCURRENCE DATA STRUCTURE",
    }[structure_key]
    structure, subclass = adam_metadata.adam_structure(name)
    return {
        "class": row,
        "structure": structure,
        "standard": "STD.ADaM-OCCDSIG" if structure_key == "OCCDS" else "STD.ADaMIG",
        "subclass": subclass,
    }


_CLASS_ORDER = [
    "TRIAL DESIGN",
    "SPECIAL PURPOSE",
    "INTERVENTIONS",
    "EVENTS",
    "FINDINGS",
    "FINDINGS ABOUT",
    "RELATIONSHIP",
]


def _dataset_rank(kind: Kind, name: str) -> tuple[int, str]:
    """Datasets in the order a reviewer expects: SDTM by class (trial design first), ADaM
    with ADSL first; by name within."""
    if kind == "adam":
        return (0 if name == "ADSL" else 1, name)
    cls = _group_attrs(kind, DefineDataset(name, pd.DataFrame()))["class"]
    return (_CLASS_ORDER.index(cls) if cls in _CLASS_ORDER else len(_CLASS_ORDER), name)


def _representative_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The few rows that decide each column's Dataset-JSON metadata: per text column its
    longest value (in UTF-8 bytes), per number column a value that is not whole (else the
    first present one). :func:`dataset_json_columns` gives the same dataType and length for
    them as for the whole frame, without encoding every value."""
    rows: set[int] = set()
    for index in range(frame.shape[1]):
        series = frame.iloc[:, index]
        if not len(series):
            continue
        if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
            x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            present = ~np.isnan(x)
            odd = present & ((np.floor(x) != x) | (np.abs(x) >= 2.0**53))
            pick = np.flatnonzero(odd if odd.any() else present)
            if len(pick):
                rows.add(int(pick[0]))
            continue
        text = pa.array(series.astype("str"), type=pa.large_string(), from_pandas=True)
        sizes = pc.fill_null(pc.binary_length(text), -1).to_numpy(zero_copy_only=False)
        if len(sizes) and sizes.max() >= 0:
            rows.add(int(np.argmax(sizes)))
    return frame.iloc[sorted(rows)]


def _describe_dataset(
    kind: Kind, ds: DefineDataset, doc: _Doc, spec: Any, dictionaries: Mapping[str, dict]
) -> list[dict[str, Any]]:
    """ItemRefs of one dataset (and its ItemDefs, methods, codelists in ``doc``)."""
    columns = dataset_json_columns(
        _representative_rows(ds.frame), dataset=ds.name, variables=ds.variables, keys=ds.keys
    )
    meta = _sdtm_meta(ds.name) if kind == "sdtm" else _adam_meta(ds.name)
    study_methods = _adam_methods_from_study(spec) if kind == "adam" else {}
    coded = set(dictionaries.get(ds.name, {}).get("variables", []) or [])
    value_lists: dict[str, str] = {}
    if kind == "sdtm" and ds.name in _TESTCD:
        by, _, targets = _TESTCD[ds.name]
        for target in targets:
            value_lists.update(
                _value_level(
                    doc, ds, by, [target], _test_descriptions(ds.frame, ds.name, target), {}
                )
            )
    elif kind == "adam" and adam_metadata.adam_class(ds.name) == "BDS":
        value_lists = _bds_value_level(doc, ds, spec)
    refs = []
    for order, column in enumerate(columns, 1):
        name = column["name"]
        row = meta.loc[name] if meta is not None and name in meta.index else None
        oid = column["itemOID"]
        if column["dataType"] == "string":
            length, digits = int(column["length"]), None
        else:
            length, digits = _number_facts(ds.frame[name])
        data_type = _data_type(column, name)
        if data_type == "float" and not digits:
            data_type = "integer"
        method = comment = None
        if kind == "sdtm":
            origin, method, comment = _sdtm_origin(ds, name, doc, dictionaries)
            if origin is None:
                origin = ("Assigned", "Sponsor", "Assigned by trialflow")
        else:
            origin, method = _adam_origin(ds.name, name, row, doc, study_methods)
        codelist = None
        if name in coded and ds.name in dictionaries and data_type == "text":
            entry = dictionaries[ds.name]
            codelist = _add_external(
                doc,
                f"CL.{_oid(entry.get('dictionary', 'DICT'))}",
                str(entry.get("dictionary", "")),
                str(entry.get("dictionary", "")),
                str(entry.get("version")),
            )
        elif row is not None and str(row.get("codelist", "")):
            codelist = _add_ct_codelist(doc, str(row["codelist"]), _used(ds.frame, name))
        elif data_type == "text" and (terms := _sponsor_terms(spec, name)):
            codelist = f"CL.{_oid(name)}"
            entry = doc.codelists.setdefault(
                codelist, {"name": f"{name} (sponsor codelist)", "values": set(), "decodes": {}}
            )
            entry["values"].update(terms)
        elif name == "PARAMCD" and "PARAM" in ds.frame.columns:
            codelist = f"CL.{ds.name}.PARAMCD"
            pairs = ds.frame[["PARAMCD", "PARAM"]].drop_duplicates("PARAMCD")
            entry = doc.codelists.setdefault(
                codelist, {"name": f"Parameter codes of {ds.name}", "values": set(), "decodes": {}}
            )
            entry["values"].update(pairs["PARAMCD"].astype(str))
            entry["decodes"].update(
                zip(pairs["PARAMCD"].astype(str), pairs["PARAM"].astype(str), strict=True)
            )
        elif name == "COUNTRY":
            codelist = _add_external(doc, "CL.ISO3166", "ISO 3166-1 alpha-3", "ISO 3166", "")
        elif name.endswith(("DTC", "DUR")) and data_type != "text":
            codelist = _add_external(doc, "CL.ISO8601", "ISO 8601", "ISO 8601", "")
        label = (column["label"] or (str(row["label"]) if row is not None else "")) or name
        doc.items.append(
            _Item(
                oid,
                name,
                label,
                data_type,
                length,
                digits if data_type == "float" else None,
                column.get("displayFormat"),
                origin,
                method=method,
                codelist=codelist,
                comment=comment,
                value_list=value_lists.get(name),
            )
        )
        for vl_item in doc.items:
            if vl_item.parent == oid and vl_item.origin is None:
                vl_item.origin = origin
        core = str(row["core"]) if row is not None and "core" in row.index else ""
        refs.append(
            {
                "ItemOID": oid,
                "OrderNumber": order,
                "Mandatory": "Yes" if core == "Req" else "No",
                "KeySequence": column.get("keySequence"),
                "MethodOID": method,
                "Role": (str(row["role"]) or None) if kind == "sdtm" and row is not None else None,
            }
        )
    return refs


def _adam_origin(
    dataset: str,
    name: str,
    row: pd.Series | None,
    doc: _Doc,
    study_methods: Mapping[str, tuple[str, str]],
) -> tuple[tuple[str, str | None, str], str | None]:
    """(origin, MethodOID) of an ADaM variable from the ADaM metadata and study.yaml."""
    origin = str(row["origin"]) if row is not None else ""
    if f"{dataset}.{name}" in study_methods:  # a dataset's own rule (ADDOSE) comes first
        study_methods = {name: study_methods[f"{dataset}.{name}"]}
    if origin == "Predecessor" and name not in study_methods:
        return ("Predecessor", None, str(row["source"])), None
    if origin == "Assigned" and name not in study_methods:
        return ("Assigned", "Sponsor", str(row["method"]) or "Assigned by trialflow"), None
    oid = f"MT.{dataset}.{name}"
    if name in study_methods:
        kind, text = study_methods[name]
    else:
        kind = "Computation"
        text = (str(row["method"]) if row is not None else "") or (
            f"Derived by trialflow; see lineage/{dataset.lower()}.csv for each record's source"
        )
    doc.methods[oid] = (f"Algorithm to derive {dataset}.{name}", kind, text)
    return ("Derived", None, ""), oid


# --- writing ----------------------------------------------------------------------------------


def _standards(mdv: etree._Element, kind: Kind, ct: str) -> None:
    standards = _el(mdv, "def:Standards")
    if kind == "sdtm":
        rows = [
            ("STD.SDTMIG", "SDTMIG", "IG", None, sdtm_metadata.SDTMIG_VERSION),
            ("STD.CT.SDTM", "CDISC/NCI", "CT", "SDTM", ct),
        ]
    else:
        rows = [
            ("STD.ADaMIG", "ADaMIG", "IG", None, adam_metadata.ADAMIG_VERSION),
            ("STD.ADaM-OCCDSIG", "ADaM-OCCDSIG", "IG", None, adam_metadata.OCCDS_VERSION),
            ("STD.CT.SDTM", "CDISC/NCI", "CT", "SDTM", ct),
        ]
    for oid, name, type_, publishing, version in rows:
        _el(
            standards,
            "def:Standard",
            {
                "OID": oid,
                "Name": name,
                "Type": type_,
                "PublishingSet": publishing,
                "Version": version,
                "Status": "Final",
            },
        )


def _write_value_lists(mdv: etree._Element, doc: _Doc) -> None:
    for vl_oid, refs in doc.value_lists.items():
        vl = _el(mdv, "def:ValueListDef", {"OID": vl_oid})
        for order, (item_oid, wc, method) in enumerate(refs, 1):
            ref = _el(
                vl,
                "ItemRef",
                {"ItemOID": item_oid, "OrderNumber": order, "Mandatory": "No", "MethodOID": method},
            )
            _el(ref, "def:WhereClauseRef", {"WhereClauseOID": wc})
    for wc_oid, checks in doc.where.items():
        wc = _el(mdv, "def:WhereClauseDef", {"OID": wc_oid})
        for item_oid, value in checks:
            check = _el(
                wc, "RangeCheck", {"Comparator": "EQ", "SoftHard": "Soft", "def:ItemOID": item_oid}
            )
            _el(check, "CheckValue").text = value


def _write_item(mdv: etree._Element, item: _Item) -> None:
    attrs = {
        "OID": item.oid,
        "Name": item.name,
        "DataType": item.data_type,
        "Length": item.length if item.data_type in ("text", "integer", "float") else None,
        "SignificantDigits": item.digits,
        "SASFieldName": item.name,
        "def:DisplayFormat": item.display_format,
        "def:CommentOID": item.comment,
    }
    element = _el(mdv, "ItemDef", attrs)
    _text(element, "Description", item.label)
    if item.codelist:
        _el(element, "CodeListRef", {"CodeListOID": item.codelist})
    if item.origin is not None:
        type_, source, text = item.origin
        origin = _el(element, "def:Origin", {"Type": type_, "Source": source})
        if text:
            _text(origin, "Description", text)
    if item.value_list:
        _el(element, "def:ValueListRef", {"ValueListOID": item.value_list})


def _write_codelist(mdv: etree._Element, oid: str, entry: dict[str, Any]) -> None:
    element = _el(
        mdv,
        "CodeList",
        {
            "OID": oid,
            "Name": entry["name"],
            "DataType": "text",
            "def:StandardOID": "STD.CT.SDTM" if "ct" in entry else None,
        },
    )
    if "external" in entry:
        dictionary, version = entry["external"]
        _el(element, "ExternalCodeList", {"Dictionary": dictionary, "Version": version or None})
        return
    cl = entry.get("ct")
    terms = cl.terms.set_index("term") if cl is not None else pd.DataFrame()
    decodes = entry["decodes"]
    tag = "CodeListItem" if decodes else "EnumeratedItem"
    for order, value in enumerate(sorted(entry["values"]), 1):
        known = value in terms.index
        extended = "Yes" if cl is not None and not known and cl.extensible else None
        item = _el(
            element, tag, {"CodedValue": value, "OrderNumber": order, "def:ExtendedValue": extended}
        )
        if decodes:
            _text(item, "Decode", decodes.get(value, value))
        code = str(terms.at[value, "term_code"]) if known else ""
        if code:
            _el(item, "Alias", {"Context": "nci:ExtCodeID", "Name": code})
    if cl is not None and cl.code:
        _el(element, "Alias", {"Context": "nci:ExtCodeID", "Name": cl.code})


def _write_arm(mdv: etree._Element, spec: Any, doc: _Doc, datasets: Sequence[str]) -> None:
    analysis = getattr(spec, "analysis", None)
    if analysis is None:
        return
    # analyses whose role the SAP (study.yaml) declares; the reason follows from where they
    # are declared: the analysis section is the study's statistical analysis plan
    endpoints = [
        e for e in analysis.endpoints
        if e.dataset in datasets and any(e.purpose_of(p) for p in e.paramcd)
    ]  # fmt: skip
    dose = getattr(analysis, "dose", None)
    if dose is not None and (dose.purpose is None or "ADDOSE" not in datasets):
        dose = None
    if not endpoints and dose is None:
        return
    displays = _el(mdv, "arm:AnalysisResultDisplays")
    for e in endpoints:
        display = _el(
            displays,
            "arm:ResultDisplay",
            {"OID": f"RD.{e.dataset}.CFB", "Name": f"Change from baseline: {e.dataset}"},
        )
        _text(
            display,
            "Description",
            f"{', '.join(e.paramcd)}: value and change from baseline by analysis visit, "
            f"population {analysis.population}",
        )
        for paramcd in (p for p in e.paramcd if e.purpose_of(p)):
            result = _el(
                display,
                "arm:AnalysisResult",
                {
                    "OID": f"AR.{e.dataset}.{_oid(paramcd)}.CFB",
                    "ParameterOID": f"IT.{e.dataset}.PARAMCD",
                    "AnalysisReason": "SPECIFIED IN SAP",
                    "AnalysisPurpose": f"{e.purpose_of(paramcd).upper()} OUTCOME MEASURE",
                },
            )
            _text(
                result,
                "Description",
                f"{paramcd}: change from baseline (CHG) at each post-baseline analysis visit",
            )
            sets = _el(result, "arm:AnalysisDatasets")
            one = _el(sets, "arm:AnalysisDataset", {"ItemGroupOID": f"IG.{e.dataset}"})
            wc = f"WC.{e.dataset}.PARAMCD.{_oid(paramcd)}"
            if wc in doc.where:
                _el(one, "def:WhereClauseRef", {"WhereClauseOID": wc})
            for var in ("AVAL", "CHG"):
                _el(one, "arm:AnalysisVariable", {"ItemOID": f"IT.{e.dataset}.{var}"})
            documentation = _el(result, "arm:Documentation")
            _text(
                documentation,
                "Description",
                f"Records with {analysis.population} = 'Y' and ANL01FL = 'Y'. Each "
                f"post-baseline visit is compared with baseline by the Wilcoxon signed-rank "
                f"test (method '{analysis.test}') on the subjects with both values, with the "
                f"Hodges-Lehmann estimate of the median change and its "
                f"{analysis.conf_level:.0%} confidence interval; alpha {analysis.alpha:g}; "
                f"quartiles by the '{analysis.quantile_method}' method.",
            )
    if dose is not None:
        _write_dose_arm(displays, dose, analysis.population, doc)


def _write_dose_arm(displays: etree._Element, dose: Any, population: str, doc: _Doc) -> None:
    """The ARM display of the dose categories (analysis.dose with a purpose)."""
    flag = dose.population or population
    display = _el(
        displays,
        "arm:ResultDisplay",
        {"OID": "RD.ADDOSE.CAT", "Name": "Dose change categories: ADDOSE"},
    )
    _text(display, "Description", f"{dose.paramcd}: subjects per category of the change from "
          "baseline (AVALCAT1) at each post-baseline analysis visit, and the medication "
          f"changes by class ({', '.join(dose.classes.values()) or 'none'})")  # fmt: skip
    result = _el(
        display,
        "arm:AnalysisResult",
        {
            "OID": f"AR.ADDOSE.{_oid(dose.paramcd)}.CAT",
            "ParameterOID": "IT.ADDOSE.PARAMCD",
            "AnalysisReason": "SPECIFIED IN SAP",
            "AnalysisPurpose": f"{dose.purpose.upper()} OUTCOME MEASURE",
        },
    )
    _text(result, "Description", f"{dose.paramcd}: n (%) of subjects per AVALCAT1 by visit")
    sets = _el(result, "arm:AnalysisDatasets")
    one = _el(sets, "arm:AnalysisDataset", {"ItemGroupOID": "IG.ADDOSE"})
    wc = f"WC.ADDOSE.PARAMCD.{_oid(dose.paramcd)}"
    if wc in doc.where:
        _el(one, "def:WhereClauseRef", {"WhereClauseOID": wc})
    _el(one, "arm:AnalysisVariable", {"ItemOID": "IT.ADDOSE.AVALCAT1"})
    documentation = _el(result, "arm:Documentation")
    _text(
        documentation,
        "Description",
        f"Records with {flag} = 'Y' and ANL01FL = 'Y'. At each post-baseline visit, the "
        "subjects in each AVALCAT1 category (n), the subjects with a category (N) and 100 x "
        "n / N (dose_categories.csv); descriptive, no test.",
    )


def write_define(
    datasets: Sequence[DefineDataset],
    folder: str | Path,
    *,
    kind: Kind,
    studyid: str,
    title: str = "",
    spec: Any = None,
    created: datetime | None = None,
    dictionaries: Sequence[Mapping[str, Any]] = (),
    ct_version: str | None = None,
    source_system: tuple[str, str] = ("trialflow", ""),
) -> Path:
    """Write ``folder/define.xml`` (Define-XML 2.1) for ``datasets`` and copy the CDISC
    stylesheet ``define2-1.xsl`` beside it; return the define.xml path.

    ``kind`` is ``"sdtm"`` or ``"adam"``; ``spec`` (the study.yaml model) gives ADaM methods
    (baseline, windows, formulas) and the ARM section; ``dictionaries`` are
    :func:`trialflow.pipeline.dictionaries` entries (dictionary, version, variables per
    domain); ``created`` is the CreationDateTime (the run's, never the clock).

    Example:
        >>> import tempfile, pathlib
        >>> vs = pd.DataFrame({"STUDYID": ["S1"] * 2, "DOMAIN": ["VS"] * 2,
        ...     "USUBJID": ["S1-01"] * 2, "VSTESTCD": ["SYSBP", "TEMP"],
        ...     "VSSTRESN": [120.0, 36.6]})
        >>> out = write_define([DefineDataset("VS", vs, keys=["STUDYID", "USUBJID"])],
        ...     pathlib.Path(tempfile.mkdtemp()), kind="sdtm", studyid="S1")
        >>> root = etree.parse(str(out)).getroot()
        >>> [w.get("OID") for w in root.iter(f"{{{DEF}}}WhereClauseDef")]
        ['WC.VS.VSTESTCD.SYSBP', 'WC.VS.VSTESTCD.TEMP']
        >>> sorted(p.name for p in out.parent.iterdir())
        ['define.xml', 'define2-1.xsl']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    when = (created or DEFAULT_CREATED).strftime("%Y-%m-%dT%H:%M:%S")
    ct = ct_version or sdtm_metadata.ct_version()
    by_domain = {str(d.get("domain")): dict(d) for d in dictionaries}
    doc = _Doc(kind)
    groups = []
    for ds in sorted(datasets, key=lambda d: _dataset_rank(kind, d.name)):
        refs = _describe_dataset(kind, ds, doc, spec, by_domain)
        groups.append((ds, refs, _group_attrs(kind, ds)))

    upper = "SDTM" if kind == "sdtm" else "ADaM"
    root = etree.Element(f"{{{ODM}}}ODM", nsmap=NSMAP)
    for key, value in {
        "FileType": "Snapshot",
        "FileOID": f"DEFINE.{_oid(studyid)}.{upper}",
        "ODMVersion": "1.3.2",
        "CreationDateTime": when,
        "Originator": source_system[0],
        "SourceSystem": source_system[0],
        "SourceSystemVersion": source_system[1] or None,
    }.items():
        if value is not None:
            root.set(key, value)
    root.set(f"{{{DEF}}}Context", "Submission")
    study = _el(root, "Study", {"OID": f"STDY.{_oid(studyid)}"})
    globals_ = _el(study, "GlobalVariables")
    _el(globals_, "StudyName").text = studyid
    _el(globals_, "StudyDescription").text = title or studyid
    _el(globals_, "ProtocolName").text = studyid
    version = sdtm_metadata.SDTMIG_VERSION if kind == "sdtm" else adam_metadata.ADAMIG_VERSION
    mdv = _el(
        study,
        "MetaDataVersion",
        {
            "OID": f"MDV.{_oid(studyid)}.{upper}IG.{version}",
            "Name": f"{studyid} {upper} data definitions",
            "Description": f"{upper}IG {version} datasets of {studyid}",
            "def:DefineVersion": DEFINE_VERSION,
        },
    )
    _standards(mdv, kind, ct)
    _write_value_lists(mdv, doc)
    for ds, refs, attrs in groups:
        _write_group(mdv, kind, ds, refs, attrs)
    for item in doc.items:
        _write_item(mdv, item)
    for oid in sorted(doc.codelists):
        _write_codelist(mdv, oid, doc.codelists[oid])
    for oid, (name, type_, text) in doc.methods.items():
        method = _el(mdv, "MethodDef", {"OID": oid, "Name": name, "Type": type_})
        _text(method, "Description", text)
    for oid, text in doc.comments.items():
        _text(_el(mdv, "def:CommentDef", {"OID": oid}), "Description", text)
    if kind == "adam":
        _write_arm(mdv, spec, doc, [ds.name for ds in datasets])

    tree = etree.ElementTree(root)
    root.addprevious(
        etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{STYLESHEET}"')
    )
    path = folder / "define.xml"
    data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    path.write_bytes(data)
    shutil.copyfile(stylesheet_path(), folder / STYLESHEET)
    return path


def _write_group(
    mdv: etree._Element,
    kind: Kind,
    ds: DefineDataset,
    refs: list[dict[str, Any]],
    attrs: dict[str, str],
) -> None:
    name = ds.name
    label = ds.label or (
        (sdtm_metadata.domain_label(name) if name in sdtm_metadata.known_domains() else name)
        if kind == "sdtm"
        else name
    )
    group = _el(
        mdv,
        "ItemGroupDef",
        {
            "OID": f"IG.{name}",
            "Domain": name
            if kind == "sdtm" and not name.startswith("SUPP")
            else (name[4:] if kind == "sdtm" else None),
            "Name": name,
            "SASDatasetName": name,
            "Repeating": "No" if name in _ONE_PER_SUBJECT else "Yes",
            "IsReferenceData": "Yes" if name in _REFERENCE else "No",
            "Purpose": "Tabulation" if kind == "sdtm" else "Analysis",
            "def:Structure": attrs["structure"],
            "def:StandardOID": attrs["standard"],
            "def:ArchiveLocationID": f"LF.{name}",
        },
    )
    _text(group, "Description", label)
    for ref in refs:
        _el(group, "ItemRef", ref)
    cls = _el(group, "def:Class", {"Name": attrs["class"]})
    if attrs["subclass"]:
        _el(cls, "def:SubClass", {"Name": attrs["subclass"]})
    leaf = _el(group, "def:leaf", {"ID": f"LF.{name}", "xlink:href": f"{name.lower()}.xpt"})
    _el(leaf, "def:title").text = f"{name.lower()}.xpt"


# --- checks of a run folder -------------------------------------------------------------------


def check_define(folder: str | Path, kind: Kind) -> list[Finding]:
    """Submission checks of DIR/sdtm or DIR/adam: define.xml is there (FDA technical rejection
    criterion 1736) and valid against its XSD (one error per XSD error, with its line). A
    missing TS (criterion 1734) is the catalogue rule ts-missing; what define.xml says is
    compared with the data by the rules of :mod:`trialflow.validation.rules.define`
    (``validate`` reads it into the package with
    :func:`trialflow.io.define_read.read_define`).

    Example:
        >>> import tempfile
        >>> [f.code for f in check_define(tempfile.mkdtemp(), "sdtm")]
        ['define-missing']
    """
    folder = Path(folder)
    out: list[Finding] = []
    path = folder / "define.xml"
    rel = f"{folder.name}/define.xml"
    if not path.is_file():
        out.append(
            Finding(
                "define-missing",
                "error",
                f"no define.xml in {folder}: a submission without it is rejected (FDA technical "
                "rejection criterion 1736); `trialflow export RUN_DIR --format define` writes it",
                refs=("FDA-TRC-1736",),
                source=Source(rel),
            )
        )
    else:
        for line, message in define_errors(path):
            out.append(
                Finding(
                    "define-xsd-invalid",
                    "error",
                    f"line {line}: {message}",
                    refs=("FDA-TRC-1736",),
                    source=Source(rel, row=line),
                )
            )
    return out
