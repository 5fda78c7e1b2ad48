"""Frechet Video Distance: the Frechet distance between Gaussians of I3D features, bootstrap CIs, per-class FVD,
and its METRICS entry (SPEC)."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import scipy.linalg
import scipy.stats

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.progress import steps
from vidrd_bench.metrics.spec import MetricExample, MetricInputs, MetricSpec, MetricValue
from vidrd_bench.metrics.stats import StatsFile, gaussian_of
from vidrd_bench.protocols import DEFAULT_FVD, SMOKE_FVD, FVDProtocol

SINGULAR_EPS = 1e-6
IMAGINARY_ATOL = 1e-3


class FrechetDistanceError(VidrdBenchError):
    """The matrix square root came out with a large imaginary part: the statistics are degenerate."""


def _sqrtm_product(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """sqrtm(sigma1 @ sigma2), retried with eps on the diagonals when the product is near singular."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        warnings.warn(f"Frechet distance: product of covariances is near singular; adding {SINGULAR_EPS} to the "
                      "diagonals (too few videos for the feature dimension?)", RuntimeWarning, stacklevel=3)
        offset = np.eye(sigma1.shape[0]) * SINGULAR_EPS
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        worst = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAGINARY_ATOL):
            raise FrechetDistanceError(
                f"The square root of the covariance product has an imaginary component of {worst:.3g} "
                f"(tolerance {IMAGINARY_ATOL}); the statistics are degenerate. Use more videos (FVD needs many more "
                "videos than feature dimensions) or check the features for NaNs or constant columns."
            )
        covmean = covmean.real
    return covmean


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2)), in float64 with scipy's sqrtm; a distance
    is never negative, so a value below 0 (float rounding of the matrix square root, e.g. -4e-7 for identical
    sets) is returned as 0, and identical statistics give exactly 0."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise VidrdBenchError(
            f"Feature statistics do not match: means {mu1.shape} vs {mu2.shape}, covariances {sigma1.shape} vs "
            f"{sigma2.shape}. Both sides must come from the same detector."
        )
    if np.array_equal(mu1, mu2) and np.array_equal(sigma1, sigma2):
        return 0.0  # the same Gaussian: exactly 0, not the matrix square root's rounding of it
    diff = mu1 - mu2
    covmean = _sqrtm_product(sigma1, sigma2)
    return max(0.0, float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)))


def fvd_from_features(fake: np.ndarray, real_mu: np.ndarray, real_sigma: np.ndarray, divisor: str = "N") -> float:
    """FVD of a generated feature matrix against real statistics (covariance divided by N or N - 1)."""
    return frechet_distance(*gaussian_of(fake, divisor), real_mu, real_sigma)


def bootstrap_interval(point: float, samples: np.ndarray, level: float) -> tuple[float, float]:
    """Normal bootstrap interval point +- z * sd(samples).

    Resampling videos with replacement duplicates some of them, which biases FVD (and IS) resamples away from
    the full-sample value, so percentile intervals can miss the point estimate entirely; the resamples are
    used for the spread only, centred on the full-sample value.
    """
    z = float(scipy.stats.norm.ppf(0.5 + level / 2.0))
    sd = float(np.std(samples, ddof=1)) if len(samples) > 1 else 0.0
    return point - z * sd, point + z * sd


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance matrix via eigh (negative round-off eigenvalues clipped)."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def fast_frechet_to(real_mu: np.ndarray, real_sigma: np.ndarray):
    """Frechet distance to fixed real statistics via Tr sqrt(S_f S_r) = sum sqrt(eig(R S_f R)), R = S_r^(1/2).

    The same quantity as `frechet_distance` (a test pins it) at a fraction of sqrtm's cost; bootstrap uses it.
    """
    root = _psd_sqrt(np.asarray(real_sigma, np.float64))
    base = float(np.trace(real_sigma))

    def distance(fake_mu: np.ndarray, fake_sigma: np.ndarray) -> float:
        """Frechet distance of (fake_mu, fake_sigma) to the fixed real statistics."""
        diff = fake_mu - real_mu
        eig = np.linalg.eigvalsh(root @ fake_sigma @ root)
        return float(diff @ diff + np.trace(fake_sigma) + base - 2.0 * np.sqrt(np.clip(eig, 0, None)).sum())

    return distance


def bootstrap_fvd(fake: np.ndarray, real_mu: np.ndarray, real_sigma: np.ndarray, num_resamples: int = 100,
                  seed: int = 0, level: float = 0.95, divisor: str = "N",
                  progress: bool = False) -> tuple[float, float, np.ndarray]:
    """CI of FVD from resamples (with replacement, seeded) of the generated videos; real statistics fixed.

    A video's row may hold several samples (frame FID: T frames of real_mu's width each): the Gaussian is taken
    over those samples, and whole videos are resampled (a video's frames are not independent)."""
    rng = np.random.default_rng(seed)
    distance = fast_frechet_to(real_mu, real_sigma)
    n, width = len(fake), np.size(real_mu)

    def gaussian(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The Gaussian of these videos' samples."""
        return gaussian_of(rows.reshape(-1, width), divisor)

    samples = np.array([distance(*gaussian(fake[rng.integers(0, n, n)]))
                        for _ in steps(range(num_resamples), f"bootstrap of {n} videos", "resample", progress)])
    return (*bootstrap_interval(distance(*gaussian(fake)), samples, level), samples)


def ladder(n: int, start: int = 256) -> list[int]:
    """Sample sizes for FVD@N: start, 2*start, ... below n, then n; quarters and halves of n when that gives < 3."""
    sizes = [start << k for k in range(32) if start << k < n] + [n]
    if len(sizes) < 3:
        sizes = sorted({m for m in (n // 4, n // 2, n) if m >= 2})
    return sizes


def fvd_at_sizes(fake: np.ndarray, real_mu: np.ndarray, real_sigma: np.ndarray, sizes: list[int], seed: int = 0,
                 divisor: str = "N") -> list[float]:
    """FVD of one seeded random subset (without replacement) of the generated videos per size; all of them at n."""
    rng = np.random.default_rng(seed)
    distance = fast_frechet_to(real_mu, real_sigma)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return [distance(*gaussian_of(fake[rng.choice(len(fake), m, replace=False)] if m < len(fake) else fake,
                                      divisor)) for m in sizes]


def extrapolate_infinity(sizes: list[int], values: list[float]) -> tuple[float, float]:
    """Least-squares fit FVD_N = FVD_inf + k / N (FID-infinity's linear fit in 1/N); returns (FVD_inf, k)."""
    if len(sizes) < 2:
        raise VidrdBenchError("FVD_inf needs FVD at two or more sample sizes; score more videos.")
    design = np.stack([np.ones(len(sizes)), 1.0 / np.asarray(sizes, np.float64)], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, np.asarray(values, np.float64), rcond=None)
    return float(intercept), float(slope)


def per_class_fvd(fake: np.ndarray, fake_classes: list[str | None], real: StatsFile,
                  min_count: int = 2, divisor: str = "N", progress: bool = False) -> dict[str, float]:
    """FVD of each class's generated videos against that class's real statistics (classes with at least
    `min_count` videos on both sides); the bar counts only those classes and is not shown when there are none."""
    labels = np.asarray([c or "" for c in fake_classes])
    names, counts = np.unique(labels, return_counts=True)
    enough = {str(n) for n, k in zip(names, counts) if n and k >= min_count}
    usable = {n: g for n, g in real.class_gaussians(min_count, divisor).items() if n in enough}
    out = {}
    for name, (mu, sigma, _) in steps(usable.items(), "per-class FVD", "class", progress and bool(usable), len(usable)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[name] = fvd_from_features(fake[labels == name], mu, sigma, divisor)
    return out


def per_class_note(fake_classes: list[str | None], real: StatsFile, scored: dict[str, float],
                   min_count: int = 2) -> str:
    """How many generated classes per-class FVD covers and why the rest are left out; '' when it covers them all."""
    generated = sorted({c for c in fake_classes if c})
    left = [c for c in generated if c not in scored]
    if not left:
        return ""
    real_counts = Counter(real.classes or []) if real.features is not None else Counter()
    real_ok = {c for c, k in real_counts.items() if c and k >= min_count}
    shared = sum(c in real_ok for c in generated)
    rule = f"a class needs at least {min_count} generated and {min_count} real videos"
    shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
    if not scored:
        return (f"per-class FVD not computed: no class qualifies ({rule}; {len(generated)} generated classes, "
                f"{len(real_ok)} real classes with {min_count}+ videos, {shared} of them shared)")
    return f"per-class FVD covers {len(scored)} of {len(generated)} generated classes ({rule}); left out: {shown}"


def compute_fvd(inputs: MetricInputs, proto: FVDProtocol, bootstrap: int, seed: int,
                progress: bool = False) -> MetricValue:
    """FVD of the selected generated features against the real statistics, with a bootstrap interval of
    `bootstrap` resamples of the generated videos (none at 0)."""
    real, divisor = inputs.real, proto.covariance_divisor
    value = fvd_from_features(inputs.features, real.mu, real.sigma, divisor)
    if not bootstrap:
        return MetricValue(value)
    low, high, samples = bootstrap_fvd(inputs.features, real.mu, real.sigma, bootstrap, seed, divisor=divisor,
                                       progress=progress)
    return MetricValue(value, (low, high), len(samples))


def fvd_per_class(inputs: MetricInputs, proto: FVDProtocol, progress: bool = False) -> dict[str, float | dict]:
    """The record's per-class FVD (classes with at least 2 videos on both sides) and its mean, and a note saying
    which generated classes it leaves out (all of them: only the note)."""
    by_class = per_class_fvd(inputs.features, list(inputs.classes), inputs.real, divisor=proto.covariance_divisor,
                             progress=progress)
    note = per_class_note(list(inputs.classes), inputs.real, by_class)
    out: dict[str, float | dict | str] = {"per_class_fvd_note": note} if note else {}
    if by_class:
        out.update(per_class_fvd=by_class, per_class_fvd_mean=float(np.mean(list(by_class.values()))))
    return out


def example() -> MetricExample:
    """Known case: generated features drawn from the real statistics' own sample give FVD 0; shifted by 1 in each
    of their 8 dimensions they are worse."""
    features = np.random.default_rng(0).normal(size=(200, 8))
    mu, sigma = gaussian_of(features, SMOKE_FVD.covariance_divisor)
    real = StatsFile(mu=mu, sigma=sigma, count=len(features), detector=SMOKE_FVD.detector, detector_sha256={},
                     protocol=SMOKE_FVD.to_dict(), source="conformance example")
    return MetricExample(SMOKE_FVD, MetricInputs(features, real=real), 0.0, MetricInputs(features + 1.0, real=real))


SPEC = MetricSpec(
    name="fvd", title="FVD", summary="Frechet Video Distance of the generated videos in --fake against --real.",
    needs="real", higher_is_better=False, floor=0.0, protocol_type=FVDProtocol, default_protocol=DEFAULT_FVD,
    compute=compute_fvd, example=example, paper_protocol="fvd-ucf101-10k", column=1, per_class=fvd_per_class,
)
