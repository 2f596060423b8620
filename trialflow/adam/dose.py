"""ADDOSE: the daily dose of concomitant agents (SDTM CM) by analysis visit, a BDS dataset.

The rules come from ``adam.dose`` of study.yaml (:class:`~trialflow.mapping.spec.DoseSpec`):

* The CM records that count are those matching ``where`` (e.g. CMCAT = HYPOGLYCAEMIC AGENT).
  One CM record is one regimen as the site recorded it; a changed dose ends one record and
  starts another.
* A record is *active* on day D when its start (CMSTDTC) is on or before D and it has no end
  (CMENDTC: ongoing) or ends on or after D. A partial date is completed as ``partial_dates``
  says (start: the first day of its month or year, end: the last), the record's values then
  carry IMPUTFL = "Y" and each completion is reported (``adam-dose-date-imputed``).
* The analysis visits are ``visits``, the first being the baseline (ABLFL = "Y"); the date of
  each is the subject's SV SVSTDTC of that visit. AVISIT is the visit's name.
* Each parameter sums, over the records of its ``agents`` (``all`` or a class of
  ``classes``) active on the visit date: CMDOSTOT / DDD (``ddd``, defined daily doses per day,
  DDD from ``ddd`` by CMDECOD), CMDOSTOT (``dose``, in ``unit``), that sum divided by the
  subject's weight of the visit or the last before it (``dose_per_kg``, ADVS ``weight``), or
  100 x another parameter / its baseline (``percent_of_baseline``). No active record gives 0.
  A parameter of a class has records for the subjects with at least one record of that class.
  AVAL is rounded as SAS's ROUND does to the parameter's ``digits``.
* BASE, CHG and PCHG as the other BDS datasets have them (:mod:`trialflow.adam.derive`), PCHG
  rounded to ``pchg_digits`` and empty when BASE is 0.
* AVALCAT1/AVALCA1N (``categories``) on post-baseline records with a baseline above 0: AVAL 0
  is the ``discontinued`` category, else the first ``by_pchg`` category whose ``pchg_max`` is at
  least PCHG, else the last one.
* CRITy/CRITyFL (``criteria``, in order): CRITyFL = "Y" when PCHG <= ``pchg_max`` (post-baseline
  records with a PCHG) or AVAL <= ``aval_max`` (records with an AVAL), else "N"; CRITy holds the
  criterion's text on the records it was evaluated on.

A CM value that cannot be used is reported, never dropped silently: a start date that is
not a date (``adam-dose-date-invalid``, the record is left out), a CMDECOD without a DDD
(``adam-dose-ddd-missing``) or a CMDOSU other than the parameter's unit
(``adam-dose-unit-mismatch``) or no CMDOSTOT (``adam-dose-total-missing``): the values those
records enter are then empty. A visit without an SV date (``adam-dose-visit-date-missing``)
and a per-kg value without a weight (``adam-dose-weight-missing``) are reported too.

Example:
    >>> from trialflow.mapping.spec import DoseSpec
    >>> spec = DoseSpec(where={"CMCAT": "HYPOGLYCAEMIC AGENT"}, visits=["DAY 0", "DAY 28"],
    ...     ddd={"METFORMIN": {"ddd": 2000, "unit": "mg"}},
    ...     parameters=[{"paramcd": "TOTDDD", "paramn": 1, "param": "Total (DDD/day)",
    ...                  "agents": "all", "measure": "ddd", "digits": 4}])
    >>> cm = pd.DataFrame({"USUBJID": ["S1", "S1"], "CMSEQ": [1, 2],
    ...     "CMCAT": ["HYPOGLYCAEMIC AGENT"] * 2, "CMDECOD": ["METFORMIN"] * 2,
    ...     "CMDOSTOT": [1500.0, 1000.0], "CMDOSU": ["mg", "mg"],
    ...     "CMSTDTC": ["2018-06", "2019-01-29"], "CMENDTC": ["2019-01-28", ""]})
    >>> sv = pd.DataFrame({"USUBJID": ["S1", "S1"], "VISITNUM": [1.0, 4.0],
    ...     "VISIT": ["DAY 0", "DAY 28"], "SVSTDTC": ["2019-01-01", "2019-01-29"]})
    >>> adsl = pd.DataFrame({"USUBJID": ["S1"], "TRTSDT": pd.to_datetime(["2019-01-08"])})
    >>> out = derive_addose(cm, sv, adsl, spec, {"DAY 0": 1.0, "DAY 28": 4.0})
    >>> out.dataset[["AVISIT", "AVAL", "BASE", "PCHG", "IMPUTFL"]].values.tolist()
    [['DAY 0', 0.75, 0.75, nan, 'Y'], ['DAY 28', 0.5, 0.75, -33.33, nan]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trialflow.adam.common import matches, numbers, text
from trialflow.adam.dates import derive_vars_dt
from trialflow.adam.derive import derive_var_base, derive_var_chg, derive_var_pchg
from trialflow.errors import DerivationError, Finding
from trialflow.mapping.spec import DoseParameterSpec, DoseSpec
from trialflow.numbers import sas_round

CM_NEEDED = ("USUBJID", "CMSEQ", "CMDECOD", "CMDOSTOT", "CMDOSU", "CMSTDTC", "CMENDTC")
"""The CM variables ADDOSE needs."""

_KEY = ["USUBJID", "PARAMCD", "AVISITN"]


@dataclass
class DoseResult:
    """ADDOSE, the source records of each of its records and the findings.

    ``sources``: one row per (ADDOSE record, source record): ``record`` (1-based ADDOSE
    record), ``domain`` (``CM`` or ``ADVS``) and ``source_record`` (1-based record in it).
    """

    dataset: pd.DataFrame
    sources: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)


def _finding(
    code: str, severity: str, message: str, row: Mapping, variable: str | None, value: object
) -> Finding:
    return Finding(
        code,
        severity,  # type: ignore[arg-type]
        message,
        dataset="CM",
        variable=variable,
        record=int(row["_REC"]),
        usubjid=str(row["USUBJID"]),
        value=None if value is None or pd.isna(value) else str(value),
    )


def _label(row: Mapping) -> str:
    """``CM record 3 (CMSEQ 2, METFORMIN)``: the record a finding is about."""
    return f"CM record {int(row['_REC'])} (CMSEQ {_seq(row.get('CMSEQ'))}, {row['CMDECOD']})"


def _seq(value: object) -> str:
    """One --SEQ as text: a whole number without ".0" (CMSEQ 3, not 3.0)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else str(value)


def _seq_texts(values: pd.Series) -> np.ndarray:
    """--SEQ values as text, whole numbers without ".0", column-wise."""
    number = pd.to_numeric(values, errors="coerce")
    whole = (number.notna() & (number % 1 == 0)).to_numpy(dtype=bool)
    out = values.astype("str").to_numpy(dtype=object)
    out[whole] = number[whole].astype("int64").astype("str").to_numpy(dtype=object)
    return out


def _regimens(cm: pd.DataFrame, spec: DoseSpec) -> tuple[pd.DataFrame, list[Finding]]:
    """The selected CM records with ASTDT/AENDT (completed as declared) and their findings."""
    missing = [c for c in CM_NEEDED if c not in cm.columns]
    if missing:
        raise DerivationError(
            f"ADDOSE needs CM variable(s) {', '.join(missing)}, which CM does not have"
        )
    frame = cm.reset_index(drop=True)
    chosen = matches(frame, spec.where).to_numpy()
    regimens = frame.loc[chosen].assign(
        _REC=np.flatnonzero(chosen) + 1,
        USUBJID=text(frame.loc[chosen, "USUBJID"]),
        CMDECOD=text(frame.loc[chosen, "CMDECOD"]).fillna(""),
        CMDOSU=text(frame.loc[chosen, "CMDOSU"]),
        CMDOSTOT=numbers(frame.loc[chosen, "CMDOSTOT"]),
        CMSTDTC=text(frame.loc[chosen, "CMSTDTC"]),
        CMENDTC=text(frame.loc[chosen, "CMENDTC"]),
    )
    regimens = derive_vars_dt(regimens, new_vars_prefix="AST", dtc="CMSTDTC",
                              highest_imputation="M", date_imputation="first",
                              flag_imputation="date")  # fmt: skip
    regimens = derive_vars_dt(regimens, new_vars_prefix="AEN", dtc="CMENDTC",
                              highest_imputation="M", date_imputation="last",
                              flag_imputation="date")  # fmt: skip
    findings: list[Finding] = []
    bad_start = regimens["ASTDT"].isna()
    bad_end = regimens["CMENDTC"].notna() & regimens["AENDT"].isna()
    for row in regimens[(bad_start | bad_end).to_numpy()].to_dict("records"):  # reported rows only
        variable = "CMSTDTC" if pd.isna(row["ASTDT"]) else "CMENDTC"
        findings.append(_finding(
            "adam-dose-date-invalid", "warning",
            f"{_label(row)}: {variable} {row[variable]!r} is not a date with a year, so the "
            "days the regimen was taken are unknown; it is left out of ADDOSE",
            row, variable, row[variable],
        ))  # fmt: skip
    imputed = (regimens["ASTDTF"].notna() | regimens["AENDTF"].notna()) & ~(bad_start | bad_end)
    for row in regimens[imputed.to_numpy()].to_dict("records"):
        for variable, date, rule in (("CMSTDTC", "ASTDT", "start: first"),
                                     ("CMENDTC", "AENDT", "end: last")):  # fmt: skip
            if pd.notna(row[date.replace("DT", "DTF")]):
                findings.append(_finding(
                    "adam-dose-date-imputed", "notice",
                    f"{_label(row)}: partial {variable} {row[variable]} is taken as "
                    f"{row[date]:%Y-%m-%d} (study.yaml adam.dose.partial_dates {rule}); the "
                    "ADDOSE values it enters have IMPUTFL = Y",
                    row, variable, row[variable],
                ))  # fmt: skip
    return regimens[~(bad_start | bad_end).to_numpy()].reset_index(drop=True), findings


def _record_values(
    regimens: pd.DataFrame, spec: DoseSpec
) -> tuple[dict[str, pd.Series], list[Finding]]:
    """Per parameter (not percent_of_baseline): each regimen's daily value (NaN: unusable)."""
    findings: list[Finding] = []
    ddd = pd.Series({k: v.ddd for k, v in spec.ddd.items()}, dtype="float64")
    ddd_unit = pd.Series({k: v.unit for k, v in spec.ddd.items()}, dtype="str")
    reported: set[tuple[str, int]] = set()

    def report(code: str, mask: pd.Series, message, variable: str) -> None:
        for row in regimens[mask.to_numpy()].to_dict("records"):
            if (code, int(row["_REC"])) in reported:
                continue
            reported.add((code, int(row["_REC"])))
            findings.append(_finding(code, "error" if code != "adam-dose-total-missing"
                                     else "warning", message(row), row, variable,
                                     row[variable]))  # fmt: skip

    values: dict[str, pd.Series] = {}
    for p in spec.parameters:
        if p.measure == "percent_of_baseline":
            continue
        mine = _agents(regimens, spec, p)
        total = regimens["CMDOSTOT"]
        report(
            "adam-dose-total-missing",
            mine & total.isna(),
            lambda r: (
                f"{_label(r)}: no CMDOSTOT (CMDOSFRQ {r.get('CMDOSFRQ', '')!s}): its daily dose is "
                "unknown, so the daily totals on the dates it was taken are empty"
            ),
            "CMDOSTOT",
        )
        if p.measure == "ddd":
            per = regimens["CMDECOD"].map(ddd)
            unit = regimens["CMDECOD"].map(ddd_unit)
            report("adam-dose-ddd-missing", mine & per.isna(), lambda r: (
                f"{_label(r)}: CMDECOD {r['CMDECOD']!r} has no defined daily dose: add it to "
                f"study.yaml adam.dose.ddd ({r['CMDECOD']}: {{ddd: ..., unit: ...}})"),
                "CMDECOD")  # fmt: skip
            wrong = mine & per.notna() & total.notna() & unit.ne(regimens["CMDOSU"]).fillna(True)
            report("adam-dose-unit-mismatch", wrong, lambda r: (
                f"{_label(r)}: CMDOSU {r['CMDOSU']!s} is not the unit of the defined daily "
                f"dose of {r['CMDECOD']} ({ddd_unit.get(r['CMDECOD'])}, study.yaml "
                "adam.dose.ddd); its DDDs are not counted"), "CMDOSU")  # fmt: skip
            value = (total / per).where(~wrong)
        else:
            wrong = mine & total.notna() & regimens["CMDOSU"].ne(p.unit).fillna(True)
            report("adam-dose-unit-mismatch", wrong, lambda r, u=p.unit, code=p.paramcd: (
                f"{_label(r)}: CMDOSU {r['CMDOSU']!s} is not {u}, the unit of "
                f"{code} (study.yaml adam.dose.parameters); its dose is not added up"),
                "CMDOSU")  # fmt: skip
            value = total.where(~wrong)
        values[p.paramcd] = value.where(mine)
    return values, findings


def _agents(regimens: pd.DataFrame, spec: DoseSpec, p: DoseParameterSpec) -> pd.Series:
    if p.agents == "all":
        return pd.Series(True, index=regimens.index)
    return matches(regimens, spec.classes[p.agents])


def _visit_dates(
    sv: pd.DataFrame | None,
    subjects: pd.Index,
    spec: DoseSpec,
    visitnums: Mapping[str, float],
) -> tuple[pd.DataFrame, list[Finding]]:
    """One row per subject and analysed visit with its SV date (USUBJID, AVISIT, AVISITN, ADT)."""
    unknown = [v for v in spec.visits if v not in visitnums]
    if unknown:
        raise DerivationError(
            f"study.yaml adam.dose.visits: {', '.join(unknown)} is not a planned visit of "
            f"visits ({', '.join(visitnums)})"
        )
    grid = pd.DataFrame(
        {
            "USUBJID": np.repeat(subjects.to_numpy(dtype=object), len(spec.visits)),
            "AVISIT": np.tile(np.array(spec.visits, dtype=object), len(subjects)),
        }
    )
    grid["AVISITN"] = grid["AVISIT"].map(visitnums).astype("float64")
    dates = pd.DataFrame(columns=["USUBJID", "AVISITN", "ADT"])
    if sv is not None and {"USUBJID", "VISITNUM", "SVSTDTC"} <= set(sv.columns):
        dated = derive_vars_dt(sv.assign(USUBJID=text(sv["USUBJID"])), new_vars_prefix="A",
                               dtc="SVSTDTC")  # fmt: skip
        dated = dated.assign(AVISITN=pd.to_numeric(dated["VISITNUM"], errors="coerce"))
        dates = (
            dated[dated["ADT"].notna()].groupby(["USUBJID", "AVISITN"], as_index=False)["ADT"].min()
        )
    grid = grid.merge(dates, on=["USUBJID", "AVISITN"], how="left")
    findings = [
        Finding(
            "adam-dose-visit-date-missing",
            "notice",
            f"{row.USUBJID}: no SV date (SVSTDTC) for visit {row.AVISIT}; ADDOSE has no "
            f"record of that visit for the subject (study.yaml adam.dose.visits)",
            dataset="SV",
            variable="SVSTDTC",
            usubjid=str(row.USUBJID),
            value=str(row.AVISIT),
        )
        for row in grid[grid["ADT"].isna()].itertuples()
    ]
    return grid[grid["ADT"].notna()].reset_index(drop=True), findings


def _weights(advs: pd.DataFrame | None, spec: DoseSpec, grid: pd.DataFrame) -> pd.DataFrame:
    """The weight of each grid row: the last ADVS value on or before its date (and its record)."""
    out = grid[["USUBJID", "AVISITN", "ADT"]].assign(_WEIGHT=np.nan, _WREC=np.nan)
    if spec.weight is None or advs is None or advs.empty:
        return out
    rows = advs.reset_index(drop=True).assign(_WREC=np.arange(1, len(advs) + 1, dtype="float64"))
    rows = rows[
        rows["PARAMCD"].eq(spec.weight.paramcd).fillna(False).to_numpy()
        & rows["AVAL"].notna().to_numpy()
        & rows["ADT"].notna().to_numpy()
        # a derived record (LOCF, end of treatment) is a copy: the weight is the observed one
        & ~(rows["DTYPE"].isin(["LOCF", "LOV"]).fillna(False).to_numpy() if "DTYPE" in rows
            else np.zeros(len(rows), dtype=bool))
    ]
    analysed = rows["ANL01FL"].eq("Y").fillna(False) if "ANL01FL" in rows else False
    rows = (
        rows.assign(_ANL=analysed, USUBJID=text(rows["USUBJID"]))
        .sort_values(["ADT", "USUBJID", "_ANL", "_WREC"], kind="stable")
        .drop_duplicates(["USUBJID", "ADT"], keep="last")
        [["USUBJID", "ADT", "AVAL", "_WREC"]]
        .rename(columns={"AVAL": "_WEIGHT", "ADT": "_WDT"})
    )  # fmt: skip
    left = out.drop(columns=["_WEIGHT", "_WREC"]).assign(_ORDER=np.arange(len(out)))
    left = left.assign(ADT=left["ADT"].astype("datetime64[ns]")).sort_values("ADT", kind="stable")
    rows = rows.assign(_WDT=rows["_WDT"].astype("datetime64[ns]"))
    joined = pd.merge_asof(left, rows, left_on="ADT", right_on="_WDT", by="USUBJID",
                           direction="backward")  # fmt: skip
    return joined.sort_values("_ORDER").drop(columns=["_ORDER", "_WDT"]).reset_index(drop=True)


def derive_addose(
    cm: pd.DataFrame,
    sv: pd.DataFrame | None,
    adsl: pd.DataFrame,
    spec: DoseSpec,
    visitnums: Mapping[str, float],
    *,
    advs: pd.DataFrame | None = None,
    adsl_vars: Sequence[str] = (),
) -> DoseResult:
    """Derive ADDOSE from SDTM CM (and SV, ADSL, ADVS for the weight) by ``spec``.

    ``visitnums`` maps each planned visit name to its VISITNUM (study.yaml ``visits``);
    ``adsl_vars`` are the ADSL variables copied onto every record (TRTSDT is needed for ADY
    when given). Returns the dataset sorted by USUBJID, PARAMN and AVISITN, each record's
    source records and the findings. See the module docstring for the rules.

    Example: see the module docstring.
    """
    regimens, findings = _regimens(cm, spec)
    values, value_findings = _record_values(regimens, spec)
    findings += value_findings
    in_adsl = text(adsl["USUBJID"])
    with_cm = set(regimens["USUBJID"].dropna())
    for subject in in_adsl[~in_adsl.isin(with_cm)].dropna():
        findings.append(Finding(
            "adam-dose-no-records", "notice",
            f"{subject}: no CM record matches study.yaml adam.dose.where "
            f"({', '.join(f'{k} {v}' for k, v in spec.where.items())}); ADDOSE has no records "
            "of the subject", dataset="CM", usubjid=str(subject),
        ))  # fmt: skip
    subjects = pd.Index(sorted(set(in_adsl.dropna()) & with_cm), dtype=object)
    grid, visit_findings = _visit_dates(sv, subjects, spec, visitnums)
    findings += visit_findings

    pairs = grid.reset_index(names="_G").merge(regimens.reset_index(names="_R"), on="USUBJID")
    active = (pairs["ASTDT"] <= pairs["ADT"]) & (
        pairs["AENDT"].isna() | (pairs["AENDT"] >= pairs["ADT"])
    )
    pairs = pairs[active.to_numpy()]
    imputed_pair = (pairs["ASTDTF"].notna() | pairs["AENDTF"].notna()).to_numpy()
    weights = _weights(advs, spec, grid)

    parts: list[pd.DataFrame] = []
    links: list[pd.DataFrame] = []
    for p in spec.parameters:
        if p.measure == "percent_of_baseline":
            continue
        mine = _agents(regimens, spec, p)
        who = set(regimens.loc[mine.to_numpy(), "USUBJID"])
        rows = grid[grid["USUBJID"].isin(who).to_numpy()]
        value = values[p.paramcd].to_numpy()[pairs["_R"].to_numpy()]
        used = mine.to_numpy()[pairs["_R"].to_numpy()]
        counted = pairs.assign(_V=value, _IMP=imputed_pair)[used]
        by = counted.groupby("_G")
        total = by["_V"].sum(min_count=1)
        unknown = by["_V"].count() < by.size()  # an active record without a usable value
        aval = total.where(~unknown).reindex(rows.index)
        aval = aval.where(rows.index.isin(total.index), 0.0)  # no active record: 0
        imputed = by["_IMP"].any().reindex(rows.index, fill_value=False).astype(bool)
        frame = rows.assign(
            PARAMCD=p.paramcd, PARAM=p.param, PARAMN=float(p.paramn), _DIGITS=p.digits,
            AVAL=aval, IMPUTFL=np.where(imputed, "Y", None),
        )  # fmt: skip
        link = counted.loc[counted["_G"].isin(rows.index), ["_G", "_REC"]].assign(
            PARAMCD=p.paramcd, domain="CM"
        )
        if p.measure == "dose_per_kg":
            w = weights.loc[rows.index]
            frame = frame.assign(AVAL=frame["AVAL"] / w["_WEIGHT"].to_numpy())
            for row in frame[w["_WEIGHT"].isna().to_numpy()].itertuples():
                findings.append(Finding(
                    "adam-dose-weight-missing", "warning",
                    f"{row.USUBJID}: no {spec.weight.paramcd} (ADVS) on or before the "  # type: ignore[union-attr]
                    f"{row.AVISIT} visit ({row.ADT:%Y-%m-%d}), so {p.paramcd} is empty there",
                    dataset="ADDOSE", variable="AVAL", usubjid=str(row.USUBJID),
                    value=p.paramcd,
                ))  # fmt: skip
            wlink = w[w["_WREC"].notna()]
            links.append(pd.DataFrame({"_G": wlink.index, "_REC": wlink["_WREC"].astype("int64"),
                                       "PARAMCD": p.paramcd, "domain": "ADVS"}))  # fmt: skip
        frame = frame.assign(AVAL=sas_round(frame["AVAL"].astype("float64"), p.digits))
        parts.append(frame)
        links.append(link)

    columns = ["USUBJID", "AVISIT", "AVISITN", "ADT", "PARAMCD", "PARAM", "PARAMN", "_DIGITS",
               "AVAL", "IMPUTFL"]  # fmt: skip
    if parts:
        out = pd.concat(parts).reset_index(names="_G")
    else:
        out = pd.DataFrame(columns=["_G", *columns])
    out = _baseline_and_change(out, spec)
    for p in spec.parameters:
        if p.measure != "percent_of_baseline":
            continue
        of = out[out["PARAMCD"].eq(p.of).to_numpy() & out["BASE"].gt(0).fillna(False).to_numpy()]
        pct = sas_round(100.0 * of["AVAL"] / of["BASE"], p.digits)
        extra = of[["_G", "USUBJID", "AVISIT", "AVISITN", "ADT", "IMPUTFL"]].assign(
            PARAMCD=p.paramcd, PARAM=p.param, PARAMN=float(p.paramn), _DIGITS=p.digits,
            AVAL=pct,
        )  # fmt: skip
        source = pd.concat(links)
        source = source[source["PARAMCD"].eq(p.of).to_numpy()].assign(PARAMCD=p.paramcd)
        links.append(source)
        out = pd.concat([out, _baseline_and_change(extra, spec)], ignore_index=True)
    out = _categories(out, spec)
    out = _criteria(out, spec)

    out = out.sort_values(["USUBJID", "PARAMN", "AVISITN"], kind="stable").reset_index(drop=True)
    out["ANL01FL"] = "Y"
    out = out.assign(VISIT=out["AVISIT"], VISITNUM=out["AVISITN"], SRCDOM="CM",
                     SRCVAR="CMDOSTOT")  # fmt: skip
    sources = _sources(out, links, regimens)
    out = _srcrecs(out, sources, regimens)
    keep = [c for c in adsl_vars if c in adsl.columns and c != "USUBJID"]
    if keep:
        extra = adsl.assign(USUBJID=text(adsl["USUBJID"]))[["USUBJID", *keep]]
        out = out.merge(extra, on="USUBJID", how="left")
    if "TRTSDT" in out.columns:
        days = (out["ADT"] - pd.to_datetime(out["TRTSDT"])).dt.days
        out["ADY"] = (days + (days >= 0)).astype("float64")
    out = out.drop(columns=[c for c in out.columns if c.startswith("_")])
    return DoseResult(out, sources, findings)


def _baseline_and_change(frame: pd.DataFrame, spec: DoseSpec) -> pd.DataFrame:
    """ABLFL on the first visit, BASE, and CHG/PCHG on the later visits."""
    if frame.empty:
        return frame.assign(ABLFL=None, BASE=np.nan, CHG=np.nan, PCHG=np.nan)
    first = spec.visits[0]
    frame = frame.assign(
        ABLFL=np.where(frame["AVISIT"].eq(first) & frame["AVAL"].notna(), "Y", None)
    )
    frame = derive_var_base(frame, by_vars=["USUBJID", "PARAMCD"])
    post = frame["AVISIT"].ne(first).to_numpy()
    frame = derive_var_chg(frame, filter=post, digits="_DIGITS")
    return derive_var_pchg(frame, filter=post, digits=spec.pchg_digits)


def _post(frame: pd.DataFrame, spec: DoseSpec) -> np.ndarray:
    return frame["AVISIT"].ne(spec.visits[0]).fillna(False).to_numpy(dtype=bool)


def _categories(frame: pd.DataFrame, spec: DoseSpec) -> pd.DataFrame:
    """AVALCAT1/AVALCA1N by ``spec.categories`` (see the module docstring)."""
    cats = spec.categories
    if cats is None:
        return frame
    eligible = (
        frame["PARAMCD"].isin(cats.paramcd).to_numpy()
        & _post(frame, spec)
        & frame["BASE"].gt(0).fillna(False).to_numpy()
        & frame["AVAL"].notna().to_numpy()
    )
    label = np.full(len(frame), None, dtype=object)
    number = np.full(len(frame), np.nan)
    pchg = frame["PCHG"].to_numpy(dtype="float64", na_value=np.nan)
    stopped = eligible & frame["AVAL"].eq(0).fillna(False).to_numpy()
    label[stopped], number[stopped] = cats.discontinued.avalcat1, cats.discontinued.avalca1n
    left = eligible & ~stopped & ~np.isnan(pchg)
    for cat in cats.by_pchg:
        hit = left if cat.pchg_max is None else left & (pchg <= cat.pchg_max)
        label[hit], number[hit] = cat.avalcat1, cat.avalca1n
        left = left & ~hit
    return frame.assign(AVALCAT1=label, AVALCA1N=number)


def _criteria(frame: pd.DataFrame, spec: DoseSpec) -> pd.DataFrame:
    """CRITy/CRITyFL by ``spec.criteria`` (see the module docstring)."""
    out = frame
    for y, crit in enumerate(spec.criteria, start=1):
        mine = frame["PARAMCD"].isin(crit.paramcd).to_numpy()
        if crit.pchg_max is not None:
            value = frame["PCHG"].to_numpy(dtype="float64", na_value=np.nan)
            evaluated = mine & _post(frame, spec) & ~np.isnan(value)
            met = value <= crit.pchg_max
        else:
            value = frame["AVAL"].to_numpy(dtype="float64", na_value=np.nan)
            evaluated = mine & ~np.isnan(value)
            met = value <= crit.aval_max  # type: ignore[operator]
        out = out.assign(**{
            f"CRIT{y}": np.where(evaluated, crit.crit, None),
            f"CRIT{y}FL": np.where(evaluated, np.where(met, "Y", "N"), None),
        })  # fmt: skip
    return out


def _sources(out: pd.DataFrame, links: list[pd.DataFrame], regimens: pd.DataFrame) -> pd.DataFrame:
    """One row per (ADDOSE record, source record), by ADDOSE record then source order."""
    columns = ["record", "domain", "source_record"]
    if out.empty or not links:
        return pd.DataFrame(columns=columns)
    position = pd.DataFrame(
        {"_G": out["_G"].to_numpy(), "PARAMCD": out["PARAMCD"].to_numpy(),
         "record": np.arange(1, len(out) + 1)}
    )  # fmt: skip
    link = pd.concat(links, ignore_index=True).merge(position, on=["_G", "PARAMCD"])
    link = link.rename(columns={"_REC": "source_record"})
    link["_D"] = link["domain"].eq("ADVS").astype("int64")
    link = link.sort_values(["record", "_D", "source_record"], kind="stable")
    return link[columns].reset_index(drop=True)


def _srcrecs(out: pd.DataFrame, sources: pd.DataFrame, regimens: pd.DataFrame) -> pd.DataFrame:
    """SRCSEQ (the CMSEQ when one CM record is behind the value) and SRCRECS (every one)."""
    seq_of = pd.Series(_seq_texts(regimens["CMSEQ"]), index=regimens["_REC"].to_numpy())
    cm = sources[sources["domain"].eq("CM").to_numpy()]
    # sources are sorted by record: join each record's CMSEQs by adding up their texts
    rec = cm["record"].to_numpy(dtype="int64")
    starts = np.flatnonzero(np.r_[True, rec[1:] != rec[:-1]]) if len(rec) else np.array([], int)
    pieces = (cm["source_record"].map(seq_of) + ", ").to_numpy(dtype=object)
    joined = np.add.reduceat(pieces, starts) if len(rec) else np.array([], dtype=object)
    text_ = pd.Series(joined, index=rec[starts], dtype=object).str.removesuffix(", ")
    text_ = "CMSEQ " + text_
    count = pd.Series(np.diff(np.r_[starts, len(rec)]), index=rec[starts])
    record = pd.Series(np.arange(1, len(out) + 1), index=out.index)
    srcrecs = record.map(text_)
    one = record.map(count).eq(1).fillna(False)
    srcseq = pd.to_numeric(srcrecs.str.removeprefix("CMSEQ "), errors="coerce").where(one)
    advs = sources[sources["domain"].eq("ADVS").to_numpy()]
    weight = advs.groupby("record")["source_record"].first()
    wtext = ("ADVS record " + weight.astype("int64").astype("str")).reindex(record.to_numpy())
    wtext = pd.Series(wtext.to_numpy(dtype=object), index=out.index)
    joined = srcrecs.fillna("").str.cat(wtext.fillna(""), sep="; ").str.strip("; ")
    srcrecs = srcrecs.where(wtext.isna(), joined)
    return out.assign(SRCSEQ=srcseq.astype("float64"), SRCRECS=srcrecs)
