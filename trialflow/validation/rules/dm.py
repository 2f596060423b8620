"""Subject-level rules: DM and what must agree with it (subjects, arms, reference and
exposure dates).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import (
    Dataset,
    Package,
    cached,
    finding,
    rule,
    spread,
)
from trialflow.validation.rules.common import (
    RowView,
    compare_iso,
    distinct_codes,
    dm_dataset,
    dominant,
    fmt,
    in_set,
    iso_rows,
    numbers,
    one_value_per_group,
    others,
    present,
    report_rows,
    rows_where,
    sdtm_datasets,
    stripped,
    text,
    value_codes,
)

_NOT_TREATED = ("NOTTRT", "NOTASSGN", "SCRNFAIL")


@rule(
    "dm-missing",
    "error",
    "cross",
    checks="A package of SDTM datasets includes a DM dataset.",
    why="DM is the parent of every subject-level record; without it no subject can be checked "
    "or traced, and agencies reject a submission that lacks it.",
    refs=["CORE-000581", "CG0368", "SD1020"],
)
def dm_missing(package: Package) -> list[Finding]:
    """No DM dataset in a package of SDTM datasets."""
    if package.get("DM") is not None:
        return []
    if not sdtm_datasets(package, ("sdtm", "supp")):
        return []
    names = ", ".join(ds.name for ds in sdtm_datasets(package, ("sdtm", "supp")))
    return [
        finding(
            "dm-missing",
            f"The package has SDTM datasets ({names}) but no DM dataset; add DM with one record "
            "per subject.",
            Dataset("DM", pd.DataFrame()),
        )
    ]


@rule(
    "usubjid-not-in-dm",
    "error",
    "cross",
    checks="Every USUBJID of every SDTM and SUPP-- dataset has a record in DM.",
    why="DM defines the subjects of the study; a record of a subject DM does not know cannot be "
    "attributed to an arm, reference dates or population.",
    refs=["CORE-000201", "CG0029"],
)
def usubjid_not_in_dm(package: Package) -> list[Finding]:
    """USUBJID values that DM does not hold."""
    dm = dm_dataset(package)
    if dm is None:
        return []
    known = set(stripped(dm.frame["USUBJID"].dropna()))
    out: list[Finding] = []
    for ds in sdtm_datasets(package, ("sdtm", "supp")):
        if ds is dm or "USUBJID" not in ds.frame.columns:
            continue
        subjects = ds.frame["USUBJID"]
        bad = present(subjects) & ~in_set(stripped(subjects), known)
        out += report_rows(
            "usubjid-not-in-dm",
            ds,
            rows_where(ds.frame, bad),
            "USUBJID",
            lambda r: (
                f"USUBJID {fmt(r['USUBJID'])} has no record in DM; every subject must be in DM."
            ),
            value="USUBJID",
        )
    return out


@rule(
    "dm-duplicate-subject",
    "error",
    "cross",
    checks="DM holds one record per USUBJID.",
    why="DM is one record per subject; a second record makes every subject-level lookup "
    "(reference dates, arm, death) ambiguous.",
    refs=["CORE-000351", "CG0151"],
)
def dm_duplicate_subject(package: Package) -> list[Finding]:
    """USUBJID values with more than one DM record."""
    dm = dm_dataset(package)
    if dm is None:
        return []
    subjects = dm.frame["USUBJID"]
    dup = present(subjects) & subjects.duplicated(keep=False)
    counts = subjects[dup].value_counts()
    return report_rows(
        "dm-duplicate-subject",
        dm,
        rows_where(dm.frame, dup),
        "USUBJID",
        lambda r: (
            f"USUBJID {fmt(r['USUBJID'])} has {counts[r['USUBJID']]} DM records; DM must "
            "hold exactly one record per subject."
        ),
        value="USUBJID",
    )


def _one_to_one(code: str, ds: Dataset, a: str, b: str) -> list[Finding]:
    """Records whose (a, b) pair is not the usual partner of its a value or of its b value."""
    f = ds.frame
    if a not in f.columns or b not in f.columns:
        return []
    both = present(f[a]) & present(f[b])
    mask = both.to_numpy()
    pair = [value_codes(stripped(f[a]))[mask], value_codes(stripped(f[b]))[mask]]
    if one_value_per_group(pair[:1], pair[1]) and one_value_per_group(pair[1:], pair[0]):
        return []  # the pairs are one-to-one: nothing to report
    work = pd.DataFrame({a: stripped(f.loc[both, a]), b: stripped(f.loc[both, b])})
    by_a, by_b = dominant(work, [a], b), dominant(work, [b], a)
    off_a = work[b].to_numpy() != by_a["dominant"].to_numpy()
    off_b = work[a].to_numpy() != by_b["dominant"].to_numpy()
    frame = f.assign(
        __OFFA__=pd.Series(off_a, index=work.index),
        __TOPB__=by_a["dominant"],
        __NA__=by_a["count"],
        __TOPA__=by_b["dominant"],
        __NB__=by_b["count"],
    )
    flagged = work.index[off_a | off_b]

    def say(r: pd.Series) -> str:
        if bool(r["__OFFA__"]):
            return (
                f"{a} {fmt(r[a])} has {b} {fmt(r[b])} here but {fmt(r['__TOPB__'])} on "
                f"{others(r['__NA__'])}; each {a} must have one {b}."
            )
        return (
            f"{b} {fmt(r[b])} has {a} {fmt(r[a])} here but {fmt(r['__TOPA__'])} on "
            f"{others(r['__NB__'])}; each {b} must have one {a}."
        )

    return report_rows(code, ds, frame.loc[flagged], a, say, value=a)


@rule(
    "arm-armcd-not-one-to-one",
    "error",
    "cross",
    checks="In DM, each ARMCD has one ARM and each ARM one ARMCD.",
    why="ARMCD is the code of ARM; two descriptions for one code (or one description under two "
    "codes) split or merge treatment groups in every table by arm.",
    refs=["CORE-000318", "FB0902"],
)
def arm_armcd_not_one_to_one(package: Package) -> list[Finding]:
    """ARMCD and ARM that do not pair one-to-one."""
    dm = dm_dataset(package)
    return _one_to_one("arm-armcd-not-one-to-one", dm, "ARMCD", "ARM") if dm else []


@rule(
    "actarm-actarmcd-not-one-to-one",
    "error",
    "cross",
    checks="In DM, each ACTARMCD has one ACTARM and each ACTARM one ACTARMCD.",
    why="ACTARMCD is the code of ACTARM; a code with two descriptions splits or merges actual "
    "treatment groups in safety tables.",
    refs=["CORE-000791", "FB0903"],
)
def actarm_actarmcd_not_one_to_one(package: Package) -> list[Finding]:
    """ACTARMCD and ACTARM that do not pair one-to-one."""
    dm = dm_dataset(package)
    return _one_to_one("actarm-actarmcd-not-one-to-one", dm, "ACTARMCD", "ACTARM") if dm else []


@rule(
    "actarmcd-differs-from-armcd",
    "warning",
    "cross",
    checks="ACTARMCD equals ARMCD unless either is NOTTRT, NOTASSGN or SCRNFAIL.",
    why="A subject treated differently from the planned arm is possible but rare; most "
    "differences are mapping errors and each real one needs explaining in the reviewer's guide.",
    refs=["CORE-000655", "FB2501"],
)
def actarmcd_differs_from_armcd(package: Package) -> list[Finding]:
    """Actual arm code different from the planned one."""
    dm = dm_dataset(package)
    if dm is None or "ARMCD" not in dm.frame.columns or "ACTARMCD" not in dm.frame.columns:
        return []
    planned, actual = text(dm.frame["ARMCD"]), text(dm.frame["ACTARMCD"])
    exempt = planned.isin(_NOT_TREATED) | actual.isin(_NOT_TREATED)
    bad = planned.notna() & actual.notna() & (planned != actual) & ~exempt
    return report_rows(
        "actarmcd-differs-from-armcd",
        dm,
        rows_where(dm.frame, bad.astype(bool)),
        "ACTARMCD",
        lambda r: (
            f"ACTARMCD {fmt(r['ACTARMCD'])} differs from ARMCD {fmt(r['ARMCD'])}; expected "
            "the planned arm unless the subject was not treated or not assigned."
        ),
        value="ACTARMCD",
    )


@rule(
    "armnrs-missing",
    "error",
    "cross",
    checks="When DM has ARMNRS: ARMNRS is populated where ARMCD or ACTARMCD is null.",
    why="SDTMIG 3.4 records why a subject has no arm in ARMNRS; a null arm without a reason "
    "cannot be told apart from missing data.",
    refs=["CORE-000045", "CG0517", "CORE-000223", "CG0513"],
)
def armnrs_missing(package: Package) -> list[Finding]:
    """Null arm codes without a reason in ARMNRS."""
    dm = dm_dataset(package)
    if dm is None or "ARMNRS" not in dm.frame.columns:
        return []
    f = dm.frame
    null_arm = pd.Series(False, index=f.index)
    for column in ("ARMCD", "ACTARMCD"):
        if column in f.columns:
            null_arm |= ~present(f[column])
    bad = null_arm & ~present(f["ARMNRS"])
    return report_rows(
        "armnrs-missing",
        dm,
        rows_where(f, bad),
        "ARMNRS",
        lambda r: (
            "ARMCD or ACTARMCD is null but ARMNRS is missing; give the reason the subject "
            "has no arm."
        ),
        value="ARMNRS",
    )


@rule(
    "armnrs-with-arms",
    "error",
    "cross",
    checks="When DM has ARMNRS: ARMNRS is null where both ARMCD and ACTARMCD are populated.",
    why="ARMNRS explains a missing arm; populated next to both arm codes it contradicts them.",
    refs=["CORE-000121", "CG0520"],
)
def armnrs_with_arms(package: Package) -> list[Finding]:
    """ARMNRS populated although both arm codes are."""
    dm = dm_dataset(package)
    if dm is None or not {"ARMNRS", "ARMCD", "ACTARMCD"} <= set(dm.frame.columns):
        return []
    f = dm.frame
    bad = present(f["ARMCD"]) & present(f["ACTARMCD"]) & present(f["ARMNRS"])
    return report_rows(
        "armnrs-with-arms",
        dm,
        rows_where(f, bad),
        "ARMNRS",
        lambda r: (
            f"ARMNRS is {fmt(r['ARMNRS'])} although ARMCD and ACTARMCD are populated; "
            "ARMNRS must be null."
        ),
        value="ARMNRS",
    )


_Exposure = tuple[Dataset, pd.Series, pd.Series, pd.Series]


def _exposure(package: Package) -> _Exposure | None:
    """DM, the subjects with EX records, and each subject's first start and last end in EX."""
    return cached(package, ("exposure",), lambda: _first_and_last_exposure(package))  # type: ignore[return-value]


def _first_and_last_exposure(package: Package) -> _Exposure | None:
    dm, ex = dm_dataset(package), package.get("EX")
    if dm is None or ex is None or not {"USUBJID", "EXSTDTC"} <= set(ex.frame.columns):
        return None
    f = ex.frame
    keep = present(f["USUBJID"]).to_numpy()
    subject = stripped(f["USUBJID"])[keep]
    start = f["EXSTDTC"].where(~np.isnan(iso_rows(f["EXSTDTC"])[:, 0]))[keep]
    end = f["EXENDTC"] if "EXENDTC" in f.columns else pd.Series(np.nan, index=f.index)
    end = end.where(~np.isnan(iso_rows(end)[:, 0]))[keep].fillna(start)
    first = _text_extreme(start, subject, "min")
    last = _text_extreme(end, subject, "max")
    return dm, pd.Series(subject.unique()), first, last


def _text_extreme(values: pd.Series, groups: pd.Series, how: str) -> pd.Series:
    """``values.groupby(groups).min()`` (or max) of text, without the missing results.

    Each distinct text gets its rank in code-point order (Arrow's order for UTF-8 text) and the
    ranks are grouped as numbers: the same texts, without pandas' Arrow aggregation (which loads
    pyarrow.acero, 25 ms, for this one rule).

    Example:
        >>> v = pd.Series(["2020-02", "2020-01-05", None, "2021"], dtype="str")
        >>> _text_extreme(v, pd.Series(["A", "A", "B", "C"]), "min").to_dict()
        {'A': '2020-01-05', 'C': '2021'}
    """
    codes, distinct = distinct_codes(values)
    texts = distinct.to_numpy(dtype=object)
    order = np.argsort(texts, kind="stable")
    rank = np.empty(len(texts), dtype=np.float64)
    rank[order] = np.arange(len(texts))
    ranks = pd.Series(spread(codes, rank, np.nan), index=values.index)
    best = ranks.groupby(groups).agg(how).dropna().astype(np.int64)
    return pd.Series(texts[order][best.to_numpy()], index=best.index, dtype="str", name=values.name)


@rule(
    "rfxstdtc-missing",
    "error",
    "cross",
    checks="A subject with EX records has DM.RFXSTDTC.",
    why="RFXSTDTC is the first exposure; a subject with exposure records but no RFXSTDTC drops "
    "out of every on-treatment and treatment-emergent derivation.",
    refs=["CORE-000239", "CG0148"],
)
def rfxstdtc_missing(package: Package) -> list[Finding]:
    """Exposed subjects without RFXSTDTC."""
    found = _exposure(package)
    if found is None or "RFXSTDTC" not in found[0].frame.columns:
        return []
    dm, exposed, _first, _last = found
    f = dm.frame
    bad = in_set(stripped(f["USUBJID"]), exposed) & ~present(f["RFXSTDTC"])
    return report_rows(
        "rfxstdtc-missing",
        dm,
        rows_where(f, bad),
        "RFXSTDTC",
        lambda r: (
            "The subject has EX records but RFXSTDTC is missing; set it to the earliest EXSTDTC."
        ),
        value="RFXSTDTC",
    )


@rule(
    "rfxstdtc-not-first-exposure",
    "error",
    "cross",
    checks="DM.RFXSTDTC falls on the date of the subject's earliest EX.EXSTDTC (dates compared on "
    "the precision both share).",
    why="RFXSTDTC anchors treatment-emergence and exposure duration; it must be the first dose "
    "recorded in EX.",
    refs=["CORE-000239", "CG0148"],
)
def rfxstdtc_not_first_exposure(package: Package) -> list[Finding]:
    """RFXSTDTC that is not the first EXSTDTC."""
    found = _exposure(package)
    if found is None or "RFXSTDTC" not in found[0].frame.columns:
        return []
    dm, _exposed, first, _last = found
    f = dm.frame
    expected = stripped(f["USUBJID"]).map(first)
    order = compare_iso(f["RFXSTDTC"], expected, levels=3)
    bad = present(f["RFXSTDTC"]) & order.notna() & (order != 0)
    return report_rows(
        "rfxstdtc-not-first-exposure",
        dm,
        f.assign(__EXP__=expected).loc[bad],
        "RFXSTDTC",
        lambda r: (
            f"RFXSTDTC {fmt(r['RFXSTDTC'])} is not the date of the earliest EXSTDTC "
            f"{fmt(r['__EXP__'])}; RFXSTDTC must be the first exposure."
        ),
        value="RFXSTDTC",
    )


@rule(
    "rfxendtc-not-last-exposure",
    "error",
    "cross",
    checks="DM.RFXENDTC is populated for subjects with EX records and falls on the date of the "
    "latest EX.EXENDTC (EXSTDTC where EXENDTC is missing), compared on the shared precision.",
    why="RFXENDTC bounds the treatment period used for treatment-emergence windows and exposure "
    "duration; it must be the last dose recorded in EX.",
    refs=["CORE-000238", "CG0147"],
)
def rfxendtc_not_last_exposure(package: Package) -> list[Finding]:
    """RFXENDTC missing or not the last EX end."""
    found = _exposure(package)
    if found is None or "RFXENDTC" not in found[0].frame.columns:
        return []
    dm, _exposed, _first, last = found
    f = dm.frame
    expected = stripped(f["USUBJID"]).map(last)
    has = present(f["RFXENDTC"])
    order = compare_iso(f["RFXENDTC"], expected, levels=3)
    bad = expected.notna() & (~has | (order.notna() & (order != 0)))

    def say(r: pd.Series) -> str:
        if pd.isna(r["RFXENDTC"]) or not str(r["RFXENDTC"]).strip():
            return (
                f"RFXENDTC is missing but the subject's last exposure in EX ends "
                f"{fmt(r['__EXP__'])}; set RFXENDTC to it."
            )
        return (
            f"RFXENDTC {fmt(r['RFXENDTC'])} is not the date of the latest EXENDTC (or EXSTDTC) "
            f"{fmt(r['__EXP__'])}; RFXENDTC must be the last exposure."
        )

    return report_rows(
        "rfxendtc-not-last-exposure",
        dm,
        f.assign(__EXP__=expected).loc[bad],
        "RFXENDTC",
        say,
        value="RFXENDTC",
    )


# --- identifiers, age and death ---------------------------------------------------------------


def _flag(
    code: str, ds: Dataset, mask: pd.Series, variable: str, say: Callable[[RowView], str]
) -> list[Finding]:
    """Findings of ``code`` for the records of ``ds`` where ``mask`` holds, showing ``variable``
    (its value when the dataset has it)."""
    value = variable if variable in ds.frame.columns else None
    return report_rows(code, ds, rows_where(ds.frame, mask), variable, say, value=value)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """``frame[name]``, or a column of missing values when the frame has no such variable."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(np.nan, index=frame.index, dtype="object")


def _is_y(values: pd.Series) -> pd.Series:
    """True where the value reads 'Y' (trimmed, any case)."""
    return text(values).eq("Y").fillna(False).astype(bool)


@rule(
    "subjid-not-unique",
    "error",
    "cross",
    checks="In DM, each SUBJID belongs to one subject (USUBJID) within a STUDYID.",
    why="SUBJID is the subject's identifier within the study; two subjects under one SUBJID "
    "cannot be told apart in listings or traced back to the CRF.",
    refs=["CORE-000186", "CG0150"],
)
def subjid_not_unique(package: Package) -> list[Finding]:
    """SUBJID values shared by different subjects of the same study."""
    dm = dm_dataset(package)
    if dm is None or "SUBJID" not in dm.frame.columns:
        return []
    f = dm.frame
    has = present(f["SUBJID"]) & present(f["USUBJID"])
    work = pd.DataFrame(
        {
            "study": stripped(_column(f, "STUDYID")).fillna(""),
            "subjid": stripped(f["SUBJID"]),
            "subject": stripped(f["USUBJID"]),
        }
    )[has]
    if work.empty:
        return []
    shared = work.groupby(["study", "subjid"])["subject"].transform("nunique")
    bad = (shared.reindex(f.index) > 1).fillna(False).astype(bool)
    return report_rows(
        "subjid-not-unique",
        dm,
        f.assign(__N__=shared.reindex(f.index)).loc[bad],
        "SUBJID",
        lambda r: (
            f"SUBJID {fmt(r['SUBJID'])} is used by {int(r['__N__'])} subjects (different "
            "USUBJID) in this study; SUBJID must be unique within the study."
        ),
        value="SUBJID",
    )


@rule(
    "age-without-ageu",
    "error",
    "cross",
    checks="In DM, AGEU is populated where AGE is.",
    why="An age without its unit cannot be read (years, months, weeks); AGEU qualifies AGE.",
    refs=["CORE-000189", "CG0665"],
)
def age_without_ageu(package: Package) -> list[Finding]:
    """AGE populated without AGEU."""
    dm = dm_dataset(package)
    if dm is None or "AGE" not in dm.frame.columns:
        return []
    f = dm.frame
    bad = present(f["AGE"]) & ~present(_column(f, "AGEU"))
    return _flag(
        "age-without-ageu",
        dm,
        bad,
        "AGEU",
        lambda r: f"AGE is {fmt(r['AGE'])} but AGEU is missing; give the unit of AGE (e.g. YEARS).",
    )


@rule(
    "ageu-without-age",
    "error",
    "cross",
    checks="In DM, AGE is populated where AGEU is.",
    why="A unit without an age is a mapping slip: either AGE was lost or AGEU was set as a "
    "constant for subjects whose age was not collected.",
    refs=["CORE-000190", "CG0666"],
)
def ageu_without_age(package: Package) -> list[Finding]:
    """AGEU populated without AGE."""
    dm = dm_dataset(package)
    if dm is None or "AGEU" not in dm.frame.columns:
        return []
    f = dm.frame
    bad = present(f["AGEU"]) & ~present(_column(f, "AGE"))
    return _flag(
        "ageu-without-age",
        dm,
        bad,
        "AGE",
        lambda r: f"AGEU is {fmt(r['AGEU'])} but AGE is missing; give AGE or leave AGEU null.",
    )


@rule(
    "age-negative",
    "error",
    "cross",
    checks="In DM, AGE is not negative.",
    why="FDA business rules: age, dose and durations are never negative; a negative age comes "
    "from dates swapped in its derivation.",
    refs=["CORE-000310", "FB4001"],
)
def age_negative(package: Package) -> list[Finding]:
    """Negative AGE."""
    dm = dm_dataset(package)
    if dm is None or "AGE" not in dm.frame.columns:
        return []
    bad = (numbers(dm.frame["AGE"]) < 0).fillna(False).astype(bool)
    return _flag(
        "age-negative",
        dm,
        bad,
        "AGE",
        lambda r: f"AGE is {fmt(r['AGE'])}, a negative age; check BRTHDTC and the reference date.",
    )


def _screen_failure(f: pd.DataFrame) -> pd.Series:
    """Subjects who failed screening: ARMCD or ACTARMCD 'SCRNFAIL', or ARMNRS 'SCREEN FAILURE'."""
    out = text(_column(f, "ARMNRS")).eq("SCREEN FAILURE").fillna(False).astype(bool)
    for column in ("ARMCD", "ACTARMCD"):
        out |= text(_column(f, column)).eq("SCRNFAIL").fillna(False).astype(bool)
    return out


@rule(
    "age-missing",
    "warning",
    "cross",
    checks="When DM has AGE: AGE is populated for every subject except screen failures "
    "(ARMCD or ACTARMCD 'SCRNFAIL', or ARMNRS 'SCREEN FAILURE').",
    why="Age is a standard demographic of every summary; FDA expects it for every subject, "
    "except where it was not collected for screen failures.",
    refs=["CORE-001043", "FB0501"],
)
def age_missing(package: Package) -> list[Finding]:
    """Subjects without AGE."""
    dm = dm_dataset(package)
    if dm is None or "AGE" not in dm.frame.columns:
        return []
    f = dm.frame
    bad = present(f["USUBJID"]) & ~present(f["AGE"]) & ~_screen_failure(f)
    return _flag(
        "age-missing",
        dm,
        bad,
        "AGE",
        lambda r: "AGE is missing; give the subject's age (derive it from BRTHDTC if collected).",
    )


@rule(
    "dthfl-not-y",
    "error",
    "cross",
    checks="In DM, DTHFL is 'Y' or null.",
    why="SDTM defines DTHFL as 'Y' or null; 'N' or any other value is read as 'died' by tools "
    "that test for presence.",
    refs=["CORE-000006", "CG0131"],
)
def dthfl_not_y(package: Package) -> list[Finding]:
    """DTHFL other than 'Y' or null."""
    dm = dm_dataset(package)
    if dm is None or "DTHFL" not in dm.frame.columns:
        return []
    f = dm.frame
    bad = present(f["DTHFL"]) & ~_is_y(f["DTHFL"])
    return _flag(
        "dthfl-not-y",
        dm,
        bad,
        "DTHFL",
        lambda r: (
            f"DTHFL is {fmt(r['DTHFL'])}; DTHFL must be 'Y' for a subject who died and null "
            "otherwise."
        ),
    )


@rule(
    "dthdtc-without-dthfl",
    "error",
    "cross",
    checks="In DM, DTHFL is 'Y' where DTHDTC is populated.",
    why="A date of death says the subject died; without DTHFL = 'Y' the death is missed by "
    "every analysis that selects deaths by the flag.",
    refs=["CORE-000007", "CG0435", "FB0606"],
)
def dthdtc_without_dthfl(package: Package) -> list[Finding]:
    """DTHDTC populated but DTHFL not 'Y'."""
    dm = dm_dataset(package)
    if dm is None or "DTHDTC" not in dm.frame.columns:
        return []
    f = dm.frame
    bad = present(f["DTHDTC"]) & ~_is_y(_column(f, "DTHFL"))
    return _flag(
        "dthdtc-without-dthfl",
        dm,
        bad,
        "DTHFL",
        lambda r: (
            f"DTHDTC is {fmt(r['DTHDTC'])} but DTHFL is {fmt(r.get('DTHFL'))}; set DTHFL = 'Y'."
        ),
    )


# --- reference dates ----------------------------------------------------------------------------


def _after(code: str, dm: Dataset, first: str, then: str, advice: str) -> list[Finding]:
    """DM records whose ``first`` date is after their ``then`` date (shared precision)."""
    f = dm.frame
    if first not in f.columns or then not in f.columns:
        return []
    later = (compare_iso(f[first], f[then]) > 0).astype(bool)
    return _flag(
        code,
        dm,
        later,
        first,
        lambda r: f"{first} {fmt(r[first])} is after {then} {fmt(r[then])}; {advice}",
    )


@rule(
    "rficdtc-after-rfstdtc",
    "error",
    "cross",
    checks="In DM, RFICDTC is not after RFSTDTC (dates compared on the precision both share).",
    why="Informed consent comes before any study procedure; consent after the reference start "
    "is either a data error or a GCP finding that must be explained.",
    refs=["CORE-000713", "FB3411"],
)
def rficdtc_after_rfstdtc(package: Package) -> list[Finding]:
    """Informed consent after the reference start."""
    dm = dm_dataset(package)
    if dm is None:
        return []
    advice = "informed consent must be on or before the reference start."
    return _after("rficdtc-after-rfstdtc", dm, "RFICDTC", "RFSTDTC", advice)


@rule(
    "rficdtc-after-rfxstdtc",
    "error",
    "cross",
    checks="In DM, RFICDTC is not after RFXSTDTC (dates compared on the precision both share).",
    why="No subject may be treated before consenting; consent after the first exposure is a "
    "data error or a GCP finding.",
    refs=["CORE-000658", "FB3412"],
)
def rficdtc_after_rfxstdtc(package: Package) -> list[Finding]:
    """Informed consent after the first exposure."""
    dm = dm_dataset(package)
    if dm is None:
        return []
    advice = "informed consent must be on or before the first study treatment."
    return _after("rficdtc-after-rfxstdtc", dm, "RFICDTC", "RFXSTDTC", advice)


@rule(
    "brthdtc-after-rfstdtc",
    "error",
    "cross",
    checks="In DM, BRTHDTC is not after RFSTDTC (dates compared on the precision both share).",
    why="A subject cannot be born after entering the study; the dates are swapped or mistyped, "
    "and AGE derived from them is wrong.",
)
def brthdtc_after_rfstdtc(package: Package) -> list[Finding]:
    """Birth after the reference start."""
    dm = dm_dataset(package)
    if dm is None:
        return []
    advice = "check the year of birth and the reference start."
    return _after("brthdtc-after-rfstdtc", dm, "BRTHDTC", "RFSTDTC", advice)


@rule(
    "rfendtc-after-rfpendtc",
    "warning",
    "cross",
    checks="In DM, RFENDTC is not after RFPENDTC (dates compared on the precision both share).",
    why="RFPENDTC is the end of the subject's participation, the last date of the subject in the "
    "study; a reference end after it means one of the two is wrong.",
)
def rfendtc_after_rfpendtc(package: Package) -> list[Finding]:
    """Reference end after the end of participation."""
    dm = dm_dataset(package)
    if dm is None:
        return []
    advice = "the end of participation (RFPENDTC) is the subject's last date in the study."
    return _after("rfendtc-after-rfpendtc", dm, "RFENDTC", "RFPENDTC", advice)


@rule(
    "rfstdtc-missing",
    "error",
    "cross",
    checks="In DM, RFSTDTC is populated for subjects assigned to an arm (ARMCD populated and not "
    "SCRNFAIL or NOTASSGN) unless ARMNRS says why they have no arm.",
    why="RFSTDTC anchors every study day; a subject assigned to an arm without it has no study "
    "days and drops out of on-treatment windows.",
)
def rfstdtc_missing(package: Package) -> list[Finding]:
    """Assigned subjects without RFSTDTC."""
    dm = dm_dataset(package)
    if dm is None or "RFSTDTC" not in dm.frame.columns or "ARMCD" not in dm.frame.columns:
        return []
    f = dm.frame
    arm = text(f["ARMCD"])
    assigned = arm.notna() & ~arm.isin(("SCRNFAIL", "NOTASSGN"))
    bad = assigned.astype(bool) & ~present(f["RFSTDTC"]) & ~present(_column(f, "ARMNRS"))
    return _flag(
        "rfstdtc-missing",
        dm,
        bad,
        "RFSTDTC",
        lambda r: (
            f"RFSTDTC is missing for a subject assigned to ARMCD {fmt(r['ARMCD'])}; set it to "
            "the subject's reference start (usually the first dose)."
        ),
    )


# --- arms ---------------------------------------------------------------------------------------


def _name_without_code(code: str, dm: Dataset, name: str, short: str) -> list[Finding]:
    f = dm.frame
    if name not in f.columns:
        return []
    bad = present(f[name]) & ~present(_column(f, short))
    return _flag(
        code,
        dm,
        bad,
        name,
        lambda r: (
            f"{name} is {fmt(r[name])} but {short} is null; when {short} is null {name} must "
            "be null too, with the reason in ARMNRS."
        ),
    )


@rule(
    "arm-without-armcd",
    "error",
    "cross",
    checks="In DM, ARM is null where ARMCD is null.",
    why="SDTMIG 3.4: if ARMCD is null, ARM is null and ARMNRS gives the reason; a description "
    "without its code breaks every table by arm.",
    refs=["CORE-000119", "CG0521"],
)
def arm_without_armcd(package: Package) -> list[Finding]:
    """ARM populated without ARMCD."""
    dm = dm_dataset(package)
    return _name_without_code("arm-without-armcd", dm, "ARM", "ARMCD") if dm else []


@rule(
    "actarm-without-actarmcd",
    "error",
    "cross",
    checks="In DM, ACTARM is null where ACTARMCD is null.",
    why="SDTMIG 3.4: if ACTARMCD is null, ACTARM is null and ARMNRS gives the reason.",
    refs=["CORE-000120", "CG0522"],
)
def actarm_without_actarmcd(package: Package) -> list[Finding]:
    """ACTARM populated without ACTARMCD."""
    dm = dm_dataset(package)
    return _name_without_code("actarm-without-actarmcd", dm, "ACTARM", "ACTARMCD") if dm else []


@rule(
    "armcd-too-long",
    "error",
    "cross",
    checks="In DM, ARMCD and ACTARMCD values are at most 20 characters long.",
    why="SDTMIG limits ARMCD and ACTARMCD to 20 characters; longer codes are truncated by tools "
    "that rely on the limit.",
    refs=["CORE-000010", "CG0153", "CORE-000185", "CG0123"],
)
def armcd_too_long(package: Package) -> list[Finding]:
    """Arm codes longer than 20 characters."""
    dm = dm_dataset(package)
    if dm is None:
        return []
    out: list[Finding] = []
    for column in ("ARMCD", "ACTARMCD"):
        if column not in dm.frame.columns:
            continue
        values = dm.frame[column]
        length = values.astype("str").str.len().where(present(values))
        bad = (length > 20).fillna(False).astype(bool)
        out += _flag(
            "armcd-too-long",
            dm,
            bad,
            column,
            lambda r, c=column: (
                f"{c} {fmt(r[c])} has {len(str(r[c]))} characters; {c} is limited to 20."
            ),
        )
    return out
