"""Time of the define.xml writer for a 10,000-subject study.

Runs the bundled example (16 synthetic subjects) once, then repeats every subject-level
dataset and its lineage until it has --subjects subjects (new USUBJIDs, the trial design
datasets as they are) and times :func:`trialflow.io.define.write_define` for SDTM and ADaM.
Not part of the test suite; run it by hand:

    .venv/bin/python benchmarks/bench_define.py [--subjects 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from trialflow.io.define import DefineDataset, write_define
from trialflow.io.xpt import XptVariable, read_xpt
from trialflow.pipeline import _adam_keys, _sdtm_keys, example_paths, run_study

TRIAL_DESIGN = {"TS", "TA", "TE", "TV", "TI"}


def scaled(run: Path, kind: str, subjects: int) -> list[DefineDataset]:
    """The run's datasets of one kind, each subject repeated to ``subjects`` subjects."""
    out = []
    for path in sorted((run / kind).glob("*.xpt")):
        frame, meta = read_xpt(path)
        name = path.stem.upper()
        lineage_file = run / "lineage" / f"{path.stem}.csv"
        lineage = None
        if kind == "sdtm" and lineage_file.is_file():
            lineage = pd.read_csv(lineage_file, dtype=str, keep_default_na=False)
        if "USUBJID" in frame and name not in TRIAL_DESIGN:
            copies = subjects // max(frame["USUBJID"].nunique(), 1)
            frame = pd.concat(
                [frame.assign(USUBJID=frame["USUBJID"] + f"-{i}") for i in range(copies)],
                ignore_index=True,
            )
            if lineage is not None:
                lineage = pd.concat([lineage] * copies, ignore_index=True)
        variables = [
            XptVariable(
                c,
                meta["labels"].get(c, ""),
                "Num" if pd.api.types.is_float_dtype(frame[c].dtype) else "Char",
                meta["lengths"].get(c),
                meta["formats"].get(c),
            )
            for c in frame.columns
        ]
        keys = _sdtm_keys(name) if kind == "sdtm" else _adam_keys(name)
        out.append(DefineDataset(name, frame, variables, keys, meta["label"], lineage))
    return out


def main() -> None:
    """Run the example, scale it, time each define.xml."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10_000)
    args = parser.parse_args()
    study_dir, raw = example_paths()
    with tempfile.TemporaryDirectory() as tmp:
        run = run_study(study_dir, raw, Path(tmp) / "run", on_issue="none")
        for kind in ("sdtm", "adam"):
            datasets = scaled(run.out, kind, args.subjects)
            rows = sum(len(d.frame) for d in datasets)
            start = time.perf_counter()
            path = write_define(
                datasets, Path(tmp) / "out" / kind, kind=kind, studyid=run.study.studyid,
                spec=run.study.spec,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            print(f"{kind}: {rows:,} records, {seconds:.2f} s, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
