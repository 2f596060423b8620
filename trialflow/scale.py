"""Pooled packages on dask.distributed: the per-study pipeline and validation as Dask tasks.

trialflow itself runs in one process; this module runs the same functions on an existing
distributed engine (docs/scaling.md says which stage parallelises how):

* :func:`run_studies`: one Dask task per study for the per-study pipeline
  (:func:`trialflow.pipeline.run_study`: map, validate, derive, analyse, write).
* :func:`pool_packages`: the SDTM and ADaM datasets of several studies, one after another, as
  one pooled :class:`~trialflow.validation.core.Package` (each record keeps the file and row it
  was read from, as :func:`~trialflow.io.package.read_package` does for a split dataset).
* :func:`validate_distributed`: a pooled package validated by Dask tasks: the subject-level
  rules on partitions of whole subjects, the study-level rules on one partition per study, the
  rules that need every record on the whole package; the findings merged in the order of
  :func:`finding_key`, the same findings as :func:`~trialflow.validation.engine.validate_package`
  gives on the whole package.
* :func:`build_pool`: a pool of synthetic studies (``trialflow synth`` exports of different
  seeds, each mapped with a copy of the example specs whose study.yaml names its own STUDYID).

Only this module imports dask (the ``dask`` extra); no command of the CLI imports it.

Example:
    >>> from distributed import Client, LocalCluster
    >>> def dm(studyid, subjects):
    ...     frame = pd.DataFrame({"STUDYID": studyid, "DOMAIN": "DM", "USUBJID": subjects})
    ...     return Package({"DM": Dataset.from_frame("DM", frame)})
    >>> pool = pool_packages([dm("A", ["A-1", "A-2"]), dm("B", ["B-1"])])
    >>> with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
    ...                   dashboard_address=None) as cluster, Client(cluster) as c:
    ...     report = validate_distributed(pool, c, on_issue="none")
    >>> report.findings == sorted(validate_package(pool, on_issue="none").findings,
    ...                           key=finding_key)
    True
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

from trialflow.errors import Finding, OnIssue, emit
from trialflow.validation.core import FILE, RECORD, RULES, Dataset, Package, ValidationReport
from trialflow.validation.engine import validate_package

__all__ = [
    "PARTITION",
    "Partition",
    "build_pool",
    "finding_key",
    "map_synthetic_study",
    "partition_of",
    "pool_packages",
    "run_studies",
    "split_package",
    "validate_distributed",
]

Partition = Literal["subject", "package"]

# Where each rule module's rules run, by what they look at: the records of one subject (with
# the datasets that have no USUBJID, TS, TA, TE, TV, TI, beside them) or the whole package.
# A module not named here, and a rule registered later, runs on the whole package: always right.
_MODULES: dict[str, Partition] = {
    "schema": "subject",  # values against codelists and types, keys that include USUBJID
    "text": "subject",
    "dm": "subject",
    "events": "subject",
    "findings": "subject",
    "timing": "subject",
    "supp": "subject",
    "adam": "subject",
    "adsl": "subject",
    "bds": "subject",
    "occds": "subject",
    "trial_design": "package",  # one study's design: on a pool, every study's rows together
    "ts": "package",
    "structure": "package",  # sort order, variable presence and order over every record
    "define": "package",  # define.xml against each whole dataset
    "files": "package",  # the files read: names, sizes, members
    "xpt": "package",  # declared lengths against the longest value of the dataset
    "dictionary": "package",  # a code populated on other records of the term
}

# Rules of a subject-level module that compare records of different subjects: a code or name
# used with one meaning across the dataset, a unit other records of the test carry, a value
# constant over the dataset (found by running each rule on subject partitions and on the whole
# package of a pool with seeded faults: tests/test_scale.py).
_OVERRIDES: dict[str, Partition] = {
    code: "package"
    for code in (
        "subjid-not-unique",
        "arm-armcd-not-one-to-one",
        "actarm-actarmcd-not-one-to-one",
        "treatment-code-not-one-to-one",
        "param-paramcd-not-one-to-one",
        "aval-avalc-not-one-to-one",
        "visit-code-not-one-to-one",
        "numeric-code-not-one-to-one",
        "param-attribute-not-constant",
        "testcd-test-not-one-to-one",
        "stresu-multiple-per-test",
        "orresu-missing",
        "stresu-missing",
        "supp-qlabel-not-one-to-one",
    )
}


def partition_of(code: str) -> Partition:
    """Where rule ``code`` runs in :func:`validate_distributed`: on partitions of whole
    subjects, or on the whole package.

    Example:
        >>> partition_of("ct-value-not-in-codelist"), partition_of("no-such-rule")
        ('subject', 'package')
    """
    if code in _OVERRIDES:
        return _OVERRIDES[code]
    r = RULES.get(code)
    if r is None or r.run is None:
        return "package"
    return _MODULES.get(r.run.__module__.rsplit(".", 1)[-1], "package")


PARTITION: Mapping[str, Partition] = {code: partition_of(code) for code in RULES}
"""Every rule of the catalogue by the partition it runs on (see :func:`partition_of`)."""


def finding_key(finding: Finding) -> tuple:
    """A total, deterministic sort key: the rule's catalogue order, then where, then the rest.

    Example:
        >>> a = Finding("dm-one-record-per-subject", "error", "twice", dataset="DM", record=2)
        >>> b = Finding("dm-one-record-per-subject", "error", "twice", dataset="DM", record=10)
        >>> sorted([b, a], key=finding_key) == [a, b]
        True
    """
    order = _ORDER.get(finding.code, len(_ORDER))
    rest = json.dumps(finding.to_dict(), sort_keys=True, default=str)
    return (order, finding.code, finding.dataset or "", finding.record or 0, rest)


_ORDER = {code: i for i, code in enumerate(RULES)}


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as text, '' where missing (also when the column is absent)."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="str")
    return frame[column].astype("str").fillna("")


def split_package(package: Package, size: int = 50) -> list[Package]:
    """The package cut into partitions of whole subjects, each record in exactly one of them
    except the records of a dataset without USUBJID.

    Subjects (USUBJID values) are ordered by the first STUDYID they carry, then by USUBJID, and
    taken ``size`` at a time; a partition never holds subjects of two studies. A record with no
    USUBJID goes into the first partition; a dataset without USUBJID (TS, TA, TE, TV, TI) goes
    whole into every partition, as the subject-level rules compare with them. Records keep
    their row (:data:`RECORD`) and file (:data:`FILE`).

    Example:
        >>> dm = Dataset.from_frame("DM", pd.DataFrame({"STUDYID": ["A", "A", "B"],
        ...                                             "USUBJID": ["A-1", "A-2", "B-1"]}))
        >>> parts = split_package(Package({"DM": dm}), size=2)
        >>> [p.get("DM").frame["USUBJID"].tolist() for p in parts]
        [['A-1', 'A-2'], ['B-1']]
    """
    subjects: dict[str, pd.Series] = {}
    firsts = []
    for name, ds in package.datasets.items():
        if "USUBJID" in ds.frame.columns:
            subjects[name] = _text(ds.frame, "USUBJID")
            firsts.append(pd.DataFrame({"u": subjects[name], "s": _text(ds.frame, "STUDYID")}))
    pairs = pd.concat(firsts, ignore_index=True) if firsts else pd.DataFrame({"u": [], "s": []})
    pairs = pairs[pairs["u"] != ""].drop_duplicates("u").sort_values(["s", "u"])
    # partitions: per study, ``size`` subjects at a time
    chunk = pairs.groupby("s", sort=False).cumcount().to_numpy() // max(size, 1)
    keys = pd.DataFrame({"s": pairs["s"].to_numpy(), "c": chunk})
    ids = keys.groupby(["s", "c"], sort=False).ngroup().to_numpy()
    count = int(ids.max()) + 1 if len(ids) else 1
    chunks = [pairs["u"].to_numpy()[ids == i].tolist() for i in range(count)]
    parts = []
    for i, chunk in enumerate(chunks):
        members = frozenset(chunk)
        datasets = {}
        for name, ds in package.datasets.items():
            if name not in subjects:
                datasets[name] = ds
                continue
            u = subjects[name]
            keep = u.isin(members) | ((u == "") & (i == 0))
            frame = ds.frame[keep.to_numpy()].reset_index(drop=True)
            datasets[name] = dataclasses.replace(ds, frame=frame)
        parts.append(dataclasses.replace(package, datasets=datasets, cache={}))
    return parts


def _validate_part(package: Package, codes: Sequence[str]) -> list[Finding]:
    """The findings of the rules ``codes`` on one partition (a Dask task)."""
    return validate_package(package, rules=codes, on_issue="none").findings


def _shared(finding: Finding, package: Package) -> bool:
    """True when the record a finding names may be in several subject partitions: a finding
    of no record, or of a dataset without USUBJID."""
    ds = package.get(finding.dataset or "")
    return finding.record is None or ds is None or "USUBJID" not in ds.frame.columns


def validate_distributed(
    package: Package,
    client: object,
    *,
    rules: Iterable[str] | None = None,
    subjects_per_task: int = 1000,
    package_tasks: int = 2,
    on_issue: OnIssue = "warn",
) -> ValidationReport:
    """Validate a (pooled) package with Dask tasks on ``client`` (a ``distributed.Client``).

    The subject-level rules (:func:`partition_of`) run as one task per partition of
    ``subjects_per_task`` subjects (:func:`split_package`); the other rules run on the whole
    package, scattered once, shared out over ``package_tasks`` tasks. A finding that the
    subject partitions may all report (one about a record of a dataset without USUBJID, or of
    no record) is kept as many times as the partition that reports it most often. The findings
    come sorted by :func:`finding_key`: ``sorted(validate_package(package).findings,
    key=finding_key)`` is the same list.

    Example:
        >>> from distributed import Client
        >>> from trialflow.validation.engine import validate_package
        >>> dm = pd.DataFrame({"STUDYID": ["A", "A"], "DOMAIN": ["DM", "DM"],
        ...                    "USUBJID": ["A-1", "A-1"]})  # one subject twice
        >>> pool = Package({"DM": Dataset.from_frame("DM", dm)})
        >>> with Client(processes=False, dashboard_address=None) as client:
        ...     report = validate_distributed(pool, client, on_issue="none")
        >>> whole = validate_package(pool, on_issue="none")
        >>> report.findings == sorted(whole.findings, key=finding_key), len(report.findings) > 0
        (True, True)
    """
    chosen = list(rules) if rules is not None else list(RULES)
    subject = [c for c in chosen if partition_of(c) == "subject"]
    whole = [c for c in chosen if partition_of(c) == "package"]
    submit, scatter = client.submit, client.scatter  # type: ignore[attr-defined]
    futures = []  # (shared between partitions?, future)
    # hash=False: a fresh key per call, so that a package scattered again by the next call
    # is never the key an earlier call's tasks are releasing
    if whole:
        remote = scatter(package, hash=False)
        tasks = max(1, min(package_tasks, len(whole)))
        for i in range(tasks):
            futures.append((False, submit(_validate_part, remote, whole[i::tasks], pure=False)))
    if subject:
        for part in split_package(package, size=subjects_per_task):
            remote = scatter(part, hash=False)
            futures.append((True, submit(_validate_part, remote, subject, pure=False)))
    results = client.gather([f for _, f in futures])  # type: ignore[attr-defined]
    findings: list[Finding] = []
    shared: dict[Finding, int] = {}
    for (partitioned, _), found in zip(futures, results, strict=True):
        if not partitioned:
            findings += found
            continue
        counts = Counter(f for f in found if _shared(f, package))
        for f, n in counts.items():
            shared[f] = max(shared.get(f, 0), n)
        findings += [f for f in found if not _shared(f, package)]
    for f, n in shared.items():
        findings += [f] * n
    findings.sort(key=finding_key)
    sizes = {name: len(ds.frame) for name, ds in package.datasets.items()}
    return ValidationReport(emit(findings, on_issue), sizes, len(chosen))


def _pooled(name: str, members: Sequence[Dataset]) -> Dataset:
    """The datasets called ``name`` of several studies as one: records one after another,
    each keeping its row and file; a variable numeric in all of them stays numeric, otherwise
    it is text (as :func:`trialflow.io.package.read_package` combines a split dataset)."""
    frames = [m.frame for m in members]
    combined = pd.concat(frames, ignore_index=True, sort=False)
    columns: dict[str, pd.Series] = {}
    for variable in dict.fromkeys(c for f in frames for c in f.columns):
        if variable == RECORD:
            columns[variable] = combined[variable].astype("int64")
            continue
        numeric = [pd.api.types.is_float_dtype(f[variable].dtype) for f in frames if variable in f]
        if all(numeric):
            columns[variable] = combined[variable].astype("float64")
        else:
            text = combined[variable].astype("str")
            columns[variable] = text.where(text != "") if variable != FILE else text
    labels: dict[str, str] = {}
    lengths: dict[str, int] = {}
    for m in members:
        for variable, text in m.labels.items():
            labels.setdefault(variable, text)
        for variable, length in m.lengths.items():
            lengths[variable] = max(length, lengths.get(variable, 0))
    first = members[0]
    return dataclasses.replace(
        first,
        frame=pd.DataFrame(columns, index=combined.index),
        label=next((m.label for m in members if m.label), ""),
        labels=labels,
        lengths=lengths,
        files=tuple(f for m in members for f in m.files),
        sizes=tuple(s for m in members for s in m.sizes),
        members=tuple(s for m in members for s in m.members),
    )


def pool_packages(packages: Sequence[Package]) -> Package:
    """The packages of several studies as one pooled package, dataset by dataset.

    Example:
        >>> a = Package({"DM": Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["A-1"]}))})
        >>> b = Package({"DM": Dataset.from_frame("DM", pd.DataFrame({"USUBJID": ["B-1"]}))})
        >>> pool_packages([a, b]).get("DM").frame["USUBJID"].tolist()
        ['A-1', 'B-1']
    """
    names = list(dict.fromkeys(n for p in packages for n in p.datasets))
    return Package(
        {n: _pooled(n, [p.datasets[n] for p in packages if n in p.datasets]) for n in names}
    )


def _study_specs(study_dir: Path, studyid: str, out: Path) -> Path:
    """A copy of the spec folder ``study_dir`` in ``out`` whose study.yaml names ``studyid``."""
    shutil.copytree(study_dir, out, dirs_exist_ok=True)
    path = out / "study.yaml"
    text, n = re.subn(
        r"^(\s+studyid:\s*).*$", lambda m: m.group(1) + studyid, path.read_text(), count=1,
        flags=re.MULTILINE,
    )  # fmt: skip
    if n != 1:
        raise ValueError(f"{path}: no study.studyid line to set")
    path.write_text(text)
    return out


def map_synthetic_study(
    folder: str | Path, studyid: str, subjects: int, seed: int, study_dir: str | Path
) -> Package:
    """One study of a pool (a Dask task of :func:`build_pool`): a synthetic export of
    ``subjects`` subjects from ``seed`` (FOLDER/raw-export.xlsx, as ``trialflow synth`` writes
    it), a copy of the specs in ``study_dir`` whose study.yaml names ``studyid``
    (FOLDER/specs/), mapped to SDTM and derived to ADaM; the datasets as a package whose files
    are named STUDYID/sdtm/<name>.xpt and STUDYID/adam/<name>.xpt.

    Example:
        >>> import tempfile
        >>> from trialflow.pipeline import example_paths
        >>> folder = Path(tempfile.mkdtemp()) / "A"
        >>> pkg = map_synthetic_study(folder, "POOL-A", 2, 1, example_paths()[0])
        >>> pkg.get("DM").frame["STUDYID"].unique().tolist(), len(pkg.get("DM").frame)
        (['POOL-A'], 2)
    """
    from trialflow.adam.build import build_adam
    from trialflow.io.layouts import write_layout
    from trialflow.mapping.load import load_study
    from trialflow.pipeline import adam_package, sdtm_package
    from trialflow.raw import read_export
    from trialflow.sdtm.build import build_sdtm
    from trialflow.synth import synthesize

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    specs = _study_specs(Path(study_dir), studyid, root / "specs")
    raw = root / "raw-export.xlsx"
    write_layout(synthesize(subjects=subjects, seed=seed), raw, "workbook")
    study = load_study(specs)
    sdtm = build_sdtm(study, read_export(raw), on_issue="none")
    datasets = dict(sdtm_package(sdtm).datasets)
    if study.spec.adam is not None:
        derived = build_adam(
            study.spec, sdtm.domains, sdtm_lineage=sdtm.lineage, on_issue="none",
            locate=study.locate,
        )  # fmt: skip
        datasets.update(adam_package(derived).datasets)
    for name, ds in datasets.items():
        frame = ds.frame.assign(**{FILE: f"{studyid}/" + ds.frame[FILE]})
        files = tuple(f"{studyid}/{f}" for f in (ds.files or (str(ds.frame[FILE].iloc[0]),)))
        datasets[name] = dataclasses.replace(ds, frame=frame, files=files)
    return Package(datasets)


def _run_one(study_dir: str, raw: str, out: str) -> str:
    """``trialflow run`` of one study (a Dask task); its out folder."""
    from trialflow.pipeline import run_study

    run_study(study_dir, raw, out, on_issue="none")
    return out


def run_studies(studies: Sequence[tuple[str, str, str]], client: object | None = None) -> list[str]:
    """``trialflow run`` of each (spec folder, raw export, out folder), one Dask task per study
    when a client is given (else one after another); the out folders, in the order given.

    Example:
        >>> import tempfile
        >>> from trialflow.pipeline import example_paths
        >>> spec, raw = example_paths()
        >>> out = Path(tempfile.mkdtemp()) / "a"
        >>> run_studies([(str(spec), str(raw), str(out))]) == [str(out)]  # no client: in turn
        True
        >>> (out / "adam" / "adsl.xpt").is_file()
        True
    """
    if client is None:
        return [_run_one(*s) for s in studies]
    futures = [client.submit(_run_one, *s, pure=False) for s in studies]  # type: ignore[attr-defined]
    return list(client.gather(futures))  # type: ignore[attr-defined]


def build_pool(
    folder: str | Path,
    studies: Sequence[tuple[str, int, int]],
    *,
    client: object | None = None,
    study_dir: str | Path | None = None,
) -> Package:
    """A pooled package of synthetic studies: each (STUDYID, subjects, seed) is synthesised,
    mapped and derived (:func:`map_synthetic_study`, in FOLDER/<STUDYID>/), one Dask task per
    study when a client is given, and the studies' datasets are pooled (:func:`pool_packages`).
    ``study_dir`` is the spec folder copied for each study (the bundled example's by default).

    Example:
        >>> import tempfile
        >>> pool = build_pool(Path(tempfile.mkdtemp()), [("POOL-A", 2, 1)])
        >>> pool.get("DM").frame["STUDYID"].tolist()
        ['POOL-A', 'POOL-A']
    """
    from trialflow.pipeline import example_paths

    specs = str(study_dir or example_paths()[0])
    args = [(str(Path(folder) / sid), sid, n, seed, specs) for sid, n, seed in studies]
    if client is None:
        return pool_packages([map_synthetic_study(*a) for a in args])
    futures = [client.submit(map_synthetic_study, *a, pure=False) for a in args]  # type: ignore[attr-defined]
    return pool_packages(list(client.gather(futures)))  # type: ignore[attr-defined]
