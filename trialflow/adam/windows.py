"""Analysis visits: AVISITN/AVISIT by window or by nominal visit, and one analysis record each.

admiral has no windowing function; its templates join a reference table of windows
(``AVISIT, AWLO, AWHI, AVISITN, AWTARGET``) on ``AWLO <= ADY <= AWHI`` and then flag one record
per visit with ``derive_var_extreme_flag``. Here the same steps are functions:
:func:`derive_vars_avisit` assigns the window a record's day falls in,
:func:`derive_vars_avisit_nominal` assigns the record's planned visit (VISITNUM) with that
visit's window, and :func:`derive_var_anl_flag` picks the record closest to the target day.

The day may be ADY (days from the first treatment, TRTSDT = day 1) or the days from the
subject's date of a planned visit (:func:`compute_visit_dates`; that date is day 0), as the
SAP says; study.yaml's ``adam.analysis_visits`` declares which (:func:`analysis_visits`), and
:func:`windows_from_schedule` turns the planned schedule (``visits``) into windows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from trialflow.adam.dates import DerivationError, check_columns
from trialflow.mapping.spec import StudySpec, VisitReference


@dataclass(frozen=True)
class Window:
    """One analysis window: study days ``low`` to ``high`` (inclusive) around ``target``.

    Example:
        >>> Window(avisitn=2, avisit="DAY 14", target=15, low=12, high=18)
        Window(avisitn=2, avisit='DAY 14', target=15, low=12, high=18)
    """

    avisitn: float
    avisit: str
    target: int
    low: int
    high: int


@dataclass(frozen=True)
class AnalysisVisits:
    """The analysis visit rule of a study, resolved from study.yaml by :func:`analysis_visits`.

    ``by`` is ``"window"`` (the window the day falls in) or ``"nominal_visit"`` (the record's
    VISITNUM, the window's ``avisitn``); ``reference_visitnum`` is the planned visit whose date
    is day 0, or None when days are ADY (the first treatment is day 1); ``reference`` names the
    origin in messages. ``planned`` holds the VISITNUMs of the planned visits (a record of any
    other visit is unscheduled) and ``unscheduled`` says whether unscheduled records get a
    window (``include``) or none (``exclude``); records of the planned visits ``excluded``
    (VISITNUMs) get none either.

    Example:
        >>> AnalysisVisits("window", (Window(2, "DAY 14", 14, 11, 17),), 1.0, "DAY 0").by
        'window'
    """

    by: str
    windows: tuple[Window, ...]
    reference_visitnum: float | None = None
    reference: str = "first treatment"
    planned: tuple[float, ...] = field(default=(), repr=False)
    unscheduled: str = field(default="include", repr=False)
    excluded: tuple[float, ...] = field(default=(), repr=False)


def _as_windows(
    windows: Iterable[Window | Mapping[str, Any]], *, disjoint: bool = True
) -> list[Window]:
    """Windows from Window objects or dicts; checked and sorted by ``low``."""
    out: list[Window] = []
    for i, w in enumerate(windows):
        if isinstance(w, Mapping):
            try:
                w = Window(**w)
            except TypeError as err:
                raise DerivationError(f"windows[{i}]: {err}") from None
        if not isinstance(w, Window):
            raise DerivationError(f"windows[{i}] must be a Window or a dict, not {type(w)}")
        if not w.low <= w.target <= w.high:
            raise DerivationError(
                f"window {w.avisit!r}: need low <= target <= high, got "
                f"low={w.low}, target={w.target}, high={w.high}"
            )
        out.append(w)
    if not out:
        raise DerivationError("windows: at least one window is needed")
    out.sort(key=lambda w: (w.low, w.high))
    for before, after in itertools.pairwise(out if disjoint else []):
        if after.low <= before.high:
            raise DerivationError(
                f"windows {before.avisit!r} (days {before.low} to {before.high}) and "
                f"{after.avisit!r} (days {after.low} to {after.high}) overlap; "
                "a study day must fall in at most one window"
            )
    return out


def windows_from_schedule(
    visits: Sequence[Mapping[str, Any]], day_offset: int = 0, *, disjoint: bool = True
) -> list[Window]:
    """Windows from the planned visits of the study spec (``visits`` in study.yaml).

    Each visit is a dict with ``visitnum``, ``visit``, ``day`` (planned day) and ``window``
    (+/- days allowed): ``target = day + day_offset``, ``low = target - window``,
    ``high = target + window``. Use ``day_offset=1`` when the schedule counts days from a
    day-0 visit but the analysis day (ADY) has no day 0, so planned day 0 is study day 1.
    Overlapping windows raise DerivationError unless ``disjoint=False`` (windows of nominal
    visits may overlap).

    Example:
        >>> windows_from_schedule([{"visitnum": 2, "visit": "DAY 14", "day": 14, "window": 3}])
        [Window(avisitn=2.0, avisit='DAY 14', target=14, low=11, high=17)]
    """
    windows: list[Window] = []
    for i, v in enumerate(visits):
        missing = [k for k in ("visitnum", "visit", "day", "window") if k not in v]
        if missing:
            raise DerivationError(f"visits[{i}]: missing key(s): {', '.join(missing)}")
        target = int(v["day"]) + day_offset
        width = int(v["window"])
        if width < 0:
            raise DerivationError(f"visits[{i}]: window must be >= 0, got {width}")
        windows.append(
            Window(
                avisitn=float(v["visitnum"]),
                avisit=str(v["visit"]),
                target=target,
                low=target - width,
                high=target + width,
            )
        )
    _as_windows(windows, disjoint=disjoint)
    return windows


def analysis_visits(spec: StudySpec) -> AnalysisVisits:
    """The analysis visit rule of study.yaml (``adam.analysis_visits``), with its windows.

    ``windows: schedule`` takes each planned visit with a ``window``: target its ``day``, low
    and high ``day`` -/+ ``window`` (in the days of the reference, as the schedule counts).

    Example:
        >>> from trialflow.mapping.spec import StudySpec
        >>> spec = StudySpec.model_validate({
        ...     "study": {"studyid": "S"}, "domains": ["DM"], "arms": [{"armcd": "A", "arm": "A"}],
        ...     "visits": [{"visitnum": 1, "visit": "DAY 0", "day": 0, "window": 3},
        ...                {"visitnum": 2, "visit": "DAY 14", "day": 14, "window": 3}],
        ...     "adam": {"treatment": {}, "baseline": {"rule": "last_on_or_before"},
        ...              "analysis_visits": {"by": "window", "reference": {"visit": "DAY 0"},
        ...                                  "windows": "schedule"}}})
        >>> analysis_visits(spec)
        AnalysisVisits(by='window', windows=(Window(avisitn=1.0, avisit='DAY 0', target=0, low=-3, high=3), Window(avisitn=2.0, avisit='DAY 14', target=14, low=11, high=17)), reference_visitnum=1.0, reference='DAY 0')
    """  # noqa: E501
    if spec.adam is None:
        raise DerivationError("study.yaml has no adam section: no analysis visit rule")
    rule = spec.adam.analysis_visits
    if rule.windows == "schedule":
        timed = [v.model_dump() for v in spec.visits if v.window is not None]
        windows = windows_from_schedule(timed, disjoint=rule.by == "window")
    else:
        windows = [Window(w.avisitn, w.avisit, w.target, w.low, w.high) for w in rule.windows]
    planned = tuple(float(v.visitnum) for v in spec.visits)
    excluded = tuple(float(v.visitnum) for v in spec.visits if v.visit in rule.exclude)
    extra = {"planned": planned, "unscheduled": rule.unscheduled, "excluded": excluded}
    if not isinstance(rule.reference, VisitReference):
        return AnalysisVisits(rule.by, tuple(windows), **extra)
    visitnum = next(v.visitnum for v in spec.visits if v.visit == rule.reference.visit)
    return AnalysisVisits(rule.by, tuple(windows), float(visitnum), rule.reference.visit,
                          **extra)  # fmt: skip


def describe_analysis_visits(rule: AnalysisVisits) -> str:
    """The analysis visit rule in one sentence, as a report states the SAP's rule.

    Example:
        >>> describe_analysis_visits(AnalysisVisits(
        ...     "window", (Window(2, "DAY 14", 14, 11, 17), Window(4, "DAY 28", 28, 25, 31)),
        ...     1.0, "DAY 0"))
        'Analysis visits by window, in days after the DAY 0 visit (day 0): DAY 14 days 11 to 17 (target 14), DAY 28 days 25 to 31 (target 28); a record in no window is not analysed.'
    """  # noqa: E501
    origin = (
        f"in days after the {rule.reference} visit (day 0)"
        if rule.reference_visitnum is not None
        else "in analysis days (ADY; the first treatment is day 1)"
    )
    windows = ", ".join(
        f"{w.avisit} days {w.low:g} to {w.high:g} (target {w.target:g})" for w in rule.windows
    )
    if rule.by == "window":
        return (
            f"Analysis visits by window, {origin}: {windows}; a record in no window is not "
            "analysed."
        )
    return (
        f"Analysis visits by nominal visit, windows {origin}: {windows}; a record outside its "
        "visit's window is analysed at its visit and reported."
    )


def compute_visit_dates(
    records: pd.DataFrame,
    *,
    visitnum: float,
    date_var: str = "ADT",
    by_var: str = "USUBJID",
    visit_var: str = "VISITNUM",
) -> pd.Series:
    """The date of one planned visit per subject: the earliest date of its records there.

    ``records`` holds ``by_var``, ``visit_var`` and ``date_var`` (datetimes; null dates are
    skipped). Returns a Series of dates indexed by ``by_var``; a subject without a dated
    record at the visit is not in it.

    Example:
        >>> lb = pd.DataFrame({"USUBJID": ["1", "1", "2"], "VISITNUM": [1.0, 1.0, 2.0],
        ...                    "ADT": pd.to_datetime(["2020-01-04", "2020-01-03", "2020-01-20"])})
        >>> compute_visit_dates(lb, visitnum=1).to_dict()
        {'1': Timestamp('2020-01-03 00:00:00')}
    """
    check_columns(records, [by_var, visit_var, date_var], "compute_visit_dates")
    number = pd.to_numeric(records[visit_var], errors="coerce")
    dates = pd.to_datetime(records[date_var])
    keep = (number == visitnum) & dates.notna()
    found = pd.DataFrame({by_var: records[by_var], "date": dates}).loc[keep.to_numpy()]
    return found.groupby(by_var, sort=True)["date"].min().rename(date_var)


_WINDOW_VARS = ("AVISITN", "AVISIT", "AWTARGET", "AWTDIFF", "AWLO", "AWHI")


def _window_vars(
    dataset: pd.DataFrame, checked: list[Window], pick: np.ndarray, day: pd.Series
) -> pd.DataFrame:
    """The dataset with the window variables of window ``pick[i]`` on row i (-1: none)."""
    has = pick >= 0
    safe = np.where(has, pick, 0)

    def column(values: list, dtype: Any) -> np.ndarray:
        return np.array(values, dtype=dtype)[safe]

    out = dataset.copy()
    out["AVISITN"] = pd.Series(
        np.where(has, column([w.avisitn for w in checked], float), np.nan), index=dataset.index
    )
    out["AVISIT"] = pd.Series(
        np.where(has, column([w.avisit for w in checked], object), None),
        index=dataset.index,
        dtype="str",
    )
    for name, values in (
        ("AWTARGET", [w.target for w in checked]),
        ("AWLO", [w.low for w in checked]),
        ("AWHI", [w.high for w in checked]),
    ):
        out[name] = pd.Series(column(values, np.int64), index=dataset.index, dtype="Int64").where(
            has
        )
    diff = (day - out["AWTARGET"]).abs()
    if bool((diff.dropna() % 1 == 0).all()):
        diff = diff.astype("Int64")
    out["AWTDIFF"] = diff
    return out[[*dataset.columns, *_WINDOW_VARS]]


def derive_vars_avisit(
    dataset: pd.DataFrame,
    *,
    windows: Iterable[Window | Mapping[str, Any]],
    day_var: str = "ADY",
) -> pd.DataFrame:
    """Add AVISITN, AVISIT, AWTARGET, AWTDIFF, AWLO and AWHI by the window each record's day
    falls in.

    ``windows`` are :class:`Window` objects or dicts with the same keys; ``low``/``high`` are
    inclusive. Overlapping windows raise DerivationError before any work is done. Records with
    a null day or a day outside every window get null in all six variables: a record is never
    put in a window its day is not in. ``AWTDIFF = abs(day - AWTARGET)``; AWTARGET, AWLO and
    AWHI are in the days of ``day_var``. Returns a new dataset in the input's row order.

    Example:
        >>> df = pd.DataFrame({"ADY": [1, 13, 30]})
        >>> w = [Window(1, "BASELINE", 1, -2, 1), Window(2, "DAY 14", 15, 12, 18)]
        >>> derive_vars_avisit(df, windows=w)
           ADY  AVISITN    AVISIT  AWTARGET  AWTDIFF  AWLO  AWHI
        0    1      1.0  BASELINE         1        0    -2     1
        1   13      2.0    DAY 14        15        2    12    18
        2   30      NaN       NaN      <NA>     <NA>  <NA>  <NA>
    """
    checked = _as_windows(windows)
    check_columns(dataset, [day_var], "derive_vars_avisit")
    day = pd.to_numeric(dataset[day_var], errors="coerce").astype("Float64")
    values = day.to_numpy(dtype=float, na_value=np.nan)
    lows = np.array([w.low for w in checked], dtype=float)
    highs = np.array([w.high for w in checked], dtype=float)
    idx = np.searchsorted(lows, values, side="right") - 1
    safe = np.clip(idx, 0, len(checked) - 1)
    inside = ~np.isnan(values) & (idx >= 0) & (values <= highs[safe])
    return _window_vars(dataset, checked, np.where(inside, idx, -1), day)


def derive_vars_avisit_nominal(
    dataset: pd.DataFrame,
    *,
    windows: Iterable[Window | Mapping[str, Any]],
    day_var: str = "ADY",
    visit_var: str = "VISITNUM",
) -> pd.DataFrame:
    """Add AVISITN, AVISIT, AWTARGET, AWTDIFF, AWLO and AWHI by each record's planned visit.

    A record whose ``visit_var`` equals a window's ``avisitn`` gets that window, whatever its
    day: a record outside its visit's window (day below AWLO or above AWHI) keeps its visit and
    is not moved to another one; the caller reports it. AWTDIFF is null when the day is.
    Records of other visits (unscheduled ones) get null in all six variables. Windows may
    overlap here; each ``avisitn`` may appear once. Returns a new dataset in the input's order.

    Example:
        >>> df = pd.DataFrame({"VISITNUM": [2.0, 2.0, 2.01], "ADY": [15, 20, 16]})
        >>> derive_vars_avisit_nominal(df, windows=[Window(2, "DAY 14", 14, 11, 17)])
           VISITNUM  ADY  AVISITN  AVISIT  AWTARGET  AWTDIFF  AWLO  AWHI
        0      2.00   15      2.0  DAY 14        14        1    11    17
        1      2.00   20      2.0  DAY 14        14        6    11    17
        2      2.01   16      NaN     NaN      <NA>     <NA>  <NA>  <NA>
    """
    checked = _as_windows(windows, disjoint=False)
    numbers = [w.avisitn for w in checked]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    if twice:
        raise DerivationError(f"windows: avisitn {twice[0]:g} is given twice")
    check_columns(dataset, [day_var, visit_var], "derive_vars_avisit_nominal")
    day = pd.to_numeric(dataset[day_var], errors="coerce").astype("Float64")
    visit = pd.to_numeric(dataset[visit_var], errors="coerce").astype("float64")
    pick = pd.Index(np.array(numbers, dtype=float)).get_indexer(visit.to_numpy())
    return _window_vars(dataset, checked, pick, day)


AnlRule = Literal["closest", "first", "last", "worst"]
"""How :func:`derive_var_anl_flag` picks the analysis record of a visit."""

_ORDER_VARS = ("ADT", "ADTM", "SRCSEQ")
"""The record order of the first, last and worst rules (date, datetime, source --SEQ)."""


def derive_var_anl_flag(
    dataset: pd.DataFrame,
    *,
    by_vars: Sequence[str] = ("USUBJID", "PARAMCD", "AVISITN"),
    new_var: str = "ANL01FL",
    filter: Callable[[pd.DataFrame], Any] | None = None,
    day_var: str = "ADY",
    source_var: str = "AVAL",
    rule: AnlRule = "closest",
    scheduled_var: str | None = None,
    worst: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Flag ("Y") one analysis record per ``by_vars`` group, by ``rule``.

    Candidates are records with non-null AVISITN and ``source_var`` that pass ``filter`` (a
    function of the dataset returning a boolean mask). With ``scheduled_var`` (a boolean
    column, True for a record of a planned visit) scheduled records win over unscheduled ones
    first. Then ``rule``:

    * ``closest``: the smallest AWTDIFF (a null AWTDIFF, a record at its nominal visit without
      a day, last); on a tie the earlier ``day_var``, then the earlier row;
    * ``first`` / ``last``: the earliest / latest by ADT, ADTM, SRCSEQ (a null sorts last
      either way); on a full tie the earlier / later row;
    * ``worst``: the highest or lowest ``source_var`` as ``worst`` maps the record's PARAMCD
      (``{"SYSBP": "highest"}``); on a tie the earlier ADT, ADTM, SRCSEQ, then row.

    Every other record gets null. Returns a new dataset in the input's row order.

    Example:
        >>> df = pd.DataFrame({"USUBJID": ["1", "1", "1"], "PARAMCD": ["HBA1C"] * 3,
        ...                    "AVISITN": [2.0, 2.0, 2.0], "ADY": [13, 17, 15],
        ...                    "AWTDIFF": [2, 2, 0], "AVAL": [7.1, 7.0, None]})
        >>> derive_var_anl_flag(df)["ANL01FL"].tolist()
        ['Y', nan, nan]
        >>> df = df.assign(ADT=pd.to_datetime(["2020-01-13", "2020-01-17", "2020-01-15"]),
        ...                ADTM=pd.NaT, SRCSEQ=[1.0, 2.0, 3.0])
        >>> derive_var_anl_flag(df, rule="last")["ANL01FL"].tolist()
        [nan, 'Y', nan]
        >>> derive_var_anl_flag(df, rule="worst", worst={"HBA1C": "highest"})["ANL01FL"].tolist()
        ['Y', nan, nan]
    """
    where = "derive_var_anl_flag"
    by = list(by_vars)
    if rule not in ("closest", "first", "last", "worst"):
        raise DerivationError(f"{where}: rule must be closest, first, last or worst, not {rule!r}")
    keys = ["AWTDIFF", day_var] if rule == "closest" else list(_ORDER_VARS)
    if rule == "worst":
        keys.append("PARAMCD")
    extra = [scheduled_var] if scheduled_var else []
    required = list(dict.fromkeys([*by, "AVISITN", *keys, *extra, source_var]))
    check_columns(dataset, required, where)
    keep = (dataset["AVISITN"].notna() & dataset[source_var].notna()).to_numpy(
        dtype=bool, copy=True
    )
    if filter is not None:
        mask = pd.Series(filter(dataset), index=dataset.index)
        if len(mask) != len(dataset):
            raise DerivationError(f"{where}: filter must return one value per record")
        keep = keep & mask.fillna(False).astype(bool).to_numpy()

    pos = "__trialflow_row__"
    while pos in dataset.columns:
        pos += "_"
    columns = list(dict.fromkeys([*by, *keys, *extra, source_var]))
    candidates = dataset.loc[keep, columns].copy()
    candidates[pos] = np.flatnonzero(keep)
    sort: list[str] = []
    ascending: list[bool] = []
    if scheduled_var:
        candidates["__unscheduled__"] = ~candidates[scheduled_var].astype(bool)
        sort, ascending = ["__unscheduled__"], [True]
    if rule == "closest":
        sort += ["AWTDIFF", day_var, pos]
        ascending += [True, True, True]
    elif rule in ("first", "last"):
        up = rule == "first"
        sort += [*_ORDER_VARS, pos]
        ascending += [up] * 4
    else:
        direction = candidates["PARAMCD"].astype("str").map(dict(worst or {}))
        unknown = sorted(set(candidates.loc[direction.isna(), "PARAMCD"].astype("str")))
        if unknown:
            raise DerivationError(
                f"{where}: rule worst needs highest or lowest for PARAMCD {', '.join(unknown)}"
            )
        value = pd.to_numeric(candidates[source_var], errors="coerce").astype("float64")
        candidates["__worst__"] = value.where(direction.eq("lowest"), -value)
        sort += ["__worst__", *_ORDER_VARS, pos]
        ascending += [True] * 5
    ordered = candidates.sort_values(sort, ascending=ascending, kind="stable", na_position="last")
    chosen = ordered.drop_duplicates(subset=by, keep="first")[pos].to_numpy()

    flag = np.full(len(dataset), None, dtype=object)
    flag[chosen] = "Y"
    out = dataset.copy()
    out[new_var] = pd.Series(flag, index=dataset.index, dtype="str")
    return out
