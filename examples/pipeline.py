"""The whole pipeline from Python: read the bundled export, map, validate, derive, analyse, write.

Run it from a source checkout: ``python examples/pipeline.py [OUT]`` (OUT defaults to
pipeline-out). Each step is one call of trialflow's public API and returns data in memory (the
findings of each step are on its result); only the last line writes files.
"""

import sys
from pathlib import Path

from trialflow.adam import build_adam
from trialflow.analysis import build_analysis
from trialflow.mapping import load_study
from trialflow.pipeline import (
    example_paths,
    sdtm_package,
    validation_summary,
    write_adam,
    write_analysis,
    write_sdtm,
)
from trialflow.raw import read_export
from trialflow.sdtm import build_sdtm
from trialflow.validation import validate_package

out = Path(sys.argv[1] if len(sys.argv) > 1 else "pipeline-out")
study_dir, raw = example_paths()  # mappings/hucmsc-t2dm and its synthetic raw export
study = load_study(study_dir)  # study.yaml and the domain specs
sdtm = build_sdtm(study, read_export(raw), on_issue="none")  # raw -> SDTM, with lineage
package = sdtm_package(sdtm)
report = validate_package(package, on_issue="none")  # the conformance rules
adam = build_adam(study.spec, sdtm.domains, sdtm_lineage=sdtm.lineage, on_issue="none")
context = {"studyid": study.studyid, "synthetic": True}  # what the report's header shows
summary = validation_summary(report.findings, package)  # what the report says of validation
analysis = build_analysis(study.spec, adam.datasets, context, summary)  # tables, figures, report
files = write_sdtm(sdtm, out) + write_adam(adam, out) + write_analysis(analysis, out)

print(
    f"{len(sdtm.domains)} SDTM and {len(adam.datasets)} ADaM datasets, "
    f"{report.errors} validation errors, {len(files)} files in {out}"
)
