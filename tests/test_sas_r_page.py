"""docs/for-sas-and-r-users.md names only what exists: every ``trialflow.`` name it shows
imports, and every study.yaml key it shows (``adam.`` and ``analysis.`` paths, with a value
after a colon where one is given) is a key of the study.yaml models taking that value."""

from __future__ import annotations

import importlib
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel

from trialflow.mapping.spec import StudySpec

PAGE = Path(__file__).resolve().parent.parent / "docs" / "for-sas-and-r-users.md"
SPANS = re.findall(r"`([^`\n]+)`", PAGE.read_text())
NAMES = sorted({s for s in SPANS if re.fullmatch(r"trialflow(\.[A-Za-z_][A-Za-z0-9_]*)+", s)})
KEYS = sorted({s for s in SPANS if re.fullmatch(r"(adam|analysis)\.[A-Za-z0-9_.]+(: \S+)?", s)})


def resolve(name: str) -> object:
    """The object a dotted name names: the longest importable module, then attributes.

    >>> resolve("trialflow.numbers.sas_round").__name__
    'sas_round'
    """
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for part in parts[cut:]:
            found = getattr(found, part)
        return found
    raise ModuleNotFoundError(name)


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union (or the annotation itself)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _literals(annotation: Any) -> set[object]:
    return {
        value
        for member in _members(annotation)
        if typing.get_origin(member) is Literal
        for value in typing.get_args(member)
    }


def key_annotation(path: str) -> Any:
    """The annotation of a study.yaml key path (``adam.baseline.rule``), walking models, the
    keys of mappings and the items of lists.

    >>> key_annotation("analysis.quantile_method") == Literal["sas5", "spss", "r7"]
    True
    """
    current: Any = StudySpec
    for part in path.split("."):
        step = None
        for member in _members(current):
            origin = typing.get_origin(member)
            if origin is list:
                member = typing.get_args(member)[0]
                origin = typing.get_origin(member)
            if isinstance(member, type) and issubclass(member, BaseModel):
                for name, field in member.model_fields.items():
                    if part in (name, field.alias):
                        step = field.annotation
            elif origin is dict:
                key, value = typing.get_args(member)
                if key is str or part in _literals(key):
                    step = value
            if step is not None:
                break
        assert step is not None, f"{path}: no key {part!r}"
        current = step
    return current


def test_the_page_names_functions_and_keys() -> None:
    assert len(NAMES) >= 15 and len(KEYS) >= 15


@pytest.mark.parametrize("name", NAMES)
def test_trialflow_name_exists(name: str) -> None:
    assert resolve(name) is not None


@pytest.mark.parametrize("key", KEYS)
def test_study_yaml_key_exists(key: str) -> None:
    path, _, value = key.partition(": ")
    annotation = key_annotation(path)
    literals = {str(v) for v in _literals(annotation)}
    if value and (literals or not value.startswith(("[", "{"))):
        parsed = yaml.safe_load(value)  # a list of terms: each must be one the key takes
        for item in parsed if isinstance(parsed, list) else [value]:
            assert str(item) in literals, f"{path} does not take {item}"


def test_key_annotation_refuses_a_key_that_does_not_exist() -> None:
    with pytest.raises(AssertionError, match="no key 'baselin'"):
        key_annotation("adam.baselin.rule")
    assert key_annotation("adam.datasets.ADLB.pchg_digits") == int | None


def test_every_quantile_and_test_method_is_on_the_page() -> None:
    """The page's tables cover every method study.yaml takes, so a new one gets a row."""
    for path in ("analysis.quantile_method", "analysis.test"):
        for value in _literals(key_annotation(path)):
            assert f"{path}: {value}" in KEYS, f"{path}: {value} is not on the page"
