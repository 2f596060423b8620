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

XFAIL: dict[str, str] = {}
"""case id -> what fails on main (issue 14): none now; a case added for a defect not yet
fixed goes here with what fails (strict: it fails the suite once fixed)."""


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
