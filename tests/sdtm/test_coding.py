"""Dictionary coding from a coding team's file: the AE hierarchy variables, uncoded terms,
files that can't be trusted, and the dictionary version kept with the result."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from support import line_of, replace_once, tiny_sheets, write_csv_export

from trialflow.errors import RawInputError, SpecError
from trialflow.mapping.load import load_study
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm
from trialflow.synth import synthesize

HEADER = ["VERBATIM", "LLT_NAME", "LLT_CODE", "PT_NAME", "PT_CODE", "HLT_NAME", "HLT_CODE",
          "HLGT_NAME", "HLGT_CODE", "SOC_NAME", "SOC_CODE", "DICTIONARY", "VERSION"]  # fmt: skip
FEVER = ["Fever", "Fever", "90000002", "Pyrexia", "90000001", "Febrile disorders", "90000101",
         "Body temperature conditions", "90000201", "General disorders", "90000301",
         "MedDRA", "26.1"]  # fmt: skip
HYPO = ["low blood sugar at night", "Nocturnal hypoglycaemia", "90000012", "Hypoglycaemia",
        "90000011", "Hypoglycaemic conditions NEC", "90000111", "Glucose metabolism disorders",
        "90000211", "Metabolism and nutrition disorders", "90000311", "MedDRA", "26.1"]  # fmt: skip

AE_ROW = dict(
    SUBJ="01-001", AE_NO="1", AE_TERM="Fever", PT="", SOC="", START_DT="10-JAN-2019",
    END_DT="12-JAN-2019", SEVERITY="Mild", SERIOUS="No", RELATED="Related",
    OUTCOME="Recovered", ACTION="None",
)  # fmt: skip


def write_coding(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def export_with_events(folder: Path) -> Path:
    sheets = tiny_sheets()
    sheets["AE"] = [
        AE_ROW,  # raw row 2
        dict(AE_ROW, AE_NO="2", AE_TERM="FEVER"),  # row 3: another case, same coding
        dict(AE_ROW, SUBJ="02-001", AE_TERM="low blood sugar at night"),  # row 4
        dict(AE_ROW, SUBJ="02-001", AE_NO="2", AE_TERM="Rash"),  # row 5: not coded
    ]
    return write_csv_export(folder, sheets)


def build(export: Path, specs: Path):
    return build_sdtm(load_study(specs), read_export(export), on_issue="none")


def test_the_hierarchy_variables_are_filled_from_the_coding_file(tmp_path, study_copy):
    write_coding(study_copy / "ae-coding.csv", [FEVER, HYPO])
    result = build(export_with_events(tmp_path / "raw"), study_copy)
    ae = result.domains["AE"].set_index("AETERM")
    fever = ae.loc[["Fever", "FEVER"]]
    assert (fever["AELLT"] == "Fever").all() and (fever["AEDECOD"] == "Pyrexia").all()
    assert fever["AELLTCD"].tolist() == [90000002.0, 90000002.0]
    assert fever["AEPTCD"].tolist() == [90000001.0, 90000001.0]
    assert fever["AEHLT"].tolist() == ["Febrile disorders"] * 2
    assert fever["AEHLTCD"].tolist() == [90000101.0] * 2
    assert fever["AEHLGT"].tolist() == ["Body temperature conditions"] * 2
    assert fever["AEHLGTCD"].tolist() == [90000201.0] * 2
    hypo = ae.loc["low blood sugar at night"]
    assert hypo[["AELLT", "AEDECOD", "AEBODSYS", "AESOC"]].tolist() == [
        "Nocturnal hypoglycaemia", "Hypoglycaemia",
        "Metabolism and nutrition disorders", "Metabolism and nutrition disorders",
    ]  # fmt: skip
    assert hypo[["AELLTCD", "AEPTCD", "AEBDSYCD", "AESOCCD"]].tolist() == [
        90000012.0,
        90000011.0,
        90000311.0,
        90000311.0,
    ]
    # SDTMIG order: the hierarchy sits between AEDECOD's neighbours, codes numeric
    cols = list(result.domains["AE"].columns)
    assert cols.index("AELLT") < cols.index("AEDECOD") < cols.index("AEHLT") < cols.index("AESOCCD")
    assert result.domains["AE"]["AESOCCD"].dtype == np.float64
    # the dictionary and its version travel with the result (for define.xml and TS)
    assert result.dictionaries == {
        "AE": {
            "dictionary": "MedDRA",
            "version": "26.1",
            "file": "ae-coding.csv",
            "variables": ["AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEHLT", "AEHLTCD", "AEHLGT",
                          "AEHLGTCD", "AEBODSYS", "AESOC", "AEBDSYCD", "AESOCCD"],
        },
        "CM": {
            "dictionary": "HUCMSC-T2DM study drug dictionary (SYNTHETIC; not WHODrug)",
            "version": "1.0",
            "file": "cm-coding.csv",
            "variables": ["CMDECOD", "CMCLAS", "CMCLASCD"],
        },
    }  # fmt: skip
    # lineage names the coding file's line and column
    lineage = result.lineage["AE"].set_index("source_row")
    assert lineage.loc[4, "AEDECOD"] == "coding: ae-coding.csv, line 3, column PT_NAME"
    assert lineage.loc[2, "AESOCCD"] == "coding: ae-coding.csv, line 2, column SOC_CODE"
    assert lineage.loc[5, "AEDECOD"] == "coding: not coded"


def test_an_uncoded_term_is_a_finding_naming_the_raw_cell(tmp_path, study_copy):
    write_coding(study_copy / "ae-coding.csv", [FEVER, HYPO])
    result = build(export_with_events(tmp_path / "raw"), study_copy)
    found = [f for f in result.findings if f.code == "term-not-coded"]
    assert len(found) == 1
    f = found[0]
    assert (f.severity, f.dataset, f.variable, f.value) == ("error", "AE", "AETERM", "Rash")
    assert f.usubjid == "HUCMSC-T2DM-02-001"
    assert (f.source.file, f.source.sheet, f.source.row, f.source.column) == (
        "raw/AE.csv",
        "AE",
        5,
        "AE_TERM",
    )
    # AE sorted by USUBJID, AESEQ: 01-001's two events, then 02-001's (AEDECOD empty sorts last)
    assert f.record == 4
    assert "'Rash' is not in the coding file ae-coding.csv (MedDRA 26.1)" in f.message
    rash = result.domains["AE"].set_index("AETERM").loc["Rash"]
    assert rash[["AELLT", "AEDECOD", "AEBODSYS", "AESOC"]].isna().all()
    assert rash[["AELLTCD", "AEPTCD", "AESOCCD"]].isna().all()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [FEVER, ["fever", *FEVER[1:4], "90000099", *FEVER[5:]]],
            "ae-coding.csv, line 3, column PT_CODE: verbatim term (case-insensitive) 'fever' "
            "is '90000099' here but '90000001' on line 2; fix the coding file",
        ),
        (
            [FEVER, ["Feverish", "Feverish", "90000003", "Fever NOS", *FEVER[4:]]],
            "ae-coding.csv, line 3, column PT_NAME: PT code '90000001' is 'Fever NOS' here but "
            "'Pyrexia' on line 2; fix the coding file",
        ),
        (
            [FEVER, ["Hot", "Fever", "90000002", *HYPO[3:]]],
            "ae-coding.csv, line 3, column PT_CODE: LLT code '90000002' is '90000011' here but "
            "'90000001' on line 2; fix the coding file",
        ),
        (
            [FEVER, [*HYPO[:10], "9000031x", *HYPO[11:]]],
            "ae-coding.csv, line 3, column SOC_CODE: '9000031x' is not a dictionary code "
            "(whole number, at most 9 digits)",
        ),
        (
            [FEVER, [*HYPO[:12], "27.0"]],
            "ae-coding.csv, line 3, column VERSION: dictionary 'MedDRA' is '27.0' here but "
            "'26.1' on line 2; fix the coding file",
        ),
        (
            [FEVER, [*HYPO[:5], "", *HYPO[6:]]],
            "ae-coding.csv, line 3, column HLT_NAME: no value (every row needs one)",
        ),
    ],
)
def test_a_coding_file_that_cant_be_trusted_names_file_row_and_column(
    tmp_path, study_copy, rows, message
):
    write_coding(study_copy / "ae-coding.csv", rows)
    with pytest.raises(RawInputError) as err:
        build(export_with_events(tmp_path / "raw"), study_copy)
    assert str(err.value) == message


def test_a_coding_file_without_a_column_says_which_to_add(tmp_path, study_copy):
    header = [h.lower() for h in HEADER[:-1]]  # header case does not matter
    write_coding(study_copy / "ae-coding.csv", [FEVER[:-1]], header)
    with pytest.raises(RawInputError) as err:
        build(export_with_events(tmp_path / "raw"), study_copy)
    assert str(err.value).startswith("ae-coding.csv: a coding file needs the columns VERBATIM,")
    assert str(err.value).endswith("; add VERSION")


def test_a_workbook_coding_file_is_read_from_its_sheet(tmp_path, study_copy):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "MedDRA"
    for row in [HEADER, FEVER, HYPO]:
        sheet.append(row)
    book.create_sheet("Notes").append(["coded by the coding team"])
    book.save(study_copy / "ae-coding.xlsx")
    ae = study_copy / "ae.yaml"
    replace_once(ae, "file: ae-coding.csv,", "file: ae-coding.xlsx,")
    with pytest.raises(RawInputError, match="has sheets MedDRA, Notes; name the coding sheet"):
        build(export_with_events(tmp_path / "raw"), study_copy)
    replace_once(ae, "verbatim: AETERM,", "verbatim: AETERM, sheet: MedDRA,")
    result = build(export_with_events(tmp_path / "raw"), study_copy)
    hypo = result.domains["AE"].set_index("AETERM").loc["low blood sugar at night"]
    assert hypo["AEDECOD"] == "Hypoglycaemia"
    lineage = result.lineage["AE"].set_index("source_row")
    assert (
        lineage.loc[4, "AEDECOD"] == "coding: ae-coding.xlsx, sheet MedDRA, row 3, column PT_NAME"
    )


def test_spec_errors_name_the_file_line_and_key(tmp_path, study_copy):
    export = export_with_events(tmp_path / "raw")
    ae = study_copy / "ae.yaml"
    # a variable both mapped and coded
    replace_once(
        ae,
        "  - {name: AESEQ",
        "  - {name: AEDECOD, method: assign_no_ct, raw: PT}\n  - {name: AESEQ",
    )
    with pytest.raises(SpecError) as err:
        build(export, study_copy)
    line = line_of(ae, "name: AEDECOD")
    assert str(err.value) == (
        f"{ae}:{line}: variables[9].name: AEDECOD is filled from the coding file "
        "(coding.file); remove this entry or the coding block"
    )
    replace_once(ae, "  - {name: AEDECOD, method: assign_no_ct, raw: PT}\n", "")
    # the verbatim variable must be mapped
    replace_once(ae, "verbatim: AETERM", "verbatim: AELLT")
    with pytest.raises(SpecError, match=r"ae\.yaml:\d+: coding\.verbatim: AELLT is not mapped"):
        build(export, study_copy)
    replace_once(ae, "verbatim: AELLT", "verbatim: AETERM")
    # the file must be there
    (study_copy / "ae-coding.csv").unlink()
    line = line_of(ae, "coding: {file")
    with pytest.raises(SpecError) as err:
        build(export, study_copy)
    assert str(err.value) == (
        f"{ae}:{line}: coding.file: no coding file ae-coding.csv in {study_copy}"
    )
    # unknown keys are errors
    replace_once(ae, "verbatim: AETERM,", "verbatim: AETERM, version: 26.1,")
    with pytest.raises(SpecError, match=r"coding"):
        load_study(study_copy)


def test_the_example_coding_file_codes_every_term_synth_writes(tmp_path, study_copy):
    """The bundled coding file is synthetic (9000xxxx codes) and covers the synthetic AE form."""
    sheets = synthesize(subjects=64, seed=7)
    terms = set(sheets["AE"]["AE_TERM"])
    with (study_copy / "ae-coding.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["VERBATIM"] for r in rows} == terms
    codes = [r[c] for r in rows for c in HEADER if c.endswith("_CODE")]
    assert all(c.startswith("9000") and len(c) == 8 for c in codes)
    # the coding agrees with the PT and SOC the EDC holds for the same terms
    edc = sheets["AE"].drop_duplicates("AE_TERM").set_index("AE_TERM")
    for r in rows:
        assert (r["PT_NAME"], r["SOC_NAME"]) == tuple(edc.loc[r["VERBATIM"], ["PT", "SOC"]])


def test_the_sites_own_coding_in_the_export_is_compared_with_the_coded_values(
    tmp_path, study_copy
):
    write_coding(study_copy / "ae-coding.csv", [FEVER, HYPO])
    sheets = tiny_sheets()
    sheets["AE"] = [
        dict(AE_ROW, PT="pyrexia", SOC="General disorders"),  # row 2: same, other case
        dict(AE_ROW, AE_NO="2", PT="Fever", SOC="General disorders"),  # row 3: PT differs
    ]
    result = build(write_csv_export(tmp_path / "raw", sheets), study_copy)
    found = [f for f in result.findings if f.code == "coding-differs"]
    assert [(f.severity, f.variable, f.value, f.source.row, f.source.column) for f in found] == [
        ("warning", "AEDECOD", "Fever", 3, "PT")
    ]
    assert found[0].message == (
        "the export's PT 'Fever' differs from AEDECOD coded from the coding file; check the "
        "coding file or the site's coding"
    )


def test_compare_names_a_coded_variable(tmp_path, study_copy):
    write_coding(study_copy / "ae-coding.csv", [FEVER, HYPO])
    replace_once(study_copy / "ae.yaml", "compare: {AEDECOD: PT,", "compare: {AESEV: PT,")
    with pytest.raises(SpecError, match=r"coding\.compare\.AESEV: AESEV is not filled by the "):
        build(export_with_events(tmp_path / "raw"), study_copy)
