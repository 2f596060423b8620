"""DS from the example's DISPOSITION form, DM.RFPENDTC from it, and the end of SE's last
element; every value pinned to the sheet as openpyxl reads it."""

from __future__ import annotations

import datetime as dt
import re

import openpyxl
import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.mapping.load import load_study
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
# NCI CT NCOMPLT (C66727) terms of the collected statuses; Withdrew per study.yaml
DECODE = {
    "Completed": "COMPLETED",
    "Withdrew": "WITHDRAWAL BY SUBJECT",
    "Lost to follow-up": "LOST TO FOLLOW-UP",
}


def iso(value: object) -> str:
    """An export date cell (date cell, 12-JAN-2019, 2019/01/12, 2019-01-12) as ISO 8601."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    text = str(value)
    if m := re.fullmatch(r"(\d{2})-([A-Z]{3})-(\d{4})", text):
        return dt.date(int(m[3]), MONTHS.index(m[2]) + 1, int(m[1])).isoformat()
    if m := re.fullmatch(r"(\d{4})[/-](\d{2})[/-](\d{2})", text):
        return f"{m[1]}-{m[2]}-{m[3]}"
    raise AssertionError(f"not a complete date: {value!r}")


def sheet(name: str) -> list[dict[str, object]]:
    book = openpyxl.load_workbook(EXAMPLE_EXPORT, read_only=True)
    rows = list(book[name].iter_rows(values_only=True))
    # a row read in read-only mode ends at its last filled cell: pad it to the header
    return [dict(zip(rows[0], (*row, *[None] * len(rows[0])), strict=False)) for row in rows[1:]]


@pytest.fixture(scope="module")
def example():
    return build_sdtm(load_study(EXAMPLE_SPECS), read_export(EXAMPLE_EXPORT), on_issue="none")


@pytest.fixture(scope="module")
def disposition() -> pd.DataFrame:
    """The DISPOSITION sheet with each subject's first and last infusion date."""
    infusions: dict[str, list[str]] = {}
    for row in sheet("INFUSION"):
        infusions.setdefault(str(row["SUBJ"]), []).append(iso(row["INF_DATE"]))
    rows = []
    for row in sheet("DISPOSITION"):
        subj = str(row["SUBJ"])
        rows.append(
            {
                "USUBJID": f"HUCMSC-T2DM-{subj}",
                "DSTERM": row["REASON"] if row["REASON"] else row["STATUS"],
                "DSDECOD": DECODE[str(row["STATUS"])],
                "DSSTDTC": iso(row["DS_DATE"]),
                "FIRST": min(infusions[subj]),
                "LAST": max(infusions[subj]),
            }
        )
    return pd.DataFrame(rows)


def test_one_ds_record_per_subject_from_the_sheet(example, disposition):
    ds = example.domains["DS"]
    assert len(ds) == len(disposition) == 16
    got = ds.set_index("USUBJID")
    want = disposition.set_index("USUBJID")
    assert sorted(got.index) == sorted(want.index)
    for column in ("DSTERM", "DSDECOD", "DSSTDTC"):
        assert got[column].to_dict() == want[column].to_dict(), column
    assert set(ds["DSCAT"]) == {"DISPOSITION EVENT"}
    assert set(ds["DOMAIN"]) == {"DS"} and set(ds["STUDYID"]) == {"HUCMSC-T2DM"}
    assert ds["DSSEQ"].tolist() == [1] * 16
    # two subjects of the example do not complete
    assert sorted(got.loc[got["DSDECOD"] != "COMPLETED", "DSDECOD"].items()) == [
        ("HUCMSC-T2DM-02-001", "LOST TO FOLLOW-UP"),
        ("HUCMSC-T2DM-02-008", "WITHDRAWAL BY SUBJECT"),
    ]


def test_ds_study_day_and_epoch(example, disposition):
    ds = example.domains["DS"].set_index("USUBJID")
    want = disposition.set_index("USUBJID")
    # SDTMIG study day: date - RFSTDTC (first infusion) + 1 on or after it; no day 0
    days = (pd.to_datetime(want["DSSTDTC"]) - pd.to_datetime(want["FIRST"])).dt.days + 1
    assert (days > 1).all()
    assert ds["DSSTDY"].astype(int).to_dict() == days.to_dict()
    # every disposition date falls after the last infusion: the FOLLOW-UP epoch
    assert (want["DSSTDTC"] > want["LAST"]).all()
    assert set(ds["EPOCH"]) == {"FOLLOW-UP"}


def test_rfpendtc_is_the_disposition_date(example, disposition):
    dm = example.domains["DM"].set_index("USUBJID")
    want = disposition.set_index("USUBJID")["DSSTDTC"]
    assert dm["RFPENDTC"].to_dict() == want.to_dict()


def test_the_follow_up_element_ends_at_the_end_of_participation(example, disposition):
    se = example.domains["SE"]
    last = se[se["ETCD"] == "FU"].set_index("USUBJID")
    assert last["SEENDTC"].to_dict() == disposition.set_index("USUBJID")["DSSTDTC"].to_dict()


def test_ds_lineage_names_the_raw_cells(example, disposition):
    lineage = example.lineage["DS"].set_index("usubjid")
    assert set(lineage["source_sheet"]) == {"DISPOSITION"}
    assert set(lineage["DSSTDTC"]) == {"DS_DATE"} and set(lineage["DSDECOD"]) == {"STATUS"}
    # DSTERM comes from REASON where the subject did not complete, else from STATUS
    term = lineage["DSTERM"].to_dict()
    not_completed = disposition.loc[disposition["DSDECOD"] != "COMPLETED", "USUBJID"]
    assert {k for k, v in term.items() if v == "REASON"} == set(not_completed)
    # the sheet's rows 2..17 in subject order
    assert lineage["source_row"].tolist() == list(range(2, 18))
