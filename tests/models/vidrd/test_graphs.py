"""GraphedDenoiser: the CUDA-graph wrapper of the compiled UNet call gives the wrapped module's outputs."""

import pytest
import torch

from vidrd_bench.runners.bench import eager_module
from vidrd_bench.models.vidrd.configs import TINY_TEMPORAL, TINY_UNET
from vidrd_bench.models.vidrd.graphs import GraphedDenoiser
from vidrd_bench.models.vidrd.unet3d import UNet3DConditionModel


def _unet_and_inputs(device: str, seed: int):
    torch.manual_seed(0)
    unet = UNet3DConditionModel(**TINY_UNET, **TINY_TEMPORAL).eval().to(device)
    gen = torch.Generator().manual_seed(seed)
    sample = torch.randn(2, 4, 3, 8, 8, generator=gen).to(device)
    context = torch.randn(2, 5, TINY_UNET["cross_attention_dim"], generator=gen).to(device)
    return unet, sample, torch.tensor(300, device=device), context


def test_wrapper_exposes_the_unet_and_passes_through_on_cpu():
    unet, sample, t, context = _unet_and_inputs("cpu", 1)
    wrapped = GraphedDenoiser(unet)
    assert eager_module(wrapped) is unet and wrapped.config is unet.config
    assert next(wrapped.parameters()) is next(unet.parameters())
    with torch.no_grad():
        torch.testing.assert_close(wrapped(sample, t, context), unet(sample, t, context), rtol=0, atol=0)
        torch.testing.assert_close(wrapped(sample, 300, context), unet(sample, t, context), rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graph capture needs a GPU")
def test_replay_follows_new_inputs_on_gpu():
    unet, sample, t, context = _unet_and_inputs("cuda", 1)
    _, sample2, _, context2 = _unet_and_inputs("cuda", 2)
    wrapped = GraphedDenoiser(unet)
    with torch.no_grad():
        first = wrapped(sample, t, context)
        second = wrapped(sample2, t + 200, context2)
        torch.testing.assert_close(first, unet(sample, t, context))
        torch.testing.assert_close(second, unet(sample2, t + 200, context2))
    assert len(wrapped._graphs) == 1 and wrapped._graphs[next(iter(wrapped._graphs))] is not None
