import pandas as pd
import pytest
from support import EXAMPLE_SPECS, tiny_sheets, write_csv_export

from trialflow.errors import FindingsError, RawInputError, SpecError
from trialflow.mapping.load import load_study
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm


def build(export, specs=EXAMPLE_SPECS, **kw):
    return build_sdtm(load_study(specs), read_export(export), on_issue="none", **kw)


def by(frame, **keys):
    mask = pd.Series(True, index=frame.index)
    for k, v in keys.items():
        mask &= frame[k] == v
    rows = frame.loc[mask]
    assert len(rows) == 1, f"expected one row for {keys}, got {len(rows)}"
    return rows.iloc[0]


def codes(result):
    return sorted({(f.code, f.severity) for f in result.findings})


def test_dm_reference_dates_age_arm_and_ct(tiny_export):
    dm = build(tiny_export).domains["DM"]
    s1 = by(dm, USUBJID="HUCMSC-T2DM-01-001")
    assert s1["RFSTDTC"] == "2019-01-08T09:00" and s1["RFXSTDTC"] == "2019-01-08T09:00"
    assert s1["RFXENDTC"] == "2019-01-22T09:05"
    assert s1["RFENDTC"] == "2019-01-22T09:05"
    assert s1["RFICDTC"] == "2018-10-02"
    assert s1["AGE"] == 52 and s1["AGEU"] == "YEARS"
    assert (s1["SEX"], s1["RACE"], s1["COUNTRY"], s1["SITEID"]) == ("M", "ASIAN", "CHN", "01")
    assert s1["ARMCD"] == s1["ACTARMCD"] == "HUCMSC"
    s2 = by(dm, USUBJID="HUCMSC-T2DM-02-001")
    assert s2["SEX"] == "F" and s2["AGE"] == 47
    assert list(dm.columns[:4]) == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID"]


def test_ex_keeps_given_infusions_and_reports_the_rest(tiny_export):
    result = build(tiny_export)
    ex = result.domains["EX"]
    assert len(ex) == 4
    first = by(ex, USUBJID="HUCMSC-T2DM-01-001", EXSEQ=1)
    assert (first["EXDOSE"], first["EXDOSU"], first["EXROUTE"]) == (1.0, "10^6/kg", "INTRAVENOUS")
    assert first["EXSTDY"] == 1 and first["EPOCH"] == "TREATMENT"
    excluded = [f for f in result.findings if f.code == "raw-row-excluded"]
    assert len(excluded) == 1
    assert (excluded[0].source.sheet, excluded[0].source.row) == ("INFUSION", 6)


def test_vs_transposition_visits_study_day_and_baseline_flag(tiny_export):
    vs = build(tiny_export).domains["VS"]
    assert len(vs) == 2 + 1 + 2 + 6  # blank cells make no record
    weight0 = by(vs, USUBJID="HUCMSC-T2DM-01-001", VSTESTCD="WEIGHT", VISITNUM=1)
    assert (weight0["VSORRES"], weight0["VSSTRESN"], weight0["VSSTRESU"]) == ("70.5", 70.5, "kg")
    assert weight0["VSDY"] == -7 and weight0["EPOCH"] == "RUN-IN" and weight0["VSLOBXFL"] == "Y"
    assert weight0["VISIT"] == "DAY 0"
    d14 = by(vs, USUBJID="HUCMSC-T2DM-01-001", VSTESTCD="WEIGHT", VISITNUM=2)
    assert d14["VSDY"] == 8 and pd.isna(d14["VSLOBXFL"])
    unscheduled = by(vs, USUBJID="HUCMSC-T2DM-01-001", VSTESTCD="TEMP")
    assert unscheduled["VISITNUM"] == 2.01 and unscheduled["VISIT"] == "UNSCHEDULED 2.01"
    assert unscheduled["VSTEST"] == "Temperature"


def test_lb_units_are_standardised_and_less_than_results_kept(tiny_export):
    lb = build(tiny_export).domains["LB"]
    site1 = by(lb, USUBJID="HUCMSC-T2DM-01-001", LBTESTCD="GLUC")
    assert (site1["LBSTRESC"], site1["LBSTRESN"], site1["LBSTRESU"]) == ("9.3", 9.3, "mmol/L")
    assert site1["LBNRIND"] == "HIGH" and site1["LBFAST"] == "Y"
    assert site1["LBDTC"] == "2019-01-01T07:30" and site1["LBTEST"] == "Glucose"
    site2 = by(lb, USUBJID="HUCMSC-T2DM-02-001", LBTESTCD="GLUC")
    assert (site2["LBORRES"], site2["LBORRESU"]) == ("180", "mg/dL")
    assert (site2["LBSTRESC"], site2["LBSTRESN"], site2["LBSTRESU"]) == ("9.99", 9.99, "mmol/L")
    assert (site2["LBSTNRLO"], site2["LBSTNRHI"]) == (3.89, 6.11)
    fcp = by(lb, USUBJID="HUCMSC-T2DM-02-001", LBTESTCD="CPEPTIDE", LBFAST="Y")
    assert (fcp["LBSTRESC"], fcp["LBSTRESN"], fcp["LBSTRESU"]) == ("397.3", 397.3, "pmol/L")
    p2cp = by(lb, USUBJID="HUCMSC-T2DM-02-001", LBTESTCD="CPEPTIDE", LBFAST="N")
    assert p2cp["LBSTRESC"] == "<33.1" and pd.isna(p2cp["LBSTRESN"])
    assert p2cp["LBTPT"] == "2 HOURS POSTPRANDIAL"
    cea = by(lb, USUBJID="HUCMSC-T2DM-02-001", LBTESTCD="CEA")
    assert (cea["LBORRES"], cea["LBSTRESC"]) == ("<0.5", "<0.5") and pd.isna(cea["LBSTRESN"])


def test_clean_tiny_export_has_no_errors_and_an_empty_ae(tiny_export):
    result = build(tiny_export)
    assert [f for f in result.findings if f.severity == "error"] == []
    assert result.domains["AE"].empty
    assert ("raw-sheet-empty", "warning") in codes(result)


def test_unmapped_ct_value_is_reported_at_its_cell_and_not_passed_through(tmp_path):
    sheets = tiny_sheets()
    sheets["DEMOG"][1]["SEX"] = "Femme"
    result = build(write_csv_export(tmp_path / "raw", sheets))
    dm = result.domains["DM"]
    assert pd.isna(by(dm, USUBJID="HUCMSC-T2DM-02-001")["SEX"])
    [finding] = [f for f in result.findings if f.code == "ct-unmapped-value"]
    assert (finding.dataset, finding.variable, finding.value) == ("DM", "SEX", "Femme")
    assert (
        finding.source.file,
        finding.source.sheet,
        finding.source.row,
        finding.source.column,
    ) == ("raw/DEMOG.csv", "DEMOG", 3, "SEX")
    assert finding.usubjid == "HUCMSC-T2DM-02-001" and finding.record == 2


def test_malformed_date_is_a_finding_and_partial_dates_stay_partial(tmp_path):
    sheets = tiny_sheets()
    sheets["LAB"][0]["LAB_DATE"] = "31-FEB-2019"
    sheets["AE"] = [
        dict(
            SUBJ="01-001",
            AE_NO="1",
            AE_TERM="fever",
            PT="Pyrexia",
            SOC="General disorders",
            START_DT="UN-JAN-2019",
            END_DT="",
            SEVERITY="Mild",
            SERIOUS="No",
            RELATED="Related",
            OUTCOME="Recovered",
            ACTION="None",
        )
    ]
    result = build(write_csv_export(tmp_path / "raw", sheets))
    [bad] = [f for f in result.findings if f.code == "dtc-unparseable"]
    assert (bad.variable, bad.value, bad.source.row, bad.source.column) == (
        "LBDTC",
        "31-FEB-2019",
        2,
        "LAB_DATE",
    )
    ae = result.domains["AE"].iloc[0]
    assert ae["AESTDTC"] == "2019-01" and pd.isna(ae["AESTDY"]) and pd.isna(ae["EPOCH"])
    assert ae["AESER"] == "N" and ae["AEACN"] == "DOSE NOT CHANGED"


def test_duplicate_raw_record_is_reported_and_both_rows_kept(tmp_path):
    sheets = tiny_sheets()
    sheets["LAB"].append(dict(sheets["LAB"][0]))
    result = build(write_csv_export(tmp_path / "raw", sheets))
    [dup] = [f for f in result.findings if f.code == "raw-duplicate-record"]
    assert dup.source.row == 7 and dup.severity == "error"
    assert len(result.domains["LB"]) == 6


def test_missing_column_stops_with_a_line_naming_file_sheet_and_spec(tmp_path):
    sheets = tiny_sheets()
    for row in sheets["LAB"]:
        row.pop("UNIT")
    folder = write_csv_export(tmp_path / "raw", {k: v for k, v in sheets.items() if k != "LAB"})
    header = [
        c
        for c in [
            "SUBJ",
            "VISIT",
            "LAB_DATE",
            "LAB_TIME",
            "FASTING",
            "TEST",
            "RESULT",
            "REF_LOW",
            "REF_HIGH",
        ]
    ]
    (folder / "LAB.csv").write_text(",".join(header) + "\n")
    with pytest.raises(
        RawInputError,
        match=r"lb\.yaml:\d+: variables\[6\]\.raw: no column 'UNIT' in sheet LAB \(raw/LAB\.csv\)",
    ):
        build(folder)


def test_missing_sheet_is_one_line(tmp_path):
    sheets = tiny_sheets()
    del sheets["AE"]
    with pytest.raises(
        RawInputError, match=r"ae\.yaml:5: source\.sheet: no sheet 'AE' in raw; its sheets are "
    ):
        build(write_csv_export(tmp_path / "raw", sheets))


def test_unknown_visit_label_and_subject_not_in_dm(tmp_path):
    sheets = tiny_sheets()
    sheets["VITALS"][1]["VISIT"] = "Week 2"
    sheets["VITALS"][0]["SUBJ"] = "01-009"
    result = build(write_csv_export(tmp_path / "raw", sheets))
    assert ("visit-unmapped", "error") in codes(result)
    assert ("subject-not-in-dm", "error") in codes(result)
    visit = next(f for f in result.findings if f.code == "visit-unmapped")
    assert (visit.value, visit.source.row, visit.source.column) == ("Week 2", 3, "VISIT")


def test_unconvertible_unit_is_reported(tmp_path):
    sheets = tiny_sheets()
    sheets["LAB"][1]["UNIT"] = "g/L"
    result = build(write_csv_export(tmp_path / "raw", sheets))
    f = next(f for f in result.findings if f.code == "unit-not-convertible")
    assert (f.variable, f.value, f.source.column) == ("LBORRESU", "g/L", "UNIT")
    row = by(result.domains["LB"], USUBJID="HUCMSC-T2DM-02-001", LBTESTCD="GLUC")
    assert pd.isna(row["LBSTRESN"]) and pd.isna(row["LBSTRESC"])


def test_strict_stops_at_errors(tmp_path):
    sheets = tiny_sheets()
    sheets["DEMOG"][0]["SEX"] = "?"
    export = write_csv_export(tmp_path / "raw", sheets)
    with pytest.raises(FindingsError, match="ct-unmapped-value"):
        build_sdtm(load_study(EXAMPLE_SPECS), read_export(export), on_issue="stop")


def test_hardcoded_value_outside_its_codelist_is_a_spec_error(tiny_export, study_copy):
    path = study_copy / "ex.yaml"
    path.write_text(path.read_text().replace("value: INTRAVENOUS", "value: IV DRIP"))
    with pytest.raises(
        SpecError,
        match=r"ex\.yaml:\d+: variables\[5\]\.value: 'IV DRIP' is not a term of codelist ROUTE",
    ):
        build(tiny_export, study_copy)


def test_lineage_names_the_raw_cell_behind_each_variable(tiny_export):
    lineage = build(tiny_export).lineage["VS"]
    temp = lineage.loc[lineage["VSORRES"] == "TEMP_C"]
    assert set(temp["source_row"]) == {4, 5}
    assert set(temp["source_sheet"]) == {"VITALS"}
    assert lineage["VSDTC"].eq("VIS_DATE").all()
    lb = build(tiny_export).lineage["LB"]
    assert lb["LBDTC"].eq("LAB_DATE + LAB_TIME").all()


def test_a_visit_outside_its_window_is_a_warning(tmp_path):
    sheets = tiny_sheets()
    sheets["VITALS"][1]["VIS_DATE"] = "2019/01/20"  # Day 14 visit on day 19 after Day 0
    result = build(write_csv_export(tmp_path / "raw", sheets))
    [f] = [f for f in result.findings if f.code == "visit-out-of-window"]
    assert (f.severity, f.variable, f.source.row) == ("warning", "VISITNUM", 3)
    assert f.value == "DAY 14 on day 19 (planned 14 +/- 3)"
    assert by(result.domains["VS"], VSTESTCD="WEIGHT", VISITNUM=2)["VSDTC"] == "2019-01-20"


def test_mh_holds_one_diabetes_record_per_subject_with_the_diagnosis_date(tiny_export):
    result = build(tiny_export)
    mh = result.domains["MH"]
    assert mh["USUBJID"].tolist() == ["HUCMSC-T2DM-01-001", "HUCMSC-T2DM-02-001"]
    assert mh["MHSEQ"].tolist() == [1.0, 1.0]
    # DIAB_DX_DT UN-MAR-2009 and UN-UNK-2008: partial dates stay partial
    assert mh["MHSTDTC"].tolist() == ["2009-03", "2008"]
    first = mh.iloc[0]
    assert (first["MHTERM"], first["MHDECOD"], first["MHCAT"]) == (
        "TYPE 2 DIABETES MELLITUS",
        "Type 2 diabetes mellitus",
        "DIABETES HISTORY",
    )
    assert first["MHBODSYS"] == "Metabolism and nutrition disorders"
    assert (first["MHPRESP"], first["MHOCCUR"]) == ("Y", "Y")
    assert (first["MHENRTPT"], first["MHENTPT"]) == ("ONGOING", "SCREENING")
    # no collection date in the export, so no MHDTC and no study day of collection
    assert "MHDTC" not in mh.columns and "MHDY" not in mh.columns
    assert [f for f in result.findings if f.dataset == "MH"] == []
    lineage = result.lineage["MH"]
    assert lineage["MHSTDTC"].eq("DIAB_DX_DT").all()
    assert (lineage["source_sheet"].tolist(), lineage["source_row"].tolist()) == (
        ["DEMOG", "DEMOG"],
        [2, 3],
    )


def test_unreadable_diagnosis_date_names_its_cell_and_keeps_the_mh_record(tmp_path):
    sheets = tiny_sheets()
    sheets["DEMOG"][1]["DIAB_DX_DT"] = "2008/13/01"
    result = build(write_csv_export(tmp_path / "raw", sheets))
    [bad] = [f for f in result.findings if f.code == "dtc-unparseable"]
    assert (bad.severity, bad.dataset, bad.variable, bad.value) == (
        "error",
        "MH",
        "MHSTDTC",
        "2008/13/01",
    )
    assert (bad.source.file, bad.source.sheet, bad.source.row, bad.source.column) == (
        "raw/DEMOG.csv",
        "DEMOG",
        3,
        "DIAB_DX_DT",
    )
    assert bad.usubjid == "HUCMSC-T2DM-02-001" and bad.record == 2
    row = by(result.domains["MH"], USUBJID="HUCMSC-T2DM-02-001")
    assert pd.isna(row["MHSTDTC"]) and row["MHTERM"] == "TYPE 2 DIABETES MELLITUS"


def _fcp_site2(sheets, result):
    row = next(r for r in sheets["LAB"] if r["SUBJ"] == "02-001" and r["TEST"] == "FCP")
    row["RESULT"] = result


def test_converted_result_is_rounded_half_away_from_zero_as_sas_rounds(tmp_path):
    # 5.5 ng/mL x 331.1 = 1821.05 pmol/L exactly; lb.yaml declares 1 decimal for C-peptide and
    # SAS's ROUND(1821.05, 0.1) is 1821.1 (round half to even, as numpy does, gives 1821.0).
    sheets = tiny_sheets()
    _fcp_site2(sheets, "5.5")
    lb = build(write_csv_export(tmp_path / "raw", sheets)).domains["LB"]
    fcp = by(lb, USUBJID="HUCMSC-T2DM-02-001", LBTESTCD="CPEPTIDE", LBFAST="Y")
    assert (fcp["LBSTRESC"], fcp["LBSTRESN"]) == ("1821.1", 1821.1)


def test_without_declared_digits_a_conversion_keeps_its_digits_without_binary_noise(
    tmp_path, study_copy
):
    # No digits: 10 significant digits, so 5.5 x 331.1 reads 1821.05, not 1821.0500000000002.
    path = study_copy / "lb.yaml"
    text = path.read_text()
    assert "multiply: 331.1}}, digits: 1}" in text
    path.write_text(text.replace("multiply: 331.1}}, digits: 1}", "multiply: 331.1}}}"))
    sheets = tiny_sheets()
    _fcp_site2(sheets, "5.5")
    lb = build(write_csv_export(tmp_path / "raw", sheets), study_copy).domains["LB"]
    fcp = by(lb, USUBJID="HUCMSC-T2DM-02-001", LBTESTCD="CPEPTIDE", LBFAST="Y")
    assert (fcp["LBSTRESC"], fcp["LBSTRESN"]) == ("1821.05", 1821.05)


# 12 subjects whose birth dates the site wrote month first (see tests/mapping/test_dates.py)
MDY_BIRTH_DATES = [
    "03/04/1966", "05/20/1966", "11/02/1958", "08/13/1960", "07/09/1971", "01/25/1972",
    "10/31/1955", "12/01/1963", "06/18/1969", "09/29/1962", "02/14/1974", "04/30/1957",
]  # fmt: skip


def _twelve_subjects_born_month_first(tmp_path, study_copy, formats):
    sheets = tiny_sheets()
    template = sheets["DEMOG"][0]
    sheets["DEMOG"] = [
        dict(template, SUBJ=f"01-{k + 1:03d}", BIRTH_DT=birth)
        for k, birth in enumerate(MDY_BIRTH_DATES)
    ]
    dm = study_copy / "dm.yaml"
    dm.write_text(
        dm.read_text().replace(
            'raw: BIRTH_DT, formats: ["%d-%b-%Y", "%Y/%m/%d", "%Y-%m-%d"]',
            f"raw: BIRTH_DT, formats: {formats}",
        )
    )
    line = next(
        n for n, text in enumerate(dm.read_text().splitlines(), 1) if "BIRTH_DT" in text
    )
    result = build(write_csv_export(tmp_path / "raw", sheets), specs=study_copy)
    return result, f"{dm}:{line}"


def test_day_first_and_month_first_formats_on_month_first_dates_warn_naming_each_value(
    tmp_path, study_copy
):
    result, where = _twelve_subjects_born_month_first(
        tmp_path, study_copy, '["%d/%m/%Y", "%m/%d/%Y"]'
    )
    found = [f for f in result.findings if f.code == "dtc-ambiguous"]
    # the 4 values whose day and month are both <= 12 (and differ) read either way
    assert sorted(f.value for f in found) == ["03/04/1966", "07/09/1971", "11/02/1958",
                                              "12/01/1963"]  # fmt: skip
    first = next(f for f in found if f.value == "03/04/1966")
    assert (first.severity, first.dataset, first.variable) == ("warning", "DM", "BRTHDTC")
    assert (first.source.file, first.source.sheet, first.source.row, first.source.column) == (
        "raw/DEMOG.csv", "DEMOG", 2, "BIRTH_DT",
    )  # fmt: skip
    assert "1966-04-03 with %d/%m/%Y and as 1966-03-04 with %m/%d/%Y" in first.message
    assert where in first.message
    # the dates are still taken as declared (first format first): nothing is guessed
    dm = result.domains["DM"]
    assert by(dm, USUBJID="HUCMSC-T2DM-01-001")["BRTHDTC"] == "1966-04-03"
    assert by(dm, USUBJID="HUCMSC-T2DM-01-002")["BRTHDTC"] == "1966-05-20"
    assert [f for f in result.findings if f.code == "dtc-unparseable"] == []


def test_day_first_format_on_month_first_dates_warns_with_the_evidence(tmp_path, study_copy):
    result, where = _twelve_subjects_born_month_first(tmp_path, study_copy, '["%d/%m/%Y"]')
    bad = [f.value for f in result.findings if f.code == "dtc-unparseable"]
    assert len(bad) == 8 and "05/20/1966" in bad
    found = [f for f in result.findings if f.code == "dtc-ambiguous"]
    assert sorted(f.value for f in found) == ["03/04/1966", "07/09/1971", "11/02/1958",
                                              "12/01/1963"]  # fmt: skip
    assert all("'05/20/1966', which only reads as %m/%d/%Y" in f.message for f in found)
    assert all(where in f.message for f in found)


def test_ex_end_is_left_empty_where_the_export_has_only_the_start(tiny_export):
    result = build(tiny_export)
    ex = result.domains["EX"]
    # INFUSION has INF_DATE and INF_TIME (the start) only: no end is made up
    assert ex["EXENDTC"].isna().all() and "EXENDY" not in ex.columns
    empty = [
        f for f in result.findings if f.code == "expected-variable-empty" and f.dataset == "EX"
    ]
    assert len(empty) == 1 and "EXENDTC" in empty[0].message
    # RFXENDTC follows study.yaml's declared rule: the latest EXSTDTC (third infusion's start)
    dm = result.domains["DM"]
    assert by(dm, USUBJID="HUCMSC-T2DM-01-001")["RFXENDTC"] == "2019-01-22T09:05"
    assert by(dm, USUBJID="HUCMSC-T2DM-02-001")["RFXENDTC"] == "2019-02-08T10:00"


def test_lb_specimen_is_declared_per_test(tiny_export):
    lb = build(tiny_export).domains["LB"]
    specimen = dict(zip(lb["LBTESTCD"] + "/" + lb["LBFAST"], lb["LBSPEC"], strict=True))
    # plasma glucose, serum C-peptide and tumour marker (lb.yaml), never one BLOOD for all
    assert specimen == {
        "GLUC/Y": "PLASMA",
        "CPEPTIDE/Y": "SERUM",
        "CPEPTIDE/N": "SERUM",
        "CEA/Y": "SERUM",
    }
