"""Makers of hostile input files (small on disk, huge when read), for the limit tests and
benchmarks/bench_hostile.py. Every file is synthetic and written where the caller says."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def write_xlsx(
    path: Path,
    sheet_xml: bytes | str | Iterable[bytes],
    name: str = "DEMOG",
    extra: int = 0,
) -> Path:
    """An .xlsx with one sheet whose XML is ``sheet_xml`` (deflated; an iterable of chunks is
    streamed), plus ``extra`` empty parts (for the part-count limit)."""
    chunks = [sheet_xml.encode() if isinstance(sheet_xml, str) else sheet_xml]
    if not isinstance(sheet_xml, (bytes, str)):
        chunks = sheet_xml  # type: ignore[assignment]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as book:
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _RELS)
        book.writestr("xl/workbook.xml", _WORKBOOK.format(name=name))
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml", (2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with book.open(info, "w", force_zip64=True) as sheet:
            for chunk in chunks:
                sheet.write(chunk)  # type: ignore[arg-type]
        for i in range(extra):
            book.writestr(f"xl/extra/part{i}.xml", "")
    return path


def small_sheet(rows: int = 3) -> str:
    """A plain DEMOG sheet: SUBJ, SEX and ``rows`` subjects."""
    body = "".join(
        f'<row r="{i + 2}">{_cell(f"A{i + 2}", f"01-{i + 1:04d}")}{_cell(f"B{i + 2}", "M")}</row>'
        for i in range(rows)
    )
    head = f'<row r="1">{_cell("A1", "SUBJ")}{_cell("B1", "SEX")}</row>'
    return f"{_SHEET_HEAD}<sheetData>{head}{body}</sheetData></worksheet>"


def declared_dimension_xlsx(path: Path) -> Path:
    """The sheet declares A1:XFD1048576 and holds one cell at XFD1048576 (the reader that
    trusts the dimension reserves 17 billion cells)."""
    xml = (
        f'{_SHEET_HEAD}<dimension ref="A1:XFD1048576"/><sheetData>'
        f'<row r="1">{_cell("A1", "SUBJ")}</row>'
        f'<row r="1048576">{_cell("XFD1048576", "x")}</row></sheetData></worksheet>'
    )
    return write_xlsx(path, xml)


def far_cells_xlsx(path: Path) -> Path:
    """No dimension (or a small one that lies), cells at A1 and XFD1048576."""
    xml = (
        f'{_SHEET_HEAD}<dimension ref="A1"/><sheetData>'
        f'<row r="1">{_cell("A1", "SUBJ")}</row>'
        f'<row r="1048576">{_cell("XFD1048576", "x")}</row></sheetData></worksheet>'
    )
    return write_xlsx(path, xml)


def inflating_xlsx(path: Path, megabytes: int = 64) -> Path:
    """A sheet of ``megabytes`` MiB of one repeated row, written a block at a time: a zip
    bomb of several hundred to one."""
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    head = f'{_SHEET_HEAD}<sheetData><row r="1">{_cell("A1", "SUBJ")}</row>'.encode()
    tail = b"</sheetData></worksheet>"
    block = row * (1024 * 1024 // len(row))

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(megabytes - 1):
            yield block
        yield tail

    return write_xlsx(path, chunks())


def wide_csv(path: Path, columns: int = 1_000_000) -> Path:
    """A CSV of ``columns`` columns: a header and one row."""
    header = ",".join(f"C{i}" for i in range(columns))
    path.write_text(header + "\n" + "," * (columns - 1) + "1\n", encoding="utf-8")
    return path


def padded_xpt(path: Path, padding: int) -> Path:
    """A valid one-dataset XPT v5 file followed by ``padding`` bytes of blanks (whole records)."""
    import pandas as pd

    from trialflow.io.xpt import write_xpt

    frame = pd.DataFrame({"STUDYID": ["S1", "S1"], "DOMAIN": ["DM", "DM"],
                          "USUBJID": ["S1-01", "S1-02"], "AGE": [34.0, 51.0]})  # fmt: skip
    write_xpt(frame, path, dataset="DM")
    with path.open("ab") as fh:
        block = b" " * (1 << 20)
        left = padding - padding % 80
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)
    return path


def deep_json(path: Path, depth: int = 100_000) -> Path:
    """Dataset-JSON whose rows nest ``depth`` arrays deep."""
    meta = {"datasetJSONVersion": "1.1.0", "name": "DM", "label": "Demographics",
            "itemGroupOID": "IG.DM", "records": 1,
            "columns": [{"itemOID": "IT.DM.STUDYID", "name": "STUDYID", "label": "Study",
                         "dataType": "string"}]}  # fmt: skip
    text = json.dumps(meta)[:-1] + ', "rows": [' + "[" * depth + "]" * depth + "]}"
    path.write_text(text, encoding="utf-8")
    return path


def overdeclared_json(path: Path, records: int = 10**12) -> Path:
    """Dataset-JSON declaring ``records`` records and holding one."""
    doc = {"datasetJSONVersion": "1.1.0", "name": "DM", "label": "Demographics",
           "itemGroupOID": "IG.DM", "records": records,
           "columns": [{"itemOID": "IT.DM.STUDYID", "name": "STUDYID", "label": "Study",
                        "dataType": "string"}], "rows": [["S1"]]}  # fmt: skip
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
