"""Write speed of the Dataset-JSON writer (JSON and NDJSON) beside the XPT writer.

Uses the frame of bench_xpt.py (text of varied widths and numbers, 10% missing) and prints
the best time of each writer. Not part of the test suite; run it by hand:

    .venv/bin/python benchmarks/bench_dataset_json.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_xpt import make_frame

from trialflow.io.dataset_json import write_dataset_json
from trialflow.io.xpt import write_xpt


def main() -> None:
    """Time each writer on one frame and print the best of --repeat runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frame = make_frame(args.rows)
    writers = {
        "dataset-json": lambda p: write_dataset_json(frame, p / "lb.json", dataset="LB"),
        "ndjson": lambda p: write_dataset_json(frame, p / "lb.ndjson", dataset="LB", ndjson=True),
        "xpt": lambda p: write_xpt(frame, p / "lb.xpt", dataset="LB"),
    }
    print(f"{args.rows} rows x {frame.shape[1]} columns, best of {args.repeat}")
    with tempfile.TemporaryDirectory() as folder:
        for name, write in writers.items():
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                path = write(Path(folder))
                best = min(best, time.perf_counter() - start)
            print(f"  {name:<13}{best:7.2f} s  {path.stat().st_size / 1e6:8.1f} MB")


if __name__ == "__main__":
    main()
