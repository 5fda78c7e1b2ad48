"""The cd-FVD protocols against cd-fvd 0.1.1's own code: its frame preparation and byte cast, its FeatureStats and
Frechet distance, run here on a tiny scored run; each of its conventions (random generated clips, the preparation,
the covariance divisor) is caught when swapped."""

import dataclasses
import re

import numpy as np
import pytest
import torch
from cdfvd.fvd import cdfvd as reference_fvd
from cdfvd.utils.data_utils import preprocess as cdfvd_preprocess
from cdfvd.utils.metric_utils import FeatureStats

from vidrd_bench.api import score_fvd
from vidrd_bench.datasets.prepare import prepare_real
from vidrd_bench.datasets.video import num_frames, read_clip, write_video
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.core.errors import ProtocolMismatchError
from vidrd_bench.protocols import FVD_UCF101_10K, PROTOCOLS, SMOKE_CDFVD, protocol_from_dict
from vidrd_bench.runners.videos import generated_items, real_items

CDFVD = {"cdfvd-ucf101-2048": (2048, None), "cdfvd-ucf101-10k": (10_000, None), "cdfvd-msrvtt-2048": (2048, "msrvtt-test")}


@pytest.mark.parametrize("name", CDFVD)
def test_cdfvd_protocols_take_cdfvds_defaults_and_cite_file_and_line(name):
    proto = PROTOCOLS.get(name)
    assert re.search(r"fvd\.py:\d+", proto.reference) and re.search(r"data_utils\.py:\d+", proto.reference)
    assert (proto.num_fake, proto.real_split) == CDFVD[name] and proto.fake_selection == "first"
    assert (proto.num_real, proto.real_selection) == (None, "all")  # n_real='full' (fvd.py:58)
    assert (proto.detector, proto.resolution, proto.num_frames, proto.frame_stride) == ("videomae-v2-g", 224, 16, 1)
    assert (proto.fake_clip, proto.real_clip) == ("random-offset", "random-offset")
    assert (proto.real_preparation, proto.real_jpeg_quality, proto.covariance_divisor) == (
        "cdfvd-resize-crop-bilinear", None, "N")


def test_the_generated_clip_rule_is_a_fake_side_field_that_older_records_default():
    two_k, ten_k = PROTOCOLS.get("cdfvd-ucf101-2048"), PROTOCOLS.get("cdfvd-ucf101-10k")
    ten_k.check_same_real(two_k.to_dict(), "The real statistics")  # one real set serves both counts
    other_fake = dataclasses.replace(two_k, name="other", fake_clip="first", fake_seed=5)
    other_fake.check_same_real(two_k.to_dict(), "The real statistics")
    with pytest.raises(ProtocolMismatchError, match="real_seed"):
        dataclasses.replace(two_k, name="other", real_seed=1).check_same_real(two_k.to_dict(), "The statistics")
    with pytest.raises(ValueError, match="fake_clip"):
        dataclasses.replace(two_k, name="other", fake_clip="middle")
    older = {k: v for k, v in FVD_UCF101_10K.to_dict().items() if k != "fake_seed"}  # written before the field
    assert protocol_from_dict(older) == FVD_UCF101_10K


@pytest.mark.parametrize("shape", [(5, 30, 40, 3), (5, 40, 30, 3), (5, 16, 16, 3)])
def test_the_real_preparation_is_cdfvds_preprocess_then_its_byte_cast(shape):
    frames = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    # data_utils.py:37-68 on a (T, H, W, C) clip -> (C, T, H, W) in [0, 1]; fvd.py:133 `(video * 255).byte()`
    want = (cdfvd_preprocess(torch.from_numpy(frames), 16)["video"] * 255).byte().permute(1, 2, 3, 0).numpy()
    assert np.array_equal(prepare_real(frames, (16, 16), "cdfvd-resize-crop-bilinear", None), want)


def _write_sets(root):
    """Real: 5 4:3 videos of 17-24 frames (one of 12, too short); generated: 5 square videos of 24 frames, so a
    random clip and the first clip differ."""
    rng = np.random.default_rng(3)
    for i, n in enumerate((20, 24, 12, 17, 22)):
        write_video(root / "real" / f"v_{i}.mp4", np.clip(rng.normal(120, 60, (n, 30, 40, 3)), 0, 255)
                    .astype(np.uint8), 8)
    for i in range(5):
        write_video(root / "fake" / f"{i:02d}.mp4", np.clip(rng.normal(100, 70, (24, 16, 16, 3)), 0, 255)
                    .astype(np.uint8), 8)


def _cdfvd_stats(items, detector, seed):
    """cd-fvd's FeatureStats of one random 16-frame clip per video (uniform over every window; vidrd-bench's seeded
    draw), each prepared by cd-fvd's preprocess at 16 px and cast by (x * 255).byte() (fvd.py:133,155)."""
    stats = FeatureStats(capture_mean_cov=True)
    for item in items:
        total = num_frames(item.path)
        if total < 16:
            continue
        start = int(np.random.default_rng((seed, item.index)).integers(0, total - 16 + 1))
        clip = torch.from_numpy(read_clip(item.path, 16, start=start))
        video = (cdfvd_preprocess(clip, 16)["video"] * 255).byte()
        stats.append_torch(detector(video[None]), rank=0, num_gpus=1)
    return stats


def test_cdfvd_smoke_score_equals_cdfvds_own_statistics_and_distance(tmp_path):
    _write_sets(tmp_path)
    kw = dict(num_workers=0, bootstrap=0, progress=False, cache_dir=tmp_path / "cache", per_class=False)
    rec = score_fvd(tmp_path / "real", tmp_path / "fake", protocol=SMOKE_CDFVD, **kw)
    detector = load_detector("videomae-tiny-random", resolution=SMOKE_CDFVD.resolution)
    real = _cdfvd_stats(real_items(tmp_path / "real", None, None)[0], detector, SMOKE_CDFVD.real_seed)
    fake = _cdfvd_stats(generated_items(tmp_path / "fake")[0], detector, SMOKE_CDFVD.fake_seed)
    assert (rec.n, rec.extra["real_count"], real.num_items) == (5, 4, 4)
    want = reference_fvd.compute_fvd_from_stats(None, fake, real)  # fvd.py:81-98, self unused when both are given
    assert rec.value == pytest.approx(float(want), rel=1e-4)

    def swapped(**change):
        proto = dataclasses.replace(SMOKE_CDFVD, name="swapped", **change)
        return score_fvd(tmp_path / "real", tmp_path / "fake", protocol=proto, name="swapped", **kw).value

    for change in ({"fake_clip": "first"}, {"fake_seed": 1}, {"real_preparation": "stretch-bilinear"},
                   {"covariance_divisor": "N-1"}):
        assert abs(swapped(**change) - rec.value) > 1e-3 * rec.value, change  # each convention is caught
