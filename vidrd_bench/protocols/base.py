"""The protocol base class and the helpers every protocol kind uses (field checks, citations)."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from typing import Any

from vidrd_bench.core.errors import ProtocolMismatchError


def differences(mine: dict[str, Any], theirs: dict[str, Any]) -> str:
    """"key: theirs vs mine" for every setting whose values differ, sorted by key (a mismatch error's detail)."""
    keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    return ", ".join(f"{k}: {theirs.get(k)!r} vs {mine.get(k)!r}" for k in keys)


@dataclass(frozen=True)
class Protocol:
    """Base of every protocol: a name plus settings that fully determine the numbers produced."""

    name: str
    reference: str = field(default="", compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON records and statistics files (the reference text is documentation, not a setting)."""
        d = dataclasses.asdict(self)
        d.pop("reference")
        return d

    def check_same(self, other: dict[str, Any] | "Protocol", what: str = "these inputs") -> None:
        """Raise ProtocolMismatchError unless `other` carries exactly this protocol (retired names named as such)."""
        theirs = other.to_dict() if isinstance(other, Protocol) else dict(other)
        check_not_retired(str(theirs.get("name")), what)
        mine = self.to_dict()
        if theirs != mine:
            detail = differences(mine, theirs)
            raise ProtocolMismatchError(
                f"{what} were made under protocol {theirs.get('name')!r} but this run uses {self.name!r} "
                f"(differences: {detail}). Scores made under different protocols are not comparable; "
                "recompute them under one protocol, or pass the matching --protocol."
            )


# Names used before the conventions became fields: their files and results are refused, naming the successors.
RETIRED = {
    "fvd-i3d-16f": ("fvd-ucf101-10k", "fvd-styleganv-2048-16f", "fvd-ucf101-10k-stretch"),
    "fvd-i3d-pytorch-16f": ("fvd-ucf101-10k-i3d-pytorch",),
    "is-c3d-ucf101": ("is-c3d-styleganv-10k", "is-c3d-tgan", "is-c3d-tganv2", "is-c3d-styleganv-2048"),
    "fvd-tiny-random": ("fvd-smoke-tiny",),
    "is-tiny-random": ("is-smoke-tiny",),
}


def check_not_retired(name: str, what: str = "This input") -> None:
    """Refuse a retired protocol name with a message naming the protocols that replace it."""
    if name in RETIRED:
        raise ProtocolMismatchError(
            f"{what} use protocol {name!r}, retired when every FVD/IS convention became a protocol field (its "
            f"real-clip preparation, covariance divisor and split rule match no published protocol exactly). "
            f"Recompute under one of: {', '.join(RETIRED[name])} (see README, Protocols)."
        )


@dataclass(frozen=True)
class GeneratorSettings(Protocol):
    """Base of a generator's own settings (frozen, named): how the model renders, not what the benchmark asks."""

    def native_size(self) -> tuple[int | None, int | None, int | None]:
        """(frames, height, width) these settings render; None where the model's own default applies."""
        return (getattr(self, "num_frames", None), getattr(self, "height", None), getattr(self, "width", None))


def _check_choice(proto: Protocol, name: str, allowed: tuple[str, ...]) -> None:
    """Refuse a field value outside the implemented conventions."""
    if getattr(proto, name) not in allowed:
        raise ValueError(f"{proto.name}: {name}={getattr(proto, name)!r}; implemented: {', '.join(allowed)}")


def _check_count(proto: Protocol, count: str, selection: str, rule: str) -> None:
    """A sample count goes with its selection rule: None with 'all', a number with `rule`."""
    n, sel = getattr(proto, count), getattr(proto, selection)
    if (n is None and sel != "all") or (n is not None and (sel != rule or n < 2)):
        raise ValueError(f"{proto.name}: {count}={n!r} with {selection}={sel!r}; use None with 'all' or a count "
                         f">= 2 with {rule!r}")


def cite(proto: Protocol, reference: str) -> Protocol:
    """The protocol with its reference text (file and line of each convention) attached."""
    return dataclasses.replace(proto, reference=reference.strip())


def check_prompts_seeds(prompts: list[str], seeds: list[int], error: type[Exception]) -> None:
    """Refuse anything but one prompt string and one integer seed per video (raising `error`)."""
    if isinstance(prompts, str) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise error(f"prompts must be a non-empty list of strings, got {prompts!r:.200}; pass one prompt per video.")
    if len(seeds) != len(prompts) or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in seeds):
        raise error(f"Expected one integer seed per prompt: {len(prompts)} prompts but seeds "
                    f"{list(seeds)!r:.200}. Each video's seed fixes its noise; take them from the run's plan.")
