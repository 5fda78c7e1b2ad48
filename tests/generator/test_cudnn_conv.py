"""generator.cudnn_conv: the `vidrd::conv` op and the GraphConv swap keep the UNet's outputs, trace without graph
breaks and declare the strides they return; on a GPU with nvidia-cudnn-frontend the cuDNN graph matches torch."""

import pytest
import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode
from torch import nn

from vidrd_bench.generator import cudnn_conv
from vidrd_bench.generator.configs import TINY_TEMPORAL, TINY_UNET
from vidrd_bench.generator.unet3d import UNet3DConditionModel


def _scrambled_unet() -> UNet3DConditionModel:
    """The tiny UNet with every parameter random (zero-initialised Temp-Conv outputs would hide a wrong residual)."""
    torch.manual_seed(0)
    unet = UNet3DConditionModel(**TINY_UNET, **TINY_TEMPORAL).eval()
    with torch.no_grad():
        for p in unet.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return unet


def _inputs():
    gen = torch.Generator().manual_seed(3)
    sample = torch.randn(2, 4, 3, 8, 8, generator=gen)
    context = torch.randn(2, 5, TINY_UNET["cross_attention_dim"], generator=gen)
    return sample, torch.tensor(400), context


def test_swap_converts_every_plain_conv_shares_parameters_and_keeps_outputs():
    unet = _scrambled_unet()
    sample, t, context = _inputs()
    plain = [n for n, m in unet.named_modules() if type(m) in (nn.Conv2d, nn.Conv3d)]
    state = {k: v.clone() for k, v in unet.state_dict().items()}
    with torch.no_grad():
        before = unet(sample, t, context)
        assert cudnn_conv.use_cudnn_convs(unet) == len(plain) > 0
        after = unet(sample, t, context)
    swapped = dict(unet.named_modules())
    assert all(isinstance(swapped[n], (cudnn_conv.GraphConv2d, cudnn_conv.GraphConv3d)) for n in plain)
    assert not [n for n, m in unet.named_modules() if type(m) in (nn.Conv2d, nn.Conv3d)]
    assert unet.state_dict().keys() == state.keys()
    assert all(torch.equal(unet.state_dict()[k], v) for k, v in state.items())
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dims,stride,padding,residual", [
    ((2, 6, 9, 7), [1, 1], [1, 1], True),
    ((2, 6, 9, 7), [2, 2], [1, 1], False),
    ((2, 6, 5, 4, 3), [1, 1, 1], [1, 0, 0], True),
])
def test_op_adds_bias_and_residual_and_its_fake_declares_the_real_strides(dims, stride, padding, residual):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(*dims, generator=gen)
    kernel = (3, 3) if len(dims) == 4 else (3, 1, 1)
    w, b = torch.randn(5, dims[1], *kernel, generator=gen), torch.randn(5, generator=gen)
    conv = F.conv2d if len(dims) == 4 else F.conv3d
    expect = conv(x, w, b, stride=stride, padding=padding)
    r = torch.randn(expect.shape, generator=gen) if residual else None
    out = cudnn_conv.graph_conv(x, w, b, r, stride, padding)
    torch.testing.assert_close(out, expect + r if residual else expect, rtol=1e-5, atol=1e-5)
    with FakeTensorMode() as mode:
        fake = cudnn_conv.graph_conv(mode.from_tensor(x), mode.from_tensor(w), mode.from_tensor(b),
                                     None if r is None else mode.from_tensor(r), stride, padding)
    assert fake.shape == out.shape and fake.stride() == out.stride()


def test_compiled_graph_conv_traces_in_one_graph_and_matches_eager():
    torch.manual_seed(0)
    conv = cudnn_conv.GraphConv3d.from_conv(nn.Conv3d(4, 4, (3, 1, 1), padding=(1, 0, 0)))
    x, r = torch.randn(2, 4, 5, 3, 3), torch.randn(2, 4, 5, 3, 3)
    compiled = torch.compile(lambda a, b: cudnn_conv.conv_add(conv, a, b) * 2, backend="aot_eager", fullgraph=True)
    with torch.no_grad():  # inference only: the op has no backward
        torch.testing.assert_close(compiled(x, r), (conv(x) + r) * 2)


def test_conv_add_is_the_plain_residual_for_a_torch_conv():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 3, padding=1)
    x, r = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    assert torch.equal(cudnn_conv.conv_add(conv, x, r), r + conv(x))


def test_only_plain_convs_are_graphable():
    assert cudnn_conv.graphable(nn.Conv2d(4, 4, 3, padding=1))
    assert not cudnn_conv.graphable(nn.Conv2d(4, 4, 3, padding=1, groups=2))
    assert not cudnn_conv.graphable(nn.Conv2d(4, 4, 3, padding="same"))
    assert not cudnn_conv.graphable(nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"))
    assert not cudnn_conv.graphable(nn.Conv2d(4, 4, 3, padding=2, dilation=2))


def test_scratch_buffers_cover_channels_last_storage_and_keys_tell_epilogues_apart():
    x = torch.empty(2, 6, 5, 4, 3, memory_format=torch.channels_last_3d)
    w = torch.empty(8, 6, 3, 1, 1, memory_format=torch.channels_last_3d)
    out = torch.empty(2, 8, 5, 4, 3, memory_format=torch.channels_last_3d)
    key = cudnn_conv.GraphKey.of(x, w, None, out, out, [1, 1, 1], [1, 0, 0])
    assert cudnn_conv.key_shape(key, "X") == (x.numel(),) and cudnn_conv.key_shape(key, "B") == (8,)
    assert key != cudnn_conv.GraphKey.of(x, w, None, None, out, [1, 1, 1], [1, 0, 0])
    assert key != cudnn_conv.GraphKey.of(x, w, torch.empty(8), out, out, [1, 1, 1], [1, 0, 0])


def test_cudnn_graph_convs_are_opt_in(monkeypatch):
    monkeypatch.delenv(cudnn_conv.BACKEND_ENV, raising=False)
    assert not cudnn_conv.wanted()
    monkeypatch.setenv(cudnn_conv.BACKEND_ENV, "cudnn")
    assert cudnn_conv.wanted() == (cudnn_conv.frontend() is not None)


@pytest.mark.skipif(not torch.cuda.is_available() or cudnn_conv.frontend() is None,
                    reason="cuDNN graphs need a GPU and nvidia-cudnn-frontend")
@pytest.mark.parametrize("c_in,kernel,stride,padding", [
    (64, (3, 3), [1, 1], [1, 1]), (64, (3, 3), [2, 2], [1, 1]), (4, (3, 3), [1, 1], [1, 1]),
    (64, (3, 1, 1), [1, 1, 1], [1, 0, 0]),
])
def test_cudnn_graph_matches_torch_on_gpu(c_in, kernel, stride, padding):
    torch.manual_seed(0)
    fmt = torch.channels_last if len(kernel) == 2 else torch.channels_last_3d
    dims = (8, c_in, 16, 16) if len(kernel) == 2 else (2, c_in, 8, 16, 16)
    x = torch.randn(dims, device="cuda", dtype=torch.bfloat16).contiguous(memory_format=fmt)
    w = (torch.randn(64, c_in, *kernel, device="cuda", dtype=torch.bfloat16) / c_in ** 0.5).contiguous(
        memory_format=fmt)
    b = torch.randn(64, device="cuda", dtype=torch.bfloat16)
    expect = cudnn_conv.reference_conv(x.float(), w.float(), b.float(), None, stride, padding)
    r = torch.randn(expect.shape, device="cuda", dtype=torch.bfloat16).contiguous(memory_format=fmt)
    out = cudnn_conv.graph_conv(x, w, b, r, stride, padding)
    assert out.stride() == expect.contiguous(memory_format=fmt).stride()
    torch.testing.assert_close(out.float(), expect + r.float(), rtol=2e-2, atol=2e-2)
