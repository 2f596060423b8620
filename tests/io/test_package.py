"""Tests of reading a package of datasets (trialflow.io.package), on synthetic files only."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from trialflow.errors import Finding, RawInputError, Source
from trialflow.io import package as package_module
from trialflow.io.package import read_package
from trialflow.io.xpt import XptVariable, write_xpt
from trialflow.validation.core import FILE, RECORD

SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "dataset-json"  # see its README
JSON_SCHEMA = SCHEMAS / "dataset.schema.json"
NDJSON_SCHEMA = SCHEMAS / "dataset-ndjson-schema.json"

try:
    import jsonschema
except ImportError:  # the schema check is optional
    jsonschema = None


def text(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype="str")


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def only(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, findings
    return found[0]


def dm_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": text(["TF-01", "TF-01", "TF-01"]),
            "DOMAIN": text(["DM", "DM", "DM"]),
            "USUBJID": text(["TF-01-001", "TF-01-002", "TF-01-003"]),
            "AGE": [34.0, np.nan, 51.0],
            "SEX": text(["F", "", "M"]),
        }
    )


def write_dm(folder: Path, name: str = "dm.xpt") -> Path:
    return write_xpt(
        dm_frame(),
        folder / name,
        dataset="DM",
        label="Demographics",
        variables=[
            XptVariable("USUBJID", "Unique Subject Identifier", length=20),
            XptVariable("AGE", "Age"),
        ],
    )


def lb_part(domain: str, rows: int, start: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": text(["TF-01"] * rows),
            "DOMAIN": text([domain] * rows),
            "USUBJID": text([f"TF-01-{i:03d}" for i in range(start, start + rows)]),
            "LBSEQ": np.arange(start, start + rows, dtype=float),
            "LBSTRESN": np.arange(rows) * 1.5,
        }
    )


def dataset_json(name: str, label: str, columns: list[tuple], rows: list[list]) -> dict:
    """A Dataset-JSON v1.1 document; columns are (name, label, dataType[, length])."""
    cols = []
    for column in columns:
        entry = {
            "itemOID": f"IT.{name}.{column[0]}",
            "name": column[0],
            "label": column[1],
            "dataType": column[2],
        }
        if len(column) > 3:
            entry["length"] = column[3]
        cols.append(entry)
    document = {
        "datasetJSONCreationDateTime": "2025-01-01T00:00:00",
        "datasetJSONVersion": "1.1.0",
        "itemGroupOID": f"IG.{name}",
        "records": len(rows),
        "name": name,
        "label": label,
        "columns": cols,
        "rows": rows,
    }
    return document


VS_COLUMNS = [
    ("STUDYID", "Study Identifier", "string", 5),
    ("DOMAIN", "Domain Abbreviation", "string", 2),
    ("USUBJID", "Unique Subject Identifier", "string", 9),
    ("VSSEQ", "Sequence Number", "integer"),
    ("VSTESTCD", "Vital Signs Test Short Name", "string", 8),
    ("VSSTRESN", "Numeric Result/Finding in Standard Units", "decimal"),
    ("VSWT", "Weight", "double"),
    ("VSDTC", "Date/Time of Measurements", "datetime"),
    ("VSBLFL", "Baseline Flag", "boolean"),
]
VS_ROWS = [
    ["TF-01", "VS", "TF-01-001", 1, "WEIGHT", "72.50", 72.5, "2024-03-01T08:30", True],
    ["TF-01", "VS", "TF-01-001", 2, "HEIGHT", "170", None, "2024-03-01", None],
    ["TF-01", "VS", "TF-01-002", 3, "PULSE", None, 1.25, "", False],
]


def write_ndjson(path: Path, document: dict) -> Path:
    metadata = {k: v for k, v in document.items() if k != "rows"}
    lines = [json.dumps(metadata)] + [json.dumps(row) for row in document["rows"]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- XPT ------------------------------------------------------------------------------------


def test_xpt_v5_values_types_and_metadata(tmp_path: Path) -> None:
    path = write_dm(tmp_path)
    package, findings = read_package([path])

    assert findings == []
    assert list(package.datasets) == ["DM"]
    dm = package.get("DM")
    assert dm.kind == "sdtm"
    assert dm.files == ("dm.xpt",)
    assert dm.encoding == "UTF-8"
    assert dm.label == "Demographics"
    assert list(dm.frame.columns) == ["STUDYID", "DOMAIN", "USUBJID", "AGE", "SEX", RECORD, FILE]
    assert dm.variables == ["STUDYID", "DOMAIN", "USUBJID", "AGE", "SEX"]
    assert dm.frame["USUBJID"].tolist() == ["TF-01-001", "TF-01-002", "TF-01-003"]
    # An empty character value in XPT is missing (SAS has no blank/missing distinction).
    assert dm.frame["SEX"].tolist()[0::2] == ["F", "M"]
    assert dm.frame["SEX"].isna().tolist() == [False, True, False]
    np.testing.assert_array_equal(dm.frame["AGE"].to_numpy(), [34.0, np.nan, 51.0])
    assert dm.frame["SEX"].dtype == "str"
    assert dm.frame["USUBJID"].dtype == "str"
    assert dm.frame["AGE"].dtype == "float64"
    assert dm.frame[RECORD].tolist() == [1, 2, 3]
    assert dm.frame[FILE].tolist() == ["dm.xpt"] * 3
    assert dm.labels["USUBJID"] == "Unique Subject Identifier"
    assert dm.labels["AGE"] == "Age"
    assert dm.labels["SEX"] == ""
    # Declared lengths of the character variables only.
    assert dm.lengths == {"STUDYID": 5, "DOMAIN": 2, "USUBJID": 20, "SEX": 1}


def test_xpt_v8_long_names_and_labels(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "STUDYID": ["TF-01", "TF-01"],
            "USUBJID": ["TF-01-001", "TF-01-002"],
            "TRTSDTLONGNAME": [23000.0, np.nan],
            "RACE": ["ASIAN", "WHITE"],
        }
    )
    label = "Subject-Level Analysis Dataset"
    long_label = "Date of First Exposure to Treatment, a label over forty bytes"
    path = tmp_path / "adsl.xpt"
    pyreadstat.write_xport(
        frame,
        str(path),
        file_label=label,
        column_labels=["Study Identifier", "Unique Subject Identifier", long_label, "Race"],
        table_name="ADSL",
        file_format_version=8,
    )
    assert path.read_bytes()[20:25] == b"LIBV8"

    package, findings = read_package([path])

    assert findings == []
    adsl = package.get("ADSL")
    assert adsl.kind == "adam"
    assert adsl.label == label
    assert adsl.variables == ["STUDYID", "USUBJID", "TRTSDTLONGNAME", "RACE"]
    assert adsl.labels["TRTSDTLONGNAME"] == long_label
    assert adsl.frame["RACE"].tolist() == ["ASIAN", "WHITE"]
    assert adsl.frame["RACE"].dtype == "str"
    assert adsl.frame["TRTSDTLONGNAME"].dtype == "float64"
    np.testing.assert_array_equal(adsl.frame["TRTSDTLONGNAME"].to_numpy(), [23000.0, np.nan])
    assert adsl.frame[RECORD].tolist() == [1, 2]
    assert adsl.lengths["USUBJID"] == 9


def patch_bytes(path: Path, replacements: dict[bytes, bytes]) -> None:
    data = path.read_bytes()
    for old, new in replacements.items():
        assert len(old) == len(new) and data.count(old) == 1
        data = data.replace(old, new)
    path.write_bytes(data)


def test_cp1252_xpt_falls_back_with_a_notice(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "STUDYID": text(["TF-01", "TF-01"]),
            "DOMAIN": text(["AE", "AE"]),
            "AETERM": text(["NAUS@E", "COST@"]),
        }
    )
    path = write_xpt(frame, tmp_path / "ae.xpt", dataset="AE", label="Adverse Ev@nts")
    # 0xC9 is É in cp1252 and Latin-1; 0x80 is € in cp1252 only.
    patch_bytes(path, {b"NAUS@E": b"NAUS\xc9E", b"COST@": b"COST\x80", b"Ev@nts": b"Ev\xe9nts"})

    package, findings = read_package([path])

    ae = package.get("AE")
    assert ae.frame["AETERM"].tolist() == ["NAUSÉE", "COST€"]
    assert ae.label == "Adverse Evénts"
    assert ae.encoding == "cp1252"
    assert findings == [
        Finding(
            "file-encoding-fallback",
            "notice",
            "ae.xpt: text is not valid UTF-8; read as cp1252",
            dataset="AE",
            source=Source("ae.xpt"),
        )
    ]


def test_latin1_is_the_last_fallback(tmp_path: Path) -> None:
    frame = pd.DataFrame({"DOMAIN": text(["AE"]), "AETERM": text(["X@Y"])})
    path = write_xpt(frame, tmp_path / "ae.xpt", dataset="AE")
    patch_bytes(path, {b"X@Y": b"X\x81Y"})  # 0x81 is undefined in cp1252

    package, findings = read_package([path])

    assert package.get("AE").frame["AETERM"].tolist() == ["X\x81Y"]
    assert package.get("AE").encoding == "latin1"
    assert only(findings, "file-encoding-fallback").message == (
        "ae.xpt: text is not valid UTF-8; read as latin1"
    )


def test_text_valid_in_no_encoding_skips_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(package_module, "ENCODINGS", ("UTF-8", "cp1252"))
    frame = pd.DataFrame({"DOMAIN": text(["AE"]), "AETERM": text(["X@Y"])})
    bad = write_xpt(frame, tmp_path / "ae.xpt", dataset="AE")
    patch_bytes(bad, {b"X@Y": b"X\x81Y"})
    good = write_dm(tmp_path)

    package, findings = read_package([bad, good])

    assert list(package.datasets) == ["DM"]
    assert codes(findings) == ["file-encoding-undecodable"]
    f = findings[0]
    assert f.severity == "error"
    assert f.dataset == "AE"
    assert f.source == Source("ae.xpt")
    assert f.message.startswith("ae.xpt: can't decode the text: text is valid in none of UTF-8, ")
    assert "\n" not in f.message


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda n: n // 2, id="half"),
        pytest.param(lambda n: n // 2 + 7, id="half-plus-7"),
        pytest.param(lambda n: 400, id="in-the-headers"),
        pytest.param(lambda n: n - 80, id="last-record-short"),
    ],
)
def test_truncated_xpt_is_unreadable_and_the_rest_is_read(tmp_path: Path, cut) -> None:
    rows = 1000
    full = write_xpt(lb_part("LB", rows), tmp_path / "full.xpt", dataset="LB")
    data = full.read_bytes()
    full.unlink()
    (tmp_path / "lb.xpt").write_bytes(data[: cut(len(data))])
    dm = write_dm(tmp_path)

    package, findings = read_package([tmp_path])

    assert list(package.datasets) == ["DM"]
    assert len(package.get("DM").frame) == 3
    f = only(findings, "file-unreadable")
    assert f.severity == "error"
    assert f.dataset == "LB"
    assert f.source == Source("lb.xpt")
    assert f.message.startswith("lb.xpt: can't be read as SAS transport (XPT): ")
    assert "truncated" in f.message
    assert dm.exists()


def test_truncated_v8_at_a_record_boundary_is_caught_by_the_record_count(tmp_path: Path) -> None:
    frame = pd.DataFrame({"USUBJID": [f"S{i:04d}" for i in range(1000)], "LBSTRESN": 1.5})
    path = tmp_path / "lb.xpt"
    pyreadstat.write_xport(frame, str(path), table_name="LB", file_format_version=8)
    data = path.read_bytes()
    start = data.find(b"HEADER RECORD*******OBSV8") + 80
    width = 5 + 8  # USUBJID and LBSTRESN
    path.write_bytes(data[: start + 10 * width * 80])  # 800 whole records, whole 80-byte lines

    with pytest.raises(RawInputError) as error:
        read_package([path])

    assert str(error.value).startswith(f"no readable datasets in {path}: lb.xpt: ")
    (f,) = error.value.findings
    assert f.code == "file-unreadable"
    assert "declares 1000 records but it holds 800" in f.message


def test_xpt_with_two_datasets_is_unreadable(tmp_path: Path) -> None:
    first = write_dm(tmp_path, "first.xpt").read_bytes()
    second = write_xpt(lb_part("LB", 2), tmp_path / "second.xpt", dataset="LB").read_bytes()
    (tmp_path / "both.xpt").write_bytes(first + second[second.find(b"HEADER RECORD*******MEMB") :])

    package, findings = read_package([tmp_path / "both.xpt", tmp_path / "second.xpt"])

    assert list(package.datasets) == ["LB"]
    assert [(f.code, f.message) for f in findings] == [
        (
            "file-unreadable",
            "both.xpt: can't be read as SAS transport (XPT): it holds more than one dataset; "
            "provide one dataset per file",
        )
    ]


def test_csv_renamed_xpt_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "ae.xpt").write_text("STUDYID,DOMAIN\nTF-01,AE\n")
    write_dm(tmp_path)

    package, findings = read_package([tmp_path])

    assert list(package.datasets) == ["DM"]
    assert findings == [
        Finding(
            "file-unreadable",
            "error",
            "ae.xpt: can't be read as SAS transport (XPT): it does not start with a SAS "
            "transport LIBRARY header record",
            dataset="AE",
            source=Source("ae.xpt"),
        )
    ]


def test_other_formats_with_the_wrong_content_are_unreadable(tmp_path: Path) -> None:
    dm = write_dm(tmp_path)
    shutil.copy(dm, tmp_path / "ae.csv")
    (tmp_path / "cm.parquet").write_text("USUBJID\nTF-01-001\n")
    (tmp_path / "ex.json").write_text('{"name": "EX", "columns": [')
    (tmp_path / "mh.ndjson").write_text('{"name": "MH", "columns": [{"name": "A"}]}\n["x"]\n["y"')

    package, findings = read_package([tmp_path])

    assert list(package.datasets) == ["DM"]
    assert codes(findings) == ["file-unreadable"] * 4
    messages = {f.source.file: f.message for f in findings}
    assert messages["ae.csv"] == (
        "ae.csv: can't be read as CSV: it holds binary data (NUL bytes), not CSV text"
    )
    assert messages["cm.parquet"].startswith("cm.parquet: can't be read as Parquet: ")
    assert messages["ex.json"].startswith("ex.json: can't be read as Dataset-JSON: not valid JSON")
    assert messages["mh.ndjson"].startswith(
        "mh.ndjson: can't be read as Dataset-JSON (NDJSON): line 3 is not valid JSON"
    )
    assert [f.dataset for f in findings] == ["AE", "CM", None, None]


# --- CSV and Parquet ------------------------------------------------------------------------


def test_csv_types_missing_values_and_identifiers(tmp_path: Path) -> None:
    path = tmp_path / "lb.csv"
    path.write_text(
        "STUDYID,DOMAIN,SUBJID,LBSEQ,LBTESTCD,LBORRES,LBSTRESN,LBCOMM\n"
        "TF-01,LB,001,1,NA,140,140,\n"
        "TF-01,LB,002,2,K,4.1,4.1,\n"
        "TF-01,LB,010,3,GLUC,,-1.5e1,\n",
        encoding="utf-8",
    )

    package, findings = read_package([path])

    assert findings == []
    lb = package.get("LB")
    frame = lb.frame
    assert lb.kind == "sdtm"
    assert lb.encoding == "UTF-8"
    assert frame["SUBJID"].tolist() == ["001", "002", "010"]  # leading zeros keep it text
    assert frame["LBTESTCD"].tolist() == ["NA", "K", "GLUC"]  # "NA" is sodium, not missing
    assert frame["LBORRES"].tolist()[:2] == ["140", "4.1"]  # Char in the SDTMIG
    assert frame["LBSTRESN"].tolist() == [140.0, 4.1, -15.0]
    assert frame["LBCOMM"].isna().all()
    dtypes = frame.dtypes.astype(str).to_dict()
    assert dtypes == {
        "STUDYID": "str",
        "DOMAIN": "str",
        "SUBJID": "str",
        "LBSEQ": "float64",
        "LBTESTCD": "str",
        "LBORRES": "str",
        "LBSTRESN": "float64",
        "LBCOMM": "str",
        RECORD: "int64",
        FILE: "str",
    }
    assert frame[RECORD].tolist() == [1, 2, 3]
    assert frame[FILE].tolist() == ["lb.csv"] * 3
    assert lb.labels == {} and lb.lengths == {}


def test_cp1252_csv_falls_back_and_a_bom_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "ae.csv").write_bytes("DOMAIN,AETERM\nAE,NAUSÉE\n".encode("cp1252"))
    (tmp_path / "cm.csv").write_bytes("DOMAIN,CMTRT\nCM,MÉTFORMINE\n".encode("utf-8-sig"))

    package, findings = read_package([tmp_path])

    assert package.get("AE").frame["AETERM"].tolist() == ["NAUSÉE"]
    assert package.get("CM").variables == ["DOMAIN", "CMTRT"]
    assert package.get("CM").frame["CMTRT"].tolist() == ["MÉTFORMINE"]
    assert package.get("CM").encoding == "UTF-8"
    assert [(f.code, f.severity, f.message) for f in findings] == [
        ("file-encoding-fallback", "notice", "ae.csv: text is not valid UTF-8; read as cp1252")
    ]


def test_parquet_types(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "STUDYID": ["TF-01", "TF-01", "TF-01"],
            "DOMAIN": ["EX", "EX", "EX"],
            "EXSEQ": pd.Series([1, 2, 3], dtype="int64"),
            "EXDOSE": [1.5, np.nan, 3.0],
            "EXTRT": ["CELLS", None, ""],
            "EXFLAG": [True, False, True],
            "EXSTDTC": pd.to_datetime(
                ["2024-03-01 08:30:00", None, "2024-03-02 00:00:00.250"], format="ISO8601"
            ),
            "EXAMT": [Decimal("1.25"), Decimal("2.50"), None],
        }
    )
    path = tmp_path / "ex.parquet"
    frame.to_parquet(path, engine="pyarrow", index=False)

    package, findings = read_package([path])

    assert findings == []
    ex = package.get("EX")
    assert ex.kind == "sdtm"
    out = ex.frame
    assert out["EXSEQ"].tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(out["EXDOSE"].to_numpy(), [1.5, np.nan, 3.0])
    np.testing.assert_array_equal(out["EXAMT"].to_numpy(), [1.25, 2.5, np.nan])
    assert out["EXTRT"].tolist()[0] == "CELLS"
    assert out["EXTRT"].isna().tolist() == [False, True, True]
    assert out["EXFLAG"].tolist() == ["true", "false", "true"]
    assert out["EXSTDTC"].tolist()[0::2] == ["2024-03-01T08:30:00", "2024-03-02T00:00:00.25"]
    assert out["EXSTDTC"].isna().tolist() == [False, True, False]
    assert {c: str(out[c].dtype) for c in ex.variables} == {
        "STUDYID": "str",
        "DOMAIN": "str",
        "EXSEQ": "float64",
        "EXDOSE": "float64",
        "EXTRT": "str",
        "EXFLAG": "str",
        "EXSTDTC": "str",
        "EXAMT": "float64",
    }
    assert out[RECORD].tolist() == [1, 2, 3]
    assert out[FILE].tolist() == ["ex.parquet"] * 3


def test_parquet_index_is_not_a_variable(tmp_path: Path) -> None:
    frame = pd.DataFrame({"DOMAIN": ["CM", "CM"], "CMTRT": ["A", "B"]}, index=[7, 9])
    frame.index.name = "row"
    frame.to_parquet(tmp_path / "cm.parquet", engine="pyarrow")

    package, _ = read_package([tmp_path / "cm.parquet"])

    assert package.get("CM").variables == ["DOMAIN", "CMTRT"]
    assert package.get("CM").frame[RECORD].tolist() == [1, 2]


# --- Dataset-JSON ---------------------------------------------------------------------------


def check_vs(package, file: str) -> None:
    vs = package.get("VS")
    assert vs.kind == "sdtm"
    assert vs.files == (file,)
    assert vs.label == "Vital Signs"
    assert vs.encoding == "UTF-8"
    frame = vs.frame
    assert vs.variables == [c[0] for c in VS_COLUMNS]
    np.testing.assert_array_equal(frame["VSSEQ"].to_numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(frame["VSSTRESN"].to_numpy(), [72.5, 170.0, np.nan])
    np.testing.assert_array_equal(frame["VSWT"].to_numpy(), [72.5, np.nan, 1.25])
    assert frame["VSDTC"].tolist()[:2] == ["2024-03-01T08:30", "2024-03-01"]
    assert frame["VSDTC"].isna().tolist() == [False, False, True]  # "" is missing
    assert frame["VSBLFL"].tolist()[0::2] == ["True", "False"]
    assert {c: str(frame[c].dtype) for c in vs.variables} == {
        "STUDYID": "str",
        "DOMAIN": "str",
        "USUBJID": "str",
        "VSSEQ": "float64",
        "VSTESTCD": "str",
        "VSSTRESN": "float64",
        "VSWT": "float64",
        "VSDTC": "str",
        "VSBLFL": "str",
    }
    assert frame[RECORD].tolist() == [1, 2, 3]
    assert frame[FILE].tolist() == [file] * 3
    assert vs.labels["VSSTRESN"] == "Numeric Result/Finding in Standard Units"
    assert vs.lengths == {"STUDYID": 5, "DOMAIN": 2, "USUBJID": 9, "VSTESTCD": 8}


def test_dataset_json_name_label_and_types(tmp_path: Path) -> None:
    path = tmp_path / "vitals.json"  # the name comes from the document, not the file
    path.write_text(json.dumps(dataset_json("VS", "Vital Signs", VS_COLUMNS, VS_ROWS)))

    package, findings = read_package([path])

    assert findings == []
    assert list(package.datasets) == ["VS"]
    check_vs(package, "vitals.json")


def test_dataset_ndjson(tmp_path: Path) -> None:
    path = write_ndjson(
        tmp_path / "vs.ndjson", dataset_json("VS", "Vital Signs", VS_COLUMNS, VS_ROWS)
    )

    package, findings = read_package([path])

    assert findings == []
    check_vs(package, "vs.ndjson")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_dataset_json_non_json_constants_are_refused(tmp_path: Path, constant: str) -> None:
    # Python's json module reads NaN/Infinity; JSON has neither, so a writer that emits them
    # has not written Dataset-JSON, and reading NaN as missing would hide that
    document = dataset_json("VS", "Vital Signs", VS_COLUMNS, [list(r) for r in VS_ROWS])
    document["rows"][1][5] = "__CONSTANT__"
    text = json.dumps(document).replace('"__CONSTANT__"', constant)
    (tmp_path / "vs.json").write_text(text)
    rows = [json.dumps(r) for r in document["rows"]]
    meta = json.dumps({k: v for k, v in document.items() if k != "rows"})
    (tmp_path / "lb.ndjson").write_text(
        "\n".join([meta.replace('"VS"', '"LB"'), *rows]).replace('"__CONSTANT__"', constant)
    )

    write_dm(tmp_path)

    package, findings = read_package([tmp_path])

    assert list(package.datasets) == ["DM"]
    assert [(f.code, f.source.file) for f in findings] == [
        ("file-unreadable", "lb.ndjson"),
        ("file-unreadable", "vs.json"),
    ]
    for finding in findings:
        assert finding.message.endswith(
            f"it holds {constant}, which is not JSON (RFC 8259): a missing value is null, "
            "and Dataset-JSON numbers are finite"
        ), finding.message


@pytest.mark.skipif(
    jsonschema is None,
    reason="needs jsonschema (the test extra)",
)
def test_test_documents_follow_the_dataset_json_schemas(tmp_path: Path) -> None:
    document = dataset_json("VS", "Vital Signs", VS_COLUMNS, VS_ROWS)
    jsonschema.validate(document, json.loads(JSON_SCHEMA.read_text()))
    path = write_ndjson(tmp_path / "vs.ndjson", document)
    metadata = json.loads(path.read_text().splitlines()[0])
    jsonschema.validate(metadata, json.loads(NDJSON_SCHEMA.read_text()))


def test_dataset_json_damaged_documents(tmp_path: Path) -> None:
    short = dataset_json("VS", "Vital Signs", VS_COLUMNS, VS_ROWS)
    short["records"] = 5
    (tmp_path / "a.json").write_text(json.dumps(short))
    word = dataset_json("VS", "Vital Signs", VS_COLUMNS, [list(VS_ROWS[0])])
    word["rows"][0][5] = "high"
    (tmp_path / "b.json").write_text(json.dumps(word))
    ragged = dataset_json("VS", "Vital Signs", VS_COLUMNS, [VS_ROWS[0][:-1]])
    (tmp_path / "c.json").write_text(json.dumps(ragged))
    old = {"clinicalData": {"itemGroupData": {}}}
    (tmp_path / "d.json").write_text(json.dumps(old))
    (tmp_path / "e.json").write_bytes(b'{"name": "\xe9"}')
    write_dm(tmp_path)

    package, findings = read_package([tmp_path])

    assert list(package.datasets) == ["DM"]
    got = {f.source.file: (f.code, f.message) for f in findings}
    prefix = "can't be read as Dataset-JSON:"
    assert got == {
        "a.json": (
            "file-unreadable",
            f"a.json: {prefix} it declares 5 records but holds 3; the file is truncated",
        ),
        "b.json": (
            "file-unreadable",
            f"b.json: {prefix} variable VSSTRESN is numeric but record 1 holds 'high'",
        ),
        "c.json": (
            "file-unreadable",
            f"c.json: {prefix} a row has 8 values but there are 9 columns",
        ),
        "d.json": (
            "file-unreadable",
            f"d.json: {prefix} it is Dataset-JSON 1.0; only Dataset-JSON 1.1 is read",
        ),
        "e.json": (
            "file-encoding-undecodable",
            "e.json: can't decode the text: Dataset-JSON must be UTF-8: 'utf-8' codec can't "
            "decode byte 0xe9 in position 10: invalid continuation byte",
        ),
    }


# --- identity: split domains, kinds, duplicates ---------------------------------------------


def test_split_domain_is_one_dataset(tmp_path: Path) -> None:
    write_xpt(lb_part("LB", 2), tmp_path / "lbch.xpt", dataset="LBCH", label="Chemistry")
    he = lb_part("LB", 3, start=3).assign(LBFAST=text(["Y", "N", ""]))
    write_xpt(he, tmp_path / "lbhe.xpt", dataset="LBHE", label="Hematology")

    package, findings = read_package([tmp_path])

    assert findings == []
    assert list(package.datasets) == ["LB"]
    lb = package.get("LB")
    assert lb.kind == "sdtm"
    assert lb.files == ("lbch.xpt", "lbhe.xpt")
    assert lb.label == "Chemistry"
    assert lb.variables == ["STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBSTRESN", "LBFAST"]
    assert lb.frame["USUBJID"].tolist() == [f"TF-01-{i:03d}" for i in range(1, 6)]
    assert lb.frame["LBSEQ"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert lb.frame[RECORD].tolist() == [1, 2, 1, 2, 3]
    assert lb.frame[FILE].tolist() == ["lbch.xpt"] * 2 + ["lbhe.xpt"] * 3
    assert lb.frame["LBFAST"].isna().tolist() == [True, True, False, False, True]
    assert lb.frame["LBFAST"].dtype == "str"
    assert lb.frame["LBSEQ"].dtype == "float64"
    assert lb.frame[RECORD].dtype == "int64"
    assert lb.lengths["LBFAST"] == 1
    assert lb.frame.index.tolist() == [0, 1, 2, 3, 4]


def test_split_parts_in_different_formats_and_type_mismatch(tmp_path: Path) -> None:
    write_xpt(lb_part("LB", 2), tmp_path / "lbch.xpt", dataset="LBCH")
    ur = lb_part("LB", 1, start=3)
    ur["LBSTRESN"] = ur["LBSTRESN"].astype(str).astype("str") + " mg"
    ur.to_csv(tmp_path / "lbur.csv", index=False)

    package, findings = read_package([tmp_path])

    lb = package.get("LB")
    assert lb.files == ("lbch.xpt", "lbur.csv")
    assert lb.frame["LBSTRESN"].tolist() == ["0.0", "1.5", "0.0 mg"]
    assert lb.frame["LBSTRESN"].dtype == "str"
    assert lb.frame["LBSEQ"].tolist() == [1.0, 2.0, 3.0]
    assert findings == [
        Finding(
            "file-split-type-mismatch",
            "warning",
            "lbch.xpt: LB.LBSTRESN is numeric in lbch.xpt but text in lbur.csv; read as text",
            dataset="LB",
            source=Source("lbch.xpt"),
        )
    ]


def test_domain_column_names_the_dataset(tmp_path: Path) -> None:
    (tmp_path / "demog.csv").write_text("STUDYID,DOMAIN,USUBJID\nTF-01,DM,TF-01-001\n")

    package, findings = read_package([tmp_path / "demog.csv"])

    assert findings == []
    assert list(package.datasets) == ["DM"]
    assert package.get("DM").files == ("demog.csv",)
    assert package.get("DM").frame[FILE].tolist() == ["demog.csv"]


def test_kinds(tmp_path: Path) -> None:
    supp = pd.DataFrame(
        {
            "STUDYID": text(["TF-01"]),
            "RDOMAIN": text(["LB"]),
            "USUBJID": text(["TF-01-001"]),
            "IDVAR": text(["LBSEQ"]),
            "IDVARVAL": text(["1"]),
            "QNAM": text(["LBCLSIG"]),
            "QVAL": text(["Y"]),
        }
    )
    write_xpt(supp, tmp_path / "supplb.xpt", dataset="SUPPLB")
    adsl = pd.DataFrame({"STUDYID": text(["TF-01"]), "USUBJID": text(["TF-01-001"])})
    write_xpt(adsl, tmp_path / "adsl.xpt", dataset="ADSL")
    (tmp_path / "relrec.csv").write_text("STUDYID,RDOMAIN\nTF-01,AE\n")
    (tmp_path / "xx.csv").write_text("STUDYID,DOMAIN,XXSEQ\nTF-01,XX,1\n")

    package, findings = read_package([tmp_path])

    assert findings == []
    assert {n: d.kind for n, d in package.datasets.items()} == {
        "ADSL": "adam",
        "RELREC": "other",
        "SUPPLB": "supp",
        "XX": "sdtm",
    }


def test_dataset_without_domain(tmp_path: Path) -> None:
    (tmp_path / "dm.csv").write_text("STUDYID,USUBJID\nTF-01,TF-01-001\n")
    lbch = lb_part("LB", 1).drop(columns="DOMAIN")
    write_xpt(lbch, tmp_path / "lbch.xpt", dataset="LBCH")

    package, findings = read_package([tmp_path])

    assert sorted(package.datasets) == ["DM", "LBCH"]
    assert package.get("DM").kind == "sdtm"
    assert package.get("DM").frame["USUBJID"].tolist() == ["TF-01-001"]
    assert [(f.code, f.severity, f.dataset, f.message) for f in findings] == [
        ("file-no-domain", "warning", "DM", "dm.csv: SDTM dataset DM has no DOMAIN variable"),
        ("file-no-domain", "warning", "LBCH", "lbch.xpt: SDTM dataset LBCH has no DOMAIN variable"),
    ]


def test_duplicate_dataset_keeps_the_first(tmp_path: Path) -> None:
    write_dm(tmp_path)
    (tmp_path / "dm.csv").write_text("STUDYID,DOMAIN,USUBJID\nOTHER,DM,X-1\n")

    package, findings = read_package([tmp_path / "dm.xpt", tmp_path / "dm.csv"])

    dm = package.get("DM")
    assert dm.files == ("dm.xpt",)
    assert dm.frame["STUDYID"].tolist() == ["TF-01"] * 3
    assert findings == [
        Finding(
            "file-duplicate-dataset",
            "error",
            "dm.csv: dataset DM was already read from dm.xpt; this file is ignored",
            dataset="DM",
            source=Source("dm.csv"),
        )
    ]


# --- empty, unsupported, missing ------------------------------------------------------------


def test_empty_dataset_is_returned_with_a_warning(tmp_path: Path) -> None:
    empty = pd.DataFrame(
        {"STUDYID": text([]), "DOMAIN": text([]), "USUBJID": text([]), "AESEQ": []}
    )
    write_xpt(empty, tmp_path / "ae.xpt", dataset="AE")
    (tmp_path / "cm.csv").write_text("STUDYID,DOMAIN,CMTRT\n")
    (tmp_path / "ex.csv").write_bytes(b"")
    write_dm(tmp_path)

    package, findings = read_package([tmp_path])

    assert list(package.datasets) == ["AE", "CM", "DM"]
    ae = package.get("AE")
    assert len(ae.frame) == 0
    assert list(ae.frame.columns) == ["STUDYID", "DOMAIN", "USUBJID", "AESEQ", RECORD, FILE]
    assert ae.frame["USUBJID"].dtype == "str"
    assert ae.frame["AESEQ"].dtype == "float64"
    assert ae.kind == "sdtm"
    assert package.get("CM").variables == ["STUDYID", "DOMAIN", "CMTRT"]
    assert package.get("CM").frame["CMTRT"].dtype == "str"
    assert [(f.code, f.severity, f.dataset, f.message) for f in findings] == [
        ("file-empty", "warning", "AE", "ae.xpt: the dataset has no records"),
        ("file-empty", "warning", "CM", "cm.csv: the dataset has no records"),
        (
            "file-empty",
            "error",
            "EX",
            "ex.csv: the file has no columns (it is empty); nothing to validate",
        ),
    ]


def test_dataset_json_without_columns_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ae.json").write_text(json.dumps(dataset_json("AE", "Adverse Events", [], [])))
    write_dm(tmp_path)

    package, findings = read_package([tmp_path])

    assert list(package.datasets) == ["DM"]
    assert [(f.code, f.severity, f.dataset, f.message) for f in findings] == [
        ("file-empty", "error", "AE", "ae.json: the dataset has no columns; nothing to validate")
    ]


def test_unsupported_files(tmp_path: Path) -> None:
    write_dm(tmp_path)
    (tmp_path / "ae.sas7bdat").write_bytes(b"\0" * 64)
    (tmp_path / "notes.txt").write_text("reviewer notes")
    (tmp_path / ".hidden.xpt").write_text("not read")
    (tmp_path / "sub").mkdir()

    in_folder, folder_findings = read_package([tmp_path])
    named, named_findings = read_package([tmp_path / "dm.xpt", tmp_path / "notes.txt"])

    assert list(in_folder.datasets) == ["DM"] == list(named.datasets)
    assert folder_findings == [
        Finding(
            "file-unsupported",
            "warning",
            "ae.sas7bdat: SAS data sets (.sas7bdat) are not read; provide SAS transport (.xpt)",
            source=Source("ae.sas7bdat"),
        )
    ]
    assert [(f.code, f.severity, f.message) for f in named_findings] == [
        (
            "file-unsupported",
            "warning",
            "notes.txt: unsupported file type '.txt'; supported are .xpt, .csv, .parquet, "
            ".json, .ndjson",
        )
    ]


def test_missing_path_raises(tmp_path: Path) -> None:
    write_dm(tmp_path)
    missing = tmp_path / "sdtm" / "lb.xpt"

    with pytest.raises(RawInputError) as error:
        read_package([tmp_path / "dm.xpt", missing])

    assert str(error.value) == f"{missing}: no such file or folder"


def test_nothing_readable_raises_with_the_findings(tmp_path: Path) -> None:
    (tmp_path / "ae.xpt").write_text("not transport")
    (tmp_path / "notes.txt").write_text("x")

    with pytest.raises(RawInputError) as error:
        read_package([tmp_path / "ae.xpt", tmp_path / "notes.txt"])

    assert str(error.value).startswith(
        f"no readable datasets in {tmp_path / 'ae.xpt'}, {tmp_path / 'notes.txt'}: ae.xpt: "
    )
    # every file's problem is in the line, none summarised as "(and 1 more)"
    assert str(error.value).endswith(
        "ae.xpt: can't be read as SAS transport (XPT): it does not start with a SAS transport "
        "LIBRARY header record; notes.txt: unsupported file type '.txt'; supported are .xpt, "
        ".csv, .parquet, .json, .ndjson"
    )
    assert "more)" not in str(error.value)
    assert codes(error.value.findings) == ["file-unreadable", "file-unsupported"]

    (tmp_path / "empty").mkdir()
    with pytest.raises(RawInputError, match=r"^no readable datasets in .*empty$"):
        read_package([tmp_path / "empty"])


def test_folder_order_single_path_and_repeats(tmp_path: Path) -> None:
    write_xpt(lb_part("LB", 1), tmp_path / "lb.xpt", dataset="LB")
    write_dm(tmp_path)
    (tmp_path / "ae.csv").write_text("DOMAIN,AETERM\nAE,HEADACHE\n")

    package, findings = read_package(str(tmp_path))
    again, again_findings = read_package([tmp_path, tmp_path / "dm.xpt"])

    assert findings == [] == again_findings
    assert list(package.datasets) == ["AE", "DM", "LB"] == list(again.datasets)
    assert again.get("DM").files == ("dm.xpt",)


def test_csv_keeps_sdtmig_character_variables_as_text_even_when_they_look_numeric(tmp_path):
    (tmp_path / "lb.csv").write_text(
        "STUDYID,DOMAIN,USUBJID,LBSEQ,LBTESTCD,LBORRES,LBSTRESN\n"
        "S,LB,S-1,1,GLUC,9.3,9.3\nS,LB,S-1,2,GLUC,7,7\n"
    )
    package, findings = read_package([tmp_path / "lb.csv"])
    assert findings == []
    lb = package.get("LB").frame
    assert str(lb["LBORRES"].dtype) == "str" and lb["LBORRES"].tolist() == ["9.3", "7"]
    assert lb["LBSTRESN"].dtype == "float64" and lb["LBSEQ"].dtype == "float64"


def test_xpt_v5_names_are_the_names_pyreadstat_reads(tmp_path: Path) -> None:
    import pyreadstat

    from trialflow.io.package import xpt_v5_names
    from trialflow.io.xpt import write_xpt

    frame = pd.DataFrame({f"V{i}": ["a"] for i in range(40)} | {"AGE": [34.0], "_X": ["x"]})
    path = write_xpt(frame, tmp_path / "xx.xpt", dataset="XX")
    _, meta = pyreadstat.read_xport(str(path), metadataonly=True)
    assert xpt_v5_names(path) == list(meta.column_names) == list(frame.columns)
    # Not v5 (or not XPT at all): None, and the caller asks pyreadstat.
    v8 = b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!"
    (tmp_path / "x.xpt").write_bytes(v8 + b" " * 32)
    (tmp_path / "y.xpt").write_bytes(b"")
    assert xpt_v5_names(tmp_path / "x.xpt") is None
    assert xpt_v5_names(tmp_path / "y.xpt") is None
    assert xpt_v5_names(tmp_path / "missing.xpt") is None
