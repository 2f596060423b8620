"""Trial Summary (TS): the parameters agencies ask for, their values, formats and references.

The parameters trialflow knows (codes, CDISC names, whether FDA asks for them in every study and
the codelist of their values) are the ones its TS builder writes:
:func:`trialflow.sdtm.metadata.ts_parameters` (``trialflow/sdtm/data/ts-parameters.csv``).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.sdtm import metadata
from trialflow.validation.core import Dataset, Package, cached, finding, rule
from trialflow.validation.rules.common import (
    dm_dataset,
    fmt,
    in_set,
    iso_rows,
    present,
    report_rows,
    rows_where,
    sdtm_datasets,
    stripped,
    text,
)

DATE_PARAMETERS = ("SSTDTC", "SENDTC", "DCUTDTC")
"""TS parameters whose TSVAL is an ISO 8601 date."""
DURATION_PARAMETERS = ("AGEMIN", "AGEMAX", "LENGTH")
"""TS parameters whose TSVAL is an ISO 8601 duration (P18Y, P196D)."""
COUNT_PARAMETERS = ("PLANSUB", "ACTSUB", "NARMS")
"""TS parameters whose TSVAL is a whole number."""
DURATION = (
    r"P(?=\d|T\d)(?:\d+(?:[.,]\d+)?Y)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?W)?"
    r"(?:\d+(?:[.,]\d+)?D)?(?:T(?=\d)(?:\d+(?:[.,]\d+)?H)?(?:\d+(?:[.,]\d+)?M)?"
    r"(?:\d+(?:[.,]\d+)?S)?)?"
)
"""An ISO 8601 duration such as P18Y, P16W, P1Y6M or PT12H (not "P" or "PT" alone)."""


@functools.lru_cache(maxsize=1)
def _known() -> pd.DataFrame:
    return metadata.ts_parameters().set_index("tsparmcd")


@functools.lru_cache(maxsize=8)
def _terms(name: str) -> tuple[str, ...]:
    return tuple(metadata.codelist(name).terms["term"].astype(str))


def _ts(package: Package, *variables: str) -> Dataset | None:
    """The TS dataset when it has TSPARMCD and ``variables``."""
    ts = package.get("TS")
    if ts is None or ts.kind != "sdtm":
        return None
    if not {"TSPARMCD", *variables} <= set(ts.frame.columns):
        return None
    return ts


def _view(package: Package, ts: Dataset) -> dict[str, np.ndarray]:
    """TS's TSPARMCD (trimmed, upper case) and TSVAL (trimmed) as arrays, "" where null; kept
    while a validation runs. TS is small: the rules work on these arrays and take records out
    of the frame only when one is flagged."""

    def compute() -> dict[str, np.ndarray]:
        f = ts.frame
        out = {"code": text(f["TSPARMCD"]).fillna("").to_numpy(dtype=object)}
        if "TSVAL" in f.columns:
            out["value"] = stripped(f["TSVAL"]).fillna("").to_numpy(dtype=object)
        return out

    return cached(package, ("ts-view", id(ts.frame)), compute)  # type: ignore[return-value]


def _of(
    ts: Dataset, codes: tuple[str, ...] | list[str], package: Package | None = None
) -> pd.Series:
    """True on the TS records of the parameters ``codes``."""
    code = (
        _view(package, ts)["code"]
        if package is not None
        else text(ts.frame["TSPARMCD"]).fillna("").to_numpy(dtype=object)
    )
    return pd.Series(np.isin(code, list(codes)), index=ts.frame.index)


@rule(
    "ts-missing",
    "error",
    "cross",
    checks="A package of SDTM datasets includes a TS (Trial Summary) dataset.",
    why="FDA's technical rejection criteria require TS with the study start date in every "
    "study; a package without TS is rejected on receipt.",
    refs=["SD1115"],
)
def ts_missing(package: Package) -> list[Finding]:
    """No TS dataset in a package of SDTM datasets."""
    if package.get("TS") is not None or not sdtm_datasets(package):
        return []
    return [
        finding(
            "ts-missing",
            "The package has SDTM datasets but no TS (Trial Summary) dataset; add TS with one "
            "record per trial summary parameter value (study.yaml trial.summary).",
            Dataset("TS", pd.DataFrame()),
        )
    ]


@rule(
    "ts-sstdtc-missing",
    "error",
    "cross",
    checks="TS has a study start date: a record with TSPARMCD = 'SSTDTC' and TSVAL populated.",
    why="FDA's technical rejection criteria read the study start date from TS (SSTDTC) to decide "
    "which data standards the study had to follow; without it the submission is rejected.",
    refs=["SD2232", "CG0287"],
)
def ts_sstdtc_missing(package: Package) -> list[Finding]:
    """No populated SSTDTC record in TS."""
    ts = _ts(package, "TSVAL")
    if ts is None:
        return []
    if (_of(ts, ["SSTDTC"], package) & present(ts.frame["TSVAL"])).any():
        return []
    return [
        finding(
            "ts-sstdtc-missing",
            "TS has no record with TSPARMCD = 'SSTDTC' and a TSVAL; give the study start date "
            "(earliest informed consent of an enrolled subject, ISO 8601) in study.yaml "
            "trial.summary.SSTDTC.",
            ts,
            variable="TSPARMCD",
            value="SSTDTC",
        )
    ]


P21_MISSING = {
    "ADDON": "SD2201", "AGEMAX": "SD2202", "AGEMIN": "SD2203", "LENGTH": "SD2204",
    "PLANSUB": "SD2205", "RANDOM": "SD2206", "SEXPOP": "SD2207", "STOPRULE": "SD2208",
    "TBLIND": "SD2209", "TCNTRL": "SD2210", "TDIGRP": "SD2211", "TINDTP": "SD2212",
    "TITLE": "SD2213", "TPHASE": "SD2214", "TTYPE": "SD2215", "CURTRT": "SD2216",
    "OBJPRIM": "SD2217", "SPONSOR": "SD2218", "TRT": "SD2219", "REGID": "SD2221",
    "OUTMSPRI": "SD2222", "PCLAS": "SD2223", "FCNTRY": "SD2224", "ADAPT": "SD2225",
    "DCUTDTC": "SD2226", "DCUTDESC": "SD2227", "INTMODEL": "SD2228", "NARMS": "SD2229",
    "STYPE": "SD2230", "INTTYPE": "SD2231", "SSTDTC": "SD2232", "SENDTC": "SD2233",
    "ACTSUB": "SD2234", "HLTSUBJI": "SD2235", "EXTTIND": "SD2273", "PDPSTIND": "SD2276",
    "PDSTIND": "SD2277", "PIPIND": "SD2278", "RDIND": "SD2279", "SDTIGVER": "SD2280",
    "SDTMVER": "SD2281", "THERAREA": "SD2282",
}  # fmt: skip
"""The Pinnacle 21 rule reporting each missing TS parameter (SDTM-IG 3.4 FDA configuration)."""

CONDITIONAL = {
    "TDIGRP": ("HLTSUBJI", ("N",)),
    "TINDTP": ("STYPE", ("INTERVENTIONAL",)),
    "TRT": ("STYPE", ("INTERVENTIONAL",)),
    "INTMODEL": ("STYPE", ("INTERVENTIONAL",)),
    "INTTYPE": ("STYPE", ("INTERVENTIONAL",)),
    "CURTRT": ("ADDON", ("Y",)),
    "PCLAS": ("INTTYPE", ("BIOLOGIC", "DRUG")),
}
"""Parameters asked for only when another parameter has one of these values, as Pinnacle 21
asks for them (TDIGRP for studies of unhealthy subjects, TRT for interventional studies, ...)."""


@rule(
    "ts-required-parameter-missing",
    "warning",
    "cross",
    checks="TS has a record for each parameter FDA asks for (the parameters marked required in "
    "trialflow's TS parameter list: SPONSOR, TITLE, TPHASE, ADDON, AGEMIN, AGEMAX, PLANSUB, "
    "RANDOM, SEXPOP, TBLIND, TCNTRL, TTYPE, REGID, ...); a parameter that does not apply is "
    "still present, with TSVALNF saying why. As Pinnacle 21 does, TDIGRP is asked for when "
    "HLTSUBJI = 'N'; TINDTP, TRT, INTMODEL and INTTYPE when STYPE = 'INTERVENTIONAL'; CURTRT when "
    "ADDON = 'Y'; PCLAS when INTTYPE is BIOLOGIC or DRUG. SSTDTC has its own rule.",
    why="The FDA Technical Conformance Guide lists the TS parameters a reviewer expects; a "
    "missing one must be added (with a null flavor when unknown) or explained.",
    refs=["CG0287", *sorted(v for k, v in P21_MISSING.items() if k != "SSTDTC")],
)
def ts_required_parameter_missing(package: Package) -> list[Finding]:
    """Required TS parameters with no record."""
    ts = _ts(package)
    if ts is None:
        return []
    known = _known()
    code = text(ts.frame["TSPARMCD"])
    have = set(code.dropna())
    values = (
        set(zip(code, text(ts.frame["TSVAL"]), strict=True))
        if "TSVAL" in ts.frame.columns
        else set()
    )

    def wanted(parameter: str) -> bool:
        if parameter == "SSTDTC" or parameter in have:
            return False
        if parameter in CONDITIONAL:
            other, accepted = CONDITIONAL[parameter]
            return any((other, v) in values for v in accepted)
        return True

    return [
        finding(
            "ts-required-parameter-missing",
            f"TS has no record for TSPARMCD {fmt(parameter)} ({known.at[parameter, 'tsparm']}"
            + (f"; P21 {P21_MISSING[parameter]}" if parameter in P21_MISSING else "")
            + "); add it (study.yaml trial.summary) with its value, or with TSVALNF (e.g. NA, "
            "UNK) when it does not apply or is unknown.",
            ts,
            variable="TSPARMCD",
            value=parameter,
        )
        for parameter in known.index[known["required"] == "Y"]
        if wanted(parameter)
    ]


@rule(
    "ts-tsval-missing",
    "error",
    "cross",
    checks="Each TS record has TSVAL or, when the value is unknown or does not apply, TSVALNF.",
    why="A TS parameter with neither a value nor a null flavor says nothing; the reviewer cannot "
    "tell an omission from a value that does not exist.",
    refs=["SD2017", "CG0259", "CG0260"],
)
def ts_tsval_missing(package: Package) -> list[Finding]:
    """TS records with neither TSVAL nor TSVALNF."""
    ts = _ts(package, "TSVAL")
    if ts is None:
        return []
    f = ts.frame
    flavor = present(f["TSVALNF"]) if "TSVALNF" in f.columns else False
    bad = ~present(f["TSVAL"]) & ~flavor
    return report_rows(
        "ts-tsval-missing",
        ts,
        rows_where(f, bad),
        "TSVAL",
        lambda r: (
            f"TSVAL and TSVALNF are both null for TSPARMCD {fmt(r['TSPARMCD'])}; give "
            "the value, or the null flavor (NA, UNK, NI, PINF, ...) in TSVALNF."
        ),
        value="TSPARMCD",
    )


@rule(
    "ts-tsval-with-tsvalnf",
    "warning",
    "cross",
    checks="TSVALNF is null where TSVAL is populated.",
    why="TSVALNF explains an absent value; next to a value it contradicts it.",
    refs=["SD2018"],
)
def ts_tsval_with_tsvalnf(package: Package) -> list[Finding]:
    """TS records with both TSVAL and TSVALNF."""
    ts = _ts(package, "TSVAL", "TSVALNF")
    if ts is None:
        return []
    f = ts.frame
    bad = present(f["TSVAL"]) & present(f["TSVALNF"])
    return report_rows(
        "ts-tsval-with-tsvalnf",
        ts,
        rows_where(f, bad),
        "TSVALNF",
        lambda r: (
            f"TSVALNF is {fmt(r['TSVALNF'])} although TSVAL is {fmt(r['TSVAL'])} "
            f"(TSPARMCD {fmt(r['TSPARMCD'])}); TSVALNF must be null when TSVAL is given."
        ),
        value="TSVALNF",
    )


@rule(
    "ts-tsparm-not-ct-name",
    "error",
    "cross",
    checks="For the TS parameters trialflow knows, TSPARM is the CDISC CT name of TSPARMCD "
    "(TSPARMCD 'AGEMIN' is 'Planned Minimum Age of Subjects'), compared ignoring case.",
    why="TSPARMCD and TSPARM are a CDISC codelist pair (C66738/C67152); a name that is not the "
    "code's name breaks the pair and misleads anyone reading TSPARM.",
)
def ts_tsparm_not_ct_name(package: Package) -> list[Finding]:
    """TS records whose TSPARM is not the CT name of their TSPARMCD."""
    ts = _ts(package, "TSPARM")
    if ts is None:
        return []
    f = ts.frame
    names = _known()["tsparm"].str.upper()
    expected = text(f["TSPARMCD"]).map(names)
    bad = expected.notna() & present(f["TSPARM"]) & (text(f["TSPARM"]) != expected)
    rows = rows_where(f, bad)
    rows = rows.assign(__CT__=_known()["tsparm"].reindex(text(rows["TSPARMCD"])).to_numpy())
    return report_rows(
        "ts-tsparm-not-ct-name",
        ts,
        rows,
        "TSPARM",
        lambda r: (
            f"TSPARM is {fmt(r['TSPARM'])} for TSPARMCD {fmt(r['TSPARMCD'])}; CDISC CT "
            f"names it {fmt(r['__CT__'])}."
        ),
        value="TSPARM",
    )


@rule(
    "ts-tsparmcd-tsparm-not-one-to-one",
    "error",
    "cross",
    checks="Within TS each TSPARMCD has one TSPARM and each TSPARM one TSPARMCD.",
    why="Paired code and name variables must correspond one-to-one; two names for one parameter "
    "(or one name for two) splits or merges trial summary parameters.",
)
def ts_tsparmcd_tsparm_not_one_to_one(package: Package) -> list[Finding]:
    """TSPARMCD and TSPARM that do not pair one-to-one."""
    ts = _ts(package, "TSPARM")
    if ts is None:
        return []
    f = ts.frame
    keep = present(f["TSPARMCD"]) & present(f["TSPARM"])
    work = pd.DataFrame({"c": text(f["TSPARMCD"]), "p": text(f["TSPARM"])})[keep]
    pairs = work.drop_duplicates()
    codes = pairs["c"][pairs["c"].duplicated()].unique()
    names = pairs["p"][pairs["p"].duplicated()].unique()
    if not len(codes) and not len(names):
        return []
    bad = keep & (
        in_set(work["c"].reindex(f.index).fillna(""), codes)
        | in_set(work["p"].reindex(f.index).fillna(""), names)
    )
    return report_rows(
        "ts-tsparmcd-tsparm-not-one-to-one",
        ts,
        rows_where(f, bad),
        "TSPARM",
        lambda r: (
            f"TSPARMCD {fmt(r['TSPARMCD'])} / TSPARM {fmt(r['TSPARM'])}: another TS "
            "record pairs one of them with a different partner; each TSPARMCD must have one TSPARM."
        ),
        value="TSPARM",
    )


def _format_rule(
    package: Package, code: str, parameters: tuple[str, ...], ok: pd.Series, what: str
) -> list[Finding]:
    ts = _ts(package, "TSVAL")
    if ts is None:
        return []
    f = ts.frame
    bad = _of(ts, parameters, package) & present(f["TSVAL"]) & ~ok
    return report_rows(
        code,
        ts,
        rows_where(f, bad),
        "TSVAL",
        lambda r: f"TSVAL {fmt(r['TSVAL'])} of TSPARMCD {fmt(r['TSPARMCD'])} is not {what}.",
        value="TSVAL",
    )


@rule(
    "ts-date-not-iso8601",
    "error",
    "cross",
    checks="TSVAL of the date parameters (SSTDTC, SENDTC, DCUTDTC) is an ISO 8601 date.",
    why="Agencies read the study start date and data cutoff from TS to decide which standards "
    "apply; a date they cannot parse is a date they do not have.",
    refs=["SD2245", "SD2247", "SD2248", "CG0283", "CG0285", "CG0286"],
)
def ts_date_not_iso8601(package: Package) -> list[Finding]:
    """Date-valued TS parameters whose TSVAL is not ISO 8601."""
    ts = _ts(package, "TSVAL")
    if ts is None:
        return []
    ok = pd.Series(~np.isnan(iso_rows(ts.frame["TSVAL"])[:, 0]), index=ts.frame.index)
    return _format_rule(
        package,
        "ts-date-not-iso8601",
        DATE_PARAMETERS,
        ok,
        "an ISO 8601 date (YYYY-MM-DD); write the date as ISO 8601",
    )


@rule(
    "ts-duration-not-iso8601",
    "error",
    "cross",
    checks="TSVAL of AGEMIN, AGEMAX and LENGTH is an ISO 8601 duration (P18Y, P26W, P196D).",
    why="SDTMIG asks for planned ages and trial length as ISO 8601 durations so that they can "
    "be compared and summarised across studies; '18 years' or '18' cannot.",
)
def ts_duration_not_iso8601(package: Package) -> list[Finding]:
    """Duration-valued TS parameters whose TSVAL is not an ISO 8601 duration."""
    ts = _ts(package, "TSVAL")
    if ts is None:
        return []
    ok = stripped(ts.frame["TSVAL"]).str.fullmatch(DURATION).fillna(False).astype(bool)
    return _format_rule(
        package,
        "ts-duration-not-iso8601",
        DURATION_PARAMETERS,
        ok,
        "an ISO 8601 duration such as P18Y or P196D; write it as one (or give TSVALNF, e.g. "
        "PINF for no maximum age)",
    )


@rule(
    "ts-count-not-integer",
    "error",
    "cross",
    checks="TSVAL of PLANSUB, ACTSUB and NARMS is a whole number.",
    why="Planned and actual numbers of subjects and the number of arms are counts; a value "
    "that is not a whole number cannot be compared with DM or TA.",
    refs=["SD2246", "SD2249", "CG0284", "CG0457"],
)
def ts_count_not_integer(package: Package) -> list[Finding]:
    """Count-valued TS parameters whose TSVAL is not a whole number."""
    ts = _ts(package, "TSVAL")
    if ts is None:
        return []
    ok = stripped(ts.frame["TSVAL"]).str.fullmatch(r"\d+").fillna(False).astype(bool)
    return _format_rule(package, "ts-count-not-integer", COUNT_PARAMETERS, ok, "a whole number")


@rule(
    "ts-value-not-in-codelist",
    "error",
    "cross",
    checks="For TS parameters whose values come from a CDISC codelist trialflow ships (NY for "
    "ADDON, RANDOM, ADAPT, HLTSUBJI and the other indicators; COUNTRY for FCNTRY), TSVAL is a "
    "term of that codelist (exact case).",
    why="TSVAL of a coded parameter must be a submission value of its codelist so that it can "
    "be read by machine; 'Yes' or 'China' is not.",
)
def ts_value_not_in_codelist(package: Package) -> list[Finding]:
    """TSVAL of coded TS parameters outside their codelist."""
    ts = _ts(package, "TSVAL")
    if ts is None:
        return []
    f = ts.frame
    lists = _known()["codelist"].dropna()
    lists = lists[lists.astype(str).str.strip() != ""]
    view = _view(package, ts)
    code, value = view["code"], view["value"]
    off = np.zeros(len(f), dtype=bool)
    names = np.full(len(f), None, dtype=object)
    for name in sorted(set(lists)):
        mine = np.isin(code, list(lists.index[lists == name])) & (value != "")
        if not mine.any():
            continue
        wrong = mine & ~np.isin(value, list(_terms(name)))
        off |= wrong
        names[wrong] = name
    bad = pd.Series(off, index=f.index)
    names = pd.Series(names, index=f.index)
    rows = rows_where(f, bad).assign(__CL__=names[bad])
    return report_rows(
        "ts-value-not-in-codelist",
        ts,
        rows,
        "TSVAL",
        lambda r: (
            f"TSVAL {fmt(r['TSVAL'])} of TSPARMCD {fmt(r['TSPARMCD'])} is not a term of "
            f"the CDISC codelist {r['__CL__']}; use the codelist's submission value."
        ),
        value="TSVAL",
    )


@rule(
    "ts-tsvalcd-without-reference",
    "error",
    "cross",
    checks="Where TSVALCD is populated, TSVCDREF names the terminology the code comes from.",
    why="A code without the name of its terminology (CDISC, SNOMED, UNII, ISO 3166, ...) cannot "
    "be looked up.",
)
def ts_tsvalcd_without_reference(package: Package) -> list[Finding]:
    """TS records with TSVALCD but no TSVCDREF."""
    ts = _ts(package, "TSVALCD")
    if ts is None:
        return []
    f = ts.frame
    ref = present(f["TSVCDREF"]) if "TSVCDREF" in f.columns else False
    bad = present(f["TSVALCD"]) & ~ref
    return report_rows(
        "ts-tsvalcd-without-reference",
        ts,
        rows_where(f, bad),
        "TSVCDREF",
        lambda r: (
            f"TSVALCD is {fmt(r['TSVALCD'])} (TSPARMCD {fmt(r['TSPARMCD'])}) but "
            "TSVCDREF is null; name the terminology of the code in TSVCDREF."
        ),
        value="TSVALCD",
    )


@rule(
    "ts-reference-without-version",
    "warning",
    "cross",
    checks="Where TSVCDREF is populated, TSVCDVER gives the version of that terminology "
    "(ISO 8601 is exempt: it has no version to give).",
    why="Codes change between terminology versions; a reference without its version cannot be "
    "resolved with certainty.",
)
def ts_reference_without_version(package: Package) -> list[Finding]:
    """TS records with TSVCDREF but no TSVCDVER."""
    ts = _ts(package, "TSVCDREF")
    if ts is None:
        return []
    f = ts.frame
    version = present(f["TSVCDVER"]) if "TSVCDVER" in f.columns else False
    iso8601 = text(f["TSVCDREF"]).fillna("").str.replace(" ", "") == "ISO8601"
    bad = present(f["TSVCDREF"]) & ~version & ~iso8601
    return report_rows(
        "ts-reference-without-version",
        ts,
        rows_where(f, bad),
        "TSVCDVER",
        lambda r: (
            f"TSVCDREF is {fmt(r['TSVCDREF'])} (TSPARMCD {fmt(r['TSPARMCD'])}) but "
            "TSVCDVER is null; give the version of the terminology."
        ),
        value="TSVCDREF",
    )


def _count(package: Package, ts: Dataset, code: str) -> tuple[pd.DataFrame, float | None]:
    """The records of TS parameter ``code`` and its value as a whole number (None unless the
    parameter has exactly one record, with a whole number)."""
    view = _view(package, ts)
    at = np.flatnonzero(view["code"] == code)
    if len(at) != 1 or not str(view["value"][at[0]]).isdigit():
        return ts.frame.iloc[:0], None
    return ts.frame.iloc[at], float(view["value"][at[0]])


@rule(
    "ts-narms-not-ta-arms",
    "warning",
    "cross",
    checks="TS NARMS (planned number of arms) equals the number of distinct ARMCD in TA.",
    why="TS and TA describe the same design; a different number of arms means one of them is "
    "out of date.",
)
def ts_narms_not_ta_arms(package: Package) -> list[Finding]:
    """NARMS that differs from TA's number of arms."""
    ts, ta = _ts(package, "TSVAL"), package.get("TA")
    if ts is None or ta is None or "ARMCD" not in ta.frame.columns:
        return []
    rows, narms = _count(package, ts, "NARMS")
    arms = text(ta.frame["ARMCD"]).dropna().nunique()
    if narms is None or narms == arms:
        return []
    return report_rows(
        "ts-narms-not-ta-arms",
        ts,
        rows,
        "TSVAL",
        lambda r: f"NARMS is {fmt(r['TSVAL'])} but TA has {arms} distinct ARMCD; make them agree.",
        value="TSVAL",
    )


@rule(
    "ts-actsub-exceeds-dm",
    "warning",
    "cross",
    checks="TS ACTSUB (actual number of subjects) is not larger than the number of subjects in DM.",
    why="Every subject counted in ACTSUB has a DM record; a larger count means TS or DM is "
    "incomplete.",
)
def ts_actsub_exceeds_dm(package: Package) -> list[Finding]:
    """ACTSUB larger than DM's number of subjects."""
    ts, dm = _ts(package, "TSVAL"), dm_dataset(package)
    if ts is None or dm is None:
        return []
    rows, actsub = _count(package, ts, "ACTSUB")
    subjects = text(dm.frame["USUBJID"]).dropna().nunique()
    if actsub is None or actsub <= subjects:
        return []
    return report_rows(
        "ts-actsub-exceeds-dm",
        ts,
        rows,
        "TSVAL",
        lambda r: (
            f"ACTSUB is {fmt(r['TSVAL'])} but DM has {subjects} subjects; ACTSUB counts "
            "subjects who are all in DM."
        ),
        value="TSVAL",
    )


def _too_long(package: Package, code: str, variable: str, limit: int) -> list[Finding]:
    ts = _ts(package, variable)
    if ts is None:
        return []
    f = ts.frame
    bad = stripped(f[variable]).str.len().fillna(0) > limit
    return report_rows(
        code,
        ts,
        rows_where(f, bad),
        variable,
        lambda r: (
            f"{variable} {fmt(r[variable])} is {len(str(r[variable]).strip())} characters "
            f"long; {variable} is limited to {limit}."
        ),
        value=variable,
    )


@rule(
    "ts-tsparmcd-too-long",
    "error",
    "cross",
    checks="TSPARMCD is at most 8 characters long.",
    why="SDTMIG limits TSPARMCD, the companion of TSPARM, to 8 characters (the length of the "
    "CDISC CT codes).",
    refs=["CORE-000147", "CG0257"],
)
def ts_tsparmcd_too_long(package: Package) -> list[Finding]:
    """TSPARMCD longer than 8 characters."""
    return _too_long(package, "ts-tsparmcd-too-long", "TSPARMCD", 8)


@rule(
    "ts-tsparm-too-long",
    "error",
    "cross",
    checks="TSPARM is at most 40 characters long.",
    why="SDTMIG limits TSPARM to 40 characters (the length of the CDISC CT names).",
    refs=["CORE-000148", "CG0258"],
)
def ts_tsparm_too_long(package: Package) -> list[Finding]:
    """TSPARM longer than 40 characters."""
    return _too_long(package, "ts-tsparm-too-long", "TSPARM", 40)


@rule(
    "ts-tsval-tsvalcd-not-one-to-one",
    "error",
    "cross",
    checks="Where TSVAL and TSVALCD are both populated, each TSVAL has one TSVALCD and each "
    "TSVALCD one TSVAL across TS.",
    why="TSVALCD is the code of the term in TSVAL; one term with two codes (or one code for two "
    "terms) means a code or a value is wrong.",
    refs=["CORE-000152", "CG0265"],
)
def ts_tsval_tsvalcd_not_one_to_one(package: Package) -> list[Finding]:
    """TSVAL and TSVALCD that do not pair one-to-one."""
    ts = _ts(package, "TSVAL", "TSVALCD")
    if ts is None:
        return []
    f = ts.frame
    keep = present(f["TSVAL"]) & present(f["TSVALCD"])
    value, code = stripped(f["TSVAL"]).where(keep), stripped(f["TSVALCD"]).where(keep)
    pairs = pd.DataFrame({"v": value, "c": code})[keep].drop_duplicates()
    values = pairs["v"][pairs["v"].duplicated()].unique()
    codes = pairs["c"][pairs["c"].duplicated()].unique()
    if not len(values) and not len(codes):
        return []
    bad = keep & (in_set(value.fillna(""), values) | in_set(code.fillna(""), codes))
    return report_rows(
        "ts-tsval-tsvalcd-not-one-to-one",
        ts,
        rows_where(f, bad),
        "TSVALCD",
        lambda r: (
            f"TSVAL {fmt(r['TSVAL'])} has TSVALCD {fmt(r['TSVALCD'])} here (TSPARMCD "
            f"{fmt(r['TSPARMCD'])}) but another TS record pairs one of them with a different "
            "partner; a term has one code."
        ),
        value="TSVALCD",
    )


NULL_FLAVORS = (
    "NI", "INV", "OTH", "PINF", "NINF", "UNC", "DER", "UNK", "ASKU", "NAV", "NASK", "QS", "TRC",
    "MSK", "NA",
)  # fmt: skip
"""The ISO 21090 null flavors TSVALNF may take (as Pinnacle 21 lists them for SD2283)."""


@rule(
    "ts-tsvalnf-invalid",
    "error",
    "cross",
    checks="TSVALNF, where populated, is an ISO 21090 null flavor (NI, INV, OTH, PINF, NINF, "
    "UNC, DER, UNK, ASKU, NAV, NASK, QS, TRC, MSK, NA).",
    why="TSVALNF says why a parameter has no value in the terms of ISO 21090; any other text "
    "cannot be read by machine.",
    refs=["SD2283"],
)
def ts_tsvalnf_invalid(package: Package) -> list[Finding]:
    """TSVALNF outside the ISO 21090 null flavors."""
    ts = _ts(package, "TSVALNF")
    if ts is None:
        return []
    f = ts.frame
    bad = present(f["TSVALNF"]) & ~in_set(stripped(f["TSVALNF"]).fillna(""), NULL_FLAVORS)
    return report_rows(
        "ts-tsvalnf-invalid",
        ts,
        rows_where(f, bad),
        "TSVALNF",
        lambda r: (
            f"TSVALNF {fmt(r['TSVALNF'])} (TSPARMCD {fmt(r['TSPARMCD'])}) is not an ISO "
            f"21090 null flavor; use one of {', '.join(NULL_FLAVORS)}."
        ),
        value="TSVALNF",
    )


@rule(
    "ts-sstdtc-incomplete",
    "error",
    "cross",
    checks="The study start date (TSVAL of SSTDTC) is at least a complete date (YYYY-MM-DD).",
    why="FDA's technical rejection criteria compare the study start date with the dates data "
    "standards became required; a year or a month is not enough to decide.",
    refs=["SD2247A"],
)
def ts_sstdtc_incomplete(package: Package) -> list[Finding]:
    """SSTDTC that is ISO 8601 but not a complete date."""
    ts = _ts(package, "TSVAL")
    if ts is None:
        return []
    f = ts.frame
    parts = iso_rows(f["TSVAL"])
    partial = ~np.isnan(parts[:, 0]) & np.isnan(parts[:, 2])
    bad = _of(ts, ["SSTDTC"], package) & pd.Series(partial, index=f.index)
    return report_rows(
        "ts-sstdtc-incomplete",
        ts,
        rows_where(f, bad),
        "TSVAL",
        lambda r: (
            f"The study start date (SSTDTC) is {fmt(r['TSVAL'])}; give at least the "
            "complete date (YYYY-MM-DD)."
        ),
        value="TSVAL",
    )
