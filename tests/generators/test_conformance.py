"""Every registered generator honours the interface at tiny size on the CPU (diffusers' PipelineTesterMixin style).

Shapes and dtype, the same video whatever batch it lands in, seeds that matter, provenance with sha256 digests, the
networks `bench` times, and registry entries whose presets name real settings, protocols and weights files.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from vidrd_bench.generators import GENERATORS, Generator, GeneratorError
from vidrd_bench.protocols import PROTOCOLS, EvalProtocol
from vidrd_bench.core.weights import WEIGHT_FILES

PROMPTS = ["a person knitting a scarf", "a diver jumping from a board", "a man playing guitar on a stage"]
SEEDS = [7, 11, 13]


def quick_settings(name: str):
    """The entry's tiny settings with one denoising step (VidRD: two clips, so FNR/PNS/DSG still run; Mochi: two
    steps, the fewest its sigma schedule takes)."""
    entry = GENERATORS.get(name)
    settings = entry.settings.get(entry.preset("tiny").settings)
    extra = {"num_clips": 2} if name == "vidrd" else {}
    return dataclasses.replace(settings, num_inference_steps=2 if name == "mochi" else 1, **extra)


@pytest.fixture(scope="module", params=GENERATORS.names())
def tiny(request):
    """(name, generator, settings, videos of PROMPTS/SEEDS in one batch)."""
    name = request.param
    generator = GENERATORS.get(name).load(preset="tiny", device="cpu", compile=False)
    settings = quick_settings(name)
    return name, generator, settings, generator(PROMPTS, SEEDS, settings)


def test_uint8_videos_of_the_native_shape(tiny):
    name, generator, settings, videos = tiny
    frames, height, width = generator.native_shape(settings)
    assert isinstance(generator, Generator) and videos.dtype == torch.uint8 and videos.device.type == "cpu"
    assert videos.shape == (3, frames, height, width, 3) and frames >= 8 and (height, width) == (32, 32)
    assert videos.float().std() > 0  # not a constant image


def test_a_video_does_not_depend_on_its_batch(tiny):
    _, generator, settings, videos = tiny
    alone = generator(PROMPTS[:1], SEEDS[:1], settings)
    rest = generator(PROMPTS[1:], SEEDS[1:], settings)
    split = torch.cat([alone, rest])
    diff = (split.int() - videos.int()).abs()
    # Batched kernels may round differently: at most one level, on a tiny share of the values.
    assert diff.max() <= 1 and (diff > 0).float().mean() < 0.01
    assert torch.equal(generator(PROMPTS[:1], SEEDS[:1], settings), alone)


def test_the_seed_and_the_prompt_change_the_video(tiny):
    _, generator, settings, videos = tiny
    other_seed = generator(PROMPTS[:1], [SEEDS[0] + 1], settings)
    assert (other_seed.int() - videos[:1].int()).abs().float().mean() > 1


def test_provenance_names_the_model_and_digests_every_part(tiny):
    name, generator, _, _ = tiny
    prov = generator.provenance()
    assert prov["model"] == name and prov["preset"] == "tiny" and prov["dtype"] == "torch.float32"
    assert len(prov["weights"]) >= 3 and all(re.fullmatch("[0-9a-f]{64}", d) for d in prov["weights"].values())
    assert set(generator.modules()) == {"denoiser", "decoder"}
    assert all(isinstance(m, torch.nn.Module) for m in generator.modules().values())


def test_bad_calls_are_clear_errors(tiny):
    name, generator, settings, _ = tiny
    with pytest.raises(GeneratorError, match="one integer seed per prompt"):
        generator(PROMPTS[:2], [1], settings)
    with pytest.raises(GeneratorError, match="non-empty list of strings"):
        generator("a single string", [1], settings)
    other = next(n for n in GENERATORS.names() if n != name)
    wrong = quick_settings(other)
    if type(wrong) is not type(settings):
        with pytest.raises(GeneratorError, match="takes"):
            generator(PROMPTS[:1], [1], wrong)


@pytest.mark.parametrize("name", GENERATORS.names())
def test_registry_entries_are_complete(name):
    entry = GENERATORS.get(name)
    assert entry.name == name and entry.summary and {p.name for p in entry.presets} >= {"tiny"}
    for preset in entry.presets:
        assert preset.settings in entry.settings
        assert isinstance(PROTOCOLS.get(preset.protocol), EvalProtocol)
        assert all(n in WEIGHT_FILES for n in preset.needs)


def test_generators_command_lists_every_entry_and_what_it_needs():
    from click.testing import CliRunner

    from vidrd_bench.cli import main

    out = CliRunner().invoke(main, ["generators"]).output
    assert all(f"{name}: " in out for name in GENERATORS.names())
    assert "--preset full: the VidRD weights from --weights-dir; settings vidrd, protocol ucf101-vidrd; needs " \
           "stable-diffusion-2-1-base, ModelT2V.pth, vae_finetuned" in out
    assert out.count("needs --model DIR") == 9
    res = CliRunner().invoke(main, ["generators", "--save-tiny", "vidrd", "--out", "x"])
    assert res.exit_code == 2 and ("--save-tiny takes one of modelscope, animatediff, cogvideox, wan, ltx, "
                                   "hunyuanvideo, mochi, latte") in res.output


def test_generators_command_shows_native_shape_conform_rule_and_compile():
    from click.testing import CliRunner

    from vidrd_bench.cli import main
    from vidrd_bench.generators.conform import describe

    out = CliRunner().invoke(main, ["generators"]).output
    assert ("  native: 81 frames at 480x832; frames = 1 + 4k\n  protocol ucf101-vidrd (16 frames at 256x256): first 16 "
            "of 81 frames, centre-crop 480x832 to 480x480, resize to 256x256 (antialiased bilinear)\n  compile: yes"
            ) in out
    assert "  native: 16 frames at 256x256\n  protocol ucf101-vidrd (16 frames at 256x256): all 16 frames, 256x256 " \
           "kept\n  compile: yes" in out  # vidrd
    assert out.count("  compile: yes (--compile; on by default on CUDA)") == len(GENERATORS.names())
    smoke = PROTOCOLS.get("tiny-smoke")
    assert describe((8, 32, 32), smoke) == "refused: 8 frames are fewer than the protocol's 16"
    assert describe((17, 48, 32), smoke) == "first 16 of 17 frames, centre-crop 48x32 to 32x32"
    assert describe((16, 64, 64), smoke) == "all 16 frames, resize to 32x32 (antialiased bilinear)"


def test_run_json_records_random_weights_and_score_reads_it():
    from vidrd_bench.runners.generate import resolve
    from vidrd_bench.runners.score import random_weights_run

    for name, entry in GENERATORS.items():
        for preset in entry.presets:
            record = resolve(name, preset.name, None, None).record()
            assert record["random_weights"] is preset.random_weights
            assert random_weights_run(record) is preset.random_weights
    assert random_weights_run({"name": "vidrd", "preset": "full", "random_weights": True})  # the record wins
    assert not random_weights_run({"name": "someone-elses", "preset": "tiny", "random_weights": False})
    assert random_weights_run({"name": "someone-elses", "preset": "tiny"})  # run.json from before the field
    assert not random_weights_run({"name": "cogvideox", "preset": "model"})
    assert not random_weights_run(None)
