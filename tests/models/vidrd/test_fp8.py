"""FP8 (e4m3) linears with static per-tensor scales: the emulated quantisation against an independent re-derivation,
clamping, no reduction in the forward, state dicts, which UNet layers are converted, the device checks of the
fp8-e4m3 precision, and the real _scaled_mm call (CPU kernel) against the emulation."""

from __future__ import annotations

import copy
import re
import shutil

import pytest
import torch
from torch import nn
from torch.fx.experimental.proxy_tensor import make_fx

from vidrd_bench.models.vidrd.fp8 import (E4M3_MAX, Fp8Linear, Fp8UncalibratedError, bf16_linears, fp8_linears, fp8_plan,
                                       quantise, use_fp8_linears)
from vidrd_bench.models.vidrd.pipeline import VidRDPipeline
from vidrd_bench.models.vidrd.temporal import Transformer3DModel
from vidrd_bench.precisions import PrecisionError, check_precision_device

# Every finite e4m3 value, from its 256 bit patterns (0x7F / 0xFF are NaN in the fn variant).
GRID = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).double()
GRID = torch.unique(GRID[torch.isfinite(GRID)])


def nearest_e4m3(x: torch.Tensor) -> torch.Tensor:
    """Round float64 values to the nearest finite e4m3 value by search over the grid (ties never occur here)."""
    idx = torch.searchsorted(GRID, x.clamp(GRID[0], GRID[-1]).contiguous())
    lo, hi = GRID[(idx - 1).clamp(min=0)], GRID[idx.clamp(max=len(GRID) - 1)]
    return torch.where((x - lo).abs() <= (hi - x).abs(), lo, hi)


def dequantised(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Per-tensor e4m3 quantise-dequantise of x with `scale`, derived independently in float64 (clamped at 448)."""
    return nearest_e4m3(x.double() / scale) * scale


def calibrated(linear: nn.Linear, input_range: float, emulate: bool = True) -> Fp8Linear:
    """An Fp8Linear copy of `linear` whose static input scale covers |x| <= input_range."""
    layer = Fp8Linear.from_linear(linear, emulate=emulate)
    layer.set_input_range(input_range)
    return layer


def test_grid_is_the_e4m3_format():
    """The search grid itself: 253 distinct finite values (+-0 merge), max 448, smallest subnormal 2^-9."""
    assert len(GRID) == 253 and GRID.max() == 448 and GRID[GRID > 0].min() == 2.0 ** -9


def test_static_quantisation_is_nearest_e4m3_rounding_and_clamps():
    """quantise(x, 1 / s): the nearest e4m3 number to x / s; beyond +-448 * s it saturates at +-448 (no inf/NaN)."""
    x = torch.randn(64, 96, generator=torch.Generator().manual_seed(0)) * torch.logspace(-3, 3, 64)[:, None]
    scale = 0.3
    q = quantise(x, torch.tensor(1 / scale))
    assert q.dtype == torch.float8_e4m3fn and q.shape == x.shape
    assert torch.equal(q.double(), nearest_e4m3(x.double() * torch.tensor(1 / scale).double()))
    beyond = x.abs() > E4M3_MAX * scale
    assert beyond.sum() > 100 and torch.equal(q.double()[beyond].abs(), torch.full((int(beyond.sum()),), 448.0,
                                                                                   dtype=torch.float64))


def test_emulated_linear_equals_independent_dequantised_product():
    """Fp8Linear (emulated) = dq(x, range / 448) @ dq(W, amax(W) / 448)^T + b, both re-derived in float64."""
    g = torch.Generator().manual_seed(1)
    lin = nn.Linear(64, 48)
    x = torch.randn(5, 7, 64, generator=g)
    in_range = float(x.abs().max()) * 2
    layer = calibrated(lin, in_range)
    out = layer(x)
    w = lin.weight.detach()
    ref = (dequantised(x.reshape(-1, 64), in_range / 448) @ dequantised(w, float(w.abs().max()) / 448).t()
           + lin.bias.detach().double())
    assert out.shape == (5, 7, 48) and out.dtype == x.dtype
    assert layer.input_scale.shape == () and layer.weight_scale.shape == () and layer.input_scale.dtype == torch.float32
    torch.testing.assert_close(out.reshape(-1, 48).double(), ref, rtol=1e-5, atol=1e-5)


def test_inputs_beyond_the_calibrated_range_are_clamped():
    """|x| above the calibrated range acts as +-range exactly (the static scale saturates); inside it nothing moves."""
    torch.manual_seed(2)
    lin = nn.Linear(32, 16)
    layer = calibrated(lin, 1.0)
    x = torch.randn(8, 32) * 0.3
    x[0, :4] = torch.tensor([5.0, -7.0, 30.0, -2.0])
    assert torch.equal(layer(x), layer(x.clamp(-1.0, 1.0)))
    wide = calibrated(lin, 64.0)
    assert not torch.allclose(wide(x)[0], layer(x)[0], atol=0.1)
    torch.testing.assert_close(wide(x)[1:], layer(x)[1:], rtol=0.1, atol=0.02)


def test_recalibration_updates_the_scale_buffer_in_place():
    """A second calibration writes into the same 0-dim buffer (a captured CUDA graph reads that memory)."""
    layer = calibrated(nn.Linear(32, 16), 1.0)
    ptr = layer.input_scale.data_ptr()
    layer.set_input_range(3.0)
    assert layer.input_scale.data_ptr() == ptr and float(layer.input_scale) == pytest.approx(3.0 / 448, rel=1e-7)


def test_error_against_the_full_precision_linear_is_that_of_3_mantissa_bits():
    """Relative error vs the float32 linear: well above float32 rounding, below e4m3's 2^-4 unit roundoff."""
    torch.manual_seed(3)
    lin = nn.Linear(320, 640).requires_grad_(False)
    x = torch.randn(256, 320)
    ref = lin(x)
    fp8 = calibrated(copy.deepcopy(lin), float(x.abs().max()) * 2)
    rel = float((fp8(x) - ref).norm() / ref.norm())
    assert 0.005 < rel < 0.0625  # measured 0.037
    with bf16_linears(fp8) as count:
        assert count == 1 and torch.equal(fp8(x), ref)
    assert fp8.fp8_enabled


def _traced_ops(fn, *args) -> list:
    """The aten ops of fn(*args), traced by running it (the CPU has a _scaled_mm kernel)."""
    return [n.target for n in make_fx(fn)(*args).graph.nodes if n.op == "call_function"]


def _reductions(ops: list) -> list:
    """Those of `ops` tagged as reductions."""
    return [op for op in ops if torch.Tag.reduction in getattr(op, "tags", ())]


def test_forward_quantisation_has_no_reduction():
    """The traced forward (real _scaled_mm path) holds no reduction op: the activation's cast is pure pointwise code
    with the static scale, which Inductor fuses into the producing kernel. A dynamic row-wise amax would show up."""
    layer = calibrated(nn.Linear(64, 48).to(torch.bfloat16), 4.0, emulate=False)
    x = torch.randn(3, 5, 64, dtype=torch.bfloat16)
    ops = _traced_ops(layer, x)
    assert torch.ops.aten._scaled_mm.default in ops and not _reductions(ops)
    assert {torch.ops.aten.clamp.default, torch.ops.aten.reciprocal.default} <= set(ops)
    dynamic = _traced_ops(lambda t: t / t.abs().amax(dim=-1, keepdim=True), x)
    assert _reductions(dynamic) == [torch.ops.aten.amax.default]


@pytest.mark.skipif(shutil.which("g++") is None, reason="Inductor's CPU backend needs a C++ compiler")
def test_inductor_fuses_each_cast_into_the_kernel_producing_its_input():
    """LayerNorm -> GEGLU feed-forward compiled by Inductor (CPU backend): exactly two generated kernels, the LayerNorm
    with the first cast and GEGLU with the second, around the two _scaled_mm calls; no amax anywhere; as far from
    the bf16 linears as eager fp8."""
    from diffusers.models.attention import FeedForward
    from torch._inductor.utils import run_and_get_code

    torch.manual_seed(6)
    block = nn.Sequential(nn.LayerNorm(64), FeedForward(64, activation_fn="geglu")).to(torch.bfloat16).eval()
    ff = block[1]
    ff.net[0].proj, ff.net[2] = (calibrated(lin, 8.0, emulate=False) for lin in (ff.net[0].proj, ff.net[2]))
    x = torch.randn(256, 64, dtype=torch.bfloat16)
    with torch.no_grad():
        eager = _scaled_mm_or_skip(block, x).float()
        out, codes = run_and_get_code(torch.compile(block, fullgraph=True), x)
        with bf16_linears(block):
            reference = block(x).float()
    code = "\n".join(codes)
    kernels = sorted(set(re.findall(r"cpp_fused\w+", code)))
    assert len(kernels) == 2 and "amax" not in code and code.count("extern_kernels._scaled_mm(") == 2
    assert all("_to_copy_clamp" in k for k in kernels)
    assert {("native_layer_norm" in k, "gelu" in k) for k in kernels} == {(True, False), (False, True)}
    # Measured 0.062 both. Not equal: the fused LayerNorm output is not rounded to bf16 before its cast, so single
    # elements land on neighbouring e4m3 values.
    rel = [float((y.float() - reference).norm() / reference.norm()) for y in (out, eager)]
    assert rel[0] < 0.1 and rel[0] == pytest.approx(rel[1], rel=0.2)


def test_uncalibrated_layer_refuses_to_run():
    layer = Fp8Linear.from_linear(nn.Linear(32, 16), emulate=True)
    with pytest.raises(Fp8UncalibratedError, match="calibrate it first"):
        layer(torch.randn(2, 32))
    with bf16_linears(layer):
        layer(torch.randn(2, 32))


def test_zero_weights_and_zero_inputs_stay_finite():
    """Zero-initialised output projections and all-zero tokens give exact zeros (plus bias), not 0/0."""
    lin = nn.Linear(32, 16)
    nn.init.zeros_(lin.weight)
    x = torch.zeros(3, 32)
    x[1] = torch.randn(32)
    out = calibrated(lin, 0.0)(x)
    assert torch.equal(out, lin.bias.detach().expand(3, 16))


def test_state_dict_is_nn_linears_and_loading_requantises():
    """Same keys and tensors as nn.Linear; loading another linear's state re-derives the e4m3 copy, keeps the input
    range (the calibration belongs to the activations)."""
    a, b = nn.Linear(32, 32), nn.Linear(32, 32)
    fa = calibrated(copy.deepcopy(a), 3.0)
    state = fa.state_dict()
    assert list(state) == ["weight", "bias"] and all(torch.equal(state[k], a.state_dict()[k]) for k in state)
    fa.load_state_dict(b.state_dict())
    x = torch.randn(4, 32)
    assert fa.input_range == 3.0 and torch.equal(fa(x), calibrated(b, 3.0)(x))
    assert torch.equal(fa.weight_fp8.view(torch.uint8), Fp8Linear.from_linear(b).weight_fp8.view(torch.uint8))


def test_dtype_casts_keep_the_e4m3_copy_and_float32_scales():
    """.to(dtype) casts the weight; the e4m3 buffer stays e4m3 and both scales float32 (re-derived, not cast)."""
    fp8 = calibrated(nn.Linear(32, 16), 1.7).to(torch.bfloat16)
    assert fp8.weight.dtype == torch.bfloat16 and fp8.weight_fp8.dtype == torch.float8_e4m3fn
    assert fp8.input_scale.dtype == fp8.weight_scale.dtype == torch.float32
    assert float(fp8.input_scale) == pytest.approx(1.7 / 448, rel=1e-7)
    assert fp8(torch.randn(2, 32, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_misaligned_features_are_refused():
    with pytest.raises(ValueError, match="divisible by 16"):
        Fp8Linear(24, 16)


def _wrap(block: nn.Module) -> nn.Module:
    """A container holding one transformer (fp8_plan walks a model's transformers)."""
    return nn.ModuleDict({"t": block})


def test_plan_of_one_transformer_converts_the_feed_forward_only():
    """Of a transformer's 16 linears exactly the two feed-forward GEMMs convert; each kept one says why (Temp-Attn
    q/k/v: fused bf16 code; k/v of a 24-dim context: alignment; C -> C projections: no measured gain)."""
    wrapped = _wrap(Transformer3DModel(32, 2, 24, 8, True, 16, True))
    convert, kept = fp8_plan(wrapped)
    assert convert == ["t.transformer_blocks.0.ff.net.0.proj", "t.transformer_blocks.0.ff.net.2"] and len(kept) == 14
    short = {k.removeprefix("t.transformer_blocks.0."): why for k, why in kept.items()}
    assert all("frame_attention" in short[f"temp_attn.to_{p}"] for p in "qkv")
    assert all("multiples of 16" in short[f"attn2.to_{p}"] for p in "kv")
    projections = ["t.proj_in", "t.proj_out", "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
                   "attn2.to_q", "attn2.to_out.0", "temp_attn.to_out.0"]
    assert all("no e4m3 gain measured at level 0" in short[k] for k in projections)
    assert use_fp8_linears(wrapped, emulate=True) == 2 and len(fp8_linears(wrapped)) == 2


@pytest.fixture(scope="module")
def tiny_unets():
    """The tiny preset's UNet and an fp8-converted (emulated) copy, calibrated with a fixed input range."""
    unet = VidRDPipeline.from_preset("tiny", device="cpu").unet
    fp8 = copy.deepcopy(unet)
    converted = use_fp8_linears(fp8, emulate=True)
    for m in fp8_linears(fp8):
        m.set_input_range(8.0)
    return unet, fp8, converted


def test_tiny_unet_conversion_counts_and_what_stays(tiny_unets):
    """2 of 16 linears per transformer; the time embedding, ResNets and attention projections untouched."""
    unet, fp8, converted = tiny_unets
    transformers = sum(isinstance(m, Transformer3DModel) for m in unet.modules())
    assert transformers == 6 and converted == 2 * transformers and len(fp8_linears(fp8)) == converted
    assert len(fp8_plan(unet)[1]) == 14 * transformers
    assert type(fp8.time_embedding.linear_1) is nn.Linear and type(fp8.time_embedding.linear_2) is nn.Linear
    assert all(type(m.time_emb_proj) is nn.Linear for m in fp8.modules() if hasattr(m, "time_emb_proj"))
    block = next(m for m in fp8.modules() if isinstance(m, Transformer3DModel)).transformer_blocks[0]
    assert type(block.ff.net[0].proj) is Fp8Linear and type(block.ff.net[2]) is Fp8Linear
    assert type(block.attn1.to_q) is nn.Linear and type(block.attn2.to_out[0]) is nn.Linear
    assert list(fp8.state_dict()) == list(unet.state_dict())


def test_tiny_unet_fp8_is_close_and_the_bf16_switch_is_exact(tiny_unets):
    """One UNet call: fp8 close to the original; with bf16_linears bit-identical to it."""
    unet, fp8, _ = tiny_unets
    g = torch.Generator().manual_seed(3)
    x, ctx = torch.randn(2, 4, 4, 8, 8, generator=g), torch.randn(2, 77, 32, generator=g)
    with torch.no_grad():
        ref, out = unet(x, 500, ctx), fp8(x, 500, ctx)
        with bf16_linears(fp8):
            same = fp8(x, 500, ctx)
    rel = float((out - ref).norm() / ref.norm())
    assert 0.001 < rel < 0.05  # measured 0.009
    assert torch.equal(same, ref)


def test_fp8_is_refused_without_an_fp8_gpu(monkeypatch):
    """CPU: refused (the pipeline too); a GPU below 8.9: refused naming it; an H100-class GPU or emulation: allowed."""
    with pytest.raises(PrecisionError, match="this run is on cpu"):
        check_precision_device("fp8-e4m3", torch.device("cpu"))
    with pytest.raises(PrecisionError, match="compute capability 8.9"):
        VidRDPipeline.from_preset("tiny", device="cpu", precision="fp8-e4m3")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "NVIDIA A100-SXM4-80GB")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (8, 0))
    with pytest.raises(PrecisionError, match="A100-SXM4-80GB has 8.0"):
        check_precision_device("fp8-e4m3", torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (9, 0))
    assert check_precision_device("fp8-e4m3", torch.device("cuda", 0)).name == "fp8-e4m3"
    assert check_precision_device("fp8-e4m3", torch.device("cpu"), emulate=True).min_capability == (8, 9)
    assert check_precision_device("bf16", torch.device("cpu")).protocol


def _scaled_mm_or_skip(module: nn.Module, *args) -> torch.Tensor:
    """module(*args) through torch._scaled_mm on the CPU (torch >= 2.6 has a CPU kernel); skip where it has none."""
    try:
        return module(*args)
    except (RuntimeError, NotImplementedError) as e:
        if "CPU" not in str(e) and "not implemented" not in str(e).lower():
            raise
        pytest.skip(f"torch._scaled_mm has no CPU kernel in torch {torch.__version__}")


@pytest.mark.parametrize("bias_in_gemm", [True, False])
def test_scaled_mm_call_equals_the_emulation(monkeypatch, bias_in_gemm):
    """The real path's argument conventions (row-major mat1, column-major mat2, 0-dim scale_a and scale_b, bias) give
    the emulation's product within bf16 output rounding; swapped or missing scales would be off by far more."""
    monkeypatch.setattr("vidrd_bench.models.vidrd.fp8.BIAS_IN_GEMM", bias_in_gemm)
    torch.manual_seed(4)
    lin = nn.Linear(64, 48).to(torch.bfloat16).requires_grad_(False)
    nn.init.normal_(lin.bias, std=2.0)
    with torch.no_grad():
        lin.weight.mul_(20.0)  # weight scale far from the input scale: swapping them changes the product
    x = torch.randn(3, 5, 64, dtype=torch.bfloat16) * 0.01
    real = _scaled_mm_or_skip(calibrated(lin, 0.1, emulate=False), x)
    emulated = calibrated(lin, 0.1)(x)
    assert real.dtype == torch.bfloat16 and real.shape == (3, 5, 48)
    torch.testing.assert_close(real.float(), emulated.float(), rtol=1.6e-2, atol=1e-2)


def test_transformer_with_fp8_traces_as_one_graph():
    """A spatio-temporal transformer with its feed-forward converted (real _scaled_mm path) compiles with fullgraph
    (the compiled Temp-Attn path included) and agrees with eager; both differ from the bf16 linears by fp8 rounding."""
    torch.manual_seed(5)
    wrapped = _wrap(Transformer3DModel(64, 2, 32, 8, True, 32, True)).to(torch.bfloat16).eval().requires_grad_(False)
    block = wrapped["t"]
    nn.init.normal_(block.transformer_blocks[0].temp_attn.to_out[0].weight, std=0.05)  # not the identity at start
    assert use_fp8_linears(wrapped) == 2
    for m in fp8_linears(wrapped):
        m.set_input_range(16.0)
    x, ctx = torch.randn(2, 64, 4, 4, 4, dtype=torch.bfloat16), torch.randn(2, 7, 32, dtype=torch.bfloat16)
    with torch.no_grad():
        eager = _scaled_mm_or_skip(block, x, ctx).float()
        compiled = torch.compile(block, fullgraph=True, backend="aot_eager")(x, ctx).float()
        with bf16_linears(block):
            reference = block(x, ctx).float()
    assert float((compiled - eager).norm() / eager.norm()) < 0.02
    assert 0.001 < float((eager - reference).norm() / reference.norm()) < 0.1
