"""The one-way data flow of the design, enforced by import-linter, and docs that cannot drift."""

import shutil
import subprocess
import sys
from pathlib import Path

from trialflow.mapping.spec import METHOD_KEYS

ROOT = Path(__file__).resolve().parents[1]


def test_layers_contract_holds():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_every_mapping_method_is_documented():
    text = (ROOT / "docs" / "spec.md").read_text()
    missing = [name for name in METHOD_KEYS if f"| `{name}` |" not in text]
    assert missing == []
