"""A folder of SAS7BDAT datasets reads as the same sheets as the XPORT files they came from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trialflow.raw import read_export

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("sheet", ["ae", "demog", "infusion", "lab", "vitals"])
def test_each_sas7bdat_dataset_reads_as_its_xpt(sheet):
    sas = read_export(DATA / "sas7bdat").sheet(sheet)
    xpt = read_export(DATA / "xpt").sheet(sheet)
    assert sas.columns == xpt.columns
    assert len(sas.frame) > 0
    pd.testing.assert_frame_equal(
        sas.frame.reset_index(drop=True), xpt.frame.reset_index(drop=True)
    )


def test_sas_dates_become_iso_text_and_rows_are_named_by_record():
    vitals = read_export(DATA / "sas7bdat").sheet("vitals")
    dates = vitals.frame["VIS_DATE"].dropna()
    assert len(dates) > 0
    assert dates.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert vitals.where("VIS_DATE", 2).endswith("vitals.sas7bdat, record 2, column VIS_DATE")
