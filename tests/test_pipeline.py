"""End to end: the bundled example and fresh synthetic exports through map and write."""

import hashlib
import json

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.io.workbook import write_workbook
from trialflow.pipeline import map_study
from trialflow.raw import read_export
from trialflow.sdtm import metadata
from trialflow.synth import synthesize


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    out = tmp_path_factory.mktemp("example")
    return map_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, out, on_issue="none")


def test_example_maps_without_errors_or_warnings(example):
    serious = [f.one_line() for f in example.findings if f.severity in ("error", "warning")]
    assert serious == []
    dm = example.sdtm.domains["DM"]
    assert len(dm) == 16 and dm["USUBJID"].is_unique
    assert sorted(dm["SEX"].value_counts().items()) == [("F", 4), ("M", 12)]
    ex = example.sdtm.domains["EX"]
    assert len(ex) == 48 and (ex.groupby("USUBJID").size() == 3).all()
    assert ex["EXSTDY"].min() == 1


@pytest.mark.parametrize("domain", ["DM", "VS", "LB", "EX", "AE", "MH"])
def test_every_xpt_reads_back_equal_with_labels(example, domain):
    frame = example.sdtm.domains[domain]
    data, meta = pyreadstat.read_xport(str(example.out / "sdtm" / f"{domain.lower()}.xpt"))
    assert meta.table_name == domain
    assert meta.file_label == metadata.domain_label(domain)
    assert list(data.columns) == list(frame.columns)
    labels = metadata.domain_variables(domain).set_index("name")["label"]
    for name in frame.columns:
        assert meta.column_names_to_labels[name] == labels[name]
        if frame[name].dtype == "float64":
            np.testing.assert_array_equal(data[name].to_numpy(), frame[name].to_numpy())
        else:
            assert data[name].tolist() == frame[name].fillna("").tolist(), name


def test_rows_sorted_by_subject_and_sequence(example):
    for domain, frame in example.sdtm.domains.items():
        if domain == "DM":
            assert frame["USUBJID"].is_monotonic_increasing
            continue
        by = ["USUBJID", f"{domain}SEQ"]
        if f"{domain}SEQ" not in frame or "USUBJID" not in frame:  # trial design, SV: keys
            by = [k for k in metadata.domain_keys(domain) if k != "STUDYID"]
        keys = frame[by]
        assert keys.equals(keys.sort_values(by, na_position="first").reset_index(drop=True))
        assert not keys.duplicated().any()


def test_mh_has_each_subjects_diabetes_diagnosis_date(example):
    mh = example.sdtm.domains["MH"]
    dm = example.sdtm.domains["DM"]
    assert len(mh) == 16 and mh["USUBJID"].tolist() == dm["USUBJID"].tolist()
    assert set(mh["MHDECOD"]) == {"Type 2 diabetes mellitus"} and set(mh["MHSEQ"]) == {1.0}
    assert set(mh["MHENRTPT"]) == {"ONGOING"} and set(mh["MHENTPT"]) == {"SCREENING"}
    raw = read_export(EXAMPLE_EXPORT).sheet("DEMOG").frame.set_index("SUBJ")["DIAB_DX_DT"]
    start = mh.set_index("USUBJID")["MHSTDTC"]
    expected = {
        "01-001": ("UN-UNK-2001", "2001"),
        "01-003": ("UN-MAY-2014", "2014-05"),
        "01-004": ("2013/01/16", "2013-01-16"),
        "01-007": ("2014-10-10", "2014-10-10"),  # a date cell in the workbook
    }
    for subject, (raw_value, iso) in expected.items():
        assert raw[subject] == raw_value
        assert start[f"HUCMSC-T2DM-{subject}"] == iso
    assert start.notna().all()
    # SDTMIG's MHDY is the study day of collection (MHDTC), which the export does not record
    assert "MHDY" not in mh.columns and "MHDTC" not in mh.columns
    assert [f.one_line() for f in example.findings if f.dataset == "MH"] == []


def test_lb_standard_units_and_visits(example):
    lb = example.sdtm.domains["LB"]
    assert set(lb.loc[lb["LBTESTCD"] == "GLUC", "LBSTRESU"]) == {"mmol/L"}
    assert set(lb.loc[lb["LBTESTCD"] == "CPEPTIDE", "LBSTRESU"]) == {"pmol/L"}
    assert set(lb.loc[lb["LBTESTCD"] == "GLUC", "LBORRESU"]) == {"mmol/L", "mg/dL"}
    # baseline FPG lands near the published 9.66 mmol/L
    base = lb[(lb["LBTESTCD"] == "GLUC") & (lb["LBFAST"] == "Y") & (lb["VISITNUM"] == 1)]
    assert len(base) == 16 and 8 < base["LBSTRESN"].mean() < 11.5
    assert lb["VISIT"].str.startswith("UNSCHEDULED").any()
    flagged = lb[lb["LBLOBXFL"] == "Y"]
    assert (flagged["LBDY"] < 0).all()
    assert not flagged.duplicated(["USUBJID", "LBTESTCD", "LBFAST", "LBTPT"]).any()


def test_every_raw_row_is_a_record_or_a_finding(example):
    export = read_export(EXAMPLE_EXPORT)
    found = {(f.source.sheet, f.source.row) for f in example.findings if f.source and f.source.row}
    excluded = pd.read_csv(example.out / "lineage" / "excluded.csv", dtype=str)
    pairs = zip(excluded["source_sheet"], excluded["source_row"], strict=True)
    found |= {(sheet, int(row)) for sheet, row in pairs}
    for domain, spec in example.study.domains.items():
        sheet = spec.source.sheet
        mapped = set(example.sdtm.lineage[domain]["source_row"])
        rows = set(export.sheet(sheet).frame["__ROW__"])
        missing = rows - mapped - {r for s, r in found if s == sheet}
        assert missing == set(), f"{sheet} rows neither mapped nor reported: {sorted(missing)[:5]}"


def test_manifest_lists_every_file_with_its_sha256(example):
    manifest = json.loads((example.out / "manifest.json").read_text())
    assert manifest["synthetic"] is True
    for entry in manifest["files"]:
        data = (example.out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_the_coding_dictionary_is_listed_in_the_manifest_and_report(example):
    # the example AE spec codes from the synthetic ae-coding.csv: MedDRA 26.1, 9000xxxx codes
    entry = {
        "domain": "AE",
        "dictionary": "MedDRA",
        "version": "26.1",
        "file": "ae-coding.csv",
        "variables": ["AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEHLT", "AEHLTCD", "AEHLGT",
                      "AEHLGTCD", "AEBODSYS", "AESOC", "AEBDSYCD", "AESOCCD"],
    }  # fmt: skip
    # and CM from the synthetic study drug dictionary cm-coding.csv
    drugs = {
        "domain": "CM",
        "dictionary": "HUCMSC-T2DM study drug dictionary (SYNTHETIC; not WHODrug)",
        "version": "1.0",
        "file": "cm-coding.csv",
        "variables": ["CMDECOD", "CMCLAS", "CMCLASCD"],
    }
    for name in ("manifest.json", "validation/report.json"):
        body = json.loads((example.out / name).read_text())
        assert body["dictionaries"] == [entry, drugs], name
    ae = example.sdtm.domains["AE"]
    assert not [f for f in example.findings if f.code == "term-not-coded"]
    assert set(zip(ae["AEDECOD"], ae["AEPTCD"], ae["AESOC"], ae["AESOCCD"], strict=True)) == {
        ("Pyrexia", 90000001.0, "General disorders and administration site conditions", 90000301.0),
        ("Hypoglycaemia", 90000011.0, "Metabolism and nutrition disorders", 90000311.0),
    }


def test_outputs_are_byte_identical_across_runs(example, tmp_path):
    again = map_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, tmp_path, on_issue="none")
    first = json.loads((example.out / "manifest.json").read_text())
    second = json.loads((again.out / "manifest.json").read_text())
    assert first == second


def test_a_fresh_synthetic_export_of_40_subjects_maps_with_the_same_specs(tmp_path):
    export = write_workbook(synthesize(subjects=40, seed=7), tmp_path / "export.xlsx")
    result = map_study(EXAMPLE_SPECS, export, tmp_path / "out", on_issue="none")
    serious = [f.one_line() for f in result.findings if f.severity in ("error", "warning")]
    assert serious == []
    assert len(result.sdtm.domains["DM"]) == 40
    assert pd.api.types.is_float_dtype(result.sdtm.domains["LB"]["LBSTRESN"])
