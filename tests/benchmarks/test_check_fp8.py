"""benchmarks/check_fp8.py --dry-run: the device script's steps on the CPU (tiny preset, fp8 emulated, no compile)."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "check_fp8.py"


def test_dry_run_records_every_step_and_agreements_match(tmp_path):
    """No step fails; the whole-video agreement of the first 2 videos equals the one generate records (uncompiled,
    batch 2, both are the same computation here), and fp8 moves pixels."""
    run = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads((tmp_path / "check_fp8.json").read_text())
    calibration = data["layers"].pop("calibration")
    assert data["errors"] == {} and data["layers"] == {"converted": 12, "kept": 84}
    assert calibration["layers"] == 12 and calibration["timesteps"] == [751, 501, 251, 1]
    ff = data["feed_forward"]["64x32"]
    assert 0.01 < ff["rel_vs_bf16"] < 0.1 and ff["fp8_kernels"] == []  # measured 0.06; no Inductor on the dry run
    assert data["unet_call"]["input"] == "(4, 4, 8, 4, 4)" and data["unet_call"]["fp8"]["iters"] == 2
    whole, recorded = data["whole_videos_compiled"], data["recorded_agreement_eager_batch_2"]
    assert {k: v for k, v in recorded.items() if k != "how"} == whole["agreement_first_2"] == whole["agreement_all"]
    assert whole["agreement_all"]["uint8_mean_abs_diff"] > 0 and whole["agreement_all"]["videos"] == 2
