"""Run one corpus case through the CLI as a user would and list what a user should not get."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from corpus.cases import Case, Inputs
from corpus.conservation import consumed_columns, missing, named_by_findings
from trialflow.cli import cli


def _strict_json(text: str) -> dict:
    """json.loads that refuses NaN and Infinity, as strict parsers do."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def invoke(command: str, inputs: Inputs, out: Path):
    """The CLI's result for ``trialflow <command> STUDY --raw RAW --out OUT -q``."""
    args = [command, str(inputs.study), "--raw", str(inputs.raw), "-q"]
    args += inputs.args or ["--out", str(out)]
    return CliRunner().invoke(cli, args)


def problems_of(case: Case, inputs: Inputs, out: Path, result) -> list[str]:
    """What went wrong for a user: an empty list when the case behaves as it should."""
    problems: list[str] = []
    output = result.output
    if "internal error" in output or "Traceback" in output:
        problems.append(f"internal error: {output.strip()[-300:]}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problems.append(f"exception {type(result.exception).__name__}: {result.exception}")
    if "\x00" in output:
        problems.append("NUL bytes in the message")
    if result.exit_code not in case.exits:
        problems.append(
            f"exit {result.exit_code}, expected {sorted(case.exits)}: {output.strip()[-300:]}"
        )
    report_path = out / "validation" / "report.json"
    report_text = ""
    if report_path.exists():
        report_text = report_path.read_text(encoding="utf-8")
        try:
            report = _strict_json(report_text)
        except ValueError as exc:
            problems.append(f"report.json is not strict JSON: {exc}")
            try:
                report = json.loads(report_text)
            except ValueError:
                report = {"findings": []}
        failed = sorted({f["code"] for f in report["findings"] if f["code"] == "rule-failed"})
        if failed:
            messages = [f["message"][:120] for f in report["findings"] if f["code"] in failed]
            problems.append(f"rules failed: {messages[:2]}")
    if result.exit_code == 2 and out.exists():
        # a refused run may leave its report (the problems it found) and the manifest of that
        # folder (status "refused"), never a partial output
        report_files = {
            Path("validation/report.json"),
            Path("validation/report.xlsx"),
            Path("manifest.json"),
        }
        written = {p.relative_to(out) for p in out.rglob("*") if p.is_file()} - report_files
        if written:
            problems.append(f"exit 2 but a partial output is left: {len(written)} files")
    if result.exit_code in (0, 1) and case.command in ("map", "run"):
        if not report_path.exists():
            problems.append("no validation/report.json")
        elif case.conserve:
            lost = missing(
                inputs.raw, out, consumed=consumed_columns(inputs.study), encoding=inputs.encoding
            )
            if lost:
                problems.append(f"{len(lost)} not conserved: " + "; ".join(lost[:4]))
    if case.names:
        named = named_by_findings(out) if report_path.exists() else []
        for sheet, row, column in case.names:
            if not any(
                s == sheet and (r in (row, None)) and (c in (column, None)) and (r or c)
                for s, r, c in named
            ):
                problems.append(f"no finding names {sheet} row {row} {column}")
    # the case's own folder is named after it: its path must not answer for the message
    said = (output + report_text).replace(str(out.parent), "<case folder>")
    if case.says and not re.search(case.says, said):
        problems.append(f"output does not say /{case.says}/: {output.strip()[-200:]}")
    return problems
