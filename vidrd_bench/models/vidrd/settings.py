"""VidRD's own generator settings: clip layout, DDIM steps, guidance, FNR/PNS/DSG, assembly and temporal VAE."""

from __future__ import annotations

from dataclasses import dataclass

from vidrd_bench.protocols import GeneratorSettings
from vidrd_bench.core.registry import Registry


@dataclass(frozen=True)
class VidRDSettings(GeneratorSettings):
    """How VidRD renders a video: frame size, clips of N frames prompted by M, sampler and decoder options.

    Defaults are the release's inference settings (DESIGN.md section 3-4): 256x256, DDIM 50 steps, eta 0,
    guidance 10.0, negative prompt "watermark", 3 clips of 8 frames prompted by 4, FNR, PNS alpha 4, DSG g 0.4.
    """

    height: int = 256
    width: int = 256
    frames_per_clip: int = 8
    prompt_frames: int = 4
    num_clips: int = 3
    num_inference_steps: int = 50
    guidance_scale: float = 10.0
    eta: float = 0.0
    negative_prompt: str = "watermark"
    fnr: bool = True
    pns_alpha: float | None = 4.0
    dsg_g: float | None = 0.4
    assembly: str = "video"
    temporal_vae: bool = True

    @property
    def num_frames(self) -> int:
        """Frames in one assembled video."""
        n, m, c = self.frames_per_clip, self.prompt_frames, self.num_clips
        return n * c if self.assembly == "release" else n + (n - m) * (c - 1)


VIDRD_SETTINGS: Registry[VidRDSettings] = Registry("VidRD settings", VidRDSettings)
VIDRD_SETTINGS.register("vidrd", VidRDSettings(name="vidrd"))
VIDRD_SETTINGS.register("vidrd-release", VidRDSettings(name="vidrd-release", assembly="release", temporal_vae=False))
VIDRD_SETTINGS.register("vidrd-tiny", VidRDSettings(name="vidrd-tiny", height=32, width=32, num_inference_steps=4))
# Long videos for the 128-frame FVD protocols: the paper's iteration of clips of N = 8 frames prompted by M = 4 from
# the previous clip, 31 clips assembling 8 + 4 * 30 = 128 frames (and the tiny model at the same length, for tests).
VIDRD_SETTINGS.register("vidrd-long128", VidRDSettings(name="vidrd-long128", num_clips=31))
VIDRD_SETTINGS.register("vidrd-tiny-long128", VidRDSettings(name="vidrd-tiny-long128", height=32, width=32,
                                                            num_inference_steps=4, num_clips=31))

# VidRD's presets: preset -> (the settings it renders with by default, what it builds). The model's builder
# (components.build_components) and its generator registry entry (vidrd_bench.generators) both read this table.
VIDRD_PRESETS: dict[str, tuple[str, str]] = {
    "full": ("vidrd", "the VidRD weights from --weights-dir"),
    "full-random": ("vidrd", "the full architecture with random weights (timing only)"),
    "tiny": ("vidrd-tiny", "a small random model for CPU tests and smoke runs"),
}
