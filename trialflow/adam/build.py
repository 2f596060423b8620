"""Build the ADaM datasets of a study from its SDTM domains, by the templates, in flow order.

ADSL first (it feeds every other dataset), then the BDS datasets (ADLB, ADVS), then ADSL's
baseline values and FASFL (which need the BDS baselines), then ADAE. The facts come from the
``adam`` section of study.yaml. Each dataset comes back in ADaM metadata order, with a
lineage table that links every ADaM record to the SDTM record(s) it came from and, when the
SDTM lineage is given, to the raw file, sheet and row behind them.

Example:
    >>> result = build_adam(study.spec, sdtm_domains)  # doctest: +SKIP
    >>> sorted(result.datasets)  # doctest: +SKIP
    ['ADAE', 'ADLB', 'ADSL', 'ADVS']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trialflow.adam import bds as bds_template
from trialflow.adam.adae import derive_adae
from trialflow.adam.adsl import add_baseline_values, derive_adsl, derive_fasfl, treatment_records
from trialflow.adam.metadata import adam_variables
from trialflow.errors import DerivationError, Finding, OnIssue, emit
from trialflow.mapping.spec import StudySpec

BDS_ADSL_VARS = ["STUDYID", "SUBJID", "SITEID", "TRT01P", "TRT01A", "TRTSDT", "TRTEDT", "SAFFL"]
ADAE_ADSL_VARS = [
    "STUDYID", "SUBJID", "SITEID", "TRT01P", "TRT01A", "TRT01AN", "TRTSDT", "TRTEDT", "SAFFL",
]  # fmt: skip


@dataclass
class AdamResult:
    """The ADaM datasets, their lineage tables and the findings met while deriving them."""

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
) -> AdamResult:
    """Derive ADSL, the BDS datasets of ``spec.adam.datasets`` and ADAE from SDTM domains.

    Example: see the module docstring.
    """
    if spec.adam is None:
        raise DerivationError("study.yaml has no adam section: nothing says how to derive ADaM")
    adam = spec.adam
    lineage_in = sdtm_lineage or {}
    for needed in ("DM", adam.treatment.domain):
        if needed not in sdtm:
            raise DerivationError(f"ADaM needs SDTM {needed}, which is not in the package")
    result = AdamResult()

    # ADSL, steps 1-4
    mh = sdtm.get(adam.adsl.diagnosis.domain) if adam.adsl.diagnosis else None
    arms = [a.armcd for a in spec.arms]
    adsl, found = derive_adsl(sdtm["DM"], sdtm["EX"], mh, adam.treatment, adam.adsl.diagnosis,
                              arms)  # fmt: skip
    result.findings += found

    # BDS datasets
    bds: dict[str, pd.DataFrame] = {}
    bds_found: dict[str, list[Finding]] = {}
    for name, bds_spec in adam.datasets.items():
        source = bds_spec.source.upper()
        if source not in sdtm:
            raise DerivationError(f"{name} is derived from SDTM {source}, which is not there")
        bds[name], bds_found[name] = bds_template.derive_bds(
            name, sdtm[source], adsl, bds_spec, adam.baseline, adam.windows, BDS_ADSL_VARS
        )

    # ADSL, step 5: baseline values and the full analysis set
    adsl = add_baseline_values(adsl, bds, adam.adsl.baseline)
    adsl = derive_fasfl(adsl, bds, adam.adsl.full_analysis)
    fasfl = adsl.set_index("USUBJID")["FASFL"]
    result.datasets["ADSL"] = _arrange(adsl, "ADSL")
    dm_rows = pd.Index(sdtm["DM"]["USUBJID"].astype("str").str.strip())
    result.lineage["ADSL"] = _lineage(
        "ADSL", result.datasets["ADSL"], "DM",
        dm_rows.get_indexer(result.datasets["ADSL"]["USUBJID"]) + 1, lineage_in,
    )  # fmt: skip

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
        seqs = sdtm["AE"].assign(U=sdtm["AE"]["USUBJID"].astype("str").str.strip())
        keys = pd.MultiIndex.from_arrays([seqs["U"], pd.to_numeric(seqs["AESEQ"])])
        wanted = pd.MultiIndex.from_arrays([adae["USUBJID"], pd.to_numeric(adae["AESEQ"])])
        result.lineage["ADAE"] = _lineage(
            "ADAE", adae, "AE", keys.get_indexer(wanted) + 1, lineage_in
        )
    result.findings = emit(result.findings, on_issue)
    return result
