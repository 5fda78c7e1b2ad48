"""The weights doctor behind `vidrd-bench weights`: which files each scoring protocol and generator preset needs,
whether they are present, and whether they load the way a run would load them.

It asks the plug-in registries (generators, detectors) what they need; the store itself (vidrd_bench.core.weights)
knows only the files those plug-ins declared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.core.registry import Registry
from vidrd_bench.core.weights import WEIGHT_FILES, WeightFile, WeightStatus, file_sha256, guidance, weights_dir
from vidrd_bench.core.weights import status as store_status
from vidrd_bench.generators import GENERATORS
from vidrd_bench.metrics.detectors import DETECTORS, load_detector
from vidrd_bench.models.vidrd.checkpoint import read_checkpoint
from vidrd_bench.protocols import PROTOCOLS, FVDProtocol, ISProtocol, metric_protocols


def known_files() -> Registry[WeightFile]:
    """Every file a registered generator or detector declared (importing their registries declares them)."""
    return WEIGHT_FILES


def status(root: str | os.PathLike | None = None, with_hash: bool = True) -> list[WeightStatus]:
    """Presence, completeness and sha256 of every declared weights entry under the weights folder."""
    return store_status(root, with_hash)


def protocol_weights() -> dict[str, tuple[str, ...]]:
    """Files under the weights folder each scoring protocol needs: its detector's (vidrd_bench.metrics.detectors.DETECTORS);
    protocols on random-weight detectors need none and are left out."""
    return {p.name: DETECTORS.get(p.detector).weight_files
            for p in (*metric_protocols(FVDProtocol, subtypes=True), *metric_protocols(ISProtocol))
            if DETECTORS.get(p.detector).weight_files}


def needed_by() -> dict[str, tuple[str, ...]]:
    """Files under the weights folder each scoring protocol and each generator preset needs ('generator:preset').

    Generators' needs come from their registry entries (vidrd_bench.generators); presets that read a --model
    folder or use random weights need nothing here.
    """
    out = protocol_weights()
    for name, entry in GENERATORS.items():
        out.update({f"{name}:{p.name}": p.needs for p in entry.presets if p.needs})
    return out


def needs_of(name: str) -> tuple[str, ...] | None:
    """Files `name` needs: a scoring protocol, 'generator:preset', or a bare generator (its default preset)."""
    if name in GENERATORS:
        name = f"{name}:{GENERATORS.get(name).default_preset.name}"
    return needed_by().get(name, () if ":" in name and name.split(":")[0] in GENERATORS else None)


PUBLISHED_SHA256: dict[str, str] = {}  # name -> hash its publisher states; none of these files has one published


def _check_json_configs(path: Path, entry: WeightFile) -> None:
    """Each required *.json member of a folder entry must be a non-empty JSON object."""
    for member in (m for m in entry.required_members if m.endswith(".json")):
        file = path / member
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
            raise WeightsError(f"{file} is not readable JSON ({e}). " + guidance(entry, path.parent)) from None
        if not isinstance(data, dict) or not data:
            raise WeightsError(f"{file} is empty or not a JSON object. " + guidance(entry, path.parent))


def verify_loads(protocol_name: str, root: str | os.PathLike | None = None) -> None:
    """Load every file `protocol_name` (a scoring protocol or a generator, see needs_of) needs the way a run would
    (detectors built on CPU, checkpoints read).

    Raises WeightsError naming the first file that does not load; where a published sha256 is known, checks it.
    """
    base = weights_dir(root)
    for name in needs_of(protocol_name) or ():
        path, entry = base / name, known_files().get(name)
        if name in PUBLISHED_SHA256 and path.is_file() and file_sha256(path) != PUBLISHED_SHA256[name]:
            raise WeightsError(f"{path} does not have the published sha256 {PUBLISHED_SHA256[name]}. "
                               + guidance(entry, base))
        if path.is_dir():
            _check_json_configs(path, entry)
        elif path.suffix in (".pth", ".bin") and path.exists():
            read_checkpoint(path)
    if protocol_name in protocol_weights():
        protocol = PROTOCOLS.get(protocol_name)
        load_detector(protocol.detector, base, "cpu", None, protocol.resolution)
    elif "vae_finetuned" in (needs_of(protocol_name) or ()) and (base / "vae_finetuned").is_dir():
        read_checkpoint(base / "vae_finetuned" / "diffusion_pytorch_model.bin")
