"""value-control-character: control characters in character values of any dataset."""

import pandas as pd
import pytest

from trialflow.errors import control_names, escaped
from trialflow.validation.core import Dataset, Package
from trialflow.validation.rules.text import value_control_character


@pytest.mark.parametrize(
    ("value", "shown", "named"),
    [
        ("A\x00B", "A\\x00B", "U+0000 (NUL)"),
        ("\x01X", "\\x01X", "U+0001 (SOH)"),
        ("X\x85", "X\\x85", "U+0085"),  # NEL, a C1 control
        ("two\nlines", "two\\nlines", "U+000A (LF)"),
    ],
)
def test_the_rule_names_each_control_character(value, shown, named):
    ds = Dataset.from_frame("CM", pd.DataFrame({"CMTRT": ["ASPIRIN", value, "ÉPOXY"]}))
    [f] = value_control_character(Package({"CM": ds}))
    assert (f.variable, f.record, f.value) == ("CMTRT", 2, shown)
    assert f"control character(s) {named};" in f.message


def test_adam_datasets_are_checked_too():
    ds = Dataset.from_frame("ADAE", pd.DataFrame({"AETERM": ["RASH\x1b[0m"]}), kind="adam")
    [f] = value_control_character(Package({"ADAE": ds}))
    assert (f.dataset, f.value) == ("ADAE", "RASH\\x1b[0m")


def test_escapes_and_names_follow_the_code_points():
    # ASCII: NUL 0x00, ESC 0x1B, DEL 0x7F; U+0085 NEL is a C1 control; U+00A0 is not a control
    assert escaped("a\x00b\x1bc\x7fd\x85e\xa0") == "a\\x00b\\x1bc\\x7fd\\x85e\xa0"
    assert control_names("\x7f\x85\x00") == "U+007F (DEL), U+0085, U+0000 (NUL)"


@pytest.mark.parametrize("dtype", ["str", object])
@pytest.mark.parametrize(
    ("values", "records"),
    [
        (["ASPIRIN", "X\x85Y", "ÉPOXY"], [2]),  # C1: bytes C2 85, beside other non-ASCII text
        (["\x7f", "B"], [1]),
        (["ÉPOXY", "NAÏVE", "½ TABLET", None], []),  # 0xC2 (½) but no control: no finding
        (["A", "B", None], []),
    ],
)
def test_columns_are_found_whatever_their_storage(values, records, dtype):
    # Arrow text is first looked at as bytes; a column without a byte a control character
    # needs is passed over, any other is searched value by value as object storage is
    ds = Dataset.from_frame("CM", pd.DataFrame({"CMTRT": pd.Series(values, dtype=dtype)}))
    assert [f.record for f in value_control_character(Package({"CM": ds}))] == records


def test_a_slice_of_arrow_text_is_judged_by_its_own_values():
    # the Arrow buffer of a slice still holds the bytes of the values cut off
    column = pd.Series(["A\x01", "B", "C\x02"], dtype="str").iloc[1:].reset_index(drop=True)
    ds = Dataset.from_frame("CM", pd.DataFrame({"CMTRT": column}))
    assert [f.value for f in value_control_character(Package({"CM": ds}))] == ["C\\x02"]
