"""Every text-to-video model the benchmark can render with: the GENERATORS registry (entries load lazily).

Add a model in one file: a Generator subclass, a settings dataclass with named presets, and one
`GENERATORS.register(...)` call (README, "Adding a model"); a diffusers pipeline: one PipelineSpec in
generators.diffusers_t2v.SPECS, one row in generators.diffusers_models.DIFFUSERS_MODELS and a tiny configuration.
"""

from vidrd_bench.models.vidrd.configs import VIDRD_FILES
from vidrd_bench.models.vidrd.settings import VIDRD_PRESETS, VIDRD_SETTINGS
from vidrd_bench.generators.base import GENERATORS, Generator, GeneratorEntry, GeneratorError, Preset
from vidrd_bench.generators.diffusers_models import DIFFUSERS_MODELS

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


# diffusers' pipelines, one row each (generators.diffusers_models): ModelScope, AnimateDiff, CogVideoX, Wan, LTX-Video,
# HunyuanVideo, Mochi, Latte, and the generic `diffusers` entry (any text-to-video pipeline folder).
for _model in DIFFUSERS_MODELS:
    GENERATORS.register(_model.name, _model.entry())
