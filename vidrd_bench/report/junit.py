"""JUnit XML for CI test dashboards: one test case per compared metric, a failure element on regression."""

from __future__ import annotations

import datetime as _dt
import os
import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from vidrd_bench.core.io import write_text_atomic
from vidrd_bench.report.escape import xml_text
from vidrd_bench.report.regression import RegressionReport
from vidrd_bench.report.tables import SMOKE_MARK, format_score

SUITE = "vidrd-bench regression"


def junit_xml(report: RegressionReport, started: float | None = None) -> str:
    """The report as a JUnit <testsuites> document valid under Jenkins' junit-10.xsd (xunit-plugin): counts, time and
    timestamp on the suite, time on each case; metrics present on one side only are skipped cases.

    junit-10.xsd allows only name/time/tests/failures/errors on <testsuites> (no `skipped`), and `skipped` and
    `timestamp` on <testsuite>; times are seconds with a decimal point.
    """
    started = time.perf_counter() if started is None else started
    cases = len(report.comparisons) + len(report.only_baseline) + len(report.only_current)
    failures = sum(c.regressed for c in report.comparisons)
    counts = {"tests": str(cases), "failures": str(failures), "errors": "0"}
    smoke = f" [{SMOKE_MARK}]" if report.smoke else ""
    root = ET.Element("testsuites", {"name": f"vidrd-bench{smoke}", **counts})
    stamp = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    suite = ET.SubElement(root, "testsuite", {"name": SUITE + smoke, **counts,
                                              "skipped": str(cases - len(report.comparisons)),
                                              "timestamp": stamp, "hostname": socket.gethostname()})
    props = ET.SubElement(suite, "properties")
    for name, value in (("baseline", report.baseline_name), ("current", report.current_name),
                        ("smoke", str(report.smoke).lower())):
        ET.SubElement(props, "property", {"name": name, "value": xml_text(value)})
    for c in report.comparisons:
        case = ET.SubElement(suite, "testcase", {"classname": "vidrd_bench.regression", "name": xml_text(c.metric),
                                                 "time": "0.000"})
        b, k = c.baseline, c.current
        detail = (f"{c.metric} ({k.protocol.get('name', '?')}): baseline "
                  f"{format_score(b.value, b.ci_low, b.ci_high, b.std)}, current "
                  f"{format_score(k.value, k.ci_low, k.ci_high, k.std)}, delta {c.delta:+.4g}; "
                  f"rule: {c.rule.describe(b.value)}; {c.reason}")
        if c.regressed:
            failure = ET.SubElement(case, "failure", {"type": "regression", "message": xml_text(c.reason)})
            failure.text = xml_text(detail)
        else:
            ET.SubElement(case, "system-out").text = xml_text(detail)
    for side, names in ((report.baseline_name, report.only_baseline), (report.current_name, report.only_current)):
        for metric in names:
            case = ET.SubElement(suite, "testcase", {"classname": "vidrd_bench.regression", "name": xml_text(metric),
                                                     "time": "0.000"})
            ET.SubElement(case, "skipped", {"message": xml_text(f"{metric} only in {side}; nothing to compare")})
    elapsed = f"{time.perf_counter() - started:.3f}"
    root.set("time", elapsed)
    suite.set("time", elapsed)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: RegressionReport, path: str | os.PathLike, started: float | None = None) -> Path:
    """Write the JUnit XML atomically; `started` (time.perf_counter()) is when the comparison began."""
    return write_text_atomic(path, junit_xml(report, started))
