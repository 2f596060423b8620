import shutil
from pathlib import Path

import pytest
from support import line_of, replace_once

from trialflow.errors import SpecError
from trialflow.mapping.load import load_study

EXAMPLE = Path(__file__).resolve().parents[2] / "mappings" / "hucmsc-t2dm"




def test_example_study_loads_every_domain():
    study = load_study(EXAMPLE)
    assert study.studyid == "HUCMSC-T2DM"
    assert list(study.domains) == ["EX", "DM", "VS", "LB", "AE", "MH", "DS", "CM"]
    assert study.domains["LB"].units["GLUC"].convert["mg/dL"].factor == pytest.approx(1 / 18.016)



def test_unknown_key_names_file_line_and_key(study_copy):
    ae = study_copy / "ae.yaml"
    replace_once(
        ae,
        "{name: AETERM, method: assign_no_ct, raw: AE_TERM}",
        "{name: AETERM, method: assign_no_ct, raw: AE_TERM, colour: red}",
    )
    line = line_of(ae, "colour: red")
    with pytest.raises(SpecError) as err:
        load_study(study_copy)
    assert str(err.value) == (
        f"{ae}:{line}: variables[1].colour: unknown key; method assign_no_ct takes raw and "
        "optionally when"
    )


def test_unknown_method_is_named(study_copy):
    dm = study_copy / "dm.yaml"
    replace_once(dm, "{name: SEX, method: assign_ct", "{name: SEX, method: asign_ct")
    line = line_of(dm, "asign_ct")
    with pytest.raises(
        SpecError, match=rf"dm\.yaml:{line}: variables\[4\]\.method: 'asign_ct' is not one of"
    ):
        load_study(study_copy)


def test_method_without_its_required_key(study_copy):
    dm = study_copy / "dm.yaml"
    replace_once(
        dm,
        "{name: SEX, method: assign_ct, raw: SEX, codelist: SEX}",
        "{name: SEX, method: assign_ct, raw: SEX}",
    )
    with pytest.raises(
        SpecError, match=r"dm\.yaml:\d+: variables\[4\]: method assign_ct needs codelist"
    ):
        load_study(study_copy)


def test_method_with_a_key_it_does_not_take(study_copy):
    dm = study_copy / "dm.yaml"
    replace_once(
        dm,
        "{name: SEX, method: assign_ct, raw: SEX, codelist: SEX}",
        "{name: SEX, method: assign_ct, raw: SEX, codelist: SEX, pick: first}",
    )
    with pytest.raises(SpecError, match=r"method assign_ct does not take pick"):
        load_study(study_copy)


def test_unknown_key_in_study_yaml(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "  synthetic: true", "  synthetic: true\n  sponsor: ACME")
    line = line_of(path, "sponsor: ACME")
    with pytest.raises(SpecError, match=rf"study\.yaml:{line}: study\.sponsor: unknown key"):
        load_study(study_copy)


def test_invalid_yaml_and_duplicate_keys(study_copy):
    path = study_copy / "vs.yaml"
    replace_once(path, "domain: VS", "domain: VS\ndomain: LB")
    with pytest.raises(SpecError, match=r"vs\.yaml:\d+:\d+: not valid YAML: duplicate key"):
        load_study(study_copy)
    replace_once(path, "domain: VS\ndomain: LB", "domain: [VS")
    with pytest.raises(SpecError, match=r"vs\.yaml:\d+:\d+: not valid YAML"):
        load_study(study_copy)


def test_listed_domain_without_spec_file(study_copy):
    (study_copy / "ae.yaml").unlink()
    with pytest.raises(SpecError, match=r"study\.yaml:\d+: domains\[4\]: no spec file ae\.yaml"):
        load_study(study_copy)


def test_domain_mismatch(study_copy):
    replace_once(study_copy / "ae.yaml", "domain: AE", "domain: CM")
    with pytest.raises(SpecError, match="declares domain CM, expected AE"):
        load_study(study_copy)


def test_conversion_needs_exactly_one_factor(study_copy):
    path = study_copy / "lb.yaml"
    replace_once(path, "{divide: 18.016}", "{divide: 18.016, multiply: 2}")
    with pytest.raises(
        SpecError,
        match=r"lb\.yaml:\d+: units\.GLUC\.convert\.mg/dL: give exactly one of multiply, divide",
    ):
        load_study(study_copy)


def test_a_list_where_a_value_belongs_is_one_problem(study_copy):
    ex = study_copy / "ex.yaml"
    replace_once(ex, "value: INTRAVENOUS", "value: [1, 2]")
    line = line_of(ex, "value: [1, 2]")
    with pytest.raises(SpecError) as err:
        load_study(study_copy)
    assert str(err.value) == (
        f"{ex}:{line}: variables[5].value: expected text or a number "
        "(e.g. value: INTRAVENOUS), got a list [1, 2]"
    )


def test_date_formats_are_checked_when_the_spec_loads(study_copy):
    ae = study_copy / "ae.yaml"
    replace_once(ae, 'raw: END_DT, formats: ["%d-%b-%Y"', 'raw: END_DT, formats: ["%d-%q-%Y"')
    with pytest.raises(
        SpecError, match=r"ae\.yaml:\d+: variables\[8\]\.formats\[0\]: unknown format code '%q'"
    ):
        load_study(study_copy)
    replace_once(
        ae, 'raw: END_DT, formats: ["%d-%q-%Y"', 'raw: [END_DT, START_DT], formats: ["%d-%b-%Y"'
    )
    with pytest.raises(SpecError, match=r"with a date and a time column give formats"):
        load_study(study_copy)


def test_unknown_key_in_the_adam_section_names_its_line(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "  adae: {emergent_days: 30}", "  adae: {emergent_days: 30, window: 30}")
    line = line_of(path, "emergent_days: 30, window")
    with pytest.raises(SpecError, match=rf"study\.yaml:{line}: adam\.adae\.window: unknown key"):
        load_study(study_copy)


def test_a_formula_with_the_wrong_inputs_is_refused(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "inputs: {cpeptide: FCP, glucose: FPG}, censored_inputs: imputed}\n"
             "        - {paramcd: HOMAB",
             "inputs: {insulin: FCP, glucose: FPG}, censored_inputs: imputed}\n"
             "        - {paramcd: HOMAB")  # fmt: skip
    with pytest.raises(SpecError, match=r"formula homa_ir_cpeptide takes inputs cpeptide, glucose"):
        load_study(study_copy)


def test_a_computed_parameter_needs_measured_inputs(study_copy):
    path = study_copy / "study.yaml"
    replace_once(
        path, "inputs: {weight: WEIGHT, height: HEIGHT}", "inputs: {weight: WGT, height: HEIGHT}"
    )
    with pytest.raises(SpecError, match=r"BMI needs WGT, which is not one of the dataset's"):
        load_study(study_copy)


def test_adsl_baseline_must_name_a_defined_parameter(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "HBA1CBL: HBA1C}", "HBA1CBL: A1C}")
    with pytest.raises(SpecError, match=r"HBA1CBL takes PARAMCD A1C, which no dataset defines"):
        load_study(study_copy)


def test_analysis_visits_reference_must_be_a_planned_visit(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "    reference: {visit: DAY 0}", "    reference: {visit: DAY 7}")
    line = line_of(path, "reference: {visit: DAY 7}")
    with pytest.raises(
        SpecError,
        match=rf"study\.yaml:{line}: adam\.analysis_visits\.reference\.visit: 'DAY 7' is not a "
        r"planned visit of visits \(DAY 0, DAY 14, DAY 21, DAY 28, DAY 84\)",
    ):
        load_study(study_copy)


def test_schedule_windows_count_from_the_day_0_visit(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "    reference: {visit: DAY 0}", "    reference: {visit: DAY 14}")
    line = line_of(path, "reference: {visit: DAY 14}")
    with pytest.raises(
        SpecError,
        match=rf"study\.yaml:{line}: adam\.analysis_visits\.reference\.visit: windows: schedule "
        r"reads the planned days as days from the reference visit, but DAY 14 is planned on day "
        r"14, not day 0",
    ):
        load_study(study_copy)


def test_analysis_visits_reference_and_windows_say_what_they_take(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "    reference: {visit: DAY 0}", "    reference: first_dose")
    line = line_of(path, "reference: first_dose")
    with pytest.raises(SpecError) as err:
        load_study(study_copy)
    assert str(err.value) == (
        f"{path}:{line}: adam.analysis_visits.reference: 'first_dose': give first_treatment "
        "(days are ADY) or {visit: NAME} (days count from the subject's date of that planned "
        "visit)"
    )
    replace_once(path, "    reference: first_dose", "    reference: first_treatment")
    replace_once(path, "    windows: schedule", "    windows: scheduled")
    line = line_of(path, "windows: scheduled")
    with pytest.raises(
        SpecError, match=rf"study\.yaml:{line}: adam\.analysis_visits\.windows: 'scheduled': give "
    ):
        load_study(study_copy)


def test_windows_by_day_may_not_overlap(study_copy):
    path = study_copy / "study.yaml"
    listed = (
        "    windows:\n"
        "      - {avisitn: 2, avisit: DAY 14, target: 14, low: 11, high: 17}\n"
        "      - {avisitn: 3, avisit: DAY 21, target: 21, low: 17, high: 24}\n"
    )
    replace_once(path, "    windows: schedule\n", listed)
    line = line_of(path, "avisit: DAY 21, target: 21")
    with pytest.raises(
        SpecError,
        match=rf"study\.yaml:{line}: adam\.analysis_visits\.windows\[1\]: windows DAY 14 \(days "
        r"11 to 17\) and DAY 21 \(days 17 to 24\) overlap",
    ):
        load_study(study_copy)
    # by nominal visit the same windows are fine: the visit decides, the window only measures
    replace_once(path, "    by: window", "    by: nominal_visit")
    assert load_study(study_copy).spec.adam.analysis_visits.by == "nominal_visit"


def test_schedule_windows_that_overlap_name_the_visit(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "visit: DAY 21, day: 21, window: 3", "visit: DAY 21, day: 21, window: 8")
    line = line_of(path, "visit: DAY 21, day: 21, window: 8")
    with pytest.raises(
        SpecError,
        match=rf"study\.yaml:{line}: visits\[2\]\.window: the windows of DAY 14 \(day 14 \+/- 3\) "
        r"and DAY 21 \(day 21 \+/- 8\) overlap",
    ):
        load_study(study_copy)


def test_nominal_windows_are_numbered_as_planned_visits(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "    by: window", "    by: nominal_visit")
    listed = "    windows: [{avisitn: 2.5, avisit: DAY 14, target: 14, low: 11, high: 17}]"
    replace_once(path, "    windows: schedule", listed)
    line = line_of(path, "avisitn: 2.5")
    with pytest.raises(
        SpecError,
        match=rf"study\.yaml:{line}: adam\.analysis_visits\.windows\[0\]\.avisitn: by "
        r"nominal_visit, avisitn is the planned visit's VISITNUM; 2\.5 is not one of visits",
    ):
        load_study(study_copy)


def test_a_window_needs_its_target_inside(study_copy):
    path = study_copy / "study.yaml"
    listed = "    windows: [{avisitn: 2, avisit: DAY 14, target: 20, low: 11, high: 17}]"
    replace_once(path, "    windows: schedule", listed)
    with pytest.raises(SpecError, match=r"windows\[0\]: need low <= target <= high, got low 11"):
        load_study(study_copy)


def test_windows_at_the_old_place_say_where_they_went(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "  analysis_visits:\n", "  windows: [{avisitn: 2}]\n  analysis_visits:\n")
    line = line_of(path, "  windows: [{avisitn: 2}]")
    with pytest.raises(
        SpecError,
        match=rf"study\.yaml:{line}: adam\.windows: windows now sit under analysis_visits.*"
        r"reference: first_treatment",
    ):
        load_study(study_copy)


def test_locate_names_file_and_line_of_a_key_path():
    study = load_study(EXAMPLE)
    path = EXAMPLE / "study.yaml"
    line = line_of(path, "- {paramcd: HBA1C")
    assert study.locate("adam.datasets.ADLB.parameters[2]") == (
        f"{path}:{line}: adam.datasets.ADLB.parameters[2]"
    )
    assert study.locate("analysis.population") == (
        f"{path}:{line_of(path, '  population: FASFL')}: analysis.population"
    )


def test_the_example_names_its_test_method_and_safety_section():
    analysis = load_study(EXAMPLE).spec.analysis
    assert analysis.test == "spss"
    assert analysis.safety.within_days == 1 and analysis.safety.population == "SAFFL"
    assert [(p.dataset, p.paramcd) for p in analysis.safety.parameters] == [
        ("ADLB", ["WBC", "ALT", "CREAT"]),
        ("ADVS", ["SYSBP", "DIABP", "PULSE", "TEMP", "WEIGHT"]),
    ]


def test_an_unknown_test_method_names_its_line(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "  test: spss", "  test: sas")
    line = line_of(path, "  test: sas")
    with pytest.raises(SpecError) as err:
        load_study(study_copy)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: analysis.test: ")
    assert "'r'" in message and "'exact_pratt'" in message


def test_safety_parameters_must_be_defined(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "paramcd: [WBC, ALT, CREAT]", "paramcd: [WBC, AST, CREAT]")
    with pytest.raises(SpecError, match=r"analysis: ADLB has no parameter AST in adam\.datasets"):
        load_study(study_copy)


def test_safety_needs_adae_and_an_interval(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "    within_days: 1\n", "")
    with pytest.raises(SpecError, match=r"analysis\.safety\.within_days: .*required"):
        load_study(study_copy)
    shutil.copy(EXAMPLE / "study.yaml", path)
    replace_once(path, "  adae: {emergent_days: 30}\n", "")
    with pytest.raises(SpecError, match=r"analysis\.safety needs adam\.adae"):
        load_study(study_copy)


def test_a_parameter_precision_must_be_a_whole_number_of_decimals(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "unit: mmol/L, digits: 2, convert", "unit: mmol/L, digits: 2.5, convert")
    line = line_of(path, "digits: 2.5")
    with pytest.raises(
        SpecError, match=rf"study\.yaml:{line}: adam\.datasets\.ADLB\.parameters\[0\]\.digits: "
    ):
        load_study(study_copy)
    replace_once(path, "digits: 2.5", "digits: -1")
    with pytest.raises(SpecError, match=r"parameters\[0\]\.digits: .*greater than or equal to 0"):
        load_study(study_copy)


def test_every_problem_of_a_spec_is_listed_with_its_line_not_counted(study_copy):
    ae = study_copy / "ae.yaml"
    replace_once(ae, "  subject: SUBJ\n", "  subject: SUBJ\n  subjct: X\n")
    replace_once(ae, "domain: AE\n", "domain: AE\ncolour: red\n")
    first, second = line_of(ae, "subjct: X"), line_of(ae, "colour: red")
    with pytest.raises(SpecError) as err:
        load_study(study_copy)
    assert str(err.value) == (
        f"{ae}:{first}: source.subjct: unknown key; did you mean 'subject'?; also line "
        f"{second}: colour: unknown key; the keys here are domain, source, variables, units, "
        "coding, supp"
    )
    assert "more problem" not in str(err.value)
