"""`vidrd-bench bench` on tiny presets: every stage of any generator is timed; the projection follows from the rows."""

import pytest
import torch

from vidrd_bench.core.timing import count_flops
from vidrd_bench.runners.bench import BenchOptions, format_bench, run_bench


def test_tiny_bench_times_every_stage_and_projects_the_10k_cost():
    result = run_bench(BenchOptions(preset="tiny", device="cpu", batch_sizes=(1, 2), iters=1, detectors=False))
    items = [r["item"] for r in result["rows"]]
    assert items.count("denoiser call") == 2 and items.count("whole video (pipeline)") == 2
    assert items.count("VAE decode") == 2 and {"mp4 encode (CPU)", "mp4 decode (CPU)"} <= set(items)
    unet = [r for r in result["rows"] if r["item"] == "denoiser call"]
    assert unet[1]["tflop"] == pytest.approx(2 * unet[0]["tflop"], rel=0.01)
    assert [r["videos"] for r in unet] == [1, 2]
    # vidrd-tiny: 3 clips x 4 steps, one guided UNet call each; the shape is the guided pair of 8-frame clips
    assert unet[0]["note"].endswith("x 12 calls per batch") and unet[0]["shape"] == "2 x 4 x 8 x 4 x 4"
    vae = [r for r in result["rows"] if r["item"] == "VAE decode"]
    assert vae[1]["tflop"] == pytest.approx(2 * vae[0]["tflop"], rel=0.01)
    best = min(r["per_video_s"] for r in result["rows"] if r["item"].startswith("whole video"))
    assert result["s_per_video"] == best
    assert result["projected_gpu_hours_10k"] == pytest.approx(best * 10_000 / 3600, abs=1e-3)
    assert "projected GPU-hours" in format_bench(result)


def test_bench_times_a_diffusers_generator_the_same_way():
    result = run_bench(BenchOptions(generator="modelscope", device="cpu", batch_sizes=(1,), iters=1, detectors=False))
    assert result["preset"] == "tiny" and result["settings"]["name"] == "modelscope-tiny"
    rows = {r["item"]: r for r in result["rows"]}
    den = rows["denoiser call"]
    assert den["note"] == "UNet3DConditionModel, x 2 calls per batch" and den["shape"] == "2 x 4 x 16 x 4 x 4"
    assert den["tflop"] > 0 and rows["VAE decode"]["tflop"] > 0
    assert "generator: modelscope" in format_bench(result)


def test_flop_counter_counts_a_matmul_exactly():
    import torch

    a, b = torch.randn(8, 16), torch.randn(16, 4)
    assert count_flops(lambda: a @ b) == 2 * 8 * 16 * 4


def test_memory_fit_gives_the_largest_batch_each_card_holds():
    from vidrd_bench.runners.bench import CARD_MIB, memory_fit

    points = [{"videos": b, "eager_unet_call_peak_gib": 3.0 + 0.5 * b} for b in (1, 8, 16, 32)]
    fit = memory_fit(points, pipeline_videos=16, pipeline_reserved_gib=12.0, context_gib=0.5)
    assert fit["per_video_gib"] == pytest.approx(0.5) and fit["fixed_gib"] == pytest.approx(4.5)
    for card, mib in CARD_MIB.items():
        n = fit["max_videos_per_call"][card]
        assert 4.5 + 0.5 * n <= mib / 1024 < 4.5 + 0.5 * (n + 1)


def test_memory_fit_caps_a_generator_that_renders_one_video_per_call():
    from vidrd_bench.runners.bench import memory_fit

    points = [{"videos": 1, "eager_unet_call_peak_gib": 11.694}]
    fit = memory_fit(points, pipeline_videos=1, pipeline_reserved_gib=18.4, context_gib=0.7, videos_per_call=1)
    assert fit["max_videos_per_call"] == {"24 GB": 1, "80 GB": 1} and fit["videos_per_call"] == 1
    too_big = memory_fit(points, pipeline_videos=1, pipeline_reserved_gib=30.0, context_gib=0.7, videos_per_call=1)
    assert too_big["max_videos_per_call"] == {"24 GB": 0, "80 GB": 1}


def test_memory_fit_with_one_probe_point_claims_no_growth_and_no_larger_batch():
    import json

    from vidrd_bench.runners.bench import growth, memory_fit

    fit = memory_fit([{"videos": 1, "eager_unet_call_peak_gib": 49.9}], pipeline_videos=1,
                     pipeline_reserved_gib=61.2, context_gib=0.7)
    assert fit["per_video_gib"] is None and fit["max_videos_per_call"] == {"24 GB": 0, "80 GB": 1}
    assert "NaN" not in json.dumps(fit) and growth(fit) == "one batch size probed: no per-video growth"


def test_the_whole_video_row_renders_each_batch_twice_capture_as_warm_up_then_timed(monkeypatch):
    from vidrd_bench.generators.base import Generator

    calls = []
    render = Generator.__call__
    monkeypatch.setattr(Generator, "__call__",
                        lambda self, p, *a, **k: calls.append(len(p)) or render(self, p, *a, **k))
    result = run_bench(BenchOptions(preset="tiny", device="cpu", batch_sizes=(2,), iters=1, detectors=False))
    whole = next(r for r in result["rows"] if r["item"] == "whole video (pipeline)")
    assert calls.count(2) == 2 and whole["first_call_s"] is not None and whole["first_call_s"] > 0


def test_the_memory_probe_captures_the_denoiser_call_at_its_own_batch_even_when_the_pipeline_pads():
    from vidrd_bench.runners.bench import first_denoiser_call
    from vidrd_bench.runners.generate import load_generator, resolve

    choice = resolve("vidrd", "tiny", None, None)
    gen = load_generator(choice, None, None, "cpu", compile=False)
    gen.pipeline.fixed_batch = 4  # as after a compiled batch of 4: later calls are padded to 4 videos
    for videos in (1, 2, 6):
        args, _ = first_denoiser_call(gen, choice.settings, videos)
        assert args[0].shape[0] == 2 * videos  # the guided pair of each video, no padded ones
    assert gen.pipeline.fixed_batch == 4


def test_bench_times_every_registered_detector_by_its_spec():
    from vidrd_bench.metrics.detectors import DETECTORS
    from vidrd_bench.runners.bench import _detector_rows, bench_detectors

    tiny, real = bench_detectors("tiny"), bench_detectors("full")
    assert all(s.random_weights for s in tiny) and not any(s.random_weights for s in real)
    assert sorted(s.name for s in tiny + real) == DETECTORS.names() and tiny and real
    rows = _detector_rows(torch.device("cpu"), "tiny", batch_size=2, iters=1, size=16)
    assert [r["detector"] for r in rows] == [s.name for s in tiny]
    assert all(r["input"] == "2 x 16 x 16x16 uint8" and r["ms_per_batch"] > 0 for r in rows)
    for r in rows:  # both follow from the time per batch (each rounded: ms to 0.01, so relatively for fast ones)
        assert r["videos_per_s"] == pytest.approx(2e3 / r["ms_per_batch"], rel=5e-3, abs=0.08)
        assert r["s_for_10k"] == pytest.approx(10_000 * r["ms_per_batch"] / 1e3 / 2, abs=0.08)


def test_a_guided_pair_denoiser_row_times_the_batched_call_once_per_step(monkeypatch):
    """Where the pipeline's two calls per step run as one batch, the row times that batched call of the compiled
    module (not the first, eager learning call) and counts it once per step, with the FLOP of both halves."""
    from vidrd_bench.generators.diffusers_speed import SpeedOptions, speed_up
    from vidrd_bench.generators.guided_pair import GuidedPairDenoiser
    from vidrd_bench.generators.tiny import build_tiny
    from vidrd_bench.runners.bench import _denoiser_row

    pipe = build_tiny("wan")
    speed_up(pipe, SpeedOptions(compile=False, guided_pair=True))
    calls = []
    hook = pipe.transformer.register_forward_pre_hook(lambda m, a, k: calls.append((a, k)), with_kwargs=True)
    with torch.no_grad():
        pipe(prompt="a man playing the cello", negative_prompt="blurry", num_frames=5, height=32, width=32,
             num_inference_steps=3, generator=torch.Generator().manual_seed(0), output_type="latent")
    hook.remove()
    assert len(calls) == 6
    timed = []
    monkeypatch.setattr(pipe.transformer.inner, "forward", lambda **k: timed.append(k["hidden_states"].shape[0])
                        or type(pipe.transformer.inner).forward(pipe.transformer.inner, **k))
    row = _denoiser_row("denoiser call", pipe.transformer, calls, 1, torch.device("cpu"), 1)
    assert set(timed) == {2}
    single = count_flops(lambda: pipe.transformer.inner(**calls[-2][1]))
    assert row.tflop == pytest.approx(2 * single / 1e12, rel=1e-6)
    assert row.note == "WanTransformer3DModel, x 3 guided pairs as one batch per batch"
    assert row.shape.startswith("2 x ")
    assert isinstance(pipe.transformer, GuidedPairDenoiser)


def test_steps_times_whole_videos_at_fewer_steps_and_projects_the_settings_count(monkeypatch):
    """--steps 1 on settings of 2 steps: the whole video renders with 1 step (under a new settings name), and the
    projection adds 1 more step at the timed denoiser's cost per step; the 10K cost follows the projection."""
    seen = []
    from vidrd_bench.generators.base import Generator

    render = Generator.__call__
    monkeypatch.setattr(Generator, "__call__", lambda self, p, seeds, settings, *a, **k:
                        seen.append(settings.num_inference_steps) or render(self, p, seeds, settings, *a, **k))
    result = run_bench(BenchOptions(generator="modelscope", device="cpu", batch_sizes=(1,), iters=1,
                                    detectors=False, steps=1))
    full = result["settings"]["num_inference_steps"]
    assert full == 2 and set(seen) == {1} and result["timed_settings"]["name"] == "modelscope-tiny-steps1"
    rows = {r["item"]: r for r in result["rows"]}
    whole, projected, denoiser = rows["whole video (pipeline)"], rows["whole video (projected)"], rows["denoiser call"]
    step_ms = denoiser["per_video_s"] * 1e3  # 1 video, 1 step timed
    assert projected["ms"] == pytest.approx(whole["ms"] + step_ms, rel=1e-3)
    assert result["s_per_video"] == projected["per_video_s"] and result["steps_timed"] == 1


def test_steps_is_refused_where_it_would_not_be_fewer_than_the_settings():
    from vidrd_bench.core.errors import VidrdBenchError

    with pytest.raises(VidrdBenchError, match="sample 2 steps.*Pass a number from 1 to 1"):
        run_bench(BenchOptions(generator="modelscope", device="cpu", batch_sizes=(1,), iters=1, detectors=False,
                               steps=2))
