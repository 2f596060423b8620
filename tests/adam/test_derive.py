"""Tests for trialflow.adam.derive: admiral-style inline input and expected datasets."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from trialflow.adam.derive import (
    DerivationError,
    compute_homa_b_cpeptide,
    compute_homa_b_insulin,
    compute_homa_ir_cpeptide,
    compute_homa_ir_insulin,
    derive_param_computed,
    derive_var_base,
    derive_var_chg,
    derive_var_extreme_flag,
    derive_var_pchg,
    desc,
    restrict,
)
from trialflow.errors import TrialflowError

NA = np.nan


def frame(columns: list[str], *rows: tuple) -> pd.DataFrame:
    """A tribble: column names, then one tuple per record."""
    return pd.DataFrame([list(r) for r in rows], columns=columns)


def assert_dfs_equal(expected: pd.DataFrame, actual: pd.DataFrame, keys: list[str]) -> None:
    """admiral's expect_dfs_equal: same columns and values, compared after sorting by keys."""
    assert sorted(actual.columns) == sorted(expected.columns)
    cols = list(expected.columns)
    a = actual[cols].sort_values(keys, kind="stable").reset_index(drop=True)
    e = expected[cols].sort_values(keys, kind="stable").reset_index(drop=True)
    a, e = (f.astype(object).where(f.notna(), None) for f in (a, e))
    pd.testing.assert_frame_equal(a, e, check_dtype=False, check_index_type=False)


# ## derive_var_extreme_flag -------------------------------------------------------------------

VS = frame(
    ["USUBJID", "PARAMCD", "ADY", "AVAL", "VSSEQ"],
    ("1", "SYSBP", -7, 120.0, 1),
    ("1", "SYSBP", -1, 118.0, 2),
    ("1", "SYSBP", -1, 121.0, 3),  # tie on ADY with VSSEQ 2
    ("1", "SYSBP", NA, 130.0, 4),  # missing ADY sorts last
    ("2", "SYSBP", -3, 140.0, 5),
    ("2", "SYSBP", 5, NA, 6),
)


def test_extreme_flag_last_missing_order_sorts_last():
    # Test 1: mode="last" picks the record with the missing ADY (admiral's arrange)
    out = derive_var_extreme_flag(
        VS, by_vars=["USUBJID", "PARAMCD"], order=["ADY"], new_var="FL", mode="last"
    )
    assert out["FL"].isna().tolist() == [True, True, True, False, True, False]
    assert out["FL"].fillna("").tolist() == ["", "", "", "Y", "", "Y"]


def test_extreme_flag_first_and_ties_keep_row_order():
    # Test 2: mode="first" with a filter that drops the missing ADY; ties -> earlier row
    out = derive_var_extreme_flag(
        VS,
        by_vars=["USUBJID"],
        order=["ADY"],
        new_var="FL",
        mode="last",
        filter=VS["ADY"].notna(),
    )
    assert out["FL"].fillna("").tolist() == ["", "", "Y", "", "", "Y"]
    first = derive_var_extreme_flag(
        VS, by_vars=["USUBJID"], order=["ADY"], new_var="FL", mode="first"
    )
    assert first["FL"].fillna("").tolist() == ["Y", "", "", "", "Y", ""]


def test_extreme_flag_desc_keeps_missing_last():
    # Test 3: desc(AVAL) puts the highest first; the missing AVAL still sorts last
    out = derive_var_extreme_flag(
        VS, by_vars=["USUBJID"], order=[desc("AVAL"), "VSSEQ"], new_var="FL", mode="first"
    )
    assert out["FL"].fillna("").tolist() == ["", "", "", "Y", "Y", ""]
    last = derive_var_extreme_flag(VS, by_vars=["USUBJID"], order=[desc("AVAL")], new_var="FL")
    assert last["FL"].fillna("").tolist() == ["", "Y", "", "", "", "Y"]


def test_extreme_flag_filter_callable_equals_series_and_true_value():
    # Test 4: filter as a callable gives the same result as the Series; other rows are null
    kwargs = dict(by_vars=["USUBJID"], order=["ADY", "VSSEQ"], new_var="ABLFL", mode="last")
    by_series = derive_var_extreme_flag(VS, filter=VS["ADY"] < 0, **kwargs)
    by_callable = derive_var_extreme_flag(VS, filter=lambda d: d["ADY"] < 0, **kwargs)
    pd.testing.assert_frame_equal(by_series, by_callable)
    assert by_series["ABLFL"].fillna("").tolist() == ["", "", "Y", "", "Y", ""]
    assert by_series["ABLFL"].isna().sum() == 4
    numeric = derive_var_extreme_flag(VS, filter=VS["ADY"] < 0, true_value=1, **kwargs)
    assert numeric["ABLFL"].tolist()[2] == 1


def test_extreme_flag_does_not_mutate_and_keeps_row_order():
    # Test 5: input unchanged, row order and index kept
    shuffled = VS.sample(frac=1, random_state=3)
    before = shuffled.copy(deep=True)
    out = derive_var_extreme_flag(shuffled, by_vars=["USUBJID"], order=["ADY"], new_var="FL")
    pd.testing.assert_frame_equal(shuffled, before)
    assert list(out.index) == list(shuffled.index)
    pd.testing.assert_frame_equal(out.drop(columns="FL"), before)


def test_extreme_flag_usage_errors():
    # Test 6: bad mode, missing columns
    with pytest.raises(DerivationError, match=r"derive_var_extreme_flag: mode must be"):
        derive_var_extreme_flag(VS, by_vars=["USUBJID"], order=["ADY"], new_var="F", mode="max")
    missing = r"derive_var_extreme_flag: required column\(s\) missing from the dataset: TRTSDT, ADT"
    with pytest.raises(DerivationError, match=missing):
        derive_var_extreme_flag(VS, by_vars=["TRTSDT"], order=["ADT"], new_var="F")
    with pytest.raises(DerivationError, match="by_vars must be a list"):
        derive_var_extreme_flag(VS, by_vars="USUBJID", order=["ADY"], new_var="F")
    with pytest.raises(DerivationError, match="filter must"):
        derive_var_extreme_flag(
            VS, by_vars=["USUBJID"], order=["ADY"], new_var="F", filter=[True, False]
        )


# ## derive_var_base -------------------------------------------------------------------------

ADVS = frame(
    ["USUBJID", "PARAMCD", "AVISITN", "AVAL", "AVALC", "ABLFL"],
    ("1", "SYSBP", 0, 120.0, "120", "Y"),
    ("1", "SYSBP", 1, 130.0, "130", None),
    ("1", "DIABP", 0, 0.0, "0", "Y"),
    ("1", "DIABP", 1, 80.0, "80", None),
    ("2", "SYSBP", 1, 140.0, "140", None),  # no baseline
)


def test_base_merged_onto_every_record():
    # Test 1: BASE from the ABLFL record; groups without baseline get null
    expected = ADVS.assign(BASE=[120.0, 120.0, 0.0, 0.0, NA])
    before = ADVS.copy(deep=True)
    out = derive_var_base(ADVS, by_vars=["USUBJID", "PARAMCD"])
    pd.testing.assert_frame_equal(ADVS, before)
    assert list(out.index) == list(ADVS.index)
    assert_dfs_equal(expected, out, keys=["USUBJID", "PARAMCD", "AVISITN"])


def test_basec_from_avalc_and_filter():
    # Test 2: character source var, and a filter instead of ABLFL
    out = derive_var_base(ADVS, by_vars=["USUBJID", "PARAMCD"], source_var="AVALC", new_var="BASEC")
    assert out["BASEC"].fillna("-").tolist() == ["120", "120", "0", "0", "-"]
    out = derive_var_base(
        ADVS.drop(columns="ABLFL"),
        by_vars=["USUBJID", "PARAMCD"],
        filter=lambda d: d["AVISITN"] == 1,
    )
    assert out["BASE"].tolist() == [130.0, 130.0, 80.0, 80.0, 140.0]


def test_base_multiple_baselines_error_names_group():
    # Test 3: error if multiple baseline records
    data = pd.concat([ADVS, ADVS.iloc[[0]]], ignore_index=True)
    with pytest.raises(DerivationError) as info:
        derive_var_base(data, by_vars=["USUBJID", "PARAMCD"])
    message = str(info.value)
    assert message.startswith("derive_var_base: ")
    assert "multiple baseline records with respect to USUBJID, PARAMCD" in message
    assert "USUBJID='1', PARAMCD='SYSBP' has 2 records" in message
    assert len(info.value.records) == 2
    assert isinstance(info.value, TrialflowError)


def test_base_missing_columns():
    # Test 4: ABLFL needed only without a filter
    with pytest.raises(DerivationError, match=r"derive_var_base: .*missing.*: ABLFL"):
        derive_var_base(ADVS.drop(columns="ABLFL"), by_vars=["USUBJID", "PARAMCD"])


# ## derive_var_chg / derive_var_pchg ----------------------------------------------------------

CHG_IN = frame(
    ["USUBJID", "AVISITN", "AVAL", "BASE"],
    ("1", 0, 120.0, 120.0),
    ("1", 1, 130.0, 120.0),
    ("2", 0, 0.0, 0.0),
    ("2", 1, 5.0, 0.0),
    ("3", 1, NA, 90.0),
    ("3", 2, 99.0, NA),
)


def test_chg_all_rows_and_filtered_rows():
    # Test 1: every record when no filter (baseline gets 0); restricted with a filter
    assert derive_var_chg(CHG_IN)["CHG"].fillna(-1).tolist() == [0.0, 10.0, 0.0, 5.0, -1, -1]
    out = derive_var_chg(CHG_IN, filter=lambda d: d["AVISITN"] > 0)
    expected = CHG_IN.assign(CHG=[NA, 10.0, NA, 5.0, NA, NA])
    assert_dfs_equal(expected, out, keys=["USUBJID", "AVISITN"])


def test_pchg_null_when_base_zero_and_filtered():
    # Test 2: PCHG null for BASE 0, missing values, rows outside the filter
    out = derive_var_pchg(CHG_IN, filter=CHG_IN["AVISITN"] > 0)
    expected = CHG_IN.assign(PCHG=[NA, 100 * 10 / 120, NA, NA, NA, NA])
    assert_dfs_equal(expected, out, keys=["USUBJID", "AVISITN"])
    negative = pd.DataFrame({"AVAL": [-3.0], "BASE": [-4.0]})
    assert derive_var_pchg(negative)["PCHG"].tolist() == [25.0]


def test_chg_missing_columns_and_no_mutation():
    before = CHG_IN.copy(deep=True)
    derive_var_pchg(CHG_IN)
    derive_var_chg(CHG_IN)
    pd.testing.assert_frame_equal(CHG_IN, before)
    with pytest.raises(DerivationError, match=r"derive_var_chg: .*missing.*: BASE"):
        derive_var_chg(CHG_IN.drop(columns="BASE"))


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(-1e6, 1e6)),
            st.one_of(st.none(), st.floats(-1e6, 1e6)),
        ),
        max_size=30,
    )
)
# the smallest normal double: its 10th significant digit lies below what a double can hold
@example(pairs=[(0.0, 2.2250738585072014e-308)])
def test_chg_is_aval_minus_base_at_the_tenth_significant_digit(pairs):
    # Without digits CHG is AVAL - BASE rounded at the 10th significant digit of the larger
    # of |AVAL| and |BASE|: within half that unit of the binary difference.
    data = pd.DataFrame(pairs, columns=["AVAL", "BASE"], dtype="float64")
    out = derive_var_chg(data)["CHG"].to_numpy(dtype="float64")
    diff = data["AVAL"].to_numpy() - data["BASE"].to_numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(diff))
    larger = np.maximum(data["AVAL"].abs(), data["BASE"].abs()).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = 10.0 ** (np.floor(np.log10(larger)) - 9)
    ok = ~np.isnan(diff)
    assert (np.abs(out - diff)[ok] <= np.nan_to_num(unit[ok]) * (0.5 + 1e-9)).all()


@given(
    st.integers(0, 6),
    st.lists(
        st.tuples(
            st.integers(-(10**10) + 1, 10**10 - 1), st.integers(-(10**10) + 1, 10**10 - 1)
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_chg_of_decimal_values_is_their_exact_decimal_difference(places, pairs):
    # Values of one parameter (the same decimals, up to 10 significant digits): CHG is the
    # decimal difference exactly, so changes equal in decimal are equal (-3.89 from 5.13 - 9.02
    # and from 6.07 - 9.96), and a zero change is exactly zero.
    def number(m: int) -> float:
        return float(Decimal(m).scaleb(-places))

    data = pd.DataFrame(
        {"AVAL": [number(a) for a, _ in pairs], "BASE": [number(b) for _, b in pairs]}
    )
    expected = [number(a - b) for a, b in pairs]
    assert derive_var_chg(data)["CHG"].tolist() == expected


def test_chg_and_pchg_are_rounded_to_the_declared_digits():
    data = pd.DataFrame(
        {"AVAL": [5.13, 6.07, 9.96, 1.005, 12.0], "BASE": [9.02, 9.96, 9.96, 0.0, 9.0],
         "DIG": [2, 2, 2, 2, 1]}
    )  # fmt: skip
    chg = derive_var_chg(data, digits="DIG")["CHG"]
    assert chg.tolist() == [-3.89, -3.89, 0.0, 1.01, 3.0]  # 1.005 rounds half up, as SAS does
    assert derive_var_chg(data, digits=0)["CHG"].tolist() == [-4.0, -4.0, 0.0, 1.0, 3.0]
    # PCHG: 100 x -3.89 / 9.02 = -43.1263858..., 100 x -3.89 / 9.96 = -39.0562249...,
    # 100 x 3 / 9 = 33.333...; BASE 0 gives no PCHG.
    pchg = derive_var_pchg(data, digits=2)["PCHG"]
    assert pchg.fillna(-1).tolist() == [-43.13, -39.06, 0.0, -1, 33.33]
    with pytest.raises(DerivationError, match="digits must be a number of decimals"):
        derive_var_chg(data, digits=1.5)  # type: ignore[arg-type]


def test_restrict_puts_results_back_in_order():
    # restrict: new columns null outside the filter; changed columns kept outside it
    data = CHG_IN.iloc[::-1]
    step = restrict(derive_var_chg, filter=lambda d: d["AVISITN"] > 0)
    out = step(data)
    assert list(out.index) == list(data.index)
    assert out["CHG"].fillna(-1).tolist() == [-1, -1, 5.0, -1, 10.0, -1]
    rebased = restrict(derive_var_base, filter=CHG_IN["USUBJID"] == "1", by_vars=["USUBJID"])
    with_flag = CHG_IN.assign(ABLFL=["Y", None, None, None, None, None], BASE=-1.0)
    out = rebased(with_flag)
    assert out["BASE"].tolist() == [120.0, 120.0, -1.0, -1.0, -1.0, -1.0]
    with pytest.raises(DerivationError, match="must return the records it was given"):
        restrict(lambda d: d.iloc[:1], filter=lambda d: d["AVISITN"] > 0)(CHG_IN)


# ## derive_param_computed ---------------------------------------------------------------------

ADLB = frame(
    ["STUDYID", "USUBJID", "AVISIT", "PARAMCD", "AVAL", "AVALU"],
    ("S", "1", "BASELINE", "FCP", 741.56, "pmol/L"),
    ("S", "1", "BASELINE", "FPG", 9.66, "mmol/L"),
    ("S", "1", "WEEK 4", "FCP", 600.0, "pmol/L"),
    ("S", "1", "WEEK 4", "FPG", 3.5, "mmol/L"),
    ("S", "2", "BASELINE", "FCP", 500.0, "pmol/L"),
    ("S", "2", "BASELINE", "FPG", 8.0, "mmol/L"),
    ("S", "2", "BASELINE", "FPG", 8.2, "mmol/L"),  # duplicate FPG -> no record
    ("S", "3", "BASELINE", "FCP", NA, "pmol/L"),  # missing FCP -> no record
    ("S", "3", "BASELINE", "FPG", 7.0, "mmol/L"),
    ("S", "4", "BASELINE", "FPG", 7.0, "mmol/L"),  # no FCP at all -> no record
    ("S", "4", "BASELINE", "HBA1C", 7.0, "%"),
)

BY = ["STUDYID", "USUBJID", "AVISIT"]


def homa_b(d: pd.DataFrame) -> pd.Series:
    return compute_homa_b_cpeptide(d["FCP"], d["FPG"])


def test_param_computed_only_complete_groups():
    # Test 1: HOMA-B added for subject 1 at both visits only; FPG 3.5 gives a null AVAL
    before = ADLB.copy(deep=True)
    out = derive_param_computed(
        ADLB,
        by_vars=BY,
        parameters=["FCP", "FPG"],
        compute=homa_b,
        set_values_to={"PARAMCD": "HOMAB", "PARAM": "HOMA-B (%)"},
    )
    pd.testing.assert_frame_equal(ADLB, before)
    new = frame(
        ["STUDYID", "USUBJID", "AVISIT", "PARAMCD", "AVAL", "AVALU", "PARAM"],
        ("S", "1", "BASELINE", "HOMAB", 0.27 * 741.56 / (9.66 - 3.5), None, "HOMA-B (%)"),
        ("S", "1", "WEEK 4", "HOMAB", NA, None, "HOMA-B (%)"),
    )
    expected = pd.concat([ADLB.assign(PARAM=None), new], ignore_index=True)
    assert_dfs_equal(expected, out, keys=["USUBJID", "AVISIT", "PARAMCD", "AVAL"])
    # input rows first, in their order; new records appended with fresh index labels
    pd.testing.assert_frame_equal(out.iloc[: len(ADLB)][ADLB.columns], ADLB)
    assert list(out.index) == list(range(len(ADLB) + 2))
    assert out["PARAMCD"].tolist()[-2:] == ["HOMAB", "HOMAB"]
    assert out["AVALU"].iloc[-2:].isna().all()


def test_param_computed_keep_sources_and_homa_ir():
    # Test 2: SRCRECS lists the contributing records' index labels
    data = ADLB.set_axis(range(100, 100 + len(ADLB)))
    out = derive_param_computed(
        data,
        by_vars=BY,
        parameters=["FCP", "FPG"],
        compute=lambda d: compute_homa_ir_cpeptide(d["FCP"], d["FPG"]),
        set_values_to={"PARAMCD": "HOMAIR"},
        keep_sources=True,
    )
    new = out[out["PARAMCD"] == "HOMAIR"]
    assert new["SRCRECS"].tolist() == ["100,101", "102,103"]
    assert out["SRCRECS"].iloc[: len(data)].isna().all()
    assert new["AVAL"].iloc[0] == pytest.approx(1.5 + 741.56 * 9.66 / 2800)
    assert list(new.index) == [111, 112]


def test_param_computed_nothing_to_add_and_errors():
    out = derive_param_computed(
        ADLB, by_vars=BY, parameters=["FCP", "INS"], compute=homa_b, set_values_to={"PARAMCD": "X"}
    )
    pd.testing.assert_frame_equal(out, ADLB)
    with pytest.raises(DerivationError, match=r"derive_param_computed: .*missing.*: VISIT"):
        derive_param_computed(
            ADLB, by_vars=["VISIT"], parameters=["FCP"], compute=homa_b, set_values_to={}
        )
    with pytest.raises(DerivationError, match="one value per group"):
        derive_param_computed(
            ADLB,
            by_vars=BY,
            parameters=["FCP", "FPG"],
            compute=lambda d: [1.0],
            set_values_to={"PARAMCD": "X"},
        )


# ## HOMA ------------------------------------------------------------------------------------


def test_homa_cpeptide_hand_computed():
    assert compute_homa_ir_cpeptide(741.56, 9.66) == pytest.approx(4.058382, abs=1e-9)
    assert compute_homa_b_cpeptide(741.56, 9.66) == pytest.approx(200.2212 / 6.16, abs=1e-9)
    assert math.isnan(compute_homa_b_cpeptide(741.56, 3.5))
    assert math.isnan(compute_homa_b_cpeptide(741.56, 2.0))


def test_homa_insulin_hand_computed_and_vectorised():
    insulin = pd.Series([10.0, 10.0, None], index=[5, 6, 7])
    glucose = pd.Series([5.5, 3.5, 6.0], index=[5, 6, 7])
    ir = compute_homa_ir_insulin(insulin, glucose)
    assert ir.tolist()[:2] == [pytest.approx(10 * 5.5 / 22.5), pytest.approx(10 * 3.5 / 22.5)]
    b = compute_homa_b_insulin(insulin, glucose)
    assert list(b.index) == [5, 6, 7]
    assert b.iloc[0] == pytest.approx(100.0)
    assert b.iloc[1:].isna().all()
    arr = compute_homa_b_insulin(np.array([10.0, 10.0]), np.array([4.5, 3.0]))
    assert arr[0] == pytest.approx(200.0) and np.isnan(arr[1])


def test_every_adam_module_raises_the_one_derivation_error():
    from trialflow.adam import dates, derive, windows
    from trialflow.errors import DerivationError

    assert derive.DerivationError is dates.DerivationError is windows.DerivationError
    assert issubclass(DerivationError, TrialflowError)


def test_param_computed_constant_parameter_used_at_every_visit():
    # BMI from WEIGHT at each visit and the one HEIGHT record of the subject (admiral's
    # constant_parameters); subject 2 has two HEIGHT records, so no BMI for them.
    vs = frame(
        ["USUBJID", "VISIT", "PARAMCD", "AVAL"],
        ("1", "DAY 0", "HEIGHT", 170.0),
        ("1", "DAY 0", "WEIGHT", 72.25),
        ("1", "DAY 28", "WEIGHT", 69.36),
        ("2", "DAY 0", "HEIGHT", 160.0),
        ("2", "DAY 14", "HEIGHT", 161.0),
        ("2", "DAY 0", "WEIGHT", 60.0),
    )
    out = derive_param_computed(
        vs,
        by_vars=["USUBJID", "VISIT"],
        parameters=["WEIGHT"],
        constant_parameters=["HEIGHT"],
        constant_by_vars=["USUBJID"],
        compute=lambda d: d["WEIGHT"] / (d["HEIGHT"] / 100) ** 2,
        set_values_to={"PARAMCD": "BMI"},
        keep_sources=True,
    )
    bmi = out[out["PARAMCD"] == "BMI"]
    assert bmi["VISIT"].tolist() == ["DAY 0", "DAY 28"]
    assert bmi["AVAL"].tolist() == pytest.approx([25.0, 24.0])
    assert bmi["SRCRECS"].tolist() == ["1,0", "2,0"]
    with pytest.raises(DerivationError, match="constant_by_vars must be a subset of by_vars"):
        derive_param_computed(
            vs, by_vars=["VISIT"], parameters=["WEIGHT"], constant_parameters=["HEIGHT"],
            constant_by_vars=["USUBJID"], compute=lambda d: d["WEIGHT"], set_values_to={},
        )
