import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialflow.mapping.dates import (
    DateFormatError,
    combine_datetime,
    compile_format,
    parse_dates,
    parse_times,
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
