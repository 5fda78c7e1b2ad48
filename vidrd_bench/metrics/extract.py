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
from vidrd_bench.datasets.video import ClipRequest, ShortVideoError, read_clips
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


@dataclass(frozen=True, eq=False)
class Consumer:
    """One detector fed the clips of one clip rule (several consumers of one rule share its clips)."""

    detector: Detector
    rule: ClipRule

    def key(self) -> tuple:
        """Consumers with equal keys get the same features: the same detector object under the same rule."""
        return id(self.detector), self.rule


def _request(item: VideoItem, rule: ClipRule) -> ClipRequest:
    """Which frames `rule` takes of `item`: a random offset from rng (seed, item index), or frame 0."""
    rng = np.random.default_rng((rule.seed, item.index)) if rule.random_offset else None
    return ClipRequest(rule.num_frames, None if rule.random_offset else 0, rng, rule.stride)


def _prepared(got: np.ndarray | ShortVideoError, rule: ClipRule) -> dict:
    """One rule's entry for one video: its prepared uint8 (3, T, H, W) clip, or the short video's frame count (an
    'error' too unless the rule skips short videos)."""
    if isinstance(got, ShortVideoError):
        return {"clip": None, "frames": got.frames, **({} if rule.skip_short else {"error": got})}
    clip = prepare_real(got, rule.size, rule.preparation, rule.jpeg_quality)
    return {"clip": torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2), "frames": -1}


class ClipDataset(Dataset):
    """Decodes each video once and cuts and prepares one clip per ClipRule from those frames; the random offset
    does not depend on scheduling or on the other rules."""

    def __init__(self, items: list[VideoItem], rules: ClipRule | tuple[ClipRule, ...]):
        self.items = items
        self.rules = (rules,) if isinstance(rules, ClipRule) else tuple(rules)

    def __len__(self) -> int:
        """Number of videos."""
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        """{'index', 'cls', 'path', 'rules': one {'clip': uint8 (3, T, H, W) or None, 'frames'} per rule, plus
        'error' where that rule cannot take the video}."""
        item = self.items[i]
        out = {"index": item.index, "cls": item.cls, "path": str(item.path)}
        try:
            got = read_clips(item.path, [_request(item, rule) for rule in self.rules])
            out["rules"] = [_prepared(g, rule) for g, rule in zip(got, self.rules)]
        except VidrdBenchError as e:  # raised in the main process, without a worker traceback around it
            out["rules"] = [{"clip": None, "frames": -1, "error": e} for _ in self.rules]
        return out


def _collate_rule(batch: list[dict], r: int) -> dict:
    """Rule `r`'s clips of a batch stacked as uint8 (B, 3, T, H, W), with its short-video markers and errors (clips
    of different sizes in one batch are an error)."""
    entries = [(b, b["rules"][r]) for b in batch]
    kept = [(b, e) for b, e in entries if e["clip"] is not None]
    errors = [e["error"] for _, e in entries if "error" in e]
    shapes = {tuple(e["clip"].shape) for _, e in kept}
    if len(shapes) > 1:
        errors.append(VideoError(
            f"Videos in one batch have different sizes {sorted(shapes)} (e.g. {kept[0][0]['path']}). Pass a resize "
            "(--size) so all clips share the generated videos' resolution."))
    return {
        "clips": torch.stack([e["clip"] for _, e in kept]) if kept and not errors else None,
        "first": kept[0][0]["path"] if kept else None, "index": [b["index"] for b, _ in kept],
        "cls": [b["cls"] for b, _ in kept],
        "skipped": [(b["path"], e["frames"]) for b, e in entries if e["clip"] is None and "error" not in e],
        "errors": errors,
    }


def collate_clips(batch: list[dict]) -> dict:
    """Each rule's clips of the batch (see _collate_rule) under 'rules', and the number of videos."""
    return {"videos": len(batch), "rules": [_collate_rule(batch, r) for r in range(len(batch[0]["rules"]))]}


def _check_same_size(first: tuple[tuple[int, ...], str], shape: tuple[int, ...], path: str) -> None:
    """Refuse clips whose size differs from the first clip's, across batches (collate_clips checks within one), so
    the outcome never depends on --batch-size."""
    if shape != first[0]:
        raise VideoError(
            f"Videos have different sizes: {first[1]} gives clips of {first[0]} (channels, frames, height, width) "
            f"but {path} of {shape}. Every video scored together must have one resolution: re-render or resize them "
            "(real videos: --size)."
        )


class _Feed:
    """One clip rule's consumers during an extraction: their features batch by batch, or the error that stopped
    the rule (every consumer of a rule fails with it)."""

    def __init__(self, rule: ClipRule, detectors: list[Detector]):
        self.rule, self.detectors = rule, detectors
        self.parts: list[list[Features]] = [[] for _ in detectors]
        self.first: tuple[tuple[int, ...], str] | None = None  # the first clip's (C, T, H, W) and file
        self.error: VidrdBenchError | None = None

    def take(self, batch: dict) -> None:
        """Run every detector of the rule on its clips of one batch (nothing once the rule has failed)."""
        if self.error is not None:
            return
        try:
            if batch["errors"]:
                raise batch["errors"][0]
            if batch["clips"] is not None:
                self.first = self.first or (tuple(batch["clips"].shape[1:]), batch["first"])
                _check_same_size(self.first, tuple(batch["clips"].shape[1:]), batch["first"])
        except VidrdBenchError as e:
            self.error = e
            return
        index = np.asarray(batch["index"], np.int64)
        for parts, det in zip(self.parts, self.detectors):
            feats = np.zeros((0, det.feature_dim), np.float32)
            if batch["clips"] is not None:
                feats = det(batch["clips"]).cpu().numpy().astype(np.float32)
            parts.append(Features(feats, index, batch["cls"], batch["skipped"]))

    def results(self) -> list[Features | VidrdBenchError]:
        """This rank's features per detector (or the rule's error)."""
        empty = lambda d: Features(np.zeros((0, d.feature_dim), np.float32), np.zeros(0, np.int64), [])  # noqa: E731
        return [self.error if self.error is not None else (Features.concat(p) if p else empty(d))
                for p, d in zip(self.parts, self.detectors)]


def _gathered(ctx, mine: list[Features | VidrdBenchError]) -> list[Features | VidrdBenchError] | None:
    """Every rank's results per consumer, on rank 0 (None elsewhere): features joined, or the first rank's error."""
    ranks = ctx.gather(mine)
    if ranks is None:
        return None
    return [next((r for r in rs if isinstance(r, VidrdBenchError)), None) or Features.concat(list(rs))
            for rs in zip(*ranks)]


def extract_many(items: list[VideoItem], consumers: list[Consumer], batch_size: int = 32, num_workers: int = 4,
                 progress: bool = True, errors: str = "raise") -> list[Features | VidrdBenchError] | None:
    """Features of every item for every consumer, each video decoded once (its clip per distinct rule cut from
    the same frames, each fed to every detector of that rule); each rank its share under torchrun, gathered on
    rank 0 (None on other ranks). errors='raise': a consumer's error is raised; 'return': it takes its place."""
    ctx = distributed.current()
    unique = list({c.key(): c for c in consumers}.values())
    rules = list(dict.fromkeys(c.rule for c in unique))
    feeds = [_Feed(rule, [c.detector for c in unique if c.rule == rule]) for rule in rules]
    dataset = ClipDataset(items[ctx.rank::ctx.world_size], tuple(rules))
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_clips,
                        pin_memory=any(c.detector.device.type == "cuda" for c in unique), persistent_workers=False,
                        prefetch_factor=4 if num_workers > 0 else None)
    names = ", ".join(dict.fromkeys(c.detector.name for c in unique))
    for batch in video_batches(loader, len(dataset), f"{names} features", progress and ctx.is_main):
        for feed, part in zip(feeds, batch["rules"]):
            feed.take(part)
        if errors == "raise" and any(f.error is not None for f in feeds):
            raise next(f.error for f in feeds if f.error is not None)
    got = _gathered(ctx, [r for f in feeds for r in f.results()])
    if got is None:
        return None
    by_key = dict(zip([(id(d), f.rule) for f in feeds for d in f.detectors], got))
    out = [by_key[c.key()] for c in consumers]
    if errors == "raise" and any(isinstance(r, VidrdBenchError) for r in out):
        raise next(r for r in out if isinstance(r, VidrdBenchError))
    return out


def extract(items: list[VideoItem], detector: Detector, rule: ClipRule, batch_size: int = 32, num_workers: int = 4,
            progress: bool = True) -> Features | None:
    """Features of every item for one detector and clip rule (extract_many of one consumer); None on other ranks."""
    got = extract_many(items, [Consumer(detector, rule)], batch_size, num_workers, progress)
    return got[0] if got is not None else None
