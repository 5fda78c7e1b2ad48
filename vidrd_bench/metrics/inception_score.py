"""Inception Score of videos, exp(E_x KL(p(y|x) || p(y))), under each protocol's split, shuffle and eps rules, and
its METRICS entry (SPEC)."""

from __future__ import annotations

import numpy as np

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.progress import steps
from vidrd_bench.metrics.fvd import bootstrap_interval
from vidrd_bench.metrics.spec import MetricExample, MetricInputs, MetricSpec, MetricValue
from vidrd_bench.protocols import DEFAULT_IS, SMOKE_IS, ISProtocol

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


def compute_is(inputs: MetricInputs, proto: ISProtocol, bootstrap: int, seed: int,
               progress: bool = False) -> MetricValue:
    """The protocol's IS (mean and std over its splits or runs) of the selected class probabilities, with a
    bootstrap interval of `bootstrap` resamples of the videos (none at 0)."""
    probs = inputs.features.astype(np.float64)
    mean, std = protocol_is(probs, proto, seed)
    extra = {"num_splits": proto.num_splits, "num_runs": proto.num_runs}
    if bootstrap <= 0:
        return MetricValue(mean, std=std, extra=extra)
    low, high, samples = bootstrap_is(probs, proto, bootstrap, seed, progress=progress)
    return MetricValue(mean, (low, high), len(samples), std, extra)


def example() -> MetricExample:
    """Known case: one-hot predictions cycling through 5 classes give IS 5 in each of the 10 consecutive splits;
    half-way to the uniform prediction they are worse."""
    one_hot = np.eye(5)[np.arange(100) % 5]
    return MetricExample(SMOKE_IS, MetricInputs(one_hot), 5.0, MetricInputs(0.5 * one_hot + 0.1))


SPEC = MetricSpec(
    name="is", title="IS",
    summary="Inception Score (C3D) of the generated videos in --fake, split and aggregated as the protocol says.",
    needs="nothing", higher_is_better=True, floor=1.0, protocol_type=ISProtocol, default_protocol=DEFAULT_IS,
    compute=compute_is, example=example, paper_protocol="is-c3d-styleganv-10k", column=0,
)
