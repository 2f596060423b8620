"""``trialflow validate``: read a package from files, validate it, write the reports asked for.

This module imports only the readers, the validation engine and the report writers, so that
the command starts quickly: no mapping, ADaM, analysis (scipy, matplotlib) or define.xml (lxml)
module is loaded unless a define.xml is there to check.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "dm.csv").write_text("STUDYID,DOMAIN,USUBJID\\nT1,DM,T1-001\\n")
    >>> result = validate_paths([folder], on_issue="none")
    >>> result.report.datasets
    {'DM': 1}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trialflow import __version__
from trialflow.errors import Finding, OnIssue
from trialflow.io import reports
from trialflow.io.outputs import replace_file
from trialflow.io.package import read_package
from trialflow.io.units import read_test_units
from trialflow.raw import shown_path
from trialflow.validation.core import DefineMetadata, Package, ValidationReport
from trialflow.validation.engine import validate_package

if TYPE_CHECKING:
    from trialflow.io.prefetch import XptPrefetch

__all__ = ["ValidateResult", "validate_paths"]


@dataclass
class ValidateResult:
    """What ``trialflow validate`` found: the package read and the report.

    Example:
        >>> ValidateResult(Package(), ValidationReport([]), []).findings
        []
    """

    package: Package
    report: ValidationReport
    read_findings: list[Finding]

    @property
    def findings(self) -> list[Finding]:
        """Findings about the files, then the validation findings."""
        return self.read_findings + self.report.findings


def validate_paths(
    paths: Sequence[str | Path],
    *,
    json_out: str | Path | None = None,
    xlsx_out: str | Path | None = None,
    on_issue: OnIssue = "warn",
    units: str | Path | None = None,
    prefetch: XptPrefetch | None = None,
) -> ValidateResult:
    """Read an SDTM/ADaM package from files or folders, validate it, write the reports asked for.

    ``units`` is a study's test-units CSV (:func:`trialflow.io.units.read_test_units`): its rows
    replace the shipped ones by (domain, testcd) for orresu-missing and stresu-missing.
    ``prefetch`` holds the XPT files of ``paths`` a child process parsed as the command
    started (:class:`~trialflow.io.prefetch.XptPrefetch`); the result is the same without it.

    Example:
        >>> import tempfile
        >>> from trialflow.pipeline import example_run
        >>> report = Path(tempfile.mkdtemp()) / "report.json"
        >>> r = validate_paths([example_run().out / "sdtm"], json_out=report, on_issue="none")
        >>> r.report.valid, report.is_file()
        (True, True)
    """
    expanded, submission = _submission_checks(paths)
    test_units = read_test_units(units) if units else None
    package, read_findings = read_package(expanded, prefetch=prefetch)
    package.test_units = test_units
    package.define, define_findings = _read_defines(expanded)
    submission += define_findings
    report = validate_package(package, on_issue=on_issue, jobs=2)  # the rules on two cores
    result = ValidateResult(package, report, read_findings + submission)
    context = {
        "validated": [shown_path(p) for p in paths],
        "datasets": report.datasets,
        "rules_run": report.rules_run,
        "trialflow": __version__,
    }
    if units:
        context["units"] = shown_path(units)
    # each report is written beside its path and renamed into place: a symbolic link there
    # is replaced, never written through
    if json_out:
        replace_file(json_out, lambda tmp: reports.write_report_json(result.findings, tmp,
                                                                     **context))  # fmt: skip
    if xlsx_out:
        replace_file(xlsx_out, lambda tmp: reports.write_report_xlsx(
            result.findings, tmp, datasets=report.datasets))  # fmt: skip
    return result


def _read_defines(folders: Sequence[Path]) -> tuple[DefineMetadata | None, list[Finding]]:
    """What the define.xml files of the folders read say (None when there is none), for the
    define rules; lxml is imported only when there is one."""
    paths = [p / "define.xml" for p in folders if p.is_dir() and (p / "define.xml").is_file()]
    if not paths:
        return None, []
    from trialflow.io.define_read import merge_defines, read_define

    metas, findings = [], []
    data = {".xpt", ".json", ".ndjson", ".csv", ".parquet"}
    for path in paths:
        meta, found = read_define(path)
        findings += found
        if meta is not None:
            stems = {p.stem.upper() for p in path.parent.iterdir() if p.suffix.lower() in data}
            meta.covered = frozenset(stems)
            metas.append(meta)
    return merge_defines(metas), findings


def _submission_checks(paths: Sequence[str | Path]) -> tuple[list[Path], list[Finding]]:
    """The paths to read, with a run folder (one holding sdtm/ or adam/) replaced by those
    folders, and the submission findings: in a run folder, a missing ts.xpt or define.xml;
    in any folder with a define.xml, its XSD errors and its disagreements with the XPTs.
    The define.xml module (and lxml) is imported only when a folder is to be checked."""
    expanded: list[Path] = []
    findings: list[Finding] = []
    for given in paths:
        path = Path(given)
        subs = [path / kind for kind in ("sdtm", "adam") if (path / kind).is_dir()]
        if path.is_dir() and subs:
            from trialflow.io.define import check_define

            expanded += subs
            for sub in subs:
                findings += check_define(sub, "adam" if sub.name == "adam" else "sdtm")
            continue
        expanded.append(path)
        if path.is_dir() and (path / "define.xml").is_file():
            from trialflow.io.define import check_define

            kind = "adam" if path.name == "adam" else "sdtm"
            findings += check_define(path, kind)
    return expanded, findings
