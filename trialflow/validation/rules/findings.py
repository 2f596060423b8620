"""Findings domains (LB, VS, EG, ...): results, units, reference ranges and baseline flags."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import (
    Dataset,
    Package,
    factorized,
    rule,
)
from trialflow.validation.rules.common import (
    dm_dataset,
    domain_prefix,
    dominant,
    findings_like,
    fmt,
    in_set,
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
