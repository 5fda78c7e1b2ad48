"""Known result records for the report tests: a paper-protocol run, a smoke run, and their building block."""

from __future__ import annotations

from typing import Any

from vidrd_bench.protocols import PROTOCOLS
from vidrd_bench.results import ResultRecord

WEIGHTS = {"ModelT2V.pth": "a" * 64, "i3d_torchscript.pt": "b" * 64, "conv3d_deepnetA_ucf.npz": "c" * 64}


def make_record(metric: str, value: float, **kw: Any) -> ResultRecord:
    """A fixed-provenance record under the paper's protocols unless overridden."""
    proto = {"fvd": "fvd-ucf101-10k", "is": "is-c3d-styleganv-10k", "fid": "fid-msrvtt-2990-16f"}[metric]
    fields: dict[str, Any] = dict(
        metric=metric, value=value, higher_is_better=metric == "is", n=10_000,
        protocol=PROTOCOLS.get(proto).to_dict(), generation_protocol=PROTOCOLS.get("ucf101-vidrd").to_dict(),
        seeds={"base_seed": 42}, weights=dict(WEIGHTS), label="vidrd-repro", version="0.1.0",
        git_commit="0123456789abcdef0123456789abcdef01234567", date="2024-05-01T12:00:00+00:00",
    )
    fields.update(kw)
    return ResultRecord(**fields)


def paper_run() -> list[ResultRecord]:
    """FVD with a bootstrap CI and IS with a split std, both under the paper's protocols."""
    return [
        make_record("fvd", 371.25, ci_low=362.5, ci_high=380.0, ci_level=0.95,
                    extra={"per_class": {"Diving": 310.5, "Knitting": 402.25}}),
        make_record("is", 38.9, std=0.45),
    ]


def smoke_run() -> list[ResultRecord]:
    """A tiny random-weight smoke run: its own protocols, the generator that made its videos, and the smoke flag."""
    gen = PROTOCOLS.get("tiny-smoke").to_dict()
    made_by = {"name": "vidrd", "preset": "tiny", "settings": {"name": "vidrd-tiny"}}
    return [
        make_record("fvd", 2150.0, protocol=PROTOCOLS.get("fvd-smoke-tiny").to_dict(), generation_protocol=gen,
                    generator=made_by, label="smoke", smoke=True, n=24, ci_low=2001.0, ci_high=2302.0, ci_level=0.95),
        make_record("is", 1.02, protocol=PROTOCOLS.get("is-smoke-tiny").to_dict(), generation_protocol=gen,
                    generator=made_by, label="smoke", smoke=True, n=24, std=0.01),
    ]
