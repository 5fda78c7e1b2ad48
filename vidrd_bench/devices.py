"""Which torch device a command runs on: one rule shared by generation, scoring and the benchmark."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vidrd_bench.errors import VidrdBenchError

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
        raise VidrdBenchError(f"--device {device} asks for a GPU, but torch sees no CUDA device here (torch "
                              f"{torch.__version__}); run with --device cpu, or install a CUDA build of torch.")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def persistent_compile_cache() -> Path:
    """Point torch.compile's cache at ~/.cache/vidrd-bench/inductor (XDG_CACHE_HOME honoured) unless the user set
    TORCHINDUCTOR_CACHE_DIR: the ~2.5-minute first compile is then reused by later runs, across reboots too
    (torch's default lives in /tmp)."""
    if not os.environ.get(INDUCTOR_CACHE_ENV):
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        os.environ[INDUCTOR_CACHE_ENV] = str(base / "vidrd-bench" / "inductor")
    return Path(os.environ[INDUCTOR_CACHE_ENV])
