"""Each diffusers adapter renders exactly what diffusers' own pipeline renders, read back from diffusers layout and
through the lossless mp4 round trip; the generic `diffusers` entry, its contract and refusals; compile, VAE decode."""

from __future__ import annotations

import dataclasses
import inspect
import json

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.datasets.video import read_video, write_video
from vidrd_bench.generators import GENERATORS, GeneratorError
from vidrd_bench.generators.diffusers_models import DIFFUSERS_MODELS
from vidrd_bench.generators.diffusers_t2v import SPECS
from vidrd_bench.generators.tiny import build_tiny, save_tiny

ADAPTERS = [m.name for m in DIFFUSERS_MODELS]
PROMPT, SEED = "a woman applying eye makeup", 5


def reference_video(pipe, settings, frames):
    """diffusers' own output for one video (its own __call__, every argument spelled out here), to uint8 by an
    independent floor(255 x + 0.5)."""
    params = inspect.signature(type(pipe).__call__).parameters
    frames_arg = "video_length" if "video_length" in params else "num_frames"
    text_length = settings.max_sequence_length or getattr(pipe, "transformer", None) and \
        pipe.transformer.config.get("max_text_seq_length")
    kwargs = {"max_sequence_length": text_length} if text_length else {}
    kwargs.update({"clean_caption": False} if "clean_caption" in params else {})  # as diffusers' own Latte test
    kwargs.update({"negative_prompt": settings.negative_prompt} if settings.negative_prompt is not None else {})
    out = pipe(prompt=PROMPT, num_inference_steps=settings.num_inference_steps, guidance_scale=settings.guidance_scale,
               height=settings.height, width=settings.width, generator=torch.Generator().manual_seed(SEED),
               output_type="np", **{frames_arg: frames}, **kwargs).frames[0]
    return np.floor(np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """name -> (ours through the mp4 round trip, diffusers' own, generator, folder); each rendered once."""
    cache = {}

    def render(name):
        if name not in cache:
            entry = GENERATORS.get(name)
            folder = save_tiny(name, tmp_path_factory.mktemp(name) / "pipeline")
            generator = entry.load(preset="model", model=folder, device="cpu")
            negative = None if name == "hunyuanvideo" else "blurry"  # HunyuanVideo takes no negative prompt
            settings = dataclasses.replace(entry.settings.get(f"{name}-tiny"), guidance_scale=4.5,
                                           negative_prompt=negative)
            frames = generator.native_shape(settings)[0]
            mp4 = folder.parent / "ours.mp4"
            write_video(mp4, generator([PROMPT], [SEED], settings)[0], fps=8)
            reference = DiffusionPipeline.from_pretrained(folder)  # diffusers' own loader and pipeline, no adapter
            cache[name] = (read_video(mp4), reference_video(reference, settings, frames), generator, folder)
        return cache[name]

    return render


@pytest.mark.parametrize("name", ADAPTERS)
def test_adapter_equals_the_diffusers_pipeline(rendered, name):
    ours, reference, generator, folder = rendered(name)
    np.testing.assert_array_equal(ours, reference)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == type(build_tiny(name)).__name__ == type(generator.pipe).__name__
    prov = generator.provenance()
    assert prov["sources"]["pipeline"] == str(folder) and "model_index.json" in prov["weights"]
    assert prov["model"] == name and prov["pipeline"] == index["_class_name"] and prov["compiled"] == []


def test_the_generic_entry_renders_a_wan_folder_as_the_wan_entry_does(rendered):
    generic, _, generator, _ = rendered("diffusers")
    wan, _, _, _ = rendered("wan")
    np.testing.assert_array_equal(generic, wan)
    assert generator.provenance()["pipeline"] == "WanPipeline" and generator.spec == SPECS["wan"]


@pytest.mark.parametrize("model", [m for m in DIFFUSERS_MODELS if m.name in SPECS])
def test_settings_defaults_are_the_pipelines_own(model):
    """Steps, guidance and negative prompt are the installed pipeline's __call__ defaults; the stated native shape is
    its default frames and size wherever __call__ (or for Mochi, the pipeline) fixes them."""
    import diffusers

    spec = SPECS[model.name]
    params = inspect.signature(getattr(diffusers, spec.pipeline_class).__call__).parameters
    settings = GENERATORS.get(model.name).settings.get(model.name)
    assert settings.num_inference_steps == params["num_inference_steps"].default
    assert settings.guidance_scale == params["guidance_scale"].default
    assert (settings.negative_prompt or None) == (params["negative_prompt"].default or None)
    defaults = [params[a].default for a in (spec.frames_arg, "height", "width")]
    if model.name == "mochi":
        tiny = build_tiny("mochi")
        defaults[1:] = tiny.default_height, tiny.default_width
    assert all(d == n for d, n in zip(defaults, model.native) if isinstance(d, int))
    ratio = int(model.frames_rule.split(",")[0].removeprefix("1 + ").removesuffix("k")) \
        if model.frames_rule.startswith("1 + ") else 1
    assert (model.native[0] - 1) % ratio == 0


@pytest.mark.parametrize("name, frames, hint", [("wan", 16, "Use e.g. 13 or 17"), ("mochi", 16, "Use e.g. 13 or 19"),
                                                ("ltx", 20, "Use e.g. 17 or 21")])
def test_a_frame_count_off_the_vae_rule_is_refused_before_rendering(name, frames, hint):
    generator = GENERATORS.get(name).load(preset="tiny", device="cpu")
    ratio = {"wan": 4, "mochi": 6, "ltx": 4}[name]  # the tiny LTX VAE folds 4 frames, the real one 8
    settings = dataclasses.replace(GENERATORS.get(name).settings.get(f"{name}-tiny"), num_frames=frames)
    with pytest.raises(GeneratorError, match=rf"renders 1 \+ k \* {ratio} frames .*ask for {frames}\. {hint}"):
        generator.native_shape(settings)
    assert generator.provenance()["frames_rule"] == f"1 + {ratio}k"


def test_settings_the_pipeline_cannot_honour_are_clear_errors():
    hunyuan = GENERATORS.get("hunyuanvideo").load(preset="tiny", device="cpu")
    settings = dataclasses.replace(GENERATORS.get("hunyuanvideo").settings.get("hunyuanvideo-tiny"),
                                   negative_prompt="x")
    with pytest.raises(GeneratorError, match="embedded .distilled. guidance and no negative prompt"):
        hunyuan([PROMPT], [1], settings)
    wan = GENERATORS.get("wan").load(preset="tiny", device="cpu")
    odd = dataclasses.replace(GENERATORS.get("wan").settings.get("wan-tiny"), height=40)
    with pytest.raises(GeneratorError, match="WanPipeline refused the call .*divisible by 16"):
        wan([PROMPT], [1], odd)
    latte = GENERATORS.get("latte").load(preset="tiny", device="cpu")
    with pytest.raises(GeneratorError, match="LattePipeline takes no max_sequence_length"):
        latte.native_shape(dataclasses.replace(GENERATORS.get("latte").settings.get("latte-tiny"),
                                               max_sequence_length=64))


def test_a_pipeline_output_outside_the_contract_is_a_clear_error(monkeypatch):
    import types

    import diffusers

    generator = GENERATORS.get("ltx").load(preset="tiny", device="cpu")
    settings = GENERATORS.get("ltx").settings.get("ltx-tiny")
    for output, said in ((types.SimpleNamespace(images=[]), "no .frames"),
                         (types.SimpleNamespace(frames=np.zeros((1, 17, 32, 32))), r"\.frames of shape \(1, 17, 32, 32\)")):
        monkeypatch.setattr(diffusers.LTXPipeline, "__call__", lambda self, **kw: output)
        with pytest.raises(GeneratorError, match=f"LTXPipeline returned {said} for 1 prompts.*the contract needs"):
            generator([PROMPT], [1], settings)


def _index_only(tmp_path, class_name):
    """A folder holding only a model_index.json naming `class_name` (no weights: refusals must come first)."""
    folder = tmp_path / class_name
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": class_name, "transformer": ["diffusers", "X"]}))
    return folder


@pytest.mark.parametrize("class_name, why", [
    ("WanImageToVideoPipeline", r"takes an input image \(an image-to-video, video-to-video or conditioned pipeline\)"),
    ("WanVideoToVideoPipeline", "takes an input video"),
    ("LTXConditionPipeline", "takes an input image / video / conditions"),
    ("StableDiffusionPipeline", "has no num_frames argument"),
])
def test_the_generic_entry_refuses_pipelines_outside_the_contract(tmp_path, class_name, why):
    with pytest.raises(WeightsError, match=f"holds a {class_name}, whose __call__ {why}.*; vidrd-bench renders "
                                           "text-to-video only.*CONTRACT"):
        GENERATORS.get("diffusers").load(preset="model", model=_index_only(tmp_path, class_name), device="cpu")


def test_folders_that_are_not_a_pipeline_are_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match="holds a AutoencoderKL, which is not a pipeline class of the installed"):
        GENERATORS.get("diffusers").load(preset="model", model=_index_only(tmp_path, "AutoencoderKL"), device="cpu")
    with pytest.raises(WeightsError, match="holds a LTXPipeline, but generator 'wan' adapts WanPipeline. Use "
                                           "--generator ltx"):
        GENERATORS.get("wan").load(preset="model", model=_index_only(tmp_path, "LTXPipeline"), device="cpu")
    with pytest.raises(WeightsError, match="holds a AllegroPipeline.*Use --generator diffusers"):
        GENERATORS.get("wan").load(preset="model", model=_index_only(tmp_path, "AllegroPipeline"), device="cpu")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model_index.json").write_text("{not json")
    with pytest.raises(WeightsError, match="Cannot read .*model_index.json"):
        GENERATORS.get("diffusers").load(preset="model", model=tmp_path / "bad", device="cpu")


def test_model_is_a_local_folder_never_a_download(tmp_path, monkeypatch):
    """A hub id is refused, named as one (never downloaded); a folder is read with local_files_only=True."""
    with pytest.raises(WeightsError, match="looks like a Hugging Face hub id.*it never downloads"):
        GENERATORS.get("diffusers").load(preset="model", model="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", device="cpu")
    import diffusers

    seen = {}

    def fake_from_pretrained(folder, **kwargs):
        seen.update(kwargs)
        raise OSError("stop here")

    monkeypatch.setattr(diffusers.WanPipeline, "from_pretrained", fake_from_pretrained)
    with pytest.raises(WeightsError, match="Cannot load the WanPipeline .*stop here"):
        GENERATORS.get("diffusers").load(preset="model", model=_index_only(tmp_path, "WanPipeline"), device="cpu")
    assert seen["local_files_only"] is True


def test_a_folder_of_another_pipeline_names_the_right_generator(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "CogVideoXPipeline"}))
    with pytest.raises(WeightsError, match="holds a CogVideoXPipeline.*Use --generator cogvideox"):
        GENERATORS.get("modelscope").load(preset="model", model=folder, device="cpu")
    with pytest.raises(WeightsError,
                       match="needs --model DIR: a folder in diffusers layout .*naming AnimateDiffPipeline"):
        GENERATORS.get("animatediff").load(preset="model", model=None, device="cpu")


@pytest.mark.parametrize("name, compiled, decode", [
    ("ltx", ["transformer", "vae.decoder"], "one video (vae.enable_slicing)"),
    ("wan", ["transformer"], "one video (vae.enable_slicing)"),  # Wan's VAE decodes frame by frame with a cache
    ("latte", ["transformer", "vae.decoder"], "frames in chunks of 14 (decode_chunk_size)"),
    ("modelscope", ["unet", "vae.decoder"], "frames in chunks of 16 (FrameChunks)"),  # its call has no chunk size
])
def test_compile_wraps_the_denoiser_and_a_plain_vae_decoder(name, compiled, decode):
    """--compile wraps the denoiser (the pipeline's component, its config still read through the wrapper) and
    compiles a plain VAE decoder in place; the CPU default is eager; provenance says both."""
    eager = GENERATORS.get(name).load(preset="tiny", device="cpu")
    assert eager.provenance()["compiled"] == [] and eager.provenance()["vae_decode"] == decode
    assert not hasattr(eager.modules()["denoiser"], "_orig_mod")
    generator = GENERATORS.get(name).load(preset="tiny", device="cpu", compile=True)
    prov = generator.provenance()
    assert prov["compiled"] == compiled and prov["vae_decode"] == decode
    assert prov["weights"] == eager.provenance()["weights"]
    denoiser = generator.modules()["denoiser"]
    assert getattr(generator.pipe, compiled[0]) is denoiser and isinstance(denoiser._orig_mod, type(eager.modules()[
        "denoiser"])) and generator.pipe.config[compiled[0]][1] == type(denoiser._orig_mod).__name__
    decoder = generator.pipe.vae.decoder
    assert ("vae.decoder" in compiled) is (getattr(decoder, "inner", decoder)._compiled_call_impl is not None)
    assert generator.pipe.vae.use_slicing is decode.startswith("one video")
    assert GENERATORS.get(name).compiles


def test_a_compiled_render_equals_the_eager_one(monkeypatch):
    """The compiled path end to end (dynamo's eager backend: the graph capture without the CPU code generation)."""
    compile_fn = torch.compile  # nn.Module.compile calls it too
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compile_fn(model, **{**kw, "backend": "eager"}))
    settings = GENERATORS.get("ltx").settings.get("ltx-tiny")
    eager = GENERATORS.get("ltx").load(preset="tiny", device="cpu")([PROMPT], [SEED], settings)
    compiled = GENERATORS.get("ltx").load(preset="tiny", device="cpu", compile=True)
    from torch._dynamo.utils import counters

    counters.clear()
    np.testing.assert_array_equal(compiled([PROMPT], [SEED], settings).numpy(), eager.numpy())
    assert counters["stats"]["unique_graphs"] >= 2  # the transformer's and the VAE decoder's graphs ran


@pytest.mark.parametrize("name, tiled", [("hunyuanvideo", True), ("mochi", True), ("wan", False), ("ltx", False)])
def test_vaes_decode_in_tiles_where_diffusers_own_example_of_the_pipeline_does(name, tiled):
    """HunyuanVideo and Mochi decode spatially in tiles (their diffusers examples call vae.enable_tiling(); untiled,
    HunyuanVideo's 720x1280 decode does not fit an 80 GB card); the others decode as the pipeline does by default.
    Frames under one tile (the tiny pipelines' 32 px) decode untiled, so their videos still equal diffusers'."""
    generator = GENERATORS.get(name).load(preset="tiny", device="cpu")
    assert generator.pipe.vae.use_tiling is tiled
    assert generator.provenance()["vae_decode"].endswith(", in tiles (vae.enable_tiling)") is tiled


@pytest.mark.parametrize("name, frames, message", [
    ("latte", 8, "latte renders exactly 16 frames .*video_length = 16.*ask for 8"),
    ("animatediff", 33, "animatediff renders at most 32 frames .*motion_max_seq_length = 32.*ask for 33"),
])
def test_a_frame_count_the_denoiser_cannot_hold_is_refused_before_rendering(name, frames, message):
    """Latte's temporal positions are exactly video_length, AnimateDiff's motion modules hold 32: other counts
    failed deep inside the transformer with a shape error; now a clear refusal, and the rule is shown."""
    entry = GENERATORS.get(name)
    generator = entry.load(preset="tiny", device="cpu")
    settings = dataclasses.replace(entry.settings.get(f"{name}-tiny"), num_frames=frames)
    with pytest.raises(GeneratorError, match=message):
        generator.native_shape(settings)
    assert generator.provenance()["frames_rule"] == {"latte": "16", "animatediff": "any, up to 32"}[name]
    assert entry.frames_rule == generator.provenance()["frames_rule"]


@pytest.mark.parametrize("name, cap", [("latte", 1), ("ltx", None)])
def test_videos_per_call_is_what_the_denoiser_sees(name, cap):
    """Latte renders each video in its own pipeline call (its mask_feature changes a batched video), so its
    denoiser sees one video's guided pair whatever the batch; `videos_per_call` says so and bench's memory probe
    (which found the same peak at 1 and 2 videos on an H100) stops there."""
    from vidrd_bench.runners.bench import first_denoiser_call

    entry = GENERATORS.get(name)
    generator = entry.load(preset="tiny", device="cpu")
    assert generator.videos_per_call == cap
    settings = entry.settings.get(f"{name}-tiny")
    rows = [first_denoiser_call(generator, settings, b)[1]["hidden_states"].shape[0] for b in (1, 2)]
    assert rows == ([2, 2] if cap == 1 else [2, 4])
