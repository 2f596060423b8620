"""ADSL rules: one record per subject, required variables, population flags, treatment
variables and what must agree with SDTM DM.

Example:
    >>> adsl = Dataset.from_frame("ADSL", pd.DataFrame({"USUBJID": ["S1"], "SAFFL": [None]}),
    ...                           kind="adam")
    >>> [(f.code, f.record) for f in population_flag_null(Package({"ADSL": adsl}))]
    [('population-flag-null', 1)]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import Dataset, Package, rule  # noqa: F401  (doctests)
from trialflow.validation.rules.adam import (
    adsl_dataset,
    comparable,
    dataset_finding,
    each_record,
    numeric_pairs,
    pair_not_one_to_one,
    same_values,
    values_like,
)
from trialflow.validation.rules.common import fmt, present, report_rows, rows_where, stripped

ADSL_REQUIRED = (
    "STUDYID",
    "USUBJID",
    "SUBJID",
    "SITEID",
    "AGE",
    "AGEU",
    "SEX",
    "RACE",
    "ARM",
    "ACTARM",
    "TRT01P",
)
"""ADSL variables ADaMIG 1.1-1.3 marks Req."""

POPULATION_FLAGS = ("COMPLFL", "FASFL", "ITTFL", "PPROTFL", "SAFFL", "RANDFL", "ENRLFL")
"""Subject-level population flags ADaMIG names; each is 'Y' or 'N', never null."""

DM_COPIES = ("AGE", "AGEU", "SEX", "RACE", "SUBJID", "SITEID", "ARM", "ACTARM")
"""ADSL variables that must equal DM's for the same subject (P21 AD0204-AD0210, AD0367)."""

ADSL_LABEL = "Subject-Level Analysis Dataset"


@rule(
    "adsl-duplicate-subject",
    "error",
    "adam",
    checks="ADSL holds one record per USUBJID.",
    why="ADSL is the subject-level dataset every other ADaM dataset merges from; a second "
    "record for a subject duplicates that subject in every merge and count.",
    refs=["AD0054"],
)
def adsl_duplicate_subject(package: Package) -> list[Finding]:
    """USUBJID values with more than one ADSL record."""
    adsl = adsl_dataset(package)
    if adsl is None:
        return []
    subjects = stripped(adsl.frame["USUBJID"])
    dup = present(adsl.frame["USUBJID"]) & subjects.duplicated(keep=False)
    counts = subjects[dup].value_counts()
    return report_rows(
        "adsl-duplicate-subject",
        adsl,
        adsl.frame.loc[dup],
        "USUBJID",
        lambda r: (
            f"USUBJID {fmt(r['USUBJID'])} has {counts[str(r['USUBJID']).strip()]} ADSL records; "
            "ADSL must hold exactly one record per subject."
        ),
        value="USUBJID",
    )


@rule(
    "adsl-required-variable-missing",
    "error",
    "adam",
    checks="ADSL has the variables ADaMIG requires: STUDYID, USUBJID, SUBJID, SITEID, AGE, AGEU, "
    "SEX, RACE, ARM, ACTARM, TRT01P and at least one population flag (a variable ending in "
    "FL). (TRT01AN without TRT01A is reported by numeric-without-character-variable.)",
    why="Reviewers and standard tables read these variables from ADSL by name; a missing one "
    "breaks every program that expects it.",
    refs=["AD0047", "AD0048"],
)
def adsl_required_variable_missing(package: Package) -> list[Finding]:
    """Required ADSL variables that are absent (one finding per variable)."""
    adsl = adsl_dataset(package)
    if adsl is None:
        return []
    names = set(adsl.variables)
    wanted = list(ADSL_REQUIRED)
    out = [
        dataset_finding(
            "adsl-required-variable-missing",
            adsl,
            v,
            f"ADSL has no {v}; ADaMIG requires {v} in ADSL.",
        )
        for v in wanted
        if v not in names
    ]
    if not any(v.endswith("FL") for v in names):
        out.append(
            dataset_finding(
                "adsl-required-variable-missing",
                adsl,
                None,
                "ADSL has no population flag (no variable ending in FL); add at least one, "
                "such as SAFFL or ITTFL.",
            )
        )
    return out


@rule(
    "population-flag-null",
    "error",
    "adam",
    checks="ADSL population flags (COMPLFL, FASFL, ITTFL, PPROTFL, SAFFL, RANDFL, ENRLFL) are "
    "populated on every record: 'Y' or 'N', never null.",
    why="A null population flag leaves the subject in neither the population nor its "
    "complement, so counts by population do not add up.",
    refs=["AD0019"],
)
def population_flag_null(package: Package) -> list[Finding]:
    """Null ADSL population flags."""
    adsl = adsl_dataset(package)
    if adsl is None:
        return []
    return each_record(
        "population-flag-null",
        [adsl],
        lambda ds: [v for v in POPULATION_FLAGS if v in ds.frame.columns],
        lambda ds, v: ~present(ds.frame[v]),
        lambda v: lambda r: f"{v} is null; a population flag must be 'Y' or 'N' for every subject.",
    )


@rule(
    "adsl-differs-from-dm",
    "error",
    "adam",
    checks="For each ADSL subject in DM, ADSL's AGE, AGEU, SEX, RACE, SUBJID, SITEID, ARM and "
    "ACTARM equal DM's.",
    why="ADSL copies these from DM; a different value breaks the traceability from analysis "
    "to tabulation data that reviewers check first.",
    refs=["AD0204", "AD0205", "AD0206", "AD0207", "AD0208", "AD0209", "AD0210", "AD0367"],
)
def adsl_differs_from_dm(package: Package) -> list[Finding]:
    """ADSL values that differ from DM's for the same subject."""
    adsl = adsl_dataset(package)
    dm = package.get("DM")
    if adsl is None or dm is None or dm.kind != "sdtm" or "USUBJID" not in dm.frame.columns:
        return []
    d = dm.frame.loc[np.asarray(present(dm.frame["USUBJID"]), dtype=bool)]
    d = d.loc[~stripped(d["USUBJID"]).duplicated()]
    index = pd.Index(stripped(d["USUBJID"]).astype(object))
    position = index.get_indexer(stripped(adsl.frame["USUBJID"]).astype(object))
    known = position >= 0
    out: list[Finding] = []
    for v in DM_COPIES:
        if v not in adsl.frame.columns or v not in d.columns:
            continue
        theirs = values_like(d[v], position)
        bad = known & ~same_values(comparable(adsl.frame[v]), theirs)
        if not bad.any():
            continue
        frame = adsl.frame.assign(__DM__=theirs.set_axis(adsl.frame.index))
        out += report_rows(
            "adsl-differs-from-dm",
            adsl,
            rows_where(frame, bad),
            v,
            lambda r, v=v: (
                f"ADSL {v} is {fmt(r[v])} but DM has {fmt(r['__DM__'])} for USUBJID "
                f"{fmt(r['USUBJID'])}; ADSL must carry DM's value."
            ),
            value=v,
        )
    return out


@rule(
    "treatment-code-not-one-to-one",
    "error",
    "adam",
    checks="In ADSL each TRTxxP has one TRTxxPN and each TRTxxPN one TRTxxP (likewise TRTxxA / "
    "TRTxxAN, TRTSEQP / TRTSEQPN, TRTSEQA / TRTSEQAN), over the records with both populated.",
    why="The numeric treatment orders and codes the treatment in tables; a code shared by two "
    "treatments (or two codes for one) merges or splits treatment groups.",
    refs=["AD0076B", "AD0077B", "AD0242B", "AD0243B", "AD0227B", "AD0228B", "AD0229B", "AD0230B"],
)
def treatment_code_not_one_to_one(package: Package) -> list[Finding]:
    """ADSL treatment variables and their numeric codes that do not pair one-to-one."""
    adsl = adsl_dataset(package)
    if adsl is None:
        return []
    out: list[Finding] = []
    for left, right in numeric_pairs(adsl, r"TRT\d{2}[PA]|TRTSEQ[PA]"):
        out += pair_not_one_to_one("treatment-code-not-one-to-one", adsl, left, right)
    return out


@rule(
    "adsl-label-nonstandard",
    "warning",
    "adam",
    checks="The dataset named ADSL is labelled 'Subject-Level Analysis Dataset'.",
    why="ADaMIG fixes ADSL's label; reviewers' tools and define.xml expect it.",
    refs=["AD0320"],
)
def adsl_label_nonstandard(package: Package) -> list[Finding]:
    """ADSL with another dataset label."""
    adsl = adsl_dataset(package)
    if adsl is None or not adsl.label or adsl.label.strip() == ADSL_LABEL:
        return []
    return [
        dataset_finding(
            "adsl-label-nonstandard",
            adsl,
            None,
            f"ADSL is labelled {fmt(adsl.label)}; its label must be {fmt(ADSL_LABEL)}.",
        )
    ]


@rule(
    "adsl-treatment-dates-missing",
    "warning",
    "adam",
    checks="When SDTM EX is in the package, ADSL has TRTSDT or TRTSDTM and TRTEDT or TRTEDTM.",
    why="A study with exposure data has treatment start and end dates; ADaMIG makes them "
    "required then, and on-treatment flags and study days are derived from them.",
    refs=["AD0061", "AD0061A"],
)
def adsl_treatment_dates_missing(package: Package) -> list[Finding]:
    """ADSL without treatment start or end dates while EX is present."""
    adsl = adsl_dataset(package)
    ex = package.get("EX")
    if adsl is None or ex is None or ex.kind != "sdtm":
        return []
    names = set(adsl.variables)
    out = []
    for date, datetime, what in (("TRTSDT", "TRTSDTM", "start"), ("TRTEDT", "TRTEDTM", "end")):
        if not {date, datetime} & names:
            out.append(
                dataset_finding(
                    "adsl-treatment-dates-missing",
                    adsl,
                    date,
                    f"SDTM EX is present but ADSL has neither {date} nor {datetime}; add the "
                    f"treatment {what} date.",
                )
            )
    return out


@rule(
    "randdt-missing-for-randomized",
    "warning",
    "adam",
    checks="ADSL subjects with RANDFL = 'Y' have RANDDT populated (when ADSL has RANDDT).",
    why="A randomized subject has a randomization date; without it time from randomization "
    "cannot be derived.",
    refs=["AD0366A"],
)
def randdt_missing_for_randomized(package: Package) -> list[Finding]:
    """RANDFL = Y with RANDDT null."""
    adsl = adsl_dataset(package)
    if adsl is None or not {"RANDFL", "RANDDT"} <= set(adsl.frame.columns):
        return []
    f = adsl.frame
    bad = stripped(f["RANDFL"]).eq("Y").fillna(False) & ~present(f["RANDDT"])
    return report_rows(
        "randdt-missing-for-randomized",
        adsl,
        rows_where(f, bad),
        "RANDDT",
        lambda r: "RANDFL is 'Y' but RANDDT is null; give the randomization date.",
        value="RANDFL",
    )
