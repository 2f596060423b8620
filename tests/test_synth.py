"""Tests of the synthetic raw export generator against docs/raw-export.md and the study brief."""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialflow.synth import SHEETS, synthesize

DOC = Path(__file__).resolve().parents[1] / "docs" / "raw-export.md"

# Published baseline means (study brief, n = 16).
PUBLISHED = {"age": 52.5, "bmi": 24.47, "FPG": 9.66, "HBA1C": 8.01, "FCP": 741.56, "P2CP": 1596.70}

VISIT_DAY = {
    "Day 0": 0,
    "D0": 0,
    "Baseline (Day 0)": 0,
    "Day 14": 14,
    "D14": 14,
    "Day 21": 21,
    "D21": 21,
    "Day 28": 28,
    "D28 visit": 28,
    "Day 84": 84,
    "D84 visit": 84,
    "Unscheduled": None,
    "UNS": None,
}
SCHEDULED = (0, 14, 21, 28, 84)
YES, NO = {"Y", "Yes", "1"}, {"N", "No", "0"}
SEX = {"M": "M", "Male": "M", "male": "M", "F": "F", "Female": "F", "female": "F"}

# Brief: which measure is taken at which visit (the unscheduled visit adds FPG and WBC).
SCHEDULE = {
    "fasting plasma glucose": {0, 14, 21, 28, 84},
    "2-h postprandial glucose": {0, 28, 84},
    "HbA1c": {0, 28, 84},
    "fasting C-peptide": {0, 28, 84},
    "2-h postprandial C-peptide": {0, 28, 84},
    "leukocytes": {0, 14, 28, 84},
    "ALT": {0, 14, 28, 84},
    "creatinine": {0, 14, 28, 84},
    "AFP": {0, 28, 84},
    "CEA": {0, 28, 84},
    "CA19-9": {0, 28, 84},
}
POSTPRANDIAL = {"2-h postprandial glucose", "2-h postprandial C-peptide"}

# --------------------------------------------------------------------------------------------
# Reading the contract
# --------------------------------------------------------------------------------------------


def _section(title: str) -> str:
    """The text of one '## title' section of the contract."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def doc_columns() -> dict[str, list[str]]:
    """Sheet name -> column names, from the '### SHEET' tables of the contract."""
    sheets: dict[str, list[str]] = {}
    current = None
    for line in _section("Sheets").splitlines():
        heading = re.match(r"### (\w+)", line)
        if heading:
            current = heading.group(1)
            sheets[current] = []
        elif current and line.startswith("| ") and not line.startswith("| column"):
            sheets[current] += [c.strip() for c in line.split("|")[1].split(",")]
    return sheets


def doc_lab_tests() -> dict[tuple[str, str], tuple[str, str]]:
    """(site, TEST) -> (measure, UNIT), from the contract's lab test table."""
    tests = {}
    for line in _section("Lab tests").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[1].startswith("`"):
            continue
        measure, name01, unit01, name02, unit02 = (c.strip("`") for c in cells)
        tests[("01", name01)] = (measure, unit01)
        tests[("02", name02)] = (measure, unit02)
    return tests


def doc_visit_labels() -> set[str]:
    """Every visit label the contract lists."""
    first_paragraph = _section("Visits").split("\n\n")[0]
    return set(re.findall(r"`([^`]+)`", first_paragraph))


# --------------------------------------------------------------------------------------------
# Reading the export the way a mapping would
# --------------------------------------------------------------------------------------------


def date_form(value: object) -> str:
    """Which of the export's date forms a cell uses."""
    if isinstance(value, dt.date):
        return "cell"
    assert isinstance(value, str), value
    if re.fullmatch(r"\d\d-[A-Z]{3}-\d{4}", value):
        return "dmy"
    if re.fullmatch(r"\d{4}/\d\d/\d\d", value):
        return "ymd"
    if re.fullmatch(r"UN-UNK-\d{4}", value):
        return "partial-month"
    if re.fullmatch(r"UN-[A-Z]{3}-\d{4}", value):
        return "partial-day"
    raise AssertionError(f"unknown date form {value!r}")


def parse_date(value: object) -> dt.date:
    """A complete date in any of the three complete forms."""
    form = date_form(value)
    if form == "cell":
        assert isinstance(value, dt.date)
        return value
    assert isinstance(value, str)
    if form == "dmy":
        return dt.datetime.strptime(value, "%d-%b-%Y").date()
    if form == "ymd":
        return dt.datetime.strptime(value, "%Y/%m/%d").date()
    raise AssertionError(f"partial date {value!r} where a complete date is required")


def days(series: pd.Series) -> pd.Series:
    """Complete dates as day numbers, for differences."""
    return series.map(lambda v: parse_date(v).toordinal()).astype("int64")


def visit_day(label: str) -> int:
    """Target day of a visit label; -1 for the unscheduled visit."""
    day = VISIT_DAY[label]
    return -1 if day is None else day


def day0(sheets: dict[str, pd.DataFrame]) -> pd.Series:
    """Day 0 visit date (day number) per subject."""
    vitals = sheets["VITALS"]
    base = vitals[vitals["VISIT"].map(visit_day) == 0]
    return pd.Series(days(base["VIS_DATE"]).to_numpy(), index=base["SUBJ"].to_numpy())


def lab_long(sheets: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """LAB with site, measure, study day and numeric value in mmol/L, pmol/L, ..."""
    tests = doc_lab_tests()
    lab = sheets["LAB"].copy()
    site = lab["SUBJ"].str[:2]
    keys = list(zip(site, lab["TEST"], strict=True))
    lab["measure"] = [tests[k][0] for k in keys]
    lab["doc_unit"] = [tests[k][1] for k in keys]
    numeric = lab["RESULT"].map(lambda v: v if isinstance(v, float) else np.nan).astype(float)
    factor = np.where(lab["UNIT"] == "mg/dL", 1 / 18.016, 1.0)
    factor = np.where(lab["measure"].str.contains("C-peptide") & (lab["UNIT"] == "ng/mL"),
                      331.1, factor)  # fmt: skip
    lab["value"] = numeric * factor
    lab["visit"] = lab["VISIT"].map(visit_day)
    lab["day"] = days(lab["LAB_DATE"]) - lab["SUBJ"].map(day0(sheets))
    return lab


def wide(lab: pd.DataFrame, visit: int) -> pd.DataFrame:
    """One row per subject, one column per measure, at one visit."""
    at = lab[lab["visit"] == visit]
    return at.pivot(index="SUBJ", columns="measure", values="value")


@pytest.fixture(scope="module")
def default() -> dict[str, pd.DataFrame]:
    return synthesize()


# --------------------------------------------------------------------------------------------
# Determinism and purity
# --------------------------------------------------------------------------------------------


def test_same_arguments_give_identical_frames(default):
    again = synthesize(16, 2022)
    assert list(again) == list(default)
    for name in default:
        pd.testing.assert_frame_equal(again[name], default[name])


def test_different_seed_gives_different_data(default):
    other = synthesize(16, 2023)
    assert not other["LAB"]["RESULT"].equals(default["LAB"]["RESULT"])
    assert not other["DEMOG"]["BIRTH_DT"].equals(default["DEMOG"]["BIRTH_DT"])


def test_global_random_state_is_untouched():
    np.random.seed(11)
    random.seed(11)
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()
    synthesize(5, 3)
    assert (np.random.get_state()[1] == np_state).all()
    assert random.getstate() == py_state


# --------------------------------------------------------------------------------------------
# The contract: sheets, columns, dtypes, vocabularies, the mess
# --------------------------------------------------------------------------------------------


def test_sheets_and_columns_follow_the_contract(default):
    columns = doc_columns()
    assert list(default) == list(SHEETS) == list(columns)
    for name, frame in default.items():
        if name != "README":
            assert list(frame.columns) == columns[name], name


def test_column_types(default):
    date_cols = {"CONSENT_DT", "BIRTH_DT", "DIAB_DX_DT", "VIS_DATE", "LAB_DATE", "INF_DATE"}
    date_cols |= {"START_DT", "END_DT", "DS_DATE"}
    number_cols = {"HEIGHT_CM", "WEIGHT_KG", "SYSBP", "DIABP", "PULSE", "TEMP_C", "REF_LOW"}
    number_cols |= {"REF_HIGH", "INF_NO", "DOSE", "AE_NO", "CM_NO"}
    for name, frame in default.items():
        for col in frame.columns:
            values = frame[col].tolist()
            if col in date_cols:
                if (name, col) == ("CONMED", "END_DT"):  # blank while ongoing
                    values = [v for v in values if v is not None]
                assert frame[col].dtype == object
                assert all(isinstance(v, (str, dt.date)) for v in values), col
                assert not any(isinstance(v, dt.datetime) for v in values), col
            elif col in number_cols:
                assert frame[col].dtype == np.float64, col
            elif col == "RESULT":
                assert frame[col].dtype == object
                assert all(type(v) in (float, str) for v in values)
            else:
                assert pd.api.types.is_string_dtype(frame[col].dtype), (name, col)
                if (name, col) == ("DISPOSITION", "REASON"):  # blank for a completer
                    values = frame[col].dropna().tolist()
                assert all(isinstance(v, str) for v in values), (name, col)


def test_lab_test_names_and_units_per_site(default):
    tests = doc_lab_tests()
    lab = default["LAB"]
    seen = set(zip(lab["SUBJ"].str[:2], lab["TEST"], lab["UNIT"], strict=True))
    assert seen == {(site, test, unit) for (site, test), (_, unit) in tests.items()}


def test_vocabularies(default):
    demog, lab, ae = default["DEMOG"], default["LAB"], default["AE"]
    assert set(demog["SEX"]) <= set(SEX) and len(set(demog["SEX"])) >= 4
    assert set(demog["RACE"]) == {"Asian", "ASIAN"}
    assert set(demog["ETHNIC"]) == {"Not Hispanic or Latino"}
    assert set(demog["COUNTRY"]) == {"China"}
    assert set(demog["SITE"]) == {"01", "02"}
    labels = set(default["VITALS"]["VISIT"]) | set(lab["VISIT"])
    assert labels == doc_visit_labels() == set(VISIT_DAY)
    assert set(lab["FASTING"]) == YES | NO
    assert set(default["INFUSION"]["GIVEN"]) == YES
    assert set(ae["SERIOUS"]) <= NO and len(set(ae["SERIOUS"])) >= 2
    assert set(ae["SEVERITY"]) <= {"Mild", "MILD", "Moderate"}
    assert set(ae["RELATED"]) <= {"Related", "Possibly related", "Not related"}
    assert set(ae["OUTCOME"]) <= {"Recovered", "Recovered/Resolved", "Not recovered"}
    assert set(ae["ACTION"]) <= {"None", "Dose not changed", "Not applicable"}


def test_date_forms_are_mixed_and_partial_only_where_allowed(default):
    complete = {
        "DEMOG": ["CONSENT_DT", "BIRTH_DT"],
        "VITALS": ["VIS_DATE"],
        "LAB": ["LAB_DATE"],
        "INFUSION": ["INF_DATE"],
        "AE": ["START_DT"],
    }
    for sheet, cols in complete.items():
        for col in cols:
            forms = set(default[sheet][col].map(date_form))
            assert forms <= {"dmy", "ymd", "cell"}, (sheet, col)
            if len(default[sheet]) >= 16:
                assert forms == {"dmy", "ymd", "cell"}, (sheet, col)
    dx_forms = default["DEMOG"]["DIAB_DX_DT"].map(date_form)
    assert {"partial-day", "partial-month"} <= set(dx_forms)
    assert dx_forms.str.startswith("partial").sum() >= len(dx_forms) / 3  # often partial
    end_forms = default["AE"]["END_DT"].map(date_form)
    assert (end_forms == "partial-day").sum() == 1
    assert set(end_forms) <= {"dmy", "ymd", "cell", "partial-day"}


def test_text_results_below_quantification(default):
    lab = lab_long(default)
    text = lab[lab["RESULT"].map(lambda v: isinstance(v, str))]
    assert len(text) > 0
    assert set(zip(text["measure"], text["RESULT"], strict=True)) <= {
        ("CEA", "<0.5"),
        ("CA19-9", "<2.0"),
    }
    assert set(text["RESULT"]) == {"<0.5", "<2.0"}


@pytest.mark.parametrize(("subjects", "seed"), [(16, 2022), (3, 7), (40, 7)])
def test_one_fasting_c_peptide_on_a_half_ng_ml(subjects, seed):
    # k + 0.5 ng/mL x 331.1 ends in 5 at the second decimal: a rounding tie in pmol/L.
    lab = lab_long(synthesize(subjects, seed))
    fcp = lab[(lab["measure"] == "fasting C-peptide") & (lab["UNIT"] == "ng/mL")]
    half = fcp[(fcp["RESULT"].astype(float) * 100).round().mod(100) == 50]
    assert len(half) >= 1 and (half["visit"] != 0).any()
    tie = half.iloc[0]["RESULT"] * 331.1 * 100
    assert abs(tie - round(tie)) < 1e-6 and round(tie) % 10 == 5


def test_rows_sorted_by_subject_then_date_and_unique(default):
    date_col = {"VITALS": "VIS_DATE", "LAB": "LAB_DATE", "INFUSION": "INF_DATE", "AE": "START_DT"}
    for sheet, frame in default.items():
        assert not frame.duplicated().any(), sheet
        if sheet in date_col:
            keys = list(zip(frame["SUBJ"], days(frame[date_col[sheet]]), strict=True))
            assert keys == sorted(keys), sheet
    assert default["DEMOG"]["SUBJ"].is_monotonic_increasing


def test_readme_says_synthetic_and_how_to_regenerate(default):
    readme = default["README"]
    lines = [readme.columns[0], *readme.iloc[:, 0]]
    text = "\n".join(lines)
    assert lines[0] == "trialflow synthetic raw CRF export"
    assert "ALL RECORDS ARE SYNTHETIC: generated by trialflow.synth; no real patient data" in text
    assert "World J Diabetes 2022;13(10):877-887" in text
    assert "10.4239/wjd.v13.i10.877" in text
    assert "trialflow synth --subjects 16 --seed 2022 --out FILE.xlsx" in text
    assert "seed: 2022" in text and "Subjects: 16" in text


# --------------------------------------------------------------------------------------------
# The default example
# --------------------------------------------------------------------------------------------


def test_default_subjects_sites_and_sex(default):
    demog = default["DEMOG"]
    assert len(demog) == 16 and demog["SUBJ"].is_unique
    assert demog["SEX"].map(SEX).value_counts().to_dict() == {"M": 12, "F": 4}
    assert (demog["SUBJ"].str[:2] == demog["SITE"]).all()
    assert demog["SUBJ"].str.fullmatch(r"0[12]-\d{3}").all()
    assert demog["SITE"].value_counts().to_dict() == {"01": 8, "02": 8}
    assert demog["SUBJ"].iloc[[0, 8]].tolist() == ["01-001", "02-001"]


def test_default_infusions(default):
    inf = default["INFUSION"]
    assert len(inf) == 48
    assert inf.groupby("SUBJ")["INF_NO"].apply(list).map(lambda x: x == [1, 2, 3]).all()
    assert inf["GIVEN"].isin(YES).all()
    assert (inf["DOSE"] == 1).all() and (inf["DOSE_UNIT"] == "x10^6 cells/kg").all()
    base = default["VITALS"][default["VITALS"]["HEIGHT_CM"].notna()]
    weight = dict(zip(base["SUBJ"], base["WEIGHT_KG"], strict=True))
    assert (inf["WEIGHT_KG"] == inf["SUBJ"].map(weight)).all()


def test_default_adverse_events(default):
    ae, inf = default["AE"], default["INFUSION"]
    fever = ae[ae["PT"] == "Pyrexia"]
    hypo = ae[ae["PT"] == "Hypoglycaemia"]
    assert len(ae) == 6 and len(fever) == 5 and fever["SUBJ"].nunique() == 4
    assert len(hypo) == 1
    assert set(fever["SOC"]) == {"General disorders and administration site conditions"}
    assert set(hypo["SOC"]) == {"Metabolism and nutrition disorders"}
    assert ae["SERIOUS"].isin(NO).all()
    assert {"Fever", "Pyrexia (transient)"} <= set(fever["AE_TERM"])
    assert fever["AE_TERM"].str.fullmatch(r"fever after (2nd|3rd) infusion").any()
    assert hypo["AE_TERM"].tolist() == ["low blood sugar at night"]
    assert ae.groupby("SUBJ")["AE_NO"].apply(list).map(lambda x: x == [*range(1, len(x) + 1)]).all()

    inf_keys = zip(inf["SUBJ"], inf["INF_NO"], strict=True)
    inf_day = dict(zip(inf_keys, days(inf["INF_DATE"]), strict=True))
    start = days(fever["START_DT"])
    for subj, first in zip(fever["SUBJ"], start, strict=True):
        after = [first - inf_day[(subj, n)] for n in (2.0, 3.0)]
        assert 0 in after or 1 in after, subj  # within 24 h of the 2nd or 3rd infusion
    for begin, end in zip(start, fever["END_DT"], strict=True):
        if date_form(end) == "partial-day":
            month = dt.date.fromordinal(begin + 1)
            assert end == f"UN-{month.strftime('%b').upper()}-{month.year}"
        else:
            assert parse_date(end).toordinal() == begin + 1
    hypo_day = days(hypo["START_DT"]).iloc[0] - day0(default)[hypo["SUBJ"].iloc[0]]
    assert 25 <= hypo_day <= 31


def test_default_missed_and_unscheduled_visit(default):
    vitals, lab = default["VITALS"], lab_long(default)
    subjects = default["DEMOG"]["SUBJ"]
    expected = {(s, d) for s in subjects for d in SCHEDULED}
    vit_visits = set(zip(vitals["SUBJ"], vitals["VISIT"].map(visit_day), strict=True))
    missing = expected - vit_visits
    assert len(missing) == 1
    (missed_subj, missed_day) = missing.pop()
    assert missed_day == 21
    lab_visits = set(zip(lab["SUBJ"], lab["visit"], strict=True))
    assert (missed_subj, 21) not in lab_visits
    assert lab_visits - {(s, -1) for s in subjects} == expected - {(missed_subj, 21)}

    uns_vit = vitals[vitals["VISIT"].isin(["Unscheduled", "UNS"])]
    uns_lab = lab[lab["visit"] == -1]
    assert len(uns_vit) == 1 and uns_lab["SUBJ"].nunique() == 1
    subj = uns_vit["SUBJ"].iloc[0]
    assert set(uns_lab["SUBJ"]) == {subj} and subj != missed_subj
    assert sorted(uns_lab["measure"]) == ["fasting plasma glucose", "leukocytes"]
    mine = vitals[vitals["SUBJ"] == subj].assign(day=lambda f: days(f["VIS_DATE"]))
    by_visit = dict(zip(mine["VISIT"].map(visit_day), mine["day"], strict=True))
    assert by_visit[28] < by_visit[-1] < by_visit[84]


@pytest.mark.parametrize(("subjects", "seed"), [(16, 2022), (40, 7)])
def test_visits_and_infusions_within_windows(subjects, seed):
    sheets = synthesize(subjects, seed)
    base = day0(sheets)
    vitals = sheets["VITALS"]
    study_day = days(vitals["VIS_DATE"]) - vitals["SUBJ"].map(base)
    target = vitals["VISIT"].map(visit_day)
    scheduled = target >= 0
    assert ((study_day - target)[scheduled].abs() <= 3).all()
    assert ((study_day[~scheduled] > 31) & (study_day[~scheduled] < 81)).all()

    inf = sheets["INFUSION"]
    inf_day = days(inf["INF_DATE"]) - inf["SUBJ"].map(base)
    assert ((inf_day - 7 * inf["INF_NO"]).abs() <= 3).all()
    assert (inf_day.groupby(inf["SUBJ"]).diff().dropna() >= 5).all()

    consent = pd.Series(days(sheets["DEMOG"]["CONSENT_DT"]).to_numpy(), sheets["DEMOG"]["SUBJ"])
    run_in = base - consent[base.index]
    assert run_in.between(105, 122).all()  # about 16 weeks
    first = dt.date(2019, 1, 1).toordinal()
    assert consent.between(first, dt.date(2019, 12, 31).toordinal()).all()

    # LAB dates are the visit dates; Day 14 and 21 visits fall on the 2nd and 3rd infusion.
    lab = lab_long(sheets)
    vit_keys = zip(vitals["SUBJ"], target, strict=True)
    visit_dates = dict(zip(vit_keys, days(vitals["VIS_DATE"]), strict=True))
    lab_keys = zip(lab["SUBJ"], lab["visit"], strict=True)
    assert (days(lab["LAB_DATE"]).to_numpy() == [visit_dates[k] for k in lab_keys]).all()
    inf_keys = zip(inf["SUBJ"], inf["INF_NO"], strict=True)
    inf_date = dict(zip(inf_keys, days(inf["INF_DATE"]), strict=True))
    for (subj, visit), date in visit_dates.items():
        if visit in (14, 21):
            assert inf_date[(subj, visit / 7)] == date


def test_samples_on_infusion_days_are_drawn_before_the_infusion(default):
    lab, inf = default["LAB"], default["INFUSION"]
    inf_keys = zip(inf["SUBJ"], inf["INF_DATE"].map(parse_date), strict=True)
    inf_at = dict(zip(inf_keys, inf["INF_TIME"], strict=True))
    on_infusion_day = 0
    for subj, date, time_ in zip(lab["SUBJ"], lab["LAB_DATE"], lab["LAB_TIME"], strict=True):
        key = (subj, parse_date(date))
        if key in inf_at:
            on_infusion_day += 1
            assert time_ < inf_at[key]
    assert on_infusion_day >= 16 * 4


def test_lab_schedule_fasting_and_times(default):
    lab = lab_long(default)
    scheduled = lab[lab["visit"] >= 0]
    per_measure = scheduled.groupby("measure")["visit"].apply(set).to_dict()
    assert per_measure == SCHEDULE
    postprandial = lab["measure"].isin(POSTPRANDIAL)
    assert lab.loc[postprandial, "FASTING"].isin(NO).all()
    assert lab.loc[~postprandial, "FASTING"].isin(YES).all()
    minutes = lab["LAB_TIME"].map(lambda t: int(t[:2]) * 60 + int(t[3:]))
    assert lab["LAB_TIME"].str.fullmatch(r"\d\d:\d\d").all()
    assert (minutes[~postprandial] - 450).abs().max() <= 15  # about 07:30
    assert (minutes[postprandial] - 600).abs().max() <= 20  # about 10:00
    # Reference ranges: numbers, low below high; tumour markers give an upper limit only.
    both = lab[lab["REF_LOW"].notna()]
    assert (both["REF_LOW"] < both["REF_HIGH"]).all()
    markers = lab["measure"].isin(["AFP", "CEA", "CA19-9"])
    assert lab.loc[markers, "REF_LOW"].isna().all() and lab.loc[markers, "REF_HIGH"].notna().all()


def test_baseline_means_near_published(default):
    demog = default["DEMOG"]
    birth = demog["BIRTH_DT"].map(parse_date)
    consent = demog["CONSENT_DT"].map(parse_date)
    age = [
        c.year - b.year - ((c.month, c.day) < (b.month, b.day))
        for b, c in zip(birth, consent, strict=True)
    ]
    assert min(age) >= 18 and max(age) <= 70
    vitals = default["VITALS"]
    base = vitals[vitals["VISIT"].map(visit_day) == 0]
    assert base["HEIGHT_CM"].notna().all()
    assert vitals.loc[vitals["VISIT"].map(visit_day) != 0, "HEIGHT_CM"].isna().all()
    bmi = base["WEIGHT_KG"] / (base["HEIGHT_CM"] / 100) ** 2

    lab = wide(lab_long(default), 0)
    got = {
        "age": np.mean(age),
        "bmi": bmi.mean(),
        "FPG": lab["fasting plasma glucose"].mean(),
        "HBA1C": lab["HbA1c"].mean(),
        "FCP": lab["fasting C-peptide"].mean(),
        "P2CP": lab["2-h postprandial C-peptide"].mean(),
    }
    for key, published in PUBLISHED.items():
        assert got[key] == pytest.approx(published, rel=0.15), key
    assert lab["HbA1c"].between(7.0, 9.5).all()  # inclusion criterion


def test_time_course_follows_the_brief(default):
    lab = lab_long(default)
    median = lab.pivot_table(index="measure", columns="visit", values="value", aggfunc="median")
    fpg = median.loc["fasting plasma glucose", list(SCHEDULED)]
    assert fpg.idxmin() == 14 and fpg[14] < fpg[0]
    assert (fpg[[14, 21, 28, 84]] < fpg[0]).all()
    assert median.loc["HbA1c", 84] < median.loc["HbA1c", 0] - 0.3
    assert median.loc["leukocytes", 14] > median.loc["leukocytes", 0]
    assert lab.loc[lab["measure"] == "fasting plasma glucose", "value"].min() > 3.5

    def homa(visit: int) -> pd.DataFrame:
        w = wide(lab, visit)
        fcp, fpg = w["fasting C-peptide"], w["fasting plasma glucose"]
        return pd.DataFrame({"B": 0.27 * fcp / (fpg - 3.5), "IR": 1.5 + fcp * fpg / 2800})

    assert homa(28)["B"].median() > homa(0)["B"].median()
    assert homa(28)["IR"].median() < homa(0)["IR"].median()
    numeric = lab[lab["RESULT"].map(lambda v: isinstance(v, float))]
    markers = numeric[numeric["measure"].isin(["AFP", "CEA", "CA19-9"])]
    assert (markers["value"] <= markers["REF_HIGH"]).all()  # tumour markers normal


# --------------------------------------------------------------------------------------------
# Other sizes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("subjects", [1, 2, 3, 40])
def test_structure_holds_for_other_sizes(subjects):
    sheets = synthesize(subjects, 7)
    columns = doc_columns()
    for name, frame in sheets.items():
        if name != "README":
            assert list(frame.columns) == columns[name]
    demog = sheets["DEMOG"]
    assert len(demog) == subjects and demog["SUBJ"].is_unique
    assert demog["SUBJ"].str.fullmatch(r"0[12]-\d{3}").all()
    sexes = demog["SEX"].map(SEX)
    if subjects >= 2:
        assert set(sexes) == {"M", "F"}
        assert abs(demog["SITE"].eq("01").sum() - demog["SITE"].eq("02").sum()) <= 1
    if subjects >= 4:
        assert sexes.eq("F").sum() == int(np.floor(subjects / 4 + 0.5))  # about 3:1
    assert len(sheets["INFUSION"]) == 3 * subjects

    vitals = sheets["VITALS"]
    extra = 0 if subjects == 1 else 1  # one missed Day 21, one unscheduled visit
    assert len(vitals) == 5 * subjects
    assert vitals["VISIT"].isin(["Unscheduled", "UNS"]).sum() == extra
    assert vitals["VISIT"].map(visit_day).eq(21).sum() == subjects - extra
    lab = lab_long(sheets)
    assert len(lab) == 38 * subjects + extra  # FPG and WBC at UNS, less FPG at Day 21
    for frame in sheets.values():
        assert not frame.duplicated().any()

    ae = sheets["AE"]
    fever = ae[ae["PT"] == "Pyrexia"]
    expected_fever_subjects = int(np.floor(subjects / 4 + 0.5))
    assert fever["SUBJ"].nunique() == expected_fever_subjects
    assert (ae["PT"] == "Hypoglycaemia").sum() == int(np.floor(subjects / 16 + 0.5))
    assert (ae["END_DT"].map(date_form) == "partial-day").sum() == (1 if len(ae) else 0)


def test_ten_thousand_subjects_quickly():
    start = time.perf_counter()
    sheets = synthesize(10_000, 1)
    assert time.perf_counter() - start < 10
    assert len(sheets["DEMOG"]) == 10_000
    assert sheets["DEMOG"]["SUBJ"].str.fullmatch(r"0[12]-\d{4}").all()
    assert sheets["DEMOG"]["SUBJ"].is_unique
    assert len(sheets["LAB"]) == 38 * 10_000 + 1
    assert sheets["DEMOG"]["SEX"].map(SEX).eq("F").sum() == 2500


@pytest.mark.parametrize("bad", [0, -1, 25_001])
def test_rejects_subject_counts_out_of_range(bad):
    with pytest.raises(ValueError, match="subjects"):
        synthesize(bad)


# ----------------------------------------------------------------------------------------------
# `trialflow synth --layout`
# ----------------------------------------------------------------------------------------------


def test_default_workbook_layout_is_the_bundled_example_byte_for_byte(tmp_path):
    from click.testing import CliRunner
    from support import EXAMPLE_EXPORT

    from trialflow.cli import cli

    out = tmp_path / "export.xlsx"
    result = CliRunner().invoke(cli, ["synth", "--layout", "workbook", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == EXAMPLE_EXPORT.read_bytes()


@pytest.mark.parametrize(
    ("layout", "name", "sheets"),
    [
        ("flat-csv", "export.csv", ["export"]),
        (
            "odm",
            "export.xml",
            ["DEMOG", "VITALS", "LAB", "INFUSION", "AE", "DISPOSITION", "CONMED"],
        ),
        ("sas", "export", ["ae", "conmed", "demog", "disposition", "infusion", "lab", "vitals"]),
    ],
)
def test_synth_writes_each_layout_with_the_same_records(layout, name, sheets, tmp_path):
    from click.testing import CliRunner

    from trialflow.cli import cli
    from trialflow.raw import read_export

    out = tmp_path / name
    args = ["synth", "--subjects", "3", "--seed", "5", "--layout", layout, "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    export = read_export(out)
    assert export.sheet_names == sheets
    frames = synthesize(3, 5)
    if layout == "flat-csv":
        flat = export.sheet("export").frame
        counts = flat["FORM"].value_counts().to_dict()
        assert counts == {k: len(v) for k, v in frames.items() if k != "README"}
        # a repeating form numbers its records within the subject; DEMOG has no instance
        lab = flat[flat["FORM"] == "LAB"]
        assert lab.groupby("SUBJ")["INSTANCE"].first().tolist() == ["1", "1", "1"]
        assert flat.loc[flat["FORM"] == "DEMOG", "INSTANCE"].isna().all()
    elif layout == "odm":
        lab = export.sheet("LAB").frame
        assert len(lab) == len(frames["LAB"])
        assert lab["SubjectKey"].tolist() == frames["LAB"]["SUBJ"].tolist()
        assert lab["TEST"].tolist() == frames["LAB"]["TEST"].tolist()
        vitals = export.sheet("VITALS").frame
        assert vitals["StudyEventRepeatKey"].iloc[:2].tolist() == ["1", "2"]
        assert export.sheet("INFUSION").frame["FormRepeatKey"].iloc[:3].tolist() == ["1", "2", "3"]
    else:
        vitals = export.sheet("vitals").frame
        assert vitals["VISIT"].tolist() == frames["VITALS"]["VISIT"].tolist()
        assert (out / "README.txt").read_text().count("SYNTHETIC") == 1


def test_synth_refuses_a_file_name_that_does_not_fit_the_layout(tmp_path):
    from click.testing import CliRunner

    from trialflow.cli import cli

    runner = CliRunner()
    bad = runner.invoke(cli, ["synth", "--layout", "odm", "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2 and "odm layout is written as .xml" in bad.output
    (tmp_path / "file").write_text("x")
    bad = runner.invoke(cli, ["synth", "--layout", "sas", "--out", str(tmp_path / "file")])
    assert bad.exit_code == 2 and "written as a folder" in bad.output
