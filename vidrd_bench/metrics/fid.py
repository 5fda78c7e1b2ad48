"""Frame FID: the Frechet distance between Gaussians of Inception-v3 pool3 features of generated and real frames,
and its METRICS entry (SPEC).

The distance, statistics and bootstrap are FVD's (fvd.frechet_distance, stats.gaussian_of, fvd.bootstrap_fvd); only
the samples differ: every frame of the protocol's clip is one sample, and bootstrap resamples whole videos.
"""

from __future__ import annotations

import numpy as np

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.metrics.fvd import bootstrap_fvd, fvd_from_features
from vidrd_bench.metrics.spec import MetricExample, MetricInputs, MetricSpec, MetricValue
from vidrd_bench.metrics.stats import StatsFile, gaussian_of
from vidrd_bench.protocols import DEFAULT_FID, SMOKE_FID, FIDProtocol


def frame_rows(features: np.ndarray, frame_dim: int, frames_per_video: int) -> np.ndarray:
    """Per-video rows (N, T * D) of a frame detector as per-frame rows (N * T, D); refused when the widths disagree."""
    if features.ndim != 2 or features.shape[1] != frame_dim * frames_per_video:
        raise VidrdBenchError(
            f"Frame FID expects {frames_per_video} frames of {frame_dim} features per video (the protocol's frames "
            f"per video and the real statistics' width), but the generated features have shape {features.shape}. "
            "Score with the protocol and detector the real statistics were made with."
        )
    return features.reshape(-1, frame_dim)


def compute_fid(inputs: MetricInputs, proto: FIDProtocol, bootstrap: int, seed: int,
                progress: bool = False) -> MetricValue:
    """FID of every frame of the selected generated videos against the real frames' statistics, with a bootstrap
    interval of `bootstrap` resamples of the generated videos (none at 0)."""
    real, divisor = inputs.real, proto.covariance_divisor
    frames = frame_rows(inputs.features, real.mu.size, proto.num_frames)
    value = fvd_from_features(frames, real.mu, real.sigma, divisor)
    extra = {"frames_per_video": proto.num_frames, "num_frames_scored": len(frames)}
    if not bootstrap:
        return MetricValue(value, extra=extra)
    low, high, samples = bootstrap_fvd(inputs.features, real.mu, real.sigma, bootstrap, seed, divisor=divisor,
                                       progress=progress)
    return MetricValue(value, (low, high), len(samples), extra=extra)


def example() -> MetricExample:
    """Known case: generated videos whose frames are the real statistics' own frames give FID 0; shifted by 1 in
    each of their 8 dimensions they are worse."""
    videos = np.random.default_rng(0).normal(size=(100, SMOKE_FID.num_frames * 8))
    mu, sigma = gaussian_of(videos.reshape(-1, 8), SMOKE_FID.covariance_divisor)
    real = StatsFile(mu=mu, sigma=sigma, count=len(videos), detector=SMOKE_FID.detector, detector_sha256={},
                     protocol=SMOKE_FID.to_dict(), source="conformance example",
                     extra={"frames_per_video": SMOKE_FID.num_frames})
    return MetricExample(SMOKE_FID, MetricInputs(videos, real=real), 0.0, MetricInputs(videos + 1.0, real=real))


SPEC = MetricSpec(
    name="fid", title="FID",
    summary="Frechet Inception Distance of the frames of the generated videos in --fake against real frames (--real).",
    needs="real", higher_is_better=False, floor=0.0, protocol_type=FIDProtocol, default_protocol=DEFAULT_FID,
    compute=compute_fid, example=example, column=3,
)
