"""Which torch device a command runs on: one rule shared by generation, scoring and the benchmark."""

from __future__ import annotations

import os

import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """`device` if given, else cuda when available, else cpu; a bare 'cuda' becomes cuda:LOCAL_RANK (0 outside
    torchrun), so every torchrun process takes its own GPU."""
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device
