"""Feature extraction: videos of different sizes refused whatever the batch size; one decode per video for any
number of (detector, clip rule) consumers, each getting exactly its own clip's features."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from vidrd_bench.core.errors import VideoError, VidrdBenchError
from vidrd_bench.datasets import video as video_module
from vidrd_bench.datasets.prepare import prepare_real
from vidrd_bench.datasets.video import ShortVideoError, read_clip, write_video
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import ClipRule, Consumer, VideoItem, extract, extract_many


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_a_clip_of_another_size_is_refused_at_any_batch_size(tmp_path, batch_size):
    """Three videos, the last 32x32 among 16x16: refused within a batch (3) and across batches (1, 2) alike; with
    batch size 1 or 2 it used to be scored."""
    rng = np.random.default_rng(0)
    items = []
    for i, side in enumerate((16, 16, 32)):
        write_video(tmp_path / f"{i}.mp4", rng.integers(0, 256, (16, side, side, 3), np.uint8), 8)
        items.append(VideoItem(tmp_path / f"{i}.mp4", i))
    detector = load_detector("i3d-tiny-random", resolution=32)
    with pytest.raises(VideoError, match="different sizes") as err:
        extract(items, detector, ClipRule(16, 1), batch_size=batch_size, num_workers=0, progress=False)
    assert "2.mp4" in str(err.value) or "(3, 16, 32, 32)" in str(err.value)
    same = extract(items[:2], detector, ClipRule(16, 1), batch_size=1, num_workers=0, progress=False)
    assert same.features.shape == (2, 400)


KW = {"batch_size": 2, "num_workers": 0, "progress": False}
FIXED = ClipRule(16, 1)  # frame 0, every video
STRIDED = ClipRule(16, 2, random_offset=True, seed=3, skip_short=True)  # needs 32 frames: the short video skipped
LONG = ClipRule(32, 1, random_offset=True, seed=5, size=(24, 24), preparation="stretch-bilinear", skip_short=True)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three 16x16 videos of 40, 40 and 20 frames."""
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(1)
    items = []
    for i, n in enumerate((40, 40, 20)):
        write_video(root / f"{i}.mp4", rng.integers(0, 256, (n, 16, 16, 3), np.uint8), 8)
        items.append(VideoItem(root / f"{i}.mp4", i, f"class{i % 2}"))
    return items


@pytest.fixture(scope="module")
def consumers():
    """Four consumers over three clip rules: two detectors share FIXED, the 32-frame I3D takes LONG."""
    i3d, c3d = load_detector("i3d-tiny-random", resolution=32), load_detector("c3d-tiny-random")
    i3d32 = load_detector("i3d-tiny-random", resolution=32, num_frames=32)
    return [Consumer(i3d, FIXED), Consumer(c3d, FIXED), Consumer(i3d, STRIDED), Consumer(i3d32, LONG)]


def _counting(monkeypatch) -> tuple[Counter, Counter]:
    """Count, per video file, how often it is opened and how often frames are decoded from it."""
    opened, decoded = Counter(), Counter()
    real_open, real_get = video_module._open, video_module._get_frames
    monkeypatch.setattr(video_module, "_open", lambda path: opened.update([Path(path).name]) or real_open(path))
    monkeypatch.setattr(video_module, "_get_frames", lambda reader, indices, path: decoded.update(
        [Path(path).name]) or real_get(reader, indices, path))
    return opened, decoded


def _reference(items, consumer: Consumer) -> tuple[np.ndarray, list[int]]:
    """The consumer's features computed video by video: read_clip, the rule's preparation, the detector."""
    rule, feats, kept = consumer.rule, [], []
    for it in items:
        rng = np.random.default_rng((rule.seed, it.index)) if rule.random_offset else None
        try:
            clip = read_clip(it.path, rule.num_frames, start=None if rule.random_offset else 0, rng=rng,
                             stride=rule.stride)
        except ShortVideoError:
            continue
        clip = prepare_real(clip, rule.size, rule.preparation, rule.jpeg_quality)
        feats.append(consumer.detector(torch.from_numpy(clip).permute(3, 0, 1, 2)[None]).numpy()[0])
        kept.append(it.index)
    return np.stack(feats), kept


def test_each_video_is_decoded_once_for_every_detector_and_rule(videos, consumers, monkeypatch):
    """Four (detector, rule) consumers over three rules: each file opened once and decoded in one call; each
    consumer's features equal those of its own clip read alone; the short video skipped only where a rule skips."""
    opened, decoded = _counting(monkeypatch)
    got = extract_many(videos, consumers, **KW)
    assert opened == decoded == Counter({"0.mp4": 1, "1.mp4": 1, "2.mp4": 1})
    for consumer, features in zip(consumers, got):
        want, kept = _reference(videos, consumer)
        assert list(features.index) == kept and np.allclose(features.features, want, atol=1e-5)
    assert [len(f) for f in got] == [3, 3, 2, 2] and got[2].skipped == [(str(videos[2].path), 20)]
    assert got[1].classes == ["class0", "class1", "class0"]


def test_features_equal_the_per_detector_path(videos, consumers):
    """extract_many of all consumers gives exactly what `extract` gives for each alone (one decode per rule)."""
    together = extract_many(videos, consumers, **KW)
    for consumer, features in zip(consumers, together):
        alone = extract(videos, consumer.detector, consumer.rule, **KW)
        assert np.array_equal(features.features, alone.features) and np.array_equal(features.index, alone.index)
        assert features.skipped == alone.skipped


WORKER_RUN = """
import sys, numpy as np
from pathlib import Path
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import ClipRule, Consumer, VideoItem, extract_many
i3d, c3d = load_detector("i3d-tiny-random", resolution=32), load_detector("c3d-tiny-random")
i3d32 = load_detector("i3d-tiny-random", resolution=32, num_frames=32)
rules = [ClipRule(16, 1), ClipRule(16, 2, random_offset=True, seed=3, skip_short=True),
         ClipRule(32, 1, random_offset=True, seed=5, size=(24, 24), skip_short=True)]
items = [VideoItem(Path(sys.argv[1]) / f"{i}.mp4", i, f"class{i % 2}") for i in range(3)]
got = extract_many(items, [Consumer(i3d, rules[0]), Consumer(c3d, rules[0]), Consumer(i3d, rules[1]),
                           Consumer(i3d32, rules[2])], batch_size=2, num_workers=1, progress=True)
np.savez(sys.argv[2], *[g.features for g in got])
"""


def test_decode_workers_and_the_progress_bar_serve_every_consumer(videos, consumers, tmp_path):
    """With a DataLoader worker and the bar on: the same features, and the bar counts videos once (3, not 12).

    Run in a fresh process: forking decode workers from a process that has already run a detector can deadlock
    on this CPU build's thread pools (also before one decode per video; the CLI forks before its first forward)."""
    assert FIXED == ClipRule(16, 1) and STRIDED.seed == 3 and LONG.size == (24, 24)  # the rules WORKER_RUN uses
    out = tmp_path / "features.npz"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    run = subprocess.run([sys.executable, "-c", WORKER_RUN, str(videos[0].path.parent), str(out)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    inline = extract_many(videos, consumers, **KW)
    with np.load(out) as workers:
        assert all(np.array_equal(a.features, workers[f"arr_{n}"]) for n, a in enumerate(inline))
    assert "3/3" in run.stderr and "i3d-tiny-random, c3d-tiny-random features" in run.stderr


def test_a_rule_that_cannot_take_a_video_fails_only_its_consumers(videos, consumers):
    """A 32-frame clip from frame 0 without skipping: the 20-frame video is an error for that consumer alone with
    errors='return', and raised with errors='raise'."""
    strict = Consumer(consumers[3].detector, ClipRule(32, 1))
    got = extract_many(videos, [consumers[0], strict], errors="return", **KW)
    assert len(got[0]) == 3 and isinstance(got[1], ShortVideoError) and got[1].frames == 20
    with pytest.raises(VidrdBenchError, match="20 frames"):
        extract_many(videos, [consumers[0], strict], **KW)


def test_the_same_consumer_twice_is_run_once(videos, consumers, monkeypatch):
    """A consumer listed twice gets the same features object, computed in one detector call per batch."""
    calls = Counter()
    det = consumers[0].detector
    real_forward = det.forward
    monkeypatch.setattr(det, "forward", lambda x: calls.update([x.shape[0]]) or real_forward(x))
    got = extract_many(videos, [consumers[0], Consumer(det, FIXED)], **KW)
    assert got[0] is got[1] and sum(k * n for k, n in calls.items()) == 3
