import shutil
from pathlib import Path

import pytest

from trialflow.errors import SpecError
from trialflow.mapping.load import load_study

EXAMPLE = Path(__file__).resolve().parents[2] / "mappings" / "hucmsc-t2dm"


@pytest.fixture
def study_dir(tmp_path):
    target = tmp_path / "study"
    shutil.copytree(EXAMPLE, target)
    return target


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_example_study_loads_every_domain():
    study = load_study(EXAMPLE)
    assert study.studyid == "HUCMSC-T2DM"
    assert list(study.domains) == ["EX", "DM", "VS", "LB", "AE", "MH"]
    assert study.domains["LB"].units["GLUC"].convert["mg/dL"].factor == pytest.approx(1 / 18.016)


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_unknown_key_names_file_line_and_key(study_dir):
    ae = study_dir / "ae.yaml"
    _replace(
        ae,
        "{name: AETERM, method: assign_no_ct, raw: AE_TERM}",
        "{name: AETERM, method: assign_no_ct, raw: AE_TERM, colour: red}",
    )
    line = _line_of(ae, "colour: red")
    with pytest.raises(SpecError) as err:
        load_study(study_dir)
    assert str(err.value) == f"{ae}:{line}: variables[1].colour: unknown key"


def test_unknown_method_is_named(study_dir):
    dm = study_dir / "dm.yaml"
    _replace(dm, "{name: SEX, method: assign_ct", "{name: SEX, method: asign_ct")
    line = _line_of(dm, "asign_ct")
    with pytest.raises(
        SpecError, match=rf"dm\.yaml:{line}: variables\[4\]\.method: 'asign_ct' is not one of"
    ):
        load_study(study_dir)


def test_method_without_its_required_key(study_dir):
    dm = study_dir / "dm.yaml"
    _replace(
        dm,
        "{name: SEX, method: assign_ct, raw: SEX, codelist: SEX}",
        "{name: SEX, method: assign_ct, raw: SEX}",
    )
    with pytest.raises(
        SpecError, match=r"dm\.yaml:\d+: variables\[4\]: method assign_ct needs codelist"
    ):
        load_study(study_dir)


def test_method_with_a_key_it_does_not_take(study_dir):
    dm = study_dir / "dm.yaml"
    _replace(
        dm,
        "{name: SEX, method: assign_ct, raw: SEX, codelist: SEX}",
        "{name: SEX, method: assign_ct, raw: SEX, codelist: SEX, pick: first}",
    )
    with pytest.raises(SpecError, match=r"method assign_ct does not take pick"):
        load_study(study_dir)


def test_unknown_key_in_study_yaml(study_dir):
    path = study_dir / "study.yaml"
    _replace(path, "  synthetic: true", "  synthetic: true\n  sponsor: ACME")
    line = _line_of(path, "sponsor: ACME")
    with pytest.raises(SpecError, match=rf"study\.yaml:{line}: study\.sponsor: unknown key"):
        load_study(study_dir)


def test_invalid_yaml_and_duplicate_keys(study_dir):
    path = study_dir / "vs.yaml"
    _replace(path, "domain: VS", "domain: VS\ndomain: LB")
    with pytest.raises(SpecError, match=r"vs\.yaml:\d+: not valid YAML: duplicate key 'domain'"):
        load_study(study_dir)
    _replace(path, "domain: VS\ndomain: LB", "domain: [VS")
    with pytest.raises(SpecError, match=r"vs\.yaml:\d+: not valid YAML"):
        load_study(study_dir)


def test_listed_domain_without_spec_file(study_dir):
    (study_dir / "ae.yaml").unlink()
    with pytest.raises(SpecError, match=r"study\.yaml:\d+: domains\[4\]: no spec file ae\.yaml"):
        load_study(study_dir)


def test_domain_mismatch(study_dir):
    _replace(study_dir / "ae.yaml", "domain: AE", "domain: CM")
    with pytest.raises(SpecError, match="declares domain CM, expected AE"):
        load_study(study_dir)


def test_conversion_needs_exactly_one_factor(study_dir):
    path = study_dir / "lb.yaml"
    _replace(path, "{divide: 18.016}", "{divide: 18.016, multiply: 2}")
    with pytest.raises(
        SpecError,
        match=r"lb\.yaml:\d+: units\.GLUC\.convert\.mg/dL: give exactly one of multiply, divide",
    ):
        load_study(study_dir)


def test_a_list_where_a_value_belongs_is_one_problem(study_dir):
    ex = study_dir / "ex.yaml"
    _replace(ex, "value: INTRAVENOUS", "value: [1, 2]")
    line = _line_of(ex, "value: [1, 2]")
    with pytest.raises(SpecError) as err:
        load_study(study_dir)
    assert str(err.value) == (
        f"{ex}:{line}: variables[5].value: [1, 2] is not a valid value here "
        "(expected text or a number)"
    )


def test_date_formats_are_checked_when_the_spec_loads(study_dir):
    ae = study_dir / "ae.yaml"
    _replace(ae, 'raw: END_DT, formats: ["%d-%b-%Y"', 'raw: END_DT, formats: ["%d-%q-%Y"')
    with pytest.raises(SpecError, match=r"ae\.yaml:\d+: variables\[10\]: unknown format code '%q'"):
        load_study(study_dir)
    _replace(
        ae, 'raw: END_DT, formats: ["%d-%q-%Y"', 'raw: [END_DT, START_DT], formats: ["%d-%b-%Y"'
    )
    with pytest.raises(SpecError, match=r"with a date and a time column give formats"):
        load_study(study_dir)


def test_unknown_key_in_the_adam_section_names_its_line(study_dir):
    path = study_dir / "study.yaml"
    _replace(path, "  adae: {emergent_days: 30}", "  adae: {emergent_days: 30, window: 30}")
    line = _line_of(path, "emergent_days: 30, window")
    with pytest.raises(SpecError, match=rf"study\.yaml:{line}: adam\.adae\.window: unknown key"):
        load_study(study_dir)


def test_a_formula_with_the_wrong_inputs_is_refused(study_dir):
    path = study_dir / "study.yaml"
    _replace(path, "inputs: {cpeptide: FCP, glucose: FPG}, censored_inputs: imputed}\n"
             "        - {paramcd: HOMAB",
             "inputs: {insulin: FCP, glucose: FPG}, censored_inputs: imputed}\n"
             "        - {paramcd: HOMAB")  # fmt: skip
    with pytest.raises(SpecError, match=r"formula homa_ir_cpeptide takes inputs cpeptide, glucose"):
        load_study(study_dir)


def test_a_computed_parameter_needs_measured_inputs(study_dir):
    path = study_dir / "study.yaml"
    _replace(
        path, "inputs: {weight: WEIGHT, height: HEIGHT}", "inputs: {weight: WGT, height: HEIGHT}"
    )
    with pytest.raises(SpecError, match=r"BMI needs WGT, which is not one of the dataset's"):
        load_study(study_dir)


def test_adsl_baseline_must_name_a_defined_parameter(study_dir):
    path = study_dir / "study.yaml"
    _replace(path, "HBA1CBL: HBA1C}", "HBA1CBL: A1C}")
    with pytest.raises(SpecError, match=r"HBA1CBL takes PARAMCD A1C, which no dataset defines"):
        load_study(study_dir)
