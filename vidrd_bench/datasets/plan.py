"""The generation plan: videos allotted to classes by largest remainder, interleaved, each with its prompt and seed.

Allotment: class c with n_c of the T train clips gets floor(N * n_c / T) videos; the N - sum(floors) videos
left over go one each to the classes with the largest remainders (N * n_c mod T), ties broken by class index
(classInd order, earlier first). Integer arithmetic throughout, so the plan is the same on every machine.

Order: the k-th video (k = 0 .. m_c - 1) of a class allotted m_c videos sits at (k + 1/2) / m_c on [0, 1];
videos are sorted by that position (exact fractions), ties by class index. Every prefix of the plan then holds each
class within one video of its share; a shard is a contiguous block of this order (floor(L*i/n) to
floor(L*(i+1)/n)), so it too holds each class within about one video of its share (at most 1.36 for any
n <= 1000 at N = 10,000), and a partial or sharded run is representative.

Shards and ranks: under torchrun with W ranks, rank r of --shard i/n takes block i*W + r of n*W; those W
blocks are exactly block i of n, because floor(L*(i*W + r)/(n*W)) at r = 0 and r = W equals the bounds of
block i.

Seeds: the video at plan index i gets seed base_seed + i: unique within a run, and the same for that index
in every shard, rank layout or resumed run.

Prompts: a class with several prompts uses them in turn, the k-th video of the class taking prompt k mod len.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence, TypeVar

from vidrd_bench.core.errors import VidrdBenchError

T = TypeVar("T")


@dataclass(frozen=True)
class PlannedVideo:
    """One video of the plan: its position, class, prompt and seed."""

    index: int
    class_name: str
    prompt: str
    seed: int


def check_num_videos(num_videos: object) -> int:
    """`num_videos` as a positive int, or a clear error."""
    if isinstance(num_videos, bool) or not isinstance(num_videos, int) or num_videos <= 0:
        raise VidrdBenchError(
            f"--num-videos must be a positive whole number of videos to generate, got {num_videos!r}. "
            "The UCF-101 protocol uses 10000; use a small number such as 24 for a smoke run."
        )
    return num_videos


def allocate(counts: dict[str, int], num_videos: int) -> dict[str, int]:
    """Videos per class in proportion to `counts` (class-index order) by largest-remainder rounding."""
    total = sum(counts.values())
    base = {c: num_videos * n // total for c, n in counts.items()}
    by_remainder = sorted(counts, key=lambda c: -(num_videos * counts[c] % total))  # stable: ties keep class order
    for name in by_remainder[: num_videos - sum(base.values())]:
        base[name] += 1
    return base


def interleave(allotted: dict[str, int]) -> list[str]:
    """Class of each plan position: every class spread evenly over the run (see the module docstring)."""
    slots = [
        (Fraction(2 * k + 1, 2 * m), ci, name)
        for ci, (name, m) in enumerate(allotted.items())
        for k in range(m)
    ]
    return [name for _, _, name in sorted(slots)]


def build_plan(
    counts: dict[str, int], prompts: dict[str, Sequence[str]], num_videos: int, base_seed: int
) -> list[PlannedVideo]:
    """The full plan of `num_videos` videos: index, class, rotating prompt and seed base_seed + index."""
    check_num_videos(num_videos)
    seen: dict[str, int] = {c: 0 for c in counts}
    plan = []
    for index, name in enumerate(interleave(allocate(counts, num_videos))):
        options = prompts[name]
        plan.append(PlannedVideo(index, name, options[seen[name] % len(options)], base_seed + index))
        seen[name] += 1
    return plan


@dataclass(frozen=True)
class Shard:
    """Slice `index` of `count` (0-based): plan positions floor(L*index/count) up to floor(L*(index+1)/count)."""

    index: int = 0
    count: int = 1

    def compose(self, rank: int, world_size: int) -> "Shard":
        """Rank `rank`'s slice of this shard: block index*W + rank of count*W (the W blocks make up this one)."""
        return Shard(self.index * world_size + rank, self.count * world_size)

    def select(self, items: Sequence[T]) -> list[T]:
        """This shard's block of a plan-ordered sequence."""
        n = len(items)
        return list(items[n * self.index // self.count : n * (self.index + 1) // self.count])

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str | Shard | None) -> Shard:
    """Parse '--shard i/n' (0 <= i < n) into a Shard; None means the whole plan."""
    if text is None:
        return Shard()
    if isinstance(text, Shard):
        return text
    match = _SHARD_RE.match(str(text))
    if match is None or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise VidrdBenchError(
            f"--shard must be 'i/n' with whole numbers 0 <= i < n (shard i of n, counting from 0), got {text!r}. "
            "For example run --shard 0/4, 1/4, 2/4 and 3/4 as four jobs (e.g. a SLURM array with "
            "--shard $SLURM_ARRAY_TASK_ID/4); together they render the whole plan once."
        )
    return Shard(int(match.group(1)), int(match.group(2)))
