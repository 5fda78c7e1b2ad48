"""Progress bars for every phase longer than a couple of seconds, counted in the unit users think in (videos,
resamples, classes), and the one clear error for DataLoader workers that run out of shared memory."""

from __future__ import annotations

import importlib.util
from typing import Iterable, Iterator, TypeVar

from vidrd_bench.core.errors import VidrdBenchError, brief

if importlib.util.find_spec("ipywidgets") is not None:  # notebook widgets where they can be drawn
    from tqdm.auto import tqdm
else:  # tqdm.auto in a notebook without ipywidgets warns "IProgress not found" on every bar: text bars instead
    from tqdm import tqdm

T = TypeVar("T")
SHM_HINTS = ("shared memory", "shm", "bus error")


class SharedMemoryError(VidrdBenchError):
    """DataLoader worker processes could not pass decoded clips through /dev/shm."""


def steps(items: Iterable[T], desc: str, unit: str, enabled: bool, total: int | None = None) -> Iterable[T]:
    """`items` under a tqdm bar (desc, unit) when enabled, else unchanged."""
    return tqdm(items, desc=desc, unit=unit, total=total, leave=False) if enabled else items


def video_batches(loader: Iterable[dict], total: int, desc: str, enabled: bool) -> Iterator[dict]:
    """The loader's batches, with a bar counted in videos (a batch's "videos", else its kept, skipped and failed),
    and a clear error when the decode workers run out of shared memory (Docker's default /dev/shm is 64 MB)."""
    bar = tqdm(total=total, desc=desc, unit="video", disable=not enabled)
    try:
        for batch in loader:
            bar.update(batch["videos"] if "videos" in batch else
                       len(batch["index"]) + len(batch["skipped"]) + len(batch["errors"]))
            yield batch
    except RuntimeError as e:
        if not any(h in str(e).lower() for h in SHM_HINTS):
            raise
        raise SharedMemoryError(
            "The video decode workers ran out of shared memory (/dev/shm), which DataLoader workers use to hand "
            "decoded clips to the detector. In Docker run with --ipc=host or --shm-size=8g; elsewhere enlarge "
            "/dev/shm, or pass --num-workers 0 (slower: decoding in the main process). "
            f"[{brief(e)}]") from None
    finally:
        bar.close()
