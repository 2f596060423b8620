"""Submission formats: XPT, Dataset-JSON, define.xml (read and write), reports.

Every name below is imported on first use (PEP 562): importing ``trialflow.io`` loads
none of its modules until a name is asked for, so a command loads only what it uses.

Example:
    >>> from trialflow.io import write_xpt
    >>> write_xpt.__module__
    'trialflow.io.xpt'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialflow.lazy import lazy_exports

if TYPE_CHECKING:
    from trialflow.io.dataset_json import (
        write_dataset_json,
    )
    from trialflow.io.define import (
        DefineDataset,
        check_define,
        define_errors,
        define_schema_path,
        stylesheet_path,
        write_define,
    )
    from trialflow.io.define_read import (
        read_define,
    )
    from trialflow.io.ectd import (
        write_ectd,
    )
    from trialflow.io.outputs import (
        verify_folder,
    )
    from trialflow.io.package import (
        read_package,
    )
    from trialflow.io.prefetch import (
        XptPrefetch,
    )
    from trialflow.io.validate import (
        ValidateResult,
        validate_paths,
    )
    from trialflow.io.workbook import (
        write_workbook,
    )
    from trialflow.io.xpt import (
        XptVariable,
        read_xpt,
        write_xpt,
    )
    from trialflow.io.xpt_v5 import (
        XptV5Data,
        XptV5Header,
        parse_xpt_v5,
        xpt_v5_header,
    )

_EXPORTS: dict[str, str] = {
    "XptVariable": "xpt",
    "read_xpt": "xpt",
    "write_xpt": "xpt",
    "write_dataset_json": "dataset_json",
    "read_package": "package",
    "XptPrefetch": "prefetch",
    "XptV5Data": "xpt_v5",
    "XptV5Header": "xpt_v5",
    "parse_xpt_v5": "xpt_v5",
    "xpt_v5_header": "xpt_v5",
    "ValidateResult": "validate",
    "validate_paths": "validate",
    "DefineDataset": "define",
    "check_define": "define",
    "define_errors": "define",
    "define_schema_path": "define",
    "stylesheet_path": "define",
    "write_define": "define",
    "read_define": "define_read",
    "verify_folder": "outputs",
    "write_ectd": "ectd",
    "write_workbook": "workbook",
}
"""Each public name -> the module of this package that defines it."""

__all__ = [
    "DefineDataset",
    "ValidateResult",
    "XptPrefetch",
    "XptV5Data",
    "XptV5Header",
    "XptVariable",
    "check_define",
    "define_errors",
    "define_schema_path",
    "parse_xpt_v5",
    "read_define",
    "read_package",
    "read_xpt",
    "stylesheet_path",
    "validate_paths",
    "verify_folder",
    "write_dataset_json",
    "write_define",
    "write_ectd",
    "write_workbook",
    "write_xpt",
    "xpt_v5_header",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
