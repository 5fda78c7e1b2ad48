"""The weights doctor (`vidrd-bench weights --check`): it loads files the way a run would and never runs their code."""

from __future__ import annotations

from pathlib import Path

import torch
from click.testing import CliRunner

from tests.hostile import RunsCode, vidrd_weights_folder
from vidrd_bench.cli import main


def test_weights_check_refuses_checkpoints_that_would_run_code(tmp_path: Path):
    """`weights --check vidrd` refuses a ModelT2V.pth and a VAE .bin whose pickles call exec; the code never runs."""
    marker = tmp_path / "ran.txt"
    good = {"state_dict": {"unet.conv_in.weight": torch.zeros(2)}, "hyper_parameters": {"lr": 1e-5}}
    hostile = {"state_dict": {"unet.conv_in.weight": torch.zeros(2)},
               "hyper_parameters": {"lr": 1e-5, "x": RunsCode(marker)}}
    vae_hostile = {"decoder.conv_out.weight": torch.zeros(2), "x": RunsCode(marker)}
    args = ["weights", "--no-hash", "--weights-dir", str(tmp_path / "w"), "--check", "vidrd"]
    vidrd_weights_folder(tmp_path / "w", hostile, {"decoder.conv_out.weight": torch.zeros(2)})
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "ModelT2V.pth holds pickled Python objects" in res.output
    assert "builtins.exec" in res.output and "Traceback" not in res.output
    vidrd_weights_folder(tmp_path / "w", good, vae_hostile)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "diffusion_pytorch_model.bin holds pickled Python objects" in res.output
    assert not marker.exists()
    vidrd_weights_folder(tmp_path / "w", good, {"decoder.conv_out.weight": torch.zeros(2)})
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "vidrd: every file it needs is present and loads" in res.output
