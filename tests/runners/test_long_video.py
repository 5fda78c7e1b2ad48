"""Long videos: the StyleGAN-V 128-frame FVD protocols' clip rules, VidRD's long settings, and a tiny end to end."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from vidrd_bench.api import score_fvd
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.datasets.video import ShortVideoError, read_clip, write_video
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.models.vidrd.sampler import assembly_frame_indices
from vidrd_bench.models.vidrd.settings import VIDRD_SETTINGS
from vidrd_bench.protocols import PROTOCOLS, SMOKE_FVD
from vidrd_bench.runners.generate import run_generate
from vidrd_bench.runners.score import fake_rule, real_rule

LONG = ("fvd-styleganv-2048-128f", "fvd-styleganv-2048-128f-subsample8f")


def styleganv_real_starts(length: int, n: int, s: int) -> range | None:
    """StyleGAN-V's real-clip rule (training/dataset.py:323-324, 403): None when the video is discarded as short,
    else every offset random.randint(0, length - n * s + s - 1) can give."""
    return None if length < n * s else range(0, length - n * s + s)


class MaxRng:
    """A numpy-Generator stand-in that records the integers() range asked for and returns its largest value."""

    def __init__(self):
        self.asked = None

    def integers(self, low, high):
        self.asked = (low, high)
        return high - 1


def _index_video(folder, length: int):
    """A frame folder whose frame t stores t in its red and green channels (t % 256, t // 256)."""
    folder.mkdir()
    for t in range(length):
        Image.fromarray(np.full((2, 2, 3), (t % 256, t // 256, 0), np.uint8)).save(folder / f"{t:04d}.png")
    return folder


def _indices(clip: np.ndarray) -> list[int]:
    """The frame numbers an _index_video clip holds."""
    return [int(f[0, 0, 0]) + 256 * int(f[0, 0, 1]) for f in clip]


@pytest.mark.parametrize("name", LONG)
@pytest.mark.parametrize("length", [120, 127, 128, 129, 135])
def test_128_frame_clip_rules_pick_styleganv_frames(tmp_path, name, length):
    proto = PROTOCOLS.get(name)
    real, fake = real_rule(proto, None), fake_rule(proto)
    n, s = real.num_frames, real.stride
    assert (n, s) == ((128, 1) if name.endswith("128f") else (16, 8)) and (fake.num_frames, fake.stride) == (n, s)
    video = _index_video(tmp_path / "v", length)
    starts = styleganv_real_starts(length, n, s)
    if starts is None:
        with pytest.raises(ShortVideoError):
            read_clip(video, n, rng=MaxRng(), stride=s)
    else:
        rng = MaxRng()
        assert _indices(read_clip(video, n, rng=rng, stride=s)) == list(np.arange(0, n * s, s) + starts[-1])
        assert range(*rng.asked) == starts
    if length >= (n - 1) * s + 1:  # generated clips: frames 0, s, 2s, ... (frechet_video_distance.py:38-40)
        assert _indices(read_clip(video, n, start=0, stride=s)) == list(range(0, n * s, s))


def test_i3d_takes_the_128_frame_clip_and_refuses_undeclared_lengths():
    det = load_detector("i3d-tiny-random", resolution=32, num_frames=128)
    assert det.num_frames == 128 and load_detector("i3d-tiny-random", resolution=32).num_frames == 16
    videos = np.random.default_rng(0).integers(0, 256, (2, 3, 128, 32, 32), np.uint8)
    assert det(torch.from_numpy(videos)).shape == (2, 400)
    with pytest.raises(VidrdBenchError, match="takes clips of 16 or 128 frames, but the protocol asks for 20"):
        load_detector("i3d-torchscript", num_frames=20)


def test_long128_settings_assemble_128_frames_from_31_clips():
    long = VIDRD_SETTINGS.get("vidrd-long128")
    assert (long.frames_per_clip, long.prompt_frames, long.num_clips, long.num_frames) == (8, 4, 31, 128)
    assert len(assembly_frame_indices(31, 8, 4, "video")) == 128
    assert VIDRD_SETTINGS.get("vidrd-tiny-long128").native_size() == (128, 32, 32)


def test_tiny_model_renders_a_long_video_that_long_protocols_score(tmp_path):
    settings = dataclasses.replace(VIDRD_SETTINGS.get("vidrd-tiny"), name="tiny-long-test", num_inference_steps=1,
                                   num_clips=7)
    protocol = dataclasses.replace(PROTOCOLS.get("tiny-smoke"), name="tiny-long-test", num_frames=32)
    run_generate(out_dir=tmp_path / "fake", preset="tiny", settings=settings, protocol_name=protocol, num_videos=3,
                 batch_size=3, device="cpu", show_progress=False)
    rng = np.random.default_rng(5)
    for i, klass in enumerate(("Diving", "Knitting", "Surfing")):
        write_video(tmp_path / "real" / klass / f"v_{klass}_g01_c01.mp4",
                    rng.integers(0, 256, (40, 24, 32, 3), np.uint8), 8)
    consecutive = dataclasses.replace(SMOKE_FVD, name="fvd-smoke-tiny-32f", num_frames=32, resolution=32)
    subsampled = dataclasses.replace(SMOKE_FVD, name="fvd-smoke-tiny-32f-subsample2f", frame_stride=2, resolution=32)
    values = []
    for proto in (consecutive, subsampled):
        record = score_fvd(tmp_path / "real", tmp_path / "fake", proto, device="cpu", num_workers=0,
                           progress=False, bootstrap=3)
        assert np.isfinite(record.value) and record.value > 0 and record.n == 3
        assert record.protocol == proto.to_dict()
        values.append(record.value)
    assert values[0] != values[1]
