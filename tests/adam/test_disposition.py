"""ADSL end of study (EOSSTT, DCSREAS, EOSDT) from the DS disposition event, as admiral's
ADSL template derives them; the example's values pinned to its DISPOSITION sheet."""

from __future__ import annotations

import datetime as dt
import re

import openpyxl
import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS, replace_once

from trialflow.adam.adsl import derive_vars_disposition
from trialflow.adam.build import build_adam
from trialflow.mapping.load import load_study
from trialflow.mapping.spec import DispositionSpec
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def day(value: object) -> dt.date:
    """An export date cell (date cell, 12-JAN-2019, 2019/01/12) as a date."""
    if isinstance(value, dt.datetime):
        return value.date()
    text = str(value)
    if m := re.fullmatch(r"(\d{2})-([A-Z]{3})-(\d{4})", text):
        return dt.date(int(m[3]), MONTHS.index(m[2]) + 1, int(m[1]))
    m = re.fullmatch(r"(\d{4})[/-](\d{2})[/-](\d{2})", text)
    assert m, value
    return dt.date(int(m[1]), int(m[2]), int(m[3]))


@pytest.fixture(scope="module")
def example_adsl() -> pd.DataFrame:
    study = load_study(EXAMPLE_SPECS)
    sdtm = build_sdtm(study, read_export(EXAMPLE_EXPORT), on_issue="none")
    return build_adam(study.spec, sdtm.domains, on_issue="none").datasets["ADSL"]


def test_example_end_of_study_for_every_subject(example_adsl):
    book = openpyxl.load_workbook(EXAMPLE_EXPORT, read_only=True)
    rows = list(book["DISPOSITION"].iter_rows(values_only=True))
    assert rows[0][:3] == ("SUBJ", "DS_DATE", "STATUS")
    # by hand: Completed -> COMPLETED; Withdrew / Lost to follow-up -> DISCONTINUED with the
    # NCOMPLT term as the reason; EOSDT the disposition date
    reason = {"Withdrew": "WITHDRAWAL BY SUBJECT", "Lost to follow-up": "LOST TO FOLLOW-UP"}
    want = {
        f"HUCMSC-T2DM-{r[0]}": (
            "COMPLETED" if r[2] == "Completed" else "DISCONTINUED",
            reason.get(r[2]),
            pd.Timestamp(day(r[1])),
        )
        for r in rows[1:]
    }
    adsl = example_adsl.set_index("USUBJID")
    got = {
        s: (
            adsl.loc[s, "EOSSTT"],
            None if pd.isna(adsl.loc[s, "DCSREAS"]) else adsl.loc[s, "DCSREAS"],
            adsl.loc[s, "EOSDT"],
        )
        for s in adsl.index
    }
    assert got == want
    assert sorted(v[0] for v in want.values()).count("DISCONTINUED") == 2
    # ADSL column order: the end-of-study variables follow the baseline values
    names = example_adsl.columns.tolist()
    assert names[names.index("HBA1CBL") + 1 :][:3] == ["EOSSTT", "EOSDT", "DCSREAS"]


def _ds(*records: tuple[str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=["USUBJID", "DSCAT", "DSDECOD", "DSSTDTC"])


def test_admirals_rules_screen_failure_ongoing_and_other_categories():
    adsl = pd.DataFrame({"USUBJID": ["1", "2", "3", "4"]})
    ds = _ds(
        ("1", "PROTOCOL MILESTONE", "INFORMED CONSENT OBTAINED", "2020-01-01"),
        ("1", "DISPOSITION EVENT", "ADVERSE EVENT", "2020-03-05"),
        ("2", "DISPOSITION EVENT", "SCREEN FAILURE", "2020-01-10"),
        ("3", "DISPOSITION EVENT", "COMPLETED", "2020-06-30"),
        ("4", "PROTOCOL MILESTONE", "INFORMED CONSENT OBTAINED", "2020-02-01"),
    )
    out, found = derive_vars_disposition(adsl, ds, DispositionSpec())
    assert out["EOSSTT"].tolist()[:1] == ["DISCONTINUED"]
    assert pd.isna(out["EOSSTT"].iloc[1])  # a screen failure never entered the study
    assert out["EOSSTT"].tolist()[2:] == ["COMPLETED", "ONGOING"]
    assert out["DCSREAS"].iloc[0] == "ADVERSE EVENT"
    assert out["DCSREAS"].iloc[1:].isna().all()
    assert out["EOSDT"].tolist()[0] == pd.Timestamp("2020-03-05")
    assert pd.isna(out["EOSDT"].iloc[1]) and pd.isna(out["EOSDT"].iloc[3])
    assert out["EOSDT"].iloc[2] == pd.Timestamp("2020-06-30")
    assert [(f.code, f.severity, f.usubjid) for f in found] == [
        ("adam-disposition-missing", "notice", "4")
    ]
    assert list(adsl.columns) == ["USUBJID"]  # the input is not changed


def test_two_events_of_a_subject_are_an_error_and_the_latest_is_used():
    adsl = pd.DataFrame({"USUBJID": ["1"]})
    ds = _ds(
        ("1", "DISPOSITION EVENT", "COMPLETED", "2020-06-30"),
        ("1", "DISPOSITION EVENT", "LOST TO FOLLOW-UP", "2020-08-01"),
    )
    out, found = derive_vars_disposition(adsl, ds, DispositionSpec())
    assert out[["EOSSTT", "DCSREAS"]].values.tolist() == [["DISCONTINUED", "LOST TO FOLLOW-UP"]]
    assert out["EOSDT"].tolist() == [pd.Timestamp("2020-08-01")]
    assert [(f.code, f.severity) for f in found] == [("adam-source-ambiguous", "error")]
    assert "more than one DS record with DSCAT = DISPOSITION EVENT" in found[0].message


def test_a_partial_date_gives_no_eosdt_and_a_warning():
    adsl = pd.DataFrame({"USUBJID": ["1"]})
    ds = _ds(("1", "DISPOSITION EVENT", "WITHDRAWAL BY SUBJECT", "2020-05"))
    out, found = derive_vars_disposition(adsl, ds, DispositionSpec())
    assert out["EOSSTT"].tolist() == ["DISCONTINUED"]
    assert pd.isna(out["EOSDT"].iloc[0])
    assert [(f.code, f.severity, f.value) for f in found] == [
        ("adam-disposition-date-partial", "warning", "2020-05")
    ]


def test_the_spec_names_the_completed_terms_and_the_selection():
    adsl = pd.DataFrame({"USUBJID": ["1", "2"]})
    ds = pd.DataFrame(
        {
            "USUBJID": ["1", "2"],
            "DSCAT": ["DISPOSITION EVENT"] * 2,
            "DSSCAT": ["STUDY PARTICIPATION", "STUDY TREATMENT"],
            "DSDECOD": ["COMPLETED", "ADVERSE EVENT"],
            "DSSTDTC": ["2020-06-30", "2020-03-01"],
        }
    )
    spec = DispositionSpec(where={"DSCAT": "DISPOSITION EVENT", "DSSCAT": "STUDY PARTICIPATION"})
    out, found = derive_vars_disposition(adsl, ds, spec)
    assert out["EOSSTT"].tolist() == ["COMPLETED", "ONGOING"]
    assert [f.usubjid for f in found] == ["2"]


def test_without_ds_in_the_package_the_variables_are_empty_and_an_error_says_why():
    adsl = pd.DataFrame({"USUBJID": ["1"]})
    out, found = derive_vars_disposition(adsl, None, DispositionSpec())
    assert out[["EOSSTT", "DCSREAS"]].isna().all().all() and out["EOSDT"].isna().all()
    assert [(f.code, f.severity) for f in found] == [("adam-source-missing", "error")]


def test_without_a_disposition_key_adsl_has_no_end_of_study_variables(study_copy):
    replace_once(
        study_copy / "study.yaml",
        "    disposition: {where: {DSCAT: DISPOSITION EVENT}, completed: [COMPLETED]}\n",
        "",
    )
    study = load_study(study_copy)
    sdtm = build_sdtm(study, read_export(EXAMPLE_EXPORT), on_issue="none")
    adsl = build_adam(study.spec, sdtm.domains, on_issue="none").datasets["ADSL"]
    assert not {"EOSSTT", "EOSDT", "DCSREAS"} & set(adsl.columns)


def test_an_unknown_key_in_disposition_is_a_spec_error_naming_its_line(study_copy):
    from trialflow.errors import SpecError

    replace_once(
        study_copy / "study.yaml",
        "completed: [COMPLETED]}",
        "completed: [COMPLETED], reason: DCSREAS}",
    )
    with pytest.raises(SpecError) as err:
        load_study(study_copy)
    assert "study.yaml" in str(err.value) and "reason" in str(err.value)
