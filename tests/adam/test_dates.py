"""derive_vars_dt and derive_vars_dy against admiral's imputation rules."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

from trialflow.adam.dates import DerivationError, derive_vars_dt, derive_vars_dy

PARTIALS = ["2019", "2019-03", "2019-03-15", "2019---15", "2019-02-30", "not a date", None]


def dates(values: list[str | None]) -> pd.Series:
    return pd.Series(pd.to_datetime(values), dtype="datetime64[ns]")


def flags(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype="str")


def run(highest: str, imputation: str = "first", **kwargs) -> pd.DataFrame:
    ae = pd.DataFrame({"AESTDTC": pd.Series(PARTIALS, dtype="str")})
    return derive_vars_dt(
        ae,
        new_vars_prefix="AST",
        dtc="AESTDTC",
        highest_imputation=highest,
        date_imputation=imputation,
        **kwargs,
    )


## Test 1: highest_imputation "n" keeps only complete dates, no flag variable ----
def test_no_imputation() -> None:
    out = run("n")
    assert list(out.columns) == ["AESTDTC", "ASTDT"]
    expected = dates([None, None, "2019-03-15", None, None, None, None])
    assert_frame_equal(out[["ASTDT"]], expected.to_frame("ASTDT"))


## Test 2: each level imputes up to itself and no further ----
@pytest.mark.parametrize(
    ("highest", "expected_dt", "expected_flag"),
    [
        ("D", [None, "2019-03-01", "2019-03-15", None], [None, "D", None, None]),
        ("M", ["2019-01-01", "2019-03-01", "2019-03-15", "2019-01-01"], ["M", "D", None, "M"]),
    ],
)
def test_levels(highest: str, expected_dt: list, expected_flag: list) -> None:
    out = run(highest)
    tail = [None, None, None]  # impossible date, not a date, null: null date and no flag
    assert_frame_equal(
        out[["ASTDT", "ASTDTF"]].reset_index(drop=True),
        pd.DataFrame({"ASTDT": dates(expected_dt + tail), "ASTDTF": flags(expected_flag + tail)}),
    )


## Test 3: date_imputation first / mid / last / mm-dd, preserve ----
@pytest.mark.parametrize(
    ("imputation", "preserve", "expected"),
    [
        ("first", False, ["2019-01-01", "2019-03-01", "2019-03-15", "2019-01-01"]),
        ("mid", False, ["2019-06-30", "2019-03-15", "2019-03-15", "2019-06-30"]),
        ("mid", True, ["2019-06-30", "2019-03-15", "2019-03-15", "2019-06-15"]),
        ("last", False, ["2019-12-31", "2019-03-31", "2019-03-15", "2019-12-31"]),
        ("last", True, ["2019-12-31", "2019-03-31", "2019-03-15", "2019-12-15"]),
        ("06-15", False, ["2019-06-15", "2019-03-15", "2019-03-15", "2019-06-15"]),
    ],
)
def test_date_imputation(imputation: str, preserve: bool, expected: list) -> None:
    out = run("M", imputation, preserve=preserve)
    assert out["ASTDT"].tolist() == dates([*expected, None, None, None]).tolist()
    assert_series_equal(
        out["ASTDTF"], flags(["M", "D", None, "M", None, None, None]), check_names=False
    )


def test_day_only_imputation_with_highest_d() -> None:
    out = run("D", "10")
    assert out["ASTDT"].iloc[1] == pd.Timestamp("2019-03-10")
    assert out["ASTDTF"].iloc[1] == "D"


def test_last_day_of_february_in_leap_and_common_years() -> None:
    df = pd.DataFrame({"DTC": ["2020-02", "2019-02", "2000-02", "1900-02"]})
    out = derive_vars_dt(
        df, new_vars_prefix="A", dtc="DTC", highest_imputation="D", date_imputation="last"
    )
    assert out["ADT"].dt.day.tolist() == [29, 28, 29, 28]


def test_time_part_is_ignored() -> None:
    df = pd.DataFrame({"DTC": ["2019-03-15T10:30", "2019-03T10:30", "2019-03-15T"]})
    out = derive_vars_dt(df, new_vars_prefix="A", dtc="DTC", highest_imputation="D")
    assert out["ADT"].tolist() == dates(["2019-03-15", "2019-03-01", "2019-03-15"]).tolist()
    assert out["ADTF"].isna().tolist() == [True, False, True]


## Test 4: min_dates keeps an imputed start date from being before treatment start ----
def test_min_dates_within_the_partial_range() -> None:
    ae = pd.DataFrame(
        {
            "USUBJID": ["1", "2", "3", "4"],
            "AESTDTC": ["2019-03", "2019-04", "2019-02", "2019-03-05"],
            "TRTSDT": pd.to_datetime(["2019-03-10"] * 4),
        }
    )
    out = derive_vars_dt(
        ae, new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="M", min_dates=["TRTSDT"]
    )
    expected = ae.assign(
        ASTDT=dates(["2019-03-10", "2019-04-01", "2019-02-01", "2019-03-05"]),
        ASTDTF=flags(["D", "D", "D", None]),
    )
    assert_frame_equal(out, expected)


def test_max_dates_for_end_dates() -> None:
    ae = pd.DataFrame(
        {
            "AEENDTC": ["2019-03", "2019", "2019-05", None],
            "DCUTDT": pd.to_datetime(["2019-03-20", "2019-08-01", "2019-03-20", "2019-03-20"]),
        }
    )
    out = derive_vars_dt(
        ae,
        new_vars_prefix="AEN",
        dtc="AEENDTC",
        highest_imputation="M",
        date_imputation="last",
        max_dates=["DCUTDT"],
    )
    assert out["AENDT"].tolist() == dates(["2019-03-20", "2019-08-01", "2019-05-31", None]).tolist()
    assert out["AENDTF"].tolist()[:3] == ["D", "M", "D"]


## Test 5: year imputation needs min_dates / max_dates (admiral's rule) ----
def test_year_imputation_from_min_dates() -> None:
    ae = pd.DataFrame(
        {"AESTDTC": [None, "", "2019-03-15"], "TRTSDT": pd.to_datetime(["2019-03-10", None, None])}
    )
    out = derive_vars_dt(
        ae, new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="Y", min_dates=["TRTSDT"]
    )
    assert out["ASTDT"].tolist() == dates(["2019-03-10", None, "2019-03-15"]).tolist()
    assert out["ASTDTF"].iloc[0] == "Y"
    assert out["ASTDTF"].iloc[1:].isna().all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"highest_imputation": "Y"},
        {"highest_imputation": "Y", "max_dates": ["TRTSDT"]},
        {"highest_imputation": "Y", "date_imputation": "mid", "min_dates": ["TRTSDT"]},
    ],
)
def test_year_imputation_without_matching_bounds_is_an_error(kwargs: dict) -> None:
    ae = pd.DataFrame({"AESTDTC": ["2019"], "TRTSDT": pd.to_datetime(["2019-03-10"])})
    with pytest.raises(DerivationError, match="highest_imputation='Y'"):
        derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC", **kwargs)


## Test 6: admiral pain points ----
def test_min_and_max_dates_together_both_apply() -> None:
    """admiral#1843: with both lists the date is still imputed and both bounds hold."""
    ae = pd.DataFrame(
        {
            "AESTDTC": ["2019-03", "2019-03", "2019"],
            "TRTSDT": pd.to_datetime(["2019-03-10", "2019-03-10", "2019-03-10"]),
            "AEENDT": pd.to_datetime(["2019-03-25", "2019-03-05", None]),
        }
    )
    out = derive_vars_dt(
        ae,
        new_vars_prefix="AST",
        dtc="AESTDTC",
        highest_imputation="M",
        min_dates=["TRTSDT"],
        max_dates=["AEENDT"],
    )
    # Row 2 is admiral#2708: the bounds contradict each other and the maximum wins.
    assert out["ASTDT"].tolist() == dates(["2019-03-10", "2019-03-05", "2019-03-10"]).tolist()


def test_start_and_end_imputed_together() -> None:
    """admiral#727: impute the end first, then use it as max_dates for the start."""
    ae = pd.DataFrame({"AESTDTC": ["2019-03"], "AEENDTC": ["2019-03-02"]})
    ae = derive_vars_dt(ae, new_vars_prefix="AEN", dtc="AEENDTC", highest_imputation="M")
    out = derive_vars_dt(
        ae,
        new_vars_prefix="AST",
        dtc="AESTDTC",
        highest_imputation="M",
        date_imputation="last",
        max_dates=["AENDT"],
    )
    assert out["ASTDT"].iloc[0] == pd.Timestamp("2019-03-02")


@pytest.mark.parametrize(
    ("highest", "imputation", "message"),
    [
        ("M", "15", "gives only a day"),  # admiral#3014: the error explains the coupling
        ("D", "31", "not a valid day in every month"),
        ("M", "02-30", "not a valid day in every year"),
        ("M", "middle", "must be 'first'"),
    ],
)
def test_bad_date_imputation_is_explained(highest: str, imputation: str, message: str) -> None:
    with pytest.raises(DerivationError, match=message):
        run(highest, imputation)


def test_mm_dd_accepted_with_day_level() -> None:
    """admiral#3014: 'mm-dd' is not rejected with highest_imputation='D'; the day is used."""
    assert run("D", "06-15")["ASTDT"].iloc[1] == pd.Timestamp("2019-03-15")


## Test 7: dataset contract ----
def test_input_not_mutated_and_row_order_kept() -> None:
    ae = pd.DataFrame({"AESTDTC": ["2019-05", "2019-01-02", "2019"]}, index=[30, 10, 20])
    before = ae.copy()
    out = derive_vars_dt(ae, new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="M")
    assert_frame_equal(ae, before)
    assert out.index.tolist() == [30, 10, 20]
    assert out["ASTDT"].tolist() == dates(["2019-05-01", "2019-01-02", "2019-01-01"]).tolist()


def test_missing_column_is_an_error() -> None:
    with pytest.raises(DerivationError, match="AESTDTC"):
        derive_vars_dt(pd.DataFrame({"X": [1]}), new_vars_prefix="AST", dtc="AESTDTC")


def test_flag_imputation_options() -> None:
    assert "ASTDTF" in run("n", flag_imputation="date").columns
    assert "ASTDTF" not in run("M", flag_imputation="none").columns


## Test 8: derive_vars_dy ----
def test_dy_has_no_day_zero() -> None:
    df = pd.DataFrame(
        {
            "TRTSDT": pd.to_datetime(["2019-01-10"] * 5),
            "ASTDT": pd.to_datetime(["2019-01-10", "2019-01-09", "2019-01-11", "2018-12-31", None]),
            "AENDTM": pd.to_datetime(["2019-01-10 23:00"] * 5),
        }
    )
    before = df.copy()
    out = derive_vars_dy(df, reference_date="TRTSDT", source_vars=["ASTDT", "AENDTM"])
    assert_frame_equal(df, before)
    expected = df.assign(
        ASTDY=pd.Series([1, -1, 2, -10, None], dtype="Int64"),
        AENDY=pd.Series([1] * 5, dtype="Int64"),
    )
    assert_frame_equal(out, expected)


def test_dy_null_reference_and_explicit_name() -> None:
    df = pd.DataFrame(
        {"TRTSDT": pd.to_datetime([None, "2019-01-01"]), "X": pd.to_datetime(["2019-01-05"] * 2)}
    )
    out = derive_vars_dy(df, reference_date="TRTSDT", source_vars={"XDY": "X"})
    assert out["XDY"].tolist() == [pd.NA, 5]
    with pytest.raises(DerivationError, match="does not end in DT"):
        derive_vars_dy(df, reference_date="TRTSDT", source_vars=["X"])
