"""Every reference id of every rule has its source recorded in docs/rule-sources.md.

A rule's ``refs`` (P21, CDISC conformance, CORE and FDA ids) are claims about other validators;
docs/rule-sources.md records, per id and rule, the published source stating that id for the same
check. These tests keep the two in step: an id in ``refs`` without a row fails, and so does a
row for a rule or an id the catalogue does not carry.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import trialflow.validation.engine  # noqa: F401  (registers every rule)
from trialflow.validation.core import RULES, Rule

SOURCES = Path(__file__).resolve().parents[2] / "docs" / "rule-sources.md"

_ROW = re.compile(r"^\|(?P<cells>.*)\|\s*$")
_ID = re.compile(r"^(?:[A-Z]{2,4}\d{3,4}[A-Z]?|CORE-\d{6}|FDA-TRC-\d{4})$")


def module_of(rule: Rule) -> str:
    """The rule's module relative to trialflow.validation, e.g. ``rules.xpt``."""
    module = rule.run.__module__ if rule.run is not None else ""
    return module.removeprefix("trialflow.validation.")


def source_rows(text: str) -> list[tuple[int, str, str, list[str]]]:
    """(line number, id, rule code, all cells) of every table row giving a source."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _ROW.match(line.strip())
        if not match:
            continue
        cells = [c.strip() for c in match["cells"].split("|")]
        first = cells[0].strip("` ")
        if first == "id" or set(first) <= {"-", ":"}:
            continue  # header or separator
        rows.append((number, first, cells[1].strip("` ") if len(cells) > 1 else "", cells))
    return rows


@pytest.fixture(scope="module")
def rows() -> list[tuple[int, str, str, list[str]]]:
    return source_rows(SOURCES.read_text(encoding="utf-8"))


def test_source_rows_are_parsed_from_tables():
    text = (
        "## x.py\n\n| id | rule code | what | source |\n|---|---|---|---|\n"
        "| SD0002 | `required-value-missing` | null in Required | repo path |\n"
        "Prose with | a pipe is not a row\n"
    )
    assert source_rows(text) == [
        (
            5,
            "SD0002",
            "required-value-missing",
            ["SD0002", "`required-value-missing`", "null in Required", "repo path"],
        ),
    ]


def test_every_row_names_a_rule_and_an_id_it_carries(rows):
    assert rows, f"no source rows in {SOURCES}"
    for number, ref, code, cells in rows:
        where = f"docs/rule-sources.md line {number}"
        assert _ID.match(ref), f"{where}: {ref!r} is not a reference id"
        assert code in RULES, f"{where}: no rule {code!r}"
        assert ref in RULES[code].refs, f"{where}: {code} does not carry {ref}"
        assert len(cells) == 4 and all(cells), f"{where}: expected 4 filled cells"


def test_every_ref_of_every_rule_has_a_source_row(rows):
    sourced = {(code, ref) for _, ref, code, _ in rows}
    missing = [
        f"{r.code} {ref} ({module_of(r)})"
        for r in RULES.values()
        for ref in r.refs
        if (r.code, ref) not in sourced
    ]
    assert not missing, "ids without a row in docs/rule-sources.md: " + ", ".join(missing)


def test_this_files_sections_are_named_after_their_modules():
    text = SOURCES.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+?)\s*$", text, flags=re.MULTILINE)
    assert {"schema.py", "rules/xpt.py"} <= set(headings)
