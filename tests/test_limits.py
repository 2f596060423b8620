"""Hostile inputs are refused before they are read: one line naming the file, the limit, the
value found and how to raise it; exit 2; never a traceback.

Every hostile file is made by the test (tests/hostile.py). The dangerous ones (those that
exhausted memory or aborted the process before the limits) run the command line in a child
process under a 1.5 GB address-space limit, so that a regression fails the test instead of
taking the machine down.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import hostile
import pytest

from trialflow.errors import RawInputError
from trialflow.limits import DEFAULT, LimitExceeded, Limits, current, parse_limits, using
from trialflow.raw import read_export

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "mappings" / "hucmsc-t2dm"
MEMORY = 1_500_000_000


def _cap_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The command line in a child process with at most 1.5 GB of address space."""
    code = (
        "import sys; sys.argv = ['trialflow', *sys.argv[1:]]; "
        "from trialflow.cli import main; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        preexec_fn=_cap_memory,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )


def refused(result: subprocess.CompletedProcess[str], message: str) -> str:
    """Assert exit 2 with one ``Error:`` line holding ``message`` and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert message in errors[0], errors[0]
    for text in ("Traceback", "internal error", "MemoryError"):
        assert text not in result.stderr + result.stdout
    return errors[0]


# --- workbooks ------------------------------------------------------------------------------


def test_declared_dimension_of_17_billion_cells_is_refused_before_the_reader_allocates(tmp_path):
    # before: SIGABRT, "memory allocation of 549755813888 bytes failed" (32 bytes x 16,384 x
    # 1,048,576 cells), which Python cannot catch
    book = hostile.declared_dimension_xlsx(tmp_path / "export.xlsx")
    assert book.stat().st_size < 5_000
    line = refused(
        cli("map", STUDY, "--raw", book, "--out", tmp_path / "out"),
        "export.xlsx, sheet DEMOG: declares the area A1:XFD1048576 of 16,384 columns, more "
        "than the limit columns=5,000",
    )
    assert "--limit columns=N" in line
    # with the column limit raised, the declared area is still 17,179,869,184 cells
    refused(
        cli("map", STUDY, "--raw", book, "--out", tmp_path / "out", "--limit", "columns=16384"),
        "declares the area A1:XFD1048576 of 17,179,869,184 cells, more than the limit "
        "sheet_cells=20,000,000",
    )


def test_cells_spanning_the_whole_sheet_are_refused_when_the_dimension_lies(tmp_path):
    # the dimension says A1; the cells are at A1 and XFD1048576: a reader allocates the area
    book = hostile.far_cells_xlsx(tmp_path / "export.xlsx")
    refused(
        cli("map", STUDY, "--raw", book, "--out", tmp_path / "out"),
        "export.xlsx, sheet DEMOG: has a cell in column XFD, that is 16,384 columns, more than "
        "the limit columns=5,000",
    )
    refused(
        cli("map", STUDY, "--raw", book, "--out", tmp_path / "out", "--limit", "columns=20000"),
        "export.xlsx, sheet DEMOG: has cells as far as column XFD and row 1,048,576: an area of "
        "17,179,869,184 cells, more than the limit sheet_cells=20,000,000",
    )


def test_a_sheet_inflating_more_than_100_to_1_is_refused_from_the_zip_directory(tmp_path):
    # before: 40 s, 4 GB, then MemoryError or SIGABRT; Apache POI refuses parts over 100:1
    book = hostile.inflating_xlsx(tmp_path / "export.xlsx", megabytes=64)
    with zipfile.ZipFile(book) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    ratio = info.file_size // info.compress_size
    assert ratio > 100
    refused(
        cli("map", STUDY, "--raw", book, "--out", tmp_path / "out"),
        f"export.xlsx: part xl/worksheets/sheet1.xml inflates from {info.compress_size:,} to "
        f"{info.file_size:,} bytes, a ratio of {ratio:,}:1, more than the limit zip_ratio=100",
    )


def test_zip_size_and_part_limits(tmp_path):
    book = hostile.write_xlsx(tmp_path / "export.xlsx", hostile.small_sheet(), extra=30)
    with zipfile.ZipFile(book) as z:
        parts = len(z.infolist())
        total = sum(i.file_size for i in z.infolist())
    assert read_export(book).sheet("DEMOG").frame["SUBJ"].tolist() == [
        "01-0001",
        "01-0002",
        "01-0003",
    ]
    with using(zip_parts=10), pytest.raises(LimitExceeded) as caught:
        read_export(book)
    assert str(caught.value).endswith(
        f"export.xlsx: the zip file has {parts} parts, more than the limit zip_parts=10 "
        "(refused before reading; if the file is trusted, raise it with --limit zip_parts=N)"
    )
    with using(zip_bytes=1000), pytest.raises(LimitExceeded, match=f"inflate to {total:,} bytes"):
        read_export(book)


def test_sheet_cells_counted_when_references_are_left_out(tmp_path):
    # cells without r="..." are placed one after another: counted, not located
    row = '<row><c t="inlineStr"><is><t>x</t></is></c><c t="n"><v>1</v></c></row>'
    head = '<row r="1"><c r="A1" t="inlineStr"><is><t>SUBJ</t></is></c></row>'
    xml = f"{hostile._SHEET_HEAD}<sheetData>{head}{row * 50}</sheetData></worksheet>"
    book = hostile.write_xlsx(tmp_path / "export.xlsx", xml)
    with (
        using(sheet_cells=60),
        pytest.raises(
            LimitExceeded, match=r"sheet DEMOG: holds 101 cells, more than the limit sheet_cells=60"
        ),
    ):
        read_export(book).sheet("DEMOG")


def test_a_legitimate_workbook_passes_and_limits_can_be_lowered_below_it(tmp_path):
    book = hostile.write_xlsx(tmp_path / "export.xlsx", hostile.small_sheet(rows=4))
    assert len(read_export(book).sheet("DEMOG").frame) == 4
    # 5 rows x 2 columns: 10 cells
    with (
        using(sheet_cells=9),
        pytest.raises(
            LimitExceeded, match=r"sheet DEMOG: holds 10 cells, more than the limit sheet_cells=9 "
        ),
    ):
        read_export(book).sheet("DEMOG")
    with using(sheet_cells=10):
        assert len(read_export(book).sheet("DEMOG").frame) == 4


# --- CSV ------------------------------------------------------------------------------------


def test_a_million_columns_csv_is_refused_by_validate_from_its_header(tmp_path):
    # before: validate ran past 180 s at 3.6 GB
    folder = tmp_path / "sdtm"
    folder.mkdir()
    data = hostile.wide_csv(folder / "dm.csv")
    assert data.stat().st_size > 8_000_000
    refused(
        cli("validate", data),
        "dm.csv: the header has 1,000,000 columns, more than the limit columns=5,000",
    )


def test_a_wide_flat_csv_export_is_refused_by_map(tmp_path):
    data = hostile.wide_csv(tmp_path / "export.csv", columns=20_000)
    refused(
        cli("map", STUDY, "--raw", data, "--out", tmp_path / "out"),
        "export.csv: the header has 20,000 columns, more than the limit columns=5,000",
    )


def test_csv_line_length_is_limited(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("SUBJ,AE_TERM\n01-001,rash\n01-002," + "x" * 500 + "\n01-003,fever\n")
    with (
        using(line_bytes=200),
        pytest.raises(
            LimitExceeded,
            match=r"export\.csv: line 3 is longer than 200 bytes, more than the limit "
            r"line_bytes=200",
        ),
    ):
        read_export(path).sheet("export")
    with using(line_bytes=5), pytest.raises(LimitExceeded, match=r"line 1 \(the header\)"):
        read_export(path).sheet("export")
    assert len(read_export(path).sheet("export").frame) == 3


# --- XPT ------------------------------------------------------------------------------------


def test_blank_padding_after_a_valid_xpt_is_refused_without_reading_it(tmp_path):
    # before: 191 MB of padding took 92 s and 2.5 GB
    path = hostile.padded_xpt(tmp_path / "dm.xpt", 20_000_000)
    refused(
        cli("validate", path),
        "dm.xpt: the file ends in blanks: after what can be its last 17-byte record and the "
        "blanks that fill its 80-byte record come at least 81 bytes, more than the limit "
        "xpt_padding_bytes=80",
    )


def test_an_xpt_with_its_own_padding_passes(tmp_path):
    from trialflow.io.package import read_package

    path = hostile.padded_xpt(tmp_path / "dm.xpt", 0)
    package, findings = read_package([path])
    assert package.datasets["DM"].frame["USUBJID"].tolist() == ["S1-01", "S1-02"]
    assert not [f for f in findings if f.severity == "error"]
    # one more blank record is allowed by the default; two are not
    path = hostile.padded_xpt(tmp_path / "dm2.xpt", 80)
    read_package([path])
    path = hostile.padded_xpt(tmp_path / "dm3.xpt", 160)
    with pytest.raises(LimitExceeded, match="xpt_padding_bytes=80"):
        read_package([path])
    with using(xpt_padding_bytes=160):
        read_package([path])


def test_xpt_variable_count_is_limited(tmp_path):
    from trialflow.io.package import read_package

    path = hostile.padded_xpt(tmp_path / "dm.xpt", 0)
    with (
        using(xpt_variables=3),
        pytest.raises(
            LimitExceeded,
            match=r"dm\.xpt: the NAMESTR header declares 4 variables, more than the limit "
            r"xpt_variables=3",
        ),
    ):
        read_package([path])


# --- Dataset-JSON ---------------------------------------------------------------------------


def test_deeply_nested_dataset_json_is_refused(tmp_path):
    path = hostile.deep_json(tmp_path / "dm.json")
    refused(
        cli("validate", path),
        "dm.json: arrays and objects nest deeper than the parser allows, over 64 levels, more "
        "than the limit json_depth=64",
    )
    path = hostile.deep_json(tmp_path / "ae.json", depth=20)
    refused(
        cli("validate", path, "--limit", "json_depth=10"),
        "ae.json: arrays and objects nest 11 levels, more than the limit json_depth=10",
    )


def test_dataset_json_size_and_columns_are_limited(tmp_path):
    from trialflow.io.package import read_package

    path = hostile.overdeclared_json(tmp_path / "dm.json", records=1)
    size = path.stat().st_size
    with (
        using(file_bytes=100),
        pytest.raises(
            LimitExceeded, match=f"dm.json: the file is {size:,} bytes, more than the limit"
        ),
    ):
        read_package([path])
    with using(columns=0 + 1):
        read_package([path])  # one column: within the limit


def test_declared_records_beyond_those_held_is_a_finding_not_an_allocation(tmp_path):
    from trialflow.io.package import read_package

    path = hostile.overdeclared_json(tmp_path / "dm.json")
    with pytest.raises(RawInputError) as caught:
        read_package([path])
    assert "declares 1000000000000 records but holds 1" in str(caught.value.findings[0].message)


# --- the limits themselves ------------------------------------------------------------------


def test_limits_are_one_frozen_dataclass_set_from_the_cli_or_python():
    assert Limits() == DEFAULT and current() == DEFAULT
    assert (DEFAULT.zip_ratio, DEFAULT.columns, DEFAULT.sheet_cells) == (100, 5_000, 20_000_000)
    with pytest.raises(AttributeError):
        DEFAULT.zip_ratio = 5  # type: ignore[misc]
    assert parse_limits(["zip_ratio=200", "line_bytes=1M", "sheet_cells=1_000"]) == {
        "zip_ratio": 200,
        "line_bytes": 1_048_576,
        "sheet_cells": 1_000,
    }
    with pytest.raises(RawInputError, match="--limit zip=2: expected NAME=VALUE with NAME one"):
        parse_limits(["zip=2"])
    with pytest.raises(RawInputError, match="--limit columns=0: the value must be a whole"):
        parse_limits(["columns=0"])
    with using(columns=7):
        assert current().columns == 7
    assert current() == DEFAULT


def test_a_bad_limit_option_is_one_line_exit_2(tmp_path):
    result = cli("validate", tmp_path, "--limit", "ratio=3")
    refused(result, "--limit ratio=3: expected NAME=VALUE with NAME one of file_bytes, ")


def test_blank_padding_after_a_raw_sas_export_is_refused_too(tmp_path):
    folder = tmp_path / "sas"
    folder.mkdir()
    hostile.padded_xpt(folder / "demog.xpt", 2_000_000)
    with pytest.raises(
        LimitExceeded,
        match=r"sas/demog\.xpt: the file ends in blanks: after what can be its last 17-byte "
        r"record and the blanks that fill its 80-byte record come at least 81 bytes",
    ):
        read_export(folder).sheet("demog")
    hostile.padded_xpt(folder / "demog.xpt", 0)
    assert read_export(folder).sheet("demog").frame["USUBJID"].tolist() == ["S1-01", "S1-02"]


@pytest.mark.parametrize("command", ["map", "run", "derive", "report", "validate", "export"])
def test_every_command_that_reads_input_takes_limit(command):
    from click.testing import CliRunner

    from trialflow.cli import cli as group

    result = CliRunner().invoke(group, [command, "--help"])
    assert result.exit_code == 0
    assert "--limit NAME=VALUE" in result.output


def test_limit_option_is_in_force_while_the_command_runs(tmp_path):
    # a CSV of 3 columns refused under --limit columns=2, read without it
    folder = tmp_path / "sdtm"
    folder.mkdir()
    (folder / "dm.csv").write_text("STUDYID,DOMAIN,USUBJID\nS1,DM,S1-01\n")
    refused(
        cli("validate", folder, "--limit", "columns=2"),
        "dm.csv: the header has 3 columns, more than the limit columns=2",
    )
    assert cli("validate", folder).returncode in (0, 1)
