"""A pooled package of synthetic studies validated through dask.distributed (trialflow.scale):
the same findings, in the same order once sorted by finding_key, as validate_package gives on
the whole package in one process, on the clean pool and on copies with seeded faults."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from trialflow.validation.core import FILE, RECORD, RULES, Dataset, Package
from trialflow.validation.engine import validate_package

ROOT = Path(__file__).resolve().parents[1]
STUDIES = [("POOL-A", 4, 11), ("POOL-B", 3, 12), ("POOL-C", 3, 13)]


@pytest.fixture(scope="module")
def client():
    """Two worker processes on this machine: every package and finding crosses a pickle."""
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def pool(client, tmp_path_factory) -> Package:
    from trialflow.scale import build_pool

    return build_pool(tmp_path_factory.mktemp("pool"), STUDIES, client=client)


def faulty(package: Package, seed: int, rate: float) -> Package:
    """A copy with faults seeded in every column: a share ``rate`` of the cells blanked or given
    another record's value, and as many records repeated."""
    rng = np.random.default_rng(seed)
    datasets = {}
    for name, ds in package.datasets.items():
        f = ds.frame.copy()
        n = len(f)
        for column in f.columns:
            if column in (RECORD, FILE) or n < 2:
                continue
            hit = rng.random(n) < rate
            values = f[column].to_numpy().copy()
            other = values[rng.integers(0, n, n)]
            blank = rng.random(n) < 0.3
            values = np.where(hit, np.where(blank, None, other), values)
            f[column] = pd.Series(values, index=f.index).astype(f[column].dtype)
        f = pd.concat([f, f[rng.random(n) < rate]], ignore_index=True)
        datasets[name] = dataclasses.replace(ds, frame=f)
    return dataclasses.replace(package, datasets=datasets, cache={})


def test_pool_holds_each_study_with_its_own_studyid_and_files(pool):
    dm = pool.get("DM").frame
    assert dm["STUDYID"].tolist() == ["POOL-A"] * 4 + ["POOL-B"] * 3 + ["POOL-C"] * 3
    # each record keeps the file and row it came from in its own study
    assert (
        dm[FILE].tolist()
        == ["POOL-A/sdtm/dm.xpt"] * 4 + ["POOL-B/sdtm/dm.xpt"] * 3 + ["POOL-C/sdtm/dm.xpt"] * 3
    )
    assert dm[RECORD].tolist() == [1, 2, 3, 4, 1, 2, 3, 1, 2, 3]
    assert all(u.startswith(f"{s}-") for s, u in zip(dm["STUDYID"], dm["USUBJID"], strict=True))
    assert set(pool.get("ADSL").frame["STUDYID"]) == {"POOL-A", "POOL-B", "POOL-C"}
    assert pool.get("DM").files == (
        "POOL-A/sdtm/dm.xpt",
        "POOL-B/sdtm/dm.xpt",
        "POOL-C/sdtm/dm.xpt",
    )


def test_dask_validation_equals_one_process_on_the_clean_pool(pool, client):
    from trialflow.scale import finding_key, validate_distributed

    whole = sorted(validate_package(pool, on_issue="none").findings, key=finding_key)
    report = validate_distributed(pool, client, subjects_per_task=2, on_issue="none")
    assert report.findings == whole
    assert report.rules_run == len(RULES)
    assert report.datasets == {name: len(ds.frame) for name, ds in pool.datasets.items()}
    # a single-study rule on a pool: every SDTM record of the studies other than the one most
    # DM records name (POOL-A, 4 of 10) is a studyid-mismatch
    expected = sum(
        int((ds.frame["STUDYID"] != "POOL-A").sum())
        for ds in pool.datasets.values()
        if ds.kind in ("sdtm", "supp") and "STUDYID" in ds.frame.columns
    )
    mismatch = [f for f in report.findings if f.code == "studyid-mismatch"]
    assert len(mismatch) == expected > 0
    assert "internal error" not in " ".join(f.message for f in report.findings)


@pytest.mark.parametrize(("seed", "rate", "size"), [(2, 0.15, 2)])
def test_dask_validation_equals_one_process_with_seeded_faults(pool, client, seed, rate, size):
    from trialflow.scale import finding_key, partition_of, validate_distributed

    package = faulty(pool, seed, rate)
    whole = sorted(validate_package(package, on_issue="none").findings, key=finding_key)
    report = validate_distributed(package, client, subjects_per_task=size, on_issue="none")
    assert report.findings == whole
    codes = Counter(f.code for f in whole)
    # the faults reach the rules run on subject partitions, not only the whole-package ones
    assert sum(n for c, n in codes.items() if partition_of(c) == "subject") > 20
    assert "rule-failed" not in codes


def test_split_package_puts_each_subject_record_in_one_partition(pool):
    from trialflow.scale import split_package

    parts = split_package(pool, size=2)
    # 4, 3 and 3 subjects, 2 at a time, never two studies in one partition
    assert [sorted(set(p.get("DM").frame["STUDYID"])) for p in parts] == [
        ["POOL-A"], ["POOL-A"], ["POOL-B"], ["POOL-B"], ["POOL-C"], ["POOL-C"]
    ]  # fmt: skip
    for name, ds in pool.datasets.items():
        sizes = [len(p.get(name).frame) for p in parts]
        if "USUBJID" in ds.frame.columns:
            assert sum(sizes) == len(ds.frame), name
            keys = pd.concat([p.get(name).frame[[FILE, RECORD]] for p in parts])
            assert not keys.duplicated().any(), name
        else:  # TS, TA, TE, TV, TI: whole in every partition
            assert sizes == [len(ds.frame)] * len(parts), name


def test_a_record_without_usubjid_goes_to_the_first_partition():
    from trialflow.scale import split_package

    vs = pd.DataFrame(
        {"STUDYID": ["A", "A", "B"], "USUBJID": ["A-2", None, "B-1"], "VSSEQ": [1.0, 1.0, 1.0]}
    )
    parts = split_package(Package({"VS": Dataset.from_frame("VS", vs)}), size=1)
    # subjects A-2 and B-1, one a partition; the record with no USUBJID joins A-2's
    assert [p.get("VS").frame[RECORD].tolist() for p in parts] == [[1, 2], [3]]


def test_every_rule_has_a_partition():
    from trialflow.scale import PARTITION, partition_of

    assert set(PARTITION) == set(RULES)
    assert set(PARTITION.values()) == {"subject", "package"}
    assert partition_of("a-rule-registered-later") == "package"
    assert partition_of("subjid-not-unique") == "package"  # compares subjects
    assert partition_of("usubjid-not-in-dm") == "subject"


def test_trialflow_and_its_commands_do_not_import_dask():
    probe = (
        "import sys, trialflow, trialflow.cli, trialflow.pipeline; "
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
