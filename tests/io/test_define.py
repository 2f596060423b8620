"""define.xml 2.1 of the example run: valid against the CDISC XSDs, with the content a reviewer
reads (origins, value-level metadata, methods, codelists, dictionaries, keys), byte-identical
on rerun, rendered by the CDISC stylesheet (lxml and headless Chromium), and checked by
``trialflow validate``."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from lxml import etree
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.cli import cli
from trialflow.io.dataset_json import dataset_json_columns
from trialflow.io.define import (
    DefineDataset,
    _representative_rows,
    check_define,
    define_errors,
    write_define,
)
from trialflow.io.xpt import XptVariable, read_xpt
from trialflow.mapping.load import load_study
from trialflow.pipeline import export_run, run_study, validate_paths

NS = {
    "odm": "http://www.cdisc.org/ns/odm/v1.3",
    "def": "http://www.cdisc.org/ns/def/v2.1",
    "arm": "http://www.cdisc.org/ns/arm/v1.0",
    "xlink": "http://www.w3.org/1999/xlink",
}
DEF = "{" + NS["def"] + "}"
XLINK = "{" + NS["xlink"] + "}"
SCHEMAS = resources.files("defineutils").joinpath("validate", "schema")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("define-run")
    return run_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, out, on_issue="none",
                     formats=("xpt", "dataset-json"))  # fmt: skip


def parse(run, kind: str) -> etree._Element:
    return etree.parse(str(run.out / kind / "define.xml")).getroot()


def item_def(root: etree._Element, oid: str) -> etree._Element:
    found = root.find(f".//odm:ItemDef[@OID='{oid}']", NS)
    assert found is not None, f"no ItemDef {oid}"
    return found


def text(element: etree._Element) -> str:
    return "".join(element.itertext()).strip()


# --- schema validity -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "schema"),
    [
        ("sdtm", ("cdisc-define-2.1", "define2-1-0.xsd")),
        ("adam", ("cdisc-arm-1.0", "arm1-0-0.xsd")),
    ],
)
def test_both_documents_are_valid_against_the_cdisc_xsds(run, kind, schema):
    xsd = etree.XMLSchema(etree.parse(str(SCHEMAS.joinpath(*schema))))
    doc = etree.parse(str(run.out / kind / "define.xml"))
    assert xsd.validate(doc), [f"{e.line}: {e.message}" for e in xsd.error_log][:5]
    # the ADaM one is also plain Define-XML 2.1 apart from the ARM section
    assert doc.getroot().get(DEF + "Context") == "Submission"


def test_root_stylesheet_and_creation_date(run):
    raw = (run.out / "sdtm" / "define.xml").read_bytes()
    assert b'<?xml-stylesheet type="text/xsl" href="define2-1.xsl"?>' in raw
    root = parse(run, "sdtm")
    # study.yaml run_date: 2026-12-05 (the same date the XPT and Dataset-JSON files carry)
    assert root.get("CreationDateTime") == "2026-12-05T00:00:00"
    assert (
        json.loads((run.out / "sdtm" / "dm.json").read_text())["datasetJSONCreationDateTime"]
        == "2026-12-05T00:00:00"
    )
    assert (run.out / "sdtm" / "define2-1.xsl").is_file()
    listed = {f["path"] for f in json.loads((run.out / "manifest.json").read_text())["files"]}
    assert {"sdtm/define.xml", "adam/define.xml", "sdtm/define2-1.xsl"} <= listed


# --- content ----------------------------------------------------------------------------------


def test_every_xpt_is_an_item_group_with_a_leaf(run):
    for kind in ("sdtm", "adam"):
        root = parse(run, kind)
        groups = {g.get("Name"): g for g in root.iterfind(".//odm:ItemGroupDef", NS)}
        on_disk = {p.stem.upper() for p in (run.out / kind).glob("*.xpt")}
        assert set(groups) == on_disk
        for name, group in groups.items():
            assert group.get("OID") == f"IG.{name}"
            leaf = group.find("def:leaf", NS)
            assert leaf.get(XLINK + "href") == f"{name.lower()}.xpt"
            assert group.get(DEF + "ArchiveLocationID") == leaf.get("ID")


def test_key_sequence_equals_the_dataset_json_key_sequence(run):
    for kind in ("sdtm", "adam"):
        root = parse(run, kind)
        for path in sorted((run.out / kind).glob("*.json")):
            doc = json.loads(path.read_text())
            expected = {c["itemOID"]: c.get("keySequence") for c in doc["columns"]}
            group = root.find(f".//odm:ItemGroupDef[@OID='{doc['itemGroupOID']}']", NS)
            got = {
                r.get("ItemOID"): (int(r.get("KeySequence")) if r.get("KeySequence") else None)
                for r in group.iterfind("odm:ItemRef", NS)
            }
            assert got == expected, path.name


def test_data_types_agree_with_dataset_json(run):
    to_define = {
        "integer": {"integer"},
        "double": {"float"},
        "date": {"integer"},
        "datetime": {"integer"},
        "string": {"text", "datetime", "durationDatetime"},
    }
    for kind in ("sdtm", "adam"):
        root = parse(run, kind)
        for path in sorted((run.out / kind).glob("*.json")):
            for column in json.loads(path.read_text())["columns"]:
                item = item_def(root, column["itemOID"])
                assert item.get("DataType") in to_define[column["dataType"]], column["itemOID"]
                if item.get("DataType") == "text":
                    assert int(item.get("Length")) == column["length"]


def test_aeterm_is_collected_on_form_ae_field_ae_term(run):
    origin = item_def(parse(run, "sdtm"), "IT.AE.AETERM").find("def:Origin", NS)
    assert origin.get("Type") == "Collected" and origin.get("Source") == "Investigator"
    assert text(origin) == "Form AE, field AE_TERM"


def test_derived_and_assigned_origins(run):
    root = parse(run, "sdtm")
    aeseq = item_def(root, "IT.AE.AESEQ")
    assert aeseq.find("def:Origin", NS).get("Type") == "Derived"
    ref = root.find(".//odm:ItemRef[@ItemOID='IT.AE.AESEQ']", NS)
    method = root.find(f".//odm:MethodDef[@OID='{ref.get('MethodOID')}']", NS)
    assert "order of STUDYID, USUBJID, AEDECOD, AESTDTC" in text(method)
    lbspec = item_def(root, "IT.LB.LBSPEC").find("def:Origin", NS)
    assert lbspec.get("Type") == "Assigned" and "SERUM" in text(lbspec)
    # EXENDTC is not collected in this study: a comment says so
    exendtc = item_def(root, "IT.EX.EXENDTC")
    comment_oid = exendtc.get(DEF + "CommentOID")
    comment = root.find(f".//def:CommentDef[@OID='{comment_oid}']", NS)
    assert "EXENDTC not collected" in text(comment)


def test_adsl_age_is_a_predecessor_of_dm_age(run):
    origin = item_def(parse(run, "adam"), "IT.ADSL.AGE").find("def:Origin", NS)
    assert origin.get("Type") == "Predecessor"
    assert text(origin) == "DM.AGE"


def test_lb_value_level_metadata_has_one_where_clause_per_test(run):
    lb, _ = read_xpt(run.out / "sdtm" / "lb.xpt")
    tests = sorted(lb["LBTESTCD"].dropna().unique())
    root = parse(run, "sdtm")
    clauses = [w.get("OID") for w in root.iterfind(".//def:WhereClauseDef", NS)
               if w.get("OID").startswith("WC.LB.")]  # fmt: skip
    assert clauses == [f"WC.LB.LBTESTCD.{t}" for t in tests]
    for target in ("LBORRES", "LBSTRESN"):
        vl = root.find(f".//def:ValueListDef[@OID='VL.LB.{target}']", NS)
        assert len(vl) == len(tests)
        assert (
            item_def(root, f"IT.LB.{target}").find("def:ValueListRef", NS).get("ValueListOID")
            == f"VL.LB.{target}"
        )
    check = root.find(".//def:WhereClauseDef[@OID='WC.LB.LBTESTCD.GLUC']/odm:RangeCheck", NS)
    assert check.get("Comparator") == "EQ"
    assert check.get(DEF + "ItemOID") == "IT.LB.LBTESTCD"
    assert check.findtext("odm:CheckValue", namespaces=NS) == "GLUC"
    # the glucose results' decimals: the most decimals of any LBSTRESN of GLUC
    gluc = lb.loc[lb["LBTESTCD"] == "GLUC", "LBSTRESN"].dropna()
    decimals = max(len(f"{v:.10f}".rstrip("0").split(".")[1]) for v in gluc)
    item = item_def(root, "IT.LB.LBSTRESN.GLUC")
    assert int(item.get("SignificantDigits") or 0) == decimals


def test_adam_parameters_value_level_and_homa_methods(run):
    root = parse(run, "adam")
    adlb, _ = read_xpt(run.out / "adam" / "adlb.xpt")
    params = sorted(adlb["PARAMCD"].unique())
    vl = root.find(".//def:ValueListDef[@OID='VL.ADLB.AVAL']", NS)
    assert [r.get("ItemOID") for r in vl] == [f"IT.ADLB.AVAL.{p}" for p in params]
    method = root.find(".//odm:MethodDef[@OID='MT.ADLB.AVAL.HOMAIR']", NS)
    # study.yaml: HOMA-IR = 1.5 + FCP x FPG / 2800; HOMA-B = 0.27 x FCP / (FPG - 3.5)
    assert "HOMA-IR = 1.5 + FCP x FPG / 2800" in text(method)
    homab = root.find(".//odm:MethodDef[@OID='MT.ADLB.AVAL.HOMAB']", NS)
    assert "0.27 x FCP / (FPG - 3.5)" in text(homab)
    ablfl = root.find(".//odm:MethodDef[@OID='MT.ADLB.ABLFL']", NS)
    assert "on or before TRTSDT" in text(ablfl)
    avisit = root.find(".//odm:MethodDef[@OID='MT.ADLB.AVISIT']", NS)
    assert "DAY 0" in text(avisit)
    fcp = root.find(".//odm:MethodDef[@OID='MT.ADLB.AVAL.FCP']", NS)
    assert fcp.get("Type") == "Imputation" and "half the limit" in text(fcp)
    paramcd = root.find(".//odm:CodeList[@OID='CL.ADLB.PARAMCD']", NS)
    decodes = {i.get("CodedValue"): text(i) for i in paramcd.iterfind("odm:CodeListItem", NS)}
    assert decodes["HOMAIR"] == "HOMA-IR (C-peptide)"
    assert sorted(decodes) == params


def test_codelists_hold_the_terms_used_with_their_c_codes(run):
    root = parse(run, "sdtm")
    sex = root.find(".//odm:CodeList[@OID='CL.SEX']", NS)
    # CDISC CT: codelist SEX is C66731, F is C16576, M is C20197; the example has both sexes
    assert sex.find("odm:Alias", NS).get("Name") == "C66731"
    terms = {i.get("CodedValue"): i.find("odm:Alias", NS).get("Name")
             for i in sex.iterfind("odm:EnumeratedItem", NS)}  # fmt: skip
    assert terms == {"F": "C16576", "M": "C20197"}
    standards = {s.get("Name"): s.get("Version") for s in root.iterfind(".//def:Standard", NS)}
    assert standards == {"SDTMIG": "3.4", "CDISC/NCI": "2024-09-27"}


def test_meddra_is_an_external_dictionary_with_the_coding_file_version(run):
    coding = pd.read_csv(EXAMPLE_SPECS / "ae-coding.csv", dtype=str)
    version = coding["VERSION"].unique().tolist()
    assert version == ["26.1"]
    root = parse(run, "sdtm")
    external = root.find(".//odm:CodeList[@OID='CL.MedDRA']/odm:ExternalCodeList", NS)
    assert (external.get("Dictionary"), external.get("Version")) == ("MedDRA", "26.1")
    decod = item_def(root, "IT.AE.AEDECOD")
    assert decod.find("odm:CodeListRef", NS).get("CodeListOID") == "CL.MedDRA"
    assert decod.find("def:Origin", NS).get("Type") == "Assigned"


def test_sponsor_codelists_of_study_yaml_are_described(run):
    # study.yaml controlled_terms: AEREL and CMCAT are no CDISC codelists, so they are sponsor
    # codelists of exactly their declared terms, bound to the variables of the same name
    root = parse(run, "sdtm")
    for variable, domain, terms in (
        ("AEREL", "AE", ["NOT RELATED", "POSSIBLY RELATED", "RELATED"]),
        ("CMCAT", "CM", ["GENERAL CONCOMITANT MEDICATION", "HYPOGLYCAEMIC AGENT"]),
    ):
        codelist = root.find(f".//odm:CodeList[@OID='CL.{variable}']", NS)
        assert [i.get("CodedValue") for i in codelist.iterfind("odm:EnumeratedItem", NS)] == terms
        assert codelist.find("odm:Alias", NS) is None  # no NCI code: not CDISC CT
        ref = item_def(root, f"IT.{domain}.{variable}").find("odm:CodeListRef", NS)
        assert ref.get("CodeListOID") == f"CL.{variable}"
    # a CDISC codelist keeps its CT description (SEX: C66731)
    sex = root.find(".//odm:CodeList[@OID='CL.SEX']", NS)
    assert sex.find("odm:Alias", NS).get("Name") == "C66731"


def test_adam_classes_and_arm(run):
    root = parse(run, "adam")
    classes = {g.get("Name"): g.find("def:Class", NS).get("Name")
               for g in root.iterfind(".//odm:ItemGroupDef", NS)}  # fmt: skip
    assert classes == {"ADSL": "SUBJECT LEVEL ANALYSIS DATASET", "ADAE":
                       "OCCURRENCE DATA STRUCTURE", "ADLB": "BASIC DATA STRUCTURE",
                       "ADVS": "BASIC DATA STRUCTURE",
                       "ADCM": "OCCURRENCE DATA STRUCTURE",
                       "ADDOSE": "BASIC DATA STRUCTURE"}  # fmt: skip
    # OCCDS 1.1 defines the ADVERSE EVENT subclass only: ADCM has none; each dataset's
    # def:Structure says what its record is (ADDOSE: one per visit, not per lab time point)
    groups = {g.get("Name"): g for g in root.iterfind(".//odm:ItemGroupDef", NS)}
    subclasses = {name: [s.get("Name") for s in g.iterfind("def:Class/def:SubClass", NS)]
                  for name, g in groups.items()}  # fmt: skip
    assert subclasses["ADAE"] == ["ADVERSE EVENT"] and subclasses["ADCM"] == []
    structure = {name: g.get(f"{{{NS['def']}}}Structure") for name, g in groups.items()}
    assert structure["ADDOSE"] == "One record per subject per parameter per analysis visit"
    assert structure["ADCM"] == "One record per subject per recorded medication regimen"
    assert structure["ADAE"] == "One record per subject per adverse event"
    results = [r.get("OID") for r in root.iterfind(".//arm:AnalysisResult", NS)]
    # study.yaml analysis.endpoints: ADLB FPG, P2PG, HBA1C, FCP, P2CP, HOMAIR, HOMAB
    # ... and analysis.dose: the dose categories of TOTDDD (purpose: exploratory)
    assert results == [f"AR.ADLB.{p}.CFB" for p in
                       ("FPG", "P2PG", "HBA1C", "FCP", "P2CP", "HOMAIR", "HOMAB")] + [
                       "AR.ADDOSE.TOTDDD.CAT"]  # fmt: skip
    # study.yaml's analysis section (the SAP) declares FPG and HBA1C primary, the rest secondary
    roles = {r.get("OID"): (r.get("AnalysisPurpose"), r.get("AnalysisReason"))
             for r in root.iterfind(".//arm:AnalysisResult", NS)}  # fmt: skip
    primary = ("PRIMARY OUTCOME MEASURE", "SPECIFIED IN SAP")
    secondary = ("SECONDARY OUTCOME MEASURE", "SPECIFIED IN SAP")
    params = ("FPG", "P2PG", "HBA1C", "FCP", "P2CP", "HOMAIR", "HOMAB")
    assert roles == {f"AR.ADLB.{p}.CFB": primary if p in ("FPG", "HBA1C") else secondary
                     for p in params} | {
                     "AR.ADDOSE.TOTDDD.CAT": ("EXPLORATORY OUTCOME MEASURE", "SPECIFIED IN SAP")
                     }  # fmt: skip


# --- reruns, export ----------------------------------------------------------------------------


def test_export_from_the_xpts_rewrites_the_same_bytes(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run.out, copy)
    before = {k: (copy / k / "define.xml").read_bytes() for k in ("sdtm", "adam")}
    written = export_run(copy, ["define"], study_dir=EXAMPLE_SPECS)
    assert {p.relative_to(copy).as_posix() for p in written} >= {
        "sdtm/define.xml",
        "adam/define.xml",
    }
    for kind, data in before.items():
        assert (copy / kind / "define.xml").read_bytes() == data


def test_rerun_is_byte_identical(run, tmp_path):
    again = run_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, tmp_path, on_issue="none",
                      formats=("xpt", "dataset-json"))  # fmt: skip
    for kind in ("sdtm", "adam"):
        assert (again.out / kind / "define.xml").read_bytes() == (
            run.out / kind / "define.xml"
        ).read_bytes()


# --- validate ---------------------------------------------------------------------------------


def test_validate_on_the_run_folder_finds_no_submission_error(run):
    result = validate_paths([run.out])
    codes = [f.code for f in result.findings if f.severity == "error"]
    assert codes == []
    assert {"DM", "TS", "ADSL", "ADLB"} <= set(result.report.datasets)


def test_validate_reports_missing_ts_and_define_and_xsd_errors(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run.out, copy, ignore=shutil.ignore_patterns("*.json"))
    (copy / "sdtm" / "ts.xpt").unlink()
    (copy / "adam" / "define.xml").unlink()
    # the folder checks: define.xml present and valid (a missing TS is the rule ts-missing)
    assert check_define(copy / "sdtm", "sdtm") == []
    assert [f.code for f in check_define(copy / "adam", "adam")] == ["define-missing"]

    define = copy / "sdtm" / "define.xml"
    lines = define.read_text(encoding="utf-8").splitlines(keepends=True)
    line = next(i for i, t in enumerate(lines, 1) if 'OID="IT.DM.AGE"' in t and "ItemDef" in t)
    lines[line - 1] = lines[line - 1].replace('DataType="integer"', 'DataType="number"')
    define.write_text("".join(lines), encoding="utf-8")
    xsd = [f for f in check_define(copy / "sdtm", "sdtm") if f.code == "define-xsd-invalid"]
    assert xsd and xsd[0].source.row == line and "number" in xsd[0].message

    result = validate_paths([copy])
    codes = {f.code for f in result.findings if f.severity == "error"}
    assert {"ts-missing", "define-missing", "define-xsd-invalid"} <= codes
    assert [f.code for f in result.findings].count("ts-missing") == 1
    # define.xml still describes TS: the define rules compare it with the data read
    gone = [f for f in result.findings if f.code == "define-dataset-not-on-disk"]
    assert [(f.dataset, f.severity) for f in gone] == [("TS", "error")]


# --- rendering --------------------------------------------------------------------------------


def rendered(run, kind: str) -> str:
    xsl = etree.XSLT(etree.parse(str(run.out / kind / "define2-1.xsl")))
    return str(xsl(etree.parse(str(run.out / kind / "define.xml"))))


def test_the_stylesheet_renders_every_dataset_and_the_methods(run):
    for kind in ("sdtm", "adam"):
        page = etree.HTML(rendered(run, kind))
        body = " ".join(page.itertext())
        for path in (run.out / kind).glob("*.xpt"):
            assert path.name in body or path.stem.upper() in body
        assert "Methods" in body or "Computational Algorithms" in body
    assert "HOMA-IR = 1.5 + FCP x FPG / 2800" in rendered(run, "adam")


def test_chromium_shows_the_define_page(run, chromium, tmp_path):
    command = [
        chromium, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
        # define.xml names its stylesheet beside it; Chromium applies it to a local file
        # only when local files may load each other
        "--allow-file-access-from-files", "--dump-dom", "--virtual-time-budget=5000",
        (run.out / "adam" / "define.xml").as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<table" in dom  # the stylesheet ran: the XML became an HTML page
    assert "adlb.xpt" in dom and "Laboratory Analysis Dataset" in dom
    assert "HOMA-IR = 1.5 + FCP x FPG / 2800" in dom


# --- units ------------------------------------------------------------------------------------


def test_a_sponsor_term_of_an_extensible_codelist_is_flagged_extended(tmp_path):
    vs = pd.DataFrame(
        {
            "STUDYID": ["S1"] * 2,
            "DOMAIN": ["VS"] * 2,
            "USUBJID": ["S1-01"] * 2,
            "VSTESTCD": ["SYSBP", "SYSBP"],
            "VSORRESU": ["mmHg", "mm of water"],
        }
    )
    path = write_define([DefineDataset("VS", vs)], tmp_path, kind="sdtm", studyid="S1")
    root = etree.parse(str(path)).getroot()
    # VSORRESU takes codelist VSRESU (C66770, extensible); mmHg is C49670 in CDISC CT
    codelist = root.find(".//odm:CodeList[@OID='CL.VSRESU']", NS)
    items = {i.get("CodedValue"): i for i in codelist.iterfind("odm:EnumeratedItem", NS)}
    assert items["mmHg"].find("odm:Alias", NS).get("Name") == "C49670"
    assert items["mmHg"].get(DEF + "ExtendedValue") is None
    assert items["mm of water"].get(DEF + "ExtendedValue") == "Yes"
    assert items["mm of water"].find("odm:Alias", NS) is None
    assert define_errors(path) == []


def test_metadata_from_the_deciding_rows_equals_the_metadata_of_all_rows():
    rng = np.random.default_rng(3)
    n = 5_000
    # "ünïcödé" is 7 characters but 11 bytes in UTF-8, longer than "abcdefghi" (9 and 9)
    words = np.array(["a", "bb", "ccc", "ünïcödé", "", "abcdefghi"])
    frame = pd.DataFrame(
        {
            "TEXT": words[rng.integers(0, len(words), n)],
            "WHOLE": rng.integers(-50, 50, n).astype("float64"),
            "HALVES": rng.integers(0, 9, n) / 2,
            "DATE": rng.integers(20000, 23000, n).astype("float64"),
            "EMPTY": [None] * n,
        }
    )
    frame.loc[rng.random(n) < 0.2, ["TEXT", "HALVES", "DATE"]] = None
    variables = [XptVariable("DATE", "Date", "Num", format="DATE9.")]
    full = dataset_json_columns(frame, dataset="X", variables=variables, keys=["TEXT"])
    few = _representative_rows(frame)
    assert len(few) <= frame.shape[1]
    assert dataset_json_columns(few, dataset="X", variables=variables, keys=["TEXT"]) == full
    assert full[0]["length"] == 11


def test_the_cli_exports_define_and_validates_the_run_folder(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run.out, copy)
    (copy / "adam" / "define.xml").unlink()
    runner = CliRunner()
    failed = runner.invoke(cli, ["validate", str(copy)])
    assert failed.exit_code == 1 and "define-missing" in failed.output
    exported = runner.invoke(
        cli, ["export", str(copy), "--format", "define", "--study", str(EXAMPLE_SPECS), "-q"]
    )
    assert exported.exit_code == 0, exported.output
    assert "adam/define.xml" in exported.output
    assert (copy / "adam" / "define.xml").read_bytes() == (
        run.out / "adam" / "define.xml"
    ).read_bytes()
    passed = runner.invoke(cli, ["validate", str(copy)])
    assert passed.exit_code == 0, passed.output


def test_purpose_names_parameters_of_the_endpoint():
    from pydantic import ValidationError

    from trialflow.mapping.spec import EndpointSpec

    with pytest.raises(ValidationError, match=r"purpose names HOMAB, not in paramcd \(FPG\)"):
        EndpointSpec(dataset="ADLB", paramcd=["FPG"], purpose={"HOMAB": "primary"})


def test_analyses_without_a_declared_purpose_get_no_analysis_results(run, tmp_path):
    """ARM's AnalysisPurpose is the SAP's to declare: an endpoint without `purpose` is left out
    of the analysis results rather than given a role."""
    study = load_study(EXAMPLE_SPECS)
    endpoints = [e.model_copy(update={"purpose": None}) for e in study.spec.analysis.endpoints]
    spec = study.spec.model_copy(
        update={"analysis": study.spec.analysis.model_copy(update={"endpoints": endpoints})}
    )
    adlb, _ = read_xpt(run.out / "adam" / "adlb.xpt")
    path = write_define(
        [DefineDataset("ADLB", adlb)], tmp_path, kind="adam", studyid=study.studyid, spec=spec
    )
    root = etree.parse(str(path)).getroot()
    assert root.find(".//arm:AnalysisResultDisplays", NS) is None
    assert define_errors(path) == []


def test_supp_dataset_is_described_with_its_sdtmig_label(run):
    group = parse(run, "sdtm").find(".//odm:ItemGroupDef[@OID='IG.SUPPEX']", NS)
    assert group.get("Name") == "SUPPEX"
    # SDTMIG: SUPP-- datasets are named "Supplemental Qualifiers for <parent domain label>"
    assert group.find("odm:Description/odm:TranslatedText", NS).text == (
        "Supplemental Qualifiers for Exposure"
    )
