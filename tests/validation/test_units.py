"""orresu-missing and stresu-missing decide from knowledge of the test (the test-units table).

The records are synthetic. The expected decisions follow from the definitions of the tests:
a hematocrit is a volume fraction reported in % or L/L, so 42 alone is incomplete; pH is a
dimensionless logarithm; a ratio of two quantities of one kind is dimensionless; 'NEGATIVE'
is not a number; a result of 0 is 0 in every unit. A test the table does not know keeps the
former rule: it needs a unit when other records of the test carry one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from support import EXAMPLE_SPECS

from trialflow.cli import cli
from trialflow.errors import SpecError, TrialflowError
from trialflow.io.units import read_test_units
from trialflow.mapping.load import load_study
from trialflow.pipeline import study_test_units
from trialflow.sdtm.metadata import codelist
from trialflow.validation import engine  # noqa: F401  (registers the rules)
from trialflow.validation.core import RULES, Dataset, Package
from trialflow.validation.units import (
    COLUMNS,
    TestUnit,
    expects_unit,
    merged_test_units,
    parse_test_units,
    shipped_test_units,
)

# (LBTESTCD, LBORRES, LBORRESU, LBSTRESU); STRESC repeats ORRES, STRESN is its number
LB_ROWS = [
    ("HCT", "42", "", ""),  # 1 measured in a unit, none given: reported
    ("PH", "6.5", "", ""),  # 2 dimensionless: never reported
    ("ALBGLOB", "1.4", "", ""),  # 3 a ratio: not reported
    ("WBC", "NEGATIVE", "", ""),  # 4 qualitative: not a number
    ("ZZTEST", "3", "", ""),  # 5 not in the table, another record has a unit: reported
    ("ZZTEST", "4", "mg", "mg"),  # 6 has its unit
    ("ZZOTHER", "5", "", ""),  # 7 not in the table, no record has a unit: not reported
    ("KETONES", "0", "", ""),  # 8 zero: the same in every unit, not reported
    ("KETONES", "1", "", ""),  # 9 a concentration without its unit: reported
]
FLAGGED = [1, 5, 9]


def lb_frame() -> pd.DataFrame:
    rows = []
    for seq, (testcd, res, orresu, stresu) in enumerate(LB_ROWS, start=1):
        number = pd.to_numeric(res, errors="coerce")
        rows.append(
            {
                "STUDYID": "S1",
                "DOMAIN": "LB",
                "USUBJID": f"S1-{seq:03d}",
                "LBSEQ": 1,
                "LBTESTCD": testcd,
                "LBTEST": testcd.title(),
                "LBORRES": res,
                "LBORRESU": orresu,
                "LBSTRESC": res,
                "LBSTRESN": number,
                "LBSTRESU": stresu,
            }
        )
    return pd.DataFrame(rows)


def flagged(package: Package, code: str) -> list[int]:
    return sorted(f.record for f in RULES[code].run(package))


def lb_package(test_units=None) -> Package:
    return Package({"LB": Dataset.from_frame("LB", lb_frame())}, test_units=test_units)


# --- the table -----------------------------------------------------------------------------


def test_shipped_table_knows_the_tests_and_cites_its_sources():
    table = shipped_test_units()
    assert expects_unit(table, "LB", "HCT") is True
    assert expects_unit(table, "LB", "ANISO") is True
    assert expects_unit(table, "LB", "PH") is False
    assert expects_unit(table, "LB", "SPGRAV") is False
    assert expects_unit(table, "LB", "INR") is False
    assert expects_unit(table, "VS", "WEIGHT") is True
    assert expects_unit(table, "LB", "ZZTEST") is None
    assert all(row.source.startswith("CDISC CT 2024-09-27") for row in table.values())
    assert all(row.reason for row in table.values())
    assert table[("LB", "HCT")].source.endswith("term HCT C64796 (Hematocrit); UCUM %, L/L")


def test_every_shipped_row_is_a_ct_test_code_with_its_codelist_and_term_code():
    # against trialflow's own CT extract (trialflow/sdtm/data/sdtm-ct.csv, CT 2024-09-27)
    for (domain, testcd), row in shipped_test_units().items():
        lists = codelist(f"{domain}TESTCD")
        assert lists.code in row.source, (testcd, lists.code)
        terms = lists.terms.set_index("term")
        assert testcd in terms.index, testcd
        code = terms.at[testcd, "term_code"]
        expected = f"term {testcd} {code} (" if code else f"term {testcd} ("
        assert expected in row.source, (testcd, code)


def test_a_star_row_applies_to_every_domain_and_a_domain_row_wins():
    table = {
        ("*", "X"): TestUnit("*", "X", True, "", ""),
        ("VS", "X"): TestUnit("VS", "X", False, "", ""),
    }
    assert (expects_unit(table, "LB", "x"), expects_unit(table, "VS", "X")) == (True, False)


def test_override_rows_replace_shipped_rows_by_domain_and_testcd():
    mine = parse_test_units(
        [{"domain": "LB", "testcd": "PH", "expects_unit": "yes", "reason": "r", "source": "s"}],
        "u.csv",
    )
    table = merged_test_units(shipped_test_units(), mine)
    assert expects_unit(table, "LB", "PH") is True
    assert expects_unit(table, "LB", "SPGRAV") is False  # untouched
    assert expects_unit(shipped_test_units(), "LB", "PH") is False  # the shipped copy is intact


def test_read_test_units_names_file_and_line(tmp_path: Path):
    path = tmp_path / "units.csv"
    path.write_text(",".join(COLUMNS) + "\nLB,HCT,no,reported as a fraction,lab\nLB,PH,perhaps,,\n")
    with pytest.raises(TrialflowError, match=r"units.csv line 3: expects_unit is 'perhaps'"):
        read_test_units(path)
    path.write_text("testcd,expects_unit\nHCT,no\n")
    with pytest.raises(TrialflowError, match=r"units.csv line 1: the header lacks domain"):
        read_test_units(path)


# --- the rules decide from it ---------------------------------------------------------------


@pytest.mark.parametrize("code", ["orresu-missing", "stresu-missing"])
def test_rules_decide_from_the_test(code: str):
    assert flagged(lb_package(), code) == FLAGGED


def test_messages_give_the_reason_from_the_table():
    [hct] = [f for f in RULES["stresu-missing"].run(lb_package()) if f.record == 1]
    assert "LBSTRESU" in hct.message and "HCT" in hct.message
    assert "volume fraction" in hct.message
    [zz] = [f for f in RULES["orresu-missing"].run(lb_package()) if f.record == 5]
    assert "other records of the test have one" in zz.message


def test_override_flips_decisions():
    mine = {
        ("LB", "PH"): TestUnit("LB", "PH", True, "study reports pH in [pH]", "study"),
        ("LB", "HCT"): TestUnit("LB", "HCT", False, "study reports a fraction", "study"),
        ("LB", "ZZOTHER"): TestUnit("LB", "ZZOTHER", True, "a concentration", "study"),
    }
    assert flagged(lb_package(mine), "orresu-missing") == [2, 5, 7, 9]


def test_vs_uses_the_vs_rows():
    vs = pd.DataFrame(
        {
            "STUDYID": "S1",
            "DOMAIN": "VS",
            "USUBJID": ["S1-001", "S1-002"],
            "VSSEQ": 1,
            "VSTESTCD": ["WEIGHT", "FRMSIZE"],
            "VSORRES": ["70", "2"],
            "VSORRESU": ["", ""],
            "VSSTRESC": ["70", "2"],
            "VSSTRESN": [70.0, 2.0],
            "VSSTRESU": ["", ""],
        }
    )
    assert flagged(Package({"VS": Dataset.from_frame("VS", vs)}), "stresu-missing") == [1]


# --- the CLI and study.yaml -----------------------------------------------------------------


def _write_package(folder: Path) -> Path:
    folder.mkdir()
    pd.DataFrame(
        {"STUDYID": "S1", "DOMAIN": "DM", "USUBJID": [f"S1-{i:03d}" for i in range(1, 10)]}
    ).to_csv(folder / "dm.csv", index=False)
    lb_frame().to_csv(folder / "lb.csv", index=False)
    return folder


def _records(report: Path, code: str) -> list[int]:
    text = report.read_text()
    findings = json.loads(text)["findings"]
    return sorted(f["record"] for f in findings if f["code"] == code)


def test_cli_units_option_end_to_end(tmp_path: Path):
    folder = _write_package(tmp_path / "sdtm")
    plain, custom = tmp_path / "plain.json", tmp_path / "custom.json"
    result = CliRunner().invoke(cli, ["validate", str(folder), "--json", str(plain)])
    assert result.exit_code == 1, result.output  # stresu-missing is an error
    assert _records(plain, "stresu-missing") == FLAGGED
    units = tmp_path / "units.csv"
    units.write_text(",".join(COLUMNS) + "\nLB,PH,yes,in [pH],study\nLB,HCT,no,a fraction,study\n")
    result = CliRunner().invoke(
        cli, ["validate", str(folder), "--json", str(custom), "--units", str(units)]
    )
    assert result.exit_code == 1, result.output
    assert _records(custom, "stresu-missing") == [2, 5, 9]
    assert _records(custom, "orresu-missing") == [2, 5, 9]
    assert json.loads(custom.read_text())["units"] == str(units)


def test_cli_units_option_reports_a_bad_file(tmp_path: Path):
    folder = _write_package(tmp_path / "sdtm")
    result = CliRunner().invoke(
        cli, ["validate", str(folder), "--units", str(tmp_path / "none.csv")]
    )
    assert result.exit_code == 2
    assert "none.csv: no such file" in result.output


def test_study_yaml_test_units_key(tmp_path: Path):
    specs = tmp_path / "specs"
    shutil.copytree(EXAMPLE_SPECS, specs)
    study_file = specs / "study.yaml"
    study_file.write_text(study_file.read_text() + "\ntest_units: units.csv\n")
    line = len(study_file.read_text().splitlines())
    with pytest.raises(SpecError, match=rf"study.yaml:{line}: test_units: .*units.csv: no such"):
        study_test_units(load_study(specs))
    (specs / "units.csv").write_text(",".join(COLUMNS) + "\nLB,PH,yes,in [pH],study\n")
    rows = study_test_units(load_study(specs))
    assert rows is not None and rows[("LB", "PH")].expects_unit is True
    assert study_test_units(load_study(EXAMPLE_SPECS)) is None
