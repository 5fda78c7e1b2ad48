"""Feature extraction refuses videos of different sizes whatever the batch size."""

from __future__ import annotations

import numpy as np
import pytest

from vidrd_bench.core.errors import VideoError
from vidrd_bench.datasets.video import write_video
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import ClipRule, VideoItem, extract


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
