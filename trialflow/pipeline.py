"""The pipeline: raw export + study specs -> SDTM datasets, XPT files, lineage and reports.

Each stage is a separate call (read, map, write), so a later stage can be added to
:func:`run_study` without touching the others. The CLI calls these functions and renders what
they return; nothing here prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from trialflow import __version__
from trialflow.adam import metadata as adam_metadata
from trialflow.adam.build import AdamResult, DmNotOnePerSubject, build_adam
from trialflow.background import Background
from trialflow.errors import (
    Finding,
    OnIssue,
    RawInputError,
    Source,
    SpecError,
    TrialflowError,
    XptError,
    emit,
)
from trialflow.io import reports
from trialflow.io.dataset_json import creation_datetime, write_dataset_json
from trialflow.io.define import STYLESHEET, DefineDataset, write_define
from trialflow.io.outputs import OutputFolder
from trialflow.io.units import read_test_units
from trialflow.io.validate import ValidateResult, validate_paths  # noqa: F401  (re-exported)
from trialflow.io.xpt import XptVariable, read_xpt, write_xpt, xpt_findings
from trialflow.mapping.load import Study, load_study
from trialflow.progress import say
from trialflow.raw import RawExport, read_export
from trialflow.sdtm import metadata
from trialflow.sdtm.build import SdtmResult, build_sdtm
from trialflow.validation.core import Dataset, Package, ValidationReport
from trialflow.validation.engine import validate_package
from trialflow.validation.units import TestUnits

if TYPE_CHECKING:
    from trialflow.analysis.build import AnalysisResult

__all__ = [
    "RunResult",
    "adam_package",
    "derive_study",
    "example_paths",
    "example_run",
    "export_run",
    "map_study",
    "report_study",
    "run_study",
    "sdtm_package",
    "validation_summary",
    "write_adam",
    "write_adam_define",
    "write_analysis",
    "write_sdtm",
    "write_sdtm_define",
]

ANALYSIS_MODULE = "trialflow.analysis.build"
"""The analysis stage's module: scipy and matplotlib come with it (seconds of imports), so a
run imports it on a thread while it waits for the export's sheets (:func:`_import_meanwhile`),
and a command without analysis never does."""

Progress = Callable[[str], None]

EXAMPLE_STUDY = "hucmsc-t2dm"

EXAMPLES = ("hucmsc-t2dm", "three-arm")
"""The bundled example studies (mappings/<name>/, examples/<name>/raw-export.xlsx); the first is
the default."""

FORMATS = ("xpt", "dataset-json", "ndjson")
"""Dataset file formats a run or an export writes: SAS XPORT v5, Dataset-JSON v1.1 as JSON
(<name>.json) and as NDJSON (<name>.ndjson)."""


EXPORT_FORMATS = (*FORMATS, "define")
"""What ``trialflow export`` writes: the dataset formats, and ``define`` (DIR/sdtm/define.xml
and DIR/adam/define.xml rewritten from the XPT files)."""

ECTD_FOLDER = "ectd"
"""The folder of a run (``run --ectd``, ``demo``) that holds its eCTD submission tree."""


def parse_formats(text: str | Sequence[str], allowed: Sequence[str] = FORMATS) -> tuple[str, ...]:
    """The formats a comma-separated ``--format`` value names, checked, in ``allowed`` order.

    Example:
        >>> parse_formats("dataset-json, xpt")
        ('xpt', 'dataset-json')
        >>> parse_formats("define", EXPORT_FORMATS)
        ('define',)
    """
    given = text.split(",") if isinstance(text, str) else list(text)
    names = [g.strip().lower() for g in given if g.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        what = f"unknown format {unknown[0]!r}" if unknown else "no format given"
        raise RawInputError(f"{what}; choose from {', '.join(allowed)} (comma-separated)")
    return tuple(f for f in allowed if f in names)


def _sdtm_keys(code: str) -> list[str]:
    """The SDTMIG natural keys of a domain; none for a domain the metadata doesn't know."""
    try:
        return metadata.domain_keys(code)
    except metadata.UnknownDomain:
        return []


def _adam_keys(name: str) -> list[str]:
    """The key variables of an ADaM dataset; none for a name that is not an ADaM name."""
    try:
        return adam_metadata.adam_keys(name)
    except adam_metadata.UnknownAdamDataset:
        return []


def _write_dataset(
    frame: pd.DataFrame,
    folder: Path,
    name: str,
    *,
    label: str,
    variables: list[XptVariable],
    keys: list[str],
    formats: Sequence[str],
    created,
) -> list[Path]:
    """One dataset in each format asked for: folder/<name>.xpt, .json, .ndjson."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.lower()
    files = []
    if "xpt" in formats:
        files.append(
            write_xpt(
                frame, folder / f"{stem}.xpt", dataset=name, label=label, variables=variables,
                created=created,
            )
        )  # fmt: skip
    for fmt, suffix in (("dataset-json", ".json"), ("ndjson", ".ndjson")):
        if fmt in formats:
            files.append(
                write_dataset_json(
                    frame, folder / f"{stem}{suffix}", dataset=name, label=label,
                    variables=variables, keys=keys, created=created,
                    ndjson=fmt == "ndjson", source_system=("trialflow", __version__),
                )
            )  # fmt: skip
    return files


@dataclass
class RunResult:
    """What a run produced: the output folder, the SDTM result and every file written.

    Example:
        >>> run = example_run()  # a RunResult
        >>> run.out.name, len(run.sdtm.domains["DM"]), run.errors
        ('run', 16, 0)
    """

    out: Path
    study: Study
    sdtm: SdtmResult
    files: list[Path] = field(default_factory=list)

    validation: ValidationReport | None = None
    adam: AdamResult | None = None
    analysis: AnalysisResult | None = None
    skipped: list[Finding] = field(default_factory=list)
    """Stages the run could not do (``adam-not-derived``), each with the reason."""

    @property
    def findings(self) -> list[Finding]:
        """Every finding of the run: mapping, then deriving, then validation."""
        return (
            self.sdtm.findings
            + self.skipped
            + (self.adam.findings if self.adam else [])
            + (self.validation.findings if self.validation else [])
            + (self.analysis.findings if self.analysis else [])
        )

    @property
    def errors(self) -> int:
        """How many findings have severity error."""
        return sum(f.severity == "error" for f in self.findings)


def xpt_variables(domain: str, frame) -> list[XptVariable]:
    """XPT metadata of an SDTM dataset's columns from the SDTMIG metadata (labels and types).

    Example:
        >>> import pandas as pd
        >>> xpt_variables("DM", pd.DataFrame(columns=["STUDYID"]))[0].label
        'Study Identifier'
    """
    meta = metadata.domain_variables(domain).set_index("name")
    out = []
    for name in frame.columns:
        if name in meta.index:
            out.append(XptVariable(name, str(meta.at[name, "label"]), str(meta.at[name, "type"])))
        else:
            out.append(XptVariable(name))
    return out


def write_sdtm(
    result: SdtmResult,
    out: Path,
    progress: Progress | None = None,
    *,
    formats: Sequence[str] = ("xpt",),
    created: datetime | None = None,
) -> list[Path]:
    """Write each SDTM domain to DIR/sdtm/<domain>.xpt (and .json, .ndjson as ``formats`` ask)
    and its lineage to DIR/lineage/. ``created`` is the files' creation datetime.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> files = write_sdtm(example_run().sdtm, out)
        >>> [f.relative_to(out).as_posix() for f in files][:2]
        ['sdtm/ex.xpt', 'lineage/ex.csv']
    """
    files = []
    for done, (code, frame) in enumerate(result.domains.items()):
        say(progress, f"writing {code.lower()} ({', '.join(formats)}; {len(frame)} records)",
            stage="writing SDTM", done=done, total=len(result.domains))  # fmt: skip
        try:
            files += _write_dataset(
                frame,
                out / "sdtm",
                code,
                label=metadata.domain_label(code),
                variables=xpt_variables(code, frame),
                keys=_sdtm_keys(code),
                formats=formats,
                created=created,
            )
        except XptError as exc:
            raise XptError(_with_source(exc, result.lineage[code])) from None
        files.append(
            reports.write_lineage_csv(result.lineage[code], out / "lineage" / f"{code.lower()}.csv")
        )
    if result.excluded is not None:
        # raw rows that made no record, each with its reason (the findings summarise them)
        files.append(reports.write_lineage_csv(result.excluded, out / "lineage" / "excluded.csv"))
    return files


def sdtm_package(result: SdtmResult) -> Package:
    """The mapped SDTM domains as a validation package (records numbered as written).

    Example:
        >>> dm = sdtm_package(example_run().sdtm).get("DM")
        >>> dm.name, dm.kind, len(dm.frame)
        ('DM', 'sdtm', 16)
    """
    return Package(
        {
            code: Dataset.from_frame(
                code,
                frame,
                file=f"sdtm/{code.lower()}.xpt",
                label=metadata.domain_label(code),
                kind="supp" if metadata.supp_parent(code) else "sdtm",
            )
            for code, frame in result.domains.items()
        }
    )


def trace_to_raw(findings: list[Finding], lineage: dict) -> list[Finding]:
    """Point validation findings on mapped SDTM records back at the raw cell they came from.

    Example:
        >>> trace_to_raw([], {})
        []
    """
    out = []
    for f in findings:
        table = lineage.get(f.dataset or "")
        if table is None or f.record is None or not 0 < f.record <= len(table):
            out.append(f)
            continue
        row = table.iloc[f.record - 1]
        column = row.get(f.variable) if f.variable and f.variable in table.columns else None
        if not (isinstance(column, str) and not column.startswith(("spec:", "derived:"))):
            column = None
        source = Source(
            str(row["source_file"]), str(row["source_sheet"]), int(row["source_row"]), column
        )
        out.append(dataclasses.replace(f, source=source))
    return out


def _with_source(error: XptError, lineage) -> str:
    """The XPT error's message, with the raw cell behind the first offending record."""
    findings = getattr(error, "findings", [])
    first = findings[0] if findings else None
    if first is None or first.record is None or first.record > len(lineage):
        return str(error)
    row = lineage.iloc[first.record - 1]
    column = row.get(first.variable) if first.variable else None
    where = f"{row['source_file']}, sheet {row['source_sheet']}, row {row['source_row']}"
    if isinstance(column, str) and not column.startswith(("spec:", "derived:")):
        where += f", column {column}"
    return f"{error} [raw: {where}]"


def xpt_problems(sdtm: SdtmResult, adam: AdamResult | None = None) -> list[Finding]:
    """Every value or attribute of the SDTM (and ADaM) datasets that SAS XPORT v5 can't hold
    unchanged, across all datasets at once, every offending record listed (no cap), each SDTM
    finding with the raw cell it came from.

    :func:`~trialflow.io.xpt.write_xpt` stops at the first dataset with a problem; a run
    checks them all first so that the user fixes every one in a single round.

    Example:
        >>> r = SdtmResult({"AE": pd.DataFrame({"AETERM": ["NAUSÉE"]})}, {}, [])
        >>> [(f.code, f.record, f.value) for f in xpt_problems(r)]
        [('xpt-value-not-ascii', 1, 'NAUSÉE')]
    """
    found: list[Finding] = []
    for code, frame in sdtm.domains.items():
        found += xpt_findings(
            frame,
            dataset=code,
            label=metadata.domain_label(code),
            variables=xpt_variables(code, frame),
            limit=None,
        )
    found = [_derived_from_column(f, sdtm.lineage) for f in trace_to_raw(found, sdtm.lineage)]
    if adam is not None:
        for name, frame in adam.datasets.items():
            data, variables = adam_xpt_frame(name, frame)
            found += xpt_findings(
                data,
                dataset=name,
                label=adam_metadata.adam_label(name),
                variables=variables,
                limit=None,
            )
    return found


def _derived_from_column(finding: Finding, lineage: dict) -> Finding:
    """A value derived from one raw column ("derived: VSORRES in the standard unit") is named
    by that column, so the user sees the cell to fix."""
    table = lineage.get(finding.dataset or "")
    if finding.source is None or finding.source.column or table is None or not finding.variable:
        return finding
    row = table.iloc[finding.record - 1]
    how = str(row.get(finding.variable, ""))
    first = how.removeprefix("derived: ").split(" ", 1)[0] if how.startswith("derived: ") else ""
    column = row.get(first) if first in table.columns else None
    if not isinstance(column, str) or column.startswith(("spec:", "derived:")):
        return finding
    return dataclasses.replace(finding, source=dataclasses.replace(finding.source, column=column))


PROBLEMS_SHOWN = 20
"""XPT problems printed per code, dataset and variable when a run refuses to write; the
report lists every one."""


def _refuse_unwritable(
    problems: list[Finding], findings: list[Finding], folder: OutputFolder, context: dict
) -> None:
    """Write DIR/validation/report.json and report.xlsx with every finding so far and the XPT
    problems, then raise one XptError listing each problem; no dataset file is written.

    The refused run's folder (its two reports and a manifest with ``"status": "refused"``, and
    the files the command keeps: derive's SDTM) replaces DIR whole: DIR never holds datasets
    of an earlier run beside a report of this one.
    """
    everything = findings + problems
    out = folder.path
    files = [
        reports.write_report_json(everything, out / "validation" / "report.json", **context),
        reports.write_report_xlsx(everything, out / "validation" / "report.xlsx"),
    ]
    # with the files kept from the earlier output (derive keeps its SDTM), nothing else
    reports.write_manifest(out, [*folder.kept, *files], **context, status="refused")
    folder.commit()
    report = folder.final(files[0])
    n = len(problems)
    lines = [
        f"{n} value{'s' if n > 1 else ''} or attribute{'s' if n > 1 else ''} can't be written "
        f"to SAS XPORT v5 unchanged, so no dataset was written; fix them all and rerun "
        f"(each is in {report}):"
    ]
    shown: Counter = Counter()
    for f in problems:
        key = (f.code, f.dataset, f.variable)
        shown[key] += 1
        if shown[key] <= PROBLEMS_SHOWN:
            lines.append(f"  {f.one_line()}")
    for (code, dataset, variable), count in shown.items():
        if count > PROBLEMS_SHOWN:
            where = ".".join(p for p in (dataset, variable) if p)
            lines.append(
                f"  ... and {count - PROBLEMS_SHOWN} more {code} in {where} (each in the report)"
            )
    error = XptError("\n".join(lines))
    error.findings = problems  # type: ignore[attr-defined]
    raise error


def write_sdtm_define(
    result: SdtmResult, out: Path, study: Study, *, created: datetime | None = None
) -> list[Path]:
    """Write DIR/sdtm/define.xml (Define-XML 2.1) and the stylesheet beside it, from the
    SDTM domains, their XPT metadata and keys, the lineage and the coding dictionaries.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> run = example_run()
        >>> [f.relative_to(out).as_posix() for f in write_sdtm_define(run.sdtm, out, run.study)]
        ['sdtm/define.xml', 'sdtm/define2-1.xsl']
    """
    datasets = [
        DefineDataset(
            code, frame, xpt_variables(code, frame), _sdtm_keys(code),
            metadata.domain_label(code)
            if code in metadata.known_domains() or metadata.supp_parent(code)
            else code,
            result.lineage.get(code),
        )
        for code, frame in result.domains.items()
    ]  # fmt: skip
    return _define_files(datasets, out / "sdtm", "sdtm", study, created, dictionaries(result))


def write_adam_define(
    result: AdamResult,
    out: Path,
    study: Study,
    *,
    created: datetime | None = None,
    sdtm: SdtmResult | None = None,
) -> list[Path]:
    """Write DIR/adam/define.xml (Define-XML 2.1 with ARM 1.0 when the study has an analysis
    section) and the stylesheet beside it, from the ADaM datasets as written.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> run = example_run()
        >>> [f.relative_to(out).as_posix() for f in write_adam_define(run.adam, out, run.study)]
        ['adam/define.xml', 'adam/define2-1.xsl']
    """
    datasets = []
    for name, frame in result.datasets.items():
        data, variables = adam_xpt_frame(name, frame)
        datasets.append(
            DefineDataset(name, data, variables, _adam_keys(name), adam_metadata.adam_label(name))
        )
    coded = dictionaries(sdtm) if sdtm is not None else []
    return _define_files(datasets, out / "adam", "adam", study, created, coded)


def _define_files(
    datasets: list[DefineDataset],
    folder: Path,
    kind: Literal["sdtm", "adam"],
    study: Study,
    created: datetime | None,
    coded: list[dict[str, object]],
) -> list[Path]:
    """define.xml of one folder and the stylesheet beside it."""
    path = write_define(
        datasets, folder, kind=kind, studyid=study.studyid, title=study.spec.study.title or "",
        spec=study.spec, created=created, dictionaries=coded,
        source_system=("trialflow", __version__),
    )  # fmt: skip
    return [path, folder / STYLESHEET]


SAS_EPOCH = pd.Timestamp("1960-01-01")


def adam_xpt_frame(dataset: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[XptVariable]]:
    """An ADaM dataset as XPT wants it: SAS dates and datetimes as numbers, with metadata.

    Dates (``*DT``) become days since 1960-01-01 with DATE9., datetimes (``*DTM``) seconds
    with DATETIME20. (the SAS conventions). Labels and formats come from the ADaM metadata;
    character lengths are the longest value, as the submission guidance asks.

    Example:
        >>> df = pd.DataFrame({"USUBJID": ["1"], "TRTSDT": [pd.Timestamp("1960-01-11")]})
        >>> frame, variables = adam_xpt_frame("ADSL", df)
        >>> frame["TRTSDT"].tolist(), variables[1].format
        ([10.0], 'DATE9.')
    """
    meta = adam_metadata.adam_variables(dataset).set_index("name")
    out = frame.copy()
    variables = []
    for name in frame.columns:
        fmt = None
        if pd.api.types.is_datetime64_any_dtype(frame[name].dtype):
            delta = frame[name] - SAS_EPOCH
            if name.endswith("DTM"):
                out[name] = delta.dt.total_seconds()
                fmt = "DATETIME20."
            else:
                out[name] = delta.dt.days.astype("float64")
                fmt = "DATE9."
        if name in meta.index:
            row = meta.loc[name]
            fmt = str(row["format"]) or fmt
            kind = "Num" if row["type"] == "Num" else "Char"
            variables.append(XptVariable(name, str(row["label"]), kind, None, fmt or None))
        else:
            variables.append(XptVariable(name, format=fmt))
    return out, variables


def write_adam(
    result: AdamResult,
    out: Path,
    progress: Progress | None = None,
    *,
    formats: Sequence[str] = ("xpt",),
    created: datetime | None = None,
) -> list[Path]:
    """Write each ADaM dataset to DIR/adam/<name>.xpt (and .json, .ndjson as ``formats`` ask)
    and its lineage to DIR/lineage/. ``created`` is the files' creation datetime.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> files = write_adam(example_run().adam, out)
        >>> [f.relative_to(out).as_posix() for f in files][:2]
        ['adam/adsl.xpt', 'lineage/adsl.csv']
    """
    files = []
    for done, (name, frame) in enumerate(result.datasets.items()):
        say(progress, f"writing {name.lower()} ({', '.join(formats)}; {len(frame)} records)",
            stage="writing ADaM", done=done, total=len(result.datasets))  # fmt: skip
        data, variables = adam_xpt_frame(name, frame)
        files += _write_dataset(
            data,
            out / "adam",
            name,
            label=adam_metadata.adam_label(name),
            variables=variables,
            keys=adam_metadata.adam_keys(name),
            formats=formats,
            created=created,
        )
        files.append(
            reports.write_lineage_csv(result.lineage[name], out / "lineage" / f"{name.lower()}.csv")
        )
    return files


def adam_package(result: AdamResult) -> Package:
    """The ADaM datasets as a validation package, as they are written (SAS date numbers).

    Example:
        >>> adsl = adam_package(example_run().adam).get("ADSL")
        >>> adsl.kind, len(adsl.frame)
        ('adam', 16)
    """
    return Package(
        {
            name: Dataset.from_frame(
                name,
                adam_xpt_frame(name, frame)[0],
                file=f"adam/{name.lower()}.xpt",
                label=adam_metadata.adam_label(name),
                kind="adam",
            )
            for name, frame in result.datasets.items()
        }
    )


def study_test_units(study: Study) -> TestUnits | None:
    """The rows of the CSV study.yaml names as ``test_units`` (None without the key); a missing
    or malformed file is a SpecError naming study.yaml, the line and the key.

    Example:
        >>> study_test_units(load_study(example_paths()[0])) is None  # no test_units key
        True
    """
    name = study.spec.test_units
    if name is None:
        return None
    path = study.folder / name
    try:
        return read_test_units(path)
    except TrialflowError as exc:
        raise SpecError(
            str(study.files["study"]), study.line("test_units"), "test_units", str(exc)
        ) from None


def run_created(study: Study):
    """The creation datetime of a run's files: SOURCE_DATE_EPOCH, else the study's
    ``study.run_date``, else 1960-01-01 (never the clock, so reruns are byte-identical).

    Example:
        >>> import os
        >>> study = load_study(example_paths()[0])
        >>> study.spec.study.run_date
        '2026-12-05'
        >>> "SOURCE_DATE_EPOCH" in os.environ or run_created(study) == datetime(2026, 12, 5)
        True
    """
    return creation_datetime(study.spec.study.run_date)


def _context(study: Study, raw_name: str | None) -> dict:
    return {
        "study": study.studyid,
        "raw_export": raw_name,
        "synthetic": study.spec.study.synthetic,
        "trialflow": __version__,
        "sdtmig": metadata.SDTMIG_VERSION,
        "ct": metadata.ct_version(),
    }


def _finish(
    run: RunResult,
    context: dict,
    progress: Progress | None,
    ectd_study: str | Path | None = None,
    adam_files: Callable[[], list[Path]] | None = None,
) -> RunResult:
    """Validate what the run made (SDTM and ADaM together), write the reports, the eCTD
    folder DIR/ectd/ when ``ectd_study`` (the study's spec folder) is given, and the manifest.
    ``adam_files`` writes the ADaM files (and returns them), before the validation."""
    if run.sdtm.dictionaries:
        context = {**context, "dictionaries": dictionaries(run.sdtm)}
    if adam_files is not None:
        say(progress, "writing the ADaM datasets, their lineage and adam/define.xml",
            stage="writing ADaM")  # fmt: skip
        run.files += adam_files()
    say(progress, "validating the datasets", stage="validating")
    package = sdtm_package(run.sdtm)
    if run.adam is not None:
        package.datasets.update(adam_package(run.adam).datasets)
    package.test_units = study_test_units(run.study)
    out = run.out
    # Validated here, not beside the statistics in a child process: with 10,000 subjects the
    # two at once took 4.2-4.5 GB (the rules' facts and the pages the child copies) against
    # 3.6 GB one after the other, for about 5 s.
    run.validation = _validate_run(package, run.sdtm.lineage)
    if run.adam is not None and run.study.spec.analysis is not None:
        from trialflow.analysis.build import build_analysis

        say(progress, "computing the statistics, figures and report", stage="analysing")
        run.analysis = build_analysis(
            run.study.spec,
            run.adam.datasets,
            context,
            validation_summary(run.findings, package),
            locate=run.study.locate,
        )
    say(progress, "writing the reports (analysis, validation, manifest)", stage="reports")
    if run.analysis is not None:
        run.files += write_analysis(run.analysis, out)
    run.files.append(
        reports.write_report_json(run.findings, out / "validation" / "report.json", **context)
    )
    run.files.append(
        reports.write_report_xlsx(
            run.findings,
            out / "validation" / "report.xlsx",
            datasets={name: len(ds.frame) for name, ds in package.datasets.items()},
        )
    )
    if ectd_study is not None:
        from trialflow.io.ectd import write_ectd  # only runs that ask for the folder load it

        if progress:
            progress("laying out the eCTD folder")
        run.files += write_ectd(
            out, out / ECTD_FOLDER, study_dir=ectd_study, force=True, lock=False
        )  # the run's own lock covers it
    run.files.append(reports.write_manifest(out, run.files, **context))
    return run


def dictionaries(result: SdtmResult) -> list[dict[str, object]]:
    """The external dictionaries the SDTM domains were coded with, one entry per domain, as
    report.json and manifest.json list them (and define.xml and TS will).

    Example:
        >>> r = SdtmResult({}, {}, [], dictionaries={"AE": {"dictionary": "MedDRA",
        ...     "version": "26.1", "file": "ae-coding.csv", "variables": ["AEDECOD"]}})
        >>> [(e["domain"], e["dictionary"], e["version"]) for e in dictionaries(r)]
        [('AE', 'MedDRA', '26.1')]
    """
    return [{"domain": d, **result.dictionaries[d]} for d in sorted(result.dictionaries)]


def validation_summary(findings: Sequence[Finding], package: Package) -> dict:
    """Counts of findings overall and per dataset, and the first errors and warnings.

    Example:
        >>> validation_summary([], Package())["errors"]
        0
    """

    def counts(name: str, records: int | None) -> dict:
        return {"dataset": name, "records": records, "errors": 0, "warnings": 0, "notices": 0}

    by = {name: counts(name, len(ds.frame)) for name, ds in package.datasets.items()}
    plural = {"error": "errors", "warning": "warnings", "notice": "notices"}
    for f in findings:
        name = f.dataset or "-"
        by.setdefault(name, counts(name, None))[plural[f.severity]] += 1
    serious = [f for f in findings if f.severity in ("error", "warning")][:10]
    return {
        "errors": sum(f.severity == "error" for f in findings),
        "warnings": sum(f.severity == "warning" for f in findings),
        "notices": sum(f.severity == "notice" for f in findings),
        "by_dataset": list(by.values()),
        "top": [f.one_line() for f in serious],
    }


def write_analysis(result: AnalysisResult, out: Path) -> list[Path]:
    """Write DIR/analysis/cfb_summary.csv, table1.csv, figures/*.png and report.html, with
    a safety section ae_summary.csv and safety_by_visit.csv, with a dose section
    dose_categories.csv and dose_changes.csv, and with analysis.comparisons
    cfb_comparisons.csv.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> files = write_analysis(example_run().analysis, out)
        >>> [f.relative_to(out).as_posix() for f in files][:2]
        ['analysis/cfb_summary.csv', 'analysis/table1.csv']
    """
    folder = out / "analysis"
    files = [
        reports.write_table_csv(result.summary, folder / "cfb_summary.csv"),
        reports.write_table_csv(result.table1, folder / "table1.csv"),
    ]
    if result.ae_summary is not None:
        files.append(reports.write_table_csv(result.ae_summary, folder / "ae_summary.csv"))
    if result.safety_by_visit is not None:
        files.append(
            reports.write_table_csv(result.safety_by_visit, folder / "safety_by_visit.csv")
        )
    if result.dose_categories is not None:
        files.append(
            reports.write_table_csv(result.dose_categories, folder / "dose_categories.csv")
        )
    if result.dose_changes is not None:
        files.append(reports.write_table_csv(result.dose_changes, folder / "dose_changes.csv"))
    if result.comparisons is not None:
        files.append(reports.write_table_csv(result.comparisons, folder / "cfb_comparisons.csv"))
    for name, png in result.figures.items():
        files.append(reports.write_file(png, folder / "figures" / name))
    files.append(reports.write_file(result.html, folder / "report.html"))
    return files


def map_study(
    study_dir: str | Path,
    raw: str | Path | RawExport,
    out: str | Path,
    *,
    on_issue: OnIssue = "warn",
    progress: Progress | None = None,
    adam: bool = False,
    formats: Sequence[str] = ("xpt",),
    ectd: bool = False,
) -> RunResult:
    """Map a raw export to SDTM and write DIR/sdtm/*.xpt, DIR/lineage/, the reports and manifest.

    With ``adam=True`` the ADaM datasets are derived too (DIR/adam/*.xpt), as ``run`` does.
    With ``ectd=True`` the submission folder is laid out in DIR/ectd/ too
    (:func:`~trialflow.io.ectd.write_ectd`: the eCTD m5 tree with the XPT files, define.xml
    and the reviewer's guide drafts), as ``export --ectd`` does.
    ``formats`` (of :data:`FORMATS`) are the dataset files written; their creation date is
    SOURCE_DATE_EPOCH, else the study's ``run_date``, else 1960-01-01 (:func:`run_created`).

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> study_dir, raw = example_paths()
        >>> r = map_study(study_dir, raw, out / "run", on_issue="none")
        >>> r.errors, sorted(p.name for p in r.files if p.suffix == ".xpt")[:6]
        (0, ['ae.xpt', 'cm.xpt', 'dm.xpt', 'ds.xpt', 'ex.xpt', 'lb.xpt'])
    """
    with OutputFolder(out, "run" if adam else "map") as folder:
        run = _map_study(
            study_dir, raw, folder, on_issue=on_issue, progress=progress, adam=adam,
            formats=formats, ectd=ectd,
        )  # fmt: skip
    emit(run.validation.findings, on_issue)  # --strict stops after the reports are in place
    return _moved(run, folder)


def _moved(run: RunResult, folder: OutputFolder) -> RunResult:
    """The run's result with its files where the swapped-in folder holds them."""
    run.out = folder.out
    run.files = [folder.final(p) for p in run.files]
    return run


def _map_study(
    study_dir: str | Path,
    raw: str | Path | RawExport,
    folder: OutputFolder,
    *,
    on_issue: OnIssue,
    progress: Progress | None,
    adam: bool,
    formats: Sequence[str],
    ectd: bool,
) -> RunResult:
    """:func:`map_study` writing into the new folder ``folder.path``."""
    out = folder.path
    study = load_study(study_dir)
    export = read_export(raw)
    importing = None
    if adam and study.spec.adam is not None and study.spec.analysis is not None:
        importing = _import_meanwhile(ANALYSIS_MODULE)
    result = build_sdtm(study, export, on_issue=on_issue, progress=progress)
    if importing is not None:
        importing.join()  # done long ago; no import is half-way when the writers fork
    context = _context(study, export.name)
    # every XPT problem of every dataset before any file: all reported, nothing half-written
    if "xpt" in formats and (problems := xpt_problems(result)):
        _refuse_unwritable(problems, result.findings, folder, context)
    derived = None
    skipped: list[Finding] = []
    created = run_created(study)
    # The SDTM files are written by a child process (trialflow.background) while ADaM is
    # derived here, and the ADaM files while the datasets are validated and analysed: the
    # same files, on both cores. (Writing the mapped domains while the trial design is built
    # took more memory and CPU than it saved.)
    with Background(_write_sdtm_files, result, out, study, formats, created) as sdtm_files:
        if adam and study.spec.adam is not None:
            if progress:
                progress("deriving the ADaM datasets")
            try:
                derived = build_adam(
                    study.spec,
                    result.domains,
                    sdtm_lineage=result.lineage,
                    on_issue=on_issue,
                    locate=study.locate,
                )
            except DmNotOnePerSubject as exc:
                # the duplicate is reported by mapping (raw-duplicate-record) and validation;
                # SDTM and the reports are still written, ADaM is left out and says why
                if progress:
                    progress(str(exc))
                skipped.append(Finding("adam-not-derived", "warning", str(exc), dataset="DM",
                                       variable="USUBJID"))  # fmt: skip
            if (
                derived is not None
                and "xpt" in formats
                and (problems := xpt_problems(SdtmResult({}, {}, []), derived))
            ):
                sdtm_files.cancel()
                for made in ("sdtm", "lineage"):  # what the writer had written: no dataset
                    shutil.rmtree(out / made, ignore_errors=True)
                _refuse_unwritable(problems, result.findings + derived.findings, folder, context)
        say(progress, f"writing the SDTM datasets ({', '.join(formats)}), their lineage and "
            "sdtm/define.xml", stage="writing SDTM")  # fmt: skip
        files = sdtm_files.result()
    run = RunResult(out, study, result, files)
    run.skipped.extend(skipped)
    if derived is None:
        return _finish(run, context, progress, study_dir if ectd else None)
    run.adam = derived
    return _finish(
        run, context, progress, study_dir if ectd else None,
        lambda: _write_adam_files(derived, out, study, formats, created, result),
    )  # fmt: skip


def _import_meanwhile(module: str) -> threading.Thread:
    """Import ``module`` on a thread: it runs while the mapping waits for a sheet being
    parsed (an import that fails is imported again, and reported, where it is used)."""

    def load() -> None:
        with contextlib.suppress(Exception):
            importlib.import_module(module)

    thread = threading.Thread(target=load, name="trialflow-imports", daemon=True)
    thread.start()
    return thread


def _validate_run(package: Package, lineage: dict) -> ValidationReport:
    """Validate a run's package; findings on SDTM records name their raw cells."""
    checked = validate_package(package, on_issue="none")
    checked.findings = trace_to_raw(checked.findings, dict(lineage))
    return checked


def _write_sdtm_files(
    result: SdtmResult, out: Path, study: Study, formats: Sequence[str], created
) -> list[Path]:
    """Every SDTM file of a run: the datasets, their lineage, define.xml and its stylesheet."""
    return write_sdtm(result, out, formats=formats, created=created) + write_sdtm_define(
        result, out, study, created=created
    )


def _write_adam_files(
    adam: AdamResult,
    out: Path,
    study: Study,
    formats: Sequence[str],
    created,
    sdtm: SdtmResult | None,
) -> list[Path]:
    """Every ADaM file of a run: the datasets, their lineage, define.xml and its stylesheet."""
    return write_adam(adam, out, formats=formats, created=created) + write_adam_define(
        adam, out, study, created=created, sdtm=sdtm
    )


def run_study(
    study_dir: str | Path,
    raw: str | Path | RawExport,
    out: str | Path,
    *,
    on_issue: OnIssue = "warn",
    progress: Progress | None = None,
    formats: Sequence[str] = ("xpt",),
    ectd: bool = False,
) -> RunResult:
    """The whole pipeline: raw export -> SDTM -> ADaM, written and validated; with ``ectd``
    also the submission folder DIR/ectd/ (see :func:`map_study`).

    Example:
        >>> run = example_run()  # run_study(*example_paths(), tmp, on_issue="none", ectd=True)
        >>> run.errors, sorted(p.name for p in (run.out / "adam").glob("*.xpt"))[:3]
        (0, ['adae.xpt', 'adcm.xpt', 'addose.xpt'])
    """
    return map_study(
        study_dir, raw, out, on_issue=on_issue, progress=progress, adam=True, formats=formats,
        ectd=ectd,
    )  # fmt: skip


def _frames(package: Package, kind: str) -> dict[str, pd.DataFrame]:
    """The package's datasets of one kind as plain frames (without the reader's columns)."""
    return {
        name: ds.frame[[c for c in ds.frame.columns if not c.startswith("__")]]
        for name, ds in package.datasets.items()
        if ds.kind == kind
    }


def derive_study(
    study_dir: str | Path,
    sdtm_dir: str | Path,
    out: str | Path,
    *,
    on_issue: OnIssue = "warn",
    progress: Progress | None = None,
) -> RunResult:
    """Derive ADaM from SDTM files (a folder of .xpt, .csv, ... as ``validate`` reads them).

    Writes DIR/adam/*.xpt, DIR/lineage/ad*.csv, the validation reports of SDTM and ADaM
    together, and the manifest. When the SDTM folder sits beside a ``lineage`` folder written
    by ``trialflow map``, the ADaM lineage continues to the raw rows.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> sdtm = example_run().out / "sdtm"  # a run's SDTM folder
        >>> derive_study(example_paths()[0], sdtm, out / "derived", on_issue="none").errors
        0
        >>> sorted(p.name for p in (out / "derived").iterdir())
        ['adam', 'analysis', 'lineage', 'manifest.json', 'validation']
    """
    from trialflow.io.package import read_package

    out = Path(out)
    study = load_study(study_dir, domain_specs=False)  # ADaM needs study.yaml, not the specs
    if study.spec.adam is None:
        raise RawInputError(f"{study.files['study']}: no adam section, nothing to derive")
    package, read_findings = read_package([sdtm_dir])
    domains = _frames(package, "sdtm")
    lineage = {}
    folder = Path(sdtm_dir).parent / "lineage"
    for name in domains:
        path = folder / f"{name.lower()}.csv"
        if path.is_file():
            lineage[name] = pd.read_csv(path, dtype=str, keep_default_na=False)
    sdtm = SdtmResult(domains, lineage, read_findings)
    if progress:
        progress("deriving the ADaM datasets")
    run = RunResult(out, study, sdtm, [])
    run.adam = build_adam(
        study.spec, domains, sdtm_lineage=lineage, on_issue=on_issue, locate=study.locate
    )
    with OutputFolder(out, "derive", keep=_derive_keeps) as folder:
        run.out = out = folder.path
        run.files += folder.kept  # the earlier output's SDTM, lineage, ... (not its ADaM)
        if problems := xpt_problems(SdtmResult({}, {}, []), run.adam):
            findings = read_findings + run.adam.findings
            _refuse_unwritable(problems, findings, folder, _context(study, None))
        created = run_created(study)
        # the ADaM files are written while a child process validates the package
        adam = run.adam
        run = _finish(
            run, _context(study, None), progress,
            adam_files=lambda: _write_adam_files(adam, out, study, ("xpt",), created, None),
        )  # fmt: skip
    emit(run.validation.findings, on_issue)
    return _moved(run, folder)


def _derive_keeps(name: str) -> bool:
    """The files of an earlier output that ``derive`` keeps: not what it writes again (ADaM,
    its lineage, the reports, analysis) nor the eCTD folder made from the earlier ADaM."""
    top = name.split("/", 1)[0]
    if top in ("adam", "analysis", "validation", ECTD_FOLDER):
        return False
    return not (top == "lineage" and Path(name).name.startswith("ad"))


def _report_keeps(name: str) -> bool:
    """The files of an earlier output that ``report`` keeps: all but DIR/analysis/."""
    return not name.startswith("analysis/")


def report_study(
    study_dir: str | Path,
    adam_dir: str | Path,
    out: str | Path,
    *,
    on_issue: OnIssue = "warn",
    progress: Progress | None = None,
) -> RunResult:
    """Statistics, Table 1, figures and report.html from ADaM files (DIR/analysis/).

    The ADaM datasets are validated first; the report shows that validation's summary.
    DIR/manifest.json lists the files written, and the files of an earlier run in DIR outside
    DIR/analysis/ that are still there.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> adam = example_run().out / "adam"  # a run's ADaM folder
        >>> r = report_study(example_paths()[0], adam, out / "report", on_issue="none")
        >>> [f.relative_to(out / "report").as_posix() for f in r.files][:2]
        ['analysis/cfb_summary.csv', 'analysis/table1.csv']
    """
    from trialflow.io.package import read_package

    out = Path(out)
    study = load_study(study_dir, domain_specs=False)  # the report needs study.yaml alone
    if study.spec.analysis is None:
        raise RawInputError(f"{study.files['study']}: no analysis section, nothing to report")
    package, read_findings = read_package([adam_dir])
    datasets = _frames(package, "adam")
    needed = ["ADSL", *(e.dataset for e in study.spec.analysis.endpoints)]
    safety = study.spec.analysis.safety
    if safety is not None:
        needed += ["ADAE", *(p.dataset for p in safety.parameters)]
    missing = [name for name in needed if name not in datasets]
    if missing:
        names = ", ".join(sorted(set(missing)))
        raise RawInputError(f"{adam_dir}: no {names} dataset to report on")
    if progress:
        progress("validating the ADaM datasets")
    checked = validate_package(package, on_issue="none")
    run = RunResult(out, study, SdtmResult({}, {}, read_findings), [], checked)
    run.adam = AdamResult(datasets=datasets)
    if progress:
        progress("computing the statistics, figures and report")
    context = _context(study, None)
    from trialflow.analysis.build import build_analysis

    run.analysis = build_analysis(
        study.spec,
        datasets,
        context,
        validation_summary(run.findings, package),
        locate=study.locate,
    )
    with OutputFolder(out, "report", keep=_report_keeps) as folder:
        run.files = write_analysis(run.analysis, folder.path)
        run.files.append(reports.write_manifest(folder.path, [*folder.kept, *run.files], **context))
    run.files = [folder.final(p) for p in run.files]
    emit(run.findings, on_issue)
    return run


def example_paths(name: str = EXAMPLE_STUDY) -> tuple[Path, Path]:
    """A bundled example study's spec folder and raw export, in a source checkout.

    ``name`` is one of :data:`EXAMPLES`: ``hucmsc-t2dm`` (the default, single-arm) or
    ``three-arm`` (placebo-controlled, three arms).

    Example:
        >>> study_dir, raw = example_paths()
        >>> study_dir.name, raw.relative_to(study_dir.parent.parent).as_posix()
        ('hucmsc-t2dm', 'examples/hucmsc-t2dm/raw-export.xlsx')
        >>> [p.parts[-2:] for p in example_paths("three-arm")]
        [('mappings', 'three-arm'), ('three-arm', 'raw-export.xlsx')]
    """
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r} (examples: {', '.join(EXAMPLES)})")
    root = Path(__file__).resolve().parent.parent
    return root / "mappings" / name, root / "examples" / name / "raw-export.xlsx"


@functools.cache
def example_run() -> RunResult:
    """The bundled example study run end to end once per process, for examples to start from.

    :func:`run_study` on :func:`example_paths` (findings not raised, XPT and Dataset-JSON, the
    eCTD folder laid out: what ``trialflow demo`` writes) into a temporary folder removed when
    the process exits; the same result on every later call. The docstring examples that need
    SDTM, ADaM or a run folder take them from here, as admiral's examples take
    pharmaversesdtm's datasets. Treat it as read-only: copy the folder before changing anything
    in it.

    Example:
        >>> run = example_run()
        >>> run.errors, run.study.studyid, (run.out / "sdtm" / "dm.xpt").is_file()
        (0, 'HUCMSC-T2DM', True)
        >>> sorted(run.adam.datasets)
        ['ADAE', 'ADCM', 'ADDOSE', 'ADLB', 'ADSL', 'ADVS']
    """
    import atexit
    import tempfile

    study_dir, raw = example_paths()
    if not raw.exists() or not study_dir.exists():
        raise RawInputError(f"the bundled example is not here ({raw}): use a source checkout")
    parent = Path(tempfile.mkdtemp(prefix="trialflow-example-"))
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    return run_study(study_dir, raw, parent / "run", on_issue="none",
                     formats=("xpt", "dataset-json"), ectd=True)  # fmt: skip


def export_run(
    run_dir: str | Path,
    formats: Sequence[str],
    *,
    study_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Write the XPT datasets of a run folder in other formats, beside each .xpt file.

    Reads DIR/sdtm/*.xpt and DIR/adam/*.xpt and writes <name>.json (``dataset-json``) and
    <name>.ndjson (``ndjson``) with the labels, lengths and formats the XPT files hold and
    the SDTMIG (or trialflow's ADaM) keys; the creation date is SOURCE_DATE_EPOCH, else the
    ``run_date`` of the study in ``study_dir`` when given, else 1960-01-01. DIR/manifest.json
    is rewritten to list the new files beside the run's others. Returns the files written.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> _ = shutil.copytree(example_run().out, out / "run")  # a copy: the example stays
        >>> files = export_run(out / "run", ["dataset-json"])
        >>> [f.relative_to(out / "run").as_posix() for f in files][:2]
        ['sdtm/ae.json', 'sdtm/cm.json']
    """
    run_dir = Path(run_dir)
    if not any((run_dir / sub).is_dir() and any((run_dir / sub).glob("*.xpt"))
               for sub in ("sdtm", "adam")):  # fmt: skip
        raise RawInputError(f"{run_dir}: no sdtm/*.xpt or adam/*.xpt to export")
    study = load_study(study_dir) if study_dir is not None else None
    # the run's files (those its manifest lists, or every file of a folder without one) are
    # copied into a new folder, the new files written beside them, and the folder swapped in
    with OutputFolder(run_dir, "export", keep=lambda name: True, keep_unlisted=True) as folder:
        context = reports.manifest_context(run_dir)
        written = _export_into(folder.path, formats, study, progress, context)
        reports.write_manifest(folder.path, [*folder.kept, *written], **context)
    return [folder.final(p) for p in written]


def _export_into(
    run_dir: Path,
    formats: Sequence[str],
    study: Study | None,
    progress: Progress | None,
    context: dict,
) -> list[Path]:
    """:func:`export_run` in the new folder ``run_dir`` holding a copy of the run's files."""
    wanted = [f for f in formats if f not in ("xpt", "define")]
    folders = [run_dir / sub for sub in ("sdtm", "adam") if (run_dir / sub).is_dir()]
    sources = [p for folder in folders for p in sorted(folder.glob("*.xpt"))]
    if not sources:
        raise RawInputError(f"{run_dir}: no sdtm/*.xpt or adam/*.xpt listed in its manifest")
    created = creation_datetime(study.spec.study.run_date if study is not None else None)
    written: list[Path] = []
    described: dict[Path, list[DefineDataset]] = {}
    for path in sources:
        if progress:
            progress(f"exporting {path.parent.name}/{path.name} ({', '.join(formats)})")
        frame, meta = read_xpt(path)
        name = str(meta["dataset"] or path.stem).upper()
        variables = [
            XptVariable(
                column,
                meta["labels"].get(column, ""),
                "Num" if pd.api.types.is_float_dtype(frame[column].dtype) else "Char",
                meta["lengths"].get(column),
                meta["formats"].get(column),
            )
            for column in frame.columns
        ]
        keys = _sdtm_keys(name) if path.parent.name == "sdtm" else _adam_keys(name)
        written += _write_dataset(
            frame, path.parent, name, label=meta["label"], variables=variables, keys=keys,
            formats=wanted, created=created,
        )  # fmt: skip
        if "define" in formats:
            lineage = run_dir / "lineage" / f"{name.lower()}.csv"
            described.setdefault(path.parent, []).append(
                DefineDataset(
                    name, frame, variables, keys, meta["label"],
                    pd.read_csv(lineage, dtype=str, keep_default_na=False)
                    if path.parent.name == "sdtm" and lineage.is_file() else None,
                )
            )  # fmt: skip
    for folder, datasets in described.items():
        written += _export_define(folder, datasets, study, created, context)
    return written


def _export_define(
    folder: Path,
    datasets: list[DefineDataset],
    study: Study | None,
    created: datetime | None,
    context: dict,
) -> list[Path]:
    """define.xml of one folder of an exported run, from its XPT files' metadata."""
    studyid = str(context.get("study") or (study.studyid if study is not None else ""))
    if not studyid:
        frame = datasets[0].frame
        studyid = str(frame["STUDYID"].iloc[0]) if "STUDYID" in frame and len(frame) else "STUDY"
    kind = "adam" if folder.name == "adam" else "sdtm"
    path = write_define(
        datasets, folder, kind=kind, studyid=studyid,
        title=study.spec.study.title or "" if study is not None else "",
        spec=study.spec if study is not None else None, created=created,
        dictionaries=list(context.get("dictionaries") or []),
        source_system=("trialflow", __version__),
    )  # fmt: skip
    return [path, folder / STYLESHEET]
