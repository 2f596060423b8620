"""Trial design datasets from study.yaml (TS, TA, TE, TV, TI) and the subject-level SV and SE.

TS, TA, TE, TV and TI describe the planned trial: every value comes from the study's
``trial`` section, ``arms`` and ``visits``, except the TS parameters trialflow derives
(ACTSUB from DM, NARMS from ``arms``, SDTIGVER and SDTMVER from the shipped metadata). The
parameters FDA's Study Data Technical Conformance Guide asks for are listed in the package
data file ``ts-parameters.csv``; one that study.yaml leaves out is a spec error naming the key.

SV and SE describe what each subject went through, from the mapped domains:

* SV: one record per subject and visit. A visit's SVSTDTC and SVENDTC are the earliest and
  latest date of the records mapped to it (any domain with VISITNUM). Planned visits get
  SVPRESP = "Y" and SVOCCUR = "Y"; a planned visit the subject missed while still in the study
  (a later visit of the subject exists; SDTMIG 3.4 SV assumption 16) gets SVOCCUR = "N" and no
  dates; unplanned visits have SVPRESP, SVOCCUR and VISITDY empty (assumption 4c, 8).
* SE: one record per subject and element of the subject's arm (DM.ARMCD) that the subject
  started: an element starts at the DM reference date its ``starts_at`` names and ends where
  the next element starts; the last ends at RFPENDTC (or RFENDTC when that is empty).

Each builder returns the dataset (SDTMIG variable order) and its lineage table.

Example:
    >>> from trialflow.mapping.load import load_study
    >>> from trialflow.pipeline import example_paths
    >>> study = load_study(example_paths()[0])
    >>> tv, _ = trial_visits(study)
    >>> tv["VISITDY"].tolist()
    [0.0, 14.0, 21.0, 28.0, 84.0]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from trialflow.errors import Finding, SpecError
from trialflow.mapping.load import Study, read_yaml
from trialflow.mapping.spec import TsNull, TsValue
from trialflow.sdtm import derive, metadata

DESIGN_DOMAINS = ("TS", "TA", "TE", "TV", "TI")
"""The trial design datasets built from study.yaml alone."""
SUBJECT_DOMAINS = ("SV", "SE")
"""The subject-level datasets built from the mapped domains and the design."""

Built = tuple[pd.DataFrame, pd.DataFrame]


def ts_parameters() -> pd.DataFrame:
    """The TS parameters trialflow writes (:func:`trialflow.sdtm.metadata.ts_parameters`).

    Example:
        >>> ts = ts_parameters()
        >>> ts.set_index("tsparmcd").loc["ACTSUB", ["tsparm", "required", "source"]].tolist()
        ['Actual Number of Subjects', 'Y', 'dm_subjects']
    """
    return metadata.ts_parameters()


def _frame(domain: str, columns: dict[str, list]) -> pd.DataFrame:
    """A dataset in SDTMIG order with STUDYID and DOMAIN filled, typed as the IG says."""
    meta = metadata.domain_variables(domain)
    n = len(next(iter(columns.values()))) if columns else 0
    out = pd.DataFrame(index=range(n))
    types = meta.set_index("name")["type"].to_dict()
    for name in meta["name"]:
        core = meta.loc[meta["name"] == name, "core"].iloc[0]
        if name in columns:
            values = pd.Series(columns[name], index=out.index)
        elif core in ("Req", "Exp"):
            values = pd.Series([pd.NA] * n, index=out.index)
        else:
            continue
        if types[name] == "Num":
            out[name] = pd.to_numeric(values).astype("float64")
        else:
            out[name] = values.astype("str")
    out["DOMAIN"] = domain
    return out


def _lineage(
    domain: str,
    frame: pd.DataFrame,
    file: str,
    sheet: list[str] | str,
    row: list[int] | int,
    origins: dict[str, str | list[str]],
) -> pd.DataFrame:
    n = len(frame)
    seq_var = f"{domain}SEQ"
    table = pd.DataFrame(
        {
            "dataset": domain,
            "record": np.arange(1, n + 1),
            "usubjid": frame["USUBJID"].to_numpy() if "USUBJID" in frame else None,
            "seq": frame[seq_var].to_numpy() if seq_var in frame else np.nan,
            "source_file": file,
            "source_sheet": sheet,
            "source_row": np.asarray(row, dtype="int64") if n else np.array([], dtype="int64"),
        },
        index=range(n),
    )
    for name in frame.columns:
        table[name] = origins.get(name)
    return table


def _study_file(study: Study) -> str:
    return str(study.files["study"])


def _study_name(study: Study) -> str:
    """The spec file as lineage names it: its name only, as raw files are named, so the lineage
    says nothing of where the specs happened to lie and reruns elsewhere give the same bytes."""
    return Path(study.files["study"]).name


@functools.lru_cache(maxsize=8)
def _yaml_at(path: str, mtime_ns: int, size: int) -> object:
    return read_yaml(Path(path))


def _yaml(path: str) -> object:
    """study.yaml with the line of each key, read once per version of the file."""
    stat = Path(path).stat()
    return _yaml_at(path, stat.st_mtime_ns, stat.st_size)


def _line(study: Study, key: str) -> int:
    """Line of a key path (``trial.elements[1].epoch``) in study.yaml: of its deepest part
    found, 0 when none is."""
    node, line = _yaml(_study_file(study)), 0
    for part in key.split("."):
        head, *indexes = part.split("[")
        steps: list[str | int] = [head, *(int(i.rstrip("]")) for i in indexes)]
        for step in steps:
            lines = getattr(node, "lines", None)
            if isinstance(node, dict) and step in node and isinstance(lines, dict):
                line = lines.get(step, line)
            elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                line = lines[step] if isinstance(lines, list) else line
            else:
                return line
            node = node[step]
    return line


def _missing(study: Study, key: str, msg: str) -> SpecError:
    """A spec error at the line of the deepest part of ``key`` that study.yaml has."""
    return SpecError(_study_file(study), _line(study, key), key, msg)


# --- TS -----------------------------------------------------------------------------------------


def _derived_value(source: str, study: Study, dm: pd.DataFrame | None) -> str:
    return _DERIVED[source](study, dm)


def _actual_subjects(study: Study, dm: pd.DataFrame | None) -> str:
    """Subjects in DM who entered the trial (not screen failures or not assigned)."""
    if dm is None:
        raise _missing(study, "domains", "TS ACTSUB counts DM subjects; list DM in domains")
    entered = dm
    if "ARMNRS" in dm:
        entered = dm[dm["ARMNRS"].fillna("") == ""]
    return str(entered["USUBJID"].nunique())


_DERIVED: dict[str, Callable[[Study, pd.DataFrame | None], str]] = {
    "dm_subjects": _actual_subjects,
    "arms": lambda study, dm: str(len(study.spec.arms)),
    "sdtmig_version": lambda study, dm: metadata.SDTMIG_VERSION,
    "sdtm_version": lambda study, dm: metadata.SDTM_VERSION,
}
"""How each derived TS parameter gets its value (the ``source`` column of ts-parameters.csv)."""


def _entries(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


def check_trial_summary(study: Study) -> None:
    """Raise SpecError naming ``trial.summary.<TSPARMCD>`` when study.yaml leaves out a TS
    parameter FDA requires or lists one trialflow derives; run before any data is mapped.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> check_trial_summary(study)  # every required parameter is there: nothing raised
    """
    trial = study.spec.trial
    if trial is None:
        return
    params = metadata.ts_parameters()
    given = trial.summary
    derived = params[params["source"] != "study"]
    for code in derived["tsparmcd"]:
        if code in given:
            raise SpecError(
                _study_file(study),
                _line(study, f"trial.summary.{code}"),
                f"trial.summary.{code}",
                f"{code} is derived by trialflow "
                f"({derived.set_index('tsparmcd').loc[code, 'source']}); remove it from study.yaml",
            )
    required = params[(params["required"] == "Y") & (params["source"] == "study")]
    absent = [c for c in required["tsparmcd"] if c not in given]
    if absent:
        raise _missing(
            study,
            f"trial.summary.{absent[0]}",
            f"TS parameter {absent[0]} ({required.set_index('tsparmcd').loc[absent[0], 'tsparm']}) "
            f"is required; add trial.summary.{absent[0]} (a value, or {{nf: NA}} when it does not "
            f"apply)" + (f"; also missing: {', '.join(absent[1:])}" if absent[1:] else ""),
        )


def trial_summary(study: Study, dm: pd.DataFrame | None = None) -> Built:
    """TS: one record per parameter value, in the order of ts-parameters.csv, then any other
    parameter study.yaml lists. Raises SpecError naming ``trial.summary.<TSPARMCD>`` when a
    parameter FDA requires is missing, or a value is not a term of the parameter's codelist.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> dm = pd.DataFrame({"STUDYID": ["HUCMSC-T2DM"], "USUBJID": ["HUCMSC-T2DM-01-001"],
        ...     "ARMCD": ["HUCMSC"], "RFICDTC": ["2019-01-15"], "RFSTDTC": ["2019-05-12T09:50"],
        ...     "RFXSTDTC": ["2019-05-12T09:50"],
        ...     "RFXENDTC": ["2019-05-25T09:15"], "RFENDTC": ["2019-07-27T10:06"],
        ...     "RFPENDTC": ["2019-07-27"]})
        >>> ts, lineage = trial_summary(study, dm)
        >>> ts.set_index("TSPARMCD").loc["ACTSUB", "TSVAL"]  # one subject in this DM
        '1'
    """
    trial = study.spec.trial
    if trial is None:
        raise _missing(study, "trial", "the trial design needs the trial section")
    check_trial_summary(study)
    params = metadata.ts_parameters()
    given = trial.summary
    derived = params[params["source"] != "study"]
    known = params.set_index("tsparmcd")
    order = [c for c in params["tsparmcd"] if c in given or c in set(derived["tsparmcd"])]
    order += [c for c in given if c not in known.index]
    cols: dict[str, list] = {
        k: []
        for k in (
            "TSSEQ",
            "TSPARMCD",
            "TSPARM",
            "TSVAL",
            "TSVALNF",
            "TSVALCD",
            "TSVCDREF",
            "TSVCDVER",
        )
    }
    rows: list[int] = []
    sheets: list[str] = []
    for code in order:
        key = f"trial.summary.{code}"
        if code in known.index and known.loc[code, "source"] != "study":
            entries: list[object] = [_derived_value(known.loc[code, "source"], study, dm)]
            sheet, row = f"derived: {known.loc[code, 'source']}", 0
        else:
            entries = _entries(given[code])
            sheet, row = key, _line(study, key)
        if code not in known.index:
            raise SpecError(
                _study_file(study),
                _line(study, key),
                key,
                f"{code} is not a TS parameter trialflow knows ({', '.join(params['tsparmcd'])})",
            )
        codelist = known.loc[code, "codelist"]
        for seq, entry in enumerate(entries, start=1):
            val, nf, cd, ref, ver = _ts_entry(entry)
            if codelist and nf == "":
                cl = metadata.codelist(codelist)
                hit = cl.terms[cl.terms["term"] == val]
                if hit.empty:
                    raise SpecError(
                        _study_file(study),
                        _line(study, key),
                        key,
                        f"{val!r} is not a term of codelist {codelist} "
                        f"({', '.join(cl.terms['term'].head(12))})",
                    )
                cd = cd or str(hit["term_code"].iloc[0])
                if cd:
                    ref = ref or "CDISC CT"
            if cd and not ref:
                ref = "CDISC CT"
            if ref == "CDISC CT" and not ver:
                ver = metadata.ct_version()
            for name, v in zip(
                cols, (seq, code, known.loc[code, "tsparm"], val, nf, cd, ref, ver), strict=True
            ):
                cols[name].append(v if v != "" else pd.NA)
            rows.append(row)
            sheets.append(sheet)
    frame = _frame("TS", {"STUDYID": [study.studyid] * len(rows), **cols})
    lineage = _lineage(
        "TS",
        frame,
        _study_name(study),
        sheets,
        rows,
        {
            "STUDYID": "spec: study.yaml studyid",
            "DOMAIN": "spec: domain",
            "TSPARM": "spec: ts-parameters.csv",
            "TSVAL": "spec: study.yaml trial.summary",
        },
    )
    return frame, lineage


def _ts_entry(entry: object) -> tuple[str, str, str, str, str]:
    """(TSVAL, TSVALNF, TSVALCD, TSVCDREF, TSVCDVER) of one trial.summary entry."""
    if isinstance(entry, TsNull):
        return "", entry.nf, "", "", ""
    if isinstance(entry, TsValue):
        return (
            _text(entry.value),
            "",
            entry.code or "",
            entry.dictionary or "",
            entry.version or "",
        )
    return _text(entry), "", "", "", ""


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- TE, TA, TV, TI ---------------------------------------------------------------------------


def trial_elements(study: Study) -> Built:
    """TE: one record per planned element of ``trial.elements``.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> trial_elements(study)[0]["ETCD"].tolist()
        ['RUNIN', 'HUCMSC', 'FU']
    """
    trial = study.spec.trial
    if trial is None:
        raise _missing(study, "trial", "the trial design needs the trial section")
    els = trial.elements
    frame = _frame(
        "TE",
        {
            "STUDYID": [study.studyid] * len(els),
            "ETCD": [e.etcd for e in els],
            "ELEMENT": [e.element for e in els],
            "TESTRL": [e.start for e in els],
            "TEENRL": [e.end if e.end is not None else pd.NA for e in els],
            "TEDUR": [e.duration if e.duration is not None else pd.NA for e in els],
        },
    )
    rows = [_line(study, f"trial.elements[{i}]") for i in range(len(els))]
    sheets = [f"trial.elements[{i}]" for i in range(len(els))]
    return frame, _lineage("TE", frame, _study_name(study), sheets, rows, {})


def trial_arms(study: Study) -> Built:
    """TA: one record per element of each arm, in the order ``trial.arms`` gives.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> ta, _ = trial_arms(study)
        >>> ta[["ARMCD", "TAETORD", "ETCD", "EPOCH"]].values.tolist()[0]
        ['HUCMSC', 1.0, 'RUNIN', 'RUN-IN']
    """
    trial = study.spec.trial
    if trial is None:
        raise _missing(study, "trial", "the trial design needs the trial section")
    elements = {e.etcd: e for e in trial.elements}
    arm_names = {a.armcd: a.arm for a in study.spec.arms}
    recs = [
        (armcd, arm_names[armcd], order, etcd, elements[etcd].element, elements[etcd].epoch)
        for armcd in [a.armcd for a in study.spec.arms]
        for order, etcd in enumerate(trial.arms[armcd], start=1)
    ]
    cols = ["ARMCD", "ARM", "TAETORD", "ETCD", "ELEMENT", "EPOCH"]
    frame = _frame(
        "TA",
        {
            "STUDYID": [study.studyid] * len(recs),
            **{c: [r[i] for r in recs] for i, c in enumerate(cols)},
        },
    )
    rows = [_line(study, f"trial.arms.{r[0]}") for r in recs]
    sheets = [f"trial.arms.{r[0]}" for r in recs]
    return frame, _lineage("TA", frame, _study_name(study), sheets, rows, {})


def trial_visits(study: Study) -> Built:
    """TV: one record per planned visit of ``visits``, VISITDY its planned day. The schedule
    does not depend on the arm, so ARMCD is empty (SDTMIG 3.4 TV); TVSTRL says the visit's
    planned day and window as study.yaml gives them.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> trial_visits(study)[0][["VISIT", "VISITDY"]].values.tolist()[1]
        ['DAY 14', 14.0]
    """
    visits = study.spec.visits
    if not visits:
        raise _missing(study, "visits", "TV needs the planned visits; add visits")
    rules = [
        f"Day {v.day} of the visit schedule"
        + (f", window +/- {v.window} days" if v.window is not None else "")
        for v in visits
    ]
    frame = _frame(
        "TV",
        {
            "STUDYID": [study.studyid] * len(visits),
            "VISITNUM": [v.visitnum for v in visits],
            "VISIT": [v.visit for v in visits],
            "VISITDY": [v.day for v in visits],
            "TVSTRL": rules,
        },
    )
    rows = [_line(study, f"visits[{i}]") for i in range(len(visits))]
    sheets = [f"visits[{i}]" for i in range(len(visits))]
    return frame, _lineage("TV", frame, _study_name(study), sheets, rows, {})


def trial_criteria(study: Study) -> Built:
    """TI: one record per inclusion or exclusion criterion of ``trial.criteria``.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> trial_criteria(study)[0]["IECAT"].tolist()[0]
        'INCLUSION'
    """
    trial = study.spec.trial
    crit = trial.criteria if trial is not None else []
    frame = _frame(
        "TI",
        {
            "STUDYID": [study.studyid] * len(crit),
            "IETESTCD": [c.ietestcd for c in crit],
            "IETEST": [c.ietest for c in crit],
            "IECAT": [c.category for c in crit],
        },
    )
    rows = [_line(study, f"trial.criteria[{i}]") for i in range(len(crit))]
    sheets = [f"trial.criteria[{i}]" for i in range(len(crit))]
    return frame, _lineage("TI", frame, _study_name(study), sheets, rows, {})


# --- SV, SE ----------------------------------------------------------------------------------


def _visit_records(
    domains: dict[str, pd.DataFrame], lineage: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """Every mapped record with a VISITNUM: subject, visit, date and its raw source."""
    parts, domains_used = [], []
    for code, frame in domains.items():
        if "VISITNUM" not in frame or "USUBJID" not in frame:
            continue
        domains_used.append(code)
        dtc = next((f"{code}{v}" for v in ("DTC", "STDTC") if f"{code}{v}" in frame), None)
        lin = lineage.get(code)
        part = pd.DataFrame(
            {
                "USUBJID": frame["USUBJID"].astype("str").to_numpy(),
                "VISITNUM": frame["VISITNUM"].to_numpy(dtype="float64"),
                "VISIT": frame["VISIT"].astype("str").to_numpy() if "VISIT" in frame else pd.NA,
                "DTC": frame[dtc].astype("str").to_numpy() if dtc else pd.NA,
                "source_file": lin["source_file"].to_numpy() if lin is not None else code,
                "source_sheet": lin["source_sheet"].to_numpy() if lin is not None else code,
                "source_row": lin["source_row"].astype("int64").to_numpy()
                if lin is not None
                else 0,
                "origin": "",
            }
        )
        parts.append(part[part["VISITNUM"].notna()])
    columns = [
        "USUBJID",
        "VISITNUM",
        "VISIT",
        "DTC",
        "source_file",
        "source_sheet",
        "source_row",
        "origin",
    ]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    used = ", ".join(domains_used)
    out["origin"] = f"derived: the visit's records in {used} (raw: its earliest record)"
    out["DTC"] = out["DTC"].astype("str").where(out["DTC"].astype("str") != "", pd.NA)
    return out


def subject_visits(
    study: Study, domains: dict[str, pd.DataFrame], lineage: dict[str, pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame, list[Finding]]:
    """SV from the mapped domains (see the module docstring for the rules), its lineage and a
    notice for each planned visit a subject missed.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> from trialflow.raw import read_export
        >>> from trialflow.sdtm.build import build_sdtm
        >>> result = build_sdtm(study, read_export(example_paths()[1]), on_issue="none")
        >>> sv, _, found = subject_visits(study, result.domains, result.lineage)
        >>> sv[["VISITNUM", "SVPRESP", "SVOCCUR"]].values.tolist()[:2]
        [[1.0, 'Y', 'Y'], [2.0, 'Y', 'Y']]
    """
    recs = _visit_records(domains, lineage)
    planned = pd.DataFrame(
        {
            "VISITNUM": [float(v.visitnum) for v in study.spec.visits],
            "PLANNED_VISIT": [v.visit for v in study.spec.visits],
            "VISITDY": [float(v.day) for v in study.spec.visits],
            "line": [_line(study, f"visits[{i}]") for i in range(len(study.spec.visits))],
        }
    )
    # earliest record first: its raw row is the visit's lineage
    recs = recs.sort_values(["USUBJID", "VISITNUM", "DTC"], na_position="last", kind="stable")
    grouped = recs.groupby(["USUBJID", "VISITNUM"], sort=True)
    seen = grouped.first().reset_index()
    seen["SVSTDTC"] = grouped["DTC"].min().to_numpy()
    seen["SVENDTC"] = grouped["DTC"].max().to_numpy()
    seen = seen.merge(planned, on="VISITNUM", how="left")
    is_planned = seen["PLANNED_VISIT"].notna()
    seen["VISIT"] = seen["PLANNED_VISIT"].where(is_planned, seen["VISIT"])
    seen["SVPRESP"] = pd.Series("Y", index=seen.index).where(is_planned, pd.NA)
    seen["SVOCCUR"] = seen["SVPRESP"]
    # planned visits missed while the subject was still in the study (a later visit exists)
    last = recs.groupby("USUBJID")["VISITNUM"].max()
    grid = pd.MultiIndex.from_product(
        [last.index, planned["VISITNUM"]], names=["USUBJID", "VISITNUM"]
    ).to_frame(index=False)
    grid = grid[grid["VISITNUM"].to_numpy() < last.reindex(grid["USUBJID"]).to_numpy()]
    attended = pd.MultiIndex.from_frame(seen[["USUBJID", "VISITNUM"]])
    missed = grid[~pd.MultiIndex.from_frame(grid).isin(attended)].merge(planned, on="VISITNUM")
    missed = missed.assign(
        VISIT=missed["PLANNED_VISIT"],
        SVPRESP="Y",
        SVOCCUR="N",
        SVSTDTC=pd.NA,
        SVENDTC=pd.NA,
        source_file=_study_name(study),
        source_sheet="visits",
        source_row=missed["line"].astype("int64"),
        origin="derived: planned visit (study.yaml visits) with no record of the subject",
    )
    allv = pd.concat([seen, missed], ignore_index=True)
    allv = allv.sort_values(["USUBJID", "VISITNUM"], kind="stable").reset_index(drop=True)
    dm = domains.get("DM")
    ref = (
        # a subject with two DM records (raw-duplicate-record) takes the first one's date
        allv["USUBJID"].map(dm.drop_duplicates("USUBJID").set_index("USUBJID")["RFSTDTC"])
        if dm is not None and "RFSTDTC" in dm
        else pd.Series(pd.NA, index=allv.index, dtype="str")
    )
    start = allv["SVSTDTC"].astype("str")
    end = allv["SVENDTC"].astype("str")
    frame = _frame(
        "SV",
        {
            "STUDYID": [study.studyid] * len(allv),
            "USUBJID": allv["USUBJID"].tolist(),
            "VISITNUM": allv["VISITNUM"].tolist(),
            "VISIT": allv["VISIT"].tolist(),
            "SVPRESP": allv["SVPRESP"].tolist(),
            "SVOCCUR": allv["SVOCCUR"].tolist(),
            "VISITDY": allv["VISITDY"].tolist(),
            "SVSTDTC": start.tolist(),
            "SVENDTC": end.tolist(),
            "SVSTDY": derive.study_day(start, ref.astype("str")).tolist(),
            "SVENDY": derive.study_day(end, ref.astype("str")).tolist(),
        },
    )
    origin = allv["origin"].tolist()
    lin = _lineage(
        "SV",
        frame,
        allv["source_file"].astype("str").tolist(),
        allv["source_sheet"].astype("str").tolist(),
        allv["source_row"].astype("int64").tolist(),
        {
            "SVSTDTC": [o.replace("records", "earliest date of the records", 1) for o in origin],
            "SVENDTC": [o.replace("records", "latest date of the records", 1) for o in origin],
            "VISITDY": "spec: study.yaml visits day",
            "SVSTDY": "derived: SVSTDTC - DM.RFSTDTC",
            "SVENDY": "derived: SVENDTC - DM.RFSTDTC",
        },
    )
    findings = [
        Finding(
            "planned-visit-missed",
            "notice",
            f"{u} has no record of planned visit {v} although later visits were recorded; "
            "SV shows it with SVOCCUR = N",
            dataset="SV",
            variable="SVOCCUR",
            record=int(i) + 1,
            usubjid=str(u),
            value=str(v),
        )
        for i, u, v in zip(
            frame.index[frame["SVOCCUR"] == "N"],
            frame.loc[frame["SVOCCUR"] == "N", "USUBJID"],
            frame.loc[frame["SVOCCUR"] == "N", "VISIT"],
            strict=True,
        )
    ]
    return frame, lin, findings


def subject_elements(study: Study, dm: pd.DataFrame, dm_lineage: pd.DataFrame | None) -> Built:
    """SE: the elements of each subject's arm (DM.ARMCD) that the subject started, each from the
    DM reference date its ``starts_at`` names to the next element's start (the last one to
    RFPENDTC, or RFENDTC when that is empty). An element whose start date is missing (a subject
    never treated) is not a record.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> dm = pd.DataFrame({"STUDYID": ["HUCMSC-T2DM"], "USUBJID": ["HUCMSC-T2DM-01-001"],
        ...     "ARMCD": ["HUCMSC"], "RFICDTC": ["2019-01-15"], "RFSTDTC": ["2019-05-12T09:50"],
        ...     "RFXSTDTC": ["2019-05-12T09:50"],
        ...     "RFXENDTC": ["2019-05-25T09:15"], "RFENDTC": ["2019-07-27T10:06"],
        ...     "RFPENDTC": ["2019-07-27"]})
        >>> se, _ = subject_elements(study, dm, None)
        >>> for row in se[["ETCD", "SESTDTC", "SEENDTC"]].values.tolist():  # RUNIN from RFICDTC ...
        ...     print(row)
        ['RUNIN', '2019-01-15', '2019-05-12T09:50']
        ['HUCMSC', '2019-05-12T09:50', '2019-05-25T09:15']
        ['FU', '2019-05-25T09:15', '2019-07-27']
    """
    trial = study.spec.trial
    if trial is None:
        raise _missing(study, "trial", "the trial design needs the trial section")
    elements = {e.etcd: e for e in trial.elements}
    for i, e in enumerate(trial.elements):
        if e.starts_at is None:
            raise SpecError(
                _study_file(study),
                _line(study, f"trial.elements[{i}]"),
                f"trial.elements[{i}].starts_at",
                f"SE needs the DM date element {e.etcd} starts at; add starts_at (e.g. RFXSTDTC)",
            )
        if e.starts_at not in dm:
            raise SpecError(
                _study_file(study),
                _line(study, f"trial.elements[{i}].starts_at"),
                f"trial.elements[{i}].starts_at",
                f"DM has no variable {e.starts_at}",
            )
    # end of participation: RFPENDTC, or RFENDTC where RFPENDTC is empty or not in DM
    last = dm["RFENDTC"] if "RFENDTC" in dm else pd.Series(pd.NA, index=dm.index, dtype="str")
    if "RFPENDTC" in dm:
        last = dm["RFPENDTC"].where(dm["RFPENDTC"].fillna("") != "", last)
    last_origin = "DM.RFPENDTC (or RFENDTC)" if "RFPENDTC" in dm else "DM.RFENDTC"
    parts = []
    for armcd, sequence in trial.arms.items():
        subj = dm[dm["ARMCD"].astype("str") == armcd]
        for order, etcd in enumerate(sequence, start=1):
            el = elements[etcd]
            nxt = elements[sequence[order]].starts_at if order < len(sequence) else None
            # an element ends where the next starts; the last one, or one whose next element
            # the subject never started, at the end of participation
            stop = last.loc[subj.index]
            end_origin = pd.Series(f"derived: {last_origin}", index=subj.index)
            if nxt:
                started = subj[nxt].fillna("") != ""
                stop = subj[nxt].where(started, stop)
                end_origin = end_origin.mask(started, f"derived: DM.{nxt}")
            parts.append(
                pd.DataFrame(
                    {
                        "USUBJID": subj["USUBJID"].astype("str"),
                        "ETCD": etcd,
                        "ELEMENT": el.element,
                        "TAETORD": float(order),
                        "EPOCH": el.epoch,
                        "SESTDTC": subj[el.starts_at].astype("str"),
                        "SEENDTC": stop.astype("str"),
                        "RFSTDTC": subj["RFSTDTC"].astype("str"),
                        "origin": f"derived: DM.{el.starts_at}",
                        "end_origin": end_origin,
                        "row": subj.index,
                    }
                )
            )
    se = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            columns=[
                "USUBJID",
                "ETCD",
                "ELEMENT",
                "TAETORD",
                "EPOCH",
                "SESTDTC",
                "SEENDTC",
                "RFSTDTC",
                "origin",
                "end_origin",
                "row",
            ]
        )
    )
    se = se[se["SESTDTC"].fillna("") != ""]
    se = se.sort_values(["USUBJID", "TAETORD"], kind="stable").reset_index(drop=True)
    seq = se.groupby("USUBJID").cumcount() + 1
    frame = _frame(
        "SE",
        {
            "STUDYID": [study.studyid] * len(se),
            "USUBJID": se["USUBJID"].tolist(),
            "SESEQ": seq.tolist(),
            "ETCD": se["ETCD"].tolist(),
            "ELEMENT": se["ELEMENT"].tolist(),
            "TAETORD": se["TAETORD"].tolist(),
            "EPOCH": se["EPOCH"].tolist(),
            "SESTDTC": se["SESTDTC"].tolist(),
            "SEENDTC": se["SEENDTC"].tolist(),
            "SESTDY": derive.study_day(se["SESTDTC"], se["RFSTDTC"]).tolist(),
            "SEENDY": derive.study_day(se["SEENDTC"], se["RFSTDTC"]).tolist(),
        },
    )
    if dm_lineage is not None and len(dm_lineage) == len(dm):
        pos = dm.index.get_indexer(se["row"])
        src = dm_lineage.iloc[pos]
        file, sheet = src["source_file"].tolist(), src["source_sheet"].tolist()
        row = src["source_row"].astype("int64").tolist()
    else:
        file, sheet, row = "DM", "DM", [0] * len(se)
    lin = _lineage(
        "SE",
        frame,
        file,
        sheet,
        row,
        {
            "SESTDTC": se["origin"].tolist(),
            "SEENDTC": se["end_origin"].tolist(),
            "ETCD": "spec: study.yaml trial.arms",
            "SESEQ": "derived: order of TAETORD",
        },
    )
    return frame, lin


def build_trial_design(
    study: Study, domains: dict[str, pd.DataFrame], lineage: dict[str, pd.DataFrame]
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], list[Finding]]:
    """TS, TA, TE, TV, TI, SV and SE of a study whose study.yaml has a ``trial`` section
    (nothing when it has none), with their lineage and the findings made.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> study = load_study(example_paths()[0])
        >>> from trialflow.raw import read_export
        >>> from trialflow.sdtm.build import build_sdtm
        >>> result = build_sdtm(study, read_export(example_paths()[1]), on_issue="none")
        >>> made, _, _ = build_trial_design(study, result.domains, result.lineage)
        >>> list(made)
        ['TS', 'TA', 'TE', 'TV', 'TI', 'SV', 'SE']
    """
    if study.spec.trial is None:
        return {}, {}, []
    dm = domains.get("DM")
    made: dict[str, Built] = {
        "TS": trial_summary(study, dm),
        "TA": trial_arms(study),
        "TE": trial_elements(study),
        "TV": trial_visits(study),
        "TI": trial_criteria(study),
    }
    sv, sv_lineage, findings = subject_visits(study, domains, lineage)
    made["SV"] = (sv, sv_lineage)
    if dm is not None:
        made["SE"] = subject_elements(study, dm, lineage.get("DM"))
    frames, lineages = {}, {}
    for code, (frame, lin) in made.items():
        frames[code], lineages[code] = _sorted(code, frame, lin)
    return frames, lineages, findings


def _sorted(domain: str, frame: pd.DataFrame, lineage: pd.DataFrame) -> Built:
    """The dataset sorted as the mapped domains are: by USUBJID and --SEQ when it has --SEQ,
    else by its SDTMIG keys; the lineage follows, its records renumbered."""
    seq = f"{domain}SEQ"
    if seq in frame and "USUBJID" in frame:
        keys = ["USUBJID", seq]
    else:
        keys = [k for k in metadata.domain_keys(domain) if k != "STUDYID"]
    order = frame.sort_values(keys, kind="stable", na_position="first").index
    frame = frame.loc[order].reset_index(drop=True)
    lineage = lineage.loc[order].reset_index(drop=True)
    lineage["record"] = np.arange(1, len(frame) + 1)
    return frame, lineage
