"""The conservation checker itself: it must fail when a value or a row is dropped silently."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from corpus.conservation import consumed_columns, missing, read_raw
from trialflow.io.xpt import write_xpt

LINEAGE = "dataset,record,usubjid,seq,source_file,source_sheet,source_row,USUBJID,VSORRES,VSDTC\n"


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A one-sheet raw export: two data rows of two values each, a blank row, a header."""
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "VITALS.csv").write_text("SUBJ,PULSE,VIS_DATE\n01,74,\n,,\n02,80,2019-01-02\n")
    return folder


def _run(tmp_path: Path, lineage: str, findings: list[dict], vsorres=("74", "80")) -> Path:
    """A run folder with lineage/vs.csv, sdtm/vs.xpt and validation/report.json."""
    run = tmp_path / "run"
    for sub in ("lineage", "sdtm", "validation"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    (run / "lineage" / "vs.csv").write_text(LINEAGE + lineage)
    frame = pd.DataFrame(
        {"USUBJID": ["T-01", "T-02"][: len(vsorres)], "VSORRES": list(vsorres),
         "VSDTC": ["", "2019-01-02"][: len(vsorres)]}
    )  # fmt: skip
    write_xpt(frame, run / "sdtm" / "vs.xpt", dataset="VS")
    (run / "validation" / "report.json").write_text(json.dumps({"findings": findings}))
    return run


def _finding(row: int | None, column: str | None, sheet: str | None = "VITALS") -> dict:
    return {"code": "x", "source": {"file": "raw/VITALS.csv", "sheet": sheet, "row": row,
                                    "column": column}}  # fmt: skip


BOTH = (
    "VS,1,T-01,1,raw/VITALS.csv,VITALS,2,spec: STUDYID + SUBJ,PULSE,\n"
    "VS,2,T-02,2,raw/VITALS.csv,VITALS,4,spec: STUDYID + SUBJ,PULSE,VIS_DATE\n"
)


def test_all_carried_is_conservation(raw: Path, tmp_path: Path) -> None:
    assert missing(raw, _run(tmp_path, BOTH, [])) == []


def test_a_row_dropped_silently_fails(raw: Path, tmp_path: Path) -> None:
    run = _run(tmp_path, BOTH.splitlines(keepends=True)[0], [], vsorres=("74",))
    assert missing(raw, run) == ["row lost: VITALS row 4"]


def test_a_value_dropped_silently_fails(raw: Path, tmp_path: Path) -> None:
    lineage = BOTH.replace(",PULSE,VIS_DATE", ",PULSE,")
    assert missing(raw, _run(tmp_path, lineage, [])) == [
        "value lost: VITALS row 4 VIS_DATE='2019-01-02'"
    ]


def test_a_variable_left_empty_does_not_carry_its_value(raw: Path, tmp_path: Path) -> None:
    # the lineage names PULSE for record 2, but VSORRES of record 2 is empty in the XPT
    assert missing(raw, _run(tmp_path, BOTH, [], vsorres=("74", ""))) == [
        "value lost: VITALS row 4 PULSE='80'"
    ]


@pytest.mark.parametrize(
    "finding",
    [
        _finding(4, "VIS_DATE"),
        _finding(4, None),
        _finding(None, "VIS_DATE"),
        _finding(None, None),
        _finding(None, None, sheet=None),
    ],
    ids=["cell", "row", "column", "sheet", "file"],
)
def test_a_finding_names_the_value(raw: Path, tmp_path: Path, finding: dict) -> None:
    lineage = BOTH.replace(",PULSE,VIS_DATE", ",PULSE,")
    assert missing(raw, _run(tmp_path, lineage, [finding])) == []


def test_a_finding_on_another_cell_does_not(raw: Path, tmp_path: Path) -> None:
    lineage = BOTH.replace(",PULSE,VIS_DATE", ",PULSE,")
    lost = missing(raw, _run(tmp_path, lineage, [_finding(2, "VIS_DATE"), _finding(4, "PULSE")]))
    assert lost == ["value lost: VITALS row 4 VIS_DATE='2019-01-02'"]


def test_a_consumed_column_is_carried_with_its_row(raw: Path, tmp_path: Path) -> None:
    lineage = BOTH.replace("spec: STUDYID + SUBJ", "spec: domain")
    run = _run(tmp_path, lineage, [])
    assert missing(raw, run) == ["value lost: VITALS row 2 SUBJ='01'",
                                 "value lost: VITALS row 4 SUBJ='02'"]  # fmt: skip
    assert missing(raw, run, consumed={"VITALS": {"SUBJ"}}) == []


def test_formula_without_cached_value_and_error_cells_are_values(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "VITALS"
    sheet.append(["SUBJ", "PULSE", "SYSBP"])
    sheet.append(["01", "=70+4", "#N/A"])
    book.save(tmp_path / "export.xlsx")
    (read,) = read_raw(tmp_path / "export.xlsx")
    assert read.rows == {2: {"SUBJ": "01", "PULSE": "=70+4", "SYSBP": "#N/A"}}


def test_consumed_columns_of_the_example_study() -> None:
    consumed = consumed_columns(Path(__file__).resolve().parents[2] / "mappings" / "hucmsc-t2dm")
    assert consumed["INFUSION"] == {"SUBJ", "INF_NO", "GIVEN"}
    assert consumed["AE"] == {"SUBJ", "AE_NO", "PT", "SOC"}
