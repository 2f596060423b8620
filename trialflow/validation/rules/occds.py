"""OCCDS rules: treatment-emergence and occurrence flags, analysis start and end dates and the
coding carried over from SDTM of occurrence datasets (ADAE, ADCM, ADMH, ...).

An OCCDS dataset is an ADaM dataset other than ADSL without PARAMCD/PARAM that has the topic
variable of an SDTM event or intervention (see :func:`~.adam.occds_datasets`).

Example:
    >>> adae = Dataset.from_frame("ADAE", pd.DataFrame({"AEDECOD": ["Pyrexia"],
    ...                                                 "TRTEMFL": ["N"]}), kind="adam")
    >>> [(f.code, f.record) for f in treatment_flag_not_y_or_null(Package({"ADAE": adae}))]
    [('treatment-flag-not-y-or-null', 1)]
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import Dataset, Package, rule  # noqa: F401  (doctests)
from trialflow.validation.rules.adam import (
    adam_datasets,
    comparable,
    each_record,
    occds_datasets,
    same_values,
    sas_number,
    values_like,
    where,
)
from trialflow.validation.rules.common import fmt, present, report_rows, rows_where, stripped, text

TREATMENT_FLAGS = re.compile(r"TRTEMFL|PREFL|FUPFL|ONTRTFL|LVOTFL|TREM\d{2}FL|ONTR\d{2}FL")
"""Treatment-period flags ADaMIG and the OCCDS IG define as 'Y' or null."""

FIRST_OCCURRENCE = {
    "AOCCFL": ("USUBJID",),
    "AOCCSFL": ("USUBJID", "AEBODSYS"),
    "AOCCPFL": ("USUBJID", "AEBODSYS", "AEDECOD"),
}
"""First-occurrence flags of the OCCDS IG and the group each marks one record of."""

SDTM_CODING = ("AETERM", "AEDECOD", "AEBODSYS", "AESOC", "AELLT", "AEHLT", "AEHLGT", "AEPTCD")
"""AE variables an ADAE record copies from its SDTM AE record (matched on USUBJID and AESEQ)."""


@rule(
    "treatment-flag-not-y-or-null",
    "error",
    "adam",
    checks="Treatment-period flags (TRTEMFL, PREFL, FUPFL, ONTRTFL, LVOTFL, TREMxxFL, ONTRxxFL) "
    "are 'Y' or null in every ADaM dataset.",
    why="ADaMIG and the OCCDS IG define these flags as 'Y' or null; an 'N' counts as flagged "
    "for programs that test for a populated value, inflating treatment-emergent counts.",
    refs=["AD0269"],
)
def treatment_flag_not_y_or_null(package: Package) -> list[Finding]:
    """Treatment-period flags other than Y or null."""
    return each_record(
        "treatment-flag-not-y-or-null",
        adam_datasets(package),
        lambda ds: [v for v in ds.variables if TREATMENT_FLAGS.fullmatch(v)],
        lambda ds, v: present(ds.frame[v]) & ~stripped(ds.frame[v]).eq("Y").fillna(False),
        lambda v: lambda r: f"{v} is {fmt(r[v])}; {v} must be 'Y' or null.",  # type: ignore[index]
    )


@rule(
    "analysis-start-after-end",
    "error",
    "adam",
    checks="ASTDT is not after AENDT, and ASTDTM is not after AENDTM, where both are populated.",
    why="An occurrence that ends before it starts gives a negative duration and can fall "
    "outside the treatment window it is counted in.",
    refs=["AD0361", "AD0362"],
)
def analysis_start_after_end(package: Package) -> list[Finding]:
    """ASTDT > AENDT or ASTDTM > AENDTM."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        for start, end in (("ASTDT", "AENDT"), ("ASTDTM", "AENDTM")):
            if not {start, end} <= set(ds.frame.columns):
                continue
            bad = sas_number(ds, start).gt(sas_number(ds, end))
            out += report_rows(
                "analysis-start-after-end",
                ds,
                rows_where(ds.frame, bad),
                start,
                lambda r, s=start, e=end: (
                    f"{s} {fmt(r[s])} is after {e} {fmt(r[e])}; the analysis start must not be "
                    "after the analysis end."
                ),
                value=start,
            )
    return out


@rule(
    "occurrence-flag-not-y-or-null",
    "error",
    "adam",
    checks="First-occurrence flags AOCCzzFL (AOCCFL, AOCCSFL, AOCCPFL, ...) are 'Y' or null.",
    why="The OCCDS IG defines these flags as 'Y' on the first occurrence and null elsewhere; an "
    "'N' is counted as an occurrence by programs that test for a populated value.",
)
def occurrence_flag_not_y_or_null(package: Package) -> list[Finding]:
    """AOCCzzFL values other than Y or null."""
    return each_record(
        "occurrence-flag-not-y-or-null",
        occds_datasets(package),
        lambda ds: [v for v in ds.variables if re.fullmatch(r"AOCC\w*FL", v)],
        lambda ds, v: present(ds.frame[v]) & ~stripped(ds.frame[v]).eq("Y").fillna(False),
        lambda v: lambda r: f"{v} is {fmt(r[v])}; {v} must be 'Y' or null.",  # type: ignore[index]
    )


@rule(
    "occurrence-flag-multiple",
    "error",
    "adam",
    checks="AOCCFL is 'Y' on at most one record per subject, AOCCSFL on one per subject and "
    "AEBODSYS, AOCCPFL on one per subject, AEBODSYS and AEDECOD; every record of a group "
    "flagged more than once is reported.",
    why="These flags select the first occurrence so that incidence tables count each subject "
    "once; two flagged records count the subject twice.",
)
def occurrence_flag_multiple(package: Package) -> list[Finding]:
    """First-occurrence flags set on several records of one group."""
    out: list[Finding] = []
    for ds in occds_datasets(package):
        f = ds.frame
        for flag, keys in FIRST_OCCURRENCE.items():
            if flag not in f.columns or not set(keys) <= set(f.columns):
                continue
            flagged = pd.Series(np.asarray(text(f[flag]).eq("Y").fillna(False), dtype=bool))
            flagged.index = f.index
            count = flagged.groupby([stripped(f[k]) for k in keys], dropna=False).transform("sum")
            bad = flagged & (count > 1)
            frame = f.assign(__N__=count)
            out += report_rows(
                "occurrence-flag-multiple",
                ds,
                frame.loc[bad],
                flag,
                lambda r, flag=flag, keys=keys: (
                    f"{int(r['__N__'])} records of {where(r, keys)} have {flag} = 'Y'; flag only "
                    "the first occurrence."
                ),
                value=flag,
            )
    return out


def _key(subject: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """One int64 per (subject code, integral AESEQ); -1 where either is unusable."""
    whole = np.isfinite(seq) & (seq >= 0) & (seq < 2**31) & (np.floor(seq) == seq)
    ok = whole & (subject >= 0)
    key = subject.astype(np.int64) * 2**31 + np.where(whole, seq, 0).astype(np.int64)
    return np.where(ok, key, -1)


@rule(
    "occds-coding-differs-from-sdtm",
    "error",
    "adam",
    checks="An ADAE record's AETERM, AEDECOD, AEBODSYS (and AESOC, AELLT, AEHLT, AEHLGT, "
    "AEPTCD when present) equal those of the SDTM AE record with the same USUBJID and AESEQ.",
    why="The dictionary coding of an adverse event comes from SDTM; an ADAE that recodes it "
    "counts events under other terms than the tabulation data show.",
)
def occds_coding_differs_from_sdtm(package: Package) -> list[Finding]:
    """ADAE coding that differs from SDTM AE."""
    ae = package.get("AE")
    if ae is None or ae.kind != "sdtm" or not {"USUBJID", "AESEQ"} <= set(ae.frame.columns):
        return []
    source = ae.frame
    subjects = pd.Index(pd.unique(stripped(source["USUBJID"]).dropna().astype(object)))
    seq_of = pd.to_numeric(source["AESEQ"], errors="coerce").to_numpy(dtype="float64")
    theirs_key = _key(subjects.get_indexer(stripped(source["USUBJID"]).astype(object)), seq_of)
    usable = theirs_key >= 0
    lookup = pd.Index(theirs_key[usable])
    first = ~lookup.duplicated()
    lookup, rows = lookup[first], np.flatnonzero(usable)[first]
    out: list[Finding] = []
    for ds in occds_datasets(package):
        f = ds.frame
        if not {"USUBJID", "AESEQ"} <= set(f.columns):
            continue
        mine_key = _key(
            subjects.get_indexer(stripped(f["USUBJID"]).astype(object)),
            pd.to_numeric(f["AESEQ"], errors="coerce").to_numpy(dtype="float64"),
        )
        hit = lookup.get_indexer(mine_key)
        # no usable AE record (an empty AE beside ADAE): nothing to look up, every hit is -1
        found = rows[np.clip(hit, 0, None)] if rows.size else np.full(len(hit), -1)
        position = np.where((mine_key >= 0) & (hit >= 0), found, -1)
        known = position >= 0
        for v in SDTM_CODING:
            if v not in f.columns or v not in source.columns:
                continue
            theirs = values_like(source[v], position)
            bad = known & ~same_values(comparable(f[v]), theirs)
            if not bad.any():
                continue
            frame = f.assign(__AE__=theirs.set_axis(f.index))
            out += report_rows(
                "occds-coding-differs-from-sdtm",
                ds,
                rows_where(frame, bad),
                v,
                lambda r, v=v: (
                    f"{v} is {fmt(r[v])} but SDTM AE has {fmt(r['__AE__'])} for USUBJID "
                    f"{fmt(r['USUBJID'])}, AESEQ {fmt(r['AESEQ'])}; ADAE must carry AE's coding."
                ),
                value=v,
            )
    return out
