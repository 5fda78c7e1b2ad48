"""The HTML report: charts (scores with intervals, per-class FVD in one class order, FVD@N), playable preview clips,
contact sheets; and the page opened in headless Chromium, where the plots are drawn and the previews decode."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import av
import numpy as np
import pytest
from PIL import Image

from report_fixtures import make_record, paper_run
from test_report_pictures import _write_run
from vidrd_bench.datasets.video import read_video
from vidrd_bench.report.html import ReportParts, report_runs, write_html_report
from vidrd_bench.report.pictures import contact_sheet, sample_videos
from vidrd_bench.report.plots import per_class_chart
from vidrd_bench.report.previews import make_previews
from vidrd_bench.report.published import load_published
from vidrd_bench.report.regression import compare

CALIBRATION = {"fvd_at_n": {"n": [2, 4, 6], "fvd": [30.0, 20.0, 16.0]}, "fvd_inf": {"fvd_inf": 10.0, "k": 40.0},
               "real_vs_real_floor": {"fvd": 5.0}}
BASE_CLASSES = {"Diving": 300.0, "Archery": 100.0, "Knitting": 200.0}


def _page(tmp_path):
    """A report of a regressed current run against the paper run, with per-class FVD, FVD@N, previews and a sheet."""
    _write_run(tmp_path)
    base = paper_run()
    base[0].extra["per_class_fvd"] = BASE_CLASSES
    cur = [make_record("fvd", 390.0, ci_low=381.0, ci_high=399.0,
                       extra={"per_class_fvd": {"Diving": 250.0, "Archery": 180.0, "Knitting": 90.0}}),
           make_record("is", 38.9, std=0.45)]
    report = compare(base, cur, {}, "base", "mine")
    videos = sample_videos(tmp_path)
    parts = ReportParts(report, calibration=CALIBRATION, sheets={"run": contact_sheet(videos, 2, 8)},
                        previews={"run": make_previews(videos)})
    return write_html_report(tmp_path / "r.html", report_runs(report), load_published(), parts, title="t")


def test_page_holds_three_charts_previews_and_the_sheet(tmp_path):
    page = _page(tmp_path).read_text(encoding="utf-8")
    assert page.count('class="vidrd-plot"') == 3 and page.count("<table") == 3
    assert "FAIL — regression" in page and "baseline: base" in page and "current: mine" in page
    assert "Scores with their 95% intervals" in page and "FVD at N videos" in page
    assert 'src="http' not in page and "<link" not in page
    sheets = [Image.open(io.BytesIO(base64.b64decode(m))) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]
    assert len(sheets) == 1
    clips = re.findall(r'<source src="data:video/mp4;base64,([^"]+)"', page)
    assert len(clips) == 3 and page.count("<figcaption><b>#") == 3  # one per class, with index and prompt
    assert "<b>#0 Diving</b><br>p0" in page


def test_previews_are_h264_yuv420p_showing_the_video(tmp_path):
    _write_run(tmp_path)
    video = sample_videos(tmp_path)[0]
    preview = make_previews([video])[0]
    with av.open(io.BytesIO(preview.mp4)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    source = read_video(video.path)
    assert frames.shape == (8, 128, 192, 3)  # 32x48 upscaled 4x: the short side reaches 128
    assert np.abs(frames[:, ::4, ::4].astype(int) - source).mean() < 4  # flat colours survive yuv420p


def test_per_class_chart_puts_both_runs_in_one_class_order():
    svg = per_class_chart({"baseline": BASE_CLASSES, "current": {"Knitting": 1.0, "Diving": 2.0, "Extra": 3.0}})
    labels = [t for t in re.findall(r">([A-Za-z]+)</text>", svg) if t in {"Diving", "Archery", "Knitting", "Extra"}]
    assert labels == ["Archery", "Knitting", "Diving", "Extra"]  # the baseline's order, best first; new classes last
    assert "baseline" in svg and "current" in svg and "FVD per class" in svg


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _dom(page) -> str:
    """The page's DOM after headless Chromium has loaded it and run its scripts."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required",
            "--virtual-time-budget=8000", "--dump-dom", page.resolve().as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: the README test command installs it (apt-get)")
def test_chromium_draws_the_plots_and_plays_the_previews(tmp_path):
    page = _page(tmp_path)
    dom = _dom(page)
    assert dom.count('class="vidrd-plot"') == 3
    states = re.findall(r'<video[^>]*?data-playable="([^"]+)"', dom)
    assert states == ["192x128"] * 3  # every preview decoded a 192x128 frame
    # the control: a clip the browser cannot decode is marked "error", so the check above can fail
    text = page.read_text(encoding="utf-8")
    broken = base64.b64encode(b"\x00\x00\x00\x18ftypmp42" + bytes(64)).decode()
    page.write_text(re.sub(r'data:video/mp4;base64,[^"]+', "data:video/mp4;base64," + broken, text, count=1),
                    encoding="utf-8")
    assert re.findall(r'<video[^>]*?data-playable="([^"]+)"', _dom(page)) == ["error", "192x128", "192x128"]


def _smoke_page(tmp_path, calibration=None):
    """A smoke run (current) against a smoke baseline, with per-class FVD and the published rows beside them."""
    from report_fixtures import smoke_run
    from vidrd_bench.report.html import report_title
    base, cur = smoke_run(), smoke_run()
    base[0].extra["per_class_fvd"], cur[0].extra["per_class_fvd"] = BASE_CLASSES, {"Diving": 90.0, "Archery": 80.0}
    cur[0].value, cur[0].ci_low, cur[0].ci_high = 2900.0, 2800.0, 3000.0
    report = compare(base, cur, {}, "My model", "My model v2")
    parts = ReportParts(report, calibration=calibration)
    return write_html_report(tmp_path / "smoke.html", report_runs(report), load_published(), parts,
                             title=report_title(report))


def test_a_smoke_report_is_labelled_in_title_heading_banner_and_charts(tmp_path):
    """Title, h1, the regression heading, a banner, the scores chart's labels (smoke rows never sit unlabelled among
    the published ones) and the per-class legend all say SMOKE; the FVD@N chart names its videos and its random
    detectors."""
    cal = {**CALIBRATION, "smoke": True, "fake": "runs/smoke", "real": "data/ucf", "default_fvd": "fvd-ucf101-10k"}
    page = _smoke_page(tmp_path, cal).read_text(encoding="utf-8")
    title = "vidrd-bench report [SMOKE — not a score]: My model v2 vs My model"
    assert f"<title>{title}</title>" in page and f"<h1>{title}</h1>" in page
    assert "<h2>Regression (SMOKE — not a score):" in page and 'class="smoke-banner"' in page
    scores = page.split("<h2>Scores with their 95% intervals</h2>")[1].split("</svg>")[0]
    assert scores.count("[SMOKE]") == 4  # both runs in the FVD and IS panels
    assert "SMOKE rows (red x): random weights, not a score" in page
    assert "current: My model v2 [SMOKE]" in page and "baseline: My model [SMOKE]" in page  # per-class legend
    assert "generated runs/smoke vs real data/ucf" in page and "SMOKE: random-weight detectors, not a score" in page


def test_a_real_report_carries_no_smoke_label(tmp_path):
    page = _page(tmp_path).read_text(encoding="utf-8")
    assert "SMOKE" not in page and "smoke-banner" not in page.split("</style>")[1]


def test_a_per_class_fvd_left_out_is_said_in_the_page_and_the_markdown(tmp_path):
    """A run whose classes barely overlap the real ones: its record's note appears under 'Per-class FVD' (even with
    no chart) and in the markdown summary."""
    note = "per-class FVD not computed: no class qualifies (a class needs at least 2 generated and 2 real videos)"
    cur = [make_record("fvd", 390.0, extra={"per_class_fvd_note": note}), make_record("is", 38.9, std=0.45)]
    base = [make_record("fvd", 380.0), make_record("is", 38.9, std=0.45)]
    report = compare(base, cur, {}, "base", "mine")
    page = write_html_report(tmp_path / "r.html", report_runs(report), None, ReportParts(report)).read_text("utf-8")
    assert "<h2>Per-class FVD</h2>" in page and f"current: mine: {note}" in page
    assert f"- Per-class FVD of current: {note}" in report.to_markdown()


def test_per_class_legend_never_covers_the_axis_title():
    """The legend sits above the axes: its drawn box and the x-axis title's do not overlap (they did at -0.12)."""
    from vidrd_bench.report.plots import per_class_figure
    classes = {f"Class{i}": float(i) for i in range(30)}
    fig = per_class_figure({"baseline: a long run name [SMOKE]": classes, "current: another long run name": classes})
    fig.canvas.draw()
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend, title = ax.get_legend().get_window_extent(renderer), ax.xaxis.label.get_window_extent(renderer)
    assert not legend.overlaps(title) and legend.y0 >= ax.get_window_extent(renderer).y1 - 1


def test_previews_of_a_plain_folder_are_one_per_class_spread_and_captioned(tmp_path):
    """A plain --videos folder of UCF-101 names: --previews 1 gives one clip per class (not its first files, which
    are one class), captioned with the class and the file name; large videos are shrunk, and the page says how many
    bytes the clips take."""
    from vidrd_bench.datasets.video import write_video
    from vidrd_bench.report.previews import MAX_FRAMES, MAX_SIDE, previews_html
    rng = np.random.default_rng(0)
    names = [f"v_Archery_g{g:02d}_c01.mp4" for g in range(1, 6)] + ["v_Diving_g01_c01.mp4", "v_Diving_g07_c02.mp4"]
    ramp = np.linspace(0, 200, 320, dtype=np.float32)[None, None, :, None]  # smooth frames, as videos are
    for i, name in enumerate(names + ["clip.mp4"]):
        drift = np.arange(24, dtype=np.float32)[:, None, None, None] * 2 + i * 5
        frames = ramp + drift + rng.normal(0, 2, (24, 240, 320, 3))
        write_video(tmp_path / name, frames.clip(0, 255).astype(np.uint8), 8)
    chosen = sample_videos(tmp_path, 1)
    assert [(v.klass, v.path.name) for v in chosen] == [("(no class)", "clip.mp4"), ("Archery", names[0]),
                                                       ("Diving", names[5])]
    assert [v.path.name for v in sample_videos(tmp_path, 2) if v.klass == "Archery"] == [names[0], names[4]]
    previews = make_previews(chosen)
    assert all((p.height, p.width) == (MAX_SIDE, 212) for p in previews)  # 320x240 -> 213x160, even
    with av.open(io.BytesIO(previews[0].mp4)) as container:
        assert len(list(container.decode(video=0))) == MAX_FRAMES
    html = previews_html(previews)
    assert "<b>Archery</b><br>v_Archery_g01_c01.mp4" in html
    size = sum(len(p.mp4) for p in previews) * 4 / 3 / 1e6
    assert f"3 clips, {size:.2f} MB of this page" in html and size < 0.6
