"""Frame FID: equal to torch-fidelity's own FID formula on the same features, one sample per frame, whole videos
resampled by the bootstrap, and its protocols' conventions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.metrics.fid import SPEC, compute_fid, frame_rows
from vidrd_bench.metrics.spec import MetricInputs
from vidrd_bench.metrics.stats import StatsFile, gaussian_of
from vidrd_bench.protocols import (FID_MSRVTT, FID_MSRVTT_1F, FID_MSRVTT_CLEAN, FVD_MSRVTT, PROTOCOLS, SMOKE_FID,
                                   FIDProtocol, FVDProtocol, protocol_from_dict)

DIM, FRAMES = 8, 4


def _real(frames: np.ndarray, proto: FIDProtocol) -> StatsFile:
    """Real statistics over these frames under `proto`'s covariance divisor."""
    mu, sigma = gaussian_of(frames, proto.covariance_divisor)
    return StatsFile(mu=mu, sigma=sigma, count=len(frames) // proto.num_frames, detector=proto.detector,
                     detector_sha256={}, protocol=proto.to_dict(), source="test")


def _torch_fidelity_fid(fake_frames: np.ndarray, real_frames: np.ndarray) -> float:
    """FID by torch-fidelity's own code (metric_fid.py:21-45) on the same frame features."""
    stats = [fid_features_to_statistics(torch.from_numpy(x)) for x in (fake_frames, real_frames)]
    return fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]


def test_frame_fid_equals_torch_fidelitys_formula_on_the_same_features():
    rng = np.random.default_rng(1)
    fake = rng.normal(size=(40, FRAMES * DIM)) * 1.5 + 0.3  # 40 videos x 4 frames x 8 features
    real_frames = rng.normal(size=(200, DIM))
    proto = dataclasses.replace(SMOKE_FID, num_frames=FRAMES)
    result = compute_fid(MetricInputs(fake, real=_real(real_frames, proto)), proto, 0, 0)
    expected = _torch_fidelity_fid(fake.reshape(-1, DIM), real_frames)
    assert result.value == pytest.approx(expected, rel=1e-7)
    assert result.extra == {"frames_per_video": FRAMES, "num_frames_scored": 160}
    # the frames of a video are consecutive DIM-wide slices of its row: swapping the layout moves the number
    scrambled = fake.reshape(40, DIM, FRAMES).transpose(0, 2, 1).reshape(40, -1)
    assert compute_fid(MetricInputs(scrambled, real=_real(real_frames, proto)), proto, 0, 0).value != \
        pytest.approx(expected, rel=1e-3)


def test_frames_per_video_changes_which_rows_are_samples():
    """The same per-video rows read as 4 frames of 8 or as 2 frames of 16 features are different FIDs, and a width
    the protocol's frames do not divide is refused."""
    rng = np.random.default_rng(2)
    fake = rng.normal(size=(30, FRAMES * DIM))
    four = dataclasses.replace(SMOKE_FID, num_frames=4)
    real4 = rng.normal(size=(120, DIM))
    value4 = compute_fid(MetricInputs(fake, real=_real(real4, four)), four, 0, 0).value
    assert value4 == pytest.approx(_torch_fidelity_fid(fake.reshape(-1, 8), real4), rel=1e-7)
    two = dataclasses.replace(SMOKE_FID, num_frames=2)
    real2 = rng.normal(size=(120, 2 * DIM))
    value2 = compute_fid(MetricInputs(fake, real=_real(real2, two)), two, 0, 0).value
    assert value2 == pytest.approx(_torch_fidelity_fid(fake.reshape(-1, 16), real2), rel=1e-7)
    with pytest.raises(VidrdBenchError, match="expects 2 frames of 8 features"):
        compute_fid(MetricInputs(fake, real=_real(real4, two)), two, 0, 0)
    with pytest.raises(VidrdBenchError, match="shape"):
        frame_rows(fake, 8, 3)


def test_the_bootstrap_resamples_whole_videos_and_is_seeded():
    rng = np.random.default_rng(3)
    fake = rng.normal(size=(50, FRAMES * DIM)) + 0.5
    proto = dataclasses.replace(SMOKE_FID, num_frames=FRAMES)
    real = _real(rng.normal(size=(200, DIM)), proto)
    result = compute_fid(MetricInputs(fake, real=real), proto, 30, 7)
    assert result.resamples == 30 and result.interval[0] < result.value < result.interval[1]
    assert result == compute_fid(MetricInputs(fake, real=real), proto, 30, 7)
    # one video's frames always travel together: identical videos give a zero-width interval
    same = np.tile(fake[:1], (50, 1)) + rng.normal(size=(1, FRAMES * DIM)) * 0
    flat = compute_fid(MetricInputs(np.concatenate([same[:, :DIM]] * FRAMES, axis=1), real=real), proto, 10, 0)
    assert flat.interval[1] - flat.interval[0] == pytest.approx(0.0, abs=1e-9)


def test_the_fid_protocols_are_registered_named_and_of_their_own_kind():
    assert [p.name for p in SPEC.protocols()] == [FID_MSRVTT.name, FID_MSRVTT_CLEAN.name, FID_MSRVTT_1F.name,
                                                  SMOKE_FID.name]
    assert SPEC.default_protocol == "fid-msrvtt-2990-16f" and PROTOCOLS.get("fid-msrvtt-2990-16f") is FID_MSRVTT
    assert FID_MSRVTT.detector == "inception-torch-fidelity" and FID_MSRVTT.resize == "tf1-bilinear"
    assert FID_MSRVTT_CLEAN.detector == "inception-clean-fid" and FID_MSRVTT_CLEAN.resize == "pil-bicubic"
    assert (FID_MSRVTT.num_fake, FID_MSRVTT.num_frames, FID_MSRVTT.real_split) == (2990, 16, "msrvtt-test")
    assert FID_MSRVTT.covariance_divisor == "N-1" and FID_MSRVTT.preprocess == "tf1-bilinear"
    # FVD's real clips and preparation: FID and FVD see the same real frames
    shared = [f.name for f in dataclasses.fields(FVDProtocol) if f.name.startswith("real_")]
    assert all(getattr(FID_MSRVTT, k) == getattr(FVD_MSRVTT, k) for k in shared)
    assert protocol_from_dict(FID_MSRVTT.to_dict()) == FID_MSRVTT
    assert type(protocol_from_dict(FVD_MSRVTT.to_dict())) is FVDProtocol
    from vidrd_bench.metrics.registry import METRICS
    assert "fid-msrvtt-2990-16f" not in [p.name for p in METRICS.get("fvd").protocols()]
    with pytest.raises(VidrdBenchError, match="not an FVDProtocol"):
        METRICS.get("fvd").protocol("fid-msrvtt-2990-16f")
    with pytest.raises(ValueError, match="resize"):
        dataclasses.replace(SMOKE_FID, resize="lanczos")
