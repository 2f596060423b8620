"""Validation of CM: the example's CM passes the rules that concern it, and each seeded defect
is found exactly (rule, dataset, variable, record, subject)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.validation.core import RULES, Dataset, Package

# Rules a CM record can break (existing ones that cover every dataset, and the CM ones).
CM_RULES = [
    "dostot-inconsistent",
    "enrtpt-without-entpt",
    "decod-missing-when-coded",
    "whodrug-class-inconsistent",
    "dose-negative",
    "dosu-missing",
    "start-after-end",
    "study-day-mismatch",
    "entpt-without-enrtpt",
    "end-missing",
    "end-without-start",
]


def found(frames: dict[str, pd.DataFrame], codes: list[str] = CM_RULES) -> list[tuple]:
    """(code, dataset, variable, record, usubjid) of every CM finding of ``codes``."""
    pkg = Package({n: Dataset.from_frame(n, f) for n, f in frames.items()})
    out = [f for code in codes if code in RULES for f in RULES[code].run(pkg)]
    return sorted(
        ((f.code, f.dataset, f.variable, f.record, f.usubjid) for f in out if f.dataset == "CM"),
        key=str,
    )


def test_the_rules_are_registered():
    assert RULES["enrtpt-without-entpt"].refs == ("SD0050",)
    assert RULES["dostot-inconsistent"].severity == "warning"
    assert RULES["decod-missing-when-coded"].severity == "warning"
    assert [c for c in CM_RULES if c not in RULES] == []


def test_the_example_cm_passes(sdtm):
    assert len(sdtm["CM"]) == 105
    assert found(sdtm) == []


def test_seeded_defects_are_found_by_record(sdtm):
    cm = sdtm["CM"]
    # record 1 (row 0): 20 U BID, CMDOSTOT 40; make it 30 (20 x 2 = 40)
    assert (cm.at[0, "CMDOSE"], cm.at[0, "CMDOSFRQ"], cm.at[0, "CMDOSTOT"]) == (20.0, "BID", 40.0)
    cm.loc[0, "CMDOSTOT"] = 30.0
    # the first ongoing record (ONGOING / END OF STUDY): drop the time point
    ongoing = int(cm.index[cm["CMENRTPT"] == "ONGOING"][0])
    assert cm.at[ongoing, "CMENTPT"] == "END OF STUDY" and ongoing not in (0, 3, 4)
    cm.loc[ongoing, "CMENTPT"] = np.nan
    # record 4 (row 3): uncoded
    cm.loc[3, "CMDECOD"] = np.nan
    # record 5 (row 4): a negative dose, and its daily total no longer 2 x the dose
    cm.loc[4, "CMDOSE"] = -500.0
    # a PRN record with any total is not judged (no daily count)
    prn = cm.index[cm["CMDOSFRQ"] == "PRN"][0]
    cm.loc[prn, "CMDOSTOT"] = 123.0
    u = cm["USUBJID"]
    assert found(sdtm) == sorted(
        [
            ("dostot-inconsistent", "CM", "CMDOSTOT", 1, u[0]),
            ("enrtpt-without-entpt", "CM", "CMENTPT", ongoing + 1, u[ongoing]),
            ("decod-missing-when-coded", "CM", "CMDECOD", 4, u[3]),
            ("dose-negative", "CM", "CMDOSE", 5, u[4]),
            ("dostot-inconsistent", "CM", "CMDOSTOT", 5, u[4]),
        ],
        key=str,
    )


def test_the_dose_message_gives_the_expected_total(sdtm):
    cm = sdtm["CM"]
    cm.loc[0, "CMDOSTOT"] = 30.0
    pkg = Package({n: Dataset.from_frame(n, f) for n, f in sdtm.items()})
    (f,) = RULES["dostot-inconsistent"].run(pkg)
    assert f.message == (
        "CMDOSTOT is 30 but CMDOSE 20 CMDOSFRQ 'BID' is 40 a day; correct CMDOSTOT or the regimen."
    )


def test_an_uncoded_dataset_is_not_judged_record_by_record(sdtm):
    cm = sdtm["CM"]
    cm["CMDECOD"] = pd.Series(np.nan, index=cm.index, dtype="str")
    assert [c for c in found(sdtm) if c[0] == "decod-missing-when-coded"] == []
