"""Each shape `synth --layout` writes maps to the same SDTM, the specs adapted only in `source`."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml
from support import EXAMPLE_SPECS

from trialflow.io.layouts import write_layout
from trialflow.mapping.load import load_study
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm
from trialflow.synth import synthesize

SUBJECTS, SEED = 6, 11


def _adapted_specs(tmp_path, layout: str, sheet_of_export: str | None = None):
    """Copies of the example specs in which only each domain's ``source`` mapping changes."""
    out = tmp_path / f"specs-{layout}"
    shutil.copytree(EXAMPLE_SPECS, out)
    for path in sorted(out.glob("*.yaml")):
        if path.name == "study.yaml":
            continue
        text = path.read_text()
        spec = yaml.safe_load(text)
        source = dict(spec["source"])
        form = source["sheet"]
        if layout == "flat-csv":
            source["sheet"] = sheet_of_export
            # the form's rows first, then the spec's own condition: every key must hold
            source["where"] = {"FORM": [form], **(source.get("where") or {})}
        elif layout == "odm":
            source["subject"] = "SubjectKey"
            source["record_key"] = [
                "SubjectKey" if k == "SUBJ" else k for k in source.get("record_key", [])
            ]
        elif layout == "sas":
            source["sheet"] = form.lower()
        # replace the source block and nothing else: the lines from "source:" up to the next
        # top-level key
        lines = text.splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.startswith("source:"))
        end = next(
            i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "\n", "#")
        )
        block = yaml.safe_dump({"source": source}, sort_keys=False, width=1000)
        path.write_text("".join(lines[:start]) + block + "".join(lines[end:]))
        assert _without_source(yaml.safe_load(path.read_text())) == _without_source(spec)
    return out


def _without_source(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "source"}


@pytest.fixture(scope="module")
def sheets():
    return synthesize(subjects=SUBJECTS, seed=SEED)


@pytest.fixture(scope="module")
def workbook_sdtm(sheets, tmp_path_factory):
    path = write_layout(sheets, tmp_path_factory.mktemp("wb") / "export.xlsx", "workbook")
    return build_sdtm(load_study(EXAMPLE_SPECS), read_export(path), on_issue="none")


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reset_index(drop=True)


@pytest.mark.parametrize(
    ("layout", "name", "sheet_of_export"),
    [("flat-csv", "export.csv", "export"), ("odm", "export.xml", None), ("sas", "export", None)],
)
def test_each_layout_maps_to_the_workbooks_sdtm(
    layout, name, sheet_of_export, sheets, workbook_sdtm, tmp_path
):
    path = write_layout(sheets, tmp_path / name, layout)
    specs = _adapted_specs(tmp_path, layout, sheet_of_export)
    result = build_sdtm(load_study(specs), read_export(path), on_issue="none")
    assert set(result.domains) == set(workbook_sdtm.domains)
    for domain, expected in workbook_sdtm.domains.items():
        pd.testing.assert_frame_equal(
            _comparable(result.domains[domain]), _comparable(expected), obj=f"{layout} {domain}"
        )
    # the same findings, apart from where they point and the flat CSV's rows of other forms
    def codes(findings):
        return sorted((f.code, f.dataset, f.variable, f.value) for f in findings)

    expected_codes = codes(workbook_sdtm.findings)
    got = [f for f in result.findings if f.code != "raw-row-excluded"]
    assert codes(got) == expected_codes
    # lineage points into the layout's own file
    lineage = result.lineage["LB"]
    assert lineage["source_file"].str.startswith(path.name).all()
