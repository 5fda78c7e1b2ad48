"""Each diffusers adapter renders exactly what diffusers' own pipeline renders, read back from diffusers layout."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.generators import GENERATORS
from vidrd_bench.generators.tiny import build_tiny, save_tiny

ADAPTERS = ["animatediff", "cogvideox", "modelscope"]
PROMPT, SEED = "a woman applying eye makeup", 5


def reference_video(pipe, prompt, seed, settings, frames):
    """diffusers' own output for one video, to uint8 by an independent floor(255 x + 0.5)."""
    text_length = getattr(pipe, "transformer", None) and pipe.transformer.config.max_text_seq_length
    kwargs = {"max_sequence_length": text_length} if text_length else {}
    out = pipe(prompt=prompt, negative_prompt=settings.negative_prompt, num_inference_steps=settings.num_inference_steps,
               guidance_scale=settings.guidance_scale, height=settings.height, width=settings.width, num_frames=frames,
               generator=torch.Generator().manual_seed(seed), output_type="np", **kwargs).frames[0]
    return np.floor(np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.mark.parametrize("name", ADAPTERS)
def test_adapter_equals_the_diffusers_pipeline(tmp_path, name):
    entry = GENERATORS.get(name)
    folder = save_tiny(name, tmp_path / name)
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == type(build_tiny(name)).__name__
    reference = DiffusionPipeline.from_pretrained(folder)  # diffusers' own loader and pipeline, no adapter
    generator = entry.load(preset="model", model=folder, device="cpu")
    settings = dataclasses.replace(entry.settings.get(f"{name}-tiny"), guidance_scale=4.5, negative_prompt="blurry")
    frames = generator.native_shape(settings)[0]
    ours = generator([PROMPT], [SEED], settings)[0].numpy()
    np.testing.assert_array_equal(ours, reference_video(reference, PROMPT, SEED, settings, frames))
    prov = generator.provenance()
    assert prov["sources"]["pipeline"] == str(folder) and "model_index.json" in prov["weights"]
    assert prov["pipeline"] == type(reference).__name__


def test_a_folder_of_another_pipeline_names_the_right_generator(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "CogVideoXPipeline"}))
    with pytest.raises(WeightsError, match="holds a CogVideoXPipeline.*Use --generator cogvideox"):
        GENERATORS.get("modelscope").load(preset="model", model=folder, device="cpu")
    with pytest.raises(WeightsError, match="needs --model DIR: a folder in diffusers layout .*naming AnimateDiffPipeline"):
        GENERATORS.get("animatediff").load(preset="model", model=None, device="cpu")
