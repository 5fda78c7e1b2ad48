"""Frozen, named protocols: a changed setting gets a new name, so two results are comparable or refuse to be."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from vidrd_bench.errors import ProtocolMismatchError
from vidrd_bench.registry import Registry


@dataclass(frozen=True)
class Protocol:
    """Base of every protocol: a name plus settings that fully determine the numbers produced."""

    name: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON records and statistics files."""
        return dataclasses.asdict(self)

    def check_same(self, other: dict[str, Any] | "Protocol", what: str = "these inputs") -> None:
        """Raise ProtocolMismatchError unless `other` carries exactly this protocol."""
        theirs = other.to_dict() if isinstance(other, Protocol) else dict(other)
        mine = self.to_dict()
        if theirs != mine:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            detail = ", ".join(f"{k}: {theirs.get(k)!r} vs {mine.get(k)!r}" for k in diff)
            raise ProtocolMismatchError(
                f"{what} were made under protocol {theirs.get('name')!r} but this run uses {self.name!r} "
                f"(differences: {detail}). Scores made under different protocols are not comparable; "
                "recompute them under one protocol, or pass the matching --protocol."
            )


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
class GeneratorSettings(Protocol):
    """Base of a generator's own settings (frozen, named): how the model renders, not what the benchmark asks."""

    def native_size(self) -> tuple[int | None, int | None, int | None]:
        """(frames, height, width) these settings render; None where the model's own default applies."""
        return (getattr(self, "num_frames", None), getattr(self, "height", None), getattr(self, "width", None))


@dataclass(frozen=True)
class FVDProtocol(Protocol):
    """Frechet Video Distance: detector, clip length, resolution, clip sampling."""

    detector: str = "i3d-torchscript"
    num_frames: int = 16
    resolution: int = 224
    real_clip_sampling: str = "random-offset"
    real_seed: int = 0


@dataclass(frozen=True)
class ISProtocol(Protocol):
    """Inception Score with C3D fine-tuned on UCF-101 (TGAN protocol)."""

    detector: str = "c3d-ucf101"
    num_frames: int = 16
    resolution: int = 112
    num_splits: int = 10


PROTOCOLS: Registry[Protocol] = Registry("protocol", Protocol)
PROTOCOLS.register("ucf101-vidrd", EvalProtocol(name="ucf101-vidrd"))
PROTOCOLS.register("ucf101-vidrd-release", EvalProtocol(name="ucf101-vidrd-release", num_frames=24))
PROTOCOLS.register("fvd-i3d-16f", FVDProtocol(name="fvd-i3d-16f"))
PROTOCOLS.register("fvd-i3d-pytorch-16f", FVDProtocol(name="fvd-i3d-pytorch-16f", detector="i3d-pytorch"))
PROTOCOLS.register("is-c3d-ucf101", ISProtocol(name="is-c3d-ucf101"))
PROTOCOLS.register("tiny-smoke", EvalProtocol(name="tiny-smoke", num_videos=24, height=32, width=32))
PROTOCOLS.register("fvd-tiny-random", FVDProtocol(name="fvd-tiny-random", detector="i3d-tiny-random", resolution=64))
PROTOCOLS.register("is-tiny-random", ISProtocol(name="is-tiny-random", detector="c3d-tiny-random"))


OLD_GENERATION_RECORD = (
    "This record's generation protocol {name!r} predates the split into an evaluation protocol and generator "
    "settings (it carries VidRD's sampler fields such as frames_per_clip). Its videos still score, but it cannot be "
    "resumed or compared with newer runs: regenerate into a new --out folder to get a comparable record."
)


def protocol_from_dict(d: dict[str, Any]) -> Protocol:
    """Rebuild a protocol from its JSON record, choosing the dataclass by its distinctive fields."""
    if "frames_per_clip" in d:
        raise ProtocolMismatchError(OLD_GENERATION_RECORD.format(name=d.get("name")))
    if "dataset" in d:
        return EvalProtocol(**d)
    if "num_splits" in d:
        return ISProtocol(**d)
    return FVDProtocol(**d)
