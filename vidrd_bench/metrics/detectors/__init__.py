"""The detector registry: imports every detector module and registers its specs (no import cycle with base)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vidrd_bench.metrics.detectors import c3d, clip, i3d, inception, videomae, vjepa
from vidrd_bench.metrics.detectors.base import Detector, DetectorSpec, FrameDetector, trusting_detectors
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.registry import Registry

DETECTORS: Registry[DetectorSpec] = Registry("detector", DetectorSpec)
for _spec in (*i3d.SPECS, *c3d.SPECS, *inception.SPECS, *vjepa.SPECS, *videomae.SPECS, *clip.SPECS):
    DETECTORS.register(_spec.name, _spec)


def load_detector(name: str, weights_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                  path: str | os.PathLike | None = None, resolution: int | None = None,
                  preprocess: str | None = None, num_frames: int | None = None,
                  trust_detector: bool = False) -> Detector:
    """Build registered detector `name` on `device`; `path` overrides the main weights file's location.

    `resolution` is the protocol's input resolution: real detectors accept only their own; the tiny random
    ones resize to it (so tests can run them small). `preprocess` picks a C3D preprocessing ("tgan", "tganv2").
    `num_frames` is the protocol's clip length: the spec's own or one of its `clip_lengths` (None: its own); a
    per-frame (image) detector takes any, one feature row of frame_dim per frame.
    `trust_detector` lets a detector program (TorchScript) whose sha256 is not pinned load (base.check_program_trusted).
    """
    spec = DETECTORS.get(name)
    lengths = (spec.num_frames, *spec.clip_lengths)
    if num_frames is not None and num_frames not in lengths and not (spec.per_frame and num_frames >= 1):
        raise VidrdBenchError(
            f"Detector {name} takes clips of {' or '.join(map(str, lengths))} frames, but the protocol asks for "
            f"{num_frames}. Use a protocol whose num_frames this detector takes (`vidrd-bench metrics` lists them)."
        )
    options = {"preprocess": preprocess} if preprocess is not None else {}
    with trusting_detectors(trust_detector):
        detector = spec.build(weights_dir=weights_dir, device=device, path=Path(path) if path else None,
                              resolution=resolution, **options)
    detector.num_frames = num_frames or spec.num_frames
    return detector
