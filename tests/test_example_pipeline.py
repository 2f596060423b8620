"""examples/pipeline.py: the whole pipeline from Python runs, and writes what it says."""

import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pyreadstat

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "pipeline.py"


def test_the_notebook_style_script_is_about_a_dozen_lines():
    code = [
        line for line in SCRIPT.read_text().splitlines()
        if line.strip() and not line.startswith(("import", "from", "    ", ")", '"""'))
        and not line.strip().startswith("#")
    ]  # fmt: skip
    # the statements after the imports: read, map, validate, derive, analyse, write, print
    assert 8 <= len(code) <= 16, code


def test_the_script_runs_the_pipeline_into_a_folder(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-W", "ignore", str(SCRIPT), str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"files in {out}")
    assert "0 validation errors" in result.stdout

    # the raw DEMOG sheet read with openpyxl (not trialflow's reader): one row per subject
    book = openpyxl.load_workbook(ROOT / "examples" / "hucmsc-t2dm" / "raw-export.xlsx",
                                  read_only=True)  # fmt: skip
    rows = [r for r in book["DEMOG"].iter_rows(min_row=2, values_only=True) if any(r)]
    subjects = {str(r[1]) for r in rows}  # SUBJ is the second column
    book.close()
    assert len(subjects) == len(rows) == 16  # `make example`: synth --subjects 16

    dm, _ = pyreadstat.read_xport(str(out / "sdtm" / "dm.xpt"))
    adsl, _ = pyreadstat.read_xport(str(out / "adam" / "adsl.xpt"))
    assert len(dm) == len(adsl) == len(subjects)
    assert set(dm["USUBJID"]) == set(adsl["USUBJID"])
    for name in ("vs", "lb", "ex", "ae"):
        assert (out / "sdtm" / f"{name}.xpt").is_file()
        assert (out / "lineage" / f"{name}.csv").is_file()
    for name in ("adlb", "advs", "adae"):
        assert (out / "adam" / f"{name}.xpt").is_file()
    html = (out / "analysis" / "report.html").read_text(encoding="utf-8")
    assert "HUCMSC-T2DM" in html
    assert (out / "analysis" / "cfb_summary.csv").is_file()
