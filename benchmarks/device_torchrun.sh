#!/usr/bin/env bash
# NPROC GPUs (default 1) through torchrun: generate full-size random-weight videos (timed), then score FVD/IS with
# torchrun and with one plain process; the FVDs must be equal and every planned index rendered exactly once.
# On a 2-GPU machine (issue 9): NPROC=2 NUM=64 bash benchmarks/device_torchrun.sh (then NPROC=1 for the speed-up).
set -euo pipefail
NPROC=${NPROC:-1} NUM=${NUM:-16}
G=/tmp/gen$NPROC R=/tmp/real
start=$(date +%s)
torchrun --nproc-per-node "$NPROC" -m vidrd_bench.cli generate --dataset ucf101 --preset full-random \
  --num-videos "$NUM" --batch-size 8 --no-compile --out $G
echo "generate: $NUM videos on $NPROC GPU(s) in $(( $(date +%s) - start )) s"
python3 -c "from pathlib import Path; from vidrd_bench.runners.smoke import write_stand_in_real_videos as w; w(Path('$R'), 256)"
python3 -m vidrd_bench.cli stats ucf101 --videos $R --protocol fvd-smoke-tiny --size 256 --no-progress --out $R.npz
torchrun --nproc-per-node "$NPROC" -m vidrd_bench.cli score fvd --real $R.npz --fake $G --protocol fvd-smoke-tiny \
  --no-progress --out $OUT/fvd_torchrun.json
python3 -m vidrd_bench.cli score fvd --real $R.npz --fake $G --protocol fvd-smoke-tiny --no-progress \
  --out $OUT/fvd_plain.json
torchrun --nproc-per-node "$NPROC" -m vidrd_bench.cli score is --fake $G --protocol is-smoke-tiny --no-progress \
  --out $OUT/is_torchrun.json
cp $G/manifest.jsonl $G/run.json $OUT/
python3 - <<PY
import json
rows = [json.loads(l) for l in open("$G/manifest.jsonl")]
idx = sorted(r["index"] for r in rows)
print("manifest rows", len(rows), "unique indices", len(set(idx)), "all done", all(r["status"] == "done" for r in rows))
a, b = (json.load(open(f"$OUT/fvd_{k}.json"))["value"] for k in ("torchrun", "plain"))
print("FVD torchrun", a, "plain", b, "equal", a == b)
PY
