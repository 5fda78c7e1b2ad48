"""VidRD's video UNet: the SD 2.1 UNet run per frame with joint-frame GroupNorm, plus Temp-Conv and Temp-Attn.

Parameter names equal the authors' release (diffusers 0.14 module tree), which equal diffusers' 2D UNet names
plus `temp_convs.*` and `transformer_blocks.0.temp_{norm,attn}.*`; `from_unet2d` inflates an SD UNet.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import ConfigMixin, ModelMixin, UNet2DConditionModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.downsampling import Downsample2D
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D
from torch import nn

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.models.vidrd.norm import use_channel_stats_norms
from vidrd_bench.models.vidrd.temporal import (
    TemporalConvLayer,
    Transformer3DModel,
    VideoTransformerBlock,
    conv_per_frame,
    fold_frames,
    unfold_frames,
)

DOWN_BLOCK_TYPES = {
    "CrossAttnDownBlock2D": True, "CrossAttnDownBlock3D": True, "DownBlock2D": False, "DownBlock3D": False,
}
UP_BLOCK_TYPES = {"CrossAttnUpBlock2D": True, "CrossAttnUpBlock3D": True, "UpBlock2D": False, "UpBlock3D": False}
MID_BLOCK_TYPES = ("UNetMidBlock2DCrossAttn", "UNetMidBlock3DCrossAttn")

# UNet2DConditionModel options the VidRD architecture does not have: they must keep these values.
UNSUPPORTED_2D_OPTIONS: dict[str, Any] = {
    "center_input_sample": False, "only_cross_attention": False, "dual_cross_attention": False,
    "class_embed_type": None, "num_class_embeds": None, "addition_embed_type": None,
    "resnet_time_scale_shift": "default", "time_embedding_type": "positional", "transformer_layers_per_block": 1,
    "encoder_hid_dim": None, "time_cond_proj_dim": None, "conv_in_kernel": 3, "conv_out_kernel": 3,
    "attention_type": "default", "resnet_skip_time_act": False, "resnet_out_scale_factor": 1.0,
    "timestep_post_act": None, "time_embedding_dim": None, "time_embedding_act_fn": None, "dropout": 0.0,
    "reverse_transformer_layers_per_block": None, "mid_block_only_cross_attention": None,
}


@dataclass(frozen=True)
class LayerSpec:
    """Settings every block shares: norms, attention and the temporal layers' options."""

    groups: int
    eps: float
    act_fn: str
    cross_attention_dim: int
    use_linear_projection: bool
    upcast_attention: bool
    add_temp_embed: bool
    add_temp_conv: bool
    temp_attn_head_dim: int
    temp_dropout: float

    def resnet(self, in_channels: int, out_channels: int, temb_channels: int, scale: float = 1.0) -> ResnetBlock3D:
        """A per-frame ResNet block with joint-frame GroupNorm."""
        return ResnetBlock3D(in_channels=in_channels, out_channels=out_channels, temb_channels=temb_channels,
                             eps=self.eps, groups=self.groups, non_linearity=self.act_fn, output_scale_factor=scale)

    def transformer(self, channels: int, heads: int) -> Transformer3DModel:
        """A per-frame spatial transformer with Temp-Attn inside."""
        return Transformer3DModel(channels, heads, self.cross_attention_dim, self.groups, self.use_linear_projection,
                                  self.temp_attn_head_dim, self.add_temp_embed, self.upcast_attention)

    def temp_convs(self, channels: int, count: int) -> nn.ModuleList | None:
        """`count` Temp-Conv layers (one after each ResNet block), or None when add_temp_conv is off."""
        if not self.add_temp_conv:
            return None
        return nn.ModuleList(TemporalConvLayer(channels, dropout=self.temp_dropout) for _ in range(count))


class ResnetBlock3D(ResnetBlock2D):
    """diffusers' ResNet block on (B, C, F, H, W): convs per frame, GroupNorm statistics over all frames."""

    def forward(self, input_tensor: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """ResNet block with the time embedding (B, T) broadcast over frames."""
        hidden = conv_per_frame(self.conv1, self.nonlinearity(self.norm1(input_tensor)))
        hidden = hidden + self.time_emb_proj(self.nonlinearity(temb))[:, :, None, None, None]
        hidden = self.dropout(self.nonlinearity(self.norm2(hidden)))
        hidden = conv_per_frame(self.conv2, hidden)
        if self.conv_shortcut is not None:
            input_tensor = conv_per_frame(self.conv_shortcut, input_tensor)
        return (input_tensor + hidden) / self.output_scale_factor


def _temporal(temp_convs: nn.ModuleList | None, index: int, hidden: torch.Tensor) -> torch.Tensor:
    """Apply the index-th Temp-Conv if the block has them."""
    return hidden if temp_convs is None else temp_convs[index](hidden)


class DownBlock3D(nn.Module):
    """A down block: per layer ResNet -> Temp-Conv -> (transformer), then an optional strided conv."""

    def __init__(self, spec: LayerSpec, in_ch: int, out_ch: int, temb_ch: int, layers: int, heads: int | None,
                 add_downsample: bool, downsample_padding: int) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(spec.resnet(in_ch if i == 0 else out_ch, out_ch, temb_ch) for i in range(layers))
        self.temp_convs = spec.temp_convs(out_ch, layers)
        self.attentions = None if heads is None else nn.ModuleList(
            spec.transformer(out_ch, heads) for _ in range(layers))
        self.downsamplers = nn.ModuleList([
            Downsample2D(out_ch, use_conv=True, out_channels=out_ch, padding=downsample_padding, name="op")
        ]) if add_downsample else None

    def forward(self, hidden: torch.Tensor, temb: torch.Tensor, context: torch.Tensor
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Returns the block output and the skip activations for the up path."""
        skips = []
        for i, resnet in enumerate(self.resnets):
            hidden = _temporal(self.temp_convs, i, resnet(hidden, temb))
            if self.attentions is not None:
                hidden = self.attentions[i](hidden, context)
            skips.append(hidden)
        if self.downsamplers is not None:
            hidden = conv_per_frame(self.downsamplers[0], hidden)
            skips.append(hidden)
        return hidden, skips


class MidBlock3D(nn.Module):
    """The mid block: ResNet -> Temp-Conv -> transformer -> ResNet -> Temp-Conv."""

    def __init__(self, spec: LayerSpec, channels: int, temb_ch: int, heads: int, scale: float) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(spec.resnet(channels, channels, temb_ch, scale) for _ in range(2))
        self.temp_convs = spec.temp_convs(channels, 2)
        self.attentions = nn.ModuleList([spec.transformer(channels, heads)])

    def forward(self, hidden: torch.Tensor, temb: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Apply the mid block to a (B, C, F, H, W) video."""
        hidden = _temporal(self.temp_convs, 0, self.resnets[0](hidden, temb))
        hidden = self.attentions[0](hidden, context)
        return _temporal(self.temp_convs, 1, self.resnets[1](hidden, temb))


class UpBlock3D(nn.Module):
    """An up block: per layer concat skip -> ResNet -> Temp-Conv -> (transformer), then optional 2x upsampling."""

    def __init__(self, spec: LayerSpec, in_ch: int, out_ch: int, prev_ch: int, temb_ch: int, layers: int,
                 heads: int | None, add_upsample: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(
            spec.resnet((prev_ch if i == 0 else out_ch) + (in_ch if i == layers - 1 else out_ch), out_ch, temb_ch)
            for i in range(layers))
        self.temp_convs = spec.temp_convs(out_ch, layers)
        self.attentions = None if heads is None else nn.ModuleList(
            spec.transformer(out_ch, heads) for _ in range(layers))
        self.upsamplers = nn.ModuleList(
            [Upsample2D(out_ch, use_conv=True, out_channels=out_ch)]) if add_upsample else None

    def forward(self, hidden: torch.Tensor, skips: list[torch.Tensor], temb: torch.Tensor, context: torch.Tensor,
                upsample_size: tuple[int, int] | None) -> torch.Tensor:
        """Consume this block's skips (last first) and upsample to `upsample_size` or 2x."""
        for i, resnet in enumerate(self.resnets):
            hidden = torch.cat([hidden, skips[-1 - i]], dim=1)
            hidden = _temporal(self.temp_convs, i, resnet(hidden, temb))
            if self.attentions is not None:
                hidden = self.attentions[i](hidden, context)
        if self.upsamplers is not None:
            frames = hidden.shape[2]
            hidden = unfold_frames(self.upsamplers[0](fold_frames(hidden), upsample_size), frames)
        return hidden


class UNet3DConditionModel(ModelMixin, ConfigMixin):
    """VidRD's video UNet; `forward(sample (B,C,F,H,W), timestep, encoder_hidden_states (B,L,D))` -> noise (B,C,F,H,W).

    Config keys: those of diffusers' UNet2DConditionModel that SD 2.1 uses (block types may be given with 2D or
    3D names; `attention_head_dim` is the number of heads, diffusers' legacy naming) plus the temporal options.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 4,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        mid_block_type: str = "UNetMidBlock2DCrossAttn",
        up_block_types: tuple[str, ...] = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        attention_head_dim: int | tuple[int, ...] = (5, 10, 20, 20),
        cross_attention_dim: int = 1024,
        use_linear_projection: bool = True,
        upcast_attention: bool = False,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        act_fn: str = "silu",
        downsample_padding: int = 1,
        mid_block_scale_factor: float = 1.0,
        add_temp_embed: bool = True,
        add_temp_conv: bool = True,
        temp_attn_head_dim: int = 64,
        temp_dropout: float = 0.1,
    ) -> None:
        super().__init__()
        _check_block_types(down_block_types, up_block_types, mid_block_type, len(block_out_channels))
        heads = [attention_head_dim] * len(block_out_channels) if isinstance(attention_head_dim, int) \
            else list(attention_head_dim)
        spec = LayerSpec(norm_num_groups, norm_eps, act_fn, cross_attention_dim, use_linear_projection,
                         upcast_attention, add_temp_embed, add_temp_conv, temp_attn_head_dim, temp_dropout)
        chans = list(block_out_channels)
        temb_ch = chans[0] * 4
        self.conv_in = nn.Conv2d(in_channels, chans[0], kernel_size=3, padding=1)
        self.time_proj = Timesteps(chans[0], flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(chans[0], temb_ch, act_fn=act_fn)
        self.down_blocks = nn.ModuleList(
            DownBlock3D(spec, chans[max(i - 1, 0)], chans[i], temb_ch, layers_per_block,
                        heads[i] if DOWN_BLOCK_TYPES[kind] else None, i < len(chans) - 1, downsample_padding)
            for i, kind in enumerate(down_block_types))
        self.mid_block = MidBlock3D(spec, chans[-1], temb_ch, heads[-1], mid_block_scale_factor)
        rchans, rheads = chans[::-1], heads[::-1]
        self.up_blocks = nn.ModuleList(
            UpBlock3D(spec, rchans[min(i + 1, len(chans) - 1)], rchans[i], rchans[max(i - 1, 0)], temb_ch,
                      layers_per_block + 1, rheads[i] if UP_BLOCK_TYPES[kind] else None, i < len(chans) - 1)
            for i, kind in enumerate(up_block_types))
        self.num_upsamplers = len(chans) - 1
        self.conv_norm_out = nn.GroupNorm(norm_num_groups, chans[0], eps=norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(chans[0], out_channels, kernel_size=3, padding=1)
        self.activation_format = torch.contiguous_format
        use_channel_stats_norms(self)

    def set_channels_last(self, enabled: bool = True) -> None:
        """Keep activations and conv weights channels-last (B,F,H,W,C in memory): frame folding is then a free view
        and every conv sees NHWC inputs and weights, with no per-call layout conversion; numerics are unchanged."""
        self.activation_format = torch.channels_last_3d if enabled else torch.contiguous_format
        conv_weights_channels_last(self, enabled)

    @classmethod
    def from_unet2d(cls, unet2d: UNet2DConditionModel, add_temp_embed: bool = True, add_temp_conv: bool = True,
                    temp_attn_head_dim: int = 64, temp_dropout: float = 0.1) -> UNet3DConditionModel:
        """Inflate an SD UNet: every 2D weight copied, temporal layers new (their outputs zero-initialised).

        Built on the meta device and filled from `unet2d`, so the 2D half is never randomly initialised.
        """
        kwargs = unet3d_kwargs_from_2d(dict(unet2d.config))
        with torch.device("meta"):
            model = cls(**kwargs, add_temp_embed=add_temp_embed, add_temp_conv=add_temp_conv,
                        temp_attn_head_dim=temp_attn_head_dim, temp_dropout=temp_dropout)
        weights = {k: v.detach().clone() for k, v in unet2d.state_dict().items()}
        missing, unexpected = model.load_state_dict(weights, strict=False, assign=True)
        not_temporal = [k for k in missing if ".temp_" not in k]
        if not_temporal or unexpected:
            raise WeightsError(
                f"The 2D UNet does not map onto the video UNet: {len(not_temporal)} 2D parameters missing "
                f"(e.g. {not_temporal[:3]}) and {len(unexpected)} unexpected (e.g. {list(unexpected)[:3]}). "
                "Use an SD 2.x UNet (diffusers UNet2DConditionModel) with the standard block layout.")
        param = next(unet2d.parameters())
        model.init_temporal_layers(param.device)
        if param.dtype != torch.float32:
            model = model.to(dtype=param.dtype)
        return model.train(unet2d.training)

    def init_temporal_layers(self, device: torch.device | str) -> None:
        """(Re)create every Temp-Conv and Temp-Attn parameter on `device` with its fresh initialisation."""
        for module in self.modules():
            if isinstance(module, TemporalConvLayer):
                module.to_empty(device=device)
                module.reset_parameters()
            elif isinstance(module, VideoTransformerBlock):
                module.temp_norm.to_empty(device=device)
                module.temp_attn.to_empty(device=device)
                module.reset_temporal_parameters()

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | int | float,
                encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """Predict noise for (B, C, F, H, W) latents at `timestep` (scalar or (B,)) given (B, L, D) text states.

        In hot loops pass `timestep` as a tensor on the sample's device: a Python number is copied to the device
        on every call (and is a constant that torch.compile specialises on).
        """
        if sample.ndim != 5:
            raise ValueError(f"sample must be (B, C, F, H, W), got shape {tuple(sample.shape)}")
        dtype = self.conv_in.weight.dtype
        emb = self.time_embedding(self.time_proj(self._timesteps(timestep, sample)).to(dtype))
        context = encoder_hidden_states.to(dtype)
        hidden = conv_per_frame(self.conv_in, sample.to(dtype).contiguous(memory_format=self.activation_format))
        skips = [hidden]
        for block in self.down_blocks:
            hidden, block_skips = block(hidden, emb, context)
            skips.extend(block_skips)
        hidden = self.mid_block(hidden, emb, context)
        factor = 2 ** self.num_upsamplers
        forward_size = sample.shape[-2] % factor != 0 or sample.shape[-1] % factor != 0
        for i, block in enumerate(self.up_blocks):
            count = len(block.resnets)
            block_skips, skips = skips[-count:], skips[:-count]
            size = tuple(skips[-1].shape[-2:]) if forward_size and i < len(self.up_blocks) - 1 else None
            hidden = block(hidden, block_skips, emb, context, size)
        hidden = self.conv_act(self.conv_norm_out(hidden))
        return conv_per_frame(self.conv_out, hidden).contiguous()

    @staticmethod
    def _timesteps(timestep: torch.Tensor | int | float, sample: torch.Tensor) -> torch.Tensor:
        """Timesteps as a (B,) tensor on the sample's device; shape logic only, no host sync."""
        if not torch.is_tensor(timestep):
            dtype = torch.float32 if isinstance(timestep, float) else torch.int64
            timestep = torch.tensor([timestep], dtype=dtype, device=sample.device)
        return timestep.to(sample.device).reshape(-1).expand(sample.shape[0])


def conv_weights_channels_last(module: nn.Module, enabled: bool = True) -> None:
    """Store every Conv2d/Conv3d weight under `module` channels-last (or back to contiguous): with channels-last
    activations cuDNN then runs NHWC kernels with no per-call layout conversion; values are unchanged."""
    for conv in module.modules():
        if isinstance(conv, (nn.Conv2d, nn.Conv3d)):
            layout = torch.contiguous_format if not enabled else (
                torch.channels_last if isinstance(conv, nn.Conv2d) else torch.channels_last_3d)
            conv.weight.data = conv.weight.data.contiguous(memory_format=layout)


def _check_block_types(down: tuple[str, ...], up: tuple[str, ...], mid: str, levels: int) -> None:
    """Refuse block layouts the VidRD UNet cannot build."""
    unknown = [t for t in down if t not in DOWN_BLOCK_TYPES] + [t for t in up if t not in UP_BLOCK_TYPES]
    if mid not in MID_BLOCK_TYPES:
        unknown.append(mid)
    if unknown or len(down) != levels or len(up) != levels:
        raise WeightsError(
            f"Unsupported UNet block layout: unknown block types {unknown}, {len(down)} down / {len(up)} up blocks "
            f"for {levels} channel levels. The video UNet supports {sorted(DOWN_BLOCK_TYPES)} down, "
            f"{sorted(UP_BLOCK_TYPES)} up and {list(MID_BLOCK_TYPES)} mid blocks, one per level: "
            "use an SD 1.x/2.x UNet config.")


def unet3d_kwargs_from_2d(config: dict[str, Any]) -> dict[str, Any]:
    """The video UNet's 2D constructor arguments from a UNet2DConditionModel config; refuse features it lacks."""
    bad = {k: config[k] for k, v in UNSUPPORTED_2D_OPTIONS.items() if k in config and config[k] != v
           and not (k == "transformer_layers_per_block" and _all_ones(config[k]))}
    if bad:
        raise WeightsError(
            f"The UNet config uses options the VidRD video UNet does not have: {bad}. "
            "Use the Stable Diffusion 2.1-base UNet (or a UNet with the same architecture).")
    config = dict(config)
    if config.get("num_attention_heads") is not None:
        config["attention_head_dim"] = config["num_attention_heads"]
    accepted = set(inspect.signature(UNet3DConditionModel.__init__).parameters) - {"self"}
    temporal = {"add_temp_embed", "add_temp_conv", "temp_attn_head_dim", "temp_dropout"}
    return {k: v for k, v in config.items() if k in accepted - temporal}


def _all_ones(value: Any) -> bool:
    """True for 1 or a sequence of 1s (diffusers' per-block transformer depth)."""
    return value == 1 or (isinstance(value, (list, tuple)) and all(v == 1 for v in value))
