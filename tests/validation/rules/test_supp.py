"""Rules of SUPP-- datasets (trialflow.validation.rules.supp): the example study is clean, each
seeded defect is found exactly."""

from __future__ import annotations

import pandas as pd
import pytest

from trialflow.validation.core import RULES, Dataset, Package

NEW = [
    "supp-rdomain-not-in-package",
    "supp-rdomain-mismatch",
    "supp-idvar-not-in-parent",
    "supp-idvar-idvarval-mismatch",
    "supp-idvar-missing",
    "supp-qlabel-not-one-to-one",
    "supp-qlabel-too-long",
    "supp-qorig-invalid",
]

EX = Dataset.from_frame(
    "EX",
    pd.DataFrame({"DOMAIN": ["EX", "EX"], "USUBJID": ["S-1", "S-1"], "EXSEQ": [1.0, 2.0]}),
)


def supp(name: str = "SUPPEX", **columns: list) -> Dataset:
    """A SUPP-- dataset: RDOMAIN from the name, USUBJID S-1, IDVAR EXSEQ unless given."""
    n = len(next(iter(columns.values())))
    base = {
        "RDOMAIN": [name[4:6]] * n,
        "USUBJID": ["S-1"] * n,
        "IDVAR": ["EXSEQ"] * n,
        "IDVARVAL": ["1"] * n,
        "QNAM": ["WEIGHTDS"] * n,
        "QLABEL": ["Weight Used for Dosing"] * n,
        "QVAL": ["70"] * n,
        "QORIG": ["CRF"] * n,
    }
    return Dataset.from_frame(name, pd.DataFrame({**base, **columns}), kind="supp")


def run(code: str, *datasets: Dataset) -> list[tuple]:
    """(dataset, record, usubjid, variable) of each finding of rule ``code``."""
    found = RULES[code].run(Package({ds.name: ds for ds in datasets}))
    return [(f.dataset, f.record, f.usubjid, f.variable) for f in found]


def messages(code: str, *datasets: Dataset) -> list[str]:
    return [f.message for f in RULES[code].run(Package({ds.name: ds for ds in datasets}))]


@pytest.mark.parametrize("code", NEW)
def test_example_study_is_clean(example_package, code):
    assert example_package.get("SUPPEX") is not None
    assert [f.message for f in RULES[code].run(example_package)] == []


@pytest.mark.parametrize("code", NEW)
def test_clean_supp_dataset_passes(code):
    assert run(code, EX, supp(QVAL=["70", "71"], IDVARVAL=["1", "2"])) == []


def test_rdomain_not_in_package():
    ds = supp(RDOMAIN=["EX", "CM", None])
    assert run("supp-rdomain-not-in-package", EX, ds) == [("SUPPEX", 2, "S-1", "RDOMAIN")]
    assert messages("supp-rdomain-not-in-package", EX, ds)[0].startswith(
        "RDOMAIN is 'CM' but the package has no such dataset"
    )


def test_rdomain_mismatch_uses_characters_5_and_6_of_the_name():
    ds = supp("SUPPEXAB", RDOMAIN=["EX", "ex", "AE"])
    assert run("supp-rdomain-mismatch", EX, ds) == [("SUPPEXAB", 3, "S-1", "RDOMAIN")]


def test_idvar_not_in_parent():
    ds = supp(IDVAR=["EXSEQ", "EXGRPID", None], IDVARVAL=["1", "A", None])
    assert run("supp-idvar-not-in-parent", EX, ds) == [("SUPPEX", 2, "S-1", "IDVAR")]
    # Without the parent dataset there is nothing to compare with (another rule reports it).
    assert run("supp-idvar-not-in-parent", ds) == []


def test_idvar_idvarval_mismatch_both_ways():
    ds = supp(IDVAR=["EXSEQ", "EXSEQ", None, None], IDVARVAL=["1", " ", "1", None])
    assert run("supp-idvar-idvarval-mismatch", EX, ds) == [
        ("SUPPEX", 2, "S-1", "IDVARVAL"),
        ("SUPPEX", 3, "S-1", "IDVARVAL"),
    ]


def test_idvar_missing_outside_dm():
    ds = supp(IDVAR=[None, "EXSEQ"], IDVARVAL=[None, "1"])
    suppdm = supp("SUPPDM", IDVAR=[None], IDVARVAL=[None], QNAM=["RACE2"])
    assert run("supp-idvar-missing", EX, ds, suppdm) == [("SUPPEX", 1, "S-1", "IDVAR")]
    assert "QNAM 'WEIGHTDS'" in messages("supp-idvar-missing", EX, ds)[0]


def test_qlabel_not_one_to_one_each_way():
    ds = supp(
        QNAM=["WEIGHTDS", "WEIGHTDS", "WEIGHTDS", "HEIGHTDS"],
        QLABEL=["Weight Used for Dosing"] * 2 + ["Dosing Weight", "Weight Used for Dosing"],
    )
    assert run("supp-qlabel-not-one-to-one", EX, ds) == [
        ("SUPPEX", 3, "S-1", "QLABEL"),
        ("SUPPEX", 4, "S-1", "QLABEL"),
    ]
    said = messages("supp-qlabel-not-one-to-one", EX, ds)
    assert "QNAM 'WEIGHTDS' has QLABEL 'Weight Used for Dosing' on 2 other records" in said[0]
    assert "QLABEL 'Weight Used for Dosing' has QNAM 'WEIGHTDS' on 2 other records" in said[1]


def test_qlabel_too_long():
    ds = supp(QLABEL=["A" * 40, "B" * 41])
    assert run("supp-qlabel-too-long", EX, ds) == [("SUPPEX", 2, "S-1", "QLABEL")]
    assert "has 41 characters" in messages("supp-qlabel-too-long", EX, ds)[0]


def test_qorig_invalid():
    ds = supp(QORIG=["CRF", "Derived", "eDT", "Sponsor", "collected", None])
    assert run("supp-qorig-invalid", EX, ds) == [("SUPPEX", 4, "S-1", "QORIG")]
