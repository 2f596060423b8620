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

# What each layout holds that no spec reads, as raw-sheet-unread / raw-column-unmapped name it:
# the workbook's README sheet, the flat export's INSTANCE column and the ODM keys of each form
# that hold a value (six synthetic subjects, seed 11).
UNREAD = {
    "workbook": {("raw-sheet-unread", "README", None)},
    "flat-csv": {("raw-column-unmapped", "export", "INSTANCE")},
    "odm": {
        ("raw-column-unmapped", form, key)
        for form, keys in {
            "INFUSION": ("SiteRef", "StudyEventOID", "FormRepeatKey", "ItemGroupOID"),
            "DEMOG": ("SiteRef", "StudyEventOID", "ItemGroupOID"),
            "VITALS": ("SiteRef", "StudyEventOID", "StudyEventRepeatKey", "ItemGroupOID"),
            "LAB": ("SiteRef", "StudyEventOID", "ItemGroupOID", "ItemGroupRepeatKey"),
            "AE": ("SiteRef", "StudyEventOID", "ItemGroupOID", "ItemGroupRepeatKey"),
            "DISPOSITION": ("SiteRef", "StudyEventOID", "ItemGroupOID"),
            "CONMED": ("SiteRef", "StudyEventOID", "ItemGroupOID", "ItemGroupRepeatKey"),
        }.items()
        for key in keys
    },
    "sas": set(),
}


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
        end = next(i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "\n", "#"))
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

    # apart from the notices about the layout's own structure: what of the file no spec reads
    layout_only = {"raw-row-excluded", "raw-sheet-unread", "raw-column-unmapped"}
    expected_codes = codes(f for f in workbook_sdtm.findings if f.code not in layout_only)
    got = [f for f in result.findings if f.code not in layout_only]
    assert codes(got) == expected_codes

    def unread(findings):
        return {
            (f.code, f.source.sheet, f.source.column)
            for f in findings
            if f.code in ("raw-sheet-unread", "raw-column-unmapped")
        }

    assert unread(workbook_sdtm.findings) == UNREAD["workbook"]
    assert unread(result.findings) == UNREAD[layout]
    # lineage points into the layout's own file
    lineage = result.lineage["LB"]
    assert lineage["source_file"].str.startswith(path.name).all()


def test_a_repeating_form_is_keyed_by_its_instance_and_the_message_says_so(sheets, tmp_path):
    path = write_layout(sheets, tmp_path / "export.csv", "flat-csv")
    specs = _adapted_specs(tmp_path, "flat-csv", "export")
    ae = specs / "ae.yaml"
    # a key without the event number does not tell a subject's events apart
    text = ae.read_text()
    assert "record_key:\n  - SUBJ\n  - AE_NO\n" in text
    ae.write_text(text.replace("  - SUBJ\n  - AE_NO\n", "  - SUBJ\n", 1))
    result = build_sdtm(load_study(specs), read_export(path), on_issue="none")
    dups = [f for f in result.findings if f.code == "raw-duplicate-record"]
    assert dups, "the example has subjects with two adverse events"
    assert "add its repeat column" in dups[0].message
    assert "fix the export" not in dups[0].message
    assert dups[0].source.file == "export.csv" and dups[0].source.sheet == "export"
    # with the instance number in the key the same export is clean
    ae.write_text(text.replace("  - SUBJ\n  - AE_NO\n", "  - SUBJ\n  - INSTANCE\n", 1))
    result = build_sdtm(load_study(specs), read_export(path), on_issue="none")
    assert not [f for f in result.findings if f.code == "raw-duplicate-record"]


@pytest.mark.parametrize(
    ("layout", "name", "sheet_of_export", "file", "sheet", "row"),
    [
        ("flat-csv", "export.csv", "export", "export.csv", "export", 4),  # header, 2 DEMOG rows
        ("odm", "export.xml", None, "export.xml", "DEMOG", 3),  # the third DEMOG record
        ("sas", "export", None, "export/demog.xpt", "demog", 3),  # record 3 of demog.xpt
    ],
)
def test_findings_name_the_cell_in_each_layout(
    layout, name, sheet_of_export, file, sheet, row, sheets, tmp_path
):
    demog = sheets["DEMOG"].copy()
    demog["RACE"] = demog["RACE"].astype(object)
    demog.loc[2, "RACE"] = "Martian"  # the third subject's race is no CDISC term
    bad = {**sheets, "DEMOG": demog}
    path = write_layout(bad, tmp_path / name, layout)
    specs = _adapted_specs(tmp_path, layout, sheet_of_export)
    result = build_sdtm(load_study(specs), read_export(path), on_issue="none")
    [finding] = [f for f in result.findings if f.value == "Martian"]
    assert (finding.source.file, finding.source.sheet, finding.source.row) == (file, sheet, row)
    assert finding.source.column == "RACE"


@pytest.mark.parametrize(
    ("layout", "name", "out"),
    [
        ("sas", "export", "--layout sas --out DIR"),
        ("odm", "export.xml", "--layout odm --out FILE.xml"),
    ],
)
def test_the_readme_says_how_to_regenerate_this_layout(sheets, tmp_path, layout, name, out):
    path = write_layout(sheets, tmp_path / name, layout)
    text = (path / "README.txt" if layout == "sas" else path).read_text()
    command = f"Regenerate with: trialflow synth --subjects {SUBJECTS} --seed {SEED} {out}"
    assert command in text
    assert "--out FILE.xlsx" not in text
