"""A site's own flat export maps with the spec language alone, no workaround.

One CSV holds every form (a FORM column), repeating forms are numbered by INSTANCE, dates are
month-first, the infusion form records the total cells given (the per-kg dose needs the day-0
weight from the vital signs form), an ongoing adverse event has no end date, and the lab records a
fasting state on every test while LBFAST belongs to glucose and C-peptide only. The specs say
each of these directly; the SDTM values are those of the same records in the example workbook.
"""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from support import EXAMPLE_SPECS

from trialflow.io.layouts import write_layout
from trialflow.mapping.load import load_study
from trialflow.raw import read_export
from trialflow.sdtm.build import build_sdtm
from trialflow.synth import synthesize

SUBJECTS, SEED = 6, 11
DATES = ("CONSENT_DT", "BIRTH_DT", "VIS_DATE", "LAB_DATE", "INF_DATE", "START_DT", "END_DT")
DATES += ("DS_DATE",)
WORKBOOK_FORMATS = ("%d-%b-%Y", "%Y/%m/%d", "%Y-%m-%d")
SITE_FORMATS = ["%m/%d/%Y", "%d-%b-%Y"]  # month-first; partial dates as UN-MAR-2009
DAY_0 = ["Baseline (Day 0)", "Day 0", "D0"]  # the sites' labels of the day-0 visit


def _date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    for fmt in WORKBOOK_FORMATS:
        try:
            return dt.datetime.strptime(str(value), fmt).date()
        except ValueError:
            continue
    return None


def _month_first(values: pd.Series) -> pd.Series:
    """Complete dates as MM/DD/YYYY; partial ones (UN-MAY-2019) and blanks as they are."""
    return values.map(lambda v: d.strftime("%m/%d/%Y") if (d := _date(v)) else v)


def _site_sheets(sheets: dict) -> dict:
    out = {name: frame.copy() for name, frame in sheets.items()}
    for frame in out.values():
        for column in DATES:
            if column in frame.columns:
                frame[column] = _month_first(frame[column]).astype(object)
    # The infusion form records the total cells given, dosed by the baseline (Day 0) weight;
    # that weight is on the vital signs form only.
    inf = out["INFUSION"]
    total = (inf["DOSE"] * inf["WEIGHT_KG"] * 1_000_000).round()
    out["INFUSION"] = inf.drop(columns=["DOSE", "WEIGHT_KG"]).assign(TOTAL_CELLS=total)
    # one event still ongoing: no end date
    out["AE"].loc[0, "END_DT"] = None
    out["AE"].loc[0, "OUTCOME"] = "Not recovered/Not resolved"
    return out


def _site_specs(tmp_path):
    """The example specs, as a programmer adapts them to the site's export."""
    out = tmp_path / "specs"
    shutil.copytree(EXAMPLE_SPECS, out)
    for path in sorted(out.glob("*.yaml")):
        if path.name == "study.yaml":
            continue
        spec = yaml.safe_load(path.read_text())
        source = spec["source"]
        source["where"] = {"FORM": [source["sheet"]], **(source.get("where") or {})}
        source["sheet"] = "export"
        if spec["domain"] != "DM":
            source["record_key"] = ["SUBJ", "INSTANCE"]
        for var in spec["variables"]:
            if var.get("method") == "assign_datetime":
                var["formats"] = [SITE_FORMATS, ["%H:%M"]] if isinstance(var["raw"], list) \
                    else SITE_FORMATS  # fmt: skip
        names = [v["name"] for v in spec["variables"]]
        if spec["domain"] == "EX":
            spec["variables"][names.index("EXDOSE")] = {
                "name": "EXDOSE", "method": "lookup", "raw": "TOTAL_CELLS",
                "combine": "divide", "convert": {"divide": 1000000}, "digits": 1,
                "lookup": {"sheet": "export", "column": "WEIGHT_KG",
                           "where": {"FORM": ["VITALS"], "VISIT": DAY_0}},
            }  # fmt: skip
        if spec["domain"] == "AE":
            at = names.index("AEENDTC") + 1
            spec["variables"][at:at] = [
                {"name": "AEENRTPT", "method": "hardcode_ct", "value": "ONGOING",
                 "codelist": "STENRF", "raw": "END_DT", "when": {"END_DT": {"blank": True}}},
                {"name": "AEENTPT", "method": "hardcode_no_ct", "value": "END OF STUDY",
                 "raw": "END_DT", "when": {"END_DT": {"blank": True}}},
            ]  # fmt: skip
        if spec["domain"] == "LB":
            fast = spec["variables"][names.index("LBFAST")]
            fast["when"] = {"LBTESTCD": ["GLUC", "CPEPTIDE"]}
        path.write_text(yaml.safe_dump(spec, sort_keys=False, width=1000))
    return out


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    sheets = synthesize(subjects=SUBJECTS, seed=SEED)
    folder = tmp_path_factory.mktemp("site")
    workbook = write_layout(sheets, folder / "export.xlsx", "workbook")
    reference = build_sdtm(load_study(EXAMPLE_SPECS), read_export(workbook), on_issue="none")
    flat = write_layout(_site_sheets(sheets), folder / "export.csv", "flat-csv")
    site = build_sdtm(load_study(_site_specs(folder)), read_export(flat), on_issue="none")
    return reference, site


def test_the_site_export_maps_without_an_error(mapped):
    _, site = mapped
    errors = [f"{f.code}: {f.message}" for f in site.findings if f.severity == "error"]
    assert errors == []


def test_dates_read_month_first_give_the_workbooks_dates(mapped):
    reference, site = mapped
    for domain, var in (("EX", "EXSTDTC"), ("LB", "LBDTC"), ("VS", "VSDTC"), ("AE", "AESTDTC"),
                        ("DM", "RFICDTC"), ("DM", "BRTHDTC")):  # fmt: skip
        if var not in reference.domains[domain].columns:
            continue
        assert sorted(site.domains[domain][var].dropna()) == sorted(
            reference.domains[domain][var].dropna()
        ), var


def test_the_dose_per_kg_comes_from_total_cells_and_the_weight_on_another_form(mapped):
    reference, site = mapped
    key = ["USUBJID", "EXSTDTC"]
    ref = reference.domains["EX"].sort_values(key)["EXDOSE"].to_numpy(dtype=float)
    got = site.domains["EX"].sort_values(key)["EXDOSE"].to_numpy(dtype=float)
    assert len(got) == len(ref) > 0
    assert not np.isnan(got).any()
    np.testing.assert_array_equal(got, ref)


def test_an_event_without_an_end_date_is_ongoing(mapped):
    _, site = mapped
    ae = site.domains["AE"]
    ongoing = ae["AEENDTC"].isna() | ae["AEENDTC"].eq("")
    assert ongoing.sum() == 1
    assert ae.loc[ongoing, "AEENRTPT"].tolist() == ["ONGOING"]
    assert ae.loc[ongoing, "AEENTPT"].tolist() == ["END OF STUDY"]
    assert ae.loc[~ongoing, "AEENRTPT"].isna().all()


def test_lbfast_is_set_for_glucose_and_c_peptide_only(mapped):
    _, site = mapped
    lb = site.domains["LB"]
    fasting_tests = lb["LBTESTCD"].isin(["GLUC", "CPEPTIDE"])
    assert lb.loc[fasting_tests, "LBFAST"].isin(["Y", "N"]).all()
    assert lb.loc[~fasting_tests, "LBFAST"].isna().all()
    assert (~fasting_tests).sum() > 0
