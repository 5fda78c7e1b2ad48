"""`vidrd-bench bench --detectors`: each detector timed at its own clip contract by core/timing, on the CPU."""

import dataclasses
import json

import pytest
from click.testing import CliRunner

from vidrd_bench.cli import main
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.metrics.detectors import DETECTORS
from vidrd_bench.runners import detector_bench
from vidrd_bench.runners.detector_bench import detector_names, run_detector_bench, time_detector

TINY = ["i3d-tiny-random", "c3d-tiny-random"]


def test_each_detector_is_timed_at_its_clip_length_and_resolution():
    """Batch 1, one timed call: the I3D at 224x224, the C3D at 112x112 (their specs' resolutions), 16 frames."""
    result = run_detector_bench(TINY, device="cpu", batch_size=1, iters=1)
    rows = result["detectors"]
    assert [r["detector"] for r in rows] == TINY
    assert [r["input"] for r in rows] == ["1 x 16 x 224x224 uint8", "1 x 16 x 112x112 uint8"]
    for r in rows:
        assert r["ms_per_batch"] > 0 and r["ms_min"] <= r["ms_per_batch"] <= r["ms_max"] and r["note"] == ""
        assert r["videos_per_s"] == pytest.approx(1e3 / r["ms_per_batch"], abs=0.006)
        assert r["peak_gib"] is None  # CPU: no GPU peak
    assert result["device"] == "cpu" and result["batch_size"] == 1 and result["num_videos"] == 10_000


def test_the_figures_follow_from_the_timing_harness(monkeypatch):
    """Whatever core/timing.time_ms measures is what the row reports: 250 ms for 2 videos is 8 videos/s and 1,250 s
    for 10K videos."""
    calls = []

    def fake_time_ms(fn, device, warmup, iters):
        calls.append((warmup, iters))
        return {"ms": 250.0, "ms_min": 240.0, "ms_max": 260.0, "iters": iters, "first_ms": 900.0}

    monkeypatch.setattr(detector_bench, "time_ms", fake_time_ms)
    row = time_detector(DETECTORS.get("c3d-tiny-random"), detector_bench.pick_device("cpu"), 2, 3, clip_size=16)
    assert calls == [(1, 3)] and row.input == "2 x 16 x 16x16 uint8"
    assert (row.ms_per_batch, row.videos_per_s, row.s_for_10k, row.first_call_s) == (250.0, 8.0, 1250.0, 0.9)


def test_a_detector_without_a_random_build_is_skipped_with_a_note():
    spec = DETECTORS.get("c3d-tiny-random")
    row = time_detector(dataclasses.replace(spec, random_build=None), detector_bench.pick_device("cpu"), 1, 1)
    assert row.ms_per_batch is None and "no random full-size build" in row.note

    def needs_a_file(device):
        raise VidrdBenchError("this network's layout comes from its weight file")

    row = time_detector(dataclasses.replace(spec, random_build=needs_a_file), detector_bench.pick_device("cpu"), 1, 1)
    assert row.videos_per_s is None and "layout comes from its weight file" in row.note


def test_detector_names_are_checked_and_all_names_every_one():
    assert detector_names("all") == DETECTORS.names()
    assert detector_names(" i3d-tiny-random , c3d-tiny-random") == TINY
    with pytest.raises(VidrdBenchError):
        detector_names("no-such-detector")


def test_bench_detectors_cli_prints_the_table_and_writes_the_record(tmp_path):
    out = tmp_path / "detectors.json"
    got = CliRunner().invoke(main, ["bench", "--detectors", ",".join(TINY), "--batch-size", "2", "--iters", "1",
                                    "--clip-size", "32", "--device", "cpu", "--out", str(out)])
    assert got.exit_code == 0, got.output
    rec = json.loads(out.read_text())
    assert [r["detector"] for r in rec["detectors"]] == TINY and rec["clip_size"] == 32
    assert all(r["input"] == "2 x 16 x 32x32 uint8" and r["s_for_10k"] > 0 for r in rec["detectors"])
    assert "videos_per_s" in got.output and "c3d-tiny-random" in got.output and "generator" not in got.output


def test_every_random_weight_detector_runs_under_the_detector_bench():
    """Every registered tiny detector (clip, frame and ViT ones alike) is timed at its own clip contract; a frame
    detector on FRAMES_PER_VIDEO frames."""
    tiny = [name for name, spec in DETECTORS.items() if spec.random_weights]
    rows = run_detector_bench(tiny, device="cpu", batch_size=1, iters=1)["detectors"]
    assert [r["detector"] for r in rows] == tiny and all(r["note"] == "" and r["ms_per_batch"] > 0 for r in rows)
    for r in rows:
        spec = DETECTORS.get(r["detector"])
        frames = detector_bench.FRAMES_PER_VIDEO if spec.per_frame else spec.num_frames
        assert r["input"] == f"1 x {frames} x {spec.resolution}x{spec.resolution} uint8"


@pytest.mark.parametrize("name, gflop", [
    ("i3d-pytorch", 55.58),  # 16 x 224x224
    ("c3d-ucf101", 77.09),  # 16 x 112x112
    ("inception-torch-fidelity", 182.76),  # 16 frames x 299x299: 11.4 GFLOP a frame
])
def test_full_size_networks_are_counted_on_the_meta_device(name, gflop):
    """One video's work on the full-size network, counted from shapes alone (no weights, no arithmetic): the counts
    the README's detector cost table states."""
    spec = DETECTORS.get(name)
    assert detector_bench.count_gflop(spec, detector_bench.clip_shape(spec, 8, None)) == gflop


def test_counts_reach_detectors_that_need_the_host_or_hand_parameters_between_modules():
    """CLIP preprocesses on the host (the count falls back to one CPU run); V-JEPA's pooler hands its query tokens
    to a module (its parameters leave autograd first); a build that needs a file has no count and says so."""
    for name in ("clip-tiny-random", "vjepa-tiny-random"):
        spec = DETECTORS.get(name)
        assert detector_bench.count_gflop(spec, detector_bench.clip_shape(spec, 1, None)) > 0

    def needs_a_file(device):
        raise VidrdBenchError("this network's layout comes from its weight file")

    spec = dataclasses.replace(DETECTORS.get("c3d-tiny-random"), random_build=needs_a_file)
    row = detector_bench.detector_row(spec, detector_bench.pick_device("cpu"), 1, 1, flops_only=True)
    assert row.gflop_per_video is None and row.note


def test_a_timed_row_states_its_rate_from_the_count(monkeypatch):
    """tflops = GFLOP per video x videos per second: 8 videos/s of a 2.31-GFLOP clip is 0.02 TFLOP/s."""
    monkeypatch.setattr(detector_bench, "time_ms", lambda fn, device, warmup, iters: {
        "ms": 250.0, "ms_min": 250.0, "ms_max": 250.0, "iters": iters, "first_ms": 250.0})
    row = detector_bench.detector_row(DETECTORS.get("i3d-tiny-random"), detector_bench.pick_device("cpu"), 2, 1)
    assert (row.videos_per_s, row.gflop_per_video, row.tflops) == (8.0, 2.31, 0.02)


def test_flops_only_counts_without_timing_and_needs_detectors(tmp_path):
    out = tmp_path / "flops.json"
    got = CliRunner().invoke(main, ["bench", "--detectors", ",".join(TINY), "--flops-only", "--device", "cpu",
                                    "--out", str(out)])
    assert got.exit_code == 0, got.output
    rec = json.loads(out.read_text())
    assert rec["flops_only"] and [r["gflop_per_video"] for r in rec["detectors"]] == [2.31, 0.42]
    assert all(r["ms_per_batch"] is None for r in rec["detectors"]) and "gflop_per_video" in got.output
    refused = CliRunner().invoke(main, ["bench", "--flops-only"])
    assert refused.exit_code != 0 and "--detectors" in refused.output
