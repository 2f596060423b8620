"""Rules of trialflow.validation.rules.dm: the clean example passes, each seeded defect is found
exactly (rule, dataset, variable, record, subject), edge cases stay quiet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.validation.core import RULES, Dataset, Package

DM_RULES = [
    code
    for code, r in RULES.items()
    if r.run is not None and r.run.__module__.rsplit(".", 1)[-1] == "dm"
]


def package(frames: dict[str, pd.DataFrame]) -> Package:
    return Package({n: Dataset.from_frame(n, f) for n, f in frames.items()})


def found(frames: dict[str, pd.DataFrame], codes: list[str] = DM_RULES) -> list[tuple]:
    """(code, dataset, variable, record, usubjid) of every finding of ``codes``."""
    pkg = package(frames)
    out = [f for code in codes for f in RULES[code].run(pkg)]
    return sorted(((f.code, f.dataset, f.variable, f.record, f.usubjid) for f in out), key=str)


def messages(frames: dict[str, pd.DataFrame], code: str) -> list[str]:
    return [f.message for f in RULES[code].run(package(frames))]


def test_the_new_rules_are_registered_with_their_ids():
    assert RULES["subjid-not-unique"].refs == ("CORE-000186", "CG0150")
    assert RULES["age-missing"].severity == "warning"
    assert RULES["rfendtc-after-rfpendtc"].severity == "warning"
    assert RULES["brthdtc-after-rfstdtc"].refs == ()
    assert {RULES[c].scope for c in DM_RULES} == {"cross"}


def test_clean_example_has_no_findings(sdtm):
    assert found(sdtm) == []


def test_subjid_shared_by_two_subjects(sdtm):
    dm = sdtm["DM"]
    dm.loc[3, "SUBJID"] = dm.at[1, "SUBJID"]
    assert found(sdtm) == [
        ("subjid-not-unique", "DM", "SUBJID", 2, dm.at[1, "USUBJID"]),
        ("subjid-not-unique", "DM", "SUBJID", 4, dm.at[3, "USUBJID"]),
    ]
    assert "is used by 2 subjects" in messages(sdtm, "subjid-not-unique")[0]


def test_subjid_of_a_duplicated_dm_record_is_left_to_dm_duplicate_subject(sdtm):
    sdtm["DM"] = pd.concat([sdtm["DM"], sdtm["DM"].iloc[[0]]], ignore_index=True)
    assert found(sdtm, ["subjid-not-unique"]) == []


def test_subjid_may_repeat_across_studies(sdtm):
    dm = sdtm["DM"]
    dm.loc[3, "SUBJID"] = dm.at[1, "SUBJID"]
    dm.loc[3, "STUDYID"] = "OTHER"
    assert found(sdtm, ["subjid-not-unique"]) == []


def test_studyid_not_in_dm(sdtm):
    ae = sdtm["AE"]
    ae.loc[1, "STUDYID"] = "HUCMSC-T2DM2"
    ae.loc[2, "STUDYID"] = np.nan  # a missing STUDYID is the schema's Required check
    # one rule for CORE-000172: structure.py's studyid-mismatch
    assert found(sdtm, ["studyid-mismatch"]) == [
        ("studyid-mismatch", "AE", "STUDYID", 2, ae.at[1, "USUBJID"])
    ]
    assert messages(sdtm, "studyid-mismatch") == [
        "STUDYID is 'HUCMSC-T2DM2' but the study is 'HUCMSC-T2DM' (DM); every record carries "
        "the study's identifier."
    ]


def test_age_and_ageu_go_together(sdtm):
    dm = sdtm["DM"]
    dm.loc[0, "AGEU"] = np.nan
    dm.loc[1, "AGE"] = np.nan
    assert found(sdtm) == [
        ("age-missing", "DM", "AGE", 2, dm.at[1, "USUBJID"]),
        ("age-without-ageu", "DM", "AGEU", 1, dm.at[0, "USUBJID"]),
        ("ageu-without-age", "DM", "AGE", 2, dm.at[1, "USUBJID"]),
    ]


def test_age_negative(sdtm):
    dm = sdtm["DM"]
    dm.loc[2, "AGE"] = -3
    assert found(sdtm) == [("age-negative", "DM", "AGE", 3, dm.at[2, "USUBJID"])]
    assert messages(sdtm, "age-negative")[0].startswith("AGE is -3, a negative age")


def test_age_may_be_missing_for_screen_failures(sdtm):
    dm = sdtm["DM"]
    dm.loc[5, ["AGE", "AGEU", "ARMCD", "ARM", "ACTARMCD", "ACTARM"]] = np.nan
    dm.loc[5, "ARMNRS"] = "SCREEN FAILURE"
    assert found(sdtm, ["age-missing", "age-without-ageu", "ageu-without-age"]) == []


def test_age_rules_stay_quiet_without_age(sdtm):
    sdtm["DM"] = sdtm["DM"].drop(columns=["AGE"])
    assert found(sdtm, ["age-missing", "age-negative", "age-without-ageu"]) == []
    assert found(sdtm, ["ageu-without-age"])[0][0] == "ageu-without-age"


def test_dthfl_is_y_or_null(sdtm):
    dm = sdtm["DM"]
    dm.loc[0, "DTHFL"] = "N"
    dm.loc[1, "DTHFL"] = "Y"
    dm.loc[1, "DTHDTC"] = "2019-09"
    assert found(sdtm) == [("dthfl-not-y", "DM", "DTHFL", 1, dm.at[0, "USUBJID"])]


def test_dthdtc_without_dthfl(sdtm):
    dm = sdtm["DM"]
    dm.loc[4, "DTHDTC"] = "2019-12-01"
    assert found(sdtm) == [("dthdtc-without-dthfl", "DM", "DTHFL", 5, dm.at[4, "USUBJID"])]
    assert messages(sdtm, "dthdtc-without-dthfl") == [
        "DTHDTC is '2019-12-01' but DTHFL is missing; set DTHFL = 'Y'."
    ]


def test_consent_after_reference_start_and_first_dose(sdtm):
    dm = sdtm["DM"]
    dm.loc[0, "RFICDTC"] = "2019-05-13"  # RFSTDTC = RFXSTDTC = 2019-05-12T09:50
    dm.loc[1, "RFICDTC"] = "2019-05"  # same month as RFSTDTC 2019-05-20: not decidable
    dm.loc[2, "RFICDTC"] = "2019-06-09T09:30"  # ten minutes before RFSTDTC 2019-06-09T09:40
    assert found(sdtm) == [
        ("rficdtc-after-rfstdtc", "DM", "RFICDTC", 1, dm.at[0, "USUBJID"]),
        ("rficdtc-after-rfxstdtc", "DM", "RFICDTC", 1, dm.at[0, "USUBJID"]),
    ]
    assert messages(sdtm, "rficdtc-after-rfstdtc") == [
        "RFICDTC '2019-05-13' is after RFSTDTC '2019-05-12T09:50'; informed consent must be on "
        "or before the reference start."
    ]


def test_birth_after_reference_start(sdtm):
    dm = sdtm["DM"]
    dm.loc[6, "BRTHDTC"] = "2020"
    assert found(sdtm) == [("brthdtc-after-rfstdtc", "DM", "BRTHDTC", 7, dm.at[6, "USUBJID"])]


def test_reference_end_after_end_of_participation(sdtm):
    dm = sdtm["DM"]
    assert dm.at[8, "RFENDTC"].startswith("2019-07-30")
    dm.loc[8, "RFPENDTC"] = "2019-07-29"
    dm.loc[9, "RFPENDTC"] = dm.at[9, "RFENDTC"][:10]  # same day: fine
    assert found(sdtm) == [("rfendtc-after-rfpendtc", "DM", "RFENDTC", 9, dm.at[8, "USUBJID"])]


def test_rfstdtc_missing_for_an_assigned_subject(sdtm):
    dm = sdtm["DM"]
    dm.loc[3, "RFSTDTC"] = np.nan
    dm.loc[4, ["RFSTDTC"]] = np.nan
    dm.loc[4, "ARMNRS"] = "ASSIGNED, NOT TREATED"
    dm.loc[5, "RFSTDTC"] = np.nan
    dm.loc[5, ["ARMCD", "ACTARMCD"]] = "SCRNFAIL"
    assert found(sdtm, ["rfstdtc-missing"]) == [
        ("rfstdtc-missing", "DM", "RFSTDTC", 4, dm.at[3, "USUBJID"])
    ]


def test_arm_and_actarm_without_their_codes(sdtm):
    dm = sdtm["DM"]
    dm.loc[2, "ARMCD"] = np.nan
    dm.loc[2, "ARMNRS"] = "NOT ASSIGNED"
    dm.loc[3, "ACTARMCD"] = np.nan
    dm.loc[3, "ARMNRS"] = "NOT TREATED"
    assert found(sdtm) == [
        ("actarm-without-actarmcd", "DM", "ACTARM", 4, dm.at[3, "USUBJID"]),
        ("arm-without-armcd", "DM", "ARM", 3, dm.at[2, "USUBJID"]),
    ]


def test_arm_codes_longer_than_20_characters(sdtm):
    dm = sdtm["DM"]
    dm["ARMCD"] = "A" * 21
    dm["ACTARMCD"] = "A" * 20
    got = found(sdtm, ["armcd-too-long"])
    assert len(got) == len(dm)
    assert got[0] == ("armcd-too-long", "DM", "ARMCD", 1, dm.at[0, "USUBJID"])
    assert {g[2] for g in got} == {"ARMCD"}
    assert messages(sdtm, "armcd-too-long")[0] == (
        f"ARMCD '{'A' * 21}' has 21 characters; ARMCD is limited to 20."
    )
