"""Each shape `synth --design three-arm --layout` writes maps to the workbook's SDTM, the
three-arm specs adapted only in `source` (as tests/test_layouts.py does for the first example)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trialflow.io.layouts import write_layout
from trialflow.mapping.load import load_study
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm
from trialflow.synth_three_arm import synthesize_three_arm

SPECS = Path(__file__).resolve().parents[1] / "mappings" / "three-arm"


def _adapted_specs(tmp_path: Path, layout: str) -> Path:
    """Copies of the three-arm specs in which only each domain's ``source`` block changes."""
    out = tmp_path / f"specs-{layout}"
    shutil.copytree(SPECS, out)
    for path in sorted(out.glob("*.yaml")):
        if path.name == "study.yaml":
            continue
        text = path.read_text()
        spec = yaml.safe_load(text)
        source = dict(spec["source"])
        form = source["sheet"]
        if layout == "flat-csv":
            source["sheet"] = "export"
            source["where"] = {"FORM": [form], **(source.get("where") or {})}
        elif layout == "odm":
            source["subject"] = "SubjectKey"
            source["record_key"] = [
                "SubjectKey" if k == "SUBJ" else k for k in source["record_key"]
            ]
        elif layout == "sas":
            source["sheet"] = form.lower()
        lines = text.splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.startswith("source:"))
        end = next(i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "\n", "#"))
        block = yaml.safe_dump({"source": source}, sort_keys=False, width=1000)
        path.write_text("".join(lines[:start]) + block + "".join(lines[end:]))
    return out


@pytest.fixture(scope="module")
def sheets():
    return synthesize_three_arm(subjects=12, seed=4)


@pytest.fixture(scope="module")
def workbook_sdtm(sheets, tmp_path_factory):
    path = write_layout(sheets, tmp_path_factory.mktemp("wb") / "export.xlsx", "workbook")
    return build_sdtm(load_study(SPECS), read_export(path), on_issue="none")


@pytest.mark.parametrize(
    ("layout", "name"), [("flat-csv", "export.csv"), ("odm", "export.xml"), ("sas", "export")]
)
def test_each_layout_maps_to_the_workbooks_sdtm(layout, name, sheets, workbook_sdtm, tmp_path):
    assert workbook_sdtm.domains["DM"]["ARMNRS"].eq("SCREEN FAILURE").sum() == 1
    path = write_layout(sheets, tmp_path / name, layout)
    result = build_sdtm(load_study(_adapted_specs(tmp_path, layout)), read_export(path),
                        on_issue="none")  # fmt: skip
    assert set(result.domains) == set(workbook_sdtm.domains)
    for domain, expected in workbook_sdtm.domains.items():
        pd.testing.assert_frame_equal(
            result.domains[domain].reset_index(drop=True),
            expected.reset_index(drop=True),
            obj=f"{layout} {domain}",
        )
