"""ADaM rules on small synthetic ADSL / ADLB frames: clean passes, each seeded defect is found."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialflow.validation.core import RULES, Dataset, Package
from trialflow.validation.rules import adam, adsl, bds, occds

MODULES = {m.__name__ for m in (adam, adsl, bds, occds)}
MINE = [code for code, r in RULES.items() if r.run is not None and r.run.__module__ in MODULES]


@pytest.fixture
def adsl() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["T"] * 3,
            "USUBJID": ["T-001", "T-002", "T-003"],
            "SUBJID": ["001", "002", "003"],
            "SITEID": ["01"] * 3,
            "AGE": [54.0, 61.0, 47.0],
            "AGEU": ["YEARS"] * 3,
            "SEX": ["M", "F", "M"],
            "RACE": ["ASIAN"] * 3,
            "ARM": ["hUC-MSC"] * 3,
            "ACTARM": ["hUC-MSC"] * 3,
            "SAFFL": ["Y", "Y", "N"],
            "ITTFL": ["Y", "Y", "Y"],
            "TRT01P": ["hUC-MSC"] * 3,
        }
    )


@pytest.fixture
def adlb() -> pd.DataFrame:
    """Two subjects x two parameters: baseline then two visits; CHG null at baseline."""
    rows = []
    for subject, gluc, hba1c in (
        ("T-001", [7.1, 7.3, 6.2], [8.0, 7.6, 7.1]),
        ("T-002", [9.4, 8.8, 8.1], [9.1, 8.7, 8.2]),
    ):
        for code, name, values in (
            ("GLUC", "Glucose (mmol/L)", gluc),
            ("HBA1C", "Hemoglobin A1C (%)", hba1c),
        ):
            for visit, value in zip(("BASELINE", "DAY 28", "DAY 84"), values, strict=True):
                base = values[0]
                rows.append(
                    {
                        "USUBJID": subject,
                        "PARAMCD": code,
                        "PARAM": name,
                        "AVISIT": visit,
                        "AVAL": value,
                        "BASE": base,
                        "CHG": np.nan if visit == "BASELINE" else value - base,
                        "ABLFL": "Y" if visit == "BASELINE" else np.nan,
                        "ANL01FL": "Y",
                    }
                )
    return pd.DataFrame(rows)


def package(adsl: pd.DataFrame | None = None, adlb: pd.DataFrame | None = None) -> Package:
    frames = {"ADSL": adsl, "ADLB": adlb}
    return Package(
        {n: Dataset.from_frame(n, f, kind="adam") for n, f in frames.items() if f is not None}
    )


def found(pkg: Package) -> list:
    out = [f for code in MINE for f in RULES[code].run(pkg)]
    return sorted(((f.code, f.dataset, f.variable, f.record, f.usubjid) for f in out), key=str)


def test_rules_are_registered_in_the_adam_scope():
    assert len(MINE) == 44
    assert {
        "ablfl-multiple",
        "adsl-duplicate-subject",
        "base-not-constant",
        "chg-not-aval-minus-base",
        "flag-value-invalid",
        "param-paramcd-not-one-to-one",
    } <= set(MINE)
    assert {RULES[c].scope for c in MINE} == {"adam"}
    assert {c for c in MINE if RULES[c].severity != "error"} == {
        "adsl-label-nonstandard",
        "adsl-treatment-dates-missing",
        "randdt-missing-for-randomized",
    }


def test_clean_adam_package_has_no_findings(adsl, adlb):
    assert adlb["CHG"].notna().sum() == 8
    assert found(package(adsl, adlb)) == []


def test_sdtm_datasets_are_not_checked_by_adam_rules(adsl):
    adsl.loc[0, "SAFFL"] = "YES"
    pkg = Package({"ADSL": Dataset.from_frame("ADSL", adsl, kind="sdtm")})
    assert found(pkg) == []


def test_adsl_duplicate_subject(adsl, adlb):
    adsl.loc[2, "USUBJID"] = "T-001"
    assert found(package(adsl, adlb)) == [
        ("adsl-duplicate-subject", "ADSL", "USUBJID", 1, "T-001"),
        ("adsl-duplicate-subject", "ADSL", "USUBJID", 3, "T-001"),
    ]


def test_flag_value_invalid_in_adsl_and_bds(adsl, adlb):
    adsl.loc[1, "SAFFL"] = "y"
    adlb.loc[4, "ANL01FL"] = "1"
    adsl["FLAGNOTE"] = "anything"
    assert found(package(adsl, adlb)) == [
        ("analysis-flag-not-y-or-null", "ADLB", "ANL01FL", 5, "T-001"),
        ("flag-value-invalid", "ADSL", "SAFFL", 2, "T-002"),
    ]


def test_param_paramcd_not_one_to_one(adsl, adlb):
    adlb.loc[7, "PARAM"] = "Glucose (mg/dL)"
    assert adlb.at[7, "PARAMCD"] == "GLUC"
    assert found(package(adsl, adlb)) == [
        ("param-paramcd-not-one-to-one", "ADLB", "PARAM", 8, "T-002")
    ]
    [f] = RULES["param-paramcd-not-one-to-one"].run(package(adsl, adlb))
    assert "'Glucose (mmol/L)' on 5 other records" in f.message


def test_base_not_constant(adsl, adlb):
    adlb.loc[2, "BASE"] = 7.0
    adlb.loc[2, "CHG"] = adlb.at[2, "AVAL"] - 7.0
    assert found(package(adsl, adlb)) == [("base-not-constant", "ADLB", "BASE", 3, "T-001")]


def test_base_may_differ_between_basetypes(adsl, adlb):
    # BASETYPE "LAST": the last visit is the baseline of its group.
    last = adlb["AVISIT"].eq("DAY 84")
    other = adlb.assign(BASETYPE="LAST", ABLFL=np.where(last, "Y", None))
    other["BASE"] = (
        other["AVAL"].where(last).groupby([other["USUBJID"], other["PARAMCD"]]).transform("max")
    )
    other["CHG"] = (other["AVAL"] - other["BASE"]).where(~last)
    both = pd.concat([adlb.assign(BASETYPE="FIRST"), other], ignore_index=True)
    # FIRST bases 7.1, 8.0, 9.4, 9.1; LAST bases 6.2, 7.1, 8.1, 8.2
    assert (both["BASE"].nunique(), both["ABLFL"].eq("Y").sum()) == (7, 8)
    assert found(package(adsl, both)) == []


def test_chg_not_aval_minus_base(adsl, adlb):
    adlb.loc[5, "CHG"] = -0.8
    assert found(package(adsl, adlb)) == [("chg-not-aval-minus-base", "ADLB", "CHG", 6, "T-001")]


def test_chg_must_be_null_when_base_is_null(adsl, adlb):
    adlb.loc[[9, 10, 11], "BASE"] = np.nan
    assert found(package(adsl, adlb)) == [
        ("chg-not-aval-minus-base", "ADLB", "CHG", 11, "T-002"),
        ("chg-not-aval-minus-base", "ADLB", "CHG", 12, "T-002"),
    ]
    messages = [f.message for f in RULES["chg-not-aval-minus-base"].run(package(adsl, adlb))]
    assert all("CHG must be null" in m for m in messages)


def test_chg_within_relative_tolerance(adsl, adlb):
    adlb.loc[1, "CHG"] = 0.2
    assert adlb.at[1, "AVAL"] - adlb.at[1, "BASE"] != 0.2
    assert found(package(adsl, adlb)) == []


def test_ablfl_multiple(adsl, adlb):
    adlb.loc[1, "ABLFL"] = "Y"
    assert found(package(adsl, adlb)) == [
        ("ablfl-multiple", "ADLB", "ABLFL", 1, "T-001"),
        ("ablfl-multiple", "ADLB", "ABLFL", 2, "T-001"),
        # the second baseline record's BASE (7.1) is not its AVAL (7.3)
        ("base-not-baseline-aval", "ADLB", "BASE", 2, "T-001"),
    ]
