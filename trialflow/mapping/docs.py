"""The reference part of ``docs/spec.md``, generated from the spec models and method registry.

Every key of study.yaml and of a domain spec (its path, what it takes, whether it is required,
what it means and an example) comes from the pydantic models of :mod:`trialflow.mapping.spec`
(``Field(description=..., examples=[...])``), and every method (the keys it needs and takes,
what it does, an example entry) from :data:`~trialflow.mapping.spec.METHOD_KEYS` and
:data:`~trialflow.mapping.spec.METHOD_DOCS`. A key or method added there appears here.

The document keeps its hand-written explanations; only the region between :data:`BEGIN` and
:data:`END` is generated (``make docs``, i.e. ``trialflow spec-docs docs/spec.md``).

Example:
    >>> "| `source.sheet` |" in reference_markdown()
    True
"""

from __future__ import annotations

from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from trialflow.errors import TrialflowError
from trialflow.mapping import shape
from trialflow.mapping.spec import (
    METHOD_DOCS,
    METHOD_KEYS,
    RAW_METHODS,
    DomainSpec,
    StudySpec,
)

BEGIN = "<!-- generated: trialflow spec reference; do not edit by hand -->"
END = "<!-- end of the generated spec reference -->"
REFRESH = "make docs (trialflow spec-docs docs/spec.md)"
"""The command that rewrites the generated region, as a stale-docs message names it."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _limits(field: FieldInfo) -> str:
    """Length and range limits of a field, in words (``1 to 20 characters``, ``at least 0``)."""
    low = high = None
    out: list[str] = []
    for meta in field.metadata:
        if isinstance(meta, at.MinLen):
            low = meta.min_length
        elif isinstance(meta, at.MaxLen):
            high = meta.max_length
        elif isinstance(meta, at.Ge):
            out.append(f"at least {meta.ge}")
        elif isinstance(meta, at.Gt):
            out.append(f"above {meta.gt}")
        elif isinstance(meta, at.Le):
            out.append(f"at most {meta.le}")
        elif isinstance(meta, at.Lt):
            out.append(f"below {meta.lt}")
    kinds = shape.members(field.annotation)
    unit = "characters" if str in kinds else "items"
    if low is not None and low == high:
        out.insert(0, f"exactly {low} {unit}")
    elif low is not None and high is not None:
        out.insert(0, f"{low} to {high} {unit}")
    elif low is not None:
        out.insert(0, f"at least {low} {'character' if unit == 'characters' else 'item'}")
    elif high is not None:
        out.insert(0, f"at most {high} {unit}")
    return f" ({', '.join(out)})" if out else ""


def _presence(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    default = field.get_default(call_default_factory=True)
    if default is None or default in ([], {}, "") or isinstance(default, BaseModel):
        return "optional"
    return f"optional, default `{shape.flow(default, None)}`"


def _example(key: str, field: FieldInfo) -> str:
    examples = field.examples or []
    return f"`{key}: {shape.flow(examples[0], None)}`" if examples else ""


def key_table(model: type[BaseModel]) -> str:
    """A markdown table of every key under ``model``: path, takes, required, meaning, example."""
    rows = [
        "| key | takes | | meaning | example |",
        "|---|---|---|---|---|",
    ]
    for key in shape.walk(model):
        f = key.field
        takes = shape.words(f.annotation) + _limits(f)
        rows.append(
            f"| `{_cell(key.path)}` | {_cell(takes)} | {_presence(f)} | "
            f"{_cell(f.description or '')} | {_cell(_example(key.key, f))} |"
        )
    return "\n".join(rows) + "\n"


def _keys(names: frozenset[str]) -> str:
    return ", ".join(f"`{k.rstrip('_')}`" for k in sorted(names, key=lambda k: k.rstrip("_")))


def _entry(example: dict[str, Any]) -> str:
    return "`- " + shape.flow(example, None) + "`"


def method_table(methods: list[str]) -> str:
    """A markdown table of methods: the keys each needs and may take, what it does, an example."""
    rows = ["| method | needs | may take | what it does | example |", "|---|---|---|---|---|"]
    for method in methods:
        required, optional = METHOD_KEYS[method]
        text, example = METHOD_DOCS.get(method, ("", {}))
        rows.append(
            f"| `{method}` | {_keys(required)} | {_keys(optional)} | {_cell(text)} | "
            f"{_cell(_entry(example)) if example else ''} |"
        )
    return "\n".join(rows) + "\n"


def reference_markdown() -> str:
    """The generated reference: study.yaml keys, domain spec keys, raw and derived methods.

    Example:
        >>> reference_markdown().startswith(BEGIN)
        True
    """
    raw = [m for m in METHOD_KEYS if m in RAW_METHODS]
    derived = [m for m in METHOD_KEYS if m not in RAW_METHODS]
    parts = [
        BEGIN,
        "",
        "## Reference",
        "",
        "Every key and method of the spec language, generated from the spec models and the "
        "method registry (`make docs`, i.e. `trialflow spec-docs docs/spec.md`, rewrites this "
        "part). In a key path `[]` stands for each item of a list and `<TESTCD>` (or another "
        "capital word) for a name the spec chooses.",
        "",
        "### study.yaml keys",
        "",
        key_table(StudySpec),
        "### Domain spec keys",
        "",
        key_table(DomainSpec),
        "### Methods",
        "",
        "Each entry of `variables` is `{name, method, ...}` with the keys its method takes; "
        "`name` and `method` always. Raw methods read raw columns and run first, in the order "
        "listed:",
        "",
        method_table(raw),
        "Derived methods run after every domain's raw pass, DM's first:",
        "",
        method_table(derived),
        END,
        "",
    ]
    return "\n".join(parts)


class StaleDocument(TrialflowError):
    """A document without the markers of the generated region."""


def splice(document: str, generated: str, name: str = "docs/spec.md") -> str:
    """The document with the region between :data:`BEGIN` and :data:`END` replaced.

    Example:
        >>> text = splice(f"intro\\n{BEGIN}\\nold\\n{END}\\nmore\\n", f"{BEGIN}\\nnew\\n{END}\\n")
        >>> text.replace(BEGIN, "BEGIN").replace(END, "END")
        'intro\\nBEGIN\\nnew\\nEND\\nmore\\n'
    """
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise StaleDocument(
            f"{name}: no generated region: put the lines {BEGIN} and {END} where the spec "
            "reference goes"
        )
    tail = document[end + len(END) :].removeprefix("\n")
    return document[:start] + generated + tail
