"""Tiny random diffusers text-to-video pipelines built from generators/tiny_configs.TINY_T2V (tests, smoke, --save-tiny).

Weights are random (seeded); tokenizers are byte-level vocabularies built in code, so nothing comes from the network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch

from vidrd_bench.generators.tiny_configs import TINY_T2V
from vidrd_bench.models.vidrd.configs import TINY_TEXT


def _clip_text() -> dict[str, Any]:
    """CLIP tokenizer + text encoder (the byte-level vocabulary, models.vidrd.configs.TINY_TEXT)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    from vidrd_bench.models.vidrd.text import byte_level_tokenizer

    return {"tokenizer": byte_level_tokenizer(), "text_encoder": CLIPTextModel(CLIPTextConfig(**TINY_TEXT))}


def _t5_text(config: dict[str, Any], max_length: int) -> dict[str, Any]:
    """A byte-level T5-style tokenizer (pad 0, eos 1, unk 2, bytes from 3; EOS appended) + a tiny T5 encoder."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    vocab.update({s: i + 3 for i, s in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))})
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>", model_max_length=max_length)
    return {"tokenizer": tokenizer, "text_encoder": T5EncoderModel(T5Config(vocab_size=len(vocab), **config))}


def _modelscope(cfg: dict[str, Any]) -> Any:
    from diffusers import AutoencoderKL, DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel

    return TextToVideoSDPipeline(unet=UNet3DConditionModel(**cfg["unet"]), vae=AutoencoderKL(**cfg["vae"]),
                                 scheduler=DDIMScheduler(**cfg["scheduler"]), **_clip_text())


def _animatediff(cfg: dict[str, Any]) -> Any:
    from diffusers import AnimateDiffPipeline, AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel

    return AnimateDiffPipeline(unet=UNet2DConditionModel(**cfg["unet"]), motion_adapter=MotionAdapter(**cfg["motion_adapter"]),
                               vae=AutoencoderKL(**cfg["vae"]), scheduler=DDIMScheduler(**cfg["scheduler"]),
                               feature_extractor=None, image_encoder=None, **_clip_text())


def _cogvideox(cfg: dict[str, Any]) -> Any:
    from diffusers import AutoencoderKLCogVideoX, CogVideoXPipeline, CogVideoXTransformer3DModel, DDIMScheduler

    transformer = CogVideoXTransformer3DModel(**cfg["transformer"])
    text = _t5_text(cfg["text_encoder"], cfg["transformer"]["max_text_seq_length"])
    return CogVideoXPipeline(transformer=transformer, vae=AutoencoderKLCogVideoX(**cfg["vae"]),
                             scheduler=DDIMScheduler(**cfg["scheduler"]), **text)


BUILDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "modelscope": _modelscope, "animatediff": _animatediff, "cogvideox": _cogvideox,
}


def build_tiny(name: str, seed: int = 0) -> Any:
    """The tiny random pipeline of generator `name` in eval mode (seeded: the same weights every time)."""
    torch.manual_seed(seed)
    pipe = BUILDERS[name](TINY_T2V[name])
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            module.eval().requires_grad_(False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny(name: str, folder: str | os.PathLike, seed: int = 0) -> Path:
    """Save the tiny random pipeline of `name` in diffusers layout (model_index.json + one folder per part)."""
    build_tiny(name, seed).save_pretrained(folder)
    return Path(folder)
