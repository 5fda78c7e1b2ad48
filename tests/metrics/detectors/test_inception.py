"""The Inception-v3 frame detectors against their references on the same random weights: torch-fidelity's
FeatureExtractorInceptionV3 loaded by torch-fidelity itself, clean-fid's InceptionV3W and resizers; the resize
rules; the per-frame layout; refusals of wrong or untrusted files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cleanfid.inception_torchscript import InceptionV3W
from cleanfid.resize import build_resizer, make_resizer
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from vidrd_bench.core.errors import VidrdBenchError, WeightsError
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.detectors import inception
from vidrd_bench.metrics.detectors.base import init_random


def _videos(count: int, frames: int, h: int = 37, w: int = 45, seed: int = 0) -> torch.Tensor:
    """Random uint8 videos (B, 3, T, H, W)."""
    return torch.randint(0, 256, (count, 3, frames, h, w), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def _frames(videos: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> the frames in video-then-time order, (B * T, 3, H, W)."""
    return videos.permute(0, 2, 1, 3, 4).reshape(-1, 3, *videos.shape[3:])


def test_torch_fidelity_detector_equals_torch_fidelitys_own_extractor_on_the_same_weights(tmp_path):
    """Weights written as torch-fidelity's file, read by us (tensors only) and by torch-fidelity's own loader: the
    same pool3 features for every frame, in time order within each video's row."""
    file = tmp_path / inception.TORCH_FIDELITY_FILE
    torch.save(init_random(inception.inception_layout(), seed=3).state_dict(), file)
    det = load_detector("inception-torch-fidelity", path=file, num_frames=2)
    assert (det.feature_dim, det.sample_dim, det.num_frames, det.variant) == (4096, 2048, 2, "tf1-bilinear")
    videos = _videos(2, 2)
    ours = det(videos)
    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(file))
    with torch.no_grad():
        theirs = reference(_frames(videos))[0]
    torch.testing.assert_close(ours.reshape(4, 2048), theirs, rtol=1e-5, atol=1e-5)
    assert det.weights == {file.name: inception.file_sha256(file)} and not det.random_weights


def test_a_torch_fidelity_file_of_another_layout_or_resize_is_refused(tmp_path):
    file = tmp_path / inception.TORCH_FIDELITY_FILE
    state = inception.inception_layout().state_dict()
    state.pop("fc.weight")
    torch.save(state, file)
    with pytest.raises(WeightsError, match="missing keys.*fc.weight"):
        load_detector("inception-torch-fidelity", path=file)
    with pytest.raises(WeightsError, match="resizes frames by tf1-bilinear"):
        load_detector("inception-torch-fidelity", path=file, preprocess="pil-bicubic")
    with pytest.raises(VidrdBenchError, match="takes 299x299"):
        load_detector("inception-torch-fidelity", path=file, resolution=224)


@pytest.fixture(scope="module")
def clean_file(tmp_path_factory):
    """A clean-fid-format TorchScript program (narrow random layers to pool3 of 2,048) in its file name."""
    folder = tmp_path_factory.mktemp("cleanfid")
    layers = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=4), torch.nn.ReLU(),
                                 torch.nn.Conv2d(8, 2048, 1), torch.nn.AdaptiveAvgPool2d(1))
    module = inception.LayersProgram(init_random(layers, seed=5)).eval()
    # traced, not scripted: a TorchScript file all the same, and tracing never recompiles nn.Conv2d's source (whose
    # scripting failed once mid-suite with "builtin cannot be used as a value", though alone it passes)
    program = torch.jit.trace(module, torch.zeros(1, 3, 299, 299))
    torch.jit.save(program, str(folder / inception.CLEAN_FID_FILE))
    return folder


def test_clean_fid_detector_equals_clean_fids_own_wrapper_and_resizer(clean_file):
    """clean-fid's "clean" mode on the same program: its PIL bicubic resize of each HWC frame, then InceptionV3W
    with resize_inside=False (inception_torchscript.py:43-55)."""
    det = load_detector("inception-clean-fid", weights_dir=clean_file, num_frames=3, trust_detector=True)
    videos = _videos(2, 3, seed=1)
    ours = det(videos).reshape(6, 2048)
    resize = build_resizer("clean")
    batch = torch.stack([torch.from_numpy(resize(f.permute(1, 2, 0).numpy()).transpose(2, 0, 1).copy())
                         for f in _frames(videos)])
    with torch.no_grad():
        theirs = InceptionV3W(str(clean_file), download=False, resize_inside=False)(batch)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert det.variant == "pil-bicubic" and list(det.weights) == [inception.CLEAN_FID_FILE]


def test_the_clean_fid_program_loads_only_when_trusted(clean_file, monkeypatch):
    monkeypatch.delenv("VIDRD_BENCH_TRUST_DETECTOR", raising=False)
    with pytest.raises(WeightsError, match="TorchScript: a program"):
        load_detector("inception-clean-fid", weights_dir=clean_file)
    (clean_file / "other.pt").write_bytes(b"not torchscript")
    with pytest.raises(WeightsError, match="cannot be loaded with torch.jit.load"):
        load_detector("inception-clean-fid", path=clean_file / "other.pt", trust_detector=True)


@pytest.mark.parametrize("rule, reference", [
    ("pil-bicubic", make_resizer("PIL", False, "bicubic", (24, 24))),
    ("torch-bilinear", make_resizer("PyTorch", False, "bilinear", (24, 24))),
])
def test_resize_rules_are_clean_fids(rule, reference):
    frames = _frames(_videos(1, 2, seed=2))
    ours = inception.resize_frames(frames, 24, rule)
    theirs = torch.stack([torch.from_numpy(np.asarray(reference(f.permute(1, 2, 0).numpy()), np.float32))
                          .permute(2, 0, 1) for f in frames])
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-3)


def test_the_three_resize_rules_give_different_frames_and_tiny_features():
    """A frame reaching 24 x 24 by each rule differs, and so do the tiny detector's features: the rule is a field."""
    frames = _frames(_videos(1, 1, seed=4))
    resized = {rule: inception.resize_frames(frames, 24, rule) for rule in inception.RESIZE_RULES}
    assert not torch.allclose(resized["tf1-bilinear"], resized["pil-bicubic"], atol=0.5)
    assert not torch.allclose(resized["torch-bilinear"], resized["pil-bicubic"], atol=0.5)
    features = {rule: load_detector("inception-tiny-random", resolution=24, preprocess=rule)(_videos(1, 1, seed=4))
                for rule in inception.RESIZE_RULES}
    assert len({tuple(f.flatten().tolist()) for f in features.values()}) == 3


def test_a_frame_detector_takes_any_clip_length_one_row_block_per_frame():
    one = load_detector("inception-tiny-random", resolution=32)
    four = load_detector("inception-tiny-random", resolution=32, num_frames=4)
    videos = _videos(3, 4, seed=6)
    rows = four(videos)
    assert rows.shape == (3, 4 * inception.TINY_DIM) and four.sample_dim == inception.TINY_DIM
    for t in range(4):  # frame t of each video is the t-th block of its row
        torch.testing.assert_close(rows[:, t * 16:(t + 1) * 16], one(videos[:, :, t:t + 1]))
