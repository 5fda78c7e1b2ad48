"""benchmarks/diffusers_peer.py on the CPU's tiny pipelines: the record holds every side with its ratio, and a run
stopped part-way (a device call's time limit) still leaves the rows it measured on disk."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "diffusers_peer.py"


@pytest.fixture
def peer(monkeypatch):
    """The script as a module, with torch.compile as the identity (compiling is timed on the GPU, not here)."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    monkeypatch.setattr(torch, "compile", lambda module, **kw: module)
    spec = importlib.util.spec_from_file_location("diffusers_peer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(peer, monkeypatch, out, sides):
    monkeypatch.setattr(sys, "argv", ["diffusers_peer.py", "--dry-run", "--models", "wan", "--sides", sides,
                                      "--iters", "1", "--out", str(out)])
    peer.main()


def test_the_record_has_every_side_and_its_ratio(peer, monkeypatch, tmp_path):
    _run(peer, monkeypatch, tmp_path, "ours")
    record = json.loads((tmp_path / "diffusers_peer.json").read_text())
    rows = record["results"][0]["rows"]
    assert [r["side"] for r in rows] == ["diffusers eager", "diffusers eager, guided pair as one batch",
                                         "diffusers + torch.compile(denoiser)", "ours"]
    assert all(r["ratio_vs_compiled"] > 0 for r in rows)
    assert rows[2]["ratio_vs_compiled"] == 1.0


def test_a_run_stopped_part_way_keeps_the_rows_it_measured(peer, monkeypatch, tmp_path):
    def stopped(*args, **kwargs):
        raise KeyboardInterrupt("the device call's time limit")

    monkeypatch.setattr(peer, "speed_up", stopped)
    with pytest.raises(KeyboardInterrupt):
        _run(peer, monkeypatch, tmp_path, "ours")
    rows = json.loads((tmp_path / "diffusers_peer.json").read_text())["results"][0]["rows"]
    assert [r["side"] for r in rows] == ["diffusers eager", "diffusers eager, guided pair as one batch",
                                         "diffusers + torch.compile(denoiser)"]
