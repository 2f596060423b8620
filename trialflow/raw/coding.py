"""Reader of dictionary coding files: the verbatim terms a coding team has coded.

A coding file is a CSV file or a workbook sheet with one row per verbatim term and the
dictionary's hierarchy (for MedDRA: LLT, PT, HLT, HLGT, SOC names and codes) and the
dictionary's name and version. It is read exactly as a raw export is (:mod:`trialflow.raw`):
every cell as text, every row with its line (CSV) or row (workbook) number, and the same
limits checked before the file is read. What the columns mean is decided by
:mod:`trialflow.mapping.coding`.
"""

from __future__ import annotations

from pathlib import Path

from trialflow.errors import RawInputError
from trialflow.raw import WORKBOOK_SUFFIXES, RawSheet, read_export


def read_coding(path: str | Path, sheet: str | None = None) -> RawSheet:
    """Read a coding file: a ``.csv`` file, or a sheet of a workbook (``sheet``, or its only one).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "ae-coding.csv").write_text("VERBATIM,PT_NAME\\nFever,Pyrexia\\n")
        >>> coding = read_coding(folder / "ae-coding.csv")
        >>> coding.frame[["VERBATIM", "PT_NAME", "__ROW__"]].values.tolist()
        [['Fever', 'Pyrexia', 2]]
        >>> coding.where("PT_NAME", 2)
        'ae-coding.csv, line 2, column PT_NAME'
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix != ".csv" and suffix not in WORKBOOK_SUFFIXES:
        raise RawInputError(f"{path}: a coding file is a .csv file or a workbook (.xlsx)")
    if suffix == ".csv" and sheet is not None:
        raise RawInputError(f"{path}: a CSV coding file has no sheets (leave out coding.sheet)")
    export = read_export(path)
    if suffix == ".csv":
        return export.sheet(path.stem)
    if sheet is None:
        if len(export.sheet_names) != 1:
            names = ", ".join(export.sheet_names)
            raise RawInputError(
                f"{path}: the workbook has sheets {names}; name the coding sheet with coding.sheet"
            )
        sheet = export.sheet_names[0]
    return export.sheet(sheet)
