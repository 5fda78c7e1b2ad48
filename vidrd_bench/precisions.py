"""Named numeric precisions a generator can render with: the protocol's (bf16) and others that are never it.

A precision other than the protocol's is a separately named option: every run made with it records its name and its
measured agreement with the protocol's precision on whole videos (uint8 |diff|), and tables mark its rows.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.registry import Registry

DEFAULT_PRECISION = "bf16"
if TYPE_CHECKING:
    import torch

AGREEMENT_VIDEOS = 2  # videos rendered both ways when a run with a non-protocol precision starts


class PrecisionError(VidrdBenchError):
    """A precision was asked for on a device, torch build or generator that cannot run it."""


@dataclass(frozen=True)
class Precision:
    """A numeric precision: whether it is the protocol's, and the GPU it needs (compute capability, CUDA only)."""

    name: str
    summary: str
    protocol: bool
    min_capability: tuple[int, int] | None = None

    def record(self, agreement: dict[str, Any] | None = None,
               calibration: dict[str, Any] | None = None) -> dict[str, Any]:
        """run.json's and the result records' "precision": the name, and for a non-protocol one its agreement and
        how its static scales were calibrated (where it has any)."""
        out: dict[str, Any] = {"name": self.name, "protocol": self.protocol}
        if not self.protocol:
            out["agreement_to_bf16"] = agreement
            if calibration is not None:
                out["calibration"] = calibration
        return out


PRECISIONS: Registry[Precision] = Registry("precision", Precision)
PRECISIONS.register("bf16", Precision(
    "bf16", "every layer in the pipeline's dtype (bfloat16 on CUDA, float32 in CPU runs): the protocol's precision",
    protocol=True))
PRECISIONS.register("fp8-e4m3", Precision(
    "fp8-e4m3", "the UNet's feed-forward linears as e4m3 GEMMs with per-tensor scales, the activations' static "
    "(calibrated on a fixed prompt set, recorded) (sm89+: H100/H200/L40/RTX 4090); never the protocol: its agreement "
    "to bf16 is measured and recorded with every result (speed measured in benchmarks/README.md)",
    protocol=False, min_capability=(8, 9)))


def check_precision_device(name: str, device: torch.device, emulate: bool = False) -> Precision:
    """The named precision, refused (PrecisionError) where this device or torch build cannot run it.

    `emulate` (tests only) lets fp8 run as its float32 emulation on any device.
    """
    import torch

    precision = PRECISIONS.get(name)
    if precision.min_capability is None or emulate:
        return precision
    need = ".".join(map(str, precision.min_capability))
    if device.type != "cuda":
        raise PrecisionError(
            f"Precision {name!r} runs FP8 tensor-core GEMMs, which only NVIDIA GPUs of compute capability {need} or "
            f"newer have (H100, H200, L40, RTX 4090); this run is on {device.type}. Drop --precision (the "
            f"protocol's {DEFAULT_PRECISION} is the default), or run on such a GPU.")
    capability = torch.cuda.get_device_capability(device)
    if capability < precision.min_capability or not hasattr(torch, "_scaled_mm"):
        raise PrecisionError(
            f"Precision {name!r} needs FP8 tensor cores (compute capability {need} or newer: H100, H200, L40, RTX "
            f"4090), but {torch.cuda.get_device_name(device)} has {capability[0]}.{capability[1]} (torch "
            f"{torch.__version__}). Drop --precision to render with the protocol's {DEFAULT_PRECISION}, or run on "
            "such a GPU.")
    return precision


FLOAT32 = "fp32"  # what a run of the protocol's precision records when it computed in float32 (CPU)


def used_precision(name: str, dtype: str | None) -> str:
    """The precision a render actually used: the protocol's bf16 computed in float32 (a CPU run) is fp32, not bf16."""
    return FLOAT32 if name == DEFAULT_PRECISION and str(dtype).removeprefix("torch.") == "float32" else name


def float32_record() -> dict[str, Any]:
    """run.json's "precision" of a protocol-precision run computed in float32: not the protocol's, and says why."""
    return {"name": FLOAT32, "protocol": False, "dtype": "float32",
            "note": "computed in float32 (a CPU run): --precision bf16 is the pipeline's dtype, bfloat16 on CUDA only; "
                    "its pixels are not a bf16 render's"}


def video_agreement(videos: torch.Tensor, reference: torch.Tensor) -> dict[str, Any]:
    """How far uint8 videos are from the reference's: mean, 99th percentile and max of |diff| in levels."""
    import numpy as np
    import torch

    if videos.shape != reference.shape:
        raise ValueError(f"cannot compare videos of shape {tuple(videos.shape)} with {tuple(reference.shape)}")
    diff = (videos.to(torch.int16) - reference.to(torch.int16)).abs().numpy().ravel()
    return {"videos": int(videos.shape[0]), "uint8_mean_abs_diff": round(float(diff.mean()), 4),
            "uint8_p99_abs_diff": round(float(np.percentile(diff, 99)), 4), "uint8_max_abs_diff": int(diff.max())}


def describe(record: dict[str, Any] | None) -> str:
    """One line for a non-protocol precision record: its name and agreement ('' for the protocol's or none)."""
    if not record or record.get("protocol", record.get("name") == DEFAULT_PRECISION):
        return ""
    agree = record.get("agreement_to_bf16") or {}
    if record.get("name") == FLOAT32:
        return f"{FLOAT32} (float32, a CPU run)"
    if not agree:
        return f"{record.get('name')} (agreement to bf16 not measured)"
    return (f"{record.get('name')}, vs bf16 on {agree.get('videos')} videos: uint8 mean |diff| "
            f"{agree.get('uint8_mean_abs_diff')}, p99 {agree.get('uint8_p99_abs_diff')}, "
            f"max {agree.get('uint8_max_abs_diff')}")


def check_calibration(name: str, recorded: dict[str, Any], calibration: dict[str, Any] | None) -> None:
    """Refuse (PrecisionError) to resume a folder whose recorded precision was calibrated otherwise than now."""
    before = recorded.get("calibration")
    if calibration is None or before == calibration:
        return
    was = (f"calibrated on {before.get('ucf101_classes')} (scales digest {before.get('scales_sha256_16')})"
           if before else "made without static calibrated scales (an earlier version)")
    raise PrecisionError(
        f"This folder's {name} videos were {was}; this run calibrates on {calibration.get('ucf101_classes')} "
        f"(clip {calibration.get('clip')}, digest {calibration.get('scales_sha256_16')}). Videos with different "
        "activation scales must not mix: resume with the same weights, settings, device and version, or render into "
        "a new --out folder.")


def run_precision(generator: Any, settings: Any, prompts: list[str], seeds: list[int],
                  existing: dict[str, Any] | None, dtype: str | None = None) -> dict[str, Any]:
    """run.json's "precision" for a run of `generator`: its name and, for a non-protocol one, its calibration and
    the agreement to bf16 of the given (first) videos, measured once per folder (a resume keeps the recorded one,
    and is refused where the generator's calibration differs from the recorded one); `dtype` is the one it renders
    in (default: its provenance's), so the protocol's precision computed in float32 is recorded as fp32."""
    precision = PRECISIONS.get(generator.precision)
    recorded = (existing or {}).get("precision") or {}
    if precision.protocol:
        dtype = dtype or generator.provenance().get("dtype")
        return float32_record() if used_precision(precision.name, dtype) == FLOAT32 else precision.record()
    calibration = generator.provenance().get("precision_calibration")
    if recorded.get("name") == precision.name:
        check_calibration(precision.name, recorded, calibration)
        if recorded.get("agreement_to_bf16"):
            return recorded
    print(f"precision {precision.name}: rendering the first {len(prompts)} videos also with the original linears "
          "(eager, both ways) to measure its agreement to the protocol's precision...", file=sys.stderr)
    agreement = generator.precision_agreement(prompts, seeds, settings)
    print(f"precision {precision.name}: {describe(precision.record(agreement))}", file=sys.stderr)
    return precision.record(agreement, calibration)
