"""Output folders are whole or absent, writes stay inside --out, every output has one mode.

Each command builds its output in a new folder beside --out, under a lock, and swaps it in
when complete (trialflow.io.outputs.OutputFolder); ``trialflow verify`` checks a folder
against its manifest. The kill test SIGKILLs ``trialflow run`` at random points over a complete
earlier output and checks after each kill that --out is entirely one run's output.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import EXAMPLE_SPECS, ROOT, tiny_sheets, write_csv_export

from trialflow.cli import cli
from trialflow.io import outputs
from trialflow.io.outputs import (
    BUILD_MARK,
    OLD_MARK,
    OutputFolder,
    OutputLocationError,
    lock_path,
    recover,
    swap_in,
    verify_folder,
)

UMASK = 0o027
"""A umask other than the usual 022, so that modes visibly follow it: files 0640."""


@pytest.fixture
def umask():
    old = os.umask(UMASK)
    yield 0o666 & ~UMASK
    os.umask(old)


def _invoke(*args: object):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "internal error" not in result.output, result.output
    return result


def _run(export: Path, out: Path, command: str = "run"):
    return _invoke(command, EXAMPLE_SPECS, "--raw", export, "--out", out, "-q")


def _tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links not followed): its sha256, or 'link', or 'dir'."""
    found = {}
    for here, dirs, names in os.walk(folder):
        for name in [*dirs, *names]:
            path = Path(here, name)
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[rel] = "link"
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _listed(out: Path) -> set[str]:
    return {e["path"] for e in json.loads((out / "manifest.json").read_text())["files"]}


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Path:
    """A complete `run` output of the two-subject synthetic export, made under umask 027."""
    base = tmp_path_factory.mktemp("earlier")
    export = write_csv_export(base / "raw", tiny_sheets())
    old = os.umask(UMASK)
    try:
        result = _run(export, base / "out")
    finally:
        os.umask(old)
    assert result.exit_code in (0, 1), result.output  # 1: the tiny export's validation errors
    return base / "out"


@pytest.fixture
def out(earlier, tmp_path) -> Path:
    """A copy of the earlier output, in this test's own folder."""
    target = tmp_path / "out"
    shutil.copytree(earlier, target, symlinks=True)
    return target


# --- file modes ------------------------------------------------------------------------------


def test_every_output_file_and_folder_has_the_umask_s_mode(earlier):
    # 0666 & ~027 = 0640 for files, 0777 & ~027 = 0750 for folders: XPT files were 0600
    modes = {}
    for path in [earlier, *earlier.rglob("*")]:
        modes.setdefault(stat.S_IMODE(path.stat().st_mode), []).append(path.name)
    files = {stat.S_IMODE(p.stat().st_mode) for p in earlier.rglob("*") if p.is_file()}
    folders = {stat.S_IMODE(p.stat().st_mode) for p in [earlier, *earlier.rglob("*")] if p.is_dir()}
    assert files == {0o640}, modes
    assert folders == {0o750}, modes
    assert (earlier / "sdtm" / "dm.xpt").is_file() and (earlier / "adam" / "adsl.xpt").is_file()


def test_validate_reports_get_the_umask_s_mode(earlier, tmp_path, umask):
    report = tmp_path / "r.json"
    result = _invoke("validate", earlier / "sdtm", "--json", report, "--xlsx", tmp_path / "r.xlsx")
    assert result.exit_code in (0, 1), result.output
    assert stat.S_IMODE(report.stat().st_mode) == umask == 0o640
    assert stat.S_IMODE((tmp_path / "r.xlsx").stat().st_mode) == 0o640


# --- symbolic links planted in --out ---------------------------------------------------------


def test_links_planted_in_the_output_are_never_written_through(out, tmp_path):
    outside = tmp_path / "outside"
    (outside / "sdtm").mkdir(parents=True)
    victims = {
        "lineage/dm.csv": outside / "dm.csv",
        "manifest.json": outside / "manifest.json",
        "validation/report.json": outside / "report.json",
    }
    for name, target in victims.items():
        target.write_text(f"outside {name}\n")
        (out / name).unlink()
        (out / name).symlink_to(target)
    (outside / "sdtm" / "dm.xpt").write_text("outside sdtm\n")
    shutil.rmtree(out / "sdtm")
    (out / "sdtm").symlink_to(outside / "sdtm", target_is_directory=True)
    before = _tree(outside)

    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    result = _run(export, out)
    assert result.exit_code in (0, 1), result.output
    assert _tree(outside) == before  # nothing outside --out changed
    assert not any(p.is_symlink() for p in [out, *out.rglob("*")])
    assert verify_folder(out).problems == []
    assert (out / "sdtm" / "dm.xpt").read_bytes()[:6] == b"HEADER"


def test_report_refuses_to_copy_a_kept_file_through_a_link(out, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("outside\n")
    (out / "lineage" / "dm.csv").unlink()
    (out / "lineage" / "dm.csv").symlink_to(outside)
    before = _tree(out)
    result = _invoke("report", EXAMPLE_SPECS, "--adam", out / "adam", "--out", out, "-q")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {out / 'lineage' / 'dm.csv'}: lineage/dm.csv is a symbolic link; trialflow "
        "copies no file through one (remove it, or rerun the command that wrote it)"
    )
    assert outside.read_text() == "outside\n"
    assert _tree(out) == before  # the earlier output untouched
    assert [p.name for p in out.parent.iterdir() if BUILD_MARK in p.name] == []


def test_validate_replaces_a_link_at_its_report_path(earlier, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text("outside\n")
    report = tmp_path / "report.json"
    report.symlink_to(outside)
    result = _invoke("validate", earlier / "sdtm", "--json", report)
    assert result.exit_code in (0, 1), result.output
    assert outside.read_text() == "outside\n"
    assert not report.is_symlink() and "findings" in json.loads(report.read_text())


# --- one command's output, whole ------------------------------------------------------------


def test_map_over_an_earlier_run_leaves_no_stale_file(out, tmp_path):
    assert (out / "adam" / "adsl.xpt").is_file() and (out / "analysis").is_dir()
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    result = _run(export, out, "map")
    assert result.exit_code in (0, 1), result.output
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == _listed(out) | {"manifest.json"}
    assert not any(f.startswith(("adam/", "analysis/")) for f in files)
    assert "sdtm/dm.xpt" in files and verify_folder(out).problems == []


def test_a_refused_run_replaces_the_output_with_its_report_only(out, tmp_path):
    # a non-ASCII AE term: XPT v5 can't hold it, the run stops with exit 2 before any dataset
    sheets = tiny_sheets()
    sheets["AE"] = [
        dict(SUBJ="01-001", AE_NO="1", AE_TERM="Fièvre", PT="Pyrexia",
             SOC="General disorders", START_DT="2019-01-09", END_DT="2019-01-10",
             SEVERITY="Mild", SERIOUS="N", RELATED="Related", OUTCOME="Recovered", ACTION="None")
    ]  # fmt: skip
    export = write_csv_export(tmp_path / "raw", sheets)
    result = _run(export, out)
    assert result.exit_code == 2
    report = out / "validation" / "report.json"
    assert f"(each is in {report})" in result.output  # the report where it now is
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "manifest.json",
        "validation/report.json",
        "validation/report.xlsx",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "refused"
    assert verify_folder(out) == (([], 2, "refused"))
    assert _invoke("verify", out).output == (
        f"verify: {out}: whole (2 files match manifest.json; the run was refused: see "
        "validation/report.json)\n"
    )
    codes = {f["code"] for f in json.loads(report.read_text())["findings"]}
    assert "xpt-value-not-ascii" in codes


def test_a_failing_run_leaves_the_earlier_output_untouched(out, tmp_path, monkeypatch):
    import trialflow.pipeline

    before = _tree(out)

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trialflow.pipeline, "write_adam_define", broken)
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    result = CliRunner().invoke(cli, ["run", str(EXAMPLE_SPECS), "--raw", str(export),
                                      "--out", str(out), "-q"])  # fmt: skip
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert _tree(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == [".out.trialflow.lock", "out", "raw"]


def test_an_unrelated_folder_is_never_replaced(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    result = _run(export, mine)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: --out {mine}: the folder holds files and no manifest.json, so it is not an "
        "earlier trialflow output and would be replaced whole; choose a new or empty --out"
    )
    assert (mine / "notes.txt").read_text() == "mine\n"


# --- the lock --------------------------------------------------------------------------------


def test_a_second_run_into_the_same_folder_is_refused(out, tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, b'pid %d, trialflow run' % os.getpid())\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n"
        ), str(lock_path(out))],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _tree(out)
        export = write_csv_export(tmp_path / "raw", tiny_sheets())
        result = _run(export, out)
        assert result.exit_code == 2
        assert result.output.strip() == (
            f"Error: --out {out} is in use by another trialflow run (pid {holder.pid}, trialflow "
            "run); wait for it to finish or choose another --out"
        )
        assert _tree(out) == before
    finally:
        holder.kill()
        holder.wait()


# --- the swap and the recovery of a killed swap ----------------------------------------------


def _folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "a.txt").write_text(text)
    return path


def test_recovery_restores_an_output_moved_aside_by_a_killed_swap(tmp_path):
    # the two-rename swap killed after its first rename: no out, the old one aside, the new
    # one still building; the next run restores the old and removes the new
    _folder(tmp_path / f".out{OLD_MARK}abc", "old")
    _folder(tmp_path / f".out{BUILD_MARK}abc", "new")
    assert recover(tmp_path / "out") == [
        f"restored out from .out{OLD_MARK}abc",
        f"removed .out{BUILD_MARK}abc",
    ]
    assert (tmp_path / "out" / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_recovery_removes_the_old_output_of_a_swap_killed_after_its_second_rename(tmp_path):
    _folder(tmp_path / "out", "new")
    _folder(tmp_path / f".out{OLD_MARK}abc", "old")
    assert recover(tmp_path / "out") == [f"removed .out{OLD_MARK}abc"]
    assert (tmp_path / "out" / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_two_rename_swap_where_no_exchange_is_available(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)
    _folder(tmp_path / "out", "old")
    swap_in(_folder(tmp_path / f".out{BUILD_MARK}abc", "new"), tmp_path / "out")
    assert (tmp_path / "out" / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_exchange_keeps_out_present(tmp_path, monkeypatch):
    seen = []
    real = outputs._exchange

    def exchange(a, b):
        done = real(a, b)
        seen.append((done, (b / "a.txt").read_text()))  # out right after the exchange
        return done

    monkeypatch.setattr(outputs, "_exchange", exchange)
    _folder(tmp_path / "out", "old")
    swap_in(_folder(tmp_path / f".out{BUILD_MARK}abc", "new"), tmp_path / "out")
    if sys.platform.startswith("linux"):
        assert seen == [(True, "new")]
    assert (tmp_path / "out" / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_exception_inside_the_folder_leaves_out_as_it_was(tmp_path):
    _folder(tmp_path / "out", "old")
    (tmp_path / "out" / "manifest.json").write_text('{"files": []}')
    with pytest.raises(RuntimeError), OutputFolder(tmp_path / "out", "test") as folder:
        (folder.path / "a.txt").write_text("half")
        raise RuntimeError("stop")
    assert (tmp_path / "out" / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.trialflow.lock", "out"]


def _manifest(folder: Path, names: list[str], **context: object) -> None:
    files = [
        {"path": n, "sha256": hashlib.sha256((folder / n).read_bytes()).hexdigest()} for n in names
    ]
    (folder / "manifest.json").write_text(json.dumps({"files": files, **context}))


def test_kept_files_are_copied_checked_and_the_rest_left_out(tmp_path):
    out = _folder(tmp_path / "out", "a")
    (out / "analysis").mkdir()
    (out / "analysis" / "t.csv").write_text("t")
    (out / "stray.txt").write_text("not listed")
    _manifest(out, ["a.txt", "analysis/t.csv"])
    with OutputFolder(out, "test", keep=lambda n: not n.startswith("analysis/")) as folder:
        assert [p.relative_to(folder.path).as_posix() for p in folder.kept] == ["a.txt"]
        (folder.path / "b.txt").write_text("b")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    # a kept file changed since its manifest was written: refused, out untouched
    (out / "a.txt").write_text("changed")
    _manifest(out, ["a.txt"])
    (out / "a.txt").write_text("changed again")
    refused = pytest.raises(OutputLocationError, match=r"differs from its sha256")
    with refused, OutputFolder(out, "test", keep=lambda n: True):
        pass
    assert (out / "a.txt").read_text() == "changed again"


def test_nothing_of_a_refused_run_s_folder_is_kept(tmp_path):
    out = tmp_path / "out"
    (out / "validation").mkdir(parents=True)
    (out / "validation" / "report.json").write_text("{}")
    _manifest(out, ["validation/report.json"], status="refused")
    with OutputFolder(out, "test", keep=lambda n: True) as folder:
        assert folder.kept == []
    assert sorted(out.iterdir()) == []


def test_synth_replaces_a_link_at_its_out_path(tmp_path):
    outside = tmp_path / "outside.xlsx"
    outside.write_bytes(b"outside")
    target = tmp_path / "export.xlsx"
    target.symlink_to(outside)
    result = _invoke("synth", "--subjects", 2, "--out", target)
    assert result.exit_code == 0, result.output
    assert outside.read_bytes() == b"outside"
    assert not target.is_symlink() and target.read_bytes()[:2] == b"PK"


# --- verify ----------------------------------------------------------------------------------


def test_verify_says_whole_for_a_run_output(earlier):
    result = _invoke("verify", earlier)
    assert result.exit_code == 0
    n = len(_listed(earlier))
    assert result.output == f"verify: {earlier}: whole ({n} files match manifest.json)\n"


def test_verify_names_a_missing_altered_extra_file_and_a_link(out, tmp_path):
    (out / "sdtm" / "ae.xpt").unlink()
    (out / "sdtm" / "dm.xpt").write_bytes((out / "sdtm" / "dm.xpt").read_bytes()[:-80] + b" " * 80)
    (out / "sdtm" / "old.xpt").write_bytes(b"stale")
    (tmp_path / "elsewhere.csv").write_text("x\n")
    (out / "lineage" / "vs.csv").unlink()
    (out / "lineage" / "vs.csv").symlink_to(tmp_path / "elsewhere.csv")
    result = _invoke("verify", out)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"  lineage/vs.csv: a symbolic link (to {tmp_path / 'elsewhere.csv'})",
        "  sdtm/ae.xpt: missing",
        "  sdtm/dm.xpt: sha256 differs from the manifest's",
        "  sdtm/old.xpt: not in the manifest",
        f"verify: {out}: 4 problems ({len(_listed(out)) - 2} listed files checked)",
    ]


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (None, "no manifest; nothing to verify against"),
        ("{", "not a trialflow manifest (Expecting property name enclosed in double quotes"),
        ('{"files": [{"path": "a"}]}', 'not a trialflow manifest (no "files" list'),
    ],
)
def test_verify_of_an_unusable_folder_exits_2(tmp_path, manifest, problem):
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(manifest)
    result = _invoke("verify", tmp_path)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {tmp_path / 'manifest.json'}: {problem}")


def test_verify_refuses_a_linked_manifest(out, tmp_path):
    shutil.move(out / "manifest.json", tmp_path / "m.json")
    (out / "manifest.json").symlink_to(tmp_path / "m.json")
    with pytest.raises(OutputLocationError, match=r"manifest\.json is a symbolic link"):
        verify_folder(out)


# --- the kill test ---------------------------------------------------------------------------

KILLS = int(os.environ.get("TRIALFLOW_KILLS", "4"))
"""Runs the kill test SIGKILLs at random points (TRIALFLOW_KILLS=60 for a longer soak); each
is also frozen (SIGSTOP) at :data:`PAUSES` earlier points to check the folder, then let go
on. Two more runs are killed when they are seen writing their files, and the moment their
folder is swapped in (while the old one is removed)."""

PAUSES = 2

_CLI = "import sys; from trialflow.cli import main; sys.argv[0] = 'trialflow'; main()"


def _command(*args: object) -> list[str]:
    return [sys.executable, "-c", _CLI, *(str(a) for a in args)]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _whole(out: Path, old_manifest: bytes, where: object) -> str:
    """'old' or 'new': ``out`` verifies against its manifest, which is the earlier run's or
    the new run's (of new.xlsx); anything else fails the test."""
    check = verify_folder(out)
    assert check.problems == [], (where, check.problems)
    if (out / "manifest.json").read_bytes() == old_manifest:
        return "old"
    assert json.loads((out / "manifest.json").read_text())["raw_export"] == "new.xlsx", where
    return "new"


def test_a_run_killed_at_any_point_leaves_one_whole_output(tmp_path):
    env = _environment()
    old_raw, new_raw = tmp_path / "old.xlsx", tmp_path / "new.xlsx"
    for raw, seed in ((old_raw, 1), (new_raw, 2)):
        subprocess.run(_command("synth", "--subjects", 6, "--seed", seed, "--out", raw),
                       env=env, check=True, capture_output=True)  # fmt: skip
    reference = tmp_path / "reference"
    started = time.monotonic()
    subprocess.run(_command("run", EXAMPLE_SPECS, "--raw", old_raw, "--out", reference, "-q"),
                   env=env, check=True, capture_output=True)  # fmt: skip
    duration = time.monotonic() - started
    old_manifest = (reference / "manifest.json").read_bytes()
    assert verify_folder(reference).problems == []

    work = tmp_path / "work"  # --out and, beside it, only what trialflow puts there
    work.mkdir()
    out = work / "out"
    rng = random.Random(15)
    # one kill in each of KILLS equal slices of the run's time, one while writing, one at the swap
    kills = [(i + rng.random()) / KILLS * duration for i in range(KILLS)] + ["writing", "swap"]
    outcomes = []
    for kill_at in kills:
        if not out.exists() or (out / "manifest.json").read_bytes() != old_manifest:
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(reference, out)
        run = subprocess.Popen(
            _command("run", EXAMPLE_SPECS, "--raw", new_raw, "--out", out, "-q"),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        began, phase = time.monotonic(), None
        if kill_at == "writing":  # the first file in the building folder
            while run.poll() is None and not any(
                p.is_file() for b in work.glob(f"*{BUILD_MARK}*") for p in b.rglob("*")
            ):
                time.sleep(0.01)
            run.kill()
            code = run.wait()
            written = sum(1 for b in work.glob(f"*{BUILD_MARK}*") for p in b.rglob("*"))
            phase = f"writing ({written} files and folders)"
            phase += "" if code == -signal.SIGKILL else f" (ended first, exit {code})"
            kill_at = time.monotonic() - began
            points = []
        elif kill_at == "swap":  # out's manifest is the new one, the old folder is removed
            while run.poll() is None and (out / "manifest.json").read_bytes() == old_manifest:
                time.sleep(0.002)
            run.kill()
            code = run.wait()
            gone = [p for p in work.iterdir() if BUILD_MARK in p.name]
            phase = "at the swap" + (", the old folder half removed" if gone else "")
            phase += "" if code == -signal.SIGKILL else f" (ended first, exit {code})"
            kill_at = time.monotonic() - began
            points = []
        else:
            points = [*sorted(rng.uniform(0, kill_at) for _ in range(PAUSES)), kill_at]
        for n, at in enumerate(points, 1):
            try:
                run.wait(timeout=max(0.0, began + at - time.monotonic()))
            except subprocess.TimeoutExpired:
                run.send_signal(signal.SIGSTOP)  # frozen: the disk as a kill now leaves it
                building = [p for p in work.iterdir() if BUILD_MARK in p.name]
                written = sum(1 for b in building for p in b.rglob("*") if p.is_file())
                phase = f"writing ({written} files)" if written else "reading and mapping"
                if n < len(points):
                    outcomes.append((round(at, 1), "paused", phase, _whole(out, old_manifest, at)))
                    run.send_signal(signal.SIGCONT)
                    continue
                run.kill()
                run.wait()
            else:
                phase = f"finished (exit {run.returncode})"
            break
        # what a kill leaves beside --out: only building folders, which the next run removes
        beside = {p.name for p in work.iterdir()}
        assert {n for n in beside if BUILD_MARK not in n} <= {"out", ".out.trialflow.lock"}
        recover(out)
        assert {p.name for p in work.iterdir()} - {".out.trialflow.lock"} == {"out"}, phase
        outcomes.append((round(kill_at, 1), "killed", phase, _whole(out, old_manifest, kill_at)))
    print(f"run time {duration:.1f} s", *outcomes, sep="\n")  # shown with pytest -s
    killed = [o for o in outcomes if o[1] == "killed"]
    assert any(o[3] == "old" for o in killed), outcomes
    assert killed[-2][2].startswith("writing") and killed[-2][3] == "old", outcomes
    assert killed[-1][2].startswith("at the swap") and killed[-1][3] == "new", outcomes
