"""VidRDPipeline: text -> uint8 videos with the VidRD video UNet, iterative FNR/PNS/DSG sampling and the temporal VAE.

Written in the diffusers pipeline manner (numbered steps in `__call__`), over the components that
`vidrd_bench.models.vidrd.components.build_components` assembles (real weights or tiny random ones).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.models.vidrd.fp8 import bf16_linears
from vidrd_bench.models.vidrd.fp8_calibration import use_fp8
from vidrd_bench.models.vidrd.graphs import GraphedDenoiser
from vidrd_bench.models.vidrd.sampler import IterativeSampler, assemble_clips, check_settings, draw_noise, make_generators
from vidrd_bench.models.vidrd.settings import VIDRD_PRESETS, VIDRD_SETTINGS, VidRDSettings
from vidrd_bench.protocols import check_prompts_seeds
from vidrd_bench.precisions import DEFAULT_PRECISION, PrecisionError, check_precision_device, video_agreement

VAE_CHUNK_FRAMES = 64
UNET_CONVERSIONS = {"fp8-e4m3": use_fp8}  # non-protocol precisions: how the eager UNet is converted and calibrated


def _preset_settings(preset: str) -> VidRDSettings:
    """The settings VidRD's `preset` renders with by default (settings.VIDRD_PRESETS)."""
    return VIDRD_SETTINGS.get(VIDRD_PRESETS[preset][0])


class GenerationInputError(VidrdBenchError):
    """Prompts, seeds or sizes handed to the pipeline cannot be generated as asked."""


@dataclass
class VidRDPipelineOutput:
    """What one pipeline call produced: uint8 videos (B, T, H, W, 3) on CPU, optional latents, settings and seeds."""

    videos: torch.Tensor
    latents: torch.Tensor | None
    settings: dict[str, Any]
    seeds: list[int]


def to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """Float frames in [-1, 1] -> uint8 by (x * 127.5 + 128).clamp(0, 255), truncated (StyleGAN-V's convention).

    The arithmetic runs in float32 whatever the decoder's dtype: bfloat16 cannot hold every level in [128, 256).
    """
    return (frames.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


class VidRDPipeline:
    """The VidRD text-to-video pipeline over built components (unet, vae, text_encoder, scheduler)."""

    def __init__(self, components: Any) -> None:
        self.components = components
        self.unet = components.unet
        self.vae = components.vae
        self.text_encoder = components.text_encoder
        self.scheduler = components.scheduler
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.latent_channels = int(self.vae.config.latent_channels)
        self.fixed_batch: int | None = None
        self.compiled_decode = True  # False: the VAE decodes eagerly even after compile_decoder
        self.precision = DEFAULT_PRECISION
        self.converted_layers: dict[str, int] = {}
        self.calibration: dict[str, Any] | None = None  # how a non-protocol precision's static scales were measured

    @classmethod
    def from_preset(cls, preset: str = "full", weights_dir: str | None = None, device: str | torch.device | None = None,
                    dtype: torch.dtype | None = None, temporal_vae: bool = True, allow_partial: bool = False,
                    compile: bool = False, cuda_graphs: bool = True, precision: str = DEFAULT_PRECISION,
                    fp8_emulation: bool = False, settings: VidRDSettings | None = None) -> "VidRDPipeline":
        """Build the components of `preset` ('full' reads weights; 'tiny' is random) on device/dtype and wrap them.

        device defaults to cuda when available, else cpu; dtype to bfloat16 on cuda, float32 on cpu.
        compile: see `compile`. precision (precisions.PRECISIONS): a non-protocol one converts and calibrates the UNet
        before compiling (`use_precision`; at `settings`' clip size, default the preset's settings); it is refused
        where the device cannot run it, unless fp8_emulation (tests only) runs the float32 emulation.
        """
        from vidrd_bench.core.devices import pick_device
        from vidrd_bench.models.vidrd.components import build_components

        device = pick_device(device)
        chosen = check_precision_device(precision, device, emulate=fp8_emulation)
        if not chosen.protocol and precision not in UNET_CONVERSIONS:
            raise PrecisionError(f"VidRD cannot render with precision {precision!r}; it has "
                                 f"{', '.join([DEFAULT_PRECISION, *UNET_CONVERSIONS])}.")
        dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
        pipe = cls(build_components(preset, weights_dir=weights_dir, device=str(device), dtype=dtype,
                                    temporal_vae=temporal_vae, allow_partial=allow_partial))
        if not chosen.protocol:
            pipe.use_precision(precision, settings or _preset_settings(preset), emulate=fp8_emulation)
        if compile:
            pipe.compile(cuda_graphs)
        return pipe

    def use_precision(self, precision: str, settings: VidRDSettings, emulate: bool = False) -> None:
        """Convert the still-eager UNet in place to a non-protocol precision and calibrate it (fp8-e4m3: its
        feed-forward linears, static scales from generator.fp8_calibration's fixed set at `settings`' clip size)."""
        self.converted_layers, self.calibration = UNET_CONVERSIONS[precision](self, settings, emulate)
        self.precision = precision

    def compile(self, cuda_graphs: bool = True) -> None:
        """Keep UNet activations channels-last on CUDA and wrap the UNet and the VAE's frame decoder in torch.compile
        (static shapes); batches are then padded to the first call's size so later batches reuse the graphs; the
        compiled code is cached on disk (devices.persistent_compile_cache). cuda_graphs (on CUDA) replays the
        compiled UNet call as a captured CUDA graph (generator.graphs.GraphedDenoiser)."""
        from vidrd_bench.core.devices import persistent_compile_cache

        persistent_compile_cache()
        self.vae.compile_decoder()
        on_cuda = self.device.type == "cuda"
        self.unet.set_channels_last(on_cuda)
        unet = torch.compile(self.unet, fullgraph=True, dynamic=False)
        self.unet = GraphedDenoiser(unet) if cuda_graphs and on_cuda else unet
        self.components = dataclasses.replace(self.components, unet=self.unet)
        self.fixed_batch = 0

    def _pad(self, prompts: list[str], seeds: list[int]) -> tuple[list[str], list[int]]:
        """Repeat the last video up to the compiled batch size (videos are independent, so results don't move)."""
        if self.fixed_batch is None:
            return list(prompts), list(seeds)
        self.fixed_batch = max(self.fixed_batch, len(prompts))
        extra = self.fixed_batch - len(prompts)
        return list(prompts) + [prompts[-1]] * extra, list(seeds) + [seeds[-1]] * extra

    @property
    def device(self) -> torch.device:
        """Where the UNet's weights live (the denoising device)."""
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The UNet's weight dtype (the denoiser's compute dtype; latents stay float32)."""
        return next(self.unet.parameters()).dtype

    def check_inputs(self, prompts: list[str], seeds: list[int], settings: VidRDSettings) -> None:
        """Refuse mismatched prompts/seeds, unusable settings and sizes the VAE cannot produce."""
        if not isinstance(settings, VidRDSettings):
            raise GenerationInputError(
                f"The pipeline needs a VidRDSettings, got {type(settings).__name__} "
                f"({getattr(settings, 'name', settings)!r}); pass e.g. VIDRD_SETTINGS.get('vidrd').")
        check_settings(settings)
        check_prompts_seeds(prompts, seeds, GenerationInputError)
        f = self.vae_scale_factor
        if settings.height % f or settings.width % f:
            raise GenerationInputError(
                f"Settings {settings.name!r} ask for {settings.height}x{settings.width} frames, but the VAE only makes "
                f"sizes divisible by {f}; choose settings whose height and width are multiples of {f}.")

    def encode_prompts(self, prompts: list[str], negative_prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt embeddings (B, 77, D) and the negative prompt's (1, 77, D), for classifier-free guidance."""
        cond = self.text_encoder.encode(list(prompts))
        uncond = self.text_encoder.encode([negative_prompt])
        return cond.to(self.device), uncond.to(self.device)

    def decode_latents(self, latents: torch.Tensor, settings: VidRDSettings) -> torch.Tensor:
        """Release-order latents (B, 4, C*N, h, w) -> frames (B, 3, C*N, H, W) in ~[-1, 1], one clip per VAE video.

        Each clip is decoded on its own (as the release does), so temporal VAE layers mix frames within a clip only.
        """
        b, ch, _, h, w = latents.shape
        c, n = settings.num_clips, settings.frames_per_clip
        clips = latents.reshape(b, ch, c, n, h, w).transpose(1, 2).reshape(b * c, ch, n, h, w)
        frames = self.vae.decode_video(clips, use_temporal=settings.temporal_vae, chunk_frames=VAE_CHUNK_FRAMES,
                                       compiled=self.compiled_decode)
        return frames.reshape(b, c, *frames.shape[1:]).transpose(1, 2).reshape(b, frames.shape[1], c * n,
                                                                              *frames.shape[-2:])

    def precision_agreement(self, prompts: list[str], seeds: list[int], settings: VidRDSettings) -> dict[str, Any]:
        """uint8 agreement of these videos rendered with the converted UNet layers and with their bf16 originals.

        Both sides run the eager UNet and VAE at this batch (no padding, no CUDA graph), so the two renders differ
        only in the converted layers' precision.
        """
        eager = VidRDPipeline(dataclasses.replace(self.components, unet=getattr(self.unet, "_orig_mod", self.unet)))
        eager.compiled_decode = False
        videos = eager(prompts, seeds, settings).videos
        with bf16_linears(eager.unet):
            reference = eager(prompts, seeds, settings).videos
        return {**video_agreement(videos, reference),
                "how": f"the same {len(prompts)} videos rendered eager at batch {len(prompts)} with {self.precision} "
                       f"and with the original linears ({str(self.dtype).removeprefix('torch.')})"}

    @torch.no_grad()
    def denoise(self, prompts: list[str], seeds: list[int], settings: VidRDSettings,
                progress: bool = False) -> tuple[torch.Tensor, IterativeSampler]:
        """Steps 2-4 of __call__ on checked, padded inputs: release-order latents (B, 4, C*N, h, w) and the sampler
        that made them (its scheduler holds the timesteps run; the fp8 calibration records them)."""
        # 2. Encode the prompts and the negative prompt
        cond, uncond = self.encode_prompts(prompts, settings.negative_prompt)

        # 3. Per-video generators and all their noise (drawn on CPU, moved once)
        latent_hw = (settings.height // self.vae_scale_factor, settings.width // self.vae_scale_factor)
        noise = draw_noise(make_generators(seeds), settings, latent_hw, self.latent_channels).to(self.device)

        # 4. Iterative denoising, clip by clip (FNR, PNS, DSG), classifier-free guidance in one 2B batch
        sampler = IterativeSampler(self.unet, self.scheduler, settings, model_dtype=self.dtype)
        return sampler(cond, uncond, noise, progress=progress), sampler

    @torch.no_grad()
    def __call__(self, prompts: list[str], seeds: list[int], settings: VidRDSettings, progress: bool = False,
                 return_latents: bool = False) -> VidRDPipelineOutput:
        """Generate one video per (prompt, seed) under `settings`; uint8 (B, T, H, W, 3) with T = settings.num_frames."""
        # 1. Check inputs; a compiled UNet gets its fixed batch size (padding dropped in step 6)
        self.check_inputs(prompts, seeds, settings)
        count = len(prompts)
        prompts, seeds = self._pad(prompts, seeds)

        # 2-4. Encode the prompts, draw each video's noise, denoise clip by clip (denoise)
        latents, _ = self.denoise(prompts, seeds, settings, progress)

        # 5. Decode every clip with the (temporal) VAE, then assemble the settings' frames
        frames = assemble_clips(self.decode_latents(latents, settings), settings, dim=2)

        # 6. Frames in [-1, 1] -> uint8 (B, T, H, W, 3) on CPU
        videos = to_uint8(frames[:count]).permute(0, 2, 3, 4, 1).contiguous().cpu()
        return VidRDPipelineOutput(videos=videos, latents=latents[:count].cpu() if return_latents else None,
                                   settings=settings.to_dict(), seeds=[int(s) for s in seeds[:count]])
