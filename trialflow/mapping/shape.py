"""The shape of the spec language, read from its pydantic models.

One walk over the models serves two readers: the loader, which turns a validation error into a
line that says what the key takes, where a misplaced key belongs and which name was meant; and
the reference in ``docs/spec.md``, generated from the same models (:mod:`trialflow.mapping.docs`).
Nothing here is a hand list of keys: a field added to a model is picked up as it is.

Example:
    >>> from trialflow.mapping.spec import DomainSpec
    >>> [k.path for k in walk(DomainSpec)][:4]
    ['domain', 'source', 'source.sheet', 'source.subject']
    >>> words(list[str])
    'a list of texts'
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

PLACEHOLDERS: dict[str, str] = {
    "units": "TESTCD",
    "convert": "UNIT",
    "reference_dates": "VARIABLE",
    "controlled_terms": "CODELIST",
    "columns": "COLUMN",
    "baseline": "VARIABLE",
    "inputs": "ROLE",
}
"""How a mapping of names is written in a key path (``units.<TESTCD>.standard``)."""


@dataclass(frozen=True)
class Key:
    """One key of the spec language: its dotted path, the model that holds it and its field."""

    path: str
    model: type[BaseModel]
    name: str
    field: FieldInfo

    @property
    def key(self) -> str:
        """The key as it is written in YAML (``from``, not ``from_``)."""
        return key_name(self.name, self.field)


def key_name(name: str, field: FieldInfo) -> str:
    """The YAML spelling of a model field: its alias, else its name."""
    return field.alias or name


def keys_of(model: type[BaseModel]) -> list[str]:
    """The YAML keys a model takes, in declaration order.

    Example:
        >>> from trialflow.mapping.spec import ReferenceSpec
        >>> keys_of(ReferenceSpec)
        ['from', 'pick']
    """
    return [key_name(n, f) for n, f in model.model_fields.items()]


def members(annotation: Any) -> list[Any]:
    """The alternatives of a union (``None`` left out); a plain type is its own only member.
    ``Annotated`` types (``StrictInt``) count as the type they annotate."""
    if get_origin(annotation) is Annotated:
        return members(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for a in get_args(annotation) for m in members(a)]
    return [] if annotation is type(None) else [annotation]


def is_model(annotation: Any) -> bool:
    """True for a pydantic model class."""
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _leaf(model: type[BaseModel]) -> bool:
    """A model the spec reference describes as one value, not key by key: its YAML is not its
    fields (a condition is written ``{COLUMN: test}``, and may hold conditions itself)."""
    return bool(getattr(model, "spec_words", None))


def _literals(annotation: Any) -> list[Any]:
    return [v for m in members(annotation) if get_origin(m) is Literal for v in get_args(m)]


def words(annotation: Any) -> str:
    """A type in words, as a person reading a spec says it.

    Example:
        >>> words(str | list[str] | None)
        'text or a list of texts'
        >>> words(dict[str, float])
        'a mapping of names to numbers'
    """
    kinds = members(annotation)
    if int in kinds and float in kinds:
        kinds.remove(int)  # a whole number is a number
    parts = list(dict.fromkeys(_word(m, plural=False) for m in kinds))
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " or " + parts[-1]
    return parts[0] if parts else "nothing"


def _word(annotation: Any, *, plural: bool) -> str:
    if get_origin(annotation) is Annotated:
        return _word(get_args(annotation)[0], plural=plural)
    origin = get_origin(annotation)
    if origin is Literal:
        values = ", ".join(str(v) for v in get_args(annotation))
        return f"one of {values}"
    if origin in (Union, types.UnionType):
        kinds = members(annotation)
        if int in kinds and float in kinds:
            kinds.remove(int)  # a whole number is a number
        return " or ".join(dict.fromkeys(_word(m, plural=plural) for m in kinds))
    if origin is list:
        inner = _word(get_args(annotation)[0], plural=True)
        return "lists of " + inner if plural else "a list of " + inner
    if origin is dict:
        inner = _word(get_args(annotation)[1], plural=True)
        return "mappings of names to " + inner if plural else "a mapping of names to " + inner
    if is_model(annotation) and _leaf(annotation):
        return annotation.spec_words[1 if plural else 0]
    if is_model(annotation):
        return "mappings" if plural else f"a mapping ({', '.join(keys_of(annotation))})"
    simple = {
        str: ("text", "texts"),
        int: ("a whole number", "whole numbers"),
        float: ("a number", "numbers"),
        bool: ("true or false", "true or false"),
    }
    if annotation in simple:
        return simple[annotation][1 if plural else 0]
    return str(annotation)


def given(value: Any) -> str:
    """What a YAML value is, in words, for a message that says what was found instead.

    Example:
        >>> given("%m/%d/%Y")
        'the text "%m/%d/%Y"'
    """
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, str):
        return f"the text {json.dumps(value)}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return f"a list {_flow(value)}"
    if isinstance(value, dict):
        return f"a mapping {_flow(value)}"
    if value is None:
        return "nothing (an empty value)"
    return repr(value)


def _flow(value: Any, limit: int | None = 60) -> str:
    """A value as YAML flow text (``[a, b]``, ``{k: v}``), cut at ``limit`` characters."""
    if isinstance(value, list):
        text = "[" + ", ".join(_flow(v, None) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_flow(v, None)}" for k, v in value.items()) + "}"
    elif isinstance(value, str):
        text = json.dumps(value) if _needs_quotes(value) else value
    else:
        text = json.dumps(value)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _needs_quotes(text: str) -> bool:
    """True when a text written plain would not read back as that text: it holds a character
    YAML gives a meaning, or a YAML reader (1.1 or 1.2) takes it for a number, a date, true or
    false, or nothing (``01``, ``1.5``, ``2019-01-05``, ``No``, ``null``).

    Example:
        >>> [t for t in ["01", "1.5", "2019-01-05", "No", "y", "null", "DAY 1"] if _needs_quotes(t)]
        ['01', '1.5', '2019-01-05', 'No', 'y', 'null']
    """
    special = any(c in text for c in ":%{}[],#'\"&*!|>@`") or text != text.strip()
    if special or not text or text.lower() in ("y", "n", "yes", "no", "on", "off"):
        return True
    try:
        read = yaml.safe_load(text)
    except yaml.YAMLError:
        return True
    return not isinstance(read, str) or read != text or text[0] in "-+.0123456789~"


def flow(value: Any, limit: int | None = 60) -> str:
    """A value written as YAML flow text, as a spec would hold it.

    Example:
        >>> flow({"mg/dL": {"divide": 18.016}})
        '{mg/dL: {divide: 18.016}}'
    """
    return _flow(value, limit)


def field_at(root: type[BaseModel], loc: tuple[Any, ...]) -> Key | None:
    """The model field a pydantic error location ends at (list indexes, mapping names and the
    type tags pydantic adds for the alternatives of a union are stepped over)."""
    candidates: list[Any] = [root]
    last: Key | None = None
    path: list[str] = []
    for step in loc:
        nxt: list[Any] = []
        for cand in candidates:
            for m in members(cand):
                origin = get_origin(m)
                if is_model(m) and isinstance(step, str):
                    for name, f in m.model_fields.items():
                        if step in (name, f.alias):
                            nxt.append(f.annotation)
                            path.append(key_name(name, f))
                            last = Key(".".join(path), m, name, f)
                elif origin is list and isinstance(step, int):
                    nxt.append(get_args(m)[0])
                elif origin is dict and not is_model(m):
                    nxt.append(get_args(m)[1])
        if not nxt:
            if isinstance(step, str) and ("[" in step or step.islower()):
                continue  # a union's type tag: stay where we are
            return None
        candidates = nxt
    return last


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose keys the location addresses (``loc`` of the mapping, not of a key)."""
    if not loc:
        return root
    key = field_at(root, loc)
    if key is None:
        return None
    found = [m for m in _inner_models(key.field.annotation)]
    return found[0] if len(found) == 1 else None


def _inner_models(annotation: Any) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = []
    for m in members(annotation):
        if is_model(m) and _leaf(m):
            continue
        if is_model(m):
            out.append(m)
        elif get_origin(m) in (list, dict):
            out += _inner_models(get_args(m)[-1])
    return out


def walk(root: type[BaseModel], prefix: str = "") -> Iterator[Key]:
    """Every key of a model and of the models below it, depth first, in declaration order.

    A list of mappings adds ``[]`` to the path, a mapping of names ``.<NAME>``.
    """
    for name, f in root.model_fields.items():
        path = f"{prefix}{key_name(name, f)}"
        yield Key(path, root, name, f)
        for sub, suffix in _below(f.annotation, name):
            yield from walk(sub, f"{path}{suffix}.")


def _below(annotation: Any, name: str) -> list[tuple[type[BaseModel], str]]:
    out: list[tuple[type[BaseModel], str]] = []
    for m in members(annotation):
        origin = get_origin(m)
        if is_model(m) and _leaf(m):
            continue
        if is_model(m):
            out.append((m, ""))
        elif origin is list:
            out += [(sub, "[]" + s) for sub, s in _below(get_args(m)[0], name)]
        elif origin is dict:
            key_type = get_args(m)[0]
            literal = get_args(key_type) if get_origin(key_type) is Literal else ()
            place = "|".join(map(str, literal)) or PLACEHOLDERS.get(name, "NAME")
            out += [(sub, f".<{place}>" + s) for sub, s in _below(get_args(m)[1], name)]
    return out


def homes(root: type[BaseModel], key: str) -> list[str]:
    """The paths where a key is valid in the spec under ``root`` (``where`` -> ``source.where``).

    Example:
        >>> from trialflow.mapping.spec import DomainSpec
        >>> homes(DomainSpec, "where")
        ['source.where', 'variables[].lookup.where']
    """
    return [k.path for k in walk(root) if k.key == key]


def closest(name: str, choices: list[str], cutoff: float = 0.6) -> str | None:
    """The valid name closest to a misspelt one (case ignored), or None when none is close.

    Example:
        >>> closest("gendr", ["SUBJ", "GENDER", "AGE"])
        'GENDER'
    """
    folded = {str(c).casefold(): str(c) for c in choices}
    hit = difflib.get_close_matches(str(name).casefold(), list(folded), n=1, cutoff=cutoff)
    return folded[hit[0]] if hit else None


def literal_values(annotation: Any) -> list[str]:
    """The values a ``Literal`` field allows, as text."""
    return [str(v) for v in _literals(annotation)]
