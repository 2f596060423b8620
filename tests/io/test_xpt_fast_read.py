"""read_package's fast XPT v5 reader gives what pyreadstat gives, or steps aside.

The general reader (pyreadstat, ReadStat underneath) is the reference: every frame the fast
path returns must be equal to it value for value (numbers bit for bit), with the same labels,
lengths and encoding; files it does not handle the same way must go to the general reader.
"""

import numpy as np
import pandas as pd
import pytest

from trialflow.io import package as pkg
from trialflow.io.package import read_package
from trialflow.io.xpt import XptVariable, write_xpt


def both(path):
    start, declared = pkg._xpt_layout(path)
    return pkg._read_xpt_v5(path, start), pkg._read_xpt_general(path, start, declared)


def assert_same(fast, general):
    pd.testing.assert_frame_equal(fast.table.frame, general.frame, check_exact=True)
    got = (fast.table.label, fast.table.labels, fast.table.lengths, fast.table.encoding)
    assert got == (general.label, general.labels, general.lengths, general.encoding)


def test_a_typical_dataset_is_read_as_pyreadstat_reads_it(tmp_path):
    frame = pd.DataFrame(
        {
            "STUDYID": ["S1", "S1", "S1", "S1"],
            "USUBJID": ["S1-001", " S1-002", "S1-003", "S1-004"],  # a leading space is kept
            "LBORRES": ["5.4", "", "neegatif", "<0.1"],  # blank is missing; UTF-8 text below
            "LBSTRESN": [5.4, np.nan, -1e-30, 123456789.125],
            "LBSEQ": [1.0, 2.0, 3.0, 4.0],
        }
    )
    variables = [
        XptVariable("STUDYID", "Study Identifier", "Char", 8),
        XptVariable("USUBJID", "Unique Subject Identifier", "Char", 20),
        XptVariable("LBORRES", "Result or Finding in Original Units", "Char", 12),
        XptVariable("LBSTRESN", "Numeric Result/Finding in Standard Units", "Num", 8),
        XptVariable("LBSEQ", "Sequence Number", "Num", 8),
    ]
    path = write_xpt(
        frame, tmp_path / "lb.xpt", dataset="LB", label="Laboratory", variables=variables
    )
    path.write_bytes(path.read_bytes().replace(b"neegatif", "négatif".encode()))  # 8 bytes
    fast, general = both(path)
    assert fast is not None
    assert_same(fast, general)
    out = fast.table.frame
    assert out["USUBJID"].tolist()[1] == " S1-002"
    assert out["LBORRES"].isna().tolist() == [False, True, False, False]
    assert out["LBORRES"].tolist()[2] == "négatif"
    assert out["LBSTRESN"].tolist()[3] == 123456789.125
    assert fast.table.lengths == {"STUDYID": 8, "USUBJID": 20, "LBORRES": 12}
    assert fast.table.label == "Laboratory"


def test_ibm_numbers_convert_bit_for_bit_as_readstat_converts_them(tmp_path):
    # Random normalised IBM doubles (more bits than IEEE holds: both truncate), zeros with any
    # sign or exponent byte, and the special missing values . ._ .A .B .Z.
    n = 5000
    path = write_xpt(
        pd.DataFrame({"X": np.arange(n, dtype=float)}), tmp_path / "x.xpt", dataset="X"
    )
    data = bytearray(path.read_bytes())
    start = data.find(b"HEADER RECORD*******OBS") + 80
    rng = np.random.default_rng(13)
    raw = rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
    raw[:, 1] |= np.where(raw[:, 1] < 0x10, 0x10, 0).astype(np.uint8)  # normalised
    raw[:100, 1:] = 0
    raw[:5, 0] = np.frombuffer(b"._ABZ", dtype=np.uint8)
    raw[5, 0] = 0
    data[start : start + 8 * n] = raw.tobytes()
    path.write_bytes(bytes(data))
    fast, general = both(path)
    assert fast is not None
    assert_same(fast, general)
    values = fast.table.frame["X"]
    assert values.iloc[:5].isna().all() and values.iloc[5] == 0.0


@pytest.mark.parametrize(
    ("values", "why"),
    [
        (["A", ""], "a last record of only spaces: padding or a blank record"),
        (["cafX", "thX"], "text that is not UTF-8 (X becomes a cp1252 é below)"),
    ],
)
def test_files_it_does_not_handle_go_to_the_general_reader(tmp_path, values, why):
    path = write_xpt(
        pd.DataFrame({"C": values}), tmp_path / "c.xpt", dataset="C",
        variables=[XptVariable("C", "", "Char", 8)],
    )  # fmt: skip
    if "cp1252" in why:
        path.write_bytes(path.read_bytes().replace(b"cafX", b"caf\xe9").replace(b"thX", b"th\xe9"))
    fast, general = both(path)
    assert fast is None, why
    package, _ = read_package([path])
    assert package.get("C").frame["C"].tolist() == general.frame["C"].tolist()
    if "cp1252" in why:
        assert general.encoding == "cp1252" and general.frame["C"].tolist() == ["café", "thé"]


def test_read_package_gives_the_same_package_either_way(tmp_path, monkeypatch):
    frame = pd.DataFrame({"STUDYID": ["S"] * 3, "DOMAIN": ["AE"] * 3, "AESEQ": [1.0, 2.0, 3.0]})
    write_xpt(frame, tmp_path / "ae.xpt", dataset="AE")
    fast_package, fast_findings = read_package([tmp_path])
    monkeypatch.setattr(pkg, "_read_xpt_v5", lambda path, start: None)
    general_package, general_findings = read_package([tmp_path])
    pd.testing.assert_frame_equal(
        fast_package.get("AE").frame, general_package.get("AE").frame, check_exact=True
    )
    assert fast_findings == general_findings == []


def test_a_damaged_header_goes_to_the_general_reader(tmp_path):
    path = write_xpt(pd.DataFrame({"AESEQ": [1.0]}), tmp_path / "ae.xpt", dataset="AE")
    data = bytearray(path.read_bytes())
    names = data.find(b"HEADER RECORD*******NAMESTR")
    data[names + 54 : names + 58] = b"00x1"  # the variable count is not a number
    path.write_bytes(bytes(data))
    start, _ = pkg._xpt_layout(path)
    assert pkg._read_xpt_v5(path, start) is None
