"""The CONMED form of the synthetic export (docs/raw-export.md): its shape, the regimens as a
site records them, and that adding it left every other sheet of a seed exactly as it was."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from test_synth_disposition import _digest

from trialflow.synth import COLUMNS, synthesize

# sha256 (first 16 hex digits) of every data sheet as main made it before the CONMED form was
# added (commit 2845dbf), by test_synth_disposition._digest.
BEFORE = {
    (16, 2022): {
        "DEMOG": "0bd7317112a5a906",
        "VITALS": "7f7a5999d94dbdae",
        "LAB": "65b7872bf9d0df26",
        "INFUSION": "db2806d9f83de920",
        "AE": "8ec760dc26887783",
        "DISPOSITION": "d096c72d722c1239",
    },
    (40, 7): {
        "DEMOG": "4fbd916988fcb184",
        "VITALS": "1562c41afb3f2ae0",
        "LAB": "90c3bda727650664",
        "INFUSION": "09f69f6bd385b592",
        "AE": "1d372345617a3f77",
        "DISPOSITION": "0205f07093a66ab7",
    },
}

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
# Administrations a day of each frequency as the form types it (docs/raw-export.md).
PER_DAY = {
    "qd": 1,
    "once daily": 1,
    "od": 1,
    "bid": 2,
    "twice daily": 2,
    "bd": 2,
    "tid": 3,
    "three times daily": 3,
    "tds": 3,
    "with meals": 3,
    "qhs": 1,
    "at bedtime": 1,
    "nocte": 1,
}


def _date(value: object) -> dt.date | str:
    """A complete export date as a date; a partial one (UN-MAR-2016) as its text."""
    if isinstance(value, dt.date):
        return value
    text = str(value)
    if m := re.fullmatch(r"(\d{2})-([A-Z]{3})-(\d{4})", text):
        return dt.date(int(m[3]), _MONTHS[m[2]], int(m[1]))
    if m := re.fullmatch(r"(\d{4})/(\d{2})/(\d{2})", text):
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    assert re.fullmatch(r"UN-([A-Z]{3}|UNK)-\d{4}", text), text
    return text


@pytest.mark.parametrize(("subjects", "seed"), list(BEFORE))
def test_every_other_sheet_is_what_it_was(subjects, seed):
    sheets = synthesize(subjects, seed)
    assert list(sheets)[-1] == "CONMED"
    assert {k: _digest(v) for k, v in sheets.items() if k not in ("README", "CONMED")} == (
        BEFORE[(subjects, seed)]
    )


@pytest.mark.parametrize("subjects", [1, 2, 16, 300])
def test_the_form_has_its_columns_and_a_diabetes_therapy_for_every_subject(subjects):
    sheets = synthesize(subjects, 3)
    cm = sheets["CONMED"]
    assert tuple(cm.columns) == COLUMNS["CONMED"]
    diabetes = cm[cm["SECTION"] == "Diabetes medication"]
    assert set(diabetes["SUBJ"]) == set(sheets["DEMOG"]["SUBJ"])
    assert set(cm["SECTION"]) <= {"Diabetes medication", "Other medication"}
    assert (cm["DOSE"] > 0).all()
    # CM_NO numbers each subject's rows 1, 2, ...
    for _, rows in cm.groupby("SUBJ"):
        assert rows["CM_NO"].tolist() == [float(i) for i in range(1, len(rows) + 1)]
    # an ongoing row has no end date, a finished one has one
    ongoing = cm["ONGOING"].isin(["Y", "Yes", "1"])
    assert cm.loc[ongoing, "END_DT"].isna().all()
    assert cm.loc[~ongoing, "END_DT"].notna().all()


def test_regimens_change_at_visits_and_never_increase():
    sheets = synthesize(40, 7)
    cm, vitals = sheets["CONMED"], sheets["VITALS"]
    visit_dates = {(s, _date(d)) for s, d in zip(vitals["SUBJ"], vitals["VIS_DATE"], strict=True)}
    diabetes = cm[cm["SECTION"] == "Diabetes medication"].copy()
    diabetes["start"] = diabetes["START_DT"].map(_date)
    diabetes["end"] = diabetes["END_DT"].map(lambda v: None if v is None else _date(v))
    changes = 0
    for (subj, _), rows in diabetes.groupby(["SUBJ", "DRUG_NAME"]):
        rows = rows.sort_values("CM_NO")
        starts, ends = rows["start"].tolist(), rows["end"].tolist()
        totals = (rows["DOSE"] * rows["FREQ"].str.lower().map(PER_DAY)).tolist()
        assert not any(np.isnan(totals)), rows["FREQ"].tolist()
        for k in range(1, len(rows)):
            # a new regimen starts at a visit, the day after the old one's last day
            assert (subj, starts[k]) in visit_dates
            assert ends[k - 1] == starts[k] - dt.timedelta(days=1)
            # a new row is a lower daily dose (each agent's regimens have distinct totals)
            assert totals[k] < totals[k - 1]
            changes += 1
        # the baseline row started at least two months before the first visit
        first_visit = min(d for s, d in visit_dates if s == subj)
        if isinstance(starts[0], dt.date):
            assert starts[0] <= first_visit - dt.timedelta(days=60)
    assert changes > 40


def test_sites_type_names_units_and_frequencies_their_own_way():
    cm = synthesize()["CONMED"]
    names = set(cm["DRUG_NAME"])
    assert {"Metfromin", "Glucophage"} & names and len(names) >= 15
    assert {"IU", "units"} & set(cm["DOSE_UNIT"]) and "mg" in set(cm["DOSE_UNIT"])
    assert {"with meals", "at bedtime"} & set(cm["FREQ"])
    starts = cm["START_DT"].map(str)
    assert starts.str.match(r"UN-[A-Z]{3}-\d{4}").any()
    assert starts.str.match(r"UN-UNK-\d{4}").any()


def test_the_readme_lists_the_form():
    lines = " ".join(synthesize(2, 1)["README"].iloc[:, 0].tolist())
    assert "Sheets: DEMOG, VITALS, LAB, INFUSION, AE, DISPOSITION, CONMED (one per CRF form)" in (
        lines
    )
