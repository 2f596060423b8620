"""Tests of the deterministic .xlsx writer."""

from __future__ import annotations

import datetime as dt
import math
import time
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest

from trialflow.io.workbook import FIXED_TIMESTAMP, write_workbook
from trialflow.synth import synthesize


@pytest.fixture(scope="module")
def sheets() -> dict[str, pd.DataFrame]:
    return synthesize()


@pytest.fixture(scope="module")
def written(sheets, tmp_path_factory) -> openpyxl.Workbook:
    path = write_workbook(sheets, tmp_path_factory.mktemp("wb") / "raw-export.xlsx")
    return openpyxl.load_workbook(path)


def _expected(value: object) -> object:
    """What a frame value reads back as: dates as midnight datetimes, blanks as None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    return value


def test_returns_path_and_writes_sheets_in_order(sheets, tmp_path):
    out = write_workbook(sheets, str(tmp_path / "x.xlsx"))
    assert out == tmp_path / "x.xlsx" and out.is_file()
    assert openpyxl.load_workbook(out).sheetnames == list(sheets)


def test_every_cell_reads_back_with_its_value_and_type(sheets, written):
    for name, frame in sheets.items():
        ws = written[name]
        rows = list(ws.iter_rows())
        assert [c.value for c in rows[0]] == list(frame.columns), name
        assert len(rows) == len(frame) + 1, name
        for record, cells in zip(frame.to_numpy(dtype=object), rows[1:], strict=True):
            for value, cell in zip(record, cells, strict=True):
                got = cell.value
                assert got == _expected(value), (name, value, got)
                if isinstance(value, dt.date):
                    assert cell.is_date and cell.data_type == "d"
                    assert "yy" in cell.number_format
                elif isinstance(value, str):
                    assert cell.data_type == "s" and isinstance(got, str)
                elif isinstance(value, float) and not math.isnan(value):
                    assert cell.data_type == "n" and not cell.is_date


def test_mixed_columns_keep_their_mix(written):
    lab = written["LAB"]
    header = [c.value for c in lab[1]]
    result, lab_date = header.index("RESULT") + 1, header.index("LAB_DATE") + 1
    results = [lab.cell(row=r, column=result).value for r in range(2, lab.max_row + 1)]
    dates = [lab.cell(row=r, column=lab_date) for r in range(2, lab.max_row + 1)]
    assert {"<0.5", "<2.0"} <= {v for v in results if isinstance(v, str)}
    assert sum(isinstance(v, (int, float)) for v in results) > 500
    assert any(c.is_date for c in dates) and any(isinstance(c.value, str) for c in dates)
    fasting = header.index("FASTING") + 1
    flags = {lab.cell(row=r, column=fasting).value for r in range(2, lab.max_row + 1)}
    assert flags == {"Y", "N", "Yes", "No", "1", "0"}  # "1"/"0" stay text


def test_readme_sheet_present(written):
    lines = [row[0] for row in written["README"].iter_rows(values_only=True)]
    assert lines[0] == "trialflow synthetic raw CRF export"
    assert any(str(line).startswith("ALL RECORDS ARE SYNTHETIC") for line in lines)


def test_value_conversions(tmp_path):
    frame = pd.DataFrame(
        {
            "text": ["=1+1", "#N/A", None, "plain"],
            "number": [1.5, np.nan, 2.0, -3.25],
            "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
            "mixed": [dt.date(2020, 1, 1), pd.Timestamp("2020-01-02 10:30"), pd.NaT, "x"],
            "ints": np.array([1, 2, 3, 4], dtype=np.int64),
        }
    )
    path = write_workbook({"T": frame, "Empty": frame.iloc[:0]}, tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(path)
    rows = list(wb["T"].iter_rows(min_row=2))
    text = [r[0] for r in rows]
    assert [c.value for c in text] == ["=1+1", "#N/A", None, "plain"]
    assert text[0].data_type == "s" and text[1].data_type == "s"  # never formula or error
    assert [r[1].value for r in rows] == [1.5, None, 2, -3.25]
    assert [r[2].value for r in rows] == [1, None, 3, 4]
    mixed = [r[3] for r in rows]
    assert mixed[0].is_date and mixed[0].value == dt.datetime(2020, 1, 1)
    assert mixed[1].is_date and mixed[1].value == dt.datetime(2020, 1, 2, 10, 30)
    assert mixed[2].value is None and mixed[3].value == "x"
    assert [r[4].value for r in rows] == [1, 2, 3, 4]
    assert [c.value for c in next(wb["Empty"].iter_rows())] == list(frame.columns)
    assert wb["Empty"].max_row == 1


def test_same_frames_give_identical_bytes(sheets, tmp_path, monkeypatch):
    first = write_workbook(sheets, tmp_path / "a.xlsx").read_bytes()
    # A later clock must not leak into the file (zip entry times come from time.time()).
    monkeypatch.setattr(time, "time", lambda: 1_900_000_000.0)
    second = write_workbook(synthesize(), tmp_path / "b.xlsx").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "a.xlsx") as archive:
        assert {i.date_time for i in archive.infolist()} == {FIXED_TIMESTAMP.timetuple()[:6]}
        core = archive.read("docProps/core.xml").decode()
    assert core.count("2000-01-01T00:00:00Z") == 2
    props = openpyxl.load_workbook(tmp_path / "a.xlsx").properties
    assert props.created == props.modified == FIXED_TIMESTAMP


def test_different_frames_give_different_bytes(sheets, tmp_path):
    a = write_workbook(sheets, tmp_path / "a.xlsx").read_bytes()
    b = write_workbook(synthesize(seed=1), tmp_path / "b.xlsx").read_bytes()
    assert a != b


def test_calamine_reads_the_same_sheets(sheets, tmp_path):
    path = write_workbook(sheets, tmp_path / "c.xlsx")
    back = pd.read_excel(path, sheet_name=None, engine="calamine")
    assert list(back) == list(sheets)
    for name, frame in sheets.items():
        assert back[name].shape == frame.shape, name
    assert back["VITALS"]["WEIGHT_KG"].tolist() == sheets["VITALS"]["WEIGHT_KG"].tolist()


def test_no_sheets_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="at least one sheet"):
        write_workbook({}, tmp_path / "none.xlsx")
