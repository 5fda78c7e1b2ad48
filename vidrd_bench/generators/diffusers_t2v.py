"""diffusers' own text-to-video pipelines as generators: ModelScope/Zeroscope, AnimateDiff, CogVideoX, Wan, LTX-Video,
HunyuanVideo, Mochi, Latte, and any pipeline folder that meets generators.diffusers_folder.CONTRACT.

The adapter only maps the benchmark's call onto the pipeline's: prompts, one CPU `torch.Generator` per video seeded
with the video's seed (diffusers draws each video's latents from its own generator, so a video does not depend on
its batch), steps, guidance, negative prompt, frames and size from the settings; `output_type="np"` frames in [0, 1]
become uint8 by base.frames_to_uint8. Models are read from a local folder in diffusers layout (model_index.json).

Frames: a pipeline whose VAE compresses time r-fold renders `frames = 1 + k * r` (r read from the pipeline, which
takes it from its VAE); other counts are refused before anything renders. Speed: generators.diffusers_speed (compiled
denoiser and VAE decoder, attention kernel order, channels-last UNet, VAE decode memory), recorded in provenance().
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from vidrd_bench.core.devices import default_dtype
from vidrd_bench.core.errors import WeightsError
from vidrd_bench.generators.base import Generator, GeneratorError, frames_to_uint8
from vidrd_bench.generators.diffusers_folder import (check_contract, folder_digests, load_folder, model_folder,
                                                     pipeline_class, read_index)
from vidrd_bench.generators.diffusers_speed import DENOISERS, SpeedOptions, attention_priority, speed_up
from vidrd_bench.protocols import GeneratorSettings

GENERIC = "diffusers"  # the entry that reads any pipeline class from model_index.json


@dataclass(frozen=True)
class DiffusersSettings(GeneratorSettings):
    """A diffusers pipeline's call arguments; None = the pipeline's own default (its __call__'s, else its configs').

    scheduler: a diffusers scheduler class name built from the folder's scheduler config (None: the folder's own).
    max_sequence_length: the text length for pipelines that take it; None = the denoiser config's
    max_text_seq_length where it has one (CogVideoX: the length its text positions were built for), else the
    pipeline's default.
    """

    height: int | None = None
    width: int | None = None
    num_frames: int | None = None
    num_inference_steps: int | None = 50
    guidance_scale: float | None = 7.5
    negative_prompt: str | None = None
    scheduler: str | None = None
    max_sequence_length: int | None = None


@dataclass(frozen=True)
class PipelineSpec:
    """What differs between diffusers pipelines behind the one call contract: the class, the denoiser's attribute,
    the frame-count argument, whether each video needs its own call, whether it uses a negative prompt, fixed
    extra arguments, whether its VAE decodes in tiles (as diffusers' own example for the pipeline does)."""

    pipeline_class: str
    denoiser: str
    frames_arg: str = "num_frames"
    per_video: bool = False
    negative_prompt: bool = True
    fixed_kwargs: tuple[tuple[str, Any], ...] = ()
    vae_tiling: bool = False


SPECS = {
    "modelscope": PipelineSpec("TextToVideoSDPipeline", "unet"),
    "animatediff": PipelineSpec("AnimateDiffPipeline", "unet"),
    "cogvideox": PipelineSpec("CogVideoXPipeline", "transformer"),
    "wan": PipelineSpec("WanPipeline", "transformer"),
    "ltx": PipelineSpec("LTXPipeline", "transformer"),
    # Distilled guidance: guidance_scale is embedded in the transformer, one pass per step; a negative prompt only
    # enters with true_cfg_scale > 1, which its defaults (and the benchmark) leave at 1.
    # HunyuanVideo and Mochi decode in tiles, as diffusers' examples of both pipelines do (pipeline_hunyuan_video.py
    # and pipeline_mochi.py, EXAMPLE_DOC_STRING: `pipe.vae.enable_tiling()`): HunyuanVideo's 129 frames at 720x1280
    # would need tens of GB per activation of the untiled decoder. Frames under one tile (256 px) decode untiled.
    "hunyuanvideo": PipelineSpec("HunyuanVideoPipeline", "transformer", negative_prompt=False, vae_tiling=True),
    "mochi": PipelineSpec("MochiPipeline", "transformer", vae_tiling=True),
    # Frames are `video_length`; captions as given (with clean_caption the prompt would depend on whether the
    # optional bs4 and ftfy are installed). Its default mask_feature drops padded text tokens for a batch of one but
    # zeroes them in a batch, which changes a batched video: each video renders in its own call.
    "latte": PipelineSpec("LattePipeline", "transformer", frames_arg="video_length", per_video=True,
                          fixed_kwargs=(("clean_caption", False),)),
}
TEMPORAL_ATTRS = ("vae_scale_factor_temporal", "vae_temporal_compression_ratio", "vae_temporal_scale_factor")
SPATIAL_ATTRS = ("vae_scale_factor_spatial", "vae_spatial_compression_ratio", "vae_spatial_scale_factor",
                 "vae_scale_factor")


def spec_for_class(name: str, parts: Mapping[str, Any], folder: Any = "the pipeline") -> PipelineSpec:
    """The spec of pipeline class `name`: a registered entry's where one adapts it, else the contract's defaults
    with the denoiser its parts name (`parts`: model_index.json or pipe.config)."""
    known = next((s for s in SPECS.values() if s.pipeline_class == name), None)
    if known is not None:
        return known
    denoiser = next((d for d in DENOISERS if isinstance(parts.get(d), (list, tuple)) and parts[d][0]), None)
    if denoiser is None:
        raise WeightsError(f"{folder} holds a {name} with no 'transformer' or 'unet' part; vidrd-bench reads the "
                           "denoiser from one of those (generators.diffusers_folder, CONTRACT).")
    return PipelineSpec(name, denoiser)


def temporal_ratio(pipe: Any) -> int:
    """Frames per latent frame, as the pipeline reads it from its VAE (1: its VAE does not compress time)."""
    for attr in TEMPORAL_ATTRS:
        if isinstance(getattr(pipe, attr, None), int):
            return getattr(pipe, attr)
    config = getattr(pipe.vae, "config", {})
    return int(config.get("temporal_compression_ratio") or config.get("scale_factor_temporal") or 1)


def frame_limit(pipe: Any, spec: PipelineSpec) -> tuple[str, int, str] | None:
    """A denoiser's hard limit on frames per video, from its config: Latte's temporal position table has exactly
    `video_length` rows, AnimateDiff's motion modules `motion_max_seq_length` positions; None where there is none."""
    cfg = getattr(pipe, spec.denoiser).config
    if isinstance(cfg.get("video_length"), int):
        return "exactly", cfg["video_length"], "its transformer's temporal position table, video_length"
    if isinstance(cfg.get("motion_max_seq_length"), int):
        return "at most", cfg["motion_max_seq_length"], "its motion modules' positions, motion_max_seq_length"
    return None


def frames_rule(ratio: int, limit: tuple[str, int, str] | None = None) -> str:
    """The frame-count rule of a VAE that compresses time `ratio`-fold, and of the denoiser's frame limit."""
    rule = f"1 + {ratio}k" if ratio > 1 else "any"
    if limit is None:
        return rule
    return f"{limit[1]}" if limit[0] == "exactly" else f"{rule}, up to {limit[1]}"


class DiffusersGenerator(Generator):
    """One diffusers text-to-video pipeline behind the generator interface."""

    settings_type = DiffusersSettings

    def __init__(self, name: str, pipe: Any, spec: PipelineSpec, preset: str, source: str,
                 weights: dict[str, str], speed: dict[str, Any], random_reason: str | None = None) -> None:
        self.name, self.pipe, self.spec, self.preset = name, pipe, spec, preset
        self.source, self.weights, self.speed, self.random_reason = source, weights, speed, random_reason
        self.params = inspect.signature(type(pipe).__call__).parameters
        self.videos_per_call = 1 if spec.per_video else None
        self.deterministic_note = ("per-video CPU generators (diffusers draws each video's latents from its own); "
                                   "batched kernels may move a rare uint8 level")

    def _default(self, arg: str) -> Any:
        """The pipeline's __call__ default of `arg` (None where it has none)."""
        param = self.params.get(arg)
        return None if param is None or param.default is inspect.Parameter.empty else param.default

    def _defaults(self) -> tuple[int | None, int | None, int | None]:
        """The pipeline's own (frames, height, width) where the settings leave them to it: its __call__ defaults,
        else (as the pipeline itself does) its default_height/width or the denoiser config's sample sizes."""
        cfg = getattr(self.pipe, self.spec.denoiser).config
        scale = next((getattr(self.pipe, a) for a in SPATIAL_ATTRS if isinstance(getattr(self.pipe, a, None), int)), 1)
        frames = self._default(self.spec.frames_arg)
        sizes = [self._default(axis) or getattr(self.pipe, f"default_{axis}", None) for axis in ("height", "width")]
        for i, key in enumerate(("sample_height", "sample_width")):
            sample = cfg.get(key) or cfg.get("sample_size")
            sizes[i] = sizes[i] or (sample * scale if isinstance(sample, int) else None)
        return frames if isinstance(frames, int) else cfg.get("sample_frames"), *sizes

    def native_shape(self, settings: DiffusersSettings) -> tuple[int, int, int]:
        """(frames, height, width) the pipeline renders; frames must be 1 + k * its VAE's time ratio. Settings the
        pipeline cannot honour are refused here, before anything renders."""
        found = tuple(mine or theirs for mine, theirs in zip(settings.native_size(), self._defaults()))
        if None in found:
            raise GeneratorError(f"{type(self.pipe).__name__} has no default frame count and size that vidrd-bench "
                                 f"can read (settings {settings.name!r} give {found}); render it with settings that "
                                 "name num_frames, height and width (a DiffusersSettings object in the Python API).")
        frames, height, width = found
        ratio = temporal_ratio(self.pipe)
        if (frames - 1) % ratio:
            low = frames - (frames - 1) % ratio
            raise GeneratorError(f"{self.name} renders 1 + k * {ratio} frames (its VAE compresses time {ratio}x); "
                                 f"settings {settings.name!r} ask for {frames}. Use e.g. {low} or {low + ratio} "
                                 "frames; extra frames are trimmed.")
        limit = frame_limit(self.pipe, self.spec)
        if limit and (frames != limit[1] if limit[0] == "exactly" else frames > limit[1]):
            raise GeneratorError(f"{self.name} renders {limit[0]} {limit[1]} frames ({limit[2]} = {limit[1]}); "
                                 f"settings {settings.name!r} ask for {frames}. Use settings with "
                                 f"{'' if limit[0] == 'exactly' else 'at most '}{limit[1]} frames, and a protocol of "
                                 f"at most {limit[1]} frames (vidrd-bench protocols lists them).")
        if settings.negative_prompt is not None and not self.spec.negative_prompt:
            raise GeneratorError(f"{type(self.pipe).__name__} renders with embedded (distilled) guidance and no "
                                 f"negative prompt, but settings {settings.name!r} set negative_prompt="
                                 f"{settings.negative_prompt!r}. Use settings without a negative prompt.")
        if settings.max_sequence_length is not None and "max_sequence_length" not in self.params:
            raise GeneratorError(f"{type(self.pipe).__name__} takes no max_sequence_length, but settings "
                                 f"{settings.name!r} set {settings.max_sequence_length}. Leave it None.")
        return frames, height, width

    def _call_kwargs(self, prompts: list[str], seeds: list[int], settings: DiffusersSettings) -> dict[str, Any]:
        """The pipeline's keyword arguments for this batch (None settings left to the pipeline's defaults)."""
        frames, height, width = self.native_shape(settings)
        kwargs = {"prompt": prompts, "height": height, "width": width, self.spec.frames_arg: frames,
                  "generator": [torch.Generator(device="cpu").manual_seed(s) for s in seeds], "output_type": "np",
                  **dict(self.spec.fixed_kwargs)}
        for arg in ("num_inference_steps", "guidance_scale"):
            if getattr(settings, arg) is not None:
                kwargs[arg] = getattr(settings, arg)
        if settings.negative_prompt is not None:
            kwargs["negative_prompt"] = [settings.negative_prompt] * len(prompts)
        text_length = settings.max_sequence_length or getattr(self.pipe, self.spec.denoiser).config.get(
            "max_text_seq_length")
        if text_length is not None and "max_sequence_length" in self.params:
            kwargs["max_sequence_length"] = text_length
        return kwargs

    def generate(self, prompts: list[str], seeds: list[int], settings: DiffusersSettings) -> torch.Tensor:
        """Run the pipeline once for the batch (once per video where its spec says so); frames in [0, 1] -> uint8."""
        self._use_scheduler(settings.scheduler)
        groups = [[i] for i in range(len(prompts))] if self.videos_per_call == 1 else [list(range(len(prompts)))]
        return torch.cat([self._render([prompts[i] for i in g], [seeds[i] for i in g], settings) for g in groups])

    def _render(self, prompts: list[str], seeds: list[int], settings: DiffusersSettings) -> torch.Tensor:
        """One pipeline call; its refusals and a result outside the contract as clear errors."""
        kwargs = self._call_kwargs(prompts, seeds, settings)
        name = type(self.pipe).__name__
        try:
            with torch.no_grad(), self.kernel_context():
                frames = getattr(self.pipe(**kwargs), "frames", None)
        except ValueError as exc:
            raise GeneratorError(f"diffusers' {name} refused the call of settings {settings.name!r} ({exc}). Pick "
                                 "settings whose size and frame count the pipeline accepts.") from exc
        shape = np.shape(frames) if frames is not None else None
        if shape is None or len(shape) != 5 or shape[0] != len(prompts) or shape[-1] != 3:
            raise GeneratorError(f"{name} returned {'no .frames' if shape is None else f'.frames of shape {shape}'} "
                                 f"for {len(prompts)} prompts with output_type='np'; the contract needs (videos, "
                                 "frames, height, width, 3) in [0, 1] (generators.diffusers_folder, CONTRACT).")
        return frames_to_uint8(torch.as_tensor(np.asarray(frames)))

    def kernel_context(self) -> Any:
        """The attention backend order speed_up chose (generators.diffusers_speed.attention_priority)."""
        return attention_priority(self.speed["attention"])

    def _use_scheduler(self, name: str | None) -> None:
        """Swap in scheduler class `name`, built from the folder's scheduler config (None keeps the folder's own)."""
        import diffusers

        if name is None or type(self.pipe.scheduler).__name__ == name:
            return
        cls = getattr(diffusers, name, None)
        if cls is None or not hasattr(cls, "from_config"):
            raise GeneratorError(f"Unknown diffusers scheduler {name!r} in the settings; name a diffusers scheduler "
                                 "class such as DDIMScheduler or DPMSolverMultistepScheduler.")
        self.pipe.scheduler = cls.from_config(self.pipe.scheduler.config)

    def provenance(self) -> dict[str, Any]:
        """Pipeline class, where it came from, each part's sha256, scheduler, dtype, device, its frame rule and
        defaults, and what speed_up did (compiled modules, VAE decode chunking)."""
        den = getattr(self.pipe, self.spec.denoiser)
        frames, height, width = self._defaults()
        defaults = {"num_frames": frames, "height": height, "width": width,
                    **{a: self._default(a) for a in ("num_inference_steps", "guidance_scale")}}
        return {"model": self.name, "pipeline": type(self.pipe).__name__, "preset": self.preset,
                "weights": dict(self.weights),
                "random_weights": self.preset in ("tiny", "full-random") or bool(self.random_reason),
                "sources": {"pipeline": self.source,
                            **({"random_weights": self.random_reason} if self.random_reason else {})},
                "scheduler": type(self.pipe.scheduler).__name__, "dtype": str(den.dtype), "device": str(den.device),
                "frames_rule": frames_rule(temporal_ratio(self.pipe), frame_limit(self.pipe, self.spec)),
                "pipeline_defaults": defaults, **self.speed}

    def modules(self) -> dict[str, torch.nn.Module]:
        """The UNet or transformer, and the VAE."""
        return {"denoiser": getattr(self.pipe, self.spec.denoiser), "decoder": self.pipe.vae}


def read_folder(name: str, model: str | os.PathLike | None,
                dtype: torch.dtype) -> tuple[Any, PipelineSpec, str, dict[str, str]]:
    """The pipeline saved at `model` (local files only), checked from model_index.json before any weight is read:
    the class this generator adapts, or for the generic entry any class meeting the contract."""
    wanted = SPECS.get(name)
    folder = model_folder(model, name, wanted.pipeline_class if wanted else "a text-to-video pipeline class")
    index = read_index(folder)
    found = index["_class_name"]
    if wanted is not None and found != wanted.pipeline_class:
        owner = next((n for n, s in SPECS.items() if s.pipeline_class == found), GENERIC)
        raise WeightsError(f"{folder} holds a {found}, but generator {name!r} adapts {wanted.pipeline_class}. Use "
                           f"--generator {owner}.")
    cls = pipeline_class(found, folder)
    spec = wanted or spec_for_class(found, index, folder)
    check_contract(cls, folder, spec.frames_arg)
    return load_folder(cls, folder, dtype), spec, str(folder), folder_digests(folder)


def build_random(generator: str, preset: str, device: torch.device) -> tuple[Any, str]:
    """The random-weight pipeline of a preset and where it came from: "tiny" (built on the CPU, the same weights on
    any device) or "full-random" (the full sizes of generators.full_configs, built on `device`; timing only)."""
    from vidrd_bench.generators.full_configs import FULL_T2V
    from vidrd_bench.generators.tiny import STAND_INS, build_tiny

    name = STAND_INS.get(generator, generator)
    if preset == "tiny":
        return build_tiny(generator), f"random init, seed 0, generators.tiny_configs.TINY_T2V[{name!r}]"
    if name not in FULL_T2V:
        raise GeneratorError(f"Generator {generator!r} has no full-size configuration for preset full-random (those "
                             f"with one: {', '.join(FULL_T2V)}); time it with --model DIR instead.")
    # Built in bf16 off the CPU (the run's dtype): HunyuanVideo's 13 B transformer and 8 B text model would not fit
    # an 80 GB card in float32 before the cast.
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    with torch.device(device), default_dtype(dtype):
        pipe = build_tiny(generator, configs=FULL_T2V)
    pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)  # its tables on the CPU, as loaded ones
    return pipe, f"random init, seed 0 on {device.type}, generators.full_configs.FULL_T2V[{name!r}]"


def load(generator: str, preset: str = "model", model: str | os.PathLike | None = None, device: str | None = None,
         compile: bool | None = None, **_: Any) -> DiffusersGenerator:
    """The `generator` adapter: its tiny random pipeline (preset tiny) or the folder `model`, on `device`.

    dtype: bfloat16 on CUDA, float32 on the CPU; compile defaults to on for CUDA, off elsewhere.
    """
    from vidrd_bench.core.devices import pick_device
    from vidrd_bench.core.weights import state_sha256

    from vidrd_bench.generators import quiet

    quiet.install()
    dev = pick_device(device)
    compile = dev.type == "cuda" if compile is None else bool(compile)
    if compile and dev.type != "cuda":
        print(f"note: --compile on {dev.type} compiles the denoiser and VAE decoder with torch.compile first, which "
              "takes minutes before the first video (pass --no-compile to start at once).", file=sys.stderr)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    if preset in ("tiny", "full-random"):
        pipe, source = build_random(generator, preset, dev)
        spec = SPECS.get(generator) or spec_for_class(type(pipe).__name__, pipe.config)
        weights = {k: state_sha256(m) for k, m in pipe.components.items() if isinstance(m, torch.nn.Module)}
        pipe.to(dtype=dtype) if dtype != torch.float32 else None
        random_reason = None
    else:
        from vidrd_bench.generators.tiny import random_weights_reason

        pipe, spec, source, weights = read_folder(generator, model, dtype)
        random_reason = random_weights_reason(Path(source), pipe)
    pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    if spec.vae_tiling:
        pipe.vae.enable_tiling()
    return DiffusersGenerator(generator, pipe, spec, preset, source, weights,
                              speed_up(pipe, SpeedOptions(compile=compile).on(dev)), random_reason)


def settings_presets(name: str, tiny: Mapping[str, Any], **defaults: Any) -> list[DiffusersSettings]:
    """`name` (the pipeline's own defaults) and `name`-tiny (32x32, 2 steps, plus `tiny`: e.g. a frame count of at
    least 16 that the tiny VAE's time ratio allows; tests, smoke)."""
    full = DiffusersSettings(name=name, **defaults)
    return [full, dataclasses.replace(full, name=f"{name}-tiny", height=32, width=32, num_inference_steps=2, **tiny)]
