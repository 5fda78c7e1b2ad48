"""`vidrd-bench bench --detectors`: each registered detector's forward timed at its own input contract (its clip
length, its input resolution, a batch of uint8 clips) on its full-size network with seeded random weights (the
spec's `random_build`: no weight file), by the one timing rule (core/timing.py), with the projected time for 10K
videos. Decoding is excluded: it runs in DataLoader workers beside the detector.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from vidrd_bench.core.devices import pick_device
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.timing import peak_memory_gib, reset_peak_memory, time_ms
from vidrd_bench.metrics.detectors import DETECTORS, DetectorSpec
from vidrd_bench.results import provenance

NUM_VIDEOS = 10_000
DEFAULT_CLIP_SIZE = 256  # the UCF-101 protocols' generated frame size, for a detector whose spec states no resolution
FRAMES_PER_VIDEO = 16  # what a frame (FID) detector is timed on: the default FID protocol's frames per video


@dataclasses.dataclass
class DetectorTiming:
    """One detector's throughput row (times None and a note where it could not be timed)."""

    detector: str
    input: str
    ms_per_batch: float | None = None
    ms_min: float | None = None
    ms_max: float | None = None
    first_call_s: float | None = None
    videos_per_s: float | None = None
    s_for_10k: float | None = None
    peak_gib: float | None = None
    note: str = ""


def detector_names(names: str) -> list[str]:
    """A comma-separated --detectors value as registered names ('all': every registered detector); unknown names
    are refused with the list."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if wanted == ["all"]:
        return DETECTORS.names()
    for name in wanted:
        DETECTORS.get(name)
    if not wanted:
        raise VidrdBenchError(f"--detectors names no detector; pass some of: {', '.join(DETECTORS.names())}.")
    return wanted


def clip_shape(spec: DetectorSpec, batch_size: int, clip_size: int | None) -> tuple[int, int, int, int, int]:
    """(B, 3, T, H, W) of the clips a detector is timed on: its clip length (a frame detector: FRAMES_PER_VIDEO
    frames), `clip_size` or its spec's resolution."""
    side = clip_size or spec.resolution or DEFAULT_CLIP_SIZE
    return batch_size, 3, FRAMES_PER_VIDEO if spec.per_frame else spec.num_frames, side, side


def time_detector(spec: DetectorSpec, device: torch.device, batch_size: int, iters: int,
                  clip_size: int | None = None) -> DetectorTiming:
    """Time one detector's forward on a batch of random uint8 clips; a detector without a random full-size build,
    or one the device cannot hold at this batch size, is a row with a note instead of times."""
    shape = clip_shape(spec, batch_size, clip_size)
    row = DetectorTiming(spec.name, f"{shape[0]} x {shape[2]} x {shape[3]}x{shape[4]} uint8")
    if spec.random_build is None:
        row.note = "skipped: its spec has no random full-size build (random_build)"
        return row
    try:
        det = spec.random_build(device=device)
        det.num_frames = shape[2]  # a frame detector takes every frame of the clip
        videos = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        videos = videos.pin_memory() if device.type == "cuda" else videos
        reset_peak_memory(device)
        t = time_ms(lambda: det(videos), device, warmup=1, iters=iters)
    except torch.cuda.OutOfMemoryError:
        row.note = f"skipped: out of GPU memory at {batch_size} videos per call; pass a smaller --batch-size"
        return row
    except (VidrdBenchError, NotImplementedError) as e:
        row.note = f"skipped: {str(e)[:160]}"
        return row
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    per_batch = t["ms"] / 1e3
    row.ms_per_batch, row.ms_min, row.ms_max = round(t["ms"], 2), round(t["ms_min"], 2), round(t["ms_max"], 2)
    row.first_call_s = round(t["first_ms"] / 1e3, 3)
    row.videos_per_s = round(batch_size / per_batch, 2)
    row.s_for_10k = round(NUM_VIDEOS * per_batch / batch_size, 1)
    row.peak_gib = peak_memory_gib(device)
    return row


def run_detector_bench(names: list[str], device: str | None = None, batch_size: int = 32, iters: int = 5,
                       clip_size: int | None = None) -> dict[str, Any]:
    """The JSON record: every named detector's row, the device and the settings they were timed under."""
    dev = pick_device(device)
    rows = [time_detector(DETECTORS.get(n), dev, batch_size, iters, clip_size) for n in names]
    return {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "batch_size": batch_size,
            "iters": iters, "clip_size": clip_size, "num_videos": NUM_VIDEOS, "weights": "random (full size)",
            "detectors": [dataclasses.asdict(r) for r in rows], "torch": torch.__version__, **provenance()}


def format_detector_bench(result: dict[str, Any]) -> str:
    """The record as a terminal table."""
    import pandas as pd

    table = pd.DataFrame(result["detectors"]).astype(object).fillna("")
    return "\n".join([f"device: {result['device']}  videos per call: {result['batch_size']}  iters: "
                      f"{result['iters']}  weights: {result['weights']}; s_for_10k: detector time for "
                      f"{result['num_videos']:,} videos (decoding excluded)", table.to_string(index=False)])
