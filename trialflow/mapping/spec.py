"""The spec language: pydantic models of study.yaml and the per-domain mapping specs.

Every model forbids unknown keys. Each mapping method declares which keys it needs and which it
accepts (:data:`METHOD_KEYS`); anything else is an error naming the file, line and key, raised
by :mod:`trialflow.mapping.load`.

A domain spec reads as the mapping table a clinical programmer would write::

    domain: LB
    source: {sheet: LAB, subject: SUBJ, record_key: [SUBJ, VISIT, TEST, LAB_DATE, LAB_TIME]}
    variables:
      - {name: LBTESTCD, method: assign_ct, raw: TEST, codelist: LBTESTCD}
      - {name: LBDTC, method: assign_datetime, raw: [LAB_DATE, LAB_TIME],
         formats: [["%d-%b-%Y", "%Y/%m/%d", "%Y-%m-%d"], ["%H:%M"]]}
"""

from __future__ import annotations

import itertools
from typing import ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from trialflow.mapping.dates import DateFormatError, compile_format

Scalar = str | StrictInt | StrictFloat
"""Text or a number; true and false are refused (never read as 1 and 0)."""
ValueCondition = dict[str, Scalar | list[Scalar]]
"""Conditions on SDTM variables in the adam section: each variable holds one of the values."""


class Strict(BaseModel):
    """Base model: unknown keys are errors, values are not coerced between types silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _fail_at(loc: tuple[str | int, ...], message: str, value: object) -> ValidationError:
    """A validation error at a key path below the model that raises it, so that the loader
    names the line of that key (a plain ValueError would point at the model's first line)."""
    return ValidationError.from_exception_data(
        "spec",
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "{message}", {"message": message}),
                loc=loc,
                input=value,
            )
        ],
    )


# --- study.yaml -------------------------------------------------------------------------------


class StudyInfo(Strict):
    """Identity of the study."""

    studyid: str = Field(
        min_length=1,
        max_length=20,
        description="STUDYID of every dataset (at most 20 characters)",
        examples=["HUCMSC-T2DM"],
    )
    title: str = Field(
        default="",
        description="the study title shown in reports",
        examples=["UC-MSC infusions in type 2 diabetes"],
    )
    synthetic: bool = Field(
        default=False,
        description="true labels the data as synthetic in every output",
        examples=[True],
    )
    usubjid_separator: str = Field(
        default="-",
        description="USUBJID = STUDYID + this + the raw subject number",
        examples=["-"],
    )
    run_date: str | None = Field(
        default=None,
        pattern=r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$",
        description="creation date written in the XPT headers and Dataset-JSON files "
        "(ISO 8601); SOURCE_DATE_EPOCH overrides it; with neither, 1960-01-01",
        examples=["2024-05-01", "2024-05-01T09:00:00"],
    )


class ArmSpec(Strict):
    """One planned arm (ARMCD, ARM)."""

    armcd: str = Field(
        min_length=1,
        max_length=20,
        description="ARMCD of the planned arm",
        examples=["UCMSC"],
    )
    arm: str = Field(
        min_length=1,
        max_length=200,
        description="ARM, the arm's description",
        examples=["UC-MSC infusions"],
    )


class VisitSpec(Strict):
    """One planned visit: VISITNUM, VISIT, the planned day, its window and collected labels."""

    visitnum: float = Field(description="VISITNUM of the planned visit", examples=[2])
    visit: str = Field(
        min_length=1,
        max_length=40,
        description="VISIT, the visit's name",
        examples=["DAY 14"],
    )
    day: int = Field(description="the planned study day (VISITDY)", examples=[14])
    window: int | None = Field(
        default=None,
        ge=0,
        description=(
            "days either side of the planned day; a visit outside them is reported "
            "(visit-out-of-window)"
        ),
        examples=[3],
    )
    collected: list[str] = Field(
        default=[],
        description="the labels sites type for this visit in the raw export",
        examples=[["Day 14", "D14"]],
    )


class UnscheduledSpec(Strict):
    """How unscheduled visits are labelled and numbered (previous visit's VISITNUM + 0.01 ...)."""

    visit: str = Field(
        default="UNSCHEDULED",
        description="the name stem of unscheduled visits (UNSCHEDULED 4.01)",
        examples=["UNSCHEDULED"],
    )
    collected: list[str] = Field(
        default=[],
        description="the labels that mark a raw visit as unscheduled",
        examples=[["Unscheduled"]],
    )


class SiteSpec(Strict):
    """One study site: SITEID as the raw export writes it, and what the study knows of it."""

    siteid: str = Field(
        min_length=1,
        max_length=20,
        description="SITEID as the raw export writes it",
        examples=["01"],
    )
    name: str = Field(default="", description="the site's name", examples=["Site 01"])
    country: str | None = Field(
        default=None,
        min_length=3,
        max_length=3,
        description="COUNTRY, the ISO 3166 alpha-3 code",
        examples=["CHN"],
    )


class ReferenceSpec(Strict):
    """How a DM reference date is found: the first or last date of DOMAIN.VAR (or several)."""

    from_: str | list[str] = Field(
        alias="from",
        description="the dates to pick from: DOMAIN.VAR or a list of them",
        examples=["EX.EXSTDTC"],
    )
    pick: Literal["first", "last"] = Field(
        description="first (earliest) or last (latest) complete date",
        examples=["first"],
    )


class EpochSpec(Strict):
    """One epoch, bounded by DM reference date variables (RFXSTDTC, RFXENDTC, ...).

    ``before: X``: dates before X; ``from: X`` (inclusive) and ``to: Y`` (inclusive);
    ``after: Y``: dates after Y.
    """

    epoch: str = Field(description="EPOCH value", examples=["TREATMENT"])
    before: str | None = Field(
        default=None,
        description="dates before this DM reference date variable",
        examples=["RFXSTDTC"],
    )
    from_: str | None = Field(
        default=None,
        alias="from",
        description="dates on or after this DM reference date variable",
        examples=["RFXSTDTC"],
    )
    to: str | None = Field(
        default=None,
        description="dates on or before this DM reference date variable",
        examples=["RFXENDTC"],
    )
    after: str | None = Field(
        default=None,
        description="dates after this DM reference date variable",
        examples=["RFXENDTC"],
    )
    never_reached: bool = Field(
        default=False,
        description=(
            "with before: the epoch also holds for every date of a subject without the before "
            "date (a screen failure or a subject never treated has no RFXSTDTC: all of their "
            "records are before treatment)"
        ),
        examples=[True],
    )

    @model_validator(mode="after")
    def _bounds(self) -> EpochSpec:
        if not any((self.before, self.from_, self.to, self.after)):
            raise ValueError("an epoch needs at least one of before, from, to, after")
        if self.never_reached and not self.before:
            raise _fail_at(
                ("never_reached",), "never_reached needs before (the date never reached)", None
            )
        return self


NullFlavor = Literal["NI", "NA", "UNK", "ASKU", "NASK", "NAV", "MSK", "PINF", "NINF", "OTH", "INV"]
"""ISO 21090 null flavours, as TSVALNF takes them (NA: not applicable, UNK: unknown, ...)."""


class TsNull(Strict):
    """A trial summary parameter that has no value: TSVAL empty, TSVALNF this null flavour."""

    nf: NullFlavor = Field(
        description="ISO 21090 null flavour (NA not applicable, UNK unknown, NI no information)",
        examples=["NA"],
    )


class TsValue(Strict):
    """A trial summary value with the code of its term in a reference terminology."""

    value: Scalar = Field(description="TSVAL", examples=["OPEN LABEL"])
    code: str | None = Field(
        default=None,
        description="TSVALCD, the term's code (e.g. its NCI C-code)",
        examples=["C49659"],
    )
    dictionary: str | None = Field(
        default=None,
        description="TSVCDREF, the terminology of code (default CDISC CT)",
        examples=["SNOMED"],
    )
    version: str | None = Field(
        default=None,
        description="TSVCDVER, its version (default: the CT version trialflow ships)",
        examples=["2024-09-27"],
    )


TsEntry = Scalar | TsNull | TsValue | list[Scalar | TsValue]


class ElementSpec(Strict):
    """One planned element of the trial design (a TE record)."""

    etcd: str = Field(min_length=1, max_length=8, description="ETCD", examples=["TRT"])
    element: str = Field(
        min_length=1, max_length=40, description="ELEMENT, its name", examples=["hUC-MSC"]
    )
    start: str = Field(
        min_length=1,
        description="TESTRL, the rule for the element's start",
        examples=["First infusion"],
    )
    end: str | None = Field(
        default=None, description="TEENRL, the rule for its end", examples=["Last infusion"]
    )
    duration: str | None = Field(
        default=None, description="TEDUR, planned duration (ISO 8601)", examples=["P16W"]
    )
    epoch: str = Field(description="EPOCH of the element in every arm", examples=["TREATMENT"])
    starts_at: str | None = Field(
        default=None,
        description=(
            "the DM reference date (RFICDTC, RFSTDTC, RFXSTDTC, RFXENDTC, ...) the element "
            "starts at, for SE; the element ends where the next one starts, the last at RFPENDTC "
            "or RFENDTC"
        ),
        examples=["RFXSTDTC"],
    )

    @model_validator(mode="after")
    def _end_or_duration(self) -> ElementSpec:
        if self.end is None and self.duration is None:
            raise ValueError("an element needs end (TEENRL) or duration (TEDUR)")
        return self


class CriterionSpec(Strict):
    """One inclusion or exclusion criterion (a TI record)."""

    ietestcd: str = Field(
        min_length=1, max_length=8, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="IETESTCD", examples=["INCL01"],
    )
    ietest: str = Field(
        min_length=1, max_length=200, description="IETEST, the criterion's text",
        examples=["Age 18 to 70 years"],
    )
    category: Literal["INCLUSION", "EXCLUSION"] = Field(
        description="IECAT", examples=["INCLUSION"]
    )


class TrialSpec(Strict):
    """The trial design: the TS parameters, elements, each arm's elements, I/E criteria."""

    summary: dict[str, TsEntry] = Field(
        description=(
            "TS parameters by TSPARMCD: a value, a list of values (one record each), "
            "{value, code} or {nf: NA} when the parameter does not apply; every parameter "
            "FDA requires must be listed (ACTSUB, NARMS, SDTIGVER and SDTMVER are derived)"
        ),
        examples=[{"SSTDTC": "2019-01-02", "RANDOM": "N", "COMPTRT": {"nf": "NA"}}],
    )
    elements: list[ElementSpec] = Field(
        min_length=1,
        description="the planned elements (TE)",
        examples=[[{"etcd": "SCRN", "element": "Screening", "start": "Informed consent",
                    "duration": "P2W", "epoch": "SCREENING"}]],
    )
    arms: dict[str, list[str]] = Field(
        description="per ARMCD of arms, its elements' ETCDs in order (TA)",
        examples=[{"UCMSC": ["RUNIN", "TRT", "FU"]}],
    )
    criteria: list[CriterionSpec] = Field(
        default=[],
        description="the inclusion and exclusion criteria (TI)",
        examples=[[{"ietestcd": "INCL01", "ietest": "Age 18-70", "category": "INCLUSION"}]],
    )

    @model_validator(mode="after")
    def _known_elements(self) -> TrialSpec:
        codes = [e.etcd for e in self.elements]
        for armcd, sequence in self.arms.items():
            for i, etcd in enumerate(sequence):
                if etcd not in codes:
                    raise _fail_at(
                        ("arms", armcd, i),
                        f"{etcd!r} is not an element of trial.elements ({', '.join(codes)})",
                        etcd,
                    )
        return self


class StudySpec(Strict):
    """study.yaml: every study fact the mapping needs, and the domains to build.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> spec = load_study(example_paths()[0]).spec  # a StudySpec, read from study.yaml
        >>> spec.study.studyid, spec.domains[:3]
        ('HUCMSC-T2DM', ['EX', 'DM', 'VS'])
    """

    study: StudyInfo = Field(
        description="identity of the study",
        examples=[{"studyid": "HUCMSC-T2DM", "synthetic": True}],
    )
    domains: list[str] = Field(
        min_length=1,
        description="the domains to build, in order, each from <domain>.yaml beside study.yaml",
        examples=[["EX", "DM", "VS", "LB", "AE"]],
    )
    sites: list[SiteSpec] = Field(
        default=[],
        description="the study's sites; a SITEID outside the list is a site-unknown error",
        examples=[[{"siteid": "01", "country": "CHN"}]],
    )
    arms: list[ArmSpec] = Field(
        min_length=1,
        description="the planned arms",
        examples=[[{"armcd": "UCMSC", "arm": "UC-MSC infusions"}]],
    )
    reference_dates: dict[str, ReferenceSpec] = Field(
        default={},
        description="DM reference dates by variable, found by reference_date",
        examples=[{"RFSTDTC": {"from": "EX.EXSTDTC", "pick": "first"}}],
    )
    visits: list[VisitSpec] = Field(
        default=[],
        description="the planned visits",
        examples=[[{"visitnum": 2, "visit": "DAY 14", "day": 14, "window": 3}]],
    )
    unscheduled: UnscheduledSpec | None = Field(
        default=None,
        description="how unscheduled visits are named and recognised",
        examples=[{"visit": "UNSCHEDULED", "collected": ["Unscheduled"]}],
    )
    epochs: list[EpochSpec] = Field(
        default=[],
        description="epochs bounded by DM reference dates",
        examples=[[{"epoch": "SCREENING", "before": "RFXSTDTC"}]],
    )
    controlled_terms: dict[str, dict[str, list[Scalar]]] = Field(
        default={},
        description=(
            "per codelist, per submission value, the collected values that mean it; a "
            "codelist outside CDISC CT is a sponsor codelist of exactly these terms"
        ),
        examples=[{"SEX": {"M": ["Male"], "F": ["Female"]}}],
    )
    test_units: str | None = Field(
        default=None,
        description=(
            "a CSV beside study.yaml (columns domain, testcd, expects_unit yes/no, reason, "
            "source) whose rows replace trialflow's knowledge of which tests are measured in "
            "a unit, by (domain, testcd), for orresu-missing and stresu-missing; as "
            "trialflow validate --units"
        ),
        examples=["test_units.csv"],
    )
    trial: TrialSpec | None = Field(
        default=None,
        description="the trial design: TS parameters, elements, arms' elements, I/E criteria",
    )
    adam: AdamSpec | None = Field(
        default=None,
        description="how the ADaM datasets are derived (see The adam section)",
    )
    analysis: AnalysisSpec | None = Field(
        default=None,
        description="what the statistics and the report show (see The analysis section)",
    )

    @model_validator(mode="after")
    def _analysis_visits(self) -> StudySpec:
        """The analysis visit rule against the schedule: the reference visit is planned, a
        nominal visit is a planned VISITNUM, windows assigned by day do not overlap."""
        if self.adam is None:
            return self
        rule = self.adam.analysis_visits
        at = ("adam", "analysis_visits")
        names = [v.visit for v in self.visits]
        if isinstance(rule.reference, VisitReference) and rule.reference.visit not in names:
            raise _fail_at(
                (*at, "reference", "visit"),
                f"{rule.reference.visit!r} is not a planned visit of visits "
                f"({', '.join(names) or 'none planned'})",
                rule.reference.visit,
            )
        for i, name in enumerate(rule.exclude):
            if name not in names:
                raise _fail_at(
                    (*at, "exclude", i),
                    f"{name!r} is not a planned visit of visits ({', '.join(names)})",
                    name,
                )
        if rule.windows == "schedule" and isinstance(rule.reference, VisitReference):
            day = next(v.day for v in self.visits if v.visit == rule.reference.visit)
            if day != 0:
                raise _fail_at(
                    (*at, "reference", "visit"),
                    f"windows: schedule reads the planned days as days from the reference "
                    f"visit, but {rule.reference.visit} is planned on day {day}, not day 0; "
                    "count from the day-0 visit or list the windows",
                    rule.reference.visit,
                )
        if rule.windows == "schedule":
            if not any(v.window is not None for v in self.visits):
                raise _fail_at(
                    (*at, "windows"),
                    "'schedule' takes each planned visit's day and window, but no visit in "
                    "visits has a window",
                    rule.windows,
                )
            if rule.by == "window":
                timed = [(i, v) for i, v in enumerate(self.visits) if v.window is not None]
                timed.sort(key=lambda iv: iv[1].day - (iv[1].window or 0))
                for (_, a), (j, b) in itertools.pairwise(timed):
                    if b.day - (b.window or 0) <= a.day + (a.window or 0):
                        raise _fail_at(
                            ("visits", j, "window"),
                            f"the windows of {a.visit} (day {a.day} +/- {a.window}) and "
                            f"{b.visit} (day {b.day} +/- {b.window}) overlap; "
                            "adam.analysis_visits assigns a record by its day to one window",
                            b.window,
                        )
            return self
        planned = {v.visitnum for v in self.visits}
        if rule.by == "nominal_visit":
            for i, w in enumerate(rule.windows):
                if w.avisitn not in planned:
                    raise _fail_at(
                        (*at, "windows", i, "avisitn"),
                        f"by nominal_visit, avisitn is the planned visit's VISITNUM; "
                        f"{w.avisitn:g} is not one of visits",
                        w.avisitn,
                    )
        return self

    @model_validator(mode="after")
    def _trial_arms(self) -> StudySpec:
        if self.trial is None:
            return self
        planned = [a.armcd for a in self.arms]
        for armcd in self.trial.arms:
            if armcd not in planned:
                raise _fail_at(
                    ("trial", "arms", armcd),
                    f"{armcd!r} is not an ARMCD of arms ({', '.join(planned)})",
                    armcd,
                )
        for armcd in planned:
            if armcd not in self.trial.arms:
                raise _fail_at(
                    ("trial", "arms"),
                    f"arm {armcd} has no element sequence; add trial.arms.{armcd}",
                    None,
                )
        return self

    @model_validator(mode="after")
    def _analysis_needs_adam(self) -> StudySpec:
        if self.analysis is None:
            return self
        if self.adam is None:
            raise ValueError("analysis needs the adam section (it summarises the ADaM datasets)")
        wanted = [(e.dataset, p) for e in self.analysis.endpoints for p in e.paramcd]
        wanted += [(r.dataset, r.paramcd) for r in self.analysis.table1 if r.paramcd]
        if self.analysis.safety is not None:
            if self.adam.adae is None:
                raise ValueError("analysis.safety needs adam.adae (the AE summary reads ADAE)")
            wanted += [(e.dataset, p) for e in self.analysis.safety.parameters for p in e.paramcd]
        declared = {record.dtype for record in self.adam.derived_records}
        for dtype in self.analysis.derived_records:
            if dtype not in declared:
                raise _fail_at(
                    ("analysis", "derived_records"),
                    f"{dtype} records are not derived: add {{dtype: {dtype}}} to "
                    "adam.derived_records, or leave it out here",
                    dtype,
                )
        for dataset, paramcd in wanted:
            bds = self.adam.datasets.get(dataset)  # type: ignore[call-overload]
            codes = {p.paramcd for p in [*bds.parameters, *bds.computed]} if bds else set()
            if paramcd not in codes:
                raise ValueError(f"analysis: {dataset} has no parameter {paramcd} in adam.datasets")
        return self


# --- conditions (source.where, variables[].when, lookup.where) -------------------------------


def _text(value: object) -> str:
    """A listed value as the text a raw cell is compared with (7.0 -> '7')."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _relocate(exc: ValidationError, prefix: tuple[str | int, ...]) -> ValidationError:
    """The errors of a nested validation, at their key paths below ``prefix``."""
    return ValidationError.from_exception_data(
        "spec",
        [
            InitErrorDetails(
                type=PydanticCustomError(
                    "value_error", "{message}", {"message": _plain_message(e)}
                ),
                loc=(*prefix, *e["loc"]),
                input=e.get("input"),
            )
            for e in exc.errors()
        ],
    )


def _plain_message(error: object) -> str:
    err = dict(error)  # type: ignore[call-overload]
    if err.get("type") == "extra_forbidden":
        return "unknown key"
    return str(err.get("msg", "invalid value")).removeprefix("Value error, ")


class ColumnTest(Strict):
    """What one column (or variable) of a row must hold for a condition to match.

    Written ``COLUMN: [A, B]`` (one of the values, the short form of ``{in: [A, B]}``),
    ``COLUMN: {blank: true}``, ``COLUMN: {filled: true}`` or ``COLUMN: {not: [A, B]}``; keys
    combine (``{filled: true, not: [NA]}``). Values are compared with the trimmed cell text,
    exactly (case matters).
    """

    in_: list[Scalar] | None = Field(
        default=None,
        alias="in",
        min_length=1,
        description="the cell holds one of these values (trimmed text, exact)",
    )
    not_: list[Scalar] | None = Field(
        default=None,
        alias="not",
        min_length=1,
        description="the cell holds none of these values; a blank cell matches too "
        "(add filled: true to leave blank cells out)",
    )
    blank: bool | None = Field(default=None, description="true: the cell is empty")
    filled: bool | None = Field(default=None, description="true: the cell holds a value")

    @model_validator(mode="after")
    def _can_match(self) -> ColumnTest:
        if self.blank is False:
            raise _fail_at(
                ("blank",), "blank takes true; a cell with a value is filled: true", False
            )
        if self.filled is False:
            raise _fail_at(("filled",), "filled takes true; an empty cell is blank: true", False)
        if self.in_ is None and self.not_ is None and not self.blank and not self.filled:
            raise ValueError("give in, not, blank or filled")
        if self.blank and self.filled:
            raise ValueError("a cell is never both blank and filled: this condition never matches")
        if self.blank and self.in_ is not None:
            raise ValueError(
                "a blank cell holds none of the values in `in`: this condition never matches"
            )
        if self.in_ is not None and self.not_ is not None:
            left = {_text(v) for v in self.in_} - {_text(v) for v in self.not_}
            if not left:
                raise ValueError(
                    "every value of `in` is also under `not`: this condition never matches"
                )
        return self

    def describe(self) -> str:
        """The test in words, for messages (``blank``, ``one of Y, Yes``, ...)."""
        parts = []
        if self.blank:
            parts.append("blank")
        if self.filled:
            parts.append("filled")
        if self.in_ is not None:
            parts.append("one of " + ", ".join(_text(v) for v in self.in_))
        if self.not_ is not None:
            parts.append("none of " + ", ".join(_text(v) for v in self.not_))
        return " and ".join(parts)


class Condition(Strict):
    """A row condition: every column's test holds (AND); ``any`` holds when one of its
    conditions does (OR).

    YAML: ``{GIVEN: [Y, Yes, "1"]}``, ``{END_DT: {blank: true}}``,
    ``{FORM: [AE], AE_TERM: {filled: true}}``, ``{any: [{A: [X]}, {B: {blank: true}}]}``.
    ``[""]`` and ``[null]`` are errors (a blank cell is ``{blank: true}``); a test that can
    never match is an error.
    """

    spec_words: ClassVar[tuple[str, str]] = (
        "a condition (see Conditions)",
        "conditions (see Conditions)",
    )
    """How the spec reference names it: one value, written ``{COLUMN: test, any: [...]}``."""

    columns: dict[str, ColumnTest] = Field(
        default={}, description="column (or variable) -> the test its value must pass"
    )
    any_: list[Condition] | None = Field(
        default=None,
        alias="any",
        min_length=1,
        description="conditions of which at least one must hold",
    )

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: object) -> object:
        if isinstance(data, Condition):
            return data
        if not isinstance(data, dict):
            raise ValueError(
                "a condition maps columns to values, e.g. {GIVEN: [Y, Yes]} or "
                "{END_DT: {blank: true}}"
            )
        columns: dict[str, ColumnTest] = {}
        out: dict[str, object] = {"columns": columns}
        for key, test in data.items():
            if key == "any":
                if not isinstance(test, list) or not test:
                    raise _fail_at(("any",), "any takes a list of conditions", test)
                parts = []
                for k, part in enumerate(test):
                    try:
                        parts.append(Condition.model_validate(part))
                    except ValidationError as exc:
                        raise _relocate(exc, ("any", k)) from None
                out["any"] = parts
                continue
            if not isinstance(key, str) or not key.strip():
                raise _fail_at((str(key),), "a condition's keys are column names", key)
            if isinstance(test, dict):
                raw = dict(test)
            else:
                raw = {"in": test if isinstance(test, list) else [test]}
            for name in ("in", "not"):
                values = raw.get(name)
                if isinstance(values, list) and any(v is None or _text(v) == "" for v in values):
                    hint = "{blank: true}" if name == "in" else "{filled: true}"
                    raise _fail_at(
                        (key,),
                        f"a blank cell is not a value to list: write {key}: {hint}",
                        values,
                    )
            if raw.get("in") == []:
                raise _fail_at((key,), "an empty list never matches", [])
            try:
                columns[key] = ColumnTest.model_validate(raw)
            except ValidationError as exc:
                raise _relocate(exc, (key,)) from None
        return out

    @property
    def names(self) -> list[str]:
        """Every column or variable the condition reads, in the order written."""
        out = list(self.columns)
        for part in self.any_ or []:
            out += [n for n in part.names if n not in out]
        return out

    def describe(self) -> str:
        """The condition in words, for messages."""
        parts = [f"{name} {test.describe()}" for name, test in self.columns.items()]
        if self.any_:
            parts.append("(" + " or ".join(p.describe() for p in self.any_) + ")")
        return " and ".join(parts)


# --- domain specs -----------------------------------------------------------------------------


class TransposeSpec(Strict):
    """Findings transposition: one raw row holding several results becomes a record per column.

    ``result`` is the variable that takes each cell (e.g. VSORRES); ``columns`` maps each raw
    column to the values its records get (e.g. ``WEIGHT_KG: {VSTESTCD: WEIGHT, VSORRESU: kg}``).
    A blank cell makes no record.
    """

    result: str = Field(
        description="the variable that takes each listed cell",
        examples=["VSORRES"],
    )
    columns: dict[str, dict[str, Scalar]] = Field(
        min_length=1,
        description=(
            "each raw column and the values its records get; the values go through CT where "
            "the variable's entry names a codelist"
        ),
        examples=[{"WEIGHT_KG": {"VSTESTCD": "WEIGHT", "VSORRESU": "kg"}}],
    )


class SourceSpec(Strict):
    """The raw sheet a domain is mapped from."""

    sheet: str = Field(
        description="the raw sheet, CSV file name without .csv, or the form of a single CSV file",
        examples=["DEMOG"],
    )
    subject: str = Field(description="the raw column holding the subject number", examples=["SUBJ"])
    record_key: list[str] = Field(
        default=[],
        description="raw columns that identify a record; a repeat is a raw-duplicate-record error",
        examples=[["SUBJ", "VISIT"]],
    )
    where: Condition | None = Field(
        default=None,
        description=(
            "keep only rows whose columns hold one of the listed values; the others are "
            "reported as raw-row-excluded"
        ),
        examples=[{"GIVEN": ["Y", "Yes"]}],
    )
    transpose: TransposeSpec | None = Field(
        default=None,
        description="findings transposition: one record per listed column of a raw row",
        examples=[{"result": "VSORRES", "columns": {"WEIGHT_KG": {"VSTESTCD": "WEIGHT"}}}],
    )


class ConvertSpec(Strict):
    """A unit conversion: multiply or divide the original value by a factor."""

    multiply: float | None = Field(
        default=None,
        description="the factor an original value is multiplied by",
        examples=[331.1],
    )
    divide: float | None = Field(
        default=None,
        description="the factor an original value is divided by",
        examples=[18.016],
    )

    @model_validator(mode="after")
    def _one(self) -> ConvertSpec:
        if (self.multiply is None) == (self.divide is None):
            raise ValueError("give exactly one of multiply, divide")
        if (self.divide or 1) == 0 or (self.multiply == 0):
            raise ValueError("the factor must not be 0")
        return self

    @property
    def factor(self) -> float:
        """The number the original value is multiplied by."""
        return self.multiply if self.multiply is not None else 1.0 / self.divide  # type: ignore[operator]


class MatchSpec(Strict):
    """How a row finds its record on another form of the same subject: give one key.

    Each takes ``[this form's column, the other form's column]``, or one name when both forms
    call the column the same.
    """

    visit: str | list[str] | None = Field(
        default=None,
        description="the same planned visit: both visit labels read through study.yaml's "
        "visits (collected labels), so D0 on one form matches Day 0 on the other",
        examples=[["INF_VISIT", "VISIT"]],
    )
    date: str | list[str] | None = Field(
        default=None,
        description="the same date (complete dates, read with lookup.formats)",
        examples=[["INF_DATE", "VIS_DATE"]],
    )
    on_or_before: str | list[str] | None = Field(
        default=None,
        description="the latest record dated on or before this row's date (the nearest "
        "preceding record; complete dates, read with lookup.formats)",
        examples=[["INF_DATE", "VIS_DATE"]],
    )

    @model_validator(mode="after")
    def _one(self) -> MatchSpec:
        given = [k for k in ("visit", "date", "on_or_before") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of visit, date, on_or_before")
        pair = self.columns
        if not 1 <= len(pair) <= 2 or not all(pair):
            raise _fail_at(
                (given[0],),
                "give this form's column and the other form's column, or one name for both",
                getattr(self, given[0]),
            )
        return self

    @property
    def kind(self) -> Literal["visit", "date", "on_or_before"]:
        """Which key was given."""
        if self.visit is not None:
            return "visit"
        return "date" if self.date is not None else "on_or_before"

    @property
    def columns(self) -> tuple[str, str]:
        """(this form's column, the other form's column)."""
        value = getattr(self, self.kind)
        names = [value] if isinstance(value, str) else list(value)
        return (names[0], names[-1]) if names else ("", "")


class LookupSpec(Strict):
    """A value taken from another form (raw sheet) of the same subject.

    ``{sheet: VITALS, column: WEIGHT_KG, match: {visit: [INF_VISIT, VISIT]}}`` takes the
    weight recorded at the row's visit; ``{sheet: VITALS, column: HEIGHT_CM, where: {VISIT:
    [Day 0]}}`` the subject's one height of Day 0. Only the other form's rows with a value in
    ``column`` (and meeting ``where``) are candidates; no candidate or more than one is a
    finding naming the row, and the variable stays empty.
    """

    sheet: str = Field(
        description="the other form: a sheet (or CSV file name) of the export",
        examples=["VITALS"],
    )
    column: str = Field(description="its column holding the value", examples=["WEIGHT_KG"])
    subject: str | None = Field(
        default=None,
        description="its subject column (default: the name of source.subject)",
        examples=["SUBJ"],
    )
    where: Condition | None = Field(
        default=None,
        description="only the other form's rows meeting this condition",
        examples=[{"VISIT": ["Day 0"]}],
    )
    match: MatchSpec | None = Field(
        default=None,
        description="visit, date or on_or_before; without it the subject must have one "
        "candidate row",
        examples=[{"on_or_before": ["INF_DATE", "VIS_DATE"]}],
    )
    formats: list[str] | None = Field(
        default=None,
        min_length=1,
        description="date formats of both date columns (match by date or on_or_before)",
        examples=[["%d-%b-%Y", "%Y/%m/%d", "%Y-%m-%d"]],
    )

    @model_validator(mode="after")
    def _formats(self) -> LookupSpec:
        dated = self.match is not None and self.match.kind != "visit"
        if dated and not self.formats:
            raise ValueError(f"match by {self.match.kind} needs formats (the date formats)")  # type: ignore[union-attr]
        if self.formats and not dated:
            raise _fail_at(("formats",), "formats are for match by date or on_or_before", None)
        for fmt in self.formats or []:
            compile_format(str(fmt))
        return self


class UnitSpec(Strict):
    """The standard unit of one test and the conversions into it."""

    standard: str = Field(
        description="the standard unit (--STRESU), a term of codelist UNIT",
        examples=["mmol/L"],
    )
    convert: dict[str, ConvertSpec] = Field(
        default={},
        description="factors from other units into the standard one",
        examples=[{"mg/dL": {"divide": 18.016}}],
    )
    digits: int | None = Field(
        default=None,
        ge=0,
        le=12,
        description=(
            "decimals converted results are rounded to (SAS ROUND); default 10 significant digits"
        ),
        examples=[2],
    )


# --- study.yaml: the analysis (ADaM) section ---------------------------------------------------

Formula = Literal[
    "homa_ir_cpeptide", "homa_b_cpeptide", "homa_ir_insulin", "homa_b_insulin", "bmi"
]
FORMULA_INPUTS: dict[str, tuple[str, ...]] = {
    "homa_ir_cpeptide": ("cpeptide", "glucose"),
    "homa_b_cpeptide": ("cpeptide", "glucose"),
    "homa_ir_insulin": ("insulin", "glucose"),
    "homa_b_insulin": ("insulin", "glucose"),
    "bmi": ("weight", "height"),
}
"""Each named formula and the inputs it takes (each input names a PARAMCD of the dataset)."""


class ZeroDoseSpec(Strict):
    """Treatment records with EXDOSE 0 (a placebo): those whose EX variables match ``where``.

    admiral's ADSL template counts ``EXDOSE > 0 | (EXDOSE == 0 & str_detect(EXTRT,
    "PLACEBO"))`` as treatment; here the match is on whole values, as every ``where``.
    """

    where: ValueCondition = Field(
        min_length=1,
        description="EX variables and the value (or values) a zero-dose treatment record has",
        examples=[{"EXTRT": "PLACEBO"}],
    )


class TreatmentSpec(Strict):
    """Which exposure records count as treatment (TRTSDT/TRTEDT, SAFFL, dose counts and sums).

    A record counts when EXDOSE is above ``min_dose`` and EXSTDTC holds a full date. ``end``
    names the variable that holds the end of each dose (TRTEDT/TRTEDTM are the latest):
    EXENDTC, the end collected; or EXSTDTC, for doses whose end was not collected and that
    count as given at their start (the SDTMIG's rule for RFXENDTC when EXENDTC was not
    collected). Nothing is assumed: a dose without a date in ``end`` is reported.
    """

    domain: Literal["EX"] = Field(
        default="EX",
        description="the exposure domain (EX)",
        examples=["EX"],
    )
    min_dose: float = Field(
        default=0.0,
        description="EX records with EXDOSE above it and a full EXSTDTC date are doses",
        examples=[0],
    )
    end: Literal["EXENDTC", "EXSTDTC"] = Field(
        default="EXENDTC",
        description=(
            "the EX variable that holds each dose's end: EXENDTC (collected) or EXSTDTC (the "
            "start counts as the end)"
        ),
        examples=["EXSTDTC"],
    )
    zero_dose: ZeroDoseSpec | None = Field(
        default=None,
        description=(
            "EX records with EXDOSE 0 that count as treatment (placebo): those matching where, "
            "as admiral's ADSL template counts EXDOSE == 0 & EXTRT PLACEBO"
        ),
        examples=[{"where": {"EXTRT": "PLACEBO"}}],
    )
    end_missing: Literal["none", "start"] = Field(
        default="none",
        description=(
            "a treatment record without a complete end: none (it gives no end; TRTEDT is the "
            "latest end of the records that have one, as admiral) or start (its start counts "
            "as its end)"
        ),
        examples=["none"],
    )


class BasetypeSpec(Strict):
    """One baseline definition (admiral's ``derive_basetype_records``): the records matching
    ``where`` (every record without it) are copied with BASETYPE set, and the baseline rule
    ``rule`` picks ABLFL among them; BASETYPE is then a by-variable of the baseline, ANL01FL,
    BASE, CHG and the derived records."""

    basetype: str = Field(
        min_length=1,
        max_length=200,
        description="the BASETYPE value",
        examples=["LAST"],
    )
    where: ValueCondition = Field(
        default={},
        description="the records this baseline definition applies to (default: every record)",
        examples=[{"ATPTN": 815}],
    )
    rule: Literal["last_on_or_before", "last_before"] | None = Field(
        default=None,
        description="the baseline rule of this definition (default: baseline.rule)",
        examples=["last_before"],
    )


class BaselineSpec(Strict):
    """The baseline rule: which record per subject and parameter gets ABLFL = Y.

    ``last_on_or_before``: the last record with a non-missing AVAL whose date is on or before
    the reference date (``last_before`` excludes the reference date itself).
    """

    rule: Literal["last_on_or_before", "last_before"] = Field(
        description="which record gets ABLFL = Y: last_on_or_before or last_before the reference",
        examples=["last_on_or_before"],
    )
    reference: Literal["TRTSDT"] = Field(
        default="TRTSDT",
        description="the date baseline is taken against",
        examples=["TRTSDT"],
    )
    avisit: str = Field(
        default="BASELINE",
        min_length=1,
        max_length=40,
        description="AVISIT of the baseline record",
        examples=["BASELINE"],
    )
    avisitn: float = Field(default=0, description="AVISITN of the baseline record", examples=[0])
    by: list[str] = Field(
        default=[],
        description=(
            "grouping variables of the baseline, ANL01FL, BASE/CHG and the derived records "
            "besides USUBJID and PARAMCD (admiral by_vars), e.g. [ATPTN]; each group gets its "
            "BASETYPE (LAST: <ATPT>)"
        ),
        examples=[["ATPTN"]],
    )
    basetypes: list[BasetypeSpec] = Field(
        default=[],
        description="several baseline definitions, each a BASETYPE (default: none, no BASETYPE)",
        examples=[[{"basetype": "LAST"}]],
    )

    @field_validator("by")
    @classmethod
    def _by(cls, value: list[str]) -> list[str]:
        fixed = {"USUBJID", "PARAMCD", "BASETYPE"}
        for name in value:
            if name in fixed:
                raise ValueError(
                    f"{name} is always a by-variable (BASETYPE when basetypes are declared); "
                    "list only the others"
                )
            if not name.isidentifier() or name.upper() != name or len(name) > 8:
                raise ValueError(f"{name!r} is not an ADaM variable name (upper case, <= 8)")
        if len(set(value)) != len(value):
            raise ValueError("a variable is listed twice")
        return value

    @field_validator("basetypes")
    @classmethod
    def _basetypes(cls, value: list[BasetypeSpec]) -> list[BasetypeSpec]:
        names = [b.basetype for b in value]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"basetype {dup[0]!r} is declared twice")
        return value


class AnalysisFlagSpec(Strict):
    """Which post-baseline record of an analysis visit gets ANL01FL = Y.

    Candidates are the records with an AVISIT and an AVAL, per subject, parameter, the
    baseline's ``by`` variables (and BASETYPE) and AVISITN. ``prefer_scheduled`` puts the
    records of planned visits (VISITNUM one of ``visits``) before unscheduled ones; then
    ``rule`` decides: ``closest`` (smallest AWTDIFF; tie: the earlier day), ``first`` or
    ``last`` (by ADT, ADTM, --SEQ), or ``worst`` (the highest or lowest AVAL, as ``worst``
    declares for the parameter; tie: the earlier ADT, ADTM, --SEQ). The baseline record gets
    ANL01FL = Y only with ``include_baseline``. Without this key: closest, no preference, and
    the baseline record flagged (trialflow's rule before these keys existed).
    """

    rule: Literal["closest", "first", "last", "worst"] = Field(
        default="closest",
        description="closest (to the window's target day), first, last or worst",
        examples=["closest"],
    )
    prefer_scheduled: bool = Field(
        default=True,
        description="records of planned visits win over unscheduled ones",
        examples=[True],
    )
    include_baseline: bool = Field(
        default=False,
        description="the baseline record (ABLFL = Y) also gets ANL01FL = Y",
        examples=[False],
    )
    worst: dict[str, Literal["highest", "lowest"]] = Field(
        default={},
        description="rule worst: PARAMCD -> highest or lowest, for every parameter",
        examples=[{"SYSBP": "highest"}],
    )


class LocfSpec(Strict):
    """Last observation carried forward records (admiral's ``derive_locf_records``).

    For each subject, parameter and group of the baseline's ``by`` (and BASETYPE) with a
    record, each expected analysis visit without an ANL01FL record with an AVAL gets a new
    record with DTYPE LOCF: the AVAL of the latest earlier visit (AVISITN order) that has one,
    the baseline record counting as the earliest (admiral carries it when it is in the input)
    unless ``carry_baseline`` is false. With nothing to carry no record is made.
    """

    dtype: Literal["LOCF"] = Field(description="LOCF", examples=["LOCF"])
    visits: list[str] | None = Field(
        default=None,
        description=(
            "the AVISITs expected (default: every analysis window whose target day is after "
            "the baseline day)"
        ),
        examples=[["WEEK 2", "WEEK 4"]],
    )
    carry_baseline: bool = Field(
        default=True,
        description="the baseline value is carried forward to visits before the first one",
        examples=[True],
    )


class EndOfTreatmentSpec(Strict):
    """End-of-treatment records (admiral's ADVS template: ``derive_extreme_records`` with
    DTYPE "LOV"): per subject, parameter and group of the baseline's ``by`` (and BASETYPE), a
    copy of the last (ADT, AVISITN) post-baseline record with ANL01FL = Y and no DTYPE, taken
    on treatment (ADT no later than TRTEDT + ``end_window`` days; a subject without TRTEDT:
    every post-baseline record), with AVISIT/AVISITN set and DTYPE LOV."""

    dtype: Literal["LOV"] = Field(description="LOV (ADaM CT: last on-treatment value)",
                                  examples=["LOV"])  # fmt: skip
    avisit: str = Field(
        default="END OF TREATMENT",
        min_length=1,
        max_length=40,
        description="AVISIT of the new records",
        examples=["END OF TREATMENT"],
    )
    avisitn: float = Field(default=99, description="AVISITN of the new records", examples=[99])
    end_window: int = Field(
        default=0,
        ge=0,
        description="days after TRTEDT a record still counts as on treatment",
        examples=[0],
    )


DerivedRecordSpec = LocfSpec | EndOfTreatmentSpec
_DERIVED = {"LOCF": LocfSpec, "LOV": EndOfTreatmentSpec}


class WindowSpec(Strict):
    """One analysis window: AVISITN/AVISIT for the days ``low`` to ``high`` (inclusive) around
    the ``target`` day, in the days of the analysis visits' ``reference``."""

    avisitn: float = Field(description="AVISITN of the window", examples=[2])
    avisit: str = Field(
        min_length=1,
        max_length=40,
        description="AVISIT of the window",
        examples=["WEEK 2"],
    )
    target: int = Field(description="the target day", examples=[15])
    low: int = Field(description="the window's first day (inclusive)", examples=[8])
    high: int = Field(description="the window's last day (inclusive)", examples=[21])

    @model_validator(mode="after")
    def _order(self) -> WindowSpec:
        if not self.low <= self.target <= self.high:
            raise ValueError(
                f"need low <= target <= high, got low {self.low}, target {self.target}, "
                f"high {self.high}"
            )
        return self


_WINDOW_LIST = TypeAdapter(list[WindowSpec])


class VisitReference(Strict):
    """A planned visit whose date is day 0 of the analysis days (``{visit: DAY 0}``)."""

    visit: str = Field(
        min_length=1,
        max_length=40,
        description="the planned visit whose date is day 0",
        examples=["DAY 0"],
    )


class AnalysisVisitsSpec(Strict):
    """How post-baseline records get their analysis visit (AVISIT), in the SAP's terms.

    ``by``: ``nominal_visit`` (AVISIT is the record's planned visit, VISITNUM = the window's
    avisitn; a record outside that visit's window keeps its visit and is reported) or
    ``window`` (AVISIT is the window the record's day falls in; a record in no window gets
    none). ``reference``: where days are counted from: ``first_treatment`` (ADY: TRTSDT is day
    1, there is no day 0) or a planned visit, ``{visit: DAY 0}`` (the subject's date of that
    visit is day 0). ``windows``: ``schedule`` (each planned visit of ``visits`` with a
    ``window``: target its ``day``, low and high ``day`` -/+ ``window``) or a list of windows.
    """

    by: Literal["nominal_visit", "window"] = Field(
        description="window (the day decides AVISIT) or nominal_visit (the planned visit does)",
        examples=["window"],
    )
    reference: Literal["first_treatment"] | VisitReference = Field(
        description="where days count from: first_treatment (ADY) or {visit: NAME}",
        examples=[{"visit": "DAY 0"}],
    )
    windows: list[WindowSpec] | Literal["schedule"] = Field(
        description="schedule (the planned visits' day +/- window) or a list of windows",
        examples=["schedule"],
    )
    exclude: list[str] = Field(
        default=[],
        description=(
            "planned visits whose records get no analysis visit (device or retrieval visits): "
            "kept, not analysed"
        ),
        examples=[["AMBUL ECG REMOVAL"]],
    )
    unscheduled: Literal["include", "exclude"] = Field(
        default="include",
        description=(
            "records of unscheduled visits (VISITNUM not a planned visit): include (they get "
            "the window of their day) or exclude (no AVISIT or window; kept, not analysed)"
        ),
        examples=["exclude"],
    )

    # The two either-or keys are read by hand, so that a mistake gets one message that says
    # what the key takes (pydantic would report a failure for each alternative).
    @field_validator("reference", mode="before")
    @classmethod
    def _reference(cls, value: object) -> object:
        if isinstance(value, dict):
            return VisitReference.model_validate(value)
        if value != "first_treatment":
            raise ValueError(
                f"{value!r}: give first_treatment (days are ADY) or {{visit: NAME}} (days count "
                "from the subject's date of that planned visit)"
            )
        return value

    @field_validator("windows", mode="before")
    @classmethod
    def _window_list(cls, value: object) -> object:
        if isinstance(value, list):
            return _WINDOW_LIST.validate_python(value)
        if value != "schedule":
            raise ValueError(
                f"{value!r}: give schedule (the planned visits' day +/- window) or a list of "
                "windows ({avisitn, avisit, target, low, high})"
            )
        return value

    @model_validator(mode="after")
    def _windows(self) -> AnalysisVisitsSpec:
        if self.windows == "schedule":
            return self
        if not self.windows:
            raise _fail_at(("windows",), "give at least one window, or schedule", [])
        seen: set[float] = set()
        for i, w in enumerate(self.windows):
            if w.avisitn in seen:
                raise _fail_at(
                    ("windows", i, "avisitn"), f"avisitn {w.avisitn:g} is used twice", w.avisitn
                )
            seen.add(w.avisitn)
        if self.by == "window":
            order = sorted(range(len(self.windows)), key=lambda i: self.windows[i].low)
            for a, b in itertools.pairwise(order):
                wa, wb = self.windows[a], self.windows[b]
                if wb.low <= wa.high:
                    raise _fail_at(
                        ("windows", b),
                        f"windows {wa.avisit} (days {wa.low} to {wa.high}) and {wb.avisit} "
                        f"(days {wb.low} to {wb.high}) overlap; by window, a day falls in one "
                        "window at most",
                        wb.low,
                    )
        return self


class CensoredSpec(Strict):
    """AVAL of a result reported beyond a limit (``<0.5`` below, ``>500`` above).

    ``below``: ``half_limit`` (DTYPE HALFLLOQ), ``limit`` (DTYPE LLOQ) or ``none`` (AVAL stays
    empty); ``above``: ``limit`` (DTYPE ULOQ) or ``none``. A direction not declared leaves AVAL
    empty too, and is reported as a warning. AVALC always keeps the result's text.
    """

    below: Literal["half_limit", "limit", "none"] | None = Field(
        default=None,
        description="AVAL of a result below a limit: half_limit, limit or none",
        examples=["half_limit"],
    )
    above: Literal["limit", "none"] | None = Field(
        default=None,
        description="AVAL of a result above a limit: limit or none",
        examples=["limit"],
    )

    @model_validator(mode="after")
    def _something(self) -> CensoredSpec:
        if self.below is None and self.above is None:
            raise ValueError("censored needs below, above or both")
        return self


class ParameterSpec(Strict):
    """One BDS parameter taken from SDTM findings records selected by ``where``.

    ``digits``: the decimals the parameter is measured to. AVAL converted in ADaM is rounded
    to it (SAS's ROUND; without it, 10 significant digits), a collected value with more
    decimals is reported, and the report shows the parameter's statistics by it.
    """

    paramcd: str = Field(min_length=1, max_length=8, description="PARAMCD", examples=["FPG"])
    param: str = Field(
        min_length=1,
        max_length=200,
        description="PARAM",
        examples=["Fasting plasma glucose (mmol/L)"],
    )
    paramn: int | None = Field(default=None, description="PARAMN", examples=[1])
    parcat1: str | None = Field(default=None, description="PARCAT1", examples=["GLYCAEMIA"])
    where: ValueCondition = Field(
        min_length=1,
        description="conditions on SDTM variables that select the parameter's records",
        examples=[{"LBTESTCD": "GLUC", "LBFAST": "Y"}],
    )
    unit: str | None = Field(
        default=None,
        description="the unit AVAL is in (--STRESU)",
        examples=["mmol/L"],
    )
    convert: dict[str, ConvertSpec] = Field(
        default={},
        description="factors from other --STRESU units into unit",
        examples=[{"ng/mL": {"multiply": 331.1}}],
    )
    digits: int | None = Field(
        default=None,
        ge=0,
        le=12,
        description="the decimals the parameter is measured to (see Precision)",
        examples=[2],
    )
    censored: CensoredSpec | None = Field(
        default=None,
        description="AVAL of results beyond a limit",
        examples=[{"below": "half_limit"}],
    )


class ComputedSpec(Strict):
    """A parameter computed from others at the same visit by a named formula.

    ``digits``: the decimals AVAL is rounded to (SAS's ROUND); without it, 10 significant
    digits.

    ``censored_inputs`` says what happens when an input is a result beyond a limit
    (``<0.5``): ``imputed`` computes from the input's imputed AVAL (its parameter must declare
    ``censored``) and sets IMPUTFL; ``missing`` leaves AVAL empty. Undeclared, AVAL stays empty
    and the record is reported as a warning.
    """

    paramcd: str = Field(min_length=1, max_length=8, description="PARAMCD", examples=["HOMAIR"])
    param: str = Field(
        min_length=1,
        max_length=200,
        description="PARAM",
        examples=["HOMA-IR (C-peptide)"],
    )
    paramn: int | None = Field(default=None, description="PARAMN", examples=[10])
    parcat1: str | None = Field(
        default=None,
        description="PARCAT1",
        examples=["INSULIN RESISTANCE"],
    )
    formula: Formula = Field(
        description="the named formula (see the formulas table)",
        examples=["homa_ir_cpeptide"],
    )
    inputs: dict[str, str] = Field(
        min_length=1,
        description="the formula's inputs: role -> PARAMCD",
        examples=[{"cpeptide": "FCP", "glucose": "FPG"}],
    )
    constant: list[str] = Field(
        default=[],
        description="inputs measured once per subject",
        examples=[["HEIGHT"]],
    )
    digits: int | None = Field(
        default=None,
        ge=0,
        le=12,
        description="the decimals AVAL is rounded to",
        examples=[2],
    )
    censored_inputs: Literal["imputed", "missing"] | None = Field(
        default=None,
        description="an input beyond a limit: imputed (use its imputed AVAL) or missing",
        examples=["imputed"],
    )

    @model_validator(mode="after")
    def _inputs(self) -> ComputedSpec:
        needed = set(FORMULA_INPUTS[self.formula])
        given = set(self.inputs)
        if given != needed:
            raise ValueError(
                f"formula {self.formula} takes inputs {', '.join(sorted(needed))}"
                f" (got {', '.join(sorted(given))})"
            )
        unknown = [c for c in self.constant if c not in self.inputs.values()]
        if unknown:
            raise ValueError(f"constant names {', '.join(unknown)}, which is not an input")
        return self


class BdsSpec(Strict):
    """One BDS dataset (ADLB, ADVS): its SDTM source domain and parameters.

    ``pchg_digits``: the decimals PCHG is rounded to; without it, 10 significant digits.
    """

    source: str = Field(
        min_length=2,
        max_length=2,
        description="the SDTM findings domain",
        examples=["LB"],
    )
    parameters: list[ParameterSpec] = Field(
        min_length=1,
        description="parameters taken from SDTM records",
        examples=[
            [
                {
                    "paramcd": "FPG",
                    "param": "Fasting plasma glucose (mmol/L)",
                    "where": {"LBTESTCD": "GLUC"},
                }
            ]
        ],
    )
    computed: list[ComputedSpec] = Field(
        default=[],
        description="parameters computed from others at the same visit",
        examples=[
            [
                {
                    "paramcd": "BMI",
                    "param": "BMI (kg/m2)",
                    "formula": "bmi",
                    "inputs": {"weight": "WEIGHT", "height": "HEIGHT"},
                }
            ]
        ],
    )
    pchg_digits: int | None = Field(
        default=None,
        ge=0,
        le=12,
        description="the decimals PCHG is rounded to",
        examples=[2],
    )


class DiagnosisSpec(Strict):
    """ADSL disease history from a medical history record: its date and duration in years.

    A partial date is imputed (``imputation``: admiral's first, mid or last; a missing year
    is not imputed) and ``flag_var`` says which part was (D or M).
    """

    domain: Literal["MH"] = Field(
        default="MH",
        description="the domain of the history record (MH)",
        examples=["MH"],
    )
    where: ValueCondition = Field(
        min_length=1,
        description="conditions on MH variables that select the record",
        examples=[{"MHTERM": "TYPE 2 DIABETES MELLITUS"}],
    )
    date: str = Field(default="MHSTDTC", description="the MH date variable", examples=["MHSTDTC"])
    date_var: str = Field(
        min_length=1,
        max_length=8,
        description="the ADSL variable for the (imputed) date",
        examples=["DIAGDT"],
    )
    flag_var: str | None = Field(
        default=None,
        min_length=1,
        max_length=8,
        description="the ADSL variable for its imputation flag (D or M)",
        examples=["DIAGDTF"],
    )
    duration_var: str = Field(
        min_length=1,
        max_length=8,
        description="the ADSL variable for the duration in years up to TRTSDT",
        examples=["DURDIAG"],
    )
    imputation: Literal["first", "mid", "last"] = Field(
        default="mid",
        description="how a partial date is imputed: first, mid or last",
        examples=["mid"],
    )


class DispositionSpec(Strict):
    """ADSL end-of-study variables from the disposition events of DS, as admiral's ADSL
    template derives them (``derive_vars_merged`` with ``format_eosstt``).

    EOSSTT is COMPLETED for a ``completed`` term, empty for a ``screen_failure`` term,
    DISCONTINUED for any other, ONGOING when the subject has no disposition event; DCSREAS is
    the DSDECOD of a discontinued subject; EOSDT the date of the event (DSSTDTC, complete dates
    only), empty for a screen failure.
    """

    domain: Literal["DS"] = Field(
        default="DS",
        description="the domain of the disposition events (DS)",
        examples=["DS"],
    )
    where: ValueCondition = Field(
        default={"DSCAT": "DISPOSITION EVENT"},
        min_length=1,
        description=(
            "conditions on DS variables that select the end-of-study disposition event "
            "(one per subject)"
        ),
        examples=[{"DSCAT": "DISPOSITION EVENT"}],
    )
    completed: list[str] = Field(
        default=["COMPLETED"],
        min_length=1,
        description="DSDECOD terms that mean the subject completed the study",
        examples=[["COMPLETED"]],
    )
    screen_failure: list[str] = Field(
        default=["SCREEN FAILURE"],
        description="DSDECOD terms of subjects who never entered (EOSSTT and EOSDT empty)",
        examples=[["SCREEN FAILURE"]],
    )


class AdslSpec(Strict):
    """ADSL facts: baseline values copied from BDS baseline records, populations, history."""

    baseline: dict[str, str] = Field(
        default={},
        description="ADSL variable -> PARAMCD whose baseline AVAL it takes",
        examples=[{"WEIGHTBL": "WEIGHT"}],
    )
    diagnosis: DiagnosisSpec | None = Field(
        default=None,
        description="disease history from MH",
        examples=[
            {
                "where": {"MHDECOD": "Type 2 diabetes mellitus"},
                "date_var": "DIAGDT",
                "duration_var": "DURDIAG",
            }
        ],
    )
    full_analysis: list[str] = Field(
        default=[],
        description="FASFL = Y for treated subjects with a baseline and a change of each PARAMCD",
        examples=[["HBA1C"]],
    )
    intent_to_treat: Literal["assigned"] | None = Field(
        default=None,
        description=(
            "ITTFL: assigned (Y for a subject assigned to an arm, DM.ARMCD not empty, else N); "
            "absent: no ITTFL"
        ),
        examples=["assigned"],
    )
    disposition: DispositionSpec | None = Field(
        default=None,
        description="EOSSTT, DCSREAS and EOSDT from the DS disposition events",
        examples=[{"where": {"DSCAT": "DISPOSITION EVENT"}}],
    )


class AdaeSpec(Strict):
    """ADAE facts: the treatment-emergent window after the last dose (days)."""

    emergent_days: int = Field(
        ge=0,
        description="TRTEMFL = Y up to this many days after TRTEDT",
        examples=[30],
    )


class DddSpec(Strict):
    """One agent's WHO defined daily dose (ATC/DDD Index): the amount and its unit."""

    ddd: float = Field(gt=0, description="the defined daily dose", examples=[2000])
    unit: str = Field(
        min_length=1,
        max_length=20,
        description="its unit, as CMDOSU holds it (CDISC UNIT submission value)",
        examples=["mg"],
    )
    atc: str | None = Field(
        default=None,
        min_length=1,
        max_length=7,
        description="the agent's ATC code (documentation; not used in the derivation)",
        examples=["A10BA02"],
    )


class DoseParameterSpec(Strict):
    """One ADDOSE parameter: what is summed over a subject's active regimens on a visit date.

    ``measure``: ``ddd`` sums CMDOSTOT / DDD (defined daily doses per day) over the active
    records of ``agents``; ``dose`` sums CMDOSTOT (every record in ``unit``); ``dose_per_kg``
    divides that sum by the subject's weight on the visit date; ``percent_of_baseline`` is
    100 x the AVAL of parameter ``of`` / its baseline value (subjects with a baseline above 0).
    ``digits``: the decimals AVAL is rounded to (SAS's ROUND).
    """

    paramcd: str = Field(min_length=1, max_length=8, description="PARAMCD", examples=["TOTDDD"])
    param: str = Field(
        min_length=1,
        max_length=200,
        description="PARAM",
        examples=["Total hypoglycaemic agent dose (DDD/day)"],
    )
    paramn: int = Field(description="PARAMN", examples=[1])
    agents: str = Field(
        min_length=1,
        description="all, or a class of adam.dose.classes",
        examples=["all"],
    )
    measure: Literal["ddd", "dose", "dose_per_kg", "percent_of_baseline"] = Field(
        description="ddd, dose, dose_per_kg or percent_of_baseline",
        examples=["ddd"],
    )
    unit: str | None = Field(
        default=None,
        description="the CMDOSU unit of measure dose and dose_per_kg",
        examples=["U"],
    )
    of: str | None = Field(
        default=None,
        description="the PARAMCD percent_of_baseline is a percentage of",
        examples=["ORALDDD"],
    )
    digits: int = Field(
        ge=0,
        le=12,
        description="the decimals AVAL is rounded to",
        examples=[4],
    )

    @model_validator(mode="after")
    def _needs(self) -> DoseParameterSpec:
        if self.measure in ("dose", "dose_per_kg") and self.unit is None:
            raise ValueError(f"{self.paramcd}: measure {self.measure} needs unit (e.g. unit: U)")
        if (self.measure == "percent_of_baseline") != (self.of is not None):
            raise ValueError(
                f"{self.paramcd}: of (the PARAMCD it is a percentage of) goes with measure "
                "percent_of_baseline, and only with it"
            )
        return self


class DoseCategory(Strict):
    """One value of AVALCAT1: records whose PCHG is at most ``pchg_max`` (the last: the rest)."""

    avalcat1: str = Field(
        min_length=1, max_length=200, description="AVALCAT1", examples=[">=50% REDUCTION"]
    )
    avalca1n: int = Field(description="AVALCA1N", examples=[2])
    pchg_max: float | None = Field(
        default=None,
        description="the highest PCHG of the category (none: every PCHG above the previous)",
        examples=[-50],
    )


class DoseCategoriesSpec(Strict):
    """AVALCAT1/AVALCA1N of post-baseline records of ``paramcd`` with a baseline above 0.

    ``discontinued``: the category of AVAL = 0 (no agent active); otherwise the first of
    ``by_pchg`` whose ``pchg_max`` is at least PCHG (rounded to ``pchg_digits``), the last
    (without ``pchg_max``) for the rest.
    """

    paramcd: list[str] = Field(
        min_length=1, description="the parameters categorised", examples=[["TOTDDD"]]
    )
    discontinued: DoseCategory = Field(
        description="the category of a post-baseline AVAL of 0",
        examples=[{"avalcat1": "DISCONTINUED", "avalca1n": 1}],
    )
    by_pchg: list[DoseCategory] = Field(
        min_length=1,
        description="the categories by PCHG, lowest first",
        examples=[[{"avalcat1": "REDUCED", "avalca1n": 2, "pchg_max": -10},
                   {"avalcat1": "NOT REDUCED", "avalca1n": 3}]],
    )  # fmt: skip

    @model_validator(mode="after")
    def _ordered(self) -> DoseCategoriesSpec:
        limits = [c.pchg_max for c in self.by_pchg]
        if limits[-1] is not None or any(x is None for x in limits[:-1]):
            raise ValueError("by_pchg: every category but the last has pchg_max; the last has none")
        if any(a >= b for a, b in itertools.pairwise(limits[:-1])):  # type: ignore[operator]
            raise ValueError("by_pchg: pchg_max must increase from one category to the next")
        return self


class DoseCriterion(Strict):
    """CRITy/CRITyFL: Y where PCHG <= ``pchg_max`` (post-baseline records with PCHG) or where
    AVAL <= ``aval_max`` (records with AVAL), N otherwise, on the records of ``paramcd``."""

    crit: str = Field(
        min_length=1,
        max_length=200,
        description="CRITy, the criterion's text",
        examples=["Reduced by >= 10 % from baseline"],
    )
    paramcd: list[str] = Field(min_length=1, description="the parameters", examples=[["TOTDDD"]])
    pchg_max: float | None = Field(default=None, description="PCHG at most", examples=[-10])
    aval_max: float | None = Field(default=None, description="AVAL at most", examples=[0.2])

    @model_validator(mode="after")
    def _one_limit(self) -> DoseCriterion:
        if (self.pchg_max is None) == (self.aval_max is None):
            raise ValueError("give one of pchg_max and aval_max")
        return self


class DoseWeightSpec(Strict):
    """The body weight of dose_per_kg: the ADVS parameter, its last value on or before the
    visit date."""

    paramcd: str = Field(
        min_length=1, max_length=8, description="ADVS PARAMCD", examples=["WEIGHT"]
    )


class PartialDatesSpec(Strict):
    """How a partial CMSTDTC / CMENDTC is completed to decide whether a regimen was active on
    a date: a missing day or month to the first (start) or last (end) of its period; the
    imputed dates are flagged (IMPUTFL) and reported."""

    start: Literal["first"] = Field(default="first", description="first", examples=["first"])
    end: Literal["last"] = Field(default="last", description="last", examples=["last"])


class DoseSpec(Strict):
    """ADDOSE: a BDS dataset of the daily dose of concomitant agents by analysis visit.

    A CM record is active on day D when its start (CMSTDTC) is on or before D and it has no
    end (CMENDTC) or ends on or after D. The first of ``visits`` is the baseline (ABLFL).
    """

    source: Literal["CM"] = Field(default="CM", description="the SDTM domain", examples=["CM"])
    where: ValueCondition = Field(
        min_length=1,
        description="the CM records that count",
        examples=[{"CMCAT": "HYPOGLYCAEMIC AGENT"}],
    )
    visits: list[str] = Field(
        min_length=2,
        description="planned visits (VISIT) analysed, baseline first; dates from SV SVSTDTC",
        examples=[["DAY 0", "DAY 28"]],
    )
    classes: dict[str, ValueCondition] = Field(
        default={},
        description="named groups of agents, by conditions on CM variables",
        examples=[{"insulin": {"CMCLASCD": "A10A"}}],
    )
    ddd: dict[str, DddSpec] = Field(
        default={},
        description="CMDECOD -> its defined daily dose",
        examples=[{"METFORMIN": {"ddd": 2000, "unit": "mg", "atc": "A10BA02"}}],
    )
    weight: DoseWeightSpec | None = Field(
        default=None,
        description="the body weight of dose_per_kg",
        examples=[{"paramcd": "WEIGHT"}],
    )
    partial_dates: PartialDatesSpec = Field(
        default=PartialDatesSpec(),
        description="how partial start and end dates are completed",
        examples=[{"start": "first", "end": "last"}],
    )
    pchg_digits: int = Field(
        default=2, ge=0, le=12, description="the decimals PCHG is rounded to", examples=[2]
    )
    parameters: list[DoseParameterSpec] = Field(
        min_length=1,
        description="the parameters",
        examples=[[{"paramcd": "TOTDDD", "paramn": 1, "param": "Total dose (DDD/day)",
                    "agents": "all", "measure": "ddd", "digits": 4}]],
    )  # fmt: skip
    categories: DoseCategoriesSpec | None = Field(
        default=None,
        description="AVALCAT1 by percent change",
    )
    criteria: list[DoseCriterion] = Field(
        default=[],
        max_length=9,
        description="CRIT1, CRIT2, ... in this order",
    )

    @model_validator(mode="after")
    def _references(self) -> DoseSpec:
        codes = [p.paramcd for p in self.parameters]
        dup = sorted({c for c in codes if codes.count(c) > 1})
        if dup:
            raise ValueError(f"parameters: PARAMCD {', '.join(dup)} defined twice")
        for i, p in enumerate(self.parameters):
            if p.agents != "all" and p.agents not in self.classes:
                raise _fail_at(
                    ("parameters", i, "agents"),
                    f"{p.paramcd}: agents {p.agents} is not all nor a class of classes "
                    f"({', '.join(self.classes) or 'none declared'})",
                    p.agents,
                )
            if p.of is not None and p.of not in codes:
                raise _fail_at(("parameters", i, "of"),
                               f"{p.paramcd}: of {p.of} is not a PARAMCD of parameters", p.of)
            if p.measure == "dose_per_kg" and self.weight is None:
                raise ValueError(f"{p.paramcd}: measure dose_per_kg needs weight (e.g. "
                                 "weight: {paramcd: WEIGHT})")  # fmt: skip
        named = [*(self.categories.paramcd if self.categories else []),
                 *(c for crit in self.criteria for c in crit.paramcd)]  # fmt: skip
        unknown = sorted({c for c in named if c not in codes})
        if unknown:
            raise ValueError(f"categories/criteria name PARAMCD {', '.join(unknown)}, not in "
                             "parameters")  # fmt: skip
        if len(set(self.visits)) != len(self.visits):
            raise ValueError("visits: a visit is named twice")
        return self


class AdcmSpec(Strict):
    """ADCM facts: how long after the last dose a medication started still counts as taken
    during treatment (ONTRTFL)."""

    window_days: int = Field(
        default=0,
        ge=0,
        description="ONTRTFL = Y for a medication starting up to this many days after TRTEDT",
        examples=[0],
    )


class AdamSpec(Strict):
    """The analysis section of study.yaml: everything the ADaM templates need to know."""

    treatment: TreatmentSpec = Field(
        description="which exposure records count as treatment",
        examples=[{"min_dose": 0, "end": "EXSTDTC"}],
    )
    baseline: BaselineSpec = Field(
        description="the baseline rule",
        examples=[{"rule": "last_on_or_before"}],
    )
    analysis_visits: AnalysisVisitsSpec = Field(
        description="how post-baseline records get AVISIT",
        examples=[{"by": "window", "reference": {"visit": "DAY 0"}, "windows": "schedule"}],
    )
    analysis_flag: AnalysisFlagSpec | None = Field(
        default=None,
        description=(
            "the ANL01FL rule (absent: closest to the target day, and the baseline record "
            "flagged too)"
        ),
        examples=[{"rule": "closest", "prefer_scheduled": True, "include_baseline": False}],
    )
    derived_records: list[DerivedRecordSpec] = Field(
        default=[],
        description="derived records: {dtype: LOCF} and {dtype: LOV} (end of treatment)",
        examples=[[{"dtype": "LOCF"}, {"dtype": "LOV", "avisit": "END OF TREATMENT",
                    "avisitn": 99}]],
    )
    adsl: AdslSpec = Field(
        default=AdslSpec(),
        description="ADSL facts: baseline values, populations, disease history, end of study",
        examples=[{"baseline": {"WEIGHTBL": "WEIGHT"}}],
    )
    datasets: dict[Literal["ADLB", "ADVS"], BdsSpec] = Field(
        default={},
        description="the BDS datasets, ADLB and ADVS",
    )
    adae: AdaeSpec | None = Field(
        default=None,
        description="ADAE facts",
        examples=[{"emergent_days": 30}],
    )
    dose: DoseSpec | None = Field(
        default=None,
        description="ADDOSE: the daily dose of concomitant agents (CM) by analysis visit",
    )
    adcm: AdcmSpec | None = Field(
        default=None,
        description="ADCM facts (prior and on-treatment medication)",
        examples=[{"window_days": 0}],
    )

    @model_validator(mode="before")
    @classmethod
    def _windows_moved(cls, data: object) -> object:
        if isinstance(data, dict) and "windows" in data:
            raise _fail_at(
                ("windows",),
                "windows now sit under analysis_visits, which also says how AVISIT is assigned "
                "and where days count from; windows by ADY as before read: analysis_visits: "
                "{by: window, reference: first_treatment, windows: [...]}",
                data["windows"],
            )
        return data

    # derived records are told apart by dtype, read by hand so that a mistake gets one
    # message (pydantic would report a failure for each alternative)
    @field_validator("derived_records", mode="before")
    @classmethod
    def _derived_records(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        out = []
        for i, item in enumerate(value):
            kind = item.get("dtype") if isinstance(item, dict) else None
            model = _DERIVED.get(str(kind))
            if model is None:
                raise _fail_at(
                    (i, "dtype"),
                    f"{kind!r}: give dtype LOCF (last observation carried forward) or LOV "
                    "(end of treatment: the last on-treatment value)",
                    kind,
                )
            try:
                out.append(model.model_validate(item))
            except ValidationError as err:
                raise ValidationError.from_exception_data(
                    "spec",
                    [
                        InitErrorDetails(type=e["type"], loc=(i, *e["loc"]), input=e["input"],
                                         ctx=e.get("ctx", {}))  # type: ignore[typeddict-item]
                        for e in err.errors()
                    ],
                ) from None
        kinds = [type(o) for o in out]
        if len(set(kinds)) != len(kinds):
            raise ValueError("each dtype may be declared once")
        return out

    @model_validator(mode="after")
    def _unique(self) -> AdamSpec:
        defined = {
            p.paramcd for bds in self.datasets.values() for p in [*bds.parameters, *bds.computed]
        }
        flag = self.analysis_flag
        if flag is not None and flag.rule == "worst":
            missing = sorted(defined - set(flag.worst))
            if missing:
                raise _fail_at(
                    ("analysis_flag", "worst"),
                    f"rule worst needs the direction of every parameter; add "
                    f"{', '.join(f'{p}: highest' for p in missing)} (or lowest)",
                    flag.worst,
                )
        if flag is not None:
            unknown = sorted(set(flag.worst) - defined)
            if unknown:
                raise _fail_at(
                    ("analysis_flag", "worst"),
                    f"PARAMCD {', '.join(unknown)} is not a parameter of adam.datasets",
                    flag.worst,
                )
        for variable, paramcd in self.adsl.baseline.items():
            if paramcd not in defined:
                raise ValueError(
                    f"adsl.baseline: {variable} takes PARAMCD {paramcd}, which no dataset defines"
                )
        unknown = [p for p in self.adsl.full_analysis if p not in defined]
        if unknown:
            raise ValueError(f"adsl.full_analysis: PARAMCD {', '.join(unknown)} is not defined")
        if self.dose is not None and self.dose.weight is not None:
            advs = self.datasets.get("ADVS")
            weights = [p.paramcd for p in [*advs.parameters, *advs.computed]] if advs else []
            if self.dose.weight.paramcd not in weights:
                raise ValueError(
                    f"dose.weight: PARAMCD {self.dose.weight.paramcd} is not a parameter of "
                    "datasets.ADVS"
                )
        for name, bds in self.datasets.items():
            codes = [p.paramcd for p in bds.parameters] + [c.paramcd for c in bds.computed]
            dup = sorted({c for c in codes if codes.count(c) > 1})
            if dup:
                raise ValueError(f"{name}: PARAMCD {', '.join(dup)} defined twice")
            plain = [p.paramcd for p in bds.parameters]
            for comp in bds.computed:
                missing = [p for p in comp.inputs.values() if p not in plain]
                if missing:
                    raise ValueError(
                        f"{name}: {comp.paramcd} needs {', '.join(missing)}, which is not one "
                        "of the dataset's parameters (computed parameters take measured ones)"
                    )
        return self


# --- study.yaml: the analysis section ----------------------------------------------------------


class EndpointSpec(Strict):
    """Parameters of one BDS dataset to summarise by visit, test against baseline and plot."""

    dataset: Literal["ADLB", "ADVS"] = Field(description="ADLB or ADVS", examples=["ADLB"])
    paramcd: list[str] = Field(
        min_length=1,
        description="the parameters",
        examples=[["HBA1C", "FPG"]],
    )
    purpose: (
        Literal["primary", "secondary", "exploratory"]
        | dict[str, Literal["primary", "secondary", "exploratory"]]
        | None
    ) = Field(
        default=None,
        description="the SAP's role of these analyses (define.xml's ARM AnalysisPurpose): one "
        "for all, or one per PARAMCD; a parameter without one gets no analysis results there",
        examples=["primary", {"HBA1C": "primary", "FPG": "secondary"}],
    )

    @model_validator(mode="after")
    def _purposes_name_parameters(self) -> EndpointSpec:
        if isinstance(self.purpose, dict):
            unknown = [p for p in self.purpose if p not in self.paramcd]
            if unknown:
                named = ", ".join(self.paramcd)
                raise ValueError(f"purpose names {', '.join(unknown)}, not in paramcd ({named})")
        return self

    def purpose_of(self, paramcd: str) -> str | None:
        """The declared purpose of one parameter's analyses, or None.

        Example:
            >>> EndpointSpec(dataset="ADLB", paramcd=["FPG", "HBA1C"],
            ...              purpose={"HBA1C": "primary"}).purpose_of("FPG") is None
            True
        """
        if isinstance(self.purpose, dict):
            return self.purpose.get(paramcd)
        return self.purpose


class Table1Row(Strict):
    """One baseline characteristic of Table 1: an ADSL variable or a BDS parameter's baseline.

    ``variable`` names an ADSL variable; ``paramcd`` a parameter whose baseline AVAL
    (ABLFL = Y) is summarised. Continuous rows show mean +/- SD, categorical rows n (%).
    """

    label: str = Field(
        min_length=1,
        max_length=80,
        description="the row's label",
        examples=["Age (years)"],
    )
    variable: str | None = Field(default=None, description="an ADSL variable", examples=["AGE"])
    dataset: Literal["ADLB", "ADVS"] | None = Field(
        default=None,
        description="the BDS dataset of paramcd",
        examples=["ADVS"],
    )
    paramcd: str | None = Field(
        default=None,
        description="a parameter whose baseline AVAL is summarised",
        examples=["WEIGHT"],
    )
    kind: Literal["continuous", "categorical"] = Field(
        default="continuous",
        description="continuous (mean +/- SD) or categorical (n (%))",
        examples=["continuous"],
    )
    digits: int = Field(
        default=2,
        ge=0,
        le=6,
        description="the decimals of mean and SD",
        examples=[1],
    )

    @model_validator(mode="after")
    def _source(self) -> Table1Row:
        if (self.variable is None) == (self.paramcd is None):
            raise ValueError("give either variable (ADSL) or dataset and paramcd (baseline)")
        if self.paramcd is not None and self.dataset is None:
            raise ValueError("paramcd needs dataset (ADLB or ADVS)")
        return self


class SafetySpec(Strict):
    """The safety section of the report: adverse events by term (and per infusion), labs and
    vitals by visit.

    ``within_days``: an adverse event counts as following an infusion within the declared
    interval when it starts on the infusion's date or at most this many days after it (ADAE
    INFDAYS 0 .. within_days; the interval is in days because ADAE's start is a date).
    ``parameters``: BDS parameters summarised by analysis visit with the change from
    baseline. ``population``: the flag whose "Y" subjects count (default SAFFL).
    """

    population: str = Field(
        default="SAFFL",
        min_length=1,
        max_length=8,
        description="the flag whose Y subjects count",
        examples=["SAFFL"],
    )
    by_administration: bool = Field(
        default=True,
        description=(
            "adverse events also counted per administration (infusion k) and within "
            "within_days of one; false where the treatment is taken continuously and an EX "
            "record is a dosing period (then only the counts by term and group)"
        ),
        examples=[False],
    )
    within_days: int | None = Field(
        default=None,
        ge=0,
        description=(
            "an adverse event follows an infusion within the interval when it starts at most "
            "this many days after it (needed by by_administration)"
        ),
        examples=[1],
    )
    parameters: list[EndpointSpec] = Field(
        default=[],
        description="safety labs and vital signs summarised by visit",
        examples=[[{"dataset": "ADLB", "paramcd": ["ALT"]}]],
    )

    @model_validator(mode="after")
    def _within_days_per_administration(self) -> SafetySpec:
        if self.by_administration and self.within_days is None:
            raise _fail_at(
                ("within_days",),
                "required to count adverse events per administration (add within_days: N, "
                "or by_administration: false for continuous dosing)",
                None,
            )
        return self


class DoseAnalysisSpec(Strict):
    """The dose section of the report (ADDOSE): categories of the change from baseline by
    visit, the medication changes by class and the figure of the dose over time."""

    paramcd: str = Field(
        min_length=1,
        max_length=8,
        description="the ADDOSE parameter of the categories and the figure",
        examples=["TOTDDD"],
    )
    classes: dict[str, str] = Field(
        default={},
        description="label -> ADDOSE PARAMCD of one class of agents (medication changes)",
        examples=[{"Insulin": "INSTDD"}],
    )
    withdrawal: str | None = Field(
        default=None,
        description="the ADDOSE PARAMCD whose last criterion flags the withdrawal threshold",
        examples=["INSKGDD"],
    )
    withdrawal_class: str | None = Field(
        default=None,
        description="the label in classes of the agents withdrawn at that threshold",
        examples=["Insulin"],
    )
    population: str | None = Field(
        default=None,
        min_length=1,
        max_length=8,
        description="the flag whose Y subjects count (default: analysis.population)",
        examples=["FASFL"],
    )
    purpose: Literal["primary", "secondary", "exploratory"] | None = Field(
        default=None,
        description="the SAP's role of the analysis (define.xml's ARM AnalysisPurpose); "
        "without it the analysis has no analysis results metadata",
        examples=["exploratory"],
    )

    @model_validator(mode="after")
    def _withdrawal_class(self) -> DoseAnalysisSpec:
        if (self.withdrawal is None) != (self.withdrawal_class is None):
            raise ValueError("withdrawal and withdrawal_class go together")
        if self.withdrawal_class is not None and self.withdrawal_class not in self.classes:
            raise ValueError(f"withdrawal_class {self.withdrawal_class} is not in classes")
        return self


class GroupSpec(Strict):
    """The treatment groups the analysis compares: an ADSL variable, its control, a total.

    ``variable`` is the ADSL column whose values are the groups (TRT01P for the planned,
    TRT01A for the actual treatment); the groups are ordered by ``<variable>N`` when ADSL has
    it, else alphabetically with the control first. ``control`` is the reference arm of the
    between-group comparisons. ``total`` adds a column of all groups together to Table 1 and
    the adverse-event counts.
    """

    variable: str = Field(
        min_length=1,
        max_length=8,
        description="the ADSL variable whose values are the groups",
        examples=["TRT01P"],
    )
    control: str | None = Field(
        default=None,
        min_length=1,
        description="the value of variable that is the control arm (needed by comparisons)",
        examples=["Placebo"],
    )
    total: bool = Field(
        default=True,
        description="a Total column (all groups) in Table 1 and the adverse-event counts",
        examples=[True],
    )


class ComparisonSpec(Strict):
    """One between-group comparison of the change from baseline (CHG) at each visit.

    ``ancova``: the linear model CHG ~ group + covariates (treatment coding against the
    control arm), least-squares means per group at the covariates' means and the differences
    against control, as R's ``lm`` with ``emmeans``. ``wilcoxon``: the Wilcoxon rank-sum test
    of each group against control with the location shift (Hodges-Lehmann) and its confidence
    interval and, with more than two groups, the Kruskal-Wallis test across all, as R's
    ``wilcox.test(conf.int = TRUE)`` and ``kruskal.test`` with their defaults.
    """

    method: Literal["ancova", "wilcoxon"] = Field(
        description="ancova or wilcoxon",
        examples=["ancova"],
    )
    covariates: list[str] = Field(
        default=[],
        description="numeric columns of the BDS dataset in the model besides the group "
        "(ancova only)",
        examples=[["BASE"]],
    )

    @model_validator(mode="after")
    def _covariates_for_ancova(self) -> ComparisonSpec:
        if self.covariates and self.method != "ancova":
            raise _fail_at(("covariates",), "covariates are for method ancova", self.covariates)
        return self


class AnalysisSpec(Strict):
    """How the statistics are computed and shown (issue-level facts of the SAP)."""

    quantile_method: Literal["sas5", "spss", "r7"] = Field(
        description="sas5, spss or r7",
        examples=["spss"],
    )
    test: Literal["r", "spss", "asymptotic", "exact", "exact_pratt"] = Field(
        default="r",
        description="how the signed-rank test is computed (see The signed-rank test)",
        examples=["spss"],
    )
    population: str = Field(
        default="FASFL",
        min_length=1,
        max_length=8,
        description="the flag whose Y subjects are analysed",
        examples=["FASFL"],
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="the level marked in the figures",
        examples=[0.05],
    )
    conf_level: float = Field(
        default=0.95,
        gt=0,
        lt=1,
        description="the confidence level of the Hodges-Lehmann and comparison intervals",
        examples=[0.95],
    )
    endpoints: list[EndpointSpec] = Field(
        min_length=1,
        description="parameters summarised per analysis visit and plotted",
        examples=[[{"dataset": "ADLB", "paramcd": ["HBA1C"]}]],
    )
    table1: list[Table1Row] = Field(
        default=[],
        description="rows of the baseline table",
        examples=[[{"label": "Age (years)", "variable": "AGE"}]],
    )
    safety: SafetySpec | None = Field(
        default=None,
        description="the safety section of the report",
        examples=[{"within_days": 1}],
    )
    dose: DoseAnalysisSpec | None = Field(
        default=None,
        description="the dose section of the report (ADDOSE)",
        examples=[{"paramcd": "TOTDDD"}],
    )
    group: GroupSpec | None = Field(
        default=None,
        description="the treatment groups (absent: one group, a single-arm study)",
        examples=[{"variable": "TRT01P", "control": "Placebo", "total": True}],
    )
    derived_records: list[Literal["LOCF", "LOV"]] = Field(
        default=[],
        description=(
            "the DTYPEs of adam.derived_records the summaries, figures and comparisons take "
            "beside the observed records (an LOCF analysis: [LOCF, LOV]); default []: "
            "observed cases only (a record imputed in place, such as HALFLLOQ, is observed)"
        ),
        examples=[["LOCF", "LOV"]],
    )
    comparisons: list[ComparisonSpec] = Field(
        default=[],
        description="between-group comparisons of CHG at each visit (need group.control)",
        examples=[[{"method": "ancova", "covariates": ["BASE"]}, {"method": "wilcoxon"}]],
    )

    @model_validator(mode="after")
    def _comparisons_need_control(self) -> AnalysisSpec:
        if self.comparisons and (self.group is None or self.group.control is None):
            raise _fail_at(
                ("comparisons",),
                "comparisons need group with variable and control (add analysis.group."
                "control: the control arm's value)",
                [c.method for c in self.comparisons],
            )
        return self


Method = Literal[
    "assign_no_ct",
    "assign_ct",
    "hardcode_no_ct",
    "hardcode_ct",
    "assign_datetime",
    "decode_ct",
    "assign_visit",
    "visit_name",
    "usubjid",
    "subject_id",
    "site_id",
    "study_day",
    "seq",
    "epoch",
    "last_obs_before_exposure",
    "reference_date",
    "age",
    "arm",
    "actual_arm",
    "arm_null_reason",
    "normal_range_indicator",
    "lookup",
    "total_daily_dose",
]

# method -> (required keys, optional keys); "name", "method" and "when" are always allowed
# ("when" only where the method maps raw rows).
METHOD_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "assign_no_ct": (frozenset({"raw"}), frozenset({"when"})),
    "assign_ct": (frozenset({"raw", "codelist"}), frozenset({"when"})),
    "hardcode_no_ct": (frozenset({"value"}), frozenset({"when", "raw"})),
    "hardcode_ct": (frozenset({"value", "codelist"}), frozenset({"when", "raw"})),
    "assign_datetime": (frozenset({"raw", "formats"}), frozenset({"when"})),
    "decode_ct": (frozenset({"from_", "codelist"}), frozenset()),
    "assign_visit": (frozenset({"raw"}), frozenset({"date"})),
    "visit_name": (frozenset(), frozenset()),
    "usubjid": (frozenset(), frozenset()),
    "subject_id": (frozenset(), frozenset()),
    "site_id": (frozenset({"raw"}), frozenset()),
    "study_day": (frozenset({"date"}), frozenset()),
    "seq": (frozenset(), frozenset({"order"})),
    "epoch": (frozenset({"date"}), frozenset()),
    "last_obs_before_exposure": (frozenset({"date", "result", "by"}), frozenset()),
    "reference_date": (frozenset(), frozenset({"from_", "pick"})),
    "age": (frozenset({"birth", "at"}), frozenset()),
    "arm": (frozenset({"field"}), frozenset()),
    "actual_arm": (frozenset({"field"}), frozenset({"untreated", "exposure"})),
    "arm_null_reason": (frozenset({"unassigned", "untreated"}), frozenset({"exposure"})),
    "normal_range_indicator": (frozenset({"result", "low", "high"}), frozenset()),
    "lookup": (
        frozenset({"lookup"}),
        frozenset({"raw", "combine", "convert", "digits", "when"}),
    ),
    "total_daily_dose": (frozenset({"dose", "frequency", "per_day"}), frozenset({"not_daily"})),
}


METHOD_DOCS: dict[str, tuple[str, dict[str, object]]] = {
    "assign_no_ct": (
        "the raw value as it is",
        {"name": "AETERM", "method": "assign_no_ct", "raw": "AE_TERM"},
    ),
    "assign_ct": (
        "the raw value mapped through controlled terminology (CDISC submission values, "
        "synonyms and study.yaml's controlled_terms); an unmapped value stays empty and is "
        "reported (ct-unmapped-value)",
        {"name": "SEX", "method": "assign_ct", "raw": "SEX", "codelist": "SEX"},
    ),
    "hardcode_no_ct": (
        "a fixed value (raw names the column shown in lineage)",
        {"name": "EXTRT", "method": "hardcode_no_ct", "value": "UC-MSC"},
    ),
    "hardcode_ct": (
        "a fixed value that must be a term of the codelist",
        {"name": "EXROUTE", "method": "hardcode_ct", "value": "INTRAVENOUS", "codelist": "ROUTE"},
    ),
    "assign_datetime": (
        "ISO 8601 from a date column (or [date, time]) read by the formats in order; UN/UNK "
        "parts give partial dates; unreadable values are reported (dtc-unparseable)",
        {"name": "LBDTC", "method": "assign_datetime", "raw": ["LAB_DATE", "LAB_TIME"],
         "formats": [["%d-%b-%Y"], ["%H:%M"]]},
    ),
    "decode_ct": (
        "the paired term by C-code, e.g. LBTEST from LBTESTCD",
        {"name": "LBTEST", "method": "decode_ct", "from": "LBTESTCD", "codelist": "LBTEST"},
    ),
    "assign_visit": (
        "VISITNUM from the visit label by study.yaml's visits; unscheduled visits numbered by "
        "date",
        {"name": "VISITNUM", "method": "assign_visit", "raw": "VISIT", "date": "LBDTC"},
    ),
    "lookup": (
        "a value from another form of the same subject (matched by visit, date or the nearest "
        "earlier record), optionally combined with a raw value (multiply or divide), then "
        "converted and rounded; lineage names both cells; no or several matching records are "
        "findings (lookup-no-record, lookup-ambiguous)",
        {"name": "EXDOSE", "method": "lookup", "raw": "TOTAL_CELLS", "combine": "divide",
         "convert": {"divide": 1000000},
         "lookup": {"sheet": "VITALS", "column": "WEIGHT_KG",
                    "match": {"on_or_before": ["INF_DATE", "VIS_DATE"]},
                    "formats": ["%d-%b-%Y", "%Y/%m/%d", "%Y-%m-%d"]}},
    ),
    "visit_name": ("VISIT from VISITNUM", {"name": "VISIT", "method": "visit_name"}),
    "usubjid": ("USUBJID again (it is always added)", {"name": "USUBJID", "method": "usubjid"}),
    "subject_id": ("SUBJID: the raw subject number", {"name": "SUBJID", "method": "subject_id"}),
    "site_id": (
        "SITEID from a raw column, checked against study.yaml's sites",
        {"name": "SITEID", "method": "site_id", "raw": "SITE"},
    ),
    "study_day": (
        "--DY from the date and DM.RFSTDTC; no day 0; empty when either date is partial",
        {"name": "LBDY", "method": "study_day", "date": "LBDTC"},
    ),
    "seq": (
        "--SEQ within subject by order (default: the domain's SDTMIG keys), then raw row",
        {"name": "LBSEQ", "method": "seq"},
    ),
    "epoch": (
        "EPOCH from study.yaml's epochs and the DM reference dates",
        {"name": "EPOCH", "method": "epoch", "date": "LBDTC"},
    ),
    "last_obs_before_exposure": (
        "--LOBXFL = Y on the last record with a result before DM.RFXSTDTC, per subject and by",
        {"name": "LBLOBXFL", "method": "last_obs_before_exposure", "date": "LBDTC",
         "result": "LBORRES", "by": ["LBTESTCD"]},
    ),
    "reference_date": (
        "a DM reference date from other domains (complete dates only); without from, the rule "
        "in study.yaml's reference_dates",
        {"name": "RFSTDTC", "method": "reference_date"},
    ),
    "age": (
        "completed years between two DM dates",
        {"name": "AGE", "method": "age", "birth": "BRTHDTC", "at": "RFICDTC"},
    ),
    "arm": (
        "the planned arm of a single-arm study from study.yaml",
        {"name": "ARMCD", "method": "arm", "field": "armcd"},
    ),
    "arm_null_reason": (
        "ARMNRS (SDTMIG 3.4): unassigned where ARMCD is null, untreated where the subject has "
        "an ARMCD but no exposure records, else null",
        {"name": "ARMNRS", "method": "arm_null_reason", "unassigned": "SCREEN FAILURE",
         "untreated": "ASSIGNED, NOT TREATED"},
    ),
    "actual_arm": (
        "the planned arm when the subject has exposure records, else untreated (null without "
        "it); with several arms the planned arm is the ARMCD or ARM mapped above",
        {"name": "ACTARMCD", "method": "actual_arm", "field": "armcd", "untreated": "NOTTRT"},
    ),
    "total_daily_dose": (
        "--DOSTOT: the dose per administration (dose) times the administrations a day of its "
        "frequency term, from the per_day table; a frequency the table does not list is a "
        "dose-total-not-derivable notice (none for a term of not_daily, such as PRN), and "
        "the total stays empty",
        {"name": "CMDOSTOT", "method": "total_daily_dose", "dose": "CMDOSE",
         "frequency": "CMDOSFRQ", "per_day": {"QD": 1, "BID": 2, "TID": 3, "QHS": 1},
         "not_daily": ["PRN"]},
    ),
    "normal_range_indicator": (
        "--NRIND: LOW, NORMAL or HIGH",
        {"name": "LBNRIND", "method": "normal_range_indicator", "result": "LBSTRESN",
         "low": "LBSTNRLO", "high": "LBSTNRHI"},
    ),
}  # fmt: skip
"""What each method does and an example entry; the spec reference is generated from it."""


def method_keys_text(method: str) -> str:
    """``assign_ct takes raw, codelist and optionally when``: the keys of a method, in words."""
    required, optional = METHOD_KEYS[method]
    need = sorted(k.rstrip("_") for k in required)
    may = sorted(k.rstrip("_") for k in optional)
    if not need:
        return f"{method} takes " + (f"optionally {', '.join(may)}" if may else "no other keys")
    text = f"{method} takes {', '.join(need)}"
    return text + (f" and optionally {', '.join(may)}" if may else "")


def _taken_by(key: str) -> str:
    users = sorted(m for m, (req, opt) in METHOD_KEYS.items() if key in req | opt)
    if not users:
        return ""
    more = f" and {len(users) - 3} more" if len(users) > 3 else ""
    return f"; {key.rstrip('_')} is a key of {', '.join(users[:3])}{more}"


RAW_METHODS = frozenset(
    {
        "assign_no_ct",
        "assign_ct",
        "hardcode_no_ct",
        "hardcode_ct",
        "assign_datetime",
        "site_id",
        "lookup",
    }
)
"""Methods that read raw columns; they run before the derived ones."""


class VariableSpec(Strict):
    """One SDTM variable and the mapping method that fills it."""

    name: str = Field(
        min_length=1,
        max_length=8,
        description="the SDTM variable (at most 8 characters)",
        examples=["SEX"],
    )
    method: Method = Field(
        description="the mapping method that fills it (see Methods)",
        examples=["assign_ct"],
    )
    raw: str | list[str] | None = Field(
        default=None,
        description="the raw column (or [date, time] for assign_datetime)",
        examples=["GENDER"],
    )
    value: Scalar | None = Field(
        default=None,
        description="the fixed value of hardcode_no_ct and hardcode_ct",
        examples=["INTRAVENOUS"],
    )
    codelist: str | None = Field(
        default=None,
        description="the codelist (CDISC short name or a sponsor codelist of controlled_terms)",
        examples=["SEX"],
    )
    formats: list[str] | list[list[str]] | None = Field(
        default=None,
        description=(
            "date formats tried in order (%d %m %b %Y %H %M %S), or [[date formats], [time "
            "formats]]"
        ),
        examples=[["%d-%b-%Y", "%Y-%m-%d"]],
    )
    when: Condition | None = Field(
        default=None,
        description=(
            "apply the entry only to rows that meet the condition (raw columns, or variables "
            "mapped above; see Conditions)"
        ),
        examples=[{"FASTING": "Y"}],
    )
    from_: str | list[str] | None = Field(
        default=None,
        alias="from",
        description="decode_ct: the variable to decode; reference_date: DOMAIN.VAR or a list",
        examples=["LBTESTCD"],
    )
    pick: Literal["first", "last"] | None = Field(
        default=None,
        description="reference_date: first or last date",
        examples=["first"],
    )
    date: str | None = Field(
        default=None,
        description="the --DTC variable the method reads",
        examples=["LBDTC"],
    )
    result: str | None = Field(
        default=None,
        description="the result variable (--ORRES or --STRESN)",
        examples=["LBSTRESN"],
    )
    by: list[str] | None = Field(
        default=None,
        description="variables that group records (one flag per subject and group)",
        examples=[["LBTESTCD"]],
    )
    order: list[str] | None = Field(
        default=None,
        description="variables that order records within a subject",
        examples=[["LBTESTCD", "LBDTC"]],
    )
    birth: str | None = Field(
        default=None,
        description="the DM variable holding the birth date",
        examples=["BRTHDTC"],
    )
    at: str | None = Field(
        default=None,
        description="the DM variable holding the date age is taken at",
        examples=["RFSTDTC"],
    )
    low: str | None = Field(
        default=None,
        description="the variable holding the normal range's low end",
        examples=["LBSTNRLO"],
    )
    high: str | None = Field(
        default=None,
        description="the variable holding the normal range's high end",
        examples=["LBSTNRHI"],
    )
    field: Literal["armcd", "arm"] | None = Field(
        default=None,
        description="armcd or arm: which of the arm's values",
        examples=["armcd"],
    )
    untreated: str | None = Field(
        default=None,
        description="the value for subjects without exposure",
        examples=["NOTTRT"],
    )
    unassigned: str | None = Field(
        default=None,
        description="arm_null_reason: the value for subjects without a planned arm (ARMCD)",
        examples=["SCREEN FAILURE"],
    )
    exposure: str | None = Field(
        default=None,
        description="the domain whose records mean the subject was treated (default EX)",
        examples=["EX"],
    )
    lookup: LookupSpec | None = Field(
        default=None,
        description="lookup: the other form, its column and how a row finds its record there",
        examples=[{"sheet": "VITALS", "column": "HEIGHT_CM", "where": {"VISIT": ["Day 0"]}}],
    )
    combine: Literal["multiply", "divide"] | None = Field(
        default=None,
        description="lookup with raw: the raw value multiplied or divided by the looked-up one "
        "(DOSE_TOTAL divided by the weight gives a dose per kg)",
        examples=["divide"],
    )
    convert: ConvertSpec | None = Field(
        default=None,
        description="lookup: then multiplied or divided by a constant ({divide: 1000000})",
        examples=[{"divide": 1000000}],
    )
    digits: int | None = Field(
        default=None,
        ge=0,
        le=12,
        description="lookup: decimals a computed value is rounded to (SAS ROUND); without it, "
        "10 significant digits",
        examples=[3],
    )
    dose: str | None = Field(
        default=None,
        description="total_daily_dose: the variable holding the dose per administration",
        examples=["CMDOSE"],
    )
    frequency: str | None = Field(
        default=None,
        description="total_daily_dose: the variable holding the dosing frequency term",
        examples=["CMDOSFRQ"],
    )
    per_day: dict[str, PositiveFloat] | None = Field(
        default=None,
        description="total_daily_dose: administrations a day of each frequency term",
        examples=[{"QD": 1, "BID": 2, "TID": 3, "QHS": 1}],
    )
    not_daily: list[str] | None = Field(
        default=None,
        description="total_daily_dose: frequency terms with no daily total (as needed): the "
        "total stays empty without a finding",
        examples=[["PRN"]],
    )

    @model_validator(mode="after")
    def _method_keys(self) -> VariableSpec:
        required, optional = METHOD_KEYS[self.method]
        given = {k for k in self.model_fields_set if k not in ("name", "method")}
        missing = sorted(required - given)
        if missing:
            raise ValueError(
                f"method {self.method} needs {', '.join(k.rstrip('_') for k in missing)}"
                f" ({method_keys_text(self.method)})"
            )
        extra = sorted(given - required - optional)
        if extra:
            raise ValueError(
                f"method {self.method} does not take {', '.join(k.rstrip('_') for k in extra)}"
                f" ({method_keys_text(self.method)}{_taken_by(extra[0])})"
            )
        if self.method == "assign_datetime":
            self._check_formats()
        if self.method == "reference_date" and (self.from_ is None) != (self.pick is None):
            raise ValueError("reference_date takes both from and pick, or neither (study.yaml)")
        if self.method == "lookup":
            if (self.raw is None) != (self.combine is None):
                raise ValueError(
                    "lookup takes raw and combine together (the raw value, multiplied or "
                    "divided by the looked-up one), or neither (the looked-up value itself)"
                )
            if not isinstance(self.raw, str | None):
                raise _fail_at(("raw",), "lookup combines one raw column", self.raw)
            if self.digits is not None and self.combine is None and self.convert is None:
                raise _fail_at(
                    ("digits",), "digits round a computed value: give combine or convert", None
                )
        return self

    def _check_formats(self) -> None:
        raw, formats = self.raw_columns, self.formats or []
        nested = bool(formats) and all(isinstance(f, list) for f in formats)
        if len(raw) > 2:
            raise ValueError("assign_datetime takes a date column and at most a time column")
        if len(raw) == 2 and not (nested and len(formats) == 2):
            raise ValueError(
                "with a date and a time column give formats: [[date formats], [time formats]]"
            )
        groups = formats if nested else [formats]
        if not all(groups):
            raise ValueError("formats must not be empty")
        for g, group in enumerate(groups):
            for f, fmt in enumerate(group):
                try:
                    compile_format(str(fmt))
                except DateFormatError as exc:
                    at = ("formats", g, f) if nested else ("formats", f)
                    raise _fail_at(at, str(exc), fmt) from None

    @property
    def raw_columns(self) -> list[str]:
        """The raw columns this variable reads (empty for derived variables)."""
        if self.raw is None:
            return []
        return [self.raw] if isinstance(self.raw, str) else list(self.raw)


class CodingSpec(Strict):
    """The dictionary coding of a domain's verbatim terms, from a coding team's file.

    The file (CSV or a workbook sheet) has a row per verbatim term with the dictionary's
    hierarchy, name and version (:mod:`trialflow.mapping.coding` lists its columns); the
    domain's hierarchy variables (AELLT ... AESOCCD) are filled from it. A term the file lacks
    is a ``term-not-coded`` finding naming the raw cell, and its variables stay empty.
    """

    file: str = Field(
        min_length=1,
        description="the coding file, relative to the spec's folder (.csv or .xlsx)",
        examples=["ae-coding.csv"],
    )
    verbatim: str = Field(
        min_length=1,
        max_length=8,
        description="the variable holding the verbatim term (mapped in variables)",
        examples=["AETERM"],
    )
    sheet: str | None = Field(
        default=None,
        description="the workbook's sheet holding the coding (default: its only sheet)",
        examples=["MedDRA"],
    )
    compare: dict[str, str] = Field(
        default={},
        description=(
            "coded variable -> the raw column where the export carries the site's own coding; "
            "each record whose raw value differs from the coded one is a coding-differs warning"
        ),
        examples=[{"AEDECOD": "PT", "AEBODSYS": "SOC"}],
    )


QOrig = Literal["CRF", "Collected", "Assigned", "Derived", "Protocol", "eDT", "Predecessor"]
"""QORIG values: where a supplemental qualifier's value comes from (SDTMIG 3.4 SUPPQUAL)."""


class SuppSpec(Strict):
    """A raw field sent to a supplemental qualifier (a SUPP-- record per parent record).

    Each parent record whose raw value is not empty gets one record in SUPP<domain> with
    QNAM, QLABEL, QVAL (the raw text as collected), QORIG and QEVAL; IDVAR is the domain's
    --SEQ (blank for DM), IDVARVAL its value. An empty raw value makes no record (SDTMIG 3.4
    SUPPQUAL assumption: QVAL is never null).
    """

    qnam: str = Field(
        min_length=1,
        max_length=8,
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description="QNAM: the qualifier's name, at most 8 characters, upper case letters, "
        "digits and _, not starting with a digit; not a variable of the parent domain",
        examples=["WEIGHTDS"],
    )
    qlabel: str = Field(
        min_length=1,
        max_length=40,
        description="QLABEL: the qualifier's label (at most 40 characters)",
        examples=["Weight Used for Dosing"],
    )
    raw: str = Field(
        min_length=1,
        description="the raw column of the domain's sheet whose value becomes QVAL",
        examples=["WEIGHT_KG"],
    )
    qorig: QOrig = Field(
        default="CRF",
        description="QORIG: the value's origin (CRF, Collected, Assigned, Derived, Protocol, "
        "eDT, Predecessor)",
        examples=["CRF"],
    )
    qeval: str = Field(
        default="",
        max_length=200,
        description="QEVAL: who evaluated the value, for evaluated data (INVESTIGATOR, ...); "
        "empty for collected data",
        examples=[""],
    )


class DomainSpec(Strict):
    """One domain's mapping spec (dm.yaml, lb.yaml, ...).

    Example:
        >>> spec = DomainSpec.model_validate({"domain": "DM", "source": {"sheet": "DEMOG",
        ...     "subject": "SUBJ"}, "variables": [{"name": "SUBJID", "method": "subject_id"}]})
        >>> spec.domain, spec.source.sheet, [v.name for v in spec.variables]
        ('DM', 'DEMOG', ['SUBJID'])
    """

    domain: str = Field(
        min_length=2,
        max_length=2,
        description="the two-letter domain code; must match the file name",
        examples=["LB"],
    )
    source: SourceSpec = Field(
        description="the raw sheet the domain is mapped from",
        examples=[{"sheet": "LAB", "subject": "SUBJ"}],
    )
    variables: list[VariableSpec] = Field(
        min_length=1,
        description="the SDTM variables in order, each {name, method, ...} (see Methods)",
        examples=[[{"name": "LBORRES", "method": "assign_no_ct", "raw": "RESULT"}]],
    )
    units: dict[str, UnitSpec] = Field(
        default={},
        description="findings domains: per --TESTCD, the standard unit and conversions",
        examples=[
            {"GLUC": {"standard": "mmol/L", "convert": {"mg/dL": {"divide": 18.016}}, "digits": 2}}
        ],
    )
    coding: CodingSpec | None = Field(
        default=None,
        description="dictionary coding of the verbatim terms from a coding team's file",
        examples=[{"file": "ae-coding.csv", "verbatim": "AETERM"}],
    )
    supp: list[SuppSpec] = Field(
        default=[],
        description="raw fields sent to supplemental qualifiers (SUPP<domain>), one entry "
        "each {qnam, qlabel, raw, qorig, qeval}",
        examples=[[{"qnam": "WEIGHTDS", "qlabel": "Weight Used for Dosing", "raw": "WEIGHT_KG"}]],
    )

    @model_validator(mode="after")
    def _unique_qnam(self) -> DomainSpec:
        seen: set[str] = set()
        for i, entry in enumerate(self.supp):
            if entry.qnam in seen:
                raise _fail_at(
                    ("supp", i, "qnam"), f"QNAM {entry.qnam} is listed twice in supp", entry.qnam
                )
            seen.add(entry.qnam)
        return self


StudySpec.model_rebuild()
