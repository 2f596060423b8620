"""Time and memory of refusing each hostile input (the cases of tests/test_limits.py).

Each hostile file is made in a temporary folder, then the command line runs on it in a child
process under a 1.5 GB address-space limit (so a regression cannot take the machine down);
the wall time and the child's peak RSS (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``,
one child at a time) are recorded with its exit code and its error line. Targets: exit 2,
under 1.5 GB and a few seconds each.

    PYTHONPATH=. python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import hostile  # noqa: E402

STUDY = ROOT / "mappings" / "hucmsc-t2dm"
MEMORY = 1_500_000_000
CODE = "import sys; sys.argv = ['trialflow', *sys.argv[1:]]; from trialflow.cli import main; main()"


def _cases(tmp: Path) -> list[tuple[str, list[object]]]:
    out = tmp / "out"
    sdtm = tmp / "sdtm"
    sdtm.mkdir()
    return [
        ("xlsx declaring A1:XFD1048576 (map)",
         ["map", STUDY, "--raw", hostile.declared_dimension_xlsx(tmp / "dim.xlsx"), "--out", out]),
        ("xlsx, cells at A1 and XFD1048576 (map)",
         ["map", STUDY, "--raw", hostile.far_cells_xlsx(tmp / "far.xlsx"), "--out", out,
          "--limit", "columns=20000"]),
        ("xlsx, a 256 MiB sheet in 0.8 MB (map)",
         ["map", STUDY, "--raw", hostile.inflating_xlsx(tmp / "bomb.xlsx", 256), "--out", out]),
        ("xlsx, a 3 GiB sheet in 3 MB (map)",
         ["map", STUDY, "--raw", hostile.inflating_xlsx(tmp / "bomb3.xlsx", 3072), "--out", out]),
        ("CSV of 1,000,000 columns (validate)",
         ["validate", hostile.wide_csv(sdtm / "dm.csv")]),
        ("XPT + 191 MB of blank padding (validate)",
         ["validate", hostile.padded_xpt(tmp / "dm.xpt", 191_000_000)]),
        ("Dataset-JSON nested 100,000 deep (validate)",
         ["validate", hostile.deep_json(tmp / "ae.json")]),
    ]  # fmt: skip


def _measure(args: list[object]) -> tuple[int, float, float, int, str]:
    """Run the command line on ``args`` in a child (through a wrapper process, so that the
    wrapper's RUSAGE_CHILDREN is this child's alone): exit code, wall time, CPU time (user +
    system: less sensitive than the wall time to other work on the machine), peak RSS in
    bytes, stderr."""
    wrapper = (
        "import json, resource, subprocess, sys\n"
        "def cap():\n"
        f"    resource.setrlimit(resource.RLIMIT_AS, ({MEMORY}, {MEMORY}))\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True, preexec_fn=cap)\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps([r.returncode, u.ru_maxrss * 1024, u.ru_utime + u.ru_stime, r.stderr]))\n"
    )
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", wrapper, sys.executable, "-c", CODE, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    wall = time.perf_counter() - start
    code, rss, cpu, stderr = json.loads(out.stdout)
    return code, wall, cpu, rss, stderr


def main() -> None:
    """Print one Markdown table row per hostile file."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        print("| input | file size | exit | wall | CPU | peak RSS | error line (start) |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for title, args in _cases(tmp):
            data = next(Path(a) for a in args[1:] if isinstance(a, Path) and a.is_file())
            code, wall, cpu, rss, stderr = _measure(args)
            line = next(
                (x for x in stderr.splitlines() if x.startswith("Error:")),
                stderr.strip().splitlines()[-1] if stderr.strip() else "",
            )
            print(
                f"| {title} | {data.stat().st_size:,} B | {code} | {wall:.1f} s | {cpu:.1f} s | "
                f"{rss / 1e6:,.0f} MB | {line[:100]} |"
            )


if __name__ == "__main__":
    main()
