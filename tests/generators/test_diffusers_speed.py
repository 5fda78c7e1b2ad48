"""The speed levers keep the videos, apply only where they mean something, and the full-size configurations are the
public models' sizes (benchmarks/diffusers_peer.py times them on the GPU)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vidrd_bench.generators import GENERATORS
from vidrd_bench.generators.diffusers_speed import SpeedOptions, attention_priority, speed_up
from vidrd_bench.generators.full_configs import FULL_T2V
from vidrd_bench.generators.tiny import build_tiny

PROMPT, SEED = "a man playing the cello on a stage", 3


def render(pipe, order="default"):
    """One tiny video as float frames in [0, 1], diffusers' own call, in attention order `order`."""
    with torch.no_grad(), attention_priority(order):
        return pipe(prompt=PROMPT, num_frames=4, height=32, width=32, num_inference_steps=2,
                    generator=torch.Generator().manual_seed(SEED), output_type="np").frames[0]


@pytest.mark.parametrize("name", ["modelscope", "wan"])
def test_every_lever_but_compilation_keeps_the_video(name):
    """channels-last UNet, fused q/k/v projections and the cuDNN-first attention order render the plain pipeline's
    video (float32 on the CPU: equal to rounding)."""
    plain = render(build_tiny(name))
    pipe = build_tiny(name)
    options = SpeedOptions(compile=False, channels_last=True, fuse_qkv=True, attention="cudnn")
    done = speed_up(pipe, options)
    assert done["channels_last"] == (["unet"] if name == "modelscope" else []) and done["fused_qkv"]
    if name == "modelscope":
        assert pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert "video_unet" not in done  # a compile-only lever: eager keeps diffusers' modules
    np.testing.assert_allclose(render(pipe, "cudnn"), plain, atol=2e-5)


def test_a_pipeline_that_decodes_every_frame_at_once_decodes_in_frame_chunks_to_the_same_video():
    """ModelScope hands its image VAE all frames of the batch in one call: speed_up caps each decoder call at
    decode_frames frames, and the video is the plain pipeline's (float32 on the CPU: equal to rounding)."""
    plain = render(build_tiny("modelscope"))
    pipe = build_tiny("modelscope")
    done = speed_up(pipe, SpeedOptions(compile=False, decode_frames=3))
    assert done["vae_decode"] == "frames in chunks of 3 (FrameChunks)"
    sizes = []
    pipe.vae.decoder.inner.register_forward_pre_hook(lambda m, a: sizes.append(a[0].shape[0]))
    np.testing.assert_allclose(render(pipe), plain, atol=2e-5)  # float32 kernels round by batch size
    assert sizes == [3, 1]  # 4 frames
    assert pipe.vae.decoder.conv_out is pipe.vae.decoder.inner.conv_out
    with pytest.raises(ValueError, match="decode_frames=0"):
        SpeedOptions(decode_frames=0)


def test_gpu_levers_are_dropped_off_the_gpu_and_unknown_orders_refused():
    """On the CPU only compilation stays the caller's choice; on CUDA the options stand as given, except the guided
    pair, which applies only where the denoiser compiles (eager keeps the pipeline's own two calls)."""
    cpu = SpeedOptions(cuda_graphs=True).on(torch.device("cpu"))
    assert (cpu.compile, cpu.cuda_graphs, cpu.attention, cpu.channels_last, cpu.guided_pair) == \
        (True, False, "default", False, False)
    assert SpeedOptions(cuda_graphs=True).on(torch.device("cuda")) == SpeedOptions(cuda_graphs=True)
    assert SpeedOptions().guided_pair and SpeedOptions().on(torch.device("cuda")).guided_pair
    assert not SpeedOptions(compile=False).on(torch.device("cuda")).guided_pair
    with pytest.raises(ValueError, match="attention='fastest'"):
        SpeedOptions(attention="fastest")


def test_the_generator_runs_its_calls_and_bench_replays_in_its_attention_order(monkeypatch):
    """The adapter's kernel context is the attention order speed_up recorded (what bench wraps its replays in)."""
    generator = GENERATORS.get("modelscope").load(preset="tiny", device="cpu")
    assert generator.provenance()["attention"] == "default"  # CPU: PyTorch's own order
    generator.speed["attention"] = "cudnn"
    seen = []
    monkeypatch.setattr("vidrd_bench.generators.diffusers_t2v.attention_priority",
                        lambda order: seen.append(order) or attention_priority(order))
    settings = GENERATORS.get("modelscope").settings.get("modelscope-tiny")
    generator([PROMPT], [SEED], dataclasses.replace(settings, num_frames=4))
    assert seen == ["cudnn"]


@pytest.mark.parametrize("name, part, denoiser, parameters", [
    ("modelscope", "unet", "UNet3DConditionModel", 1_411_233_860),  # text-to-video-ms-1.7b's UNet: 1.41 B
    ("wan", "transformer", "WanTransformer3DModel", 1_418_996_800),  # Wan 2.1 T2V "1.3B"
    ("animatediff", "unet", "UNet2DConditionModel", 859_520_964),  # SD 1.5's UNet: 860 M
    ("animatediff", "motion_adapter", "MotionAdapter", 453_209_280),  # the v1-5-2 motion module: 453 M
    ("cogvideox", "transformer", "CogVideoXTransformer3DModel", 1_693_783_872),  # CogVideoX-2b: 1.69 B
    ("ltx", "transformer", "LTXVideoTransformer3DModel", 1_923_385_472),  # LTX-Video "2B": 1.92 B
    ("hunyuanvideo", "transformer", "HunyuanVideoTransformer3DModel", 12_821_012_544),  # HunyuanVideo "13B"
    ("mochi", "transformer", "MochiTransformer3DModel", 10_027_677_744),  # Mochi 1 "10B"
    ("latte", "transformer", "LatteTransformer3DModel", 1_057_246_880),  # Latte-1: 1.06 B
])
def test_full_size_configurations_are_the_public_models(name, part, denoiser, parameters):
    """The full-random denoisers have the published models' parameter counts (built on the meta device)."""
    import diffusers

    with torch.device("meta"):
        model = getattr(diffusers, denoiser)(**FULL_T2V[name][part])
    assert sum(p.numel() for p in model.parameters()) == parameters


def test_every_diffusers_generator_has_a_full_size_configuration_with_every_part_its_builder_reads():
    """bench --preset full-random works for each registered diffusers model: FULL_T2V has the same parts as the
    tiny configuration the builder reads (text encoders where the tiny one names its own)."""
    from vidrd_bench.generators.tiny import BUILDERS
    from vidrd_bench.generators.tiny_configs import TINY_T2V

    assert set(FULL_T2V) == set(BUILDERS) == set(TINY_T2V)
    for name, tiny in TINY_T2V.items():
        assert set(tiny) <= set(FULL_T2V[name]), name


def test_full_random_modelscope_renders_the_models_256_pixels_by_default():
    """TextToVideoSDPipeline takes its size from unet.config.sample_size x the VAE's scale when settings name none
    (the `modelscope` settings do not); without sample_size, `bench --preset full-random` had no size to render."""
    import diffusers

    with torch.device("meta"):
        unet = diffusers.UNet3DConditionModel(**FULL_T2V["modelscope"]["unet"])
    scale = 2 ** (len(FULL_T2V["modelscope"]["vae"]["block_out_channels"]) - 1)
    assert GENERATORS.get("modelscope").settings.get("modelscope").height is None
    assert unet.config.sample_size * scale == 256


def test_full_random_is_a_random_weights_preset_of_the_models_with_a_full_configuration():
    """`bench --preset full-random` exists for modelscope and wan, marked random, and nowhere else."""
    for name in GENERATORS.names():
        presets = {p.name: p for p in GENERATORS.get(name).presets}
        if name in FULL_T2V:
            assert presets["full-random"].random_weights
        elif name != "vidrd":
            assert "full-random" not in presets


@pytest.mark.parametrize("name", sorted(set(FULL_T2V) - {"wan"}))  # UniPC copies its sigmas at init: not on meta
def test_every_full_size_pipeline_builds_from_its_configuration_in_bf16(name):
    """The builders accept every full-size configuration (built on the meta device in bf16, as bench builds them on
    a GPU): each part of the pipeline is there, at the full denoiser's size. Wan's is built on the GPU in
    benchmarks/results/bench_wan_h100.json."""
    from vidrd_bench.core.devices import default_dtype
    from vidrd_bench.generators.tiny import BUILDERS

    with torch.device("meta"), default_dtype(torch.bfloat16):
        pipe = BUILDERS[name](FULL_T2V[name])
    parts = {k: m for k, m in pipe.components.items() if isinstance(m, torch.nn.Module)}
    assert {"vae", "text_encoder"} <= set(parts) and all(p.dtype == torch.bfloat16 for p in pipe.vae.parameters())
    denoiser = parts.get("transformer", parts.get("unet"))
    assert sum(p.numel() for p in denoiser.parameters()) > 0.8e9
