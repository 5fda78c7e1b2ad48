"""One side of `peer_ratio.py`'s device call: our VidRD pipeline at one precision, built as `generate` builds it.

Run by peer_ratio.py (one process per precision, compiled side by side), never by hand. Steps:
  1. (started once the authors' eager rows are timed) build `--preset full-random` at the precision
     (torch.compile + CUDA graph, channels-last, compiled VAE decoder);
  2. torch.compile's backend is Inductor behind a gate: compiling runs at once, but no compiled graph executes
     before `gate_run` (the authors' process has exited), so nothing of ours runs on the GPU while theirs is timed;
  3. one warm-up batch of whole videos, then a barrier with the other workers;
  4. under an exclusive lock (one worker timing at a time): the guided denoiser call with and without the CUDA
     graph, and one batch of whole videos (text, 150 UNet calls, VAE decode, uint8), saved for the agreement.
Writes <out>/ours_<precision>.json (bench's row format) and <out>/videos_<precision>.pt.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import os
import time
from pathlib import Path

import torch


def wait_until(done, timeout_s: float) -> None:
    """Block until `done()` is true (or the timeout passes: another side died; go on rather than hang)."""
    end = time.time() + timeout_s
    while not done() and time.time() < end:
        time.sleep(0.5)


def gated_inductor(gate: Path, timeout_s: float):
    """A torch.compile backend: Inductor's compile_fx, whose compiled graph waits for `gate` before its first run."""
    from torch._inductor.compile_fx import compile_fx

    def backend(gm, example_inputs):
        compiled = compile_fx(gm, example_inputs)

        def run(*args):
            wait_until(gate.exists, timeout_s)
            return compiled(*args)

        run._boxed_call = getattr(compiled, "_boxed_call", False)
        return run

    return backend


def use_gated_compile(gate: Path, timeout_s: float) -> None:
    """Make every later torch.compile(...) in this process use the gated Inductor backend."""
    original = torch.compile
    backend = gated_inductor(gate, timeout_s)

    def compile_(model=None, **kwargs):
        kwargs.pop("mode", None)
        return original(model, backend=backend, **kwargs)

    torch.compile = compile_


def measure(precision: str, batch: int, sync: Path, workers: int, timeout_s: float, device: str) -> dict:
    """Build, warm up, wait for the others, then time under the lock; returns bench-style rows and the videos."""
    from vidrd_bench.core.timing import timed_call
    from vidrd_bench.runners.bench import BenchRow, bench_prompts, call_shape, capture_calls, eager_module

    dev = torch.device(device)
    if dev.type == "cuda":
        use_gated_compile(sync / "gate_run", timeout_s)
    gen, settings = build(precision, device)
    prompts, seeds = bench_prompts(batch)
    seen, first_ms = timed_call(lambda: capture_calls(gen, lambda: gen(prompts, seeds, settings)), dev)
    (sync / f"ready_{precision}").touch()
    wait_until(lambda: len(list(sync.glob("ready_*"))) >= workers, timeout_s)
    with open(sync / "gpu.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        den = gen.modules()["denoiser"]
        a, k = seen.denoiser[0]
        eager = eager_module(getattr(den, "module", den))
        rows = [BenchRow.measure(item, call_shape(a), lambda m=module: m(*a, **k), dev, videos=batch, iters=10,
                                 flops=(lambda: eager(*a, **k)) if precision == "bf16" else None)
                for item, module in (("denoiser call", den), ("denoiser call, no CUDA graph", getattr(den, "module", den)))]
        with torch.no_grad():
            videos, ms = timed_call(lambda: gen(prompts, seeds, settings), dev)
    rows.append(BenchRow("whole video (pipeline)", f"{batch} videos", round(ms, 1), batch,
                         per_video_s=round(ms / 1e3 / batch, 4), note="one timed batch after a warm-up batch"))
    return {"precision": precision, "rows": [dataclasses.asdict(r) for r in rows], "videos": videos,
            "first_batch_s": round(first_ms / 1e3, 1),
            "calls_per_video": settings.num_clips * settings.num_inference_steps,
            "denoiser_calls_per_batch": len(seen.denoiser),
            "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__}


def build(precision: str, device: str):
    """`generate`'s generator: full-random VidRD compiled on CUDA; on the CPU (dry runs) tiny, eager, fp8 emulated
    (the loader's fp8_emulation: converted and calibrated as on the GPU)."""
    from vidrd_bench.runners.generate import load_generator, resolve

    if device == "cuda":
        choice = resolve("vidrd", "full-random", None, None)
        return load_generator(choice, None, None, device, compile=True, precision=precision), choice.settings
    choice = resolve("vidrd", "tiny", None, None)
    return choice.entry.load(preset="tiny", device=device, settings=choice.settings, compile=False,
                             precision=precision, fp8_emulation=True), choice.settings


def main() -> None:
    """Worker entry: measure one precision, save the JSON and the videos."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--sync", required=True, type=Path, help="folder of gate, ready and lock files")
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--timeout", type=float, default=540)
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of the orchestration (tiny model, eager)")
    args = ap.parse_args()
    from vidrd_bench.results import provenance

    try:
        result = measure(args.precision, args.batch, args.sync, args.workers, args.timeout, args.device)
    except BaseException:
        (args.sync / f"ready_{args.precision}").touch()  # the others must not wait at the barrier for us
        raise
    torch.save(result.pop("videos").cpu(), args.out / f"videos_{args.precision}.pt")
    result.update(provenance())
    (args.out / f"ours_{args.precision}.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"worker {args.precision} done", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
