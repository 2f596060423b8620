"""Tests of trialflow's SAS XPORT v5 writer (trialflow.io.xpt), read back with pyreadstat."""

from __future__ import annotations

import math
import struct
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import sas_format

from trialflow.errors import Finding, XptError
from trialflow.io import xpt
from trialflow.io.xpt import XptVariable, read_xpt, write_xpt, xpt_findings

RECORD = 80
HEADER_RECORDS = 8  # LIBRARY header .. NAMESTR header, before the NAMESTR records
IBM_PRECISION = 2.0**-52 * 16


def ibm_to_float(word: int, length: int = 8) -> float:
    """Decode one IBM/370 double (its first ``length`` bytes) exactly, independent of xpt.py."""
    raw = word.to_bytes(8, "big")[:length].ljust(8, b"\0")
    if raw == b"." + b"\0" * 7:
        return math.nan
    sign = -1 if raw[0] & 0x80 else 1
    exponent = (raw[0] & 0x7F) - 64
    fraction = Fraction(int.from_bytes(raw[1:], "big"), 2**56)
    return float(sign * fraction * Fraction(16) ** exponent)


def records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert len(data) % RECORD == 0
    return [data[i : i + RECORD] for i in range(0, len(data), RECORD)]


def findings_by_code(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.code, []).append(f)
    return out


@pytest.fixture
def demo() -> pd.DataFrame:
    """Text and numbers with everything awkward: missing, empty, 200 bytes, tiny, huge."""
    return pd.DataFrame(
        {
            "STUDYID": pd.Series(["TF-01", "TF-01", "TF-01", "TF-01", "TF-01"], dtype="str"),
            "AETERM": pd.Series(["HEADACHE", "", None, "X" * 200, "nausea"], dtype="str"),
            "AECOMM": pd.Series([None, None, None, None, None], dtype="str"),
            "AESEQ": pd.Series([1, 2, 3, 4, 5], dtype="int64"),
            "AEDOSE": [0.0, -12.5, np.nan, 1.0e-70, 6.02214076e75],
            "AEVAL": [1 / 3, -math.pi, 2.0**53, -(2.0**53), 123456.789012345],
            "AESTDT": [23000.0, np.nan, 23001.0, 0.0, -1.0],
            "AENONE": [np.nan] * 5,
            "AEFLAG": pd.Series([True, False, None, True, False], dtype="boolean"),
            "AESEV": pd.Series(["MILD", "SEVERE", "MILD", None, "MODERATE"], dtype=object),
        }
    )


DEMO_META = [
    XptVariable("STUDYID", "Study Identifier", "Char", 12),
    XptVariable("AETERM", "Reported Term for the Adverse Event", format="$200."),
    XptVariable("AESEQ", "Sequence Number", format="8."),
    XptVariable("AEDOSE", "Dose", format="8.2"),
    XptVariable("AESTDT", "Start Date", format="DATE9."),
    XptVariable("AESEV", "Severity/Intensity", length=8),
]


# --- round trip -----------------------------------------------------------------------------


def test_round_trip_values_and_metadata(tmp_path: Path, demo: pd.DataFrame) -> None:
    out = write_xpt(
        demo, tmp_path / "ae.xpt", dataset="AE", label="Adverse Events", variables=DEMO_META
    )
    frame, meta = pyreadstat.read_xport(str(out), disable_datetime_conversion=True)

    assert list(frame.columns) == list(demo.columns)
    assert len(frame) == len(demo)
    for name in ["STUDYID", "AETERM", "AECOMM", "AESEV"]:
        expected = demo[name].astype(object).where(demo[name].notna(), "").tolist()
        assert frame[name].tolist() == expected, name
    for name in ["AESEQ", "AEDOSE", "AEVAL", "AESTDT", "AENONE"]:
        np.testing.assert_array_equal(
            frame[name].to_numpy(dtype=float), demo[name].to_numpy(dtype=float), err_msg=name
        )
    np.testing.assert_array_equal(frame["AEFLAG"].to_numpy(), [1.0, 0.0, np.nan, 1.0, 0.0])

    assert meta.table_name == "AE"
    assert meta.file_label == "Adverse Events"
    labels = meta.column_names_to_labels
    assert labels["STUDYID"] == "Study Identifier"
    assert labels["AETERM"] == "Reported Term for the Adverse Event"
    assert labels["AECOMM"] in ("", None)
    formats = {name: sas_format(fmt) for name, fmt in meta.original_variable_types.items() if fmt}
    assert formats["AETERM"] == ("$", 200, 0)
    assert formats["AESEQ"] == ("", 8, 0)
    assert formats["AEDOSE"] == ("", 8, 2)
    assert formats["AESTDT"] == ("DATE", 9, 0)
    # Declared lengths are kept even when the data is shorter; others come from the data.
    assert meta.variable_storage_width == {
        "STUDYID": 12,
        "AETERM": 200,
        "AECOMM": 1,
        "AESEQ": 8,
        "AEDOSE": 8,
        "AEVAL": 8,
        "AESTDT": 8,
        "AENONE": 8,
        "AEFLAG": 8,
        "AESEV": 8,
    }


def test_read_xpt_returns_metadata_in_writer_terms(tmp_path: Path, demo: pd.DataFrame) -> None:
    out = write_xpt(demo, tmp_path / "ae.xpt", dataset="AE", label="AE", variables=DEMO_META)
    frame, meta = read_xpt(out)
    assert frame.shape == demo.shape
    assert meta["dataset"] == "AE"
    assert meta["label"] == "AE"
    assert meta["labels"]["AESEQ"] == "Sequence Number"
    assert meta["labels"]["AEVAL"] == ""
    assert meta["formats"]["AESTDT"] == "DATE9."
    assert meta["formats"]["AEDOSE"] == "8.2"
    assert meta["formats"]["AETERM"] == "$200."
    assert meta["formats"]["AEVAL"] is None
    assert meta["lengths"]["STUDYID"] == 12


def test_numbers_with_up_to_14_significant_digits_round_trip_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    digits = rng.integers(1, 15, 2000)
    mantissas = np.array([rng.integers(1, 10**d) for d in digits], dtype=np.float64)
    values = mantissas * 10.0 ** rng.integers(-30, 30, 2000).astype(float)
    values[::2] *= -1
    values = np.array([float(f"{v:.14g}") for v in values])
    out = write_xpt(pd.DataFrame({"X": values}), tmp_path / "n.xpt", dataset="N")
    frame, _ = read_xpt(out)
    np.testing.assert_array_equal(frame["X"].to_numpy(), values)


def test_columns_keep_data_order_and_metadata_may_cover_some(tmp_path: Path) -> None:
    df = pd.DataFrame({"B": ["x"], "A": [1.0], "C": ["yy"]})
    out = write_xpt(df, tmp_path / "o.xpt", dataset="O", variables=[XptVariable("C", "Cee")])
    frame, meta = read_xpt(out)
    assert list(frame.columns) == ["B", "A", "C"]
    assert meta["labels"] == {"B": "", "A": "", "C": "Cee"}
    assert meta["lengths"] == {"B": 1, "A": 8, "C": 2}


def test_names_sas_accepts_are_accepted(tmp_path: Path) -> None:
    df = pd.DataFrame({"age": [34.0], "_X1": ["a"], "Mixed_8": [1.0]})
    assert xpt_findings(df, dataset="dm") == []
    frame, meta = read_xpt(write_xpt(df, tmp_path / "dm.xpt", dataset="dm"))
    assert list(frame.columns) == ["age", "_X1", "Mixed_8"]
    assert meta["dataset"] == "dm"


def test_short_numbers_keep_the_leading_ibm_bytes(tmp_path: Path) -> None:
    values = np.array([0.0, 1.0, -2.5, 1000000.0, 0.1, np.nan])
    df = pd.DataFrame({"X": values})
    out = write_xpt(df, tmp_path / "s.xpt", dataset="S", variables=[XptVariable("X", length=4)])
    frame, meta = read_xpt(out)
    assert meta["lengths"]["X"] == 4
    back = frame["X"].to_numpy()
    # Numbers needing at most 21 bits (one IBM hex digit may start with 3 zero bits) survive.
    np.testing.assert_array_equal(back[:4], values[:4])
    assert back[4] != 0.1 and abs(back[4] - 0.1) < 0.1 * 16.0**-5
    assert np.isnan(back[5])


def test_chunking_and_background_layout_do_not_change_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    n = 5000
    df = pd.DataFrame(
        {
            "FULL": pd.Series(rng.choice(["AB", "CD"], n), dtype="str"),  # every value full width
            "DENSE": pd.Series(rng.choice(["A", "BB", "CCC", "", None], n), dtype="str"),
            "SPARSE": pd.Series([None] * (n - 1) + ["Z" * 150], dtype="str"),  # mostly padding
            "NUM": rng.normal(size=n),
            "SHORT": rng.integers(0, 1000, n).astype(float),
        }
    )
    meta = [XptVariable("SHORT", length=3)]
    reference = write_xpt(df, tmp_path / "a.xpt", dataset="C", variables=meta).read_bytes()
    monkeypatch.setattr(xpt, "_CHUNK_BYTES", 1000)  # many blocks of a few rows
    monkeypatch.setattr(xpt, "_STRIP_BYTES", 0)  # text laid out block by block
    chunked = write_xpt(df, tmp_path / "b.xpt", dataset="C", variables=meta).read_bytes()
    assert chunked == reference
    frame, _ = read_xpt(tmp_path / "b.xpt")
    for name in ["FULL", "DENSE", "SPARSE"]:
        assert frame[name].tolist() == df[name].fillna("").tolist(), name
    np.testing.assert_array_equal(frame["NUM"].to_numpy(), df["NUM"].to_numpy())


# --- IBM floating point ---------------------------------------------------------------------

ibm_range = st.floats(
    min_value=16.0**-64, max_value=16.0**62, allow_nan=False, allow_infinity=False
)


@given(st.lists(st.tuples(ibm_range, st.booleans()), min_size=1, max_size=50))
def test_ibm_conversion_within_ibm_precision(pairs: list[tuple[float, bool]]) -> None:
    values = np.array([-v if negative else v for v, negative in pairs])
    words = xpt._ieee_to_ibm(values)
    for value, word in zip(values, words, strict=True):
        back = ibm_to_float(int(word))
        assert abs(back - value) <= abs(value) * IBM_PRECISION
        assert back == value  # a 53-bit mantissa fits the 56-bit fraction: exact


@given(st.lists(st.integers(min_value=-(2**53), max_value=2**53), min_size=1, max_size=50))
def test_integers_up_to_2_pow_53_are_exact(ints: list[int]) -> None:
    words = xpt._ieee_to_ibm(np.array(ints, dtype=np.float64))
    assert [ibm_to_float(int(w)) for w in words] == [float(i) for i in ints]


@settings(max_examples=25, deadline=None)
@given(st.lists(ibm_range | st.just(0.0) | st.integers(-(2**53), 2**53).map(float), min_size=1))
def test_ibm_round_trip_through_pyreadstat(tmp_path_factory: pytest.TempPathFactory, values):
    path = tmp_path_factory.mktemp("ibm") / "h.xpt"
    array = np.array(values, dtype=np.float64)
    frame, _ = read_xpt(write_xpt(pd.DataFrame({"X": array}), path, dataset="H"))
    np.testing.assert_array_equal(frame["X"].to_numpy(), array)


def test_ibm_special_values() -> None:
    words = xpt._ieee_to_ibm(np.array([0.0, -0.0, np.nan, 1.0, -1.0, 16.0**-66, 5e-324, 0.5]))
    assert [f"{int(w):016x}" for w in words] == [
        "0000000000000000",
        "0000000000000000",
        "2e00000000000000",
        "4110000000000000",
        "c110000000000000",
        "0000000000000000",  # below 16**-65: underflow to 0
        "0000000000000000",
        "4080000000000000",
    ]
    smallest = xpt._ieee_to_ibm(np.array([16.0**-65]))[0]
    assert f"{int(smallest):016x}" == "0010000000000000"
    with pytest.raises(ValueError):
        xpt._ieee_to_ibm(np.array([16.0**63]))
    with pytest.raises(ValueError):
        xpt._ieee_to_ibm(np.array([-np.inf]))


# --- layout and determinism -----------------------------------------------------------------


def test_file_layout_follows_ts140(tmp_path: Path) -> None:
    df = pd.DataFrame({"USUBJID": ["S-1", "S-22"], "AGE": [34.0, np.nan]})
    meta = [XptVariable("USUBJID", "Unique Subject Identifier", length=10, format="$10.")]
    out = write_xpt(df, tmp_path / "dm.xpt", dataset="DM", label="Demographics", variables=meta)
    recs = records(out)
    assert recs[0] == b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
    assert recs[1] == b"SAS     SAS     SASLIB  9.4     Python  " + b" " * 24 + b"01JAN60:00:00:00"
    assert recs[2] == b"01JAN60:00:00:00" + b" " * 64
    assert recs[3] == (
        b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!000000000000000001600000000140  "
    )
    assert recs[4] == b"HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
    assert recs[5] == b"SAS     DM      SASDATA 9.4     Python  " + b" " * 24 + b"01JAN60:00:00:00"
    assert recs[6] == b"01JAN60:00:00:00" + b" " * 16 + b"Demographics".ljust(40) + b" " * 8
    assert (
        recs[7] == b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!0000000002" + b"0" * 20 + b"  "
    )
    namestrs = b"".join(recs[8:12])  # 2 x 140 bytes padded to 320
    assert namestrs[280:] == b" " * 40
    fields = [struct.unpack(">hhhh8s40s8shhh2s8shhi52s", namestrs[i : i + 140]) for i in (0, 140)]
    ntype, nhfun, nlng, nvar0, nname, nlabel, nform, nfl, nfd, nfj, _, nifrm, _, _, npos, rest = (
        fields[0]
    )
    assert (ntype, nhfun, nlng, nvar0, npos) == (2, 0, 10, 1, 0)
    assert nname == b"USUBJID " and nlabel == b"Unique Subject Identifier".ljust(40)
    assert (nform, nfl, nfd, nfj) == (b"$       ", 10, 0, 0)
    assert nifrm == b" " * 8 and rest == b"\0" * 52
    assert fields[1][:4] == (1, 0, 8, 2) and fields[1][4] == b"AGE     "
    assert fields[1][9] == 1  # nfj: numbers are right-justified
    assert fields[1][14] == 10  # npos: AGE follows the 10 bytes of USUBJID
    assert recs[12] == b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
    obs = b"".join(recs[13:])
    assert obs[:18] == b"S-1       " + bytes.fromhex("4222000000000000")
    assert obs[18:36] == b"S-22      " + b"." + b"\0" * 7
    assert obs[36:] == b" " * (80 - 36)
    assert len(recs) == 14


def test_same_inputs_same_bytes(tmp_path: Path, demo: pd.DataFrame) -> None:
    first = write_xpt(demo, tmp_path / "a.xpt", dataset="AE", variables=DEMO_META).read_bytes()
    second = write_xpt(demo, tmp_path / "b.xpt", dataset="AE", variables=DEMO_META).read_bytes()
    assert first == second
    assert b"01JAN60:00:00:00" in first


def test_created_changes_only_the_header_datetimes(tmp_path: Path, demo: pd.DataFrame) -> None:
    base = write_xpt(demo, tmp_path / "a.xpt", dataset="AE").read_bytes()
    when = datetime(2024, 3, 5, 14, 7, 9)
    later = write_xpt(demo, tmp_path / "b.xpt", dataset="AE", created=when).read_bytes()
    assert len(base) == len(later)
    changed = [i for i in range(len(base)) if base[i] != later[i]]
    assert changed
    assert max(changed) < HEADER_RECORDS * RECORD
    # Only the 16-byte datetime fields: created and modified of library and member.
    stamps = [RECORD * 1 + 64, RECORD * 2, RECORD * 5 + 64, RECORD * 6]
    windows = {i for s in stamps for i in range(s, s + 16)}
    assert set(changed) <= windows
    assert all(any(s <= i < s + 16 for i in changed) for s in stamps)
    assert later.count(b"05MAR24:14:07:09") == 4
    assert b"01JAN60" not in later


def test_blank_trailing_observations_are_padded_with_spaces(tmp_path: Path) -> None:
    # TS-140: a blank last observation looks like padding; the file is still only padded.
    df = pd.DataFrame({"FLAG": pd.Series(["Y", None, None], dtype="str")})
    recs = records(write_xpt(df, tmp_path / "f.xpt", dataset="F"))
    assert recs[-2].startswith(b"HEADER RECORD*******OBS")
    assert recs[-1] == b"Y" + b" " * 79


# --- empty datasets -------------------------------------------------------------------------


def test_zero_rows_is_a_valid_dataset(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {"USUBJID": pd.Series([], dtype="str"), "AGE": pd.Series([], dtype="float64")}
    )
    assert xpt_findings(df, dataset="DM") == []
    out = write_xpt(df, tmp_path / "dm.xpt", dataset="DM", variables=[XptVariable("AGE", "Age")])
    recs = records(out)
    assert recs[-1].startswith(b"HEADER RECORD*******OBS")  # nothing after the OBS header
    frame, meta = read_xpt(out)
    assert len(frame) == 0
    assert list(frame.columns) == ["USUBJID", "AGE"]
    assert meta["lengths"] == {"USUBJID": 1, "AGE": 8}
    assert meta["labels"]["AGE"] == "Age"


def test_zero_columns_is_an_error(tmp_path: Path) -> None:
    df = pd.DataFrame(index=range(3))
    [finding] = xpt_findings(df, dataset="EMPTY")
    assert (finding.code, finding.dataset, finding.severity) == (
        "xpt-no-variables",
        "EMPTY",
        "error",
    )
    with pytest.raises(XptError, match="xpt-no-variables: EMPTY"):
        write_xpt(df, tmp_path / "e.xpt", dataset="EMPTY")
    assert list(tmp_path.iterdir()) == []


# --- findings -------------------------------------------------------------------------------


def test_dataset_name_too_long_and_bad_characters(tmp_path: Path) -> None:
    df = pd.DataFrame({"A": [1.0]})
    [long] = xpt_findings(df, dataset="ADVERSEEV")
    assert long.code == "xpt-dataset-name" and long.dataset == "ADVERSEEV"
    assert "9 characters" in long.message
    with pytest.raises(XptError, match=r"^error xpt-dataset-name: ADVERSEEV: dataset name"):
        write_xpt(df, tmp_path / "ae.xpt", dataset="ADVERSEEV")
    for bad in ["1AE", "A_E", "AE-X", "AÉ", ""]:
        codes = [f.code for f in xpt_findings(df, dataset=bad)]
        assert codes == ["xpt-dataset-name"], bad


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AETERMLONG", "10 characters"),
        ("AE TERM", "must start with a letter or underscore"),
        ("1AE", "must start with a letter or underscore"),
        ("AE-X", "must start with a letter or underscore"),
        ("ÄE", "must start with a letter or underscore"),
    ],
)
def test_variable_name_findings(tmp_path: Path, name: str, expected: str) -> None:
    df = pd.DataFrame({name: ["x"]})
    [finding] = xpt_findings(df, dataset="AE")
    assert (finding.code, finding.dataset, finding.variable) == ("xpt-variable-name", "AE", name)
    assert expected in finding.message
    with pytest.raises(XptError) as info:
        write_xpt(df, tmp_path / "ae.xpt", dataset="AE")
    assert f"xpt-variable-name: AE.{name}:" in str(info.value)
    assert not (tmp_path / "ae.xpt").exists()


def test_label_too_long_and_not_ascii(tmp_path: Path) -> None:
    df = pd.DataFrame({"AETERM": ["x"], "AEDECOD": ["y"]})
    meta = [XptVariable("AETERM", "L" * 41), XptVariable("AEDECOD", "Dictionary-Derived Term é")]
    found = findings_by_code(xpt_findings(df, dataset="AE", label="Adverse Évents", variables=meta))
    [long] = found["xpt-label-too-long"]
    assert (long.dataset, long.variable, long.value) == ("AE", "AETERM", "L" * 41)
    assert "41 bytes" in long.message
    dataset_label, variable_label = found["xpt-label-not-ascii"]
    assert (dataset_label.variable, dataset_label.value) == (None, "Adverse Évents")
    assert (variable_label.variable, variable_label.value) == (
        "AEDECOD",
        "Dictionary-Derived Term é",
    )
    assert "'É' (U+00C9)" in dataset_label.message
    # 40 bytes of ASCII is fine; 21 two-byte characters are 42 bytes, though only 21 characters.
    ok = [XptVariable("AETERM", "L" * 40), XptVariable("AEDECOD", "é" * 21)]
    codes = [f.code for f in xpt_findings(df, dataset="AE", variables=ok)]
    assert codes == ["xpt-label-too-long", "xpt-label-not-ascii"]
    with pytest.raises(XptError, match=r"xpt-label-too-long: AE\.AETERM: label 'LLL"):
        write_xpt(df, tmp_path / "ae.xpt", dataset="AE", variables=meta)


def test_value_bytes_not_characters_are_counted(tmp_path: Path) -> None:
    wide = "é" * 150  # 150 characters, 300 bytes
    df = pd.DataFrame({"AETERM": ["HEADACHE", wide, "A" * 200]})
    found = findings_by_code(xpt_findings(df, dataset="AE"))
    [long] = found["xpt-value-too-long"]
    assert (long.dataset, long.variable, long.record, long.value) == ("AE", "AETERM", 2, wide)
    assert "is 300 bytes, XPT v5 allows 200" in long.message
    [not_ascii] = found["xpt-value-not-ascii"]
    assert (not_ascii.record, not_ascii.value) == (2, wide)
    with pytest.raises(XptError) as info:
        write_xpt(df, tmp_path / "ae.xpt", dataset="AE")
    message = str(info.value)
    assert message.startswith("error xpt-value-too-long: AE.AETERM record 2: value 'ééé")
    # every problem listed in the one line, none summarised as "(and 1 more problem)"
    assert "is 300 bytes, XPT v5 allows 200; error xpt-value-not-ascii: AE.AETERM record 2:" in (
        message
    )
    assert "more problem" not in message
    assert "\n" not in message
    assert [f.code for f in info.value.findings] == ["xpt-value-too-long", "xpt-value-not-ascii"]
    assert not (tmp_path / "ae.xpt").exists()


def test_non_ascii_value(tmp_path: Path) -> None:
    df = pd.DataFrame({"AETERM": ["HEADACHE", None, "NAUSÉE"]})
    [finding] = xpt_findings(df, dataset="AE")
    assert finding.code == "xpt-value-not-ascii"
    assert (finding.variable, finding.record, finding.value) == ("AETERM", 3, "NAUSÉE")
    assert "non-ASCII character 'É' (U+00C9)" in finding.message
    with pytest.raises(XptError, match=r"AE\.AETERM record 3: value 'NAUSÉE'"):
        write_xpt(df, tmp_path / "ae.xpt", dataset="AE")


def test_value_longer_than_declared_length(tmp_path: Path) -> None:
    df = pd.DataFrame({"AESEV": ["MILD", "MODERATE", None, "SEVERE"]})
    meta = [XptVariable("AESEV", length=6)]
    found = xpt_findings(df, dataset="AE", variables=meta)
    assert [(f.code, f.variable, f.record, f.value) for f in found] == [
        ("xpt-length-exceeded", "AESEV", 2, "MODERATE")
    ]
    assert "8 bytes, longer than the declared length 6" in found[0].message
    with pytest.raises(XptError, match=r"AE\.AESEV record 2: value 'MODERATE' is 8 bytes"):
        write_xpt(df, tmp_path / "ae.xpt", dataset="AE", variables=meta)
    meta = [XptVariable("AESEV", length=8)]
    assert xpt_findings(df, dataset="AE", variables=meta) == []


def test_num_declared_but_strings_present(tmp_path: Path) -> None:
    df = pd.DataFrame({"AESEQ": ["1", None, "two"]})
    meta = [XptVariable("AESEQ", type="Num")]
    found = xpt_findings(df, dataset="AE", variables=meta)
    assert [(f.code, f.variable, f.record, f.value) for f in found] == [
        ("xpt-type-mismatch", "AESEQ", 1, "1"),
        ("xpt-type-mismatch", "AESEQ", 3, "two"),
    ]
    with pytest.raises(XptError, match=r"AE\.AESEQ record 1: value '1' is not a number"):
        write_xpt(df, tmp_path / "ae.xpt", dataset="AE", variables=meta)
    # Numbers held in an object column are fine as Num.
    numbers = pd.DataFrame({"AESEQ": pd.Series([1, None, 2.5], dtype=object)})
    out = write_xpt(numbers, tmp_path / "n.xpt", dataset="AE", variables=meta)
    np.testing.assert_array_equal(read_xpt(out)[0]["AESEQ"], [1.0, np.nan, 2.5])


def test_char_declared_but_numbers_or_objects_present() -> None:
    df = pd.DataFrame({"AESEQ": [1.0, np.nan], "AEOBJ": pd.Series(["a", 3], dtype=object)})
    found = xpt_findings(df, dataset="AE", variables=[XptVariable("AESEQ", type="Char")])
    assert [(f.code, f.variable, f.record, f.value) for f in found] == [
        ("xpt-type-mismatch", "AESEQ", 1, "1.0"),
        ("xpt-type-mismatch", "AEOBJ", 2, "3"),
    ]
    # An all-missing numeric column can be written as Char.
    empty = pd.DataFrame({"AECOMM": [np.nan, np.nan]})
    assert xpt_findings(empty, dataset="AE", variables=[XptVariable("AECOMM", type="Char")]) == []


def test_datetime_columns_must_be_converted_first() -> None:
    df = pd.DataFrame({"AESTDTC": pd.to_datetime(["2024-01-02", "2024-01-03"])})
    [finding] = xpt_findings(df, dataset="AE")
    assert (finding.code, finding.variable, finding.record) == (
        "xpt-type-mismatch",
        "AESTDTC",
        None,
    )
    assert "ISO 8601" in finding.message


def test_numbers_out_of_range_and_inexact_integers() -> None:
    df = pd.DataFrame(
        {
            "BIG": [1.0, 1e80, -np.inf, 7.2e75],
            "INT": pd.Series([2**53, 2**53 + 1, -(2**60) - 1, 2**62], dtype="int64"),
        }
    )
    found = xpt_findings(df, dataset="LB")
    assert [(f.code, f.variable, f.record, f.value) for f in found] == [
        ("xpt-number-out-of-range", "BIG", 2, "1e+80"),
        ("xpt-number-out-of-range", "BIG", 3, "-inf"),
        ("xpt-number-not-exact", "INT", 2, str(2**53 + 1)),
        ("xpt-number-not-exact", "INT", 3, str(-(2**60) - 1)),
    ]


def test_metadata_problems() -> None:
    df = pd.DataFrame({"AETERM": ["x"], "AESEQ": [1.0], "AEDUR": [2.0]})
    meta = [
        XptVariable("AETERM", length=201),
        XptVariable("AESEQ", length=2, format="$8."),
        XptVariable("AEDUR", type="Date"),  # type: ignore[arg-type]
        XptVariable("AEGONE"),
        XptVariable("AETERM"),
    ]
    found = xpt_findings(df, dataset="AE", variables=meta)
    assert sorted((f.code, f.variable) for f in found) == [
        ("xpt-format-invalid", "AESEQ"),
        ("xpt-length-invalid", "AESEQ"),
        ("xpt-length-invalid", "AETERM"),
        ("xpt-type-invalid", "AEDUR"),
        ("xpt-variable-duplicate", "AETERM"),
        ("xpt-variable-not-in-data", "AEGONE"),
    ]


@pytest.mark.parametrize(
    ("fmt", "kind", "ok"),
    [
        ("DATE9.", "Num", True),
        ("8.2", "Num", True),
        ("BEST12.", "Num", True),
        ("E8601DA.", "Num", True),
        ("$20.", "Char", True),
        ("$CHAR20.", "Char", True),
        ("DATE9", "Num", False),  # no period
        ("$20.", "Num", False),
        ("DATE9.", "Char", False),
        ("$20.2", "Char", False),
        ("LONGFORMAT9.", "Num", False),  # name over 8 characters
        ("9DATE.", "Num", False),
        (".", "Num", False),
    ],
)
def test_format_checks(fmt: str, kind: str, ok: bool) -> None:
    df = pd.DataFrame({"X": ["a"] if kind == "Char" else [1.0]})
    found = xpt_findings(df, dataset="F", variables=[XptVariable("X", format=fmt)])
    assert [f.code for f in found] == ([] if ok else ["xpt-format-invalid"])
    if not ok:
        assert (found[0].variable, found[0].value) == ("X", fmt)


def test_duplicate_names_ignore_case() -> None:
    df = pd.DataFrame([[1.0, 2.0]], columns=["AGE", "age"])
    [finding] = xpt_findings(df, dataset="DM")
    assert (finding.code, finding.variable) == ("xpt-variable-duplicate", "age")


def test_too_many_variables() -> None:
    df = pd.DataFrame(np.zeros((1, 10000)), columns=[f"V{i}" for i in range(10000)])
    codes = [f.code for f in xpt_findings(df, dataset="W")]
    assert codes == ["xpt-too-many-variables"]


def test_value_findings_are_capped_per_variable_and_code(tmp_path: Path) -> None:
    df = pd.DataFrame({"AETERM": [f"TERM {i} é" for i in range(25)], "X": ["ok"] * 25})
    found = xpt_findings(df, dataset="AE")
    assert len(found) == xpt.MAX_VALUE_FINDINGS + 1
    assert [f.record for f in found[:-1]] == list(range(1, 21))
    assert found[-1].record is None and "5 more rows" in found[-1].message
    with pytest.raises(XptError) as info:
        write_xpt(df, tmp_path / "ae.xpt", dataset="AE")
    message = str(info.value)
    assert [f"AE.AETERM record {n}:" in message for n in range(1, 21)] == [True] * 20
    assert message.endswith("5 more rows with this problem (first 20 listed)")
    assert "more problem" not in message


def test_format_comparison_ignores_only_the_spelling_of_the_period() -> None:
    # pyreadstat 1.3.7 reports "DATE9", 1.3.8 "DATE9.": both are SAS's DATE9. format.
    assert sas_format("DATE9.") == sas_format("DATE9") == ("DATE", 9, 0)
    assert sas_format("$200") == sas_format("$200.") == ("$", 200, 0)
    assert sas_format("8.2") == ("", 8, 2)
    assert sas_format("$200.") != sas_format("$20.")
    assert sas_format("DATE9.") != sas_format("DATETIME9.")
    for text in ["", ".", "9DATE", "DATE9.x"]:
        with pytest.raises(ValueError, match="not a SAS format"):
            sas_format(text)
