"""Write the sheets of a raw export in the other shapes EDC systems deliver.

:func:`write_layout` writes the frames of :func:`trialflow.synth.synthesize` (or any sheets of
the same kind) as

* ``workbook``: one .xlsx workbook, one sheet per form (as ``write_workbook`` writes it);
* ``flat-csv``: one CSV file with every form: a ``FORM`` column naming the form, an
  ``INSTANCE`` column numbering the records of a repeating form within the subject (blank for a
  form with one record a subject), then every form's columns;
* ``odm``: one CDISC ODM 1.3 XML file (metadata and clinical data; see docs/raw-export.md);
* ``sas``: a folder with one SAS XPORT (version 8) dataset per form, ``demog.xpt`` ...

Every layout carries the same values: each cell is written as the text the workbook reader
gives for it (numbers in their shortest form, date cells as ISO 8601), except that the ODM and
SAS layouts write a date column whose values are all complete dates as dates (ISO 8601 in ODM,
numeric SAS dates with format DATE9. in SAS), as EDC systems do. Columns holding partial dates
(``UN-MAR-2009``) stay text. The README sheet becomes the ODM study description, a README.txt
in the SAS folder, and is left out of the flat CSV (whose every row is a form record).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from trialflow.raw import cell_text

__all__ = ["LAYOUTS", "write_layout"]

Layout = Literal["workbook", "flat-csv", "odm", "sas"]
LAYOUTS: tuple[str, ...] = ("workbook", "flat-csv", "odm", "sas")
"""The shapes :func:`write_layout` writes."""

FORM_COLUMN = "FORM"
INSTANCE_COLUMN = "INSTANCE"
ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
_FIXED_CREATION = "2000-01-01T00:00:00"
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_DMY = re.compile(r"^(\d{2})-([A-Z]{3})-(\d{4})$")
_YMD = re.compile(r"^(\d{4})/(\d{2})/(\d{2})$")

# How the ODM layout places each form of the example: its study event, and which level
# repeats (the event, the form or the item group) when a subject has several records.
_ODM_EVENTS = {
    "DEMOG": ("SE.SCREENING", None),
    "VITALS": ("SE.VISIT", "event"),
    "LAB": ("SE.LAB", "group"),
    "INFUSION": ("SE.TREATMENT", "form"),
    "AE": ("SE.AE", "group"),
    "DISPOSITION": ("SE.END_OF_STUDY", None),
}


def write_layout(
    sheets: Mapping[str, pd.DataFrame],
    path: str | os.PathLike[str],
    layout: Layout = "workbook",
    subject: str = "SUBJ",
    site: str = "SITE",
) -> Path:
    """Write ``sheets`` in ``layout`` at ``path`` (a file, or a folder for ``sas``).

    ``subject`` names the subject column every form has (the ODM SubjectKey); ``site`` the
    column of the first form that holds the site (the ODM SiteRef). A README sheet is the
    export's description. Existing files at ``path`` are replaced.

    Example:
        >>> from trialflow.synth import synthesize
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "export.xml"
        >>> write_layout(synthesize(subjects=2), out, "odm").name
        'export.xml'
    """
    target = Path(path)
    forms = {name: frame for name, frame in sheets.items() if name != "README"}
    readme = sheets.get("README")
    notes = [] if readme is None else [_regenerate(str(v), layout) for v in readme.iloc[:, 0]]
    if layout == "workbook":
        from trialflow.io.workbook import write_workbook

        return write_workbook(sheets, target)
    if layout == "flat-csv":
        target.write_bytes(_flat_csv(forms, subject).encode("utf-8"))
        return target
    if layout == "odm":
        target.write_bytes(_odm(forms, subject, site, notes).encode("utf-8"))
        return target
    if layout == "sas":
        _sas_folder(forms, target, notes)
        return target
    raise ValueError(f"unknown layout {layout!r} (layouts: {', '.join(LAYOUTS)})")


_OUT = {"flat-csv": "FILE.csv", "odm": "FILE.xml", "sas": "DIR"}
"""What ``--out`` names in each layout's regenerate command."""


def _regenerate(note: str, layout: str) -> str:
    """A README line's ``trialflow synth ... --out FILE.xlsx`` command, for this layout.

    Example:
        >>> _regenerate("Regenerate with: trialflow synth --seed 1 --out FILE.xlsx", "sas")
        'Regenerate with: trialflow synth --seed 1 --layout sas --out DIR'
    """
    if layout not in _OUT or "trialflow synth" not in note:
        return note
    return note.replace("--out FILE.xlsx", f"--layout {layout} --out {_OUT[layout]}")


def _text(frame: pd.DataFrame) -> dict[str, list[str | None]]:
    """Each column as the text the workbook reader gives for its cells."""
    out: dict[str, list[str | None]] = {}
    for name in frame.columns:
        values = frame[name].tolist()
        cache: dict[object, str | None] = {}
        column = []
        for v in values:
            key = (type(v), v) if not _missing(v) else None
            if key not in cache:
                cache[key] = None if key is None else cell_text(_plain(v))
            column.append(cache[key])
        out[str(name)] = column
    return out


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _instances(subjects: list[str | None]) -> list[int]:
    """1, 2, ... for the records of each subject, in order."""
    counts: dict[str | None, int] = {}
    out = []
    for s in subjects:
        counts[s] = counts.get(s, 0) + 1
        out.append(counts[s])
    return out


def _flat_csv(forms: Mapping[str, pd.DataFrame], subject: str) -> str:
    columns: list[str] = [FORM_COLUMN, subject, INSTANCE_COLUMN]
    for frame in forms.values():
        columns += [str(c) for c in frame.columns if str(c) not in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for name, frame in forms.items():
        text = _text(frame)
        instance = _instances(text[subject])
        repeating = max(instance, default=1) > 1
        for i in range(len(frame)):
            row = {FORM_COLUMN: name, INSTANCE_COLUMN: str(instance[i]) if repeating else None}
            row.update({c: text[c][i] for c in text})
            writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return buffer.getvalue()


def _as_date(value: object) -> dt.date | None:
    """A complete date cell or text date (12-JAN-2019, 2019/01/12) as a date; else None."""
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time(0, 0) else None
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    if m := _DMY.match(value.strip().upper()):
        month = _MONTHS.get(m.group(2))
        return dt.date(int(m.group(3)), month, int(m.group(1))) if month else None
    if m := _YMD.match(value.strip()):
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return None


def _date_column(values: pd.Series) -> list[dt.date | None] | None:
    """The column as dates when every value is a complete date (else None)."""
    out: list[dt.date | None] = []
    filled = False
    for v in values.tolist():
        if _missing(v):
            out.append(None)
            continue
        day = _as_date(v)
        if day is None:
            return None
        filled = True
        out.append(day)
    return out if filled else None


def _kinds(frame: pd.DataFrame) -> dict[str, str]:
    """ODM DataType of each column: date, float or text."""
    kinds = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_float_dtype(column.dtype):
            kinds[str(name)] = "float"
        elif column.dtype == object and _date_column(column) is not None:
            kinds[str(name)] = "date"
        else:
            kinds[str(name)] = "text"
    return kinds


def _odm(forms: Mapping[str, pd.DataFrame], subject: str, site: str, notes: list[str]) -> str:
    kinds = {name: _kinds(frame) for name, frame in forms.items()}
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<ODM xmlns="{ODM_NS}" ODMVersion="1.3.2" FileType="Snapshot" '
        f'FileOID="TRIALFLOW.SYNTH" CreationDateTime="{_FIXED_CREATION}">',
        ' <Study OID="S.EXAMPLE">',
        "  <GlobalVariables>",
        "   <StudyName>trialflow synthetic example</StudyName>",
        f"   <StudyDescription>{_escape(' '.join(notes))}</StudyDescription>",
        "   <ProtocolName>trialflow synthetic example</ProtocolName>",
        "  </GlobalVariables>",
        '  <MetaDataVersion OID="MDV.1" Name="Synthetic export">',
    ]
    events = dict.fromkeys(_ODM_EVENTS.get(f, (f"SE.{f}", "group"))[0] for f in forms)
    for event in events:
        repeating = any(
            _ODM_EVENTS.get(f, ("", ""))[0] == event and _ODM_EVENTS[f][1] == "event" for f in forms
        )
        out.append(
            f'   <StudyEventDef OID="{event}" Name="{event[3:]}" '
            f'Repeating="{"Yes" if repeating else "No"}" Type="Scheduled">'
        )
        for form in forms:
            if _ODM_EVENTS.get(form, (f"SE.{form}", ""))[0] == event:
                out.append(f'    <FormRef FormOID="F.{form}" Mandatory="No"/>')
        out.append("   </StudyEventDef>")
    for form in forms:
        level = _ODM_EVENTS.get(form, (None, "group"))[1]
        out.append(
            f'   <FormDef OID="F.{form}" Name="{form}" '
            f'Repeating="{"Yes" if level == "form" else "No"}">'
        )
        out.append(f'    <ItemGroupRef ItemGroupOID="IG.{form}" Mandatory="Yes"/>')
        out.append("   </FormDef>")
    for form, frame in forms.items():
        level = _ODM_EVENTS.get(form, (None, "group"))[1]
        out.append(
            f'   <ItemGroupDef OID="IG.{form}" Name="{form}" '
            f'Repeating="{"Yes" if level == "group" else "No"}">'
        )
        for col in frame.columns:
            if col != subject:
                out.append(f'    <ItemRef ItemOID="IT.{form}.{col}" Mandatory="No"/>')
        out.append("   </ItemGroupDef>")
    for form, frame in forms.items():
        for col in frame.columns:
            if col != subject:
                out.append(
                    f'   <ItemDef OID="IT.{form}.{col}" Name={quoteattr(str(col))} '
                    f'DataType="{kinds[form][str(col)]}"/>'
                )
    out += ["  </MetaDataVersion>", " </Study>"]
    out.append(' <ClinicalData StudyOID="S.EXAMPLE" MetaDataVersionOID="MDV.1">')
    texts = {form: _text(frame) for form, frame in forms.items()}
    dates = {
        form: {c: _date_column(frame[c]) for c, k in kinds[form].items() if k == "date"}
        for form, frame in forms.items()
    }
    order: list[str | None] = []
    rows: dict[str, dict[str | None, list[int]]] = {}
    for form, text in texts.items():
        rows[form] = {}
        for i, s in enumerate(text[subject]):
            rows[form].setdefault(s, []).append(i)
            if s not in order:
                order.append(s)
    first = next(iter(forms), None)
    for s in order:
        out.append(f"  <SubjectData SubjectKey={quoteattr(str(s))}>")
        if first is not None and site in texts[first] and s in rows[first]:
            location = texts[first][site][rows[first][s][0]]
            if location:
                out.append(f"   <SiteRef LocationOID={quoteattr('SITE.' + location)}/>")
        for form, text in texts.items():
            event, level = _ODM_EVENTS.get(form, (f"SE.{form}", "group"))
            records = rows[form].get(s, [])
            if not records:
                continue
            if level == "event":
                for k, i in enumerate(records, 1):
                    out.append(
                        f'   <StudyEventData StudyEventOID="{event}" StudyEventRepeatKey="{k}">'
                    )
                    out.append(f'    <FormData FormOID="F.{form}">')
                    out += _group(form, text, dates[form], i, subject, None)
                    out += ["    </FormData>", "   </StudyEventData>"]
                continue
            out.append(f'   <StudyEventData StudyEventOID="{event}">')
            if level == "form":
                for k, i in enumerate(records, 1):
                    out.append(f'    <FormData FormOID="F.{form}" FormRepeatKey="{k}">')
                    out += _group(form, text, dates[form], i, subject, None)
                    out.append("    </FormData>")
            else:
                out.append(f'    <FormData FormOID="F.{form}">')
                for k, i in enumerate(records, 1):
                    key = str(k) if level == "group" else None
                    out += _group(form, text, dates[form], i, subject, key)
                out.append("    </FormData>")
            out.append("   </StudyEventData>")
        out.append("  </SubjectData>")
    out += [" </ClinicalData>", "</ODM>", ""]
    return "\n".join(out)


def _group(
    form: str,
    text: dict[str, list[str | None]],
    dates: dict[str, list[dt.date | None] | None],
    i: int,
    subject: str,
    repeat: str | None,
) -> list[str]:
    key = f' ItemGroupRepeatKey="{repeat}"' if repeat else ""
    lines = [f'     <ItemGroupData ItemGroupOID="IG.{form}"{key}>']
    for col, values in text.items():
        if col == subject:
            continue
        as_dates = dates.get(col)
        value = values[i] if as_dates is None else _iso(as_dates[i])
        if value is not None:
            lines.append(f'      <ItemData ItemOID="IT.{form}.{col}" Value={quoteattr(value)}/>')
    lines.append("     </ItemGroupData>")
    return lines


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sas_folder(forms: Mapping[str, pd.DataFrame], folder: Path, notes: list[str]) -> None:
    import pyreadstat

    folder.mkdir(parents=True, exist_ok=True)
    for form, frame in forms.items():
        data: dict[str, pd.Series] = {}
        formats: dict[str, str] = {}
        text = _text(frame)
        for col in frame.columns:
            name = str(col)
            column = frame[col]
            if pd.api.types.is_float_dtype(column.dtype):
                data[name] = column.astype("float64").reset_index(drop=True)
                continue
            days = _date_column(column) if column.dtype == object else None
            if days is not None:
                data[name] = pd.Series(days, dtype=object)
                formats[name] = "DATE9"
                continue
            data[name] = pd.Series(["" if v is None else v for v in text[name]], dtype=object)
        target = folder / f"{form.lower()}.xpt"
        pyreadstat.write_xport(
            pd.DataFrame(data),
            str(target),
            file_format_version=8,
            table_name=form[:32],
            variable_format=formats,
        )
    if notes:
        (folder / "README.txt").write_text("\n".join(notes) + "\n", encoding="utf-8")
