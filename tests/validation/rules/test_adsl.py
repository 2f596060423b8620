"""ADSL rules (trialflow.validation.rules.adsl): a clean ADSL passes, each seeded defect is
found exactly (record, subject, message)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialflow.validation.core import RULES, Dataset, Package
from trialflow.validation.rules import adsl as module

MINE = [c for c, r in RULES.items() if r.run is not None and r.run.__module__ == module.__name__]


@pytest.fixture
def adsl() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["T"] * 3,
            "USUBJID": ["T-001", "T-002", "T-003"],
            "SUBJID": ["001", "002", "003"],
            "SITEID": ["01", "01", "02"],
            "AGE": [54.0, 61.0, 47.0],
            "AGEU": ["YEARS"] * 3,
            "SEX": ["M", "F", "M"],
            "RACE": ["ASIAN"] * 3,
            "ARM": ["Drug A", "Placebo", "Drug A"],
            "ACTARM": ["Drug A", "Placebo", "Drug A"],
            "TRT01P": ["Drug A", "Placebo", "Drug A"],
            "TRT01PN": [1.0, 2.0, 1.0],
            "TRT01A": ["Drug A", "Placebo", "Drug A"],
            "TRT01AN": [1.0, 2.0, 1.0],
            "TRTSDT": [21681.0, 21689.0, 21709.0],
            "TRTEDT": [21694.0, 21702.0, 21722.0],
            "SAFFL": ["Y", "Y", "N"],
            "ITTFL": ["Y", "Y", "Y"],
            "RANDFL": ["Y", "Y", "Y"],
            "RANDDT": [21680.0, 21688.0, 21708.0],
        }
    )


@pytest.fixture
def dm(adsl: pd.DataFrame) -> pd.DataFrame:
    columns = ["STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE", "AGEU", "SEX", "RACE", "ARM"]
    return adsl[[*columns, "ACTARM"]].copy()


def package(adsl: pd.DataFrame, dm: pd.DataFrame | None = None, *, label: str = "") -> Package:
    datasets = {"ADSL": Dataset.from_frame("ADSL", adsl, kind="adam", label=label)}
    if dm is not None:
        datasets["DM"] = Dataset.from_frame("DM", dm)
        datasets["EX"] = Dataset.from_frame("EX", pd.DataFrame({"USUBJID": ["T-001"]}))
    return Package(datasets)


def found(pkg: Package) -> list:
    out = [f for code in MINE for f in RULES[code].run(pkg)]
    return sorted(((f.code, f.dataset, f.variable, f.record, f.usubjid) for f in out), key=str)


def messages(pkg: Package, code: str) -> list[str]:
    return [f.message for f in RULES[code].run(pkg)]


def test_clean_adsl_has_no_findings(adsl, dm):
    assert len(MINE) == 8
    assert found(package(adsl, dm, label="Subject-Level Analysis Dataset")) == []


def test_no_adsl_no_findings(dm):
    assert found(Package({"DM": Dataset.from_frame("DM", dm)})) == []


def test_adsl_duplicate_subject(adsl, dm):
    adsl.loc[2, "USUBJID"] = "T-001"
    pkg = package(adsl, dm)
    assert [x for x in found(pkg) if x[0] == "adsl-duplicate-subject"] == [
        ("adsl-duplicate-subject", "ADSL", "USUBJID", 1, "T-001"),
        ("adsl-duplicate-subject", "ADSL", "USUBJID", 3, "T-001"),
    ]
    assert "has 2 ADSL records" in messages(pkg, "adsl-duplicate-subject")[0]


def test_adsl_required_variable_missing(adsl):
    pkg = package(adsl.drop(columns=["AGEU", "RACE"]))
    assert found(pkg) == [
        ("adsl-required-variable-missing", "ADSL", "AGEU", None, None),
        ("adsl-required-variable-missing", "ADSL", "RACE", None, None),
    ]
    no_flags = adsl.drop(columns=["SAFFL", "ITTFL", "RANDFL"])
    assert messages(package(no_flags), "adsl-required-variable-missing") == [
        "ADSL has no population flag (no variable ending in FL); add at least one, such as "
        "SAFFL or ITTFL."
    ]


def test_population_flag_null(adsl):
    adsl.loc[1, "SAFFL"] = None
    adsl.loc[2, "ITTFL"] = " "
    assert found(package(adsl)) == [
        ("population-flag-null", "ADSL", "ITTFL", 3, "T-003"),
        ("population-flag-null", "ADSL", "SAFFL", 2, "T-002"),
    ]


def test_adsl_differs_from_dm(adsl, dm):
    adsl.loc[0, "SEX"] = "F"
    adsl.loc[2, "AGE"] = 48.0
    dm.loc[1, "USUBJID"] = "T-999"  # T-002 is not in DM: nothing to compare
    adsl.loc[1, "RACE"] = "WHITE"
    pkg = package(adsl, dm)
    assert found(pkg) == [
        ("adsl-differs-from-dm", "ADSL", "AGE", 3, "T-003"),
        ("adsl-differs-from-dm", "ADSL", "SEX", 1, "T-001"),
    ]
    assert (
        "ADSL SEX is 'F' but DM has 'M' for USUBJID 'T-001'"
        in messages(pkg, "adsl-differs-from-dm")[1]
    )


def test_adsl_differs_from_dm_numbers_compare_as_numbers(adsl, dm):
    dm["AGE"] = dm["AGE"].astype("int64")
    assert found(package(adsl, dm)) == []


def test_treatment_code_not_one_to_one(adsl):
    adsl.loc[2, "TRT01PN"] = 2.0
    pkg = package(adsl)
    assert found(pkg) == [("treatment-code-not-one-to-one", "ADSL", "TRT01PN", 3, "T-003")]
    assert (
        "TRT01PN is 2 here but 1 on 1 other record with TRT01P 'Drug A'"
        in messages(pkg, "treatment-code-not-one-to-one")[0]
    )


def test_treatment_code_nulls_are_not_compared(adsl):
    adsl.loc[2, "TRT01AN"] = np.nan
    assert found(package(adsl)) == []


def test_adsl_label_nonstandard(adsl):
    assert found(package(adsl, label="Subject Level Analysis")) == [
        ("adsl-label-nonstandard", "ADSL", None, None, None)
    ]
    assert RULES["adsl-label-nonstandard"].severity == "warning"


def test_adsl_treatment_dates_missing_only_with_ex(adsl, dm):
    short = adsl.drop(columns=["TRTEDT"])
    assert found(package(short, dm)) == [
        ("adsl-treatment-dates-missing", "ADSL", "TRTEDT", None, None)
    ]
    assert found(package(short)) == []
    assert found(package(short.assign(TRTEDTM=1.0), dm)) == []


def test_randdt_missing_for_randomized(adsl):
    adsl.loc[1, "RANDDT"] = np.nan
    adsl.loc[2, ["RANDFL", "RANDDT"]] = ["N", np.nan]
    assert found(package(adsl)) == [("randdt-missing-for-randomized", "ADSL", "RANDDT", 2, "T-002")]
