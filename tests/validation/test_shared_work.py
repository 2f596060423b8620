"""Work shared by the rules of one validation gives the findings each rule gives alone.

Inside :func:`~trialflow.validation.engine.validate_package` the rules share facts of the
columns (factorisations, verdicts on distinct values, parsed dates) and one pandera run of the
whole schema per dataset; a rule run on its own computes everything itself and runs only its
part of the schema. Both must report exactly the same findings, in the same order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.pipeline import map_study
from trialflow.validation.core import (
    RULES,
    Dataset,
    Package,
    column_fact,
    factorized,
    is_validating,
    validating,
)
from trialflow.validation.engine import validate_package

Frames = dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Frames:
    result = map_study(
        EXAMPLE_SPECS, EXAMPLE_EXPORT, tmp_path_factory.mktemp("run"), on_issue="none"
    )
    return dict(result.sdtm.domains)


@pytest.fixture
def frames(mapped: Frames) -> Frames:
    return {name: frame.copy() for name, frame in mapped.items()}


def package(frames: Frames) -> Package:
    return Package({name: Dataset.from_frame(name, frame) for name, frame in frames.items()})


def each_rule_alone(pkg: Package) -> list:
    assert not is_validating(pkg)
    return [f for r in RULES.values() if r.run is not None for f in r.run(pkg)]


def seed_defects(fr: Frames) -> None:
    """Defects for most rules, and storage that is equivalent or not (objects, categories)."""
    dm, vs, lb, ae = fr["DM"], fr["VS"], fr["LB"], fr["AE"]
    dm.loc[1, "SEX"] = "X"
    dm.loc[2, "SEX"] = " M"
    dm.loc[3, "SITEID"] = ""
    dm.loc[4, "RFSTDTC"] = "2030-01-01"
    dm["RACE"] = dm["RACE"].astype(object)
    vs.loc[0, "VSORRESU"] = "stone"
    vs.loc[1, "VSDTC"] = "12/01/2019"
    vs.loc[2, "VSDTC"] = "2019-02-30"
    vs.loc[3, "VSDY"] = vs.loc[3, "VSDY"] + 1
    vs.loc[4, "VISIT"] = "SOMEWHERE ELSE"
    vs.loc[5, "VSSTRESC"] = "999"
    vs["VSTESTCD"] = vs["VSTESTCD"].astype("category")
    lb.loc[0, "LBDTC"] = "2019-05"
    lb.loc[1, "LBSTNRLO"] = 1e6
    lb.loc[2, "LBSTRESU"] = None
    lb.loc[3, "LBTESTCD"] = "   "
    fr["LB"] = pd.concat([lb, lb.iloc[[7, 8]]], ignore_index=True)
    ae.loc[0, "AETERM"] = "é" * 100 + "x"
    ae.loc[1, "AETERM"] = " fever"
    ae.loc[2, "AESTDTC"] = "2030-01-01"
    ae["AESEQ"] = ae["AESEQ"].astype(object)


def test_clean_package_agrees(frames: Frames):
    pkg = package(frames)
    assert validate_package(pkg, on_issue="none").findings == each_rule_alone(pkg)


def test_package_with_defects_agrees(frames: Frames):
    seed_defects(frames)
    pkg = package(frames)
    shared = validate_package(pkg, on_issue="none").findings
    assert {f.code for f in shared} >= {
        "ct-value-not-in-codelist",
        "dtc-not-iso8601",
        "key-not-unique",
        "study-day-mismatch",
        "value-leading-spaces",
        "char-length-exceeds-200",
    }
    assert "rule-failed" not in {f.code for f in shared}
    assert shared == each_rule_alone(pkg)


def test_nothing_is_kept_from_one_validation_to_the_next(frames: Frames):
    pkg = package(frames)
    assert not [f for f in validate_package(pkg, on_issue="none").findings if f.variable == "SEX"]
    pkg.datasets["DM"].frame.loc[0, "SEX"] = "X"
    found = [f for f in validate_package(pkg, on_issue="none").findings if f.variable == "SEX"]
    assert [(f.code, f.record) for f in found] == [("ct-value-not-in-codelist", 1)]
    assert pkg.cache == {}


def test_column_facts_are_kept_for_arrow_data_only_and_read_only():
    text = pd.Series(["b", "a", "b"], dtype="str")
    objects = pd.Series(["b", "a", "b"], dtype=object)
    calls: list[str] = []
    with validating(Package()):
        for _ in range(2):
            column_fact(text, "demo", lambda: calls.append("text"))
            column_fact(objects, "demo", lambda: calls.append("objects"))
        codes, distinct = factorized(text)
        assert factorized(text)[0] is codes
        with pytest.raises(ValueError):
            codes[0] = 5
    assert calls == ["text", "objects", "objects"]
    assert distinct.tolist() == ["b", "a"]


def test_changed_data_gets_new_facts():
    column = pd.Series(["a", "b"], dtype="str")
    with validating(Package()):
        first = factorized(column)[1].tolist()
        column.loc[0] = "z"  # Arrow data is immutable: the column now holds a new array
        assert factorized(column)[1].tolist() == ["z", "b"] != first
        assert np.array_equal(factorized(column)[0], [0, 1])
