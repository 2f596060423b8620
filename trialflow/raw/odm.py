"""Reader of CDISC ODM 1.3 XML clinical data: one sheet per form, one row per item group record.

An ODM file holds the study's metadata (``MetaDataVersion``: ``FormDef``, ``ItemGroupDef``,
``ItemDef``) and its ``ClinicalData``: ``SubjectData`` > ``StudyEventData`` > ``FormData`` >
``ItemGroupData`` > ``ItemData``. Each ``ItemGroupData`` becomes one row of the sheet of its
form. The sheet is named by the ``FormDef`` Name (its OID where the form has no Name, or where
two forms share one); the columns are, in this order:

========================  ===========================================================
``SubjectKey``            SubjectData/@SubjectKey
``SiteRef``               SubjectData/SiteRef/@LocationOID (missing without a SiteRef)
``StudyEventOID``         StudyEventData/@StudyEventOID
``StudyEventRepeatKey``   StudyEventData/@StudyEventRepeatKey (missing if not repeating)
``FormRepeatKey``         FormData/@FormRepeatKey
``ItemGroupOID``          ItemGroupData/@ItemGroupOID
``ItemGroupRepeatKey``    ItemGroupData/@ItemGroupRepeatKey
one column per item       named by the ItemDef Name, or its OID without an ItemDef
========================  ===========================================================

Item columns follow the order of the metadata (FormDef ItemGroupRefs, ItemGroupDef ItemRefs);
items without an ItemDef come after them. Values are text as written in ``ItemData/@Value``
(or the element's text for the typed ``ItemDataString``... forms); ``IsNull="Yes"`` and empty
values are missing. A row is named by its 1-based record number in the form's sheet; messages
add the XML line and the path ``SubjectKey/StudyEventOID[repeat]/FormOID[repeat]/
ItemGroupOID[repeat]``.

Security: the file is parsed with the standard library's expat parser, whose handlers refuse
any document type declaration, entity declaration or external entity, so that no entity is
ever expanded and nothing is fetched. The file size (:data:`trialflow.raw.MAX_FILE_BYTES`),
the element count (:data:`MAX_ELEMENTS`) and the nesting depth (:data:`MAX_DEPTH`) are limited
and checked while parsing, before anything grows past them. A transactional file that removes
data (``TransactionType="Remove"``) is refused: read a snapshot export instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import pandas as pd

from trialflow.errors import RawInputError
from trialflow.raw import ROW, RawSheet, check_cells, check_size, shown_path

__all__ = ["KEY_COLUMNS", "MAX_DEPTH", "MAX_ELEMENTS", "read_odm"]

MAX_ELEMENTS = 100_000_000
"""Largest number of XML elements read from one ODM file."""

MAX_DEPTH = 64
"""Deepest element nesting accepted (ODM clinical data needs fewer than 10 levels)."""

KEY_COLUMNS = (
    "SubjectKey",
    "SiteRef",
    "StudyEventOID",
    "StudyEventRepeatKey",
    "FormRepeatKey",
    "ItemGroupOID",
    "ItemGroupRepeatKey",
)
"""The columns every ODM sheet starts with, naming each record's place in the clinical data."""


class _Refused(Exception):
    """Raised inside expat's handlers to stop parsing with a message."""


@dataclass
class _Record:
    line: int
    keys: tuple[str | None, ...]
    items: dict[str, str | None] = field(default_factory=dict)


@dataclass
class _State:
    form_names: dict[str, str | None] = field(default_factory=dict)
    form_groups: dict[str, list[str]] = field(default_factory=dict)
    group_items: dict[str, list[str]] = field(default_factory=dict)
    item_names: dict[str, str | None] = field(default_factory=dict)
    records: dict[str, list[_Record]] = field(default_factory=dict)
    current_def: tuple[str, str] | None = None
    subject: str | None = None
    site: str | None = None
    event: tuple[str | None, str | None] = (None, None)
    form: tuple[str | None, str | None] = (None, None)
    record: _Record | None = None
    item: str | None = None  # the OID of a typed ItemData element being read
    text: list[str] = field(default_factory=list)
    clinical: bool = False
    root_seen: bool = False


def read_odm(path: Path) -> dict[str, RawSheet]:
    """Read an ODM 1.3 XML file's clinical data: one sheet per form, by the form's name.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "export.xml"
        >>> _ = path.write_text(
        ...     '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><ClinicalData StudyOID="S1">'
        ...     '<SubjectData SubjectKey="01-001"><SiteRef LocationOID="SITE01"/>'
        ...     '<StudyEventData StudyEventOID="SE.V1"><FormData FormOID="LAB">'
        ...     '<ItemGroupData ItemGroupOID="IG.LAB"><ItemData ItemOID="GLUC" Value="7.2"/>'
        ...     '</ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData></ODM>')
        >>> sheets = read_odm(path)
        >>> sheets["LAB"].columns[:2], sheets["LAB"].frame["GLUC"].tolist()
        (['SubjectKey', 'SiteRef'], ['7.2'])
    """
    shown = shown_path(path.name)
    check_size(path, shown)
    state = _State()
    parser = expat.ParserCreate(namespace_separator=" ")
    count = 0
    depth = 0

    def refuse_dtd(*_args: object) -> None:
        raise _Refused("has a document type declaration (DTD), which trialflow does not read")

    def refuse_entity(*_args: object) -> None:
        raise _Refused("declares or uses an XML entity, which trialflow does not read")

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal count, depth
        count += 1
        depth += 1
        if count > MAX_ELEMENTS:
            raise _Refused(f"has more than {MAX_ELEMENTS:,} XML elements")
        if depth > MAX_DEPTH:
            raise _Refused(f"nests XML elements more than {MAX_DEPTH} deep")
        _start(state, name.rsplit(" ", 1)[-1], attrs, parser.CurrentLineNumber)

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        _end(state, name.rsplit(" ", 1)[-1])

    def chars(data: str) -> None:
        if state.item is not None:
            state.text.append(data)

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_entity
    parser.SkippedEntityHandler = refuse_entity
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        with path.open("rb") as handle:
            parser.ParseFile(handle)
    except _Refused as exc:
        raise RawInputError(f"{shown}, line {parser.CurrentLineNumber}: the file {exc}") from None
    except expat.ExpatError as exc:
        raise RawInputError(
            f"{shown}, line {exc.lineno}: not well-formed XML ({expat.errors.messages[exc.code]})"
        ) from None
    if not state.root_seen:
        raise RawInputError(f"{shown}: not a CDISC ODM file (the root element is not ODM)")
    if not state.clinical:
        raise RawInputError(f"{shown}: the ODM file holds no ClinicalData")
    return _sheets(state, shown)


def _start(state: _State, tag: str, attrs: dict[str, str], line: int) -> None:
    if not state.root_seen:
        if tag != "ODM":
            raise _Refused(f"is not CDISC ODM (its root element is {tag}, not ODM)")
        state.root_seen = True
        return
    if attrs.get("TransactionType") == "Remove":
        raise _Refused(
            f"removes data ({tag} TransactionType Remove); trialflow reads snapshot exports, "
            "export the clinical data as a snapshot"
        )
    if tag == "FormDef":
        oid = _oid(attrs, tag)
        state.form_names[oid] = attrs.get("Name") or None
        state.form_groups.setdefault(oid, [])
        state.current_def = (tag, oid)
    elif tag == "ItemGroupDef":
        oid = _oid(attrs, tag)
        state.group_items.setdefault(oid, [])
        state.current_def = (tag, oid)
    elif tag == "ItemGroupRef" and state.current_def and state.current_def[0] == "FormDef":
        state.form_groups[state.current_def[1]].append(attrs.get("ItemGroupOID", ""))
    elif tag == "ItemRef" and state.current_def and state.current_def[0] == "ItemGroupDef":
        state.group_items[state.current_def[1]].append(attrs.get("ItemOID", ""))
    elif tag == "ItemDef":
        state.item_names.setdefault(_oid(attrs, tag), attrs.get("Name") or None)
    elif tag == "ClinicalData":
        state.clinical = True
    elif tag == "SubjectData":
        state.subject = _key(attrs, "SubjectKey", tag)
        state.site = None
    elif tag == "SiteRef":
        state.site = attrs.get("LocationOID") or None
    elif tag == "StudyEventData":
        state.event = (_key(attrs, "StudyEventOID", tag), attrs.get("StudyEventRepeatKey"))
    elif tag == "FormData":
        state.form = (_key(attrs, "FormOID", tag), attrs.get("FormRepeatKey"))
    elif tag == "ItemGroupData":
        if state.form[0] is None:
            raise _Refused("has an ItemGroupData outside a FormData")
        keys = (
            state.subject,
            state.site,
            state.event[0],
            state.event[1],
            state.form[1],
            _key(attrs, "ItemGroupOID", tag),
            attrs.get("ItemGroupRepeatKey"),
        )
        state.record = _Record(line, keys)
        state.records.setdefault(state.form[0], []).append(state.record)
    elif tag.startswith("ItemData") and state.clinical:
        if state.record is None:
            raise _Refused(f"has an {tag} outside an ItemGroupData")
        oid = _key(attrs, "ItemOID", tag)
        if oid in state.record.items:
            raise _Refused(f"gives item {oid} twice in one ItemGroupData")
        if attrs.get("IsNull") == "Yes":
            state.record.items[oid] = None
        elif tag == "ItemData":
            state.record.items[oid] = attrs.get("Value", "").strip() or None
        else:  # typed ItemDataString, ItemDataInteger, ...: the value is the element's text
            state.item = oid
            state.text = []


def _end(state: _State, tag: str) -> None:
    if tag in ("FormDef", "ItemGroupDef"):
        state.current_def = None
    elif tag == "ItemGroupData":
        state.record = None
    elif tag == "FormData":
        state.form = (None, None)
    elif tag == "StudyEventData":
        state.event = (None, None)
    elif tag == "SubjectData":
        state.subject = None
    elif state.item is not None and tag.startswith("ItemData") and state.record is not None:
        state.record.items[state.item] = "".join(state.text).strip() or None
        state.item = None


def _oid(attrs: dict[str, str], tag: str) -> str:
    return _key(attrs, "OID", tag)


def _key(attrs: dict[str, str], name: str, tag: str) -> str:
    value = attrs.get(name)
    if not value:
        raise _Refused(f"has a {tag} without {name}")
    return value


def _sheets(state: _State, shown: str) -> dict[str, RawSheet]:
    names: dict[str, str] = {}
    used = [n for n in state.form_names.values() if n]
    for oid in state.records:
        name = state.form_names.get(oid)
        names[oid] = name if name and used.count(name) == 1 else oid
    taken = list(names.values())
    for oid, name in names.items():
        if taken.count(name) > 1:
            raise RawInputError(f"{shown}: forms {oid} and {name} would both be sheet {name!r}")
    sheets: dict[str, RawSheet] = {}
    for oid, records in state.records.items():
        sheets[names[oid]] = _sheet(state, shown, oid, names[oid], records)
    return sheets


def _sheet(state: _State, shown: str, oid: str, name: str, records: list[_Record]) -> RawSheet:
    declared = [i for g in state.form_groups.get(oid, []) for i in state.group_items.get(g, [])]
    # item groups used without an ItemGroupRef in the FormDef still bring their items
    for group in dict.fromkeys(r.keys[5] for r in records):
        declared += [i for i in state.group_items.get(group, []) if i not in declared]
    order = list(dict.fromkeys(declared))
    extra = dict.fromkeys(i for r in records for i in r.items if i not in order)
    order += list(extra)
    columns: dict[str, str] = {}
    for item in order:
        column = state.item_names.get(item) or item
        if column in KEY_COLUMNS or column in columns.values():
            raise RawInputError(
                f"{shown}, form {name}: item {item} would be column {column!r}, a name "
                "another column already has"
            )
        columns[item] = column
    where = f"{shown}, form {name}"
    check_cells(len(records), len(KEY_COLUMNS) + len(columns), where)
    data: dict[str, list[str | None]] = {
        key: [r.keys[k] for r in records] for k, key in enumerate(KEY_COLUMNS)
    }
    for item, column in columns.items():
        data[column] = [r.items.get(item) for r in records]
    frame = pd.DataFrame(data, dtype="str")
    frame[ROW] = pd.array(range(1, len(records) + 1), dtype="int64")
    paths = [_path(oid, r) for r in records]

    def detail(row: int) -> str | None:
        if 1 <= row <= len(records):
            return f"line {records[row - 1].line}, {paths[row - 1]}"
        return None

    return RawSheet(
        shown,
        name,
        frame,
        [*KEY_COLUMNS, *columns.values()],
        sheet_word="form",
        row_word="record",
        row_detail=detail,
    )


def _path(form: str, record: _Record) -> str:
    subject, _, event, event_repeat, form_repeat, group, group_repeat = record.keys

    def step(oid: str | None, repeat: str | None) -> str:
        return f"{oid}[{repeat}]" if repeat else str(oid)

    steps = [step(event, event_repeat), step(form, form_repeat), step(group, group_repeat)]
    return "/".join([str(subject), *steps])
