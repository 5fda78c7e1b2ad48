"""Loading ModelT2V.pth-style checkpoints into the video UNet: round trips, partial loads, corrupt files."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import pytest
import torch

from vidrd_bench.core.errors import WeightsError
from tests.hostile import RunsCode
from vidrd_bench.models.vidrd.checkpoint import (component_state_dicts, load_tensors_only, load_unet_checkpoint,
                                                   read_checkpoint)
from vidrd_bench.models.vidrd.configs import TINY_TEMPORAL, TINY_UNET
from vidrd_bench.models.vidrd.unet3d import UNet3DConditionModel


def tiny_unet(seed: int) -> UNet3DConditionModel:
    """A tiny video UNet whose every parameter (temporal ones included) is random."""
    torch.manual_seed(seed)
    model = UNet3DConditionModel(**TINY_UNET, **TINY_TEMPORAL)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    return model


def release_layout(model: UNet3DConditionModel, **extra: object) -> dict:
    """A Lightning-style checkpoint as the release writes it: state_dict with unet.*, text_encoder.*, vae.*."""
    state = {f"unet.{k}": v.clone() for k, v in model.state_dict().items()}
    state["text_encoder.text_model.final_layer_norm.weight"] = torch.ones(32)
    state["vae.decoder.conv_out.weight"] = torch.zeros(3, 8, 3, 3)
    return {"state_dict": state, "epoch": 3, "pytorch-lightning_version": "1.9.5", **extra}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Every tensor of the two models is bit-identical."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_lightning_checkpoint_round_trips_exactly(tmp_path: Path):
    """A release-layout Lightning checkpoint loads back bit for bit."""
    source = tiny_unet(0)
    path = tmp_path / "ModelT2V.pth"
    torch.save(release_layout(source), path)
    target = tiny_unet(1)
    report = load_unet_checkpoint(path, target)
    assert report.complete and report.loaded == len(source.state_dict())
    assert_same_weights(source, target)


def _stub_modules(monkeypatch, dotted: str) -> types.ModuleType:
    """Install empty modules for `dotted` and its parents, as if that package were importable."""
    parts = dotted.split(".")
    for i in range(1, len(parts) + 1):
        monkeypatch.setitem(sys.modules, ".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    return sys.modules[dotted]


def test_lightning_hyper_parameters_load_as_plain_dicts_without_lightning(tmp_path: Path, monkeypatch):
    """Lightning's AttributeDict hyper-parameters (a package that is not installed here) load through the allow-list."""
    fake = _stub_modules(monkeypatch, "lightning_fabric.utilities.data")

    class AttributeDict(dict):
        """Stands in for Lightning's hyper-parameter dict class."""

    AttributeDict.__module__, AttributeDict.__qualname__ = fake.__name__, "AttributeDict"
    fake.AttributeDict = AttributeDict
    source = tiny_unet(0)
    path = tmp_path / "ModelT2V.pth"
    hparams = AttributeDict(add_temp_embed=True, lr=1e-5, sizes=[256, 256])
    torch.save(release_layout(source, hyper_parameters=hparams), path)
    for name in ("lightning_fabric", "lightning_fabric.utilities", "lightning_fabric.utilities.data"):
        monkeypatch.delitem(sys.modules, name)  # as on a machine without Lightning installed
    target = tiny_unet(1)
    assert load_unet_checkpoint(path, target).complete
    assert_same_weights(source, target)
    loaded = load_tensors_only(path)["hyper_parameters"]
    assert isinstance(loaded, dict) and loaded == {"add_temp_embed": True, "lr": 1e-5, "sizes": [256, 256]}


@pytest.mark.parametrize("where", ["hyper_parameters", "state_dict"])
def test_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path: Path, where: str):
    """A pickled object whose __reduce__ calls exec is refused, naming the file and the call; the code never runs."""
    marker = tmp_path / "ran.txt"
    pickle.loads(pickle.dumps(RunsCode(marker)))  # the payload is live: full unpickling runs it
    assert marker.read_text() == "ran"
    marker.unlink()
    ckpt = release_layout(tiny_unet(0))
    if where == "hyper_parameters":
        ckpt["hyper_parameters"] = {"lr": 1e-5, "evil": RunsCode(marker)}
    else:
        ckpt["state_dict"]["unet.evil"] = RunsCode(marker)
    path = tmp_path / "ModelT2V.pth"
    torch.save(ckpt, path)
    with pytest.raises(WeightsError) as err:
        load_unet_checkpoint(path, tiny_unet(1))
    assert "ModelT2V.pth" in str(err.value) and "builtins.exec" in str(err.value)
    assert not marker.exists()


def test_bare_state_dicts_load_with_or_without_prefix(tmp_path: Path):
    """Bare state dicts load, with or without the unet. prefix."""
    source = tiny_unet(0)
    for name, state in {"bare.pt": source.state_dict(),
                        "prefixed.pt": {f"unet.{k}": v for k, v in source.state_dict().items()}}.items():
        torch.save(state, tmp_path / name)
        target = tiny_unet(1)
        assert load_unet_checkpoint(tmp_path / name, target).complete
        assert_same_weights(source, target)


def test_partial_checkpoint_is_refused_with_names_and_shapes_unless_allowed(tmp_path: Path):
    """A partial match is refused with key names and shapes, and loads with allow_partial."""
    source = tiny_unet(0)
    ckpt = release_layout(source)
    dropped = "mid_block.temp_convs.1.convs.15.weight"
    del ckpt["state_dict"][f"unet.{dropped}"]
    ckpt["state_dict"]["unet.mid_block.extra.weight"] = torch.zeros(7, 2)
    path = tmp_path / "partial.pth"
    torch.save(ckpt, path)
    target = tiny_unet(1)
    untouched = target.state_dict()[dropped].clone()
    with pytest.raises(WeightsError) as err:
        load_unet_checkpoint(path, target)
    message = str(err.value)
    assert "partial.pth" in message and "allow_partial" in message
    assert f"{dropped} (64, 64, 3, 1, 1)" in message and "mid_block.extra.weight (7, 2)" in message
    report = load_unet_checkpoint(path, target, allow_partial=True)
    assert report.missing == (dropped,) and report.unexpected == ("mid_block.extra.weight",)
    assert report.loaded == len(source.state_dict()) - 1
    assert torch.equal(target.state_dict()[dropped], untouched)
    assert torch.equal(target.conv_in.weight, source.conv_in.weight)


def test_shape_mismatch_is_reported(tmp_path: Path):
    """A tensor of the wrong shape is named with both shapes."""
    ckpt = release_layout(tiny_unet(0))
    ckpt["state_dict"]["unet.conv_in.weight"] = torch.zeros(32, 4, 1, 1)
    torch.save(ckpt, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=r"conv_in.weight expected \(32, 4, 3, 3\) found \(32, 4, 1, 1\)"):
        load_unet_checkpoint(tmp_path / "bad.pth", tiny_unet(1))
    report = load_unet_checkpoint(tmp_path / "bad.pth", tiny_unet(1), allow_partial=True)
    assert report.mismatched == (("conv_in.weight", (32, 4, 3, 3), (32, 4, 1, 1)),) and not report.complete


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", None])
def test_corrupt_or_missing_file_raises_weights_error_naming_it(tmp_path: Path, content: bytes | None):
    """Empty, garbage and missing files raise WeightsError naming the file."""
    path = tmp_path / "ModelT2V.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match="ModelT2V.pth"):
        load_unet_checkpoint(path, tiny_unet(1))


def test_truncated_checkpoint_raises_weights_error(tmp_path: Path):
    """A truncated checkpoint raises WeightsError."""
    path = tmp_path / "ModelT2V.pth"
    torch.save(release_layout(tiny_unet(0)), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match="corrupt"):
        load_unet_checkpoint(path, tiny_unet(1))


def test_checkpoint_without_unet_or_of_wrong_type_is_refused(tmp_path: Path):
    """Files without UNet tensors or without a state dict are refused."""
    torch.save({"state_dict": {"vae.decoder.conv_out.weight": torch.zeros(1)}}, tmp_path / "vae_only.pth")
    with pytest.raises(WeightsError, match=r"no UNet tensors.*\['vae'\]"):
        load_unet_checkpoint(tmp_path / "vae_only.pth", tiny_unet(1))
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="not a model checkpoint"):
        read_checkpoint(tmp_path / "list.pth")


def test_component_state_dicts_are_split_out(tmp_path: Path):
    """text_encoder.* and vae.* come out as separate state dicts."""
    path = tmp_path / "ModelT2V.pth"
    torch.save(release_layout(tiny_unet(0)), path)
    parts = component_state_dicts(path)
    assert sorted(parts) == ["text_encoder", "vae"]
    assert list(parts["text_encoder"]) == ["text_model.final_layer_norm.weight"]
    assert list(parts["vae"]) == ["decoder.conv_out.weight"]
    assert component_state_dicts({"unet.conv_in.weight": torch.zeros(1)}) == {}


def test_meta_device_model_is_materialised_by_a_complete_load(tmp_path: Path):
    """A model built on the meta device is materialised by a complete load."""
    source = tiny_unet(0)
    path = tmp_path / "ModelT2V.pth"
    torch.save(release_layout(source), path)
    with torch.device("meta"):
        target = UNet3DConditionModel(**TINY_UNET, **TINY_TEMPORAL)
    assert load_unet_checkpoint(path, target).complete
    assert not any(p.is_meta for p in target.parameters())
    assert_same_weights(source, target)
