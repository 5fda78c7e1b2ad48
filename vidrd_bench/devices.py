"""Which torch device a command runs on: one rule shared by generation, scoring and the benchmark."""

from __future__ import annotations

import os
from pathlib import Path

import torch

INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """`device` if given, else cuda when available, else cpu; a bare 'cuda' becomes cuda:LOCAL_RANK (0 outside
    torchrun), so every torchrun process takes its own GPU."""
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
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
