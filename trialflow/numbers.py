"""Numbers as SAS rounds them: one rounding function, and fixed-decimal text built on it.

Every value trialflow rounds goes through :func:`sas_round`: converted results and --STRESC
in SDTM, AVAL of converted and computed parameters, CHG and PCHG in ADaM, the statistics of the
analysis tables and the numbers written to the analysis CSVs. :func:`format_fixed` writes a
rounded value with a fixed number of decimals (the tables of the report, Table 1).

SAS's ``ROUND(argument, rounding-unit)`` (SAS 9.4 Functions and CALL Routines: ROUND, ROUNDE,
ROUNDZ) rounds half away from zero, and "half" is approximate: a value within a tiny distance
below the half-way point counts as half-way (SAS calls this fuzzing), so that a number written
in decimal rounds as it does in decimal arithmetic even though its binary value is a hair below
the half (1.005 is stored as 1.00499999999999989...; ``ROUND(1.005, 0.01)`` is 1.01). The result
is the multiple formed in decimal: ``ROUND(0.33, 0.1)`` is the same binary number as the
constant 0.3, not ``3 * 0.1``.

Why a hand-written function: Python's ``round``, ``numpy.round``/``numpy.rint`` and pandas'
``Series.round`` round half to even (``round(2.5)`` is 2), and numpy rounds the scaled binary
value: 5.5 ng/mL x 331.1 = 1821.05 scales to exactly 18210.5 and numpy gives 1821.0 where SAS
gives 1821.1. ``decimal.Decimal(...).quantize(ROUND_HALF_UP)`` rounds half up, but it works one
value at a time in Python (slow on data that grows with the study) and rounds the binary value
exactly, without SAS's fuzz: a quartile computed as ``0.75 * 10.1 + 0.25 * 10.4`` is
10.174999999999999 in binary, which Decimal rounds to 10.17 and SAS to 10.18.

The rule, vectorised over numpy arrays and pandas Series:

1. The value is divided by the rounding unit; for a unit of ``10**-d`` it is multiplied by the
   exact power ``10**d`` (``digits=d``).
2. The quotient's absolute value ``a`` is rounded half up with a fuzz: ``floor(a + 0.5 + f)``
   where ``f = 5e-12 + 1e-15 * a``; the sign is restored (``ROUND(-2.5)`` is -3). SAS does
   not publish its fuzz; these constants reproduce its documented examples (``ROUND(2.5 -
   1e-12)`` is 3 and ``ROUND(2.5 - 1e-11)`` is 2) and absorb the binary representation error of
   decimal values with up to 15 significant digits (the relative part, about 4.5 units in the
   last place), without moving any value that is not within that distance of a half.
3. The multiple is formed in decimal: ``n / 10**d`` (correctly rounded, so the result is the
   double nearest to the decimal number and prints as it), ``n / m`` for a unit that is the
   reciprocal of an integer ``m``, ``n * M / 10**k`` for a unit ``M / 10**k`` with at most four
   decimals (0.25, 0.3, 0.1111), and ``n * unit`` for any other unit (SAS documents that such
   results need not agree with decimal arithmetic).

Missing values stay missing; values whose quotient is already a whole number in binary (above
2**52) are returned unchanged.
"""

from __future__ import annotations

import math
from typing import Any, overload

import numpy as np
import pandas as pd

__all__ = ["DECIMAL_PATTERN", "format_fixed", "parse_decimal", "sas_round"]

FUZZ_ABSOLUTE = 5e-12
"""Absolute fuzz on the quotient, in rounding units: ROUND(2.5 - 1e-12) is 3, 2.5 - 1e-11 is 2."""

FUZZ_RELATIVE = 1e-15
"""Relative fuzz on the quotient: about 4.5 units in the last place of a double."""

_WHOLE = 2.0**52  # from here on every double is a whole number
_MAX_EXACT_POWER = 22  # 10**22 is the largest power of ten a double holds exactly


def _as_array(values: Any) -> np.ndarray:
    """``values`` as a float64 array (pandas NA and None as NaN)."""
    if isinstance(values, pd.Series | pd.Index):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype("float64")
    if isinstance(values, float | int | np.floating | np.integer) and not isinstance(values, bool):
        return np.array(float(values))
    if values is None or values is pd.NA:
        return np.array(np.nan)
    shape = np.shape(values)
    flat = pd.array(np.ravel(np.asarray(values, dtype=object)), dtype="Float64")
    return flat.to_numpy(dtype="float64", na_value=np.nan).reshape(shape)


def _round_quotient(q: np.ndarray) -> np.ndarray:
    """Step 2: half away from zero with SAS's fuzz, ``floor(|q| + 0.5 + f)`` with the sign of q.

    The caller keeps quotients of 2**52 and more (already whole) and NaN as they are.
    """
    with np.errstate(invalid="ignore"):
        n = np.floor(np.abs(q) * (1.0 + FUZZ_RELATIVE) + (0.5 + FUZZ_ABSOLUTE))
    return np.copysign(n, q)


_POWERS = np.array([10.0**k for k in range(309)])
"""10**k for k = 0..308 (exact up to 10**22)."""


def _round_scalar(x: float, digits: int) -> float:
    """:func:`_round_digits` for one value in plain Python (the same IEEE operations)."""
    power = float(_POWERS[min(abs(digits), 308)])
    q = x * power if digits >= 0 else x / power
    if not abs(q) < _WHOLE:  # NaN, infinite, or already whole
        return x
    n = math.copysign(float(math.floor(abs(q) * (1.0 + FUZZ_RELATIVE) + (0.5 + FUZZ_ABSOLUTE))), q)
    return (n / power if digits >= 0 else n * power) + 0.0


def _round_digits(x: np.ndarray, digits: float | np.ndarray) -> np.ndarray:
    """Round each value to ``digits`` decimals, one number or one per value (NaN: unchanged)."""
    d = np.asarray(digits, dtype="float64")
    given = ~np.isnan(d)
    if np.any(given & (d != np.floor(d))):
        raise ValueError("digits must be whole numbers")
    # More than 308 places (a rounding unit below the smallest normal double, as the 10th
    # significant digit of a value near 1e-308 asks): the double already holds the value as
    # finely as it can, so it is kept.
    given &= np.abs(np.where(given, d, 0.0)) <= 308
    if d.ndim == 0:
        if not given:
            return x.copy()
        power = _POWERS[abs(int(d))]
        up = bool(d >= 0)
        with np.errstate(over="ignore", invalid="ignore"):
            q = x * power if up else x / power
            n = _round_quotient(q)
            out = n / power if up else n * power
        return np.where(np.abs(q) < _WHOLE, out, x)
    whole = np.where(given, d, 0.0)
    power = _POWERS[np.abs(whole).astype(np.intp)]
    up = whole >= 0
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.where(up, x * power, x / power)
        n = _round_quotient(q)
        out = np.where(up, n / power, n * power)
    return np.where(given & (np.abs(q) < _WHOLE), out, x)


def _round_unit(x: np.ndarray, unit: float) -> np.ndarray:
    """Round to the nearest multiple of a rounding unit, the multiple formed as SAS forms it."""
    if not (isinstance(unit, int | float | np.integer | np.floating) and 0 < unit < math.inf):
        raise ValueError(f"the rounding unit must be a positive number, not {unit!r}")
    u = float(unit)
    k = round(-math.log10(u))
    if abs(k) <= _MAX_EXACT_POWER and abs(u * 10.0**k - 1.0) < 1e-12:
        return _round_digits(x, float(k))
    with np.errstate(over="ignore", invalid="ignore"):
        if u == math.floor(u):
            q = x / u
            out = _round_quotient(q) * u
        elif abs(1.0 / u - round(1.0 / u)) < 1e-9 / u:
            m = float(round(1.0 / u))
            q = x * m
            out = _round_quotient(q) / m
        else:
            for places in range(1, 5):
                scale = 10.0**places
                whole = round(u * scale)
                if abs(u * scale - whole) < 1e-9 * whole:
                    q = x * scale / whole
                    out = _round_quotient(q) * whole / scale
                    break
            else:
                q = x / u
                out = _round_quotient(q) * u
    usable = np.isfinite(q) & (np.abs(q) < _WHOLE)
    return np.where(usable, out, x)


@overload
def sas_round(
    values: pd.Series, digits: Any = ..., *, unit: float | None = ..., significant: int | None = ...
) -> pd.Series: ...
@overload
def sas_round(
    values: float | None, digits: Any = ..., *, unit: float | None = ...,
    significant: int | None = ...,
) -> float: ...  # fmt: skip
@overload
def sas_round(
    values: Any, digits: Any = ..., *, unit: float | None = ..., significant: int | None = ...
) -> np.ndarray: ...
def sas_round(
    values: Any,
    digits: Any = None,
    *,
    unit: float | None = None,
    significant: int | None = None,
) -> pd.Series | np.ndarray | float:
    """Round ``values`` as SAS's ``ROUND`` does: half away from zero, with SAS's fuzz.

    Give at most one of ``digits`` (decimal places, the rounding unit ``10**-digits``; a whole
    number, negative for tens and hundreds, or one per value with NaN for "leave as is"),
    ``unit`` (SAS's rounding-unit, any positive number) or ``significant`` (that many
    significant digits per value). Without any, values are rounded to whole numbers
    (``ROUND(x)``). A Series comes back as a float64 Series with the same index and name, a
    scalar as a float, anything else as a float64 array; missing values stay missing (NaN).

    Example:
        >>> sas_round([2.5, -2.5, 0.5, 1.5]).tolist()
        [3.0, -3.0, 1.0, 2.0]
        >>> sas_round(5.5 * 331.1, 1), sas_round(10.065, 2), sas_round(1.005, 2)
        (1821.1, 10.07, 1.01)
        >>> sas_round(223.456, unit=0.3), sas_round(223.456, unit=100)
        (223.5, 200.0)
        >>> sas_round(pd.Series([-3.8899999999999997, -3.8900000000000006, None]), 2).tolist()
        [-3.89, -3.89, nan]
        >>> sas_round(7.1899999999999995, significant=10)
        7.19
    """
    if (
        isinstance(values, float | int | np.floating | np.integer)
        and isinstance(digits, int | np.integer)
        and unit is None
        and significant is None
        and not isinstance(values, bool)
        and not isinstance(digits, bool)
    ):
        return _round_scalar(float(values), int(digits))  # one number: no array overhead
    chosen = [name for name, v in (("digits", digits), ("unit", unit),
                                   ("significant", significant)) if v is not None]  # fmt: skip
    if len(chosen) > 1:
        raise ValueError(f"give one of digits, unit or significant, not {' and '.join(chosen)}")
    x = _as_array(values)
    if significant is not None:
        if isinstance(significant, bool) or int(significant) != significant or significant < 1:
            raise ValueError(f"significant must be a whole number >= 1, not {significant!r}")
        with np.errstate(divide="ignore", invalid="ignore"):
            exponent = np.floor(np.log10(np.abs(x)))
        places = np.where(np.isfinite(exponent), int(significant) - 1 - exponent, np.nan)
        out = _round_digits(x, places)
    elif unit is not None:
        out = _round_unit(x, unit)
    else:
        places = _as_array(0 if digits is None else digits)
        if places.ndim:
            places = np.broadcast_to(places, x.shape)
        out = _round_digits(x, places)
    out = out + 0.0  # no negative zero: ROUND(-0.4) is 0
    if isinstance(values, pd.Series):
        return pd.Series(out, index=values.index, name=values.name, dtype="float64")
    if np.ndim(values) == 0 and not isinstance(values, np.ndarray):
        return float(out)
    return out


def format_fixed(value: Any, digits: int) -> str:
    """``value`` rounded by :func:`sas_round` and written with exactly ``digits`` decimals.

    Missing or non-numeric values give the empty string; a value that rounds to zero is
    written without a minus sign.

    Example:
        >>> format_fixed(10.065, 2), format_fixed(0.0625, 3), format_fixed(-0.004, 2)
        ('10.07', '0.063', '0.00')
        >>> format_fixed(1821.05, 1), format_fixed(2.0, 0), format_fixed(None, 2)
        ('1821.1', '2', '')
    """
    if isinstance(digits, bool) or int(digits) != digits or digits < 0:
        raise ValueError(f"digits must be a whole number >= 0, not {digits!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(number):
        return "" if math.isnan(number) else str(number)
    return f"{_round_scalar(number, int(digits)):.{int(digits)}f}"


DECIMAL_PATTERN = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
"""A plain decimal number as a result is written: digits with an optional ``.`` decimal point,
sign and exponent (``5``, ``-0.25``, ``.5``, ``1.2e3``); no thousands separator, no comma
decimal, no ``_``, no hexadecimal, no ``nan`` or ``inf``."""

_DECIMAL = rf"\s*{DECIMAL_PATTERN}\s*"


def parse_decimal(values: pd.Series) -> pd.Series:
    """The float of each text that is a plain decimal number; NaN for any other text.

    Only :data:`DECIMAL_PATTERN` counts as a number (surrounding blanks allowed); values that
    Python's ``float`` or pandas would also read (``1_000``, ``nan``, ``inf``, ``Infinity``) and
    numbers beyond the range of a double (``1e999``) are not numbers here.

    Example:
        >>> parse_decimal(pd.Series(["78.5", " 1e3", "78,5", "1_000", "nan", "inf", "<0.1"],
        ...     dtype="str")).tolist()
        [78.5, 1000.0, nan, nan, nan, nan, nan]
    """
    text = values.astype("str")
    # each distinct text is matched and converted once (results repeat a lot; the pattern's
    # \s keeps pandas on Python's re, one call per value)
    codes, uniques = pd.factorize(text)
    if 0 < len(uniques) < len(text):
        parsed = _parse_decimal_text(pd.Series(uniques, dtype="str")).to_numpy()
        taken = np.where(codes >= 0, parsed[np.where(codes >= 0, codes, 0)], np.nan)
        return pd.Series(taken, index=values.index, name=values.name, dtype="float64")
    out = _parse_decimal_text(text)
    out.name = values.name
    return out


def _parse_decimal_text(text: pd.Series) -> pd.Series:
    """:func:`parse_decimal` of text values, each matched on its own."""
    plain = text.str.fullmatch(_DECIMAL).fillna(False).astype(bool)
    numbers = pd.to_numeric(text.where(plain), errors="coerce").astype("float64")
    return numbers.where(np.isfinite(numbers))
