"""Size limits before decoding or allocating: tiny files that declare huge videos, arrays, images or records are
refused at once, naming the limit and the environment variable that raises it."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.hostile import huge_gif, npz_declaring
from tests.report.report_fixtures import make_record
from vidrd_bench.core.errors import LimitError, VidrdBenchError
from vidrd_bench.core.limits import ARRAY_ELEMENTS, FRAME_PIXELS, IMAGE_PIXELS, LIMITS, RECORD_BYTES, VIDEO_PIXELS
from vidrd_bench.datasets.video import BACKEND_ENV, PyAVReader, read_clip, read_video, write_video
from vidrd_bench.metrics.detectors.c3d import _npz
from vidrd_bench.metrics.stats import load_stats
from vidrd_bench.report.pictures import SampledVideo, contact_sheet
from vidrd_bench.report.previews import make_previews
from vidrd_bench.report.plots import read_calibration
from vidrd_bench.results import load_results


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_a_small_gif_of_huge_frames_is_refused_before_decoding(tmp_path, monkeypatch, backend):
    """Refused in well under a second (it took 3.2 GB to be called too short), naming the limit and its variable."""
    monkeypatch.setenv(BACKEND_ENV, backend)
    path = huge_gif(tmp_path / "bomb.gif")
    assert path.stat().st_size < 1_000_000  # decoded whole: 1.9 GB of RGB
    started = time.perf_counter()
    with pytest.raises(LimitError) as err:
        read_clip(path, 16)
    assert time.perf_counter() - started < 2
    message = str(err.value)
    assert "8000x8000" in message and "64,000,000 pixels per frame" in message
    assert f"${FRAME_PIXELS.env}" in message and f"{FRAME_PIXELS.env}=67108864" in message and "\n" not in message


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_frames_times_size_from_the_header_is_checked_before_decoding(tmp_path, monkeypatch, backend):
    """An mp4 of 8 frames of 48x32: refused under a lower video limit, decoded under the default one."""
    monkeypatch.setenv(BACKEND_ENV, backend)
    frames = np.random.default_rng(0).integers(0, 256, (8, 32, 48, 3), np.uint8)
    write_video(tmp_path / "v.mp4", frames, 8)
    monkeypatch.setenv(VIDEO_PIXELS.env, "12287")
    with pytest.raises(LimitError, match=r"\(8 frames of 48x32\) needs 12,288 pixels per video"):
        read_video(tmp_path / "v.mp4")
    monkeypatch.setenv(VIDEO_PIXELS.env, "12288")
    assert np.array_equal(read_video(tmp_path / "v.mp4"), frames)


def test_pyav_stops_decoding_at_the_limit_when_the_header_gives_no_count(tmp_path, monkeypatch):
    """Decoding keeps a running total, so a file whose header hides its length is stopped at the limit."""
    gif = tmp_path / "v.gif"
    images = [Image.new("RGB", (16, 16), (20 * i, 0, 0)) for i in range(10)]
    images[0].save(gif, format="GIF", save_all=True, append_images=images[1:], duration=100)
    monkeypatch.setenv(VIDEO_PIXELS.env, str(5 * 256))
    with pytest.raises(LimitError, match="Video file .*v.gif needs 1,536 pixels per video"):
        PyAVReader(gif)


def test_frame_folders_check_each_image_header(tmp_path, monkeypatch):
    """A frame folder's images are checked by their headers before any is decoded."""
    (tmp_path / "clip").mkdir()
    for t in range(4):
        Image.new("RGB", (40, 30)).save(tmp_path / "clip" / f"{t}.png")
    monkeypatch.setenv(FRAME_PIXELS.env, "1199")
    with pytest.raises(LimitError, match=r"Frame .*clip/0.png \(40x30\) needs 1,200 pixels per frame"):
        read_video(tmp_path / "clip")


def test_contact_sheets_and_previews_of_a_needle_thin_video_are_refused(tmp_path):
    """Frames of 24000x1 pixels (a few hundred bytes each) made a 1,536,172-pixel-wide sheet and a preview that
    crashed libx264; both are refused by their size, naming the options that ask for less."""
    (tmp_path / "clip").mkdir()
    for t in range(4):
        Image.new("RGB", (24000, 1)).save(tmp_path / "clip" / f"{t}.png")
    video = SampledVideo("Diving", tmp_path / "clip")
    with pytest.raises(LimitError, match=r"contact sheet \(9216172x90 .*\(--frames, --height, --per-class\)"):
        contact_sheet([video])
    with pytest.raises(LimitError, match=r"upscaled 128x to 3072000x128 .*--previews 0"):
        make_previews([video])
    assert IMAGE_PIXELS.env in str(pytest.raises(LimitError, contact_sheet, [video]).value)


def test_npz_arrays_are_refused_by_their_header_before_loading(tmp_path):
    """A 20000x20000 sigma (3.9 GB when loaded) is refused from its header by the statistics and C3D readers."""
    path = npz_declaring(tmp_path / "stats.npz", (20000, 20000))
    with pytest.raises(LimitError, match=r"member sigma.npy \(an array of shape \(20000, 20000\)\) needs 400,000,000"):
        load_stats(path)
    with pytest.raises(LimitError, match=ARRAY_ELEMENTS.env):
        _npz(path)
    bare = tmp_path / "bare.npy"
    bare.write_bytes(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        bare.write_bytes(archive.read("sigma.npy"))
    with pytest.raises(LimitError, match=r"an array of shape \(20000, 20000\)"):
        load_stats(bare)


def test_a_compressed_non_array_member_is_refused_by_its_declared_size(tmp_path):
    """A zip member that inflates to more bytes than the limit is refused before it is read."""
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", bytes(200_000_000))
    assert (tmp_path / "bomb.npz").stat().st_size < 1_000_000
    with pytest.raises(LimitError, match=r"member readme.txt \(200,000,000 bytes once decompressed\)"):
        load_stats(tmp_path / "bomb.npz")


def test_records_are_refused_by_their_size_before_parsing(tmp_path, monkeypatch):
    """A record (or calibration record) larger than the limit is refused from its size; at the limit it loads."""
    path = make_record("fvd", 1.0).save(tmp_path / "r.json")
    size = path.stat().st_size
    monkeypatch.setenv(RECORD_BYTES.env, str(size - 1))
    with pytest.raises(LimitError, match=f"Result file .*r.json \\({size:,} bytes\\) needs {size:,} bytes"):
        load_results(path)
    (tmp_path / "c.json").write_text(json.dumps({"fvd_at_n": {"n": [1], "fvd": [2.0]}, "pad": "x" * size}))
    with pytest.raises(LimitError, match="Calibration record"):
        read_calibration(tmp_path / "c.json")
    monkeypatch.setenv(RECORD_BYTES.env, str(size))
    assert load_results(path)[0].value == 1.0


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_a_bad_limit_setting_is_a_clear_error(monkeypatch, value):
    """The environment variable must be a positive whole number (underscores allowed)."""
    monkeypatch.setenv(FRAME_PIXELS.env, value)
    with pytest.raises(VidrdBenchError, match=f"{FRAME_PIXELS.env}='{value}' is not a positive whole number"):
        FRAME_PIXELS.value()
    monkeypatch.setenv(FRAME_PIXELS.env, "1_000")
    assert FRAME_PIXELS.value() == 1000


def test_the_readme_trust_section_lists_every_limit_with_its_default():
    """README's Trust table names each limit's variable with the default the code uses."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    trust = readme[readme.index("## Trust"):]
    for limit in LIMITS:
        assert f"| `{limit.env}` | {limit.default:,} " in trust
