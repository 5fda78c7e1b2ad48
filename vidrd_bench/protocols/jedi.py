"""JEDi protocols: FVD's clip and real-video fields plus the kernel distance's own, each registered convention citing
its reference (oooolga/JEDi c03d178 and videojedi 1.1.0 on PyPI)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vidrd_bench.protocols.base import _check_choice, cite
from vidrd_bench.protocols.fvd import FVDProtocol


@dataclass(frozen=True)
class JEDiProtocol(FVDProtocol):
    """JEDi: clips, counts, selections and real-video preparation as FVDProtocol's fields say; the distance is
    `scale` x the biased MMD^2 with the polynomial kernel (gamma <x, y> + kernel_coef0)^kernel_degree, gamma =
    1 / feature dim (`kernel_gamma` "1/dim", sklearn's default). The covariance divisor only shapes the mean and
    covariance a statistics file also stores; JEDi reads the features."""

    detector: str = "vjepa-h16-ssv2"
    num_fake: int | None = 5_000
    fake_selection: str = "first"
    num_real: int | None = 5_000
    real_selection: str = "first-sorted"
    kernel_degree: int = 2
    kernel_gamma: str = "1/dim"
    kernel_coef0: float = 0.0
    scale: float = 100.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self, "kernel_gamma", ("1/dim",))


JEDI_UCF101_5K = cite(JEDiProtocol(name="jedi-ucf101-5k"), """JEDi as videojedi computes it, on UCF-101 (the default).

Distance: videojedi/JEDi.py:15-19 (mmd_poly(train, test, degree=2, coef0=0) * 100) and mmd_polynomial.py:6-24
(sklearn polynomial_kernel, gamma None = 1 / dim; mean K_xx + mean K_yy - 2 mean K_xy over all pairs, the biased
estimate). Counts: JEDi.py:21 and utils.py:19-29 (load_features(num_samples=5000): the first 5,000 videos of each
loader); here the first 5,000 generated in manifest order and the first 5,000 trainlist01 videos in sorted order.
Features: V-JEPA ViT-H/16 + SSv2 probe pooler (vjepa-h16-ssv2; V_JEPA.py:59-67) on 16 consecutive frames
(configs/vith16_ssv2_16x2x3.yaml:11 frames_per_clip 16; the loaders of tests/test_JEDi.py:29-48 hand consecutive
frames, the config's frame_step 4 being the probe's training sampling) at 224 x 224. How real frames are read is
the loader's business there; here StyleGAN-V's, as fvd-ucf101-10k (convert_videos_to_frames.py:74-76, random-offset
clips per dataset.py:402-406).
""")
JEDI_UCF101_10K = dataclasses.replace(JEDI_UCF101_5K, name="jedi-ucf101-10k", num_fake=10_000, num_real=None,
                                      real_selection="all")
JEDI_UCF101_10K = cite(JEDI_UCF101_10K, """JEDi on fvd-ucf101-10k's counts: 10,000 generated videos against every
trainlist01 video.

Distance and features as jedi-ucf101-5k (videojedi/JEDi.py:15-19, mmd_polynomial.py:6-24, V_JEPA.py:59-67); the
counts of the 10K UCF-101 FVD, so JEDi and FVD read the same videos. Not comparable to jedi-ucf101-5k: the biased
MMD estimate depends on the counts.
""")
JEDI_MSRVTT = dataclasses.replace(JEDI_UCF101_5K, name="jedi-msrvtt-2990", num_fake=2_990, num_real=None,
                                  real_selection="all", real_split="msrvtt-test")
JEDI_MSRVTT = cite(JEDI_MSRVTT, """JEDi on MSR-VTT: the first 2,990 generated videos against the 2,990 test videos
(video7010-video9999).

Distance and features as jedi-ucf101-5k (videojedi/JEDi.py:15-19, mmd_polynomial.py:6-24, V_JEPA.py:59-67); the
test split has fewer than videojedi's 5,000 (JEDi.py:21), so every test video, as fvd-msrvtt-2990 takes them.
""")
SMOKE_JEDI = JEDiProtocol(name="jedi-smoke-tiny", detector="vjepa-tiny-random", resolution=32, num_fake=None,
                          fake_selection="all", num_real=None, real_selection="all",
                          real_preparation="stretch-bilinear", real_jpeg_quality=None, real_split=None,
                          reference="Smoke runs only: tiny random V-JEPA, every video, real frames stretched.")

JEDI_PROTOCOLS = (JEDI_UCF101_5K, JEDI_UCF101_10K, JEDI_MSRVTT, SMOKE_JEDI)
