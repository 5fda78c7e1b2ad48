"""Feature-extractor base (torch-fidelity style): a declared input contract, preprocessing inside, weight helpers.

The registry of detectors lives in `vidrd_bench.metrics.detectors`, which imports the detector modules.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import torch

from vidrd_bench.core.errors import VideoError, VidrdBenchError, WeightsError, brief

RANDOM_WEIGHTS_SEED = 0
TRUST_ENV = "VIDRD_BENCH_TRUST_DETECTOR"
# sha256 of each published detector program (TorchScript) -> what it is. Empty: no publisher states a digest for
# StyleGAN-V's i3d_torchscript.pt that could be checked here, so every such file needs the explicit opt-in.
PINNED_PROGRAMS: dict[str, str] = {}
_TRUSTED = contextvars.ContextVar("vidrd_bench_trusted_detectors", default=False)


@contextlib.contextmanager
def trusting_detectors(trust: bool = True) -> Iterator[None]:
    """Within the block, detector programs (TorchScript files) whose sha256 is not pinned may load (`trust`)."""
    token = _TRUSTED.set(trust or _TRUSTED.get())
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def check_program_trusted(file: Path, sha256: str) -> None:
    """Refuse a detector file that is a program (TorchScript runs its own code when called) unless its sha256 is
    pinned or the user opted in (--trust-detector, $VIDRD_BENCH_TRUST_DETECTOR=1, trust_detector=True); say so when
    it loads."""
    if sha256 in PINNED_PROGRAMS:
        return
    if not (_TRUSTED.get() or os.environ.get(TRUST_ENV, "").strip() == "1"):
        raise WeightsError(
            f"Detector file {file} (sha256 {sha256}) is TorchScript: a program, not only weights. Scoring runs its "
            "code, which can read any file this user can and return it as features. Its sha256 is not one vidrd-bench "
            "knows for a published detector (none is pinned yet), so it is not loaded. If you trust where the file "
            f"came from, pass --trust-detector (or set {TRUST_ENV}=1, or load_detector(..., trust_detector=True))."
        )
    print(f"note: loading the TorchScript detector {file} (sha256 {sha256[:12]}...): it is a program and runs with "
          "your permissions; you chose to trust it.", file=sys.stderr)


class Detector:
    """A video feature extractor: uint8 (B, 3, T, H, W) in [0, 255] in, float (B, feature_dim) out.

    Resizing and normalisation happen inside `forward`, so callers only hand over decoded frames.
    `feature` says what the output is ("logits": pre-softmax features for FVD, "probs": softmax for IS,
    "embedding": a pooled representation, e.g. V-JEPA's for JEDi; "embeddings": CLIP's per-video mean of unit
    frame embeddings for CLIPSIM);
    `variant` names a preprocessing variant of the same weights (C3D: "tgan" or "tganv2").
    """

    def __init__(self, name: str, module: torch.nn.Module | torch.jit.ScriptModule, *, num_frames: int,
                 feature_dim: int, feature: str, weights: Mapping[str, str], random_weights: bool,
                 device: str | torch.device = "cpu", variant: str | None = None):
        self.name = name
        self.variant = variant
        self.num_frames = num_frames
        self.feature_dim = feature_dim
        self.feature = feature
        self.weights = dict(weights)
        self.random_weights = random_weights
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()

    def check_input(self, videos: torch.Tensor) -> None:
        """Enforce the input contract: uint8, (B, 3, T, H, W), T equal to the protocol's clip length."""
        if not isinstance(videos, torch.Tensor):
            raise VideoError(
                f"Detector {self.name} takes a torch.Tensor of uint8 videos shaped (B, 3, T, H, W); got a "
                f"{type(videos).__name__}. Convert arrays with torch.from_numpy(frames).permute(0, 4, 1, 2, 3) "
                "for (B, T, H, W, 3) frames."
            )
        if videos.dtype != torch.uint8 or videos.ndim != 5 or videos.shape[1] != 3:
            raise VideoError(
                f"Detector {self.name} takes uint8 videos shaped (B, 3, T, H, W) in [0, 255]; got dtype "
                f"{videos.dtype} shape {tuple(videos.shape)}. Convert frames with (x * 127.5 + 128).clamp(0, 255)."
            )
        if videos.shape[2] != self.num_frames:
            raise VideoError(
                f"Detector {self.name} takes clips of exactly {self.num_frames} frames; got {videos.shape[2]}. "
                "Sample clips with the protocol's num_frames."
            )

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """Features of a batch (float32 on the detector's device); subclasses call their module here."""
        return self.module(videos)

    @property
    def sample_dim(self) -> int:
        """Width of one sample of the statistics: a video's features here (a frame's for a FrameDetector)."""
        return self.feature_dim

    @torch.no_grad()
    def __call__(self, videos: torch.Tensor) -> torch.Tensor:
        """Check the contract, move to the device and return (B, feature_dim) float32 features."""
        self.check_input(videos)
        out = self.forward(videos.to(self.device, non_blocking=True)).float()
        if out.shape != (videos.shape[0], self.feature_dim):
            raise WeightsError(
                f"Detector {self.name} returned shape {tuple(out.shape)}, expected ({videos.shape[0]}, "
                f"{self.feature_dim}). The detector file {', '.join(self.weights) or '(random)'} is not the model "
                "this protocol expects; check the file against `vidrd-bench weights`."
            )
        return out


class FrameDetector(Detector):
    """An image feature extractor run on every frame: uint8 (B, 3, T, H, W) in, (B, T * frame_dim) out, each
    frame's features in time order, for the clip length T the protocol sets (load_detector's num_frames).

    Per-video rows keep selection, caching and bootstrap per video; the statistics take one sample per frame
    (`sample_dim` = frame_dim: features.reshape(-1, sample_dim)). Subclasses implement `frame_features`.
    """

    def __init__(self, name: str, module: torch.nn.Module | torch.jit.ScriptModule, *, frame_dim: int, **kwargs):
        self.frame_dim = frame_dim
        super().__init__(name, module, num_frames=1, feature_dim=frame_dim, **kwargs)

    @property
    def feature_dim(self) -> int:
        """A video's feature width: frame_dim per frame of the clip."""
        return self.frame_dim * self.num_frames

    @feature_dim.setter
    def feature_dim(self, value: int) -> None:
        if value != self.frame_dim * self.num_frames:
            raise ValueError(f"{self.name}: feature_dim follows frame_dim x num_frames, not {value}")

    @property
    def sample_dim(self) -> int:
        """One frame's feature width."""
        return self.frame_dim

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (N, 3, H, W) -> (N, frame_dim) features."""
        raise NotImplementedError

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """Every frame of every video through frame_features, as (B, T * frame_dim)."""
        b, c, t, h, w = videos.shape
        frames = videos.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        return self.frame_features(frames).reshape(b, t * self.frame_dim)


@dataclass(frozen=True)
class DetectorSpec:
    """One registered detector: what it outputs, the clips it takes, its weight files and two builders.

    `build(weights_dir=, device=, path=, resolution=, ...)` reads the weight files (random-weight specs: none);
    `random_build(device=)` builds the same network at full size with seeded random weights in the same wrapper,
    which is what `bench` times (a random-weight spec's own build; None where the network cannot be built without
    its file: `bench` then skips it with a note). `feature` is "logits" (pre-softmax, for FVD),
    "probs" (softmax, for IS), "embedding" (pooled representation, for JEDi) or "embeddings" (CLIP, for CLIPSIM),
    `feature_dim` its width, `num_frames` the clip length it takes;
    `clip_lengths` other clip lengths it also takes where its features average over time (I3D: StyleGAN-V runs it
    on 128 frames), chosen by load_detector's `num_frames`. `per_frame`: an image detector (a FrameDetector) that
    takes clips of any length; `feature_dim` is then one frame's width and `num_frames` 1. `resolution`: the frame
    size its network takes (it resizes other sizes inside `forward`), at which `bench --detectors` times it (None:
    unstated).
    """

    name: str
    description: str
    weight_files: tuple[str, ...]
    build: Callable[..., Detector] = field(compare=False)
    feature: str = field(kw_only=True)
    feature_dim: int = field(kw_only=True)
    num_frames: int = field(kw_only=True)
    random_build: Callable[..., Detector] | None = field(kw_only=True, compare=False)
    random_weights: bool = False
    clip_lengths: tuple[int, ...] = field(default=(), kw_only=True)
    per_frame: bool = field(default=False, kw_only=True)
    resolution: int | None = field(default=None, kw_only=True)


def check_resolution(name: str, asked: int | None, fixed: int) -> None:
    """Refuse a protocol resolution a real detector was not trained at."""
    if asked is not None and asked != fixed:
        raise VidrdBenchError(
            f"Detector {name} takes {fixed}x{fixed} inputs, but the protocol asks for {asked}. Use a protocol made "
            f"for this detector (`vidrd-bench score --protocol`), whose resolution is {fixed}."
        )


def random_weights_digest(module: torch.nn.Module) -> str:
    """A sha256 of a random-weight module's tensors, so smoke results still name exactly what produced them."""
    h = hashlib.sha256()
    for key, value in module.state_dict().items():
        h.update(key.encode())
        h.update(np.ascontiguousarray(value.detach().cpu().float().numpy()).tobytes())
    return h.hexdigest()


def init_random(module: torch.nn.Module, seed: int = RANDOM_WEIGHTS_SEED) -> torch.nn.Module:
    """Re-initialise from a fixed seed (same weights on every machine): He-normal kernels, zero biases, identity BN."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in module.state_dict().items():
            if not value.is_floating_point():
                continue
            if key.endswith("running_var") or (value.ndim == 1 and key.endswith("weight")):
                value.fill_(1.0)
            elif value.ndim == 1:
                value.zero_()
            else:
                fan_in = int(np.prod(value.shape[1:]))
                value.copy_(torch.randn(value.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
    return module


def check_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], file: Path,
                     ignore_missing: tuple[str, ...] = ("num_batches_tracked",),
                     display: Callable[[str], str] = str) -> None:
    """Load `state` into `model` strictly; missing, extra or mis-shaped keys raise WeightsError naming them.

    `display` maps our key names to the file's own naming (e.g. `conv1a.weight` -> `conv1a/W`) for messages.
    """
    expected = model.state_dict()
    missing = [display(k) for k in expected if k not in state and not k.endswith(ignore_missing)]
    extra = [display(k) for k in state if k not in expected]
    shapes = [f"{display(k)}: file {tuple(state[k].shape)} vs expected {tuple(v.shape)}"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or extra or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:6]}{' ...' if len(missing) > 6 else ''}")
        if extra:
            parts.append(f"unexpected keys {extra[:6]}{' ...' if len(extra) > 6 else ''}")
        if shapes:
            parts.append(f"wrong shapes {shapes[:4]}{' ...' if len(shapes) > 4 else ''}")
        sample = ", ".join(f"{display(k)} {tuple(v.shape)}" for k, v in list(expected.items())[:3])
        raise WeightsError(
            f"Weights file {file} does not match the expected layout ({'; '.join(parts)}). Expected keys such as "
            f"{sample}, ... ({len(expected)} tensors). Obtain the original file (see `vidrd-bench weights`)."
        )
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=False)


def load_program(file: Path, device: str | torch.device, expected: str) -> torch.jit.ScriptModule:
    """torch.jit.load a TorchScript detector file; unreadable files raise WeightsError naming the file and what
    was `expected`. TorchScript is code: callers check the file first (check_program_trusted)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # the published detectors are TorchScript; load them so
            return torch.jit.load(str(file), map_location=torch.device(device)).eval()
    except (RuntimeError, ValueError, OSError) as e:
        raise WeightsError(
            f"Detector file {file} cannot be loaded with torch.jit.load ({brief(e)}). Expected "
            f"{expected}. Replace it with the original file."
        ) from None


def load_torch_state(file: Path) -> dict[str, torch.Tensor]:
    """Read a plain torch state dict (weights only); unreadable files raise WeightsError naming the file."""
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad pickles/zip files
        raise WeightsError(
            f"Weights file {file} cannot be read as a torch state dict ({type(e).__name__}: {brief(e)}). "
            "Replace it with the original file (see `vidrd-bench weights`)."
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"Weights file {file} holds a {type(state).__name__}, not a state dict of tensors.")
    return state
