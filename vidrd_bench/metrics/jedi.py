"""JEDi (Luo et al., "Beyond FVD"): a biased MMD between generated and real features with a quadratic kernel.

Reference: oooolga/JEDi (the videojedi package), read at ef6291f / 1507896: videojedi/mmd_polynomial.py:6-24
(mmd_poly: sklearn polynomial_kernel with degree 2, gamma None = 1 / feature dim, coef0 0; mean(K_xx) + mean(K_yy)
- 2 mean(K_xy), every pair including i = j, i.e. the biased V-statistic) and videojedi/JEDi.py:15-19
(compute_metric: mmd_poly(train, test, degree=2, coef0=0) * 100). Its features are V-JEPA ViT-H/16 with the SSv2
attentive probe (1280-d); the distance itself takes any (N, D) features.
"""

from __future__ import annotations

import numpy as np

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.metrics.fvd import bootstrap_interval
from vidrd_bench.metrics.spec import MetricExample, MetricInputs, MetricValue
from vidrd_bench.metrics.stats import StatsFile
from vidrd_bench.protocols import SMOKE_FVD, FVDProtocol

SCALE = 100.0


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a.b / dim)^2 between every row of a and every row of b (sklearn's polynomial kernel, degree 2, default
    gamma 1 / dim, coef0 0), in float64."""
    return (a @ b.T / a.shape[1]) ** 2


def jedi_distance(fake: np.ndarray, real: np.ndarray) -> float:
    """100 x (mean k(f, f') + mean k(r, r') - 2 mean k(f, r)) over all pairs (biased MMD^2): 0 for equal sets."""
    fake, real = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    if fake.ndim != 2 or real.ndim != 2 or fake.shape[1] != real.shape[1] or min(len(fake), len(real)) < 2:
        raise VidrdBenchError(
            f"JEDi compares two (videos, feature_dim) matrices of the same width with at least 2 rows each; got "
            f"shapes {fake.shape} and {real.shape}. Pass features of one detector for both sets."
        )
    mmd2 = (polynomial_kernel(fake, fake).mean() + polynomial_kernel(real, real).mean()
            - 2.0 * polynomial_kernel(fake, real).mean())
    return float(SCALE * mmd2)


def compute_jedi(inputs: MetricInputs, proto: FVDProtocol, bootstrap: int, seed: int,
                 progress: bool = False) -> MetricValue:
    """JEDi of the generated features to the real ones, with a normal bootstrap interval over the generated videos
    (`bootstrap` resamples; none at 0)."""
    if inputs.real is None or inputs.real.features is None:
        raise VidrdBenchError("JEDi needs the real videos' features, not only their mean and covariance: make the "
                              "statistics file without --no-features, or pass a folder of real videos.")
    fake, real = inputs.features.astype(np.float64), inputs.real.features.astype(np.float64)
    value = jedi_distance(fake, real)
    if not bootstrap:
        return MetricValue(value)
    rng = np.random.default_rng(seed)
    samples = np.array([jedi_distance(fake[rng.integers(0, len(fake), len(fake))], real) for _ in range(bootstrap)])
    return MetricValue(value, bootstrap_interval(value, samples, 0.95), bootstrap)


def example() -> MetricExample:
    """Known case: a set against itself is 0; shifted by 1 in each of its 8 dimensions it is farther."""
    x = np.random.default_rng(0).normal(size=(100, 8))
    real = StatsFile(mu=x.mean(0), sigma=np.cov(x.T), count=len(x), detector=SMOKE_FVD.detector, detector_sha256={},
                     protocol=SMOKE_FVD.to_dict(), source="conformance example", features=x)
    return MetricExample(SMOKE_FVD, MetricInputs(x, real=real), 0.0, MetricInputs(x + 1.0, real=real))
