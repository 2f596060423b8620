"""Regenerate the reference pages of the docs from the code, or check that they are current.

    python docs/generate.py           rewrite what is stale (``make docs`` runs it)
    python docs/generate.py --check   exit 1 naming each stale page, writing nothing

What it writes, each from one source in the code:

* docs/cli.md: the ``--help`` of every ``trialflow`` command (the click commands);
* README.md: the command table between ``<!-- commands:start -->`` and
  ``<!-- commands:end -->`` (the same commands: synopsis and first paragraph of the help);
* docs/derivations.md: every public ``derive_*`` and ``compute_*`` function of
  ``trialflow.adam`` with its signature, its admiral counterpart (``trialflow.adam.ADMIRAL``)
  and its example (the docstring's);
* docs/api/<subpackage>.md: the API reference page of each subpackage, one mkdocstrings entry
  per name of its ``__all__``;
* docs/rules.md (the rule catalogue) and the generated part of docs/spec.md (the spec models).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 100
"""The width the help texts are wrapped to (a fixed one: the page is the same everywhere)."""

START, END = "<!-- commands:start -->", "<!-- commands:end -->"

API_PACKAGES = {
    "raw": "Reading raw exports",
    "mapping": "The spec language",
    "sdtm": "SDTM",
    "validation": "Validation",
    "adam": "ADaM derivations",
    "analysis": "Analysis",
    "io": "Files and formats",
}
"""The subpackages with an API reference page, in data-flow order, and the page's title."""


def commands() -> Iterator[tuple[list[str], click.Command, click.Context]]:
    """Every command of the ``trialflow`` group (groups and their subcommands), in the order
    the group lists them, with its name path and a context of fixed width."""
    from trialflow.cli import cli

    def walk(cmd: click.Command, path: list[str], parent: click.Context | None):
        settings = {**cmd.context_settings, "max_content_width": WIDTH, "terminal_width": WIDTH}
        ctx = click.Context(cmd, info_name=path[-1], parent=parent, **settings)
        yield path, cmd, ctx
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name), [*path, name], ctx)

    yield from walk(cli, ["trialflow"], None)


def _first_paragraph(cmd: click.Command) -> str:
    text = inspect.cleandoc(cmd.help or "").split("\n\n")[0]
    return " ".join(text.replace("\b", "").split())


def synopsis(path: list[str], cmd: click.Command, ctx: click.Context) -> str:
    """``trialflow map STUDY_DIR --raw EXPORT --out DIR [OPTIONS]``: the command, its
    arguments and required options, and ``[OPTIONS]`` when it has optional ones."""
    words = list(path)
    optional = False
    for param in cmd.get_params(ctx):
        if isinstance(param, click.Argument):
            name = (
                param.make_metavar(ctx) if _takes_ctx(param.make_metavar) else param.make_metavar()
            )
            words.append(name)
        elif isinstance(param, click.Option) and param.required:
            metavar = (
                param.make_metavar(ctx) if _takes_ctx(param.make_metavar) else param.make_metavar()
            )
            words.append(f"{param.opts[0]} {metavar}")
        elif isinstance(param, click.Option) and param.name != "help":
            optional = True
    if isinstance(cmd, click.Group):
        words.append("COMMAND")
    elif optional:
        words.append("[OPTIONS]")
    return " ".join(words)


def _takes_ctx(method: Callable) -> bool:
    return "ctx" in inspect.signature(method).parameters


def cli_markdown() -> str:
    """docs/cli.md: every command's ``--help``, as ``trialflow COMMAND --help`` prints it."""
    lines = [
        "# Command-line reference",
        "",
        "Every command's `--help`, generated from the commands themselves by",
        "`python docs/generate.py` (`make docs`); a test fails when this page and the commands",
        "differ. The README's command table comes from the same source.",
        "",
    ]
    for path, cmd, ctx in commands():
        lines += [f"## {' '.join(path)}", "", "```text", cmd.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(lines)


def commands_table() -> str:
    """The README's command table: synopsis and what the command does."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| command | what it does | options |", "|---|---|---|"]
    for path, cmd, ctx in commands():
        if len(path) == 1 or isinstance(cmd, click.Group):
            continue
        anchor = "-".join(path)  # the heading "## trialflow ct search" of docs/cli.md
        rows.append(
            f"| `{cell(synopsis(path, cmd, ctx))}` | {cell(_first_paragraph(cmd))} "
            f"| [--help](docs/cli.md#{anchor}) |"
        )
    return "\n".join(rows)


def splice_readme(readme: str, table: str) -> str:
    """README text with ``table`` between the command-table markers."""
    if (
        readme.count(START) != 1
        or readme.count(END) != 1
        or readme.index(START) > readme.index(END)
    ):
        raise SystemExit(f"README.md: expected one {START} line and one {END} line after it")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def _example(doc: str) -> str:
    """The docstring's example: the lines after ``Example:``, dedented."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() in ("Example:", "Examples:"):
            return textwrap.dedent("\n".join(lines[i + 1 :])).strip("\n")
    return ""


class _Text:
    """An annotation as its source text (``from __future__ import annotations`` keeps them as
    strings; the signature shows them without quotes)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _signature(func: Callable) -> inspect.Signature:
    def plain(annotation: object) -> object:
        return _Text(annotation) if isinstance(annotation, str) else annotation

    sig = inspect.signature(func)
    params = [p.replace(annotation=plain(p.annotation)) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=plain(sig.return_annotation))


def derivations_markdown() -> str:
    """docs/derivations.md: every public derive_* and compute_* function of trialflow.adam."""
    import trialflow.adam as adam

    names = [n for n in adam.__all__ if n.startswith(("derive_", "compute_"))]
    lines = [
        "# Derivations",
        "",
        "Every public `derive_*` and `compute_*` function of `trialflow.adam`: its signature, its",
        "admiral counterpart and its example (which runs as a test). Generated from the code by",
        "`python docs/generate.py` (`make docs`): the counterparts are declared in",
        "`trialflow.adam.ADMIRAL`, the rest comes from each function's docstring.",
        "",
        "| function | admiral |",
        "|---|---|",
    ]
    lines += [f"| [`{n}`](#{n}) | {adam.ADMIRAL[n]} |" for n in names]
    lines.append("")
    for name in names:
        func = getattr(adam, name)
        doc = inspect.getdoc(func) or ""
        summary = " ".join(doc.split("\n\n")[0].split())
        signature = f"{name}{_signature(func)}"
        lines += [
            f"## {name}",
            "",
            f"`from trialflow.adam import {name}` (defined in `{func.__module__}`)",
            "",
            f"**admiral:** {adam.ADMIRAL[name]}",
            "",
            "```python",
            textwrap.fill(
                signature,
                WIDTH,
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            ),
            "```",
            "",
            summary,
            "",
            "```pycon",
            _example(doc),
            "```",
            "",
        ]
    return "\n".join(lines)


def api_page(package: str) -> str:
    """docs/api/<package>.md: one mkdocstrings entry per public name, by its defining module."""
    module = importlib.import_module(f"trialflow.{package}")
    summary = (inspect.getdoc(module) or "").split("\n\n")[0]
    lines = [
        f"# trialflow.{package}: {API_PACKAGES[package]}",
        "",
        " ".join(summary.split()),
        "",
        f"Generated from `trialflow.{package}.__all__` by `python docs/generate.py`.",
        "",
    ]
    for name in module.__all__:
        value = getattr(module, name)
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        lines += [f"::: {value.__module__}.{name}", ""]
    return "\n".join(lines)


def rules_markdown() -> str:
    """docs/rules.md: the rule catalogue."""
    from trialflow.validation.core import catalogue_markdown
    from trialflow.validation.engine import validate_package  # noqa: F401  (registers the rules)

    return catalogue_markdown()


def spec_markdown() -> str:
    """docs/spec.md with its generated reference part from the spec models."""
    from trialflow.mapping import docs

    path = ROOT / "docs" / "spec.md"
    return docs.splice(path.read_text(encoding="utf-8"), docs.reference_markdown(), "docs/spec.md")


def pages() -> dict[Path, str]:
    """Every generated page by its path, with the text it should have."""
    out = {
        ROOT / "docs" / "cli.md": cli_markdown(),
        ROOT / "docs" / "derivations.md": derivations_markdown(),
        ROOT / "docs" / "rules.md": rules_markdown(),
        ROOT / "docs" / "spec.md": spec_markdown(),
        ROOT / "README.md": splice_readme(
            (ROOT / "README.md").read_text(encoding="utf-8"), commands_table()
        ),
    }
    for package in API_PACKAGES:
        out[ROOT / "docs" / "api" / f"{package}.md"] = api_page(package)
    return out


def stale() -> list[Path]:
    """The generated pages whose file differs from what the code gives."""
    return [
        path for path, text in pages().items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"{path.relative_to(ROOT)}: stale; run python docs/generate.py (make docs)")
        return 1 if old else 0
    for path, text in pages().items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"{path.relative_to(ROOT)}: regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
