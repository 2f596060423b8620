"""The three-arm design of ``trialflow synth`` (trialflow.synth_three_arm).

The expected counts are the design's (docs/raw-export.md, *The three-arm design*): with N
randomised subjects, 1:1:1 in blocks of three; N x 8/90 screen failures, N x 2/90 subjects
never treated and N x 6/90 early discontinuers, each rounded half up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from trialflow.cli import cli
from trialflow.synth import synthesize
from trialflow.synth_three_arm import (
    THREE_ARM_COLUMNS,
    THREE_ARM_SHEETS,
    synthesize_three_arm,
)

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "examples" / "three-arm" / "raw-export.xlsx"

# RAND_ARM as typed -> arm index (0 placebo, 1 Drug X 25 mg, 2 Drug X 50 mg)
ARM_OF = {
    "Placebo": 0,
    "PLACEBO": 0,
    "Drug X 25 mg": 1,
    "Drug X 25mg": 1,
    "Drug X 50 mg": 2,
    "Drug X 50mg": 2,
}
DOSE_OF_ARM = {0: 0.0, 1: 25.0, 2: 50.0}
TPT_CODE = {
    "Supine 5 min": 815,
    "Lying 5 min": 815,
    "After lying down 5 minutes": 815,
    "Standing 1 min": 816,
    "Stand 1 min": 816,
    "After standing 1 minute": 816,
    "Standing 3 min": 817,
    "Stand 3 min": 817,
    "After standing 3 minutes": 817,
}
UNSCHEDULED = {"Unscheduled", "UNS", "Unsched."}


@pytest.fixture(scope="module")
def default() -> dict[str, pd.DataFrame]:
    return synthesize_three_arm(subjects=90, seed=2024)


def _day(value: object) -> dt.date:
    """A DATE cell of the export as a date (text forms 12-JAN-2024, 2024/01/12, or a date)."""
    if isinstance(value, dt.date):
        return value
    text = str(value)
    for fmt in ("%d-%b-%Y", "%Y/%m/%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise AssertionError(f"not a complete date: {text!r}")


def _arms(demog: pd.DataFrame) -> pd.Series:
    return demog.set_index("SUBJ")["RAND_ARM"].dropna().map(ARM_OF)


def test_sheets_and_columns(default):
    assert tuple(default) == THREE_ARM_SHEETS
    for name, frame in default.items():
        assert tuple(frame.columns) == THREE_ARM_COLUMNS[name]


def test_same_arguments_give_identical_frames_and_seeds_differ(default):
    again = synthesize_three_arm(subjects=90, seed=2024)
    for name in THREE_ARM_SHEETS:
        pd.testing.assert_frame_equal(default[name], again[name])
    other = synthesize_three_arm(subjects=90, seed=2025)
    assert not default["VITALS"]["SYSBP"].equals(other["VITALS"]["SYSBP"])


def test_global_random_state_is_untouched():
    np.random.seed(5)
    expected = np.random.random()
    np.random.seed(5)
    synthesize_three_arm(subjects=9, seed=1)
    assert np.random.random() == expected


def test_design_counts_at_ninety(default):
    demog, dosing, ds = default["DEMOG"], default["DOSING"], default["DISPOSITION"]
    # 90 randomised + round(90 x 8/90) = 8 screen failures
    assert len(demog) == 98 and demog["SUBJ"].is_unique
    arms = _arms(demog)
    assert arms.value_counts().sort_index().tolist() == [30, 30, 30]
    assert demog["RAND_ARM"].isna().sum() == 8
    assert demog["RAND_DT"].isna().sum() == 8 and demog["RAND_NO"].isna().sum() == 8
    assert sorted(demog["RAND_NO"].dropna()) == list(range(1001, 1091))
    failed = set(demog.loc[demog["RAND_ARM"].isna(), "SUBJ"])
    # screen failures: a DISPOSITION row "Screen failure", no other form
    assert set(ds.loc[ds["STATUS"] == "Screen failure", "SUBJ"]) == failed
    for sheet in ("DOSING", "VITALS", "LABS", "AE"):
        assert not failed & set(default[sheet]["SUBJ"])
    # 2 randomised subjects never treated: no DOSING rows
    never = set(arms.index) - set(dosing["SUBJ"])
    assert len(never) == 2
    assert set(ds.loc[ds["SUBJ"].isin(never), "STATUS"]) == {"Withdrew"}
    # 6 early discontinuers among the treated: a disposition other than Completed
    treated = set(dosing["SUBJ"])
    stopped = ds[ds["SUBJ"].isin(treated) & (ds["STATUS"] != "Completed")]
    assert len(stopped) == 6
    # every other one of them (3) has no end date on the last DOSING row
    last = dosing.groupby("SUBJ").tail(1)
    no_end = set(last.loc[last["END_DT"].isna(), "SUBJ"])
    assert len(no_end) == 3 and no_end <= set(stopped["SUBJ"])
    assert dosing["END_DT"].isna().sum() == 3


@pytest.mark.parametrize(
    ("subjects", "per_arm", "failures", "never"), [(30, 10, 3, 1), (7, None, 1, 0)]
)
def test_counts_follow_the_subjects_option(subjects, per_arm, failures, never):
    # 30: 30 x 8/90 = 2.67 -> 3 screen failures, 30 x 2/90 = 0.67 -> 1 never treated;
    # 7: 0.62 -> 1 screen failure, 0.16 -> 0 never treated; arms 2, 2, 3 in some order (two
    # blocks of three and one subject of a third block)
    sheets = synthesize_three_arm(subjects=subjects, seed=11)
    arms = _arms(sheets["DEMOG"])
    assert len(arms) == subjects
    counts = sorted(arms.value_counts().tolist())
    assert counts == ([per_arm] * 3 if per_arm else [2, 2, 3])
    assert sheets["DEMOG"]["RAND_ARM"].isna().sum() == failures
    assert len(set(arms.index) - set(sheets["DOSING"]["SUBJ"])) == never


def test_placebo_doses_are_zero_and_doses_follow_the_arm(default):
    arms = _arms(default["DEMOG"])
    dosing = default["DOSING"]
    arm = dosing["SUBJ"].map(arms)
    assert arm.notna().all()
    assert (dosing["DOSE"] == arm.map(DOSE_OF_ARM)).all()
    placebo = arm == 0
    assert set(dosing.loc[placebo, "DRUG"]) <= {"Placebo", "placebo"}
    assert set(dosing.loc[~placebo, "DRUG"]) == {"Drug X"}
    assert set(dosing["DOSE_UNIT"]) == {"mg"}
    # periods follow each other: the next starts the day after the previous ends
    for _, rows in dosing.groupby("SUBJ"):
        starts = [_day(v) for v in rows["START_DT"]]
        ends = [_day(v) if pd.notna(v) else None for v in rows["END_DT"]]
        for k in range(1, len(rows)):
            assert starts[k] == ends[k - 1] + dt.timedelta(days=1)


def test_three_time_points_per_visit_and_weight_once(default):
    vitals = default["VITALS"]
    assert set(vitals["TPT"]) == set(TPT_CODE)
    code = vitals["TPT"].map(TPT_CODE)
    groups = code.groupby([vitals["SUBJ"], vitals["VISIT"], vitals["VIS_DATE"].astype(str)])
    assert (groups.apply(lambda c: tuple(sorted(c))) == (815, 816, 817)).all()
    # weight on the lying-down row of a scheduled visit only
    weighed = vitals["WEIGHT_KG"].notna()
    assert (code[weighed] == 815).all()
    scheduled_first = (code == 815) & ~vitals["VISIT"].isin(UNSCHEDULED)
    assert (weighed == scheduled_first).all()
    # plausible values; diastolic at least 25 mmHg below systolic
    assert vitals["SYSBP"].between(90, 220).all()
    assert (vitals["DIABP"] <= vitals["SYSBP"] - 25).all()


def test_unscheduled_and_missed_visits(default):
    vitals = default["VITALS"]
    uns = vitals[vitals["VISIT"].isin(UNSCHEDULED)]
    assert uns["SUBJ"].nunique() >= 5
    # a completer who missed a visit: 7 scheduled visits less one
    dosing, ds = default["DOSING"], default["DISPOSITION"]
    completers = set(ds.loc[ds["STATUS"] == "Completed", "SUBJ"]) & set(dosing["SUBJ"])
    scheduled = vitals[~vitals["VISIT"].isin(UNSCHEDULED) & vitals["SUBJ"].isin(completers)]
    visits = scheduled.groupby("SUBJ")["VIS_DATE"].apply(lambda d: d.astype(str).nunique())
    assert set(visits) == {6, 7} and (visits == 6).sum() >= 3


def test_drug_x_lowers_systolic_bp_by_dose(default):
    """Mean change from baseline to week 16 (lying down) per arm: placebo > 25 mg > 50 mg."""
    vitals = default["VITALS"]
    lying = vitals[vitals["TPT"].map(TPT_CODE) == 815]
    base = lying[lying["VISIT"].isin(["Baseline", "Day 1", "BL"])].set_index("SUBJ")["SYSBP"]
    w16 = lying[lying["VISIT"].isin(["Week 16", "WK16", "Week 16 / EOT"])]
    w16 = w16.set_index("SUBJ")["SYSBP"]
    change = (w16 - base).dropna()
    mean = change.groupby(change.index.map(_arms(default["DEMOG"]))).mean()
    assert mean[0] > mean[1] > mean[2]
    assert mean[0] - mean[2] > 5


def test_labs_glucose_in_mg_dl_at_site_03(default):
    labs = default["LABS"]
    site = labs["SUBJ"].str[:2]
    glucose = labs["TEST"].isin(["Glucose (fasting)", "GLU"])
    assert set(labs.loc[glucose & (site == "03"), "UNIT"]) == {"mg/dL"}
    assert set(labs.loc[glucose & (site != "03"), "UNIT"]) == {"mmol/L"}
    # two results per visit row of VITALS' lying-down readings (every attended visit)
    visits = (default["VITALS"]["TPT"].map(TPT_CODE) == 815).sum()
    assert len(labs) == 2 * visits


def test_readme_says_synthetic_and_how_to_regenerate(default):
    text = " ".join(default["README"].iloc[:, 0])
    assert "SYNTHETIC" in text
    assert "trialflow synth --design three-arm --subjects 90 --seed 2024" in text


def test_bundled_example_is_the_synth_output_byte_for_byte(tmp_path):
    out = tmp_path / "export.xlsx"
    args = ["synth", "--design", "three-arm", "--subjects", "90", "--seed", "2024"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert re.search(r"DEMOG 98, DOSING \d+, VITALS \d+", result.output)
    assert out.read_bytes() == BUNDLED.read_bytes()


@pytest.mark.parametrize(
    ("layout", "name"), [("flat-csv", "x.csv"), ("odm", "x.xml"), ("sas", "x")]
)
def test_other_layouts_are_written(layout, name, tmp_path):
    out = tmp_path / name
    args = ["synth", "--design", "three-arm", "--subjects", "6", "--layout", layout]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists()


def _digest(sheets: dict[str, pd.DataFrame]) -> str:
    h = hashlib.sha256()
    for name, frame in sheets.items():
        h.update(name.encode())
        h.update(repr(list(frame.columns)).encode())
        h.update(repr([str(t) for t in frame.dtypes]).encode())
        h.update(pd.util.hash_pandas_object(frame.astype(str), index=True).values.tobytes())
    return h.hexdigest()


@pytest.mark.parametrize(
    ("subjects", "seed", "digest"),
    [
        # computed with trialflow.synth of main before the three-arm design was added
        (16, 2022, "1beea0019eb0b0fff8298b208e086dd088d01256428f98fa43c51c9306167270"),
        (40, 7, "215f0e7ccd3efbf7c501cfc91b1e76a4582a417885a2bc240af7f034ba9ee357"),
    ],
)
def test_default_design_is_unchanged(subjects, seed, digest):
    assert _digest(synthesize(subjects=subjects, seed=seed)) == digest
