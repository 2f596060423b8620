"""SDTM domains from a raw export: the build, the trial design, the derived variables, and
SDTMIG metadata and controlled terminology.

Every name below is imported on first use (PEP 562): importing ``trialflow.sdtm`` loads
none of its modules until a name is asked for, so a command loads only what it uses.

Example:
    >>> from trialflow.sdtm import study_day
    >>> study_day.__module__
    'trialflow.sdtm.derive'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialflow.lazy import lazy_exports

if TYPE_CHECKING:
    from trialflow.sdtm.build import (
        SdtmResult,
        build_sdtm,
        seq_keys,
    )
    from trialflow.sdtm.derive import (
        age_in_years,
        date_part,
        date_range,
        epoch,
        last_obs_before_exposure,
        normal_range_indicator,
        reference_dates,
        seq,
        study_day,
        total_daily_dose,
    )
    from trialflow.sdtm.design import (
        build_trial_design,
        subject_elements,
        subject_visits,
        trial_arms,
        trial_criteria,
        trial_elements,
        trial_summary,
        trial_visits,
    )
    from trialflow.sdtm.metadata import (
        codelist,
        codelist_terms,
        ct_version,
        domain_keys,
        domain_label,
        domain_variables,
        known_domains,
        search_ct,
    )

_EXPORTS: dict[str, str] = {
    "SdtmResult": "build",
    "build_sdtm": "build",
    "seq_keys": "build",
    "build_trial_design": "design",
    "trial_summary": "design",
    "trial_arms": "design",
    "trial_elements": "design",
    "trial_visits": "design",
    "trial_criteria": "design",
    "subject_visits": "design",
    "subject_elements": "design",
    "date_part": "derive",
    "study_day": "derive",
    "seq": "derive",
    "reference_dates": "derive",
    "age_in_years": "derive",
    "epoch": "derive",
    "date_range": "derive",
    "last_obs_before_exposure": "derive",
    "normal_range_indicator": "derive",
    "total_daily_dose": "derive",
    "known_domains": "metadata",
    "domain_variables": "metadata",
    "domain_label": "metadata",
    "domain_keys": "metadata",
    "codelist": "metadata",
    "codelist_terms": "metadata",
    "search_ct": "metadata",
    "ct_version": "metadata",
}
"""Each public name -> the module of this package that defines it."""

__all__ = [
    "SdtmResult",
    "age_in_years",
    "build_sdtm",
    "build_trial_design",
    "codelist",
    "codelist_terms",
    "ct_version",
    "date_part",
    "date_range",
    "domain_keys",
    "domain_label",
    "domain_variables",
    "epoch",
    "known_domains",
    "last_obs_before_exposure",
    "normal_range_indicator",
    "reference_dates",
    "search_ct",
    "seq",
    "seq_keys",
    "study_day",
    "subject_elements",
    "subject_visits",
    "total_daily_dose",
    "trial_arms",
    "trial_criteria",
    "trial_elements",
    "trial_summary",
    "trial_visits",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
