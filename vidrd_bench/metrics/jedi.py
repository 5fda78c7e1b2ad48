"""JEDi (Luo et al., "Beyond FVD"): a biased MMD between generated and real features with a quadratic kernel.

Reference: oooolga/JEDi (the videojedi package), read at ef6291f / 1507896: videojedi/mmd_polynomial.py:6-24
(mmd_poly: sklearn polynomial_kernel with degree 2, gamma None = 1 / feature dim, coef0 0; mean(K_xx) + mean(K_yy)
- 2 mean(K_xy), every pair including i = j, i.e. the biased V-statistic) and videojedi/JEDi.py:15-19
(compute_metric: mmd_poly(train, test, degree=2, coef0=0) * 100). Its features are V-JEPA ViT-H/16 with the SSv2
attentive probe (1280-d); the distance itself takes any (N, D) features. The kernel's degree and coef0 and the
scale are JEDiProtocol fields; gamma is always 1 / dim.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.metrics.fvd import bootstrap_interval
from vidrd_bench.metrics.spec import MetricExample, MetricInputs, MetricSpec, MetricValue
from vidrd_bench.metrics.stats import StatsFile, gaussian_of
from vidrd_bench.protocols import JEDI_UCF101_5K, SMOKE_JEDI, JEDiProtocol

SCALE = 100.0


def polynomial_kernel(a: np.ndarray, b: np.ndarray, degree: int = 2, coef0: float = 0.0) -> np.ndarray:
    """(a.b / dim + coef0)^degree between every row of a and every row of b (sklearn's polynomial kernel with its
    default gamma 1 / dim), in float64."""
    return (a @ b.T / a.shape[1] + coef0) ** degree


def _checked(fake: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets in float64, refused unless they are (N, D) matrices of one width with 2 or more rows."""
    fake, real = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    if fake.ndim != 2 or real.ndim != 2 or fake.shape[1] != real.shape[1] or min(len(fake), len(real)) < 2:
        raise VidrdBenchError(
            f"JEDi compares two (videos, feature_dim) matrices of the same width with at least 2 rows each; got "
            f"shapes {fake.shape} and {real.shape}. Pass features of one detector for both sets."
        )
    return fake, real


class KernelMeans:
    """The kernel matrices a biased MMD^2 needs, computed once: K(fake, fake), the row means of K(fake, real) and
    the mean of K(real, real). `mmd2(weights)` weighs the fake rows (uniform: the plain estimate; bootstrap
    counts / n: the estimate on that resample, without recomputing a kernel)."""

    def __init__(self, fake: np.ndarray, real: np.ndarray, degree: int = 2, coef0: float = 0.0):
        k = partial(polynomial_kernel, degree=degree, coef0=coef0)
        self.ff, self.fr_rows, self.rr = k(fake, fake), k(fake, real).mean(axis=1), float(k(real, real).mean())

    def mmd2(self, weights: np.ndarray | None = None) -> float:
        """sum_ij w_i w_j k(f_i, f_j) + mean k(r, r') - 2 sum_i w_i mean_r k(f_i, r); w uniform by default."""
        w = np.full(len(self.ff), 1.0 / len(self.ff)) if weights is None else weights
        return float(w @ self.ff @ w + self.rr - 2.0 * w @ self.fr_rows)


def jedi_distance(fake: np.ndarray, real: np.ndarray, degree: int = 2, coef0: float = 0.0,
                  scale: float = SCALE) -> float:
    """scale x (mean k(f, f') + mean k(r, r') - 2 mean k(f, r)) over all pairs (biased MMD^2): 0 for equal sets;
    JEDi's kernel and scale by default (degree 2, coef0 0, x100)."""
    return scale * KernelMeans(*_checked(fake, real), degree, coef0).mmd2()


def compute_jedi(inputs: MetricInputs, proto: JEDiProtocol, bootstrap: int, seed: int,
                 progress: bool = False) -> MetricValue:
    """JEDi of the generated features to the real ones under the protocol's kernel and scale, with a normal
    bootstrap interval over the generated videos (`bootstrap` resamples with replacement; none at 0)."""
    if inputs.real is None or inputs.real.features is None:
        raise VidrdBenchError("JEDi needs the real videos' features, not only their mean and covariance: make the "
                              "statistics file without --no-features, or pass a folder of real videos.")
    fake, real = _checked(inputs.features, inputs.real.features)
    means = KernelMeans(fake, real, proto.kernel_degree, proto.kernel_coef0)
    value = proto.scale * means.mmd2()
    if not bootstrap:
        return MetricValue(value)
    rng, n = np.random.default_rng(seed), len(fake)
    samples = np.array([proto.scale * means.mmd2(np.bincount(rng.integers(0, n, n), minlength=n) / n)
                        for _ in range(bootstrap)])
    return MetricValue(value, bootstrap_interval(value, samples, 0.95), bootstrap)


def example() -> MetricExample:
    """Known case: a set against itself is 0; shifted by 1 in each of its 8 dimensions it is farther."""
    x = np.random.default_rng(0).normal(size=(100, 8))
    mu, sigma = gaussian_of(x, SMOKE_JEDI.covariance_divisor)
    real = StatsFile(mu=mu, sigma=sigma, count=len(x), detector=SMOKE_JEDI.detector, detector_sha256={},
                     protocol=SMOKE_JEDI.to_dict(), source="conformance example", features=x)
    return MetricExample(SMOKE_JEDI, MetricInputs(x, real=real), 0.0, MetricInputs(x + 1.0, real=real))


SPEC = MetricSpec(
    name="jedi", title="JEDi",
    summary="JEPA Embedding Distance: 100 x biased MMD^2 (kernel (x.y / D)^2) of V-JEPA features, --fake vs --real.",
    needs="real", higher_is_better=False, floor=0.0, protocol_type=JEDiProtocol, default_protocol=JEDI_UCF101_5K.name,
    compute=compute_jedi, example=example, column=2,
)
