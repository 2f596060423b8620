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

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trialflow.mapping.dates import compile_format

Scalar = str | int | float
Condition = dict[str, Scalar | list[Scalar]]


class Strict(BaseModel):
    """Base model: unknown keys are errors, values are not coerced between types silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- study.yaml -------------------------------------------------------------------------------


class StudyInfo(Strict):
    """Identity of the study."""

    studyid: str = Field(min_length=1, max_length=20)
    title: str = ""
    synthetic: bool = False
    usubjid_separator: str = "-"


class ArmSpec(Strict):
    """One planned arm (ARMCD, ARM)."""

    armcd: str = Field(min_length=1, max_length=20)
    arm: str = Field(min_length=1, max_length=200)


class VisitSpec(Strict):
    """One planned visit: VISITNUM, VISIT, the planned day, its window and collected labels."""

    visitnum: float
    visit: str = Field(min_length=1, max_length=40)
    day: int
    window: int | None = Field(default=None, ge=0)
    collected: list[str] = []


class UnscheduledSpec(Strict):
    """How unscheduled visits are labelled and numbered (previous visit's VISITNUM + 0.01 ...)."""

    visit: str = "UNSCHEDULED"
    collected: list[str] = []


class SiteSpec(Strict):
    """One study site: SITEID as the raw export writes it, and what the study knows of it."""

    siteid: str = Field(min_length=1, max_length=20)
    name: str = ""
    country: str | None = Field(default=None, min_length=3, max_length=3)


class ReferenceSpec(Strict):
    """How a DM reference date is found: the first or last date of DOMAIN.VAR (or several)."""

    from_: str | list[str] = Field(alias="from")
    pick: Literal["first", "last"]


class EpochSpec(Strict):
    """One epoch, bounded by DM reference date variables (RFXSTDTC, RFXENDTC, ...).

    ``before: X``: dates before X; ``from: X`` (inclusive) and ``to: Y`` (inclusive);
    ``after: Y``: dates after Y.
    """

    epoch: str
    before: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    after: str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> EpochSpec:
        if not any((self.before, self.from_, self.to, self.after)):
            raise ValueError("an epoch needs at least one of before, from, to, after")
        return self


class StudySpec(Strict):
    """study.yaml: every study fact the mapping needs, and the domains to build."""

    study: StudyInfo
    domains: list[str] = Field(min_length=1)
    sites: list[SiteSpec] = []
    arms: list[ArmSpec] = Field(min_length=1)
    reference_dates: dict[str, ReferenceSpec] = {}
    visits: list[VisitSpec] = []
    unscheduled: UnscheduledSpec | None = None
    epochs: list[EpochSpec] = []
    controlled_terms: dict[str, dict[str, list[Scalar]]] = {}
    adam: AdamSpec | None = None
    analysis: AnalysisSpec | None = None

    @model_validator(mode="after")
    def _analysis_needs_adam(self) -> StudySpec:
        if self.analysis is None:
            return self
        if self.adam is None:
            raise ValueError("analysis needs the adam section (it summarises the ADaM datasets)")
        wanted = [(e.dataset, p) for e in self.analysis.endpoints for p in e.paramcd]
        wanted += [(r.dataset, r.paramcd) for r in self.analysis.table1 if r.paramcd]
        for dataset, paramcd in wanted:
            bds = self.adam.datasets.get(dataset)  # type: ignore[call-overload]
            codes = {p.paramcd for p in [*bds.parameters, *bds.computed]} if bds else set()
            if paramcd not in codes:
                raise ValueError(f"analysis: {dataset} has no parameter {paramcd} in adam.datasets")
        return self


# --- domain specs -----------------------------------------------------------------------------


class TransposeSpec(Strict):
    """Findings transposition: one raw row holding several results becomes a record per column.

    ``result`` is the variable that takes each cell (e.g. VSORRES); ``columns`` maps each raw
    column to the values its records get (e.g. ``WEIGHT_KG: {VSTESTCD: WEIGHT, VSORRESU: kg}``).
    A blank cell makes no record.
    """

    result: str
    columns: dict[str, dict[str, Scalar]] = Field(min_length=1)


class SourceSpec(Strict):
    """The raw sheet a domain is mapped from."""

    sheet: str
    subject: str
    record_key: list[str] = []
    where: Condition | None = None
    transpose: TransposeSpec | None = None


class ConvertSpec(Strict):
    """A unit conversion: multiply or divide the original value by a factor."""

    multiply: float | None = None
    divide: float | None = None

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


class UnitSpec(Strict):
    """The standard unit of one test and the conversions into it."""

    standard: str
    convert: dict[str, ConvertSpec] = {}
    digits: int | None = Field(default=None, ge=0, le=12)


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


class TreatmentSpec(Strict):
    """Which exposure records count as treatment (TRTSDT/TRTEDT, SAFFL, dose counts and sums).

    A record counts when EXDOSE is above ``min_dose`` and EXSTDTC holds a full date. ``end``
    names the variable that holds the end of each dose (TRTEDT/TRTEDTM are the latest):
    EXENDTC, the end collected; or EXSTDTC, for doses whose end was not collected and that
    count as given at their start (the SDTMIG's rule for RFXENDTC when EXENDTC was not
    collected). Nothing is assumed: a dose without a date in ``end`` is reported.
    """

    domain: Literal["EX"] = "EX"
    min_dose: float = 0.0
    end: Literal["EXENDTC", "EXSTDTC"] = "EXENDTC"


class BaselineSpec(Strict):
    """The baseline rule: which record per subject and parameter gets ABLFL = Y.

    ``last_on_or_before``: the last record with a non-missing AVAL whose date is on or before
    the reference date (``last_before`` excludes the reference date itself).
    """

    rule: Literal["last_on_or_before", "last_before"]
    reference: Literal["TRTSDT"] = "TRTSDT"
    avisit: str = Field(default="BASELINE", min_length=1, max_length=40)
    avisitn: float = 0


class WindowSpec(Strict):
    """One analysis window by analysis day (ADY): AVISITN/AVISIT for ADY in low..high."""

    avisitn: float
    avisit: str = Field(min_length=1, max_length=40)
    target: int
    low: int
    high: int


class CensoredSpec(Strict):
    """AVAL of a result reported beyond a limit (``<0.5`` below, ``>500`` above).

    ``below``: ``half_limit`` (DTYPE HALFLLOQ), ``limit`` (DTYPE LLOQ) or ``none`` (AVAL stays
    empty); ``above``: ``limit`` (DTYPE ULOQ) or ``none``. A direction not declared leaves AVAL
    empty too, and is reported as a warning. AVALC always keeps the result's text.
    """

    below: Literal["half_limit", "limit", "none"] | None = None
    above: Literal["limit", "none"] | None = None

    @model_validator(mode="after")
    def _something(self) -> CensoredSpec:
        if self.below is None and self.above is None:
            raise ValueError("censored needs below, above or both")
        return self


class ParameterSpec(Strict):
    """One BDS parameter taken from SDTM findings records selected by ``where``."""

    paramcd: str = Field(min_length=1, max_length=8)
    param: str = Field(min_length=1, max_length=200)
    paramn: int | None = None
    parcat1: str | None = None
    where: Condition = Field(min_length=1)
    unit: str | None = None
    convert: dict[str, ConvertSpec] = {}
    censored: CensoredSpec | None = None


class ComputedSpec(Strict):
    """A parameter computed from others at the same visit by a named formula.

    ``censored_inputs`` says what happens when an input is a result beyond a limit
    (``<0.5``): ``imputed`` computes from the input's imputed AVAL (its parameter must declare
    ``censored``) and sets IMPUTFL; ``missing`` leaves AVAL empty. Undeclared, AVAL stays empty
    and the record is reported as a warning.
    """

    paramcd: str = Field(min_length=1, max_length=8)
    param: str = Field(min_length=1, max_length=200)
    paramn: int | None = None
    parcat1: str | None = None
    formula: Formula
    inputs: dict[str, str] = Field(min_length=1)
    constant: list[str] = []
    censored_inputs: Literal["imputed", "missing"] | None = None

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
    """One BDS dataset (ADLB, ADVS): its SDTM source domain and parameters."""

    source: str = Field(min_length=2, max_length=2)
    parameters: list[ParameterSpec] = Field(min_length=1)
    computed: list[ComputedSpec] = []


class DiagnosisSpec(Strict):
    """ADSL disease history from a medical history record: its date and duration in years.

    A partial date is imputed (``imputation``: admiral's first, mid or last; a missing year
    is not imputed) and ``flag_var`` says which part was (D or M).
    """

    domain: Literal["MH"] = "MH"
    where: Condition = Field(min_length=1)
    date: str = "MHSTDTC"
    date_var: str = Field(min_length=1, max_length=8)
    flag_var: str | None = Field(default=None, min_length=1, max_length=8)
    duration_var: str = Field(min_length=1, max_length=8)
    imputation: Literal["first", "mid", "last"] = "mid"


class AdslSpec(Strict):
    """ADSL facts: baseline values copied from BDS baseline records, populations, history."""

    baseline: dict[str, str] = {}
    diagnosis: DiagnosisSpec | None = None
    full_analysis: list[str] = []


class AdaeSpec(Strict):
    """ADAE facts: the treatment-emergent window after the last dose (days)."""

    emergent_days: int = Field(ge=0)


class AdamSpec(Strict):
    """The analysis section of study.yaml: everything the ADaM templates need to know."""

    treatment: TreatmentSpec
    baseline: BaselineSpec
    windows: list[WindowSpec] = Field(min_length=1)
    adsl: AdslSpec = AdslSpec()
    datasets: dict[Literal["ADLB", "ADVS"], BdsSpec] = {}
    adae: AdaeSpec | None = None

    @model_validator(mode="after")
    def _unique(self) -> AdamSpec:
        defined = {
            p.paramcd for bds in self.datasets.values() for p in [*bds.parameters, *bds.computed]
        }
        for variable, paramcd in self.adsl.baseline.items():
            if paramcd not in defined:
                raise ValueError(
                    f"adsl.baseline: {variable} takes PARAMCD {paramcd}, which no dataset defines"
                )
        unknown = [p for p in self.adsl.full_analysis if p not in defined]
        if unknown:
            raise ValueError(f"adsl.full_analysis: PARAMCD {', '.join(unknown)} is not defined")
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

    dataset: Literal["ADLB", "ADVS"]
    paramcd: list[str] = Field(min_length=1)


class Table1Row(Strict):
    """One baseline characteristic of Table 1: an ADSL variable or a BDS parameter's baseline.

    ``variable`` names an ADSL variable; ``paramcd`` a parameter whose baseline AVAL
    (ABLFL = Y) is summarised. Continuous rows show mean +/- SD, categorical rows n (%).
    """

    label: str = Field(min_length=1, max_length=80)
    variable: str | None = None
    dataset: Literal["ADLB", "ADVS"] | None = None
    paramcd: str | None = None
    kind: Literal["continuous", "categorical"] = "continuous"
    digits: int = Field(default=2, ge=0, le=6)

    @model_validator(mode="after")
    def _source(self) -> Table1Row:
        if (self.variable is None) == (self.paramcd is None):
            raise ValueError("give either variable (ADSL) or dataset and paramcd (baseline)")
        if self.paramcd is not None and self.dataset is None:
            raise ValueError("paramcd needs dataset (ADLB or ADVS)")
        return self


class AnalysisSpec(Strict):
    """How the statistics are computed and shown (issue-level facts of the SAP)."""

    quantile_method: Literal["sas5", "spss", "r7"]
    population: str = Field(default="FASFL", min_length=1, max_length=8)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    conf_level: float = Field(default=0.95, gt=0, lt=1)
    endpoints: list[EndpointSpec] = Field(min_length=1)
    table1: list[Table1Row] = []


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
    "normal_range_indicator",
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
    "actual_arm": (frozenset({"field", "untreated"}), frozenset({"exposure"})),
    "normal_range_indicator": (frozenset({"result", "low", "high"}), frozenset()),
}

RAW_METHODS = frozenset(
    {"assign_no_ct", "assign_ct", "hardcode_no_ct", "hardcode_ct", "assign_datetime", "site_id"}
)
"""Methods that read raw columns; they run before the derived ones."""


class VariableSpec(Strict):
    """One SDTM variable and the mapping method that fills it."""

    name: str = Field(min_length=1, max_length=8)
    method: Method
    raw: str | list[str] | None = None
    value: Scalar | None = None
    codelist: str | None = None
    formats: list[str] | list[list[str]] | None = None
    when: Condition | None = None
    from_: str | list[str] | None = Field(default=None, alias="from")
    pick: Literal["first", "last"] | None = None
    date: str | None = None
    result: str | None = None
    by: list[str] | None = None
    order: list[str] | None = None
    birth: str | None = None
    at: str | None = None
    low: str | None = None
    high: str | None = None
    field: Literal["armcd", "arm"] | None = None
    untreated: str | None = None
    exposure: str | None = None

    @model_validator(mode="after")
    def _method_keys(self) -> VariableSpec:
        required, optional = METHOD_KEYS[self.method]
        given = {k for k in self.model_fields_set if k not in ("name", "method")}
        missing = sorted(required - given)
        if missing:
            raise ValueError(
                f"method {self.method} needs {', '.join(k.rstrip('_') for k in missing)}"
            )
        extra = sorted(given - required - optional)
        if extra:
            raise ValueError(
                f"method {self.method} does not take {', '.join(k.rstrip('_') for k in extra)}"
            )
        if self.method == "assign_datetime":
            self._check_formats()
        if self.method == "reference_date" and (self.from_ is None) != (self.pick is None):
            raise ValueError("reference_date takes both from and pick, or neither (study.yaml)")
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
        for group in groups:
            for fmt in group:
                compile_format(str(fmt))

    @property
    def raw_columns(self) -> list[str]:
        """The raw columns this variable reads (empty for derived variables)."""
        if self.raw is None:
            return []
        return [self.raw] if isinstance(self.raw, str) else list(self.raw)


class DomainSpec(Strict):
    """One domain's mapping spec (dm.yaml, lb.yaml, ...)."""

    domain: str = Field(min_length=2, max_length=2)
    source: SourceSpec
    variables: list[VariableSpec] = Field(min_length=1)
    units: dict[str, UnitSpec] = {}


StudySpec.model_rebuild()
