"""The public API: `import vidrd_bench` stays light; vb.fvd against an independent formula; streaming vb.FVD."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import torch

import vidrd_bench as vb
from vidrd_bench.core.errors import VideoError, VidrdBenchError
from vidrd_bench.metrics.fvd import fast_frechet_to
from vidrd_bench.metrics.stats import StatsFile, gaussian_of
from vidrd_bench.protocols import FVDProtocol

FVD_TEST = FVDProtocol(name="fvd-smoke-tiny-32px", detector="i3d-tiny-random", resolution=32)


def test_import_is_light_and_the_api_is_listed():
    code = "import sys, vidrd_bench as vb; print('torch' in sys.modules, sorted(n for n in vb.__all__ if n[0] != '_'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("False ['FVD', 'compute_real_stats', 'fvd', 'jedi', 'jedi_distance', 'load_detector', "
                           "'score_fvd', 'score_is']")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        vb.nope


def test_fvd_of_two_feature_matrices_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 6)), rng.normal(0.5, 2.0, size=(200, 6)) @ rng.normal(size=(6, 6))
    mu_a, mu_b, s_a, s_b = a.mean(0), b.mean(0), np.cov(a.T), np.cov(b.T)
    root_a = scipy.linalg.sqrtm(s_a).real  # Tr sqrt(S_a S_b) = Tr sqrt(S_a^1/2 S_b S_a^1/2), a symmetric form
    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b) - 2 * np.trace(scipy.linalg.sqrtm(root_a @ s_b @ root_a).real)
    assert vb.fvd(a, b, divisor="N-1") == pytest.approx(expected, rel=1e-9)  # np.cov divides by N - 1
    assert vb.fvd(torch.from_numpy(a), a) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(VidrdBenchError, match="at least 2 rows"):
        vb.fvd(a[:1], b)


def test_streaming_fvd_accumulates_the_detector_features_of_every_batch(monkeypatch):
    rng = np.random.default_rng(1)
    fake = torch.from_numpy(rng.integers(0, 256, (3, 3, 18, 8, 8), np.uint8))
    real = torch.from_numpy(rng.integers(0, 128, (3, 3, 16, 8, 8), np.uint8))
    metric = vb.FVD(protocol=FVD_TEST, device="cpu")
    metric.update(fake[:2])
    metric.update(fake[2:].float() / 127.5 - 1.0)  # float in [-1, 1] is converted as uint8 would be
    metric.update(real, real=True)
    detector = vb.load_detector("i3d-tiny-random", resolution=32)
    fake_feats, real_feats = detector(fake[:, :, :16]).double().numpy(), detector(real).double().numpy()
    seen = []  # the Gaussians handed to the Frechet distance (sqrtm of 400-d singular matrices is slow on CPU)
    monkeypatch.setattr("vidrd_bench.api.frechet_distance", lambda *g: seen.append(g) or 0.0)
    metric.compute()
    for got, want in zip(seen[0], (*gaussian_of(fake_feats), *gaussian_of(real_feats))):
        assert np.allclose(got, want, rtol=1e-6, atol=1e-6)
    monkeypatch.undo()
    stats = StatsFile(mu=real_feats.mean(0), sigma=np.cov(real_feats.T), count=3, detector=detector.name,
                      detector_sha256=detector.weights, protocol=FVD_TEST.to_dict(), source="test")
    from_file = vb.FVD(protocol=FVD_TEST, real_stats=stats, device="cpu")
    from_file.update(fake)
    expected = fast_frechet_to(stats.mu, stats.sigma)(*gaussian_of(fake_feats))  # eigh route, not sqrtm
    assert from_file.compute() == pytest.approx(expected, rel=1e-5)
    from_file.reset()
    with pytest.raises(VidrdBenchError, match="at least 2"):
        from_file.compute()
    with pytest.raises(VidrdBenchError, match="would mix"):
        from_file.update(real, real=True)
    with pytest.raises(VideoError, match=r"\(B, 3, T, H, W\)"):
        metric.update(fake.permute(0, 2, 3, 4, 1))



def test_vb_fvd_defaults_to_the_default_protocols_divisor_and_is_zero_on_identical_sets():
    from vidrd_bench.metrics.fvd import fvd_from_features
    from vidrd_bench.metrics.stats import gaussian_of
    from vidrd_bench.protocols import DEFAULT_FVD, PROTOCOLS

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 6)), rng.normal(0.3, 1.2, size=(50, 6))
    divisor = PROTOCOLS.get(DEFAULT_FVD).covariance_divisor
    assert divisor == "N"
    assert vb.fvd(a, b) == pytest.approx(fvd_from_features(a, *gaussian_of(b, divisor), divisor), rel=1e-12)
    assert vb.fvd(a, b) != pytest.approx(vb.fvd(a, b, divisor="N-1"), rel=1e-6)
    assert vb.fvd(a, a) == 0.0 and vb.fvd(a, a.copy(), divisor="N-1") == 0.0
