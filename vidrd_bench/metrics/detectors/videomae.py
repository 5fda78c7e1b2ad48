"""VideoMAE-v2 ViT-g/14 fine-tuned on SSv2, the content-debiased FVD detector (cd-fvd), on transformers' VideoMAE.

Reference: songweige/content-debiased-fvd a1e037a = cd-fvd 0.1.1 (CDFVD below). Its network is
cdfvd/third_party/VideoMAEv2/videomaev2_finetune.py (vit_giant_patch14_224, :565-574, built by utils.py:66-73):
pre-norm ViT blocks without layer scale (init_values 0, :329-335), attention with a bias on q and v only (:256-264),
fixed sinusoid positions (:387-403), LayerNorm eps 1e-6, and `forward_features` = fc_norm(tokens.mean(1)) (:553-554),
the 1408-d feature cd-fvd takes (fvd.py:28). transformers' VideoMAEModel is exactly that encoder (query/key/value
Linear layers with bias on query and value, layernorm_before/after, the same sinusoid table, no final norm with
use_mean_pooling), so the checkpoint loads into it by a key mapping; fc_norm (eps 1e-6, where
VideoMAEForVideoClassification's has 1e-5) and the 174-class head (kept only so the file's layout is checked) sit
beside it here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import VideoMAEConfig, VideoMAEModel
from transformers.models.videomae import modeling_videomae

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.core.weights import WEIGHT_FILES, WeightFile, file_sha256, locate
from vidrd_bench.metrics.detectors.base import (Detector, DetectorSpec, check_resolution, check_state_dict,
                                                init_random, random_weights_digest)

NUM_CLASSES = 174  # SSv2 (CDFVD utils.py:69)
NUM_FRAMES = 16
RESOLUTION = 224
FEATURE_DIM = 1408
WEIGHTS_FILE = "vit_g_hybrid_pt_1200e_ssv2_ft.pth"
TINY_RESOLUTION = 32
# vit_giant_patch14_224 (videomaev2_finetune.py:565-574) with utils.py:66-73's arguments; mlp_ratio 48/11 -> 6144.
GIANT = dict(image_size=RESOLUTION, patch_size=14, num_frames=NUM_FRAMES, tubelet_size=2, hidden_size=FEATURE_DIM,
             num_hidden_layers=40, num_attention_heads=16, intermediate_size=6144)
TINY = dict(image_size=TINY_RESOLUTION, patch_size=8, num_frames=NUM_FRAMES, tubelet_size=2, hidden_size=32,
            num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def vit_config(**sizes) -> VideoMAEConfig:
    """A VideoMAE config of the VideoMAE-v2 fine-tune layout (exact GELU, eps 1e-6, q/v bias, mean pooling).

    `qkv_bias=True` gives query and value biases from transformers 5.2x (it becomes `qv_bias`) and query, key and
    value biases in earlier 5.x; a key bias is then loaded as zeros, the reference's (videomaev2_finetune.py:258-262).
    """
    return VideoMAEConfig(num_channels=3, hidden_act="gelu", layer_norm_eps=1e-6, qkv_bias=True, use_mean_pooling=True,
                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation="sdpa",
                          **sizes)


class VideoMAEv2Features(nn.Module):
    """uint8 (B, 3, T, H, W) videos -> fc_norm(mean of the encoder's tokens), cd-fvd's VideoMAE feature.

    Preprocessing as CDFVD's preprocess_videomae (third_party/VideoMAEv2/utils.py:8-45): pixels / 255, every frame
    bilinear (align_corners False, no antialias) to the network's input size, no mean/std normalisation.
    """

    def __init__(self, config: VideoMAEConfig, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.encoder = VideoMAEModel(config)
        self.fc_norm = nn.LayerNorm(config.hidden_size, eps=1e-6)
        self.head = nn.Linear(config.hidden_size, num_classes)  # not used for features; pins the file's layout
        self.size = config.image_size

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, T, H, W) -> float (B, T, 3, size, size) in [0, 1], as the encoder takes it."""
        b, c, t, h, w = videos.shape
        frames = videos.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w).float() / 255.0
        frames = F.interpolate(frames, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return frames.reshape(b, t, c, self.size, self.size)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """(B, hidden) features."""
        tokens = self.encoder(self.preprocess(videos)).last_hidden_state
        return self.fc_norm(tokens.mean(1))


def sinusoid_table(n_position: int, d_hid: int) -> torch.Tensor:
    """transformers' (and VideoMAEv2's, videomaev2_finetune.py:387-403) sinusoid table, vectorised: the same float64
    angles, sines and cosines, bitwise equal, in 0.2 s where their per-element Python loop takes 20-30 s at ViT-g."""
    angles = np.arange(n_position, dtype=np.float64)[:, None] / np.power(10000, 2 * (np.arange(d_hid) // 2) / d_hid)
    angles[:, 0::2] = np.sin(angles[:, 0::2])
    angles[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.tensor(angles, dtype=torch.float32, device="cpu").unsqueeze(0)


def network(config: VideoMAEConfig) -> VideoMAEv2Features:
    """The network with uninitialised tensors on the CPU, built fast: on the meta device (skipping transformers'
    weight init, since every tensor is then loaded or seeded) and with the vectorised sinusoid table."""
    with mock.patch.object(modeling_videomae, "get_sinusoid_encoding_table", sinusoid_table), torch.device("meta"):
        model = VideoMAEv2Features(config)
    return model.to_empty(device="cpu")


_BLOCK_KEYS = (("norm1", "layernorm_before"), ("attn.proj", "attention.output.dense"), ("norm2", "layernorm_after"),
               ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense"),
               ("attn.q_bias", "attention.attention.query.bias"), ("attn.v_bias", "attention.attention.value.bias"))
_TOP_KEYS = (("patch_embed.proj", "encoder.embeddings.patch_embeddings.projection"), ("fc_norm", "fc_norm"),
             ("head", "head"))
_LAYERS = ("blocks.", "encoder.encoder.layer.")
_QKV = ("query", "key", "value")
_KEY_BIAS = ".attention.attention.key.bias"


def _rename(key: str, reverse: bool = False) -> str:
    """One key of the VideoMAEv2 layout -> ours (reverse: ours -> theirs); unknown keys pass through unchanged."""
    flip = (lambda pairs: [(b, a) for a, b in pairs]) if reverse else list
    src, dst = _LAYERS[::-1] if reverse else _LAYERS
    if key.startswith(src):
        index, rest = key[len(src):].split(".", 1)
        return next((f"{dst}{index}.{b}{rest[len(a):]}" for a, b in flip(_BLOCK_KEYS)
                     if rest == a or rest.startswith(a + ".")), key)
    return next((b + key[len(a):] for a, b in flip(_TOP_KEYS) if key.startswith(a + ".")), key)


def checkpoint_to_state(checkpoint: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The VideoMAEv2 fine-tune state dict (blocks.i.attn.qkv.weight, q_bias, v_bias, ...) -> our module's keys.

    The fused qkv weight (videomaev2_finetune.py:244,264) splits into query, key and value in that order (:265-266).
    """
    state = {}
    for key, value in checkpoint.items():
        if key.startswith(_LAYERS[0]) and key.endswith(".attn.qkv.weight"):
            prefix = f"{_LAYERS[1]}{key.split('.')[1]}.attention.attention"
            state.update({f"{prefix}.{name}.weight": part for name, part in zip(_QKV, value.chunk(3, dim=0))})
        else:
            state[_rename(key)] = value
    return state


def state_to_checkpoint(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our module's state dict -> the VideoMAEv2 fine-tune layout (query, key, value weights fused as qkv)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if key.startswith(_LAYERS[1]) and parts[4:6] == ["attention", "attention"] and parts[-1] == "weight":
            prefix = ".".join(parts[:6])
            out[f"blocks.{parts[3]}.attn.qkv.weight"] = torch.cat([state[f"{prefix}.{n}.weight"] for n in _QKV])
        elif not key.endswith(_KEY_BIAS):  # a zero key bias (transformers before qv_bias) is not in the file
            out[_rename(key, reverse=True)] = value
    return out


def read_checkpoint(file: Path) -> dict[str, torch.Tensor]:
    """The state dict in a VideoMAEv2 .pth (tensors only): the file itself, or its 'model' / 'module' entry."""
    try:
        raw = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad zip files and refused pickled objects
        raise WeightsError(
            f"Weights file {file} cannot be read as tensors only ({type(e).__name__}: {str(e)[:300]}). vidrd-bench "
            "reads .pth files with torch.load(weights_only=True) and never unpickles other Python objects. If the "
            "file is the published checkpoint saved with extra objects (e.g. training arguments), save its state "
            "dict alone with torch.save(torch.load(f)['module'], f) in a session that trusts it, or replace it with "
            "the original file (see `vidrd-bench weights`)."
        ) from None
    for key in ("model", "module"):  # CDFVD third_party/VideoMAEv2/utils.py:76-79
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
            break
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise WeightsError(f"Weights file {file} holds a {type(raw).__name__} that is not a state dict of tensors "
                           "(nor one under 'model' or 'module'); expected the VideoMAEv2 fine-tune checkpoint "
                           f"{WEIGHTS_FILE}.")
    return raw


def _display(key: str) -> str:
    """Our key as the checkpoint names it, for error messages."""
    return _rename(key, reverse=True)


def load_videomae_weights(model: VideoMAEv2Features, file: Path) -> VideoMAEv2Features:
    """Load the VideoMAEv2 fine-tune checkpoint into `model` strictly (missing, extra, mis-shaped keys refused); a
    key bias the model has (transformers before qv_bias) is zero where the file has the layer's q_bias."""
    state = checkpoint_to_state(read_checkpoint(file))
    for key, value in model.state_dict().items():
        if key.endswith(_KEY_BIAS) and key.replace(".key.", ".query.") in state and key not in state:
            state[key] = torch.zeros_like(value)
    check_state_dict(model, state, file, display=_display)
    return model


def _detector(name: str, model: VideoMAEv2Features, weights: dict[str, str], random_weights: bool,
              device) -> Detector:
    """Wrap the network as registered detector `name` (16-frame clips in, fc_norm features out)."""
    return Detector(name, model, num_frames=NUM_FRAMES, feature_dim=model.fc_norm.normalized_shape[0],
                    feature="embedding", weights=weights, random_weights=random_weights, device=device)


def giant() -> VideoMAEv2Features:
    """The full ViT-g/14 network (the recipe of the conformance suite swaps in a narrow one)."""
    return network(vit_config(**GIANT))


def _build_giant(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None) -> Detector:
    """`videomae-v2-g`: the SSv2 fine-tune from vit_g_hybrid_pt_1200e_ssv2_ft.pth."""
    check_resolution("videomae-v2-g", resolution, RESOLUTION)
    file = path or locate(WEIGHTS_FILE, weights_dir)
    model = load_videomae_weights(giant(), file)
    return _detector("videomae-v2-g", model, {file.name: file_sha256(file)}, False, device)


def _random_giant(device="cpu") -> Detector:
    """`videomae-v2-g`'s network at full size with seeded random weights (what bench times)."""
    model = init_random(giant())
    return _detector("videomae-v2-g", model, {"random:videomae-v2-g": random_weights_digest(model)}, True, device)


def tiny_videomae(resolution: int = TINY_RESOLUTION) -> VideoMAEv2Features:
    """Tiny random-weight VideoMAE-v2 (width 32, depth 2, patch 8, fixed seed) at `resolution`, for smoke runs."""
    return init_random(network(vit_config(**{**TINY, "image_size": resolution})))


def _build_tiny(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None) -> Detector:
    """`videomae-tiny-random`: no file, resizes to the protocol's resolution; results made with it are smoke."""
    model = tiny_videomae(resolution or TINY_RESOLUTION)
    return _detector("videomae-tiny-random", model, {"random:videomae-tiny-random": random_weights_digest(model)},
                     True, device)


# The files its specs read from the weights folder (`vidrd-bench weights` shows these). No publisher states a sha256.
WEIGHTS = (
    WeightFile(
        WEIGHTS_FILE,
        "VideoMAE-v2 ViT-g/14 (hybrid pre-training, 1200 epochs) fine-tuned on Something-Something v2, the cd-FVD "
        "detector",
        "OpenGVLab's VideoMAEv2 model zoo (docs/MODEL_ZOO.md), the URL cd-fvd 0.1.1 downloads from "
        "(cdfvd/third_party/VideoMAEv2/utils.py:55)",
        "torch .pth of tensors only: the state dict, or it under 'model' or 'module' (patch_embed.proj.weight, "
        "blocks.0..39.attn.qkv.weight / q_bias / v_bias, ..., fc_norm.weight, head.weight of 174 classes)",
    ),
)
for _file in WEIGHTS:
    WEIGHT_FILES.register(_file.name, _file)

SPECS = (
    DetectorSpec(
        "videomae-v2-g", "VideoMAE-v2 ViT-g/14 fine-tuned on SSv2, fc_norm features (cd-FVD)", (WEIGHTS_FILE,),
        _build_giant, random_build=_random_giant, feature="embedding", feature_dim=FEATURE_DIM, num_frames=NUM_FRAMES,
        resolution=224),
    DetectorSpec(
        "videomae-tiny-random", "tiny random-weight VideoMAE-v2 for tests and smoke runs (not a real cd-FVD)", (),
        _build_tiny, random_build=_build_tiny, random_weights=True, feature="embedding",
        feature_dim=TINY["hidden_size"], num_frames=NUM_FRAMES, resolution=TINY_RESOLUTION),
)
