"""FVD protocols: the FVDProtocol fields and every registered FVD convention, each citing its reference."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from vidrd_bench.core.errors import ProtocolMismatchError
from vidrd_bench.protocols.base import Protocol, _check_choice, _check_count, check_not_retired, cite, differences


@dataclass(frozen=True)
class FVDProtocol(Protocol):
    """Frechet Video Distance: every convention that moves the number is a field.

    Clips: `num_frames` frames `frame_stride` apart; generated clips from frame 0 (`fake_clip` "first") or from a
    uniform random offset seeded by (fake_seed, manifest index) ("random-offset"), real clips from a uniform
    random offset seeded by (real_seed, sorted position). Real frames are prepared by `real_preparation`
    (datasets/prepare.py) to the generated videos' resolution, optionally through JPEG at `real_jpeg_quality`,
    and real videos with fewer than num_frames * frame_stride frames are dropped. `num_fake` / `num_real`:
    how many videos enter the statistics (None: all), chosen by `fake_selection` (manifest order) and
    `real_selection` (sorted file names, after dropping short ones). `covariance_divisor`: "N" or "N-1".
    `real_split`: the official split file whose videos form the real set (None: the folder as given).
    `derived_from`: set on a protocol made from a registered one with other counts (not comparable to it).
    `resolution`: the detector's input size (frames resized to it inside the detector); records keep the videos'
    own frame size as extra.video_size and this one as extra.detector_resolution.
    """

    detector: str = "i3d-torchscript"
    num_frames: int = 16
    resolution: int = 224
    frame_stride: int = 1
    fake_clip: str = "first"
    real_clip: str = "random-offset"
    real_seed: int = 0
    fake_seed: int = 0
    real_preparation: str = "styleganv-resize-crop-lanczos"
    real_jpeg_quality: int | None = 75
    num_fake: int | None = None
    fake_selection: str = "all"
    num_real: int | None = None
    real_selection: str = "all"
    real_split: str | None = "trainlist01"
    covariance_divisor: str = "N"
    derived_from: str | None = None

    def check_same_real(self, other: dict[str, Any], what: str) -> None:
        """Like check_same, on the real-side settings only (fake count and name may differ: they do not touch
        real statistics)."""
        check_not_retired(str(other.get("name")), what)
        fake_side = ("name", "num_fake", "fake_selection", "fake_clip", "fake_seed", "derived_from")
        mine = {k: v for k, v in self.to_dict().items() if k not in fake_side}
        theirs = {k: v for k, v in other.items() if k not in fake_side}
        if mine != theirs:
            raise ProtocolMismatchError(
                f"{what} were made under protocol {other.get('name')!r}, whose real-video settings differ from "
                f"those of {self.name!r} ({differences(mine, theirs)}). "
                f"Recompute them with `vidrd-bench stats {self.real_dataset} --protocol {self.name}`."
            )

    @property
    def real_dataset(self) -> str:
        """The dataset `vidrd-bench stats` takes for this protocol's real set (msrvtt for its test split)."""
        return "msrvtt" if (self.real_split or "").startswith("msrvtt") else "ucf101"

    def __post_init__(self) -> None:
        _check_choice(self, "covariance_divisor", ("N", "N-1"))
        _check_choice(self, "fake_clip", ("first", "random-offset"))
        _check_choice(self, "real_clip", ("random-offset", "first"))
        _check_count(self, "num_fake", "fake_selection", "first")
        _check_count(self, "num_real", "real_selection", "first-sorted")

    @property
    def pool_size(self) -> int | None:
        """How many generated videos, in manifest order, the score draws on (None: all): num_fake."""
        return self.num_fake


# References, read at these commits: universome/stylegan-v 3fecd69 (SGV), pfnet-research/tgan (TGAN),
# pfnet-research/tgan2 f892bc4 (TGAN2), songweige/content-debiased-fvd a1e037a (CDFVD).
FVD_STYLEGANV_2048 = FVDProtocol(name="fvd-styleganv-2048-16f", num_fake=2048, fake_selection="first", num_real=2048,
                                 real_selection="first-sorted", real_split=None)
FVD_STYLEGANV_2048 = cite(FVD_STYLEGANV_2048, """StyleGAN-V `fvd2048_16f` (SGV src/metrics/metric_main.py:115-118).

I3D TorchScript called with rescale/resize/return_features (frechet_video_distance.py:23); 16 consecutive frames
(:26), generated clips from frame 0 (:39, metric_utils.py:309), real clips from a uniform random offset
(training/dataset.py:402-406) after dropping videos shorter than 16 (frechet_video_distance.py:28,
dataset.py:323-324); the first 2,048 real videos in sorted order (dataset.py:283,299; metric_utils.py:222-230)
and 2,048 generated; covariance divided by N (metric_utils.py:122-127). Real frames as its video-folder
conversion writes them (scripts/convert_videos_to_frames.py:74-76): shorter side to the target size with
Lanczos, centre crop, JPEG; the `q=95` there is not a PIL option, so PIL's default quality 75 is what is stored.
""")
FVD_UCF101_10K = FVDProtocol(name="fvd-ucf101-10k", num_fake=10_000, fake_selection="first")
FVD_UCF101_10K = cite(FVD_UCF101_10K, """The 10K UCF-101 zero-shot FVD: 10,000 generated videos against every trainlist01 video.

Counts as in the text-to-video papers VidRD compares with; every other convention is StyleGAN-V's
(fvd-styleganv-2048-16f: real frames per convert_videos_to_frames.py:74-76, covariance / N per
metric_utils.py:122-127, random-offset real clips per dataset.py:402-406).
""")
FVD_VARIANTS = (
    # SGV scripts/convert_video_to_dataset.py:45-47: centre crop to a square first, then Lanczos, JPEG (PIL q75).
    dataclasses.replace(FVD_UCF101_10K, name="fvd-ucf101-10k-crop-first",
                        real_preparation="styleganv-crop-lanczos"),
    # CDFVD cdfvd/utils/data_utils.py:52-65: shorter side (ceil) bilinear antialiased, floor centre crop, no JPEG;
    # covariance / N (cdfvd/utils/metric_utils.py:125-135).
    dataclasses.replace(FVD_UCF101_10K, name="fvd-ucf101-10k-cdfvd-prep", real_preparation="cdfvd-resize-crop-bilinear",
                        real_jpeg_quality=None),
    # vidrd-bench 0.1 (retired fvd-i3d-16f): whole frame stretched bilinear, no JPEG, np.cov's N - 1.
    dataclasses.replace(FVD_UCF101_10K, name="fvd-ucf101-10k-stretch", real_preparation="stretch-bilinear",
                        real_jpeg_quality=None, covariance_divisor="N-1"),
    # SGV frechet_video_distance.py:18,27 subsample_factor (fvd2048_128f_subsample8f uses 8); stride 3 is TATS'.
    dataclasses.replace(FVD_UCF101_10K, name="fvd-ucf101-10k-stride3", frame_stride=3),
    # The DeepMind weights in the pytorch-i3d layout: a different detector file, a different number.
    dataclasses.replace(FVD_UCF101_10K, name="fvd-ucf101-10k-i3d-pytorch", detector="i3d-pytorch"),
)
FVD_MSRVTT = FVDProtocol(name="fvd-msrvtt-2990", num_fake=2_990, fake_selection="first", real_split="msrvtt-test")
FVD_MSRVTT = cite(FVD_MSRVTT, """Zero-shot FVD on MSR-VTT: the first 2,990 generated videos (one per test video under
either caption rule: the all-captions plan's first round) against the 2,990 test videos (video7010-video9999).

Every other convention is fvd-ucf101-10k's (StyleGAN-V's real-frame preparation per
convert_videos_to_frames.py:74-76, covariance / N per metric_utils.py:122-127, random-offset real clips per
dataset.py:402-406); the MSR-VTT papers do not state theirs.
""")
FVD_STYLEGANV_2048_128F = dataclasses.replace(FVD_STYLEGANV_2048, name="fvd-styleganv-2048-128f", num_frames=128)
FVD_STYLEGANV_2048_128F = cite(FVD_STYLEGANV_2048_128F, """StyleGAN-V `fvd2048_128f` (SGV src/metrics/metric_main.py:121-124).

compute_fvd(max_real=2048, num_gen=2048, num_frames=128) (metric_main.py:123): the I3D TorchScript fed all 128
consecutive frames at once (frechet_video_distance.py:26 load_n_consecutive), its logits averaged over time;
generated clips frames 0-127 (:39, metric_utils.py:309); real clips from a uniform random offset in
[0, len - 128] (training/dataset.py:402-406) after dropping videos shorter than 128 (frechet_video_distance.py:28,
dataset.py:323-324). Every other convention as fvd-styleganv-2048-16f. Scores long videos (vidrd-long128).
""")
FVD_STYLEGANV_2048_128F_SUB8 = dataclasses.replace(FVD_STYLEGANV_2048, name="fvd-styleganv-2048-128f-subsample8f",
                                                   frame_stride=8)
FVD_STYLEGANV_2048_128F_SUB8 = cite(FVD_STYLEGANV_2048_128F_SUB8, """StyleGAN-V `fvd2048_128f_subsample8f` (SGV src/metrics/metric_main.py:127-131).

compute_fvd(max_real=2048, num_gen=2048, num_frames=16, subsample_factor=8) (metric_main.py:130): 16 frames 8
apart, covering 121 frames of a 128-frame window (frechet_video_distance.py:27; dataset.py:406: np.arange(0, 16 * 8, 8) + offset);
generated clips frames 0, 8, ..., 120 (frechet_video_distance.py:38-40); real clips from a uniform random offset
in [0, len - 16 * 8 + 8 - 1] (dataset.py:403) after dropping videos shorter than 16 * 8 = 128 frames
(dataset.py:323-324). Every other convention as fvd-styleganv-2048-16f.
""")

SMOKE_FVD = FVDProtocol(name="fvd-smoke-tiny", detector="i3d-tiny-random", resolution=64,
                        real_preparation="stretch-bilinear",
                        real_jpeg_quality=None, real_split=None,
                        reference="Smoke runs only: tiny random I3D, every video, real frames stretched.")

FVD_PROTOCOLS = (FVD_UCF101_10K, FVD_STYLEGANV_2048, *FVD_VARIANTS, FVD_MSRVTT)
LONG_FVD_PROTOCOLS = (FVD_STYLEGANV_2048_128F, FVD_STYLEGANV_2048_128F_SUB8)
