"""Values derived only from what was collected or declared: the end of treatment when EX has
no end dates, and durations from imputed dates, flagged."""

from __future__ import annotations

import pandas as pd

from trialflow.adam.adae import derive_adae
from trialflow.adam.adsl import derive_adsl
from trialflow.mapping.spec import AdaeSpec, TreatmentSpec

DM = pd.DataFrame({"USUBJID": ["1", "2"], "ARM": ["A", "A"], "ARMCD": ["A", "A"]})
# subject 1: three infusions with a start time only; subject 2: the end of its first infusion
# was collected, the end of its second was not
EX = pd.DataFrame(
    {
        "USUBJID": ["1", "1", "1", "2", "2"],
        "EXDOSE": [1.0] * 5,
        "EXSTDTC": ["2020-01-01T09:00", "2020-01-08T09:30", "2020-01-15T10:00",
                    "2020-02-01T09:00", "2020-02-08T09:00"],
        "EXENDTC": [None, None, None, "2020-02-01T10:00", None],
    }
)  # fmt: skip


def test_no_end_collected_and_none_declared_leaves_trtedt_empty_and_says_so():
    adsl, findings = derive_adsl(DM, EX, None, TreatmentSpec(), None, ["A"])
    one, two = adsl.set_index("USUBJID").loc["1"], adsl.set_index("USUBJID").loc["2"]
    # never the start copied into the end
    assert pd.isna(one["TRTEDT"]) and pd.isna(one["TRTEDTM"]) and pd.isna(one["TRTDURD"])
    # subject 2: the one collected end
    assert two["TRTEDTM"] == pd.Timestamp("2020-02-01T10:00")
    assert [(f.code, f.severity, f.usubjid) for f in findings] == [
        ("adam-dose-end-missing", "warning", "1"),
        ("adam-dose-end-missing", "warning", "2"),
    ]
    assert findings[0].message.startswith("3 treatment record(s) of 1 have no complete EXENDTC")
    assert "adam.treatment.end: EXSTDTC" in findings[0].message


def test_declared_end_at_the_start_gives_the_last_infusion_start():
    adsl, findings = derive_adsl(DM, EX, None, TreatmentSpec(end="EXSTDTC"), None, ["A"])
    one = adsl.set_index("USUBJID").loc["1"]
    assert one["TRTEDTM"] == pd.Timestamp("2020-01-15T10:00")
    assert one["TRTEDT"] == pd.Timestamp("2020-01-15") and one["TRTDURD"] == 15
    two = adsl.set_index("USUBJID").loc["2"]
    assert two["TRTEDTM"] == pd.Timestamp("2020-02-08T09:00")
    assert findings == []


def test_adae_duration_from_imputed_dates_is_kept_and_flagged():
    ae = pd.DataFrame(
        {
            "USUBJID": ["S-1"] * 4,
            "AESEQ": [1.0, 2.0, 3.0, 4.0],
            "AESTDTC": ["2020-01", "2020-01-05", "2020-01-18", "2020-03-20"],
            "AEENDTC": ["2020-01-12", "2020-01-06", "2020-02", None],
        }
    )
    adsl = pd.DataFrame(
        {"USUBJID": ["S-1"], "TRTSDT": [pd.Timestamp("2020-01-10")],
         "TRTEDT": [pd.Timestamp("2020-01-24")]}
    )  # fmt: skip
    doses = pd.DataFrame({"USUBJID": ["S-1"], "EXSTDT": [pd.Timestamp("2020-01-10")]})
    adae, _ = derive_adae(ae, adsl, doses, AdaeSpec(emergent_days=30), ["TRTSDT", "TRTEDT"])
    got = adae.set_index("AESEQ").loc[[1.0, 2.0, 3.0, 4.0]]
    # 1: start imputed to the first dose, 10 to 12 January = 3 days; 2: complete, 2 days;
    # 3: end imputed to 29 February, 18 January to 29 February = 14 + 29 = 43 days; 4: no end
    assert got["ADURN"].tolist()[:3] == [3.0, 2.0, 43.0] and pd.isna(got.at[4.0, "ADURN"])
    assert got["IMPUTFL"].fillna("-").tolist() == ["Y", "-", "Y", "-"]
    assert got["ADURU"].fillna("-").tolist() == ["DAYS", "DAYS", "DAYS", "-"]
    # without an imputed date the sponsor flag is left out
    complete, _ = derive_adae(ae.iloc[[1]], adsl, doses, AdaeSpec(emergent_days=30),
                              ["TRTSDT", "TRTEDT"])  # fmt: skip
    assert complete["ADURN"].tolist() == [2.0] and "IMPUTFL" not in complete.columns
