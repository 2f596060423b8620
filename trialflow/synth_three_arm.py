"""Synthetic raw CRF export of the second example: a three-arm, placebo-controlled study.

:func:`synthesize_three_arm` builds the sheets of a raw EDC export of a made-up parallel study
of an oral antihypertensive, "Drug X" (study TF3ARM-01): arms Placebo, Drug X 25 mg and
Drug X 50 mg once daily, randomised 1:1:1 in blocks of three, 16 weeks of treatment. The layout
is ``docs/raw-export.md``'s section *The three-arm design*: README, DEMOG, DOSING, VITALS, LABS,
AE and DISPOSITION.

Design facts (with the default 90 randomised subjects): 8 more subjects fail screening (a DEMOG
and a DISPOSITION row, no randomisation, no other form), 2 randomised subjects withdraw before
the first dose (no DOSING rows), 6 treated subjects discontinue early (the last DOSING row of
half of them has no end date), a few subjects miss a visit and a few have an unscheduled visit.
Visits: SCREENING (day -14), BASELINE (day 1, before the first dose), WEEK 2, 4, 8, 12 and 16
(days 15, 29, 57, 85, 113; week 16 ends treatment). Blood pressure and pulse are measured at
three time points a visit (after 5 minutes lying down, after 1 and after 3 minutes standing),
weight once a visit; glucose and ALT once a visit. Drug X lowers systolic (and diastolic) blood
pressure by dose; dizziness and orthostatic hypotension are more frequent on it.

The export carries the mess of a real one: visit and time-point labels typed several ways,
dates as ``12-JAN-2024`` text, ``2024/01/12`` text or date cells, glucose in mg/dL at site 03,
AE severities in mixed case. Every record is synthetic. All randomness comes from
``numpy.random.default_rng([seed, 0x3341])`` (0x3341 = "3A"); the example study's generator
(:mod:`trialflow.synth`) is not touched, so its output is unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.numbers import sas_round
from trialflow.synth import (
    _HHMM,
    _date_cells,
    _lexsort_rows,
    _lognormal,
    _mixed_dates,
    _pick,
    _round_half_up,
)

__all__ = ["THREE_ARM_COLUMNS", "THREE_ARM_SHEETS", "synthesize_three_arm"]

THREE_ARM_SHEETS: tuple[str, ...] = (
    "README",
    "DEMOG",
    "DOSING",
    "VITALS",
    "LABS",
    "AE",
    "DISPOSITION",
)
"""Sheet names of the three-arm export, in workbook order."""

_README_TITLE = "trialflow synthetic raw CRF export (three-arm design)"

THREE_ARM_COLUMNS: dict[str, tuple[str, ...]] = {
    "README": (_README_TITLE,),
    "DEMOG": (
        "SITE",
        "SUBJ",
        "CONSENT_DT",
        "BIRTH_DT",
        "SEX",
        "RACE",
        "ETHNIC",
        "COUNTRY",
        "RAND_NO",
        "RAND_DT",
        "RAND_ARM",
    ),
    "DOSING": (
        "SUBJ",
        "LINE",
        "DRUG",
        "DOSE",
        "DOSE_UNIT",
        "FREQ",
        "START_DT",
        "END_DT",
    ),
    "VITALS": (
        "SUBJ",
        "VISIT",
        "VIS_DATE",
        "TPT",
        "VS_TIME",
        "SYSBP",
        "DIABP",
        "PULSE",
        "WEIGHT_KG",
    ),
    "LABS": (
        "SUBJ",
        "VISIT",
        "LAB_DATE",
        "LAB_TIME",
        "TEST",
        "RESULT",
        "UNIT",
        "REF_LOW",
        "REF_HIGH",
    ),
    "AE": (
        "SUBJ",
        "AE_NO",
        "AE_TERM",
        "START_DT",
        "END_DT",
        "SEVERITY",
        "SERIOUS",
        "RELATED",
        "OUTCOME",
        "ACTION",
    ),
    "DISPOSITION": ("SUBJ", "DS_DATE", "STATUS", "REASON"),
}
"""Column names of every sheet of the three-arm export."""

THREE_ARM_STREAM = 0x3341
"""The design's random stream: ``default_rng([seed, THREE_ARM_STREAM])``."""

_DATE_COLUMNS = frozenset(
    {"CONSENT_DT", "BIRTH_DT", "RAND_DT", "START_DT", "END_DT", "VIS_DATE", "LAB_DATE", "DS_DATE"}
)
_NUMBER_COLUMNS = frozenset(
    {"RAND_NO", "LINE", "DOSE", "SYSBP", "DIABP", "PULSE", "WEIGHT_KG", "RESULT"}
    | {"REF_LOW", "REF_HIGH", "AE_NO"}
)

_SITES = ("01", "02", "03")
# Arms in randomisation-code order 0, 1, 2: ARMCD, daily dose (mg), labels typed in RAND_ARM.
_ARM_DOSE = np.array([0.0, 25.0, 50.0])
_ARM_LABELS = (
    ("Placebo", "PLACEBO"),
    ("Drug X 25 mg", "Drug X 25mg"),
    ("Drug X 50 mg", "Drug X 50mg"),
)
# Dose-dependent fall of systolic BP (mmHg) at full effect; diastolic falls by half as much.
_SYSBP_EFFECT = np.array([-2.0, -8.0, -13.0])

# Visits 0..6: SCREENING, BASELINE, WEEK 2, 4, 8, 12, 16; planned study days (day 1 = first
# dose); 7 = unscheduled.
_DAY = np.array([-14, 1, 15, 29, 57, 85, 113])
_WINDOW = np.array([3, 0, 3, 3, 5, 5, 5])
_UNS = 7
_VISIT_LABELS = (
    ("Screening", "SCR", "Screening (Day -14)"),
    ("Baseline", "Day 1", "BL"),
    ("Week 2", "WK2", "W2"),
    ("Week 4", "WK4", "W4"),
    ("Week 8", "WK8", "W8"),
    ("Week 12", "WK12", "W12"),
    ("Week 16", "WK16", "Week 16 / EOT"),
    ("Unscheduled", "UNS", "Unsched."),
)
# Time points: lying 5 min, standing 1 min, standing 3 min (VSTPTNUM 815, 816, 817).
_TPT_LABELS = (
    ("Supine 5 min", "Lying 5 min", "After lying down 5 minutes"),
    ("Standing 1 min", "Stand 1 min", "After standing 1 minute"),
    ("Standing 3 min", "Stand 3 min", "After standing 3 minutes"),
)
_TPT_MINUTE = np.array([0, 6, 8])  # minutes after the visit's first reading
_STANDING_SYSBP = np.array([0.0, -4.0, -1.5])
_STANDING_PULSE = np.array([0.0, 9.0, 6.0])

_SCREEN_FIRST = np.datetime64("2024-02-05", "D").astype(np.int64)
_SCREEN_SPAN = 240
_GLUCOSE_MGDL_PER_MMOLL = 18.016

# AE terms: verbatim variants and the share of treated subjects with the event by arm.
_AE_TERMS = (
    (("Dizziness", "Dizzy", "dizziness on standing"), (0.05, 0.13, 0.23)),
    (("Orthostatic hypotension", "Low BP on standing"), (0.0, 0.04, 0.10)),
    (("Headache", "headache"), (0.12, 0.10, 0.11)),
    (("Nasopharyngitis", "Common cold"), (0.08, 0.08, 0.07)),
)


def synthesize_three_arm(subjects: int = 90, seed: int = 2024) -> dict[str, pd.DataFrame]:
    """Build the synthetic raw export of the three-arm study, one frame per sheet.

    ``subjects`` is the number of randomised subjects, split 1:1:1 between Placebo, Drug X
    25 mg and Drug X 50 mg (blocks of three; a last, incomplete block takes arms at
    random). Screen failures (``subjects x 8/90``), randomised subjects never treated
    (``subjects x 2/90``) and early discontinuers (``subjects x 6/90``) are rounded half up.
    Date columns are object columns of ``str`` and ``datetime.date`` values, number columns
    floats with NaN for blank, the rest ``str``. The same arguments always give identical
    frames.

    Example:
        >>> sheets = synthesize_three_arm(subjects=6, seed=1)
        >>> list(sheets)
        ['README', 'DEMOG', 'DOSING', 'VITALS', 'LABS', 'AE', 'DISPOSITION']
        >>> sorted(sheets["DEMOG"]["RAND_ARM"].dropna().str[:9].str.upper().tolist())
        ['DRUG X 25', 'DRUG X 25', 'DRUG X 50', 'DRUG X 50', 'PLACEBO', 'PLACEBO']
    """
    if isinstance(subjects, bool) or not isinstance(subjects, (int, np.integer)):
        raise TypeError(f"subjects must be an integer, not {type(subjects).__name__}")
    if not 1 <= subjects <= 25_000:
        raise ValueError(f"subjects must be between 1 and 25000, not {subjects}")
    rng = np.random.default_rng([seed, THREE_ARM_STREAM])
    subj = _subjects(int(subjects), rng)
    visits = _visits(subj, rng)
    return {
        "README": _readme(int(subjects), seed),
        "DEMOG": _demog(subj, rng),
        "DOSING": _dosing(subj, visits, rng),
        "VITALS": _vitals(subj, visits, rng),
        "LABS": _labs(subj, visits, rng),
        "AE": _ae(subj, visits, rng),
        "DISPOSITION": _disposition(subj, visits, rng),
    }


# ----------------------------------------------------------------------------------------------


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A sheet with the export's dtypes: object dates, float numbers, str text."""
    data = {}
    for name, values in columns.items():
        if name in _DATE_COLUMNS:
            data[name] = pd.Series(np.asarray(values, dtype=object), dtype=object)
        elif name in _NUMBER_COLUMNS:
            data[name] = pd.Series(np.asarray(values, dtype=np.float64), dtype=np.float64)
        else:
            data[name] = pd.Series(np.asarray(values, dtype=object), dtype="str")
    return pd.DataFrame(data)


def _variant(
    table: tuple[tuple[str, ...], ...], codes: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One of the typed variants of each code's label, chosen per row."""
    counts = np.array([len(t) for t in table])
    padded = np.array([t + (t[0],) * (counts.max() - len(t)) for t in table], dtype=object)
    which = np.floor(rng.random(len(codes)) * counts[codes]).astype(np.intp)
    return padded[codes, which]


def _subjects(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Screened subjects: ids, status, arm, dates and the values the forms draw from."""
    n_sf = _round_half_up(n * 8 / 90)
    n_nt = _round_half_up(n * 2 / 90)
    n_dc = _round_half_up(n * 6 / 90)
    m = n + n_sf
    # Screening order; screen failures interspersed at random.
    screen = _SCREEN_FIRST + np.sort(rng.integers(0, _SCREEN_SPAN, size=m))
    failed = np.zeros(m, dtype=bool)
    failed[rng.choice(m, size=n_sf, replace=False)] = True
    site = rng.integers(0, 3, size=m)
    number = np.zeros(m, dtype=np.int64)
    for s in range(3):
        members = np.flatnonzero(site == s)
        number[members] = np.arange(1, len(members) + 1)
    site_text = np.asarray(_SITES, dtype=object)[site]
    width = max(3, len(str(int(number.max()))))
    ids = np.array(
        [f"{t}-{str(k).zfill(width)}" for t, k in zip(site_text, number, strict=True)],
        dtype=object,
    )
    # Randomisation in blocks of three, in screening order of the randomised subjects.
    rand = np.flatnonzero(~failed)
    blocks = np.concatenate([rng.permutation(3) for _ in range((n + 2) // 3)])[:n]
    arm = np.full(m, -1, dtype=np.intp)
    arm[rand] = blocks
    rand_no = np.full(m, np.nan)
    rand_no[rand] = 1001 + np.arange(n)
    # Never treated and early discontinuers among the randomised subjects.
    picked = rng.permutation(rand)
    never = np.zeros(m, dtype=bool)
    never[picked[:n_nt]] = True
    stops = np.zeros(m, dtype=bool)
    stops[picked[n_nt : n_nt + n_dc]] = True
    # Day 1: screening + 15 days +/- 2 (the screening visit is day -14).
    day1 = screen + 15 + rng.integers(-2, 3, size=m)
    consent = screen - rng.integers(0, 4, size=m)
    female = rng.random(m) < 0.45
    age = np.clip(rng.normal(56.0, 9.0, m), 30.0, 75.0)
    birth = consent - sas_round(age * 365.2425).astype(np.int64)
    return {
        "n": np.array(m),
        "id": ids,
        "site": site,
        "site_text": site_text,
        "failed": failed,
        "never": never,
        "stops": stops,
        "arm": arm,
        "rand_no": rand_no,
        "screen": screen,
        "consent": consent,
        "day1": day1,
        "birth": birth,
        "female": female,
        "sysbp": rng.normal(148.0, 9.0, m),
        "diabp": rng.normal(90.0, 6.0, m),
        "pulse": rng.normal(72.0, 7.0, m),
        "resp": rng.normal(1.0, 0.35, m),
        "weight": sas_round(
            np.where(female, rng.normal(72.0, 11.0, m), rng.normal(86.0, 12.0, m)), 1
        ),
        "gluc": _lognormal(5.8, 0.7, rng.standard_normal(m)),
        "alt": _lognormal(24.0, 8.0, np.clip(rng.standard_normal(m), -2.0, 2.0)),
    }


def _visits(subj: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Attended visits as rows (subject, visit code, date), the dosing stop and end of study.

    Screen failures attend no visit in the forms here; subjects never treated attend screening
    only; early discontinuers stop after week 2, 4 or 8. About one treated subject in twelve
    misses one of weeks 4, 8 and 12, and about one in eight has an unscheduled visit.
    """
    m = int(subj["n"])
    offset = rng.integers(-1, 2, size=(m, 7)) * rng.integers(0, 4, size=(m, 7))
    offset = np.clip(offset, -_WINDOW, _WINDOW)
    date = subj["day1"][:, None] + _DAY[None, :] - 1 + offset
    date[:, 0] = subj["screen"]
    date[:, 1] = subj["day1"]
    attended = np.ones((m, 7), dtype=bool)
    attended[subj["failed"]] = False
    attended[subj["never"], 1:] = False
    treated = ~subj["failed"] & ~subj["never"]
    # Early discontinuers: last visit week 2, 4 or 8, stop 3 to 20 days after it.
    last = np.full(m, 6)
    last[subj["stops"]] = rng.integers(2, 5, size=int(subj["stops"].sum()))
    attended &= np.arange(7)[None, :] <= last[:, None]
    stop = date[np.arange(m), last].copy()
    stop[subj["stops"]] += rng.integers(3, 21, size=int(subj["stops"].sum()))
    miss = treated & ~subj["stops"] & (rng.random(m) < 1 / 12)
    missed_code = rng.integers(3, 6, size=m)
    attended[miss, missed_code[miss]] = False
    uns = treated & (rng.random(m) < 1 / 8)
    uns_after = rng.integers(1, 5, size=m)  # after baseline .. week 8
    uns_after = np.minimum(uns_after, last - 1)
    uns &= uns_after >= 1
    uns_date = date[np.arange(m), uns_after] + rng.integers(3, 10, size=m)
    s_idx, code = np.nonzero(attended)
    day = date[s_idx, code]
    s_idx = np.append(s_idx, np.flatnonzero(uns))
    code = np.append(code, np.full(int(uns.sum()), _UNS))
    day = np.append(day, uns_date[uns])
    order = _lexsort_rows(s_idx, day, code)
    end = np.where(subj["failed"], subj["screen"] + rng.integers(1, 8, size=m), stop)
    end = np.where(subj["never"], subj["day1"] + rng.integers(0, 3, size=m), end)
    return {
        "subj": s_idx[order],
        "code": code[order],
        "day": day[order],
        "date": date,
        "treated": treated,
        "last": last,
        "stop": stop,
        "end": end,
    }


def _readme(subjects: int, seed: int) -> pd.DataFrame:
    lines = [
        "A made-up three-arm, placebo-controlled parallel study of an oral antihypertensive "
        "(Drug X 25 mg, Drug X 50 mg, placebo, once daily for 16 weeks).",
        "ALL RECORDS ARE SYNTHETIC: generated by trialflow.synth_three_arm; no real patient data.",
        f"Randomised subjects: {subjects}; seed: {seed}.",
        f"Regenerate with: trialflow synth --design three-arm --subjects {subjects} "
        f"--seed {seed} --out FILE.xlsx",
        "Sheets: DEMOG, DOSING, VITALS, LABS, AE, DISPOSITION (one per CRF form); layout in "
        "docs/raw-export.md.",
        "Visit and time-point labels, date forms and units vary on purpose, as in a real "
        "site export.",
    ]
    return _frame({_README_TITLE: np.array(lines, dtype=object)})


def _demog(subj: dict[str, np.ndarray], rng: np.random.Generator) -> pd.DataFrame:
    """DEMOG: one row per screened subject; RAND_* blank for screen failures."""
    m = int(subj["n"])
    style = rng.integers(0, 2, size=m)
    sex = np.where(
        subj["female"],
        np.array(["F", "Female"], dtype=object)[style],
        np.array(["M", "Male"], dtype=object)[style],
    )
    arm = subj["arm"]
    rand_arm = np.full(m, None, dtype=object)
    randomised = arm >= 0
    rand_arm[randomised] = _variant(_ARM_LABELS, arm[randomised], rng)
    rand_dt = np.full(m, None, dtype=object)
    rand_dt[randomised] = _mixed_dates(subj["day1"][randomised], rng)
    return _frame(
        {
            "SITE": subj["site_text"],
            "SUBJ": subj["id"],
            "CONSENT_DT": _mixed_dates(subj["consent"], rng),
            "BIRTH_DT": _mixed_dates(subj["birth"], rng),
            "SEX": sex,
            "RACE": _pick(("White", "WHITE", "Black or African American", "Asian"), m, rng,
                          p=[0.45, 0.25, 0.18, 0.12]),
            "ETHNIC": _pick(("Not Hispanic or Latino", "Hispanic or Latino"), m, rng,
                            p=[0.85, 0.15]),
            "COUNTRY": np.full(m, "United States", dtype=object),
            "RAND_NO": subj["rand_no"],
            "RAND_DT": rand_dt,
            "RAND_ARM": rand_arm,
        }
    )  # fmt: skip


def _dosing(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """DOSING: the periods of daily dosing, from day 1 to the day before week 4, to the day
    before week 12 and to week 16 (or the day dosing stopped); an early discontinuer's last
    period has no end date for every other one of them."""
    date, stop = visits["date"], visits["stop"]
    rows_s, rows_start, rows_end, rows_blank = [], [], [], []
    stopped = 0
    for s in np.flatnonzero(visits["treated"]):
        starts = [date[s, 1], date[s, 3], date[s, 5]]
        ends = [date[s, 3] - 1, date[s, 5] - 1, date[s, 6]]
        keep = [k for k, visit in enumerate((1, 3, 5)) if visit <= visits["last"][s]]
        for j, k in enumerate(keep):
            last = j == len(keep) - 1
            rows_s.append(s)
            rows_start.append(starts[k])
            rows_end.append(stop[s] if last else ends[k])
            rows_blank.append(bool(last and subj["stops"][s] and stopped % 2 == 0))
        stopped += int(subj["stops"][s])
    s = np.asarray(rows_s, dtype=np.intp)
    k = len(s)
    line = np.zeros(k)
    if k:
        first = np.r_[True, s[1:] != s[:-1]]
        pos = np.arange(k)
        line = (pos - np.maximum.accumulate(np.where(first, pos, 0)) + 1).astype(float)
    arm = subj["arm"][s]
    placebo = arm == 0
    end = _mixed_dates(np.asarray(rows_end, dtype=np.int64), rng)
    end[np.asarray(rows_blank, dtype=bool)] = None
    return _frame(
        {
            "SUBJ": subj["id"][s],
            "LINE": line,
            "DRUG": np.where(placebo, _pick(("Placebo", "placebo"), k, rng), "Drug X"),
            "DOSE": _ARM_DOSE[arm],
            "DOSE_UNIT": np.full(k, "mg", dtype=object),
            "FREQ": _pick(("once daily", "QD", "od"), k, rng),
            "START_DT": _mixed_dates(np.asarray(rows_start, dtype=np.int64), rng),
            "END_DT": end,
        }
    )


def _effect(subj: dict[str, np.ndarray], s: np.ndarray, study_day: np.ndarray) -> np.ndarray:
    """Fall of systolic BP on treatment: the arm's full effect, reached with a two-week half
    life from day 2, times the subject's response."""
    on = np.clip(study_day - 1, 0, None) / 7.0
    arm = np.maximum(subj["arm"][s], 0)
    return _SYSBP_EFFECT[arm] * (1.0 - 0.5 ** (on / 2.0)) * subj["resp"][s]


def _vitals(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """VITALS: one row per visit and time point; weight on the first row of a scheduled visit."""
    v_s, v_code, v_day = visits["subj"], visits["code"], visits["day"]
    s = np.repeat(v_s, 3)
    code = np.repeat(v_code, 3)
    day = np.repeat(v_day, 3)
    tpt = np.tile(np.arange(3), len(v_s))
    k = len(s)
    study_day = day - subj["day1"][s] + 1
    effect = _effect(subj, s, study_day)
    visit_noise = np.repeat(rng.normal(0.0, 5.0, len(v_s)), 3)
    sysbp = sas_round(
        subj["sysbp"][s] + effect + _STANDING_SYSBP[tpt] + visit_noise + rng.normal(0, 3.0, k)
    )
    diabp = sas_round(subj["diabp"][s] + effect / 2 + visit_noise / 2 + rng.normal(0, 3.0, k))
    diabp = np.minimum(diabp, sysbp - 25.0)
    pulse = sas_round(subj["pulse"][s] + _STANDING_PULSE[tpt] + rng.normal(0, 4.0, k))
    first_minute = 480 + 5 * rng.integers(0, 36, size=len(v_s))
    minute = np.repeat(first_minute, 3) + _TPT_MINUTE[tpt]
    weight = sas_round(subj["weight"][s] - 0.004 * np.clip(study_day, 0, None)
                       + rng.normal(0, 0.4, k), 1)  # fmt: skip
    weight = np.where((tpt == 0) & (code != _UNS), weight, np.nan)
    visit_label = np.repeat(_variant(_VISIT_LABELS, v_code, rng), 3)
    visit_date = np.repeat(_mixed_dates(v_day, rng), 3)
    return _frame(
        {
            "SUBJ": subj["id"][s],
            "VISIT": visit_label,
            "VIS_DATE": visit_date,
            "TPT": _variant(_TPT_LABELS, tpt, rng),
            "VS_TIME": _HHMM[minute],
            "SYSBP": sysbp,
            "DIABP": diabp,
            "PULSE": pulse,
            "WEIGHT_KG": weight,
        }
    )


def _labs(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """LABS: fasting glucose and ALT at every visit; site 03 reports glucose in mg/dL."""
    v_s, v_code, v_day = visits["subj"], visits["code"], visits["day"]
    s = np.repeat(v_s, 2)
    test = np.tile(np.arange(2), len(v_s))  # 0 glucose, 1 ALT
    k = len(s)
    gluc = np.clip(subj["gluc"][s] * np.exp(rng.normal(0, 0.06, k)), 3.5, 12.0)
    alt = np.clip(subj["alt"][s] * np.exp(rng.normal(0, 0.15, k)), 6.0, 150.0)
    mgdl = (subj["site"][s] == 2) & (test == 0)
    result = np.where(
        test == 0,
        np.where(mgdl, sas_round(gluc * _GLUCOSE_MGDL_PER_MMOLL), sas_round(gluc, 1)),
        sas_round(alt),
    )
    unit = np.where(test == 0, np.where(mgdl, "mg/dL", "mmol/L"), "U/L")
    low = np.where(test == 0, np.where(mgdl, 70.0, 3.9), 7.0)
    high = np.where(test == 0, np.where(mgdl, 99.0, 5.5), 55.0)
    minute = np.repeat(450 + 5 * rng.integers(0, 24, size=len(v_s)), 2)
    glucose_name = np.where(subj["site"][s] == 2, "GLU", "Glucose (fasting)")
    alt_name = np.where(subj["site"][s] == 1, "SGPT", "ALT")
    return _frame(
        {
            "SUBJ": subj["id"][s],
            "VISIT": np.repeat(_variant(_VISIT_LABELS, v_code, rng), 2),
            "LAB_DATE": np.repeat(_mixed_dates(v_day, rng), 2),
            "LAB_TIME": _HHMM[minute],
            "TEST": np.where(test == 0, glucose_name, alt_name),
            "RESULT": result,
            "UNIT": unit,
            "REF_LOW": low,
            "REF_HIGH": high,
        }
    )


def _ae(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """AE: each term in each treated subject with its arm's probability, starting on a random
    day of dosing and lasting 1 to 14 days (ending by the end of participation at the latest)."""
    m = int(subj["n"])
    treated = ~subj["failed"] & ~subj["never"]
    arm = np.maximum(subj["arm"], 0)
    rows_s, rows_t = [], []
    for t, (_, share) in enumerate(_AE_TERMS):
        hit = treated & (rng.random(m) < np.asarray(share)[arm])
        rows_s.extend(np.flatnonzero(hit).tolist())
        rows_t.extend([t] * int(hit.sum()))
    s = np.asarray(rows_s, dtype=np.intp)
    t = np.asarray(rows_t, dtype=np.intp)
    k = len(s)
    span = visits["stop"][s] - subj["day1"][s] + 1
    start = subj["day1"][s] + (rng.random(k) * span).astype(np.int64)
    end = np.minimum(start + rng.integers(1, 15, size=k), visits["end"][s])
    order = _lexsort_rows(s, start, t)
    s, t, start, end = s[order], t[order], start[order], end[order]
    ae_no = np.zeros(k)
    if k:
        first = np.r_[True, s[1:] != s[:-1]]
        pos = np.arange(k)
        ae_no = (pos - np.maximum.accumulate(np.where(first, pos, 0)) + 1).astype(float)
    terms = tuple(v for v, _ in _AE_TERMS)
    orthostatic = t <= 1
    return _frame(
        {
            "SUBJ": subj["id"][s],
            "AE_NO": ae_no,
            "AE_TERM": _variant(terms, t, rng) if k else np.zeros(0, dtype=object),
            "START_DT": _mixed_dates(start, rng),
            "END_DT": _date_cells(end, rng.choice(3, size=k)),
            "SEVERITY": _pick(("Mild", "MILD", "Moderate"), k, rng, p=[0.5, 0.25, 0.25]),
            "SERIOUS": _pick(("N", "No"), k, rng),
            "RELATED": np.where(
                orthostatic, _pick(("Related", "Possibly related"), k, rng), "Not related"
            ),
            "OUTCOME": _pick(("Recovered", "Recovered/Resolved"), k, rng),
            "ACTION": np.full(k, "Dose not changed", dtype=object),
        }
    )


def _disposition(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """DISPOSITION: one row per screened subject, how and when participation ended."""
    m = int(subj["n"])
    status = np.full(m, "Completed", dtype=object)
    reason = np.full(m, None, dtype=object)
    sf = subj["failed"]
    status[sf] = "Screen failure"
    reason[sf] = _pick(("BP below inclusion range", "Did not meet inclusion criterion 3",
                        "Withdrew consent before randomisation"), int(sf.sum()), rng)  # fmt: skip
    nt = subj["never"]
    status[nt] = "Withdrew"
    reason[nt] = _pick(("Withdrew consent before first dose",), int(nt.sum()), rng)
    st = subj["stops"]
    k = int(st.sum())
    kind = rng.integers(0, 3, size=k)
    status[st] = np.array(["Adverse event", "Withdrew", "Lost to follow-up"], dtype=object)[kind]
    reason[st] = np.array(
        ["Dizziness, stopped study drug", "Moved away", "Not reachable by phone"], dtype=object
    )[kind]
    return _frame(
        {
            "SUBJ": subj["id"],
            "DS_DATE": _mixed_dates(visits["end"], rng),
            "STATUS": status,
            "REASON": reason,
        }
    )
