"""Streaming statistics equal batch statistics; statistics files round-trip and refuse other protocols."""

import numpy as np
import pytest

from vidrd_bench.errors import ProtocolMismatchError, VidrdBenchError
from vidrd_bench.metrics.stats import FeatureStats, StatsFile, load_stats, save_stats, stats_filename
from vidrd_bench.protocols import PROTOCOLS


def test_streaming_equals_np_cov_and_merge_equals_one_pass():
    x = np.random.default_rng(0).normal(size=(103, 9)) * 3 + 100  # large offset stresses the sum formula
    one = FeatureStats(9)
    for start in range(0, 103, 10):
        one.update(x[start:start + 10])
    assert one.count == 103
    assert np.allclose(one.mean(), x.mean(axis=0), rtol=1e-12)
    assert np.allclose(one.cov(), np.cov(x, rowvar=False), rtol=1e-9, atol=1e-9)
    a, b = FeatureStats(9), FeatureStats(9)
    a.update(x[50:], order=np.arange(50, 103), classes=["b"] * 53)
    b.update(x[:50], order=np.arange(50), classes=["a"] * 50)
    merged = a.merge(b)
    assert np.allclose(merged.cov(), one.cov(), rtol=1e-12)
    feats, classes = merged.features()
    assert np.array_equal(feats, x.astype(np.float32)) and classes == ["a"] * 50 + ["b"] * 53


def test_without_kept_features_only_sums_are_held():
    s = FeatureStats(4, keep_features=False)
    s.update(np.ones((5, 4)))
    assert s.features()[0].shape == (0, 4) and s.count == 5
    with pytest.raises(VidrdBenchError, match="at least 2"):
        FeatureStats(4).cov()


def test_stats_file_round_trip_and_protocol_refusal(tmp_path):
    proto = PROTOCOLS.get("fvd-tiny-random")
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(6, 3)).astype(np.float32)
    stats = StatsFile(feats.mean(0).astype(np.float64), np.cov(feats, rowvar=False), 6, "i3d-tiny-random",
                      {"random:x": "abc"}, proto.to_dict(), "unit test", feats, ["A", "A", "A", "B", "B", "B"],
                      {"resolution": [32, 32]})
    path = save_stats(tmp_path / stats_filename("ucf101", proto, 32), stats)
    assert path.name == "ucf101_train_fvd-tiny-random_32px.npz"
    back = load_stats(path, proto)
    assert np.array_equal(back.mu, stats.mu) and np.array_equal(back.sigma, stats.sigma) and back.count == 6
    assert (back.detector, back.detector_sha256, back.source, back.extra) == (
        "i3d-tiny-random", {"random:x": "abc"}, "unit test", {"resolution": [32, 32]})
    assert np.array_equal(back.features, feats) and back.classes == stats.classes
    assert set(back.class_gaussians()) == {"A", "B"}
    with pytest.raises(ProtocolMismatchError, match="fvd-tiny-random"):
        load_stats(path, PROTOCOLS.get("fvd-i3d-16f"))
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(VidrdBenchError, match="junk.npz"):
        load_stats(tmp_path / "junk.npz")
