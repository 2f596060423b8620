"""The eCTD study-data folder of a run: m5/datasets/<study>/tabulations and analysis.

:func:`write_ectd` lays out, from a run folder (``trialflow run --out DIR``)::

    OUT/m5/datasets/<study>/tabulations/sdtm/         DIR/sdtm/*.xpt, define.xml,
                                                      define2-1.xsl, csdrg.md
    OUT/m5/datasets/<study>/analysis/adam/datasets/   DIR/adam/*.xpt, define.xml,
                                                      define2-1.xsl, adrg.md

as FDA's Study Data Technical Conformance Guide places them, with file and folder names in
lower case; ``<study>`` is the study identifier lowercased
(:func:`~trialflow.io.guides.facts_folder`).
Nothing else goes in (no Dataset-JSON, lineage or reports: the eCTD folder holds what is
submitted). The reviewer's guides are drafts (:mod:`trialflow.io.guides`) the sponsor completes
and converts to PDF. The analysis folder is written when the run has ADaM datasets.

OUT is whole or absent: the tree is built in a new folder beside OUT and renamed into place
when complete. An OUT that exists and is not empty is refused, unless ``force`` is given: the
old folder is then swapped out and removed after the new one is in place.

Example:
    >>> import tempfile
    >>> from trialflow.pipeline import example_paths, example_run
    >>> out = Path(tempfile.mkdtemp()) / "submission"
    >>> files = write_ectd(example_run().out, out, study_dir=example_paths()[0])
    >>> files[0].relative_to(out).as_posix()
    'm5/datasets/hucmsc-t2dm/analysis/adam/datasets/adae.xpt'
"""

from __future__ import annotations

import importlib.resources
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from trialflow.errors import RawInputError
from trialflow.io.guides import (
    RunFacts,
    adrg_markdown,
    csdrg_markdown,
    facts_folder,
    read_run_facts,
)
from trialflow.io.outputs import BUILD_MARK, fix_modes, locked, recover, swap_in
from trialflow.mapping.load import load_study

__all__ = ["STYLESHEET", "ectd_folders", "stylesheet_source", "write_ectd"]

STYLESHEET = "define2-1.xsl"
"""The CDISC Define-XML 2.1 stylesheet's file name, beside each define.xml."""

Progress = Callable[[str], None]


def ectd_folders(studyid: str) -> dict[str, Path]:
    """The eCTD folders (relative to OUT) of the SDTM and ADaM files of a study.

    Example:
        >>> {k: v.as_posix() for k, v in ectd_folders("HUCMSC-T2DM").items()}
        ... # doctest: +NORMALIZE_WHITESPACE
        {'sdtm': 'm5/datasets/hucmsc-t2dm/tabulations/sdtm',
         'adam': 'm5/datasets/hucmsc-t2dm/analysis/adam/datasets'}
    """
    base = Path("m5", "datasets", facts_folder(studyid))
    return {"sdtm": base / "tabulations" / "sdtm", "adam": base / "analysis" / "adam" / "datasets"}


def stylesheet_source(folder: Path) -> Path:
    """The define2-1.xsl to copy: the one beside the run's define.xml, else the CDISC
    stylesheet shipped with the defineutils package.

    Example:
        >>> stylesheet_source(Path("/nonexistent")).name
        'define2-1.xsl'
    """
    local = folder / STYLESHEET
    if local.is_file():
        return local
    return Path(str(importlib.resources.files("defineutils") / "definehtml" / STYLESHEET))


def _refuse_existing(out: Path, force: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise RawInputError(f"{out} exists and is not a folder: choose another --ectd folder")
    if any(out.iterdir()) and not force:
        raise RawInputError(
            f"{out} exists and is not empty: choose a new --ectd folder, or add --force to "
            "replace it"
        )


def _parts(run_dir: Path) -> dict[str, list[Path]]:
    """The run's XPT files by part (sdtm always, adam when it has datasets), define checked."""
    parts = {}
    for part in ("sdtm", "adam"):
        files = sorted((run_dir / part).glob("*.xpt"))
        if not files:
            if part == "sdtm":
                raise RawInputError(f"{run_dir / 'sdtm'}: no .xpt datasets to submit")
            continue
        define = run_dir / part / "define.xml"
        if not define.is_file():
            raise RawInputError(
                f"{define} is missing: an eCTD package needs the define.xml of the {part.upper()}"
                " datasets (FDA rejects a submission without it); write it with trialflow run"
            )
        parts[part] = files
    return parts


def write_ectd(
    run_dir: str | Path,
    out: str | Path,
    *,
    study_dir: str | Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
    lock: bool = True,
) -> list[Path]:
    """Lay out a run folder's submission files as an eCTD m5 study-data folder in ``out``.

    The tree is built beside ``out`` and swapped in whole, under ``out``'s lock; ``lock=False``
    is for a caller that already holds the lock of a folder holding ``out`` (a run laying out
    its own DIR/ectd/ in the folder it is building), so that no lock file is left in it.

    ``study_dir`` (the study's spec folder) adds the ADaM derivations declared in study.yaml
    to the ADRG draft. Returns the files written, sorted. Raises
    :class:`~trialflow.errors.RawInputError` when the run has no sdtm/*.xpt, no define.xml
    beside its datasets, or no validation/report.json, when ``out`` exists and is not empty
    (without ``force``), and when ``out`` is the run folder or holds it.

    Example:
        >>> import tempfile
        >>> from trialflow.pipeline import example_run
        >>> out = Path(tempfile.mkdtemp()) / "submission"
        >>> files = write_ectd(example_run().out, out)
        >>> sorted(f.name for f in files if f.suffix == ".md")
        ['adrg.md', 'csdrg.md']
    """
    run_dir, out = Path(run_dir), Path(out)
    if run_dir.resolve().is_relative_to(out.resolve()):
        raise RawInputError(
            f"{out} holds the run folder {run_dir}: choose an --ectd folder outside it"
        )
    _refuse_existing(out, force)
    parts = _parts(run_dir)
    study = load_study(study_dir) if study_dir is not None else None
    facts = read_run_facts(run_dir, study)
    folders = ectd_folders(facts.studyid)
    out.parent.mkdir(parents=True, exist_ok=True)
    if lock:
        with locked(out, "export --ectd"):
            _build(parts, run_dir, out, folders, facts, progress)
    else:
        _build(parts, run_dir, out, folders, facts, progress)
    return sorted(p for p in out.rglob("*") if p.is_file())


def _build(
    parts: dict[str, list[Path]],
    run_dir: Path,
    out: Path,
    folders: dict[str, Path],
    facts: RunFacts,
    progress: Progress | None,
) -> None:
    """Lay the tree out in a new folder beside ``out`` and swap it in."""
    guides = {"sdtm": ("csdrg.md", csdrg_markdown), "adam": ("adrg.md", adrg_markdown)}
    recover(out)
    build = Path(tempfile.mkdtemp(prefix=f".{out.name}{BUILD_MARK}", dir=out.parent))
    try:
        for part, files in parts.items():
            target = build / folders[part]
            target.mkdir(parents=True)
            if progress:
                progress(f"copying {part}: {len(files)} datasets, define.xml, {STYLESHEET}")
            for path in files:
                shutil.copyfile(path, target / path.name.lower())
            shutil.copyfile(run_dir / part / "define.xml", target / "define.xml")
            shutil.copyfile(stylesheet_source(run_dir / part), target / STYLESHEET)
            name, render = guides[part]
            if progress:
                progress(f"writing the {name} draft")
            (target / name).write_text(render(facts), encoding="utf-8", newline="\n")
        fix_modes(build)
        swap_in(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
