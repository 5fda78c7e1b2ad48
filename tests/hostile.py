"""Hostile inputs shared by the security tests and the bad-input catalogue: files crafted the way an attacker would."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vidrd_bench.runners.doctor import known_files


class RunsCode:
    """Pickles to a call of `exec` that writes `marker`: loading it with full unpickling would run a program."""

    def __init__(self, marker: Path) -> None:
        """Remember the marker file the payload would create."""
        self.marker = marker

    def __reduce__(self) -> tuple:
        """exec(code) on unpickling; the code only creates the marker file."""
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def vidrd_weights_folder(root: Path, model_t2v: object, vae_bin: object) -> Path:
    """A weights folder with every file `vidrd` needs: SD 2.1 configs, ModelT2V.pth and vae_finetuned/ as given."""
    for member in known_files().get("stable-diffusion-2-1-base").required_members:
        file = root / "stable-diffusion-2-1-base" / member
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps({"_class_name": "x"}) if member.endswith(".json") else "x")
    torch.save(model_t2v, root / "ModelT2V.pth")
    (root / "vae_finetuned").mkdir(exist_ok=True)
    (root / "vae_finetuned" / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL"}))
    torch.save(vae_bin, root / "vae_finetuned" / "diffusion_pytorch_model.bin")
    return root


def huge_gif(path):
    """A GIF of 10 frames of 8000x8000 pixels in under a megabyte (the issue's was 269 bytes, hand-made)."""
    frames = [Image.new("P", (8000, 8000), i) for i in range(10)]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:])
    return path


def npz_declaring(path, shape, member="sigma.npy"):
    """An npz whose member's header declares `shape` but whose body is a few kilobytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, header.getvalue() + bytes(4096))
    return path


def hostile_name_table() -> list[str]:
    """Run names that break out of HTML, SVG attributes, markdown, JUnit XML, LaTeX, CSV and matplotlib text."""
    return [
        'x" onload="alert(1)',
        "<script>alert(1)</script>",
        "a\n# injected heading\n| x | y |",
        "ctl\x00\x01\x08\x0b\x1b name",
        "back\\slash $\\beta_2^$ 50% & #1 _x_ {y} ~ ^",
        "para\n\n\\end{tabular}\\input{/etc/passwd}",
        "=HYPERLINK(\"http://x\")",
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1)",
        "]]><x>&amp;</x>",
    ]
