"""Shared helpers of the rule modules (trialflow.validation.rules.common)."""

import math

import pandas as pd

from trialflow.validation.core import Package, validating
from trialflow.validation.rules.common import compare_iso, in_set, iso_parts


def rows(frame: pd.DataFrame) -> list[list[float | None]]:
    return [[None if math.isnan(v) else v for v in row] for row in frame.to_numpy().tolist()]


def test_iso_parts_reads_each_component_of_iso_8601_values():
    values = pd.Series(
        [
            "2019-05-12T09:30:05.123456",  # seconds with a fraction, read as the decimal says
            "2019-05-12T09:30:59.999999999",
            " 2019-05-12 ",  # surrounding blanks do not count
            "2019-05",  # right truncation: the absent components are NaN
            "2019",
            "2019---12",  # a missing middle component: not comparable, a row of NaN
            "2019-05-12T9",  # an hour of one digit is not ISO 8601
            "12/05/2019",
            "",
            None,
        ],
        dtype="str",
    )
    assert rows(iso_parts(values)) == [
        [2019.0, 5.0, 12.0, 9.0, 30.0, 5.123456],
        [2019.0, 5.0, 12.0, 9.0, 30.0, 59.999999999],
        [2019.0, 5.0, 12.0, None, None, None],
        [2019.0, 5.0, None, None, None, None],
        [2019.0, None, None, None, None, None],
        *[[None] * 6] * 5,
    ]


def test_iso_parts_are_the_same_inside_a_validation_and_out():
    values = pd.Series(["2020-02-29T23:59:60.5", "2020-02"], dtype="str")
    outside = rows(iso_parts(values))
    with validating(Package()):
        inside = rows(iso_parts(values))
        again = rows(iso_parts(values.copy()))  # the kept fact of the same data
    expected = [[2020.0, 2.0, 29.0, 23.0, 59.0, 60.5], [2020.0, 2.0, None, None, None, None]]
    assert outside == inside == again == expected


def test_compare_iso_decides_on_the_precision_both_values_share():
    start = pd.Series(["2019-05-12T10:00:00.25", "2019-05-12", "2019-05-12T10", "2019"])
    end = pd.Series(["2019-05-12T10:00:00.5", "2019-05-11T23:59", "2019-05-12", "x"])
    assert compare_iso(start, end).tolist()[:3] == [-1.0, 1.0, 0.0]
    assert math.isnan(compare_iso(start, end).tolist()[3])


def test_in_set_answers_isin_for_lists_indexes_and_missing_values():
    values = pd.Series(["S-1", "S-2", None, " S-1"], dtype="str")
    for wanted in (["S-1"], pd.Index(["S-1", "S-9"], dtype="str"), pd.Series(["S-1"], dtype="str")):
        assert in_set(values, wanted).tolist() == [True, False, False, False]
    with_missing = pd.Index(["S-2", None], dtype="str")
    assert in_set(values, with_missing).tolist() == values.isin(with_missing).tolist()
    assert in_set(pd.Series([1.0, 2.0]), pd.Index(["1"], dtype="str")).tolist() == [False, False]
