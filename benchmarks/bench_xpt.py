"""Write speed of trialflow's XPT writer against pyreadstat.write_xport.

Builds a frame of 200,000 rows x 30 columns (15 Char of widths 1 to 200, 15 Num, both with
missing values), writes it with both writers several times and prints the best time of each
and the ratio. Not part of the test suite; run it by hand:

    .venv/bin/python benchmarks/bench_xpt.py [--rows 200000] [--repeat 3] [--char-columns 15]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from trialflow.io.xpt import read_xpt, write_xpt, xpt_findings

CHAR_WIDTHS = (8, 2, 16, 1, 40, 8, 100, 25, 200, 4, 60, 10, 3, 30, 20)
"""Longest value of each Char column, like STUDYID, DOMAIN, USUBJID, flags, terms, comments."""


def make_frame(rows: int, char_columns: int = 15, num_columns: int = 15) -> pd.DataFrame:
    """A frame like an SDTM domain: text of varied widths and numbers, 10% of them missing.

    Example:
        >>> make_frame(3).shape
        (3, 30)
    """
    rng = np.random.default_rng(20240601)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ -0123456789"))
    data: dict[str, pd.Series] = {}
    for i in range(char_columns):
        width = CHAR_WIDTHS[i % len(CHAR_WIDTHS)]
        sizes = [width, *rng.integers(1, width + 1, 11)]
        vocabulary = np.array(["".join(rng.choice(letters, size)) for size in sizes])
        values = pd.Series(vocabulary[rng.integers(0, len(vocabulary), rows)], dtype="str")
        data[f"CHAR{i:02d}"] = values.mask(rng.random(rows) < 0.1)
    for i in range(num_columns):
        if i % 3 == 0:
            values = np.arange(1, rows + 1, dtype=np.float64)  # sequence numbers
        elif i % 3 == 1:
            values = rng.integers(20000, 24000, rows).astype(np.float64)  # SAS dates
        else:
            values = rng.normal(0, 10.0 ** (i % 5), rows).round(i % 4)  # results
        values[rng.random(rows) < 0.1] = np.nan
        data[f"NUM{i:02d}"] = pd.Series(values)
    return pd.DataFrame(data)


def best_of(repeat: int, func: Callable[[], object]) -> float:
    """The fastest of ``repeat`` timed calls, in seconds.

    Example:
        >>> best_of(2, lambda: None) >= 0
        True
    """
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Run the comparison and print rows, seconds and the ratio.

    Example:
        $ .venv/bin/python benchmarks/bench_xpt.py --rows 200000
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--char-columns", type=int, default=15, help="of the 30 columns")
    args = parser.parse_args()

    df = make_frame(args.rows, args.char_columns, 30 - args.char_columns)
    with tempfile.TemporaryDirectory() as tmp:
        ours_path = Path(tmp) / "ours.xpt"
        theirs_path = Path(tmp) / "theirs.xpt"
        checks = best_of(args.repeat, lambda: xpt_findings(df, dataset="BENCH"))
        ours = best_of(args.repeat, lambda: write_xpt(df, ours_path, dataset="BENCH"))
        theirs = best_of(
            args.repeat,
            lambda: pyreadstat.write_xport(
                df, str(theirs_path), table_name="BENCH", file_format_version=5
            ),
        )
        back, _ = read_xpt(ours_path)
        assert back.shape == df.shape, (back.shape, df.shape)
        size_mb = ours_path.stat().st_size / 1e6

    shape = f"{df.shape[0]:,} x {df.shape[1]} ({args.char_columns} Char)"
    print(f"rows x columns           : {shape}, {size_mb:.1f} MB file")
    print(f"trialflow xpt_findings   : {checks:8.3f} s")
    print(f"trialflow write_xpt      : {ours:8.3f} s  (checks included)")
    print(f"pyreadstat.write_xport v5: {theirs:8.3f} s")
    print(f"ratio pyreadstat / trialflow: {theirs / ours:6.1f}x")


if __name__ == "__main__":
    main()
