"""Assemble VidRD's parts (video UNet, temporal VAE, CLIP text encoder, DDIM) from real files or random weights.

Presets: "full" reads the user's weights (SD 2.1-base folder, ModelT2V.pth, optional vae_finetuned/);
"tiny" is a small random model for tests and smoke runs; "full-random" has the full sizes with random
weights, built directly on the target device, for GPU benchmarks. Every part records what it was loaded
from (`sources`) and a sha256 (of the files used, or for random presets of the weights or their recipe).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

from vidrd_bench.core.errors import WeightsError, brief
from vidrd_bench.models.vidrd import configs
from vidrd_bench.models.vidrd.settings import VIDRD_PRESETS
from vidrd_bench.models.vidrd.checkpoint import component_state_dicts, load_unet_checkpoint, read_checkpoint
from vidrd_bench.models.vidrd.text import TextEncoder, apply_text_state_dict
from vidrd_bench.models.vidrd.unet3d import UNet3DConditionModel, unet3d_kwargs_from_2d
from vidrd_bench.models.vidrd.vae import TemporalAutoencoderKL, apply_vae_state_dict, load_temporal_vae, move
from vidrd_bench.core.weights import file_sha256, locate, state_sha256
from vidrd_bench.core.weights import weights_dir as weights_root

log = logging.getLogger(__name__)

SD_NAME, UNET_CKPT_NAME, TEMPORAL_VAE_NAME = configs.VIDRD_FILES


@dataclass
class VidRDComponents:
    """The built generator parts plus provenance: what each was loaded from and the sha256 of what was used."""

    unet: UNet3DConditionModel
    vae: TemporalAutoencoderKL
    text_encoder: TextEncoder
    scheduler: DDIMScheduler
    preset: str
    sources: dict[str, str] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)


def build_components(preset: str, weights_dir: str | None = None, device: str | torch.device = "cpu",
                     dtype: torch.dtype = torch.float32, temporal_vae: bool = True, allow_partial: bool = False,
                     seed: int = 0) -> VidRDComponents:
    """Build the parts of `preset` on device/dtype, in eval mode without gradients.

    temporal_vae (full preset): use vae_finetuned/ when present; otherwise, or when False, the SD VAE (plus
    ModelT2V.pth's vae.* if any) is inflated with zero-initialised temporal layers, and `sources` says so.
    allow_partial: load checkpoints that do not match exactly (mismatches keep their initial values).
    seed: random presets' weights depend only on it (and the configs).
    """
    if preset == "full":
        parts = _build_full(weights_dir, device, dtype, temporal_vae, allow_partial)
    elif preset in ("tiny", "full-random"):
        parts = _build_random(preset, device, dtype, seed)
    else:
        presets = "; ".join(f"{name}: {what}" for name, (_, what) in VIDRD_PRESETS.items())
        raise WeightsError(f"Unknown VidRD preset {preset!r}: choose one of ({presets}).")
    for module in (parts.unet, parts.vae, parts.text_encoder.model):
        module.eval().requires_grad_(False)
    return parts


def _build_random(preset: str, device: str | torch.device, dtype: torch.dtype, seed: int) -> VidRDComponents:
    """Random weights from the configs; tiny is built on CPU (same weights on any device), full-random on `device`."""
    sizes = "tiny" if preset == "tiny" else "full"
    cfg = configs.PRESETS[sizes]
    home = torch.device("cpu") if preset == "tiny" else torch.device(device)
    torch.manual_seed(seed)
    with home:
        unet = UNet3DConditionModel(**cfg["unet"], **cfg["temporal"])
        vae = TemporalAutoencoderKL.from_config_dict(cfg["vae"])
    text_encoder = TextEncoder.random(cfg["text"], seed=seed, device=home)
    scheduler = DDIMScheduler.from_config(configs.SD21_BASE_SCHEDULER)
    unet, vae = move(unet, device, dtype), move(vae, device, dtype)
    text_encoder.to(device=device, dtype=dtype)
    names = {"unet": "unet", "vae": "vae", "text_encoder": "text"}
    sources = {part: f"random init, seed {seed}, configs.PRESETS[{sizes!r}][{key!r}]" for part, key in names.items()}
    sources["tokenizer"] = "byte-level CLIPTokenizer built in code (no merges)"
    sources["scheduler"] = "DDIMScheduler.from_config(configs.SD21_BASE_SCHEDULER)"
    if preset == "tiny":
        modules = {"unet": unet, "vae": vae, "text_encoder": text_encoder.model}
        digests = {part: state_sha256(module) for part, module in modules.items()}
    else:
        digests = {part: recipe_sha256(preset, part, seed, cfg[key]) for part, key in names.items()}
    digests["scheduler"] = recipe_sha256(preset, "scheduler", 0, configs.SD21_BASE_SCHEDULER)
    return VidRDComponents(unet, vae, text_encoder, scheduler, preset, sources, digests)


def recipe_sha256(preset: str, part: str, seed: int, config: dict) -> str:
    """sha256 of how random weights were made (preset, part, seed, config): cheap where hashing weights is not."""
    recipe = json.dumps({"preset": preset, "part": part, "seed": seed, "config": config}, sort_keys=True)
    return hashlib.sha256(recipe.encode()).hexdigest()


def _build_full(root: str | None, device: str | torch.device, dtype: torch.dtype, temporal_vae: bool,
                allow_partial: bool) -> VidRDComponents:
    """Real weights: SD 2.1-base folder, ModelT2V.pth for the video UNet, vae_finetuned/ when asked and present."""
    sd = locate(SD_NAME, root)
    ckpt = locate(UNET_CKPT_NAME, root)
    state = read_checkpoint(ckpt)
    extra = component_state_dicts(state)
    unet, unet_source, unet_files = _load_unet(sd, ckpt, state, allow_partial)
    del state
    sources = {"unet": unet_source, "tokenizer": str(sd / "tokenizer"),
               "scheduler": f"{sd / 'scheduler'} (DDIMScheduler)"}
    text_encoder = TextEncoder.from_folder(sd)
    sources["text_encoder"] = str(sd / "text_encoder")
    if "text_encoder" in extra:
        apply_text_state_dict(text_encoder, extra["text_encoder"], f"{ckpt} (text_encoder.*)", allow_partial)
        sources["text_encoder"] += f", then {ckpt} text_encoder.*"
    vae, sources["vae"], vae_files = _load_vae(sd, ckpt, extra.get("vae"), root, temporal_vae, allow_partial)
    scheduler = DDIMScheduler.from_pretrained(sd, subfolder="scheduler")
    used = unet_files + [sd / sub for sub in ("text_encoder", "tokenizer", "scheduler")] + [ckpt] + vae_files
    digests = {_provenance_name(p, sd): file_sha256(p) for p in used}
    text_encoder.to(device=device, dtype=dtype)
    return VidRDComponents(move(unet, device, dtype), move(vae, device, dtype), text_encoder, scheduler, "full",
                           sources, digests)


def _provenance_name(path: Path, sd: Path) -> str:
    """Key for the sha256 dict: 'stable-diffusion-2-1-base/<sub>' for SD members, else the entry's name."""
    return f"{SD_NAME}/{path.relative_to(sd).as_posix()}" if path.is_relative_to(sd) else path.name


def _load_unet(sd: Path, ckpt: Path, state: dict[str, torch.Tensor], allow_partial: bool
               ) -> tuple[UNet3DConditionModel, str, list[Path]]:
    """The video UNet, where it came from, and the files used.

    A complete ModelT2V.pth fills a UNet built on the meta device (only SD's unet/config.json is read). Otherwise,
    with allow_partial, the SD UNet is inflated and the checkpoint's matching tensors are loaded over it.
    """
    config_file = sd / "unet" / "config.json"
    try:
        config = UNet2DConditionModel.load_config(sd, subfolder="unet")
        arch = unet3d_kwargs_from_2d(config)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{config_file} is not a usable diffusers UNet config ({type(exc).__name__}: "
                           f"{brief(exc)}). Download the whole stabilityai/stable-diffusion-2-1-base "
                           "folder again (its unet/config.json is a JSON object of the UNet's settings).") from None
    with torch.device("meta"):
        unet = UNet3DConditionModel(**arch, **temporal_config(config))
    try:
        load_unet_checkpoint(ckpt, unet, allow_partial=False, state=state)
        return unet, f"{ckpt} unet.* (architecture from {config_file})", [config_file]
    except WeightsError:
        if not allow_partial:
            raise
    try:
        unet2d = UNet2DConditionModel.from_pretrained(sd, subfolder="unet")
    except (OSError, ValueError) as exc:
        raise WeightsError(f"Cannot load the SD 2.1-base UNet from {sd / 'unet'} ({type(exc).__name__}: {exc}). "
                           "Expected diffusers' layout (config.json + diffusion_pytorch_model.*): download the "
                           "whole stabilityai/stable-diffusion-2-1-base folder again.") from exc
    unet = UNet3DConditionModel.from_unet2d(unet2d, **temporal_config(dict(unet2d.config)))
    del unet2d
    report = load_unet_checkpoint(ckpt, unet, allow_partial=True, state=state)
    log.warning("partial UNet load: %s", report.summary())
    return unet, f"{sd / 'unet'} inflated (VidRD temporal layers), then {ckpt} unet.* (partial)", [sd / "unet"]


def temporal_config(unet_config: dict) -> dict:
    """VidRD's temporal options for a UNet: the release gives Temp-Attn the spatial head width (channels / heads).

    SD 2.1-base has 64-wide heads at every level (320/5, 640/10, 1280/20): configs.VIDRD_TEMPORAL.
    """
    heads = unet_config.get("num_attention_heads") or unet_config.get("attention_head_dim")
    channels = list(unet_config["block_out_channels"])
    heads = list(heads) if isinstance(heads, (list, tuple)) else [heads] * len(channels)
    widths = {c // h for c, h in zip(channels, heads)}
    if len(widths) != 1:
        raise WeightsError(f"The UNet config (block_out_channels {channels}, heads {heads}) has attention heads of "
                           f"different widths {sorted(widths)}; VidRD's temporal attention needs one width. "
                           "Use the Stable Diffusion 2.1-base UNet.")
    return {**configs.VIDRD_TEMPORAL, "temp_attn_head_dim": widths.pop()}


def _load_vae(sd: Path, ckpt: Path, ckpt_vae: dict[str, torch.Tensor] | None, root: str | None, temporal_vae: bool,
              allow_partial: bool) -> tuple[TemporalAutoencoderKL, str, list[Path]]:
    """The temporal VAE, where it came from, and the files used.

    As in the release, ModelT2V.pth's vae.* applies only when the fine-tuned temporal VAE is not used.
    """
    folder = weights_root(root) / TEMPORAL_VAE_NAME
    if temporal_vae and folder.exists():
        folder = locate(TEMPORAL_VAE_NAME, root)
        vae, report = load_temporal_vae(folder, allow_partial=allow_partial)
        if not report.complete:
            log.warning("partial temporal VAE load: %s", report.summary())
        return vae, f"{folder} (fine-tuned temporal VAE)", [folder]
    try:
        vae2d = AutoencoderKL.from_pretrained(sd, subfolder="vae")
    except (OSError, ValueError) as exc:
        raise WeightsError(f"Cannot load the SD 2.1-base VAE from {sd / 'vae'} ({type(exc).__name__}: {exc}). "
                           "Download the whole stabilityai/stable-diffusion-2-1-base folder again.") from exc
    vae = TemporalAutoencoderKL.from_vae2d(vae2d)
    source = str(sd / "vae")
    if ckpt_vae:
        apply_vae_state_dict(vae, ckpt_vae, f"{ckpt} (vae.*)", allow_partial=allow_partial, expect_temporal=False)
        source += f", then {ckpt} vae.*"
    why = f"no {folder}" if temporal_vae else "temporal_vae=False"
    if temporal_vae:
        log.warning("%s not found: decoding with the SD VAE and zero-initialised temporal layers", folder)
    return vae, f"{source}; temporal layers zero-initialised ({why})", [sd / "vae"]
