"""Which torch device a command runs on: one rule shared by generation, scoring and the benchmark."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Iterator

import torch

from vidrd_bench.core.errors import VidrdBenchError

INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """`device` if given, else cuda when available, else cpu; a bare 'cuda' becomes cuda:LOCAL_RANK (0 outside
    torchrun), so every torchrun process takes its own GPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise VidrdBenchError(f"Unknown torch device {str(device)!r}: use cpu, cuda or cuda:N (e.g. --device cuda:0), "
                              "or leave --device out to take the GPU when there is one.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VidrdBenchError(f"--device {device} asks for a GPU, but {_why_no_cuda()} Run with --device cpu, or see "
                              "the README's Install section for the GPU line and its driver requirement.")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def _why_no_cuda() -> str:
    """Why torch cannot use a GPU here: a CPU-only build, no driver, or a driver older than torch's CUDA needs."""
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is a CPU-only build."
    try:
        torch.cuda.init()
    except Exception as e:  # torch raises RuntimeError (or AssertionError) with the driver's own words
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    else:
        return f"torch {torch.__version__} finds no CUDA device."
    old = re.search(r"too old \(found version (\d+)\)", message)
    if old:
        found = int(old.group(1))
        cuda = f"{found // 1000}.{found % 1000 // 10}"
        return (f"the NVIDIA driver here is too old: it supports CUDA {cuda}, while torch "
                f"{torch.__version__} is built for CUDA {torch.version.cuda} (for CUDA 13 the driver must be >= 580). "
                "Update the NVIDIA driver, or install torch built for an older CUDA from the PyTorch index.")
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) cannot start CUDA: {message[:300].rstrip('.')}."


def describe_device(device: torch.device, dtype: str) -> str:
    """One line saying where a command runs: the device (GPU name), dtype and torch build."""
    where = str(device)
    if device.type == "cuda":
        where += f" ({torch.cuda.get_device_name(device)})"
    return f"device {where}, dtype {dtype}, torch {torch.__version__}"


def persistent_compile_cache() -> Path:
    """Point torch.compile's cache at ~/.cache/vidrd-bench/inductor (XDG_CACHE_HOME honoured) unless the user set
    TORCHINDUCTOR_CACHE_DIR: the ~2.5-minute first compile is then reused by later runs, across reboots too
    (torch's default lives in /tmp)."""
    if not os.environ.get(INDUCTOR_CACHE_ENV):
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        os.environ[INDUCTOR_CACHE_ENV] = str(base / "vidrd-bench" / "inductor")
    return Path(os.environ[INDUCTOR_CACHE_ENV])


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Modules built in the block take `dtype` for their parameters (random full-size models built in the run's
    precision, never first in float32); the previous default comes back after."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)
