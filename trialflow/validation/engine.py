"""Run the rule catalogue over a package and collect the findings.

Rules are registered by the modules of :mod:`trialflow.validation.rules`; each takes the
whole package and returns findings, so dataset rules and cross-domain rules run the same way.
A rule that fails with an unexpected error does not stop the others: it becomes a
``rule-failed`` finding naming it.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Iterable, Iterator

from trialflow.background import Background, BackgroundError, parallel
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
    two meet (:class:`_Claims`); the findings are put back in the catalogue's order, so the
    report is the same as with one job.

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
            _Claims.of(len(runnable)) as claims,
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
    package: Package, runnable: list[Rule], claims: _Claims, front: bool
) -> dict[str, list[Finding]]:
    """The findings of the rules this process claims, from the front or the back."""
    return _run_rules(package, (runnable[i] for i in claims.each(front)))


class _Claims:
    """The rules of a catalogue shared out between two processes as they go.

    One process takes rules from the start of the catalogue, the other from its end, one at
    a time, until the two meet. The rules of a topic sit together in the catalogue and share
    derived facts (the parsed dates of the timing rules, the units of the findings rules),
    so each process computes few facts the other also computes, and neither waits for the
    other however the work of a package falls: a static split (every other rule, or half of
    the catalogue each) had each process compute most facts twice, or one half end long
    before the other.

    The next index from the front and the end from the back are two integers in memory
    shared across the fork, read and changed under a POSIX record lock (``lockf``) on an
    anonymous file: the kernel releases such a lock when its process dies, so a child killed
    while it holds it cannot leave the parent waiting.

    Example:
        >>> with _Claims.of(5) as claims:
        ...     front, back = claims.each(True), claims.each(False)
        ...     next(front), next(back), next(back), next(front), next(front), next(back, None)
        (0, 4, 3, 1, 2, None)
    """

    _LAYOUT = struct.Struct("qq")

    def __init__(self, count: int) -> None:
        self._memory = mmap.mmap(-1, self._LAYOUT.size)  # MAP_SHARED: both see each change
        self._LAYOUT.pack_into(self._memory, 0, 0, count)
        self._lock = os.memfd_create("trialflow-claims")  # Linux; without it, one process

    @classmethod
    @contextlib.contextmanager
    def of(cls, count: int) -> Iterator[_Claims]:
        """Claims over ``count`` rules, released when the block ends."""
        claims = cls(count)
        try:
            yield claims
        finally:
            os.close(claims._lock)
            claims._memory.close()

    def each(self, front: bool) -> Iterator[int]:
        """The indices this process claims, from the front (0, 1, ...) or the back."""
        while (index := self._claim(front)) is not None:
            yield index

    def _claim(self, front: bool) -> int | None:
        with self._locked():
            low, high = self._LAYOUT.unpack_from(self._memory, 0)
            if low >= high:
                return None
            index = low if front else high - 1
            low, high = (low + 1, high) if front else (low, high - 1)
            self._LAYOUT.pack_into(self._memory, 0, low, high)
            return index

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl  # POSIX only, as memfd_create (claims are made only where both exist)

        fcntl.lockf(self._lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(self._lock, fcntl.LOCK_UN)
