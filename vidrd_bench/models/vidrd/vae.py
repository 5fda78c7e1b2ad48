"""VidRD temporal VAE: SD's AutoencoderKL plus residual temporal convs after decoder up-block ResNets; its loader."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch
from diffusers import AutoencoderKL
from diffusers.configuration_utils import register_to_config
from torch import nn

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.models.vidrd.checkpoint import LoadReport, compare_state_dict, load_tensors_only
from vidrd_bench.models.vidrd.temporal import TemporalConvLayer, fold_frames, unfold_frames

VAE_WEIGHT_NAMES = ("diffusion_pytorch_model.bin", "diffusion_pytorch_model.safetensors")
OLD_ATTENTION_NAMES = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}
TEMPORAL_KEY = ".temp_convs."


class TemporalAutoencoderKL(AutoencoderKL):
    """The VidRD temporal VAE: SD encoder unchanged, decoder up blocks gain `temp_convs` (release parameter names).

    Each up-block ResNet is followed by a 3-conv Temp-Conv (dropout 0.1, last conv zero-initialised), none in the
    mid block. Its GroupNorms use the VAE's norm_num_groups (32 for SD, equal to the release's fixed 32; tiny VAEs
    need fewer).
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        down_block_types: tuple[str, ...] = ("DownEncoderBlock2D",),
        up_block_types: tuple[str, ...] = ("UpDecoderBlock2D",),
        block_out_channels: tuple[int, ...] = (64,),
        layers_per_block: int = 1,
        act_fn: str = "silu",
        latent_channels: int = 4,
        norm_num_groups: int = 32,
        sample_size: int = 32,
        scaling_factor: float = 0.18215,
        force_upcast: bool = True,
        temporal_layers: int = 3,
        temporal_dropout: float = 0.1,
    ) -> None:
        super().__init__(
            in_channels=in_channels, out_channels=out_channels, down_block_types=down_block_types,
            up_block_types=up_block_types, block_out_channels=block_out_channels, layers_per_block=layers_per_block,
            act_fn=act_fn, latent_channels=latent_channels, norm_num_groups=norm_num_groups,
            sample_size=sample_size, scaling_factor=scaling_factor, force_upcast=force_upcast,
        )
        for block in self.decoder.up_blocks:
            block.temp_convs = nn.ModuleList(
                TemporalConvLayer(resnet.out_channels, norm_num_groups, temporal_dropout, temporal_layers)
                for resnet in block.resnets
            )
        self.compiled_frames: Callable[..., torch.Tensor] | None = None

    @property
    def scaling_factor(self) -> float:
        """The SD latent scale (0.18215): diffusion latents = VAE latents * scaling_factor."""
        return float(self.config.scaling_factor)

    @classmethod
    def from_config_dict(cls, config: dict) -> TemporalAutoencoderKL:
        """Random-weight model from a VAE config dict (configs.SD21_BASE_VAE, a config.json); unknown keys ignored."""
        return cls(**init_kwargs(config))

    @classmethod
    def from_vae2d(cls, vae2d: AutoencoderKL) -> TemporalAutoencoderKL:
        """Inflate a 2D AutoencoderKL: every 2D weight copied, temporal layers new (zero residual)."""
        model = cls.from_config_dict(dict(vae2d.config))
        result = model.load_state_dict(vae2d.state_dict(), strict=False)
        stray = [k for k in result.missing_keys if TEMPORAL_KEY not in k] + list(result.unexpected_keys)
        if stray:
            raise WeightsError(
                f"Cannot inflate the 2D VAE into the temporal VAE: keys {stray[:5]} do not correspond. "
                "Pass a diffusers AutoencoderKL built with the SD 2.1-base VAE layout (4 UpDecoderBlock2D blocks)."
            )
        param = next(vae2d.parameters())
        return move(model, param.device, param.dtype)

    def _decode_frames(self, z: torch.Tensor, num_frames: int | None) -> torch.Tensor:
        """Decode VAE latents (N, 4, h, w); with `num_frames` the temporal convs mix each run of that many frames."""
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        if num_frames is None:
            return self.decoder(z)
        dec = self.decoder
        sample = dec.mid_block(dec.conv_in(z))
        for block in dec.up_blocks:
            for resnet, temporal in zip(block.resnets, block.temp_convs):
                sample = fold_frames(temporal(unfold_frames(resnet(sample, temb=None), num_frames)))
            for upsampler in block.upsamplers or ():
                sample = upsampler(sample)
        return dec.conv_out(dec.conv_act(dec.conv_norm_out(sample)))

    def compile_decoder(self, **options: Any) -> None:
        """torch.compile the frame decoder (static shapes: one graph per chunk size, reused by every batch).

        GroupNorm, SiLU and the residual adds fuse around the convolutions; `options` go to torch.compile.
        """
        self.compiled_frames = torch.compile(self._decode_frames, fullgraph=True, dynamic=False, **options)

    def decode_video(self, latents: torch.Tensor, use_temporal: bool = True,
                     chunk_frames: int | None = None, compiled: bool = True) -> torch.Tensor:
        """Diffusion latents (B, 4, F, h, w), still multiplied by scaling_factor, -> video (B, 3, F, H, W) in ~[-1, 1].

        use_temporal=False decodes every frame alone (the release's inference: temporal layers bypassed).
        chunk_frames bounds frames per decoder call; with use_temporal it rounds to whole videos (>= 1).
        compiled=False runs eager code even after `compile_decoder` (FLOP counting, references).
        """
        if latents.ndim != 5:
            raise ValueError(f"decode_video expects latents shaped (B, C, F, h, w), got {tuple(latents.shape)}")
        b, f = latents.shape[0], latents.shape[2]
        param = next(self.parameters())
        frames = fold_frames(latents.to(param.device, param.dtype) / self.scaling_factor)
        if use_temporal:
            per_call = f * max(1, (chunk_frames or b * f) // f)
        else:
            per_call = max(1, chunk_frames or b * f)
        decode = self.compiled_frames if compiled and self.compiled_frames is not None else self._decode_frames
        outs = [decode(chunk, f if use_temporal else None) for chunk in frames.split(per_call)]
        return unfold_frames(torch.cat(outs), f)


def move(module: nn.Module, device: str | torch.device, dtype: torch.dtype) -> nn.Module:
    """Module.to without diffusers' spurious keep-in-float32 warning (SD modules have none to keep)."""
    return nn.Module.to(module, device=device, dtype=dtype)


def init_kwargs(config: dict) -> dict:
    """The entries of a VAE config that TemporalAutoencoderKL accepts (drops `_class_name`, `add_temp_conv`, ...)."""
    accepted = inspect.signature(TemporalAutoencoderKL.__init__).parameters
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items() if k in accepted and k != "self"}


def rename_legacy_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map diffusers-0.14 mid-block attention names (query/key/value/proj_attn) to today's (to_q/to_k/to_v/to_out.0)."""
    renamed = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if "attentions" in parts and len(parts) >= 2 and parts[-2] in OLD_ATTENTION_NAMES:
            key = ".".join(parts[:-2] + [OLD_ATTENTION_NAMES[parts[-2]], parts[-1]])
        renamed[key] = value
    return renamed


def apply_vae_state_dict(vae: TemporalAutoencoderKL, state_dict: Mapping[str, torch.Tensor], source: str,
                         allow_partial: bool = False, expect_temporal: bool = True) -> LoadReport:
    """Load a (release-layout or current) state dict into `vae`; refuse an incomplete one unless `allow_partial`.

    expect_temporal=False treats absent temp_convs as expected (a 2D SD VAE state dict: they stay as initialised).
    """
    renamed = rename_legacy_keys(state_dict)
    own = vae.state_dict()
    report = compare_state_dict(source, own, renamed)
    if not expect_temporal:
        report = replace(report, missing=tuple(k for k in report.missing if TEMPORAL_KEY not in k))
    if not report.complete and not allow_partial:
        raise WeightsError(
            f"The VAE weights in {source} do not match the VidRD temporal VAE layout ({report.summary()}): "
            f"{_problems(report)}. Expected {len(own)} tensors named like diffusers' AutoencoderKL (mid-block "
            "attention as query/key/value/proj_attn or to_q/to_k/to_v/to_out.0) plus "
            f"decoder.up_blocks.<b>.temp_convs.<i>.convs.<j>, e.g. {_example_shapes(own)}. Use the authors' "
            "vae_finetuned/ folder unchanged, or pass allow_partial=True (--allow-partial) to load the matching "
            "tensors and keep the rest as initialised."
        )
    usable = {k: v for k, v in renamed.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    vae.load_state_dict(usable, strict=False, assign=any(t.is_meta for t in own.values()))
    return report


def _problems(report: LoadReport, limit: int = 5) -> str:
    """A few examples of each kind of mismatch in a report."""
    parts = []
    if report.missing:
        parts.append(f"missing {', '.join(report.missing[:limit])}")
    if report.unexpected:
        parts.append(f"unexpected {', '.join(report.unexpected[:limit])}")
    if report.mismatched:
        parts.append("wrong shape " + ", ".join(f"{k} (expected {e}, found {g})"
                                                for k, e, g in report.mismatched[:limit]))
    return "; ".join(parts)


def _example_shapes(own: dict[str, torch.Tensor]) -> str:
    """Two representative expected entries (a temporal conv and the mid-block query) for error messages."""
    keys = [k for k in own if k.endswith("temp_convs.0.convs.3.weight")][:1]
    keys += [k for k in own if k.endswith("attentions.0.to_q.weight")][:1]
    return ", ".join(f"{k} {tuple(own[k].shape)}" for k in keys)


def read_vae_folder(folder: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor], Path]:
    """config.json, state dict and weights path of a diffusers-style VAE folder; WeightsError if unreadable."""
    folder = Path(folder)
    config_path = folder / "config.json"
    weights = next((folder / n for n in VAE_WEIGHT_NAMES if (folder / n).is_file()), None)
    if not config_path.is_file() or weights is None:
        raise WeightsError(
            f"The temporal VAE folder {folder} must hold config.json and {VAE_WEIGHT_NAMES[0]} (the authors' "
            "vae_finetuned/ from the ReuseAndDiffuse README). Place that folder there, or generate without the "
            "fine-tuned VAE (the SD 2.1 VAE is then inflated with zero-initialised temporal layers)."
        )
    state = None if weights.suffix == ".safetensors" else load_tensors_only(weights)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if state is None:
            from safetensors.torch import load_file
            state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - any read failure becomes one user-facing message
        raise WeightsError(f"Cannot read the temporal VAE from {folder} ({type(exc).__name__}: {exc}). "
                           "Re-download vae_finetuned/ from the authors' README; the files look damaged.") from exc
    return config, state, weights


def load_temporal_vae(folder: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                      allow_partial: bool = False) -> tuple[TemporalAutoencoderKL, LoadReport]:
    """Build the temporal VAE from `vae_finetuned/` (config.json + diffusion_pytorch_model.bin) and load its weights."""
    config, state, weights = read_vae_folder(folder)
    with torch.device("meta"):
        vae = TemporalAutoencoderKL.from_config_dict(config)
    report = apply_vae_state_dict(vae, state, str(weights), allow_partial=allow_partial)
    _materialise_missing(vae)
    return move(vae, device, dtype).eval(), report


def _materialise_missing(vae: TemporalAutoencoderKL) -> None:
    """Give tensors a partial load left on the meta device fresh default initialisations (temporal: zero residual)."""
    left = [k for k, v in vae.state_dict().items() if v.is_meta]
    if left:
        fresh = TemporalAutoencoderKL.from_config_dict(dict(vae.config)).state_dict()
        vae.load_state_dict({k: fresh[k] for k in left}, strict=False, assign=True)
