"""videomae-v2-g against cd-fvd 0.1.1's own VideoMAE-v2 code (cdfvd/third_party/VideoMAEv2), run here on the same
random weights at a reduced width and depth, its preprocessing included; the checkpoint layout at full size."""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import pytest
import torch
from cdfvd.third_party.VideoMAEv2 import utils as ref_utils
from cdfvd.third_party.VideoMAEv2 import videomaev2_finetune as ref

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.metrics.detectors import load_detector, videomae

# The reference VisionTransformer at 224 px, patch 14, 16 frames, tubelet 2, 174 classes: width 32, depth 2.
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def _reference(seed: int = 0) -> ref.VisionTransformer:
    """cd-fvd's network (vit_giant_patch14_224's settings but width and depth) with every tensor randomised."""
    torch.manual_seed(seed)
    net = ref.VisionTransformer(img_size=224, patch_size=14, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0,
                                qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_classes=174,
                                all_frames=16, tubelet_size=2, use_mean_pooling=True).eval()
    with torch.no_grad():
        for value in net.state_dict().values():
            value.add_(torch.randn_like(value) * 0.2)  # LayerNorms and biases too, not only the init's values
    return net


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    """A reference network, its state dict saved as the published .pth nests it, and `giant` narrowed to match."""
    net = _reference()
    file = tmp_path / videomae.WEIGHTS_FILE
    torch.save({"module": net.state_dict()}, file)
    monkeypatch.setattr(videomae, "giant", lambda: videomae.network(videomae.vit_config(**{**videomae.GIANT,
                                                                                          **SMALL})))
    return net, file


def test_features_equal_cdfvd_forward_features_with_its_preprocessing(checkpoint):
    net, file = checkpoint
    det = load_detector("videomae-v2-g", path=file, resolution=224)
    frames = np.random.default_rng(0).integers(0, 256, (3, 16, 48, 64, 3), dtype=np.uint8)  # (B, T, H, W, C)
    with torch.no_grad():  # cdfvd/fvd.py:21-29: preprocess_videomae, then model.forward_features
        want = net.forward_features(ref_utils.preprocess_videomae(frames))
    got = det(torch.from_numpy(frames).permute(0, 4, 1, 2, 3))
    assert got.shape == (3, 32) and det.weights == {file.name: videomae.file_sha256(file)}
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_frames_already_at_224_are_not_resampled(checkpoint):
    net, file = checkpoint
    det = load_detector("videomae-v2-g", path=file)
    frames = np.random.default_rng(1).integers(0, 256, (2, 16, 224, 224, 3), dtype=np.uint8)
    with torch.no_grad():
        want = net.forward_features(torch.from_numpy(frames).permute(0, 4, 1, 2, 3).float() / 255.0)
    torch.testing.assert_close(det(torch.from_numpy(frames).permute(0, 4, 1, 2, 3)), want, rtol=1e-4, atol=1e-5)


def test_the_key_mapping_round_trips_the_reference_layout():
    theirs = _reference().state_dict()
    back = videomae.state_to_checkpoint(videomae.checkpoint_to_state(theirs))
    assert set(back) == set(theirs)
    assert all(torch.equal(back[k], theirs[k]) for k in theirs)


def test_full_size_layout_equals_vit_giant_patch14_224(monkeypatch):
    """cd-fvd's ViT-g (vit_giant_patch14_224 with utils.py:66-73's arguments), built at one block of its 40: every
    tensor maps to one of ours of the same shape."""
    asked = {}
    monkeypatch.setattr(ref, "VisionTransformer", lambda **kw: asked.update(kw) or argparse.Namespace())
    ref.vit_giant_patch14_224(img_size=224, pretrained=False, num_classes=174, all_frames=16, tubelet_size=2,
                              drop_path_rate=0.3, use_mean_pooling=True)
    monkeypatch.undo()
    monkeypatch.setattr(ref, "get_sinusoid_encoding_table", videomae.sinusoid_table)  # only its Python loop's speed
    assert asked["depth"] == videomae.GIANT["num_hidden_layers"] == 40
    theirs = ref.VisionTransformer(**{**asked, "depth": 1}).state_dict()
    with torch.device("meta"):
        ours = videomae.VideoMAEv2Features(videomae.vit_config(**{**videomae.GIANT, "num_hidden_layers": 1}))
    mapped = videomae.checkpoint_to_state(theirs)
    # transformers before 5.2x also has a key bias, which the loader sets to zero as the reference's k has none
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items() if not k.endswith(videomae._KEY_BIAS)}
    assert {k: tuple(v.shape) for k, v in mapped.items()} == shapes
    assert theirs["fc_norm.weight"].shape == (videomae.FEATURE_DIM,) and theirs["head.weight"].shape == (174, 1408)


def test_the_sinusoid_table_is_transformers_own_bitwise():
    from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table
    assert torch.equal(videomae.sinusoid_table(512, 88), get_sinusoid_encoding_table(512, 88))


def test_a_file_with_pickled_objects_is_refused_without_unpickling(checkpoint, tmp_path):
    net, _ = checkpoint
    file = tmp_path / "with_args.pth"
    torch.save({"module": net.state_dict(), "args": argparse.Namespace(model="vit_giant")}, file)
    with pytest.raises(WeightsError, match="tensors only"):
        load_detector("videomae-v2-g", path=file)


def test_a_file_of_another_head_or_layout_is_refused_naming_keys(checkpoint, tmp_path):
    net, _ = checkpoint
    state = net.state_dict()
    k710 = tmp_path / "k710.pth"
    torch.save({"model": {**state, "head.weight": torch.zeros(710, 32), "head.bias": torch.zeros(710)}}, k710)
    with pytest.raises(WeightsError, match="head.weight"):
        load_detector("videomae-v2-g", path=k710)
    pretrain = tmp_path / "pretrain.pth"
    torch.save({k.replace("blocks.", "encoder.blocks."): v for k, v in state.items()}, pretrain)
    with pytest.raises(WeightsError, match="missing keys"):
        load_detector("videomae-v2-g", path=pretrain)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], listed)
    with pytest.raises(WeightsError, match="not a state dict"):
        load_detector("videomae-v2-g", path=listed)


def test_resolution_other_than_224_is_refused_for_the_real_detector(checkpoint):
    _, file = checkpoint
    with pytest.raises(Exception, match="224"):
        load_detector("videomae-v2-g", path=file, resolution=256)
