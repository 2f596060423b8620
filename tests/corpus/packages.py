"""Hostile packages for ``trialflow validate``, each a small mutation of the base run's SDTM."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trialflow.io.xpt import read_xpt


@dataclass
class Package:
    """A package to validate and what a user should get from it."""

    id: str
    make: Callable[[Path, Path], Path]  # (the base run's sdtm folder, a work folder) -> path
    exits: frozenset[int]
    says: str | None = None  # a regular expression the output (or report) must match


def _copy(sdtm: Path, folder: Path, drop: tuple[str, ...] = ()) -> Path:
    target = folder / "sdtm"
    target.mkdir()
    for path in sorted(sdtm.glob("*.xpt")):
        if path.name not in drop:
            shutil.copy(path, target / path.name)
    return target


def _clean(sdtm: Path, folder: Path) -> Path:
    return _copy(sdtm, folder)


def _truncated_xpt(sdtm: Path, folder: Path) -> Path:
    target = _copy(sdtm, folder)
    data = (target / "dm.xpt").read_bytes()
    (target / "dm.xpt").write_bytes(data[: len(data) // 2 + 7])
    return target


def _corrupt_namestr(sdtm: Path, folder: Path) -> Path:
    """dm.xpt whose first variable descriptor (namestr) has type 9 and length 0."""
    target = _copy(sdtm, folder)
    data = bytearray((target / "dm.xpt").read_bytes())
    start = data.index(b"NAMESTR HEADER RECORD") - 20 + 80  # the record after the header
    data[start : start + 2] = (9).to_bytes(2, "big")  # ntype: 1 numeric, 2 character only
    data[start + 4 : start + 6] = (0).to_bytes(2, "big")  # nlng 0
    (target / "dm.xpt").write_bytes(bytes(data))
    return target


def _json_overflow(sdtm: Path, folder: Path) -> Path:
    """dm.json (Dataset-JSON) whose AGE in the first row is 10**30."""
    target = folder / "sdtm"
    target.mkdir()
    document = json.loads((sdtm / "dm.json").read_text(encoding="utf-8"))
    names = [column["name"] for column in document["columns"]]
    document["rows"][0][names.index("AGE")] = 10**30
    (target / "dm.json").write_text(json.dumps(document), encoding="utf-8")
    return target


def _parquet_year_1(sdtm: Path, folder: Path) -> Path:
    """dm.parquet whose BRTHDTC, RFICDTC and RFSTDTC are date32 columns holding year 1."""
    target = _copy(sdtm, folder, drop=("dm.xpt",))
    frame = read_xpt(sdtm / "dm.xpt")[0]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    dates = pa.array([dt.date(1, 1, 1)] + [dt.date(1970, 1, 1)] * (len(frame) - 1), pa.date32())
    for name in ("BRTHDTC", "RFICDTC", "RFSTDTC"):
        table = table.set_column(table.schema.get_field_index(name), name, dates)
    pq.write_table(table, target / "dm.parquet")
    return target


def _csv_nul(sdtm: Path, folder: Path) -> Path:
    """dm.csv with a NUL byte and an escape character in COUNTRY."""
    target = _copy(sdtm, folder, drop=("dm.xpt",))
    frame = read_xpt(sdtm / "dm.xpt")[0]
    frame.loc[0, "COUNTRY"] = "CHN\x00"
    frame.loc[1, "COUNTRY"] = "CHN\x1b"
    frame.to_csv(target / "dm.csv", index=False)
    return target


def _xpt_control(sdtm: Path, folder: Path) -> Path:
    """ae.xpt whose AETERM holds a line feed and a tab, written byte for byte."""
    target = _copy(sdtm, folder)
    data = bytearray((target / "ae.xpt").read_bytes())
    at = data.index(b"fever after")
    data[at + 5 : at + 6] = b"\n"
    data[at + 11 : at + 12] = b"\t"
    (target / "ae.xpt").write_bytes(bytes(data))
    return target


PACKAGES: list[Package] = [
    Package("validate-clean", _clean, frozenset({0})),
    Package(
        "validate-truncated-xpt", _truncated_xpt, frozenset({1, 2}), says=r"dm\.xpt[^\n]*truncated"
    ),
    Package(
        "validate-corrupt-namestr",
        _corrupt_namestr,
        frozenset({1, 2}),
        says=r"(?i)dm\.xpt[^\n]*(namestr|variable descriptor)",
    ),
    Package(
        "validate-json-integer-overflow",
        _json_overflow,
        frozenset({1, 2}),
        says=r"(?i)AGE.*(row|record) 1|(row|record) 1.*AGE",
    ),
    Package("validate-parquet-year-1", _parquet_year_1, frozenset({0, 1})),
    Package("validate-csv-nul", _csv_nul, frozenset({1}), says=r"(?i)control|NUL|\\x00|\\x1b"),
    Package(
        "validate-xpt-control-chars",
        _xpt_control,
        frozenset({1}),
        says=r"(?i)control|line feed|line break|tab|\\n|\\t",
    ),
]
