"""Random diffusers text-to-video pipelines built in code: tiny ones from generators/tiny_configs.TINY_T2V (tests,
smoke, --save-tiny), full-size ones from generators/full_configs.FULL_T2V (bench --preset full-random).

Weights are random (seeded); tokenizers are byte-level vocabularies built in code, so nothing comes from the network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch

from vidrd_bench.generators.tiny_configs import TINY_T2V
from vidrd_bench.models.vidrd.configs import TINY_TEXT


def _clip_text(config: dict[str, Any] = TINY_TEXT) -> dict[str, Any]:
    """CLIP tokenizer + text encoder (the byte-level vocabulary; sizes models.vidrd.configs.TINY_TEXT by default)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    from vidrd_bench.models.vidrd.text import byte_level_tokenizer

    return {"tokenizer": byte_level_tokenizer(), "text_encoder": CLIPTextModel(CLIPTextConfig(**config))}


def _byte_tokenizer(specials: list[str], template: str, max_length: int, **roles: str) -> Any:
    """A byte-level tokenizer: `specials` take ids 0.., then one id per byte; `template` adds BOS/EOS (tokenizers'
    TemplateProcessing syntax); `roles` name the pad/eos/bos/unk tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(specials)}
    vocab.update({s: i + len(specials) for i, s in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))})
    backend = Tokenizer(models.WordLevel(vocab, unk_token=roles["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    used = [t for t in specials if t in template]
    backend.post_processor = processors.TemplateProcessing(single=template,
                                                           special_tokens=[(t, vocab[t]) for t in used])
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=max_length, **roles)


def _t5_text(config: dict[str, Any], max_length: int, umt5: bool = False) -> dict[str, Any]:
    """A byte-level T5-style tokenizer (pad 0, eos 1, unk 2, bytes from 3; EOS appended) + a tiny T5 (or UMT5)
    encoder."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    tokenizer = _byte_tokenizer(["<pad>", "</s>", "<unk>"], "$A </s>", max_length, pad_token="<pad>",
                                eos_token="</s>", unk_token="<unk>")
    config_class, model_class = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    return {"tokenizer": tokenizer, "text_encoder": model_class(config_class(vocab_size=len(tokenizer), **config))}


def _llama_text(config: dict[str, Any]) -> dict[str, Any]:
    """A byte-level Llama-style tokenizer (unk 0, bos 1, eos 2, pad 3, bytes from 4; BOS prepended) + a LlamaModel
    of `config`'s sizes."""
    from transformers import LlamaConfig, LlamaModel

    tokenizer = _byte_tokenizer(["<unk>", "<s>", "</s>", "<pad>"], "<s> $A", config["max_position_embeddings"],
                                unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    model = LlamaModel(LlamaConfig(vocab_size=len(tokenizer), unk_token_id=0, bos_token_id=1, eos_token_id=2,
                                   pad_token_id=3, **config))
    return {"tokenizer": tokenizer, "text_encoder": model}


def _modelscope(cfg: dict[str, Any]) -> Any:
    """ModelScope's TextToVideoSDPipeline: a tiny UNet3D, the tiny SD VAE, byte-level CLIP."""
    from diffusers import AutoencoderKL, DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel

    return TextToVideoSDPipeline(unet=UNet3DConditionModel(**cfg["unet"]), vae=AutoencoderKL(**cfg["vae"]),
                                 scheduler=DDIMScheduler(**cfg["scheduler"]),
                                 **_clip_text(cfg.get("text_encoder", TINY_TEXT)))


def _animatediff(cfg: dict[str, Any]) -> Any:
    """AnimateDiffPipeline: an SD UNet with a motion adapter, the SD VAE, byte-level CLIP (the tiny CLIP unless
    `cfg` names a text encoder)."""
    from diffusers import AnimateDiffPipeline, AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel

    return AnimateDiffPipeline(unet=UNet2DConditionModel(**cfg["unet"]),
                               motion_adapter=MotionAdapter(**cfg["motion_adapter"]), vae=AutoencoderKL(**cfg["vae"]),
                               scheduler=DDIMScheduler(**cfg["scheduler"]), feature_extractor=None,
                               image_encoder=None, **_clip_text(cfg.get("text_encoder", TINY_TEXT)))


def _cogvideox(cfg: dict[str, Any]) -> Any:
    """CogVideoXPipeline: a tiny CogVideoX transformer and 3D VAE, a byte-level T5."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXPipeline, CogVideoXTransformer3DModel, DDIMScheduler

    transformer = CogVideoXTransformer3DModel(**cfg["transformer"])
    text = _t5_text(cfg["text_encoder"], cfg["transformer"].get("max_text_seq_length", 226))  # the class default
    return CogVideoXPipeline(transformer=transformer, vae=AutoencoderKLCogVideoX(**cfg["vae"]),
                             scheduler=DDIMScheduler(**cfg["scheduler"]), **text)


def _wan(cfg: dict[str, Any]) -> Any:
    """WanPipeline: a tiny Wan transformer and causal 3D VAE, a byte-level UMT5."""
    import diffusers
    from diffusers import AutoencoderKLWan, WanPipeline, WanTransformer3DModel

    scheduler = dict(cfg["scheduler"])
    scheduler_class = getattr(diffusers, scheduler.pop("class", "FlowMatchEulerDiscreteScheduler"))
    return WanPipeline(transformer=WanTransformer3DModel(**cfg["transformer"]), vae=AutoencoderKLWan(**cfg["vae"]),
                       scheduler=scheduler_class(**scheduler),
                       **_t5_text(cfg["text_encoder"], 512, umt5=True))


def _ltx(cfg: dict[str, Any]) -> Any:
    """LTXPipeline: a tiny LTX-Video transformer and VAE, a byte-level T5."""
    from diffusers import (AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline,
                           LTXVideoTransformer3DModel)

    return LTXPipeline(transformer=LTXVideoTransformer3DModel(**cfg["transformer"]),
                       vae=AutoencoderKLLTXVideo(**cfg["vae"]),
                       scheduler=FlowMatchEulerDiscreteScheduler(**cfg["scheduler"]),
                       **_t5_text(cfg["text_encoder"], 128))


def _hunyuanvideo(cfg: dict[str, Any]) -> Any:
    """HunyuanVideoPipeline: a tiny transformer and 3D VAE, a byte-level Llama and the byte-level CLIP."""
    from diffusers import (AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline,
                           HunyuanVideoTransformer3DModel)

    clip = _clip_text(cfg.get("text_encoder_2", TINY_TEXT))
    return HunyuanVideoPipeline(transformer=HunyuanVideoTransformer3DModel(**cfg["transformer"]),
                                vae=AutoencoderKLHunyuanVideo(**cfg["vae"]),
                                scheduler=FlowMatchEulerDiscreteScheduler(**cfg["scheduler"]),
                                text_encoder_2=clip["text_encoder"], tokenizer_2=clip["tokenizer"],
                                **_llama_text(cfg["text_encoder"]))


def _mochi(cfg: dict[str, Any]) -> Any:
    """MochiPipeline: a tiny Mochi transformer and VAE, a byte-level T5."""
    from diffusers import AutoencoderKLMochi, FlowMatchEulerDiscreteScheduler, MochiPipeline, MochiTransformer3DModel

    return MochiPipeline(transformer=MochiTransformer3DModel(**cfg["transformer"]),
                         vae=AutoencoderKLMochi(**cfg["vae"]),
                         scheduler=FlowMatchEulerDiscreteScheduler(**cfg["scheduler"]),
                         **_t5_text(cfg["text_encoder"], 256))


def _latte(cfg: dict[str, Any]) -> Any:
    """LattePipeline: a tiny Latte transformer on the tiny SD VAE, a byte-level T5."""
    from diffusers import AutoencoderKL, DDIMScheduler, LattePipeline, LatteTransformer3DModel

    return LattePipeline(transformer=LatteTransformer3DModel(**cfg["transformer"]), vae=AutoencoderKL(**cfg["vae"]),
                         scheduler=DDIMScheduler(**cfg["scheduler"]), **_t5_text(cfg["text_encoder"], 120))


BUILDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "modelscope": _modelscope, "animatediff": _animatediff, "cogvideox": _cogvideox, "wan": _wan, "ltx": _ltx,
    "hunyuanvideo": _hunyuanvideo, "mochi": _mochi, "latte": _latte,
}
# The generic `diffusers` entry has no pipeline of its own: its tiny preset is the tiny Wan, read back generically.
STAND_INS = {"diffusers": "wan"}
RANDOM_MARKER = "vidrd_bench_random_weights.json"  # save_tiny writes it; its presence alone marks the weights random
TINY_PARAMETERS = 20_000_000  # folders above this many parameters are not compared with the tiny pipelines


def build_tiny(name: str, seed: int = 0, configs: dict[str, dict[str, Any]] = TINY_T2V) -> Any:
    """The random pipeline of generator `name` (STAND_INS: the one it renders) from `configs` (the tiny ones by
    default; generators.full_configs.FULL_T2V for full sizes, built on the current default device) in eval mode
    (seeded: the same weights every time on one device)."""
    name = STAND_INS.get(name, name)
    torch.manual_seed(seed)
    pipe = BUILDERS[name](configs[name])
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            module.eval().requires_grad_(False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny(name: str, folder: str | os.PathLike, seed: int = 0) -> Path:
    """Save the tiny random pipeline of `name` in diffusers layout (model_index.json + one folder per part) with
    RANDOM_MARKER beside them, so a run rendered from the folder records random_weights: true."""
    from vidrd_bench.core.io import write_json_atomic

    build_tiny(name, seed).save_pretrained(folder)
    write_json_atomic(Path(folder) / RANDOM_MARKER, {"random_weights": True, "generator": STAND_INS.get(name, name),
                                                     "seed": seed, "written_by": "vidrd-bench generators --save-tiny"})
    return Path(folder)


def random_weights_reason(folder: Path, pipe: Any) -> str | None:
    """Why the pipeline loaded from `folder` has random weights, or None: RANDOM_MARKER is in the folder (whatever it
    holds: no content makes the weights real), or its modules equal a tiny random pipeline's (the marker deleted)."""
    from vidrd_bench.core.weights import state_sha256

    if (folder / RANDOM_MARKER).exists():
        return f"{RANDOM_MARKER} in {folder} (a tiny random pipeline saved by generators --save-tiny)"
    modules = {k: m for k, m in pipe.components.items() if isinstance(m, torch.nn.Module)}
    if not modules or sum(p.numel() for m in modules.values() for p in m.parameters()) > TINY_PARAMETERS:
        return None
    dtype = next(p.dtype for m in modules.values() for p in m.parameters())
    for name in BUILDERS:
        tiny = build_tiny(name)
        if type(tiny).__name__ == type(pipe).__name__:
            tiny.to(dtype=dtype)
            same = all(state_sha256(m) == state_sha256(getattr(tiny, k, None) or torch.nn.Module())
                       for k, m in modules.items())
            if same:
                return f"its weights equal the tiny random {name} pipeline's (generators --save-tiny)"
    return None
