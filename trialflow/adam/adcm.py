"""ADCM template (OCCDS): one record per CM record, read top to bottom as the pipeline
(admiral's ``ad_adcm.R`` template).

1. CM records with the ADSL variables merged by USUBJID; TRTP/TRTA (and TRTAN) = TRT01P/TRT01A
   (TRT01AN), one treatment period.
2. AENDT from CMENDTC: a missing day or month imputed to the last day of the month or year,
   but never after the end of the subject's study (EOSDT, when ADSL has it; admiral's
   ``max_dates``). ASTDT from CMSTDTC: imputed to the first day of the month or year, but
   never before TRTSDT when the partial date allows the first dose date (``min_dates``) and
   never after AENDT. ASTDTF/AENDTF say what was imputed ('D' day, 'M' month and day).
   ASTDY/AENDY from TRTSDT (no day 0).
3. PREFL = "Y" when ASTDT is before TRTSDT. ONTRTFL (admiral's ``derive_var_ontrtfl`` with
   ``end_date = AENDT`` and ``span_period = TRUE``): "Y" when the medication is taken during
   treatment: its start is missing, or it starts on or after TRTSDT and no later than TRTEDT
   plus the window of ``adam.adcm.window_days``, or it started before TRTSDT and ends on or
   after TRTSDT or is ongoing (no AENDT).

Example:
    >>> cm = pd.DataFrame({"USUBJID": ["1"] * 3, "CMSEQ": [1.0, 2.0, 3.0],
    ...                    "CMSTDTC": ["2018", "2020-01", "2019-12-20"],
    ...                    "CMENDTC": [None, "2020-01", "2019-12-31"]})
    >>> adsl = pd.DataFrame({"USUBJID": ["1"], "TRTSDT": [pd.Timestamp("2020-01-10")],
    ...                      "TRTEDT": [pd.Timestamp("2020-01-24")]})
    >>> adcm, _ = derive_adcm(cm, adsl, AdcmSpec(), ["TRTSDT", "TRTEDT"])
    >>> print(adcm[["CMSEQ", "ASTDT", "ASTDTF", "AENDT", "AENDTF", "PREFL", "ONTRTFL"]]
    ...       .to_string())
       CMSEQ      ASTDT ASTDTF      AENDT AENDTF PREFL ONTRTFL
    0    1.0 2018-01-01      M        NaT    NaN     Y       Y
    1    3.0 2019-12-20    NaN 2019-12-31    NaN     Y     NaN
    2    2.0 2020-01-10      D 2020-01-31      D   NaN       Y
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trialflow.adam.common import text
from trialflow.adam.dates import check_columns, derive_vars_dt, derive_vars_dy
from trialflow.errors import Finding
from trialflow.mapping.spec import AdcmSpec


def derive_var_ontrtfl(
    dataset: pd.DataFrame,
    *,
    start_date: str,
    ref_start_date: str,
    end_date: str | None = None,
    ref_end_date: str | None = None,
    ref_end_window: int = 0,
    span_period: bool = False,
    new_var: str = "ONTRTFL",
) -> pd.DataFrame:
    """Add the on-treatment flag ``new_var`` as admiral's ``derive_var_ontrtfl`` does.

    "Y" when ``ref_start_date`` is known and: ``start_date`` is missing; or ``start_date`` is
    on or after ``ref_start_date`` and on or before ``ref_end_date`` + ``ref_end_window`` days
    (any time after ``ref_start_date`` when ``ref_end_date`` is missing or not given); or, with
    ``span_period``, ``start_date`` is before ``ref_start_date`` and ``end_date`` is on or after
    it or missing (ongoing). Otherwise null. Returns a new dataset.

    Example:
        >>> d = pd.DataFrame({"ASTDT": pd.to_datetime(["2019-12-30", "2019-12-30", None,
        ...                                            "2020-02-01", "2020-01-05"]),
        ...                   "AENDT": pd.to_datetime(["2019-12-31", None, None, None,
        ...                                            "2020-01-06"]),
        ...                   "TRTSDT": pd.to_datetime(["2020-01-01"] * 5),
        ...                   "TRTEDT": pd.to_datetime(["2020-01-20"] * 5)})
        >>> derive_var_ontrtfl(d, start_date="ASTDT", end_date="AENDT",
        ...                    ref_start_date="TRTSDT", ref_end_date="TRTEDT",
        ...                    span_period=True)["ONTRTFL"].tolist()
        [nan, 'Y', 'Y', nan, 'Y']
    """
    needed = [start_date, ref_start_date, *(c for c in (end_date, ref_end_date) if c)]
    check_columns(dataset, needed, "derive_var_ontrtfl")
    start, ref_start = dataset[start_date], dataset[ref_start_date]
    if ref_end_date is not None:
        last = dataset[ref_end_date] + pd.Timedelta(days=ref_end_window)
        within_end = last.isna() | (start <= last)
    else:
        within_end = pd.Series(True, index=dataset.index)
    on = start.isna() | ((start >= ref_start) & within_end)
    if span_period and end_date is not None:
        end = dataset[end_date]
        on |= (start < ref_start) & (end.isna() | (end >= ref_start))
    on &= ref_start.notna()
    flag = pd.Series(np.where(on.fillna(False), "Y", None), index=dataset.index, dtype="str")
    return dataset.assign(**{new_var: flag})


def derive_adcm(
    cm: pd.DataFrame,
    adsl: pd.DataFrame,
    spec: AdcmSpec,
    adsl_vars: Sequence[str],
) -> tuple[pd.DataFrame, list[Finding]]:
    """Build ADCM by the template steps 1 to 3 (see the module docstring).

    Example: see the module docstring.
    """
    check_columns(cm, ["USUBJID", "CMSEQ", "CMSTDTC"], "ADCM")
    findings: list[Finding] = []

    # 1. CM + ADSL
    keep = ["USUBJID", *[v for v in adsl_vars if v in adsl.columns and v != "USUBJID"]]
    adcm = cm.assign(USUBJID=text(cm["USUBJID"]))
    adcm = adcm.drop(columns=[c for c in keep[1:] if c in adcm.columns])
    adcm = adcm.merge(adsl[keep], on="USUBJID", how="left", validate="many_to_one")
    for new, old in (("TRTP", "TRT01P"), ("TRTA", "TRT01A"), ("TRTAN", "TRT01AN")):
        if old in adcm.columns:
            adcm[new] = adcm[old]

    # 2. analysis dates with imputation, relative days
    if "CMENDTC" in adcm.columns:
        adcm = derive_vars_dt(
            adcm,
            new_vars_prefix="AEN",
            dtc="CMENDTC",
            highest_imputation="M",
            date_imputation="last",
            max_dates=[c for c in ("EOSDT",) if c in adcm.columns],
            flag_imputation="date",
        )
    else:
        adcm = adcm.assign(AENDT=pd.NaT, AENDTF=None)
    adcm = derive_vars_dt(
        adcm,
        new_vars_prefix="AST",
        dtc="CMSTDTC",
        highest_imputation="M",
        date_imputation="first",
        min_dates=["TRTSDT"],
        max_dates=["AENDT"],
        flag_imputation="date",
    )
    adcm = derive_vars_dy(adcm, reference_date="TRTSDT", source_vars=["ASTDT", "AENDT"])

    # 3. prior and on-treatment flags
    before = (adcm["ASTDT"] < adcm["TRTSDT"]).fillna(False)
    adcm["PREFL"] = pd.Series(np.where(before, "Y", None), index=adcm.index, dtype="str")
    adcm = derive_var_ontrtfl(
        adcm,
        start_date="ASTDT",
        end_date="AENDT",
        ref_start_date="TRTSDT",
        ref_end_date="TRTEDT",
        ref_end_window=spec.window_days,
        span_period=True,
    )
    adcm = adcm.sort_values(["USUBJID", "ASTDT", "CMSEQ"], kind="stable", na_position="last")
    adcm = adcm.reset_index(drop=True)
    no_start = adcm["ASTDT"].isna() & adcm["CMSTDTC"].notna()
    for pos in np.flatnonzero(no_start.to_numpy()):
        findings.append(
            Finding(
                "adam-date-not-derived",
                "warning",
                f"CMSTDTC {adcm['CMSTDTC'].iloc[pos]!s} gives no analysis start date; ONTRTFL "
                "takes the medication as on treatment (admiral: a missing start is on "
                "treatment)",
                dataset="ADCM",
                variable="ASTDT",
                record=int(pos) + 1,
                usubjid=str(adcm["USUBJID"].iloc[pos]),
            )
        )
    return adcm, findings
