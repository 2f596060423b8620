"""ADCM: analysis dates with partial-date imputation, PREFL and ONTRTFL at their boundaries
(values worked out by hand below, by admiral's rules), and ADCM on the example study with its
lineage back to CM and the raw rows."""

from __future__ import annotations

import pandas as pd
import pytest
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.adam.adcm import derive_adcm, derive_var_ontrtfl
from trialflow.adam.build import build_adam
from trialflow.mapping.load import load_study
from trialflow.mapping.spec import AdcmSpec
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm

# First infusion 2019-01-10 (TRTSDT), last 2019-01-24 (TRTEDT), end of study 2019-04-15.
ADSL = pd.DataFrame(
    {
        "USUBJID": ["S-1"],
        "TRTSDT": [pd.Timestamp("2019-01-10")],
        "TRTEDT": [pd.Timestamp("2019-01-24")],
        "EOSDT": [pd.Timestamp("2019-04-15")],
    }
)

# CMSEQ: (CMSTDTC, CMENDTC) -> (ASTDT, ASTDTF, AENDT, AENDTF, PREFL, ONTRTFL)
CASES = {
    # starts on TRTSDT: not prior; on treatment; ASTDY 1
    1: (("2019-01-10", "2019-01-12"), ("2019-01-10", None, "2019-01-12", None, None, "Y")),
    # ends the day before TRTSDT: prior, not on treatment
    2: (("2018-12-01", "2019-01-09"), ("2018-12-01", None, "2019-01-09", None, "Y", None)),
    # ends on TRTSDT: prior and on treatment (taken on the first infusion day)
    3: (("2018-12-01", "2019-01-10"), ("2018-12-01", None, "2019-01-10", None, "Y", "Y")),
    # '2018', ongoing: first of the year (M), prior, on treatment (still taken)
    4: (("2018", None), ("2018-01-01", "M", None, None, "Y", "Y")),
    # '2018-11' to '2018-11': first and last of November (D), prior, not on treatment
    5: (("2018-11", "2018-11"), ("2018-11-01", "D", "2018-11-30", "D", "Y", None)),
    # '2019-01' holds TRTSDT: imputed to TRTSDT, not to 2019-01-01 (admiral min_dates)
    6: (("2019-01", "2019-02-01"), ("2019-01-10", "D", "2019-02-01", None, None, "Y")),
    # starts on TRTEDT: on treatment
    7: (("2019-01-24", None), ("2019-01-24", None, None, None, None, "Y")),
    # starts the day after TRTEDT: not on treatment (window 0)
    8: (("2019-01-25", "2019-01-30"), ("2019-01-25", None, "2019-01-30", None, None, None)),
    # end '2019-04' is imputed to the 30th but not after EOSDT 2019-04-15
    9: (("2019-02-01", "2019-04"), ("2019-02-01", None, "2019-04-15", "D", None, None)),
    # no start: on treatment (admiral: a missing start counts as on treatment)
    10: ((None, "2019-01-05"), (None, None, "2019-01-05", None, None, "Y")),
}


def _cm() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": ["S-1"] * len(CASES),
            "CMSEQ": [float(k) for k in CASES],
            "CMSTDTC": pd.Series([v[0][0] for v in CASES.values()], dtype="str"),
            "CMENDTC": pd.Series([v[0][1] for v in CASES.values()], dtype="str"),
        }
    )


def _text(value: object) -> str | None:
    return None if pd.isna(value) else (str(value)[:10] if not isinstance(value, str) else value)


def test_dates_and_flags_at_their_boundaries():
    adcm, findings = derive_adcm(_cm(), ADSL, AdcmSpec(), ["TRTSDT", "TRTEDT", "EOSDT"])
    assert findings == []
    got = {
        int(r["CMSEQ"]): tuple(
            _text(r[c]) for c in ("ASTDT", "ASTDTF", "AENDT", "AENDTF", "PREFL", "ONTRTFL")
        )
        for _, r in adcm.iterrows()
    }
    assert got == {k: v[1] for k, v in CASES.items()}
    days = adcm.set_index("CMSEQ")
    # ASTDY: 2019-01-10 is day 1 (no day 0); 2018-12-01 is 40 days before, day -40
    assert days.loc[1.0, "ASTDY"] == 1 and days.loc[2.0, "ASTDY"] == -40
    # AENDY: 2019-01-09 is the day before TRTSDT, day -1
    assert days.loc[2.0, "AENDY"] == -1
    # records ordered by ASTDT, then CMSEQ; the missing start last
    assert adcm["CMSEQ"].tolist() == [4.0, 5.0, 2.0, 3.0, 1.0, 6.0, 7.0, 8.0, 9.0, 10.0]


def test_a_window_after_the_last_dose_widens_on_treatment():
    adcm, _ = derive_adcm(_cm(), ADSL, AdcmSpec(window_days=1), ["TRTSDT", "TRTEDT"])
    flags = adcm.set_index("CMSEQ")["ONTRTFL"]
    # 2019-01-25 is TRTEDT + 1: inside a 1-day window
    assert flags[8.0] == "Y"
    # without EOSDT the end '2019-04' is the last of April
    assert _text(adcm.set_index("CMSEQ").loc[9.0, "AENDT"]) == "2019-04-30"


def test_ontrtfl_without_a_treatment_start_is_null():
    d = pd.DataFrame(
        {
            "ASTDT": pd.to_datetime(["2019-01-10"]),
            "AENDT": pd.to_datetime([None]),
            "TRTSDT": pd.to_datetime([None]),
            "TRTEDT": pd.to_datetime([None]),
        }
    )
    out = derive_var_ontrtfl(
        d,
        start_date="ASTDT",
        end_date="AENDT",
        ref_start_date="TRTSDT",
        ref_end_date="TRTEDT",
        span_period=True,
    )
    assert out["ONTRTFL"].isna().all()


@pytest.fixture(scope="module")
def example():
    study = load_study(EXAMPLE_SPECS)
    sdtm = build_sdtm(study, read_export(EXAMPLE_EXPORT), on_issue="none")
    adam = build_adam(study.spec, sdtm.domains, sdtm_lineage=sdtm.lineage, on_issue="none")
    return sdtm, adam


def test_adcm_on_the_example_traces_back_to_cm_and_the_raw_rows(example):
    sdtm, adam = example
    cm, adcm, lineage = sdtm.domains["CM"], adam.datasets["ADCM"], adam.lineage["ADCM"]
    assert len(adcm) == len(cm) == 105
    assert list(adcm.columns[:5]) == ["STUDYID", "USUBJID", "SUBJID", "SITEID", "CMSEQ"]
    # each ADCM record's CM record (lineage) holds the same drug, dose and dates
    for pos in range(len(adcm)):
        source = cm.iloc[int(lineage["sdtm_record"].iloc[pos]) - 1]
        for var in ("USUBJID", "CMSEQ", "CMTRT", "CMSTDTC"):
            assert adcm[var].iloc[pos] == source[var]
    assert set(lineage["source_sheet"]) == {"CONMED"}
    # every baseline diabetes regimen started years before the first infusion: prior, and
    # taken on the first infusion day (on treatment)
    agents = adcm[adcm["CMCAT"] == "HYPOGLYCAEMIC AGENT"]
    prior = agents[agents["PREFL"] == "Y"]
    assert prior["USUBJID"].nunique() == 16
    assert (prior["ONTRTFL"] == "Y").all()
    # nothing is both missing an analysis start and dated
    assert adcm["ASTDT"].notna().all()
