"""The one device rule used by generate, score and bench."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from vidrd_bench.cli import main
from vidrd_bench.core.devices import pick_device
from vidrd_bench.core.errors import VidrdBenchError


def test_explicit_device_wins_and_default_follows_cuda(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device(None) == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device(None) == torch.device("cuda", 0)
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("cuda:1") == torch.device("cuda", 1)


def test_torchrun_process_takes_its_local_rank(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device(None) == torch.device("cuda", 3)
    assert pick_device("cuda") == torch.device("cuda", 3)
    assert pick_device(torch.device("cuda", 2)) == torch.device("cuda", 2)
    assert pick_device("cpu") == torch.device("cpu")


def test_compile_cache_is_persistent_unless_the_user_chose_one(monkeypatch, tmp_path):
    from vidrd_bench.core.devices import persistent_compile_cache

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert persistent_compile_cache() == tmp_path / "vidrd-bench" / "inductor"
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    assert cache_dir() == str(tmp_path / "vidrd-bench" / "inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert persistent_compile_cache() == tmp_path / "mine"


def test_unknown_or_missing_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(VidrdBenchError, match="Unknown torch device 'gpu'"):
        pick_device("gpu")
    with pytest.raises(VidrdBenchError, match="asks for a GPU, but torch .* (finds no CUDA device|cannot start CUDA)"):
        pick_device("cuda:0")
    result = CliRunner().invoke(main, ["bench", "--preset", "tiny", "--device", "gpu", "--no-detectors"])
    assert result.exit_code != 0 and "Unknown torch device 'gpu'" in result.output
    assert "Traceback" not in result.output


def test_cuda_with_a_driver_too_old_names_the_driver(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")

    def old_driver():
        raise RuntimeError("The NVIDIA driver on your system is too old (found version 12020). Please update your "
                           "GPU driver by downloading and installing a new version.")

    monkeypatch.setattr(torch.cuda, "init", old_driver)
    with pytest.raises(VidrdBenchError, match=r"driver here is too old: it supports CUDA 12\.2, while torch .* is "
                                              r"built for CUDA 13\.0 \(for CUDA 13 the driver must be >= 580\)"):
        pick_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(VidrdBenchError, match="CPU-only build"):
        pick_device("cuda:0")


def test_default_dtype_builds_modules_in_that_dtype_and_restores_the_previous_default():
    """The full-random presets build their networks in bf16 on a GPU (HunyuanVideo would not fit in float32 first)."""
    import torch

    from vidrd_bench.core.devices import default_dtype

    with default_dtype(torch.bfloat16):
        layer = torch.nn.Linear(4, 4)
    assert layer.weight.dtype == torch.bfloat16 and torch.get_default_dtype() == torch.float32
    try:
        with default_dtype(torch.bfloat16):
            raise RuntimeError("a build that fails")
    except RuntimeError:
        pass
    assert torch.get_default_dtype() == torch.float32
