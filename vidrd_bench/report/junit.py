"""JUnit XML for CI test dashboards: one test case per compared metric, a failure element on regression."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from vidrd_bench.io import write_text_atomic
from vidrd_bench.report.regression import RegressionReport
from vidrd_bench.report.tables import format_score

SUITE = "vidrd-bench regression"


def junit_xml(report: RegressionReport) -> str:
    """The report as a JUnit <testsuites> document; metrics present on one side only are skipped cases."""
    cases = len(report.comparisons) + len(report.only_baseline) + len(report.only_current)
    failures = sum(c.regressed for c in report.comparisons)
    skipped = cases - len(report.comparisons)
    counts = {"tests": str(cases), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    root = ET.Element("testsuites", {"name": "vidrd-bench", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE, **counts})
    props = ET.SubElement(suite, "properties")
    for name, value in (("baseline", report.baseline_name), ("current", report.current_name)):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for c in report.comparisons:
        case = ET.SubElement(suite, "testcase", {"classname": "vidrd_bench.regression", "name": c.metric})
        b, k = c.baseline, c.current
        detail = (f"{c.metric} ({k.protocol.get('name', '?')}): baseline "
                  f"{format_score(b.value, b.ci_low, b.ci_high, b.std)}, current "
                  f"{format_score(k.value, k.ci_low, k.ci_high, k.std)}, delta {c.delta:+.4g}; "
                  f"rule: {c.rule.describe(b.value)}; {c.reason}")
        if c.regressed:
            ET.SubElement(case, "failure", {"type": "regression", "message": c.reason}).text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    for side, names in ((report.baseline_name, report.only_baseline), (report.current_name, report.only_current)):
        for metric in names:
            case = ET.SubElement(suite, "testcase", {"classname": "vidrd_bench.regression", "name": metric})
            ET.SubElement(case, "skipped", {"message": f"{metric} only in {side}; nothing to compare"})
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: RegressionReport, path: str | os.PathLike) -> Path:
    """Write the JUnit XML atomically."""
    return write_text_atomic(path, junit_xml(report))
