"""benchmarks/peer_ratio.py: every figure of the ratio table follows from the sides' JSON records, and the one-call
orchestration (gates, barrier, lock, agreement) runs end to end on the CPU with a stand-in for the authors' script."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "peer_ratio.py"


def _load():
    spec = importlib.util.spec_from_file_location("peer_ratio", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ours(precision, ms, no_graph_ms, whole_s, tflop):
    """A record shaped as ratio_worker.py writes it."""
    return {"precision": precision, "device": "some GPU", "torch": "2.x", "calls_per_video": 150, "rows": [
        {"item": "denoiser call", "videos": 16, "ms": ms, "tflop": tflop, "per_video_s": 0.0},
        {"item": "denoiser call, no CUDA graph", "videos": 16, "ms": no_graph_ms, "tflop": tflop, "per_video_s": 0.0},
        {"item": "whole video (pipeline)", "videos": 16, "ms": whole_s * 16e3, "tflop": None, "per_video_s": whole_s}]}


def test_ratio_table_rows_follow_from_both_sides():
    peer_ratio = _load()
    # records shaped as release_speed.py and ratio_worker.py write them; the figures are arbitrary arithmetic inputs
    peer = {"dtype": "torch.float16", "tflop_per_guided_clip": 3.6, "rows": [
        {"mode": "eager", "videos_per_call": 4, "ms_per_call": 80.0},
        {"mode": "eager", "videos_per_call": 16, "ms_per_call": 270.0},
        {"mode": "compiled", "videos_per_call": 16, "ms_per_call": 190.0}]}
    ours = [_ours("bf16", 120.0, 125.0, 1.25, 16 * 3.7), _ours("fp8-e4m3", 100.0, 104.0, 1.05, None)]
    rows = peer_ratio.ratio_rows(peer, ours)
    assert [r["name"] for r in rows] == ["authors' UNet, eager float16"] * 2 + [
        "authors' UNet, compiled float16", "ours, bf16 compiled + CUDA graph", "ours, bf16 compiled, no CUDA graph",
        "ours, fp8-e4m3 compiled + CUDA graph", "ours, fp8-e4m3 compiled, no CUDA graph"]
    peer_s = 150 * 0.190 / 16
    assert rows[2]["speed_vs_compiled_peer"] == 1.0 and rows[2]["unet_s_per_video"] == pytest.approx(peer_s, abs=1e-3)
    assert rows[1]["speed_vs_compiled_peer"] == pytest.approx(190 / 270, abs=1e-3)
    assert rows[0]["ms_per_16_videos"] == 320.0 and rows[0]["unet_s_per_video"] == pytest.approx(3.0)
    assert rows[2]["pct_790"] == pytest.approx(100 * 16 * 3.6 / 0.19 / 790, abs=0.05)
    assert rows[3]["unet_s_per_video"] == 1.125 and rows[3]["speed_vs_compiled_peer"] == pytest.approx(190 / 120,
                                                                                                      abs=1e-3)
    assert rows[3]["whole_video_s"] == 1.25 and rows[3]["gpu_hours_10k"] == pytest.approx(3.47, abs=0.01)
    assert rows[4]["whole_video_s"] is None and rows[4]["speed_vs_compiled_peer"] == pytest.approx(1.52, abs=1e-3)
    # fp8's rate is counted with bf16's FLOP (the same multiply-adds), its whole video from its own record
    assert rows[5]["pct_790"] == pytest.approx(100 * 16 * 3.7 / 0.1 / 790, abs=0.05)
    assert rows[5]["speed_vs_compiled_peer"] == 1.9 and rows[5]["whole_video_s"] == 1.05
    agreement = {"videos": 16, "uint8_mean_abs_diff": 0.9, "uint8_p99_abs_diff": 5.0, "uint8_max_abs_diff": 40}
    table = peer_ratio.markdown(rows, peer, ours, agreement)
    assert table.count("\n| ") == 1 + len(rows) and "| 1.0x |" in table and "1.583x" in table
    assert "uint8 mean |diff| 0.9, 99th pct 5.0, max 40" in table


def test_one_call_orchestration_runs_end_to_end_on_the_cpu(tmp_path):
    """A stand-in authors' script (two eager rows, then a compiled one) and two CPU workers (tiny model, bf16 and
    emulated fp8): the workers start only after the eager rows, gates open, both workers time under the lock, the
    table and the agreement are written."""
    release = tmp_path / "release"
    release.mkdir()
    (release / "release_speed.py").write_text(textwrap.dedent("""
        import json, sys, time
        from pathlib import Path
        rows = [{"mode": "eager", "videos_per_call": 4, "ms_per_call": 80.0},
                {"mode": "eager", "videos_per_call": 16, "ms_per_call": 270.0},
                {"mode": "compiled", "videos_per_call": 16, "ms_per_call": 190.0}]
        early = []
        for row in rows:
            time.sleep(0.5)
            early.append(any(Path(sys.argv[2]).parent.glob("worker_*.log")))
            print(json.dumps(row), flush=True)
        Path(sys.argv[2]).write_text(json.dumps({"dtype": "torch.float16", "tflop_per_guided_clip": 3.6, "rows": rows,
                                                 "workers_seen": early}))
    """))
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(SCRIPT), "--release", str(release), "--site014", str(tmp_path),
                          "--out", str(out), "--worker-device", "cpu", "--batch", "2"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert json.loads((out / "peer.json").read_text())["workers_seen"] == [False, False, True]
    assert {"gate_run", "ready_bf16", "ready_fp8-e4m3"} <= {p.name for p in (out / "sync").iterdir()}
    agreement = json.loads((out / "agreement.json").read_text())
    assert agreement["videos"] == 2 and agreement["uint8_max_abs_diff"] >= 0
    rows = json.loads((out / "ratio.json").read_text())
    assert [r["name"] for r in rows][3:] == ["ours, bf16 compiled + CUDA graph", "ours, bf16 compiled, no CUDA graph",
                                            "ours, fp8-e4m3 compiled + CUDA graph",
                                            "ours, fp8-e4m3 compiled, no CUDA graph"]
    assert all(r["speed_vs_compiled_peer"] > 0 for r in rows)
    ours = json.loads((out / "ours_bf16.json").read_text())
    assert ours["denoiser_calls_per_batch"] > 0 and ours["git_commit"]


def test_preflight_refuses_a_checkout_without_its_shipped_prompts(tmp_path, monkeypatch):
    peer_ratio = _load()
    peer_ratio.preflight()
    import vidrd_bench.core.resources as resources

    monkeypatch.setattr(resources, "_PACKAGE", tmp_path / "vidrd_bench")
    with pytest.raises(FileNotFoundError, match="prompts/ucf101.json"):
        peer_ratio.preflight()
