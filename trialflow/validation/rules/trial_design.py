"""Trial design and visits: VISIT and VISITNUM across the package."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialflow.errors import Finding
from trialflow.validation.core import (
    Package,
    rule,
)
from trialflow.validation.rules.common import (
    dominant,
    fmt,
    others,
    present,
    report_rows,
    sdtm_datasets,
    stripped,
    value_codes,
)


def _visits_one_to_one(package: Package) -> bool:
    """True when each VISITNUM of the package has one VISIT and each VISIT one VISITNUM.

    Decided on the distinct (VISITNUM, VISIT) pairs of each dataset, grouping as the rule does
    (VISITNUM as a number, VISIT trimmed), so the rule only looks at records when some differ.
    """
    pairs = []
    for ds in sdtm_datasets(package):
        f = ds.frame
        if "VISITNUM" not in f.columns or "VISIT" not in f.columns:
            continue
        number = pd.to_numeric(f["VISITNUM"], errors="coerce")
        keep = (number.notna() & present(f["VISIT"])).to_numpy()
        visit = stripped(f["VISIT"])
        codes = pd.DataFrame({"n": value_codes(number)[keep], "v": value_codes(visit)[keep]})
        first = np.flatnonzero(keep)[~codes.duplicated().to_numpy()]
        pairs.append(
            pd.DataFrame(
                {"VISITNUM": number.to_numpy()[first], "VISIT": visit.to_numpy(dtype=object)[first]}
            )
        )
    if not pairs:
        return True
    work = pd.concat(pairs, ignore_index=True).drop_duplicates()
    return not (work["VISITNUM"].duplicated().any() or work["VISIT"].duplicated().any())


@rule(
    "visit-visitnum-not-one-to-one",
    "error",
    "cross",
    checks="Across all SDTM datasets of the package, each VISITNUM has one VISIT text and each "
    "VISIT one VISITNUM.",
    why="VISITNUM orders visits and VISIT names them; a number with two names (or two numbers "
    "for one name) splits or merges visits in every by-visit table.",
    refs=["CG0035", "CORE-000361", "FB0919"],
)
def visit_visitnum_not_one_to_one(package: Package) -> list[Finding]:
    """VISITNUM and VISIT that do not pair one-to-one across the package."""
    if _visits_one_to_one(package):
        return []
    parts = []
    datasets = {}
    for ds in sdtm_datasets(package):
        f = ds.frame
        if "VISITNUM" not in f.columns or "VISIT" not in f.columns:
            continue
        keep = pd.to_numeric(f["VISITNUM"], errors="coerce").notna() & present(f["VISIT"])
        datasets[ds.name] = ds
        parts.append(
            pd.DataFrame(
                {
                    "__DS__": ds.name,
                    "__IX__": f.index[keep.to_numpy()],
                    "VISITNUM": pd.to_numeric(f.loc[keep, "VISITNUM"], errors="coerce"),
                    "VISIT": stripped(f.loc[keep, "VISIT"]),
                }
            ).reset_index(drop=True)
        )
    if not parts:
        return []
    work = pd.concat(parts, ignore_index=True)
    by_num, by_text = dominant(work, ["VISITNUM"], "VISIT"), dominant(work, ["VISIT"], "VISITNUM")
    off_num = work["VISIT"].to_numpy() != by_num["dominant"].to_numpy()
    off_text = work["VISITNUM"].to_numpy() != by_text["dominant"].to_numpy()
    work = work.assign(
        __OFFNUM__=off_num,
        __OFFTEXT__=off_text,
        __TOPTEXT__=by_num["dominant"],
        __NTEXT__=by_num["count"],
        __TOPNUM__=by_text["dominant"],
        __NNUM__=by_text["count"],
    )
    out: list[Finding] = []
    for name, ds in datasets.items():
        mine = work[(work["__DS__"] == name) & (work["__OFFNUM__"] | work["__OFFTEXT__"])]
        if mine.empty:
            continue
        extra = mine.set_index("__IX__")[
            ["__OFFNUM__", "__TOPTEXT__", "__NTEXT__", "__TOPNUM__", "__NNUM__"]
        ]
        frame = ds.frame.loc[extra.index].join(extra)

        def say(r: pd.Series) -> str:
            if bool(r["__OFFNUM__"]):
                return (
                    f"VISITNUM {fmt(r['VISITNUM'])} is {fmt(r['VISIT'])} here but "
                    f"{fmt(r['__TOPTEXT__'])} on {others(r['__NTEXT__'])} of the "
                    "package; each VISITNUM must have one VISIT."
                )
            return (
                f"VISIT {fmt(r['VISIT'])} has VISITNUM {fmt(r['VISITNUM'])} here but "
                f"{fmt(r['__TOPNUM__'])} on {others(r['__NNUM__'])} of the package; "
                "each VISIT must have one VISITNUM."
            )

        out += report_rows(
            "visit-visitnum-not-one-to-one", ds, frame, "VISITNUM", say, value="VISITNUM"
        )
    return out
