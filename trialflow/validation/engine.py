"""Run the rule catalogue over a package and collect the findings.

Rules are registered by the modules of :mod:`trialflow.validation.rules`; each takes the
whole package and returns findings, so dataset rules and cross-domain rules run the same way.
A rule that fails with an unexpected error does not stop the others: it becomes a
``rule-failed`` finding naming it.
"""

from __future__ import annotations

from collections.abc import Iterable

from trialflow.errors import Finding, OnIssue, emit
from trialflow.validation import rules as _rules  # noqa: F401  (registers every rule)
from trialflow.validation.core import RULES, Package, ValidationReport, validating


def validate_package(
    package: Package,
    *,
    rules: Iterable[str] | None = None,
    on_issue: OnIssue = "warn",
) -> ValidationReport:
    """Validate every dataset of a package with the catalogue's rules (or the ``rules`` named).

    Example:
        >>> import pandas as pd
        >>> from trialflow.validation.core import Dataset
        >>> dm = Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["A", "A"]}))
        >>> report = validate_package(Package({"DM": dm}), on_issue="none")
        >>> report.valid
        False
    """
    chosen = [RULES[c] for c in rules] if rules is not None else list(RULES.values())
    findings: list[Finding] = []
    with validating(package):  # rules share derived facts of the package until the end
        for r in chosen:
            if r.run is None:
                continue
            try:
                findings.extend(r.run(package))
            except Exception as exc:  # one broken rule must not hide every other finding
                findings.append(
                    Finding(
                        "rule-failed",
                        "error",
                        f"rule {r.code} could not run: {type(exc).__name__}: {exc}",
                        refs=r.refs,
                    )
                )
    sizes = {name: len(ds.frame) for name, ds in package.datasets.items()}
    return ValidationReport(emit(findings, on_issue), sizes, len(chosen))
