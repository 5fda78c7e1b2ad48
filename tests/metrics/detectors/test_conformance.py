"""Every registered detector honours the detector contract on the CPU (tests/generators/test_conformance.py does
the same for generators); a newly registered detector is enrolled without editing this file.

uint8 (B, 3, T, H, W) in, anything else refused with a VideoError naming what to do; features of the declared
size, finite, the same in any batch split and on every call; weight files declared by the detector's own module;
random weights exactly when it reads no file; and a random build (what `bench` times) that is the very network
its real loader reads from its files. Each detector is built by its real builder from weight files written in
their real format (detector_recipes.py), narrowed so that the suite stays fast on a CPU.
"""

from __future__ import annotations

import re
import sys
from types import SimpleNamespace

import pytest
import torch

from vidrd_bench.core.errors import VideoError
from vidrd_bench.core.weights import WEIGHT_FILES, file_sha256
from vidrd_bench.metrics.detectors import DETECTORS, Detector

from .detector_recipes import RECIPES, build, write_files

FRAME_SIZE = 16  # detectors resize inside, so small frames keep the inputs cheap


def _videos(count: int, frames: int, seed: int = 0) -> torch.Tensor:
    """`count` random uint8 videos shaped (B, 3, T, H, W)."""
    return torch.randint(0, 256, (count, 3, frames, FRAME_SIZE, FRAME_SIZE), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=DETECTORS.items(), ids=lambda item: item[0])
def entry(request, tmp_path_factory):
    """A registered detector built from test files, its random build, a second build, 4 videos and their features.

    features: the 4 videos in one batch, in 2 + 2 and in 1 + 1 + 1 + 1 (computed once, shared by the tests).
    """
    name, spec = request.param
    folder = tmp_path_factory.mktemp(name)
    source = write_files(spec, folder, narrow=True)
    det = build(spec, folder, narrow=True)
    videos = _videos(4, spec.num_frames)
    features = {"4": det(videos), "2 + 2": torch.cat([det(videos[:2]), det(videos[2:])]),
                "1 + 1 + 1 + 1": torch.cat([det(videos[i:i + 1]) for i in range(4)])}
    return SimpleNamespace(name=name, spec=spec, folder=folder, source=source, detector=det, videos=videos,
                           again=build(spec, folder, narrow=True), features=features)


def test_every_recipe_is_for_a_registered_detector():
    assert set(RECIPES) <= set(DETECTORS), "detector_recipes.RECIPES names detectors that are not registered"


def test_the_built_detector_is_what_its_spec_declares(entry):
    det, spec = entry.detector, entry.spec
    assert isinstance(det, Detector) and det.name == spec.name == entry.name
    assert spec.feature in ("logits", "probs", "pool3", "embedding", "embeddings") and det.feature == spec.feature
    assert spec.feature_dim > 0 and det.feature_dim == spec.feature_dim
    assert spec.num_frames > 0 and det.num_frames == spec.num_frames


def test_it_takes_uint8_b_c_t_h_w_and_refuses_anything_else_clearly(entry):
    det, videos, frames = entry.detector, entry.videos[:1], entry.spec.num_frames
    assert det(videos).shape == (1, entry.spec.feature_dim)
    wrong = {
        "float32": (videos.float(), "uint8"),
        "B, T, C, H, W": (videos.permute(0, 2, 1, 3, 4), r"\(B, 3, T, H, W\)"),
        "channels last": (videos.permute(0, 2, 3, 4, 1), r"\(B, 3, T, H, W\)"),
        "one video without batch": (videos[0], r"\(B, 3, T, H, W\)"),
        "numpy array": (videos.numpy(), "torch.Tensor"),
        "too few frames": (videos[:, :, : frames // 2], f"exactly {frames} frames"),
        "too many frames": (torch.cat([videos, videos], dim=2), f"exactly {frames} frames"),
    }
    for what, (bad, expected) in wrong.items():
        with pytest.raises(VideoError, match=expected) as refused:
            det(bad)
        assert entry.name in str(refused.value), what


def test_features_have_the_declared_size_and_are_finite(entry):
    out = entry.features["4"]
    assert out.shape == (4, entry.spec.feature_dim) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and (out.std(dim=0) > 0).any()  # different videos, different features
    if entry.spec.feature == "probs":
        assert (out >= 0).all() and torch.allclose(out.sum(dim=1), torch.ones(4), atol=1e-5)


@pytest.mark.parametrize("split", ["2 + 2", "1 + 1 + 1 + 1"])
def test_a_video_gets_the_same_features_in_any_batch_split(entry, split):
    whole = entry.features["4"]
    torch.testing.assert_close(entry.features[split], whole, rtol=1e-4, atol=1e-5 * whole.abs().max().item())


def test_two_calls_and_two_builds_give_the_same_features(entry):
    assert torch.equal(entry.detector(entry.videos[:2]), entry.features["2 + 2"][:2])
    assert torch.equal(entry.again(entry.videos[:2]), entry.features["2 + 2"][:2])
    assert entry.again.weights == entry.detector.weights


def test_its_weight_files_are_declared_by_its_own_module(entry):
    spec = entry.spec
    module = sys.modules[spec.build.__module__]
    declared = getattr(module, "WEIGHTS", ())
    for name in spec.weight_files:
        assert name in WEIGHT_FILES, f"{entry.name} reads {name}, which WEIGHT_FILES does not know"
        assert any(WEIGHT_FILES.get(name) is file for file in declared), \
            f"{name} is not registered from {module.__name__}.WEIGHTS, beside {entry.name}'s builder"
    assert getattr(spec.random_build, "func", spec.random_build).__module__ == module.__name__
    if spec.weight_files:  # the record names each file it read, with its sha256
        assert entry.detector.weights == {n: file_sha256(entry.folder / n) for n in spec.weight_files}


def test_random_weights_exactly_when_it_reads_no_file(entry):
    spec, det = entry.spec, entry.detector
    assert spec.random_weights == (not spec.weight_files) and det.random_weights == spec.random_weights
    assert entry.source.random_weights and list(entry.source.weights) == [f"random:{entry.name}"]
    assert re.fullmatch("[0-9a-f]{64}", entry.source.weights[f"random:{entry.name}"])
    if spec.random_weights:
        assert det.weights == entry.source.weights  # the same seeded weights on every build


def _same_network(a: Detector, b: Detector) -> None:
    """Assert two detectors run the same network: wrapper, module class, output declaration and every tensor."""
    assert type(a) is type(b) and type(a.module) is type(b.module) and a.variant == b.variant
    assert (a.name, a.feature, a.feature_dim, a.num_frames) == (b.name, b.feature, b.feature_dim, b.num_frames)
    state_a, state_b = a.module.state_dict(), b.module.state_dict()
    assert list(state_a) == list(state_b)
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_the_random_build_is_the_network_its_loader_reads(entry):
    _same_network(entry.source, entry.detector)


def _numel(det: Detector) -> int:
    """Number of values in a detector's state dict."""
    return sum(t.numel() for t in det.module.state_dict().values())


def _layer_kinds(det: Detector) -> list[str]:
    """The state dict's keys with repeated-block indices folded (`blocks.7.norm1.weight` -> `blocks.#.norm1.weight`),
    in order: a narrow build may repeat a block fewer times (a one-block ViT) but has the same kinds of tensors."""
    return list(dict.fromkeys(re.sub(r"\.\d+\.", ".#.", key) for key in det.module.state_dict()))


def test_the_random_build_bench_times_is_that_network_at_full_size(entry):
    """`bench` times `random_build` unswapped: the same tensors at full size (a narrow build may have fewer
    repeated blocks), with seeded random weights."""
    full = entry.spec.random_build(device="cpu")
    assert (full.name, full.feature, full.feature_dim, full.num_frames, full.variant) == (
        entry.name, entry.spec.feature, entry.spec.feature_dim, entry.spec.num_frames, entry.source.variant)
    assert type(full) is type(entry.source) and type(full.module) is type(entry.source.module)
    assert _layer_kinds(full) == _layer_kinds(entry.source)
    assert full.random_weights and list(full.weights) == [f"random:{entry.name}"]
    narrowed = bool(RECIPES[entry.name].narrow)
    assert _numel(full) > _numel(entry.source) if narrowed else full.weights == entry.source.weights
