"""core.timing: the one timing rule of `bench` and benchmarks/, checked with a fake clock on the CPU."""

from pathlib import Path

import torch

from vidrd_bench.core.timing import time_ms, timed_call

ROOT = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")


def fake_clock(durations_s: list[float]):
    """A clock whose successive (start, stop) readings are 100 s apart and last the given durations."""
    readings = iter([t for i, d in enumerate(durations_s) for t in (100.0 * i, 100.0 * i + d)])
    return lambda: next(readings)


def test_median_min_max_of_the_timed_calls_the_first_warm_up_call_reported_apart():
    calls = []
    # warm-up: the first call is timed (8 s), the other two are not; then 5 timed calls (binary-exact durations)
    clock = fake_clock([8.0, 0.25, 0.125, 1.0, 0.5, 0.0625])
    result = time_ms(lambda: calls.append(torch.is_grad_enabled()), CPU, warmup=3, iters=5, clock=clock)
    assert result == {"ms": 250.0, "ms_min": 62.5, "ms_max": 1000.0, "iters": 5, "first_ms": 8000.0}
    assert calls == [False] * 8  # 3 warm-up + 5 timed calls, all without autograd


def test_an_even_count_takes_the_mean_of_the_two_middle_times_and_warmup_zero_has_no_first_call():
    calls = []
    result = time_ms(lambda: calls.append(1), CPU, warmup=0, iters=4, clock=fake_clock([0.5, 0.25, 1.0, 0.125]))
    assert result == {"ms": 375.0, "ms_min": 125.0, "ms_max": 1000.0, "iters": 4, "first_ms": None}
    assert len(calls) == 4


def test_timed_call_returns_the_result_and_its_time():
    assert timed_call(lambda: "videos", CPU, clock=fake_clock([0.75])) == ("videos", 750.0)


def test_no_other_timing_rule_in_the_package_or_the_benchmark_scripts():
    """The issue this closes: bench's wall-clock median, a CUDA-event mean and a CUDA-event median in three scripts.
    Only core/timing.py may define a time_ms or read CUDA events."""
    files = [p for p in (*ROOT.glob("vidrd_bench/**/*.py"), *ROOT.glob("benchmarks/*.py"))
             if p != ROOT / "vidrd_bench" / "core" / "timing.py"]
    offenders = [str(p.relative_to(ROOT)) for p in files
                 if any(s in p.read_text() for s in ("def time_ms", "cuda.Event", "elapsed_time("))]
    assert files and offenders == []
