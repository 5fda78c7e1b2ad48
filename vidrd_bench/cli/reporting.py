"""Commands that turn results into tables and reports: table, report, contact-sheet."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from vidrd_bench.cli.base import main, save_text


@main.command("table")
@click.argument("results", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "latex", "html"]), default="md", show_default=True,
              help="Output format; csv keeps raw numeric columns, the others show readable cells and footnotes.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the table here (default: print to stdout).")
@click.option("--published/--no-published", default=True, show_default=True,
              help="Include the published rows of the runs' dataset: UCF-101 (the VidRD paper's, "
                   "reference_stats/published_results.csv) or, for MSR-VTT runs, reference_stats/published_msrvtt.csv.")
def table_cmd(results: tuple[Path, ...], fmt: str, out: Path | None, published: bool) -> None:
    """Our runs (RESULT.json files from `score`) beside the published numbers of their dataset, sorted by FVD."""
    from vidrd_bench.core.io import check_output_file
    from vidrd_bench.report.published import published_for
    from vidrd_bench.report.tables import build_table, render_table
    from vidrd_bench.results import load_results

    if out is not None:
        check_output_file(out)
    records = [rec for path in results for rec in load_results(path)]
    text = render_table(build_table(records, published_for(records) if published else None), fmt)
    if out is None:
        click.echo(text, nl=False)
    else:
        save_text(out, text)
        click.echo(f"wrote {out}", err=True)


@main.command("report")
@click.option("--baseline", required=True, multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Result JSON of the accepted checkpoint (repeatable: e.g. its fvd.json and is.json).")
@click.option("--current", required=True, multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Result JSON of the checkpoint under test (repeatable, like --baseline).")
@click.option("--tolerance", "tolerances", multiple=True, metavar="METRIC=AMOUNT",
              help="Allowed worsening per metric (repeatable): fvd=5 absolute, fvd=2% relative to the baseline, "
                   "fvd=ci bootstrap intervals must overlap. Default: ci when both results have intervals, else 0.")
@click.option("--markdown", "markdown_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the markdown summary here (it is always printed to stdout).")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write JUnit XML here: one test case per metric, a failure on regression.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a self-contained HTML report (table, charts with intervals, per-class FVD, preview clips, "
                   "contact sheets).")
@click.option("--videos", "video_dirs", multiple=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Run folder(s) of generated videos for contact sheets in the HTML report (repeatable).")
@click.option("--previews", "previews_per_class", type=click.IntRange(0), default=1, show_default=True,
              help="Browser-playable preview clips (H.264) per class from each --videos folder in the HTML report.")
@click.option("--max-previews", type=click.IntRange(0), default=24, show_default=True,
              help="At most this many preview clips per --videos folder (they are embedded in the page).")
@click.option("--calibration", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="A `vidrd-bench calibrate` record: its FVD@N curve is drawn in the HTML report.")
@click.option("--published/--no-published", default=True, show_default=True,
              help="Include the published rows of the runs' dataset (UCF-101 or MSR-VTT) in the HTML report's table.")
def report_cmd(baseline: tuple[Path, ...], current: tuple[Path, ...], tolerances: tuple[str, ...],
               markdown_out: Path | None, junit_out: Path | None, html_out: Path | None,
               video_dirs: tuple[Path, ...], previews_per_class: int, max_previews: int, calibration: Path | None,
               published: bool) -> None:
    """CI regression report of CURRENT against BASELINE; exit 1 on regression, 2 on unusable input."""
    from vidrd_bench.core.io import check_output_file, save_or_rescue, write_text_atomic
    from vidrd_bench.report.html import ReportParts, report_runs, report_title, write_html_report
    from vidrd_bench.report.junit import write_junit
    from vidrd_bench.report.pictures import contact_sheet, sample_videos
    from vidrd_bench.report.plots import read_calibration
    from vidrd_bench.report.previews import make_previews
    from vidrd_bench.report.published import published_for
    from vidrd_bench.report.regression import compare_files

    for path in (markdown_out, junit_out, html_out):
        if path is not None:
            check_output_file(path)
    videos = {str(d): sample_videos(d) for d in video_dirs} if html_out is not None else {}
    started = time.perf_counter()
    report = compare_files(baseline, current, tolerances)
    summary = report.to_markdown()
    click.echo(summary, nl=False)
    verdict = "REGRESSION" if report.regressed else "no regression"
    if markdown_out is not None:
        save_or_rescue(markdown_out, lambda p: write_text_atomic(p, summary), f"{verdict}; the summary is printed above")
    if junit_out is not None:
        save_or_rescue(junit_out, lambda p: write_junit(report, p, started), f"{verdict}; the summary is printed above")
    if html_out is not None:
        parts = ReportParts(report, calibration=read_calibration(calibration) if calibration else None,
                            sheets={name: contact_sheet(chosen, title=Path(name).name)
                                    for name, chosen in videos.items()},
                            previews={name: make_previews(sample_videos(name, previews_per_class, max_previews))
                                      for name in videos if previews_per_class and max_previews})
        runs = report_runs(report)
        records = [rec for run in runs.values() for rec in run.values() if rec is not None]
        save_or_rescue(html_out, lambda p: write_html_report(
            p, runs, published_for(records) if published else None, parts,
            title=report_title(report)),
            f"{verdict}; the summary is printed above")
    if report.regressed:
        click.echo("regression beyond tolerance: exit 1", err=True)
        sys.exit(1)


@main.command("contact-sheet")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PNG file to write.")
@click.option("--per-class", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Videos per class (one row each).")
@click.option("--frames", type=click.IntRange(1, 1000), default=6, show_default=True,
              help="Evenly spaced frames per video.")
@click.option("--height", type=click.IntRange(8, 4096), default=64, show_default=True,
              help="Thumbnail height in pixels.")
def contact_sheet_cmd(run_dir: Path, out: Path, per_class: int, frames: int, height: int) -> None:
    """A PNG grid of frames from a run's videos, one row per sampled video, grouped by class."""
    from vidrd_bench.core.io import check_output_file
    from vidrd_bench.report.pictures import write_contact_sheet

    check_output_file(out)
    click.echo(f"wrote {write_contact_sheet(run_dir, out, per_class, frames, height)}")
