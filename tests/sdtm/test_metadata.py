"""SDTMIG 3.4 variable metadata and CDISC CT shipped as package data (trialflow.sdtm.metadata)."""

import pandas as pd
import pytest

from trialflow.errors import TrialflowError
from trialflow.sdtm import metadata as md
from trialflow.sdtm.metadata import (
    Codelist,
    MetadataError,
    UnknownDomain,
    codelist,
    ct_version,
    domain_keys,
    domain_label,
    domain_variables,
    known_domains,
)

TRIAL_DESIGN = ["TS", "TA", "TE", "TV", "TI"]
DOMAINS = ["AE", "CM", "DM", "DS", "EX", "LB", "MH", "SE", "SUPPQUAL", "SV", "TA", "TE", "TI", "TS",
           "TV", "VS"]  # fmt: skip


def all_variables() -> pd.DataFrame:
    return pd.concat([domain_variables(d) for d in known_domains()], ignore_index=True)


def all_ct() -> pd.DataFrame:
    return md._ct().copy()


# --- versions and domains -------------------------------------------------------------------


def test_versions():
    assert md.SDTMIG_VERSION == "3.4"
    assert ct_version() == md.CT_VERSION == "2024-09-27"


def test_known_domains():
    assert known_domains() == DOMAINS


@pytest.mark.parametrize(
    ("domain", "label", "count"),
    [
        ("DM", "Demographics", 32),
        ("VS", "Vital Signs", 38),
        ("LB", "Laboratory Test Results", 62),
        ("EX", "Exposure", 37),
        ("AE", "Adverse Events", 60),
        ("CM", "Concomitant/Prior Medications", 41),
        ("MH", "Medical History", 27),
        ("TS", "Trial Summary", 11),
        ("TA", "Trial Arms", 10),
        ("TE", "Trial Elements", 7),
        ("TV", "Trial Visits", 9),
        ("TI", "Trial Inclusion/Exclusion Criteria", 8),
        ("SV", "Subject Visits", 16),
        ("SE", "Subject Elements", 13),
    ],
)
def test_domain_label_and_completeness(domain, label, count):
    assert domain_label(domain) == label
    frame = domain_variables(domain)
    assert len(frame) == count
    assert frame["order"].tolist() == list(range(1, count + 1))
    assert frame["name"].is_unique
    assert (frame["dataset"] == domain).all()


def test_dm_starts_in_ig_order():
    names = domain_variables("DM")["name"].tolist()
    assert names[:5] == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID", "RFSTDTC"]
    for later in ["RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL", "INVID", "INVNAM", "AGEU"]:
        assert later in names
    assert names.index("ARMNRS") < names.index("ACTARMUD") < names.index("COUNTRY")
    assert names[-2:] == ["DMDTC", "DMDY"]


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        (
            "VS",
            "VSGRPID VSSPID VSCAT VSSCAT VSPOS VSSTAT VSREASND VSLOC VSLAT VSLOBXFL VSBLFL "
            "VSDRVFL VSTOX VSTOXGR TAETORD EPOCH VSTPT VSTPTNUM VSELTM VSTPTREF VSRFTDTC",
        ),
        (
            "LB",
            "LBREFID LBSPID LBSCAT LBORNRLO LBORNRHI LBSTNRLO LBSTNRHI LBSTNRC LBNRIND LBSTAT "
            "LBREASND LBNAM LBLOINC LBSPEC LBSPCCND LBMETHOD LBLOBXFL LBBLFL LBFAST LBDRVFL LBTOX "
            "LBTOXGR VISITDY TAETORD EPOCH LBENDTC LBENDY LBTPT LBTPTNUM LBELTM LBTPTREF LBRFTDTC",
        ),
        (
            "EX",
            "EXLNKID EXLNKGRP EXSCAT EXDOSTXT EXDOSRGM EXLOC EXLAT EXDIR EXFAST EXADJ EPOCH "
            "EXDUR EXTPT",
        ),
        (
            "AE",
            "AELNKID AELLT AELLTCD AEPTCD AEHLT AEHLTCD AEHLGT AEHLGTCD AEBDSYCD AESOC AESOCCD "
            "AELOC AETOXGR AEACNOTH AEPATT AESMIE AERELNST AESINTV TAETORD EPOCH AEDUR AEENRF "
            "AEENRTPT AEENTPT",
        ),
    ],
)
def test_domains_have_the_ig_variables(domain, expected):
    names = set(domain_variables(domain)["name"])
    # AELNKID is not an SDTMIG 3.4 AE variable (it is in the general Events class only)
    missing = [n for n in expected.split() if n not in names and n != "AELNKID"]
    assert missing == []
    assert "AELNKID" not in set(domain_variables("AE")["name"])


def test_known_core_type_role_values():
    def row(domain, name):
        frame = domain_variables(domain)
        return frame.set_index("name").loc[name]

    assert row("DM", "SEX")[["core", "codelist", "codelist_code"]].tolist() == [
        "Req",
        "SEX",
        "C66731",
    ]
    assert row("DM", "AGE")["type"] == "Num"
    assert row("DM", "ARMCD")["core"] == "Exp"
    assert row("DM", "DTHFL")[["codelist", "codelist_code"]].tolist() == ["NY", "C66742"]
    assert row("LB", "LBSTRESN")[["type", "core", "role"]].tolist() == [
        "Num",
        "Exp",
        "Result Qualifier",
    ]
    assert row("LB", "LBTESTCD")[["role", "codelist_code"]].tolist() == ["Topic", "C65047"]
    assert row("LB", "LBORRESU")["codelist"] == "UNIT"
    assert row("VS", "VSORRESU")[["codelist", "codelist_code"]].tolist() == ["VSRESU", "C66770"]
    assert row("EX", "EXDOSU")[["core", "codelist"]].tolist() == ["Exp", "UNIT"]
    assert row("AE", "AEDECOD")["core"] == "Req"
    assert row("AE", "AELLTCD")["type"] == "Num"
    assert row("AE", "AEENRTPT")[["codelist", "codelist_code"]].tolist() == ["STENRF", "C66728"]
    assert row("CM", "CMSTDTC")["core"] == "Perm"
    assert row("MH", "MHENRTPT")[["codelist", "codelist_code"]].tolist() == ["STENRF", "C66728"]
    assert row("MH", "MHOCCUR")[["role", "codelist"]].tolist() == ["Record Qualifier", "NY"]
    assert row("MH", "MHDY")["type"] == "Num"
    assert row("MH", "MHDY")["label"] == "Study Day of History Collection"
    # MHEDTTYP does not ship: the C-code is kept, the short name is blank
    assert row("MH", "MHEVDTYP")[["codelist", "codelist_code"]].tolist() == ["", "C124301"]


def test_mh_is_the_ig_table_in_ig_order():
    mh = domain_variables("MH")
    ig = (
        "STUDYID DOMAIN USUBJID MHSEQ MHGRPID MHREFID MHSPID MHTERM MHMODIFY MHDECOD MHEVDTYP "
        "MHCAT MHSCAT MHPRESP MHOCCUR MHSTAT MHREASND MHBODSYS TAETORD EPOCH MHDTC MHSTDTC "
        "MHENDTC MHDY MHENRF MHENRTPT MHENTPT"
    )
    assert mh["name"].tolist() == ig.split(" ")
    required = mh.loc[mh["core"] == "Req", "name"].tolist()
    assert required == ["STUDYID", "DOMAIN", "USUBJID", "MHSEQ", "MHTERM"]
    assert set(mh.loc[mh["core"] != "Req", "core"]) == {"Perm"}
    label = mh.set_index("name")["label"]
    assert label["MHSTDTC"] == "Start Date/Time of Medical History Event"


def test_values_are_from_the_allowed_sets():
    frame = all_variables()
    assert set(frame["type"]) == {"Char", "Num"}
    assert set(frame["core"]) == {"Req", "Exp", "Perm"}
    assert set(frame["role"]) <= {
        "Identifier",
        "Topic",
        "Timing",
        "Synonym Qualifier",
        "Grouping Qualifier",
        "Result Qualifier",
        "Record Qualifier",
        "Variable Qualifier",
        "Rule",  # trial design rules (TESTRL, TVSTRL, TATRANS, ...)
    }
    assert frame["codelist_code"].isin([""]).sum() > 0
    coded = frame.loc[frame["codelist_code"] != "", "codelist_code"]
    assert coded.str.fullmatch(r"C\d+").all()


def test_labels_fit_xpt_and_names_are_sdtm_names():
    frame = all_variables()
    too_long = frame.loc[frame["label"].str.len() > 40, "name"].tolist()
    assert too_long == []
    assert frame["label"].map(str.isascii).all()
    assert (frame["label"].str.len() > 0).all()
    assert (frame["name"].str.len() <= 8).all()
    assert frame["name"].str.fullmatch(r"[A-Z][A-Z0-9]*").all()
    for domain in DOMAINS:
        assert len(domain_label(domain)) <= 40


def test_every_codelist_named_in_the_variables_exists_in_ct():
    frame = all_variables()
    named = frame.loc[frame["codelist"] != "", ["codelist", "codelist_code"]].drop_duplicates()
    for short, code in named.itertuples(index=False):
        cl = codelist(short)
        assert cl.code == code, short


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_keys_are_variables_of_the_domain(domain):
    keys = domain_keys(domain)
    names = domain_variables(domain)["name"].tolist()
    # trial design datasets describe the plan: no subjects
    first = ["STUDYID"] if domain in TRIAL_DESIGN else ["STUDYID", "USUBJID"]
    if domain == "SUPPQUAL":  # SDTMIG 3.4 section 8.4: the related domain comes first
        first = ["STUDYID", "RDOMAIN", "USUBJID"]
    assert keys[: len(first)] == first
    assert [k for k in keys if k not in names] == []


def test_ds_variables_as_the_sdtmig_gives_them():
    # SDTMIG 3.4 section 6.2.3 DS table; keys from section 3.2.1
    ds = domain_variables("DS")
    assert ds["name"].tolist() == [
        "STUDYID", "DOMAIN", "USUBJID", "DSSEQ", "DSGRPID", "DSREFID", "DSSPID", "DSTERM",
        "DSDECOD", "DSCAT", "DSSCAT", "EPOCH", "DSDTC", "DSSTDTC", "DSDY", "DSSTDY",
    ]  # fmt: skip
    assert domain_keys("DS") == ["STUDYID", "USUBJID", "DSDECOD", "DSSTDTC"]
    assert domain_label("DS") == "Disposition"
    assert set(ds["class"]) == {"Events"}
    by = ds.set_index("name")
    assert by.loc[["DSTERM", "DSDECOD", "DSCAT", "DSSTDTC", "DSSTDY"], "core"].tolist() == [
        "Req", "Req", "Exp", "Exp", "Exp"]  # fmt: skip
    assert by.loc["DSDECOD", ["codelist", "codelist_code"]].tolist() == ["NCOMPLT", "C66727"]
    assert by.loc["DSCAT", ["codelist", "codelist_code"]].tolist() == ["DSCAT", "C74558"]
    assert by.loc["DSSCAT", ["codelist", "codelist_code"]].tolist() == ["", "C170443"]
    assert by.loc[["DSSEQ", "DSDY", "DSSTDY"], "type"].tolist() == ["Num"] * 3
    assert by.loc["DSTERM", "label"] == "Reported Term for the Disposition Event"


def test_disposition_codelists():
    # CDISC CT: C74558 (not extensible) and the NCOMPLT terms the example uses
    dscat = codelist("DSCAT")
    assert dscat.code == "C74558" and not dscat.extensible
    terms = all_ct().query("codelist == 'DSCAT'").set_index("term")["term_code"].to_dict()
    assert terms == {
        "DISPOSITION EVENT": "C74590", "OTHER EVENT": "C150824", "PROTOCOL MILESTONE": "C74588"
    }  # fmt: skip
    ncomplt = all_ct().query("codelist == 'NCOMPLT'").set_index("term")["term_code"]
    assert ncomplt[["COMPLETED", "WITHDRAWAL BY SUBJECT", "LOST TO FOLLOW-UP"]].tolist() == [
        "C25250", "C49634", "C48227"]  # fmt: skip


def test_trial_design_keys_and_classes():
    # SDTMIG 3.4 section 3.2.1 (dataset-level metadata)
    assert {d: domain_keys(d) for d in [*TRIAL_DESIGN, "SV", "SE"]} == {
        "TS": ["STUDYID", "TSPARMCD", "TSSEQ"],
        "TA": ["STUDYID", "ARMCD", "TAETORD"],
        "TE": ["STUDYID", "ETCD"],
        "TV": ["STUDYID", "VISITNUM", "ARMCD"],
        "TI": ["STUDYID", "IETESTCD"],
        "SV": ["STUDYID", "USUBJID", "VISITNUM"],
        "SE": ["STUDYID", "USUBJID", "ETCD", "SESTDTC"],
    }
    classes = {d: domain_variables(d)["class"].iloc[0] for d in [*TRIAL_DESIGN, "SV", "SE"]}
    assert classes == {
        **dict.fromkeys(TRIAL_DESIGN, "Trial Design"),
        "SV": "Special-Purpose",
        "SE": "Special-Purpose",
    }
    sv = domain_variables("SV").set_index("name")
    assert sv.loc[["SVPRESP", "SVOCCUR"], "core"].tolist() == ["Exp", "Exp"]
    assert sv.loc["SVOCCUR", "codelist"] == "NY"
    assert domain_variables("TV").set_index("name").loc["VISITDY", "type"] == "Num"


def test_domain_keys_values():
    assert domain_keys("DM") == ["STUDYID", "USUBJID"]
    assert domain_keys("LB") == [
        "STUDYID", "USUBJID", "LBTESTCD", "LBSPEC", "VISITNUM", "LBTPTREF", "LBTPTNUM",
    ]  # fmt: skip
    assert domain_keys("EX") == ["STUDYID", "USUBJID", "EXTRT", "EXSTDTC"]
    assert domain_keys("AE") == ["STUDYID", "USUBJID", "AEDECOD", "AESTDTC"]
    assert domain_keys("MH") == ["STUDYID", "USUBJID", "MHDECOD"]


def test_domain_lookup_ignores_case_and_blanks():
    assert domain_label(" dm ") == "Demographics"


# --- controlled terminology -----------------------------------------------------------------


def test_sex():
    sex = codelist("SEX")
    assert isinstance(sex, Codelist)
    assert (sex.name, sex.code, sex.label, sex.extensible) == ("SEX", "C66731", "Sex", False)
    terms = sex.terms.set_index("term")["term_code"].to_dict()
    assert terms == {"F": "C16576", "M": "C20197", "U": "C17998", "INTERSEX": "C45908"}


@pytest.mark.parametrize(
    ("name", "code", "extensible"),
    [
        ("NY", "C66742", False),
        ("UNIT", "C71620", True),
        ("LBTESTCD", "C65047", True),
        ("LBTEST", "C67154", True),
        ("VSTESTCD", "C66741", True),
        ("VSTEST", "C67153", True),
        ("VSRESU", "C66770", True),
        ("RACE", "C74457", False),
        ("ETHNIC", "C66790", False),
        ("AGEU", "C66781", False),
        ("COUNTRY", "C66786", False),
        ("EPOCH", "C99079", True),
        ("SPECTYPE", "C78734", True),
        ("POSITION", "C71148", True),
        ("ROUTE", "C66729", True),
        ("FRM", "C66726", True),
        ("FREQ", "C71113", True),
        ("AESEV", "C66769", False),
        ("OUT", "C66768", False),
        ("ACN", "C66767", False),
        ("NRIND", "C78736", True),
        ("METHOD", "C85492", True),
    ],
)
def test_codelist_codes(name, code, extensible):
    by_name = codelist(name)
    assert (by_name.code, by_name.extensible) == (code, extensible)
    assert codelist(code).name == name
    assert len(by_name.terms) > 0


def test_every_codelist_has_a_code_and_one_header():
    ct = all_ct()
    per = ct.groupby("codelist")[["codelist_code", "codelist_name", "extensible"]].nunique()
    assert (per == 1).all().all()
    assert ct["codelist_code"].str.fullmatch(r"C\d+").all()
    assert set(ct["extensible"]) == {"Y", "N"}
    assert not ct.duplicated(["codelist", "term"]).any()
    filled = ct.loc[ct["term_code"] != "", "term_code"]
    assert filled.str.fullmatch(r"C\d+").all()


def test_full_term_lists_ship():
    assert len(codelist("LBTESTCD").terms) == 2447
    assert len(codelist("LBTEST").terms) == 2447
    assert len(codelist("UNIT").terms) == 922
    assert len(codelist("COUNTRY").terms) >= 240


def test_lab_terms():
    cd = codelist("LBTESTCD").terms.set_index("term")
    name = codelist("LBTEST").terms.set_index("term")
    assert cd.loc["GLUC", "term_code"] == "C105585"
    assert "Glucose" in cd.loc["GLUC", "synonyms"]
    assert name.loc["Glucose", "term_code"] == "C105585"
    assert cd.loc["CPEPTIDE", "term_code"] == name.loc["C-peptide", "term_code"] == "C74736"
    expected = {
        "HBA1C": "C64849",
        "INSULIN": "C74788",
        "WBC": "C51948",
        "ALT": "C64433",
        "CREAT": "C64547",
        "AFP": "C74732",
        "CEA": "C81983",
        "CA19_9AG": "C81982",
    }
    assert {k: cd.loc[k, "term_code"] for k in expected} == expected
    assert "CA19_9" not in cd.index
    lbtestcd = codelist("LBTESTCD")
    got = lbtestcd.lookup(pd.Series(["Glucose", "Cancer Antigen 19-9", "Leukocytes"]))
    assert got.tolist() == ["GLUC", "CA19_9AG", "WBC"]


def test_units_for_diabetes_labs_and_cell_dose():
    unit = codelist("UNIT").terms.set_index("term")["term_code"]
    expected = {
        "mmol/L": "C64387",
        "mg/dL": "C67015",
        "pmol/L": "C67434",
        "%": "C25613",
        "mmol/mol": "C111253",
        "10^9/L": "C67255",
        "U/L": "C67456",
        "umol/L": "C48508",
        "U/mL": "C77607",
        "ug/L": "C67306",
        "10^6/kg": "C198380",
    }
    assert {k: unit[k] for k in expected} == expected
    # ng/mL is a CDISC synonym of ug/L, not a submission value of its own
    assert "ng/mL" not in unit.index
    assert codelist("UNIT").lookup(pd.Series(["ng/mL"])).tolist() == ["ug/L"]


def test_country_has_china():
    country = codelist("COUNTRY").terms.set_index("term")
    assert country.loc["CHN", "term_code"] == "C16428"
    assert codelist("COUNTRY").lookup(pd.Series(["China"])).tolist() == ["CHN"]


def test_vs_test_codes_and_names_share_codes():
    cd = codelist("VSTESTCD").terms
    name = codelist("VSTEST").terms
    assert (cd["term_code"] != "").all()
    assert (name["term_code"] != "").all()
    assert set(cd["term_code"]) == set(name["term_code"])
    assert cd.set_index("term").loc["SYSBP", "term_code"] == "C25298"


# --- lookup ---------------------------------------------------------------------------------


def test_lookup_maps_synonyms_case_insensitively_and_keeps_the_index():
    sex = codelist("SEX")
    values = pd.Series(["Female", " m ", "male", "unknown", "X", None, ""], index=list("abcdefg"))
    got = sex.lookup(values)
    assert got.index.tolist() == list("abcdefg")
    assert got.iloc[:4].tolist() == ["F", "M", "M", "U"]
    assert got.iloc[4:].isna().all()


def test_lookup_case_sensitive():
    sex = codelist("SEX")
    got = sex.lookup(pd.Series(["F", "f", "Female", "female"]), case_sensitive=True)
    assert got.iloc[0] == "F"
    assert pd.isna(got.iloc[1])
    assert got.iloc[2] == "F"
    assert pd.isna(got.iloc[3])


def test_lookup_prefers_exact_submission_value_over_synonym():
    ny = codelist("NY")
    assert ny.lookup(pd.Series(["U", "NA", "n"])).tolist() == ["U", "NA", "N"]


def test_lookup_drops_ambiguous_synonyms():
    cl = Codelist(
        name="TEST",
        code="C0",
        label="Test",
        extensible=True,
        terms=pd.DataFrame(
            {
                "term": ["A", "B"],
                "term_code": ["", ""],
                "synonyms": ["shared; alpha", "shared"],
                "preferred_term": ["", ""],
            }
        ),
    )
    assert cl.lookup(pd.Series(["alpha", "shared", "b"])).tolist()[0] == "A"
    got = cl.lookup(pd.Series(["shared", "b"]))
    assert pd.isna(got.iloc[0])
    assert got.iloc[1] == "B"


# --- errors and copies ----------------------------------------------------------------------


def test_unknown_domain_raises_naming_it():
    with pytest.raises(UnknownDomain, match="XX") as info:
        domain_variables("XX")
    assert isinstance(info.value, MetadataError)
    assert isinstance(info.value, TrialflowError)
    with pytest.raises(MetadataError, match="ZZ"):
        domain_keys("ZZ")
    with pytest.raises(MetadataError, match="QQ"):
        domain_label("QQ")


def test_unknown_codelist_raises_naming_it():
    with pytest.raises(MetadataError, match="NOPE"):
        codelist("NOPE")
    with pytest.raises(MetadataError, match="C99999999"):
        codelist("C99999999")


def test_returned_frames_are_copies():
    first = domain_variables("DM")
    first.loc[0, "label"] = "changed"
    del first["keys"]
    again = domain_variables("DM")
    assert again.loc[0, "label"] == "Study Identifier"
    assert "keys" in again.columns

    sex = codelist("SEX")
    sex.terms.loc[0, "term"] = "changed"
    assert codelist("SEX").terms.loc[0, "term"] == "F"

    keys = domain_keys("DM")
    keys.append("X")
    assert domain_keys("DM") == ["STUDYID", "USUBJID"]


def test_codelist_is_frozen():
    sex = codelist("SEX")
    with pytest.raises(AttributeError):
        sex.name = "X"  # type: ignore[misc]


def test_domain_variable_records_are_the_rows_of_domain_variables():
    # The light view the validator reads must be the frame, row for row, for every domain.
    for domain in md.known_domains():
        assert list(md.domain_variable_records(domain)) == md.domain_variables(domain).to_dict(
            "records"
        )
    sex = next(r for r in md.domain_variable_records("dm") if r["name"] == "SEX")
    assert (sex["core"], sex["codelist"], sex["codelist_code"]) == ("Req", "SEX", "C66731")
    # Fresh copies: changing one does not change the next answer.
    sex["core"] = "Perm"
    assert next(r for r in md.domain_variable_records("DM") if r["name"] == "SEX")["core"] == "Req"
    with pytest.raises(md.UnknownDomain, match="'XX'"):
        md.domain_variable_records("XX")


def test_codelist_terms_agree_with_codelist():
    ct = md.read_data_csv("trialflow.sdtm", "sdtm-ct.csv")
    for key in sorted(set(ct["codelist"]) | set(ct["codelist_code"])):
        full, light = md.codelist(key), md.codelist_terms(key)
        assert (light.name, light.code, light.extensible) == (full.name, full.code, full.extensible)
        assert light.terms == tuple(full.terms["term"])
    # CDISC CT: SEX (C66731) is non-extensible with F, INTERSEX, M, U.
    assert md.codelist_terms(" c66731 ") == md.CodelistTerms(
        "SEX", "C66731", False, ("F", "INTERSEX", "M", "U")
    )
    with pytest.raises(md.MetadataError, match="'NOPE'"):
        md.codelist_terms("NOPE")
