"""VidRD's iterative clip-by-clip sampler: DDIM with classifier-free guidance plus FNR, PNS and DSG.

Clip c denoises N latent frames; the last M frames of clip c-1 prompt it. `past[i]` is clip c-1's
latent at denoising step i, flipped along the frame axis, taken before that step's UNet call.

- FNR (frame-level noise reversion): clip c starts frames [0, M) from past[0][:, :, :M].
- PNS (past-dependent noise sampling, alpha a): frames [M, N) start from
  a/sqrt(1+a^2) * past[0][:, :, M:] + 1/sqrt(1+a^2) * fresh noise (unit variance kept).
- DSG (denoising with staged guidance, g): at step i, prompt frame k < M is reset to past[i][:, :, k]
  while i < (M - k) * (T / M) * g.

Time direction (read from the authors' released loop). Each clip is denoised as an ordinary clip: its
own frame order 0..N-1 is forward time for the model (temporal layers and frame embeddings run in it).
The reversal is in the prompting: because `past` is flipped, clip c's frame k (k < M) is tied to clip
c-1's frame N-1-k, so clip c opens by replaying clip c-1's last M frames backwards and continues from
there with its new frames [M, N). The release concatenates all N frames of every clip, so each join
plays the overlap forwards then backwards ("reversed joins", N * C frames). Assembly "video" drops those
mirrored copies: all N frames of clip 0, then frames [M, N) of each later clip in their own (forward)
order, giving N + (N - M) * (C - 1) frames in which no frame is shown twice and none plays backwards.
No assembly is a seamless extension: clip c's frame M follows, in clip c's time, the mirror of clip
c-1's frame N-M, not its frame N-1.

Randomness: every draw (initial and PNS noise, DDIM noise when eta > 0) comes from a per-video CPU
`torch.Generator` seeded with the video's seed and is drawn before the loop, so a video is the same
whatever batch it lands in and whatever device runs the UNet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from diffusers import DDIMScheduler

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.progress import tqdm
from vidrd_bench.models.vidrd.settings import VidRDSettings

Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
ASSEMBLIES = ("release", "video")


class InvalidSettingsError(VidrdBenchError):
    """VidRD settings hold values the iterative sampler cannot run."""


def _bad(field: str, value: object, expected: str) -> InvalidSettingsError:
    """Build the one-paragraph error for an unusable settings field."""
    return InvalidSettingsError(
        f"VidRD settings field {field}={value!r} is not usable: expected {expected}. "
        "Pick registered settings (vidrd_bench.models.vidrd.settings.VIDRD_SETTINGS) or fix this field in yours."
    )


def check_settings(settings: VidRDSettings) -> None:
    """Raise InvalidSettingsError unless the clip layout, steps and FNR/PNS/DSG settings are runnable."""
    n, m = settings.frames_per_clip, settings.prompt_frames
    if n < 1:
        raise _bad("frames_per_clip", n, "a positive number of frames per clip")
    if not 0 <= m < n:
        raise _bad("prompt_frames", m, f"0 <= prompt_frames < frames_per_clip ({n})")
    if settings.num_clips < 1:
        raise _bad("num_clips", settings.num_clips, "at least one clip")
    if settings.num_inference_steps < 1:
        raise _bad("num_inference_steps", settings.num_inference_steps, "at least one DDIM step")
    if settings.eta < 0:
        raise _bad("eta", settings.eta, "a DDIM eta >= 0 (0 is deterministic DDIM)")
    if settings.pns_alpha is not None and settings.pns_alpha < 0:
        raise _bad("pns_alpha", settings.pns_alpha, "None (PNS off) or a PNS alpha >= 0")
    if settings.dsg_g is not None and settings.dsg_g < 0:
        raise _bad("dsg_g", settings.dsg_g, "None (DSG off) or a DSG strength g >= 0")
    if settings.assembly not in ASSEMBLIES:
        raise _bad("assembly", settings.assembly, f"one of {', '.join(ASSEMBLIES)}")


def dsg_pinned_steps(prompt_frames: int, num_steps: int, g: float | None) -> list[int]:
    """DSG schedule: for each prompt frame k < M, how many leading steps pin it to the past clip."""
    if g is None or prompt_frames == 0:
        return [0] * prompt_frames
    bounds = [(prompt_frames - k) * (num_steps / prompt_frames) * g for k in range(prompt_frames)]
    return [sum(1 for i in range(num_steps) if i < b) for b in bounds]


def _pinned_prefix(pinned: list[int], num_steps: int) -> list[int]:
    """Per step i, how many leading frames DSG pins (the schedule decreases with k, so it is a prefix)."""
    return [sum(1 for s in pinned if i < s) for i in range(num_steps)]


def assembly_frame_indices(num_clips: int, frames_per_clip: int, prompt_frames: int, assembly: str) -> list[int]:
    """Indices into the release order (all clips concatenated) that make up the assembled video."""
    n, m = frames_per_clip, prompt_frames
    if assembly == "release":
        return list(range(num_clips * n))
    if assembly == "video":
        return list(range(n)) + [c * n + k for c in range(1, num_clips) for k in range(m, n)]
    raise InvalidSettingsError(f"Unknown clip assembly {assembly!r}: expected one of {', '.join(ASSEMBLIES)}.")


def assemble_clips(x: torch.Tensor, settings: VidRDSettings, dim: int = 2) -> torch.Tensor:
    """Select the settings's assembly from clips concatenated in release order along `dim`."""
    if settings.assembly == "release":
        return x
    idx = assembly_frame_indices(settings.num_clips, settings.frames_per_clip, settings.prompt_frames,
                                 settings.assembly)
    return x.index_select(dim, torch.tensor(idx, device=x.device))


@dataclass
class SamplerNoise:
    """All random draws of a batch, made up front: clip noise and, when eta > 0, DDIM step noise."""

    clips: torch.Tensor
    steps: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "SamplerNoise":
        """Move the noise to the denoising device in one transfer per tensor."""
        return SamplerNoise(self.clips.to(device), None if self.steps is None else self.steps.to(device))


def make_generators(seeds: list[int]) -> list[torch.Generator]:
    """One CPU generator per video, seeded by the video's own seed."""
    return [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]


def draw_noise(generators: list[torch.Generator], settings: VidRDSettings, latent_hw: tuple[int, int],
               channels: int = 4) -> SamplerNoise:
    """Draw every video's noise on CPU in float32 from its own generator: (clips, B, C, N, h, w) [+ steps]."""
    c, n, t = settings.num_clips, settings.frames_per_clip, settings.num_inference_steps
    shape = (c, channels, n, *latent_hw)
    clips, steps = [], []
    for gen in generators:
        clips.append(torch.randn(shape, generator=gen))
        if settings.eta > 0:
            steps.append(torch.randn((c, t, *shape[1:]), generator=gen))
    clip_noise = torch.stack(clips, dim=1)
    return SamplerNoise(clip_noise, torch.stack(steps, dim=2) if steps else None)


class IterativeSampler:
    """Runs VidRD's clip-by-clip DDIM sampling over a denoiser `unet(sample, t, encoder_hidden_states)`."""

    def __init__(self, unet: Denoiser, scheduler: DDIMScheduler, settings: VidRDSettings,
                 model_dtype: torch.dtype = torch.float32):
        check_settings(settings)
        self.unet = unet
        self.scheduler = DDIMScheduler.from_config(scheduler.config)
        self.settings = settings
        self.model_dtype = model_dtype
        t, m = settings.num_inference_steps, settings.prompt_frames
        self.pin = _pinned_prefix(dsg_pinned_steps(m, t, settings.dsg_g), t)
        self.uses_past = settings.num_clips > 1 and (settings.fnr or settings.pns_alpha is not None
                                                     or self.pin[0] > 0)
        self.past_steps = max(1, sum(1 for p in self.pin if p > 0)) if self.uses_past else 0

    def __call__(self, cond: torch.Tensor, uncond: torch.Tensor, noise: SamplerNoise,
                 progress: bool = False) -> torch.Tensor:
        """Sample all clips; returns float32 latents (B, C, clips * N, h, w) in release order."""
        p = self.settings
        c, b, ch, n, h, w = noise.clips.shape
        device = noise.clips.device
        self.scheduler.set_timesteps(p.num_inference_steps)
        steps = self.scheduler.timesteps.tolist()
        t_model = self.scheduler.timesteps.to(device, non_blocking=True)
        emb = torch.cat([uncond.expand(b, -1, -1), cond]).to(device=device, dtype=self.model_dtype)
        model_in = torch.empty((2 * b, ch, n, h, w), device=device, dtype=self.model_dtype)
        past = torch.empty((self.past_steps, b, ch, n, h, w), device=device)
        out = torch.empty((b, ch, c * n, h, w), device=device)
        bar = tqdm(total=c * len(steps), desc="denoising", disable=not progress, leave=False)
        for clip in range(c):
            z = self._initial_latents(noise.clips[clip], past, clip)
            for i, t in enumerate(steps):
                if clip > 0 and self.pin[i]:
                    z[:, :, : self.pin[i]] = past[i, :, :, : self.pin[i]]
                if clip < c - 1 and i < self.past_steps:
                    past[i].copy_(z.flip(2))
                model_in[:b].copy_(z)
                model_in[b:].copy_(z)
                eps_u, eps_c = self.unet(model_in, t_model[i], emb).float().chunk(2)
                eps = torch.lerp(eps_u, eps_c, p.guidance_scale)
                step_noise = None if noise.steps is None else noise.steps[clip, i]
                z = self.scheduler.step(eps, t, z, eta=p.eta, variance_noise=step_noise).prev_sample
                bar.update()
            out[:, :, clip * n:(clip + 1) * n] = z
        bar.close()
        return out

    def _initial_latents(self, fresh: torch.Tensor, past: torch.Tensor, clip: int) -> torch.Tensor:
        """Clip c's starting latents: fresh noise, with FNR on the prompt frames and PNS on the rest."""
        p, m = self.settings, self.settings.prompt_frames
        z = fresh * self.scheduler.init_noise_sigma
        if clip == 0:
            return z
        if p.fnr:
            z[:, :, :m] = past[0, :, :, :m]
        if p.pns_alpha is not None:
            a = p.pns_alpha
            z[:, :, m:] = (a / math.sqrt(1 + a * a)) * past[0, :, :, m:] + (1 / math.sqrt(1 + a * a)) * fresh[:, :, m:]
        return z
