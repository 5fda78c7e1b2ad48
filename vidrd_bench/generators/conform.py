"""Holding a model's native videos to the evaluation protocol's frame count and size, by one documented rule.

RULE: keep the first `num_frames` frames (a model that renders fewer is refused); then, if the frame size differs,
centre-crop to the protocol's aspect ratio and resize to height x width with antialiased bilinear interpolation
(torchvision.transforms.v2.functional on uint8). Every run records the rule, the native and the protocol's shape.
"""

from __future__ import annotations

from typing import Any

import torch

from vidrd_bench.generators.base import GeneratorError
from vidrd_bench.protocols import EvalProtocol

RULE = "first-frames; centre-crop to aspect, antialiased bilinear resize"


def conform_record(native: tuple[int, int, int], protocol: EvalProtocol, generator: str) -> dict[str, Any]:
    """What conform() will do to (frames, height, width) videos under `protocol`; refuses too few frames."""
    frames, height, width = native
    target = (protocol.num_frames, protocol.height, protocol.width)
    if frames < protocol.num_frames:
        raise GeneratorError(
            f"Generator {generator!r} renders {frames} frames with these settings, but protocol {protocol.name!r} "
            f"needs {protocol.num_frames}. Frames are never invented: pick settings that render at least "
            f"{protocol.num_frames} frames (e.g. more clips or a larger num_frames), or a protocol with fewer frames."
        )
    return {"rule": RULE, "native": list(native), "protocol": list(target),
            "trimmed": frames != protocol.num_frames, "resized": (height, width) != target[1:]}


def crop_size(height: int, width: int, protocol: EvalProtocol) -> tuple[int, int]:
    """The centre crop of a height x width frame that has the protocol's aspect ratio (RULE's first step)."""
    scale = min(height / protocol.height, width / protocol.width)
    return round(protocol.height * scale), round(protocol.width * scale)


def describe(native: tuple[int, int, int], protocol: EvalProtocol) -> str:
    """In words, what RULE does to (frames, height, width) videos under `protocol`, or that it refuses them."""
    frames, height, width = native
    if frames < protocol.num_frames:
        return f"refused: {frames} frames are fewer than the protocol's {protocol.num_frames}"
    steps = [f"first {protocol.num_frames} of {frames} frames" if frames > protocol.num_frames else
             f"all {frames} frames"]
    crop, target = crop_size(height, width, protocol), (protocol.height, protocol.width)
    if (height, width) == target:
        return ", ".join(steps + [f"{height}x{width} kept"])
    if crop != (height, width):
        steps.append(f"centre-crop {height}x{width} to {crop[0]}x{crop[1]}")
    if crop != target:
        steps.append(f"resize to {target[0]}x{target[1]} (antialiased bilinear)")
    return ", ".join(steps)


def conform(videos: torch.Tensor, protocol: EvalProtocol) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> (B, protocol.num_frames, protocol.height, protocol.width, 3) by RULE."""
    from torchvision.transforms.v2 import functional as F

    videos = videos[:, : protocol.num_frames]
    b, t, h, w, _ = videos.shape
    if (h, w) == (protocol.height, protocol.width):
        return videos
    crop = crop_size(h, w, protocol)
    frames = F.center_crop(videos.reshape(b * t, h, w, 3).permute(0, 3, 1, 2), list(crop))
    frames = F.resize(frames, [protocol.height, protocol.width], antialias=True)
    return frames.permute(0, 2, 3, 1).reshape(b, t, protocol.height, protocol.width, 3).contiguous()
