"""Conformance validation of SDTM and ADaM packages: the rule catalogue, schemas, the engine.

Every name below is imported on first use (PEP 562): importing ``trialflow.validation`` loads
none of its modules until a name is asked for, so a command loads only what it uses.

Example:
    >>> from trialflow.validation import validate_package
    >>> validate_package.__module__
    'trialflow.validation.engine'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialflow.lazy import lazy_exports

if TYPE_CHECKING:
    from trialflow.validation.core import (
        Dataset,
        Package,
        Rule,
        ValidationReport,
        catalogue_markdown,
        finding,
        rule,
    )
    from trialflow.validation.engine import (
        validate_package,
    )
    from trialflow.validation.schema import (
        is_iso8601_datetime,
        is_iso8601_duration,
        schema_for,
        validate_dataset,
    )
    from trialflow.validation.units import (
        expects_unit,
        shipped_test_units,
        test_unit,
    )

_EXPORTS: dict[str, str] = {
    "Dataset": "core",
    "Package": "core",
    "Rule": "core",
    "ValidationReport": "core",
    "rule": "core",
    "finding": "core",
    "catalogue_markdown": "core",
    "validate_package": "engine",
    "schema_for": "schema",
    "validate_dataset": "schema",
    "is_iso8601_datetime": "schema",
    "is_iso8601_duration": "schema",
    "shipped_test_units": "units",
    "test_unit": "units",
    "expects_unit": "units",
}
"""Each public name -> the module of this package that defines it."""

__all__ = [
    "Dataset",
    "Package",
    "Rule",
    "ValidationReport",
    "catalogue_markdown",
    "expects_unit",
    "finding",
    "is_iso8601_datetime",
    "is_iso8601_duration",
    "rule",
    "schema_for",
    "shipped_test_units",
    "test_unit",
    "validate_dataset",
    "validate_package",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
