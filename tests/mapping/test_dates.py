import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialflow.mapping.dates import (
    DateFormatError,
    combine_datetime,
    compile_format,
    day_month_ambiguous,
    parse_dates,
    parse_times,
    swap_day_month,
)

FORMATS = ["%d-%b-%Y", "%Y/%m/%d", "%Y-%m-%d"]


def test_parse_dates_reads_every_form_and_keeps_partial_dates_partial():
    raw = pd.Series(
        [
            "12-JAN-2019",
            "2019/01/13",
            "2019-01-14",
            "UN-MAR-2009",
            "UN-UNK-2008",
            "15-UNK-2008",
            "12-jan-2019",
            None,
        ],
        dtype="str",
    )
    parsed = parse_dates(raw, FORMATS)
    assert parsed.iso.tolist()[:7] == [
        "2019-01-12",
        "2019-01-13",
        "2019-01-14",
        "2009-03",
        "2008",
        "2008---15",
        "2019-01-12",
    ]
    assert pd.isna(parsed.iso.iloc[7])
    assert not parsed.bad.any()


@pytest.mark.parametrize(
    "value", ["30-FEB-2019", "12-XXX-2019", "2019/13/01", "yesterday", "12/01/2019"]
)
def test_parse_dates_flags_what_it_cannot_read_and_never_guesses(value):
    parsed = parse_dates(pd.Series([value], dtype="str"), FORMATS)
    assert parsed.bad.tolist() == [True]
    assert pd.isna(parsed.iso.iloc[0])


def test_all_unknown_date_is_missing_but_not_a_problem():
    parsed = parse_dates(pd.Series(["UNK-UNK-UNKN"], dtype="str"), ["%d-%b-%Y"])
    assert pd.isna(parsed.iso.iloc[0]) and not parsed.bad.iloc[0]


def test_formats_are_tried_in_order():
    # %d/%m/%Y first: 03/04/2019 is 3 April, never silently swapped
    parsed = parse_dates(pd.Series(["03/04/2019"], dtype="str"), ["%d/%m/%Y", "%m/%d/%Y"])
    assert parsed.iso.tolist() == ["2019-04-03"]


# 12 birth dates written month first; 4 of them (day and month both <= 12, and different) read
# as a different real date day first.
MDY_BIRTH_DATES = [
    "03/04/1966", "05/20/1966", "11/02/1958", "08/13/1960", "07/09/1971", "01/25/1972",
    "10/31/1955", "12/01/1963", "06/18/1969", "09/29/1962", "02/14/1974", "04/30/1957",
]  # fmt: skip
MDY_AMBIGUOUS = {  # value: (read day first, read month first)
    "03/04/1966": ("1966-04-03", "1966-03-04"),
    "11/02/1958": ("1958-02-11", "1958-11-02"),
    "07/09/1971": ("1971-09-07", "1971-07-09"),
    "12/01/1963": ("1963-01-12", "1963-12-01"),
}


def test_swapping_day_and_month_in_a_format():
    assert swap_day_month("%d/%m/%Y") == "%m/%d/%Y"
    assert swap_day_month("%Y-%m-%d") == "%Y-%d-%m"
    assert swap_day_month("%d-%b-%Y") is None and swap_day_month("%Y/%m") is None


def test_both_orders_declared_names_the_values_that_read_both_ways():
    values = pd.Series(MDY_BIRTH_DATES, dtype="str")
    found = day_month_ambiguous(values, ["%d/%m/%Y", "%m/%d/%Y"])
    hit = found[found["taken"].notna()]
    assert dict(zip(values[hit.index], zip(hit["taken"], hit["other"], strict=True),
                    strict=True)) == MDY_AMBIGUOUS  # fmt: skip
    assert set(hit["format"]) == {"%d/%m/%Y"} and set(hit["other_format"]) == {"%m/%d/%Y"}
    assert hit["evidence"].isna().all()


def test_one_order_declared_on_data_of_the_other_order_names_the_values_and_the_evidence():
    values = pd.Series([*MDY_BIRTH_DATES, None], dtype="str")
    found = day_month_ambiguous(values, ["%d/%m/%Y"])
    hit = found[found["taken"].notna()]
    assert set(values[hit.index]) == set(MDY_AMBIGUOUS)
    # the evidence is a value that only reads month first
    assert set(hit["evidence"]) == {"05/20/1966"}
    assert found.loc[12].isna().all()


def test_a_column_in_one_order_with_that_order_declared_is_not_ambiguous():
    day_first = pd.Series(["03/04/1966", "20/05/1966", "12/01/1963"], dtype="str")
    assert day_month_ambiguous(day_first, ["%d/%m/%Y"])["taken"].isna().all()
    # same day and month, or a named month, read one way only
    same = pd.Series(["05/05/1966", "12-JAN-2019"], dtype="str")
    assert day_month_ambiguous(same, ["%d/%m/%Y", "%m/%d/%Y", "%d-%b-%Y"])["taken"].isna().all()


def test_a_typo_in_a_year_first_column_does_not_make_the_column_ambiguous():
    values = pd.Series(["2019/01/12", "2019/13/01", "2019/02/03"], dtype="str")
    assert day_month_ambiguous(values, ["%Y/%m/%d"])["taken"].isna().all()
    # declaring both orders still names the values that read both ways
    both = day_month_ambiguous(values, ["%Y/%m/%d", "%Y/%d/%m"])
    assert both["taken"].notna().tolist() == [True, False, True]


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_ambiguous_exactly_when_both_readings_are_different_real_dates(day):
    text = day.strftime("%m/%d/%Y")
    found = day_month_ambiguous(pd.Series([text], dtype="str"), ["%d/%m/%Y", "%m/%d/%Y"])
    expected = day.day <= 12 and day.day != day.month
    assert found["taken"].notna().iloc[0] == expected
    if expected:
        assert found["other"].iloc[0] == day.isoformat()


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_every_real_date_round_trips_through_each_format(day):
    texts = pd.Series(
        [day.strftime("%d-%b-%Y").upper(), day.strftime("%Y/%m/%d"), day.isoformat()], dtype="str"
    )
    parsed = parse_dates(texts, FORMATS)
    assert parsed.iso.tolist() == [day.isoformat()] * 3


@given(st.integers(1900, 2099), st.integers(1, 12))
def test_unknown_day_gives_year_month(year, month):
    text = dt.date(year, month, 1).strftime("UN-%b-%Y").upper()
    assert parse_dates(pd.Series([text], dtype="str"), FORMATS).iso.tolist() == [
        f"{year}-{month:02d}"
    ]


def test_times_and_their_combination_with_complete_dates_only():
    times = parse_times(pd.Series(["7:30", "10:05", "24:00", None], dtype="str"), ["%H:%M"])
    assert times.iso.tolist()[:2] == ["07:30", "10:05"]
    assert times.bad.tolist() == [False, False, True, False]
    joined = combine_datetime(
        pd.Series(["2019-01-12", "2019-01", "2019-01-12"], dtype="str"),
        pd.Series(["07:30", "07:30", None], dtype="str"),
    )
    assert joined.tolist() == ["2019-01-12T07:30", "2019-01", "2019-01-12"]


def test_bad_format_string_is_refused():
    with pytest.raises(DateFormatError, match="unknown format code '%q'"):
        compile_format("%d-%q-%Y")


@given(
    st.lists(
        st.sampled_from(
            ["12-JAN-2019", "2019/01/13", "UN-MAR-2009", "bad", None, "31-FEB-2019", "UNK-UNK-UNKN"]
        ),
        max_size=30,
    )
)
def test_parsing_distinct_values_once_gives_the_same_as_value_by_value(values):
    from trialflow.mapping.dates import _parse_dates

    series = pd.Series(values, dtype="str")
    fast, slow = parse_dates(series, FORMATS), _parse_dates(series, FORMATS)
    assert fast.iso.fillna("<NA>").tolist() == slow.iso.fillna("<NA>").tolist()
    assert fast.bad.tolist() == slow.bad.tolist()
