"""BDS template (ADLB, ADVS): one record per subject, parameter and time point, top to bottom.

1. Parameters: SDTM findings records selected by each parameter's ``where`` get PARAMCD,
   PARAM, PARAMN, PARCAT1; AVAL is --STRESN in the parameter's unit (converted by the spec's
   factors when --STRESU differs and rounded to the parameter's ``digits`` as SAS's ROUND
   does; a unit without a factor leaves AVAL empty and is reported).
2. ADSL variables (treatment, dates, populations) merged by USUBJID.
3. Timing: ADT from --DTC (no imputation), ADTM when a time was collected, ADY from TRTSDT.
4. Copies: VISIT/VISITNUM, ATPT/ATPTN, ANRLO/ANRHI/ANRIND; traceability SRCDOM, SRCVAR, SRCSEQ.
5. Computed parameters (HOMA-IR, HOMA-B, BMI, ...) by their named formula, per subject and
   visit date, AVAL rounded to the parameter's ``digits``; SRCRECS names the records each was
   computed from. A null result (HOMA-B with FPG <= 3.5 mmol/L) is kept as a record with empty
   AVAL and reported.
6. ABLFL by the baseline rule (derive_var_extreme_flag), AVISIT "BASELINE" on it; post-baseline
   records get AVISIT/AVISITN by the study's analysis visit rule: by the window their day falls
   in, or by their nominal visit (VISITNUM), with days counted from the declared reference
   (ADY from the first treatment, or from the subject's date of a planned visit such as DAY 0);
   AWTARGET, AWTDIFF, AWLO and AWHI are in those days. ANL01FL picks one record per visit.
7. BASE, BNRIND (derive_var_base), CHG and PCHG on post-baseline records only. CHG is the
   exact decimal difference of AVAL and BASE (which are at the parameter's precision), never
   the binary noise of the subtraction, so changes equal at the data's precision are equal and
   tie; PCHG is rounded to the dataset's ``pchg_digits`` (10 significant digits where none is
   declared). An AVAL with more decimals than the parameter's ``digits`` is reported.

Example:
    >>> from trialflow.mapping.spec import BdsSpec
    >>> spec = BdsSpec.model_validate({"source": "VS", "parameters": [
    ...     {"paramcd": "WEIGHT", "param": "Weight (kg)", "where": {"VSTESTCD": "WEIGHT"},
    ...      "unit": "kg"}]})
    >>> vs = pd.DataFrame({"USUBJID": ["1", "1"], "VSSEQ": [1.0, 2.0],
    ...                    "VSTESTCD": ["WEIGHT"] * 2, "VSSTRESN": [70.0, 68.5],
    ...                    "VSSTRESU": ["kg"] * 2, "VSDTC": ["2020-01-01", "2020-01-29"]})
    >>> adsl = pd.DataFrame({"USUBJID": ["1"], "TRTSDT": [pd.Timestamp("2020-01-01")]})
    >>> from trialflow.adam.windows import Window
    >>> visits = AnalysisVisits("window", (Window(4, "DAY 28", 29, 20, 40),))  # days are ADY
    >>> baseline = BaselineSpec(rule="last_on_or_before")
    >>> adsl_vars = ["TRTSDT"]
    >>> advs, _ = derive_bds("ADVS", vs, adsl, spec, baseline, visits, adsl_vars)
    >>> advs[["AVISIT", "AVAL", "ABLFL", "BASE", "CHG", "AWTDIFF"]].values.tolist()
    [['BASELINE', 70.0, 'Y', 70.0, nan, nan], ['DAY 28', 68.5, nan, 70.0, -1.5, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trialflow.adam.common import full_datetime, matches, numbers, record_findings, text
from trialflow.adam.dates import DerivationError, check_columns, derive_vars_dt, derive_vars_dy
from trialflow.adam.derive import (
    compute_homa_b_cpeptide,
    compute_homa_b_insulin,
    compute_homa_ir_cpeptide,
    compute_homa_ir_insulin,
    derive_param_computed,
    derive_var_base,
    derive_var_chg,
    derive_var_extreme_flag,
    derive_var_pchg,
    restrict,
)
from trialflow.adam.windows import (
    AnalysisVisits,
    compute_visit_dates,
    derive_var_anl_flag,
    derive_vars_avisit,
    derive_vars_avisit_nominal,
)
from trialflow.errors import Finding
from trialflow.mapping.spec import BaselineSpec, BdsSpec, ComputedSpec
from trialflow.numbers import sas_round

FORMULAS = {
    "homa_ir_cpeptide": lambda d, i: compute_homa_ir_cpeptide(d[i["cpeptide"]], d[i["glucose"]]),
    "homa_b_cpeptide": lambda d, i: compute_homa_b_cpeptide(d[i["cpeptide"]], d[i["glucose"]]),
    "homa_ir_insulin": lambda d, i: compute_homa_ir_insulin(d[i["insulin"]], d[i["glucose"]]),
    "homa_b_insulin": lambda d, i: compute_homa_b_insulin(d[i["insulin"]], d[i["glucose"]]),
    "bmi": lambda d, i: d[i["weight"]] / (d[i["height"]] / 100.0) ** 2,
}
"""The named formulas of study.yaml (``computed: formula``); see docs/spec.md."""

NULL_RESULT_REASON = {
    "homa_b_cpeptide": "HOMA-B is not computed when glucose <= 3.5 mmol/L",
    "homa_b_insulin": "HOMA-B is not computed when glucose <= 3.5 mmol/L",
}

COMPUTED_BY = ["STUDYID", "USUBJID", "VISITNUM", "VISIT", "ADT", "ADY"]
"""Computed parameters combine the records of one subject, visit and analysis date."""

_ROW = "__bds_row__"
_UNIT_BAD = "__unit_bad__"
_FORMULA = "__formula__"
_DAY = "__window_day__"
_POST = "__post_baseline__"
_DIGITS = "__digits__"
HIDDEN = (_ROW, _UNIT_BAD, _FORMULA, _DAY, _POST, _DIGITS)
"""Working columns the template keeps until the findings are made (dropped by the caller)."""


def _parameters(sdtm: pd.DataFrame, spec: BdsSpec, dataset: str) -> tuple[pd.DataFrame, list]:
    """Step 1: the records of each parameter, with AVAL in the parameter's unit."""
    pre = spec.source.upper()
    check_columns(sdtm, ["USUBJID", f"{pre}SEQ", f"{pre}STRESN", f"{pre}DTC"], dataset)
    pieces = []
    claimed = pd.Series("", index=sdtm.index, dtype="str")
    findings: list[Finding] = []
    for p in spec.parameters:
        mask = matches(sdtm, p.where)
        clash = mask & claimed.ne("")
        if clash.any():
            first = int(np.flatnonzero(clash.to_numpy())[0])
            raise DerivationError(
                f"study.yaml adam.datasets.{dataset}: {pre} record {first + 1} matches the "
                f"'where' of both {claimed.iloc[first]} and {p.paramcd}; make them exclusive"
            )
        claimed = claimed.mask(mask, p.paramcd)
        rows = sdtm.loc[mask.to_numpy()]
        value = numbers(rows[f"{pre}STRESN"])
        bad = pd.Series(False, index=rows.index)
        if p.unit is not None and f"{pre}STRESU" in rows.columns:
            unit = text(rows[f"{pre}STRESU"])
            factor = pd.Series(np.nan, index=rows.index)
            factor[unit.eq(p.unit).fillna(False)] = 1.0
            for source_unit, conv in p.convert.items():
                factor[unit.eq(source_unit).fillna(False)] = conv.factor
            bad = value.notna() & factor.isna()
            converted = factor.ne(1.0) & factor.notna()
            value = value.mask(converted, _round_to(value * factor, p.digits))
        pieces.append(
            rows.assign(
                PARAMCD=p.paramcd,
                PARAM=p.param,
                PARAMN=np.nan if p.paramn is None else float(p.paramn),
                PARCAT1=p.parcat1,
                AVAL=value.where(~bad),
                **{_UNIT_BAD: bad, _ROW: np.flatnonzero(mask.to_numpy()) + 1,
                   _DIGITS: np.nan if p.digits is None else float(p.digits)},
            )
        )
    frame = pd.concat(pieces, ignore_index=True) if pieces else sdtm.iloc[0:0]
    # Records no parameter takes are left out of the dataset, and said so, per test.
    testcd = f"{pre}TESTCD"
    unclaimed = sdtm.loc[claimed.eq("").to_numpy()]
    if len(unclaimed):
        tests = (
            text(unclaimed[testcd])
            if testcd in unclaimed
            else pd.Series("?", index=unclaimed.index)
        )
        for code, count in tests.fillna("(blank)").value_counts().sort_index().items():
            findings.append(
                Finding(
                    "adam-records-not-used",
                    "notice",
                    f"{count} {pre} record(s) of {testcd} {code} match no parameter of "
                    f"study.yaml adam.datasets.{dataset}; they are not in {dataset}",
                    dataset=dataset,
                    variable="PARAMCD",
                    value=str(code),
                )
            )
    return frame, findings


def _round_to(values: pd.Series, digits: int | None) -> pd.Series:
    """Values rounded as SAS's ROUND does to ``digits`` decimals (None: 10 significant digits)."""
    if digits is None:
        return sas_round(values, significant=10)
    return sas_round(values, digits)


def _timing(frame: pd.DataFrame, pre: str) -> pd.DataFrame:
    """Step 3: ADT (complete dates only), ADTM (when a time was collected), ADY from TRTSDT."""
    out = derive_vars_dt(frame, new_vars_prefix="A", dtc=f"{pre}DTC")
    out["ADTM"] = full_datetime(out[f"{pre}DTC"])
    return derive_vars_dy(out, reference_date="TRTSDT", source_vars=["ADT"])


def _copies(frame: pd.DataFrame, pre: str) -> pd.DataFrame:
    """Step 4: SDTM copies and the traceability variables."""
    out = frame.copy()
    for target, source in (("ATPT", f"{pre}TPT"), ("ANRIND", f"{pre}NRIND"), ("VISIT", "VISIT")):
        out[target] = text(out[source]) if source in out.columns else pd.NA
    for target, source in (
        ("ATPTN", f"{pre}TPTNUM"),
        ("ANRLO", f"{pre}STNRLO"),
        ("ANRHI", f"{pre}STNRHI"),
        ("VISITNUM", "VISITNUM"),
    ):
        out[target] = numbers(out[source]) if source in out.columns else np.nan
    out["SRCDOM"] = pre
    out["SRCVAR"] = f"{pre}STRESN"
    out["SRCSEQ"] = numbers(out[f"{pre}SEQ"])
    return out


def _computed(
    frame: pd.DataFrame, computed: Sequence[ComputedSpec], adsl_vars: Sequence[str], pre: str
) -> pd.DataFrame:
    """Step 5: computed parameters, with SRCRECS naming their source records."""
    base = frame.reset_index(drop=True)
    by = [c for c in dict.fromkeys([*COMPUTED_BY, *adsl_vars]) if c in base.columns]
    seq = _seq_text(base["SRCSEQ"])
    parts = [base.assign(SRCRECS=pd.Series(pd.NA, index=base.index, dtype="str"))]
    for comp in computed:
        inputs = dict(comp.inputs)
        per_visit = [p for p in dict.fromkeys(inputs.values()) if p not in comp.constant]
        result = derive_param_computed(
            base,
            by_vars=by,
            parameters=per_visit,
            constant_parameters=comp.constant,
            constant_by_vars=["USUBJID"] if comp.constant else [],
            compute=lambda d, f=comp.formula, i=inputs: FORMULAS[f](d, i),
            set_values_to={
                "PARAMCD": comp.paramcd,
                "PARAM": comp.param,
                "PARAMN": np.nan if comp.paramn is None else float(comp.paramn),
                "PARCAT1": comp.parcat1,
                _FORMULA: comp.formula,
                _DIGITS: np.nan if comp.digits is None else float(comp.digits),
            },
            keep_sources=True,
        )
        new = result.iloc[len(base) :]
        new = new.assign(AVAL=_round_to(new["AVAL"].astype("float64"), comp.digits))
        # SRCRECS holds the source records' index labels (= positions in ``base``): name
        # each one by its parameter and --SEQ, which is what a reviewer looks up.
        names = [*per_visit, *comp.constant]
        described = [
            "; ".join(f"{n}: {pre}SEQ {seq[int(x)]}" for n, x in zip(names, labels.split(","),
                                                                      strict=True))
            for labels in new["SRCRECS"]
        ]  # fmt: skip
        parts.append(new.assign(SRCRECS=described, SRCDOM=None, SRCVAR=None, SRCSEQ=np.nan))
    return pd.concat(parts, ignore_index=True)


def _seq_text(values: pd.Series) -> np.ndarray:
    """--SEQ numbers as text: whole numbers without ".0" (LBSEQ 15, not 15.0)."""
    whole = values.notna() & (values % 1 == 0)
    out = values.astype("str").to_numpy(dtype=object)
    out[whole.to_numpy()] = values[whole].astype("int64").astype("str").to_numpy(dtype=object)
    return out


def derive_bds(
    dataset: str,
    sdtm: pd.DataFrame,
    adsl: pd.DataFrame,
    spec: BdsSpec,
    baseline: BaselineSpec,
    visits: AnalysisVisits,
    adsl_vars: Sequence[str],
    *,
    visit_dates: pd.Series | None = None,
) -> tuple[pd.DataFrame, list[Finding]]:
    """Build one BDS dataset (ADLB from LB, ADVS from VS) by the template steps 1 to 7.

    ``visits`` is the analysis visit rule (:func:`trialflow.adam.windows.analysis_visits`);
    ``adsl_vars`` are the ADSL variables merged onto every record (TRTSDT is required). When
    days count from a planned visit, ``visit_dates`` gives each subject's date of that visit
    (USUBJID -> date; :func:`~trialflow.adam.windows.compute_visit_dates` over every domain
    the subject was seen in); without it the dates come from this dataset's own records.
    Returns the dataset sorted by USUBJID, PARAMN, PARAMCD, ADT, ATPTN, SRCSEQ, and the
    findings (record numbers refer to that order).

    Example: see the module docstring.
    """
    pre = spec.source.upper()

    # 1. parameters and AVAL
    frame, findings = _parameters(sdtm, spec, dataset)
    frame = frame.assign(USUBJID=text(frame["USUBJID"]))

    # 2. ADSL variables
    keep = ["USUBJID", *[v for v in adsl_vars if v in adsl.columns and v != "USUBJID"]]
    frame = frame.drop(columns=[c for c in keep[1:] if c in frame.columns])
    frame = frame.merge(adsl[keep], on="USUBJID", how="left", validate="many_to_one")
    if "STUDYID" in sdtm.columns:
        frame["STUDYID"] = text(frame["STUDYID"])

    # 3. timing, 4. copies and traceability
    frame = _copies(_timing(frame, pre), pre)

    # 5. computed parameters
    frame = _computed(frame, spec.computed, keep[1:], pre)
    frame[_UNIT_BAD] = frame[_UNIT_BAD].astype("boolean").fillna(False).astype(bool)

    # 6. baseline record, analysis visits, analysis record per window
    reference = frame[baseline.reference]
    if baseline.rule == "last_on_or_before":
        candidate = frame["ADT"] <= reference
    else:
        candidate = frame["ADT"] < reference
    post = frame["ADT"].notna() & reference.notna() & ~candidate.fillna(False)
    frame = derive_var_extreme_flag(
        frame,
        by_vars=["USUBJID", "PARAMCD"],
        order=["ADT", "ADTM", "ATPTN", "SRCSEQ"],
        new_var="ABLFL",
        mode="last",
        filter=(candidate & frame["AVAL"].notna()).fillna(False),
    )
    frame[_DAY] = _window_day(frame, visits, visit_dates)
    derive = derive_vars_avisit if visits.by == "window" else derive_vars_avisit_nominal
    frame = derive(frame, windows=list(visits.windows), day_var=_DAY)
    not_post = ~post.to_numpy()
    for col in ("AVISITN", "AVISIT", "AWTARGET", "AWTDIFF", "AWLO", "AWHI"):
        frame[col] = frame[col].mask(not_post)
        if col not in ("AVISITN", "AVISIT"):
            frame[col] = frame[col].astype("float64")
    frame[_POST] = post.to_numpy()
    frame["AWU"] = pd.Series(
        np.where(frame["AVISITN"].notna(), "DAYS", None), index=frame.index, dtype="str"
    )
    is_base = frame["ABLFL"].eq("Y").fillna(False).to_numpy()
    frame.loc[is_base, "AVISIT"] = baseline.avisit
    frame.loc[is_base, "AVISITN"] = float(baseline.avisitn)
    frame = derive_var_anl_flag(frame, filter=lambda d: ~d["ABLFL"].eq("Y").fillna(False))
    frame.loc[is_base, "ANL01FL"] = "Y"

    # 7. baseline values and change from baseline (post-baseline records only)
    frame = derive_var_base(frame, by_vars=["USUBJID", "PARAMCD"])
    frame = derive_var_base(frame, by_vars=["USUBJID", "PARAMCD"], source_var="ANRIND",
                            new_var="BNRIND")  # fmt: skip
    post_mask = pd.Series(post.to_numpy(), index=frame.index)
    frame = restrict(derive_var_chg, filter=post_mask)(frame)
    frame = restrict(derive_var_pchg, filter=post_mask, digits=spec.pchg_digits)(frame)

    # order, then the findings (record numbers as written)
    frame = frame.sort_values(
        ["USUBJID", "PARAMN", "PARAMCD", "ADT", "ATPTN", "SRCSEQ"],
        kind="stable",
        na_position="last",
    ).reset_index(drop=True)
    findings += _findings(frame, dataset, pre, visits)
    return frame, findings


def _window_day(
    frame: pd.DataFrame, visits: AnalysisVisits, visit_dates: pd.Series | None
) -> pd.Series:
    """The day each record's window is decided on: ADY, or days from the reference visit."""
    if visits.reference_visitnum is None:
        return frame["ADY"].astype("Float64")
    if visit_dates is None:
        visit_dates = compute_visit_dates(frame, visitnum=visits.reference_visitnum)
    origin = frame["USUBJID"].map(visit_dates).astype("datetime64[ns]")
    return (frame["ADT"] - origin).dt.days.astype("Float64")


def _findings(frame: pd.DataFrame, dataset: str, pre: str, visits: AnalysisVisits) -> list[Finding]:
    """What the template met: unconvertible units, uncomputable results, records outside windows."""
    out = record_findings(
        frame,
        frame[_UNIT_BAD],
        code="adam-unit-not-convertible",
        severity="error",
        dataset=dataset,
        variable="AVAL",
        message=lambda r: (
            f"{r['PARAMCD']}: {pre}STRESU {r.get(f'{pre}STRESU')!s} has no conversion to the "
            "parameter's unit in study.yaml; AVAL left empty"
        ),
    )
    digits = frame[_DIGITS]
    finer = digits.notna() & frame["AVAL"].notna()
    finer &= sas_round(frame["AVAL"], digits.fillna(0.0)).ne(frame["AVAL"])
    out += record_findings(
        frame,
        finer,
        code="adam-aval-finer-than-digits",
        severity="warning",
        dataset=dataset,
        variable="AVAL",
        message=lambda r: (
            f"{r['PARAMCD']} AVAL {r['AVAL']!r} has more decimals than the {int(r[_DIGITS])} "
            "declared in study.yaml (digits); it is kept as collected and its changes keep "
            "its decimals, so check the declared precision"
        ),
    )
    formula = frame.get(_FORMULA)
    if formula is not None:
        for name, reason in NULL_RESULT_REASON.items():
            null = formula.eq(name).fillna(False) & frame["AVAL"].isna()
            out += record_findings(
                frame,
                null,
                code="adam-parameter-not-computed",
                severity="notice",
                dataset=dataset,
                variable="AVAL",
                message=lambda r, why=reason: (
                    f"{r['PARAMCD']} at {r['VISIT']} has no value: {why} ({r['SRCRECS']})"
                ),
            )
    out += _visit_findings(frame, dataset, visits)
    return out


def _visit_findings(frame: pd.DataFrame, dataset: str, visits: AnalysisVisits) -> list[Finding]:
    """Post-baseline records the analysis visit rule could not place as their visit says."""
    post = frame[_POST].astype(bool) & frame["AVAL"].notna()
    day = frame[_DAY]
    origin = visits.reference if visits.reference_visitnum is not None else "the first treatment"
    unit = "day" if visits.reference_visitnum is not None else "analysis day (ADY)"
    out: list[Finding] = []
    # subjects without the reference visit: their days can't be counted
    if visits.reference_visitnum is not None:
        lost = frame.loc[(post & day.isna()).to_numpy()]
        for subject, count in lost.groupby("USUBJID", sort=True).size().items():
            placed = "keep their nominal visit" if visits.by == "nominal_visit" else "get no AVISIT"
            out.append(
                Finding(
                    "adam-window-reference-missing",
                    "warning",
                    f"{subject} has no dated {visits.reference} visit, which study.yaml "
                    f"adam.analysis_visits.reference counts days from: {count} post-baseline "
                    f"record(s) {placed} without a window day",
                    dataset=dataset,
                    variable="AVISIT",
                    usubjid=str(subject),
                )
            )
    nominal = visits.by == "nominal_visit"
    outside = post & day.notna() & frame["AVISITN"].isna()
    out += record_findings(
        frame,
        outside,
        code="adam-outside-windows",
        severity="notice",
        dataset=dataset,
        variable="AVISIT",
        message=lambda r: (
            f"{r['PARAMCD']} at {r['VISIT']} ({unit} {_day_text(r[_DAY])} from {origin}) "
            + ("is at no planned visit of the analysis visits"
               if nominal else "falls in no analysis window")
            + " of study.yaml; it has no AVISIT and is not analysed"
        ),
    )  # fmt: skip
    if nominal:
        late = (
            post
            & frame["AVISITN"].notna()
            & ((day < frame["AWLO"]) | (day > frame["AWHI"])).fillna(False)
        )
        out += record_findings(
            frame,
            late,
            code="adam-visit-out-of-window",
            severity="notice",
            dataset=dataset,
            variable="AWTDIFF",
            message=lambda r: (
                f"{r['PARAMCD']} at {r['AVISIT']} is on {unit} {_day_text(r[_DAY])} from "
                f"{origin}, outside the visit's window (days {_day_text(r['AWLO'])} to "
                f"{_day_text(r['AWHI'])}); it keeps its visit (by: nominal_visit)"
            ),
        )
        return out
    # by window: a record of one window's visit whose day lies in another window
    names = {w.avisit for w in visits.windows}
    visit = frame["VISIT"].astype("str")
    moved = post & visit.isin(names) & frame["AVISIT"].notna() & frame["AVISIT"].ne(visit)
    out += record_findings(
        frame,
        moved,
        code="adam-visit-in-other-window",
        severity="notice",
        dataset=dataset,
        variable="AVISIT",
        message=lambda r: (
            f"{r['PARAMCD']} at {r['VISIT']} is on {unit} {_day_text(r[_DAY])} from {origin}, "
            f"in the window of {r['AVISIT']} (days {_day_text(r['AWLO'])} to "
            f"{_day_text(r['AWHI'])}), so its AVISIT is {r['AVISIT']} (by: window)"
        ),
    )
    return out


def _day_text(value: object) -> str:
    """A day number as text: 14, not 14.0."""
    if value is None or pd.isna(value):
        return "?"
    number = float(value)  # type: ignore[arg-type]
    return f"{number:g}"
