"""Time the raw -> SDTM -> ADaM -> analysis pipeline on synthetic exports of growing size.

Usage: python benchmarks/bench_pipeline.py [N ...]   (default 1000 10000 subjects)

Prints, per size, the seconds spent writing the synthetic workbook (not part of the pipeline),
reading and mapping it, writing the SDTM XPT files and lineage, deriving and writing ADaM, and
the statistics, figures and report, plus peak memory. Validation is timed by bench_validate.py.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from trialflow.adam.build import build_adam
from trialflow.analysis.build import build_analysis
from trialflow.io.workbook import write_workbook
from trialflow.mapping.load import load_study
from trialflow.pipeline import write_adam, write_analysis, write_sdtm
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm
from trialflow.synth import synthesize

SPECS = Path(__file__).resolve().parents[1] / "mappings" / "hucmsc-t2dm"


def run(subjects: int, folder: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    sheets = synthesize(subjects=subjects, seed=7)
    path = write_workbook(sheets, folder / f"export-{subjects}.xlsx")
    t1 = time.perf_counter()
    study = load_study(SPECS)
    export = read_export(path)
    for name in ("DEMOG", "VITALS", "LAB", "INFUSION", "AE"):
        export.sheet(name)
    t2 = time.perf_counter()
    result = build_sdtm(study, export, on_issue="none")
    t3 = time.perf_counter()
    out = folder / f"out-{subjects}"
    write_sdtm(result, out)
    t4 = time.perf_counter()
    adam = build_adam(study.spec, result.domains, sdtm_lineage=result.lineage, on_issue="none")
    write_adam(adam, out)
    t5 = time.perf_counter()
    summary = {"errors": 0, "warnings": 0, "notices": 0, "by_dataset": [], "top": []}
    analysis = build_analysis(study.spec, adam.datasets, {"study": study.studyid}, summary)
    write_analysis(analysis, out)
    t6 = time.perf_counter()
    records = sum(len(f) for f in result.domains.values())
    return {
        "subjects": subjects,
        "records": records,
        "adam records": sum(len(f) for f in adam.datasets.values()),
        "synth+xlsx": t1 - t0,
        "read": t2 - t1,
        "map": t3 - t2,
        "write": t4 - t3,
        "adam": t5 - t4,
        "analysis": t6 - t5,
        "pipeline": t6 - t1,
    }


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1000, 10000]
    with tempfile.TemporaryDirectory() as tmp:
        print(
            "subjects  SDTM rec  ADaM rec  synth+xlsx  read    map     write   adam    "
            "analysis  pipeline  peak RSS"
        )
        for n in sizes:
            r = run(n, Path(tmp))
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"{r['subjects']:>8} {r['records']:>9} {r['adam records']:>9} "
                f"{r['synth+xlsx']:>10.1f}s {r['read']:>6.1f}s {r['map']:>6.1f}s "
                f"{r['write']:>6.1f}s {r['adam']:>6.1f}s {r['analysis']:>8.1f}s "
                f"{r['pipeline']:>8.1f}s {peak:>7.0f} MB"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
