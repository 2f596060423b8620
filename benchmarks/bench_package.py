"""Time the package writers on a large synthetic study: Dataset-JSON and define.xml.

Usage: python benchmarks/bench_package.py [SUBJECTS]   (default 10000)

Maps and derives a synthetic export of the example design (``trialflow.synth``, seed 7), then
times, each on its own: the XPT files of every SDTM and ADaM dataset, their Dataset-JSON files,
and the SDTM and ADaM define.xml. The dataset writers also write the lineage CSVs, so they are
first timed with no format at all (lineage only) and the "net" column takes that away. Prints
wall-clock and CPU seconds (on a shared machine the CPU time moves far less with other work than
the wall clock does) and the bytes written. Not part of the test suite; results go to
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import trialflow
from trialflow.adam.build import build_adam
from trialflow.io.workbook import write_workbook
from trialflow.mapping.load import load_study
from trialflow.pipeline import write_adam, write_sdtm
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm
from trialflow.synth import synthesize

SPECS = Path(trialflow.__file__).resolve().parents[1] / "mappings" / "hucmsc-t2dm"


def timed(label: str, func: Callable[[], list[Path]], base: float = 0.0) -> float:
    """Run ``func`` once, print its wall and CPU seconds (and the CPU seconds net of ``base``)
    and the size of what it wrote; return the CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    files = func()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    size = sum(Path(f).stat().st_size for f in files) / 1e6
    print(
        f"{label:<24} {wall:7.2f} s wall {cpu:7.2f} s CPU {cpu - base:7.2f} s net "
        f"{len(files):4d} files {size:8.1f} MB"
    )
    return cpu


def main(argv: list[str]) -> None:
    subjects = int(argv[0]) if argv else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write_workbook(synthesize(subjects=subjects, seed=7), folder / "export.xlsx")
        study = load_study(SPECS)
        sdtm = build_sdtm(study, read_export(path), on_issue="none")
        adam = build_adam(study.spec, sdtm.domains, sdtm_lineage=sdtm.lineage, on_issue="none")
        records = sum(map(len, sdtm.domains.values())), sum(map(len, adam.datasets.values()))
        print(f"{subjects:,} subjects: {records[0]:,} SDTM and {records[1]:,} ADaM records")

        def only(kind: str, files: list[Path]) -> list[Path]:
            return [f for f in files if f.suffix == kind]

        base = {
            "SDTM": timed(
                "SDTM lineage only", lambda: write_sdtm(sdtm, folder / "none", formats=())
            ),
            "ADaM": timed(
                "ADaM lineage only", lambda: write_adam(adam, folder / "none", formats=())
            ),
        }
        for fmt, suffix in (("xpt", ".xpt"), ("dataset-json", ".json")):
            out = folder / fmt
            timed(
                f"SDTM {fmt}",
                lambda out=out, fmt=fmt, suffix=suffix: only(
                    suffix, write_sdtm(sdtm, out, formats=(fmt,))
                ),
                base["SDTM"],
            )
            timed(
                f"ADaM {fmt}",
                lambda out=out, fmt=fmt, suffix=suffix: only(
                    suffix, write_adam(adam, out, formats=(fmt,))
                ),
                base["ADaM"],
            )


if __name__ == "__main__":
    main(sys.argv[1:])
