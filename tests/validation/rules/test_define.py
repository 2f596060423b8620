"""define.xml against the data (trialflow.validation.rules.define), the define.xml reader
(trialflow.io.define_read) and its wiring in ``validate``: clean data passes, each seeded
disagreement is found exactly."""

from __future__ import annotations

import pandas as pd
import pytest

from trialflow.io.define_read import MAX_DEFINE_BYTES, read_define
from trialflow.io.validate import validate_paths
from trialflow.io.xpt import XptVariable, write_xpt
from trialflow.validation.core import (
    RULES,
    Dataset,
    DefineCodelist,
    DefineGroup,
    DefineMetadata,
    DefineVariable,
    Package,
)

SEX = DefineCodelist("CL.SEX", "Sex", frozenset({"F", "M"}), extensible=False)
UNIT = DefineCodelist(
    "CL.UNIT", "Unit", frozenset({"kg", "stone"}), frozenset({"stone"}), extensible=True
)


def dm_group(**changes: object) -> DefineGroup:
    variables = (
        DefineVariable("STUDYID", "text", 2, mandatory=True, order=1, key_sequence=1),
        DefineVariable("USUBJID", "text", 6, mandatory=True, order=2, key_sequence=2),
        DefineVariable("SEX", "text", 1, order=3, label="Sex", codelist=SEX),
        DefineVariable("AGE", "integer", 8, order=4, label="Age"),
    )
    base = {
        "label": "Demographics",
        "cls": "SPECIAL PURPOSE",
        "structure": "One record per subject",
        "leaf": "dm.xpt",
        "variables": variables,
    }
    base.update(changes)
    return DefineGroup("DM", **base)  # type: ignore[arg-type]


def dm_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["S1", "S1", "S1"],
            "USUBJID": ["S1-001", "S1-002", "S1-003"],
            "SEX": ["F", "M", "F"],
            "AGE": [34.0, 51.0, None],
        }
    )


def pkg(frame: pd.DataFrame | None = None, group: DefineGroup | None = None, **kw) -> Package:
    ds = Dataset.from_frame("DM", dm_frame() if frame is None else frame, **kw)
    define = DefineMetadata(("sdtm/define.xml",), {"DM": group or dm_group()})
    return Package({"DM": ds}, define=define)


def run(code: str, package: Package) -> list[tuple]:
    return [(f.dataset, f.variable, f.record, f.usubjid) for f in RULES[code].run(package)]


DEFINE_RULES = [c for c, r in RULES.items() if r.run and r.run.__module__.endswith(".define")]


def test_rules_registered():
    assert len(DEFINE_RULES) == 19
    assert RULES["define-value-not-in-codelist"].severity == "error"
    assert RULES["define-value-not-in-extended-codelist"].severity == "warning"


def test_clean_package_has_no_finding():
    clean = pkg(
        labels={"SEX": "Sex", "AGE": "Age"},
        label="Demographics",
        lengths={"STUDYID": 2, "USUBJID": 6, "SEX": 1},
        files=("dm.xpt",),
    )
    assert [f for c in DEFINE_RULES for f in RULES[c].run(clean)] == []


def test_no_define_means_no_finding():
    bare = Package({"DM": Dataset.from_frame("DM", dm_frame().assign(SEX="X"))})
    assert [f for c in DEFINE_RULES for f in RULES[c].run(bare)] == []


def test_dataset_described_and_on_disk():
    package = pkg()
    package.datasets["AE"] = Dataset.from_frame("AE", pd.DataFrame({"USUBJID": ["S1-001"]}))
    package.define.groups["LB"] = DefineGroup("LB", cls="FINDINGS", structure="x", leaf="lb.xpt")
    assert run("define-dataset-missing", package) == [("AE", None, None, None)]
    found = RULES["define-dataset-not-on-disk"].run(package)
    assert [(f.dataset, f.severity) for f in found] == [("LB", "error")]
    assert "lb.xpt" in found[0].message


def test_dataset_not_beside_the_define_is_not_required_in_it():
    package = pkg()
    package.define.covered = frozenset({"DM"})
    package.datasets["ADSL"] = Dataset.from_frame("ADSL", pd.DataFrame({"USUBJID": ["1"]}))
    assert run("define-dataset-missing", package) == []


def test_variables_described_both_ways():
    frame = dm_frame().drop(columns="AGE").assign(RACE="ASIAN")
    package = pkg(frame)
    assert run("define-variable-missing", package) == [("DM", "RACE", None, None)]
    assert run("define-variable-not-in-data", package) == [("DM", "AGE", None, None)]


def test_data_type_mismatch():
    frame = dm_frame().assign(AGE=["34", "51", None])
    group = dm_group()
    sex_numeric = dm_frame().assign(SEX=[1.0, 2.0, 1.0])
    assert run("define-datatype-mismatch", pkg(frame, group)) == [("DM", "AGE", None, None)]
    assert run("define-datatype-mismatch", pkg(sex_numeric)) == [("DM", "SEX", None, None)]
    # an all-missing column says nothing about its type
    empty = dm_frame().assign(AGE=[None, None, None])
    assert run("define-datatype-mismatch", pkg(empty.astype({"AGE": "str"}))) == []


def test_value_longer_than_define_length():
    frame = dm_frame().assign(USUBJID=["S1-001", "S1-0002", "S1-é03"])  # é is two bytes
    found = RULES["define-length-too-short"].run(pkg(frame))
    assert [(f.record, f.usubjid) for f in found] == [(2, "S1-0002"), (3, "S1-é03")]
    assert "7 bytes long; define.xml declares Length 6" in found[0].message


def test_declared_length_differs():
    package = pkg(lengths={"STUDYID": 2, "USUBJID": 8, "SEX": 1})
    found = RULES["define-length-differs"].run(package)
    assert [(f.variable, f.value) for f in found] == [("USUBJID", "8")]


def test_variable_order():
    frame = dm_frame()[["STUDYID", "SEX", "USUBJID", "AGE"]]
    found = RULES["define-variable-order"].run(pkg(frame))
    assert [(f.dataset, f.variable) for f in found] == [("DM", "SEX")]
    assert "variable 2 is SEX in the data but USUBJID" in found[0].message


def test_values_outside_define_codelists():
    frame = dm_frame().assign(SEX=["F", "U", None])
    assert run("define-value-not-in-codelist", pkg(frame)) == [("DM", "SEX", 2, "S1-002")]
    weight = DefineVariable("WTU", "text", 5, order=5, codelist=UNIT)
    group = dm_group(variables=(*dm_group().variables, weight))
    frame = dm_frame().assign(WTU=["kg", "stone", "lb"])
    found = RULES["define-value-not-in-extended-codelist"].run(pkg(frame, group))
    assert [(f.record, f.value, f.severity) for f in found] == [(3, "lb", "warning")]
    assert run("define-value-not-in-codelist", pkg(frame, group)) == []


def test_numeric_codelist_values_compare_as_written():
    flag = DefineCodelist("CL.NY", "No Yes Response", frozenset({"0", "1"}))
    group = dm_group(
        variables=(*dm_group().variables, DefineVariable("FL", "integer", 8, 5, codelist=flag))
    )
    frame = dm_frame().assign(FL=[1.0, 0.0, 2.0])
    assert run("define-value-not-in-codelist", pkg(frame, group)) == [("DM", "FL", 3, "S1-003")]


def test_external_dictionary_codelist_is_not_a_term_list():
    meddra = DefineCodelist("CL.MEDDRA", "MedDRA", dictionary="MedDRA", version="26.1")
    group = dm_group(
        variables=(*dm_group().variables, DefineVariable("TERM", "text", 20, codelist=meddra))
    )
    assert run("define-value-not-in-codelist", pkg(dm_frame().assign(TERM="Headache"), group)) == []


def test_keys_identify_records():
    frame = dm_frame().assign(USUBJID=["S1-001", "S1-002", "S1-001"])
    found = RULES["define-key-not-unique"].run(pkg(frame))
    assert [(f.record, f.usubjid) for f in found] == [(3, "S1-001")]
    assert "STUDYID='S1', USUBJID='S1-001'" in found[0].message


def test_mandatory_values():
    frame = dm_frame().assign(USUBJID=["S1-001", " ", None])
    found = RULES["define-mandatory-value-missing"].run(pkg(frame))
    assert [(f.variable, f.record) for f in found] == [("USUBJID", 2), ("USUBJID", 3)]


def test_labels():
    package = pkg(labels={"SEX": "Sex", "AGE": "Age in Years"}, label="Demography")
    assert run("define-label-differs", package) == [("DM", "AGE", None, None)]
    assert run("define-dataset-label-differs", package) == [("DM", None, None, None)]


def test_class_and_structure():
    found = RULES["define-dataset-class-missing"].run(pkg(group=dm_group(cls="", structure="")))
    assert [f.dataset for f in found] == ["DM"]
    assert "without def:Class and def:Structure" in found[0].message


def test_leaf():
    assert run("define-leaf-not-file", pkg(files=("demog.xpt",))) == [("DM", None, None, None)]
    assert run("define-leaf-not-file", pkg(files=("dm.xpt",))) == []


# --- the reader and validate ------------------------------------------------------------------

DEFINE = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:def="http://www.cdisc.org/ns/def/v2.1"
     xmlns:xlink="http://www.w3.org/1999/xlink">
 <Study OID="S1"><MetaDataVersion OID="MDV.1" Name="x">
  <ItemGroupDef OID="IG.VS" Name="VS" Repeating="Yes" def:Structure="One record per measurement">
   <Description><TranslatedText xml:lang="en">Vital Signs</TranslatedText></Description>
   <ItemRef ItemOID="IT.VS.USUBJID" OrderNumber="1" Mandatory="Yes" KeySequence="1"/>
   <ItemRef ItemOID="IT.VS.VSSEQ" OrderNumber="2" Mandatory="Yes" KeySequence="2"/>
   <ItemRef ItemOID="IT.VS.VSORRESU" OrderNumber="3" Mandatory="No"/>
   <def:Class Name="FINDINGS"/>
   <def:leaf ID="LF.VS" xlink:href="vs.xpt"><def:title>vs.xpt</def:title></def:leaf>
  </ItemGroupDef>
  <ItemDef OID="IT.VS.USUBJID" Name="USUBJID" DataType="text" Length="6"/>
  <ItemDef OID="IT.VS.VSSEQ" Name="VSSEQ" DataType="integer" Length="8"/>
  <ItemDef OID="IT.VS.VSORRESU" Name="VSORRESU" DataType="text" Length="5">
   <Description><TranslatedText xml:lang="en">Original Units</TranslatedText></Description>
   <CodeListRef CodeListOID="CL.UNIT"/>
  </ItemDef>
  <CodeList OID="CL.UNIT" Name="Unit" DataType="text">
   <EnumeratedItem CodedValue="kg" OrderNumber="1"/>
   <EnumeratedItem CodedValue="stone" OrderNumber="2" def:ExtendedValue="Yes"/>
   <Alias Context="nci:ExtCodeID" Name="C71620"/>
  </CodeList>
  <CodeList OID="CL.MEDDRA" Name="MedDRA" DataType="text">
   <ExternalCodeList Dictionary="MedDRA" Version="26.1"/>
  </CodeList>
 </MetaDataVersion></Study>
</ODM>
"""


def test_read_define(tmp_path):
    path = tmp_path / "define.xml"
    path.write_text(DEFINE, encoding="utf-8")
    meta, found = read_define(path)
    assert found == []
    group = meta.groups["VS"]
    assert (group.label, group.cls, group.structure, group.leaf) == (
        "Vital Signs",
        "FINDINGS",
        "One record per measurement",
        "vs.xpt",
    )
    unit = group.variable("VSORRESU")
    assert (unit.label, unit.length, unit.order, unit.mandatory) == ("Original Units", 5, 3, False)
    assert unit.codelist.terms == {"kg", "stone"} and unit.codelist.extended == {"stone"}
    assert unit.codelist.extensible
    assert [v.key_sequence for v in group.variables] == [1, 2, None]
    assert [(d.dictionary, d.version) for d in meta.dictionaries] == [("MedDRA", "26.1")]


def test_read_define_refuses_entities_and_broken_files(tmp_path):
    path = tmp_path / "define.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE ODM [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study><MetaDataVersion>'
        '<ItemGroupDef OID="IG.X" Name="X"><Description><TranslatedText>&x;</TranslatedText>'
        "</Description></ItemGroupDef></MetaDataVersion></Study></ODM>"
    )
    meta, _ = read_define(path)
    assert meta is None or "root:" not in meta.groups["X"].label
    path.write_text("<ODM><Study>")
    meta, found = read_define(path)
    assert meta is None and [f.code for f in found] == ["define-unreadable"]
    assert MAX_DEFINE_BYTES == 256 * 1024 * 1024


@pytest.fixture
def vs_folder(tmp_path):
    frame = pd.DataFrame(
        {
            "USUBJID": ["S1-001", "S1-001", "S1-002"],
            "VSSEQ": [1.0, 2.0, 1.0],
            "VSORRESU": ["kg", "stone", "lb2"],
        }
    )
    variables = [
        XptVariable("USUBJID", "", "Char", 6),
        XptVariable("VSSEQ", "", "Num", 8),
        XptVariable("VSORRESU", "Original Units", "Char", 5),
    ]
    write_xpt(frame, tmp_path / "vs.xpt", dataset="VS", label="Vital Signs", variables=variables)
    (tmp_path / "define.xml").write_text(DEFINE, encoding="utf-8")
    return tmp_path


def test_validate_reads_define_and_honours_its_sponsor_terms(vs_folder):
    result = validate_paths([vs_folder], on_issue="none")
    assert result.package.define is not None and "VS" in result.package.define.groups
    ct = [(f.record, f.value) for f in result.findings if f.code == "ct-value-not-in-codelist"]
    # 'stone' is a sponsor term define.xml lists: no finding; 'lb2' is in neither
    assert ct == [(3, "lb2")]
    ext = [
        (f.record, f.value)
        for f in result.findings
        if f.code == "define-value-not-in-extended-codelist"
    ]
    assert ext == [(3, "lb2")]
    define_codes = {f.code for f in result.findings if f.code.startswith("define-")}
    assert define_codes == {"define-value-not-in-extended-codelist", "define-xsd-invalid"}
