"""Shared fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import settings
from support import EXAMPLE_SPECS, tiny_sheets, write_csv_export

# Property tests check values, never time: hypothesis's per-example deadline is a timed
# assertion that fails on a loaded machine, so it is off for the whole suite.
settings.register_profile("trialflow", deadline=None)
settings.load_profile("trialflow")


@pytest.fixture
def tiny_export(tmp_path: Path) -> Path:
    """A folder of CSV files holding :func:`tiny_sheets`."""
    return write_csv_export(tmp_path / "raw", tiny_sheets())


@pytest.fixture
def study_copy(tmp_path: Path) -> Path:
    """A copy of the example study's specs that a test may edit."""
    target = tmp_path / "study"
    shutil.copytree(EXAMPLE_SPECS, target)
    return target


BROWSERS = ("chromium", "chromium-browser", "google-chrome")
"""Headless browsers the page tests use, by the names Debian and Google install them as."""


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a headless Chromium; the test skips, saying why, when there is none."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium not installed; .ci/run installs Debian's chromium")
