"""BDS rules: parameters, analysis values, baseline and change from baseline, visits, criteria,
analysis flags and traceability to SDTM of Basic Data Structure datasets (ADLB, ADVS, ...).

A BDS dataset is an ADaM dataset other than ADSL with PARAMCD or PARAM. Groups are
USUBJID and PARAMCD, plus BASETYPE when the dataset has it.

Example:
    >>> adlb = Dataset.from_frame("ADLB", pd.DataFrame({"PARAMCD": ["GLUC_1", "1GLUC"]}),
    ...                           kind="adam")
    >>> [f.record for f in paramcd_invalid(Package({"ADLB": adlb}))]
    [2]
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import Dataset, Package, rule  # noqa: F401  (doctests)
from trialflow.validation.rules.adam import (
    bds_datasets,
    codes,
    dataset_finding,
    each_record,
    numeric_pairs,
    pair_not_one_to_one,
    sas_number,
    where,
)
from trialflow.validation.rules.common import (
    dominant,
    fmt,
    hash_codes,
    one_value_per_group,
    others,
    present,
    report_rows,
    rows_where,
    stripped,
    text,
)

CHG_RTOL = 1e-9
"""Relative tolerance of CHG against AVAL - BASE (plus 1e-12 absolute, for values near 0)."""
PARAMCD_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,7}"
"""PARAMCD: at most 8 characters, a letter or underscore first, then letters, digits, _."""


def _group_keys(frame: pd.DataFrame) -> list[str] | None:
    """USUBJID, PARAMCD and (when present) BASETYPE, or None when the first two are missing."""
    if not {"USUBJID", "PARAMCD"} <= set(frame.columns):
        return None
    return ["USUBJID", "PARAMCD"] + (["BASETYPE"] if "BASETYPE" in frame.columns else [])


def _is_y(values: pd.Series) -> np.ndarray:
    return np.asarray(text(values).eq("Y").fillna(False), dtype=bool)


def _decimals(values: pd.Series) -> np.ndarray:
    """How many decimals each value carries (0-10): the fewest that reproduce it."""
    v = values.to_numpy(dtype="float64")
    out = np.full(len(v), 10)
    for d in range(10, -1, -1):
        exact = np.isclose(np.round(v, d), v, rtol=0, atol=1e-12)
        out = np.where(exact, d, out)
    return out


def _close(actual: pd.Series, expected: pd.Series) -> np.ndarray:
    """``actual`` equals ``expected`` up to the rounding ``actual`` shows (or 1e-9 relative)."""
    tolerance = 0.5 * 10.0 ** (-_decimals(actual)) + 1e-12
    a, e = actual.to_numpy(dtype="float64"), expected.to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        return (np.abs(a - e) <= tolerance) | np.isclose(a, e, rtol=CHG_RTOL, atol=1e-12)


@rule(
    "param-paramcd-not-one-to-one",
    "error",
    "adam",
    checks="In each BDS dataset, each PARAMCD has one PARAM and each PARAM one PARAMCD.",
    why="PARAMCD is the code of PARAM; a code with two descriptions (or a description under two "
    "codes) splits or merges parameters in every analysis by parameter.",
    refs=["AD0141", "AD0142"],
)
def param_paramcd_not_one_to_one(package: Package) -> list[Finding]:
    """PARAMCD and PARAM that do not pair one-to-one."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        out += pair_not_one_to_one("param-paramcd-not-one-to-one", ds, "PARAMCD", "PARAM")
    return out


@rule(
    "paramcd-invalid",
    "error",
    "adam",
    checks="PARAMCD values are at most 8 characters, start with a letter or underscore and "
    "hold only letters, digits and underscores.",
    why="PARAMCD becomes a variable name when data are transposed (one column per parameter); "
    "other values cannot be SAS V5 names.",
    refs=["AD0143"],
)
def paramcd_invalid(package: Package) -> list[Finding]:
    """PARAMCD values that are not valid short names."""
    return each_record(
        "paramcd-invalid",
        bds_datasets(package),
        lambda ds: ["PARAMCD"] if "PARAMCD" in ds.frame.columns else [],
        lambda ds, v: (
            present(ds.frame[v])
            & ~stripped(ds.frame[v]).str.fullmatch(PARAMCD_PATTERN).fillna(False).astype(bool)
        ),
        lambda v: (
            lambda r: (
                f"PARAMCD {fmt(r['PARAMCD'])} is not a valid parameter code: at most 8 characters, "  # type: ignore[index]
                "a letter or underscore first, then letters, digits or underscores."
            )
        ),
    )


@rule(
    "param-null",
    "error",
    "adam",
    checks="PARAM and PARAMCD are populated on every BDS record.",
    why="Every BDS analysis is by parameter; a record without one belongs to no analysis.",
    refs=["AD0196"],
)
def param_null(package: Package) -> list[Finding]:
    """BDS records with PARAM or PARAMCD null."""
    return each_record(
        "param-null",
        bds_datasets(package),
        lambda ds: [v for v in ("PARAMCD", "PARAM") if v in ds.frame.columns],
        lambda ds, v: ~present(ds.frame[v]),
        lambda v: lambda r: f"{v} is null; every BDS record must name its parameter.",
    )


@rule(
    "analysis-value-variables-missing",
    "error",
    "adam",
    checks="A BDS dataset has AVAL or AVALC (or both).",
    why="The analysis value is what a BDS dataset is for; without either there is nothing to "
    "analyse.",
    refs=["AD0198"],
)
def analysis_value_variables_missing(package: Package) -> list[Finding]:
    """BDS datasets without AVAL and AVALC."""
    return [
        dataset_finding(
            "analysis-value-variables-missing",
            ds,
            None,
            f"{ds.name} has PARAMCD but neither AVAL nor AVALC; add the analysis value.",
        )
        for ds in bds_datasets(package)
        if not {"AVAL", "AVALC"} & set(ds.frame.columns)
    ]


@rule(
    "aval-avalc-not-one-to-one",
    "error",
    "adam",
    checks="Within each PARAMCD, AVAL and AVALC pair one-to-one on the records with both "
    "populated.",
    why="AVALC may be the text of AVAL but then one number must have one text; otherwise "
    "tables by AVAL and by AVALC disagree.",
    refs=["AD0149B", "AD0150"],
)
def aval_avalc_not_one_to_one(package: Package) -> list[Finding]:
    """AVAL/AVALC pairs that are not one-to-one within a parameter."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        out += pair_not_one_to_one(
            "aval-avalc-not-one-to-one", ds, "AVAL", "AVALC", within=("PARAMCD",)
        )
    return out


@rule(
    "visit-code-not-one-to-one",
    "error",
    "adam",
    checks="Within each PARAMCD, AVISIT and AVISITN pair one-to-one, and so do ATPT and ATPTN.",
    why="AVISITN orders and codes AVISIT; a number shared by two visits (or two numbers for one "
    "visit) mis-sorts or splits by-visit tables.",
    refs=["AD0109B", "AD0110B", "AD0117B", "AD0118B"],
)
def visit_code_not_one_to_one(package: Package) -> list[Finding]:
    """AVISIT/AVISITN and ATPT/ATPTN that are not one-to-one within a parameter."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        for left, right in (("AVISIT", "AVISITN"), ("ATPT", "ATPTN")):
            out += pair_not_one_to_one(
                "visit-code-not-one-to-one", ds, left, right, within=("PARAMCD",)
            )
    return out


@rule(
    "numeric-code-not-one-to-one",
    "error",
    "adam",
    checks="In BDS datasets PARAM/PARAMN, TRTP/TRTPN, TRTA/TRTAN, APHASE/APHASEN and every "
    "*GRy/*GRyN pair one-to-one over the records with both populated.",
    why="A numeric code shared by two values (or two codes for one value) merges or splits "
    "groups in every table sorted or grouped by the code.",
    refs=["AD0146B", "AD0147B", "AD0092B", "AD0093B", "AD0095B", "AD0096B", "AD0037B", "AD0038B"],
)
def numeric_code_not_one_to_one(package: Package) -> list[Finding]:
    """Character/numeric pairs of BDS datasets that are not one-to-one."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        for left, right in numeric_pairs(ds, r"PARAM|TRT[PA]|APHASE|\w+GR\d"):
            out += pair_not_one_to_one("numeric-code-not-one-to-one", ds, left, right)
    return out


@rule(
    "param-attribute-not-constant",
    "error",
    "adam",
    checks="PARCATy, PARAMTYP and CRITy have one value per PARAMCD (records with both populated).",
    why="These describe the parameter, not the record; two categories or criteria for one "
    "parameter put its records in different groups.",
    refs=["AD0124", "AD0123", "AD0151"],
)
def param_attribute_not_constant(package: Package) -> list[Finding]:
    """PARCATy, PARAMTYP and CRITy that vary within a PARAMCD."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        f = ds.frame
        if "PARAMCD" not in f.columns:
            continue
        for v in sorted(c for c in ds.variables if _param_level(c)):
            both = np.asarray(present(f["PARAMCD"]), dtype=bool) & np.asarray(
                present(f[v]), dtype=bool
            )
            if not both.any():
                continue
            if one_value_per_group([codes(f["PARAMCD"])[both]], codes(f[v])[both]):
                continue
            work = pd.DataFrame({"PARAMCD": stripped(f["PARAMCD"])[both], v: stripped(f[v])[both]})
            top = dominant(work, ["PARAMCD"], v)
            off = work[v].to_numpy() != top["dominant"].to_numpy()
            frame = f.assign(__TOP__=top["dominant"], __N__=top["count"])
            out += report_rows(
                "param-attribute-not-constant",
                ds,
                frame.loc[work.index[off]],
                v,
                lambda r, v=v: (
                    f"{v} is {fmt(r[v])} here but {fmt(r['__TOP__'])} on {others(r['__N__'])} "
                    f"of PARAMCD {fmt(r['PARAMCD'])}; {v} must have one value per parameter."
                ),
                value=v,
            )
    return out


def _param_level(name: str) -> bool:
    return bool(re.fullmatch(r"PARCAT\d|PARAMTYP|CRIT\d", name))


@rule(
    "base-not-constant",
    "error",
    "adam",
    checks="BASE has one value within USUBJID and PARAMCD (and BASETYPE when present); the "
    "records reported are those whose BASE differs from the group's most common value.",
    why="BASE is the subject's baseline for the parameter; two baselines in one group make "
    "every change from baseline in it inconsistent.",
)
def base_not_constant(package: Package) -> list[Finding]:
    """BASE values that vary within subject and parameter."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        keys = _group_keys(ds.frame)
        if keys is None or "BASE" not in ds.frame.columns:
            continue
        f = ds.frame
        base = sas_number(ds, "BASE")
        has = base.notna()
        if not has.any():
            continue
        mask = has.to_numpy()
        if one_value_per_group([codes(f[k])[mask] for k in keys], hash_codes(base[has])):
            continue
        work = f.loc[has, keys].assign(__BASE__=base[has])
        top = dominant(work, keys, "__BASE__")
        expected = top["dominant"].astype("float64")
        same = np.isclose(work["__BASE__"], expected, rtol=CHG_RTOL, atol=1e-12)
        frame = f.assign(__TOP__=expected, __N__=top["count"])
        out += report_rows(
            "base-not-constant",
            ds,
            frame.loc[work.index[~same]],
            "BASE",
            lambda r, keys=keys: (
                f"BASE is {fmt(r['BASE'])} here but {fmt(r['__TOP__'])} on {others(r['__N__'])} "
                f"of {where(r, keys)}; BASE must be constant within the group."
            ),
            value="BASE",
        )
    return out


@rule(
    "base-not-baseline-aval",
    "error",
    "adam",
    checks="On the baseline record (ABLFL = 'Y') a populated BASE equals AVAL.",
    why="BASE is the AVAL of the baseline record by definition; a baseline record whose BASE "
    "differs shows the baseline was taken from another record than the one flagged.",
    refs=["AD0152"],
)
def base_not_baseline_aval(package: Package) -> list[Finding]:
    """ABLFL = Y records with BASE != AVAL."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        f = ds.frame
        if not {"ABLFL", "BASE", "AVAL"} <= set(f.columns):
            continue
        base, aval = sas_number(ds, "BASE"), sas_number(ds, "AVAL")
        same = np.isclose(base.fillna(0), aval.fillna(np.inf), rtol=CHG_RTOL, atol=1e-12)
        bad = _is_y(f["ABLFL"]) & base.notna().to_numpy() & ~same
        out += report_rows(
            "base-not-baseline-aval",
            ds,
            rows_where(f, bad),
            "BASE",
            lambda r: (
                f"ABLFL is 'Y' but BASE {fmt(r['BASE'])} is not AVAL {fmt(r['AVAL'])}; BASE must "
                "be the AVAL of the baseline record."
            ),
            value="BASE",
        )
    return out


@rule(
    "base-without-baseline-record",
    "error",
    "adam",
    checks="A group (USUBJID, PARAMCD and BASETYPE when present) with BASE or BASEC populated "
    "has a record with ABLFL = 'Y'; every record of a group without one is reported.",
    why="BASE is taken from the record flagged ABLFL; a baseline with no baseline record cannot "
    "be traced to the value it came from.",
    refs=["AD0127"],
)
def base_without_baseline_record(package: Package) -> list[Finding]:
    """Groups with a baseline value but no ABLFL record."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        f = ds.frame
        keys = _group_keys(f)
        bases = [v for v in ("BASE", "BASEC") if v in f.columns]
        if keys is None or "ABLFL" not in f.columns or not bases:
            continue
        has_base = np.zeros(len(f), dtype=bool)
        for v in bases:
            has_base |= np.asarray(present(f[v]), dtype=bool)
        flagged = pd.Series(_is_y(f["ABLFL"]), index=f.index)
        any_flag = flagged.groupby([f[k] for k in keys], dropna=False).transform("any")
        bad = has_base & ~any_flag.to_numpy(dtype=bool)
        out += report_rows(
            "base-without-baseline-record",
            ds,
            rows_where(f, bad),
            bases[0],
            lambda r, keys=keys: (
                f"{where(r, keys)} has a baseline value but no record with ABLFL = 'Y'; flag the "
                "record the baseline comes from."
            ),
            value=bases[0],
        )
    return out


@rule(
    "ablfl-multiple",
    "error",
    "adam",
    checks="At most one record per USUBJID and PARAMCD (and BASETYPE when present) has "
    "ABLFL = 'Y'; every record of a group with several is reported.",
    why="ABLFL marks the record BASE comes from; two baseline records make BASE ambiguous "
    "and usually mean the baseline window or tie-break was not applied.",
    refs=["AD0154"],
)
def ablfl_multiple(package: Package) -> list[Finding]:
    """Several baseline records for one subject and parameter."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        keys = _group_keys(ds.frame)
        if keys is None or "ABLFL" not in ds.frame.columns:
            continue
        f = ds.frame
        flagged = pd.Series(_is_y(f["ABLFL"]), index=f.index)
        count = flagged.groupby([f[k] for k in keys], dropna=False).transform("sum")
        bad = flagged & (count > 1)
        frame = f.assign(__N__=count)
        out += report_rows(
            "ablfl-multiple",
            ds,
            frame.loc[bad],
            "ABLFL",
            lambda r, keys=keys: (
                f"{int(r['__N__'])} records of {where(r, keys)} have ABLFL = 'Y'; flag "
                "exactly one baseline record."
            ),
            value="ABLFL",
        )
    return out


@rule(
    "analysis-flag-not-y-or-null",
    "error",
    "adam",
    checks="ABLFL and the analysis flags ANLzzFL are 'Y' or null (never 'N').",
    why="These flags mark the records an analysis uses; ADaMIG defines them as 'Y' or null, "
    "and an 'N' is read as flagged by programs that test for populated values.",
    refs=["AD0176", "AD0178"],
)
def analysis_flag_not_y_or_null(package: Package) -> list[Finding]:
    """ABLFL / ANLzzFL values other than Y."""
    return each_record(
        "analysis-flag-not-y-or-null",
        bds_datasets(package),
        lambda ds: [v for v in ds.variables if re.fullmatch(r"ABLFL|ANL\d{2}FL", v)],
        lambda ds, v: present(ds.frame[v]) & ~stripped(ds.frame[v]).eq("Y").fillna(False),
        lambda v: lambda r: f"{v} is {fmt(r[v])}; {v} must be 'Y' or null.",  # type: ignore[index]
    )


@rule(
    "chg-not-aval-minus-base",
    "error",
    "adam",
    checks="A populated CHG equals AVAL - BASE (relative tolerance 1e-9) and is null when AVAL "
    "or BASE is null. A null CHG is not reported: leaving it null on baseline and "
    "pre-baseline records is the producer's choice.",
    why="CHG is defined as AVAL - BASE; a CHG that disagrees was derived from other values "
    "than the ones shown, so the analysis cannot be reproduced.",
    refs=["AD0223", "AD0132B"],
)
def chg_not_aval_minus_base(package: Package) -> list[Finding]:
    """CHG that is not AVAL - BASE."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        f = ds.frame
        if not {"CHG", "AVAL", "BASE"} <= set(f.columns):
            continue
        chg = sas_number(ds, "CHG")
        expected = sas_number(ds, "AVAL") - sas_number(ds, "BASE")
        same = np.isclose(chg.fillna(0), expected.fillna(np.inf), rtol=CHG_RTOL, atol=1e-12)
        bad = chg.notna() & ~pd.Series(same, index=f.index)
        frame = f.assign(__EXP__=expected)

        def say(r: object) -> str:
            if pd.isna(r["__EXP__"]):  # type: ignore[index]
                return (
                    f"CHG is {fmt(r['CHG'])} but AVAL is {fmt(r['AVAL'])} and BASE is "  # type: ignore[index]
                    f"{fmt(r['BASE'])}; CHG must be null when either is null."  # type: ignore[index]
                )
            return (
                f"CHG is {fmt(r['CHG'])} but AVAL {fmt(r['AVAL'])} - BASE {fmt(r['BASE'])} is "  # type: ignore[index]
                f"{fmt(r['__EXP__'])}; CHG must equal AVAL - BASE."  # type: ignore[index]
            )

        out += report_rows("chg-not-aval-minus-base", ds, frame.loc[bad], "CHG", say, value="CHG")
    return out


@rule(
    "pchg-not-percent-change",
    "error",
    "adam",
    checks="A populated PCHG equals 100 * (AVAL - BASE) / BASE, up to the rounding PCHG shows "
    "(a PCHG of -30.84 matches -30.8357...); it is null when BASE is 0 or AVAL or BASE is null.",
    why="PCHG is defined from AVAL and BASE; a different value, or a percentage of a zero "
    "baseline, cannot be reproduced from the data.",
    refs=["AD0225", "AD0225A"],
)
def pchg_not_percent_change(package: Package) -> list[Finding]:
    """PCHG that is not 100 * (AVAL - BASE) / BASE."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        f = ds.frame
        if not {"PCHG", "AVAL", "BASE"} <= set(f.columns):
            continue
        pchg = sas_number(ds, "PCHG")
        base = sas_number(ds, "BASE")
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = 100.0 * (sas_number(ds, "AVAL") - base) / base.where(base.ne(0.0))
        has = pchg.notna().to_numpy()
        bad = has & (expected.isna().to_numpy() | ~_close(pchg.fillna(0.0), expected))
        frame = f.assign(__EXP__=expected)

        def say(r: object) -> str:
            if pd.isna(r["__EXP__"]):  # type: ignore[index]
                return (
                    f"PCHG is {fmt(r['PCHG'])} but AVAL is {fmt(r['AVAL'])} and BASE is "  # type: ignore[index]
                    f"{fmt(r['BASE'])}; PCHG must be null when BASE is 0 or null or AVAL is null."  # type: ignore[index]
                )
            return (
                f"PCHG is {fmt(r['PCHG'])} but 100 * (AVAL {fmt(r['AVAL'])} - BASE "  # type: ignore[index]
                f"{fmt(r['BASE'])}) / BASE is {float(r['__EXP__']):.6g}; PCHG must be the "  # type: ignore[index,arg-type]
                "percent change from baseline."
            )

        out += report_rows(
            "pchg-not-percent-change", ds, rows_where(frame, bad), "PCHG", say, value="PCHG"
        )
    return out


@rule(
    "baseline-indicator-differs",
    "error",
    "adam",
    checks="On the baseline record (ABLFL = 'Y') a populated BNRIND equals ANRIND and a "
    "populated BTOXGR equals ATOXGR.",
    why="Baseline variables are the analysis values of the baseline record; a different one "
    "makes every shift table from baseline wrong.",
    refs=["AD0168", "AD0165"],
)
def baseline_indicator_differs(package: Package) -> list[Finding]:
    """Baseline range indicators / toxicity grades that differ from the baseline record's."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        f = ds.frame
        if "ABLFL" not in f.columns:
            continue
        is_base = _is_y(f["ABLFL"])
        for b, a in (("BNRIND", "ANRIND"), ("BTOXGR", "ATOXGR")):
            if not {a, b} <= set(f.columns):
                continue
            bad = (
                is_base
                & np.asarray(present(f[b]), dtype=bool)
                & ~np.asarray(stripped(f[b]).eq(stripped(f[a])).fillna(False), dtype=bool)
            )
            out += report_rows(
                "baseline-indicator-differs",
                ds,
                rows_where(f, bad),
                b,
                lambda r, a=a, b=b: (
                    f"ABLFL is 'Y' but {b} {fmt(r[b])} is not {a} {fmt(r[a])}; {b} must be the "
                    f"{a} of the baseline record."
                ),
                value=b,
            )
    return out


@rule(
    "criterion-flag-without-criterion",
    "error",
    "adam",
    checks="A populated CRITyFL has its CRITy populated on the same record, and a CRITyFL "
    "variable comes with its CRITy variable.",
    why="CRITyFL says whether the record meets criterion y; without the criterion's text the "
    "flag cannot be interpreted.",
    refs=["AD0137", "AD0156"],
)
def criterion_flag_without_criterion(package: Package) -> list[Finding]:
    """CRITyFL populated (or present) without CRITy."""
    out: list[Finding] = []
    for ds in bds_datasets(package):
        names = set(ds.variables)
        for flag in sorted(v for v in names if re.fullmatch(r"CRIT\dFL", v)):
            crit = flag[:-2]
            if crit not in names:
                out.append(
                    dataset_finding(
                        "criterion-flag-without-criterion",
                        ds,
                        flag,
                        f"{flag} is present but {crit} is not; add {crit} (the criterion text).",
                    )
                )
                continue
            bad = present(ds.frame[flag]) & ~present(ds.frame[crit])
            out += report_rows(
                "criterion-flag-without-criterion",
                ds,
                rows_where(ds.frame, bad),
                flag,
                lambda r, flag=flag, crit=crit: (
                    f"{flag} is {fmt(r[flag])} but {crit} is null; give the criterion on every "
                    "record that is flagged for it."
                ),
                value=flag,
            )
    return out


SEQ_SPAN = 2**24
"""--SEQ values are coded below this bound (an SDTM --SEQ is a small positive integer)."""


def _seq_keys(domain: np.ndarray, subject: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """One int64 per (dataset code, subject code, integral --SEQ); -1 where unusable."""
    whole = np.isfinite(seq) & (seq >= 0) & (seq < SEQ_SPAN) & (np.floor(seq) == seq)
    ok = whole & (domain >= 0) & (subject >= 0)
    key = (domain.astype(np.int64) * (2**24) + subject.astype(np.int64)) * SEQ_SPAN
    key = key + np.where(whole, seq, 0).astype(np.int64)
    return np.where(ok, key, -1)


def _seq_index(package: Package) -> tuple[list[str], pd.Index, pd.Index]:
    """The SDTM datasets with --SEQ, their subjects and the keys of their records."""
    names: list[str] = []
    parts: list[tuple[int, pd.Series, pd.Series]] = []
    for name, ds in package.datasets.items():
        if ds.kind != "sdtm" or "USUBJID" not in ds.frame.columns:
            continue
        seq = [c for c in ds.frame.columns if c.endswith("SEQ") and len(c) == 5]
        if seq:
            parts.append((len(names), stripped(ds.frame["USUBJID"]), ds.frame[seq[0]]))
            names.append(name)
    if not parts:
        return [], pd.Index([]), pd.Index(np.array([], dtype=np.int64))
    subjects = pd.Index(pd.unique(pd.concat([p[1] for p in parts]).dropna().astype(object)))
    keys = [
        _seq_keys(
            np.full(len(subject), code),
            subjects.get_indexer(subject.astype(object)),
            pd.to_numeric(seq, errors="coerce").to_numpy(dtype="float64"),
        )
        for code, subject, seq in parts
    ]
    return names, subjects, pd.Index(np.concatenate(keys))


@rule(
    "srcseq-not-found",
    "error",
    "adam",
    checks="When SRCDOM names an SDTM dataset in the package, the record's USUBJID and SRCSEQ "
    "identify a record of it (its --SEQ).",
    why="SRCDOM/SRCVAR/SRCSEQ are the traceability of a BDS record to the collected value; a "
    "pointer to no record breaks that trace.",
)
def srcseq_not_found(package: Package) -> list[Finding]:
    """SRCSEQ values that point at no SDTM record."""
    wanted = {"SRCDOM", "SRCSEQ", "USUBJID"}
    datasets = [ds for ds in bds_datasets(package) if wanted <= set(ds.frame.columns)]
    if not datasets:
        return []
    names, subjects, known = _seq_index(package)
    if not names:
        return []
    out: list[Finding] = []
    for ds in datasets:
        f = ds.frame
        domain = pd.Index(names).get_indexer(text(f["SRCDOM"]).astype(object))
        seq = sas_number(ds, "SRCSEQ").to_numpy(dtype="float64")
        checked = (domain >= 0) & ~np.isnan(seq)
        if not checked.any():
            continue
        subject = subjects.get_indexer(stripped(f["USUBJID"]).astype(object))
        keys = _seq_keys(domain, subject, seq)
        bad = checked & ~np.asarray(pd.Index(keys).isin(known), dtype=bool)
        out += report_rows(
            "srcseq-not-found",
            ds,
            rows_where(f, bad),
            "SRCSEQ",
            lambda r: (
                f"SRCDOM {fmt(r['SRCDOM'])} has no record with USUBJID {fmt(r['USUBJID'])} and "
                f"--SEQ {fmt(r['SRCSEQ'])}; SRCSEQ must point at the source record."
            ),
            value="SRCSEQ",
        )
    return out
