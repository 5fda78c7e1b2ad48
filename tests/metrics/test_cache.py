"""The features cache: a video set whose frames change is a new entry, also when the videos are frame folders."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from vidrd_bench.metrics import cache
from vidrd_bench.metrics.cache import cached_extract, cached_extract_many
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import ClipRule, Consumer, VideoItem, extract_many


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


def test_several_consumers_are_cached_each_under_its_own_key(tmp_path, monkeypatch):
    """Three (detector, rule) consumers: one cached alone beforehand is served, the other two extracted together;
    every entry is the single-consumer path's; once all are cached no video is decoded."""
    items = _frame_folders(tmp_path / "videos", 0)
    i3d, c3d = load_detector("i3d-tiny-random", resolution=32), load_detector("c3d-tiny-random")
    consumers = [Consumer(i3d, ClipRule(16, 1)), Consumer(c3d, ClipRule(16, 1)),
                 Consumer(i3d, ClipRule(16, 1, size=(24, 24)))]
    kw = {"batch_size": 2, "num_workers": 0, "progress": False}
    first = cached_extract(items, i3d, ClipRule(16, 1), tmp_path / "cache", **kw)
    extracted = []
    monkeypatch.setattr(cache, "extract_many", lambda its, cons, **k: extracted.append(cons) or extract_many(
        its, cons, **k))
    got = cached_extract_many(items, consumers, tmp_path / "cache", **kw)
    assert extracted == [consumers[1:]] and np.array_equal(got[0].features, first.features)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3
    for consumer, features in zip(consumers, got):
        alone = cached_extract(items, consumer.detector, consumer.rule, None, **kw)
        assert np.array_equal(features.features, alone.features)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a video although every consumer is cached")

    monkeypatch.setattr("vidrd_bench.metrics.extract.read_clips", no_decoding)
    before = len(extracted)
    again = cached_extract_many(items, consumers, tmp_path / "cache", **kw)
    assert len(extracted) == before and all(np.array_equal(a.features, b.features) for a, b in zip(got, again))
