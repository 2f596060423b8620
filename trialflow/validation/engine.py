"""Run the rule catalogue over a package and collect the findings.

Rules are registered by the modules of :mod:`trialflow.validation.rules`; each takes the
whole package and returns findings, so dataset rules and cross-domain rules run the same way.
A rule that fails with an unexpected error does not stop the others: it becomes a
``rule-failed`` finding naming it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

from trialflow.background import Background, BackgroundError, Claims, parallel
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

    With ``jobs=2`` (and two CPUs, :func:`trialflow.background.parallel`) a forked child
    process (:class:`trialflow.background.Background`) takes the catalogue's rules from its
    end while this one takes them from its start, each claiming one rule at a time, until the
    two meet (:class:`~trialflow.background.Claims`); the findings are put back in the
    catalogue's order, so the report is the same as with one job.

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
    if jobs > 1 and len(runnable) > 1 and parallel() and hasattr(os, "memfd_create"):
        with (
            Claims.of(len(runnable)) as claims,
            Background(_run_claimed, package, runnable, claims, False) as other,
        ):
            found = _run_claimed(package, runnable, claims, True)
            with contextlib.suppress(BackgroundError):  # the child died: see below
                found.update(other.result())
        # the rules a child claimed but did not finish (killed, out of memory) are run here,
        # so that the report is still the whole catalogue's
        found.update(_run_rules(package, [r for r in runnable if r.code not in found]))
    else:
        found = _run_rules(package, runnable)
    findings = [f for r in runnable for f in found[r.code]]
    sizes = {name: len(ds.frame) for name, ds in package.datasets.items()}
    return ValidationReport(emit(findings, on_issue), sizes, len(chosen))


def _run_rules(package: Package, chosen: Iterable[Rule]) -> dict[str, list[Finding]]:
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


def _run_claimed(
    package: Package, runnable: list[Rule], claims: Claims, front: bool
) -> dict[str, list[Finding]]:
    """The findings of the rules this process claims, from the front or the back."""
    return _run_rules(package, (runnable[i] for i in claims.each(front)))
