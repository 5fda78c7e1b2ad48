"""How the detector conformance suite builds each registered detector on the CPU: one recipe per DETECTORS name.

A recipe writes the detector's weight files in their real format from its spec's `random_build` (so the real
loader reads them) and may swap its network constructor for a narrow one of the same class while building: the
real loaders insist on the full-size layout, and a full-size I3D takes seconds per video on a CPU, while the
narrow one runs the same loader, file format, wrapper and preprocessing cheaply. A newly registered detector needs
a recipe here; until it has one the suite fails naming it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

import numpy as np
import pytest
import torch

from vidrd_bench.metrics.detectors import (Detector, DetectorSpec, c3d, clip, i3d, inception, load_detector, videomae,
                                           vjepa)


@dataclass(frozen=True)
class Recipe:
    """One detector's test build: its file writer, the resolution to build at, and the narrowing swaps."""

    write: Callable[[Detector, Path], None] | None = None  # saves a built detector's network as its weight files
    resolution: int | None = None  # the protocol resolution passed to build (None: the detector's own)
    narrow: tuple[tuple[ModuleType, str, Callable], ...] = ()  # (module, attribute, narrow constructor) swaps
    program: bool = False  # its file is a program (TorchScript): loaded as a user who opted in (--trust-detector)


def _torchscript(det: Detector, folder: Path) -> None:
    """`i3d_torchscript.pt`: the (already scripted) module, saved as TorchScript."""
    i3d.export_torchscript(det.module, folder / "i3d_torchscript.pt")


def _state_dict(det: Detector, folder: Path) -> None:
    """`rgb_imagenet.pt`: a plain torch state dict in the pytorch-i3d layout."""
    torch.save(det.module.state_dict(), folder / "rgb_imagenet.pt")


def _chainer_npz(det: Detector, folder: Path) -> None:
    """`conv3d_deepnetA_ucf.npz` (chainer names) and `mean2.npz` (key 'mean')."""
    np.savez(folder / "conv3d_deepnetA_ucf.npz", **c3d.state_to_npz(det.module.net.state_dict()))
    np.savez(folder / "mean2.npz", mean=det.module.mean.numpy())


def _inception_state(det: Detector, folder: Path) -> None:
    """`weights-inception-2015-12-05-6726825d.pth`: torch-fidelity's state dict (tensors only)."""
    torch.save(det.module.state_dict(), folder / inception.TORCH_FIDELITY_FILE)


def _inception_program(det: Detector, folder: Path) -> None:
    """`inception-2015-12-05.pt`: the (already scripted) program with its `layers`, saved as TorchScript."""
    torch.jit.save(det.module, str(folder / inception.CLEAN_FID_FILE))


def published_vjepa_states(model: vjepa.VJEPAFeatures) -> tuple[dict, dict]:
    """Our V-JEPA network's tensors in the published layouts: the pretraining checkpoint's 'target_encoder'
    (module.backbone.*, jepa vision_transformer.py names) and the probe's 'classifier' (module.pooler.*, with q and
    kv split again, and a 174-class module.linear head)."""
    names = (("patch_embed.weight", "patch_embed.proj.weight"), ("patch_embed.bias", "patch_embed.proj.bias"),
             ("self_attn.in_proj_", "attn.qkv."), ("self_attn.out_proj", "attn.proj"), ("linear1", "mlp.fc1"),
             ("linear2", "mlp.fc2"))
    encoder = {}
    for key, value in model.encoder.state_dict().items():
        for ours, theirs in names:
            key = key.replace(ours, theirs)
        encoder[f"module.backbone.{key}"] = value
    dim, block = model.config.embed_dim, "module.pooler.cross_attention_block"
    pooler = {"module.pooler.query_tokens": model.pooler.query_tokens.detach(),
              "module.linear.weight": torch.zeros(174, dim), "module.linear.bias": torch.zeros(174)}
    for key, value in model.pooler.state_dict().items():
        if key.startswith("attn.in_proj_"):
            part = key.rsplit("_", 1)[1]
            pooler.update({f"{block}.xattn.q.{part}": value[:dim], f"{block}.xattn.kv.{part}": value[dim:]})
        elif key != "query_tokens":
            pooler[f"{block}.{key.replace('attn.out_proj', 'xattn.proj')}"] = value
    return encoder, pooler


def _vjepa_checkpoints(det: Detector, folder: Path) -> None:
    """`vith16.pth.tar` and `ssv2-probe.pth.tar` as the jepa training and probe code save them."""
    encoder, pooler = published_vjepa_states(det.module)
    torch.save({"encoder": encoder, "target_encoder": encoder, "epoch": 300}, folder / vjepa.ENCODER_FILE)
    torch.save({"classifier": pooler, "epoch": 20, "opt": {"state": {}, "param_groups": []}},
               folder / vjepa.PROBE_FILE)


def _videomae_pth(det: Detector, folder: Path) -> None:
    """`vit_g_hybrid_pt_1200e_ssv2_ft.pth`: the VideoMAEv2 layout (fused qkv, q_bias, v_bias) under 'module'."""
    torch.save({"module": videomae.state_to_checkpoint(det.module.state_dict())}, folder / videomae.WEIGHTS_FILE)


NARROW_I3D = ((i3d, "InceptionI3d", partial(i3d.InceptionI3d, width_div=8, resolution=32)),)
NARROW_C3D = ((c3d, "C3D", partial(c3d.C3D, width_div=16)),)
# Full width (the feature size is the spec's), one block, MLP x 1/4, 32 px: the same loader and layouts, cheaply.
NARROW_VJEPA = ((vjepa, "network_config", lambda: vjepa.ViTConfig(depth=1, mlp_ratio=0.25, resolution=32)),)
# Full width (the feature size is the spec's), one of the 40 blocks, MLP x 1/4, 28 px frames (2 x 2 patches of 14).
NARROW_VIDEOMAE = ((videomae, "giant", lambda: videomae.network(videomae.vit_config(**{
    **videomae.GIANT, "num_hidden_layers": 1, "intermediate_size": 1536, "image_size": 28}))),)


def _clip_folder(det: Detector, folder: Path) -> None:
    """`clip-vit-*/`: the transformers CLIPModel folder (model.safetensors, config, tokenizer, image processor)."""
    target = folder / clip.FOLDERS[det.name]
    for part in (det.module, det.tokenizer, det.processor):
        part.save_pretrained(target)


def narrow_clip_config(name: str):
    """Backbone `name`'s CLIPConfig with transformers' fast-test widths (hidden 32, 4 heads) but its own depth,
    patch, image size, vocabulary and projection: the same tensors by name, cheap on a CPU."""
    config = CLIP_CONFIG(name)
    for part in (config.vision_config, config.text_config):
        part.hidden_size, part.intermediate_size, part.num_attention_heads = 32, 37, 4
    return config


CLIP_CONFIG = clip.clip_config  # the real one, taken before any swap
NARROW_CLIP = ((clip, "clip_config", narrow_clip_config),)

RECIPES: dict[str, Recipe] = {
    "i3d-torchscript": Recipe(_torchscript, narrow=NARROW_I3D, program=True),
    "i3d-pytorch": Recipe(_state_dict, narrow=NARROW_I3D),
    "i3d-tiny-random": Recipe(resolution=32),
    "c3d-ucf101": Recipe(_chainer_npz, narrow=NARROW_C3D),
    "c3d-tiny-random": Recipe(),
    # Full size (torch-fidelity's network has fixed widths; the program's key names are Inception's): one frame of
    # 299 x 299 per video keeps them cheap enough.
    "inception-torch-fidelity": Recipe(_inception_state),
    "inception-clean-fid": Recipe(_inception_program, program=True),
    "inception-tiny-random": Recipe(resolution=32),
    "vjepa-h16-ssv2": Recipe(_vjepa_checkpoints, narrow=NARROW_VJEPA),
    "vjepa-tiny-random": Recipe(resolution=32),
    "clip-vit-b32": Recipe(_clip_folder, narrow=NARROW_CLIP),
    "clip-vit-l14": Recipe(_clip_folder, narrow=NARROW_CLIP),
    "clip-tiny-random": Recipe(),
    "videomae-v2-g": Recipe(_videomae_pth, narrow=NARROW_VIDEOMAE),
    "videomae-tiny-random": Recipe(),
}


def recipe(name: str) -> Recipe:
    """The recipe of registered detector `name`; a clear failure when a newly registered one has none."""
    if name not in RECIPES:
        pytest.fail(f"Detector {name!r} is registered in DETECTORS but has no recipe in "
                    "tests/metrics/detectors/detector_recipes.py (RECIPES): add one that writes its weight files "
                    "from its random build in their real format.")
    return RECIPES[name]


@contextmanager
def _swapped(name: str, narrow: bool) -> Iterator[None]:
    """Apply recipe `name`'s narrowing swaps inside the block (none when `narrow` is false)."""
    with pytest.MonkeyPatch.context() as patch:
        for module, attribute, constructor in recipe(name).narrow if narrow else ():
            patch.setattr(module, attribute, constructor)
        yield


def write_files(spec: DetectorSpec, folder: Path, *, narrow: bool) -> Detector:
    """Write `spec`'s weight files into `folder` from its random build (narrow or full size); return that build."""
    entry = recipe(spec.name)
    with _swapped(spec.name, narrow):
        source = spec.random_build(device="cpu")
    if entry.write is not None:
        entry.write(source, folder)
    return source


def build(spec: DetectorSpec, folder: Path, *, narrow: bool) -> Detector:
    """`spec` loaded as `load_detector` loads it, from the files in `folder` (narrow: under its recipe's swaps; a
    program trusted, as its user must)."""
    entry = recipe(spec.name)
    with _swapped(spec.name, narrow):
        return load_detector(spec.name, weights_dir=folder, device="cpu", resolution=entry.resolution,
                             trust_detector=entry.program)
