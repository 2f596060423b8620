"""Write speed of trialflow's XPT writer against pyreadstat.write_xport.

Builds a frame, writes it with both writers several times and prints the best time of each
and the ratio. Two shapes:

* ``--shape generic`` (the default): 30 columns, 15 Char of widths 1 to 200 and 15 Num, both
  with 10 % missing values;
* ``--shape lb``: the 25 variables of an SDTM LB domain as trialflow writes it (identifiers,
  test codes and names, original and standard results as text and numbers, units, ranges,
  flags, visits, ISO 8601 dates), one record per subject, test and visit.

Not part of the test suite; run it by hand:

    .venv/bin/python benchmarks/bench_xpt.py [--shape lb] [--rows 1000000] [--repeat 3]
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


LB_TESTS = (
    ("GLUC", "Glucose", "mmol/L", 3.9, 6.1),
    ("HBA1C", "Hemoglobin A1C", "%", 4.0, 6.0),
    ("CPEPTIDE", "C-Peptide", "pmol/L", 260.0, 1730.0),
    ("INSULIN", "Insulin", "pmol/L", 18.0, 173.0),
    ("ALT", "Alanine Aminotransferase", "U/L", 7.0, 40.0),
    ("AST", "Aspartate Aminotransferase", "U/L", 13.0, 35.0),
    ("CREAT", "Creatinine", "umol/L", 41.0, 111.0),
    ("WBC", "Leukocytes", "10^9/L", 3.5, 9.5),
    ("HGB", "Hemoglobin", "g/L", 115.0, 150.0),
    ("PLAT", "Platelets", "10^9/L", 125.0, 350.0),
)
"""Test code, name, standard unit and reference range of the LB-like frame's tests."""


def make_lb_frame(rows: int) -> pd.DataFrame:
    """A frame shaped like an SDTM LB domain: one record per subject, test and visit.

    Example:
        >>> frame = make_lb_frame(4)
        >>> frame.shape, frame["LBTESTCD"].tolist()[:2]
        ((4, 25), ['GLUC', 'HBA1C'])
    """
    rng = np.random.default_rng(20261205)
    visits = 8
    index = np.arange(rows)
    test = index % len(LB_TESTS)
    visit = (index // len(LB_TESTS)) % visits
    subject = index // (len(LB_TESTS) * visits)
    codes, names, units, low, high = (np.array(column) for column in zip(*LB_TESTS, strict=True))
    mid, spread = (low + high) / 2, (high - low) / 4
    result = np.round(mid[test] + spread[test] * rng.standard_normal(rows), 1)
    missing = rng.random(rows) < 0.03
    result[missing] = np.nan
    text = pd.Series(result).map("{:.1f}".format).where(~missing, "")
    usubjid = pd.Series(subject).map("STUDY01-{:06d}".format)
    day = visit * 14 + rng.integers(-2, 3, rows)
    dates = pd.Timestamp("2025-01-06") + pd.to_timedelta(subject % 700 + day, unit="D")
    nrind = np.where(result < low[test], "LOW", np.where(result > high[test], "HIGH", "NORMAL"))
    return pd.DataFrame(
        {
            "STUDYID": "STUDY01",
            "DOMAIN": "LB",
            "USUBJID": usubjid.astype("str"),
            "LBSEQ": (index % (len(LB_TESTS) * visits) + 1).astype(np.float64),
            "LBTESTCD": codes[test],
            "LBTEST": names[test],
            "LBCAT": np.where(test < 4, "DIABETES", "SAFETY"),
            "LBORRES": text.astype("str"),
            "LBORRESU": units[test],
            "LBORNRLO": pd.Series(low[test]).map("{:g}".format).astype("str"),
            "LBORNRHI": pd.Series(high[test]).map("{:g}".format).astype("str"),
            "LBSTRESC": text.astype("str"),
            "LBSTRESN": result,
            "LBSTRESU": units[test],
            "LBSTNRLO": low[test],
            "LBSTNRHI": high[test],
            "LBNRIND": np.where(missing, "", nrind),
            "LBSPEC": np.where(test == 1, "WHOLE BLOOD", "SERUM"),
            "LBLOBXFL": np.where(visit == 0, "Y", ""),
            "LBFAST": np.where(test < 4, "Y", ""),
            "VISITNUM": (visit + 1).astype(np.float64),
            "VISIT": pd.Series(visit * 14).map("DAY {}".format).astype("str"),
            "EPOCH": np.where(visit == 0, "SCREENING", "TREATMENT"),
            "LBDTC": pd.Series(dates.strftime("%Y-%m-%dT08:30")).astype("str"),
            "LBDY": np.where(day >= 0, day + 1, day).astype(np.float64),  # no day 0
        }
    )


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
    parser.add_argument("--shape", choices=("generic", "lb"), default="generic")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--char-columns", type=int, default=15, help="of the 30 columns")
    args = parser.parse_args()

    if args.shape == "lb":
        df = make_lb_frame(args.rows)
        char_columns = int((df.dtypes != np.float64).sum())
    else:
        df = make_frame(args.rows, args.char_columns, 30 - args.char_columns)
        char_columns = args.char_columns
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

    shape = f"{args.shape} {df.shape[0]:,} x {df.shape[1]} ({char_columns} Char)"
    print(f"rows x columns           : {shape}, {size_mb:.1f} MB file")
    print(f"trialflow xpt_findings   : {checks:8.3f} s")
    print(f"trialflow write_xpt      : {ours:8.3f} s  (checks included)")
    print(f"pyreadstat.write_xport v5: {theirs:8.3f} s")
    print(f"ratio pyreadstat / trialflow: {theirs / ours:6.1f}x")


if __name__ == "__main__":
    main()
