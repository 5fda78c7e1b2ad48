"""The public Python API (`import vidrd_bench as vb`): score folders, Frechet distance of features, streaming FVD.

`vb.score_fvd` / `vb.score_is` are the runners behind `vidrd-bench score` (same arguments, a ResultRecord back);
`vb.fvd` is the Frechet distance of two feature matrices; `vb.FVD` accumulates videos batch by batch
(`update` / `compute` / `reset`, the torchmetrics metric interface) under a named FVD protocol.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from vidrd_bench.core.errors import VideoError, VidrdBenchError
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.detectors.base import trusting_detectors
from vidrd_bench.metrics.fvd import frechet_distance
from vidrd_bench.metrics.stats import StatsFile, gaussian_of, load_stats
from vidrd_bench.protocols import DEFAULT_FVD, FVDProtocol
from vidrd_bench.runners.score import _detector, _protocol, compute_real_stats, score_fvd, score_is

__all__ = ["FVD", "compute_real_stats", "fvd", "load_detector", "score_fvd", "score_is"]


def _matrix(features, name: str) -> np.ndarray:
    """A (N, D) float64 feature matrix from a numpy array or torch tensor, N >= 2."""
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise VidrdBenchError(f"vb.fvd: {name} must be a (videos, feature_dim) matrix with at least 2 rows, got "
                              f"shape {x.shape}. Pass detector features, e.g. "
                              "vb.load_detector('i3d-torchscript')(videos).")
    return x


def fvd(features_a, features_b, divisor: str = "N-1") -> float:
    """Frechet distance between the Gaussians of two (N, D) feature matrices, in float64; the covariance divides
    by N - 1 (np.cov) unless divisor="N" (StyleGAN-V's convention, see README Protocols)."""
    a, b = _matrix(features_a, "features_a"), _matrix(features_b, "features_b")
    return frechet_distance(*gaussian_of(a, divisor), *gaussian_of(b, divisor))


def as_detector_input(videos) -> torch.Tensor:
    """uint8 (B, 3, T, H, W) from uint8 of that shape or float in [-1, 1] ((x * 127.5 + 128).clamp, as StyleGAN-V)."""
    videos = torch.as_tensor(videos)
    if videos.ndim != 5 or videos.shape[1] != 3:
        raise VideoError(f"Videos must be shaped (B, 3, T, H, W) (channels second, then frames); got "
                         f"{tuple(videos.shape)}. Permute (B, T, H, W, 3) frames with .permute(0, 4, 1, 2, 3).")
    if videos.dtype == torch.uint8:
        return videos
    if not videos.is_floating_point():
        raise VideoError(f"Videos must be uint8 in [0, 255] or float in [-1, 1]; got dtype {videos.dtype}.")
    return (videos.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


class FVD:
    """Streaming FVD (torchmetrics style): `update(videos, real=False)` per batch, `compute()` at the end.

    The real side comes from `update(..., real=True)` batches or from a statistics file (`real_stats`, as
    `vidrd-bench stats` writes; its protocol must match). Videos longer than the protocol's clip are cut to
    its first `num_frames` frames, as `score` does for generated videos.
    """

    def __init__(self, protocol: str | FVDProtocol = DEFAULT_FVD,
                 real_stats: str | os.PathLike | StatsFile | None = None,
                 device: str | torch.device | None = None, weights_dir: str | os.PathLike | None = None,
                 detector_path: str | os.PathLike | None = None, trust_detector: bool = False):
        from vidrd_bench.core.devices import pick_device

        self.protocol = _protocol(protocol, FVDProtocol)
        with trusting_detectors(trust_detector):  # a TorchScript detector is a program: see load_detector
            self.detector = _detector(self.protocol, weights_dir, pick_device(device), detector_path)
        self.real_stats = load_stats(real_stats) if isinstance(real_stats, (str, os.PathLike)) else real_stats
        if self.real_stats is not None:
            self.protocol.check_same_real(self.real_stats.protocol, "The real statistics")
        if self.real_stats is not None and self.real_stats.detector_sha256 != self.detector.weights:
            raise VidrdBenchError(
                f"The real statistics were made with detector files {self.real_stats.detector_sha256}, but this FVD "
                f"uses {self.detector.weights}. Recompute them with the same files (`vidrd-bench stats`).")
        self.reset()

    def reset(self) -> None:
        """Forget every video seen (the real statistics file, if any, stays)."""
        self.fake: list[np.ndarray] = []
        self.real: list[np.ndarray] = []

    def update(self, videos, real: bool = False) -> None:
        """Add a batch of videos (uint8 (B, 3, T, H, W), or float in [-1, 1]) to the generated or the real side."""
        clips = as_detector_input(videos)
        n = self.detector.num_frames
        if clips.shape[2] < n:
            raise VideoError(f"FVD protocol {self.protocol.name} takes clips of {n} frames; these videos have "
                             f"{clips.shape[2]}.")
        if real and self.real_stats is not None:
            raise VidrdBenchError("This FVD was given real statistics at construction; update(real=True) would mix "
                                  "two real sets. Make a new vb.FVD() without real_stats to stream real videos.")
        features = self.detector(clips[:, :, :n]).double().cpu().numpy()
        (self.real if real else self.fake).append(features)

    def compute(self) -> float:
        """FVD of the generated videos seen so far against the real side."""
        div = self.protocol.covariance_divisor
        if self.real_stats is not None:
            mu, sigma = self.real_stats.mu, self.real_stats.sigma
        else:
            mu, sigma = gaussian_of(self._stack(self.real), div)
        return frechet_distance(*gaussian_of(self._stack(self.fake), div), mu, sigma)

    def _stack(self, parts: list[np.ndarray]) -> np.ndarray:
        """The features of one side as one (N, D) matrix (N = 0 before any update)."""
        return np.concatenate(parts) if parts else np.zeros((0, self.detector.feature_dim))
