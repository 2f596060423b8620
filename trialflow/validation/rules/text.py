"""Text values of any dataset: characters that have no place in a one-line field.

A control character (NUL, SOH, ESC and the other C0 and C1 controls, DEL) or a line break or
tab inside a value is invisible in most viewers, is written unchanged into an XPT or
Dataset-JSON file, and makes two values that look equal differ (codelists, merges, dictionary
coding). trialflow keeps such a value as it is and reports it here, showing each character as
an escape (``\\x1b``) and by its code point (U+001B).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import CONTROL, Finding, control_names, escaped
from trialflow.validation.core import Package, rule
from trialflow.validation.rules.common import report_rows, rows_where


def _may_hold_control(values: pd.Series) -> bool:
    """False when no value of ``values`` can hold a control character, told from the bytes of
    its Arrow data at once; True for other storage and whenever a byte could belong to one
    (the values are then searched exactly).

    Most text columns of a package are printable ASCII, bytes 0x20-0x7E: the smallest and the
    largest byte of the column's data tell so, at a fraction of the cost of a pattern over its
    distinct values. A control character is a byte under 0x20, DEL 0x7F, or a C1 control
    (U+0080-U+009F), which UTF-8 writes from 0xC2 on.
    """
    array = values.array
    if not isinstance(array, pd.arrays.ArrowExtensionArray):
        return True
    for chunk in array.__arrow_array__().chunks:
        buffers = chunk.buffers()
        if len(buffers) != 3:  # not text: let the values be looked at one by one
            return True
        data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else None
        if data is not None and data.size and (data.min() < 0x20 or data.max() > 0x7E):
            return True
    return False


def _text_columns(frame: pd.DataFrame, variables: list[str]) -> list[str]:
    return [
        v
        for v in variables
        if v in frame.columns
        and (pd.api.types.is_string_dtype(frame[v]) or frame[v].dtype == object)
    ]


@rule(
    "value-control-character",
    "error",
    "dataset",
    checks="Character values hold no control characters: no C0 control (NUL, SOH, ESC, ...), "
    "no tab or line break, no DEL and no C1 control.",
    why="A control character is invisible on screen, goes unchanged into the XPT or "
    "Dataset-JSON file and makes a value differ from the value it looks like (codelists, "
    "dictionary coding, merges); line breaks and tabs break one-line fields and listings.",
)
def value_control_character(package: Package) -> list[Finding]:
    """Character values holding control characters, one finding per record and variable.

    Example:
        >>> from trialflow.validation.core import Dataset
        >>> ds = Dataset.from_frame("AE", pd.DataFrame({"AETERM": ["HEADACHE", "NAU\\x1bSEA"]}))
        >>> [(f.record, f.value) for f in value_control_character(Package({"AE": ds}))]
        [(2, 'NAU\\\\x1bSEA')]
    """
    out: list[Finding] = []
    for ds in package.datasets.values():
        frame = ds.frame
        for variable in _text_columns(frame, list(ds.variables)):
            values = frame[variable]
            if not _may_hold_control(values):
                continue
            distinct = pd.Series(values.dropna().unique())
            if distinct.empty:
                continue
            distinct = distinct[distinct.map(lambda v: isinstance(v, str))]
            bad = distinct[distinct.str.contains(CONTROL, regex=True)]
            if bad.empty:
                continue
            rows = rows_where(frame, values.isin(set(bad)).to_numpy())
            shown = rows.assign(**{variable: rows[variable].map(escaped)})
            names = {escaped(v): control_names(v) for v in bad}
            out += report_rows(
                "value-control-character",
                ds,
                shown,
                variable,
                lambda r, v=variable, names=names: (
                    f"{v} value '{r[v]}' holds control character(s) {names[r[v]]}; remove "
                    "them in the source data."
                ),
                value=variable,
            )
    return out
