"""CLIPSIM: per video the mean over its frames of cos(CLIP image embedding, CLIP text embedding of its prompt), the
mean over videos with a bootstrap interval, on the protocol's scale; per-class (MSR-VTT: per test video) means;
and its METRICS entry (SPEC).

The CLIP detector (metrics/detectors/clip.py) gives each video the mean of its unit frame embeddings and each
prompt a unit text embedding (MetricInputs.text), so a video's value is their dot product.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.metrics.fvd import bootstrap_interval
from vidrd_bench.metrics.spec import MetricExample, MetricInputs, MetricSpec, MetricValue
from vidrd_bench.protocols import DEFAULT_CLIPSIM, SMOKE_CLIPSIM, ClipsimProtocol


def per_video(inputs: MetricInputs) -> np.ndarray:
    """Each video's mean frame-caption cosine: its mean unit frame embedding dotted with its unit text embedding."""
    if inputs.text is None:
        raise VidrdBenchError(
            "CLIPSIM compares each video's frames with its prompt in CLIP's joint space, but no text embeddings came "
            "with the videos: score it with a CLIP detector (a CLIPSIM protocol) on a run whose manifest holds the "
            "prompts."
        )
    video, text = np.asarray(inputs.features, np.float64), np.asarray(inputs.text, np.float64)
    if video.shape != text.shape or video.ndim != 2:
        raise VidrdBenchError(f"CLIPSIM needs one text embedding per video of the same width; got video features "
                              f"{video.shape} and text embeddings {text.shape}.")
    return (video * text).sum(axis=1)


def scaled(mean_cosine: float, scale: str) -> float:
    """A mean cosine on the protocol's scale: itself ("cosine") or max(100 x it, 0) ("x100-clip0", torchmetrics)."""
    return max(100.0 * mean_cosine, 0.0) if scale == "x100-clip0" else mean_cosine


def compute_clipsim(inputs: MetricInputs, proto: ClipsimProtocol, bootstrap: int, seed: int,
                    progress: bool = False) -> MetricValue:
    """The protocol's CLIPSIM of the selected videos, with a normal bootstrap interval over the videos (`bootstrap`
    resamples; none at 0)."""
    values = per_video(inputs)
    value = scaled(float(values.mean()), proto.scale)
    extra = {"scale": proto.scale, "mean_cosine": float(values.mean())}
    if bootstrap <= 0:
        return MetricValue(value, extra=extra)
    rng = np.random.default_rng(seed)
    samples = np.array([scaled(float(values[rng.integers(0, len(values), len(values))].mean()), proto.scale)
                        for _ in range(bootstrap)])
    return MetricValue(value, bootstrap_interval(value, samples, 0.95), bootstrap, extra=extra)


def clipsim_per_class(inputs: MetricInputs, proto: ClipsimProtocol, progress: bool = False) -> dict[str, dict]:
    """CLIPSIM of each class's videos (UCF-101: action; MSR-VTT: test video, over its captions), on the scale."""
    groups: dict[str, list[float]] = defaultdict(list)
    for cls, value in zip(inputs.classes, per_video(inputs)):
        if cls:
            groups[cls].append(float(value))
    by_class = {c: scaled(float(np.mean(v)), proto.scale) for c, v in groups.items()}
    return {"per_class_clipsim": by_class} if by_class else {}


def example() -> MetricExample:
    """Known case: frame means parallel to their unit text embeddings score 0.5 each when of length 0.5 (frames
    agreeing half the time); turned away from the text they score less."""
    text = np.eye(8)[np.arange(20) % 8]
    return MetricExample(SMOKE_CLIPSIM, MetricInputs(0.5 * text, text=text), 0.5,
                         MetricInputs(0.5 * np.roll(text, 1, axis=1), text=text))


SPEC = MetricSpec(
    name="clipsim", title="CLIPSIM",
    summary="CLIP similarity of each generated video's frames to its prompt (caption), over frames and videos.",
    needs="prompts", higher_is_better=True, floor=-1.0, protocol_type=ClipsimProtocol,
    default_protocol=DEFAULT_CLIPSIM, compute=compute_clipsim, example=example, column=2,
    per_class=clipsim_per_class, model_option=("--clip-model", "Folder of a transformers CLIPModel (config.json, "
                                               "model.safetensors, tokenizer and preprocessor files), read offline."),
)
