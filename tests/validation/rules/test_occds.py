"""OCCDS rules (trialflow.validation.rules.occds): a clean ADAE passes, each seeded defect is
found exactly (record, subject, message)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialflow.validation.core import RULES, Dataset, Package
from trialflow.validation.rules import occds as module

MINE = [c for c, r in RULES.items() if r.run is not None and r.run.__module__ == module.__name__]


@pytest.fixture
def ae() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": ["T-001", "T-001", "T-001", "T-002"],
            "AESEQ": [1.0, 2.0, 3.0, 1.0],
            "AETERM": ["fever", "headache", "fever again", "Fever"],
            "AEDECOD": ["Pyrexia", "Headache", "Pyrexia", "Pyrexia"],
            "AEBODSYS": [
                "General disorders and administration site conditions",
                "Nervous system disorders",
                "General disorders and administration site conditions",
                "General disorders and administration site conditions",
            ],
        }
    )


@pytest.fixture
def adae(ae: pd.DataFrame) -> pd.DataFrame:
    """T-001: Pyrexia, Headache, Pyrexia again; T-002: Pyrexia. Dates are SAS dates."""
    return ae.assign(
        ASTDT=[21776.0, 21780.0, 21790.0, 21814.0],
        AENDT=[21792.0, 21781.0, np.nan, 21815.0],
        ASTDTM=np.nan,
        AENDTM=np.nan,
        TRTEMFL=["Y", "Y", "Y", None],
        PREFL=[None, None, None, "Y"],
        AOCCFL=["Y", None, None, "Y"],
        AOCCSFL=["Y", "Y", None, "Y"],
        AOCCPFL=["Y", "Y", None, "Y"],
    )


def package(adae: pd.DataFrame, ae: pd.DataFrame | None = None) -> Package:
    datasets = {"ADAE": Dataset.from_frame("ADAE", adae, kind="adam")}
    if ae is not None:
        datasets["AE"] = Dataset.from_frame("AE", ae)
    return Package(datasets)


def found(pkg: Package) -> list:
    out = [f for code in MINE for f in RULES[code].run(pkg)]
    return sorted(((f.code, f.dataset, f.variable, f.record, f.usubjid) for f in out), key=str)


def messages(pkg: Package, code: str) -> list[str]:
    return [f.message for f in RULES[code].run(pkg)]


def test_clean_occds_has_no_findings(adae, ae):
    assert len(MINE) == 5
    assert found(package(adae, ae)) == []


def test_treatment_flag_not_y_or_null(adae):
    adae.loc[3, "TRTEMFL"] = "N"
    adae.loc[0, "PREFL"] = "y"
    pkg = package(adae)
    assert found(pkg) == [
        ("treatment-flag-not-y-or-null", "ADAE", "PREFL", 1, "T-001"),
        ("treatment-flag-not-y-or-null", "ADAE", "TRTEMFL", 4, "T-002"),
    ]
    assert messages(pkg, "treatment-flag-not-y-or-null")[0] == (
        "TRTEMFL is 'N'; TRTEMFL must be 'Y' or null."
    )


def test_treatment_flag_is_checked_in_bds_too():
    adlb = pd.DataFrame({"USUBJID": ["T-001"], "PARAMCD": ["GLUC"], "ONTRTFL": ["N"]})
    pkg = Package({"ADLB": Dataset.from_frame("ADLB", adlb, kind="adam")})
    assert [f.code for f in RULES["treatment-flag-not-y-or-null"].run(pkg)] == [
        "treatment-flag-not-y-or-null"
    ]


def test_analysis_start_after_end(adae):
    adae.loc[1, "AENDT"] = 21779.0  # a day before ASTDT 21780
    adae.loc[3, ["ASTDTM", "AENDTM"]] = [1884758400.0, 1884758399.0]
    assert found(package(adae)) == [
        ("analysis-start-after-end", "ADAE", "ASTDT", 2, "T-001"),
        ("analysis-start-after-end", "ADAE", "ASTDTM", 4, "T-002"),
    ]


def test_occurrence_flag_not_y_or_null(adae):
    adae.loc[2, "AOCCFL"] = "N"
    assert found(package(adae)) == [("occurrence-flag-not-y-or-null", "ADAE", "AOCCFL", 3, "T-001")]


def test_occurrence_flag_multiple(adae):
    adae.loc[2, "AOCCPFL"] = "Y"  # a second first occurrence of Pyrexia for T-001
    adae.loc[1, "AOCCFL"] = "Y"  # a second first event for T-001
    pkg = package(adae)
    assert found(pkg) == [
        ("occurrence-flag-multiple", "ADAE", "AOCCFL", 1, "T-001"),
        ("occurrence-flag-multiple", "ADAE", "AOCCFL", 2, "T-001"),
        ("occurrence-flag-multiple", "ADAE", "AOCCPFL", 1, "T-001"),
        ("occurrence-flag-multiple", "ADAE", "AOCCPFL", 3, "T-001"),
    ]
    assert (
        "2 records of USUBJID 'T-001' have AOCCFL = 'Y'"
        in messages(pkg, "occurrence-flag-multiple")[0]
    )


def test_occds_coding_differs_from_sdtm(adae, ae):
    adae.loc[3, "AEDECOD"] = "Fever"
    adae.loc[1, "AEBODSYS"] = None
    adae.loc[2, "AESEQ"] = 9.0  # no such AE record: not compared
    adae.loc[2, "AETERM"] = "anything"
    pkg = package(adae, ae)
    assert found(pkg) == [
        ("occds-coding-differs-from-sdtm", "ADAE", "AEBODSYS", 2, "T-001"),
        ("occds-coding-differs-from-sdtm", "ADAE", "AEDECOD", 4, "T-002"),
    ]
    assert messages(pkg, "occds-coding-differs-from-sdtm")[0] == (
        "AEDECOD is 'Fever' but SDTM AE has 'Pyrexia' for USUBJID 'T-002', AESEQ 1; ADAE must "
        "carry AE's coding."
    )
    assert found(package(adae)) == []  # no SDTM AE: nothing to compare with
    # an SDTM AE with no record (a partition of a pooled package holding no AE of these
    # subjects): nothing to compare with either, and the rule runs (it used to fail)
    assert found(package(adae, ae.iloc[0:0])) == []
    keyless = ae.assign(AESEQ=np.nan)
    assert found(package(adae, keyless)) == []
