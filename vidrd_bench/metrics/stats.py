"""Gaussian feature statistics (float64) and the `.npz` statistics files FVD reuses.

Decision: per-video features (float32, 10K x 400 = 16 MB) are always extracted and kept, because sample counts,
selection rules, bootstrap intervals, per-class FVD and `calibrate` all work on them; mean and covariance are
computed from them in float64 with the protocol's covariance divisor. A statistics file stores mu, sigma and
count and, unless asked not to, the real features with their class names: JEDi's kernel distance reads those
features (a file without them serves FVD only).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.io import atomic_path
from vidrd_bench.core.limits import check_arrays
from vidrd_bench.protocols import Protocol

STATS_FORMAT = "vidrd-bench/feature-stats/v1"


def gaussian_of(features: np.ndarray, divisor: str = "N") -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature matrix in float64; the covariance divides by N or by N - 1 (np.cov).

    StyleGAN-V's and cd-fvd's FeatureStats divide by N (see fvd-styleganv-2048-16f); np.cov by N - 1.
    """
    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    if n < 2:
        raise VidrdBenchError(f"Covariance needs at least 2 videos, got {n}. Score more videos.")
    if divisor not in ("N", "N-1"):
        raise ValueError(f"covariance divisor must be 'N' or 'N-1', got {divisor!r}")
    mu = x.mean(axis=0)
    centred = x - mu
    return mu, centred.T @ centred / (n if divisor == "N" else n - 1)


@dataclass
class StatsFile:
    """Contents of a statistics file: Gaussian of real features plus provenance (and optional features)."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int
    detector: str
    detector_sha256: dict[str, str]
    protocol: dict[str, Any]
    source: str
    features: np.ndarray | None = None
    classes: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def class_gaussians(self, min_count: int = 2, divisor: str = "N") -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
        """Per-class (mu, sigma, count) from the stored features; empty when the file holds none."""
        if self.features is None or not self.classes:
            return {}
        labels = np.asarray(self.classes)
        out = {}
        for name in sorted(set(self.classes)):
            rows = self.features[labels == name]
            if len(rows) >= min_count:
                out[name] = (*gaussian_of(rows, divisor), len(rows))
        return out


def stats_filename(dataset: str, protocol: Protocol | str, resolution: int | None = None,
                   split: str = "train") -> str:
    """Clean-fid style name carrying the real split and the protocol: e.g. `ucf101_train_fvd-ucf101-10k_256px.npz`,
    `msrvtt_test_fvd-msrvtt-2990_256px.npz`."""
    name = protocol if isinstance(protocol, str) else protocol.name
    res = f"_{resolution}px" if resolution else ""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{dataset}_{split}_{name}{res}.npz")


def save_stats(path: str | os.PathLike, stats: StatsFile) -> Path:
    """Write a statistics file atomically (npz; protocol and provenance as JSON strings)."""
    arrays: dict[str, Any] = {
        "format": np.array(STATS_FORMAT), "mu": stats.mu, "sigma": stats.sigma, "count": np.array(stats.count),
        "detector": np.array(stats.detector), "detector_sha256": np.array(json.dumps(stats.detector_sha256)),
        "protocol": np.array(json.dumps(stats.protocol, sort_keys=True)), "source": np.array(stats.source),
        "extra": np.array(json.dumps(stats.extra)),
    }
    if stats.features is not None:
        arrays["features"] = stats.features.astype(np.float32)
        arrays["classes"] = np.array([c or "" for c in (stats.classes or [""] * len(stats.features))])
    path = Path(path)
    with atomic_path(path, suffix=".tmp.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


REQUIRED_KEYS = ("format", "mu", "sigma", "count", "detector", "detector_sha256", "protocol", "source", "extra")


def _unusable(path: Path, why: str) -> VidrdBenchError:
    """The error for a statistics file that cannot be used."""
    return VidrdBenchError(f"Statistics file {path} is unusable: {why}. It is damaged, truncated or not made by "
                           "vidrd-bench; recompute it with `vidrd-bench stats ucf101 --videos PATH`.")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an npz file, each refused by its header over the size limit before it is loaded; a clear
    error for a missing, truncated or non-npz file."""
    check_arrays(path, f"Statistics file {path}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise _unusable(path, "it is a single array, not a statistics archive")
        with data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise VidrdBenchError(f"Statistics file {path} cannot be read ({e}). Recompute it with "
                              "`vidrd-bench stats ucf101 --videos PATH`.") from None


def _parse(path: Path, d: dict[str, np.ndarray]) -> StatsFile:
    """A StatsFile from the arrays of a statistics file, checking keys, shapes and finiteness."""
    missing = [k for k in REQUIRED_KEYS if k not in d]
    if missing:
        raise _unusable(path, f"the keys {', '.join(missing)} are missing")
    mu, sigma = np.asarray(d["mu"], np.float64), np.asarray(d["sigma"], np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise _unusable(path, f"mu has shape {mu.shape} and sigma {sigma.shape} (expected (D,) and (D, D))")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise _unusable(path, "mu or sigma holds NaN or infinite values")
    try:
        text = {k: json.loads(str(d[k])) for k in ("detector_sha256", "protocol", "extra")}
        count = int(d["count"])
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise _unusable(path, f"its provenance fields are not readable ({e})") from None
    if not all(isinstance(v, dict) for v in text.values()):
        raise _unusable(path, "detector_sha256, protocol and extra must be JSON objects")
    _check_count(path, count, d, mu.size * _frames_per_video(path, text["extra"]))
    return StatsFile(
        mu=mu, sigma=sigma, count=count, detector=str(d["detector"]), detector_sha256=text["detector_sha256"],
        protocol=text["protocol"], source=str(d["source"]), features=d.get("features"),
        classes=[str(c) for c in d["classes"]] if "classes" in d else None, extra=text["extra"],
    )


def _frames_per_video(path: Path, extra: dict[str, Any]) -> int:
    """Samples per stored feature row: frames per video for frame statistics (FID), else 1."""
    frames = extra.get("frames_per_video", 1)
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        raise _unusable(path, f"its frames_per_video is {frames!r}, not a positive integer")
    return frames


def _check_count(path: Path, count: int, d: dict[str, np.ndarray], dim: int) -> None:
    """The stated count must be the number of stored features and classes (it sets the protocol a record claims);
    without features it must at least allow a covariance (2 or more). `dim`: a stored row's width (a video's
    frames side by side for frame statistics)."""
    features, classes = d.get("features"), d.get("classes")
    if features is not None and (features.ndim != 2 or features.shape[1] != dim):
        raise _unusable(path, f"its features have shape {features.shape}, not (count, {dim})")
    if features is not None and (features.dtype.kind != "f" or not np.isfinite(features).all()):
        raise _unusable(path, f"its features are not finite floating-point values (dtype {features.dtype}); JEDi "
                              "and per-class FVD read them")
    derived = len(features) if features is not None else len(classes) if classes is not None else None
    if count < 2 or (derived is not None and count != derived) or (classes is not None and len(classes) != derived):
        found = f"{len(features)} feature rows" if features is not None else "no features"
        raise _unusable(path, f"it states a count of {count} videos but holds {found}"
                              f"{f' and {len(classes)} classes' if classes is not None else ''}")


def load_stats(path: str | os.PathLike, protocol: Protocol | None = None) -> StatsFile:
    """Read a statistics file; with `protocol`, refuse one made under another (ProtocolMismatchError)."""
    path = Path(path)
    d = _read_npz(path)
    if str(d.get("format", "")) != STATS_FORMAT:
        raise VidrdBenchError(f"{path} is not a vidrd-bench statistics file (no format {STATS_FORMAT!r}). "
                              "Recompute it with `vidrd-bench stats ucf101 --videos PATH`.")
    stats = _parse(path, d)
    if protocol is not None:
        protocol.check_same(stats.protocol, what=f"The real-video statistics in {path}")
    return stats
