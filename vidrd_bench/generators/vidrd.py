"""The VidRD generator (this project's reimplementation) behind the generator interface."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

import torch

from vidrd_bench.models.vidrd.graphs import GraphedDenoiser
from vidrd_bench.models.vidrd.settings import VidRDSettings
from vidrd_bench.generators.base import Generator
from vidrd_bench.precisions import DEFAULT_PRECISION


class VidRDGenerator(Generator):
    """VidRDPipeline (video UNet, FNR/PNS/DSG, temporal VAE) as a Generator; per-video seeds and noise."""

    settings_type = VidRDSettings
    decode_method = "decode_video"
    eager_decode_kwargs = {"compiled": False}

    def __init__(self, pipeline: Any, preset: str) -> None:
        self.pipeline = pipeline
        self.preset = preset

    def generate(self, prompts: list[str], seeds: list[int], settings: VidRDSettings) -> torch.Tensor:
        """Render through the pipeline (noise per video from its own CPU generator)."""
        return self.pipeline(prompts=prompts, seeds=seeds, settings=settings).videos

    def native_shape(self, settings: VidRDSettings) -> tuple[int, int, int]:
        """Assembled frames and the settings' size."""
        return settings.num_frames, settings.height, settings.width

    def provenance(self) -> dict[str, Any]:
        """Preset, weight files' sha256 (or random weights' digests), where each part came from, dtype, device,
        precision (how many UNet layers it converted / kept, and how its static scales were calibrated)."""
        parts = self.pipeline.components
        return {"model": "vidrd", "preset": self.preset, "weights": dict(parts.sha256), "sources": dict(parts.sources),
                "dtype": str(self.pipeline.dtype), "device": str(self.pipeline.device),
                "precision": self.pipeline.precision, "converted_layers": dict(self.pipeline.converted_layers),
                "precision_calibration": self.pipeline.calibration}

    @property
    def precision(self) -> str:
        """The pipeline's precision (precisions.PRECISIONS)."""
        return self.pipeline.precision

    def precision_agreement(self, prompts: list[str], seeds: list[int], settings: VidRDSettings
                            ) -> dict[str, Any] | None:
        """The pipeline's eager fp8-vs-bf16 agreement on these videos; None at the protocol's precision."""
        if self.pipeline.precision == DEFAULT_PRECISION:
            return None
        return self.pipeline.precision_agreement(prompts, seeds, settings)

    def modules(self) -> dict[str, torch.nn.Module]:
        """The video UNet and the temporal VAE (and the UNet without its CUDA graph where it replays one)."""
        unet = self.pipeline.unet
        ungraphed = {"denoiser_ungraphed": unet.module} if isinstance(unet, GraphedDenoiser) else {}
        return {"denoiser": unet, "decoder": self.pipeline.vae, **ungraphed}

    @contextlib.contextmanager
    def unpadded(self) -> Iterator[None]:
        """A compiled pipeline pads every batch to its compiled size (VidRDPipeline._pad); not inside the block."""
        fixed, self.pipeline.fixed_batch = self.pipeline.fixed_batch, None
        try:
            yield
        finally:
            self.pipeline.fixed_batch = fixed


def load(preset: str = "full", weights_dir: str | os.PathLike | None = None, device: str | None = None,
         settings: VidRDSettings | None = None, compile: bool | None = None, allow_partial: bool = False,
         precision: str = DEFAULT_PRECISION, fp8_emulation: bool = False, **_: Any) -> VidRDGenerator:
    """Build VidRD's `preset` on `device` (compile defaults to on for CUDA), with the temporal VAE if settings ask,
    at `precision`, calibrated at the settings' clip size (fp8_emulation: tests only, fp8's float32 emulation)."""
    from vidrd_bench.core.devices import pick_device
    from vidrd_bench.models.vidrd.pipeline import VidRDPipeline

    dev = pick_device(device)
    compile = dev.type == "cuda" if compile is None else compile
    if compile and dev.type != "cuda":
        print(f"note: --compile on {dev.type} compiles the UNet and VAE decoder with torch.compile first, which takes "
              "minutes before the first video (pass --no-compile to start at once).", file=sys.stderr)
    temporal_vae = True if settings is None else settings.temporal_vae
    pipe = VidRDPipeline.from_preset(preset, weights_dir=weights_dir, device=dev, temporal_vae=temporal_vae,
                                     compile=compile, allow_partial=allow_partial, precision=precision,
                                     fp8_emulation=fp8_emulation, settings=settings)
    return VidRDGenerator(pipe, preset)
