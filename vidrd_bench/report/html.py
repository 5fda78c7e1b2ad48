"""A single self-contained HTML report: comparison table, regression decisions, charts, preview clips, contact sheets."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup
from PIL import Image

from vidrd_bench.core.io import write_text_atomic
from vidrd_bench.report import escape
from vidrd_bench.report.plots import fvd_at_n_chart, per_class_chart, scores_chart
from vidrd_bench.report.previews import Preview, previews_html
from vidrd_bench.report.regression import (PER_CLASS_KEYS, SMOKE_WHY, RegressionReport, changes_frame,
                                           comparison_rows)
from vidrd_bench.report.tables import SMOKE_MARK, render_table, table_from_runs
from vidrd_bench.results import ResultRecord

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; }
.vidrd-footnotes { font-size: 12px; color: #555; }
.verdict-fail { color: #b00020; } .verdict-pass { color: #106010; }
.smoke-banner { background: #fff3cd; border: 2px solid #b00020; padding: 8px 12px; font-weight: bold; }
.vidrd-table td:nth-child(n+2):nth-child(-n+4) { white-space: nowrap; }
.vidrd-plot { max-width: 100%; height: auto; }
.sheet img { max-width: 100%; border: 1px solid #ccc; image-rendering: pixelated; }
.previews { display: flex; flex-wrap: wrap; gap: 12px; }
.preview { margin: 0; width: 200px; font-size: 12px; }
.preview video { width: 200px; height: auto; image-rendering: pixelated; background: #000; }
.preview video[data-playable="error"] { outline: 2px solid #b00020; }
"""
JINJA = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
# Marks each <video> the browser has decoded a frame of (data-playable="WxH"), or "error": visible in the page's
# DOM, so a headless browser can check that the previews play.
PLAYABLE_SCRIPT = """<script>
document.querySelectorAll("video").forEach(function (v) {
  function mark() { if (v.videoWidth > 0) { v.dataset.playable = v.videoWidth + "x" + v.videoHeight; } }
  v.addEventListener("loadeddata", mark);
  v.addEventListener("error", function () { v.dataset.playable = "error"; }, true);
  mark();
});
</script>"""


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
            out[smoke_name(name, run)] = {str(k): float(v) for k, v in values.items()}
    return out


def per_class_notes(runs: dict[str, dict[str, ResultRecord]]) -> dict[str, str]:
    """Run name -> the FVD record's note on the generated classes per-class FVD left out (score writes it)."""
    return {name: str(run["fvd"].extra["per_class_fvd_note"]) for name, run in runs.items()
            if "fvd" in run and run["fvd"].extra.get("per_class_fvd_note")}


def smoke_name(name: str, run: dict[str, ResultRecord]) -> str:
    """A run's name for chart labels, with the smoke mark when any of its records was made with random weights."""
    return f"{name} [SMOKE]" if any(r.smoke for r in run.values()) else name


def report_title(report: RegressionReport) -> str:
    """The page title of a regression report, marked when either side's records are smoke numbers."""
    smoke = f" [{SMOKE_MARK}]" if report.smoke else ""
    return f"vidrd-bench report{smoke}: {report.current_name} vs {report.baseline_name}"


def report_runs(report: RegressionReport) -> dict[str, dict[str, ResultRecord]]:
    """The two compared runs, named 'baseline: …' and 'current: …' after their result files."""
    return {f"baseline: {report.baseline_name}": {c.metric: c.baseline for c in report.comparisons},
            f"current: {report.current_name}": {c.metric: c.current for c in report.comparisons}}


REGRESSION_SECTION = JINJA.from_string(
    '<h2>Regression{{ smoke }}: <span class="verdict-{{ "fail" if bad else "pass" }}">{{ verdict }}</span></h2>\n'
    "<p>Baseline <code>{{ baseline }}</code> vs current <code>{{ current }}</code></p>\n{{ table }}\n"
    "<h3>What changed</h3>\n{{ changed }}")


def _regression_section(report: RegressionReport) -> Markup:
    """Verdict line and decision table of a regression report, as HTML (names escaped by the template)."""
    bad = report.regressed
    table = pd.DataFrame(comparison_rows(report)).to_html(index=False, border=0)
    table = table.replace("<td>REGRESSION:", '<td class="verdict-fail">REGRESSION:')
    changed = changes_frame(report).to_html(index=False, border=0) if report.changes else "<p>Nothing recorded changed.</p>"
    return Markup(REGRESSION_SECTION.render(
        bad=bad, verdict="FAIL — regression" if bad else "PASS — no regression", baseline=report.baseline_name,
        smoke=f" ({SMOKE_MARK})" if report.smoke else "",
        current=report.current_name, table=Markup(table), changed=Markup(changed)))


@dataclass
class ReportParts:
    """What a page shows besides the table: regression decisions, charts' data, contact sheets and previews."""

    report: RegressionReport | None = None
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    per_class_notes: dict[str, str] = field(default_factory=dict)
    calibration: dict | None = None
    sheets: dict[str, Image.Image | str | os.PathLike] = field(default_factory=dict)
    previews: dict[str, list[Preview]] = field(default_factory=dict)


def _figures(table: pd.DataFrame, parts: ReportParts) -> list[str]:
    """The charts: scores with intervals beside the published rows, per-class FVD, FVD@N."""
    body = ["<h2>Scores with their 95% intervals</h2>", scores_chart(table)]
    if parts.per_class or parts.per_class_notes:
        body += ["<h2>Per-class FVD</h2>", per_class_chart(parts.per_class) if parts.per_class else ""]
        body += [f'<p class="vidrd-footnotes">{escape.html(name)}: {escape.html(note)}</p>'
                 for name, note in parts.per_class_notes.items()]
    if parts.calibration and (parts.calibration.get("fvd_at_n") or {}).get("n"):
        body += ["<h2>FVD at N videos (calibrate)</h2>", fvd_at_n_chart(parts.calibration)]
    return body


PAGE = JINJA.from_string("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>{{ style }}</style>
</head>
<body>
<h1>{{ title }}</h1>
{% if smoke %}<p class="smoke-banner">{{ smoke }}</p>
{% endif %}{% if regression %}{{ regression }}
{% endif %}<h2>Comparison with the published UCF-101 results</h2>
{{ table }}
{% for figure in figures %}{{ figure }}
{% endfor %}{% for name, clips in previews %}<h2>Preview clips: {{ name }}</h2>
{{ clips }}
{% endfor %}{% if sheets %}<h2>Contact sheets</h2>
{% for name, uri in sheets %}<div class="sheet"><h3>{{ name }}</h3><img alt="contact sheet of {{ name }}" \
src="{{ uri }}"></div>
{% endfor %}{% endif %}{{ script }}
</body>
</html>
""")


def html_page(title: str, table: pd.DataFrame, parts: ReportParts) -> str:
    """Assemble the page; every image and clip is embedded, so the file can be attached to a CI run on its own.

    The page is a jinja2 template with autoescape: names, titles and labels are escaped; only fragments built by
    our own escaping writers (tables, charts, previews) enter as markup."""
    smoke = bool(table["smoke"].any()) or bool((parts.calibration or {}).get("smoke"))
    if smoke and SMOKE_MARK not in title:
        title = f"{title} [{SMOKE_MARK}]"
    return PAGE.render(
        title=title, style=Markup(STYLE), script=Markup(PLAYABLE_SCRIPT),
        smoke=f"{SMOKE_MARK}: rows marked SMOKE were {SMOKE_WHY}" if smoke else "",
        regression=_regression_section(parts.report) if parts.report is not None else None,
        table=Markup(render_table(table, "html")), figures=[Markup(f) for f in _figures(table, parts)],
        previews=[(name, Markup(previews_html(clips))) for name, clips in parts.previews.items()],
        sheets=[(name, png_data_uri(img)) for name, img in parts.sheets.items()])


def write_html_report(path: str | os.PathLike, runs: dict[str, dict[str, ResultRecord]],
                      published: pd.DataFrame | None = None, parts: ReportParts | None = None,
                      title: str = "vidrd-bench report") -> Path:
    """Write the whole HTML report for our named runs (tables.named_runs or report_runs), atomically."""
    parts = parts or ReportParts()
    if not parts.per_class:
        parts = dataclasses.replace(parts, per_class=per_class_fvd(runs))
    if not parts.per_class_notes:
        parts = dataclasses.replace(parts, per_class_notes=per_class_notes(runs))
    return write_text_atomic(path, html_page(title, table_from_runs(runs, published), parts))
