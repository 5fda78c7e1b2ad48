"""Evaluation protocols: what every generator is held to (the set, video count, frame size, seeds)."""

from __future__ import annotations

from dataclasses import dataclass

from vidrd_bench.protocols.base import Protocol, _check_choice


@dataclass(frozen=True)
class EvalProtocol(Protocol):
    """What every generator is held to: the evaluation set, video count, frame size and count, fps and seed rule.

    How a model makes its videos (steps, guidance, sampler) is its own settings (vidrd_bench.generators); two runs
    are comparable when their evaluation protocols match. Video i of the plan gets seed base_seed + i.
    """

    dataset: str = "ucf101"
    num_videos: int = 10_000
    height: int = 256
    width: int = 256
    num_frames: int = 16
    fps: int = 8
    base_seed: int = 42


@dataclass(frozen=True)
class CaptionEvalProtocol(EvalProtocol):
    """An evaluation protocol over a captioned set (MSR-VTT): which captions become prompts is a field.

    `caption_rule`: "one-seeded" (one caption per test video, picked by sha256 of "<caption_seed>:<video id>"
    modulo its caption count; datasets/msrvtt.py) or "all" (every caption, one video each).
    """

    dataset: str = "msrvtt"
    num_videos: int = 2_990
    caption_rule: str = "one-seeded"
    caption_seed: int = 0

    def __post_init__(self) -> None:
        _check_choice(self, "caption_rule", ("one-seeded", "all"))


OLD_GENERATION_RECORD = (
    "This record's generation protocol {name!r} predates the split into an evaluation protocol and generator "
    "settings (it carries VidRD's sampler fields such as frames_per_clip). Its videos still score, but it cannot be "
    "resumed or compared with newer runs: regenerate into a new --out folder to get a comparable record."
)


EVAL_PROTOCOLS = (
    EvalProtocol(name="ucf101-vidrd"),
    EvalProtocol(name="ucf101-vidrd-release", num_frames=24),
    EvalProtocol(name="tiny-smoke", num_videos=24, height=32, width=32),
    CaptionEvalProtocol(
        name="msrvtt-one-caption", reference="MSR-VTT zero-shot: one seeded caption per test video, 2,990 videos."),
    CaptionEvalProtocol(
        name="msrvtt-all-captions", num_videos=59_800, caption_rule="all",
        reference="MSR-VTT zero-shot: every test caption (20 per video), 59,800 videos."),
    CaptionEvalProtocol(
        name="msrvtt-tiny-smoke", num_videos=24, height=32, width=32,
        reference="Smoke runs only: the first 24 videos of the one-caption MSR-VTT plan at 32x32."),
    EvalProtocol(name="ucf101-vidrd-long128", num_videos=2048, num_frames=128),
)
