"""Batched feature extraction over video files: decode workers + pinned memory feed the detector; torchrun-aware."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vidrd_bench import distributed
from vidrd_bench.datasets.video import ShortVideoError, read_clip
from vidrd_bench.errors import VideoError, VidrdBenchError
from vidrd_bench.metrics.base import Detector
from vidrd_bench.metrics.stats import FeatureStats
from vidrd_bench.progress import video_batches


@dataclass(frozen=True)
class VideoItem:
    """One video to score: its file, a stable index (manifest index or sorted position) and class name."""

    path: Path
    index: int
    cls: str | None = None


@dataclass
class Extraction:
    """What extraction returns on rank 0: streaming statistics (with kept features) and discarded short videos."""

    stats: FeatureStats
    skipped: list[tuple[str, int]] = field(default_factory=list)

    @property
    def features(self) -> np.ndarray:
        """Kept features sorted by item index."""
        return self.stats.features()[0]

    @property
    def classes(self) -> list[str | None]:
        """Class names aligned with `features`."""
        return self.stats.features()[1]


class ClipDataset(Dataset):
    """Decodes one protocol clip per video: from frame 0 (generated) or a seeded random offset (real).

    The random offset of item i is drawn from numpy's default_rng((seed, i.index)), so it does not depend on
    worker scheduling, batch size or sharding. Short videos: skip_short=True returns a marker (real
    statistics discard and count them); otherwise VideoError (a generated video that is too short).
    """

    def __init__(self, items: list[VideoItem], num_frames: int, random_offset: bool = False, seed: int = 0,
                 size: tuple[int, int] | None = None, skip_short: bool = False):
        self.items = items
        self.num_frames = num_frames
        self.random_offset = random_offset
        self.seed = seed
        self.size = size
        self.skip_short = skip_short

    def __len__(self) -> int:
        """Number of videos."""
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        """{'clip': uint8 (3, T, H, W) or None, 'index', 'cls', 'path', 'frames'} plus 'error' for bad files."""
        item = self.items[i]
        out = {"index": item.index, "cls": item.cls, "path": str(item.path), "clip": None, "frames": -1}
        rng = np.random.default_rng((self.seed, item.index)) if self.random_offset else None
        try:
            start = None if self.random_offset else 0
            clip = read_clip(item.path, self.num_frames, start=start, rng=rng, size=self.size)
        except ShortVideoError as e:
            if not self.skip_short:
                out["error"] = e
            out["frames"] = e.frames
            return out
        except VidrdBenchError as e:  # raised in the main process, without a worker traceback around it
            out["error"] = e
            return out
        out["clip"] = torch.from_numpy(clip).permute(3, 0, 1, 2)
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
        "clips": torch.stack([b["clip"] for b in kept]) if kept else None,
        "index": [b["index"] for b in kept], "cls": [b["cls"] for b in kept],
        "skipped": [(b["path"], b["frames"]) for b in batch if b["clip"] is None and "error" not in b],
        "errors": [b["error"] for b in batch if "error" in b],
    }


def _gather(extraction: Extraction) -> Extraction | None:
    """Gather every rank's statistics and kept features onto rank 0 (None on other ranks)."""
    parts = distributed.current().gather(extraction)
    if parts is None:
        return None
    merged = parts[0]
    for part in parts[1:]:
        merged.stats.merge(part.stats)
        merged.skipped += part.skipped
    return merged


def extract(items: list[VideoItem], detector: Detector, batch_size: int = 32, num_workers: int = 4,
            random_offset: bool = False, seed: int = 0, size: tuple[int, int] | None = None,
            skip_short: bool = False, keep_features: bool = True, progress: bool = True) -> Extraction | None:
    """Features of every item (each rank its share under torchrun), gathered on rank 0; None on other ranks."""
    ctx = distributed.current()
    rank, world = ctx.rank, ctx.world_size
    dataset = ClipDataset(items[rank::world], detector.num_frames, random_offset, seed, size, skip_short)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_clips,
                        pin_memory=detector.device.type == "cuda", persistent_workers=False,
                        prefetch_factor=4 if num_workers > 0 else None)
    result = Extraction(FeatureStats(detector.feature_dim, keep_features))
    for batch in video_batches(loader, len(dataset), f"{detector.name} features", progress and rank == 0):
        if batch["errors"]:
            raise batch["errors"][0]
        result.skipped += batch["skipped"]
        if batch["clips"] is None:
            continue
        feats = detector(batch["clips"]).double().cpu().numpy()
        result.stats.update(feats, order=np.asarray(batch["index"]), classes=batch["cls"])
    return _gather(result)
