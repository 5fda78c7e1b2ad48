"""Typed result records saved as JSON: every number carries what produced it (protocol, weights, seeds, commit)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidrd_bench import __version__
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.io import write_json_atomic
from vidrd_bench.core.limits import RECORD_BYTES, read_text

SCHEMA = "vidrd-bench/result/v1"


COMMIT_ENV = "VIDRD_BENCH_GIT_COMMIT"


def _git(*args: str) -> str | None:
    """`git args` run on the vidrd-bench source tree: its output, or None where git or the tree is missing."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit() -> str | None:
    """The git commit of the vidrd-bench source tree, else $VIDRD_BENCH_GIT_COMMIT (baked into the Docker image at
    build time, where there is no git), else None."""
    return (_git("rev-parse", "HEAD") or "").strip() or os.environ.get(COMMIT_ENV) or None


def git_modified() -> bool | None:
    """Whether the source tree's tracked files differ from its commit (a copy of a working tree whose HEAD is older
    than its files, or uncommitted edits): then git_commit alone does not say which code ran. None without git."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status.strip())


def provenance() -> dict[str, Any]:
    """Package version, git commit (and whether the tree differed from it) and UTC date stamped on every record."""
    return {
        "version": __version__,
        "git_commit": git_commit(),
        "git_modified": git_modified(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _finite(x: Any) -> bool:
    """A real number that is neither NaN nor infinite (bool excluded)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


_FIELD_CHECKS = (
    ("metric", "a non-empty string such as 'fvd'", lambda v: isinstance(v, str) and bool(v)),
    ("value", "a finite number", _finite),
    ("higher_is_better", "true or false", lambda v: isinstance(v, bool)),
    ("n", "a whole number of videos", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    ("protocol", "an object with a name", lambda v: isinstance(v, dict) and isinstance(v.get("name"), str)),
    ("ci_low", "a finite number or null", lambda v: v is None or _finite(v)),
    ("ci_high", "a finite number or null", lambda v: v is None or _finite(v)),
    ("std", "a finite number or null", lambda v: v is None or _finite(v)),
    ("extra", "an object", lambda v: v is None or isinstance(v, dict)),
    ("weights", "an object", lambda v: v is None or isinstance(v, dict)),
    ("precision", "an object or null", lambda v: v is None or isinstance(v, dict)),
    ("git_modified", "true, false or null", lambda v: v is None or isinstance(v, bool)),
)


def _check_interval(d: dict[str, Any]) -> None:
    """Refuse a confidence interval that does not contain its value (a CI gate would compare the interval alone)."""
    low, high, value = d.get("ci_low"), d.get("ci_high"), d["value"]
    slack = 1e-9 * max(1.0, abs(value))  # the interval's centre and the value are computed apart, to rounding
    if (low is not None and low > value + slack) or (high is not None and high < value - slack):
        raise VidrdBenchError(
            f"The result record's interval [{low}, {high}] does not contain its value {value}. vidrd-bench writes "
            "intervals around the value; this record was edited or made elsewhere, and a regression gate reading "
            "its interval would judge a score it does not hold. Re-run `vidrd-bench score` to rewrite the file."
        )


@dataclass
class ResultRecord:
    """One score: value with its confidence interval and everything needed to reproduce or compare it."""

    metric: str
    value: float
    higher_is_better: bool
    n: int
    protocol: dict[str, Any]
    generation_protocol: dict[str, Any] | None = None
    generator: dict[str, Any] | None = None
    precision: dict[str, Any] | None = None  # run.json's: name, and agreement_to_bf16 for a non-protocol precision
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
    git_modified: bool | None = None  # tracked files differed from git_commit when it ran (None: unknown)
    date: str = ""
    schema: str = SCHEMA

    @classmethod
    def create(cls, **kwargs: Any) -> "ResultRecord":
        """Build a record stamped with the current version, commit and date."""
        return cls(**{**provenance(), **kwargs})

    def commit_label(self) -> str:
        """The short commit, marked where the code that ran differed from it ('' where none was recorded)."""
        if not self.git_commit:
            return ""
        return self.git_commit[:7] + (" (modified)" if self.git_modified else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, as saved in JSON."""
        return dataclasses.asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the record atomically as JSON."""
        return write_json_atomic(path, self.to_dict())

    def summary(self) -> str:
        """The record in one line (metric, value, n, protocol), e.g. for an error that must not lose it."""
        return f"{self.metric.upper()} = {self.value!r} (n={self.n}, protocol {self.protocol.get('name')})"

    @classmethod
    def from_dict(cls, d: Any) -> "ResultRecord":
        """Rebuild a record; refuses objects that are not vidrd-bench results or hold wrong types or NaN/inf."""
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            got = f"schema {d.get('schema')!r}" if isinstance(d, dict) else f"a JSON {type(d).__name__}"
            raise VidrdBenchError(
                f"Not a vidrd-bench result ({got}, expected an object with schema {SCHEMA!r}). "
                "Pass the JSON files written by `vidrd-bench score`."
            )
        problems = [f"{key} {d.get(key)!r} ({want})" for key, want, ok in _FIELD_CHECKS if not ok(d.get(key))]
        if problems:
            raise VidrdBenchError(
                f"The result record has unusable fields: {'; '.join(problems)}. A score must be a finite number "
                "with its metric and protocol; re-run `vidrd-bench score` to rewrite the file."
            )
        _check_interval(d)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def load_results(path: str | os.PathLike) -> list[ResultRecord]:
    """Read one result file: a single record or a list of records."""
    try:
        data = json.loads(read_text(path, RECORD_BYTES, f"Result file {path}"))
    except FileNotFoundError:
        raise VidrdBenchError(f"Result file {path} does not exist. Pass a JSON file written by `vidrd-bench score`.")
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError) as e:
        raise VidrdBenchError(f"Result file {path} is not valid JSON text ({e}). Re-run `vidrd-bench score` to rewrite "
                              "it.") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise VidrdBenchError(f"Result file {path} holds an empty list: no result to use. Pass a file written by "
                              "`vidrd-bench score`.")
    records = []
    for number, item in enumerate(items, 1):
        try:
            records.append(ResultRecord.from_dict(item))
        except VidrdBenchError as e:
            where = f"Result file {path}" + (f" (entry {number})" if isinstance(data, list) else "")
            raise VidrdBenchError(f"{where}: {e}") from None
    return records


def save_results(path: str | os.PathLike, records: list[ResultRecord]) -> Path:
    """Write several records as one JSON list, atomically."""
    return write_json_atomic(path, [r.to_dict() for r in records])
