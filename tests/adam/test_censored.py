"""Results beyond a limit ('<0.5', '>500') in the BDS template: AVALC, declared imputation,
DTYPE and IMPUTFL, the baseline, computed parameters, and a finding for each record without a
value. Expected values are worked out by hand in the comments."""

from __future__ import annotations

import pandas as pd
import pytest

from trialflow.adam.bds import derive_bds
from trialflow.adam.windows import AnalysisVisits, Window
from trialflow.errors import SpecError
from trialflow.mapping.load import load_study
from trialflow.mapping.spec import BaselineSpec, BdsSpec

ADSL = pd.DataFrame({"USUBJID": ["S-1"], "TRTSDT": [pd.Timestamp("2020-01-10")]})
WINDOWS = AnalysisVisits("window", (Window(4, "DAY 28", 22, 2, 120),))  # by ADY
ON_OR_BEFORE = BaselineSpec(rule="last_on_or_before")
COLUMNS = ["USUBJID", "LBSEQ", "LBTESTCD", "LBFAST", "LBSTRESC", "LBSTRESN", "LBSTRESU",
           "LBDTC", "VISITNUM", "VISIT"]  # fmt: skip


def _lb(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"LBSTRESC": "str", "LBSTRESN": "float64"})


def _cea(censored: dict | None) -> BdsSpec:
    param = {"paramcd": "CEA", "param": "CEA (ug/L)", "unit": "ug/L", "where": {"LBTESTCD": "CEA"}}
    if censored is not None:
        param["censored"] = censored
    return BdsSpec.model_validate({"source": "LB", "parameters": [param]})


# an older pre-dose value, a baseline below the limit, one value above it and one below again
CEA_ROWS = [
    ("S-1", 1, "CEA", "Y", "0.9", 0.9, "ug/L", "2019-12-20", 1, "SCREENING"),
    ("S-1", 2, "CEA", "Y", "<0.5", None, "ug/L", "2020-01-08", 2, "DAY 0"),
    ("S-1", 3, "CEA", "Y", "0.8", 0.8, "ug/L", "2020-02-01", 4, "DAY 28"),
    ("S-1", 4, "CEA", "Y", "<0.5", None, "ug/L", "2020-04-01", 5, "DAY 84"),
]


def _derive(spec: BdsSpec, rows: list[tuple]):
    return derive_bds("ADLB", _lb(rows), ADSL, spec, ON_OR_BEFORE, WINDOWS, ["TRTSDT"])


def _values(frame: pd.DataFrame, column: str) -> list:
    return [None if pd.isna(v) else v for v in frame[column]]


def test_half_the_limit_is_imputed_with_dtype_and_flag_and_avalc_keeps_the_text():
    adlb, findings = _derive(_cea({"below": "half_limit"}), CEA_ROWS)
    assert _values(adlb, "AVAL") == [0.9, 0.25, 0.8, 0.25]  # 0.5 / 2 = 0.25
    assert _values(adlb, "AVALC") == [None, "<0.5", None, "<0.5"]  # admiral: only when needed
    assert _values(adlb, "DTYPE") == [None, "HALFLLOQ", None, "HALFLLOQ"]
    # the baseline is the day-0 record (imputed), not the older screening value
    assert _values(adlb, "ABLFL") == [None, "Y", None, None]
    assert _values(adlb, "BASE") == [0.25] * 4 and _values(adlb, "BASEC") == ["<0.5"] * 4
    assert adlb["CHG"].tolist()[2:] == pytest.approx([0.8 - 0.25, 0.0])
    # imputed AVAL, or CHG from the imputed BASE: flagged wherever used
    assert _values(adlb, "IMPUTFL") == [None, "Y", "Y", "Y"]
    assert findings == []


def test_the_limit_below_and_above():
    rows = [
        ("S-1", 1, "CEA", "Y", "<2", None, "ug/L", "2020-01-08", 2, "DAY 0"),
        ("S-1", 2, "CEA", "Y", ">500", None, "ug/L", "2020-02-01", 4, "DAY 28"),
        ("S-1", 3, "CEA", "Y", ">=500", None, "ug/L", "2020-04-01", 5, "DAY 84"),
    ]
    adlb, findings = _derive(_cea({"below": "limit", "above": "limit"}), rows)
    assert _values(adlb, "AVAL") == [2.0, 500.0, 500.0]
    assert _values(adlb, "DTYPE") == ["LLOQ", "ULOQ", "ULOQ"]
    assert _values(adlb, "AVALC") == ["<2", ">500", ">=500"]
    assert adlb["CHG"].tolist()[1:] == [498.0, 498.0]
    assert findings == []


def test_without_a_declared_imputation_the_record_keeps_its_text_and_is_named():
    adlb, findings = _derive(_cea(None), CEA_ROWS)
    assert _values(adlb, "AVAL") == [0.9, None, 0.8, None]
    assert _values(adlb, "AVALC") == [None, "<0.5", None, "<0.5"]
    assert "DTYPE" not in adlb.columns and "IMPUTFL" not in adlb.columns  # nothing imputed
    # the censored day-0 result is still the baseline: no silent shift to the screening value;
    # BASE has no value, so neither has CHG, and the finding says so
    assert _values(adlb, "ABLFL") == [None, "Y", None, None]
    assert adlb["BASE"].isna().all() and _values(adlb, "BASEC") == ["<0.5"] * 4
    assert adlb["CHG"].isna().all()
    assert [(f.code, f.severity, f.record, f.value) for f in findings] == [
        ("adam-result-censored", "warning", 2, "<0.5"),
        ("adam-result-censored", "warning", 4, "<0.5"),
    ]
    baseline, later = findings
    assert "CEA at DAY 0 is '<0.5', below the limit" in baseline.message
    assert "censored.below" in baseline.message and "baseline record" in baseline.message
    assert "baseline record" not in later.message and later.usubjid == "S-1"


def test_a_dataset_without_such_results_carries_none_of_their_variables():
    rows = [row for row in CEA_ROWS if row[4] != "<0.5"]
    adlb, findings = _derive(_cea({"below": "half_limit"}), rows)
    assert adlb["AVAL"].tolist() == [0.9, 0.8] and findings == []
    assert not {"AVALC", "BASEC", "DTYPE", "IMPUTFL"} & set(adlb.columns)


def test_declared_none_leaves_aval_empty_with_a_notice():
    adlb, findings = _derive(_cea({"below": "none"}), CEA_ROWS)
    assert _values(adlb, "AVAL") == [0.9, None, 0.8, None]
    assert [(f.code, f.severity, f.record) for f in findings] == [
        ("adam-result-censored", "notice", 2),
        ("adam-result-censored", "notice", 4),
    ]
    assert "declares censored.below: none" in findings[0].message
    # a result above the limit has no rule when only "below" is declared: a warning
    rows = [("S-1", 1, "CEA", "Y", ">500", None, "ug/L", "2020-02-01", 4, "DAY 28")]
    _, findings = _derive(_cea({"below": "half_limit"}), rows)
    assert [(f.code, f.severity) for f in findings] == [("adam-result-censored", "warning")]
    assert "above the limit" in findings[0].message


def test_the_limit_is_converted_to_the_parameter_unit():
    spec = BdsSpec.model_validate(
        {"source": "LB", "parameters": [
            {"paramcd": "FCP", "param": "Fasting C-peptide (pmol/L)", "unit": "pmol/L",
             "where": {"LBTESTCD": "CPEPTIDE"}, "convert": {"ng/mL": {"multiply": 331.1}},
             "censored": {"below": "half_limit"}}]}
    )  # fmt: skip
    rows = [("S-1", 1, "CPEPTIDE", "Y", "<0.1", None, "ng/mL", "2020-01-08", 2, "DAY 0")]
    adlb, findings = _derive(spec, rows)
    # 0.1 ng/mL x 331.1 = 33.11 pmol/L; half of it 16.555
    assert adlb["AVALC"].tolist() == ["<33.11"]
    assert adlb["AVAL"].tolist() == pytest.approx([16.555])
    assert findings == []


def test_a_limit_in_a_unit_without_a_factor_is_a_unit_error_not_a_value():
    rows = [("S-1", 1, "CEA", "Y", "<0.5", None, "ng/dL", "2020-01-08", 2, "DAY 0")]
    adlb, findings = _derive(_cea({"below": "half_limit"}), rows)
    assert adlb["AVAL"].isna().all() and "AVALC" not in adlb.columns
    assert [(f.code, f.severity) for f in findings] == [("adam-unit-not-convertible", "error")]


def test_text_and_missing_results_are_named_not_dropped():
    rows = [
        ("S-1", 1, "CEA", "Y", "HAEMOLYSED", None, "ug/L", "2020-01-08", 2, "DAY 0"),
        ("S-1", 2, "CEA", "Y", None, None, "ug/L", "2020-02-01", 4, "DAY 28"),
    ]
    adlb, findings = _derive(_cea({"below": "half_limit"}), rows)
    assert _values(adlb, "AVALC") == ["HAEMOLYSED", None] and adlb["AVAL"].isna().all()
    assert [(f.code, f.severity, f.record) for f in findings] == [
        ("adam-result-not-numeric", "notice", 1),
        ("adam-result-missing", "notice", 2),
    ]
    assert "LBSEQ 2" in findings[1].message


# --- computed parameters with a censored input -----------------------------------------------


def _homa(censored_inputs: str | None, fcp_censored: dict | None) -> BdsSpec:
    fcp = {"paramcd": "FCP", "param": "Fasting C-peptide (pmol/L)", "unit": "pmol/L",
           "where": {"LBTESTCD": "CPEPTIDE", "LBFAST": "Y"}}  # fmt: skip
    if fcp_censored is not None:
        fcp["censored"] = fcp_censored
    homa = {"paramcd": "HOMAIR", "param": "HOMA-IR", "formula": "homa_ir_cpeptide",
            "inputs": {"cpeptide": "FCP", "glucose": "FPG"}}  # fmt: skip
    if censored_inputs is not None:
        homa["censored_inputs"] = censored_inputs
    return BdsSpec.model_validate(
        {"source": "LB", "parameters": [
            {"paramcd": "FPG", "param": "FPG (mmol/L)", "unit": "mmol/L",
             "where": {"LBTESTCD": "GLUC", "LBFAST": "Y"}}, fcp],
         "computed": [homa]}
    )  # fmt: skip


HOMA_ROWS = [
    ("S-1", 1, "GLUC", "Y", "8.4", 8.4, "mmol/L", "2020-01-08", 2, "DAY 0"),
    ("S-1", 2, "CPEPTIDE", "Y", "<100", None, "pmol/L", "2020-01-08", 2, "DAY 0"),
    ("S-1", 3, "GLUC", "Y", "7.0", 7.0, "mmol/L", "2020-02-01", 4, "DAY 28"),
    ("S-1", 4, "CPEPTIDE", "Y", "560", 560.0, "pmol/L", "2020-02-01", 4, "DAY 28"),
]


def _homa_records(adlb: pd.DataFrame) -> pd.DataFrame:
    return adlb[adlb["PARAMCD"] == "HOMAIR"].set_index("VISIT")


def test_computed_from_the_imputed_input_when_declared_and_flagged():
    adlb, findings = _derive(_homa("imputed", {"below": "half_limit"}), HOMA_ROWS)
    homa = _homa_records(adlb)
    # day 0: 1.5 + 50 x 8.4 / 2800 = 1.65; day 28: 1.5 + 560 x 7 / 2800 = 2.9
    assert homa.at["DAY 0", "AVAL"] == pytest.approx(1.65)
    assert homa.at["DAY 28", "AVAL"] == pytest.approx(2.9)
    assert homa.at["DAY 0", "IMPUTFL"] == "Y" and pd.isna(homa.at["DAY 0", "DTYPE"])
    # CHG at day 28 uses the imputed baseline 1.65: flagged too
    assert homa.at["DAY 28", "CHG"] == pytest.approx(2.9 - 1.65)
    assert homa.at["DAY 28", "IMPUTFL"] == "Y"
    assert homa.at["DAY 0", "SRCRECS"] == "FCP: LBSEQ 2; FPG: LBSEQ 1"
    assert findings == []


@pytest.mark.parametrize(
    ("rule", "fcp_rule", "severity", "why"),
    [
        (None, {"below": "half_limit"}, "warning", "declares no rule for it"),
        ("missing", {"below": "half_limit"}, "notice", "declares censored_inputs: missing"),
        ("imputed", None, "warning", "input's parameter declares no imputation"),
    ],
)
def test_a_censored_input_without_a_usable_rule_keeps_the_record_empty_and_named(
    rule, fcp_rule, severity, why
):
    adlb, findings = _derive(_homa(rule, fcp_rule), HOMA_ROWS)
    homa = _homa_records(adlb)
    # the record exists (not silently skipped), without a value, and is the baseline record
    assert pd.isna(homa.at["DAY 0", "AVAL"]) and homa.at["DAY 0", "ABLFL"] == "Y"
    assert pd.isna(homa.at["DAY 28", "CHG"]) and homa.at["DAY 28", "AVAL"] == pytest.approx(2.9)
    found = [f for f in findings if f.code == "adam-computed-censored-input"]
    assert [(f.severity, f.usubjid) for f in found] == [(severity, "S-1")]
    assert adlb.iloc[found[0].record - 1]["PARAMCD"] == "HOMAIR"
    assert "FCP '<100' (LBSEQ 2)" in found[0].message and why in found[0].message
    # no "not computed at low glucose" notice for it: the reason is the censored input
    assert not [f for f in findings if f.code == "adam-parameter-not-computed"]


def test_censored_keys_are_checked_when_the_spec_loads(study_copy):
    path = study_copy / "study.yaml"
    text = path.read_text()
    wrong = text.replace(
        "where: {LBTESTCD: CEA}, unit: ug/L, censored: {below: half_limit}}",
        "where: {LBTESTCD: CEA}, unit: ug/L, censored: {below: third_limit}}",
    )
    assert wrong != text
    path.write_text(wrong)
    line = next(n for n, t in enumerate(wrong.splitlines(), 1) if "third_limit" in t)
    with pytest.raises(SpecError, match=rf"study\.yaml:{line}: .*censored\.below: 'third_limit'"):
        load_study(study_copy)
    path.write_text(text.replace("censored_inputs: imputed}", "censored_inputs: half}", 1))
    with pytest.raises(SpecError, match=r"censored_inputs: 'half' is not one of"):
        load_study(study_copy)


# --- the bundled example ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def example():
    from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

    from trialflow.raw import read_export
    from trialflow.sdtm.build import build_sdtm

    study = load_study(EXAMPLE_SPECS)
    sdtm = build_sdtm(study, read_export(EXAMPLE_EXPORT), on_issue="none")
    return study, sdtm


def _adam(study, sdtm, *, undeclare: bool = False):
    from trialflow.adam.build import build_adam

    spec = study.spec.model_copy(deep=True)
    if undeclare:
        for param in spec.adam.datasets["ADLB"].parameters:
            param.censored = None
    return build_adam(spec, sdtm.domains, sdtm_lineage=sdtm.lineage, on_issue="none")


def _censored_lb(sdtm) -> pd.DataFrame:
    """The example's LB results below a limit, read from SDTM (LBORRES '<x', LBSTRESN empty)."""
    lb = sdtm.domains["LB"]
    rows = lb[lb["LBORRES"].str.startswith("<").fillna(False)]
    assert rows["LBSTRESN"].isna().all()
    return rows


def test_example_results_below_the_limit_are_imputed_as_declared(example):
    study, sdtm = example
    censored = _censored_lb(sdtm)
    assert len(censored) == 17  # CEA '<0.5' and CA 19-9 '<2.0' (the issue's 17 records)
    adlb = _adam(study, sdtm).datasets["ADLB"]
    keys = censored.set_index(["USUBJID", "LBSEQ"])
    measured = adlb[adlb["SRCSEQ"].notna()].set_index(["USUBJID", "SRCSEQ"])
    got = measured.loc[keys.index]
    # AVALC keeps the text; study.yaml declares half the limit for the tumour markers
    assert got["AVALC"].tolist() == keys["LBSTRESC"].tolist()
    limits = keys["LBSTRESC"].str.removeprefix("<").astype(float)
    assert got["AVAL"].tolist() == pytest.approx((limits / 2).tolist())
    assert set(got["DTYPE"]) == {"HALFLLOQ"} and set(got["IMPUTFL"]) == {"Y"}
    # no other record is imputed
    assert adlb["DTYPE"].notna().sum() == 17


def test_example_every_adlb_record_has_aval_avalc_or_a_finding(example):
    study, sdtm = example
    for undeclare in (False, True):
        adam = _adam(study, sdtm, undeclare=undeclare)
        adlb = adam.datasets["ADLB"]
        named = {f.record for f in adam.findings if f.dataset == "ADLB" and f.record}
        record = pd.Series(range(1, len(adlb) + 1), index=adlb.index)
        unexplained = adlb["AVAL"].isna() & adlb["AVALC"].isna() & ~record.isin(named)
        assert not unexplained.any(), adlb.loc[unexplained, ["USUBJID", "PARAMCD", "VISIT"]]
    # without the declared imputation the 17 records keep their text and each is named
    censored = _censored_lb(sdtm)
    warned = [f for f in adam.findings if f.code == "adam-result-censored"]
    assert len(warned) == len(censored) == 17
    assert {f.severity for f in warned} == {"warning"}
    rows = adlb.iloc[[f.record - 1 for f in warned]]
    assert rows["AVAL"].isna().all()
    assert sorted(rows["AVALC"]) == sorted(censored["LBSTRESC"])


def test_example_adae_duration_from_an_imputed_end_is_flagged(example):
    study, sdtm = example
    adae = _adam(study, sdtm).datasets["ADAE"]
    imputed = adae["ASTDTF"].notna() | adae["AENDTF"].notna()
    assert imputed.sum() == 1  # AE of 01-005: 2019-08-15 to "2019-08"
    row = adae[imputed].iloc[0]
    # AENDT imputed to the last day of August: 15 to 31 August is 17 days
    assert (row["AESTDTC"], row["AEENDTC"], row["AENDTF"]) == ("2019-08-15", "2019-08", "D")
    assert row["ADURN"] == 17 and row["IMPUTFL"] == "Y"
    assert adae.loc[~imputed, "IMPUTFL"].isna().all()
    assert adae.loc[~imputed, "ADURN"].notna().all()
    # ADVS has no result beyond a limit: none of their variables
    advs = _adam(study, sdtm).datasets["ADVS"]
    assert not {"AVALC", "BASEC", "DTYPE", "IMPUTFL"} & set(advs.columns)


def test_example_lb_specimen_by_test(example):
    # not about censoring, but built on the same example: lb.yaml declares the specimen per test
    _, sdtm = example
    lb = sdtm.domains["LB"]
    specimens = lb.groupby("LBTESTCD")["LBSPEC"].unique().map(list).to_dict()
    assert specimens == {
        "GLUC": ["PLASMA"], "HBA1C": ["BLOOD"], "WBC": ["BLOOD"], "CPEPTIDE": ["SERUM"],
        "ALT": ["SERUM"], "CREAT": ["SERUM"], "AFP": ["SERUM"], "CEA": ["SERUM"],
        "CA19_9AG": ["SERUM"],
    }  # fmt: skip
    assert sdtm.domains["EX"]["EXENDTC"].isna().all()
