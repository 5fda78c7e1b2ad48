"""Temporal VAE: equals SD's decoder per frame when temporal layers are inert, matches the release, loads its files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.models.vidrd import configs
from vidrd_bench.models.vidrd.vae import (
    TemporalAutoencoderKL,
    apply_vae_state_dict,
    load_temporal_vae,
)

from release_layout import legacy_vae_names

FIXTURES = Path(__file__).parent / "fixtures"
SD21_KEYS = FIXTURES / "vidrd_vae_keys_sd21.tsv"
RELEASE_TINY = FIXTURES / "vidrd_vae_tiny_release"
RELEASE_DECODE = FIXTURES / "vidrd_vae_tiny_release_decode.pt"


@pytest.fixture(scope="module")
def vae2d() -> AutoencoderKL:
    """A tiny random SD-layout 2D VAE."""
    torch.manual_seed(0)
    return AutoencoderKL(**configs.TINY_VAE).eval()


@pytest.fixture(scope="module")
def latents() -> torch.Tensor:
    """Two 3-frame diffusion-space latent videos with distinct frames."""
    return torch.randn(2, 4, 3, 4, 4, generator=torch.Generator().manual_seed(1))


def reference_frames(vae2d: AutoencoderKL, latents: torch.Tensor) -> torch.Tensor:
    """diffusers' own 2D decode of every frame, stacked to (B, 3, F, H, W)."""
    frames = [vae2d.decode(latents[:, :, f] / vae2d.config.scaling_factor).sample for f in range(latents.shape[2])]
    return torch.stack(frames, dim=2)


def randomise_temporal(vae: TemporalAutoencoderKL) -> None:
    """Give every temporal layer non-trivial weights."""
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if ".temp_convs." in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def write_release_folder(folder: Path, state: dict[str, torch.Tensor]) -> Path:
    """A vae_finetuned/-style folder: release config.json (add_temp_conv, 0.14 version) and the .bin state dict."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in configs.TINY_VAE.items()}
    cfg.update({"_class_name": "TemporalAutoencoderKL", "_diffusers_version": "0.14.0", "add_temp_conv": True})
    (folder / "config.json").write_text(json.dumps(cfg))
    torch.save(state, folder / "diffusion_pytorch_model.bin")
    return folder


@pytest.mark.parametrize("use_temporal", [True, False])
def test_inflated_vae_equals_2d_decoder_per_frame(vae2d, latents, use_temporal):
    vae = TemporalAutoencoderKL.from_vae2d(vae2d).eval()
    with torch.no_grad():
        video = vae.decode_video(latents, use_temporal=use_temporal)
        expected = reference_frames(vae2d, latents)
    assert video.shape == (2, 3, 3, 32, 32)
    torch.testing.assert_close(video, expected, rtol=1e-5, atol=1e-5)


def test_trained_temporal_layers_only_act_when_requested(vae2d, latents):
    vae = TemporalAutoencoderKL.from_vae2d(vae2d).eval()
    randomise_temporal(vae)
    with torch.no_grad():
        expected = reference_frames(vae2d, latents)
        torch.testing.assert_close(vae.decode_video(latents, use_temporal=False), expected, rtol=1e-5, atol=1e-5)
        temporal = vae.decode_video(latents, use_temporal=True)
        single = vae.decode_video(latents[:, :, :1], use_temporal=True)
    assert (temporal - expected).abs().max() > 1e-2
    torch.testing.assert_close(single, expected[:, :, :1], rtol=1e-5, atol=1e-5)


def test_chunked_decode_equals_one_call(vae2d, latents):
    vae = TemporalAutoencoderKL.from_vae2d(vae2d).eval()
    randomise_temporal(vae)
    with torch.no_grad():
        for use_temporal in (True, False):
            whole = vae.decode_video(latents, use_temporal=use_temporal)
            torch.testing.assert_close(vae.decode_video(latents, use_temporal, chunk_frames=2), whole,
                                       rtol=1e-5, atol=1e-5)


def test_compiled_decoder_is_one_graph_per_mode_and_decodes_as_eager(vae2d, latents):
    """compile_decoder traces the frame decoder whole (fullgraph) and the compiled path decodes what eager code does."""
    from torch._dynamo.testing import CompileCounter

    vae = TemporalAutoencoderKL.from_vae2d(vae2d).eval()
    randomise_temporal(vae)
    counter = CompileCounter()
    vae.compile_decoder(backend=counter)
    try:
        with torch.no_grad():
            for use_temporal in (True, False, True):
                eager = vae.decode_video(latents, use_temporal, compiled=False)
                torch.testing.assert_close(vae.decode_video(latents, use_temporal), eager, rtol=1e-5, atol=1e-5)
    finally:
        torch._dynamo.reset()
    assert counter.frame_count == 2


def test_matches_authors_release_on_their_saved_tiny_model():
    """Fixture saved by the authors' class under diffusers 0.14 with random temporal weights, plus its decodes."""
    vae, report = load_temporal_vae(RELEASE_TINY)
    assert report.complete and report.loaded == len(vae.state_dict())
    ref = torch.load(RELEASE_DECODE, weights_only=True)
    with torch.no_grad():
        torch.testing.assert_close(vae.decode_video(ref["latents"], True), ref["temporal"], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(vae.decode_video(ref["latents"], False), ref["per_frame"], rtol=1e-4, atol=1e-4)


def test_full_size_release_layout_loads_with_no_missing_or_unexpected_keys():
    rows = [line.rstrip("\n").split("\t") for line in SD21_KEYS.read_text().splitlines() if not line.startswith("#")]
    state = {name: torch.empty(tuple(int(d) for d in shape.split("x")), device="meta") for name, shape in rows}
    with torch.device("meta"):
        vae = TemporalAutoencoderKL.from_config_dict(configs.SD21_BASE_VAE)
    report = apply_vae_state_dict(vae, state, str(SD21_KEYS))
    assert report.complete and report.loaded == 392
    assert sum(p.numel() for p in vae.parameters()) == 100_059_495
    temporal = [k for k in vae.state_dict() if ".temp_convs." in k]
    assert len(temporal) == 4 * 3 * 3 * 4 and not any(k.startswith("decoder.mid_block.temp") for k in temporal)


def test_release_layout_round_trip_is_exact(tmp_path, vae2d):
    source = TemporalAutoencoderKL.from_vae2d(vae2d)
    randomise_temporal(source)
    release_state = legacy_vae_names(source.state_dict())
    assert sum(".attentions.0.query." in k for k in release_state) == 4
    folder = write_release_folder(tmp_path / "vae_finetuned", release_state)
    loaded, report = load_temporal_vae(folder)
    assert report.complete
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_partial_load_refused_then_allowed(tmp_path, vae2d):
    source = TemporalAutoencoderKL.from_vae2d(vae2d)
    state = {k: v for k, v in source.state_dict().items() if "up_blocks.1.temp_convs" not in k}
    state["decoder.conv_out.weight"] = torch.zeros(3, 8, 1, 1)
    state["decoder.extra.weight"] = torch.zeros(1)
    folder = write_release_folder(tmp_path / "vae_finetuned", state)
    expected = r"diffusion_pytorch_model\.bin.*24 missing.*1 unexpected.*1 shape mismatches.*conv_out"
    with pytest.raises(WeightsError, match=expected):
        load_temporal_vae(folder)
    vae, report = load_temporal_vae(folder, allow_partial=True)
    assert len(report.missing) == 2 * 6 * 2 and all("up_blocks.1.temp_convs" in k for k in report.missing)
    assert report.unexpected == ("decoder.extra.weight",)
    assert report.mismatched == (("decoder.conv_out.weight", (3, 8, 3, 3), (3, 8, 1, 1)),)
    assert not any(t.is_meta for t in vae.state_dict().values())
    zero = vae.decoder.up_blocks[1].temp_convs[0].convs[-1].weight
    assert torch.count_nonzero(zero) == 0


def test_missing_folder_names_the_file(tmp_path):
    with pytest.raises(WeightsError, match="vae_finetuned"):
        load_temporal_vae(tmp_path / "nowhere")
