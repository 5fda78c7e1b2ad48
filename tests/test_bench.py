"""`vidrd-bench bench` on the tiny preset: every stage is timed and the projection follows from the rows."""

import pytest

from vidrd_bench.bench import count_flops, format_bench, run_bench


def test_tiny_bench_times_every_stage_and_projects_the_10k_cost():
    result = run_bench(preset="tiny", device="cpu", batch_sizes=(1, 2), iters=1, detectors=False)
    items = [r["item"] for r in result["rows"]]
    assert items.count("UNet call (guided pair)") == 2 and items.count("whole video (pipeline)") == 2
    assert {"VAE decode", "text encoder", "mp4 encode (CPU)", "mp4 decode (CPU)"} <= set(items)
    unet = [r for r in result["rows"] if r["item"].startswith("UNet")]
    assert unet[1]["tflop"] == pytest.approx(2 * unet[0]["tflop"], rel=0.01)
    best = min(r["per_video_s"] for r in result["rows"] if r["item"].startswith("whole video"))
    assert result["s_per_video"] == best
    assert result["projected_gpu_hours_10k"] == pytest.approx(best * 10_000 / 3600, abs=1e-3)
    assert "projected GPU-hours" in format_bench(result)


def test_flop_counter_counts_a_matmul_exactly():
    import torch

    a, b = torch.randn(8, 16), torch.randn(16, 4)
    assert count_flops(lambda: a @ b) == 2 * 8 * 16 * 4
