"""CLIP as a detector: frames through a transformers CLIPModel folder's own image processor and image tower, the
per-video mean of the unit frame embeddings out; prompts through its tokenizer and text tower (encode_text).

A per-video feature is mean_t(e_t / |e_t|) over its frames, so its dot product with a unit text embedding is the
mean over frames of cos(frame, text): CLIPSIM's per-video value (metrics/clipsim.py). The folder is read offline
(config.json, model.safetensors or pytorch_model.bin read as tensors only, tokenizer and preprocessor files);
a hub id is refused, nothing is downloaded. Embeddings come from transformers' CLIPModel.get_image_features and
get_text_features; nothing of CLIP is reimplemented here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer
from transformers.utils import logging as hf_logging

from vidrd_bench.core.errors import WeightsError, brief
from vidrd_bench.core.weights import WEIGHT_FILES, WeightFile, file_sha256, locate
from vidrd_bench.metrics.detectors.base import (Detector, DetectorSpec, check_resolution, check_state_dict,
                                                load_torch_state, random_weights_digest)

NUM_FRAMES = 16
CLIP_LENGTHS = tuple(n for n in range(1, 257) if n != NUM_FRAMES)  # any frame count: frames are embedded one by one
TEXT_BATCH = 256
FOLDER_FILES = ("config.json", "preprocessor_config.json")
WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_SETS = (("vocab.json", "merges.txt"), ("tokenizer.json",))
SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")

# (vision hidden, layers, heads, patch), (text hidden, layers, heads), projection: openai/clip-vit-base-patch32
# and openai/clip-vit-large-patch14 (their config.json), image size 224, text length 77.
BACKBONES = {
    "clip-vit-b32": ((768, 12, 12, 32), (512, 12, 8), 512),
    "clip-vit-l14": ((1024, 24, 16, 14), (768, 12, 12), 768),
}
FOLDERS = {"clip-vit-b32": "clip-vit-base-patch32", "clip-vit-l14": "clip-vit-large-patch14"}
TITLES = {"clip-vit-b32": "ViT-B/32", "clip-vit-l14": "ViT-L/14"}
TINY = ((32, 2, 4, 4), (32, 2, 4), 32)  # transformers' CLIP fast-test sizes (image 32, patch 4 here)
TINY_IMAGE = 32
FULL_IMAGE = 224  # both published backbones' image size
FULL_VOCAB, TINY_VOCAB = 49408, 514  # CLIP's (text start/end 49406, 49407); 256 bytes x 2 + those two


def clip_config(name: str) -> CLIPConfig:
    """The CLIPConfig of backbone `name` (a BACKBONES key, or "clip-tiny-random")."""
    (v_hidden, v_layers, v_heads, patch), (t_hidden, t_layers, t_heads), proj = BACKBONES.get(name, TINY)
    image, vocab = (FULL_IMAGE, FULL_VOCAB) if name in BACKBONES else (TINY_IMAGE, TINY_VOCAB)
    return CLIPConfig(
        text_config={"hidden_size": t_hidden, "intermediate_size": 4 * t_hidden, "num_hidden_layers": t_layers,
                     "num_attention_heads": t_heads, "max_position_embeddings": 77, "vocab_size": vocab,
                     "bos_token_id": vocab - 2, "eos_token_id": vocab - 1, "pad_token_id": vocab - 1},
        vision_config={"hidden_size": v_hidden, "intermediate_size": 4 * v_hidden, "num_hidden_layers": v_layers,
                       "num_attention_heads": v_heads, "image_size": image, "patch_size": patch},
        projection_dim=proj)


def byte_vocab(size: int) -> dict[str, int]:
    """A byte-level CLIP vocabulary without merges (any text tokenizes): every byte symbol, alone and word-final,
    then the start and end of text as the last two ids of a `size`-token vocabulary, where CLIP has them."""
    from tokenizers.pre_tokenizers import ByteLevel

    symbols = sorted(ByteLevel.alphabet())
    vocab = {t: i for i, t in enumerate([*symbols, *(s + "</w>" for s in symbols)])}
    return {**vocab, SPECIAL_TOKENS[0]: size - 2, SPECIAL_TOKENS[1]: size - 1}


def random_parts(config: CLIPConfig) -> tuple[CLIPTokenizer, CLIPImageProcessor]:
    """A random build's tokenizer (byte-level, no merges) and image processor (CLIP's defaults at its image size)."""
    tokenizer = CLIPTokenizer(vocab=byte_vocab(config.text_config.vocab_size), merges=[])
    size = config.vision_config.image_size
    return tokenizer, CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


class ClipDetector(Detector):
    """CLIP's image tower over every frame, one feature per video: the mean of its unit frame embeddings."""

    def __init__(self, name: str, model: CLIPModel, tokenizer: CLIPTokenizer, processor: CLIPImageProcessor, *,
                 weights: dict[str, str], random_weights: bool, device: str | torch.device = "cpu"):
        super().__init__(name, model, num_frames=NUM_FRAMES, feature_dim=model.config.projection_dim,
                         feature="embeddings", weights=weights, random_weights=random_weights, device=device)
        self.tokenizer = tokenizer
        self.processor = processor
        self.max_tokens = min(model.config.text_config.max_position_embeddings, 77)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """(B, D): for each video, mean over its frames of the unit image embedding of the processed frame."""
        b, _, t = videos.shape[:3]
        frames = list(videos.permute(0, 2, 3, 4, 1).reshape(b * t, *videos.shape[3:], 3).cpu().numpy())
        pixels = self.processor(images=frames, return_tensors="pt")["pixel_values"].to(self.device)
        embeds = _pooled(self.module.get_image_features(pixel_values=pixels)).float()
        embeds = embeds / embeds.norm(dim=-1, keepdim=True)
        return embeds.reshape(b, t, -1).mean(dim=1)

    @torch.no_grad()
    def encode_text(self, prompts: list[str] | tuple[str, ...]) -> np.ndarray:
        """(N, D) float64 unit text embeddings, each prompt cut to the text tower's 77 tokens (one note says how many
        were longer; the tokenizer's own per-prompt warning is silenced)."""
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            lengths = [len(ids) for ids in self.tokenizer(list(prompts))["input_ids"]]
            out = [self._text_batch(list(prompts[i:i + TEXT_BATCH])) for i in range(0, len(prompts), TEXT_BATCH)]
        finally:
            hf_logging.set_verbosity(verbosity)
        longer = sum(n > self.max_tokens for n in lengths)
        if longer:
            print(f"note: {longer} of {len(prompts)} prompts are longer than CLIP's {self.max_tokens} tokens "
                  f"(longest {max(lengths)}); each is cut to its first {self.max_tokens}, as CLIP's text tower "
                  "takes.", file=sys.stderr)
        text = np.concatenate(out).astype(np.float64)
        return text / np.linalg.norm(text, axis=1, keepdims=True)

    def _text_batch(self, prompts: list[str]) -> np.ndarray:
        """Text embeddings of one batch of prompts (padded, truncated to max_tokens)."""
        tokens = self.tokenizer(prompts, padding=True, truncation=True, max_length=self.max_tokens,
                                return_tensors="pt").to(self.device)
        embeds = _pooled(self.module.get_text_features(input_ids=tokens["input_ids"],
                                                       attention_mask=tokens["attention_mask"]))
        return embeds.float().cpu().numpy()


def _pooled(out) -> torch.Tensor:
    """The projected embeddings from get_*_features (a tensor before transformers 5, pooler_output since)."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _seeded_model(config: CLIPConfig) -> CLIPModel:
    """CLIPModel(config) with weights drawn from a fixed seed (the same on every machine)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return CLIPModel(config).eval()


def check_folder(folder: Path, name: str) -> tuple[Path, Path]:
    """The folder's weights file and config, after cheap checks: it is a local folder with a config, a weights file,
    tokenizer and preprocessor files (a hub id or anything else is refused; nothing is downloaded)."""
    if not folder.is_dir():
        hub = not folder.exists() and str(folder).count("/") == 1 and not str(folder).startswith((".", "/", "~"))
        raise WeightsError(
            f"CLIP model {str(folder)!r} is not a local folder{' (it looks like a Hugging Face hub id)' if hub else ''}"
            f". vidrd-bench never downloads weights: pass the folder of a transformers CLIPModel saved on disk "
            f"(e.g. `huggingface-cli download openai/{FOLDERS.get(name, 'clip-vit-base-patch32')} --local-dir DIR`"
            " run by you, then --clip-model DIR), holding config.json, model.safetensors, the tokenizer files "
            "(vocab.json and merges.txt) and preprocessor_config.json."
        )
    missing = [f for f in FOLDER_FILES if not (folder / f).is_file()]
    weights = next((folder / w for w in WEIGHT_NAMES if (folder / w).is_file()), None)
    if weights is None:
        missing.append(" or ".join(WEIGHT_NAMES))
    if not any(all((folder / f).is_file() for f in files) for files in TOKENIZER_SETS):
        missing.append("the tokenizer files (vocab.json and merges.txt, or tokenizer.json)")
    if missing:
        raise WeightsError(f"CLIP model folder {folder} lacks {', '.join(missing)}. Save the whole transformers "
                           "CLIPModel folder there (model, tokenizer and image processor files).")
    return weights, folder / "config.json"


def _read_config(file: Path, name: str) -> CLIPConfig:
    """The folder's CLIPConfig, refused unless it is backbone `name`'s (widths, layers, patch, image size)."""
    try:
        config = CLIPConfig.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as e:
        raise WeightsError(f"{file} is not a readable CLIP config.json ({type(e).__name__}: {brief(e)}).") from None
    want = clip_config(name)
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads")
    shape = lambda c: ([getattr(c.vision_config, k) for k in (*keys, "patch_size", "image_size")],
                       [getattr(c.text_config, k) for k in keys], c.projection_dim)
    if shape(config) != shape(want):
        raise WeightsError(
            f"The CLIP model in {file.parent} is not {name}: its vision (hidden, layers, heads, patch, image), text "
            f"(hidden, layers, heads) and projection are {shape(config)}, {name}'s are {shape(want)}. Pass the "
            "folder of the backbone the protocol names, or a protocol for this backbone (`vidrd-bench metrics`)."
        )
    return config


def _load_state(file: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors or torch weights file (weights only; no pickled objects), position ids dropped."""
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(file))
        except Exception as e:  # safetensors raises its own error types for corrupt headers
            raise WeightsError(f"Weights file {file} cannot be read as safetensors ({brief(e)}).") from None
    else:
        state = load_torch_state(file)
    return {k: v for k, v in state.items() if not k.endswith("position_ids")}


def load_folder(folder: Path, name: str, device: str | torch.device = "cpu") -> ClipDetector:
    """Backbone `name` from a transformers CLIPModel folder: checked, weights loaded strictly, offline."""
    weights, config_file = check_folder(folder, name)
    model = CLIPModel(_read_config(config_file, name)).eval()
    check_state_dict(model, _load_state(weights), weights, ignore_missing=("position_ids",))
    tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    processor = CLIPImageProcessor.from_pretrained(str(folder), local_files_only=True)
    return ClipDetector(name, model, tokenizer, processor, weights={folder.name: file_sha256(folder)},
                        random_weights=False, device=device)


def _builder(name: str):
    """The build function of backbone `name`: --clip-model DIR (path) or <weights dir>/<its folder name>."""

    def build(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None) -> Detector:
        """Backbone `name` read from its CLIPModel folder."""
        check_resolution(name, resolution, clip_config(name).vision_config.image_size)
        folder = Path(os.path.expanduser(path)) if path is not None else locate(FOLDERS[name], weights_dir)
        return load_folder(folder, name, device)

    build.__qualname__ = build.__name__ = f"build_{name.replace('-', '_')}"
    return build


def _random(name: str):
    """The random build of `name`: its full-size network with seeded weights and the byte-level tokenizer."""

    def random_build(device: str | torch.device = "cpu") -> Detector:
        """Backbone `name` at full size with seeded random weights (what `bench` times)."""
        config = clip_config(name)
        model = _seeded_model(config)
        tokenizer, processor = random_parts(config)
        return ClipDetector(name, model, tokenizer, processor, weights={f"random:{name}": random_weights_digest(model)},
                            random_weights=True, device=device)

    random_build.__qualname__ = random_build.__name__ = f"random_{name.replace('-', '_')}"
    return random_build


def _build_tiny(weights_dir=None, device="cpu", path: Path | None = None, resolution: int | None = None) -> Detector:
    """`clip-tiny-random`: no files; results made with it are marked smoke."""
    check_resolution("clip-tiny-random", resolution, TINY_IMAGE)
    return _random("clip-tiny-random")(device)


WEIGHTS = tuple(
    WeightFile(folder, f"CLIP {TITLES[name]} as a transformers CLIPModel folder (CLIPSIM)",
               f"the Hugging Face repository openai/{folder}",
               "config.json, model.safetensors (or pytorch_model.bin), vocab.json, merges.txt, "
               "preprocessor_config.json", is_dir=True, required_members=("config.json", "preprocessor_config.json"),
               optional=True)
    for name, folder in FOLDERS.items())
for _file in WEIGHTS:
    WEIGHT_FILES.register(_file.name, _file)

SPECS = (
    *(DetectorSpec(name, f"CLIP {TITLES[name]} image tower: per-video mean of unit frame embeddings (CLIPSIM)",
                   (FOLDERS[name],), _builder(name), random_build=_random(name), feature="embeddings",
                   feature_dim=BACKBONES[name][2], num_frames=NUM_FRAMES, clip_lengths=CLIP_LENGTHS,
                   resolution=FULL_IMAGE)
      for name in BACKBONES),
    DetectorSpec("clip-tiny-random", "tiny random-weight CLIP for tests and smoke runs (not a real CLIPSIM)", (),
                 _build_tiny, random_build=_random("clip-tiny-random"), random_weights=True, feature="embeddings",
                 feature_dim=TINY[2], num_frames=NUM_FRAMES, clip_lengths=CLIP_LENGTHS,
                 resolution=TINY_IMAGE),
)
