"""Inception Score of videos (TGAN protocol): exp(E_x KL(p(y|x) || p(y))) over splits, with bootstrap CIs."""

from __future__ import annotations

import numpy as np

from vidrd_bench.errors import VidrdBenchError
from vidrd_bench.metrics.fvd import bootstrap_interval
from vidrd_bench.progress import steps

EPS = 1e-20


def split_scores(probs: np.ndarray, num_splits: int = 10, eps: float = EPS) -> np.ndarray:
    """IS of each of `num_splits` consecutive splits (rows i*N//s to (i+1)*N//s), as TGAN computes it."""
    p = np.asarray(probs, dtype=np.float64)
    n = len(p)
    if p.ndim != 2 or n < num_splits:
        raise VidrdBenchError(
            f"The Inception Score needs a (videos, classes) probability matrix with at least {num_splits} videos "
            f"(one per split); got shape {p.shape}. Score more videos or pass fewer splits."
        )
    scores = []
    for i in range(num_splits):
        part = p[i * n // num_splits:(i + 1) * n // num_splits]
        marginal = part.mean(axis=0, keepdims=True)
        kl = part * (np.log(part + eps) - np.log(marginal + eps))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return np.array(scores)


def inception_score(probs: np.ndarray, num_splits: int = 10, eps: float = EPS) -> tuple[float, float]:
    """Mean and standard deviation of the per-split Inception Scores."""
    scores = split_scores(probs, num_splits, eps)
    return float(scores.mean()), float(scores.std())


def bootstrap_is(probs: np.ndarray, num_splits: int = 10, num_resamples: int = 100, seed: int = 0,
                 level: float = 0.95, progress: bool = False) -> tuple[float, float, np.ndarray]:
    """CI of the IS (mean over splits) from resamples, with replacement (seeded), of the videos."""
    rng = np.random.default_rng(seed)
    p = np.asarray(probs, dtype=np.float64)
    n = len(p)
    samples = np.array([inception_score(p[rng.integers(0, n, n)], num_splits)[0]
                        for _ in steps(range(num_resamples), f"IS bootstrap of {n} videos", "resample", progress)])
    return (*bootstrap_interval(inception_score(p, num_splits)[0], samples, level), samples)
