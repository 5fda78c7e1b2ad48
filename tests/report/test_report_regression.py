"""Regression decisions at the boundary, CI rule, protocol refusal, change listing, JUnit XML."""

from __future__ import annotations

import dataclasses
import datetime
import re
import xml.etree.ElementTree as ET

import pytest

from report_fixtures import make_record, paper_run
from vidrd_bench.core.errors import ProtocolMismatchError, VidrdBenchError
from vidrd_bench.protocols import PROTOCOLS
from vidrd_bench.report.junit import junit_xml, write_junit
from vidrd_bench.report.regression import Tolerance, compare, compare_files, parse_tolerance, parse_tolerances
from vidrd_bench.results import save_results


def _decide(metric: str, base_value: float, cur_value: float, spec: str | None = None,
            base: dict | None = None, cur: dict | None = None):
    """Decision for one metric between two records that differ only in value (and optional CI fields)."""
    b = make_record(metric, base_value, **(base or {}))
    c = make_record(metric, cur_value, **(cur or {}))
    return compare([b], [c], parse_tolerances([spec] if spec else [])).comparisons[0]


@pytest.mark.parametrize("metric,base,at,beyond,spec", [
    ("fvd", 400.0, 405.0, 405.01, "fvd=5"),        # lower is better: worse means higher
    ("is", 40.0, 39.5, 39.49, "is=0.5"),           # higher is better: worse means lower
    ("fvd", 400.0, 408.0, 408.01, "fvd=2%"),       # 2% of 400 = 8
    ("is", 40.0, 39.2, 39.19, "is=2%"),            # 2% of 40 = 0.8
    ("fvd", 369.48, 369.48 * 1.02, 369.48 * 1.02 + 0.001, "fvd=2%"),  # float rounding at the boundary passes
])
def test_exactly_at_tolerance_passes_and_just_beyond_fails(metric, base, at, beyond, spec):
    """Direction-aware boundary: worsening == tolerance passes, a hair more fails."""
    assert not _decide(metric, base, at, spec).regressed
    assert _decide(metric, base, beyond, spec).regressed


@pytest.mark.parametrize("metric,base,better", [("fvd", 400.0, 300.0), ("is", 40.0, 50.0)])
def test_improvement_never_regresses_even_with_zero_tolerance(metric, base, better):
    """Large moves in the good direction pass; the same move in the bad direction fails."""
    assert not _decide(metric, base, better, f"{metric}=0").regressed
    assert _decide(metric, base, 2 * base - better, f"{metric}=0").regressed


def test_default_without_intervals_is_zero_tolerance():
    """No tolerance and no CIs: any worsening fails, equality passes."""
    assert not _decide("fvd", 400.0, 400.0).regressed
    assert _decide("fvd", 400.0, 400.001).regressed
    assert _decide("fvd", 400.0, 400.0).reason == "unchanged"


def test_ci_rule_fails_only_on_disjoint_intervals_on_the_worse_side():
    """Default with CIs: FVD regresses iff current.ci_low > baseline.ci_high; touching passes."""
    base = {"ci_low": 390.0, "ci_high": 410.0}
    touching = _decide("fvd", 400.0, 420.0, base=base, cur={"ci_low": 410.0, "ci_high": 430.0})
    disjoint = _decide("fvd", 400.0, 420.0, base=base, cur={"ci_low": 410.01, "ci_high": 430.0})
    better = _decide("fvd", 400.0, 380.0, base=base, cur={"ci_low": 370.0, "ci_high": 389.0})
    assert touching.rule == Tolerance("ci") and not touching.regressed
    assert disjoint.regressed and not better.regressed


def test_ci_rule_for_is_uses_the_lower_end_of_the_baseline():
    """IS regresses iff current.ci_high < baseline.ci_low."""
    base = {"ci_low": 38.0, "ci_high": 40.0}
    assert not _decide("is", 39.0, 37.0, base=base, cur={"ci_low": 36.0, "ci_high": 38.0}).regressed
    assert _decide("is", 39.0, 37.0, base=base, cur={"ci_low": 36.0, "ci_high": 37.99}).regressed


def test_explicit_tolerance_overrides_intervals_and_ci_needs_both():
    """A numeric tolerance wins over the CI default; fvd=ci without intervals is a user error."""
    ci = {"base": {"ci_low": 390.0, "ci_high": 410.0}, "cur": {"ci_low": 395.0, "ci_high": 415.0}}
    assert _decide("fvd", 400.0, 405.0, "fvd=1", ci["base"], ci["cur"]).regressed
    with pytest.raises(VidrdBenchError, match="needs bootstrap intervals in both results"):
        _decide("fvd", 400.0, 405.0, "fvd=ci")


@pytest.mark.parametrize("spec,expected", [
    ("fvd=5", ("fvd", Tolerance("absolute", 5.0))), ("IS = 0.5", ("is", Tolerance("absolute", 0.5))),
    ("fvd=2%", ("fvd", Tolerance("relative", 0.02))), ("is=ci", ("is", Tolerance("ci"))),
])
def test_tolerance_syntax(spec, expected):
    """Absolute, relative and interval tolerances parse; metric names are case-insensitive."""
    assert parse_tolerance(spec) == expected


@pytest.mark.parametrize("spec", ["fvd", "lpips=3", "fvd=-1", "fvd=abc", "fvd=nan%"])
def test_bad_tolerances_are_refused(spec):
    """Malformed tolerances give a user error naming the option."""
    with pytest.raises(VidrdBenchError, match="--tolerance"):
        parse_tolerance(spec)
    with pytest.raises(VidrdBenchError, match="given twice"):
        parse_tolerances(["fvd=1", "fvd=2"])


def test_protocol_mismatch_is_refused(tmp_path):
    """Different FVD detectors or generation protocols cannot be compared: ProtocolMismatchError names the field."""
    base = tmp_path / "base.json"
    cur = tmp_path / "cur.json"
    save_results(base, paper_run())
    save_results(cur, [make_record("fvd", 371.0, protocol=PROTOCOLS.get("fvd-ucf101-10k-i3d-pytorch").to_dict())])
    with pytest.raises(ProtocolMismatchError, match="fvd protocol.detector: 'i3d-torchscript' vs 'i3d-pytorch'"):
        compare_files(base, cur)
    gen = PROTOCOLS.get("ucf101-vidrd-release").to_dict()
    save_results(cur, [make_record("is", 38.0, generation_protocol=gen)])
    with pytest.raises(ProtocolMismatchError, match="generation protocol.num_frames: 16 vs 24"):
        compare_files(base, cur)


def test_precision_mismatch_is_refused_and_a_missing_precision_is_bf16(tmp_path):
    """A score of fp8-e4m3 videos cannot gate against a bf16 baseline (nor the other way); a record without a
    precision block compares as bf16, and a changed fp8 agreement alone is listed, not refused."""
    fp8 = {"name": "fp8-e4m3", "protocol": False, "agreement_to_bf16": {"videos": 2, "uint8_mean_abs_diff": 1.6,
                                                                       "uint8_p99_abs_diff": 6.0, "uint8_max_abs_diff": 18}}
    with pytest.raises(ProtocolMismatchError, match="precision.name: 'bf16' vs 'fp8-e4m3'"):
        compare(paper_run(), [make_record("fvd", 371.0, precision=fp8)])
    with pytest.raises(ProtocolMismatchError, match="precision.name: 'fp8-e4m3' vs 'bf16'"):
        compare([make_record("fvd", 371.0, precision=fp8)], [make_record("fvd", 371.0)])
    bf16 = {"name": "bf16", "protocol": True}
    assert not compare(paper_run(), [make_record("fvd", 371.0, precision=bf16)]).regressed
    moved = {**fp8, "agreement_to_bf16": {**fp8["agreement_to_bf16"], "uint8_mean_abs_diff": 1.7}}
    report = compare([make_record("fvd", 371.0, precision=fp8)], [make_record("fvd", 371.0, precision=moved)])
    assert [c.field for c in report.changes] == ["precision.agreement_to_bf16"]


def test_changes_are_listed_and_merged_across_metrics():
    """Weights sha256, seeds and commit differences appear once, with the records that show them."""
    cur = [make_record("fvd", 371.25, ci_low=362.5, ci_high=380.0, ci_level=0.95, seeds={"base_seed": 7}, git_commit="f" * 40,
                       weights={"ModelT2V.pth": "d" * 64, "i3d_torchscript.pt": "b" * 64}),
           make_record("is", 38.9, std=0.45, seeds={"base_seed": 7}, git_commit="f" * 40)]
    report = compare(paper_run(), cur)
    changes = {c.field: (c.baseline, c.current, c.metrics) for c in report.changes}
    assert changes["seeds.base_seed"] == (42, 7, ["fvd", "is"])
    assert changes["weights.ModelT2V.pth"] == ("a" * 64, "d" * 64, ["fvd"])
    assert changes["weights.conv3d_deepnetA_ucf.npz"] == ("c" * 64, None, ["fvd"])
    assert changes["record.git_commit"][2] == ["fvd", "is"]
    assert len(report.changes) == 4 and not report.regressed
    md = report.to_markdown()
    assert "PASS — no regression in 2 metrics" in md and "| weights.ModelT2V.pth" in md and "dddddddddddd…" in md


def test_junit_xml_counts_and_failure_elements(tmp_path):
    """Valid XML; one test case per metric; a failure element exactly on the regressed metric; skipped extras."""
    base = paper_run()
    cur = [make_record("fvd", 371.25, ci_low=380.5, ci_high=390.0), make_record("is", 38.9, std=0.45)]
    report = compare(base[:1] + [make_record("is", 38.9, std=0.45)], cur[:1], {}, "base.json", "cur.json")
    root = ET.fromstring(junit_xml(report).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"fvd", "is"}
    assert cases["fvd"].find("failure").get("type") == "regression"
    assert cases["is"].find("skipped") is not None and cases["is"].find("failure") is None
    full = compare(base, cur)
    path = write_junit(full, tmp_path / "junit.xml")
    tree = ET.parse(path).getroot()
    assert tree.get("tests") == "2" and tree.get("failures") == "1"
    assert [c.find("failure") is not None for c in tree.iter("testcase")] == [True, False]
    assert "FAIL — 1 of 2 metrics regressed" in full.to_markdown()


def test_one_run_per_side_and_something_to_compare():
    """Two FVD records on one side, or no common metric, are user errors."""
    with pytest.raises(VidrdBenchError, match="holds two 'fvd' results"):
        compare(paper_run() + [make_record("fvd", 1.0)], paper_run())
    with pytest.raises(VidrdBenchError, match="no metric to compare"):
        compare([make_record("fvd", 1.0)], [make_record("is", 1.0)])


# Jenkins' junit-10.xsd (jenkinsci/xunit-plugin, src/main/resources/org/jenkinsci/plugins/xunit/types/model/xsd/
# junit-10.xsd, elements testsuites/testsuite/testcase): the attributes each element may carry, those it must, the
# children it may hold, and the SUREFIRE_TIME pattern of `time`.
JUNIT10 = {
    "testsuites": ({"name", "time", "tests", "failures", "errors"}, set(), {"testsuite"}),
    "testsuite": ({"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname", "id",
                   "package", "file", "log", "url"}, {"name", "tests", "failures", "errors"},
                  {"testsuite", "properties", "testcase", "system-out", "system-err"}),
    "testcase": ({"name", "time", "classname", "group"}, {"name"},
                 {"skipped", "error", "failure", "system-out", "system-err"}),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, {"name", "value"}, set()),
    "failure": ({"type", "message"}, set(), set()), "skipped": ({"type", "message"}, set(), set()),
    "system-out": (set(), set(), set()),
}
SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")


def test_junit_follows_the_jenkins_junit10_schema_with_times_and_timestamp():
    cur = [make_record("fvd", 371.25, ci_low=380.5, ci_high=390.0)]
    report = compare(paper_run(), cur, {}, "base", "cur")  # IS only in the baseline: a skipped case
    root = ET.fromstring(junit_xml(report).split("\n", 1)[1])
    for element in root.iter():
        allowed, required, children = JUNIT10[element.tag]
        assert set(element.attrib) <= allowed and required <= set(element.attrib), element.tag
        assert {child.tag for child in element} <= children, element.tag
        if "time" in element.attrib:
            assert SUREFIRE_TIME.fullmatch(element.get("time")), element.get("time")
    assert root.tag == "testsuites" and "skipped" not in root.attrib and root.get("time")
    suite = root.find("testsuite")
    assert suite.get("skipped") == "1" and datetime.datetime.fromisoformat(suite.get("timestamp"))
    assert all(case.get("time") for case in suite.iter("testcase"))


def _smoke_report():
    """Two smoke runs compared: the current one worse."""
    from report_fixtures import smoke_run
    base, cur = smoke_run(), smoke_run()
    cur[0].value, cur[0].ci_low, cur[0].ci_high = 2900.0, 2800.0, 3000.0
    return compare(base, cur, {}, "My model", "My model v2")


def test_a_smoke_comparison_says_so_in_the_heading_and_the_junit_suite_name():
    """Smoke records: the markdown heading, a quoted line under it and JUnit's suite names carry the smoke mark;
    a comparison of real records carries none."""
    report = _smoke_report()
    md = report.to_markdown()
    assert md.startswith("## vidrd-bench regression report [SMOKE — not a score]: FAIL")
    assert "> **SMOKE — not a score**: made with random-weight models or detectors" in md
    root = ET.fromstring(junit_xml(report).split("\n", 1)[1])
    assert root.get("name") == "vidrd-bench [SMOKE — not a score]"
    assert root.find("testsuite").get("name") == "vidrd-bench regression [SMOKE — not a score]"
    assert root.find("testsuite/properties/property[@name='smoke']").get("value") == "true"
    real = compare(paper_run(), paper_run(), {}, "a", "b")
    assert not real.smoke and "SMOKE" not in real.to_markdown() and "SMOKE" not in junit_xml(real)


def test_markdown_header_names_each_run_once_and_says_when_no_generation_protocol_was_recorded():
    """'Baseline `My model`: vidrd-bench ...' (not 'Baseline `My model`: run `My model`'); a record without a
    generation protocol reads 'no generation protocol recorded', not 'generation `none recorded`'."""
    md = _smoke_report().to_markdown()
    assert "- Baseline `My model`: vidrd-bench 0.1.0 @ 0123456, 2024-05-01 — SMOKE, not a score" in md
    assert "run `My model" not in md and "- Protocols: generation `tiny-smoke`, fvd `fvd-smoke-tiny`" in md
    bare = [dataclasses.replace(r, generation_protocol=None) for r in paper_run()]
    assert "- Protocols: no generation protocol recorded, fvd `fvd-ucf101-10k`" in compare(bare, bare).to_markdown()
