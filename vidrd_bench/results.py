"""Typed result records saved as JSON: every number carries what produced it (protocol, weights, seeds, commit)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidrd_bench import __version__
from vidrd_bench.errors import VidrdBenchError
from vidrd_bench.io import write_json_atomic

SCHEMA = "vidrd-bench/result/v1"


def git_commit() -> str | None:
    """The git commit of the vidrd-bench source tree, or None when not run from a checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """Package version, git commit and UTC date stamped on every record."""
    return {
        "version": __version__,
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


@dataclass
class ResultRecord:
    """One score: value with its confidence interval and everything needed to reproduce or compare it."""

    metric: str
    value: float
    higher_is_better: bool
    n: int
    protocol: dict[str, Any]
    generation_protocol: dict[str, Any] | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None
    std: float | None = None
    seeds: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)
    label: str = ""
    name: str = ""
    smoke: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    git_commit: str | None = None
    date: str = ""
    schema: str = SCHEMA

    @classmethod
    def create(cls, **kwargs: Any) -> "ResultRecord":
        """Build a record stamped with the current version, commit and date."""
        return cls(**{**provenance(), **kwargs})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, as saved in JSON."""
        return dataclasses.asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the record atomically as JSON."""
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ResultRecord":
        """Rebuild a record; refuses files that are not vidrd-bench results."""
        if d.get("schema") != SCHEMA:
            raise VidrdBenchError(
                f"Not a vidrd-bench result (schema {d.get('schema')!r}, expected {SCHEMA!r}). "
                "Pass the JSON files written by `vidrd-bench score`."
            )
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def load_results(path: str | os.PathLike) -> list[ResultRecord]:
    """Read one result file: a single record or a list of records."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VidrdBenchError(f"Result file {path} does not exist. Pass a JSON file written by `vidrd-bench score`.")
    except json.JSONDecodeError as e:
        raise VidrdBenchError(f"Result file {path} is not valid JSON ({e}). Re-run `vidrd-bench score` to rewrite it.")
    items = data if isinstance(data, list) else [data]
    return [ResultRecord.from_dict(d) for d in items]


def save_results(path: str | os.PathLike, records: list[ResultRecord]) -> Path:
    """Write several records as one JSON list, atomically."""
    return write_json_atomic(path, [r.to_dict() for r in records])
