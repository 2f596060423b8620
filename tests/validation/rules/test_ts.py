"""Trial Summary rules (trialflow.validation.rules.ts): the example study's TS passes, each
seeded defect is found exactly."""

from __future__ import annotations

import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.pipeline import map_study
from trialflow.validation.core import RULES, Dataset, Package

MINE = [c for c, r in RULES.items() if r.run is not None and r.run.__module__.endswith(".ts")]


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    run = map_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, tmp_path_factory.mktemp("out"), on_issue="none")
    return {name: frame.reset_index(drop=True) for name, frame in run.sdtm.domains.items()}


@pytest.fixture
def sdtm(mapped: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: frame.copy() for name, frame in mapped.items()}


def package(frames: dict[str, pd.DataFrame]) -> Package:
    return Package({n: Dataset.from_frame(n, f) for n, f in frames.items()})


def run(frames: dict[str, pd.DataFrame], code: str) -> list[tuple]:
    """(dataset, variable, record, value, message) of each finding of rule ``code``."""
    return [
        (f.dataset, f.variable, f.record, f.value, f.message)
        for f in RULES[code].run(package(frames))
    ]


def row(ts: pd.DataFrame, code: str) -> int:
    """0-based position of the first TS record of parameter ``code``."""
    return int(ts.index[ts["TSPARMCD"] == code][0])


def test_registered() -> None:
    assert len(MINE) == 20
    assert all(RULES[c].scope == "cross" for c in MINE)


def test_example_is_clean(sdtm: dict[str, pd.DataFrame]) -> None:
    assert {c: run(sdtm, c) for c in MINE} == {c: [] for c in MINE}


def test_ts_missing(sdtm: dict[str, pd.DataFrame]) -> None:
    del sdtm["TS"]
    found = run(sdtm, "ts-missing")
    assert [(d, r) for d, _, r, _, _ in found] == [("TS", None)]
    assert "no TS (Trial Summary) dataset" in found[0][4]
    assert run({}, "ts-missing") == []


def test_sstdtc_missing(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    ts.loc[row(ts, "SSTDTC"), "TSVAL"] = None
    found = run(sdtm, "ts-sstdtc-missing")
    assert [(d, v, r, val) for d, v, r, val, _ in found] == [("TS", "TSPARMCD", None, "SSTDTC")]
    sdtm["TS"] = ts[ts["TSPARMCD"] != "SSTDTC"]
    assert len(run(sdtm, "ts-sstdtc-missing")) == 1
    # SSTDTC is not reported twice: the required-parameter rule leaves it to this one
    assert run(sdtm, "ts-required-parameter-missing") == []


def test_required_parameter_missing(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    sdtm["TS"] = ts[~ts["TSPARMCD"].isin(["TPHASE", "ADDON", "OBJSEC"])]  # OBJSEC: optional
    found = run(sdtm, "ts-required-parameter-missing")
    assert sorted(v for _, _, _, v, _ in found) == ["ADDON", "TPHASE"]
    assert any("(Trial Phase Classification; P21 SD2214)" in m for *_, m in found)


def test_tsval_missing_and_with_tsvalnf(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    title, sponsor = row(ts, "TITLE"), row(ts, "SPONSOR")  # SPONSOR: TSVALNF = UNK
    ts.loc[title, "TSVAL"] = "  "
    ts.loc[sponsor, "TSVAL"] = "ACME"
    found = run(sdtm, "ts-tsval-missing")
    assert [(r, v) for _, _, r, v, _ in found] == [(title + 1, "TITLE")]
    found = run(sdtm, "ts-tsval-with-tsvalnf")
    assert [(r, v) for _, _, r, v, _ in found] == [(sponsor + 1, "UNK")]
    assert "TSVALNF must be null" in found[0][4]
    # without TSVALNF, a null TSVAL is still missing: the example's 9 null-flavored parameters
    # less SPONSOR (now valued), plus TITLE
    sdtm["TS"] = ts.drop(columns="TSVALNF")
    assert int(ts["TSVALNF"].notna().sum()) == 9
    assert len(run(sdtm, "ts-tsval-missing")) == 9


def test_tsparm_not_ct_name_and_one_to_one(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    agemin = row(ts, "AGEMIN")
    ts.loc[agemin, "TSPARM"] = "Minimum Age"
    found = run(sdtm, "ts-tsparm-not-ct-name")
    assert [(r, v) for _, _, r, v, _ in found] == [(agemin + 1, "Minimum Age")]
    assert "'Planned Minimum Age of Subjects'" in found[0][4]
    # case differences are not reported
    ts.loc[agemin, "TSPARM"] = "PLANNED MINIMUM AGE OF SUBJECTS"
    assert run(sdtm, "ts-tsparm-not-ct-name") == []
    # two names for OUTMSPRI (two records) are not one-to-one
    rows = ts.index[ts["TSPARMCD"] == "OUTMSPRI"]
    ts.loc[rows[1], "TSPARM"] = "Primary Endpoint"
    found = run(sdtm, "ts-tsparmcd-tsparm-not-one-to-one")
    assert [r for _, _, r, _, _ in found] == [rows[0] + 1, rows[1] + 1]


def test_formats(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    sst, agemax, length, plansub = (row(ts, c) for c in ("SSTDTC", "AGEMAX", "LENGTH", "PLANSUB"))
    ts.loc[sst, "TSVAL"] = "02JAN2019"
    ts.loc[agemax, "TSVAL"] = "70 years"
    ts.loc[length, "TSVAL"] = "P"
    ts.loc[plansub, "TSVAL"] = "16.5"
    assert [(r, v) for _, _, r, v, _ in run(sdtm, "ts-date-not-iso8601")] == [
        (sst + 1, "02JAN2019")
    ]
    found = run(sdtm, "ts-duration-not-iso8601")
    assert [(r, v) for _, _, r, v, _ in found] == sorted(
        [(agemax + 1, "70 years"), (length + 1, "P")]
    )
    assert [(r, v) for _, _, r, v, _ in run(sdtm, "ts-count-not-integer")] == [
        (plansub + 1, "16.5")
    ]
    # partial dates and durations with weeks or times are ISO 8601
    ts.loc[sst, "TSVAL"] = "2019-01"
    ts.loc[agemax, "TSVAL"] = "P16W"
    ts.loc[length, "TSVAL"] = "PT12H"
    assert run(sdtm, "ts-date-not-iso8601") == run(sdtm, "ts-duration-not-iso8601") == []


def test_value_not_in_codelist(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    random, fcntry = row(ts, "RANDOM"), row(ts, "FCNTRY")
    ts.loc[random, "TSVAL"] = "No"
    ts.loc[fcntry, "TSVAL"] = "China"
    found = run(sdtm, "ts-value-not-in-codelist")
    assert sorted((r, v) for _, _, r, v, _ in found) == sorted(
        [(random + 1, "No"), (fcntry + 1, "China")]
    )
    assert any("codelist NY" in m for *_, m in found)
    assert any("codelist COUNTRY" in m for *_, m in found)


def test_references(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    adapt, addon = row(ts, "ADAPT"), row(ts, "ADDON")
    ts.loc[adapt, "TSVCDREF"] = None
    ts.loc[addon, "TSVCDVER"] = None
    found = run(sdtm, "ts-tsvalcd-without-reference")
    assert [(r, v) for _, _, r, v, _ in found] == [(adapt + 1, "C49487")]
    found = run(sdtm, "ts-reference-without-version")
    assert [(r, v) for _, _, r, v, _ in found] == [(addon + 1, "CDISC CT")]
    # ISO 8601 has no version to give
    ts.loc[addon, "TSVCDREF"] = "ISO 8601"
    assert run(sdtm, "ts-reference-without-version") == []


def test_counts_against_ta_and_dm(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    narms, actsub = row(ts, "NARMS"), row(ts, "ACTSUB")
    ts.loc[narms, "TSVAL"] = "2"
    ts.loc[actsub, "TSVAL"] = "17"  # DM has 16 subjects
    found = run(sdtm, "ts-narms-not-ta-arms")
    assert [(r, v) for _, _, r, v, _ in found] == [(narms + 1, "2")]
    assert "TA has 1 distinct ARMCD" in found[0][4]
    found = run(sdtm, "ts-actsub-exceeds-dm")
    assert [(r, v) for _, _, r, v, _ in found] == [(actsub + 1, "17")]
    ts.loc[actsub, "TSVAL"] = "15"  # fewer than DM (screen failures) is fine
    assert run(sdtm, "ts-actsub-exceeds-dm") == []


def test_absent_variables_report_nothing(sdtm: dict[str, pd.DataFrame]) -> None:
    sdtm["TS"] = sdtm["TS"][["STUDYID", "DOMAIN", "TSSEQ"]]
    assert {c: run(sdtm, c) for c in MINE} == {c: [] for c in MINE}


def test_lengths(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    i, j = row(ts, "TITLE"), row(ts, "ADAPT")
    ts.loc[i, "TSPARMCD"] = "TRIALTITLE"  # 10 characters
    ts.loc[j, "TSPARM"] = "Adaptive Design " + "x" * 25  # 41 characters
    found = run(sdtm, "ts-tsparmcd-too-long")
    assert [(r, v) for _, _, r, v, _ in found] == [(i + 1, "TRIALTITLE")]
    assert "is 10 characters long; TSPARMCD is limited to 8" in found[0][4]
    found = run(sdtm, "ts-tsparm-too-long")
    assert [r for _, _, r, _, _ in found] == [j + 1]
    assert "is 41 characters long" in found[0][4]


def test_tsval_tsvalcd_not_one_to_one(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    random = row(ts, "RANDOM")  # N / C49487, as ADAPT and others
    ts.loc[random, "TSVALCD"] = "C49488"  # the code of Y
    found = run(sdtm, "ts-tsval-tsvalcd-not-one-to-one")
    # every record with TSVAL N or TSVALCD C49488 takes part in the broken pairs
    expected = ts.index[(ts["TSVAL"] == "N") | (ts["TSVALCD"] == "C49488")] + 1
    assert [r for _, _, r, _, _ in found] == list(expected)
    assert random + 1 in expected and len(expected) > 2


def test_conditional_parameters(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    # the example: STYPE INTERVENTIONAL, HLTSUBJI N, ADDON Y, INTTYPE BIOLOGIC
    ts = ts[~ts["TSPARMCD"].isin(["TRT", "TDIGRP", "CURTRT", "PCLAS"])].reset_index(drop=True)
    sdtm["TS"] = ts
    found = run(sdtm, "ts-required-parameter-missing")
    assert sorted(v for _, _, _, v, _ in found) == ["CURTRT", "PCLAS", "TDIGRP", "TRT"]
    assert any("(Investigational Therapy or Treatment; P21 SD2219)" in m for *_, m in found)
    # an observational study of healthy subjects, not added on, of a device: none is asked for
    for code, value in (
        ("STYPE", "OBSERVATIONAL"),
        ("HLTSUBJI", "Y"),
        ("ADDON", "N"),
        ("INTTYPE", "DEVICE"),
    ):
        ts.loc[row(ts, code), "TSVAL"] = value
    assert run(sdtm, "ts-required-parameter-missing") == []


def test_tsvalnf_invalid(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    i = row(ts, "SPONSOR")  # UNK
    ts.loc[i, "TSVALNF"] = "UNKNOWN"
    found = run(sdtm, "ts-tsvalnf-invalid")
    assert [(r, v) for _, _, r, v, _ in found] == [(i + 1, "UNKNOWN")]


def test_sstdtc_incomplete(sdtm: dict[str, pd.DataFrame]) -> None:
    ts = sdtm["TS"]
    i = row(ts, "SSTDTC")
    ts.loc[i, "TSVAL"] = "2019-01"
    assert [(r, v) for _, _, r, v, _ in run(sdtm, "ts-sstdtc-incomplete")] == [(i + 1, "2019-01")]
    ts.loc[i, "TSVAL"] = "2019-01-02T10:00"
    assert run(sdtm, "ts-sstdtc-incomplete") == []
    ts.loc[i, "TSVAL"] = "January 2019"  # not ISO 8601 at all: ts-date-not-iso8601's concern
    assert run(sdtm, "ts-sstdtc-incomplete") == []
    assert len(run(sdtm, "ts-date-not-iso8601")) == 1
