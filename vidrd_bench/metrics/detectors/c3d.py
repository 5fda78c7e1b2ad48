"""C3D fine-tuned on UCF-101 for the Inception Score (TGAN protocol): network, caffe/chainer weights, mean clip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.core.limits import check_arrays
from vidrd_bench.metrics.detectors.base import (Detector, DetectorSpec, check_resolution, check_state_dict,
                                      init_random, load_torch_state, random_weights_digest)
from vidrd_bench.core.weights import WEIGHT_FILES, WeightFile, file_sha256, locate

NUM_CLASSES = 101
NUM_FRAMES = 16
RESIZE = 128
CROP = 112
MEAN_SHAPE = (3, 16, 128, 171)
MEAN_WIDTH_CROP = slice(21, 21 + 128)
CONVS = (("conv1a", 64), ("conv2a", 128), ("conv3a", 256), ("conv3b", 256), ("conv4a", 512), ("conv4b", 512),
         ("conv5a", 512), ("conv5b", 512))
POOL_AFTER = {"conv1a": (1, 2, 2), "conv2a": (2, 2, 2), "conv3b": (2, 2, 2), "conv4b": (2, 2, 2), "conv5b": (2, 2, 2)}


class C3D(nn.Module):
    """C3D (conv1a..conv5b, fc6..fc8) on BGR mean-subtracted 16x112x112 clips; returns fc8 logits.

    Pools round up (caffe/chainer `cover_all`), so pool5 maps 7x7 to 4x4 and fc6 sees 512*1*4*4 = 8192 inputs.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, width_div: int = 1):
        super().__init__()
        in_ch = 3
        for name, width in CONVS:
            self.add_module(name, nn.Conv3d(in_ch, width // width_div, 3, padding=1))
            in_ch = width // width_div
        fc = 4096 // width_div
        self.fc6 = nn.Linear(in_ch * 1 * 4 * 4, fc)
        self.fc7 = nn.Linear(fc, fc)
        self.fc8 = nn.Linear(fc, num_classes)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 16, 112, 112) preprocessed clips -> (B, classes) logits."""
        for name, _ in CONVS:
            x = F.relu(getattr(self, name)(x))
            if name in POOL_AFTER:
                x = F.max_pool3d(x, POOL_AFTER[name], POOL_AFTER[name], ceil_mode=True)
        x = self.dropout(F.relu(self.fc6(x.flatten(1))))
        x = self.dropout(F.relu(self.fc7(x)))
        return self.fc8(x)


class C3DClassifier(nn.Module):
    """C3D + softmax on uint8 (B, 3, T, H, W) RGB videos, after the TGAN v1 or the TGANv2 preprocessing.

    Both start from x = v / 127.5 - 1 in [-1, 1] and take the 128x171 BGR mean clip of mean2.npz.
    tgan (TGAN evaluation/calc_inception.py:60-76): x * 128 + 128, each frame bicubic to 128x128 (cv2
    INTER_CUBIC), RGB -> BGR, minus the mean cut at columns 21:149, then crop [8:120, 8:120].
    tganv2 (tgan2/models/c3d/c3d_ucf101.py:67-73,164-170): RGB -> BGR times 128, each whole frame bilinear to
    112x112 with corners aligned (chainer resize_images), plus 128 minus the mean cut at [8:120, 8:120].
    """

    def __init__(self, net: C3D, mean: torch.Tensor, variant: str = "tganv2"):
        super().__init__()
        if variant not in PREPROCESS:
            raise ValueError(f"C3D preprocessing {variant!r}; implemented: {', '.join(PREPROCESS)}")
        self.net = net
        self.variant = variant
        self.register_buffer("mean", mean.float().reshape(1, *MEAN_SHAPE))

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 RGB videos -> the mean-subtracted BGR 112x112 clips C3D was trained on."""
        return PREPROCESS[self.variant](videos.float() / 127.5 - 1.0, self.mean)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, 101)."""
        return F.softmax(self.net(self.preprocess(videos)), dim=1)


def _resize_frames(x: torch.Tensor, size: int, **interp) -> torch.Tensor:
    """Resize every frame of (B, C, T, H, W) to size x size."""
    b, c, t, h, w = x.shape
    if (h, w) == (size, size):
        return x
    frames = F.interpolate(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w), size=(size, size), **interp)
    return frames.reshape(b, t, c, size, size).permute(0, 2, 1, 3, 4)


def _tgan(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """TGAN v1: x128+128, bicubic to 128, BGR, minus mean[..., 21:149], crop 8:120."""
    x = _resize_frames(x * 128.0 + 128.0, RESIZE, mode="bicubic", align_corners=False)
    x = x.flip(1) - mean[..., MEAN_WIDTH_CROP]
    return x[:, :, :, 8:8 + CROP, 8:8 + CROP]


def _tganv2(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """TGANv2: BGR x128, bilinear (corners aligned) to 112, plus 128 - mean[..., 8:120, 8:120]."""
    x = _resize_frames(x.flip(1) * 128.0, CROP, mode="bilinear", align_corners=True)
    return x + (128.0 - mean[..., 8:8 + CROP, 8:8 + CROP])


PREPROCESS = {"tgan": _tgan, "tganv2": _tganv2}


def _npz(file: Path) -> dict[str, np.ndarray]:
    """Read an npz file into a dict; unreadable files raise WeightsError naming the file."""
    check_arrays(file, f"Weights file {file}")
    try:
        with np.load(file, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise WeightsError(f"Weights file {file} cannot be read as an npz archive ({e}). Replace it with the "
                           "original file from the rezoo/tgan2 v1.0 release.") from None


def npz_to_state(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Chainer/caffe npz names (`conv1a/W`, `conv1a/b`, `fc6/W`, ...) -> our state-dict names."""
    suffix = {"W": "weight", "b": "bias"}
    state = {}
    for key, value in arrays.items():
        layer, _, kind = key.rpartition("/")
        state[f"{layer}.{suffix.get(kind, kind)}" if layer else kind] = torch.from_numpy(np.ascontiguousarray(value))
    return state


def state_to_npz(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Our state-dict names -> the chainer/caffe npz layout (for converting and for tests)."""
    kinds = {"weight": "W", "bias": "b"}
    out = {}
    for key, value in state.items():
        layer, _, kind = key.rpartition(".")
        name = f"{layer}/{kinds.get(kind, kind)}" if layer else kind
        out[name] = value.detach().cpu().numpy() if value is not None else None
    return out


def load_c3d_weights(net: C3D, file: Path) -> C3D:
    """Load `conv3d_deepnetA_ucf.npz` (chainer layout) or a plain torch state dict (.pt/.pth) into `net`."""
    if file.suffix == ".npz":
        check_state_dict(net, npz_to_state(_npz(file)), file, display=lambda k: next(iter(state_to_npz({k: None}))))
    else:
        check_state_dict(net, load_torch_state(file), file)
    return net


def load_mean_clip(file: Path) -> torch.Tensor:
    """The UCF-101 mean clip from `mean2.npz` (key 'mean', 3x16x128x171 BGR); each preprocessing cuts its part."""
    arrays = _npz(file)
    mean = arrays.get("mean")
    if mean is None or mean.size != int(np.prod(MEAN_SHAPE)):
        got = "no key 'mean'" if mean is None else f"'mean' with {mean.size} values (shape {mean.shape})"
        raise WeightsError(f"Mean file {file} holds {got}; expected key 'mean' reshaping to 3 x 16 x 128 x 171 "
                           "(BGR, caffe order), as in mean2.npz of the rezoo/tgan2 v1.0 release.")
    return torch.from_numpy(mean.astype(np.float32).reshape(MEAN_SHAPE).copy())


def _detector(name: str, model: C3DClassifier, weights: dict[str, str], random_weights: bool,
              device: str | torch.device) -> Detector:
    """Wrap a C3D classifier as registered detector `name` (16-frame clips in, 101 class probabilities out)."""
    return Detector(name, model, num_frames=NUM_FRAMES, feature_dim=NUM_CLASSES, feature="probs", weights=weights,
                    random_weights=random_weights, device=device, variant=model.variant)


def _build_ucf101(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None,
                  preprocess: str = "tganv2") -> Detector:
    """`c3d-ucf101`: the TGAN IS classifier from the converted caffe weights and the UCF-101 mean clip."""
    check_resolution("c3d-ucf101", resolution, CROP)
    file = path or locate("conv3d_deepnetA_ucf.npz", weights_dir)
    beside = path.parent / "mean2.npz" if path is not None else None
    mean_file = beside if beside is not None and beside.exists() else locate("mean2.npz", weights_dir)
    model = C3DClassifier(load_c3d_weights(C3D(), file), load_mean_clip(mean_file), preprocess)
    return _detector("c3d-ucf101", model, {file.name: file_sha256(file), mean_file.name: file_sha256(mean_file)},
                     False, device)


def random_c3d(net: C3D, preprocess: str = "tganv2") -> C3DClassifier:
    """`net` re-initialised from the fixed seed, with a constant 128 mean clip: a random-weight classifier."""
    return C3DClassifier(init_random(net), torch.full(MEAN_SHAPE, 128.0), preprocess)


def tiny_c3d(preprocess: str = "tganv2") -> C3DClassifier:
    """Tiny random-weight C3D (widths / 16, fixed seed, constant 128 mean clip) for tests and smoke runs."""
    return random_c3d(C3D(width_div=16), preprocess)


def _random_ucf101(device: str | torch.device = "cpu") -> Detector:
    """`c3d-ucf101`'s network at full size with seeded random weights and a constant mean clip (what bench times)."""
    model = random_c3d(C3D())
    return _detector("c3d-ucf101", model, {"random:c3d-ucf101": random_weights_digest(model.net)}, True, device)


def _build_tiny(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None,
                preprocess: str = "tganv2") -> Detector:
    """`c3d-tiny-random`: no file; results made with it are marked smoke."""
    check_resolution("c3d-tiny-random", resolution, CROP)
    model = tiny_c3d(preprocess)
    return _detector("c3d-tiny-random", model, {"random:c3d-tiny-random": random_weights_digest(model.net)}, True,
                     device)


# The files its specs read from the weights folder (`vidrd-bench weights` shows these).
WEIGHTS = (
    WeightFile(
        "conv3d_deepnetA_ucf.npz",
        "C3D fine-tuned on UCF-101 (converted from caffe c3d_ucf101_finetune_whole_iter_20000), the IS classifier",
        "rezoo/tgan2 GitHub release v1.0",
        "npz with conv1a/W, conv1a/b, ..., conv5b/W, fc6/W, fc7/W, fc8/W (101 classes) and their /b",
    ),
    WeightFile(
        "mean2.npz",
        "the UCF-101 mean clip for C3D",
        "rezoo/tgan2 GitHub release v1.0",
        "npz with key 'mean' reshaping to 3 x 16 x 128 x 171 (BGR, caffe order)",
    ),
)
for _file in WEIGHTS:
    WEIGHT_FILES.register(_file.name, _file)

_OUTPUT = {"feature": "probs", "feature_dim": NUM_CLASSES, "num_frames": NUM_FRAMES, "resolution": CROP}
SPECS = (
    DetectorSpec(
        "c3d-ucf101", "C3D fine-tuned on UCF-101 (TGAN IS classifier)", ("conv3d_deepnetA_ucf.npz", "mean2.npz"),
        _build_ucf101, random_build=_random_ucf101, **_OUTPUT),
    DetectorSpec(
        "c3d-tiny-random", "tiny random-weight C3D for tests and smoke runs (not a real IS)", (), _build_tiny,
        random_build=_build_tiny, random_weights=True, **_OUTPUT),
)
