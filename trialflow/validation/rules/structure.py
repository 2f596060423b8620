"""Records and variables of any SDTM dataset: sequence numbers, duplicate records, variables
the SDTMIG does not list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.sdtm import metadata
from trialflow.validation.core import (
    RECORD,
    Package,
    finding,
    rule,
)
from trialflow.validation.rules.common import (
    domain_prefix,
    fmt,
    hash_codes,
    numbers,
    present,
    report_rows,
    row_codes,
    rows_where,
    sdtm_datasets,
    stripped,
    value_codes,
)


@rule(
    "seq-not-unique",
    "error",
    "cross",
    checks="--SEQ is unique within USUBJID in each SDTM dataset.",
    why="--SEQ identifies a subject's record within a domain; RELREC, SUPP-- and ADaM traceability "
    "(SRCSEQ) point at records by it.",
    refs=["CORE-000544", "CG0028"],
)
def seq_not_unique(package: Package) -> list[Finding]:
    """--SEQ values repeated within a subject."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        seq = f"{domain_prefix(ds)}SEQ"
        if seq not in ds.frame.columns or "USUBJID" not in ds.frame.columns:
            continue
        f = ds.frame
        as_number = numbers(f[seq])
        if pd.api.types.is_numeric_dtype(f[seq]):
            value = as_number  # no text to fall back to: every usable value is a number
        else:
            value = as_number.astype("object").where(as_number.notna(), stripped(f[seq]))
        usable = present(f[seq]) & present(f["USUBJID"])
        keyed = pd.DataFrame({"USUBJID": value_codes(f["USUBJID"]), "SEQ": value}, index=f.index)
        keyed = keyed[usable]
        dup = keyed.duplicated(keep=False).reindex(f.index, fill_value=False)
        out += report_rows(
            "seq-not-unique",
            ds,
            rows_where(f, dup),
            seq,
            lambda r, seq=seq: (
                f"{seq} {fmt(r[seq])} is used by more than one record of subject "
                f"{fmt(r['USUBJID'])}; {seq} must be unique within USUBJID."
            ),
            value=seq,
        )
    return out


@rule(
    "seq-not-integer",
    "warning",
    "cross",
    checks="--SEQ values are whole numbers.",
    why="Sequence numbers are counters; a fractional or non-numeric --SEQ usually means it was "
    "computed or merged wrongly and breaks references that match it as an integer.",
)
def seq_not_integer(package: Package) -> list[Finding]:
    """--SEQ values that are not whole numbers."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        seq = f"{domain_prefix(ds)}SEQ"
        if seq not in ds.frame.columns:
            continue
        f = ds.frame
        value = numbers(f[seq])
        bad = present(f[seq]) & ~(value.notna() & (value % 1 == 0))
        out += report_rows(
            "seq-not-integer",
            ds,
            rows_where(f, bad),
            seq,
            lambda r, seq=seq: f"{seq} is {fmt(r[seq])}; expected a whole number (1, 2, ...).",
            value=seq,
        )
    return out


@rule(
    "variable-not-in-sdtmig",
    "notice",
    "cross",
    checks="Variables of a standard domain trialflow has SDTMIG 3.4 metadata for (DM, VS, LB, "
    "EX, AE, CM, MH, DS) that the SDTMIG does not list for that domain.",
    why="A model permissible variable may be added to a standard domain, but it must be "
    "deliberate and described in define.xml; an unexpected one is often a leftover raw column "
    "that belongs in SUPP--.",
)
def variable_not_in_sdtmig(package: Package) -> list[Finding]:
    """Variables that the SDTMIG does not list for the domain."""
    known = set(metadata.known_domains())
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        if ds.name.upper() not in known:
            continue
        listed = set(metadata.domain_variables(ds.name.upper())["name"])
        for variable in ds.variables:
            if variable in listed:
                continue
            out.append(
                finding(
                    "variable-not-in-sdtmig",
                    f"{variable} is not an SDTMIG 3.4 variable of {ds.name}; keep it only as a "
                    f"documented model permissible variable, otherwise move it to SUPP{ds.name}.",
                    ds,
                    variable=variable,
                )
            )
    return out


@rule(
    "duplicate-record",
    "warning",
    "cross",
    checks="No two records of an SDTM dataset are identical in every variable except --SEQ.",
    why="A record repeated under a new sequence number is almost always a mapping or merge "
    "error and double-counts the observation.",
)
def duplicate_record(package: Package) -> list[Finding]:
    """Records that repeat another record except for --SEQ."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        seq = f"{domain_prefix(ds)}SEQ"
        if seq not in ds.frame.columns or ds.frame.empty:
            continue
        columns = [v for v in ds.variables if v != seq]
        if not columns:
            continue
        f = ds.frame
        # Records compared through codes of their values: a text column's factorisation is
        # shared with the other rules; other columns are told apart by their pandas hash.
        key = row_codes([hash_codes(f[c]) for c in columns])
        dup = pd.Series(key).duplicated(keep="first").to_numpy()
        if not dup.any():
            continue
        number = f[RECORD] if RECORD in f.columns else pd.Series(np.arange(1, len(f) + 1), f.index)
        first = number.groupby(key).transform("min")
        out += report_rows(
            "duplicate-record",
            ds,
            f.assign(__FIRST__=first).loc[dup],
            seq,
            lambda r, seq=seq: (
                f"The record repeats record {int(r['__FIRST__'])} in every "
                f"variable except {seq}; remove the duplicate."
            ),
            value=seq,
        )
    return out
