"""Build the ADaM datasets of a study from its SDTM domains, by the templates, in flow order.

ADSL first (it feeds every other dataset), then the BDS datasets (ADLB, ADVS), then ADSL's
baseline values and FASFL (which need the BDS baselines), then ADAE, then ADDOSE (the daily
dose of concomitant agents from CM, :mod:`trialflow.adam.dose`; without CM it is left out
with an ``adam-dose-no-cm`` notice). The facts come from the
``adam`` section of study.yaml. Each dataset comes back in ADaM metadata order, with a
lineage table that links every ADaM record to the SDTM record(s) it came from and, when the
SDTM lineage is given, to the raw file, sheet and row behind them.

A spec entry that selects nothing is an error finding naming its line of study.yaml: a
parameter whose ``where`` matches no record, a computed parameter with no value for any
subject, a population flag that is N for every subject.

Example:
    >>> from trialflow.pipeline import example_run
    >>> run = example_run()  # the bundled example: its study and SDTM domains
    >>> result = build_adam(run.study.spec, run.sdtm.domains, on_issue="none")
    >>> sorted(result.datasets)
    ['ADAE', 'ADCM', 'ADDOSE', 'ADLB', 'ADSL', 'ADVS']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trialflow.adam import bds as bds_template
from trialflow.adam.adae import derive_adae
from trialflow.adam.adcm import derive_adcm
from trialflow.adam.adsl import (
    add_baseline_values,
    derive_adsl,
    derive_fasfl,
    derive_vars_disposition,
    treatment_records,
)
from trialflow.adam.common import text
from trialflow.adam.dates import derive_vars_dt
from trialflow.adam.dose import derive_addose
from trialflow.adam.metadata import adam_variables
from trialflow.adam.windows import AnalysisVisits, analysis_visits, compute_visit_dates
from trialflow.background import Background
from trialflow.errors import DerivationError, Finding, OnIssue, Source, emit
from trialflow.mapping.spec import AdamSpec, BdsSpec, StudySpec

Locate = Callable[[str], str]
"""Turns a key path of study.yaml (``adam.datasets.ADLB.parameters[2]``) into the text that
names it, ``path/study.yaml:57: adam.datasets.ADLB.parameters[2]``
(:meth:`trialflow.mapping.load.Study.locate`)."""


def _key_only(key: str) -> str:
    return f"study.yaml: {key}"


BDS_ADSL_VARS = ["STUDYID", "SUBJID", "SITEID", "TRT01P", "TRT01A", "TRTSDT", "TRTEDT", "SAFFL"]
ADAE_ADSL_VARS = [
    "STUDYID", "SUBJID", "SITEID", "TRT01P", "TRT01A", "TRT01AN", "TRTSDT", "TRTEDT", "SAFFL",
]  # fmt: skip


ADCM_ADSL_VARS = [*ADAE_ADSL_VARS, "EOSDT"]


class DmNotOnePerSubject(DerivationError):
    """SDTM DM has more than one record for a subject, so ADSL (one record per subject) can't
    be derived; ``records`` holds the duplicated DM records.

    Example:
        >>> dm = pd.DataFrame({"USUBJID": ["S-1", "S-1", "S-2"]})
        >>> try:
        ...     check_dm_one_per_subject(dm)
        ... except DmNotOnePerSubject as exc:
        ...     print(exc)
        ADaM not derived: DM has 2 records for subject S-1 (records 1, 2); ADSL needs one DM \
record per subject (fix the duplicate subject rows of the raw export)
    """


def check_dm_one_per_subject(dm: pd.DataFrame) -> None:
    """Raise :class:`DmNotOnePerSubject` when a USUBJID has more than one DM record.

    The message names the subjects (up to 3) and their 1-based DM record numbers.

    Example:
        >>> check_dm_one_per_subject(pd.DataFrame({"USUBJID": ["S-1", "S-2"]}))  # no error
    """
    if "USUBJID" not in dm:
        return
    dup = dm["USUBJID"].notna() & dm["USUBJID"].duplicated(keep=False)
    if not dup.any():
        return
    records = dm.loc[dup]
    positions = pd.Series(range(1, len(dm) + 1), index=dm.index)[dup]
    by_subject = positions.groupby(records["USUBJID"].astype("str"), sort=True)
    named = [
        f"{len(rows)} records for subject {subject} (records {', '.join(map(str, rows))})"
        for subject, rows in ((s, r.tolist()) for s, r in by_subject)
    ]
    more = f" and {len(named) - 3} more subjects" if len(named) > 3 else ""
    raise DmNotOnePerSubject(
        f"ADaM not derived: DM has {'; '.join(named[:3])}{more}; ADSL needs one DM record "
        "per subject (fix the duplicate subject rows of the raw export)",
        records,
    )


@dataclass
class AdamResult:
    """The ADaM datasets, their lineage tables and the findings met while deriving them.

    Example:
        >>> adsl = pd.DataFrame({"USUBJID": ["S1-001"], "SAFFL": ["Y"]})
        >>> result = AdamResult({"ADSL": adsl})
        >>> list(result.datasets), result.lineage, result.findings
        (['ADSL'], {}, [])
    """

    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)
    lineage: dict[str, pd.DataFrame] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def _arrange(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Keep the dataset's metadata variables, in metadata order."""
    names = adam_variables(dataset)["name"].tolist()
    return frame[[n for n in names if n in frame.columns]].reset_index(drop=True)


def _lineage(
    dataset: str,
    frame: pd.DataFrame,
    sdtm_domain: str,
    rows: np.ndarray,
    sdtm_lineage: Mapping[str, pd.DataFrame],
    sources: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per ADaM record: its SDTM record (1-based) and, when known, the raw row."""
    table = pd.DataFrame(
        {
            "dataset": dataset,
            "record": np.arange(1, len(frame) + 1),
            "usubjid": frame["USUBJID"].to_numpy(),
            "paramcd": frame["PARAMCD"].to_numpy() if "PARAMCD" in frame else None,
            "sdtm_dataset": np.where(pd.notna(rows), sdtm_domain, None),
            "sdtm_record": pd.array(rows, dtype="Int64"),
            "computed_from": None if sources is None else sources.to_numpy(),
        }
    )
    raw = sdtm_lineage.get(sdtm_domain)
    if raw is not None and len(raw):
        pos = table["sdtm_record"].astype("float64").to_numpy() - 1
        ok = ~np.isnan(pos) & (pos >= 0) & (pos < len(raw))
        for col in ("source_file", "source_sheet", "source_row"):
            values = np.full(len(table), None, dtype=object)
            values[ok] = raw[col].to_numpy()[pos[ok].astype(int)]
            table[col] = values
    return table


def build_adam(
    spec: StudySpec,
    sdtm: Mapping[str, pd.DataFrame],
    *,
    sdtm_lineage: Mapping[str, pd.DataFrame] | None = None,
    on_issue: OnIssue = "warn",
    locate: Locate | None = None,
) -> AdamResult:
    """Derive ADSL, the BDS datasets of ``spec.adam.datasets`` and ADAE from SDTM domains.

    ``locate`` names a key of study.yaml with its file and line in findings about the spec
    (``Study.locate``); without it they name the key only.

    Example:
        >>> from trialflow.pipeline import example_run
        >>> run = example_run()
        >>> result = build_adam(run.study.spec, run.sdtm.domains, sdtm_lineage=run.sdtm.lineage,
        ...                     on_issue="none")
        >>> len(result.datasets["ADSL"]), result.lineage["ADSL"]["source_sheet"].iloc[0]
        (16, 'DEMOG')
    """
    if spec.adam is None:
        raise DerivationError("study.yaml has no adam section: nothing says how to derive ADaM")
    adam = spec.adam
    lineage_in = sdtm_lineage or {}
    for needed in ("DM", adam.treatment.domain):
        if needed not in sdtm:
            raise DerivationError(f"ADaM needs SDTM {needed}, which is not in the package")
    check_dm_one_per_subject(sdtm["DM"])
    result = AdamResult()

    # ADSL, steps 1-4
    mh = sdtm.get(adam.adsl.diagnosis.domain) if adam.adsl.diagnosis else None
    arms = [a.armcd for a in spec.arms]
    randomized = _randomized(spec)
    adsl, found = derive_adsl(sdtm["DM"], sdtm["EX"], mh, adam.treatment, adam.adsl.diagnosis,
                              arms, randomized=randomized)  # fmt: skip
    result.findings += found
    if adam.adsl.disposition is not None:
        disposition = adam.adsl.disposition
        adsl, found = derive_vars_disposition(adsl, sdtm.get(disposition.domain), disposition)
        result.findings += found

    # BDS datasets, with the analysis visits the study declares
    visits = analysis_visits(spec)
    bds: dict[str, pd.DataFrame] = {}
    bds_found: dict[str, list[Finding]] = {}
    for name, bds_spec in adam.datasets.items():
        source = bds_spec.source.upper()
        if source not in sdtm:
            raise DerivationError(f"{name} is derived from SDTM {source}, which is not there")
    visit_dates = _reference_visit_dates(visits, adam, sdtm)
    # each BDS dataset after the first is derived by a child process (trialflow.background)
    # while this one derives the first: the same frames, on the other core
    def derive(name: str, bds_spec) -> tuple[pd.DataFrame, list[Finding]]:
        return bds_template.derive_bds(
            name, sdtm[bds_spec.source.upper()], adsl, bds_spec, adam.baseline, visits,
            BDS_ADSL_VARS, visit_dates=visit_dates, analysis_flag=adam.analysis_flag,
            derived_records=adam.derived_records,
        )  # fmt: skip

    first, *others = adam.datasets.items()
    children = {name: Background(derive, name, bds_spec) for name, bds_spec in others}
    try:
        bds[first[0]], bds_found[first[0]] = derive(*first)
        for name, child in children.items():
            bds[name], bds_found[name] = child.result()
    finally:
        for child in children.values():  # an error here: no child left deriving
            child.cancel()

    # ADSL, step 5: baseline values and the full analysis set
    adsl = add_baseline_values(adsl, bds, adam.adsl.baseline)
    adsl = derive_fasfl(adsl, bds, adam.adsl.full_analysis)
    if adam.adsl.intent_to_treat == "assigned":  # ITTFL: every subject assigned to an arm
        adsl["ITTFL"] = np.where(text(adsl["ARMCD"]).notna(), "Y", "N")
    fasfl = adsl.set_index("USUBJID")["FASFL"]
    result.datasets["ADSL"] = _arrange(adsl, "ADSL")
    dm_rows = pd.Index(sdtm["DM"]["USUBJID"].astype("str").str.strip())
    result.lineage["ADSL"] = _lineage(
        "ADSL", result.datasets["ADSL"], "DM",
        dm_rows.get_indexer(result.datasets["ADSL"]["USUBJID"]) + 1, lineage_in,
    )  # fmt: skip

    result.findings += _empty_selections(adam, bds, adsl, locate or _key_only)
    for name, frame in bds.items():
        frame = frame.assign(FASFL=frame["USUBJID"].map(fasfl))
        result.findings += bds_found[name]
        result.datasets[name] = _arrange(frame, name)
        result.lineage[name] = _lineage(
            name, frame, adam.datasets[name].source.upper(),
            frame[bds_template.HIDDEN[0]].to_numpy(dtype=float), lineage_in,
            frame.get("SRCRECS"),
        )  # fmt: skip

    # ADAE
    if adam.adae is not None and "AE" in sdtm:
        doses = treatment_records(sdtm["EX"], adam.treatment)
        adae, found = derive_adae(sdtm["AE"], adsl, doses, adam.adae, ADAE_ADSL_VARS)
        result.findings += found
        result.datasets["ADAE"] = _arrange(adae, "ADAE")
        result.lineage["ADAE"] = _occurrence_lineage("ADAE", adae, "AE", sdtm, lineage_in)
    # ADCM
    if adam.adcm is not None and "CM" in sdtm:
        adcm, found = derive_adcm(sdtm["CM"], adsl, adam.adcm, ADCM_ADSL_VARS)
        result.findings += found
        result.datasets["ADCM"] = _arrange(adcm, "ADCM")
        result.lineage["ADCM"] = _occurrence_lineage("ADCM", adcm, "CM", sdtm, lineage_in)
    # ADDOSE: the daily dose of the concomitant agents by visit, when the study declares it
    if adam.dose is not None:
        _add_addose(result, spec, sdtm, adsl, lineage_in, locate or _key_only)
    result.findings = emit(result.findings, on_issue)
    return result


def _randomized(spec: StudySpec) -> bool:
    """Whether study.yaml's trial summary says the trial is randomised (TS RANDOM = Y)."""
    entry = spec.trial.summary.get("RANDOM") if spec.trial is not None else None
    value = getattr(entry, "value", entry)
    return isinstance(value, str) and value.strip().upper() == "Y"


def _occurrence_lineage(
    name: str,
    frame: pd.DataFrame,
    domain: str,
    sdtm: Mapping[str, pd.DataFrame],
    lineage_in: Mapping[str, pd.DataFrame],
) -> pd.DataFrame:
    """The lineage of an OCCDS dataset (ADAE, ADCM): each record to the SDTM record of the
    same USUBJID and --SEQ."""
    seq = f"{domain}SEQ"
    source = sdtm[domain]
    keys = pd.MultiIndex.from_arrays(
        [source["USUBJID"].astype("str").str.strip(), pd.to_numeric(source[seq])]
    )
    wanted = pd.MultiIndex.from_arrays([frame["USUBJID"], pd.to_numeric(frame[seq])])
    return _lineage(name, frame, domain, keys.get_indexer(wanted) + 1, lineage_in)


def _add_addose(
    result: AdamResult,
    spec: StudySpec,
    sdtm: Mapping[str, pd.DataFrame],
    adsl: pd.DataFrame,
    sdtm_lineage: Mapping[str, pd.DataFrame],
    locate: Locate,
) -> None:
    """Derive ADDOSE into ``result`` (a notice, no dataset, when the package has no CM)."""
    dose = spec.adam.dose  # type: ignore[union-attr]
    assert dose is not None
    if dose.source not in sdtm:
        result.findings.append(
            Finding(
                "adam-dose-no-cm",
                "notice",
                f"{locate('adam.dose')}: ADDOSE is derived from SDTM {dose.source}, which is not "
                "in the package; ADDOSE and the dose analysis are left out",
                dataset="ADDOSE",
            )
        )
        return
    advs = result.datasets.get("ADVS")
    derived = derive_addose(
        sdtm[dose.source], sdtm.get("SV"), adsl, dose,
        {v.visit: float(v.visitnum) for v in spec.visits}, advs=advs,
        adsl_vars=[*BDS_ADSL_VARS, "FASFL"],
    )  # fmt: skip
    result.findings += _with_raw_source(derived.findings, sdtm_lineage.get(dose.source))
    result.datasets["ADDOSE"] = _arrange(derived.dataset, "ADDOSE")
    result.lineage["ADDOSE"] = dose_lineage(
        result.datasets["ADDOSE"], derived.sources, dose.source,
        sdtm_lineage.get(dose.source), result.lineage.get("ADVS"),
    )  # fmt: skip


def _with_raw_source(findings: list[Finding], lineage: pd.DataFrame | None) -> list[Finding]:
    """Findings on SDTM records with the raw file, sheet, row (and column) they came from."""
    if lineage is None or lineage.empty:
        return findings
    out = []
    for f in findings:
        if f.record is None or not 0 < f.record <= len(lineage):
            out.append(f)
            continue
        row = lineage.iloc[f.record - 1]
        column = row.get(f.variable) if f.variable and f.variable in lineage.columns else None
        if not (
            isinstance(column, str) and column and not column.startswith(("spec:", "derived:"))
        ):
            column = None
        try:
            where = Source(str(row["source_file"]), str(row["source_sheet"]),
                           int(row["source_row"]), column)  # fmt: skip
        except (KeyError, TypeError, ValueError):
            out.append(f)
            continue
        out.append(dataclasses.replace(f, source=where))
    return out


def dose_lineage(
    addose: pd.DataFrame,
    sources: pd.DataFrame,
    domain: str,
    cm_lineage: pd.DataFrame | None,
    advs_lineage: pd.DataFrame | None,
) -> pd.DataFrame:
    """ADDOSE's lineage: one row per (ADDOSE record, CM record active on the visit date), and
    for a per-kg value one more for the weight (through ADVS to its VS record and raw row).

    A record with no active regimen (AVAL 0) has one row without an SDTM record (derived,
    not computed from other records).

    Example:
        >>> addose = pd.DataFrame({"USUBJID": ["S1", "S1"], "PARAMCD": ["TOTDDD"] * 2})
        >>> sources = pd.DataFrame({"record": [1, 1], "domain": ["CM", "CM"],
        ...                         "source_record": [2, 5]})
        >>> dose_lineage(addose, sources, "CM", None, None)[["record", "sdtm_record"]].values.tolist()
        [[1, 2], [1, 5], [2, <NA>]]
    """  # noqa: E501
    rec = np.arange(1, len(addose) + 1)
    base = pd.DataFrame({"record": rec, "usubjid": addose["USUBJID"].to_numpy(),
                         "paramcd": addose["PARAMCD"].to_numpy()})  # fmt: skip
    links = sources.merge(base[["record"]], on="record")
    unlinked = base.loc[~base["record"].isin(links["record"]), ["record"]].assign(
        domain=None, source_record=np.nan
    )
    links = pd.concat([links.astype({"source_record": "float64"}), unlinked], ignore_index=True)
    links = links.sort_values(["record"], kind="stable").merge(base, on="record", how="left")
    n = len(links)
    table = pd.DataFrame(
        {
            "dataset": "ADDOSE",
            "record": links["record"].to_numpy(),
            "usubjid": links["usubjid"].to_numpy(),
            "paramcd": links["paramcd"].to_numpy(),
            "sdtm_dataset": np.full(n, None, dtype=object),
            "sdtm_record": pd.array(np.full(n, pd.NA), dtype="Int64"),
            "computed_from": np.full(n, None, dtype=object),
            "source_file": np.full(n, None, dtype=object),
            "source_sheet": np.full(n, None, dtype=object),
            "source_row": np.full(n, None, dtype=object),
        }
    )
    for name, frame, via in ((domain, cm_lineage, None), ("ADVS", advs_lineage, "ADVS")):
        mine = links["domain"].eq(name).fillna(False).to_numpy()
        if not mine.any():
            continue
        pos = links.loc[mine, "source_record"].astype("int64").to_numpy() - 1
        if via is None:
            table.loc[mine, "sdtm_dataset"] = name
            table.loc[mine, "sdtm_record"] = pos + 1
        else:
            table.loc[mine, "computed_from"] = [f"weight: ADVS record {p + 1}" for p in pos]
        if frame is None or frame.empty:
            continue
        ok = (pos >= 0) & (pos < len(frame))
        rows = np.flatnonzero(mine)[ok]
        columns = ["source_file", "source_sheet", "source_row"]
        if via is not None:
            columns = ["sdtm_dataset", "sdtm_record", *columns]
        for col in columns:
            if col in frame.columns:
                table.loc[rows, col] = frame[col].to_numpy()[pos[ok]]
    return table


def _reference_visit_dates(
    visits: AnalysisVisits, adam: AdamSpec, sdtm: Mapping[str, pd.DataFrame]
) -> pd.Series | None:
    """Each subject's date of the visit the analysis days count from (None: days are ADY).

    The earliest date recorded for that visit in SV (SVSTDTC) and in the SDTM domains the BDS
    datasets come from, so that ADLB and ADVS count from the same day.
    """
    if visits.reference_visitnum is None:
        return None
    sources = [("SV", "SVSTDTC")] + [
        (s.source.upper(), f"{s.source.upper()}DTC") for s in adam.datasets.values()
    ]
    parts = []
    for domain, dtc in dict.fromkeys(sources):
        frame = sdtm.get(domain)
        if frame is None or not {"USUBJID", "VISITNUM", dtc} <= set(frame.columns):
            continue
        at = pd.to_numeric(frame["VISITNUM"], errors="coerce").eq(visits.reference_visitnum)
        rows = frame.loc[at.fillna(False).to_numpy(), ["USUBJID", "VISITNUM", dtc]]
        dated = derive_vars_dt(rows, new_vars_prefix="A", dtc=dtc)
        parts.append(dated.assign(USUBJID=text(dated["USUBJID"]))[["USUBJID", "VISITNUM", "ADT"]])
    if not parts:
        return pd.Series(dtype="datetime64[ns]")
    return compute_visit_dates(pd.concat(parts, ignore_index=True),
                               visitnum=visits.reference_visitnum)  # fmt: skip


def _where_text(where: Mapping[str, object]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in where.items()) + "}"


def _empty_selections(
    adam: AdamSpec, bds: Mapping[str, pd.DataFrame], adsl: pd.DataFrame, locate: Locate
) -> list[Finding]:
    """Errors for spec entries that select nothing: each would leave an analysis silently empty.

    A parameter with no record, a computed parameter with no computed value, a population flag
    that is N for every subject; each names its line of study.yaml.
    """
    out: list[Finding] = []
    for name, spec in adam.datasets.items():
        out += _empty_parameters(name, spec, bds[name], locate)
    subjects = len(adsl)
    if subjects == 0:
        return out
    if not adsl["SAFFL"].eq("Y").any():
        out.append(
            Finding(
                "adam-population-empty",
                "error",
                f"{locate('adam.treatment')}: SAFFL is N for every subject ({subjects}): no "
                f"{adam.treatment.domain} record counts as treatment (EXDOSE above "
                f"{adam.treatment.min_dose:g} with a complete EXSTDTC date)",
                dataset="ADSL",
                variable="SAFFL",
            )
        )
    elif adam.adsl.full_analysis and not adsl["FASFL"].eq("Y").any():
        counts = []
        for paramcd in adam.adsl.full_analysis:
            with_chg = set()
            for frame in bds.values():
                rows = frame[frame["PARAMCD"].eq(paramcd).fillna(False) & frame["CHG"].notna()]
                with_chg |= set(rows["USUBJID"])
            counts.append(f"{paramcd} {len(with_chg)}")
        out.append(
            Finding(
                "adam-population-empty",
                "error",
                f"{locate('adam.adsl.full_analysis')}: FASFL is N for every subject "
                f"({subjects}): FASFL needs a baseline and a post-baseline change of each of "
                f"{', '.join(adam.adsl.full_analysis)}; subjects with a change: "
                f"{', '.join(counts)}",
                dataset="ADSL",
                variable="FASFL",
            )
        )
    return out


def _empty_parameters(
    name: str, spec: BdsSpec, frame: pd.DataFrame, locate: Locate
) -> list[Finding]:
    """Parameters with no record, computed parameters with no computed value."""
    out: list[Finding] = []
    source = spec.source.upper()
    paramcd = frame["PARAMCD"]
    made = paramcd.value_counts()
    valued = set(paramcd[frame["AVAL"].notna()].unique())
    for i, p in enumerate(spec.parameters):
        if p.paramcd in made.index:
            continue
        out.append(
            Finding(
                "adam-parameter-no-records",
                "error",
                f"{locate(f'adam.datasets.{name}.parameters[{i}]')}: {p.paramcd}: where "
                f"{_where_text(p.where)} matches no {source} record; {name} has no "
                f"{p.paramcd} records",
                dataset=name,
                variable="PARAMCD",
                value=p.paramcd,
            )
        )
    for j, comp in enumerate(spec.computed):
        if comp.paramcd in valued:
            continue
        empty = [f"{code} ({role})" for role, code in comp.inputs.items() if code not in valued]
        records = int(made.get(comp.paramcd, 0))
        if empty:
            why = f"its input {', '.join(empty)} has no record with a value"
        elif records:
            why = f"the formula gave no value on any of its {records} records"
        else:
            why = (
                f"its inputs {', '.join(dict.fromkeys(comp.inputs.values()))} are never there "
                "with a value for the same subject, visit and date"
            )
        out.append(
            Finding(
                "adam-computed-input-missing",
                "error",
                f"{locate(f'adam.datasets.{name}.computed[{j}]')}: {comp.paramcd} "
                f"({comp.formula}) has no value for any subject: {why}",
                dataset=name,
                variable="PARAMCD",
                value=comp.paramcd,
            )
        )
    return out
