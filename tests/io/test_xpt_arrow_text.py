"""XPT text columns read from Arrow's buffers give what the per-value way gives (issue 15)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialflow.io.xpt import _ascii_arrow_text, _char_values, _Check

CASES = {
    "plain": ["HUCMSC-T2DM-01-0001", "GLUC", None, "", "mmol/L", "x" * 200],
    "too long": ["short", "y" * 201, None],
    "not ascii": ["NAUSÉE", "ok", None],
    "all missing": [None, None],
    "none": [],
}


def _slow(values: list, declared: int | None):
    """The per-value way, which an object column takes: the reference."""
    check = _Check("LB")
    got = _char_values(check, pd.Series(values, dtype=object), "LBTEST", declared)
    return got, [(f.code, f.record, f.value) for f in check.findings]


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("declared", [None, 8, 300])
def test_arrow_text_gives_the_bytes_lengths_and_findings_of_the_per_value_way(name, declared):
    values = CASES[name]
    column = pd.Series(values, dtype="str")
    pieces = pd.concat([column.iloc[:1], column.iloc[1:]], ignore_index=True)  # two chunks
    expected, expected_findings = _slow(values, declared)
    for series in (column, pieces):
        check = _Check("LB")
        got = _char_values(check, series, "LBTEST", declared)
        assert [(f.code, f.record, f.value) for f in check.findings] == expected_findings
        assert bytes(got[0]) == bytes(expected[0])
        assert got[1].tolist() == expected[1].tolist() and got[1].dtype == np.int64


def test_only_ascii_arrow_text_takes_the_buffers():
    data, lengths = _ascii_arrow_text(pd.Series(["AB", None, "C"], dtype="str").iloc[1:])
    assert (bytes(data), lengths.tolist()) == (b"C", [0, 1])
    assert _ascii_arrow_text(pd.Series(["É"], dtype="str")) is None
    assert _ascii_arrow_text(pd.Series(["A"], dtype=object)) is None
    assert _ascii_arrow_text(pd.Series(["A"], dtype=pd.StringDtype("python"))) is None
