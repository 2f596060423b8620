"""Errors, findings and the one severity scale every stage reports on.

Two kinds of trouble reach a user:

* a :class:`TrialflowError` stops the work: the input or the spec cannot be used at all
  (a missing sheet, an unknown spec key, a file that is not really xlsx). Its message is
  one line that names the file, sheet, row, column or spec line.
* a :class:`Finding` is recorded and the work goes on: a value that can't be mapped, a date
  that can't be parsed, a duplicate record. Findings end up in the run's report.

``on_issue`` (``none | message | warn | stop``) decides what :func:`emit` does with findings,
as xportr's verbosity options do. The library default is ``warn``; the CLI's ``--strict``
means ``stop``.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "notice"]
OnIssue = Literal["none", "message", "warn", "stop"]
ON_ISSUE_VALUES: tuple[str, ...] = ("none", "message", "warn", "stop")
SEVERITIES: tuple[str, ...] = ("error", "warning", "notice")

logger = logging.getLogger("trialflow")


class TrialflowError(Exception):
    """Base of every error trialflow raises on purpose; ``str(err)`` is one clear line."""


class SpecError(TrialflowError):
    """A mapping spec can't be used. The message names the file, line and key.

    Example:
        >>> str(SpecError("dm.yaml", 12, "variables[3].method", "unknown method 'asign_ct'"))
        "dm.yaml:12: variables[3].method: unknown method 'asign_ct'"
    """

    def __init__(self, file: str, line: int | None, key: str | None, message: str) -> None:
        self.file, self.line, self.key, self.detail = file, line, key, message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


class RawInputError(TrialflowError):
    """A raw export can't be read (missing file, sheet or column, not really xlsx, ...)."""


class MappingError(TrialflowError):
    """Mapping stopped: a problem that makes the domain impossible to build."""


class XptError(TrialflowError):
    """A dataset can't be written to SAS XPORT without changing it (name, label, length, ...)."""


class DatasetJsonError(TrialflowError):
    """A dataset can't be written to Dataset-JSON as it is (a number JSON can't hold, ...)."""


class DerivationError(TrialflowError):
    """An ADaM derivation can't run with these arguments or on this dataset.

    ``records`` holds the offending rows when there are some (e.g. the multiple baseline
    records of ``derive_var_base``).

    Example:
        >>> str(DerivationError("derive_var_chg: required column(s) missing: BASE"))
        'derive_var_chg: required column(s) missing: BASE'
    """

    def __init__(self, message: str, records: Any = None) -> None:
        super().__init__(message)
        self.records = records


class FindingsError(TrialflowError):
    """Raised by :func:`emit` under ``on_issue="stop"`` when there are findings."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        first = findings[0]
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        super().__init__(f"{first.one_line()}{more}")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value came from in the raw export: file, sheet, 1-based row, column."""

    file: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.sheet:
            parts.append(f"sheet {self.sheet}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column}")
        return ", ".join(parts)

    def __reduce__(self) -> tuple[type[Source], tuple[object, ...]]:
        # pickled as its fields (a child process sends its findings back): a third of the
        # time of the frozen dataclass's own state handling
        return Source, (self.file, self.sheet, self.row, self.column)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in the data, with everything a person needs to act on it.

    ``code`` is a stable kebab-case identifier; ``refs`` holds the CDISC conformance rule id
    (CGxxxx, CORE-xxxxxx) or the validator id (SDxxxx) where one exists; ``record`` is the
    1-based row of the record in the dataset; ``source`` points back into the raw export.

    Example:
        >>> f = Finding("ct-value-not-in-codelist", "error", "SEX 'X' is not in codelist SEX",
        ...             dataset="DM", variable="SEX", value="X",
        ...             source=Source("export.xlsx", "DEMOG", 5, "GENDER"))
        >>> print(f.one_line())  # doctest: +NORMALIZE_WHITESPACE
        error ct-value-not-in-codelist: DM.SEX: SEX 'X' is not in codelist SEX
        [export.xlsx, sheet DEMOG, row 5, column GENDER]
    """

    code: str
    severity: Severity
    message: str
    dataset: str | None = None
    variable: str | None = None
    record: int | None = None
    usubjid: str | None = None
    value: str | None = None
    refs: tuple[str, ...] = field(default_factory=tuple)
    source: Source | None = None

    def __reduce__(self) -> tuple[type[Finding], tuple[object, ...]]:
        # pickled as its fields, as Source: a child process that validates half of the rules
        # sends thousands of findings back, and the default state handling of a frozen
        # dataclass with slots took 22 ms for 3,000 of them, this 9 ms
        return Finding, (
            self.code, self.severity, self.message, self.dataset, self.variable, self.record,
            self.usubjid, self.value, self.refs, self.source,
        )  # fmt: skip

    def one_line(self) -> str:
        """The finding as one line: severity, code, where, message and raw source."""
        where = ".".join(p for p in (self.dataset, self.variable) if p)
        if self.record is not None:
            where += f" record {self.record}"
        if self.usubjid:
            where += f" ({self.usubjid})"
        text = f"{self.severity} {self.code}: "
        text += f"{where.strip()}: " if where.strip() else ""
        text += self.message
        if self.source is not None:
            text += f" [{self.source}]"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The finding as the JSON object of the report contract."""
        out = asdict(self)
        out["refs"] = list(self.refs)
        out["source"] = asdict(self.source) if self.source is not None else None
        return out


def check_on_issue(on_issue: str) -> None:
    """Raise ValueError unless ``on_issue`` is one of none, message, warn, stop.

    Example:
        >>> check_on_issue("warn")
    """
    if on_issue not in ON_ISSUE_VALUES:
        raise ValueError(f"on_issue must be one of {', '.join(ON_ISSUE_VALUES)}, not {on_issue!r}")


class TrialflowWarning(UserWarning):
    """Warning category for findings emitted with ``on_issue="warn"``."""


def emit(findings: Iterable[Finding], on_issue: OnIssue = "warn") -> list[Finding]:
    """Report findings on the severity scale and return them.

    ``none`` records silently, ``message`` logs at INFO, ``warn`` issues a TrialflowWarning per
    finding, ``stop`` raises FindingsError when any finding has severity ``error``.

    Example:
        >>> emit([], on_issue="stop")
        []
    """
    check_on_issue(on_issue)
    found = list(findings)
    if on_issue == "none" or not found:
        return found
    if on_issue == "stop":
        errors = [f for f in found if f.severity == "error"]
        if errors:
            raise FindingsError(errors)
    for f in found:
        if on_issue == "message":
            logger.info(f.one_line())
        else:
            warnings.warn(f.one_line(), TrialflowWarning, stacklevel=2)
    return found


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Characters that have no place in a one-line value, reported wherever a value holds one
(``raw-control-character`` when mapping, ``value-control-character`` when validating): the C0
controls (including tab, line feed and carriage return), DEL and the C1 controls."""

_NAMES = {0x00: "NUL", 0x01: "SOH", 0x09: "TAB", 0x0A: "LF", 0x0D: "CR", 0x1B: "ESC", 0x7F: "DEL"}


def escaped(text: str) -> str:
    """``text`` with each control character written as a Python escape (``\\x1b``, ``\\n``).

    Example:
        >>> escaped("Head\\x1bache\\n")
        'Head\\\\x1bache\\\\n'
    """
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def control_names(text: str) -> str:
    """The control characters of ``text``, each once in order of first appearance, as
    ``U+001B (ESC)``.

    Example:
        >>> control_names("a\\tb\\x00c\\t")
        'U+0009 (TAB), U+0000 (NUL)'
    """
    seen = dict.fromkeys(ord(c) for c in CONTROL.findall(text))
    return ", ".join(f"U+{c:04X}" + (f" ({_NAMES[c]})" if c in _NAMES else "") for c in seen)
