"""The report in a real browser: headless Chromium loads the file, decodes every image, and
draws a page that is not blank, with the synthetic-data banner at the top when it should be.
The README's screenshot of the example's report (docs/img/report.png) is made here too:
``TRIALFLOW_UPDATE_SCREENSHOT=1`` rewrites it from a demo run; otherwise the test checks it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from trialflow.analysis.figures import figure_chg_boxplot, figure_median_iqr
from trialflow.analysis.report import BANNER_COLOR, render_report
from trialflow.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "img" / "report.png"
UPDATE = "TRIALFLOW_UPDATE_SCREENSHOT"
TIMEOUT = 120  # seconds per browser run; a cold start on a slow CI machine takes a few


def bds() -> pd.DataFrame:
    """FPG records of six subjects: baseline and two post-baseline visits."""
    rng = np.random.default_rng(7)
    rows = []
    for subject in range(1, 7):
        base = float(rng.normal(9.0, 1.0))
        rows.append((f"S-{subject}", 0.0, "BASELINE", base, np.nan))
        for avisitn, avisit, drop in ((2.0, "DAY 14", 1.2), (5.0, "DAY 84", 0.6)):
            aval = base - drop + float(rng.normal(0, 0.4))
            rows.append((f"S-{subject}", avisitn, avisit, aval, aval - base))
    frame = pd.DataFrame(rows, columns=["USUBJID", "AVISITN", "AVISIT", "AVAL", "CHG"])
    return frame.assign(PARAMCD="FPG", PARAM="Fasting plasma glucose (mmol/L)", ANL01FL="Y")


def summary(records: pd.DataFrame) -> pd.DataFrame:
    """cfb_summary-shaped rows computed with pandas (fixed p-values)."""
    rows = []
    p_values = {2.0: 0.031, 5.0: 0.0004}
    for (avisitn, avisit), group in records.groupby(["AVISITN", "AVISIT"], sort=True):
        for var in ("AVAL", "CHG"):
            values = group[var].dropna()
            if values.empty:
                continue
            rows.append(
                {
                    "PARAMCD": "FPG",
                    "PARAM": "Fasting plasma glucose (mmol/L)",
                    "AVISITN": avisitn,
                    "AVISIT": avisit,
                    "VAR": var,
                    "N": len(values),
                    "MEAN": values.mean(),
                    "SD": values.std(),
                    "MEDIAN": values.median(),
                    "Q1": values.quantile(0.25),
                    "Q3": values.quantile(0.75),
                    "MIN": values.min(),
                    "MAX": values.max(),
                    "P_VALUE": p_values.get(avisitn, np.nan) if var == "CHG" else np.nan,
                    "TEST": "Wilcoxon signed rank exact test" if var == "CHG" else None,
                    "QUANTILE_METHOD": "r7",
                }
            )
    return pd.DataFrame(rows)


def write_report(directory: Path, *, synthetic: bool) -> Path:
    records = bds()
    table = summary(records)
    figures = [
        ("FPG: median (Q1, Q3) by visit", figure_median_iqr(table, "FPG", title="FPG")),
        ("FPG: change from baseline",
         figure_chg_boxplot(records, table, "FPG", title="FPG change")),
    ]
    page = render_report(
        study={
            "studyid": "BROWSER-01",
            "title": "Browser check <of the report>",
            "synthetic": synthetic,
            "raw_export": "raw.xlsx",
            "trialflow": "0.1.0",
            "sdtmig": "3.4",
            "adamig": "1.3",
            "ct": "2024-09-27",
            "quantile_method": "r7",
            "quantile_description": "linear interpolation (Hyndman-Fan type 7)",
        },
        validation={
            "errors": 0,
            "warnings": 1,
            "notices": 2,
            "by_dataset": [
                {"dataset": "ADLB", "records": 18, "errors": 0, "warnings": 1, "notices": 2}
            ],
            "top": ["ADLB: one warning"],
        },
        summary=table,
        table1=pd.DataFrame(
            {
                "CHARACTERISTIC": ["Age (years)"],
                "STATISTIC": ["mean ± SD"],
                "VALUE": ["52.5 ± 7.9"],
            }
        ),
        figures=figures,
        notes=["Synthetic frames made in the test."],
    )
    path = directory / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def run_browser(browser: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [
        browser,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *arguments,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr[-2000:]}"
    return result


## Test 1: every image decodes and every table is in the DOM ----
def test_dom_after_load(chromium: str, tmp_path: Path) -> None:
    report = write_report(tmp_path, synthetic=True)
    result = run_browser(
        chromium,
        tmp_path / "profile",
        "--dump-dom",
        "--virtual-time-budget=5000",
        report.as_uri(),
    )
    dom = result.stdout
    body = re.search(r"<body\b[^>]*>", dom)
    assert body, f"no <body> in the dumped DOM:\n{dom[:500]}"
    images = re.search(r'data-images="(\d+)/(\d+)"', body.group(0))
    tables = re.search(r'data-tables="(\d+)"', body.group(0))
    assert images and tables, f"the load check did not run: {body.group(0)}"
    assert images.groups() == ("2", "2")  # both figures decoded
    # validation by dataset, one change-from-baseline table (FPG), Table 1
    assert tables.group(1) == "3"
    assert dom.count("<table") == 3
    assert "Browser check &lt;of the report&gt;" in dom
    assert "52.5 ± 7.9" in dom


## Test 2: the screenshot shows a page, with the banner on top iff synthetic ----
@pytest.mark.parametrize("synthetic", [True, False])
def test_screenshot(chromium: str, tmp_path: Path, synthetic: bool) -> None:
    report = write_report(tmp_path, synthetic=synthetic)
    shot = tmp_path / "shot.png"
    run_browser(
        chromium,
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        "--virtual-time-budget=5000",
        report.as_uri(),
    )
    assert shot.exists(), "Chromium wrote no screenshot"
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    assert float(pixels.std()) > 0.05, "the screenshot is blank"
    banner = np.array([int(BANNER_COLOR[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    top = pixels[:150]
    close = np.all(np.abs(top - banner) < 12 / 255, axis=-1)
    if synthetic:
        assert close.mean() > 0.2, "no synthetic-data banner at the top of the page"
    else:
        assert close.sum() == 0


def banner_share(pixels: np.ndarray) -> float:
    """The share of the top 40 rows' pixels in the synthetic-data banner's colour."""
    banner = np.array([int(BANNER_COLOR[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return float(np.all(np.abs(pixels[:40, :, :3] - banner) < 12 / 255, axis=-1).mean())


def section_rules(pixels: np.ndarray) -> list[int]:
    """The rows of the dark rules under the report's section headings (h2), top to bottom: the
    rows more than half of whose pixels are dark, the first row of each run."""
    rows = np.flatnonzero((pixels[..., :3].max(axis=-1) < 0.35).mean(axis=1) > 0.5)
    return [int(r) for i, r in enumerate(rows) if i == 0 or rows[i - 1] != r - 1]


## Test 3: the README's screenshot of the example's report ----
def test_readme_screenshot(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """docs/img/report.png: the top of the demo's report.html (banner, title, sections), the
    first change-from-baseline table and the first figure, as Chromium draws them."""
    if os.environ.get(UPDATE) == "1":
        chromium = request.getfixturevalue("chromium")
        result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo")])
        assert result.exit_code == 0, result.output
        shot = tmp_path / "page.png"
        run_browser(
            chromium,
            tmp_path / "profile",
            f"--screenshot={shot}",
            "--window-size=1280,6000",
            "--virtual-time-budget=5000",
            (tmp_path / "demo" / "analysis" / "report.html").as_uri(),
        )
        page = matplotlib.image.imread(shot)[..., :3]
        # sections: provenance, validation, change from baseline, Table 1, figures, ...
        rules = section_rules(page)
        assert len(rules) >= 5, f"expected the report's section rules, found rows {rules}"
        header = page[: rules[0] - 63]  # banner, study, title and the section links
        first_table = page[rules[2] - 60 : rules[2] + 345]  # heading, FPG table and its notes
        first_figure = page[rules[4] - 60 : rules[4] + 620]  # heading and the FPG figure
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        matplotlib.image.imsave(SCREENSHOT, np.concatenate([header, first_table, first_figure]))
    assert SCREENSHOT.is_file(), f"{SCREENSHOT} missing: run with {UPDATE}=1 to make it"
    pixels = matplotlib.image.imread(SCREENSHOT)
    assert pixels.shape[1] == 1280 and 800 <= pixels.shape[0] <= 2000
    assert banner_share(pixels) > 0.5, "no synthetic-data banner at the top of the screenshot"
    assert float(pixels[..., :3].std()) > 0.05, "the screenshot is blank"
    assert "docs/img/report.png" in (ROOT / "README.md").read_text()
