"""Inception Score: closed forms, a hand-computed case, TGAN splits, bootstrap."""

import dataclasses

import numpy as np
import pytest

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.protocols import PROTOCOLS
from vidrd_bench.metrics.inception_score import bootstrap_is, inception_score, split_scores


def test_uniform_predictions_score_one_and_distinct_one_hot_score_the_class_count():
    assert inception_score(np.full((50, 7), 1 / 7), num_splits=5) == pytest.approx((1.0, 0.0))
    one_hot = np.eye(10)[np.arange(100) % 10]
    assert inception_score(one_hot, num_splits=10) == pytest.approx((10.0, 0.0))


def test_hand_computed_case():
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    marginal = p.mean(axis=0)
    kl = [sum(r[k] * np.log(r[k] / marginal[k]) for k in range(2)) for r in p]
    assert inception_score(p, num_splits=1)[0] == pytest.approx(np.exp(np.mean(kl)), rel=1e-12)


def test_splits_are_consecutive_blocks_and_std_is_over_splits():
    block_a = np.eye(4)[np.arange(8) % 4]  # IS 4
    block_b = np.eye(4)[np.arange(8) % 2]  # IS 2
    scores = split_scores(np.concatenate([block_a, block_b]), num_splits=2)
    assert scores == pytest.approx([4.0, 2.0])
    assert inception_score(np.concatenate([block_a, block_b]), num_splits=2) == pytest.approx((3.0, 1.0))
    with pytest.raises(VidrdBenchError, match="at least 10"):
        inception_score(np.full((5, 3), 1 / 3))


def test_bootstrap_seeded():
    probs = np.random.default_rng(0).dirichlet(np.ones(6) * 0.3, size=60)
    proto = dataclasses.replace(PROTOCOLS.get("is-smoke-tiny"), num_splits=3)
    lo, hi, s = bootstrap_is(probs, proto, num_resamples=20, seed=1)
    assert np.array_equal(s, bootstrap_is(probs, proto, num_resamples=20, seed=1)[2])
    assert lo < inception_score(probs, 3)[0] < hi
