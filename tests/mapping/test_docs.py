"""docs/spec.md: the generated reference is current, complete, and its examples are valid."""

import re
import shutil
from typing import Annotated

import pytest
import yaml
from pydantic import BaseModel, Field, TypeAdapter
from support import EXAMPLE_SPECS, ROOT, tiny_sheets, write_csv_export

from trialflow.mapping import docs, shape
from trialflow.mapping.load import load_study
from trialflow.mapping.spec import METHOD_DOCS, METHOD_KEYS, DomainSpec, StudySpec, VariableSpec
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm

SPEC_MD = ROOT / "docs" / "spec.md"


def test_the_generated_reference_in_docs_spec_md_is_current():
    text = SPEC_MD.read_text(encoding="utf-8")
    if docs.splice(text, docs.reference_markdown()) != text:
        pytest.fail(f"docs/spec.md is stale: run {docs.REFRESH} and commit it")


def test_every_key_is_described_and_every_method_documented():
    undescribed = [
        f"{root.__name__}: {k.path}"
        for root in (StudySpec, DomainSpec)
        for k in shape.walk(root)
        if not k.field.description
    ]
    assert undescribed == []
    assert sorted(set(METHOD_KEYS) - set(METHOD_DOCS)) == []


@pytest.mark.parametrize("root", [StudySpec, DomainSpec])
def test_every_key_example_is_a_valid_value_of_its_key(root):
    for key in shape.walk(root):
        for example in key.field.examples or []:
            meta = key.field.metadata
            kind = Annotated[key.field.annotation, *meta] if meta else key.field.annotation
            TypeAdapter(kind).validate_python(example)  # raises on a wrong example


@pytest.mark.parametrize("method", sorted(METHOD_DOCS))
def test_every_method_example_is_a_valid_entry_of_that_method(method):
    example = METHOD_DOCS[method][1]
    assert VariableSpec.model_validate(example).method == method


def test_a_key_added_to_a_model_appears_in_the_reference():
    class Tiny(BaseModel):
        colour: str = Field(default="red", description="the colour", examples=["blue"])
        sizes: list[int] = Field(min_length=1, description="sizes", examples=[[1, 2]])

    assert docs.key_table(Tiny).splitlines()[2:] == [
        "| `colour` | text | optional, default `red` | the colour | `colour: blue` |",
        "| `sizes` | a list of whole numbers (at least 1 item) | required | sizes | "
        "`sizes: [1, 2]` |",
    ]


def test_splice_keeps_the_hand_written_text_and_refuses_a_document_without_markers():
    document = f"intro\n{docs.BEGIN}\nold\n{docs.END}\noutro\n"
    new = docs.splice(document, f"{docs.BEGIN}\nnew\n{docs.END}\n")
    assert new == f"intro\n{docs.BEGIN}\nnew\n{docs.END}\noutro\n"
    with pytest.raises(docs.StaleDocument, match=r"^notes\.md: no generated region: put the"):
        docs.splice("intro\n", "x", "notes.md")


def test_the_reference_lists_keys_methods_and_the_adam_keys_the_example_uses():
    text = docs.reference_markdown()
    for row in (
        "| `adam.treatment.domain` | one of EX |",
        "| `adam.baseline.reference` | one of TRTSDT |",
        "| `source.transpose.columns` |",
        "| `variables[].when` |",
        "| `assign_ct` | `codelist`, `raw` | `when` |",
    ):
        assert row in text


# --- the sponsor lookup table example of docs/spec.md works as documented ------------------------


def _documented_blocks() -> list[str]:
    text = SPEC_MD.read_text(encoding="utf-8")
    section = text.split("### Sponsor lookup tables", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)


def test_the_documented_sponsor_lookup_table_maps_verbatim_terms(tmp_path):
    terms_block, entries_block = _documented_blocks()
    study_dir = tmp_path / "study"
    shutil.copytree(EXAMPLE_SPECS, study_dir)
    study_file = study_dir / "study.yaml"
    study = yaml.safe_load(study_file.read_text())
    study["controlled_terms"].update(yaml.safe_load(terms_block)["controlled_terms"])
    study_file.write_text(yaml.safe_dump(study, sort_keys=False))
    for entry in yaml.safe_load(entries_block):
        for path in (study_dir / "ex.yaml", study_dir / "ae.yaml"):
            spec = yaml.safe_load(path.read_text())
            names = [v["name"] for v in spec["variables"]]
            if entry["name"] in names:
                spec["variables"][names.index(entry["name"])] = entry
                path.write_text(yaml.safe_dump(spec, sort_keys=False))
    sheets = tiny_sheets()
    ae = dict(SUBJ="01-001", PT="Pyrexia", SOC="General disorders", START_DT="10-JAN-2019")
    ae |= dict(END_DT="", SEVERITY="Mild", SERIOUS="No", OUTCOME="Recovered", ACTION="None")
    sheets["AE"] = [
        {**ae, "AE_NO": "1", "AE_TERM": "fever", "RELATED": "unrelated"},
        {**ae, "AE_NO": "2", "AE_TERM": "rash", "RELATED": "Maybe"},
    ]
    export = write_csv_export(tmp_path / "raw", sheets)
    result = build_sdtm(load_study(study_dir), read_export(export), on_issue="none")
    assert set(result.domains["EX"]["EXDOSU"].dropna()) == {"10^6/kg"}
    aerel = result.domains["AE"].set_index("AESPID")["AEREL"]
    assert aerel["1"] == "NOT RELATED" and aerel.isna()["2"]
    [unmapped] = [f for f in result.findings if f.code == "ct-unmapped-value"]
    assert (unmapped.variable, unmapped.value, unmapped.source.column) == (
        "AEREL",
        "Maybe",
        "RELATED",
    )


def test_docs_name_the_gaps_the_reference_must_explain():
    text = SPEC_MD.read_text(encoding="utf-8")
    for phrase in (
        "single `.csv` file",
        "Blank cells:",
        "goes through CT like a raw value",
        "| `treatment.domain` |",
        "| `baseline.reference` |",
        "trialflow ct search",
    ):
        assert phrase in text, phrase
