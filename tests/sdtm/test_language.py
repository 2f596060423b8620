"""The spec language at work on a raw export: conditions on blank cells and on mapped
variables, values from another form, excluded rows summarised, SITEID checked, --SEQ order."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from support import tiny_sheets, write_csv_export

from trialflow.errors import SpecError
from trialflow.mapping.load import load_study
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm


def build(export, specs):
    return build_sdtm(load_study(specs), read_export(export), on_issue="none")


def edit(path: Path, old: str, new: str) -> int:
    """Replace text in a spec file; the line of the first line of ``new``."""
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    first = new.strip().splitlines()[0]
    return next(n for n, t in enumerate(path.read_text().splitlines(), 1) if first in t)


def write_sheet(folder: Path, name: str, rows: list[dict[str, str]]) -> None:
    with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def one(frame, **keys):
    mask = pd.Series(True, index=frame.index)
    for k, v in keys.items():
        mask &= frame[k] == v
    assert mask.sum() == 1, keys
    return frame.loc[mask].iloc[0]


# --- item 1: blank, filled, not ---------------------------------------------------------------

AE_ROW = dict(
    SUBJ="01-001", AE_NO="1", AE_TERM="fever", PT="Pyrexia", SOC="General disorders",
    START_DT="10-JAN-2019", END_DT="12-JAN-2019", SEVERITY="Mild", SERIOUS="No",
    RELATED="Related", OUTCOME="Recovered", ACTION="None",
)  # fmt: skip


def test_an_ongoing_adverse_event_is_keyed_on_its_blank_end_date(tmp_path, study_copy):
    edit(
        study_copy / "ae.yaml",
        "  - {name: AESEQ, method: seq}",
        "  - {name: AEENRTPT, method: hardcode_ct, value: ONGOING, codelist: STENRF,\n"
        "     when: {END_DT: {blank: true}}}\n"
        "  - {name: AEENTPT, method: hardcode_no_ct, value: END OF STUDY,\n"
        "     when: {END_DT: {blank: true}}}\n"
        "  - {name: AESEQ, method: seq}",
    )
    sheets = tiny_sheets()
    sheets["AE"] = [AE_ROW, dict(AE_ROW, AE_NO="2", AE_TERM="rash", END_DT="")]
    result = build(write_csv_export(tmp_path / "raw", sheets), study_copy)
    ae = result.domains["AE"]
    ended, ongoing = one(ae, AESPID="1"), one(ae, AESPID="2")
    assert pd.isna(ended["AEENRTPT"]) and ended["AEENDTC"] == "2019-01-12"
    assert (ongoing["AEENRTPT"], ongoing["AEENTPT"]) == ("ONGOING", "END OF STUDY")
    assert pd.isna(ongoing["AEENDTC"])


def test_where_with_not_and_filled_picks_rows_of_a_flat_form(tmp_path, study_copy):
    # GIVEN is "not N" and a dose is filled: the not-given row and the row without a dose are
    # left out, each under the first key it fails; each row is in the excluded table.
    edit(
        study_copy / "ex.yaml",
        'where: {GIVEN: [Y, "Yes", "1"]}',
        'where: {GIVEN: {not: [N, "No", "0"]}, DOSE: {filled: true}}',
    )
    sheets = tiny_sheets()
    sheets["INFUSION"].append(dict(sheets["INFUSION"][3], INF_NO="3", DOSE="", GIVEN=""))
    result = build(write_csv_export(tmp_path / "raw", sheets), study_copy)
    assert len(result.domains["EX"]) == 4
    notices = [f for f in result.findings if f.code == "raw-row-excluded"]
    assert [(f.severity, f.dataset, f.value, f.source.row) for f in notices] == [
        ("notice", "EX", "1", 6),
        ("notice", "EX", "1", 7),
    ]
    assert [f.message for f in notices] == [
        "1 row of sheet INFUSION left out of EX: GIVEN is one of N, No, 0; the rows are "
        "listed in lineage/excluded.csv",
        "1 row of sheet INFUSION left out of EX: DOSE is blank; the rows are listed in "
        "lineage/excluded.csv",
    ]
    excluded = result.excluded
    ex_rows = excluded.loc[excluded["dataset"] == "EX"]
    assert ex_rows[["source_row", "reason"]].values.tolist() == [
        [6, "GIVEN is one of N, No, 0"],
        [7, "DOSE is blank"],
    ]
    assert set(excluded["code"]) == {"raw-row-excluded"}


# --- item 6: summarised exclusions, SITEID, --SEQ ------------------------------------------------


def test_many_excluded_rows_make_one_notice_per_sheet_and_reason(tmp_path, study_copy):
    sheets = tiny_sheets()
    template = sheets["INFUSION"][4]  # not given
    sheets["INFUSION"] += [dict(template, INF_NO=str(k)) for k in range(3, 40)]
    result = build(write_csv_export(tmp_path / "raw", sheets), study_copy)
    found = [f for f in result.findings if f.code == "raw-row-excluded"]
    assert len(found) == 1 and found[0].value == "38"
    assert len(result.excluded.query("code == 'raw-row-excluded'")) == 38


def test_a_vitals_row_without_results_is_in_the_excluded_table(tmp_path, study_copy):
    sheets = tiny_sheets()
    sheets["VITALS"][1].update(WEIGHT_KG="")
    result = build(write_csv_export(tmp_path / "raw", sheets), study_copy)
    [notice] = [f for f in result.findings if f.code == "raw-row-no-results"]
    assert (notice.dataset, notice.source.row, notice.value) == ("VS", 3, "1")
    row = result.excluded.query("code == 'raw-row-no-results'")
    assert (row["dataset"].tolist(), row["source_row"].tolist()) == (["VS"], [3])


def test_a_hardcoded_siteid_outside_study_sites_is_a_spec_error(tmp_path, study_copy):
    line = edit(
        study_copy / "dm.yaml",
        "{name: SITEID, method: site_id, raw: SITE}",
        "{name: SITEID, method: hardcode_no_ct, value: '03'}",
    )
    with pytest.raises(
        SpecError,
        match=rf"dm\.yaml:{line}: variables\[1\]\.value: site '03' is not among the sites of "
        r"study\.yaml \(01, 02\)",
    ):
        build(write_csv_export(tmp_path / "raw", tiny_sheets()), study_copy)


def test_a_siteid_mapped_without_site_id_is_still_checked(tmp_path, study_copy):
    edit(
        study_copy / "dm.yaml",
        "{name: SITEID, method: site_id, raw: SITE}",
        "{name: SITEID, method: assign_no_ct, raw: SITE}",
    )
    sheets = tiny_sheets()
    sheets["DEMOG"][1]["SITE"] = "09"
    result = build(write_csv_export(tmp_path / "raw", sheets), study_copy)
    [f] = [f for f in result.findings if f.code == "site-unknown"]
    assert (f.severity, f.variable, f.value, f.source.row, f.source.column) == (
        "error", "SITEID", "09", 3, "SITE",
    )  # fmt: skip


def test_seq_follows_the_clock_within_a_visit(tmp_path, study_copy):
    # the 2-h postprandial glucose (10:00, LBTPTNUM 2) comes after the fasting one (07:30)
    sheets = tiny_sheets()
    fasting = sheets["LAB"][0]
    sheets["LAB"].insert(
        0,
        dict(fasting, LAB_TIME="10:00", FASTING="N", TEST="Glucose 2h postprandial",
             RESULT="14.1"),
    )  # fmt: skip
    lb = build(write_csv_export(tmp_path / "raw", sheets), study_copy).domains["LB"]
    subject = lb[lb["USUBJID"] == "HUCMSC-T2DM-01-001"]
    assert subject[["LBDTC", "LBSEQ"]].values.tolist() == [
        ["2019-01-01T07:30", 1.0],
        ["2019-01-01T10:00", 2.0],
    ]


# --- item 2: when on mapped variables ---------------------------------------------------------


def test_when_on_a_mapped_variable_sets_lbfast_for_one_test_only(tmp_path, study_copy):
    edit(
        study_copy / "lb.yaml",
        "{name: LBFAST, method: assign_ct, raw: FASTING, codelist: NY}",
        "{name: LBFAST, method: assign_ct, raw: FASTING, codelist: NY,\n"
        "     when: {LBTESTCD: [GLUC, CPEPTIDE]}}",
    )
    # the example's LBSPEC entries are chosen by LBTESTCD too (PLASMA for GLUC)
    result = build(write_csv_export(tmp_path / "raw", tiny_sheets()), study_copy)
    lb = result.domains["LB"]
    assert pd.isna(one(lb, LBTESTCD="CEA")["LBFAST"])
    assert one(lb, USUBJID="HUCMSC-T2DM-02-001", LBTESTCD="GLUC")["LBFAST"] == "Y"
    assert set(lb.loc[lb["LBTESTCD"] == "GLUC", "LBSPEC"]) == {"PLASMA"}
    assert [f for f in result.findings if f.severity == "error"] == []


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("{LBDTC: {filled: true}}",
         r"when reads LBDTC: LBDTC is mapped later \(variables\[\d+\]\); list it before "
         r"this entry"),
        ("{VISITNUM: [1]}", r"when reads VISITNUM: VISITNUM is derived \(method assign_visit\)"),
        ("{LB.LBXX: [A]}", r"when reads LB\.LBXX: LBXX is not a variable this spec maps"),
    ],
)  # fmt: skip
def test_when_on_a_variable_not_mapped_before_is_a_spec_error(tmp_path, study_copy, when, message):
    line = edit(
        study_copy / "lb.yaml",
        "{name: LBFAST, method: assign_ct, raw: FASTING, codelist: NY}",
        f"{{name: LBFAST, method: assign_ct, raw: FASTING, codelist: NY, when: {when}}}",
    )
    with pytest.raises(SpecError, match=rf"lb\.yaml:{line}: variables\[\d+\]\.when: {message}"):
        build(write_csv_export(tmp_path / "raw", tiny_sheets()), study_copy)


def test_a_name_both_raw_and_mapped_must_be_qualified(tmp_path, study_copy):
    dm = study_copy / "dm.yaml"
    edit(
        dm,
        "  - {name: AGEU, method: hardcode_ct, value: YEARS, codelist: AGEU}",
        "  - {name: AGEU, method: hardcode_ct, value: YEARS, codelist: AGEU, when: {SEX: [F]}}",
    )
    export = write_csv_export(tmp_path / "raw", tiny_sheets())
    with pytest.raises(
        SpecError,
        match=r"SEX is both a column of sheet DEMOG and a variable mapped above: write raw\.SEX "
        r"for the raw column or DM\.SEX for the mapped value",
    ):
        build(export, study_copy)
    dm.write_text(dm.read_text().replace("when: {SEX: [F]}", "when: {DM.SEX: [F]}"))
    ageu = build(export, study_copy).domains["DM"].set_index("USUBJID")["AGEU"]
    assert ageu.isna().tolist() == [True, False]  # 01-001 is M, 02-001 is F
    dm.write_text(dm.read_text().replace("when: {DM.SEX: [F]}", "when: {raw.SEX: [Female]}"))
    ageu = build(export, study_copy).domains["DM"].set_index("USUBJID")["AGEU"]
    assert ageu.isna().tolist() == [True, False]


# --- item 2: values from another form ---------------------------------------------------------

FORMATS = '["%d-%b-%Y", "%Y/%m/%d", "%Y-%m-%d"]'


def test_dose_per_kg_from_total_cells_and_the_weight_before_the_infusion(tmp_path, study_copy):
    # EXDOSE (10^6 cells/kg) = total cells / the weight of the latest VITALS row on or before
    # the infusion date / 1 000 000, rounded to 3 decimals.
    edit(
        study_copy / "ex.yaml",
        "  - {name: EXDOSE, method: assign_no_ct, raw: DOSE}",
        "  - {name: EXDOSE, method: lookup, raw: TOTAL_CELLS, combine: divide,\n"
        "     convert: {divide: 1000000}, digits: 3,\n"
        "     lookup: {sheet: VITALS, column: WEIGHT_KG, match: {on_or_before: [INF_DATE, "
        f"VIS_DATE]}}, formats: {FORMATS}}}}}",
    )
    sheets = tiny_sheets()
    infusions = [dict(r, TOTAL_CELLS="70000000" if r["GIVEN"] != "N" else "")
                 for r in sheets.pop("INFUSION")]  # fmt: skip
    infusions[3]["TOTAL_CELLS"] = "60000000"
    infusions.append(dict(infusions[3], INF_NO="0", INF_DATE="2019-01-20"))  # before any vitals
    folder = write_csv_export(tmp_path / "raw", sheets)
    write_sheet(folder, "INFUSION", infusions)
    result = build(folder, study_copy)
    ex = result.domains["EX"]
    s1 = ex[ex["USUBJID"] == "HUCMSC-T2DM-01-001"].sort_values("EXSEQ")
    # weights 70.5 (1 Jan), 69 (15 Jan, same day), 68.8 (18 Jan)
    assert s1["EXDOSE"].tolist() == [0.993, 1.014, 1.017]
    assert one(ex, USUBJID="HUCMSC-T2DM-02-001", EXSTDTC="2019-02-08T10:00")["EXDOSE"] == 1.0
    lineage = result.lineage["EX"]
    first = lineage[(lineage["usubjid"] == "HUCMSC-T2DM-01-001") & (lineage["seq"] == 1)]
    assert first["EXDOSE"].tolist() == ["TOTAL_CELLS / VITALS row 2 WEIGHT_KG / 1000000"]
    assert first["source_sheet"].tolist() == ["INFUSION"] and first["source_row"].tolist() == [2]
    [missing] = [f for f in result.findings if f.code == "lookup-no-record"]
    assert (missing.severity, missing.variable, missing.source.row) == ("error", "EXDOSE", 7)
    assert missing.source.column == "INF_DATE" and missing.value == "2019-01-20"
    assert pd.isna(one(ex, EXSTDTC="2019-01-20T10:00")["EXDOSE"])


def test_a_value_from_the_same_visit_and_from_a_fixed_visit(tmp_path, study_copy):
    edit(
        study_copy / "lb.yaml",
        "  - {name: LBSEQ, method: seq}",
        "  - {name: LBWT, method: lookup,\n"
        "     lookup: {sheet: VITALS, column: WEIGHT_KG, match: {visit: VISIT}}}\n"
        "  - {name: LBSEQ, method: seq}",
    )
    edit(
        study_copy / "dm.yaml",
        "  - {name: AGEU, method: hardcode_ct, value: YEARS, codelist: AGEU}",
        "  - {name: AGEU, method: hardcode_ct, value: YEARS, codelist: AGEU}\n"
        "  - {name: HEIGHT, method: lookup,\n"
        "     lookup: {sheet: VITALS, column: HEIGHT_CM, where: {VISIT: [Day 0, D0, "
        "Baseline (Day 0)]}}}",
    )
    sheets = tiny_sheets()
    # a second Day 0 weight for 02-001 makes its lab rows' lookup ambiguous
    sheets["VITALS"].append(dict(sheets["VITALS"][-1], VISIT="D0", VIS_DATE="02-FEB-2019",
                                 HEIGHT_CM="", WEIGHT_KG="61"))  # fmt: skip
    result = build(write_csv_export(tmp_path / "raw", sheets), study_copy)
    dm = result.domains["DM"].set_index("USUBJID")
    assert dm["HEIGHT"].tolist() == ["170", "160"]
    assert result.lineage["DM"]["HEIGHT"].tolist() == [
        "VITALS row 2 HEIGHT_CM",
        "VITALS row 5 HEIGHT_CM",
    ]
    lb = result.domains["LB"]
    # LAB "Day 0" and VITALS "Day 0" are both visit DAY 0 of study.yaml
    assert one(lb, USUBJID="HUCMSC-T2DM-01-001")["LBWT"] == "70.5"
    assert lb.loc[lb["USUBJID"] == "HUCMSC-T2DM-02-001", "LBWT"].isna().all()
    ambiguous = [f for f in result.findings if f.code == "lookup-ambiguous"]
    assert len(ambiguous) == 4 and {f.source.column for f in ambiguous} == {"VISIT"}
    assert "several records with a value in VITALS.WEIGHT_KG" in ambiguous[0].message


def test_lookup_spec_errors_name_their_line(study_copy):
    line = edit(
        study_copy / "ex.yaml",
        "  - {name: EXDOSE, method: assign_no_ct, raw: DOSE}",
        "  - {name: EXDOSE, method: lookup, raw: DOSE,\n"
        "     lookup: {sheet: VITALS, column: WEIGHT_KG, match: {date: [INF_DATE, VIS_DATE]}}}",
    )
    with pytest.raises(
        SpecError,
        match=rf"ex\.yaml:{line + 1}: variables\[1\]\.lookup: match by date needs formats",
    ):
        load_study(study_copy)
    path = study_copy / "ex.yaml"
    path.write_text(
        path.read_text().replace("VIS_DATE]}}}", f"VIS_DATE]}}, formats: {FORMATS}}}}}")
    )
    with pytest.raises(
        SpecError,
        match=rf"ex\.yaml:{line}: variables\[1\]: lookup takes raw and combine together",
    ):
        load_study(study_copy)


# --- lookup keys that can't be read -----------------------------------------------------------

EXDOSE_ON_OR_BEFORE = (
    "  - {name: EXDOSE, method: lookup,\n"
    "     lookup: {sheet: VITALS, column: WEIGHT_KG, match: {on_or_before: [INF_DATE, "
    "VIS_DATE]}, formats: [\"%d-%b-%Y\", \"%Y-%m-%d\"]}}"
)


def test_an_unreadable_date_on_the_other_form_leaves_its_subjects_rows_empty(
    tmp_path, study_copy
):
    # VITALS row 3 (01-001, 2019/01/15) can't be read: 01-001's infusion of 22 Jan must not
    # silently take the 1 Jan weight; 02-001 is not affected.
    line = edit(study_copy / "ex.yaml", "  - {name: EXDOSE, method: assign_no_ct, raw: DOSE}",
                EXDOSE_ON_OR_BEFORE)  # fmt: skip
    sheets = tiny_sheets()
    sheets["INFUSION"][1]["INF_DATE"] = "15-JAN-2019"
    result = build(write_csv_export(tmp_path / "raw", sheets), study_copy)
    fmts = "[%d-%b-%Y, %Y-%m-%d] (ex.yaml:" + str(line + 1) + ")"
    [cell] = [f for f in result.findings if f.code == "lookup-date-unparseable"]
    assert (cell.source.sheet, cell.source.row, cell.source.column, cell.value) == (
        "VITALS", 3, "VIS_DATE", "2019/01/15",
    )  # fmt: skip
    assert cell.message == (
        f"VIS_DATE '2019/01/15' can't be read with lookup.formats {fmts}: this record of "
        "VITALS.WEIGHT_KG can't be matched for EX.EXDOSE; add its format"
    )
    rows = [f for f in result.findings if f.code == "lookup-no-record"]
    assert {f.usubjid for f in rows} == {"HUCMSC-T2DM-01-001"}
    by_date = {f.value: f for f in rows}
    assert by_date["2019-01-22"].message == (
        f"VITALS row 3 VIS_DATE '2019/01/15' can't be read with lookup.formats {fmts}, so "
        "the record matching INF_DATE '2019-01-22' in VITALS.WEIGHT_KG (on_or_before "
        "INF_DATE = VIS_DATE) is unknown and EXDOSE is left empty: add its format"
    )
    ex = result.domains["EX"]
    assert ex.loc[ex["USUBJID"] == "HUCMSC-T2DM-01-001", "EXDOSE"].isna().all()
    assert one(ex, USUBJID="HUCMSC-T2DM-02-001")["EXDOSE"] == 60.0


def test_a_row_whose_own_date_is_unreadable_partial_or_blank_says_which(tmp_path, study_copy):
    line = edit(study_copy / "ex.yaml", "  - {name: EXDOSE, method: assign_no_ct, raw: DOSE}",
                EXDOSE_ON_OR_BEFORE)  # fmt: skip
    sheets = tiny_sheets()
    sheets["VITALS"][1]["VIS_DATE"] = "15-JAN-2019"
    sheets["INFUSION"][1]["INF_DATE"] = "2019/01/15"  # unreadable with these formats
    sheets["INFUSION"][2]["INF_DATE"] = "UN-JAN-2019"  # partial
    sheets["INFUSION"][3]["INF_DATE"] = ""  # blank
    result = build(write_csv_export(tmp_path / "raw", sheets), study_copy)
    messages = {f.source.row: f.message for f in result.findings if f.code == "lookup-no-record"}
    assert messages == {
        3: "INF_DATE '2019/01/15' can't be read with lookup.formats [%d-%b-%Y, %Y-%m-%d] "
        f"(ex.yaml:{line + 1}), so EXDOSE is left empty: add its format",
        4: "INF_DATE 'UN-JAN-2019' is a partial date, so EXDOSE is left empty: matching "
        "VITALS.WEIGHT_KG (on_or_before INF_DATE = VIS_DATE) needs a complete date",
        5: "INF_DATE is blank, so EXDOSE is left empty: nothing to match VITALS.WEIGHT_KG "
        "(on_or_before INF_DATE = VIS_DATE) by",
    }


def test_a_blank_or_unplanned_visit_to_match_by_says_which(tmp_path, study_copy):
    edit(
        study_copy / "lb.yaml",
        "  - {name: LBSEQ, method: seq}",
        "  - {name: LBWT, method: lookup,\n"
        "     lookup: {sheet: VITALS, column: WEIGHT_KG, match: {visit: VISIT}}}\n"
        "  - {name: LBSEQ, method: seq}",
    )
    sheets = tiny_sheets()
    sheets["LAB"][0]["VISIT"] = ""
    sheets["LAB"][1]["VISIT"] = "Week 99"
    result = build(write_csv_export(tmp_path / "raw", sheets), study_copy)
    messages = {f.source.row: f.message for f in result.findings if f.code == "lookup-no-record"}
    assert messages[2] == (
        "VISIT is blank, so LBWT is left empty: nothing to match VITALS.WEIGHT_KG "
        "(visit VISIT = VISIT) by"
    )
    assert messages[3] == (
        "VISIT 'Week 99' is not a planned visit of study.yaml, so LBWT is left empty: "
        "nothing to match VITALS.WEIGHT_KG (visit VISIT = VISIT) by"
    )


# --- where: per-key exclusions, a where that keeps nothing --------------------------------------


def _flat_infusion(tmp_path: Path) -> Path:
    """INFUSION's rows with a FORM column, plus two rows of another form, in one sheet."""
    rows = [dict(FORM="INFUSION", **r) for r in tiny_sheets()["INFUSION"]]
    rows += [dict(rows[0], FORM="VITALS", INF_NO=str(k)) for k in (8, 9)]
    folder = tmp_path / "raw"
    folder.mkdir(parents=True)
    write_sheet(folder, "INFUSION", rows)
    return folder


def test_each_excluded_row_is_put_down_to_the_first_where_key_it_fails(tmp_path, study_copy):
    edit(study_copy / "ex.yaml", 'where: {GIVEN: [Y, "Yes", "1"]}',
         'where: {FORM: [INFUSION], GIVEN: [Y, "Yes", "1"]}')  # fmt: skip
    sheets = tiny_sheets()
    folder = write_csv_export(tmp_path / "raw", sheets)
    flat = _flat_infusion(tmp_path / "flat")
    (folder / "INFUSION.csv").write_text((flat / "INFUSION.csv").read_text())
    result = build(folder, study_copy)
    notices = [f.message for f in result.findings if f.code == "raw-row-excluded"]
    assert notices == [
        "2 rows of sheet INFUSION left out of EX: FORM is not INFUSION; the rows are listed "
        "in lineage/excluded.csv",
        "1 row of sheet INFUSION left out of EX: GIVEN is not one of Y, Yes, 1; the rows are "
        "listed in lineage/excluded.csv",
    ]
    ex_rows = result.excluded.loc[result.excluded["dataset"] == "EX"]
    assert ex_rows[["source_row", "reason"]].values.tolist() == [
        [7, "FORM is not INFUSION"],
        [8, "FORM is not INFUSION"],
        [6, "GIVEN is not one of Y, Yes, 1"],
    ]


def test_a_where_that_keeps_no_row_is_a_warning_naming_the_value_meant(tmp_path, study_copy):
    line = edit(study_copy / "ex.yaml", 'where: {GIVEN: [Y, "Yes", "1"]}',
                'where: {FORM: [Infusion], GIVEN: [Y, "Yes", "1"]}')  # fmt: skip
    folder = write_csv_export(tmp_path / "raw", tiny_sheets())
    flat = _flat_infusion(tmp_path / "flat")
    (folder / "INFUSION.csv").write_text((flat / "INFUSION.csv").read_text())
    result = build(folder, study_copy)
    assert result.domains["EX"].empty
    [warning] = [f for f in result.findings if f.code == "raw-where-keeps-nothing"]
    assert (warning.severity, warning.dataset, warning.value) == ("warning", "EX", "7")
    assert warning.message == (
        f"ex.yaml:{line}: source.where (FORM one of Infusion and GIVEN one of Y, Yes, 1) "
        "keeps no row of sheet INFUSION (7 rows), so EX has no records: FORM holds "
        "'INFUSION', not 'Infusion': values are matched exactly"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("[GLUCOSE, CPEPTIDE]",
         "GLUCOSE is not a term of codelist LBTESTCD (the values of LBTESTCD); did you mean "
         "GLUC?"),
        ("{not: [GLUCX]}",
         "GLUCX is not a term of codelist LBTESTCD (the values of LBTESTCD); did you mean "
         "GLUC?"),
    ],
)  # fmt: skip
def test_when_on_a_coded_variable_takes_terms_of_its_codelist(study_copy, tmp_path, values,
                                                              message):  # fmt: skip
    line = edit(
        study_copy / "lb.yaml",
        "{name: LBFAST, method: assign_ct, raw: FASTING, codelist: NY}",
        f"{{name: LBFAST, method: assign_ct, raw: FASTING, codelist: NY, when: {{LBTESTCD: "
        f"{values}}}}}",
    )
    with pytest.raises(SpecError) as err:
        build(write_csv_export(tmp_path / "raw", tiny_sheets()), study_copy)
    assert str(err.value).endswith(f"lb.yaml:{line}: variables[12].when: {message}")
