"""Time ``trialflow run`` as a user runs it, stage by stage, at growing numbers of subjects.

Usage::

    python benchmarks/bench_scale.py [--sizes 1000,2000,5000,10000] [--repeat 2]
                                     [--keep DIR] [--study mappings/hucmsc-t2dm]

For each size a synthetic export (``trialflow synth --subjects N --seed 7``; made once, not
timed) is run through the whole command, ``trialflow run STUDY --raw F.xlsx --out DIR``, in a
new process each time: starting Python and importing, reading, mapping, validating, deriving,
analysing and writing every file (XPT, lineage CSVs, define.xml, reports, figures, manifest),
and the summary the command prints. The stages are told apart by the command's own progress
messages (the child process hooks the CLI's progress callback); the time spent inside
``RawExport.sheet`` (waiting for a sheet being parsed on the reader threads, and turning its
cells into text) is counted as "read" and taken out of "map".

The command overlaps its stages on two cores: the sheets are parsed on reader threads while
the pipeline is imported and the first domains are mapped, the SDTM files are written by a
child process while ADaM is derived, and each BDS dataset after the first is derived by
another (trialflow.background; ``TRIALFLOW_JOBS=1`` runs everything in one process). A
stage's time is the main process's: the first "write" is then only the wait for the SDTM
files, and their work shows in the CPU of the run ("bg" is the CPU seconds of the child
processes).

Printed per size and run: each stage's wall seconds, CPU seconds (user + system of the
main process and its threads: on a shared machine they move far less than the wall clock)
and peak RSS (its high-water mark, reset at every stage boundary through
/proc/self/clear_refs); the run's wall, CPU (every process) and peak memory (the largest sum
of the proportional set sizes of the process and its children, sampled every 0.2 s: shared
copy-on-write pages counted once), the 1-minute load average before and after the run, and
the growth of each stage from the previous size. The best run of each size (by CPU) is also
given as a Markdown table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAGES = ("start", "read", "map", "adam", "write", "validate", "analysis", "reports", "end")
"""start: interpreter, imports, specs, opening the export; read: waiting for the sheets and
their cells as text; map: SDTM, trial design and the XPT checks; adam: ADaM and its XPT checks
(the SDTM files are written meanwhile); write: waiting for the SDTM files, then writing the
ADaM files (datasets, lineage and define.xml); validate: the conformance rules; analysis:
statistics, tables and figures; reports: the analysis files, report.json, report.xlsx and
manifest.json; end: the summary printed and the process's exit."""


def _stage(message: str) -> str | None:
    """The stage a progress message opens (None: the message continues the current one)."""
    if message.startswith("mapping ") or message.startswith("building the trial design"):
        return "map"
    if message.startswith("deriving the ADaM"):
        return "adam"
    if message.startswith("writing the reports"):
        return "reports"
    if message.startswith("writing "):
        return "write"
    if message.startswith("validating"):
        return "validate"
    if message.startswith("computing the statistics"):
        return "analysis"
    return None


# --- the child: one run of the command, its stages recorded -------------------------------


def _hwm_kb() -> int:
    with open("/proc/self/status") as fh:
        return int(re.search(r"VmHWM:\s+(\d+)", fh.read()).group(1))  # type: ignore[union-attr]


def _reset_hwm() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _cpu() -> float:
    """CPU seconds of this process and its threads (not its child processes)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(study: str, raw: str, out: str, marks_file: str) -> None:
    """Run ``trialflow run`` in this process with its stage boundaries recorded."""
    start_wall = float(os.environ["BENCH_T0"])  # the parent's clock just before it started us
    marks: list[dict] = []
    current = ["start"]
    read = {"wall": 0.0, "cpu": 0.0}

    def mark(stage: str) -> None:
        marks.append(
            {"stage": current[0], "until": time.time(), "cpu": _cpu(), "peak_kb": _hwm_kb()}
        )
        _reset_hwm()
        current[0] = stage

    import trialflow.cli as cli
    from trialflow.raw import RawExport

    original_sheet = RawExport.sheet

    def timed_sheet(self, *args, **kwargs):
        w, c = time.time(), _cpu()
        try:
            return original_sheet(self, *args, **kwargs)
        finally:
            read["wall"] += time.time() - w
            read["cpu"] += _cpu() - c

    RawExport.sheet = timed_sheet  # type: ignore[method-assign]

    def progress(quiet: bool):
        def say(message: str) -> None:
            stage = _stage(str(message))
            if stage is not None and stage != current[0]:
                mark(stage)

        return say

    cli._progress = progress  # type: ignore[assignment]
    sys.argv = ["trialflow", "run", study, "--raw", raw, "--out", out]
    import atexit
    import contextlib
    import io

    def finish() -> None:  # when the command is done, before the process ends
        mark("end")
        Path(marks_file).write_text(
            json.dumps({"t0": start_wall, "marks": marks, "read": read, "cpu_self": _cpu()}),
            encoding="utf-8",
        )

    atexit.register(finish)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        cli.main()  # the console entry point: runs the atexit functions, then ends the process


# --- the parent: exports, runs, tables -----------------------------------------------------


def _load() -> float:
    return os.getloadavg()[0]


def _export(n: int, folder: Path) -> Path:
    path = folder / f"export-{n}.xlsx"
    if not path.exists():
        from trialflow.io.workbook import write_workbook
        from trialflow.synth import synthesize

        write_workbook(synthesize(subjects=n, seed=7), path)
    return path


def _tree(pid: int) -> list[int]:
    """A process and its descendants (Linux /proc)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                for child_pid in fh.read().split():
                    pids += _tree(int(child_pid))
    except OSError:
        pass
    return pids


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_once(study: Path, raw: Path, out: Path, tmp: Path) -> dict:
    """One run of the whole command in a new process: its stages, totals and the load."""
    import threading

    marks_file = tmp / "marks.json"
    load_before = _load()
    t0 = time.time()
    env = {**os.environ, "BENCH_T0": repr(t0)}
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(study), str(raw),
         str(out), str(marks_file)],
        env=env,
    )  # fmt: skip
    peak = {"kb": 0, "processes": 1}
    finished = threading.Event()

    def sample() -> None:  # the whole tree's memory: the command and its child processes
        while not finished.wait(0.2):
            pids = _tree(proc.pid)
            total = sum(_pss_kb(p) for p in pids)
            if total > peak["kb"]:
                peak.update(kb=total, processes=len(pids))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)  # usage includes the command's child processes
    wall = time.time() - t0
    finished.set()
    sampler.join()
    data = json.loads(marks_file.read_text(encoding="utf-8"))
    stages: dict[str, dict] = {s: {"wall": 0.0, "cpu": 0.0, "peak_mb": 0.0} for s in STAGES}
    prev_t, prev_c = t0, 0.0
    for m in data["marks"]:
        s = stages[m["stage"]]
        s["wall"] += m["until"] - prev_t
        s["cpu"] += m["cpu"] - prev_c
        s["peak_mb"] = max(s["peak_mb"], m["peak_kb"] / 1024)
        prev_t, prev_c = m["until"], m["cpu"]
    # the process's exit after the last mark
    cpu_total = usage.ru_utime + usage.ru_stime
    main_cpu = data.get("cpu_self", prev_c)
    stages["end"]["wall"] += t0 + wall - prev_t
    stages["end"]["cpu"] += max(0.0, main_cpu - prev_c)
    # the sheets are read inside the mapping stage
    stages["read"] = {
        "wall": data["read"]["wall"],
        "cpu": data["read"]["cpu"],
        "peak_mb": stages["map"]["peak_mb"],
    }
    stages["map"]["wall"] -= data["read"]["wall"]
    stages["map"]["cpu"] -= data["read"]["cpu"]
    return {
        "stages": stages,
        "wall": wall,
        "cpu": cpu_total,
        "bg": max(0.0, cpu_total - main_cpu),
        # the high-water mark is reset at each stage, so the kernel's figure at exit is only
        # that of the last stages: the main process's peak is the largest of the stages'
        "main_peak_mb": max([s["peak_mb"] for s in stages.values()]),
        "peak_mb": peak["kb"] / 1024,
        "processes": peak["processes"],
        "exit": os.waitstatus_to_exitcode(status),
        "load": (load_before, _load()),
    }


def _cell(s: dict) -> str:
    return f"{s['wall']:.1f} / {s['cpu']:.1f}"


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        child(*argv[1:5])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,2000,5000,10000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="folder for the exports and outputs (kept)")
    ap.add_argument("--study", type=Path, default=None)
    args = ap.parse_args(argv)
    import trialflow

    study = args.study or Path(trialflow.__file__).resolve().parents[1] / "mappings" / "hucmsc-t2dm"
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"trialflow from {Path(trialflow.__file__).parent}; {os.cpu_count()} cores")
        print("seconds as wall / CPU; peak RSS per stage in MB")
        best: dict[int, dict] = {}
        for n in sizes:
            raw = _export(n, folder)
            for i in range(args.repeat):
                r = run_once(study, raw, folder / f"out-{n}", folder)
                line = "  ".join(
                    f"{s} {_cell(r['stages'][s])} ({r['stages'][s]['peak_mb']:.0f})" for s in STAGES
                )
                print(
                    f"{n:>6} run {i + 1}: total {r['wall']:.1f} / {r['cpu']:.1f} s "
                    f"(bg {r['bg']:.1f}), peak {r['peak_mb']:.0f} MB in {r['processes']} "
                    f"processes (main {r['main_peak_mb']:.0f}), exit {r['exit']}, load "
                    f"{r['load'][0]:.2f} -> {r['load'][1]:.2f}\n        {line}",
                    flush=True,
                )
                if n not in best or r["cpu"] < best[n]["cpu"]:
                    best[n] = r
        print()
        print("| subjects | " + " | ".join(STAGES) + " | total wall / CPU (bg) | peak memory "
              "| load |")  # fmt: skip
        print("|---:|" + "---:|" * (len(STAGES) + 3))
        for n in sizes:
            r = best[n]
            cells = " | ".join(_cell(r["stages"][s]) for s in STAGES)
            print(
                f"| {n:,} | {cells} | {r['wall']:.1f} / {r['cpu']:.1f} ({r['bg']:.1f}) | "
                f"{r['peak_mb']:,.0f} MB | {r['load'][0]:.1f}-{r['load'][1]:.1f} |"
            )
        for a, b in itertools.pairwise(sizes):
            ra, rb = best[a], best[b]
            ratios = ", ".join(
                f"{s} {rb['stages'][s]['cpu'] / ra['stages'][s]['cpu']:.2f}"
                for s in STAGES
                if ra["stages"][s]["cpu"] > 0.05
            )
            print(
                f"{b}/{a}: wall {rb['wall'] / ra['wall']:.2f}x, CPU {rb['cpu'] / ra['cpu']:.2f}x"
                f" (CPU by stage: {ratios})"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
