"""Reading VidRD's `ModelT2V.pth` (a Lightning checkpoint) into our video UNet, and handing out its other parts.

The release's UNet parameter names (diffusers 0.14 module tree) equal ours: checked key for key, with shapes,
against tests/generator/fixtures/vidrd_unet_keys.txt. Mapping is therefore the `unet.` prefix only.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from vidrd_bench.core.errors import WeightsError, brief
from vidrd_bench.models.vidrd.unet3d import UNet3DConditionModel

log = logging.getLogger(__name__)

UNET_PREFIX = "unet."
COMPONENT_PREFIXES = ("text_encoder", "vae")
SHOW = 5  # how many offending keys an error message lists


@dataclass(frozen=True)
class LoadReport:
    """What a checkpoint load matched: tensors loaded, and the keys that were missing, unexpected or misshapen."""

    path: str
    loaded: int
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]  # name, expected shape, file's shape

    @property
    def complete(self) -> bool:
        """True when every parameter of the model came from the file and nothing in it was left over."""
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        """One line for logs and result provenance."""
        return (f"{self.path}: {self.loaded} tensors loaded, {len(self.missing)} missing, "
                f"{len(self.unexpected)} unexpected, {len(self.mismatched)} shape mismatches")


def read_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The flat state dict of a Lightning checkpoint (its `state_dict`) or of a bare state-dict file.

    Loads with `weights_only=True` (tensors and plain containers only, no code runs); Lightning's hyper-parameter
    dicts are read as plain dicts through an allow-list, and any other pickled class refuses the file.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Checkpoint {path} does not exist or is not a file. Point the tool at the VidRD "
                           "ModelT2V.pth from the authors' README (a PyTorch Lightning checkpoint).")
    obj = load_tensors_only(path)
    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise WeightsError(
            f"{path} is not a model checkpoint: expected a dict with 'state_dict' (name -> tensor), as PyTorch "
            f"Lightning writes, or a bare state dict; found {type(obj).__name__}"
            f"{' with keys ' + str(list(obj)[:SHOW]) if isinstance(obj, Mapping) else ''}. "
            "Check that the file is VidRD's ModelT2V.pth.")
    return dict(state)


# Where Lightning versions define AttributeDict, the hyper-parameter dict a checkpoint pickles (module.qualname as
# pickled). Each is rebuilt as a plain dict: torch's weights-only unpickler then only fills it with items.
HYPER_PARAMETER_CLASSES = (
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "lightning_lite.utilities.data.AttributeDict",
    "lightning.fabric.utilities.data.AttributeDict",
    "lightning.pytorch.utilities.parsing.AttributeDict",
)


def load_tensors_only(path: Path) -> object:
    """torch.load with weights_only=True plus the hyper-parameter allow-list; any other class is refused by name."""
    allowed = [(dict, name) for name in HYPER_PARAMETER_CLASSES]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise _unreadable(path, err) from err
        raise WeightsError(
            f"{path} holds pickled Python objects besides tensors and plain values ({_unsafe_globals(path)}). "
            "vidrd-bench never unpickles code from a checkpoint, since loading it could run any program. If you "
            "trust the file, re-save its tensors alone (torch.save(checkpoint['state_dict'], 'ModelT2V.pth')) "
            "and point the tool at that file.") from None
    except Exception as err:  # noqa: BLE001 - torch raises many types for truncated or foreign files
        raise _unreadable(path, err) from err


def _unsafe_globals(path: Path) -> str:
    """The classes and functions the file's pickle names beyond the allow-list, read without running them."""
    try:
        names = [n for n in torch.serialization.get_unsafe_globals_in_checkpoint(path)
                 if n not in HYPER_PARAMETER_CLASSES]
    except Exception:  # noqa: BLE001 - the listing is for the message only
        names = []
    return "it names " + ", ".join(sorted(names)[:SHOW]) if names else "classes outside the allow-list"


def _unreadable(path: Path, err: Exception) -> WeightsError:
    """The error for a file torch cannot read."""
    return WeightsError(f"Cannot read checkpoint {path} ({type(err).__name__}: {brief(err)}). The file is "
                        f"truncated, corrupt or not a PyTorch checkpoint: download {path.name} again and compare "
                        "its sha256 with the one you expect.")


def unet_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The UNet's tensors under our names: `unet.*` keys with the prefix dropped, or a bare UNet state dict as is."""
    prefixed = {k[len(UNET_PREFIX):]: v for k, v in state.items() if k.startswith(UNET_PREFIX)}
    if prefixed:
        return prefixed
    if "conv_in.weight" in state:
        return dict(state)
    return {}


def component_state_dicts(source: str | os.PathLike | Mapping[str, torch.Tensor],
                          prefixes: tuple[str, ...] = COMPONENT_PREFIXES) -> dict[str, dict[str, torch.Tensor]]:
    """The checkpoint's `text_encoder.*` / `vae.*` sub-state-dicts (prefix dropped), only those present."""
    state = source if isinstance(source, Mapping) else read_checkpoint(source)
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for prefix in prefixes:
        head = prefix + "."
        sub = {k[len(head):]: v for k, v in state.items() if k.startswith(head)}
        if sub:
            parts[prefix] = sub
    return parts


def compare_state_dict(path: str, expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]
                       ) -> LoadReport:
    """Match a file's tensors against a model's by name and shape."""
    mismatched = tuple((k, tuple(expected[k].shape), tuple(found[k].shape)) for k in sorted(expected)
                       if k in found and tuple(found[k].shape) != tuple(expected[k].shape))
    return LoadReport(
        path=path,
        loaded=sum(1 for k in expected if k in found) - len(mismatched),
        missing=tuple(sorted(k for k in expected if k not in found)),
        unexpected=tuple(sorted(k for k in found if k not in expected)),
        mismatched=mismatched,
    )


def load_unet_checkpoint(path: str | os.PathLike, unet: UNet3DConditionModel, allow_partial: bool = False,
                         state: Mapping[str, torch.Tensor] | None = None) -> LoadReport:
    """Load the `unet.*` tensors of ModelT2V.pth into `unet`; refuse an incomplete match unless `allow_partial`.

    `state` may pass an already read checkpoint (see `read_checkpoint`) to avoid reading a large file twice.
    A model built on the meta device gets the file's tensors assigned (complete loads only).
    """
    state = read_checkpoint(path) if state is None else state
    found = unet_state_dict(state)
    if not found:
        heads = sorted({k.split(".", 1)[0] for k in state})[:SHOW]
        raise WeightsError(f"Checkpoint {path} holds no UNet tensors: no '{UNET_PREFIX}*' keys and no bare UNet keys "
                           f"(conv_in.weight); its keys start with {heads}. Use VidRD's ModelT2V.pth.")
    expected = unet.state_dict()
    report = compare_state_dict(str(path), expected, found)
    on_meta = any(p.is_meta for p in unet.parameters())
    if not report.complete and (not allow_partial or on_meta):
        raise WeightsError(_partial_message(report, expected, found, on_meta and allow_partial))
    usable = {k: v for k, v in found.items() if k in expected and tuple(v.shape) == tuple(expected[k].shape)}
    unet.load_state_dict(usable, strict=False, assign=on_meta)
    log.info("%s", report.summary())
    return report


def _partial_message(report: LoadReport, expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor],
                     meta: bool) -> str:
    """One paragraph naming the file and a few of the keys that did not match, with shapes."""
    parts = [f"Checkpoint {report.path} does not match the VidRD video UNet: {report.summary()}."]
    if report.missing:
        shown = ", ".join(f"{k} {tuple(expected[k].shape)}" for k in report.missing[:SHOW])
        parts.append(f"Missing (expected shape): {shown}{' ...' if len(report.missing) > SHOW else ''}.")
    if report.unexpected:
        shown = ", ".join(f"{k} {tuple(found[k].shape)}" for k in report.unexpected[:SHOW])
        parts.append(f"Unexpected (file's shape): {shown}{' ...' if len(report.unexpected) > SHOW else ''}.")
    if report.mismatched:
        shown = ", ".join(f"{k} expected {e} found {f}" for k, e, f in report.mismatched[:SHOW])
        parts.append(f"Shape mismatches: {shown}.")
    if meta:
        parts.append("A model built on the meta device can only be loaded completely.")
    parts.append("Check that the file is VidRD's ModelT2V.pth and that the UNet config matches it (SD 2.1-base "
                 "UNet, add_temp_embed and add_temp_conv on); pass allow_partial=True to load only what matches.")
    return " ".join(parts)
