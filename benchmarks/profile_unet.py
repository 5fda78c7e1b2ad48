"""Profile one guided VidRD UNet call (full size, random weights, bf16) on the GPU: kernel time by category."""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import shutil

import torch
from torch.profiler import ProfilerActivity, profile

from vidrd_bench.core.timing import count_flops, time_ms, timed_call
from vidrd_bench.models.vidrd.components import build_components


# first match wins: Inductor names its kernels after the ops they fuse ("..._convolution_..."), so Triton goes first
CATEGORIES = (("triton_reduction", ("triton_red", "triton_per")), ("triton_pointwise", ("triton_poi",)),
              ("sdpa", ("flash", "fmha", "attention", "sdpa")), ("conv", ("fprop", "conv", "implicit", "dgrad")),
              ("gemm", ("gemm", "nvjet", "cutlass", "sm90_xmma")))


def kernel_summary(prof) -> dict[str, float]:
    """CUDA time (ms) per kernel category, from a CUDA-only profile of one call."""
    totals: dict[str, float] = {}
    for evt in prof.key_averages():
        name = evt.key.lower()
        cat = next((c for c, keys in CATEGORIES if any(k in name for k in keys)), "other")
        totals[cat] = totals.get(cat, 0.0) + evt.device_time_total / 1e3
    return {k: round(v, 2) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def profiled(fn, dev: torch.device):
    """One call of `fn` under the CUDA-only profiler, synchronised (its kernels all recorded)."""
    with profile(activities=[ProfilerActivity.CUDA]) as prof, torch.no_grad():
        fn()
        torch.cuda.synchronize(dev)
    return prof


def measure(name: str, fn, flop: int, dev: torch.device, table: bool) -> dict:
    """Median ms of `fn`, its TFLOP/s, and one profiled call's kernel time by category (and top kernels)."""
    tm = time_ms(fn, dev, warmup=3, iters=10)
    prof = profiled(fn, dev)
    row = {"ms": tm["ms"], "tflop": flop / 1e12, "tflops": flop / tm["ms"] / 1e9, "kernels_ms": kernel_summary(prof)}
    print(f"{name}: {tm['ms']:.1f} ms, {row['tflops']:.0f} TFLOP/s, kernels (ms) {row['kernels_ms']}", flush=True)
    if table:
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=90))
    return row


def conv_shapes(fn, top: int = 25) -> list[dict]:
    """Eager convolutions grouped by input shapes: calls, CUDA ms in total, shapes (where conv time goes)."""
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof, \
            torch.no_grad():
        fn()
        torch.cuda.synchronize()
    rows = [{"shapes": str(e.input_shapes[:2]), "calls": e.count, "ms": round(e.device_time_total / 1e3, 3)}
            for e in prof.key_averages(group_by_input_shape=True) if e.key == "aten::cudnn_convolution"]
    rows.sort(key=lambda r: -r["ms"])
    for r in rows[:top]:
        print(f"conv {r['ms']:8.3f} ms  x{r['calls']:<3d} {r['shapes']}", flush=True)
    return rows


def dump_output_code(out_dir: str) -> None:
    """Copy Inductor's generated wrapper for the UNet (the largest one calling convolutions) to out_dir."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    files = [p for p in glob.glob(os.path.join(cache_dir(), "**", "*.py"), recursive=True)
             if "extern_kernels.convolution" in open(p, errors="ignore").read()]
    if files:
        shutil.copy(max(files, key=os.path.getsize), os.path.join(out_dir, "unet_output_code.py"))


def main() -> None:
    """Time eager (and optionally compiled) calls at several batch sizes and print the top kernels."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--compile", default="")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--coordinate-descent", action="store_true")
    ap.add_argument("--inductor", action="append", default=[], metavar="KEY=VALUE",
                    help="an Inductor config value (Python literal), e.g. max_autotune_gemm=True; repeatable")
    ap.add_argument("--conv-shapes", action="store_true", help="eager conv time by input shape")
    ap.add_argument("--dump-code", action="store_true", help="copy Inductor's generated code to --out")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="also time with cuDNN's per-shape autotuning")
    args = ap.parse_args()
    dev = torch.device("cuda")
    comps = build_components("full-random", device="cuda", dtype=torch.bfloat16)
    unet = comps.unet.eval()
    unet.set_channels_last(args.channels_last)
    import torch._inductor.config as inductor_config

    inductor_config.coordinate_descent_tuning = args.coordinate_descent
    for item in args.inductor:
        key, value = item.split("=", 1)
        setattr(inductor_config, key, ast.literal_eval(value))
    res = {}
    for b in [int(x) for x in args.batches.split(",")]:
        x = torch.randn(2 * b, 4, 8, 32, 32, device=dev, dtype=torch.bfloat16)
        ctx = torch.randn(2 * b, 77, 1024, device=dev, dtype=torch.bfloat16)
        t = torch.tensor(500, device=dev)
        fl = count_flops(lambda: unet(x, t, ctx))
        res[f"eager_b{b}"] = measure(f"eager batch {b}", lambda: unet(x, t, ctx), fl, dev, table=not args.compile)
        if args.conv_shapes:
            res[f"eager_b{b}"]["convs"] = conv_shapes(lambda: unet(x, t, ctx))
        for mode in [m for m in args.compile.split(",") if m]:
            cu = torch.compile(unet, mode=mode, fullgraph=True)
            with torch.no_grad():
                compile_s = timed_call(lambda: cu(x, t, ctx), dev)[1] / 1e3
            if args.dump_code:
                dump_output_code(args.out)
            for bench in (False, True) if args.cudnn_benchmark else (False,):
                torch.backends.cudnn.benchmark = bench
                key = f"{mode}_b{b}" + ("_cudnn_benchmark" if bench else "")
                res[key] = measure(key, lambda: cu(x, t, ctx), fl, dev, table=True) | {"compile_s": compile_s}
    print(json.dumps(res, indent=1))
    with open(os.path.join(args.out, "profile_unet.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
