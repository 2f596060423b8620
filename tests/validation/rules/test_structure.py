"""Rules of any SDTM dataset (trialflow.validation.rules.structure): the example study is clean,
each seeded defect is found exactly."""

from __future__ import annotations

import pandas as pd
import pytest

from trialflow.validation.core import RULES, Dataset, Package

NEW = [
    "dataset-empty",
    "dataset-name-not-domain",
    "domain-length-invalid",
    "studyid-mismatch",
    "dataset-label-not-sdtmig",
    "variable-label-not-sdtmig",
    "variable-order-not-sdtmig",
    "permissible-variable-empty",
    "scat-equals-cat",
]


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
def test_rules_belong_to_this_module(code):
    assert RULES[code].run.__module__ == "trialflow.validation.rules.structure"


def test_dataset_empty():
    empty = Dataset.from_frame("MH", pd.DataFrame({"STUDYID": [], "DOMAIN": []}))
    full = Dataset.from_frame("AE", pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["AE"]}))
    assert run("dataset-empty", empty, full) == [("MH", None, None, None)]
    assert messages("dataset-empty", empty)[0].startswith("MH has no records")


def test_dataset_name_not_domain_allows_split_datasets():
    lbch = Dataset.from_frame(
        "LBCH", pd.DataFrame({"DOMAIN": ["LB", "LB", "VS", None], "USUBJID": list("ABCD")})
    )
    assert run("dataset-name-not-domain", lbch) == [("LBCH", 3, "C", "DOMAIN")]
    assert "DOMAIN is 'VS' in dataset LBCH" in messages("dataset-name-not-domain", lbch)[0]


def test_dataset_name_not_domain_skips_relationship_datasets():
    supp = Dataset.from_frame("SUPPLB", pd.DataFrame({"DOMAIN": ["XX"]}), kind="supp")
    relrec = Dataset.from_frame("RELREC", pd.DataFrame({"DOMAIN": ["XX"]}))
    assert run("dataset-name-not-domain", supp, relrec) == []


def test_domain_length_invalid():
    ds = Dataset.from_frame("LB", pd.DataFrame({"DOMAIN": ["LB", "LBX", "L", " LB "]}))
    assert [r for _, r, _, _ in run("domain-length-invalid", ds)] == [2, 3]


def test_studyid_mismatch_against_dm():
    dm = Dataset.from_frame(
        "DM", pd.DataFrame({"STUDYID": ["ST1", "ST1", "ST2"], "USUBJID": ["A", "B", "C"]})
    )
    ae = Dataset.from_frame(
        "AE", pd.DataFrame({"STUDYID": ["ST1", "st1", " ST1", None], "USUBJID": list("ABCD")})
    )
    assert run("studyid-mismatch", dm, ae) == [("DM", 3, "C", "STUDYID"), ("AE", 2, "B", "STUDYID")]
    assert "but the study is 'ST1' (DM)" in messages("studyid-mismatch", dm, ae)[1]


def test_studyid_mismatch_needs_dm():
    ae = Dataset.from_frame("AE", pd.DataFrame({"STUDYID": ["ST1", "ST2"], "USUBJID": ["A", "B"]}))
    assert run("studyid-mismatch", ae) == []


def test_dataset_label_not_sdtmig():
    good = Dataset.from_frame("LB", pd.DataFrame({"X": [1]}), label="laboratory test results ")
    bad = Dataset.from_frame("VS", pd.DataFrame({"X": [1]}), label="Vitals")
    supp = Dataset.from_frame("SUPPLB", pd.DataFrame({"X": [1]}), kind="supp", label="Supp LB")
    unlabelled = Dataset.from_frame("DM", pd.DataFrame({"X": [1]}))
    custom = Dataset.from_frame("XY", pd.DataFrame({"X": [1]}), label="Anything")
    assert run("dataset-label-not-sdtmig", good, bad, supp, unlabelled, custom) == [
        ("VS", None, None, None),
        ("SUPPLB", None, None, None),
    ]
    said = messages("dataset-label-not-sdtmig", bad, supp)
    assert said == [
        "VS is labelled 'Vitals'; the SDTMIG label is 'Vital Signs'.",
        "SUPPLB is labelled 'Supp LB'; the SDTMIG label is 'Supplemental Qualifiers for LB'.",
    ]


def test_variable_label_not_sdtmig():
    frame = pd.DataFrame({"STUDYID": ["S"], "LBTESTCD": ["GLUC"], "LBFOO": ["x"]})
    labels = {"STUDYID": "study identifier", "LBTESTCD": "Lab Test Code", "LBFOO": "Foo"}
    ds = Dataset.from_frame("LB", frame, labels=labels)
    assert run("variable-label-not-sdtmig", ds) == [("LB", None, None, "LBTESTCD")]
    assert messages("variable-label-not-sdtmig", ds) == [
        "LBTESTCD is labelled 'Lab Test Code'; the SDTMIG label is 'Lab Test or Examination "
        "Short Name'."
    ]


def test_variable_order_not_sdtmig_reports_the_first_misplaced_variable_once():
    frame = pd.DataFrame(columns=["STUDYID", "USUBJID", "DOMAIN", "EXTRA", "LBTESTCD", "LBSEQ"])
    ds = Dataset.from_frame("LB", frame)
    assert run("variable-order-not-sdtmig", ds) == [("LB", None, None, "USUBJID")]
    assert (
        "(STUDYID, DOMAIN, USUBJID, LBSEQ, LBTESTCD)"
        in messages("variable-order-not-sdtmig", ds)[0]
    )
    ordered = Dataset.from_frame("LB", frame[["STUDYID", "DOMAIN", "EXTRA", "USUBJID", "LBSEQ"]])
    assert run("variable-order-not-sdtmig", ordered) == []


def test_permissible_variable_empty():
    frame = pd.DataFrame(
        {
            "STUDYID": ["S", "S"],
            "LBSPEC": [None, " "],
            "LBMETHOD": [None, "X"],
            "LBORRES": [None, None],
        }
    )
    ds = Dataset.from_frame("LB", frame)
    # LBSPEC and LBMETHOD are Permissible, LBORRES Expected: only the never-used LBSPEC counts.
    assert run("permissible-variable-empty", ds) == [("LB", None, None, "LBSPEC")]


def test_scat_equals_cat():
    ds = Dataset.from_frame(
        "LB",
        pd.DataFrame(
            {
                "DOMAIN": ["LB"] * 4,
                "USUBJID": list("ABCD"),
                "LBCAT": ["CHEMISTRY", "CHEMISTRY", "CHEMISTRY", None],
                "LBSCAT": ["CHEMISTRY ", "LIVER", None, None],
            }
        ),
    )
    assert run("scat-equals-cat", ds) == [("LB", 1, "A", "LBSCAT")]
    assert "LBSCAT 'CHEMISTRY ' repeats LBCAT" in messages("scat-equals-cat", ds)[0]


def test_duplicate_records_of_a_domain_the_sdtmig_does_not_define():
    # no natural keys to start from: the columns are compared in their own order
    from trialflow.validation.rules.structure import duplicate_record

    frame = pd.DataFrame({"STUDYID": ["S"] * 3, "DOMAIN": ["XY"] * 3,
                          "USUBJID": ["S-1", "S-1", "S-2"], "XYSEQ": [1.0, 2.0, 1.0],
                          "XYTESTCD": ["A", "A", "A"], "XYORRES": ["1", "1", "1"]})  # fmt: skip
    found = duplicate_record(Package({"XY": Dataset.from_frame("XY", frame)}))
    assert [(f.record, f.variable, f.value) for f in found] == [(2, "XYSEQ", "2.0")]
    assert "repeats record 1" in found[0].message
