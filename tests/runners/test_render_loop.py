"""The render loop: the plan's fixed batches whatever the slice or resume holds, and the steady rate it shows."""

from __future__ import annotations

import pytest

from vidrd_bench.datasets import manifest as mf
from vidrd_bench.runners.render_loop import SteadyRate, plan_batches


def _rows(indices):
    return [mf.ManifestRow(i, "Diving", f"prompt {i}", i, f"videos/{i:05d}_Diving.mp4", "p") for i in indices]


def test_a_slice_renders_whole_plan_groups_and_writes_only_its_own_rows():
    """Batch size 4 over a plan of 10: a slice holding 3, 4 and 9 renders groups 0-3, 4-7 and 8-9 whole, writing
    only 3, 4 and 9 (at positions 3, 0 and 1); a row rendered in another batch would change its bytes."""
    plan = _rows(range(10))
    todo = _rows([9, 3, 4])
    calls = plan_batches(todo, plan, 4)
    assert [[r.index for r in members] for members, _, _ in calls] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [keep for _, keep, _ in calls] == [[3], [0], [1]]
    assert [[r.index for r in mine] for _, _, mine in calls] == [[3], [4], [9]]
    assert all(mine[0] is next(r for r in todo if r.index == mine[0].index) for _, _, mine in calls)


def test_steady_rate_leaves_out_the_first_batch():
    ticks = iter([100.0, 130.0, 150.0])  # first batch ends at 100 s (compile), then 30 s and 20 s batches
    rate = SteadyRate(clock=lambda: next(ticks))
    rate.batch_done(16)
    assert rate.s_per_video is None
    rate.batch_done(16)
    rate.batch_done(8)
    assert rate.s_per_video == pytest.approx(50 / 24)
