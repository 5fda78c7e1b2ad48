"""FP8 (e4m3) GEMMs for the video UNet's feed-forward linears: the `fp8-e4m3` precision, never the protocol's.

Per-tensor scales throughout. The weight is quantised once with scale amax(W) / 448. The activation has a STATIC
scale (`input_scale`, set by calibration, generator.fp8_calibration) so its quantisation is pure pointwise code,
`(x * (1 / input_scale)).clamp(-448, 448).to(e4m3)` with no reduction, which torch.compile fuses into the kernel
that produces the input (the LayerNorm before GEGLU's projection, GEGLU before the output projection); values beyond
the calibrated range are clamped. The product is `torch._scaled_mm` with 0-dim float32 scales (tensor-wise: faster
than row-wise on the H200, benchmarks/README.md). On the CPU (tests) the same quantisation is emulated:
dequantise with the same scales and multiply in float32.

The original bf16 weights stay in `weight` (so the state dict is nn.Linear's and the bf16 path can be switched back
on for the agreement measurement, `bf16_linears`); the fp8 copy and the scales are non-persistent buffers.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Iterator

import torch
from torch import nn

E4M3 = torch.float8_e4m3fn
E4M3_MAX = 448.0  # torch.finfo(torch.float8_e4m3fn).max
MIN_AMAX = 1e-12  # an all-zero tensor (zero-initialised projections) gets a tiny scale instead of 0 / 0
ALIGN = 16  # _scaled_mm needs K and N divisible by 16
BIAS_IN_GEMM = True  # pass the bias to _scaled_mm (False: add it after, for a build whose kernel refuses it)
HEADROOM = 2.0  # input_scale covers this multiple of the calibrated amax: e4m3's range is wide, clamping costs more


def quantise(x: torch.Tensor, inv_scale: torch.Tensor) -> torch.Tensor:
    """x -> e4m3 values q with x ~= q * scale, given 1 / scale: pointwise only (no reduction), so it fuses."""
    return (x.float() * inv_scale).clamp(-E4M3_MAX, E4M3_MAX).to(E4M3)


def tensor_scale(amax: float | torch.Tensor) -> torch.Tensor:
    """The 0-dim float32 scale mapping max(amax, MIN_AMAX) onto e4m3's largest value, 448."""
    return (torch.as_tensor(amax, dtype=torch.float32).clamp(min=MIN_AMAX) / E4M3_MAX).reshape(())


class Fp8UncalibratedError(RuntimeError):
    """An Fp8Linear ran before its static activation scale was calibrated."""


class Fp8Linear(nn.Linear):
    """nn.Linear whose product runs as a tensor-wise scaled e4m3 GEMM; `emulate` computes it in float32 instead.

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
        self.input_range: float | None = None  # the largest |input| the scale covers (calibrated amax x headroom)
        for name, dtype_ in (("weight_fp8", E4M3), ("weight_scale", torch.float32), ("input_scale", torch.float32)):
            self.register_buffer(name, torch.empty(0, dtype=dtype_, device=self.weight.device), persistent=False)
        self.quantise_weight()

    @classmethod
    def from_linear(cls, linear: nn.Linear, emulate: bool = False) -> "Fp8Linear":
        """A converted copy of `linear` sharing its weight and bias tensors (no extra bf16 copy); uncalibrated."""
        with torch.device("meta"):
            new = cls(linear.in_features, linear.out_features, linear.bias is not None, emulate=emulate)
        new.weight = linear.weight
        new.bias = linear.bias
        new.quantise_weight()
        return new

    @torch.no_grad()
    def quantise_weight(self) -> None:
        """(Re)derive the e4m3 weight, its per-tensor scale amax(W) / 448 and the input scale on `weight`'s device."""
        if self.weight.device.type == "meta":
            return
        scale = tensor_scale(self.weight.detach().abs().amax().float()).to(self.weight.device)
        self.weight_fp8, self.weight_scale = quantise(self.weight, scale.reciprocal()), scale
        self.set_input_range(self.input_range)

    def set_input_range(self, value: float | None) -> None:
        """Calibrate: input_scale = max(value, MIN_AMAX) / 448, so |x| up to `value` is representable (None: unset)."""
        self.input_range = None if value is None else float(value)
        if self.weight.device.type == "meta" or self.input_range is None:
            return
        scale = tensor_scale(self.input_range).to(self.weight.device)
        same = (self.input_scale.shape, self.input_scale.dtype, self.input_scale.device)
        if same == (scale.shape, scale.dtype, scale.device):
            self.input_scale.copy_(scale)  # in place: a compiled graph or captured CUDA graph sees the new value
        else:
            self.input_scale = scale

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        """Load `weight`/`bias` as nn.Linear does, then quantise the loaded weight."""
        super()._load_from_state_dict(*args, **kwargs)
        self.quantise_weight()

    def _apply(self, fn, recurse: bool = True):
        """Moves and dtype casts apply to `weight`; the e4m3 copy and float32 scales are re-derived, never cast."""
        out = super()._apply(fn, recurse)
        self.quantise_weight()
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., K) -> (..., N): e4m3 GEMM with tensor-wise scales, or the bf16 linear when fp8 is switched off."""
        if not self.fp8_enabled:
            return super().forward(x)
        if self.input_range is None:
            raise Fp8UncalibratedError("This Fp8Linear has no input scale yet: calibrate it first "
                                       "(generator.fp8_calibration.calibrate, or set_input_range).")
        lead = x.shape[:-1]
        a = quantise(x.reshape(-1, self.in_features), self.input_scale.reciprocal())
        out = self._emulated(a) if self.emulate else self._scaled_mm(a)
        return out.to(x.dtype).reshape(*lead, self.out_features)

    def _emulated(self, a: torch.Tensor) -> torch.Tensor:
        """The e4m3 product dequantised with the same scales, multiplied in float32 (CPU and the test reference)."""
        out = (a.float() * self.input_scale) @ (self.weight_fp8.float() * self.weight_scale).t()
        return out if self.bias is None else out + self.bias.float()

    def _scaled_mm(self, a: torch.Tensor) -> torch.Tensor:
        """torch._scaled_mm(mat1 (M, K) row-major, mat2 (K, N) column-major, scale_a, scale_b 0-dim float32, bias,
        out_dtype bf16): the tensor-wise scaled GEMM (aten schema in torch 2.5-2.14, sm89+)."""
        bias = None if self.bias is None else self.bias.to(torch.bfloat16)
        out = torch._scaled_mm(a.contiguous(), self.weight_fp8.t(), self.input_scale, self.weight_scale,
                               bias=bias if BIAS_IN_GEMM else None, out_dtype=torch.bfloat16)
        return out + bias if bias is not None and not BIAS_IN_GEMM else out

    def extra_repr(self) -> str:
        """nn.Linear's sizes plus how the product runs and the calibrated input range."""
        how = "emulated" if self.emulate else "_scaled_mm"
        return f"{super().extra_repr()}, e4m3 {how}, input range {self.input_range}"


def _transformers(unet: nn.Module) -> list[tuple[str, nn.Module]]:
    """The UNet's spatial transformers (with Temp-Attn inside): the only modules whose linears are candidates."""
    from vidrd_bench.models.vidrd.temporal import Transformer3DModel

    return [(name, m) for name, m in unet.named_modules() if isinstance(m, Transformer3DModel)]


# The feed-forward GEMMs (GEGLU's projection C -> 8C and the output 4C -> C) are compute-bound and gained 20-45% as
# tensor-wise e4m3 on the H200 (benchmarks/README.md, fp8 rows: level 0 0.711 -> 0.562 and 0.294 -> 0.203 ms), and
# their inputs come from a LayerNorm and from GEGLU, kernels the static cast fuses into.
CONVERTED = ("ff.net.0.proj", "ff.net.2")
KEPT_REASONS = {
    ("temp_attn.to_q", "temp_attn.to_k", "temp_attn.to_v"):
        "Temp-Attn q/k/v: the compiled frame_attention reads their weights directly into one bf16 GEMM",
    ("to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out"):
        "a C -> C projection: no e4m3 gain measured at level 0 (0.097 vs 0.097 ms, memory-bound) or mid; 0.03 ms "
        "per GEMM at levels 1-2, ~1% of a call for those whose cast could fuse (benchmarks/README.md); attention "
        "outputs come from the attention kernel, where no cast can fuse",
}


def _kept_reason(name: str, linear: nn.Linear) -> str | None:
    """Why the transformer linear `name` stays bf16, or None when fp8_plan converts it."""
    if linear.in_features % ALIGN or linear.out_features % ALIGN:
        return f"{linear.in_features} -> {linear.out_features} features: _scaled_mm needs multiples of {ALIGN}"
    if name.endswith(CONVERTED):
        return None
    reason = next((why for names, why in KEPT_REASONS.items() if name.endswith(names)), None)
    return reason or "not a feed-forward GEMM: no e4m3 gain measured for it"


def fp8_plan(unet: nn.Module) -> tuple[list[str], dict[str, str]]:
    """Names of the transformer linears that become Fp8Linear (the feed-forward GEMMs), and of those kept bf16 with
    why; the time embedding and everything outside the transformers are not candidates."""
    convert, kept = [], {}
    for prefix, block in _transformers(unet):
        for name, m in block.named_modules():
            if type(m) is not nn.Linear:
                continue
            reason = _kept_reason(name, m)
            if reason is None:
                convert.append(f"{prefix}.{name}")
            else:
                kept[f"{prefix}.{name}"] = reason
    return convert, kept


def use_fp8_linears(unet: nn.Module, emulate: bool = False) -> int:
    """Replace, in place, the UNet's linears of `fp8_plan` by (uncalibrated) Fp8Linear; returns how many."""
    convert, _ = fp8_plan(unet)
    for full in convert:
        parent_name, _, child = full.rpartition(".")
        parent = unet.get_submodule(parent_name)
        setattr(parent, child, Fp8Linear.from_linear(getattr(parent, child), emulate=emulate))
    return len(convert)


def fp8_linears(module: nn.Module) -> list[Fp8Linear]:
    """Every Fp8Linear inside `module`."""
    return [m for m in module.modules() if isinstance(m, Fp8Linear)]


def scales_digest(module: nn.Module) -> str:
    """16 hex digits of sha256 over every Fp8Linear's name and float32 input and weight scales, in module order."""
    h = hashlib.sha256()
    for name, m in module.named_modules():
        if isinstance(m, Fp8Linear):
            h.update(name.encode())
            h.update(torch.stack([m.input_scale.float(), m.weight_scale.float()]).cpu().numpy().tobytes())
    return h.hexdigest()[:16]


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
