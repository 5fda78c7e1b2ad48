"""One GPU call, both sides: the VidRD authors' UNet (their side's release_speed.py in --release: eager fp16 at 4 and
16 videos, compiled at 16) and our pipeline at each precision (bf16, the protocol's, and fp8-e4m3), then the table.

On the GPU machine, from the checkout (benchmarks/README.md says which folders go beside it):
  python3 benchmarks/peer_ratio.py --release .release --site014 /tmp/site014 --out $OUT
Re-print a table from saved files (no GPU):  python3 benchmarks/peer_ratio.py --tables PEER.json OURS.json [...]
Every speed figure is given with its ratio to the authors' compiled UNet measured in the same call.

Compiling is what costs the call's time (~3 minutes per model, cold), so the sides compile at once but never time
at once: our workers (benchmarks/ratio_worker.py, one per precision) start after the authors' eager rows (their
start-up competes for the CPU, which the small eager batch is sensitive to), compile while the authors' UNet
compiles, and run nothing on the GPU until the authors' process has exited; then each times alone under a lock.
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
WORKER = Path(__file__).with_name("ratio_worker.py")


def _row(name: str, videos: int, ms: float, tflop_per_video_call: float | None, calls_per_video: int,
         whole_video_s: float | None, peer_s: float | None) -> dict:
    """One table row from ms per call: rate, % of 790, UNet s per video, whole video, 10K hours, ratio to the peer."""
    unet_s = calls_per_video * ms / 1e3 / videos
    pct = None if tflop_per_video_call is None else 100 * videos * tflop_per_video_call / (ms / 1e3) / PEAK_TFLOPS
    return {"name": name, "videos_per_call": videos, "ms_per_call": round(ms, 2),
            "ms_per_16_videos": round(ms * 16 / videos, 2), "pct_790": None if pct is None else round(pct, 1),
            "unet_s_per_video": round(unet_s, 3), "whole_video_s": whole_video_s,
            "gpu_hours_10k": None if whole_video_s is None else round(whole_video_s * NUM_VIDEOS / 3600, 2),
            "speed_vs_compiled_peer": None if peer_s is None else round(peer_s / unet_s, 3)}


def ratio_rows(peer: dict | None, ours: list[dict]) -> list[dict]:
    """The table's rows: the authors' UNet rows (release_speed.py's JSON), then ours per precision (ratio_worker's).

    FLOP per video call come from the bf16 worker's count (an fp8 GEMM does the same multiply-adds).
    """
    calls = ours[0]["calls_per_video"]
    compiled = [r for r in (peer or {}).get("rows", []) if r["mode"] == "compiled"]
    peer_s = calls * compiled[0]["ms_per_call"] / 1e3 / compiled[0]["videos_per_call"] if compiled else None
    rows = [_row(f"authors' UNet, {r['mode']} {peer['dtype'].replace('torch.', '')}", r["videos_per_call"],
                 r["ms_per_call"], peer["tflop_per_guided_clip"], calls, None, peer_s)
            for r in (peer or {}).get("rows", [])]
    tflop = tflop_per_video_call(ours)
    for side in ours:
        whole = next((r["per_video_s"] for r in side["rows"] if r["item"].startswith("whole video")), None)
        for r in side["rows"]:
            if r["item"].startswith("denoiser call"):
                graph = "no CUDA graph" not in r["item"]
                label = f"ours, {side['precision']} compiled" + (" + CUDA graph" if graph else ", no CUDA graph")
                rows.append(_row(label, r["videos"], r["ms"], tflop, calls, whole if graph else None, peer_s))
    return rows


def tflop_per_video_call(ours: list[dict]) -> float | None:
    """TFLOP of one video's guided call, from the first side that counted them (the bf16 worker)."""
    counted = [r for side in ours for r in side["rows"] if r["item"] == "denoiser call" and r["tflop"]]
    return counted[0]["tflop"] / counted[0]["videos"] if counted else None


def markdown(rows: list[dict], peer: dict | None, ours: list[dict], agreement: dict | None) -> str:
    """The ratio table in Markdown: device, FLOP counts, commit and fp8 agreement first."""
    ours_tflop = tflop_per_video_call(ours) or float("nan")
    peer_tflop = (peer or {}).get("tflop_per_guided_clip", float("nan"))
    cell = lambda v: "-" if v is None else f"{v}"  # noqa: E731
    lines = [f"device: {ours[0]['device']} (torch {ours[0]['torch']}); TFLOP per guided 8-frame clip: authors "
             f"{peer_tflop:.3f}, ours {ours_tflop:.3f}; git {ours[0].get('git_commit', '?')}"]
    if agreement:
        lines.append(f"fp8-e4m3 vs bf16, the same {agreement['videos']} whole videos from both compiled pipelines: "
                     f"uint8 mean |diff| {agreement['uint8_mean_abs_diff']}, 99th pct {agreement['uint8_p99_abs_diff']}, "
                     f"max {agreement['uint8_max_abs_diff']}")
    lines += ["", "| | videos per call | ms per call | ms per 16 videos | % of 790 | UNet s per 3-clip video | "
              "whole video s | 10K GPU-hours | speed vs compiled authors' UNet |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['videos_per_call']} | {r['ms_per_call']} | {r['ms_per_16_videos']} | "
                     f"{cell(r['pct_790'])} | {r['unet_s_per_video']} | {cell(r['whole_video_s'])} | "
                     f"{cell(r['gpu_hours_10k'])} | {cell(r['speed_vs_compiled_peer'])}x |")
    return "\n".join(lines)


def run_peer(cmd: list[str], env: dict, log: Path, sync: Path, after_eager) -> int:
    """Run the authors' script, echoing its output; call `after_eager` once its two eager rows are out (or it ended);
    open the run gate when it exits."""
    start, eager_rows, started = time.time(), 0, False
    print("$", " ".join(cmd), flush=True)
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            f.write(line)
            print("[authors]", line, end="", flush=True)
            eager_rows += line.startswith('{"mode": "eager"')
            if eager_rows >= 2 and not started:
                after_eager()
                started = True
    code = proc.wait()
    if not started:
        after_eager()
    (sync / "gate_run").touch()
    print(f"[authors] exit {code} after {time.time() - start:.0f} s", flush=True)
    return code


def start_workers(precisions: list[str], batch: int, sync: Path, out: Path, device: str) -> list[subprocess.Popen]:
    """One ratio_worker per precision, kept off the first two CPU cores (the authors' process keeps those)."""
    cores = sorted(os.sched_getaffinity(0))
    mine = set(cores[2:]) or set(cores)
    procs = []
    for p in precisions:
        cmd = [sys.executable, str(WORKER), "--precision", p, "--batch", str(batch), "--sync", str(sync),
               "--workers", str(len(precisions)), "--out", str(out), "--device", device]
        log = open(out / f"worker_{p}.log", "w")
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ,
                                      "PYTHONUNBUFFERED": "1"}, preexec_fn=lambda: os.sched_setaffinity(0, mine)))
    return procs


def agreement_vs_bf16(out: Path, precisions: list[str]) -> dict | None:
    """uint8 agreement of the first non-bf16 precision's saved videos with bf16's (the same prompts and seeds)."""
    import torch

    from vidrd_bench.precisions import video_agreement

    other = next((p for p in precisions if p != "bf16"), None)
    paths = {p: out / f"videos_{p}.pt" for p in ("bf16", other) if p}
    if other is None or not all(p.exists() for p in paths.values()):
        return None
    return video_agreement(torch.load(paths[other]), torch.load(paths["bf16"]))


def preflight() -> None:
    """Fail before the authors' minutes of compiling if our side cannot start: the checkout's shipped data (the fp8
    calibration reads the UCF-101 prompts; a device copy without the root prompts/ folder once lost the fp8 rows)."""
    from vidrd_bench.datasets.registry import DATASETS

    DATASETS.get("ucf101").default_prompts()


def main() -> None:
    """Both sides in one call (or only the table from saved files), then print and save the ratio table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--release", default=".release", help="folder holding the authors' model/ and release_speed.py")
    ap.add_argument("--site014", default="/tmp/site014", help="site folder with diffusers 0.14 installed")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--precisions", default="bf16,fp8-e4m3")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--worker-device", default="cuda", help="cpu: a dry run of the orchestration (tests)")
    ap.add_argument("--tables", nargs="+", metavar="JSON", help="PEER.json OURS.json...: only print the table")
    args = ap.parse_args()
    out, precisions = Path(args.out), args.precisions.split(",")
    if args.tables:
        peer, *ours = (json.loads(Path(p).read_text()) for p in args.tables)
    else:
        preflight()
        sync = out / "sync"
        sync.mkdir(parents=True, exist_ok=True)
        workers: list[subprocess.Popen] = []
        base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        run_peer([sys.executable, str(Path(args.release) / "release_speed.py"), args.release, str(out / "peer.json"),
                  "fp16", "--compile"], {**base, "PYTHONPATH": args.site014, "PYTHONUNBUFFERED": "1"},
                 out / "peer.log", sync,
                 lambda: workers.extend(start_workers(precisions, args.batch, sync, out, args.worker_device)))
        for p, proc in zip(precisions, workers):
            print(f"[ours {p}] exit {proc.wait()}; last lines of worker_{p}.log:", flush=True)
            print("".join((out / f"worker_{p}.log").read_text().splitlines(keepends=True)[-8:]), flush=True)
        peer = json.loads((out / "peer.json").read_text()) if (out / "peer.json").exists() else None
        ours = [json.loads((out / f"ours_{p}.json").read_text()) for p in precisions
                if (out / f"ours_{p}.json").exists()]
    agreement = None if args.tables else agreement_vs_bf16(out, precisions)
    if not args.tables and agreement:
        (out / "agreement.json").write_text(json.dumps(agreement, indent=1))
    rows = ratio_rows(peer, ours)
    table = markdown(rows, peer, ours, agreement)
    print(table)
    if not args.tables:
        (out / "ratio.md").write_text(table + "\n")
        (out / "ratio.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
