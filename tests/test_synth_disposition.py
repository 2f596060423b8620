"""The DISPOSITION form of the synthetic export (docs/raw-export.md), and that adding it left
every other sheet of a seed exactly as it was."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from trialflow.synth import synthesize

# sha256 (first 16 hex digits) of each data sheet as trialflow.synth made it before the
# DISPOSITION form was added (commit c5484be on main), by _digest below. The README sheet lists
# the sheets, so it names DISPOSITION now (test_the_readme_lists_the_disposition_form).
BEFORE = {
    (16, 2022): {
        "DEMOG": "0bd7317112a5a906",
        "VITALS": "7f7a5999d94dbdae",
        "LAB": "65b7872bf9d0df26",
        "INFUSION": "db2806d9f83de920",
        "AE": "8ec760dc26887783",
    },
    (40, 7): {
        "DEMOG": "4fbd916988fcb184",
        "VITALS": "1562c41afb3f2ae0",
        "LAB": "90c3bda727650664",
        "INFUSION": "09f69f6bd385b592",
        "AE": "1d372345617a3f77",
    },
}

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}


def _digest(frame: pd.DataFrame) -> str:
    """Columns, dtypes and every cell with its Python type, hashed."""
    h = hashlib.sha256()
    h.update(repr(list(frame.columns)).encode())
    h.update(repr([str(t) for t in frame.dtypes]).encode())
    for row in frame.itertuples(index=False):
        h.update(repr([(type(v).__name__, v) for v in row]).encode())
    return h.hexdigest()[:16]


def _date(value: object) -> dt.date:
    """A complete export date (12-JAN-2019, 2019/01/12 or a date cell), read independently."""
    if isinstance(value, dt.date):
        return value
    text = str(value)
    if m := re.fullmatch(r"(\d{2})-([A-Z]{3})-(\d{4})", text):
        return dt.date(int(m[3]), _MONTHS[m[2]], int(m[1]))
    if m := re.fullmatch(r"(\d{4})/(\d{2})/(\d{2})", text):
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    raise AssertionError(f"not a complete date: {value!r}")


@pytest.mark.parametrize(("subjects", "seed"), list(BEFORE))
def test_the_other_sheets_are_what_they_were(subjects, seed):
    sheets = synthesize(subjects, seed)
    assert list(sheets) == ["README", *BEFORE[(subjects, seed)], "DISPOSITION", "CONMED"]
    drawn_later = ("README", "DISPOSITION", "CONMED")
    assert {k: _digest(v) for k, v in sheets.items() if k not in drawn_later} == (
        BEFORE[(subjects, seed)]
    )


def test_the_readme_lists_the_disposition_form():
    lines = synthesize(2, 1)["README"].iloc[:, 0].tolist()
    assert "Sheets: DEMOG, VITALS, LAB, INFUSION, AE, DISPOSITION, CONMED (one per CRF form); " in (
        " ".join(lines)
    )


@pytest.mark.parametrize(("subjects", "seed"), [(16, 2022), (40, 7), (200, 3)])
def test_one_disposition_per_subject_dated_by_the_visits(subjects, seed):
    sheets = synthesize(subjects, seed)
    ds, vitals = sheets["DISPOSITION"], sheets["VITALS"]
    assert ds["SUBJ"].tolist() == sheets["DEMOG"]["SUBJ"].tolist()
    # about one in eight do not complete (rounded half up), the first half of them withdraw
    not_completed = int(np.floor(subjects / 8 + 0.5))
    counts = ds["STATUS"].value_counts().to_dict()
    assert counts == {
        "Completed": subjects - not_completed,
        "Withdrew": (not_completed + 1) // 2,
        "Lost to follow-up": not_completed // 2,
    }
    # REASON is free text exactly where the subject did not complete
    assert (ds["REASON"].notna() == (ds["STATUS"] != "Completed")).all()
    # the dates, against the VITALS visit dates (one VITALS row per attended visit)
    visit_days = {
        s: sorted(_date(v) for v in group)
        for s, group in vitals.groupby("SUBJ", sort=False)["VIS_DATE"]
    }
    for subj, date, status in zip(ds["SUBJ"], ds["DS_DATE"], ds["STATUS"], strict=True):
        days = visit_days[subj]
        if status == "Completed":
            assert _date(date) == days[-1], subj
        else:
            # after the last visit: no record of the subject follows the end of participation
            assert 3 <= (_date(date) - days[-1]).days <= 10, subj


def test_the_default_example_has_one_withdrawal_and_one_lost(tmp_path):
    ds = synthesize()["DISPOSITION"]
    assert ds.loc[ds["STATUS"] != "Completed", ["SUBJ", "STATUS", "REASON"]].values.tolist() == [
        ["02-001", "Lost to follow-up", "Could not be contacted after the last visit"],
        ["02-008", "Withdrew", "Unwilling to attend further visits"],
    ]


def test_a_single_subject_completes():
    ds = synthesize(1, 4)["DISPOSITION"]
    assert ds["STATUS"].tolist() == ["Completed"]
