"""Conditions (source.where, when, lookup.where): blank, filled, not, any, and spec errors for
conditions that can never match."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from support import EXAMPLE_SPECS

from trialflow.errors import SpecError
from trialflow.mapping.load import load_study
from trialflow.mapping.methods import condition_mask

WHERE = 'where: {GIVEN: [Y, "Yes", "1"]}'


@pytest.fixture
def study_dir(tmp_path):
    target = tmp_path / "study"
    shutil.copytree(EXAMPLE_SPECS, target)
    return target


def _where(study_dir: Path, condition: str) -> tuple[Path, int]:
    path = study_dir / "ex.yaml"
    text = path.read_text()
    assert WHERE in text
    path.write_text(text.replace(WHERE, f"where: {condition}"))
    line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if "where:" in t)
    return path, line


FRAME = pd.DataFrame(
    {"END_DT": ["2019-01-05", None, "", " "], "SEV": ["MILD", "SEVERE", None, "MODERATE"]},
    dtype="str",
)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"END_DT": {"blank": True}}, [False, True, True, True]),
        ({"END_DT": {"filled": True}}, [True, False, False, False]),
        ({"SEV": {"not": ["MILD"]}}, [False, True, True, True]),  # a blank cell is not MILD
        ({"SEV": {"not": ["MILD"], "filled": True}}, [False, True, False, True]),
        ({"SEV": {"in": ["MILD", "SEVERE"], "not": ["SEVERE"]}}, [True, False, False, False]),
        ({"SEV": ["MILD"], "END_DT": {"filled": True}}, [True, False, False, False]),
        (
            {"any": [{"END_DT": {"blank": True}}, {"SEV": ["MILD"]}]},
            [True, True, True, True],
        ),
        (
            {"SEV": {"filled": True}, "any": [{"END_DT": {"blank": True}}, {"SEV": ["MILD"]}]},
            [True, True, False, True],
        ),
    ],
)
def test_blank_filled_not_and_any_select_the_rows_they_say(condition, expected):
    assert condition_mask(FRAME, condition).tolist() == expected


def test_the_example_where_still_loads_and_a_blank_test_is_read(study_dir):
    _where(study_dir, "{GIVEN: [Y, 'Yes', '1'], DOSE: {filled: true}}")
    where = load_study(study_dir).domains["EX"].source.where
    assert where is not None and where.names == ["GIVEN", "DOSE"]
    assert where.columns["DOSE"].filled is True
    assert where.describe() == "GIVEN one of Y, Yes, 1 and DOSE filled"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('{GIVEN: [""]}', r"source\.where\.GIVEN: a blank cell is not a value to list: "
         r"write GIVEN: \{blank: true\}"),
        ("{GIVEN: [null]}", r"source\.where\.GIVEN: a blank cell is not a value to list"),
        ('{GIVEN: {not: [""]}}', r"source\.where\.GIVEN: a blank cell is not a value to list: "
         r"write GIVEN: \{filled: true\}"),
        ("{GIVEN: {in: [Y], not: [Y]}}", r"source\.where\.GIVEN: every value of `in` is also "
         r"under `not`: this condition never matches"),
        ("{GIVEN: {blank: true, filled: true}}",
         r"source\.where\.GIVEN: a cell is never both blank and filled"),
        ("{GIVEN: {blank: true, in: [Y]}}",
         r"source\.where\.GIVEN: a blank cell holds none of the values"),
        ("{GIVEN: {blank: false}}", r"source\.where\.GIVEN\.blank: blank takes true"),
        ("{GIVEN: []}", r"source\.where\.GIVEN: an empty list never matches"),
        ("{GIVEN: {empty: true}}", r"source\.where\.GIVEN\.empty: unknown key"),
        ("{any: [{GIVEN: [Y]}, {DOSE: {in: [1], not: [1]}}]}",
         r"source\.where\.any\[1\]\.DOSE: every value of `in` is also under `not`"),
    ],
)  # fmt: skip
def test_a_condition_that_cannot_match_is_a_spec_error_naming_file_and_line(
    study_dir, condition, message
):
    _, line = _where(study_dir, condition)
    with pytest.raises(SpecError, match=rf"ex\.yaml:{line}: {message}"):
        load_study(study_dir)


def test_when_takes_the_same_conditions(study_dir):
    path = study_dir / "ae.yaml"
    text = path.read_text()
    old = "{name: AEENDTC, method: assign_datetime, raw: END_DT,"
    assert old in text
    path.write_text(
        text.replace(
            "  - {name: AESEQ, method: seq}",
            "  - {name: AEENRTPT, method: hardcode_ct, value: ONGOING, codelist: STENRF,\n"
            '     when: {END_DT: [""]}}\n  - {name: AESEQ, method: seq}',
        )
    )
    line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if "END_DT: [" in t)
    with pytest.raises(
        SpecError, match=rf"ae\.yaml:{line}: variables\[\d+\]\.when\.END_DT: a blank cell"
    ):
        load_study(study_dir)
