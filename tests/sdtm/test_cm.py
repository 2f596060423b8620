"""SDTM CM from the CONMED form: the example end to end (records pinned to their raw rows, the
published dose categories recomputed by hand from CM and SV), coding with the study drug
dictionary, CMDOSTOT, and the findings for what can't be mapped."""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest
from support import (
    EXAMPLE_EXPORT,
    EXAMPLE_SPECS,
    line_of,
    replace_once,
    tiny_sheets,
    write_csv_export,
)

from trialflow.errors import RawInputError, SpecError
from trialflow.mapping.load import load_study
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm

# WHO ATC/DDD index defined daily doses (https://www.whocc.no/atc_ddd_index/): metformin 2 g,
# glimepiride 2 mg, acarbose 0.3 g, sitagliptin 0.1 g, repaglinide 4 mg, insulins 40 U.
DDD = {
    "METFORMIN": 2000,
    "GLIMEPIRIDE": 2,
    "ACARBOSE": 300,
    "SITAGLIPTIN": 100,
    "REPAGLINIDE": 4,
    "INSULIN GLARGINE": 40,
    "INSULIN ASPART": 40,
    "BIPHASIC INSULIN ASPART": 40,
}
INSULINS = {"INSULIN GLARGINE", "INSULIN ASPART", "BIPHASIC INSULIN ASPART"}
PER_DAY = {"QD": 1, "BID": 2, "TID": 3, "QHS": 1}


@pytest.fixture(scope="module")
def example():
    return build_sdtm(load_study(EXAMPLE_SPECS), read_export(EXAMPLE_EXPORT), on_issue="none")


def _record(cm: pd.DataFrame, usubjid: str, spid: str) -> dict:
    rows = cm[(cm["USUBJID"] == usubjid) & (cm["CMSPID"] == spid)]
    assert len(rows) == 1
    return {k: (None if pd.isna(v) else v) for k, v in rows.iloc[0].items()}


def test_every_conmed_row_is_a_cm_record_without_errors(example):
    cm = example.domains["CM"]
    raw = pd.read_excel(EXAMPLE_EXPORT, sheet_name="CONMED", engine="openpyxl")
    assert len(cm) == len(raw) == 105
    assert cm["USUBJID"].nunique() == 16
    assert not [f for f in example.findings if f.dataset == "CM" and f.severity == "error"]
    # every verbatim coded, every unit, frequency and route mapped
    for var in ("CMDECOD", "CMCLAS", "CMCLASCD", "CMDOSU", "CMDOSFRQ", "CMROUTE", "CMCAT"):
        assert cm[var].notna().all(), var
    assert set(cm["CMDOSU"]) == {"mg", "U"}
    assert set(cm["CMROUTE"]) == {"ORAL", "SUBCUTANEOUS"}
    assert set(cm["CMDOSFRQ"]) == {"QD", "BID", "TID", "QHS", "PRN"}
    assert (
        cm["CMSEQ"]
        .groupby(cm["USUBJID"])
        .apply(lambda s: sorted(s) == list(range(1, len(s) + 1)))
        .all()
    )


def test_records_pinned_to_their_raw_rows(example):
    cm = example.domains["CM"]
    # CONMED row 2: 01-001, NovoMix30, 20 Units twice daily subcutaneous, 2018/08/11 to
    # 24-MAY-2019, ONGOING 0
    rec = _record(cm, "HUCMSC-T2DM-01-001", "1")
    assert {
        k: rec[k]
        for k in (
            "CMTRT",
            "CMDECOD",
            "CMCAT",
            "CMCLAS",
            "CMCLASCD",
            "CMDOSE",
            "CMDOSU",
            "CMDOSFRQ",
            "CMDOSTOT",
            "CMROUTE",
            "CMSTDTC",
            "CMENDTC",
            "CMENRTPT",
            "CMENTPT",
        )
    } == {
        "CMTRT": "NovoMix30",
        "CMDECOD": "BIPHASIC INSULIN ASPART",
        "CMCAT": "HYPOGLYCAEMIC AGENT",
        "CMCLAS": "INSULINS AND ANALOGUES",
        "CMCLASCD": "A10A",
        "CMDOSE": 20.0,
        "CMDOSU": "U",  # "Units"
        "CMDOSFRQ": "BID",  # "twice daily"
        "CMDOSTOT": 40.0,  # 20 U x 2 a day
        "CMROUTE": "SUBCUTANEOUS",
        "CMSTDTC": "2018-08-11",
        "CMENDTC": "2019-05-24",
        "CMENRTPT": "BEFORE",  # ONGOING '0': stopped before the end of the study
        "CMENTPT": "END OF STUDY",
    }
    # row 5: Metfromin 500 mg twice daily from 02-JUN-2019, ongoing (Y)
    rec = _record(cm, "HUCMSC-T2DM-01-001", "4")
    assert (rec["CMTRT"], rec["CMDECOD"], rec["CMCLASCD"], rec["CMDOSTOT"]) == (
        "Metfromin",
        "METFORMIN",
        "A10B",
        1000.0,
    )
    assert (rec["CMSTDTC"], rec["CMENDTC"], rec["CMENRTPT"], rec["CMENTPT"]) == (
        "2019-06-02",
        None,
        "ONGOING",
        "END OF STUDY",
    )
    # study day: DM.RFSTDTC (first infusion) of 01-001 is 2019-05-12 (SV: DAY 0 2019-05-05 has
    # SVSTDY -7), so 2019-06-02 is day 21 + 1 = 22
    assert rec["CMSTDY"] == 22.0
    # row 7: Tylenol 500 mg PRN: as needed, no daily total
    rec = _record(cm, "HUCMSC-T2DM-01-001", "6")
    assert (rec["CMDECOD"], rec["CMCAT"], rec["CMDOSFRQ"], rec["CMDOSTOT"]) == (
        "PARACETAMOL",
        "GENERAL CONCOMITANT MEDICATION",
        "PRN",
        None,
    )
    # row 8: glimepiride 3 mg once daily from UN-SEP-2014: partial, no study day; every day
    # of September 2014 is before the first infusion, so it is in the RUN-IN epoch
    rec = _record(cm, "HUCMSC-T2DM-01-002", "1")
    assert (rec["CMSTDTC"], rec["CMSTDY"], rec["EPOCH"], rec["CMDOSTOT"]) == (
        "2014-09",
        None,
        "RUN-IN",
        3.0,
    )
    # row 20: Lantus 18 iu nocte: U, QHS, 18 a day
    rec = _record(cm, "HUCMSC-T2DM-01-004", "1")
    assert (rec["CMDECOD"], rec["CMDOSU"], rec["CMDOSFRQ"], rec["CMDOSTOT"]) == (
        "INSULIN GLARGINE",
        "U",
        "QHS",
        18.0,
    )
    # row 16: year only
    assert _record(cm, "HUCMSC-T2DM-01-003", "2")["CMSTDTC"] == "2017"


def test_the_total_daily_dose_is_the_dose_times_the_administrations_a_day(example):
    cm = example.domains["CM"]
    daily = cm[cm["CMDOSFRQ"] != "PRN"]
    expected = daily["CMDOSE"] * daily["CMDOSFRQ"].map(PER_DAY)
    assert (daily["CMDOSTOT"] == expected).all()
    assert cm.loc[cm["CMDOSFRQ"] == "PRN", "CMDOSTOT"].isna().all()


def _pchg(total: float, base: float) -> Decimal:
    """Percent change rounded to 2 decimals half away from zero (SAS ROUND)."""
    exact = (Decimal(repr(total)) - Decimal(repr(base))) / Decimal(repr(base)) * 100
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_the_published_dose_categories_follow_from_cm_and_sv(example):
    """The brief's result, recomputed here by hand from SDTM CM, SV and VS."""
    cm, sv, vs = (example.domains[d] for d in ("CM", "SV", "VS"))
    agents = cm[cm["CMCAT"] == "HYPOGLYCAEMIC AGENT"]
    assert set(agents["CMDECOD"]) <= set(DDD)
    weights = vs[vs["VSTESTCD"] == "WEIGHT"]
    categories: dict[str, dict[str, int]] = {}
    withdrawn = []
    # the planned visits that took place (a missed one has an SV record without a date)
    held = sv[sv["VISITNUM"].isin([1, 2, 3, 4, 5]) & sv["SVSTDTC"].notna()]
    for usubjid, visits in held.groupby("USUBJID"):
        records = agents[agents["USUBJID"] == usubjid]
        base = None
        insulin_per_kg = []
        for _, visit in visits.sort_values("VISITNUM").iterrows():
            day = visit["SVSTDTC"]
            # active on the visit date: started on or before it (a partial start date such
            # as "2014-09" or "2017" sorts before the visit's complete date), not ended before
            on = (records["CMSTDTC"] <= day) & (
                records["CMENDTC"].isna() | (records["CMENDTC"] >= day)
            )
            total = sum(
                t / DDD[d]
                for t, d in zip(
                    records.loc[on, "CMDOSTOT"], records.loc[on, "CMDECOD"], strict=True
                )
            )
            insulin = records.loc[on & records["CMDECOD"].isin(INSULINS), "CMDOSTOT"].sum()
            weight = weights[
                (weights["USUBJID"] == usubjid) & (weights["VISITNUM"] == visit["VISITNUM"])
            ]["VSSTRESN"].iloc[0]
            insulin_per_kg.append(insulin / weight)
            if visit["VISIT"] == "DAY 0":
                base = total
                assert total > 0
                continue
            pchg = _pchg(total, base)
            if total == 0:
                category = "DISCONTINUED"
            elif pchg <= -50:
                category = ">=50% REDUCTION"
            elif pchg <= -10:
                category = "10-<50% REDUCTION"
            else:
                category = "<10% REDUCTION OR INCREASE"
            counts = categories.setdefault(visit["VISIT"], {})
            counts[category] = counts.get(category, 0) + 1
        # insulin withdrawn: a visit at <= 0.2 U/kg a day, none at a later visit
        for k in range(len(insulin_per_kg) - 1):
            if 0 < insulin_per_kg[k] <= 0.2 and insulin_per_kg[k + 1] == 0:
                withdrawn.append(usubjid)
    assert categories["DAY 28"] == {"10-<50% REDUCTION": 12, ">=50% REDUCTION": 4}
    assert categories["DAY 84"] == {
        "10-<50% REDUCTION": 10,
        ">=50% REDUCTION": 5,
        "DISCONTINUED": 1,
    }
    # titration is gradual: fewer reductions at Day 14 and 21, none at >= 50 % yet
    assert sum(categories["DAY 14"].values()) == 16
    assert 0 < categories["DAY 14"].get("10-<50% REDUCTION", 0) < 16
    assert sum(categories["DAY 21"].values()) == 15  # one subject missed Day 21
    assert ">=50% REDUCTION" not in categories["DAY 21"]
    assert len(withdrawn) >= 1


# --------------------------------------------------------------------------------------------
# Findings and spec errors on a tiny export
# --------------------------------------------------------------------------------------------

ROW = dict(
    SUBJ="01-001",
    CM_NO="1",
    SECTION="Diabetes medication",
    DRUG_NAME="Glucophage",
    INDICATION="T2DM",
    DOSE="500",
    DOSE_UNIT="mg",
    FREQ="BID",
    ROUTE="PO",
    START_DT="UN-MAR-2015",
    END_DT="",
    ONGOING="Y",
)


def _build(tmp_path: Path, specs: Path, rows: list[dict[str, str]]):
    sheets = tiny_sheets()
    sheets["CONMED"] = rows
    export = write_csv_export(tmp_path / "raw", sheets)
    return build_sdtm(load_study(specs), read_export(export), on_issue="none")


def test_a_misspelt_drug_the_dictionary_lacks_is_not_coded(tmp_path, study_copy):
    result = _build(tmp_path, study_copy, [ROW, dict(ROW, CM_NO="2", DRUG_NAME="Metforminn")])
    cm = result.domains["CM"].set_index("CMSPID")
    assert cm.loc["1", "CMDECOD"] == "METFORMIN"
    assert pd.isna(cm.loc["2", "CMDECOD"]) and pd.isna(cm.loc["2", "CMCLASCD"])
    found = [f for f in result.findings if f.code == "term-not-coded"]
    assert len(found) == 1
    f = found[0]
    assert (f.severity, f.dataset, f.variable, f.value) == ("error", "CM", "CMTRT", "Metforminn")
    assert (f.source.sheet, f.source.row, f.source.column) == ("CONMED", 3, "DRUG_NAME")


def test_an_unknown_unit_and_frequency_are_reported_by_cell(tmp_path, study_copy):
    rows = [
        dict(ROW, DOSE_UNIT="tabs"),  # row 2: no UNIT term
        dict(ROW, CM_NO="2", FREQ="sometimes"),  # row 3: no FREQ term: no daily total either
        dict(ROW, CM_NO="3", FREQ="QOD"),  # row 4: a FREQ term without administrations a day
    ]
    result = _build(tmp_path, study_copy, rows)
    cm = result.domains["CM"].set_index("CMSPID")
    assert pd.isna(cm.loc["1", "CMDOSU"]) and cm.loc["1", "CMDOSTOT"] == 1000.0
    assert pd.isna(cm.loc["2", "CMDOSFRQ"]) and pd.isna(cm.loc["2", "CMDOSTOT"])
    assert cm.loc["3", "CMDOSFRQ"] == "QOD" and pd.isna(cm.loc["3", "CMDOSTOT"])
    got = {
        (f.code, f.severity, f.variable, f.value, f.source.row, f.source.column)
        for f in result.findings
        if f.dataset == "CM" and f.code in ("ct-unmapped-value", "dose-total-not-derivable")
    }
    assert got == {
        ("ct-unmapped-value", "error", "CMDOSU", "tabs", 2, "DOSE_UNIT"),
        ("ct-unmapped-value", "error", "CMDOSFRQ", "sometimes", 3, "FREQ"),
        ("dose-total-not-derivable", "notice", "CMDOSTOT", "QOD", 4, "FREQ"),
    }


def test_a_per_day_frequency_that_is_no_term_is_a_spec_error(tmp_path, study_copy):
    spec = study_copy / "cm.yaml"
    replace_once(spec, "per_day: {QD: 1,", "per_day: {DAILY: 1, QD: 1,")
    with pytest.raises(SpecError) as err:
        _build(tmp_path, study_copy, [ROW])
    line = line_of(spec, "name: CMDOSTOT")  # the entry's line
    assert str(err.value).startswith(f"{spec}:{line}: variables[")
    assert "per_day.DAILY: 'DAILY' is not a term of codelist FREQ (CMDOSFRQ)" in str(err.value)


def test_a_drug_dictionary_with_a_bad_atc_code_is_refused(tmp_path, study_copy):
    path = study_copy / "cm-coding.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["VERBATIM", "DRUG_NAME", "ATC_CODE", "ATC_NAME", "DICTIONARY", "VERSION"])
        writer.writerow(["Glucophage", "METFORMIN", "A10B", "X", "Study", "1"])
        writer.writerow(["Lantus", "INSULIN GLARGINE", "10A", "Y", "Study", "1"])
    with pytest.raises(RawInputError) as err:
        _build(tmp_path, study_copy, [ROW])
    assert str(err.value) == (
        "cm-coding.csv, line 3, column ATC_CODE: '10A' is not a dictionary code "
        "(an ATC code such as A10B or A10BA02)"
    )
