"""The bad-input corpus of issue 14: each malformed input run through the CLI as a user would.

For every case: the exit code is one the case accepts (0 clean, 1 errors in the data, 2 input
that can't be used), no internal error or traceback reaches the user, report.json is strict
JSON with no rule that failed, an unusable input leaves no output behind, and a run that read
its input conserves it: every raw row and non-empty value is in an SDTM record or named by a
finding (corpus.conservation). Cases that fail on main are marked xfail(strict=True) with what
fails; the fix of that defect makes the case pass, and then its marker must go.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from corpus.cases import CASES, SPECS, Case, make_base
from corpus.harness import _strict_json, invoke, problems_of
from corpus.packages import PACKAGES, Package
from trialflow.cli import cli

PARTIAL = "; a partial SDTM is left in --out"

XFAIL: dict[str, str] = {
    # columns and layout: raw data the spec does not read is ignored without a word (item 1)
    "hidden-extra-sheet": "a hidden sheet the spec does not read (VITALS_OLD) is ignored "
    "without a finding: its row is lost",
    "visible-extra-sheet": "an extra sheet the spec does not read (NOTES) is ignored without "
    "a finding: its row is lost",
    "merged-subject-cells": "a row whose SUBJ is empty (merged cell) crashes the report "
    "writer on the NaN usubjid of raw-subject-missing: internal error TypeError, report.json "
    "left truncated" + PARTIAL,
    # formula and error cells read as empty (item 1)
    "formula-no-cached-value": "a formula cell without a cached value is read as empty: the "
    "VS record vanishes with exit 0 and no finding",
    "error-cell-na": "an #N/A error cell is read as empty: the VS record vanishes with exit 0 "
    "and no finding",
    # dates outside pandas' range (item 2)
    "date-year-1": "AE start 0001-01-01 ends in internal error OutOfBoundsDatetime",
    "date-year-9999": "DS date 9999-12-31 ends in internal error OutOfBoundsDatetime",
    # subjects (item 2)
    "duplicate-subject-map": "a duplicate DEMOG row ends in internal error InvalidIndexError "
    "instead of key-not-unique",
    "duplicate-subject-run": "a duplicate DEMOG row ends in internal error InvalidIndexError",
    "subject-blank": "a LAB row without SUBJ crashes the report writer on the NaN usubjid of "
    "raw-subject-missing: internal error TypeError, report.json left truncated" + PARTIAL,
    # files (item 3)
    "encrypted-xlsx": "an encrypted .xlsx (OLE2) says 'the file is not a zip', not that it is "
    "encrypted",
    "renamed-xls": "an .xls renamed .xlsx says 'the file is not a zip', not what the file is",
    "renamed-ods": "an .ods renamed .xlsx says \"File not found '_rels/.rels'\"",
    # CSV files (items 1, 3, 4)
    "csv-gbk": "GBK is decoded as cp1252 and the mojibake shown (xpt-value-not-ascii "
    "'·¢ÈÈ'); the encoding is not named",
    "csv-utf16": "UTF-16 is not detected: the message lists the header with NUL bytes",
    "csv-unterminated-quote": "an unterminated quote merges VITALS rows with exit 0 and no "
    "error naming the line",
    "csv-non-utf8-folder-name": "a non-UTF-8 folder name ends in internal error UnicodeEncodeError",
    # output locations (item 2)
    "out-below-a-file": "--out below a file ends in internal error NotADirectoryError, after "
    "the whole mapping ran",
    "out-dangling-symlink": "--out a dangling symlink ends in internal error FileExistsError, "
    "after the whole mapping ran",
    # validate (items 1, 2, 3)
    "validate-corrupt-namestr": "a corrupt XPT namestr record is reported as 'the file is "
    "truncated'",
    "validate-json-integer-overflow": "AGE 10**30 in Dataset-JSON is accepted: no finding "
    "names the row and column",
    "validate-parquet-year-1": "parquet date32 year 1 makes rules fail (rule-failed "
    "OutOfBoundsDatetime)",
}
"""case id -> what fails on main (issue 14), grouped by the issue's items."""


def _param(item: Case | Package) -> pytest.param:
    marks = []
    if item.id in XFAIL:
        marks.append(pytest.mark.xfail(strict=True, reason=f"issue 14: {XFAIL[item.id]}"))
    return pytest.param(item, id=item.id, marks=marks)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example export cut to two subjects (see corpus.cases.make_base)."""
    return make_base(tmp_path_factory.mktemp("corpus") / "base.xlsx")


@pytest.fixture(scope="module")
def base_sdtm(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SDTM folder (XPT and Dataset-JSON) the base maps to: the clean package."""
    out = tmp_path_factory.mktemp("base-run") / "out"
    args = ["map", str(SPECS), "--raw", str(base), "--out", str(out), "-q"]
    result = CliRunner().invoke(cli, [*args, "--format", "xpt,dataset-json"])
    assert result.exit_code == 0, result.output
    return out / "sdtm"


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) + len(PACKAGES) >= 60
    assert len({case.id for case in CASES} | {p.id for p in PACKAGES}) == len(CASES) + len(PACKAGES)
    assert set(XFAIL) <= {case.id for case in CASES} | {p.id for p in PACKAGES}


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_case(case: Case, base: Path, tmp_path: Path) -> None:
    inputs = case.make(base, tmp_path)
    out = tmp_path / "out"
    result = invoke(case.command, inputs, out)
    assert problems_of(case, inputs, out, result) == []


@pytest.mark.parametrize("package", [_param(package) for package in PACKAGES])
def test_validate_package(package: Package, base_sdtm: Path, tmp_path: Path) -> None:
    path = package.make(base_sdtm, tmp_path)
    report = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["validate", str(path), "--json", str(report)])
    output = result.output
    assert "internal error" not in output and "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert result.exit_code in package.exits, output
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    if text:
        findings = _strict_json(text)["findings"]
        assert [f["message"] for f in findings if f["code"] == "rule-failed"] == []
    if package.says:
        said = (output + text).replace(str(tmp_path), "<case folder>")
        assert re.search(package.says, said), output
