"""README.md keeps its promises: the Quick start is the two commands, the command table sits
between its markers (generated from the CLI), and every file it links to is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# pages generated from the code with the API reference (make docs), not written by hand
GENERATED = {"docs/cli.md", "docs/derivations.md"}


def section(title: str) -> str:
    """The text of a ``## title`` section, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.MULTILINE | re.DOTALL)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def test_quick_start_is_two_commands() -> None:
    blocks = re.findall(r"^```sh\n(.*?)^```$", section("Quick start"), re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1
    commands = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    assert commands == ["make demo", "make test"]


def test_command_table_markers() -> None:
    assert README.count("<!-- commands:start -->\n") == 1
    assert README.count("<!-- commands:end -->\n") == 1
    table = README.split("<!-- commands:start -->\n")[1].split("<!-- commands:end -->")[0]
    assert table.startswith("| command |") and "`trialflow map " in table


def test_linked_files_exist() -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = sorted({link for link in links if "://" not in link})
    assert "docs/tutorial.md" in local and "docs/img/report.png" in local
    missing = [link for link in local if link not in GENERATED and not (ROOT / link).exists()]
    assert missing == []


def test_the_guides_are_linked() -> None:
    for page in ("tutorial", "for-sas-and-r-users", "outputs", "spec", "raw-export", "rules"):
        assert f"(docs/{page}.md)" in README, page
