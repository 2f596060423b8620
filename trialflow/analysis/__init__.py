"""The analysis: change-from-baseline summaries, Table 1, tests, figures, the report.

Every name below is imported on first use (PEP 562): importing ``trialflow.analysis`` loads
none of its modules until a name is asked for, so a command loads only what it uses.

Example:
    >>> from trialflow.analysis import quantile
    >>> quantile.__module__
    'trialflow.analysis.stats'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialflow.lazy import lazy_exports

if TYPE_CHECKING:
    from trialflow.analysis.build import (
        AnalysisResult,
        Groups,
        analysis_groups,
        build_analysis,
    )
    from trialflow.analysis.compare import (
        ancova,
        rank_tests,
    )
    from trialflow.analysis.figures import (
        figure_chg_boxplot,
        figure_chg_boxplot_by_group,
        figure_median_iqr,
        figure_median_iqr_by_group,
    )
    from trialflow.analysis.report import (
        format_number,
        format_p,
    )
    from trialflow.analysis.safety import (
        ae_summary,
        safety_by_visit,
    )
    from trialflow.analysis.stats import (
        describe,
        psignrank,
        qsignrank,
        quantile,
        wilcoxon_signed_rank,
    )
    from trialflow.analysis.summary import (
        cfb_summary,
        group_levels,
        has_timepoints,
        table1,
    )

_EXPORTS: dict[str, str] = {
    "AnalysisResult": "build",
    "build_analysis": "build",
    "Groups": "build",
    "analysis_groups": "build",
    "ancova": "compare",
    "rank_tests": "compare",
    "group_levels": "summary",
    "has_timepoints": "summary",
    "figure_median_iqr_by_group": "figures",
    "figure_chg_boxplot_by_group": "figures",
    "cfb_summary": "summary",
    "table1": "summary",
    "ae_summary": "safety",
    "safety_by_visit": "safety",
    "quantile": "stats",
    "describe": "stats",
    "wilcoxon_signed_rank": "stats",
    "psignrank": "stats",
    "qsignrank": "stats",
    "figure_median_iqr": "figures",
    "figure_chg_boxplot": "figures",
    "format_number": "report",
    "format_p": "report",
}
"""Each public name -> the module of this package that defines it."""

__all__ = [
    "AnalysisResult",
    "Groups",
    "ae_summary",
    "analysis_groups",
    "ancova",
    "build_analysis",
    "cfb_summary",
    "describe",
    "figure_chg_boxplot",
    "figure_chg_boxplot_by_group",
    "figure_median_iqr",
    "figure_median_iqr_by_group",
    "format_number",
    "format_p",
    "group_levels",
    "has_timepoints",
    "psignrank",
    "qsignrank",
    "quantile",
    "rank_tests",
    "safety_by_visit",
    "table1",
    "wilcoxon_signed_rank",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
