"""Probe, on the GPU, the two attention-side routes of issue 17 not yet measured: torch's SDPA backends (flash, cuDNN,
memory-efficient) at the spatial attention shapes of one guided call of 16 videos, and q/k/v as one fused GEMM
(diffusers' `Attention.fuse_projections`) against three, in bf16 and as tensor-wise e4m3 `_scaled_mm`.

SD 2.1's UNet (configs.SD21_UNET): head dim 64 at every level, 5 / 10 / 20 / 20 heads; 256 frames per guided call
(2 x 16 videos x 8 frames); cross-attention keys are the 77 text tokens of width 1024.
  python3 benchmarks/probe_attention.py --out $OUT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

FRAMES = 256
LEVELS = {"level 0": (320, 32), "level 1": (640, 16), "level 2": (1280, 8), "mid": (1280, 4)}
BACKENDS = {"default": None, "flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION}


def time_ms(fn, reps: int = 30) -> float:
    """Median of `reps` CUDA-event timings after 5 warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]


def sdpa_rows() -> list[dict]:
    """Each backend's time for self-attention (N x N) and cross-attention (N x 77) at every level, and its error."""
    rows = []
    for level, (c, side) in LEVELS.items():
        heads, n = c // 64, side * side
        for kind, keys in (("self", n), ("cross", 77)):
            q = torch.randn(FRAMES, heads, n, 64, device="cuda", dtype=torch.bfloat16)
            k, v = (torch.randn(FRAMES, heads, keys, 64, device="cuda", dtype=torch.bfloat16) for _ in range(2))
            ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
            for name, backend in BACKENDS.items():
                def run(backend=backend):
                    if backend is None:
                        return F.scaled_dot_product_attention(q, k, v)
                    with sdpa_kernel(backend):
                        return F.scaled_dot_product_attention(q, k, v)
                try:
                    err = ((run().float() - ref).norm() / ref.norm()).item()
                    rows.append({"level": level, "attention": kind, "backend": name, "ms": round(time_ms(run), 4),
                                 "rel_err_vs_fp32": round(err, 5)})
                except RuntimeError as e:
                    rows.append({"level": level, "attention": kind, "backend": name, "error": str(e)[:160]})
                print(rows[-1], flush=True)
    return rows


def gemm_rows() -> list[dict]:
    """q/k/v as three (M, C) x (C, C) GEMMs against one (M, C) x (C, 3C), bf16 and e4m3 tensor-wise."""
    rows = []
    one = torch.ones((), device="cuda")
    for level, (c, side) in LEVELS.items():
        m = FRAMES * side * side
        x = torch.randn(m, c, device="cuda", dtype=torch.bfloat16)
        ws = [torch.randn(c, c, device="cuda", dtype=torch.bfloat16) / c ** 0.5 for _ in range(3)]
        wf = torch.cat(ws)
        x8, ws8, wf8 = x.to(torch.float8_e4m3fn), [w.to(torch.float8_e4m3fn) for w in ws], wf.to(torch.float8_e4m3fn)
        variants = {
            "bf16 three": lambda: [x @ w.t() for w in ws],
            "bf16 fused": lambda: x @ wf.t(),
            "e4m3 three": lambda: [torch._scaled_mm(x8, w.t(), one, one, out_dtype=torch.bfloat16) for w in ws8],
            "e4m3 fused": lambda: torch._scaled_mm(x8, wf8.t(), one, one, out_dtype=torch.bfloat16),
            "bf16 one C->C": lambda: x @ ws[0].t(),
            "e4m3 one C->C": lambda: torch._scaled_mm(x8, ws8[0].t(), one, one, out_dtype=torch.bfloat16),
        }
        for name, fn in variants.items():
            rows.append({"level": level, "tokens": m, "channels": c, "variant": name, "ms": round(time_ms(fn), 4)})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    """Run both probes and save them as JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    out = Path(ap.parse_args().out)
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "cudnn": torch.backends.cudnn.version(), "sdpa": sdpa_rows(), "qkv_gemms": gemm_rows()}
    (out / "probe_attention.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
