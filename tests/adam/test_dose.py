"""ADDOSE: the daily dose of hypoglycaemic agents by visit, pinned to hand arithmetic.

Every subject's DAY 0 visit is 2019-01-01, DAY 28 is 2019-01-29 and DAY 84 is 2019-03-26 (SV).
DDDs as the WHO ATC/DDD Index gives them: metformin 2000 mg, glimepiride 2 mg, acarbose 300 mg,
insulin 40 U. The total is sum(CMDOSTOT / DDD) over the regimens active on the visit date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialflow.adam.build import dose_lineage
from trialflow.adam.dose import derive_addose
from trialflow.mapping.spec import DoseSpec

VISITS = {"DAY 0": 1.0, "DAY 28": 4.0, "DAY 84": 5.0}
DATES = {"DAY 0": "2019-01-01", "DAY 28": "2019-01-29", "DAY 84": "2019-03-26"}
ORAL, INSULIN = "A10B", "A10A"

SPEC = {
    "where": {"CMCAT": "HYPOGLYCAEMIC AGENT"},
    "visits": ["DAY 0", "DAY 28", "DAY 84"],
    "classes": {"insulin": {"CMCLASCD": INSULIN}, "oral": {"CMCLASCD": ORAL}},
    "ddd": {
        "METFORMIN": {"ddd": 2000, "unit": "mg"},
        "GLIMEPIRIDE": {"ddd": 2, "unit": "mg"},
        "ACARBOSE": {"ddd": 300, "unit": "mg"},
        "INSULIN GLARGINE": {"ddd": 40, "unit": "U"},
    },
    "weight": {"paramcd": "WEIGHT"},
    "pchg_digits": 2,
    "parameters": [
        {"paramcd": "TOTDDD", "paramn": 1, "param": "Total (DDD/day)", "agents": "all",
         "measure": "ddd", "digits": 4},
        {"paramcd": "ORALDDD", "paramn": 2, "param": "Oral (DDD/day)", "agents": "oral",
         "measure": "ddd", "digits": 4},
        {"paramcd": "ORALPCT", "paramn": 3, "param": "Oral (% of baseline)", "agents": "oral",
         "measure": "percent_of_baseline", "of": "ORALDDD", "digits": 2},
        {"paramcd": "INSTDD", "paramn": 4, "param": "Insulin (U/day)", "agents": "insulin",
         "measure": "dose", "unit": "U", "digits": 1},
        {"paramcd": "INSKGDD", "paramn": 5, "param": "Insulin (U/kg/day)", "agents": "insulin",
         "measure": "dose_per_kg", "unit": "U", "digits": 3},
    ],
    "categories": {
        "paramcd": ["TOTDDD", "ORALDDD", "INSTDD"],
        "discontinued": {"avalcat1": "DISCONTINUED", "avalca1n": 1},
        "by_pchg": [
            {"avalcat1": ">=50% REDUCTION", "avalca1n": 2, "pchg_max": -50},
            {"avalcat1": "10-<50% REDUCTION", "avalca1n": 3, "pchg_max": -10},
            {"avalcat1": "<10% REDUCTION OR INCREASE", "avalca1n": 4},
        ],
    },
    "criteria": [
        {"crit": "Reduced by >= 10 % from baseline", "paramcd": ["TOTDDD", "ORALDDD", "INSTDD"],
         "pchg_max": -10},
        {"crit": "Reduced by >= 50 % or discontinued",
         "paramcd": ["TOTDDD", "ORALDDD", "INSTDD"], "pchg_max": -50},
        {"crit": "Insulin total daily dose <= 0.2 U/kg/day", "paramcd": ["INSKGDD"],
         "aval_max": 0.2},
    ],
}  # fmt: skip


def regimen(usubjid, seq, decod, total, start, end="", unit="mg", cat="HYPOGLYCAEMIC AGENT"):
    return {
        "STUDYID": "T", "DOMAIN": "CM", "USUBJID": usubjid, "CMSEQ": float(seq),
        "CMTRT": decod.title(), "CMDECOD": decod, "CMCAT": cat,
        "CMCLASCD": INSULIN if decod.startswith("INSULIN") else ORAL,
        "CMDOSTOT": total, "CMDOSU": unit, "CMDOSFRQ": "QD",
        "CMSTDTC": start, "CMENDTC": end,
    }  # fmt: skip


def sv_for(subjects):
    return pd.DataFrame(
        [
            {"USUBJID": s, "VISITNUM": VISITS[v], "VISIT": v, "SVSTDTC": DATES[v]}
            for s in subjects
            for v in VISITS
        ]
    )


def adsl_for(subjects):
    return pd.DataFrame(
        {
            "USUBJID": subjects,
            "STUDYID": "T",
            "TRTSDT": pd.to_datetime(["2019-01-08"] * len(subjects)),
            "SAFFL": "Y",
            "FASFL": "Y",
        }
    )


def derive(cm_rows, advs=None, spec=SPEC, sv=None):
    cm = pd.DataFrame(cm_rows)
    subjects = sorted(set(cm["USUBJID"]))
    out = derive_addose(
        cm, sv_for(subjects) if sv is None else sv, adsl_for(subjects), DoseSpec(**spec),
        VISITS, advs=advs, adsl_vars=["STUDYID", "TRTSDT", "SAFFL", "FASFL"],
    )  # fmt: skip
    return out


def value(out, usubjid, paramcd, avisit, column="AVAL"):
    d = out.dataset
    rows = d[(d["USUBJID"] == usubjid) & (d["PARAMCD"] == paramcd) & (d["AVISIT"] == avisit)]
    assert len(rows) == 1, (usubjid, paramcd, avisit, len(rows))
    got = rows[column].iloc[0]
    return None if got is None or (isinstance(got, float) and np.isnan(got)) else got


def weight_records(rows):
    """ADVS WEIGHT records: (USUBJID, date, kg)."""
    return pd.DataFrame(
        {
            "USUBJID": [r[0] for r in rows],
            "PARAMCD": "WEIGHT",
            "ADT": pd.to_datetime([r[1] for r in rows]),
            "AVAL": [r[2] for r in rows],
            "ANL01FL": "Y",
        }
    )


# --- the category rules at their boundaries ----------------------------------------------------


@pytest.mark.parametrize(
    ("base_mg", "later_mg", "pchg", "category", "crit1", "crit2"),
    [
        # metformin DDD 2000 mg: 2500 mg = 1.25 DDD -> 2250 mg = 1.125; 100 * -0.125 / 1.25 = -10
        (2500.0, 2250.0, -10.0, "10-<50% REDUCTION", "Y", "N"),
        # 2000 mg = 1 DDD -> 1800.2 mg = 0.9001 DDD: -9.99 %
        (2000.0, 1800.2, -9.99, "<10% REDUCTION OR INCREASE", "N", "N"),
        # 2000 -> 1000 mg: 1 -> 0.5 DDD, exactly -50 %
        (2000.0, 1000.0, -50.0, ">=50% REDUCTION", "Y", "Y"),
        # 2000 -> 1000.2 mg: 0.5001 DDD, -49.99 %
        (2000.0, 1000.2, -49.99, "10-<50% REDUCTION", "Y", "N"),
        # 1000 -> 1500 mg: 0.5 -> 0.75 DDD, +50 % (an increase)
        (1000.0, 1500.0, 50.0, "<10% REDUCTION OR INCREASE", "N", "N"),
    ],
)
def test_category_boundaries(base_mg, later_mg, pchg, category, crit1, crit2):
    out = derive(
        [
            regimen("S1", 1, "METFORMIN", base_mg, "2018-06-01", "2019-01-28"),
            regimen("S1", 2, "METFORMIN", later_mg, "2019-01-29"),
        ]
    )
    assert value(out, "S1", "TOTDDD", "DAY 0") == base_mg / 2000
    assert value(out, "S1", "TOTDDD", "DAY 28") == later_mg / 2000
    assert value(out, "S1", "TOTDDD", "DAY 28", "PCHG") == pchg
    assert value(out, "S1", "TOTDDD", "DAY 28", "AVALCAT1") == category
    assert value(out, "S1", "TOTDDD", "DAY 28", "CRIT1FL") == crit1
    assert value(out, "S1", "TOTDDD", "DAY 28", "CRIT2FL") == crit2
    assert value(out, "S1", "TOTDDD", "DAY 28", "CRIT1") == "Reduced by >= 10 % from baseline"
    # baseline: ABLFL, no change, no category, no criterion
    assert value(out, "S1", "TOTDDD", "DAY 0", "ABLFL") == "Y"
    assert value(out, "S1", "TOTDDD", "DAY 0", "AVALCAT1") is None
    assert value(out, "S1", "TOTDDD", "DAY 0", "CRIT1FL") is None
    assert value(out, "S1", "TOTDDD", "DAY 0", "CRIT1") is None


def test_stop_of_all_agents_is_discontinued():
    out = derive(
        [
            regimen("S1", 1, "METFORMIN", 1500.0, "2018-06-01", "2019-03-25"),
            regimen("S1", 2, "ACARBOSE", 150.0, "2018-06-01", "2019-01-28"),
        ]
    )
    # DAY 0: 1500/2000 + 150/300 = 0.75 + 0.5 = 1.25 DDD; DAY 28: acarbose stopped, 0.75
    assert value(out, "S1", "TOTDDD", "DAY 0") == 1.25
    assert value(out, "S1", "TOTDDD", "DAY 28") == 0.75
    assert value(out, "S1", "TOTDDD", "DAY 28", "PCHG") == -40.0  # -0.5 / 1.25
    # DAY 84 (2019-03-26): metformin ended the day before, nothing active
    assert value(out, "S1", "TOTDDD", "DAY 84") == 0.0
    assert value(out, "S1", "TOTDDD", "DAY 84", "PCHG") == -100.0
    assert value(out, "S1", "TOTDDD", "DAY 84", "AVALCAT1") == "DISCONTINUED"
    assert value(out, "S1", "TOTDDD", "DAY 84", "AVALCA1N") == 1
    assert value(out, "S1", "TOTDDD", "DAY 84", "CRIT2FL") == "Y"
    assert value(out, "S1", "TOTDDD", "DAY 84", "SRCRECS") is None


def test_regimen_changed_at_a_visit_counts_the_new_dose_on_that_day():
    out = derive(
        [
            regimen("S1", 1, "GLIMEPIRIDE", 4.0, "2018-06-01", "2019-01-28"),  # old: ends D-1
            regimen("S1", 2, "GLIMEPIRIDE", 2.0, "2019-01-29"),  # new: starts D (DAY 28)
        ]
    )
    assert value(out, "S1", "TOTDDD", "DAY 0") == 2.0  # 4 mg / 2 mg
    assert value(out, "S1", "TOTDDD", "DAY 28") == 1.0  # 2 mg / 2 mg, not 3 DDD
    assert value(out, "S1", "TOTDDD", "DAY 0", "SRCRECS") == "CMSEQ 1"
    assert value(out, "S1", "TOTDDD", "DAY 28", "SRCRECS") == "CMSEQ 2"
    assert value(out, "S1", "TOTDDD", "DAY 28", "SRCSEQ") == 2.0
    assert value(out, "S1", "TOTDDD", "DAY 28", "SRCDOM") == "CM"


def test_partial_end_date_is_completed_to_the_end_of_its_month_and_flagged():
    out = derive(
        [
            regimen("S1", 1, "METFORMIN", 2000.0, "2018-06-01"),
            regimen("S1", 2, "ACARBOSE", 300.0, "2018", "2019-01"),  # ended in January 2019
        ]
    )
    # CMENDTC 2019-01 -> 2019-01-31: active on DAY 28 (2019-01-29), not on DAY 84
    assert value(out, "S1", "TOTDDD", "DAY 0") == 2.0  # 1 + 1 DDD
    assert value(out, "S1", "TOTDDD", "DAY 28") == 2.0
    assert value(out, "S1", "TOTDDD", "DAY 84") == 1.0
    assert value(out, "S1", "TOTDDD", "DAY 84", "PCHG") == -50.0
    assert value(out, "S1", "TOTDDD", "DAY 28", "IMPUTFL") == "Y"
    assert value(out, "S1", "TOTDDD", "DAY 84", "IMPUTFL") is None
    notes = [f for f in out.findings if f.code == "adam-dose-date-imputed"]
    assert [(f.variable, f.value, f.record) for f in notes] == [
        ("CMSTDTC", "2018", 2),
        ("CMENDTC", "2019-01", 2),
    ]
    assert "taken as 2019-01-31" in notes[1].message
    assert "taken as 2018-01-01" in notes[0].message


def test_two_oral_agents_and_insulin_added_up_in_ddds():
    advs = weight_records([("S1", "2019-01-01", 80.0), ("S1", "2019-01-29", 78.0)])
    out = derive(
        [
            regimen("S1", 1, "METFORMIN", 1500.0, "2018-06-01"),
            regimen("S1", 2, "GLIMEPIRIDE", 3.0, "2018-06-01", "2019-01-28"),
            regimen("S1", 3, "GLIMEPIRIDE", 1.0, "2019-01-29"),
            regimen("S1", 4, "INSULIN GLARGINE", 24.0, "2018-06-01", "2019-01-28", unit="U"),
            regimen("S1", 5, "INSULIN GLARGINE", 15.6, "2019-01-29", unit="U"),
        ],
        advs=advs,
    )
    # DAY 0: 1500/2000 + 3/2 + 24/40 = 0.75 + 1.5 + 0.6 = 2.85 DDD
    assert value(out, "S1", "TOTDDD", "DAY 0") == 2.85
    # DAY 28: 0.75 + 1/2 + 15.6/40 = 0.75 + 0.5 + 0.39 = 1.64; PCHG 100 * -1.21 / 2.85 = -42.456...
    assert value(out, "S1", "TOTDDD", "DAY 28") == 1.64
    assert value(out, "S1", "TOTDDD", "DAY 28", "CHG") == -1.21
    assert value(out, "S1", "TOTDDD", "DAY 28", "PCHG") == -42.46
    assert value(out, "S1", "TOTDDD", "DAY 28", "SRCRECS") == "CMSEQ 1, 3, 5"
    assert value(out, "S1", "TOTDDD", "DAY 28", "SRCSEQ") is None  # several records
    # oral only: 2.25 -> 1.25 DDD, 100 * 1.25 / 2.25 = 55.555... % of baseline
    assert value(out, "S1", "ORALDDD", "DAY 0") == 2.25
    assert value(out, "S1", "ORALDDD", "DAY 28") == 1.25
    assert value(out, "S1", "ORALPCT", "DAY 0") == 100.0
    assert value(out, "S1", "ORALPCT", "DAY 28") == 55.56
    # insulin: 24 U / 80 kg = 0.3; 15.6 U / 78 kg (the DAY 28 weight) = 0.2
    assert value(out, "S1", "INSTDD", "DAY 28") == 15.6
    assert value(out, "S1", "INSKGDD", "DAY 0") == 0.3
    assert value(out, "S1", "INSKGDD", "DAY 28") == 0.2
    assert value(out, "S1", "INSKGDD", "DAY 28", "SRCRECS") == "CMSEQ 5; ADVS record 2"


@pytest.mark.parametrize(
    ("units", "per_kg", "flag"),
    [(14.0, 0.2, "Y"), (14.7, 0.21, "N")],  # 14 / 70 = 0.2 exactly; 14.7 / 70 = 0.21
)
def test_insulin_withdrawal_threshold_and_weight_from_the_last_visit_before(units, per_kg, flag):
    # weight only at DAY 0 (70 kg); DAY 28 has none, so the DAY 0 weight is used
    advs = weight_records([("S1", "2019-01-01", 70.0), ("S1", "2019-02-10", 90.0)])
    out = derive(
        [
            regimen("S1", 1, "INSULIN GLARGINE", 28.0, "2018-06-01", "2019-01-28", unit="U"),
            regimen("S1", 2, "INSULIN GLARGINE", units, "2019-01-29", unit="U"),
        ],
        advs=advs,
    )
    assert value(out, "S1", "INSKGDD", "DAY 0") == 0.4  # 28 / 70
    assert value(out, "S1", "INSKGDD", "DAY 0", "CRIT3FL") == "N"
    assert value(out, "S1", "INSKGDD", "DAY 28") == per_kg
    assert value(out, "S1", "INSKGDD", "DAY 28", "CRIT3FL") == flag
    assert (
        value(out, "S1", "INSKGDD", "DAY 28", "CRIT3") == "Insulin total daily dose <= 0.2 U/kg/day"
    )
    # DAY 84: the 90 kg of 2019-02-10 is the last before 2019-03-26
    # 14 / 90 = 0.15555... -> 0.156; 14.7 / 90 = 0.16333... -> 0.163 (3 decimals)
    assert value(out, "S1", "INSKGDD", "DAY 84") == {14.0: 0.156, 14.7: 0.163}[units]
    # insulin parameters only; no oral agent, so no ORALDDD / ORALPCT records
    assert set(out.dataset["PARAMCD"]) == {"TOTDDD", "INSTDD", "INSKGDD"}


def test_no_weight_before_the_visit_is_reported_and_left_empty():
    out = derive(
        [regimen("S1", 1, "INSULIN GLARGINE", 20.0, "2018-06-01", unit="U")],
        advs=weight_records([("S1", "2019-02-01", 70.0)]),
    )
    assert value(out, "S1", "INSKGDD", "DAY 0") is None
    assert value(out, "S1", "INSKGDD", "DAY 84") == 0.286  # 20 / 70 = 0.285714...
    missing = [f for f in out.findings if f.code == "adam-dose-weight-missing"]
    assert len(missing) == 2  # DAY 0 and DAY 28
    assert "no WEIGHT (ADVS) on or before the DAY 0 visit (2019-01-01)" in missing[0].message


def test_unusable_cm_values_are_reported_and_empty_never_zero():
    out = derive(
        [
            regimen("S1", 1, "METFORMIN", 1000.0, "2018-06-01"),
            regimen("S1", 2, "VOGLIBOSE", 0.6, "2018-06-01", "2019-01-28"),  # no DDD declared
            regimen("S2", 3, "METFORMIN", None, "2018-06-01"),  # PRN: no CMDOSTOT
            regimen("S3", 4, "METFORMIN", 1000.0, "2018-06-01"),
            regimen("S3", 5, "ACARBOSE", 100.0, "sometime"),  # not a date
            regimen("S3", 6, "ASPIRIN", 100.0, "2018-06-01", cat="OTHER"),  # not selected
        ]
    )
    assert value(out, "S1", "TOTDDD", "DAY 0") is None  # voglibose's DDDs unknown
    assert value(out, "S1", "TOTDDD", "DAY 28") == 0.5  # voglibose stopped: metformin alone
    assert value(out, "S2", "TOTDDD", "DAY 0") is None
    assert value(out, "S3", "TOTDDD", "DAY 0") == 0.5  # acarbose left out (reported)
    codes = sorted((f.code, f.severity, f.record) for f in out.findings)
    assert codes == [
        ("adam-dose-date-invalid", "warning", 5),
        ("adam-dose-ddd-missing", "error", 2),
        ("adam-dose-total-missing", "warning", 3),
    ]
    ddd = next(f for f in out.findings if f.code == "adam-dose-ddd-missing")
    assert "add it to study.yaml adam.dose.ddd (VOGLIBOSE: {ddd: ..., unit: ...})" in ddd.message


def test_missing_visit_date_and_subject_without_records_are_notices():
    cm = [regimen("S1", 1, "METFORMIN", 1000.0, "2018-06-01")]
    sv = sv_for(["S1"])
    sv = sv[sv["VISIT"] != "DAY 84"]
    out = derive_addose(pd.DataFrame(cm), sv, adsl_for(["S1", "S2"]), DoseSpec(**SPEC), VISITS)
    total = out.dataset[out.dataset["PARAMCD"] == "TOTDDD"]
    assert total["AVISIT"].tolist() == ["DAY 0", "DAY 28"]
    assert sorted((f.code, f.usubjid) for f in out.findings) == [
        ("adam-dose-no-records", "S2"),
        ("adam-dose-visit-date-missing", "S1"),
    ]


def test_lineage_links_each_value_to_its_cm_records_and_the_weight():
    advs = weight_records([("S1", "2019-01-01", 80.0)])
    out = derive(
        [
            regimen("S1", 1, "METFORMIN", 1000.0, "2018-06-01", "2019-03-25"),
            regimen("S1", 2, "INSULIN GLARGINE", 20.0, "2018-06-01", "2019-03-25", unit="U"),
        ],
        advs=advs,
    )
    cm_lineage = pd.DataFrame({"source_file": ["x.xlsx"] * 2, "source_sheet": ["CONMED"] * 2,
                               "source_row": [5, 6]})  # fmt: skip
    advs_lineage = pd.DataFrame({"sdtm_dataset": ["VS"], "sdtm_record": [9],
                                 "source_file": ["x.xlsx"], "source_sheet": ["VITALS"],
                                 "source_row": [12]})  # fmt: skip
    table = dose_lineage(out.dataset, out.sources, "CM", cm_lineage, advs_lineage)
    d = out.dataset
    tot0 = int(np.flatnonzero((d["PARAMCD"] == "TOTDDD") & (d["AVISIT"] == "DAY 0"))[0]) + 1
    rows = table[table["record"] == tot0]
    assert rows[["sdtm_dataset", "sdtm_record", "source_row"]].values.tolist() == [
        ["CM", 1, 5],
        ["CM", 2, 6],
    ]
    kg0 = int(np.flatnonzero((d["PARAMCD"] == "INSKGDD") & (d["AVISIT"] == "DAY 0"))[0]) + 1
    rows = table[table["record"] == kg0]
    assert rows[
        ["sdtm_dataset", "sdtm_record", "source_sheet", "computed_from"]
    ].values.tolist() == [
        ["CM", 2, "CONMED", None],
        ["VS", 9, "VITALS", "weight: ADVS record 1"],
    ]
    stopped = int(np.flatnonzero((d["PARAMCD"] == "TOTDDD") & (d["AVISIT"] == "DAY 84"))[0]) + 1
    rows = table[table["record"] == stopped]  # dose 0: one row, no SDTM record behind it
    assert rows[["sdtm_dataset", "sdtm_record", "computed_from"]].values.tolist() == [
        [None, pd.NA, None]
    ]


def test_the_example_study_declares_the_contract_rules():
    from trialflow.mapping.load import load_study

    dose = load_study("mappings/hucmsc-t2dm").spec.adam.dose
    assert dose.where == {"CMCAT": "HYPOGLYCAEMIC AGENT"}
    assert dose.visits == ["DAY 0", "DAY 14", "DAY 21", "DAY 28", "DAY 84"]
    assert {
        k: (v.ddd, v.unit)
        for k, v in dose.ddd.items()
        if k
        in (
            "METFORMIN",
            "GLIMEPIRIDE",
            "ACARBOSE",
            "SITAGLIPTIN",
            "REPAGLINIDE",
            "INSULIN GLARGINE",
        )
    } == {
        "METFORMIN": (2000, "mg"),
        "GLIMEPIRIDE": (2, "mg"),
        "ACARBOSE": (300, "mg"),
        "SITAGLIPTIN": (100, "mg"),
        "REPAGLINIDE": (4, "mg"),
        "INSULIN GLARGINE": (40, "U"),
    }
    assert [(c.avalcat1, c.pchg_max) for c in dose.categories.by_pchg] == [
        (">=50% REDUCTION", -50),
        ("10-<50% REDUCTION", -10),
        ("<10% REDUCTION OR INCREASE", None),
    ]
    assert [c.aval_max for c in dose.criteria] == [None, None, 0.2]  # fmt: skip


# --- spec errors name the file, line and key ------------------------------------------------------


def _spec_error(study_copy):
    from trialflow.errors import SpecError
    from trialflow.mapping.load import load_study

    with pytest.raises(SpecError) as err:
        load_study(study_copy)
    return str(err.value)


def test_an_unknown_class_of_agents_names_the_line(study_copy):
    from support import line_of, replace_once

    path = study_copy / "study.yaml"
    replace_once(path, "agents: oral, measure: ddd", "agents: orals, measure: ddd")
    line = line_of(path, "agents: orals")
    assert _spec_error(study_copy) == (
        f"{path}:{line}: adam.dose.parameters[1].agents: ORALDDD: agents orals is not all nor "
        "a class of classes (insulin, oral)"
    )


def test_categories_out_of_order_are_refused(study_copy):
    from support import replace_once

    path = study_copy / "study.yaml"
    replace_once(path, "avalca1n: 3, pchg_max: -10}", "avalca1n: 3, pchg_max: -60}")
    assert "by_pchg: pchg_max must increase from one category to the next" in _spec_error(
        study_copy
    )


def test_a_dose_visit_that_is_not_planned_is_an_error():
    from trialflow.errors import DerivationError

    spec = dict(SPEC, visits=["DAY 0", "WEEK 4"])
    with pytest.raises(DerivationError, match=r"adam\.dose\.visits: WEEK 4 is not a planned visit"):
        derive([regimen("S1", 1, "METFORMIN", 1000.0, "2018-06-01")], spec=spec)
