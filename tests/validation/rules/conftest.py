"""Helpers shared by the tests of the rule modules: build a package from frames, run one rule."""

from __future__ import annotations

import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.pipeline import map_study
from trialflow.validation.core import Dataset, Package


@pytest.fixture(scope="session")
def example_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The example study mapped by the pipeline, as a package (SUPP-- read as such)."""
    run = map_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, tmp_path_factory.mktemp("out"), on_issue="none")
    datasets = {}
    for name, frame in run.sdtm.domains.items():
        kind = "supp" if name.upper().startswith("SUPP") else "sdtm"
        datasets[name] = Dataset.from_frame(name, frame.reset_index(drop=True), kind=kind)
    return Package(datasets)
