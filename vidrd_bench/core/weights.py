"""The weights store: where model and detector files live, their sha256, and how to obtain them.

Each model or detector module declares its own files here (WEIGHT_FILES.register beside its loader); which
protocol or preset needs which file is the runners' question (vidrd_bench.runners.doctor)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.core.io import sha256_tree
from vidrd_bench.core.registry import Registry

if TYPE_CHECKING:
    import torch

ENV_VAR = "VIDRD_BENCH_WEIGHTS"
DEFAULT_DIR = Path("~/.cache/vidrd-bench/weights")


@dataclass(frozen=True)
class WeightFile:
    """One file or folder a protocol needs: its name under the weights folder, what it is, where to get it."""

    name: str
    what: str
    source: str
    structure: str
    is_dir: bool = False
    required_members: tuple[str, ...] = ()
    optional: bool = False

    def missing_members(self, path: Path) -> list[str]:
        """Members of a folder entry that are absent (empty for files or complete folders)."""
        return [m for m in self.required_members if not (path / m).exists()]


WEIGHT_FILES: Registry[WeightFile] = Registry("weights file", WeightFile)  # filled by the modules that load them


def weights_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The weights folder: the --weights-dir flag, else $VIDRD_BENCH_WEIGHTS, else ~/.cache/vidrd-bench/weights."""
    chosen = explicit or os.environ.get(ENV_VAR) or DEFAULT_DIR
    return Path(chosen).expanduser()


def guidance(entry: WeightFile, root: Path) -> str:
    """One paragraph telling the user what is expected at `root/entry.name` and where to obtain it."""
    return (
        f"Expected {entry.what} at {root / entry.name} ({entry.structure}). Obtain it from {entry.source} "
        f"and place it there, or point --weights-dir / ${ENV_VAR} at the folder that holds it. "
        "vidrd-bench never downloads weights."
    )


def locate(name: str, root: str | os.PathLike | None = None) -> Path:
    """Path of weights entry `name` under the weights folder; a clear WeightsError if absent or incomplete."""
    entry = WEIGHT_FILES.get(name)
    base = weights_dir(root)
    path = base / entry.name
    if not path.exists():
        raise WeightsError(f"Missing weights file {path}. " + guidance(entry, base))
    missing = entry.missing_members(path)
    if missing:
        raise WeightsError(f"Weights folder {path} is incomplete: missing {', '.join(missing)}. " + guidance(entry, base))
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a weights file, or a stable digest of a weights folder's files."""
    return sha256_tree(path)


@dataclass(frozen=True)
class WeightStatus:
    """What `vidrd-bench weights` reports for one entry."""

    name: str
    path: Path
    present: bool
    problem: str
    sha256: str | None
    entry: WeightFile


def status(root: str | os.PathLike | None = None, with_hash: bool = True) -> list[WeightStatus]:
    """Presence, completeness and sha256 of every known weights entry under the weights folder."""
    base = weights_dir(root)
    rows = []
    for name, entry in WEIGHT_FILES.items():
        path = base / name
        present = path.exists()
        missing = entry.missing_members(path) if present else []
        problem = "" if present and not missing else ("incomplete: " + ", ".join(missing) if present else "missing")
        digest = file_sha256(path) if present and not missing and with_hash else None
        rows.append(WeightStatus(name, path, present and not missing, problem, digest, entry))
    return rows


def state_sha256(module: torch.nn.Module) -> str:
    """sha256 over a module's state dict (names, shapes, dtypes, bytes): identifies random weights exactly."""
    import torch  # deferred: reading the weights store must not import torch

    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}\0".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
