"""The analysis stage: summaries, Table 1, figures and the HTML report from ADaM datasets.

Everything here is computed in memory; :mod:`trialflow.pipeline` writes the files
(DIR/analysis/cfb_summary.csv, table1.csv, figures/*.png, report.html, and with
``analysis.safety`` ae_summary.csv and safety_by_visit.csv).

Example:
    >>> from trialflow.pipeline import example_run
    >>> run = example_run()  # the bundled example, run end to end
    >>> sorted(run.analysis.figures)[:2]  # what build_analysis made for it
    ['fcp_chg_box.png', 'fcp_median_iqr.png']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trialflow.adam.metadata import ADAMIG_VERSION
from trialflow.adam.windows import analysis_visits, describe_analysis_visits
from trialflow.analysis.dose import dose_categories, dose_changes, dose_sentences
from trialflow.analysis.figures import (
    figure_chg_boxplot,
    figure_dose_percent,
    figure_median_iqr,
)
from trialflow.analysis.report import render_report
from trialflow.analysis.safety import ae_summary, safety_by_visit
from trialflow.analysis.stats import QUANTILE_METHODS, TEST_METHODS
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
    """What the analysis stage made: tables, PNG figures by file name, the report page.

    ``ae_summary`` and ``safety_by_visit`` are None when study.yaml has no analysis.safety;
    ``dose_categories`` and ``dose_changes`` when it has no analysis.dose or no ADDOSE.

    Example:
        >>> result = AnalysisResult(pd.DataFrame({"PARAMCD": ["FPG"]}), pd.DataFrame())
        >>> result.summary["PARAMCD"].tolist(), result.figures, result.ae_summary is None
        (['FPG'], {}, True)
    """

    summary: pd.DataFrame
    table1: pd.DataFrame
    figures: dict[str, bytes] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    html: str = ""
    findings: list[Finding] = field(default_factory=list)
    ae_summary: pd.DataFrame | None = None
    safety_by_visit: pd.DataFrame | None = None
    dose_categories: pd.DataFrame | None = None
    dose_changes: pd.DataFrame | None = None


def _no_data(paramcd: str, dataset: str, population: str, what: str) -> Finding:
    return Finding(
        "analysis-no-data",
        "warning",
        f"{paramcd} has no analysis records in the {population} population; no {what}",
        dataset=dataset,
        variable="PARAMCD",
        value=paramcd,
    )


def build_analysis(
    spec: StudySpec,
    datasets: Mapping[str, pd.DataFrame],
    context: Mapping[str, Any],
    validation: Mapping[str, Any],
    notes: Sequence[str] = (),
    *,
    locate: Callable[[str], str] | None = None,
) -> AnalysisResult:
    """Summaries per endpoint, Table 1, two figures per endpoint parameter, the safety
    tables (with ``analysis.safety``) and the report.

    ``context`` is the run's provenance (studyid, title, synthetic, raw_export, versions);
    ``validation`` the summary the report shows (errors, warnings, notices, by_dataset, top),
    to which the findings of this stage are added. ``locate`` names a key of study.yaml with
    its file and line (``Study.locate``); without it findings name the key only.

    Example:
        >>> from trialflow.pipeline import example_run
        >>> run = example_run()
        >>> result = build_analysis(run.study.spec, run.adam.datasets,
        ...                         {"studyid": run.study.studyid}, {})
        >>> sorted(result.figures)[:2], result.html.startswith("<!DOCTYPE html>")
        (['fcp_chg_box.png', 'fcp_median_iqr.png'], True)
    """
    analysis = spec.analysis
    if analysis is None:
        raise DerivationError("study.yaml has no analysis section: nothing says what to analyse")
    findings: list[Finding] = []
    where = locate or (lambda key: f"study.yaml: {key}")
    adsl = datasets.get("ADSL")
    flag = analysis.population
    if adsl is not None and len(adsl) and flag in adsl.columns and not adsl[flag].eq("Y").any():
        findings.append(
            Finding(
                "analysis-population-empty",
                "error",
                f"{where('analysis.population')}: {flag} is N for every subject of ADSL "
                f"({len(adsl)}): the summaries, figures and Table 1 have no subject",
                dataset="ADSL",
                variable=flag,
            )
        )
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
            test_method=analysis.test,
        )
        parts.append(summary)
        in_population = bds[bds[analysis.population].eq("Y").fillna(False).to_numpy()]
        for paramcd in endpoint.paramcd:
            rows = summary[summary["PARAMCD"] == paramcd]
            if rows.empty:
                findings.append(
                    _no_data(paramcd, endpoint.dataset, analysis.population, "summary or figure")
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
                    in_population,
                    summary,
                    paramcd,
                    title=f"{label}: change from baseline",
                    alpha=analysis.alpha,
                )
                captions[f"{name}_chg_box.png"] = (
                    f"{label}: change from baseline by visit (boxes: the table's Q1, median "
                    f"and Q3); * p < {analysis.alpha:g}, ** p < 0.01"
                )
    summary = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    ae = by_visit = None
    safety_notes: list[str] = []
    if analysis.safety is not None:
        safety = analysis.safety
        adae = datasets.get("ADAE")
        if adae is None:
            raise DerivationError("analysis.safety: ADAE was not derived (no AE domain?)")
        ae, safety_notes, ae_findings = ae_summary(
            adae, datasets["ADSL"], within_days=safety.within_days, population=safety.population
        )
        findings += ae_findings
        by_visit = safety_by_visit(
            datasets,
            [(p.dataset, p.paramcd) for p in safety.parameters],
            quantile_method=analysis.quantile_method,
            test_method=analysis.test,
            population=safety.population,
            conf_level=analysis.conf_level,
        )
        for p in safety.parameters:
            for paramcd in p.paramcd:
                if not by_visit["PARAMCD"].eq(paramcd).any():
                    findings.append(_no_data(paramcd, p.dataset, safety.population, "summary"))
    dose = _dose_analysis(spec, datasets, figures, captions, findings, where)
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
        "test_method": analysis.test,
        "test_description": TEST_METHODS[analysis.test],
    }
    html = render_report(
        study=study,
        validation=_with_findings(validation, findings),
        summary=summary,
        table1=baseline,
        figures=[(captions[n], figures[n]) for n in figures],
        notes=[describe_analysis_visits(analysis_visits(spec)), *METHOD_NOTES, *notes],
        precision=parameter_precision(spec),
        ae_summary=ae,
        safety_by_visit=by_visit,
        safety_notes=safety_notes,
        dose_categories=dose[0],
        dose_changes=dose[1],
        dose_sentences=dose[2],
    )
    return AnalysisResult(summary, baseline, figures, captions, html, findings, ae, by_visit,
                          dose[0], dose[1])  # fmt: skip


def _dose_analysis(
    spec: StudySpec,
    datasets: Mapping[str, pd.DataFrame],
    figures: dict[str, bytes],
    captions: dict[str, str],
    findings: list[Finding],
    where: Callable[[str], str],
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, list[str]]:
    """The dose tables, sentences and figure of ``analysis.dose`` (None without ADDOSE)."""
    analysis = spec.analysis
    wanted = analysis.dose if analysis is not None else None
    if wanted is None:
        return None, None, []
    rules = spec.adam.dose if spec.adam is not None else None
    addose = datasets.get("ADDOSE")
    if addose is None or rules is None:
        findings.append(
            Finding(
                "analysis-dose-skipped",
                "notice",
                f"{where('analysis.dose')}: ADDOSE was not derived (no adam.dose, or no CM in "
                "the package), so the report has no dose tables, figure or section",
                dataset="ADDOSE",
            )
        )
        return None, None, []
    if rules.categories is None:
        raise DerivationError(
            f"{where('analysis.dose')}: the dose analysis needs adam.dose.categories"
        )
    population = wanted.population or analysis.population  # type: ignore[union-attr]
    cats = rules.categories
    pairs = [(c.avalca1n, c.avalcat1) for c in [cats.discontinued, *cats.by_pchg]]
    categories = dose_categories(addose, wanted.paramcd, pairs, population=population)
    withdrawal = None
    if wanted.withdrawal is not None and wanted.withdrawal_class is not None:
        flags = [
            f"CRIT{y}FL"
            for y, crit in enumerate(rules.criteria, start=1)
            if crit.aval_max is not None and wanted.withdrawal in crit.paramcd
        ]
        if flags:
            withdrawal = (wanted.withdrawal_class, wanted.withdrawal, flags[-1])
    changes = dose_changes(addose, wanted.classes, withdrawal=withdrawal, population=population)
    reduced = [cats.discontinued.avalca1n, *(c.avalca1n for c in cats.by_pchg[:-1])]
    sentences = dose_sentences(categories, reduced, stopped=cats.discontinued.avalca1n)
    params = addose.loc[addose["PARAMCD"].eq(wanted.paramcd).fillna(False), "PARAM"]
    label = str(params.iloc[0]) if len(params) else wanted.paramcd
    levels = [100.0 + c.pchg_max for c in cats.by_pchg if c.pchg_max is not None]
    name = f"{wanted.paramcd.lower()}_pct_baseline.png"
    try:
        figures[name] = figure_dose_percent(
            addose, wanted.paramcd, title=f"{label}: % of baseline by visit",
            population=population, quantile_method=analysis.quantile_method,  # type: ignore[union-attr]
            levels=sorted(levels, reverse=True),
        )  # fmt: skip
        captions[name] = (
            f"{label}: each subject's dose as a percentage of its baseline dose by visit (thin "
            "lines) and the median (bold)"
        )
    except ValueError:
        findings.append(_no_data(wanted.paramcd, "ADDOSE", population, "figure"))
    return categories, changes, sentences


def _with_findings(validation: Mapping[str, Any], findings: Sequence[Finding]) -> dict:
    """The validation summary the report shows, with this stage's findings counted in."""
    out = dict(validation)
    for severity, key in (("error", "errors"), ("warning", "warnings"), ("notice", "notices")):
        out[key] = int(out.get(key) or 0) + sum(f.severity == severity for f in findings)
    serious = [f.one_line() for f in findings if f.severity in ("error", "warning")]
    out["top"] = (serious + list(out.get("top") or []))[:10]
    return out
