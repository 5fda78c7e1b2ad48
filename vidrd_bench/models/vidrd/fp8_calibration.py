"""Static activation scales for the fp8-e4m3 precision: one fixed, deterministic calibration before compiling.

The calibration set is independent of the videos a run renders: the shipped UCF-101 prompts of CALIBRATION's
classes, seeds seed + i, a short DDIM trajectory (CALIBRATION.steps steps: timesteps spread over the schedule, 751,
501, 251 and 1 of SD's 1000 for 4) through the pipeline's own sampler with classifier-free guidance, one clip at the
run's frame size. The UNet runs eagerly with its converted layers as their original bf16 linears while forward
pre-hooks record each converted layer's input amax over every call; then input_scale = amax * headroom / 448
(generator.fp8.Fp8Linear.set_input_range). Same weights, settings and device -> the same scales; the returned record
(with a digest of the scales) goes into run.json's precision block, and a resume checks it (precisions.run_precision).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import torch

from vidrd_bench.models.vidrd.fp8 import (HEADROOM, Fp8Linear, bf16_linears, fp8_linears, fp8_plan, scales_digest,
                                      use_fp8_linears)


@dataclass(frozen=True)
class Fp8Calibration:
    """What the static scales are measured on: UCF-101 classes (their shipped prompts), a seed, DDIM steps, headroom."""

    classes: tuple[str, ...]
    seed: int
    steps: int
    headroom: float

    def prompts(self) -> list[str]:
        """The first shipped UCF-101 prompt of each class (prompts/ucf101.json)."""
        from vidrd_bench.datasets.prompts import load_prompts
        from vidrd_bench.datasets.registry import DATASETS

        dataset = DATASETS.get("ucf101")
        table = load_prompts(dataset.default_prompts(), dataset.classes)
        return [table[c][0] for c in self.classes]

    def seeds(self) -> list[int]:
        """One seed per class: seed, seed + 1, ..."""
        return [self.seed + i for i in range(len(self.classes))]

    def record(self, settings: Any, timesteps: list[int], layers: int, digest: str) -> dict[str, Any]:
        """run.json's precision.calibration: the set, the trajectory it ran, and a digest of the resulting scales."""
        return {"ucf101_classes": list(self.classes), "seeds": self.seeds(),
                "timesteps": timesteps, "guidance_scale": settings.guidance_scale,
                "clip": f"{settings.frames_per_clip} frames {settings.height}x{settings.width}",
                "headroom": self.headroom, "layers": layers, "scales_sha256_16": digest}


CALIBRATION = Fp8Calibration(classes=("ApplyEyeMakeup", "Basketball", "HorseRiding", "PlayingGuitar"), seed=0,
                             steps=4, headroom=HEADROOM)


def _amax_hooks(layers: dict[str, Fp8Linear], amax: dict[str, torch.Tensor]) -> list[Any]:
    """Forward pre-hooks keeping, per layer, the running max of |input| (a tensor: no host sync per call)."""

    def hook(name: str):
        def record(module: Fp8Linear, args: tuple) -> None:
            seen = args[0].detach().abs().amax().float()
            amax[name] = seen if name not in amax else torch.maximum(amax[name], seen)
        return record

    return [m.register_forward_pre_hook(hook(name)) for name, m in layers.items()]


def _trajectory(pipe: Any, settings: Any, spec: Fp8Calibration) -> list[int]:
    """Run the calibration prompts through the pipeline's sampler (no VAE decode); returns the timesteps run."""
    _, sampler = pipe.denoise(spec.prompts(), spec.seeds(), settings)
    return [int(t) for t in sampler.scheduler.timesteps.tolist()]


@torch.no_grad()
def calibrate_inputs(module: torch.nn.Module, run: Callable[[], Any], headroom: float = HEADROOM) -> Any:
    """Run `run()` with `module`'s Fp8Linears as their bf16 linears, then set each one's input range to the largest
    |input| it saw times `headroom`; returns what `run` returned."""
    layers = {name: m for name, m in module.named_modules() if isinstance(m, Fp8Linear)}
    if not layers or hasattr(module, "_orig_mod"):
        raise ValueError("fp8 calibration needs the eager module with its Fp8Linear layers (convert, calibrate, "
                         "then compile).")
    amax: dict[str, torch.Tensor] = {}
    handles = _amax_hooks(layers, amax)
    try:
        with bf16_linears(module):
            result = run()
    finally:
        for handle in handles:
            handle.remove()
    for name, m in layers.items():
        m.set_input_range(float(amax[name]) * headroom)
    return result


def calibrate(pipe: Any, settings: Any, spec: Fp8Calibration = CALIBRATION) -> dict[str, Any]:
    """Set every Fp8Linear's input_scale in `pipe`'s eager UNet from the fixed calibration set at `settings`' clip
    size and guidance; returns the calibration record."""
    short = dataclasses.replace(settings, num_clips=1, num_inference_steps=spec.steps, eta=0.0)
    timesteps = calibrate_inputs(pipe.unet, lambda: _trajectory(pipe, short, spec), spec.headroom)
    return spec.record(short, timesteps, len(fp8_linears(pipe.unet)), scales_digest(pipe.unet))


def use_fp8(pipe: Any, settings: Any, emulate: bool = False) -> tuple[dict[str, int], dict[str, Any]]:
    """Convert the eager UNet's fp8_plan linears to Fp8Linear and calibrate them: (layer counts, calibration)."""
    kept = len(fp8_plan(pipe.unet)[1])
    converted = use_fp8_linears(pipe.unet, emulate=emulate)
    return {"converted": converted, "kept": kept}, calibrate(pipe, settings)
