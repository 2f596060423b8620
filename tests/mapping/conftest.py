import shutil

import pytest
from support import EXAMPLE_SPECS


@pytest.fixture
def study_dir(tmp_path):
    """A copy of the example specs, for a test to edit."""
    target = tmp_path / "study"
    shutil.copytree(EXAMPLE_SPECS, target)
    return target
