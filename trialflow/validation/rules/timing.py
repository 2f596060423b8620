"""Timing: study days against their dates and DM.RFSTDTC, and starts before ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
    RowView,
    by_subject,
    compare_iso,
    complete_date,
    distinct_codes,
    dm_dataset,
    domain_prefix,
    findings_like,
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
        days = date_part(distinct).to_numpy(dtype="datetime64[s]")
        return spread(codes, days, np.datetime64("NaT", "s"))

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
            reference_day.reindex(subjects).to_numpy(dtype="datetime64[s]"),
            np.datetime64("NaT", "s"),
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


def subject_values(frame: pd.DataFrame, per_subject: pd.Series) -> pd.Series:
    """``per_subject`` (indexed by trimmed USUBJID) for each record of ``frame``; NaN if unknown.

    Looked up once per distinct subject and spread to the records.

    Example:
        >>> f = pd.DataFrame({"USUBJID": ["B", "A ", "C"]})
        >>> subject_values(f, pd.Series({"A": "x", "B": "y"})).tolist()
        ['y', 'x', nan]
    """
    codes, subjects = distinct_codes(stripped(frame["USUBJID"]))
    values = per_subject.reindex(subjects.to_numpy())
    return pd.Series(values.array.take(codes, allow_fill=True), index=frame.index)


_SubjectDates = tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]


def subject_dates(per_subject: pd.Series) -> _SubjectDates:
    """Dates by subject (``per_subject``, indexed by trimmed USUBJID) parsed once for
    :func:`after_subject`: (subjects, text, date as datetime64, whether the text is a date
    without time), each array with one more missing entry at the end for unknown subjects."""
    text_values = per_subject.to_numpy(dtype=object)
    days = date_part(pd.Series(text_values, dtype="object")).to_numpy(dtype="datetime64[s]")
    date_only = per_subject.astype("str").str.strip().str.len().eq(10).fillna(False)
    return (
        pd.Index(per_subject.index),
        np.append(text_values, np.array([None], dtype=object)),
        np.append(days, np.array(["NaT"], dtype="datetime64[s]")),
        np.append(date_only.to_numpy(dtype=bool), False),
    )


def after_subject(
    frame: pd.DataFrame, column: str, dates: _SubjectDates, *, same_day: bool = False
) -> np.ndarray:
    """True where ``frame[column]`` is after the record's subject's date in ``dates`` (see
    :func:`subject_dates`), on the precision both share; with ``same_day`` also where both are
    complete dates of the same day.

    Records whose complete date falls before the subject's complete date (or on it, when the
    subject's date has no time) are settled from the dates the study-day rules parse anyway; only
    the rest (partial dates, times on the same day) are compared component by component, so a
    big Findings dataset costs little.

    Example:
        >>> f = pd.DataFrame({"USUBJID": ["A", "A", "B", "C"]})
        >>> f["XXDTC"] = ["2019-05-02", "2019-05-01T10:00", "2019-07", "2020"]
        >>> dates = subject_dates(pd.Series({"A": "2019-05-01", "B": "2019-06-30"}))
        >>> after_subject(f, "XXDTC", dates).tolist()
        [True, False, True, False]
        >>> after_subject(f, "XXDTC", dates, same_day=True).tolist()
        [True, True, True, False]
    """
    subjects_index, text_values, days, date_only = dates
    codes, subjects = distinct_codes(stripped(frame["USUBJID"]))
    where = subjects_index.get_indexer(subjects.to_numpy())
    where[where < 0] = len(subjects_index)
    row = spread(codes, where, len(subjects_index))  # each record's subject, or the missing one
    day = _dates(frame[column])
    # not after: an earlier day, or the same day when the subject's date has no time (both
    # compared as dates); False wherever either date is not complete
    on_the_day = day == days[row]
    settled = (day < days[row]) | on_the_day & (date_only[row] | same_day)
    subject_text = text_values[row]
    undecided = np.flatnonzero(
        ~settled & present(frame[column]).to_numpy() & pd.notna(subject_text)
    )
    out = np.zeros(len(frame), dtype=bool)
    if undecided.size:
        left = pd.Series(frame[column].to_numpy(dtype=object)[undecided], dtype="object")
        right = pd.Series(subject_text[undecided], dtype="object")
        out[undecided] = (compare_iso(left, right) > 0).to_numpy()
    return out | (on_the_day & same_day)


def blank(value: object) -> bool:
    """True for a missing or blank value (one record's value, as messages read it).

    Example:
        >>> blank(None), blank("  "), blank("2019"), blank(0.0)
        (True, True, False, False)
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return True
    return isinstance(value, str) and not value.strip()


def _flag(
    code: str, ds: Dataset, mask: pd.Series, variable: str, say: Callable[[RowView], str], **kw: str
) -> list[Finding]:
    """Findings of ``code`` for the records of ``ds`` where ``mask`` holds."""
    value = kw.get("value", variable)
    if value not in ds.frame.columns:
        value = None
    return report_rows(code, ds, rows_where(ds.frame, mask), variable, say, value=value)


@rule(
    "study-day-after-end-day",
    "error",
    "cross",
    checks="--STDY is not greater than --ENDY on the same record; in Findings datasets (as "
    "CORE-000707) --DY is not either. An event or intervention may be recorded (--DY) after it "
    "ended, so --DY is not compared there.",
    why="A record cannot start (or, for a Findings collection over an interval, be collected) "
    "after it ends; study days in the wrong order come from swapped dates or a wrong reference "
    "date.",
    refs=["CORE-000707", "FB3208"],
)
def study_day_after_end_day(package: Package) -> list[Finding]:
    """--STDY after --ENDY; in Findings, --DY after --ENDY."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        end = f"{prefix}ENDY"
        if end not in ds.frame.columns:
            continue
        last = pd.to_numeric(ds.frame[end], errors="coerce")
        starts = [f"{prefix}STDY"] + ([f"{prefix}DY"] if findings_like(ds, prefix) else [])
        for start in starts:
            if start not in ds.frame.columns:
                continue
            first = pd.to_numeric(ds.frame[start], errors="coerce")
            out += _flag(
                "study-day-after-end-day",
                ds,
                (first > last).fillna(False).astype(bool),
                start,
                lambda r, s=start, e=end: (
                    f"{s} {fmt(r[s])} is after {e} {fmt(r[e])}; the start day must not be "
                    "after the end day."
                ),
            )
    return out


@rule(
    "collection-after-end",
    "error",
    "cross",
    checks="In Findings datasets (as CORE-000866), --DTC is not after --ENDTC on the same "
    "record (dates compared on the precision both share). Events and interventions are often "
    "recorded after they ended, so they are not checked.",
    why="A collection that spans an interval (urine, ECG monitoring) starts at --DTC and ends at "
    "--ENDTC; a collection date after the end is a swapped or mistyped date.",
    refs=["CORE-000866", "FB3210"],
)
def collection_after_end(package: Package) -> list[Finding]:
    """--DTC after --ENDTC."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        dtc, end = f"{prefix}DTC", f"{prefix}ENDTC"
        if dtc not in ds.frame.columns or end not in ds.frame.columns:
            continue
        if not findings_like(ds, prefix):
            continue
        later = (compare_iso(ds.frame[dtc], ds.frame[end]) > 0).astype(bool)
        out += _flag(
            "collection-after-end",
            ds,
            later,
            dtc,
            lambda r, d=dtc, e=end: f"{d} {fmt(r[d])} is after {e} {fmt(r[e])}; check both dates.",
        )
    return out


@rule(
    "date-after-participation-end",
    "warning",
    "cross",
    checks="--DTC (every dataset but DM) and --ENDTC (every dataset but DM and DS) are not after "
    "DM.RFPENDTC, the end of the subject's participation (dates compared on the precision both "
    "share).",
    why="Nothing is collected from a subject after the end of participation; a later date is a "
    "data error, or RFPENDTC does not cover the follow-up it should.",
    refs=["CORE-000720", "FB3406", "CORE-000952", "FB3407"],
)
def date_after_participation_end(package: Package) -> list[Finding]:
    """Dates after DM.RFPENDTC."""
    dm = dm_dataset(package)
    if dm is None or "RFPENDTC" not in dm.frame.columns:
        return []
    participation = by_subject(dm, ["RFPENDTC"])["RFPENDTC"]
    dates = subject_dates(participation)
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        if ds is dm or "USUBJID" not in ds.frame.columns:
            continue
        columns = [f"{prefix}DTC"] + ([] if prefix == "DS" else [f"{prefix}ENDTC"])
        columns = [c for c in columns if c in ds.frame.columns]
        if not columns:
            continue
        f = ds.frame
        for column in columns:
            later = pd.Series(after_subject(f, column, dates), index=f.index)
            if not later.any():
                continue
            flagged = rows_where(f, later)
            flagged = flagged.assign(__PEND__=subject_values(flagged, participation))
            out += report_rows(
                "date-after-participation-end",
                ds,
                flagged,
                column,
                lambda r, c=column: (
                    f"{c} {fmt(r[c])} is after DM.RFPENDTC {fmt(r['__PEND__'])}, the end of the "
                    "subject's participation; check the date or RFPENDTC."
                ),
                value=column,
            )
    return out


def _reference_without_point(
    code: str, package: Package, point: str, relation: str
) -> list[Finding]:
    """Records with --<point> (the reference time point) populated and --<relation> null."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        anchor, rel = f"{prefix}{point}", f"{prefix}{relation}"
        if anchor not in ds.frame.columns:
            continue
        f = ds.frame
        has_rel = present(f[rel]) if rel in f.columns else pd.Series(False, index=f.index)
        out += _flag(
            code,
            ds,
            present(f[anchor]) & ~has_rel,
            rel,
            lambda r, a=anchor, x=rel: (
                f"{a} is {fmt(r[a])} but {x} is missing; {x} says where the observation lies "
                f"relative to {a} (e.g. BEFORE, COINCIDENT, AFTER, ONGOING)."
            ),
            value=anchor,
        )
    return out


@rule(
    "entpt-without-enrtpt",
    "error",
    "cross",
    checks="Where --ENTPT is populated, --ENRTPT is populated.",
    why="--ENTPT is only the reference point; the end of the observation relative to it is in "
    "--ENRTPT, without which the pair says nothing.",
    refs=["CORE-000106", "CG0045"],
)
def entpt_without_enrtpt(package: Package) -> list[Finding]:
    """--ENTPT without --ENRTPT."""
    return _reference_without_point("entpt-without-enrtpt", package, "ENTPT", "ENRTPT")


@rule(
    "enrtpt-without-entpt",
    "warning",
    "cross",
    checks="Where --ENRTPT is populated, --ENTPT is populated.",
    why="--ENRTPT (ONGOING, BEFORE, ...) says where the end lies relative to a time point; "
    "without --ENTPT nobody knows which point (END OF STUDY, the last visit ...).",
    refs=["SD0050"],
)
def enrtpt_without_entpt(package: Package) -> list[Finding]:
    """--ENRTPT without --ENTPT."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        rel, point = f"{prefix}ENRTPT", f"{prefix}ENTPT"
        if rel not in ds.frame.columns:
            continue
        f = ds.frame
        has_point = present(f[point]) if point in f.columns else pd.Series(False, index=f.index)
        out += _flag(
            "enrtpt-without-entpt",
            ds,
            present(f[rel]) & ~has_point,
            point,
            lambda r, a=rel, x=point: (
                f"{a} is {fmt(r[a])} but {x} is missing; give the time point {a} refers to "
                "(e.g. END OF STUDY)."
            ),
            value=rel,
        )
    return out


@rule(
    "sttpt-without-strtpt",
    "error",
    "cross",
    checks="Where --STTPT is populated, --STRTPT is populated.",
    why="--STTPT is only the reference point; the start of the observation relative to it is in "
    "--STRTPT, without which the pair says nothing.",
    refs=["CORE-000085", "CG0059"],
)
def sttpt_without_strtpt(package: Package) -> list[Finding]:
    """--STTPT without --STRTPT."""
    return _reference_without_point("sttpt-without-strtpt", package, "STTPT", "STRTPT")


def _relative_without_reference(
    code: str, package: Package, suffix: str, reference: str
) -> list[Finding]:
    """Records with --<suffix> populated whose subject has no DM.<reference>."""
    dm = dm_dataset(package)
    if dm is None or reference not in dm.frame.columns:
        return []
    dated = present(by_subject(dm, [reference])[reference])
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        column = f"{prefix}{suffix}"
        if ds is dm or column not in ds.frame.columns or "USUBJID" not in ds.frame.columns:
            continue
        f = ds.frame
        known = subject_values(f, dated)
        bad = present(f[column]) & known.eq(False).astype(bool)
        out += _flag(
            code,
            ds,
            bad,
            column,
            lambda r, c=column: (
                f"{c} is {fmt(r[c])} but the subject's DM.{reference} is missing; {c} is relative "
                f"to the reference period, which needs DM.{reference}."
            ),
        )
    return out


@rule(
    "enrf-without-rfendtc",
    "error",
    "cross",
    checks="--ENRF is null for subjects whose DM.RFENDTC is missing.",
    why="--ENRF places the end of an observation relative to the reference period, which ends at "
    "RFENDTC; without RFENDTC the relation cannot hold.",
    refs=["CORE-000177", "CG0227"],
)
def enrf_without_rfendtc(package: Package) -> list[Finding]:
    """--ENRF for subjects without RFENDTC."""
    return _relative_without_reference("enrf-without-rfendtc", package, "ENRF", "RFENDTC")


@rule(
    "strf-without-rfstdtc",
    "error",
    "cross",
    checks="--STRF is null for subjects whose DM.RFSTDTC is missing.",
    why="--STRF places the start of an observation relative to the reference period, which "
    "begins at RFSTDTC; without RFSTDTC the relation cannot hold.",
    refs=["CORE-000262", "CG0226"],
)
def strf_without_rfstdtc(package: Package) -> list[Finding]:
    """--STRF for subjects without RFSTDTC."""
    return _relative_without_reference("strf-without-rfstdtc", package, "STRF", "RFSTDTC")


@rule(
    "duration-negative",
    "error",
    "cross",
    checks="--DUR is not a negative duration (a value starting with '-').",
    why="FDA business rules: durations of events, exposures and observations are never "
    "negative; a negative duration comes from swapped start and end.",
    refs=["CORE-000305", "FB4005"],
)
def duration_negative(package: Package) -> list[Finding]:
    """Negative --DUR."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        column = f"{domain_prefix(ds)}DUR"
        if column not in ds.frame.columns:
            continue
        values = ds.frame[column]
        if pd.api.types.is_numeric_dtype(values):
            bad = (values < 0).fillna(False).astype(bool)
        else:
            bad = stripped(values).str.startswith("-").fillna(False).astype(bool)
        out += _flag(
            "duration-negative",
            ds,
            bad,
            column,
            lambda r, c=column: (
                f"{c} is {fmt(r[c])}, a negative duration; durations are never negative."
            ),
        )
    return out


_START = ("STDTC", "STRF", "STRTPT")
_END = ("ENDTC", "ENRF", "ENRTPT")


@rule(
    "end-without-start",
    "warning",
    "cross",
    checks="Event, intervention and special-purpose records (not Findings, not DM) with an end "
    "point (--ENDTC, --ENRF or --ENRTPT) have a start point (--STDTC, --STRF or --STRTPT).",
    why="FDA business rules: when the end of something is given, its start is given too; "
    "without a start it cannot be placed relative to treatment.",
    refs=["CORE-000892", "FB4301"],
)
def end_without_start(package: Package) -> list[Finding]:
    """End points without any start point."""
    out: list[Finding] = []
    for ds in sdtm_datasets(package):
        prefix = domain_prefix(ds)
        f = ds.frame
        ends = [f"{prefix}{s}" for s in _END if f"{prefix}{s}" in f.columns]
        if ds.name == "DM" or not ends or findings_like(ds, prefix):
            continue
        starts = [f"{prefix}{s}" for s in _START if f"{prefix}{s}" in f.columns]
        ended = pd.Series(False, index=f.index)
        for column in ends:
            ended |= present(f[column])
        started = pd.Series(False, index=f.index)
        for column in starts:
            started |= present(f[column])
        named = ", ".join(starts) if starts else f"{prefix}STDTC"
        out += report_rows(
            "end-without-start",
            ds,
            rows_where(f, ended & ~started),
            starts[0] if starts else f"{prefix}STDTC",
            lambda r, ends=ends, named=named: (
                ", ".join(f"{c} {fmt(r[c])}" for c in ends if not blank(r[c]))
                + f" but no start is given ({named}); give the start date or its relation to "
                "the reference period."
            ),
            value=ends[0],
        )
    return out
