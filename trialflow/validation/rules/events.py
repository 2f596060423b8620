"""Events and interventions: adverse-event seriousness, deaths and end points."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import (
    Dataset,
    Package,
    rule,
)
from trialflow.validation.rules.common import (
    by_subject,
    dm_dataset,
    domain_prefix,
    fmt,
    in_set,
    numbers,
    present,
    report_rows,
    rows_where,
    sdtm_datasets,
    stripped,
    text,
)
from trialflow.validation.rules.timing import after_subject, blank, subject_dates, subject_values

_SERIOUS = ("AESCAN", "AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESOD", "AESMIE")
_END_CLASS_DOMAINS = ("AE", "CE", "MH", "HO", "CM", "EX", "EC", "PR", "SU", "AG", "ML")


@rule(
    "aeser-without-criterion",
    "error",
    "cross",
    checks="When AE has seriousness criteria (AESCAN, AESCONG, AESDISAB, AESDTH, AESHOSP, "
    "AESLIFE, AESOD, AESMIE): AESER = 'Y' has at least one of them = 'Y'.",
    why="A serious event is serious for a reason; SDTMIG requires at least one criterion to be "
    "'Y' when AESER is 'Y'.",
    refs=["CORE-000266", "CG0042"],
)
def aeser_without_criterion(package: Package) -> list[Finding]:
    """Serious events with no seriousness criterion."""
    out: list[Finding] = []
    for ds, criteria, any_yes in _ae_seriousness(package):
        bad = text(ds.frame["AESER"]).eq("Y").fillna(False).astype(bool) & ~any_yes
        listed = (
            f"{criteria[0]} is not" if len(criteria) == 1 else f"none of {', '.join(criteria)} is"
        )
        out += report_rows(
            "aeser-without-criterion",
            ds,
            rows_where(ds.frame, bad),
            "AESER",
            lambda r, c=listed: (
                f"AESER is 'Y' but {c} 'Y'; set the criterion that made the event serious."
            ),
            value="AESER",
        )
    return out


@rule(
    "aeser-criterion-not-serious",
    "error",
    "cross",
    checks="When any seriousness criterion (AESCAN ... AESMIE) is 'Y', AESER is 'Y'.",
    why="An event that meets a seriousness criterion is serious by definition; AESER 'N' or "
    "null under-reports serious adverse events.",
    refs=["CORE-000022", "CG0041"],
)
def aeser_criterion_not_serious(package: Package) -> list[Finding]:
    """Events meeting a seriousness criterion that are not marked serious."""
    out: list[Finding] = []
    for ds, criteria, any_yes in _ae_seriousness(package):
        bad = any_yes & text(ds.frame["AESER"]).ne("Y").fillna(True).astype(bool)

        def say(r: pd.Series, criteria: list[str] = criteria) -> str:
            met = [c for c in criteria if str(r[c]).strip().upper() == "Y"]
            return (
                f"{', '.join(met)} {'is' if len(met) == 1 else 'are'} 'Y' but AESER is "
                f"{fmt(r['AESER'])}; AESER must be 'Y'."
            )

        out += report_rows(
            "aeser-criterion-not-serious",
            ds,
            rows_where(ds.frame, bad),
            "AESER",
            say,
            value="AESER",
        )
    return out


def _ae_seriousness(package: Package) -> Iterator[tuple[Dataset, list[str], pd.Series]]:
    """(AE dataset, its seriousness criteria, mask of records with any criterion 'Y')."""
    for ds in sdtm_datasets(package):
        if domain_prefix(ds) != "AE" or "AESER" not in ds.frame.columns:
            continue
        criteria = [c for c in _SERIOUS if c in ds.frame.columns]
        if not criteria:
            continue
        any_yes = pd.Series(False, index=ds.frame.index)
        for c in criteria:
            any_yes |= text(ds.frame[c]).eq("Y").fillna(False).astype(bool)
        yield ds, criteria, any_yes


def _fatal(package: Package) -> list[tuple[Dataset, pd.Series, pd.Series]]:
    """(AE dataset, AEOUT = FATAL mask, AESDTH = Y mask) for each AE dataset."""
    out = []
    for ds in sdtm_datasets(package):
        if domain_prefix(ds) != "AE" or "USUBJID" not in ds.frame.columns:
            continue
        f = ds.frame
        no = pd.Series(False, index=f.index)
        out_fatal = text(f["AEOUT"]).eq("FATAL").fillna(False) if "AEOUT" in f.columns else no
        death = text(f["AESDTH"]).eq("Y").fillna(False) if "AESDTH" in f.columns else no
        out.append((ds, out_fatal.astype(bool), death.astype(bool)))
    return out


@rule(
    "fatal-ae-death-not-in-dm",
    "error",
    "cross",
    checks="An AE with AEOUT = 'FATAL' or AESDTH = 'Y' belongs to a subject whose DM.DTHFL is "
    "'Y' and DM.DTHDTC is populated.",
    why="Deaths are counted from DM; a fatal adverse event whose subject is not marked dead in "
    "DM is missing from every mortality summary.",
    refs=["CORE-000253", "CG0135", "FB0604", "CORE-000254", "CG0134", "FB0603"],
)
def fatal_ae_death_not_in_dm(package: Package) -> list[Finding]:
    """Fatal adverse events whose subject is not recorded as dead in DM."""
    dm = dm_dataset(package)
    if dm is None:
        return []
    subjects = by_subject(dm, ["DTHFL", "DTHDTC"])
    flagged = text(subjects["DTHFL"]).eq("Y").fillna(False)
    dated = present(subjects["DTHDTC"])
    out: list[Finding] = []
    for ds, out_fatal, death in _fatal(package):
        subject = stripped(ds.frame["USUBJID"])
        known = in_set(subject, subjects.index)
        dead = in_set(subject, flagged.index[flagged.to_numpy()])
        has_date = in_set(subject, dated.index[dated.to_numpy()])
        wrong = known & ~(dead & has_date)
        frame = ds.frame.assign(__DEAD__=dead)
        for variable, mask, what in (
            ("AEOUT", out_fatal, "AEOUT is 'FATAL'"),
            ("AESDTH", death & ~out_fatal, "AESDTH is 'Y'"),
        ):
            out += report_rows(
                "fatal-ae-death-not-in-dm",
                ds,
                rows_where(frame, wrong & mask),
                variable,
                lambda r, what=what: (
                    f"{what} but DM "
                    + ("DTHDTC is missing" if r["__DEAD__"] else "DTHFL is not 'Y'")
                    + " for this subject; set DM.DTHFL = 'Y' and DM.DTHDTC."
                ),
                value=variable,
            )
    return out


@rule(
    "dthdtc-missing",
    "warning",
    "cross",
    checks="DM records with DTHFL = 'Y' have DTHDTC (subjects with a fatal AE are reported by "
    "fatal-ae-death-not-in-dm instead).",
    why="DTHFL says the subject died; without DTHDTC time-to-death and on-study death "
    "analyses cannot place the death.",
    refs=["CORE-000705", "FB0610"],
)
def dthdtc_missing(package: Package) -> list[Finding]:
    """Subjects flagged dead without a date of death."""
    dm = dm_dataset(package)
    if dm is None or "DTHFL" not in dm.frame.columns:
        return []
    f = dm.frame
    fatal_subjects: set[str] = set()
    for ds, out_fatal, death in _fatal(package):
        picked = stripped(ds.frame.loc[out_fatal | death, "USUBJID"])
        fatal_subjects |= set(picked)
    no_date = ~present(f["DTHDTC"]) if "DTHDTC" in f.columns else pd.Series(True, index=f.index)
    bad = (
        text(f["DTHFL"]).eq("Y").fillna(False).astype(bool)
        & no_date
        & ~in_set(stripped(f["USUBJID"]), fatal_subjects)
    )
    return report_rows(
        "dthdtc-missing",
        dm,
        rows_where(f, bad),
        "DTHDTC",
        lambda r: (
            "DTHFL is 'Y' but DTHDTC is missing; record the date of death (partial if "
            "that is all that is known)."
        ),
        value="DTHFL",
    )


@rule(
    "end-missing",
    "warning",
    "cross",
    checks="Event and intervention records (AE, CE, MH, HO, CM, EX, EC, PR, SU, AG, ML) have an "
    "end point: --ENDTC, --ENRF or --ENRTPT (EX: EXENDTC); records with --OCCUR = 'N' are "
    "exempt. EX records are not checked when EXENDTC is null on every record: the end was not "
    "collected, which SDTM shows by keeping the Expected variable null.",
    why="Without an end point an event or medication cannot be placed relative to treatment "
    "or counted as ongoing; say 'ONGOING' in --ENRTPT/--ENRF when it had not ended.",
)
def end_missing(package: Package) -> list[Finding]:
    """Events and interventions without any end point."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        if prefix not in _END_CLASS_DOMAINS:
            continue
        names = ("ENDTC",) if prefix == "EX" else ("ENDTC", "ENRF", "ENRTPT")
        ends = [f"{prefix}{n}" for n in names if f"{prefix}{n}" in ds.frame.columns]
        hint = (
            "give the end of the administration (for an administration at a point in time, "
            "the SDTMIG has EXSTDTC copied to EXENDTC)."
            if prefix == "EX"
            else f"give the end date, or say in {prefix}ENRTPT or {prefix}ENRF that it is ongoing."
        )
        if not ends:
            continue
        f = ds.frame
        ended = pd.Series(False, index=f.index)
        for column in ends:
            ended |= present(f[column])
        if prefix == "EX" and not ended.any():
            # not collected (SDTMIG: an Expected variable is kept, null); RFXENDTC then rests on
            # EXSTDTC, which rfxendtc-not-last-exposure checks
            continue
        occur = f"{prefix}OCCUR"
        exempt = (
            text(f[occur]).eq("N").fillna(False).astype(bool)
            if occur in f.columns
            else pd.Series(False, index=f.index)
        )
        out += report_rows(
            "end-missing",
            ds,
            rows_where(f, ~ended & ~exempt),
            ends[0],
            lambda r, ends=ends, hint=hint: (
                (
                    f"None of {', '.join(ends)} is populated"
                    if len(ends) > 1
                    else f"{ends[0]} is missing"
                )
                + f"; {hint}"
            ),
        )
    return out


# --- adverse-event outcome and end ----------------------------------------------------------------


def _ae_datasets(package: Package) -> Iterator[Dataset]:
    """The package's AE datasets (by DOMAIN, so split AE datasets count too)."""
    for ds in sdtm_datasets(package):
        if domain_prefix(ds) == "AE":
            yield ds


@rule(
    "aeout-recovered-without-end",
    "warning",
    "cross",
    checks="AE records with AEOUT = 'RECOVERED/RESOLVED' have AEENDTC.",
    why="A resolved event has ended; without its end date its duration and whether it was "
    "ongoing at the end of treatment cannot be derived.",
    refs=["CORE-000659", "FB3410"],
)
def aeout_recovered_without_end(package: Package) -> list[Finding]:
    """Resolved adverse events without an end date."""
    out: list[Finding] = []
    for ds in _ae_datasets(package):
        f = ds.frame
        if "AEOUT" not in f.columns:
            continue
        resolved = text(f["AEOUT"]).eq("RECOVERED/RESOLVED").fillna(False).astype(bool)
        end = f["AEENDTC"] if "AEENDTC" in f.columns else pd.Series(None, index=f.index)
        out += report_rows(
            "aeout-recovered-without-end",
            ds,
            rows_where(f, resolved & ~present(end)),
            "AEENDTC",
            lambda r: (
                "AEOUT is 'RECOVERED/RESOLVED' but AEENDTC is missing; give the end date "
                "(partial if that is all that is known)."
            ),
            value="AEOUT",
        )
    return out


@rule(
    "aeout-not-recovered-with-end",
    "warning",
    "cross",
    checks="AE records with AEOUT = 'NOT RECOVERED/NOT RESOLVED' have no AEENDTC.",
    why="An event that has not resolved has not ended; an end date contradicts the outcome and "
    "one of the two is wrong.",
    refs=["CORE-000657", "FB3409"],
)
def aeout_not_recovered_with_end(package: Package) -> list[Finding]:
    """Unresolved adverse events with an end date."""
    out: list[Finding] = []
    for ds in _ae_datasets(package):
        f = ds.frame
        if "AEOUT" not in f.columns or "AEENDTC" not in f.columns:
            continue
        ongoing = text(f["AEOUT"]).eq("NOT RECOVERED/NOT RESOLVED").fillna(False).astype(bool)
        out += report_rows(
            "aeout-not-recovered-with-end",
            ds,
            rows_where(f, ongoing & present(f["AEENDTC"])),
            "AEENDTC",
            lambda r: (
                f"AEOUT is 'NOT RECOVERED/NOT RESOLVED' but AEENDTC is {fmt(r['AEENDTC'])}; "
                "an event that has not resolved has no end date."
            ),
            value="AEENDTC",
        )
    return out


# --- doses --------------------------------------------------------------------------------------


@rule(
    "placebo-dose-not-zero",
    "error",
    "cross",
    checks="EX records with EXTRT = 'PLACEBO' have EXDOSE = 0 where EXDOSE is populated.",
    why="SDTMIG 3.4 (6.1.3.1, assumption 2b): a placebo dose is EXTRT 'PLACEBO' with EXDOSE 0, "
    "0 mg of active ingredient; a non-zero dose is counted as drug exposure.",
    refs=["CORE-000005", "CG0102"],
)
def placebo_dose_not_zero(package: Package) -> list[Finding]:
    """Placebo administrations with a non-zero dose."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        f = ds.frame
        if domain_prefix(ds) != "EX" or not {"EXTRT", "EXDOSE"} <= set(f.columns):
            continue
        dose = numbers(f["EXDOSE"])
        bad = text(f["EXTRT"]).eq("PLACEBO").fillna(False).astype(bool) & (dose != 0) & dose.notna()
        out += report_rows(
            "placebo-dose-not-zero",
            ds,
            rows_where(f, bad),
            "EXDOSE",
            lambda r: (
                f"EXTRT is 'PLACEBO' but EXDOSE is {fmt(r['EXDOSE'])}; a placebo dose is "
                "recorded as EXDOSE = 0."
            ),
            value="EXDOSE",
        )
    return out


@rule(
    "dose-negative",
    "error",
    "cross",
    checks="--DOSE and --DOSTOT are not negative.",
    why="FDA business rules: doses are never negative; a negative dose is a sign or unit error.",
    refs=["CORE-000308", "FB4002", "CORE-000517"],
)
def dose_negative(package: Package) -> list[Finding]:
    """Negative doses."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        for column in (f"{prefix}DOSE", f"{prefix}DOSTOT"):
            if column not in ds.frame.columns:
                continue
            bad = (numbers(ds.frame[column]) < 0).fillna(False).astype(bool)
            out += report_rows(
                "dose-negative",
                ds,
                rows_where(ds.frame, bad),
                column,
                lambda r, c=column: (
                    f"{c} is {fmt(r[c])}, a negative dose; doses are never negative."
                ),
                value=column,
            )
    return out


@rule(
    "dosu-missing",
    "error",
    "cross",
    checks="Where --DOSE, --DOSTOT or --DOSTXT is populated, --DOSU is populated.",
    why="A dose without its unit cannot be compared or summed; --DOSU is the unit of --DOSE, "
    "--DOSTOT and --DOSTXT.",
    refs=["CORE-000093", "CG0114"],
)
def dosu_missing(package: Package) -> list[Finding]:
    """Doses without a unit."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        f = ds.frame
        prefix = domain_prefix(ds)
        doses = [c for c in (f"{prefix}DOSE", f"{prefix}DOSTOT", f"{prefix}DOSTXT") if c in f]
        if not doses:
            continue
        dosed = pd.Series(False, index=f.index)
        for column in doses:
            dosed |= present(f[column])
        unit = f"{prefix}DOSU"
        has_unit = present(f[unit]) if unit in f.columns else pd.Series(False, index=f.index)
        out += report_rows(
            "dosu-missing",
            ds,
            rows_where(f, dosed & ~has_unit),
            unit,
            lambda r, doses=doses, unit=unit: (
                ", ".join(f"{c} {fmt(r[c])}" for c in doses if not blank(r[c]))
                + f" but {unit} is missing; give the unit of the dose."
            ),
            value=doses[0],
        )
    return out


# Administrations a day of the CDISC FREQ terms that name a fixed daily count (C71113: QD
# "Daily", BID "Twice Daily", TID "Three Times Daily", QID "Four Times Daily", QAM "Every
# Morning", QPM, QHS "Hour Of Sleep"). Other terms (PRN, Q2H, QOD, weekly ...) are not judged.
_PER_DAY = {"QD": 1, "QAM": 1, "QPM": 1, "QHS": 1, "BID": 2, "TID": 3, "QID": 4}


@rule(
    "dostot-inconsistent",
    "warning",
    "cross",
    checks="Where --DOSE, --DOSTOT and --DOSFRQ are populated and --DOSFRQ is a daily count "
    "(QD, QAM, QPM, QHS: 1; BID: 2; TID: 3; QID: 4), --DOSTOT = --DOSE x that count.",
    why="--DOSTOT is the total daily dose of the regimen --DOSE and --DOSFRQ describe; a total "
    "that disagrees with them is summed into daily-dose analyses with the wrong value.",
)
def dostot_inconsistent(package: Package) -> list[Finding]:
    """Total daily doses that are not the dose times the administrations a day."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        f = ds.frame
        prefix = domain_prefix(ds)
        dose, total, freq = f"{prefix}DOSE", f"{prefix}DOSTOT", f"{prefix}DOSFRQ"
        if not {dose, total, freq} <= set(f.columns):
            continue
        times = stripped(f[freq]).map(_PER_DAY).astype("float64")
        expected = numbers(f[dose]) * times
        actual = numbers(f[total])
        judged = expected.notna() & actual.notna()
        # compared at 10 significant digits: 0.1 x 3 is 0.3
        differs = judged & ((actual - expected).abs() > 1e-9 * expected.abs().clip(lower=1))
        out += report_rows(
            "dostot-inconsistent",
            ds,
            rows_where(f, differs.fillna(False).astype(bool)),
            total,
            lambda r, dose=dose, total=total, freq=freq: (
                f"{total} is {fmt(r[total])} but {dose} {fmt(r[dose])} {freq} {fmt(r[freq])} "
                f"is {fmt(_PER_DAY[str(r[freq]).strip()] * float(r[dose]))} a day; correct "
                f"{total} or the regimen."
            ),
            value=total,
        )
    return out


# --- occurrence, status and timing -------------------------------------------------------------


def _not_occurred_with(code: str, package: Package, suffix: str) -> list[Finding]:
    """Records with --OCCUR = 'N' and --<suffix> populated."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        f = ds.frame
        prefix = domain_prefix(ds)
        occur, column = f"{prefix}OCCUR", f"{prefix}{suffix}"
        if occur not in f.columns or column not in f.columns:
            continue
        bad = text(f[occur]).eq("N").fillna(False).astype(bool) & present(f[column])
        out += report_rows(
            code,
            ds,
            rows_where(f, bad),
            column,
            lambda r, occur=occur, column=column: (
                f"{occur} is 'N' but {column} is {fmt(r[column])}; an event or treatment that "
                f"did not occur has no timing relative to the study, {column} must be null."
            ),
            value=column,
        )
    return out


@rule(
    "strf-when-not-occurred",
    "error",
    "cross",
    checks="Records with --OCCUR = 'N' have --STRF null.",
    why="--STRF places the start of something that happened relative to the study reference "
    "period; a pre-specified event or treatment that did not occur has no start.",
    refs=["CORE-000240", "CG0420"],
)
def strf_when_not_occurred(package: Package) -> list[Finding]:
    """--STRF populated for what did not occur."""
    return _not_occurred_with("strf-when-not-occurred", package, "STRF")


@rule(
    "enrf-when-not-occurred",
    "error",
    "cross",
    checks="Records with --OCCUR = 'N' have --ENRF null.",
    why="--ENRF places the end of something that happened relative to the study reference "
    "period; a pre-specified event or treatment that did not occur has no end.",
    refs=["CORE-000241", "CG0421"],
)
def enrf_when_not_occurred(package: Package) -> list[Finding]:
    """--ENRF populated for what did not occur."""
    return _not_occurred_with("enrf-when-not-occurred", package, "ENRF")


_REASND_EXEMPT = ("EX", "AE", "DS", "DV", "IE")


@rule(
    "mh-start-after-rfstdtc",
    "warning",
    "cross",
    checks="MHSTDTC is before DM.RFSTDTC: not after it on the precision both share, and not on "
    "the same day when both dates are complete.",
    why="Medical history holds the conditions present before the study; a condition that "
    "started on or after the reference start is an adverse event or clinical event.",
    refs=["CORE-000236", "CG0079"],
)
def mh_start_after_rfstdtc(package: Package) -> list[Finding]:
    """Medical history starting on or after the reference start."""
    dm = dm_dataset(package)
    if dm is None or "RFSTDTC" not in dm.frame.columns:
        return []
    reference = by_subject(dm, ["RFSTDTC"])["RFSTDTC"]
    dates = subject_dates(reference.astype("str").str.slice(0, 10))  # compared as dates
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        f = ds.frame
        if domain_prefix(ds) != "MH" or not {"USUBJID", "MHSTDTC"} <= set(f.columns):
            continue
        bad = pd.Series(after_subject(f, "MHSTDTC", dates, same_day=True), index=f.index)
        flagged = rows_where(f, bad)
        out += report_rows(
            "mh-start-after-rfstdtc",
            ds,
            flagged.assign(__REF__=subject_values(flagged, reference)),
            "MHSTDTC",
            lambda r: (
                f"MHSTDTC {fmt(r['MHSTDTC'])} is on or after DM.RFSTDTC {fmt(r['__REF__'])}; "
                "medical history holds conditions that began before the study (record later "
                "ones in AE or CE)."
            ),
            value="MHSTDTC",
        )
    return out
