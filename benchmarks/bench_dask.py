"""A pooled package validated in one process and through dask.distributed on this machine.

Usage: python benchmarks/bench_dask.py [STUDIES] [SUBJECTS_PER_STUDY]   (defaults 4 and 250)

Builds a pool of synthetic studies (trialflow.scale.build_pool: STUDYIDs POOL-01.., seeds 1..;
each study synthesised, mapped and derived), first one study after another, then one Dask task
per study; then validates the pooled package with validate_package in one process and with
validate_distributed on a LocalCluster of worker processes (2 workers, 1 thread each) and of
threads (1 worker, 2 threads), checking that every run gives the same findings. Each
validation is timed as the best of two runs (wall clock), after one warm-up run.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

from distributed import Client, LocalCluster

from trialflow.scale import build_pool, finding_key, validate_distributed
from trialflow.validation.engine import validate_package


def best(func, runs: int = 2) -> tuple[float, object]:
    """Best wall-clock time of ``func`` over ``runs`` runs after one warm-up, and its result."""
    result = func()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t)
    return min(times), result


def main(argv: list[str]) -> None:
    studies = int(argv[0]) if argv else 4
    subjects = int(argv[1]) if len(argv) > 1 else 250
    pool_spec = [(f"POOL-{i:02d}", subjects, i) for i in range(1, studies + 1)]
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        pool = build_pool(f"{tmp}/serial", pool_spec)
        serial_build = time.perf_counter() - t
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            client.submit(len, [1]).result()  # workers up before the clock starts
            t = time.perf_counter()
            build_pool(f"{tmp}/dask", pool_spec, client=client)
            dask_build = time.perf_counter() - t
            sizes = {n: len(d.frame) for n, d in pool.datasets.items()}
            print(f"pool: {studies} studies x {subjects} subjects, {sum(sizes.values()):,} records")
            print(
                f"build (synth, map, derive): one process {serial_build:.1f} s, "
                f"Dask 2 processes {dask_build:.1f} s"
            )

            one, whole = best(lambda: validate_package(pool, on_issue="none"))
            expected = sorted(whole.findings, key=finding_key)
            print(f"validate, one process: {one:.1f} s, {len(expected):,} findings")
            for size in (2 * subjects, subjects):
                took, report = best(
                    lambda size=size: validate_distributed(
                        pool, client, subjects_per_task=size, on_issue="none"
                    )
                )
                assert report.findings == expected
                print(f"validate, Dask 2 processes, {size} subjects a task: {took:.1f} s (same)")
        with (
            LocalCluster(
                n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):

            def threads() -> object:
                return validate_distributed(
                    pool, client, subjects_per_task=2 * subjects, on_issue="none"
                )

            took, report = best(threads)
            assert report.findings == expected
            print(f"validate, Dask 2 threads, {2 * subjects} subjects a task: {took:.1f} s (same)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:,.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
