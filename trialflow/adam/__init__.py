"""ADaM derivations with admiral's names and semantics, and the ADaM build.

Every name below is imported on first use (PEP 562): importing ``trialflow.adam`` loads
none of its modules until a name is asked for, so a command loads only what it uses.

Example:
    >>> from trialflow.adam import derive_var_base
    >>> derive_var_base.__module__
    'trialflow.adam.derive'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialflow.lazy import lazy_exports

if TYPE_CHECKING:
    from trialflow.adam.adae import (
        derive_vars_occurrence,
    )
    from trialflow.adam.adcm import (
        derive_var_ontrtfl,
    )
    from trialflow.adam.adsl import (
        derive_adsl,
        derive_vars_disposition,
        treatment_records,
    )
    from trialflow.adam.bds import (
        basetype_by_group,
        derive_basetype_records,
        derive_eot_records,
        derive_locf_records,
    )
    from trialflow.adam.build import (
        AdamResult,
        build_adam,
    )
    from trialflow.adam.dates import (
        derive_vars_dt,
        derive_vars_dy,
    )
    from trialflow.adam.derive import (
        Desc,
        compute_homa_b_cpeptide,
        compute_homa_b_insulin,
        compute_homa_ir_cpeptide,
        compute_homa_ir_insulin,
        derive_param_computed,
        derive_var_base,
        derive_var_chg,
        derive_var_extreme_flag,
        derive_var_pchg,
        desc,
        restrict,
    )
    from trialflow.adam.metadata import (
        adam_class,
        adam_keys,
        adam_label,
        adam_structure,
        adam_variables,
        known_adam_datasets,
    )
    from trialflow.adam.windows import (
        analysis_visits,
        compute_visit_dates,
        derive_var_anl_flag,
        derive_vars_avisit,
        derive_vars_avisit_nominal,
        windows_from_schedule,
    )

_EXPORTS: dict[str, str] = {
    "Desc": "derive",
    "desc": "derive",
    "derive_var_extreme_flag": "derive",
    "derive_var_base": "derive",
    "derive_var_chg": "derive",
    "derive_var_pchg": "derive",
    "derive_param_computed": "derive",
    "restrict": "derive",
    "compute_homa_ir_cpeptide": "derive",
    "compute_homa_b_cpeptide": "derive",
    "compute_homa_ir_insulin": "derive",
    "compute_homa_b_insulin": "derive",
    "derive_vars_dt": "dates",
    "derive_vars_dy": "dates",
    "compute_visit_dates": "windows",
    "derive_vars_avisit": "windows",
    "derive_vars_avisit_nominal": "windows",
    "derive_var_anl_flag": "windows",
    "windows_from_schedule": "windows",
    "analysis_visits": "windows",
    "derive_adsl": "adsl",
    "derive_vars_disposition": "adsl",
    "treatment_records": "adsl",
    "derive_var_ontrtfl": "adcm",
    "derive_vars_occurrence": "adae",
    "derive_basetype_records": "bds",
    "basetype_by_group": "bds",
    "derive_locf_records": "bds",
    "derive_eot_records": "bds",
    "AdamResult": "build",
    "build_adam": "build",
    "known_adam_datasets": "metadata",
    "adam_variables": "metadata",
    "adam_label": "metadata",
    "adam_keys": "metadata",
    "adam_class": "metadata",
    "adam_structure": "metadata",
}
"""Each public name -> the module of this package that defines it."""

ADMIRAL: dict[str, str] = {
    "compute_homa_b_cpeptide": "none: admiral has no HOMA index; a compute function for "
    "derive_param_computed(), as admiral's compute_bmi() is",
    "compute_homa_b_insulin": "none: admiral has no HOMA index; a compute function for "
    "derive_param_computed(), as admiral's compute_bmi() is",
    "compute_homa_ir_cpeptide": "none: admiral has no HOMA index; a compute function for "
    "derive_param_computed(), as admiral's compute_bmi() is",
    "compute_homa_ir_insulin": "none: admiral has no HOMA index; a compute function for "
    "derive_param_computed(), as admiral's compute_bmi() is",
    "compute_visit_dates": "none: the earliest date per subject and visit (a dplyr "
    "group_by() and summarise() in an admiral script)",
    "derive_adsl": 'none: admiral\'s ADSL template (use_ad_template("adsl"), ad_adsl.R)',
    "derive_basetype_records": "derive_basetype_records()",
    "derive_eot_records": 'derive_extreme_records() with mode = "last", filter_add on the '
    'on-treatment ANL01FL records and set_values_to = exprs(AVISIT = "End of Treatment", '
    'DTYPE = "LOV"), as admiral\'s ADVS template',
    "derive_locf_records": "derive_locf_records()",
    "derive_param_computed": "derive_param_computed()",
    "derive_var_anl_flag": "derive_var_extreme_flag() with new_var = ANL01FL: ordered by "
    'AWTDIFF then the study day, mode = "first" (rule closest); by ADT, mode "first" or '
    '"last"; by AVAL for the worst (adam.analysis_flag)',
    "derive_var_base": "derive_var_base()",
    "derive_var_chg": "derive_var_chg()",
    "derive_var_extreme_flag": "derive_var_extreme_flag()",
    "derive_var_ontrtfl": "derive_var_ontrtfl()",
    "derive_var_pchg": "derive_var_pchg()",
    "derive_vars_avisit": 'derive_vars_joined() of a windows dataset (join_type = "all", '
    "filter_join on the study day between AWLO and AWHI)",
    "derive_vars_avisit_nominal": "derive_vars_merged() of a windows dataset by the planned "
    "visit (VISITNUM)",
    "derive_vars_disposition": "derive_vars_merged() of DS with format_eosstt(), as admiral's "
    "ADSL template (formerly derive_var_disposition_status() and "
    "derive_vars_disposition_reason())",
    "derive_vars_dt": "derive_vars_dt()",
    "derive_vars_dy": "derive_vars_dy()",
    "derive_vars_occurrence": "derive_var_extreme_flag() inside restrict_derivation(), once "
    "for each of AOCCFL, AOCCSFL and AOCCPFL, as admiral's ADAE template",
}
"""Each public ``derive_*`` and ``compute_*`` function -> its admiral counterpart: the admiral
function that does the same (``derive_var_base()``), or ``none:`` and what an admiral script
writes instead. docs/derivations.md is generated from it; a test keeps it complete."""

__all__ = [
    "AdamResult",
    "Desc",
    "adam_class",
    "adam_keys",
    "adam_label",
    "adam_structure",
    "adam_variables",
    "analysis_visits",
    "basetype_by_group",
    "build_adam",
    "compute_homa_b_cpeptide",
    "compute_homa_b_insulin",
    "compute_homa_ir_cpeptide",
    "compute_homa_ir_insulin",
    "compute_visit_dates",
    "derive_adsl",
    "derive_basetype_records",
    "derive_eot_records",
    "derive_locf_records",
    "derive_param_computed",
    "derive_var_anl_flag",
    "derive_var_base",
    "derive_var_chg",
    "derive_var_extreme_flag",
    "derive_var_ontrtfl",
    "derive_var_pchg",
    "derive_vars_avisit",
    "derive_vars_avisit_nominal",
    "derive_vars_disposition",
    "derive_vars_dt",
    "derive_vars_dy",
    "derive_vars_occurrence",
    "desc",
    "known_adam_datasets",
    "restrict",
    "treatment_records",
    "windows_from_schedule",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
