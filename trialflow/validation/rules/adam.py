"""ADaM rules for any ADaM dataset, and what the ADSL, BDS and OCCDS modules share.

The rules run on the package's datasets of kind ``adam`` and, like the SDTM rules, report every
violating record, one finding per record. A dataset without the variables a rule needs is not
checked by it. Which structure a dataset has is read from its variables, as Pinnacle 21 does:
ADSL by name, BDS when it has PARAMCD or PARAM, OCCDS when it has neither but has the topic
variable of an SDTM event or intervention (AEDECOD, --TERM, --TRT).

ADaM dates are numbers (SAS dates: days since 1960-01-01; datetimes: seconds since then), so
the date rules compare numbers. The reference ids are Pinnacle 21's ADaM rule ids (ADnnnn),
which carry the number of the CDISC ADaM conformance check they implement (docs/rule-sources.md).

Example:
    >>> adsl = Dataset.from_frame("ADSL", pd.DataFrame({"USUBJID": ["S1"], "SAFFL": ["y"]}),
    ...                           kind="adam")
    >>> [(f.code, f.variable, f.record) for f in flag_value_invalid(Package({"ADSL": adsl}))]
    [('flag-value-invalid', 'SAFFL', 1)]
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import Dataset, Package, finding, rule
from trialflow.validation.rules.common import (
    dominant,
    fmt,
    hash_codes,
    in_set,
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

SECONDS_PER_DAY = 86400.0
"""A SAS datetime counts seconds from 1960-01-01T00:00; a SAS date counts days from then."""

Y_OR_NULL = re.compile(
    r"^(ABLFL|ANL\d{2}FL|TRTEMFL|PREFL|FUPFL|ONTRTFL|LVOTFL|TREM\d{2}FL|ONTR\d{2}FL|AOCC\w*FL|\w+[RP]FL)$"
)
"""Flags that are 'Y' or null only (never 'N'): ABLFL, ANLzzFL, the treatment-period flags,
AOCCxxFL and record- and parameter-level flags (*RFL, *PFL); see the BDS and OCCDS modules."""

OCCDS_TOPICS = ("AEDECOD", "AETERM", "CMTRT", "CMDECOD", "MHTERM", "MHDECOD", "EXTRT")


def adam_datasets(package: Package) -> list[Dataset]:
    """The package's ADaM datasets, in package order.

    Example:
        >>> adam_datasets(Package())
        []
    """
    return sdtm_datasets(package, ("adam",))


def adsl_dataset(package: Package) -> Dataset | None:
    """The package's ADSL, when it is an ADaM dataset with USUBJID.

    Example:
        >>> adsl_dataset(Package()) is None
        True
    """
    adsl = package.get("ADSL")
    if adsl is None or adsl.kind != "adam" or "USUBJID" not in adsl.frame.columns:
        return None
    return adsl


def bds_datasets(package: Package) -> list[Dataset]:
    """ADaM datasets of the Basic Data Structure: those other than ADSL with PARAMCD or PARAM.

    Example:
        >>> adlb = Dataset.from_frame("ADLB", pd.DataFrame({"PARAMCD": ["GLUC"]}), kind="adam")
        >>> [d.name for d in bds_datasets(Package({"ADLB": adlb}))]
        ['ADLB']
    """
    return [
        ds
        for ds in adam_datasets(package)
        if ds.name != "ADSL" and {"PARAMCD", "PARAM"} & set(ds.frame.columns)
    ]


def occds_datasets(package: Package) -> list[Dataset]:
    """ADaM occurrence datasets: not ADSL, no PARAMCD/PARAM, an event or intervention topic.

    Example:
        >>> adae = Dataset.from_frame("ADAE", pd.DataFrame({"AEDECOD": ["Pyrexia"]}), kind="adam")
        >>> [d.name for d in occds_datasets(Package({"ADAE": adae}))]
        ['ADAE']
    """
    out = []
    for ds in adam_datasets(package):
        columns = set(ds.frame.columns)
        if ds.name == "ADSL" or {"PARAMCD", "PARAM"} & columns:
            continue
        if columns & set(OCCDS_TOPICS) or any(c.endswith(("TERM", "DECOD")) for c in columns):
            out.append(ds)
    return out


def where(row: object, keys: Iterable[str]) -> str:
    """``KEY 'value', ...`` of a record, for messages."""
    return ", ".join(f"{k} {fmt(row[k])}" for k in keys)  # type: ignore[index]


def comparable(values: pd.Series) -> pd.Series:
    """Values as they are compared: numbers as floats, text trimmed."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    return stripped(values)


def codes(values: pd.Series) -> np.ndarray:
    """Codes equal where the values compare equal (text trimmed); missing values share one.

    Example:
        >>> codes(pd.Series([" A", "A", "B"], dtype="str")).tolist()
        [0, 0, 1]
    """
    if pd.api.types.is_numeric_dtype(values):
        return hash_codes(values.astype("float64"))
    return value_codes(stripped(values))


def values_like(values: pd.Series, position: np.ndarray) -> pd.Series:
    """``comparable(values)`` taken at ``position`` (-1 gives a missing value)."""
    prepared = comparable(values).reset_index(drop=True)
    if len(prepared) == 0:
        return pd.Series([np.nan] * len(position), dtype="float64")
    taken = prepared.take(np.clip(position, 0, None)).reset_index(drop=True)
    return taken.where(pd.Series(position >= 0))


def same_values(mine: pd.Series, theirs: pd.Series) -> np.ndarray:
    """Where two aligned series of comparable values are equal or both missing."""
    a, b = mine.reset_index(drop=True), theirs.reset_index(drop=True)
    both_missing = (a.isna() & b.isna()).to_numpy(dtype=bool)
    numeric = pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b)
    if not numeric and (pd.api.types.is_numeric_dtype(a) or pd.api.types.is_numeric_dtype(b)):
        a, b = a.astype(object), b.astype(object)
    equal = a.eq(b).fillna(False).to_numpy(dtype=bool)
    return both_missing | equal


def pair_not_one_to_one(
    code: str,
    ds: Dataset,
    left: str,
    right: str,
    *,
    within: tuple[str, ...] = (),
) -> list[Finding]:
    """Records where ``left`` and ``right`` do not pair one-to-one (within ``within``).

    Only records with both (and every ``within`` variable) populated are compared; a record is
    reported when its ``right`` differs from the most common ``right`` of its ``left`` (or the
    reverse), so the usual pairing is kept and the odd records are listed.

    Example:
        >>> f = pd.DataFrame({"TRTP": ["A", "A", "A", "B", "B"], "TRTPN": [1, 1, 2, 2, 2]})
        >>> ds = Dataset.from_frame("ADLB", f, kind="adam")
        >>> [x.record for x in pair_not_one_to_one("demo", ds, "TRTP", "TRTPN")]
        [3]
    """
    f = ds.frame
    needed = [*within, left, right]
    if not set(needed) <= set(f.columns):
        return []
    both = np.ones(len(f), dtype=bool)
    for name in needed:
        both &= np.asarray(present(f[name]), dtype=bool)
    if not both.any():
        return []
    inner = [codes(f[w])[both] for w in within]
    lc, rc = codes(f[left])[both], codes(f[right])[both]
    if one_value_per_group([*inner, lc], rc) and one_value_per_group([*inner, rc], lc):
        return []
    work = pd.DataFrame({name: comparable(f[name])[both] for name in needed})
    by_left = dominant(work, [*within, left], right)
    by_right = dominant(work, [*within, right], left)
    off_left = work[right].to_numpy() != by_left["dominant"].to_numpy()
    off_right = work[left].to_numpy() != by_right["dominant"].to_numpy()
    frame = f.assign(
        __OFFL__=pd.Series(off_left, index=work.index),
        __TOPR__=by_left["dominant"],
        __NR__=by_left["count"],
        __TOPL__=by_right["dominant"],
        __NL__=by_right["count"],
    )
    scope = f" within {', '.join(within)}" if within else ""

    def say(r: object) -> str:
        inside = f" and {where(r, within)}" if within else ""
        if bool(r["__OFFL__"]):  # type: ignore[index]
            return (
                f"{right} is {fmt(r[right])} here but {fmt(r['__TOPR__'])} on "  # type: ignore[index]
                f"{others(r['__NR__'])} with {left} {fmt(r[left])}{inside}; each {left} "  # type: ignore[index]
                f"must have one {right}{scope}."
            )
        return (
            f"{left} is {fmt(r[left])} here but {fmt(r['__TOPL__'])} on "  # type: ignore[index]
            f"{others(r['__NL__'])} with {right} {fmt(r[right])}{inside}; each {right} "  # type: ignore[index]
            f"must have one {left}{scope}."
        )

    flagged = work.index[off_left | off_right]
    return report_rows(code, ds, frame.loc[flagged], right, say, value=right)


def numeric_pairs(ds: Dataset, pattern: str) -> list[tuple[str, str]]:
    """(character, numeric) variable pairs of ``ds`` whose character name fully matches
    ``pattern`` and whose numeric counterpart (the name plus N) is present too."""
    names = set(ds.frame.columns)
    regex = re.compile(pattern)
    return sorted((v, v + "N") for v in names if regex.fullmatch(v) and v + "N" in names)


def each_record(
    code: str,
    datasets: Iterable[Dataset],
    variables: Callable[[Dataset], Iterable[str]],
    bad: Callable[[Dataset, str], pd.Series],
    message: Callable[[str], Callable[[object], str]],
) -> list[Finding]:
    """Findings of ``code`` for every record where ``bad(ds, variable)`` holds."""
    out: list[Finding] = []
    for ds in datasets:
        for variable in variables(ds):
            mask = np.asarray(bad(ds, variable), dtype=bool)
            out += report_rows(
                code, ds, rows_where(ds.frame, mask), variable, message(variable), value=variable
            )
    return out


def sas_number(ds: Dataset, variable: str) -> pd.Series:
    """A numeric ADaM variable as floats (NaN for anything that is not a number)."""
    values = ds.frame[variable]
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    return pd.to_numeric(values, errors="coerce")


@rule(
    "flag-value-invalid",
    "error",
    "adam",
    checks="Variables whose names end in FL (SAFFL, FASFL, DTHFL, ...) hold only 'Y', 'N' or "
    "null. Flags that may only be 'Y' or null (ABLFL, ANLzzFL, TRTEMFL, AOCCxxFL, *RFL, *PFL) "
    "have their own rules.",
    why="Analyses select records with FL = 'Y'; any other spelling ('y', 'YES', '1') silently "
    "drops records from populations and analyses.",
    refs=["AD0005"],
)
def flag_value_invalid(package: Package) -> list[Finding]:
    """Flag variables with values other than Y, N or null."""
    return each_record(
        "flag-value-invalid",
        adam_datasets(package),
        lambda ds: [
            v for v in ds.variables if v.upper().endswith("FL") and not Y_OR_NULL.match(v.upper())
        ],
        lambda ds, v: present(ds.frame[v]) & ~in_set(stripped(ds.frame[v]), ["Y", "N"]),
        lambda v: lambda r: f"{v} is {fmt(r[v])}; a flag must be 'Y', 'N' or null.",  # type: ignore[index]
    )


FLAG_NUMBER = {"Y": "1", "N": "0"}
"""The *FN value of each *FL value."""


def _fl_fn_pairs(ds: Dataset) -> list[tuple[str, str]]:
    names = set(ds.frame.columns)
    return sorted((v[:-1] + "L", v) for v in names if v.endswith("FN") and v[:-1] + "L" in names)


@rule(
    "flag-numeric-mismatch",
    "error",
    "adam",
    checks="Where a flag *FL has its numeric *FN: FL 'Y' goes with FN 1, 'N' with 0, and a "
    "populated FN has a populated FL.",
    why="*FN is the numeric copy of *FL; a mismatch selects different records depending on "
    "which of the two a program uses.",
    refs=["AD0010", "AD0011", "AD0012"],
)
def flag_numeric_mismatch(package: Package) -> list[Finding]:
    """*FL / *FN pairs that disagree."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        for fl, fn in _fl_fn_pairs(ds):
            flag = text(ds.frame[fl])
            number = sas_number(ds, fn)
            bad = (
                (flag.eq("Y").fillna(False) & number.ne(1.0))
                | (flag.eq("N").fillna(False) & number.ne(0.0))
                | (flag.isna() & number.notna())
            )
            out += report_rows(
                "flag-numeric-mismatch",
                ds,
                rows_where(ds.frame, bad),
                fn,
                lambda r, fl=fl, fn=fn: (
                    f"{fn} is {fmt(r[fn])} but {fl} is {fmt(r[fl])}; "
                    + (
                        f"{fn} must be {FLAG_NUMBER[str(r[fl]).strip().upper()]} when {fl} is "
                        f"{fmt(r[fl])}."
                        if isinstance(r[fl], str) and r[fl].strip().upper() in FLAG_NUMBER
                        else f"{fl} must be populated when {fn} is."
                    )
                ),
                value=fn,
            )
    return out


@rule(
    "numeric-without-character-variable",
    "error",
    "adam",
    checks="A numeric flag *FN (or another numeric *N variable of the ADaM naming conventions: "
    "TRTxxPN, TRTxxAN, TRTPN, TRTAN, PARAMN, AVISITN, ATPTN, *GRyN) is present only with its "
    "character variable.",
    why="The numeric variable codes the character one for sorting; without the character "
    "variable a reviewer cannot tell what the numbers mean.",
    refs=["AD0007", "AD0064", "AD0075", "AD1012A"],
)
def numeric_without_character_variable(package: Package) -> list[Finding]:
    """Numeric variables whose character counterpart is absent."""
    pattern = re.compile(
        r"\w+FN|TRT\d{2}[PA]N|TRT[PA]N|PARAMN|AVISITN|ATPTN|APHASEN|\w+GR\dN|REGION\dN"
    )
    out: list[Finding] = []
    for ds in adam_datasets(package):
        names = set(ds.variables)
        for name in sorted(names):
            if not pattern.fullmatch(name):
                continue
            primary = name[:-2] + "FL" if name.endswith("FN") else name[:-1]
            if primary in names:
                continue
            out.append(
                dataset_finding(
                    "numeric-without-character-variable",
                    ds,
                    name,
                    f"{name} is present but {primary} is not; add {primary} (the variable "
                    f"{name} codes) or drop {name}.",
                )
            )
    return out


def dataset_finding(code: str, ds: Dataset, variable: str | None, message: str) -> Finding:
    return finding(code, message, ds, variable=variable)


@rule(
    "study-day-zero",
    "error",
    "adam",
    checks="Relative day variables (names ending in DY: ADY, ASTDY, AENDY, ...) are never 0.",
    why="ADaM, like SDTM, has no day 0: the day before day 1 is day -1; a 0 means the +1 for "
    "days on or after the reference date was forgotten or applied to the wrong records.",
    refs=["AD0046"],
)
def study_day_zero(package: Package) -> list[Finding]:
    """*DY values equal to 0."""
    return each_record(
        "study-day-zero",
        adam_datasets(package),
        lambda ds: [
            v
            for v in ds.variables
            if v.endswith("DY") and pd.api.types.is_numeric_dtype(ds.frame[v])
        ],
        lambda ds, v: sas_number(ds, v).eq(0.0),
        lambda v: lambda r: f"{v} is 0; there is no study day 0 (the day before day 1 is -1).",
    )


@rule(
    "date-variable-not-numeric",
    "error",
    "adam",
    checks="ADaM date (*DT) and datetime (*DTM) variables are numeric.",
    why="ADaM dates are SAS numeric dates so that analyses can subtract them; a character *DT "
    "is an SDTM --DTC under an ADaM name.",
    refs=["AD0058", "AD0060"],
)
def date_variable_not_numeric(package: Package) -> list[Finding]:
    """Character *DT and *DTM variables (one finding per variable)."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        for v in ds.variables:
            if v.endswith(("DT", "DTM")) and not pd.api.types.is_numeric_dtype(ds.frame[v]):
                out.append(
                    dataset_finding(
                        "date-variable-not-numeric",
                        ds,
                        v,
                        f"{v} is character; an ADaM *DT/*DTM variable must be a numeric SAS "
                        "date or datetime (keep the ISO 8601 text in a --DTC variable).",
                    )
                )
    return out


def _date_datetime_pairs(ds: Dataset) -> list[tuple[str, str]]:
    names = set(ds.variables)
    return sorted((v[:-1], v) for v in names if v.endswith("DTM") and v[:-1] in names)


@rule(
    "date-differs-from-datetime",
    "error",
    "adam",
    checks="Where a date *DT and its datetime *DTM are both populated (ADT/ADTM, TRTSDT/TRTSDTM, "
    "ASTDT/ASTDTM, ...), the date is the date part of the datetime.",
    why="The two describe the same moment; when they disagree, analyses by date and by time "
    "select different records.",
    refs=["AD0045"],
)
def date_differs_from_datetime(package: Package) -> list[Finding]:
    """*DT that is not the date part of *DTM."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        for dt, dtm in _date_datetime_pairs(ds):
            day = sas_number(ds, dt)
            moment = sas_number(ds, dtm)
            expected = np.floor(moment / SECONDS_PER_DAY)
            bad = day.notna() & moment.notna() & day.ne(expected)
            frame = ds.frame.assign(__EXP__=expected)
            out += report_rows(
                "date-differs-from-datetime",
                ds,
                rows_where(frame, bad),
                dt,
                lambda r, dt=dt, dtm=dtm: (
                    f"{dt} is {_sas_date(r[dt])} but {dtm} falls on {_sas_date(r['__EXP__'])}; "
                    f"{dt} must be the date part of {dtm}."
                ),
                value=dt,
            )
    return out


def _sas_date(value: object) -> str:
    """A SAS date number as ISO 8601 text, for messages; a number that is no day of the years
    0001 to 9999 is shown as the number.

    Example:
        >>> _sas_date(0.0), _sas_date(-715509), _sas_date(1e12)
        ('1960-01-01 (0)', '0001-01-01 (-715509)', '1000000000000 (not a date of 0001 to 9999)')
    """
    if value is None or pd.isna(value):  # type: ignore[arg-type]
        return "missing"
    number = float(value)  # type: ignore[arg-type]
    try:
        day = datetime.date(1960, 1, 1) + datetime.timedelta(days=int(np.floor(number)))
    except (OverflowError, ValueError):
        return f"{fmt(value)} (not a date of 0001 to 9999)"
    return f"{day.isoformat()} ({fmt(value)})"


def _start_end_pairs(ds: Dataset, start: str, end: str) -> list[tuple[str, str]]:
    names = set(ds.variables)
    return sorted(
        (v, v[: -len(start)] + end)
        for v in names
        if v.endswith(start) and v[: -len(start)] + end in names
    )


@rule(
    "start-date-after-end-date",
    "error",
    "adam",
    checks="A start date *SDT (TRTSDT, TRxxSDT, APxxSDT, APERSDT ...) is not after its end date "
    "*EDT; likewise *SDTM and *EDTM.",
    why="A period that ends before it starts makes every duration and every on-treatment "
    "window built from it wrong.",
    refs=["AD0121", "AD0122"],
)
def start_date_after_end_date(package: Package) -> list[Finding]:
    """*SDT > *EDT and *SDTM > *EDTM."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        pairs = _start_end_pairs(ds, "SDT", "EDT") + _start_end_pairs(ds, "SDTM", "EDTM")
        for start, end in pairs:
            bad = sas_number(ds, start).gt(sas_number(ds, end))
            out += report_rows(
                "start-date-after-end-date",
                ds,
                rows_where(ds.frame, bad),
                start,
                lambda r, s=start, e=end: (
                    f"{s} {fmt(r[s])} is after {e} {fmt(r[e])}; a start must not be after its end."
                ),
                value=start,
            )
    return out


DATE_IMPUTATION = ("Y", "M", "D")
"""ADaM CT codelist DATEFL (C81223): the highest date component imputed."""
TIME_IMPUTATION = ("H", "M", "S")
"""ADaM CT codelist TIMEFL (C81226): the highest time component imputed."""


@rule(
    "imputation-flag-invalid",
    "error",
    "adam",
    checks="Date imputation flags (*DTF) hold only 'Y', 'M' or 'D' and time imputation flags "
    "(*TMF) only 'H', 'M' or 'S' (ADaM CT DATEFL, TIMEFL), or null.",
    why="The flag says which component was imputed; any other value leaves a reviewer unable "
    "to tell imputed dates from observed ones.",
)
def imputation_flag_invalid(package: Package) -> list[Finding]:
    """*DTF / *TMF values outside their codelists."""
    out: list[Finding] = []
    for suffix, allowed in (("DTF", DATE_IMPUTATION), ("TMF", TIME_IMPUTATION)):
        out += each_record(
            "imputation-flag-invalid",
            adam_datasets(package),
            lambda ds, suffix=suffix: [v for v in ds.variables if v.endswith(suffix)],
            lambda ds, v, allowed=allowed: (
                present(ds.frame[v]) & ~stripped(ds.frame[v]).isin(list(allowed)).fillna(False)
            ),
            lambda v, allowed=allowed: (
                lambda r: (
                    f"{v} is {fmt(r[v])}; it must be one of {', '.join(allowed)} or null."  # type: ignore[index]
                )
            ),
        )
    return out


@rule(
    "imputation-flag-without-date",
    "error",
    "adam",
    checks="A populated *DTF has its date *DT populated on the same record; a populated *TMF "
    "its *TM (or the *DTM of the same root).",
    why="The flag says the date was imputed; a flag without a date means the imputation was "
    "lost or the flag was set on the wrong record.",
    refs=["AD0263", "AD0264"],
)
def imputation_flag_without_date(package: Package) -> list[Finding]:
    """*DTF / *TMF populated while the date or time is null."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        names = set(ds.variables)
        for flag in sorted(v for v in names if v.endswith(("DTF", "TMF"))):
            root = flag[:-1]
            targets = [t for t in (root, flag[:-3] + "DTM") if t in names]
            if not targets:
                continue
            missing = np.ones(len(ds.frame), dtype=bool)
            for t in targets:
                missing &= ~np.asarray(present(ds.frame[t]), dtype=bool)
            bad = np.asarray(present(ds.frame[flag]), dtype=bool) & missing
            out += report_rows(
                "imputation-flag-without-date",
                ds,
                rows_where(ds.frame, bad),
                flag,
                lambda r, flag=flag, targets=targets: (
                    f"{flag} is {fmt(r[flag])} but {' and '.join(targets)} "
                    f"{'is' if len(targets) == 1 else 'are'} null; populate the imputed value "
                    "or clear the flag."
                ),
                value=flag,
            )
    return out


@rule(
    "usubjid-not-in-adsl",
    "error",
    "adam",
    checks="Every USUBJID of an ADaM dataset is in ADSL.",
    why="ADSL is the list of subjects analyses start from; a subject missing from it drops out "
    "of every merge with ADSL (population flags, treatment).",
    refs=["AD0256"],
)
def usubjid_not_in_adsl(package: Package) -> list[Finding]:
    """ADaM records of subjects absent from ADSL."""
    adsl = adsl_dataset(package)
    if adsl is None:
        return []
    known = set(stripped(adsl.frame["USUBJID"]).dropna())
    return each_record(
        "usubjid-not-in-adsl",
        [ds for ds in adam_datasets(package) if ds.name != "ADSL"],
        lambda ds: ["USUBJID"] if "USUBJID" in ds.frame.columns else [],
        lambda ds, v: present(ds.frame[v]) & ~in_set(stripped(ds.frame[v]), known),
        lambda v: (
            lambda r: (
                f"USUBJID {fmt(r['USUBJID'])} is not in ADSL; every analysed subject must have an "  # type: ignore[index]
                "ADSL record."
            )
        ),
    )


@rule(
    "adam-usubjid-not-in-dm",
    "error",
    "adam",
    checks="Every USUBJID of an ADaM dataset is in SDTM DM, when DM is in the package.",
    why="ADaM is derived from SDTM; a subject DM does not know cannot be traced back to "
    "collected data.",
    refs=["AD0053"],
)
def adam_usubjid_not_in_dm(package: Package) -> list[Finding]:
    """ADaM records of subjects absent from DM."""
    dm = package.get("DM")
    if dm is None or dm.kind != "sdtm" or "USUBJID" not in dm.frame.columns:
        return []
    known = set(stripped(dm.frame["USUBJID"]).dropna())
    return each_record(
        "adam-usubjid-not-in-dm",
        adam_datasets(package),
        lambda ds: ["USUBJID"] if "USUBJID" in ds.frame.columns else [],
        lambda ds, v: present(ds.frame[v]) & ~in_set(stripped(ds.frame[v]), known),
        lambda v: (
            lambda r: (
                f"USUBJID {fmt(r['USUBJID'])} is not in SDTM DM; ADaM subjects must trace "  # type: ignore[index]
                "back to DM."
            )
        ),
    )


ADSL_COPIES = ("AGE", "AGEU", "SEX", "RACE", "ETHNIC", "SITEID", "SUBJID", "ARM", "ACTARM")
"""Subject-level variables commonly copied from ADSL into other ADaM datasets (checked besides
every TRTxxP/A, *FL population flag and TRTSDT/TRTEDT both datasets carry)."""


@rule(
    "adsl-copy-differs",
    "error",
    "adam",
    checks="A subject-level variable copied from ADSL into another ADaM dataset (TRT01P, "
    "TRT01A, SAFFL, AGE, SEX, TRTSDT, ...: any variable of ADSL the dataset has too, except "
    "the identifiers) has the subject's ADSL value on every record.",
    why="ADaM requires copied ADSL variables to keep ADSL's values; a different treatment or "
    "population flag in ADLB puts the subject in another group than ADSL does.",
)
def adsl_copy_differs(package: Package) -> list[Finding]:
    """Values of ADSL variables that differ from ADSL in other ADaM datasets."""
    adsl = adsl_dataset(package)
    if adsl is None:
        return []
    a = adsl.frame.loc[np.asarray(present(adsl.frame["USUBJID"]), dtype=bool)]
    a = a.loc[~stripped(a["USUBJID"]).duplicated()]
    index = pd.Index(stripped(a["USUBJID"]).astype(object))
    skip = {"STUDYID", "USUBJID"}
    out: list[Finding] = []
    for ds in adam_datasets(package):
        if ds.name == "ADSL" or "USUBJID" not in ds.frame.columns:
            continue
        shared = [v for v in ds.variables if v in a.columns and v not in skip]
        if not shared:
            continue
        position = index.get_indexer(stripped(ds.frame["USUBJID"]).astype(object))
        known = position >= 0
        for v in shared:
            theirs = values_like(a[v], position)
            bad = known & ~same_values(comparable(ds.frame[v]), theirs)
            if not bad.any():
                continue
            frame = ds.frame.assign(__ADSL__=theirs.set_axis(ds.frame.index))
            out += report_rows(
                "adsl-copy-differs",
                ds,
                rows_where(frame, bad),
                v,
                lambda r, v=v: (
                    f"{v} is {fmt(r[v])} but ADSL has {fmt(r['__ADSL__'])} for USUBJID "
                    f"{fmt(r['USUBJID'])}; a variable copied from ADSL must keep ADSL's value."
                ),
                value=v,
            )
    return out


RELATIVE_DAYS = (("ADY", "ADT"), ("ASTDY", "ASTDT"), ("AENDY", "AENDT"))
"""Relative days and the dates they count, from TRTSDT (ADaMIG: date - TRTSDT, plus 1 when the
date is on or after TRTSDT)."""


@rule(
    "relative-day-not-derived",
    "error",
    "adam",
    checks="Where a dataset has TRTSDT, a populated ADY (ASTDY, AENDY) equals ADT (ASTDT, AENDT) "
    "- TRTSDT, plus 1 when the date is on or after TRTSDT.",
    why="The relative day is defined from the date and the treatment start; a value that "
    "disagrees places the record on the wrong day of every by-day display.",
)
def relative_day_not_derived(package: Package) -> list[Finding]:
    """ADY / ASTDY / AENDY that do not follow from their date and TRTSDT."""
    out: list[Finding] = []
    for ds in adam_datasets(package):
        names = set(ds.variables)
        if "TRTSDT" not in names:
            continue
        start = sas_number(ds, "TRTSDT")
        for day, date in RELATIVE_DAYS:
            if not {day, date} <= names:
                continue
            d = sas_number(ds, date)
            expected = d - start + (d >= start).astype("float64")
            actual = sas_number(ds, day)
            bad = actual.notna() & expected.notna() & actual.ne(expected)
            frame = ds.frame.assign(__EXP__=expected)
            out += report_rows(
                "relative-day-not-derived",
                ds,
                rows_where(frame, bad),
                day,
                lambda r, day=day, date=date: (
                    f"{day} is {fmt(r[day])} but {date} {_sas_date(r[date])} is day "
                    f"{fmt(r['__EXP__'])} from TRTSDT {_sas_date(r['TRTSDT'])}; {day} must be "
                    f"{date} - TRTSDT (+1 on or after TRTSDT)."
                ),
                value=day,
            )
    return out
