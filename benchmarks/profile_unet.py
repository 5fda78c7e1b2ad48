"""Profile one guided VidRD UNet call (full size, random weights, bf16) on the GPU: kernel time by category."""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch.profiler import ProfilerActivity, profile

from vidrd_bench.bench import count_flops, time_ms
from vidrd_bench.generator.components import build_components


def main() -> None:
    """Time eager (and optionally compiled) calls at several batch sizes and print the top kernels."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--compile", default="")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    args = ap.parse_args()
    dev = torch.device("cuda")
    comps = build_components("full-random", device="cuda", dtype=torch.bfloat16)
    unet = comps.unet.eval()
    res = {}
    for b in [int(x) for x in args.batches.split(",")]:
        x = torch.randn(2 * b, 4, 8, 32, 32, device=dev, dtype=torch.bfloat16)
        ctx = torch.randn(2 * b, 77, 1024, device=dev, dtype=torch.bfloat16)
        t = torch.tensor(500, device=dev)
        fl = count_flops(lambda: unet(x, t, ctx))
        tm = time_ms(lambda: unet(x, t, ctx), dev, warmup=3, iters=10)
        res[f"eager_b{b}"] = {"ms": tm["ms"], "tflop": fl / 1e12, "tflops": fl / tm["ms"] / 1e9}
        print(f"eager batch {b}: {tm['ms']:.1f} ms, {fl/1e12:.2f} TFLOP, {fl/tm['ms']/1e9:.0f} TFLOP/s", flush=True)
        with profile(activities=[ProfilerActivity.CUDA]) as prof, torch.no_grad():
            unet(x, t, ctx)
            torch.cuda.synchronize()
        if not args.compile:
            print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=70))
        for mode in [m for m in args.compile.split(",") if m]:
            cu = torch.compile(unet, mode=mode, fullgraph=True)
            t0 = time.time()
            with torch.no_grad():
                cu(x, t, ctx)
            torch.cuda.synchronize()
            ct = time.time() - t0
            tm = time_ms(lambda: cu(x, t, ctx), dev, warmup=3, iters=10)
            res[f"{mode}_b{b}"] = {"ms": tm["ms"], "compile_s": ct, "tflops": fl / tm["ms"] / 1e9}
            print(f"{mode} batch {b}: {tm['ms']:.1f} ms ({fl/tm['ms']/1e9:.0f} TFLOP/s), compile {ct:.0f}s", flush=True)
            with profile(activities=[ProfilerActivity.CUDA]) as prof, torch.no_grad():
                cu(x, t, ctx)
                torch.cuda.synchronize()
            print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=20, max_name_column_width=60))
    print(json.dumps(res, indent=1))
    with open(os.path.join(args.out, "profile_unet.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
