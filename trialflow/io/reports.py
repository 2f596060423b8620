"""Writers for the run's reports: findings (JSON and xlsx), lineage tables and the manifest.

Everything written is deterministic (no clock, sorted keys) and every text cell that a
spreadsheet would take for a formula (starting with = + - @, or a tab or carriage return) is
neutralised with a leading apostrophe.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from trialflow.errors import Finding, RawInputError
from trialflow.numbers import sas_round

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


def summarise(findings: Sequence[Finding]) -> dict[str, object]:
    """Counts of findings by severity, code and dataset.

    Example:
        >>> summarise([])["total"]
        0
    """
    return {
        "total": len(findings),
        "by_severity": dict(sorted(Counter(f.severity for f in findings).items())),
        "by_code": dict(sorted(Counter(f.code for f in findings).items())),
        "by_dataset": dict(sorted(Counter(f.dataset or "" for f in findings).items())),
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


def write_report_json(findings: Sequence[Finding], path: Path, **context: object) -> Path:
    """Write report.json: ``{"findings": [...], "summary": {...}}`` plus any context keys.

    Example:
        >>> write_report_json([], Path("/tmp/report.json")).name  # doctest: +SKIP
        'report.json'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"findings": [f.to_dict() for f in findings], "summary": summarise(findings)}
    body.update(context)
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_report_xlsx(findings: Sequence[Finding], path: Path) -> Path:
    """Write report.xlsx with a Summary sheet (counts by dataset, code, severity) and Details.

    Example:
        >>> write_report_xlsx([], Path("/tmp/report.xlsx")).name  # doctest: +SKIP
        'report.xlsx'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    details = findings_frame(findings)
    summary = (
        details.groupby(["dataset", "code", "severity"], dropna=False)
        .size()
        .reset_index(name="count")
    )
    sheets = {"Summary": _safe(summary), "Details": _safe(details)}
    from trialflow.io.workbook import write_workbook  # openpyxl only when a workbook is asked for

    return write_workbook(sheets, path)


def _safe(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == "str" or out[col].dtype == object:
            out[col] = neutralise(out[col])
    return out


def write_lineage_csv(lineage: pd.DataFrame, path: Path) -> Path:
    """Write one domain's lineage table as CSV (UTF-8), formula-like text neutralised.

    Example:
        >>> lineage = pd.DataFrame({"record": [1]})
        >>> write_lineage_csv(lineage, Path("/tmp/dm.csv")).name  # doctest: +SKIP
        'dm.csv'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    safe = _safe(lineage)
    data = _csv_by_arrow(safe)
    if data is None:
        safe.to_csv(path, index=False, lineterminator="\n")
    else:
        path.write_bytes(data)
    return path


_ARROW_CSV_KINDS = frozenset("iu")
"""numpy kinds whose text pyarrow writes as pandas does (whole numbers); floats differ
("25.0" from pandas, "25" from pyarrow) and go through pandas."""


def _whole(values: pd.Series) -> bool:
    """Every value missing or a whole number pandas writes as "N.0" (not in exponent form)."""
    numbers = values.dropna().to_numpy(dtype="float64")
    return bool(((numbers % 1 == 0) & (abs(numbers) < 1e15)).all())


def _csv_by_arrow(frame: pd.DataFrame) -> bytes | None:
    """The frame as pandas' ``to_csv(index=False, lineterminator="\n")`` writes it, written by
    pyarrow's CSV writer, or None when pyarrow can't write the same bytes.

    Lineage tables have a row per record of a domain (hundreds of thousands at scale), and
    pandas' writer formats them cell by cell in Python, ten times pyarrow's time. Only text and
    whole-number columns are taken (whole floats as pandas writes them), and with quoting off:
    a value that would need quotes (a comma, a quote, a line break) makes pyarrow refuse, and
    pandas writes the table.
    """
    import csv

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    columns = {}
    for name, values in frame.items():
        dtype = values.dtype
        if dtype == "str" or getattr(dtype, "kind", "") in _ARROW_CSV_KINDS:
            columns[name] = values
        elif getattr(dtype, "kind", "") == "f" and _whole(values):
            # whole numbers as pandas writes floats: "25.0"
            number = values.dropna().astype("int64").astype("str") + ".0"
            columns[name] = number.reindex(values.index).astype("str")
        else:
            return None
    frame = pd.DataFrame(columns, index=frame.index)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([str(c) for c in frame.columns])
    out = io.BytesIO()
    out.write(header.getvalue().encode("utf-8"))
    try:
        pa_csv.write_csv(
            pa.Table.from_pandas(frame, preserve_index=False),
            out,
            pa_csv.WriteOptions(include_header=False, quoting_style="none"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return out.getvalue()


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
        >>> write_manifest(Path("/tmp/out"), []).name  # doctest: +SKIP
        'manifest.json'
    """
    entries = [
        {"path": p.relative_to(out).as_posix(), "bytes": p.stat().st_size, "sha256": sha256(p)}
        for p in sorted(set(files))
    ]
    path = out / "manifest.json"
    body = {"files": entries, **context}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
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


def manifest_files(out: Path, *, except_under: str) -> list[Path]:
    """The files DIR/manifest.json lists that still exist, except those under one folder.

    ``trialflow report`` writes DIR/analysis/ into a folder a run may have made; the run's
    other outputs stay listed in the manifest it rewrites. No manifest: no files.

    Example:
        >>> manifest_files(Path("/tmp/nowhere"), except_under="analysis")
        []
    """
    path = out / "manifest.json"
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("files", [])
    except (ValueError, AttributeError) as exc:
        raise RawInputError(f"{path}: not a trialflow manifest ({exc})") from exc
    prefix = except_under.rstrip("/") + "/"
    kept = []
    for entry in entries:
        name = str(entry.get("path", "")) if isinstance(entry, dict) else ""
        if name and not name.startswith(prefix) and name != "manifest.json":
            candidate = out / name
            if candidate.is_file() and candidate.resolve().is_relative_to(out.resolve()):
                kept.append(candidate)
    return kept


CSV_SIGNIFICANT_DIGITS = 10
"""Numbers in the analysis CSVs are rounded (SAS's ROUND) to this many significant digits."""


def write_table_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write an analysis table as CSV (UTF-8), formula-like text neutralised.

    Every non-integer number is rounded as SAS's ROUND does to
    :data:`CSV_SIGNIFICANT_DIGITS` significant digits: a statistic reads as the number it is
    (a mean of 7.19, not the binary 7.1899999999999995) with every digit it has in its own
    right; the report's tables show them at the display precision.

    Example:
        >>> write_table_csv(pd.DataFrame({"N": [16]}), Path("/tmp/t.csv")).name  # doctest: +SKIP
        't.csv'
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
        >>> write_file("<p>ok</p>", Path("/tmp/page.html")).name  # doctest: +SKIP
        'page.html'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(data)
    return path
