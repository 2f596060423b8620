"""Nothing silent: a spec entry that selects nothing is an error naming study.yaml's line.

Each case used to pass with exit 0 and a plausible report: a parameter whose ``where`` matches
no record (a typo made FASFL N for everyone and the analysis empty), a population flag that is
N for every subject, a computed parameter missing an input.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.adam.build import build_adam
from trialflow.analysis.build import build_analysis
from trialflow.cli import cli
from trialflow.mapping.load import load_study
from trialflow.mapping.spec import StudySpec
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm


@pytest.fixture(scope="module")
def sdtm():
    """The example's SDTM (the adam section plays no part in it)."""
    study = load_study(EXAMPLE_SPECS)
    return build_sdtm(study, read_export(EXAMPLE_EXPORT), on_issue="none").domains


def _study(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """A copy of the example study with one edit; returns study.yaml and the edited line."""
    folder = tmp_path / "study"
    shutil.copytree(EXAMPLE_SPECS, folder)
    path = folder / "study.yaml"
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    line = next(i for i, row in enumerate(path.read_text().splitlines(), 1) if new in row)
    return path, line


def _line(path: Path, text: str) -> int:
    return next(i for i, row in enumerate(path.read_text().splitlines(), 1) if text in row)


def _errors(findings, code: str) -> list[str]:
    return [f.message for f in findings if f.code == code and f.severity == "error"]


def test_a_where_that_matches_nothing_names_the_parameter_line(sdtm, tmp_path):
    path, line = _study(tmp_path, "where: {LBTESTCD: HBA1C}", "where: {LBTESTCD: HBA1X}")
    study = load_study(path.parent)
    adam = build_adam(study.spec, sdtm, on_issue="none", locate=study.locate)
    [message] = _errors(adam.findings, "adam-parameter-no-records")
    # the parameter's entry starts on the line before its where
    assert message.startswith(f"{path}:{line - 1}: adam.datasets.ADLB.parameters[2]: HBA1C: ")
    assert "where {LBTESTCD: HBA1X} matches no LB record; ADLB has no HBA1C records" in message
    # the typo left FASFL N for everyone: that is an error too, at full_analysis
    [fasfl] = _errors(adam.findings, "adam-population-empty")
    where = _line(path, "full_analysis: [FPG, HBA1C]")
    assert fasfl.startswith(f"{path}:{where}: adam.adsl.full_analysis: FASFL is N for every ")
    assert "subjects with a change: FPG 16, HBA1C 0" in fasfl
    assert set(adam.datasets["ADSL"]["FASFL"]) == {"N"}
    # ... and the analysis of that population is empty, which the analysis says at its key
    result = build_analysis(study.spec, adam.datasets, {}, {}, locate=study.locate)
    [empty] = _errors(result.findings, "analysis-population-empty")
    population = _line(path, "  population: FASFL")
    assert empty.startswith(f"{path}:{population}: analysis.population: FASFL is N for every")
    assert "analysis-population-empty" in result.html


def test_a_computed_parameter_without_an_input_names_its_line(sdtm, tmp_path):
    path, _ = _study(
        tmp_path,
        "where: {LBTESTCD: CPEPTIDE, LBFAST: Y}",
        "where: {LBTESTCD: CPEPTID, LBFAST: Y}",
    )
    study = load_study(path.parent)
    adam = build_adam(study.spec, sdtm, on_issue="none", locate=study.locate)
    assert len(_errors(adam.findings, "adam-parameter-no-records")) == 1  # FCP
    computed = _errors(adam.findings, "adam-computed-input-missing")
    homair = _line(path, "- {paramcd: HOMAIR")
    homab = _line(path, "- {paramcd: HOMAB")
    assert computed == [
        f"{path}:{homair}: adam.datasets.ADLB.computed[0]: HOMAIR (homa_ir_cpeptide) has no "
        "value for any subject: its input FCP (cpeptide) has no record with a value",
        f"{path}:{homab}: adam.datasets.ADLB.computed[1]: HOMAB (homa_b_cpeptide) has no "
        "value for any subject: its input FCP (cpeptide) has no record with a value",
    ]


def test_nobody_treated_names_the_treatment_line(sdtm, tmp_path):
    path, line = _study(tmp_path, "treatment: {domain: EX, min_dose: 0, end: EXSTDTC}",
                        "treatment: {domain: EX, min_dose: 5, end: EXSTDTC}")  # fmt: skip
    study = load_study(path.parent)
    adam = build_adam(study.spec, sdtm, on_issue="none", locate=study.locate)
    [message] = _errors(adam.findings, "adam-population-empty")
    assert message.startswith(f"{path}:{line}: adam.treatment: SAFFL is N for every subject (16)")
    assert "EXDOSE above 5" in message


def test_the_example_has_none_of_these_errors(sdtm):
    study = load_study(EXAMPLE_SPECS)
    adam = build_adam(study.spec, sdtm, on_issue="none", locate=study.locate)
    codes = {"adam-parameter-no-records", "adam-computed-input-missing", "adam-population-empty"}
    assert not [f for f in adam.findings if f.code in codes]


def test_inputs_never_measured_together_are_named():
    spec = StudySpec.model_validate(
        {
            "study": {"studyid": "S"},
            "domains": ["DM", "EX", "LB"],
            "arms": [{"armcd": "A", "arm": "A"}],
            "visits": [{"visitnum": 1, "visit": "DAY 0", "day": 0, "window": 3}],
            "adam": {
                "treatment": {},
                "baseline": {"rule": "last_on_or_before"},
                "analysis_visits": {"by": "window", "reference": "first_treatment",
                                    "windows": "schedule"},
                "datasets": {"ADLB": {"source": "LB", "parameters": [
                    {"paramcd": "FPG", "param": "FPG", "where": {"LBTESTCD": "GLUC"}},
                    {"paramcd": "FCP", "param": "FCP", "where": {"LBTESTCD": "CPEPTIDE"}}],
                    "computed": [{"paramcd": "HOMAIR", "param": "HOMA-IR",
                                  "formula": "homa_ir_cpeptide",
                                  "inputs": {"cpeptide": "FCP", "glucose": "FPG"}}]}},
            },
        }
    )  # fmt: skip
    dm = pd.DataFrame({"USUBJID": ["1"], "ARM": ["A"], "ARMCD": ["A"]})
    ex = pd.DataFrame({"USUBJID": ["1"], "EXDOSE": [1.0], "EXSTDTC": ["2020-01-10"]})
    lb = pd.DataFrame(
        {"USUBJID": ["1", "1"], "LBSEQ": [1.0, 2.0], "LBTESTCD": ["GLUC", "CPEPTIDE"],
         "LBSTRESN": [8.0, 600.0], "LBDTC": ["2020-01-01", "2020-01-02"],
         "VISITNUM": [1.0, 1.0], "VISIT": ["DAY 0", "DAY 0"]}
    )  # fmt: skip
    adam = build_adam(spec, {"DM": dm, "EX": ex, "LB": lb}, on_issue="none")
    [message] = _errors(adam.findings, "adam-computed-input-missing")
    # without a study folder the finding names the key
    assert message == (
        "study.yaml: adam.datasets.ADLB.computed[0]: HOMAIR (homa_ir_cpeptide) has no value "
        "for any subject: its inputs FCP, FPG are never there with a value for the same "
        "subject, visit and date"
    )


def test_run_exits_1_and_prints_the_line(tmp_path):
    path, line = _study(tmp_path, "where: {LBTESTCD: HBA1C}", "where: {LBTESTCD: HBA1X}")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["run", str(path.parent), "--raw", str(EXAMPLE_EXPORT), "--out", str(out), "-q"]
    )
    assert result.exit_code == 1, result.output
    assert f"{path}:{line - 1}: adam.datasets.ADLB.parameters[2]: HBA1C: where" in result.output
    report = (out / "analysis" / "report.html").read_text()
    assert "analysis-population-empty" in report
