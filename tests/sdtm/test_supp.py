"""Supplemental qualifiers: the supp entries of a domain spec, the SUPP-- dataset they make for
the example (SUPPEX from the INFUSION form's dosing weight) and the rules that check SUPP--."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS, line_of, replace_once

from trialflow.errors import RawInputError, SpecError
from trialflow.mapping.load import load_study
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm
from trialflow.validation.core import Dataset, Package
from trialflow.validation.engine import validate_package

SUPP_LINE = "  - {qnam: WEIGHTDS, qlabel: Weight Used for Dosing, raw: WEIGHT_KG, qorig: CRF}"


@pytest.fixture(scope="module")
def example():
    return build_sdtm(load_study(EXAMPLE_SPECS), read_export(EXAMPLE_EXPORT), on_issue="none")


def raw_infusions() -> pd.DataFrame:
    """The INFUSION sheet read with openpyxl, the cells as the site typed them."""
    book = openpyxl.load_workbook(EXAMPLE_EXPORT, read_only=True)
    rows = list(book["INFUSION"].iter_rows(values_only=True))
    frame = pd.DataFrame(rows[1:], columns=rows[0]).astype("str")
    frame["ROW"] = range(2, len(frame) + 2)
    return frame


def test_suppex_has_one_record_per_infusion_given_with_the_raw_weight(example):
    supp = example.domains["SUPPEX"]
    raw = raw_infusions()
    given = raw[raw["GIVEN"].isin(["Y", "Yes", "1"])]
    assert len(given) == len(supp) == 48
    assert list(supp.columns) == ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM",
                                  "QLABEL", "QVAL", "QORIG", "QEVAL"]  # fmt: skip
    assert set(supp["STUDYID"]) == {"HUCMSC-T2DM"}
    assert set(supp["RDOMAIN"]) == {"EX"}
    assert set(supp["IDVAR"]) == {"EXSEQ"}
    assert set(supp["QNAM"]) == {"WEIGHTDS"}
    assert set(supp["QLABEL"]) == {"Weight Used for Dosing"}
    assert set(supp["QORIG"]) == {"CRF"}
    assert supp["QEVAL"].isna().all()
    # each SUPPEX record points at the EX record of the same infusion and holds its raw weight
    ex = example.domains["EX"].assign(IDVARVAL=lambda f: f["EXSEQ"].astype(int).astype(str))
    ex_rows = example.lineage["EX"]["source_row"].to_numpy()
    ex = ex.assign(ROW=ex_rows)
    merged = supp.merge(ex[["USUBJID", "IDVARVAL", "ROW"]], on=["USUBJID", "IDVARVAL"],
                        how="left", validate="one_to_one")  # fmt: skip
    assert merged["ROW"].notna().all()
    weights = merged.merge(raw[["ROW", "SUBJ", "WEIGHT_KG"]], on="ROW")
    assert (weights["QVAL"] == weights["WEIGHT_KG"]).all()
    assert (weights["USUBJID"] == "HUCMSC-T2DM-" + weights["SUBJ"]).all()
    # the first subject: three infusions at 78.5 kg, EXSEQ 1-3
    first = supp[supp["USUBJID"] == "HUCMSC-T2DM-01-001"]
    assert first[["IDVARVAL", "QVAL"]].values.tolist() == [["1", "78.5"], ["2", "78.5"],
                                                           ["3", "78.5"]]  # fmt: skip


def test_suppex_lineage_names_the_raw_cell(example):
    lineage = example.lineage["SUPPEX"]
    assert len(lineage) == 48
    assert set(lineage["QVAL"]) == {"WEIGHT_KG"}
    assert set(lineage["source_sheet"]) == {"INFUSION"}
    assert lineage["record"].tolist() == list(range(1, 49))


def test_example_suppex_validates_clean(example):
    from trialflow.pipeline import sdtm_package

    report = validate_package(sdtm_package(example), on_issue="none")
    assert [f for f in report.findings if f.dataset == "SUPPEX"] == []


def test_a_subject_without_a_weight_gets_no_supp_record(study_copy: Path, tmp_path: Path):
    book = openpyxl.load_workbook(EXAMPLE_EXPORT)
    sheet = book["INFUSION"]
    col = [c.value for c in sheet[1]].index("WEIGHT_KG") + 1
    sheet.cell(row=2, column=col).value = None  # 01-001's first infusion
    path = tmp_path / "raw.xlsx"
    book.save(path)
    replace_once(study_copy / "ex.yaml", "qorig: CRF}", "qorig: CRF, qeval: INVESTIGATOR}")
    result = build_sdtm(load_study(study_copy), read_export(path), on_issue="none")
    supp = result.domains["SUPPEX"]
    assert len(supp) == 47
    first = supp[supp["USUBJID"] == "HUCMSC-T2DM-01-001"]
    assert first["IDVARVAL"].tolist() == ["2", "3"]
    assert set(supp["QEVAL"]) == {"INVESTIGATOR"}


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ("{qnam: weightds, qlabel: W, raw: WEIGHT_KG}", "supp[0].qnam", "pattern"),
        ("{qnam: 1WEIGHT, qlabel: W, raw: WEIGHT_KG}", "supp[0].qnam", "pattern"),
        ("{qnam: WEIGHTDOSE, qlabel: W, raw: WEIGHT_KG}", "supp[0].qnam", "at most 8"),
        ("{qnam: WEIGHTDS, qlabel: " + "W" * 41 + ", raw: WEIGHT_KG}", "supp[0].qlabel",
         "at most 40"),
        ("{qnam: WEIGHTDS, qlabel: W, raw: WEIGHT_KG, qorig: Site}", "supp[0].qorig", "CRF"),
        ("{qnam: WEIGHTDS, qlabel: W, raw: WEIGHT_KG, qval: x}", "supp[0].qval", ""),
    ],
)  # fmt: skip
def test_bad_supp_entries_are_spec_errors_at_their_line(study_copy, entry, key, words):
    spec = study_copy / "ex.yaml"
    replace_once(spec, SUPP_LINE, "  - " + entry)
    with pytest.raises(SpecError) as err:
        load_study(study_copy)
    line = line_of(spec, entry[:20])
    assert str(err.value).startswith(f"{spec}:{line}: {key}")
    assert words in str(err.value)


def test_a_qnam_listed_twice_is_a_spec_error(study_copy):
    spec = study_copy / "ex.yaml"
    replace_once(spec, SUPP_LINE, SUPP_LINE + "\n  - {qnam: WEIGHTDS, qlabel: W, raw: DOSE}")
    with pytest.raises(SpecError, match=r"ex.yaml:\d+: supp\[1\].qnam: .*listed twice"):
        load_study(study_copy)


def test_a_qnam_that_is_a_variable_of_the_parent_is_a_spec_error(study_copy):
    spec = study_copy / "ex.yaml"
    replace_once(spec, "qnam: WEIGHTDS", "qnam: EXDOSE")
    study = load_study(study_copy)
    with pytest.raises(SpecError) as err:
        build_sdtm(study, read_export(EXAMPLE_EXPORT), on_issue="none")
    line = line_of(spec, "qnam: EXDOSE")
    assert str(err.value).startswith(f"{spec}:{line}: supp[0].qnam: EXDOSE is a variable of EX")


def test_supp_of_a_domain_without_seq_names_the_variable_to_add(study_copy):
    spec = study_copy / "ex.yaml"
    replace_once(spec, "  - {name: EXSEQ, method: seq}\n", "")
    with pytest.raises(SpecError, match=r"supp: .*add \{name: EXSEQ, method: seq\}"):
        build_sdtm(load_study(study_copy), read_export(EXAMPLE_EXPORT), on_issue="none")


def test_a_supp_raw_column_the_sheet_lacks_names_the_spec_line(study_copy):
    spec = study_copy / "ex.yaml"
    replace_once(spec, "raw: WEIGHT_KG", "raw: WEIGHT")
    with pytest.raises(RawInputError) as err:
        build_sdtm(load_study(study_copy), read_export(EXAMPLE_EXPORT), on_issue="none")
    line = line_of(spec, "raw: WEIGHT,")
    assert str(err.value).startswith(f"{spec}:{line}: supp[0].raw: no column 'WEIGHT'")
    assert "did you mean 'WEIGHT_KG'?" in str(err.value)


# --- validation of SUPP-- datasets -----------------------------------------------------------


def broken_package() -> Package:
    dm = pd.DataFrame({"STUDYID": "S", "DOMAIN": "DM", "USUBJID": ["S-1", "S-2"]})
    ex = pd.DataFrame({"STUDYID": "S", "DOMAIN": "EX", "USUBJID": ["S-1", "S-1"],
                       "EXSEQ": [1.0, 2.0]})  # fmt: skip
    supp = pd.DataFrame(
        {
            "STUDYID": "S",
            "RDOMAIN": "EX",
            "USUBJID": ["S-1", "S-1", "S-1", "S-2", "S-1"],
            "IDVAR": "EXSEQ",
            "IDVARVAL": ["1", "1", "2", "1", "2"],
            "QNAM": ["WEIGHTDS", "WEIGHTDS", "WEIGHTDS", "WEIGHTDS", "EXDOSE"],
            "QLABEL": "Weight Used for Dosing",
            "QVAL": ["70", "71", "", "60", "1"],
            "QORIG": "CRF",
            "QEVAL": "",
        },
        dtype="str",
    )
    frames = {"DM": dm, "EX": ex}
    datasets = {n: Dataset.from_frame(n, f) for n, f in frames.items()}
    datasets["SUPPEX"] = Dataset.from_frame("SUPPEX", supp, kind="supp")
    return Package(datasets)


def test_broken_supp_findings():
    report = validate_package(broken_package(), on_issue="none")
    found = sorted(
        (f.code, f.record, f.variable) for f in report.findings if f.dataset == "SUPPEX"
    )
    assert found == [
        ("key-not-unique", 1, None),  # two WEIGHTDS records for EXSEQ 1: QNAM not unique
        ("key-not-unique", 2, None),
        ("required-value-missing", 3, "QVAL"),  # QVAL empty
        ("supp-parent-missing", 4, "IDVARVAL"),  # S-2 has no EX record
        ("supp-qlabel-not-one-to-one", 5, "QLABEL"),  # EXDOSE reuses WEIGHTDS's label
        ("supp-qnam-invalid", 5, "QNAM"),  # EXDOSE is an EX variable
    ]
    orphan = next(f for f in report.findings if f.code == "supp-parent-missing")
    assert orphan.usubjid == "S-2"
    assert "no 'EX' record of 'S-2' has EXSEQ = '1'" in orphan.message


def test_dm_supp_records_point_at_the_subject():
    dm = Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["S-1"]}))
    frame = pd.DataFrame(
        {"RDOMAIN": "DM", "USUBJID": ["S-1", "S-9"], "IDVAR": "", "IDVARVAL": "",
         "QNAM": ["RACEOTH", "1RACE"]}
    )  # fmt: skip
    supp = Dataset.from_frame("SUPPDM", frame, kind="supp")
    rules = ["supp-parent-missing", "supp-qnam-invalid"]
    report = validate_package(Package({"DM": dm, "SUPPDM": supp}), rules=rules, on_issue="none")
    assert sorted((f.code, f.record) for f in report.findings) == [
        ("supp-parent-missing", 2),
        ("supp-qnam-invalid", 2),
    ]
