"""FP8 (e4m3) linears: the emulated quantisation against an independent re-derivation, error bounds, state dicts,
which UNet layers are converted, and the device checks of the fp8-e4m3 precision."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from vidrd_bench.generator.fp8 import Fp8Linear, bf16_linears, fp8_linears, fp8_plan, quantise_rows, use_fp8_linears
from vidrd_bench.generator.pipeline import VidRDPipeline
from vidrd_bench.generator.temporal import Transformer3DModel
from vidrd_bench.precisions import PrecisionError, check_precision_device

# Every finite e4m3 value, from its 256 bit patterns (0x7F / 0xFF are NaN in the fn variant).
GRID = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).double()
GRID = torch.unique(GRID[torch.isfinite(GRID)])


def nearest_e4m3(x: torch.Tensor) -> torch.Tensor:
    """Round float64 values to the nearest finite e4m3 value by search over the grid (ties never occur here)."""
    idx = torch.searchsorted(GRID, x.clamp(GRID[0], GRID[-1]).contiguous())
    lo, hi = GRID[(idx - 1).clamp(min=0)], GRID[idx.clamp(max=len(GRID) - 1)]
    return torch.where((x - lo).abs() <= (hi - x).abs(), lo, hi)


def dequantised(x: torch.Tensor) -> torch.Tensor:
    """Per-row e4m3 quantise-dequantise of x, derived independently in float64: scale = amax / 448."""
    x = x.double()
    scale = x.abs().amax(dim=-1, keepdim=True) / 448.0
    return nearest_e4m3(x / scale) * scale


def test_grid_is_the_e4m3_format():
    """The search grid itself: 253 distinct finite values (+-0 merge), max 448, smallest subnormal 2^-9."""
    assert len(GRID) == 253 and GRID.max() == 448 and GRID[GRID > 0].min() == 2.0 ** -9


def test_row_quantisation_equals_nearest_e4m3_rounding():
    """quantise_rows: scale amax/448 per row, values the nearest e4m3 number, row maxima land exactly on +-448."""
    x = torch.randn(64, 96, generator=torch.Generator().manual_seed(0)) * torch.logspace(-3, 3, 64)[:, None]
    q, scale = quantise_rows(x)
    assert q.dtype == torch.float8_e4m3fn and scale.shape == (64, 1) and scale.dtype == torch.float32
    torch.testing.assert_close(scale.double(), x.double().abs().amax(-1, keepdim=True) / 448, rtol=1e-6, atol=0)
    expected = nearest_e4m3(x.double() / scale.double())
    assert torch.equal(q.double(), expected)
    assert torch.equal(q.double().abs().amax(-1), torch.full((64,), 448.0, dtype=torch.float64))


def test_emulated_linear_equals_independent_dequantised_product():
    """Fp8Linear (emulated) = dequant(x) @ dequant(W)^T + b, with both quantisations re-derived in float64."""
    g = torch.Generator().manual_seed(1)
    lin = nn.Linear(64, 48)
    x = torch.randn(5, 7, 64, generator=g)
    out = Fp8Linear.from_linear(lin, emulate=True)(x)
    ref = dequantised(x.reshape(-1, 64)) @ dequantised(lin.weight.detach()).t() + lin.bias.detach().double()
    assert out.shape == (5, 7, 48) and out.dtype == x.dtype
    torch.testing.assert_close(out.reshape(-1, 48).double(), ref, rtol=1e-5, atol=1e-5)


def test_error_against_the_full_precision_linear_is_that_of_3_mantissa_bits():
    """Relative error vs the float32 linear: well above float32 rounding, below e4m3's 2^-4 unit roundoff."""
    torch.manual_seed(2)
    lin = nn.Linear(320, 640).requires_grad_(False)
    x = torch.randn(256, 320)
    ref = lin(x)
    fp8 = Fp8Linear.from_linear(copy.deepcopy(lin), emulate=True)
    rel = float((fp8(x) - ref).norm() / ref.norm())
    assert 0.005 < rel < 0.0625  # measured 0.037
    with bf16_linears(fp8) as count:
        assert count == 1 and torch.equal(fp8(x), ref)
    assert fp8.fp8_enabled


def test_zero_weights_and_zero_rows_stay_finite():
    """Zero-initialised output projections and all-zero tokens give exact zeros, not 0/0."""
    lin = nn.Linear(32, 16)
    nn.init.zeros_(lin.weight)
    x = torch.zeros(3, 32)
    x[1] = torch.randn(32)
    out = Fp8Linear.from_linear(lin, emulate=True)(x)
    assert torch.equal(out, lin.bias.detach().expand(3, 16))


def test_state_dict_is_nn_linears_and_loading_requantises():
    """Same keys and tensors as nn.Linear; loading another linear's state re-derives the e4m3 copy."""
    a, b = nn.Linear(32, 32), nn.Linear(32, 32)
    fa = Fp8Linear.from_linear(copy.deepcopy(a), emulate=True)
    state = fa.state_dict()
    assert list(state) == ["weight", "bias"] and all(torch.equal(state[k], a.state_dict()[k]) for k in state)
    fa.load_state_dict(b.state_dict())
    x = torch.randn(4, 32)
    assert torch.equal(fa(x), Fp8Linear.from_linear(b, emulate=True)(x))
    assert torch.equal(fa.weight_fp8.view(torch.uint8), Fp8Linear.from_linear(b).weight_fp8.view(torch.uint8))


def test_dtype_casts_keep_the_e4m3_copy():
    """.to(dtype) casts the bf16 weight; the e4m3 buffer stays e4m3 (re-derived), not cast to the new dtype."""
    fp8 = Fp8Linear.from_linear(nn.Linear(32, 16), emulate=True).to(torch.bfloat16)
    assert fp8.weight.dtype == torch.bfloat16 and fp8.weight_fp8.dtype == torch.float8_e4m3fn
    assert fp8(torch.randn(2, 32, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_misaligned_features_are_refused():
    with pytest.raises(ValueError, match="divisible by 16"):
        Fp8Linear(24, 16)


def test_conversion_of_one_transformer_counts_exactly():
    """Of a transformer's 16 linears, Temp-Attn q/k/v stay bf16 by design and the cross-attention k/v reading a
    24-dim context (not a multiple of 16) stay bf16 too: 11 converted."""
    wrapped = _wrap(Transformer3DModel(32, 2, 24, 8, True, 16, True))
    convert, kept = fp8_plan(wrapped)
    assert len(convert) == 11 and len(kept) == 5
    assert sorted(k.rsplit(".", 2)[-2] + "." + k.rsplit(".", 1)[-1] for k in kept) == [
        "attn2.to_k", "attn2.to_v", "temp_attn.to_k", "temp_attn.to_q", "temp_attn.to_v"]
    assert use_fp8_linears(wrapped, emulate=True) == 11 and len(fp8_linears(wrapped)) == 11


def _wrap(block: nn.Module) -> nn.Module:
    """A container holding one transformer (fp8_plan walks a model's transformers)."""
    return nn.ModuleDict({"t": block})


@pytest.fixture(scope="module")
def tiny_unets():
    """The tiny preset's UNet and an fp8-converted (emulated) copy."""
    unet = VidRDPipeline.from_preset("tiny", device="cpu").unet
    fp8 = copy.deepcopy(unet)
    converted = use_fp8_linears(fp8, emulate=True)
    return unet, fp8, converted


def test_tiny_unet_conversion_counts_and_what_stays(tiny_unets):
    """13 of 16 linears per transformer (all aligned in the tiny sizes); the time embedding and ResNets untouched."""
    unet, fp8, converted = tiny_unets
    transformers = sum(isinstance(m, Transformer3DModel) for m in unet.modules())
    assert converted == 13 * transformers and len(fp8_linears(fp8)) == converted
    assert len(fp8_plan(unet)[1]) == 3 * transformers
    assert type(fp8.time_embedding.linear_1) is nn.Linear and type(fp8.time_embedding.linear_2) is nn.Linear
    assert all(type(m.time_emb_proj) is nn.Linear for m in fp8.modules() if hasattr(m, "time_emb_proj"))
    ff = next(m for m in fp8.modules() if isinstance(m, Transformer3DModel)).transformer_blocks[0].ff
    assert type(ff.net[0].proj) is Fp8Linear  # so fused kernels checking `type(proj) is nn.Linear` skip it
    assert list(fp8.state_dict()) == list(unet.state_dict())


def test_tiny_unet_fp8_is_close_and_the_bf16_switch_is_exact(tiny_unets):
    """One UNet call: fp8 within 10% of the original (measured 5%); with bf16_linears bit-identical to it."""
    unet, fp8, _ = tiny_unets
    g = torch.Generator().manual_seed(3)
    x, ctx = torch.randn(2, 4, 4, 8, 8, generator=g), torch.randn(2, 77, 32, generator=g)
    with torch.no_grad():
        ref, out = unet(x, 500, ctx), fp8(x, 500, ctx)
        with bf16_linears(fp8):
            same = fp8(x, 500, ctx)
    rel = float((out - ref).norm() / ref.norm())
    assert 0.005 < rel < 0.1
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
    """The real path's argument conventions (row-major mat1, column-major mat2, scale_a (M, 1), scale_b (1, N),
    bias) give the emulation's product, within bf16 output rounding; a transposed scale would be off by far more."""
    monkeypatch.setattr("vidrd_bench.generator.fp8.BIAS_IN_GEMM", bias_in_gemm)
    torch.manual_seed(4)
    lin = nn.Linear(64, 48).to(torch.bfloat16).requires_grad_(False)
    nn.init.normal_(lin.bias, std=2.0)
    with torch.no_grad():
        lin.weight.mul_(torch.logspace(-2, 1, 48)[:, None].to(torch.bfloat16))  # very different channel scales
    x = torch.randn(3, 5, 64, dtype=torch.bfloat16) * torch.logspace(-2, 2, 5)[:, None].to(torch.bfloat16)
    real = _scaled_mm_or_skip(Fp8Linear.from_linear(lin), x)
    emulated = Fp8Linear.from_linear(lin, emulate=True)(x)
    assert real.dtype == torch.bfloat16 and real.shape == (3, 5, 48)
    torch.testing.assert_close(real.float(), emulated.float(), rtol=1.6e-2, atol=1e-2)


def test_transformer_with_fp8_traces_as_one_graph():
    """A spatio-temporal transformer with its linears converted (real _scaled_mm path) compiles with fullgraph (the
    compiled Temp-Attn path included) and agrees with eager; both differ from the bf16 linears by fp8 rounding."""
    torch.manual_seed(5)
    wrapped = _wrap(Transformer3DModel(64, 2, 32, 8, True, 32, True)).to(torch.bfloat16).eval().requires_grad_(False)
    block = wrapped["t"]
    nn.init.normal_(block.transformer_blocks[0].temp_attn.to_out[0].weight, std=0.05)  # not the identity at start
    assert use_fp8_linears(wrapped) == 13
    x, ctx = torch.randn(2, 64, 4, 4, 4, dtype=torch.bfloat16), torch.randn(2, 7, 32, dtype=torch.bfloat16)
    with torch.no_grad():
        eager = _scaled_mm_or_skip(block, x, ctx).float()
        compiled = torch.compile(block, fullgraph=True, backend="aot_eager")(x, ctx).float()
        with bf16_linears(block):
            reference = block(x, ctx).float()
    assert float((compiled - eager).norm() / eager.norm()) < 0.02
    assert 0.005 < float((eager - reference).norm() / reference.norm()) < 0.1
