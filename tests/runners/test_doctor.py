"""The weights doctor (`vidrd-bench weights --check`): it loads files the way a run would and never runs their code."""

from __future__ import annotations

from pathlib import Path

import torch
from click.testing import CliRunner

from tests.hostile import RunsCode, vidrd_weights_folder
from vidrd_bench.cli import main
from vidrd_bench.metrics.detectors.i3d import export_torchscript, tiny_i3d


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


def test_weights_check_loads_a_torchscript_detector_only_with_trust(tmp_path):
    """`weights --check` never runs a detector program it was not told to trust; --trust-detector lets it load."""
    export_torchscript(tiny_i3d(), tmp_path / "i3d_torchscript.pt")
    args = ["weights", "--no-hash", "--weights-dir", str(tmp_path), "--check", "fvd-ucf101-10k"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "i3d_torchscript.pt (sha256 " in res.output and "is TorchScript" in res.output
    res = CliRunner().invoke(main, args + ["--trust-detector"])
    assert res.exit_code == 0 and "fvd-ucf101-10k: every file it needs is present and loads" in res.output


def test_every_command_that_loads_a_detector_offers_the_opt_in():
    """--trust-detector on stats, score fvd, score is, calibrate and weights, each saying TorchScript is a program."""
    for command in (["stats"], ["score", "fvd"], ["score", "is"], ["calibrate"], ["weights"]):
        res = CliRunner().invoke(main, command + ["--help"], terminal_width=200)
        assert res.exit_code == 0 and "--trust-detector" in res.output and "TorchScript is a program" in res.output
