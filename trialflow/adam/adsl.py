"""ADSL template: one record per subject, read top to bottom as the pipeline.

1. Start from DM: identifiers, demographics, arms, reference dates.
2. Treatment variables from the treatment records of EX (``adam.treatment`` in study.yaml):
   TRTSDTM/TRTSDT (first dose start), TRTEDTM/TRTEDT (last dose end, from the variable
   ``adam.treatment.end`` names: EXENDTC, or EXSTDTC when no end was collected), TRTDURD, the
   number of doses (NINFUS) and the cumulative dose (CUMDOSE, CUMDOSU); TRT01P/TRT01A from the
   arms. A dose without an end date is reported, never given one.
3. SAFFL: at least one treatment record.
4. Disease history from MH (``adam.adsl.diagnosis``): diagnosis date (a partial date imputed
   by the spec's rule, e.g. admiral's "mid": the 15th, or June 30 when the month is missing,
   with its imputation flag) and the duration in years (365.25 days) at TRTSDT.
5. End of study from the disposition events of DS (``adam.adsl.disposition``), as admiral's
   ADSL template: EOSSTT (COMPLETED, DISCONTINUED, or ONGOING without an event), DCSREAS
   (DSDECOD of a discontinued subject) and EOSDT (the event's date):
   :func:`derive_vars_disposition`.
6. After the BDS datasets exist, :func:`add_baseline_values` copies baseline values
   (``adam.adsl.baseline``) and :func:`derive_fasfl` sets the full analysis set flag.

Example:
    >>> dm = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "ARM": ["A"], "ARMCD": ["A"],
    ...                    "ACTARM": ["A"], "ACTARMCD": ["A"]})
    >>> ex = pd.DataFrame({"USUBJID": ["S-1", "S-1"], "EXDOSE": [1.0, 1.0],
    ...                    "EXDOSU": ["mg", "mg"], "EXSTDTC": ["2020-01-01T09:00", "2020-01-08"],
    ...                    "EXENDTC": ["2020-01-01T09:00", "2020-01-08"]})
    >>> adsl, _ = derive_adsl(dm, ex, None, TreatmentSpec(), None, ["A"])
    >>> print(adsl[["TRTSDT", "TRTEDT", "TRTDURD", "NINFUS", "CUMDOSE", "SAFFL"]].to_string())
          TRTSDT     TRTEDT  TRTDURD  NINFUS  CUMDOSE SAFFL
    0 2020-01-01 2020-01-08        8       2      2.0     Y
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from trialflow.adam.common import full_datetime, matches, numbers, text
from trialflow.adam.dates import check_columns, derive_vars_dt
from trialflow.errors import Finding
from trialflow.mapping.spec import DiagnosisSpec, DispositionSpec, TreatmentSpec

DM_VARS = [
    "STUDYID", "USUBJID", "SUBJID", "SITEID", "COUNTRY", "AGE", "AGEU", "SEX", "RACE",
    "ETHNIC", "ARM", "ARMCD", "ACTARM", "ACTARMCD", "RFSTDTC", "RFENDTC", "RFXSTDTC",
    "RFXENDTC", "DTHFL",
]  # fmt: skip
"""DM variables ADSL keeps (those present in DM)."""

DAYS_PER_YEAR = 365.25


def treatment_records(ex: pd.DataFrame, treatment: TreatmentSpec) -> pd.DataFrame:
    """EX records that count as treatment, with EXSTDT/EXSTDTM/EXENDT/EXENDTM as datetimes.

    A record counts when EXDOSE is above ``min_dose`` (or is 0 and matches
    ``treatment.zero_dose``, a placebo, as admiral's ADSL template counts ``EXDOSE == 0 &
    EXTRT`` PLACEBO) and EXSTDTC holds a full date. Dates come from the date part; datetimes
    only from values with a time. EXENDT/EXENDTM come from the variable ``treatment.end``
    names, and stay empty where it holds no complete date (an EX without that variable has no
    end dates) unless ``treatment.end_missing`` is ``start``: then such a record's start is its
    end.

    Example:
        >>> ex = pd.DataFrame({"USUBJID": ["1", "1"], "EXDOSE": [1.0, 0.0],
        ...                    "EXSTDTC": ["2020-01-01", "2020-01-08"], "EXENDTC": [None, None]})
        >>> treatment_records(ex, TreatmentSpec())[["EXSTDT", "EXENDT"]].iloc[0].tolist()
        [Timestamp('2020-01-01 00:00:00'), NaT]
        >>> treatment_records(ex, TreatmentSpec(end="EXSTDTC"))["EXENDT"].tolist()
        [Timestamp('2020-01-01 00:00:00')]
        >>> placebo = ex.assign(EXTRT="PLACEBO")
        >>> spec = TreatmentSpec.model_validate({"zero_dose": {"where": {"EXTRT": "PLACEBO"}},
        ...                                      "end_missing": "start"})
        >>> treatment_records(placebo, spec)["EXENDT"].dt.day.tolist()
        [1, 8]
    """
    check_columns(ex, ["USUBJID", "EXDOSE", "EXSTDTC"], "ADSL treatment")
    out = ex.assign(
        EXSTDT=derive_vars_dt(ex, new_vars_prefix="EXST", dtc="EXSTDTC")["EXSTDT"],
        EXSTDTM=full_datetime(ex["EXSTDTC"]),
    )
    end = (
        ex[treatment.end]
        if treatment.end in ex.columns
        else pd.Series(pd.NA, index=ex.index, dtype="str")
    )
    out = out.assign(
        EXENDT=derive_vars_dt(pd.DataFrame({"END": end}), new_vars_prefix="EXEN", dtc="END")[
            "EXENDT"
        ],
        EXENDTM=full_datetime(end),
    )
    # ENDFROMST: the record's end is its start (end_missing: start), for the findings
    out["ENDFROMST"] = out["EXENDT"].isna() & (treatment.end_missing == "start")
    if treatment.end_missing == "start":
        no_end = out["EXENDT"].isna()
        out["EXENDTM"] = out["EXENDTM"].mask(no_end, out["EXSTDTM"])
        out["EXENDT"] = out["EXENDT"].mask(no_end, out["EXSTDT"])
    dose = numbers(out["EXDOSE"])
    given = dose > treatment.min_dose
    if treatment.zero_dose is not None:
        given |= dose.eq(0).fillna(False) & matches(ex, treatment.zero_dose.where)
    keep = given & out["EXSTDT"].notna()
    return out.loc[keep.to_numpy()].assign(EXDOSE=dose[keep])


def derive_adsl(
    dm: pd.DataFrame,
    ex: pd.DataFrame,
    mh: pd.DataFrame | None,
    treatment: TreatmentSpec,
    diagnosis: DiagnosisSpec | None,
    arms: Sequence[str],
    *,
    randomized: bool = False,
) -> tuple[pd.DataFrame, list[Finding]]:
    """Steps 1 to 4 of the ADSL template; returns ADSL and the findings met on the way.

    ``arms`` lists the planned arm codes in study order (TRT01PN/TRT01AN are 1-based positions).
    TRT01P is DM.ARM and TRT01A is DM.ACTARM, as admiral's ADSL template has them
    (``mutate(TRT01P = ARM, TRT01A = ACTARM)``). A screen failure (SDTMIG 3.4: ARMCD and ARM
    empty, ARMNRS "SCREEN FAILURE") and a subject assigned but never treated (ACTARMCD and
    ACTARM empty, ARMNRS "ASSIGNED, NOT TREATED") get what DM says: TRT01P/TRT01A empty where
    ARM/ACTARM are, TRT01PN/TRT01AN empty for an arm code not in ``arms``, and SAFFL N (no
    treatment record); ARMNRS and ACTARMUD are copied into ADSL when DM has a value in them
    (ADaMIG v1.3 lists them among the ADSL variables copied from DM), so the reason stays
    beside the empty arm. ``randomized`` (study.yaml trial.summary RANDOM = Y) adds RANDFL:
    Y for a subject assigned to an arm (ARMCD not empty), else N.

    Example:
        >>> dm = pd.DataFrame({"USUBJID": ["1"], "ARM": ["A"], "ARMCD": ["A"]})
        >>> ex = pd.DataFrame({"USUBJID": ["1"], "EXDOSE": [1.0], "EXSTDTC": ["2020-01-01"]})
        >>> derive_adsl(dm, ex, None, TreatmentSpec(), None, ["A"])[0]["SAFFL"].tolist()
        ['Y']
    """
    check_columns(dm, ["USUBJID", "ARM", "ARMCD"], "ADSL")
    findings: list[Finding] = []

    # 1. DM
    adsl = dm[[c for c in DM_VARS if c in dm.columns]].copy()
    for col in adsl.columns:
        if not pd.api.types.is_numeric_dtype(adsl[col].dtype):
            adsl[col] = text(adsl[col])
    adsl["AGE"] = numbers(adsl["AGE"]) if "AGE" in adsl else np.nan

    # 2. treatment variables from EX
    doses = treatment_records(ex, treatment)
    per = doses.groupby("USUBJID", sort=False).agg(
        TRTSDT=("EXSTDT", "min"),
        TRTEDT=("EXENDT", "max"),
        NINFUS=("EXDOSE", "size"),
        CUMDOSE=("EXDOSE", "sum"),
    )
    first = doses.sort_values(["USUBJID", "EXSTDT"], kind="stable").drop_duplicates("USUBJID")
    ended = doses.loc[doses["EXENDT"].notna().to_numpy()]
    last = ended.sort_values(
        ["USUBJID", "EXENDT", "EXENDTM"], kind="stable", na_position="first"
    ).drop_duplicates("USUBJID", keep="last")
    per["TRTSDTM"] = first.set_index("USUBJID")["EXSTDTM"]
    per["TRTEDTM"] = last.set_index("USUBJID")["EXENDTM"]
    findings += _doses_without_end(doses, treatment)
    if "EXDOSU" in doses.columns:
        units = doses.assign(U=text(doses["EXDOSU"])).groupby("USUBJID")["U"]
        per["CUMDOSU"] = units.first()
        mixed = units.nunique() > 1
        findings += [
            Finding(
                "adam-dose-units-mixed",
                "error",
                f"treatment records of {subject} use more than one EXDOSU; CUMDOSE adds "
                "doses in different units",
                dataset="ADSL",
                variable="CUMDOSE",
                usubjid=str(subject),
            )
            for subject in mixed[mixed].index
        ]
    adsl = adsl.merge(per, how="left", left_on="USUBJID", right_index=True)
    adsl["NINFUS"] = adsl["NINFUS"].fillna(0).astype("int64")
    adsl["CUMDOSE"] = adsl["CUMDOSE"].where(adsl["NINFUS"] > 0)
    adsl["TRTDURD"] = ((adsl["TRTEDT"] - adsl["TRTSDT"]).dt.days + 1).astype("Int64")
    codes = {code: i + 1 for i, code in enumerate(arms)}
    adsl["TRT01P"] = adsl["ARM"]
    adsl["TRT01PN"] = adsl["ARMCD"].map(codes).astype("float64")
    if "ACTARM" in adsl.columns:
        adsl["TRT01A"] = adsl["ACTARM"]
        adsl["TRT01AN"] = adsl["ACTARMCD"].map(codes).astype("float64")
    for reason in ("ARMNRS", "ACTARMUD"):
        if reason in dm.columns and text(dm[reason]).notna().any():
            adsl[reason] = text(dm[reason]).to_numpy()
    if randomized:
        adsl["RANDFL"] = np.where(adsl["ARMCD"].notna(), "Y", "N")

    # 3. safety population
    adsl["SAFFL"] = np.where(adsl["NINFUS"] > 0, "Y", "N")

    # 4. disease history
    if diagnosis is not None:
        adsl, more = _diagnosis(adsl, mh, diagnosis)
        findings += more
    return adsl, findings


def _doses_without_end(doses: pd.DataFrame, treatment: TreatmentSpec) -> list[Finding]:
    """One warning per subject whose treatment records lack a complete end date (a notice
    per subject whose records take their start as the end, by ``end_missing: start``)."""
    missing = doses.loc[doses["EXENDT"].isna().to_numpy()]
    started = doses.loc[doses["ENDFROMST"].to_numpy(dtype=bool)]
    out = [
        Finding(
            "adam-dose-end-missing",
            "notice",
            f"{count} treatment record(s) of {subject} have no complete {treatment.end}; their "
            "start date counts as their end (study.yaml adam.treatment.end_missing: start)",
            dataset="ADSL",
            variable="TRTEDT",
            usubjid=str(subject),
        )
        for subject, count in started.groupby("USUBJID", sort=True).size().items()
    ]
    if missing.empty:
        return out
    counts = missing.groupby("USUBJID", sort=True).size()
    hint = (
        "when EX does not collect the end of a dose given at one time, declare "
        "adam.treatment.end: EXSTDTC in study.yaml; to take the start of a dose without an "
        "end as its end, adam.treatment.end_missing: start"
        if treatment.end == "EXENDTC"
        else "complete EXSTDTC in EX"
    )
    return out + [
        Finding(
            "adam-dose-end-missing",
            "warning",
            f"{count} treatment record(s) of {subject} have no complete {treatment.end}, the "
            f"end of a dose (study.yaml adam.treatment.end); TRTEDT and TRTEDTM come from the "
            f"doses that have one, or stay empty; {hint}",
            dataset="ADSL",
            variable="TRTEDT",
            usubjid=str(subject),
        )
        for subject, count in counts.items()
    ]


def _diagnosis(
    adsl: pd.DataFrame, mh: pd.DataFrame | None, spec: DiagnosisSpec
) -> tuple[pd.DataFrame, list[Finding]]:
    """The diagnosis date and the duration in years at TRTSDT, from one MH record per subject."""
    findings: list[Finding] = []
    if mh is None or mh.empty:
        findings.append(
            Finding(
                "adam-source-missing",
                "error",
                f"study.yaml adam.adsl.diagnosis reads {spec.domain}, which is not in the SDTM "
                f"package; {spec.date_var} and {spec.duration_var} are left empty",
                dataset="ADSL",
                variable=spec.date_var,
            )
        )
        return adsl.assign(**{spec.date_var: pd.NaT, spec.duration_var: np.nan}), findings
    check_columns(mh, ["USUBJID", spec.date], "ADSL diagnosis")
    rows = mh.loc[matches(mh, spec.where).to_numpy()]
    dated = derive_vars_dt(rows, new_vars_prefix="DX", dtc=spec.date, highest_imputation="M",
                           date_imputation=spec.imputation, flag_imputation="date")  # fmt: skip
    dated = dated.assign(USUBJID=text(dated["USUBJID"]))
    twice = dated["USUBJID"].duplicated(keep=False)
    findings += [
        Finding(
            "adam-source-ambiguous",
            "error",
            f"{subject} has more than one {spec.domain} record matching "
            f"adam.adsl.diagnosis.where; the earliest date is used",
            dataset="ADSL",
            variable=spec.date_var,
            usubjid=str(subject),
        )
        for subject in dated.loc[twice, "USUBJID"].unique()
    ]
    first = dated.sort_values("DXDT", kind="stable").drop_duplicates("USUBJID")
    dx = first.set_index("USUBJID")
    out = adsl.assign(**{spec.date_var: adsl["USUBJID"].map(dx["DXDT"]).astype("datetime64[ns]")})
    if spec.flag_var:
        out[spec.flag_var] = adsl["USUBJID"].map(dx["DXDTF"]).astype("str")
    years = (out["TRTSDT"] - out[spec.date_var]).dt.days / DAYS_PER_YEAR
    out[spec.duration_var] = years.astype("float64")
    return out, findings


def derive_vars_disposition(
    adsl: pd.DataFrame, ds: pd.DataFrame | None, spec: DispositionSpec
) -> tuple[pd.DataFrame, list[Finding]]:
    """EOSSTT, DCSREAS and EOSDT from each subject's end-of-study disposition event.

    The event is the DS record ``spec.where`` selects (DSCAT = DISPOSITION EVENT by default),
    as admiral's ADSL template merges it (``derive_vars_merged`` with ``format_eosstt``):
    EOSSTT is COMPLETED for a ``spec.completed`` DSDECOD, empty for a ``spec.screen_failure``
    one, DISCONTINUED for any other, and ONGOING for a subject without an event (a notice
    names each such subject); DCSREAS is the DSDECOD of a discontinued subject; EOSDT is the
    date of DSSTDTC (a partial date gives none, with a warning), empty for a screen failure.
    A subject with several events is an error finding; the latest one is used.

    Example:
        >>> adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"]})
        >>> ds = pd.DataFrame({"USUBJID": ["1", "2"], "DSCAT": ["DISPOSITION EVENT"] * 2,
        ...                    "DSDECOD": ["COMPLETED", "LOST TO FOLLOW-UP"],
        ...                    "DSSTDTC": ["2019-08-01", "2019-06-10"]})
        >>> out, found = derive_vars_disposition(adsl, ds, DispositionSpec())
        >>> print(out.to_string())
          USUBJID        EOSSTT            DCSREAS      EOSDT
        0       1     COMPLETED                NaN 2019-08-01
        1       2  DISCONTINUED  LOST TO FOLLOW-UP 2019-06-10
        2       3       ONGOING                NaN        NaT
        >>> [f.code for f in found]
        ['adam-disposition-missing']
    """
    findings: list[Finding] = []
    if ds is None:
        findings.append(
            Finding(
                "adam-source-missing",
                "error",
                f"study.yaml adam.adsl.disposition reads {spec.domain}, which is not in the "
                "SDTM package; EOSSTT, DCSREAS and EOSDT are left empty",
                dataset="ADSL",
                variable="EOSSTT",
            )
        )
        empty = pd.Series(pd.NA, index=adsl.index, dtype="str")
        return adsl.assign(EOSSTT=empty, DCSREAS=empty, EOSDT=pd.NaT), findings
    check_columns(ds, ["USUBJID", "DSDECOD", "DSSTDTC"], "ADSL disposition")
    events = ds.loc[matches(ds, spec.where).to_numpy()]
    events = events.assign(USUBJID=text(events["USUBJID"]), DSDECOD=text(events["DSDECOD"]))
    dated = derive_vars_dt(events, new_vars_prefix="DSST", dtc="DSSTDTC")
    where = ", ".join(f"{k} = {v}" for k, v in spec.where.items())
    twice = dated["USUBJID"].duplicated(keep=False)
    findings += [
        Finding(
            "adam-source-ambiguous",
            "error",
            f"{subject} has more than one {spec.domain} record with {where} "
            "(adam.adsl.disposition.where); the latest is used for EOSSTT, DCSREAS and EOSDT",
            dataset="ADSL",
            variable="EOSSTT",
            usubjid=str(subject),
        )
        for subject in dated.loc[twice, "USUBJID"].unique()
    ]
    last = (
        dated.sort_values(["USUBJID", "DSSTDT"], kind="stable", na_position="first")
        .drop_duplicates("USUBJID", keep="last")
        .set_index("USUBJID")
    )
    subjects = text(adsl["USUBJID"])
    decod = subjects.map(last["DSDECOD"])
    has_event = subjects.isin(last.index)
    completed = decod.isin(spec.completed)
    screen = decod.isin(spec.screen_failure)
    status = np.where(
        ~has_event,
        "ONGOING",
        np.where(completed, "COMPLETED", np.where(screen, None, "DISCONTINUED")),
    )
    eosdt = subjects.map(last["DSSTDT"]).astype("datetime64[ns]").where(~screen)
    out = adsl.assign(
        EOSSTT=pd.Series(status, index=adsl.index, dtype="str"),
        DCSREAS=decod.where(has_event & ~completed & ~screen).astype("str"),
        EOSDT=eosdt,
    )
    findings += [
        Finding(
            "adam-disposition-missing",
            "notice",
            f"{subject} has no {spec.domain} record with {where}; EOSSTT is ONGOING",
            dataset="ADSL",
            variable="EOSSTT",
            usubjid=str(subject),
        )
        for subject in subjects[~has_event]
    ]
    partial = has_event & ~screen & eosdt.isna()
    raw_dates = subjects.map(last["DSSTDTC"])
    findings += [
        Finding(
            "adam-disposition-date-partial",
            "warning",
            f"the disposition event of {subject} has no complete DSSTDTC ({value!r}); "
            "EOSDT is left empty",
            dataset="ADSL",
            variable="EOSDT",
            usubjid=str(subject),
            value=None if pd.isna(value) else str(value),
        )
        for subject, value in zip(subjects[partial], raw_dates[partial], strict=True)
    ]
    return out, findings


def add_baseline_values(
    adsl: pd.DataFrame, bds: Mapping[str, pd.DataFrame], baseline: Mapping[str, str]
) -> pd.DataFrame:
    """Copy each subject's baseline AVAL (ABLFL = "Y") of a parameter into an ADSL variable.

    ``baseline`` maps the ADSL variable to the PARAMCD (``{"WEIGHTBL": "WEIGHT"}``); the
    parameter is looked up in every BDS dataset given (study.yaml is checked when it loads
    that each one is defined). A subject without a baseline record gets null. Where a subject
    has several baseline records of the parameter (baseline definitions, BASETYPE; time
    points, ``baseline.by``), the first in the dataset's order is taken: the first BASETYPE
    declared, the first time point.

    Example:
        >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"]})
        >>> advs = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["WEIGHT"] * 2,
        ...                      "AVAL": [70.0, 69.0], "ABLFL": ["Y", None]})
        >>> add_baseline_values(adsl, {"ADVS": advs}, {"WEIGHTBL": "WEIGHT"})["WEIGHTBL"].tolist()
        [70.0, nan]
    """
    out = adsl.copy()
    for variable, paramcd in baseline.items():
        values = pd.Series(np.nan, index=out.index)
        for frame in bds.values():
            if not {"PARAMCD", "ABLFL", "AVAL"} <= set(frame.columns):
                continue
            base = frame[(frame["PARAMCD"] == paramcd) & (frame["ABLFL"] == "Y")]
            base = base.drop_duplicates("USUBJID")
            found = out["USUBJID"].map(base.set_index("USUBJID")["AVAL"]).astype("float64")
            values = values.fillna(found)
        out[variable] = values
    return out


def derive_fasfl(
    adsl: pd.DataFrame, bds: Mapping[str, pd.DataFrame], parameters: Sequence[str]
) -> pd.DataFrame:
    """FASFL = "Y" for treated subjects with a baseline (BASE) and at least one post-baseline
    CHG of every parameter listed, else "N" (all treated subjects when none are listed).

    Example:
        >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"], "SAFFL": ["Y", "Y"]})
        >>> adlb = pd.DataFrame({"USUBJID": ["1", "2"], "PARAMCD": ["FPG"] * 2,
        ...                      "CHG": [-1.0, None]})
        >>> derive_fasfl(adsl, {"ADLB": adlb}, ["FPG"])["FASFL"].tolist()
        ['Y', 'N']
    """
    ok = adsl["SAFFL"].eq("Y")
    # the (subject, parameter) pairs with a CHG, once per dataset, not per parameter
    pairs = [
        frame.loc[frame["CHG"].notna(), ["USUBJID", "PARAMCD"]].drop_duplicates()
        for frame in bds.values()
        if {"PARAMCD", "CHG"} <= set(frame.columns)
    ]
    for paramcd in parameters:
        has = pd.Series(False, index=adsl.index)
        for pair in pairs:
            has |= adsl["USUBJID"].isin(pair.loc[pair["PARAMCD"] == paramcd, "USUBJID"])
        ok &= has
    return adsl.assign(FASFL=np.where(ok, "Y", "N"))
