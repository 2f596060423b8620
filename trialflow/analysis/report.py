"""The analysis report: one self-contained HTML5 page.

:func:`render_report` returns the page as text: inline CSS, every figure embedded as a
``data:image/png;base64`` URI, no external resource of any kind and no timestamp, so the same
inputs give the same page. The page reads without JavaScript; one small inline script at the
end of the body records, after the page has loaded, how many images decoded and how many
tables there are (``data-images="loaded/total"`` and ``data-tables`` on ``<body>``), which a
headless browser check reads back.

Sections: the study header (with a banner when the data are synthetic), provenance, the
validation summary, the change-from-baseline tables per parameter, Table 1, the figures, the
safety results when given (adverse events by term, adverse events per infusion, safety
parameters by visit) and the notes. Every value from the inputs is HTML-escaped.

Example:
    >>> page = render_report(study={"studyid": "S1", "title": "Demo", "synthetic": True},
    ...                      validation={}, summary=pd.DataFrame(), table1=pd.DataFrame(),
    ...                      figures=[])
    >>> page.startswith("<!DOCTYPE html>") and "Synthetic data" in page
    True
"""

from __future__ import annotations

import base64
import html
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from trialflow.numbers import format_fixed

BANNER_COLOR = "#f5b800"
"""Background colour of the synthetic-data banner (also looked for in screenshots)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DASH = "–"
_NOT_RECORDED = '<span class="empty">not recorded</span>'
_TABLE1_COLUMNS = ("CHARACTERISTIC", "STATISTIC", "VALUE")
_SUMMARY_COLUMNS = ("PARAMCD", "AVISITN", "AVISIT", "VAR", "N", "MEAN", "SD", "MEDIAN", "Q1", "Q3")

_CSS = """
:root {
  --ink: #1f2933; --muted: #52606d; --rule: #d9dee3; --zebra: #f5f7f9; --head: #eef2f6;
  --accent: #1f5f99; --banner: BANNER; --banner-ink: #2b2000;
  --bad: #b42318; --warn: #b54708; --ok: #067647;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Liberation Sans", sans-serif;
}
.page { max-width: 1120px; margin: 0 auto; padding: 0 28px 48px; }
.banner {
  background: var(--banner); color: var(--banner-ink); font-weight: 700;
  padding: 12px 28px; text-align: center; letter-spacing: .02em;
  border-bottom: 3px solid #c99700;
}
.banner span { font-weight: 400; }
header.top { padding: 28px 0 12px; border-bottom: 1px solid var(--rule); }
.eyebrow {
  margin: 0; color: var(--muted); font-size: 13px; letter-spacing: .08em;
  text-transform: uppercase; font-weight: 600;
}
h1 { margin: 4px 0 8px; font-size: 28px; line-height: 1.2; }
h2 {
  margin: 40px 0 12px; font-size: 21px; padding-bottom: 6px;
  border-bottom: 2px solid var(--ink);
}
h3 { margin: 28px 0 8px; font-size: 16px; }
nav.toc { font-size: 14px; color: var(--muted); }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 16px; }
nav.toc a:hover { text-decoration: underline; }
dl.facts {
  display: grid; grid-template-columns: max-content 1fr; gap: 6px 24px; margin: 0;
  font-size: 14px;
}
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.counts { display: flex; gap: 12px; flex-wrap: wrap; margin: 8px 0 16px; }
.count {
  border: 1px solid var(--rule); border-radius: 6px; padding: 8px 16px; min-width: 120px;
}
.count b { display: block; font-size: 24px; font-variant-numeric: tabular-nums; }
.count.errors.nonzero b { color: var(--bad); }
.count.warnings.nonzero b { color: var(--warn); }
.count.zero b { color: var(--ok); }
.table-wrap { overflow-x: auto; margin: 8px 0 4px; }
table {
  border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums;
  min-width: 50%;
}
caption {
  caption-side: top; text-align: left; font-weight: 600; padding: 0 0 6px; font-size: 15px;
}
th, td { padding: 5px 12px; border-bottom: 1px solid var(--rule); vertical-align: top; }
thead th {
  background: var(--head); text-align: left; font-weight: 600; border-bottom: 2px solid #9aa5b1;
}
thead tr.group th { text-align: center; border-bottom: 1px solid #9aa5b1; }
thead tr.group th[rowspan] { border-bottom: 2px solid #9aa5b1; }
thead tr.group th.left { text-align: left; }
thead tr.group th.num { text-align: right; }
tbody tr:nth-child(even) { background: var(--zebra); }
td.num, th.num { text-align: right; white-space: nowrap; }
tbody th { text-align: left; font-weight: 600; }
.label { white-space: nowrap; }
.table-note { font-size: 13px; color: var(--muted); margin: 4px 0 0; }
ul.findings { font-size: 14px; padding-left: 20px; }
ul.findings li { margin: 2px 0; }
figure { margin: 24px 0; break-inside: avoid; page-break-inside: avoid; }
figure img {
  display: block; max-width: 100%; height: auto; border: 1px solid var(--rule);
  border-radius: 4px;
}
figcaption { font-size: 14px; color: var(--muted); margin-top: 6px; }
figcaption b { color: var(--ink); }
.empty { color: var(--muted); font-style: italic; }
footer {
  margin-top: 48px; padding-top: 12px; border-top: 1px solid var(--rule);
  font-size: 13px; color: var(--muted);
}
@media (max-width: 720px) {
  .page { padding: 0 14px 32px; }
  h1 { font-size: 23px; }
}
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { font-size: 10pt; }
  .page { max-width: none; padding: 0; }
  .banner {
    -webkit-print-color-adjust: exact; print-color-adjust: exact;
    padding: 6px 0; border: 2px solid #c99700;
  }
  nav.toc { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; margin-top: 24px; }
  h3, caption { break-after: avoid; page-break-after: avoid; }
  table { font-size: 9pt; break-inside: auto; }
  tr, figure { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  tbody tr:nth-child(even) {
    background: var(--zebra); -webkit-print-color-adjust: exact; print-color-adjust: exact;
  }
  .table-wrap { overflow: visible; }
  figure img { max-height: 120mm; width: auto; border: none; }
  a { color: inherit; text-decoration: none; }
}
""".replace("BANNER", BANNER_COLOR)

_SCRIPT = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.dataset.images = loaded.length + "/" + images.length;
  document.body.dataset.tables = String(document.getElementsByTagName("table").length);
});
</script>"""


def _esc(value: object) -> str:
    return html.escape(_text(value), quote=True)


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _text(value: object) -> str:
    return "" if _missing(value) else str(value)


def _float(value: object) -> float:
    if _missing(value):
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def format_number(value: object, digits: int = 2) -> str:
    """A value rounded half away from zero (SAS's ROUND) to ``digits`` decimals, written with
    them; missing or non-numeric values as an en dash.

    Example:
        >>> format_number(7.456), format_number(-0.1), format_number(None), format_number(3, 0)
        ('7.46', '-0.10', '–', '3')
        >>> format_number(10.065), format_number(-0.004)
        ('10.07', '0.00')
    """
    number = _float(value)
    if math.isnan(number):
        return _DASH
    return format_fixed(number, digits)


def display_digits(precision: int | None) -> dict[str, int]:
    """Decimals each statistic is shown with, for a parameter measured to ``precision`` decimals.

    As SAS programmers show them: mean, median, Q1 and Q3 with one decimal more than the data,
    SD with two more, min and max as the data. Without a declared precision every statistic
    has 2 decimals.

    Example:
        >>> display_digits(2)["MEDIAN"], display_digits(2)["SD"], display_digits(None)["SD"]
        (3, 4, 2)
    """
    if precision is None:
        return dict.fromkeys(("MEAN", "MEDIAN", "Q1", "Q3", "SD", "MIN", "MAX"), 2)
    d = int(precision)
    return {"MEAN": d + 1, "MEDIAN": d + 1, "Q1": d + 1, "Q3": d + 1, "SD": d + 2,
            "MIN": d, "MAX": d}  # fmt: skip


def format_p(value: object) -> str:
    """A p-value with three decimals, ``<0.001`` below 0.001, an en dash when missing.

    Example:
        >>> format_p(0.0031), format_p(0.0004), format_p(0.5), format_p(float("nan"))
        ('0.003', '<0.001', '0.500', '–')
    """
    p = _float(value)
    if math.isnan(p):
        return _DASH
    if p < 0.001:
        return "<0.001"
    return format_fixed(min(p, 1.0), 3)


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != _PNG_SIGNATURE or len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("render_report: every figure must be PNG bytes")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _header(
    study: Mapping[str, Any], safety: bool = False, dose: bool = False, compare: bool = False
) -> str:
    studyid = _esc(study.get("studyid"))
    title = _esc(study.get("title")) or studyid or "Analysis report"
    parts = []
    if study.get("synthetic"):
        parts.append(
            '<div class="banner" role="note" id="synthetic-banner">Synthetic data '
            "<span>— generated for demonstration; not from real patients and not for "
            "clinical or regulatory use.</span></div>"
        )
    links = [
        ("provenance", "Provenance"),
        ("validation", "Validation"),
        ("cfb", "Change from baseline"),
        *([("comparisons", "Between groups")] if compare else []),
        ("table1", "Table 1"),
        ("figures", "Figures"),
        *([("safety", "Safety")] if safety else []),
        *([("dose", "Dose")] if dose else []),
        ("notes", "Notes"),
    ]
    toc = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in links)
    parts.append(
        '<div class="page"><header class="top">'
        f'<p class="eyebrow">{studyid}</p><h1>{title}</h1>'
        f'<nav class="toc" aria-label="Sections">{toc}</nav></header>'
    )
    return "".join(parts)


def _method_fact(study: Mapping[str, Any], name: str, description: str) -> str:
    method = _esc(study.get(name))
    text = _esc(study.get(description))
    return f"{method} — {text}" if method and text else method or text


def _provenance(study: Mapping[str, Any]) -> str:
    method = _esc(study.get("quantile_method"))
    description = _esc(study.get("quantile_description"))
    quantiles = f"{method} — {description}" if method and description else method or description
    synthetic = study.get("synthetic")
    facts = [
        ("Study", _esc(study.get("studyid"))),
        ("Data", "synthetic" if synthetic else "as exported" if synthetic is not None else ""),
        ("Raw export", _esc(study.get("raw_export"))),
        ("trialflow", _esc(study.get("trialflow"))),
        ("SDTMIG", _esc(study.get("sdtmig"))),
        ("ADaMIG", _esc(study.get("adamig"))),
        ("Controlled terminology", _esc(study.get("ct"))),
        ("Quantile method", quantiles),
        ("Signed-rank test", _method_fact(study, "test_method", "test_description")),
    ]
    rows = "".join(f"<dt>{name}</dt><dd>{value or _NOT_RECORDED}</dd>" for name, value in facts)
    return f'<section id="provenance"><h2>Provenance</h2><dl class="facts">{rows}</dl></section>'


def _count(value: object) -> int:
    number = _float(value)
    return 0 if math.isnan(number) else int(number)


def _validation(validation: Mapping[str, Any]) -> str:
    cards = []
    for key in ("errors", "warnings", "notices"):
        n = _count(validation.get(key))
        state = "zero" if n == 0 else "nonzero"
        cards.append(f'<div class="count {key} {state}"><b>{n}</b>{key}</div>')
    parts = [
        '<section id="validation"><h2>Validation</h2>',
        f'<div class="counts">{"".join(cards)}</div>',
    ]
    by_dataset = list(validation.get("by_dataset") or [])
    if by_dataset:
        body = "".join(
            "<tr>"
            f'<th scope="row" class="label">{_esc(row.get("dataset"))}</th>'
            + "".join(
                f'<td class="num">{_count(row.get(key))}</td>'
                for key in ("records", "errors", "warnings", "notices")
            )
            + "</tr>"
            for row in by_dataset
        )
        parts.append(
            '<div class="table-wrap"><table class="validation"><caption>Findings by dataset'
            '</caption><thead><tr><th scope="col">Dataset</th><th class="num" scope="col">'
            'Records</th><th class="num" scope="col">Errors</th><th class="num" scope="col">'
            'Warnings</th><th class="num" scope="col">Notices</th></tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )
    top = [line for line in (validation.get("top") or []) if _text(line)]
    if top:
        items = "".join(f"<li>{_esc(line)}</li>" for line in top)
        parts.append(f'<h3>Main findings</h3><ul class="findings">{items}</ul>')
    else:
        parts.append('<p class="empty">No findings to list.</p>')
    parts.append("</section>")
    return "".join(parts)


def _stats_cells(row: Mapping[str, Any] | None, digits: Mapping[str, int]) -> str:
    if row is None:
        return f'<td class="num">{_DASH}</td>' * 3
    n = _float(row["N"])
    n_text = _DASH if math.isnan(n) else str(int(n))
    median, q1, q3, mean, sd = (
        format_number(row[k], digits[k]) for k in ("MEDIAN", "Q1", "Q3", "MEAN", "SD")
    )
    median = f"{median} ({q1}, {q3})"
    mean = f"{mean} ({sd})"
    return f'<td class="num">{n_text}</td><td class="num">{median}</td><td class="num">{mean}</td>'


def _cfb_table(
    rows: pd.DataFrame,
    paramcd: str,
    precision: int | None = None,
    prefix: str = "cfb",
    cell: tuple[str, str] = ("", ""),
) -> str:
    labels = [_text(v) for v in rows.get("PARAM", pd.Series(dtype="str")) if _text(v)]
    heading = f"{_esc(labels[0])} ({_esc(paramcd)})" if labels else _esc(paramcd)
    heading += _esc(cell[0])
    tests = []
    if "TEST" in rows.columns:
        for value in rows.loc[rows["VAR"] == "CHG", "TEST"]:
            if _text(value) and _text(value) not in tests:
                tests.append(_text(value))
    per_row_test = len(tests) > 1
    digits = display_digits(precision)
    visits = rows.assign(_X=pd.to_numeric(rows["AVISITN"], errors="coerce"))
    visits = visits[visits["_X"].notna().to_numpy()].sort_values("_X", kind="stable")
    # A table has a handful of rows: plain records, since selecting from a frame per visit
    # and statistic cost more than the rest of the report.
    by_visit: dict[float, list[dict]] = {}
    for record in visits.to_dict("records"):
        by_visit.setdefault(record["_X"], []).append(record)
    body = []
    for avisitn in sorted(by_visit):
        group = by_visit[avisitn]
        aval = [r for r in group if _text(r["VAR"]) == "AVAL"]
        chg = [r for r in group if _text(r["VAR"]) == "CHG"]
        chg_row = chg[0] if chg else None
        names = [_text(r["AVISIT"]) for r in group if _text(r["AVISIT"])]
        visit = _esc(names[0]) if names else f"visit {avisitn:g}"
        p = (
            format_p(chg_row["P_VALUE"])
            if chg_row is not None and "P_VALUE" in visits.columns
            else _DASH
        )
        cells = [
            f'<th scope="row" class="label">{visit}</th>',
            _stats_cells(aval[0] if aval else None, digits),
            _stats_cells(chg_row, digits),
            f'<td class="num">{html.escape(p)}</td>',
        ]
        if per_row_test:
            test = _esc(chg_row["TEST"]) if chg_row is not None else ""
            cells.append(f"<td>{test}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    stat_heads = (
        '<th class="num" scope="col">n</th><th class="num" scope="col">Median (Q1, Q3)</th>'
        '<th class="num" scope="col">Mean (SD)</th>'
    )
    test_head = '<th class="left" scope="col" rowspan="2">Test</th>' if per_row_test else ""
    test_methods = []
    if "TEST_METHOD" in rows.columns:
        test_methods = sorted({_text(v) for v in rows["TEST_METHOD"] if _text(v)})
    named = f" (test method {_esc(', '.join(test_methods))})" if test_methods else ""
    note = ""
    if tests and not per_row_test:
        note = (
            f'<p class="table-note">p-value: {_esc(tests[0])}{named}, change from baseline.</p>'
        )
    elif per_row_test:
        note = (
            '<p class="table-note">p-value: the test named in each row'
            f"{named}, change from baseline.</p>"
        )
    methods = []
    if "QUANTILE_METHOD" in rows.columns:
        methods = sorted({_text(v) for v in rows["QUANTILE_METHOD"] if _text(v)})
    if methods:
        note += (
            f'<p class="table-note">Quantiles (Q1, median, Q3): {_esc(", ".join(methods))}. '
            "SD with n − 1.</p>"
        )
    if precision is None:
        note += '<p class="table-note">Statistics with 2 decimals.</p>'
    else:
        note += (
            f'<p class="table-note">Measured to {precision} decimal{"" if precision == 1 else "s"}'
            f": median, Q1, Q3 and mean with {digits['MEAN']}, SD with {digits['SD']}.</p>"
        )
    return (
        f'<div class="table-wrap"><table class="cfb" id="{prefix}-{_esc(paramcd)}{cell[1]}">'
        f"<caption>{heading}</caption><thead>"
        '<tr class="group"><th class="left" scope="col" rowspan="2">Visit</th>'
        '<th scope="colgroup" colspan="3">Value (AVAL)</th>'
        '<th scope="colgroup" colspan="3">Change from baseline (CHG)</th>'
        f'<th class="num" scope="col" rowspan="2">p-value</th>{test_head}</tr>'
        f"<tr>{stat_heads}{stat_heads}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>{note}"
    )


def _cfb_tables(
    summary: pd.DataFrame, precision: Mapping[str, int | None], prefix: str = "cfb"
) -> list[str]:
    missing = [c for c in _SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"render_report: summary column(s) missing: {', '.join(missing)}")
    order: list[str] = []
    for value in summary["PARAMCD"]:
        if _text(value) and _text(value) not in order:
            order.append(_text(value))
    tables = []
    for paramcd in order:
        rows = summary[(summary["PARAMCD"] == paramcd).to_numpy()]
        for cell, part in _cells(rows):
            tables.append(_cfb_table(part, paramcd, precision.get(paramcd), prefix, cell))
    return tables


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _prefixed(fragment: str, group: str) -> str:
    """An HTML fragment drawn once per group, its element ids made unique by the group."""
    return fragment.replace(' id="', f' id="{_slug(group)}-')


def _cells(
    rows: pd.DataFrame, by_group: bool = True
) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """The rows of one parameter split by time point (ATPTN) and, when there is more than one
    group and ``by_group``, by group: ((caption suffix, id suffix), rows). One group and at
    most one time point: one cell with no suffix."""
    by_tpt: list[tuple[str, str, pd.DataFrame]] = [("", "", rows)]
    numbers = pd.to_numeric(rows.get("ATPTN", pd.Series(dtype="float64")), errors="coerce")
    if numbers.nunique(dropna=False) > 1:
        by_tpt = []
        for value in [*sorted(set(numbers.dropna())), math.nan]:
            pick = numbers.isna() if math.isnan(value) else numbers.eq(value)
            part = rows[pick.to_numpy()]
            if part.empty:
                continue
            names = [_text(v) for v in part.get("ATPT", pd.Series(dtype="str")) if _text(v)]
            if math.isnan(value):
                by_tpt.append(("", "", part))
            else:
                name = names[0].lower() if names else f"time point {value:g}"
                by_tpt.append((f", {name}", f"-tpt{value:g}".replace(".", "-"), part))
    groups = []
    if by_group and "GROUP" in rows.columns:
        groups = list(dict.fromkeys(_text(v) for v in rows["GROUP"] if _text(v)))
    out = []
    for caption, ident, part in by_tpt:
        if len(groups) <= 1:
            out.append(((caption, ident), part))
            continue
        for group in groups:
            mine = part[part["GROUP"].astype("str").eq(group).to_numpy()]
            if len(mine):
                out.append(((f"{caption}, {group}", f"{ident}-{_slug(group)}"), mine))
    return out


def _cfb(summary: pd.DataFrame, precision: Mapping[str, int | None]) -> str:
    parts = ['<section id="cfb"><h2>Change from baseline</h2>']
    if summary.empty:
        parts.append('<p class="empty">No change-from-baseline summaries.</p></section>')
        return "".join(parts)
    parts += _cfb_tables(summary, precision)
    parts.append("</section>")
    return "".join(parts)


_AE_COLUMNS = ("AEBODSYS", "AEDECOD", "INFUSION", "N_SUBJECTS", "SUBJECTS", "EVENTS",
               "N_INFUSIONS", "INFUSIONS_WITH_AE", "EVENTS_WITHIN", "INFUSIONS_WITH_AE_WITHIN",
               "WITHIN_DAYS")  # fmt: skip


def _counts_of(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce").fillna(0).astype("int64")


def _n_pct(count: pd.Series, total: pd.Series, of: bool = False) -> pd.Series:
    """``n (p%)`` (``n/N (p%)`` with ``of``), the percentage with two decimals."""
    pct = (100.0 * count / total.where(total > 0)).map(format_number)
    head = count.astype("str") + ("/" + total.astype("str") if of else "")
    return head + " (" + pct + "%)"


def _ae_tables(ae: pd.DataFrame) -> list[str]:
    missing = [c for c in _AE_COLUMNS if c not in ae.columns]
    if missing:
        raise ValueError(f"render_report: ae_summary column(s) missing: {', '.join(missing)}")
    days = sorted({_count(v) for v in ae["WITHIN_DAYS"] if not _missing(v)})
    within = f"within {days[0]} day(s)" if len(days) == 1 else "within the interval"
    text = {c: ae[c].astype(object).map(_esc) for c in ("AEBODSYS", "AEDECOD", "INFUSION")}
    n = {c: _counts_of(ae, c) for c in _AE_COLUMNS[3:]}
    is_all = ae["INFUSION"].astype("str").eq("ALL").to_numpy()
    terms = (
        "<tr><td>" + text["AEBODSYS"] + '</td><th scope="row">' + text["AEDECOD"]
        + '</th><td class="num">' + _n_pct(n["SUBJECTS"], n["N_SUBJECTS"])
        + '</td><td class="num">' + n["EVENTS"].astype("str")
        + '</td><td class="num">' + _n_pct(n["INFUSIONS_WITH_AE"], n["N_INFUSIONS"], of=True)
        + "</td></tr>"
    )[is_all].tolist()  # fmt: skip
    subjects = int(n["N_SUBJECTS"][is_all].max()) if is_all.any() else 0
    if is_all.all():  # analysis.safety.by_administration: false (or no infusion given)
        return [_ae_terms_only(text, n, is_all, subjects)]
    first = (
        '<h3 id="ae">Treatment-emergent adverse events</h3>'
        '<div class="table-wrap"><table class="ae" id="ae-terms"><thead><tr>'
        '<th scope="col">System organ class</th><th scope="col">Preferred term</th>'
        f'<th class="num" scope="col">Subjects, n (%) of {subjects}</th>'
        '<th class="num" scope="col">Events</th>'
        '<th class="num" scope="col">Infusions followed, n/N (%)</th></tr></thead>'
        f"<tbody>{''.join(terms)}</tbody></table></div>"
        '<p class="table-note">Subjects with at least one event, and events; infusions '
        "followed by at least one event before the next infusion, of all infusions given.</p>"
    )
    label = text["INFUSION"].where(~is_all, "All")
    rows = (
        '<tr><th scope="row">' + text["AEDECOD"] + '</th><td class="num">' + label
        + '</td><td class="num">' + n["N_INFUSIONS"].astype("str")
        + '</td><td class="num">' + _n_pct(n["INFUSIONS_WITH_AE_WITHIN"], n["N_INFUSIONS"])
        + '</td><td class="num">' + n["EVENTS_WITHIN"].astype("str")
        + '</td><td class="num">' + _n_pct(n["INFUSIONS_WITH_AE"], n["N_INFUSIONS"])
        + '</td><td class="num">' + n["EVENTS"].astype("str") + "</td></tr>"
    ).tolist()  # fmt: skip
    second = (
        '<h3 id="ae-infusion">Adverse events per infusion</h3>'
        '<div class="table-wrap"><table class="ae" id="ae-infusions"><thead>'
        '<tr class="group"><th class="left" scope="col" rowspan="2">Preferred term</th>'
        '<th class="num" scope="col" rowspan="2">Infusion</th>'
        '<th class="num" scope="col" rowspan="2">Infusions given</th>'
        f'<th scope="colgroup" colspan="2">Event {_esc(within)} after the infusion</th>'
        '<th scope="colgroup" colspan="2">Event before the next infusion</th></tr>'
        '<tr><th class="num" scope="col">Infusions, n (%)</th>'
        '<th class="num" scope="col">Events</th>'
        '<th class="num" scope="col">Infusions, n (%)</th>'
        '<th class="num" scope="col">Events</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        '<p class="table-note">Infusion k: the subject\'s k-th infusion given; an event '
        "belongs to the last infusion on or before its start date. Percentages of the "
        "infusions given.</p>"
    )
    return [first, second]


def _ae_terms_only(
    text: Mapping[str, pd.Series], n: Mapping[str, pd.Series], is_all: Any, subjects: int
) -> str:
    """The adverse events by term without the per-administration column."""
    rows = (
        "<tr><td>" + text["AEBODSYS"] + '</td><th scope="row">' + text["AEDECOD"]
        + '</th><td class="num">' + _n_pct(n["SUBJECTS"], n["N_SUBJECTS"])
        + '</td><td class="num">' + n["EVENTS"].astype("str") + "</td></tr>"
    )[is_all].tolist()  # fmt: skip
    return (
        '<h3 id="ae">Treatment-emergent adverse events</h3>'
        '<div class="table-wrap"><table class="ae" id="ae-terms"><thead><tr>'
        '<th scope="col">System organ class</th><th scope="col">Preferred term</th>'
        f'<th class="num" scope="col">Subjects, n (%) of {subjects}</th>'
        '<th class="num" scope="col">Events</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        '<p class="table-note">Subjects with at least one event, and events.</p>'
    )


def _ae_terms_by_group(ae: pd.DataFrame, groups: Sequence[str]) -> str:
    """The treatment-emergent adverse events by term with a column per group (and Total):
    subjects n (%) of the group's subjects (the ALL rows of ae_summary)."""
    missing = [c for c in ("AEBODSYS", "AEDECOD", "INFUSION", "GROUP", "SUBJECTS", "N_SUBJECTS")
               if c not in ae.columns]  # fmt: skip
    if missing:
        raise ValueError(f"render_report: ae_summary column(s) missing: {', '.join(missing)}")
    rows = ae[ae["INFUSION"].astype("str").eq("ALL").to_numpy()]
    text = rows.assign(
        _SOC=rows["AEBODSYS"].astype(object).map(_esc),
        _PT=rows["AEDECOD"].astype(object).map(_esc),
        _G=rows["GROUP"].astype("str"),
        _CELL=_n_pct(_counts_of(rows, "SUBJECTS"), _counts_of(rows, "N_SUBJECTS")),
        _N=_counts_of(rows, "N_SUBJECTS"),
    )
    cells = {(soc, pt, g): c for soc, pt, g, c in zip(text["_SOC"], text["_PT"], text["_G"],
                                                      text["_CELL"], strict=True)}  # fmt: skip
    sizes = text.groupby("_G", sort=False)["_N"].max()
    head = "".join(
        f'<th class="num" scope="col">{_esc(g)} (N = {int(sizes[g]) if g in sizes else 0})</th>'
        for g in groups
    )
    # The terms in the order of the Total rows (every term), else as the groups list them.
    ordered = text.sort_values("_G", key=lambda g: g.ne("Total"), kind="stable")
    terms = list(dict.fromkeys(zip(ordered["_SOC"], ordered["_PT"], strict=True)))
    body = "".join(
        f'<tr><td>{soc}</td><th scope="row">{pt}</th>'
        + "".join(f'<td class="num">{cells.get((soc, pt, g), "0 (0.00%)")}</td>' for g in groups)
        + "</tr>"
        for soc, pt in terms
    )
    return (
        '<h3 id="ae">Treatment-emergent adverse events by group</h3>'
        '<div class="table-wrap"><table class="ae" id="ae-terms"><thead><tr>'
        '<th scope="col">System organ class</th><th scope="col">Preferred term</th>'
        f"{head}</tr></thead><tbody>{body}</tbody></table></div>"
        '<p class="table-note">Subjects with at least one event, n (%) of the group\'s '
        "subjects.</p>"
    )


def _safety(
    ae: pd.DataFrame | None,
    by_visit: pd.DataFrame | None,
    notes: Sequence[str],
    precision: Mapping[str, int | None],
) -> str:
    if ae is None and by_visit is None:
        return ""
    parts = ['<section id="safety"><h2>Safety</h2>']
    if ae is not None:
        groups = []
        if "GROUP" in ae.columns:
            groups = list(dict.fromkeys(_text(v) for v in ae["GROUP"] if _text(v)))
        if len(groups) <= 1:
            parts += _ae_tables(ae)
        else:
            parts.append(_ae_terms_by_group(ae, groups))
            per_administration = not ae["INFUSION"].astype("str").eq("ALL").all()
            for group in groups if per_administration else []:
                mine = ae[ae["GROUP"].astype("str").eq(group).to_numpy()]
                infusions = _ae_tables(mine)[1].replace(
                    "Adverse events per infusion<", f"Adverse events per infusion: {_esc(group)}<"
                )
                parts.append(_prefixed(infusions, group))
    if by_visit is not None:
        parts.append(
            '<h3 id="safety-visits">Safety laboratory values and vital signs by visit</h3>'
        )
        if by_visit.empty:
            parts.append('<p class="empty">No safety parameters.</p>')
        else:
            parts += _cfb_tables(by_visit, precision, "safety")
    items = "".join(f"<li>{_esc(note)}</li>" for note in notes if _text(note))
    if items:
        parts.append(f'<ul class="findings">{items}</ul>')
    parts.append("</section>")
    return "".join(parts)


def _dose(
    categories: pd.DataFrame | None,
    changes: pd.DataFrame | None,
    sentences: Sequence[str],
) -> str:
    """The dose section: the sentences, subjects per category by visit, changes by class."""
    if categories is None and changes is None:
        return ""
    parts = ['<section id="dose"><h2>Hypoglycaemic agent dose</h2>']
    items = "".join(f"<li>{_esc(s)}</li>" for s in sentences if _text(s))
    if items:
        parts.append(f'<ul class="dose-results">{items}</ul>')
    groups = []
    for table in (categories, changes):
        if table is not None and "GROUP" in table.columns:
            groups += [_text(v) for v in table["GROUP"] if _text(v)]
    groups = list(dict.fromkeys(groups))
    if len(groups) > 1:
        for group in groups:
            parts.append(f'<h3 class="group">{_esc(group)}</h3>')
            mine = [
                None if t is None else t[t["GROUP"].astype("str").eq(group).to_numpy()]
                for t in (categories, changes)
            ]
            parts += [_prefixed(t, group) for t in _dose_tables(*mine)]
    else:
        parts += _dose_tables(categories, changes)
    parts.append("</section>")
    return "".join(parts)


def _dose_tables(categories: pd.DataFrame | None, changes: pd.DataFrame | None) -> list[str]:
    """The dose categories by visit and the medication changes by class of one group."""
    parts = []
    if categories is not None and not categories.empty:
        visits = list(dict.fromkeys(categories["AVISIT"].astype("str")))
        labels = list(dict.fromkeys(categories["AVALCAT1"].astype("str")))
        cell = {
            (str(v), str(c)): _n_pct(pd.Series([n]), pd.Series([t])).iloc[0]
            for v, c, n, t in zip(categories["AVISIT"], categories["AVALCAT1"],
                                  categories["n"], categories["N"], strict=True)
        }  # fmt: skip
        totals = categories.groupby("AVISIT", sort=False)["N"].max()
        head = "".join(
            f'<th class="num" scope="col">{_esc(v)} (N = {int(totals[v])})</th>' for v in visits
        )
        rows = "".join(
            f'<tr><th scope="row">{_esc(c)}</th>'
            + "".join(f'<td class="num">{_esc(cell.get((v, c), _DASH))}</td>' for v in visits)
            + "</tr>"
            for c in labels
        )
        param = _esc(categories["PARAMCD"].iloc[0])
        parts.append(
            '<h3 id="dose-categories">Change of the total dose from baseline</h3>'
            '<div class="table-wrap"><table class="dose" id="dose-categories-table"><thead>'
            f'<tr><th scope="col">Category ({param})</th>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
            '<p class="table-note">Subjects, n (%) of the subjects with a category at the visit '
            "(a baseline dose above 0).</p>"
        )
    if changes is not None and not changes.empty:
        rows = (
            '<tr><td>' + changes["AVISIT"].astype(object).map(_esc)
            + '</td><td>' + changes["CLASS"].astype(object).map(_esc)
            + '</td><th scope="row">' + changes["CHANGE"].astype(object).map(_esc)
            + '</th><td class="num">'
            + _n_pct(_counts_of(changes, "n"), _counts_of(changes, "N"), of=True)
            + "</td></tr>"
        ).tolist()  # fmt: skip
        parts.append(
            '<h3 id="dose-changes">Medication changes by class</h3>'
            '<div class="table-wrap"><table class="dose" id="dose-changes-table"><thead><tr>'
            '<th scope="col">Visit</th><th scope="col">Class</th><th scope="col">Change</th>'
            '<th class="num" scope="col">Subjects, n/N (%)</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
            '<p class="table-note">N: subjects on the class at baseline with a dose at the '
            "visit. THRESHOLD MET: the withdrawal criterion is met at the visit; WITHDRAWN AT "
            "THRESHOLD: stopped at the visit after meeting it at the last visit before.</p>"
        )
    return parts


def _table1(table1: pd.DataFrame, groups: Mapping[str, int] | None = None) -> str:
    parts = ['<section id="table1"><h2>Table 1. Baseline characteristics</h2>']
    if table1.empty:
        parts.append('<p class="empty">No baseline characteristics.</p></section>')
        return "".join(parts)
    missing = [c for c in _TABLE1_COLUMNS if c not in table1.columns]
    if missing:
        raise ValueError(f"render_report: table1 column(s) missing: {', '.join(missing)}")
    if "GROUP" in table1.columns and table1["GROUP"].nunique(dropna=True) > 1:
        parts.append(_table1_by_group(table1, groups or {}))
        return "".join(parts)
    cells = {c: table1[c].astype(object).map(_esc) for c in _TABLE1_COLUMNS}
    characteristic, statistic, value = (cells[c] for c in _TABLE1_COLUMNS)
    rows = (
        '<tr><th scope="row">' + characteristic + "</th><td>" + statistic
        + '</td><td class="num">' + value + "</td></tr>"
    ).tolist()  # fmt: skip
    n_note = ""
    if "N" in table1.columns:
        counts = sorted({_count(v) for v in table1["N"] if not _missing(v)})
        if len(counts) == 1:
            n_note = f'<p class="table-note">N = {counts[0]} subjects.</p>'
    parts.append(
        '<div class="table-wrap"><table class="table1"><thead><tr>'
        '<th scope="col">Characteristic</th><th scope="col">Statistic</th>'
        '<th class="num" scope="col">Value</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{n_note}</section>"
    )
    return "".join(parts)


def _table1_by_group(table1: pd.DataFrame, groups: Mapping[str, int]) -> str:
    """Table 1 with a column per group (and Total): the header names each group's N."""
    names = list(dict.fromkeys(str(v) for v in table1["GROUP"] if _text(v)))
    keys = list(dict.fromkeys(zip(table1["CHARACTERISTIC"], table1["STATISTIC"], strict=True)))
    value = {
        (c, st, str(g)): v
        for c, st, g, v in zip(table1["CHARACTERISTIC"], table1["STATISTIC"], table1["GROUP"],
                               table1["VALUE"], strict=True)
    }  # fmt: skip
    head = "".join(
        f'<th class="num" scope="col">{_esc(g)}'
        + (f" (N = {int(groups[g])})" if g in groups else "")
        + "</th>"
        for g in names
    )
    rows = "".join(
        f'<tr><th scope="row">{_esc(c)}</th><td>{_esc(st)}</td>'
        + "".join(f'<td class="num">{_esc(value.get((c, st, g), _DASH))}</td>' for g in names)
        + "</tr>"
        for c, st in keys
    )
    return (
        '<div class="table-wrap"><table class="table1" id="table1-by-group"><thead><tr>'
        f'<th scope="col">Characteristic</th><th scope="col">Statistic</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
        '<p class="table-note">N: subjects of the group in the analysis population; '
        "percentages of the group's subjects.</p></section>"
    )


def _comparisons(comparisons: pd.DataFrame | None, precision: Mapping[str, int | None]) -> str:
    """Between-group comparisons of CHG: per parameter (and time point) one table."""
    if comparisons is None:
        return ""
    parts = ['<section id="comparisons"><h2>Comparisons between groups</h2>']
    if comparisons.empty:
        parts.append('<p class="empty">No comparison could be computed.</p></section>')
        return "".join(parts)
    order = list(dict.fromkeys(_text(v) for v in comparisons["PARAMCD"] if _text(v)))
    for paramcd in order:
        rows = comparisons[(comparisons["PARAMCD"] == paramcd).to_numpy()]
        digits = display_digits(precision.get(paramcd))["MEAN"]
        labels = [_text(v) for v in rows.get("PARAM", pd.Series(dtype="str")) if _text(v)]
        heading = f"{_esc(labels[0])} ({_esc(paramcd)})" if labels else _esc(paramcd)
        for (caption, ident), part in _cells(rows, by_group=False):
            parts.append(_comparison_table(part, f"{heading}{_esc(caption)}",
                                           f"compare-{_esc(paramcd)}{ident}", digits))  # fmt: skip
    tests = list(dict.fromkeys(_text(v) for v in comparisons["TEST"] if _text(v)))
    # the level of the differences' intervals: a rank-sum interval may report a lower one
    differences = comparisons.loc[(comparisons["TERM"] == "DIFF").to_numpy(), "CONF_LEVEL"]
    levels = sorted({float(v) for v in differences if not _missing(v)})
    level = f"{100 * levels[0]:g}%" if len(levels) == 1 else "the stated level"
    parts.append(
        '<p class="table-note">Change from baseline (CHG) of the analysis records at each '
        f"visit. LS mean: least-squares mean with its standard error; difference: group "
        f"minus control with its {level} confidence interval (t, residual df); shift: the "
        "Hodges-Lehmann estimate of the group's location shift against control with its "
        "confidence interval, and the rank-sum statistic W; not adjusted for multiplicity. "
        f"Tests: {_esc('; '.join(tests))}.</p></section>"
    )
    return "".join(parts)


def _comparison_table(rows: pd.DataFrame, heading: str, ident: str, digits: int) -> str:
    body = []
    for record in rows.to_dict("records"):
        term = _text(record["TERM"])
        group = _esc(record["GROUP"]) if _text(record["GROUP"]) else "all groups"
        visit = _esc(record["AVISIT"])
        n = _DASH if _missing(record["N"]) else str(_count(record["N"]))
        est = format_number(record["ESTIMATE"], digits)
        if term == "LSMEAN":
            what = "LS mean (SE)"
            value = f"{est} ({format_number(record['SE'], digits)})"
        elif term == "DIFF":
            what = f"difference vs {_esc(record['REFERENCE'])} (CI)"
            low = format_number(record["LOWER"], digits)
            high = format_number(record["UPPER"], digits)
            value = f"{est} ({low}, {high})"
        elif term == "RANKSUM":
            what = f"Wilcoxon rank-sum vs {_esc(record['REFERENCE'])}: shift (CI); W"
            shift = format_number(record["ESTIMATE"], digits)
            low = format_number(record["LOWER"], digits)
            high = format_number(record["UPPER"], digits)
            value = f"{shift} ({low}, {high}); {format_number(record['STATISTIC'], 1)}"
        else:
            what = "Kruskal-Wallis, H (df)"
            value = f"{format_number(record['STATISTIC'], 3)} ({_count(record['DF'])})"
        p = format_p(record["P_VALUE"]) if not _missing(record["P_VALUE"]) else _DASH
        body.append(
            f'<tr><th scope="row" class="label">{visit}</th><td>{group}</td><td>{what}</td>'
            f'<td class="num">{n}</td><td class="num">{html.escape(value)}</td>'
            f'<td class="num">{html.escape(p)}</td></tr>'
        )
    return (
        f'<div class="table-wrap"><table class="cfb" id="{ident}"><caption>{heading}</caption>'
        '<thead><tr><th class="left" scope="col">Visit</th><th scope="col">Group</th>'
        '<th scope="col">Statistic</th><th class="num" scope="col">n</th>'
        '<th class="num" scope="col">Value</th><th class="num" scope="col">p-value</th></tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _figures(figures: Sequence[tuple[str, bytes]]) -> str:
    parts = ['<section id="figures"><h2>Figures</h2>']
    if not figures:
        parts.append('<p class="empty">No figures.</p>')
    for number, (caption, data) in enumerate(figures, start=1):
        width, height = _png_size(data)
        encoded = base64.b64encode(data).decode("ascii")
        text = _esc(caption)
        parts.append(
            f'<figure id="figure-{number}"><img src="data:image/png;base64,{encoded}" '
            f'width="{width}" height="{height}" alt="{text}">'
            f"<figcaption><b>Figure {number}.</b> {text}</figcaption></figure>"
        )
    parts.append("</section>")
    return "".join(parts)


def _notes(notes: Sequence[str]) -> str:
    items = "".join(f"<li>{_esc(note)}</li>" for note in notes if _text(note))
    body = f"<ul>{items}</ul>" if items else '<p class="empty">No notes.</p>'
    return f'<section id="notes"><h2>Notes</h2>{body}</section>'


def render_report(
    *,
    study: Mapping[str, Any],
    validation: Mapping[str, Any],
    summary: pd.DataFrame,
    table1: pd.DataFrame,
    figures: Sequence[tuple[str, bytes]],
    notes: Sequence[str] = (),
    ae_summary: pd.DataFrame | None = None,
    safety_by_visit: pd.DataFrame | None = None,
    safety_notes: Sequence[str] = (),
    precision: Mapping[str, int | None] | None = None,
    dose_categories: pd.DataFrame | None = None,
    dose_changes: pd.DataFrame | None = None,
    dose_sentences: Sequence[str] = (),
    groups: Mapping[str, int] | None = None,
    comparisons: pd.DataFrame | None = None,
) -> str:
    """The analysis report as one self-contained, deterministic HTML5 page.

    ``study``: studyid, title, synthetic, raw_export, trialflow, sdtmig, adamig, ct,
    quantile_method, quantile_description, test_method, test_description (missing keys show
    as "not recorded").
    ``validation``: errors, warnings, notices, by_dataset (dicts with dataset, records,
    errors, warnings, notices) and top (one-line findings). ``summary``: cfb_summary rows.
    ``table1``: CHARACTERISTIC, STATISTIC, VALUE (formatted text). ``figures``: (caption,
    PNG bytes) pairs, embedded in order as data URIs. ``notes``: free-text lines.
    ``ae_summary`` (ae_summary.csv rows), ``safety_by_visit`` (safety_by_visit.csv rows) and
    ``safety_notes``: the safety section, left out when both tables are None.
    ``dose_categories`` (dose_categories.csv rows), ``dose_changes`` (dose_changes.csv rows)
    and ``dose_sentences``: the dose section, left out when both tables are None.
    ``groups``: group -> subjects (and "Total"), the N in Table 1's header when it has more
    than one group; tables with a GROUP column of several groups show one table (cfb,
    safety) or column (Table 1) per group. ``comparisons`` (cfb_comparisons.csv rows): the
    between-groups section, left out when None.
    ``precision``: PARAMCD -> the decimals it is measured to, which set the decimals of its
    statistics (:func:`display_digits`); every number shown is rounded half away from zero as
    SAS's ROUND does.

    Raises ValueError when a figure is not PNG or a table lacks a required column.

    Example:
        >>> t1 = pd.DataFrame({"CHARACTERISTIC": ["Age (years)"], "STATISTIC": ["mean ± SD"],
        ...                    "VALUE": ["52.50 ± 7.90"]})
        >>> page = render_report(study={"title": "A <b> study", "synthetic": False},
        ...                      validation={"errors": 0}, summary=pd.DataFrame(),
        ...                      table1=t1, figures=[], notes=["n < 20"])
        >>> "A &lt;b&gt; study" in page, "52.50 ± 7.90" in page, "n &lt; 20" in page
        (True, True, True)
        >>> "Synthetic data" in page
        False
    """
    studyid = _text(study.get("studyid"))
    title = _text(study.get("title"))
    head_title = " — ".join(t for t in (studyid, title) if t) or "Analysis report"
    version = _esc(study.get("trialflow"))
    footer = f"Made with trialflow {version}." if version else "Made with trialflow."
    if study.get("synthetic"):
        footer += " The data in this report are synthetic."
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="trialflow">',
        f"<title>{html.escape(head_title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        _header(study, safety=ae_summary is not None or safety_by_visit is not None,
                dose=dose_categories is not None or dose_changes is not None,
                compare=comparisons is not None),
        "<main>",
        _provenance(study),
        _validation(validation),
        _cfb(summary, precision or {}),
        *([_comparisons(comparisons, precision or {})] if comparisons is not None else []),
        _table1(table1, groups),
        _figures(figures),
        _safety(ae_summary, safety_by_visit, safety_notes, precision or {}),
        _dose(dose_categories, dose_changes, dose_sentences),
        _notes(notes),
        "</main>",
        f"<footer>{footer}</footer>",
        "</div>",
        _SCRIPT,
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)
