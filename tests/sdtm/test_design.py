"""Trial design datasets from study.yaml (TS, TA, TE, TV, TI) and SV, SE (trialflow.sdtm.design).

Expected values come from the example study.yaml (the published design), from SDTMIG 3.4 (SV
assumptions 4 and 16, TV ARMCD empty when visits do not depend on the arm) and from CDISC CT
(NY: N = C49487, Y = C49488). Subjects and dates are synthetic.
"""

from __future__ import annotations

import pandas as pd
import pytest
from support import line_of, replace_once

from trialflow.errors import SpecError
from trialflow.mapping.load import load_study
from trialflow.pipeline import map_study
from trialflow.sdtm.design import (
    build_trial_design,
    subject_elements,
    subject_visits,
    trial_arms,
    trial_criteria,
    trial_elements,
    trial_summary,
    trial_visits,
    ts_parameters,
)

NA = pd.NA


def _dm(rows: list[dict]) -> pd.DataFrame:
    columns = [
        "USUBJID",
        "ARMCD",
        "ARMNRS",
        "RFICDTC",
        "RFSTDTC",
        "RFXSTDTC",
        "RFXENDTC",
        "RFENDTC",
        "RFPENDTC",
    ]
    return pd.DataFrame([{c: r.get(c, NA) for c in columns} for r in rows]).astype("str")


def _ts(frame: pd.DataFrame, code: str) -> list[list]:
    cols = ["TSSEQ", "TSVAL", "TSVALNF", "TSVALCD", "TSVCDREF", "TSVCDVER"]
    rows = frame.loc[frame["TSPARMCD"] == code, cols].astype("object")
    return rows.where(rows.notna(), None).values.tolist()


# --- TS ---------------------------------------------------------------------------------------


def test_ts_values_null_flavours_codes_and_derived_parameters(study_copy):
    study = load_study(study_copy)
    dm = _dm(
        [
            {"USUBJID": "S-1", "ARMCD": "HUCMSC"},
            {"USUBJID": "S-2", "ARMCD": "HUCMSC"},
            {"USUBJID": "S-3", "ARMNRS": "SCREEN FAILURE"},
        ]
    )
    ts, lineage = trial_summary(study, dm)
    assert (ts["STUDYID"] == "HUCMSC-T2DM").all() and (ts["DOMAIN"] == "TS").all()
    assert _ts(ts, "SSTDTC") == [[1.0, "2019-01-02", None, None, None, None]]
    assert _ts(ts, "TTYPE") == [
        [1.0, "EFFICACY", None, None, None, None],
        [2.0, "SAFETY", None, None, None, None],
    ]
    assert _ts(ts, "PCLAS") == [[1.0, None, "NA", None, None, None]]
    assert _ts(ts, "SPONSOR") == [[1.0, None, "UNK", None, None, None]]
    assert _ts(ts, "RANDOM") == [[1.0, "N", None, "C49487", "CDISC CT", "2024-09-27"]]
    assert _ts(ts, "ADDON") == [[1.0, "Y", None, "C49488", "CDISC CT", "2024-09-27"]]
    assert _ts(ts, "AGEMIN") == [[1.0, "P18Y", None, None, None, None]]
    assert _ts(ts, "AGEMAX") == [[1.0, "P70Y", None, None, None, None]]
    assert _ts(ts, "PLANSUB") == [[1.0, "16", None, None, None, None]]
    # derived: subjects who entered (the screen failure is not counted), arms, versions
    assert _ts(ts, "ACTSUB") == [[1.0, "2", None, None, None, None]]
    assert _ts(ts, "NARMS") == [[1.0, "1", None, None, None, None]]
    assert _ts(ts, "SDTIGVER") == [[1.0, "3.4", None, None, None, None]]
    assert _ts(ts, "SDTMVER") == [[1.0, "2.0", None, None, None, None]]
    assert ts.loc[ts["TSPARMCD"] == "TBLIND", "TSPARM"].tolist() == ["Trial Blinding Schema"]
    # every parameter FDA requires is there, with a value or a null flavour, never both
    required = ts_parameters().query("required == 'Y'")["tsparmcd"]
    assert set(required) <= set(ts["TSPARMCD"])
    assert (ts["TSVAL"].isna() != ts["TSVALNF"].isna()).all()
    assert ts.columns.tolist() == [
        "STUDYID",
        "DOMAIN",
        "TSSEQ",
        "TSPARMCD",
        "TSPARM",
        "TSVAL",
        "TSVALNF",
        "TSVALCD",
        "TSVCDREF",
        "TSVCDVER",
    ]
    # lineage: the study.yaml line of each value
    row = lineage.loc[ts.index[ts["TSPARMCD"] == "TBLIND"][0]]
    assert row["source_sheet"] == "trial.summary.TBLIND"
    assert row["source_row"] == line_of(study_copy / "study.yaml", "TBLIND: OPEN LABEL")


def test_a_missing_required_ts_parameter_names_the_key_to_add(study_copy):
    replace_once(study_copy / "study.yaml", "    SPONSOR: {nf: UNK}", "")
    with pytest.raises(SpecError) as err:
        trial_summary(load_study(study_copy), _dm([{"USUBJID": "S-1", "ARMCD": "HUCMSC"}]))
    text = str(err.value)
    # at the line of trial.summary, the mapping the key goes into
    assert f"study.yaml:{line_of(study_copy / 'study.yaml', '  summary:')}" in text
    assert "trial.summary.SPONSOR" in text
    assert "add trial.summary.SPONSOR" in text


def test_a_value_outside_the_parameters_codelist_is_a_spec_error(study_copy):
    replace_once(study_copy / "study.yaml", 'RANDOM: "N"', "RANDOM: No way")
    with pytest.raises(SpecError, match=r"trial\.summary\.RANDOM.*not a term of codelist NY"):
        trial_summary(load_study(study_copy), _dm([{"USUBJID": "S-1", "ARMCD": "HUCMSC"}]))


def test_a_derived_parameter_in_study_yaml_is_a_spec_error(study_copy):
    replace_once(study_copy / "study.yaml", "    PLANSUB: 16", "    PLANSUB: 16\n    ACTSUB: 16")
    with pytest.raises(SpecError, match=r"trial\.summary\.ACTSUB.*derived"):
        trial_summary(load_study(study_copy), _dm([{"USUBJID": "S-1", "ARMCD": "HUCMSC"}]))


def test_an_unknown_element_in_an_arm_is_a_spec_error_at_its_line(study_copy):
    path = study_copy / "study.yaml"
    replace_once(path, "HUCMSC: [RUNIN, HUCMSC, FU]", "HUCMSC: [RUNIN, TREAT, FU]")
    with pytest.raises(SpecError) as err:
        load_study(study_copy)
    assert f"study.yaml:{line_of(path, 'HUCMSC: [RUNIN, TREAT, FU]')}" in str(err.value)
    assert "'TREAT' is not an element" in str(err.value)


# --- TA, TE, TV, TI ---------------------------------------------------------------------------


def test_tv_has_each_planned_visit_with_its_planned_day(study_copy):
    tv, _ = trial_visits(load_study(study_copy))
    assert tv[["VISITNUM", "VISIT", "VISITDY"]].values.tolist() == [
        [1.0, "DAY 0", 0.0],
        [2.0, "DAY 14", 14.0],
        [3.0, "DAY 21", 21.0],
        [4.0, "DAY 28", 28.0],
        [5.0, "DAY 84", 84.0],
    ]
    # the schedule does not depend on the arm: ARMCD is empty (SDTMIG 3.4 TV)
    assert tv["ARMCD"].isna().all()
    assert tv["TVSTRL"].iloc[1] == "Day 14 of the visit schedule, window +/- 3 days"


def test_ta_te_ti_from_the_trial_section(study_copy):
    study = load_study(study_copy)
    ta, _ = trial_arms(study)
    assert ta[["ARMCD", "TAETORD", "ETCD", "EPOCH"]].values.tolist() == [
        ["HUCMSC", 1.0, "RUNIN", "RUN-IN"],
        ["HUCMSC", 2.0, "HUCMSC", "TREATMENT"],
        ["HUCMSC", 3.0, "FU", "FOLLOW-UP"],
    ]
    te, _ = trial_elements(study)
    assert te.set_index("ETCD").loc["RUNIN", ["TESTRL", "TEDUR"]].tolist() == [
        "Informed consent",
        "P16W",
    ]
    ti, _ = trial_criteria(study)
    assert ti["IECAT"].value_counts().to_dict() == {"INCLUSION": 4, "EXCLUSION": 2}
    assert ti.loc[ti["IETESTCD"] == "INCL02", "IETEST"].tolist() == ["Age 18 to 70 years"]


# --- SV ---------------------------------------------------------------------------------------


def _lineage(frame: pd.DataFrame, sheet: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"source_file": "raw.xlsx", "source_sheet": sheet, "source_row": range(2, len(frame) + 2)}
    )


def test_sv_shows_attended_missed_and_unscheduled_visits(study_copy):
    study = load_study(study_copy)
    dm = _dm(
        [
            {"USUBJID": "S-1", "ARMCD": "HUCMSC", "RFSTDTC": "2019-01-08"},
            {"USUBJID": "S-2", "ARMCD": "HUCMSC", "RFSTDTC": "2019-02-08"},
        ]
    )
    # S-1: DAY 0, DAY 14, (DAY 21 missed), DAY 28, an unscheduled visit 4.01; no DAY 84 yet
    # S-2: DAY 0 only (left the study: no record for the visits after it)
    vs = pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-1", "S-1", "S-1", "S-2"],
            "VISITNUM": [1.0, 2.0, 4.0, 4.01, 1.0],
            "VISIT": ["DAY 0", "DAY 14", "DAY 28", "UNSCHEDULED 4.01", "DAY 0"],
            "VSDTC": ["2019-01-01", "2019-01-15", "2019-01-29", "2019-02-10", "2019-02-01"],
        }
    )
    lb = pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-1"],
            "VISITNUM": [1.0, 2.0],
            "VISIT": ["DAY 0", "DAY 14"],
            "LBDTC": ["2019-01-02T08:00", "2019-01-14"],
        }
    )
    domains = {"DM": dm, "VS": vs, "LB": lb}
    lineage = {"VS": _lineage(vs, "VITALS"), "LB": _lineage(lb, "LAB")}
    sv, sv_lineage, findings = subject_visits(study, domains, lineage)
    cols = [
        "USUBJID",
        "VISITNUM",
        "VISIT",
        "SVPRESP",
        "SVOCCUR",
        "VISITDY",
        "SVSTDTC",
        "SVENDTC",
        "SVSTDY",
        "SVENDY",
    ]
    got = sv[cols].astype("object")
    assert got.where(got.notna(), None).values.tolist() == [
        ["S-1", 1.0, "DAY 0", "Y", "Y", 0.0, "2019-01-01", "2019-01-02T08:00", -7.0, -6.0],
        ["S-1", 2.0, "DAY 14", "Y", "Y", 14.0, "2019-01-14", "2019-01-15", 7.0, 8.0],
        ["S-1", 3.0, "DAY 21", "Y", "N", 21.0, None, None, None, None],
        ["S-1", 4.0, "DAY 28", "Y", "Y", 28.0, "2019-01-29", "2019-01-29", 22.0, 22.0],
        ["S-1", 4.01, "UNSCHEDULED 4.01", None, None, None, "2019-02-10", "2019-02-10", 34.0, 34.0],
        ["S-2", 1.0, "DAY 0", "Y", "Y", 0.0, "2019-02-01", "2019-02-01", -7.0, -7.0],
    ]
    # lineage: the earliest record of the visit (DAY 14: the LB record of 2019-01-14);
    # the missed visit points at its line in study.yaml visits
    assert sv_lineage[["source_sheet", "source_row"]].values.tolist()[:3] == [
        ["VITALS", 2],
        ["LAB", 3],
        ["visits", line_of(study_copy / "study.yaml", "{visitnum: 3, visit: DAY 21")],
    ]
    assert [(f.code, f.usubjid, f.value, f.record) for f in findings] == [
        ("planned-visit-missed", "S-1", "DAY 21", 3)
    ]


# --- SE ---------------------------------------------------------------------------------------


def test_se_elements_from_the_dm_reference_dates(study_copy):
    study = load_study(study_copy)
    dm = _dm(
        [
            {
                "USUBJID": "S-1",
                "ARMCD": "HUCMSC",
                "RFICDTC": "2018-10-02",
                "RFSTDTC": "2019-01-08T09:00",
                "RFXSTDTC": "2019-01-08T09:00",
                "RFXENDTC": "2019-01-22T09:05",
                "RFENDTC": "2019-04-01",
            },
            # never treated: the run-in ends with the subject's participation
            {"USUBJID": "S-2", "ARMCD": "HUCMSC", "RFICDTC": "2018-10-20", "RFENDTC": "2018-12-01"},
        ]
    )
    se, lineage = subject_elements(study, dm, None)
    cols = [
        "USUBJID",
        "SESEQ",
        "ETCD",
        "TAETORD",
        "EPOCH",
        "SESTDTC",
        "SEENDTC",
        "SESTDY",
        "SEENDY",
    ]
    got = se[cols].astype("object")
    assert got.where(got.notna(), None).values.tolist() == [
        ["S-1", 1.0, "RUNIN", 1.0, "RUN-IN", "2018-10-02", "2019-01-08T09:00", -98.0, 1.0],
        ["S-1", 2.0, "HUCMSC", 2.0, "TREATMENT", "2019-01-08T09:00", "2019-01-22T09:05", 1.0, 15.0],
        ["S-1", 3.0, "FU", 3.0, "FOLLOW-UP", "2019-01-22T09:05", "2019-04-01", 15.0, 84.0],
        ["S-2", 1.0, "RUNIN", 1.0, "RUN-IN", "2018-10-20", "2018-12-01", None, None],
    ]
    assert lineage["SEENDTC"].tolist()[-1] == "derived: DM.RFPENDTC (or RFENDTC)"


# --- the SDTM step writes them -----------------------------------------------------------------


def test_map_writes_the_trial_design_and_sv_se_with_lineage(study_copy, tiny_export, tmp_path):
    run = map_study(study_copy, tiny_export, tmp_path / "out", on_issue="none")
    for name in ["ts", "ta", "te", "tv", "ti", "sv", "se"]:
        assert (tmp_path / "out" / "sdtm" / f"{name}.xpt").is_file()
        assert (tmp_path / "out" / "lineage" / f"{name}.csv").is_file()
    assert _ts(run.sdtm.domains["TS"], "ACTSUB") == [[1.0, "2", None, None, None, None]]
    assert sorted(run.sdtm.domains["SV"]["USUBJID"].unique()) == sorted(
        run.sdtm.domains["DM"]["USUBJID"]
    )


def test_no_trial_section_no_trial_design(study_copy):
    text = (study_copy / "study.yaml").read_text()
    start = text.index("trial:\n")
    end = text.index("# Analysis datasets (ADaM).")
    (study_copy / "study.yaml").write_text(text[:start] + text[end:])
    assert build_trial_design(load_study(study_copy), {}, {}) == ({}, {}, [])


def test_map_stops_on_a_missing_ts_parameter_before_mapping(study_copy, tiny_export, tmp_path):
    replace_once(study_copy / "study.yaml", "    DCUTDTC: {nf: NA}             # final", "    # ")
    with pytest.raises(SpecError, match=r"add trial\.summary\.DCUTDTC"):
        map_study(study_copy, tiny_export, tmp_path / "out", on_issue="none")
    assert not (tmp_path / "out").exists()
