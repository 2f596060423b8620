import json
import re
import subprocess
import sys

import pyreadstat
import pytest
from click.testing import CliRunner
from support import EXAMPLE_EXPORT, EXAMPLE_SPECS, tiny_sheets, write_csv_export

from trialflow.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def test_every_command_has_help_with_an_example(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("map", "run", "derive", "demo", "synth", "validate", "rules"):
        assert name in result.output
        sub = runner.invoke(cli, [name, "-h"])
        assert sub.exit_code == 0 and "Example:" in sub.output


def test_map_writes_the_output_folder(runner, tiny_export, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(
        cli, ["map", str(EXAMPLE_SPECS), "--raw", str(tiny_export), "--out", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    for name in ("dm", "vs", "lb", "ex", "ae", "mh"):
        assert (out / "sdtm" / f"{name}.xpt").exists()
        assert (out / "lineage" / f"{name}.csv").exists()
    assert (out / "validation" / "report.json").exists()
    assert (out / "validation" / "report.xlsx").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["path"] for e in manifest["files"]} >= {"sdtm/dm.xpt", "validation/report.json"}
    assert "0 errors" in result.output


def test_errors_in_the_data_give_exit_1_and_a_report_naming_the_cell(runner, tmp_path):
    sheets = tiny_sheets()
    sheets["DEMOG"][0]["SEX"] = "Unknown gender"
    export = write_csv_export(tmp_path / "raw", sheets)
    out = tmp_path / "out"
    result = runner.invoke(
        cli, ["run", str(EXAMPLE_SPECS), "--raw", str(export), "--out", str(out), "-q"]
    )
    assert result.exit_code == 1
    assert "ct-unmapped-value" in result.output
    report = json.loads((out / "validation" / "report.json").read_text())
    [finding] = [f for f in report["findings"] if f["code"] == "ct-unmapped-value"]
    assert finding["source"] == {
        "file": "raw/DEMOG.csv",
        "sheet": "DEMOG",
        "row": 2,
        "column": "SEX",
    }
    assert finding["dataset"] == "DM" and finding["variable"] == "SEX" and finding["record"] == 1
    # SEX is Required, so validation also reports it empty on the same record
    errors = [
        (f["code"], f["record"], f["value"] or f["variable"])
        for f in report["findings"]
        if f["severity"] == "error"
    ]
    # The tiny export's 5 LB records hold no 2-h glucose, HbA1c, safety lab, AFP or CA 19-9
    # and no post-baseline value, so the example's study.yaml selects nothing for those
    # parameters and FASFL is N for both subjects: the run says so instead of reporting an
    # empty analysis as if it were fine.
    assert sorted(errors, key=str) == sorted(
        [
            ("ct-unmapped-value", 1, "Unknown gender"),
            ("required-value-missing", 1, "SEX"),
            *[("adam-parameter-no-records", None, code)
              for code in ("P2PG", "HBA1C", "WBC", "ALT", "CREAT", "AFP", "CA199")],
            ("adam-population-empty", None, "FASFL"),
            ("analysis-population-empty", None, "FASFL"),
        ],
        key=str,
    )  # fmt: skip


def test_strict_stops_with_exit_1_and_one_line(runner, tmp_path):
    sheets = tiny_sheets()
    sheets["DEMOG"][0]["SEX"] = "?"
    export = write_csv_export(tmp_path / "raw", sheets)
    result = runner.invoke(
        cli,
        [
            "map",
            str(EXAMPLE_SPECS),
            "--raw",
            str(export),
            "--out",
            str(tmp_path / "o"),
            "--strict",
            "-q",
        ],
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: error ct-unmapped-value: DM.SEX")
    assert "stopped by --strict" in result.output


def test_file_that_is_not_really_xlsx_is_exit_2_without_traceback(runner, tmp_path):
    fake = tmp_path / "export.xlsx"
    fake.write_bytes(b"\x00not a workbook")
    result = runner.invoke(
        cli, ["map", str(EXAMPLE_SPECS), "--raw", str(fake), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {fake}: not a readable .xlsx workbook (the file is not a zip)"
    ]
    assert "Traceback" not in result.output


def test_unknown_spec_key_is_exit_2_naming_file_and_line(runner, tiny_export, study_copy, tmp_path):
    path = study_copy / "vs.yaml"
    path.write_text(path.read_text().replace("  sheet: VITALS", "  sheet: VITALS\n  sheeet: VS"))
    result = runner.invoke(
        cli, ["map", str(study_copy), "--raw", str(tiny_export), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    line = path.read_text().splitlines().index("  sheeet: VS") + 1
    assert result.output.strip() == (
        f"Error: {path}:{line}: source.sheeet: unknown key; did you mean 'sheet'?"
    )


def test_missing_sheet_is_exit_2(runner, tmp_path):
    sheets = tiny_sheets()
    del sheets["VITALS"]
    export = write_csv_export(tmp_path / "raw", sheets)
    result = runner.invoke(
        cli, ["map", str(EXAMPLE_SPECS), "--raw", str(export), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "no sheet 'VITALS'" in result.output


def test_synth_writes_a_workbook_and_refuses_other_suffixes(runner, tmp_path):
    out = tmp_path / "export.xlsx"
    result = runner.invoke(cli, ["synth", "--subjects", "3", "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and "3 synthetic subjects" in result.output
    bad = runner.invoke(cli, ["synth", "--out", str(tmp_path / "export.csv")])
    assert bad.exit_code == 2 and "written as .xlsx" in bad.output


def test_demo_maps_the_bundled_example(runner, tmp_path):
    assert EXAMPLE_EXPORT.exists()
    out = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    dm, meta = pyreadstat.read_xport(str(out / "sdtm" / "dm.xpt"))
    assert len(dm) == 16 and meta.table_name == "DM"
    assert sorted(dm["SEX"].value_counts().items()) == [("F", 4), ("M", 12)]
    assert "synthetic" in result.output
    assert "sdtm/dm.xpt, .json" in result.output
    assert json.loads((out / "adam" / "adsl.json").read_text())["records"] == 16
    # the whole folder, its eCTD part included, is what its manifest lists: nothing else
    checked = runner.invoke(cli, ["verify", str(out)])
    assert checked.exit_code == 0, checked.output


def test_an_unexpected_failure_is_still_one_line(runner, tiny_export, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("trialflow.pipeline.map_study", broken)
    args = ["map", str(EXAMPLE_SPECS), "--raw", str(tiny_export), "--out", str(tmp_path / "o")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: internal error, please report it: ZeroDivisionError: division by zero "
        "(set TRIALFLOW_TRACEBACK=1 to see where)"
    ]


def test_a_value_xpt_v5_cannot_hold_stops_naming_dataset_variable_value_and_raw_cell(
    runner, tmp_path
):
    sheets = tiny_sheets()
    sheets["AE"] = [
        dict(
            SUBJ="01-001",
            AE_NO="1",
            AE_TERM="Fièvre",
            PT="Pyrexia",
            SOC="General disorders",
            START_DT="2019-01-09",
            END_DT="2019-01-10",
            SEVERITY="Mild",
            SERIOUS="N",
            RELATED="Related",
            OUTCOME="Recovered",
            ACTION="None",
        )
    ]
    export = write_csv_export(tmp_path / "raw", sheets)
    args = ["map", str(EXAMPLE_SPECS), "--raw", str(export), "--out", str(tmp_path / "o"), "-q"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    head, line = result.output.strip().splitlines()
    assert head.startswith("Error: 1 value or attribute can't be written to SAS XPORT v5")
    assert line.startswith("  error xpt-value-not-ascii: AE.AETERM record 1")
    assert "Fièvre" in line
    assert line.endswith("[raw/AE.csv, sheet AE, row 2, column AE_TERM]")
    assert not (tmp_path / "o" / "sdtm").exists()


def test_a_site_not_in_study_yaml_is_reported(runner, tmp_path):
    sheets = tiny_sheets()
    sheets["DEMOG"][1]["SITE"] = "03"
    export = write_csv_export(tmp_path / "raw", sheets)
    out = tmp_path / "o"
    result = runner.invoke(
        cli, ["map", str(EXAMPLE_SPECS), "--raw", str(export), "--out", str(out), "-q"]
    )
    assert result.exit_code == 1
    report = json.loads((out / "validation" / "report.json").read_text())
    [f] = [f for f in report["findings"] if f["code"] == "site-unknown"]
    assert (f["variable"], f["value"], f["source"]["row"]) == ("SITEID", "03", 3)


def test_ct_search_finds_a_term_by_part_of_its_submission_value(runner):
    result = runner.invoke(cli, ["ct", "search", "10^6 THERAPEUTIC"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == ("1 term matches '10^6 THERAPEUTIC' in the codelists of CDISC CT 2024-09-27")
    assert lines[1].split() == [
        "CODELIST", "CL", "CODE", "SUBMISSION", "VALUE", "CODE", "SYNONYMS", "NCI", "PREFERRED",
        "TERM", "MATCHED",
    ]  # fmt: skip
    assert re.split(r"\s{2,}", lines[2]) == [
        "UNIT", "C71620", "10^6 Therapeutic Cells", "C187973",
        "Million Therapeutic Cells Dosing Unit", "submission value",
    ]  # fmt: skip
    assert len(lines) == 3


def test_ct_search_by_synonym_within_one_codelist_and_by_codelist_code(runner):
    result = runner.invoke(cli, ["ct", "search", "female", "--codelist", "sex"])
    assert result.exit_code == 0, result.output
    assert (
        result.output.splitlines()[0]
        == "1 term matches 'female' in codelist SEX of CDISC CT 2024-09-27"
    )
    assert result.output.splitlines()[2].split()[:4] == ["SEX", "C66731", "F", "C16576"]
    assert result.output.rstrip().endswith("synonym")
    by_code = runner.invoke(cli, ["ct", "search", "C66742", "--limit", "2"])
    assert by_code.exit_code == 0
    lines = by_code.output.splitlines()
    assert lines[0] == "4 terms match 'C66742' in the codelists of CDISC CT 2024-09-27"
    assert [line.split()[0] for line in lines[2:4]] == ["NY", "NY"]
    assert lines[-1] == "... and 2 more (narrow with --codelist, or --limit 0)"


def test_ct_search_with_no_match_is_one_line_and_exit_1(runner):
    result = runner.invoke(cli, ["ct", "search", "furlongs per fortnight"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: no term of the codelists in CDISC CT 2024-09-27 matches 'furlongs per fortnight' "
        "(searched submission values, synonyms, NCI preferred terms, C-codes and codelist "
        "names); try a shorter text: 'per' matches 743 terms, 'fort' 2\n"
    )
    unknown = runner.invoke(cli, ["ct", "search", "x", "--codelist", "NOPE"])
    assert unknown.exit_code == 2
    assert unknown.output.startswith("Error: unknown codelist 'NOPE'")
    assert runner.invoke(cli, ["ct", "search", "  "]).exit_code == 2


def test_ct_search_with_no_match_suggests_the_words_that_match(runner):
    result = runner.invoke(cli, ["ct", "search", "cells/kg"])
    assert result.exit_code == 1
    assert result.output.rstrip().endswith(
        "codelist names); try a shorter text: 'cells' matches 165 terms, 'kg' 65"
    )
    in_unit = runner.invoke(cli, ["ct", "search", "cells/kg", "--codelist", "UNIT"])
    assert in_unit.output.rstrip().endswith("try a shorter text: 'cells' matches 22 terms, 'kg' 60")
    nothing = runner.invoke(cli, ["ct", "search", "zzzz"])
    assert nothing.output.rstrip().endswith(
        "; no word of it matches either: check the spelling, or search a part of a word"
    )


def test_ct_search_within_a_codelist_says_to_raise_the_limit(runner):
    result = runner.invoke(cli, ["ct", "search", "kg", "--codelist", "UNIT", "--limit", "2"])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "... and 58 more (raise --limit, or --limit 0)"
    assert "--codelist" not in result.output


def test_ct_search_and_spec_docs_have_help_with_an_example(runner):
    for args in (["ct", "search", "-h"], ["spec-docs", "-h"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0 and "Example:" in result.output


def test_spec_docs_rewrites_only_the_generated_region(runner, tmp_path):
    from trialflow.mapping import docs

    document = tmp_path / "spec.md"
    document.write_text(f"# hand-written\n\n{docs.BEGIN}\nstale\n{docs.END}\n\nmore prose\n")
    result = runner.invoke(cli, ["spec-docs", str(document)])
    assert result.exit_code == 0 and result.output == f"{document}: spec reference regenerated\n"
    text = document.read_text()
    assert text.startswith("# hand-written\n\n" + docs.reference_markdown())
    assert text.endswith("\nmore prose\n") and "stale" not in text
    again = runner.invoke(cli, ["spec-docs", str(document)])
    assert again.output == f"{document}: spec reference is up to date\n"
    document.write_text("no markers\n")
    refused = runner.invoke(cli, ["spec-docs", str(document)])
    assert refused.exit_code == 2
    assert refused.output.startswith(f"Error: {document}: no generated region: put the lines")
    printed = runner.invoke(cli, ["spec-docs"])
    assert printed.exit_code == 0 and printed.output == docs.reference_markdown()


def test_the_console_shows_three_findings_per_rule_and_counts_the_rest(capsys):
    from trialflow.cli import _echo_per_rule
    from trialflow.errors import Finding

    found = [
        Finding("end-missing", "warning", "no end", dataset="AE", record=r) for r in range(1, 479)
    ]
    found.append(Finding("dm-missing", "error", "no DM"))
    _echo_per_rule(found, "validation/report.json")
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "    error dm-missing: no DM",
        "    warning end-missing: AE record 1: no end",
        "    warning end-missing: AE record 2: no end",
        "    warning end-missing: AE record 3: no end",
        "    ... and 475 more records (warning end-missing) in validation/report.json",
    ]


def test_python_dash_m_trialflow_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "trialflow", "derive", "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: python -m trialflow derive [OPTIONS] STUDY_DIR")
