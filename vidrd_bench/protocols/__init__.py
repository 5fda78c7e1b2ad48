"""Frozen, named protocols: a changed setting gets a new name, so two results are comparable or refuse to be.

One module per kind (evaluation, fvd, inception, ...) defines its dataclass and its conventions; this package
registers them all in PROTOCOLS. A new kind is one module plus its line below; records decode by their fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vidrd_bench.core.errors import ProtocolMismatchError, VidrdBenchError
from vidrd_bench.core.registry import Registry, UnknownNameError
from vidrd_bench.protocols.base import (RETIRED, GeneratorSettings, Protocol, check_not_retired, check_prompts_seeds,
                                        cite, differences)
from vidrd_bench.protocols.cdfvd import (CDFVD_MSRVTT, CDFVD_PROTOCOLS, CDFVD_UCF101_10K, CDFVD_UCF101_2048,
                                         SMOKE_CDFVD)
from vidrd_bench.protocols.clipsim import (CLIPSCORE_L14, CLIPSIM_B32, CLIPSIM_B32_ALL, CLIPSIM_PROTOCOLS,
                                           SMOKE_CLIPSIM, ClipsimProtocol)
from vidrd_bench.protocols.evaluation import (EVAL_PROTOCOLS, OLD_GENERATION_RECORD, CaptionEvalProtocol,
                                              EvalProtocol)
from vidrd_bench.protocols.fid import (DEFAULT_FID, FID_MSRVTT, FID_MSRVTT_1F, FID_MSRVTT_CLEAN, FID_PROTOCOLS,
                                       SMOKE_FID, FIDProtocol)
from vidrd_bench.protocols.fvd import (FVD_MSRVTT, FVD_PROTOCOLS, FVD_STYLEGANV_2048, FVD_STYLEGANV_2048_128F,
                                       FVD_STYLEGANV_2048_128F_SUB8, FVD_UCF101_10K, FVD_VARIANTS, LONG_FVD_PROTOCOLS,
                                       SMOKE_FVD, FVDProtocol)
from vidrd_bench.protocols.jedi import (JEDI_MSRVTT, JEDI_PROTOCOLS, JEDI_UCF101_10K, JEDI_UCF101_5K, SMOKE_JEDI,
                                        JEDiProtocol)
from vidrd_bench.protocols.inception import (IS_PROTOCOLS, IS_STYLEGANV_10K, IS_STYLEGANV_2048, IS_TGAN, IS_TGANV2,
                                             SMOKE_IS, ISProtocol)

__all__ = [
    "RETIRED", "GeneratorSettings", "Protocol", "check_not_retired", "check_prompts_seeds", "cite", "differences",
    "OLD_GENERATION_RECORD", "CaptionEvalProtocol", "EvalProtocol", "FVD_MSRVTT", "FVD_STYLEGANV_2048",
    "FVD_STYLEGANV_2048_128F", "FVD_STYLEGANV_2048_128F_SUB8", "FVD_UCF101_10K", "FVD_VARIANTS", "SMOKE_FVD",
    "FVDProtocol", "JEDI_MSRVTT", "JEDI_UCF101_10K", "JEDI_UCF101_5K", "SMOKE_JEDI", "JEDiProtocol",
    "IS_STYLEGANV_10K", "IS_STYLEGANV_2048", "IS_TGAN", "IS_TGANV2", "SMOKE_IS", "ISProtocol",
    "DEFAULT_FVD", "DEFAULT_IS", "PROTOCOLS", "with_counts", "get_protocol", "metric_protocols", "metric_protocol",
    "protocol_kinds", "protocol_from_dict", "DEFAULT_FID", "FID_MSRVTT", "FID_MSRVTT_1F", "FID_MSRVTT_CLEAN",
    "SMOKE_FID", "FIDProtocol",
    "CDFVD_MSRVTT", "CDFVD_PROTOCOLS", "CDFVD_UCF101_10K", "CDFVD_UCF101_2048", "SMOKE_CDFVD",
    "CLIPSCORE_L14", "CLIPSIM_B32", "CLIPSIM_B32_ALL", "SMOKE_CLIPSIM",
    "ClipsimProtocol", "DEFAULT_CLIPSIM",
]

# Defaults for ucf101-vidrd (README "Protocols" says why).
DEFAULT_FVD, DEFAULT_IS = FVD_UCF101_10K.name, IS_STYLEGANV_10K.name
DEFAULT_CLIPSIM = CLIPSIM_B32.name

PROTOCOLS: Registry[Protocol] = Registry("protocol", Protocol)
for _proto in (*EVAL_PROTOCOLS, *FVD_PROTOCOLS, *IS_PROTOCOLS, SMOKE_FVD, SMOKE_IS, *LONG_FVD_PROTOCOLS,
               *FID_PROTOCOLS, SMOKE_FID, *JEDI_PROTOCOLS, *CDFVD_PROTOCOLS, *CLIPSIM_PROTOCOLS):
    PROTOCOLS.register(_proto.name, _proto)


def with_counts(proto: FVDProtocol | ISProtocol, num_fake: int | None = None,
                num_real: int | None = None) -> FVDProtocol | ISProtocol:
    """The protocol with other sample counts: a new name and `derived_from`, so it never passes for the original."""
    changes: dict[str, Any] = {}
    if num_fake is not None and num_fake != proto.num_fake:
        changes.update(num_fake=num_fake, fake_selection="first")
    if num_real is not None and num_real != getattr(proto, "num_real", num_real):
        changes.update(num_real=num_real, real_selection="first-sorted")
    if not changes:
        return proto
    suffix = "".join(f"-{k.split('_')[1]}{v}" for k, v in changes.items() if k.startswith("num_"))
    return dataclasses.replace(proto, name=f"{proto.name}{suffix}", derived_from=proto.derived_from or proto.name,
                               reference=f"{proto.name} with other sample counts: not comparable to it.", **changes)


def get_protocol(name: str) -> Protocol:
    """The registered protocol `name`; retired names raise an error naming their successors."""
    try:
        return PROTOCOLS.get(name)
    except UnknownNameError:
        check_not_retired(name, "These settings")
        raise


def _of_kind(proto: Protocol, kind: type, subtypes: bool) -> bool:
    """Whether `proto` is of exactly `kind` (with `subtypes`: or of a subclass of it)."""
    return isinstance(proto, kind) if subtypes else type(proto) is kind


def metric_protocols(kind: type, subtypes: bool = False) -> list[Protocol]:
    """Registered protocols of exactly one kind (FVDProtocol, ISProtocol, JEDiProtocol, ...), in registration
    order; with `subtypes`, also those of its subclasses (JEDiProtocol's real side is an FVDProtocol's)."""
    return [p for _, p in PROTOCOLS.items() if _of_kind(p, kind, subtypes)]


def metric_protocol(protocol: str | Protocol, kind: type, subtypes: bool = False) -> Protocol:
    """The protocol `protocol` names (a Protocol passes through; retired names refused, naming successors), checked
    to be of `kind` (FVDProtocol, ISProtocol, ...): a metric scores only under protocols of its own kind (FVD not
    under a JEDi protocol); `subtypes` also accepts its subclasses (real statistics for any FVDProtocol kind)."""
    proto = get_protocol(protocol) if isinstance(protocol, str) else protocol
    if not _of_kind(proto, kind, subtypes):
        raise VidrdBenchError(f"Protocol {proto.name!r} is not an {kind.__name__}; pick one of "
                              f"{', '.join(p.name for p in metric_protocols(kind, subtypes))}.")
    return proto


def protocol_kinds() -> list[type]:
    """Every protocol dataclass with a registered protocol, in first-registration order."""
    return list(dict.fromkeys(type(p) for _, p in PROTOCOLS.items()))


def protocol_from_dict(d: dict[str, Any]) -> Protocol:
    """Rebuild a protocol from its JSON record: the registered kind with the fewest fields that holds all its keys
    (older records may lack fields added since; their defaults apply)."""
    check_not_retired(str(d.get("name")), "This record")
    if "frames_per_clip" in d:
        raise ProtocolMismatchError(OLD_GENERATION_RECORD.format(name=d.get("name")))
    fits = [k for k in protocol_kinds() if set(d) <= {f.name for f in dataclasses.fields(k)} - {"reference"}]
    if not fits:
        raise ProtocolMismatchError(
            f"This record's protocol {d.get('name')!r} has settings no registered protocol kind has "
            f"({', '.join(sorted(d))}); it was written by another version of vidrd-bench. Recompute it with this one."
        )
    return min(fits, key=lambda k: len(dataclasses.fields(k)))(**d)
