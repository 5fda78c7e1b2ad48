#!/usr/bin/env bash
# One device call: the bf16 pipeline as `generate` builds it, UNet convs as cuDNN graphs (VIDRD_BENCH_CONVS=cudnn) vs
# torch's (the default), two ratio_worker.py processes (the second starts 45 s later so that the
# first's plan timing runs alone), then the rows and the uint8 agreement of their 16 videos. Carry .whlcudnn
# (diffusers + nvidia-cudnn-frontend wheels for the device's Python). Usage: bash benchmarks/ab_convs.sh (OUT set).
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whlcudnn/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
python3 -m pytest -q -p no:cacheprovider tests/generator/test_cudnn_conv.py 2>&1 | tail -3
mkdir -p /tmp/sync && touch /tmp/sync/gate_run
VIDRD_BENCH_CONVS=cudnn python3 benchmarks/ratio_worker.py --precision bf16 --label bf16-cudnn --sync /tmp/sync --workers 2 --out $OUT --timeout 480 > $OUT/worker_cudnn.log 2>&1 &
sleep 45
python3 benchmarks/ratio_worker.py --precision bf16 --label bf16-torch --sync /tmp/sync --workers 2 --out $OUT --timeout 480 > $OUT/worker_torch.log 2>&1 &
wait
for f in $OUT/worker_*.log; do tail -n 3 "$f"; done
python3 - <<'PY'
import json, os, torch
from vidrd_bench.precisions import video_agreement
o = os.environ["OUT"]
for l in ("bf16-cudnn", "bf16-torch"):
    try:
        r = json.load(open(f"{o}/ours_{l}.json"))
        print(l, r["conv_backend"], r["first_batch_s"], [(x["item"], x["ms"]) for x in r["rows"]])
    except Exception as e:
        print(l, "missing", e)
try:
    print("agreement", video_agreement(torch.load(f"{o}/videos_bf16-cudnn.pt"), torch.load(f"{o}/videos_bf16-torch.pt")))
except Exception as e:
    print("agreement failed", e)
PY
