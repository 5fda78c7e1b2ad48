"""diffusers' own text-to-video pipelines as generators: ModelScope/Zeroscope, AnimateDiff and CogVideoX.

The adapter only maps the benchmark's call onto the pipeline's: prompts, one CPU `torch.Generator` per video seeded
with the video's seed (diffusers draws each video's latents from its own generator, so a video does not depend on
its batch), steps, guidance, negative prompt, frames and size from the settings; `output_type="np"` frames in [0, 1]
become uint8 by base.frames_to_uint8. Models are read from a local folder in diffusers layout (model_index.json).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.generators.base import Generator, GeneratorError, frames_to_uint8
from vidrd_bench.protocols import GeneratorSettings


@dataclass(frozen=True)
class DiffusersSettings(GeneratorSettings):
    """A diffusers pipeline's call arguments; size and frames None = the pipeline's own default (from its configs).

    scheduler: a diffusers scheduler class name built from the folder's scheduler config (None: the folder's own).
    max_sequence_length: the text length for pipelines that take it (CogVideoX); None = the denoiser config's
    max_text_seq_length where it has one (the length its text positions were built for).
    """

    height: int | None = None
    width: int | None = None
    num_frames: int | None = None
    num_inference_steps: int = 50
    guidance_scale: float = 7.5
    negative_prompt: str | None = None
    scheduler: str | None = None
    max_sequence_length: int | None = None


@dataclass(frozen=True)
class PipelineSpec:
    """What differs between diffusers pipelines: the class, the denoiser's attribute, the frame-count rule."""

    pipeline_class: str
    denoiser: str
    frames_rule: str = ""


SPECS = {
    "modelscope": PipelineSpec("TextToVideoSDPipeline", "unet"),
    "animatediff": PipelineSpec("AnimateDiffPipeline", "unet"),
    "cogvideox": PipelineSpec("CogVideoXPipeline", "transformer", frames_rule="temporal"),
}


class DiffusersGenerator(Generator):
    """One diffusers text-to-video pipeline behind the generator interface."""

    settings_type = DiffusersSettings

    def __init__(self, name: str, pipe: Any, preset: str, source: str, weights: dict[str, str]) -> None:
        self.name, self.pipe, self.spec, self.preset = name, pipe, SPECS[name], preset
        self.source, self.weights = source, weights
        self.deterministic_note = ("per-video CPU generators (diffusers draws each video's latents from its own); "
                                   "batched kernels may move a rare uint8 level")

    def _defaults(self) -> tuple[int, int, int]:
        """The pipeline's own (frames, height, width) when the settings leave them to it (as its __call__ does)."""
        cfg = getattr(self.pipe, self.spec.denoiser).config
        scale = getattr(self.pipe, "vae_scale_factor_spatial", None) or self.pipe.vae_scale_factor
        frames = inspect.signature(self.pipe.__call__).parameters["num_frames"].default
        frames = frames if isinstance(frames, int) else cfg["sample_frames"]
        return frames, (cfg.get("sample_height") or cfg["sample_size"]) * scale, \
            (cfg.get("sample_width") or cfg["sample_size"]) * scale

    def native_shape(self, settings: DiffusersSettings) -> tuple[int, int, int]:
        """(frames, height, width) the pipeline renders; CogVideoX's frames must be 1 + k * its VAE's time ratio."""
        frames, height, width = (mine or theirs for mine, theirs in zip(settings.native_size(), self._defaults()))
        ratio = getattr(self.pipe, "vae_scale_factor_temporal", 1)
        if self.spec.frames_rule == "temporal" and (frames - 1) % ratio:
            raise GeneratorError(f"{self.name} renders 1 + k * {ratio} frames (its VAE compresses time {ratio}x); "
                                 f"settings {settings.name!r} ask for {frames}. Use e.g. {frames - (frames - 1) % ratio}"
                                 f" or {frames - (frames - 1) % ratio + ratio} frames; extra frames are trimmed.")
        return frames, height, width

    def _call_kwargs(self, prompts: list[str], seeds: list[int], settings: DiffusersSettings) -> dict[str, Any]:
        """The pipeline's keyword arguments for this batch."""
        frames, height, width = self.native_shape(settings)
        kwargs = {"prompt": prompts, "height": height, "width": width, "num_frames": frames,
                  "num_inference_steps": settings.num_inference_steps, "guidance_scale": settings.guidance_scale,
                  "generator": [torch.Generator(device="cpu").manual_seed(s) for s in seeds], "output_type": "np"}
        if settings.negative_prompt is not None:
            kwargs["negative_prompt"] = [settings.negative_prompt] * len(prompts)
        text_length = settings.max_sequence_length or getattr(self.pipe, self.spec.denoiser).config.get(
            "max_text_seq_length")
        if text_length is not None:
            kwargs["max_sequence_length"] = text_length
        return kwargs

    def generate(self, prompts: list[str], seeds: list[int], settings: DiffusersSettings) -> torch.Tensor:
        """Run the pipeline once for the batch; frames (B, T, H, W, 3) in [0, 1] -> uint8."""
        self._use_scheduler(settings.scheduler)
        with torch.no_grad():
            frames = self.pipe(**self._call_kwargs(prompts, seeds, settings)).frames
        return frames_to_uint8(torch.as_tensor(frames))

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
        """Pipeline class, where it came from, each part's sha256, scheduler, dtype and device."""
        den = getattr(self.pipe, self.spec.denoiser)
        return {"model": self.name, "pipeline": type(self.pipe).__name__, "preset": self.preset,
                "weights": dict(self.weights), "sources": {"pipeline": self.source},
                "scheduler": type(self.pipe.scheduler).__name__, "dtype": str(den.dtype), "device": str(den.device)}

    def modules(self) -> dict[str, torch.nn.Module]:
        """The UNet or transformer, and the VAE."""
        return {"denoiser": getattr(self.pipe, self.spec.denoiser), "decoder": self.pipe.vae}


def folder_digests(folder: Path) -> dict[str, str]:
    """sha256 of model_index.json and of every part folder it names (file_sha256 over the folder's files)."""
    from vidrd_bench.core.weights import file_sha256

    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    parts = [k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and v[0]]
    return {"model_index.json": file_sha256(folder / "model_index.json"),
            **{part: file_sha256(folder / part) for part in parts if (folder / part).exists()}}


def _read_folder(name: str, model: str | os.PathLike | None, dtype: torch.dtype) -> tuple[Any, str, dict[str, str]]:
    """The pipeline saved at `model`, checked to be the class this generator adapts."""
    import diffusers

    spec = SPECS[name]
    folder = Path(model) if model is not None else None
    if folder is None or not (folder / "model_index.json").is_file():
        raise WeightsError(f"Generator {name!r} needs --model DIR: a folder in diffusers layout (model_index.json "
                           f"naming {spec.pipeline_class}, plus one folder per part), got {model!r}. Download the "
                           "model's whole repository folder (e.g. with huggingface-cli download) and pass its path; "
                           "vidrd-bench never downloads weights.")
    found = json.loads((folder / "model_index.json").read_text(encoding="utf-8")).get("_class_name")
    if found != spec.pipeline_class:
        owner = next((n for n, s in SPECS.items() if s.pipeline_class == found), None)
        hint = f" Use --generator {owner}." if owner else ""
        raise WeightsError(f"{folder} holds a {found}, but generator {name!r} adapts {spec.pipeline_class}.{hint}")
    try:
        pipe = getattr(diffusers, spec.pipeline_class).from_pretrained(folder, dtype=dtype)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise WeightsError(f"Cannot load the {spec.pipeline_class} at {folder} ({type(exc).__name__}: {exc}). "
                           "Check that every part folder named in model_index.json is complete.") from exc
    return pipe, str(folder), folder_digests(folder)


def load(generator: str, preset: str = "model", model: str | os.PathLike | None = None, device: str | None = None,
         **_: Any) -> DiffusersGenerator:
    """The `generator` adapter: its tiny random pipeline (preset tiny) or the folder `model`, on `device`.

    dtype: bfloat16 on CUDA, float32 on the CPU.
    """
    from vidrd_bench.core.devices import pick_device
    from vidrd_bench.core.weights import state_sha256

    dev = pick_device(device)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    if preset == "tiny":
        from vidrd_bench.generators.tiny import build_tiny

        pipe = build_tiny(generator)
        source = f"random init, seed 0, generators.tiny_configs.TINY_T2V[{generator!r}]"
        weights = {k: state_sha256(m) for k, m in pipe.components.items() if isinstance(m, torch.nn.Module)}
        pipe.to(dtype=dtype) if dtype != torch.float32 else None
    else:
        pipe, source, weights = _read_folder(generator, model, dtype)
    pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    return DiffusersGenerator(generator, pipe, preset, source, weights)


def settings_presets(name: str, **defaults: Any) -> list[DiffusersSettings]:
    """`name` (the pipeline's own defaults) and `name`-tiny (32x32, 2 steps, at least 16 frames: tests, smoke).

    """
    full = DiffusersSettings(name=name, **defaults)
    frames = 17 if SPECS[name].frames_rule == "temporal" else None
    tiny = dataclasses.replace(full, name=f"{name}-tiny", height=32, width=32, num_frames=frames, num_inference_steps=2)
    return [full, tiny]
