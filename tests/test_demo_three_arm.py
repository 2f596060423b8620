"""``trialflow demo --example three-arm``: the second bundled example end to end."""

from __future__ import annotations

import json

import pandas as pd
import pyreadstat
import pytest
from click.testing import CliRunner

from trialflow.cli import cli
from trialflow.pipeline import EXAMPLES, example_paths


def test_examples_and_their_paths():
    assert EXAMPLES == ("hucmsc-t2dm", "three-arm")
    assert example_paths()[0].name == "hucmsc-t2dm"  # the default stays the single-arm study
    for name in EXAMPLES:
        specs, raw = example_paths(name)
        assert (specs / "study.yaml").is_file() and raw.is_file()
    with pytest.raises(ValueError, match=r"unknown example 'x' .*three-arm"):
        example_paths("x")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("three-arm") / "demo"
    result = CliRunner().invoke(cli, ["demo", "--example", "three-arm", "--out", str(out), "-q"])
    return out, result


def test_demo_runs_the_three_arm_example(demo):
    out, result = demo
    runner = CliRunner()
    assert result.exit_code == 0, result.output
    assert "demo: TF3ARM-01" in result.output and "0 errors" in result.output
    dm, meta = pyreadstat.read_xport(str(out / "sdtm" / "dm.xpt"))
    # 90 randomised (30 per arm) and 8 screen failures
    assert len(dm) == 98 and meta.table_name == "DM"
    assert sorted(dm["ARMCD"].value_counts().items()) == [("", 8), ("HIGH", 30), ("LOW", 30),
                                                          ("PBO", 30)]  # fmt: skip
    assert json.loads((out / "adam" / "adsl.json").read_text())["records"] == 98
    checked = runner.invoke(cli, ["verify", str(out)])
    assert checked.exit_code == 0, checked.output


def test_demo_refuses_an_unknown_example(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--example", "x", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "three-arm" in result.output


# --- ADaM and the analysis against an independent recomputation in R ---------------------------
# R 4.2.2 with haven 2.5.1 and emmeans 1.8.4 on this run's XPT files (the scripts are quoted in
# each test); the values are R's, printed to 10 significant digits.


def _xpt(out, kind, name):
    return pyreadstat.read_xport(str(out / kind / f"{name}.xpt"))[0]


def test_baseline_per_time_point_equals_r_from_sdtm(demo):
    """R, from SDTM only: TRTSDT = first EXSTDTC of records with EXDOSE > 0 or placebo
    (admiral's ADSL template); BASE of SYSBP supine (VSTPTNUM 815) = the last VSSTRESN dated on
    or before TRTSDT (admiral derive_var_extreme_flag, mode "last").

        ok <- ex$EXDOSE > 0 | (ex$EXDOSE == 0 & grepl("PLACEBO", ex$EXTRT))
        trtsdt <- tapply(as.Date(substr(ex$EXSTDTC[ok], 1, 10)), ex$USUBJID[ok], min)
        s <- subset(vs, VSTESTCD == "SYSBP" & VSTPTNUM == 815 & !is.na(VSSTRESN))
        s <- s[as.Date(substr(s$VSDTC, 1, 10)) <= trtsdt[s$USUBJID], ]   # ordered by date
        base <- tapply(s$VSSTRESN, s$USUBJID, function(x) x[length(x)])
        tapply(base, arm[names(base)], function(x) c(n = length(x), sum = sum(x)))
        # Drug X 25 mg: 30 4487; Drug X 50 mg: 28 4172; Placebo: 30 4400 (88 equal in ADVS)
    """
    out, _ = demo
    advs, adsl = _xpt(out, "adam", "advs"), _xpt(out, "adam", "adsl")
    supine = advs[(advs["PARAMCD"] == "SYSBP") & (advs["ATPTN"] == 815)]
    assert set(supine["BASETYPE"]) == {"LAST: AFTER LYING DOWN FOR 5 MINUTES"}
    base = supine.dropna(subset=["BASE"]).groupby("USUBJID")["BASE"].agg(["nunique", "first"])
    assert (base["nunique"] == 1).all()  # BASE constant within USUBJID, PARAMCD, BASETYPE
    arm = adsl.set_index("USUBJID")["TRT01P"]
    per_arm = base["first"].groupby(arm.reindex(base.index)).agg(["size", "sum"])
    assert per_arm.to_dict("index") == {
        "Drug X 25 mg": {"size": 30, "sum": 4487.0},
        "Drug X 50 mg": {"size": 28, "sum": 4172.0},
        "Placebo": {"size": 30, "sum": 4400.0},
    }
    changed = supine.dropna(subset=["CHG"])
    assert len(changed) == 545 and (changed["CHG"] == changed["AVAL"] - changed["BASE"]).all()
    # weight has no time point: its own basetype, as admiral's "LAST" (is.na(ATPTN))
    assert set(advs.loc[advs["PARAMCD"] == "WEIGHT", "BASETYPE"]) == {"LAST"}


def test_locf_and_end_of_treatment_records(demo):
    """TF3ARM-01-01-003, SYSBP supine (ADVS read in R): screening 156 (no AVISIT); BASELINE
    152; WEEK 2 158; WEEK 4 133; an unscheduled 141 on 2024-04-28 (no AVISIT, as
    analysis_visits.unscheduled: exclude asks); no WEEK 8; WEEK 12 152; WEEK 16 148.
    admiral's derive_locf_records carries WEEK 4's 133 to WEEK 8 (DTYPE LOCF, CHG 133 - 152 =
    -19), not the unscheduled value; the end-of-treatment record (DTYPE LOV, AVISITN 99) is
    WEEK 16's 148. Records: 31 LOCF, 88 LOV (one per subject with a post-baseline value),
    604 observed."""
    out, _ = demo
    advs = _xpt(out, "adam", "advs")
    supine = advs[(advs["PARAMCD"] == "SYSBP") & (advs["ATPTN"] == 815)]
    assert supine["DTYPE"].value_counts().to_dict() == {"": 604, "LOV": 88, "LOCF": 31}
    subject = supine[supine["USUBJID"] == "TF3ARM-01-01-003"].set_index("AVISIT")
    # no AVISIT: the screening value (before baseline) and the excluded unscheduled one
    assert sorted(subject.loc[[""], "AVAL"].tolist()) == [141.0, 156.0]
    assert set(subject.loc[[""], "ANL01FL"]) == {""}
    assert subject.loc["WEEK 8", ["AVAL", "CHG", "DTYPE", "ANL01FL"]].tolist() == [
        133.0, -19.0, "LOCF", "Y"]  # fmt: skip
    eot = subject.loc["END OF TREATMENT"]
    assert (eot["AVAL"], eot["AVISITN"], eot["DTYPE"]) == (148.0, 99.0, "LOV")
    assert subject.loc["BASELINE", ["ABLFL", "ANL01FL"]].tolist() == ["Y", ""]


def test_screen_failures_and_never_treated_in_adsl(demo):
    """SDTMIG 3.4: a screen failure has ARM empty and ARMNRS SCREEN FAILURE; admiral's ADSL
    template: TRT01P = ARM, TRT01A = ACTARM (so both empty, and TRT01A empty for a randomised
    subject never treated), SAFFL N without a dose; RANDFL from being assigned an arm."""
    out, _ = demo
    adsl = _xpt(out, "adam", "adsl").set_index("USUBJID")
    failures = adsl[adsl["ARMNRS"] == "SCREEN FAILURE"]
    assert len(failures) == 8
    assert set(failures["TRT01P"]) == set(failures["TRT01A"]) == {""}
    assert set(failures["SAFFL"]) == set(failures["RANDFL"]) == {"N"}
    untreated = adsl[adsl["ARMNRS"] == "ASSIGNED, NOT TREATED"]
    assert untreated["TRT01P"].tolist() == ["Drug X 50 mg"] * 2
    assert set(untreated["TRT01A"]) == {""} and set(untreated["SAFFL"]) == {"N"}
    assert set(untreated["RANDFL"]) == {"Y"}
    treated = adsl[adsl["SAFFL"] == "Y"]
    assert len(treated) == 88 and (treated["TRT01A"] == treated["TRT01P"]).all()


def test_between_arm_comparisons_equal_r(demo):
    """WEEK 16, SYSBP supine, the LOCF analysis (analysis.derived_records: [LOCF, LOV]), FASFL:

        d <- subset(merge(advs, adsl[, c("USUBJID", "FASFL")], by = "USUBJID",
                          suffixes = c("", ".sl")),
                    FASFL.sl == "Y" & PARAMCD == "SYSBP" & ATPTN == 815 &
                    AVISIT == "WEEK 16" & ANL01FL == "Y")      # 82 observed + 6 LOCF
        d$TRT01P <- relevel(factor(d$TRT01P), ref = "Placebo")
        em <- emmeans(lm(CHG ~ TRT01P + BASE, data = d), "TRT01P")
        #  Placebo -1.308706 SE 1.5503632; 25 mg -8.946521 1.5465446; 50 mg -13.440829 1.5983285
        summary(contrast(em, "trt.vs.ctrl", ref = 1, adjust = "none"), infer = TRUE)
        #  25 mg - Placebo -7.637815 SE 2.1965394 df 84 CI -12.005875 -3.269756
        #     t -3.477203948 p 8.049025832e-04 (summary(lm)$coefficients)
        #  50 mg - Placebo -12.132123 SE 2.2301136 CI -16.566948 -7.697298
        #     t -5.440136824 p 5.150820972e-07
        wilcox.test(hi, pl)   # W = 140, p = 1.346212e-05 (normal approximation: ties)
        wilcox.test(lo, pl)   # W = 190.5, p = 0.0001264241075
        wilcox.test(hi, pl, conf.int = TRUE)  # difference in location -12.000023954368730,
                              # 95 % CI -17.999967502916114 -7.0000252569108898
        wilcox.test(lo, pl, conf.int = TRUE)  # -8.0000773266948180,
                              # 95 % CI -12.000056578206951 -4.0000091994686606
        kruskal.test(CHG ~ TRT01P, data = d)  # 24.104121, df 2, p 5.832525e-06
    """
    out, _ = demo
    rows = pd.read_csv(out / "analysis" / "cfb_comparisons.csv")
    at = rows[(rows["PARAMCD"] == "SYSBP") & (rows["ATPTN"] == 815) & (rows["AVISIT"] == "WEEK 16")]
    got = {(r.TERM, r.GROUP if isinstance(r.GROUP, str) else ""): r for r in at.itertuples()}
    for group, (mean, se) in {
        "Placebo": (-1.308706, 1.5503632),
        "Drug X 25 mg": (-8.946521, 1.5465446),
        "Drug X 50 mg": (-13.440829, 1.5983285),
    }.items():
        row = got[("LSMEAN", group)]
        assert pytest.approx(mean, abs=5e-7) == row.ESTIMATE
        assert pytest.approx(se, abs=5e-8) == row.SE and row.DF == 84
    for group, (diff, se, low, high, t, p) in {
        "Drug X 25 mg": (-7.637815, 2.1965394, -12.005875, -3.269756, -3.477203948,
                         8.049025832e-04),
        "Drug X 50 mg": (-12.132123, 2.2301136, -16.566948, -7.697298, -5.440136824,
                         5.150820972e-07),
    }.items():  # fmt: skip
        row = got[("DIFF", group)]
        assert row.REFERENCE == "Placebo"
        assert pytest.approx(diff, abs=5e-7) == row.ESTIMATE
        assert pytest.approx(se, abs=5e-8) == row.SE
        assert pytest.approx(low, abs=5e-7) == row.LOWER
        assert pytest.approx(high, abs=5e-7) == row.UPPER
        assert pytest.approx(t, abs=5e-10) == row.STATISTIC
        assert pytest.approx(p, rel=1e-8) == row.P_VALUE
    assert got[("RANKSUM", "Drug X 50 mg")].STATISTIC == 140
    assert pytest.approx(1.346212e-05, rel=1e-6) == got[("RANKSUM", "Drug X 50 mg")].P_VALUE
    assert got[("RANKSUM", "Drug X 25 mg")].STATISTIC == 190.5
    assert pytest.approx(0.0001264241075, rel=1e-8) == got[("RANKSUM", "Drug X 25 mg")].P_VALUE
    for group, (shift, low, high) in {
        "Drug X 50 mg": (-12.000023954368730, -17.999967502916114, -7.0000252569108898),
        "Drug X 25 mg": (-8.0000773266948180, -12.000056578206951, -4.0000091994686606),
    }.items():  # the location shift and its interval, as wilcox.test(conf.int = TRUE)
        row = got[("RANKSUM", group)]
        assert pytest.approx(shift, abs=5e-7) == row.ESTIMATE
        assert (pytest.approx(low, abs=5e-7), pytest.approx(high, abs=5e-7)) == (row.LOWER,
                                                                                  row.UPPER)
        assert row.CONF_LEVEL == 0.95
    kruskal = got[("KRUSKAL", "")]
    assert pytest.approx(24.104121, abs=5e-7) == kruskal.STATISTIC
    assert (kruskal.DF, kruskal.N) == (2, 88)
    assert pytest.approx(5.832525e-06, rel=1e-6) == kruskal.P_VALUE


def test_table1_and_summaries_by_arm(demo):
    """Table 1 by arm with n per arm and a total; the summary of the analysis has one row per
    parameter, time point, visit and group."""
    out, _ = demo
    table1 = pd.read_csv(out / "analysis" / "table1.csv")
    assert list(dict.fromkeys(table1["GROUP"])) == ["Placebo", "Drug X 25 mg", "Drug X 50 mg",
                                                    "Total"]  # fmt: skip
    summary = pd.read_csv(out / "analysis" / "cfb_summary.csv")
    week16 = summary[(summary["PARAMCD"] == "SYSBP") & (summary["ATPTN"] == 815)
                     & (summary["AVISIT"] == "WEEK 16") & (summary["VAR"] == "CHG")]  # fmt: skip
    # LOCF analysis: every FAS subject of each arm at WEEK 16 (30, 30, 28: 2 of the 50 mg arm
    # were never treated)
    assert dict(zip(week16["GROUP"], week16["N"], strict=True)) == {
        "Placebo": 30, "Drug X 25 mg": 30, "Drug X 50 mg": 28}  # fmt: skip
    # the BASELINE row of each time point comes from the baseline records although the SAP
    # keeps them out of ANL01FL (include_baseline: false): n and mean of BASE per arm as R
    # gives them from SDTM (test_baseline_per_time_point_equals_r_from_sdtm: sums 4400, 4487,
    # 4172 over 30, 30, 28 subjects; the CSV holds 7 decimals)
    baseline = summary[(summary["PARAMCD"] == "SYSBP") & (summary["ATPTN"] == 815)
                       & (summary["AVISIT"] == "BASELINE")]  # fmt: skip
    assert baseline["VAR"].tolist() == ["AVAL"] * 3
    assert baseline.set_index("GROUP")[["N", "MEAN"]].to_dict("index") == {
        "Placebo": {"N": 30, "MEAN": pytest.approx(4400 / 30, abs=5e-8)},
        "Drug X 25 mg": {"N": 30, "MEAN": pytest.approx(4487 / 30, abs=5e-8)},
        "Drug X 50 mg": {"N": 28, "MEAN": pytest.approx(4172 / 28, abs=5e-8)},
    }


def test_observed_cases_without_analysis_derived_records(demo, tmp_path):
    """Without analysis.derived_records the analysis leaves the LOCF and LOV records out. R on
    the run's ADVS: WEEK 16 SYSBP supine, FASFL, ANL01FL = Y, DTYPE empty, CHG present:
    n 28 / 28 / 26 and mean CHG -1.071428571 / -8.642857143 / -15.115384615 (Placebo, 25 mg,
    50 mg; the CSV holds 10 significant digits); and no END OF TREATMENT row."""
    out, _ = demo
    study = tmp_path / "study"
    study.mkdir()
    text = (example_paths("three-arm")[0] / "study.yaml").read_text()
    assert "  derived_records: [LOCF, LOV]\n" in text
    (study / "study.yaml").write_text(text.replace("  derived_records: [LOCF, LOV]\n", ""))
    result = CliRunner().invoke(
        cli, ["report", str(study), "--adam", str(out / "adam"), "--out", str(tmp_path / "r"),
              "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "r" / "analysis" / "cfb_summary.csv")
    sysbp = summary[(summary["PARAMCD"] == "SYSBP") & (summary["ATPTN"] == 815)
                    & (summary["VAR"] == "CHG")]  # fmt: skip
    week16 = sysbp[sysbp["AVISIT"] == "WEEK 16"].set_index("GROUP")
    assert week16.loc[["Placebo", "Drug X 25 mg", "Drug X 50 mg"], "N"].tolist() == [28, 28, 26]
    assert week16.loc["Placebo", "MEAN"] == pytest.approx(-1.071428571, abs=5e-9)
    assert week16.loc["Drug X 50 mg", "MEAN"] == pytest.approx(-15.115384615, abs=5e-8)
    assert "END OF TREATMENT" not in set(sysbp["AVISIT"])


def test_analysing_records_adam_does_not_derive_is_a_spec_error_naming_its_line(tmp_path):
    from trialflow.errors import SpecError
    from trialflow.mapping.load import load_study

    text = (example_paths("three-arm")[0] / "study.yaml").read_text()
    old = "derived_records: [{dtype: LOCF}, {dtype: LOV, avisit: END OF TREATMENT, avisitn: 99"
    assert text.count(old) == 1
    text = text.replace(old, "derived_records: [{dtype: LOV, avisit: END OF TREATMENT, avisitn: 99")
    (tmp_path / "study.yaml").write_text(text)
    line = text.splitlines().index("  derived_records: [LOCF, LOV]") + 1
    with pytest.raises(SpecError, match=rf"study\.yaml:{line}: .*LOCF records are not derived: "
                       r"add \{dtype: LOCF\} to adam\.derived_records"):  # fmt: skip
        load_study(tmp_path, domain_specs=False)


def test_adverse_events_by_term_and_arm_without_administrations(demo):
    """analysis.safety.by_administration: false (Drug X is taken daily; an EX record is a
    dosing period): ae_summary.csv has the rows of all administrations (INFUSION ALL) by term
    and arm with their per-administration counts empty, and the report has no infusion table.
    R on the run's ADAE/ADSL: TRTEMFL = Y of SAFFL = Y subjects, per arm (30/30/28 subjects)."""
    out, _ = demo
    ae = pd.read_csv(out / "analysis" / "ae_summary.csv", keep_default_na=False)
    assert set(ae["INFUSION"]) == {"ALL"}
    assert set(ae["N_INFUSIONS"]) == set(ae["WITHIN_DAYS"]) == {""}
    adae, adsl = _xpt(out, "adam", "adae"), _xpt(out, "adam", "adsl")
    safety = adsl[adsl["SAFFL"] == "Y"].set_index("USUBJID")["TRT01A"]
    teae = adae[(adae["TRTEMFL"] == "Y") & adae["USUBJID"].isin(safety.index)]
    any_row = ae[ae["AEDECOD"] == "Any treatment-emergent adverse event"].set_index("GROUP")
    for group, n in (("Placebo", 30), ("Drug X 25 mg", 30), ("Drug X 50 mg", 28)):
        subjects = teae.loc[teae["USUBJID"].map(safety) == group, "USUBJID"].nunique()
        assert (int(any_row.loc[group, "N_SUBJECTS"]), int(any_row.loc[group, "SUBJECTS"])) == (
            n, subjects)  # fmt: skip
    assert int(any_row.loc["Total", "EVENTS"]) == len(teae)
    report = (out / "analysis" / "report.html").read_text()
    assert "nfusion" not in report and 'id="ae-terms"' in report


def test_per_administration_counts_need_within_days(tmp_path):
    from trialflow.errors import SpecError
    from trialflow.mapping.load import load_study

    text = (example_paths("three-arm")[0] / "study.yaml").read_text()
    assert text.count("    by_administration: false\n") == 1
    text = text.replace("    by_administration: false\n", "    by_administration: true\n")
    (tmp_path / "study.yaml").write_text(text)
    with pytest.raises(SpecError, match=r"analysis\.safety\.within_days: required to count "
                       r"adverse events per administration \(add within_days: N, or "
                       r"by_administration: false"):
        load_study(tmp_path, domain_specs=False)
