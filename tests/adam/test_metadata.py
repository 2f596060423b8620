"""ADaMIG variable metadata shipped in trialflow/adam/data and its reader."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from trialflow.adam import metadata as am
from trialflow.adam.metadata import (
    ADAMIG_VERSION,
    UnknownAdamDataset,
    adam_class,
    adam_label,
    adam_variables,
    arrange_adam,
    known_adam_datasets,
)
from trialflow.sdtm.metadata import MetadataError, codelist

STRUCTURES = ("ADSL", "ADLB", "ADAE")  # one dataset per structure: ADSL, BDS, OCCDS
COLUMNS = [
    "dataset", "dataset_label", "order", "name", "label", "type", "length", "core",
    "codelist", "format", "origin", "source", "sponsor", "method",
]  # fmt: skip

REQUIRED_ORDER = {
    "ADSL": (
        "STUDYID USUBJID SUBJID SITEID COUNTRY AGE AGEU SEX RACE ETHNIC ARM ARMCD ACTARM "
        "ACTARMCD TRT01P TRT01PN TRT01A TRT01AN TRTSDT TRTSDTM TRTEDT TRTEDTM TRTDURD RFSTDTC "
        "RFENDTC RFXSTDTC RFXENDTC DTHFL SAFFL FASFL NINFUS CUMDOSE CUMDOSU HEIGHTBL WEIGHTBL "
        "BMIBL DIABDXDT DIABDXF DIABDURY HBA1CBL EOSSTT EOSDT DCSREAS"
    ),
    "ADLB": (
        "STUDYID USUBJID SUBJID SITEID TRT01P TRT01A TRTSDT TRTEDT SAFFL FASFL PARAMCD PARAM "
        "PARAMN PARCAT1 AVAL AVALC BASE BASEC CHG PCHG ABLFL ANL01FL ADT ADTM ADY ATPT ATPTN "
        "AVISIT AVISITN AWTARGET AWTDIFF AWLO AWHI AWU VISIT VISITNUM ANRLO ANRHI ANRIND BNRIND "
        "DTYPE IMPUTFL SRCDOM SRCVAR SRCSEQ SRCRECS"
    ),
    "ADAE": (
        "STUDYID USUBJID SUBJID SITEID AESEQ TRT01P TRT01A TRTA TRTAN TRTSDT TRTEDT SAFFL "
        "AETERM AEDECOD AEBODSYS AESOC AESEV AESER AEREL AEACN AEOUT AESTDTC AEENDTC ASTDT "
        "ASTDTF AENDT AENDTF ASTDY AENDY ADURN ADURU IMPUTFL TRTEMFL PREFL INFNUM INFDT INFDAYS "
        "AOCCFL AOCCSFL AOCCPFL"
    ),
}

SPONSOR = {
    "ADSL": {
        "NINFUS": ("Number of Infusions Received", "Num"),
        "CUMDOSE": ("Cumulative Dose", "Num"),
        "CUMDOSU": ("Cumulative Dose Units", "Char"),
        "HEIGHTBL": ("Baseline Height (cm)", "Num"),
        "WEIGHTBL": ("Baseline Weight (kg)", "Num"),
        "BMIBL": ("Baseline BMI (kg/m2)", "Num"),
        "DIABDXDT": ("Date of Diabetes Diagnosis", "Num"),
        "DIABDXF": ("Date of Diabetes Diagnosis Imput. Flag", "Char"),
        "DIABDURY": ("Duration of Diabetes (years)", "Num"),
        "HBA1CBL": ("Baseline HbA1c (%)", "Num"),
    },
    "ADLB": {
        "SRCRECS": ("Source Records of Computed Record", "Char"),
        "IMPUTFL": ("Imputed Value Used Flag", "Char"),
    },
    "ADAE": {
        "IMPUTFL": ("Imputed Value Used Flag", "Char"),
        "INFNUM": ("Number of Nearest Preceding Infusion", "Num"),
        "INFDT": ("Date of Nearest Preceding Infusion", "Num"),
        "INFDAYS": ("Days Since Nearest Preceding Infusion", "Num"),
    },
}

# ADaM CT codelists (not shipped in trialflow's SDTM CT file): ADaM CT 2025-03-28 C-codes.
ADAM_CT = {"DATEFL", "TIMEFL", "DTYPE", "SBJTSTAT"}


def _all() -> pd.DataFrame:
    return pd.concat([adam_variables(ds) for ds in STRUCTURES], ignore_index=True)


def _row(dataset: str, name: str) -> pd.Series:
    rows = adam_variables(dataset)
    hit = rows[rows["name"] == name]
    assert len(hit) == 1, f"{dataset}.{name}: {len(hit)} rows"
    return hit.iloc[0]


def test_version_and_known_datasets():
    assert ADAMIG_VERSION == "1.3"
    assert known_adam_datasets() == ["ADAE", "ADCM", "ADDOSE", "ADLB", "ADSL", "ADVS"]


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [("ADSL", "ADSL"), ("ADAE", "OCCDS"), ("ADLB", "BDS"), ("ADVS", "BDS"), ("ADEX", "BDS"),
     (" adsl ", "ADSL"), ("adtte", "BDS")],
)  # fmt: skip
def test_adam_class(dataset, expected):
    assert adam_class(dataset) == expected


@pytest.mark.parametrize(
    ("dataset", "label"),
    [
        ("ADSL", "Subject-Level Analysis Dataset"),
        ("ADLB", "Laboratory Analysis Dataset"),
        ("ADVS", "Vital Signs Analysis Dataset"),
        ("ADAE", "Adverse Events Analysis Dataset"),
    ],
)
def test_adam_label(dataset, label):
    assert adam_label(dataset) == label
    assert adam_label(dataset.lower()) == label


def test_row_dataset_labels_agree_with_adam_label():
    assert set(adam_variables("ADSL")["dataset_label"]) == {adam_label("ADSL")}
    assert set(adam_variables("ADAE")["dataset_label"]) == {adam_label("ADAE")}
    assert set(adam_variables("ADLB")["dataset_label"]) == {"Basic Data Structure"}


@pytest.mark.parametrize("bad", ["DM", "XYZ", "", "AD", "ADVERYLONG", "AD-LB", "LBAD"])
def test_unknown_dataset_raises_with_a_useful_message(bad):
    with pytest.raises(UnknownAdamDataset) as err:
        adam_variables(bad)
    message = str(err.value)
    assert repr(bad) in message
    assert "ADAE, ADCM, ADDOSE, ADLB, ADSL, ADVS" in message
    assert "start with 'AD'" in message
    assert isinstance(err.value, MetadataError)
    with pytest.raises(UnknownAdamDataset):
        adam_class(bad)
    with pytest.raises(UnknownAdamDataset):
        arrange_adam(pd.DataFrame({"STUDYID": ["X"]}), bad)


def test_label_of_a_bds_name_trialflow_has_no_label_for():
    assert adam_variables("ADEX")["name"].tolist() == adam_variables("ADLB")["name"].tolist()
    with pytest.raises(UnknownAdamDataset, match="no dataset label for ADaM dataset 'ADEX'"):
        adam_label("ADEX")


def test_columns_and_order_is_1_to_n():
    for ds in STRUCTURES:
        rows = adam_variables(ds)
        assert rows.columns.tolist() == COLUMNS
        assert rows["order"].tolist() == list(range(1, len(rows) + 1))
        assert rows.index.tolist() == list(range(len(rows)))
        assert not rows["name"].duplicated().any(), ds


@pytest.mark.parametrize("dataset", ["ADSL", "ADLB", "ADAE"])
def test_required_variables_lead_in_the_required_order(dataset):
    names = adam_variables(dataset)["name"].tolist()
    required = REQUIRED_ORDER[dataset].split()
    assert names[: len(required)] == required


def test_advs_and_adlb_share_the_bds_rows():
    pd.testing.assert_frame_equal(adam_variables("ADVS"), adam_variables("ADLB"))
    assert set(adam_variables("ADVS")["dataset"]) == {"BDS"}


@pytest.mark.parametrize(
    ("dataset", "name", "label"),
    [
        ("ADSL", "TRTSDT", "Date of First Exposure to Treatment"),
        ("ADSL", "TRTEDTM", "Datetime of Last Exposure to Treatment"),
        ("ADSL", "TRT01P", "Planned Treatment for Period 01"),
        ("ADSL", "TRT01AN", "Actual Treatment for Period 01 (N)"),
        ("ADSL", "TRTDURD", "Total Treatment Duration (Days)"),
        ("ADSL", "SAFFL", "Safety Population Flag"),
        ("ADSL", "FASFL", "Full Analysis Set Population Flag"),
        ("ADSL", "ARM", "Description of Planned Arm"),
        ("ADSL", "RFXSTDTC", "Date/Time of First Study Treatment"),
        ("ADLB", "ABLFL", "Baseline Record Flag"),
        ("ADLB", "ANL01FL", "Analysis Flag 01"),
        ("ADLB", "AVALC", "Analysis Value (C)"),
        ("ADLB", "AWTARGET", "Analysis Window Target"),
        ("ADLB", "AWTDIFF", "Analysis Window Diff from Target"),
        ("ADLB", "AWLO", "Analysis Window Beginning Timepoint"),
        ("ADLB", "ANRIND", "Analysis Reference Range Indicator"),
        ("ADLB", "SRCDOM", "Source Data"),
        ("ADLB", "DTYPE", "Derivation Type"),
        ("ADAE", "TRTEMFL", "Treatment Emergent Analysis Flag"),
        ("ADAE", "PREFL", "Pre-treatment Flag"),
        ("ADAE", "ASTDTF", "Analysis Start Date Imputation Flag"),
        ("ADAE", "ADURN", "Analysis Duration (N)"),
        ("ADAE", "TRTA", "Actual Treatment"),
        ("ADAE", "AESOC", "Primary System Organ Class"),
        ("ADAE", "AOCCFL", "1st Occurrence within Subject Flag"),
        ("ADAE", "AOCCSFL", "1st Occurrence of SOC Flag"),
        ("ADAE", "AOCCPFL", "1st Occurrence of Preferred Term Flag"),
    ],
)
def test_labels_of_known_variables(dataset, name, label):
    assert _row(dataset, name)["label"] == label


@pytest.mark.parametrize(
    ("dataset", "name", "core"),
    [
        ("ADSL", "AGE", "Req"),
        ("ADSL", "SEX", "Req"),
        ("ADSL", "TRT01P", "Req"),
        ("ADSL", "TRT01A", "Cond"),
        ("ADSL", "TRTSDT", "Cond"),
        ("ADSL", "ACTARM", "Perm"),
        ("ADLB", "PARAMCD", "Req"),
        ("ADLB", "AVAL", "Cond"),
        ("ADLB", "CHG", "Perm"),
        ("ADLB", "SUBJID", "Perm"),
        ("ADAE", "AESEQ", "Req"),
        ("ADAE", "TRTEMFL", "Req"),
        ("ADAE", "ASTDT", "Req"),
        ("ADAE", "ASTDTF", "Cond"),
        ("ADAE", "PREFL", "Cond"),
    ],
)
def test_core_of_known_variables(dataset, name, core):
    assert _row(dataset, name)["core"] == core


def test_xpt_v5_limits_on_names_and_labels():
    rows = _all()
    for name, label in zip(rows["name"], rows["label"], strict=True):
        assert re.fullmatch(r"[A-Z][A-Z0-9_]{0,7}", name), name
        assert 0 < len(label) <= 40, (name, label)
        assert label.isascii(), (name, label)
    for ds in known_adam_datasets():
        assert len(ds) <= 8 and len(adam_label(ds)) <= 40 and adam_label(ds).isascii()


def test_types_lengths_and_cores_are_valid():
    rows = _all()
    assert set(rows["type"]) == {"Char", "Num"}
    assert set(rows["core"]) <= {"Req", "Cond", "Perm"}
    assert set(rows["origin"]) <= {"Predecessor", "Derived", "Assigned"}
    assert set(rows["sponsor"]) <= {"", "Y"}
    char = rows[rows["type"] == "Char"]
    lengths = char["length"].astype(int)
    assert ((lengths >= 1) & (lengths <= 200)).all()
    assert (rows.loc[rows["type"] == "Num", "length"] == "").all()
    assert _row("ADLB", "PARAMCD")["length"] == "8"  # ADaMIG: PARAMCD at most 8 characters
    assert _row("ADLB", "PARAM")["length"] == "200"  # ADaMIG: PARAM at most 200 characters


def test_numeric_dates_datetimes_and_times_have_their_formats():
    rows = _all()
    num = rows[rows["type"] == "Num"]
    dates = num[num["name"].str.endswith("DT")]
    assert len(dates) >= 10
    assert (dates["format"] == "DATE9.").all(), dates[["name", "format"]]
    datetimes = num[num["name"].str.endswith("DTM")]
    assert set(datetimes["name"]) >= {"TRTSDTM", "TRTEDTM", "ADTM", "ASTDTM"}
    assert (datetimes["format"] == "DATETIME20.").all()
    times = num[num["name"].str.endswith("TM") & ~num["name"].str.endswith("DTM")]
    assert (times["format"] == "TIME8.").all()
    others = rows.drop(dates.index.union(datetimes.index).union(times.index))
    assert (others["format"] == "").all(), others.loc[others["format"] != "", "name"].tolist()
    assert _row("ADAE", "INFDT")["format"] == "DATE9."


def test_sponsor_variables():
    for ds, expected in SPONSOR.items():
        rows = adam_variables(ds).set_index("name")
        flagged = rows.index[rows["sponsor"] == "Y"].tolist()
        assert sorted(flagged) == sorted(expected), ds
        for name, (label, typ) in expected.items():
            assert (rows.loc[name, "label"], rows.loc[name, "type"]) == (label, typ)
    assert _row("ADLB", "SRCRECS")["length"] == "200"


def test_predecessors_name_their_source_and_derived_rows_do_not():
    rows = _all()
    pred = rows[rows["origin"] == "Predecessor"]
    assert (pred["source"].str.fullmatch(r"[A-Z]{2,4}\.[A-Z][A-Z0-9]{0,7}")).all()
    assert (pred["source"].str.split(".").str[1] == pred["name"]).all()
    assert (rows.loc[rows["origin"] != "Predecessor", "source"] == "").all()
    assert _row("ADSL", "AGE")["source"] == "DM.AGE"
    assert _row("ADAE", "AESEQ")["source"] == "AE.AESEQ"


def test_sdtm_predecessors_keep_their_sdtmig_label_and_type():
    from trialflow.sdtm.metadata import domain_variables

    rows = _all()
    pred = rows[rows["source"].str.match(r"(DM|AE)\.")]
    assert len(pred) >= 20
    for _, row in pred.iterrows():
        domain, var = row["source"].split(".")
        sdtm = domain_variables(domain).set_index("name").loc[var]
        assert (row["label"], row["type"]) == (sdtm["label"], sdtm["type"]), var


def test_codelists_are_shipped_and_char_lengths_fit_their_terms():
    rows = _all()
    coded = rows[rows["codelist"] != ""]
    assert len(coded) >= 25
    for _, row in coded.iterrows():
        if row["codelist"] in ADAM_CT:
            continue
        terms = codelist(row["codelist"]).terms["term"]  # raises unless trialflow ships it
        assert row["type"] == "Char"
        if row["codelist"] == "NY":  # ADaM flags and AESER take Y/N only
            assert row["length"] == "1", row["name"]
        else:
            assert int(row["length"]) >= terms.str.len().max(), row["name"]
    assert _row("ADAE", "ASTDTF")["codelist"] == "DATEFL"


def test_end_of_study_variables_as_the_adamig_gives_them():
    # ADaMIG 1.2/1.3 ADSL subject-level trial experience table: all Perm; EOSSTT on SBJTSTAT
    rows = adam_variables("ADSL").set_index("name")
    got = rows.loc[["EOSSTT", "EOSDT", "DCSREAS"], ["label", "type", "core", "codelist", "format"]]
    assert got.values.tolist() == [
        ["End of Study Status", "Char", "Perm", "SBJTSTAT", ""],
        ["End of Study Date", "Num", "Perm", "", "DATE9."],
        ["Reason for Discontinuation from Study", "Char", "Perm", "", ""],
    ]
    # the longest value EOSSTT takes: DISCONTINUED
    assert int(rows.loc["EOSSTT", "length"]) >= len("DISCONTINUED")


def test_every_flag_is_char_1_on_ny():
    rows = _all()
    flags = rows[rows["name"].str.endswith("FL")]
    assert len(flags) >= 15
    assert (flags["type"] == "Char").all()
    assert (flags["length"] == "1").all()
    assert (flags["codelist"] == "NY").all()


def test_results_are_fresh_copies():
    first = adam_variables("ADSL")
    first.loc[0, "label"] = "changed"
    del first["method"]
    again = adam_variables("ADSL")
    assert again.loc[0, "label"] == "Study Identifier"
    assert "method" in again.columns


def test_arrange_adam_orders_by_metadata_and_keeps_extras():
    frame = pd.DataFrame(
        {
            "ZZEXTRA": [1, 2],
            "AVAL": [5.0, 6.0],
            "USUBJID": ["S1", "S2"],
            "PARAMCD": ["HBA1C", "FPG"],
            "NOTE": ["a", "b"],
            "STUDYID": ["ST", "ST"],
        },
        index=[10, 11],
    )
    before = frame.copy()
    out = arrange_adam(frame, "ADLB")
    assert out.columns.tolist() == ["STUDYID", "USUBJID", "PARAMCD", "AVAL", "ZZEXTRA", "NOTE"]
    assert out.index.tolist() == [10, 11]
    assert out["AVAL"].tolist() == [5.0, 6.0]
    pd.testing.assert_frame_equal(frame, before)
    assert out is not frame
    out.loc[10, "AVAL"] = 99.0
    assert frame.loc[10, "AVAL"] == 5.0


def test_arrange_adam_follows_each_structure():
    frame = pd.DataFrame(columns=["TRTEMFL", "AETERM", "AESEQ", "USUBJID", "STUDYID", "X"])
    assert arrange_adam(frame, "adae").columns.tolist() == [
        "STUDYID", "USUBJID", "AESEQ", "AETERM", "TRTEMFL", "X",
    ]  # fmt: skip
    frame = pd.DataFrame(columns=["HBA1CBL", "TRTSDT", "SAFFL", "AGE", "USUBJID"])
    assert arrange_adam(frame, "ADSL").columns.tolist() == [
        "USUBJID", "AGE", "TRTSDT", "SAFFL", "HBA1CBL",
    ]  # fmt: skip


def test_arrange_adam_edge_cases():
    assert arrange_adam(pd.DataFrame(), "ADSL").shape == (0, 0)
    only_extra = pd.DataFrame({"B": [1], "A": [2]})
    assert arrange_adam(only_extra, "ADVS").columns.tolist() == ["B", "A"]
    with pytest.raises(TypeError, match="DataFrame"):
        arrange_adam({"STUDYID": ["X"]}, "ADSL")  # type: ignore[arg-type]


def test_the_csv_is_read_once():
    am._variables.cache_clear()
    adam_variables("ADSL")
    adam_variables("ADAE")
    assert am._variables.cache_info().misses == 1
