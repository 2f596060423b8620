"""The references generated from the code (issue 18, section 2) and the documentation site.

docs/generate.py writes docs/cli.md, docs/derivations.md, docs/rules.md, docs/spec.md's
reference part, docs/api/*.md and README's command table; these tests fail when a page and
the code it comes from differ, and build the site with --strict.
"""

import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import trialflow.adam as adam
from trialflow.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def _load_generate():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generate()


def squash(text: str) -> str:
    """Text with its wrapping undone (help text is wrapped to the terminal's width)."""
    return " ".join(text.split())


def test_no_generated_page_is_stale():
    stale = [str(p.relative_to(ROOT)) for p in generate.stale()]
    assert stale == [], "run python docs/generate.py (make docs)"


def test_check_mode_names_a_stale_page(tmp_path, monkeypatch, capsys):
    """--check fails, naming the page, when a page differs from the code (nothing written)."""
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (docs / "cli.md").write_text("# edited by hand\n")
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    assert generate.main(["--check"]) == 1
    assert "docs/cli.md: stale" in capsys.readouterr().out
    assert (docs / "cli.md").read_text() == "# edited by hand\n"
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0


def _commands() -> list[list[str]]:
    """Every command path, found by walking the click group (not by the generator)."""
    out = []

    def walk(group, path):
        for name, cmd in group.commands.items():
            out.append([*path, name])
            if hasattr(cmd, "commands"):
                walk(cmd, [*path, name])

    walk(cli, [])
    return out


def test_cli_md_holds_every_command_s_help():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    runner = CliRunner()
    for path in _commands():
        assert f"\n## trialflow {' '.join(path)}\n" in text
        shown = runner.invoke(
            cli, [*path, "--help"], prog_name="trialflow",
            terminal_width=generate.WIDTH, max_content_width=generate.WIDTH,
        )  # fmt: skip
        assert shown.exit_code == 0
        # the section of this command: from its heading to the next one
        section = text.split(f"\n## trialflow {' '.join(path)}\n", 1)[1].split("\n## ", 1)[0]
        assert squash(shown.output) in squash(section)
    assert "\n## trialflow\n" in text  # the group itself


def test_readme_command_table_lists_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(generate.START) == readme.count(generate.END) == 1
    table = readme.split(generate.START, 1)[1].split(generate.END, 1)[0].strip()
    assert table == generate.commands_table()
    rows = [r for r in table.splitlines()[2:]]
    leaves = [p for p in _commands() if not hasattr(cli.commands.get(p[0]), "commands") or
              len(p) > 1]  # fmt: skip
    assert len(rows) == len(leaves)
    for path in leaves:
        command = " ".join(["trialflow", *path])
        (row,) = [
            r for r in rows if r.startswith(f"| `{command} ") or r.startswith(f"| `{command}`")
        ]
        assert f"(docs/cli.md#{'-'.join(['trialflow', *path])})" in row
    # the map row by hand: its argument, its two required options, then [OPTIONS]
    assert "| `trialflow map STUDY_DIR --raw EXPORT --out DIR [OPTIONS]` |" in table


def test_cli_md_anchor_the_readme_links_to_exists():
    """The README links to docs/cli.md#trialflow-ct-search: the heading's slug is that."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "\n## trialflow ct search\n" in text  # mkdocs/GitHub slug: trialflow-ct-search


def test_splice_keeps_the_rest_of_the_readme():
    text = f"intro\n{generate.START}\nold\n{generate.END}\nrest\n"
    assert (
        generate.splice_readme(text, "| t |")
        == f"intro\n{generate.START}\n| t |\n{generate.END}\nrest\n"
    )
    with pytest.raises(SystemExit):
        generate.splice_readme("no markers", "| t |")


DERIVATIONS = sorted(n for n in adam.__all__ if n.startswith(("derive_", "compute_")))


def test_every_derivation_declares_its_admiral_counterpart():
    assert sorted(adam.ADMIRAL) == DERIVATIONS
    for name, counterpart in adam.ADMIRAL.items():
        # an admiral function name, or "none:" and what an admiral script does instead
        assert re.match(r"(none: |[a-z_]+\(\))", counterpart), name
    # the functions admiral has under the same name (admiral's reference index)
    same = {n for n, c in adam.ADMIRAL.items() if c == f"{n}()"}
    assert same == {
        "derive_basetype_records", "derive_locf_records",
        "derive_param_computed", "derive_var_base", "derive_var_chg", "derive_var_extreme_flag",
        "derive_var_ontrtfl", "derive_var_pchg", "derive_vars_dt", "derive_vars_dy",
    }  # fmt: skip


def test_derivations_md_shows_signature_counterpart_and_example():
    text = (ROOT / "docs" / "derivations.md").read_text(encoding="utf-8")
    for name in DERIVATIONS:
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert f"**admiral:** {adam.ADMIRAL[name]}" in section
        first_param = next(iter(inspect.signature(getattr(adam, name)).parameters))
        assert f"{name}({first_param}" in squash(section.split("```python", 1)[1])
        assert ">>> " in section  # the docstring's example
    base = text.split("\n## derive_var_base\n", 1)[1].split("\n## ", 1)[0]
    assert '>>> derive_var_base(df, by_vars=["USUBJID"])["BASE"].tolist()' in base
    assert "[5.0, 5.0, nan]" in base


def test_api_pages_list_every_public_function_and_class():
    for package in generate.API_PACKAGES:
        module = __import__(f"trialflow.{package}", fromlist=["__all__"])
        text = (ROOT / "docs" / "api" / f"{package}.md").read_text(encoding="utf-8")
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isfunction(value) or inspect.isclass(value):
                assert f"::: {value.__module__}.{name}\n" in text


def test_mkdocs_nav_lists_every_page():
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    listed = set(re.findall(r":\s+(\S+\.md)\s*$", text, flags=re.MULTILINE))
    assert pages == listed
    for page in ("tutorial.md", "for-sas-and-r-users.md", "outputs.md", "cli.md",
                 "derivations.md", "rules.md", "spec.md"):  # fmt: skip
        assert page in listed


def test_make_docs_regenerates_then_builds_strictly():
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = make.split("\ndocs: ", 1)[1].split("\n\n", 1)[0]
    assert "docs/generate.py" in recipe and "mkdocs build --strict" in recipe
    assert "site/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_site_builds_without_a_warning(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output
    page = (tmp_path / "site" / "api" / "adam" / "index.html").read_text(encoding="utf-8")
    assert 'id="trialflow.adam.derive.derive_var_base"' in page
    # the docstring examples render as code, not as quoted text
    assert "&gt;&gt;&gt;" in page and "<blockquote>" not in page
    assert (tmp_path / "site" / "cli" / "index.html").is_file()
