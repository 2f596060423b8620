"""Timing: study days against their dates and DM.RFSTDTC, and starts before ends."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.sdtm.derive import date_part
from trialflow.validation.core import (
    Dataset,
    Package,
    cached,
    column_fact,
    rule,
    spread,
)
from trialflow.validation.rules.common import (
    by_subject,
    compare_iso,
    complete_date,
    distinct_codes,
    dm_dataset,
    domain_prefix,
    fmt,
    in_set,
    present,
    report_rows,
    rows_where,
    sdtm_datasets,
    stripped,
)

_DY_PAIRS = (("DY", "DTC"), ("STDY", "STDTC"), ("ENDY", "ENDTC"))


_DayInputs = tuple[Dataset, str, str, pd.Series, pd.Series, pd.Series, pd.Series, pd.Series]


def _study_day_inputs(package: Package) -> list[_DayInputs]:
    """(dataset, --DY, --DTC, known subject, RFSTDTC, expected day, actual day, --DY present)."""
    return cached(package, ("study-day-inputs",), lambda: list(_derive_study_days(package)))  # type: ignore[return-value]


def _dates(values: pd.Series) -> np.ndarray:
    """:func:`~trialflow.sdtm.derive.date_part` of each value (datetime64), kept while validating.

    The dates are parsed once per distinct value and spread to the records.
    """

    def compute() -> np.ndarray:
        codes, distinct = distinct_codes(values)
        days = date_part(distinct).to_numpy(dtype="datetime64[ns]")
        return spread(codes, days, np.datetime64("NaT", "ns"))

    return column_fact(values, "date-part", compute)


def _derive_study_days(package: Package) -> Iterator[_DayInputs]:
    dm = dm_dataset(package)
    if dm is None or "RFSTDTC" not in dm.frame.columns:
        return
    reference = by_subject(dm, ["RFSTDTC"])["RFSTDTC"]
    reference_day = pd.Series(date_part(reference).to_numpy(), index=reference.index)
    for ds in sdtm_datasets(package):
        if "USUBJID" not in ds.frame.columns:
            continue
        prefix = domain_prefix(ds)
        f = ds.frame
        subject = stripped(f["USUBJID"])
        known = present(f["USUBJID"]) & in_set(subject, reference.index)
        # DM.RFSTDTC of each record's subject (subject.map(reference)), looked up per subject.
        codes, subjects = distinct_codes(subject)
        per_subject = reference.reindex(subjects)
        rfstdtc = pd.Series(per_subject.array.take(codes, allow_fill=True), index=f.index)
        start = spread(
            codes,
            reference_day.reindex(subjects).to_numpy(dtype="datetime64[ns]"),
            np.datetime64("NaT", "ns"),
        )
        for day, date in _DY_PAIRS:
            dy, dtc = f"{prefix}{day}", f"{prefix}{date}"
            if dy not in f.columns or dtc not in f.columns:
                continue
            # study_day(f[dtc], rfstdtc) from dates parsed once per distinct value: the same
            # day arithmetic (no day 0) on the same dates.
            delta = pd.Series(_dates(f[dtc]) - start, index=f.index).dt.days
            expected = delta.where(delta < 0, delta + 1).astype("float64")
            actual = pd.to_numeric(f[dy], errors="coerce")
            yield ds, dy, dtc, known, rfstdtc, expected, actual, present(f[dy])


@rule(
    "study-day-mismatch",
    "error",
    "cross",
    checks="--DY, --STDY and --ENDY are populated and equal the SDTM study day of --DTC, --STDTC "
    "and --ENDTC from DM.RFSTDTC (no day 0) when both dates are complete.",
    why="Reviewers read timing from study days; a day that disagrees with its date (often an "
    "off-by-one around day 1) misplaces the record relative to treatment.",
    refs=["CORE-000529", "CG0006", "CORE-000552", "CG0220", "CORE-000553", "CG0222"],
)
def study_day_mismatch(package: Package) -> list[Finding]:
    """--DY that differs from the study day of its date."""
    out: list[Finding] = []
    for ds, dy, dtc, known, rfstdtc, expected, actual, has_dy in _study_day_inputs(package):
        bad = known & expected.notna() & (~has_dy | (actual != expected).fillna(True))
        frame = rows_where(ds.frame, bad).assign(__REF__=rfstdtc[bad], __EXP__=expected[bad])

        def say(r: pd.Series, dy: str = dy, dtc: str = dtc) -> str:
            found = "missing" if pd.isna(r[dy]) else f"{fmt(r[dy])}"
            return (
                f"{dy} is {found} but {dtc} {fmt(r[dtc])} and DM.RFSTDTC {fmt(r['__REF__'])} "
                f"give study day {fmt(r['__EXP__'])} (there is no day 0); set {dy} to "
                f"{fmt(r['__EXP__'])}."
            )

        out += report_rows("study-day-mismatch", ds, frame, dy, say, value=dy)
    return out


@rule(
    "study-day-with-partial-date",
    "error",
    "cross",
    checks="--DY, --STDY and --ENDY are null when their date or DM.RFSTDTC is not a complete date.",
    why="A study day can only be computed from two complete dates; a day next to a partial date "
    "was imputed, which SDTM does not allow.",
    refs=["CORE-000354", "CG0007", "CORE-000138", "CG0221", "CORE-000139", "CG0223"],
)
def study_day_with_partial_date(package: Package) -> list[Finding]:
    """--DY present although a date it depends on is partial or missing."""
    out: list[Finding] = []
    for ds, dy, dtc, known, rfstdtc, expected, _actual, has_dy in _study_day_inputs(package):
        bad = known & has_dy & expected.isna()
        frame = rows_where(ds.frame, bad).assign(__REF__=rfstdtc[bad])

        def say(r: pd.Series, dy: str = dy, dtc: str = dtc) -> str:
            reason = []
            if not complete_date(r[dtc]):
                reason.append(f"{dtc} {fmt(r[dtc])} is not a complete date")
            if not complete_date(r["__REF__"]):
                reason.append(f"DM.RFSTDTC {fmt(r['__REF__'])} is not a complete date")
            return f"{dy} is {fmt(r[dy])} but {' and '.join(reason)}; {dy} must be null."

        out += report_rows("study-day-with-partial-date", ds, frame, dy, say, value=dy)
    return out


@rule(
    "start-after-end",
    "error",
    "cross",
    checks="--STDTC is not after --ENDTC, RFSTDTC not after RFENDTC and RFXSTDTC not after "
    "RFXENDTC, compared on the precision both values share.",
    why="An interval that ends before it starts is a data entry or mapping error (swapped "
    "columns, day/month confusion) and breaks every duration and on-treatment derivation.",
    refs=["CORE-000718", "FB3209", "CORE-000711", "FB3404", "CORE-000714", "FB3408"],
)
def start_after_end(package: Package) -> list[Finding]:
    """Start dates after their end dates."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        pairs = [(f"{prefix}STDTC", f"{prefix}ENDTC")]
        if ds.name == "DM":
            pairs += [("RFSTDTC", "RFENDTC"), ("RFXSTDTC", "RFXENDTC")]
        for start, end in pairs:
            if start not in ds.frame.columns or end not in ds.frame.columns:
                continue
            later = compare_iso(ds.frame[start], ds.frame[end]) > 0
            out += report_rows(
                "start-after-end",
                ds,
                rows_where(ds.frame, later),
                start,
                lambda r, s=start, e=end: (
                    f"{s} {fmt(r[s])} is after {e} {fmt(r[e])}; the start "
                    "must not be after the end."
                ),
                value=start,
            )
    return out
