"""Read a study's test-units table (``trialflow validate --units FILE``, study.yaml
``test_units``): a CSV with the columns of the shipped
``trialflow/validation/data/test_units.csv`` whose rows replace the shipped ones by
(domain, testcd).

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "units.csv"
    >>> _ = path.write_text("domain,testcd,expects_unit,reason,source\\n"
    ...     "LB,PH,yes,reported in [pH],lab manual\\n")
    >>> read_test_units(path)[("LB", "PH")].expects_unit
    True
"""

from __future__ import annotations

import csv
from pathlib import Path

from trialflow.errors import TrialflowError
from trialflow.validation.units import COLUMNS, TestUnits, parse_test_units

__all__ = ["read_test_units"]


def read_test_units(path: str | Path) -> TestUnits:
    """The rows of a test-units CSV; errors name the file, the line and the column to fix.

    Example:
        >>> read_test_units("no/such/units.csv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        trialflow.errors.TrialflowError: no/such/units.csv: no such file; ...
    """
    path = Path(path)
    if not path.is_file():
        raise TrialflowError(
            f"{path}: no such file; give a CSV with the columns {', '.join(COLUMNS)}."
        )
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in COLUMNS[:3] if c not in header]
        if missing:
            raise TrialflowError(
                f"{path} line 1: the header lacks {', '.join(missing)}; the columns are "
                f"{', '.join(COLUMNS)}."
            )
        reader.fieldnames = header
        return parse_test_units(reader, str(path))
