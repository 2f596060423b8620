"""Rules of Findings datasets (trialflow.validation.rules.findings): the example study is clean,
each seeded defect is found on exactly the records that carry it."""

from __future__ import annotations

import pandas as pd
import pytest

from trialflow.validation.core import RULES, Dataset, Package

NEW = [
    "testcd-test-not-one-to-one",
    "testcd-invalid",
    "test-too-long",
    "orres-missing",
    "orres-with-stat",
    "reasnd-without-not-done",
    "not-done-without-reason",
    "stresu-without-stresc",
    "stresc-missing",
    "blfl-without-result",
    "lobxfl-without-result",
    "lobxfl-not-y",
    "blfl-not-y",
    "baseline-flag-multiple",
    "baseline-after-first-dose",
    "normal-range-not-continuous",
    "nrind-inconsistent",
]


def lb(**columns: list) -> Dataset:
    """An LB dataset of the given columns (DOMAIN 'LB' and USUBJID S-1.. added when absent)."""
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame(
        {"DOMAIN": ["LB"] * n, "USUBJID": [f"S-{i + 1}" for i in range(n)], **columns}
    )
    return Dataset.from_frame("LB", frame)


def run(code: str, *datasets: Dataset) -> list[tuple]:
    """(dataset, record, usubjid, variable) of each finding of rule ``code``."""
    found = RULES[code].run(Package({ds.name: ds for ds in datasets}))
    return [(f.dataset, f.record, f.usubjid, f.variable) for f in found]


def messages(code: str, *datasets: Dataset) -> list[str]:
    return [f.message for f in RULES[code].run(Package({ds.name: ds for ds in datasets}))]


@pytest.mark.parametrize("code", NEW)
def test_example_study_is_clean(example_package, code):
    assert [f.message for f in RULES[code].run(example_package)] == []


@pytest.mark.parametrize("code", NEW)
def test_rules_are_cross_sdtm_rules_of_this_module(code):
    assert RULES[code].scope == "cross"
    assert RULES[code].run.__module__ == "trialflow.validation.rules.findings"


# --- test codes and names ----------------------------------------------------------------------


def test_testcd_test_one_to_one_reports_the_odd_record_each_way():
    ds = lb(
        LBTESTCD=["GLUC", "GLUC", "GLUC", "HBA1C", "HGBA1C"],
        LBTEST=["Glucose", "Glucose", "Glucose, Fasting", "Hemoglobin A1C", "Hemoglobin A1C"],
    )
    assert run("testcd-test-not-one-to-one", ds) == [
        ("LB", 3, "S-3", "LBTESTCD"),
        ("LB", 5, "S-5", "LBTESTCD"),
    ]
    said = messages("testcd-test-not-one-to-one", ds)
    assert "LBTESTCD 'GLUC' goes with LBTEST 'Glucose' on 2 other records" in said[0]
    assert "LBTEST 'Hemoglobin A1C' has LBTESTCD 'HBA1C' on 1 other record" in said[1]


def test_testcd_test_one_to_one_ignores_nulls_and_clean_pairs():
    ds = lb(LBTESTCD=["GLUC", "GLUC", None], LBTEST=["Glucose", None, "Glucose"])
    assert run("testcd-test-not-one-to-one", ds) == []


def test_testcd_invalid():
    ds = lb(LBTESTCD=["GLUC", "1GLUC", "GLUCOSE12", "HB-A1C", "A_1", None, " "])
    assert [r for _, r, _, _ in run("testcd-invalid", ds)] == [2, 3, 4]
    assert "'1GLUC' is not a valid test code" in messages("testcd-invalid", ds)[0]


def test_test_too_long_except_ie():
    ds = lb(LBTEST=["A" * 40, "B" * 41, None])
    assert run("test-too-long", ds) == [("LB", 2, "S-2", "LBTEST")]
    assert "has 41 characters" in messages("test-too-long", ds)[0]
    ie = Dataset.from_frame(
        "IE", pd.DataFrame({"DOMAIN": ["IE"], "IETESTCD": ["IN01"], "IETEST": ["C" * 60]})
    )
    assert run("test-too-long", ie) == []


# --- results and their status ------------------------------------------------------------------


def test_orres_missing_unless_not_done_or_derived():
    ds = lb(
        LBTESTCD=["GLUC"] * 5,
        LBORRES=["5.4", None, None, None, " "],
        LBSTAT=[None, "NOT DONE", None, None, None],
        LBDRVFL=[None, None, "Y", None, None],
    )
    assert run("orres-missing", ds) == [("LB", 4, "S-4", "LBORRES"), ("LB", 5, "S-5", "LBORRES")]
    assert messages("orres-missing", ds)[0].startswith("LBORRES is missing for LBTESTCD 'GLUC'")


def test_orres_missing_without_stat_or_drvfl_columns():
    ds = lb(LBORRES=["5.4", None])
    assert run("orres-missing", ds) == [("LB", 2, "S-2", "LBORRES")]


def test_orres_with_stat():
    ds = lb(LBORRES=["5.4", None, "6.0"], LBSTAT=["NOT DONE", "NOT DONE", None])
    assert run("orres-with-stat", ds) == [("LB", 1, "S-1", "LBSTAT")]


def test_reasnd_without_not_done_applies_outside_the_excluded_domains():
    ds = lb(LBREASND=["HAEMOLYSED", "LOST", None], LBSTAT=["NOT DONE", None, None])
    assert run("reasnd-without-not-done", ds) == [("LB", 2, "S-2", "LBREASND")]
    ex = Dataset.from_frame(
        "EX", pd.DataFrame({"DOMAIN": ["EX"], "USUBJID": ["S-1"], "EXREASND": ["x"]})
    )
    assert run("reasnd-without-not-done", ex) == []


def test_reasnd_without_stat_column_is_reported():
    ds = lb(LBREASND=["LOST"])
    assert "LBSTAT is missing" in messages("reasnd-without-not-done", ds)[0]


def test_not_done_without_reason():
    ds = lb(LBSTAT=["NOT DONE", "NOT DONE", None], LBREASND=["LOST", None, None])
    assert run("not-done-without-reason", ds) == [("LB", 2, "S-2", "LBREASND")]
    assert run("not-done-without-reason", lb(LBSTAT=["NOT DONE"])) == [("LB", 1, "S-1", "LBSTAT")]


def test_stresu_without_stresc():
    ds = lb(LBSTRESC=["5.4", None, None], LBSTRESU=["mmol/L", "mmol/L", None])
    assert run("stresu-without-stresc", ds) == [("LB", 2, "S-2", "LBSTRESC")]


def test_stresc_missing():
    ds = lb(LBORRES=["5.4", "NEGATIVE", None], LBSTRESC=["5.4", " ", None])
    assert run("stresc-missing", ds) == [("LB", 2, "S-2", "LBSTRESC")]
    assert "LBORRES is 'NEGATIVE' but LBSTRESC is missing" in messages("stresc-missing", ds)[0]


# --- baseline flags ----------------------------------------------------------------------------


def test_blfl_and_lobxfl_without_result():
    ds = lb(
        LBTESTCD=["GLUC"] * 3,
        LBSTRESC=["5.4", None, None],
        LBBLFL=["Y", "Y", None],
        LBLOBXFL=["Y", None, "Y"],
    )
    assert run("blfl-without-result", ds) == [("LB", 2, "S-2", "LBBLFL")]
    assert run("lobxfl-without-result", ds) == [("LB", 3, "S-3", "LBLOBXFL")]


def test_flags_must_be_y_or_null():
    ds = lb(LBBLFL=["Y", "N", "y", None], LBLOBXFL=["YES", "Y", None, " "])
    assert [r for _, r, _, _ in run("blfl-not-y", ds)] == [2, 3]
    assert [r for _, r, _, _ in run("lobxfl-not-y", ds)] == [1]


def test_baseline_flag_multiple_per_subject_and_test():
    frame = pd.DataFrame(
        {
            "DOMAIN": ["VS"] * 6,
            "USUBJID": ["S-1", "S-1", "S-1", "S-2", "S-2", "S-1"],
            "VSTESTCD": ["SYSBP", "SYSBP", "DIABP", "SYSBP", "SYSBP", "SYSBP"],
            "VSPOS": ["SITTING", "SITTING", "SITTING", "SITTING", "STANDING", "STANDING"],
            "VSLOBXFL": ["Y", "Y", "Y", "Y", "Y", "Y"],
        }
    )
    ds = Dataset.from_frame("VS", frame)
    assert run("baseline-flag-multiple", ds) == [
        ("VS", 1, "S-1", "VSLOBXFL"),
        ("VS", 2, "S-1", "VSLOBXFL"),
    ]
    assert (
        "VSLOBXFL = 'Y' on 2 records of subject 'S-1' for VSTESTCD 'SYSBP'"
        in (messages("baseline-flag-multiple", ds)[0])
    )


def test_baseline_after_first_dose_compares_on_common_precision():
    dm = Dataset.from_frame(
        "DM",
        pd.DataFrame(
            {"USUBJID": ["S-1", "S-2", "S-3"], "RFXSTDTC": ["2024-01-10", "2024-02", None]}
        ),
    )
    ds = Dataset.from_frame(
        "LB",
        pd.DataFrame(
            {
                "DOMAIN": ["LB"] * 5,
                "USUBJID": ["S-1", "S-1", "S-2", "S-3", "S-1"],
                "LBDTC": [
                    "2024-01-10T08:00",
                    "2024-01-11",
                    "2024-02-20",
                    "2024-05-01",
                    "2024-02-01",
                ],
                "LBLOBXFL": ["Y", "Y", "Y", "Y", None],
            }
        ),
    )
    assert run("baseline-after-first-dose", dm, ds) == [("LB", 2, "S-1", "LBLOBXFL")]
    assert "(RFXSTDTC '2024-01-10')" in messages("baseline-after-first-dose", dm, ds)[0]


def test_baseline_after_first_dose_needs_dm():
    ds = lb(LBDTC=["2024-01-11"], LBLOBXFL=["Y"])
    assert run("baseline-after-first-dose", ds) == []


# --- reference ranges --------------------------------------------------------------------------


def test_normal_range_on_non_continuous_results():
    ds = lb(
        LBORRES=["NEGATIVE", "5.4", "<2.0", "1+", "NEGATIVE", None],
        LBORNRLO=["0", "3.9", None, None, None, "1"],
        LBORNRHI=[None, "6.1", "37", None, None, None],
        LBSTNRHI=[None, "6.1", "37", "2", None, None],
    )
    assert run("normal-range-not-continuous", ds) == [
        ("LB", 1, "S-1", "LBORRES"),
        ("LB", 4, "S-4", "LBORRES"),
    ]
    said = messages("normal-range-not-continuous", ds)
    assert "LBORRES 'NEGATIVE' is not a continuous result but LBORNRLO is '0';" in said[0]
    assert "but LBSTNRHI is '2';" in said[1]


def test_normal_range_rule_is_for_lb_only():
    vs = Dataset.from_frame(
        "VS", pd.DataFrame({"DOMAIN": ["VS"], "VSORRES": ["HIGH"], "VSORNRHI": ["140"]})
    )
    assert run("normal-range-not-continuous", vs) == []


def test_nrind_inconsistent():
    ds = lb(
        LBSTRESN=[3.0, 5.0, 7.0, 5.0, 7.0, 2.0, None, 9.0],
        LBSTNRLO=["3.9", "3.9", "3.9", "3.9", None, "3.9", "3.9", None],
        LBSTNRHI=["6.1", "6.1", "6.1", "6.1", "6.1", "6.1", "6.1", None],
        LBNRIND=["LOW", "NORMAL", "HIGH", "HIGH", "NORMAL", "ABNORMAL", "LOW", "HIGH"],
    )
    assert run("nrind-inconsistent", ds) == [
        ("LB", 4, "S-4", "LBNRIND"),
        ("LB", 5, "S-5", "LBNRIND"),
    ]
    assert messages("nrind-inconsistent", ds)[0].startswith(
        "LBNRIND is 'HIGH' but LBSTRESN 5 against range '3.9' to '6.1' says otherwise"
    )


def test_nrind_normal_judged_at_the_precision_of_the_limit():
    ds = lb(
        LBSTRESN=[2.11, 2.2, 3.03, 0.082],
        LBSTNRLO=[1.6, 1.6, 0.8, 0.042],
        LBSTNRHI=[2.1, 2.1, 3.0, 0.112],
        LBNRIND=["NORMAL", "NORMAL", "HIGH", "HIGH"],
    )
    # 2.11 rounds into a high limit written as 2.1; 2.2 does not; 3.03 is above 3 (HIGH is
    # judged strictly); 0.082 is inside its range and cannot be HIGH.
    assert [r for _, r, _, _ in run("nrind-inconsistent", ds)] == [2, 4]
