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

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trialflow.adam.metadata import ADAMIG_VERSION
from trialflow.adam.windows import analysis_visits, describe_analysis_visits
from trialflow.analysis.compare import COMPARISON_COLUMNS, ancova, rank_tests
from trialflow.analysis.dose import dose_categories, dose_changes, dose_sentences
from trialflow.analysis.figures import (
    figure_chg_boxplot,
    figure_chg_boxplot_by_group,
    figure_dose_percent,
    figure_median_iqr,
    figure_median_iqr_by_group,
)
from trialflow.analysis.report import render_report
from trialflow.analysis.safety import ae_summary, safety_by_visit
from trialflow.analysis.stats import QUANTILE_METHODS, TEST_METHODS
from trialflow.analysis.summary import (
    SINGLE_GROUP,
    TIMEPOINT_COLUMNS,
    cfb_summary,
    group_levels,
    has_timepoints,
    table1,
)
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
    ``dose_categories`` and ``dose_changes`` when it has no analysis.dose or no ADDOSE;
    ``comparisons`` (cfb_comparisons.csv) when it has no analysis.comparisons.

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
    comparisons: pd.DataFrame | None = None


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
    groups = analysis_groups(spec, adsl, analysis.population, findings, where)
    datasets = _analysed_records(_with_group(datasets, groups), spec)
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
            group=groups.variable,
            order=groups.levels,
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
            if groups.variable is not None:
                for suffix, what, cell, _records in _figure_cells(rows, in_population, groups):
                    name = f"{paramcd.lower()}{suffix}"
                    figures[f"{name}_median_iqr.png"] = figure_median_iqr_by_group(
                        cell, paramcd, groups=groups.levels,
                        title=f"{label}{what}: median (Q1, Q3) by visit and group",
                    )  # fmt: skip
                    captions[f"{name}_median_iqr.png"] = (
                        f"{label}{what}: median with interquartile range by analysis visit, "
                        "one line per group"
                    )
                    if cell["VAR"].eq("CHG").any():
                        figures[f"{name}_chg_box.png"] = figure_chg_boxplot_by_group(
                            cell, paramcd, groups=groups.levels,
                            title=f"{label}{what}: change from baseline by group",
                        )  # fmt: skip
                        captions[f"{name}_chg_box.png"] = (
                            f"{label}{what}: change from baseline by visit, one box per group "
                            "(the table's Q1, median and Q3; whiskers: minimum and maximum)"
                        )
                continue
            for suffix, what, cell, records in _figure_cells(rows, in_population, groups):
                name = f"{paramcd.lower()}{suffix}"
                figures[f"{name}_median_iqr.png"] = figure_median_iqr(
                    cell, paramcd, title=f"{label}{what}: median (Q1, Q3) by visit",
                    alpha=analysis.alpha,
                )  # fmt: skip
                captions[f"{name}_median_iqr.png"] = (
                    f"{label}{what}: median with interquartile range by analysis visit; * p < "
                    f"{analysis.alpha:g}, ** p < 0.01 against baseline"
                )
                if cell["VAR"].eq("CHG").any():
                    figures[f"{name}_chg_box.png"] = figure_chg_boxplot(
                        records,
                        cell,
                        paramcd,
                        title=f"{label}{what}: change from baseline",
                        alpha=analysis.alpha,
                    )
                    captions[f"{name}_chg_box.png"] = (
                        f"{label}{what}: change from baseline by visit (boxes: the table's Q1, "
                        f"median and Q3); * p < {analysis.alpha:g}, ** p < 0.01"
                    )
    summary = _concat(parts)
    comparisons = None
    if analysis.comparisons:
        comparisons = _comparisons(spec, datasets, groups, where, findings)
    ae = by_visit = None
    safety_notes: list[str] = []
    if analysis.safety is not None:
        safety = analysis.safety
        adae = datasets.get("ADAE")
        if adae is None:
            raise DerivationError("analysis.safety: ADAE was not derived (no AE domain?)")
        ae, safety_notes, ae_findings = _ae_by_group(
            adae, datasets["ADSL"], groups, within_days=safety.within_days or 0,
            population=safety.population,
        )  # fmt: skip
        if not safety.by_administration:
            ae, safety_notes = _ae_by_term_only(ae, safety_notes)
        findings += ae_findings
        by_visit = safety_by_visit(
            datasets,
            [(p.dataset, p.paramcd) for p in safety.parameters],
            quantile_method=analysis.quantile_method,
            test_method=analysis.test,
            population=safety.population,
            conf_level=analysis.conf_level,
            group=groups.variable,
            order=groups.levels,
        )
        for p in safety.parameters:
            for paramcd in p.paramcd:
                if not by_visit["PARAMCD"].eq(paramcd).any():
                    findings.append(_no_data(paramcd, p.dataset, safety.population, "summary"))
    dose = _dose_analysis(spec, datasets, figures, captions, findings, where, groups)
    baseline = table1(
        datasets["ADSL"],
        datasets,
        [row.model_dump() for row in analysis.table1],
        population=analysis.population,
        group=groups.variable,
        order=groups.levels,
        total=groups.total,
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
        groups=groups.sizes if groups.variable is not None else None,
        comparisons=comparisons,
    )
    return AnalysisResult(summary, baseline, figures, captions, html, findings, ae, by_visit,
                          dose[0], dose[1], comparisons)  # fmt: skip


@dataclass(frozen=True)
class Groups:
    """The treatment groups of the analysis (``analysis.group``).

    ``variable`` is the ADSL column of the groups (None: one group, :data:`SINGLE_GROUP`);
    ``levels`` the groups in the study's order; ``sizes`` the subjects of each in the
    analysis population (with "Total" when ``total``).

    Example:
        >>> groups = Groups("TRT01P", ["Placebo", "Drug X 50 mg"], control="Placebo")
        >>> groups.levels[0] == groups.control, groups.total
        (True, True)
    """

    variable: str | None
    levels: list[str]
    control: str | None = None
    total: bool = True
    sizes: dict[str, int] = field(default_factory=dict)


def analysis_groups(
    spec: StudySpec,
    adsl: pd.DataFrame | None,
    population: str,
    findings: list[Finding],
    where: Callable[[str], str] = lambda key: f"study.yaml: {key}",
) -> Groups:
    """The groups of ``analysis.group`` in ADSL, ordered by ``<variable>N`` when ADSL has it
    (TRT01PN: the order of the arms in study.yaml), else alphabetically with the control
    first. Subjects of the population without a group are an ``analysis-group-missing``
    warning (they are left out of every by-group table); a control arm with no subject in
    the population an ``analysis-group-control-missing`` warning.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> spec = load_study("mappings/hucmsc-t2dm").spec
        >>> analysis_groups(spec, None, "FASFL", []).levels  # no analysis.group: one group
        ['Total']
    """
    wanted = spec.analysis.group if spec.analysis is not None else None
    if adsl is not None and population not in adsl.columns:
        adsl = adsl.assign(**{population: "Y"})  # no flag column: every subject
    if wanted is None or adsl is None:
        size = int(adsl[population].eq("Y").fillna(False).sum()) if adsl is not None else 0
        return Groups(None, [SINGLE_GROUP], sizes={SINGLE_GROUP: size})
    variable = wanted.variable
    if variable not in adsl.columns:
        raise DerivationError(
            f"{where('analysis.group.variable')}: ADSL has no variable {variable}"
        )
    in_population = adsl[adsl[population].eq("Y").fillna(False).to_numpy()]
    values = in_population[variable]
    order = None
    if f"{variable}N" in adsl.columns:
        coded = adsl[[variable, f"{variable}N"]].dropna()
        coded = coded.assign(_N=pd.to_numeric(coded[f"{variable}N"], errors="coerce"))
        order = coded.sort_values(["_N", variable], kind="stable")[variable].astype("str")
        order = list(dict.fromkeys(order.str.strip()))
    levels = group_levels(values, order, wanted.control)
    text = values.astype("str").str.strip().where(values.notna())
    sizes = {g: int(text.eq(g).sum()) for g in levels}
    if wanted.total:
        sizes[SINGLE_GROUP] = int(sum(sizes.values()))
    without = in_population.loc[(text.isna() | text.eq("")).to_numpy(), "USUBJID"]
    if len(without):
        listed = ", ".join(without.astype("str").head(5))
        findings.append(
            Finding(
                "analysis-group-missing",
                "warning",
                f"{where('analysis.group.variable')}: {len(without)} subject(s) of the "
                f"{population} population have no {variable} ({listed}"
                f"{', ...' if len(without) > 5 else ''}); they are left out of the by-group "
                "tables, figures and comparisons",
                dataset="ADSL",
                variable=variable,
                usubjid=str(without.iloc[0]),
            )
        )
    if wanted.control is not None and wanted.control not in levels:
        findings.append(
            Finding(
                "analysis-group-control-missing",
                "warning",
                f"{where('analysis.group.control')}: no subject of the {population} population "
                f"has {variable} {wanted.control!r} (groups: {', '.join(levels) or 'none'}); "
                "nothing is compared against it",
                dataset="ADSL",
                variable=variable,
                value=wanted.control,
            )
        )
    return Groups(variable, levels, wanted.control, wanted.total, sizes)


def _per_group(
    frame: pd.DataFrame, groups: Groups, compute: Callable[[pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """``compute`` of each group's records (and of all groups', GROUP "Total", when
    ``total``), with GROUP after AVISIT; one group: all records, GROUP "Total"."""
    if groups.variable is None:
        parts = [compute(frame).assign(GROUP=SINGLE_GROUP)]
    else:
        values = frame[groups.variable].astype("str").str.strip()
        parts = [
            compute(frame[values.eq(g).fillna(False).to_numpy()]).assign(GROUP=g)
            for g in groups.levels
        ]
        if groups.total:
            grouped = frame[values.isin(groups.levels).fillna(False).to_numpy()]
            parts.append(compute(grouped).assign(GROUP=SINGLE_GROUP))
    out = pd.concat(parts, ignore_index=True)
    columns = [c for c in out.columns if c != "GROUP"]
    at = columns.index("AVISIT") + 1
    return out[[*columns[:at], "GROUP", *columns[at:]]]


def _analysed_records(datasets: Mapping[str, pd.DataFrame], spec: StudySpec) -> dict:
    """The datasets without the derived records (adam.derived_records: LOCF, LOV) that
    analysis.derived_records does not take: by default the analysis is of observed cases."""
    derived = {r.dtype for r in spec.adam.derived_records} if spec.adam is not None else set()
    left_out = sorted(derived - set(spec.analysis.derived_records if spec.analysis else []))
    out = dict(datasets)
    if not left_out:
        return out
    for name, frame in datasets.items():
        if name != "ADSL" and "DTYPE" in frame.columns:
            out[name] = frame[~frame["DTYPE"].isin(left_out).to_numpy()]
    return out


def _with_group(datasets: Mapping[str, pd.DataFrame], groups: Groups) -> dict:
    """The datasets with the group variable taken from ADSL by USUBJID (BDS and ADAE)."""
    out = dict(datasets)
    adsl = datasets.get("ADSL")
    if groups.variable is None or adsl is None:
        return out
    by_subject = adsl.drop_duplicates("USUBJID").set_index("USUBJID")[groups.variable]
    for name, frame in datasets.items():
        if name != "ADSL" and "USUBJID" in frame.columns:
            out[name] = frame.assign(**{groups.variable: frame["USUBJID"].map(by_subject)})
    return out


def _concat(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Summaries of several datasets, the time-point columns after PARAMCD when any has them."""
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    if "ATPTN" in out.columns:
        rest = [c for c in out.columns if c not in ("PARAMCD", *TIMEPOINT_COLUMNS)]
        out = out[["PARAMCD", *TIMEPOINT_COLUMNS, *rest]]
    return out


def _figure_cells(
    rows: pd.DataFrame, records: pd.DataFrame, groups: Groups
) -> list[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """The figures' cells of a parameter, one per time point: (file-name suffix, title part,
    summary rows, records). At most one time point: one cell, no suffix."""
    cells = []
    timepoints: list[float | None] = [None]
    if "ATPTN" in rows.columns:
        numbers = pd.to_numeric(rows["ATPTN"], errors="coerce")
        if numbers.nunique(dropna=False) > 1:
            timepoints = sorted(set(numbers.dropna().astype(float)))
            if numbers.isna().any():
                timepoints.append(math.nan)
    for atptn in timepoints:
        if atptn is None:
            at_rows, at_records, suffix, what = rows, records, "", ""
        else:
            missing = math.isnan(atptn)
            values = pd.to_numeric(rows["ATPTN"], errors="coerce")
            pick = values.isna() if missing else values.eq(atptn)
            at_rows = rows[pick.fillna(False).to_numpy()]
            values = pd.to_numeric(records["ATPTN"], errors="coerce")
            keep = values.isna() if missing else values.eq(atptn)
            at_records = records[keep.fillna(False).to_numpy()]
            atpt = at_rows["ATPT"].dropna()
            suffix = "" if missing else f"_tpt{float(atptn):g}".replace(".", "_")
            what = "" if missing or not len(atpt) else f", {str(atpt.iloc[0]).lower()}"
        cells.append((suffix, what, at_rows, at_records))
    return cells


def _comparisons(
    spec: StudySpec,
    datasets: Mapping[str, pd.DataFrame],
    groups: Groups,
    where: Callable[[str], str],
    findings: list[Finding],
) -> pd.DataFrame:
    """cfb_comparisons.csv: each comparison of ``analysis.comparisons`` on the post-baseline
    analysis records with a CHG of each endpoint, per PARAMCD, [time point] and visit. A
    comparison that gives nothing at a visit is an ``analysis-comparison-skipped`` notice."""
    analysis = spec.analysis
    assert analysis is not None and groups.control is not None
    variable = groups.variable
    parts = []
    timepoints = False
    for endpoint in analysis.endpoints:
        bds = datasets[endpoint.dataset]
        for comparison in analysis.comparisons:
            unknown = [c for c in comparison.covariates if c not in bds.columns]
            if unknown:
                raise DerivationError(
                    f"{where('analysis.comparisons')}: {endpoint.dataset} has no "
                    f"{', '.join(unknown)} (covariates of {comparison.method})"
                )
            text = [c for c in comparison.covariates
                    if not pd.api.types.is_numeric_dtype(bds[c])]  # fmt: skip
            if text:
                raise DerivationError(
                    f"{where('analysis.comparisons')}: {', '.join(text)} of "
                    f"{endpoint.dataset} is not numeric (covariates of {comparison.method})"
                )
        keep = (
            bds["ANL01FL"].eq("Y").fillna(False)
            & bds[analysis.population].eq("Y").fillna(False)
            & bds["CHG"].notna()
            & bds["AVISITN"].notna()
            & bds[variable].notna()
        )
        if "ABLFL" in bds.columns:
            keep &= ~bds["ABLFL"].eq("Y").fillna(False)
        data = bds.loc[keep.to_numpy()]
        data = data.assign(**{variable: data[variable].astype("str").str.strip()})
        has_tpt = has_timepoints(bds)
        timepoints |= has_tpt
        by = [*(["ATPTN"] if has_tpt else []), "AVISITN"]
        for paramcd in endpoint.paramcd:
            param = data[data["PARAMCD"].eq(paramcd).fillna(False).to_numpy()]
            label = param["PARAM"].dropna().iloc[0] if "PARAM" in param and len(param) else None
            # One step per time point and visit: cells, not records.
            for key, cell in param.groupby(by, sort=True, dropna=False):
                keys = {"PARAMCD": paramcd, "AVISITN": key[-1],
                        "AVISIT": cell["AVISIT"].dropna().iloc[0]
                        if cell["AVISIT"].notna().any() else None}  # fmt: skip
                if has_tpt:
                    atpt = cell["ATPT"].dropna() if "ATPT" in cell else cell["ATPTN"].iloc[:0]
                    keys |= {"ATPTN": key[0], "ATPT": atpt.iloc[0] if len(atpt) else None}
                for comparison in analysis.comparisons:
                    if comparison.method == "ancova":
                        rows = ancova(
                            cell, "CHG", variable, comparison.covariates,
                            control=groups.control, order=groups.levels,
                            conf_level=analysis.conf_level,
                        )  # fmt: skip
                    else:
                        rows = rank_tests(
                            cell, "CHG", variable, control=groups.control, order=groups.levels,
                            conf_level=analysis.conf_level,
                        )  # fmt: skip
                    if len(rows):
                        parts.append(rows.assign(**keys, PARAM=label))
                        continue
                    tpt = f" {keys['ATPT']}" if has_tpt and keys.get("ATPT") else ""
                    findings.append(
                        Finding(
                            "analysis-comparison-skipped",
                            "notice",
                            f"{where('analysis.comparisons')}: no {comparison.method} of "
                            f"{paramcd}{tpt} at {keys['AVISIT']}: it needs records of the "
                            f"control ({groups.control}) and another group, with degrees of "
                            "freedom left (ancova) and covariates that vary",
                            dataset=endpoint.dataset,
                            variable="CHG",
                            value=paramcd,
                        )
                    )
    by_columns = ["PARAMCD", *(TIMEPOINT_COLUMNS if timepoints else []), "AVISITN", "AVISIT"]
    columns = [*by_columns, *COMPARISON_COLUMNS, "PARAM"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    return out.reindex(columns=columns)


def _ae_by_group(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    groups: Groups,
    *,
    within_days: int,
    population: str,
) -> tuple[pd.DataFrame, list[str], list[Finding]]:
    """ae_summary per group (and for all groups, GROUP "Total", when ``total``); the notes
    and findings are those of all subjects together."""
    out, notes, findings = ae_summary(adae, adsl, within_days=within_days, population=population)
    if groups.variable is None:
        return _ae_columns(out.assign(GROUP=SINGLE_GROUP)), notes, findings
    values = adsl[groups.variable].astype("str").str.strip()
    parts = []
    for group in groups.levels:
        mine = adsl[values.eq(group).fillna(False).to_numpy()]
        ids = set(mine["USUBJID"])
        part, _, _ = ae_summary(adae[adae["USUBJID"].isin(ids).to_numpy()], mine,
                                within_days=within_days, population=population)  # fmt: skip
        parts.append(part.assign(GROUP=group))
    if groups.total:
        grouped = adsl[values.isin(groups.levels).fillna(False).to_numpy()]
        ids = set(grouped["USUBJID"])
        part, _, _ = ae_summary(adae[adae["USUBJID"].isin(ids).to_numpy()], grouped,
                                within_days=within_days, population=population)  # fmt: skip
        parts.append(part.assign(GROUP=SINGLE_GROUP))
    return _ae_columns(pd.concat(parts, ignore_index=True)), notes, findings


# ae_summary.csv's counts per administration, empty when analysis.safety.by_administration is
# false (continuous dosing: an EX record is a dosing period, not an administration)
_PER_ADMINISTRATION = (
    "N_INFUSIONS", "INFUSIONS_WITH_AE", "PCT_INFUSIONS", "SUBJECTS_WITHIN", "EVENTS_WITHIN",
    "INFUSIONS_WITH_AE_WITHIN", "PCT_INFUSIONS_WITHIN", "WITHIN_DAYS",
)  # fmt: skip


def _ae_by_term_only(ae: pd.DataFrame, notes: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The ALL rows of ae_summary (by term and group) without the per-administration counts,
    and the notes without the one on the interval after an administration."""
    out = ae[ae["INFUSION"].astype("str").eq("ALL").to_numpy()].reset_index(drop=True)
    out = out.assign(**{c: float("nan") for c in _PER_ADMINISTRATION if c in out.columns})
    kept = [n for n in notes if not n.startswith(("Within the interval", "Infusions given"))]
    return out, [n.replace("before the first infusion", "before the first dose") for n in kept]


def _ae_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """ae_summary.csv's columns with GROUP after the by-variables (term and infusion)."""
    columns = [c for c in frame.columns if c != "GROUP"]
    at = columns.index("INFUSION") + 1
    return frame[[*columns[:at], "GROUP", *columns[at:]]]


def _dose_analysis(
    spec: StudySpec,
    datasets: Mapping[str, pd.DataFrame],
    figures: dict[str, bytes],
    captions: dict[str, str],
    findings: list[Finding],
    where: Callable[[str], str],
    groups: Groups | None = None,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, list[str]]:
    """The dose tables (by group), sentences and figure of ``analysis.dose`` (None without
    ADDOSE)."""
    groups = groups or Groups(None, [SINGLE_GROUP])
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
    categories = _per_group(
        addose, groups, lambda part: dose_categories(part, wanted.paramcd, pairs,
                                                     population=population)
    )  # fmt: skip
    withdrawal = None
    if wanted.withdrawal is not None and wanted.withdrawal_class is not None:
        flags = [
            f"CRIT{y}FL"
            for y, crit in enumerate(rules.criteria, start=1)
            if crit.aval_max is not None and wanted.withdrawal in crit.paramcd
        ]
        if flags:
            withdrawal = (wanted.withdrawal_class, wanted.withdrawal, flags[-1])
    changes = _per_group(
        addose, groups, lambda part: dose_changes(part, wanted.classes, withdrawal=withdrawal,
                                                  population=population)
    )  # fmt: skip
    reduced = [cats.discontinued.avalca1n, *(c.avalca1n for c in cats.by_pchg[:-1])]
    sentences = []
    for group, part in categories.groupby("GROUP", sort=False):
        said = dose_sentences(part, reduced, stopped=cats.discontinued.avalca1n)
        sentences += said if groups.variable is None else [f"{group}: {t}" for t in said]
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
