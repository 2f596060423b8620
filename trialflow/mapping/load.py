"""Load a study folder (study.yaml + one YAML per domain) into validated spec models.

Errors name the file, the line and the key path (``variables[3].codelist``), never a traceback.
YAML is read with a safe loader that remembers the line of every key and list item.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_origin

import yaml
from pydantic import ValidationError

from trialflow.errors import SpecError
from trialflow.mapping import shape
from trialflow.mapping.spec import (
    METHOD_KEYS,
    DomainSpec,
    StudySpec,
    VariableSpec,
    method_keys_text,
)


class _LineDict(dict):
    lines: dict[Any, int]
    texts: dict[Any, str]
    """The text of each plain (unquoted) value as written, for a value read as a number or
    boolean (``siteid: 01`` keeps ``01`` here while the value is the number 1)."""


class _LineList(list):
    lines: list[int]
    texts: list[str | None]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records the line of each mapping key and sequence item, and reads plain
    values the YAML 1.2 way: only ``true`` and ``false`` (any case) are booleans, so ``Yes``,
    ``No``, ``On``, ``Off``, ``Y`` and ``N`` stay text (YAML 1.1 would read ``No`` as false);
    ``012`` is the number 12 (not octal), ``08:30``, ``1_000`` and ``2019-01-05`` stay text."""


_BOOL_TAG, _INT_TAG, _FLOAT_TAG = (f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float"))
_YAML_11 = (_BOOL_TAG, _INT_TAG, _FLOAT_TAG, "tag:yaml.org,2002:timestamp")
"""Implicit types read the YAML 1.1 way by PyYAML, replaced below by YAML 1.2's (no dates:
``2019-01-05`` stays text)."""
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _YAML_11]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?i:true|false)$"), list("tTfF"))
# YAML 1.2 numbers: 012 is twelve (not octal ten), 08:30 and 1_000 stay text
_LineLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_LineLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


def _construct_int(loader: _LineLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    return int(text, 16) if text.startswith("0x") else int(text, 10)


_LineLoader.add_constructor(_INT_TAG, _construct_int)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    out = _LineDict()
    out.lines = {}
    out.texts = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.ScalarNode) and value_node.style is None:
            out.texts[key] = value_node.value
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _LineList:
    out = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.lines = [child.start_mark.line + 1 for child in node.value]
    out.texts = [
        child.value if isinstance(child, yaml.ScalarNode) and child.style is None else None
        for child in node.value
    ]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def read_yaml(path: Path) -> Any:
    """Read a YAML file safely, keeping line numbers; SpecError on bad YAML.

    Example:
        >>> from trialflow.pipeline import example_paths
        >>> read_yaml(example_paths()[0] / "study.yaml")["study"]["studyid"]
        'HUCMSC-T2DM'
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(path), None, None, "file not found") from None
    except UnicodeDecodeError:
        raise SpecError(str(path), None, None, "not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        where = f"{path}:{line}:{mark.column + 1}" if mark else str(path)
        error = SpecError(str(path), line, None, f"not valid YAML: {exc.problem}")
        hint = _open_quote(text, exc) or _yaml_hint(exc)
        error.args = (f"{where}: not valid YAML: {exc.problem}{hint}",)
        raise error from None


def _open_quote(text: str, exc: yaml.MarkedYAMLError) -> str:
    """When the parser stops just after a quoted text that closed too late (a quote left open
    took everything up to the next quote), say where the quote left open is.

    ``["%d-%b-%Y, "%Y/%m/%d"]`` reads ``"%d-%b-%Y, "`` as one text and then stops at ``%``;
    ``{value: "Y, codelist: NY}`` runs on to the next line's quote.
    """
    mark = exc.problem_mark
    if mark is None or "quoted scalar" in str(exc.context or ""):
        return ""
    line = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
    before = line[: mark.column]
    for quote, name in (('"', "double"), ("'", "single")):
        # the parser stops right after a quote, and the line's quotes do not pair up
        if before.endswith(quote) and line.count(quote) % 2 == 1 and before.count(quote) > 1:
            written = before[before.rindex(quote, 0, len(before) - 1) :]
            return (
                f"; a {name} quote opened earlier on the line is not closed, so {written} was "
                "read as one text"
            )
    last = None
    try:
        for token in yaml.scan(text, Loader=_LineLoader):
            if token.start_mark.index >= mark.index:
                break
            last = token
    except yaml.YAMLError:
        pass
    if not isinstance(last, yaml.ScalarToken) or last.style not in ('"', "'"):
        return ""
    start, end = last.start_mark, last.end_mark
    if start.line == end.line:
        return ""
    name = "double" if last.style == '"' else "single"
    return (
        f"; the {name} quote opened at line {start.line + 1}, column {start.column + 1} is not "
        f"closed on its line, so the text runs on to the quote at line {end.line + 1}, "
        f"column {end.column}"
    )


def _yaml_hint(exc: yaml.MarkedYAMLError) -> str:
    """What usually causes a YAML parser error, said as the fix (empty when nothing fits)."""
    problem, context = str(exc.problem or ""), str(exc.context or "")
    opened = exc.context_mark
    at = f"line {opened.line + 1}, column {opened.column + 1}" if opened else "above"
    if "\\t" in problem:
        return "; indent with spaces: YAML does not allow tabs"
    if "that cannot start any token" in problem:
        return '; a value that starts with % @ or ` must be quoted, e.g. "%d-%b-%Y"'
    if "quoted scalar" in context:
        return f"; the quote opened at {at} is not closed"
    if "flow sequence" in context:
        return f"; the [ opened at {at} is not closed, or an item before here lacks its comma"
    if "flow mapping" in context:
        return f"; the {{ opened at {at} is not closed, or an entry before here lacks its comma"
    if "mapping values are not allowed" in problem:
        return (
            "; a value that holds ': ' must be quoted, e.g. title: \"Study: phase 2\", or the "
            "key is indented deeper than the keys beside it"
        )
    if "could not find expected ':'" in problem:
        return f"; the key at {at} needs a colon and a space after it (key: value)"
    if "expected <block end>" in problem:
        return "; this line is indented differently from the keys or items beside it"
    if problem.startswith("duplicate key"):
        return "; each key may appear once in a mapping"
    return ""


def _locate(data: Any, loc: tuple[Any, ...]) -> tuple[int | None, str]:
    """Line and dotted key path of a pydantic error location inside the loaded YAML."""
    line: int | None = None
    parts: list[str] = []
    node = data
    for step in loc:
        if isinstance(node, _LineDict):
            key = "from" if step == "from_" and "from" in node else step
            if key in node:
                line = node.lines.get(key, line)
                node = node[key]
            else:
                node = None
            parts.append(str(key))
        elif isinstance(node, _LineList) and isinstance(step, int) and step < len(node):
            line = node.lines[step]
            node = node[step]
            parts[-1:] = [f"{parts[-1]}[{step}]"] if parts else [f"[{step}]"]
        elif isinstance(step, str) and not _TYPE_TAG.match(step):
            parts.append(step.rstrip("_"))
    if line is None and isinstance(data, _LineDict) and data.lines:
        line = min(data.lines.values())
    return line, ".".join(parts)


_TYPE_TAG = re.compile(r"^(str|int|float|bool|none|list|dict|function-\w+|literal)(\[.*\])?$")
"""pydantic location steps that name a type tried in a union, not a key of the spec."""


def _message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def _unknown_key(model: type, data: Any, loc: tuple[Any, ...]) -> str:
    """``unknown key`` and what to do: where the key belongs, the name meant, the keys here."""
    name = str(loc[-1])
    here = shape.model_at(model, loc[:-1])
    if here is None:
        return "unknown key"
    valid = shape.keys_of(here)
    holder = _node(data, loc[:-1])
    method = holder.get("method") if isinstance(holder, dict) else None
    if here is VariableSpec and isinstance(method, str) and method in METHOD_KEYS:
        required, optional = METHOD_KEYS[method]
        valid = ["name", "method", *sorted(k.rstrip("_") for k in required | optional)]
    near = shape.closest(name, valid, cutoff=0.75)
    if near is not None and near != name:
        return f"unknown key; did you mean {near!r}?"
    elsewhere = [p for p in shape.homes(model, name) if p.rsplit(".", 1)[0] != _generic(loc[:-1])]
    if elsewhere:
        parents = sorted({p.rsplit(".", 1)[0] if "." in p else "the top level" for p in elsewhere})
        hint = f"; {name} belongs under {' or '.join(p + ':' for p in parents[:3])}"
        if here is VariableSpec and name == "where":
            hint += " (it keeps rows for the whole domain); a variable takes when: for its rows"
        return "unknown key" + hint
    near = shape.closest(name, valid)
    if near is not None and near != name:
        return f"unknown key; did you mean {near!r}?"
    if here is VariableSpec and isinstance(method, str) and method in METHOD_KEYS:
        return f"unknown key; method {method_keys_text(method)}"
    return f"unknown key; the keys here are {', '.join(valid)}"


def _generic(loc: tuple[Any, ...]) -> str:
    """A location as a generic key path (``variables[3]`` -> ``variables[]``)."""
    out = ""
    for step in loc:
        out += "[]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _node(data: Any, loc: tuple[Any, ...]) -> Any:
    for step in loc:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _expected(model: type, err: dict[str, Any], data: Any) -> str | None:
    """A wrong kind of value, said as the shape the key takes and what was given."""
    key = shape.field_at(model, tuple(err["loc"]))
    if key is None:
        return None
    value = err.get("input")
    kinds = shape.members(key.field.annotation)
    takes_list = any(get_origin(k) is list for k in kinds)
    if isinstance(value, str) and takes_list and not any(k is str for k in kinds):
        noun = f"of {key.key} " if key.key.endswith("s") else ""
        single = json.dumps(value)
        return f"expected a list {noun}such as {shape.flow([value])}, got a single text {single}"
    example = _example(key)
    takes = shape.words(key.field.annotation)
    hint = _quote_hint(data, tuple(err["loc"]), value) if "text" in takes else ""
    return f"expected {takes}{example}, got {shape.given(value)}{hint}"


def _written(data: Any, loc: tuple[Any, ...]) -> tuple[str | None, str | None]:
    """The text of the value at an error location as the YAML has it (``01`` for a value read
    as the number 1), and the key it is written under (None for a list item)."""
    node, text, key = data, None, None
    for step in loc:
        if isinstance(node, _LineDict):
            name = "from" if step == "from_" and "from" in node else step
            if name in node:
                text, key, node = node.texts.get(name), str(name), node[name]
        elif isinstance(node, _LineList) and isinstance(step, int) and step < len(node):
            text, key, node = node.texts[step], None, node[step]
    return text, key


def _quote_hint(data: Any, loc: tuple[Any, ...], value: Any) -> str:
    """For a number or true/false where text is expected: quote it, as it was written."""
    if not isinstance(value, (bool, int, float)):
        return ""
    text, key = _written(data, loc)
    if text is None:
        text = str(value).lower() if isinstance(value, bool) else str(value)
    fix = f"{key}: {json.dumps(text)}" if key else json.dumps(text)
    if isinstance(value, bool):
        return f"; write it in quotes: {fix}"
    return f"; write it in quotes to keep it as written: {fix}"


def _kind_error(err: Any) -> bool:
    """A value of the wrong kind, also when a condition re-raised it as a plain message."""
    kind = str(err.get("type", ""))
    plain = kind == "value_error" and str(err.get("msg", "")).startswith("Input should be a valid")
    return kind.endswith(_KIND_ERRORS) or plain


def _example(key: shape.Key) -> str:
    examples = key.field.examples or []
    return f" (e.g. {key.key}: {shape.flow(examples[0])})" if examples else ""


def _required(model: type, err: dict[str, Any]) -> str:
    key = shape.field_at(model, tuple(err["loc"]))
    if key is None:
        return "required key is missing"
    return f"required key is missing: it takes {shape.words(key.field.annotation)}{_example(key)}"


def _literal(model: type, err: dict[str, Any]) -> str:
    value = err.get("input")
    msg = f"{value!r} is not one of the allowed values ({err['ctx']['expected']})"
    key = shape.field_at(model, tuple(err["loc"]))
    allowed = shape.literal_values(key.field.annotation) if key else []
    near = shape.closest(str(value), allowed) if isinstance(value, str) else None
    return msg + (f"; did you mean {near!r}?" if near else "")


_KIND_ERRORS = ("_type", "_parsing", "int_from_float")
"""pydantic error types that mean a value of the wrong kind (text for a number, ...)."""


def _problem(model: type, data: Any, err: dict[str, Any], same: list[dict[str, Any]]) -> str:
    """The message of one spec problem (``same``: pydantic's errors at the same key)."""
    kind = err.get("type", "")
    msg = _message(err)
    if kind == "extra_forbidden":
        msg = _unknown_key(model, data, tuple(err["loc"]))
    elif kind == "missing":
        msg = _required(model, err)
    elif kind == "literal_error":
        msg = _literal(model, err)
    elif all(e["type"].endswith(_KIND_ERRORS) for e in same):
        msg = _expected(model, err, data) or msg
    elif isinstance(err.get("input"), bool) and all(_kind_error(e) for e in same):
        hint = _quote_hint(data, tuple(err["loc"]), err["input"])
        msg = f"expected text or a number, got {shape.given(err['input'])}{hint}"
    return msg


def _validate(model: type, data: Any, path: Path) -> Any:
    if not isinstance(data, dict):
        raise SpecError(str(path), 1, None, "expected a mapping of keys at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems: list[tuple[int | None, str, str]] = []
        while errors:
            err = errors[0]
            line, key = _locate(data, tuple(err["loc"]))
            # a value that fits none of the types of a union fails once per type: one problem
            same = [e for e in errors if _locate(data, tuple(e["loc"]))[1] == key]
            problems.append((line, key, _problem(model, data, err, same)))
            errors = [e for e in errors if e not in same]
        line, key, msg = problems[0]
        # every other problem listed too, each with its line and key: fixed in one round
        more = "".join(
            f"; also {f'line {n}: ' if n else ''}{k + ': ' if k else ''}{m}"
            for n, k, m in problems[1:]
        )
        raise SpecError(str(path), line, key or None, msg + more) from None


@dataclass
class Study:
    """A loaded study folder: study.yaml and the domain specs, with their file paths.

    Example:
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> study.studyid, study.files["DM"].name, study.domains["DM"].source.sheet
        ('HUCMSC-T2DM', 'dm.yaml', 'DEMOG')
    """

    folder: Path
    spec: StudySpec
    domains: dict[str, DomainSpec] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def studyid(self) -> str:
        """STUDYID of the study."""
        return self.spec.study.studyid

    def sheets_read(self) -> list[str]:
        """The raw sheets the specs read, in the order mapping asks for them: each domain's
        source sheet, then the sheets its lookups read (a sheet read twice is listed once).

        Example:
            >>> from trialflow.pipeline import example_paths
            >>> load_study(example_paths()[0]).sheets_read()
            ['INFUSION', 'DEMOG', 'VITALS', 'LAB', 'AE', 'DISPOSITION', 'CONMED']
        """
        order = []
        for spec in self.domains.values():
            order.append(spec.source.sheet)
            order += [var.lookup.sheet for var in spec.variables if var.lookup is not None]
        return list(dict.fromkeys(order))

    def locate(self, key: str, name: str = "study") -> str:
        """``file:line: key`` for a key path of study.yaml (or of a domain spec, by its code),
        as a SpecError names it; the line is the deepest part of the path found.

        Example:
            >>> from trialflow.pipeline import example_paths
            >>> study = load_study(example_paths()[0])
            >>> where = study.locate("adam.datasets.ADLB.parameters[2]")
            >>> file, line, key = where.rsplit(":", 2)
            >>> Path(file).name, int(line) == study.line("adam.datasets.ADLB.parameters[2]"), key
            ('study.yaml', True, ' adam.datasets.ADLB.parameters[2]')
        """
        line = self.line(key, name)
        where = f"{self.files[name]}:{line}" if line else str(self.files[name])
        return f"{where}: {key}"

    def line(self, key: str, name: str = "study") -> int | None:
        """The line of a key path (``supp[0].qnam``) of study.yaml or of a domain spec, by its
        code; the line of the deepest part of the path found.

        Example:
            >>> from trialflow.pipeline import example_paths
            >>> study = load_study(example_paths()[0])
            >>> line = study.line("supp[0].qnam", "EX")
            >>> study.files["EX"].read_text().splitlines()[line - 1].strip()[:12]
            '- {qnam: WEI'
        """
        steps: list[str | int] = []
        for part in key.split("."):
            head, *indexes = part.split("[")
            steps += [head, *(int(i.rstrip("]")) for i in indexes)]
        line, _ = _locate(read_yaml(self.files[name]), tuple(steps))
        return line


def load_study(folder: str | Path, *, domain_specs: bool = True) -> Study:
    """Load study.yaml and every domain spec it lists (``<domain>.yaml``, lower case).

    ``domain_specs=False`` loads study.yaml alone: deriving ADaM from SDTM (``trialflow
    derive``) and reporting on ADaM (``trialflow report``) need no mapping spec, so a user who
    has SDTM and no mapping specs writes study.yaml only. The domains are still checked for
    being listed twice; ``Study.domains`` stays empty.

    Example:
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> study.studyid, list(study.domains)
        ('HUCMSC-T2DM', ['EX', 'DM', 'VS', 'LB', 'AE', 'MH', 'DS', 'CM'])
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(str(folder), None, None, "not a study folder (expected study.yaml inside)")
    study_file = folder / "study.yaml"
    if not study_file.exists():
        raise SpecError(str(study_file), None, None, "file not found: a study folder needs it")
    spec: StudySpec = _validate(StudySpec, read_yaml(study_file), study_file)
    study = Study(folder, spec, files={"study": study_file})
    seen: set[str] = set()
    raw_domains = read_yaml(study_file)["domains"]
    for i, name in enumerate(spec.domains):
        line = raw_domains.lines[i] if isinstance(raw_domains, _LineList) else None
        code = name.upper()
        if code in seen:
            raise SpecError(str(study_file), line, f"domains[{i}]", f"domain {name} listed twice")
        seen.add(code)
        if not domain_specs:
            continue
        path = folder / f"{code.lower()}.yaml"
        if not path.exists():
            raise SpecError(str(study_file), line, f"domains[{i}]", f"no spec file {path.name}")
        domain: DomainSpec = _validate(DomainSpec, read_yaml(path), path)
        if domain.domain != code:
            data = read_yaml(path)
            raise SpecError(
                str(path),
                data.lines.get("domain"),
                "domain",
                f"file {path.name} declares domain {domain.domain}, expected {code}",
            )
        study.domains[code] = domain
        study.files[code] = path
    return study


def key_line(study: Study, name: str, key: str) -> int | None:
    """Line of a dotted key path (``units.GLUC.standard``) in study.yaml or a domain spec.

    ``name`` is ``"study"`` or a domain code; the line of the deepest key found is returned.

    Example:
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> line = key_line(study, "LB", "units.GLUC.standard")
        >>> study.files["LB"].read_text().splitlines()[line - 1].strip()
        'GLUC: {standard: mmol/L, convert: {mg/dL: {divide: 18.016}}, digits: 2}'
    """
    node = read_yaml(study.files[name])
    line = None
    for part in key.split("."):
        if isinstance(node, _LineDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        else:
            break
    return line


def spec_line(study: Study, domain: str, index: int, key: str | None = None) -> int | None:
    """Line of ``variables[index]`` (or of one of its keys) in a domain's spec file.

    Example:
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> line = spec_line(study, "LB", 0)
        >>> study.files["LB"].read_text().splitlines()[line - 1].strip()[:22]
        '- {name: LBTESTCD, met'
    """
    data = read_yaml(study.files[domain])
    variables = data.get("variables")
    if not isinstance(variables, _LineList) or index >= len(variables):
        return None
    item = variables[index]
    if key and isinstance(item, _LineDict) and key in item:
        return item.lines[key]
    return variables.lines[index]


def spec_text(study: Study, domain: str, index: int, key: str) -> str | None:
    """The text of a plain value of ``variables[index]`` as the spec file has it (``01`` for
    ``value: 01``, which YAML reads as the number 1); None when it is quoted or not a value.

    Example:
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> spec_line(study, "DM", 18, "value") is not None, spec_text(study, "DM", 18, "value")
        (True, 'YEARS')
    """
    data = read_yaml(study.files[domain])
    variables = data.get("variables")
    if not isinstance(variables, _LineList) or index >= len(variables):
        return None
    item = variables[index]
    return item.texts.get(key) if isinstance(item, _LineDict) else None
