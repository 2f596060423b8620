"""ADAE's first-occurrence flags (AOCCFL, AOCCSFL, AOCCPFL) and the coded SOC it carries."""

from __future__ import annotations

import pandas as pd
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.adam.adae import derive_adae
from trialflow.adam.build import build_adam
from trialflow.mapping.load import load_study
from trialflow.mapping.spec import AdaeSpec
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm

GEN, MET = "General disorders", "Metabolism and nutrition disorders"


def test_first_occurrence_flags_by_subject_soc_and_pt_among_emergent_records():
    # first dose 2020-01-10, last 2020-01-24, emergent up to 30 days after: 2020-02-23
    rows = [
        ("S-1", 1, "2020-01-05", GEN, "Pyrexia"),  # before the first dose: not emergent
        ("S-1", 2, "2020-01-12", GEN, "Pyrexia"),
        ("S-1", 3, "2020-01-12", MET, "Hypoglycaemia"),
        ("S-1", 4, "2020-01-20", GEN, "Pyrexia"),
        ("S-1", 5, "2020-01-11", GEN, "Chills"),  # earliest emergent, though AESEQ 5
        ("S-1", 6, "2020-03-20", MET, "Hypoglycaemia"),  # 56 days after the last: not emergent
        ("S-1", 7, "2020-01-12", MET, "Hyperglycaemia"),  # same day as AESEQ 3, later AESEQ
        ("S-2", 1, "2020-01-15", GEN, "Pyrexia"),
    ]
    ae = pd.DataFrame(rows, columns=["USUBJID", "AESEQ", "AESTDTC", "AEBODSYS", "AEDECOD"])
    ae["AESEQ"] = ae["AESEQ"].astype("float64")
    adsl = pd.DataFrame(
        {"USUBJID": ["S-1", "S-2"], "TRTSDT": [pd.Timestamp("2020-01-10")] * 2,
         "TRTEDT": [pd.Timestamp("2020-01-24")] * 2}
    )  # fmt: skip
    doses = pd.DataFrame(
        {"USUBJID": ["S-1", "S-2"], "EXSTDT": pd.to_datetime(["2020-01-10", "2020-01-10"])}
    )
    adae, _ = derive_adae(ae, adsl, doses, AdaeSpec(emergent_days=30), ["TRTSDT", "TRTEDT"])
    flags = ["TRTEMFL", "AOCCFL", "AOCCSFL", "AOCCPFL"]
    got = adae.set_index(["USUBJID", "AESEQ"])[flags].fillna("-")
    got = {k: "".join(v) for k, v in zip(got.index, got.to_numpy().tolist(), strict=True)}
    # worked by hand: per group, the emergent record with the earliest ASTDT, then AESEQ
    assert got == {
        ("S-1", 1.0): "----",
        ("S-1", 2.0): "Y--Y",  # first emergent Pyrexia (AESEQ 1 is not emergent)
        ("S-1", 3.0): "Y-YY",  # first of its SOC: same day as AESEQ 7, lower AESEQ
        ("S-1", 4.0): "Y---",
        ("S-1", 5.0): "YYYY",  # subject's first emergent event, first of GEN and of Chills
        ("S-1", 6.0): "----",
        ("S-1", 7.0): "Y--Y",
        ("S-2", 1.0): "YYYY",
    }


def test_example_adae_carries_the_coded_soc_and_one_aoccfl_per_subject_with_a_teae():
    study = load_study(EXAMPLE_SPECS)
    sdtm = build_sdtm(study, read_export(EXAMPLE_EXPORT), on_issue="none")
    adae = build_adam(study.spec, sdtm.domains, sdtm_lineage=sdtm.lineage, on_issue="none")
    adae = adae.datasets["ADAE"]
    assert adae["AESOC"].notna().all() and (adae["AESOC"] == adae["AEBODSYS"]).all()
    teae = adae[adae["TRTEMFL"] == "Y"]
    assert (adae["AOCCFL"] == "Y").sum() == teae["USUBJID"].nunique()
    assert (adae["AOCCSFL"] == "Y").sum() == len(teae[["USUBJID", "AEBODSYS"]].drop_duplicates())
    pairs = teae[["USUBJID", "AEBODSYS", "AEDECOD"]].drop_duplicates()
    assert (adae["AOCCPFL"] == "Y").sum() == len(pairs)
    assert adae.loc[adae["TRTEMFL"] != "Y", ["AOCCFL", "AOCCSFL", "AOCCPFL"]].isna().all().all()
    cols = list(adae.columns)
    assert cols.index("INFDAYS") < cols.index("AOCCFL") < cols.index("AOCCSFL") < cols.index(
        "AOCCPFL"
    )
