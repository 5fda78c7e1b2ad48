"""The video UNet against diffusers' 2D UNet run frame by frame, the authors' release, and its full-size key list."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel
from diffusers.models.embeddings import SinusoidalPositionalEmbedding
from torch import nn

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.models.vidrd.configs import SD21_BASE_UNET, TINY_TEMPORAL, TINY_UNET, VIDRD_TEMPORAL
from vidrd_bench.models.vidrd.temporal import (
    TemporalConvLayer,
    VideoTransformerBlock,
    fold_frames,
    frame_attention,
    frame_position_embedding,
    unfold_frames,
)
from vidrd_bench.models.vidrd.unet3d import ResnetBlock3D, UNet3DConditionModel

FIXTURES = Path(__file__).with_name("fixtures")
TEXT_LEN = 5


def _load_reference_module():
    """The fixture script holding the deterministic weight recipe shared with the release reference run."""
    spec = importlib.util.spec_from_file_location("vidrd_unet_ref", FIXTURES / "vidrd_unet_make_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _load_reference_module()


def read_key_fixture() -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape of the authors' full-size video UNet."""
    keys = {}
    for line in (FIXTURES / "vidrd_unet_keys.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split("\t")
            keys[name] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return keys


@pytest.fixture(scope="module")
def unet2d() -> UNet2DConditionModel:
    """A tiny random SD-layout 2D UNet."""
    torch.manual_seed(0)
    return UNet2DConditionModel(**TINY_UNET).eval()


def inflate(unet2d: UNet2DConditionModel, **overrides) -> UNet3DConditionModel:
    """The video UNet inflated from `unet2d` with the tiny temporal settings."""
    return UNet3DConditionModel.from_unet2d(unet2d, **{**TINY_TEMPORAL, **overrides}).eval()


def inputs(frames: int, size: int = 8, batch: int = 2, identical: bool = False, seed: int = 1):
    """Random latents (B, 4, F, size, size), per-sample timesteps and text states."""
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, 4, 1 if identical else frames, size, size)
    sample = torch.randn(shape, generator=gen).expand(-1, -1, frames, -1, -1).contiguous()
    context = torch.randn(batch, TEXT_LEN, TINY_UNET["cross_attention_dim"], generator=gen)
    return sample, torch.tensor([10, 700]), context


@torch.no_grad()
def per_frame_2d(unet2d: UNet2DConditionModel, sample, timestep, context) -> torch.Tensor:
    """diffusers' 2D UNet applied to every frame independently, the reference the inflated UNet must match."""
    frames = sample.shape[2]
    out = unet2d(fold_frames(sample), timestep.repeat_interleave(frames),
                 context.repeat_interleave(frames, dim=0)).sample
    return unfold_frames(out, frames)


def randomise_temporal(model: nn.Module, seed: int = 3) -> None:
    """Give every temporal parameter (zero-initialised outputs included) random values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".temp_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


class PerFrameNorm(nn.Module):
    """Wraps a GroupNorm so its statistics are taken per frame instead of over the clip."""

    def __init__(self, norm: nn.GroupNorm) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each frame of (B, C, F, H, W) on its own."""
        return unfold_frames(self.norm(fold_frames(x)), x.shape[2])


def test_one_frame_equals_2d_unet(unet2d):
    """With one frame the video UNet is the 2D UNet, even with random temporal weights."""
    model = inflate(unet2d)
    randomise_temporal(model)  # with one frame Temp-Conv and Temp-Attn (and its embedding) are skipped
    x, t, ctx = inputs(frames=1)
    with torch.no_grad():
        out = model(x, t, ctx)
    assert out.shape == x.shape
    torch.testing.assert_close(out, per_frame_2d(unet2d, x, t, ctx), atol=1e-5, rtol=1e-5)


def test_identical_frames_equal_2d_unet_without_frame_embedding(unet2d):
    """Identical frames see per-frame GroupNorm statistics, so a fresh inflation equals the 2D UNet."""
    x, t, ctx = inputs(frames=4, identical=True)
    with torch.no_grad():
        out = inflate(unet2d, add_temp_embed=False)(x, t, ctx)
        embedded = inflate(unet2d)(x, t, ctx)
    torch.testing.assert_close(out, per_frame_2d(unet2d, x, t, ctx), atol=1e-5, rtol=1e-5)
    # The release adds the frame embedding to the residual stream, so even a fresh model tells frames apart.
    assert (embedded[:, :, 0] - embedded[:, :, 1]).abs().max() > 1e-3


def test_distinct_frames_differ_only_through_joint_groupnorm(unet2d):
    """On distinct frames the only difference from the 2D UNet is the joint-frame GroupNorm."""
    model = inflate(unet2d, add_temp_embed=False)
    x, t, ctx = inputs(frames=3)
    reference = per_frame_2d(unet2d, x, t, ctx)
    with torch.no_grad():
        joint = model(x, t, ctx)
        assert (joint - reference).abs().max() > 1e-3
        for module in list(model.modules()):
            if isinstance(module, ResnetBlock3D):
                module.norm1, module.norm2 = PerFrameNorm(module.norm1), PerFrameNorm(module.norm2)
        model.conv_norm_out = PerFrameNorm(model.conv_norm_out)
        torch.testing.assert_close(model(x, t, ctx), reference, atol=1e-5, rtol=1e-5)


def test_matches_authors_release_numerically():
    """Same weights and inputs as the authors' UNet run (fixture) give the same output."""
    ref = torch.load(REF.REFERENCE_FILE, weights_only=True)
    model = UNet3DConditionModel(**TINY_UNET, **TINY_TEMPORAL).eval()
    REF.fill_deterministic(model)
    with torch.no_grad():
        out = model(ref["sample"], ref["timestep"], ref["encoder_hidden_states"])
    torch.testing.assert_close(out, ref["output"], atol=2e-5, rtol=1e-4)


def test_full_size_keys_and_parameter_count_match_release():
    """The full-size model has the release's parameter names, shapes and counts."""
    with torch.device("meta"):
        model = UNet3DConditionModel(**SD21_BASE_UNET, **VIDRD_TEMPORAL)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    release = read_key_fixture()
    assert sorted(set(release) - set(ours)) == []
    assert sorted(set(ours) - set(release)) == []
    assert {k: v for k, v in ours.items() if release[k] != v} == {}
    total = sum(p.numel() for p in model.parameters())
    temporal = sum(p.numel() for n, p in model.named_parameters() if ".temp_" in n)
    assert (total, total - temporal, temporal) == (1_182_401_284, 865_910_724, 316_490_560)
    assert sum(isinstance(m, TemporalConvLayer) for m in model.modules()) == 22
    assert sum(isinstance(m, VideoTransformerBlock) for m in model.modules()) == 16


def test_inflated_weights_are_copied_and_temporal_outputs_zero(unet2d):
    """from_unet2d copies every 2D weight and zero-initialises exactly the temporal output layers."""
    model = inflate(unet2d)
    weights2d = unet2d.state_dict()
    for name, value in model.state_dict().items():
        if name in weights2d:
            assert torch.equal(value, weights2d[name]), name
        else:
            assert ".temp_" in name, name
    temporal_linear = {n: p for n, p in model.named_parameters()
                       if ".temp_attn." in n or any(f".convs.{j}." in n for j in (3, 7, 11, 15))}
    zeroed = {n for n, p in temporal_linear.items() if not p.any()}
    # tiny layout: Temp-Conv after 12 ResNet blocks (down 2+2, mid 2, up 3+3), Temp-Attn in 6 transformers
    assert zeroed == {n for n in temporal_linear if ".convs.15." in n or ".temp_attn.to_out.0." in n}
    assert len(zeroed) == 2 * 12 + 2 * 6
    assert not any(p.is_meta for p in model.parameters())
    assert model.conv_in.weight.data_ptr() != unet2d.conv_in.weight.data_ptr()  # a copy, not shared storage


def test_temporal_conv_is_identity_at_init_and_for_one_frame():
    """Temp-Conv is the identity when new and, whatever its weights, for one frame."""
    layer = TemporalConvLayer(32).eval()
    x = torch.randn(2, 32, 4, 3, 3)
    assert torch.equal(layer(x), x)
    randomise_temporal(nn.ModuleDict({"x": nn.ModuleDict({"temp_convs": layer})}))
    assert not torch.allclose(layer(x), x)
    one = x[:, :, :1]
    assert torch.equal(layer(one), one)


def test_frame_embedding_is_a_graph_constant_under_compile():
    """torch.compile sees the frame embedding as a constant (no exp/sin/cos in the graph) with the eager values."""
    graphs = []

    def capture(gm, example_inputs):
        graphs.append(gm)
        return gm

    block = VideoTransformerBlock(32, 2, 32, temp_attn_head_dim=16, add_temp_embed=True).eval()
    tokens = torch.randn(2 * 4, 5, 32)
    torch._dynamo.reset()
    with torch.no_grad():
        compiled = torch.compile(lambda t: block.temporal_attention(t, 4), backend=capture, fullgraph=True)(tokens)
        eager = block.temporal_attention(tokens, 4)
    torch._dynamo.reset()
    targets = {str(node.target) for gm in graphs for node in gm.graph.nodes}
    assert not any(op in name for name in targets for op in ("sin", "cos", "exp"))
    torch.testing.assert_close(compiled, eager)


def test_frame_embedding_matches_diffusers_sinusoid_and_enters_residual_stream():
    """The frame embedding is the Transformer sinusoid and stays in the residual stream."""
    reference = SinusoidalPositionalEmbedding(32, max_seq_length=6).pe[0]
    torch.testing.assert_close(frame_position_embedding(6, 32, torch.device("cpu"), torch.float32), reference)
    block = VideoTransformerBlock(32, 2, 32, temp_attn_head_dim=16, add_temp_embed=True).eval()
    tokens = torch.randn(2 * 6, 5, 32)  # (B*F, N, C)
    with torch.no_grad():
        out = block.temporal_attention(tokens, num_frames=6)  # to_out is zero: only the embedding is added
    expected = (tokens.reshape(2, 6, 5, 32) + reference[None, :, None, :]).reshape(12, 5, 32)
    torch.testing.assert_close(out, expected)


def test_output_depends_on_frame_order_only_through_temporal_layers(unet2d):
    """Frame order matters only once the temporal layers have weights."""
    x, t, ctx = inputs(frames=4)
    order = torch.tensor([2, 0, 3, 1])
    fresh = inflate(unet2d, add_temp_embed=False)
    trained = inflate(unet2d, add_temp_embed=False)
    randomise_temporal(trained)
    with torch.no_grad():
        # joint GroupNorm is order-invariant, so a fresh model commutes with permuting frames ...
        torch.testing.assert_close(fresh(x[:, :, order], t, ctx), fresh(x, t, ctx)[:, :, order], atol=1e-5, rtol=1e-5)
        # ... and Temp-Conv / Temp-Attn with weights mix frames in an order-dependent way.
        assert (trained(x[:, :, order], t, ctx) - trained(x, t, ctx)[:, :, order]).abs().max() > 1e-2


def test_timestep_forms_agree_and_bfloat16_runs(unet2d):
    """int, scalar and (B,) timesteps agree; bf16 runs and stays close to fp32."""
    model = inflate(unet2d)
    randomise_temporal(model)
    x, _, ctx = inputs(frames=2)
    with torch.no_grad():
        out = model(x, torch.tensor([500, 500]), ctx)
        for t in (500, torch.tensor(500), torch.tensor([500])):
            torch.testing.assert_close(model(x, t, ctx), out)
        low = model.to(torch.bfloat16)(x.bfloat16(), torch.tensor(500), ctx.bfloat16())
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    assert (low.float() - out).abs().mean() < 0.05 * out.abs().mean()


def test_odd_spatial_size_matches_2d_unet(unet2d):
    """Latents not divisible by the downsampling factor upsample back to the right size."""
    x, t, ctx = inputs(frames=1, size=5)
    with torch.no_grad():
        torch.testing.assert_close(inflate(unet2d)(x, t, ctx), per_frame_2d(unet2d, x, t, ctx), atol=1e-5, rtol=1e-5)


def test_config_round_trips_through_json():
    """The config serialises to JSON and rebuilds the same model."""
    model = UNet3DConditionModel(**TINY_UNET, **TINY_TEMPORAL)
    rebuilt = UNet3DConditionModel.from_config(json.loads(model.to_json_string()))
    public = {k: v for k, v in model.config.items() if not k.startswith("_")}
    assert {k: v for k, v in rebuilt.config.items() if not k.startswith("_")} == public
    assert public["temp_attn_head_dim"] == 16 and public["add_temp_embed"] is True
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_from_unet2d_refuses_architectures_it_cannot_inflate():
    """Unsupported UNet options and block types raise WeightsError."""
    unet2d = UNet2DConditionModel(**{**TINY_UNET, "class_embed_type": "timestep"})
    with pytest.raises(WeightsError, match="class_embed_type"):
        UNet3DConditionModel.from_unet2d(unet2d)
    with pytest.raises(WeightsError, match="block"):
        UNet3DConditionModel(**{**TINY_UNET, "down_block_types": ["SimpleCrossAttnDownBlock2D", "DownBlock2D"]})


def random_tiny_unet(seed: int) -> UNet3DConditionModel:
    """The tiny video UNet with every weight random (no zero-initialised layers), for fast-path comparisons."""
    torch.manual_seed(seed)
    unet = UNet3DConditionModel(**TINY_UNET, **TINY_TEMPORAL).eval()
    for p in unet.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return unet


def test_channels_last_activations_give_the_same_prediction():
    """The channels-last fast path only changes memory layout: the prediction must not move."""
    unet = random_tiny_unet(0)
    x, ctx = torch.randn(2, 4, 3, 8, 8), torch.randn(2, 77, 32)
    with torch.no_grad():
        ref = unet(x, torch.tensor(7), ctx)
        unet.set_channels_last(True)
        fast = unet(x, torch.tensor(7), ctx)
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert fast.is_contiguous() and fast.shape == ref.shape
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)


def test_bfloat16_prediction_stays_within_bf16_rounding_of_fp32():
    """The bf16 fast path computes the same function: relative error at bf16 level (GPU full size: 1.1e-2)."""
    unet = random_tiny_unet(1)
    x, ctx = torch.randn(2, 4, 4, 8, 8), torch.randn(2, 77, 32)
    with torch.no_grad():
        ref = unet(x, torch.tensor(300), ctx)
        low = unet.to(torch.bfloat16)(x.bfloat16(), torch.tensor(300), ctx.bfloat16()).float()
    rel = ((low - ref).norm() / ref.norm()).item()
    assert 1e-4 < rel < 3e-2


def test_frame_attention_equals_the_attention_module_over_frames():
    """The fused frame attention (compiled path) equals diffusers' Attention run on frame sequences (SDPA)."""
    torch.manual_seed(0)
    block = VideoTransformerBlock(64, 2, 32, temp_attn_head_dim=16, add_temp_embed=True)
    for p in block.temp_attn.parameters():
        nn.init.normal_(p, std=0.2)
    video = torch.randn(2, 5, 6, 64)
    with torch.no_grad():
        fused = frame_attention(block.temp_attn, video)
        tokens = video.transpose(1, 2).reshape(-1, 5, 64)
        ref = block.temp_attn(tokens).reshape(2, 6, 5, 64).transpose(1, 2)
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-5)


def test_compiled_temporal_path_gives_the_same_prediction(monkeypatch):
    """The UNet's compile-time branch (fused frame attention) predicts what the eager branch does."""
    import vidrd_bench.models.vidrd.temporal as temporal

    calls = []
    monkeypatch.setattr(temporal, "frame_attention", lambda *a: calls.append(1) or frame_attention(*a))
    unet = random_tiny_unet(2)
    x, ctx = torch.randn(2, 4, 4, 8, 8), torch.randn(2, 77, 32)
    with torch.no_grad():
        ref = unet(x, torch.tensor(11), ctx)
        assert not calls
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
        fused = unet(x, torch.tensor(11), ctx)
    assert len(calls) == sum(isinstance(m, VideoTransformerBlock) for m in unet.modules())
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-5)
