"""Trial design and visits: TA, TE, TV and TI against each other and DM; VISIT, VISITNUM,
VISITDY and EPOCH of the subject-level datasets against TV, SV and TA; subject elements (SE)
against the subject's arm. Trial Summary (TS) rules are in :mod:`.ts`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.numbers import sas_round
from trialflow.validation.core import (
    FILE,
    RECORD,
    Dataset,
    Package,
    cached,
    rule,
    spread,
)
from trialflow.validation.rules.common import (
    by_subject,
    distinct_codes,
    dm_dataset,
    domain_prefix,
    dominant,
    filled,
    fmt,
    in_set,
    iso_rows,
    numbers,
    others,
    present,
    report_rows,
    rows_where,
    sdtm_datasets,
    stripped,
    text,
    value_codes,
)


def visit_numbers(values: pd.Series) -> pd.Series:
    """VISITNUM as numbers, rounded to 10 decimals: a value that went through a binary or IBM
    float conversion (9.299999999999999) is the visit 9.3 it was written as.

    Example:
        >>> visit_numbers(pd.Series([9.299999999999999, "9.3", "x"])).tolist()[:2]
        [9.3, 9.3]
    """
    return sas_round(numbers(values), 10)


def _visits_one_to_one(package: Package) -> bool:
    """True when each VISITNUM of the package has one VISIT and each VISIT one VISITNUM.

    Decided on the distinct (VISITNUM, VISIT) pairs of each dataset, grouping as the rule does
    (VISITNUM as a number, VISIT trimmed), so the rule only looks at records when some differ.
    """
    pairs = []
    for ds in sdtm_datasets(package):
        f = ds.frame
        if "VISITNUM" not in f.columns or "VISIT" not in f.columns:
            continue
        number = visit_numbers(f["VISITNUM"])
        keep = (number.notna() & present(f["VISIT"])).to_numpy()
        visit = stripped(f["VISIT"])
        codes = pd.DataFrame({"n": value_codes(number)[keep], "v": value_codes(visit)[keep]})
        first = np.flatnonzero(keep)[~codes.duplicated().to_numpy()]
        pairs.append(
            pd.DataFrame(
                {"VISITNUM": number.to_numpy()[first], "VISIT": visit.to_numpy(dtype=object)[first]}
            )
        )
    if not pairs:
        return True
    work = pd.concat(pairs, ignore_index=True).drop_duplicates()
    return not (work["VISITNUM"].duplicated().any() or work["VISIT"].duplicated().any())


@rule(
    "visit-visitnum-not-one-to-one",
    "error",
    "cross",
    checks="Across all SDTM datasets of the package, each VISITNUM has one VISIT text and each "
    "VISIT one VISITNUM.",
    why="VISITNUM orders visits and VISIT names them; a number with two names (or two numbers "
    "for one name) splits or merges visits in every by-visit table.",
    refs=["CG0035", "CORE-000361", "FB0919"],
)
def visit_visitnum_not_one_to_one(package: Package) -> list[Finding]:
    """VISITNUM and VISIT that do not pair one-to-one across the package."""
    if _visits_one_to_one(package):
        return []
    parts = []
    datasets = {}
    for ds in sdtm_datasets(package):
        f = ds.frame
        if "VISITNUM" not in f.columns or "VISIT" not in f.columns:
            continue
        keep = visit_numbers(f["VISITNUM"]).notna() & present(f["VISIT"])
        datasets[ds.name] = ds
        parts.append(
            pd.DataFrame(
                {
                    "__DS__": ds.name,
                    "__IX__": f.index[keep.to_numpy()],
                    "VISITNUM": visit_numbers(f.loc[keep, "VISITNUM"]),
                    "VISIT": stripped(f.loc[keep, "VISIT"]),
                }
            ).reset_index(drop=True)
        )
    if not parts:
        return []
    work = pd.concat(parts, ignore_index=True)
    by_num, by_text = dominant(work, ["VISITNUM"], "VISIT"), dominant(work, ["VISIT"], "VISITNUM")
    off_num = work["VISIT"].to_numpy() != by_num["dominant"].to_numpy()
    off_text = work["VISITNUM"].to_numpy() != by_text["dominant"].to_numpy()
    work = work.assign(
        __OFFNUM__=off_num,
        __OFFTEXT__=off_text,
        __TOPTEXT__=by_num["dominant"],
        __NTEXT__=by_num["count"],
        __TOPNUM__=by_text["dominant"],
        __NNUM__=by_text["count"],
    )
    out: list[Finding] = []
    for name, ds in datasets.items():
        mine = work[(work["__DS__"] == name) & (work["__OFFNUM__"] | work["__OFFTEXT__"])]
        if mine.empty:
            continue
        extra = mine.set_index("__IX__")[
            ["__OFFNUM__", "__TOPTEXT__", "__NTEXT__", "__TOPNUM__", "__NNUM__"]
        ]
        frame = ds.frame.loc[extra.index].join(extra)

        def say(r: pd.Series) -> str:
            if bool(r["__OFFNUM__"]):
                return (
                    f"VISITNUM {fmt(r['VISITNUM'])} is {fmt(r['VISIT'])} here but "
                    f"{fmt(r['__TOPTEXT__'])} on {others(r['__NTEXT__'])} of the "
                    "package; each VISITNUM must have one VISIT."
                )
            return (
                f"VISIT {fmt(r['VISIT'])} has VISITNUM {fmt(r['VISITNUM'])} here but "
                f"{fmt(r['__TOPNUM__'])} on {others(r['__NNUM__'])} of the package; "
                "each VISIT must have one VISITNUM."
            )

        out += report_rows(
            "visit-visitnum-not-one-to-one", ds, frame, "VISITNUM", say, value="VISITNUM"
        )
    return out


# --- trial design structure: TA, TE, TV, TI -------------------------------------------------

_NO_ARM = ("SCRNFAIL", "NOTASSGN", "NOTTRT", "UNPLAN")
"""Arm codes of subjects without a planned arm (SDTMIG before 3.3); never in TA."""
_TRIAL_DESIGN = ("TA", "TE", "TV", "TI", "TS", "TD", "TM")


def _design(package: Package, name: str, *variables: str) -> pd.DataFrame | None:
    """The frame of trial design dataset ``name`` when it has ``variables``."""
    ds = package.get(name)
    if ds is None or ds.kind != "sdtm" or not set(variables) <= set(ds.frame.columns):
        return None
    return ds.frame


def _values(frame: pd.DataFrame, column: str) -> list[str]:
    """The distinct populated values of ``column`` as trimmed upper-case text, sorted."""
    return sorted(text(frame[column]).dropna().unique())


def _subject_datasets(package: Package, *variables: str) -> list[Dataset]:
    """SDTM datasets that are not trial design datasets and have ``variables``."""
    return [
        ds
        for ds in sdtm_datasets(package)
        if ds.name not in _TRIAL_DESIGN and set(variables) <= set(ds.frame.columns)
    ]


def _outside(values: pd.Series, allowed: list[str], *, upper: bool = True) -> pd.Series:
    """True where ``values`` is populated and, trimmed (and upper-cased), not in ``allowed``;
    decided once per distinct value."""
    codes, distinct = distinct_codes(values)
    trimmed = distinct.str.strip()
    if upper:
        trimmed = trimmed.str.upper()
    off = filled(distinct) & ~trimmed.isin(allowed).to_numpy(dtype=bool)
    return pd.Series(spread(codes, off, False), index=values.index)


@rule(
    "ta-etcd-not-in-te",
    "error",
    "cross",
    checks="Each ETCD of TA is an element defined in TE.",
    why="TE defines each element (its start and end rules); an arm built from an element TE "
    "does not define has no definition to read.",
)
def ta_etcd_not_in_te(package: Package) -> list[Finding]:
    """TA elements missing from TE."""
    ta, te = package.get("TA"), _design(package, "TE", "ETCD")
    if ta is None or te is None or "ETCD" not in ta.frame.columns:
        return []
    f = ta.frame
    bad = _outside(f["ETCD"], _values(te, "ETCD"))
    return report_rows(
        "ta-etcd-not-in-te",
        ta,
        rows_where(f, bad),
        "ETCD",
        lambda r: (
            f"ETCD {fmt(r['ETCD'])} of arm {fmt(r.get('ARMCD'))} is not in TE; define the "
            "element in TE (study.yaml trial.elements)."
        ),
        value="ETCD",
    )


@rule(
    "te-etcd-not-in-ta",
    "warning",
    "cross",
    checks="Each element of TE is used by at least one arm in TA.",
    why="An element no arm passes through is either left over from an earlier design or "
    "missing from an arm.",
)
def te_etcd_not_in_ta(package: Package) -> list[Finding]:
    """TE elements no TA arm uses."""
    te, ta = package.get("TE"), _design(package, "TA", "ETCD")
    if te is None or ta is None or "ETCD" not in te.frame.columns:
        return []
    f = te.frame
    bad = _outside(f["ETCD"], _values(ta, "ETCD"))
    return report_rows(
        "te-etcd-not-in-ta",
        te,
        rows_where(f, bad),
        "ETCD",
        lambda r: (
            f"Element {fmt(r['ETCD'])} of TE is used by no arm in TA; add it to the arms "
            "that pass through it or remove it from TE."
        ),
        value="ETCD",
    )


@rule(
    "ta-element-not-te-element",
    "error",
    "cross",
    checks="ELEMENT in TA is the ELEMENT that TE gives for the same ETCD (trimmed, ignoring case).",
    why="ETCD and ELEMENT are a code/description pair defined once in TE; TA repeating it with "
    "another description gives the element two names.",
)
def ta_element_not_te_element(package: Package) -> list[Finding]:
    """TA ELEMENT that differs from TE's ELEMENT for the ETCD."""
    ta, te = package.get("TA"), _design(package, "TE", "ETCD", "ELEMENT")
    if ta is None or te is None or not {"ETCD", "ELEMENT"} <= set(ta.frame.columns):
        return []
    names = pd.Series(text(te["ELEMENT"]).to_numpy(), index=text(te["ETCD"]).to_numpy())
    names = names[names.index.notna() & ~names.index.duplicated()]
    f = ta.frame
    expected = text(f["ETCD"]).map(names)
    bad = expected.notna() & present(f["ELEMENT"]) & (text(f["ELEMENT"]) != expected)
    rows = rows_where(f, bad)
    te_name = dict(zip(text(te["ETCD"]), te["ELEMENT"], strict=True))
    rows = rows.assign(__TE__=[te_name.get(c) for c in text(rows["ETCD"])])
    return report_rows(
        "ta-element-not-te-element",
        ta,
        rows,
        "ELEMENT",
        lambda r: (
            f"ELEMENT {fmt(r['ELEMENT'])} of ETCD {fmt(r['ETCD'])} differs from TE's "
            f"{fmt(r['__TE__'])}; use TE's description."
        ),
        value="ELEMENT",
    )


@rule(
    "ta-taetord-not-consecutive",
    "warning",
    "cross",
    checks="Within each TA arm, TAETORD numbers the elements 1, 2, 3, ... without gaps.",
    why="TAETORD is the planned order of the elements in the arm; a gap or a start other than 1 "
    "suggests an element is missing from the arm.",
)
def ta_taetord_not_consecutive(package: Package) -> list[Finding]:
    """TA arms whose TAETORD is not 1..n."""
    ta = package.get("TA")
    if ta is None or not {"ARMCD", "TAETORD"} <= set(ta.frame.columns):
        return []
    f = ta.frame
    order = numbers(f["TAETORD"])
    keep = order.notna() & present(f["ARMCD"])
    arm = text(f["ARMCD"])
    rank = order[keep].groupby(arm[keep]).rank(method="first")
    bad = pd.Series(False, index=f.index)
    bad[rank.index] = order[rank.index].to_numpy() != rank.to_numpy()
    rows = rows_where(f, bad).assign(__RANK__=rank.reindex(f.index)[bad])
    return report_rows(
        "ta-taetord-not-consecutive",
        ta,
        rows,
        "TAETORD",
        lambda r: (
            f"TAETORD is {fmt(r['TAETORD'])} for element {fmt(r.get('ETCD'))} of arm "
            f"{fmt(r['ARMCD'])}, which is element {fmt(r['__RANK__'])} of the arm; number the "
            "elements of each arm 1, 2, 3, ..."
        ),
        value="TAETORD",
    )


@rule(
    "dm-arm-not-in-ta",
    "error",
    "cross",
    checks="Each DM ARMCD and ACTARMCD is an arm of TA (null and the pre-3.3 codes SCRNFAIL, "
    "NOTASSGN, NOTTRT and UNPLAN excepted).",
    why="A subject's planned and actual arms must be arms of the trial design; an arm TA does "
    "not describe has no elements, epochs or visits.",
    refs=["SD2002"],
)
def dm_arm_not_in_ta(package: Package) -> list[Finding]:
    """DM arm codes that are not TA arms."""
    dm, ta = dm_dataset(package), _design(package, "TA", "ARMCD")
    if dm is None or ta is None:
        return []
    arms = _values(ta, "ARMCD")
    out: list[Finding] = []
    for column in ("ARMCD", "ACTARMCD"):
        if column not in dm.frame.columns:
            continue
        code = text(dm.frame[column]).fillna("")
        bad = (code != "") & ~in_set(code, [*arms, *_NO_ARM])
        out += report_rows(
            "dm-arm-not-in-ta",
            dm,
            rows_where(dm.frame, bad),
            column,
            lambda r, c=column: (
                f"{c} {fmt(r[c])} is not an arm of TA (TA has "
                f"{', '.join(arms)}); use a TA arm or describe the arm in TA."
            ),
            value=column,
        )
    return out


@rule(
    "tv-arm-not-in-ta",
    "error",
    "cross",
    checks="Where TV has ARMCD or ARM populated (visits that depend on the arm), they are an "
    "ARMCD or ARM of TA.",
    why="TV gives an arm only when the visit schedule differs by arm, and then the arm must be "
    "one the trial design defines.",
    refs=["CORE-000155", "CG0293", "CORE-000156", "CG0294"],
)
def tv_arm_not_in_ta(package: Package) -> list[Finding]:
    """TV arms that are not TA arms."""
    tv, ta = package.get("TV"), package.get("TA")
    if tv is None or ta is None:
        return []
    out: list[Finding] = []
    for column in ("ARMCD", "ARM"):
        if column not in tv.frame.columns or column not in ta.frame.columns:
            continue
        f = tv.frame
        bad = present(f[column]) & ~in_set(
            stripped(f[column]).fillna(""), sorted(stripped(ta.frame[column]).dropna().unique())
        )
        out += report_rows(
            "tv-arm-not-in-ta",
            tv,
            rows_where(f, bad),
            column,
            lambda r, c=column: (
                f"{c} {fmt(r[c])} of VISITNUM {fmt(r.get('VISITNUM'))} is not "
                f"a {c} of TA; use TA's arm, or leave it null when visits do not depend on the arm."
            ),
            value=column,
        )
    return out


@rule(
    "etcd-too-long",
    "error",
    "cross",
    checks="ETCD in TA, TE and SE is at most 8 characters long.",
    why="SDTMIG limits ETCD, the companion of ELEMENT, to 8 characters.",
    refs=["CORE-000143", "CG0246"],
)
def etcd_too_long(package: Package) -> list[Finding]:
    """ETCD longer than 8 characters."""
    out: list[Finding] = []
    for name in ("TA", "TE", "SE"):
        ds = package.get(name)
        if ds is None or "ETCD" not in ds.frame.columns:
            continue
        f = ds.frame
        bad = stripped(f["ETCD"]).str.len().fillna(0) > 8
        out += report_rows(
            "etcd-too-long",
            ds,
            rows_where(f, bad),
            "ETCD",
            lambda r: (
                f"ETCD {fmt(r['ETCD'])} is {len(str(r['ETCD']).strip())} characters long; "
                "ETCD is limited to 8."
            ),
            value="ETCD",
        )
    return out


@rule(
    "tv-visitdy-not-ascending",
    "warning",
    "cross",
    checks="Within TV (per arm when TV has ARMCD), the planned study day VISITDY does not "
    "decrease as VISITNUM increases.",
    why="VISITNUM orders the visits in time; a later visit planned on an earlier day means "
    "VISITNUM or VISITDY is wrong.",
)
def tv_visitdy_not_ascending(package: Package) -> list[Finding]:
    """TV visits planned before the visit numbered before them."""
    tv = package.get("TV")
    if tv is None or not {"VISITNUM", "VISITDY"} <= set(tv.frame.columns):
        return []
    f = tv.frame
    work = pd.DataFrame(
        {
            "arm": text(f["ARMCD"]).fillna("") if "ARMCD" in f.columns else "",
            "num": visit_numbers(f["VISITNUM"]),
            "dy": numbers(f["VISITDY"]),
        },
        index=f.index,
    ).dropna()
    work = work.sort_values(["arm", "num"], kind="stable")
    before = work.groupby("arm")["dy"].cummax().groupby(work["arm"]).shift()
    bad_ix = work.index[(work["dy"] < before).to_numpy()]
    bad = pd.Series(f.index.isin(bad_ix), index=f.index)
    rows = rows_where(f, bad).assign(__PREV__=before.reindex(f.index)[bad])
    return report_rows(
        "tv-visitdy-not-ascending",
        tv,
        rows,
        "VISITDY",
        lambda r: (
            f"VISITNUM {fmt(r['VISITNUM'])} is planned on day {fmt(r['VISITDY'])}, "
            f"before day {fmt(r['__PREV__'])} of a visit numbered before it; VISITNUM must follow "
            "the planned order."
        ),
        value="VISITDY",
    )


@rule(
    "ie-ietestcd-not-in-ti",
    "error",
    "cross",
    checks="Each IETESTCD in IE is a criterion defined in TI.",
    why="TI holds the text of every inclusion/exclusion criterion; an exception in IE for a "
    "criterion TI does not define cannot be read.",
)
def ie_ietestcd_not_in_ti(package: Package) -> list[Finding]:
    """IE criteria missing from TI."""
    ie, ti = package.get("IE"), _design(package, "TI", "IETESTCD")
    if ie is None or ti is None or "IETESTCD" not in ie.frame.columns:
        return []
    f = ie.frame
    bad = _outside(f["IETESTCD"], _values(ti, "IETESTCD"))
    return report_rows(
        "ie-ietestcd-not-in-ti",
        ie,
        rows_where(f, bad),
        "IETESTCD",
        lambda r: (
            f"IETESTCD {fmt(r['IETESTCD'])} is not a criterion of TI; define it in TI "
            "(study.yaml trial.criteria)."
        ),
        value="IETESTCD",
    )


# --- visits and epochs of the subject-level datasets ----------------------------------------


def _tv_visitnums(package: Package) -> np.ndarray | None:
    tv = _design(package, "TV", "VISITNUM")
    if tv is None:
        return None
    return np.unique(visit_numbers(tv["VISITNUM"]).dropna().to_numpy())


def _sv_visits(package: Package) -> tuple[pd.Index, pd.Index, pd.Index, np.ndarray] | None:
    """SV's subjects, visit numbers, the (subject, visit) keys of its records (see
    :func:`_visit_keys`) and each key's SVPRESP ('' when null); None without SV."""
    sv = _design(package, "SV", "USUBJID", "VISITNUM")
    if sv is None:
        return None

    def compute() -> tuple[pd.Index, pd.Index, pd.Index, np.ndarray]:
        subject = stripped(sv["USUBJID"])
        number = visit_numbers(sv["VISITNUM"])
        subjects = pd.Index(subject.dropna().unique())
        visitnums = pd.Index(np.unique(number.dropna().to_numpy()))
        keys = _keys(subjects, visitnums, subject, number)
        says = (
            text(sv["SVPRESP"]).fillna("").to_numpy(dtype=object)
            if "SVPRESP" in sv.columns
            else np.full(len(sv), "", dtype=object)
        )
        first = ~pd.Series(keys).duplicated().to_numpy() & (keys >= 0)
        return subjects, visitnums, pd.Index(keys[first]), says[first]

    return cached(package, ("trial-design", "sv-visits"), compute)  # type: ignore[return-value]


def _keys(
    subjects: pd.Index, visitnums: pd.Index, subject: pd.Series, number: pd.Series
) -> np.ndarray:
    """One integer per record for its (USUBJID, VISITNUM) among SV's; -1 when SV has neither
    the subject nor the visit number."""
    codes, distinct = distinct_codes(subject)
    who = spread(codes, subjects.get_indexer(distinct.str.strip().to_numpy(dtype=object)), -1)
    which = visitnums.get_indexer(number.to_numpy(dtype="float64"))
    return np.where((who >= 0) & (which >= 0), who * (len(visitnums) + 1) + which, -1)


def _visit_keys(package: Package, ds: Dataset) -> np.ndarray | None:
    """The SV keys (:func:`_keys`) of the records of ``ds``; None without SV or USUBJID."""
    visits = _sv_visits(package)
    if visits is None or "USUBJID" not in ds.frame.columns:
        return None
    subjects, visitnums, _, _ = visits
    number = visit_numbers(ds.frame["VISITNUM"])
    return _keys(subjects, visitnums, ds.frame["USUBJID"], number)


def _planned(package: Package, ds: Dataset, number: pd.Series) -> np.ndarray:
    """Which records of ``ds`` are at planned visits.

    When SV marks planned visits (SVPRESP = 'Y' on some record), a visit is planned when the
    subject's SV record for it has SVPRESP = 'Y' (in SV: the record's own SVPRESP). Where SV does
    not say (no SV, no SVPRESP, or no SV record for the visit) a whole VISITNUM is taken as
    planned, since unplanned visits are numbered with decimals (4.01).
    """
    whole = (number.notna() & (number == np.floor(number))).to_numpy()
    sv = package.get("SV")
    visits = _sv_visits(package)
    if sv is None or visits is None or "SVPRESP" not in sv.frame.columns:
        return whole
    _, _, keys, says = visits
    if not (says == "Y").any():
        return whole
    if ds.name == "SV":
        return (text(sv.frame["SVPRESP"]) == "Y").fillna(False).to_numpy(dtype=bool)
    mine = _visit_keys(package, ds)
    if mine is None:
        return whole
    at = keys.get_indexer(mine)
    told = np.where(at >= 0, says[np.maximum(at, 0)] == "Y", whole)
    return told.astype(bool)


@rule(
    "planned-visitnum-not-in-tv",
    "error",
    "cross",
    checks="VISITNUM of a planned visit is a VISITNUM of TV. A visit is planned when SV says so "
    "(SVPRESP = 'Y' for the subject's visit) or, where SV does not say, when VISITNUM is a "
    "whole number (unplanned visits carry decimals such as 4.01).",
    why="TV lists the planned visits; a planned visit TV does not list has no planned day or "
    "window, so by-visit analyses cannot place it.",
    refs=["CORE-000270", "CG0033"],
)
def planned_visitnum_not_in_tv(package: Package) -> list[Finding]:
    """Planned visits whose VISITNUM is not in TV."""
    planned_nums = _tv_visitnums(package)
    if planned_nums is None:
        return []
    out: list[Finding] = []
    for ds in _subject_datasets(package, "VISITNUM"):
        f = ds.frame
        number = visit_numbers(f["VISITNUM"])
        bad = _planned(package, ds, number) & number.notna().to_numpy()
        bad &= ~np.isin(number.to_numpy(), planned_nums)
        out += report_rows(
            "planned-visitnum-not-in-tv",
            ds,
            rows_where(f, pd.Series(bad, index=f.index)),
            "VISITNUM",
            lambda r: (
                f"VISITNUM {fmt(r['VISITNUM'])} is a planned visit but not a VISITNUM "
                "of TV; add the visit to TV (study.yaml visits) or number it as unplanned."
            ),
            value="VISITNUM",
        )
    return out


@rule(
    "planned-visit-not-in-tv",
    "error",
    "cross",
    checks="VISIT of a planned visit (as in planned-visitnum-not-in-tv) is a VISIT of TV.",
    why="For planned visits VISIT must be TV's name of the visit; another spelling splits the "
    "visit in by-visit tables.",
    refs=["CORE-000269", "CG0031"],
)
def planned_visit_not_in_tv(package: Package) -> list[Finding]:
    """Planned visits whose VISIT is not in TV."""
    tv = _design(package, "TV", "VISIT")
    if tv is None:
        return []
    names = sorted(stripped(tv["VISIT"]).dropna().unique())
    out: list[Finding] = []
    for ds in _subject_datasets(package, "VISITNUM", "VISIT"):
        f = ds.frame
        number = visit_numbers(f["VISITNUM"])
        bad = _planned(package, ds, number) & _outside(f["VISIT"], names, upper=False).to_numpy()
        out += report_rows(
            "planned-visit-not-in-tv",
            ds,
            rows_where(f, pd.Series(bad, index=f.index)),
            "VISIT",
            lambda r: (
                f"VISIT {fmt(r['VISIT'])} (VISITNUM {fmt(r['VISITNUM'])}) is a planned "
                "visit but not a VISIT of TV; use TV's visit name."
            ),
            value="VISIT",
        )
    return out


@rule(
    "visitdy-not-tv-visitdy",
    "error",
    "cross",
    checks="Where VISITNUM is a visit of TV and VISITDY is populated, VISITDY equals TV's "
    "VISITDY for that VISITNUM (visits whose planned day differs between arms are skipped).",
    why="VISITDY is the planned study day of the visit, defined once in TV; another value "
    "means the visit or its planned day was mapped wrongly.",
    refs=["CORE-000249", "CG0032"],
)
def visitdy_not_tv_visitdy(package: Package) -> list[Finding]:
    """VISITDY that differs from TV's planned day."""
    tv = _design(package, "TV", "VISITNUM", "VISITDY")
    if tv is None:
        return []
    plan = (
        pd.DataFrame(
            {
                "num": visit_numbers(tv["VISITNUM"]),
                "dy": numbers(tv["VISITDY"]),
            }
        )
        .dropna(subset=["num"])
        .drop_duplicates()
    )
    plan = plan[~plan["num"].duplicated(keep=False)].set_index("num")["dy"]
    out: list[Finding] = []
    for ds in _subject_datasets(package, "VISITNUM", "VISITDY"):
        f = ds.frame
        number = visit_numbers(f["VISITNUM"])
        day = numbers(f["VISITDY"])
        expected = pd.Series(plan.reindex(number.to_numpy()).to_numpy(), index=f.index)
        bad = expected.notna() & day.notna() & (day != expected)
        rows = rows_where(f, bad).assign(__TV__=expected[bad])
        out += report_rows(
            "visitdy-not-tv-visitdy",
            ds,
            rows,
            "VISITDY",
            lambda r: (
                f"VISITDY is {fmt(r['VISITDY'])} for VISITNUM {fmt(r['VISITNUM'])} but "
                f"TV plans the visit on day {fmt(r['__TV__'])}; use TV's VISITDY."
            ),
            value="VISITDY",
        )
    return out


@rule(
    "unplanned-visitdy-populated",
    "error",
    "cross",
    checks="VISITDY is null where VISITNUM is not a visit of TV (an unplanned visit).",
    why="VISITDY is the planned study day of a visit; an unplanned visit has none, and its "
    "actual day belongs in --DY.",
    refs=["CORE-000140", "CG0225"],
)
def unplanned_visitdy_populated(package: Package) -> list[Finding]:
    """VISITDY on unplanned visits."""
    planned_nums = _tv_visitnums(package)
    if planned_nums is None:
        return []
    out: list[Finding] = []
    for ds in _subject_datasets(package, "VISITNUM", "VISITDY"):
        f = ds.frame
        number = visit_numbers(f["VISITNUM"])
        bad = number.notna() & ~np.isin(number.to_numpy(), planned_nums)
        bad &= numbers(f["VISITDY"]).notna()
        out += report_rows(
            "unplanned-visitdy-populated",
            ds,
            rows_where(f, bad),
            "VISITDY",
            lambda r: (
                f"VISITDY is {fmt(r['VISITDY'])} for VISITNUM {fmt(r['VISITNUM'])}, "
                "which is not a visit of TV; VISITDY must be null for unplanned visits."
            ),
            value="VISITDY",
        )
    return out


@rule(
    "visitnum-not-in-sv",
    "error",
    "cross",
    checks="Each (USUBJID, VISITNUM) of a subject-level dataset other than SV is a visit of "
    "that subject in SV.",
    why="SV consolidates the timing of every visit; a visit with data but no SV record has no "
    "visit dates and is missed by every visit-based review.",
    refs=["CORE-000168", "CG0034"],
)
def visitnum_not_in_sv(package: Package) -> list[Finding]:
    """Subject visits with data but no SV record."""
    visits = _sv_visits(package)
    if visits is None:
        return []
    keys = visits[2]
    out: list[Finding] = []
    for ds in _subject_datasets(package, "USUBJID", "VISITNUM"):
        if ds.name == "SV":
            continue
        f = ds.frame
        number = visit_numbers(f["VISITNUM"])
        mine = _visit_keys(package, ds)
        bad = number.notna().to_numpy() & (keys.get_indexer(mine) < 0)
        out += report_rows(
            "visitnum-not-in-sv",
            ds,
            rows_where(f, pd.Series(bad, index=f.index)),
            "VISITNUM",
            lambda r: (
                f"VISITNUM {fmt(r['VISITNUM'])} of subject {fmt(r['USUBJID'])} has no "
                "record in SV; add the visit to SV."
            ),
            value="VISITNUM",
        )
    return out


@rule(
    "epoch-not-in-ta",
    "error",
    "cross",
    checks="EPOCH, where populated, is one of the epochs of TA.",
    why="The values of EPOCH are drawn from TA; an epoch the design does not have cannot be "
    "placed in the trial.",
    refs=["CORE-000271", "CG0009"],
)
def epoch_not_in_ta(package: Package) -> list[Finding]:
    """EPOCH values that are not epochs of TA."""
    ta = _design(package, "TA", "EPOCH")
    if ta is None:
        return []
    epochs = _values(ta, "EPOCH")
    out: list[Finding] = []
    for ds in _subject_datasets(package, "EPOCH"):
        f = ds.frame
        bad = _outside(f["EPOCH"], epochs)
        out += report_rows(
            "epoch-not-in-ta",
            ds,
            rows_where(f, bad),
            "EPOCH",
            lambda r: (
                f"EPOCH {fmt(r['EPOCH'])} is not an epoch of TA ({', '.join(epochs)}); "
                "use the TA epoch the record falls in."
            ),
            value="EPOCH",
        )
    return out


@rule(
    "epoch-missing",
    "warning",
    "cross",
    checks="In subject-level datasets that have EPOCH, EPOCH is populated on every record with "
    "a populated --DTC or --STDTC. (CORE also reports datasets without the EPOCH variable; "
    "that is the expected-variable rules' concern here.)",
    why="Reviewers split observations by epoch (screening, treatment, follow-up); a dated "
    "record without EPOCH falls out of every by-epoch summary.",
    refs=["CORE-000701"],
)
def epoch_missing(package: Package) -> list[Finding]:
    """Dated records without EPOCH."""
    out: list[Finding] = []
    for ds in _subject_datasets(package, "EPOCH"):
        f = ds.frame
        prefix = domain_prefix(ds)
        dtc = next((c for c in (f"{prefix}DTC", f"{prefix}STDTC") if c in f.columns), None)
        if dtc is None:
            continue
        bad = present(f[dtc]) & ~present(f["EPOCH"])
        out += report_rows(
            "epoch-missing",
            ds,
            rows_where(f, bad),
            "EPOCH",
            lambda r, d=dtc: (
                f"EPOCH is null although {d} is {fmt(r[d])}; give the TA epoch the record falls in."
            ),
            value=dtc,
        )
    return out


# --- subject elements (SE) ------------------------------------------------------------------


def _se_ordered(package: Package) -> tuple[pd.DataFrame, np.ndarray] | None:
    """SE records ordered by subject and start (the frame) and, per record, whether the next
    record in that order is the same subject's."""
    se = _design(package, "SE", "USUBJID", "SESTDTC")
    if se is None:
        return None
    keep = (present(se["USUBJID"]) & present(se["SESTDTC"])).to_numpy()
    columns = (RECORD, FILE, "USUBJID", "ETCD", "TAETORD", "SESTDTC", "SEENDTC")
    work = se.loc[keep, [c for c in columns if c in se.columns]]
    work = work.assign(__SUBJ__=stripped(work["USUBJID"]), __START__=stripped(work["SESTDTC"]))
    work = work.sort_values(["__SUBJ__", "__START__"], kind="stable")
    subject = work["__SUBJ__"].to_numpy(dtype=object)
    same_next = np.r_[subject[1:] == subject[:-1], False] if len(work) else np.array([], bool)
    return work, same_next


@rule(
    "se-element-not-in-arm",
    "error",
    "cross",
    checks="Each ETCD of a subject in SE is an element of the subject's actual arm in TA "
    "(DM.ACTARMCD, else ARMCD); ETCD 'UNPLAN' and subjects whose arm is not in TA are skipped.",
    why="SE records the elements a subject passed through, which are those of the arm they "
    "followed; another element means SE or the arm is wrong (or the element was unplanned: "
    "ETCD 'UNPLAN' with SEUPDES).",
)
def se_element_not_in_arm(package: Package) -> list[Finding]:
    """SE elements that are not in the subject's arm."""
    se, ta, dm = package.get("SE"), _design(package, "TA", "ARMCD", "ETCD"), dm_dataset(package)
    if se is None or ta is None or dm is None or not {"USUBJID", "ETCD"} <= set(se.frame.columns):
        return []
    column = next((c for c in ("ACTARMCD", "ARMCD") if c in dm.frame.columns), None)
    if column is None:
        return []
    arms = by_subject(dm, [column])[column]
    arm_of = pd.Series(text(arms).to_numpy(), index=arms.index)
    f = se.frame
    arm = pd.Series(arm_of.reindex(stripped(f["USUBJID"]).to_numpy()).to_numpy(), index=f.index)
    design = pd.MultiIndex.from_arrays([text(ta["ARMCD"]), text(ta["ETCD"])]).unique()
    element = text(f["ETCD"])
    pair = pd.MultiIndex.from_arrays([arm.to_numpy(dtype=object), element.to_numpy()])
    known_arm = in_set(arm.fillna(""), _values(ta, "ARMCD"))
    bad = known_arm & element.notna() & (element != "UNPLAN") & ~pair.isin(design)
    rows = rows_where(f, bad).assign(__ARM__=arm[bad])
    return report_rows(
        "se-element-not-in-arm",
        se,
        rows,
        "ETCD",
        lambda r: (
            f"ETCD {fmt(r['ETCD'])} is not an element of the subject's arm "
            f"{fmt(r['__ARM__'])} in TA; use the arm's elements, or ETCD 'UNPLAN' with SEUPDES "
            "for an unplanned element."
        ),
        value="ETCD",
    )


@rule(
    "se-not-contiguous",
    "warning",
    "cross",
    checks="A subject's elements in SE follow one another without gap or overlap: SEENDTC of "
    "each element equals SESTDTC of the subject's next element (ordered by SESTDTC; compared "
    "on the precision both share).",
    why="SDTMIG defines an element's end as the next element's start, so that every moment of "
    "the subject's participation lies in exactly one element and epoch.",
)
def se_not_contiguous(package: Package) -> list[Finding]:
    """SE elements that do not end where the next one starts."""
    ordered = _se_ordered(package)
    se = package.get("SE")
    if ordered is None or se is None or "SEENDTC" not in se.frame.columns:
        return []
    work, same_next = ordered
    # ISO parts of each element's end and of the next element's start (kept per column)
    at = se.frame.index.get_indexer(work.index)
    end = iso_rows(se.frame["SEENDTC"])[at]
    start = iso_rows(se.frame["SESTDTC"])[at]
    following = np.vstack([start[1:], np.full((1, start.shape[1]), np.nan)])
    gap = same_next & (_compare(end, following) != 0)
    rows = work[gap].assign(__NEXT__=np.r_[work["SESTDTC"].to_numpy(dtype=object)[1:], None][gap])
    return report_rows(
        "se-not-contiguous",
        se,
        rows,
        "SEENDTC",
        lambda r: (
            f"Element {fmt(r.get('ETCD'))} ends {fmt(r['SEENDTC'])} but the subject's "
            f"next element starts {fmt(r['__NEXT__'])}; an element ends when the next begins."
        ),
        value="SEENDTC",
    )


def _compare(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`compare_iso` on ISO parts rows: -1, 0 or 1 on the precision both share; 0 where
    either is not a date."""
    result = np.zeros(len(a))
    undecided = ~np.isnan(a[:, 0]) & ~np.isnan(b[:, 0])
    for k in range(a.shape[1]):
        both = undecided & ~np.isnan(a[:, k]) & ~np.isnan(b[:, k])
        later, earlier = both & (a[:, k] > b[:, k]), both & (a[:, k] < b[:, k])
        result[later], result[earlier] = 1.0, -1.0
        undecided = both & ~later & ~earlier
    return result


@rule(
    "se-taetord-out-of-order",
    "warning",
    "cross",
    checks="A subject's elements in SE, ordered by SESTDTC, have TAETORD that does not decrease.",
    why="TAETORD is the planned order of the elements in the arm; a subject who passes through "
    "them in another order has elements or dates in the wrong place.",
)
def se_taetord_out_of_order(package: Package) -> list[Finding]:
    """SE elements whose TAETORD is below that of the subject's previous element."""
    ordered = _se_ordered(package)
    if ordered is None or "TAETORD" not in package.get("SE").frame.columns:
        return []
    se = package.get("SE")
    work, same_next = ordered
    order = numbers(work["TAETORD"]).to_numpy()
    same_prev = np.r_[False, same_next[:-1]] if len(work) else same_next
    previous = np.r_[np.nan, order[:-1]] if len(work) else order
    bad = same_prev & (order < previous)
    rows = work[bad].assign(__PREV__=previous[bad])
    return report_rows(
        "se-taetord-out-of-order",
        se,
        rows,
        "TAETORD",
        lambda r: (
            f"TAETORD is {fmt(r['TAETORD'])} for element {fmt(r.get('ETCD'))} starting "
            f"{fmt(r['SESTDTC'])}, after an element with TAETORD {fmt(r['__PREV__'])}; the "
            "subject's elements must follow the arm's order."
        ),
        value="TAETORD",
    )
