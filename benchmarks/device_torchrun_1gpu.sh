#!/usr/bin/env bash
# One GPU through torchrun: generate full-size random-weight videos, then score FVD/IS with torchrun and without;
# the two FVDs must be equal and every planned index rendered exactly once. Outputs under $OUT.
set -euo pipefail
G=/tmp/gen1 R=/tmp/real
torchrun --nproc-per-node 1 -m vidrd_bench.cli generate --dataset ucf101 --preset full-random --num-videos 16 \
  --batch-size 8 --out $G
python3 -c "from pathlib import Path; from vidrd_bench.smoke import write_stand_in_real_videos as w; w(Path('$R'), 256)"
python3 -m vidrd_bench.cli stats ucf101 --videos $R --protocol fvd-tiny-random --size 256 --no-progress --out $R.npz
torchrun --nproc-per-node 1 -m vidrd_bench.cli score fvd --real $R.npz --fake $G --protocol fvd-tiny-random \
  --no-progress --out $OUT/fvd_torchrun.json
python3 -m vidrd_bench.cli score fvd --real $R.npz --fake $G --protocol fvd-tiny-random --no-progress \
  --out $OUT/fvd_plain.json
torchrun --nproc-per-node 1 -m vidrd_bench.cli score is --fake $G --protocol is-tiny-random --no-progress \
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
