"""The features cache: a video set whose frames change is a new entry, also when the videos are frame folders."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from vidrd_bench.metrics.cache import cached_extract
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import ClipRule, VideoItem


def _frame_folders(root, seed):
    """Three videos stored as folders of 16 PNG frames of 16x16, content drawn from `seed`."""
    rng = np.random.default_rng(seed)
    for v in range(3):
        (root / f"clip{v}").mkdir(parents=True, exist_ok=True)
        for t in range(16):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(root / f"clip{v}" / f"{t:03d}.png")
    return [VideoItem(root / f"clip{v}", v) for v in range(3)]


def test_frames_overwritten_in_place_are_not_served_from_the_cache(tmp_path):
    """Rewriting every frame leaves each folder's size and mtime as they were (restored here, as copying frames over
    them can); the cached features must still be the new frames', as without a cache (they used to be the old)."""
    items = _frame_folders(tmp_path / "videos", 0)
    detector = load_detector("i3d-tiny-random", resolution=32)
    rule = ClipRule(16, 1)
    kw = {"batch_size": 3, "num_workers": 0, "progress": False}
    before = cached_extract(items, detector, rule, tmp_path / "cache", **kw).features
    folder_times = {it.path: os.stat(it.path).st_mtime_ns for it in items}
    _frame_folders(tmp_path / "videos", 1)
    for folder, ns in folder_times.items():
        os.utime(folder, ns=(ns, ns))
    cached = cached_extract(items, detector, rule, tmp_path / "cache", **kw).features
    fresh = cached_extract(items, detector, rule, None, **kw).features
    assert np.array_equal(cached, fresh) and not np.allclose(cached, before)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
