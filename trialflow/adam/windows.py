"""Analysis visit windows: AVISITN/AVISIT by study day, and one analysis record per window.

admiral has no windowing function; its templates join a reference table of windows
(``AVISIT, AWLO, AWHI, AVISITN, AWTARGET``) on ``AWLO <= ADY <= AWHI`` and then flag one record
per visit with ``derive_var_extreme_flag``. Here the same two steps are two functions:
:func:`derive_vars_avisit` assigns the window, :func:`derive_var_anl_flag` picks the record
closest to the window's target day. The planned schedule comes from the study spec
(``visits`` in study.yaml); :func:`windows_from_schedule` turns it into windows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trialflow.adam.dates import DerivationError, check_columns


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


def _as_windows(windows: Iterable[Window | Mapping[str, Any]]) -> list[Window]:
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
    for before, after in itertools.pairwise(out):
        if after.low <= before.high:
            raise DerivationError(
                f"windows {before.avisit!r} (days {before.low} to {before.high}) and "
                f"{after.avisit!r} (days {after.low} to {after.high}) overlap; "
                "a study day must fall in at most one window"
            )
    return out


def windows_from_schedule(visits: Sequence[Mapping[str, Any]], day_offset: int = 0) -> list[Window]:
    """Windows from the planned visits of the study spec (``visits`` in study.yaml).

    Each visit is a dict with ``visitnum``, ``visit``, ``day`` (planned day) and ``window``
    (+/- days allowed): ``target = day + day_offset``, ``low = target - window``,
    ``high = target + window``. Use ``day_offset=1`` when the schedule counts days from a
    day-0 visit but the analysis day (ADY) has no day 0, so planned day 0 is study day 1.
    Overlapping windows raise DerivationError.

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
    _as_windows(windows)
    return windows


def derive_vars_avisit(
    dataset: pd.DataFrame,
    *,
    windows: Iterable[Window | Mapping[str, Any]],
    day_var: str = "ADY",
) -> pd.DataFrame:
    """Add AVISITN, AVISIT, AWTARGET and AWTDIFF by the window each record's day falls in.

    ``windows`` are :class:`Window` objects or dicts with the same keys; ``low``/``high`` are
    inclusive. Overlapping windows raise DerivationError before any work is done. Records with
    a null day or a day outside every window get null in all four variables.
    ``AWTDIFF = abs(day - AWTARGET)``. Returns a new dataset in the input's row order.

    Example:
        >>> df = pd.DataFrame({"ADY": [1, 13, 30]})
        >>> w = [Window(1, "BASELINE", 1, -2, 1), Window(2, "DAY 14", 15, 12, 18)]
        >>> derive_vars_avisit(df, windows=w)
           ADY  AVISITN    AVISIT  AWTARGET  AWTDIFF
        0    1      1.0  BASELINE         1        0
        1   13      2.0    DAY 14        15        2
        2   30      NaN       NaN      <NA>     <NA>
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

    avisitn = np.array([w.avisitn for w in checked], dtype=float)[safe]
    avisit = np.array([w.avisit for w in checked], dtype=object)[safe]
    target = np.array([w.target for w in checked], dtype=np.int64)[safe]

    out = dataset.copy()
    out["AVISITN"] = pd.Series(np.where(inside, avisitn, np.nan), index=dataset.index)
    out["AVISIT"] = pd.Series(np.where(inside, avisit, None), index=dataset.index, dtype="str")
    awtarget = pd.Series(target, index=dataset.index, dtype="Int64").where(inside)
    out["AWTARGET"] = awtarget
    diff = (day - awtarget).abs()
    if bool((diff.dropna() % 1 == 0).all()):
        diff = diff.astype("Int64")
    out["AWTDIFF"] = diff
    return out


def derive_var_anl_flag(
    dataset: pd.DataFrame,
    *,
    by_vars: Sequence[str] = ("USUBJID", "PARAMCD", "AVISITN"),
    new_var: str = "ANL01FL",
    filter: Callable[[pd.DataFrame], Any] | None = None,
    day_var: str = "ADY",
    source_var: str = "AVAL",
) -> pd.DataFrame:
    """Flag ("Y") one analysis record per ``by_vars`` group: the one closest to the target day.

    Candidates are records with non-null AVISITN, ``source_var`` and AWTDIFF that pass
    ``filter`` (a function of the dataset returning a boolean mask). Within each group the
    record with the smallest AWTDIFF wins; on a tie the earlier ``day_var``, then the earlier
    row. Every other record gets null. Returns a new dataset in the input's row order.

    Example:
        >>> df = pd.DataFrame({"USUBJID": ["1", "1", "1"], "PARAMCD": ["HBA1C"] * 3,
        ...                    "AVISITN": [2.0, 2.0, 2.0], "ADY": [13, 17, 15],
        ...                    "AWTDIFF": [2, 2, 0], "AVAL": [7.1, 7.0, None]})
        >>> derive_var_anl_flag(df)["ANL01FL"].tolist()
        ['Y', nan, nan]
    """
    where = "derive_var_anl_flag"
    by = list(by_vars)
    required = list(dict.fromkeys([*by, "AVISITN", "AWTDIFF", day_var, source_var]))
    check_columns(dataset, required, where)
    keep = (
        dataset["AVISITN"].notna() & dataset[source_var].notna() & dataset["AWTDIFF"].notna()
    ).to_numpy(dtype=bool, copy=True)
    if filter is not None:
        mask = pd.Series(filter(dataset), index=dataset.index)
        if len(mask) != len(dataset):
            raise DerivationError(f"{where}: filter must return one value per record")
        keep = keep & mask.fillna(False).astype(bool).to_numpy()

    pos = "__trialflow_row__"
    while pos in dataset.columns:
        pos += "_"
    candidates = dataset.loc[keep, [*by, "AWTDIFF", day_var]].copy()
    candidates[pos] = np.flatnonzero(keep)
    ordered = candidates.sort_values(["AWTDIFF", day_var, pos], kind="stable", na_position="last")
    chosen = ordered.drop_duplicates(subset=by, keep="first")[pos].to_numpy()

    flag = np.full(len(dataset), None, dtype=object)
    flag[chosen] = "Y"
    out = dataset.copy()
    out[new_var] = pd.Series(flag, index=dataset.index, dtype="str")
    return out
