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

Medications (CM) are coded with a drug dictionary (WHODrug, or a study's own drug dictionary)
whose file has these columns instead (:data:`DRUG`):

=============  ==========================================  ====================
column         holds                                       fills (CM)
=============  ==========================================  ====================
VERBATIM       the drug as reported                        (CMTRT)
DRUG_NAME      the standardised (generic) name             CMDECOD
ATC_CODE       the ATC class code the drug is analysed     CMCLASCD
               under (e.g. level 3, ``A10B``)
ATC_NAME       that class's name                           CMCLAS
DICTIONARY     the dictionary's name                       result metadata
VERSION        its version                                 result metadata
=============  ==========================================  ====================

An ATC code must look like one (``A10``, ``A10B``, ``A10BA``, ``A10BA02``) and one code has one
name.
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
class Layout:
    """The columns of one kind of coding file and the variables they fill.

    ``columns`` are the term columns (names and codes) besides VERBATIM, DICTIONARY and
    VERSION; ``codes`` those holding codes, which must match ``code_pattern`` (described by
    ``code_text``); ``suffixes`` the variable suffixes each column fills (``DECOD`` ->
    AEDECOD); ``checks`` the (key, dependent columns, what) pairs a file must hold one value
    of per key.
    """

    name: str
    columns: tuple[str, ...]
    codes: tuple[str, ...]
    code_pattern: str
    code_text: str
    suffixes: dict[str, tuple[str, ...]]
    checks: tuple[tuple[str, tuple[str, ...], str], ...]

    @property
    def required(self) -> tuple[str, ...]:
        """The columns a coding file of this kind must have."""
        return ("VERBATIM", *self.columns, "DICTIONARY", "VERSION")


MEDDRA = Layout(
    name="MedDRA",
    columns=TERM_COLUMNS,
    codes=TERM_COLUMNS[1::2],
    code_pattern=r"[0-9]{1,9}",
    code_text="whole number, at most 9 digits",
    suffixes=_SUFFIXES,
    checks=(
        *((f"{lv}_CODE", (f"{lv}_NAME",), f"{lv} code") for lv in LEVELS),
        ("LLT_CODE", ("PT_CODE",), "LLT code"),
        ("PT_CODE", ("HLT_CODE", "HLGT_CODE", "SOC_CODE"), "PT code (primary path)"),
    ),
)
"""Adverse events and medical history: the MedDRA hierarchy."""

DRUG = Layout(
    name="drug dictionary",
    columns=("DRUG_NAME", "ATC_CODE", "ATC_NAME"),
    codes=("ATC_CODE",),
    code_pattern=r"[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?",
    code_text="an ATC code such as A10B or A10BA02",
    suffixes={"DRUG_NAME": ("DECOD",), "ATC_NAME": ("CLAS",), "ATC_CODE": ("CLASCD",)},
    checks=(("ATC_CODE", ("ATC_NAME",), "ATC code"),),
)
"""Medications: a drug dictionary's standardised name and ATC class."""

_DOMAIN_LAYOUT: dict[str, Layout] = {"CM": DRUG}


def layout_for(domain: str) -> Layout:
    """The kind of coding file a domain takes: :data:`DRUG` for CM, else :data:`MEDDRA`.

    Example:
        >>> layout_for("CM").name, layout_for("AE").name
        ('drug dictionary', 'MedDRA')
    """
    return _DOMAIN_LAYOUT.get(domain, MEDDRA)


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
    layout: Layout = MEDDRA

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
        >>> coded_variables("CM")
        {'CMDECOD': 'DRUG_NAME', 'CMCLAS': 'ATC_NAME', 'CMCLASCD': 'ATC_CODE'}
    """
    suffix_map = layout_for(domain).suffixes
    out = {f"{domain}{s}": col for col, suffixes in suffix_map.items() for s in suffixes}
    return {k: v for k, v in out.items() if known is None or k in known}


def check_coding(sheet: RawSheet, layout: Layout = MEDDRA) -> Coding:
    """Check a coding file as read (:func:`trialflow.raw.coding.read_coding`) and index it.

    ``layout`` is the kind of file (:func:`layout_for` the domain).

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
    required = layout.required
    columns = {str(c).strip().upper(): c for c in sheet.columns}
    missing = [c for c in required if c not in columns]
    if missing:
        raise RawInputError(
            f"{sheet.where()}: a coding file needs the columns "
            f"{', '.join(required)}; add {', '.join(missing)}"
        )
    table = pd.DataFrame({c: sheet.frame[columns[c]] for c in required})
    table[ROW] = sheet.frame[ROW].to_numpy()
    for col in required:
        empty = table[col].isna()
        if empty.any():
            row = int(table.loc[empty, ROW].iloc[0])
            raise RawInputError(f"{sheet.where(columns[col], row)}: no value (every row needs one)")
    for col in layout.codes:
        bad = ~table[col].str.fullmatch(layout.code_pattern)
        if bad.any():
            row, value = int(table.loc[bad, ROW].iloc[0]), table.loc[bad, col].iloc[0]
            raise RawInputError(
                f"{sheet.where(columns[col], row)}: {value!r} is not a dictionary code "
                f"({layout.code_text})"
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
    conflict(KEY, list(layout.columns), "verbatim term (case-insensitive)")
    for key, deps, what in layout.checks:
        conflict(key, list(deps), what)
    table = table.drop_duplicates(KEY, keep="first").reset_index(drop=True)
    return Coding(
        str(versions["DICTIONARY"].iloc[0]),
        str(versions["VERSION"].iloc[0]),
        table[[KEY, *layout.columns, ROW]],
        sheet,
        layout,
    )


def code_terms(coding: Coding, terms: pd.Series) -> pd.DataFrame:
    """The coding of each term: the layout's term columns (:data:`TERM_COLUMNS` for MedDRA)
    and the coding file's :data:`ROW`, on ``terms``'s index; all empty (NA) where the term is
    not in the file or is missing.

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
    for col in coding.layout.columns:
        values = pd.Series(pd.NA, index=terms.index, dtype="str")
        values[hit] = found[col].to_numpy()[positions[hit]]
        out[col] = values
    rows = pd.Series(float("nan"), index=terms.index, dtype="float64")
    rows[hit] = found[ROW].to_numpy()[positions[hit]].astype("float64")
    out[ROW] = rows
    return out
