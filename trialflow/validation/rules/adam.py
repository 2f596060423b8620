"""ADaM rules: ADSL structure, flag values and the BDS baseline / change-from-baseline algebra.

The rules run on the package's datasets of kind ``adam`` and, like the SDTM rules, report every
violating record, one finding per record (see
:data:`~trialflow.validation.rules.common.MAX_PER_VARIABLE`). A dataset without the variables
a rule needs is not checked by it.

Example:
    >>> adsl = Dataset.from_frame("ADSL", pd.DataFrame({"USUBJID": ["S1"], "SAFFL": ["y"]}),
    ...                           kind="adam")
    >>> [(f.code, f.variable, f.record) for f in flag_value_invalid(Package({"ADSL": adsl}))]
    [('flag-value-invalid', 'SAFFL', 1)]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import Dataset, Package, rule
from trialflow.validation.rules.common import (
    dominant,
    fmt,
    others,
    present,
    report_rows,
    sdtm_datasets,
)

CHG_RTOL = 1e-9
"""Relative tolerance of CHG against AVAL - BASE (plus 1e-12 absolute, for values near 0)."""


def adam_datasets(package: Package) -> list[Dataset]:
    """The package's ADaM datasets, in package order.

    Example:
        >>> adam_datasets(Package())
        []
    """
    return sdtm_datasets(package, ("adam",))


def _subject_param_keys(frame: pd.DataFrame) -> list[str] | None:
    """USUBJID, PARAMCD and (when present) BASETYPE, or None when the first two are missing."""
    if not {"USUBJID", "PARAMCD"} <= set(frame.columns):
        return None
    return ["USUBJID", "PARAMCD"] + (["BASETYPE"] if "BASETYPE" in frame.columns else [])


def _where(row: pd.Series, keys: list[str]) -> str:
    return ", ".join(f"{k} {fmt(row[k])}" for k in keys)


@rule(
    "adsl-duplicate-subject",
    "error",
    "adam",
    checks="ADSL holds one record per USUBJID.",
    why="ADSL is the subject-level dataset every other ADaM dataset merges from; a second "
    "record for a subject duplicates that subject in every merge and count.",
)
def adsl_duplicate_subject(package: Package) -> list[Finding]:
    """USUBJID values with more than one ADSL record."""
    adsl = package.get("ADSL")
    if adsl is None or adsl.kind != "adam" or "USUBJID" not in adsl.frame.columns:
        return []
    subjects = adsl.frame["USUBJID"]
    dup = present(subjects) & subjects.duplicated(keep=False)
    counts = subjects[dup].value_counts()
    return report_rows(
        "adsl-duplicate-subject",
        adsl,
        adsl.frame.loc[dup],
        "USUBJID",
        lambda r: (
            f"USUBJID {fmt(r['USUBJID'])} has {counts[r['USUBJID']]} ADSL records; ADSL must "
            "hold exactly one record per subject."
        ),
        value="USUBJID",
    )


@rule(
    "flag-value-invalid",
    "error",
    "adam",
    checks="Variables whose names end in FL (SAFFL, ABLFL, ANL01FL, ...) hold only 'Y', 'N' or "
    "null.",
    why="Analyses select records with FL = 'Y'; any other spelling ('y', 'YES', '1') silently "
    "drops records from populations and analyses.",
    refs=["AD0005"],
)
def flag_value_invalid(package: Package) -> list[Finding]:
    """Flag variables with values other than Y, N or null."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        for variable in [v for v in ds.variables if v.upper().endswith("FL")]:
            values = ds.frame[variable]
            bad = present(values) & ~values.astype("str").isin(["Y", "N"]).fillna(False)
            out += report_rows(
                "flag-value-invalid",
                ds,
                ds.frame.loc[bad.astype(bool)],
                variable,
                lambda r, v=variable: f"{v} is {fmt(r[v])}; a flag must be 'Y', 'N' or null.",
                value=variable,
            )
    return out


@rule(
    "param-paramcd-not-one-to-one",
    "error",
    "adam",
    checks="In each BDS dataset (one with PARAMCD), each PARAMCD has one PARAM and each PARAM "
    "one PARAMCD.",
    why="PARAMCD is the code of PARAM; a code with two descriptions (or a description under two "
    "codes) splits or merges parameters in every analysis by parameter.",
)
def param_paramcd_not_one_to_one(package: Package) -> list[Finding]:
    """PARAMCD and PARAM that do not pair one-to-one."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        f = ds.frame
        if not {"PARAMCD", "PARAM"} <= set(f.columns):
            continue
        both = present(f["PARAMCD"]) & present(f["PARAM"])
        work = pd.DataFrame(
            {
                "PARAMCD": f.loc[both, "PARAMCD"].astype("str").str.strip(),
                "PARAM": f.loc[both, "PARAM"].astype("str").str.strip(),
            }
        )
        if work.empty:
            continue
        by_code, by_text = (
            dominant(work, ["PARAMCD"], "PARAM"),
            dominant(work, ["PARAM"], "PARAMCD"),
        )
        off_code = work["PARAM"].to_numpy() != by_code["dominant"].to_numpy()
        off_text = work["PARAMCD"].to_numpy() != by_text["dominant"].to_numpy()
        frame = f.assign(
            __OFF__=pd.Series(off_code, index=work.index),
            __TOPTEXT__=by_code["dominant"],
            __NTEXT__=by_code["count"],
            __TOPCODE__=by_text["dominant"],
            __NCODE__=by_text["count"],
        )

        def say(r: pd.Series) -> str:
            if bool(r["__OFF__"]):
                return (
                    f"PARAMCD {fmt(r['PARAMCD'])} has PARAM {fmt(r['PARAM'])} here but "
                    f"{fmt(r['__TOPTEXT__'])} on {others(r['__NTEXT__'])}; each "
                    "PARAMCD must have one PARAM."
                )
            return (
                f"PARAM {fmt(r['PARAM'])} has PARAMCD {fmt(r['PARAMCD'])} here but "
                f"{fmt(r['__TOPCODE__'])} on {others(r['__NCODE__'])}; each PARAM "
                "must have one PARAMCD."
            )

        flagged = work.index[off_code | off_text]
        out += report_rows(
            "param-paramcd-not-one-to-one", ds, frame.loc[flagged], "PARAMCD", say, value="PARAMCD"
        )
    return out


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
    for ds in adam_datasets(package):
        keys = _subject_param_keys(ds.frame)
        if keys is None or "BASE" not in ds.frame.columns:
            continue
        f = ds.frame
        base = pd.to_numeric(f["BASE"], errors="coerce")
        has = base.notna()
        if not has.any():
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
                f"of {_where(r, keys)}; BASE must be constant within the group."
            ),
            value="BASE",
        )
    return out


@rule(
    "chg-not-aval-minus-base",
    "error",
    "adam",
    checks="A populated CHG equals AVAL - BASE (relative tolerance 1e-9) and is null when AVAL "
    "or BASE is null. A null CHG is not reported: leaving it null on baseline and "
    "pre-baseline records is the producer's choice.",
    why="CHG is defined as AVAL - BASE; a CHG that disagrees was derived from other values "
    "than the ones shown, so the analysis cannot be reproduced.",
)
def chg_not_aval_minus_base(package: Package) -> list[Finding]:
    """CHG that is not AVAL - BASE."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        f = ds.frame
        if not {"CHG", "AVAL", "BASE"} <= set(f.columns):
            continue
        chg = pd.to_numeric(f["CHG"], errors="coerce")
        expected = pd.to_numeric(f["AVAL"], errors="coerce") - pd.to_numeric(
            f["BASE"], errors="coerce"
        )
        has = chg.notna()
        same = np.isclose(chg.fillna(0), expected.fillna(np.inf), rtol=CHG_RTOL, atol=1e-12)
        bad = has & ~pd.Series(same, index=f.index)
        frame = f.assign(__EXP__=expected)

        def say(r: pd.Series) -> str:
            if pd.isna(r["__EXP__"]):
                return (
                    f"CHG is {fmt(r['CHG'])} but AVAL is {fmt(r['AVAL'])} and BASE is "
                    f"{fmt(r['BASE'])}; CHG must be null when either is null."
                )
            return (
                f"CHG is {fmt(r['CHG'])} but AVAL {fmt(r['AVAL'])} - BASE {fmt(r['BASE'])} is "
                f"{fmt(r['__EXP__'])}; CHG must equal AVAL - BASE."
            )

        out += report_rows("chg-not-aval-minus-base", ds, frame.loc[bad], "CHG", say, value="CHG")
    return out


@rule(
    "ablfl-multiple",
    "error",
    "adam",
    checks="At most one record per USUBJID and PARAMCD (and BASETYPE when present) has "
    "ABLFL = 'Y'; every record of a group with several is reported.",
    why="ABLFL marks the record BASE comes from; two baseline records make BASE ambiguous "
    "and usually mean the baseline window or tie-break was not applied.",
)
def ablfl_multiple(package: Package) -> list[Finding]:
    """Several baseline records for one subject and parameter."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        keys = _subject_param_keys(ds.frame)
        if keys is None or "ABLFL" not in ds.frame.columns:
            continue
        f = ds.frame
        flagged = f["ABLFL"].astype("str").str.strip().eq("Y").fillna(False).astype(bool)
        count = flagged.groupby([f[k] for k in keys], dropna=False).transform("sum")
        bad = flagged & (count > 1)
        frame = f.assign(__N__=count)
        out += report_rows(
            "ablfl-multiple",
            ds,
            frame.loc[bad],
            "ABLFL",
            lambda r, keys=keys: (
                f"{int(r['__N__'])} records of {_where(r, keys)} have ABLFL = 'Y'; flag "
                "exactly one baseline record."
            ),
            value="ABLFL",
        )
    return out
