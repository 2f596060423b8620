"""`trialflow export RUN_DIR --ectd OUT`: the eCTD m5 folder and the reviewer's guide drafts."""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
from pathlib import Path

import pyreadstat
import pytest
from click.testing import CliRunner
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.adam.bds import FORMULA_TEXT
from trialflow.cli import cli
from trialflow.errors import RawInputError
from trialflow.io.ectd import write_ectd
from trialflow.pipeline import run_study

SDTM = "m5/datasets/hucmsc-t2dm/tabulations/sdtm"
ADAM = "m5/datasets/hucmsc-t2dm/analysis/adam/datasets"
SDTM_XPT = (
    "ae", "cm", "dm", "ds", "ex", "lb", "mh", "se", "suppex", "sv", "ta", "te", "ti", "ts", "tv",
    "vs",
)  # fmt: skip
ADAM_XPT = ("adae", "adcm", "addose", "adlb", "adsl", "advs")
EXPECTED_TREE = sorted(
    [f"{SDTM}/{n}.xpt" for n in SDTM_XPT]
    + [f"{SDTM}/define.xml", f"{SDTM}/define2-1.xsl", f"{SDTM}/csdrg.md"]
    + [f"{ADAM}/{n}.xpt" for n in ADAM_XPT]
    + [f"{ADAM}/define.xml", f"{ADAM}/define2-1.xsl", f"{ADAM}/adrg.md"]
)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """The example run as `trialflow run` writes it (with DIR/sdtm and DIR/adam define.xml)."""
    out = tmp_path_factory.mktemp("run") / "run"
    run_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, out, on_issue="none")
    return out


@pytest.fixture(scope="module")
def ectd(run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ectd") / "submission"
    result = CliRunner().invoke(
        cli, ["export", str(run), "--ectd", str(out), "--study", str(EXAMPLE_SPECS), "-q"]
    )
    assert result.exit_code == 0, result.output
    return out


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _table_rows(markdown: str, header: str) -> dict[str, list[str]]:
    """The rows of the Markdown tables whose header line starts with ``header``, by first
    cell (a test's own reading of the pipe tables)."""
    rows: dict[str, list[str]] = {}
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header):
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in row.strip("|").split(" | ")]
                rows[cells[0]] = cells
    return rows


def test_ectd_tree_is_exactly_the_submission_files(ectd: Path) -> None:
    assert _tree(ectd) == EXPECTED_TREE
    assert all(p == p.lower() for p in _tree(ectd))


def test_datasets_and_define_are_the_runs_bytes(ectd: Path, run: Path) -> None:
    for part, folder in (("sdtm", SDTM), ("adam", ADAM)):
        names = SDTM_XPT if part == "sdtm" else ADAM_XPT
        for name in names:
            assert (ectd / folder / f"{name}.xpt").read_bytes() == (
                run / part / f"{name}.xpt"
            ).read_bytes(), name
        define = (ectd / folder / "define.xml").read_bytes()
        assert define == (run / part / "define.xml").read_bytes()
        assert b'<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"' in define
        stylesheet = importlib.resources.files("defineutils") / "definehtml" / "define2-1.xsl"
        assert (ectd / folder / "define2-1.xsl").read_bytes() == stylesheet.read_bytes()


def test_stylesheet_beside_the_runs_define_is_preferred(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "sdtm" / "define2-1.xsl").write_bytes(b"<xsl:stylesheet/>\n")
    (copy / "sdtm" / "dm.json").write_text("{}")  # Dataset-JSON stays out of the eCTD folder
    write_ectd(copy, tmp_path / "out")
    assert _tree(tmp_path / "out") == EXPECTED_TREE
    assert (tmp_path / "out" / SDTM / "define2-1.xsl").read_bytes() == b"<xsl:stylesheet/>\n"


def test_rerun_is_byte_identical_and_force_replaces(ectd: Path, run: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    write_ectd(run, again, study_dir=EXAMPLE_SPECS)
    assert _tree(again) == _tree(ectd)
    for rel in _tree(ectd):
        assert (again / rel).read_bytes() == (ectd / rel).read_bytes(), rel
    (again / "stale.txt").write_text("from an earlier package")
    result = CliRunner().invoke(
        cli,
        ["export", str(run), "--ectd", str(again), "--study", str(EXAMPLE_SPECS), "--force", "-q"],
    )
    assert result.exit_code == 0, result.output
    assert _tree(again) == EXPECTED_TREE
    for rel in _tree(ectd):
        assert (again / rel).read_bytes() == (ectd / rel).read_bytes(), rel
    # no temporary folder left; the lock file stays beside the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [".again.trialflow.lock", "again"]


def test_missing_define_is_one_line_exit_2_and_nothing_written(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "sdtm" / "define.xml").unlink()
    out = tmp_path / "submission"
    result = CliRunner().invoke(cli, ["export", str(copy), "--ectd", str(out), "-q"])
    assert result.exit_code == 2
    line = f"Error: {copy / 'sdtm' / 'define.xml'} is missing: "
    assert result.output.startswith(line)
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_missing_adam_define_names_the_adam_file(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "adam" / "define.xml").unlink()
    with pytest.raises(
        RawInputError, match=re.escape(f"{copy / 'adam' / 'define.xml'} is missing")
    ):
        write_ectd(copy, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_non_empty_out_is_refused_and_left_alone(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "submission"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["export", str(run), "--ectd", str(out), "-q"])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {out} exists and is not empty: choose a new --ectd folder, or add --force to "
        "replace it\n"
    )
    assert _tree(out) == ["keep.txt"]


def test_out_holding_the_run_is_refused_even_with_force(run: Path) -> None:
    for out in (run, run.parent):
        result = CliRunner().invoke(cli, ["export", str(run), "--ectd", str(out), "--force"])
        assert result.exit_code == 2
        assert result.output == (
            f"Error: {out} holds the run folder {run}: choose an --ectd folder outside it\n"
        )
    assert (run / "sdtm" / "dm.xpt").is_file()


def test_empty_out_is_used(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "submission"
    out.mkdir()
    write_ectd(run, out)
    assert _tree(out) == EXPECTED_TREE


def test_export_needs_format_or_ectd(run: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(run)])
    assert result.exit_code == 2
    assert "give --format dataset-json[,ndjson][,define] or --ectd OUT" in result.output


def test_run_without_adam_gets_no_analysis_folder(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "adam")
    write_ectd(copy, tmp_path / "out")
    assert _tree(tmp_path / "out") == [p for p in EXPECTED_TREE if p.startswith(SDTM)]


def test_csdrg_holds_the_studys_values(ectd: Path, run: Path) -> None:
    text = (ectd / SDTM / "csdrg.md").read_text(encoding="utf-8")
    report = json.loads((run / "validation" / "report.json").read_text(encoding="utf-8"))
    assert "**Study HUCMSC-T2DM**" in text
    standards = _table_rows(text, "| Standard or dictionary |")
    assert standards["SDTMIG"][1] == "3.4"
    assert standards["SDTM"][1] == "2.0"
    assert standards["CDISC SDTM Controlled Terminology"][1] == "2024-09-27"
    assert standards["MedDRA (AE)"][1] == "26.1"  # the example's coding file
    assert standards["Define-XML"][1] == "2.1"
    design = _table_rows(text, "| Design (TS) |")
    assert design["Planned number of subjects"][1] == "16"  # study.yaml trial.summary.PLANSUB
    assert design["Blinding"][1] == "OPEN LABEL"
    datasets = _table_rows(text, "| Dataset | Label |")
    assert sorted(datasets) == sorted(n.upper() for n in SDTM_XPT)
    for name in SDTM_XPT:
        frame, meta = pyreadstat.read_xport(str(run / "sdtm" / f"{name}.xpt"))
        row = datasets[name.upper()]
        assert row[1] == meta.file_label
        assert int(row[3]) == len(frame), name
        subjects = frame["USUBJID"].nunique() if "USUBJID" in frame else "-"
        assert row[4] == str(subjects), name
    assert datasets["DM"][2] == "Special-Purpose"
    assert datasets["DM"][5] == "STUDYID, USUBJID"
    # the data flow counts every record of every dataset once
    section = text.split("### 3.4 Data Flow")[1].split("## 4.")[0]
    flow = [line for line in section.splitlines() if line[:2] == "| "]
    assert flow[0] == "| Source | SDTM dataset | Records |"
    totals: dict[str, int] = {}
    for line in flow[1:]:
        _source, dataset, records = (c.strip() for c in line.strip("|").split(" | "))
        totals[dataset] = totals.get(dataset, 0) + int(records)
    assert totals == {name: int(row[3]) for name, row in datasets.items()}
    assert "| raw-export.xlsx, LAB | LB |" in text
    sdtm_codes = {
        f["code"] for f in report["findings"] if not (f["dataset"] or "").startswith("AD")
    }
    findings = _table_rows(text, "| Code |")
    assert set(findings) == sdtm_codes
    for code in sdtm_codes:
        expected = sum(
            f["code"] == code and not (f["dataset"] or "").startswith("AD")
            for f in report["findings"]
        )
        assert int(findings[code][3]) == expected
        assert f"- **{code}** ({findings[code][1]}). Explanation: [sponsor to complete]" in text


def test_adrg_holds_the_analysis_values(ectd: Path, run: Path) -> None:
    text = (ectd / ADAM / "adrg.md").read_text(encoding="utf-8")
    report = json.loads((run / "validation" / "report.json").read_text(encoding="utf-8"))
    standards = _table_rows(text, "| Standard or dictionary |")
    assert standards["ADaM Implementation Guide"][1] == "1.3"
    datasets = _table_rows(text, "| Dataset | Label |")
    for name in ADAM_XPT:
        frame, _ = pyreadstat.read_xport(str(run / "adam" / f"{name}.xpt"))
        assert int(datasets[name.upper()][3]) == len(frame), name
    assert datasets["ADAE"][2] == "OCCDS"
    adsl, _ = pyreadstat.read_xport(str(run / "adam" / "adsl.xpt"))
    populations = _table_rows(text, "| Flag (ADSL) |")
    assert populations["FASFL"][1:] == [str((adsl["FASFL"] == "Y").sum()), "efficacy analyses"]
    assert populations["SAFFL"][1:] == [str((adsl["SAFFL"] == "Y").sum()), "safety analyses"]
    # study.yaml: HOMAIR and HOMAB are computed from FCP (C-peptide) and FPG (glucose)
    assert "| ADLB | HOMAIR | HOMA-IR (C-peptide) | HOMA-IR = 1.5 + FCP x FPG / 2800 " in text
    assert "HOMA-beta (%) = 0.27 x FCP / (FPG - 3.5)" in text
    assert "last non-missing value on or before TRTSDT" in text
    assert "| DAY 14 | 14 | 11 | 17 |" in text  # study.yaml: day 14, window 3
    assert "| ADLB | FCP | result below the limit of quantification: AVAL = half the limit" in text
    adam_codes = {f["code"] for f in report["findings"] if (f["dataset"] or "").startswith("AD")}
    assert set(_table_rows(text, "| Code |")) == adam_codes


def test_adrg_without_study_leaves_the_derivations_to_complete(run: Path, tmp_path: Path) -> None:
    write_ectd(run, tmp_path / "out")
    text = (tmp_path / "out" / ADAM / "adrg.md").read_text(encoding="utf-8")
    assert "The study's specification was not given (trialflow export --study)." in text
    assert "HOMA-IR =" not in text
    assert "| FASFL | 16 | [sponsor to complete] |" in text


def test_formula_text_covers_every_named_formula() -> None:
    from trialflow.adam.bds import FORMULAS

    assert set(FORMULA_TEXT) == set(FORMULAS)
    assert FORMULA_TEXT["bmi"].format(weight="WEIGHT", height="HEIGHT") == (
        "BMI = WEIGHT / (HEIGHT / 100)^2 (weight in kg, height in cm)"
    )


def test_supp_dataset_is_listed_as_a_relationship_dataset(run: Path, tmp_path: Path) -> None:
    import pandas as pd

    from trialflow.io.xpt import write_xpt

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    supp = pd.DataFrame(
        {
            "STUDYID": ["HUCMSC-T2DM"] * 2,
            "RDOMAIN": ["EX"] * 2,
            "USUBJID": ["HUCMSC-T2DM-01-001", "HUCMSC-T2DM-01-002"],
            "IDVAR": ["EXSEQ"] * 2,
            "IDVARVAL": ["1"] * 2,
            "QNAM": ["EXWEIGHT"] * 2,
            "QVAL": ["70.1", "65.0"],
        }
    )
    write_xpt(supp, copy / "sdtm" / "suppex.xpt", dataset="SUPPEX", label="Supplemental Exposure")
    write_ectd(copy, tmp_path / "out")
    assert (tmp_path / "out" / SDTM / "suppex.xpt").read_bytes() == (
        copy / "sdtm" / "suppex.xpt"
    ).read_bytes()
    text = (tmp_path / "out" / SDTM / "csdrg.md").read_text(encoding="utf-8")
    row = _table_rows(text, "| Dataset | Label |")["SUPPEX"]
    assert row[1:] == [
        "Supplemental Exposure",
        "Relationship",
        "2",
        "2",
        "STUDYID, RDOMAIN, USUBJID, IDVAR, IDVARVAL, QNAM",
        "suppex.xpt",
    ]


def test_run_with_ectd_lays_out_the_same_folder_in_the_run(ectd: Path, tmp_path: Path) -> None:
    """`trialflow run --ectd` (and `demo`) write DIR/ectd/: what `export --ectd` writes from the
    run folder, byte for byte, and listed in the manifest."""
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        ["run", str(EXAMPLE_SPECS), "--raw", str(EXAMPLE_EXPORT), "--out", str(out), "--ectd",
         "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"eCTD folder: {out / 'ectd'} (reviewer's guide drafts: adrg.md, csdrg.md)" in (
        result.output
    )
    assert _tree(out / "ectd") == EXPECTED_TREE
    for rel in EXPECTED_TREE:
        assert (out / "ectd" / rel).read_bytes() == (ectd / rel).read_bytes(), rel
    listed = {f["path"] for f in json.loads((out / "manifest.json").read_text())["files"]}
    assert {f"ectd/{rel}" for rel in EXPECTED_TREE} <= listed
