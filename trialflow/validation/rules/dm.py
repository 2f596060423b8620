"""Subject-level rules: DM and what must agree with it (subjects, arms, reference and
exposure dates).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import (
    Dataset,
    Package,
    cached,
    finding,
    rule,
)
from trialflow.validation.rules.common import (
    compare_iso,
    dm_dataset,
    dominant,
    fmt,
    in_set,
    iso_rows,
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
    first = start.groupby(subject).min().dropna()
    last = end.groupby(subject).max().dropna()
    return dm, pd.Series(subject.unique()), first, last


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
