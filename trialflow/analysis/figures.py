"""Figures of the change-from-baseline analysis as PNG bytes.

Both figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no display,
no global figure state) under matplotlib's default style plus a fixed set of overrides, at a
fixed size and resolution and without the "Software" PNG metadata, so that the same input
always gives the same bytes on a given matplotlib and FreeType.

* :func:`figure_median_iqr`: median of AVAL with Q1-Q3 error bars by analysis visit, with
  the visits whose change from baseline is significant marked ``*`` / ``**``
  (:func:`significance_marks`).
* :func:`figure_chg_boxplot`: box plots of CHG by post-baseline visit. The boxes' quartiles
  and medians are the CHG rows of the summary (:func:`chg_box_stats`), so the figure and
  cfb_summary.csv show the same numbers by the study's quantile method.
* :func:`figure_median_iqr_by_group` and :func:`figure_chg_boxplot_by_group`: the same with
  one line or box per treatment group (the GROUP rows of the summary), for studies with arms.

Every footnote names the quantile method and the signed-rank test (QUANTILE_METHOD,
TEST_METHOD and TEST of the summary).

Example:
    >>> summary = pd.DataFrame({
    ...     "PARAMCD": ["FPG"] * 3, "AVISITN": [0.0, 2.0, 2.0],
    ...     "AVISIT": ["BASELINE", "DAY 14", "DAY 14"], "VAR": ["AVAL", "AVAL", "CHG"],
    ...     "N": [8, 8, 8], "MEDIAN": [9.1, 7.8, -1.2], "Q1": [8.4, 7.1, -1.9],
    ...     "Q3": [9.9, 8.6, -0.4], "P_VALUE": [None, None, 0.008],
    ...     "TEST": [None, None, "Wilcoxon signed rank exact test"],
    ...     "QUANTILE_METHOD": ["sas5"] * 3, "TEST_METHOD": ["r"] * 3})
    >>> significance_marks(summary, "FPG", 0.05)
    {2.0: '**'}
    >>> figure_median_iqr(summary, "FPG", title="FPG")[:8] == PNG_SIGNATURE
    True
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Sequence

import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The first eight bytes of every PNG file."""

FIGSIZE = (8.0, 4.8)
"""Figure size in inches."""

DPI = 150
"""Resolution; with :data:`FIGSIZE` every figure is 1200 x 720 pixels."""

SIZE_PX = (round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI))
"""(width, height) in pixels of every figure."""

_INK = "#1f2933"
_ACCENT = "#1f5f99"
_MUTED = "#52606d"
_GRID = "#d9dee3"

_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10.0,
    "axes.titlesize": 12.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10.0,
    "axes.edgecolor": _MUTED,
    "axes.labelcolor": _INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.axisbelow": True,
    "grid.color": _GRID,
    "grid.linewidth": 0.8,
    "xtick.color": _INK,
    "ytick.color": _INK,
    "text.color": _INK,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
}

_FOOTNOTE_WIDTH = 140
"""Characters per footnote line at 7.5 pt across the figure width."""

_SUMMARY_NEEDED = ("PARAMCD", "AVISITN", "AVISIT", "VAR", "N", "MEDIAN", "Q1", "Q3")
_BDS_NEEDED = ("PARAMCD", "AVISITN", "AVISIT", "CHG", "ANL01FL")


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: required column(s) missing: {', '.join(missing)}")


def _numeric(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _text(value: object) -> str:
    """A cell as text; missing values (None, NaN, pandas NA) as the empty string."""
    if value is None:
        return ""
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return ""
    except (TypeError, ValueError):
        pass
    return str(value).strip()


def _distinct(values: pd.Series) -> list[str]:
    """Distinct non-empty texts in order of appearance."""
    seen: list[str] = []
    for value in values:
        text = _text(value)
        if text and text not in seen:
            seen.append(text)
    return seen


def _new_figure() -> tuple[Figure, FigureCanvasAgg]:
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    return fig, FigureCanvasAgg(fig)


def _fit_axes(fig: Figure, rect: tuple[float, float, float, float]) -> None:
    """Fit the figure's one Axes, with its axis labels and tick labels, inside ``rect``
    (figure fractions: left, bottom, right, top) with tight_layout's padding, and its title
    above it.

    ``Figure.tight_layout`` measures every text of the figure twice (a second pass corrects
    the first for a long title, which starts at the Axes' left edge and so moves with it) and
    was a third of the time of a figure. Measuring once, the axes' labels for the sides and
    the whole Axes, title included, for the top, puts the Axes where tight_layout's second
    pass does. Figures with more Axes get tight_layout itself.
    """
    if len(fig.axes) != 1:
        fig.tight_layout(rect=rect)
        return
    (ax,) = fig.axes
    renderer = fig.canvas.get_renderer()
    inner = ax.get_position().transformed(fig.transFigure)
    whole = ax.get_tightbbox(renderer)
    sides = Bbox.union(
        [inner]
        + [b for b in (ax.xaxis.get_tightbbox(renderer), ax.yaxis.get_tightbbox(renderer))
           if b is not None and b.width and b.height]
    )  # fmt: skip
    pad = 1.08 * float(matplotlib.rcParams["font.size"]) / 72.0 * fig.dpi
    width, height = fig.bbox.width, fig.bbox.height
    left, bottom, right, top = rect
    fig.subplots_adjust(
        left=left + (inner.x0 - sides.x0 + pad) / width,
        right=right - (sides.x1 - inner.x1 + pad) / width,
        bottom=bottom + (inner.y0 - sides.y0 + pad) / height,
        top=top - (whole.y1 - inner.y1 + pad) / height,
    )


def _png(fig: Figure, footnote: str) -> bytes:
    """Lay out, add the footnote at the bottom left and encode as PNG without metadata."""
    wrapped = "\n".join(
        textwrap.fill(paragraph, _FOOTNOTE_WIDTH) for paragraph in footnote.split("\n")
    )
    fig.text(0.012, 0.015, wrapped, ha="left", va="bottom", fontsize=7.5, color=_MUTED)
    lines = wrapped.count("\n") + 1
    _fit_axes(fig, (0.0, 0.03 + 0.028 * lines, 1.0, 1.0))
    buffer = io.BytesIO()
    # The canvas prints the figure as laid out, in one draw: savefig would first draw it once
    # more with rendering disabled, because tight_layout leaves a placeholder layout engine on
    # the figure. The PNG is byte for byte the same (same DPI, facecolor, metadata).
    fig.canvas.print_png(buffer, metadata={"Software": None})
    return buffer.getvalue()


def _visit_label(avisit: object, avisitn: float) -> str:
    text = _text(avisit)
    return text if text else f"visit {avisitn:g}"


def significance_marks(
    summary: pd.DataFrame, paramcd: str, alpha: float = 0.05
) -> dict[float, str]:
    """The marker of each post-baseline visit whose change from baseline is significant.

    Looks at the CHG rows of ``paramcd`` with AVISITN > 0: ``"**"`` when P_VALUE < 0.01
    (and < ``alpha``), ``"*"`` when P_VALUE < ``alpha``; visits without a P_VALUE or not
    significant are left out. Keys are AVISITN as float.

    Example:
        >>> s = pd.DataFrame({"PARAMCD": ["A"] * 4, "VAR": ["CHG"] * 4,
        ...                   "AVISITN": [1, 2, 3, 4], "P_VALUE": [0.2, 0.03, 0.004, None]})
        >>> significance_marks(s, "A", 0.05)
        {2.0: '*', 3.0: '**'}
        >>> significance_marks(s, "A", 0.01)
        {3.0: '**'}
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    _require(summary, ("PARAMCD", "VAR", "AVISITN"), "significance_marks")
    if "P_VALUE" not in summary.columns:
        return {}
    rows = summary[
        (summary["PARAMCD"] == paramcd).to_numpy() & (summary["VAR"] == "CHG").to_numpy()
    ]
    visits = _numeric(rows["AVISITN"]).to_numpy()
    p_values = _numeric(rows["P_VALUE"]).to_numpy()
    marks: dict[float, str] = {}
    for avisitn, p in sorted(zip(visits, p_values, strict=True)):
        if math.isnan(avisitn) or avisitn <= 0 or math.isnan(p) or p >= alpha:
            continue
        marks[float(avisitn)] = "**" if p < 0.01 else "*"
    return marks


def figure_median_iqr(
    summary: pd.DataFrame, paramcd: str, *, title: str, alpha: float = 0.05
) -> bytes:
    """Median of AVAL with Q1-Q3 error bars by analysis visit, as PNG bytes.

    ``summary`` has the columns of cfb_summary.csv. The visits (AVAL rows of ``paramcd``)
    are placed at x = AVISITN, baseline first, and labelled with AVISIT and n. Visits whose
    CHG row has P_VALUE < ``alpha`` are marked ``*`` (``**`` when p < 0.01) above the bar;
    the footnote names the test (TEST) and the quantile method (QUANTILE_METHOD). A visit
    with one value is drawn as a point; missing P_VALUEs mean no marker.

    Raises ValueError when ``summary`` has no AVAL rows with a median for ``paramcd``.

    Example:
        >>> s = pd.DataFrame({"PARAMCD": ["A", "A"], "AVISITN": [0.0, 1.0],
        ...                   "AVISIT": ["BASELINE", "WEEK 1"], "VAR": ["AVAL", "AVAL"],
        ...                   "N": [1, 1], "MEDIAN": [5.0, 4.0], "Q1": [5.0, 4.0],
        ...                   "Q3": [5.0, 4.0]})
        >>> figure_median_iqr(s, "A", title="A")[:8] == PNG_SIGNATURE
        True
    """
    _require(summary, _SUMMARY_NEEDED, "figure_median_iqr")
    rows = summary[
        (summary["PARAMCD"] == paramcd).to_numpy() & (summary["VAR"] == "AVAL").to_numpy()
    ]
    rows = rows.assign(
        _X=_numeric(rows["AVISITN"]),
        _MED=_numeric(rows["MEDIAN"]),
        _Q1=_numeric(rows["Q1"]),
        _Q3=_numeric(rows["Q3"]),
        _N=_numeric(rows["N"]),
    )
    rows = rows[rows["_X"].notna().to_numpy() & rows["_MED"].notna().to_numpy()]
    rows = rows.sort_values("_X", kind="stable").drop_duplicates("_X")
    if rows.empty:
        known = ", ".join(_distinct(summary["PARAMCD"])) or "none"
        raise ValueError(
            f"figure_median_iqr: no AVAL summary rows with a median for PARAMCD {paramcd!r} "
            f"(PARAMCDs in the summary: {known})"
        )
    x = rows["_X"].to_numpy()
    median = rows["_MED"].to_numpy()
    q1 = rows["_Q1"].fillna(rows["_MED"]).to_numpy()
    q3 = rows["_Q3"].fillna(rows["_MED"]).to_numpy()
    below = np.clip(median - q1, 0.0, None)
    above = np.clip(q3 - median, 0.0, None)
    marks = significance_marks(summary, paramcd, alpha)

    with matplotlib.style.context("default"), matplotlib.rc_context(_STYLE):
        fig, _canvas = _new_figure()
        ax = fig.add_subplot()
        ax.errorbar(
            x,
            median,
            yerr=np.vstack([below, above]),
            fmt="o-",
            color=_ACCENT,
            ecolor=_ACCENT,
            elinewidth=1.4,
            capsize=5,
            capthick=1.4,
            markersize=6,
            linewidth=1.6,
            label="median (Q1, Q3)",
        )
        labels = []
        for avisit, avisitn, n in zip(rows["AVISIT"], x, rows["_N"], strict=True):
            n_text = "n = –" if math.isnan(n) else f"n = {int(n)}"
            labels.append(f"{_visit_label(avisit, avisitn)}\n{n_text}")
        ax.set_xticks(x, labels)
        ax.tick_params(axis="x", length=0, pad=6)
        low, high = float(np.min(median - below)), float(np.max(median + above))
        span = high - low if high > low else max(abs(high), 1.0)
        for xi, top in zip(x, median + above, strict=True):
            mark = marks.get(float(xi))
            if mark:
                ax.text(
                    xi,
                    top + 0.04 * span,
                    mark,
                    ha="center",
                    va="bottom",
                    fontsize=13,
                    fontweight="bold",
                    color=_INK,
                )
        ax.set_ylim(low - 0.12 * span, high + 0.22 * span)
        if len(x) > 1:
            pad = 0.08 * (x[-1] - x[0])
            ax.set_xlim(x[0] - pad, x[-1] + pad)
        ax.set_xlabel("Analysis visit")
        ax.set_ylabel(_param_label(summary, paramcd))
        ax.set_title(title)

        footnote = (
            f"Points: median; bars: Q1 to Q3. * p < {alpha:g}, ** p < 0.01: change from baseline "
            f"({_methods_note(summary, paramcd)}."
        )
        return _png(fig, footnote)


def _column_texts(frame: pd.DataFrame, column: str) -> list[str]:
    return _distinct(frame[column]) if column in frame.columns else []


def _methods_note(summary: pd.DataFrame, paramcd: str) -> str:
    """The test (TEST, TEST_METHOD) and quantile method (QUANTILE_METHOD) of a parameter."""
    of_param = summary[(summary["PARAMCD"] == paramcd).to_numpy()]
    tests = _column_texts(of_param, "TEST")
    test_methods = _column_texts(of_param, "TEST_METHOD")
    quantiles = _column_texts(of_param, "QUANTILE_METHOD")
    test = "; ".join(tests) if tests else "test not given"
    if test_methods:
        test += f"; test method {', '.join(test_methods)}"
    return f"{test}).\nQuantile method: {', '.join(quantiles) if quantiles else 'not given'}"


def _param_label(frame: pd.DataFrame, paramcd: str) -> str:
    if "PARAM" in frame.columns:
        labels = _distinct(frame.loc[(frame["PARAMCD"] == paramcd).to_numpy(), "PARAM"])
        if labels:
            return labels[0]
    return paramcd


def _chg_rows(summary: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    rows = summary[
        (summary["PARAMCD"] == paramcd).to_numpy() & (summary["VAR"] == "CHG").to_numpy()
    ]
    rows = rows.assign(_X=_numeric(rows["AVISITN"]))
    return rows[(rows["_X"] > 0).fillna(False).to_numpy()].sort_values("_X", kind="stable")


def _chg_records(bds: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    _require(bds, _BDS_NEEDED, "figure_chg_boxplot")
    # Only the columns drawn: a BDS dataset is wide, and every column would be copied.
    bds = bds[list(_BDS_NEEDED)]
    of_param = bds[(bds["PARAMCD"] == paramcd).fillna(False).to_numpy()]
    if of_param.empty:
        known = ", ".join(_distinct(bds["PARAMCD"])) or "none"
        raise ValueError(
            f"figure_chg_boxplot: no records for PARAMCD {paramcd!r} (PARAMCDs: {known})"
        )
    records = of_param.assign(_X=_numeric(of_param["AVISITN"]), _CHG=_numeric(of_param["CHG"]))
    keep = (
        records["ANL01FL"].eq("Y").fillna(False).to_numpy()
        & records["_CHG"].notna().to_numpy()
        & (records["_X"] > 0).fillna(False).to_numpy()
    )
    records = records[keep]
    if records.empty:
        raise ValueError(
            f"figure_chg_boxplot: PARAMCD {paramcd!r} has no post-baseline analysis records "
            "(ANL01FL = 'Y', AVISITN > 0) with a CHG"
        )
    return records


def chg_box_stats(bds: pd.DataFrame, summary: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    """The boxes :func:`figure_chg_boxplot` draws: one row per post-baseline visit.

    Q1, MEDIAN and Q3 are the summary's CHG row of the visit (cfb_summary, by the study's
    quantile method); N must equal the number of records with a CHG (ANL01FL = "Y",
    AVISITN > 0) of ``bds`` at that visit, or the two don't describe the same data and a
    ValueError says so. WHISLO and WHISHI reach the furthest change within 1.5 IQR of the box.

    Example:
        >>> bds = pd.DataFrame({"PARAMCD": ["A"] * 3, "AVISITN": [1.0] * 3,
        ...                     "AVISIT": ["WEEK 1"] * 3, "CHG": [-6.0, -1.0, 0.5],
        ...                     "ANL01FL": ["Y"] * 3})
        >>> s = pd.DataFrame({"PARAMCD": ["A"], "AVISITN": [1.0], "AVISIT": ["WEEK 1"],
        ...                   "VAR": ["CHG"], "N": [3], "MEDIAN": [-1.0], "Q1": [-6.0],
        ...                   "Q3": [0.5]})
        >>> box = chg_box_stats(bds, s, "A")
        >>> box[["N", "Q1", "MEDIAN", "Q3", "WHISLO", "WHISHI"]].values.tolist()
        [[3.0, -6.0, -1.0, 0.5, -6.0, 0.5]]
    """
    _require(summary, _SUMMARY_NEEDED, "figure_chg_boxplot")
    records = _chg_records(bds, paramcd)
    rows = _chg_rows(summary, paramcd)
    counts = records.groupby("_X", sort=True).size()
    summary_n = pd.Series(_numeric(rows["N"]).to_numpy(), index=rows["_X"].to_numpy())
    if not counts.index.equals(pd.Index(summary_n.index)) or not np.array_equal(
        counts.to_numpy(dtype=float), summary_n.to_numpy()
    ):
        mine = ", ".join(f"{x:g}: {n}" for x, n in counts.items())
        theirs = ", ".join(f"{x:g}: {n:g}" for x, n in summary_n.items()) or "none"
        raise ValueError(
            f"figure_chg_boxplot: the summary's CHG rows of {paramcd} (AVISITN: N {theirs}) "
            f"don't describe the records drawn (AVISITN: N {mine})"
        )
    q1 = _numeric(rows["Q1"]).to_numpy()
    q3 = _numeric(rows["Q3"]).to_numpy()
    # Whiskers per visit: a handful of visits, not records.
    low, high = [], []
    for (_, group), a, b in zip(records.groupby("_X", sort=True), q1, q3, strict=True):
        values = group["_CHG"].to_numpy()
        iqr = b - a
        inside = values[(values >= a - 1.5 * iqr) & (values <= b + 1.5 * iqr)]
        low.append(min(float(inside.min()), a) if len(inside) else a)
        high.append(max(float(inside.max()), b) if len(inside) else b)
    labels = [_visit_label(a, x) for a, x in zip(rows["AVISIT"], rows["_X"], strict=True)]
    return pd.DataFrame(
        {
            "AVISITN": rows["_X"].to_numpy(),
            "AVISIT": labels,
            "N": _numeric(rows["N"]).to_numpy(),
            "Q1": q1,
            "MEDIAN": _numeric(rows["MEDIAN"]).to_numpy(),
            "Q3": q3,
            "WHISLO": low,
            "WHISHI": high,
        }
    )


def _chg_boxplot_figure(
    bds: pd.DataFrame, summary: pd.DataFrame, paramcd: str, title: str, alpha: float
) -> tuple[Figure, dict, str]:
    """The box plot figure, the artists ``Axes.bxp`` drew and the footnote (not yet drawn)."""
    boxes = chg_box_stats(bds, summary, paramcd)
    records = _chg_records(bds, paramcd)
    values = [np.sort(g["_CHG"].to_numpy()) for _, g in records.groupby("_X", sort=True)]
    labels = [f"{a}\nn = {int(n)}" for a, n in zip(boxes["AVISIT"], boxes["N"], strict=True)]
    positions = np.arange(1, len(boxes) + 1, dtype=float)
    marks = significance_marks(summary, paramcd, alpha)
    rng = np.random.default_rng(20220101)
    stats = [
        {"med": med, "q1": q1, "q3": q3, "whislo": lo, "whishi": hi}
        for med, q1, q3, lo, hi in zip(
            boxes["MEDIAN"], boxes["Q1"], boxes["Q3"], boxes["WHISLO"], boxes["WHISHI"],
            strict=True,
        )
    ]

    with matplotlib.style.context("default"), matplotlib.rc_context(_STYLE):
        fig, _canvas = _new_figure()
        ax = fig.add_subplot()
        ax.axhline(0.0, color=_MUTED, linewidth=1.0, linestyle="--", zorder=1)
        # matplotlib's own boxplot has type 7 quartiles only: the boxes are the summary's.
        artists = ax.bxp(
            stats,
            positions=positions,
            widths=0.5,
            showfliers=False,
            patch_artist=True,
            boxprops={"facecolor": "#d6e6f5", "edgecolor": _ACCENT, "linewidth": 1.2},
            medianprops={"color": _INK, "linewidth": 1.8},
            whiskerprops={"color": _ACCENT, "linewidth": 1.2},
            capprops={"color": _ACCENT, "linewidth": 1.2},
            zorder=2,
        )
        top = max(float(np.max(boxes["WHISHI"])), max(float(v.max()) for v in values))
        bottom = min(float(np.min(boxes["WHISLO"])), min(float(v.min()) for v in values))
        span = top - bottom if top > bottom else max(abs(top), 1.0)
        for position, chg, avisitn in zip(positions, values, boxes["AVISITN"], strict=True):
            jitter = rng.uniform(-0.12, 0.12, size=len(chg))
            ax.scatter(position + jitter, chg, s=14, color=_INK, alpha=0.55, linewidths=0, zorder=3)
            mark = marks.get(float(avisitn))
            if mark:
                ax.text(position, top + 0.04 * span, mark, ha="center", va="bottom",
                        fontsize=13, fontweight="bold", color=_INK)  # fmt: skip
        if marks:
            ax.set_ylim(bottom - 0.08 * span, top + 0.2 * span)
        ax.set_xticks(positions, labels)
        ax.tick_params(axis="x", length=0, pad=6)
        ax.set_xlim(0.4, len(boxes) + 0.6)
        ax.set_xlabel("Analysis visit")
        ax.set_ylabel("Change from baseline")
        ax.set_title(title)
    footnote = (
        "Boxes: Q1 to Q3 with the median, as in the summary table; whiskers: furthest value "
        "within 1.5 IQR; points: subjects' changes from baseline; dashed line: no change. "
        f"Analysis records (ANL01FL = Y) after baseline. * p < {alpha:g}, ** p < 0.01: change "
        f"from baseline ({_methods_note(summary, paramcd)}."
    )
    return fig, artists, footnote


def figure_chg_boxplot(
    bds: pd.DataFrame, summary: pd.DataFrame, paramcd: str, *, title: str, alpha: float = 0.05
) -> bytes:
    """Box plots of CHG by post-baseline analysis visit, as PNG bytes.

    Records: ``paramcd`` with ANL01FL = "Y", CHG not missing and AVISITN > 0, one box per
    AVISITN in order, labelled with AVISIT and n; the subjects' values are drawn over the
    boxes, with a dashed line at no change. The boxes' quartiles and medians are the CHG rows
    of ``summary`` (cfb_summary, by the study's quantile method; see :func:`chg_box_stats`),
    so box and table agree; whiskers reach the furthest value within 1.5 IQR. Visits whose
    change is significant are marked as in :func:`figure_median_iqr`; the footnote names the
    test and the quantile method.

    Raises ValueError when there are no such records, or when ``summary`` doesn't describe
    them (its N differs).

    Example:
        >>> bds = pd.DataFrame({"PARAMCD": ["A"] * 3, "AVISITN": [0.0, 1.0, 1.0],
        ...                     "AVISIT": ["BASELINE", "WEEK 1", "WEEK 1"],
        ...                     "CHG": [None, -1.0, 0.5], "ANL01FL": ["Y"] * 3})
        >>> s = pd.DataFrame({"PARAMCD": ["A"], "AVISITN": [1.0], "AVISIT": ["WEEK 1"],
        ...                   "VAR": ["CHG"], "N": [2], "MEDIAN": [-0.25], "Q1": [-1.0],
        ...                   "Q3": [0.5], "QUANTILE_METHOD": ["spss"]})
        >>> figure_chg_boxplot(bds, s, "A", title="A")[:8] == PNG_SIGNATURE
        True
    """
    fig, _artists, footnote = _chg_boxplot_figure(bds, summary, paramcd, title, alpha)
    with matplotlib.style.context("default"), matplotlib.rc_context(_STYLE):
        return _png(fig, footnote)


_DOSE_NEEDED = ("USUBJID", "PARAMCD", "AVISITN", "AVISIT", "AVAL", "BASE")


def figure_dose_percent(
    bds: pd.DataFrame,
    paramcd: str,
    *,
    title: str,
    population: str | None = None,
    quantile_method: str = "sas5",
    levels: Sequence[float] = (),
) -> bytes:
    """Each subject's dose as a percentage of its baseline (100 x AVAL / BASE) by visit, one
    thin line per subject and the median across subjects in bold, as PNG bytes.

    ``bds`` holds ADDOSE records (ANL01FL = "Y" when the column is there, of the subjects
    whose ``population`` flag is Y); subjects with a baseline of 0 are left out (no
    percentage). Dashed lines mark ``levels`` (percentages of baseline, e.g. the category
    boundaries: 90 for a reduction by 10 %).
    The median is the study's quantile method's 0.5 quantile (the same for every method).

    Raises ValueError when no subject has a percentage.

    Example:
        >>> d = pd.DataFrame({"USUBJID": ["1", "1", "2", "2"], "PARAMCD": ["T"] * 4,
        ...                   "AVISITN": [1.0, 4.0, 1.0, 4.0], "AVISIT": ["D0", "D28"] * 2,
        ...                   "AVAL": [2.0, 1.0, 1.0, 0.8], "BASE": [2.0, 2.0, 1.0, 1.0]})
        >>> figure_dose_percent(d, "T", title="Dose")[:8] == PNG_SIGNATURE
        True
    """
    from trialflow.analysis.stats import quantile

    _require(bds, _DOSE_NEEDED, "figure_dose_percent")
    keep = (bds["PARAMCD"] == paramcd).fillna(False).to_numpy(dtype=bool)
    for flag in (population, "ANL01FL"):
        if flag and flag in bds.columns:
            keep = keep & bds[flag].eq("Y").fillna(False).to_numpy(dtype=bool)
    rows = bds[keep]
    base = _numeric(rows["BASE"])
    rows = rows.assign(
        _X=_numeric(rows["AVISITN"]), _PCT=100.0 * _numeric(rows["AVAL"]) / base.where(base > 0)
    )
    rows = rows[rows["_X"].notna().to_numpy() & rows["_PCT"].notna().to_numpy()]
    if rows.empty:
        raise ValueError(f"figure_dose_percent: no {paramcd} record with a baseline above 0")
    rows = rows.sort_values(["USUBJID", "_X"], kind="stable")
    visits = rows.drop_duplicates("_X").sort_values("_X", kind="stable")
    x = visits["_X"].to_numpy()
    medians = np.array([quantile(rows.loc[rows["_X"] == xi, "_PCT"].to_numpy(), 0.5,
                                 quantile_method) for xi in x])  # fmt: skip
    counts = [int(rows.loc[rows["_X"] == xi, "USUBJID"].nunique()) for xi in x]
    with matplotlib.style.context("default"), matplotlib.rc_context(_STYLE):
        fig, _canvas = _new_figure()
        ax = fig.add_subplot()
        # one line per subject, drawn as one collection (fast for thousands of subjects)
        cut = np.flatnonzero(rows["USUBJID"].to_numpy()[1:] != rows["USUBJID"].to_numpy()[:-1])
        points = np.column_stack([rows["_X"].to_numpy(), rows["_PCT"].to_numpy()])
        ax.add_collection(LineCollection(np.split(points, cut + 1), colors=_MUTED, alpha=0.45,
                                         linewidths=0.9))  # fmt: skip
        ax.scatter(points[:, 0], points[:, 1], s=5, color=_MUTED, alpha=0.45, linewidths=0)
        ax.plot(x, medians, color=_ACCENT, linewidth=2.6, marker="o", markersize=6,
                label="median")  # fmt: skip
        for level in levels:
            ax.axhline(level, color=_INK, linewidth=0.8, linestyle="--", alpha=0.6)
        labels = [f"{_visit_label(a, xi)}\nn = {n}"
                  for a, xi, n in zip(visits["AVISIT"], x, counts, strict=True)]  # fmt: skip
        ax.set_xticks(x, labels)
        ax.tick_params(axis="x", length=0, pad=6)
        top = float(max(110.0, rows["_PCT"].max() * 1.05))
        ax.set_ylim(-5.0, top)
        if len(x) > 1:
            pad = 0.05 * (x[-1] - x[0])
            ax.set_xlim(x[0] - pad, x[-1] + pad)
        ax.set_xlabel("Analysis visit")
        ax.set_ylabel("% of baseline dose")
        ax.set_title(title)
        ax.legend(loc="lower left", frameon=False)
        footnote = "Thin lines: one subject each (100 x AVAL / BASE); bold: the median."
        if levels:
            marks = " and ".join(f"{level:g} %" for level in levels)
            footnote += f" Dashed: {marks} of baseline (the category boundaries)."
        return _png(fig, footnote)


_GROUP_COLOURS = ("#1f5f99", "#c8553d", "#2a9d8f", "#8e6c8a", "#e9a23b", "#52606d")
"""Line and box colours of the groups, in the groups' order (repeating after six)."""


def _group_rows(summary: pd.DataFrame, paramcd: str, var: str, groups: Sequence[str]) -> list:
    """(group, rows of ``var`` with a median, by AVISITN) of each group with such rows."""
    _require(summary, (*_SUMMARY_NEEDED, "GROUP"), "figure by group")
    rows = summary[(summary["PARAMCD"] == paramcd).to_numpy() & (summary["VAR"] == var).to_numpy()]
    rows = rows.assign(_X=_numeric(rows["AVISITN"]), _MED=_numeric(rows["MEDIAN"]))
    rows = rows[rows["_X"].notna().to_numpy() & rows["_MED"].notna().to_numpy()]
    if var == "CHG":
        rows = rows[(rows["_X"] > 0).to_numpy()]
    out = []
    for group in groups:
        mine = rows[rows["GROUP"].astype("str").eq(group).to_numpy()]
        if len(mine):
            out.append((group, mine.sort_values("_X", kind="stable").drop_duplicates("_X")))
    if not out:
        known = ", ".join(_distinct(summary["PARAMCD"])) or "none"
        raise ValueError(
            f"figure by group: no {var} summary rows with a median for PARAMCD {paramcd!r} "
            f"(PARAMCDs in the summary: {known})"
        )
    return out


def figure_median_iqr_by_group(
    summary: pd.DataFrame, paramcd: str, *, groups: Sequence[str], title: str
) -> bytes:
    """Median of AVAL with Q1-Q3 bars by analysis visit, one line per group, as PNG bytes.

    ``summary`` has the columns of cfb_summary.csv with GROUP; ``groups`` gives the groups'
    order (and colours). The groups' points at a visit are set side by side; the x labels
    name the visits. Raises ValueError when no group has AVAL rows with a median.

    Example:
        >>> s = pd.DataFrame({"PARAMCD": ["A"] * 4, "AVISITN": [0.0, 1.0] * 2,
        ...                   "AVISIT": ["BASELINE", "WEEK 1"] * 2, "VAR": ["AVAL"] * 4,
        ...                   "N": [3] * 4, "MEDIAN": [5.0, 4.0, 5.0, 3.0],
        ...                   "Q1": [4.0, 3.0, 4.5, 2.0], "Q3": [6.0, 5.0, 5.5, 4.0],
        ...                   "GROUP": ["P", "P", "D", "D"]})
        >>> figure_median_iqr_by_group(s, "A", groups=["P", "D"], title="A")[:8] == PNG_SIGNATURE
        True
    """
    series = _group_rows(summary, paramcd, "AVAL", groups)
    visits = sorted({float(x) for _, rows in series for x in rows["_X"]})
    step = min(np.diff(visits)) if len(visits) > 1 else 1.0
    width = 0.3 * step / max(len(series), 1)
    with matplotlib.style.context("default"), matplotlib.rc_context(_STYLE):
        fig, _canvas = _new_figure()
        ax = fig.add_subplot()
        for i, (group, rows) in enumerate(series):
            colour = _GROUP_COLOURS[groups.index(group) % len(_GROUP_COLOURS)]
            x = rows["_X"].to_numpy() + (i - (len(series) - 1) / 2) * width
            median = rows["_MED"].to_numpy()
            q1 = _numeric(rows["Q1"]).fillna(rows["_MED"]).to_numpy()
            q3 = _numeric(rows["Q3"]).fillna(rows["_MED"]).to_numpy()
            below = np.clip(median - q1, 0.0, None)
            above = np.clip(q3 - median, 0.0, None)
            ax.errorbar(x, median, yerr=np.vstack([below, above]), fmt="o-", color=colour,
                        ecolor=colour, elinewidth=1.2, capsize=4, capthick=1.2, markersize=5,
                        linewidth=1.5, label=group)  # fmt: skip
        labels = {}
        for _, rows in series:
            for avisit, x in zip(rows["AVISIT"], rows["_X"], strict=True):
                labels.setdefault(float(x), _visit_label(avisit, float(x)))
        ax.set_xticks(visits, [labels[x] for x in visits])
        ax.tick_params(axis="x", length=0, pad=6)
        ax.set_xlabel("Analysis visit")
        ax.set_ylabel(_param_label(summary, paramcd))
        ax.set_title(textwrap.fill(title, 64))
        ax.legend(frameon=False, fontsize=8.5)
        quantiles = ", ".join(_column_texts(summary, "QUANTILE_METHOD")) or "not given"
        footnote = (
            "Points: median of each group; bars: Q1 to Q3 (the summary table's, by group). "
            f"Quantile method: {quantiles}."
        )
        return _png(fig, footnote)


def figure_chg_boxplot_by_group(
    summary: pd.DataFrame, paramcd: str, *, groups: Sequence[str], title: str
) -> bytes:
    """Boxes of CHG by post-baseline visit, one box per group side by side, as PNG bytes.

    The boxes are the summary's CHG rows (Q1, median, Q3 by the study's quantile method) and
    the whiskers reach MIN and MAX, so the figure shows the table's numbers. Raises
    ValueError when no group has CHG rows after baseline.

    Example:
        >>> s = pd.DataFrame({"PARAMCD": ["A"] * 2, "AVISITN": [1.0] * 2,
        ...                   "AVISIT": ["WEEK 1"] * 2, "VAR": ["CHG"] * 2, "N": [3, 3],
        ...                   "MEDIAN": [-1.0, -3.0], "Q1": [-2.0, -4.0], "Q3": [0.0, -2.0],
        ...                   "MIN": [-3.0, -6.0], "MAX": [1.0, -1.0], "GROUP": ["P", "D"]})
        >>> figure_chg_boxplot_by_group(s, "A", groups=["P", "D"], title="A")[:8] == PNG_SIGNATURE
        True
    """
    series = _group_rows(summary, paramcd, "CHG", groups)
    visits = sorted({float(x) for _, rows in series for x in rows["_X"]})
    position = {x: i + 1.0 for i, x in enumerate(visits)}
    width = 0.8 / len(series)
    with matplotlib.style.context("default"), matplotlib.rc_context(_STYLE):
        fig, _canvas = _new_figure()
        ax = fig.add_subplot()
        ax.axhline(0.0, color=_MUTED, linewidth=1.0, linestyle="--", zorder=1)
        handles = []
        for i, (group, rows) in enumerate(series):
            colour = _GROUP_COLOURS[groups.index(group) % len(_GROUP_COLOURS)]
            stats = []
            for record in rows.to_dict("records"):
                med = float(record["_MED"])
                q1, q3 = (_float_or(record[k], med) for k in ("Q1", "Q3"))
                lo, hi = (_float_or(record.get(k), v) for k, v in (("MIN", q1), ("MAX", q3)))
                stats.append({"med": med, "q1": q1, "q3": q3, "whislo": lo, "whishi": hi})
            offset = (i - (len(series) - 1) / 2) * width
            places = [position[float(x)] + offset for x in rows["_X"]]
            drawn = ax.bxp(
                stats, positions=places, widths=0.85 * width, showfliers=False,
                patch_artist=True,
                boxprops={"facecolor": colour, "edgecolor": colour, "alpha": 0.45},
                medianprops={"color": _INK, "linewidth": 1.6},
                whiskerprops={"color": colour}, capprops={"color": colour}, zorder=2,
            )  # fmt: skip
            handles.append((drawn["boxes"][0], group))
        labels = {}
        for _, rows in series:
            for avisit, x in zip(rows["AVISIT"], rows["_X"], strict=True):
                labels.setdefault(float(x), _visit_label(avisit, float(x)))
        ax.set_xticks(list(position.values()), [labels[x] for x in visits])
        ax.tick_params(axis="x", length=0, pad=6)
        ax.set_xlim(0.4, len(visits) + 0.6)
        ax.set_xlabel("Analysis visit")
        ax.set_ylabel("Change from baseline")
        ax.set_title(textwrap.fill(title, 64))
        ax.legend([h for h, _ in handles], [g for _, g in handles], frameon=False, fontsize=8.5)
        footnote = (
            "Boxes: Q1 to Q3 with the median of each group, as in the summary table; whiskers: "
            "minimum and maximum; dashed line: no change. Analysis records (ANL01FL = Y) after "
            "baseline. Quantile method: "
            f"{', '.join(_column_texts(summary, 'QUANTILE_METHOD')) or 'not given'}."
        )
        return _png(fig, footnote)


def _float_or(value: object, default: float) -> float:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return default if pd.isna(number) else float(number)
