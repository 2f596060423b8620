"""ADaMIG 1.3 / ADaM OCCDS 1.1 variable metadata, shipped as package data.

Two CSV files under ``trialflow/adam/data`` hold the facts (``SOURCES.md`` next to them says
where each fact comes from and what could not be verified):

* ``adam-variables.csv``: the variables trialflow writes for the three ADaM structures it
  builds, in metadata order: ``ADSL``, ``BDS`` (shared by ADLB and ADVS), ``ADAE`` (OCCDS,
  subclass ADVERSE EVENT) and ``ADCM`` (OCCDS). Columns: dataset, dataset_label, order (int),
  name, label, type (Char/Num), length (Char only), core (Req/Cond/Perm), codelist, format
  (SAS display format of numeric dates and times), origin (Predecessor/Derived/Assigned),
  source (predecessor variable), sponsor ("Y" for sponsor-defined variables the ADaMIG does
  not define) and method (one sentence on the derivation). Blank cells are empty strings.
* ``adam-datasets.csv``: one row per ADaM dataset trialflow knows (label, class, which
  variable rows it uses, ADaM class and subclass for define.xml, key variables, the
  structure sentence for define.xml).

The files are read once (``functools.lru_cache``); every function returns a fresh copy, so a
caller can change what it gets without changing what the next caller sees.

Example:
    >>> adam_variables("ADSL")["name"].head(4).tolist()
    ['STUDYID', 'USUBJID', 'SUBJID', 'SITEID']
    >>> adam_class("ADLB"), adam_label("ADLB")
    ('BDS', 'Laboratory Analysis Dataset')
"""

from __future__ import annotations

import functools
import re

import pandas as pd

from trialflow.sdtm.metadata import MetadataError, read_data_csv

ADAMIG_VERSION = "1.3"
OCCDS_VERSION = "1.1"

_VARIABLES_FILE = "adam-variables.csv"
_DATASETS_FILE = "adam-datasets.csv"
_NAME = re.compile(r"AD[A-Z0-9_]{1,6}")
_CLASS_ROWS = {"ADSL": "ADSL", "BDS": "BDS", "OCCDS": "ADAE"}


class UnknownAdamDataset(MetadataError):
    """The name is not an ADaM dataset trialflow can give metadata for."""


def _read_csv(name: str) -> pd.DataFrame:
    return read_data_csv("trialflow.adam", name)


@functools.lru_cache(maxsize=1)
def _variables() -> pd.DataFrame:
    frame = _read_csv(_VARIABLES_FILE)
    frame["order"] = frame["order"].astype("int64")
    return frame


@functools.lru_cache(maxsize=1)
def _datasets() -> pd.DataFrame:
    return _read_csv(_DATASETS_FILE).set_index("dataset")


def _normalise(dataset: str) -> str:
    name = str(dataset).strip().upper()
    if not _NAME.fullmatch(name):
        raise UnknownAdamDataset(
            f"unknown ADaM dataset {dataset!r}: trialflow ships ADaMIG {ADAMIG_VERSION} metadata "
            f"for {', '.join(known_adam_datasets())}; any other name must start with 'AD' and "
            "have at most 8 letters, digits or underscores (it is then read as a BDS dataset)"
        )
    return name


def known_adam_datasets() -> list[str]:
    """The ADaM datasets whose metadata ships with trialflow, sorted.

    Example:
        >>> known_adam_datasets()
        ['ADAE', 'ADCM', 'ADDOSE', 'ADLB', 'ADSL', 'ADVS']
    """
    return sorted(_datasets().index.tolist())


def adam_class(dataset: str) -> str:
    """The ADaM structure of ``dataset``: ``"ADSL"``, ``"BDS"`` or ``"OCCDS"``.

    ADSL is ADSL and ADAE is OCCDS; ADLB, ADVS and any other name starting with ``AD`` are
    read as BDS (the ADaM structure of most analysis datasets). Raises
    :class:`UnknownAdamDataset` for a name that is not an ADaM dataset name.

    Example:
        >>> [adam_class(name) for name in ("ADSL", "adae", "ADLB", "ADEX")]
        ['ADSL', 'OCCDS', 'BDS', 'BDS']
    """
    name = _normalise(dataset)
    datasets = _datasets()
    if name in datasets.index:
        return str(datasets.loc[name, "class"])
    return "BDS"


def adam_keys(dataset: str) -> list[str]:
    """The key variables of ``dataset`` in key order (define.xml KeySequence).

    The ADaM documents define no keys; these are the order trialflow sorts the records in
    (``adam-datasets.csv``). A BDS dataset trialflow ships no row for gets the BDS keys.

    Example:
        >>> adam_keys("ADSL"), adam_keys("ADAE")
        (['STUDYID', 'USUBJID'], ['STUDYID', 'USUBJID', 'ASTDT', 'AESEQ'])
        >>> adam_keys("ADEX") == adam_keys("ADLB")
        True
    """
    name = _normalise(dataset)
    datasets = _datasets()
    if name not in datasets.index:
        name = str(datasets.index[datasets["class"] == adam_class(name)][0])
    return str(datasets.loc[name, "keys"]).split()


def adam_variables(dataset: str) -> pd.DataFrame:
    """The variable metadata of ``dataset`` in metadata order (a copy; index 0..n-1).

    ADLB, ADVS and other BDS datasets get the shared BDS rows (their ``dataset`` column says
    ``BDS``). Columns: see the module docstring. Raises :class:`UnknownAdamDataset` for a name
    that is not an ADaM dataset name.

    Example:
        >>> adlb = adam_variables("ADLB")
        >>> adlb.loc[adlb["name"] == "ABLFL", ["label", "core", "codelist"]].values.tolist()
        [['Baseline Record Flag', 'Cond', 'NY']]
        >>> adam_variables("ADAE")["name"].iloc[4]
        'AESEQ'
        >>> adam_variables("ADCM")["name"].iloc[4]
        'CMSEQ'
    """
    name = _normalise(dataset)
    datasets = _datasets()
    if name in datasets.index:
        rows_of = str(datasets.loc[name, "rows"])
    else:
        rows_of = _CLASS_ROWS[adam_class(name)]
    frame = _variables()
    rows = frame[frame["dataset"] == rows_of]
    return rows.sort_values("order").reset_index(drop=True).copy()


def adam_label(dataset: str) -> str:
    """The dataset label of ``dataset`` (ADSL's is the one the ADaMIG prescribes).

    Raises :class:`UnknownAdamDataset` for a dataset trialflow ships no label for.

    Example:
        >>> adam_label("ADSL")
        'Subject-Level Analysis Dataset'
        >>> adam_label("advs")
        'Vital Signs Analysis Dataset'
    """
    name = _normalise(dataset)
    datasets = _datasets()
    if name not in datasets.index:
        raise UnknownAdamDataset(
            f"no dataset label for ADaM dataset {name!r}: trialflow ships labels for "
            f"{', '.join(known_adam_datasets())}"
        )
    return str(datasets.loc[name, "dataset_label"])


def adam_structure(dataset: str) -> tuple[str, str]:
    """define.xml's ``def:Structure`` and ``def:SubClass`` of ``dataset``.

    The structure sentence says what one record is; the subclass is the ADaM subclass the
    OCCDS document defines (ADVERSE EVENT for ADAE; none for ADCM, as OCCDS 1.1 defines no
    other). A BDS dataset trialflow ships no row for gets the generic BDS sentence.

    Example:
        >>> adam_structure("ADAE")
        ('One record per subject per adverse event', 'ADVERSE EVENT')
        >>> adam_structure("ADCM")[1], adam_structure("ADEX")[0]
        ('', 'One record per subject per parameter per analysis date per analysis timepoint')
    """
    name = _normalise(dataset)
    datasets = _datasets()
    if name not in datasets.index:
        name = str(datasets.index[datasets["class"] == adam_class(name)][0])
    row = datasets.loc[name]
    return str(row["structure"]), str(row["subclass"])


def arrange_adam(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """A new frame with the columns of ``frame`` in the metadata order of ``dataset``.

    Columns the metadata lists come first, in metadata order; columns it does not list follow
    in their input order and are never dropped. Metadata variables missing from ``frame`` are
    not added. ``frame`` itself is not changed.

    Example:
        >>> df = pd.DataFrame({"EXTRA": [1], "AGE": [40], "USUBJID": ["S1"], "STUDYID": ["X"]})
        >>> arrange_adam(df, "ADSL").columns.tolist()
        ['STUDYID', 'USUBJID', 'AGE', 'EXTRA']
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"arrange_adam needs a pandas DataFrame, not {type(frame).__name__}")
    order = adam_variables(dataset)["name"].tolist()
    columns = list(frame.columns)
    positions: list[int] = []
    for name in order:
        positions.extend(i for i, col in enumerate(columns) if col == name)
    listed = set(positions)
    positions.extend(i for i in range(len(columns)) if i not in listed)
    return frame.iloc[:, positions].copy()
