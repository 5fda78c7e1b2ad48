"""How vidrd-bench runs a diffusers pipeline faster than the pipeline alone: the levers, as options, and speed_up.

Each lever keeps the pipeline's own call and math (tests/generators/test_diffusers_speed.py checks the videos against
the plain pipeline's on the CPU; benchmarks/diffusers_peer.py times each lever against diffusers' own pipeline, eager
and compiled, on one GPU):
- `compile`: the denoiser(s) under torch.compile (`cuda_graphs` off: its default mode; on: "reduce-overhead", which
  replays the fixed-shape step as a CUDA graph), and a VAE decoder that decodes in one plain call (PLAIN_DECODE_VAES).
- `attention`: the scaled-dot-product backends tried first, in order ("cudnn": cuDNN's fused attention, then flash,
  then memory-efficient; "default": PyTorch's own order). cuDNN's kernel is the fastest PyTorch has on Hopper.
- `channels_last`: a UNet's 2-D convolutions in channels-last memory, which cuDNN's bf16 convolutions prefer.
- `fuse_qkv`: the query/key/value projections of self-attention as one matrix product (diffusers'
  `fuse_qkv_projections`).
- `video_unet`: with `compile`, a diffusers UNet3DConditionModel (ModelScope) rewritten in the VidRD UNet's fast
  layout (generators/unet3d_speed.py: per-channel-statistics GroupNorm, frame-major temporal transformer,
  channels-last Temp-Conv); eager runs keep diffusers' modules, whose videos they equal bit for bit.
- `guided_pair`: with `compile` on a GPU, a pipeline that calls its denoiser twice per step (Wan: conditional, then
  unconditional) runs both as one batch (generators/guided_pair.py): 1.3% faster per guided call at Wan 2.1 1.3B's
  shapes on an H100, for 0.86 GiB more peak memory (benchmarks/README.md); eager runs keep the pipeline's two calls.
- VAE decode: a video VAE one video per call (`vae.enable_slicing()`), so peak memory does not grow with the batch;
  a frame VAE (FRAME_VAES) in the pipeline's own frame chunks, or where the pipeline decodes every frame of the batch
  at once (ModelScope), in chunks of `decode_frames` frames (FrameChunks): at ModelScope's shapes on an H100 one
  video's 16 frames decode in 24 ms at 4.7 GiB peak, eight videos' 128 at once in 348 ms at 22.5 GiB.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from vidrd_bench.generators.guided_pair import GuidedPairDenoiser
from vidrd_bench.generators.unet3d_speed import rewrite_unet3d
from vidrd_bench.generators.wrapping import Wrapping

DENOISERS = ("unet", "transformer", "transformer_2")
# VAEs whose decode is one plain `self.decoder(z)` call (no per-frame cache loop): their decoder compiles as a whole.
PLAIN_DECODE_VAES = frozenset({"AutoencoderKL", "AutoencoderKLLTXVideo", "AutoencoderKLHunyuanVideo",
                               "AutoencoderKLMochi"})
# Image VAEs that pipelines feed frames as the batch (a video VAE's batch item is a whole video).
FRAME_VAES = frozenset({"AutoencoderKL", "AutoencoderTiny", "AsymmetricAutoencoderKL", "ConsistencyDecoderVAE",
                        "AutoencoderKLTemporalDecoder"})
ATTENTION_ORDERS = {
    "cudnn": ("CUDNN_ATTENTION", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH"),
    "default": (),
}


@dataclass(frozen=True)
class SpeedOptions:
    """Which levers speed_up pulls. Measured (benchmarks/README.md, claims; H100, bf16, per guided call against
    diffusers' compiled pipeline): ModelScope's shapes 1.13x with `video_unet`, 1.01x without; Wan 2.1 1.3B's 1.01x
    with `guided_pair`, 1.00x without. CUDA graphs and fused q/k/v stay off until timed."""

    compile: bool = True
    cuda_graphs: bool = False
    attention: str = "cudnn"
    channels_last: bool = True
    fuse_qkv: bool = False
    video_unet: bool = True
    guided_pair: bool = True
    decode_frames: int = 16

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_ORDERS:
            raise ValueError(f"attention={self.attention!r}; one of {', '.join(ATTENTION_ORDERS)}")
        if self.decode_frames < 1:
            raise ValueError(f"decode_frames={self.decode_frames}; at least 1 frame per decoder call")

    def on(self, device: torch.device) -> "SpeedOptions":
        """The options that apply on `device`: CUDA graphs, attention kernels and memory layout are GPU levers, and
        the guided pair a compiled GPU lever, as measured (compile is the caller's choice on any device)."""
        if device.type == "cuda":
            return dataclasses.replace(self, guided_pair=self.guided_pair and self.compile)
        return dataclasses.replace(self, cuda_graphs=False, attention="default", channels_last=False, guided_pair=False)


@contextlib.contextmanager
def attention_priority(order: str) -> Iterator[None]:
    """Run the block with SDPA trying the backends of ATTENTION_ORDERS[order] first (no-op for "default")."""
    names = ATTENTION_ORDERS[order]
    if not names:
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([getattr(SDPBackend, n) for n in names], set_priority=True):
        yield


class FrameChunks(Wrapping):
    """An image VAE's decoder run on at most `frames` frames per call, for pipelines that hand it every frame of the
    batch at once: peak memory stays that of one chunk, and each frame decodes as it would alone; everything else
    (up_blocks, conv_out...) is the wrapped decoder's."""

    def __init__(self, inner: torch.nn.Module, frames: int) -> None:
        super().__init__(inner)
        self.frames = frames

    def forward(self, sample: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The decoder on each chunk of frames, concatenated; a call with extra inputs runs whole."""
        if args or any(v is not None for v in kwargs.values()) or sample.shape[0] <= self.frames:
            return self.inner(sample, *args, **kwargs)
        return torch.cat([self.inner(chunk) for chunk in sample.split(self.frames)])


def _denoisers(pipe: Any) -> list[str]:
    """The pipeline's denoiser attributes that hold a module."""
    return [n for n in DENOISERS if isinstance(getattr(pipe, n, None), torch.nn.Module)]


def channels_last_convs(module: torch.nn.Module) -> None:
    """Every 2-D convolution's weight in channels-last memory (cuDNN then runs them, and their outputs, channels-last;
    a video UNet's 3-D convolutions keep their layout)."""
    for conv in module.modules():
        if isinstance(conv, torch.nn.Conv2d):
            conv.weight.data = conv.weight.data.to(memory_format=torch.channels_last)


def speed_up(pipe: Any, options: SpeedOptions) -> dict[str, Any]:
    """Pull the levers `options` names on `pipe` (module placement, fusion, compilation); returns what it did for
    provenance. The attention order applies per call: wrap each pipeline call in attention_priority."""
    vae = pipe.vae
    frame_vae = type(vae).__name__ in FRAME_VAES
    sliced = not frame_vae and hasattr(vae, "use_slicing") and hasattr(vae, "enable_slicing")
    if sliced:
        vae.enable_slicing()
    done: dict[str, Any] = {"compiled": [], "channels_last": [], "fused_qkv": []}
    for name in _denoisers(pipe):
        module = getattr(pipe, name)
        if options.video_unet and options.compile and type(module).__name__ == "UNet3DConditionModel":
            done["video_unet"] = rewrite_unet3d(module)
        if options.fuse_qkv and hasattr(module, "fuse_qkv_projections"):
            module.fuse_qkv_projections()
            done["fused_qkv"].append(name)
        if options.channels_last and name == "unet":
            channels_last_convs(module)
            done["channels_last"].append(name)
        if options.compile:
            mode = "reduce-overhead" if options.cuda_graphs else None
            setattr(pipe, name, torch.compile(module, dynamic=False, mode=mode))
            done["compiled"].append(name)
        if options.guided_pair:
            setattr(pipe, name, GuidedPairDenoiser(getattr(pipe, name)))
            done.setdefault("guided_pair", []).append(name)
    if options.compile and type(vae).__name__ in PLAIN_DECODE_VAES and \
            isinstance(getattr(vae, "decoder", None), torch.nn.Module):
        vae.decoder.compile(dynamic=False)
        done["compiled"].append("vae.decoder")
    chunk = inspect.signature(type(pipe).__call__).parameters.get("decode_chunk_size")
    if frame_vae and chunk is None and isinstance(getattr(vae, "decoder", None), torch.nn.Module):
        vae.decoder = FrameChunks(vae.decoder, options.decode_frames)
    decode = ("one video (vae.enable_slicing)" if sliced else
              f"frames in chunks of {chunk.default} (decode_chunk_size)" if chunk is not None and frame_vae
              else f"frames in chunks of {options.decode_frames} (FrameChunks)" if frame_vae else "the whole batch")
    done["vae_decode"] = decode + (", in tiles (vae.enable_tiling)" if getattr(vae, "use_tiling", False) else "")
    done["cuda_graphs"] = options.compile and options.cuda_graphs
    done["attention"] = options.attention
    return done
