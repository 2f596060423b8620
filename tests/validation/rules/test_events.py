"""Rules of trialflow.validation.rules.events: the clean example passes, each seeded defect is
found exactly (rule, dataset, variable, record, subject), edge cases stay quiet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.pipeline import map_study
from trialflow.validation.core import RULES, Dataset, Package

EVENT_RULES = [
    code
    for code, r in RULES.items()
    if r.run is not None and r.run.__module__.rsplit(".", 1)[-1] == "events"
]


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """The example study mapped by the project's own pipeline."""
    run = map_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, tmp_path_factory.mktemp("out"), on_issue="none")
    return {name: frame.reset_index(drop=True) for name, frame in run.sdtm.domains.items()}


@pytest.fixture
def sdtm(mapped: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """A fresh copy of the clean frames that a test may change."""
    return {name: frame.copy() for name, frame in mapped.items()}


def package(frames: dict[str, pd.DataFrame]) -> Package:
    return Package({n: Dataset.from_frame(n, f) for n, f in frames.items()})


def found(frames: dict[str, pd.DataFrame], codes: list[str] = EVENT_RULES) -> list[tuple]:
    """(code, dataset, variable, record, usubjid) of every finding of ``codes``."""
    pkg = package(frames)
    out = [f for code in codes for f in RULES[code].run(pkg)]
    return sorted(((f.code, f.dataset, f.variable, f.record, f.usubjid) for f in out), key=str)


def text_column(frame: pd.DataFrame) -> pd.Series:
    """A new text variable for ``frame``, null on every record."""
    return pd.Series(np.nan, index=frame.index, dtype="str")


def messages(frames: dict[str, pd.DataFrame], code: str) -> list[str]:
    return [f.message for f in RULES[code].run(package(frames))]


def test_the_new_rules_are_registered_with_their_ids():
    assert RULES["aeout-recovered-without-end"].refs == ("CORE-000659", "FB3410")
    assert RULES["placebo-dose-not-zero"].refs == ("CORE-000005", "CG0102")
    assert RULES["mh-start-after-rfstdtc"].severity == "warning"
    assert {RULES[c].scope for c in EVENT_RULES} == {"cross"}


def test_clean_example_has_no_findings(sdtm):
    assert found(sdtm) == []


def test_resolved_event_without_end(sdtm):
    ae = sdtm["AE"]
    ae.loc[1, "AEENDTC"] = np.nan
    ae.loc[2, "AEENDTC"] = np.nan
    ae.loc[2, "AEOUT"] = "RECOVERED/RESOLVED WITH SEQUELAE"  # not the CORE check's outcome
    assert found(sdtm) == [
        ("aeout-recovered-without-end", "AE", "AEENDTC", 2, ae.at[1, "USUBJID"]),
        ("end-missing", "AE", "AEENDTC", 2, ae.at[1, "USUBJID"]),
        ("end-missing", "AE", "AEENDTC", 3, ae.at[2, "USUBJID"]),
    ]


def test_unresolved_event_with_end(sdtm):
    ae = sdtm["AE"]
    ae.loc[0, "AEOUT"] = "NOT RECOVERED/NOT RESOLVED"
    assert found(sdtm) == [
        ("aeout-not-recovered-with-end", "AE", "AEENDTC", 1, ae.at[0, "USUBJID"])
    ]
    assert messages(sdtm, "aeout-not-recovered-with-end") == [
        f"AEOUT is 'NOT RECOVERED/NOT RESOLVED' but AEENDTC is '{ae.at[0, 'AEENDTC']}'; an "
        "event that has not resolved has no end date."
    ]


def test_placebo_dose_must_be_zero(sdtm):
    ex = sdtm["EX"]
    ex.loc[0, "EXTRT"] = "PLACEBO"
    ex.loc[[1, 2], "EXTRT"] = "PLACEBO"
    ex.loc[1, "EXDOSE"] = 0
    ex.loc[2, "EXDOSE"] = np.nan
    ex.loc[2, "EXDOSU"] = np.nan
    assert found(sdtm) == [("placebo-dose-not-zero", "EX", "EXDOSE", 1, ex.at[0, "USUBJID"])]
    assert messages(sdtm, "placebo-dose-not-zero")[0].startswith(
        "EXTRT is 'PLACEBO' but EXDOSE is 1;"
    )


def test_negative_doses(sdtm):
    ex = sdtm["EX"]
    ex.loc[3, "EXDOSE"] = -1
    ex["EXDOSTOT"] = np.nan
    ex.loc[4, "EXDOSTOT"] = -2.5
    assert found(sdtm) == [
        ("dose-negative", "EX", "EXDOSE", 4, ex.at[3, "USUBJID"]),
        ("dose-negative", "EX", "EXDOSTOT", 5, ex.at[4, "USUBJID"]),
    ]
    assert messages(sdtm, "dose-negative")[1] == (
        "EXDOSTOT is -2.5, a negative dose; doses are never negative."
    )


def test_dose_without_unit(sdtm):
    ex = sdtm["EX"]
    ex.loc[5, "EXDOSU"] = np.nan
    assert found(sdtm) == [("dosu-missing", "EX", "EXDOSU", 6, ex.at[5, "USUBJID"])]
    assert messages(sdtm, "dosu-missing") == [
        "EXDOSE 1 but EXDOSU is missing; give the unit of the dose."
    ]


def test_dose_unit_variable_absent_reports_every_dosed_record(sdtm):
    ex = sdtm["EX"].drop(columns=["EXDOSU"])
    ex.loc[0, "EXDOSE"] = np.nan
    sdtm["EX"] = ex
    got = found(sdtm, ["dosu-missing"])
    assert [g[3] for g in got] == sorted(range(2, len(ex) + 1), key=str)


def test_relative_timing_of_what_did_not_occur(sdtm):
    mh = sdtm["MH"]
    mh.loc[0, "MHOCCUR"] = "N"
    mh.loc[1, "MHOCCUR"] = "N"
    mh["MHSTRF"] = text_column(mh)
    mh["MHENRF"] = text_column(mh)
    mh.loc[0, "MHSTRF"] = "BEFORE"
    mh.loc[0, "MHENRF"] = "DURING"
    mh.loc[2, ["MHSTRF", "MHENRF"]] = "BEFORE"  # occurred: fine
    assert found(sdtm) == [
        ("enrf-when-not-occurred", "MH", "MHENRF", 1, mh.at[0, "USUBJID"]),
        ("strf-when-not-occurred", "MH", "MHSTRF", 1, mh.at[0, "USUBJID"]),
    ]


def test_medical_history_starting_on_or_after_the_reference_start(sdtm):
    mh, dm = sdtm["MH"], sdtm["DM"]
    start = dm.set_index("USUBJID")["RFSTDTC"]
    mh.loc[0, "MHSTDTC"] = start[mh.at[0, "USUBJID"]][:10]  # the same day: on the start
    mh.loc[1, "MHSTDTC"] = start[mh.at[1, "USUBJID"]][:7]  # the same month: undecided
    mh.loc[2, "MHSTDTC"] = "2019-12"  # after every reference start of the study
    assert found(sdtm) == [
        ("mh-start-after-rfstdtc", "MH", "MHSTDTC", 1, mh.at[0, "USUBJID"]),
        ("mh-start-after-rfstdtc", "MH", "MHSTDTC", 3, mh.at[2, "USUBJID"]),
    ]
    assert messages(sdtm, "mh-start-after-rfstdtc")[1] == (
        f"MHSTDTC '2019-12' is on or after DM.RFSTDTC '{start[mh.at[2, 'USUBJID']]}'; medical "
        "history holds conditions that began before the study (record later ones in AE or CE)."
    )
