"""Damaged packages for `validate`: each problem named where it is (field, record, variable).

The files are made here: a good XPT written by trialflow with one NAMESTR field overwritten
at its offset in the SAS transport layout (140-byte NAMESTR records after the NAMESTR header
record: ntype at byte 0, nlng at 4, nname at 8, npos at 84), Dataset-JSON text with numbers
out of range.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from trialflow.cli import cli
from trialflow.errors import RawInputError
from trialflow.io.package import read_package
from trialflow.io.xpt import write_xpt


def _dm_xpt(path: Path) -> tuple[Path, int]:
    """A small DM (STUDYID 1 byte, USUBJID 3, AGE 8: a 12-byte record) and where its
    NAMESTR records start."""
    frame = pd.DataFrame({"STUDYID": ["S", "S"], "USUBJID": ["S-1", "S-2"], "AGE": [34.0, 50.0]})
    write_xpt(frame, path, dataset="DM")
    data = path.read_bytes()
    header = data.find(b"HEADER RECORD*******NAMESTR HEADER RECORD")
    assert header > 0
    return path, header + 80


def _patch(path: Path, at: int, raw: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[at : at + len(raw)] = raw
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "offset, raw, problem",
    [
        (0, struct.pack(">h", 7), "ntype is 7, not 1 (numeric) or 2 (character)"),
        (4, struct.pack(">h", 0), "nlng (the length) is 0"),
        (4, struct.pack(">h", 3000), "nlng is 3000; a numeric variable is 2 to 8 bytes"),
        (84, struct.pack(">i", 9999), "npos (its place in the record) is 9999, outside the"),
    ],
)
def test_a_corrupt_namestr_record_names_the_variable_and_the_field(tmp_path, offset, raw, problem):
    path, first = _dm_xpt(tmp_path / "dm.xpt")
    _patch(path, first + 2 * 140 + offset, raw)  # the third variable, AGE

    with pytest.raises(RawInputError) as info:
        read_package([path])

    [finding] = info.value.findings
    assert finding.code == "file-unreadable"
    assert finding.message.startswith(
        "dm.xpt: can't be read as SAS transport (XPT): the NAMESTR records are corrupt: "
        "NAMESTR record 3 (variable AGE): "
    )
    assert problem in finding.message
    assert "truncated" not in finding.message


def test_a_corrupt_namestr_header_names_the_count(tmp_path):
    path, first = _dm_xpt(tmp_path / "dm.xpt")
    _patch(path, first - 80 + 54, b"00x3")
    with pytest.raises(RawInputError) as info:
        read_package([path])
    assert info.value.findings[0].message == (
        "dm.xpt: can't be read as SAS transport (XPT): the NAMESTR header record is corrupt: "
        "its variable count is '00x3', not a number"
    )


def test_a_namestr_count_that_disagrees_with_the_records_is_named(tmp_path):
    path, first = _dm_xpt(tmp_path / "dm.xpt")
    _patch(path, first - 80 + 54, b"0002")
    with pytest.raises(RawInputError) as info:
        read_package([path])
    assert "it declares 2 variables, but the NAMESTR records before the observations " in (
        info.value.findings[0].message
    )


def test_validate_cli_on_a_corrupt_namestr_is_exit_2_naming_it(tmp_path):
    path, first = _dm_xpt(tmp_path / "dm.xpt")
    _patch(path, first + 2 * 140, struct.pack(">h", 7))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "NAMESTR record 3 (variable AGE): ntype is 7" in result.output
    assert "internal error" not in result.output and "truncated" not in result.output


def _dm_json(path: Path, age: str) -> Path:
    doc = {
        "datasetJSONVersion": "1.1.0",
        "name": "DM",
        "label": "Demographics",
        "records": 3,
        "columns": [
            {"itemOID": "IT.DM.DOMAIN", "name": "DOMAIN", "label": "Domain", "dataType": "string"},
            {"itemOID": "IT.DM.AGE", "name": "AGE", "label": "Age", "dataType": "integer"},
        ],
        "rows": [["DM", 34], ["DM", "AGE2"], ["DM", 5]],
    }
    path.write_text(json.dumps(doc).replace('"AGE2"', age))
    return path


@pytest.mark.parametrize(
    "age, problem",
    [
        ("1" + "0" * 400, "holds an integer of 401 digits, beyond the 64-bit integer range"),
        ("18446744073709551616", "holds 18446744073709551616, beyond the 64-bit integer range"),
        ("1e400", "holds a number beyond the range of a double (read as infinity)"),
        ("-1e400", "holds a number beyond the range of a double (read as infinity)"),
    ],
)
def test_a_dataset_json_number_out_of_range_names_record_and_variable(tmp_path, age, problem):
    path = _dm_json(tmp_path / "dm.json", age)
    with pytest.raises(RawInputError) as info:
        read_package([path])
    assert info.value.findings[0].message == (
        f"dm.json: can't be read as Dataset-JSON: variable AGE (integer) record 2 {problem}"
    )


def test_the_largest_int64_is_still_read(tmp_path):
    path = _dm_json(tmp_path / "dm.json", str(2**63 - 1))
    package, _ = read_package([path])
    assert package.get("DM").frame["AGE"].tolist()[1] == float(2**63 - 1)


def test_validate_cli_on_a_dataset_json_overflow_is_exit_2_naming_it(tmp_path):
    path = _dm_json(tmp_path / "dm.json", "1" + "0" * 400)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "variable AGE (integer) record 2 holds an integer of 401 digits" in result.output
    assert "internal error" not in result.output and "OverflowError" not in result.output


def test_validate_on_a_non_utf8_file_name_writes_a_report_naming_it_escaped(tmp_path):
    import os

    folder = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"sub\xe9")))
    try:
        folder.mkdir()
    except (OSError, UnicodeError):  # a file system that only takes UTF-8 names
        pytest.skip("the file system refuses non-UTF-8 names")
    _dm_xpt(folder / "dm.xpt")
    (folder / "dm.xpt").rename(Path(os.fsdecode(os.path.join(os.fsencode(folder), b"d\xe9.xpt"))))
    report = tmp_path / "report.json"

    result = CliRunner().invoke(cli, ["validate", str(folder), "--json", str(report)])

    assert result.exit_code in (0, 1), result.output
    assert "internal error" not in result.output
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["validated"] == [f"{tmp_path}/sub\\xe9"]
