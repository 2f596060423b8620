"""Dataset-level rules from SDTMIG metadata (trialflow.validation.schema).

The clean package is the example study mapped by the project's own pipeline; each defect is
seeded into a copy of it and must be reported at exactly its dataset, variable and record,
with the right code and severity, and nothing else new may appear.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS

from trialflow.errors import Finding
from trialflow.pipeline import map_study
from trialflow.validation import schema
from trialflow.validation.core import FILE, RECORD, RULES, Dataset, Package, validating

CODES = (
    "required-variable-missing",
    "required-value-missing",
    "expected-variable-missing",
    "variable-type-mismatch",
    "ct-value-not-in-codelist",
    "dtc-not-iso8601",
    "key-not-unique",
    "char-length-exceeds-200",
    "value-leading-spaces",
)

Frames = dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Frames:
    out = tmp_path_factory.mktemp("run")
    result = map_study(EXAMPLE_SPECS, EXAMPLE_EXPORT, out, on_issue="none")
    return dict(result.sdtm.domains)


@pytest.fixture
def frames(mapped: Frames) -> Frames:
    return {name: frame.copy() for name, frame in mapped.items()}


def package(frames: Frames, kinds: dict[str, str] | None = None) -> Package:
    kinds = kinds or {}
    return Package(
        {
            name: Dataset.from_frame(name, frame, kind=kinds.get(name, "sdtm"))
            for name, frame in frames.items()
        }
    )


def run(pkg: Package) -> list[Finding]:
    return [f for code in CODES for f in RULES[code].run(pkg)]


def where(f: Finding) -> tuple:
    return (f.code, f.severity, f.dataset, f.variable, f.record)


def new_findings(before: list[Finding], after: list[Finding]) -> Counter:
    return Counter(map(where, after)) - Counter(map(where, before))


# --- registration ---------------------------------------------------------------------------


def test_rules_are_registered_with_verified_refs():
    for code in CODES:
        r = RULES[code]
        assert r.scope == "dataset" and r.run is not None and r.checks and r.why
    assert RULES["required-variable-missing"].refs == ("SD0056", "CG0014", "CORE-000355")
    assert RULES["required-value-missing"].refs == ("SD0002", "CG0014", "CORE-000356")
    assert RULES["expected-variable-missing"].refs == ("SD0057", "CG0016", "CORE-000334")
    assert RULES["variable-type-mismatch"].refs == ("SD0055",)
    assert RULES["ct-value-not-in-codelist"].refs == ("CT2001", "CT2002")
    assert RULES["dtc-not-iso8601"].refs == ("SD0003", "SD1011")
    assert RULES["value-leading-spaces"].refs == ("SD1021",)
    assert RULES["key-not-unique"].refs == ("CG0019", "SD1117", "SD1201", "SD1352", "SD0086")
    assert RULES["char-length-exceeds-200"].refs == ()
    severities = {code: RULES[code].severity for code in CODES}
    assert severities["expected-variable-missing"] == "warning"
    assert severities["value-leading-spaces"] == "warning"
    assert {c for c, s in severities.items() if s == "error"} == set(CODES) - {
        "expected-variable-missing",
        "value-leading-spaces",
    }


# --- clean data -----------------------------------------------------------------------------


def test_clean_pipeline_output_has_no_errors(frames: Frames):
    found = run(package(frames))
    assert [f.one_line() for f in found if f.severity == "error"] == []
    # The example mapping leaves out some Expected variables (MedDRA codes, DTHFL, ...): those
    # warnings are true, and they are the only thing reported.
    assert {f.code for f in found} <= {"expected-variable-missing"}
    assert all(f.record is None for f in found)


# --- seeded defects, one at a time ----------------------------------------------------------


def drop_siteid(fr: Frames) -> None:
    fr["DM"] = fr["DM"].drop(columns="SITEID")


def blank_usubjid(fr: Frames) -> None:
    fr["VS"].loc[5, "USUBJID"] = ""


def null_aeterm(fr: Frames) -> None:
    fr["AE"].loc[2, "AETERM"] = None


def sex_x(fr: Frames) -> None:
    fr["DM"].loc[2, "SEX"] = "X"


def unit_stone(fr: Frames) -> None:
    fr["VS"].loc[0, "VSORRESU"] = "stone"


def lbdtc_us_format(fr: Frames) -> None:
    fr["LB"].loc[10, "LBDTC"] = "12/01/2019"


def duplicate_lb_record(fr: Frames) -> None:
    fr["LB"] = pd.concat([fr["LB"], fr["LB"].iloc[[7]]], ignore_index=True)


def long_aeterm(fr: Frames) -> None:
    fr["AE"].loc[0, "AETERM"] = "é" * 100 + "x"  # 101 characters, 201 bytes in UTF-8


def sex_leading_space(fr: Frames) -> None:
    fr["DM"].loc[4, "SEX"] = " M"


def aeterm_leading_space(fr: Frames) -> None:
    fr["AE"].loc[1, "AETERM"] = " " + fr["AE"].loc[1, "AETERM"]


def vsstresn_as_text(fr: Frames) -> None:
    fr["VS"]["VSSTRESN"] = fr["VS"]["VSSTRESN"].astype("str")


def siteid_as_number(fr: Frames) -> None:
    fr["DM"]["SITEID"] = fr["DM"]["SITEID"].astype("int64")


DEFECTS: list[tuple[Callable[[Frames], None], list[tuple]]] = [
    (drop_siteid, [("required-variable-missing", "error", "DM", "SITEID", None)]),
    (blank_usubjid, [("required-value-missing", "error", "VS", "USUBJID", 6)]),
    (null_aeterm, [("required-value-missing", "error", "AE", "AETERM", 3)]),
    (sex_x, [("ct-value-not-in-codelist", "error", "DM", "SEX", 3)]),
    (unit_stone, [("ct-value-not-in-codelist", "warning", "VS", "VSORRESU", 1)]),
    (lbdtc_us_format, [("dtc-not-iso8601", "error", "LB", "LBDTC", 11)]),
    (
        duplicate_lb_record,
        [("key-not-unique", "error", "LB", None, 8), ("key-not-unique", "error", "LB", None, 610)],
    ),
    (long_aeterm, [("char-length-exceeds-200", "error", "AE", "AETERM", 1)]),
    (aeterm_leading_space, [("value-leading-spaces", "warning", "AE", "AETERM", 2)]),
    # " M" is not the submission value "M" either: both problems are real and both are shown.
    (
        sex_leading_space,
        [
            ("value-leading-spaces", "warning", "DM", "SEX", 5),
            ("ct-value-not-in-codelist", "error", "DM", "SEX", 5),
        ],
    ),
    (vsstresn_as_text, [("variable-type-mismatch", "error", "VS", "VSSTRESN", None)]),
    (siteid_as_number, [("variable-type-mismatch", "error", "DM", "SITEID", None)]),
]


@pytest.mark.parametrize(("seed", "expected"), DEFECTS, ids=[seed.__name__ for seed, _ in DEFECTS])
def test_each_seeded_defect_is_reported_exactly(frames: Frames, seed, expected):
    before = run(package(frames))
    seed(frames)
    after = run(package(frames))
    assert new_findings(before, after) == Counter(expected)


def test_finding_carries_record_usubjid_value_and_source(frames: Frames):
    sex_x(frames)
    [f] = [f for f in run(package(frames)) if f.code == "ct-value-not-in-codelist"]
    assert (f.record, f.usubjid, f.value) == (3, frames["DM"].loc[2, "USUBJID"], "X")
    assert (f.source.file, f.source.row, f.source.column) == ("DM", 3, "SEX")
    assert f.refs == ("CT2001", "CT2002")
    assert "non-extensible codelist SEX (C66731)" in f.message


def test_ct_message_suggests_the_submission_value(frames: Frames):
    frames["DM"].loc[0, "SEX"] = "male"
    [f] = [f for f in run(package(frames)) if f.code == "ct-value-not-in-codelist"]
    assert f.message.endswith("(did you mean 'M'?)")


def test_records_follow_the_record_column_not_the_index(frames: Frames):
    dm = frames["DM"]
    dm.index = dm.index * 10 + 7
    ds = Dataset.from_frame("DM", dm)
    ds.frame.loc[ds.frame.index[3], "SEX"] = "X"
    [f] = RULES["ct-value-not-in-codelist"].run(Package({"DM": ds}))
    assert f.record == 4


def test_blank_and_whitespace_only_values_are_missing_not_leading_spaces(frames: Frames):
    before = run(package(frames))
    frames["VS"].loc[3, "VSTESTCD"] = "   "
    after = run(package(frames))
    assert new_findings(before, after) == Counter(
        [("required-value-missing", "error", "VS", "VSTESTCD", 4)]
    )


def test_exactly_200_bytes_is_allowed(frames: Frames):
    frames["AE"].loc[0, "AETERM"] = "é" * 100
    assert [f for f in run(package(frames)) if f.code == "char-length-exceeds-200"] == []


def test_benign_storage_differences_are_not_type_mismatches(frames: Frames):
    before = run(package(frames))
    dm = frames["DM"]
    dm["AGE"] = dm["AGE"].astype("int64")  # whole numbers stored as integers
    dm["SEX"] = dm["SEX"].astype(object)  # text held as Python objects
    dm["RACE"] = dm["RACE"].astype(pd.StringDtype("python", na_value=np.nan))
    dm["ETHNIC"] = dm["ETHNIC"].astype("string")  # pd.NA text
    dm["INVNAM"] = np.nan  # an empty Char column that pandas made float64
    frames["LB"]["LBSTNRLO"] = pd.Series([None] * len(frames["LB"]), dtype=object)
    assert new_findings(before, run(package(frames))) == Counter()


def test_duplicate_keys_name_the_other_record(frames: Frames):
    duplicate_lb_record(frames)
    found = [f for f in run(package(frames)) if f.code == "key-not-unique"]
    assert [f.record for f in found] == [8, 610]
    assert found[1].message.startswith("record 610 has the same natural keys (STUDYID, USUBJID,")
    assert found[1].message.endswith("as record 8")
    assert found[0].usubjid == frames["LB"].loc[7, "USUBJID"]


def test_missing_required_or_expected_key_skips_key_check(frames: Frames):
    # Without AEDECOD two different events on one day would look alike: only the missing
    # variable is reported, no duplicates on the remaining keys.
    frames["AE"] = pd.concat([frames["AE"], frames["AE"].iloc[[0]]], ignore_index=True)
    frames["AE"] = frames["AE"].drop(columns="AEDECOD")
    found = [f for f in run(package(frames)) if f.dataset == "AE" and f.severity == "error"]
    assert [(f.code, f.variable) for f in found] == [("required-variable-missing", "AEDECOD")]


# --- volume: every record listed and counted ------------------------------------------------


def test_a_broken_column_reports_every_record(frames: Frames):
    lb = frames["LB"]
    lb["LBDTC"] = "12/01/2019"
    found = [f for f in run(package(frames)) if f.code == "dtc-not-iso8601"]
    assert [(f.record, f.usubjid) for f in found] == list(
        zip(range(1, len(lb) + 1), lb["USUBJID"], strict=True)
    )
    assert {(f.severity, f.variable, f.value) for f in found} == {("error", "LBDTC", "12/01/2019")}


def test_counts_are_per_variable(frames: Frames):
    frames["LB"]["LBDTC"] = "12/01/2019"
    frames["VS"].loc[0, "VSDTC"] = "yesterday"
    found = Counter(f.variable for f in run(package(frames)) if f.code == "dtc-not-iso8601")
    assert found == Counter({"LBDTC": len(frames["LB"]), "VSDTC": 1})


# --- domains without shipped metadata, SUPP-- and ADaM --------------------------------------


def ce_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["S"] * 3,
            "DOMAIN": ["CE"] * 3,
            "USUBJID": ["S-1", "S-1", "S-2"],
            "CESEQ": [1.0, 2.0, 1.0],
            "CETERM": ["Diabetes", "Hypertension", "Asthma"],
            "CESTDTC": ["2010", "2015-06", "2019/13/01"],
            "CEDUR": ["P9Y", "5 years", None],
        }
    )


def test_unknown_domain_gets_the_generic_checks():
    found = run(Package({"CE": Dataset.from_frame("CE", ce_frame())}))
    assert sorted(map(where, found)) == [
        ("dtc-not-iso8601", "error", "CE", "CEDUR", 2),
        ("dtc-not-iso8601", "error", "CE", "CESTDTC", 3),
    ]


def test_unknown_domain_requires_identifiers():
    ce = ce_frame().drop(columns="USUBJID")
    ce.loc[1, "DOMAIN"] = None
    found = [where(f) for f in run(Package({"CE": Dataset.from_frame("CE", ce)}))]
    assert ("required-variable-missing", "error", "CE", "USUBJID", None) in found
    assert ("required-value-missing", "error", "CE", "DOMAIN", 2) in found


def test_trial_design_dataset_needs_no_usubjid():
    ts = pd.DataFrame(
        {
            "STUDYID": ["S"],
            "DOMAIN": ["TS"],
            "TSSEQ": [1.0],
            "TSPARMCD": ["SSTDTC"],
            "TSPARM": ["Study Start Date"],
            "TSVAL": ["2019-01-02"],
            "TSVALCD": [None],
            "TSVCDREF": [None],
            "TSVCDVER": [None],
        }
    )
    assert run(Package({"TS": Dataset.from_frame("TS", ts)})) == []


def test_trial_design_dataset_is_checked_against_its_sdtmig_variables():
    ts = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["TS"], "TSPARMCD": ["SSTDTC"]})
    found = {(f.code, f.variable) for f in run(Package({"TS": Dataset.from_frame("TS", ts)}))}
    assert ("required-variable-missing", "TSSEQ") in found
    assert ("required-variable-missing", "TSPARM") in found
    assert not any(variable == "USUBJID" for _, variable in found)


def supp_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["S"] * 3,
            "RDOMAIN": ["AE", "AE", "DM"],
            "USUBJID": ["S-1", "S-1", "S-1"],
            "IDVAR": ["AESEQ", "AESEQ", None],
            "IDVARVAL": ["1", "2", None],
            "QNAM": ["AETRTEM", "AETRTEM", "RACEOTH"],
            "QLABEL": ["Treatment Emergent Flag", "Treatment Emergent Flag", "Race, Other"],
            "QVAL": ["Y", "N", "HAN CHINESE"],
            "QORIG": ["DERIVED", "DERIVED", "CRF"],
            "QEVAL": [None, None, None],
        }
    )


def test_clean_supp_dataset_passes_with_null_idvar_for_dm():
    pkg = Package({"SUPPAE": Dataset.from_frame("SUPPAE", supp_frame(), kind="supp")})
    assert run(pkg) == []


def test_supp_structure_and_keys():
    supp = supp_frame()
    supp.loc[1, "IDVARVAL"] = "1"  # the same qualifier twice for one parent record
    supp.loc[2, "QVAL"] = ""
    supp = supp.drop(columns="QORIG")
    found = run(Package({"SUPPAE": Dataset.from_frame("SUPPAE", supp, kind="supp")}))
    assert sorted(map(where, found), key=str) == sorted(
        [
            ("required-variable-missing", "error", "SUPPAE", "QORIG", None),
            ("required-value-missing", "error", "SUPPAE", "QVAL", 3),
            ("key-not-unique", "error", "SUPPAE", None, 1),
            ("key-not-unique", "error", "SUPPAE", None, 2),
        ],
        key=str,
    )


def test_adam_datasets_are_not_checked():
    adsl = pd.DataFrame({"USUBJID": [" S-1", " S-1"], "TRTSDT": ["12/01/2019", "x"]})
    pkg = Package({"ADSL": Dataset.from_frame("ADSL", adsl, kind="adam")})
    assert run(pkg) == []


# --- the schema -----------------------------------------------------------------------------


def test_schema_is_built_from_metadata_for_the_columns_present():
    s = schema.schema_for("LB", ["STUDYID", "USUBJID", "LBTESTCD", "LBSTRESN", "LBDTC", "XX"])
    assert isinstance(s, pa.DataFrameSchema)
    assert set(s.columns) == {"STUDYID", "USUBJID", "LBTESTCD", "LBSTRESN", "LBDTC", "XX"}
    assert str(s.columns["LBSTRESN"].dtype) == "float64"
    assert s.columns["LBSTRESN"].nullable and not s.columns["LBTESTCD"].nullable
    assert s.columns["XX"].dtype is None  # not an SDTMIG variable: length and spaces only
    errors = {c.error for c in s.columns["LBTESTCD"].checks}
    assert {"ct:LBTESTCD", "not_blank", "max_bytes:200", "no_leading_space"} <= errors
    assert "iso8601:datetime" in {c.error for c in s.columns["LBDTC"].checks}
    # VISITNUM (Expected) is a key the data lacks: no uniqueness on fewer keys.
    assert s.unique is None
    full = schema.schema_for("VS", ["STUDYID", "USUBJID", "VSTESTCD", "VISITNUM"])
    assert full.unique == ["STUDYID", "USUBJID", "VSTESTCD", "VISITNUM"]
    assert full.report_duplicates == "all"


def test_schema_is_cached_per_domain_and_columns():
    a = schema.schema_for("DM", ["STUDYID", "USUBJID", "SEX"])
    assert schema.schema_for("dm", ("STUDYID", "USUBJID", "SEX")) is a
    assert schema.schema_for("DM", ["STUDYID", "USUBJID"]) is not a


def test_schema_validates_lazily_with_pandera():
    frame = pd.DataFrame({"STUDYID": ["S", "S"], "USUBJID": ["S-1", "S-1"], "SEX": ["M", "X"]})
    with pytest.raises(pa.errors.SchemaErrors) as err:
        schema.schema_for("DM", list(frame.columns)).validate(frame, lazy=True)
    checks = set(err.value.failure_cases["check"])
    assert {"ct:SEX", "multiple_fields_uniqueness"} <= checks


def test_validate_dataset_runs_all_codes_or_some():
    ds = Dataset.from_frame("CE", ce_frame())
    assert {f.code for f in schema.validate_dataset(ds)} == {"dtc-not-iso8601"}
    assert schema.validate_dataset(ds, ["value-leading-spaces"]) == []


def test_frames_without_bookkeeping_columns_still_work():
    ds = Dataset("CE", ce_frame())
    assert RECORD not in ds.frame and FILE not in ds.frame
    found = RULES["dtc-not-iso8601"].run(Package({"CE": ds}))
    assert [f.record for f in found] == [None, None]


# --- ISO 8601 -------------------------------------------------------------------------------

VALID_DTC = [
    "2003-12-15T13:14:17",
    "2003-12-15T13:14:17.123",
    "2003-12-15T13:14",
    "2003-12-15T13",
    "2003-12-15",
    "2003-12",
    "2003",
    "2003---15",
    "--12-15",
    "-----T07:15",
    "2003-12-15T-:15",
    "2003-12-15T13:-:17",
    "2003---15T13:-:17",
    "2003-12-01/2003-12-10",
    "2019-05-12T09:50Z",
    "2024-02-29",
]
INVALID_DTC = [
    "12/01/2019",
    "2019-13-01",
    "2019-02-30",
    "2023-02-29",
    "2019-1-5",
    "2019-05-12 09:50",
    "2019-05-12T25:00",
    "2019-05-12T09:60",
    "2019-",
    "2003--",
    "19-05-12",
    "UNK",
    "2019-05-12T",
]


def test_iso8601_datetime_forms():
    assert schema.is_iso8601_datetime(VALID_DTC) == [True] * len(VALID_DTC)
    assert schema.is_iso8601_datetime(INVALID_DTC) == [False] * len(INVALID_DTC)


def test_iso8601_durations():
    good = ["P1Y", "P2M", "P3D", "PT4H", "PT5M", "PT6S", "P1Y2M3DT4H5M6S", "P2W", "PT0.5H"]
    bad = ["P", "PT", "1D", "P1H", "P1DT", "3 days", "PT-5M", "P1S"]
    assert schema.is_iso8601_duration(good) == [True] * len(good)
    assert schema.is_iso8601_duration(bad) == [False] * len(bad)


@given(
    when=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2099, 12, 31)),
    cut=st.sampled_from([4, 7, 10, 13, 16, 19]),
)
def test_every_truncation_of_a_real_datetime_is_valid(when: datetime, cut: int):
    assert schema.is_iso8601_datetime([when.strftime("%Y-%m-%dT%H:%M:%S")[:cut]]) == [True]


@given(
    when=st.dates(min_value=datetime(1900, 1, 1).date(), max_value=datetime(2099, 12, 31).date()),
    missing=st.sampled_from(["year", "month"]),
)
def test_sdtm_missing_components_are_valid(when, missing: str):
    year, month, day = when.strftime("%Y"), when.strftime("%m"), when.strftime("%d")
    value = f"-{'-' + month}-{day}" if missing == "year" else f"{year}---{day}"
    assert schema.is_iso8601_datetime([value]) == [True]


@given(text=st.text(alphabet="0123456789/-.: ", min_size=1, max_size=12))
def test_no_exception_on_arbitrary_text(text: str):
    assert schema.is_iso8601_datetime([text]) in ([True], [False])


def test_null_and_blank_values_are_each_reported(frames: Frames):
    vs = frames["VS"]
    vs.loc[0:29, "USUBJID"] = None
    vs.loc[30:59, "USUBJID"] = ""
    found = [f for f in run(package(frames)) if f.code == "required-value-missing"]
    assert [f.record for f in found] == list(range(1, 61))
    assert "is null" in found[0].message and "is blank" in found[-1].message


def test_trailing_blanks_are_padding_not_part_of_the_value(frames: Frames):
    before = run(package(frames))
    frames["DM"].loc[0, "SEX"] = frames["DM"].loc[0, "SEX"] + "  "
    frames["LB"].loc[0, "LBDTC"] = frames["LB"].loc[0, "LBDTC"] + " "
    assert new_findings(before, run(package(frames))) == Counter()


def test_key_messages_stay_short_for_large_groups(frames: Frames):
    dm = frames["DM"]
    frames["DM"] = pd.concat([dm] + [dm.iloc[[0]]] * 7, ignore_index=True)
    found = [f for f in run(package(frames)) if f.code == "key-not-unique"]
    assert [f.record for f in found] == [1, *range(17, 24)]
    assert found[0].message.endswith("as records 17, 18, 19, 20, 21 and 2 more")


def test_a_dataset_stacked_twice_reports_every_record(frames: Frames):
    lb = frames["LB"]
    frames["LB"] = pd.concat([lb, lb], ignore_index=True)
    found = [f for f in run(package(frames)) if f.code == "key-not-unique"]
    assert [f.record for f in found] == list(range(1, 2 * len(lb) + 1))
    assert found[0].message.endswith(f"as record {len(lb) + 1}")
    assert found[-1].message.endswith(f"as record {len(lb)}")


def test_categorical_text_is_text(frames: Frames):
    before = run(package(frames))
    frames["DM"]["SEX"] = frames["DM"]["SEX"].astype("category")
    frames["DM"]["RACE"] = frames["DM"]["RACE"].astype("category")
    frames["DM"].loc[1, "RACE"] = np.nan
    assert new_findings(before, run(package(frames))) == Counter()


def test_checks_known_to_pass_are_left_out_of_the_pandera_run_without_changing_failures():
    # One dataset with every kind of column failure beside clean columns: a numeric column in
    # text (dtype), a null and a blank Required value, a value outside the SEX codelist, a
    # date that is not ISO 8601, a leading space and a value of 201 bytes.
    frame = pd.DataFrame(
        {
            "STUDYID": ["S", "S", "S", "S"],
            "DOMAIN": ["DM"] * 4,
            "USUBJID": ["S-1", "S-2", None, " "],
            "SUBJID": ["1", "2", "3", "4"],
            "SEX": ["F", "M", "X", "F"],
            "RFSTDTC": ["2020-01-01", "01/02/2020", "2020-01-03", ""],
            "AGE": ["34", "51", "22", "40"],
            "RACE": ["WHITE", " ASIAN", "WHITE", "x" * 201],
            "COUNTRY": ["USA"] * 4,
        }
    )
    ds = Dataset.from_frame("DM", frame)
    with validating(Package({"DM": ds})) as package:
        schema._judge_package(package)
        _, full = schema._failures(ds, schema._PARTS)
        _, pruned = schema._failures(ds, schema._PARTS, prune=True)
        frame_run = ds.frame.set_axis(pd.RangeIndex(len(frame)), axis=0)
        runs = [(schema._PARTS - {"dtype"}, frame_run)]
        passing = schema._known_passing(schema._structure("DM"), runs, tuple(ds.variables))

    def cases(failures: pd.DataFrame) -> list[tuple]:
        kept = failures[["column", "check", "failure_case", "index"]].astype(str)
        return sorted(map(tuple, kept.to_numpy().tolist()))

    assert cases(pruned) == cases(full)
    assert {(c, ch) for c, ch, *_ in cases(full)} >= {
        ("USUBJID", "not_nullable"),
        ("USUBJID", "not_blank"),
        ("SEX", "ct:SEX"),
        ("RFSTDTC", "iso8601:datetime"),
        ("RACE", "no_leading_space"),
        ("RACE", f"max_bytes:{schema.MAX_BYTES}"),
    }
    # The clean columns' checks are the ones left out; the failing ones stay.
    assert ("COUNTRY", "length") in passing and ("STUDYID", "required") in passing
    assert ("SEX", "ct") not in passing and ("USUBJID", "required") not in passing
    assert ("RACE", "leading") not in passing and ("RACE", "length") not in passing
