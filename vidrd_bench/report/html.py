"""A single self-contained HTML report: comparison table, regression decisions, per-class FVD, contact sheets."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import pandas as pd
from PIL import Image

from vidrd_bench.io import write_text_atomic
from vidrd_bench.report.regression import PER_CLASS_KEYS, RegressionReport, changes_frame, comparison_rows
from vidrd_bench.report.tables import render_table, table_from_runs
from vidrd_bench.results import ResultRecord

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; }
.vidrd-footnotes { font-size: 12px; color: #555; }
.verdict-fail { color: #b00020; } .verdict-pass { color: #106010; }
.vidrd-table td:nth-child(n+2):nth-child(-n+4) { white-space: nowrap; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.sheet img { max-width: 100%; border: 1px solid #ccc; image-rendering: pixelated; }
"""


def bar_chart_svg(per_class: dict[str, float], title: str, width: int = 720, bar_height: int = 12) -> str:
    """Inline SVG: one horizontal bar per class, sorted by value ascending (best FVD first), value at each bar."""
    items = sorted(per_class.items(), key=lambda kv: (kv[1], kv[0]))
    label_w, value_w, top = 170, 70, 22
    scale = (width - label_w - value_w) / max(max(v for _, v in items), 1e-12)
    height = top + len(items) * (bar_height + 2) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}" font-family="sans-serif" font-size="{bar_height - 2}">',
             f'<text x="0" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>']
    for i, (klass, value) in enumerate(items):
        y = top + i * (bar_height + 2)
        bar = max(value * scale, 0.0)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_height - 2}" text-anchor="end">{html.escape(klass)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{bar:.1f}" height="{bar_height}" fill="#4a78b5"/>'
                     f'<text x="{label_w + bar + 4:.1f}" y="{y + bar_height - 2}">{value:.2f}</text>')
    return "\n".join(parts + ["</svg>"])


def png_data_uri(image: Image.Image | str | os.PathLike) -> str:
    """A PNG (PIL image or file) as a base64 data URI, so the page needs no other file."""
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        data = buf.getvalue()
    else:
        data = Path(image).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def per_class_fvd(runs: dict[str, dict[str, ResultRecord]]) -> dict[str, dict[str, float]]:
    """Run name -> {class: FVD} from FVD records carrying extra['per_class_fvd'] (as `score fvd` writes) or ['per_class']."""
    out: dict[str, dict[str, float]] = {}
    for name, run in runs.items():
        extra = run["fvd"].extra if "fvd" in run else {}
        values = next((extra[k] for k in PER_CLASS_KEYS if extra.get(k)), None)
        if values:
            out[name] = {str(k): float(v) for k, v in values.items()}
    return out


def report_runs(report: RegressionReport) -> dict[str, dict[str, ResultRecord]]:
    """The two compared runs, named 'baseline: …' and 'current: …' after their result files."""
    return {f"baseline: {report.baseline_name}": {c.metric: c.baseline for c in report.comparisons},
            f"current: {report.current_name}": {c.metric: c.current for c in report.comparisons}}


def _regression_section(report: RegressionReport) -> str:
    """Verdict line and decision table of a regression report, as HTML."""
    bad = report.regressed
    verdict = "FAIL — regression" if bad else "PASS — no regression"
    table = pd.DataFrame(comparison_rows(report)).to_html(index=False, border=0)
    table = table.replace("<td>REGRESSION:", '<td class="verdict-fail">REGRESSION:')
    changed = changes_frame(report).to_html(index=False, border=0) if report.changes else "<p>Nothing recorded changed.</p>"
    return (f'<h2>Regression: <span class="verdict-{"fail" if bad else "pass"}">{verdict}</span></h2>\n'
            f"<p>Baseline <code>{html.escape(report.baseline_name)}</code> vs current "
            f"<code>{html.escape(report.current_name)}</code></p>\n{table}\n<h3>What changed</h3>\n{changed}")


def html_page(title: str, table_html: str, report: RegressionReport | None = None,
              per_class: dict[str, dict[str, float]] | None = None,
              sheets: dict[str, Image.Image | str | os.PathLike] | None = None) -> str:
    """Assemble the page; every image is embedded, so the file can be attached to a CI run on its own."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    if report is not None:
        body.append(_regression_section(report))
    body.append(f"<h2>Comparison with the published UCF-101 results</h2>\n{table_html}")
    if per_class:
        body.append("<h2>Per-class FVD</h2>")
        charts = [f"<div>{bar_chart_svg(values, f'{label}: FVD per class (lower is better)', width=520)}</div>"
                  for label, values in per_class.items()]
        body.append('<div class="charts">' + "\n".join(charts) + "</div>")
    if sheets:
        body.append("<h2>Contact sheets</h2>")
        body += [f'<div class="sheet"><h3>{html.escape(name)}</h3><img alt="contact sheet of {html.escape(name)}" '
                 f'src="{png_data_uri(img)}"></div>' for name, img in sheets.items()]
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def write_html_report(path: str | os.PathLike, runs: dict[str, dict[str, ResultRecord]],
                      published: pd.DataFrame | None = None,
                      report: RegressionReport | None = None,
                      sheets: dict[str, Image.Image | str | os.PathLike] | None = None,
                      title: str = "vidrd-bench report") -> Path:
    """Write the whole HTML report for our named runs (tables.named_runs or report_runs), atomically."""
    table_html = render_table(table_from_runs(runs, published), "html")
    return write_text_atomic(path, html_page(title, table_html, report, per_class_fvd(runs), sheets))
