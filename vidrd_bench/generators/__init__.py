"""Every text-to-video model the benchmark can render with: the GENERATORS registry (entries load lazily).

Add a model in one file: a Generator subclass, a settings dataclass with named presets, and one
`GENERATORS.register(...)` call (README, "Adding a model").
"""

from vidrd_bench.models.vidrd.configs import VIDRD_FILES
from vidrd_bench.models.vidrd.settings import VIDRD_PRESETS, VIDRD_SETTINGS
from vidrd_bench.generators.base import GENERATORS, Generator, GeneratorEntry, GeneratorError, Preset
from vidrd_bench.generators.diffusers_t2v import DiffusersSettings, settings_presets
from vidrd_bench.core.registry import Registry

__all__ = ["GENERATORS", "Generator", "GeneratorEntry", "GeneratorError", "Preset"]


GENERATORS.register("vidrd", GeneratorEntry(
    name="vidrd",
    summary="VidRD (Reuse and Diffuse): SD 2.1 video UNet, FNR/PNS/DSG clip-by-clip sampling, temporal VAE",
    loader="vidrd_bench.generators.vidrd:load",
    settings=VIDRD_SETTINGS,
    compiles=True,
    precisions=("bf16", "fp8-e4m3"),
    presets=tuple(Preset(name, settings, "tiny-smoke" if name == "tiny" else "ucf101-vidrd", what,
                         needs=VIDRD_FILES if name == "full" else (), random_weights=name != "full")
                  for name, (settings, what) in VIDRD_PRESETS.items()),
))


def _diffusers_entry(name: str, summary: str, pipeline: str, model_help: str, **defaults) -> GeneratorEntry:
    """A diffusers adapter's entry: presets model (--model DIR) and tiny (random, in code); its two settings."""
    settings: Registry[DiffusersSettings] = Registry(f"{name} settings", DiffusersSettings)
    for s in settings_presets(name, **defaults):
        settings.register(s.name, s)
    return GeneratorEntry(
        name=name, summary=summary, loader="vidrd_bench.generators.diffusers_t2v:load", settings=settings,
        presets=(Preset("model", name, "ucf101-vidrd", f"your model: a diffusers-layout folder ({pipeline}) as --model DIR",
                        needs_model=True),
                 Preset("tiny", f"{name}-tiny", "tiny-smoke", "a tiny random pipeline built in code (tests, smoke)",
                        random_weights=True)),
        model_help=model_help,
    )


# Settings defaults: each pipeline's own __call__ defaults in diffusers 0.42 (steps, guidance); frames, size and
# CogVideoX's text length default to the model's configs.
GENERATORS.register("modelscope", _diffusers_entry(
    "modelscope", "diffusers TextToVideoSDPipeline: ModelScope text-to-video-ms-1.7b, Zeroscope", "TextToVideoSDPipeline",
    "e.g. damo-vilab/text-to-video-ms-1.7b or cerspense/zeroscope_v2_576w, downloaded whole",
    num_inference_steps=50, guidance_scale=9.0))
GENERATORS.register("animatediff", _diffusers_entry(
    "animatediff", "diffusers AnimateDiffPipeline: an SD 1.5 model with a motion adapter", "AnimateDiffPipeline",
    "an AnimateDiffPipeline saved with save_pretrained (SD 1.5 parts + motion_adapter/)",
    num_inference_steps=50, guidance_scale=7.5))
GENERATORS.register("cogvideox", _diffusers_entry(
    "cogvideox", "diffusers CogVideoXPipeline: the CogVideoX diffusion transformer (DiT)", "CogVideoXPipeline",
    "e.g. THUDM/CogVideoX-2b or CogVideoX-5b, downloaded whole",
    num_inference_steps=50, guidance_scale=6.0))
