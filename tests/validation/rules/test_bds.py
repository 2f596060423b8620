"""BDS rules (trialflow.validation.rules.bds): a clean ADLB passes, each seeded defect is
found exactly (record, subject, message)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialflow.numbers import sas_round
from trialflow.validation.core import RULES, Dataset, Package
from trialflow.validation.rules import bds as module

MINE = [c for c, r in RULES.items() if r.run is not None and r.run.__module__ == module.__name__]


@pytest.fixture
def adlb() -> pd.DataFrame:
    """Two subjects x two parameters x three visits; baseline first; PCHG rounded to 2 places.

    Records (1-based): T-001 GLUC 1-3, T-001 HBA1C 4-6, T-002 GLUC 7-9, T-002 HBA1C 10-12.
    """
    rows = []
    seq = 0
    for subject, gluc, hba1c in (
        ("T-001", [7.1, 7.3, 6.2], [8.0, 7.6, 7.1]),
        ("T-002", [9.4, 8.8, 8.1], [9.1, 8.7, 8.2]),
    ):
        for n, (code, name, values) in enumerate(
            (("GLUC", "Glucose (mmol/L)", gluc), ("HBA1C", "Hemoglobin A1C (%)", hba1c)), 1
        ):
            for visitn, (visit, value) in enumerate(
                zip(("BASELINE", "DAY 28", "DAY 84"), values, strict=True)
            ):
                seq += 1
                base = values[0]
                rows.append(
                    {
                        "USUBJID": subject,
                        "TRTP": "Drug A" if subject == "T-001" else "Placebo",
                        "TRTPN": 1.0 if subject == "T-001" else 2.0,
                        "PARAMCD": code,
                        "PARAM": name,
                        "PARAMN": float(n),
                        "PARCAT1": "CHEMISTRY",
                        "AVISIT": visit,
                        "AVISITN": float(visitn),
                        "AVAL": value,
                        "BASE": base,
                        "CHG": np.nan if visitn == 0 else sas_round(value - base, 10),
                        "PCHG": (
                            np.nan if visitn == 0 else sas_round(100 * (value - base) / base, 2)
                        ),
                        "ABLFL": "Y" if visitn == 0 else None,
                        "ANL01FL": "Y",
                        "ANRIND": "HIGH" if value > 7.0 else "NORMAL",
                        "BNRIND": "HIGH" if base > 7.0 else "NORMAL",
                        "CRIT1": "AVAL > 8",
                        "CRIT1FL": "Y" if value > 8 else "N",
                        "SRCDOM": "LB",
                        "SRCSEQ": float(seq),
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture
def lb() -> pd.DataFrame:
    return pd.DataFrame(
        {"USUBJID": ["T-001"] * 6 + ["T-002"] * 6, "LBSEQ": [float(i) for i in range(1, 13)]}
    )


def package(adlb: pd.DataFrame, lb: pd.DataFrame | None = None) -> Package:
    datasets = {"ADLB": Dataset.from_frame("ADLB", adlb, kind="adam")}
    if lb is not None:
        datasets["LB"] = Dataset.from_frame("LB", lb)
    return Package(datasets)


def found(pkg: Package) -> list:
    out = [f for code in MINE for f in RULES[code].run(pkg)]
    return sorted(((f.code, f.dataset, f.variable, f.record, f.usubjid) for f in out), key=str)


def messages(pkg: Package, code: str) -> list[str]:
    return [f.message for f in RULES[code].run(pkg)]


def test_clean_bds_has_no_findings(adlb, lb):
    assert len(MINE) == 18
    assert adlb.at[1, "PCHG"] == 2.82  # 100 * 0.2 / 7.1 = 2.8169...
    assert found(package(adlb, lb)) == []


def test_adsl_is_not_a_bds_dataset(adlb):
    pkg = Package({"ADSL": Dataset.from_frame("ADSL", adlb.assign(PARAMCD="1X"), kind="adam")})
    assert found(pkg) == []


def test_paramcd_invalid(adlb):
    adlb.loc[0:2, "PARAMCD"] = "1GLUC"
    adlb.loc[3:5, "PARAMCD"] = "HBA1C_LONG"
    adlb.loc[6:8, "PARAMCD"] = "_GLUC"
    assert [x for x in found(package(adlb)) if x[0] == "paramcd-invalid"] == [
        ("paramcd-invalid", "ADLB", "PARAMCD", r, "T-001") for r in range(1, 7)
    ]


def test_param_null(adlb):
    adlb.loc[4, "PARAM"] = None
    adlb.loc[7, "PARAMCD"] = " "
    assert [x for x in found(package(adlb)) if x[0] == "param-null"] == [
        ("param-null", "ADLB", "PARAM", 5, "T-001"),
        ("param-null", "ADLB", "PARAMCD", 8, "T-002"),
    ]


def test_analysis_value_variables_missing(adlb):
    pkg = package(adlb.drop(columns=["AVAL", "CHG", "PCHG", "BASE"]))
    assert found(pkg) == [("analysis-value-variables-missing", "ADLB", None, None, None)]


def test_aval_avalc_not_one_to_one(adlb):
    adlb["AVALC"] = adlb["AVAL"].map(lambda v: f"{v:.1f}")
    adlb.loc[2, "AVALC"] = " 6.2 "  # trimmed, the same text
    assert found(package(adlb)) == []
    adlb.loc[8, "AVALC"] = "7.3"  # T-002 GLUC 8.1 shown as T-001's 7.3
    adlb.loc[5, "AVALC"] = "7.6"  # HBA1C 7.1 shown as 7.6: HBA1C's 7.6 (record 5) conflicts
    assert found(package(adlb)) == [
        ("aval-avalc-not-one-to-one", "ADLB", "AVALC", 6, "T-001"),
        ("aval-avalc-not-one-to-one", "ADLB", "AVALC", 9, "T-002"),
    ]


def test_aval_avalc_pairs_only_within_a_parameter(adlb):
    adlb["AVALC"] = adlb["AVAL"].map(lambda v: f"{v:.1f}")
    adlb.loc[5, "AVALC"] = "7.3"  # HBA1C 7.1 as '7.3': GLUC's 7.3 is another parameter
    assert found(package(adlb)) == []


def test_visit_code_not_one_to_one(adlb):
    adlb.loc[7, "AVISITN"] = 2.0  # T-002 GLUC DAY 28 numbered as DAY 84
    pkg = package(adlb)
    assert found(pkg) == [("visit-code-not-one-to-one", "ADLB", "AVISITN", 8, "T-002")]
    assert messages(pkg, "visit-code-not-one-to-one") == [
        "AVISITN is 2 here but 1 on 1 other record with AVISIT 'DAY 28' and PARAMCD 'GLUC'; "
        "each AVISIT must have one AVISITN within PARAMCD."
    ]


def test_numeric_code_not_one_to_one(adlb):
    adlb.loc[11, "TRTPN"] = 1.0
    adlb.loc[0, "PARAMN"] = 2.0
    assert found(package(adlb)) == [
        ("numeric-code-not-one-to-one", "ADLB", "PARAMN", 1, "T-001"),
        ("numeric-code-not-one-to-one", "ADLB", "TRTPN", 12, "T-002"),
    ]


def test_param_attribute_not_constant(adlb):
    adlb.loc[10, "PARCAT1"] = "HEMATOLOGY"
    adlb.loc[0, "CRIT1"] = "AVAL > 9"
    assert found(package(adlb)) == [
        ("param-attribute-not-constant", "ADLB", "CRIT1", 1, "T-001"),
        ("param-attribute-not-constant", "ADLB", "PARCAT1", 11, "T-002"),
    ]


def test_base_not_baseline_aval(adlb):
    adlb.loc[3:5, "BASE"] = 8.5
    adlb.loc[4:5, "CHG"] = adlb.loc[4:5, "AVAL"] - 8.5
    adlb.loc[4:5, "PCHG"] = sas_round(100 * adlb.loc[4:5, "CHG"] / 8.5, 2)
    adlb.loc[3, "BNRIND"] = "HIGH"
    pkg = package(adlb)
    assert found(pkg) == [("base-not-baseline-aval", "ADLB", "BASE", 4, "T-001")]
    assert messages(pkg, "base-not-baseline-aval") == [
        "ABLFL is 'Y' but BASE 8.5 is not AVAL 8; BASE must be the AVAL of the baseline record."
    ]


def test_base_without_baseline_record(adlb):
    adlb.loc[6, "ABLFL"] = None
    assert found(package(adlb)) == [
        ("base-without-baseline-record", "ADLB", "BASE", r, "T-002") for r in (7, 8, 9)
    ]


def test_analysis_flag_not_y_or_null(adlb):
    adlb.loc[1, "ABLFL"] = "N"
    adlb.loc[2, "ANL01FL"] = "N"
    assert found(package(adlb)) == [
        ("analysis-flag-not-y-or-null", "ADLB", "ABLFL", 2, "T-001"),
        ("analysis-flag-not-y-or-null", "ADLB", "ANL01FL", 3, "T-001"),
    ]


def test_chg_relates_to_aval_and_base(adlb):
    adlb.loc[5, "CHG"] = -0.8  # 7.1 - 8.0 = -0.9
    assert found(package(adlb)) == [("chg-not-aval-minus-base", "ADLB", "CHG", 6, "T-001")]


def test_pchg_not_percent_change(adlb):
    adlb.loc[2, "PCHG"] = -12.67  # 100 * (6.2 - 7.1) / 7.1 = -12.676... shown as -12.68
    pkg = package(adlb)
    assert found(pkg) == [("pchg-not-percent-change", "ADLB", "PCHG", 3, "T-001")]
    assert (
        "100 * (AVAL 6.2 - BASE 7.1) / BASE is -12.6761"
        in messages(pkg, "pchg-not-percent-change")[0]
    )


def test_pchg_rounding_and_zero_base(adlb):
    adlb.loc[2, "PCHG"] = -12.676056338  # unrounded is fine too
    adlb.loc[1, "PCHG"] = 3.0  # 2.8169 shown with no decimals is 3
    assert found(package(adlb)) == []
    adlb.loc[6:8, ["BASE", "AVAL"]] = [[0.0, 0.0], [0.0, 1.0], [0.0, 2.0]]
    adlb.loc[7:8, "CHG"] = [1.0, 2.0]
    adlb.loc[6:8, "BNRIND"] = "NORMAL"
    adlb.loc[6:8, "ANRIND"] = "NORMAL"
    adlb.loc[6:8, "CRIT1FL"] = "N"
    assert found(package(adlb)) == [
        ("pchg-not-percent-change", "ADLB", "PCHG", 8, "T-002"),
        ("pchg-not-percent-change", "ADLB", "PCHG", 9, "T-002"),
    ]
    assert (
        "PCHG must be null when BASE is 0" in messages(package(adlb), "pchg-not-percent-change")[0]
    )


def test_baseline_indicator_differs(adlb):
    adlb.loc[0, "BNRIND"] = "NORMAL"  # baseline AVAL 7.1 is HIGH
    adlb.loc[1, "BNRIND"] = "NORMAL"  # not a baseline record: not checked here
    assert [x for x in found(package(adlb)) if x[0] == "baseline-indicator-differs"] == [
        ("baseline-indicator-differs", "ADLB", "BNRIND", 1, "T-001")
    ]


def test_criterion_flag_without_criterion(adlb):
    adlb.loc[4, "CRIT1"] = None
    assert found(package(adlb)) == [
        ("criterion-flag-without-criterion", "ADLB", "CRIT1FL", 5, "T-001")
    ]
    assert found(package(adlb.drop(columns=["CRIT1"]))) == [
        ("criterion-flag-without-criterion", "ADLB", "CRIT1FL", None, None)
    ]


def test_srcseq_not_found(adlb, lb):
    adlb.loc[3, "SRCSEQ"] = 99.0
    adlb.loc[9, "SRCSEQ"] = 1.0  # LBSEQ 1 belongs to T-001, not T-002
    adlb.loc[10, "SRCDOM"] = "VS"  # VS is not in the package: not checked
    pkg = package(adlb, lb)
    assert [(f.record, f.usubjid) for f in RULES["srcseq-not-found"].run(pkg)] == [
        (4, "T-001"),
        (10, "T-002"),
    ]
    assert found(package(adlb)) == []  # no SDTM LB: nothing to point at
