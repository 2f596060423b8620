"""Records and variables of any SDTM dataset: sequence numbers, duplicate records, empty
datasets, DOMAIN and STUDYID values, and dataset and variable metadata (labels, order, variables
the SDTMIG does not list or that are never used).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.sdtm import metadata
from trialflow.validation.core import (
    RECORD,
    Dataset,
    Package,
    finding,
    rule,
    spread,
)
from trialflow.validation.rules.common import (
    distinct_codes,
    dm_dataset,
    domain_prefix,
    filled,
    fmt,
    hash_codes,
    ig_variables,
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
        rows, key = _repeated_rows(f, _natural_keys_first(ds, columns))
        if not len(rows):
            continue
        dup = np.zeros(len(f), dtype=bool)
        dup[rows] = pd.Series(key).duplicated(keep="first").to_numpy()
        number = f[RECORD] if RECORD in f.columns else pd.Series(np.arange(1, len(f) + 1), f.index)
        first = np.zeros(len(f), dtype=np.int64)
        first[rows] = number.iloc[rows].groupby(key).transform("min").to_numpy()
        out += report_rows(
            "duplicate-record",
            ds,
            f.assign(__FIRST__=first)[dup],
            seq,
            lambda r, seq=seq: (
                f"The record repeats record {int(r['__FIRST__'])} in every "
                f"variable except {seq}; remove the duplicate."
            ),
            value=seq,
        )
    return out


def _natural_keys_first(ds: Dataset, columns: list[str]) -> list[str]:
    """``columns`` with the dataset's natural keys (SDTMIG) first: they tell most records
    apart, so :func:`_repeated_rows` is left with few records after them."""
    try:
        keys = metadata.domain_keys(domain_prefix(ds))
    except metadata.MetadataError:  # a domain the SDTMIG does not define: as they come
        keys = []
    return [k for k in keys if k in columns] + [c for c in columns if c not in keys]


def _repeated_rows(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the records equal to another record in every one of ``columns``, and
    a code per such record that is equal where the records are (no records: two empty arrays).

    Records are compared a column at a time, and a record that no other record equals in
    the columns so far is dropped: after the natural keys, almost none is left, so the other
    columns are compared for those few records only instead of for the whole dataset.
    """
    rows = np.arange(len(frame))
    key = np.zeros(len(frame), dtype=np.int64)
    for column in columns:
        values = frame[column]
        if len(rows) < len(frame):
            values = values.iloc[rows].reset_index(drop=True)
        key = row_codes([key, hash_codes(values)])
        repeated = pd.Series(key).duplicated(keep=False).to_numpy()
        if not repeated.all():
            rows, key = rows[repeated], key[repeated]
            if not len(rows):
                break
        key = pd.factorize(key)[0]  # renumbered from 0, so that row_codes stays in int64
    return rows, key


# --- datasets and their identity ---------------------------------------------------------------

_RELATIONSHIP = frozenset({"RELREC", "RELSPEC", "RELSUB", "POOLDEF", "SUPPQUAL"})


def _subject_datasets(package: Package) -> list[Dataset]:
    """SDTM datasets other than the relationship datasets (RELREC, SUPP--, ...)."""
    return [
        ds
        for ds in sdtm_datasets(package)
        if ds.name.upper() not in _RELATIONSHIP and not metadata.supp_parent(ds.name)
    ]


@rule(
    "dataset-empty",
    "warning",
    "cross",
    checks="Every SDTM and SUPP-- dataset in the package has at least one record.",
    why="An empty dataset should not be submitted: a domain with no data is left out and "
    "explained in the reviewer's guide.",
    refs=["SD0001"],
)
def dataset_empty(package: Package) -> list[Finding]:
    """Datasets with no records."""
    return [
        finding(
            "dataset-empty",
            f"{ds.name} has no records; leave the dataset out of the package and say why in "
            "the reviewer's guide.",
            ds,
        )
        for ds in sdtm_datasets(package, ("sdtm", "supp"))
        if ds.frame.empty
    ]


@rule(
    "dataset-name-not-domain",
    "error",
    "cross",
    checks="The dataset name begins with its DOMAIN value (LB, or LBCH for a split LB); "
    "relationship datasets (SUPP--, RELREC) are not concerned.",
    why="The domain code is used as the dataset name, the DOMAIN value and the variable prefix; "
    "when they disagree, tools that find a domain by its file read the wrong data.",
    refs=["CORE-000598", "CG0413"],
)
def dataset_name_not_domain(package: Package) -> list[Finding]:
    """Records whose DOMAIN value does not begin the dataset name."""
    out: list[Finding] = []
    for ds in _subject_datasets(package):
        if "DOMAIN" not in ds.frame.columns:
            continue
        f = ds.frame
        codes, distinct = distinct_codes(f["DOMAIN"])
        name = ds.name.upper()
        good = np.array([name.startswith(v.strip().upper()) for v in distinct], dtype=bool)
        bad = present(f["DOMAIN"]).to_numpy() & ~spread(codes, good, True)
        out += report_rows(
            "dataset-name-not-domain",
            ds,
            rows_where(f, pd.Series(bad, index=f.index)),
            "DOMAIN",
            lambda r, name=ds.name: (
                f"DOMAIN is {fmt(r['DOMAIN'])} in dataset {name}; the dataset name must begin "
                "with the domain code."
            ),
            value="DOMAIN",
        )
    return out


@rule(
    "domain-length-invalid",
    "error",
    "cross",
    checks="DOMAIN values are two characters (relationship datasets are not concerned).",
    why="Each domain is identified by a unique two-character code, which prefixes its "
    "variables and names its dataset.",
    refs=["CORE-000180", "CG0308"],
)
def domain_length_invalid(package: Package) -> list[Finding]:
    """DOMAIN values that are not two characters long."""
    out: list[Finding] = []
    for ds in _subject_datasets(package):
        if "DOMAIN" not in ds.frame.columns:
            continue
        f = ds.frame
        codes, distinct = distinct_codes(f["DOMAIN"])
        good = distinct.str.strip().str.len().eq(2).to_numpy(dtype=bool)
        bad = present(f["DOMAIN"]).to_numpy() & ~spread(codes, good, True)
        out += report_rows(
            "domain-length-invalid",
            ds,
            rows_where(f, pd.Series(bad, index=f.index)),
            "DOMAIN",
            lambda r: f"DOMAIN {fmt(r['DOMAIN'])} is not a two-character domain code.",
            value="DOMAIN",
        )
    return out


@rule(
    "studyid-mismatch",
    "error",
    "cross",
    checks="STUDYID holds the study's identifier in every record of every SDTM dataset: the "
    "value DM uses (the one most DM records use).",
    why="STUDYID is the first key of every record; a record of another study (or a misspelled "
    "one) does not join to its subject.",
    refs=["CORE-000172", "CG0409"],
)
def studyid_mismatch(package: Package) -> list[Finding]:
    """Records whose STUDYID differs from DM's."""
    dm = dm_dataset(package)
    if dm is None or "STUDYID" not in dm.frame.columns:
        return []
    values = stripped(dm.frame["STUDYID"]).dropna()
    values = values[values != ""]
    if values.empty:
        return []
    study = str(values.value_counts(sort=True).index[0])
    out: list[Finding] = []
    for ds in sdtm_datasets(package, ("sdtm", "supp")):
        if "STUDYID" not in ds.frame.columns:
            continue
        f = ds.frame
        codes, distinct = distinct_codes(f["STUDYID"])
        other = distinct.str.strip().ne(study).to_numpy(dtype=bool) & filled(distinct)
        bad = pd.Series(spread(codes, other, False), index=f.index)
        out += report_rows(
            "studyid-mismatch",
            ds,
            rows_where(f, bad),
            "STUDYID",
            lambda r, study=study: (
                f"STUDYID is {fmt(r['STUDYID'])} but the study is {fmt(study)} (DM); every "
                "record carries the study's identifier."
            ),
            value="STUDYID",
        )
    return out


# --- metadata against the SDTMIG ---------------------------------------------------------------


def _never_filled(values: pd.Series) -> bool:
    """True when no record of ``values`` holds a value (missing or blank everywhere)."""
    if not values.notna().any():
        return True
    if pd.api.types.is_numeric_dtype(values):
        return False
    return not filled(distinct_codes(values)[1]).any()


def _ig_frame(ds: Dataset) -> pd.DataFrame | None:
    """SDTMIG 3.4 metadata of the dataset (SUPP-- as SUPPQUAL), or None for other datasets."""
    return ig_variables(ds.name)


@rule(
    "dataset-label-not-sdtmig",
    "warning",
    "cross",
    checks="The dataset label of a standard domain (as stored in the file) is the SDTMIG 3.4 "
    "label ('Laboratory Test Results' for LB; SUPP-- datasets: 'Supplemental Qualifiers for "
    "...'). Compared ignoring case and surrounding blanks; datasets read without a label are "
    "not judged.",
    why="Reviewers and tools identify datasets by their standard labels; define.xml repeats them.",
)
def dataset_label_not_sdtmig(package: Package) -> list[Finding]:
    """Dataset labels that differ from the SDTMIG's."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package, ("sdtm", "supp")):
        label = (ds.label or "").strip()
        ig = _ig_frame(ds)
        if not label or ig is None or ig.empty:
            continue
        parent = metadata.supp_parent(ds.name)
        if parent:
            expected = metadata.domain_label(ds.name)
            allowed = {expected.upper(), f"SUPPLEMENTAL QUALIFIERS FOR {parent}"}
        else:
            expected = str(ig["dataset_label"].iloc[0]).strip()
            allowed = {expected.upper()}
        ok = label.upper() in allowed
        if not ok:
            out.append(
                finding(
                    "dataset-label-not-sdtmig",
                    f"{ds.name} is labelled {fmt(label)}; the SDTMIG label is {fmt(expected)}.",
                    ds,
                )
            )
    return out


@rule(
    "variable-label-not-sdtmig",
    "warning",
    "cross",
    checks="Each variable of a standard domain that the SDTMIG 3.4 lists carries its SDTMIG "
    "label (compared ignoring case and surrounding blanks); variables read without a label "
    "are not judged.",
    why="Labels are how reviewers read a dataset; a label that differs from the standard one "
    "suggests the variable holds something else, or a copy from another study's metadata.",
)
def variable_label_not_sdtmig(package: Package) -> list[Finding]:
    """Variable labels that differ from the SDTMIG's."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package, ("sdtm", "supp")):
        ig = _ig_frame(ds)
        if ig is None or not ds.labels:
            continue
        standard = dict(zip(ig["name"], ig["label"].astype(str).str.strip(), strict=True))
        for variable in ds.variables:
            label = (ds.labels.get(variable) or "").strip()
            expected = standard.get(variable)
            if not label or expected is None or label.upper() == expected.upper():
                continue
            out.append(
                finding(
                    "variable-label-not-sdtmig",
                    f"{variable} is labelled {fmt(label)}; the SDTMIG label is {fmt(expected)}.",
                    ds,
                    variable=variable,
                )
            )
    return out


@rule(
    "variable-order-not-sdtmig",
    "notice",
    "cross",
    checks="The SDTMIG 3.4 variables of a standard domain come in the order the SDTMIG lists "
    "them (other variables may sit anywhere). Reported once per dataset, at the first "
    "variable out of place.",
    why="The SDTMIG orders variables by role (identifiers, topic, qualifiers, timing) and "
    "reviewers expect that order in every dataset.",
)
def variable_order_not_sdtmig(package: Package) -> list[Finding]:
    """Datasets whose standard variables are not in SDTMIG order."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package, ("sdtm", "supp")):
        ig = _ig_frame(ds)
        if ig is None:
            continue
        rank = {name: i for i, name in enumerate(ig["name"])}
        listed = [v for v in ds.variables if v in rank]
        expected = sorted(listed, key=rank.__getitem__)
        for have, want in zip(listed, expected, strict=True):
            if have != want:
                out.append(
                    finding(
                        "variable-order-not-sdtmig",
                        f"{have} comes where the SDTMIG puts {want}; order the variables of "
                        f"{ds.name} as the SDTMIG lists them ({', '.join(expected)}).",
                        ds,
                        variable=have,
                    )
                )
                break
    return out


@rule(
    "permissible-variable-empty",
    "notice",
    "cross",
    checks="A Permissible variable of a standard domain (SDTMIG 3.4 core 'Perm') that is in "
    "the dataset has at least one value.",
    why="Permissible variables are included when data were collected; one with no value in any "
    "record can be dropped (Required and Expected variables stay even when empty).",
)
def permissible_variable_empty(package: Package) -> list[Finding]:
    """Permissible variables with no value in any record."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package, ("sdtm", "supp")):
        ig = _ig_frame(ds)
        if ig is None or ds.frame.empty:
            continue
        perm = set(ig.loc[ig["core"].astype(str).str.strip() == "Perm", "name"])
        for variable in ds.variables:
            if variable in perm and _never_filled(ds.frame[variable]):
                out.append(
                    finding(
                        "permissible-variable-empty",
                        f"{variable} is a Permissible variable with no value in any record of "
                        f"{ds.name}; drop it, or populate it.",
                        ds,
                        variable=variable,
                    )
                )
    return out


@rule(
    "scat-equals-cat",
    "warning",
    "cross",
    checks="--SCAT, when populated, differs from --CAT on the same record.",
    why="A subcategory repeating its category adds nothing; it usually means the category was "
    "copied into both variables instead of mapping the finer grouping.",
    refs=["SD1041", "CORE-000237"],
)
def scat_equals_cat(package: Package) -> list[Finding]:
    """Records whose subcategory repeats the category."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        cat, scat = f"{prefix}CAT", f"{prefix}SCAT"
        if cat not in ds.frame.columns or scat not in ds.frame.columns:
            continue
        f = ds.frame
        same = present(f[scat]) & stripped(f[scat]).eq(stripped(f[cat])).fillna(False)
        out += report_rows(
            "scat-equals-cat",
            ds,
            rows_where(f, same.astype(bool)),
            scat,
            lambda r, cat=cat, scat=scat: (
                f"{scat} {fmt(r[scat])} repeats {cat}; leave {scat} null or give the subcategory."
            ),
            value=scat,
        )
    return out
