"""The diffusers pipelines registered as generators, one row each: what `vidrd-bench generators` and the README say.

Settings defaults are each pipeline's own `__call__` defaults in diffusers 0.42 (steps, guidance, negative prompt;
tests/generators/test_diffusers_adapters.py checks them against the installed diffusers); frames and size are left to
the pipeline (its `__call__` defaults, else its configs), and `native` states what they are on the reference model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vidrd_bench.core.registry import Registry
from vidrd_bench.generators.base import GeneratorEntry, Preset
from vidrd_bench.generators.full_configs import FULL_T2V
from vidrd_bench.generators.diffusers_t2v import GENERIC, SPECS, DiffusersSettings, settings_presets


@dataclass(frozen=True)
class DiffusersModel:
    """One diffusers pipeline as a registry entry: its summary, --model help, reference shape and frame rule, settings
    defaults, and what its tiny settings change (a frame count of at least 16 its tiny VAE allows)."""

    name: str
    summary: str
    model_help: str
    native: tuple[int, int, int] | None
    frames_rule: str
    defaults: dict[str, Any] = field(default_factory=dict)
    tiny: dict[str, Any] = field(default_factory=dict)

    @property
    def pipeline(self) -> str:
        """The pipeline class it adapts (the generic entry: whichever model_index.json names)."""
        return SPECS[self.name].pipeline_class if self.name in SPECS else "any text-to-video pipeline"

    def entry(self) -> GeneratorEntry:
        """Its registry entry: presets model (--model DIR) and tiny (random, in code), its two settings."""
        settings: Registry[DiffusersSettings] = Registry(f"{self.name} settings", DiffusersSettings)
        for s in settings_presets(self.name, self.tiny, **self.defaults):
            settings.register(s.name, s)
        tiny = ("a tiny random WanPipeline built in code, adapted as any folder's pipeline is" if self.name == GENERIC
                else "a tiny random pipeline built in code")
        return GeneratorEntry(
            name=self.name, summary=self.summary, loader="vidrd_bench.generators.diffusers_t2v:load",
            settings=settings,
            presets=(Preset("model", self.name, "ucf101-vidrd",
                            f"your model: a diffusers-layout folder ({self.pipeline}) as --model DIR", needs_model=True),
                     Preset("tiny", f"{self.name}-tiny", "tiny-smoke", f"{tiny} (tests, smoke)",
                            random_weights=True),
                     *([Preset("full-random", self.name, "ucf101-vidrd", "the full architecture with random "
                               "weights, built on the device (timing only: `bench`)", random_weights=True)]
                       if self.name in FULL_T2V else [])),
            model_help=f"a local folder (a hub id is never fetched): {self.model_help} to a folder with "
                       "huggingface-cli download REPO --local-dir DIR" if "downloaded whole" in self.model_help
            else self.model_help, compiles=True, native=self.native, frames_rule=self.frames_rule,
        )


DIFFUSERS_MODELS = (
    DiffusersModel("modelscope", "diffusers TextToVideoSDPipeline: ModelScope text-to-video-ms-1.7b, Zeroscope",
                   "e.g. damo-vilab/text-to-video-ms-1.7b or cerspense/zeroscope_v2_576w downloaded whole",
                   (16, 256, 256), "any", {"num_inference_steps": 50, "guidance_scale": 9.0}),
    DiffusersModel("animatediff", "diffusers AnimateDiffPipeline: an SD 1.5 model with a motion adapter",
                   "an AnimateDiffPipeline saved with save_pretrained (SD 1.5 parts + motion_adapter/)",
                   (16, 512, 512), "any, up to 32", {"num_inference_steps": 50, "guidance_scale": 7.5}),
    DiffusersModel("cogvideox", "diffusers CogVideoXPipeline: the CogVideoX diffusion transformer (DiT)",
                   "e.g. THUDM/CogVideoX-2b or CogVideoX-5b downloaded whole",
                   (49, 480, 720), "1 + 4k", {"num_inference_steps": 50, "guidance_scale": 6.0}, {"num_frames": 17}),
    DiffusersModel("wan", "diffusers WanPipeline: Wan 2.1 / 2.2 text-to-video (flow-matching DiT, UMT5 text "
                   "encoder, causal 3D VAE)",
                   "e.g. Wan-AI/Wan2.1-T2V-1.3B-Diffusers or Wan2.1-T2V-14B-Diffusers downloaded whole",
                   (81, 480, 832), "1 + 4k", {"num_inference_steps": 50, "guidance_scale": 5.0}, {"num_frames": 17}),
    DiffusersModel("ltx", "diffusers LTXPipeline: LTX-Video (DiT on a 32x-space, 8x-time VAE, T5 text encoder)",
                   "e.g. Lightricks/LTX-Video (its diffusers-layout folder) downloaded whole",
                   (161, 512, 704), "1 + 8k", {"num_inference_steps": 50, "guidance_scale": 3.0}, {"num_frames": 17}),
    DiffusersModel("hunyuanvideo", "diffusers HunyuanVideoPipeline: HunyuanVideo (DiT, Llama + CLIP text encoders, "
                   "embedded guidance, no negative prompt)",
                   "e.g. hunyuanvideo-community/HunyuanVideo downloaded whole",
                   (129, 720, 1280), "1 + 4k", {"num_inference_steps": 50, "guidance_scale": 6.0},
                   # the tiny byte-level Llama tokenizer spends a token per byte of the prompt template
                   {"num_frames": 17, "max_sequence_length": 640}),
    DiffusersModel("mochi", "diffusers MochiPipeline: Mochi 1 (asymmetric DiT, T5 text encoder, 6x-time VAE)",
                   "e.g. genmo/mochi-1-preview downloaded whole",
                   (19, 480, 848), "1 + 6k", {"num_inference_steps": 64, "guidance_scale": 4.5}, {"num_frames": 19}),
    DiffusersModel("latte", "diffusers LattePipeline: Latte (latent video DiT on the SD VAE, T5 text encoder)",
                   "e.g. maxin-cn/Latte-1 downloaded whole",
                   (16, 512, 512), "16", {"num_inference_steps": 50, "guidance_scale": 7.5, "negative_prompt": ""}),
    DiffusersModel(GENERIC, "any diffusers text-to-video pipeline folder: class from model_index.json (the call "
                   "contract: README, 'Any diffusers pipeline')",
                   "a text-to-video pipeline saved with save_pretrained; image-to-video and video-to-video pipelines "
                   "are refused", None, "1 + rk (r: how many frames its VAE folds into one latent frame)",
                   {"num_inference_steps": None, "guidance_scale": None}, {"num_frames": 17}),
)
