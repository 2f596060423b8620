"""ADAE template (OCCDS): one record per AE record, read top to bottom as the pipeline.

1. AE records with the ADSL variables merged by USUBJID; TRTA/TRTAN = TRT01A/TRT01AN (one
   treatment period).
2. ASTDT from AESTDTC: a missing day or month imputed to the first, but never before TRTSDT
   when the partial date allows the first dose date (admiral's ``min_dates``); AENDT from
   AEENDTC imputed to the last day; ASTDTF/AENDTF say what was imputed. ASTDY/AENDY from
   TRTSDT, ADURN/ADURU the duration in days from ASTDT and AENDT (admiral's
   ``derive_vars_duration``); IMPUTFL = "Y" when either date was imputed, so a duration (and
   every other value of the record that rests on those dates) from an imputed date says so.
3. TRTEMFL = "Y" when ASTDT is on or after TRTSDT and no later than TRTEDT plus
   ``adam.adae.emergent_days``; PREFL = "Y" when ASTDT is before TRTSDT.
4. The nearest preceding dose: INFNUM (its number among the subject's doses), INFDT and
   INFDAYS (days from that dose to the AE start; 0 = the same day).
5. First-occurrence flags among the treatment-emergent records (TRTEMFL = "Y"), each the
   first record by ASTDT then AESEQ (admiral's ``derive_var_extreme_flag``, mode first, under
   ``restrict_derivation(filter = TRTEMFL == "Y")`` as in admiral's OCCDS examples and its
   ADAE template's AOCCIFL): AOCCFL per subject, AOCCSFL per subject and AEBODSYS, AOCCPFL
   per subject, AEBODSYS and AEDECOD (each only when its variables are in AE).

Example:
    >>> ae = pd.DataFrame({"USUBJID": ["1"], "AESEQ": [1.0], "AESTDTC": ["2020-01-09"],
    ...                    "AEENDTC": ["2020-01"]})
    >>> adsl = pd.DataFrame({"USUBJID": ["1"], "TRTSDT": [pd.Timestamp("2020-01-01")],
    ...                      "TRTEDT": [pd.Timestamp("2020-01-08")]})
    >>> doses = pd.DataFrame({"USUBJID": ["1", "1"],
    ...                       "EXSTDT": pd.to_datetime(["2020-01-01", "2020-01-08"])})
    >>> adae, _ = derive_adae(ae, adsl, doses, AdaeSpec(emergent_days=30), ["TRTSDT", "TRTEDT"])
    >>> print(adae[["ASTDY", "AENDT", "AENDTF", "ADURN", "IMPUTFL", "TRTEMFL", "INFNUM",
    ...             "INFDAYS", "AOCCFL"]].to_string())
       ASTDY      AENDT AENDTF  ADURN IMPUTFL TRTEMFL  INFNUM  INFDAYS AOCCFL
    0      9 2020-01-31      D   23.0       Y       Y     2.0      1.0      Y
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trialflow.adam.common import text
from trialflow.adam.dates import check_columns, derive_vars_dt, derive_vars_dy
from trialflow.adam.derive import derive_var_extreme_flag
from trialflow.errors import Finding
from trialflow.mapping.spec import AdaeSpec


def derive_adae(
    ae: pd.DataFrame,
    adsl: pd.DataFrame,
    doses: pd.DataFrame,
    spec: AdaeSpec,
    adsl_vars: Sequence[str],
) -> tuple[pd.DataFrame, list[Finding]]:
    """Build ADAE by the template steps 1 to 4.

    ``doses`` are the treatment records (USUBJID, EXSTDT), as
    :func:`trialflow.adam.adsl.treatment_records` returns them.

    Example: see the module docstring.
    """
    check_columns(ae, ["USUBJID", "AESEQ", "AESTDTC"], "ADAE")
    findings: list[Finding] = []

    # 1. AE + ADSL
    keep = ["USUBJID", *[v for v in adsl_vars if v in adsl.columns and v != "USUBJID"]]
    adae = ae.assign(USUBJID=text(ae["USUBJID"]))
    adae = adae.drop(columns=[c for c in keep[1:] if c in adae.columns])
    adae = adae.merge(adsl[keep], on="USUBJID", how="left", validate="many_to_one")
    if "TRT01A" in adae.columns:
        adae["TRTA"] = adae["TRT01A"]
    if "TRT01AN" in adae.columns:
        adae["TRTAN"] = adae["TRT01AN"]

    # 2. analysis dates with imputation, relative days, duration
    end_dtc = "AEENDTC" if "AEENDTC" in adae.columns else None
    if end_dtc:
        adae = derive_vars_dt(adae, new_vars_prefix="AEN", dtc=end_dtc, highest_imputation="M",
                              date_imputation="last", flag_imputation="date")  # fmt: skip
    else:
        adae = adae.assign(AENDT=pd.NaT, AENDTF=None)
    adae = derive_vars_dt(
        adae,
        new_vars_prefix="AST",
        dtc="AESTDTC",
        highest_imputation="M",
        date_imputation="first",
        min_dates=["TRTSDT"],
        max_dates=["AENDT"],
        flag_imputation="date",
    )
    adae = derive_vars_dy(adae, reference_date="TRTSDT", source_vars=["ASTDT", "AENDT"])
    adae["ADURN"] = ((adae["AENDT"] - adae["ASTDT"]).dt.days + 1).astype("float64")
    adae["ADURU"] = np.where(adae["ADURN"].notna(), "DAYS", None)
    adae["ADURU"] = adae["ADURU"].astype("str")
    imputed = adae["ASTDTF"].notna() | adae["AENDTF"].notna()
    if imputed.any():  # a sponsor flag nobody has is left out
        adae["IMPUTFL"] = pd.Series(np.where(imputed, "Y", None), index=adae.index, dtype="str")

    # 3. treatment-emergent and pre-treatment flags
    last_day = adae["TRTEDT"] + pd.Timedelta(days=spec.emergent_days)
    emergent = (adae["ASTDT"] >= adae["TRTSDT"]) & (adae["ASTDT"] <= last_day)
    adae["TRTEMFL"] = pd.Series(np.where(emergent.fillna(False), "Y", None), dtype="str")
    before = (adae["ASTDT"] < adae["TRTSDT"]).fillna(False)
    adae["PREFL"] = pd.Series(np.where(before, "Y", None), dtype="str")

    # 4. nearest preceding dose
    adae = _nearest_dose(adae, doses)

    adae = adae.sort_values(["USUBJID", "ASTDT", "AESEQ"], kind="stable", na_position="last")
    adae = adae.reset_index(drop=True)

    # 5. first occurrences among the treatment-emergent records
    adae = derive_vars_occurrence(adae)
    no_start = adae["ASTDT"].isna().to_numpy()
    for pos in np.flatnonzero(no_start):
        findings.append(
            Finding(
                "adam-date-not-derived",
                "warning",
                f"AESTDTC {adae['AESTDTC'].iloc[pos]!s} gives no analysis start date; "
                "TRTEMFL can't be decided",
                dataset="ADAE",
                variable="ASTDT",
                record=int(pos) + 1,
                usubjid=str(adae["USUBJID"].iloc[pos]),
            )
        )
    return adae, findings


OCCURRENCE_FLAGS: dict[str, tuple[str, ...]] = {
    "AOCCFL": ("USUBJID",),
    "AOCCSFL": ("USUBJID", "AEBODSYS"),
    "AOCCPFL": ("USUBJID", "AEBODSYS", "AEDECOD"),
}
"""Each first-occurrence flag of ADAE and the variables of its groups."""


def derive_vars_occurrence(adae: pd.DataFrame) -> pd.DataFrame:
    """AOCCFL, AOCCSFL and AOCCPFL: "Y" on the first treatment-emergent record (TRTEMFL = "Y")
    of each subject, subject and SOC, subject, SOC and PT, by ASTDT then AESEQ.

    A flag whose group variables are not all in the dataset is not derived. Records that are
    not treatment-emergent get no flag (null), as admiral's ``restrict_derivation``.

    Example:
        >>> adae = pd.DataFrame({"USUBJID": ["1"] * 3, "AESEQ": [1.0, 2.0, 3.0],
        ...     "ASTDT": pd.to_datetime(["2020-01-05", "2020-01-02", "2020-01-09"]),
        ...     "TRTEMFL": ["Y", "Y", "Y"], "AEBODSYS": ["Gen", "Gen", "Met"],
        ...     "AEDECOD": ["Pyrexia", "Chills", "Hypoglycaemia"]})
        >>> out = derive_vars_occurrence(adae)
        >>> out[["AOCCFL", "AOCCSFL", "AOCCPFL"]].fillna("").values.tolist()
        [['', '', 'Y'], ['Y', 'Y', 'Y'], ['', 'Y', 'Y']]
    """
    check_columns(adae, ["USUBJID", "AESEQ", "ASTDT", "TRTEMFL"], "ADAE")
    out = adae
    emergent = adae["TRTEMFL"] == "Y"
    for flag, by_vars in OCCURRENCE_FLAGS.items():
        if not all(v in adae.columns for v in by_vars):
            continue
        out = derive_var_extreme_flag(
            out,
            by_vars=list(by_vars),
            order=["ASTDT", "AESEQ"],
            new_var=flag,
            mode="first",
            filter=emergent,
        )
        out[flag] = out[flag].astype("str")
    return out


def _nearest_dose(adae: pd.DataFrame, doses: pd.DataFrame) -> pd.DataFrame:
    """INFNUM, INFDT, INFDAYS: the last dose on or before ASTDT (merge_asof by subject)."""
    ex = doses[["USUBJID", "EXSTDT"]].assign(
        USUBJID=text(doses["USUBJID"]), EXSTDT=doses["EXSTDT"].astype("datetime64[ns]")
    )
    ex = ex.sort_values(["USUBJID", "EXSTDT"], kind="stable")
    ex["INFNUM"] = ex.groupby("USUBJID").cumcount().add(1).astype("float64")
    ex = ex.rename(columns={"EXSTDT": "INFDT"}).sort_values("INFDT", kind="stable")
    left = adae.assign(__pos__=np.arange(len(adae)))
    dated = left[left["ASTDT"].notna()].sort_values("ASTDT", kind="stable")
    dated = dated.assign(ASTDT=dated["ASTDT"].astype("datetime64[ns]"))
    merged = pd.merge_asof(
        dated[["__pos__", "USUBJID", "ASTDT"]],
        ex[["USUBJID", "INFDT", "INFNUM"]],
        left_on="ASTDT",
        right_on="INFDT",
        by="USUBJID",
        direction="backward",
    ).set_index("__pos__")
    out = adae.copy()
    positions = np.arange(len(adae))
    out["INFNUM"] = merged["INFNUM"].reindex(positions).to_numpy()
    out["INFDT"] = merged["INFDT"].reindex(positions).to_numpy()
    out["INFDT"] = out["INFDT"].astype("datetime64[ns]")
    start = out["ASTDT"].astype("datetime64[ns]")
    out["INFDAYS"] = (start - out["INFDT"]).dt.days.astype("float64")
    return out
