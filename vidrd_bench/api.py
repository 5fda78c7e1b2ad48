"""The public Python API (`import vidrd_bench as vb`): score folders, Frechet distance of features, streaming FVD.

`vb.score_fvd` / `vb.score_is` / `vb.compute_real_stats` run what `vidrd-bench score fvd|is` / `stats` run (the same
options as keyword arguments, a ResultRecord or StatsFile back); `vb.fvd` is the Frechet distance of two feature
matrices, `vb.jedi` JEDi's kernel distance (`vb.jedi_distance` the metric's function); `vb.FVD` accumulates videos batch by batch (`update` / `compute` / `reset`, the torchmetrics metric
interface) under a named FVD protocol.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from vidrd_bench.core.errors import VideoError, VidrdBenchError
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import CacheDir, ExtractionOptions
from vidrd_bench.metrics.fvd import frechet_distance
from vidrd_bench.metrics.jedi import jedi_distance
from vidrd_bench.metrics.stats import StatsFile, gaussian_of, load_stats
from vidrd_bench.protocols import DEFAULT_FVD, DEFAULT_IS, FVDProtocol, ISProtocol, metric_protocol
from vidrd_bench.results import ResultRecord
from vidrd_bench.runners import score
from vidrd_bench.runners.score import ScoreOptions, protocol_detector

__all__ = ["FVD", "compute_real_stats", "fvd", "jedi", "jedi_distance", "load_detector", "score_fvd", "score_is"]
PathLike = str | os.PathLike


def score_fvd(real: PathLike, fake_dir: PathLike, protocol: str | FVDProtocol = DEFAULT_FVD,
              weights_dir: PathLike | None = None, detector_path: PathLike | None = None,
              device: str | torch.device | None = None, batch_size: int = 32, num_workers: int = 4, bootstrap: int = 100,
              seed: int = 0, out_path: PathLike | None = None, per_class: bool = True, allow_incomplete: bool = False,
              progress: bool = True, labels: PathLike | None = None, name: str = "", cache_dir: CacheDir = None,
              allow_fewer: bool = False, split_file: PathLike | None = None,
              trust_detector: bool = False) -> ResultRecord | None:
    """FVD of the videos in `fake_dir` (a generate run, or any folder of videos) against real statistics (a file)
    or a folder of real videos; `name` labels the result's row in tables and reports (`vidrd-bench score fvd`);
    `trust_detector` lets a TorchScript detector file whose sha256 is not pinned load (it is a program)."""
    extraction = ExtractionOptions(weights_dir=weights_dir, detector_path=detector_path, device=device,
                                   batch_size=batch_size, num_workers=num_workers, progress=progress,
                                   cache_dir=cache_dir, trust_detector=trust_detector)
    scoring = ScoreOptions(bootstrap=bootstrap, seed=seed, out_path=out_path, per_class=per_class,
                           allow_incomplete=allow_incomplete, labels=labels, name=name, allow_fewer=allow_fewer,
                           split_file=split_file)
    return score.score_metric("fvd", fake_dir, protocol, extraction, scoring, real=real)


def score_is(fake_dir: PathLike, protocol: str | ISProtocol = DEFAULT_IS, weights_dir: PathLike | None = None,
             detector_path: PathLike | None = None, device: str | torch.device | None = None, batch_size: int = 32,
             num_workers: int = 4, bootstrap: int = 100, seed: int = 0, out_path: PathLike | None = None,
             allow_incomplete: bool = False, progress: bool = True, labels: PathLike | None = None, name: str = "",
             cache_dir: CacheDir = None, allow_fewer: bool = False,
             trust_detector: bool = False) -> ResultRecord | None:
    """Inception Score (C3D) of the videos in `fake_dir` under an IS protocol's rules: a generate run in plan order,
    any other folder after a seeded shuffle; `name` labels the result's row (`vidrd-bench score is`)."""
    extraction = ExtractionOptions(weights_dir=weights_dir, detector_path=detector_path, device=device,
                                   batch_size=batch_size, num_workers=num_workers, progress=progress,
                                   cache_dir=cache_dir, trust_detector=trust_detector)
    scoring = ScoreOptions(bootstrap=bootstrap, seed=seed, out_path=out_path, allow_incomplete=allow_incomplete,
                           labels=labels, name=name, allow_fewer=allow_fewer)
    return score.score_metric("is", fake_dir, protocol, extraction, scoring)


def compute_real_stats(videos: PathLike | Sequence[PathLike], dataset: str = "ucf101",
                       protocol: str | FVDProtocol = DEFAULT_FVD, weights_dir: PathLike | None = None,
                       device: str | torch.device | None = None, batch_size: int = 32, num_workers: int = 4,
                       out_path: PathLike | None = None, size: int | tuple[int, int] | None = 256,
                       split_file: PathLike | None = None, detector_path: PathLike | None = None,
                       keep_features: bool = True, progress: bool = True, cache_dir: CacheDir = None,
                       allow_fewer: bool = False, trust_detector: bool = False) -> StatsFile | None:
    """Real-video statistics under an FVD protocol; writes `out_path` (rank 0) and returns them (None elsewhere)
    (`vidrd-bench stats`)."""
    extraction = ExtractionOptions(weights_dir=weights_dir, detector_path=detector_path, device=device,
                                   batch_size=batch_size, num_workers=num_workers, progress=progress,
                                   cache_dir=cache_dir, trust_detector=trust_detector)
    scoring = ScoreOptions(out_path=out_path, split_file=split_file, allow_fewer=allow_fewer)
    return score.compute_real_stats(videos, protocol, extraction, scoring, dataset, size, keep_features)


def _matrix(features, name: str) -> np.ndarray:
    """A (N, D) float64 feature matrix from a numpy array or torch tensor, N >= 2."""
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise VidrdBenchError(f"{name} must be a (videos, feature_dim) matrix with at least 2 rows, got "
                              f"shape {x.shape}. Pass detector features, e.g. "
                              "vb.load_detector('i3d-torchscript')(videos).")
    return x


def fvd(features_a, features_b, divisor: str | None = None) -> float:
    """Frechet distance between the Gaussians of two (N, D) feature matrices, in float64; the covariance divides as
    the default FVD protocol's does (its covariance_divisor, "N" as in StyleGAN-V), or by `divisor` ("N" / "N-1"),
    so the number equals `score fvd`'s on the same features."""
    a, b = _matrix(features_a, "features_a"), _matrix(features_b, "features_b")
    divisor = divisor or metric_protocol(DEFAULT_FVD, FVDProtocol).covariance_divisor
    return frechet_distance(*gaussian_of(a, divisor), *gaussian_of(b, divisor))


def jedi(features_real, features_fake) -> float:
    """JEDi between two (N, D) feature matrices: 100 x the biased MMD^2 with the kernel (x.y / D)^2 (the videojedi
    package's metric; its features are V-JEPA's, but any one detector's features compare)."""
    return jedi_distance(_matrix(features_fake, "features_fake"), _matrix(features_real, "features_real"))


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
        self.protocol = metric_protocol(protocol, FVDProtocol)
        extraction = ExtractionOptions(weights_dir=weights_dir, detector_path=detector_path, device=device,
                                       trust_detector=trust_detector)  # a TorchScript detector is a program
        self.detector = protocol_detector(self.protocol, extraction)
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
