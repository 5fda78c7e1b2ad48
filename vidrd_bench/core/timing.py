"""The one timing rule of `vidrd-bench bench` and of every script in benchmarks/, so their figures compare (and
the peak-memory window and the FLOP count their rows report).

Method (`time_ms`): `warmup` calls first, the first of them timed alone and reported as `first_ms` (compiling,
autotuning, CUDA-graph capture land there); then `iters` calls, each timed on the host clock (`time.perf_counter`)
from just before the call until `torch.cuda.synchronize` returns after it, the device's queue empty at the start.
A figure is therefore what a caller waits for: the GPU kernels, the launch gaps between them and the CPU work that
feeds them. Reported: the median over the `iters` calls (`statistics.median`: the mean of the two middle values for
an even count), the fastest and the slowest, `iters`, and `first_ms`. Everything runs under `torch.no_grad()`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def synchronize(device: torch.device) -> None:
    """Wait until the GPU's queue is empty (no-op on the CPU), so a host clock reading covers the work launched."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_call(fn: Callable[[], Any], device: torch.device,
               clock: Callable[[], float] = time.perf_counter) -> tuple[Any, float]:
    """Call `fn` once; return its result and its ms from an idle device to the device idle again after it."""
    synchronize(device)
    start = clock()
    out = fn()
    synchronize(device)
    return out, (clock() - start) * 1e3


def time_ms(fn: Callable[[], Any], device: torch.device, warmup: int = 2, iters: int = 5,
            clock: Callable[[], float] = time.perf_counter) -> dict[str, float | None]:
    """Median, min and max ms of `iters` calls of `fn` after `warmup` calls (the module docstring's method); first_ms
    is the first warm-up call's time (None with warmup=0, for a caller that warmed `fn` up itself)."""
    with torch.no_grad():
        first = timed_call(fn, device, clock)[1] if warmup > 0 else None
        for _ in range(warmup - 1):
            fn()
        times = [timed_call(fn, device, clock)[1] for _ in range(iters)]
    return {"ms": statistics.median(times), "ms_min": min(times), "ms_max": max(times), "iters": iters,
            "first_ms": first}


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory window on a GPU (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device, reserved: bool = False) -> float | None:
    """Peak GPU memory allocated (or reserved by the caching allocator) since the last reset, in GiB."""
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_reserved(device) if reserved else torch.cuda.max_memory_allocated(device)
    return round(peak / 2**30, 3)


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations of one call of `fn`, by torch's FLOP counter (matmuls, convs, attention)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())
