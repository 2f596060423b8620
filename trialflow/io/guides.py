"""Drafts of the reviewer's guides of a run folder: the cSDRG and the ADRG, in Markdown.

FDA reviewers get the Clinical Study Data Reviewer's Guide (cSDRG, beside the SDTM datasets)
and the Analysis Data Reviewer's Guide (ADRG, beside the ADaM datasets) as PDF files. What a
sponsor needs from a tool is a draft to complete, and the drafts here follow the section
structure of the PHUSE templates. They are Markdown: plain text the sponsor edits in any
editor, reviews as a diff, and turns into the PDF (or the PHUSE Word template) with pandoc;
HTML would render without tools but is awkward to edit by hand. Everything the run knows is
filled in from the run folder; what only the sponsor knows is left as ``[sponsor to
complete]``.

Everything is read from the run folder (``validation/report.json``, ``sdtm/*.xpt``,
``adam/*.xpt``, ``lineage/*.csv``) and, when given, the study's spec folder (the ADaM
derivations declared in study.yaml). The output is a function of those files only, so a
rerun gives the same bytes.

Example:
    >>> table(["a", "b"], [["1", "x|y"]])
    '| a | b |\\n|---|---|\\n| 1 | x\\\\|y |\\n'
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trialflow.adam import metadata as adam_metadata
from trialflow.adam.bds import FORMULA_TEXT
from trialflow.errors import RawInputError
from trialflow.io.xpt import read_xpt
from trialflow.mapping.load import Study
from trialflow.sdtm import metadata

__all__ = [
    "PLACEHOLDER",
    "POPULATION_FLAGS",
    "DatasetSummary",
    "RunFacts",
    "adrg_markdown",
    "csdrg_markdown",
    "read_run_facts",
    "table",
]

PLACEHOLDER = "[sponsor to complete]"
"""The text left where only the sponsor can write the guide."""

DEFINE_XML_VERSION = "2.1"


POPULATION_FLAGS = ("ITTFL", "SAFFL", "EFFFL", "FASFL", "PPROTFL", "COMPLFL", "RANDFL", "ENRLFL")
"""The ADaMIG's population flags of ADSL, in the order the ADRG lists them."""

_ACRONYMS = (
    ("ADaM", "Analysis Data Model"),
    ("ADaMIG", "ADaM Implementation Guide"),
    ("ADRG", "Analysis Data Reviewer's Guide"),
    ("CDISC", "Clinical Data Interchange Standards Consortium"),
    ("CRF", "Case Report Form"),
    ("cSDRG", "Clinical Study Data Reviewer's Guide"),
    ("CT", "Controlled Terminology"),
    ("eCTD", "Electronic Common Technical Document"),
    ("MedDRA", "Medical Dictionary for Regulatory Activities"),
    ("SDTM", "Study Data Tabulation Model"),
    ("SDTMIG", "SDTM Implementation Guide"),
)

_SUPPQUAL_KEYS = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"]
"""The natural keys of a SUPP-- dataset (SDTMIG 3.4, section 8.4)."""

_INPUT_RULE = {"imputed": "with its imputed value (IMPUTFL = Y)", "missing": "as missing"}
_IMPUTED = {"first": "first day", "mid": "middle", "last": "last day"}


@dataclass
class DatasetSummary:
    """One dataset of the run as the guides' tables show it.

    Example:
        >>> dm = DatasetSummary("DM", "Demographics", "SPECIAL PURPOSE", 16, 16,
        ...                     ["STUDYID", "USUBJID"], "dm.xpt")
        >>> dm.name, dm.records, dm.keys
        ('DM', 16, ['STUDYID', 'USUBJID'])
    """

    name: str
    label: str
    klass: str
    records: int
    subjects: int | None
    keys: list[str]
    file: str


@dataclass
class RunFacts:
    """What the guides say about a run, read from its folder (see :func:`read_run_facts`).

    Example:
        >>> facts = RunFacts("HUCMSC-T2DM", {"findings": []})
        >>> facts.studyid, facts.sdtm, facts.excluded
        ('HUCMSC-T2DM', [], 0)
    """

    studyid: str
    report: dict
    sdtm: list[DatasetSummary] = field(default_factory=list)
    adam: list[DatasetSummary] = field(default_factory=list)
    ts: dict[str, list[str]] = field(default_factory=dict)
    sdtm_flow: list[tuple[str, str, int]] = field(default_factory=list)
    adam_flow: list[tuple[str, str, int]] = field(default_factory=list)
    excluded: int = 0
    populations: list[tuple[str, int]] = field(default_factory=list)
    arms: list[tuple[str, str, str]] = field(default_factory=list)
    study: Study | None = None


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown (GitHub/pandoc pipe) table; ``|`` in a cell is escaped.

    Example:
        >>> print(table(["Dataset", "Records"], [["DM", 16]]), end="")
        | Dataset | Records |
        |---|---|
        | DM | 16 |
    """
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _summary(path: Path, kind: str) -> tuple[DatasetSummary, pd.DataFrame]:
    frame, meta = read_xpt(path)
    name = str(meta["dataset"] or path.stem).upper()
    subjects = int(frame["USUBJID"].replace("", pd.NA).nunique()) if "USUBJID" in frame else None
    if kind == "sdtm":
        if name in metadata.known_domains():
            klass = str(metadata.domain_variables(name)["class"].iloc[0])
            keys = metadata.domain_keys(name)
        elif name.startswith("SUPP"):
            klass, keys = "Relationship", list(_SUPPQUAL_KEYS)
        else:
            klass, keys = "", []
    else:
        try:
            klass, keys = adam_metadata.adam_class(name), adam_metadata.adam_keys(name)
        except adam_metadata.UnknownAdamDataset:
            klass, keys = "", []
    row = DatasetSummary(
        name, str(meta["label"]), klass, len(frame), subjects, keys, path.name.lower()
    )
    return row, frame


def _source(file: str, sheet: str) -> str:
    """The raw form a lineage row names: file and sheet, or the spec file for design data."""
    if file.endswith((".yaml", ".yml")):
        return file
    return f"{file}, {sheet}" if sheet and sheet != file else file


def _flow(lineage: Path, kind: str) -> list[tuple[str, str, int]]:
    """(source, dataset, records) counted from the lineage CSV files of one kind, sorted."""
    counts: Counter[tuple[str, str]] = Counter()
    for path in sorted(lineage.glob("*.csv")):
        is_adam = path.stem.lower().startswith("ad")
        if path.stem == "excluded" or is_adam != (kind == "adam"):
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if frame.empty:
            continue
        if kind == "adam":
            computed = frame.get("computed_from", pd.Series("", index=frame.index)).ne("")
            source = frame["sdtm_dataset"].where(~computed, "computed from other parameters")
            source = source.replace("", "derived (no SDTM record)")
        elif {"source_file", "source_sheet"} <= set(frame.columns):
            source = pd.Series(
                [
                    _source(f, s)
                    for f, s in zip(frame["source_file"], frame["source_sheet"], strict=True)
                ],
                index=frame.index,
            )
        else:
            source = pd.Series("(lineage names no source)", index=frame.index)
        for (src, dataset), n in (
            pd.DataFrame({"s": source, "d": frame["dataset"]}).value_counts(sort=False).items()
        ):
            counts[(str(src), str(dataset))] += int(n)
    return sorted((s, d, n) for (s, d), n in counts.items())


def read_run_facts(run_dir: str | Path, study: Study | None = None) -> RunFacts:
    """Read what the guides need from a run folder (and the study, when given).

    Raises :class:`~trialflow.errors.RawInputError` when the folder has no
    validation/report.json or no sdtm/*.xpt.

    Example:
        >>> from trialflow.pipeline import example_run
        >>> facts = read_run_facts(example_run().out)
        >>> facts.studyid, [d.name for d in facts.sdtm][:2]
        ('HUCMSC-T2DM', ['AE', 'CM'])
    """
    run_dir = Path(run_dir)
    report_path = run_dir / "validation" / "report.json"
    if not report_path.is_file():
        raise RawInputError(
            f"{report_path} is missing: the reviewer's guides list the run's validation "
            "findings; use a folder written by trialflow run"
        )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    facts = RunFacts(studyid="", report=report, study=study)
    frames: dict[str, pd.DataFrame] = {}
    for kind in ("sdtm", "adam"):
        for path in sorted((run_dir / kind).glob("*.xpt")):
            row, frame = _summary(path, kind)
            getattr(facts, kind).append(row)
            frames[row.name] = frame
    if not facts.sdtm:
        raise RawInputError(f"{run_dir / 'sdtm'}: no .xpt datasets to describe")
    ts = frames.get("TS")
    if ts is not None and {"TSPARMCD", "TSVAL"} <= set(ts.columns):
        nf = ts["TSVALNF"] if "TSVALNF" in ts else pd.Series("", index=ts.index)
        for code, val, flavour in zip(ts["TSPARMCD"], ts["TSVAL"], nf, strict=True):
            facts.ts.setdefault(str(code), []).append(str(val) or f"(null flavour {flavour})")
    ta = frames.get("TA")
    if ta is not None and {"ARMCD", "ARM", "ELEMENT"} <= set(ta.columns):
        order = ta.sort_values(["ARMCD", "TAETORD"]) if "TAETORD" in ta else ta
        for (armcd, arm), rows in order.groupby(["ARMCD", "ARM"], sort=True):
            facts.arms.append((str(armcd), str(arm), " -> ".join(rows["ELEMENT"].astype(str))))
    studyid = report.get("study")
    if not studyid:
        dm = frames.get("DM")
        studyid = str(dm["STUDYID"].iloc[0]) if dm is not None and len(dm) else ""
    if not studyid:
        raise RawInputError(
            f"{report_path}: no study identifier (key 'study'), and sdtm/dm.xpt has no STUDYID"
        )
    facts.studyid = str(studyid)
    lineage = run_dir / "lineage"
    facts.sdtm_flow = _flow(lineage, "sdtm")
    facts.adam_flow = _flow(lineage, "adam")
    excluded = lineage / "excluded.csv"
    if excluded.is_file():
        facts.excluded = len(pd.read_csv(excluded, dtype=str, keep_default_na=False))
    adsl = frames.get("ADSL")
    if adsl is not None:
        facts.populations = [
            (flag, int(adsl[flag].eq("Y").sum())) for flag in POPULATION_FLAGS if flag in adsl
        ]
    return facts


# --- shared pieces --------------------------------------------------------------------------


def _ts(facts: RunFacts, code: str) -> str:
    values = facts.ts.get(code)
    return "; ".join(values) if values else PLACEHOLDER


def _title(facts: RunFacts) -> str:
    if "TITLE" in facts.ts:
        return _ts(facts, "TITLE")
    return facts.study.spec.study.title if facts.study is not None else PLACEHOLDER


def _dictionaries(facts: RunFacts) -> list[list[str]]:
    return [
        [f"{d.get('dictionary', '')} ({d.get('domain', '')})", str(d.get("version", "")),
         f"coding file {d.get('file', '')}"]
        for d in facts.report.get("dictionaries", [])
    ]  # fmt: skip


def _acronyms() -> str:
    return table(["Acronym", "Meaning"], [list(a) for a in _ACRONYMS])


def _findings(facts: RunFacts, adam: bool) -> str:
    """The findings of report.json grouped by code, each with an explanation to complete."""
    groups: dict[tuple[str, str], dict] = {}
    for f in facts.report.get("findings", []):
        dataset = f.get("dataset") or ""
        if dataset.upper().startswith("AD") != adam:
            continue
        key = (str(f.get("code", "")), str(f.get("severity", "")))
        group = groups.setdefault(
            key, {"count": 0, "datasets": set(), "refs": set(), "message": f.get("message", "")}
        )
        group["count"] += 1
        if dataset:
            group["datasets"].add(dataset)
        group["refs"].update(f.get("refs") or [])
    if not groups:
        return "The validation of this run reported no finding here.\n"
    rank = {"error": 0, "warning": 1, "notice": 2}
    ordered = sorted(groups.items(), key=lambda kv: (rank.get(kv[0][1], 3), kv[0][0]))
    rows = [
        [code, severity, ", ".join(sorted(g["datasets"])) or "-", g["count"],
         ", ".join(sorted(g["refs"])) or "-", g["message"]]
        for (code, severity), g in ordered
    ]  # fmt: skip
    notes = [
        f"- **{code}** ({severity}). Explanation: {PLACEHOLDER}" for (code, severity), _ in ordered
    ]
    header = ["Code", "Severity", "Datasets", "Count", "Rule ids", "First message"]
    return table(header, rows) + "\n" + "\n".join(notes) + "\n"


def _datasets_table(rows: list[DatasetSummary]) -> str:
    return table(
        ["Dataset", "Label", "Class", "Records", "Subjects", "Key variables", "File"],
        [[d.name, d.label, d.klass, d.records, "-" if d.subjects is None else d.subjects,
          ", ".join(d.keys), d.file]
         for d in rows],
    )  # fmt: skip


def _header(title: str, facts: RunFacts) -> list[str]:
    synthetic = facts.report.get("synthetic")
    lines = [
        f"# {title}",
        "",
        f"**Study {facts.studyid}**: {_title(facts)}",
        "",
        f"Draft written by trialflow {facts.report.get('trialflow', '')} from the run's "
        f"datasets, lineage and validation report. Complete every {PLACEHOLDER} and convert "
        "to PDF for the submission.",
        "",
    ]
    if synthetic:
        lines += ["> Note: the raw data of this study are synthetic.", ""]
    return lines


# --- cSDRG ----------------------------------------------------------------------------------


def csdrg_markdown(facts: RunFacts) -> str:
    """The Clinical Study Data Reviewer's Guide draft of a run (PHUSE cSDRG sections 1 to 5).

    Example:
        >>> from trialflow.pipeline import example_run
        >>> print(csdrg_markdown(read_run_facts(example_run().out)).splitlines()[0])
        # Clinical Study Data Reviewer's Guide
    """
    r = facts.report
    standards = [
        ["SDTM", _ts_or(facts, "SDTMVER", metadata.SDTM_VERSION), ""],
        ["SDTMIG", _ts_or(facts, "SDTIGVER", r.get("sdtmig") or metadata.SDTMIG_VERSION), ""],
        ["CDISC SDTM Controlled Terminology", str(r.get("ct") or metadata.ct_version()), ""],
        *_dictionaries(facts),
        ["Define-XML", DEFINE_XML_VERSION, "define.xml, with the stylesheet define2-1.xsl"],
    ]
    design = [
        [label, _ts(facts, code)]
        for code, label in (
            ("TPHASE", "Trial phase"),
            ("STYPE", "Study type"),
            ("INTMODEL", "Intervention model"),
            ("TBLIND", "Blinding"),
            ("RANDOM", "Randomised"),
            ("TCNTRL", "Control"),
            ("INDIC", "Indication"),
            ("TRT", "Investigational therapy"),
            ("NARMS", "Planned number of arms"),
            ("PLANSUB", "Planned number of subjects"),
            ("ACTSUB", "Actual number of subjects"),
            ("SSTDTC", "Study start date"),
            ("SENDTC", "Study end date"),
            ("SPONSOR", "Sponsor"),
        )
    ]
    design_sets = [d for d in facts.sdtm if d.klass == "Trial Design"]
    subject_sets = [d for d in facts.sdtm if d.klass != "Trial Design"]
    lines = _header("Clinical Study Data Reviewer's Guide", facts)
    lines += [
        "## 1. Introduction",
        "",
        "### 1.1 Purpose",
        "",
        f"This guide describes the SDTM datasets of study {facts.studyid} submitted in "
        "m5/datasets/" + facts_folder(facts.studyid) + "/tabulations/sdtm. " + PLACEHOLDER,
        "",
        "### 1.2 Acronyms",
        "",
        _acronyms(),
        "### 1.3 Study Data Standards and Dictionary Inventory",
        "",
        table(["Standard or dictionary", "Version", "Note"], standards),
        "### 1.4 Source Data Used for Data Set Creation",
        "",
        f"The SDTM datasets were mapped from the raw export {r.get('raw_export') or PLACEHOLDER}"
        " by the declarative mapping specifications of the study. " + PLACEHOLDER,
        "",
        "## 2. Protocol Description",
        "",
        "### 2.1 Protocol Number and Title",
        "",
        f"Protocol number: {facts.studyid}",
        "",
        f"Title: {_title(facts)}",
        "",
        "### 2.2 Protocol Design in Relation to Trial Design Datasets",
        "",
        table(["Design (TS)", "Value"], design),
    ]
    if facts.arms:
        lines += ["Arms and their elements (TA):", ""]
        lines.append(table(["ARMCD", "Arm", "Elements in order"], facts.arms))
    lines += [
        "### 2.3 Trial Design Datasets",
        "",
        _datasets_table(design_sets) if design_sets else "No trial design dataset.\n",
        "## 3. Subject Data Description",
        "",
        "### 3.1 Overview",
        "",
        PLACEHOLDER,
        "",
        "### 3.2 Annotated CRFs",
        "",
        f"The annotated CRF (acrf.pdf) is submitted beside this guide. {PLACEHOLDER}",
        "",
        "### 3.3 SDTM Subject Domains",
        "",
        _datasets_table(subject_sets),
        "### 3.4 Data Flow",
        "",
        "Records of each SDTM dataset by the raw form (file, sheet) or the specification they "
        "came from, counted from the run's lineage:",
        "",
        table(["Source", "SDTM dataset", "Records"], facts.sdtm_flow),
        f"Raw rows that made no SDTM record (each reported with its reason): {facts.excluded}.",
        "",
        "## 4. Data Conformance Summary",
        "",
        "### 4.1 Conformance Inputs",
        "",
        f"The datasets were checked with the conformance rules of trialflow "
        f"{r.get('trialflow', '')} (findings cross-referenced to CDISC and FDA rule ids where "
        f"they exist). {PLACEHOLDER}",
        "",
        "### 4.2 Issues Summary",
        "",
        _findings(facts, adam=False),
        "## 5. Appendices",
        "",
        f"### 5.1 Appendix I: Inclusion/Exclusion Criteria\n\nSee TI. {PLACEHOLDER}",
        "",
        f"### 5.2 Appendix II: Sponsor Defined Terms\n\n{PLACEHOLDER}",
        "",
        f"### 5.3 Appendix III: Legacy Data Conversion\n\n{PLACEHOLDER}",
        "",
    ]
    return "\n".join(lines)


def _ts_or(facts: RunFacts, code: str, default: str) -> str:
    values = facts.ts.get(code)
    return "; ".join(values) if values else str(default)


def facts_folder(studyid: str) -> str:
    """The eCTD folder name of a study: its identifier lowercased, other characters than
    letters, digits, ``-`` and ``_`` replaced by ``-`` (eCTD folder names allow no more).

    Example:
        >>> facts_folder("HUCMSC-T2DM"), facts_folder("ABC 123/X")
        ('hucmsc-t2dm', 'abc-123-x')
    """
    return re.sub(r"[^a-z0-9_-]+", "-", studyid.lower()).strip("-")


# --- ADRG -----------------------------------------------------------------------------------


def _derivations(facts: RunFacts) -> list[str]:
    """The derivations worth a reviewer's note, as study.yaml declares them."""
    if facts.study is None or facts.study.spec.adam is None:
        return [
            "### 3.2 Baseline, Visit Windowing, Derivation and Imputation Methods",
            "",
            f"The study's specification was not given (trialflow export --study). {PLACEHOLDER}",
            "",
        ]
    adam = facts.study.spec.adam
    base = adam.baseline
    rule = {
        "last_on_or_before": "the last non-missing value on or before",
        "last_before": "the last non-missing value before",
    }[base.rule]
    lines = [
        "### 3.2 Baseline",
        "",
        f"Baseline (ABLFL = Y) is {rule} {base.reference}; the baseline record has AVISIT "
        f"{base.avisit!r} (AVISITN {base.avisitn:g}). CHG and PCHG are derived after baseline.",
        "",
        "### 3.3 Use of Visit Windowing",
        "",
    ]
    visits = adam.analysis_visits
    if visits.by == "nominal_visit":
        lines += ["Records are analysed at their nominal visit (AVISIT from VISIT).", ""]
    else:
        ref = visits.reference
        ref_text = "the first treatment" if isinstance(ref, str) else f"the {ref.visit} visit"
        if visits.windows == "schedule":
            rows = [
                [v.visit, v.day, v.day - (v.window or 0), v.day + (v.window or 0)]
                for v in facts.study.spec.visits
            ]
        else:
            rows = [[w.avisit, w.target, w.low, w.high] for w in visits.windows]
        lines += [
            f"A post-baseline record is analysed at the window holding its day counted from "
            f"{ref_text}; ANL01FL marks the record closest to the target day in each window. "
            "Records in no window have no AVISIT.",
            "",
            table(["AVISIT", "Target day", "From day", "To day"], rows),
        ]
    lines += ["### 3.4 Derivation Methods: Computed Parameters", ""]
    computed = [
        [ds, c.paramcd, c.param, FORMULA_TEXT[c.formula].format(**c.inputs),
         ", ".join(f"{k}: {v}" for k, v in sorted(c.inputs.items()))]
        for ds, bds in sorted(adam.datasets.items())
        for c in bds.computed
    ]  # fmt: skip
    lines.append(
        table(["Dataset", "PARAMCD", "PARAM", "Formula", "Inputs"], computed)
        if computed
        else "No computed parameter.\n"
    )
    lines += ["### 3.5 Imputation Methods", ""]
    imputations = []
    for ds, bds in sorted(adam.datasets.items()):
        for p in bds.parameters:
            if p.censored is not None and p.censored.below not in (None, "none"):
                imputations.append(
                    [ds, p.paramcd, f"result below the limit of quantification: AVAL = "
                     f"{'half the limit' if p.censored.below == 'half_limit' else 'the limit'}, "
                     "IMPUTFL = Y"]
                )  # fmt: skip
            if p.censored is not None and p.censored.above not in (None, "none"):
                imputations.append(
                    [ds, p.paramcd, "result above the limit of quantification: AVAL = the "
                     "limit, IMPUTFL = Y"]
                )  # fmt: skip
        for c in bds.computed:
            if c.censored_inputs:
                imputations.append(
                    [ds, c.paramcd, f"an input beyond a limit enters the formula "
                     f"{_INPUT_RULE[c.censored_inputs]}"]
                )  # fmt: skip
    diagnosis = adam.adsl.diagnosis
    if diagnosis is not None:
        flag = f" ({diagnosis.flag_var})" if diagnosis.flag_var else ""
        imputations.append(
            ["ADSL", diagnosis.date_var, f"a partial {diagnosis.domain}.{diagnosis.date} is "
             f"imputed to the {_IMPUTED[diagnosis.imputation]} of its month or year{flag}"]
        )  # fmt: skip
    lines.append(
        table(["Dataset", "Parameter or variable", "Rule"], imputations)
        if imputations
        else "No imputation.\n"
    )
    treatment = adam.treatment
    lines += [
        "### 3.6 Treatment Variables",
        "",
        f"Treatment records are {treatment.domain} records with a dose above "
        f"{treatment.min_dose:g}; the last exposure is taken from {treatment.end}.",
        "",
    ]
    if adam.adae is not None:
        lines += [
            f"An adverse event is treatment-emergent when it starts on or after the first "
            f"treatment and no later than {adam.adae.emergent_days} days after the last.",
            "",
        ]
    return lines


def adrg_markdown(facts: RunFacts) -> str:
    """The Analysis Data Reviewer's Guide draft of a run (PHUSE ADRG sections).

    Example:
        >>> from trialflow.pipeline import example_run
        >>> print(adrg_markdown(read_run_facts(example_run().out)).splitlines()[0])
        # Analysis Data Reviewer's Guide
    """
    r = facts.report
    analysis = facts.study.spec.analysis if facts.study is not None else None
    used = {}
    if analysis is not None:
        used[analysis.population] = "efficacy analyses"
        if analysis.safety is not None:
            used[analysis.safety.population] = "safety analyses"
    populations = [[flag, n, used.get(flag, PLACEHOLDER)] for flag, n in facts.populations]
    lines = _header("Analysis Data Reviewer's Guide", facts)
    lines += [
        "## 1. Introduction",
        "",
        "### 1.1 Purpose",
        "",
        f"This guide describes the ADaM datasets of study {facts.studyid} submitted in "
        f"m5/datasets/{facts_folder(facts.studyid)}/analysis/adam/datasets. {PLACEHOLDER}",
        "",
        "### 1.2 Acronyms",
        "",
        _acronyms(),
        "### 1.3 Study Data Standards and Dictionary Inventory",
        "",
        table(
            ["Standard or dictionary", "Version", "Note"],
            [
                ["ADaM Implementation Guide", adam_metadata.ADAMIG_VERSION, ""],
                ["ADaM Occurrence Data Structure", adam_metadata.OCCDS_VERSION, "ADAE"],
                ["SDTMIG (source datasets)", _ts_or(facts, "SDTIGVER", r.get("sdtmig", "")), ""],
                ["CDISC Controlled Terminology", str(r.get("ct", "")), ""],
                *_dictionaries(facts),
                ["Define-XML", DEFINE_XML_VERSION, "define.xml, with the stylesheet define2-1.xsl"],
            ],
        ),
        "### 1.4 Source Data Used for Analysis Dataset Creation",
        "",
        "The ADaM datasets were derived from the SDTM datasets submitted in "
        f"m5/datasets/{facts_folder(facts.studyid)}/tabulations/sdtm.",
        "",
        "## 2. Protocol Description",
        "",
        f"Protocol number {facts.studyid}: {_title(facts)}. Design: "
        f"{_ts(facts, 'STYPE').lower()}, {_ts(facts, 'INTMODEL').lower()}, "
        f"{_ts(facts, 'TBLIND').lower()}; planned subjects {_ts(facts, 'PLANSUB')}. "
        f"See the cSDRG, section 2. {PLACEHOLDER}",
        "",
        "## 3. Analysis Considerations Related to Multiple Analysis Datasets",
        "",
        "### 3.1 Analysis Populations",
        "",
        table(["Flag (ADSL)", "Subjects with Y", "Used for"], populations)
        if populations
        else "No population flag in ADSL.\n",
        *_derivations(facts),
        "## 4. Analysis Data Creation and Processing Issues",
        "",
        "### 4.1 Data Dependencies",
        "",
        "Records of each ADaM dataset by the SDTM dataset they came from, counted from the "
        "run's lineage:",
        "",
        table(["Source", "ADaM dataset", "Records"], facts.adam_flow),
        "## 5. Analysis Dataset Descriptions",
        "",
        _datasets_table(facts.adam) if facts.adam else "No ADaM dataset.\n",
        "## 6. Data Conformance Summary",
        "",
        f"The datasets were checked with the ADaM rules of trialflow {r.get('trialflow', '')}."
        f" {PLACEHOLDER}",
        "",
        _findings(facts, adam=True),
        "## 7. Submission of Programs",
        "",
        f"{PLACEHOLDER}: the programs (or the trialflow specifications) submitted, with their "
        "outputs.",
        "",
    ]
    return "\n".join(lines)
