"""docs/tutorial.md runs: its commands and files are taken from the page's code blocks and run in
an empty folder in the order they appear, so the page cannot drift from what trialflow does.

The page marks what a block is with an HTML comment on the line before it (invisible when the
page is rendered):

- ``<!-- file: PATH -->``: the block is the whole content of PATH;
- ``<!-- append: PATH -->``: the block is added to the end of PATH;
- ``<!-- patch: PATH -->``: a ``diff`` block; each ``-`` line must be in PATH exactly once and is
  replaced by the ``+`` lines after it;
- ``<!-- exit: N -->``: the ``sh`` block after it exits with N (without a mark: 0);
- ``<!-- output -->``: every line of the ``text`` block is a line the last command printed.

A ``sh`` block without a mark is a command to run; every other code block must carry a mark.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(
    r"(?:<!--\s*(?P<mark>[a-z]+)(?::\s*(?P<arg>[^>]*?))?\s*-->\n)?"
    r"```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
TIMEOUT = 300  # seconds per command


@dataclass(frozen=True)
class Block:
    """One code block of the page: its mark (or None), the mark's argument, language, text."""

    mark: str | None
    arg: str | None
    lang: str
    body: str


def blocks(text: str) -> list[Block]:
    """The code blocks of a markdown text, in order, each with the mark on the line before it."""
    return [
        Block(m.group("mark"), m.group("arg"), m.group("lang"), m.group("body"))
        for m in BLOCK.finditer(text)
    ]


def apply_patch(path: Path, diff: str) -> None:
    """Replace each ``-`` line of ``diff`` in ``path`` by the ``+`` lines after it."""
    text = path.read_text()
    pairs: list[tuple[str, list[str]]] = []
    for line in diff.splitlines():
        if line.startswith("-"):
            pairs.append((line[1:], []))
        elif line.startswith("+"):
            assert pairs, f"a + line before any - line in the patch of {path.name}"
            pairs[-1][1].append(line[1:])
    assert pairs, f"the patch of {path.name} changes nothing"
    for old, new in pairs:
        assert text.count(old + "\n") == 1, f"{old!r} is not once in {path.name}"
        text = text.replace(old + "\n", "".join(n + "\n" for n in new))
    path.write_text(text)


def shims(folder: Path) -> Path:
    """A folder with ``trialflow`` and ``python`` commands running this interpreter."""
    folder.mkdir()
    commands = {
        "trialflow": f'exec "{sys.executable}" -c '
        '\'import sys; sys.argv[0] = "trialflow"; from trialflow.cli import cli; cli()\' "$@"',
        "python": f'exec "{sys.executable}" "$@"',
    }
    for name, line in commands.items():
        script = folder / name
        script.write_text(f"#!/bin/sh\n{line}\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_every_code_block_is_run_or_written() -> None:
    """No block is only for show: each is a command, a file, a patch or an output checked."""
    found = blocks(PAGE.read_text())
    assert len(found) > 10
    for block in found:
        if block.mark is None:
            assert block.lang == "sh", f"a {block.lang or 'plain'} block has no mark:\n{block.body}"
        else:
            assert block.mark in {"file", "append", "patch", "exit", "output"}, block.mark
            if block.mark == "output":
                assert block.lang == "text"
            if block.mark == "exit":
                assert block.lang == "sh"


def test_the_tutorial_runs(tmp_path: Path) -> None:
    """Every command of the page exits as the page says and prints the lines it shows."""
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ)
    env["PATH"] = f"{shims(tmp_path / 'bin')}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("SOURCE_DATE_EPOCH", None)
    last: subprocess.CompletedProcess[str] | None = None
    ran = 0
    for block in blocks(PAGE.read_text()):
        if block.mark in ("file", "append", "patch"):
            assert block.arg, f"{block.mark} needs a path"
            path = work / block.arg
            path.parent.mkdir(parents=True, exist_ok=True)
            if block.mark == "file":
                path.write_text(block.body)
            elif block.mark == "append":
                with path.open("a") as handle:
                    handle.write(block.body)
            else:
                apply_patch(path, block.body)
        elif block.lang == "sh" and block.mark in (None, "exit"):
            expected = int(block.arg) if block.mark == "exit" else 0
            last = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.body],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
            ran += 1
            assert last.returncode == expected, (
                f"{block.body!r} exited {last.returncode}, the page says {expected}:\n"
                f"{last.stdout[-3000:]}\n{last.stderr[-3000:]}"
            )
        elif block.mark == "output":
            assert last is not None, "an output block before any command"
            printed = (last.stdout + last.stderr).splitlines()
            for line in block.body.splitlines():
                if line.strip():
                    assert line in printed, f"{line!r} not printed by the command:\n{last.stdout}"
    assert ran >= 6
    # where the tutorial ends: the study's own XPT files and report
    for name in (
        "sdtm/dm.xpt",
        "sdtm/lb.xpt",
        "adam/adsl.xpt",
        "adam/adlb.xpt",
        "analysis/report.html",
        "manifest.json",
    ):
        assert (work / "out" / name).is_file(), name


@pytest.mark.parametrize(
    ("diff", "before", "after"),
    [
        ("-a: 1\n+a: 2\n", "x\na: 1\ny\n", "x\na: 2\ny\n"),
        ("-a: 1\n+a: 2\n+b: 3\n", "a: 1\n", "a: 2\nb: 3\n"),
    ],
)
def test_apply_patch(tmp_path: Path, diff: str, before: str, after: str) -> None:
    """The harness's patch: a - line replaced by the + lines after it."""
    path = tmp_path / "f.yaml"
    path.write_text(before)
    apply_patch(path, diff)
    assert path.read_text() == after


def test_blocks_read_marks() -> None:
    """The harness reads a mark with and without an argument, and a block without one."""
    text = "<!-- file: a/b.yaml -->\n```yaml\nk: v\n```\n\n```sh\necho hi\n```\n"
    assert blocks(text) == [
        Block("file", "a/b.yaml", "yaml", "k: v\n"),
        Block(None, None, "sh", "echo hi\n"),
    ]
