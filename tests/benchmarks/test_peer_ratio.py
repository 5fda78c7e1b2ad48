"""benchmarks/peer_ratio.py: every figure of the ratio table follows from the two sides' JSON records."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "peer_ratio.py"


def _load():
    spec = importlib.util.spec_from_file_location("peer_ratio", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ratio_table_rows_follow_from_both_sides():
    peer_ratio = _load()
    # records shaped as release_speed.py and `bench` write them; the figures are arbitrary inputs for the arithmetic
    peer = {"dtype": "torch.float16", "tflop_per_guided_clip": 3.6, "rows": [
        {"mode": "eager", "videos_per_call": 4, "ms_per_call": 80.0},
        {"mode": "eager", "videos_per_call": 16, "ms_per_call": 270.0},
        {"mode": "compiled", "videos_per_call": 16, "ms_per_call": 190.0}]}
    bench = {"device": "some GPU", "torch": "2.x", "protocol": {"num_clips": 3, "num_inference_steps": 50}, "rows": [
        {"item": "UNet call (guided pair)", "videos": 16, "ms": 120.0, "tflop": 16 * 3.7, "per_video_s": 1.125},
        {"item": "UNet call, no CUDA graph", "videos": 16, "ms": 125.0, "tflop": 16 * 3.7, "per_video_s": 1.17},
        {"item": "VAE decode", "videos": 16, "ms": 1000.0, "tflop": 300.0, "per_video_s": 0.0625},
        {"item": "whole video (pipeline)", "videos": 16, "ms": 20000.0, "tflop": None, "per_video_s": 1.25}]}
    rows = peer_ratio.ratio_rows(peer, bench)
    assert [r["name"] for r in rows] == ["authors' UNet, eager float16"] * 2 + [
        "authors' UNet, compiled float16", "ours, bf16 compiled", "ours, bf16 compiled, no CUDA graph"]
    peer_s = 150 * 0.190 / 16
    assert rows[2]["speed_vs_compiled_peer"] == 1.0 and rows[2]["unet_s_per_video"] == pytest.approx(peer_s, abs=1e-3)
    assert rows[1]["speed_vs_compiled_peer"] == pytest.approx(190 / 270, abs=1e-3)
    assert rows[0]["ms_per_16_videos"] == 320.0 and rows[0]["unet_s_per_video"] == pytest.approx(3.0)
    assert rows[2]["pct_790"] == pytest.approx(100 * 16 * 3.6 / 0.19 / 790, abs=0.05)
    assert rows[3]["unet_s_per_video"] == 1.125 and rows[3]["speed_vs_compiled_peer"] == pytest.approx(190 / 120,
                                                                                                      abs=1e-3)
    assert rows[3]["whole_video_s"] == 1.25 and rows[3]["gpu_hours_10k"] == pytest.approx(3.47, abs=0.01)
    assert rows[4]["whole_video_s"] is None and rows[4]["speed_vs_compiled_peer"] == pytest.approx(1.52, abs=1e-3)
    table = peer_ratio.markdown(rows, peer, bench)
    assert table.count("\n| ") == 1 + len(rows) and "| 1.0x |" in table and "1.583x" in table
