"""Light commands import only what they use (issue 13, item 4: a fast `trialflow validate`).

Each command runs in a fresh interpreter, which then prints the modules it has loaded; the
analysis stack (scipy, matplotlib), the mapping and ADaM derivation, and the define.xml
machinery (lxml) must not be among them unless the command's input needs them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from trialflow.io.xpt import write_xpt

ROOT = Path(__file__).resolve().parents[1]

# Run the command as the console entry does, then report sys.modules (top-level names and
# trialflow's own modules) as JSON on the last line of stdout.
PROBE = """
import json, sys
from trialflow.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="trialflow")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
names = {m.split(".")[0] for m in sys.modules}
names |= {m for m in sys.modules if m.startswith("trialflow")}
print(json.dumps({"exit": code, "modules": sorted(names)}))
"""

ANALYSIS_STACK = {"scipy", "matplotlib"}
PIPELINE = {
    "trialflow.pipeline",
    "trialflow.mapping",
    "trialflow.mapping.spec",
    "trialflow.mapping.load",
    "trialflow.sdtm.design",
    "trialflow.sdtm.build",
    "trialflow.adam.build",
    "trialflow.adam.bds",
    "trialflow.analysis",
    "trialflow.analysis.build",
    "trialflow.raw.odm",
    "trialflow.synth",
}
DEFINE = {"lxml", "trialflow.io.define"}


def loaded(*args: str) -> tuple[object, set[str]]:
    """The exit code of ``trialflow ARGS`` in a new interpreter and the modules it loaded."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["exit"], set(report["modules"])


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """A small SDTM folder of XPT files: DM and VS."""
    folder = tmp_path_factory.mktemp("package")
    dm = pd.DataFrame(
        {
            "STUDYID": ["S1", "S1"],
            "DOMAIN": ["DM", "DM"],
            "USUBJID": ["S1-001", "S1-002"],
            "SUBJID": ["001", "002"],
            "AGE": [34.0, 51.0],
            "SEX": ["F", "M"],
        }
    )
    vs = pd.DataFrame(
        {
            "STUDYID": ["S1"] * 2,
            "DOMAIN": ["VS"] * 2,
            "USUBJID": ["S1-001", "S1-002"],
            "VSSEQ": [1.0, 1.0],
            "VSTESTCD": ["SYSBP", "SYSBP"],
            "VSTEST": ["Systolic Blood Pressure"] * 2,
            "VSORRES": ["120", "131"],
            "VSORRESU": ["mmHg", "mmHg"],
        }
    )
    write_xpt(dm, folder / "dm.xpt", dataset="DM")
    write_xpt(vs, folder / "vs.xpt", dataset="VS")
    return folder


def test_validate_loads_neither_the_analysis_stack_nor_the_pipeline(package, tmp_path):
    code, modules = loaded("validate", str(package), "--json", str(tmp_path / "r.json"))
    assert code in (0, 1)  # it ran: findings or not
    assert (tmp_path / "r.json").is_file()
    assert "trialflow.validation.engine" in modules  # the probe sees what the command loaded
    assert modules & (ANALYSIS_STACK | PIPELINE | DEFINE | {"openpyxl"}) == set()
    assert modules & {"dask", "distributed", "trialflow.scale"} == set()  # only trialflow.scale


def test_validate_loads_openpyxl_only_for_a_workbook(package, tmp_path):
    _, modules = loaded("validate", str(package), "--xlsx", str(tmp_path / "r.xlsx"))
    assert (tmp_path / "r.xlsx").is_file()
    assert "openpyxl" in modules  # which loads lxml itself when it is installed
    assert modules & (ANALYSIS_STACK | PIPELINE | {"trialflow.io.define"}) == set()


def test_validate_loads_the_define_checker_only_beside_a_define_xml(package, tmp_path):
    folder = tmp_path / "sdtm"
    folder.mkdir()
    for path in package.glob("*.xpt"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "define.xml").write_text("<not-a-define/>\n")
    code, modules = loaded("validate", str(folder), "--json", str(tmp_path / "r.json"))
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert code == 1 and any(f["code"] == "define-xsd-invalid" for f in findings)
    assert modules >= DEFINE
    assert modules & (ANALYSIS_STACK | PIPELINE) == set()


@pytest.mark.parametrize(
    "args",
    [("rules",), ("rules", "--markdown"), ("ct", "search", "glucose"), ("spec-docs",)],
)
def test_catalogue_and_lookup_commands_stay_light(args):
    code, modules = loaded(*args)
    assert code == 0
    assert modules & (ANALYSIS_STACK | DEFINE | {"openpyxl"}) == set()
    assert modules & (PIPELINE - {"trialflow.mapping", "trialflow.mapping.spec"}) == set()


def test_validate_imports_pandera_only_when_a_dataset_check_fails(package, tmp_path):
    """Every column and key check passes on this package before pandera is needed, so
    pandera (half a second of import) is never loaded; one value outside its codelist brings it
    in, and pandera reports the failure as the dataset rules always have."""
    code, modules = loaded("validate", str(package), "--json", str(tmp_path / "r.json"))
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert not [f for f in findings if f["code"] == "ct-value-not-in-codelist"]
    assert "pandera" not in modules

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "vs.xpt").write_bytes((package / "vs.xpt").read_bytes())
    dm = pd.DataFrame(
        {
            "STUDYID": ["S1", "S1"],
            "DOMAIN": ["DM", "DM"],
            "USUBJID": ["S1-001", "S1-002"],
            "SUBJID": ["001", "002"],
            "AGE": [34.0, 51.0],
            "SEX": ["F", "X"],
        }
    )
    write_xpt(dm, folder / "dm.xpt", dataset="DM")
    code, modules = loaded("validate", str(folder), "--json", str(tmp_path / "bad.json"))
    findings = json.loads((tmp_path / "bad.json").read_text())["findings"]
    ct = [
        (f["dataset"], f["record"], f["value"])
        for f in findings
        if f["code"] == "ct-value-not-in-codelist"
    ]
    assert code == 1 and ct == [("DM", 2, "X")]
    assert "pandera" in modules
