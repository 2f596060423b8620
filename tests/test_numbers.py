"""sas_round against SAS's documented ROUND examples and hand-computed half-way cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialflow.numbers import format_fixed, parse_decimal, sas_round

# --- SAS 9.4 Functions and CALL Routines: the documented examples -------------------------------


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        (100, 1200), (10, 1230), (1, 1235), (0.1, 1234.6), (0.01, 1234.57), (0.001, 1234.568),
        (0.0001, 1234.5679), (0.00001, 1234.56789), (0.1111, 1234.5432),
    ],
)  # fmt: skip
def test_round_documented_d1_to_d9_equal_the_decimal_constant(unit, expected):
    # ROUND, "Producing Expected Results": d1 = round(1234.56789,100) - 1200 ... d9 are 0.
    assert sas_round(1234.56789, unit=unit) - expected == 0.0


def test_round_by_the_reciprocal_of_an_integer_divides_by_the_integer():
    # ROUND, "When the Rounding Unit Is the Reciprocal of an Integer": round(pi, 1/7) - 22/7 = 0.
    assert sas_round(math.acos(-1), unit=1 / 7) - 22 / 7 == 0.0


@pytest.mark.parametrize(
    ("unit", "expected"),
    [(1, 223.0), (0.01, 223.46), (100, 200.0), (None, 223.0), (0.3, 223.5)],
)
def test_round_documented_223_456_examples(unit, expected):
    # ROUND / ROUNDZ examples: put x 9.5 gives 223.00000, 223.46000, 200.00000, 223.00000,
    # 223.50000.
    got = sas_round(223.456) if unit is None else sas_round(223.456, unit=unit)
    assert got == expected


def test_round_of_quarters_matches_the_documented_rounde_table():
    # ROUNDE example: x = 0 to 4 by .25, the ROUND column.
    got = sas_round(np.arange(0, 4.01, 0.25))
    assert got.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4]


def test_round_fuzz_matches_the_documented_roundz_table():
    # ROUNDZ, Example 1: value = 2.5 - 10**(-i) for i = 10..17 and 2.5 + 10**(-i) for
    # i = 16..12; ROUND gives 2 for i = 10, 11 and 3 from i = 12 on, and 3 above 2.5.
    below = sas_round([2.5 - 10.0 ** (-i) for i in range(10, 18)])
    above = sas_round([2.5 + 10.0 ** (-i) for i in range(16, 11, -1)])
    assert below.tolist() == [2, 2, 3, 3, 3, 3, 3, 3]
    assert above.tolist() == [3, 3, 3, 3, 3]


def test_round_half_way_goes_away_from_zero_and_keeps_the_sign():
    # ROUND, "Computing Results When the Value Is Halfway ...": ROUND(-2.5) returns -3.
    assert sas_round([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]).tolist() == [-3, -2, -1, 1, 2, 3]
    assert math.copysign(1.0, sas_round(-0.4)) == 1.0  # 0, not -0


def test_round_result_is_the_decimal_constant_not_a_multiple_of_the_unit():
    # ROUND, "The Effects of Rounding": ROUND(0.33, 0.1) returns 0.3, not 3*0.1.
    assert sas_round(0.33, unit=0.1) == 0.3 and 3 * 0.1 != 0.3


# --- hand-computed half-way cases --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (5.5 * 331.1, 1, 1821.1),  # 1821.05: numpy's round-half-even gives 1821.0
        (10.065, 2, 10.07),  # FPG baseline median of the example; f"{10.065:.2f}" is 10.06
        (0.285, 2, 0.29),  # stored as 0.28499999999999998
        (1.005, 2, 1.01),  # stored as 1.00499999999999989
        (-1.005, 2, -1.01),
        (2.675, 2, 2.68),  # stored as 2.67499999999999982
        (0.75 * 10.1 + 0.25 * 10.4, 2, 10.18),  # computed as 10.174999999999999
        (12345.675, 2, 12345.68),
        (1234.4999, 0, 1234.0),  # not half-way: no fuzz reaches it
        (0.125, 2, 0.13),  # exactly half-way in binary too
        (149.5, -1, 150.0),
        (-25.0, -1, -30.0),
    ],
)
def test_hand_computed_half_way_values(value, digits, expected):
    assert sas_round(value, digits) == expected


def test_equal_decimal_changes_compare_equal_after_rounding():
    # -3.89 reached two ways: 5.13 - 9.02 and 6.07 - 9.96 differ in the last bits.
    a, b = 5.13 - 9.02, 6.07 - 9.96
    assert a != b
    assert sas_round(a, 2) == sas_round(b, 2) == -3.89
    assert sas_round(9.96 - 9.96, 2) == 0.0


def test_types_and_missing_values_are_kept():
    s = pd.Series([1.25, None, 2.5], index=[10, 11, 12], name="AVAL", dtype="Float64")
    out = sas_round(s, 1)
    assert out.index.tolist() == [10, 11, 12] and out.name == "AVAL" and out.dtype == "float64"
    assert out.iloc[0] == 1.3 and math.isnan(out.iloc[1]) and out.iloc[2] == 2.5
    assert isinstance(sas_round(2.5), float) and math.isnan(sas_round(None))
    assert sas_round(np.array([[0.5, 1.5]])).shape == (1, 2)
    assert sas_round([math.inf, -math.inf]).tolist() == [math.inf, -math.inf]


def test_digits_per_value_with_nan_leaving_the_value_as_is():
    out = sas_round([1.25, 1.25, 1.23456], [1, 0, np.nan])
    assert out.tolist() == [1.3, 1.0, 1.23456]


def test_significant_digits():
    assert sas_round([7.1899999999999995, 1234.5678901234, 0.0012345678904, 0.0], significant=10
                     ).tolist() == [7.19, 1234.56789, 0.001234567890, 0.0]  # fmt: skip
    assert sas_round(123456789012.0, significant=10) == 123456789000.0
    assert sas_round(-0.00015, significant=1) == -0.0002


def test_usage_errors_are_clear():
    with pytest.raises(ValueError, match="one of digits, unit or significant"):
        sas_round(1.0, 2, unit=0.1)
    with pytest.raises(ValueError, match="positive number"):
        sas_round(1.0, unit=0)
    with pytest.raises(ValueError, match="whole numbers"):
        sas_round(1.0, 1.5)
    with pytest.raises(ValueError, match="significant"):
        sas_round(1.0, significant=0)


def test_format_fixed_writes_the_rounded_decimal():
    assert format_fixed(10.065, 2) == "10.07"
    assert format_fixed(0.0625, 3) == "0.063"
    assert format_fixed(-0.004, 2) == "0.00"
    assert format_fixed(2, 0) == "2" and format_fixed(None, 1) == "" and format_fixed("x", 1) == ""
    assert format_fixed(2.5, 0) == "3" and format_fixed(-2.5, 0) == "-3"


# --- properties -------------------------------------------------------------------------------


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=0, max_value=4),
)
def test_decimal_inputs_round_as_decimal_arithmetic_does(mantissa, digits):
    # A number written with digits + 1 decimals rounds to digits decimals as decimal arithmetic
    # rounds it, half away from zero (the integer arithmetic below is the reference).
    value = float(f"{mantissa}e-{digits + 1}")
    q, r = divmod(abs(mantissa), 10)
    expected_units = q + (1 if r >= 5 else 0)
    expected = math.copysign(float(f"{expected_units}e-{digits}"), mantissa) + 0.0
    assert sas_round(value, digits) == expected


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), st.integers(0, 6))
def test_result_is_within_half_a_unit_and_prints_with_its_digits(value, digits):
    got = sas_round(value, digits)
    assert abs(got - value) <= 10.0**-digits * (0.5 + 1e-11) + 4e-15 * abs(value)
    assert float(f"{got:.{digits}f}") == got


@given(
    st.lists(
        st.one_of(st.floats(min_value=-1e12, max_value=1e12), st.just(math.nan)),
        min_size=1,
        max_size=20,
    ),
    st.integers(-3, 8),
)
def test_one_value_rounds_as_the_same_value_in_an_array(values, digits):
    # sas_round has a plain-Python path for one number; it must agree with the array path.
    whole = sas_round(np.array(values), digits)
    one = [sas_round(v, digits) for v in values]
    np.testing.assert_array_equal(np.array(one), whole)
    assert [format_fixed(v, max(digits, 0)) for v in values if not math.isnan(v)] == [
        "" if math.isnan(r) else f"{r:.{max(digits, 0)}f}"
        for r in sas_round(np.array([v for v in values if not math.isnan(v)]), max(digits, 0))
    ]


# --- parse_decimal: what counts as a number in a result ------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [("5", 5.0), ("-0.25", -0.25), (".5", 0.5), ("5.", 5.0), ("+1.2e3", 1200.0), (" 9.3 ", 9.3),
     ("1E-2", 0.01)],
)  # fmt: skip
def test_plain_decimals_are_numbers(text, number):
    assert parse_decimal(pd.Series([text], dtype="str")).tolist() == [number]


@pytest.mark.parametrize(
    "text",
    # Python's float() reads the next four; pandas reads inf and Infinity; 1e999 overflows
    ["1_000", "nan", "inf", "Infinity", "1e999", "0x10", "78,5", "1,000", "1.2.3", "<0.1",
     "５", "", "e5", "-", "."],
)  # fmt: skip
def test_anything_else_is_not_a_number(text):
    assert math.isnan(parse_decimal(pd.Series([text], dtype="str")).iloc[0])


def test_missing_stays_missing():
    assert parse_decimal(pd.Series([None, "1"], dtype="str")).isna().tolist() == [True, False]


def test_repeated_results_are_parsed_alike_and_keep_their_place():
    # results repeat (each distinct text is matched once): every copy gets its own number, in
    # its own row, with the series' index and name; -0 keeps its sign, missing stays missing
    values = pd.Series(
        ["78.5", None, "-0", "78.5", "<0.1", " 78.5", "-0", None, "0"],
        index=[10, 11, 12, 13, 14, 15, 16, 17, 18], name="LBORRES", dtype="str",
    )  # fmt: skip
    parsed = parse_decimal(values)
    assert parsed.index.tolist() == [10, 11, 12, 13, 14, 15, 16, 17, 18]
    assert parsed.name == "LBORRES" and parsed.dtype == "float64"
    numbers = parsed.tolist()
    assert [n if not math.isnan(n) else "NaN" for n in numbers] == [
        78.5, "NaN", 0.0, 78.5, "NaN", 78.5, 0.0, "NaN", 0.0
    ]  # fmt: skip
    assert [math.copysign(1, numbers[i]) for i in (2, 6, 8)] == [-1, -1, 1]
