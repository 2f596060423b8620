"""A million findings: validation lists every record, and the reports are written streaming.

Usage: python benchmarks/bench_reports.py [RECORDS]

Seeds RECORDS (default 1,000,000) LB records, each with an LBDTC that is not ISO 8601, so the
schema rule ``dtc-not-iso8601`` reports RECORDS findings; then times a conformance rule's
record loop (``report_rows``, the path of every cross-variable rule) over the same records, and
writes report.json and report.xlsx. Peak RSS is read from the kernel (``ru_maxrss``) before and
after each writer: the growth is what the writer itself needed on top of the findings.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from trialflow.io.reports import write_report_json, write_report_xlsx
from trialflow.validation.core import Dataset, Package
from trialflow.validation.engine import validate_package
from trialflow.validation.rules.common import report_rows


def peak_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lb(records: int) -> pd.DataFrame:
    """A synthetic LB of ``records`` records, 100 subjects, every LBDTC in US notation."""
    subject = np.arange(records) % 100
    return pd.DataFrame(
        {
            "STUDYID": "BENCH",
            "DOMAIN": "LB",
            "USUBJID": pd.Series([f"BENCH-{s:03d}" for s in subject], dtype="str"),
            "LBSEQ": (np.arange(records) // 100 + 1).astype("float64"),
            "LBTESTCD": "GLUC",
            "LBTEST": "Glucose",
            "LBORRES": "5.4",
            "LBDTC": "12/01/2019",
        }
    )


def main(argv: list[str]) -> None:
    records = int(argv[0]) if argv else 1_000_000
    frame = lb(records)
    package = Package({"LB": Dataset.from_frame("LB", frame)})
    print(f"LB: {records:,} records, every LBDTC not ISO 8601; peak RSS {peak_mb():,.0f} MB")

    t = time.perf_counter()
    report = validate_package(package, rules=["dtc-not-iso8601"], on_issue="none")
    took = time.perf_counter() - t
    findings = report.findings
    print(f"dtc-not-iso8601: {len(findings):,} findings in {took:.1f} s; peak {peak_mb():,.0f} MB")

    ds = package.datasets["LB"]
    t = time.perf_counter()
    rows = report_rows(
        "bench", ds, ds.frame, "LBDTC", lambda r: f"LBDTC {r['LBDTC']}", value="LBDTC"
    )
    took = time.perf_counter() - t
    print(f"report_rows: {len(rows):,} findings in {took:.1f} s; peak {peak_mb():,.0f} MB")
    del rows

    with tempfile.TemporaryDirectory() as tmp:
        for name, write in (
            ("report.json", lambda p: write_report_json(findings, p, datasets={"LB": records})),
            ("report.xlsx", lambda p: write_report_xlsx(findings, p, datasets={"LB": records})),
        ):
            before = peak_mb()
            t = time.perf_counter()
            path = write(Path(tmp) / name)
            took = time.perf_counter() - t
            size = path.stat().st_size / 1e6
            print(
                f"{name}: {took:.1f} s, {size:,.0f} MB on disk; peak RSS {before:,.0f} -> "
                f"{peak_mb():,.0f} MB"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
