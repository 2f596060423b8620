"""The console entry point (``trialflow`` and ``python -m trialflow``) ends the process at
once when the command is done: the exit code, every line printed and the atexit functions
are those a normal end of Python gives."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

from trialflow.io.xpt import write_xpt

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    command = (
        [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "trialflow", *args]
    )
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def test_exit_codes_are_the_commands(tmp_path):
    assert _run("--version").returncode == 0
    done = _run("validate", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert "missing" in done.stderr and "Traceback" not in done.stderr
    assert _run("no-such-command").returncode == 2


def test_a_package_with_errors_exits_1_with_every_line_printed_and_the_report_written(tmp_path):
    dm = pd.DataFrame({"STUDYID": ["S"] * 3, "DOMAIN": ["DM"] * 3,
                       "USUBJID": ["S-1", "S-1", "S-2"], "SEX": ["M", "Q", "F"]})  # fmt: skip
    write_xpt(dm, tmp_path / "dm.xpt", dataset="DM")
    report = tmp_path / "report.json"
    done = _run("validate", str(tmp_path), "--json", str(report), "--show", "1000")
    assert done.returncode == 1, done.stderr
    # the last line of the summary is printed (flushed before the process ends) ...
    assert done.stdout.rstrip().splitlines()[-1].startswith("  json report: ")
    # ... and the report is whole
    assert report.read_text(encoding="utf-8").rstrip().endswith("}")


def test_atexit_functions_run_and_sys_exit_messages_are_printed():
    probe = textwrap.dedent(
        """
        import atexit, sys
        import click
        from trialflow import cli
        atexit.register(lambda: print("atexit ran", flush=True))

        @cli.cli.command("probe-exit")
        def probe_exit():
            sys.exit("stopped: a message")

        sys.argv = ["trialflow", *sys.argv[1:]]
        cli.main()
        """
    )
    done = _run("--version", code=probe)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "atexit ran"
    done = _run("probe-exit", code=probe)
    assert done.returncode == 1
    assert done.stderr.strip() == "stopped: a message"
    assert done.stdout.strip() == "atexit ran"


def test_validate_runs_without_the_cycle_collector_and_turns_it_back_on(tmp_path, monkeypatch):
    import gc

    from click.testing import CliRunner

    import trialflow.io.validate as validate_module
    from trialflow.cli import cli

    seen = []
    real = validate_module.validate_paths

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(validate_module, "validate_paths", spy)
    dm = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-1"]})
    write_xpt(dm, tmp_path / "dm.xpt", dataset="DM")
    assert gc.isenabled()
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code in (0, 1), result.output
    assert seen == [False]  # off while validating ...
    assert gc.isenabled()  # ... and on again for whoever called the command
