"""Files the project ships (prompts/, reference_stats/): inside the wheel, or beside the package in a checkout."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MAX_DEFAULT_WORKERS = 8  # decode workers by default at most: more rarely feed a detector faster

_PACKAGE = Path(__file__).resolve().parents[1]  # the vidrd_bench package folder


def shipped(relpath: str) -> Path:
    """Path of a shipped file such as 'prompts/ucf101.json', for wheel and editable installs alike."""
    for base in (_PACKAGE, _PACKAGE.parent):
        candidate = base / relpath
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"vidrd-bench data file {relpath!r} is missing from the installation; reinstall the package.")


def usable_cores() -> int:
    """CPU cores this process may run on (os.sched_getaffinity: a container's or taskset's share), else os.cpu_count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def decode_workers(asked: int | None) -> int:
    """DataLoader workers: the usable cores (at most MAX_DEFAULT_WORKERS) when not asked; an ask above the usable
    cores is capped to them with a note (DataLoader warns, and the extra workers only contend)."""
    cores = usable_cores()
    if asked is None:
        return min(cores, MAX_DEFAULT_WORKERS)
    if asked > cores:
        print(f"note: --num-workers {asked} is more than the {cores} CPU cores this process may use; using {cores}.",
              file=sys.stderr)
        return cores
    return asked
