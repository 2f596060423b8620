"""``trialflow demo --example three-arm``: the second bundled example end to end."""

from __future__ import annotations

import json

import pyreadstat
import pytest
from click.testing import CliRunner

from trialflow.cli import cli
from trialflow.pipeline import EXAMPLES, example_paths


def test_examples_and_their_paths():
    assert EXAMPLES == ("hucmsc-t2dm", "three-arm")
    assert example_paths()[0].name == "hucmsc-t2dm"  # the default stays the single-arm study
    for name in EXAMPLES:
        specs, raw = example_paths(name)
        assert (specs / "study.yaml").is_file() and raw.is_file()
    with pytest.raises(ValueError, match=r"unknown example 'x' .*three-arm"):
        example_paths("x")


def test_demo_runs_the_three_arm_example(tmp_path):
    out = tmp_path / "demo"
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--example", "three-arm", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "demo: TF3ARM-01" in result.output and "0 errors" in result.output
    dm, meta = pyreadstat.read_xport(str(out / "sdtm" / "dm.xpt"))
    # 90 randomised (30 per arm) and 8 screen failures
    assert len(dm) == 98 and meta.table_name == "DM"
    assert sorted(dm["ARMCD"].value_counts().items()) == [("", 8), ("HIGH", 30), ("LOW", 30),
                                                          ("PBO", 30)]  # fmt: skip
    assert json.loads((out / "adam" / "adsl.json").read_text())["records"] == 98
    checked = runner.invoke(cli, ["verify", str(out)])
    assert checked.exit_code == 0, checked.output


def test_demo_refuses_an_unknown_example(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--example", "x", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "three-arm" in result.output
