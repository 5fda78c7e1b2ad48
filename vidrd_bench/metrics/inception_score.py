"""Inception Score of videos, exp(E_x KL(p(y|x) || p(y))), under each protocol's split, shuffle and eps rules."""

from __future__ import annotations

import numpy as np

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.metrics.fvd import bootstrap_interval
from vidrd_bench.core.progress import steps
from vidrd_bench.protocols import ISProtocol

STYLEGANV_SHUFFLE_SEED = 42  # StyleGAN-V src/metrics/video_inception_score.py:46


def kl_score(part: np.ndarray, eps: float = 0.0, eps_rule: str = "none") -> float:
    """exp of the mean KL of one split; eps_rule 'log-args' (TGAN v1), 'added' (TGANv2) or 'none' (StyleGAN-V).

    Under 'none' a probability of exactly 0 contributes 0 (the limit of p log p); the reference computes
    0 * log 0 = NaN there and is otherwise the same number.
    """
    if eps_rule == "added":
        part = part + eps
    pad = eps if eps_rule == "log-args" else 0.0
    marginal = part.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(part > 0, part * (np.log(part + pad) - np.log(marginal + pad)), 0.0)
    return float(np.exp(kl.sum(axis=1).mean()))


def split_scores(probs: np.ndarray, num_splits: int = 10, eps: float = 0.0, eps_rule: str = "none") -> np.ndarray:
    """IS of each of `num_splits` consecutive splits (rows i*N//s to (i+1)*N//s), as every reference splits."""
    p = np.asarray(probs, dtype=np.float64)
    n = len(p)
    if p.ndim != 2 or n < num_splits:
        raise VidrdBenchError(
            f"The Inception Score needs a (videos, classes) probability matrix with at least {num_splits} videos "
            f"(one per split); got shape {p.shape}. Score more videos or use a protocol with fewer splits."
        )
    return np.array([kl_score(p[i * n // num_splits:(i + 1) * n // num_splits], eps, eps_rule)
                     for i in range(num_splits)])


def inception_score(probs: np.ndarray, num_splits: int = 10, eps: float = 0.0,
                    eps_rule: str = "none") -> tuple[float, float]:
    """Mean and standard deviation of the per-split Inception Scores."""
    scores = split_scores(probs, num_splits, eps, eps_rule)
    return float(scores.mean()), float(scores.std())


def protocol_is(probs: np.ndarray, proto: ISProtocol, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the IS of already selected videos under `proto`'s shuffle, split, eps and runs rules."""
    p = np.array(probs, dtype=np.float64)
    if proto.shuffle == "styleganv-seed42":
        np.random.RandomState(STYLEGANV_SHUFFLE_SEED).shuffle(p)
    if proto.shuffle != "subsets-per-run":
        return inception_score(p, proto.num_splits, proto.eps, proto.eps_rule)
    size = min(proto.num_fake or len(p), len(p))
    runs = [inception_score(p[np.random.default_rng((seed, r)).choice(len(p), size, replace=False)],
                            proto.num_splits, proto.eps, proto.eps_rule)[0] for r in range(proto.num_runs)]
    return float(np.mean(runs)), float(np.std(runs))


def bootstrap_is(probs: np.ndarray, proto: ISProtocol, num_resamples: int = 100, seed: int = 0,
                 level: float = 0.95, progress: bool = False) -> tuple[float, float, np.ndarray]:
    """CI of the protocol's IS from resamples, with replacement (seeded), of the videos."""
    rng = np.random.default_rng(seed)
    p = np.asarray(probs, dtype=np.float64)
    n = len(p)
    samples = np.array([protocol_is(p[rng.integers(0, n, n)], proto, seed)[0]
                        for _ in steps(range(num_resamples), f"IS bootstrap of {n} videos", "resample", progress)])
    return (*bootstrap_interval(protocol_is(p, proto, seed)[0], samples, level), samples)
