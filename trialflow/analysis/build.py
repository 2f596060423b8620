"""The analysis stage: summaries, Table 1, figures and the HTML report from ADaM datasets.

Everything here is computed in memory; :mod:`trialflow.pipeline` writes the files
(DIR/analysis/cfb_summary.csv, table1.csv, figures/*.png, report.html).

Example:
    >>> result = build_analysis(study.spec, adam.datasets, context, validation)  # doctest: +SKIP
    >>> sorted(result.figures)[:2]  # doctest: +SKIP
    ['fcp_chg_box.png', 'fcp_median_iqr.png']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trialflow.adam.metadata import ADAMIG_VERSION
from trialflow.analysis.figures import figure_chg_boxplot, figure_median_iqr
from trialflow.analysis.report import render_report
from trialflow.analysis.stats import QUANTILE_METHODS
from trialflow.analysis.summary import cfb_summary, table1
from trialflow.errors import DerivationError, Finding
from trialflow.mapping.spec import StudySpec

METHOD_NOTES = (
    "Rounding: every rounded number (unit conversions, derived values, the tables and the CSV "
    "files) is rounded half away from zero as SAS's ROUND function rounds it, with its "
    "tolerance for binary representation (1.005 to 2 decimals is 1.01).",
    "Ties and zeros: computed and converted values are stored at each parameter's declared "
    "precision (study.yaml digits; 10 significant digits where none is declared) and CHG is "
    "the exact decimal difference of AVAL and BASE, so changes equal at the precision of the "
    "data are equal numbers. The signed-rank test ranks these stored changes: equal absolute "
    "changes share their mid-rank and zero changes are dropped.",
    "Display: median, Q1, Q3 and mean with one decimal more than the parameter's precision, SD "
    "with two more, p-values with 3 decimals; Table 1 with the decimals of each row. "
    "cfb_summary.csv and table1.csv hold the statistics rounded to 10 significant digits.",
)
"""The report's method notes: how numbers are rounded, compared and shown."""


def parameter_precision(spec: StudySpec) -> dict[str, int | None]:
    """PARAMCD -> the decimals it is measured to (study.yaml ``digits``; None when undeclared).

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> parameter_precision(load_study("mappings/hucmsc-t2dm").spec)["FPG"]
        2
    """
    if spec.adam is None:
        return {}
    return {
        p.paramcd: p.digits
        for bds in spec.adam.datasets.values()
        for p in [*bds.parameters, *bds.computed]
    }


@dataclass
class AnalysisResult:
    """What the analysis stage made: tables, PNG figures by file name, the report page."""

    summary: pd.DataFrame
    table1: pd.DataFrame
    figures: dict[str, bytes] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    html: str = ""
    findings: list[Finding] = field(default_factory=list)


def build_analysis(
    spec: StudySpec,
    datasets: Mapping[str, pd.DataFrame],
    context: Mapping[str, Any],
    validation: Mapping[str, Any],
    notes: Sequence[str] = (),
) -> AnalysisResult:
    """Summaries per endpoint, Table 1, two figures per endpoint parameter and the report.

    ``context`` is the run's provenance (studyid, title, synthetic, raw_export, versions);
    ``validation`` the summary the report shows (errors, warnings, notices, by_dataset, top).

    Example: see the module docstring.
    """
    analysis = spec.analysis
    if analysis is None:
        raise DerivationError("study.yaml has no analysis section: nothing says what to analyse")
    findings: list[Finding] = []
    parts = []
    figures: dict[str, bytes] = {}
    captions: dict[str, str] = {}
    for endpoint in analysis.endpoints:
        bds = datasets.get(endpoint.dataset)
        if bds is None:
            raise DerivationError(f"analysis: dataset {endpoint.dataset} was not derived")
        summary = cfb_summary(
            bds,
            endpoint.paramcd,
            quantile_method=analysis.quantile_method,
            population=analysis.population,
            conf_level=analysis.conf_level,
        )
        parts.append(summary)
        for paramcd in endpoint.paramcd:
            rows = summary[summary["PARAMCD"] == paramcd]
            if rows.empty:
                findings.append(
                    Finding(
                        "analysis-no-data",
                        "warning",
                        f"{paramcd} has no analysis records in the {analysis.population} "
                        "population; no summary or figure",
                        dataset=endpoint.dataset,
                        variable="PARAMCD",
                        value=paramcd,
                    )
                )
                continue
            label = str(rows["PARAM"].iloc[0] or paramcd)
            name = paramcd.lower()
            figures[f"{name}_median_iqr.png"] = figure_median_iqr(
                summary, paramcd, title=f"{label}: median (Q1, Q3) by visit", alpha=analysis.alpha
            )
            captions[f"{name}_median_iqr.png"] = (
                f"{label}: median with interquartile range by analysis visit; * p < "
                f"{analysis.alpha:g}, ** p < 0.01 against baseline"
            )
            if rows["VAR"].eq("CHG").any():
                figures[f"{name}_chg_box.png"] = figure_chg_boxplot(
                    bds[bds[analysis.population].eq("Y").fillna(False).to_numpy()],
                    paramcd,
                    title=f"{label}: change from baseline",
                )
                captions[f"{name}_chg_box.png"] = f"{label}: change from baseline by visit"
    summary = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    baseline = table1(
        datasets["ADSL"],
        datasets,
        [row.model_dump() for row in analysis.table1],
        population=analysis.population,
    )
    study = {
        **context,
        "studyid": spec.study.studyid,
        "title": spec.study.title,
        "synthetic": spec.study.synthetic,
        "adamig": ADAMIG_VERSION,
        "quantile_method": analysis.quantile_method,
        "quantile_description": QUANTILE_METHODS[analysis.quantile_method],
    }
    html = render_report(
        study=study,
        validation=validation,
        summary=summary,
        table1=baseline,
        figures=[(captions[n], figures[n]) for n in figures],
        notes=[*METHOD_NOTES, *notes],
        precision=parameter_precision(spec),
    )
    return AnalysisResult(summary, baseline, figures, captions, html, findings)
