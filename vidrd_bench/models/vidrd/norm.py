"""GroupNorm from per-channel statistics: the same normalisation, with a reduction that suits channels-last video.

nn.GroupNorm reduces C/G x F x H x W elements per (batch, group). With channels-last activations those elements
are strided, and inside the compiled UNet those reductions (fused with the ops around them) were slow: this form
took the batch-16 guided UNet call on an H100 from 179.8 to 166.4 ms (benchmarks/README.md). Here each channel's
mean and variance come first (a reduction over frames and pixels with the contiguous channel axis across threads),
then the G groups are combined exactly with the parallel-axis rule:
var_group = mean(var_channel) + mean((mean_channel - mean_group)^2), every channel holding the same count.
"""

from __future__ import annotations

import torch
from torch import nn


def channel_stats_group_norm(x: torch.Tensor, num_groups: int, weight: torch.Tensor | None,
                             bias: torch.Tensor | None, eps: float) -> torch.Tensor:
    """F.group_norm(x, num_groups, weight, bias, eps) for (B, C, *spatial) x, statistics in float32."""
    b, c = x.shape[:2]
    if c % num_groups:
        raise ValueError(f"GroupNorm: {c} channels are not divisible into {num_groups} groups")
    var_c, mean_c = torch.var_mean(x.float(), dim=tuple(range(2, x.ndim)), correction=0)
    mean_c, var_c = mean_c.view(b, num_groups, -1), var_c.view(b, num_groups, -1)
    mean_g = mean_c.mean(-1, keepdim=True)
    var_g = (var_c + (mean_c - mean_g).square()).mean(-1, keepdim=True)
    rstd = torch.rsqrt(var_g + eps)
    per_group = (b, num_groups, c // num_groups)
    mean = mean_g.expand(per_group).reshape(b, c)
    scale = rstd.expand(per_group).reshape(b, c)
    if weight is not None:
        scale = scale * weight.float()
    shape = (b, c) + (1,) * (x.ndim - 2)
    out = (x.float() - mean.view(shape)) * scale.view(shape)
    if bias is not None:
        out = out + bias.float().view(c, *shape[2:])
    return out.to(x.dtype)


class ChannelStatsGroupNorm(nn.GroupNorm):
    """nn.GroupNorm (same parameters and names) computed by `channel_stats_group_norm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise (B, C, *spatial) over C/G channels and every spatial position per group."""
        return channel_stats_group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


def use_channel_stats_norms(module: nn.Module) -> int:
    """Turn every plain nn.GroupNorm inside `module` into a ChannelStatsGroupNorm in place; returns how many."""
    count = 0
    for sub in module.modules():
        if type(sub) is nn.GroupNorm:
            sub.__class__ = ChannelStatsGroupNorm
            count += 1
    return count
