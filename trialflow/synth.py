"""Synthetic raw CRF export of the example study (hUC-MSC infusions in type 2 diabetes).

:func:`synthesize` builds the sheets of a raw EDC export shaped as ``docs/raw-export.md``
describes: README, DEMOG, VITALS, LAB, INFUSION, AE and DISPOSITION. The design (visits,
infusions, lab schedule) follows the published single-arm pilot trial in World J Diabetes
2022;13(10):877-887; the baseline values are drawn so that the default example (16 subjects,
seed 2022) lands close to the published baseline means and time course. Every record is synthetic.

The export carries the mess of a real one on purpose: visit labels typed several ways, dates as
``12-JAN-2019`` text, ``2019/01/12`` text or real date cells, partial dates, yes/no flags
spelled three ways, site-specific lab test names and units, one missed visit and one
unscheduled visit, and one post-baseline fasting C-peptide in ng/mL on a half (such as 5.5)
whose conversion to pmol/L is a rounding tie.

Value model, in short: a subject's baseline values come from correlated normal scores mapped
through normal or lognormal margins. The demographic scores are standardised across the sample
(so small samples match the published mean and SD); the lab scores are replaced by the normal
scores of their ranks (so small samples also match the published medians, whatever the seed).
Fasting C-peptide follows from HOMA-B and FPG, which keeps HOMA-B at its published spread.
Later visits multiply (or shift) the baseline by a visit effect, a per-subject response and a
per-visit measurement noise; fasting glucose falls on its excess over 4 mmol/L, and C-peptide
follows part of each visit's glucose deviation. With the default call the example reproduces
the published pattern: FPG falls (lowest at Day 14), HbA1c falls by Day 84, HOMA-B rises at
Day 28, while HOMA-IR falls and fasting and postprandial C-peptide change, none significantly.
All randomness comes from one ``numpy.random.default_rng(seed)``, and the DISPOSITION form's
from its own ``numpy.random.default_rng([seed, 0x4453])`` (added later, it leaves the other
sheets of a seed as they were); the result depends on nothing else.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtri

from trialflow.numbers import sas_round

__all__ = ["COLUMNS", "MAX_SUBJECTS", "SHEETS", "synthesize"]

SHEETS: tuple[str, ...] = (
    "README",
    "DEMOG",
    "VITALS",
    "LAB",
    "INFUSION",
    "AE",
    "DISPOSITION",
    "CONMED",
)
"""Sheet names, in workbook order."""

README_TITLE = "trialflow synthetic raw CRF export"

COLUMNS: dict[str, tuple[str, ...]] = {
    "README": (README_TITLE,),
    "DEMOG": (
        "SITE",
        "SUBJ",
        "CONSENT_DT",
        "BIRTH_DT",
        "SEX",
        "RACE",
        "ETHNIC",
        "COUNTRY",
        "DIAB_DX_DT",
    ),
    "VITALS": (
        "SUBJ",
        "VISIT",
        "VIS_DATE",
        "HEIGHT_CM",
        "WEIGHT_KG",
        "SYSBP",
        "DIABP",
        "PULSE",
        "TEMP_C",
    ),
    "LAB": (
        "SUBJ",
        "VISIT",
        "LAB_DATE",
        "LAB_TIME",
        "FASTING",
        "TEST",
        "RESULT",
        "UNIT",
        "REF_LOW",
        "REF_HIGH",
    ),
    "INFUSION": (
        "SUBJ",
        "INF_NO",
        "INF_DATE",
        "INF_TIME",
        "GIVEN",
        "DOSE",
        "DOSE_UNIT",
        "WEIGHT_KG",
    ),
    "AE": (
        "SUBJ",
        "AE_NO",
        "AE_TERM",
        "PT",
        "SOC",
        "START_DT",
        "END_DT",
        "SEVERITY",
        "SERIOUS",
        "RELATED",
        "OUTCOME",
        "ACTION",
    ),
    "DISPOSITION": ("SUBJ", "DS_DATE", "STATUS", "REASON"),
    "CONMED": (
        "SUBJ",
        "CM_NO",
        "SECTION",
        "DRUG_NAME",
        "INDICATION",
        "DOSE",
        "DOSE_UNIT",
        "FREQ",
        "ROUTE",
        "START_DT",
        "END_DT",
        "ONGOING",
    ),
}
"""Column names of every sheet, in sheet order (README has its title as its only header)."""

MAX_SUBJECTS = 25_000
"""Largest subject count: keeps the LAB sheet (38 rows a subject) under Excel's row limit."""

# Columns holding a mix of text dates and date cells (object dtype).
_DATE_COLUMNS = frozenset(
    {"CONSENT_DT", "BIRTH_DT", "DIAB_DX_DT", "VIS_DATE", "LAB_DATE", "INF_DATE"}
    | {"START_DT", "END_DT", "DS_DATE"}
)
_NUMBER_COLUMNS = frozenset(
    {"HEIGHT_CM", "WEIGHT_KG", "SYSBP", "DIABP", "PULSE", "TEMP_C", "REF_LOW", "REF_HIGH"}
    | {"INF_NO", "DOSE", "AE_NO", "CM_NO"}
)
_MIXED_COLUMNS = frozenset({"RESULT"})  # numbers and text such as "<0.5"

# ----------------------------------------------------------------------------------------------
# Fixed vocabularies of the export
# ----------------------------------------------------------------------------------------------

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Date forms: 0 "12-JAN-2019", 1 "2019/01/12", 2 date cell, 3 "UN-JAN-2019", 4 "UN-UNK-2019".
_COMPLETE_FORMS_P = np.array([0.35, 0.25, 0.40])
_DX_FORMS_P = np.array([0.14, 0.08, 0.13, 0.40, 0.25])

_HHMM = np.array([f"{m // 60:02d}:{m % 60:02d}" for m in range(24 * 60)], dtype=object)
_YES = np.array(["Y", "Yes", "1"], dtype=object)
_NO = np.array(["N", "No", "0"], dtype=object)

# Visit codes 0..5; targets in days from the Day 0 visit (the unscheduled visit has none).
_D0, _D14, _D21, _D28, _D84, _UNS = range(6)
_TARGET = np.array([0, 14, 21, 28, 84])
_VISIT_LABELS = (
    ("Day 0", "D0", "Baseline (Day 0)"),
    ("Day 14", "D14"),
    ("Day 21", "D21"),
    ("Day 28", "D28 visit"),
    ("Day 84", "D84 visit"),
    ("Unscheduled", "UNS"),
)
_N_LABELS = np.array([len(labels) for labels in _VISIT_LABELS])
_LABEL_TABLE = np.array(
    [labels + (labels[0],) * (3 - len(labels)) for labels in _VISIT_LABELS], dtype=object
)
_WINDOW_OFFSETS = np.arange(-3, 4)
_WINDOW_P = np.array([0.04, 0.10, 0.20, 0.32, 0.20, 0.10, 0.04])

_RUN_IN_DAYS = 112  # 16 weeks of run-in between consent and the Day 0 visit
_CONSENT_FIRST = np.datetime64("2019-01-07", "D").astype(np.int64)
_CONSENT_SPAN = 145  # consent dates from 7 Jan to 31 May 2019

# The DISPOSITION form: its own random stream (0x4453 = "DS"), the share of subjects who do
# not complete, and the reasons sites typed for them.
_DISPOSITION_STREAM = 0x4453
_NOT_COMPLETED_SHARE = 1 / 8
_WITHDREW_REASONS = (
    "Withdrew consent, moved to another city",
    "Personal reasons",
    "Unwilling to attend further visits",
)
_LOST_REASONS = (
    "Did not return, not reachable by phone",
    "Could not be contacted after the last visit",
)

_GLUCOSE_MGDL_PER_MMOLL = 18.016
_CPEPTIDE_PMOLL_PER_NGML = 331.1


class _Test(NamedTuple):
    """One lab test: where it is scheduled and how each site names, scales and reports it."""

    measure: str
    visits: tuple[int, ...]
    fasting: bool
    names: tuple[str, str]  # site 01, site 02
    units: tuple[str, str]
    factor: tuple[float, float]  # canonical unit -> site unit
    decimals: tuple[int, int]
    # reference ranges [site][male, female]; NaN where the lab gives none
    low: tuple[tuple[float, float], tuple[float, float]]
    high: tuple[tuple[float, float], tuple[float, float]]
    loq: float = np.nan  # results below it are reported as text "<loq"


_NA = np.nan
_ALL_LAB_VISITS = (_D0, _D28, _D84)
_SAFETY_VISITS = (_D0, _D14, _D28, _D84)


def _same(low: float, high: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Return a reference limit pair for both sites and both sexes (helper for _TESTS)."""
    return ((low, low), (high, high))


_TESTS: tuple[_Test, ...] = (
    _Test(
        "FPG",
        (_D0, _D14, _D21, _D28, _D84, _UNS),
        True,
        ("Glucose (fasting)", "FPG"),
        ("mmol/L", "mg/dL"),
        (1.0, _GLUCOSE_MGDL_PER_MMOLL),
        (2, 0),
        ((3.9, 3.9), (70.0, 70.0)),
        ((6.1, 6.1), (110.0, 110.0)),
    ),
    _Test(
        "P2PG",
        _ALL_LAB_VISITS,
        False,
        ("Glucose 2h postprandial", "2hPG"),
        ("mmol/L", "mg/dL"),
        (1.0, _GLUCOSE_MGDL_PER_MMOLL),
        (2, 0),
        ((_NA, _NA), (_NA, _NA)),
        ((7.8, 7.8), (140.0, 140.0)),
    ),
    _Test(
        "HBA1C",
        _ALL_LAB_VISITS,
        True,
        ("HbA1c", "Glycated haemoglobin"),
        ("%", "%"),
        (1.0, 1.0),
        (1, 1),
        ((4.0, 4.0), (4.8, 4.8)),
        ((6.0, 6.0), (5.9, 5.9)),
    ),
    _Test(
        "FCP",
        _ALL_LAB_VISITS,
        True,
        ("C-peptide (fasting)", "FCP"),
        ("pmol/L", "ng/mL"),
        (1.0, 1.0 / _CPEPTIDE_PMOLL_PER_NGML),
        (1, 2),
        ((298.0, 298.0), (1.1, 1.1)),
        ((1324.0, 1324.0), (4.4, 4.4)),
    ),
    _Test(
        "P2CP",
        _ALL_LAB_VISITS,
        False,
        ("C-peptide 2h postprandial", "2hCP"),
        ("pmol/L", "ng/mL"),
        (1.0, 1.0 / _CPEPTIDE_PMOLL_PER_NGML),
        (1, 2),
        ((_NA, _NA), (_NA, _NA)),
        ((_NA, _NA), (_NA, _NA)),
    ),
    _Test(
        "WBC",
        (*_SAFETY_VISITS, _UNS),
        True,
        ("WBC", "White blood cells"),
        ("10^9/L", "10^9/L"),
        (1.0, 1.0),
        (2, 2),
        ((3.5, 3.5), (4.0, 4.0)),
        ((9.5, 9.5), (10.0, 10.0)),
    ),
    _Test(
        "ALT",
        _SAFETY_VISITS,
        True,
        ("ALT", "Alanine aminotransferase"),
        ("U/L", "U/L"),
        (1.0, 1.0),
        (0, 0),
        ((7.0, 7.0), (9.0, 9.0)),
        ((40.0, 40.0), (50.0, 50.0)),
    ),
    _Test(
        "CREAT",
        _SAFETY_VISITS,
        True,
        ("Creatinine", "Creatinine"),
        ("umol/L", "umol/L"),
        (1.0, 1.0),
        (0, 1),
        ((57.0, 41.0), (59.0, 45.0)),
        ((111.0, 81.0), (104.0, 84.0)),
    ),
    _Test(
        "AFP",
        _ALL_LAB_VISITS,
        True,
        ("AFP", "Alpha-fetoprotein"),
        ("ng/mL", "ng/mL"),
        (1.0, 1.0),
        (2, 2),
        ((_NA, _NA), (_NA, _NA)),
        ((7.0, 7.0), (8.78, 8.78)),
    ),
    _Test(
        "CEA",
        _ALL_LAB_VISITS,
        True,
        ("CEA", "CEA"),
        ("ng/mL", "ng/mL"),
        (1.0, 1.0),
        (2, 2),
        ((_NA, _NA), (_NA, _NA)),
        ((5.0, 5.0), (5.0, 5.0)),
        loq=0.5,
    ),
    _Test(
        "CA199",
        _ALL_LAB_VISITS,
        True,
        ("CA19-9", "CA 19-9"),
        ("U/mL", "U/mL"),
        (1.0, 1.0),
        (1, 1),
        ((_NA, _NA), (_NA, _NA)),
        ((37.0, 37.0), (35.0, 35.0)),
        loq=2.0,
    ),
)

# Visit effects on the canonical values, indexed by visit code (D0, D14, D21, D28, D84, UNS).
# Fasting glucose falls by a factor on its excess over _FPG_FLOOR (so it never approaches the
# 3.5 mmol/L pole of HOMA-B); the published medians 9.34 -> 6.52 mmol/L at Day 14 give 0.47.
_FPG_FLOOR = 4.0
_FPG_EXCESS_FACTOR = np.array([1.00, 0.47, 0.62, 0.735, 0.76, 0.72])
_P2PG_FACTOR = np.array([1.00, 0.78, 0.80, 0.80, 0.83, 0.82])
_HBA1C_SHIFT = np.array([0.00, -0.10, -0.20, -0.35, -0.65, -0.50])
_FCP_FACTOR = np.array([1.00, 1.085, 1.085, 1.085, 1.085, 1.085])
_P2CP_FACTOR = np.array([1.00, 1.04, 1.05, 1.06, 1.04, 1.04])
# Share of a visit's glucose deviation that C-peptide follows (secretion follows the stimulus).
_CPEPTIDE_GLUCOSE_SLOPE = 0.6
_WBC_FACTOR = np.array([1.00, 1.22, 1.08, 1.03, 1.00, 1.00])

# Published baseline figures (mean, SD), n = 16.
_AGE = (52.5, 7.91)
_DURATION = (10.06, 5.74)
_BMI = (24.47, 2.76)
_FPG = (9.66, 2.65)
_P2PG = (16.32, 4.64)
_HBA1C = (8.01, 0.63)
_HOMAB = (35.01, 24.35)
# Fasting C-peptide follows from HOMA-B and FPG (FCP = HOMA-B x (FPG - 3.5) / 0.27), so that
# HOMA-B keeps its published spread; postprandial C-peptide is FCP times a lognormal ratio
# (median, log SD) that puts its mean near the published 1596.70 pmol/L.
_P2CP_RATIO = (2.05, 0.25)

# Correlations between the baseline scores, in the order
# age, duration, BMI, FPG, P2PG, HbA1c, HOMA-B, P2CP/FCP ratio. Low beta-cell function goes
# with high glucose (FPG, HOMA-B), which keeps FCP near its published mean and SD.
_CORR_PAIRS = {
    (0, 1): 0.35,
    (1, 5): 0.15,
    (1, 6): -0.25,
    (2, 6): 0.25,
    (3, 4): 0.60,
    (3, 5): 0.50,
    (3, 6): -0.45,
    (4, 5): 0.45,
}


def synthesize(subjects: int = 16, seed: int = 2022) -> dict[str, pd.DataFrame]:
    """Build the synthetic raw export of the example study, one frame per sheet.

    Returns README, DEMOG, VITALS, LAB, INFUSION, AE and DISPOSITION in that order, with the
    columns of :data:`COLUMNS`. Date columns are object columns holding ``str`` (``12-JAN-2019``,
    ``2019/01/12``, partial ``UN-MAR-2009``) and ``datetime.date`` values; number columns are
    floats with NaN for blank; LAB ``RESULT`` holds floats and text such as ``<0.5``; the other
    columns are ``str``. The same arguments always give identical frames.

    Subjects are split between sites ``01`` and ``02`` (ids ``01-001``, ``02-001``, ...; four
    digits once a site has more than 999 subjects), about three men to one woman. With two or
    more subjects, one subject misses the Day 21 visit and another has an unscheduled visit.
    DISPOSITION has one row a subject: most complete the study; about one in eight (none of
    a single subject) withdraws or is lost to follow-up. The disposition form draws from its
    own generator (``default_rng([seed, 0x4453])``), so every other sheet of a seed is what
    it was before the form was added.

    Example:
        >>> sheets = synthesize(subjects=2, seed=1)
        >>> list(sheets)
        ['README', 'DEMOG', 'VITALS', 'LAB', 'INFUSION', 'AE', 'DISPOSITION', 'CONMED']
        >>> sheets["DEMOG"]["SUBJ"].tolist()
        ['01-001', '02-001']
    """
    if isinstance(subjects, bool) or not isinstance(subjects, (int, np.integer)):
        raise TypeError(f"subjects must be an integer, not {type(subjects).__name__}")
    if not 1 <= subjects <= MAX_SUBJECTS:
        raise ValueError(f"subjects must be between 1 and {MAX_SUBJECTS}, not {subjects}")
    rng = np.random.default_rng(seed)
    subj = _subjects(int(subjects), rng)
    visits = _visits(subj, rng)
    sheets = {
        "README": _readme(int(subjects), seed),
        "DEMOG": _demog(subj, rng),
        "VITALS": _vitals(subj, visits, rng),
        "LAB": _lab(subj, visits, rng),
        "INFUSION": _infusion(subj, visits, rng),
        "AE": _ae(subj, visits, rng),
    }
    # The disposition form draws from its own generator, so that adding it left every other
    # sheet of a seed exactly as it was.
    sheets["DISPOSITION"] = _disposition(
        subj, visits, np.random.default_rng([seed, _DISPOSITION_STREAM])
    )
    # So does the concomitant-medication form (the dose of hypoglycaemic agents over time).
    sheets["CONMED"] = _conmed(
        subj, visits, sheets["VITALS"], np.random.default_rng([seed, _CONMED_STREAM])
    )
    return sheets


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _round_half_up(x: float) -> int:
    """Round a non-negative count the way a person would (0.5 goes up)."""
    return int(sas_round(x))


def _lognormal(mean: float, sd: float, z: np.ndarray) -> np.ndarray:
    """Map normal scores onto a lognormal margin with the given arithmetic mean and SD."""
    sigma2 = np.log1p((sd / mean) ** 2)
    return np.exp(np.log(mean) - sigma2 / 2 + np.sqrt(sigma2) * z)


def _normal_scores(z: np.ndarray) -> np.ndarray:
    """Replace each column by the normal scores of its ranks (Blom), scaled to SD 1.

    The sample's scores are then the same evenly spread normal quantiles whatever the seed, so a
    small sample's median, mean and SD land on the margins' own; only the pairing across
    columns (the correlations) is random.
    """
    n = len(z)
    ranks = np.argsort(np.argsort(z, axis=0, kind="stable"), axis=0, kind="stable")
    scores = ndtri((ranks + 0.625) / (n + 0.25))
    if n >= 2:
        scores = scores / scores.std(axis=0, ddof=1)
    return scores


def _squeeze(z: np.ndarray, cap: float, knee: float = 0.0, two_sided: bool = False) -> np.ndarray:
    """Compress normal scores smoothly beyond ``knee`` so that they never pass ``cap``.

    Keeps the far tails of large samples inside plausible ranges without piling values up
    on a hard limit. Only positive scores are squeezed unless ``two_sided``.
    """
    size = np.abs(z) if two_sided else np.maximum(z, 0.0)
    width = cap - knee
    squeezed = np.where(size > knee, knee + width * np.tanh((size - knee) / width), size)
    return np.sign(z) * squeezed if two_sided else np.where(z > 0, squeezed, z)


def _date_cells(days: np.ndarray, forms: np.ndarray) -> np.ndarray:
    """Write day numbers (days since 1970-01-01) as export date cells, one form per row.

    Forms: 0 ``12-JAN-2019``, 1 ``2019/01/12``, 2 ``datetime.date``, 3 ``UN-JAN-2019``,
    4 ``UN-UNK-2019``. Only the distinct dates are formatted, so the cost does not grow
    with the row count beyond the final take.
    """
    uniq, inverse = np.unique(np.asarray(days, dtype=np.int64), return_inverse=True)
    as_date = uniq.astype("datetime64[D]").astype(object)
    table = np.empty((5, len(uniq)), dtype=object)
    table[0] = [f"{d.day:02d}-{_MONTHS[d.month - 1]}-{d.year}" for d in as_date]
    table[1] = [f"{d.year}/{d.month:02d}/{d.day:02d}" for d in as_date]
    table[2] = as_date
    table[3] = [f"UN-{_MONTHS[d.month - 1]}-{d.year}" for d in as_date]
    table[4] = [f"UN-UNK-{d.year}" for d in as_date]
    return table[np.asarray(forms, dtype=np.intp), inverse.reshape(-1)]


def _mixed_dates(days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Complete dates, each row in one of the three complete forms at random."""
    forms = rng.choice(3, size=len(days), p=_COMPLETE_FORMS_P)
    return _date_cells(days, forms)


def _flags(yes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Yes/no flags spelled Y/N, Yes/No or 1/0, the spelling chosen per row."""
    style = rng.integers(0, 3, size=len(yes))
    return np.where(yes, _YES[style], _NO[style])


def _pick(
    values: tuple[str, ...], size: int, rng: np.random.Generator, p: list[float] | None = None
) -> np.ndarray:
    """Draw ``size`` values from a small vocabulary."""
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=size, p=p)]


def _visit_labels(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Visit labels as typed: one of the variant spellings of each visit, chosen per row."""
    which = np.floor(rng.random(len(codes)) * _N_LABELS[codes]).astype(np.intp)
    return _LABEL_TABLE[codes, which]


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Assemble a sheet with the export's dtypes: object dates, float numbers, str text."""
    data = {}
    for name, values in columns.items():
        if name in _DATE_COLUMNS or name in _MIXED_COLUMNS:
            data[name] = pd.Series(np.asarray(values, dtype=object), dtype=object)
        elif name in _NUMBER_COLUMNS:
            data[name] = pd.Series(np.asarray(values, dtype=np.float64), dtype=np.float64)
        else:
            data[name] = pd.Series(np.asarray(values, dtype=object), dtype="str")
    return pd.DataFrame(data)


def _one_rounding_tie(result: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Move the eligible C-peptide result (ng/mL) nearest a half onto it, e.g. 5.48 -> 5.5.

    A result of k + 0.5 ng/mL converts to (k + 0.5) x 331.1 pmol/L, which ends in 5 at the second
    decimal: a rounding tie at the one decimal pmol/L is reported to, which the mapping must
    round as SAS's ROUND does (half away from zero). The export keeps one such case on purpose.
    """
    idx = np.flatnonzero(eligible)
    if not len(idx):
        return result
    half = np.floor(result[idx]) + 0.5
    pick = idx[np.argmin(np.abs(result[idx] - half))]
    result = result.copy()
    result[pick] = np.floor(result[pick]) + 0.5
    return result


def _lexsort_rows(*keys: np.ndarray) -> np.ndarray:
    """Row order by the keys, most significant first (subject, date, ...)."""
    return np.lexsort(tuple(reversed(keys)))


# ----------------------------------------------------------------------------------------------
# Subjects, schedule and sheets
# ----------------------------------------------------------------------------------------------


def _subjects(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-subject facts: ids, sex, dates, baseline values and random effects."""
    idx = np.arange(n)
    n01 = (n + 1) // 2
    site = (idx >= n01).astype(np.intp)  # 0 -> site 01, 1 -> site 02
    number = np.where(site == 0, idx + 1, idx - n01 + 1)
    width = max(3, len(str(n01)))
    site_text = np.where(site == 0, "01", "02")
    subj_id = np.char.add(np.char.add(site_text, "-"), np.char.zfill(number.astype(str), width))

    # Staggered consent through the first half of 2019; subject numbers follow consent order.
    consent = np.empty(n, dtype=np.int64)
    for s in (0, 1):
        members = site == s
        consent[members] = _CONSENT_FIRST + np.sort(
            rng.integers(0, _CONSENT_SPAN, size=int(members.sum()))
        )
    day0 = consent + _RUN_IN_DAYS + rng.integers(-3, 8, size=n)

    n_female = _round_half_up(n / 4)
    if n >= 2:
        n_female = min(max(n_female, 1), n - 1)
    female = np.zeros(n, dtype=bool)
    female[rng.choice(n, size=n_female, replace=False)] = True

    # Correlated baseline scores. The demographic ones are standardised, so that small samples
    # hit the published means and SDs; the lab ones are replaced by the normal scores of their
    # ranks, so that small samples also hit the published medians.
    corr = np.eye(8)
    for (i, j), r in _CORR_PAIRS.items():
        corr[i, j] = corr[j, i] = r
    z = rng.standard_normal((n, 8)) @ np.linalg.cholesky(corr).T
    if n >= 2:
        z[:, :3] = (z[:, :3] - z[:, :3].mean(axis=0)) / z[:, :3].std(axis=0, ddof=1)
    z[:, 3:] = _normal_scores(z[:, 3:])
    z = _squeeze(z, cap=3.0, knee=2.0, two_sided=True)

    # Age in whole years is the floor of the exact age, so aim half a year higher.
    age = np.clip(_AGE[0] + 0.5 + _AGE[1] * z[:, 0], 19.0, 70.9)
    birth = consent - sas_round(age * 365.2425).astype(np.int64)
    duration = np.clip(_lognormal(*_DURATION, z[:, 1]), 0.5, age - 18.0)
    dx = day0 - sas_round(duration * 365.25).astype(np.int64)

    bmi = np.clip(_lognormal(*_BMI, z[:, 2]), 18.0, 34.0)
    height = sas_round(np.where(female, rng.normal(158.0, 5.0, n), rng.normal(169.5, 5.5, n)), 1)
    weight = sas_round(bmi * (height / 100.0) ** 2, 1)

    fpg = np.clip(_lognormal(*_FPG, z[:, 3]), 5.0, 18.0)
    p2pg = np.maximum(np.minimum(_lognormal(*_P2PG, z[:, 4]), 30.0), fpg + 2.0)
    hba1c = np.clip(_HBA1C[0] - 1.01 + _lognormal(1.01, _HBA1C[1], z[:, 5]), 7.0, 9.5)
    homab = _lognormal(*_HOMAB, _squeeze(z[:, 6], cap=2.4, knee=1.6))
    fcp = np.clip(homab * (fpg - 3.5) / 0.27, 150.0, 3000.0)
    p2cp = fcp * np.maximum(_P2CP_RATIO[0] * np.exp(_P2CP_RATIO[1] * z[:, 7]), 1.4)

    return {
        "n": np.array(n),
        "site": site,
        "site_text": site_text,
        "id": subj_id,
        "female": female,
        "consent": consent,
        "day0": day0,
        "birth": birth,
        "dx": dx,
        "height": height,
        "weight": weight,
        "weight_drift": rng.normal(-0.4, 0.8, n),
        "sysbp": rng.normal(128.0, 11.0, n),
        "diabp": rng.normal(79.0, 7.0, n),
        "pulse": rng.normal(74.0, 7.0, n),
        "fpg": fpg,
        "p2pg": p2pg,
        "hba1c": hba1c,
        "fcp": fcp,
        "p2cp": p2cp,
        # Per-subject responses: normal scores as for the baseline values, so that the
        # sample's spread of responses (and the sizes of the mean changes) does not hang on the
        # seed.
        "resp_glucose": 0.08 * _normal_scores(rng.normal(0.0, 1.0, (n, 1)))[:, 0],
        "resp_hba1c": 0.25 * _normal_scores(rng.normal(0.0, 1.0, (n, 1)))[:, 0],
        "resp_cpeptide": 0.25 * _normal_scores(rng.normal(0.0, 1.0, (n, 1)))[:, 0],
        "wbc": _lognormal(6.3, 1.3, rng.standard_normal(n)),
        "alt": _lognormal(23.0, 8.0, _squeeze(rng.standard_normal(n), 1.8)),
        "creat": np.where(female, 60.0, 78.0) * np.exp(rng.normal(0.0, 0.13, n)),
        "afp": _lognormal(2.8, 1.2, _squeeze(rng.standard_normal(n), 1.8)),
        # Tumour markers stay normal; the low tail falls below the limit of quantification.
        "cea": np.exp(np.log(1.1) + 0.75 * _squeeze(rng.standard_normal(n), 1.55)),
        "ca199": np.exp(np.log(6.5) + 0.9 * _squeeze(rng.standard_normal(n), 1.45)),
    }


def _visits(subj: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Visit and infusion dates; the attended visits as rows (subject, visit code, day).

    Infusions 2 and 3 fall on the Day 14 and Day 21 visit dates. One subject misses the Day 21
    visit and another has one unscheduled visit between Day 28 and Day 84.
    """
    n = int(subj["n"])
    day0 = subj["day0"]
    offset = rng.choice(_WINDOW_OFFSETS, size=(n, 4), p=_WINDOW_P)
    offset_inf1 = rng.choice(_WINDOW_OFFSETS, size=n, p=_WINDOW_P)
    # Keep at least five days between consecutive infusions.
    offset[:, 1] = np.maximum(offset[:, 1], offset[:, 0] - 2)
    offset_inf1 = np.minimum(offset_inf1, offset[:, 0] + 2)
    visit_day = day0[:, None] + _TARGET[None, :] + np.column_stack([np.zeros(n, int), offset])
    infusion_day = np.column_stack([day0 + 7 + offset_inf1, visit_day[:, 1], visit_day[:, 2]])

    missed = int(rng.integers(n))
    unscheduled = (missed + 1 + int(rng.integers(max(n - 1, 1)))) % n
    unscheduled_day = visit_day[unscheduled, 3] + int(rng.integers(14, 43))

    subj_idx = np.repeat(np.arange(n), 5)
    code = np.tile(np.arange(5), n)
    day = visit_day.reshape(-1)
    if n >= 2:
        keep = ~((subj_idx == missed) & (code == _D21))
        subj_idx = np.append(subj_idx[keep], unscheduled)
        code = np.append(code[keep], _UNS)
        day = np.append(day[keep], unscheduled_day)
    order = _lexsort_rows(subj_idx, day)
    return {
        "subj": subj_idx[order],
        "code": code[order],
        "day": day[order],
        "infusion_day": infusion_day,
    }


def _readme(subjects: int, seed: int) -> pd.DataFrame:
    """The README sheet: free text in column A, headed by the title."""
    lines = [
        "Follows the design of the single-arm pilot trial of umbilical-cord mesenchymal stem "
        "cell infusions in type 2 diabetes, World J Diabetes 2022;13(10):877-887, "
        "doi 10.4239/wjd.v13.i10.877 (design and published summary figures only).",
        "ALL RECORDS ARE SYNTHETIC: generated by trialflow.synth; no real patient data.",
        f"Subjects: {subjects}; seed: {seed}.",
        f"Regenerate with: trialflow synth --subjects {subjects} --seed {seed} --out FILE.xlsx",
        "Sheets: DEMOG, VITALS, LAB, INFUSION, AE, DISPOSITION, CONMED (one per CRF form); "
        "layout in "
        "docs/raw-export.md.",
        "Visit labels, date forms, flags and lab names/units vary on purpose, as in a real "
        "site export.",
    ]
    return _frame({README_TITLE: np.array(lines, dtype=object)})


def _demog(subj: dict[str, np.ndarray], rng: np.random.Generator) -> pd.DataFrame:
    """DEMOG: one row per subject."""
    n = int(subj["n"])
    sex_style = rng.integers(0, 3, size=n)
    sex = np.where(
        subj["female"],
        np.array(["F", "Female", "female"], dtype=object)[sex_style],
        np.array(["M", "Male", "male"], dtype=object)[sex_style],
    )
    return _frame(
        {
            "SITE": subj["site_text"],
            "SUBJ": subj["id"],
            "CONSENT_DT": _mixed_dates(subj["consent"], rng),
            "BIRTH_DT": _mixed_dates(subj["birth"], rng),
            "SEX": sex,
            "RACE": _pick(("Asian", "ASIAN"), n, rng, p=[0.7, 0.3]),
            "ETHNIC": np.full(n, "Not Hispanic or Latino", dtype=object),
            "COUNTRY": np.full(n, "China", dtype=object),
            "DIAB_DX_DT": _date_cells(subj["dx"], rng.choice(5, size=n, p=_DX_FORMS_P)),
        }
    )


def _vitals(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """VITALS: one row per attended visit; height at Day 0 only."""
    s, code, day = visits["subj"], visits["code"], visits["day"]
    v = len(s)
    baseline = code == _D0
    followed = (day - subj["day0"][s]) / 84.0  # fraction of the 84-day follow-up
    drifted = subj["weight"][s] + subj["weight_drift"][s] * followed + rng.normal(0, 0.3, v)
    weight = np.where(baseline, subj["weight"][s], sas_round(drifted, 1))
    sysbp = sas_round(subj["sysbp"][s] + rng.normal(0.0, 6.0, v))
    diabp = np.minimum(sas_round(subj["diabp"][s] + rng.normal(0.0, 4.0, v)), sysbp - 25.0)
    return _frame(
        {
            "SUBJ": subj["id"][s],
            "VISIT": _visit_labels(code, rng),
            "VIS_DATE": _mixed_dates(day, rng),
            "HEIGHT_CM": np.where(baseline, subj["height"][s], np.nan),
            "WEIGHT_KG": weight,
            "SYSBP": sysbp,
            "DIABP": diabp,
            "PULSE": sas_round(subj["pulse"][s] + rng.normal(0.0, 5.0, v)),
            "TEMP_C": sas_round(np.clip(rng.normal(36.5, 0.2, v), 36.0, 37.2), 1),
        }
    )


def _canonical_labs(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """True lab values (canonical units: mmol/L, %, pmol/L, ...) at every attended visit."""
    s, c = visits["subj"], visits["code"]
    v = len(s)
    post = c != _D0

    def noise(sd: float) -> np.ndarray:
        return np.where(post, rng.normal(0.0, sd, v), 0.0)

    glucose_resp = np.where(post, subj["resp_glucose"][s], 0.0)
    cp_resp = np.where(post, subj["resp_cpeptide"][s], 0.0)
    glucose_dev = glucose_resp + noise(0.10)
    excess = (subj["fpg"][s] - _FPG_FLOOR) * _FPG_EXCESS_FACTOR[c] * np.exp(glucose_dev)
    fpg = _FPG_FLOOR + excess
    fpg = np.where(fpg < 3.9, 3.9 + 0.4 * rng.random(v), fpg)  # stays above 3.5 mmol/L
    p2pg = subj["p2pg"][s] * _P2PG_FACTOR[c] * np.exp(glucose_resp + noise(0.12))
    p2pg = np.maximum(p2pg, fpg + 1.5)
    hba1c = subj["hba1c"][s] + _HBA1C_SHIFT[c] + np.where(post, subj["resp_hba1c"][s], 0.0)
    hba1c = np.maximum(hba1c + noise(0.15), 5.6)
    cp_dev = cp_resp + _CPEPTIDE_GLUCOSE_SLOPE * glucose_dev
    fcp = subj["fcp"][s] * _FCP_FACTOR[c] * np.exp(cp_dev + noise(0.12))
    p2cp = np.maximum(subj["p2cp"][s] * _P2CP_FACTOR[c] * np.exp(cp_dev + noise(0.15)), 1.2 * fcp)
    return {
        "FPG": fpg,
        "P2PG": p2pg,
        "HBA1C": hba1c,
        "FCP": fcp,
        "P2CP": p2cp,
        "WBC": subj["wbc"][s] * _WBC_FACTOR[c] * np.exp(rng.normal(0.0, 0.08, v)),
        "ALT": subj["alt"][s] * np.exp(rng.normal(0.0, 0.12, v)),
        "CREAT": subj["creat"][s] * np.exp(rng.normal(0.0, 0.05, v)),
        "AFP": np.minimum(subj["afp"][s] * np.exp(rng.normal(0.0, 0.10, v)), 6.9),
        "CEA": np.minimum(subj["cea"][s] * np.exp(rng.normal(0.0, 0.12, v)), 4.9),
        "CA199": np.minimum(subj["ca199"][s] * np.exp(rng.normal(0.0, 0.12, v)), 34.0),
    }


def _lab(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """LAB: one row per result, named, scaled and rounded the way each site's lab reports."""
    values = _canonical_labs(subj, visits, rng)
    v = len(visits["subj"])
    fasting_minute = 450 + rng.integers(-8, 9, size=v)  # about 07:30
    postprandial_minute = 600 + rng.integers(-10, 16, size=v)  # about 10:00

    keys = ("row", "order", "minute", "fasting", "name", "unit", "result", "low", "high", "loq")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for order, test in enumerate(_TESTS):
        rows = np.flatnonzero(np.isin(visits["code"], test.visits))
        site = subj["site"][visits["subj"][rows]]
        sex = subj["female"][visits["subj"][rows]].astype(np.intp)
        factor = np.asarray(test.factor)[site]
        decimals = np.asarray(test.decimals, dtype="float64")[site]
        result = sas_round(values[test.measure][rows] * factor, decimals)
        if test.measure == "FCP":
            post_site02 = (site == 1) & (visits["code"][rows] != _D0)
            result = _one_rounding_tie(result, post_site02)
        parts["row"].append(rows)
        parts["order"].append(np.full(len(rows), order))
        parts["minute"].append(fasting_minute[rows] if test.fasting else postprandial_minute[rows])
        parts["fasting"].append(np.full(len(rows), test.fasting))
        parts["name"].append(np.asarray(test.names, dtype=object)[site])
        parts["unit"].append(np.asarray(test.units, dtype=object)[site])
        parts["result"].append(result)
        parts["low"].append(np.asarray(test.low)[site, sex])
        parts["high"].append(np.asarray(test.high)[site, sex])
        parts["loq"].append(np.full(len(rows), test.loq))
    cat = {k: np.concatenate(p) for k, p in parts.items()}
    row = cat["row"]
    s = visits["subj"][row]
    day = visits["day"][row]
    order = _lexsort_rows(s, day, cat["minute"], cat["order"])
    cat = {k: a[order] for k, a in cat.items()}
    row, s, day = row[order], s[order], day[order]

    result = np.empty(len(row), dtype=object)
    result[:] = cat["result"].tolist()
    below = cat["result"] < cat["loq"]  # NaN limits compare False
    result[below] = np.char.add("<", cat["loq"][below].astype(str)).astype(object)
    return _frame(
        {
            "SUBJ": subj["id"][s],
            "VISIT": _visit_labels(visits["code"][row], rng),
            "LAB_DATE": _mixed_dates(day, rng),
            "LAB_TIME": _HHMM[cat["minute"]],
            "FASTING": _flags(cat["fasting"], rng),
            "TEST": cat["name"],
            "RESULT": result,
            "UNIT": cat["unit"],
            "REF_LOW": cat["low"],
            "REF_HIGH": cat["high"],
        }
    )


def _infusion(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """INFUSION: three planned infusions a subject, all given, 1 x 10^6 cells/kg."""
    n = int(subj["n"])
    infusion_day = visits["infusion_day"]
    s = np.repeat(np.arange(n), 3)
    minute = 540 + 5 * rng.integers(0, 19, size=3 * n)  # 09:00 to 10:30, after fasting samples
    return _frame(
        {
            "SUBJ": subj["id"][s],
            "INF_NO": np.tile([1.0, 2.0, 3.0], n),
            "INF_DATE": _mixed_dates(infusion_day.reshape(-1), rng),
            "INF_TIME": _HHMM[minute],
            "GIVEN": _flags(np.ones(3 * n, dtype=bool), rng),
            "DOSE": np.ones(3 * n),
            "DOSE_UNIT": np.full(3 * n, "x10^6 cells/kg", dtype=object),
            "WEIGHT_KG": subj["weight"][s],
        }
    )


def _ae(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """AE: transient fever after the 2nd or 3rd infusion and nocturnal hypoglycaemia.

    Rates follow the published safety figures: a quarter of the subjects have fever, a quarter
    of those twice (after both infusions), and one subject in 16 has one hypoglycaemia near
    Day 28. One END_DT is written as a partial date.
    """
    n = int(subj["n"])
    n_fever = _round_half_up(n / 4)
    n_twice = _round_half_up(n_fever / 4)
    n_hypo = _round_half_up(n / 16)
    fever_subj = rng.choice(n, size=n_fever, replace=False)
    twice, once = fever_subj[:n_twice], fever_subj[n_twice:]
    f_subj = np.concatenate([twice, twice, once])
    f_inf = np.concatenate(
        [np.full(n_twice, 2), np.full(n_twice, 3), rng.integers(2, 4, size=len(once))]
    ).astype(np.intp)
    f_start = visits["infusion_day"][f_subj, f_inf - 1] + rng.integers(0, 2, size=len(f_subj))
    h_subj = rng.choice(n, size=n_hypo, replace=False)
    h_start = subj["day0"][h_subj] + 28 + rng.integers(-2, 3, size=n_hypo)

    nf, nh = len(f_subj), n_hypo
    s = np.concatenate([f_subj, h_subj]).astype(np.intp)
    start = np.concatenate([f_start, h_start]).astype(np.int64)
    end = np.concatenate([f_start + 1, h_start]).astype(np.int64)
    fever = np.arange(nf + nh) < nf
    inf_no = np.concatenate([f_inf, np.zeros(nh, dtype=np.intp)])

    # Free-text terms: each variant used in turn over a random order of the events.
    f_rank = rng.permutation(nf) % 3
    after = np.where(f_inf == 2, "fever after 2nd infusion", "fever after 3rd infusion")
    f_term = np.where(f_rank == 0, "Fever", np.where(f_rank == 1, after, "Pyrexia (transient)"))
    h_rank = rng.permutation(nh) % 2
    h_term = np.where(h_rank == 0, "low blood sugar at night", "Nocturnal hypoglycaemia")
    term = np.concatenate([f_term.astype(object), h_term.astype(object)])

    m = nf + nh
    severity = np.where(
        fever,
        _pick(("Mild", "MILD", "Moderate"), m, rng, p=[0.45, 0.35, 0.20]),
        _pick(("Mild", "MILD"), m, rng),
    )
    related = np.where(
        fever,
        _pick(("Related", "Possibly related"), m, rng, p=[0.6, 0.4]),
        _pick(("Possibly related", "Not related"), m, rng),
    )
    action = np.where(
        fever & (inf_no == 2), _pick(("Dose not changed", "None"), m, rng), "Not applicable"
    )
    end_forms = rng.choice(3, size=m, p=_COMPLETE_FORMS_P)
    if m:
        end_forms[rng.integers(m)] = 3  # one partial end date, e.g. UN-FEB-2019

    order = _lexsort_rows(s, start, end)
    s_sorted = s[order]
    first = np.r_[True, s_sorted[1:] != s_sorted[:-1]] if m else np.zeros(0, dtype=bool)
    position = np.arange(m)
    ae_no = position - np.maximum.accumulate(np.where(first, position, 0)) + 1
    soc = np.where(
        fever,
        "General disorders and administration site conditions",
        "Metabolism and nutrition disorders",
    )
    columns = {
        "SUBJ": subj["id"][s],
        "AE_NO": np.zeros(m),
        "AE_TERM": term,
        "PT": np.where(fever, "Pyrexia", "Hypoglycaemia").astype(object),
        "SOC": soc.astype(object),
        "START_DT": _mixed_dates(start, rng),
        "END_DT": _date_cells(end, end_forms),
        "SEVERITY": severity,
        "SERIOUS": _pick(("N", "No", "0"), m, rng),
        "RELATED": related,
        "OUTCOME": _pick(("Recovered", "Recovered/Resolved"), m, rng),
        "ACTION": action.astype(object),
    }
    columns = {k: np.asarray(a, dtype=object)[order] for k, a in columns.items()}
    columns["AE_NO"] = ae_no.astype(np.float64)
    return _frame(columns)


def _disposition(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """DISPOSITION: one row per subject, how and when the subject's participation ended.

    About one subject in eight (rounded half up; none when there is a single subject) does not
    complete: the first half of them (rounded up) withdraw, the others are lost to follow-up,
    each with a free-text REASON. A completer's DS_DATE is the date of the last visit; a
    non-completer's is 3 to 10 days after it (the day the site recorded the withdrawal or gave
    up contacting the subject), so that no record of the subject follows the end of their
    participation. ``rng`` is the form's own generator, so the other sheets do not depend on
    this one.
    """
    n = int(subj["n"])
    k = _round_half_up(n * _NOT_COMPLETED_SHARE) if n >= 2 else 0
    who = rng.choice(n, size=k, replace=False)
    n_withdrew = (k + 1) // 2
    status = np.full(n, "Completed", dtype=object)
    status[who[:n_withdrew]] = "Withdrew"
    status[who[n_withdrew:]] = "Lost to follow-up"
    reason = np.full(n, None, dtype=object)
    reason[who[:n_withdrew]] = _pick(_WITHDREW_REASONS, n_withdrew, rng)
    reason[who[n_withdrew:]] = _pick(_LOST_REASONS, k - n_withdrew, rng)

    # Visit rows are sorted by subject and day: each subject's last visit.
    s, day = visits["subj"], visits["day"]
    last_row = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    last = np.zeros(n, dtype=np.int64)
    last[s[last_row]] = day[last_row]
    date = last.copy()
    date[who] = last[who] + rng.integers(3, 11, size=k)
    return _frame(
        {
            "SUBJ": subj["id"],
            "DS_DATE": _mixed_dates(date, rng),
            "STATUS": status,
            "REASON": reason,
        }
    )


# ----------------------------------------------------------------------------------------------
# The CONMED form: background therapy and other concomitant medication
# ----------------------------------------------------------------------------------------------

# The CONMED form draws from its own random stream (0x434D = "CM"), so that adding it left
# every other sheet of a seed exactly as it was.
_CONMED_STREAM = 0x434D


class _Agent(NamedTuple):
    """A hypoglycaemic agent as the export types it, and the doses a physician steps through.

    ``ladder`` lists (dose per administration, frequency code) from the lowest regimen up; an
    insulin has no ladder (its dose per administration is any whole number of units) and
    ``frequency`` instead. ``ddd`` is the WHO ATC/DDD defined daily dose in ``unit`` (used only
    to calibrate the example; the analysis takes its DDDs from study.yaml).
    """

    names: tuple[str, ...]
    ddd: float
    insulin: bool
    ladder: tuple[tuple[float, str], ...] = ()
    frequency: str = ""


# Administrations a day of each frequency code (the same table cm.yaml declares for CMDOSTOT).
_PER_DAY = {"QD": 1, "BID": 2, "TID": 3, "QHS": 1}
# Frequencies as typed: the code, then the ways sites wrote it.
_FREQ_TEXT = {
    "QD": ("QD", "once daily", "od", "qd"),
    "BID": ("BID", "twice daily", "bd", "bid"),
    "TID": ("TID", "three times daily", "tds", "with meals"),
    "MEALS": ("with meals", "With meals", "TID"),
    "QHS": ("at bedtime", "QHS", "nocte"),
    "PRN": ("PRN", "as needed"),
}
_ORAL_TEXT = ("PO", "oral", "Oral", "po")
_SC_TEXT = ("SC", "subcutaneous", "s.c.", "Subcutaneous")
_MG_TEXT = ("mg", "MG", "mg", "Mg")
_U_TEXT = ("U", "IU", "units", "Units", "iu")
_DIABETES_TEXT = ("T2DM", "type 2 diabetes", "Diabetes", "DM2")

# The agents of the example's background therapy (World J Diabetes 2022: oral hypoglycaemic
# agents and/or insulin), with brand, generic and misspelt names as typed. DDDs: WHO ATC/DDD
# index (metformin 2 g, glimepiride 2 mg, acarbose 0.3 g, sitagliptin 0.1 g, repaglinide 4 mg,
# insulins 40 U).
_AGENTS: dict[str, _Agent] = {
    "MET": _Agent(
        ("Glucophage", "metformin HCl", "Metfromin", "Metformin", "metformin hydrochloride"),
        2000.0, False, ((500.0, "QD"), (500.0, "BID"), (500.0, "TID"), (1000.0, "BID")),
    ),
    "GLIM": _Agent(
        ("Amaryl", "glimepiride", "Glimepride"),
        2.0, False, ((1.0, "QD"), (2.0, "QD"), (3.0, "QD"), (4.0, "QD")),
    ),
    "ACAR": _Agent(
        ("Glucobay", "acarbose", "Acarbos"),
        300.0, False, ((50.0, "QD"), (50.0, "BID"), (50.0, "MEALS"), (100.0, "MEALS")),
    ),
    "SITA": _Agent(("Januvia", "sitagliptin", "Sitagliptine"), 100.0, False,
                   ((50.0, "QD"), (100.0, "QD"))),
    "REPA": _Agent(
        ("NovoNorm", "repaglinide", "Repaglinid"),
        4.0, False, ((0.5, "MEALS"), (1.0, "MEALS"), (2.0, "MEALS")),
    ),
    "GLAR": _Agent(("Lantus", "insulin glargine", "Glargine", "lantus solostar"), 40.0, True,
                   frequency="QHS"),
    "ASP": _Agent(("NovoRapid", "insulin aspart", "Novorapid flexpen"), 40.0, True,
                  frequency="MEALS"),
    "BIAS": _Agent(("Novomix 30", "NovoMix30", "biphasic insulin aspart 30"), 40.0, True,
                   frequency="BID"),
}  # fmt: skip
_AGENT_KEYS = tuple(_AGENTS)

# Baseline regimens: (agent, ladder level) for oral agents, (agent, U/kg a day) for insulins;
# with the share of subjects on each. About two in five use insulin.
_REGIMENS: tuple[tuple[tuple[str, float], ...], ...] = (
    (("MET", 3), ("GLIM", 1)),
    (("MET", 2), ("GLAR", 0.35)),
    (("MET", 3), ("SITA", 1)),
    (("BIAS", 0.5), ("MET", 2)),
    (("MET", 3), ("ACAR", 3)),
    (("GLAR", 0.25), ("ASP", 0.25), ("MET", 1)),
    (("REPA", 1), ("MET", 2)),
    (("GLIM", 2), ("ACAR", 2), ("MET", 3)),
)
_REGIMEN_P = np.array([0.18, 0.16, 0.12, 0.12, 0.12, 0.10, 0.10, 0.10])

# Dose paths: the target total dose (in DDDs, as a share of baseline) at Day 14, 21, 28 and 84,
# and the band it must fall in. Bands by the reduction categories: 0 "<10 % or increase"
# (ratio above 0.9), 1 "10 to <50 %" (0.5 to 0.9), 2 ">= 50 %" (up to 0.5), 3 all stopped.
# Paths: A stops every agent by Day 84; B halves by Day 28; C halves by Day 84; D and E reduce
# by 10-50 % (E already at Day 14). Shares of the example: 1, 3, 2 and 10 of 16.
_PATHS = {
    "A": ((0.80, 1), (0.65, 1), (0.40, 2), (0.0, 3)),
    "B": ((0.80, 1), (0.60, 1), (0.38, 2), (0.30, 2)),
    "C": ((1.00, 0), (0.80, 1), (0.66, 1), (0.40, 2)),
    "D": ((1.00, 0), (0.84, 1), (0.75, 1), (0.70, 1)),
    "E": ((0.85, 1), (0.78, 1), (0.74, 1), (0.68, 1)),
}
_BANDS = ((0.91, 1.0), (0.51, 0.89), (0.01, 0.49), (0.0, 0.0))
# Insulin is withdrawn at the visit after its total daily dose fell to <= 0.2 U/kg.
_INSULIN_WITHDRAW_U_PER_KG = 0.2

_OTHER_MEDS = (
    # names as typed, dose (mg), frequency code, indications as typed
    (("Norvasc", "amlodipine", "Amlodipine besylate"), 5.0, "QD", ("hypertension", "HTN")),
    (("Lipitor", "atorvastatin", "Atorvastatine"), 20.0, "QHS", ("hyperlipidaemia", "lipids")),
    (("Cozaar", "losartan"), 50.0, "QD", ("hypertension", "HTN")),
    (("Aspirin", "aspirin", "ASA"), 100.0, "QD", ("CV prophylaxis", "cardiovascular prevention")),
)
_PARACETAMOL = (("Paracetamol", "paracetamol", "Tylenol"), 500.0, "PRN", ("fever", "Fever"))


def _regimen_states(
    subj: dict[str, np.ndarray],
    visit_day: np.ndarray,
    attended: np.ndarray,
    weight: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each subject's diabetes regimen at Day 0, 14, 21, 28 and 84.

    Returns (subject, agent code, dose per administration at each of the 5 visits (0 when
    not taken), ladder level at each visit (-1 when not taken)) with one row per agent a
    subject takes at baseline. The dose at each later visit is chosen among the regimens a
    physician reaches by stepping each agent down its ladder (or stopping it), insulin by
    tenths of its baseline dose: the one nearest the subject's path target inside the band
    of the path, preferring insulin cuts and few changes. Nothing increases. A subject who
    misses a visit keeps the previous regimen there.
    """
    n = int(subj["n"])
    regimen = rng.choice(len(_REGIMENS), size=n, p=_REGIMEN_P)
    n_a = _round_half_up(n / 16)
    n_b = max(_round_half_up(n / 4) - n_a, 0)
    n_c = max(_round_half_up(6 * n / 16) - n_a - n_b, 0)
    n_de = n - n_a - n_b - n_c
    paths = np.array(["A"] * n_a + ["B"] * n_b + ["C"] * n_c + ["D"] * n_de, dtype=object)
    if n_de:
        paths[n_a + n_b + n_c :] = np.where(rng.random(n_de) < 0.5, "D", "E")
    paths = paths[rng.permutation(n)]
    jitter = rng.uniform(-0.03, 0.03, size=(n, 4))

    rows_s, rows_a, rows_dose, rows_level = [], [], [], []
    for r, spec in enumerate(_REGIMENS):
        who = np.flatnonzero(regimen == r)
        if not len(who):
            continue
        k = len(who)
        agents = [_AGENTS[a] for a, _ in spec]
        # Baseline dose per administration of each agent, per subject.
        base = np.empty((k, len(spec)))
        per_day = np.empty((k, len(spec)))
        for j, (code, level) in enumerate(spec):
            agent = _AGENTS[code]
            if agent.insulin:
                admins = _PER_DAY["TID" if agent.frequency == "MEALS" else agent.frequency]
                base[:, j] = np.maximum(sas_round(level * weight[who, 0] / admins), 4.0)
                per_day[:, j] = admins
            else:
                dose, freq = agent.ladder[int(level)]
                base[:, j] = dose
                per_day[:, j] = _PER_DAY["TID" if freq == "MEALS" else freq]
        ddd = np.array([a.ddd for a in agents])
        base_total = (base * per_day / ddd).sum(axis=1)

        # Candidate regimens: every oral agent at a ladder level up to its baseline one (or
        # stopped, -1), every insulin at k/10 of its baseline dose (k = 0..10, one k for all).
        axes = []
        for (_code, level), agent in zip(spec, agents, strict=True):
            axes.append(np.arange(-1, int(level) + 1) if not agent.insulin else None)
        oral_axes = [a for a in axes if a is not None]
        has_insulin = any(a.insulin for a in agents)
        grids = np.meshgrid(
            *oral_axes, np.arange(11) if has_insulin else np.array([10]), indexing="ij"
        )
        cand_level = np.stack([g.reshape(-1) for g in grids[:-1]], axis=1).astype(np.intp)
        cand_tenth = grids[-1].reshape(-1)
        m = len(cand_tenth)
        # Oral daily dose in DDDs of each candidate (the same for every subject).
        oral_ddd = np.zeros(m)
        oral_cols = [j for j, a in enumerate(agents) if not a.insulin]
        for c, j in enumerate(oral_cols):
            agent = agents[j]
            lv = cand_level[:, c]
            doses = np.array([d * _PER_DAY["TID" if f == "MEALS" else f] for d, f in agent.ladder])
            oral_ddd += np.where(lv >= 0, doses[np.maximum(lv, 0)], 0.0) / agent.ddd
        ins_cols = [j for j, a in enumerate(agents) if a.insulin]
        # Insulin dose per administration of each candidate, per subject: (k, m, insulins).
        ins_dose = sas_round(base[:, None, ins_cols] * cand_tenth[None, :, None] / 10.0)
        ins_total = (ins_dose * per_day[:, None, ins_cols]).sum(axis=2)  # U a day
        ratio = (oral_ddd[None, :] + ins_total / 40.0) / base_total[:, None]

        level_now = np.tile(np.array([lv for _, lv in spec], dtype=float), (k, 1))
        oral_now = level_now[:, oral_cols].astype(np.intp)
        tenth_now = np.full(k, 10)
        dose = np.zeros((k, len(spec), 5))
        level_out = np.full((k, len(spec), 5), -1, dtype=np.intp)
        dose[:, :, 0] = base
        level_out[:, oral_cols, 0] = oral_now
        ins_now = ins_total[:, -1] if has_insulin else np.zeros(k)
        for v in range(1, 5):
            target = np.array([_PATHS[p][v - 1][0] for p in paths[who]]) + jitter[who, v - 1]
            band = np.array([_PATHS[p][v - 1][1] for p in paths[who]])
            lo = np.array([_BANDS[b][0] for b in band])
            hi = np.array([_BANDS[b][1] for b in band])
            allowed = np.all(cand_level[None, :, :] <= oral_now[:, None, :], axis=2)
            allowed &= cand_tenth[None, :] <= tenth_now[:, None]
            # Insulin is stopped only after a visit at <= 0.2 U/kg, and then must stop.
            w_prev = weight[who, v - 1]
            withdraw = (ins_now > 0) & (ins_now <= _INSULIN_WITHDRAW_U_PER_KG * w_prev)
            if has_insulin:
                stopped = (tenth_now == 0) | withdraw | (band == 3)
                allowed &= (cand_tenth[None, :] > 0) | stopped[:, None]
                allowed &= (cand_tenth[None, :] == 0) | ~withdraw[:, None]
                # A cut that rounds to 0 U is a stop, not a dose.
                allowed &= (cand_tenth[None, :] == 0) | (ins_total > 0)
            in_band = allowed & (ratio >= lo[:, None] - 1e-9) & (ratio <= hi[:, None] + 1e-9)
            changes = (cand_level[None, :, :] != oral_now[:, None, :]).sum(axis=2) * 0.03
            changes = changes + (cand_tenth[None, :] != tenth_now[:, None]) * 0.01
            cost = np.abs(ratio - target[:, None]) + changes
            cost = np.where(in_band, cost, np.where(allowed, 10.0 + cost, np.inf))
            pick = np.argmin(cost, axis=1)
            keep = ~attended[who, v]  # a missed visit changes nothing
            pick = np.where(keep, -1, pick)
            chosen = pick >= 0
            rows = np.arange(k)
            oral_now = np.where(chosen[:, None], cand_level[np.maximum(pick, 0)], oral_now)
            tenth_now = np.where(chosen, cand_tenth[np.maximum(pick, 0)], tenth_now)
            ins_now = np.where(chosen, ins_total[rows, np.maximum(pick, 0)], ins_now)
            for c, j in enumerate(oral_cols):
                ladder = np.array([d for d, _ in agents[j].ladder])
                lv = oral_now[:, c]
                dose[:, j, v] = np.where(lv >= 0, ladder[np.maximum(lv, 0)], 0.0)
                level_out[:, j, v] = lv
            for c, j in enumerate(ins_cols):
                prev = dose[:, j, v - 1]
                new = ins_dose[rows, np.maximum(pick, 0), c]
                dose[:, j, v] = np.where(chosen, new, prev)
        for j, (code, _) in enumerate(spec):
            rows_s.append(who)
            rows_a.append(np.full(k, _AGENT_KEYS.index(code)))
            rows_dose.append(dose[:, j, :])
            rows_level.append(level_out[:, j, :])
    if not rows_s:
        return (
            np.zeros(0, np.intp),
            np.zeros(0, np.intp),
            np.zeros((0, 5)),
            np.zeros((0, 5), np.intp),
        )
    return (
        np.concatenate(rows_s),
        np.concatenate(rows_a),
        np.concatenate(rows_dose),
        np.concatenate(rows_level),
    )


def _visit_grid(
    subj: dict[str, np.ndarray], visits: dict[str, np.ndarray], vitals: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Day, attendance and weight (kg, as VITALS has it) of each subject's 5 planned visits.

    A missed visit keeps its planned day and the weight of the visit before it.
    """
    n = int(subj["n"])
    day = subj["day0"][:, None] + _TARGET[None, :]
    attended = np.zeros((n, 5), dtype=bool)
    weight = np.full((n, 5), np.nan)
    planned = visits["code"] < _UNS
    s, code = visits["subj"][planned], visits["code"][planned]
    day[s, code] = visits["day"][planned]
    attended[s, code] = True
    weight[s, code] = vitals["WEIGHT_KG"].to_numpy()[planned]
    for v in range(1, 5):
        weight[:, v] = np.where(np.isnan(weight[:, v]), weight[:, v - 1], weight[:, v])
    return day, attended, weight


def _year_alone_before_the_study(
    forms: np.ndarray, start: np.ndarray, day0: np.ndarray
) -> np.ndarray:
    """Date forms with the year alone (4) turned into month and year (3) where the start is in
    the year of the Day 0 visit: a site writes the year alone only for an earlier year."""
    year_start = np.asarray(start, dtype="datetime64[D]").astype("datetime64[Y]")
    year_day0 = np.asarray(day0, dtype="datetime64[D]").astype("datetime64[Y]")
    return np.where((forms == 4) & (year_start == year_day0), 3, forms)


def _conmed(
    subj: dict[str, np.ndarray],
    visits: dict[str, np.ndarray],
    vitals: pd.DataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """CONMED: one row per medication regimen as the site recorded it.

    The background diabetes therapy (SECTION "Diabetes medication") started before the study
    (start dates complete, month only or year only) and was stable until Day 0; the physician
    steps it down at the later visits (:func:`_regimen_states`): a changed dose ends the row on
    the day before the visit (END_DT, the last day of the old dose) and a new row starts on
    the visit date; a stopped agent's row ends the day before. Rows still running at the last
    visit have no END_DT and ONGOING yes. Other medication (SECTION "Other medication"):
    antihypertensives, a statin or aspirin taken throughout, and paracetamol as needed for a
    day or two after an infusion. ``rng`` is the form's own generator.
    """
    n = int(subj["n"])
    day, attended, weight = _visit_grid(subj, visits, vitals)
    s, agent, dose, level = _regimen_states(subj, day, attended, weight, rng)
    is_insulin = np.array([_AGENTS[_AGENT_KEYS[a]].insulin for a in agent], dtype=bool)
    # A regimen is an insulin's dose, an oral agent's ladder level (dose and frequency).
    state = np.where(is_insulin[:, None], dose, level)
    active = np.where(is_insulin[:, None], dose > 0, level >= 0)

    # Runs of one regimen: a row starts at Day 0 and at every visit whose regimen differs.
    changed = np.concatenate([np.ones((len(s), 1), bool), state[:, 1:] != state[:, :-1]], axis=1)
    starts = changed & active
    r_idx, r_vis = np.nonzero(starts)
    # The run ends at the next visit where the dose changes (if any).
    nxt = np.full(dose.shape, 5)
    for v in range(3, -1, -1):
        nxt[:, v] = np.where(changed[:, v + 1], v + 1, nxt[:, v + 1] if v + 1 < 5 else 5)
    end_vis = nxt[r_idx, r_vis]
    subj_of = s[r_idx]
    start_day = day[subj_of, r_vis]
    # Baseline rows started before the study: 2 months to 6 years before Day 0, never before
    # the diagnosis.
    first = r_vis == 0
    earliest = np.maximum(subj["dx"][subj_of], subj["day0"][subj_of] - 6 * 365)
    latest = subj["day0"][subj_of] - 62
    span = np.maximum(latest - earliest, 1)
    before = latest - np.floor(rng.random(len(r_idx)) * span).astype(np.int64)
    start_day = np.where(first, np.minimum(before, latest), start_day)
    start_form = np.where(
        first,
        rng.choice(5, size=len(r_idx), p=[0.2, 0.15, 0.15, 0.3, 0.2]),
        rng.choice(3, size=len(r_idx), p=_COMPLETE_FORMS_P),
    )
    start_form = _year_alone_before_the_study(start_form, start_day, day[subj_of, 0])
    ongoing = end_vis >= 5
    end_day = np.where(ongoing, 0, day[subj_of, np.minimum(end_vis, 4)] - 1)

    agents = [_AGENTS[_AGENT_KEYS[a]] for a in agent[r_idx]]
    insulin = np.array([a.insulin for a in agents], dtype=bool)
    freq_code = np.array(
        [
            a.frequency if a.insulin else a.ladder[lv][1]
            for a, lv in zip(agents, level[r_idx, r_vis], strict=True)
        ],
        dtype=object,
    )
    # One typed name per subject and agent, one typed unit and route per subject.
    name_pick = rng.integers(0, 1000, size=len(s))[r_idx]
    names = np.array(
        [a.names[i % len(a.names)] for a, i in zip(agents, name_pick, strict=True)], dtype=object
    )
    unit_style = rng.integers(0, 1000, size=n)[subj_of]
    unit = np.where(
        insulin,
        np.array(_U_TEXT, dtype=object)[unit_style % len(_U_TEXT)],
        np.array(_MG_TEXT, dtype=object)[unit_style % len(_MG_TEXT)],
    )
    route = np.where(insulin, _pick(_SC_TEXT, len(r_idx), rng), _pick(_ORAL_TEXT, len(r_idx), rng))
    freq = np.array(
        [
            _FREQ_TEXT[f][i % len(_FREQ_TEXT[f])]
            for f, i in zip(freq_code, rng.integers(0, 1000, size=len(r_idx)), strict=True)
        ],
        dtype=object,
    )
    diabetes = {
        "s": subj_of,
        "section": np.full(len(r_idx), "Diabetes medication", dtype=object),
        "name": names,
        "indication": _pick(_DIABETES_TEXT, len(r_idx), rng),
        "dose": dose[r_idx, r_vis],
        "unit": unit,
        "freq": freq,
        "route": route,
        "start": start_day,
        "start_form": start_form,
        "end": end_day,
        "ongoing": ongoing,
    }

    # Other medication: 0-2 long-term drugs a subject, and paracetamol for some after an
    # infusion.
    n_other = rng.choice(3, size=n, p=[0.35, 0.40, 0.25])
    o_s = np.repeat(np.arange(n), n_other)
    o_med = (
        np.concatenate(
            [rng.choice(len(_OTHER_MEDS), size=k, replace=False) for k in n_other]
        ).astype(np.intp)
        if n
        else np.zeros(0, np.intp)
    )
    o_start = subj["day0"][o_s] - rng.integers(90, 8 * 365, size=len(o_s))
    p_s = np.flatnonzero(rng.random(n) < 0.2)
    p_start = visits["infusion_day"][p_s, rng.integers(1, 3, size=len(p_s))]
    p_end = p_start + rng.integers(1, 3, size=len(p_s))
    meds = [*_OTHER_MEDS, _PARACETAMOL]
    m_idx = np.concatenate([o_med, np.full(len(p_s), len(_OTHER_MEDS))]).astype(np.intp)
    m_s = np.concatenate([o_s, p_s]).astype(np.intp)
    k = len(m_idx)
    pick = rng.integers(0, 1000, size=k)
    names = [meds[i][0][p % len(meds[i][0])] for i, p in zip(m_idx, pick, strict=True)]
    indications = [meds[i][3][p % len(meds[i][3])] for i, p in zip(m_idx, pick, strict=True)]
    freqs = [_FREQ_TEXT[meds[i][2]] for i in m_idx]
    other = {
        "s": m_s,
        "section": np.full(k, "Other medication", dtype=object),
        "name": np.array(names, dtype=object),
        "indication": np.array(indications, dtype=object),
        "dose": np.array([meds[i][1] for i in m_idx], dtype=float),
        "unit": np.array(_MG_TEXT, dtype=object)[pick % len(_MG_TEXT)],
        "freq": np.array([f[p % len(f)] for f, p in zip(freqs, pick, strict=True)], dtype=object),
        "route": _pick(_ORAL_TEXT, k, rng),
        "start": np.concatenate([o_start, p_start]).astype(np.int64),
        "start_form": np.concatenate(
            [
                _year_alone_before_the_study(
                    rng.choice(5, size=len(o_s), p=[0.2, 0.15, 0.15, 0.3, 0.2]),
                    o_start,
                    subj["day0"][o_s],
                ),
                rng.choice(3, size=len(p_s), p=_COMPLETE_FORMS_P),
            ]
        ),
        "end": np.concatenate([np.zeros(len(o_s), np.int64), p_end]).astype(np.int64),
        "ongoing": np.arange(k) < len(o_s),
    }

    cols = {
        key: np.concatenate([np.asarray(diabetes[key]), np.asarray(other[key])]) for key in diabetes
    }
    section_rank = (cols["section"] == "Other medication").astype(np.intp)
    order = _lexsort_rows(cols["s"], section_rank, cols["start"], cols["end"])
    cols = {key: value[order] for key, value in cols.items()}
    m = len(order)
    s_sorted = cols["s"]
    first_row = np.r_[True, s_sorted[1:] != s_sorted[:-1]] if m else np.zeros(0, dtype=bool)
    position = np.arange(m)
    cm_no = position - np.maximum.accumulate(np.where(first_row, position, 0)) + 1
    end_cells = _date_cells(cols["end"], rng.choice(3, size=m, p=_COMPLETE_FORMS_P))
    end_cells = np.where(cols["ongoing"], None, end_cells)
    return _frame(
        {
            "SUBJ": subj["id"][s_sorted],
            "CM_NO": cm_no.astype(np.float64),
            "SECTION": cols["section"],
            "DRUG_NAME": cols["name"],
            "INDICATION": cols["indication"],
            "DOSE": cols["dose"],
            "DOSE_UNIT": cols["unit"],
            "FREQ": cols["freq"],
            "ROUTE": cols["route"],
            "START_DT": _date_cells(cols["start"], cols["start_form"]),
            "END_DT": end_cells,
            "ONGOING": _flags(cols["ongoing"], rng),
        }
    )
