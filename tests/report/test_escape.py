"""Hostile run names through every output: table (md, csv, latex, html), the markdown and JUnit regression reports,
the HTML page and its SVG charts. None may run script, inject structure, start a formula or crash a renderer."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from report_fixtures import make_record
from tests.hostile import hostile_name_table
from vidrd_bench.cli import main
from vidrd_bench.metrics.registry import METRICS
from vidrd_bench.report import escape
from vidrd_bench.report.html import ReportParts, report_runs, write_html_report
from vidrd_bench.report.junit import junit_xml
from vidrd_bench.report.plots import per_class_chart, scores_chart
from vidrd_bench.report.regression import compare, render_markdown
from vidrd_bench.report.tables import build_table, render_table

HOSTILE = hostile_name_table()


@pytest.mark.parametrize("function,text,expected", [
    (escape.html, 'x" onload="alert(1)', "x&#34; onload=&#34;alert(1)"),
    (escape.html, "<script>", "&lt;script&gt;"),
    (escape.xml_attr, "a\x01\"'<&", "a\ufffd&#34;&#39;&lt;&amp;"),
    (escape.xml_text, "ok\x00\x08\x0b\x1f\ud800\tok\n", "ok\ufffd\ufffd\ufffd\ufffd\ufffd\tok\n"),
    (escape.markdown, "a\n# h\r\n| x *y* [l](u) <b> `c` \\ ~", "a # h | x \\*y\\* \\[l\\](u) \\<b\\> \\`c\\` \\\\ \\~"),
    (escape.markdown_code, "plain", "`plain`"),
    (escape.markdown_code, "a`b``c\nd", "```a`b``c d```"),
    (escape.markdown_code, "`edge", "`` `edge ``"),
    (escape.latex, "\\ & % $ # _ { } ~ ^",
     r"\textbackslash{} \& \% \$ \# \_ \{ \} \textasciitilde{} \textasciicircum{}"),
    (escape.latex, "para\n\nnext\x07", "para next "),
    (escape.csv_cell, "=1+1", "'=1+1"),
    (escape.csv_cell, "+1", "'+1"),
    (escape.csv_cell, "-1", "'-1"),
    (escape.csv_cell, "@SUM(A1)", "'@SUM(A1)"),
    (escape.csv_cell, "\tx", "'\tx"),
    (escape.csv_cell, "a=b", "a=b"),
    (escape.csv_cell, -1.5, -1.5),
    (escape.matplotlib_text, "$\\beta_2^$\n", "\\$\\beta_2^\\$ "),
])
def test_each_format_escapes_exactly(function, text, expected):
    """The exact output of each escaping function on its format's special characters."""
    assert function(text) == expected


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the page's text, as a browser's parser sees them."""

    def __init__(self) -> None:
        """Start with no tags and no text."""
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        """Keep every start tag with its attributes."""
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        """Keep the text between tags."""
        self.text.append(data)


def _parsed(page: str) -> _Elements:
    """The page through Python's HTML parser (HTML5 tokenising rules for tags and attributes)."""
    parser = _Elements()
    parser.feed(page)
    return parser


def _assert_no_script(page: str, scripts: int) -> _Elements:
    """No event-handler attribute anywhere, and only our own <script> elements."""
    parsed = _parsed(page)
    handlers = [(tag, a) for tag, attrs in parsed.tags for a in attrs if a.lower().startswith("on")]
    assert handlers == [] and [t for t, _ in parsed.tags].count("script") == scripts
    return parsed


def _run(name: str, value: float = 371.25) -> list:
    """An FVD and IS record of one run named `name`, with per-class FVD under hostile class names too."""
    return [make_record("fvd", value, ci_low=value - 9, ci_high=value + 9, ci_level=0.95, name=name,
                        extra={"per_class_fvd": {name: 300.0, "Diving": 310.0}}),
            make_record("is", 38.9, std=0.45, name=name)]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_in_tables_keep_each_format_intact(name):
    """md: one line per row, the name's characters escaped; csv: the cell reads back and is no formula; latex: the
    name appears only escaped, no blank line; html: no handler or script."""
    records = _run(name)
    benign = render_table(build_table(_run("benign")), "md")
    md = render_table(build_table(records), "md")
    assert len(md.splitlines()) == len(benign.splitlines())
    assert escape.markdown(name).replace("|", "\\|") in md
    rows = list(csv.DictReader(io.StringIO(render_table(build_table(records), "csv"))))
    assert rows[0]["method"] == escape.csv_cell(name) and not rows[0]["method"].startswith(("=", "+", "-", "@"))
    latex = render_table(build_table(records), "latex")
    assert escape.latex(name) in latex and "\n\n" not in latex.split("\\begin{tabular}")[1]
    _assert_no_script(render_table(build_table(records), "html"), scripts=0)


def _titled(title: str, value: float = 38.9) -> tuple:
    """A metric registered under `title` (a copy of IS's spec) and one record of it."""
    spec = dataclasses.replace(METRICS.get("is"), name="titled", title=title, paper_protocol=None)
    return spec, [dataclasses.replace(make_record("is", value, std=0.45, name="run"), metric="titled")]


def _titled_outputs(title: str) -> dict[str, str]:
    """The markdown table and the markdown regression report of a metric titled `title`."""
    spec, records = _titled(title)
    with METRICS.registered(spec.name, spec):
        report = compare(records, _titled(title, 39.5)[1], {}, "a", "b")
        return {"md": render_table(build_table(records), "md"), "report": render_markdown(report)}


@pytest.mark.parametrize("title", HOSTILE)
def test_a_registered_metrics_title_reaches_every_format_escaped(title):
    """Tables, charts and reports loop over the registered metrics: a plug-in's title is escaped like a run name
    in the table's header and footnotes (md, latex, html), the chart, and the markdown and JUnit reports."""
    benign = _titled_outputs("T")
    shown = _titled_outputs(title)
    for kind in ("md", "report"):
        assert len(shown[kind].splitlines()) == len(benign[kind].splitlines())
        assert escape.markdown(title).replace("|", "\\|") in shown[kind]
    spec, records = _titled(title)
    with METRICS.registered(spec.name, spec):
        table = build_table(records)
        latex = render_table(table, "latex")
        assert escape.latex(title) in latex and "\n\n" not in latex.split("\\begin{tabular}")[1]
        _assert_no_script(render_table(table, "html"), scripts=0)
        ET.fromstring(scores_chart(table))
        ET.fromstring(junit_xml(compare(records, _titled(title, 39.5)[1], {}, "a", "b")).split("?>", 1)[1])


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_in_regression_reports(name):
    """The markdown report keeps its line structure; the JUnit XML parses and carries the name (controls replaced)."""
    report = compare(_run("base", 370.0), _run(name, 371.0), {}, "base", name)
    benign = render_markdown(compare(_run("base", 370.0), _run("x", 371.0), {}, "base", "x"))
    text = render_markdown(report)
    assert len(text.splitlines()) == len(benign.splitlines()) and text.splitlines()[0] == benign.splitlines()[0]
    assert escape.markdown_code(name) in text
    root = ET.fromstring(junit_xml(report).split("?>", 1)[1])
    values = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert values["current"] == escape.xml_text(name)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_in_the_html_page_and_its_charts(tmp_path, name):
    """The whole page: no event handler (the aria-label breakout), only our one script, the name shown as text;
    every chart is well-formed XML and matplotlib draws a name with a broken formula."""
    report = compare(_run("base", 370.0), _run(name, 371.0), {}, "base", name)
    page = write_html_report(tmp_path / "r.html", report_runs(report), None, ReportParts(report, sheets={}),
                             title=f"report: {name}").read_text(encoding="utf-8")
    parsed = _assert_no_script(page, scripts=1)
    assert f"report: {name}" in "".join(parsed.text) or "\x00" in name  # shown verbatim (the parser drops NUL)
    labels = [a["aria-label"] for tag, a in parsed.tags if tag == "svg" and "aria-label" in a]
    assert len(labels) == 2 and any(name in label for label in labels) or "\x00" in name
    for svg in (scores_chart(build_table(_run(name))), per_class_chart({name: {name: 1.0}, "b": {name: 2.0}})):
        ET.fromstring(svg)


def test_report_command_with_a_formula_name_exits_by_its_verdict(tmp_path):
    """A run named like a broken matplotlib formula used to crash `report --html` (exit 1, the regression code)."""
    for side in ("base", "cur"):
        (tmp_path / f"{side}.json").write_text(json.dumps([r.to_dict() for r in _run("$\\beta_2^$")]))
    args = ["report", "--baseline", str(tmp_path / "base.json"), "--current", str(tmp_path / "cur.json"),
            "--html", str(tmp_path / "r.html"), "--junit", str(tmp_path / "j.xml"),
            "--markdown", str(tmp_path / "r.md")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    ET.parse(tmp_path / "j.xml")
