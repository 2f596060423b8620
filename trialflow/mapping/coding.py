"""Dictionary coding: a coding team's file of verbatim terms and their dictionary hierarchy.

Sponsors code adverse events with MedDRA (and medications with WHODrug) under licences
trialflow cannot ship, so a domain spec names the file its coding team delivers
(``coding: {file: ae-coding.csv, verbatim: AETERM}``) and the hierarchy variables are filled
from it. The file has one row per verbatim term and these columns (header case does not
matter; other columns are ignored):

=============  ==========================================  ====================
column         holds                                       fills (AE)
=============  ==========================================  ====================
VERBATIM       the term as reported (matched trimmed,      (the ``verbatim``
               case-insensitively)                         variable, AETERM)
LLT_NAME/CODE  lowest level term                           AELLT, AELLTCD
PT_NAME/CODE   preferred term                              AEDECOD, AEPTCD
HLT_NAME/CODE  high level term                             AEHLT, AEHLTCD
HLGT_NAME/CODE high level group term                       AEHLGT, AEHLGTCD
SOC_NAME/CODE  primary system organ class                  AEBODSYS, AEBDSYCD,
                                                           AESOC, AESOCCD
DICTIONARY     the dictionary's name (MedDRA)              result metadata
VERSION        its version (26.1)                          result metadata
=============  ==========================================  ====================

A file that can't be trusted is refused with the file and row: a row without a value in a
required column, a code that is not a number, two rows coding one verbatim term differently,
one code with two names, a lowest level term under two preferred terms, a preferred term with
two primary paths, or more than one dictionary version in the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from trialflow.errors import RawInputError
from trialflow.raw import ROW, RawSheet

LEVELS: tuple[str, ...] = ("LLT", "PT", "HLT", "HLGT", "SOC")
"""The MedDRA levels a coding file holds, lowest first."""

KEY = "__KEY__"
"""Column of the matching key: the verbatim term trimmed and case-folded."""

TERM_COLUMNS: tuple[str, ...] = tuple(f"{lv}_{part}" for lv in LEVELS for part in ("NAME", "CODE"))
REQUIRED: tuple[str, ...] = ("VERBATIM", *TERM_COLUMNS, "DICTIONARY", "VERSION")
"""The columns a coding file must have."""

_SUFFIXES: dict[str, tuple[str, ...]] = {
    "LLT_NAME": ("LLT",),
    "LLT_CODE": ("LLTCD",),
    "PT_NAME": ("DECOD",),
    "PT_CODE": ("PTCD",),
    "HLT_NAME": ("HLT",),
    "HLT_CODE": ("HLTCD",),
    "HLGT_NAME": ("HLGT",),
    "HLGT_CODE": ("HLGTCD",),
    "SOC_NAME": ("BODSYS", "SOC"),
    "SOC_CODE": ("BDSYCD", "SOCCD"),
}


@dataclass(frozen=True)
class Coding:
    """A checked coding file: its dictionary, version and one row per verbatim term.

    ``table`` has the columns of :data:`TERM_COLUMNS`, :data:`KEY` and :data:`ROW` (the
    first row of the file coding the term); ``sheet`` is the file as read, for messages.
    """

    dictionary: str
    version: str
    table: pd.DataFrame
    sheet: RawSheet

    @property
    def file(self) -> str:
        """The coding file's name, as messages and lineage show it."""
        return self.sheet.file


def coded_variables(domain: str, known: list[str] | None = None) -> dict[str, str]:
    """The variables of ``domain`` a coding file fills, each with the file column it takes.

    ``known`` (the domain's SDTMIG variables) leaves out names the domain does not have.

    Example:
        >>> list(coded_variables("AE"))[:4]
        ['AELLT', 'AELLTCD', 'AEDECOD', 'AEPTCD']
        >>> coded_variables("AE")["AESOCCD"]
        'SOC_CODE'
        >>> coded_variables("MH", ["MHDECOD", "MHBODSYS"])
        {'MHDECOD': 'PT_NAME', 'MHBODSYS': 'SOC_NAME'}
    """
    out = {f"{domain}{s}": col for col, suffixes in _SUFFIXES.items() for s in suffixes}
    return {k: v for k, v in out.items() if known is None or k in known}


def check_coding(sheet: RawSheet) -> Coding:
    """Check a coding file as read (:func:`trialflow.raw.coding.read_coding`) and index it.

    Raises RawInputError naming the file, row and column of the first problem.

    Example:
        >>> frame = pd.DataFrame({
        ...     "VERBATIM": ["Fever", "FEVER "], "DICTIONARY": ["MedDRA"] * 2,
        ...     "VERSION": ["26.1"] * 2,
        ...     **{c: ["90000002" if c.endswith("CODE") else c] * 2 for c in TERM_COLUMNS},
        ...     ROW: [2, 3]})
        >>> coding = check_coding(RawSheet("c.csv", "c", frame, list(frame.columns[:-1]),
        ...                                None, "line"))
        >>> coding.dictionary, coding.version, coding.table[KEY].tolist()
        ('MedDRA', '26.1', ['fever'])
    """
    columns = {str(c).strip().upper(): c for c in sheet.columns}
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RawInputError(
            f"{sheet.where()}: a coding file needs the columns {', '.join(REQUIRED)}; "
            f"add {', '.join(missing)}"
        )
    table = pd.DataFrame({c: sheet.frame[columns[c]] for c in REQUIRED})
    table[ROW] = sheet.frame[ROW].to_numpy()
    for col in REQUIRED:
        empty = table[col].isna()
        if empty.any():
            row = int(table.loc[empty, ROW].iloc[0])
            raise RawInputError(f"{sheet.where(columns[col], row)}: no value (every row needs one)")
    for col in TERM_COLUMNS[1::2]:
        bad = ~table[col].str.fullmatch(r"[0-9]{1,9}")
        if bad.any():
            row, value = int(table.loc[bad, ROW].iloc[0]), table.loc[bad, col].iloc[0]
            raise RawInputError(
                f"{sheet.where(columns[col], row)}: {value!r} is not a dictionary code "
                "(whole number, at most 9 digits)"
            )
    table[KEY] = table["VERBATIM"].str.strip().str.casefold()

    def conflict(key: str, deps: list[str], what: str) -> None:
        sub = table.drop_duplicates([key, *deps])
        dup = sub.duplicated(key, keep="first")
        if not dup.any():
            return
        later = sub.loc[dup].iloc[0]
        first = sub.loc[(sub[key] == later[key]) & ~dup].iloc[0]
        differ = next(c for c in deps if first[c] != later[c])
        raise RawInputError(
            f"{sheet.where(columns[differ], int(later[ROW]))}: {what} {later[key]!r} is "
            f"{later[differ]!r} here but {first[differ]!r} on {sheet.row_word} "
            f"{int(first[ROW])}; fix the coding file"
        )

    conflict("DICTIONARY", ["VERSION"], "dictionary")
    versions = table[["DICTIONARY", "VERSION"]].drop_duplicates()
    if len(versions) > 1:
        later = table.loc[table["DICTIONARY"] != table["DICTIONARY"].iloc[0]].iloc[0]
        raise RawInputError(
            f"{sheet.where(columns['DICTIONARY'], int(later[ROW]))}: a coding file holds one "
            f"dictionary; {later['DICTIONARY']!r} here, {table['DICTIONARY'].iloc[0]!r} above"
        )
    conflict(KEY, list(TERM_COLUMNS), "verbatim term (case-insensitive)")
    for level in LEVELS:
        conflict(f"{level}_CODE", [f"{level}_NAME"], f"{level} code")
    conflict("LLT_CODE", ["PT_CODE"], "LLT code")
    conflict("PT_CODE", ["HLT_CODE", "HLGT_CODE", "SOC_CODE"], "PT code (primary path)")
    table = table.drop_duplicates(KEY, keep="first").reset_index(drop=True)
    return Coding(
        str(versions["DICTIONARY"].iloc[0]),
        str(versions["VERSION"].iloc[0]),
        table[[KEY, *TERM_COLUMNS, ROW]],
        sheet,
    )


def code_terms(coding: Coding, terms: pd.Series) -> pd.DataFrame:
    """The coding of each term: the :data:`TERM_COLUMNS` and the coding file's :data:`ROW`,
    on ``terms``'s index; all empty (NA) where the term is not in the file or is missing.

    Example:
        >>> table = pd.DataFrame({KEY: ["fever"], **{c: [c] for c in TERM_COLUMNS}, ROW: [2]})
        >>> coding = Coding("MedDRA", "26.1", table, RawSheet("c.csv", "c", table, []))
        >>> out = code_terms(coding, pd.Series(["Fever", "headache", None], dtype="str"))
        >>> out["PT_NAME"].tolist(), out[ROW].tolist()
        (['PT_NAME', nan, nan], [2.0, nan, nan])
    """
    keys = terms.astype("str").str.strip().str.casefold()
    found = coding.table.set_index(KEY)
    out = pd.DataFrame(index=terms.index)
    positions = found.index.get_indexer(keys)
    hit = positions >= 0
    for col in TERM_COLUMNS:
        values = pd.Series(pd.NA, index=terms.index, dtype="str")
        values[hit] = found[col].to_numpy()[positions[hit]]
        out[col] = values
    rows = pd.Series(float("nan"), index=terms.index, dtype="float64")
    rows[hit] = found[ROW].to_numpy()[positions[hit]].astype("float64")
    out[ROW] = rows
    return out
