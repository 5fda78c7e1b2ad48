"""VidRD's temporal layers (Temp-Conv, Temp-Attn with a sinusoidal frame embedding) and the video transformer.

Layout conventions shared with `unet3d`: a video activation is (B, C, F, H, W); 2D layers see it with frames
folded into the batch as (B*F, C, H, W), batch-major (frame index fastest), as in the authors' release.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import Attention
from torch import nn

TEMP_CONV_GROUPS = 32  # the release fixes Temp-Conv's GroupNorm at 32 groups, whatever the UNet's norm_num_groups


def fold_frames(x: torch.Tensor) -> torch.Tensor:
    """(B, C, F, H, W) -> (B*F, C, H, W), so 2D layers run on every frame independently."""
    b, c, f, h, w = x.shape
    return x.transpose(1, 2).reshape(b * f, c, h, w)


def unfold_frames(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(B*F, C, H, W) -> (B, C, F, H, W), the inverse of `fold_frames`."""
    bf, c, h, w = x.shape
    return x.reshape(bf // num_frames, num_frames, c, h, w).transpose(1, 2)


def conv_per_frame(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2D module (conv, Downsample2D) to every frame of a (B, C, F, H, W) video."""
    return unfold_frames(conv(fold_frames(x)), x.shape[2])


@torch.compiler.assume_constant_result
def frame_position_embedding(num_frames: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Sinusoidal embedding of frame indices, (F, dim), sin/cos interleaved as in the release (Transformer style).

    Computed in float32 on `device` and cast. Under torch.compile it is a constant of the graph: traced as
    arithmetic, Inductor recomputed exp/sin/cos for every element inside Temp-Attn's LayerNorm kernel.
    """
    if dim % 2:
        raise ValueError(f"the frame position embedding needs an even channel count, got {dim}")
    position = torch.arange(num_frames, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    angles = position * freq
    return torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(num_frames, dim).to(dtype)


def frame_attention(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """Temp-Attn's attention (diffusers `Attention` weights) across the F frames of (B, F, N, C) tokens, in place.

    The compiled path. With 8 frames a flash kernel pads 8 queries to its 64-row tile and needs the frames moved
    next to each other (~260 GB/s on an H100). Here q/k/v come from one GEMM on the tokens as they lie; the scores
    are a short reduction over the head dim, and the weighted sum over the F frames is written out term by term,
    so Inductor makes it one pointwise kernel; all in float32, with no transposes. Eager code calls `attn` itself
    (SDPA), which this equals within bf16 rounding.
    """
    b, f, n, c = x.shape
    shape = (b, f, n, attn.heads, c // attn.heads)
    weight = torch.cat([attn.to_q.weight, attn.to_k.weight, attn.to_v.weight])
    bias = None if attn.to_q.bias is None else torch.cat([attn.to_q.bias, attn.to_k.bias, attn.to_v.bias])
    q, k, v = (t.reshape(shape).float() for t in F.linear(x, weight, bias).split(c, dim=-1))
    out = frame_softmax_attention(q, k, v, attn.scale)
    return attn.to_out[1](attn.to_out[0](out.to(x.dtype).reshape(b, f, n, c)))


def frame_self_attention(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """Self-attention across the F frames of (B, F, N, C) tokens: frame_attention's broadcast sums when compiling,
    else the module itself (SDPA) on (B*N, F, C) sequences."""
    if torch.compiler.is_compiling():
        return frame_attention(attn, x)
    b, f, n, c = x.shape
    out = attn(x.transpose(1, 2).reshape(b * n, f, c))
    return out.reshape(b, n, f, -1).transpose(1, 2)


def frame_softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """Softmax attention across dim 1 (frames) of (B, F, N, heads, d) tensors, in the form Inductor fuses well:
    scores reduced over d, the weighted sum over the F frames written out term by term."""
    probs = ((q.unsqueeze(2) * k.unsqueeze(1)).sum(-1) * scale).softmax(dim=2)
    return sum(probs[:, :, j, :, :, None] * v[:, None, j] for j in range(q.shape[1]))


class TemporalConvLayer(nn.Module):
    """Temp-Conv: 4 x [GroupNorm -> SiLU -> Dropout -> Conv3d (3,1,1)] on (B, C, F, H, W), residual added.

    GroupNorm statistics span all frames (the 5D tensor). The last conv starts at zero, so a new layer is
    the identity; with a single frame the layer is skipped (the release adds 0 x its output there).
    Parameter names match the release: `convs.<j>` in one flat sequence (norms at 0/4/8/12, convs at 3/7/11/15).
    """

    def __init__(self, channels: int, num_groups: int = TEMP_CONV_GROUPS, dropout: float = 0.1,
                 num_layers: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(num_layers):
            layers += [
                nn.GroupNorm(num_groups, channels),
                nn.SiLU(),
                nn.Dropout(dropout),
                nn.Conv3d(channels, channels, kernel_size=(3, 1, 1), padding=(1, 0, 0)),
            ]
        self.convs = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fresh initialisation: PyTorch defaults, last conv zero (the layer starts as the identity)."""
        for layer in self.convs:
            if isinstance(layer, (nn.GroupNorm, nn.Conv3d)):
                layer.reset_parameters()
        nn.init.zeros_(self.convs[-1].weight)
        nn.init.zeros_(self.convs[-1].bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Residual temporal mixing; identity when the clip has one frame."""
        if hidden_states.shape[2] == 1:
            return hidden_states
        return hidden_states + self.convs(hidden_states)


class VideoTransformerBlock(BasicTransformerBlock):
    """SD's transformer block with VidRD's Temp-Attn: self-attn -> cross-attn -> temporal attn -> feed-forward.

    Temporal attention: optionally add the sinusoidal frame embedding to the residual stream (it stays there,
    as in the release), LayerNorm (`temp_norm`), self-attention across the F frames of each spatial position
    (`temp_attn`, no q/k/v bias, output projection zero-initialised), residual added. Skipped for one frame.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        cross_attention_dim: int,
        temp_attn_head_dim: int,
        add_temp_embed: bool,
        upcast_attention: bool = False,
    ) -> None:
        super().__init__(
            dim, num_heads, dim // num_heads, cross_attention_dim=cross_attention_dim,
            activation_fn="geglu", upcast_attention=upcast_attention,
        )
        if dim % temp_attn_head_dim:
            raise ValueError(f"temporal attention: {dim} channels are not a multiple of head dim {temp_attn_head_dim}")
        self.add_temp_embed = add_temp_embed
        self.temp_norm = nn.LayerNorm(dim)
        self.temp_attn = Attention(
            query_dim=dim, heads=dim // temp_attn_head_dim, dim_head=temp_attn_head_dim,
            bias=False, upcast_attention=upcast_attention,
        )
        self.reset_temporal_parameters()

    def reset_temporal_parameters(self) -> None:
        """Fresh Temp-Attn: PyTorch defaults for temp_norm and q/k/v, output projection zero (starts as identity)."""
        self.temp_norm.reset_parameters()
        for layer in (self.temp_attn.to_q, self.temp_attn.to_k, self.temp_attn.to_v, self.temp_attn.to_out[0]):
            layer.reset_parameters()
        nn.init.zeros_(self.temp_attn.to_out[0].weight)
        nn.init.zeros_(self.temp_attn.to_out[0].bias)

    def forward(
        self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor, num_frames: int
    ) -> torch.Tensor:
        """hidden_states (B*F, N, C) tokens of every frame; encoder_hidden_states (B, L, D), shared by frames."""
        bf, n, c = hidden_states.shape
        batch = bf // num_frames
        hidden_states = self.attn1(self.norm1(hidden_states)) + hidden_states
        # Cross-attention is per query, so the F frames of a video share one key/value set: (B, F*N, C) queries.
        per_video = hidden_states.reshape(batch, num_frames * n, c)
        per_video = self.attn2(self.norm2(per_video), encoder_hidden_states=encoder_hidden_states) + per_video
        hidden_states = per_video.reshape(bf, n, c)
        if num_frames > 1:
            hidden_states = self.temporal_attention(hidden_states, num_frames)
        return self.ff(self.norm3(hidden_states)) + hidden_states

    def temporal_attention(self, hidden_states: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Temp-Attn over the frame axis at every spatial position of (B*F, N, C) tokens."""
        bf, n, c = hidden_states.shape
        video = hidden_states.reshape(bf // num_frames, num_frames, n, c)
        if self.add_temp_embed:
            pe = frame_position_embedding(num_frames, c, hidden_states.device, hidden_states.dtype)
            video = video + pe[None, :, None, :]
        out = frame_self_attention(self.temp_attn, self.temp_norm(video))
        return (video + out).reshape(bf, n, c)


class Transformer3DModel(nn.Module):
    """SD's spatial transformer run on every frame (its GroupNorm per frame, as in the release) with Temp-Attn inside.

    Parameter names follow diffusers' Transformer2DModel: norm, proj_in, transformer_blocks.0, proj_out.
    """

    def __init__(
        self,
        channels: int,
        num_heads: int,
        cross_attention_dim: int,
        num_groups: int,
        use_linear_projection: bool,
        temp_attn_head_dim: int,
        add_temp_embed: bool,
        upcast_attention: bool = False,
    ) -> None:
        super().__init__()
        self.use_linear_projection = use_linear_projection
        self.norm = nn.GroupNorm(num_groups, channels, eps=1e-6)
        if use_linear_projection:
            self.proj_in: nn.Module = nn.Linear(channels, channels)
            self.proj_out: nn.Module = nn.Linear(channels, channels)
        else:
            self.proj_in = nn.Conv2d(channels, channels, kernel_size=1)
            self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)
        self.transformer_blocks = nn.ModuleList([
            VideoTransformerBlock(channels, num_heads, cross_attention_dim, temp_attn_head_dim,
                                  add_temp_embed, upcast_attention)
        ])

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, C, F, H, W) video, (B, L, D) text context -> (B, C, F, H, W)."""
        num_frames = hidden_states.shape[2]
        residual = fold_frames(hidden_states)
        bf, c, h, w = residual.shape
        x = self.norm(residual)
        if self.use_linear_projection:
            x = self.proj_in(x.permute(0, 2, 3, 1).reshape(bf, h * w, c))
        else:
            x = self.proj_in(x).permute(0, 2, 3, 1).reshape(bf, h * w, c)
        for block in self.transformer_blocks:
            x = block(x, encoder_hidden_states, num_frames)
        if self.use_linear_projection:
            x = self.proj_out(x).reshape(bf, h, w, c).permute(0, 3, 1, 2)
        else:
            x = self.proj_out(x.reshape(bf, h, w, c).permute(0, 3, 1, 2))
        return unfold_frames(x + residual, num_frames)
