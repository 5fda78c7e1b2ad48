"""C3D fine-tuned on UCF-101 for the Inception Score (TGAN protocol): network, caffe/chainer weights, mean clip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidrd_bench.errors import WeightsError
from vidrd_bench.metrics.base import (Detector, DetectorSpec, check_resolution, check_state_dict,
                                      init_random, load_torch_state, random_weights_digest)
from vidrd_bench.weights import file_sha256, locate

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
    """TGAN preprocessing + C3D + softmax, on uint8 (B, 3, T, H, W) RGB videos.

    uint8 v -> x = v / 127.5 - 1 in [-1, 1] -> x * 128 + 128 -> each frame resized to 128x128 (bicubic, as
    TGAN's cv2 INTER_CUBIC) -> RGB to BGR -> minus the mean clip (width 21:149 of 128x171) -> centre crop
    8:120 both ways -> C3D -> softmax over the 101 classes.
    """

    def __init__(self, net: C3D, mean: torch.Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("mean", mean.float().reshape(1, 3, NUM_FRAMES, RESIZE, RESIZE))

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 RGB videos -> the mean-subtracted BGR 112x112 clips C3D was trained on."""
        b, c, t, h, w = videos.shape
        x = (videos.float() / 127.5 - 1.0) * 128.0 + 128.0
        if (h, w) != (RESIZE, RESIZE):
            frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
            frames = F.interpolate(frames, size=(RESIZE, RESIZE), mode="bicubic", align_corners=False)
            x = frames.reshape(b, t, c, RESIZE, RESIZE).permute(0, 2, 1, 3, 4)
        x = x.flip(1) - self.mean
        off = (RESIZE - CROP) // 2
        return x[:, :, :, off:off + CROP, off:off + CROP]

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, 101)."""
        return F.softmax(self.net(self.preprocess(videos)), dim=1)


def _npz(file: Path) -> dict[str, np.ndarray]:
    """Read an npz file into a dict; unreadable files raise WeightsError naming the file."""
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
        state[f"{layer}.{suffix.get(kind, kind)}"] = torch.from_numpy(np.ascontiguousarray(value))
    return state


def state_to_npz(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Our state-dict names -> the chainer/caffe npz layout (for converting and for tests)."""
    kinds = {"weight": "W", "bias": "b"}
    out = {}
    for key, value in state.items():
        layer, _, kind = key.rpartition(".")
        out[f"{layer}/{kinds[kind]}"] = value.detach().cpu().numpy() if value is not None else None
    return out


def load_c3d_weights(net: C3D, file: Path) -> C3D:
    """Load `conv3d_deepnetA_ucf.npz` (chainer layout) or a plain torch state dict (.pt/.pth) into `net`."""
    if file.suffix == ".npz":
        check_state_dict(net, npz_to_state(_npz(file)), file, display=lambda k: next(iter(state_to_npz({k: None}))))
    else:
        check_state_dict(net, load_torch_state(file), file)
    return net


def load_mean_clip(file: Path) -> torch.Tensor:
    """The UCF-101 mean clip from `mean2.npz` (key 'mean', 3x16x128x171 BGR), cropped to width 21:149."""
    arrays = _npz(file)
    mean = arrays.get("mean")
    if mean is None or mean.size != int(np.prod(MEAN_SHAPE)):
        got = "no key 'mean'" if mean is None else f"'mean' with {mean.size} values (shape {mean.shape})"
        raise WeightsError(f"Mean file {file} holds {got}; expected key 'mean' reshaping to 3 x 16 x 128 x 171 "
                           "(BGR, caffe order), as in mean2.npz of the rezoo/tgan2 v1.0 release.")
    return torch.from_numpy(mean.astype(np.float32).reshape(MEAN_SHAPE)[..., MEAN_WIDTH_CROP].copy())


def _build_ucf101(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None) -> Detector:
    """`c3d-ucf101`: the TGAN IS classifier from the converted caffe weights and the UCF-101 mean clip."""
    check_resolution("c3d-ucf101", resolution, CROP)
    file = path or locate("conv3d_deepnetA_ucf.npz", weights_dir)
    beside = path.parent / "mean2.npz" if path is not None else None
    mean_file = beside if beside is not None and beside.exists() else locate("mean2.npz", weights_dir)
    model = C3DClassifier(load_c3d_weights(C3D(), file), load_mean_clip(mean_file))
    return Detector("c3d-ucf101", model, num_frames=NUM_FRAMES, feature_dim=NUM_CLASSES, feature="probs",
                    weights={file.name: file_sha256(file), mean_file.name: file_sha256(mean_file)},
                    random_weights=False, device=device)


def tiny_c3d() -> C3DClassifier:
    """Tiny random-weight C3D (widths / 16, fixed seed, constant 128 mean clip) for tests and smoke runs."""
    return C3DClassifier(init_random(C3D(width_div=16)), torch.full((3, NUM_FRAMES, RESIZE, RESIZE), 128.0))


def _build_tiny(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None) -> Detector:
    """`c3d-tiny-random`: no file; results made with it are marked smoke."""
    check_resolution("c3d-tiny-random", resolution, CROP)
    model = tiny_c3d()
    return Detector("c3d-tiny-random", model, num_frames=NUM_FRAMES, feature_dim=NUM_CLASSES, feature="probs",
                    weights={"random:c3d-tiny-random": random_weights_digest(model.net)}, random_weights=True,
                    device=device)


SPECS = (
    DetectorSpec(
        "c3d-ucf101", "C3D fine-tuned on UCF-101 (TGAN IS classifier)", ("conv3d_deepnetA_ucf.npz", "mean2.npz"),
        _build_ucf101),
    DetectorSpec(
        "c3d-tiny-random", "tiny random-weight C3D for tests and smoke runs (not a real IS)", (), _build_tiny,
        random_weights=True),
)
