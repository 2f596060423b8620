"""Inputs that ended in "internal error" (issue 14, item 2): a duplicate subject row, dates
outside pandas' nanosecond range, a row without a subject in report.json, and output paths
that can't be written. Each now gives findings or one line, never a traceback."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from support import EXAMPLE_SPECS, tiny_sheets, write_csv_export

from trialflow.cli import cli
from trialflow.io.xpt import read_xpt, write_xpt


def strict_json(path: Path) -> object:
    """json.loads that refuses NaN, Infinity and -Infinity, as strict parsers do."""

    def refuse(name: str) -> object:
        raise ValueError(f"bare {name} in {path.name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def invoke(*args: str):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "internal error" not in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


# --- 1. a duplicate subject row in DEMOG ------------------------------------------------------


def test_run_with_a_duplicate_subject_row_reports_it_and_writes_the_report(tmp_path):
    sheets = tiny_sheets()
    # the same subject again, with another birth date: CSV row 4 (header, 01-001, 02-001)
    sheets["DEMOG"].append(dict(sheets["DEMOG"][0], BIRTH_DT="1967-01-01"))
    raw = write_csv_export(tmp_path / "raw", sheets)
    out = tmp_path / "out"
    # an earlier, clean run into the same folder: its ADaM and analysis must not survive
    clean = write_csv_export(tmp_path / "clean", tiny_sheets())
    assert invoke("run", EXAMPLE_SPECS, "--raw", clean, "--out", out, "-q").exit_code in (0, 1)
    assert (out / "adam" / "adsl.xpt").is_file() and (out / "lineage" / "adsl.csv").is_file()
    result = invoke("run", EXAMPLE_SPECS, "--raw", raw, "--out", out, "-q")
    assert result.exit_code == 1, result.output  # errors in the data, not a crash
    report = strict_json(out / "validation" / "report.json")
    found = report["findings"]
    [dup] = [f for f in found if f["code"] == "raw-duplicate-record" and f["dataset"] == "DM"]
    assert dup["source"] == {"file": "raw/DEMOG.csv", "sheet": "DEMOG", "row": 4, "column": "SUBJ"}
    assert dup["usubjid"] == "HUCMSC-T2DM-01-001"
    [skipped] = [f for f in found if f["code"] == "adam-not-derived"]
    assert skipped["severity"] == "warning"
    assert "DM has 2 records for subject HUCMSC-T2DM-01-001 (records 1, 2)" in skipped["message"]
    assert "adam-not-derived" in result.output
    # SDTM, lineage, the reports and the manifest; no ADaM, nothing partial
    assert sorted(p.name for p in out.iterdir()) == [
        "lineage",
        "manifest.json",
        "sdtm",
        "validation",
    ]
    assert sorted(p.name for p in (out / "validation").iterdir()) == ["report.json", "report.xlsx"]
    assert not [p.name for p in (out / "lineage").iterdir() if p.name.startswith("ad")]
    manifest = strict_json(out / "manifest.json")
    listed = json.dumps(manifest)
    assert "validation/report.json" in listed and "adam/" not in listed
    dm, _ = read_xpt(out / "sdtm" / "dm.xpt")
    assert dm["BRTHDTC"].tolist() == ["1966-05-20", "1967-01-01", "1970-12-12"]


def test_derive_on_sdtm_with_a_duplicate_subject_is_one_line(tmp_path):
    sheets = tiny_sheets()
    sheets["DEMOG"].append(dict(sheets["DEMOG"][0]))
    raw = write_csv_export(tmp_path / "raw", sheets)
    mapped = invoke("map", EXAMPLE_SPECS, "--raw", raw, "--out", tmp_path / "m", "-q")
    assert mapped.exit_code == 1
    result = invoke(
        "derive", EXAMPLE_SPECS, "--sdtm", tmp_path / "m" / "sdtm", "--out", tmp_path / "d", "-q"
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: ADaM not derived: DM has 2 records for subject HUCMSC-T2DM-01-001 (records 1, 2); "
        "ADSL needs one DM record per subject (fix the duplicate subject rows of the raw export)"
    ]


# --- 2. dates outside pandas' nanosecond range ------------------------------------------------


@pytest.fixture(scope="module")
def mapped(tmp_path_factory) -> Path:
    """SDTM of the tiny export: DIR/sdtm/dm.xpt, vs.xpt, ..."""
    base = tmp_path_factory.mktemp("mapped")
    raw = write_csv_export(base / "raw", tiny_sheets())
    result = CliRunner().invoke(
        cli, ["map", str(EXAMPLE_SPECS), "--raw", str(raw), "--out", str(base / "out"), "-q"]
    )
    assert result.exit_code == 0, result.output
    return base / "out" / "sdtm"


def _seeded_vs(mapped: Path, date: str) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
    """VS with record 1 dated ``date`` and, for another record, a --DY 3 days off."""
    dm, _ = read_xpt(mapped / "dm.xpt")
    vs, _ = read_xpt(mapped / "vs.xpt")
    other = int(vs.index[vs["VSDY"].notna() & (vs.index > 0)][0])
    vs.loc[0, "VSDTC"] = date
    vs.loc[other, "VSDY"] = vs.loc[other, "VSDY"] + 3
    return dm, vs, 0, other


def _expected_day(date: str, rfstdtc: str) -> int:
    """SDTM study day by the standard's definition (no day 0), from Python's calendar."""
    delta = (datetime.date.fromisoformat(date) - datetime.date.fromisoformat(rfstdtc[:10])).days
    return delta if delta < 0 else delta + 1


def _check_days(
    report: dict, dm: pd.DataFrame, vs: pd.DataFrame, first: int, other: int, date: str
) -> None:
    found = report["findings"]
    assert [f for f in found if f["code"] == "rule-failed"] == []
    mismatch = {f["record"]: f for f in found if f["code"] == "study-day-mismatch"}
    assert set(mismatch) == {first + 1, other + 1}
    rfstdtc = dm.set_index("USUBJID")["RFSTDTC"]
    want = _expected_day(date, rfstdtc[vs.loc[first, "USUBJID"]])
    assert f"give study day {want} (there is no day 0)" in mismatch[first + 1]["message"]
    original = _expected_day(vs.loc[other, "VSDTC"], rfstdtc[vs.loc[other, "USUBJID"]])
    assert original == vs.loc[other, "VSDY"] - 3
    assert f"set VSDY to {original}." in mismatch[other + 1]["message"]


@pytest.mark.parametrize("date", ["0001-01-01", "9999-12-31"])
def test_dates_outside_pandas_range_fail_no_rule_and_other_records_are_judged(
    mapped, tmp_path, date
):
    dm, vs, first, other = _seeded_vs(mapped, date)
    package = tmp_path / "package"
    package.mkdir()
    write_xpt(dm, package / "dm.xpt", dataset="DM")
    write_xpt(vs, package / "vs.xpt", dataset="VS")
    result = invoke("validate", package, "--json", tmp_path / "r.json")
    assert result.exit_code == 1
    assert "rule-failed" not in result.output
    _check_days(strict_json(tmp_path / "r.json"), dm, vs, first, other, date)


def test_parquet_date32_of_year_1_is_a_date(mapped, tmp_path):
    dm, vs, first, other = _seeded_vs(mapped, "0001-01-01")
    package = tmp_path / "package"
    package.mkdir()
    pq.write_table(pa.Table.from_pandas(dm, preserve_index=False), package / "dm.parquet")
    dates = [datetime.date.fromisoformat(v[:10]) for v in vs["VSDTC"]]
    table = pa.Table.from_pandas(vs.drop(columns=["VSDTC"]), preserve_index=False)
    table = table.append_column("VSDTC", pa.array(dates, pa.date32()))
    pq.write_table(table, package / "vs.parquet")
    result = invoke("validate", package, "--json", tmp_path / "r.json")
    assert result.exit_code == 1
    vs["VSDTC"] = [d.isoformat() for d in dates]
    _check_days(strict_json(tmp_path / "r.json"), dm, vs, first, other, "0001-01-01")


def test_run_with_raw_dates_of_year_1_and_9999_fails_no_rule(tmp_path):
    sheets = tiny_sheets()
    sheets["DEMOG"][0]["BIRTH_DT"] = "0001-01-01"
    sheets["DEMOG"][1]["CONSENT_DT"] = "9999-12-31"
    sheets["INFUSION"][0]["INF_DATE"] = "0001-01-01"
    raw = write_csv_export(tmp_path / "raw", sheets)
    out = tmp_path / "out"
    result = invoke("run", EXAMPLE_SPECS, "--raw", raw, "--out", out, "-q")
    assert result.exit_code in (0, 1), result.output
    found = strict_json(out / "validation" / "report.json")["findings"]
    assert [f for f in found if f["code"] == "rule-failed"] == []
    dm, _ = read_xpt(out / "sdtm" / "dm.xpt")
    assert dm["BRTHDTC"].tolist()[0] == "0001-01-01"
    assert dm["RFICDTC"].tolist()[1] == "9999-12-31"
    assert (out / "adam" / "adsl.xpt").exists()


# --- 3. report.json is strict JSON ------------------------------------------------------------


def test_a_row_without_subject_is_null_in_strict_report_json(tmp_path):
    sheets = tiny_sheets()
    sheets["VITALS"][1]["SUBJ"] = ""  # CSV row 3 of VITALS
    raw = write_csv_export(tmp_path / "raw", sheets)
    out = tmp_path / "out"
    result = invoke("map", EXAMPLE_SPECS, "--raw", raw, "--out", out, "-q")
    assert result.exit_code == 1, result.output
    report = strict_json(out / "validation" / "report.json")
    [missing] = [f for f in report["findings"] if f["code"] == "raw-subject-missing"]
    assert missing["usubjid"] is None and missing["value"] is None
    assert missing["source"] == {
        "file": "raw/VITALS.csv",
        "sheet": "VITALS",
        "row": 3,
        "column": "SUBJ",
    }
    text = (out / "validation" / "report.json").read_text(encoding="utf-8")
    assert "NaN" not in text
    assert not [f["message"] for f in report["findings"] if "nan" in f["message"].split()]
    assert "nan" not in result.output.split()


def test_report_writer_writes_null_for_a_nan_that_reaches_a_finding(tmp_path):
    from trialflow.errors import Finding
    from trialflow.io.reports import write_report_json

    nan = float("nan")
    finding = Finding("x-code", "error", "m", usubjid=nan, value=nan, record=nan)  # type: ignore[arg-type]
    body = strict_json(write_report_json([finding], tmp_path / "r.json"))
    assert body["findings"][0]["usubjid"] is None
    assert body["findings"][0]["value"] is None and body["findings"][0]["record"] is None


# --- 4. output locations checked first --------------------------------------------------------


@pytest.fixture
def no_mapping(monkeypatch):
    """Any attempt to load a study, read a package or build the example fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the output location must be checked before any work")

    import trialflow.io.validate
    import trialflow.pipeline

    for name in ("load_study", "read_export"):
        monkeypatch.setattr(trialflow.pipeline, name, refuse)
    monkeypatch.setattr(trialflow.io.validate, "validate_paths", refuse)
    monkeypatch.setattr(trialflow.pipeline, "export_run", refuse)


@pytest.fixture
def places(tmp_path) -> dict[str, Path]:
    """A regular file and a symbolic link to nothing."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    return {"file": a_file, "dangling": dangling}


def _before(tmp_path: Path) -> set[str]:
    return {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}


def _one_line(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [expected]


def _commands(out: Path, sdtm: Path) -> dict[str, list[str]]:
    raw = str(sdtm)  # any existing path: nothing may read it
    return {
        "run": ["run", str(EXAMPLE_SPECS), "--raw", raw, "--out", str(out), "-q"],
        "map": ["map", str(EXAMPLE_SPECS), "--raw", raw, "--out", str(out), "-q"],
        "derive": ["derive", str(EXAMPLE_SPECS), "--sdtm", raw, "--out", str(out), "-q"],
        "demo": ["demo", "--out", str(out), "-q"],
        "report": ["report", str(EXAMPLE_SPECS), "--adam", raw, "--out", str(out), "-q"],
    }


@pytest.mark.parametrize("command", ["run", "map", "derive", "demo", "report"])
def test_out_below_a_file_is_one_line_before_any_mapping(command, places, tmp_path, no_mapping):
    out = places["file"] / "out"
    before = _before(tmp_path)
    result = invoke(*_commands(out, tmp_path)[command])
    _one_line(
        result,
        f"Error: --out {out}: {places['file']} is a file, not a folder; choose another --out",
    )
    assert _before(tmp_path) == before


@pytest.mark.parametrize("command", ["run", "map", "derive", "demo", "report"])
@pytest.mark.parametrize("below", [False, True])
def test_out_a_dangling_symlink_is_one_line_before_any_mapping(
    command, below, places, tmp_path, no_mapping
):
    link = places["dangling"]
    out = link / "sub" if below else link
    before = _before(tmp_path)
    result = invoke(*_commands(out, tmp_path)[command])
    _one_line(
        result,
        f"Error: --out {out}: {link} is a symbolic link to {tmp_path / 'nowhere'}, "
        "which does not exist; create its target or choose another --out",
    )
    assert _before(tmp_path) == before
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("option", ["--json", "--xlsx"])
def test_validate_report_paths_are_checked_before_reading(option, places, tmp_path, no_mapping):
    before = _before(tmp_path)
    target = places["file"] / "report.out"
    result = invoke("validate", tmp_path, option, target)
    _one_line(
        result,
        f"Error: {option} {target}: {places['file']} is a file, not a folder; "
        f"choose another {option}",
    )
    result = invoke("validate", tmp_path, option, places["dangling"])
    _one_line(
        result,
        f"Error: {option} {places['dangling']}: {places['dangling']} is a symbolic "
        f"link to {tmp_path / 'nowhere'}, which does not exist; create its target "
        f"or choose another {option}",
    )
    assert _before(tmp_path) == before


def test_export_checks_the_ectd_folder_and_the_run_folder_first(places, tmp_path, no_mapping):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    before = _before(tmp_path)
    target = places["file"] / "ectd"
    result = invoke("export", run_dir, "--ectd", target)
    _one_line(
        result,
        f"Error: --ectd {target}: {places['file']} is a file, not a folder; choose another --ectd",
    )
    assert _before(tmp_path) == before


def test_a_folder_that_refuses_writing_is_one_line(monkeypatch, tmp_path, no_mapping):
    """The refusal as the OS gives it to a user without root (root may write anywhere)."""
    import trialflow.io.outputs as outputs

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access

    def access(path, mode, *args, **kwargs):
        if Path(path) == locked and mode & os.W_OK:
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(outputs.os, "access", access)
    for args, option in (
        (["map", str(EXAMPLE_SPECS), "--raw", str(tmp_path), "--out", str(locked / "o")], "--out"),
        (["export", str(locked), "--format", "dataset-json"], "RUN_DIR"),
        (["validate", str(tmp_path), "--json", str(locked / "r.json")], "--json"),
    ):
        shown = args[-1] if option != "RUN_DIR" else str(locked)
        result = invoke(*args)
        _one_line(
            result,
            f"Error: {option} {shown}: the folder {locked} is not writable; "
            f"choose another {option} or change its permissions",
        )
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_one_line(tmp_path, no_mapping):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = invoke("map", EXAMPLE_SPECS, "--raw", tmp_path, "--out", locked / "o", "-q")
        _one_line(
            result,
            f"Error: --out {locked / 'o'}: the folder {locked} is not writable; "
            "choose another --out or change its permissions",
        )
    finally:
        locked.chmod(0o700)


def test_check_output_folder_leaves_no_probe_file(tmp_path):
    from trialflow.io.outputs import check_output_file, check_output_folder

    check_output_folder(tmp_path / "new" / "deeper")
    check_output_file(tmp_path / "r.json", "--json")
    assert list(tmp_path.iterdir()) == []
