"""Lineage CSVs are the bytes pandas' CSV writer gives, whichever writer wrote them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialflow.io.reports import _safe, write_lineage_csv


def _pandas_bytes(frame: pd.DataFrame) -> bytes:
    return _safe(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


@pytest.mark.parametrize(
    "text",
    ["plain", "a, with comma", 'a "quoted" word', "two\nlines", "carriage\rreturn", " padded ",
     "", "=1+1", "+SUM(A1)", "é 中 µ", None],
)  # fmt: skip
def test_text_of_every_kind_is_written_as_pandas_writes_it(tmp_path, text):
    frame = pd.DataFrame(
        {
            "dataset": pd.Series(["ADLB", "ADLB"], dtype="str"),
            "record": [1, 2],
            "sdtm_record": pd.array([25, None], dtype="Int64"),
            "computed_from": pd.Series([text, "FPG: LBSEQ 3; FCP: LBSEQ 7"], dtype="str"),
        }
    )
    path = write_lineage_csv(frame, tmp_path / "adlb.csv")
    assert path.read_bytes() == _pandas_bytes(frame)


def test_numbers_are_written_as_pandas_writes_them(tmp_path):
    frame = pd.DataFrame(
        {
            "seq": [1.0, np.nan, -3.0, 0.0],
            "ratio": [0.1, 2.5, np.nan, 1e-7],  # not whole: pandas' own text
            "big": [1e16, 2.0, 3.0, 4.0],
            "count": np.array([1, 2, 3, 4], dtype="int64"),
        }
    )
    path = write_lineage_csv(frame, tmp_path / "x.csv")
    assert path.read_bytes() == _pandas_bytes(frame)
    whole = frame[["seq", "count"]]
    path = write_lineage_csv(whole, tmp_path / "y.csv")
    assert path.read_bytes() == _pandas_bytes(whole)
    assert path.read_text().splitlines()[1:3] == ["1.0,1", ",2"]


def test_formula_like_text_is_neutralised(tmp_path):
    frame = pd.DataFrame({"v": pd.Series(["=cmd()", "ok"], dtype="str")})
    lines = write_lineage_csv(frame, tmp_path / "z.csv").read_text().splitlines()
    assert lines == ["v", "'=cmd()", "ok"]


def test_text_that_pandas_quotes_is_written_by_arrow_with_pandas_bytes():
    # lineage of SDTM names derivations such as "derived: order of STUDYID, USUBJID, ...":
    # commas in every row of a 380,000-row table, which went to pandas' writer (30 s at
    # 10,000 subjects); Arrow now quotes them as pandas does
    from trialflow.io.reports import _csv_by_arrow

    texts = ["derived: order of STUDYID, USUBJID", 'say "hi"', "two\nlines", "cr\rlf", "",
             None, "plain", '"', ",", "\n", 'a,"b"\nc', "é, 中"]  # fmt: skip
    frame = pd.DataFrame(
        {
            "dataset": pd.Series(["LB"] * len(texts), dtype="str"),
            "record": np.arange(1, len(texts) + 1),
            "seq": np.arange(1, len(texts) + 1, dtype="float64"),
            "source": pd.Series(texts, dtype="str"),
            "empty": pd.Series([None] * len(texts), dtype="str"),
        }
    )
    expected = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    assert _csv_by_arrow(frame) == expected
    # a table made of pieces (several Arrow chunks) and a slice of one (offsets not at 0)
    pieces = pd.concat([frame, frame.iloc[::-1], frame], ignore_index=True)
    assert _csv_by_arrow(pieces) == pieces.to_csv(index=False, lineterminator="\n").encode()
    part = pieces.iloc[5:30]
    assert _csv_by_arrow(part) == part.to_csv(index=False, lineterminator="\n").encode()
    assert _csv_by_arrow(frame.iloc[:0]) == b"dataset,record,seq,source,empty\n"


ORIGINS = ["derived: order of STUDYID, USUBJID", 'a "b"', None, "x", "=1+1"]


def test_a_table_written_in_batches_of_rows_is_the_same_bytes(tmp_path, monkeypatch):
    import trialflow.io.reports as reports

    frame = pd.DataFrame(
        {
            "dataset": pd.Series(["LB"] * 25, dtype="str"),
            "record": np.arange(1, 26),
            "seq": np.arange(1, 26, dtype="float64"),
            "origin": pd.Series(ORIGINS * 5, dtype="str"),
        }
    )
    whole = write_lineage_csv(frame, tmp_path / "whole.csv").read_bytes()
    monkeypatch.setattr(reports, "_CSV_ROWS", 4)  # 7 batches, the last of one row
    batched = write_lineage_csv(frame, tmp_path / "batched.csv").read_bytes()
    assert batched == whole == _pandas_bytes(frame)
