"""BDS template (ADLB, ADVS): one record per subject, parameter and time point, top to bottom.

1. Parameters: SDTM findings records selected by each parameter's ``where`` get PARAMCD,
   PARAM, PARAMN, PARCAT1; AVAL is --STRESN in the parameter's unit (converted by the spec's
   factors when --STRESU differs and rounded to the parameter's ``digits`` as SAS's ROUND
   does; a unit without a factor leaves AVAL empty and is reported).
   A result beyond a limit (--STRESC ``<0.5``, ``>500``) keeps its text in AVALC (in the
   parameter's unit); AVAL is imputed only by the parameter's declared ``censored`` rule
   (half the limit or the limit, DTYPE HALFLLOQ, LLOQ or ULOQ, IMPUTFL = "Y"), else it stays
   empty and the record is reported. A text result is kept in AVALC and reported.
2. ADSL variables (treatment, dates, populations) merged by USUBJID.
3. Timing: ADT from --DTC (no imputation), ADTM when a time was collected, ADY from TRTSDT.
4. Copies: VISIT/VISITNUM, ATPT/ATPTN, ANRLO/ANRHI/ANRIND; traceability SRCDOM, SRCVAR, SRCSEQ.
5. Computed parameters (HOMA-IR, HOMA-B, BMI, ...) by their named formula, per subject,
   visit date and time point, AVAL rounded to the parameter's ``digits``; SRCRECS names the
   records each was computed from. A null result (HOMA-B with FPG <= 3.5 mmol/L) is kept as a
   record with empty AVAL and reported. An input beyond a limit follows the computed
   parameter's ``censored_inputs`` rule (computed from the imputed input with IMPUTFL = "Y",
   or empty); without one the record is kept empty and reported.
6. ABLFL by the baseline rule (derive_var_extreme_flag) on the last record with a result (a
   value, or a result beyond a limit: a censored baseline is not skipped for an older value),
   AVISIT "BASELINE" on it; post-baseline records get AVISIT/AVISITN by the study's analysis
   visit rule: by the window their day falls in, or by their nominal visit (VISITNUM), with
   days counted from the declared reference (ADY from the first treatment, or from the
   subject's date of a planned visit such as DAY 0); AWTARGET, AWTDIFF, AWLO and AWHI are in
   those days. ANL01FL picks one record per visit.
7. BASE, BASEC, BNRIND (derive_var_base), CHG and PCHG on post-baseline records only;
   IMPUTFL = "Y" where they use an imputed BASE. CHG is the exact decimal difference of AVAL
   and BASE (which are at the parameter's precision), never the binary noise of the
   subtraction, so changes equal at the data's precision are equal and tie; PCHG is rounded
   to the dataset's ``pchg_digits`` (10 significant digits where none is declared). An AVAL
   with more decimals than the parameter's ``digits`` is reported.

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
from trialflow.mapping.spec import (
    AnalysisFlagSpec,
    BaselineSpec,
    BdsSpec,
    ComputedSpec,
    DerivedRecordSpec,
    EndOfTreatmentSpec,
    LocfSpec,
    ParameterSpec,
)
from trialflow.numbers import sas_round

FORMULAS = {
    "homa_ir_cpeptide": lambda d, i: compute_homa_ir_cpeptide(d[i["cpeptide"]], d[i["glucose"]]),
    "homa_b_cpeptide": lambda d, i: compute_homa_b_cpeptide(d[i["cpeptide"]], d[i["glucose"]]),
    "homa_ir_insulin": lambda d, i: compute_homa_ir_insulin(d[i["insulin"]], d[i["glucose"]]),
    "homa_b_insulin": lambda d, i: compute_homa_b_insulin(d[i["insulin"]], d[i["glucose"]]),
    "bmi": lambda d, i: d[i["weight"]] / (d[i["height"]] / 100.0) ** 2,
}
"""The named formulas of study.yaml (``computed: formula``); see docs/spec.md."""

FORMULA_TEXT = {
    "homa_ir_cpeptide": "HOMA-IR = 1.5 + {cpeptide} x {glucose} / 2800 (C-peptide in pmol/L, "
    "glucose in mmol/L)",
    "homa_b_cpeptide": "HOMA-beta (%) = 0.27 x {cpeptide} / ({glucose} - 3.5) (C-peptide in "
    "pmol/L, glucose in mmol/L); missing when {glucose} <= 3.5",
    "homa_ir_insulin": "HOMA-IR = {glucose} x {insulin} / 22.5 (insulin in uU/mL, glucose in "
    "mmol/L)",
    "homa_b_insulin": "HOMA-beta (%) = 20 x {insulin} / ({glucose} - 3.5); missing when "
    "{glucose} <= 3.5",
    "bmi": "BMI = {weight} / ({height} / 100)^2 (weight in kg, height in cm)",
}
"""How each named formula reads, with the PARAMCDs of its inputs (study.yaml ``inputs``) in
braces: define.xml's computational methods and the ADRG quote it."""

NULL_RESULT_REASON = {
    "homa_b_cpeptide": "HOMA-B is not computed when glucose <= 3.5 mmol/L",
    "homa_b_insulin": "HOMA-B is not computed when glucose <= 3.5 mmol/L",
}

COMPUTED_BY = ["STUDYID", "USUBJID", "VISITNUM", "VISIT", "ADT", "ADY", "ATPTN", "ATPT"]
"""Computed parameters combine the records of one subject, visit, analysis date and time point
(as admiral's ADVS template computes MAP with VSTPT and VSTPTNUM among its by-variables; a
record without a time point combines with others without one)."""

_ROW = "__bds_row__"
_UNIT_BAD = "__unit_bad__"
_FORMULA = "__formula__"
_DAY = "__window_day__"
_POST = "__post_baseline__"
_DIGITS = "__digits__"
_CENSOR = "__censored__"  # below / above (measured), input (computed from a censored input)
_RULE = "__censor_rule__"  # the declared rule for that direction, or null when none is declared
_CENSORED_INPUTS = "__censored_inputs__"  # computed records: the censored inputs, described
_KIND = "__record_kind__"  # 0 observed (or computed), 1 LOCF, 2 end of treatment (LOV)
_UNSCHEDULED = "__unscheduled__"  # the record's VISITNUM is no planned visit
_EXCLUDED = "__excluded__"  # unscheduled or an excluded planned visit, kept out of the windows
HIDDEN = (_ROW, _UNIT_BAD, _FORMULA, _DAY, _POST, _DIGITS, _CENSOR, _RULE, _CENSORED_INPUTS,
          _KIND, _UNSCHEDULED, _EXCLUDED)  # fmt: skip
"""Working columns the template keeps until the findings are made (dropped by the caller)."""

OPTIONAL = ("AVALC", "BASEC", "DTYPE", "IMPUTFL", "BASETYPE")
"""Variables a dataset carries only when some record has a value in them."""

_LIMIT_RESULT = r"^([<>]=?)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$"
"""A result beyond a limit, as SDTM keeps it in --STRESC: comparator and limit (``<0.5``)."""

DTYPE_OF_RULE = {
    ("below", "half_limit"): "HALFLLOQ",
    ("below", "limit"): "LLOQ",
    ("above", "limit"): "ULOQ",
}
"""ADaM CT DTYPE (C81224) of each imputation of a result beyond a limit of quantification."""


def _number_text(values: pd.Series) -> pd.Series:
    """Numbers as short text (10 significant digits, no trailing zeros): 165.6, 0.5, 2."""
    # rounded by the project's one rounding function first, so the text never rounds on its own
    rounded = pd.Series(sas_round(values.astype("float64"), significant=10), index=values.index)
    return rounded.map(lambda v: f"{v:.10g}", na_action="ignore").astype("str")


def _censored(
    rows: pd.DataFrame, value: pd.Series, factor: pd.Series, pre: str, p: ParameterSpec
) -> dict[str, pd.Series]:
    """AVALC, the imputed AVAL, DTYPE and the censoring columns of one parameter's records.

    A record is censored when --STRESN is empty and --STRESC reads ``<x``/``<=x`` (below) or
    ``>x``/``>=x`` (above); its limit is x in the parameter's unit (times ``factor``).
    """
    stresc = f"{pre}STRESC"
    nothing = pd.Series(pd.NA, index=rows.index, dtype="str")
    if not value.isna().any():  # every record has its number: the common case
        return {"AVAL": value, "AVALC": nothing, "DTYPE": nothing, _CENSOR: nothing,
                _RULE: nothing}  # fmt: skip
    # only records without a number can hold a result beyond a limit (few): look at those
    without = rows.loc[value.isna().to_numpy()]
    result = (
        (text(without[stresc]) if stresc in rows.columns else pd.Series(pd.NA, index=without.index))
        .reindex(rows.index)
        .astype("str")
    )
    parts = result.dropna().str.extract(_LIMIT_RESULT).reindex(rows.index)
    comparator = parts[0].astype("str")
    limit = pd.to_numeric(parts[1], errors="coerce") * factor
    is_censored = value.isna() & comparator.notna()
    direction = pd.Series(pd.NA, index=rows.index, dtype="str")
    direction = direction.mask(is_censored & comparator.str.startswith("<").fillna(False), "below")
    direction = direction.mask(is_censored & comparator.str.startswith(">").fillna(False), "above")
    # AVALC: the result's text where AVAL can't hold it; a limit in the parameter's unit
    same_unit = factor.eq(1.0).fillna(False)
    avalc = result.where(value.isna())
    converted = comparator + _number_text(limit)
    avalc = avalc.mask(is_censored & ~same_unit & limit.notna(), converted)
    rules = p.censored
    rule = pd.Series(pd.NA, index=rows.index, dtype="str")
    if rules is not None:
        for side in ("below", "above"):
            declared = getattr(rules, side)
            if declared is not None:
                rule = rule.mask(direction.eq(side).fillna(False), declared)
    aval = value.copy()
    dtype = pd.Series(pd.NA, index=rows.index, dtype="str")
    for (side, how), term in DTYPE_OF_RULE.items():
        hit = (direction.eq(side) & rule.eq(how)).fillna(False) & limit.notna()
        aval = aval.mask(hit, limit / 2 if how == "half_limit" else limit)
        dtype = dtype.mask(hit, term)
    return {"AVAL": aval, "AVALC": avalc, "DTYPE": dtype, _CENSOR: direction, _RULE: rule}


def _parameters(sdtm: pd.DataFrame, spec: BdsSpec, dataset: str) -> tuple[pd.DataFrame, list]:
    """Step 1: the records of each parameter, with AVAL in the parameter's unit."""
    pre = spec.source.upper()
    check_columns(sdtm, ["USUBJID", f"{pre}SEQ", f"{pre}STRESN", f"{pre}DTC"], dataset)
    pieces = []
    claimed = pd.Series("", index=sdtm.index, dtype="str")
    findings: list[Finding] = []
    positions: list[np.ndarray] = []
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
        positions.append(np.flatnonzero(mask.to_numpy()))
    # One take of every parameter's records (each parameter's in their SDTM order), sliced per
    # parameter: the SDTM domain is wide, and a take per parameter copied all of it each time.
    taken = sdtm.take(np.concatenate(positions)) if positions else sdtm.iloc[0:0]
    ends = np.cumsum([len(x) for x in positions])
    for p, at, end in zip(spec.parameters, positions, ends, strict=True):
        rows = taken.iloc[end - len(at) : end]
        value = numbers(rows[f"{pre}STRESN"])
        bad = pd.Series(False, index=rows.index)
        factor = pd.Series(1.0, index=rows.index)
        if p.unit is not None and f"{pre}STRESU" in rows.columns:
            unit = text(rows[f"{pre}STRESU"])
            factor = pd.Series(np.nan, index=rows.index)
            factor[unit.eq(p.unit).fillna(False)] = 1.0
            for source_unit, conv in p.convert.items():
                factor[unit.eq(source_unit).fillna(False)] = conv.factor
        measured = value.notna()
        converted = factor.ne(1.0) & factor.notna()
        value = value.mask(converted, _round_to(value * factor, p.digits))
        censored = _censored(rows, value, factor, pre, p)
        bad = (measured | censored[_CENSOR].notna()) & factor.isna()
        # a value or limit that can't be put in the parameter's unit gives neither AVAL nor AVALC
        censored["AVAL"] = censored["AVAL"].where(~bad)
        censored["AVALC"] = censored["AVALC"].where(~bad)
        pieces.append(
            rows.assign(
                PARAMCD=p.paramcd,
                PARAM=p.param,
                PARAMN=np.nan if p.paramn is None else float(p.paramn),
                PARCAT1=p.parcat1,
                **censored,
                IMPUTFL=censored["DTYPE"].where(censored["DTYPE"].isna(), "Y"),
                **{
                    _UNIT_BAD: bad,
                    _ROW: at + 1,
                    _DIGITS: np.nan if p.digits is None else float(p.digits),
                },
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
    seq = base["SRCSEQ"]
    parts = [base.assign(SRCRECS=pd.Series(pd.NA, index=base.index, dtype="str"))]
    # A censored input without a value still makes its group: the record is kept (empty) and
    # reported, never skipped. The stand-in value (the limit) is never used as a result.
    unimputed = base[_CENSOR].notna() & base["AVAL"].isna()
    standin = base
    if unimputed.any():
        standin = base.assign(AVAL=base["AVAL"].mask(unimputed, _limit_of(base)))
    # derive_param_computed returns the dataset with the new records appended; only the new
    # ones are kept here, so it gets the columns it reads, not a copy of every column per
    # computed parameter (the other columns of the new records are empty either way).
    narrow = standin[list(dict.fromkeys([*by, "PARAMCD", "AVAL"]))]
    for comp in computed:
        inputs = dict(comp.inputs)
        per_visit = [p for p in dict.fromkeys(inputs.values()) if p not in comp.constant]
        result = derive_param_computed(
            narrow,
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
        sources = new["SRCRECS"]
        described = _describe_sources(sources, names, seq, pre)
        new = new.assign(SRCRECS=described, SRCDOM=None, SRCVAR=None, SRCSEQ=np.nan)
        parts.append(_censored_inputs(new, sources, base, names, comp, pre))
    return pd.concat(parts, ignore_index=True)


def _describe_sources(sources: pd.Series, names: list[str], seq: pd.Series, pre: str) -> np.ndarray:
    """SRCRECS text per computed record: "FPG: LBSEQ 3; FCP: LBSEQ 7" from the source
    positions ("3,7", in ``names`` order) and the records' --SEQ (``seq``, by position),
    built column by column over object arrays; only the sources' --SEQ are made text."""
    if sources.empty:
        return np.array([], dtype=object)
    positions = sources.str.split(",", expand=True).astype("int64").to_numpy()
    text = None
    for k, name in enumerate(names):
        part = f"{name}: {pre}SEQ " + _seq_text(seq.iloc[positions[:, k]])
        text = part if text is None else text + "; " + part
    return text


def _limit_of(frame: pd.DataFrame) -> pd.Series:
    """The limit of censored records (from AVALC: ``<0.5`` -> 0.5), NaN elsewhere."""
    censored = frame["AVALC"].astype("str").loc[frame[_CENSOR].notna().to_numpy()]
    parts = censored.str.extract(_LIMIT_RESULT).reindex(frame.index)
    return pd.to_numeric(parts[1], errors="coerce")


def _censored_inputs(
    new: pd.DataFrame,
    sources: pd.Series,
    base: pd.DataFrame,
    names: list[str],
    comp: ComputedSpec,
    pre: str,
) -> pd.DataFrame:
    """Apply ``comp.censored_inputs`` to computed records whose inputs include a censored one.

    ``sources`` holds each new record's source positions in ``base`` ("," separated, in
    ``names`` order). ``imputed``: the value computed from imputed inputs stays, with
    IMPUTFL = "Y" (an input without an imputed value still leaves the record empty);
    ``missing`` or no rule: AVAL is emptied. Such records get ``_CENSOR`` = "input" (they are
    results, for the baseline rule) and ``_CENSORED_INPUTS`` naming the inputs, for the findings.
    """
    censored = (base[_CENSOR].notna() & base["PARAMCD"].isin(names)).to_numpy()
    if new.empty or not censored.any():  # no input beyond a limit (the common case)
        return new.assign(IMPUTFL=pd.Series(pd.NA, index=new.index, dtype="str"))
    positions = sources.str.split(",", expand=True).astype("int64").to_numpy()
    imputed = base["DTYPE"].notna().to_numpy()
    avalc = base["AVALC"].astype("str").fillna("").to_numpy(dtype=object)
    seqs = _seq_text(base["SRCSEQ"])
    any_censored = np.zeros(len(new), dtype=bool)
    any_unimputed = np.zeros(len(new), dtype=bool)
    any_imputed = np.zeros(len(new), dtype=bool)
    described = pd.Series("", index=new.index, dtype="str")
    for k, name in enumerate(names):
        pos = positions[:, k]
        hit = pd.Series(censored[pos], index=new.index)
        any_censored |= hit.to_numpy()
        any_unimputed |= hit.to_numpy() & ~imputed[pos]
        any_imputed |= imputed[pos]
        said = (
            f"{name} '"
            + pd.Series(avalc[pos], index=new.index, dtype="str")
            + f"' ({pre}SEQ "
            + pd.Series(seqs[pos], index=new.index, dtype="str")
            + ")"
        )
        joined = described.where(described.eq(""), described + ", ") + said
        described = described.mask(hit, joined)
    keep = ~any_censored | ((comp.censored_inputs == "imputed") & ~any_unimputed)
    out = new.assign(AVAL=new["AVAL"].where(keep))
    out["IMPUTFL"] = pd.Series(np.where(keep & any_imputed, "Y", None), index=new.index,
                               dtype="str")  # fmt: skip
    out[_CENSOR] = pd.Series(np.where(any_censored, "input", None), index=new.index, dtype="str")
    out[_RULE] = comp.censored_inputs
    out[_CENSORED_INPUTS] = described.where(any_censored & ~keep)
    return out


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
    analysis_flag: AnalysisFlagSpec | None = None,
    derived_records: Sequence[DerivedRecordSpec] = (),
) -> tuple[pd.DataFrame, list[Finding]]:
    """Build one BDS dataset (ADLB from LB, ADVS from VS) by the template steps 1 to 7.

    The baseline, ANL01FL, BASE/CHG/PCHG and the derived records are per USUBJID, PARAMCD,
    BASETYPE (when ``baseline.basetypes`` declares baseline definitions) and the variables of
    ``baseline.by`` (ATPTN: one baseline per parameter and time point), as admiral's
    ``by_vars``. ``analysis_flag`` is the ANL01FL rule (None: the record closest to the
    target day, and the baseline record flagged too); ``derived_records`` adds LOCF and
    end-of-treatment (LOV) records after ANL01FL (:func:`derive_locf_records`,
    :func:`derive_eot_records`).

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
    for hidden in (_FORMULA, _CENSORED_INPUTS):
        if hidden not in frame.columns:
            frame[hidden] = pd.Series(pd.NA, index=frame.index, dtype="str")

    # 6. baseline record, analysis visits, analysis record per window
    check_columns(frame, list(baseline.by), f"{dataset} (study.yaml adam.baseline.by)")
    rules = pd.Series(baseline.rule, index=frame.index, dtype="str")
    types = {b.basetype: i for i, b in enumerate(baseline.basetypes)}
    if baseline.basetypes:
        frame, rules = derive_basetype_records(frame, baseline)
    # BASETYPE copies: grouped in the order the definitions are declared
    frame["__basetype_n__"] = frame["BASETYPE"].map(types) if types else 0
    if baseline.by:
        frame = frame.assign(BASETYPE=basetype_by_group(frame, baseline))
    by = ["USUBJID", "PARAMCD", *(["BASETYPE"] if "BASETYPE" in frame else []), *baseline.by]
    reference = frame[baseline.reference]
    on_or_before = rules.eq("last_on_or_before").to_numpy()
    candidate = (frame["ADT"] <= reference).where(on_or_before, frame["ADT"] < reference)
    post = frame["ADT"].notna() & reference.notna() & ~candidate.fillna(False).astype(bool)
    # a result beyond a limit is a result: it is the baseline even when AVAL has no value
    has_result = frame["AVAL"].notna() | frame[_CENSOR].notna()
    frame = derive_var_extreme_flag(
        frame,
        by_vars=by,
        order=["ADT", "ADTM", "ATPTN", "SRCSEQ"],
        new_var="ABLFL",
        mode="last",
        filter=(candidate & has_result).fillna(False),
    )
    frame[_DAY] = _window_day(frame, visits, visit_dates)
    derive = derive_vars_avisit if visits.by == "window" else derive_vars_avisit_nominal
    frame = derive(frame, windows=list(visits.windows), day_var=_DAY)
    visitnum = pd.to_numeric(frame["VISITNUM"], errors="coerce")
    frame[_UNSCHEDULED] = (visitnum.notna() & ~visitnum.isin(visits.planned)).to_numpy()
    # unscheduled records (unscheduled: exclude) and those of excluded planned visits: kept,
    # with no analysis visit
    excluded = visitnum.isin(visits.excluded).to_numpy()
    if visits.unscheduled == "exclude":
        excluded = excluded | frame[_UNSCHEDULED].to_numpy(dtype=bool)
    frame[_EXCLUDED] = excluded
    not_post = ~post.to_numpy() | excluded
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
    frame = _analysis_flag(frame, analysis_flag, by, is_base)

    # derived records (admiral: after ANL01FL), then baseline values and change from baseline
    # on every post-baseline record, derived ones included
    frame[_KIND] = 0
    derived = [
        make(frame, record, by, visits, baseline)
        for record in derived_records
        for make in [_DERIVE_RECORDS[type(record)]]
    ]
    if derived:
        frame = pd.concat([frame, *derived], ignore_index=True)
        frame[_POST] = frame[_POST].astype(bool)

    # 7. baseline values and change from baseline (post-baseline records only)
    frame = derive_var_base(frame, by_vars=by)
    if frame["AVALC"].notna().any():
        frame = derive_var_base(frame, by_vars=by, source_var="AVALC", new_var="BASEC")
    else:
        frame["BASEC"] = pd.Series(pd.NA, index=frame.index, dtype="str")
    frame = derive_var_base(frame, by_vars=by, source_var="ANRIND", new_var="BNRIND")
    post_mask = pd.Series(frame[_POST].to_numpy(dtype=bool), index=frame.index)
    frame = restrict(derive_var_chg, filter=post_mask)(frame)
    frame = restrict(derive_var_pchg, filter=post_mask, digits=spec.pchg_digits)(frame)
    frame = _flag_imputed_base(frame, by)

    # order (observed records as before; derived ones after them, per parameter), then the
    # findings (record numbers as written)
    observed = frame[_KIND].eq(0).to_numpy()
    kept = frame.loc[observed].sort_values(
        ["USUBJID", "PARAMN", "PARAMCD", "__basetype_n__", "ADT", "ATPTN", "SRCSEQ"],
        kind="stable",
        na_position="last",
    )
    if derived:
        added = frame.loc[~observed].sort_values(
            ["USUBJID", "PARAMN", "PARAMCD", "__basetype_n__", _KIND, *by[2:], "AVISITN"],
            kind="stable",
            na_position="last",
        )
        kept = pd.concat([kept, added]).sort_values(
            ["USUBJID", "PARAMN", "PARAMCD", "__basetype_n__", _KIND], kind="stable",
            na_position="last",
        )
    frame = kept.drop(columns=["__basetype_n__"]).reset_index(drop=True)
    findings += _findings(frame, dataset, pre, visits)
    # variables for results beyond a limit are left out of a dataset that has none (ADVS)
    unused = [c for c in OPTIONAL if c in frame.columns and frame[c].isna().all()]
    return frame.drop(columns=unused), findings


def _where_mask(frame: pd.DataFrame, where: dict) -> pd.Series:
    """Records matching a study.yaml ``where``: numeric columns compare as numbers (ATPTN 815
    matches 815.0), text columns as trimmed text."""
    mask = pd.Series(True, index=frame.index)
    for column, wanted in where.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if column not in frame.columns:
            return pd.Series(False, index=frame.index)
        if pd.api.types.is_numeric_dtype(frame[column].dtype):
            numbers_wanted = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
            mask &= frame[column].isin(numbers_wanted.astype("float64").tolist())
        else:
            mask &= matches(frame, {column: values})
    return mask.astype(bool)


def derive_basetype_records(
    frame: pd.DataFrame, baseline: BaselineSpec
) -> tuple[pd.DataFrame, pd.Series]:
    """One copy of the records per baseline definition, with BASETYPE set (admiral's
    ``derive_basetype_records``), and each copy's baseline rule.

    Each definition of ``baseline.basetypes`` takes the records its ``where`` matches (every
    record without one), in definition order; a record no definition takes is dropped, as in
    admiral. Returns the records and, per record, the baseline rule of its definition.

    Example:
        >>> advs = pd.DataFrame({"USUBJID": ["1", "1"], "ATPTN": [815.0, 816.0]})
        >>> spec = BaselineSpec.model_validate({"rule": "last_on_or_before", "basetypes": [
        ...     {"basetype": "SUPINE", "where": {"ATPTN": 815}},
        ...     {"basetype": "ANY", "rule": "last_before"}]})
        >>> out, rules = derive_basetype_records(advs, spec)
        >>> out[["ATPTN", "BASETYPE"]].values.tolist(), rules.tolist()
        ([[815.0, 'SUPINE'], [815.0, 'ANY'], [816.0, 'ANY']], ['last_on_or_before', 'last_before', 'last_before'])
    """  # noqa: E501
    parts, rules = [], []
    for definition in baseline.basetypes:
        rows = frame.loc[_where_mask(frame, definition.where).to_numpy()]
        parts.append(rows.assign(BASETYPE=pd.Series(definition.basetype, index=rows.index,
                                                    dtype="str")))  # fmt: skip
        rules.append(pd.Series(definition.rule or baseline.rule, index=rows.index, dtype="str"))
    out = pd.concat(parts, ignore_index=True)
    return out, pd.concat(rules, ignore_index=True).set_axis(out.index)


def basetype_by_group(frame: pd.DataFrame, baseline: BaselineSpec) -> pd.Series:
    """BASETYPE of each record when baseline is per group of ``baseline.by`` (time points).

    The ADaMIG allows one baseline per USUBJID, PARAMCD and BASETYPE, so a baseline per time
    point needs a BASETYPE per time point, as admiral's ADVS template has it:
    ``"LAST: AFTER LYING DOWN FOR 5 MINUTES" = ATPTN == 815``, ..., ``"LAST" = is.na(ATPTN)``.
    The name is the record's baseline definition (BASETYPE of ``baseline.basetypes``, else
    LAST: both baseline rules take the last record), then ``": "`` and the record's values of
    the ``by`` variables (the text of a numeric code where the dataset has it: ATPT for ATPTN),
    joined by ", "; a record with none of them is the definition alone.

    Example:
        >>> advs = pd.DataFrame({"ATPTN": [815.0, np.nan], "ATPT": ["SUPINE", None]})
        >>> spec = BaselineSpec(rule="last_on_or_before", by=["ATPTN"])
        >>> basetype_by_group(advs, spec).tolist()
        ['LAST: SUPINE', 'LAST']
    """
    name = frame["BASETYPE"] if "BASETYPE" in frame else pd.Series("LAST", index=frame.index)
    name = name.astype("str")
    parts = []
    for var in baseline.by:
        shown = var[:-1] if var.endswith("N") and var[:-1] in frame.columns else var
        values = frame[shown]
        if pd.api.types.is_numeric_dtype(values.dtype):
            values = pd.Series(_number_text(values.astype("float64")), index=frame.index)
        parts.append(text(values.astype("str")))
    label = pd.Series(pd.NA, index=frame.index, dtype="str")
    for part in parts:
        label = label.where(part.isna(), (label + ", " + part).fillna(part))
    return name.where(label.isna(), name + ": " + label).astype("str")


def _analysis_flag(
    frame: pd.DataFrame, flag: AnalysisFlagSpec | None, by: list[str], is_base: np.ndarray
) -> pd.DataFrame:
    """ANL01FL by the declared rule (None: closest to the target day, baseline flagged too)."""
    not_base = lambda d: ~d["ABLFL"].eq("Y").fillna(False)  # noqa: E731
    if flag is None:
        out = derive_var_anl_flag(frame, by_vars=[*by, "AVISITN"], filter=not_base)
        out.loc[is_base, "ANL01FL"] = "Y"
        return out
    scheduled = "__scheduled__"
    out = derive_var_anl_flag(
        frame.assign(**{scheduled: ~frame[_UNSCHEDULED].astype(bool)}),
        by_vars=[*by, "AVISITN"],
        filter=not_base,
        rule=flag.rule,
        scheduled_var=scheduled if flag.prefer_scheduled else None,
        worst=flag.worst,
    ).drop(columns=[scheduled])
    if flag.include_baseline:
        out.loc[is_base, "ANL01FL"] = "Y"
    return out


_BLANK_ON_LOCF = ("ADT", "ADTM", "ADY", "VISIT", "VISITNUM", "AWTARGET", "AWTDIFF", "AWLO",
                  "AWHI", "AWU", "ABLFL", "ANRIND", "ANRLO", "ANRHI", _DAY)  # fmt: skip
"""What an LOCF record does not take from the record it carries: it has no date or visit of
its own (admiral's derive_locf_records fills only the by-variables, the analysis value and the
variables it is told to keep)."""


def derive_locf_records(
    frame: pd.DataFrame,
    spec: LocfSpec,
    by: Sequence[str],
    visits: AnalysisVisits,
    baseline: BaselineSpec,
) -> pd.DataFrame:
    """Last observation carried forward records (admiral's ``derive_locf_records``).

    The input is every record with ANL01FL = Y and a value at an analysis visit, and the
    baseline records (ABLFL = Y) unless ``spec.carry_baseline`` is false. For each ``by``
    group with such a record and each expected visit (``spec.visits``, else every window whose
    target day is after the baseline day) without one, a new record: a copy of the group's
    latest record of an earlier visit (AVISITN order; the baseline record is the earliest)
    with the expected visit's AVISIT/AVISITN, DTYPE "LOCF", ANL01FL "Y", and no date, day,
    visit, window or reference range of its own. Nothing to carry: no record. Returns the new
    records only (the caller adds them); their lineage is the carried record's.

    Example:
        >>> from trialflow.adam.windows import Window
        >>> visits = AnalysisVisits("window", (Window(1, "WEEK 1", 8, 5, 11),
        ...                                    Window(2, "WEEK 2", 15, 12, 18)))
        >>> advs = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["SYSBP"] * 2,
        ...                      "AVAL": [140.0, 131.0], "ABLFL": ["Y", None],
        ...                      "ANL01FL": ["Y", "Y"], "AVISIT": ["BASELINE", "WEEK 1"],
        ...                      "AVISITN": [0.0, 1.0], "DTYPE": [None, None]})
        >>> new = derive_locf_records(advs, LocfSpec(dtype="LOCF"), ["USUBJID", "PARAMCD"],
        ...                           visits, BaselineSpec(rule="last_on_or_before"))
        >>> new[["AVISIT", "AVISITN", "AVAL", "DTYPE"]].values.tolist()
        [['WEEK 2', 2.0, 131.0, 'LOCF']]
    """
    by = list(by)
    check_columns(frame, [*by, "AVAL", "AVISIT", "AVISITN", "ANL01FL", "ABLFL"], "LOCF records")
    expected = _expected_visits(spec, visits, baseline)
    is_base = frame["ABLFL"].eq("Y").fillna(False)
    observed = frame["ANL01FL"].eq("Y").fillna(False) & ~is_base & frame["AVAL"].notna()
    observed &= frame["AVISITN"].notna()
    if "DTYPE" in frame.columns:  # derived (LOCF, LOV) records are never carried
        observed &= ~frame["DTYPE"].isin(["LOCF", "LOV"]).fillna(False)
    source = observed | (is_base & frame["AVAL"].notna() & spec.carry_baseline)
    rows = frame.loc[source.to_numpy()]
    if rows.empty or not expected:
        return frame.iloc[0:0]
    # the carried position: the baseline before every visit
    order = rows["AVISITN"].where(~rows["ABLFL"].eq("Y").fillna(False), -np.inf)
    keys = rows[by].drop_duplicates().reset_index(drop=True)
    keys["__group__"] = np.arange(len(keys))
    # one number per group: merge_asof's "by" does not match null keys (ATPTN of WEIGHT)
    rows = rows.merge(keys, on=by, how="left").assign(__order__=order.astype("float64").to_numpy())
    have = rows.loc[~rows["ABLFL"].eq("Y").fillna(False)]
    targets = pd.DataFrame({"__target__": [n for n, _ in expected],
                            "__visit__": [v for _, v in expected]})  # fmt: skip
    grid = keys.merge(targets, how="cross")
    seen = have[["__group__", "AVISITN"]].rename(columns={"AVISITN": "__target__"})
    grid = grid.merge(seen.drop_duplicates().assign(__seen__=True), on=["__group__", "__target__"],
                      how="left")  # fmt: skip
    missing = grid.loc[grid["__seen__"].isna(), ["__group__", "__target__", "__visit__"]]
    if missing.empty:
        return frame.iloc[0:0]
    # each missing visit takes the group's latest record before it (merge_asof per group)
    carried = pd.merge_asof(
        missing.sort_values("__target__", kind="stable"),
        rows.sort_values("__order__", kind="stable"),
        left_on="__target__",
        right_on="__order__",
        by="__group__",
        allow_exact_matches=False,
        direction="backward",
    )
    carried = carried.loc[carried["__order__"].notna()]
    new = carried.assign(
        AVISITN=carried["__target__"].astype("float64"),
        AVISIT=carried["__visit__"].astype("str"),
        DTYPE="LOCF",
        ANL01FL="Y",
        **{_POST: True, _KIND: 1},
    )
    nothing = pd.Series(False, index=new.index)
    for col in _BLANK_ON_LOCF:
        if col in new.columns:
            new[col] = new[col].where(nothing)
    return new[[*[c for c in frame.columns if c in new.columns and c != _KIND], _KIND]]


def _expected_visits(
    spec: LocfSpec, visits: AnalysisVisits, baseline: BaselineSpec
) -> list[tuple[float, str]]:
    """(AVISITN, AVISIT) of the visits an LOCF record may fill, in AVISITN order."""
    windows = {w.avisit: w for w in visits.windows}
    if spec.visits is not None:
        unknown = [v for v in spec.visits if v not in windows]
        if unknown:
            raise DerivationError(
                f"study.yaml adam.derived_records LOCF visits: {', '.join(unknown)} is no "
                f"analysis visit (they are {', '.join(windows)})"
            )
        chosen = [windows[v] for v in spec.visits]
    else:
        # after the baseline day: ADY 1 (the first treatment), or day 0 of a reference visit
        day = 0 if visits.reference_visitnum is not None else 1
        chosen = [w for w in visits.windows if w.target > day]
    chosen = [w for w in chosen if w.avisitn != float(baseline.avisitn)]
    return sorted({(float(w.avisitn), w.avisit) for w in chosen})


def derive_eot_records(
    frame: pd.DataFrame,
    spec: EndOfTreatmentSpec,
    by: Sequence[str],
    visits: AnalysisVisits,
    baseline: BaselineSpec,
) -> pd.DataFrame:
    """End-of-treatment records, as admiral's ADVS template adds them (``derive_extreme_records``
    with ``mode = "last"``, ``order = exprs(ADT, AVISITN, ...)``, DTYPE "LOV").

    Per ``by`` group, a copy of the last (ADT, AVISITN, ADTM, SRCSEQ) post-baseline record
    with ANL01FL = Y, a value and no DTYPE that is on treatment: ADT no later than TRTEDT +
    ``spec.end_window`` days (a subject without TRTEDT: any post-baseline record, as admiral's
    ``derive_var_ontrtfl`` without an end date). The copy keeps every variable of its record
    (admiral keeps the source variables) but AVISIT/AVISITN (``spec.avisit``/``spec.avisitn``)
    and DTYPE "LOV". Returns the new records only; their lineage is the copied record's.

    Example:
        >>> advs = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["SYSBP"] * 2,
        ...                      "AVAL": [131.0, 128.0], "ANL01FL": ["Y", "Y"],
        ...                      "ABLFL": [None, None], "AVISITN": [1.0, 2.0],
        ...                      "AVISIT": ["WEEK 1", "WEEK 2"], "DTYPE": [None, None],
        ...                      "ADT": pd.to_datetime(["2020-01-08", "2020-01-15"]),
        ...                      "ADTM": pd.NaT, "SRCSEQ": [1.0, 2.0],
        ...                      "TRTEDT": pd.to_datetime(["2020-01-10"] * 2),
        ...                      "__post_baseline__": [True, True]})
        >>> new = derive_eot_records(advs, EndOfTreatmentSpec(dtype="LOV"),
        ...                          ["USUBJID", "PARAMCD"], None, None)
        >>> new[["AVISIT", "AVISITN", "AVAL", "DTYPE"]].values.tolist()
        [['END OF TREATMENT', 99.0, 131.0, 'LOV']]
    """
    by = list(by)
    needed = [*by, "AVAL", "ANL01FL", "ABLFL", "AVISITN", "ADT", "ADTM", "SRCSEQ", "TRTEDT"]
    check_columns(frame, needed, "end-of-treatment records")
    end = frame["TRTEDT"] + pd.to_timedelta(spec.end_window, unit="D")
    on_treatment = (frame["ADT"] <= end).fillna(False) | frame["TRTEDT"].isna()
    pick = frame["ANL01FL"].eq("Y").fillna(False) & ~frame["ABLFL"].eq("Y").fillna(False)
    pick &= frame["AVAL"].notna() & frame["AVISITN"].notna() & frame["ADT"].notna()
    pick &= frame[_POST].astype(bool) & on_treatment
    if "DTYPE" in frame.columns:
        pick &= frame["DTYPE"].isna()
    rows = frame.loc[pick.to_numpy()]
    last = rows.sort_values(["ADT", "AVISITN", "ADTM", "SRCSEQ"], kind="stable",
                            na_position="first").drop_duplicates(by, keep="last")  # fmt: skip
    return last.assign(
        AVISIT=pd.Series(spec.avisit, index=last.index, dtype="str"),
        AVISITN=float(spec.avisitn),
        DTYPE=pd.Series("LOV", index=last.index, dtype="str"),
        **{_KIND: 2},
    )


_DERIVE_RECORDS = {LocfSpec: derive_locf_records, EndOfTreatmentSpec: derive_eot_records}


def _flag_imputed_base(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """IMPUTFL = "Y" also where CHG uses a BASE that was imputed (or computed from one)."""
    if not frame["IMPUTFL"].notna().any():
        return frame
    base_imputed = derive_var_base(
        frame, by_vars=by, source_var="IMPUTFL", new_var="__BASEIMP__"
    )["__BASEIMP__"]
    uses = base_imputed.eq("Y").fillna(False) & frame["CHG"].notna()
    return frame.assign(IMPUTFL=frame["IMPUTFL"].mask(uses, "Y"))


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
    finer = digits.notna() & frame["AVAL"].notna() & frame["DTYPE"].isna()
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
    out += _result_findings(frame, dataset, pre)
    formula = frame.get(_FORMULA)
    if formula is not None:
        for name, reason in NULL_RESULT_REASON.items():
            null = formula.eq(name).fillna(False) & frame["AVAL"].isna()
            null &= frame[_CENSORED_INPUTS].isna()
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
    post = frame[_POST].astype(bool) & frame["AVAL"].notna() & frame[_KIND].eq(0)
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
    excluded = outside & frame[_EXCLUDED].astype(bool)
    outside &= ~excluded
    out += record_findings(
        frame,
        excluded,
        code="adam-outside-windows",
        severity="notice",
        dataset=dataset,
        variable="AVISIT",
        message=lambda r: (
            f"{r['PARAMCD']} at {r['VISIT']} ({unit} {_day_text(r[_DAY])} from {origin}) is at "
            + ("an unscheduled visit, which study.yaml adam.analysis_visits.unscheduled: "
               "exclude" if r[_UNSCHEDULED] else "a visit study.yaml adam.analysis_visits."
               "exclude lists, which it")
            + " keeps out of the analysis visits; it has no AVISIT and is not analysed"
        ),
    )
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


def _baseline_note(r: pd.Series) -> str:
    if r.get("ABLFL") == "Y":
        return "; it is the baseline record, so BASE, CHG and PCHG of the later records are empty"
    return ""


def _result_findings(frame: pd.DataFrame, dataset: str, pre: str) -> list[Finding]:
    """Records without an analysis value: each is named, with the reason and what follows.

    Results beyond a limit without a declared imputation (a warning; a notice when the spec
    declares ``none``), text results, records without a result, and computed records with a
    censored input (a warning, unless ``censored_inputs: missing`` is declared).
    """
    measured = frame[_FORMULA].isna() & ~frame[_UNIT_BAD]
    empty = frame["AVAL"].isna()
    direction = frame[_CENSOR]
    censored = measured & empty & direction.isin(["below", "above"]).fillna(False)
    declared = frame[_RULE].notna()

    def censored_message(r: pd.Series) -> str:
        side = r[_CENSOR]
        if pd.notna(r[_RULE]):
            why = f"study.yaml declares censored.{side}: none for {r['PARAMCD']}"
        else:
            why = (
                f"study.yaml declares no value for a result {side} the limit "
                f"(adam.datasets.{dataset} parameter {r['PARAMCD']}: censored.{side})"
            )
        return (
            f"{r['PARAMCD']} at {r['VISIT']} is {r['AVALC']!r}, {side} the limit of "
            f"quantification; {why}: AVAL is empty and the record is not analysed"
            + _baseline_note(r)
        )

    out = record_findings(
        frame, censored & ~declared, code="adam-result-censored", severity="warning",
        dataset=dataset, variable="AVALC", message=censored_message,
    )  # fmt: skip
    out += record_findings(
        frame, censored & declared, code="adam-result-censored", severity="notice",
        dataset=dataset, variable="AVALC", message=censored_message,
    )  # fmt: skip
    text_result = measured & empty & direction.isna() & frame["AVALC"].notna()
    out += record_findings(
        frame, text_result, code="adam-result-not-numeric", severity="notice",
        dataset=dataset, variable="AVALC",
        message=lambda r: (
            f"{r['PARAMCD']} at {r['VISIT']} is {r['AVALC']!r}, not a number: AVALC keeps it, "
            "AVAL is empty and the record is not analysed" + _baseline_note(r)
        ),
    )  # fmt: skip
    no_result = measured & empty & direction.isna() & frame["AVALC"].isna()
    out += record_findings(
        frame, no_result, code="adam-result-missing", severity="notice", dataset=dataset,
        variable="AVAL",
        message=lambda r: (
            f"{r['PARAMCD']} at {r['VISIT']} has no result in {pre}STRESN or {pre}STRESC "
            f"({pre}SEQ {r['SRCSEQ']:g}); the record is kept and not analysed"
        ),
    )  # fmt: skip
    inputs = frame[_CENSORED_INPUTS].notna()
    rule = frame[_RULE]

    def input_message(r: pd.Series) -> str:
        if r[_RULE] == "missing":
            why = "study.yaml declares censored_inputs: missing"
        elif r[_RULE] == "imputed":
            why = "censored_inputs: imputed, but the input's parameter declares no imputation"
        else:
            why = (
                "study.yaml declares no rule for it (adam.datasets."
                f"{dataset}.computed {r['PARAMCD']}: censored_inputs)"
            )
        return (
            f"{r['PARAMCD']} at {r['VISIT']} is not computed: {r[_CENSORED_INPUTS]} is beyond a "
            f"limit and {why}; AVAL is empty" + _baseline_note(r)
        )

    out += record_findings(
        frame, inputs & ~rule.eq("missing").fillna(False), code="adam-computed-censored-input",
        severity="warning", dataset=dataset, variable="AVAL", message=input_message,
    )  # fmt: skip
    out += record_findings(
        frame, inputs & rule.eq("missing").fillna(False), code="adam-computed-censored-input",
        severity="notice", dataset=dataset, variable="AVAL", message=input_message,
    )  # fmt: skip
    return out
