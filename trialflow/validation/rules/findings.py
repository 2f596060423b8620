"""Findings domains (LB, VS, EG, ...): results, units, reference ranges and baseline flags."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.sdtm import metadata
from trialflow.validation.core import (
    Dataset,
    Package,
    cached,
    factorized,
    rule,
    spread,
)
from trialflow.validation.rules.common import (
    NUMBER,
    by_subject,
    compare_iso,
    distinct_codes,
    dm_dataset,
    domain_prefix,
    dominant,
    findings_like,
    fmt,
    ig_variables,
    in_set,
    numbers,
    one_value_per_group,
    others,
    present,
    report_rows,
    row_codes,
    rows_where,
    sdtm_datasets,
    stripped,
    text,
    value_codes,
)
from trialflow.validation.units import merged_test_units, shipped_test_units, test_unit


@rule(
    "stresc-stresn-mismatch",
    "error",
    "cross",
    checks="When --STRESN is populated --STRESC holds the same number, and a --STRESC that is a "
    "plain number has --STRESN populated. Compared as numbers: '9.30' equals 9.3; a --STRESC "
    "such as '<0.5' with --STRESN null is correct and not reported.",
    why="--STRESN is the numeric copy of --STRESC; when they disagree, analyses built on one "
    "and listings built on the other show different results.",
    refs=["CORE-000542", "FB3102", "CORE-000732", "FB3103"],
)
def stresc_stresn_mismatch(package: Package) -> list[Finding]:
    """--STRESC and --STRESN that disagree."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        c, n = f"{prefix}STRESC", f"{prefix}STRESN"
        if c not in ds.frame.columns or n not in ds.frame.columns:
            continue
        f = ds.frame
        as_number = numbers(f[c])
        stresn = pd.to_numeric(f[n], errors="coerce")
        has_n = stresn.notna()
        same = np.isclose(as_number.fillna(np.inf), stresn.fillna(-np.inf), rtol=1e-9, atol=0)
        differs = has_n & ~pd.Series(same, index=f.index)
        unfilled = ~has_n & as_number.notna()

        def say(r: pd.Series, c: str = c, n: str = n) -> str:
            if pd.isna(r[n]):
                number = str(r[c]).strip()
                return f"{c} {fmt(r[c])} is a number but {n} is missing; set {n} to {number}."
            return f"{c} is {fmt(r[c])} but {n} is {fmt(r[n])}; {c} must hold the value of {n}."

        out += report_rows(
            "stresc-stresn-mismatch", ds, rows_where(f, differs | unfilled), c, say, value=c
        )
    return out


def _units_apply(frame: pd.DataFrame, unit: str, testcd: str) -> pd.Series:
    """True where some record of the same test (or of the dataset, without --TESTCD) has a unit."""
    has = present(frame[unit])
    if testcd in frame.columns:
        return has.groupby(value_codes(frame[testcd])).transform("any").astype(bool)
    return pd.Series(bool(has.any()), index=frame.index)


def _unit_needed(
    package: Package, ds: Dataset, unit: str, testcd: str
) -> tuple[pd.Series, pd.Series]:
    """Per record: whether its test is measured in a unit, and why.

    The test-units table decides (shipped, with the study's rows of ``package.test_units``
    replacing shipped ones); the reason is its ``reason``. A test the table does not know needs
    a unit when other records of the test carry one; its reason is empty.
    """
    f = ds.frame
    fallback = _units_apply(f, unit, testcd).to_numpy(dtype=bool)
    if testcd not in f.columns:
        return pd.Series(fallback, index=f.index), pd.Series("", index=f.index, dtype=object)
    table = merged_test_units(shipped_test_units(), package.test_units)
    domain = domain_prefix(ds)
    codes, distinct = factorized(f[testcd])
    rows = [test_unit(table, domain, t) for t in distinct]
    # one slot more for the missing --TESTCD (code -1): not known, falls back
    known = np.array([r is not None for r in rows] + [False], dtype=bool)
    needs = np.array([r is not None and r.expects_unit for r in rows] + [False], dtype=bool)
    reason = np.array([r.reason if r is not None else "" for r in rows] + [""], dtype=object)
    need = np.where(known[codes], needs[codes], fallback)
    return pd.Series(need, index=f.index), pd.Series(reason[codes], index=f.index)


def _say_unit(value: str, unit: str, testcd: str, standard: bool):
    """The message of a result without its unit: the test's reason, else the other records."""

    def say(r: pd.Series) -> str:
        test = f" ({testcd} {fmt(r[testcd])})" if testcd in r else ""
        add = "add the standard unit" if standard else "add the unit"
        if r["__WHY__"]:
            why = r["__WHY__"]
            return f"{value} {fmt(r[value])}{test} has no {unit}; the test is {why}; {add}."
        return (
            f"{value} {fmt(r[value])}{test} has no {unit} although other records of the test "
            f"have one; {add}."
        )

    return say


_UNIT_CHECKS = (
    "A result of 0 is not reported (0 is 0 in every unit), nor a qualitative result "
    "('NEGATIVE', '<0.5'). Whether a test is measured in a unit comes from "
    "trialflow/validation/data/test_units.csv (LB and VS tests of CDISC CT 2024-09-27, with "
    "their UCUM units: HCT, ANISO, KETONES yes; PH, SPGRAV, ratios and qualitative tests no), "
    "whose rows a study replaces (trialflow validate --units FILE, study.yaml test_units); a "
    "test absent from it is reported only when other records of the test carry a unit."
)


@rule(
    "orresu-missing",
    "warning",
    "cross",
    checks="A numeric --ORRES has --ORRESU when its test is measured in a unit. " + _UNIT_CHECKS,
    why="A number without its unit cannot be converted to standard units or compared with its "
    "reference range.",
    refs=["SD0026"],
)
def orresu_missing(package: Package) -> list[Finding]:
    """Numeric original results without a unit."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        res, unit, testcd = f"{prefix}ORRES", f"{prefix}ORRESU", f"{prefix}TESTCD"
        if res not in ds.frame.columns or unit not in ds.frame.columns:
            continue
        f = ds.frame
        number = numbers(f[res])
        candidate = number.notna() & (number != 0) & ~present(f[unit])
        if not candidate.any():
            continue
        need, why = _unit_needed(package, ds, unit, testcd)
        out += report_rows(
            "orresu-missing",
            ds,
            rows_where(f.assign(__WHY__=why), candidate & need),
            unit,
            _say_unit(res, unit, testcd, standard=False),
            value=res,
        )
    return out


@rule(
    "stresu-missing",
    "error",
    "cross",
    checks="A numeric standard result (--STRESC a plain number, or --STRESN populated) has "
    "--STRESU when its test is measured in a unit. " + _UNIT_CHECKS,
    why="Standard numeric results are pooled and summarised across subjects; without the unit "
    "a value cannot be interpreted or checked for consistency.",
    refs=["SD0029"],
)
def stresu_missing(package: Package) -> list[Finding]:
    """Standard numeric results without a standard unit."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        c, n, unit = f"{prefix}STRESC", f"{prefix}STRESN", f"{prefix}STRESU"
        testcd = f"{prefix}TESTCD"
        columns = ds.frame.columns
        if unit not in columns or (c not in columns and n not in columns):
            continue
        f = ds.frame
        number = numbers(f[c]) if c in columns else pd.Series(np.nan, index=f.index)
        if n in columns:
            number = number.fillna(pd.to_numeric(f[n], errors="coerce"))
        candidate = number.notna() & (number != 0) & ~present(f[unit])
        if not candidate.any():
            continue
        need, why = _unit_needed(package, ds, unit, testcd)
        out += report_rows(
            "stresu-missing",
            ds,
            rows_where(f.assign(__WHY__=why), candidate & need),
            unit,
            _say_unit(c if c in columns else n, unit, testcd, standard=True),
            value=c if c in columns else n,
        )
    return out


@rule(
    "stresu-multiple-per-test",
    "warning",
    "cross",
    checks="Each test has one standard unit: records of the same --TESTCD (and, where present, "
    "--CAT, --SCAT, --SPEC, --METHOD and --TPT) share --STRESU. Records without a unit are left "
    "to stresu-missing; the records reported are those whose unit differs from the test's most "
    "used one.",
    why="Standard units exist so that a test's results can be summarised together; two units "
    "for one test means some results were not converted.",
    refs=["CORE-000699", "FB3001"],
)
def stresu_multiple_per_test(package: Package) -> list[Finding]:
    """Tests reported in more than one standard unit."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        unit, testcd = f"{prefix}STRESU", f"{prefix}TESTCD"
        if unit not in ds.frame.columns or testcd not in ds.frame.columns:
            continue
        keys = [
            f"{prefix}{k}"
            for k in ("TESTCD", "CAT", "SCAT", "SPEC", "METHOD", "TPT")
            if f"{prefix}{k}" in ds.frame.columns
        ]
        f = ds.frame
        has = present(f[unit])
        if not has.any():
            continue
        mask = has.to_numpy()
        units = value_codes(stripped(f[unit]))[mask]
        if one_value_per_group([value_codes(f[k])[mask] for k in keys], units):
            continue  # every test has one unit: nothing to report
        work = f.loc[has, keys].assign(__UNIT__=stripped(f.loc[has, unit]))
        top = dominant(work, keys, "__UNIT__")
        odd = work.index[work["__UNIT__"].to_numpy() != top["dominant"].to_numpy()]
        frame = f.assign(__TOP__=top["dominant"], __N__=top["count"])
        out += report_rows(
            "stresu-multiple-per-test",
            ds,
            frame.loc[odd],
            unit,
            lambda r, unit=unit, t=testcd: (
                f"{unit} {fmt(r[unit])} differs from "
                f"{fmt(r['__TOP__'])} used by {others(r['__N__'])} of {t} "
                f"{fmt(r[t])}; report each test in one standard unit."
            ),
            value=unit,
        )
    return out


@rule(
    "stnrlo-above-stnrhi",
    "error",
    "cross",
    checks="--STNRLO is not greater than --STNRHI.",
    why="A reference range whose low limit exceeds its high limit makes every --NRIND derived "
    "from it wrong; the limits were usually swapped.",
    refs=["CORE-000672", "FB3901"],
)
def stnrlo_above_stnrhi(package: Package) -> list[Finding]:
    """Reference ranges with the low limit above the high limit."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        lo, hi = f"{prefix}STNRLO", f"{prefix}STNRHI"
        if lo not in ds.frame.columns or hi not in ds.frame.columns:
            continue
        f = ds.frame
        bad = (
            pd.to_numeric(f[lo], errors="coerce") > pd.to_numeric(f[hi], errors="coerce")
        ).fillna(False)
        out += report_rows(
            "stnrlo-above-stnrhi",
            ds,
            rows_where(f, bad.astype(bool)),
            lo,
            lambda r, lo=lo, hi=hi: (
                f"{lo} {fmt(r[lo])} is above {hi} {fmt(r[hi])}; the low "
                "limit must not exceed the high limit."
            ),
            value=lo,
        )
    return out


@rule(
    "baseline-missing",
    "warning",
    "cross",
    checks="Every treated subject (DM.RFXSTDTC populated) with records in a Findings dataset that "
    "carries --BLFL or --LOBXFL has at least one record there with --BLFL or --LOBXFL = 'Y'. "
    "Reported once per subject and dataset (no record number).",
    why="Change from baseline is the primary analysis of most findings; a treated subject "
    "without a baseline record silently drops out of it.",
    refs=["SD0006"],
)
def baseline_missing(package: Package) -> list[Finding]:
    """Treated subjects with no baseline record in a Findings dataset."""
    dm = dm_dataset(package)
    if dm is None or "RFXSTDTC" not in dm.frame.columns:
        return []
    treated = set(dm.frame.loc[present(dm.frame["RFXSTDTC"]), "USUBJID"].astype("str").str.strip())
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        flags = [f"{prefix}{v}" for v in ("BLFL", "LOBXFL") if f"{prefix}{v}" in ds.frame.columns]
        if ds is dm or not flags or "USUBJID" not in ds.frame.columns:
            continue
        if not findings_like(ds, prefix):
            continue
        f = ds.frame
        keep = present(f["USUBJID"]).to_numpy()
        base = pd.Series(False, index=f.index)
        for flag in flags:
            base |= text(f[flag]).eq("Y").fillna(False).astype(bool)
        has_base = base[keep].groupby(stripped(f["USUBJID"])[keep]).any()
        subjects = has_base.index.to_series()
        missing = has_base.index[~has_base.to_numpy() & in_set(subjects, treated).to_numpy()]
        rows = pd.DataFrame({"USUBJID": missing})
        shown = " or ".join(flags)
        out += report_rows(
            "baseline-missing",
            ds,
            rows,
            flags[-1],
            lambda r, shown=shown, name=ds.name: (
                f"Treated subject {fmt(r['USUBJID'])} has "
                f"{name} records but none with {shown} = 'Y'; flag the baseline record."
            ),
        )
    return out


# --- tests, results and their status ---------------------------------------------------------

_TESTCD = r"[A-Za-z_][A-Za-z0-9_]{0,7}"
"""A valid --TESTCD: at most 8 letters, digits or underscores, not starting with a digit."""


def findings_datasets(package: Package) -> list[tuple[Dataset, str]]:
    """The package's Findings datasets (by SDTMIG class, or having --TESTCD) with their prefix.

    Example:
        >>> lb = Dataset.from_frame("LB", pd.DataFrame({"DOMAIN": ["LB"], "LBTESTCD": ["GLUC"]}))
        >>> [(ds.name, p) for ds, p in findings_datasets(Package({"LB": lb}))]
        [('LB', 'LB')]
    """

    def compute() -> list[tuple[Dataset, str]]:
        out = []
        for ds in sdtm_datasets(package):
            prefix = domain_prefix(ds)
            known = _class_of(prefix)
            if known == "Findings" or (known is None and f"{prefix}TESTCD" in ds.frame.columns):
                out.append((ds, prefix))
        return out

    return cached(package, ("findings-datasets",), compute)  # type: ignore[return-value]


def _class_of(domain: str) -> str | None:
    """The SDTMIG class of a domain trialflow has metadata for (None for others)."""
    if metadata.supp_parent(domain):
        return None
    ig = ig_variables(domain)
    return None if ig is None or ig.empty else str(ig["class"].iloc[0])


def _is(values: pd.Series, wanted: str) -> pd.Series:
    """True where the trimmed upper-case value is ``wanted``."""
    return text(values).eq(wanted).fillna(False).astype(bool)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """The column ``name``, or an all-missing text column when the dataset has none."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(pd.NA, index=frame.index, dtype="str")


def _trimmed_codes(values: pd.Series) -> np.ndarray:
    """Codes of ``values`` equal where the values are equal once trimmed (missing: -1)."""
    codes, distinct = distinct_codes(values)
    trimmed, _ = pd.factorize(distinct.str.strip())
    return spread(codes, np.asarray(trimmed, dtype=np.int64), -1)


def _flag(frame: pd.DataFrame, name: str, wanted: str) -> pd.Series:
    """True where ``name`` holds ``wanted`` (trimmed, any case); all False without the column."""
    if name not in frame.columns:
        return pd.Series(False, index=frame.index)
    return _is(frame[name], wanted)


def _filled_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """present() of the column ``name``; all False without the column."""
    if name not in frame.columns:
        return pd.Series(False, index=frame.index)
    return present(frame[name])


def _not_dominant(frame: pd.DataFrame, key: str, value: str) -> tuple[pd.Index, pd.DataFrame]:
    """Records (with both populated) whose ``value`` is not the most used one of their ``key``.

    Returns their index and the dominant value and its count per record of the populated part.
    """
    both = present(frame[key]) & present(frame[value])
    if not both.any():
        return frame.index[:0], pd.DataFrame()
    mask = both.to_numpy()
    k, v = _trimmed_codes(frame[key])[mask], _trimmed_codes(frame[value])[mask]
    if one_value_per_group([k], v):
        return frame.index[:0], pd.DataFrame()
    work = pd.DataFrame(
        {"K": stripped(frame.loc[both, key]), "V": stripped(frame.loc[both, value])},
        index=frame.index[mask],
    )
    top = dominant(work, ["K"], "V")
    odd = work.index[work["V"].to_numpy() != top["dominant"].to_numpy()]
    return odd, top


@rule(
    "testcd-test-not-one-to-one",
    "error",
    "cross",
    checks="In each Findings dataset --TESTCD and --TEST have a one-to-one relationship: a test "
    "code always goes with the same test name and a test name with the same code. The records "
    "reported are those whose name (or code) differs from the one most records of the code (or "
    "name) use.",
    why="--TESTCD is the short name of --TEST; a code used for two tests (or two codes for one "
    "test) mixes results of different tests in every summary by test.",
    refs=["CORE-000303", "FB0901", "SD0040"],
)
def bad_testcd_test_pairs(package: Package) -> list[Finding]:
    """Test codes with more than one test name, and test names with more than one code."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        code, name = f"{prefix}TESTCD", f"{prefix}TEST"
        if code not in ds.frame.columns or name not in ds.frame.columns:
            continue
        f = ds.frame
        odd_name, top_name = _not_dominant(f, code, name)
        odd_code, top_code = _not_dominant(f, name, code)
        if odd_name.empty and odd_code.empty:
            continue
        work = f.assign(__WHY__="")
        if not odd_name.empty:
            work.loc[odd_name, "__WHY__"] = [
                f"{code} {fmt(c)} goes with {name} {fmt(t)} on {others(n)}"
                for c, t, n in zip(
                    stripped(f.loc[odd_name, code]),
                    top_name.loc[odd_name, "dominant"],
                    top_name.loc[odd_name, "count"],
                    strict=True,
                )
            ]
        if not odd_code.empty:
            rest = odd_code.difference(odd_name)
            work.loc[rest, "__WHY__"] = [
                f"{name} {fmt(t)} has {code} {fmt(c)} on {others(n)}"
                for t, c, n in zip(
                    stripped(f.loc[rest, name]),
                    top_code.loc[rest, "dominant"],
                    top_code.loc[rest, "count"],
                    strict=True,
                )
            ]
        out += report_rows(
            "testcd-test-not-one-to-one",
            ds,
            work.loc[odd_name.union(odd_code)],
            code,
            lambda r, code=code, name=name: (
                f"{code} {fmt(r[code])} with {name} {fmt(r[name])}: {r['__WHY__']}; give each "
                "test one code and one name."
            ),
            value=code,
        )
    return out


@rule(
    "testcd-invalid",
    "error",
    "cross",
    checks="--TESTCD values are at most 8 characters of letters, digits and underscores and do "
    "not start with a digit.",
    why="--TESTCD values become variable names when a Findings dataset is transposed (and "
    "PARAMCD in ADaM); a value that is not a valid SAS name cannot be one.",
    refs=["CORE-000220", "CG0372", "SD0018"],
)
def invalid_testcd(package: Package) -> list[Finding]:
    """Test codes that are not valid names."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        code = f"{prefix}TESTCD"
        if code not in ds.frame.columns:
            continue
        f = ds.frame
        codes, distinct = distinct_codes(f[code])
        good = distinct.str.strip().str.fullmatch(_TESTCD).fillna(False).to_numpy(dtype=bool)
        bad = present(f[code]).to_numpy() & ~spread(codes, good, True)
        out += report_rows(
            "testcd-invalid",
            ds,
            rows_where(f, pd.Series(bad, index=f.index)),
            code,
            lambda r, code=code: (
                f"{code} {fmt(r[code])} is not a valid test code: use at most 8 letters, digits "
                "or underscores, not starting with a digit."
            ),
            value=code,
        )
    return out


@rule(
    "test-too-long",
    "error",
    "cross",
    checks="--TEST values are at most 40 characters (IETEST, which may hold up to 200, is not "
    "concerned).",
    why="--TEST becomes the label of the transposed variable (and PARAM in ADaM); SAS XPORT v5 "
    "labels hold 40 characters.",
    refs=["SD0017", "CORE-000199"],
)
def long_test_name(package: Package) -> list[Finding]:
    """Test names longer than 40 characters."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        name = f"{prefix}TEST"
        if prefix == "IE" or name not in ds.frame.columns:
            continue
        f = ds.frame
        codes, distinct = distinct_codes(f[name])
        long = distinct.str.strip().str.len().gt(40).fillna(False).to_numpy(dtype=bool)
        bad = spread(codes, long, False)
        out += report_rows(
            "test-too-long",
            ds,
            rows_where(f, pd.Series(bad, index=f.index)),
            name,
            lambda r, name=name: (
                f"{name} {fmt(r[name])} has {len(str(r[name]).strip())} characters; shorten it "
                "to 40."
            ),
            value=name,
        )
    return out


@rule(
    "orres-missing",
    "warning",
    "cross",
    checks="In Findings datasets --ORRES is populated unless the test was not done (--STAT "
    "populated) or the record is derived (--DRVFL = 'Y').",
    why="--ORRES is the result as collected; a record with neither a result nor a status says "
    "nothing and hides whether the test was done.",
    refs=["CORE-000200", "CG0348", "SD0047"],
)
def orres_missing(package: Package) -> list[Finding]:
    """Findings records with no result and no not-done status."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        res, stat, drvfl = f"{prefix}ORRES", f"{prefix}STAT", f"{prefix}DRVFL"
        if res not in ds.frame.columns:
            continue
        f = ds.frame
        bad = ~present(f[res]) & ~_filled_column(f, stat) & ~_flag(f, drvfl, "Y")
        testcd = f"{prefix}TESTCD"
        out += report_rows(
            "orres-missing",
            ds,
            rows_where(f, bad),
            res,
            lambda r, res=res, stat=stat, t=testcd: (
                f"{res} is missing"
                + (f" for {t} {fmt(r[t])}" if t in r else "")
                + f"; give the result, or set {stat} = 'NOT DONE' (with the reason) if the test "
                "was not done."
            ),
        )
    return out


@rule(
    "orres-with-stat",
    "error",
    "cross",
    checks="In Findings datasets --STAT is null when --ORRES is populated.",
    why="--STAT = 'NOT DONE' says there is no result; a record with both a result and a "
    "not-done status contradicts itself.",
    refs=["CORE-000099", "CG0422"],
)
def orres_with_stat(package: Package) -> list[Finding]:
    """Findings records with both a result and a status."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        res, stat = f"{prefix}ORRES", f"{prefix}STAT"
        if res not in ds.frame.columns or stat not in ds.frame.columns:
            continue
        f = ds.frame
        bad = present(f[res]) & present(f[stat])
        out += report_rows(
            "orres-with-stat",
            ds,
            rows_where(f, bad),
            stat,
            lambda r, res=res, stat=stat: (
                f"{stat} is {fmt(r[stat])} but {res} holds {fmt(r[res])}; clear {stat} when "
                "there is a result, or the result when the test was not done."
            ),
            value=stat,
        )
    return out


_REASND_EXEMPT = frozenset({"EX", "AE", "DS", "DV", "IE"})


@rule(
    "reasnd-without-not-done",
    "error",
    "cross",
    checks="--REASND is populated only when --STAT = 'NOT DONE' (datasets other than EX, AE, "
    "DS, DV and IE).",
    why="--REASND explains why an observation was not made; with --STAT not 'NOT DONE' it "
    "explains nothing, and a reviewer cannot tell whether the result stands.",
    refs=["CORE-000225", "CG0094"],
)
def reasnd_without_not_done(package: Package) -> list[Finding]:
    """Reasons not done on records that are not marked not done."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        reasnd, stat = f"{prefix}REASND", f"{prefix}STAT"
        if prefix in _REASND_EXEMPT or reasnd not in ds.frame.columns:
            continue
        f = ds.frame
        bad = present(f[reasnd]) & ~_flag(f, stat, "NOT DONE")
        out += report_rows(
            "reasnd-without-not-done",
            ds,
            rows_where(f, bad),
            reasnd,
            lambda r, reasnd=reasnd, stat=stat: (
                f"{reasnd} is {fmt(r[reasnd])} but {stat} is {fmt(r.get(stat))}; set {stat} = "
                f"'NOT DONE' or clear {reasnd}."
            ),
            value=reasnd,
        )
    return out


@rule(
    "not-done-without-reason",
    "warning",
    "cross",
    checks="In Findings datasets a record with --STAT = 'NOT DONE' has --REASND populated.",
    why="When a test is not done the reason should be given; FDA reviewers ask for it.",
    refs=["CORE-000774", "FB4202"],
)
def not_done_without_reason(package: Package) -> list[Finding]:
    """Not-done records without a reason."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        reasnd, stat = f"{prefix}REASND", f"{prefix}STAT"
        if stat not in ds.frame.columns:
            continue
        f = ds.frame
        bad = _is(f[stat], "NOT DONE") & ~_filled_column(f, reasnd)
        testcd = f"{prefix}TESTCD"
        out += report_rows(
            "not-done-without-reason",
            ds,
            rows_where(f, bad),
            reasnd if reasnd in f.columns else stat,
            lambda r, reasnd=reasnd, stat=stat, t=testcd: (
                f"{stat} is 'NOT DONE'"
                + (f" for {t} {fmt(r[t])}" if t in r else "")
                + f" but {reasnd} is missing; give the reason the test was not done."
            ),
            value=stat,
        )
    return out


@rule(
    "stresu-without-stresc",
    "error",
    "cross",
    checks="In Findings datasets --STRESC is populated when --STRESU is.",
    why="--STRESU is the unit of --STRESC and --STRESN; a unit without a result describes "
    "nothing and usually means the standard result was lost in conversion.",
    refs=["CORE-000133", "CG0426"],
)
def stresu_without_stresc(package: Package) -> list[Finding]:
    """Standard units without a standard result."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        c, unit = f"{prefix}STRESC", f"{prefix}STRESU"
        if c not in ds.frame.columns or unit not in ds.frame.columns:
            continue
        f = ds.frame
        bad = present(f[unit]) & ~present(f[c])
        out += report_rows(
            "stresu-without-stresc",
            ds,
            rows_where(f, bad),
            c,
            lambda r, c=c, unit=unit: (
                f"{unit} is {fmt(r[unit])} but {c} is missing; give the standard result or "
                "clear the unit."
            ),
            value=unit,
        )
    return out


@rule(
    "stresc-missing",
    "warning",
    "cross",
    checks="In Findings datasets --STRESC is populated when --ORRES is.",
    why="Every original result has a standard result (the same value, converted, or the "
    "standardised text); analyses read --STRESC/--STRESN, so a result missing there is lost.",
    refs=["SD0036"],
)
def stresc_missing(package: Package) -> list[Finding]:
    """Original results without a standard result."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        res, c = f"{prefix}ORRES", f"{prefix}STRESC"
        if res not in ds.frame.columns or c not in ds.frame.columns:
            continue
        f = ds.frame
        bad = present(f[res]) & ~present(f[c])
        out += report_rows(
            "stresc-missing",
            ds,
            rows_where(f, bad),
            c,
            lambda r, res=res, c=c: (
                f"{res} is {fmt(r[res])} but {c} is missing; copy or convert the result into {c}."
            ),
            value=res,
        )
    return out


# --- baseline flags ---------------------------------------------------------------------------


def _flag_without_result(package: Package, code: str, suffix: str) -> list[Finding]:
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        flag, c = f"{prefix}{suffix}", f"{prefix}STRESC"
        if flag not in ds.frame.columns or c not in ds.frame.columns:
            continue
        f = ds.frame
        bad = _is(f[flag], "Y") & ~present(f[c])
        testcd = f"{prefix}TESTCD"
        out += report_rows(
            code,
            ds,
            rows_where(f, bad),
            flag,
            lambda r, flag=flag, c=c, t=testcd: (
                f"{flag} = 'Y'"
                + (f" on {t} {fmt(r[t])}" if t in r else "")
                + f" but {c} is missing; flag a record that has a result."
            ),
            value=flag,
        )
    return out


@rule(
    "blfl-without-result",
    "warning",
    "cross",
    checks="A record with --BLFL = 'Y' has --STRESC populated.",
    why="The baseline record is the value changes are measured from; one without a result "
    "leaves the subject without a baseline.",
    refs=["CORE-000643", "FB2601"],
)
def blfl_without_result(package: Package) -> list[Finding]:
    """Baseline-flagged records without a standard result."""
    return _flag_without_result(package, "blfl-without-result", "BLFL")


@rule(
    "lobxfl-without-result",
    "error",
    "cross",
    checks="A record with --LOBXFL = 'Y' has --STRESC populated.",
    why="--LOBXFL marks the last non-missing value before exposure; a record without a result "
    "cannot be it.",
    refs=["CORE-000105", "CG0569", "FB2602"],
)
def lobxfl_without_result(package: Package) -> list[Finding]:
    """Last-observation-before-exposure records without a standard result."""
    return _flag_without_result(package, "lobxfl-without-result", "LOBXFL")


def _flag_not_y(package: Package, code: str, suffix: str) -> list[Finding]:
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        flag = f"{prefix}{suffix}"
        if flag not in ds.frame.columns:
            continue
        f = ds.frame
        bad = present(f[flag]) & ~stripped(f[flag]).eq("Y").fillna(False).astype(bool)
        out += report_rows(
            code,
            ds,
            rows_where(f, bad),
            flag,
            lambda r, flag=flag: f"{flag} is {fmt(r[flag])}; it must be 'Y' or null.",
            value=flag,
        )
    return out


@rule(
    "lobxfl-not-y",
    "error",
    "cross",
    checks="--LOBXFL is 'Y' or null.",
    why="Baseline records are selected with --LOBXFL = 'Y'; 'N', 'y' or 'YES' silently drops "
    "or adds records.",
    refs=["CORE-000170", "CG0541"],
)
def lobxfl_not_y(package: Package) -> list[Finding]:
    """--LOBXFL values other than 'Y'."""
    return _flag_not_y(package, "lobxfl-not-y", "LOBXFL")


@rule(
    "blfl-not-y",
    "error",
    "cross",
    checks="--BLFL is 'Y' or null (SDTMIG: the flag is 'Y' on the baseline record, null "
    "elsewhere).",
    why="Baseline records are selected with --BLFL = 'Y'; 'N', 'y' or 'YES' silently drops or "
    "adds records.",
)
def blfl_not_y(package: Package) -> list[Finding]:
    """--BLFL values other than 'Y'."""
    return _flag_not_y(package, "blfl-not-y", "BLFL")


_BASELINE_KEYS = ("TESTCD", "CAT", "SCAT", "SPEC", "METHOD", "POS", "LOC", "LAT", "TPTNUM")


@rule(
    "baseline-flag-multiple",
    "warning",
    "cross",
    checks="A subject has at most one record with --BLFL = 'Y' (and at most one with --LOBXFL "
    "= 'Y') per test: per --TESTCD and, where present, --CAT, --SCAT, --SPEC, --METHOD, "
    "--POS, --LOC, --LAT and --TPTNUM. Every flagged record of such a test is reported.",
    why="Change from baseline needs one baseline value per subject and test; with two flagged "
    "records the baseline an analysis picks is arbitrary.",
)
def baseline_flag_multiple(package: Package) -> list[Finding]:
    """Tests with more than one baseline record for a subject."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        f = ds.frame
        testcd = f"{prefix}TESTCD"
        if "USUBJID" not in f.columns or testcd not in f.columns:
            continue
        keys = ["USUBJID"] + [f"{prefix}{k}" for k in _BASELINE_KEYS if f"{prefix}{k}" in f]
        for suffix in ("BLFL", "LOBXFL"):
            flag = f"{prefix}{suffix}"
            if flag not in f.columns:
                continue
            flagged = _is(f[flag], "Y").to_numpy()
            if flagged.sum() < 2:
                continue
            group = row_codes([value_codes(f[k])[flagged] for k in keys])
            counts = pd.Series(group).map(pd.Series(group).value_counts()).to_numpy()
            rows = f.loc[flagged].assign(__N__=counts)
            out += report_rows(
                "baseline-flag-multiple",
                ds,
                rows.loc[counts > 1],
                flag,
                lambda r, flag=flag, t=testcd: (
                    f"{flag} = 'Y' on {int(r['__N__'])} records of subject "
                    f"{fmt(r['USUBJID'])} for {t} {fmt(r[t])}; flag one baseline record per "
                    "test."
                ),
                value=flag,
            )
    return out


@rule(
    "baseline-after-first-dose",
    "warning",
    "cross",
    checks="A record with --BLFL or --LOBXFL = 'Y' is dated (--DTC) on or before the subject's "
    "first exposure (DM.RFXSTDTC), compared on the precision both dates share.",
    why="Baseline is the state before treatment; a baseline dated after the first dose already "
    "carries the treatment effect.",
)
def baseline_after_first_dose(package: Package) -> list[Finding]:
    """Baseline records dated after first exposure."""
    dm = dm_dataset(package)
    if dm is None or "RFXSTDTC" not in dm.frame.columns:
        return []
    first = by_subject(dm, ["RFXSTDTC"])["RFXSTDTC"]
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        f = ds.frame
        dtc = f"{prefix}DTC"
        flags = [f"{prefix}{s}" for s in ("BLFL", "LOBXFL") if f"{prefix}{s}" in f.columns]
        if ds is dm or dtc not in f.columns or "USUBJID" not in f.columns or not flags:
            continue
        flagged = {flag: _is(f[flag], "Y") for flag in flags}
        if not any(m.any() for m in flagged.values()):
            continue
        # Each record's RFXSTDTC, looked up once per distinct subject.
        codes, subjects = distinct_codes(f["USUBJID"])
        starts = subjects.str.strip().map(first).to_numpy(dtype=object)
        start = pd.Series(spread(codes, starts, None), index=f.index, dtype="str")
        after = compare_iso(f[dtc], start).eq(1.0)
        for flag, mask in flagged.items():
            out += report_rows(
                "baseline-after-first-dose",
                ds,
                rows_where(f.assign(__FIRST__=start), mask & after),
                flag,
                lambda r, flag=flag, dtc=dtc: (
                    f"{flag} = 'Y' on a record dated {fmt(r[dtc])}, after the first exposure "
                    f"(RFXSTDTC {fmt(r['__FIRST__'])}); baseline must precede treatment."
                ),
                value=dtc,
            )
    return out


# --- reference ranges -------------------------------------------------------------------------

_RANGES = ("ORNRLO", "ORNRHI", "STNRLO", "STNRHI")


@rule(
    "normal-range-not-continuous",
    "warning",
    "cross",
    checks="In LB, reference range limits (LBORNRLO, LBORNRHI, LBSTNRLO, LBSTNRHI) are "
    "populated only for continuous results: a populated LBORRES that is neither a number nor a "
    "number against a limit ('<0.5', '>=200') — 'NEGATIVE', '1+', 'TRACE' — has no range "
    "limits. (CORE also flags limit values such as '<0.5'; those are continuous "
    "measurements, so trialflow does not.)",
    why="The SDTMIG says the range limits are for continuous measurements; a range on a "
    "qualitative result cannot be compared with it and is usually copied from the wrong test.",
    refs=["CORE-000289", "CG0181", "CORE-000290", "CORE-000298", "CORE-000299"],
)
def normal_range_not_continuous(package: Package) -> list[Finding]:
    """Reference ranges on LB records whose result is not a number."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        res = f"{prefix}ORRES"
        limits = [f"{prefix}{v}" for v in _RANGES if f"{prefix}{v}" in ds.frame.columns]
        if prefix != "LB" or res not in ds.frame.columns or not limits:
            continue
        f = ds.frame
        categorical = present(f[res]) & numbers(f[res]).isna() & ~_censored(f[res])
        if not categorical.any():
            continue
        with_range = pd.Series(False, index=f.index)
        for v in limits:
            with_range |= present(f[v])
        out += report_rows(
            "normal-range-not-continuous",
            ds,
            rows_where(f, categorical & with_range),
            res,
            lambda r, res=res, limits=limits: (
                f"{res} {fmt(r[res])} is not a continuous result but "
                + ", ".join(f"{v} is {fmt(r[v])}" for v in limits if _filled(r[v]))
                + "; leave the range limits null for non-numeric results."
            ),
            value=res,
        )
    return out


_CENSORED = r"[<>]=?\s*[+-]?(?:\d+\.?\d*|\.\d+)"
"""A continuous result reported against a limit: "<0.5", ">= 200"."""


def _censored(values: pd.Series) -> pd.Series:
    """True where a value is a number with a comparison in front ("<2.0", ">=200")."""
    codes, distinct = distinct_codes(values)
    hit = distinct.str.strip().str.fullmatch(_CENSORED).fillna(False).to_numpy(dtype=bool)
    return pd.Series(spread(codes, hit, False), index=values.index)


def _filled(value: object) -> bool:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return False
    return str(value).strip() != ""


def _half_unit(frame: pd.DataFrame, name: str) -> pd.Series:
    """Half a unit of the last decimal each value of ``name`` is written with (0.05 for '2.1').

    Example:
        >>> _half_unit(pd.DataFrame({"X": ["2.1", "40", None]}), "X").tolist()
        [0.05, 0.5, 0.0]
    """
    if name not in frame.columns:
        return pd.Series(0.0, index=frame.index)
    values = frame[name]
    if pd.api.types.is_numeric_dtype(values):
        codes, uniques = pd.factorize(values)
        distinct = pd.Series(
            [np.format_float_positional(v, trim="-") for v in uniques], dtype="str"
        )
    else:
        codes, distinct = distinct_codes(values)
    trimmed = distinct.str.strip()
    decimals = trimmed.str.extract(r"\.(\d+)$", expand=False).str.len().fillna(0)
    half = np.where(trimmed.str.fullmatch(NUMBER).fillna(False), 0.5 * 10.0**-decimals, 0.0)
    return pd.Series(spread(codes, half.astype("float64"), 0.0), index=frame.index)


@rule(
    "nrind-inconsistent",
    "warning",
    "cross",
    checks="--NRIND agrees with --STRESN and the standard range: 'LOW' only below --STNRLO, "
    "'HIGH' only above --STNRHI, 'NORMAL' only within the limits given, a limit taken at the "
    "precision it is written with (2.11 is within a high limit of 2.1). Records without a "
    "numeric result or limits, and other --NRIND values ('ABNORMAL'), are not judged.",
    why="--NRIND is what listings and shift tables read; one that contradicts the result and "
    "range misclassifies the subject.",
)
def nrind_inconsistent(package: Package) -> list[Finding]:
    """Reference range indicators that contradict the result and range."""
    out: list[Finding] = []
    for ds, prefix in findings_datasets(package):
        ind, n = f"{prefix}NRIND", f"{prefix}STRESN"
        lo_v, hi_v = f"{prefix}STNRLO", f"{prefix}STNRHI"
        f = ds.frame
        if ind not in f.columns or n not in f.columns:
            continue
        if lo_v not in f.columns and hi_v not in f.columns:
            continue
        x = pd.to_numeric(f[n], errors="coerce")
        lo = numbers(_column(f, lo_v)) if lo_v in f.columns else pd.Series(np.nan, f.index)
        hi = numbers(_column(f, hi_v)) if hi_v in f.columns else pd.Series(np.nan, f.index)
        # A result is judged against the limit at the limit's precision: 2.11 is within a high
        # limit of 2.1 written with one decimal (laboratories round before they flag).
        below = (x < lo).fillna(False)
        above = (x > hi).fillna(False)
        clearly_below = (x < lo - _half_unit(f, lo_v)).fillna(False)
        clearly_above = (x > hi + _half_unit(f, hi_v)).fillna(False)
        judged = x.notna() & (lo.notna() | hi.notna())
        value = text(f[ind])
        bad = judged & (
            (value.eq("LOW").fillna(False) & ~below)
            | (value.eq("HIGH").fillna(False) & ~above)
            | (value.eq("NORMAL").fillna(False) & (clearly_below | clearly_above))
        )
        out += report_rows(
            "nrind-inconsistent",
            ds,
            rows_where(f, bad.astype(bool)),
            ind,
            lambda r, ind=ind, n=n, lo_v=lo_v, hi_v=hi_v: (
                f"{ind} is {fmt(r[ind])} but {n} {fmt(r[n])} against range "
                f"{fmt(r.get(lo_v))} to {fmt(r.get(hi_v))} says otherwise; derive {ind} from "
                "the result and the range."
            ),
            value=ind,
        )
    return out
