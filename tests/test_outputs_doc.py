"""docs/outputs.md describes every file a run writes: each file of a demo run matches a file
named in the first column of one of the page's tables, every dataset is named on the page, and
every CSV column of the run is named on the page."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from trialflow.pipeline import example_run

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "outputs.md"
ROW = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)


def patterns(text: str) -> list[re.Pattern[str]]:
    """The file names of the tables' first column as patterns: ``<name>`` and ``*`` match any
    text without a slash.

    >>> [p.pattern for p in patterns("| `sdtm/<domain>.xpt` | x |")]
    ['sdtm/[^/]+\\\\.xpt']
    """
    found = []
    for name in ROW.findall(text):
        parts = re.split(r"(<[a-z]+>|\*)", name)
        found.append(
            re.compile(
                "".join("[^/]+" if p.startswith("<") or p == "*" else re.escape(p) for p in parts)
            )
        )
    return found


@pytest.fixture(scope="module")
def demo() -> Path:
    """What ``trialflow demo`` writes: the bundled example run once per process (shared with
    the docstring examples; read only)."""
    return example_run().out


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_patterns_read_the_first_column() -> None:
    found = patterns(
        "| `lineage/<domain>.csv` | a |\n| `analysis/figures/*.png` | b |\n| x | `y` |"
    )
    assert [p.pattern for p in found] == [r"lineage/[^/]+\.csv", r"analysis/figures/[^/]+\.png"]
    assert found[0].fullmatch("lineage/dm.csv") and not found[0].fullmatch("lineage/a/dm.csv")


def test_every_file_of_a_demo_run_is_on_the_page(demo: Path) -> None:
    text = PAGE.read_text()
    known = patterns(text)
    written = files(demo)
    assert len(written) > 100  # the demo writes SDTM, ADaM, analysis, lineage, eCTD
    undocumented = [f for f in written if not any(p.fullmatch(f) for p in known)]
    assert undocumented == [], f"files docs/outputs.md does not describe: {undocumented}"


def test_every_dataset_is_named_on_the_page(demo: Path) -> None:
    text = PAGE.read_text()
    names = {p.stem.upper() for folder in ("sdtm", "adam") for p in (demo / folder).glob("*.xpt")}
    assert {"DM", "TS", "SUPPEX", "ADSL", "ADDOSE"} <= names
    assert sorted(n for n in names if not re.search(rf"\b{n}\b", text)) == []


def test_every_csv_column_is_named_on_the_page(demo: Path) -> None:
    """The analysis and lineage tables' columns (not the SDTM variables of the SDTM lineage,
    which are the datasets' own)."""
    text = PAGE.read_text()
    missing = {}
    lineage = [demo / "lineage" / f"{name}.csv" for name in ("adlb", "dm", "excluded")]
    for path in [*sorted((demo / "analysis").glob("*.csv")), *lineage]:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        if path.parent.name == "lineage" and path.stem == "dm":
            header = header[: header.index("STUDYID")]
        absent = [c for c in header if not re.search(rf"\b{re.escape(c)}\b", text)]
        if absent:
            missing[path.name] = absent
    assert missing == {}
