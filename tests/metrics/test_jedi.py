"""JEDi's distance against the videojedi package's formula, its interval, and `vb.jedi`."""

import itertools

import numpy as np
import pytest

import vidrd_bench as vb
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.metrics.jedi import compute_jedi, example, jedi_distance
from vidrd_bench.metrics.spec import MetricInputs
from vidrd_bench.protocols import SMOKE_FVD


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
    shifted = compute_jedi(case.worse, SMOKE_FVD, bootstrap=20, seed=1)
    low, high = shifted.interval
    assert shifted.resamples == 20 and low < shifted.value < high and shifted.value > 0
    again = compute_jedi(case.worse, SMOKE_FVD, bootstrap=20, seed=1)
    assert again.interval == shifted.interval and compute_jedi(case.inputs, SMOKE_FVD, 0, 0).value == 0.0


def test_bad_inputs_are_clear_errors():
    with pytest.raises(VidrdBenchError, match="same width"):
        jedi_distance(np.zeros((4, 3)), np.zeros((4, 5)))
    with pytest.raises(VidrdBenchError, match="at least 2 rows"):
        vb.jedi(np.zeros((1, 3)), np.zeros((4, 3)))
    case = example()
    no_features = MetricInputs(case.inputs.features, real=None)
    with pytest.raises(VidrdBenchError, match="without --no-features"):
        compute_jedi(no_features, SMOKE_FVD, 0, 0)
