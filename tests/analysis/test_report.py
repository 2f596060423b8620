"""The HTML report: banner, escaping, embedded images, no external resources, table contents."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trialflow.analysis.figures import PNG_SIGNATURE, figure_median_iqr
from trialflow.analysis.report import format_number, format_p, render_report

TEST = "Wilcoxon signed rank exact test"


def tiny_png(shade: int) -> bytes:
    """A valid 2 x 1 PNG made without a plotting library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + bytes([shade, 0, 0, 0, shade, 0]))
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def study(**changes: Any) -> dict[str, Any]:
    base = {
        "studyid": "DEMO-01",
        "title": "A demonstration study",
        "synthetic": True,
        "raw_export": "raw/export.xlsx",
        "trialflow": "0.1.0",
        "sdtmig": "3.4",
        "adamig": "1.3",
        "ct": "2024-09-27",
        "quantile_method": "sas5",
        "quantile_description": "SAS PCTLDEF=5 (averaged empirical distribution function)",
    }
    return {**base, **changes}


VALIDATION = {
    "errors": 1,
    "warnings": 2,
    "notices": 0,
    "by_dataset": [
        {"dataset": "ADLB", "records": 705, "errors": 1, "warnings": 2, "notices": 0},
        {"dataset": "ADSL", "records": 16, "errors": 0, "warnings": 0, "notices": 0},
    ],
    "top": ["ADLB: AVAL < 0 for 1 record (HBA1C)"],
}


def summary() -> pd.DataFrame:
    rows = [
        ("HBA1C", "Glycated haemoglobin (%)", 0.0, "BASELINE", "AVAL", 16, 7.912, 0.61, None),
        ("HBA1C", "Glycated haemoglobin (%)", 2.0, "DAY 14", "AVAL", 15, 7.5, 0.5, None),
        ("HBA1C", "Glycated haemoglobin (%)", 2.0, "DAY 14", "CHG", 15, -0.4123, 0.3, 0.0004),
        ("HBA1C", "Glycated haemoglobin (%)", 5.0, "DAY 84", "AVAL", 16, 7.2, 0.6, None),
        ("HBA1C", "Glycated haemoglobin (%)", 5.0, "DAY 84", "CHG", 16, -0.7, 0.4, 0.0031),
        ("FPG", "Fasting plasma glucose (mmol/L)", 0.0, "BASELINE", "AVAL", 16, 9.1, 1.2, None),
        ("FPG", "Fasting plasma glucose (mmol/L)", 5.0, "DAY 84", "AVAL", 1, 8.0, None, None),
        ("FPG", "Fasting plasma glucose (mmol/L)", 5.0, "DAY 84", "CHG", 1, -1.0, None, None),
    ]
    frame = pd.DataFrame(
        rows, columns=["PARAMCD", "PARAM", "AVISITN", "AVISIT", "VAR", "N", "MEAN", "SD", "P_VALUE"]
    )
    frame["MEDIAN"] = frame["MEAN"]
    frame["Q1"] = frame["MEAN"] - 0.25
    frame["Q3"] = frame["MEAN"] + 0.25
    frame["MIN"] = frame["MEAN"] - 1
    frame["MAX"] = frame["MEAN"] + 1
    frame["TEST"] = np.where(frame["VAR"] == "CHG", TEST, None)
    frame["QUANTILE_METHOD"] = "sas5"
    return frame


TABLE1 = pd.DataFrame(
    {
        "CHARACTERISTIC": ["Age (years)", "Sex: F", "Sex: M"],
        "STATISTIC": ["mean ± SD", "n (%)", "n (%)"],
        "VALUE": ["52.5 ± 7.9", "8 (50.0%)", "8 (50.0%)"],
    }
)


def render(**changes: Any) -> str:
    arguments: dict[str, Any] = {
        "study": study(),
        "validation": VALIDATION,
        "summary": summary(),
        "table1": TABLE1,
        "figures": [("First figure", tiny_png(200)), ("Second <figure> & more", tiny_png(90))],
        "notes": ["p-values are not adjusted for multiplicity."],
    }
    arguments.update(changes)
    return render_report(**arguments)


def row_of(page: str, table_id: str, visit: str) -> str:
    table = page[page.index(f'id="{table_id}"') :]
    table = table[: table.index("</table>")]
    match = re.search(rf"<tr><th scope=\"row\" class=\"label\">{visit}</th>(.*?)</tr>", table)
    assert match, f"no row {visit} in {table_id}"
    return match.group(1)


## Test 1: the synthetic-data banner iff synthetic ----
def test_banner_iff_synthetic() -> None:
    assert 'id="synthetic-banner"' in render()
    assert "Synthetic data" in render()
    plain = render(study=study(synthetic=False))
    assert 'id="synthetic-banner"' not in plain
    assert "Synthetic data" not in plain


## Test 2: every text value is escaped ----
def test_escapes_markup() -> None:
    page = render(
        study=study(title="<script>alert('x')</script> & co", studyid='S"1'),
        notes=["<b>bold</b>"],
        validation={**VALIDATION, "top": ["<img src=x onerror=alert(1)>"]},
        table1=TABLE1.assign(CHARACTERISTIC=["<i>Age</i>", "Sex: F", "Sex: M"]),
    )
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert "<script>alert" not in page
    assert page.count("<script") == 1  # the page's own load check, nothing from the data
    assert "S&quot;1" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;i&gt;Age&lt;/i&gt;" in page
    assert "Second &lt;figure&gt; &amp; more" in page


## Test 3: one embedded image per figure, nothing external ----
def test_images_embedded_and_self_contained() -> None:
    figure = figure_median_iqr(summary(), "HBA1C", title="HbA1c")
    figures = [("Median", figure), ("Tiny", tiny_png(10)), ("Tiny again", tiny_png(240))]
    page = render(figures=figures)
    images = re.findall(r"<img\b[^>]*>", page)
    assert len(images) == len(figures)
    sources = re.findall(r"""\bsrc\s*=\s*["']?([^"'\s>]*)""", page)
    assert len(sources) == len(figures)
    for (_, data), source in zip(figures, sources, strict=True):
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]) == data
    assert 'width="1200" height="720"' in images[0]
    lowered = page.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "url(" not in lowered and "@import" not in lowered
    assert "<link" not in lowered and "href=" not in lowered.replace('href="#', "")
    assert render(figures=[]).count("<img") == 0
    with pytest.raises(ValueError, match="PNG"):
        render(figures=[("not a png", b"GIF89a...")])


## Test 4: deterministic, a complete HTML5 document ----
def test_deterministic_document() -> None:
    page = render()
    assert render() == page
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert '<meta charset="utf-8">' in page
    assert page.rstrip().endswith("</html>")
    assert "@media print" in page
    for section in ("provenance", "validation", "cfb", "table1", "figures", "notes"):
        assert f'<section id="{section}">' in page
    assert "SAS PCTLDEF=5" in page and "raw/export.xlsx" in page


## Test 5: table contents and number formatting ----
def test_table_contents() -> None:
    page = render()
    # Table 1: the formatted text as given.
    assert "52.5 ± 7.9" in page and "8 (50.0%)" in page
    # Change from baseline: n, median (Q1, Q3), mean (SD) of AVAL and CHG, then p.
    day14 = row_of(page, "cfb-HBA1C", "DAY 14")
    cells = re.findall(r'<td class="num">(.*?)</td>', day14)
    assert cells == [
        "15", "7.50 (7.25, 7.75)", "7.50 (0.50)",
        "15", "-0.41 (-0.66, -0.16)", "-0.41 (0.30)",
        "&lt;0.001",
    ]  # fmt: skip
    day84 = re.findall(r'<td class="num">(.*?)</td>', row_of(page, "cfb-HBA1C", "DAY 84"))
    assert day84[-1] == "0.003"
    baseline = re.findall(r'<td class="num">(.*?)</td>', row_of(page, "cfb-HBA1C", "BASELINE"))
    assert baseline[:3] == ["16", "7.91 (7.66, 8.16)", "7.91 (0.61)"]
    assert baseline[3:] == ["–"] * 4
    # One subject: no SD, no p-value.
    fpg = re.findall(r'<td class="num">(.*?)</td>', row_of(page, "cfb-FPG", "DAY 84"))
    assert fpg == ["1", "8.00 (7.75, 8.25)", "8.00 (–)", "1", "-1.00 (-1.25, -0.75)",
                   "-1.00 (–)", "–"]  # fmt: skip
    assert "Glycated haemoglobin (%) (HBA1C)" in page
    assert f"p-value: {TEST}" in page
    # Validation counts per dataset.
    assert re.search(r"ADLB</th><td class=\"num\">705</td><td class=\"num\">1</td>", page)
    # Parameters in summary order: HBA1C before FPG.
    assert page.index('id="cfb-HBA1C"') < page.index('id="cfb-FPG"')


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0031, "0.003"), (0.0004, "<0.001"), (0.001, "0.001"), (0.04999, "0.050"),
     (1.0, "1.000"), (None, "–"), (float("nan"), "–"), ("0.2", "0.200")],
)  # fmt: skip
def test_format_p(value: object, text: str) -> None:
    assert format_p(value) == text


def test_format_number() -> None:
    assert format_number(-0.001) == "0.00"  # no "-0.00"
    assert format_number(12.345, 1) == "12.3"
    assert format_number(pd.NA) == "–"
    assert format_number("x") == "–"


## Test 6: the test method is named; the safety section ----
def test_test_method_named_in_provenance_and_tables() -> None:
    frame = summary().assign(TEST_METHOD="spss")
    page = render(summary=frame, study=study(test_method="spss", test_description="SPSS way"))
    assert "<dt>Signed-rank test</dt><dd>spss — SPSS way</dd>" in page
    assert f"p-value: {TEST} (test method spss), change from baseline." in page


def _safety_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    from trialflow.analysis.safety import ae_summary

    # 16 subjects with 3 infusions each (48); one hypoglycaemia 7 days after the 3rd.
    adsl = pd.DataFrame({"USUBJID": [f"S{i}" for i in range(16)], "NINFUS": 3.0, "SAFFL": "Y"})
    adae = pd.DataFrame({"USUBJID": ["S3"], "AEBODSYS": ["Metabolism <disorders>"],
                         "AEDECOD": ["Hypoglycaemia"], "TRTEMFL": ["Y"], "AESER": ["N"],
                         "INFNUM": [3.0], "INFDAYS": [7.0]})  # fmt: skip
    ae, _notes, _ = ae_summary(adae, adsl, within_days=1)
    by_visit = summary().assign(DATASET="ADLB", PARAMCD="WBC", TEST_METHOD="spss")
    return ae, by_visit


def test_safety_section() -> None:
    ae, by_visit = _safety_inputs()
    page = render(ae_summary=ae, safety_by_visit=by_visit, safety_notes=["counted in days"])
    assert '<a href="#safety">Safety</a>' in page
    section = page[page.index('<section id="safety">') : page.index('<section id="notes">')]
    terms = section[section.index('id="ae-terms"') : section.index("</table>")]
    # One of 48 infusions: 100/48 = 2.0833 -> 2.08 %; one subject of 16 = 6.25 %.
    assert (
        '<td>Metabolism &lt;disorders&gt;</td><th scope="row">Hypoglycaemia</th>'
        '<td class="num">1 (6.25%)</td><td class="num">1</td><td class="num">1/48 (2.08%)</td>'
    ) in terms
    infusions = section[section.index('id="ae-infusions"') :]
    assert "Event within 1 day(s) after the infusion" in infusions
    assert (
        '<tr><th scope="row">Hypoglycaemia</th><td class="num">3</td><td class="num">16</td>'
        '<td class="num">0 (0.00%)</td><td class="num">0</td><td class="num">1 (6.25%)</td>'
        '<td class="num">1</td></tr>'
    ) in infusions
    assert 'id="safety-WBC"' in section and "<li>counted in days</li>" in section
    # No safety tables, no safety section and no link.
    plain = render()
    assert 'id="safety"' not in plain and 'href="#safety"' not in plain
def test_numbers_are_rounded_half_away_from_zero_as_sas_rounds() -> None:
    # f"{x:.2f}" rounds the binary value half to even: 10.065 -> "10.06", 0.0625 -> "0.062".
    assert format_number(10.065) == "10.07" and format_number(2.675) == "2.68"
    assert format_number(-0.125) == "-0.13" and format_number(0.5, 0) == "1"
    assert format_p(0.0625) == "0.063" and format_p(0.0005) == "<0.001"


def test_statistics_are_shown_with_the_decimals_of_the_parameter_precision() -> None:
    # HbA1c measured to 1 decimal: median, Q1, Q3 and mean with 2 decimals, SD with 3.
    frame = summary()
    frame.loc[0, ["MEDIAN", "SD"]] = [7.805, 0.6125]
    page = render(summary=frame, precision={"HBA1C": 1, "FPG": None})
    baseline = re.findall(r'<td class="num">(.*?)</td>', row_of(page, "cfb-HBA1C", "BASELINE"))
    assert baseline[:3] == ["16", "7.81 (7.66, 8.16)", "7.91 (0.613)"]
    day14 = re.findall(r'<td class="num">(.*?)</td>', row_of(page, "cfb-HBA1C", "DAY 14"))
    assert day14[3:6] == ["15", "-0.41 (-0.66, -0.16)", "-0.41 (0.300)"]
    assert "Measured to 1 decimal: median, Q1, Q3 and mean with 2, SD with 3." in page
    fpg = re.findall(r'<td class="num">(.*?)</td>', row_of(page, "cfb-FPG", "BASELINE"))
    assert fpg[:3] == ["16", "9.10 (8.85, 9.35)", "9.10 (1.20)"]  # undeclared: 2 decimals
    assert "Statistics with 2 decimals." in page


## Treatment groups (issue 17): one table per group, Table 1 by group, comparisons ----
def test_groups_get_their_own_tables_and_unique_ids() -> None:
    one = summary()
    two = pd.concat([one.assign(GROUP="Placebo"), one.assign(GROUP="Drug X")])
    table1 = pd.DataFrame(
        {
            "CHARACTERISTIC": ["Sex: F"] * 3,
            "STATISTIC": ["n (%)"] * 3,
            "GROUP": ["Placebo", "Drug X", "Total"],
            "VALUE": ["3 (75.0%)", "1 (33.3%)", "4 (57.1%)"],
        }
    )
    comparisons = pd.DataFrame(
        {
            "PARAMCD": ["FPG"], "AVISITN": [2.0], "AVISIT": ["DAY 14"], "METHOD": ["ANCOVA"],
            "TERM": ["DIFF"], "GROUP": ["Drug X"], "REFERENCE": ["Placebo"], "N": [7],
            "ESTIMATE": [-1.234], "SE": [0.5], "DF": [4.0], "LOWER": [-2.6222], "UPPER": [0.15],
            "STATISTIC": [-2.468], "P_VALUE": [0.0689], "CONF_LEVEL": [0.95],
            "TEST": ["lm(CHG ~ TRT01P + BASE)"], "PARAM": ["Fasting Plasma Glucose (mmol/L)"],
        }
    )  # fmt: skip
    page = render(
        summary=two,
        table1=table1,
        groups={"Placebo": 4, "Drug X": 3, "Total": 7},
        comparisons=comparisons,
    )
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert 'id="cfb-FPG-placebo"' in page and 'id="cfb-FPG-drug-x"' in page
    assert "<caption>Fasting plasma glucose (mmol/L) (FPG), Drug X</caption>" in page
    # Table 1: a column per group headed with its N, in the table's order
    assert page.index("Placebo (N = 4)") < page.index("Drug X (N = 3)") < page.index(
        "Total (N = 7)"
    )
    # the difference with its interval, at the parameter's 2 decimals + 1 (no precision: 2)
    row = row_of(page, "compare-FPG", "DAY 14")
    assert "-1.23 (-2.62, 0.15)" in row and "0.069" in row
    assert '<a href="#comparisons">' in page


def test_one_group_keeps_the_single_arm_report() -> None:
    assert render(summary=summary().assign(GROUP="Total")) == render()


def test_adverse_events_by_group_in_one_table() -> None:
    from trialflow.analysis.safety import ae_summary

    adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"], "NINFUS": [1.0, 1.0, 1.0],
                         "SAFFL": ["Y"] * 3, "TRT01P": ["Placebo", "Drug X", "Drug X"]})
    adae = pd.DataFrame({"USUBJID": ["2", "3"], "AEBODSYS": ["Gen"] * 2,
                         "AEDECOD": ["Pyrexia"] * 2, "TRTEMFL": ["Y", "Y"],
                         "INFNUM": [1.0, 1.0], "INFDAYS": [0.0, 3.0]})  # fmt: skip
    parts = []
    for group in ["Placebo", "Drug X"]:
        mine = adsl[adsl["TRT01P"] == group]
        out, _, _ = ae_summary(adae[adae["USUBJID"].isin(mine["USUBJID"])], mine, within_days=1)
        parts.append(out.assign(GROUP=group))
    out, _, _ = ae_summary(adae, adsl, within_days=1)
    ae = pd.concat([*parts, out.assign(GROUP="Total")], ignore_index=True)
    page = render(ae_summary=ae, safety_by_visit=None)
    table = page[page.index('id="ae-terms"') :]
    table = table[: table.index("</table>")]
    assert "Placebo (N = 1)" in table and "Drug X (N = 2)" in table and "Total (N = 3)" in table
    # Pyrexia: none of 1 on placebo, 2 of 2 on drug X, 2 of 3 overall
    row = table[table.index("Pyrexia") :]
    row = row[: row.index("</tr>")]
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == [
        "0 (0.00%)", "2 (100.00%)", "2 (66.67%)"]  # fmt: skip
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_the_comparisons_note_gives_the_level_of_the_differences():
    # an exact rank-sum interval may report a lower level than asked (0.9 with 3 and 3
    # values); the note speaks of the ANCOVA differences' level, 95 %
    from trialflow.analysis.compare import COMPARISON_COLUMNS
    from trialflow.analysis.report import _comparisons

    rows = pd.DataFrame(
        [
            {"TERM": "DIFF", "METHOD": "ANCOVA", "GROUP": "A", "REFERENCE": "P", "N": 6,
             "ESTIMATE": -3.0, "SE": 1.0, "DF": 3.0, "LOWER": -6.2, "UPPER": 0.2,
             "STATISTIC": -3.0, "P_VALUE": 0.06, "CONF_LEVEL": 0.95, "TEST": "ANCOVA"},
            {"TERM": "RANKSUM", "METHOD": "WILCOXON", "GROUP": "A", "REFERENCE": "P", "N": 6,
             "ESTIMATE": -3.0, "LOWER": -5.0, "UPPER": -0.5, "STATISTIC": 0.0, "P_VALUE": 0.1,
             "CONF_LEVEL": 0.9, "TEST": "Wilcoxon rank sum exact test"},
        ],
        columns=COMPARISON_COLUMNS,
    ).assign(PARAMCD="SYSBP", AVISITN=4.0, AVISIT="WEEK 4", PARAM="Systolic BP (mmHg)")  # fmt: skip
    html = _comparisons(rows, {"SYSBP": 1})
    assert "with its 95% confidence interval (t, residual df)" in html
    assert "-3.00 (-5.00, -0.50); 0.0" in html  # the shift, its interval and W (MEAN digits)
