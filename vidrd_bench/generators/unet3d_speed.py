"""ModelScope's video UNet (diffusers `UNet3DConditionModel`) run in the layout that made the VidRD UNet fast.

The same weights and the same math as diffusers' modules (tests/generators/test_unet3d_speed.py compares them); what
changes is where the data lies and which reductions Inductor is given (benchmarks/README.md has the VidRD figures
that chose each one):
- every GroupNorm from per-channel statistics (models.vidrd.norm): per frame in the ResNets and spatial
  transformers, over all frames in Temp-Conv and the temporal transformer;
- Temp-Conv (`TemporalConvLayer`): Conv3d weights channels-last-3d, so diffusers' (B, C, F, H, W) view of
  channels-last frames (B*F, H, W, C in memory) is free and cuDNN runs its NDHWC kernels on it;
- the temporal transformer (`TransformerTemporalModel`): tokens kept as (B, F, H*W, C), a free view of channels-last
  frames, instead of diffusers' (B*H*W, F, C) copy and the `.contiguous()` copy back; under torch.compile its
  self-attentions across frames are broadcast sums (models.vidrd.temporal.frame_self_attention), which Inductor fuses,
  instead of SDPA padding F = 16 queries to a 64-row tile.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from diffusers.models.resnet import TemporalConvLayer
from diffusers.models.transformers.transformer_temporal import (TransformerTemporalModel,
                                                                TransformerTemporalModelOutput)
from torch import nn

from vidrd_bench.models.vidrd.norm import use_channel_stats_norms
from vidrd_bench.models.vidrd.temporal import frame_self_attention


def _plain_attention(attn: Attention) -> bool:
    """An Attention that is q/k/v -> SDPA -> to_out and nothing else (what frame_attention computes)."""
    return (type(attn.processor) is AttnProcessor2_0 and attn.norm_q is None and attn.norm_k is None
            and attn.spatial_norm is None and attn.group_norm is None and not attn.residual_connection
            and attn.rescale_output_factor == 1.0 and not attn.is_cross_attention)


def _plain_block(block: nn.Module) -> bool:
    """A temporal BasicTransformerBlock this module can run: LayerNorms, two self-attentions, feed-forward."""
    return (type(block) is BasicTransformerBlock and block.norm_type == "layer_norm" and block.pos_embed is None
            and not block.only_cross_attention and block._chunk_size is None and block.attn2 is not None
            and _plain_attention(block.attn1) and _plain_attention(block.attn2))


def frame_block(block: BasicTransformerBlock, x: torch.Tensor) -> torch.Tensor:
    """diffusers' temporal BasicTransformerBlock (double self-attention, no text) on (B, F, N, C) tokens."""
    x = frame_self_attention(block.attn1, block.norm1(x)) + x
    x = frame_self_attention(block.attn2, block.norm2(x)) + x
    return block.ff(block.norm3(x)) + x


class FrameMajorTransformerTemporal(TransformerTemporalModel):
    """TransformerTemporalModel (same parameters) on frame-major tokens: no transposes of the activation."""

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                timestep: torch.LongTensor | None = None, class_labels: torch.LongTensor | None = None,
                num_frames: int = 1, cross_attention_kwargs: dict[str, Any] | None = None,
                return_dict: bool = True) -> TransformerTemporalModelOutput | tuple[torch.Tensor]:
        """(B*F, C, H, W) frames -> the same, with attention across frames at every position (residual added)."""
        if encoder_hidden_states is not None or timestep is not None or class_labels is not None:
            return super().forward(hidden_states, encoder_hidden_states, timestep, class_labels, num_frames,
                                   cross_attention_kwargs, return_dict)
        bf, c, h, w = hidden_states.shape
        b = bf // num_frames
        video = hidden_states.reshape(b, num_frames, c, h, w).transpose(1, 2)
        x = self.norm(video).permute(0, 2, 3, 4, 1).reshape(b, num_frames, h * w, c)
        x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = frame_block(block, x)
        x = self.proj_out(x).reshape(bf, h, w, c).permute(0, 3, 1, 2)
        output = x + hidden_states
        return TransformerTemporalModelOutput(sample=output) if return_dict else (output,)


def rewrite_unet3d(unet: nn.Module) -> dict[str, int]:
    """Turn a diffusers UNet3DConditionModel's modules into the forms above, in place (parameters untouched);
    returns how many of each changed. A temporal transformer with other block options keeps diffusers' forward."""
    temporal = [m for m in unet.modules() if type(m) is TransformerTemporalModel
                and all(_plain_block(b) for b in m.transformer_blocks)]
    for module in temporal:
        module.__class__ = FrameMajorTransformerTemporal
    convs = [m for t in unet.modules() if isinstance(t, TemporalConvLayer)
             for m in t.modules() if isinstance(m, nn.Conv3d)]
    for conv in convs:
        conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last_3d)
    return {"group_norms": use_channel_stats_norms(unet), "temporal_transformers": len(temporal),
            "temporal_convs": len(convs)}
