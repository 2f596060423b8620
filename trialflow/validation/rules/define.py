"""define.xml against the data: datasets and variables described, types, lengths, order,
labels, keys, mandatory values and the values of codelist-bound variables.

The rules read :attr:`~trialflow.validation.core.Package.define` (what ``trialflow validate``
reads from the define.xml beside the datasets, see :mod:`trialflow.io.define_read`) and report
nothing when there is none. ``define-missing``, ``define-xsd-invalid`` and ``define-unreadable``
are reported while the files are read (:func:`trialflow.io.define.check_define`,
:func:`trialflow.io.define_read.read_define`); they are listed here so that the catalogue
holds every check.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import (
    Dataset,
    DefineGroup,
    DefineVariable,
    Package,
    finding,
    rule,
)
from trialflow.validation.rules.common import (
    distinct_codes,
    fmt,
    hash_codes,
    present,
    report_rows,
    row_codes,
    rows_where,
    spread,
)

_TEXT_TYPES = {
    "text",
    "date",
    "datetime",
    "time",
    "partialDate",
    "partialTime",
    "partialDatetime",
    "incompleteDatetime",
    "durationDatetime",
    "intervalDatetime",
    "URI",
}
_NUMBER_TYPES = {"integer", "float"}


def _described(package: Package) -> Iterator[tuple[Dataset, DefineGroup]]:
    """Each dataset of the package with the define.xml group describing it."""
    define = package.define
    if define is None:
        return
    for ds in package.datasets.values():
        group = define.groups.get(ds.name)
        if group is not None:
            yield ds, group


def _variables(ds: Dataset, group: DefineGroup) -> Iterator[tuple[str, DefineVariable]]:
    """The variables both the data and define.xml have, in data order."""
    for name in ds.variables:
        var = group.variable(name)
        if var is not None:
            yield name, var


def _longest(column: pd.Series) -> int:
    """The longest value of a text column in UTF-8 bytes (0 when all are missing)."""
    array = column.array
    if isinstance(array, pd.arrays.ArrowExtensionArray) or hasattr(array, "_pa_array"):
        import pyarrow.compute as pc

        data = array.__arrow_array__() if hasattr(array, "__arrow_array__") else array._pa_array
        longest = pc.max(pc.binary_length(data)).as_py()
        return int(longest or 0)
    _, distinct = distinct_codes(column)
    return int(distinct.str.encode("utf-8").str.len().max()) if len(distinct) else 0


def _all_filled(column: pd.Series) -> bool:
    """True when no value of ``column`` is missing or blank (quickly, on the Arrow data of
    text columns); False when that is not known."""
    if pd.api.types.is_numeric_dtype(column):
        return not column.isna().any()
    if not hasattr(column.array, "__arrow_array__"):
        return False
    import pyarrow.compute as pc

    data = column.array.__arrow_array__()
    if data.null_count:
        return False
    return not pc.any(pc.equal(pc.utf8_trim_whitespace(data), "")).as_py()


def _stub(name: str) -> Dataset:
    return Dataset(name, pd.DataFrame())


def _reported_by_reader(package: Package) -> list[Finding]:
    """Reported while the files are read (see the module docstring); nothing to do here."""
    return []


rule(
    "define-missing",
    "error",
    "cross",
    checks="A run folder's sdtm/ and adam/ hold a define.xml.",
    why="A submission without define.xml is rejected (FDA technical rejection criterion 1736); "
    "`trialflow export RUN_DIR --format define` writes it.",
    refs=["FDA-TRC-1736"],
)(_reported_by_reader)
rule(
    "define-xsd-invalid",
    "error",
    "cross",
    checks="define.xml is valid against the Define-XML 2.1 XSD (one finding per XSD error, "
    "with its line).",
    why="Review tools read define.xml by its schema; an invalid file is rejected or misread "
    "(FDA technical rejection criterion 1736).",
    refs=["FDA-TRC-1736"],
)(_reported_by_reader)
rule(
    "define-unreadable",
    "error",
    "cross",
    checks="define.xml is well-formed XML of a size trialflow reads (at most 256 MB).",
    why="A define.xml that cannot be parsed describes nothing; the data cannot be compared "
    "with it.",
)(_reported_by_reader)


@rule(
    "define-dataset-missing",
    "error",
    "cross",
    checks="Every dataset read beside a define.xml is described in it (an ItemGroupDef).",
    why="define.xml is the reviewer's table of contents: a dataset not described there has no "
    "documented structure, variables or origins.",
)
def define_dataset_missing(package: Package) -> list[Finding]:
    """Datasets the define.xml does not describe."""
    define = package.define
    if define is None:
        return []
    return [
        finding(
            "define-dataset-missing",
            f"{ds.name} ({', '.join(ds.files) or ds.name}) is not described in define.xml; add "
            "its ItemGroupDef or remove the dataset from the submission.",
            ds,
        )
        for ds in package.datasets.values()
        if ds.name not in define.groups and define.describes(ds)
    ]


@rule(
    "define-dataset-not-on-disk",
    "error",
    "cross",
    checks="Every dataset define.xml describes is in the package.",
    why="define.xml points the reviewer at each dataset's file; a described dataset that is "
    "not submitted is a broken link.",
)
def define_dataset_not_on_disk(package: Package) -> list[Finding]:
    """Datasets described in define.xml that were not read."""
    define = package.define
    if define is None:
        return []
    return [
        finding(
            "define-dataset-not-on-disk",
            f"define.xml describes {name}, but no {group.leaf or name.lower() + '.xpt'} was "
            "read; submit the dataset or remove its ItemGroupDef.",
            _stub(name),
        )
        for name, group in define.groups.items()
        if name not in package.datasets
    ]


@rule(
    "define-variable-missing",
    "error",
    "cross",
    checks="Every variable of a described dataset is described in define.xml (an ItemRef).",
    why="Each submitted variable needs its define.xml metadata (type, length, origin, codelist).",
)
def define_variable_missing(package: Package) -> list[Finding]:
    """Variables of the data that define.xml does not list for their dataset."""
    out = []
    for ds, group in _described(package):
        for name in ds.variables:
            if group.variable(name) is None:
                out.append(
                    finding(
                        "define-variable-missing",
                        f"{ds.name}.{name} is in the data but not in define.xml; add its ItemRef "
                        "and ItemDef.",
                        ds,
                        variable=name,
                    )
                )
    return out


@rule(
    "define-variable-not-in-data",
    "error",
    "cross",
    checks="Every variable define.xml lists for a dataset is in that dataset.",
    why="define.xml must describe the data as submitted; a listed variable that is absent "
    "misleads the reviewer.",
)
def define_variable_not_in_data(package: Package) -> list[Finding]:
    """Variables define.xml lists that the dataset does not have."""
    out = []
    for ds, group in _described(package):
        have = set(ds.variables)
        for var in group.variables:
            if var.name not in have:
                out.append(
                    finding(
                        "define-variable-not-in-data",
                        f"define.xml lists {ds.name}.{var.name}, which the data does not have; "
                        "remove the ItemRef or add the variable.",
                        ds,
                        variable=var.name,
                    )
                )
    return out


@rule(
    "define-datatype-mismatch",
    "error",
    "cross",
    checks="A variable define.xml types as text (or a date/time type) is character in the data; "
    "one typed integer or float is numeric.",
    why="The define.xml DataType tells the reviewer how to read the column; a numeric column "
    "described as text (or the reverse) is misread.",
)
def define_datatype_mismatch(package: Package) -> list[Finding]:
    """Variables whose data type is not the define.xml DataType."""
    out = []
    for ds, group in _described(package):
        for name, var in _variables(ds, group):
            column = ds.frame[name]
            numeric = pd.api.types.is_numeric_dtype(column)
            if var.data_type in _TEXT_TYPES and numeric:
                have = "numeric"
            elif var.data_type in _NUMBER_TYPES and not numeric:
                have = "character"
            else:
                continue
            if not column.notna().any():  # an all-missing column says nothing of its type
                continue
            out.append(
                finding(
                    "define-datatype-mismatch",
                    f"{ds.name}.{name} is {have} in the data but DataType={var.data_type!r} in "
                    "define.xml; make them agree.",
                    ds,
                    variable=name,
                    value=var.data_type,
                )
            )
    return out


@rule(
    "define-length-too-short",
    "error",
    "cross",
    checks="No character value is longer (in UTF-8 bytes) than its variable's Length in "
    "define.xml.",
    why="A value longer than the documented length is truncated by anyone who builds the "
    "variable from define.xml.",
)
def define_length_too_short(package: Package) -> list[Finding]:
    """Records whose value is longer than the define.xml Length."""
    out = []
    for ds, group in _described(package):
        for name, var in _variables(ds, group):
            column = ds.frame[name]
            if var.length is None or pd.api.types.is_numeric_dtype(column):
                continue
            declared = ds.lengths.get(name)
            if declared is not None and int(declared) <= var.length:
                continue  # no value is longer than the file's storage width
            if _longest(column) <= var.length:
                continue
            codes, distinct = distinct_codes(column)
            if distinct.empty:
                continue
            sizes = distinct.str.encode("utf-8").str.len().to_numpy(dtype=np.int64)
            if sizes.max() <= var.length:
                continue
            size = pd.Series(spread(codes, sizes, 0), index=ds.frame.index)
            long = size > var.length
            rows = rows_where(ds.frame, long).assign(__SIZE__=size[long])
            out += report_rows(
                "define-length-too-short",
                ds,
                rows,
                name,
                lambda r, n=name, v=var: (
                    f"{n} value is {int(r['__SIZE__'])} bytes long; "
                    f"define.xml declares Length {v.length}: raise the Length or shorten the value."
                ),
                value=name,
            )
    return out


@rule(
    "define-length-differs",
    "warning",
    "cross",
    checks="A character variable's length declared in the XPT file equals its Length in "
    "define.xml.",
    why="The transport file and define.xml describe the same column; two lengths leave the "
    "reviewer guessing which one holds.",
)
def define_length_differs(package: Package) -> list[Finding]:
    """Variables whose XPT length is not the define.xml Length."""
    out = []
    for ds, group in _described(package):
        for name, var in _variables(ds, group):
            declared = ds.lengths.get(name)
            if declared is None or var.length is None or int(declared) == var.length:
                continue
            out.append(
                finding(
                    "define-length-differs",
                    f"{ds.name}.{name} has length {int(declared)} in the data file but Length "
                    f"{var.length} in define.xml; write both from the same metadata.",
                    ds,
                    variable=name,
                    value=int(declared),
                )
            )
    return out


@rule(
    "define-variable-order",
    "warning",
    "cross",
    checks="The variables of a dataset come in the order define.xml lists them (OrderNumber, "
    "else ItemRef order).",
    why="Reviewers read the data in the documented order; a different order in the file "
    "suggests the define.xml was written from other metadata.",
)
def define_variable_order(package: Package) -> list[Finding]:
    """Datasets whose variable order differs from define.xml's (one finding per dataset)."""
    out = []
    for ds, group in _described(package):
        ranked = sorted(
            enumerate(group.variables),
            key=lambda p: (p[1].order if p[1].order is not None else p[0], p[0]),
        )
        have = set(ds.variables)
        expected = [v.name for _, v in ranked if v.name in have]
        actual = [v for v in ds.variables if group.variable(v) is not None]
        if expected == actual:
            continue
        at = next(i for i, (a, b) in enumerate(zip(actual, expected, strict=True)) if a != b)
        out.append(
            finding(
                "define-variable-order",
                f"{ds.name}: variable {at + 1} is {actual[at]} in the data but {expected[at]} in "
                "define.xml; write the variables in define.xml's order.",
                ds,
                variable=actual[at],
            )
        )
    return out


def _value_text(column: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes and distinct values as define.xml CodedValues are written (whole numbers
    without '.0')."""
    if not pd.api.types.is_numeric_dtype(column):
        return distinct_codes(column)
    codes, uniques = pd.factorize(column)
    return codes, pd.Series([fmt(u) for u in uniques], dtype="str")


def _codelist_rows(package: Package, extensible: bool) -> list[Finding]:
    code = "define-value-not-in-extended-codelist" if extensible else "define-value-not-in-codelist"
    out = []
    for ds, group in _described(package):
        for name, var in _variables(ds, group):
            cl = var.codelist
            if cl is None or cl.dictionary or not cl.terms or cl.extensible != extensible:
                continue
            codes, distinct = _value_text(ds.frame[name])
            stripped = distinct.str.strip()
            bad = (~stripped.isin(cl.terms) & stripped.ne("")).to_numpy(dtype=bool)
            if not bad.any():
                continue
            mask = pd.Series(spread(codes, bad, False), index=ds.frame.index)
            kind = "extensible" if extensible else "non-extensible"
            out += report_rows(
                code,
                ds,
                rows_where(ds.frame, mask),
                name,
                lambda r, n=name, c=cl, k=kind: (
                    f"{n} value {fmt(r[n])} is not a term of the "
                    f"{k} codelist {c.name or c.oid} ({c.oid}) define.xml binds {n} to; "
                    + (
                        "add it to the codelist as a sponsor term (def:ExtendedValue='Yes') or "
                        "use a listed term."
                        if extensible
                        else "use one of its terms."
                    )
                ),
                value=name,
            )
    return out


@rule(
    "define-value-not-in-codelist",
    "error",
    "cross",
    checks="Values of a variable bound to a non-extensible define.xml CodeList are terms of it.",
    why="The codelist in define.xml documents every value the variable takes; a non-extensible "
    "list admits no other.",
)
def define_value_not_in_codelist(package: Package) -> list[Finding]:
    """Records whose value is not a term of the variable's non-extensible define codelist."""
    return _codelist_rows(package, extensible=False)


@rule(
    "define-value-not-in-extended-codelist",
    "warning",
    "cross",
    checks="Values of a variable bound to an extensible define.xml CodeList are terms of it "
    "(CDISC terms or sponsor terms flagged def:ExtendedValue).",
    why="Sponsor extensions of an extensible codelist must be listed in define.xml so the "
    "reviewer sees every value the variable takes.",
)
def define_value_not_in_extended_codelist(package: Package) -> list[Finding]:
    """Records whose value is not a term of the variable's extensible define codelist."""
    return _codelist_rows(package, extensible=True)


@rule(
    "define-key-not-unique",
    "error",
    "cross",
    checks="The variables define.xml gives a KeySequence identify each record of the dataset.",
    why="define.xml's keys are the dataset's documented natural key; two records with the same "
    "key values mean the keys or the data are wrong.",
)
def define_key_not_unique(package: Package) -> list[Finding]:
    """Records whose define.xml key values an earlier record already has."""
    out = []
    for ds, group in _described(package):
        keyed = sorted((v.key_sequence, v.name) for v in group.variables if v.key_sequence)
        keys = [name for _, name in keyed]
        if not keys or any(k not in ds.frame.columns for k in keys) or len(ds.frame) < 2:
            continue
        codes = row_codes([hash_codes(ds.frame[k]) for k in keys])
        again = pd.Series(pd.Series(codes).duplicated().to_numpy(), index=ds.frame.index)
        out += report_rows(
            "define-key-not-unique",
            ds,
            rows_where(ds.frame, again),
            None,
            lambda r, k=keys: (
                "an earlier record has the same define.xml keys ("
                + ", ".join(f"{v}={fmt(r[v])}" for v in k)
                + "); make the keys identify each record."
            ),
        )
    return out


@rule(
    "define-mandatory-value-missing",
    "error",
    "cross",
    checks="A variable define.xml marks Mandatory='Yes' is populated on every record.",
    why="Mandatory='Yes' documents that the variable is never null; a missing value "
    "contradicts the define.xml.",
)
def define_mandatory_value_missing(package: Package) -> list[Finding]:
    """Records where a Mandatory variable is missing."""
    out = []
    for ds, group in _described(package):
        for name, var in _variables(ds, group):
            if not var.mandatory or _all_filled(ds.frame[name]):
                continue
            missing = ~present(ds.frame[name])
            out += report_rows(
                "define-mandatory-value-missing",
                ds,
                rows_where(ds.frame, missing),
                name,
                lambda r, n=name: (
                    f"{n} is Mandatory in define.xml but missing on this record; "
                    "populate it or set Mandatory='No'."
                ),
            )
    return out


@rule(
    "define-label-differs",
    "warning",
    "cross",
    checks="A variable's label in the data file equals its description in define.xml.",
    why="The reviewer sees both labels; two different ones mean one of them is outdated.",
)
def define_label_differs(package: Package) -> list[Finding]:
    """Variables whose file label is not the define.xml description."""
    out = []
    for ds, group in _described(package):
        for name, var in _variables(ds, group):
            label = ds.labels.get(name, "")
            if not label or not var.label or label.strip() == var.label.strip():
                continue
            out.append(
                finding(
                    "define-label-differs",
                    f"{ds.name}.{name} is labelled {fmt(label)} in the data but "
                    f"{fmt(var.label)} in define.xml; use one label.",
                    ds,
                    variable=name,
                    value=label,
                )
            )
    return out


@rule(
    "define-dataset-label-differs",
    "warning",
    "cross",
    checks="A dataset's label in its file equals its description in define.xml.",
    why="The reviewer sees both labels; two different ones mean one of them is outdated.",
)
def define_dataset_label_differs(package: Package) -> list[Finding]:
    """Datasets whose file label is not the define.xml description."""
    return [
        finding(
            "define-dataset-label-differs",
            f"{ds.name} is labelled {fmt(ds.label)} in the data but {fmt(group.label)} in "
            "define.xml; use one label.",
            ds,
            value=ds.label,
        )
        for ds, group in _described(package)
        if ds.label and group.label and ds.label.strip() != group.label.strip()
    ]


@rule(
    "define-dataset-class-missing",
    "warning",
    "cross",
    checks="Each dataset in define.xml has its observation class (def:Class) and structure "
    "(def:Structure).",
    why="The class and structure tell the reviewer how to read a dataset (one record per "
    "what); Define-XML 2.1 requires both.",
)
def define_dataset_class_missing(package: Package) -> list[Finding]:
    """define.xml datasets without class or structure."""
    define = package.define
    if define is None:
        return []
    out = []
    for name, group in define.groups.items():
        lacking = [
            a for a, v in (("def:Class", group.cls), ("def:Structure", group.structure)) if not v
        ]
        if lacking:
            out.append(
                finding(
                    "define-dataset-class-missing",
                    f"define.xml describes {name} without {' and '.join(lacking)}; add "
                    f"{'them' if len(lacking) > 1 else 'it'}.",
                    package.get(name) or _stub(name),
                )
            )
    return out


@rule(
    "define-leaf-not-file",
    "warning",
    "cross",
    checks="The file define.xml points a dataset at (def:leaf xlink:href) is the file the "
    "dataset was read from.",
    why="The reviewer opens the dataset through that link; a wrong name is a broken link.",
)
def define_leaf_not_file(package: Package) -> list[Finding]:
    """Datasets whose def:leaf names another file."""
    out = []
    for ds, group in _described(package):
        leaf = group.leaf.rsplit("/", 1)[-1]
        files = [f.rsplit("/", 1)[-1] for f in ds.files]
        if not leaf or not files or leaf in files:
            continue
        out.append(
            finding(
                "define-leaf-not-file",
                f"define.xml points {ds.name} at {leaf!r}, but it was read from "
                f"{', '.join(files)}; make def:leaf name the submitted file.",
                ds,
                value=leaf,
            )
        )
    return out
