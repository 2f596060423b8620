"""Figures as PNG bytes: format, size, determinism, errors and the significance markers."""

from __future__ import annotations

import io
import struct

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from trialflow.analysis.figures import (
    PNG_SIGNATURE,
    SIZE_PX,
    _chg_boxplot_figure,
    chg_box_stats,
    figure_chg_boxplot,
    figure_median_iqr,
    significance_marks,
)
from trialflow.analysis.summary import cfb_summary

TEST = "Wilcoxon signed rank exact test"


def summary_frame() -> pd.DataFrame:
    """cfb_summary rows of two parameters; FPG has a one-subject visit and a missing p."""
    rows = [
        # PARAMCD, AVISITN, AVISIT, VAR, N, MEDIAN, Q1, Q3, P_VALUE
        ("FPG", 0.0, "BASELINE", "AVAL", 8, 9.1, 8.4, 9.9, None),
        ("FPG", 2.0, "DAY 14", "AVAL", 8, 7.8, 7.1, 8.6, None),
        ("FPG", 2.0, "DAY 14", "CHG", 8, -1.2, -1.9, -0.4, 0.008),
        ("FPG", 3.0, "DAY 21", "AVAL", 1, 8.0, 8.0, 8.0, None),
        ("FPG", 3.0, "DAY 21", "CHG", 1, -0.5, -0.5, -0.5, None),
        ("FPG", 4.0, "DAY 28", "AVAL", 8, 8.2, 7.6, 8.9, None),
        ("FPG", 4.0, "DAY 28", "CHG", 8, -0.8, -1.4, 0.1, 0.039),
        ("FPG", 5.0, "DAY 84", "AVAL", 8, 8.6, 7.9, 9.3, None),
        ("FPG", 5.0, "DAY 84", "CHG", 8, -0.4, -1.0, 0.3, 0.31),
        ("HBA1C", 0.0, "BASELINE", "AVAL", 8, 7.9, 7.6, 8.1, None),
        ("HBA1C", 5.0, "DAY 84", "AVAL", 8, 7.3, 7.1, 7.5, None),
        ("HBA1C", 5.0, "DAY 84", "CHG", 8, -0.6, -0.7, -0.4, 0.0004),
    ]
    frame = pd.DataFrame(
        rows,
        columns=["PARAMCD", "AVISITN", "AVISIT", "VAR", "N", "MEDIAN", "Q1", "Q3", "P_VALUE"],
    )
    frame["MEAN"] = frame["MEDIAN"]
    frame["SD"] = np.where(frame["N"] > 1, 0.5, np.nan)
    frame["MIN"] = frame["Q1"]
    frame["MAX"] = frame["Q3"]
    frame["TEST"] = np.where(frame["VAR"] == "CHG", TEST, None)
    frame["QUANTILE_METHOD"] = "sas5"
    return frame


def bds_frame() -> pd.DataFrame:
    """BDS records of FPG: baseline, two full visits, a one-subject visit, unflagged records."""
    records = []
    for subject in range(1, 7):
        base = 8.0 + subject / 4
        records.append((subject, 0.0, "BASELINE", base, None, "Y"))
        records.append((subject, 2.0, "DAY 14", base - 1, -1.0 + subject / 10, "Y"))
        records.append((subject, 5.0, "DAY 84", base - 0.5, -0.5 + subject / 8, "Y"))
        records.append((subject, 5.0, "DAY 84", base + 3, 3.0, ""))  # not the analysis record
    records.append((1, 3.0, "DAY 21", 7.5, -0.75, "Y"))
    frame = pd.DataFrame(records, columns=["SUBJ", "AVISITN", "AVISIT", "AVAL", "CHG", "ANL01FL"])
    frame["USUBJID"] = "S-" + frame["SUBJ"].astype("str")
    frame["PARAMCD"] = "FPG"
    frame["PARAM"] = "Fasting Plasma Glucose (mmol/L)"
    return frame.drop(columns="SUBJ")


def summary_of(bds: pd.DataFrame, quantile_method: str = "spss") -> pd.DataFrame:
    """cfb_summary of the records, as the analysis stage makes it for the box plot."""
    return cfb_summary(bds, ["FPG"], quantile_method=quantile_method, population=None,
                       test_method="spss")  # fmt: skip


def box(bds: pd.DataFrame, paramcd: str = "FPG", **kwargs) -> bytes:
    return figure_chg_boxplot(bds, summary_of(bds), paramcd, **kwargs)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


## Test 1: PNG bytes of the stated size ----
@pytest.mark.parametrize("which", ["median", "box"])
def test_png_signature_and_size(which: str) -> None:
    if which == "median":
        data = figure_median_iqr(summary_frame(), "FPG", title="FPG: median (Q1, Q3)")
    else:
        data = box(bds_frame(), title="FPG: change from baseline")
    assert data[:8] == PNG_SIGNATURE
    assert png_size(data) == SIZE_PX == (1200, 720)
    pixels = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert pixels.shape[:2] == (720, 1200)
    assert float(pixels[..., :3].std()) > 0.05  # something is drawn
    assert b"Software" not in data and b"Creation Time" not in data


## Test 2: same input, same bytes ----
def test_deterministic_bytes() -> None:
    summary = summary_frame()
    first = figure_median_iqr(summary, "FPG", title="FPG")
    assert figure_median_iqr(summary.copy(), "FPG", title="FPG") == first
    assert figure_median_iqr(summary, "FPG", title="FPG", alpha=0.01) != first  # footnote
    bds = bds_frame()
    boxes = box(bds, title="FPG")
    assert box(bds.copy(), title="FPG") == boxes
    # Record order does not matter: visits are sorted by AVISITN.
    assert figure_chg_boxplot(bds.iloc[::-1], summary_of(bds), "FPG", title="FPG") == boxes
    assert figure_median_iqr(summary.iloc[::-1], "FPG", title="FPG") == first


## Test 3: a clear error when there is nothing to draw ----
def test_unknown_paramcd() -> None:
    with pytest.raises(ValueError, match=r"no AVAL summary rows .* 'ALT'.*FPG, HBA1C"):
        figure_median_iqr(summary_frame(), "ALT", title="ALT")
    with pytest.raises(ValueError, match=r"no records for PARAMCD 'ALT'"):
        figure_chg_boxplot(bds_frame(), summary_of(bds_frame()), "ALT", title="ALT")
    baseline_only = bds_frame().query("AVISITN == 0")
    with pytest.raises(ValueError, match="no post-baseline analysis records"):
        box(baseline_only, title="FPG")
    with pytest.raises(ValueError, match=r"required column.*MEDIAN"):
        figure_median_iqr(summary_frame().drop(columns="MEDIAN"), "FPG", title="FPG")


## Test 4: one value at a visit, missing p-values, no P_VALUE/TEST columns ----
def test_degenerate_inputs() -> None:
    summary = summary_frame()
    summary["P_VALUE"] = np.nan
    assert figure_median_iqr(summary, "FPG", title="FPG")[:8] == PNG_SIGNATURE
    bare = summary_frame().drop(columns=["P_VALUE", "TEST", "QUANTILE_METHOD"])
    assert figure_median_iqr(bare, "FPG", title="FPG")[:8] == PNG_SIGNATURE
    one = summary_frame().query("PARAMCD == 'FPG' and AVISITN == 3")
    assert figure_median_iqr(one, "FPG", title="one visit, one subject")[:8] == PNG_SIGNATURE
    single = bds_frame().query("AVISITN in (0, 3)")
    assert box(single, title="one value")[:8] == PNG_SIGNATURE


## Test 5: which visits get * and ** ----
def test_significance_marks() -> None:
    summary = summary_frame()
    # DAY 14 p = 0.008 -> **, DAY 21 no p, DAY 28 p = 0.039 -> *, DAY 84 p = 0.31 -> none.
    assert significance_marks(summary, "FPG", 0.05) == {2.0: "**", 4.0: "*"}
    assert significance_marks(summary, "FPG", 0.01) == {2.0: "**"}
    assert significance_marks(summary, "FPG", 0.005) == {}
    assert significance_marks(summary, "HBA1C", 0.05) == {5.0: "**"}
    assert significance_marks(summary, "ALT", 0.05) == {}
    # AVAL rows never carry a marker, even with a p-value.
    aval_p = summary.assign(P_VALUE=np.where(summary["VAR"] == "AVAL", 0.001, np.nan))
    assert significance_marks(aval_p, "FPG", 0.05) == {}
    # p exactly at alpha is not significant; text p-values (read from CSV) are accepted.
    edge = summary.assign(P_VALUE=summary["P_VALUE"].astype("str").replace("0.039", "0.05"))
    assert significance_marks(edge, "FPG", 0.05) == {2.0: "**"}
    assert significance_marks(summary.drop(columns="P_VALUE"), "FPG", 0.05) == {}
    with pytest.raises(ValueError, match="alpha"):
        significance_marks(summary, "FPG", 1.5)


def _drawn_boxes(bds: pd.DataFrame, summary: pd.DataFrame) -> list[tuple[float, ...]]:
    """(Q1, median, Q3) as drawn: the box patches' lower and upper edges and the median
    lines, read from the artists matplotlib drew."""
    _fig, artists, _footnote = _chg_boxplot_figure(bds, summary, "FPG", "FPG", 0.05)
    drawn = []
    for patch, median in zip(artists["boxes"], artists["medians"], strict=True):
        ys = patch.get_path().vertices[:, 1]
        drawn.append((float(ys.min()), float(np.unique(median.get_ydata())[0]), float(ys.max())))
    return drawn


def test_boxes_are_the_summary_quartiles_of_the_study_method() -> None:
    # DAY 14 changes of bds_frame: -1 + k/10, k = 1..6 -> -0.9, -0.8, -0.7, -0.6, -0.5, -0.4.
    # SPSS (n+1)p: Q1 at position 1.75 -> -0.9 + 0.75 * 0.1 = -0.825, Q3 at 5.25 -> -0.475;
    # R type 7 (matplotlib's own): 1 + 5p = 2.25 and 4.75 -> -0.775 and -0.525.
    bds = bds_frame()
    spss = summary_of(bds, "spss")
    drawn = _drawn_boxes(bds, spss)
    day14 = drawn[0]
    assert day14 == (pytest.approx(-0.825), pytest.approx(-0.65), pytest.approx(-0.475))
    chg = spss[spss["VAR"].eq("CHG").to_numpy()].sort_values("AVISITN")
    assert drawn == [
        (pytest.approx(q1), pytest.approx(m), pytest.approx(q3))
        for q1, m, q3 in zip(chg["Q1"], chg["MEDIAN"], chg["Q3"], strict=True)
    ]
    r7 = _drawn_boxes(bds, summary_of(bds, "r7"))[0]
    assert r7 == (pytest.approx(-0.775), pytest.approx(-0.65), pytest.approx(-0.525))
    # The footnote names the summary's quantile method and test.
    _fig, _artists, footnote = _chg_boxplot_figure(bds, spss, "FPG", "FPG", 0.05)
    assert "Quantile method: spss." in footnote and "test method spss" in footnote
    stats = chg_box_stats(bds, spss, "FPG")
    assert stats["AVISIT"].tolist() == ["DAY 14", "DAY 21", "DAY 84"]
    assert stats["N"].tolist() == [6, 1, 6]


def test_box_plot_refuses_a_summary_of_other_records() -> None:
    bds = bds_frame()
    other = summary_of(bds[~((bds["USUBJID"] == "S-1") & (bds["AVISITN"] == 2.0)).to_numpy()])
    with pytest.raises(ValueError, match=r"summary's CHG rows of FPG \(AVISITN: N 2: 5, "):
        figure_chg_boxplot(bds, other, "FPG", title="FPG")


def _by_group_summary() -> pd.DataFrame:
    rows = []
    for group, shift in (("Placebo", 0.0), ("Drug X 50 mg", -3.0)):
        rows.append(("SYSBP", 2.0, "BASELINE", "AVAL", group, 140.0, 136.0, 145.0, None, None))
        for visit, n in ((3.0, "WEEK 2"), (4.0, "WEEK 4")):
            rows.append(("SYSBP", visit, n, "AVAL", group, 139.0 + shift, 135.0, 143.0, None,
                         None))  # fmt: skip
            rows.append(("SYSBP", visit, n, "CHG", group, -1.0 + shift, -4.0 + shift,
                         1.0 + shift, -8.0 + shift, 4.0 + shift))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["PARAMCD", "AVISITN", "AVISIT", "VAR", "GROUP", "MEDIAN",
                                        "Q1", "Q3", "MIN", "MAX"])  # fmt: skip
    return frame.assign(N=5, QUANTILE_METHOD="spss")


def test_group_figures_are_png_and_the_same_bytes_on_rerun():
    from trialflow.analysis.figures import (
        figure_chg_boxplot_by_group,
        figure_median_iqr_by_group,
    )

    summary = _by_group_summary()
    groups = ["Placebo", "Drug X 50 mg"]
    for draw in (figure_median_iqr_by_group, figure_chg_boxplot_by_group):
        first = draw(summary, "SYSBP", groups=groups, title="SYSBP")
        assert first[:8] == PNG_SIGNATURE
        assert draw(summary, "SYSBP", groups=groups, title="SYSBP") == first
        with pytest.raises(ValueError, match="DIABP"):
            draw(summary, "DIABP", groups=groups, title="DIABP")
