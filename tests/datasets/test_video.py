"""Video files: bit-exact libx264rgb round trip through decord, atomic writes, clip sampling, clear errors."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from vidrd_bench.datasets.video import ShortVideoError, read_clip, read_video, resize_frames, write_video
from vidrd_bench.core.errors import VideoError


@pytest.mark.parametrize("width", [64, 48])  # 48: a width where decord mislays rows and PyAV takes over
def test_write_read_round_trip_is_bit_exact(tmp_path, width):
    frames = np.random.default_rng(0).integers(0, 256, (9, 32, width, 3), dtype=np.uint8)
    path = tmp_path / "v.mp4"
    write_video(path, frames, fps=8)
    assert np.array_equal(read_video(path), frames)
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]  # the temp file was renamed, nothing left behind


def test_write_accepts_tensors_and_rejects_bad_frames(tmp_path):
    frames = torch.randint(0, 256, (4, 16, 16, 3), dtype=torch.uint8)
    write_video(tmp_path / "t.mp4", frames, fps=8)
    assert np.array_equal(read_video(tmp_path / "t.mp4"), frames.numpy())
    with pytest.raises(VideoError, match="uint8"):
        write_video(tmp_path / "f.mp4", np.zeros((4, 16, 16, 3), np.float32), fps=8)
    with pytest.raises(VideoError, match="even"):
        write_video(tmp_path / "o.mp4", np.zeros((4, 15, 16, 3), np.uint8), fps=8)
    assert not (tmp_path / "f.mp4").exists() and not (tmp_path / "o.mp4").exists()


def test_read_clip_start_seeded_offset_and_resize(tmp_path):
    frames = np.random.default_rng(1).integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    path = tmp_path / "v.mp4"
    write_video(path, frames, fps=8)
    assert np.array_equal(read_clip(path, 16), frames[:16])
    assert np.array_equal(read_clip(path, 16, start=4), frames[4:20])
    start = int(np.random.default_rng(7).integers(0, 5))
    assert np.array_equal(read_clip(path, 16, rng=np.random.default_rng(7)), frames[start:start + 16])
    small = resize_frames(read_clip(path, 16), (8, 8))
    assert small.shape == (16, 8, 8, 3) and small.dtype == np.uint8
    pil = np.stack([np.asarray(Image.fromarray(f).resize((8, 8), Image.BILINEAR)) for f in frames[:16]])
    assert np.abs(small.astype(int) - pil).max() <= 1  # antialiased bilinear, as PIL does it
    with pytest.raises(VideoError, match="out of range"):
        read_clip(path, 16, start=5)


def test_short_video_error_says_counts_and_policy(tmp_path):
    path = tmp_path / "short.mp4"
    write_video(path, np.zeros((10, 16, 16, 3), np.uint8), fps=8)
    with pytest.raises(ShortVideoError) as info:
        read_clip(path, 16)
    message = str(info.value)
    assert "short.mp4" in message and "10 frames" in message and "16" in message and "discarded" in message
    assert (info.value.frames, info.value.needed) == (10, 16)


def test_corrupt_and_missing_files_raise_video_error_naming_the_file(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(2000))
    with pytest.raises(VideoError, match="bad.mp4"):
        read_video(bad)
    good = tmp_path / "good.mp4"
    write_video(good, np.zeros((8, 16, 16, 3), np.uint8), fps=8)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(VideoError, match="truncated.mp4"):
        read_clip(truncated, 4)
    with pytest.raises(VideoError, match="does not exist"):
        read_video(tmp_path / "nope.mp4")
