"""The spec language: study.yaml and domain specs, their loader, the mapping methods.

Every name below is imported on first use (PEP 562): importing ``trialflow.mapping`` loads
none of its modules until a name is asked for, so a command loads only what it uses.

Example:
    >>> from trialflow.mapping import load_study
    >>> load_study.__module__
    'trialflow.mapping.load'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialflow.lazy import lazy_exports

if TYPE_CHECKING:
    from trialflow.mapping.dates import (
        parse_dates,
        parse_times,
    )
    from trialflow.mapping.docs import (
        reference_markdown,
    )
    from trialflow.mapping.load import (
        Study,
        key_line,
        load_study,
        read_yaml,
        spec_line,
        spec_text,
    )
    from trialflow.mapping.methods import (
        assign_ct,
        assign_datetime,
        assign_no_ct,
        condition_mask,
        hardcode,
        transpose,
    )
    from trialflow.mapping.spec import (
        DomainSpec,
        StudySpec,
    )

_EXPORTS: dict[str, str] = {
    "Study": "load",
    "load_study": "load",
    "read_yaml": "load",
    "key_line": "load",
    "spec_line": "load",
    "spec_text": "load",
    "StudySpec": "spec",
    "DomainSpec": "spec",
    "assign_ct": "methods",
    "assign_no_ct": "methods",
    "assign_datetime": "methods",
    "hardcode": "methods",
    "transpose": "methods",
    "condition_mask": "methods",
    "parse_dates": "dates",
    "parse_times": "dates",
    "reference_markdown": "docs",
}
"""Each public name -> the module of this package that defines it."""

__all__ = [
    "DomainSpec",
    "Study",
    "StudySpec",
    "assign_ct",
    "assign_datetime",
    "assign_no_ct",
    "condition_mask",
    "hardcode",
    "key_line",
    "load_study",
    "parse_dates",
    "parse_times",
    "read_yaml",
    "reference_markdown",
    "spec_line",
    "spec_text",
    "transpose",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
