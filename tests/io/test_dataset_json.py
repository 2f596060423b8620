"""Dataset-JSON v1.1: metadata from the XPT metadata, schema validity, round trips, dates."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.cli import cli
from trialflow.errors import DatasetJsonError, RawInputError
from trialflow.io.dataset_json import creation_datetime, dataset_json_columns, write_dataset_json
from trialflow.io.package import read_package
from trialflow.io.xpt import XptVariable, write_xpt
from trialflow.pipeline import export_run, parse_formats, run_study

SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "dataset-json"
JSON_SCHEMA = json.loads((SCHEMAS / "dataset.schema.json").read_text())
NDJSON_SCHEMA = json.loads((SCHEMAS / "dataset-ndjson-schema.json").read_text())
EPOCH = "1700000000"  # 2023-11-14 22:13:20 UTC
FRAME = pd.DataFrame(
    {
        "STUDYID": ["T1", "T1", "T1"],
        "USUBJID": ["T1-001", "T1-002", "T1-003"],
        "AETERM": ["HEADACHE", "", None],
        "AESEQ": [1, 2, 3],
        "AVAL": [1.5, np.nan, -0.1],
        "TRTSDT": [0.0, 10.0, np.nan],  # SAS dates: days since 1960-01-01
        "TRTSDTM": [90061.0, np.nan, 0.0],  # SAS datetimes: seconds since 1960-01-01
    }
)
VARIABLES = [
    XptVariable("STUDYID", "Study Identifier", "Char"),
    XptVariable("USUBJID", "Unique Subject Identifier", "Char", 20),
    XptVariable("AETERM", "Reported Term", "Char"),
    XptVariable("AESEQ", "Sequence Number", "Num"),
    XptVariable("AVAL", "Analysis Value", "Num", format="8.2"),
    XptVariable("TRTSDT", "Date of First Exposure", "Num", format="DATE9."),
    XptVariable("TRTSDTM", "Datetime of First Exposure", "Num", format="DATETIME20."),
]


def _validate_ndjson(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    jsonschema.Draft201909Validator(NDJSON_SCHEMA).validate(json.loads(lines[0]))
    return lines


def test_columns_take_types_lengths_formats_and_keys_from_the_xpt_metadata():
    columns = dataset_json_columns(
        FRAME, dataset="AE", variables=VARIABLES, keys=["STUDYID", "USUBJID", "AESEQ", "NOPE"]
    )
    by = {c["name"]: c for c in columns}
    assert by["STUDYID"] == {
        "itemOID": "IT.AE.STUDYID", "name": "STUDYID", "label": "Study Identifier",
        "dataType": "string", "length": 2, "keySequence": 1,
    }  # fmt: skip
    assert by["USUBJID"]["length"] == 20 and by["USUBJID"]["keySequence"] == 2
    assert by["AETERM"]["length"] == 8 and "keySequence" not in by["AETERM"]
    assert (by["AESEQ"]["dataType"], by["AESEQ"]["keySequence"]) == ("integer", 3)
    assert (by["AVAL"]["dataType"], by["AVAL"]["displayFormat"]) == ("double", "8.2")
    assert "length" not in by["AVAL"]
    assert [by["TRTSDT"][k] for k in ("dataType", "targetDataType", "displayFormat")] == [
        "date", "integer", "DATE9.",
    ]  # fmt: skip
    assert by["TRTSDTM"]["dataType"] == "datetime"


def test_json_file_is_valid_and_holds_iso_dates_and_nulls(tmp_path):
    path = write_dataset_json(
        FRAME, tmp_path / "ae.json", dataset="AE", label="Adverse Events", variables=VARIABLES,
        keys=["STUDYID", "USUBJID", "AESEQ"], created=datetime(2024, 5, 1, 9, 30),
    )  # fmt: skip
    document = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft201909Validator(JSON_SCHEMA).validate(document)
    assert document["datasetJSONCreationDateTime"] == "2024-05-01T09:30:00"
    assert document["datasetJSONVersion"] == "1.1.0"
    assert (document["itemGroupOID"], document["records"]) == ("IG.AE", 3)
    # 10 days after 1960-01-01 is 1960-01-11; 90061 s is 1 day 1 h 1 min 1 s.
    assert document["rows"] == [
        ["T1", "T1-001", "HEADACHE", 1, 1.5, "1960-01-01", "1960-01-02T01:01:01"],
        ["T1", "T1-002", None, 2, None, "1960-01-11", None],
        ["T1", "T1-003", None, 3, -0.1, None, "1960-01-01T00:00:00"],
    ]


def test_ndjson_file_is_metadata_then_one_row_a_line(tmp_path):
    path = write_dataset_json(
        FRAME, tmp_path / "ae.ndjson", dataset="AE", variables=VARIABLES, ndjson=True
    )
    lines = _validate_ndjson(path)
    assert len(lines) == 4 and "rows" not in json.loads(lines[0])
    assert json.loads(lines[2]) == ["T1", "T1-002", None, 2, None, "1960-01-11", None]


@pytest.mark.parametrize("suffix", [".json", ".ndjson"])
def test_reads_back_as_the_xpt_file_reads(tmp_path, suffix):
    xpt = write_xpt(FRAME, tmp_path / "ae.xpt", dataset="AE", label="AE", variables=VARIABLES)
    other = write_dataset_json(
        FRAME, tmp_path / f"ae{suffix}", dataset="AE", label="AE", variables=VARIABLES,
        ndjson=suffix == ".ndjson",
    )  # fmt: skip
    (a,) = read_package([xpt])[0].datasets.values()
    (b,) = read_package([other])[0].datasets.values()
    pd.testing.assert_frame_equal(
        a.frame.drop(columns="__FILE__"), b.frame.drop(columns="__FILE__")
    )
    assert (a.label, a.labels, a.lengths) == (b.label, b.labels, b.lengths)
    assert b.frame["TRTSDT"].tolist()[:2] == [0.0, 10.0]


def test_same_inputs_give_the_same_bytes_and_an_empty_dataset_is_valid(tmp_path):
    one = write_dataset_json(FRAME, tmp_path / "a.json", dataset="AE", variables=VARIABLES)
    two = write_dataset_json(FRAME, tmp_path / "b.json", dataset="AE", variables=VARIABLES)
    assert one.read_bytes() == two.read_bytes()
    empty = write_dataset_json(FRAME.iloc[:0], tmp_path / "e.json", dataset="AE")
    document = json.loads(empty.read_text())
    jsonschema.Draft201909Validator(JSON_SCHEMA).validate(document)
    assert (document["records"], document["rows"]) == (0, [])


def test_a_number_json_cannot_hold_is_refused_without_a_file(tmp_path):
    frame = pd.DataFrame({"AVAL": [1.0, np.inf]})
    with pytest.raises(DatasetJsonError, match=r"AE\.AVAL record 2: value inf is not a finite"):
        write_dataset_json(frame, tmp_path / "ae.json", dataset="AE")
    assert list(tmp_path.iterdir()) == []


def test_creation_datetime_prefers_source_date_epoch_then_the_run_date():
    assert creation_datetime("2024-05-01", environ={"SOURCE_DATE_EPOCH": EPOCH}) == datetime(
        2023, 11, 14, 22, 13, 20
    )
    assert creation_datetime("2024-05-01T09:30:00", environ={}) == datetime(2024, 5, 1, 9, 30)
    assert creation_datetime(None, environ={}) == datetime(1960, 1, 1)
    with pytest.raises(DatasetJsonError, match="SOURCE_DATE_EPOCH='soon' is not a whole"):
        creation_datetime(None, environ={"SOURCE_DATE_EPOCH": "soon"})


def test_parse_formats_names_the_choices():
    assert parse_formats("ndjson,XPT") == ("xpt", "ndjson")
    with pytest.raises(RawInputError, match="unknown format 'sas7bdat'; choose from xpt, dataset"):
        parse_formats("xpt,sas7bdat")


# --- the pipeline ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("json-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        return run_study(
            EXAMPLE_SPECS, EXAMPLE_EXPORT, out, on_issue="none",
            formats=("xpt", "dataset-json", "ndjson"),
        )  # fmt: skip


def _datasets(out: Path) -> list[Path]:
    return sorted((out / "sdtm").glob("*.xpt")) + sorted((out / "adam").glob("*.xpt"))


def test_run_writes_valid_json_and_ndjson_beside_each_xpt(run):
    xpts = _datasets(run.out)
    assert {p.stem for p in xpts} >= {"dm", "lb", "adsl", "adlb"}
    validator = jsonschema.Draft201909Validator(JSON_SCHEMA)
    for xpt in xpts:
        document = json.loads(xpt.with_suffix(".json").read_text(encoding="utf-8"))
        validator.validate(document)
        assert document["datasetJSONCreationDateTime"] == "2023-11-14T22:13:20"
        assert len(_validate_ndjson(xpt.with_suffix(".ndjson"))) == document["records"] + 1
    listed = {e["path"] for e in json.loads((run.out / "manifest.json").read_text())["files"]}
    assert {"sdtm/lb.json", "sdtm/lb.ndjson", "adam/adsl.json"} <= listed


def test_xpt_headers_carry_the_source_date_epoch(run):
    header = (run.out / "sdtm" / "dm.xpt").read_bytes()[:240]
    assert header.count(b"14NOV23:22:13:20") == 2 and b"01JAN60" not in header


def test_lb_keys_are_the_sdtmig_natural_keys(run):
    document = json.loads((run.out / "sdtm" / "lb.json").read_text())
    keys = sorted((c["keySequence"], c["name"]) for c in document["columns"] if "keySequence" in c)
    # SDTMIG 3.4 LB keys present in the dataset (LBSPEC, LBTPTREF, LBTPTNUM only when mapped)
    wanted = ["STUDYID", "USUBJID", "LBTESTCD", "LBSPEC", "VISITNUM", "LBTPTREF", "LBTPTNUM"]
    present = [k for k in wanted if k in run.sdtm.domains["LB"].columns]
    assert [name for _, name in keys] == present and [n for n, _ in keys] == list(
        range(1, len(present) + 1)
    )


def test_adam_keys_are_the_order_the_records_are_sorted_in(run):
    for name, wanted in [
        ("adsl", ["STUDYID", "USUBJID"]),
        ("adae", ["STUDYID", "USUBJID", "ASTDT", "AESEQ"]),
    ]:
        document = json.loads((run.out / "adam" / f"{name}.json").read_text())
        keys = sorted(
            (c["keySequence"], c["name"]) for c in document["columns"] if "keySequence" in c
        )
        assert [n for _, n in keys] == wanted
    adlb = json.loads((run.out / "adam" / "adlb.json").read_text())
    keys = [
        c["name"]
        for c in sorted(
            (c for c in adlb["columns"] if "keySequence" in c), key=lambda c: c["keySequence"]
        )
    ]
    assert keys[:4] == ["STUDYID", "USUBJID", "PARAMN", "PARAMCD"]
    frame = run.adam.datasets["ADLB"]
    assert frame.duplicated([k for k in keys if k != "STUDYID"]).sum() == 0


def test_every_dataset_reads_back_as_its_xpt_reads(run):
    for xpt in _datasets(run.out):
        (a,) = read_package([xpt])[0].datasets.values()
        for suffix in (".json", ".ndjson"):
            (b,) = read_package([xpt.with_suffix(suffix)])[0].datasets.values()
            pd.testing.assert_frame_equal(
                a.frame.drop(columns="__FILE__"), b.frame.drop(columns="__FILE__")
            )
            assert (a.name, a.label, a.labels, a.lengths) == (b.name, b.label, b.labels, b.lengths)


def test_export_of_the_xpt_files_gives_the_run_s_bytes(run, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    for xpt in _datasets(run.out):
        target = tmp_path / xpt.parent.name / xpt.name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(xpt, target)
    written = export_run(tmp_path, ["dataset-json", "ndjson"])
    assert len(written) == 2 * len(_datasets(run.out))
    for path in written:
        original = run.out / path.relative_to(tmp_path)
        assert path.read_bytes() == original.read_bytes(), path.name


def test_export_command_writes_json_and_refuses_an_unknown_format(run, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    (tmp_path / "sdtm").mkdir()
    shutil.copy(run.out / "sdtm" / "dm.xpt", tmp_path / "sdtm" / "dm.xpt")
    result = CliRunner().invoke(cli, ["export", str(tmp_path), "--format", "dataset-json", "-q"])
    assert result.exit_code == 0, result.output
    assert "sdtm/dm.json" in result.output
    document = json.loads((tmp_path / "sdtm" / "dm.json").read_text())
    assert document["datasetJSONCreationDateTime"] == "1960-01-01T00:00:00"
    bad = CliRunner().invoke(cli, ["export", str(tmp_path), "--format", "json"])
    assert bad.exit_code == 2 and "unknown format 'json'" in bad.output


def test_study_run_date_dates_the_files_unless_source_date_epoch_is_set(study_copy, monkeypatch):
    from trialflow.errors import SpecError
    from trialflow.mapping.load import load_study
    from trialflow.pipeline import run_created

    path = study_copy / "study.yaml"
    # the example dates its files; this test sets its own date
    text = "".join(
        ln for ln in path.read_text().splitlines(keepends=True) if not ln.startswith("  run_date:")
    )
    line = "  synthetic: true\n"
    path.write_text(text.replace(line, line + "  run_date: 2024-05-01\n"))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert run_created(load_study(study_copy)) == datetime(2024, 5, 1)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert run_created(load_study(study_copy)) == datetime(2023, 11, 14, 22, 13, 20)
    path.write_text(text.replace(line, line + "  run_date: May 2024\n"))
    with pytest.raises(SpecError, match=r"study\.yaml.*run_date"):
        load_study(study_copy)


def test_a_date_that_is_not_iso_makes_the_file_unreadable(tmp_path):
    path = write_dataset_json(FRAME, tmp_path / "ae.json", dataset="AE", variables=VARIABLES)
    document = json.loads(path.read_text())
    document["rows"][1][5] = "11JAN1960"
    path.write_text(json.dumps(document))
    with pytest.raises(RawInputError, match=r"TRTSDT is a date .*record 2 holds '11JAN1960'"):
        read_package([path])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=20,
    ),
    st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=20),
)
def test_any_finite_number_and_any_text_read_back_unchanged(numbers, texts):
    size = min(len(numbers), len(texts))
    frame = pd.DataFrame(
        {
            "N": pd.Series(numbers[:size], dtype="float64"),
            "T": pd.Series(texts[:size], dtype="object"),
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        path = write_dataset_json(frame, Path(folder) / "x.json", dataset="X")
        jsonschema.Draft201909Validator(JSON_SCHEMA).validate(json.loads(path.read_text("utf-8")))
        (read,) = read_package([path])[0].datasets.values()
    assert np.array_equal(read.frame["N"].to_numpy(), frame["N"].to_numpy(), equal_nan=True)
    blank = frame["T"].isna() | (frame["T"] == "")
    assert read.frame["T"].isna().tolist() == blank.tolist()
    assert read.frame["T"][~blank].tolist() == frame["T"][~blank].tolist()


def test_a_folder_with_a_dataset_in_two_formats_validates_the_xpt_once(tmp_path):
    write_dataset_json(FRAME, tmp_path / "ae.json", dataset="AE", label="AE", variables=VARIABLES)
    write_xpt(FRAME, tmp_path / "ae.xpt", dataset="AE", label="AE", variables=VARIABLES)
    package, findings = read_package([tmp_path])
    assert package.get("AE").files == ("ae.xpt",)
    assert [(f.code, f.severity, f.message) for f in findings if f.code != "file-no-domain"] == [
        (
            "file-same-dataset",
            "notice",
            "ae.json: holds the same dataset as ae.xpt; validated once, as ae.xpt",
        )
    ]


def test_another_format_that_differs_from_the_xpt_is_an_error(tmp_path):
    write_xpt(FRAME, tmp_path / "ae.xpt", dataset="AE", label="AE", variables=VARIABLES)
    changed = FRAME.assign(AVAL=[1.5, np.nan, -0.2])
    write_dataset_json(changed, tmp_path / "ae.ndjson", dataset="AE", label="AE",
                       variables=VARIABLES, ndjson=True)  # fmt: skip
    package, findings = read_package([tmp_path])
    assert package.get("AE").frame["AVAL"].tolist()[2] == -0.1
    assert [(f.code, f.severity, f.message) for f in findings if f.code != "file-no-domain"] == [
        (
            "file-formats-differ",
            "error",
            "ae.ndjson: holds dataset AE as ae.xpt does, but differs from it: record 3, "
            "variable AVAL: -0.2 here, -0.1 there; only ae.xpt is validated",
        )
    ]


def test_validate_on_a_run_with_json_reads_each_dataset_once_without_errors(run):
    package, findings = read_package([run.out / "sdtm", run.out / "adam"])
    assert all(
        ds.files[0].endswith(".xpt") and len(ds.files) == 1 for ds in package.datasets.values()
    )
    assert {f.code for f in findings} == {"file-same-dataset"}
    assert len(findings) == 2 * len(package.datasets)
