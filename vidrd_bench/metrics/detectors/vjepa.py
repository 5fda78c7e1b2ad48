"""V-JEPA ViT-H/16 with the SSv2 attentive-probe pooler (JEDi's 1280-d features), built from torch's own transformer
layers; a loader for the two published `.pth.tar` files (tensors only) and a tiny random variant for smoke runs.

References, read at oooolga/JEDi c03d178 with videojedi 1.1.0 and vjepa 0.1.2 (PyPI), facebookresearch/jepa 51c59d5:
- features: videojedi/V_JEPA.py:59-67 (get_feats): [0, 1] frames, ImageNet mean/std per channel (:41, through
  torchvision's Normalize, which vjepa's video/__init__.py star import puts behind `video_transforms`), (B, C, T, H, W),
  ClipAggregation of one clip and one view (V_JEPA_utils.py:115-159: the tokens unchanged), then
  `classifier.module.pooler(tokens).squeeze(1)`; the probe is AttentiveClassifier(embed_dim, num_heads, depth=1,
  174 classes) with default LayerNorm (eps 1e-5) (V_JEPA.py:207-216; configs/vith16_ssv2_16x2x3.yaml).
- encoder: jepa src/models/vision_transformer.py:277-281 (vit_huge: 1280 wide, depth 32, 16 heads, MLP x4, qkv bias,
  LayerNorm eps 1e-6), :59-86 (Conv3d tubelet 2 x 16 x 16 patches, a pos_embed parameter of (1, 8 * 14 * 14, 1280)
  added to the tokens, no class token), :182-195 (blocks, then the final norm); src/models/utils/modules.py:81-120
  (pre-norm block: x + attn(norm1(x)), x + mlp(norm2(x)); exact GELU; qkv laid out as [q; k; v] like
  nn.MultiheadAttention's in_proj).
- pooler: jepa src/models/attentive_pooler.py:21-102 (one query token; q + xattn(q, norm1(x)), q + mlp(norm2(q))) and
  modules.py:123-157 (q and kv projections). vjepa 0.1.2's modules.py:157 applies the output projection `proj` (jepa
  commit 787b04a, reverted upstream in a0517b4); videojedi runs that code, so JEDi's features include it and ours do.
- checkpoints: V_JEPA.py:110-136 ('target_encoder', 'module.' and 'backbone.' stripped) and :138-158 ('classifier',
  keys of the DDP-wrapped AttentiveClassifier, 'module.pooler.*' and 'module.linear.*'); the linear head is not used.
Resizing is the loader's business in the reference; here frames are resized to 224 x 224 bilinearly (half-pixel
centres, as the I3D detector does) before normalising.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vidrd_bench.core.errors import VidrdBenchError, WeightsError, brief
from vidrd_bench.core.weights import WEIGHT_FILES, WeightFile, file_sha256, locate
from vidrd_bench.metrics.detectors.base import (Detector, DetectorSpec, check_resolution, check_state_dict,
                                                init_random, random_weights_digest)

ENCODER_FILE, PROBE_FILE = "vith16.pth.tar", "ssv2-probe.pth.tar"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ViTConfig:
    """The network's shape: ViT width, depth, heads, MLP ratio, patch and tubelet, clip length and resolution."""

    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: float = 4.0
    patch_size: int = 16
    tubelet_size: int = 2
    num_frames: int = 16
    resolution: int = 224

    @property
    def num_tokens(self) -> int:
        """Tokens of one clip: (frames / tubelet) x (resolution / patch)^2."""
        return (self.num_frames // self.tubelet_size) * (self.resolution // self.patch_size) ** 2


VIT_H16 = ViTConfig()
TINY = ViTConfig(embed_dim=64, depth=2, num_heads=4, resolution=32)


def _mlp(dim: int, hidden: int) -> nn.Sequential:
    """fc1, exact GELU, fc2 (jepa modules.py:13-36, dropout 0)."""
    return nn.Sequential(OrderedDict(fc1=nn.Linear(dim, hidden), act=nn.GELU(), fc2=nn.Linear(hidden, dim)))


class AttentivePooler(nn.Module):
    """One learned query cross-attending to the tokens: q + attn(q, norm1(x)), then q + mlp(norm2(q))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.query_tokens = nn.Parameter(torch.zeros(1, 1, dim))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.mlp = _mlp(dim, int(dim * mlp_ratio))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D) tokens -> (B, D) pooled feature."""
        q = self.query_tokens.expand(len(tokens), -1, -1)
        kv = self.norm1(tokens)
        q = q + self.attn(q, kv, kv, need_weights=False)[0]
        return (q + self.mlp(self.norm2(q)))[:, 0]


class VJEPAEncoder(nn.Module):
    """The V-JEPA video ViT: tubelet patches plus a position embedding, pre-norm blocks, a final LayerNorm."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        c = config
        self.patch_embed = nn.Conv3d(3, c.embed_dim, (c.tubelet_size, c.patch_size, c.patch_size),
                                     stride=(c.tubelet_size, c.patch_size, c.patch_size))
        self.pos_embed = nn.Parameter(torch.zeros(1, c.num_tokens, c.embed_dim), requires_grad=False)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(c.embed_dim, c.num_heads, int(c.embed_dim * c.mlp_ratio), dropout=0.0,
                                       activation="gelu", layer_norm_eps=1e-6, batch_first=True, norm_first=True)
            for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.embed_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised (B, 3, T, H, W) clips -> (B, N, D) tokens."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class VJEPAFeatures(nn.Module):
    """uint8 (B, 3, T, H, W) -> [0, 1], resized to the configured resolution, ImageNet-normalised -> encoder ->
    attentive pooler -> (B, embed_dim)."""

    def __init__(self, config: ViTConfig = VIT_H16):
        super().__init__()
        if config.resolution % config.patch_size or config.num_frames % config.tubelet_size:
            raise VidrdBenchError(
                f"V-JEPA takes a resolution divisible by {config.patch_size} and a clip length divisible by "
                f"{config.tubelet_size}; got {config.resolution} and {config.num_frames}. Use a protocol whose "
                "resolution and num_frames fit.")
        self.config = config
        self.encoder = VJEPAEncoder(config)
        self.pooler = AttentivePooler(config.embed_dim, config.num_heads, config.mlp_ratio)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1), persistent=False)

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 clips -> [0, 1], every frame resized bilinearly to resolution x resolution, (x - mean) / std."""
        x = videos.float() / 255.0
        size = self.config.resolution
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=[x.shape[2], size, size], mode="trilinear", align_corners=False)
        return (x - self.mean) / self.std

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, T, H, W) -> pooled (B, embed_dim) features."""
        return self.pooler(self.encoder(self.preprocess(videos)))


# Published key -> ours (after 'module.' / 'backbone.' are stripped, as V_JEPA.py:123-124 does).
ENCODER_KEYS = ((r"patch_embed\.proj\.", "patch_embed."), (r"\.attn\.qkv\.(weight|bias)$", r".self_attn.in_proj_\1"),
                (r"\.attn\.proj\.", ".self_attn.out_proj."), (r"\.mlp\.fc1\.", ".linear1."),
                (r"\.mlp\.fc2\.", ".linear2."))
POOLER_KEYS = ((r"^pooler\.cross_attention_block\.xattn\.proj\.", "attn.out_proj."),
               (r"^pooler\.cross_attention_block\.", ""), (r"^pooler\.", ""))


def _renamed(state: dict[str, torch.Tensor], rules: tuple[tuple[str, str], ...]) -> dict[str, torch.Tensor]:
    """Keys with 'module.' / 'backbone.' stripped and every rule applied in order."""
    out = {}
    for key, value in state.items():
        key = key.replace("module.", "").replace("backbone.", "")
        for pattern, repl in rules:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def encoder_state(checkpoint: dict, file: Path) -> dict[str, torch.Tensor]:
    """The target encoder of a V-JEPA pretraining checkpoint ('target_encoder', as the reference reads it) in our
    names."""
    return _renamed(_tensors(checkpoint, "target_encoder", file), ENCODER_KEYS)


def pooler_state(checkpoint: dict, file: Path) -> dict[str, torch.Tensor]:
    """The attentive pooler of a V-JEPA probe checkpoint ('classifier'), q and kv joined as in_proj; the linear
    classification head dropped."""
    state = _renamed({k: v for k, v in _tensors(checkpoint, "classifier", file).items()
                      if not k.replace("module.", "").startswith("linear.")}, POOLER_KEYS)
    for part in ("weight", "bias"):
        q, kv = state.pop(f"xattn.q.{part}", None), state.pop(f"xattn.kv.{part}", None)
        if q is not None and kv is not None:
            state[f"attn.in_proj_{part}"] = torch.cat([q, kv])
    return state


def _tensors(checkpoint: object, key: str, file: Path) -> dict[str, torch.Tensor]:
    """checkpoint[key], refused unless it is a dict of tensors."""
    part = checkpoint.get(key) if isinstance(checkpoint, dict) else None
    if not isinstance(part, dict) or not all(isinstance(v, torch.Tensor) for v in part.values()):
        found = sorted(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise WeightsError(f"Weights file {file} has no '{key}' state dict of tensors (found {found}). Expected the "
                           "published V-JEPA file of that name (see `vidrd-bench weights`).")
    return part


def read_checkpoint(file: Path) -> dict:
    """torch.load with weights_only=True (memory-mapped where the file allows): tensors and plain containers only;
    anything else is refused with a WeightsError naming the file."""
    if not file.is_file():
        raise WeightsError(f"Weights file {file} does not exist. Put the published file there (see "
                           "`vidrd-bench weights`).")
    try:
        try:
            return torch.load(file, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad pickles, foreign objects and zip files
        raise WeightsError(
            f"Weights file {file} cannot be read as tensors only ({type(e).__name__}: {brief(e)}). vidrd-bench "
            "never unpickles objects; replace it with the published V-JEPA file (see `vidrd-bench weights`)."
        ) from None


def load_vjepa(encoder_file: Path, probe_file: Path, config: ViTConfig = VIT_H16) -> VJEPAFeatures:
    """Our network with the published target encoder and SSv2 probe pooler, refusing mismatched layouts."""
    model = VJEPAFeatures(config)
    check_state_dict(model.encoder, encoder_state(read_checkpoint(encoder_file), encoder_file), encoder_file)
    check_state_dict(model.pooler, pooler_state(read_checkpoint(probe_file), probe_file), probe_file)
    return model


def _detector(name: str, model: VJEPAFeatures, weights: dict[str, str], random_weights: bool,
              device: str | torch.device) -> Detector:
    """Wrap the network as registered detector `name` (16-frame clips in, pooled embeddings out)."""
    return Detector(name, model, num_frames=model.config.num_frames, feature_dim=model.config.embed_dim,
                    feature="embedding", weights=weights, random_weights=random_weights, device=device)


def _build(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None) -> Detector:
    """`vjepa-h16-ssv2`: the published target encoder (`path` overrides its location) and SSv2 probe pooler."""
    check_resolution("vjepa-h16-ssv2", resolution, VIT_H16.resolution)
    encoder, probe = path or locate(ENCODER_FILE, weights_dir), locate(PROBE_FILE, weights_dir)
    model = load_vjepa(encoder, probe, network_config())
    return _detector("vjepa-h16-ssv2", model, {encoder.name: file_sha256(encoder), probe.name: file_sha256(probe)},
                     False, device)


def network_config() -> ViTConfig:
    """The shape the real detector is built at (ViT-H/16; tests narrow it)."""
    return VIT_H16


def _random_full(device: str | torch.device = "cpu") -> Detector:
    """The real detector's network at full size with seeded random weights (what `bench` times)."""
    model = init_random(VJEPAFeatures(network_config()))
    return _detector("vjepa-h16-ssv2", model, {"random:vjepa-h16-ssv2": random_weights_digest(model)}, True, device)


def tiny_vjepa(resolution: int | None = None) -> VJEPAFeatures:
    """The tiny random-weight V-JEPA (64 wide, depth 2, fixed seed) at the protocol's resolution, for smoke runs."""
    return init_random(VJEPAFeatures(replace(TINY, resolution=resolution or TINY.resolution)))


def _build_tiny(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None) -> Detector:
    """`vjepa-tiny-random`: no file; results made with it are marked smoke."""
    model = tiny_vjepa(resolution)
    return _detector("vjepa-tiny-random", model, {"random:vjepa-tiny-random": random_weights_digest(model)}, True,
                     device)


WEIGHTS = (
    WeightFile(ENCODER_FILE, "V-JEPA ViT-H/16 pretraining checkpoint (its target encoder is JEDi's backbone)",
               "facebookresearch/jepa README, ViT-H/16 at 224 (the file videojedi/V_JEPA.py:69-73 fetches); no "
               "sha256 is published",
               "torch checkpoint: 'target_encoder' -> module.backbone.patch_embed.proj.weight ... norm.bias"),
    WeightFile(PROBE_FILE, "V-JEPA ViT-H/16 SSv2 attentive probe (its pooler gives JEDi's 1280-d features)",
               "facebookresearch/jepa README, ViT-H/16 SSv2 attentive probe (fetched by videojedi/V_JEPA.py:69-73); "
               "no sha256 is published",
               "torch checkpoint: 'classifier' -> module.pooler.query_tokens, module.pooler.cross_attention_block.*, "
               "module.linear.*"),
)
for _file in WEIGHTS:
    WEIGHT_FILES.register(_file.name, _file)

_OUTPUT = {"feature": "embedding", "feature_dim": VIT_H16.embed_dim, "num_frames": VIT_H16.num_frames,
           "resolution": VIT_H16.resolution}
SPECS = (
    DetectorSpec("vjepa-h16-ssv2", "V-JEPA ViT-H/16 + SSv2 attentive-probe pooler, 1280-d (JEDi's features)",
                 (ENCODER_FILE, PROBE_FILE), _build, random_build=partial(_random_full), **_OUTPUT),
    DetectorSpec("vjepa-tiny-random", "tiny random-weight V-JEPA for tests and smoke runs (not a real JEDi)", (),
                 _build_tiny, random_build=_build_tiny, random_weights=True,
                 **{**_OUTPUT, "feature_dim": TINY.embed_dim, "resolution": TINY.resolution}),
)
