"""Per-channel-statistics GroupNorm against torch's own GroupNorm (float64 reference)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidrd_bench.models.vidrd.norm import ChannelStatsGroupNorm, channel_stats_group_norm, use_channel_stats_norms


@pytest.mark.parametrize("shape,groups", [((2, 64, 3, 8, 8), 32), ((3, 32, 5, 7), 8), ((2, 12, 4), 3)])
def test_matches_group_norm_in_float64(shape, groups):
    """Exact group statistics from channel ones: same output as F.group_norm, offset and scale included."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen) * 3 + 5
    w, b = torch.randn(shape[1], generator=gen), torch.randn(shape[1], generator=gen)
    ref = F.group_norm(x.double(), groups, w.double(), b.double(), 1e-5)
    out = channel_stats_group_norm(x, groups, w, b, 1e-5)
    assert out.dtype == x.dtype
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=2e-6)
    torch.testing.assert_close(channel_stats_group_norm(x, groups, None, None, 1e-5).double(),
                               F.group_norm(x.double(), groups, eps=1e-5), rtol=0, atol=2e-6)


def test_channels_last_and_bfloat16():
    """Layout does not change the result; bf16 input gives bf16 output within one bf16 step of torch's."""
    x = torch.randn(2, 64, 3, 6, 6) + 2
    w, b = torch.rand(64) + 0.5, torch.randn(64)
    plain = channel_stats_group_norm(x, 32, w, b, 1e-6)
    last = channel_stats_group_norm(x.contiguous(memory_format=torch.channels_last_3d), 32, w, b, 1e-6)
    torch.testing.assert_close(last, plain, rtol=0, atol=1e-6)
    xb, wb, bb = x.bfloat16(), w.bfloat16(), b.bfloat16()
    low = channel_stats_group_norm(xb, 32, wb, bb, 1e-6)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), F.group_norm(xb, 32, wb, bb, 1e-6).float(), rtol=8e-3, atol=8e-3)


def test_swap_keeps_parameters_and_output():
    """Only plain GroupNorms are swapped; names, parameters and the function they compute stay."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.GroupNorm(4, 16), nn.Conv2d(16, 16, 1), nn.GroupNorm(2, 16, affine=False))
    nn.init.normal_(model[0].weight)
    x = torch.randn(2, 16, 5, 5)
    before, keys = model(x), list(model.state_dict())
    assert use_channel_stats_norms(model) == 2
    assert isinstance(model[0], ChannelStatsGroupNorm) and list(model.state_dict()) == keys
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-5)
    assert use_channel_stats_norms(model) == 0


def test_groups_must_divide_channels():
    """A channel count the groups do not divide is refused with the numbers."""
    with pytest.raises(ValueError, match="10 channels"):
        channel_stats_group_norm(torch.randn(1, 10, 4), 4, None, None, 1e-5)
