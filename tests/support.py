"""Test helpers: a tiny synthetic raw export written as a folder of CSV files."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from trialflow.synth import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SPECS = ROOT / "mappings" / "hucmsc-t2dm"
EXAMPLE_EXPORT = ROOT / "examples" / "hucmsc-t2dm" / "raw-export.xlsx"

# A SAS format as SAS defines it: an optional name ($ for character formats), a width, a period
# and optional decimals. SAS tools and readers spell the same format with or without the
# period ("DATE9." and "DATE9", "$200." and "$200"), so tests compare the parts, not the text.
_SAS_FORMAT = re.compile(r"(\$?(?:[A-Z_](?:[A-Z0-9_]*[A-Z_])?)?)(\d*)(?:\.(\d*))?", re.IGNORECASE)


def sas_format(text: str) -> tuple[str, int, int]:
    """(name, width, decimals) of a SAS format: ``sas_format("$200") == ("$", 200, 0)``.

    Raises ValueError on text that is not a format, so a wrong format still fails a test.
    """
    match = _SAS_FORMAT.fullmatch(text or "")
    if match is None or not (match[1] or match[2]):
        raise ValueError(f"not a SAS format: {text!r}")
    return match[1].upper(), int(match[2] or 0), int(match[3] or 0)


# the raw export's forms and columns, as docs/raw-export.md and trialflow.synth define them
HEADERS = {name: list(columns) for name, columns in COLUMNS.items() if name != "README"}


def tiny_sheets() -> dict[str, list[dict[str, str]]]:
    """Two synthetic subjects, one per site, with the cases the mapping must handle."""
    return {
        "DEMOG": [
            dict(
                SITE="01",
                SUBJ="01-001",
                CONSENT_DT="02-OCT-2018",
                BIRTH_DT="1966-05-20",
                SEX="M",
                RACE="Asian",
                ETHNIC="Not Hispanic or Latino",
                COUNTRY="China",
                DIAB_DX_DT="UN-MAR-2009",
            ),
            dict(
                SITE="02",
                SUBJ="02-001",
                CONSENT_DT="2018/10/20",
                BIRTH_DT="12-DEC-1970",
                SEX="Female",
                RACE="ASIAN",
                ETHNIC="Not Hispanic or Latino",
                COUNTRY="China",
                DIAB_DX_DT="UN-UNK-2008",
            ),
        ],
        "INFUSION": [
            dict(
                SUBJ="01-001",
                INF_NO="1",
                INF_DATE="08-JAN-2019",
                INF_TIME="09:00",
                GIVEN="Y",
                DOSE="1",
                DOSE_UNIT="x10^6 cells/kg",
                WEIGHT_KG="70",
            ),
            dict(
                SUBJ="01-001",
                INF_NO="2",
                INF_DATE="2019/01/15",
                INF_TIME="09:10",
                GIVEN="Yes",
                DOSE="1",
                DOSE_UNIT="x10^6 cells/kg",
                WEIGHT_KG="70",
            ),
            dict(
                SUBJ="01-001",
                INF_NO="3",
                INF_DATE="2019-01-22",
                INF_TIME="09:05",
                GIVEN="1",
                DOSE="1",
                DOSE_UNIT="x10^6 cells/kg",
                WEIGHT_KG="70",
            ),
            dict(
                SUBJ="02-001",
                INF_NO="1",
                INF_DATE="08-FEB-2019",
                INF_TIME="10:00",
                GIVEN="Y",
                DOSE="1",
                DOSE_UNIT="x10^6 cells/kg",
                WEIGHT_KG="60",
            ),
            dict(
                SUBJ="02-001",
                INF_NO="2",
                INF_DATE="15-FEB-2019",
                INF_TIME="",
                GIVEN="N",
                DOSE="",
                DOSE_UNIT="",
                WEIGHT_KG="",
            ),
        ],
        "VITALS": [
            dict(
                SUBJ="01-001",
                VISIT="Day 0",
                VIS_DATE="01-JAN-2019",
                HEIGHT_CM="170",
                WEIGHT_KG="70.5",
                SYSBP="",
                DIABP="",
                PULSE="",
                TEMP_C="",
            ),
            dict(
                SUBJ="01-001",
                VISIT="D14",
                VIS_DATE="2019/01/15",
                HEIGHT_CM="",
                WEIGHT_KG="69",
                SYSBP="",
                DIABP="",
                PULSE="",
                TEMP_C="",
            ),
            dict(
                SUBJ="01-001",
                VISIT="Unscheduled",
                VIS_DATE="2019-01-18",
                HEIGHT_CM="",
                WEIGHT_KG="68.8",
                SYSBP="",
                DIABP="",
                PULSE="",
                TEMP_C="38.2",
            ),
            dict(
                SUBJ="02-001",
                VISIT="Baseline (Day 0)",
                VIS_DATE="01-FEB-2019",
                HEIGHT_CM="160",
                WEIGHT_KG="60",
                SYSBP="120",
                DIABP="80",
                PULSE="70",
                TEMP_C="36.5",
            ),
        ],
        "LAB": [
            dict(
                SUBJ="01-001",
                VISIT="Day 0",
                LAB_DATE="01-JAN-2019",
                LAB_TIME="07:30",
                FASTING="Y",
                TEST="Glucose (fasting)",
                RESULT="9.3",
                UNIT="mmol/L",
                REF_LOW="3.9",
                REF_HIGH="6.1",
            ),
            dict(
                SUBJ="02-001",
                VISIT="D0",
                LAB_DATE="01-FEB-2019",
                LAB_TIME="07:35",
                FASTING="Yes",
                TEST="FPG",
                RESULT="180",
                UNIT="mg/dL",
                REF_LOW="70",
                REF_HIGH="110",
            ),
            dict(
                SUBJ="02-001",
                VISIT="D0",
                LAB_DATE="01-FEB-2019",
                LAB_TIME="07:35",
                FASTING="1",
                TEST="FCP",
                RESULT="1.2",
                UNIT="ng/mL",
                REF_LOW="",
                REF_HIGH="",
            ),
            dict(
                SUBJ="02-001",
                VISIT="D0",
                LAB_DATE="01-FEB-2019",
                LAB_TIME="10:00",
                FASTING="0",
                TEST="2hCP",
                RESULT="<0.1",
                UNIT="ng/mL",
                REF_LOW="",
                REF_HIGH="",
            ),
            dict(
                SUBJ="02-001",
                VISIT="D0",
                LAB_DATE="01-FEB-2019",
                LAB_TIME="07:35",
                FASTING="Y",
                TEST="CEA",
                RESULT="<0.5",
                UNIT="ng/mL",
                REF_LOW="",
                REF_HIGH="5",
            ),
        ],
        "AE": [],
        "CONMED": [
            dict(SUBJ="01-001", CM_NO="1", SECTION="Diabetes medication", DRUG_NAME="Glucophage",
                 INDICATION="T2DM", DOSE="500", DOSE_UNIT="mg", FREQ="twice daily", ROUTE="PO",
                 START_DT="UN-MAR-2015", END_DT="", ONGOING="Y"),
            dict(SUBJ="02-001", CM_NO="1", SECTION="Diabetes medication", DRUG_NAME="Lantus",
                 INDICATION="T2DM", DOSE="10", DOSE_UNIT="IU", FREQ="at bedtime", ROUTE="SC",
                 START_DT="2018/06/01", END_DT="2019/01/31", ONGOING="N"),
        ],
        "DISPOSITION": [
            dict(SUBJ="01-001", DS_DATE="2019-01-22", STATUS="Completed", REASON=""),
            dict(SUBJ="02-001", DS_DATE="20-FEB-2019", STATUS="Withdrew", REASON="Moved away"),
        ],
    }


def write_csv_export(folder: Path, sheets: dict[str, list[dict[str, str]]]) -> Path:
    """Write sheets as a folder of CSV files, one per form, with the standard headers."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in sheets.items():
        header = HEADERS.get(name) or (list(rows[0]) if rows else [])
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
    return folder


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in a text file by ``new``; ``old`` must be there."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, text: str) -> int:
    """The number of the first line of a file that holds ``text``."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)
