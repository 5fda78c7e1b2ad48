"""ModelScope's UNet3D rewritten for speed computes diffusers' own UNet3DConditionModel on the same weights: eager,
with channels-last frames, with the compiled path's broadcast frame attention, and compiled."""

from __future__ import annotations

import copy

import pytest
import torch

from vidrd_bench.generators import unet3d_speed
from vidrd_bench.generators.tiny import build_tiny
from vidrd_bench.generators.unet3d_speed import FrameMajorTransformerTemporal, rewrite_unet3d


@pytest.fixture(scope="module")
def unet():
    """The tiny ModelScope UNet with every parameter moved off its initial value (Temp-Conv's last conv and the
    temporal projections start at zero, which would hide a wrong temporal path)."""
    model = build_tiny("modelscope").unet.eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.1)
    return model


def inputs(unet, frames=4):
    """A (B, C, F, H, W) latent batch of two videos and their text context."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, unet.config.in_channels, frames, 16, 16, generator=generator)
    return x, torch.randn(2, 7, unet.config.cross_attention_dim, generator=generator)


def test_rewrite_counts_every_module_and_keeps_the_parameters(unet):
    """Every GroupNorm, temporal transformer and Temp-Conv conv is rewritten; no parameter changes value or name."""
    fast = copy.deepcopy(unet)
    done = rewrite_unet3d(fast)
    assert done["group_norms"] == sum(isinstance(m, torch.nn.GroupNorm) for m in unet.modules())
    assert done["temporal_transformers"] == sum(
        type(m).__name__ == "TransformerTemporalModel" for m in unet.modules())
    assert done["temporal_convs"] == 4 * sum(type(m).__name__ == "TemporalConvLayer" for m in unet.modules())
    assert fast.state_dict().keys() == unet.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(fast.state_dict().values(), unet.state_dict().values()))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last_3d])
def test_rewritten_unet_equals_diffusers_eager(unet, layout):
    """Same output as diffusers' forward, from contiguous and from channels-last latents."""
    fast = copy.deepcopy(unet)
    rewrite_unet3d(fast)
    x, context = inputs(unet)
    with torch.no_grad():
        want = unet(x, 10, context).sample
        got = fast(x.contiguous(memory_format=layout), 10, context).sample
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_the_compiled_paths_frame_attention_equals_diffusers(unet, monkeypatch):
    """The broadcast-sum attention across 16 frames (taken under torch.compile) gives diffusers' SDPA result."""
    fast = copy.deepcopy(unet)
    rewrite_unet3d(fast)
    x, context = inputs(unet, frames=16)
    with torch.no_grad():
        want = unet(x, 10, context).sample
        monkeypatch.setattr(unet3d_speed.torch.compiler, "is_compiling", lambda: True)
        got = fast(x, 10, context).sample
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_compiled_rewritten_unet_equals_diffusers(unet):
    """torch.compile of the rewritten UNet (CPU Inductor) still computes diffusers' UNet."""
    fast = copy.deepcopy(unet)
    rewrite_unet3d(fast)
    x, context = inputs(unet)
    with torch.no_grad():
        want = unet(x, 10, context).sample
        got = torch.compile(fast, dynamic=False)(x, 10, context).sample
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_a_temporal_block_with_other_options_keeps_diffusers_forward(unet):
    """A temporal transformer whose block is not plain LayerNorm self-attention (here positional embeddings) is
    left as diffusers wrote it."""
    fast = copy.deepcopy(unet)
    fast.transformer_in.transformer_blocks[0].pos_embed = torch.nn.Identity()
    done = rewrite_unet3d(fast)
    assert type(fast.transformer_in).__name__ == "TransformerTemporalModel"
    assert isinstance(fast.mid_block.temp_attentions[0], FrameMajorTransformerTemporal)
    assert done["temporal_transformers"] == sum(
        type(m).__name__ in ("TransformerTemporalModel", "FrameMajorTransformerTemporal") for m in unet.modules()) - 1


def test_speed_up_rewrites_a_unet3d_only_when_it_compiles():
    """The rewrite is a compile lever: with compile the UNet3D is rewritten (recorded), eager keeps diffusers'
    modules (whose videos the adapters' equality tests pin bit for bit)."""
    from vidrd_bench.generators.diffusers_speed import SpeedOptions, speed_up

    pipe = build_tiny("modelscope")
    done = speed_up(pipe, SpeedOptions(compile=True))
    assert done["video_unet"]["temporal_transformers"] == 5 and done["video_unet"]["group_norms"] > 0
    assert "video_unet" not in speed_up(build_tiny("modelscope"), SpeedOptions(compile=False))
    assert "video_unet" not in speed_up(build_tiny("modelscope"), SpeedOptions(compile=True, video_unet=False))
