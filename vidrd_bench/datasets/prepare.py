"""Real-video preparations: how real frames reach the generated videos' resolution before the detector sees them.

Each is a named convention of a published FVD setup (the protocols cite the reference lines); all take uint8
(T, H, W, 3) frames and a target (h, w) and return uint8 frames of that size. `jpeg_round_trip` stores and
reloads each frame as a JPEG, as datasets converted to frame folders do.
"""

from __future__ import annotations

import io
import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TVF
from PIL import Image
from torchvision.transforms import InterpolationMode

from vidrd_bench.datasets.video import resize_frames
from vidrd_bench.core.registry import Registry

Preparation = Callable[[np.ndarray, tuple[int, int]], np.ndarray]
PREPARATIONS: Registry[Preparation] = Registry("real-video preparation")


def _per_frame(frames: np.ndarray, fn: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """Apply a PIL transform to every frame."""
    return np.stack([np.asarray(fn(Image.fromarray(f)).convert("RGB")) for f in frames])


@PREPARATIONS.register("stretch-bilinear")
def stretch_bilinear(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The whole frame resized to `size` (aspect not kept), bilinear, antialiased when shrinking."""
    return resize_frames(frames, size)


@PREPARATIONS.register("styleganv-resize-crop-lanczos")
def resize_crop_lanczos(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shorter side to min(size) with PIL's Lanczos (longer side truncated), then a centre crop to `size`."""
    return _per_frame(frames, lambda im: TVF.center_crop(
        TVF.resize(im, min(size), interpolation=InterpolationMode.LANCZOS), list(size)))


@PREPARATIONS.register("styleganv-crop-lanczos")
def crop_lanczos(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A centre crop to the largest square first, then PIL's Lanczos resize to `size`."""
    return _per_frame(frames, lambda im: TVF.resize(
        TVF.center_crop(im, min(im.size)), list(size), interpolation=InterpolationMode.LANCZOS))


@PREPARATIONS.register("cdfvd-resize-crop-bilinear")
def resize_crop_bilinear(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shorter side to min(size) (longer side rounded up), bilinear antialiased in [0, 1], floor centre crop, then
    times 255 truncated to uint8 as cd-fvd does before its detectors (cdfvd/fvd.py:133,155: `(video * 255).byte()`).
    """
    res = min(size)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[2:]
    scale = res / min(h, w)
    target = (res, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), res)
    x = F.interpolate(x, size=target, mode="bilinear", align_corners=False, antialias=True)
    top, left = (x.shape[2] - size[0]) // 2, (x.shape[3] - size[1]) // 2
    x = x[:, :, top:top + size[0], left:left + size[1]]
    return (x * 255.0).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def jpeg_round_trip(frames: np.ndarray, quality: int) -> np.ndarray:
    """Each frame saved as a PIL JPEG of `quality` (PIL's default subsampling) and decoded again."""
    out = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
        out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    return np.stack(out)


def prepare_real(frames: np.ndarray, size: tuple[int, int] | None, preparation: str,
                 jpeg_quality: int | None) -> np.ndarray:
    """Frames prepared by the named preparation to `size` (None: kept as decoded), then JPEG when asked."""
    if size is not None:
        frames = PREPARATIONS.get(preparation)(frames, tuple(size))
    return jpeg_round_trip(frames, jpeg_quality) if jpeg_quality is not None else frames
