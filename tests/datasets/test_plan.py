"""The generation plan: largest-remainder allotment, interleaved order, rotating prompts, seeds and shards."""

from __future__ import annotations

import collections
from fractions import Fraction

import pytest

from vidrd_bench.datasets.plan import (
    Shard, allocate, build_plan, check_num_videos, interleave, parse_shard,
)
from vidrd_bench.datasets.registry import DATASETS
from vidrd_bench.core.errors import VidrdBenchError

COUNTS = DATASETS.get("ucf101").train_counts
ONE_PROMPT = {c: (f"a scene of {c}",) for c in COUNTS}


def test_allocation_10k_matches_hand_computation():
    alloc = allocate(COUNTS, 10_000)
    assert sum(alloc.values()) == 10_000 and list(alloc) == list(COUNTS)
    assert (min(alloc.values()), max(alloc.values())) == (75, 127)
    # 10000 * n / 9537: sum of floors is 9947, so the 53 largest remainders get one more video.
    assert alloc["Punch"] == 127            # 121 clips -> 126.87
    assert alloc["ApplyEyeMakeup"] == 106   # 101 clips -> 105.90
    assert alloc["Typing"] == 98            # 93 clips -> 97.515, remainder 4911 is 50th-52nd largest
    assert alloc["BreastStroke"] == 77      # 73 clips -> 76.544
    # 72 clips -> 75.495 (remainder 4725) for three classes; only one place is left: classInd order wins.
    assert (alloc["PlayingViolin"], alloc["PullUps"], alloc["PushUps"]) == (76, 75, 75)


@pytest.mark.parametrize("n", [1, 7, 101, 102, 1000, 9537, 10_000, 25_001])
def test_allocation_is_largest_remainder(n):
    alloc = allocate(COUNTS, n)
    total = sum(COUNTS.values())
    assert sum(alloc.values()) == n
    quota = {c: Fraction(n * k, total) for c, k in COUNTS.items()}
    up = [c for c in COUNTS if alloc[c] == quota[c].__floor__() + 1]
    down = [c for c in COUNTS if alloc[c] == quota[c].__floor__()]
    assert len(up) + len(down) == len(COUNTS)
    names = list(COUNTS)
    for c in up:
        for d in down:
            fc, fd = quota[c] % 1, quota[d] % 1
            assert fc > fd or (fc == fd and names.index(c) < names.index(d)), (c, d)


def test_plan_order_is_interleaved_and_every_prefix_representative():
    plan = build_plan(COUNTS, ONE_PROMPT, 10_000, 42)
    alloc = allocate(COUNTS, 10_000)
    assert [v.index for v in plan] == list(range(10_000))
    assert collections.Counter(v.class_name for v in plan) == collections.Counter(alloc)
    seen: collections.Counter[str] = collections.Counter()
    for length, video in enumerate(plan, 1):
        seen[video.class_name] += 1
        if length % 97 == 0:
            assert all(abs(seen[c] - length * alloc[c] / 10_000) <= 1 for c in alloc), length


def test_plan_deterministic_seeds_unique_and_stable():
    a = build_plan(COUNTS, ONE_PROMPT, 500, 42)
    assert a == build_plan(COUNTS, ONE_PROMPT, 500, 42)
    assert [v.seed for v in a] == [42 + i for i in range(500)]
    assert len({v.seed for v in build_plan(COUNTS, ONE_PROMPT, 10_000, 7)}) == 10_000
    assert [v.seed for v in build_plan(COUNTS, ONE_PROMPT, 500, 1000)][:3] == [1000, 1001, 1002]


def test_prompts_rotate_within_a_class():
    prompts = {**ONE_PROMPT, "Punch": ("p0", "p1", "p2")}
    punch = [v.prompt for v in build_plan(COUNTS, prompts, 10_000, 0) if v.class_name == "Punch"]
    assert len(punch) == 127 and punch[:5] == ["p0", "p1", "p2", "p0", "p1"]
    assert collections.Counter(punch) == {"p0": 43, "p1": 42, "p2": 42}


def test_interleave_small_case():
    assert interleave({"A": 2, "B": 1, "C": 1}) == ["A", "B", "C", "A"]


@pytest.mark.parametrize("length,n", [(24, 1), (24, 2), (24, 5), (24, 24), (24, 30), (10_000, 7), (10_000, 64)])
def test_shards_are_disjoint_and_cover_the_plan(length, n):
    items = list(range(length))
    parts = [Shard(i, n).select(items) for i in range(n)]
    assert sorted(x for p in parts for x in p) == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.parametrize("n,world", [(1, 2), (2, 2), (3, 4), (5, 3)])
def test_ranks_compose_with_shards(n, world):
    items = list(range(1001))
    for i in range(n):
        block = Shard(i, n).select(items)
        ranks = [Shard(i, n).compose(r, world).select(items) for r in range(world)]
        assert [x for r in ranks for x in r] == block


def test_parse_shard():
    assert parse_shard("0/4") == Shard(0, 4)
    assert parse_shard(" 3 / 4 ") == Shard(3, 4)
    assert parse_shard(None) == Shard(0, 1)
    for bad in ["4/4", "-1/4", "a/b", "1", "0/0", "1/2/3", ""]:
        with pytest.raises(VidrdBenchError, match="--shard must be 'i/n'"):
            parse_shard(bad)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_num_videos_must_be_positive(bad):
    with pytest.raises(VidrdBenchError, match="--num-videos must be a positive whole number"):
        check_num_videos(bad)
