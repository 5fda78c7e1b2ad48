"""One device call: diffusers' own text-to-video pipeline (eager, and with `torch.compile` on its denoiser) against
vidrd-bench's adapter as `generate` builds it, per guided call, on the same GPU, batch and precision (bf16).

Each side is built in turn from generators/full_configs.py at full size with the same seeded random weights (nothing
downloaded; timing only). A guided call is every denoiser call of one sampling step, replayed with the arguments the
pipeline itself passed (ModelScope: one UNet call on the guided pair; Wan: the conditional and the unconditional
transformer call), timed by vidrd_bench/core/timing.py. Also: each lever of ours alone (SpeedOptions ablations), the
guided pair as one batch (what batching Wan's two calls would give), whole videos, and peak memory.

    python3 benchmarks/diffusers_peer.py --out $OUT                 # GPU: modelscope and wan
    python3 benchmarks/diffusers_peer.py --dry-run --out /tmp/peer  # CPU: the tiny pipelines, same code path
Writes <out>/diffusers_peer.json after every row (a run stopped by a time limit keeps what it measured) and prints
a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from profile_unet import kernel_summary, profiled
from vidrd_bench.core.io import write_text_atomic
from vidrd_bench.core.timing import peak_memory_gib, reset_peak_memory, time_ms, timed_call
from vidrd_bench.generators.diffusers_speed import SpeedOptions, attention_priority, speed_up
from vidrd_bench.generators.diffusers_t2v import SPECS, build_random

# model -> (videos per call, frames, height, width): ModelScope at the UCF-101 protocol's size, Wan at its own 480p.
SHAPES = {"modelscope": (8, 16, 256, 256), "wan": (1, 81, 480, 832)}
DRY_SHAPES = {"modelscope": (2, 4, 32, 32), "wan": (1, 5, 32, 32)}
ABLATIONS = {
    "ours": SpeedOptions(),
    "ours without the UNet3D rewrite": dataclasses.replace(SpeedOptions(), video_unet=False),
    "ours with the default attention order": dataclasses.replace(SpeedOptions(), attention="default"),
    "ours without channels-last": dataclasses.replace(SpeedOptions(), channels_last=False),
    "ours + fused qkv": dataclasses.replace(SpeedOptions(), fuse_qkv=True),
    "ours + CUDA graphs": dataclasses.replace(SpeedOptions(), cuda_graphs=True),
    "ours without the guided pair as one batch": dataclasses.replace(SpeedOptions(), guided_pair=False),
}


def pipeline(model: str, device: torch.device, dry: bool) -> Any:
    """A fresh pipeline with the seeded random weights: full size on the GPU, tiny on a dry run."""
    pipe, _ = build_random(model, "tiny" if dry else "full-random", device)
    pipe.to(device=device, dtype=torch.float32 if dry else torch.bfloat16)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def call_kwargs(model: str, shape: tuple[int, int, int, int], steps: int) -> dict[str, Any]:
    """The pipeline call both sides make: prompts, seeded generators, frames and size, latent output."""
    batch, frames, height, width = shape
    return {"prompt": [f"a person doing action {i} in a park" for i in range(batch)], "num_frames": frames,
            "height": height, "width": width, "num_inference_steps": steps,
            "generator": [torch.Generator("cpu").manual_seed(i) for i in range(batch)]}


def capture_step(pipe: Any, model: str, shape: tuple, context: Callable) -> list[tuple[tuple, dict]]:
    """The denoiser calls of one sampling step (arguments as the pipeline passed them), from a 2-step call."""
    den = getattr(pipe, SPECS[model].denoiser)
    seen: list[tuple[tuple, dict]] = []
    hook = den.register_forward_pre_hook(lambda m, a, k: seen.append((a, k)), with_kwargs=True)
    try:
        with torch.no_grad(), context():
            pipe(**call_kwargs(model, shape, 2), output_type="latent")
    finally:
        hook.remove()
    return seen[: len(seen) // 2]


def guided_call(pipe: Any, model: str, shape: tuple, context: Callable) -> Callable[[], Any]:
    """One guided call: the step's denoiser calls replayed in `context` (`.step`: those calls' arguments;
    `.setup_s`: the capturing 2-step call, where compilation happens)."""
    den = getattr(pipe, SPECS[model].denoiser)
    step, setup_ms = timed_call(lambda: capture_step(pipe, model, shape, context), pipe.device)

    def replay() -> list:
        with context():
            return [den(*a, **k) for a, k in step]
    replay.step, replay.setup_s = step, round(setup_ms / 1e3, 1)
    return replay


def paired(pipe: Any, model: str, step: list[tuple[tuple, dict]], context: Callable) -> Callable[[], Any] | None:
    """A captured step's two calls (conditional, unconditional) as one call on a batch of both; None where the
    pipeline already makes one call per step."""
    den = getattr(pipe, SPECS[model].denoiser)
    if len(step) != 2:
        return None
    (args, cond), (_, uncond) = step
    both = {k: (torch.cat([v, uncond[k]]) if isinstance(v, torch.Tensor) else v) for k, v in cond.items()}

    def replay() -> list:
        with context():
            return [den(*args, **both)]
    return replay


def row(side: str, fn: Callable[[], Any], device: torch.device, args: argparse.Namespace,
        videos: int) -> dict[str, Any]:
    """One timed row: ms per guided call (median of iters after 2 warm-ups), first call, peak memory; with
    --profile, one more call's CUDA kernel time by category (benchmarks/profile_unet.py's categories)."""
    reset_peak_memory(device)
    t = time_ms(fn, device, warmup=2, iters=args.iters)
    peak = peak_memory_gib(device)
    setup = getattr(fn, "setup_s", None)
    print(f"  {side}: {t['ms']:.1f} ms (setup incl. compile {setup} s)", flush=True)
    entry = {"side": side, **t, "videos": videos, "peak_gib": peak, "setup_s": setup}
    if args.profile and device.type == "cuda":
        entry["kernels_ms"] = kernel_summary(profiled(fn, device))
        print(f"    kernels (ms): {entry['kernels_ms']}", flush=True)
    return entry


def first_output(fn: Callable[[], Any]) -> torch.Tensor:
    """The first denoiser call's output of a replay (for the agreement check)."""
    with torch.no_grad():
        out = fn()[0]
    return (out[0] if isinstance(out, tuple) else getattr(out, "sample", out)).float().cpu()


def whole(pipe: Any, model: str, shape: tuple, steps: int, device: torch.device, context: Callable) -> dict:
    """Whole videos (text, every step, VAE decode to frames) of one batch, timed once after a warm-up batch."""
    call = lambda: pipe(**call_kwargs(model, shape, steps), output_type="np")  # noqa: E731
    with torch.no_grad(), context():
        call()
        reset_peak_memory(device)
        _, ms = timed_call(call, device)
    peak = peak_memory_gib(device)
    per_video = ms / 1e3 / shape[0]
    print(f"  whole videos: {per_video:.2f} s per video, peak {peak} GiB", flush=True)
    return {"steps": steps, "s_per_video": round(per_video, 3), "gpu_hours_per_10k": round(per_video * 1e4 / 3600, 2),
            "peak_gib": peak}


def free() -> None:
    """Drop the previous side's modules and compiled graphs before the next is built."""
    gc.collect()
    torch._dynamo.reset()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measure(model: str, args: argparse.Namespace, device: torch.device,
            save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Every side of one model, in turn, on the same device; `save` gets the result after each row, so a run
    stopped by a time limit keeps the rows it measured."""
    shape = (DRY_SHAPES if args.dry_run else SHAPES)[model]
    plain = lambda: attention_priority("default")  # noqa: E731
    result: dict[str, Any] = {"model": model, "shape": shape, "rows": [], "whole": {}}

    def add(entry: dict[str, Any]) -> None:
        result["rows"].append(entry)
        save(result)

    print(f"{model}: {shape[0]} videos x {shape[1]} frames {shape[2]}x{shape[3]}", flush=True)
    pipe = pipeline(model, device, args.dry_run)
    eager = guided_call(pipe, model, shape, plain)
    reference = first_output(eager)
    add(row("diffusers eager", eager, device, args, shape[0]))
    pair = paired(pipe, model, eager.step, plain)
    if pair is not None:
        add(row("diffusers eager, guided pair as one batch", pair, device, args, shape[0]))
    den = SPECS[model].denoiser
    setattr(pipe, den, torch.compile(getattr(pipe, den)))
    compiled = guided_call(pipe, model, shape, plain)
    add(row("diffusers + torch.compile(denoiser)", compiled, device, args, shape[0]))
    if args.whole:
        result["whole"]["diffusers + torch.compile(denoiser)"] = whole(pipe, model, shape, args.steps, device, plain)
    del pipe, eager, compiled, pair
    free()
    for side in (args.sides or list(ABLATIONS)):
        options = ABLATIONS[side].on(device)
        pipe = pipeline(model, device, args.dry_run)
        done = speed_up(pipe, options)
        context = lambda o=options: attention_priority(o.attention)  # noqa: E731
        ours = guided_call(pipe, model, shape, context)
        entry = row(side, ours, device, args, shape[0])
        entry["speed_up"] = done
        entry["max_abs_diff_vs_eager"] = float((first_output(ours) - reference).abs().max())
        add(entry)
        if args.whole and side == "ours":
            result["whole"]["ours"] = whole(pipe, model, shape, args.steps, device, context)
        del pipe, ours
        free()
    peer = next(r["ms"] for r in result["rows"] if r["side"] == "diffusers + torch.compile(denoiser)")
    for r in result["rows"]:
        r["ratio_vs_compiled"] = round(peer / r["ms"], 3)
    return result


def table(results: list[dict[str, Any]], device: str, dtype: str) -> str:
    """The markdown table of every row: ms per guided call and the ratio to diffusers' compiled pipeline."""
    lines = [f"Device: {device}; {dtype}; ms per guided call (median); ratio = diffusers compiled / this row.", "",
             "| model | shape | side | ms per guided call | x diffusers compiled | peak GiB |",
             "|---|---|---|---|---|---|"]
    for res in results:
        b, f, h, w = res["shape"]
        for r in res["rows"]:
            lines.append(f"| {res['model']} | {b} x {f} x {h}x{w} | {r['side']} | {r['ms']:.1f} | "
                         f"{r['ratio_vs_compiled']:.2f} | {r['peak_gib']} |")
    for res in results:
        for side, w in res["whole"].items():
            lines.append(f"\n{res['model']} whole video, {side}: {w['s_per_video']} s per video ({w['steps']} steps), "
                         f"{w['gpu_hours_per_10k']} GPU-hours per 10K, peak {w['peak_gib']} GiB")
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, measure each model, write diffusers_peer.json and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="modelscope,wan")
    parser.add_argument("--sides", default="", help="comma-separated ablation rows of ours (default: all)")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--whole", action="store_true", help="also time whole videos (diffusers compiled, ours)")
    parser.add_argument("--steps", type=int, default=50, help="sampling steps of a whole video")
    parser.add_argument("--profile", action="store_true", help="GPU: each row's kernel time by category")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny pipelines: checks the script")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    args.sides = [s for s in args.sides.split(",") if s]
    device = torch.device("cpu" if args.dry_run else "cuda")
    name = "CPU (dry run)" if args.dry_run else torch.cuda.get_device_name(device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []

    def save(current: dict[str, Any]) -> None:
        record = {"device": name, "torch": torch.__version__, "argv": sys.argv[1:], "results": [*results, current]}
        write_text_atomic(out / "diffusers_peer.json", json.dumps(record, indent=1, default=str))

    for model in args.models.split(","):
        result = measure(model, args, device, save)
        save(result)
        results.append(result)
    print(table(results, name, "float32" if args.dry_run else "bf16"))


if __name__ == "__main__":
    main()
