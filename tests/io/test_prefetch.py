"""XPT files parsed by a child process as ``trialflow validate`` starts (io.prefetch): the
package read is the one read without it, the child never imports pandas, and whatever the
child could not do (a file it skipped, changed since, or a child that died) the reader does
itself, with its own checks and findings."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from trialflow import limits
from trialflow.background import Background, Claims, parallel
from trialflow.cli import cli
from trialflow.io import prefetch as prefetch_module
from trialflow.io.package import read_package
from trialflow.io.prefetch import XptPrefetch
from trialflow.io.xpt import XptVariable, write_xpt

forks = pytest.mark.skipif(
    not parallel() or not hasattr(os, "memfd_create"), reason="needs os.fork, memfd, two CPUs"
)


def layout(spec: str) -> list[XptVariable]:
    """Variables from "NAME C8 NAME N8 ...": Char or Num and the length, labelled by name."""
    words = spec.split()
    pairs = zip(words[::2], words[1::2], strict=True)
    kinds = {"C": "Char", "N": "Num"}
    return [XptVariable(n, f"{n} label", kinds[t[0]], int(t[1:])) for n, t in pairs]


def lab(rows: int, rng: np.random.Generator, tests: list[str], subjects: int) -> pd.DataFrame:
    """LB records: STUDYID, DOMAIN, USUBJID, LBTESTCD, LBSTRESN, LBSEQ."""
    return pd.DataFrame(
        {
            "STUDYID": ["S1"] * rows,
            "DOMAIN": ["LB"] * rows,
            "USUBJID": [f"S1-{i % subjects:03d}" for i in range(rows)],
            "LBTESTCD": rng.choice(tests, rows),
            "LBSTRESN": rng.normal(5, 2, rows),
            "LBSEQ": np.arange(1.0, rows + 1),
        }
    )


def write_package(folder: Path, rows: int = 400) -> Path:
    """Three v5 files the fast parse reads (80-byte records: no padding record) and one it
    leaves to pyreadstat (cp1252 text)."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(7)
    lb = lab(rows, rng, ["HCT", "GLUC", ""], 40)
    lb.insert(4, "LBORRES", rng.choice(["0.42", "neegatif", " 5", ""], rows))  # é below
    lb.loc[rng.random(rows) < 0.1, "LBSTRESN"] = np.nan
    # 80 bytes a record; the labels are read back and compared too
    lb_vars = layout(
        "STUDYID C8 DOMAIN C2 USUBJID C30 LBTESTCD C8 LBORRES C16 LBSTRESN N8 LBSEQ N8"
    )
    write_xpt(lb, folder / "lb.xpt", dataset="LB", label="Laboratory", variables=lb_vars)
    for name, n in (("VS", rows // 2), ("AE", 5)):
        frame = lb.head(n).rename(columns={c: c.replace("LB", name) for c in lb.columns})
        frame["DOMAIN"] = name
        variables = [
            XptVariable(v.name.replace("LB", name), v.label, v.type, v.length) for v in lb_vars
        ]
        write_xpt(frame, folder / f"{name.lower()}.xpt", dataset=name, variables=variables)
    for name in ("lb", "vs", "ae"):  # UTF-8 text, which write_xpt (ASCII only) does not write
        path = folder / f"{name}.xpt"
        path.write_bytes(path.read_bytes().replace(b"neegatif", "négatif".encode()))
    dm = pd.DataFrame(
        {"STUDYID": ["S1"], "DOMAIN": ["DM"], "USUBJID": ["S1-000"], "RACE": ["CAFX"]}
    )
    path = write_xpt(dm, folder / "dm.xpt", dataset="DM")
    path.write_bytes(path.read_bytes().replace(b"CAFX", b"CAF\xe9"))  # cp1252 text
    return folder


def assert_same_package(got, want) -> None:
    (package, findings), (expected, expected_findings) = got, want
    assert sorted(package.datasets) == sorted(expected.datasets)
    for name, ds in expected.datasets.items():
        pd.testing.assert_frame_equal(package.get(name).frame, ds.frame, check_exact=True)
        assert package.get(name).files == ds.files
    assert findings == expected_findings


def taken_from_child(monkeypatch) -> list[str]:
    """The files whose columns read_package took from the child."""
    taken: list[str] = []
    parsed = XptPrefetch.parsed

    def spy(self, path):
        result = parsed(self, path)
        if result is not None:
            taken.append(Path(path).name)
        return result

    monkeypatch.setattr(XptPrefetch, "parsed", spy)
    return taken


def wait_for_child(prefetch: XptPrefetch) -> None:
    """Until the child has parsed every file it will (it exits when it has none left)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.waitpid(prefetch._pid, os.WNOHANG) != (0, 0):
            prefetch._pid = None
            return
        time.sleep(0.01)
    raise AssertionError("the prefetch child did not end")


@forks
def test_the_package_is_the_one_read_without_the_child(tmp_path, monkeypatch):
    folder = write_package(tmp_path / "pkg")
    expected = read_package([folder])
    taken = taken_from_child(monkeypatch)
    with XptPrefetch.start([folder]) as prefetch:
        child = prefetch._pid
        wait_for_child(prefetch)
        got = read_package([folder], prefetch=prefetch)
    assert child is not None
    assert sorted(taken) == ["ae.xpt", "lb.xpt", "vs.xpt"]  # dm.xpt is cp1252: pyreadstat's
    assert_same_package(got, expected)
    assert got[0].get("DM").frame["RACE"].tolist() == ["CAFé"]
    assert got[0].get("LB").frame["LBORRES"].isna().sum() > 0  # blanks are missing


def test_parsing_ahead_needs_neither_pandas_nor_pyreadstat(tmp_path):
    # the child is forked before the command imports pandas: what it runs must not import it
    folder = write_package(tmp_path / "pkg")
    code = (
        "import os, pathlib, sys\n"
        "from trialflow.io.prefetch import _parse_into\n"
        f"entry, end = _parse_into(pathlib.Path({str(folder / 'lb.xpt')!r}), "
        "os.memfd_create('t'), 0)\n"
        "assert entry is not None and end > 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'pyreadstat')))\n"
    )
    assert _modules_after(code) == "[]"


def _modules_after(code: str) -> str:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


@forks
def test_a_file_changed_after_the_child_read_it_is_read_again(tmp_path, monkeypatch):
    folder = write_package(tmp_path / "pkg")
    taken = taken_from_child(monkeypatch)
    with XptPrefetch.start([folder]) as prefetch:
        wait_for_child(prefetch)
        frame = pd.DataFrame({"STUDYID": ["S2"], "DOMAIN": ["AE"], "AESEQ": [9.0]})
        write_xpt(frame, folder / "ae.xpt", dataset="AE")
        package, _ = read_package([folder], prefetch=prefetch)
    assert "ae.xpt" not in taken and "lb.xpt" in taken
    assert package.get("AE").frame["STUDYID"].tolist() == ["S2"]


@forks
def test_a_child_that_dies_leaves_its_files_to_the_reader(tmp_path, monkeypatch):
    folder = write_package(tmp_path / "pkg")
    expected = read_package([folder])
    taken = taken_from_child(monkeypatch)
    with XptPrefetch.start([folder]) as prefetch:
        os.kill(prefetch._pid, signal.SIGKILL)
        got = read_package([folder], prefetch=prefetch)
    assert_same_package(got, expected)
    assert taken == []


@forks
def test_a_file_padded_past_the_limit_is_refused_as_before(tmp_path, monkeypatch):
    folder = write_package(tmp_path / "pkg")
    with (folder / "vs.xpt").open("ab") as handle:
        handle.write(b" " * 80 * 40)  # 3,200 blanks: more than padding explains
    taken = taken_from_child(monkeypatch)
    with limits.using(xpt_padding_bytes=80):
        with XptPrefetch.start([folder]) as prefetch:
            wait_for_child(prefetch)
            with pytest.raises(limits.LimitExceeded, match=r"vs\.xpt: the file ends in blanks"):
                read_package([folder], prefetch=prefetch)
        assert "vs.xpt" not in taken


def test_nothing_is_read_ahead_in_one_process(tmp_path, monkeypatch):
    folder = write_package(tmp_path / "pkg")
    monkeypatch.setenv("TRIALFLOW_JOBS", "1")
    with XptPrefetch.start([folder]) as prefetch:
        assert prefetch is None


def test_nothing_is_read_ahead_past_the_size_limit(tmp_path, monkeypatch):
    folder = write_package(tmp_path / "pkg")
    monkeypatch.setattr(prefetch_module, "MAX_BYTES", 1000)
    assert prefetch_module._xpt_files([folder]) == []
    monkeypatch.setattr(prefetch_module, "MAX_BYTES", 10**9)
    files = prefetch_module._xpt_files([folder, folder / "lb.xpt"])
    assert [p.name for p in files] == ["lb.xpt", "vs.xpt", "ae.xpt", "dm.xpt"]  # largest first


@forks
def test_validate_writes_the_same_report_with_and_without_the_child(tmp_path, monkeypatch):
    folder = write_package(tmp_path / "pkg")
    runner = CliRunner()
    reports = []
    for jobs in ("1", "2"):
        monkeypatch.setenv("TRIALFLOW_JOBS", jobs)
        out = tmp_path / f"report-{jobs}.json"
        result = runner.invoke(cli, ["validate", str(folder), "--json", str(out)])
        assert result.exit_code == 1, result.output  # the package has errors
        reports.append(json.loads(out.read_text()))
    assert reports[0] == reports[1]
    assert reports[0]["summary"]["total"] > 0


@forks
def test_the_reader_takes_what_the_child_has_not_started():
    count = 10_000
    with Claims.of(count) as claims, Background(lambda: list(claims.each(True))) as child:
        time.sleep(0.01)
        rest = claims.rest(False)
        started = child.result()
    assert sorted([*started, *rest]) == list(range(count))  # none lost, none twice
    assert started == list(range(len(started))) and rest == range(len(started), count)


def test_the_child_judges_padding_as_the_reader_does(tmp_path):
    import mmap

    from trialflow.io.xpt_v5 import xpt_v5_header
    from trialflow.raw.guard import check_xpt_padding, xpt_layout

    folder = write_package(tmp_path / "pkg")
    path = folder / "vs.xpt"

    def padded() -> bool:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return prefetch_module._padded(m, xpt_v5_header(m))

    def refused() -> bool:
        try:
            check_xpt_padding(path, path.name, *xpt_layout(path))
        except limits.LimitExceeded:
            return True
        return False

    verdicts = []
    with limits.using(xpt_padding_bytes=80):
        for _ in range(5):
            verdicts.append((padded(), refused()))
            with path.open("ab") as handle:
                handle.write(b" " * 80)
    assert [child for child, _ in verdicts] == [reader for _, reader in verdicts]
    assert verdicts[0] == (False, False) and verdicts[-1] == (True, True)


def test_the_codes_handed_to_the_rules_are_pandas_factorisation(tmp_path):
    # LB from two parts: values shared, values in one part only, a column one part lacks;
    # the codes must be what factorising the combined column gives, in each process
    from trialflow.validation.core import _arrow_data, factorized, validating

    folder = write_package(tmp_path / "pkg")
    (folder / "lb.xpt").rename(folder / "lbch.xpt")
    rng = np.random.default_rng(3)
    part = lab(30, rng, ["HCT", "RBC", ""], 50)
    part["LBSPEC"] = rng.choice(["BLOOD", "URINE"], 30)
    variables = layout(
        "STUDYID C8 DOMAIN C2 USUBJID C38 LBTESTCD C8 LBSTRESN N8 LBSEQ N8 LBSPEC C8"
    )
    write_xpt(part, folder / "lbhe.xpt", dataset="LBHE", variables=variables)
    package, _ = read_package([folder])
    lb = package.get("LB")
    assert lb.files == ("lbch.xpt", "lbhe.xpt")
    text = [
        (ds, name)
        for ds in package.datasets.values()
        for name in ds.variables
        if isinstance(ds.frame[name].dtype, pd.StringDtype)
    ]
    known = set(package.facts)
    seeded = [
        (ds.name, name)
        for ds, name in text
        if (id(_arrow_data(ds.frame[name])), "factorized") in known
    ]
    assert ("LB", "LBORRES") in seeded and ("LB", "LBSPEC") in seeded  # in one part only
    assert ("DM", "RACE") not in seeded  # read by pyreadstat: the rules factorise it
    assert len(seeded) == len(text) - 4  # DM's four text columns
    with validating(package):
        for ds, name in text:
            codes, distinct = factorized(ds.frame[name])
            expected_codes, expected = ds.frame[name].factorize()
            assert codes.dtype == expected_codes.dtype and not codes.flags.writeable
            np.testing.assert_array_equal(codes, expected_codes)
            assert distinct.tolist() == list(expected), (ds.name, name)
            assert isinstance(distinct.index, pd.RangeIndex)


@forks
def test_a_file_rewritten_with_its_old_times_is_read_again(tmp_path, monkeypatch):
    # cp -p, rsync -t or an unpacked archive: same size, same modification time, new data
    folder = write_package(tmp_path / "pkg")
    path = folder / "ae.xpt"
    taken = taken_from_child(monkeypatch)
    with XptPrefetch.start([folder]) as prefetch:
        wait_for_child(prefetch)
        before = path.stat()
        data = path.read_bytes().replace(b"S1-000", b"S1-999")
        with path.open("r+b") as handle:
            handle.write(data)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert (path.stat().st_size, path.stat().st_mtime_ns) == (
            before.st_size,
            before.st_mtime_ns,
        )
        package, _ = read_package([folder], prefetch=prefetch)
    assert "ae.xpt" not in taken and "lb.xpt" in taken
    assert "S1-999" in package.get("AE").frame["USUBJID"].tolist()
