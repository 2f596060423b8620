"""Build SDTM domains from a raw export and a study's mapping specs.

The build runs in three passes so that every derivation sees what it needs:

1. each domain's raw pass: read its sheet, check the columns the spec names, transpose findings
   forms, apply the raw mapping methods (assign_*, hardcode_*) and the unit standardisation;
2. DM's derived variables (reference dates from EX and the other domains, AGE, actual arm);
3. every other domain's derived variables (VISITNUM/VISIT, --DY, EPOCH, --LOBXFL, --SEQ).

Then each domain is put in SDTMIG order, typed, sorted by its keys, and returned with a lineage
table (raw file, sheet and row of every record, and the raw column behind every variable).
Problems in the data become :class:`~trialflow.errors.Finding` objects naming the raw cell;
problems in the spec or a raw export that can't be used raise an error naming file and line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trialflow.errors import (
    CONTROL,
    Finding,
    OnIssue,
    RawInputError,
    Source,
    SpecError,
    control_names,
    emit,
    escaped,
)
from trialflow.mapping import methods as m
from trialflow.mapping.coding import check_coding, code_terms, coded_variables, layout_for
from trialflow.mapping.dates import parse_dates
from trialflow.mapping.load import Study, key_line, read_yaml, spec_line, spec_text
from trialflow.mapping.shape import closest, flow
from trialflow.mapping.spec import (
    RAW_METHODS,
    ColumnTest,
    Condition,
    DomainSpec,
    VariableSpec,
)
from trialflow.numbers import DECIMAL_PATTERN, format_fixed, parse_decimal, sas_round
from trialflow.progress import say
from trialflow.raw import ROW, RawExport, RawSheet
from trialflow.raw.coding import read_coding
from trialflow.sdtm import derive, design, metadata

Progress = Callable[[str], None]

SUPP_VARIABLES = (
    "STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG",
    "QEVAL",
)  # fmt: skip
"""The SUPPQUAL variables in SDTMIG 3.4 order."""
_SUPP_LINEAGE = [
    "dataset", "record", "usubjid", "seq", "source_file", "source_sheet", "source_row",
    *SUPP_VARIABLES,
]  # fmt: skip


@dataclass
class SdtmResult:
    """The SDTM datasets of a study, their lineage and every finding made on the way.

    Example:
        >>> import pandas as pd
        >>> dm = pd.DataFrame({"USUBJID": ["S1-001"]})
        >>> result = SdtmResult({"DM": dm}, {"DM": pd.DataFrame({"source_row": [2]})}, [])
        >>> list(result.domains), result.findings
        (['DM'], [])
    """

    domains: dict[str, pd.DataFrame]
    lineage: dict[str, pd.DataFrame]
    findings: list[Finding]
    raw_rows: dict[str, int] = field(default_factory=dict)
    excluded: pd.DataFrame | None = None
    """Raw rows that became no record: dataset, source file, sheet, row, code and reason."""
    dictionaries: dict[str, dict[str, object]] = field(default_factory=dict)
    """Per domain coded from a coding file: the dictionary's name and version, the file and
    the variables filled (``{"AE": {"dictionary": "MedDRA", "version": "26.1", "file":
    "ae-coding.csv", "variables": [...]}}``), for define.xml and TS."""


@dataclass
class _Work:
    """A domain while it is being built."""

    spec: DomainSpec
    sheet: RawSheet
    frame: pd.DataFrame
    lineage: dict[str, pd.Series] = field(default_factory=dict)
    pending: list[tuple[object, Finding]] = field(default_factory=list)
    raw: pd.DataFrame | None = None
    """The raw columns of each row, kept for conditions after variables of the same name."""
    when_keys: dict[int, dict[str, tuple[str, str]]] = field(default_factory=dict)
    """Per variable entry, each name its ``when`` reads -> ("raw", column) or ("var", name)."""


class _Builder:
    def __init__(self, study: Study, export: RawExport) -> None:
        self.study = study
        self.export = export
        self.findings: list[Finding] = []
        self.term_maps: dict[str, m.TermMap] = {}
        self.excluded: list[pd.DataFrame] = []
        self.dictionaries: dict[str, dict[str, object]] = {}
        self.supps: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
        self.read: dict[tuple[str, str], tuple[RawSheet, str, set[str]]] = {}
        """Per raw sheet read, the columns some spec reads (for ``raw-column-unmapped``)."""
        self.sheets_read: set[str] = set()

    # --- helpers -----------------------------------------------------------------------------

    def spec_error(self, domain: str, index: int | None, key: str | None, msg: str) -> SpecError:
        file = str(self.study.files[domain])
        line = spec_line(self.study, domain, index, key) if index is not None else None
        where = f"variables[{index}]" + (f".{key}" if key else "") if index is not None else key
        return SpecError(file, line, where, msg)

    def key_error(self, name: str, key: str, msg: str) -> SpecError:
        """A SpecError at a dotted key of study.yaml (``name="study"``) or a domain spec."""
        return SpecError(str(self.study.files[name]), key_line(self.study, name, key), key, msg)

    def sheet_named(self, domain: str, name: str, key: str, index: int | None) -> RawSheet:
        """The raw sheet a spec names; one the export lacks is an error naming the spec's file,
        line and key, and the sheet meant (or the export's sheets when none is close)."""
        if name not in self.export.sheet_names:
            line = (
                key_line(self.study, domain, key)
                if index is None
                else spec_line(self.study, domain, index, key)
            )
            file = self.study.files[domain]
            where = f"{file}:{line}" if line else str(file)
            at = key if index is None else f"variables[{index}].{key}"
            names = list(self.export.sheet_names)
            near = closest(name, names)
            have = ", ".join(names) or "none"
            hint = f"did you mean {near!r}?" if near is not None else f"its sheets are {have}"
            if len(names) == 1 and near is None:
                only = self.export.sheet(names[0])
                form = next((c for c in only.columns if str(c).casefold() == "form"), "FORM")
                block = "source" if index is None else "lookup"
                hint = (
                    f"this export is one sheet ({names[0]!r}): set {block}.sheet: {names[0]} "
                    f"and pick the form's rows with {block}.where (e.g. where: "
                    f"{{{form}: [{name}]}})"
                )
            raise RawInputError(f"{where}: {at}: no sheet {name!r} in {self.export.name}; {hint}")
        sheet = self.export.sheet(name)
        if name not in self.sheets_read:  # what the reader found, once per sheet
            self.sheets_read.add(name)
            self.findings.extend(dataclasses.replace(f, dataset=domain) for f in sheet.findings)
        return sheet

    def no_column(self, domain: str, key: str, col: str, sheet: RawSheet) -> RawInputError:
        """A column the spec names that the raw sheet lacks: the spec's file, line and key, the
        sheet, and the column meant (or the sheet's columns when none is close)."""
        head, _, sub = key.partition("].")
        if head.startswith("variables["):
            line = self.entry_line(domain, int(head.removeprefix("variables[")), sub)
        elif head.startswith("supp["):
            line = self.study.line(key, domain)
        else:
            line = key_line(self.study, domain, key)
        file = self.study.files[domain]
        where = f"{file}:{line}" if line else str(file)
        near = closest(col, list(sheet.columns))
        hint = (
            f"did you mean {near!r}?"
            if near is not None
            else f"the sheet has columns {', '.join(sheet.columns)}"
        )
        return RawInputError(
            f"{where}: {key}: no column {col!r} in sheet {sheet.sheet} ({sheet.file}); {hint}"
        )

    def term_map(self, name: str, domain: str, index: int | None) -> m.TermMap:
        """The TermMap of a codelist: CDISC CT plus the study's collected values."""
        if name in self.term_maps:
            return self.term_maps[name]
        declared = self.study.spec.controlled_terms.get(name, {})
        collected = {str(text): term for term, texts in declared.items() for text in texts}
        try:
            cl = metadata.codelist(name)
        except metadata.MetadataError:
            cl = None
        if cl is None:
            if not declared:
                raise self.spec_error(
                    domain,
                    index,
                    "codelist",
                    f"codelist {name} is neither in CDISC CT {metadata.ct_version()} nor "
                    "declared under controlled_terms in study.yaml",
                )
            tm = m.TermMap.build(name, declared.keys(), collected, extensible=False)
        else:
            terms = cl.terms["term"].astype("str").tolist()
            unknown = sorted(set(declared) - set(terms))
            if unknown and not cl.extensible:
                raise self.key_error(
                    "study",
                    f"controlled_terms.{name}",
                    f"{', '.join(unknown)} not in non-extensible codelist {name} "
                    f"({cl.code}, CT {metadata.ct_version()})",
                )
            synonyms: dict[str, str] = {}
            syn = cl.terms[["term", "synonyms"]].dropna()
            for term, texts in zip(syn["term"], syn["synonyms"], strict=True):
                for text in str(texts).split(";"):
                    if text.strip():
                        synonyms[text.strip()] = str(term)
            tm = m.TermMap.build(
                name, terms, collected, extensible=cl.extensible, synonyms=synonyms
            )
        self.term_maps[name] = tm
        return tm

    def source(self, work: _Work, index: pd.Index, column: str | pd.Series | None) -> list[Source]:
        rows = work.frame.loc[index, ROW].tolist()
        cols = column.loc[index].tolist() if isinstance(column, pd.Series) else [column] * len(rows)
        return [
            Source(work.sheet.file, work.sheet.sheet, int(r), c)
            for r, c in zip(rows, cols, strict=True)
        ]

    def flag(
        self,
        work: _Work,
        mask: pd.Series,
        *,
        code: str,
        severity: str,
        variable: str | None,
        column: str | pd.Series | None,
        message: Callable[[str | None], str],
        values: pd.Series | None = None,
        refs: tuple[str, ...] = (),
    ) -> None:
        """Record a finding for each flagged row, pointing at its raw cell."""
        index = mask[mask.fillna(False).astype(bool)].index
        if len(index) == 0:
            return
        vals = values.loc[index].tolist() if values is not None else [None] * len(index)
        users = work.frame.loc[index, "USUBJID"].tolist() if "USUBJID" in work.frame else None
        for k, (label, src) in enumerate(zip(index, self.source(work, index, column), strict=True)):
            value = None if pd.isna(vals[k]) else str(vals[k])
            usubjid = None if not users or pd.isna(users[k]) else str(users[k])
            work.pending.append(
                (
                    label,
                    Finding(
                        code,
                        severity,
                        message(value),
                        dataset=work.spec.domain,  # type: ignore[arg-type]
                        variable=variable,
                        usubjid=usubjid,
                        value=value,
                        refs=refs,
                        source=src,
                    ),
                )
            )

    def reads(self, sheet: RawSheet, domain: str, columns: object) -> None:
        """Note that a domain's spec reads these columns of a raw sheet."""
        _, _, used = self.read.setdefault((sheet.file, sheet.sheet), (sheet, domain, set()))
        used.update(c for c in columns if c is not None)  # type: ignore[attr-defined]

    def flag_unmapped_columns(self) -> None:
        """One ``raw-column-unmapped`` notice per column of a sheet the specs read that no
        spec reads and that holds a value, with the number of non-empty cells it holds (none of
        them is mapped)."""
        for sheet, domain, used in self.read.values():
            for column in sheet.columns:
                if column in used or column == ROW:
                    continue
                filled = int(sheet.frame[column].astype("str").str.strip().fillna("").ne("").sum())
                if not filled:  # nothing in it is lost
                    continue
                self.findings.append(
                    Finding(
                        "raw-column-unmapped",
                        "notice",
                        f"column {column} of {sheet.where()} is read by no spec: its "
                        f"{filled} non-empty values are in no SDTM dataset (map it, e.g. "
                        "with a supp entry, if it should be submitted)",
                        dataset=domain,  # type: ignore[arg-type]
                        value=str(filled),
                        source=Source(sheet.file, sheet.sheet, None, column),
                    )
                )

    def flag_unread_sheets(self) -> None:
        """One ``raw-sheet-unread`` notice per sheet of the export that no spec reads (hidden
        ones too), with the number of its data rows: none of them is in a dataset."""
        read = {sheet.sheet for sheet, _domain, _used in self.read.values()}
        for name in self.export.sheet_names:
            if name in read:
                continue
            file = self.export.name
            try:
                sheet = self.export.sheet(name)
            except RawInputError as exc:  # a sheet no spec needs, unreadable: say so, go on
                rows, why = None, f"; it could not be read: {exc}"
            else:
                rows, why, file = len(sheet.frame), "", sheet.file
            count = "" if rows is None else f": its {rows} data rows are in no SDTM dataset"
            self.findings.append(
                Finding(
                    "raw-sheet-unread",
                    "notice",
                    f"sheet {name} of {self.export.name} is read by no spec{count}{why}",
                    value=None if rows is None else str(rows),
                    source=Source(file, name),
                )
            )

    # --- pass 1: raw ---------------------------------------------------------------------------

    def raw_pass(self, spec: DomainSpec) -> _Work:
        domain = spec.domain
        src = spec.source
        sheet = self.sheet_named(domain, src.sheet, "source.sheet", None)
        needed: dict[str, str] = {src.subject: "source.subject"}
        for col in src.record_key:
            needed.setdefault(col, "source.record_key")
        for col in src.where.names if src.where else []:
            needed.setdefault(col, "source.where")
        if src.transpose:
            for col in src.transpose.columns:
                needed.setdefault(col, f"source.transpose.columns.{col}")
        for i, var in enumerate(spec.variables):
            for col in var.raw_columns:
                needed.setdefault(col, f"variables[{i}].raw")
        for coded, col in (spec.coding.compare if spec.coding else {}).items():
            needed.setdefault(col, f"coding.compare.{coded}")
        for i, entry in enumerate(spec.supp):
            needed.setdefault(entry.raw, f"supp[{i}].raw")
        when_keys = self.resolve_when(spec, sheet, needed)
        self.reads(sheet, domain, needed)
        missing = [c for c in needed if c not in sheet.columns]
        if missing:
            raise self.no_column(domain, needed[missing[0]], missing[0], sheet)
        frame = sheet.frame.copy()
        work = _Work(spec, sheet, frame, when_keys=when_keys)
        if frame.empty:
            self.findings.append(
                Finding(
                    "raw-sheet-empty",
                    "warning",
                    f"sheet {sheet.sheet} has no data rows; {domain} has no records",
                    dataset=domain,
                    source=Source(sheet.file, sheet.sheet, None, None),
                )
            )
        sep = self.study.spec.study.usubjid_separator
        subject = frame[src.subject].astype("str")
        frame["USUBJID"] = self.study.studyid + sep + subject
        self.flag(
            work,
            subject.isna(),
            code="raw-subject-missing",
            severity="error",
            variable="USUBJID",
            column=src.subject,
            message=lambda v: f"row has no subject number in {src.subject}; not mapped to {domain}",
        )
        keep = subject.notna()
        self.exclude(work, ~keep, "raw-subject-missing", f"no subject number in {src.subject}")
        if src.where:
            selected = m.condition_mask(frame, src.where)
            left = keep & ~selected
            for reason, fails in _where_failures(frame, src.where):
                self.exclude(work, left & fails, "raw-row-excluded", reason, finding=True)
                left &= ~fails
            if keep.any() and not (keep & selected).any():
                self.where_keeps_nothing(work, frame.loc[keep])
            keep &= selected
        self._resolve_pending_now(work)
        frame = frame.loc[keep]
        if src.record_key:
            dup = frame.duplicated(src.record_key, keep="first")
            keys = ", ".join(src.record_key)
            work.frame = frame
            self.flag(
                work,
                dup,
                code="raw-duplicate-record",
                severity="error",
                variable=None,
                column=src.record_key[0],
                values=frame[src.record_key[0]],
                message=lambda v: (
                    f"duplicate raw record: same {keys} as an earlier row (both rows are "
                    "mapped); the record key does not tell these rows apart: if the form "
                    "repeats, add its repeat column (such as an instance number or "
                    "ItemGroupRepeatKey) to source.record_key, else check the export"
                ),
            )
            self._resolve_pending_now(work)
        work.frame = frame
        self.flag_control_characters(work, list(needed))
        self._resolve_pending_now(work)
        if src.transpose:
            before = frame
            frame = m.transpose(frame, src.transpose.columns, src.transpose.result)
            empty = ~before[ROW].isin(frame[ROW])
            work.frame = before
            cols = ", ".join(src.transpose.columns)
            self.exclude(
                work, empty, "raw-row-no-results", f"no value in any of {cols}", finding=True
            )
            self._check_transpose_terms(spec, frame)
            work.lineage[src.transpose.result] = frame[m.SOURCE_COLUMN]
            for values in src.transpose.columns.values():
                for name in values:
                    work.lineage[name] = "spec: source.transpose (" + frame[m.SOURCE_COLUMN] + ")"
        frame = frame.reset_index(drop=True)
        work.frame = frame
        for k, v in list(work.lineage.items()):
            work.lineage[k] = v.reset_index(drop=True)
        work.raw = frame.copy()
        for i, var in enumerate(spec.variables):
            if var.method in RAW_METHODS:
                self.apply_raw(work, i, var)
        if spec.units:
            self.standardise(work)
        if spec.coding:
            self.code(work)
        return work

    def code(self, work: _Work) -> None:
        """Fill the dictionary hierarchy variables from the domain's coding file."""
        spec = work.spec
        d, c = spec.domain, spec.coding
        assert c is not None
        if c.verbatim not in [v.name for v in spec.variables]:
            raise self.key_error(
                d,
                "coding.verbatim",
                f"{c.verbatim} is not mapped in variables; map the verbatim term first "
                f"(e.g. {{name: {c.verbatim}, method: assign_no_ct, raw: ...}})",
            )
        known = metadata.domain_variables(d)["name"].tolist()
        targets = coded_variables(d, known)
        for i, var in enumerate(spec.variables):
            if var.name in targets:
                raise self.spec_error(
                    d,
                    i,
                    "name",
                    f"{var.name} is filled from the coding file (coding.file); remove this "
                    "entry or the coding block",
                )
        path = self.study.files[d].parent / c.file
        if not path.is_file():
            raise self.key_error(
                d, "coding.file", f"no coding file {c.file} in {self.study.files[d].parent}"
            )
        coding = check_coding(read_coding(path, c.sheet), layout_for(d))
        terms = work.frame[c.verbatim]
        coded = code_terms(coding, terms)
        rows = coded[ROW]
        hit = rows.notna()
        place = coding.sheet.where()
        at = pd.Series(pd.NA, index=terms.index, dtype="str")
        at[hit] = f"coding: {place}, {coding.sheet.row_word} " + rows[hit].astype("int64").astype(
            "str"
        )
        for var, col in targets.items():
            work.frame[var] = coded[col]
            work.lineage[var] = (at + f", column {col}").where(hit, "coding: not coded")
        self.flag(
            work,
            terms.notna() & ~hit,
            code="term-not-coded",
            severity="error",
            variable=c.verbatim,
            column=work.lineage.get(c.verbatim),
            values=terms,
            message=lambda v: (
                f"verbatim term {v!r} is not in the coding file {coding.file} "
                f"({coding.dictionary} {coding.version}); {', '.join(targets)} are left "
                "empty: have it coded and add its row to the file"
            ),
        )
        self.compare_coding(work, targets)
        self.dictionaries[d] = {
            "dictionary": coding.dictionary,
            "version": coding.version,
            "file": coding.file,
            "variables": list(targets),
        }

    def compare_coding(self, work: _Work, targets: dict[str, str]) -> None:
        """The site's own coding in the export (``coding.compare``) against the coded values:
        a record whose raw value differs (trimmed, any case) is a coding-differs warning naming
        the raw cell; so the export's coding columns are read, never dropped unread."""
        c = work.spec.coding
        assert c is not None
        raw = work.raw if work.raw is not None else work.frame
        for var, col in c.compare.items():
            if var not in targets:
                raise self.key_error(
                    work.spec.domain,
                    f"coding.compare.{var}",
                    f"{var} is not filled by the coding file (it fills {', '.join(targets)})",
                )
            site = raw[col].astype("str").str.strip()
            coded = work.frame[var].astype("str").str.strip()
            differs = site.notna() & coded.notna() & site.str.casefold().ne(coded.str.casefold())
            self.flag(
                work,
                differs.fillna(False).astype(bool),
                code="coding-differs",
                severity="warning",
                variable=var,
                column=col,
                values=site,
                message=lambda v, var=var, col=col: (
                    f"the export's {col} {v!r} differs from {var} coded from the coding file; "
                    "check the coding file or the site's coding"
                ),
            )

    def exclude(
        self, work: _Work, mask: pd.Series, code: str, reason: str, *, finding: bool = False
    ) -> None:
        """Raw rows that make no record: listed in the excluded-rows table, and with
        ``finding`` summarised by one notice per sheet and reason (a row when only one)."""
        rows = work.frame.loc[mask.fillna(False).astype(bool), ROW]
        if rows.empty:
            return
        domain, sheet = work.spec.domain, work.sheet
        self.excluded.append(
            pd.DataFrame(
                {
                    "dataset": domain,
                    "source_file": sheet.file,
                    "source_sheet": sheet.sheet,
                    "source_row": rows.astype("int64").to_numpy(),
                    "code": code,
                    "reason": reason,
                }
            )
        )
        if not finding:
            return
        n = len(rows)
        what = "1 row" if n == 1 else f"{n} rows"
        self.findings.append(
            Finding(
                code,
                "notice",
                f"{what} of sheet {sheet.sheet} left out of {domain}: {reason}; "
                "the rows are listed in lineage/excluded.csv",
                dataset=domain,
                value=str(n),
                source=Source(sheet.file, sheet.sheet, int(rows.iloc[0]) if n == 1 else None),
            )
        )

    def where_keeps_nothing(self, work: _Work, rows: pd.DataFrame) -> None:
        """A ``source.where`` that keeps none of the sheet's rows: a warning naming its line,
        and for each listed value no cell holds, the cell value meant (case or spelling)."""
        spec, sheet = work.spec, work.sheet
        cond = spec.source.where
        assert cond is not None
        line = key_line(self.study, spec.domain, "source.where")
        name = self.study.files[spec.domain].name
        at = f"{name}:{line}" if line else name
        hints = []
        for column, test in cond.columns.items():
            if test.in_ is None:
                continue
            cells = rows[column].astype("str").str.strip().dropna()
            held = list(dict.fromkeys(c for c in cells if c))
            wanted = [_value_text(v) for v in test.in_]
            if any(v in held for v in wanted):
                continue
            for value in wanted:
                same = [c for c in held if c.casefold() == value.casefold()]
                near = same[0] if same else closest(value, held)
                if near is not None:
                    hints.append(f"{column} holds {near!r}, not {value!r}")
                else:
                    some = ", ".join(repr(c) for c in held[:10]) or "no value"
                    more = ", ..." if len(held) > 10 else ""
                    hints.append(f"{column} holds none of {value!r} (it holds {some}{more})")
        why = (": " + "; ".join(hints) + ": values are matched exactly") if hints else ""
        n = len(rows)
        what = "1 row" if n == 1 else f"{n} rows"
        self.findings.append(
            Finding(
                "raw-where-keeps-nothing",
                "warning",
                f"{at}: source.where ({cond.describe()}) keeps no row of sheet "
                f"{sheet.sheet} ({what}), so {spec.domain} has no records{why}",
                dataset=spec.domain,
                value=str(n),
                source=Source(sheet.file, sheet.sheet, None, None),
            )
        )

    def resolve_when(
        self, spec: DomainSpec, sheet: RawSheet, needed: dict[str, str]
    ) -> dict[int, dict[str, tuple[str, str]]]:
        """What each name in a ``when`` reads: a raw column or a variable mapped above.

        ``raw.X`` is the raw column X and ``<DOMAIN>.X`` the variable X; a plain name is the
        variable when a raw method above maps it (or source.transpose sets it), else the raw
        column. A plain name that is both is a spec error, and so is a variable mapped later
        or derived (conditions are evaluated while the raw columns are mapped).
        """
        d = spec.domain
        mapped = {"USUBJID"}
        if spec.source.transpose:
            t = spec.source.transpose
            mapped |= {t.result, *{n for v in t.columns.values() for n in v}}
        out: dict[int, dict[str, tuple[str, str]]] = {}
        coded: dict[str, str] = {}  # mapped variable -> its codelist
        if spec.source.transpose:
            listed = metadata.domain_variables(d).set_index("name")["codelist"]
            for values in spec.source.transpose.columns.values():
                for name in values:
                    cl = listed.get(name)
                    if cl is not None and not pd.isna(cl) and str(cl):
                        coded[name] = str(cl)
        for i, var in enumerate(spec.variables):
            if var.when is not None:
                keys: dict[str, tuple[str, str]] = {}
                for key in var.when.names:
                    if key.startswith("raw."):
                        keys[key] = ("raw", key[4:])
                    elif key.startswith(f"{d}."):
                        name = key[len(d) + 1 :]
                        if name not in mapped:
                            raise self.when_order_error(spec, i, key, name)
                        keys[key] = ("var", name)
                    elif key in mapped and key in sheet.columns:
                        raise self.spec_error(
                            d,
                            i,
                            "when",
                            f"{key} is both a column of sheet {sheet.sheet} and a variable "
                            f"mapped above: write raw.{key} for the raw column or {d}.{key} "
                            "for the mapped value",
                        )
                    elif key in mapped:
                        keys[key] = ("var", key)
                    elif key not in sheet.columns and any(v.name == key for v in spec.variables):
                        raise self.when_order_error(spec, i, key, key)
                    else:
                        keys[key] = ("raw", key)
                    if keys[key][0] == "raw":
                        needed.setdefault(keys[key][1], f"variables[{i}].when")
                out[i] = keys
                self.check_when_terms(spec, i, var.when, keys, coded)
            if var.method in RAW_METHODS:
                mapped.add(var.name)
                if var.method in ("assign_ct", "hardcode_ct") and var.codelist:
                    coded[var.name] = var.codelist
        return out

    def check_when_terms(
        self,
        spec: DomainSpec,
        i: int,
        cond: Condition,
        keys: dict[str, tuple[str, str]],
        coded: dict[str, str],
    ) -> None:
        """Each value a ``when`` lists for a coded variable mapped above must be a term of its
        codelist (the submission value the variable holds, or a sponsor term of the study),
        else the condition would silently never match: a spec error with the term meant."""
        for key, test in cond.columns.items():
            kind, name = keys.get(key, ("raw", key))
            codelist = coded.get(name) if kind == "var" else None
            if codelist is None:
                continue
            tm = self.term_map(codelist, spec.domain, i)
            allowed = set(tm.terms) | set(tm.table.values())
            for value in [*(test.in_ or []), *(test.not_ or [])]:
                text = _value_text(value)
                if text in allowed:
                    continue
                mapped = tm.map(pd.Series([text])).iloc[0]
                near = mapped if isinstance(mapped, str) else closest(text, sorted(allowed))
                hint = f"; did you mean {near}?" if near else ""
                raise self.spec_error(
                    spec.domain,
                    i,
                    "when",
                    f"{text} is not a term of codelist {codelist} (the values of {name}){hint}",
                )
        for part in cond.any_ or []:
            self.check_when_terms(spec, i, part, keys, coded)

    def when_order_error(self, spec: DomainSpec, i: int, key: str, name: str) -> SpecError:
        """A ``when`` that reads a variable not mapped before it."""
        j = next((k for k, v in enumerate(spec.variables) if v.name == name), None)
        if j is None:
            why = f"{name} is not a variable this spec maps"
        elif spec.variables[j].method not in RAW_METHODS:
            why = (
                f"{name} is derived (method {spec.variables[j].method}) after the raw columns "
                "are mapped; a when reads raw columns and variables of raw methods listed "
                "before it"
            )
        else:
            why = f"{name} is mapped later (variables[{j}]); list it before this entry"
        return self.spec_error(spec.domain, i, "when", f"when reads {key}: {why}")

    def when_mask(self, work: _Work, i: int, var: VariableSpec) -> pd.Series:
        """Rows of the work frame where the variable entry's ``when`` holds (all without one)."""
        frame = work.frame
        if var.when is None:
            return pd.Series(True, index=frame.index)
        keys = work.when_keys.get(i, {})
        data = {}
        for key in var.when.names:
            kind, name = keys.get(key, ("raw", key))
            raw = work.raw if work.raw is not None else frame
            data[key] = raw[name] if kind == "raw" and name in raw else frame[name]
        return m.condition_mask(pd.DataFrame(data, index=frame.index), var.when)

    def flag_control_characters(self, work: _Work, columns: list[str]) -> None:
        """A warning per raw cell of ``columns`` holding a control character (NUL, ESC, a tab
        or line break, ...; :data:`~trialflow.errors.CONTROL`), shown escaped. The value is
        kept as it is; where it reaches a dataset, validation reports it again
        (``value-control-character``)."""
        for col in columns:
            values = work.frame[col]
            mask = values.astype("str").str.contains(CONTROL.pattern, regex=True, na=False)
            if not mask.any():
                continue
            bad = values[mask]
            names = dict(zip(bad.map(escaped), bad.map(control_names), strict=True))
            self.flag(
                work,
                mask,
                code="raw-control-character",
                severity="warning",
                variable=None,
                column=col,
                values=bad.map(escaped),
                message=lambda v, names=names: (
                    f"'{v}' holds control character(s) {names[v]}; kept as it is: remove them "
                    "in the raw export"
                ),
            )

    def _resolve_pending_now(self, work: _Work) -> None:
        """Row-level findings about raw rows that never become records carry no record number."""
        self.findings.extend(f for _, f in work.pending)
        work.pending = []

    def _check_transpose_terms(self, spec: DomainSpec, frame: pd.DataFrame) -> None:
        variables = metadata.domain_variables(spec.domain).set_index("name")
        assert spec.source.transpose is not None
        for column, values in spec.source.transpose.columns.items():
            for name, value in values.items():
                cl = variables["codelist"].get(name) if name in variables.index else None
                if cl is None or pd.isna(cl) or not str(cl):
                    continue
                tm = self.term_map(str(cl), spec.domain, None)
                mapped = tm.map(pd.Series([str(value)]))
                if mapped.isna().iloc[0]:
                    raise self.key_error(
                        spec.domain,
                        f"source.transpose.columns.{column}.{name}",
                        f"{value!r} is not a term of codelist {cl}",
                    )
                frame.loc[frame[m.SOURCE_COLUMN] == column, name] = mapped.iloc[0]

    def assign(
        self, work: _Work, i: int, var: VariableSpec, values: pd.Series, lineage: str
    ) -> None:
        """Put values into a variable, only where ``when`` holds; overlapping entries are errors."""
        frame = work.frame
        mask = self.when_mask(work, i, var)
        if var.name in frame.columns and var.when:
            taken = frame[var.name].notna() & mask & values.notna()
            if taken.any():
                raise self.spec_error(
                    work.spec.domain,
                    i,
                    "when",
                    f"rows already given {var.name} by an earlier entry also match this one",
                )
            frame[var.name] = frame[var.name].mask(mask & values.notna(), values)
            work.lineage[var.name] = work.lineage[var.name].mask(mask, lineage)
        else:
            frame[var.name] = values.where(mask)
            work.lineage[var.name] = pd.Series(lineage, index=frame.index).where(mask)

    def apply_raw(self, work: _Work, i: int, var: VariableSpec) -> None:
        frame, domain = work.frame, work.spec.domain
        when = self.when_mask(work, i, var)
        if var.method == "assign_no_ct":
            self.assign(work, i, var, m.assign_no_ct(frame, var.raw_columns[0]), var.raw_columns[0])
        elif var.method == "site_id":
            col = var.raw_columns[0]
            values = m.assign_no_ct(frame, col)
            sites = [s.siteid for s in self.study.spec.sites]
            if sites:
                self.flag(
                    work,
                    values.notna() & ~values.isin(sites),
                    code="site-unknown",
                    severity="error",
                    variable=var.name,
                    column=col,
                    values=values,
                    message=lambda v: (
                        f"site {v!r} is not among the sites of study.yaml ({', '.join(sites)})"
                    ),
                )
            self.assign(work, i, var, values, col)
        elif var.method == "assign_ct":
            tm = self.term_map(var.codelist or "", domain, i)
            col = var.raw_columns[0]
            values, unmapped = m.assign_ct(frame, col, tm)
            self.flag(
                work,
                unmapped & when,
                code="ct-unmapped-value",
                severity="error",
                variable=var.name,
                column=col,
                values=frame[col],
                message=lambda v: (
                    f"{v!r} maps to no term of codelist {var.codelist} "
                    f"({var.name} left empty; add it under controlled_terms in study.yaml if it is "
                    "a valid collected value)"
                ),
            )
            self.assign(work, i, var, values, col)
        elif var.method in ("hardcode_no_ct", "hardcode_ct"):
            value = m.hardcode(frame, var.value)
            if var.method == "hardcode_ct":
                tm = self.term_map(var.codelist or "", domain, i)
                mapped = tm.map(value.iloc[:1] if len(value) else pd.Series([str(var.value)]))
                if mapped.isna().all():
                    raise self.spec_error(
                        domain,
                        i,
                        "value",
                        f"{var.value!r} is not a term of codelist {var.codelist}",
                    )
                value = pd.Series(mapped.iloc[0], index=frame.index, dtype="str")
            self.assign(work, i, var, value, f"spec: {var.method} {var.value!r}")
        elif var.method == "assign_datetime":
            formats = var.formats or []
            try:
                result = m.assign_datetime(frame, var.raw_columns, formats)
            except ValueError as exc:
                raise self.spec_error(domain, i, "formats", str(exc)) from None
            for col, bad in result.bad.items():
                fmts = (
                    formats[var.raw_columns.index(col)] if isinstance(formats[0], list) else formats
                )
                self.flag(
                    work,
                    bad & when,
                    code="dtc-unparseable",
                    severity="error",
                    variable=var.name,
                    column=col,
                    values=frame[col],
                    message=lambda v, fmts=fmts: (
                        f"{v!r} matches none of the formats "
                        f"{', '.join(fmts)}; {var.name} left empty"
                    ),
                )
            self.flag_ambiguous_dates(work, i, var, result.ambiguous, when)
            if result.time_dropped is not None:
                self.flag(
                    work,
                    result.time_dropped & when,
                    code="dtc-time-without-date",
                    severity="warning",
                    variable=var.name,
                    column=var.raw_columns[1],
                    values=frame[var.raw_columns[1]],
                    message=lambda v: (
                        f"time {v!r} kept out of {var.name}: the date is partial or missing"
                    ),
                )
            self.assign(work, i, var, result.iso, " + ".join(var.raw_columns))
        elif var.method == "lookup":
            self.lookup(work, i, var, when)
        if var.name == "SITEID" and var.method != "site_id":
            self.check_sites(work, i, var, when)

    def lookup(self, work: _Work, i: int, var: VariableSpec, when: pd.Series) -> None:
        """A value from another form of the same subject (``method: lookup``), optionally
        multiplied or divided into the row's raw value and by a constant; lineage names both
        raw cells, and a row without exactly one matching record is a finding."""
        spec, d, frame = var.lookup, work.spec.domain, work.frame
        assert spec is not None
        raw = work.raw if work.raw is not None else frame
        other_sheet = self.sheet_named(d, spec.sheet, "lookup.sheet", i)
        other = other_sheet.frame
        subject = spec.subject or work.spec.source.subject
        match = spec.match
        this_col, other_col = match.columns if match else (None, None)
        at = f"variables[{i}].lookup"
        theirs = {subject: f"{at}.subject" if spec.subject else "source.subject"}
        theirs.setdefault(spec.column, f"{at}.column")
        for name in spec.where.names if spec.where else []:
            theirs.setdefault(name, f"{at}.where")
        if other_col is not None:
            theirs.setdefault(other_col, f"{at}.match")
        self.reads(other_sheet, d, theirs)
        self.reads(work.sheet, d, [this_col])
        for sheet, cols in ((other_sheet, theirs), (work.sheet, {this_col: f"{at}.match"})):
            for col, key in cols.items():
                if col is not None and col not in sheet.frame.columns:
                    raise self.no_column(d, key, col, sheet)
        chosen = other[spec.column].notna() & m.condition_mask(other, spec.where)
        row_bad = pd.Series(False, index=frame.index)
        cand = pd.DataFrame(
            {
                "S": other.loc[chosen, subject].astype("str").str.strip(),
                "V": other.loc[chosen, spec.column].astype("str"),
                "R": other.loc[chosen, ROW],
            }
        )
        rows = pd.DataFrame({"S": raw[work.spec.source.subject].astype("str").str.strip()})
        if match is None:
            cand["K"], rows["K"] = "", ""
        elif match.kind == "visit":
            cand["K"] = self.planned_visit(other.loc[chosen, other_col])
            rows["K"] = self.planned_visit(raw[this_col])
        else:
            formats = [str(f) for f in spec.formats or []]
            theirs = parse_dates(other.loc[chosen, other_col], formats)
            mine = parse_dates(raw[this_col], formats)
            cand["K"] = _complete(theirs.iso)
            rows["K"] = _complete(mine.iso)
            cand["BAD"] = theirs.bad
            row_bad = mine.bad
        unreadable = cand[cand["BAD"]] if "BAD" in cand else cand.iloc[0:0]
        cand = cand.dropna(subset=["S", "K"])
        if match is not None and match.kind == "on_or_before":
            day = "datetime64[s]"  # one resolution on both sides, whatever the input
            cand["K"] = pd.to_datetime(cand["K"], format="%Y-%m-%d").astype(day)
            rows["K"] = pd.to_datetime(rows["K"], format="%Y-%m-%d").astype(day)
            ready = rows.dropna().sort_values("K").reset_index()
            nearest = pd.merge_asof(
                ready,
                cand.sort_values("K").assign(KEY=lambda c: c["K"]),
                on="K",
                by="S",
                direction="backward",
            )
            counts = cand.groupby(["S", "K"]).size().rename("N").reset_index()
            nearest = nearest.merge(
                counts.rename(columns={"K": "KEY"}), on=["S", "KEY"], how="left"
            ).set_index("index")
            found = nearest.reindex(frame.index)
        else:
            counts = cand.groupby(["S", "K"]).size().rename("N").reset_index()
            first = cand.drop_duplicates(["S", "K"]).merge(counts, on=["S", "K"])
            found = rows.reset_index().merge(first, on=["S", "K"], how="left").set_index("index")
            found = found.reindex(frame.index)
        base = None
        if var.combine is not None:
            base_raw = raw[str(var.raw)].astype("str")
            base = pd.to_numeric(base_raw, errors="coerce")
        needs = when if base is None else when & raw[str(var.raw)].notna()
        where_text = f"{spec.sheet}.{spec.column}"
        if match is not None:
            where_text += f" ({match.kind} {this_col} = {other_col})"
        doubt = self.lookup_unreadable(work, i, var, unreadable, rows, needs, where_text)
        n = found["N"].fillna(0).mask(doubt)  # NA: the match is unknown, no other finding
        one = (n == 1).fillna(False).astype(bool)
        looked = found["V"].where(one).astype("str")
        key_text = raw[this_col].astype("str") if this_col else None
        unusable = rows["K"].isna() & (n == 0).fillna(False).astype(bool)
        if match is not None:
            self.lookup_key_unusable(work, i, var, needs & unusable, row_bad, where_text)
        self.flag(
            work,
            needs & (n == 0).fillna(False).astype(bool) & ~unusable,
            code="lookup-no-record",
            severity="error",
            variable=var.name,
            column=this_col or work.spec.source.subject,
            values=key_text,
            message=lambda v: (
                f"no record with a value in {where_text} for this row"
                + (f" ({this_col} {v!r})" if this_col else "")
                + f"; {var.name} left empty"
            ),
        )
        self.flag(
            work,
            needs & (n > 1).fillna(False).astype(bool),
            code="lookup-ambiguous",
            severity="error",
            variable=var.name,
            column=this_col or work.spec.source.subject,
            values=key_text,
            message=lambda v: (
                f"several records with a value in {where_text} match this row"
                + (f" ({this_col} {v!r})" if this_col else "")
                + f"; {var.name} left empty (narrow lookup.where or lookup.match)"
            ),
        )
        cell = spec.sheet + " row " + found["R"].astype("Int64").astype("str") + " " + spec.column
        if base is None and var.convert is None:
            self.assign(work, i, var, looked, cell.where(one))
            return
        number = pd.to_numeric(looked, errors="coerce")
        self.flag(
            work,
            needs & one & number.isna(),
            code="lookup-not-numeric",
            severity="error",
            variable=var.name,
            column=this_col or work.spec.source.subject,
            values=cell + " " + looked.fillna(""),
            message=lambda v: f"{v!r} is not a number; {var.name} left empty",
        )
        result = number
        lineage = cell
        if base is not None:
            op = " x " if var.combine == "multiply" else " / "
            self.flag(
                work,
                when & raw[str(var.raw)].notna() & base.isna(),
                code="lookup-not-numeric",
                severity="error",
                variable=var.name,
                column=str(var.raw),
                values=raw[str(var.raw)],
                message=lambda v: f"{v!r} is not a number; {var.name} left empty",
            )
            if var.combine == "divide":
                zero = number == 0
                self.flag(
                    work,
                    needs & one & zero.fillna(False).astype(bool),
                    code="lookup-not-numeric",
                    severity="error",
                    variable=var.name,
                    column=this_col or work.spec.source.subject,
                    values=cell,
                    message=lambda v: f"{v} is 0 and cannot divide; {var.name} left empty",
                )
                result = base / number.where(number != 0)
            else:
                result = base * number
            lineage = str(var.raw) + op + cell
        if var.convert is not None:
            result = result * var.convert.factor
            lineage = lineage + (
                f" x {var.convert.multiply:.15g}"
                if var.convert.multiply is not None
                else f" / {var.convert.divide:.15g}"
            )
        digits = pd.Series(var.digits, index=frame.index, dtype="float64")
        values = _fmt(_round(result, digits)).astype("str")
        self.assign(work, i, var, values, lineage.where(result.notna()))

    def entry_line(self, domain: str, index: int, key: str) -> int | None:
        """Line of a dotted key inside ``variables[index]`` (``lookup.formats``); the line of
        the deepest key found."""
        node = read_yaml(self.study.files[domain]).get("variables")
        if not isinstance(node, list) or index >= len(node):
            return None
        line = spec_line(self.study, domain, index)
        node = node[index]
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            line = getattr(node, "lines", {}).get(part, line)
            node = node[part]
        return line

    def at_key(self, domain: str, index: int, key: str) -> str:
        """``file:line`` of a key inside a variable entry, for messages."""
        line = self.entry_line(domain, index, key)
        name = self.study.files[domain].name
        return f"{name}:{line}" if line else name

    def lookup_unreadable(
        self,
        work: _Work,
        i: int,
        var: VariableSpec,
        unreadable: pd.DataFrame,
        rows: pd.DataFrame,
        needs: pd.Series,
        where_text: str,
    ) -> pd.Series:
        """Candidate rows of the other form whose date lookup.formats can't read: a finding
        naming each such cell, and the rows of its subject that need the value are left
        empty with a finding (the unread record could be theirs). The mask of those rows."""
        doubt = pd.Series(False, index=work.frame.index)
        spec = var.lookup
        if unreadable.empty or spec is None or spec.match is None:
            return doubt
        this_col, other_col = spec.match.columns
        other = self.export.sheet(spec.sheet)
        formats = ", ".join(str(f) for f in spec.formats or [])
        at = self.at_key(work.spec.domain, i, "lookup.formats")
        subjects = set(rows.loc[needs.fillna(False).astype(bool), "S"].dropna())
        for subject, cells in unreadable.groupby("S", sort=False):
            if subject not in subjects:
                continue
            texts = other.frame.loc[cells.index, other_col].astype("str")
            for row, text in zip(cells["R"], texts, strict=True):
                self.findings.append(
                    Finding(
                        "lookup-date-unparseable",
                        "error",
                        f"{other_col} {text!r} can't be read with lookup.formats [{formats}] "
                        f"({at}): this record of {spec.sheet}.{spec.column} can't be matched "
                        f"for {work.spec.domain}.{var.name}; add its format",
                        dataset=work.spec.domain,
                        variable=var.name,
                        value=str(text),
                        source=Source(other.file, other.sheet, int(row), other_col),
                    )
                )
            first_row, first_text = int(cells["R"].iloc[0]), str(texts.iloc[0])
            more = f" (and {len(cells) - 1} more)" if len(cells) > 1 else ""
            mask = needs & (rows["S"] == subject) & rows["K"].notna()
            doubt |= mask.fillna(False).astype(bool)
            self.flag(
                work,
                mask,
                code="lookup-no-record",
                severity="error",
                variable=var.name,
                column=this_col,
                values=work.raw[this_col] if work.raw is not None else None,
                message=lambda v, r=first_row, t=first_text, more=more: (
                    f"{spec.sheet} row {r} {other_col} {t!r}{more} can't be read with "
                    f"lookup.formats [{formats}] ({at}), so the record matching {this_col} "
                    f"{v!r} in {where_text} is unknown and {var.name} is left empty: add its "
                    "format"
                ),
            )
        return doubt

    def lookup_key_unusable(
        self,
        work: _Work,
        i: int,
        var: VariableSpec,
        mask: pd.Series,
        bad: pd.Series,
        where_text: str,
    ) -> None:
        """Rows whose own match key is blank, unreadable, partial or not a planned visit."""
        spec = var.lookup
        assert spec is not None and spec.match is not None
        this_col = spec.match.columns[0]
        raw = work.raw if work.raw is not None else work.frame
        cells = raw[this_col]
        blank = cells.astype("str").str.strip().fillna("").eq("")
        common = dict(code="lookup-no-record", severity="error", variable=var.name, column=this_col)
        self.flag(
            work,
            mask & blank,
            **common,
            message=lambda v: (
                f"{this_col} is blank, so {var.name} is left empty: nothing to match "
                f"{where_text} by"
            ),
        )
        if spec.match.kind == "visit":
            self.flag(
                work,
                mask & ~blank,
                **common,
                values=cells,
                message=lambda v: (
                    f"{this_col} {v!r} is not a planned visit of study.yaml, so {var.name} is "
                    f"left empty: nothing to match {where_text} by"
                ),
            )
            return
        formats = ", ".join(str(f) for f in spec.formats or [])
        at = self.at_key(work.spec.domain, i, "lookup.formats")
        self.flag(
            work,
            mask & ~blank & bad,
            **common,
            values=cells,
            message=lambda v: (
                f"{this_col} {v!r} can't be read with lookup.formats [{formats}] ({at}), so "
                f"{var.name} is left empty: add its format"
            ),
        )
        self.flag(
            work,
            mask & ~blank & ~bad,
            **common,
            values=cells,
            message=lambda v: (
                f"{this_col} {v!r} is a partial date, so {var.name} is left empty: matching "
                f"{where_text} needs a complete date"
            ),
        )

    def planned_visit(self, labels: pd.Series) -> pd.Series:
        """VISITNUM of each raw visit label by study.yaml's planned visits (NA otherwise)."""
        table: dict[str, float] = {}
        for v in self.study.spec.visits:
            table[v.visit.casefold()] = v.visitnum
            for text in v.collected:
                table[str(text).strip().casefold()] = v.visitnum
        return labels.astype("str").str.strip().str.casefold().map(table).astype("float64")

    def check_sites(self, work: _Work, i: int, var: VariableSpec, when: pd.Series) -> None:
        """SITEID set by any method but site_id is checked against study.yaml's sites too: a
        hardcoded one is a spec error, a raw one a ``site-unknown`` finding per row."""
        sites = [s.siteid for s in self.study.spec.sites]
        if not sites:
            return
        listed = ", ".join(sites)
        if var.method in ("hardcode_no_ct", "hardcode_ct"):
            value = m.hardcode(pd.DataFrame(index=range(1)), var.value).iloc[0]
            if value not in sites:
                read = ""
                if isinstance(var.value, (int, float)):
                    text = spec_text(self.study, work.spec.domain, i, "value") or value
                    read = f'; {text} was read as the number {value}: write value: "{text}"'
                raise self.spec_error(
                    work.spec.domain,
                    i,
                    "value",
                    f"site {value!r} is not among the sites of study.yaml ({listed}){read}",
                )
            return
        values = work.frame[var.name]
        self.flag(
            work,
            when & values.notna() & ~values.isin(sites),
            code="site-unknown",
            severity="error",
            variable=var.name,
            column=work.lineage.get(var.name),
            values=values,
            message=lambda v: f"site {v!r} is not among the sites of study.yaml ({listed})",
        )

    def flag_ambiguous_dates(
        self,
        work: _Work,
        i: int,
        var: VariableSpec,
        ambiguous: pd.DataFrame | None,
        when: pd.Series,
    ) -> None:
        """A warning per raw cell whose day and month read either way, naming both readings."""
        if ambiguous is None or not ambiguous["taken"].notna().any():
            return
        domain, col = work.spec.domain, var.raw_columns[0]
        file = self.study.files[domain]
        line = spec_line(self.study, domain, i, "formats")
        where = f"{file}:{line}" if line else str(file)
        raw = work.frame[col].astype("str")
        readings = ambiguous.assign(RAW=raw).dropna(subset=["taken"]).drop_duplicates("RAW")
        said = readings.set_index("RAW").to_dict("index")  # one entry per distinct value

        def message(value: str | None) -> str:
            r = said[value]
            why = (
                f"the column also holds {r['evidence']!r}, which only reads as {r['other_format']}"
                if isinstance(r["evidence"], str)
                else f"the formats declare both {r['format']} and {r['other_format']}"
            )
            return (
                f"{value!r} reads as {r['taken']} with {r['format']} and as {r['other']} with "
                f"{r['other_format']} ({why}); {var.name} took {r['taken']}. Check the date "
                f"order the site used and declare only that one in {where} (formats)"
            )

        self.flag(
            work,
            ambiguous["taken"].notna() & when,
            code="dtc-ambiguous",
            severity="warning",
            variable=var.name,
            column=col,
            values=work.frame[col],
            message=message,
        )

    def standardise(self, work: _Work) -> None:
        """--STRESC/--STRESN/--STRESU (and --STNRLO/--STNRHI) from --ORRES/--ORRESU."""
        d, frame, spec = work.spec.domain, work.frame, work.spec
        testcd, orres, orresu = f"{d}TESTCD", f"{d}ORRES", f"{d}ORRESU"
        for needed in (testcd, orres):
            if needed not in frame:
                raise self.key_error(
                    d,
                    "units",
                    f"unit standardisation needs {needed}, which the spec does not map",
                )
        unit_terms = self.term_map("UNIT", d, None)
        n = len(frame)
        factor = pd.Series(np.nan, index=frame.index)
        std_unit = pd.Series(pd.NA, index=frame.index, dtype="str")
        digits = pd.Series(np.nan, index=frame.index)
        units = (
            frame[orresu] if orresu in frame else pd.Series(pd.NA, index=frame.index, dtype="str")
        )
        declared = frame[testcd].isin(list(spec.units))
        for test, unit in spec.units.items():
            standard = unit_terms.map(pd.Series([unit.standard])).iloc[0]
            if pd.isna(standard):
                raise self.key_error(
                    d,
                    f"units.{test}.standard",
                    f"{unit.standard!r} is not a term of codelist UNIT",
                )
            rows = frame[testcd] == test
            std_unit = std_unit.mask(rows, standard)
            if unit.digits is not None:
                digits = digits.mask(rows, unit.digits)
            same = rows & (units == standard)
            factor = factor.mask(same.fillna(False), 1.0)
            if orresu not in frame:
                factor = factor.mask(rows, 1.0)
            for original, conv in unit.convert.items():
                orig = unit_terms.map(pd.Series([original])).iloc[0]
                if pd.isna(orig):
                    raise self.key_error(
                        d,
                        f"units.{test}.convert.{original}",
                        f"{original!r} is not a term of codelist UNIT",
                    )
                factor = factor.mask((rows & (units == orig)).fillna(False), conv.factor)
        result = frame[orres].astype("str")
        has = result.notna()
        # Only plain decimal numbers are numbers (not '1_000', 'nan', 'inf', '0x10', '78,5');
        # a limit ('<0.1', '>=500') is a valid character result, converted like a number.
        numeric = parse_decimal(result)
        qual = _per_distinct(
            result,
            result,
            lambda r: r.str.extract(rf"^\s*([<>]=?)\s*({DECIMAL_PATTERN})\s*$"),
        )
        qual_num = parse_decimal(qual[1])
        text = has & numeric.isna() & qual_num.isna()
        undeclared = has & ~declared.fillna(False)
        # tests without a declared standard keep their original result and unit
        factor = factor.mask(undeclared, 1.0)
        std_unit = std_unit.mask(undeclared, units)
        # a text result is in no unit: it needs no unit and no conversion
        no_unit = has & ~text & declared & units.isna() & (orresu in frame)
        bad_unit = has & ~text & declared & units.notna() & factor.isna()
        col_res = work.lineage.get(orres)
        col_unit = work.lineage.get(orresu, pd.Series(None, index=frame.index))
        self.flag(
            work,
            undeclared,
            code="unit-standard-not-declared",
            severity="notice",
            variable=f"{d}STRESU",
            column=col_res,
            values=frame[testcd],
            message=lambda v: (
                f"test {v} has no entry under units in the spec; standard result "
                "and unit copied from the original"
            ),
        )
        self.flag(
            work,
            no_unit,
            code="unit-missing",
            severity="error",
            variable=orresu,
            column=col_unit,
            values=result,
            message=lambda v: f"result {v!r} has no unit; standard result left empty",
        )
        tests = frame[testcd].astype("str")
        for test in sorted(tests[bad_unit.fillna(False)].dropna().unique()):
            self.flag(
                work,
                bad_unit & (tests == test),
                code="unit-not-convertible",
                severity="error",
                variable=orresu,
                column=col_unit,
                values=units,
                message=self.unconvertible(d, test),
            )
        converted = numeric * factor
        conv_qual = qual_num * factor
        rounded = _round(converted, digits)
        rounded_qual = _round(conv_qual, digits)
        identity = factor == 1.0
        stresc = pd.Series(pd.NA, index=frame.index, dtype="str")
        stresc = stresc.mask(identity & has, result)
        stresc = stresc.mask(~identity & numeric.notna(), _fmt(rounded))
        stresc = stresc.mask(~identity & qual_num.notna(), qual[0] + _fmt(rounded_qual))
        # SDTMIG: --STRESC of a result that is not a number is the original text; --STRESU
        # is the unit of --STRESC/--STRESN, which a text is not in, so it stays empty.
        stresc = stresc.mask(text, result)
        numeric_test = declared.fillna(False) | units.notna()
        comma = (
            text
            & numeric_test
            & _per_distinct(
                result,
                result,
                lambda r: r.str.fullmatch(r"\s*[-+]?[0-9]*,[0-9]+\s*").fillna(False).astype(bool),
            )
        )
        self.flag(
            work,
            comma,
            code="result-decimal-comma",
            severity="error",
            variable=orres,
            column=col_res,
            values=result,
            message=lambda v: (
                f"result {v!r} has a comma where trialflow reads only a '.' decimal point "
                f"(a decimal comma, or a thousands separator); it is kept as text in {d}STRESC "
                f"with {d}STRESN and {d}STRESU empty, so it is not analysed: write it as a "
                "plain number in the export"
            ),
        )
        self.flag(
            work,
            text & numeric_test & ~comma,
            code="result-not-numeric",
            severity="warning",
            variable=orres,
            column=col_res,
            values=result,
            message=lambda v: (
                f"result {v!r} of a test with numeric results is not a number (a plain "
                "decimal such as 5.2 or 1.2e3, or a limit such as <0.1); it is kept as text "
                f"in {d}STRESC with {d}STRESN and {d}STRESU empty, so it is not analysed"
            ),
        )
        frame[f"{d}STRESC"] = stresc
        frame[f"{d}STRESN"] = (
            rounded.where(factor.notna()).where(~identity, numeric).astype("float64")
        )
        # no unit for a record without a result (reported by orres-missing) or with a text one
        in_unit = (factor.notna() | undeclared) & has & ~text
        frame[f"{d}STRESU"] = std_unit.where(in_unit).astype("str")
        derived = f"derived: {orres} in the standard unit ({orresu} and spec units)"
        for name in ("STRESC", "STRESN", "STRESU"):
            work.lineage[f"{d}{name}"] = pd.Series(derived, index=frame.index)
        for lo_hi in ("LO", "HI"):
            orig_col = f"{d}ORNR{lo_hi}"
            if orig_col in frame:
                value = parse_decimal(frame[orig_col])
                self.flag(
                    work,
                    frame[orig_col].notna() & value.isna(),
                    code="value-not-numeric",
                    severity="error",
                    variable=f"{d}STNR{lo_hi}",
                    column=work.lineage.get(orig_col),
                    values=frame[orig_col],
                    message=lambda v, name=f"{d}STNR{lo_hi}", orig=orig_col: (
                        f"{name} is numeric in SDTMIG; {orig} {v!r} is not a plain decimal "
                        f"number, so {name} is left empty ({orig} keeps it)"
                    ),
                )
                frame[f"{d}STNR{lo_hi}"] = _round(value * factor, digits).where(~identity, value)
                work.lineage[f"{d}STNR{lo_hi}"] = pd.Series(
                    f"derived: {orig_col} in the standard unit", index=frame.index
                )
        assert len(frame) == n

    def unconvertible(self, domain: str, test: str) -> Callable[[str | None], str]:
        """The message of ``unit-not-convertible`` for one test: the spec line of its units
        entry, its standard unit and the conversion to add."""
        unit = self.study.domains[domain].units[test]
        key = f"units.{test}"
        line = key_line(self.study, domain, key)
        file = self.study.files[domain]
        where = f"{file}:{line}" if line else str(file)

        def message(value: str | None) -> str:
            entry = flow({value: {"divide": "F"}}, None)
            fix = (
                f"{entry[1:-1]} (or multiply: F) to the convert of {key}"
                if unit.convert
                else f"convert: {entry} (or multiply: F) under {key}"
            )
            return (
                f"{test} result in unit {value!r}, which has no conversion to the standard unit "
                f"{unit.standard!r} under {key} ({where}); standard result left empty. Add "
                f"{fix} in {file.name}"
            )

        return message

    # --- passes 2 and 3: derived -------------------------------------------------------------

    def derived_pass(self, work: _Work, works: dict[str, _Work]) -> None:
        for i, var in enumerate(work.spec.variables):
            if var.method not in RAW_METHODS:
                self.apply_derived(work, works, i, var)

    def dm_frame(self, works: dict[str, _Work], domain: str, i: int) -> pd.DataFrame:
        if "DM" not in works:
            raise self.spec_error(
                domain, i, "method", "this derivation needs DM in study.yaml domains"
            )
        return works["DM"].frame

    def dm_values(
        self, works: dict[str, _Work], frame: pd.DataFrame, variable: str, domain: str, i: int
    ) -> pd.Series:
        dm = self.dm_frame(works, domain, i)
        if variable not in dm:
            raise self.spec_error(
                domain, i, None, f"needs DM.{variable}, which dm.yaml does not derive"
            )
        lookup = dm.drop_duplicates("USUBJID").set_index("USUBJID")[variable]
        return frame["USUBJID"].map(lookup)

    def apply_derived(
        self, work: _Work, works: dict[str, _Work], i: int, var: VariableSpec
    ) -> None:
        frame, d = work.frame, work.spec.domain
        method = var.method

        def need(column: str, key: str) -> None:
            if column not in frame:
                raise self.spec_error(d, i, key, f"{column} is not mapped before {var.name}")

        if method == "usubjid":
            values, lin = frame["USUBJID"], f"spec: STUDYID + {work.spec.source.subject}"
        elif method == "subject_id":
            values, lin = frame[work.spec.source.subject].astype("str"), work.spec.source.subject
        elif method == "decode_ct":
            source = str(var.from_)
            need(source, "from")
            values = self.decode(d, i, source, var.codelist or "", frame[source])
            self.flag(
                work,
                frame[source].notna() & values.isna(),
                code="ct-decode-missing",
                severity="error",
                variable=var.name,
                column=work.lineage.get(source),
                values=frame[source],
                message=lambda v: f"{source} {v!r} has no matching term in codelist {var.codelist}",
            )
            lin = f"derived: {var.codelist} term of {source}"
        elif method == "assign_visit":
            values, lin = self.visitnum(work, i, var), str(var.raw)
        elif method == "visit_name":
            need("VISITNUM", "method")
            values, lin = self.visit_names(frame["VISITNUM"]), "derived: from VISITNUM"
        elif method == "study_day":
            need(str(var.date), "date")
            ref = self.dm_values(works, frame, "RFSTDTC", d, i)
            values, lin = (
                derive.study_day(frame[str(var.date)], ref),
                f"derived: {var.date} - DM.RFSTDTC",
            )
        elif method == "epoch":
            need(str(var.date), "date")
            eps = [e.model_dump(by_alias=True) for e in self.study.spec.epochs]
            if not eps:
                raise self.spec_error(d, i, "method", "study.yaml declares no epochs")
            names = {e[k] for e in eps for k in ("before", "from", "to", "after") if e.get(k)}
            bounds = pd.DataFrame(
                {n: self.dm_values(works, frame, n, d, i) for n in names}, index=frame.index
            )
            values = derive.epoch(frame[str(var.date)], bounds, eps)
            lin = f"derived: {var.date} against the study.yaml epochs"
        elif method == "last_obs_before_exposure":
            for c in [str(var.date), str(var.result), *(var.by or [])]:
                need(c, "by")
            ref = self.dm_values(works, frame, "RFXSTDTC", d, i)
            values = derive.last_obs_before_exposure(
                frame, date=str(var.date), result=str(var.result), by=var.by or [], reference=ref
            )
            lin = f"derived: last {var.result} before DM.RFXSTDTC"
        elif method == "total_daily_dose":
            values, lin = self.total_daily_dose(work, i, var)
        elif method == "normal_range_indicator":
            for c in (str(var.result), str(var.low), str(var.high)):
                need(c, "result")
            values = derive.normal_range_indicator(
                frame[str(var.result)], frame[str(var.low)], frame[str(var.high)]
            )
            lin = f"derived: {var.result} against {var.low}/{var.high}"
        elif method == "seq":
            keys = var.order or seq_keys(d, frame)
            values, lin = derive.seq(frame, keys), f"derived: order of {', '.join(keys)}"
        elif method == "reference_date":
            rule = var if var.from_ is not None else self.study.spec.reference_dates.get(var.name)
            if rule is None:
                raise self.spec_error(
                    d, i, "method", f"study.yaml has no reference_dates.{var.name} (and no from)"
                )
            sources = [rule.from_] if isinstance(rule.from_, str) else list(rule.from_ or [])
            frames, names = [], []
            for ref in sources:
                dom, _, name = ref.partition(".")
                if dom not in works:
                    raise self.spec_error(d, i, "from", f"{dom} is not among the study's domains")
                if name not in works[dom].frame:
                    raise self.spec_error(d, i, "from", f"{dom}.{name} is not mapped")
                frames.append(works[dom].frame)
                names.append(name)
            chosen = derive.reference_dates(frames, names, str(rule.pick))
            values = frame["USUBJID"].map(chosen).astype("str")
            lin = f"derived: {rule.pick} of {', '.join(sources)}"
        elif method == "age":
            need(str(var.birth), "birth")
            need(str(var.at), "at")
            values = derive.age_in_years(frame[str(var.birth)], frame[str(var.at)])
            self.flag(
                work,
                values.isna() & frame[str(var.birth)].notna(),
                code="age-not-derivable",
                severity="warning",
                variable=var.name,
                column=work.lineage.get(str(var.birth)),
                values=frame[str(var.birth)],
                message=lambda v: (
                    f"AGE left empty: {var.birth} {v!r} or {var.at} is not a complete date"
                ),
            )
            lin = f"derived: years from {var.birth} to {var.at}"
        elif method in ("arm", "actual_arm"):
            arms = self.study.spec.arms
            planned_var = str(var.field).upper()
            if len(arms) > 1 and (method == "arm" or planned_var not in frame):
                raise self.spec_error(
                    d,
                    i,
                    "method",
                    "study.yaml has several arms: map ARMCD and ARM from the raw randomisation "
                    "column with assign_ct"
                    + (f", listed before {var.name}" if method == "actual_arm" else " instead"),
                )
            if len(arms) > 1:
                values = frame[planned_var].astype("str")
                lin = f"derived: {planned_var}"
            else:
                planned = getattr(arms[0], str(var.field))
                values = pd.Series(planned, index=frame.index, dtype="str")
                lin = f"spec: study.yaml arms {var.field}"
            if method == "actual_arm":
                treated = self.treated(works, frame, d, i, var)
                values = values.where(treated, var.untreated)
                lin = f"derived: planned arm when the subject has {var.exposure or 'EX'} records"
        elif method == "arm_null_reason":
            need("ARMCD", "method")
            treated = self.treated(works, frame, d, i, var)
            assigned = frame["ARMCD"].astype("str").fillna("").str.strip() != ""
            codelist = metadata.domain_variables(d).set_index("name")["codelist"].get(var.name)
            if isinstance(codelist, str) and codelist:
                terms = self.term_map(codelist, d, i).terms
                for key in ("unassigned", "untreated"):
                    if getattr(var, key) not in terms:
                        raise self.spec_error(
                            d, i, key, f"{getattr(var, key)!r} is not a term of codelist "
                            f"{codelist} ({var.name})",
                        )  # fmt: skip
            values = pd.Series(pd.NA, index=frame.index, dtype="str")
            values = values.mask(~assigned, str(var.unassigned))
            values = values.mask(assigned & ~treated, str(var.untreated))
            lin = (
                f"derived: {var.unassigned} without ARMCD, {var.untreated} without "
                f"{var.exposure or 'EX'} records"
            )
        else:  # pragma: no cover - the spec model lists every method
            raise self.spec_error(d, i, "method", f"method {method} is not available here")
        frame[var.name] = values
        work.lineage[var.name] = pd.Series(lin, index=frame.index) if isinstance(lin, str) else lin

    def treated(
        self, works: dict[str, _Work], frame: pd.DataFrame, d: str, i: int, var: VariableSpec
    ) -> pd.Series:
        """Rows of subjects with records in the exposure domain (``exposure``, default EX)."""
        exposure = var.exposure or "EX"
        if exposure not in works:
            raise self.spec_error(d, i, "exposure", f"{exposure} is not among the study's domains")
        return _isin(frame["USUBJID"], works[exposure].frame["USUBJID"].unique())

    def total_daily_dose(
        self, work: _Work, i: int, var: VariableSpec
    ) -> tuple[pd.Series, pd.Series]:
        """--DOSTOT from the dose and the per_day table of the frequency's terms.

        Each per_day and not_daily term must be a term of the frequency variable's codelist
        (a spec error names the key otherwise). A frequency the table does not list (and that
        not_daily does not name) is a dose-total-not-derivable notice naming the raw cell.
        """
        frame, d = work.frame, work.spec.domain
        dose, freq = str(var.dose), str(var.frequency)
        for col, key in ((dose, "dose"), (freq, "frequency")):
            if col not in frame:
                raise self.spec_error(d, i, key, f"{col} is not mapped before {var.name}")
        per_day = dict(var.per_day or {})
        not_daily = list(var.not_daily or [])
        known = metadata.domain_variables(d)
        row = known.loc[known["name"] == freq, "codelist"]
        codelist = str(row.iloc[0]) if len(row) and pd.notna(row.iloc[0]) else None
        if codelist:
            terms = self.term_map(codelist, d, i).terms
            for key, names in (("per_day", list(per_day)), ("not_daily", not_daily)):
                for name in names:
                    if name not in terms:
                        raise self.spec_error(
                            d,
                            i,
                            f"{key}.{name}" if key == "per_day" else key,
                            f"{name!r} is not a term of codelist {codelist} ({freq}); use its "
                            "submission value (trialflow ct search TEXT)",
                        )
        values = derive.total_daily_dose(frame[dose], frame[freq], per_day)
        listed = _isin(frame[freq], [*per_day, *not_daily])
        self.flag(
            work,
            (frame[freq].notna() & ~listed).fillna(False).astype(bool),
            code="dose-total-not-derivable",
            severity="notice",
            variable=var.name,
            column=work.lineage.get(freq),
            values=frame[freq],
            message=lambda v: (
                f"{var.name} left empty: {freq} {v!r} has no administrations a day in the "
                f"spec's per_day table; add it to per_day (or to not_daily when it has no "
                "daily total)"
            ),
        )
        lin = (
            f"derived: {dose} x administrations a day of {freq} ("
            + frame[freq].astype("str").map({k: f"{v:g}" for k, v in per_day.items()})
            + ")"
        )
        return values, lin.fillna("derived: no daily total")

    def decode(
        self, domain: str, i: int, source: str, codelist: str, values: pd.Series
    ) -> pd.Series:
        try:
            target = metadata.codelist(codelist)
            variables = metadata.domain_variables(domain).set_index("name")["codelist"]
            source_name = variables.get(source)
            source_name = source if source_name is None or pd.isna(source_name) else source_name
            source_cl = metadata.codelist(str(source_name))
        except metadata.MetadataError as exc:
            raise self.spec_error(domain, i, "codelist", str(exc)) from None
        by_code = target.terms.dropna(subset=["term_code"]).drop_duplicates("term_code")
        by_code = by_code.set_index("term_code")["term"]
        src_terms = source_cl.terms.dropna(subset=["term_code"]).drop_duplicates("term")
        code_of = src_terms.set_index("term")["term_code"]
        return values.map(code_of).map(by_code).astype("str")

    def visitnum(self, work: _Work, i: int, var: VariableSpec) -> pd.Series:
        frame, d = work.frame, work.spec.domain
        col = str(var.raw)
        schedule = self.study.spec.visits
        table: dict[str, float] = {}
        for v in schedule:
            table[v.visit.casefold()] = v.visitnum
            for text in v.collected:
                table[str(text).strip().casefold()] = v.visitnum
        unsched = self.study.spec.unscheduled
        unsched_labels = {str(t).strip().casefold() for t in (unsched.collected if unsched else [])}
        raw_labels = frame[col].astype("str")
        # casefold has no Arrow kernel: one Python call per distinct label, not per record
        labels = _per_distinct(raw_labels, raw_labels, lambda t: t.str.strip().str.casefold())
        planned = labels.map(table).astype("float64")
        is_unsched = labels.isin(unsched_labels).fillna(False).astype(bool)
        unknown = frame[col].notna() & planned.isna() & ~is_unsched
        self.flag(
            work,
            unknown,
            code="visit-unmapped",
            severity="error",
            variable="VISITNUM",
            column=col,
            values=frame[col],
            message=lambda v: (
                f"visit {v!r} is not a planned visit or unscheduled label in "
                "study.yaml; VISITNUM left empty"
            ),
        )
        if var.date is not None and var.date in frame:
            self.check_windows(work, planned, frame[var.date], col)
        if not is_unsched.any():
            return planned
        date_col = var.date
        if date_col is None or date_col not in frame:
            raise self.spec_error(d, i, "date", "unscheduled visits need the record date (date:)")
        day = derive.date_part(frame[date_col])
        known = pd.DataFrame({"USUBJID": frame["USUBJID"], "DAY": day, "NUM": planned})
        known = known.dropna().sort_values("DAY")
        known["NUM"] = known.groupby("USUBJID")["NUM"].cummax()
        target = pd.DataFrame({"USUBJID": frame["USUBJID"], "DAY": day})
        target = target.loc[is_unsched & day.notna()].sort_values("DAY")
        undated = is_unsched & day.isna()
        self.flag(
            work,
            undated,
            code="visit-unscheduled-undated",
            severity="error",
            variable="VISITNUM",
            column=col,
            values=frame[col],
            message=lambda v: f"unscheduled visit {v!r} has no complete date; VISITNUM left empty",
        )
        if target.empty:
            return planned
        prev = pd.merge_asof(
            target.reset_index(), known, on="DAY", by="USUBJID", direction="backward"
        ).set_index("index")
        prev["NUM"] = prev["NUM"].fillna(0.0)
        prev["K"] = prev.groupby(["USUBJID", "NUM"])["DAY"].rank(method="dense")
        return planned.fillna(sas_round(prev["NUM"] + prev["K"] / 100, 2))

    def check_windows(self, work: _Work, planned: pd.Series, dates: pd.Series, col: str) -> None:
        """Report planned visits dated outside their window (planned day +/- window).

        Planned days count from the subject's day-0 visit (the schedule's visit with day 0);
        subjects without a dated day-0 visit are not checked.
        """
        schedule = self.study.spec.visits
        origin = [v.visitnum for v in schedule if v.day == 0]
        if not origin:
            return
        day = derive.date_part(dates)
        anchor = (
            pd.DataFrame({"USUBJID": work.frame["USUBJID"], "DAY": day})
            .loc[(planned == origin[0]) & day.notna()]
            .groupby("USUBJID")["DAY"]
            .min()
        )
        actual = (day - work.frame["USUBJID"].map(anchor)).dt.days
        target = planned.map({v.visitnum: v.day for v in schedule})
        width = planned.map({v.visitnum: v.window for v in schedule if v.window is not None})
        outside = (actual - target).abs() > width
        labels = planned.map({v.visitnum: v.visit for v in schedule})
        text = pd.Series(
            labels.astype("str")
            + " on day "
            + actual.astype("Int64").astype("str")
            + " (planned "
            + target.astype("Int64").astype("str")
            + " +/- "
            + width.astype("Int64").astype("str")
            + ")",
            index=work.frame.index,
        )
        self.flag(
            work,
            outside.fillna(False).astype(bool),
            code="visit-out-of-window",
            severity="warning",
            variable="VISITNUM",
            column=col,
            values=text,
            message=lambda v: f"{v} after the day-0 visit: outside the window in study.yaml",
        )

    def visit_names(self, visitnum: pd.Series) -> pd.Series:
        names = {v.visitnum: v.visit for v in self.study.spec.visits}
        out = visitnum.map(names).astype("str")
        unsched = self.study.spec.unscheduled
        label = unsched.visit if unsched else "UNSCHEDULED"
        other = visitnum.notna() & out.isna()
        written = {v: format_fixed(v, 2) for v in visitnum[other].unique()}  # a few visits
        text = label + " " + visitnum.map(written).astype("str")
        return out.mask(other, text)

    # --- final assembly ----------------------------------------------------------------------

    def finish(self, work: _Work) -> tuple[pd.DataFrame, pd.DataFrame]:
        d, frame = work.spec.domain, work.frame
        meta = metadata.domain_variables(d)
        frame["STUDYID"] = self.study.studyid
        frame["DOMAIN"] = d
        work.lineage["STUDYID"] = pd.Series("spec: study.yaml studyid", index=frame.index)
        work.lineage["DOMAIN"] = pd.Series("spec: domain", index=frame.index)
        work.lineage["USUBJID"] = pd.Series(
            f"spec: STUDYID + {work.spec.source.subject}", index=frame.index
        )
        mapped = ["STUDYID", "DOMAIN", "USUBJID"] + [v.name for v in work.spec.variables]
        if d in self.dictionaries:
            mapped += list(self.dictionaries[d]["variables"])  # type: ignore[arg-type]
        if work.spec.source.transpose:
            t = work.spec.source.transpose
            mapped += [t.result, *{n for v in t.columns.values() for n in v}]
        if work.spec.units:
            mapped += [f"{d}STRESC", f"{d}STRESN", f"{d}STRESU"]
            mapped += [f"{d}STNR{x}" for x in ("LO", "HI") if f"{d}ORNR{x}" in frame]
        known = meta["name"].tolist()
        # SDTMIG: Expected variables are included even when nothing was collected for them.
        expected = meta.loc[meta["core"] == "Exp", "name"].tolist()
        absent = [n for n in expected if n not in mapped]
        if absent:
            for name in absent:
                frame[name] = pd.Series(pd.NA, index=frame.index, dtype="str")
                work.lineage[name] = pd.Series(
                    "not collected: Expected, left empty", index=frame.index
                )
            mapped += absent
            self.findings.append(
                Finding(
                    "expected-variable-empty",
                    "notice",
                    f"{len(absent)} Expected variables have no mapping and are included empty, "
                    f"as the SDTMIG asks: {', '.join(absent)}",
                    dataset=d,
                )
            )
        order = [n for n in known if n in mapped]
        extra = [n for n in dict.fromkeys(mapped) if n not in known]
        for name in extra:
            self.findings.append(
                Finding(
                    "variable-not-in-sdtmig",
                    "warning",
                    f"{name} is not a {d} variable of SDTMIG {metadata.SDTMIG_VERSION}; it is kept "
                    "after the standard variables (consider SUPP{d})".replace("{d}", d),
                    dataset=d,
                    variable=name,
                )
            )
        columns = order + extra
        types = meta.set_index("name")["type"].to_dict()
        out = pd.DataFrame(index=frame.index)
        for name in columns:
            values = frame[name]
            if types.get(name) == "Num":
                if values.dtype == "str" or values.dtype == object:
                    numbers = parse_decimal(values)
                    bad = values.notna() & numbers.isna()
                    self.flag(
                        work,
                        bad,
                        code="value-not-numeric",
                        severity="error",
                        variable=name,
                        column=work.lineage.get(name),
                        values=values,
                        message=lambda v, name=name: (
                            f"{name} is numeric in SDTMIG; {v!r} is not a number and is left empty"
                        ),
                    )
                    values = numbers
                out[name] = values.astype("float64")
            else:
                out[name] = values.astype("str") if values.dtype != "str" else values
        keys = ["USUBJID", *[k for k in metadata.domain_keys(d) if k != "STUDYID"]]
        seq_var = f"{d}SEQ"
        if seq_var in out:
            keys = ["USUBJID", seq_var]
        sortable = out.assign(**{ROW: frame[ROW]})
        order_index = derive.sort_order(sortable, keys)
        out = out.loc[order_index]
        record_of = pd.Series(np.arange(1, len(out) + 1), index=order_index)
        for label, finding in work.pending:
            self.findings.append(dataclasses.replace(finding, record=int(record_of[label])))
        work.pending = []
        lineage = pd.DataFrame(
            {
                "dataset": d,
                "record": np.arange(1, len(out) + 1),
                "usubjid": out["USUBJID"].to_numpy(),
                "seq": out[seq_var].to_numpy() if seq_var in out else np.nan,
                "source_file": work.sheet.file,
                "source_sheet": work.sheet.sheet,
                "source_row": frame.loc[order_index, ROW].to_numpy(),
            }
        )
        same_index = frame.index.is_unique
        positions = frame.index.get_indexer(order_index) if same_index else None
        for name in columns:
            lin = work.lineage.get(name)
            if lin is None:
                lineage[name] = None
            elif (
                lin.dtype == "str"
                and same_index
                and lin.index.equals(frame.index)
                and lin.notna().any()
            ):
                # taken as text, without a round trip through Python objects
                lineage[name] = pd.Series(lin.array.take(positions), index=lineage.index)
            else:
                lineage[name] = lin.loc[order_index].to_numpy()
        out = out.reset_index(drop=True)
        if work.spec.supp:
            self.supp(work, out, frame.loc[order_index, ROW].to_numpy(), order_index)
        return out, lineage

    def supp(
        self, work: _Work, parent: pd.DataFrame, rows: np.ndarray, order_index: pd.Index
    ) -> None:
        """SUPP<domain> from the spec's supp entries: one record per parent record and entry
        whose raw value is not empty, pointing at the parent by --SEQ (DM: by USUBJID alone)."""
        d = work.spec.domain
        seq_var = f"{d}SEQ"
        listed = set(metadata.domain_variables(d)["name"]) | set(parent.columns)
        for i, entry in enumerate(work.spec.supp):
            if entry.qnam in listed:
                raise SpecError(
                    str(self.study.files[d]),
                    self.study.line(f"supp[{i}].qnam", d),
                    f"supp[{i}].qnam",
                    f"{entry.qnam} is a variable of {d}; a supplemental qualifier needs a name "
                    f"that is not (rename qnam)",
                )
        if d != "DM" and seq_var not in parent:
            raise SpecError(
                str(self.study.files[d]),
                self.study.line("supp", d),
                "supp",
                f"SUPP{d} records point at their {d} record by {seq_var}; add "
                f"{{name: {seq_var}, method: seq}} to variables",
            )
        raw = work.raw if work.raw is not None else work.frame
        parts, lineages = [], []
        for entry in work.spec.supp:
            qval = m.assign_no_ct(raw, entry.raw).loc[order_index].to_numpy()
            keep = pd.notna(qval) & (pd.Series(qval, dtype="str").str.strip() != "").to_numpy()
            n = int(keep.sum())
            if d == "DM":
                idvar, idvarval = pd.NA, pd.Series(pd.NA, index=range(n), dtype="str")
            else:
                idvar = seq_var
                idvarval = parent.loc[keep, seq_var].map(lambda v: format_fixed(v, 0)).astype("str")
            part = pd.DataFrame(
                {
                    "STUDYID": self.study.studyid,
                    "RDOMAIN": d,
                    "USUBJID": parent.loc[keep, "USUBJID"].to_numpy(),
                    "IDVAR": idvar,
                    "IDVARVAL": idvarval.to_numpy(),
                    "QNAM": entry.qnam,
                    "QLABEL": entry.qlabel,
                    "QVAL": qval[keep],
                    "QORIG": entry.qorig,
                    "QEVAL": entry.qeval or pd.NA,
                    ROW: rows[keep],
                },
                index=range(n),
            )
            parts.append(part)
            lineages.append(
                pd.DataFrame(
                    {
                        "QNAM": f"spec: supp qnam ({entry.qnam})",
                        "QLABEL": "spec: supp qlabel",
                        "QVAL": entry.raw,
                        "QORIG": "spec: supp qorig",
                        "QEVAL": "spec: supp qeval",
                    },
                    index=range(n),
                )
            )
        frame = pd.concat(parts, ignore_index=True)
        lin = pd.concat(lineages, ignore_index=True)
        for name in SUPP_VARIABLES:
            frame[name] = frame[name].astype("str")
        # SDTMIG order: by the parent record (subject, --SEQ), then QNAM as the entries list them
        order = np.lexsort(
            (
                np.arange(len(frame)),
                pd.to_numeric(frame["IDVARVAL"]).fillna(0).to_numpy(),
                frame["USUBJID"].to_numpy(),
            )
        )
        frame, lin = (
            frame.iloc[order].reset_index(drop=True),
            lin.iloc[order].reset_index(drop=True),
        )
        name = f"SUPP{d}"
        lineage = pd.DataFrame(
            {
                "dataset": name,
                "record": np.arange(1, len(frame) + 1),
                "usubjid": frame["USUBJID"].to_numpy(),
                "seq": pd.to_numeric(frame["IDVARVAL"]).to_numpy(),
                "source_file": work.sheet.file,
                "source_sheet": work.sheet.sheet,
                "source_row": frame[ROW].to_numpy(),
                "STUDYID": "spec: study.yaml studyid",
                "RDOMAIN": "spec: domain",
                "USUBJID": f"spec: STUDYID + {work.spec.source.subject}",
                "IDVAR": f"spec: {seq_var}" if d != "DM" else None,
                "IDVARVAL": f"{d}.{seq_var}" if d != "DM" else None,
            }
        )
        for col in lin.columns:
            lineage[col] = lin[col].to_numpy()
        self.supps[name] = (frame[list(SUPP_VARIABLES)], lineage[_SUPP_LINEAGE])


def build_sdtm(
    study: Study,
    export: RawExport,
    *,
    on_issue: OnIssue = "warn",
    progress: Progress | None = None,
) -> SdtmResult:
    """Map a raw export into the SDTM domains of a study.

    Returns the domains (SDTMIG variable order, sorted by keys), their lineage tables and the
    findings. With ``on_issue="stop"`` the first error finding raises FindingsError.

    Example:
        >>> from trialflow.mapping.load import load_study
        >>> from trialflow.pipeline import example_paths
        >>> from trialflow.raw import read_export
        >>> spec, raw = example_paths()
        >>> result = build_sdtm(load_study(spec), read_export(raw), on_issue="none")
        >>> len(result.domains["DM"]), result.lineage["DM"]["source_sheet"].iloc[0]
        (16, 'DEMOG')
    """
    design.check_trial_summary(study)  # a spec error before any data is mapped
    # the next sheets are parsed on another core while this one is mapped
    # (then the sheets no spec reads, reported as unread)
    export.prefetch(study.sheets_read() + export.sheet_names)
    try:
        return _build_sdtm(study, export, on_issue, progress)
    finally:
        export.close()


def _build_sdtm(
    study: Study, export: RawExport, on_issue: OnIssue, progress: Progress | None
) -> SdtmResult:
    """:func:`build_sdtm` once its sheets are being read."""
    builder = _Builder(study, export)
    works: dict[str, _Work] = {}
    steps = len(study.domains) + 1 + (study.spec.trial is not None)
    for done, (code, spec) in enumerate(study.domains.items()):
        say(progress, f"mapping {code} from sheet {spec.source.sheet}", stage="mapping",
            done=done, total=steps)  # fmt: skip
        try:
            metadata.domain_variables(code)
        except metadata.MetadataError as exc:
            raise builder.key_error(code, "domain", str(exc)) from None
        works[code] = builder.raw_pass(spec)
    say(progress, "deriving the SDTM variables of each domain", stage="mapping",
        done=len(study.domains), total=steps)  # fmt: skip
    if "DM" in works:
        builder.derived_pass(works["DM"], works)
        dm_subjects = set(works["DM"].frame["USUBJID"].dropna())
        for code, work in works.items():
            if code == "DM":
                continue
            builder.flag(
                work,
                ~_isin(work.frame["USUBJID"], dm_subjects),
                code="subject-not-in-dm",
                severity="error",
                variable="USUBJID",
                column=work.spec.source.subject,
                values=work.frame["USUBJID"],
                message=lambda v: f"subject {v} has no DM record (check the subject number)",
            )
    for code, work in works.items():
        if code != "DM":
            builder.derived_pass(work, works)
    domains, lineage, rows = {}, {}, {}
    for code, work in works.items():
        domains[code], lineage[code] = builder.finish(work)
        rows[f"{work.sheet.sheet}"] = len(work.sheet.frame)
    builder.flag_unmapped_columns()
    builder.flag_unread_sheets()
    for name, (frame, supp_lineage) in builder.supps.items():
        domains[name], lineage[name] = frame, supp_lineage
    if study.spec.trial is not None:
        say(progress, "building the trial design (TS, TA, TE, TV, TI) and SV, SE",
            stage="mapping", done=steps - 1, total=steps)  # fmt: skip
        made, made_lineage, design_findings = design.build_trial_design(study, domains, lineage)
        domains.update(made)
        lineage.update(made_lineage)
        builder.findings += design_findings
    findings = emit(builder.findings, on_issue)
    columns = ["dataset", "source_file", "source_sheet", "source_row", "code", "reason"]
    excluded = pd.concat([pd.DataFrame(columns=columns), *builder.excluded], ignore_index=True)
    return SdtmResult(domains, lineage, findings, rows, excluded, builder.dictionaries)


def seq_keys(domain: str, frame: pd.DataFrame) -> list[str]:
    """The default order of --SEQ: the domain's SDTMIG keys, with the record's date and time
    (--DTC, or --STDTC) right after VISITNUM, so that records of one visit follow the clock
    (a fasting sample at 07:30 before the postprandial one at 10:00).

    Example:
        >>> seq_keys("LB", pd.DataFrame(columns=["LBDTC"]))
        ['STUDYID', 'USUBJID', 'LBTESTCD', 'LBSPEC', 'VISITNUM', 'LBDTC', 'LBTPTREF', 'LBTPTNUM']
    """
    keys = metadata.domain_keys(domain)
    dtc = next((f"{domain}{v}" for v in ("DTC", "STDTC") if f"{domain}{v}" in frame), None)
    if dtc is None or dtc in keys or "VISITNUM" not in keys:
        return keys
    at = keys.index("VISITNUM") + 1
    return [*keys[:at], dtc, *keys[at:]]


def _complete(iso: pd.Series) -> pd.Series:
    """The complete ISO date (YYYY-MM-DD) of each parsed date; NA when partial or missing."""
    return iso.where(iso.str.len() >= 10).str.slice(0, 10)


def _value_text(value: object) -> str:
    """A listed condition value as the cell text it is compared with (1.0 -> '1')."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _fails_text(name: str, test: ColumnTest) -> str:
    """Why a row fails one column's test, in words (``GIVEN is not one of Y, Yes, 1``)."""
    parts = []
    if test.blank:
        parts.append("is not blank")
    if test.filled:
        parts.append("is blank")
    for values, word in ((test.in_, "is not"), (test.not_, "is")):
        if values is not None:
            texts = [_value_text(v) for v in values]
            one = len(texts) == 1
            parts.append(f"{word} {texts[0]}" if one else f"{word} one of {', '.join(texts)}")
    return f"{name} " + " or ".join(parts)


def _where_failures(frame: pd.DataFrame, cond: Condition) -> list[tuple[str, pd.Series]]:
    """Each key of a condition, in the spec's order, with why a row fails it and the rows that
    fail it (``any`` is one key: none of its conditions holds)."""
    out = []
    for name, test in cond.columns.items():
        alone = cond.model_copy(update={"columns": {name: test}, "any_": None})
        out.append((_fails_text(name, test), ~m.condition_mask(frame, alone)))
    if cond.any_:
        alone = cond.model_copy(update={"columns": {}})
        either = " or ".join(p.describe() for p in cond.any_)
        out.append((f"none of ({either}) holds", ~m.condition_mask(frame, alone)))
    return out


def _round(values: pd.Series, digits: pd.Series) -> pd.Series:
    """Each value rounded as SAS's ROUND does to its own number of decimals.

    Where the spec declares no ``digits``: to 10 significant digits, which drops the binary
    noise of the conversion (5.5 x 331.1 = 1821.0500000000002) and keeps every digit the
    data have.
    """
    declared = sas_round(values, digits)
    return declared.where(digits.notna(), sas_round(values, significant=10))


def _fmt(values: pd.Series) -> pd.Series:
    """Shortest text of floats without a trailing .0 (7.0 -> '7', 7.25 -> '7.25')."""
    # each distinct number (told apart by its bits, so -0.0 is not 0.0) written once
    numbers = values.to_numpy(dtype="float64")
    keys = pd.Series(numbers.view("int64"), index=values.index)
    return _per_distinct(keys, pd.Series(numbers, index=values.index, name=values.name), _fmt_each)


def _fmt_each(values: pd.Series) -> pd.Series:
    text = values.astype("str")
    return text.str.replace(r"\.0$", "", regex=True).where(values.notna())


def _isin(values: pd.Series, among: Any) -> pd.Series:
    """``values.isin(among)``, the members made an Arrow array once.

    For text values pandas turns each member into an Arrow scalar on every call (10,000
    subject ids, once per domain); missing members match missing values, as there.
    """
    members = list(among)
    if values.dtype != "str" or not all(isinstance(v, str) or pd.isna(v) for v in members):
        return values.isin(members)
    if not members:
        return pd.Series(False, index=values.index, name=values.name)
    chunks = values.array._pa_array  # type: ignore[attr-defined]
    value_set = pa.array(members, type=chunks.type, from_pandas=True)
    found = np.array(pc.is_in(chunks, value_set=value_set), dtype=np.bool_)
    return pd.Series(found, index=values.index, name=values.name)


def _per_distinct(keys: pd.Series, values: Any, each: Callable[[pd.Series], Any]) -> Any:
    """``each(values)`` computed once per distinct key and spread back to every row.

    ``keys`` tell the rows apart (a missing key is a missing value); ``values`` (array-like,
    aligned with ``keys``) are what ``each`` is given, a Series with ``keys``' index; ``each``
    returns a Series or DataFrame with one row per value. Values repeat a lot (results, units,
    dates), and a pattern with ``\\s`` makes pandas call Python's re once per value.
    """
    codes, uniques = pd.factorize(keys)
    values = pd.Series(values, index=keys.index) if not isinstance(values, pd.Series) else values
    if len(uniques) * 2 > len(keys):
        return each(values)
    first = np.full(len(uniques), -1, dtype=np.int64)
    seen = codes >= 0
    first[codes[seen][::-1]] = np.flatnonzero(seen)[::-1]  # a row holding each distinct key
    missing = np.flatnonzero(~seen)
    sample = np.concatenate([first, missing[:1]])
    done = each(values.iloc[sample].reset_index(drop=True))
    at = np.where(seen, codes, len(uniques))
    taken = done.take(at)
    taken.index = keys.index
    return taken
