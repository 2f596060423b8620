"""Writers for the run's reports: findings (JSON and xlsx), lineage tables and the manifest.

Everything written is deterministic (no clock, sorted keys) and every text cell that a
spreadsheet would take for a formula (starting with = + - @, or a tab or carriage return) is
neutralised with a leading apostrophe.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring as _encode_text
from pathlib import Path

import pandas as pd

from trialflow.errors import Finding, RawInputError
from trialflow.numbers import sas_round

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralise(values: pd.Series) -> pd.Series:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe.

    Example:
        >>> neutralise(pd.Series(["=1+1", "ok", None])).tolist()
        ["'=1+1", 'ok', nan]
    """
    text = values.astype("str")
    risky = text.str.startswith(_FORMULA_START).fillna(False).astype(bool)
    if not risky.any():  # the common case: no column-wide concatenation for nothing
        return text
    return text.mask(risky, "'" + text)


SEVERITIES = ("error", "warning", "notice")
"""The severity scale, most serious first."""

XLSX_MAX_ROWS = 1_048_575
"""Data rows an .xlsx sheet holds below its header row (Excel's 1,048,576 rows in all)."""

_CHUNK = 10_000  # findings encoded per write


def summarise(findings: Sequence[Finding]) -> dict[str, object]:
    """Counts of findings by severity, code, dataset, and dataset and severity.

    Every violating record is its own finding, so each count is of records affected (a
    finding about a whole file or dataset counts 1).

    Example:
        >>> from trialflow.errors import Finding
        >>> found = [Finding("end-missing", "warning", "no end", dataset="AE", record=r)
        ...          for r in (1, 2)]
        >>> summary = summarise(found)
        >>> summary["by_code"], summary["by_dataset_severity"]
        ({'end-missing': 2}, {'AE': {'error': 0, 'warning': 2, 'notice': 0}})
    """
    by_dataset_severity: dict[str, Counter] = {}
    for f in findings:
        by_dataset_severity.setdefault(f.dataset or "", Counter())[f.severity] += 1
    return {
        "total": len(findings),
        "by_severity": dict(sorted(Counter(f.severity for f in findings).items())),
        "by_code": dict(sorted(Counter(f.code for f in findings).items())),
        "by_dataset": dict(sorted(Counter(f.dataset or "" for f in findings).items())),
        "by_dataset_severity": {
            name: {sev: counts.get(sev, 0) for sev in SEVERITIES}
            for name, counts in sorted(by_dataset_severity.items())
        },
    }


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """One row per finding with flat source columns, for spreadsheets and CSV.

    Example:
        >>> findings_frame([]).columns.tolist()[:3]
        ['severity', 'code', 'dataset']
    """
    columns = [
        "severity",
        "code",
        "dataset",
        "variable",
        "record",
        "usubjid",
        "value",
        "message",
        "refs",
        "source_file",
        "source_sheet",
        "source_row",
        "source_column",
    ]
    rows = []
    for f in findings:
        s = f.source
        rows.append(
            [
                f.severity,
                f.code,
                f.dataset,
                f.variable,
                f.record,
                f.usubjid,
                f.value,
                f.message,
                " ".join(f.refs),
                s.file if s else None,
                s.sheet if s else None,
                s.row if s else None,
                s.column if s else None,
            ]
        )
    return pd.DataFrame(rows, columns=columns)


def _finding_json(f: Finding) -> str:
    """``json.dumps(f.to_dict(), ensure_ascii=False)``, written field by field: the same text
    at a fraction of the time (``dataclasses.asdict`` copies deeply, and each ``json.dumps``
    call builds a new encoder)."""
    s = f.source
    source = (
        "null"
        if s is None
        else f'{{"file": {_js(s.file)}, "sheet": {_js(s.sheet)}, "row": {_jn(s.row)}, '
        f'"column": {_js(s.column)}}}'
    )
    return (
        f'{{"code": {_js(f.code)}, "severity": {_js(f.severity)}, "message": {_js(f.message)}, '
        f'"dataset": {_js(f.dataset)}, "variable": {_js(f.variable)}, '
        f'"record": {_jn(f.record)}, "usubjid": {_js(f.usubjid)}, "value": {_js(f.value)}, '
        f'"refs": [{", ".join(_js(r) for r in f.refs)}], "source": {source}}}'
    )


def _js(text: str | None) -> str:
    """A JSON string, or null for a missing value (None, or a NaN that reached a finding)."""
    if isinstance(text, str):
        return _encode_text(text)
    return "null" if text is None or pd.isna(text) else _encode_text(str(text))


def _jn(number: int | None) -> str:
    """A JSON integer, or null for a missing value: never a bare NaN."""
    return "null" if number is None or pd.isna(number) else str(int(number))


def write_report_json(findings: Sequence[Finding], path: Path, **context: object) -> Path:
    """Write report.json: ``{"findings": [...], "summary": {...}}`` plus any context keys.

    Every finding is listed, one JSON object per line, written in chunks as it is encoded,
    so a million findings take seconds and memory for one chunk; the summary and the
    context follow, indented.

    Example:
        >>> import tempfile
        >>> from trialflow.errors import Finding
        >>> out = Path(tempfile.mkdtemp()) / "report.json"
        >>> found = [Finding("end-missing", "warning", "no end", dataset="AE", record=51)]
        >>> body = json.loads(write_report_json(found, out).read_text())
        >>> body["findings"][0]["record"], body["summary"]["by_code"]
        (51, {'end-missing': 1})
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tail = {"summary": summarise(findings), **context}
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write('{\n  "findings": [')
        for start in range(0, len(findings), _CHUNK):
            chunk = findings[start : start + _CHUNK]
            lead = "\n    " if start == 0 else ",\n    "
            fh.write(lead + ",\n    ".join(_finding_json(f) for f in chunk))
        fh.write("\n  ]," if findings else "],")
        fh.write(json.dumps(tail, indent=2, ensure_ascii=False, allow_nan=False)[1:] + "\n")
    return path


_DETAILS = (
    ("Dataset", 10),
    ("Record", 9),
    ("USUBJID", 22),
    ("Variable", 12),
    ("Value", 24),
    ("Code", 30),
    ("CDISC / P21 ids", 22),
    ("Severity", 10),
    ("Message", 90),
    ("Source file", 30),
    ("Source sheet", 14),
    ("Source row", 11),
    ("Source column", 16),
)
_ISSUES = (
    ("Dataset", 10),
    ("Code", 30),
    ("CDISC / P21 ids", 22),
    ("Severity", 10),
    ("Message", 90),
    ("Records", 10),
)
_DATASETS = (
    ("Dataset", 10),
    ("Label", 36),
    ("Records", 10),
    ("Errors", 9),
    ("Warnings", 10),
    ("Notices", 9),
)


def write_report_xlsx(
    findings: Sequence[Finding],
    path: Path,
    *,
    datasets: Mapping[str, int] | None = None,
) -> Path:
    """Write report.xlsx in the layout of a Pinnacle 21 report, every finding listed.

    Sheets: "Dataset Summary" (dataset, label, records, errors, warnings, notices),
    "Issue Summary" (dataset, rule code, CDISC / P21 ids, severity, the rule's message,
    records affected) and "Details" (one row per finding; past
    :data:`XLSX_MAX_ROWS` rows the details go on "Details (2)", "Details (3)", ..., and the
    dataset summary says so). Each sheet has a frozen header row and an auto filter. The
    sheets are streamed (openpyxl write-only mode) and the file is byte-identical on rerun.
    ``datasets`` gives the records of each dataset validated.

    Example:
        >>> import tempfile
        >>> from openpyxl import load_workbook
        >>> out = write_report_xlsx([], Path(tempfile.mkdtemp()) / "report.xlsx",
        ...                         datasets={"DM": 16})
        >>> load_workbook(out).sheetnames
        ['Dataset Summary', 'Issue Summary', 'Details']
    """
    from openpyxl import Workbook

    from trialflow.io.workbook import columns_xml, save_workbook

    sizes = dict(datasets or {})
    counts: dict[str, Counter] = {name: Counter() for name in sizes}
    issues: dict[tuple[str, str, str], list] = {}
    for f in findings:
        name = f.dataset or ""
        key = (name, f.code, f.severity)
        if key in issues:
            issues[key][0] += 1
        else:
            issues[key] = [1, f]
    for (name, _, severity), (n, _) in issues.items():
        counts.setdefault(name, Counter())[severity] += n
    parts = max(1, -(-len(findings) // XLSX_MAX_ROWS))
    titles = ["Details"] + [f"Details ({i})" for i in range(2, parts + 1)]

    book = Workbook(write_only=True)
    sheet = _sheet(book, "Dataset Summary", _DATASETS)
    for name in sorted(counts):
        c = counts[name]
        sheet.append(
            [
                _text(name) or "-",
                _label(name),
                sizes.get(name),
                c["error"],
                c["warning"],
                c["notice"],
            ]
        )
    _filter(sheet, _DATASETS, len(counts))
    if parts > 1:
        sheet.append([])
        sheet.append(
            [
                f"{len(findings):,} findings: the details continue over {parts} sheets "
                f"({', '.join(titles)}), {XLSX_MAX_ROWS:,} rows each at most."
            ]
        )

    sheet = _sheet(book, "Issue Summary", _ISSUES)
    for (name, code, severity), (n, first) in sorted(issues.items()):
        sheet.append(
            [
                _text(name) or "-",
                _text(code),
                " ".join(first.refs) or None,
                severity,
                _text(_rule_message(code, first)),
                n,
            ]
        )
    _filter(sheet, _ISSUES, len(issues))

    streamed = {}
    for i, title in enumerate(titles):
        part = findings[i * XLSX_MAX_ROWS : (i + 1) * XLSX_MAX_ROWS]
        sheet = _sheet(book, title, _DETAILS)
        _filter(sheet, _DETAILS, len(part))
        streamed[title] = columns_xml(_detail_columns(part))
    return save_workbook(book, path, rows=streamed)


def _detail_columns(findings: Sequence[Finding]) -> list[tuple[object, str]]:
    """The Details sheet's columns (one row per finding), formula-like text neutralised.

    Built column by column (one pass over the findings per column, text neutralised by
    pyarrow) for :func:`~trialflow.io.workbook.columns_xml`.

    Example:
        >>> f = Finding("x", "error", "=bad", dataset="DM", record=3)
        >>> [c[0].to_pylist() for c in _detail_columns([f])][:3]
        [['DM'], [3], [None]]
        >>> _detail_columns([f])[8][0].to_pylist()
        ["'=bad"]
    """
    import pyarrow as pa

    sources = [f.source for f in findings]

    def text(values: list[str | None]) -> object:
        return _neutralised(pa.array(values, type=pa.string()))

    def number(values: list[int | None]) -> object:
        return pa.array(values, type=pa.int64())

    return [
        (text([f.dataset for f in findings]), "text"),
        (number([f.record for f in findings]), "int"),
        (text([f.usubjid for f in findings]), "text"),
        (text([f.variable for f in findings]), "text"),
        (text([f.value for f in findings]), "text"),
        (pa.array([f.code for f in findings], type=pa.string()), "text"),
        (pa.array([" ".join(f.refs) or None for f in findings], type=pa.string()), "text"),
        (pa.array([f.severity for f in findings], type=pa.string()), "text"),
        (text([f.message for f in findings]), "text"),
        (text([s.file if s else None for s in sources]), "text"),
        (text([s.sheet if s else None for s in sources]), "text"),
        (number([s.row if s else None for s in sources]), "int"),
        (text([s.column if s else None for s in sources]), "text"),
    ]


def _neutralised(values: object) -> object:
    """A pyarrow string array with text a spreadsheet would run as a formula prefixed with an
    apostrophe (as :func:`_text` does one value at a time)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    risky = None
    for start in _FORMULA_START:
        hit = pc.starts_with(values, start)
        risky = hit if risky is None else pc.or_(risky, hit)
    risky = pc.fill_null(risky, False)
    if not pc.any(risky).as_py():
        return values
    prefixed = pc.binary_join_element_wise(pa.scalar("'"), values, "")
    return pc.if_else(risky, prefixed, values)


def _sheet(book: object, title: str, columns: tuple[tuple[str, int], ...]) -> object:
    """A write-only sheet with its header row, frozen below it, and its column widths."""
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title=title)  # type: ignore[attr-defined]
    for i, (_, width) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([name for name, _ in columns])
    return sheet


def _filter(sheet: object, columns: tuple[tuple[str, int], ...], rows: int) -> None:
    """An auto filter over the header and the ``rows`` rows below it."""
    from openpyxl.utils import get_column_letter

    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{rows + 1}"  # type: ignore[attr-defined]


def _text(value: str | None) -> str | None:
    """Text a spreadsheet would run as a formula, prefixed with an apostrophe; control
    characters XML forbids written as OOXML's ``_xHHHH_`` (openpyxl refuses them).

    Example:
        >>> _text("=1+1"), _text("a\x01b")
        ("'=1+1", 'a_x0001_b')
    """
    if not value:
        return value
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub(lambda m: f"_x{ord(m.group()):04X}_", value)
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _label(name: str) -> str | None:
    """The SDTMIG or ADaMIG label of a dataset trialflow ships one for; else None."""
    from trialflow.sdtm import metadata

    if name in metadata.known_domains():
        return metadata.domain_label(name)
    if name.upper().startswith("AD"):
        from trialflow.adam.metadata import known_adam_datasets

        if name.upper() in known_adam_datasets():
            from trialflow.adam.metadata import adam_label

            return adam_label(name)
    return None


def _rule_message(code: str, first: Finding) -> str:
    """What rule ``code`` checks, from the catalogue; outside it, the first finding's message."""
    from trialflow.validation.core import RULES

    known = RULES.get(code)
    return known.checks if known is not None else first.message


def _safe(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == "str" or out[col].dtype == object:
            out[col] = neutralise(out[col])
    return out


def write_lineage_csv(lineage: pd.DataFrame, path: Path) -> Path:
    """Write one domain's lineage table as CSV (UTF-8), formula-like text neutralised.

    Example:
        >>> import tempfile
        >>> lineage = pd.DataFrame({"record": [1], "source_sheet": ["=DEMOG"]})
        >>> path = write_lineage_csv(lineage, Path(tempfile.mkdtemp()) / "dm.csv")
        >>> path.read_text()  # the formula-like text is made harmless
        "record,source_sheet\\n1,'=DEMOG\\n"
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    safe = _safe(lineage)
    if not _arrow_writes(safe):
        safe.to_csv(path, index=False, lineterminator="\n")
        return path
    with path.open("wb") as fh:
        _write_csv_by_arrow(safe, fh)
    return path


_ARROW_CSV_KINDS = frozenset("iu")
"""numpy kinds whose text pyarrow writes as pandas does (whole numbers); floats differ
("25.0" from pandas, "25" from pyarrow) and go through pandas."""


def _whole(values: pd.Series) -> bool:
    """Every value missing or a whole number pandas writes as "N.0" (not in exponent form)."""
    numbers = values.dropna().to_numpy(dtype="float64")
    return bool(((numbers % 1 == 0) & (abs(numbers) < 1e15)).all())


def _quoted_chars() -> str:
    """The characters that make pandas' CSV writer quote a value (QUOTE_MINIMAL with
    lineterminator "\\n": the delimiter, the quote and the line feed under CPython 3.11; the
    carriage return is not), found by asking pandas once, so a Python whose csv module
    decides otherwise still gets pandas' bytes.
    """
    global _QUOTED
    if _QUOTED is None:
        probes = [",", '"', "\n", "\r", "\t", " ", "'"]
        frame = pd.DataFrame({"a": [f"x{c}y" for c in probes], "b": "z"}, dtype="str")
        text = frame.to_csv(index=False, lineterminator="\n")
        _QUOTED = "".join(c for c in probes if f'"x{c}' in text)
    return _QUOTED


_QUOTED: str | None = None


def _csv_text(values: pd.Series):
    """One column's CSV fields as an Arrow string array: text quoted as pandas quotes it
    (wrapped in quotes, inner quotes doubled), missing values empty."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.chunked_array([pa.array(values, from_pandas=True)])
    if array.type != pa.large_string():
        array = array.cast(pa.large_string())
    quote = None
    for char in _quoted_chars():
        has = pc.match_substring(array, char)
        quote = has if quote is None else pc.or_(quote, has)
    if quote is not None and pc.any(quote).as_py():
        doubled = pc.replace_substring(array, '"', '""')
        mark, empty = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
        wrapped = pc.binary_join_element_wise(mark, doubled, mark, empty)
        array = pc.if_else(quote, wrapped, array)
    return array.fill_null("")


def _csv_by_arrow(frame: pd.DataFrame) -> bytes | None:
    """The frame as pandas' ``to_csv(index=False, lineterminator="\\n")`` writes it, built by
    Arrow a column at a time, or None when the bytes could differ from pandas'.

    Lineage tables have a row per record of a domain (hundreds of thousands at scale), and
    pandas' writer formats them cell by cell in Python, ten times Arrow's time. Only text and
    whole-number columns are taken (whole floats as pandas writes them, "25.0"); a text value
    holding a character that pandas quotes is quoted as pandas does (:func:`_quoted_chars`).
    Each column becomes its fields as text, the fields of a row are joined with commas and a
    line feed, and the rows' bytes are the joined array's data buffer, in order.

    Example:
        >>> f = pd.DataFrame({"a": ["x, y", None, 'say "hi"'], "n": [1, 2, 3]})
        >>> _csv_by_arrow(f) == f.to_csv(index=False, lineterminator="\\n").encode()
        True
    """
    if not _arrow_writes(frame):
        return None
    out = io.BytesIO()
    _write_csv_by_arrow(frame, out)
    return out.getvalue()


_CSV_ROWS = 100_000
"""Rows of a lineage table turned into CSV text at a time (bounds the memory the text takes)."""


def _arrow_writes(frame: pd.DataFrame) -> bool:
    """Whether :func:`_write_csv_by_arrow` writes the bytes pandas would: at least two columns
    (a lone empty field is written '""' by the csv module), each text, whole numbers, or
    floats that are all whole."""
    if len(frame.columns) < 2:
        return False
    for _name, values in frame.items():
        kind = getattr(values.dtype, "kind", "")
        if not (
            values.dtype == "str" or kind in _ARROW_CSV_KINDS or (kind == "f" and _whole(values))
        ):
            return False
    return True


def _write_csv_by_arrow(frame: pd.DataFrame, fh) -> None:
    """Write the frame as CSV to the binary file ``fh``, :data:`_CSV_ROWS` rows at a time
    (the frame passed :func:`_arrow_writes`)."""
    import csv

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([str(c) for c in frame.columns])
    fh.write(header.getvalue().encode("utf-8"))
    text = pa.large_string()
    comma, empty, newline = pa.scalar(",", text), pa.scalar("", text), pa.scalar("\n", text)
    for start in range(0, len(frame), _CSV_ROWS):
        part = frame.iloc[start : start + _CSV_ROWS]
        fields = []
        for _name, values in part.items():
            if values.dtype == "str":
                fields.append(_csv_text(values))
            elif values.dtype.kind in _ARROW_CSV_KINDS:
                number = pa.chunked_array([pa.array(values, from_pandas=True)])
                fields.append(number.cast(text).fill_null(""))
            else:  # whole floats, as pandas writes them: "25.0"
                number = values.dropna().astype("int64").astype("str") + ".0"
                fields.append(_csv_text(number.reindex(values.index).astype("str")))
        rows = pc.binary_join_element_wise(*fields, comma)
        # each row ends in a line feed: the row and "" joined by one
        rows = pc.binary_join_element_wise(rows, empty, newline)
        for chunk in rows.chunks:
            chunk = chunk.cast(text)
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
            first, last = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
            fh.write(memoryview(chunk.buffers()[2])[first:last])


def sha256(path: Path) -> str:
    """Hex sha256 of a file.

    Example:
        >>> len(sha256(Path(__file__)))
        64
    """
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(out: Path, files: Iterable[Path], **context: object) -> Path:
    """Write DIR/manifest.json listing every output file with its size and sha256.

    Example:
        >>> import json, tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> table = write_file("N\\n16\\n", out / "t.csv")
        >>> manifest = json.loads(write_manifest(out, [table]).read_text())
        >>> [(f["path"], f["bytes"]) for f in manifest["files"]]
        [('t.csv', 5)]
    """
    entries = [
        {"path": p.relative_to(out).as_posix(), "bytes": p.stat().st_size, "sha256": sha256(p)}
        for p in sorted(set(files))
    ]
    path = out / "manifest.json"
    body = {"files": entries, **context}
    path.write_text(json.dumps(body, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def manifest_context(out: Path) -> dict:
    """What DIR/manifest.json says besides its file list (study, versions, ...); {} without one.

    Example:
        >>> manifest_context(Path("/tmp/nowhere"))
        {}
    """
    path = out / "manifest.json"
    if not path.is_file():
        return {}
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return {k: v for k, v in body.items() if k != "files"}
    except (ValueError, AttributeError) as exc:
        raise RawInputError(f"{path}: not a trialflow manifest ({exc})") from exc


CSV_SIGNIFICANT_DIGITS = 10
"""Numbers in the analysis CSVs are rounded (SAS's ROUND) to this many significant digits."""


def write_table_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write an analysis table as CSV (UTF-8), formula-like text neutralised.

    Every non-integer number is rounded as SAS's ROUND does to
    :data:`CSV_SIGNIFICANT_DIGITS` significant digits: a statistic reads as the number it is
    (a mean of 7.19, not the binary 7.1899999999999995) with every digit it has in its own
    right; the report's tables show them at the display precision.

    Example:
        >>> import tempfile
        >>> table = pd.DataFrame({"N": [16], "MEAN": [7.1899999999999995]})
        >>> write_table_csv(table, Path(tempfile.mkdtemp()) / "t.csv").read_text()
        'N,MEAN\\n16,7.19\\n'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    out = _safe(table)
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col].dtype):
            out[col] = sas_round(out[col], significant=CSV_SIGNIFICANT_DIGITS)
    out.to_csv(path, index=False, lineterminator="\n")
    return path


def write_file(content: bytes | str, path: Path) -> Path:
    """Write bytes (a PNG) or text (an HTML page, as UTF-8) to ``path``, creating folders.

    Example:
        >>> import tempfile
        >>> write_file("<p>ok</p>", Path(tempfile.mkdtemp()) / "page.html").read_text()
        '<p>ok</p>'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(data)
    return path
