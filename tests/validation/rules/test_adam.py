"""Rules for any ADaM dataset (trialflow.validation.rules.adam): flags, numeric codes, dates,
relative days and subjects. Clean data pass; each seeded defect is found exactly.

SAS dates are days since 1960-01-01: 21681 is 2019-05-12 (and 21681 * 86400 + 35400 seconds
is 2019-05-12T09:50 as a SAS datetime)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialflow.validation.core import RULES, Dataset, Package
from trialflow.validation.rules import adam as module

MINE = [c for c, r in RULES.items() if r.run is not None and r.run.__module__ == module.__name__]

TRTSDT = 21681.0  # 2019-05-12


@pytest.fixture
def adsl() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": ["T-001", "T-002"],
            "AGE": [54.0, 61.0],
            "SEX": ["M", "F"],
            "TRT01P": ["Drug A", "Placebo"],
            "SAFFL": ["Y", "N"],
            "SAFFN": [1.0, 0.0],
            "TRTSDT": [TRTSDT, TRTSDT + 8],
            "TRTSDTM": [TRTSDT * 86400 + 35400, (TRTSDT + 8) * 86400],
            "TRTEDT": [TRTSDT + 13, TRTSDT + 21],
        }
    )


@pytest.fixture
def adlb() -> pd.DataFrame:
    """T-001: days -7 (before TRTSDT), 1 and 9; T-002: day 1 (ADT = its TRTSDT)."""
    adt = [TRTSDT - 7, TRTSDT, TRTSDT + 8, TRTSDT + 8]
    return pd.DataFrame(
        {
            "USUBJID": ["T-001", "T-001", "T-001", "T-002"],
            "TRT01P": ["Drug A", "Drug A", "Drug A", "Placebo"],
            "SAFFL": ["Y", "Y", "Y", "N"],
            "TRTSDT": [TRTSDT, TRTSDT, TRTSDT, TRTSDT + 8],
            "PARAMCD": ["GLUC"] * 4,
            "AVAL": [7.1, 7.3, 6.2, 9.4],
            "ADT": adt,
            "ADTM": [d * 86400 + 3600 for d in adt],
            "ADTF": [None, "D", None, None],
            "ADY": [-7.0, 1.0, 9.0, 1.0],
        }
    )


@pytest.fixture
def dm() -> pd.DataFrame:
    return pd.DataFrame({"USUBJID": ["T-001", "T-002"]})


def package(adsl=None, adlb=None, dm=None) -> Package:
    datasets = {}
    for name, frame, kind in (("ADSL", adsl, "adam"), ("ADLB", adlb, "adam"), ("DM", dm, "sdtm")):
        if frame is not None:
            datasets[name] = Dataset.from_frame(name, frame, kind=kind)
    return Package(datasets)


def found(pkg: Package) -> list:
    out = [f for code in MINE for f in RULES[code].run(pkg)]
    return sorted(((f.code, f.dataset, f.variable, f.record, f.usubjid) for f in out), key=str)


def messages(pkg: Package, code: str) -> list[str]:
    return [f.message for f in RULES[code].run(pkg)]


def test_clean_package_has_no_findings(adsl, adlb, dm):
    assert len(MINE) == 13
    assert found(package(adsl, adlb, dm)) == []


def test_flag_value_invalid_leaves_y_or_null_flags_to_their_rules(adsl, adlb):
    adsl.loc[0, "SAFFL"] = "YES"
    adlb["ANL01FL"] = ["N", "Y", None, "Y"]  # 'N' is analysis-flag-not-y-or-null's (BDS)
    assert [x for x in found(package(adsl, adlb)) if x[0] == "flag-value-invalid"] == [
        ("flag-value-invalid", "ADSL", "SAFFL", 1, "T-001")
    ]


def test_flag_numeric_mismatch(adsl):
    adsl.loc[0, "SAFFN"] = 0.0
    adsl = pd.concat([adsl, adsl.iloc[[1]].assign(USUBJID="T-003", SAFFL=None, SAFFN=1.0)])
    pkg = package(adsl.reset_index(drop=True))
    assert found(pkg) == [
        ("flag-numeric-mismatch", "ADSL", "SAFFN", 1, "T-001"),
        ("flag-numeric-mismatch", "ADSL", "SAFFN", 3, "T-003"),
    ]
    assert messages(pkg, "flag-numeric-mismatch") == [
        "SAFFN is 0 but SAFFL is 'Y'; SAFFN must be 1 when SAFFL is 'Y'.",
        "SAFFN is 1 but SAFFL is missing; SAFFL must be populated when SAFFN is.",
    ]


def test_numeric_without_character_variable(adsl):
    adsl["TRT01PN"] = [1.0, 2.0]
    adsl["AGEGR1N"] = [2.0, 3.0]
    adsl["TRT01AN"] = [1.0, 2.0]
    pkg = package(adsl.drop(columns=["SAFFL"]))
    assert found(pkg) == [
        ("numeric-without-character-variable", "ADSL", "AGEGR1N", None, None),
        ("numeric-without-character-variable", "ADSL", "SAFFN", None, None),
        ("numeric-without-character-variable", "ADSL", "TRT01AN", None, None),
    ]
    assert (
        "TRT01AN is present but TRT01A is not"
        in messages(pkg, "numeric-without-character-variable")[2]
    )


def test_study_day_zero(adlb):
    adlb.loc[1, "ADY"] = 0.0
    pkg = package(adlb=adlb)
    assert [x for x in found(pkg) if x[0] == "study-day-zero"] == [
        ("study-day-zero", "ADLB", "ADY", 2, "T-001")
    ]


def test_date_variable_not_numeric(adlb):
    adlb["ADT"] = ["2019-05-05", "2019-05-12", "2019-05-20", "2019-05-20"]
    assert [x for x in found(package(adlb=adlb)) if x[0] == "date-variable-not-numeric"] == [
        ("date-variable-not-numeric", "ADLB", "ADT", None, None)
    ]


def test_date_differs_from_datetime(adsl, adlb):
    adlb.loc[2, "ADTM"] = (TRTSDT + 9) * 86400  # midnight of the next day
    adsl.loc[1, "TRTSDTM"] = (TRTSDT + 8) * 86400 - 1  # one second before its TRTSDT
    pkg = package(adsl, adlb)
    assert [x for x in found(pkg) if x[0] == "date-differs-from-datetime"] == [
        ("date-differs-from-datetime", "ADLB", "ADT", 3, "T-001"),
        ("date-differs-from-datetime", "ADSL", "TRTSDT", 2, "T-002"),
    ]
    assert messages(pkg, "date-differs-from-datetime")[0] == (
        "TRTSDT is 2019-05-20 (21689) but TRTSDTM falls on 2019-05-19 (21688); TRTSDT must be "
        "the date part of TRTSDTM."
    )


def test_start_date_after_end_date(adsl):
    adsl.loc[1, "TRTEDT"] = TRTSDT + 7  # before TRTSDT + 8
    assert found(package(adsl)) == [("start-date-after-end-date", "ADSL", "TRTSDT", 2, "T-002")]


def test_imputation_flag_invalid(adlb):
    adlb.loc[0, "ADTF"] = "DAY"
    adlb["ATMF"] = [None, "H", "D", None]
    adlb["ATM"] = [None, 3600.0, 3600.0, None]
    assert found(package(adlb=adlb)) == [
        ("imputation-flag-invalid", "ADLB", "ADTF", 1, "T-001"),
        ("imputation-flag-invalid", "ADLB", "ATMF", 3, "T-001"),
    ]


def test_imputation_flag_without_date(adlb):
    adlb.loc[1, "ADT"] = np.nan
    adlb.loc[1, "ADTM"] = np.nan
    adlb.loc[1, "ADY"] = np.nan
    assert found(package(adlb=adlb)) == [
        ("imputation-flag-without-date", "ADLB", "ADTF", 2, "T-001")
    ]
    adlb.loc[1, "ADTM"] = TRTSDT * 86400  # the datetime of the same root is enough
    assert found(package(adlb=adlb)) == []


def test_usubjid_not_in_adsl_and_dm(adsl, adlb, dm):
    adlb.loc[3, "USUBJID"] = "T-009"
    pkg = package(adsl, adlb, dm)
    assert found(pkg) == [
        ("adam-usubjid-not-in-dm", "ADLB", "USUBJID", 4, "T-009"),
        ("usubjid-not-in-adsl", "ADLB", "USUBJID", 4, "T-009"),
    ]


def test_adsl_copy_differs(adsl, adlb):
    adlb.loc[2, "TRT01P"] = "Placebo"
    adlb.loc[3, "SAFFL"] = "Y"
    adlb.loc[0, "TRTSDT"] = TRTSDT + 1
    adlb.loc[0, "ADY"] = -8.0
    pkg = package(adsl, adlb)
    assert [x for x in found(pkg) if x[0] == "adsl-copy-differs"] == [
        ("adsl-copy-differs", "ADLB", "SAFFL", 4, "T-002"),
        ("adsl-copy-differs", "ADLB", "TRT01P", 3, "T-001"),
        ("adsl-copy-differs", "ADLB", "TRTSDT", 1, "T-001"),
    ]
    assert (
        "TRT01P is 'Placebo' but ADSL has 'Drug A' for USUBJID 'T-001'"
        in messages(pkg, "adsl-copy-differs")[0]
    )


def test_relative_day_not_derived(adlb):
    adlb.loc[0, "ADY"] = -6.0  # ADT is 7 days before TRTSDT: -7
    adlb.loc[2, "ADY"] = 8.0  # 8 days after TRTSDT: day 9
    pkg = package(adlb=adlb)
    assert found(pkg) == [
        ("relative-day-not-derived", "ADLB", "ADY", 1, "T-001"),
        ("relative-day-not-derived", "ADLB", "ADY", 3, "T-001"),
    ]
    assert messages(pkg, "relative-day-not-derived")[0] == (
        "ADY is -6 but ADT 2019-05-05 (21674) is day -7 from TRTSDT 2019-05-12 (21681); ADY "
        "must be ADT - TRTSDT (+1 on or after TRTSDT)."
    )


def test_date_numbers_beyond_year_9999_are_shown_as_numbers_not_a_failed_rule(adsl, adlb):
    """Issue 14: a SAS date no calendar day has (1e12 days) made the rule fail."""
    adlb.loc[2, "ADT"] = 1e12
    adlb.loc[0, "ADT"] = -715509.0  # 0001-01-01: 715509 days before 1960-01-01
    pkg = package(adsl, adlb)
    codes = [x for x in found(pkg) if x[0] == "date-differs-from-datetime"]
    assert codes == [
        ("date-differs-from-datetime", "ADLB", "ADT", 1, "T-001"),
        ("date-differs-from-datetime", "ADLB", "ADT", 3, "T-001"),
    ]
    said = messages(pkg, "date-differs-from-datetime")
    assert said[0].startswith("ADT is 0001-01-01 (-715509) but ADTM falls on 2019-05-05 (21674)")
    assert said[1].startswith(
        "ADT is 1000000000000 (not a date of 0001 to 9999) but ADTM falls on 2019-05-20 (21689)"
    )
