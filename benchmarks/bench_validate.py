"""Validation speed on a package the size of the CDISC pilot study, beside pointblank.

Usage: python benchmarks/bench_validate.py [SUBJECTS]      (needs `pip install pointblank`)

The package is trialflow's own mapping of a synthetic export: with the default 1,600 subjects
it holds about 42,000 VS and 61,000 LB records, the record counts of the CDISC pilot study's
VS and LB (about 30,000 and 60,000). Both validators get the same in-memory pandas frames;
each is timed as the best of three runs after one warm-up.
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


def best_of(func, runs: int = 3) -> tuple[float, object]:
    func()
    best, result = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - t)
    return best, result


def main(argv: list[str]) -> None:
    subjects = int(argv[0]) if argv else 1600
    with tempfile.TemporaryDirectory() as tmp:
        export = write_workbook(synthesize(subjects, seed=7), Path(tmp) / "export.xlsx")
        result = build_sdtm(load_study(SPECS), read_export(export), on_issue="none")
    package = sdtm_package(result)
    sizes = {name: len(frame) for name, frame in result.domains.items()}
    print(f"package: {sizes}")
    ours, report = best_of(lambda: validate_package(package, on_issue="none"))
    print(f"trialflow: {ours:.2f} s, {len(RULES)} rules, {len(report.findings)} findings")
    try:
        import pointblank as pb
    except ImportError:
        print("pointblank is not installed: pip install pointblank")
        return
    frames = {name: frame for name, frame in result.domains.items()}
    theirs, conformance = best_of(lambda: pb.validate_sdtmig(frames))
    print(f"pointblank validate_sdtmig: {theirs:.2f} s ({type(conformance).__name__})")
    print(f"pointblank time / trialflow time: {theirs / ours:.2f} (above 1: trialflow is faster)")


if __name__ == "__main__":
    main(sys.argv[1:])
