"""JEDi's distance against the videojedi package's formula (and its own mmd_poly), its interval, its protocol
fields, and `vb.jedi`."""

import dataclasses
import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

import vidrd_bench as vb
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.metrics.jedi import KernelMeans, compute_jedi, example, jedi_distance
from vidrd_bench.metrics.registry import METRICS
from vidrd_bench.metrics.spec import MetricInputs
from vidrd_bench.protocols import JEDI_MSRVTT, JEDI_UCF101_5K, SMOKE_JEDI, get_protocol


def videojedi_mmd_poly():
    """videojedi's own mmd_poly (mmd_polynomial.py:6-24, on sklearn), loaded from its file: the package's __init__
    imports the V-JEPA model code, which this distance does not need."""
    spec = importlib.util.spec_from_file_location(
        "videojedi_mmd_polynomial", Path(importlib.util.find_spec("videojedi").origin).parent / "mmd_polynomial.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.mmd_poly


def reference_mmd_poly(x: np.ndarray, y: np.ndarray) -> float:
    """videojedi/mmd_polynomial.py:6-24 written out pair by pair: k(a, b) = (gamma <a, b>)^2 with sklearn's default
    gamma = 1 / n_features, mean over every pair of each block (diagonal included)."""
    gamma = 1.0 / x.shape[1]

    def mean_k(a, b):
        return sum((gamma * float(np.dot(p, q))) ** 2 for p, q in itertools.product(a, b)) / (len(a) * len(b))

    return mean_k(x, x) + mean_k(y, y) - 2.0 * mean_k(x, y)


def test_jedi_is_100_times_the_reference_mmd_pair_by_pair():
    rng = np.random.default_rng(3)
    fake, real = rng.normal(size=(23, 7)), rng.normal(0.3, 1.5, size=(31, 7))
    assert jedi_distance(fake, real) == pytest.approx(100.0 * reference_mmd_poly(fake, real), rel=1e-12)
    assert vb.jedi(real, fake) == pytest.approx(jedi_distance(fake, real), rel=1e-12)


def test_the_reference_files_own_example():
    """mmd_polynomial.py's __main__ prints 270.7 for mmd_poly(a, b, degree=2, coef0=0) on these matrices."""
    a = np.arange(1, 10).reshape(3, 3)
    b = np.array([[7, 6, 5], [4, 3, 2], [1, 1, 8], [0, 2, 5]])
    assert jedi_distance(a, b) / 100.0 == pytest.approx(270.7, abs=0.05)


def test_a_set_against_itself_is_zero_and_the_interval_brackets_the_value():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    assert jedi_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    case = example()
    shifted = compute_jedi(case.worse, SMOKE_JEDI, bootstrap=20, seed=1)
    low, high = shifted.interval
    assert shifted.resamples == 20 and low < shifted.value < high and shifted.value > 0
    again = compute_jedi(case.worse, SMOKE_JEDI, bootstrap=20, seed=1)
    assert again.interval == shifted.interval
    assert compute_jedi(case.inputs, SMOKE_JEDI, 0, 0).value == pytest.approx(0.0, abs=1e-12)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(VidrdBenchError, match="same width"):
        jedi_distance(np.zeros((4, 3)), np.zeros((4, 5)))
    with pytest.raises(VidrdBenchError, match="at least 2 rows"):
        vb.jedi(np.zeros((1, 3)), np.zeros((4, 3)))
    case = example()
    no_features = MetricInputs(case.inputs.features, real=None)
    with pytest.raises(VidrdBenchError, match="without --no-features"):
        compute_jedi(no_features, SMOKE_JEDI, 0, 0)


def test_the_metric_equals_videojedi_compute_metric_on_the_same_features():
    """JEDiMetric.compute_metric (JEDi.py:15-19): mmd_poly(train, test, degree=2, coef0=0) * 100, by its own code."""
    mmd_poly = videojedi_mmd_poly()
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(40, 1280)), rng.normal(0.1, 1.2, size=(30, 1280))
    stats = dataclasses.replace(example().inputs.real, features=real)
    got = compute_jedi(MetricInputs(fake, real=stats), JEDI_UCF101_5K, 0, 0).value
    assert got == pytest.approx(mmd_poly(real, fake, degree=2, coef0=0) * 100, rel=1e-9)
    assert vb.jedi(real, fake) == pytest.approx(got, rel=1e-12)


def test_each_kernel_field_moves_the_number_as_the_reference_kernel_does():
    """degree, coef0 and scale are protocol fields: swapped, the value follows mmd_poly's and is not JEDi's."""
    mmd_poly = videojedi_mmd_poly()
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(25, 16)), rng.normal(0.5, 1.0, size=(20, 16))
    inputs = MetricInputs(fake, real=dataclasses.replace(example().inputs.real, features=real))
    jedi = compute_jedi(inputs, JEDI_UCF101_5K, 0, 0).value
    for changes, expected in (({"kernel_degree": 3}, 100 * mmd_poly(fake, real, degree=3, coef0=0)),
                              ({"kernel_coef0": 1.0}, 100 * mmd_poly(fake, real, degree=2, coef0=1)),
                              ({"scale": 1.0}, mmd_poly(fake, real, degree=2, coef0=0))):
        value = compute_jedi(inputs, dataclasses.replace(JEDI_UCF101_5K, **changes), 0, 0).value
        assert value == pytest.approx(expected, rel=1e-9) and value != pytest.approx(jedi, rel=1e-3)


def test_a_bootstrap_resample_weighs_the_kernel_rows_as_recomputing_on_it_would():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(30, 6)), rng.normal(0.2, 1.0, size=(25, 6))
    means = KernelMeans(fake, real)
    for _ in range(5):
        idx = rng.integers(0, len(fake), len(fake))
        weights = np.bincount(idx, minlength=len(fake)) / len(fake)
        assert 100 * means.mmd2(weights) == pytest.approx(jedi_distance(fake[idx], real), rel=1e-10)


def test_the_protocols_take_videojedis_counts_and_are_jedis_own():
    """load_features(num_samples=5000) (JEDi.py:21); MSR-VTT's test split is smaller, so all of it; FVD does not
    score under a JEDi protocol, nor JEDi under an FVD one."""
    assert (JEDI_UCF101_5K.num_fake, JEDI_UCF101_5K.num_real, JEDI_UCF101_5K.detector) == (5000, 5000, "vjepa-h16-ssv2")
    assert (JEDI_UCF101_5K.num_frames, JEDI_UCF101_5K.resolution, JEDI_UCF101_5K.frame_stride) == (16, 224, 1)
    assert (JEDI_MSRVTT.num_fake, JEDI_MSRVTT.num_real, JEDI_MSRVTT.real_split) == (2990, None, "msrvtt-test")
    assert get_protocol("jedi-ucf101-10k").num_fake == 10_000 and "jedi" in METRICS
    assert [p.name for p in METRICS.get("jedi").protocols()] == [
        "jedi-ucf101-5k", "jedi-ucf101-10k", "jedi-msrvtt-2990", "jedi-smoke-tiny"]
    assert not any(p.name.startswith("jedi") for p in METRICS.get("fvd").protocols())
    with pytest.raises(VidrdBenchError, match="not an FVDProtocol"):
        METRICS.get("fvd").protocol("jedi-ucf101-5k")
    with pytest.raises(VidrdBenchError, match="not an JEDiProtocol"):
        METRICS.get("jedi").protocol("fvd-ucf101-10k")
