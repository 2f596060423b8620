"""Read a define.xml (Define-XML 2.0 or 2.1) into the
:class:`~trialflow.validation.core.DefineMetadata` the define rules compare with the data.

The file is read with limits decided before parsing: at most :data:`MAX_DEFINE_BYTES` bytes
(checked on disk first), no DTD, no entity expansion, no network access and no huge-tree
mode, so a hostile or broken file costs a bounded amount of memory and time. What is read:
each ItemGroupDef (name, label, class, structure, def:leaf file) with its ItemRefs in order
(Mandatory, OrderNumber, KeySequence) joined to their ItemDefs (DataType, Length,
SignificantDigits, label, CodeListRef), each CodeList's terms (CodedValue, ``def:ExtendedValue``)
and whether the CDISC codelist it stands for (its ``nci:ExtCodeID`` alias) is extensible, and
the external dictionaries (``ExternalCodeList``: MedDRA, WHODrug, ... with their versions).

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "define.xml"
    >>> _ = path.write_text(
    ...     '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study><MetaDataVersion>'
    ...     '<ItemGroupDef OID="IG.DM" Name="DM"><ItemRef ItemOID="IT.DM.SEX" Mandatory="Yes"/>'
    ...     '</ItemGroupDef><ItemDef OID="IT.DM.SEX" Name="SEX" DataType="text" Length="1"/>'
    ...     '</MetaDataVersion></Study></ODM>')
    >>> meta, found = read_define(path)
    >>> v = meta.groups["DM"].variables[0]
    >>> (v.name, v.data_type, v.length, v.mandatory, found)
    ('SEX', 'text', 1, True, [])
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from trialflow.errors import Finding, Source
from trialflow.validation.core import (
    DefineCodelist,
    DefineGroup,
    DefineMetadata,
    DefineVariable,
)

__all__ = ["MAX_DEFINE_BYTES", "merge_defines", "read_define"]

MAX_DEFINE_BYTES = 256 * 1024 * 1024
"""The largest define.xml read (256 MB; real ones are a few MB)."""

ODM = "http://www.cdisc.org/ns/odm/v1.3"
_DEF_NAMESPACES = ("http://www.cdisc.org/ns/def/v2.1", "http://www.cdisc.org/ns/def/v2.0")
XLINK = "http://www.w3.org/1999/xlink"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _def(element: etree._Element, name: str) -> str | None:
    """A def: attribute of ``element`` in Define 2.1 or 2.0."""
    for ns in _DEF_NAMESPACES:
        value = element.get(f"{{{ns}}}{name}")
        if value is not None:
            return value
    return None


def _def_child(element: etree._Element, name: str) -> etree._Element | None:
    for ns in _DEF_NAMESPACES:
        found = element.find(f"{{{ns}}}{name}")
        if found is not None:
            return found
    return None


def _description(element: etree._Element) -> str:
    text = element.find(f"{{{ODM}}}Description/{{{ODM}}}TranslatedText")
    return (text.text or "").strip() if text is not None else ""


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip()) if text is not None else None
    except ValueError:
        return None


def _extensible(element: etree._Element, extended: frozenset[str]) -> bool:
    """A codelist is extensible when it has sponsor terms, or the CDISC codelist its
    ``nci:ExtCodeID`` names is."""
    if extended:
        return True
    alias = next(
        (a for a in element.findall(f"{{{ODM}}}Alias") if a.get("Context") == "nci:ExtCodeID"),
        None,
    )
    if alias is None:
        return False
    from trialflow.sdtm import metadata

    try:
        return metadata.codelist_terms(str(alias.get("Name"))).extensible
    except Exception:  # a codelist trialflow's CT subset does not hold: not known extensible
        return False


def _codelists(mdv: etree._Element) -> dict[str, DefineCodelist]:
    out = {}
    for element in mdv.iterfind(f"{{{ODM}}}CodeList"):
        oid = str(element.get("OID"))
        terms, extended = [], []
        for tag in ("CodeListItem", "EnumeratedItem"):
            for item in element.iterfind(f"{{{ODM}}}{tag}"):
                value = item.get("CodedValue")
                if value is None:
                    continue
                terms.append(value)
                if _def(item, "ExtendedValue") == "Yes":
                    extended.append(value)
        external = element.find(f"{{{ODM}}}ExternalCodeList")
        ext = frozenset(extended)
        out[oid] = DefineCodelist(
            oid=oid,
            name=str(element.get("Name") or ""),
            terms=frozenset(terms),
            extended=ext,
            extensible=_extensible(element, ext),
            dictionary=str(external.get("Dictionary") or "") if external is not None else "",
            version=str(external.get("Version") or "") if external is not None else "",
        )
    return out


def read_define(path: str | Path) -> tuple[DefineMetadata | None, list[Finding]]:
    """The metadata of the define.xml at ``path``, or None with a finding when it cannot be read.

    Example:
        >>> import pathlib, tempfile
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "define.xml"
        >>> _ = bad.write_text("<ODM")
        >>> meta, found = read_define(bad)
        >>> meta, [f.code for f in found]
        (None, ['define-unreadable'])
    """
    path = Path(path)
    rel = f"{path.parent.name}/{path.name}"
    size = path.stat().st_size
    if size > MAX_DEFINE_BYTES:
        return None, [
            Finding(
                "define-unreadable",
                "error",
                f"{path} has {size} bytes, more than the {MAX_DEFINE_BYTES} trialflow reads; "
                "it was not compared with the data",
                source=Source(rel),
            )
        ]
    try:
        root = etree.parse(str(path), _parser()).getroot()
    except (etree.XMLSyntaxError, OSError) as exc:
        return None, [
            Finding(
                "define-unreadable",
                "error",
                f"{path} is not well-formed XML ({exc}); it was not compared with the data",
                source=Source(rel),
            )
        ]
    groups: dict[str, DefineGroup] = {}
    dictionaries: list[DefineCodelist] = []
    for mdv in root.iter(f"{{{ODM}}}MetaDataVersion"):
        codelists = _codelists(mdv)
        dictionaries += [c for c in codelists.values() if c.dictionary]
        items = {str(e.get("OID")): e for e in mdv.iterfind(f"{{{ODM}}}ItemDef")}
        for group in mdv.iterfind(f"{{{ODM}}}ItemGroupDef"):
            variables = []
            for ref in group.iterfind(f"{{{ODM}}}ItemRef"):
                item = items.get(str(ref.get("ItemOID")))
                if item is None:
                    continue
                clref = item.find(f"{{{ODM}}}CodeListRef")
                variables.append(
                    DefineVariable(
                        name=str(item.get("Name") or ""),
                        data_type=str(item.get("DataType") or ""),
                        length=_int(item.get("Length")),
                        significant_digits=_int(item.get("SignificantDigits")),
                        mandatory=ref.get("Mandatory") == "Yes",
                        order=_int(ref.get("OrderNumber")),
                        key_sequence=_int(ref.get("KeySequence")),
                        label=_description(item),
                        codelist=codelists.get(str(clref.get("CodeListOID")))
                        if clref is not None
                        else None,
                    )
                )
            cls = _def_child(group, "Class")
            leaf = _def_child(group, "leaf")
            name = str(group.get("Name") or "")
            groups[name] = DefineGroup(
                name=name,
                label=_description(group),
                cls=str(cls.get("Name") or "")
                if cls is not None
                else str(_def(group, "Class") or ""),
                structure=str(_def(group, "Structure") or ""),
                leaf=str(leaf.get(f"{{{XLINK}}}href") or "") if leaf is not None else "",
                variables=tuple(variables),
            )
    return DefineMetadata((rel,), groups, tuple(dictionaries)), []


def merge_defines(metas: list[DefineMetadata]) -> DefineMetadata | None:
    """One DefineMetadata of several define.xml files (SDTM and ADaM of one run).

    Example:
        >>> a = DefineMetadata(("sdtm/define.xml",), {"DM": DefineGroup("DM")})
        >>> b = DefineMetadata(("adam/define.xml",), {"ADSL": DefineGroup("ADSL")})
        >>> sorted(merge_defines([a, b]).groups)
        ['ADSL', 'DM']
    """
    if not metas:
        return None
    out = DefineMetadata()
    for meta in metas:
        out.files += meta.files
        out.groups.update(meta.groups)
        out.dictionaries += meta.dictionaries
        out.covered |= meta.covered
    return out
