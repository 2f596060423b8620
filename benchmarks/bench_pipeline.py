"""Time the raw -> SDTM -> ADaM -> analysis pipeline on synthetic exports of growing size.

Usage: python benchmarks/bench_pipeline.py [N ...]   (default 1000 10000 subjects)

Prints, per size, the seconds spent writing the synthetic workbook (not part of the pipeline),
reading and mapping it, writing the SDTM XPT files and lineage, deriving and writing ADaM, and
the statistics, figures and report, plus peak memory. Validation is timed by bench_validate.py;
the whole command as a user runs it (validation, every report and the process itself
included), stage by stage, by bench_scale.py.
Each stage shows wall-clock seconds and, after the slash, the CPU seconds of the process: on a
shared machine the CPU time moves far less with other work than the wall clock does.

Comparing two versions: the specs come from the checkout of the ``trialflow`` that is imported,
so an older checkout runs with its own specs. Run the two side by side, so that both see the
same load, e.g. (with the older commit checked out in ../old)::

    PYTHONPATH=../old python benchmarks/bench_pipeline.py 2000 &
    python benchmarks/bench_pipeline.py 2000; wait
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import trialflow
from trialflow.adam.build import build_adam
from trialflow.analysis.build import build_analysis
from trialflow.io.workbook import write_workbook
from trialflow.mapping.load import load_study
from trialflow.pipeline import write_adam, write_analysis, write_sdtm
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm
from trialflow.synth import synthesize

SPECS = Path(trialflow.__file__).resolve().parents[1] / "mappings" / "hucmsc-t2dm"
"""The example specs of the checkout whose code is imported (PYTHONPATH may name another)."""


def run(subjects: int, folder: Path) -> dict[str, float]:
    marks: list[tuple[float, float]] = []

    def mark() -> None:
        marks.append((time.perf_counter(), time.process_time()))

    mark()
    sheets = synthesize(subjects=subjects, seed=7)
    path = write_workbook(sheets, folder / f"export-{subjects}.xlsx")
    mark()
    study = load_study(SPECS)
    export = read_export(path)
    for name in ("DEMOG", "VITALS", "LAB", "INFUSION", "AE"):
        export.sheet(name)
    mark()
    result = build_sdtm(study, export, on_issue="none")
    mark()
    out = folder / f"out-{subjects}"
    write_sdtm(result, out)
    mark()
    adam = build_adam(study.spec, result.domains, sdtm_lineage=result.lineage, on_issue="none")
    write_adam(adam, out)
    mark()
    summary = {"errors": 0, "warnings": 0, "notices": 0, "by_dataset": [], "top": []}
    analysis = build_analysis(study.spec, adam.datasets, {"study": study.studyid}, summary)
    write_analysis(analysis, out)
    mark()
    stages = ["synth+xlsx", "read", "map", "write", "adam", "analysis"]
    out_times: dict[str, object] = {
        "subjects": subjects,
        "records": sum(len(f) for f in result.domains.values()),
        "adam records": sum(len(f) for f in adam.datasets.values()),
    }
    for stage, (w0, c0), (w1, c1) in zip(stages, marks[:-1], marks[1:], strict=True):
        out_times[stage] = (w1 - w0, c1 - c0)
    out_times["pipeline"] = (marks[-1][0] - marks[1][0], marks[-1][1] - marks[1][1])
    return out_times  # type: ignore[return-value]


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1000, 10000]
    stages = ["synth+xlsx", "read", "map", "write", "adam", "analysis", "pipeline"]
    with tempfile.TemporaryDirectory() as tmp:
        print(f"trialflow from {Path(trialflow.__file__).parent}; seconds as wall / CPU")
        print(
            f"{'subjects':>8} {'SDTM rec':>9} {'ADaM rec':>9} "
            + " ".join(f"{s:>12}" for s in stages)
            + "  peak RSS"
        )
        for n in sizes:
            r = run(n, Path(tmp))
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            cells = " ".join(f"{r[s][0]:>6.1f}/{r[s][1]:<5.1f}" for s in stages)  # type: ignore[index]
            counts = f"{r['subjects']:>8} {r['records']:>9} {r['adam records']:>9}"
            print(f"{counts} {cells} {peak:>6.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
