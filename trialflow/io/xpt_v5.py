"""SAS XPORT v5 files (the FDA's format) parsed with numpy and pyarrow alone, without pandas.

:func:`read_package <trialflow.io.package.read_package>` reads a v5 file through here and
turns the columns into a frame; :class:`~trialflow.io.prefetch.XptPrefetch` parses the files
of ``trialflow validate`` here in a child process while the command is still importing pandas,
which is why nothing here may import pandas (pyarrow's ``pa.array`` and ``pa.scalar`` import
it, so the arrays are built from their buffers).

The parse gives what pyreadstat (ReadStat) gives, value for value and bit for bit: the IBM to
IEEE conversion truncates as ReadStat's does, text is UTF-8 with the blanks SAS pads it with
taken off, and a blank value is missing. It steps aside (None) for anything it does not
handle the same way, and the caller then asks pyreadstat: v8, text that is not UTF-8, NUL
bytes in text, unnormalised IBM numbers (SAS never writes them), or a last record of only
spaces (padding or a blank record).

Example:
    >>> import pathlib, tempfile
    >>> import pandas as pd
    >>> from trialflow.io.xpt import XptVariable, write_xpt
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "dm.xpt"
    >>> variables = [XptVariable("USUBJID", "", "Char", 72), XptVariable("AGE", "", "Num", 8)]
    >>> _ = write_xpt(pd.DataFrame({"USUBJID": ["S-1", ""], "AGE": [34.0, None]}), out,
    ...               dataset="DM", variables=variables)  # 80-byte records: no padding
    >>> data = out.read_bytes()
    >>> parsed = parse_xpt_v5(data, xpt_v5_header(data))
    >>> parsed.header.names, parsed.rows, parsed.columns[0].to_pylist(), parsed.columns[1]
    (['USUBJID', 'AGE'], 2, ['S-1', None], array([34., nan]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["XptV5Data", "XptV5Header", "parse_xpt_v5", "xpt_v5_header"]

RECORD = 80
"""Bytes of one header record; the observations are padded to a whole number of them."""

NAMESTR = np.dtype(
    [
        ("ntype", ">i2"), ("nhfun", ">i2"), ("nlng", ">i2"), ("nvar0", ">i2"),
        ("nname", "S8"), ("nlabel", "S40"), ("nform", "S8"), ("nfl", ">i2"), ("nfd", ">i2"),
        ("nfj", ">i2"), ("nfill", "S2"), ("niform", "S8"), ("nifl", ">i2"), ("nifd", ">i2"),
        ("npos", ">i4"), ("rest", "V52"),
    ]
)  # fmt: skip
"""One 140-byte NAMESTR record (a variable) of a v5 file."""

LIBRARY = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
MEMBER = b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!"
NAMESTR_HEADER = b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!"
OBS = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"


@dataclass(frozen=True)
class XptV5Header:
    """The headers of a v5 file: its member, its variables and where the observations start.

    Example:
        >>> h = XptV5Header("DM", "Demographics", ["AGE"], ["Age"], [1], [8], [0], 960, 8)
        >>> h.width, h.text_lengths
        (8, {})
    """

    member: str
    label: str
    names: list[str]
    labels: list[str]
    types: list[int]
    """1 numeric, 2 character (NAMESTR ``ntype``)."""
    lengths: list[int]
    positions: list[int]
    start: int
    """Where the observations start: just after the OBS header record."""
    width: int
    """Bytes of one observation (the sum of the variables' lengths)."""

    @property
    def text_lengths(self) -> dict[str, int]:
        """Each character variable's length in bytes, by name.

        Example:
            >>> XptV5Header("X", "", ["C", "N"], ["", ""], [2, 1], [20, 8], [0, 20], 0, 28
            ...             ).text_lengths
            {'C': 20}
        """
        pairs = zip(self.names, self.types, self.lengths, strict=True)
        return {name: length for name, kind, length in pairs if kind == 2}


@dataclass(frozen=True)
class XptV5Data:
    """A v5 file parsed: its headers and one array per variable, in the file's order.

    A numeric column is a float64 numpy array (NaN for every SAS missing value); a character
    column is a pyarrow string array, null where the value is blank. ``factors`` holds, for
    each character column, the values the text was decoded from: each record's code (an int64
    numpy array, -1 where blank) and the distinct non-blank values in order of first
    appearance (a pyarrow string array), as a factorisation gives them; None for a numeric
    column.

    Example:
        >>> h = XptV5Header("X", "", ["N"], [""], [1], [8], [0], 0, 8)
        >>> XptV5Data(h, 1, [np.array([1.5])], [None]).rows
        1
    """

    header: XptV5Header
    rows: int
    columns: list[Any]
    factors: list[Any]


def xpt_v5_header(data: Any) -> XptV5Header | None:
    """The headers of a v5 file whose bytes (or a map of them) are ``data``; None when the
    file is not a v5 file this module reads (the general reader then reads it).

    Example:
        >>> xpt_v5_header(b"not a transport file") is None
        True
    """
    member = data.find(MEMBER)
    if data[: len(LIBRARY)] != LIBRARY or member < 0 or data[member + 74 : member + 78] != b"0140":
        return None
    names_at = member + 4 * RECORD
    if data[names_at : names_at + len(NAMESTR_HEADER)] != NAMESTR_HEADER:
        return None
    count_text = data[names_at + 54 : names_at + 58]
    if not count_text.isdigit():
        return None
    count = int(count_text)
    end = names_at + RECORD + count * NAMESTR.itemsize
    end += -end % RECORD
    if data[end : end + len(OBS)] != OBS or len(data) < end + RECORD:
        return None
    namestr = np.frombuffer(data, dtype=NAMESTR, count=count, offset=names_at + RECORD)
    try:
        names = [n.decode("utf-8").rstrip(" ") for n in namestr["nname"]]
        labels = [n.decode("utf-8").rstrip(" ") for n in namestr["nlabel"]]
        label = bytes(data[member + 272 : member + 312]).decode("utf-8").rstrip(" ")
        stored = bytes(data[member + 168 : member + 176]).decode("utf-8").rstrip(" ")
    except UnicodeDecodeError:
        return None
    types = namestr["ntype"].astype(int).tolist()
    lengths = namestr["nlng"].astype(int).tolist()
    positions = namestr["npos"].astype(int).tolist()
    del namestr  # a view of ``data``: a map of the file can then be closed
    width = sum(lengths)
    if (
        width <= 0
        or len(set(names)) != len(names)
        or any(t not in (1, 2) for t in types)
        or any(n <= 0 for n in lengths)
        or any(t == 1 and not 2 <= n <= 8 for t, n in zip(types, lengths, strict=True))
        or any(p + n > width for p, n in zip(positions, lengths, strict=True))
    ):
        return None
    return XptV5Header(stored, label, names, labels, types, lengths, positions, end + RECORD, width)


def parse_xpt_v5(data: Any, header: XptV5Header | None) -> XptV5Data | None:
    """Every observation of the v5 file whose bytes (or a map of them) are ``data`` and whose
    headers are ``header`` (:func:`xpt_v5_header`), or None when the general reader must
    read it. Nothing returned refers to ``data``.

    Example:
        >>> parse_xpt_v5(b"", None) is None
        True
    """
    if header is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    width = header.width
    body = np.frombuffer(data, dtype=np.uint8, offset=header.start)
    rows = len(body) // width
    records = body[: rows * width].reshape(rows, width)
    if rows and (records[-1] == 0x20).all():
        return None
    columns: list[Any] = []
    factors: list[Any] = []
    spec = zip(header.types, header.lengths, header.positions, strict=True)
    for kind, length, at in spec:
        block = records[:, at : at + length]
        columns.append(None)
        factors.append(None)
        if kind == 1:
            raw = np.zeros((rows, 8), dtype=np.uint8)
            raw[:, :length] = block
            # The mantissa as one integer per value (whole-word operations; a byte-wise test
            # on the (rows, 8) array costs several times more): zero, or normalised (its
            # leading hex digit, raw[:, 1] >> 4, is not 0).
            mantissa = raw.view(">u8").reshape(-1) & np.uint64((1 << 56) - 1)
            zero = mantissa == 0
            if ((mantissa >> np.uint64(52)) == 0)[~zero].any():
                return None
            values = _ibm_to_ieee(raw)
            values[zero & (raw[:, 0] != 0)] = np.nan  # . ._ .A-.Z (and any other flag byte)
            columns[-1] = values
            continue
        text_bytes = np.ascontiguousarray(block)
        if (text_bytes == 0).any():  # on the copy: the strided block is 20 times slower to scan
            return None
        offsets = np.arange(0, (rows + 1) * length, length, dtype=np.int32)
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(text_bytes)]
        encoded = pc.dictionary_encode(pa.Array.from_buffers(pa.binary(), rows, buffers))
        # Each distinct stored value is decoded once: UTF-8 checked, its padding taken off,
        # and missing when nothing is left; the records take their value from it.
        try:
            distinct = pc.cast(encoded.dictionary, pa.string())
        except pa.ArrowInvalid:
            return None
        distinct = pc.utf8_rtrim(distinct, characters=" ")
        filled = _int32s(pc.binary_length(distinct)) > 0
        # large_string: the type pandas keeps its str columns in (else it converts each one)
        kept = pc.cast(distinct.filter(_booleans(pa, filled)), pa.large_string())
        renumber = np.where(filled, np.cumsum(filled) - 1, -1).astype(np.int64)
        codes = renumber[_int32s(encoded.indices)]
        present = codes >= 0
        valid = pa.py_buffer(np.packbits(present, bitorder="little"))
        index = pa.py_buffer(np.where(present, codes, 0))
        columns[-1] = kept.take(pa.Array.from_buffers(pa.int64(), rows, [valid, index]))
        factors[-1] = (codes, kept)
    return XptV5Data(header, rows, columns, factors)


def _int32s(array: Any) -> np.ndarray:
    """The values of a pyarrow int32 array without nulls, not copied (its ``to_numpy``
    imports pandas)."""
    if not len(array):
        return np.zeros(0, dtype=np.int32)
    return np.frombuffer(
        array.buffers()[1], dtype=np.int32, count=len(array), offset=array.offset * 4
    )


def _booleans(pa: Any, mask: np.ndarray) -> Any:
    """A pyarrow boolean array of a numpy mask, from its bits (``pa.array`` imports pandas)."""
    bits = pa.py_buffer(np.packbits(mask, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, bits])


def _ibm_to_ieee(raw: np.ndarray) -> np.ndarray:
    """Normalised IBM 370 doubles ((n, 8) big-endian bytes) as float64, the low bits truncated.

    Example:
        >>> raw = np.frombuffer(bytes([0x41, 0x10, 0, 0, 0, 0, 0, 0, 0xC2, 0x64, 0, 0, 0, 0, 0, 0]),
        ...     dtype=np.uint8).reshape(2, 8)
        >>> _ibm_to_ieee(raw).tolist()
        [1.0, -100.0]
    """
    bits = np.ascontiguousarray(raw).view(">u8").reshape(-1).astype(np.uint64)
    sign = bits & np.uint64(1 << 63)
    exponent = ((bits >> np.uint64(56)) & np.uint64(0x7F)).astype(np.int64)
    mantissa = bits & np.uint64((1 << 56) - 1)
    lead = (mantissa >> np.uint64(52)).astype(np.int64)  # the leading hex digit, 1..15
    top = np.where(lead >= 8, 55, np.where(lead >= 4, 54, np.where(lead >= 2, 53, 52)))
    fraction = (mantissa >> (top - 52).astype(np.uint64)) & np.uint64((1 << 52) - 1)
    biased = (top - 56 + 4 * (exponent - 64) + 1023).astype(np.uint64)
    out = (sign | (biased << np.uint64(52)) | fraction).view(np.float64).copy()
    out[mantissa == 0] = 0.0
    return out
