"""build_components: deterministic tiny random models, and the real-format loading path on a tiny fake weights dir."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import AutoencoderKL, DDIMScheduler, PNDMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.models.vidrd import configs
from vidrd_bench.models.vidrd.components import build_components
from vidrd_bench.models.vidrd.text import write_byte_level_tokenizer
from vidrd_bench.models.vidrd.unet3d import UNet3DConditionModel
from vidrd_bench.models.vidrd.vae import TemporalAutoencoderKL

from release_layout import legacy_vae_names

PARTS = {"unet", "vae", "text_encoder", "tokenizer", "scheduler"}


def noisy(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Perturb every parameter so loaded weights are distinguishable from freshly built ones."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return module


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory) -> dict:
    """A weights folder in the real formats with tiny random models: SD folder, ModelT2V.pth, vae_finetuned/."""
    root = tmp_path_factory.mktemp("weights")
    sd = root / "stable-diffusion-2-1-base"
    torch.manual_seed(0)
    unet2d = UNet2DConditionModel(**configs.TINY_UNET)
    unet2d.save_pretrained(sd / "unet")
    AutoencoderKL(**configs.TINY_VAE).save_pretrained(sd / "vae")
    CLIPTextModel(CLIPTextConfig(**configs.TINY_TEXT)).save_pretrained(sd / "text_encoder")
    write_byte_level_tokenizer(sd / "tokenizer")
    PNDMScheduler.from_config({**configs.SD21_BASE_SCHEDULER, "skip_prk_steps": True}).save_pretrained(sd / "scheduler")
    (sd / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    video_unet = noisy(UNet3DConditionModel.from_unet2d(unet2d, **configs.TINY_TEMPORAL), 1)
    text = noisy(CLIPTextModel(CLIPTextConfig(**configs.TINY_TEXT)), 2)
    vae2d = noisy(AutoencoderKL(**configs.TINY_VAE), 3)
    state = {f"unet.{k}": v for k, v in video_unet.state_dict().items()}
    state.update({f"text_encoder.text_model.{k}": v for k, v in text.state_dict().items()})
    state["text_encoder.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    state.update({f"vae.{k}": v for k, v in legacy_vae_names(vae2d.state_dict()).items()})
    torch.save({"state_dict": state, "epoch": 3, "global_step": 1000}, root / "ModelT2V.pth")
    temporal = noisy(TemporalAutoencoderKL.from_config_dict(configs.TINY_VAE), 4)
    folder = root / "vae_finetuned"
    folder.mkdir()
    cfg = {**{k: list(v) if isinstance(v, tuple) else v for k, v in configs.TINY_VAE.items()},
           "_class_name": "TemporalAutoencoderKL", "_diffusers_version": "0.14.0", "add_temp_conv": True}
    (folder / "config.json").write_text(json.dumps(cfg))
    torch.save(legacy_vae_names(temporal.state_dict()), folder / "diffusion_pytorch_model.bin")
    return {"root": root, "unet": video_unet, "text": text, "vae2d": vae2d, "temporal": temporal}


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Every tensor of `a` equals the one of the same name in `b` (and the key sets agree)."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_tiny_is_deterministic_for_a_seed():
    a, b, c = build_components("tiny", seed=0), build_components("tiny", seed=0), build_components("tiny", seed=1)
    assert_same_state(a.unet, b.unet)
    assert_same_state(a.vae, b.vae)
    assert_same_state(a.text_encoder.model, b.text_encoder.model)
    assert a.sha256 == b.sha256 and set(a.sha256) == PARTS - {"tokenizer"}
    assert all(a.sha256[k] != c.sha256[k] for k in ("unet", "vae", "text_encoder"))
    assert set(a.sources) == PARTS and all(a.sources.values())
    assert isinstance(a.scheduler, DDIMScheduler) and a.preset == "tiny"
    assert not any(p.requires_grad for p in a.unet.parameters()) and not a.unet.training


def test_tiny_parts_fit_together():
    comps = build_components("tiny", seed=0)
    context = comps.text_encoder.encode(["a man playing cello", "watermark"])
    latents = torch.randn(2, 4, 2, 4, 4)
    with torch.no_grad():
        noise = comps.unet(latents, 500, context)
        video = comps.vae.decode_video(noise, use_temporal=True)
    assert noise.shape == latents.shape and video.shape == (2, 3, 2, 32, 32)


def test_full_random_has_the_published_sizes():
    comps = build_components("full-random", device="meta", dtype=torch.bfloat16)
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(comps.unet) == 1_182_401_284 and count(comps.vae) == 100_059_495
    assert count(comps.text_encoder.model) == 340_387_840 and comps.text_encoder.hidden_size == 1024
    assert next(comps.unet.parameters()).dtype == torch.bfloat16 and len(comps.sha256) == 4


def test_full_loads_every_real_format_end_to_end(fake_weights):
    comps = build_components("full", weights_dir=str(fake_weights["root"]), temporal_vae=True)
    assert_same_state(comps.unet, fake_weights["unet"])
    torch.testing.assert_close(comps.text_encoder.model.state_dict(), fake_weights["text"].state_dict())
    assert_same_state(comps.vae, fake_weights["temporal"])
    assert isinstance(comps.scheduler, DDIMScheduler)
    assert comps.scheduler.config.steps_offset == 1 and comps.scheduler.config.set_alpha_to_one is False
    assert "vae_finetuned" in comps.sources["vae"] and "ModelT2V.pth" in comps.sources["unet"]
    assert "text_encoder.*" in comps.sources["text_encoder"]
    assert set(comps.sha256) == {"ModelT2V.pth", "vae_finetuned", "stable-diffusion-2-1-base/unet/config.json"} | {
        f"stable-diffusion-2-1-base/{s}" for s in ("text_encoder", "tokenizer", "scheduler")}
    assert not any(t.is_meta for t in comps.unet.state_dict().values())
    assert all(len(v) == 64 for v in comps.sha256.values())


def test_full_without_finetuned_vae_uses_checkpoint_vae_and_says_so(fake_weights):
    comps = build_components("full", weights_dir=str(fake_weights["root"]), temporal_vae=False)
    loaded, expected = comps.vae.state_dict(), fake_weights["vae2d"].state_dict()
    assert {k for k in loaded if ".temp_convs." not in k} == expected.keys()
    assert all(torch.equal(loaded[k], v) for k, v in expected.items())
    assert all(torch.count_nonzero(layer.convs[-1].weight) == 0
               for block in comps.vae.decoder.up_blocks for layer in block.temp_convs)
    assert "zero-initialised" in comps.sources["vae"] and "vae.*" in comps.sources["vae"]
    assert "stable-diffusion-2-1-base/vae" in comps.sha256 and "vae_finetuned" not in comps.sha256


def test_full_with_missing_folder_gives_guidance(tmp_path):
    with pytest.raises(WeightsError, match=r"stable-diffusion-2-1-base.*Hugging Face.*never downloads"):
        build_components("full", weights_dir=str(tmp_path))


def test_full_refuses_a_checkpoint_without_temporal_layers(fake_weights, tmp_path):
    root = tmp_path / "weights"
    root.mkdir()
    (root / "stable-diffusion-2-1-base").symlink_to(fake_weights["root"] / "stable-diffusion-2-1-base")
    state = torch.load(fake_weights["root"] / "ModelT2V.pth", weights_only=True)["state_dict"]
    torch.save({"state_dict": {k: v for k, v in state.items() if ".temp_" not in k}}, root / "ModelT2V.pth")
    with pytest.raises(WeightsError, match="ModelT2V.pth"):
        build_components("full", weights_dir=str(root))
    comps = build_components("full", weights_dir=str(root), allow_partial=True)
    assert "inflated" in comps.sources["unet"] and "stable-diffusion-2-1-base/unet" in comps.sha256
    loaded, expected = comps.unet.state_dict(), fake_weights["unet"].state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in expected.items() if ".temp_" not in k)
    assert any(not torch.equal(loaded[k], v) for k, v in expected.items() if ".temp_" in k)


def test_unknown_preset_is_refused():
    with pytest.raises(WeightsError, match="full-random"):
        build_components("huge")


def test_temporal_head_width_follows_the_release_rule():
    from vidrd_bench.models.vidrd.components import temporal_config
    assert temporal_config(configs.SD21_BASE_UNET)["temp_attn_head_dim"] == 64
    assert temporal_config(configs.TINY_UNET)["temp_attn_head_dim"] == 16
    with pytest.raises(WeightsError, match="widths"):
        temporal_config({**configs.TINY_UNET, "attention_head_dim": [2, 2]})
