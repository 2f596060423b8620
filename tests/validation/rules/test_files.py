"""FDA file rules (trialflow.validation.rules.files): sizes, names and formats of dataset
files, as the reader reports them."""

from __future__ import annotations

import pandas as pd

from trialflow.io.package import read_package
from trialflow.io.xpt import write_xpt
from trialflow.validation import engine as _engine  # noqa: F401  (registers the rules)
from trialflow.validation.core import RULES, Dataset, Package
from trialflow.validation.rules.files import MAX_DATASET_BYTES

MINE = [c for c, r in RULES.items() if r.run and r.run.__module__.endswith(".files")]
DM = pd.DataFrame({"STUDYID": ["S1"], "DOMAIN": ["DM"], "USUBJID": ["S1-001"]})


def dm(**kw: object) -> Package:
    return Package({"DM": Dataset.from_frame("DM", DM, **kw)})


def codes(package: Package) -> list[tuple[str, str | None]]:
    return [(f.code, f.value) for c in MINE for f in RULES[c].run(package)]


def test_registered_with_their_ids():
    assert sorted(MINE) == [
        "dataset-file-over-5gb",
        "file-name-not-dataset-name",
        "file-name-not-lowercase",
        "file-not-xpt",
    ]
    assert RULES["dataset-file-over-5gb"].refs == ("CORE-000765", "FB2401")


def test_in_memory_package_has_no_file_finding():
    assert codes(dm()) == []


def test_clean_files():
    assert codes(dm(files=("dm.xpt",), sizes=(4_000,), members=("DM",))) == []


def test_size_limit_is_5_gb_as_core_counts_it():
    """CORE-000765: dataset_size greater_than 5368709120 (5 GiB) is reported, not at it."""
    assert MAX_DATASET_BYTES == 5_368_709_120
    at_limit = dm(files=("dm.xpt",), sizes=(5_368_709_120,), members=("DM",))
    over = dm(files=("dm.xpt",), sizes=(5_368_709_121,), members=("DM",))
    assert codes(at_limit) == []
    found = RULES["dataset-file-over-5gb"].run(over)
    assert [(f.dataset, f.value, f.severity) for f in found] == [("DM", "5368709121", "error")]
    assert "5,368,709,121 bytes" in found[0].message


def test_split_dataset_parts_are_measured_one_by_one():
    parts = dm(files=("qs1.xpt", "qs2.xpt"), sizes=(6_000_000_000, 10), members=("QS1", "QS2"))
    found = RULES["dataset-file-over-5gb"].run(parts)
    assert [f.message.split(" ")[0] for f in found] == ["qs1.xpt"]


def test_file_named_after_another_dataset():
    found = codes(dm(files=("demog.xpt",), members=("DM",)))
    assert found == [("file-name-not-dataset-name", "demog.xpt")]
    assert codes(dm(files=("dm.xpt",), members=("DEMOG",))) == [
        ("file-name-not-dataset-name", "dm.xpt")
    ]


def test_upper_case_and_other_formats():
    assert codes(dm(files=("DM.XPT",), members=("DM",))) == [("file-name-not-lowercase", "DM.XPT")]
    found = RULES["file-not-xpt"].run(dm(files=("dm.csv",)))
    assert [(f.value, f.severity) for f in found] == [("dm.csv", "notice")]
    assert codes(dm(files=("dm.json",))) == []


def test_reader_fills_sizes_and_member_names(tmp_path):
    write_xpt(DM, tmp_path / "dm.xpt", dataset="DM")
    write_xpt(DM.assign(DOMAIN="AE"), tmp_path / "ae.xpt", dataset="DEMOG")
    package, _ = read_package([tmp_path])
    ds = package.get("DM")
    assert ds.files == ("dm.xpt",)
    assert ds.sizes == ((tmp_path / "dm.xpt").stat().st_size,)
    assert ds.members == ("DM",)
    found = [(f.dataset, f.value) for f in RULES["file-name-not-dataset-name"].run(package)]
    assert found == [("AE", "ae.xpt")]
