"""Run the rule catalogue over a package and collect the findings.

Rules are registered by the modules of :mod:`trialflow.validation.rules`; each takes the
whole package and returns findings, so dataset rules and cross-domain rules run the same way.
A rule that fails with an unexpected error does not stop the others: it becomes a
``rule-failed`` finding naming it.
"""

from __future__ import annotations

from collections.abc import Iterable

from trialflow.background import Background, parallel
from trialflow.errors import Finding, OnIssue, emit
from trialflow.validation import rules as _rules  # noqa: F401  (registers every rule)
from trialflow.validation.core import RULES, Package, Rule, ValidationReport, validating


def validate_package(
    package: Package,
    *,
    rules: Iterable[str] | None = None,
    on_issue: OnIssue = "warn",
    jobs: int = 1,
) -> ValidationReport:
    """Validate every dataset of a package with the catalogue's rules (or the ``rules`` named).

    With ``jobs=2`` (and two CPUs, :func:`trialflow.background.parallel`) every other rule
    runs in a forked child process (:class:`trialflow.background.Background`) while this one
    runs the rest; the findings are put back in the catalogue's order, so the report is the
    same as with one job.

    Example:
        >>> import pandas as pd
        >>> from trialflow.validation.core import Dataset
        >>> dm = Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["A", "A"]}))
        >>> report = validate_package(Package({"DM": dm}), on_issue="none")
        >>> report.valid
        False
    """
    chosen = [RULES[c] for c in rules] if rules is not None else list(RULES.values())
    runnable = [r for r in chosen if r.run is not None]
    if jobs > 1 and len(runnable) > 1 and parallel():
        # two halves of about equal work: rules of one topic sit together in the catalogue
        # and cost alike, so every other rule goes to the child
        with Background(_run_rules, package, runnable[1::2]) as other:
            found = _run_rules(package, runnable[0::2])
            found.update(other.result())
    else:
        found = _run_rules(package, runnable)
    findings = [f for r in runnable for f in found[r.code]]
    sizes = {name: len(ds.frame) for name, ds in package.datasets.items()}
    return ValidationReport(emit(findings, on_issue), sizes, len(chosen))


def _run_rules(package: Package, chosen: list[Rule]) -> dict[str, list[Finding]]:
    """The findings of each rule, by its code."""
    found: dict[str, list[Finding]] = {}
    with validating(package):  # rules share derived facts of the package until the end
        for r in chosen:
            try:
                found[r.code] = list(r.run(package))  # type: ignore[misc]
            except Exception as exc:  # one broken rule must not hide every other finding
                found[r.code] = [
                    Finding(
                        "rule-failed",
                        "error",
                        f"rule {r.code} could not run: {type(exc).__name__}: {exc}",
                        refs=r.refs,
                    )
                ]
    return found
