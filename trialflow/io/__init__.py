"""Submission formats: XPT, Dataset-JSON, define.xml (read and write), reports.

The define.xml writer is exported here and imported on first use (lxml is loaded only then).

Example:
    >>> from trialflow.io import write_define
    >>> write_define.__name__
    'write_define'
    >>> from trialflow.io import verify_folder  # an output folder against its manifest.json
    >>> verify_folder.__name__
    'verify_folder'
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DefineDataset",
    "check_define",
    "define_errors",
    "define_schema_path",
    "read_define",
    "stylesheet_path",
    "verify_folder",
    "write_define",
]


def __getattr__(name: str) -> Any:
    if name == "verify_folder":
        from trialflow.io import outputs

        return outputs.verify_folder
    if name == "read_define":
        from trialflow.io import define_read

        return define_read.read_define
    if name in __all__:
        from trialflow.io import define

        return getattr(define, name)
    raise AttributeError(f"module 'trialflow.io' has no attribute {name!r}")
