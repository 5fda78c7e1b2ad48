"""FP8 (e4m3) GEMMs for the video UNet's transformer linears: the `fp8-e4m3` precision, never the protocol's.

Weights are quantised once to float8_e4m3fn with one scale per output channel; activations per row (per token:
amax over K, scale = amax / 448), written as plain pointwise + reduction code so that torch.compile can fuse the
amax and the cast into the LayerNorm that produces the input. The product is `torch._scaled_mm` with row-wise
scales (scale_a (M, 1), scale_b (1, N), float32; bf16 output, bias in the GEMM), which cuBLAS/CUTLASS run at twice
the bf16 rate on sm89/sm90 (H100/H200). On the CPU (tests) the same quantisation is emulated: dequantise with the
same scales and multiply in float32.

The original bf16 weights stay in `weight` (so the state dict is nn.Linear's and the bf16 path can be switched back
on for the agreement measurement, `bf16_linears`); the fp8 copy and its scales are non-persistent buffers.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

E4M3 = torch.float8_e4m3fn
E4M3_MAX = 448.0  # torch.finfo(torch.float8_e4m3fn).max
MIN_AMAX = 1e-12  # an all-zero row (zero-initialised output projections) gets a tiny scale instead of 0 / 0
ALIGN = 16  # _scaled_mm needs K and N divisible by 16
BIAS_IN_GEMM = True  # pass the bias to _scaled_mm (False: add it after, for a build whose kernel refuses it)


def quantise_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, K) -> e4m3 values and float32 scales (M, 1) with x ~= q * scale; scale = max(|row|) / 448."""
    x32 = x.float()
    scale = x32.abs().amax(dim=-1, keepdim=True).clamp(min=MIN_AMAX) / E4M3_MAX
    return (x32 / scale).clamp(-E4M3_MAX, E4M3_MAX).to(E4M3), scale


class Fp8Linear(nn.Linear):
    """nn.Linear whose product runs as an e4m3 GEMM (row-wise scales); `emulate` computes it in float32 instead.

    Deliberately not `type(...) is nn.Linear`: fused kernels that read a linear's bf16 weight directly skip it.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None,
                 emulate: bool = False) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        if in_features % ALIGN or out_features % ALIGN:
            raise ValueError(f"Fp8Linear needs in and out features divisible by {ALIGN}, got {in_features} -> "
                             f"{out_features}; keep such a layer in bf16.")
        self.emulate = emulate
        self.fp8_enabled = True  # False: the plain bf16 linear (the agreement measurement's reference)
        self.register_buffer("weight_fp8", torch.empty(0, dtype=E4M3, device=self.weight.device), persistent=False)
        self.register_buffer("weight_scale", torch.empty(0, device=self.weight.device), persistent=False)
        self.quantise_weight()

    @classmethod
    def from_linear(cls, linear: nn.Linear, emulate: bool = False) -> "Fp8Linear":
        """A converted copy of `linear` sharing its weight and bias tensors (no extra bf16 copy)."""
        with torch.device("meta"):
            new = cls(linear.in_features, linear.out_features, linear.bias is not None, emulate=emulate)
        new.weight = linear.weight
        new.bias = linear.bias
        new.quantise_weight()
        return new

    @torch.no_grad()
    def quantise_weight(self) -> None:
        """(Re)derive the e4m3 weight and its per-output-channel scales (N,) from `weight`."""
        if self.weight.device.type == "meta":
            return
        self.weight_fp8, scale = quantise_rows(self.weight)
        self.weight_scale = scale.reshape(-1).contiguous()

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        """Load `weight`/`bias` as nn.Linear does, then quantise the loaded weight."""
        super()._load_from_state_dict(*args, **kwargs)
        self.quantise_weight()

    def _apply(self, fn, recurse: bool = True):
        """Moves and dtype casts apply to `weight`; the e4m3 copy is re-derived (a cast must not touch it)."""
        out = super()._apply(fn, recurse)
        self.quantise_weight()
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., K) -> (..., N): e4m3 GEMM with row-wise scales, or the bf16 linear when fp8 is switched off."""
        if not self.fp8_enabled:
            return super().forward(x)
        lead = x.shape[:-1]
        a, scale_a = quantise_rows(x.reshape(-1, self.in_features))
        if self.emulate:
            out = self._emulated(a, scale_a).to(x.dtype)
        else:
            out = self._scaled_mm(a, scale_a).to(x.dtype)
        return out.reshape(*lead, self.out_features)

    def _emulated(self, a: torch.Tensor, scale_a: torch.Tensor) -> torch.Tensor:
        """The e4m3 product dequantised with the same scales, multiplied in float32 (CPU and the test reference)."""
        w = self.weight_fp8.float() * self.weight_scale[:, None]
        out = (a.float() * scale_a) @ w.t()
        return out if self.bias is None else out + self.bias.float()

    def _scaled_mm(self, a: torch.Tensor, scale_a: torch.Tensor) -> torch.Tensor:
        """torch._scaled_mm(mat1 (M, K) row-major, mat2 (K, N) column-major, scale_a (M, 1), scale_b (1, N), bias,
        out_dtype bf16): the row-wise scaled GEMM (aten schema in torch 2.5-2.14, sm89+)."""
        bias = None if self.bias is None else self.bias.to(torch.bfloat16)
        out = torch._scaled_mm(a.contiguous(), self.weight_fp8.t(), scale_a, self.weight_scale[None, :],
                               bias=bias if BIAS_IN_GEMM else None, out_dtype=torch.bfloat16)
        return out + bias if bias is not None and not BIAS_IN_GEMM else out

    def extra_repr(self) -> str:
        """nn.Linear's sizes plus how the product runs."""
        return f"{super().extra_repr()}, e4m3 {'emulated' if self.emulate else '_scaled_mm'}"


def _transformers(unet: nn.Module) -> list[tuple[str, nn.Module]]:
    """The UNet's spatial transformers (with Temp-Attn inside): the only modules whose linears are converted."""
    from vidrd_bench.generator.temporal import Transformer3DModel

    return [(name, m) for name, m in unet.named_modules() if isinstance(m, Transformer3DModel)]


# Temp-Attn's q/k/v: the compiled path (temporal.frame_attention) reads their weights directly into one bf16 GEMM,
# so converting them would make eager and compiled code compute different things; they stay bf16.
KEPT_BY_DESIGN = ("temp_attn.to_q", "temp_attn.to_k", "temp_attn.to_v")


def fp8_plan(unet: nn.Module) -> tuple[list[str], list[str]]:
    """Names of the transformer linears that become Fp8Linear, and of those kept bf16 (a size not divisible by 16,
    or read directly by fused code); the time embedding and everything outside the transformers are not candidates."""
    convert, kept = [], []
    for prefix, block in _transformers(unet):
        for name, m in block.named_modules():
            if type(m) is not nn.Linear:
                continue
            full = f"{prefix}.{name}"
            aligned = m.in_features % ALIGN == 0 and m.out_features % ALIGN == 0
            (convert if aligned and not name.endswith(KEPT_BY_DESIGN) else kept).append(full)
    return convert, kept


def use_fp8_linears(unet: nn.Module, emulate: bool = False) -> int:
    """Replace, in place, the UNet's transformer linears of `fp8_plan` by Fp8Linear; returns how many."""
    convert, _ = fp8_plan(unet)
    for full in convert:
        parent_name, _, child = full.rpartition(".")
        parent = unet.get_submodule(parent_name)
        setattr(parent, child, Fp8Linear.from_linear(getattr(parent, child), emulate=emulate))
    return len(convert)


def fp8_linears(module: nn.Module) -> list[Fp8Linear]:
    """Every Fp8Linear inside `module`."""
    return [m for m in module.modules() if isinstance(m, Fp8Linear)]


@contextlib.contextmanager
def bf16_linears(module: nn.Module) -> Iterator[int]:
    """Run every Fp8Linear of `module` as its original bf16 linear inside the block (yields how many)."""
    layers = fp8_linears(module)
    for m in layers:
        m.fp8_enabled = False
    try:
        yield len(layers)
    finally:
        for m in layers:
            m.fp8_enabled = True
