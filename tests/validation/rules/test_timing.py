"""Rules of trialflow.validation.rules.timing: the clean example passes, each seeded defect is
found exactly (rule, dataset, variable, record, subject), edge cases stay quiet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.pipeline import map_study
from trialflow.validation.core import RULES, Dataset, Package

TIMING_RULES = [
    code
    for code, r in RULES.items()
    if r.run is not None and r.run.__module__.rsplit(".", 1)[-1] == "timing"
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


def found(frames: dict[str, pd.DataFrame], codes: list[str] = TIMING_RULES) -> list[tuple]:
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
    assert RULES["date-after-participation-end"].refs == (
        "CORE-000720",
        "FB3406",
        "CORE-000952",
        "FB3407",
    )
    assert RULES["end-without-start"].severity == "warning"
    assert RULES["duration-negative"].refs == ("CORE-000305", "FB4005")
    assert {RULES[c].scope for c in TIMING_RULES} == {"cross"}


def test_clean_example_has_no_findings(sdtm):
    assert found(sdtm) == []


def test_start_day_after_end_day(sdtm):
    ae = sdtm["AE"]
    start, day = ae.at[1, "AESTDTC"], int(ae.at[1, "AESTDY"])
    assert len(start) == 10 and day > 1  # a complete date after day 1: the day before is day - 1
    before = (pd.Timestamp(start) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    ae.loc[1, ["AEENDTC", "AEENDY"]] = [before, day - 1]
    assert found(sdtm) == [
        ("start-after-end", "AE", "AESTDTC", 2, ae.at[1, "USUBJID"]),
        ("study-day-after-end-day", "AE", "AESTDY", 2, ae.at[1, "USUBJID"]),
    ]
    assert messages(sdtm, "study-day-after-end-day") == [
        f"AESTDY {day} is after AEENDY {day - 1}; the start day must not be after the end day."
    ]


def test_collection_day_after_end_day(sdtm):
    lb = sdtm["LB"]
    lb["LBENDY"] = lb["LBDY"]
    lb.loc[0, "LBENDY"] = lb.at[0, "LBDY"] - 1
    assert found(sdtm) == [("study-day-after-end-day", "LB", "LBDY", 1, lb.at[0, "USUBJID"])]


def test_collection_after_its_end(sdtm):
    lb = sdtm["LB"]
    lb["LBENDTC"] = text_column(lb)
    lb.loc[0, "LBENDTC"] = "2019-01-01"
    lb.loc[1, "LBENDTC"] = lb.at[1, "LBDTC"][:7]  # the same month: undecided
    assert found(sdtm) == [("collection-after-end", "LB", "LBDTC", 1, lb.at[0, "USUBJID"])]
    assert messages(sdtm, "collection-after-end") == [
        f"LBDTC '{lb.at[0, 'LBDTC']}' is after LBENDTC '2019-01-01'; check both dates."
    ]


def test_dates_after_the_end_of_participation(sdtm):
    vs, ae, dm = sdtm["VS"], sdtm["AE"], sdtm["DM"]
    end = dm.set_index("USUBJID")["RFPENDTC"]
    vs.loc[0, ["VSDTC", "VSDY"]] = ["2020-01", np.nan]
    vs.loc[1, ["VSDTC", "VSDY"]] = [end[vs.at[1, "USUBJID"]][:7], np.nan]  # same month
    ae.loc[0, "AEENDTC"] = "2020"
    assert found(sdtm) == [
        ("date-after-participation-end", "AE", "AEENDTC", 1, ae.at[0, "USUBJID"]),
        ("date-after-participation-end", "VS", "VSDTC", 1, vs.at[0, "USUBJID"]),
    ]
    assert messages(sdtm, "date-after-participation-end")[0] == (
        f"VSDTC '2020-01' is after DM.RFPENDTC '{end[vs.at[0, 'USUBJID']]}', the end of the "
        "subject's participation; check the date or RFPENDTC."
    )


def test_reference_time_points_need_their_relation(sdtm):
    mh = sdtm["MH"]
    mh.loc[0, "MHENRTPT"] = np.nan
    mh["MHSTTPT"] = text_column(mh)
    mh.loc[1, "MHSTTPT"] = "SCREENING"
    assert found(sdtm) == [
        ("entpt-without-enrtpt", "MH", "MHENRTPT", 1, mh.at[0, "USUBJID"]),
        ("sttpt-without-strtpt", "MH", "MHSTRTPT", 2, mh.at[1, "USUBJID"]),
    ]
    assert messages(sdtm, "entpt-without-enrtpt") == [
        "MHENTPT is 'SCREENING' but MHENRTPT is missing; MHENRTPT says where the observation "
        "lies relative to MHENTPT (e.g. BEFORE, COINCIDENT, AFTER, ONGOING)."
    ]


def test_relative_timing_needs_the_reference_period(sdtm):
    ae, dm = sdtm["AE"], sdtm["DM"]
    ae["AESTRF"] = text_column(ae)
    ae["AEENRF"] = text_column(ae)
    ae.loc[[0, 1], ["AESTRF", "AEENRF"]] = "DURING"
    ae.loc[1, "USUBJID"] = "NOT-IN-DM"  # an unknown subject is usubjid-not-in-dm's finding
    dm.loc[dm["USUBJID"] == ae.at[0, "USUBJID"], ["RFSTDTC", "RFENDTC"]] = np.nan
    codes = ["enrf-without-rfendtc", "strf-without-rfstdtc"]
    assert found(sdtm, codes) == [
        ("enrf-without-rfendtc", "AE", "AEENRF", 1, ae.at[0, "USUBJID"]),
        ("strf-without-rfstdtc", "AE", "AESTRF", 1, ae.at[0, "USUBJID"]),
    ]


def test_negative_duration(sdtm):
    ae = sdtm["AE"]
    ae["AEDUR"] = text_column(ae)
    ae.loc[0, "AEDUR"] = "-P2D"
    ae.loc[1, "AEDUR"] = "P2D"
    ae.loc[2, "AEDUR"] = "P0000-00-02T12:00:00"  # ISO 8601 alternative format: not negative
    assert found(sdtm) == [("duration-negative", "AE", "AEDUR", 1, ae.at[0, "USUBJID"])]


def test_end_without_start(sdtm):
    ae, mh, lb = sdtm["AE"], sdtm["MH"], sdtm["LB"]
    ae.loc[3, ["AESTDTC", "AESTDY"]] = np.nan
    mh.loc[4, "MHSTDTC"] = np.nan
    lb["LBENDTC"] = lb["LBDTC"]  # Findings are not checked: LBDTC is their start
    assert found(sdtm) == [
        ("end-without-start", "AE", "AESTDTC", 4, ae.at[3, "USUBJID"]),
        ("end-without-start", "MH", "MHSTDTC", 5, mh.at[4, "USUBJID"]),
    ]
    assert messages(sdtm, "end-without-start") == [
        f"AEENDTC '{ae.at[3, 'AEENDTC']}' but no start is given (AESTDTC); give the start date "
        "or its relation to the reference period.",
        "MHENRTPT 'ONGOING' but no start is given (MHSTDTC); give the start date or its "
        "relation to the reference period.",
    ]


def test_subject_values_looks_up_each_record():
    from trialflow.validation.rules.timing import subject_values

    frame = pd.DataFrame({"USUBJID": [" B", "A", None, "C", "A"]})
    got = subject_values(frame, pd.Series({"A": "2019-01-01", "B": "2019-02-02"}))
    assert got.tolist()[:2] == ["2019-02-02", "2019-01-01"]
    assert pd.isna(got.iloc[2]) and pd.isna(got.iloc[3])
    assert got.iloc[4] == "2019-01-01"
