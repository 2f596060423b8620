"""SAS XPORT v5 limits of every dataset: names, labels and lengths."""

from __future__ import annotations

import re

import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import (
    Dataset,
    Package,
    finding,
    rule,
)
from trialflow.validation.rules.common import (
    fmt,
)

_V5_NAME = r"[A-Za-z][A-Za-z0-9_]{0,7}"


@rule(
    "v5-dataset-name",
    "error",
    "xpt",
    checks="Dataset names have at most 8 characters: letters, digits and underscores, starting "
    "with a letter.",
    why="SAS XPORT v5 stores the dataset name in 8 bytes and the file must be named after it.",
)
def v5_dataset_name(package: Package) -> list[Finding]:
    """Dataset names that SAS XPORT v5 cannot hold."""
    out = []
    for ds in package.datasets.values():
        if re.fullmatch(_V5_NAME, ds.name):
            continue
        out.append(
            finding(
                "v5-dataset-name",
                f"Dataset name {fmt(ds.name)} is not a SAS XPORT v5 name; use at most 8 letters, "
                "digits or underscores, starting with a letter.",
                ds,
            )
        )
    return out


@rule(
    "v5-variable-name",
    "error",
    "xpt",
    checks="Variable names have at most 8 characters: letters, digits and underscores, starting "
    "with a letter.",
    why="SAS XPORT v5 stores variable names in 8 bytes; longer names are truncated or refused.",
    refs=["CORE-000182", "CG0310"],
)
def v5_variable_name(package: Package) -> list[Finding]:
    """Variable names that SAS XPORT v5 cannot hold."""
    out = []
    for ds in package.datasets.values():
        names = pd.Series(ds.variables, dtype="str")
        for name in names[~names.str.fullmatch(_V5_NAME).fillna(False).astype(bool)]:
            out.append(
                finding(
                    "v5-variable-name",
                    f"Variable name {fmt(name)} is not a SAS XPORT v5 name; use at most 8 letters, "
                    "digits or underscores, starting with a letter.",
                    ds,
                    variable=name,
                )
            )
    return out


def _labels(ds: Dataset) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = [(None, ds.label)] if ds.label else []
    return out + [(v, str(lab)) for v, lab in ds.labels.items() if lab]


@rule(
    "v5-label-too-long",
    "error",
    "xpt",
    checks="The dataset label and variable labels have at most 40 characters.",
    why="SAS XPORT v5 stores labels in 40 bytes; a longer label is cut off.",
    refs=["CORE-000019", "CG0311"],
)
def v5_label_too_long(package: Package) -> list[Finding]:
    """Labels longer than 40 characters."""
    out = []
    for ds in package.datasets.values():
        for variable, label in _labels(ds):
            if len(label) <= 40:
                continue
            what = f"{variable} label" if variable else "Dataset label"
            out.append(
                finding(
                    "v5-label-too-long",
                    f"{what} {fmt(label)} has {len(label)} characters; SAS XPORT v5 allows 40.",
                    ds,
                    variable=variable,
                    value=label,
                )
            )
    return out


@rule(
    "v5-label-not-ascii",
    "error",
    "xpt",
    checks="The dataset label and variable labels are plain ASCII.",
    why="Agencies require ASCII metadata in transport files; other characters are garbled or "
    "take more than one of the 40 bytes.",
)
def v5_label_not_ascii(package: Package) -> list[Finding]:
    """Labels with non-ASCII characters."""
    out = []
    for ds in package.datasets.values():
        for variable, label in _labels(ds):
            if label.isascii():
                continue
            odd = "".join(sorted({ch for ch in label if not ch.isascii()}))
            what = f"{variable} label" if variable else "Dataset label"
            out.append(
                finding(
                    "v5-label-not-ascii",
                    f"{what} {fmt(label)} contains non-ASCII characters ({odd}); use ASCII only.",
                    ds,
                    variable=variable,
                    value=label,
                )
            )
    return out


@rule(
    "v5-length-over-200",
    "error",
    "xpt",
    checks="Declared character lengths are at most 200.",
    why="SAS XPORT v5 character variables hold at most 200 bytes; a longer declaration cannot "
    "be written without truncating values.",
)
def v5_length_over_200(package: Package) -> list[Finding]:
    """Declared character lengths above 200."""
    out = []
    for ds in package.datasets.values():
        for variable, length in ds.lengths.items():
            if int(length) <= 200:
                continue
            out.append(
                finding(
                    "v5-length-over-200",
                    f"{variable} is declared with length {int(length)}; SAS XPORT v5 allows 200 "
                    "(split longer text into --TERM-like variables or SUPP--).",
                    ds,
                    variable=variable,
                    value=int(length),
                )
            )
    return out
