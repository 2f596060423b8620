"""Which tests are measured in a unit: the knowledge orresu-missing and stresu-missing decide by.

A numeric result of HCT without a unit is incomplete (0.42 L/L and 42 % are the same result);
a pH or a specific gravity has no unit; a ratio needs none; a qualitative result ('NEGATIVE')
is never numeric. The shipped table ``trialflow/validation/data/test_units.csv`` holds one row
per test (``domain`` LB, VS or ``*`` for any domain, ``testcd``, ``expects_unit`` yes/no,
``reason``, ``source``: the CDISC CT version, codelist C-code and term, and the UCUM units).
A study replaces rows by (domain, testcd) with its own table (``trialflow validate --units
FILE``, study.yaml ``test_units``): :mod:`trialflow.io` reads that file and puts the rows on
:attr:`trialflow.validation.core.Package.test_units`; this module reads no user file.

Example:
    >>> table = shipped_test_units()
    >>> expects_unit(table, "LB", "HCT"), expects_unit(table, "LB", "PH")
    (True, False)
    >>> expects_unit(table, "LB", "NOSUCH") is None
    True
    >>> mine = parse_test_units([{"domain": "LB", "testcd": "PH", "expects_unit": "yes",
    ...     "reason": "site reports pH in [pH]", "source": "study"}], "units.csv")
    >>> expects_unit(merged_test_units(table, mine), "LB", "PH")
    True
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from trialflow.errors import TrialflowError

__all__ = [
    "COLUMNS",
    "TestUnit",
    "TestUnits",
    "expects_unit",
    "merged_test_units",
    "parse_test_units",
    "shipped_test_units",
    "test_unit",
]

COLUMNS = ("domain", "testcd", "expects_unit", "reason", "source")
"""The columns of a test-units table, shipped or per study."""

_SHIPPED = "test_units.csv"
_YES = {"yes": True, "y": True, "no": False, "n": False}


@dataclass(frozen=True)
class TestUnit:
    """One row of a test-units table.

    Example:
        >>> TestUnit("LB", "PH", False, "dimensionless", "CT").expects_unit
        False
    """

    __test__ = False  # not a pytest test class

    domain: str
    testcd: str
    expects_unit: bool
    reason: str
    source: str


TestUnits = dict[tuple[str, str], TestUnit]
"""Rows by (domain, testcd); domain ``*`` applies to every domain."""


def parse_test_units(rows: Iterable[Mapping[str, str | None]], origin: str) -> TestUnits:
    """A table from rows with :data:`COLUMNS` (as :class:`csv.DictReader` gives them).

    ``origin`` names the file in errors, which give the line (the header is line 1).

    Example:
        >>> t = parse_test_units([{"domain": "lb", "testcd": "hct", "expects_unit": "Yes",
        ...     "reason": "", "source": ""}], "u.csv")
        >>> t[("LB", "HCT")].expects_unit
        True
        >>> parse_test_units([{"domain": "LB", "testcd": "X", "expects_unit": "maybe"}], "u.csv")
        Traceback (most recent call last):
        ...
        trialflow.errors.TrialflowError: u.csv line 2: expects_unit is 'maybe'; write yes or no.
    """
    out: TestUnits = {}
    for line, row in enumerate(rows, start=2):
        domain = (row.get("domain") or "").strip().upper()
        testcd = (row.get("testcd") or "").strip().upper()
        answer = (row.get("expects_unit") or "").strip().lower()
        if not domain or not testcd:
            raise TrialflowError(
                f"{origin} line {line}: domain and testcd are required (columns: "
                f"{', '.join(COLUMNS)}); write * as domain for a test of any domain."
            )
        if answer not in _YES:
            raise TrialflowError(
                f"{origin} line {line}: expects_unit is {answer!r}; write yes or no."
            )
        out[(domain, testcd)] = TestUnit(
            domain,
            testcd,
            _YES[answer],
            (row.get("reason") or "").strip(),
            (row.get("source") or "").strip(),
        )
    return out


@functools.lru_cache(maxsize=1)
def _shipped() -> TestUnits:
    text = resources.files("trialflow.validation").joinpath("data", _SHIPPED).read_text("utf-8")
    return parse_test_units(csv.DictReader(io.StringIO(text)), _SHIPPED)


def shipped_test_units() -> TestUnits:
    """The table shipped with trialflow (LB and VS tests of CDISC CT 2024-09-27), a fresh copy.

    Example:
        >>> shipped_test_units()[("LB", "SPGRAV")].reason
        'a ratio of two densities: dimensionless'
    """
    return dict(_shipped())


def merged_test_units(base: TestUnits, override: TestUnits | None) -> TestUnits:
    """``base`` with the rows of ``override`` replacing its rows of the same (domain, testcd).

    Example:
        >>> a = {("LB", "PH"): TestUnit("LB", "PH", False, "", "")}
        >>> b = {("LB", "PH"): TestUnit("LB", "PH", True, "", "study")}
        >>> merged_test_units(a, b)[("LB", "PH")].source
        'study'
    """
    return {**base, **(override or {})}


def test_unit(table: TestUnits, domain: str, testcd: str) -> TestUnit | None:
    """The row of ``testcd`` for ``domain`` (else its ``*`` row), or None.

    Example:
        >>> test_unit(shipped_test_units(), "LB", " spgrav ").reason
        'a ratio of two densities: dimensionless'
    """
    key = str(testcd).strip().upper()
    return table.get((domain.strip().upper(), key)) or table.get(("*", key))


test_unit.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def expects_unit(table: TestUnits, domain: str, testcd: str) -> bool | None:
    """Whether a numeric result of ``testcd`` in ``domain`` needs a unit; None for a test the
    table does not know (the rules then fall back to whether other records carry a unit).

    Example:
        >>> expects_unit({("*", "X"): TestUnit("*", "X", True, "", "")}, "LB", "x")
        True
    """
    row = test_unit(table, domain, testcd)
    return None if row is None else row.expects_unit
