"""vjepa-h16-ssv2 against the reference code itself: videojedi's VJEPA.get_feats over vjepa's VisionTransformer,
ClipAggregation and AttentiveClassifier (the code JEDi runs), at reduced width and depth on the same random weights,
read back through our loader from checkpoints in the published layouts; plus the layouts' refusals.

The reference packages install without their dependencies (README install command: `pip install --no-deps
videojedi==1.1.0 vjepa==0.1.2`); vjepa's dataset code imports cv2 (and decord) for augmentations and decoding this
code never calls, so where they are absent empty stand-in modules are put in place while importing, and removed after.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.metrics.detectors import load_detector, vjepa
from vidrd_bench.metrics.detectors.vjepa import ENCODER_FILE, PROBE_FILE, ViTConfig

from .detector_recipes import published_vjepa_states

# The reference's attention enters torch.backends.cuda.sdp_kernel(), deprecated in this torch (modules.py:67).
pytestmark = pytest.mark.filterwarnings("ignore:.*sdp_kernel.*:FutureWarning")
SMALL = ViTConfig(embed_dim=64, depth=2, num_heads=4, resolution=32)  # 8 x 2 x 2 tokens of 64


# Modules vjepa's dataset code imports at load time and the model code never calls: cv2 (functional.py:9) and,
# where it has no wheel, decord (video_dataset.py:17); stood in for while importing when absent.
STAND_INS = {"cv2": (), "decord": ("VideoReader", "cpu")}


def _reference():
    """videojedi.V_JEPA (with the vjepa model code it imports), absent dataset-only modules stood in for."""
    absent = [name for name in STAND_INS if name not in sys.modules and importlib.util.find_spec(name) is None]
    for name in absent:
        sys.modules[name] = types.ModuleType(name)
        for attribute in STAND_INS[name]:
            setattr(sys.modules[name], attribute, None)
    try:
        from videojedi import V_JEPA, V_JEPA_utils
        import vjepa.datasets.utils.video.transforms as video_transforms
        from vjepa.models.attentive_pooler import AttentiveClassifier
        from vjepa.models.vision_transformer import VisionTransformer
    finally:
        for name in absent:
            del sys.modules[name]
    return types.SimpleNamespace(VJEPA=V_JEPA.VJEPA, ClipAggregation=V_JEPA_utils.ClipAggregation,
                                 Normalize=video_transforms.Normalize, AttentiveClassifier=AttentiveClassifier,
                                 VisionTransformer=VisionTransformer)


def _reference_model(ref, config: ViTConfig, seed: int = 0):
    """The reference's VJEPA object as get_default_vjepa builds it (V_JEPA.py:180-223; vit_huge's arguments,
    vision_transformer.py:277-281, at reduced width and depth), every tensor nudged off its init so biases and
    norms are checked too."""
    torch.manual_seed(seed)
    encoder = ref.VisionTransformer(img_size=config.resolution, patch_size=config.patch_size,
                                    num_frames=config.num_frames, tubelet_size=config.tubelet_size,
                                    embed_dim=config.embed_dim, depth=config.depth, num_heads=config.num_heads,
                                    mlp_ratio=config.mlp_ratio, qkv_bias=True, uniform_power=True, use_sdpa=True,
                                    use_SiLU=False, tight_SiLU=False, norm_layer=partial(nn.LayerNorm, eps=1e-6))
    classifier = ref.AttentiveClassifier(embed_dim=config.embed_dim, num_heads=config.num_heads, depth=1,
                                         num_classes=174)
    with torch.no_grad():
        for p in (*encoder.parameters(), *classifier.parameters()):
            p.add_(0.05 * torch.randn_like(p))
    model = object.__new__(ref.VJEPA)  # its __init__ downloads the checkpoints; set what get_feats reads
    model.encoder = ref.ClipAggregation(encoder, tubelet_size=config.tubelet_size, attend_across_segments=True).eval()
    model.classifier = types.SimpleNamespace(module=classifier.eval())  # the DDP wrapper's .module
    model.transforms = ref.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    model.finetuned = True
    return model, encoder, classifier


def _write_published(folder, encoder: nn.Module, classifier: nn.Module) -> None:
    """The two checkpoints as jepa saves them: 'target_encoder' of module.backbone.* keys, 'classifier' of
    module.* keys (the DDP-wrapped AttentiveClassifier)."""
    target = {f"module.backbone.{k}": v for k, v in encoder.state_dict().items()}
    torch.save({"encoder": target, "target_encoder": target, "epoch": 300}, folder / ENCODER_FILE)
    torch.save({"classifier": {f"module.{k}": v for k, v in classifier.state_dict().items()}, "epoch": 20},
               folder / PROBE_FILE)


def _videos(b=3, t=16, size=32, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (b, 3, t, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def reference():
    return _reference()


@pytest.fixture
def small(monkeypatch):
    """The registered detector built at the reduced shape (as the conformance recipe narrows it)."""
    monkeypatch.setattr(vjepa, "network_config", lambda: SMALL)


def test_features_equal_videojedi_get_feats_on_the_same_weights(reference, small, tmp_path):
    model, encoder, classifier = _reference_model(reference, SMALL)
    _write_published(tmp_path, encoder, classifier)
    ours = load_detector("vjepa-h16-ssv2", weights_dir=tmp_path)
    videos = _videos()
    # The reference takes (B, T, C, H, W) frames in [0, 1] (videojedi/utils.py:23, README "Tutorial").
    expected = model.get_feats(videos.permute(0, 2, 1, 3, 4).float() / 255.0)
    got = ours(videos)
    assert got.shape == (3, SMALL.embed_dim)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert ours.weights == {ENCODER_FILE: ours.weights[ENCODER_FILE], PROBE_FILE: ours.weights[PROBE_FILE]}


def test_the_pooler_applies_the_output_projection_as_videojedi_does(reference):
    """vjepa 0.1.2's CrossAttention applies `proj` (modules.py:157); without it (upstream jepa) features differ."""
    model, encoder, classifier = _reference_model(reference, SMALL, seed=1)
    tokens = torch.randn(2, SMALL.num_tokens, SMALL.embed_dim)
    pooled = classifier.pooler(tokens).squeeze(1)
    xattn = classifier.pooler.cross_attention_block.xattn
    with torch.no_grad():
        nn.init.eye_(xattn.proj.weight), nn.init.zeros_(xattn.proj.bias)
    assert not torch.allclose(classifier.pooler(tokens).squeeze(1), pooled, atol=1e-3)


def test_frames_are_resized_to_the_protocol_resolution_before_normalising(small, tmp_path):
    """Frames of another size are resized bilinearly (half-pixel centres) to 32 x 32, then normalised."""
    source = vjepa.init_random(vjepa.VJEPAFeatures(SMALL))
    encoder, pooler = published_vjepa_states(source)
    torch.save({"target_encoder": encoder}, tmp_path / ENCODER_FILE)
    torch.save({"classifier": pooler}, tmp_path / PROBE_FILE)
    det = load_detector("vjepa-h16-ssv2", weights_dir=tmp_path)
    big = _videos(2, size=48, seed=3)
    resized = torch.nn.functional.interpolate(big.float() / 255.0, size=[16, 32, 32], mode="trilinear",
                                              align_corners=False)
    normalised = (resized - source.mean) / source.std
    with torch.no_grad():
        expected = source.pooler(source.encoder(normalised))
    torch.testing.assert_close(det(big), expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(det(big), det(big[..., :32, :32]))


class NotATensor:
    """A pickled object in a checkpoint: what weights_only loading must refuse."""


def test_checkpoints_that_are_not_tensors_only_or_lack_their_part_are_refused(small, tmp_path):
    source = vjepa.init_random(vjepa.VJEPAFeatures(SMALL))
    encoder, pooler = published_vjepa_states(source)
    torch.save({"classifier": pooler}, tmp_path / PROBE_FILE)
    torch.save({"target_encoder": encoder, "extra": NotATensor()}, tmp_path / ENCODER_FILE)
    with pytest.raises(WeightsError, match="never unpickles objects"):
        load_detector("vjepa-h16-ssv2", weights_dir=tmp_path)
    torch.save({"encoder_only": encoder}, tmp_path / ENCODER_FILE)
    with pytest.raises(WeightsError, match="no 'target_encoder' state dict"):
        load_detector("vjepa-h16-ssv2", weights_dir=tmp_path)
    del encoder["module.backbone.norm.bias"]
    torch.save({"target_encoder": encoder}, tmp_path / ENCODER_FILE)
    with pytest.raises(WeightsError, match=r"missing keys \['norm.bias'\]"):
        load_detector("vjepa-h16-ssv2", weights_dir=tmp_path)


def test_the_real_detector_takes_only_224_and_the_tiny_one_any_multiple_of_16():
    with pytest.raises(Exception, match="224x224"):
        load_detector("vjepa-h16-ssv2", resolution=256)
    assert load_detector("vjepa-tiny-random", resolution=48).module.config.resolution == 48
    with pytest.raises(Exception, match="divisible by 16"):
        load_detector("vjepa-tiny-random", resolution=40)


def test_full_size_network_is_vit_h16_with_the_ssv2_pooler():
    """Shapes of the published ViT-H/16 (vision_transformer.py:277-281): 1280 wide, 32 blocks, 8 x 14 x 14 tokens."""
    with torch.device("meta"):
        model = vjepa.VJEPAFeatures()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["encoder.pos_embed"] == (1, 1568, 1280) and shapes["encoder.patch_embed.weight"] == (1280, 3, 2, 16, 16)
    assert sum(k.endswith("in_proj_weight") for k in shapes) == 33  # 32 blocks + the pooler's
    assert shapes["pooler.mlp.fc1.weight"] == (5120, 1280) and shapes["pooler.query_tokens"] == (1, 1, 1280)


def test_checkpoints_in_torchs_legacy_format_load_too(small, tmp_path):
    """Memory-mapped loading takes zip-format files only; a legacy-format .pth.tar is read whole, the same tensors."""
    source = vjepa.init_random(vjepa.VJEPAFeatures(SMALL))
    encoder, pooler = published_vjepa_states(source)
    torch.save({"target_encoder": encoder}, tmp_path / ENCODER_FILE, _use_new_zipfile_serialization=False)
    torch.save({"classifier": pooler}, tmp_path / PROBE_FILE, _use_new_zipfile_serialization=False)
    det = load_detector("vjepa-h16-ssv2", weights_dir=tmp_path)
    state = det.module.state_dict()
    assert all(torch.equal(state[k], v) for k, v in source.state_dict().items())
