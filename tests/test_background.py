"""Steps run in a forked child process (trialflow.background) and a run that uses them:
the same files byte for byte as in one process, errors raised in the parent, no child left
behind when the run is killed or refused."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialflow import background
from trialflow.background import Background, BackgroundError, parallel
from trialflow.cli import cli
from trialflow.errors import XptError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SPECS = ROOT / "mappings" / "hucmsc-t2dm"
EXAMPLE_RAW = ROOT / "examples" / "hucmsc-t2dm" / "raw-export.xlsx"

forks = pytest.mark.skipif(not parallel(), reason="needs os.fork and two CPUs")


def _in_child() -> int:
    return os.getpid()


def _fail(message: str) -> None:
    raise XptError(message)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@forks
def test_a_step_runs_in_another_process_and_returns_its_value():
    with Background(_in_child) as step:
        assert step.result() != os.getpid()
    assert Background(sorted, [3, 1, 2]).result() == [1, 2, 3]


@forks
def test_the_childs_exception_is_raised_in_the_parent_with_its_message_and_attributes():
    step = Background(_fail, "AE.AETERM record 3: too long")
    with pytest.raises(XptError, match=r"^AE\.AETERM record 3: too long$"):
        step.result()
    with pytest.raises(XptError):  # asked again: the same error, the child is not rerun
        step.result()


@forks
def test_a_child_killed_by_a_signal_is_an_error_naming_the_signal():
    with pytest.raises(BackgroundError, match=r"the background step _die was killed by signal 9"):
        Background(_die).result()


@forks
def test_cancel_kills_the_child_and_leaving_the_block_by_an_error_cancels_it(tmp_path):
    marker = tmp_path / "late"
    step = Background(_sleep_then_touch, 30, marker)
    pid = step._pid
    step.cancel()
    assert not _alive(pid)
    with pytest.raises(BackgroundError, match="was cancelled"):
        step.result()
    with (
        pytest.raises(RuntimeError, match="parent failed"),
        Background(_sleep_then_touch, 30, marker) as step,
    ):
        pid = step._pid
        raise RuntimeError("parent failed")
    assert not _alive(pid)
    assert not marker.exists()


def _sleep_then_touch(seconds: float, path: Path) -> None:
    time.sleep(seconds)
    path.write_text("written after the parent gave up", encoding="utf-8")


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_trialflow_jobs_1_runs_the_step_in_this_process(monkeypatch):
    monkeypatch.setenv(background.JOBS_VARIABLE, "1")
    assert not parallel()
    step = Background(_in_child)
    assert step._pid is None
    assert step.result() == os.getpid()
    with pytest.raises(XptError, match="bad"):
        Background(_fail, "bad").result()


@forks
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_child_dies_with_its_parent(tmp_path):
    # a parent killed with SIGKILL (as a user's kill -9, or the kill test) takes its step's
    # child with it: nothing goes on writing into the build folder or holding the lock
    script = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from trialflow.background import Background
        step = Background(time.sleep, 60)
        print(step._pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@forks
def test_a_run_on_two_cores_writes_the_same_bytes_as_one_in_one_process(tmp_path, monkeypatch):
    runner = CliRunner()
    args = ["run", str(EXAMPLE_SPECS), "--raw", str(EXAMPLE_RAW), "-q", "--out"]
    assert runner.invoke(cli, [*args, str(tmp_path / "two")]).exit_code in (0, 1)
    monkeypatch.setenv(background.JOBS_VARIABLE, "1")
    assert runner.invoke(cli, [*args, str(tmp_path / "one")]).exit_code in (0, 1)
    two, one = _digests(tmp_path / "two"), _digests(tmp_path / "one")
    assert len(two) > 40
    assert two == one


@forks
def test_adam_refused_while_sdtm_is_being_written_leaves_only_the_report(tmp_path, monkeypatch):
    # an ADaM value XPT can't hold is found while the SDTM writer runs in its child: the
    # writer is stopped and what it wrote removed, so the refused run's folder holds the
    # reports and the manifest only, as in one process
    import trialflow.pipeline as pipeline
    from trialflow.errors import Finding

    real = pipeline.xpt_problems

    def adam_problem(sdtm, adam=None):
        if adam is None:
            return real(sdtm)
        time.sleep(0.5)  # the SDTM writer has begun writing
        return [Finding("xpt-value-too-long", "error", "ADSL.SITEID record 1: seeded",
                        dataset="ADSL", variable="SITEID", record=1)]  # fmt: skip

    monkeypatch.setattr(pipeline, "xpt_problems", adam_problem)
    out = tmp_path / "o"
    args = ["run", str(EXAMPLE_SPECS), "--raw", str(EXAMPLE_RAW), "--out", str(out), "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: 1 value or attribute can't be written")
    assert sorted(_digests(out)) == [
        "manifest.json",
        "validation/report.json",
        "validation/report.xlsx",
    ]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".o.trialflow-")]
    assert leftovers == []


@forks
def test_validation_on_two_cores_gives_the_findings_of_one_in_the_catalogues_order():
    import pandas as pd

    from trialflow.validation.core import Dataset, Package
    from trialflow.validation.engine import validate_package

    dm = pd.DataFrame({"STUDYID": ["S"] * 3, "DOMAIN": ["DM", "DM", "XX"],
                       "USUBJID": ["S-1", "S-1", " S-2"], "SEX": ["M", "Male", None],
                       "RFSTDTC": ["2019-01-32", "2019-01-02", "2019"]})  # fmt: skip
    ae = pd.DataFrame({"STUDYID": ["S"] * 2, "DOMAIN": ["AE"] * 2, "USUBJID": ["S-3", "S-1"],
                       "AESEQ": [1.0, 1.0], "AETERM": ["Fever\t", None],
                       "AESTDTC": ["2019-02-01", "2019-01-01"],
                       "AEENDTC": ["2019-01-01", ""]})  # fmt: skip

    def package() -> Package:
        return Package({n: Dataset.from_frame(n, f) for n, f in (("DM", dm), ("AE", ae))})

    one = validate_package(package(), on_issue="none").findings
    two = validate_package(package(), on_issue="none", jobs=2).findings
    assert len(one) > 10
    assert [f.one_line() for f in two] == [f.one_line() for f in one]


needs_memfd = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux memfd only")


@forks
@needs_memfd
def test_two_processes_claim_every_rule_exactly_once():
    from trialflow.background import Claims

    count = 20_000
    with Claims.of(count) as claims, Background(lambda: list(claims.each(False))) as other:
        front = list(claims.each(True))
        back = other.result()
    assert front[:3] == [0, 1, 2] and back[:3] == [count - 1, count - 2, count - 3]
    assert sorted(front + back) == list(range(count))  # none lost, none run twice
    assert max(front) < min(back)  # the two met once, in the middle of the catalogue


@forks
@needs_memfd
def test_a_child_killed_holding_the_claims_lock_leaves_the_parent_going():
    from trialflow.background import Claims

    with Claims.of(3) as claims:
        pid = os.fork()
        if pid == 0:  # take the lock and die holding it
            with claims._locked():
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(0)
        os.waitpid(pid, 0)
        assert list(claims.each(True)) == [0, 1, 2]  # would wait for ever on a lock kept


@forks
@needs_memfd
def test_a_validation_child_that_dies_leaves_its_rules_to_the_parent(monkeypatch):
    import pandas as pd

    from trialflow.validation import engine
    from trialflow.validation.core import RULES, Dataset, Package, Rule

    parent = os.getpid()

    def dies_in_the_child(package):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return []

    monkeypatch.setitem(
        RULES, "test-dies", Rule("test-dies", "error", "dataset", "", "", (), dies_in_the_child)
    )
    dm = pd.DataFrame({"STUDYID": ["S"] * 2, "DOMAIN": ["DM"] * 2, "USUBJID": ["S-1", "S-1"]})
    package = Package({"DM": Dataset.from_frame("DM", dm)})
    # the child takes rules from the end of the list: the dying one first
    codes = ["required-variable-missing", "key-not-unique", "usubjid-not-in-dm", "test-dies"]
    one = engine.validate_package(package, rules=codes, on_issue="none").findings
    two = engine.validate_package(package, rules=codes, on_issue="none", jobs=2).findings
    assert len(one) >= 2
    assert [f.one_line() for f in two] == [f.one_line() for f in one]


def test_findings_come_back_from_a_child_as_they_were():
    from trialflow.errors import Finding, Source

    sent = [
        Finding("a-code", "error", "text", dataset="LB", variable="LBSTRESU", record=3,
                usubjid="S-1", value="12", refs=("SD0029", "CORE-000001"),
                source=Source("lb.xpt", None, 3, "LBSTRESU")),
        Finding("b-code", "notice", "only a message"),
        Finding("c-code", "warning", "a sheet", source=Source("x.xlsx", "LAB", 7)),
    ]  # fmt: skip
    back = Background(lambda: sent).result()
    assert back == sent and [type(f.source) for f in back] == [Source, type(None), Source]


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_ctrl_c_during_a_fork_is_delivered_after_it_not_lost(monkeypatch):
    # os.fork runs other modules' after-fork hooks (logging's lock release) inside the call:
    # an interrupt raised there is printed as "Exception ignored" and the command runs on
    held = []

    def fake_fork():
        held.append(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
        return 4_242_424  # the parent's side of a fork; no child is made

    monkeypatch.setattr(background.os, "fork", fake_fork)
    assert background.fork(lambda: None) == 4_242_424
    assert held == [True]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    # a SIGINT sent to this thread while it is held runs its handler only after the block
    # (sent to the thread, not the process: the suite's other threads could take it)
    calls: list[str] = []
    previous = signal.signal(signal.SIGINT, lambda *_: calls.append("interrupt"))
    try:
        with background._interrupts_held():
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)
            time.sleep(0.05)
            during = list(calls)
        time.sleep(0.01)
        after = list(calls)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert during == [] and after == ["interrupt"]
