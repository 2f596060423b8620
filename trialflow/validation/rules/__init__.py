"""The rule catalogue, one module per topic; importing this package registers every rule.

A rule's code says where it lives (docs/rules.md lists each rule under its module):

- :mod:`~trialflow.validation.schema`: dataset rules built from SDTMIG metadata (required and
  expected variables, types, controlled terminology, ISO 8601, keys, lengths), run as pandera
  schemas;
- :mod:`.dm`: DM and what must agree with it (subjects, arms, reference and exposure dates);
- :mod:`.structure`: records and variables of any SDTM dataset (--SEQ, duplicates, variables);
- :mod:`.timing`: study days and starts before ends;
- :mod:`.findings`: results, units, reference ranges and baseline flags of Findings domains;
- :mod:`.events`: adverse-event seriousness, deaths, end points of events and interventions;
- :mod:`.trial_design`: trial design datasets, visits, epochs and subject elements;
- :mod:`.ts`: the Trial Summary (TS) dataset;
- :mod:`.supp`: SUPP-- datasets;
- :mod:`.adam`: any ADaM dataset (flags, dates, subjects) and what the ADaM modules share;
- :mod:`.adsl`: ADSL (one record per subject, required variables, population flags, DM);
- :mod:`.bds`: BDS datasets (parameters, baseline, change from baseline, visits);
- :mod:`.occds`: OCCDS datasets (treatment-emergent and first-occurrence flags, coding);
- :mod:`.xpt`: SAS XPORT v5 limits;
- :mod:`.text`: text values of any dataset (control characters);
- :mod:`.define`: define.xml against the data;
- :mod:`.dictionary`: dictionary coding (MedDRA hierarchy, WHODrug classes);
- :mod:`.files`: file names and sizes FDA states.

:mod:`.common` holds what the rules share (reading values, comparing partial dates, reporting
every violating record).
"""

from __future__ import annotations

from trialflow.validation import schema as _schema  # noqa: F401  (registers the dataset rules)
from trialflow.validation.rules import (  # noqa: F401  (each module registers its rules)
    adam,
    adsl,
    bds,
    define,
    dictionary,
    dm,
    events,
    files,
    findings,
    occds,
    structure,
    supp,
    text,
    timing,
    trial_design,
    ts,
    xpt,
)
