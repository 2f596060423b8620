"""Each spec and mapping error names file and line, the shape the key takes and the name meant."""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from support import EXAMPLE_SPECS, line_of, replace_once, tiny_sheets, write_csv_export

from trialflow.errors import RawInputError, SpecError
from trialflow.mapping.dates import CODES_TEXT, suggest_format
from trialflow.mapping.load import load_study
from trialflow.mapping.methods import condition_mask, hardcode
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm


def _error(study_copy: Path) -> str:
    with pytest.raises(SpecError) as err:
        load_study(study_copy)
    return str(err.value)


def _build(study_copy: Path, export: Path):
    return build_sdtm(load_study(study_copy), read_export(export), on_issue="none")


# --- raw columns ------------------------------------------------------------------------------


def test_a_misspelt_raw_column_names_the_spec_line_and_the_column_meant(study_copy, tmp_path):
    dm = study_copy / "dm.yaml"
    replace_once(dm, "raw: SEX, codelist: SEX", "raw: SEXE, codelist: SEX")
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    with pytest.raises(RawInputError) as err:
        _build(study_copy, export)
    line = line_of(dm, "raw: SEXE")
    assert str(err.value) == (
        f"{dm}:{line}: variables[4].raw: no column 'SEXE' in sheet DEMOG "
        "(raw/DEMOG.csv); did you mean 'SEX'?"
    )


def test_a_misspelt_sheet_names_the_spec_line_and_the_sheet_meant(study_copy, tmp_path):
    lb = study_copy / "lb.yaml"
    replace_once(lb, "  sheet: LAB", "  sheet: LABS")
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    with pytest.raises(RawInputError) as err:
        _build(study_copy, export)
    assert str(err.value) == (
        f"{lb}:{line_of(lb, 'sheet: LABS')}: source.sheet: no sheet 'LABS' in raw; "
        "did you mean 'LAB'?"
    )


def test_a_sheet_with_no_near_name_lists_the_exports_sheets(study_copy, tmp_path):
    ae = study_copy / "ae.yaml"
    replace_once(ae, "  sheet: AE", "  sheet: ADVERSE_EVENTS_FORM")
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    with pytest.raises(RawInputError) as err:
        _build(study_copy, export)
    message = str(err.value)
    assert message.startswith(
        f"{ae}:{line_of(ae, 'sheet: ADVERSE')}: source.sheet: no sheet 'ADVERSE_EVENTS_FORM' "
        "in raw; its sheets are "
    )
    assert "DEMOG" in message and "LAB" in message


def test_a_raw_column_with_no_near_name_lists_the_sheet_columns(study_copy, tmp_path):
    ex = study_copy / "ex.yaml"
    replace_once(ex, "  subject: SUBJ", "  subject: PATIENT_NUMBER")
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    with pytest.raises(RawInputError) as err:
        _build(study_copy, export)
    columns = ", ".join(tiny_sheets()["INFUSION"][0])
    assert str(err.value) == (
        f"{ex}:{line_of(ex, 'subject: PATIENT')}: source.subject: no column 'PATIENT_NUMBER' in "
        f"sheet INFUSION (raw/INFUSION.csv); the sheet has columns {columns}"
    )


# --- date formats -----------------------------------------------------------------------------


def test_a_single_format_text_asks_for_a_list(study_copy):
    dm = study_copy / "dm.yaml"
    replace_once(
        dm,
        'raw: BIRTH_DT, formats: ["%d-%b-%Y", "%Y/%m/%d", "%Y-%m-%d"]',
        'raw: BIRTH_DT, formats: "%m/%d/%Y"',
    )
    line = line_of(dm, 'formats: "%m/%d/%Y"')
    assert _error(study_copy) == (
        f'{dm}:{line}: variables[3].formats: expected a list of formats such as ["%m/%d/%Y"], '
        'got a single text "%m/%d/%Y"'
    )


def test_a_sas_style_format_says_the_codes_and_the_format_to_write(study_copy):
    dm = study_copy / "dm.yaml"
    replace_once(
        dm,
        'raw: BIRTH_DT, formats: ["%d-%b-%Y", "%Y/%m/%d", "%Y-%m-%d"]',
        'raw: BIRTH_DT, formats: ["MM/DD/YYYY"]',
    )
    line = line_of(dm, "MM/DD/YYYY")
    assert _error(study_copy) == (
        f"{dm}:{line}: variables[3].formats[0]: 'MM/DD/YYYY' has no format codes; "
        f'{CODES_TEXT}: write "%m/%d/%Y"'
    )


def test_a_two_digit_year_is_refused_with_the_reason(study_copy):
    dm = study_copy / "dm.yaml"
    replace_once(dm, 'raw: BIRTH_DT, formats: ["%d-%b-%Y"', 'raw: BIRTH_DT, formats: ["%d/%m/%y"')
    assert _error(study_copy).endswith(
        f"variables[3].formats[0]: '%d/%m/%y': two-digit years are not read (19 or 20?); "
        f"{CODES_TEXT}, and the dates must hold four-digit years"
    )


def test_an_unknown_format_code_lists_the_codes(study_copy):
    ae = study_copy / "ae.yaml"
    replace_once(ae, 'raw: END_DT, formats: ["%d-%b-%Y"', 'raw: END_DT, formats: ["%d-%q-%Y"')
    assert _error(study_copy).endswith(
        f"variables[8].formats[0]: unknown format code '%q' in '%d-%q-%Y'; {CODES_TEXT}"
    )


@pytest.mark.parametrize(
    ("pattern", "strftime"),
    [
        ("MM/DD/YYYY", "%m/%d/%Y"),
        ("dd/mm/yyyy", "%d/%m/%Y"),
        ("DD-MON-YYYY", "%d-%b-%Y"),
        ("DDMMMYYYY", "%d%b%Y"),
        ("YYYY-MM-DD", "%Y-%m-%d"),
        ("HH:MM", "%H:%M"),
        ("HH24:MI:SS", "%H:%M:%S"),
        ("hh:mm", "%H:%M"),
        ("DATE9.", "%d%b%Y"),
        ("yymmdd10.", "%Y-%m-%d"),
        ("DD/MM/YY", None),
        ("the date", None),
    ],
)
def test_sas_excel_and_oracle_patterns_translate_to_format_codes(pattern, strftime):
    assert suggest_format(pattern) == strftime


# --- units ------------------------------------------------------------------------------------


def test_a_unit_without_conversion_names_the_spec_line_standard_unit_and_fix(study_copy, tmp_path):
    sheets = tiny_sheets()
    sheets["LAB"][0]["UNIT"] = "mg%"  # a synonym of mg/dL, whose conversion is then taken away
    export = write_csv_export(tmp_path / "raw", sheets)
    lb = study_copy / "lb.yaml"
    replace_once(lb, "{standard: mmol/L, convert: {mg/dL: {divide: 18.016}}, digits: 2}",
             "{standard: mmol/L, digits: 2}")  # fmt: skip
    result = _build(study_copy, export)
    found = [f for f in result.findings if f.code == "unit-not-convertible"]
    line = line_of(lb, "  GLUC: {standard: mmol/L")
    assert {f.message for f in found} == {
        f"GLUC result in unit 'mg/dL', which has no conversion to the standard unit 'mmol/L' "
        f"under units.GLUC ({lb}:{line}); standard result left empty. Add convert: "
        "{mg/dL: {divide: F}} (or multiply: F) under units.GLUC in lb.yaml"
    }
    assert {(f.value, f.source.column) for f in found} == {("mg/dL", "UNIT")}


def test_a_unit_missing_from_an_existing_convert_says_to_add_it_there(study_copy, tmp_path):
    sheets = tiny_sheets()
    sheets["LAB"][0]["UNIT"] = "umol/L"
    export = write_csv_export(tmp_path / "raw", sheets)
    lb = study_copy / "lb.yaml"
    [found] = [f for f in _build(study_copy, export).findings if f.code == "unit-not-convertible"]
    assert found.message.endswith(
        "standard result left empty. Add umol/L: {divide: F} (or multiply: F) to the convert of "
        "units.GLUC in lb.yaml"
    )
    assert f"under units.GLUC ({lb}:{line_of(lb, '  GLUC: {standard')})" in found.message


# --- keys -------------------------------------------------------------------------------------


def test_where_at_the_top_of_a_domain_spec_says_it_belongs_under_source(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, "variables:\n", "where: {GIVEN: [Y]}\nvariables:\n")
    line = line_of(ex, "where: {GIVEN: [Y]}")
    assert _error(study_copy) == (
        f"{ex}:{line}: where: unknown key; where belongs under source: or variables[].lookup:"
    )


def test_where_on_a_variable_says_where_it_belongs_and_what_a_variable_takes(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, "raw: DOSE}", "raw: DOSE, where: {GIVEN: Y}}")
    line = line_of(ex, "where: {GIVEN: Y}")
    assert _error(study_copy) == (
        f"{ex}:{line}: variables[1].where: unknown key; where belongs under source: or "
        "variables[].lookup: (it keeps rows for the whole domain); a variable takes when: for "
        "its rows"
    )


def test_a_misspelt_key_gets_the_name_meant(study_copy):
    dm = study_copy / "dm.yaml"
    replace_once(dm, "raw: SEX, codelist: SEX", "raw: SEX, codelst: SEX")
    line = line_of(dm, "codelst")
    assert _error(study_copy) == (
        f"{dm}:{line}: variables[4].codelst: unknown key; did you mean 'codelist'?"
    )
    shutil.copy(EXAMPLE_SPECS / "dm.yaml", dm)
    study = study_copy / "study.yaml"
    replace_once(study, "\nvisits:", "\nvists:")
    line = line_of(study, "vists:")
    assert _error(study_copy) == f"{study}:{line}: vists: unknown key; did you mean 'visits'?"


def test_an_unknown_key_with_no_near_name_lists_the_keys_of_its_place(study_copy):
    lb = study_copy / "lb.yaml"
    replace_once(lb, "  GLUC: {standard: mmol/L,", "  GLUC: {colour: red, standard: mmol/L,")
    line = line_of(lb, "colour: red")
    assert _error(study_copy) == (
        f"{lb}:{line}: units.GLUC.colour: unknown key; the keys here are standard, convert, digits"
    )


def test_a_misspelt_method_gets_the_method_meant(study_copy):
    dm = study_copy / "dm.yaml"
    replace_once(dm, "{name: SEX, method: assign_ct", "{name: SEX, method: asign_ct")
    message = _error(study_copy)
    assert message.startswith(f"{dm}:{line_of(dm, 'asign_ct')}: variables[4].method: 'asign_ct'")
    assert message.endswith("; did you mean 'assign_ct'?")


def test_a_key_the_method_does_not_take_says_what_it_takes_and_whose_key_it_is(study_copy):
    dm = study_copy / "dm.yaml"
    replace_once(dm, "raw: SEX, codelist: SEX}", "raw: SEX, codelist: SEX, pick: first}")
    assert _error(study_copy).endswith(
        "variables[4]: method assign_ct does not take pick (assign_ct takes codelist, raw and "
        "optionally when; pick is a key of reference_date)"
    )


def test_a_missing_key_says_what_it_takes(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, "  subject: SUBJ\n", "")
    line = line_of(ex, "source:")
    assert _error(study_copy) == (
        f"{ex}:{line}: source.subject: required key is missing: it takes text (e.g. subject: SUBJ)"
    )


def test_a_value_of_the_wrong_kind_says_the_kind_expected(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, "value: INTRAVENOUS", "value: [1, 2]")
    line = line_of(ex, "value: [1, 2]")
    assert _error(study_copy) == (
        f"{ex}:{line}: variables[5].value: expected text or a number "
        "(e.g. value: INTRAVENOUS), got a list [1, 2]"
    )


# --- YAML -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "at", "hint"),
    [
        (
            "  subject: SUBJ",
            "\tsubject: SUBJ",
            (0, 1),
            "found character '\\t' that cannot start any token; indent with spaces: YAML does "
            "not allow tabs",
        ),
        (
            "method: epoch, date: EXSTDTC}",
            'method: epoch, date: "EXSTDTC}',
            None,
            "found unexpected end of stream; the quote opened at line {line}, column {col('\"')} "
            "is not closed",
        ),
        (
            "record_key: [SUBJ, INF_NO]",
            "record_key: [SUBJ, INF_NO",
            (1, 8),
            "expected ',' or ']', but got ':'; the [ opened at line {line}, column {col('[')} is "
            "not closed, or an item before here lacks its comma",
        ),
        (
            "  sheet: INFUSION",
            "  sheet: INFUSION: 2018",
            (0, 18),
            "mapping values are not allowed here; a value that holds ': ' must be quoted, e.g. "
            'title: "Study: phase 2", or the key is indented deeper than the keys beside it',
        ),
    ],
)
def test_yaml_errors_name_line_and_column_and_say_the_usual_cause(study_copy, old, new, at, hint):
    ex = study_copy / "ex.yaml"
    replace_once(ex, old, new)
    line = line_of(ex, new)
    text = ex.read_text().splitlines()[line - 1]

    def col(char: str) -> int:
        return text.index(char) + 1

    message = _error(study_copy)
    match = re.match(rf"{re.escape(str(ex))}:(\d+):(\d+): not valid YAML: (.*)$", message)
    assert match, message
    if at is not None:  # the parser stops where it finds the problem, after the opener
        assert (int(match[1]), int(match[2])) == (line + at[0], at[1])
    expected = hint.replace("{line}", str(line))
    for char in '"[':
        if f"{{col('{char}')}}" in expected:
            expected = expected.replace(f"{{col('{char}')}}", str(col(char)))
    assert match[3] == expected


def test_a_text_where_a_number_belongs_says_a_whole_number(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "  adae: {emergent_days: 30}", "  adae: {emergent_days: thirty}")
    line = line_of(path, "emergent_days: thirty")
    assert _error(study_copy) == (
        f"{path}:{line}: adam.adae.emergent_days: expected a whole number "
        '(e.g. emergent_days: 30), got the text "thirty"'
    )


def test_a_near_name_wins_over_a_home_elsewhere(study_copy):
    # "visit" is a key of visits[] and unscheduled too, but at the top it is "visits" misspelt
    path = study_copy / "study.yaml"
    replace_once(path, "\nvisits:", "\nvisit:")
    assert _error(study_copy).endswith("visit: unknown key; did you mean 'visits'?")


def test_a_method_with_optional_keys_only_says_so(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, "{name: EXSEQ, method: seq}", '{name: EXSEQ, method: seq, formats: ["%d"]}')
    assert _error(study_copy).endswith(
        "variables[7]: method seq does not take formats (seq takes optionally order; formats is "
        "a key of assign_datetime)"
    )


# --- lookup columns and sheets of other shapes --------------------------------------------------


def test_a_misspelt_lookup_column_names_its_key_line_and_the_column_meant(study_copy, tmp_path):
    ex = study_copy / "ex.yaml"
    replace_once(
        ex,
        "  - {name: EXDOSE, method: assign_no_ct, raw: DOSE}",
        "  - {name: EXDOSE, method: lookup,\n"
        "     lookup: {sheet: VITALS,\n"
        "              column: WEIGHT}}",
    )
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    with pytest.raises(RawInputError) as err:
        _build(study_copy, export)
    assert str(err.value) == (
        f"{ex}:{line_of(ex, 'column: WEIGHT')}: variables[1].lookup.column: no column "
        "'WEIGHT' in sheet VITALS (raw/VITALS.csv); did you mean 'WEIGHT_KG'?"
    )


def test_a_sheet_named_in_another_case_is_suggested(study_copy, tmp_path):
    sheets = tiny_sheets()
    sheets["infusion"] = sheets.pop("INFUSION")
    export = write_csv_export(tmp_path / "raw", sheets)
    ex = study_copy / "ex.yaml"
    with pytest.raises(RawInputError) as err:
        _build(study_copy, export)
    assert str(err.value) == (
        f"{ex}:{line_of(ex, 'sheet: INFUSION')}: source.sheet: no sheet 'INFUSION' in raw; "
        "did you mean 'infusion'?"
    )


def test_a_one_sheet_export_says_to_pick_the_forms_rows_with_where(study_copy, tmp_path):
    rows = [dict(FORM="DEMOG", **r) for r in tiny_sheets()["DEMOG"]]
    path = tmp_path / "export.csv"
    path.write_text(
        ",".join(rows[0]) + "\n" + "".join(",".join(r.values()) + "\n" for r in rows)
    )
    ex = study_copy / "ex.yaml"
    with pytest.raises(RawInputError) as err:
        _build(study_copy, path)
    assert str(err.value) == (
        f"{ex}:{line_of(ex, 'sheet: INFUSION')}: source.sheet: no sheet 'INFUSION' in "
        "export.csv; this export is one sheet ('export'): set source.sheet: export and pick "
        "the form's rows with source.where (e.g. where: {FORM: [INFUSION]})"
    )


# --- YAML 1.2 values: yes/no stay text, true/false are not numbers, numbers keep their text ----


def test_yes_no_on_off_stay_text_in_a_condition(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, 'where: {GIVEN: [Y, "Yes", "1"]}', "where: {GIVEN: [Y, Yes, No, On, Off, n]}")
    where = load_study(study_copy).domains["EX"].source.where
    assert where is not None
    assert where.columns["GIVEN"].in_ == ["Y", "Yes", "No", "On", "Off", "n"]
    frame = pd.DataFrame({"GIVEN": ["Y", "Yes", "1", "True"]}, dtype="str")
    assert condition_mask(frame, where).tolist() == [True, True, False, False]


def test_no_as_a_hardcoded_value_is_the_text_no(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, "value: INTRAVENOUS", "value: No")
    variable = load_study(study_copy).domains["EX"].variables[5]
    assert variable.value == "No"
    assert hardcode(pd.DataFrame(index=range(1)), variable.value).tolist() == ["No"]


def test_octal_looking_numbers_times_and_dates_are_read_the_yaml_1_2_way(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, "value: INTRAVENOUS", "value: 012")
    assert load_study(study_copy).domains["EX"].variables[5].value == 12  # not octal 10
    replace_once(ex, "value: 012", "value: 08:30")
    assert load_study(study_copy).domains["EX"].variables[5].value == "08:30"  # not 510
    replace_once(ex, "value: 08:30", "value: 2019-01-05")
    assert load_study(study_copy).domains["EX"].variables[5].value == "2019-01-05"


def test_a_hardcoded_no_not_in_the_codelist_names_no(study_copy, tmp_path):
    dm = study_copy / "dm.yaml"
    replace_once(
        dm,
        "{name: COUNTRY, method: assign_ct, raw: COUNTRY, codelist: COUNTRY}",
        "{name: COUNTRY, method: hardcode_ct, value: NO, codelist: COUNTRY}",
    )
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    with pytest.raises(SpecError) as err:
        _build(study_copy, export)
    line = line_of(dm, "value: NO")
    assert str(err.value) == (
        f"{dm}:{line}: variables[7].value: 'NO' is not a term of codelist COUNTRY"
    )


def test_true_where_text_or_a_number_belongs_is_an_error_saying_to_quote_it(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, "value: INTRAVENOUS", "value: true")
    line = line_of(ex, "value: true")
    assert _error(study_copy) == (
        f"{ex}:{line}: variables[5].value: expected text or a number "
        '(e.g. value: INTRAVENOUS), got true; write it in quotes: value: "true"'
    )


def test_true_in_a_condition_is_an_error_saying_to_quote_it(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, 'where: {GIVEN: [Y, "Yes", "1"]}', "where: {GIVEN: [Y, True]}")
    line = line_of(ex, "GIVEN: [Y, True]")
    assert _error(study_copy) == (
        f"{ex}:{line}: source.where.GIVEN.in[1]: expected text or a number, got true; "
        'write it in quotes: "True"'
    )


def test_a_number_where_text_belongs_says_to_quote_it_as_written(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, '{siteid: "01"', "{siteid: 01")
    line = line_of(path, "{siteid: 01")
    assert _error(study_copy) == (
        f'{path}:{line}: sites[0].siteid: expected text (e.g. siteid: "01"), got the number 1; '
        'write it in quotes to keep it as written: siteid: "01"'
    )


def test_a_hardcoded_site_read_as_a_number_says_to_write_it_in_quotes(study_copy, tmp_path):
    dm = study_copy / "dm.yaml"
    replace_once(dm, "{name: SITEID, method: site_id, raw: SITE}",
             "{name: SITEID, method: hardcode_no_ct, value: 01}")
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    with pytest.raises(SpecError) as err:
        _build(study_copy, export)
    line = line_of(dm, "value: 01")
    assert str(err.value) == (
        f"{dm}:{line}: variables[1].value: site '1' is not among the sites of study.yaml "
        '(01, 02); 01 was read as the number 1: write value: "01"'
    )


def test_a_quote_left_open_on_a_line_of_formats_is_named(study_copy):
    dm = study_copy / "dm.yaml"
    replace_once(dm, 'formats: ["%d-%b-%Y", "%Y/%m/%d"', 'formats: ["%d-%b-%Y, "%Y/%m/%d"')
    line = line_of(dm, '"%d-%b-%Y, "%Y')
    column = (study_copy / "dm.yaml").read_text().splitlines()[line - 1].index('"%Y/%m') + 2
    assert _error(study_copy) == (
        f"{dm}:{line}:{column}: not valid YAML: found character '%' that cannot start any "
        'token; a double quote opened earlier on the line is not closed, so "%d-%b-%Y, " was '
        "read as one text"
    )


def test_a_quote_left_open_that_runs_to_the_next_line_names_where_it_opened(study_copy):
    mh = study_copy / "mh.yaml"
    replace_once(mh, 'value: "Y", codelist: NY}', 'value: "Y, codelist: NY}')
    line = line_of(mh, 'value: "Y, codelist')
    opened = mh.read_text().splitlines()[line - 1].index('"') + 1
    closed = mh.read_text().splitlines()[line].index('"') + 1
    assert _error(study_copy) == (
        f"{mh}:{line + 1}:{closed + 1}: not valid YAML: expected ',' or '}}', but got "
        f"'<scalar>'; the double quote opened at line {line}, column {opened} is not closed on "
        f"its line, so the text runs on to the quote at line {line + 1}, column {closed}"
    )
