"""One GPU call, both sides: the VidRD authors' UNet (../shared/bench/release_speed.py: eager fp16 at 4 and 16 videos,
compiled at 16) and our `vidrd-bench bench --preset full-random --batch-sizes 16 --compile`, then the ratio table.

On the device, from the checkout (see benchmarks/NOTES.md for the carried folders):
  python3 benchmarks/peer_ratio.py --release .release --site014 /tmp/site014 --out $OUT
Re-print a table from saved files (no GPU):  python3 benchmarks/peer_ratio.py --tables PEER.json BENCH.json
Every speed figure is given with its ratio to the authors' compiled UNet measured in the same call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PEAK_TFLOPS = 790.0
NUM_VIDEOS = 10_000


def _row(name: str, videos: int, ms: float, tflop_per_video_call: float, calls_per_video: int,
         whole_video_s: float | None, peer_s: float | None) -> dict:
    """One table row from ms per call: rate, % of 790, UNet s per video, whole video, 10K hours, ratio to the peer."""
    unet_s = calls_per_video * ms / 1e3 / videos
    tflops = videos * tflop_per_video_call / (ms / 1e3)
    return {"name": name, "videos_per_call": videos, "ms_per_call": round(ms, 2),
            "ms_per_16_videos": round(ms * 16 / videos, 2), "pct_790": round(100 * tflops / PEAK_TFLOPS, 1),
            "unet_s_per_video": round(unet_s, 3), "whole_video_s": whole_video_s,
            "gpu_hours_10k": None if whole_video_s is None else round(whole_video_s * NUM_VIDEOS / 3600, 2),
            "speed_vs_compiled_peer": None if peer_s is None else round(peer_s / unet_s, 3)}


def ratio_rows(peer: dict, bench: dict) -> list[dict]:
    """The table's rows: the authors' UNet rows (from release_speed.py's JSON), then ours (from bench's JSON)."""
    calls = bench["protocol"]["num_clips"] * bench["protocol"]["num_inference_steps"]
    compiled = [r for r in peer["rows"] if r["mode"] == "compiled"]
    peer_s = calls * compiled[0]["ms_per_call"] / 1e3 / compiled[0]["videos_per_call"] if compiled else None
    rows = [_row(f"authors' UNet, {r['mode']} {peer['dtype'].replace('torch.', '')}", r["videos_per_call"],
                 r["ms_per_call"], peer["tflop_per_guided_clip"], calls, None, peer_s) for r in peer["rows"]]
    whole = {r["videos"]: r["per_video_s"] for r in bench["rows"] if r["item"].startswith("whole video")}
    for r in bench["rows"]:
        if r["item"].startswith("UNet call"):
            videos = r["videos"]
            label = "ours, bf16 compiled" + (", no CUDA graph" if "no CUDA graph" in r["item"] else "")
            rows.append(_row(label, videos, r["ms"], r["tflop"] / videos, calls,
                             None if "no CUDA graph" in r["item"] else whole.get(videos), peer_s))
    return rows


def markdown(rows: list[dict], peer: dict, bench: dict) -> str:
    """The ratio table in Markdown, with the device and both FLOP counts in the heading line."""
    ours_tflop = next(r["tflop"] / r["videos"] for r in bench["rows"] if r["item"].startswith("UNet call"))
    cell = lambda v: "-" if v is None else f"{v}"  # noqa: E731
    lines = [f"device: {bench['device']} (torch {bench['torch']}); TFLOP per guided 8-frame clip: authors "
             f"{peer['tflop_per_guided_clip']:.3f}, ours {ours_tflop:.3f}; git {bench.get('git_commit', '?')}",
             "", "| | videos per call | ms per call | ms per 16 videos | % of 790 | UNet s per 3-clip video | "
             "whole video s | 10K GPU-hours | speed vs compiled authors' UNet |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['videos_per_call']} | {r['ms_per_call']} | {r['ms_per_16_videos']} | "
                     f"{r['pct_790']} | {r['unet_s_per_video']} | {cell(r['whole_video_s'])} | "
                     f"{cell(r['gpu_hours_10k'])} | {cell(r['speed_vs_compiled_peer'])}x |")
    return "\n".join(lines)


def _run(cmd: list[str], env: dict, log: Path) -> None:
    """Run one side, echoing its output to the console and to `log`; stop the script if it fails."""
    start = time.time()
    print("$", " ".join(cmd), flush=True)
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            f.write(line)
            print(line, end="", flush=True)
    if proc.wait():
        sys.exit(f"{cmd[1]} failed (exit {proc.returncode}); log in {log}")
    print(f"[{time.time() - start:.0f} s]", flush=True)


def main() -> None:
    """Run the authors' UNet and our bench one after the other on this GPU, then print and save the ratio table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--release", default=".release", help="folder holding the authors' model/ and release_speed.py")
    ap.add_argument("--site014", default="/tmp/site014", help="site folder with diffusers 0.14 installed")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--bench-args", default="--batch-sizes 16 --compile --no-detectors")
    ap.add_argument("--tables", nargs=2, metavar=("PEER_JSON", "BENCH_JSON"), help="only print the table")
    args = ap.parse_args()
    if args.tables:
        peer, bench = (json.loads(Path(p).read_text()) for p in args.tables)
    else:
        out = Path(args.out)
        peer_json, bench_json = out / "peer.json", out / "bench.json"
        base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        _run([sys.executable, str(Path(args.release) / "release_speed.py"), args.release, str(peer_json), "fp16",
              "--compile"], {**base, "PYTHONPATH": args.site014, "PYTHONUNBUFFERED": "1"}, out / "peer.log")
        _run([sys.executable, "-m", "vidrd_bench.cli", "bench", "--preset", "full-random", *args.bench_args.split(),
              "--out", str(bench_json)], {**os.environ, "PYTHONUNBUFFERED": "1"}, out / "bench.log")
        peer, bench = json.loads(peer_json.read_text()), json.loads(bench_json.read_text())
    rows = ratio_rows(peer, bench)
    table = markdown(rows, peer, bench)
    print(table)
    if not args.tables:
        (Path(args.out) / "ratio.md").write_text(table + "\n")
        (Path(args.out) / "ratio.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
