"""Trial design and visit rules (trialflow.validation.rules.trial_design): the example study
passes, each seeded defect is found exactly."""

from __future__ import annotations

import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.pipeline import map_study
from trialflow.validation.core import RULES, Dataset, Package

MINE = [
    c for c, r in RULES.items() if r.run is not None and r.run.__module__.endswith(".trial_design")
]
SUBJ = "HUCMSC-T2DM-01-002"


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    run = map_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, tmp_path_factory.mktemp("out"), on_issue="none")
    return {name: frame.reset_index(drop=True) for name, frame in run.sdtm.domains.items()}


@pytest.fixture
def sdtm(mapped: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: frame.copy() for name, frame in mapped.items()}


def run(frames: dict[str, pd.DataFrame], code: str) -> list[tuple]:
    """(dataset, variable, record, usubjid, value) of each finding of rule ``code``."""
    pkg = Package({n: Dataset.from_frame(n, f) for n, f in frames.items()})
    return [(f.dataset, f.variable, f.record, f.usubjid, f.value) for f in RULES[code].run(pkg)]


def messages(frames: dict[str, pd.DataFrame], code: str) -> list[str]:
    pkg = Package({n: Dataset.from_frame(n, f) for n, f in frames.items()})
    return [f.message for f in RULES[code].run(pkg)]


def where(frame: pd.DataFrame, **values: object) -> int:
    """0-based position of the first record with ``values``."""
    mask = pd.Series(True, index=frame.index)
    for column, value in values.items():
        mask &= frame[column] == value
    return int(frame.index[mask][0])


def test_registered() -> None:
    assert len(MINE) == 20  # visit-visitnum-not-one-to-one and 19 more


def test_example_is_clean(sdtm: dict[str, pd.DataFrame]) -> None:
    assert {c: run(sdtm, c) for c in MINE} == {c: [] for c in MINE}


def test_ta_te_elements(sdtm: dict[str, pd.DataFrame]) -> None:
    ta, te = sdtm["TA"], sdtm["TE"]
    fu = where(ta, ETCD="FU")
    ta.loc[fu, "ETCD"] = "FOLLOW"
    assert run(sdtm, "ta-etcd-not-in-te") == [("TA", "ETCD", fu + 1, None, "FOLLOW")]
    # TE's FU is now used by no arm
    assert run(sdtm, "te-etcd-not-in-ta") == [("TE", "ETCD", where(te, ETCD="FU") + 1, None, "FU")]
    ta.loc[fu, "ETCD"] = "FU"
    ta.loc[fu, "ELEMENT"] = "Follow up period"
    assert run(sdtm, "ta-element-not-te-element") == [
        ("TA", "ELEMENT", fu + 1, None, "Follow up period")
    ]
    assert "differs from TE's 'Follow-up'" in messages(sdtm, "ta-element-not-te-element")[0]
    ta.loc[fu, "ELEMENT"] = " FOLLOW-UP "  # case and blanks are not a difference
    assert run(sdtm, "ta-element-not-te-element") == []


def test_taetord_not_consecutive(sdtm: dict[str, pd.DataFrame]) -> None:
    ta = sdtm["TA"]
    fu = where(ta, ETCD="FU")
    ta.loc[fu, "TAETORD"] = 4.0  # 1, 2, 4
    assert run(sdtm, "ta-taetord-not-consecutive") == [("TA", "TAETORD", fu + 1, None, "4.0")]
    assert "which is element 3 of the arm" in messages(sdtm, "ta-taetord-not-consecutive")[0]


def test_dm_arm_not_in_ta(sdtm: dict[str, pd.DataFrame]) -> None:
    dm = sdtm["DM"]
    i = where(dm, USUBJID=SUBJ)
    dm.loc[i, "ACTARMCD"] = "PLACEBO"
    dm.loc[i + 1, "ARMCD"] = "SCRNFAIL"  # the pre-3.3 codes are never in TA
    assert run(sdtm, "dm-arm-not-in-ta") == [("DM", "ACTARMCD", i + 1, SUBJ, "PLACEBO")]
    assert "TA has HUCMSC" in messages(sdtm, "dm-arm-not-in-ta")[0]


def test_tv_visitdy_not_ascending(sdtm: dict[str, pd.DataFrame]) -> None:
    tv = sdtm["TV"]
    i = where(tv, VISITNUM=3.0)
    tv.loc[i, "VISITDY"] = 10.0  # after day 14 of visit 2
    assert run(sdtm, "tv-visitdy-not-ascending") == [("TV", "VISITDY", i + 1, None, "10.0")]
    assert "before day 14" in messages(sdtm, "tv-visitdy-not-ascending")[0]


def test_ie_ietestcd_not_in_ti(sdtm: dict[str, pd.DataFrame]) -> None:
    sdtm["IE"] = pd.DataFrame(
        {"USUBJID": [SUBJ, SUBJ], "IETESTCD": ["INCL01", "INCL09"], "IECAT": ["INCLUSION"] * 2}
    )
    assert run(sdtm, "ie-ietestcd-not-in-ti") == [("IE", "IETESTCD", 2, SUBJ, "INCL09")]


def test_planned_visits_against_tv(sdtm: dict[str, pd.DataFrame]) -> None:
    lb, vs = sdtm["LB"], sdtm["VS"]
    i = where(lb, USUBJID=SUBJ, VISITNUM=5.0)
    lb.loc[i, "VISITNUM"] = 6.0  # a whole number: planned, and not in TV
    j = where(vs, USUBJID=SUBJ, VISITNUM=2.0)
    vs.loc[j, "VISIT"] = "WEEK 2"
    assert run(sdtm, "planned-visitnum-not-in-tv") == [("LB", "VISITNUM", i + 1, SUBJ, "6.0")]
    assert run(sdtm, "planned-visit-not-in-tv") == [("VS", "VISIT", j + 1, SUBJ, "WEEK 2")]
    # the unscheduled visit 4.01 (SV: SVPRESP null) is not a planned visit
    unplanned = int((sdtm["LB"]["VISITNUM"] == 4.01).sum() + (vs["VISITNUM"] == 4.01).sum())
    assert unplanned == 7  # 2 LB and 5 VS records of subject 01-004's unscheduled visit
    # an SV record saying the visit was planned makes it one, decimals or not
    sv = sdtm["SV"]
    k = where(sv, VISITNUM=4.01)
    sv.loc[k, "SVPRESP"] = "Y"
    found = run(sdtm, "planned-visitnum-not-in-tv")
    assert ("SV", "VISITNUM", k + 1, sv.loc[k, "USUBJID"], "4.01") in found
    # LB's visit 6 and the SV record, and now the LB and VS records of visit 4.01 too
    assert len(found) == 2 + unplanned


def test_visitdy_against_tv(sdtm: dict[str, pd.DataFrame]) -> None:
    sv = sdtm["SV"]
    i = where(sv, USUBJID=SUBJ, VISITNUM=3.0)
    sv.loc[i, "VISITDY"] = 22.0
    k = where(sv, VISITNUM=4.01)
    sv.loc[k, "VISITDY"] = 38.0
    assert run(sdtm, "visitdy-not-tv-visitdy") == [("SV", "VISITDY", i + 1, SUBJ, "22.0")]
    assert "TV plans the visit on day 21" in messages(sdtm, "visitdy-not-tv-visitdy")[0]
    assert run(sdtm, "unplanned-visitdy-populated") == [
        ("SV", "VISITDY", k + 1, sv.loc[k, "USUBJID"], "38.0")
    ]


def test_visitnum_not_in_sv(sdtm: dict[str, pd.DataFrame]) -> None:
    sv = sdtm["SV"]
    sdtm["SV"] = sv[~((sv["USUBJID"] == SUBJ) & (sv["VISITNUM"] == 4.0))]
    lb, vs = sdtm["LB"], sdtm["VS"]
    expected = [
        ("LB", "VISITNUM", i + 1, SUBJ, "4.0")
        for i in lb.index[(lb["USUBJID"] == SUBJ) & (lb["VISITNUM"] == 4.0)]
    ] + [
        ("VS", "VISITNUM", i + 1, SUBJ, "4.0")
        for i in vs.index[(vs["USUBJID"] == SUBJ) & (vs["VISITNUM"] == 4.0)]
    ]
    assert len(expected) > 1
    assert sorted(run(sdtm, "visitnum-not-in-sv")) == sorted(expected)


def test_epoch(sdtm: dict[str, pd.DataFrame]) -> None:
    ae, lb = sdtm["AE"], sdtm["LB"]
    ae.loc[0, "EPOCH"] = "SCREENING"
    lb.loc[3, "EPOCH"] = None
    assert run(sdtm, "epoch-not-in-ta") == [("AE", "EPOCH", 1, ae.loc[0, "USUBJID"], "SCREENING")]
    assert "(FOLLOW-UP, RUN-IN, TREATMENT)" in messages(sdtm, "epoch-not-in-ta")[0]
    assert run(sdtm, "epoch-missing") == [
        ("LB", "EPOCH", 4, lb.loc[3, "USUBJID"], lb.loc[3, "LBDTC"])
    ]
    # no date, no epoch expected
    lb.loc[3, "LBDTC"] = None
    assert run(sdtm, "epoch-missing") == []


def test_subject_elements(sdtm: dict[str, pd.DataFrame]) -> None:
    se = sdtm["SE"]
    first = where(se, USUBJID=SUBJ, ETCD="RUNIN")
    treat, fu = first + 1, first + 2
    se.loc[fu, "ETCD"] = "OTHER"
    assert run(sdtm, "se-element-not-in-arm") == [("SE", "ETCD", fu + 1, SUBJ, "OTHER")]
    se.loc[fu, "ETCD"] = "UNPLAN"  # unplanned elements are allowed
    assert run(sdtm, "se-element-not-in-arm") == []
    # a gap between the treatment element and follow-up
    se.loc[treat, "SEENDTC"] = "2019-06-01"
    assert run(sdtm, "se-not-contiguous") == [("SE", "SEENDTC", treat + 1, SUBJ, "2019-06-01")]
    assert "next element starts '2019-06-02T10:15'" in messages(sdtm, "se-not-contiguous")[0]
    # the end at a coarser precision than the next start is not a gap
    se.loc[treat, "SEENDTC"] = "2019-06-02"
    assert run(sdtm, "se-not-contiguous") == []
    se.loc[treat, "TAETORD"] = 3.0
    se.loc[fu, "TAETORD"] = 2.0
    assert run(sdtm, "se-taetord-out-of-order") == [("SE", "TAETORD", fu + 1, SUBJ, "2.0")]


def test_absent_datasets_report_nothing(sdtm: dict[str, pd.DataFrame]) -> None:
    for name in ("TA", "TE", "TV", "TI", "SV", "SE"):
        del sdtm[name]
    assert {c: run(sdtm, c) for c in MINE} == {c: [] for c in MINE}


def test_tv_arm_not_in_ta(sdtm: dict[str, pd.DataFrame]) -> None:
    tv = sdtm["TV"]
    tv["ARMCD"] = tv["ARMCD"].astype(object)
    tv.loc[1, "ARMCD"] = "HUCMSC"
    tv.loc[2, "ARMCD"] = "PBO"
    assert run(sdtm, "tv-arm-not-in-ta") == [("TV", "ARMCD", 3, None, "PBO")]
    tv["ARM"] = None
    tv.loc[0, "ARM"] = "Placebo"
    assert run(sdtm, "tv-arm-not-in-ta") == [
        ("TV", "ARMCD", 3, None, "PBO"),
        ("TV", "ARM", 1, None, "Placebo"),
    ]


def test_etcd_too_long(sdtm: dict[str, pd.DataFrame]) -> None:
    for name in ("TA", "TE", "SE"):
        frame = sdtm[name]
        frame.loc[frame["ETCD"] == "FU", "ETCD"] = "FOLLOWUP1"  # 9 characters
    found = run(sdtm, "etcd-too-long")
    counts = {name: sum(1 for d, *_ in found if d == name) for name in ("TA", "TE", "SE")}
    assert counts == {"TA": 1, "TE": 1, "SE": 16}  # one follow-up element per subject
    assert all(v == "FOLLOWUP1" for *_, v in found)
