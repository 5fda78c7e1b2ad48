"""Batched feature extraction over video files: decode workers + pinned memory feed the detector; torchrun-aware."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vidrd_bench.core import distributed
from vidrd_bench.datasets.prepare import prepare_real
from vidrd_bench.datasets.video import ShortVideoError, read_clip
from vidrd_bench.core.errors import VideoError, VidrdBenchError
from vidrd_bench.metrics.detectors.base import Detector
from vidrd_bench.core.progress import video_batches
from vidrd_bench.core.resources import decode_workers


CacheDir = str | os.PathLike | None | bool


@dataclass(frozen=True)
class ExtractionOptions:
    """How features are extracted, the same for every runner: the detector's files (`weights_dir`, or
    `detector_path` for its main file), the torch device (None: cuda if available), videos per detector call,
    decode workers, the progress bar, the features cache (None: the default folder, False: no cache), and whether a
    TorchScript detector file whose sha256 is not pinned may load (`trust_detector`: such a file is a program)."""

    weights_dir: str | os.PathLike | None = None
    detector_path: str | os.PathLike | None = None
    device: str | torch.device | None = None
    batch_size: int = 32
    num_workers: int = field(default_factory=lambda: decode_workers(None))
    progress: bool = True
    cache_dir: CacheDir = None
    trust_detector: bool = False

    def extract_kwargs(self) -> dict[str, Any]:
        """The keyword arguments `extract` (and `cached_extract`) take from these options."""
        return {"batch_size": self.batch_size, "num_workers": self.num_workers, "progress": self.progress}


@dataclass(frozen=True)
class VideoItem:
    """One video to score: its file, a stable index (manifest index or sorted position) and class name."""

    path: Path
    index: int
    cls: str | None = None


@dataclass(frozen=True)
class ClipRule:
    """Which clip of each video the detector sees: everything that changes a video's features but the detector.

    `random_offset`: a uniform random start drawn from numpy default_rng((seed, item index)), else frame 0.
    `preparation` / `jpeg_quality` / `size`: the real-video preparation (datasets/prepare.py; size None keeps
    the decoded frames). `skip_short`: videos too short for the clip are dropped and counted, else an error.
    """

    num_frames: int = 16
    stride: int = 1
    random_offset: bool = False
    seed: int = 0
    preparation: str = "stretch-bilinear"
    jpeg_quality: int | None = None
    size: tuple[int, int] | None = None
    skip_short: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for cache keys and records."""
        d = asdict(self)
        d["size"] = list(self.size) if self.size else None
        return d


@dataclass
class Features:
    """Per-video features sorted by item index, with classes, and the videos dropped as too short."""

    features: np.ndarray
    index: np.ndarray
    classes: list[str | None]
    skipped: list[tuple[str, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.features)

    def sorted(self) -> "Features":
        """The same features ordered by item index."""
        order = np.argsort(self.index, kind="stable")
        return Features(self.features[order], self.index[order], [self.classes[i] for i in order],
                        sorted(self.skipped))

    def first(self, n: int | None) -> "Features":
        """The first `n` videos in index order (all when n is None)."""
        if n is None:
            return self
        return Features(self.features[:n], self.index[:n], self.classes[:n], self.skipped)

    @staticmethod
    def concat(parts: list["Features"]) -> "Features":
        """Several ranks' (or batches') features as one, sorted by index."""
        dim = next((p.features.shape[1] for p in parts if p.features.ndim == 2), 0)
        feats = [p.features.reshape(-1, dim) for p in parts]
        return Features(np.concatenate(feats) if feats else np.zeros((0, dim), np.float32),
                        np.concatenate([p.index for p in parts]).astype(np.int64),
                        [c for p in parts for c in p.classes], [s for p in parts for s in p.skipped]).sorted()


class ClipDataset(Dataset):
    """Decodes and prepares one clip per video by a ClipRule; the random offset does not depend on scheduling."""

    def __init__(self, items: list[VideoItem], rule: ClipRule):
        self.items = items
        self.rule = rule

    def __len__(self) -> int:
        """Number of videos."""
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        """{'clip': uint8 (3, T, H, W) or None, 'index', 'cls', 'path', 'frames'} plus 'error' for bad files."""
        item, rule = self.items[i], self.rule
        out = {"index": item.index, "cls": item.cls, "path": str(item.path), "clip": None, "frames": -1}
        rng = np.random.default_rng((rule.seed, item.index)) if rule.random_offset else None
        try:
            clip = read_clip(item.path, rule.num_frames, start=None if rule.random_offset else 0, rng=rng,
                             stride=rule.stride)
            clip = prepare_real(clip, rule.size, rule.preparation, rule.jpeg_quality)
        except ShortVideoError as e:
            if not rule.skip_short:
                out["error"] = e
            out["frames"] = e.frames
            return out
        except VidrdBenchError as e:  # raised in the main process, without a worker traceback around it
            out["error"] = e
            return out
        out["clip"] = torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2)
        return out


def collate_clips(batch: list[dict]) -> dict:
    """Stack the decoded clips into uint8 (B, 3, T, H, W); keep short-video markers aside."""
    kept = [b for b in batch if b["clip"] is not None]
    shapes = {tuple(b["clip"].shape) for b in kept}
    if len(shapes) > 1:
        raise VideoError(
            f"Videos in one batch have different sizes {sorted(shapes)} (e.g. {kept[0]['path']}). Pass a resize "
            "(--size) so all clips share the generated videos' resolution."
        )
    return {
        "clips": torch.stack([b["clip"] for b in kept]) if kept else None, "first": kept[0]["path"] if kept else None,
        "index": [b["index"] for b in kept], "cls": [b["cls"] for b in kept],
        "skipped": [(b["path"], b["frames"]) for b in batch if b["clip"] is None and "error" not in b],
        "errors": [b["error"] for b in batch if "error" in b],
    }


def _check_same_size(first: tuple[tuple[int, ...], str], shape: tuple[int, ...], path: str) -> None:
    """Refuse clips whose size differs from the first clip's, across batches (collate_clips checks within one), so
    the outcome never depends on --batch-size."""
    if shape != first[0]:
        raise VideoError(
            f"Videos have different sizes: {first[1]} gives clips of {first[0]} (channels, frames, height, width) "
            f"but {path} of {shape}. Every video scored together must have one resolution: re-render or resize them "
            "(real videos: --size)."
        )


def extract(items: list[VideoItem], detector: Detector, rule: ClipRule, batch_size: int = 32, num_workers: int = 4,
            progress: bool = True) -> Features | None:
    """Features of every item (each rank its share under torchrun), gathered on rank 0; None on other ranks."""
    ctx = distributed.current()
    dataset = ClipDataset(items[ctx.rank::ctx.world_size], rule)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_clips,
                        pin_memory=detector.device.type == "cuda", persistent_workers=False,
                        prefetch_factor=4 if num_workers > 0 else None)
    parts: list[Features] = []
    first: tuple[tuple[int, ...], str] | None = None  # the first clip's (C, T, H, W) and file
    for batch in video_batches(loader, len(dataset), f"{detector.name} features", progress and ctx.is_main):
        if batch["errors"]:
            raise batch["errors"][0]
        feats = np.zeros((0, detector.feature_dim), np.float32)
        if batch["clips"] is not None:
            first = first or (tuple(batch["clips"].shape[1:]), batch["first"])
            _check_same_size(first, tuple(batch["clips"].shape[1:]), batch["first"])
            feats = detector(batch["clips"]).cpu().numpy().astype(np.float32)
        parts.append(Features(feats, np.asarray(batch["index"], np.int64), batch["cls"], batch["skipped"]))
    gathered = ctx.gather(Features.concat(parts) if parts else
                          Features(np.zeros((0, detector.feature_dim), np.float32), np.zeros(0, np.int64), []))
    return Features.concat(gathered) if gathered is not None else None
