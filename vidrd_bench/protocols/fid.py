"""Frame FID protocols: the FIDProtocol fields and the registered MSR-VTT frame-FID conventions, each citing its
reference.

Read at: torch-fidelity 0.4.0 (pip wheel; toshas/torch-fidelity), clean-fid 0.1.35 (pip; GaParmar/clean-fid).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vidrd_bench.protocols.base import _check_choice, cite
from vidrd_bench.protocols.fvd import FVD_MSRVTT, FVDProtocol

# Resize rules to the Inception input size (299): what each reference does to a frame before the network.
RESIZE_RULES = ("tf1-bilinear", "pil-bicubic", "torch-bilinear")


@dataclass(frozen=True)
class FIDProtocol(FVDProtocol):
    """Frechet Inception Distance on frames: every FVDProtocol field, read per frame, plus the resize rule.

    Each video gives `num_frames` frames (`frame_stride` apart; generated from frame 0, real from the protocol's
    `real_clip` start), and every frame is one sample of the Gaussian: FID compares the num_fake * num_frames
    generated frames with the num_real * num_frames real ones (num_fake / num_real count videos). `resize`: how a
    frame reaches the 299 x 299 Inception input: "tf1-bilinear" (torch-fidelity, TF1's bilinear inside the network),
    "pil-bicubic" (clean-fid's "clean" mode: PIL bicubic on float channels) or "torch-bilinear" (clean-fid's
    "legacy_pytorch": F.interpolate bilinear). The detector is the Inception-v3 file the numbers come from.
    """

    detector: str = "inception-torch-fidelity"
    resolution: int = 299
    resize: str = "tf1-bilinear"
    covariance_divisor: str = "N-1"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self, "resize", RESIZE_RULES)

    @property
    def preprocess(self) -> str:
        """The detector variant the score runner loads: the resize rule (load_detector's `preprocess`)."""
        return self.resize


_FID_MSRVTT = dict(detector="inception-torch-fidelity", resolution=299, resize="tf1-bilinear",
                   covariance_divisor="N-1")
FID_MSRVTT = FIDProtocol(**{f.name: getattr(FVD_MSRVTT, f.name) for f in dataclasses.fields(FVDProtocol)
                            if f.name not in ("name", "reference", *_FID_MSRVTT)},
                         name="fid-msrvtt-2990-16f", **_FID_MSRVTT)
FID_MSRVTT = cite(FID_MSRVTT, """Zero-shot frame FID on MSR-VTT with torch-fidelity's Inception-v3 (pool3, 2,048-d).

Every frame of the first 2,990 generated videos (16 frames each, as rendered) against 16 frames of each of the
2,990 test videos (video7010-video9999), clips and real-frame preparation as fvd-msrvtt-2990 (so FID and FVD see
the same frames). Frames go to the network as uint8 and are resized inside it with TF1's bilinear rule
(torch_fidelity/feature_extractor_inceptionv3.py:103-119: uint8 check, interpolate_bilinear_2d_like_tensorflow1x
to 299, (x - 128) / 128), pool3 after Mixed_7c and the average pool (:177-188); mean and np.cov's N - 1
covariance (torch_fidelity/metric_fid.py:21-29). The MSR-VTT papers (Make-A-Video, ModelScope T2V, PYoCo) do not
state their FID implementation, frames per video or resize rule.
""")
FID_MSRVTT_CLEAN = dataclasses.replace(FID_MSRVTT, name="fid-msrvtt-2990-16f-clean", detector="inception-clean-fid",
                                       resize="pil-bicubic")
FID_MSRVTT_CLEAN = cite(FID_MSRVTT_CLEAN, """fid-msrvtt-2990-16f with clean-fid's "clean" mode.

clean-fid's Inception TorchScript (`inception-2015-12-05.pt`, cleanfid/inception_torchscript.py:21-55): frames
resized to 299 x 299 first by PIL bicubic on each float32 channel, no quantisation (cleanfid/resize.py:11-13,
41-57), then (x - 128) / 128 into the program's `layers` (inception_torchscript.py:49-54; features.py:45-46 builds
it with resize_inside=False); mean and np.cov's N - 1 covariance (cleanfid/fid.py:182-183).
""")
FID_MSRVTT_1F = dataclasses.replace(FID_MSRVTT, name="fid-msrvtt-2990-1f", num_frames=1, real_clip="first")
FID_MSRVTT_1F = cite(FID_MSRVTT_1F, """fid-msrvtt-2990-16f on one frame per video: each video's first frame.

The image-FID reading of a video set (one sample per video); other conventions as fid-msrvtt-2990-16f
(torch_fidelity/feature_extractor_inceptionv3.py:103-188, metric_fid.py:21-29).
""")

SMOKE_FID = FIDProtocol(name="fid-smoke-tiny", detector="inception-tiny-random", resolution=32, num_frames=4,
                        resize="torch-bilinear", real_preparation="stretch-bilinear", real_jpeg_quality=None,
                        real_split=None, real_clip="first",
                        reference="Smoke runs only: tiny random Inception, 4 frames per video, every video.")

FID_PROTOCOLS = (FID_MSRVTT, FID_MSRVTT_CLEAN, FID_MSRVTT_1F)
DEFAULT_FID = FID_MSRVTT.name
