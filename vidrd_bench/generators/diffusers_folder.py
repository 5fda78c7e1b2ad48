"""Reading a text-to-video pipeline folder in diffusers layout, and the call contract the generic `diffusers` entry
relies on, checked from model_index.json and the pipeline class before any weight is read.

CONTRACT. `--generator diffusers --model DIR` renders with any diffusers pipeline class (model_index.json's
`_class_name`, a `diffusers.DiffusionPipeline` subclass of the installed diffusers) whose `__call__`:

- takes `prompt` (a list of strings, one per video), `negative_prompt` (a list, one per video), `num_frames`,
  `height`, `width`, `num_inference_steps`, `guidance_scale`, `generator` (a list of `torch.Generator`, one per
  video, each drawing that video's noise) and `output_type`;
- needs nothing else: every other parameter has a default, and it takes no input image or video (a parameter named
  one of INPUT_MEDIA: image-to-video, video-to-video and control pipelines are refused);
- with `output_type="np"` returns an object whose `.frames` are (videos, frames, height, width, 3) in [0, 1].

Settings left None (frames, size, steps, guidance) take the pipeline's own `__call__` defaults, or where those are
None its configs' (as the pipeline itself does). A class that a registered entry adapts (SPECS: e.g. LattePipeline,
whose frame count is `video_length`) renders as that entry does. Folders are read with `local_files_only=True`:
nothing is ever downloaded.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from vidrd_bench.core.errors import WeightsError

CONTRACT_ARGS = ("prompt", "negative_prompt", "num_frames", "height", "width", "num_inference_steps", "guidance_scale",
                 "generator", "output_type")
INPUT_MEDIA = ("image", "video", "images", "videos", "control_video", "conditioning_frames", "cond_image", "conditions")


def read_index(folder: Path) -> dict[str, Any]:
    """model_index.json of `folder` (model_folder checked it exists), or a clear error when it is not one."""
    path = folder / "model_index.json"
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"Cannot read {path} ({type(exc).__name__}: {exc}); it must be the JSON file "
                           "save_pretrained writes.") from exc
    if not isinstance(index, dict) or not isinstance(index.get("_class_name"), str):
        raise WeightsError(f"{path} names no pipeline class (`_class_name`); it must be the JSON file save_pretrained "
                           "writes.")
    return index


def pipeline_class(name: str, folder: Path) -> type:
    """The diffusers pipeline class `name`, refused unless the installed diffusers has it as a DiffusionPipeline."""
    import diffusers

    cls = getattr(diffusers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.DiffusionPipeline)):
        raise WeightsError(f"{folder} holds a {name}, which is not a pipeline class of the installed diffusers "
                           f"{diffusers.__version__} (custom and community pipelines are not supported). Use a folder "
                           "of a diffusers text-to-video pipeline, or add the model as its own generator (README, "
                           "'Adding a model').")
    return cls


def check_contract(cls: type, folder: Path, frames_arg: str = "num_frames") -> None:
    """Refuse a pipeline class whose __call__ does not meet CONTRACT (an input image or video, a required argument,
    a missing one), naming what is wrong; `frames_arg` is the name its frame count goes by."""
    params = inspect.signature(cls.__call__).parameters
    media = [p for p in INPUT_MEDIA if p in params]
    required = [n for n, p in params.items() if n not in ("self", "prompt") and p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    missing = [a for a in CONTRACT_ARGS if (frames_arg if a == "num_frames" else a) not in params]
    if not (media or required or missing):
        return
    what = (f"takes an input {' / '.join(media)} (an image-to-video, video-to-video or conditioned pipeline)" if media
            else f"requires {', '.join(required)}" if required else f"has no {', '.join(missing)} argument")
    raise WeightsError(
        f"{folder} holds a {cls.__name__}, whose __call__ {what}; vidrd-bench renders text-to-video only, calling "
        f"the pipeline with {', '.join(CONTRACT_ARGS)} and nothing else (generators.diffusers_folder, CONTRACT). Use "
        "the model's text-to-video pipeline folder (e.g. WanPipeline, not WanImageToVideoPipeline), or add the model "
        "as its own generator (README, 'Adding a model')."
    )


def folder_digests(folder: Path) -> dict[str, str]:
    """sha256 of model_index.json and of every part folder it names (file_sha256 over the folder's files)."""
    from vidrd_bench.core.weights import file_sha256

    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    parts = [k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and v[0]]
    return {"model_index.json": file_sha256(folder / "model_index.json"),
            **{part: file_sha256(folder / part) for part in parts if (folder / part).exists()}}


def load_folder(cls: type, folder: Path, dtype: torch.dtype) -> Any:
    """`cls.from_pretrained(folder)` from local files only, any failure as one clear error."""
    try:
        return cls.from_pretrained(folder, dtype=dtype, local_files_only=True)
    except (OSError, ValueError, TypeError, EnvironmentError) as exc:
        raise WeightsError(f"Cannot load the {cls.__name__} at {folder} ({type(exc).__name__}: {exc}). Check that "
                           "every part folder named in model_index.json is complete.") from exc


def model_folder(model: str | os.PathLike | None, generator: str, pipeline: str) -> Path:
    """--model as a folder holding model_index.json, or a clear error saying what --model must be."""
    folder = Path(model) if model is not None else None
    if folder is not None and not folder.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", str(model)):
        raise WeightsError(f"--model {model} is no folder here; it looks like a Hugging Face hub id, and vidrd-bench "
                           f"reads local folders only (it never downloads). Download it whole (huggingface-cli "
                           f"download {model} --local-dir DIR) and pass --model DIR.")
    if folder is None or not (folder / "model_index.json").is_file():
        raise WeightsError(f"Generator {generator!r} needs --model DIR: a folder in diffusers layout (model_index.json "
                           f"naming {pipeline}, plus one folder per part), got {model!r}. Download the model's whole "
                           "repository folder (e.g. with huggingface-cli download) and pass its path; vidrd-bench "
                           "never downloads weights.")
    return folder
