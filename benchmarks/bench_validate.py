"""Validation speed on a package the size of the CDISC pilot study, beside pointblank.

Usage: python benchmarks/bench_validate.py [SUBJECTS]      (needs `pip install pointblank`)

The package is trialflow's own mapping of a synthetic export: with the default 1,600 subjects
it holds about 42,000 VS and 61,000 LB records, the record counts of the CDISC pilot study's
VS and LB (about 30,000 and 60,000). Both validators get the same in-memory pandas frames.
After one warm-up each, they run in turn, five times each, so that both see the same load on the
machine; each is timed as its best run (wall clock).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from trialflow.io.workbook import write_workbook
from trialflow.mapping.load import load_study
from trialflow.pipeline import sdtm_package
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm
from trialflow.synth import synthesize
from trialflow.validation.core import RULES
from trialflow.validation.engine import validate_package

SPECS = Path(__file__).resolve().parents[1] / "mappings" / "hucmsc-t2dm"


def best_of(funcs: list, runs: int = 5) -> list[tuple[float, object]]:
    """Best wall-clock time and result of each function, running them in turn ``runs`` times."""
    results = [func() for func in funcs]
    best = [float("inf")] * len(funcs)
    for _ in range(runs):
        for i, func in enumerate(funcs):
            t = time.perf_counter()
            results[i] = func()
            best[i] = min(best[i], time.perf_counter() - t)
    return list(zip(best, results, strict=True))


def main(argv: list[str]) -> None:
    subjects = int(argv[0]) if argv else 1600
    with tempfile.TemporaryDirectory() as tmp:
        export = write_workbook(synthesize(subjects, seed=7), Path(tmp) / "export.xlsx")
        result = build_sdtm(load_study(SPECS), read_export(export), on_issue="none")
    package = sdtm_package(result)
    sizes = {name: len(frame) for name, frame in result.domains.items()}
    print(f"package: {sizes}")

    def trialflow_run() -> object:
        return validate_package(package, on_issue="none")

    try:
        import pointblank as pb
    except ImportError:
        ((ours, report),) = best_of([trialflow_run])
        print(f"trialflow: {ours:.2f} s, {len(RULES)} rules, {len(report.findings)} findings")
        print("pointblank is not installed: pip install pointblank")
        return
    frames = {name: frame for name, frame in result.domains.items()}
    timed = best_of([trialflow_run, lambda: pb.validate_sdtmig(frames)])
    (ours, report), (theirs, conformance) = timed
    print(f"trialflow: {ours:.2f} s, {len(RULES)} rules, {len(report.findings)} findings")
    print(f"pointblank validate_sdtmig: {theirs:.2f} s ({type(conformance).__name__})")
    print(f"pointblank time / trialflow time: {theirs / ours:.2f} (above 1: trialflow is faster)")


if __name__ == "__main__":
    main(sys.argv[1:])
