"""The trialflow command line: each command parses, calls one library function, renders.

Exit codes: 0 ok, 1 errors found in the data, 2 bad usage or input that can't be used.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import click

from trialflow import __version__
from trialflow.errors import FindingsError, TrialflowError
from trialflow.io.outputs import check_output_file, check_output_folder

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Python's last act is a garbage collection over every object still alive: the modules of
# pandas and pyarrow and, after `validate`, a whole package of frames and findings. It took
# 0.1 s of every command; frozen objects are left to the process's exit. Nothing a command
# leaves needs the collector: every output is written in a with-block and swapped in before
# the command returns. (The console entry point, :func:`main`, skips Python's end entirely.)
atexit.register(gc.freeze)


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off for the block (on again after it, if it was on).

    The collector walks every object the process has made so far, again and again as objects
    are made: those of importing pandas and pyarrow, then those of the rules. `validate` makes
    no cyclic garbage worth collecting: its peak memory is the same with the collector off
    (246 MB on the CDISC pilot's seven datasets, 416 MB on all 31 with 17,805 findings, 286
    MB on a 1,600-subject package), and the command is 46 ms (6 %) faster. Reference
    counting still frees everything else as soon as it is unused.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class UsageError(click.ClickException):
    """Bad input: exit 2 with one line."""

    exit_code = 2


class DataErrors(click.ClickException):
    """Errors in the data under --strict: exit 1 with one line."""

    exit_code = 1


def _progress(quiet: bool):
    """The progress callback of a command: None with --quiet; on a terminal, progress bars
    (:class:`_Bars`); elsewhere (a pipe, a CI log) each message as a plain line on stderr."""
    if quiet:
        return None
    if _terminal():
        return _Bars()

    def say(message: str) -> None:
        click.echo(f"  {message}", err=True)

    return say


def _terminal() -> bool:
    """Whether stderr is an interactive terminal that can redraw a line."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb" and not os.environ.get("CI")


class _Bars:
    """Progress bars on stderr, one per stage: a bar that fills where the stage says how far
    it is (a :class:`~trialflow.progress.Step`), a pulsing one where it does not, each with
    its time. A stage over in less than a second leaves no line; the others stay, with how
    long they took. Plain messages are stages of their own."""

    LINGER = 1.0  # seconds a finished stage must have taken to stay on the screen

    def __init__(self, *, console=None, get_time=None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bars = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
            get_time=get_time,
        )
        self._bars.start()
        self._task = None
        self._stage: str | None = None

    def __call__(self, message: str) -> None:
        stage = getattr(message, "stage", None)
        done, total = getattr(message, "done", 0), getattr(message, "total", None)
        count = f"{done}/{total}" if total else ""
        if self._task is not None and stage is not None and stage == self._stage:
            self._bars.update(self._task, description=str(message), completed=done,
                              total=total, count=count)  # fmt: skip
            return
        self._end()
        self._stage = stage
        self._task = self._bars.add_task(str(message), total=total, completed=done,
                                         count=count)  # fmt: skip

    def _end(self) -> None:
        """The current stage is over: full, named by its stage, or gone when it was short."""
        if self._task is None:
            return
        task = next((t for t in self._bars.tasks if t.id == self._task), None)
        if task is not None:
            if (task.elapsed or 0.0) < self.LINGER:
                self._bars.remove_task(self._task)
            else:
                total = task.total if task.total is not None else 1
                count = f"{int(total)}/{int(total)}" if task.total else ""
                self._bars.update(self._task, total=total, completed=total, count=count,
                                  description=self._stage or task.description)  # fmt: skip
                self._bars.stop_task(self._task)
        self._task = None

    def close(self) -> None:
        """End the last stage and the display."""
        self._end()
        self._bars.stop()


def _run(func, *args, **kwargs):
    """Call a library function; its errors become one line and the right exit code."""
    try:
        return _call(func, *args, **kwargs)
    finally:
        progress = kwargs.get("progress")
        if isinstance(progress, _Bars):
            progress.close()


def _call(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # findings are rendered by the command instead
        try:
            return func(*args, **kwargs)
        except FindingsError as exc:
            raise DataErrors(f"{exc} (stopped by --strict)") from None
        except TrialflowError as exc:
            raise UsageError(str(exc)) from None
        except Exception as exc:
            # A bug, not the user's input: still one line, with a way to see the traceback.
            if os.environ.get("TRIALFLOW_TRACEBACK"):
                raise
            raise UsageError(
                f"internal error, please report it: {type(exc).__name__}: {exc} "
                "(set TRIALFLOW_TRACEBACK=1 to see where)"
            ) from None


PER_RULE = 3
"""Findings printed per rule and severity; the reports list every one."""


def _render(result, title: str) -> None:
    """Print a short summary of a run: files, records, findings by severity and code."""
    click.echo(f"{title}: {result.study.studyid} -> {result.out}")
    written = {
        p.relative_to(result.out).as_posix() for p in result.files if p.is_relative_to(result.out)
    }
    listed = [("sdtm", result.sdtm.domains)]
    if result.adam is not None:
        listed.append(("adam", result.adam.datasets))
    for folder, datasets in listed:
        for code, frame in datasets.items():
            stem = f"{folder}/{code.lower()}"
            files = [stem + s for s in (".xpt", ".json", ".ndjson") if stem + s in written]
            if not files:
                continue
            subjects = frame["USUBJID"].nunique() if "USUBJID" in frame else 0
            shown = files[0] + "".join(f", {Path(f).suffix}" for f in files[1:])
            click.echo(f"  {code:<8}{len(frame):>7} records  {subjects:>6} subjects  {shown}")
    counts = Counter(f.severity for f in result.findings)
    click.echo(
        f"  findings: {counts.get('error', 0)} errors, {counts.get('warning', 0)} warnings, "
        f"{counts.get('notice', 0)} notices (validation/report.json, validation/report.xlsx)"
    )
    serious = [f for f in result.findings if f.severity in ("error", "warning")]
    _echo_per_rule(serious, "validation/report.json")
    if getattr(result, "analysis", None) is not None:
        safety = (
            "ae_summary.csv, safety_by_visit.csv, "
            if result.analysis.ae_summary is not None
            else ""
        )
        if getattr(result.analysis, "dose_categories", None) is not None:
            safety += "dose_categories.csv, dose_changes.csv, "
        if getattr(result.analysis, "comparisons", None) is not None:
            safety += "cfb_comparisons.csv, "
        click.echo(
            f"  analysis: {result.out / 'analysis'} (cfb_summary.csv, table1.csv, {safety}"
            f"{len(result.analysis.figures)} figures, report.html)"
        )
    defines = sorted(w for w in written if w.endswith("/define.xml") and w.count("/") == 1)
    if defines:
        click.echo(f"  define.xml: {', '.join(defines)} (Define-XML 2.1, stylesheet beside each)")
    ectd = sorted(w for w in written if w.startswith("ectd/") and w.endswith(".md"))
    if ectd:
        click.echo(f"  eCTD folder: {result.out / 'ectd'} (reviewer's guide drafts: "
                   f"{', '.join(Path(w).name for w in ectd)})")  # fmt: skip
    click.echo(f"  lineage: {result.out / 'lineage'}   manifest: {result.out / 'manifest.json'}")
    if result.study.spec.study.synthetic:
        click.echo("  note: the raw data of this study are synthetic")


def _exit_for(result) -> None:
    if result.errors:
        sys.exit(1)


def _pipeline(
    name: str,
    title: str,
    study_dir: Path,
    raw: Path,
    out: Path,
    *,
    strict: bool,
    quiet: bool,
    formats: str | None = None,
    ectd: bool = False,
) -> None:
    """Run a pipeline function by name, render its summary, exit 1 when the data had errors."""
    _run(check_output_folder, out, "--out")  # before any mapping: one line, exit 2
    if name in ("map_study", "run_study"):  # derive's input is an SDTM folder, read whole
        raw = _read_ahead(study_dir, raw)
    from trialflow import pipeline

    func = getattr(pipeline, name)
    on_issue = "stop" if strict else "none"
    extra: dict = {} if formats is None else {"formats": _run(pipeline.parse_formats, formats)}
    if ectd:
        extra["ectd"] = True
    result = _run(func, study_dir, raw, out, on_issue=on_issue, progress=_progress(quiet), **extra)
    _render(result, title)
    _exit_for(result)


def _read_ahead(study_dir: Path, raw: Path):
    """The raw export, opened, with its sheets being parsed on other threads while the
    pipeline's modules (pandas, scipy, matplotlib: seconds) are imported; the path itself
    when anything goes wrong here: the pipeline then reports it, in its order."""
    try:
        from trialflow.mapping.load import load_study
        from trialflow.raw import read_export

        export = read_export(raw)
        export.prefetch(load_study(study_dir).sheets_read())
    except Exception:  # reported by the pipeline, which opens both again
        return raw
    return export


study_arg = click.argument(
    "study_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
raw_option = click.option(
    "--raw",
    "raw",
    required=True,
    metavar="EXPORT",
    type=click.Path(exists=True, path_type=Path),
    help="The raw export: an .xlsx workbook, a flat .csv, a CDISC ODM .xml file, or a folder "
    "of .csv, .sas7bdat or .xpt files.",
)
out_option = click.option(
    "--out",
    "out",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (created if needed).",
)
strict_option = click.option(
    "--strict",
    is_flag=True,
    help="Stop at the first error in the data (exit 1) instead of reporting it.",
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress lines.")


def _limits_callback(ctx: click.Context, _param: click.Parameter, items: tuple[str, ...]) -> None:
    """Make the --limit settings the limits in force while the command runs."""
    from trialflow.limits import using

    if items:
        from trialflow.limits import parse_limits

        ctx.with_resource(using(**_run(parse_limits, items)))


limit_option = click.option(
    "--limit",
    "limits",
    multiple=True,
    metavar="NAME=VALUE",
    expose_value=False,
    callback=_limits_callback,
    help="Raise (or lower) a limit on untrusted input files, e.g. --limit zip_ratio=200; "
    "repeatable. Limits and defaults: docs/limits.md.",
)
format_option = click.option(
    "--format",
    "formats",
    default="xpt",
    show_default=True,
    help="Dataset files to write, comma-separated: xpt, dataset-json (<name>.json), ndjson "
    "(<name>.ndjson), e.g. xpt,dataset-json.",
)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="trialflow")
def cli() -> None:
    """trialflow: raw CRF exports to CDISC SDTM, ADaM and SAS XPORT files, from YAML specs.

    \b
    Example:
        trialflow demo --out trialflow-demo
    """


@cli.command("map", context_settings=CONTEXT)
@study_arg
@raw_option
@out_option
@format_option
@strict_option
@quiet_option
@limit_option
def map_command(
    study_dir: Path, raw: Path, out: Path, formats: str, strict: bool, quiet: bool
) -> None:
    """Map a raw export to SDTM: DIR/sdtm/*.xpt, DIR/lineage/, DIR/validation/report.*.

    STUDY_DIR is a folder of mapping specs (study.yaml and one YAML per domain).

    \b
    Example:
        trialflow map mappings/hucmsc-t2dm --raw export.xlsx --out out
    """
    _pipeline(
        "map_study", "mapped", study_dir, raw, out, strict=strict, quiet=quiet, formats=formats
    )


@cli.command("run", context_settings=CONTEXT)
@study_arg
@raw_option
@out_option
@format_option
@click.option(
    "--ectd",
    "ectd",
    is_flag=True,
    help="Also lay out the submission in DIR/ectd/: the eCTD m5 folder with the XPT files, "
    "define.xml, define2-1.xsl and the reviewer's guide drafts (as export --ectd does).",
)
@strict_option
@quiet_option
@limit_option
def run_command(
    study_dir: Path, raw: Path, out: Path, formats: str, ectd: bool, strict: bool, quiet: bool
) -> None:
    """Run the whole pipeline on a raw export: SDTM, ADaM, validation, lineage.

    Writes DIR/sdtm/*.xpt, DIR/adam/*.xpt (when study.yaml has an adam section),
    DIR/lineage/, DIR/validation/report.json and report.xlsx, DIR/manifest.json. With
    --format xpt,dataset-json each dataset is also written as Dataset-JSON v1.1 (<name>.json).
    Headers carry the date SOURCE_DATE_EPOCH gives, else study.run_date, else 1960-01-01.
    With --ectd the eCTD submission folder is laid out in DIR/ectd/ too.

    \b
    Example:
        trialflow run mappings/hucmsc-t2dm --raw export.xlsx --out out
        trialflow run mappings/hucmsc-t2dm --raw export.xlsx --out out --format xpt,dataset-json
        trialflow run mappings/hucmsc-t2dm --raw export.xlsx --out out --ectd
    """
    _pipeline(
        "run_study", "run", study_dir, raw, out, strict=strict, quiet=quiet, formats=formats,
        ectd=ectd,
    )  # fmt: skip


@cli.command("export", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--format",
    "formats",
    help="Formats to write beside each .xpt, comma-separated: dataset-json (<name>.json), "
    "ndjson (<name>.ndjson), define (define.xml of each folder, from the XPT files).",
)
@click.option(
    "--ectd",
    "ectd",
    type=click.Path(path_type=Path),
    help="Lay out the submission as an eCTD folder here: m5/datasets/<study>/tabulations/sdtm "
    "and analysis/adam/datasets with the XPT files, define.xml, define2-1.xsl and drafts of "
    "the reviewer's guides (csdrg.md, adrg.md).",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --ectd: replace the folder when it exists and is not empty.",
)
@click.option(
    "--study",
    "study_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The study's spec folder, for its run_date (SOURCE_DATE_EPOCH overrides it) and the "
    "ADaM derivations the ADRG draft describes.",
)
@quiet_option
@limit_option
def export_command(
    run_dir: Path,
    formats: str | None,
    ectd: Path | None,
    force: bool,
    study_dir: Path | None,
    quiet: bool,
) -> None:
    """Write the XPT datasets of a run folder (RUN_DIR/sdtm, RUN_DIR/adam) in other formats,
    or lay them out as an eCTD study-data folder with the reviewer's guide drafts.

    \b
    Example:
        trialflow export out --format dataset-json
        trialflow export out --format dataset-json,ndjson
        trialflow export out --format define --study mappings/hucmsc-t2dm
        trialflow export out --ectd submission --study mappings/hucmsc-t2dm
    """
    from trialflow.pipeline import EXPORT_FORMATS, export_run, parse_formats

    if formats is None and ectd is None:
        raise UsageError(
            "nothing to export: give --format dataset-json[,ndjson][,define] or --ectd OUT"
        )
    if force and ectd is None:
        raise UsageError("--force replaces the --ectd folder; give --ectd OUT")
    if formats is not None:
        chosen = _run(parse_formats, formats, EXPORT_FORMATS)
        if chosen == ("xpt",):
            raise UsageError("the datasets are already XPT; choose dataset-json, ndjson or define")
        _run(check_output_folder, run_dir, "RUN_DIR")
    if ectd is not None:
        _run(check_output_folder, ectd, "--ectd")
    if formats is not None:
        files = _run(export_run, run_dir, chosen, study_dir=study_dir, progress=_progress(quiet))
        click.echo(f"export: {run_dir} ({', '.join(f for f in chosen if f != 'xpt')})")
        for path in files:
            click.echo(f"  {path.relative_to(run_dir).as_posix()}")
        click.echo(f"  manifest: {run_dir / 'manifest.json'}")
    if ectd is not None:
        from trialflow.io.ectd import write_ectd

        files = _run(
            write_ectd, run_dir, ectd, study_dir=study_dir, force=force, progress=_progress(quiet)
        )
        click.echo(f"ectd: {run_dir} -> {ectd}")
        for path in files:
            click.echo(f"  {path.relative_to(ectd).as_posix()}")


@cli.command("derive", context_settings=CONTEXT)
@study_arg
@click.option(
    "--sdtm",
    "sdtm_dir",
    required=True,
    metavar="SDTM_DIR",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of SDTM datasets (.xpt, .csv, .parquet, Dataset-JSON).",
)
@out_option
@strict_option
@quiet_option
@limit_option
def derive_command(study_dir: Path, sdtm_dir: Path, out: Path, strict: bool, quiet: bool) -> None:
    """Derive ADaM from SDTM datasets: DIR/adam/*.xpt.

    ADSL, then the datasets the adam section of STUDY_DIR/study.yaml declares and the SDTM
    holds the domains for (the example: ADLB, ADVS, ADAE, ADCM, ADDOSE). The facts (baseline
    rule, windows, parameters, formulas) come from that section. SDTM and ADaM are validated
    together (DIR/validation/report.*).

    \b
    Example:
        trialflow derive mappings/hucmsc-t2dm --sdtm out/sdtm --out out
    """
    _pipeline("derive_study", "derived", study_dir, sdtm_dir, out, strict=strict, quiet=quiet)


@cli.command("report", context_settings=CONTEXT)
@study_arg
@click.option(
    "--adam",
    "adam_dir",
    required=True,
    metavar="ADAM_DIR",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of ADaM datasets (ADSL, the BDS datasets the analysis section names, and "
    "ADAE with a safety section).",
)
@out_option
@strict_option
@quiet_option
@limit_option
def report_command(study_dir: Path, adam_dir: Path, out: Path, strict: bool, quiet: bool) -> None:
    """Change-from-baseline statistics, Table 1, figures and report.html: DIR/analysis/.

    What to analyse (endpoints, quantile method, population, Table 1 rows) comes from the
    analysis section of STUDY_DIR/study.yaml.

    \b
    Example:
        trialflow report mappings/hucmsc-t2dm --adam out/adam --out out
    """
    from trialflow.pipeline import report_study

    _run(check_output_folder, out, "--out")
    on_issue = "stop" if strict else "none"
    result = _run(report_study, study_dir, adam_dir, out, on_issue=on_issue,
                  progress=_progress(quiet))  # fmt: skip
    click.echo(f"report: {result.study.studyid} -> {result.out}")
    for path in result.files:
        click.echo(f"  {path.relative_to(result.out).as_posix()}")
    counts = Counter(f.severity for f in result.findings)
    click.echo(
        f"  findings: {counts.get('error', 0)} errors, {counts.get('warning', 0)} warnings, "
        f"{counts.get('notice', 0)} notices"
    )
    for f in [f for f in result.findings if f.severity in ("error", "warning")][:10]:
        click.echo(f"    {f.one_line()}")
    _exit_for(result)


@cli.command("demo", context_settings=CONTEXT)
@click.option(
    "--out",
    "out",
    default=Path("trialflow-demo"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder.",
)
@click.option(
    "--format",
    "formats",
    default="xpt,dataset-json",
    show_default=True,
    help="Dataset files to write, comma-separated: xpt, dataset-json, ndjson.",
)
@click.option(
    "--example",
    default="hucmsc-t2dm",
    show_default=True,
    type=click.Choice(["hucmsc-t2dm", "three-arm"]),
    help="The bundled example: the single-arm study, or the three-arm placebo-controlled one.",
)
@quiet_option
def demo_command(out: Path, formats: str, example: str, quiet: bool) -> None:
    """Run the pipeline on a bundled example study (synthetic data).

    \b
    Example:
        trialflow demo --out trialflow-demo
        trialflow demo --example three-arm --out trialflow-demo-three-arm
    """
    from trialflow.pipeline import example_paths, parse_formats, run_study

    study_dir, raw = example_paths(example)
    if not raw.exists() or not study_dir.exists():
        raise UsageError(
            f"the bundled example is not here ({raw}); demo runs from a source checkout of "
            "trialflow"
        )
    chosen = _run(parse_formats, formats)
    _run(check_output_folder, out, "--out")
    raw = _read_ahead(study_dir, raw)
    result = _run(
        run_study, study_dir, raw, out, on_issue="none", progress=_progress(quiet), formats=chosen,
        ectd=True,
    )  # fmt: skip
    _render(result, "demo")
    click.echo(f"outputs are in {out.resolve()}")
    _exit_for(result)


@cli.command("synth", context_settings=CONTEXT)
@click.option(
    "--subjects",
    default=16,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Number of subjects.",
)
@click.option("--seed", default=2022, show_default=True, type=int, help="Random seed.")
@click.option(
    "--design",
    default="hucmsc-t2dm",
    show_default=True,
    type=click.Choice(["hucmsc-t2dm", "three-arm"]),
    help="The study design: the single-arm example study, or the three-arm placebo-controlled "
    "example (--subjects counts randomised subjects, 1:1:1; docs/raw-export.md).",
)
@click.option(
    "--layout",
    default="workbook",
    show_default=True,
    type=click.Choice(["workbook", "flat-csv", "odm", "sas"]),
    help="Shape of the export: an .xlsx workbook, one flat .csv with every form, a CDISC ODM "
    "1.3 .xml file, or a folder of SAS .xpt datasets (docs/raw-export.md).",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="The file to write (.xlsx, .csv or .xml), or the folder for --layout sas.",
)
def synth_command(subjects: int, seed: int, design: str, layout: str, out: Path) -> None:
    """Write a synthetic raw CRF export of an example study's design (no real patient data).

    \b
    Example:
        trialflow synth --subjects 40 --seed 7 --out export.xlsx
        trialflow synth --layout odm --out export.xml
        trialflow synth --design three-arm --subjects 90 --seed 2024 --out three-arm.xlsx
    """
    from trialflow.io.layouts import write_layout
    from trialflow.io.outputs import replace_file, replace_files
    from trialflow.synth import synthesize

    suffix = {"workbook": ".xlsx", "flat-csv": ".csv", "odm": ".xml"}.get(layout)
    if suffix is not None and out.suffix.lower() != suffix:
        raise UsageError(f"{out}: the {layout} layout is written as {suffix}")
    if suffix is None and out.exists() and not out.is_dir():
        raise UsageError(f"{out}: the sas layout is written as a folder, and this is a file")
    if suffix is not None and out.is_dir():
        raise UsageError(f"{out}: is a folder; give the {suffix} file to write")
    if suffix is None:
        _run(check_output_folder, out, "--out")
    else:
        _run(check_output_file, out, "--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    if design == "three-arm":
        from trialflow.synth_three_arm import synthesize_three_arm as synthesize
    sheets = _run(synthesize, subjects=subjects, seed=seed)

    # written beside and renamed into place: a symbolic link at a file's path is replaced
    def write(tmp: Path) -> Path:
        return write_layout(sheets, tmp, layout)  # type: ignore[arg-type]

    _run(replace_files if suffix is None else replace_file, out, write)
    rows = ", ".join(f"{name} {len(frame)}" for name, frame in sheets.items() if name != "README")
    click.echo(f"wrote {out} ({subjects} synthetic subjects, seed {seed}; rows: {rows})")


@cli.command("validate", context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the findings as report.json to this file.",
)
@click.option(
    "--xlsx",
    "xlsx_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a workbook as Pinnacle 21 lays it out: Dataset Summary, Issue Summary, Details.",
)
@click.option("--strict", is_flag=True, help="Warnings fail the run too (exit 1).")
@click.option(
    "--show",
    default=PER_RULE,
    show_default=True,
    type=click.IntRange(0),
    help="How many findings to print per rule (the reports list every one).",
)
@click.option(
    "--units",
    "units",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A CSV (domain,testcd,expects_unit,reason,source) whose rows replace the shipped "
    "knowledge of which tests are measured in a unit (orresu-missing, stresu-missing).",
)
@limit_option
def validate_command(
    paths: tuple[Path, ...],
    json_out: Path | None,
    xlsx_out: Path | None,
    strict: bool,
    show: int,
    units: Path | None,
) -> None:
    """Validate SDTM or ADaM datasets (.xpt v5/v8, .csv, .parquet, Dataset-JSON) or folders.

    Exit 0 when no error is found, 1 when errors are found, 2 when the input is unusable.

    \b
    Example:
        trialflow validate trialflow-demo/sdtm --json report.json --xlsx report.xlsx
    """
    from trialflow.io.prefetch import XptPrefetch

    for option, path in (("--json", json_out), ("--xlsx", xlsx_out)):
        if path is not None:
            _run(check_output_file, path, option)  # before reading: one line, exit 2
    # the XPT files are parsed in a child process while this one imports pandas
    with _no_cycle_collection(), XptPrefetch.start(paths) as prefetch:
        from trialflow.io.validate import validate_paths

        result = _run(
            validate_paths, paths, json_out=json_out, xlsx_out=xlsx_out, on_issue="none",
            units=units, prefetch=prefetch,
        )  # fmt: skip
    _render_validation(
        result.findings,
        result.report.datasets,
        result.report.rules_run,
        show,
        str(json_out) if json_out else "the --json report",
    )
    for label, path in (("json", json_out), ("xlsx", xlsx_out)):
        if path:
            click.echo(f"  {label} report: {path}")
    failing = {"error", "warning"} if strict else {"error"}
    if any(f.severity in failing for f in result.findings):
        sys.exit(1)


@cli.command("verify", context_settings=CONTEXT)
@click.argument("folder", type=click.Path(path_type=Path))
def verify_command(folder: Path) -> None:
    """Check an output folder against its manifest.json: every listed file present with its
    sha256, no file it does not list, no symbolic link anywhere in the folder.

    Prints one line per problem. Exit 0 when the folder is whole, 1 when it has problems, 2
    when it can't be checked (no folder, no manifest, a manifest that is not well-formed).

    \b
    Example:
        trialflow verify trialflow-demo
    """
    from trialflow.io.outputs import verify_folder

    result = _run(verify_folder, folder)
    for line in result.problems:
        click.echo(f"  {line}")
    n = len(result.problems)
    if n:
        click.echo(f"verify: {folder}: {n} problem{'s' if n > 1 else ''} "
                   f"({result.checked} listed files checked)")  # fmt: skip
        sys.exit(1)
    refused = ""
    if result.status == "refused":
        refused = "; the run was refused: see validation/report.json"
    click.echo(f"verify: {folder}: whole ({result.checked} files match manifest.json{refused})")


@cli.command("rules", context_settings=CONTEXT)
@click.option("--markdown", is_flag=True, help="Print the catalogue as Markdown (docs/rules.md).")
def rules_command(markdown: bool) -> None:
    """List the validation rules: code, severity, what each checks, reference ids.

    \b
    Example:
        trialflow rules --markdown > docs/rules.md
    """
    from trialflow.validation.core import RULES, catalogue_markdown
    from trialflow.validation.engine import validate_package  # noqa: F401  (registers the rules)

    if markdown:
        click.echo(catalogue_markdown(), nl=False)
        return
    for r in RULES.values():
        refs = f" [{', '.join(r.refs)}]" if r.refs else ""
        click.echo(f"{r.code:<34} {r.severity:<8} {r.checks}{refs}")


@cli.group("ct", context_settings=CONTEXT)
def ct_group() -> None:
    """Look up the CDISC Controlled Terminology trialflow ships."""


@ct_group.command("search", context_settings=CONTEXT)
@click.argument("text")
@click.option("--codelist", "codelist", help="Search one codelist only (short name or C-code).")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(min=0),
    help="Show at most this many terms (0: all).",
)  # fmt: skip
def ct_search_command(text: str, codelist: str | None, limit: int) -> None:
    """Find terms by submission value, synonym, NCI preferred term, C-code or codelist.

    The search ignores case; exit 1 when nothing matches.

    \b
    Example:
        trialflow ct search "therapeutic cells"
        trialflow ct search female --codelist SEX
        trialflow ct search C71620 --limit 0
    """
    from trialflow.sdtm import metadata

    if not text.strip():
        raise UsageError("give the text to search for, e.g. trialflow ct search mmol")
    hits = _run(metadata.search_ct, text, codelist)
    scope = f"codelist {codelist.upper()}" if codelist else "the codelists"
    if hits.empty:
        raise DataErrors(
            f"no term of {scope} in CDISC CT {metadata.ct_version()} matches {text!r} "
            "(searched submission values, synonyms, NCI preferred terms, C-codes and codelist "
            f"names); {_ct_shorter(text, codelist)}"
        )
    shown = hits if limit == 0 else hits.head(limit)
    terms = "1 term matches" if len(hits) == 1 else f"{len(hits)} terms match"
    click.echo(f"{terms} {text!r} in {scope} of CDISC CT {metadata.ct_version()}")
    header = {
        "codelist": "CODELIST", "codelist_code": "CL CODE", "term": "SUBMISSION VALUE",
        "term_code": "CODE", "synonyms": "SYNONYMS", "preferred_term": "NCI PREFERRED TERM",
        "matched": "MATCHED",
    }  # fmt: skip
    table = shown[list(header)].astype(str)
    widths = {c: min(40, max(len(h), *(len(v) for v in table[c]))) for c, h in header.items()}

    def cell(value: str, column: str) -> str:
        width = widths[column]
        return (value if len(value) <= width else value[: width - 3] + "...").ljust(width)

    click.echo("  ".join(cell(h, c) for c, h in header.items()).rstrip())
    for row in table.itertuples(index=False):
        click.echo("  ".join(cell(v, c) for c, v in zip(header, row, strict=True)).rstrip())
    if len(hits) > len(shown):
        narrow = "raise --limit" if codelist else "narrow with --codelist"
        click.echo(f"... and {len(hits) - len(shown)} more ({narrow}, or --limit 0)")


def _ct_shorter(text: str, codelist: str | None) -> str:
    """What to search instead when nothing contains ``text``: each of its words (split at
    blanks and / , ; : ( )) that matches, else the longest start of a word that does.

    Example:
        >>> _ct_shorter("cells/kg", None)
        "try a shorter text: 'cells' matches 165 terms, 'kg' 65"
    """
    from trialflow.sdtm import metadata

    words = list(dict.fromkeys(w for w in re.split(r"[\s/,;:()]+", text.strip()) if w))
    found: list[tuple[str, int]] = []
    for word in words:
        shortest = min(len(word), max(3, len(word) // 2))
        for end in range(len(word), shortest - 1, -1):
            part = word[:end]
            if (part, end) == (text.strip(), len(word)):
                continue  # the whole text, already searched
            count = len(metadata.search_ct(part, codelist))
            if count:
                found.append((part, count))
                break
    if not found:
        return "no word of it matches either: check the spelling, or search a part of a word"
    first, *rest = found
    counts = [f"{first[0]!r} matches {first[1]} term{'s' if first[1] > 1 else ''}"]
    counts += [f"{w!r} {n}" for w, n in rest]
    return "try a shorter text: " + ", ".join(counts)


@cli.command("spec-docs", context_settings=CONTEXT)
@click.argument("document", required=False, type=click.Path(path_type=Path, dir_okay=False))
def spec_docs_command(document: Path | None) -> None:
    """Print the spec reference generated from the spec models and the method registry, or
    rewrite its region in DOCUMENT (between the generated-reference markers).

    \b
    Example:
        trialflow spec-docs docs/spec.md
    """
    from trialflow.mapping import docs

    if document is None:
        click.echo(docs.reference_markdown(), nl=False)
        return
    try:
        text = document.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{document}: {exc.strerror or exc}") from None
    new = _run(docs.splice, text, docs.reference_markdown(), str(document))
    if new != text:
        document.write_text(new, encoding="utf-8")
        click.echo(f"{document}: spec reference regenerated")
    else:
        click.echo(f"{document}: spec reference is up to date")


def _echo_per_rule(findings, report: str, per_rule: int = PER_RULE) -> None:
    """The first ``per_rule`` findings of each rule (errors first, then warnings, notices), and
    a line counting the rule's other records, which ``report`` lists."""
    order = {"error": 0, "warning": 1, "notice": 2}
    groups: dict[tuple[str, str], list] = {}
    for f in findings:
        groups.setdefault((f.severity, f.code), []).append(f)
    for (severity, code), group in sorted(
        groups.items(), key=lambda kv: (order.get(kv[0][0], 3), kv[0][1])
    ):
        for f in group[:per_rule]:
            click.echo(f"    {f.one_line()}")
        rest = len(group) - per_rule
        if rest > 0:
            records = "record" if rest == 1 else "records"
            click.echo(f"    ... and {rest} more {records} ({severity} {code}) in {report}")


def _render_validation(
    findings, datasets: dict[str, int], rules_run: int, show: int, report: str = "--json"
) -> None:
    """Per dataset: records and findings by severity; per rule: counts of records; then the
    first ``show`` findings of each rule."""
    by_dataset: dict[str, Counter] = {name: Counter() for name in datasets}
    for f in findings:
        by_dataset.setdefault(f.dataset or "-", Counter())[f.severity] += 1
    click.echo(f"validated {len(datasets)} datasets with {rules_run} rules")
    click.echo(f"  {'dataset':<10}{'records':>9}{'errors':>8}{'warnings':>10}{'notices':>9}")
    for name, counts in by_dataset.items():
        records = datasets.get(name, "")
        click.echo(
            f"  {name:<10}{records!s:>9}{counts['error']:>8}{counts['warning']:>10}"
            f"{counts['notice']:>9}"
        )
    rules = Counter((f.code, f.severity) for f in findings)
    if rules:
        click.echo("  by rule:")
        for (code, severity), n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"    {n:>6}  {severity:<8} {code}")
    _echo_per_rule(findings, report, per_rule=show)
    counts = Counter(f.severity for f in findings)
    click.echo(
        f"  {counts.get('error', 0)} errors, {counts.get('warning', 0)} warnings, "
        f"{counts.get('notice', 0)} notices"
    )


def main() -> None:  # pragma: no cover - console entry point (tests/test_cli_main.py)
    """Console entry point (the ``trialflow`` script and ``python -m trialflow``): run the
    command, then end the process at once with its exit code.

    When a command returns, everything it writes is complete, closed and swapped into place.
    Python's own end would then free, one by one, every object still alive, a whole package
    of frames and the modules of pandas and pyarrow among them: 25 ms of a ``trialflow
    validate`` of the CDISC pilot package, 3 % of the command. Instead the standard streams
    are flushed, the functions registered with :mod:`atexit` are run (finalizers of temporary
    files and folders, logging), and the process exits with the code ``sys.exit`` would have
    given. An exception that is not a ``SystemExit`` ends the process as Python always does.
    """
    try:
        cli.main()  # standalone mode: ends with SystemExit, always
    except SystemExit as exit_:
        code = exit_.code
    else:  # not reached with click's standalone mode; kept for a command that returns
        code = 0
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): the message, and exit 1
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # a closed pipe
            stream.flush()
    os._exit(code)
