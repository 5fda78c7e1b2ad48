"""`vidrd-bench bench --detectors`: each registered detector's forward timed at its own input contract (its clip
length, its input resolution, a batch of uint8 clips) on its full-size network with seeded random weights (the
spec's `random_build`: no weight file), by the one timing rule (core/timing.py), with the projected time for 10K
videos. Decoding is excluded: it runs in DataLoader workers beside the detector. Each row also carries the work of
one video's forward, counted by torch's FLOP counter (`--flops-only`: the counts alone, any machine), so a timed row
says what fraction of the chip's rate the detector reaches.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from vidrd_bench.core.devices import pick_device
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.timing import count_flops, peak_memory_gib, reset_peak_memory, time_ms
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
    gflop_per_video: float | None = None
    tflops: float | None = None
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


def input_label(shape: tuple[int, ...]) -> str:
    """A row's input column: "B x T x HxW uint8" for (B, 3, T, H, W) clips."""
    return f"{shape[0]} x {shape[2]} x {shape[3]}x{shape[4]} uint8"


def _frozen(detector: Any) -> Any:
    """The detector with its modules' parameters out of autograd (the FLOP counter's module tracker refuses a
    parameter that a module hands another as input, as V-JEPA's pooler does with its query tokens)."""
    for value in vars(detector).values():
        if isinstance(value, torch.nn.Module) and not isinstance(value, torch.jit.ScriptModule):
            value.requires_grad_(False)
    return detector


def count_gflop(spec: DetectorSpec, shape: tuple[int, ...]) -> float | None:
    """GFLOP of one video's forward on the detector's full-size network, by torch's FLOP counter (matmuls,
    convolutions, attention): built on the meta device (shapes only, no arithmetic) where its forward allows, else
    run once on the CPU (a detector that preprocesses on the host); None where neither runs."""
    if spec.random_build is None:
        return None
    one = (1, *shape[1:])
    for device in (torch.device("meta"), torch.device("cpu")):
        try:
            det = _frozen(spec.random_build(device=device))
            det.num_frames = one[2]
            return round(count_flops(lambda: det(torch.zeros(one, dtype=torch.uint8, device=device))) / 1e9, 2)
        except (NotImplementedError, RuntimeError, VidrdBenchError):  # a host copy of a meta tensor; needs a file
            continue
    return None


def time_detector(spec: DetectorSpec, device: torch.device, batch_size: int, iters: int,
                  clip_size: int | None = None) -> DetectorTiming:
    """Time one detector's forward on a batch of random uint8 clips; a detector without a random full-size build,
    or one the device cannot hold at this batch size, is a row with a note instead of times."""
    shape = clip_shape(spec, batch_size, clip_size)
    row = DetectorTiming(spec.name, input_label(shape))
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


def detector_row(spec: DetectorSpec, device: torch.device, batch_size: int, iters: int,
                 clip_size: int | None = None, flops_only: bool = False) -> DetectorTiming:
    """One detector's row: its FLOP count, and unless `flops_only` its timing and the rate that makes."""
    shape = clip_shape(spec, batch_size, clip_size)
    if flops_only:
        row = DetectorTiming(spec.name, input_label((1, *shape[1:])))
    else:
        row = time_detector(spec, device, batch_size, iters, clip_size)
    row.gflop_per_video = count_gflop(spec, shape)
    if row.gflop_per_video is not None and row.videos_per_s:
        row.tflops = round(row.gflop_per_video * row.videos_per_s / 1e3, 2)
    if row.gflop_per_video is None and not row.note:
        row.note = "not counted: its forward ran neither on the meta device nor on the CPU"
    return row


def run_detector_bench(names: list[str], device: str | None = None, batch_size: int = 32, iters: int = 5,
                       clip_size: int | None = None, flops_only: bool = False) -> dict[str, Any]:
    """The JSON record: every named detector's row, the device and the settings they were timed under."""
    dev = pick_device(device)
    rows = [detector_row(DETECTORS.get(n), dev, batch_size, iters, clip_size, flops_only) for n in names]
    return {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "batch_size": batch_size,
            "iters": iters, "clip_size": clip_size, "num_videos": NUM_VIDEOS, "weights": "random (full size)",
            "flops_only": flops_only, "detectors": [dataclasses.asdict(r) for r in rows],
            "torch": torch.__version__, **provenance()}


def format_detector_bench(result: dict[str, Any]) -> str:
    """The record as a terminal table."""
    import pandas as pd

    table = pd.DataFrame(result["detectors"]).astype(object).fillna("")
    if result.get("flops_only"):
        table = table[["detector", "input", "gflop_per_video", "note"]]
        return "\n".join(["FLOP per video (torch's FLOP counter; nothing timed): gflop_per_video is one clip through "
                          "the full-size network", table.to_string(index=False)])
    return "\n".join([f"device: {result['device']}  videos per call: {result['batch_size']}  iters: "
                      f"{result['iters']}  weights: {result['weights']}; s_for_10k: detector time for "
                      f"{result['num_videos']:,} videos (decoding excluded); tflops: gflop_per_video x videos_per_s",
                      table.to_string(index=False)])
