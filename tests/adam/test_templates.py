"""The ADaM templates on the example study and on small hand-made SDTM data."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.adam.adae import derive_adae
from trialflow.adam.adsl import derive_adsl
from trialflow.adam.bds import derive_bds
from trialflow.adam.build import build_adam
from trialflow.adam.windows import AnalysisVisits, Window
from trialflow.errors import DerivationError
from trialflow.mapping.load import load_study
from trialflow.mapping.spec import AdaeSpec, BaselineSpec, BdsSpec, TreatmentSpec
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm

SUBJECT = "HUCMSC-T2DM-01-001"


@pytest.fixture(scope="module")
def example():
    study = load_study(EXAMPLE_SPECS)
    sdtm = build_sdtm(study, read_export(EXAMPLE_EXPORT), on_issue="none")
    adam = build_adam(study.spec, sdtm.domains, sdtm_lineage=sdtm.lineage, on_issue="none")
    return sdtm, adam


def _day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def _dec(value: float) -> Decimal:
    """A stored value as the decimal number it prints as."""
    return Decimal(repr(float(value)))


def _half_up(value: Decimal, digits: int) -> float:
    """Decimal arithmetic's round half up (away from zero), the reference for SAS's ROUND."""
    return float(value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


# --- ADSL ----------------------------------------------------------------------------------


def test_adsl_one_record_per_subject_with_treatment_from_ex(example):
    sdtm, adam = example
    adsl = adam.datasets["ADSL"]
    assert len(adsl) == 16 and adsl["USUBJID"].is_unique
    ex = sdtm.domains["EX"]
    mine = ex[ex["USUBJID"] == SUBJECT]
    row = adsl.set_index("USUBJID").loc[SUBJECT]
    assert row["TRTSDT"] == _day(mine["EXSTDTC"].min()[:10])
    assert row["TRTSDTM"] == pd.Timestamp(mine["EXSTDTC"].min())
    # the export has no infusion end (EXENDTC is empty, not a copy of the start): study.yaml
    # declares adam.treatment.end: EXSTDTC, so the last exposure is the last infusion's start
    assert mine["EXENDTC"].isna().all()
    assert row["TRTEDT"] == _day(mine["EXSTDTC"].max()[:10])
    assert row["TRTEDTM"] == pd.Timestamp(mine["EXSTDTC"].max())
    assert row["TRTDURD"] == (row["TRTEDT"] - row["TRTSDT"]).days + 1
    assert (row["NINFUS"], row["CUMDOSE"], row["CUMDOSU"]) == (3, 3.0, "10^6/kg")
    assert set(adsl["SAFFL"]) == {"Y"} and set(adsl["FASFL"]) == {"Y"}
    assert row["TRT01P"] == row["ARM"] and row["TRT01AN"] == 1.0


def test_adsl_diabetes_duration_from_mh_with_imputed_date(example):
    sdtm, adam = example
    adsl = adam.datasets["ADSL"].set_index("USUBJID")
    mh = sdtm.domains["MH"].set_index("USUBJID")
    for subject, row in adsl.iterrows():  # 16 subjects
        dtc = mh.at[subject, "MHSTDTC"]
        if len(dtc) == 4:  # year only: imputed to June 30 ("mid"), flag M
            assert row["DIABDXDT"] == _day(f"{dtc}-06-30") and row["DIABDXF"] == "M"
        elif len(dtc) == 7:  # year and month: the 15th, flag D
            assert row["DIABDXDT"] == _day(f"{dtc}-15") and row["DIABDXF"] == "D"
        else:
            assert row["DIABDXDT"] == _day(dtc) and pd.isna(row["DIABDXF"])
        expected = (row["TRTSDT"] - row["DIABDXDT"]).days / 365.25
        assert row["DIABDURY"] == pytest.approx(expected)


def test_adsl_baseline_values_come_from_the_bds_baseline_records(example):
    _, adam = example
    adsl = adam.datasets["ADSL"].set_index("USUBJID")
    advs, adlb = adam.datasets["ADVS"], adam.datasets["ADLB"]
    base = advs[(advs["USUBJID"] == SUBJECT) & (advs["ABLFL"] == "Y")].set_index("PARAMCD")
    assert adsl.at[SUBJECT, "WEIGHTBL"] == base.at["WEIGHT", "AVAL"]
    weight, height = _dec(base.at["WEIGHT", "AVAL"]), _dec(base.at["HEIGHT", "AVAL"])
    assert adsl.at[SUBJECT, "BMIBL"] == _half_up(weight / (height / 100) ** 2, 1)  # digits: 1
    hba1c = adlb[(adlb["USUBJID"] == SUBJECT) & (adlb["PARAMCD"] == "HBA1C")]
    assert adsl.at[SUBJECT, "HBA1CBL"] == hba1c.loc[hba1c["ABLFL"] == "Y", "AVAL"].item()


def test_adsl_untreated_subject_is_not_in_safety_set():
    dm = pd.DataFrame(
        {"USUBJID": ["1", "2"], "ARM": ["A", "A"], "ARMCD": ["A", "A"],
         "ACTARM": ["A", "Not Treated"], "ACTARMCD": ["A", "NOTTRT"]}
    )  # fmt: skip
    ex = pd.DataFrame(
        {"USUBJID": ["1", "2"], "EXDOSE": [1.0, 0.0], "EXSTDTC": ["2020-01-01", "2020-01-02"]}
    )
    # no end collected: the start is declared the end of a dose
    adsl, findings = derive_adsl(dm, ex, None, TreatmentSpec(end="EXSTDTC"), None, ["A"])
    assert adsl["SAFFL"].tolist() == ["Y", "N"]
    assert adsl["NINFUS"].tolist() == [1, 0]
    assert pd.isna(adsl["TRTSDT"].iloc[1])
    # TRT01A is DM.ACTARM as admiral's ADSL template has it (TRT01A = ACTARM), "Not Treated"
    # (the SDTMIG 3.2 convention) kept, not blanked; its code is no arm of the study: no TRT01AN
    assert adsl["TRT01A"].iloc[1] == "Not Treated" and pd.isna(adsl["TRT01AN"].iloc[1])
    assert findings == []


# --- BDS ------------------------------------------------------------------------------------


def test_adlb_homa_records_are_computed_from_the_same_visit(example):
    _, adam = example
    adlb = adam.datasets["ADLB"]
    mine = adlb[adlb["USUBJID"] == SUBJECT]
    for adt in mine.loc[mine["PARAMCD"] == "HOMAIR", "ADT"]:
        at = mine[mine["ADT"] == adt].set_index("PARAMCD")
        fcp, fpg = _dec(at.at["FCP", "AVAL"]), _dec(at.at["FPG", "AVAL"])
        # study.yaml: HOMA-IR and HOMA-B to 2 decimals, rounded half up (decimal arithmetic)
        assert at.at["HOMAIR", "AVAL"] == _half_up(Decimal("1.5") + fcp * fpg / 2800, 2)
        assert at.at["HOMAB", "AVAL"] == _half_up(Decimal("0.27") * fcp / (fpg - Decimal("3.5")), 2)
        seqs = f"FCP: LBSEQ {int(at.at['FCP', 'SRCSEQ'])}; FPG: LBSEQ {int(at.at['FPG', 'SRCSEQ'])}"
        assert at.at["HOMAIR", "SRCRECS"] == seqs
        assert pd.isna(at.at["HOMAIR", "SRCSEQ"])


def test_bds_baseline_is_last_value_on_or_before_first_dose(example):
    _, adam = example
    for name in ("ADLB", "ADVS"):
        data = adam.datasets[name]
        flagged = data[data["ABLFL"] == "Y"]
        assert not flagged.duplicated(["USUBJID", "PARAMCD"]).any()
        assert (flagged["ADT"] <= flagged["TRTSDT"]).all()
        assert set(flagged["AVISIT"]) == {"BASELINE"}
        pre = data[(data["ADT"] <= data["TRTSDT"]) & data["AVAL"].notna()]
        latest = pre.groupby(["USUBJID", "PARAMCD"])["ADT"].max()
        chosen = flagged.set_index(["USUBJID", "PARAMCD"])["ADT"]
        assert chosen.sort_index().equals(latest.sort_index())


def test_bds_change_from_baseline_only_after_baseline(example):
    _, adam = example
    adlb = adam.datasets["ADLB"]
    post = adlb["ADT"] > adlb["TRTSDT"]
    assert adlb.loc[~post, "CHG"].isna().all() and adlb.loc[~post, "PCHG"].isna().all()
    rows = adlb[post & adlb["AVAL"].notna() & adlb["BASE"].notna()]
    # CHG is the decimal difference exactly (the parameters' digits: AVAL and BASE are at them);
    # PCHG is 100 x CHG / |BASE| rounded half up to 2 decimals (pchg_digits).
    aval, base = rows["AVAL"].map(_dec), rows["BASE"].map(_dec)
    assert rows["CHG"].tolist() == [float(a - b) for a, b in zip(aval, base, strict=True)]
    expected = [
        _half_up(100 * (a - b) / abs(b), 2) if b else None
        for a, b in zip(aval, base, strict=True)
    ]
    got = rows["PCHG"].astype(object).where(rows["PCHG"].notna(), None)
    assert got.tolist() == expected


def test_equal_changes_at_the_data_precision_are_equal_and_tie(example):
    # FPG is measured to 2 decimals: changes equal in decimal are the same number (the issue's
    # -3.89, which the binary subtraction gave as -3.8899999999999997 and -3.8900000000000006),
    # so the signed-rank test sees them as a tie.
    _, adam = example
    adlb = adam.datasets["ADLB"]
    fpg = adlb[(adlb["PARAMCD"] == "FPG") & adlb["CHG"].notna()]
    pairs = zip(fpg["AVAL"], fpg["BASE"], strict=True)
    change = pd.Series([str((_dec(a) - _dec(b)).normalize()) for a, b in pairs], index=fpg.index)
    tied = fpg.groupby(change)["CHG"].agg(["size", "nunique"])
    assert (tied["nunique"] == 1).all()
    assert fpg["CHG"].nunique() == change.nunique()
    # the example has such ties, which the binary differences split
    split = fpg.assign(D=fpg["AVAL"] - fpg["BASE"]).groupby(change)["D"].nunique()
    assert (split > 1).any() and tied.loc[split > 1, "size"].ge(2).all()


def test_fcp_of_3_5_ng_ml_is_1158_9_pmol_l_and_carries_into_homa(example):
    # The export keeps one fasting C-peptide on a half ng/mL (trialflow.synth): subject 02-005,
    # Day 28, 3.5 ng/mL. 3.5 x 331.1 = 1158.85 pmol/L; FCP has 1 decimal and SAS's
    # ROUND(1158.85, 0.1) is 1158.9 (round half to even gives 1158.8). By hand from the raw
    # export: FPG that day 118 mg/dL / 18.016 = 6.5497... -> 6.55 mmol/L;
    # HOMA-IR = 1.5 + 1158.9 x 6.55 / 2800 = 1.5 + 2.71099... = 4.21099... -> 4.21;
    # HOMA-B = 0.27 x 1158.9 / (6.55 - 3.5) = 312.903 / 3.05 = 102.5911... -> 102.59 (102.58
    # from 1158.8). Baseline FCP 4.1 ng/mL x 331.1 = 1357.51 -> 1357.5, so CHG = -198.6.
    sdtm, adam = example
    lb = sdtm.domains["LB"]
    raw = lb[(lb["LBTESTCD"] == "CPEPTIDE") & (lb["LBORRES"] == "3.5") & (lb["LBFAST"] == "Y")]
    assert len(raw) == 1 and raw["LBORRESU"].item() == "ug/L"
    assert raw["USUBJID"].item() == "HUCMSC-T2DM-02-005" and raw["VISIT"].item() == "DAY 28"
    assert (raw["LBSTRESC"].item(), raw["LBSTRESN"].item()) == ("1158.9", 1158.9)
    adlb = adam.datasets["ADLB"]
    same_day = adlb["ADT"] == pd.Timestamp(raw["LBDTC"].item()[:10])
    day = adlb[(adlb["USUBJID"] == raw["USUBJID"].item()) & same_day].set_index("PARAMCD")
    assert (day.at["FCP", "AVAL"], day.at["FPG", "AVAL"]) == (1158.9, 6.55)
    assert (day.at["HOMAIR", "AVAL"], day.at["HOMAB", "AVAL"]) == (4.21, 102.59)
    assert (day.at["FCP", "BASE"], day.at["FCP", "CHG"]) == (1357.5, -198.6)


def test_bds_analysis_windows_and_one_analysis_record_per_window(example):
    sdtm, adam = example
    adlb = adam.datasets["ADLB"]
    post = adlb[adlb["AVISITN"] > 0]
    # days from the subject's DAY 0 visit (study.yaml: windows: schedule, +/- 3 around the
    # planned days), counted here from the SDTM dates directly
    lb = sdtm.domains["LB"]
    day0 = (
        pd.to_datetime(lb.loc[lb["VISIT"] == "DAY 0", "LBDTC"].str[:10])
        .groupby(lb["USUBJID"])
        .min()
    )
    day = (post["ADT"] - post["USUBJID"].map(day0)).dt.days
    windows = {2: (11, 17), 3: (18, 24), 4: (25, 31), 5: (81, 87)}
    for avisitn, (low, high) in windows.items():
        days = day[post["AVISITN"] == avisitn]
        assert len(days) and days.between(low, high).all()
        at = post[post["AVISITN"] == avisitn]
        assert (at["AWLO"] == low).all() and (at["AWHI"] == high).all()
        assert (at["AWTDIFF"] == (day[at.index] - (low + 3)).abs()).all()
        assert set(at["AWU"]) == {"DAYS"}
    analysed = adlb[adlb["ANL01FL"] == "Y"]
    assert not analysed.duplicated(["USUBJID", "PARAMCD", "AVISITN"]).any()
    # the example's unscheduled visit (day 41 after DAY 0) is in no window: no AVISIT, noted
    unscheduled = adlb[adlb["VISIT"] == "UNSCHEDULED 4.01"]
    assert len(unscheduled) == 2 and unscheduled["AVISIT"].isna().all()
    assert unscheduled["ANL01FL"].isna().all()
    noted = [f for f in adam.findings if f.code == "adam-outside-windows" and f.dataset == "ADLB"]
    assert sorted(adlb.iloc[f.record - 1]["PARAMCD"] for f in noted) == ["FPG", "WBC"]
    assert "day 41 from DAY 0" in noted[0].message


def _lb(rows: list[tuple]) -> pd.DataFrame:
    cols = ["USUBJID", "LBSEQ", "LBTESTCD", "LBFAST", "LBSTRESN", "LBSTRESU", "LBDTC", "VISITNUM",
            "VISIT"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


ADSL_SMALL = pd.DataFrame({"USUBJID": ["S-1"], "TRTSDT": [pd.Timestamp("2020-01-10")]})
WINDOWS = AnalysisVisits("window", (Window(4, "DAY 28", 22, 19, 50),))  # by ADY
SPEC = BdsSpec.model_validate(
    {
        "source": "LB",
        "parameters": [
            {"paramcd": "FPG", "param": "Fasting glucose (mmol/L)", "unit": "mmol/L",
             "where": {"LBTESTCD": "GLUC", "LBFAST": "Y"},
             "convert": {"mg/dL": {"divide": 18.016}}},
            {"paramcd": "FCP", "param": "Fasting C-peptide (pmol/L)", "unit": "pmol/L",
             "where": {"LBTESTCD": "CPEPTIDE", "LBFAST": "Y"}},
        ],
        "computed": [
            {"paramcd": "HOMAB", "param": "HOMA-B (%)", "formula": "homa_b_cpeptide",
             "inputs": {"cpeptide": "FCP", "glucose": "FPG"}},
        ],
    }
)  # fmt: skip


def test_bds_converts_units_and_reports_homa_b_not_computed_at_low_glucose():
    lb = _lb(
        [
            ("S-1", 1, "GLUC", "Y", 162.144, "mg/dL", "2020-01-03", 1, "DAY 0"),  # 9.0 mmol/L
            ("S-1", 2, "CPEPTIDE", "Y", 700.0, "pmol/L", "2020-01-03", 1, "DAY 0"),
            ("S-1", 3, "GLUC", "Y", 3.4, "mmol/L", "2020-02-01", 4, "DAY 28"),
            ("S-1", 4, "CPEPTIDE", "Y", 650.0, "pmol/L", "2020-02-01", 4, "DAY 28"),
        ]
    )
    baseline = BaselineSpec(rule="last_on_or_before")
    adlb, findings = derive_bds("ADLB", lb, ADSL_SMALL, SPEC, baseline, WINDOWS, ["TRTSDT"])
    fpg = adlb[adlb["PARAMCD"] == "FPG"]
    assert fpg["AVAL"].tolist() == pytest.approx([9.0, 3.4])
    homab = adlb[adlb["PARAMCD"] == "HOMAB"].set_index("VISIT")
    assert homab.at["DAY 0", "AVAL"] == pytest.approx(0.27 * 700 / (9.0 - 3.5))
    assert pd.isna(homab.at["DAY 28", "AVAL"])  # FPG 3.4 <= 3.5: kept, empty, reported
    assert [f.code for f in findings] == ["adam-parameter-not-computed"]
    (f,) = findings
    assert f.severity == "notice" and f.dataset == "ADLB" and f.usubjid == "S-1"
    assert "glucose <= 3.5" in f.message and "LBSEQ 3" in f.message
    assert adlb.iloc[f.record - 1]["PARAMCD"] == "HOMAB"


def test_bds_unit_without_conversion_is_an_error_and_leaves_aval_empty():
    lb = _lb([("S-1", 1, "CPEPTIDE", "Y", 2.1, "ng/mL", "2020-01-03", 1, "DAY 0")])
    adlb, findings = derive_bds(
        "ADLB", lb, ADSL_SMALL, SPEC, BaselineSpec(rule="last_on_or_before"), WINDOWS, ["TRTSDT"]
    )
    assert adlb["AVAL"].isna().all()
    assert [(f.code, f.severity, f.record) for f in findings] == [
        ("adam-unit-not-convertible", "error", 1)
    ]
    assert "ng/mL" in findings[0].message


def test_bds_baseline_rule_before_excludes_the_first_dose_day_and_outside_window_noted():
    lb = _lb(
        [
            ("S-1", 1, "GLUC", "Y", 8.0, "mmol/L", "2020-01-03", 1, "DAY 0"),
            ("S-1", 2, "GLUC", "Y", 7.5, "mmol/L", "2020-01-10", 2, "DAY 7"),
            ("S-1", 3, "GLUC", "Y", 7.0, "mmol/L", "2020-06-01", 9, "DAY 150"),
        ]
    )
    rule = BaselineSpec(rule="last_on_or_before")
    on_or_before = derive_bds("ADLB", lb, ADSL_SMALL, SPEC, rule, WINDOWS, ["TRTSDT"])[0]
    assert on_or_before["ABLFL"].fillna("-").tolist() == ["-", "Y", "-"]
    before, findings = derive_bds("ADLB", lb, ADSL_SMALL, SPEC, BaselineSpec(rule="last_before"),
                                  WINDOWS, ["TRTSDT"])  # fmt: skip
    assert before["ABLFL"].iloc[0] == "Y" and pd.isna(before["ABLFL"].iloc[1])
    assert before["CHG"].iloc[1] == pytest.approx(-0.5)  # the dose day is post-baseline here
    # after baseline and in no window: the dose-day record (window DAY 28 starts at ADY 19)
    # and the ADY 144 record
    assert [(f.code, f.record) for f in findings] == [
        ("adam-outside-windows", 2),
        ("adam-outside-windows", 3),
    ]


def test_bds_overlapping_parameter_definitions_are_refused():
    spec = BdsSpec.model_validate(
        {"source": "LB", "parameters": [
            {"paramcd": "GLU", "param": "Glucose", "where": {"LBTESTCD": "GLUC"}},
            {"paramcd": "FPG", "param": "Fasting glucose", "where": {"LBFAST": "Y"}}]}
    )  # fmt: skip
    lb = _lb([("S-1", 1, "GLUC", "Y", 8.0, "mmol/L", "2020-01-03", 1, "DAY 0")])
    with pytest.raises(DerivationError, match="record 1 matches the 'where' of both GLU and FPG"):
        derive_bds("ADLB", lb, ADSL_SMALL, spec, BaselineSpec(rule="last_before"), WINDOWS,
                   ["TRTSDT"])  # fmt: skip


# --- ADAE -----------------------------------------------------------------------------------


def test_adae_imputation_emergence_and_nearest_infusion():
    ae = pd.DataFrame(
        {
            "USUBJID": ["S-1"] * 4,
            "AESEQ": [1.0, 2.0, 3.0, 4.0],
            "AESTDTC": ["2020-01", "2020-01-05", "2020-01-18", "2020-03-20"],
            "AEENDTC": ["2020-01-12", "2020-01-06", "2020-02", None],
        }
    )
    adsl = pd.DataFrame(
        {"USUBJID": ["S-1"], "TRTSDT": [pd.Timestamp("2020-01-10")],
         "TRTEDT": [pd.Timestamp("2020-01-24")]}
    )  # fmt: skip
    doses = pd.DataFrame(
        {
            "USUBJID": ["S-1"] * 3,
            "EXSTDT": pd.to_datetime(["2020-01-10", "2020-01-17", "2020-01-24"]),
        }
    )
    adae, findings = derive_adae(ae, adsl, doses, AdaeSpec(emergent_days=30), ["TRTSDT", "TRTEDT"])
    got = adae.set_index("AESEQ")
    # partial start 2020-01 is imputed to the first dose date, not to January 1 (min_dates)
    assert got.at[1.0, "ASTDT"] == pd.Timestamp("2020-01-10") and got.at[1.0, "ASTDTF"] == "D"
    assert got.at[3.0, "AENDT"] == pd.Timestamp("2020-02-29") and got.at[3.0, "AENDTF"] == "D"
    # AE 4 starts 56 days after the last dose (window: 30 days); AE 2 before the first dose
    assert got.loc[[1.0, 2.0, 3.0, 4.0], "TRTEMFL"].fillna("-").tolist() == ["Y", "-", "Y", "-"]
    assert got.at[2.0, "PREFL"] == "Y" and pd.isna(got.at[2.0, "INFNUM"])
    assert (got.at[3.0, "INFNUM"], got.at[3.0, "INFDAYS"]) == (2.0, 1.0)
    assert got.at[2.0, "ASTDY"] == -5 and got.at[1.0, "ADURN"] == 3.0
    assert findings == []


def test_bds_records_of_tests_without_a_parameter_are_reported_not_dropped_silently():
    lb = _lb(
        [
            ("S-1", 1, "GLUC", "Y", 8.0, "mmol/L", "2020-01-03", 1, "DAY 0"),
            ("S-1", 2, "ALB", "Y", 40.0, "g/L", "2020-01-03", 1, "DAY 0"),
            ("S-1", 3, "ALB", "Y", 41.0, "g/L", "2020-02-01", 4, "DAY 28"),
        ]
    )
    rule = BaselineSpec(rule="last_on_or_before")
    adlb, findings = derive_bds("ADLB", lb, ADSL_SMALL, SPEC, rule, WINDOWS, ["TRTSDT"])
    assert set(adlb["PARAMCD"]) == {"FPG"}
    notes = [f for f in findings if f.code == "adam-records-not-used"]
    assert [(f.severity, f.value) for f in notes] == [("notice", "ALB")]
    assert "2 LB record(s) of LBTESTCD ALB" in notes[0].message


def test_bds_rounds_converted_and_computed_values_to_the_declared_digits():
    spec = BdsSpec.model_validate(
        {**SPEC.model_dump(by_alias=True, exclude_none=True), "pchg_digits": 1,
         "parameters": [{**p.model_dump(exclude_none=True), "digits": d}
                        for p, d in zip(SPEC.parameters, (2, 1), strict=True)],
         "computed": [{**SPEC.computed[0].model_dump(exclude_none=True), "digits": 2}]}
    )  # fmt: skip
    lb = _lb(
        [
            # 162.23408 mg/dL / 18.016 = 9.005 mmol/L exactly: SAS's ROUND gives 9.01
            ("S-1", 1, "GLUC", "Y", 162.23408, "mg/dL", "2020-01-03", 1, "DAY 0"),
            ("S-1", 2, "CPEPTIDE", "Y", 700.0, "pmol/L", "2020-01-03", 1, "DAY 0"),
            ("S-1", 3, "GLUC", "Y", 7.3, "mmol/L", "2020-02-01", 4, "DAY 28"),
            ("S-1", 4, "CPEPTIDE", "Y", 650.4, "pmol/L", "2020-02-01", 4, "DAY 28"),
        ]
    )
    rule = BaselineSpec(rule="last_on_or_before")
    adlb, findings = derive_bds("ADLB", lb, ADSL_SMALL, spec, rule, WINDOWS, ["TRTSDT"])
    got = adlb.set_index(["PARAMCD", "VISIT"])
    assert got.at[("FPG", "DAY 0"), "AVAL"] == 9.01
    # By hand: HOMA-B = 0.27 x 700 / (9.01 - 3.5) = 34.3012... -> 34.30 at baseline and
    # 0.27 x 650.4 / (7.3 - 3.5) = 46.2126... -> 46.21 at day 28; CHG 46.21 - 34.30 = 11.91;
    # PCHG 100 x 11.91 / 34.30 = 34.723... -> 34.7; FPG CHG 7.3 - 9.01 = -1.71, PCHG -18.978
    # -> -19.0.
    assert (got.at[("HOMAB", "DAY 0"), "AVAL"], got.at[("HOMAB", "DAY 28"), "AVAL"]) == (
        34.30, 46.21)  # fmt: skip
    assert (got.at[("HOMAB", "DAY 28"), "CHG"], got.at[("HOMAB", "DAY 28"), "PCHG"]) == (
        11.91, 34.7)  # fmt: skip
    assert (got.at[("FPG", "DAY 28"), "CHG"], got.at[("FPG", "DAY 28"), "PCHG"]) == (-1.71, -19.0)
    assert findings == []


def test_bds_value_with_more_decimals_than_declared_is_a_warning():
    spec = BdsSpec.model_validate(
        {"source": "LB", "parameters": [
            {"paramcd": "FPG", "param": "Fasting glucose (mmol/L)", "unit": "mmol/L",
             "where": {"LBTESTCD": "GLUC"}, "digits": 1}]}
    )  # fmt: skip
    lb = _lb(
        [
            ("S-1", 1, "GLUC", "Y", 8.0, "mmol/L", "2020-01-03", 1, "DAY 0"),
            ("S-1", 2, "GLUC", "Y", 7.25, "mmol/L", "2020-02-01", 4, "DAY 28"),
        ]
    )
    rule = BaselineSpec(rule="last_on_or_before")
    adlb, findings = derive_bds("ADLB", lb, ADSL_SMALL, spec, rule, WINDOWS, ["TRTSDT"])
    assert adlb["AVAL"].tolist() == [8.0, 7.25]  # the collected value is kept
    assert adlb["CHG"].iloc[1] == -0.75  # the data's decimals are kept, not rounded away
    (f,) = findings
    assert (f.code, f.severity, f.record, f.value) == (
        "adam-aval-finer-than-digits", "warning", 2, "7.25")  # fmt: skip
    assert "more decimals than the 1 declared in study.yaml (digits)" in f.message
