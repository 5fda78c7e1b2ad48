"""Features cached once per (video set, detector, clip rule): re-scoring under another aggregation, sample count
or protocol that shares the clip rule never decodes a video or runs a detector again.

The key hashes every video's resolved path, size and modification time (of each frame, for a folder of frames),
index and class; the detector's name, variant and weight-file digests; and the ClipRule. Entries are `.npz` files
written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from vidrd_bench.core import distributed
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.io import atomic_path
from vidrd_bench.datasets.video import frame_files
from vidrd_bench.metrics.detectors.base import Detector
from vidrd_bench.metrics.extract import CacheDir, ClipRule, Consumer, Features, VideoItem, extract_many

CACHE_ENV = "VIDRD_BENCH_CACHE"


def default_cache_dir() -> Path:
    """$VIDRD_BENCH_CACHE, else ~/.cache/vidrd-bench/features (XDG_CACHE_HOME honoured)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vidrd-bench" / "features"


def cache_folder(cache_dir: CacheDir) -> Path | None:
    """The features cache folder an ExtractionOptions.cache_dir names: None or True -> the default, False -> none."""
    if cache_dir is False:
        return None
    return default_cache_dir() if cache_dir is None or cache_dir is True else Path(cache_dir)


def _fingerprint(path: Path) -> list:
    """What the key records of one video: a file's size and modification time, or, for a folder of frames, every
    frame file's name, size and modification time (the folder's own do not change when a frame is overwritten)."""
    if path.is_dir():
        return [[f.name, st.st_size, st.st_mtime_ns] for f in frame_files(path) for st in (f.stat(),)]
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def cache_key(items: list[VideoItem], detector: Detector, rule: ClipRule) -> str:
    """sha256 of the video set (path, size and mtime of each file or frame, index, class), the detector identity and
    the clip rule."""
    videos = [[str(Path(it.path).resolve()), *_fingerprint(Path(it.path)), it.index, it.cls] for it in items]
    ident = {"videos": videos, "detector": detector.name, "variant": detector.variant,
             "weights": detector.weights, "rule": rule.to_dict()}
    resized = getattr(detector, "resolution", None)  # a frame detector's resize target (the tiny one takes any)
    if resized is not None:
        ident["resolution"] = resized
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def _load(file: Path) -> Features | None:
    """A cached entry, or None when absent or unreadable (it is then recomputed)."""
    try:
        with np.load(file, allow_pickle=False) as d:
            skipped = [(str(p), int(f)) for p, f in zip(d["skipped_path"], d["skipped_frames"])]
            classes = [str(c) if k else None for c, k in zip(d["classes"], d["has_class"])]
            return Features(d["features"], d["index"], classes, skipped)
    except (OSError, ValueError, KeyError):
        return None


def _save(file: Path, got: Features) -> None:
    """Write an entry atomically."""
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file, suffix=".tmp.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, features=got.features, index=got.index, classes=np.array([c or "" for c in got.classes]),
                     has_class=np.array([c is not None for c in got.classes]),
                     skipped_path=np.array([p for p, _ in got.skipped], dtype=str),
                     skipped_frames=np.array([n for _, n in got.skipped], dtype=np.int64))


def cached_extract_many(items: list[VideoItem], consumers: list[Consumer], cache_dir: str | os.PathLike | None,
                        errors: str = "raise", **extract_kwargs) -> list[Features | VidrdBenchError] | None:
    """`extract_many`, each consumer's features served from and stored in `cache_dir` (None: no cache) under its own
    (video set, detector, clip rule) key: the uncached consumers are extracted together (each video decoded once),
    and nothing is decoded when all are cached. None on ranks other than 0."""
    files = [Path(cache_dir) / f"{cache_key(items, c.detector, c.rule)}.npz" if cache_dir is not None else None
             for c in consumers]
    got: list[Features | VidrdBenchError | None] = [_load(f) if f is not None and f.exists() else None for f in files]
    todo = [n for n, g in enumerate(got) if g is None]
    if todo:
        fresh = extract_many(items, [consumers[n] for n in todo], errors=errors, **extract_kwargs)
        if fresh is None:
            return None
        for n, value in zip(todo, fresh):
            got[n] = value
            if files[n] is not None and isinstance(value, Features):
                _save(files[n], value)
    return got if distributed.current().is_main else None


def cached_extract(items: list[VideoItem], detector: Detector, rule: ClipRule, cache_dir: str | os.PathLike | None,
                   **extract_kwargs) -> Features | None:
    """`extract`, served from and stored in `cache_dir` (None: no cache); None on ranks other than 0."""
    got = cached_extract_many(items, [Consumer(detector, rule)], cache_dir, **extract_kwargs)
    return got[0] if got is not None else None
