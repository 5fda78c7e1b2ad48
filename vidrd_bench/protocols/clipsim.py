"""CLIPSIM protocols: the ClipsimProtocol fields and every registered CLIPSIM convention, each citing its source.

Sources, read here: Lightning-AI/torchmetrics at dab033394 (TM): src/torchmetrics/functional/multimodal/clip_score.py
and src/torchmetrics/multimodal/clip_score.py. The papers' own CLIPSIM text (GODIVA, Make-A-Video, ModelScope T2V,
Video LDM, Show-1, LaVie) was not found by this repository's search tools; their conventions below are as issue 27
states them and are marked so until checked against the papers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vidrd_bench.protocols.base import Protocol, _check_choice, _check_count, cite

SCALES = ("cosine", "x100-clip0")
CAPTION_RULES = ("one-seeded", "all")


@dataclass(frozen=True)
class ClipsimProtocol(Protocol):
    """CLIPSIM: per video the mean over its frames of cos(CLIP image embedding, CLIP text embedding of its prompt),
    then the mean over videos; every convention that moves the number is a field.

    `detector`: the CLIP backbone (clip-vit-b32, clip-vit-l14; clip-tiny-random for smoke runs) at `resolution`
    (its image processor's crop). Frames: `num_frames` frames `frame_stride` apart from frame 0 (16 and 1: every
    frame of a 16-frame video). `scale`: "cosine" (the mean cosine, in [-1, 1]) or "x100-clip0" (torchmetrics'
    CLIPScore: max(100 x the mean cosine, 0)). `caption_rule`: the generation's caption rule the videos must have
    been made under ("one-seeded": one caption per MSR-VTT test video, "all": every caption; None: any run, each
    video scored against the prompt its manifest records). `num_fake` videos in manifest order (None: all).
    """

    detector: str = "clip-vit-b32"
    resolution: int = 224
    num_frames: int = 16
    frame_stride: int = 1
    scale: str = "cosine"
    caption_rule: str | None = "one-seeded"
    num_fake: int | None = None
    fake_selection: str = "all"
    derived_from: str | None = None

    def __post_init__(self) -> None:
        _check_choice(self, "scale", SCALES)
        _check_choice(self, "caption_rule", (*CAPTION_RULES, None))
        _check_count(self, "num_fake", "fake_selection", "first")
        if self.num_frames < 1 or self.frame_stride < 1:
            raise ValueError(f"{self.name}: num_frames and frame_stride must be >= 1")

    @property
    def pool_size(self) -> int | None:
        """How many videos, in manifest order, the score draws on (None: all): num_fake."""
        return self.num_fake


CLIPSIM_B32 = cite(ClipsimProtocol(name="clipsim-vit-b32-one-caption"), """
CLIPSIM as issue 27 states GODIVA's definition: CLIP ViT-B/32, the mean over frames of the cosine similarity
between each frame and the caption, averaged over videos, on the 0-1 (cosine) scale that ModelScope T2V's 0.2930
and Snap Video's 0.2793 are on; one seeded caption per MSR-VTT test video (2,990 videos, msrvtt-one-caption),
every one of the 16 generated frames. Paper text not verified here (see the module docstring).
""")
CLIPSIM_B32_ALL = cite(dataclasses.replace(CLIPSIM_B32, name="clipsim-vit-b32-all-captions", caption_rule="all"), """
clipsim-vit-b32-one-caption over every MSR-VTT test caption (~59,800 videos, msrvtt-all-captions), the caption
rule issue 27 names as the other published one. Paper text not verified here (see the module docstring).
""")
CLIPSCORE_L14 = cite(ClipsimProtocol(name="clipscore-vit-l14-x100", detector="clip-vit-l14", scale="x100-clip0"), """
torchmetrics CLIPScore on every frame of every video. TM functional/multimodal/clip_score.py:266 (default model
openai/clip-vit-large-patch14), :197-201 (unit embeddings, score = 100 x cosine), :138-148 (captions cut to the
text tower's max_position_embeddings), :357-358 (mean over pairs, then max(mean, 0)); the module
multimodal/clip_score.py:189 (same default), :218-223 (sums the scores, computes max(sum / n, 0)). The clip at 0
applies to the mean, so with one caption per video the frame-then-video mean equals TM's mean over all pairs.
""")

SMOKE_CLIPSIM = ClipsimProtocol(
    name="clipsim-smoke-tiny", detector="clip-tiny-random", resolution=32, caption_rule=None,
    reference="Smoke runs only: tiny random CLIP, every video of any run, 16 frames, cosine scale.")

CLIPSIM_PROTOCOLS = (CLIPSIM_B32, CLIPSIM_B32_ALL, CLIPSCORE_L14, SMOKE_CLIPSIM)
