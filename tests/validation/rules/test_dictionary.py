"""Dictionary coding rules (trialflow.validation.rules.dictionary): consistent MedDRA
hierarchy and WHODrug classes, codes with terms, declared versions."""

from __future__ import annotations

import pandas as pd
import pytest

from trialflow.validation import engine as _engine  # noqa: F401  (registers the rules)
from trialflow.validation.core import (
    RULES,
    Dataset,
    DefineCodelist,
    DefineMetadata,
    Package,
)

MINE = [c for c, r in RULES.items() if r.run and r.run.__module__.endswith(".dictionary")]


def ae_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["S1"] * 4,
            "DOMAIN": ["AE"] * 4,
            "USUBJID": ["S1-001", "S1-001", "S1-002", "S1-003"],
            "AESEQ": [1.0, 2.0, 1.0, 1.0],
            "AELLT": ["Headache", "Head pain", "Headache", "Nausea"],
            "AELLTCD": [10019211.0, 10019198.0, 10019211.0, 10028813.0],
            "AEDECOD": ["Headache", "Headache", "Headache", "Nausea"],
            "AEPTCD": [10019211.0, 10019211.0, 10019211.0, 10028813.0],
            "AEHLT": [
                "Headaches NEC",
                "Headaches NEC",
                "Headaches NEC",
                "Nausea and vomiting symptoms",
            ],
            "AEHLGT": [
                "Headaches",
                "Headaches",
                "Headaches",
                "Gastrointestinal signs and symptoms",
            ],
            "AEBODSYS": ["Nervous system disorders"] * 3 + ["Gastrointestinal disorders"],
            "AEBDSYCD": [10029205.0] * 3 + [10017947.0],
            "AESOC": ["Nervous system disorders"] * 3 + ["Gastrointestinal disorders"],
        }
    )


def ts_frame(ref: str = "MedDRA", ver: str | None = "26.1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["S1"],
            "DOMAIN": ["TS"],
            "TSPARMCD": ["TITLE"],
            "TSVAL": ["x"],
            "TSVCDREF": [ref],
            "TSVCDVER": [ver],
        }
    )


def pkg(**frames: pd.DataFrame) -> Package:
    return Package({n: Dataset.from_frame(n, f) for n, f in frames.items()})


def run(code: str, package: Package) -> list[tuple]:
    return [(f.dataset, f.variable, f.record, f.usubjid) for f in RULES[code].run(package)]


def test_registered():
    assert sorted(MINE) == [
        "decod-missing-when-coded",
        "meddra-bodsys-not-soc",
        "meddra-code-missing",
        "meddra-hlt-hlgt-inconsistent",
        "meddra-llt-pt-inconsistent",
        "meddra-pt-soc-inconsistent",
        "meddra-term-code-inconsistent",
        "meddra-version-missing",
        "whodrug-class-inconsistent",
    ]


def test_clean_coding_has_no_finding():
    package = pkg(AE=ae_frame(), TS=ts_frame())
    assert [f for c in MINE for f in RULES[c].run(package)] == []


def test_pt_with_two_socs():
    ae = ae_frame()
    ae.loc[2, "AEBODSYS"] = "General disorders"
    found = RULES["meddra-pt-soc-inconsistent"].run(pkg(AE=ae))
    assert [(f.variable, f.record, f.usubjid) for f in found] == [("AEBODSYS", 3, "S1-002")]
    assert "'Nervous system disorders' on 2 other records" in found[0].message
    # codes the same way: AEPTCD 10019211 with another AEBDSYCD
    ae = ae_frame()
    ae.loc[0, "AEBDSYCD"] = 1.0
    assert run("meddra-pt-soc-inconsistent", pkg(AE=ae)) == [("AE", "AEBDSYCD", 1, "S1-001")]


def test_mh_is_checked_and_missing_values_are_not_compared():
    mh = ae_frame().rename(columns=lambda c: "MH" + c[2:] if c.startswith("AE") else c)
    mh["DOMAIN"] = "MH"
    mh.loc[3, "MHDECOD"] = "Headache"  # Headache under Gastrointestinal disorders
    mh.loc[2, "MHBODSYS"] = None  # not coded: nothing to compare
    assert run("meddra-pt-soc-inconsistent", pkg(MH=mh)) == [("MH", "MHBODSYS", 4, "S1-003")]


def test_absent_variables_report_nothing():
    ae = ae_frame().drop(columns=["AEBODSYS", "AEBDSYCD", "AELLT", "AELLTCD", "AEHLT"])
    assert [f for c in MINE for f in RULES[c].run(pkg(AE=ae, TS=ts_frame()))] == []


def test_llt_with_two_pts():
    ae = ae_frame()
    ae.loc[2, "AEDECOD"] = "Migraine"
    found = run("meddra-llt-pt-inconsistent", pkg(AE=ae))
    # AELLT 'Headache' is under 'Headache' on record 1 and 'Migraine' on record 3: a tie, the
    # first seen is the usual one
    assert found == [("AE", "AEDECOD", 3, "S1-002")]


def test_hlt_hlgt_path():
    ae = ae_frame()
    ae.loc[1, "AEHLGT"] = "Neurological disorders NEC"
    assert run("meddra-hlt-hlgt-inconsistent", pkg(AE=ae)) == [("AE", "AEHLGT", 2, "S1-001")]


def test_term_and_code_one_to_one():
    ae = ae_frame()
    ae.loc[1, "AEPTCD"] = 99.0  # Headache with another code
    found = RULES["meddra-term-code-inconsistent"].run(pkg(AE=ae))
    assert [(f.variable, f.record) for f in found] == [("AEPTCD", 2)]
    assert "AEDECOD 'Headache' has AEPTCD 99 here but 10019211" in found[0].message


def test_code_missing():
    ae = ae_frame()
    ae.loc[3, "AEPTCD"] = None
    ae.loc[0, "AEBDSYCD"] = None
    ae.loc[1, "AEBODSYS"] = None  # no term: no code needed
    ae.loc[1, "AEBDSYCD"] = None
    found = run("meddra-code-missing", pkg(AE=ae))
    assert found == [("AE", "AEPTCD", 4, "S1-003"), ("AE", "AEBDSYCD", 1, "S1-001")]
    # a code variable never populated (as in the CDISC pilot's AE) is not a partial coding
    assert run("meddra-code-missing", pkg(AE=ae_frame().assign(AEPTCD=None))) == []


def test_bodsys_not_primary_soc():
    ae = ae_frame()
    ae.loc[0, "AEBODSYS"] = "Psychiatric disorders"
    ae.loc[1, "AESOC"] = None
    found = RULES["meddra-bodsys-not-soc"].run(pkg(AE=ae))
    assert [(f.record, f.severity) for f in found] == [(1, "warning")]


@pytest.mark.parametrize(
    ("ts", "define", "expected"),
    [
        (ts_frame(), DefineCodelist("CL.ISO", dictionary="ISO 8601"), []),
        (ts_frame(ver=None), DefineCodelist("CL.ISO", dictionary="ISO 8601"), ["AE"]),
        (ts_frame(ref="CDISC"), DefineCodelist("CL.ISO", dictionary="ISO 8601"), ["AE"]),
        (None, DefineCodelist("CL.M", dictionary="MedDRA", version="26.1"), []),
        (None, DefineCodelist("CL.M", dictionary="MedDRA", version=""), ["AE"]),
    ],
)
def test_meddra_version(ts, define, expected):
    frames = {"AE": ae_frame()} if ts is None else {"AE": ae_frame(), "TS": ts}
    package = pkg(**frames)
    package.define = DefineMetadata(dictionaries=(define,))
    assert [f.dataset for f in RULES["meddra-version-missing"].run(package)] == expected


def test_meddra_version_is_judged_with_a_define_only():
    assert RULES["meddra-version-missing"].run(pkg(AE=ae_frame(), TS=ts_frame(ver=None))) == []


def test_whodrug_class():
    cm = pd.DataFrame(
        {
            "DOMAIN": ["CM"] * 3,
            "USUBJID": ["A", "B", "C"],
            "CMDECOD": ["METFORMIN", "METFORMIN", "METFORMIN"],
            "CMCLAS": ["BIGUANIDES", "BIGUANIDES", "SULFONYLUREAS"],
            "CMCLASCD": ["A10BA", "A10BA", "A10BA"],
        }
    )
    found = RULES["whodrug-class-inconsistent"].run(pkg(CM=cm))
    # record 3: METFORMIN in another class, and class code A10BA with another class name
    assert [(f.variable, f.record) for f in found] == [("CMCLAS", 3), ("CMCLAS", 3)]
    assert all(f.severity == "warning" for f in found)
