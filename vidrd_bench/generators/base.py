"""The generator interface: any text-to-video model as `generator(prompts, seeds, settings) -> uint8 videos`.

In the spirit of lm-evaluation-harness's `LM` + model registry and diffusers' `DiffusionPipeline`: a model is one
`Generator` subclass plus one `GeneratorEntry` in `vidrd_bench.generators.GENERATORS`. The benchmark hands every
generator the same evaluation protocol (protocols.EvalProtocol); what the model does to render (steps, guidance,
sampler) is its own `GeneratorSettings`, recorded beside the protocol in every run.
"""

from __future__ import annotations

import contextlib
import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.precisions import DEFAULT_PRECISION, PRECISIONS, PrecisionError
from vidrd_bench.protocols import GeneratorSettings, check_prompts_seeds
from vidrd_bench.core.registry import Registry


class GeneratorError(VidrdBenchError):
    """A generator was asked for something it cannot do (inputs, settings, sizes)."""


class Generator(ABC):
    """A text-to-video model: prompts + seeds + its settings -> uint8 videos (B, T, H, W, 3) on the CPU.

    Contract (tests/generators/test_conformance.py checks it for every registered entry): a video depends only on
    its prompt, seed and the settings, and on the batch it lands in only through float rounding of batched kernels
    (which is why `generate` always renders the same fixed batches of the plan);
    `deterministic_note` says where a model cannot promise that.
    """

    settings_type: type[GeneratorSettings] = GeneratorSettings
    deterministic_note: str = ("per-video CPU generators seeded by the video's seed; batched kernels may move a rare "
                               "uint8 level with the batch's make-up, so generate renders the plan's fixed batches")
    decode_method: str = "decode"  # the decoder's method `bench` times (replaying the calls one video made)
    eager_decode_kwargs: dict[str, Any] = {}  # extra arguments that make that method run eagerly (FLOP counting)
    videos_per_call: int | None = None  # the most videos one model call renders (None: the whole batch it is given)

    @abstractmethod
    def generate(self, prompts: list[str], seeds: list[int], settings: GeneratorSettings) -> torch.Tensor:
        """Render checked inputs; uint8 (B, T, H, W, 3) on the CPU."""

    @abstractmethod
    def native_shape(self, settings: GeneratorSettings) -> tuple[int, int, int]:
        """(frames, height, width) that `settings` render."""

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """What produced the videos: model name, preset, weight files and their sha256, sources, dtype, device."""

    @abstractmethod
    def modules(self) -> dict[str, torch.nn.Module]:
        """The networks `bench` times: 'denoiser' (the UNet or transformer) and 'decoder' (the VAE); where the
        denoiser replays a captured CUDA graph, also 'denoiser_ungraphed' (the same module called without it)."""

    @property
    def precision(self) -> str:
        """The precision it renders with (precisions.PRECISIONS); generators without the option: the protocol's."""
        return DEFAULT_PRECISION

    def precision_agreement(self, prompts: list[str], seeds: list[int], settings: GeneratorSettings
                            ) -> dict[str, Any] | None:
        """uint8 agreement of these videos with their protocol-precision render (None when it renders with that)."""
        return None

    def kernel_context(self) -> contextlib.AbstractContextManager:
        """The context its own calls run the denoiser in (kernel choices such as the attention backend order);
        bench replays denoiser calls inside it. The default changes nothing."""
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def unpadded(self) -> Iterator[None]:
        """Inside the block each call renders exactly its own batch (bench's memory probe); a generator that pads
        batches to the size it was compiled at lifts that here. The default renders every batch as given."""
        yield

    def __call__(self, prompts: list[str], seeds: list[int], settings: GeneratorSettings) -> torch.Tensor:
        """Check inputs and settings, render, and check the result's dtype and shape."""
        check_prompts_seeds(prompts, seeds, GeneratorError)
        if not isinstance(settings, self.settings_type):
            raise GeneratorError(f"{type(self).__name__} takes {self.settings_type.__name__}, got "
                                 f"{type(settings).__name__} ({getattr(settings, 'name', settings)!r}).")
        videos = self.generate(list(prompts), [int(s) for s in seeds], settings)
        expected = (len(prompts), *self.native_shape(settings), 3)
        if videos.dtype != torch.uint8 or tuple(videos.shape) != expected:
            raise GeneratorError(f"{type(self).__name__} returned {videos.dtype} {tuple(videos.shape)}; the interface "
                                 f"promises uint8 {expected}. This is a bug in the generator adapter.")
        return videos


def frames_to_uint8(frames01: torch.Tensor) -> torch.Tensor:
    """Frames in [0, 1] -> uint8 by (255 x + 0.5) truncated: VidRD's (y * 127.5 + 128) on y = 2x - 1 in [-1, 1]."""
    return (frames01.float().clamp(0, 1) * 255 + 0.5).clamp(0, 255).to(torch.uint8)


@dataclass(frozen=True)
class Preset:
    """A named way to build a generator: which settings and evaluation protocol it defaults to, which files it needs."""

    name: str
    settings: str
    protocol: str
    help: str
    needs: tuple[str, ...] = ()
    needs_model: bool = False
    random_weights: bool = False  # its videos come from random weights: any score of them is a smoke number


@dataclass(frozen=True)
class GeneratorEntry:
    """A registered generator: its presets and named settings, what it needs, and a lazy loader ("module:function").

    The loader is called as loader(generator=name, preset=..., model=..., weights_dir=..., device=..., settings=...,
    compile=..., allow_partial=..., precision=...) and returns a Generator; nothing heavy is imported until then.
    """

    name: str
    summary: str
    loader: str
    settings: Registry
    presets: tuple[Preset, ...]
    model_help: str = ""
    extras: dict[str, str] = field(default_factory=dict)
    compiles: bool = False  # whether its loader honours compile= (torch.compile); others always render eager
    precisions: tuple[str, ...] = (DEFAULT_PRECISION,)  # precisions.PRECISIONS names its loader honours (precision=)
    native: tuple[int, int, int] | None = None  # (frames, height, width) of its reference model where the default
    # settings leave them to the model (None: read from the default settings, or unknown until loaded)
    frames_rule: str = ""  # the frame counts it can render, e.g. "1 + 4k" (a VAE that compresses time 4x)

    def native_shape(self) -> tuple[int, int, int] | None:
        """(frames, height, width) its default preset renders: `native`, else its default settings' where complete."""
        if self.native is not None:
            return self.native
        size = self.settings.get(self.default_preset.settings).native_size()
        return None if None in size else size

    @property
    def default_preset(self) -> Preset:
        """The first preset: what `--generator NAME` alone builds."""
        return self.presets[0]

    def preset(self, name: str | None) -> Preset:
        """The named preset (default: the first), or a clear error naming the known ones."""
        if name is None:
            return self.default_preset
        for p in self.presets:
            if p.name == name:
                return p
        raise GeneratorError(f"Generator {self.name!r} has no preset {name!r}; choose one of "
                             f"{', '.join(p.name for p in self.presets)} (see `vidrd-bench generators`).")

    def check_precision(self, name: str) -> str:
        """The precision's registered name, refused where this generator cannot render with it."""
        name = PRECISIONS.get(name).name
        if name not in self.precisions:
            raise PrecisionError(f"Generator {self.name!r} renders only with precision {', '.join(self.precisions)}, "
                                 f"not {name!r}. Drop --precision, or use a generator that has it (`vidrd-bench "
                                 "generators` lists each one's precisions).")
        return name

    def load(self, **kwargs: Any) -> Generator:
        """Import the loader and build the generator."""
        module, _, attr = self.loader.partition(":")
        build: Callable[..., Generator] = getattr(importlib.import_module(module), attr)
        return build(generator=self.name, **kwargs)


GENERATORS: Registry[GeneratorEntry] = Registry("generator", GeneratorEntry)
