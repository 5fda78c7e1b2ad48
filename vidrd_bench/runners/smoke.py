"""`vidrd-bench smoke`: the whole pipeline on tiny random-weight models on the CPU — plumbing check, not a score.

prompts -> tiny VidRD videos on disk (manifest) -> random-weight I3D/C3D features -> FVD and IS records ->
comparison table -> CI regression report (markdown, JUnit, HTML with a contact sheet).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from vidrd_bench.datasets.video import write_video

BANNER = "SMOKE RUN — tiny random-weight models; the numbers below are NOT scores and not comparable to any paper"
STAND_IN_CLASSES = ("ApplyEyeMakeup", "Basketball", "Diving", "Knitting", "PlayingGuitar", "Surfing")


@dataclasses.dataclass
class SmokeOutput:
    """Where the smoke run wrote each artefact."""

    out_dir: Path
    run_dir: Path
    stats: Path
    fvd: Path
    is_: Path
    table: Path
    report_md: Path
    junit: Path
    html: Path
    contact_sheet: Path
    regressed: bool


def write_stand_in_real_videos(folder: Path, size: int, num_frames: int = 20, per_class: int = 2) -> list[Path]:
    """Procedural moving-square clips named like UCF-101 files: a stand-in 'real' set, since UCF-101 is not shipped."""
    rng = np.random.default_rng(0)
    paths = []
    for c, klass in enumerate(STAND_IN_CLASSES):
        for g in range(per_class):
            frames = np.zeros((num_frames, size, size, 3), dtype=np.uint8)
            frames[:] = rng.integers(0, 256, 3, dtype=np.uint8)
            side, color = size // 4, rng.integers(0, 256, 3, dtype=np.uint8)
            for t in range(num_frames):
                y = (c * 3 + t) % (size - side)
                x = (g * 5 + 2 * t) % (size - side)
                frames[t, y:y + side, x:x + side] = color
            path = folder / klass / f"v_{klass}_g{g + 1:02d}_c01.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_video(path, frames, fps=8)
            paths.append(path)
    return paths


def run_smoke(out_dir: str | Path = "smoke_out", num_videos: int = 12, batch_size: int = 4,
              device: str = "cpu", progress: bool = True) -> SmokeOutput:
    """Run every stage on tiny models and write all outputs under `out_dir`; returns their paths."""
    from vidrd_bench.metrics.extract import ExtractionOptions
    from vidrd_bench.protocols import PROTOCOLS
    from vidrd_bench.runners.generate import run_generate
    from vidrd_bench.runners.score import ScoreOptions, compute_real_stats, score_metrics

    out = Path(out_dir)
    size = PROTOCOLS.get("tiny-smoke").height
    run = run_generate(dataset="ucf101", out_dir=out / "run", num_videos=num_videos, generator="vidrd", preset="tiny",
                       batch_size=batch_size, device=device, show_progress=progress).out_dir
    real = write_stand_in_real_videos(out / "stand_in_real", size)
    stats = out / "stand_in_real.fvd-smoke-tiny.npz"
    extraction = ExtractionOptions(device=device, num_workers=0, progress=progress, cache_dir=out / "features_cache")
    compute_real_stats(real, "fvd-smoke-tiny", extraction, ScoreOptions(out_path=stats), size=size)
    score_metrics(run, [("fvd", "fvd-smoke-tiny", ScoreOptions(bootstrap=20, out_path=out / "fvd.json"), stats),
                        ("is", "is-smoke-tiny", ScoreOptions(bootstrap=20, out_path=out / "is.json"), None)],
                  extraction)  # one decode of the generated videos for both
    paths = _report(out, run, [out / "fvd.json", out / "is.json"])
    return SmokeOutput(out, run, stats, out / "fvd.json", out / "is.json", **paths)


def _report(out: Path, run: Path, results: list[Path]) -> dict:
    """Table, self-comparison regression report, JUnit, contact sheet and HTML page of the smoke results."""
    from vidrd_bench.core.io import write_text_atomic
    from vidrd_bench.report.html import ReportParts, write_html_report
    from vidrd_bench.report.junit import write_junit
    from vidrd_bench.report.pictures import sample_videos, write_contact_sheet
    from vidrd_bench.report.previews import make_previews
    from vidrd_bench.report.published import load_published
    from vidrd_bench.report.regression import compare_files, render_markdown
    from vidrd_bench.report.tables import build_table, named_runs, render_table
    from vidrd_bench.results import load_results

    records = [r for p in results for r in load_results(p)]
    published = load_published()
    table = write_text_atomic(out / "table.md", render_table(build_table(records, published), "md"))
    report = compare_files(results, results)
    report_md = write_text_atomic(out / "report.md", render_markdown(report))
    junit = write_junit(report, out / "junit.xml")
    sheet = write_contact_sheet(run, out / "contact_sheet.png")
    parts = ReportParts(report, sheets={run.name: sheet}, previews={run.name: make_previews(sample_videos(run, 1, 6))})
    html = write_html_report(out / "report.html", named_runs(records), published, parts,
                             title="vidrd-bench smoke run")  # html_page adds the SMOKE mark
    return {"table": table, "report_md": report_md, "junit": junit, "html": html, "contact_sheet": sheet,
            "regressed": report.regressed}
