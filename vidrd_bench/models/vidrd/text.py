"""VidRD text conditioning: SD 2.1's CLIP tokenizer + text model (last hidden state, 77 tokens), cached per prompt."""

from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
from tokenizers import pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.models.vidrd.checkpoint import LoadReport, compare_state_dict

MAX_LENGTH = 77
BOS, EOS, PAD = "<|startoftext|>", "<|endoftext|>", "!"
STALE_TEXT_KEYS = ("embeddings.position_ids",)  # a persistent buffer in transformers 4.x, not a parameter today
LEGACY_PREFIX = "text_model."  # transformers 4.x CLIPTextModel nested its modules under text_model


def byte_level_vocab() -> dict[str, int]:
    """The merge-free CLIP vocabulary: 256 byte symbols, their end-of-word forms, then BOS and EOS (514 ids)."""
    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": i + len(symbols) for i, s in enumerate(symbols)})
    vocab[BOS], vocab[EOS] = len(vocab), len(vocab) + 1
    return vocab


def write_byte_level_tokenizer(folder: str | os.PathLike, max_length: int = MAX_LENGTH) -> Path:
    """Write the byte-level vocabulary as SD's tokenizer/ files: vocab.json, merges.txt, tokenizer_config.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(byte_level_vocab()), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    settings = {"model_max_length": max_length, "bos_token": BOS, "eos_token": EOS, "unk_token": EOS,
                "pad_token": PAD, "tokenizer_class": "CLIPTokenizer"}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder


def byte_level_tokenizer(max_length: int = MAX_LENGTH) -> CLIPTokenizer:
    """A real CLIPTokenizer over the byte-level vocabulary, loaded from a temp folder like SD's tokenizer/."""
    with tempfile.TemporaryDirectory(prefix="vidrd_tokenizer_") as tmp:
        return CLIPTokenizer.from_pretrained(write_byte_level_tokenizer(tmp, max_length))


class TextEncoder:
    """CLIP tokenizer + CLIPTextModel: prompts -> last_hidden_state (B, 77, D), each distinct prompt encoded once."""

    def __init__(self, tokenizer: CLIPTokenizer, model: CLIPTextModel, cache_size: int = 1024) -> None:
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    @property
    def device(self) -> torch.device:
        """Where the text model's weights live."""
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The text model's weight dtype (and that of the embeddings returned)."""
        return next(self.model.parameters()).dtype

    @property
    def hidden_size(self) -> int:
        """Width D of the conditioning (1024 for SD 2.1's OpenCLIP ViT-H)."""
        return int(self.model.config.hidden_size)

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> TextEncoder:
        """Move the text model; cached embeddings are dropped since they belong to the old placement."""
        self.model.to(device=device, dtype=dtype)
        self.clear_cache()
        return self

    def clear_cache(self) -> None:
        """Forget every cached prompt embedding (call after changing the model's weights)."""
        self._cache.clear()

    def tokenize(self, prompts: list[str]) -> torch.Tensor:
        """Token ids (B, 77): BOS, tokens, EOS, padded with the tokenizer's pad token to max length, truncated."""
        return self.tokenizer(list(prompts), padding="max_length", max_length=self.tokenizer.model_max_length,
                              truncation=True, return_tensors="pt").input_ids

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> torch.Tensor:
        """Conditioning (B, 77, D) for `prompts`; prompts seen before come from the cache."""
        if isinstance(prompts, str):
            raise TypeError("TextEncoder.encode takes a list of prompts, not one string")
        todo = list(dict.fromkeys(p for p in prompts if p not in self._cache))
        if todo:
            ids = self.tokenize(todo).to(self.device)
            hidden = self.model(input_ids=ids).last_hidden_state
            for prompt, row in zip(todo, hidden):
                self._cache[prompt] = row
        for prompt in prompts:
            self._cache.move_to_end(prompt)
        out = torch.stack([self._cache[p] for p in prompts])
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    @classmethod
    def from_folder(cls, sd_folder: str | os.PathLike, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> TextEncoder:
        """Load `tokenizer/` and `text_encoder/` from a Stable Diffusion diffusers folder."""
        sd_folder = Path(sd_folder)
        try:
            tokenizer = CLIPTokenizer.from_pretrained(sd_folder / "tokenizer")
            model = CLIPTextModel.from_pretrained(sd_folder / "text_encoder", torch_dtype=dtype)
        except (OSError, ValueError) as exc:
            raise WeightsError(
                f"Cannot load the CLIP tokenizer/text encoder from {sd_folder} ({type(exc).__name__}: {exc}). "
                "Expected the Stable Diffusion 2.1-base diffusers layout: tokenizer/ (vocab.json, merges.txt, "
                "tokenizer_config.json) and text_encoder/ (config.json + weights). Download the whole "
                "stabilityai/stable-diffusion-2-1-base folder."
            ) from exc
        return cls(tokenizer, model.to(device))

    @classmethod
    def random(cls, config: dict, seed: int = 0, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32) -> TextEncoder:
        """Random CLIPTextModel from `config` (configs.TINY_TEXT / SD21_BASE_TEXT) with the byte-level tokenizer."""
        tokenizer = byte_level_tokenizer(int(config.get("max_position_embeddings", MAX_LENGTH)))
        if len(tokenizer) > config["vocab_size"]:
            raise WeightsError(f"The text config's vocab_size {config['vocab_size']} is smaller than the byte-level "
                               f"tokenizer ({len(tokenizer)} tokens): use a config with a vocab_size at least that.")
        torch.manual_seed(seed)
        with torch.device(device):
            model = CLIPTextModel(CLIPTextConfig(**config))
        return cls(tokenizer, model.to(dtype=dtype))


def apply_text_state_dict(encoder: TextEncoder, state_dict: Mapping[str, torch.Tensor], source: str,
                          allow_partial: bool = False) -> LoadReport:
    """Load a CLIPTextModel state dict (e.g. ModelT2V.pth's text_encoder.*, transformers 4.x names accepted).

    Refuses missing, unexpected or misshapen tensors unless allow_partial.
    """
    own = encoder.model.state_dict()
    strip = not any(k.startswith(LEGACY_PREFIX) for k in own)
    state = {k[len(LEGACY_PREFIX):] if strip and k.startswith(LEGACY_PREFIX) else k: v for k, v in state_dict.items()}
    state = {k: v for k, v in state.items() if k not in STALE_TEXT_KEYS}
    report = compare_state_dict(source, own, state)
    if not report.complete and not allow_partial:
        shapes = [f"{k} (expected {e}, found {g})" for k, e, g in report.mismatched[:3]]
        raise WeightsError(
            f"The text encoder weights in {source} do not match the CLIP text model ({report.summary()}): "
            f"missing {list(report.missing[:3])}, unexpected {list(report.unexpected[:3])}, wrong shape {shapes}. "
            "Expected transformers CLIPTextModel keys (text_model.embeddings..., text_model.encoder.layers.<i>...) "
            "of the SD 2.1-base text encoder. Use the checkpoint unchanged, or pass allow_partial=True "
            "(--allow-partial) to keep the SD 2.1 text encoder where they differ."
        )
    encoder.model.load_state_dict({k: v for k, v in state.items() if k in own and v.shape == own[k].shape},
                                  strict=False)
    encoder.clear_cache()
    return report
