"""File names and sizes FDA states for submitted datasets: at most 5 GB per dataset file, the
file named after the dataset in lower case, the dataset name inside the file equal to the
file's name, and SAS XPORT (.xpt) files.

The sizes, file names and stored dataset names come from the reader
(:func:`trialflow.io.package.read_package`: ``Dataset.files``, ``sizes``, ``members``); a
package built in memory has none and these rules report nothing for it. A transport file
holding more than one dataset is refused by the reader (``file-unreadable``).
"""

from __future__ import annotations

from trialflow.errors import Finding
from trialflow.validation.core import Package, finding, rule
from trialflow.validation.rules.common import fmt

MAX_DATASET_BYTES = 5 * 1024**3
"""5 GB as CORE-000765 counts it (5,368,709,120 bytes): FDA's largest dataset file (FB2401)."""


def _stem(file: str) -> str:
    name = file.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def _suffix(file: str) -> str:
    name = file.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[1] if "." in name else ""


@rule(
    "dataset-file-over-5gb",
    "error",
    "xpt",
    checks="No dataset file is larger than 5 GB (5,368,709,120 bytes, as CORE-000765 counts).",
    why="FDA: large datasets should be split into smaller datasets no larger than 5 GB; larger "
    "files cannot be loaded by the review tools.",
    refs=["CORE-000765", "FB2401"],
)
def dataset_file_over_5gb(package: Package) -> list[Finding]:
    """Dataset files larger than 5 GB."""
    out = []
    for ds in package.datasets.values():
        for file, size in zip(ds.files, ds.sizes, strict=False):
            if size <= MAX_DATASET_BYTES:
                continue
            out.append(
                finding(
                    "dataset-file-over-5gb",
                    f"{file} has {size:,} bytes, more than FDA's 5 GB per dataset; split "
                    f"{ds.name} into smaller datasets (as SDTMIG describes for split domains).",
                    ds,
                    value=size,
                )
            )
    return out


@rule(
    "file-name-not-dataset-name",
    "error",
    "xpt",
    checks="A dataset's transport file is named after the dataset stored in it (dm.xpt holds "
    "DM); the parts of a split domain start with the domain's name (qsxx.xpt of QS).",
    why="FDA's technical conformance guide: the dataset name and the file name are the same; "
    "tools and reviewers find datasets by file name.",
)
def file_name_not_dataset_name(package: Package) -> list[Finding]:
    """Files whose name is not the name of the dataset stored in them."""
    out = []
    for ds in package.datasets.values():
        members = ds.members or ("",) * len(ds.files)
        for file, member in zip(ds.files, members, strict=False):
            stem = _stem(file).upper()
            stored = member.strip().upper()
            if stored and stored != stem:
                problem = f"holds dataset {fmt(member)}"
            elif not stored and _suffix(file).lower() == "xpt" and not stem.startswith(ds.name):
                problem = f"holds {ds.name}"
            else:
                continue
            out.append(
                finding(
                    "file-name-not-dataset-name",
                    f"{file} {problem}; name the file after its dataset "
                    f"({(stored or ds.name).lower()}.xpt) or store the dataset under the file's "
                    "name.",
                    ds,
                    value=file,
                )
            )
    return out


@rule(
    "file-name-not-lowercase",
    "warning",
    "xpt",
    checks="Dataset file names are lower case (dm.xpt, not DM.XPT).",
    why="FDA's technical conformance guide and the eCTD specification name dataset files in "
    "lower case; case-sensitive systems do not find DM.XPT as dm.xpt.",
)
def file_name_not_lowercase(package: Package) -> list[Finding]:
    """Dataset files whose name has upper-case letters."""
    out = []
    for ds in package.datasets.values():
        for file in ds.files:
            name = file.replace("\\", "/").rsplit("/", 1)[-1]
            if name == name.lower():
                continue
            out.append(
                finding(
                    "file-name-not-lowercase",
                    f"{name} has upper-case letters; rename it {name.lower()}.",
                    ds,
                    value=name,
                )
            )
    return out


@rule(
    "file-not-xpt",
    "notice",
    "xpt",
    checks="Datasets are SAS XPORT transport files (.xpt) or Dataset-JSON (.json, .ndjson).",
    why="FDA accepts study data as SAS XPORT version 5 (and Dataset-JSON); a dataset read from "
    "CSV or Parquet is validated but must be converted before submission.",
)
def file_not_xpt(package: Package) -> list[Finding]:
    """Datasets read from files FDA does not accept."""
    out = []
    for ds in package.datasets.values():
        for file in ds.files:
            suffix = _suffix(file).lower()
            if suffix in ("xpt", "json", "ndjson"):
                continue
            out.append(
                finding(
                    "file-not-xpt",
                    f"{ds.name} was read from {file}; submit it as {_stem(file).lower()}.xpt "
                    "(`trialflow export` writes XPT).",
                    ds,
                    value=file,
                )
            )
    return out
