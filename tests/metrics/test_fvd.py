"""Frechet distance against a direct scipy reference and closed forms; bootstrap; per-class FVD."""

import numpy as np
import pytest
import scipy.linalg

from vidrd_bench.metrics.fvd import (FrechetDistanceError, bootstrap_fvd, fast_frechet_to, frechet_distance,
                                     fvd_from_features, per_class_fvd)
from vidrd_bench.metrics.stats import StatsFile, gaussian_of


def _random_gaussian(rng, dim):
    a = rng.normal(size=(dim, dim))
    return rng.normal(size=dim), a @ a.T / dim + 0.1 * np.eye(dim)


def test_matches_direct_scipy_reference_on_random_gaussians():
    rng = np.random.default_rng(0)
    mu1, s1 = _random_gaussian(rng, 16)
    mu2, s2 = _random_gaussian(rng, 16)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-10)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-8)


def test_closed_forms_identical_shifted_and_scalar():
    rng = np.random.default_rng(1)
    mu, sigma = _random_gaussian(rng, 12)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8
    shift = rng.normal(size=12)
    assert frechet_distance(mu + shift, sigma, mu, sigma) == pytest.approx(shift @ shift, rel=1e-6)
    # 1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s1, s2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)


def test_fast_form_equals_sqrtm_form_and_features_path():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(300, 20))
    fake = rng.normal(size=(250, 20)) * 1.5 + 0.3
    mu_r, s_r = gaussian_of(real)
    exact = frechet_distance(*gaussian_of(fake), mu_r, s_r)
    assert fast_frechet_to(mu_r, s_r)(*gaussian_of(fake)) == pytest.approx(exact, rel=1e-9)
    assert fvd_from_features(fake, mu_r, s_r) == pytest.approx(exact, rel=1e-12)


def test_bootstrap_is_seeded_and_centred_on_the_value():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(400, 8)), rng.normal(size=(300, 8)) + 0.5
    mu_r, s_r = gaussian_of(real)
    lo, hi, samples = bootstrap_fvd(fake, mu_r, s_r, num_resamples=30, seed=5)
    lo2, hi2, samples2 = bootstrap_fvd(fake, mu_r, s_r, num_resamples=30, seed=5)
    value = fvd_from_features(fake, mu_r, s_r)
    assert np.array_equal(samples, samples2) and (lo, hi) == (lo2, hi2) and len(samples) == 30
    assert lo < value < hi and (lo + hi) / 2 == pytest.approx(value)
    assert not np.array_equal(samples, bootstrap_fvd(fake, mu_r, s_r, num_resamples=30, seed=6)[2])


def test_large_imaginary_component_raises():
    sigma = np.diag([1.0, -1.0])  # not a covariance: sqrtm has an imaginary diagonal
    with pytest.raises(FrechetDistanceError, match="imaginary"):
        frechet_distance([0, 0], sigma, [0, 0], np.eye(2))


def test_per_class_fvd_uses_each_class_real_statistics():
    rng = np.random.default_rng(4)
    real = np.concatenate([rng.normal(size=(50, 3)), rng.normal(size=(50, 3)) + 5])
    classes = ["A"] * 50 + ["B"] * 50
    stats = StatsFile(*gaussian_of(real), 100, "d", {}, {}, "test", real.astype(np.float32), classes)
    fake = np.concatenate([rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 5])
    got = per_class_fvd(fake, ["A"] * 40 + ["B"] * 40, stats)
    assert set(got) == {"A", "B"}
    assert got["A"] == pytest.approx(fvd_from_features(fake[:40], *gaussian_of(real[:50].astype(np.float32))))
    swapped = per_class_fvd(fake, ["B"] * 40 + ["A"] * 40, stats)
    assert swapped["A"] > 50 > got["A"]


def test_per_class_fvd_says_which_generated_classes_it_leaves_out_and_shows_no_bar_for_nothing(monkeypatch):
    """Classes barely overlapping: the record's note counts what per-class FVD covers and names what it leaves out;
    no overlap: only the note, and the progress bar is never enabled for zero classes."""
    import vidrd_bench.metrics.fvd as fvd
    from vidrd_bench.metrics.spec import MetricInputs
    from vidrd_bench.protocols import SMOKE_FVD

    rng = np.random.default_rng(5)
    real = rng.normal(size=(12, 3))
    stats = StatsFile(*gaussian_of(real), 12, "d", {}, SMOKE_FVD.to_dict(), "test", real.astype(np.float32),
                      ["A"] * 4 + ["B"] * 4 + ["C"] * 3 + ["D"])
    bars = []
    monkeypatch.setattr(fvd, "steps", lambda items, desc, unit, enabled, total=None: bars.append(enabled) or items)
    fake = rng.normal(size=(9, 3))
    some = fvd.fvd_per_class(MetricInputs(fake, ("A", "A", "E", "E", "F", "F", "D", "D", "G"), stats), SMOKE_FVD,
                             progress=True)
    assert set(some["per_class_fvd"]) == {"A"} and bars == [True]
    assert some["per_class_fvd_note"] == ("per-class FVD covers 1 of 5 generated classes (a class needs at least 2 "
                                          "generated and 2 real videos); left out: D, E, F, G")
    none = fvd.fvd_per_class(MetricInputs(fake, ("E",) * 4 + ("D",) * 5, stats), SMOKE_FVD, progress=True)
    assert none == {"per_class_fvd_note": "per-class FVD not computed: no class qualifies (a class needs at least 2 "
                                          "generated and 2 real videos; 2 generated classes, 3 real classes with 2+ "
                                          "videos, 0 of them shared)"}
    assert bars == [True, False]
    every = fvd.fvd_per_class(MetricInputs(fake[:4], ("A", "A", "B", "B"), stats), SMOKE_FVD)
    assert set(every) == {"per_class_fvd", "per_class_fvd_mean"}  # all covered: no note
