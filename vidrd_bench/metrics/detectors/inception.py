"""Inception-v3 frame detectors for frame FID (pool3, 2,048-d): torch-fidelity's FeatureExtractorInceptionV3 with its
weights file, clean-fid's TorchScript, and a tiny random one for smoke runs and tests.

Read at torch-fidelity 0.4.0 (pip wheel of toshas/torch-fidelity) and clean-fid 0.1.35 (pip; GaParmar/clean-fid).
torch-fidelity is a dependency: its own module is the network; its weights file is read here as tensors only.
"""

from __future__ import annotations

import io
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch import nn

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.core.weights import WEIGHT_FILES, WeightFile, file_sha256, locate
from vidrd_bench.metrics.detectors.base import (DetectorSpec, FrameDetector, check_program_trusted, check_resolution,
                                                check_state_dict, init_random, load_program, load_torch_state,
                                                random_weights_digest)

FRAME_DIM = 2048
RESOLUTION = 299
TORCH_FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"
CLEAN_FID_FILE = "inception-2015-12-05.pt"
TINY_DIM = 16
RESIZE_RULES = ("tf1-bilinear", "pil-bicubic", "torch-bilinear")


def _pil_bicubic(frame: np.ndarray, size: int) -> np.ndarray:
    """clean-fid's "clean" resize of one (H, W, 3) frame: PIL bicubic on each channel as a float32 'F' image,
    clipped to [0, 255], not quantised (cleanfid/resize.py:11-13, 41-57)."""
    channels = [np.asarray(Image.fromarray(frame[:, :, c].astype(np.float32)).resize((size, size), Image.BICUBIC))
                for c in range(3)]
    return np.stack(channels, axis=0).clip(0, 255)


def resize_frames(frames: torch.Tensor, size: int, rule: str) -> torch.Tensor:
    """uint8 frames (N, 3, H, W) -> float32 (N, 3, size, size) in [0, 255] by a resize rule (FIDProtocol.resize).

    tf1-bilinear: torch-fidelity's interpolate_bilinear_2d_like_tensorflow1x (feature_extractor_inceptionv3.py:111);
    pil-bicubic: clean-fid's "clean" (resize.py:41-57); torch-bilinear: clean-fid's "legacy_pytorch" F.interpolate
    bilinear, clipped (resize.py:58-68).
    """
    if rule == "tf1-bilinear":
        from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
        return interpolate_bilinear_2d_like_tensorflow1x(frames.float(), size=(size, size), align_corners=False)
    if rule == "torch-bilinear":
        return F.interpolate(frames.float(), size=(size, size), mode="bilinear", align_corners=False).clamp(0, 255)
    if rule == "pil-bicubic":
        hwc = frames.permute(0, 2, 3, 1).cpu().numpy()
        out = np.stack([_pil_bicubic(frame, size) for frame in hwc])
        return torch.from_numpy(out).to(frames.device)
    raise ValueError(f"resize rule {rule!r}; implemented: {', '.join(RESIZE_RULES)}")


def inception_layout() -> nn.Module:
    """A network with the parameter names and shapes of torch-fidelity's FeatureExtractorInceptionV3 (torchvision's
    Inception3 without aux logits, 1,008 classes: the same 566 tensors), to check and make weight files against."""
    return torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)


def torch_fidelity_module(state: dict[str, torch.Tensor]) -> nn.Module:
    """torch-fidelity's FeatureExtractorInceptionV3 (pool3 '2048') holding `state`.

    Its constructor torch.loads the path it is given with weights_only=False (feature_extractor_inceptionv3.py:95),
    so it is handed only bytes serialised here from tensors already read with weights_only=True.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buffer)
    buffer.seek(0)
    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=buffer)


class TorchFidelityDetector(FrameDetector):
    """torch-fidelity's extractor on each uint8 frame: TF1 bilinear to 299, (x - 128) / 128, pool3 (its
    feature_extractor_inceptionv3.py:102-188)."""

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames in, 2,048-d pool3 features out."""
        return self.module(frames)[0]


class ResizingDetector(FrameDetector):
    """Frames resized by the protocol's rule to `resolution`, scaled by (x - 128) / 128 and run through the
    program's `layers` to pool3 (clean-fid's InceptionV3W with resize_inside=False, inception_torchscript.py:49-54)."""

    def __init__(self, *args, resolution: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.resolution = resolution

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames in, `frame_dim` features out."""
        x = resize_frames(frames, self.resolution, self.variant)
        return self.module.layers((x - 128) / 128).reshape(len(frames), self.frame_dim)


class LayersProgram(nn.Module):
    """The call surface of clean-fid's Inception file: a `layers` module from (N, 3, 299, 299) in [-1, 1] to pool3;
    forward resizes inside (its legacy_tensorflow use, inception_torchscript.py:46-47; bilinear here)."""

    def __init__(self, layers: nn.Module, resolution: int = RESOLUTION):
        super().__init__()
        self.layers = layers
        self.resolution = resolution

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        """[0, 255] images of any size -> pool3 features (N, D)."""
        x = F.interpolate(x.float(), size=[self.resolution, self.resolution], mode="bilinear", align_corners=False)
        return self.layers((x - 128) / 128).flatten(1)


def cleanfid_layers() -> nn.Module:
    """Inception-v3 to pool3 (torchvision's blocks) as one Sequential: the random stand-in for the program's layers."""
    net = inception_layout()
    names = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
             "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
             "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool")
    return nn.Sequential(*(getattr(net, n) for n in names))


def tiny_layers() -> nn.Module:
    """The tiny random network (two strided convs, average pool): 16 features per frame."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, TINY_DIM, 3, stride=2), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1))


def _check_rule(name: str, rule: str | None, allowed: tuple[str, ...]) -> str:
    """The resize rule a detector is built with (default: its first), refused when it is not one it implements."""
    rule = rule or allowed[0]
    if rule not in allowed:
        raise WeightsError(f"Detector {name} resizes frames by {' or '.join(allowed)} (its reference's rule), not "
                           f"{rule!r}. Use a protocol made for this detector (`vidrd-bench metrics` lists them).")
    return rule


def _build_torch_fidelity(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None,
                          preprocess: str | None = None) -> FrameDetector:
    """`inception-torch-fidelity`: torch-fidelity's network with its weights file, read as tensors only."""
    check_resolution("inception-torch-fidelity", resolution, RESOLUTION)
    rule = _check_rule("inception-torch-fidelity", preprocess, ("tf1-bilinear",))
    file = path or locate(TORCH_FIDELITY_FILE, weights_dir)
    state = load_torch_state(file)
    check_state_dict(inception_layout(), state, file)
    return TorchFidelityDetector("inception-torch-fidelity", torch_fidelity_module(state), frame_dim=FRAME_DIM,
                                 feature="pool3", weights={file.name: file_sha256(file)}, random_weights=False,
                                 device=device, variant=rule)


def _random_torch_fidelity(device: str | torch.device = "cpu") -> FrameDetector:
    """torch-fidelity's network at full size with seeded random weights (what `bench` times)."""
    state = init_random(inception_layout()).state_dict()
    module = torch_fidelity_module(state)
    return TorchFidelityDetector("inception-torch-fidelity", module, frame_dim=FRAME_DIM, feature="pool3",
                                 weights={"random:inception-torch-fidelity": random_weights_digest(module)},
                                 random_weights=True, device=device, variant="tf1-bilinear")


def _build_clean_fid(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None,
                     preprocess: str | None = None) -> FrameDetector:
    """`inception-clean-fid`: clean-fid's TorchScript file (a program: pinned or trusted), its "clean" resize."""
    check_resolution("inception-clean-fid", resolution, RESOLUTION)
    rule = _check_rule("inception-clean-fid", preprocess, ("pil-bicubic",))
    file = path or locate(CLEAN_FID_FILE, weights_dir)
    digest = file_sha256(file)
    check_program_trusted(file, digest)
    module = load_program(file, device, "clean-fid's Inception TorchScript (inception-2015-12-05.pt), whose `layers` "
                          "map (N, 3, 299, 299) in [-1, 1] to (N, 2048, 1, 1)")
    if not isinstance(getattr(module, "layers", None), torch.jit.ScriptModule):
        raise WeightsError(f"Detector file {file} is TorchScript but has no `layers` module, which clean-fid calls "
                           "(inception_torchscript.py:36,54). Replace it with clean-fid's inception-2015-12-05.pt.")
    return ResizingDetector("inception-clean-fid", module, frame_dim=FRAME_DIM, feature="pool3",
                            weights={file.name: digest}, random_weights=False, device=device, variant=rule,
                            resolution=RESOLUTION)


def _random_clean_fid(device: str | torch.device = "cpu") -> FrameDetector:
    """The clean-fid call surface at full size with seeded random weights, scripted as its file is."""
    program = LayersProgram(init_random(cleanfid_layers())).eval()
    digest = random_weights_digest(program)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the published file is TorchScript: so is its stand-in
        scripted = torch.jit.script(program)
    return ResizingDetector("inception-clean-fid", scripted, frame_dim=FRAME_DIM, feature="pool3",
                            weights={"random:inception-clean-fid": digest}, random_weights=True, device=device,
                            variant="pil-bicubic", resolution=RESOLUTION)


def _build_tiny(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None,
                preprocess: str | None = None) -> FrameDetector:
    """`inception-tiny-random`: no file; resizes by any rule to the protocol's resolution; results are smoke."""
    rule = _check_rule("inception-tiny-random", preprocess, RESIZE_RULES)
    program = LayersProgram(init_random(tiny_layers()), resolution or 32)
    return ResizingDetector("inception-tiny-random", program, frame_dim=TINY_DIM, feature="pool3",
                            weights={"random:inception-tiny-random": random_weights_digest(program)},
                            random_weights=True, device=device, variant=rule, resolution=resolution or 32)


WEIGHTS = (
    WeightFile(
        TORCH_FIDELITY_FILE, "Inception-v3 (TF 2015-12-05 weights) for frame FID, torch-fidelity's conversion",
        "torch-fidelity release v0.2.0 (torch_fidelity/feature_extractor_inceptionv3.py:19-21 names its URL)",
        "state dict: Conv2d_1a_3x3.conv.weight ... Mixed_7c.*, fc.weight (1008 x 2048); 566 tensors", optional=True,
    ),
    WeightFile(
        CLEAN_FID_FILE, "Inception-v3 TorchScript (StyleGAN2-ADA's metrics file) for clean-fid frame FID",
        "clean-fid (cleanfid/downloads_helper.py:7 names NVIDIA's URL)",
        "TorchScript program with a `layers` module: (N, 3, 299, 299) in [-1, 1] -> (N, 2048, 1, 1)", optional=True,
    ),
)
for _file in WEIGHTS:
    WEIGHT_FILES.register(_file.name, _file)

_OUTPUT = {"feature": "pool3", "num_frames": 1, "per_frame": True, "resolution": RESOLUTION}
SPECS = (
    DetectorSpec("inception-torch-fidelity", "Inception-v3 pool3 per frame, torch-fidelity's FeatureExtractorInceptionV3",
                 (TORCH_FIDELITY_FILE,), _build_torch_fidelity, random_build=_random_torch_fidelity,
                 feature_dim=FRAME_DIM, **_OUTPUT),
    DetectorSpec("inception-clean-fid", "Inception-v3 pool3 per frame, clean-fid's TorchScript with its clean resize",
                 (CLEAN_FID_FILE,), _build_clean_fid, random_build=_random_clean_fid, feature_dim=FRAME_DIM,
                 **_OUTPUT),
    DetectorSpec("inception-tiny-random", "tiny random-weight frame detector for tests and smoke runs (not a real FID)",
                 (), _build_tiny, random_build=partial(_build_tiny), random_weights=True, feature_dim=TINY_DIM,
                 **_OUTPUT),
)
