"""Every convolution of one guided UNet call (full-random, 16 videos, bf16, channels-last), timed three ways:
torch's conv (+ the residual add as a second kernel), the cuDNN-graph op with the add fused, and the op without it.

Why: in the compiled UNet the cuDNN-graph convs (generator/cudnn_conv.py) made the call slower (143.8 vs 136.6 ms,
benchmarks/ab_convs.sh) although alone they were faster (benchmarks/probe_fp8_convs.py); this splits the difference
by conv kind and epilogue. Eager, no torch.compile: each distinct (shapes, strides, epilogue) is timed once and
weighted by how often the call makes it. Writes micro_convs.json to --out.
"""

from __future__ import annotations

import argparse
import collections
import json
import os

import torch

from micro_kernels import time_ms
from vidrd_bench.generator import cudnn_conv


def record_calls(unet, inputs) -> collections.Counter:
    """Run the UNet once with every graph conv recording (x, w, bias?, residual?, stride, padding) signatures."""
    seen: collections.Counter = collections.Counter()
    original = cudnn_conv.graph_conv

    def spy(x, w, b, r, stride, padding):
        seen[(tuple(x.shape), tuple(x.stride()), tuple(w.shape), b is not None, r is not None, tuple(stride),
              tuple(padding))] += 1
        return original(x, w, b, r, stride, padding)

    cudnn_conv.graph_conv = spy
    try:
        with torch.no_grad():
            unet(*inputs)
    finally:
        cudnn_conv.graph_conv = original
    return seen


def unet_ms(unet, inputs) -> float:
    """One eager guided UNet call, ms (CUDA events)."""
    with torch.no_grad():
        return time_ms(lambda: unet(*inputs), iters=5)


def time_signature(sig) -> dict:
    """torch conv (+ add), the op with the add fused, the op then the add: ms each for one signature."""
    x_shape, x_stride, w_shape, has_bias, has_res, stride, padding = sig
    dev, dt = "cuda", torch.bfloat16
    fmt = torch.channels_last if len(x_shape) == 4 else torch.channels_last_3d
    x = torch.empty_strided(x_shape, x_stride, device=dev, dtype=dt).normal_()
    w = torch.randn(w_shape, device=dev, dtype=dt).contiguous(memory_format=fmt)
    b = torch.randn(w_shape[0], device=dev, dtype=dt) if has_bias else None
    out = cudnn_conv.reference_conv(x, w, b, None, list(stride), list(padding))
    r = torch.randn(out.shape, device=dev, dtype=dt).contiguous(memory_format=fmt) if has_res else None
    args = (list(stride), list(padding))
    row = {"x": list(x_shape), "w": list(w_shape), "residual": has_res, "stride": list(stride)}
    row["torch_ms"] = time_ms(lambda: cudnn_conv.reference_conv(x, w, b, r, *args), iters=20)
    row["graph_fused_ms"] = time_ms(lambda: cudnn_conv.graph_conv(x, w, b, r, *args), iters=20)
    if has_res:
        row["graph_then_add_ms"] = time_ms(lambda: cudnn_conv.graph_conv(x, w, b, None, *args) + r, iters=20)
    key = cudnn_conv.GraphKey.of(x, w, b, r, out.contiguous(memory_format=fmt), list(stride), list(padding))
    plan = cudnn_conv.graph_plan(key)
    row["plan"] = None if plan is None else plan.graph.get_plan_name_at_index(plan.index)
    return row


def main() -> None:
    """Record the call's convs, time each signature, print per-kind sums, save the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".")
    ap.add_argument("--videos", type=int, default=16)
    args = ap.parse_args()
    from vidrd_bench.generator.components import build_components

    comps = build_components("full-random", device="cuda", dtype=torch.bfloat16)
    unet = comps.unet.eval()
    unet.set_channels_last(True)
    cudnn_conv.use_cudnn_convs(unet)
    b = 2 * args.videos
    sample = torch.randn(b, 4, 8, 32, 32, device="cuda", dtype=torch.bfloat16).contiguous(
        memory_format=torch.channels_last_3d)
    context = torch.randn(b, 77, 1024, device="cuda", dtype=torch.bfloat16)
    inputs = (sample, torch.tensor(500, device="cuda"), context)
    calls = record_calls(unet, inputs)
    eager = {"graph_convs_ms": unet_ms(unet, inputs)}
    real_frontend = cudnn_conv.frontend
    cudnn_conv.frontend = lambda: None  # the op falls back to torch's conv (+ add)
    eager["torch_convs_ms"] = unet_ms(unet, inputs)
    cudnn_conv.frontend = real_frontend
    print("eager UNet call", eager, flush=True)
    rows = []
    for sig, count in calls.items():
        row = time_signature(sig)
        row["count"] = count
        rows.append(row)
        print(json.dumps(row), flush=True)
    totals = collections.defaultdict(float)
    for row in rows:
        kind = f"{'temp' if len(row['x']) == 5 else 'frame'}{' +res' if row['residual'] else ''}"
        for col in ("torch_ms", "graph_fused_ms", "graph_then_add_ms"):
            totals[f"{kind} {col}"] += row["count"] * row.get(col, row["graph_fused_ms"])
    print(json.dumps(dict(totals), indent=1), flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "micro_convs.json"), "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "eager_unet_call": eager, "rows": rows,
                   "totals_ms": dict(totals)}, f, indent=1)


if __name__ == "__main__":
    main()
