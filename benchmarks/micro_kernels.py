"""Time the UNet's memory-bound pieces at the sizes of 16 guided videos per call (B=32 clips x 8 frames), GPU.

Parts: `norm` GroupNorm+SiLU (torch's vs per-channel statistics, compiled); `conv` the (3,1,1) temporal conv
(Conv3d vs (3,1) Conv2d) beside the per-frame 3x3 conv; `attn` Temp-Attn over 8 frames (SDPA, compiled math,
Inductor's broadcast form); `io` the 4-channel conv_in/conv_out, plain and zero-padded to 8; `temporal` the whole
compiled Temp-Attn sub-block (frame embedding, LayerNorm, q/k/v, attention, output, residual) with tokens as they
lie (B, F, N, C) against tokens regrouped by position (B, N, F, C).
Prints ms and GB/s or TFLOP/s; writes micro_kernels.json.
"""

from __future__ import annotations

import argparse
import json
import os

import torch
import torch.nn.functional as F

from vidrd_bench.models.vidrd.norm import channel_stats_group_norm
from vidrd_bench.models.vidrd.temporal import VideoTransformerBlock, frame_position_embedding, frame_softmax_attention

LEVELS = ((320, 32), (640, 16), (1280, 8), (1280, 4))


def sum_sq_group_norm(x, groups, w, b, eps):
    """Channel sums and sums of squares (one pass, no Welford), combined per group."""
    bsz, c = x.shape[:2]
    dims = tuple(range(2, x.ndim))
    xf = x.float()
    n = xf[0, 0].numel() * (c // groups)
    s1 = xf.sum(dims).view(bsz, groups, -1).sum(-1, keepdim=True) / n
    s2 = xf.square().sum(dims).view(bsz, groups, -1).sum(-1, keepdim=True) / n
    rstd = torch.rsqrt(s2 - s1.square() + eps)
    shape = (bsz, c) + (1,) * (x.ndim - 2)
    mean = s1.expand(bsz, groups, c // groups).reshape(shape)
    scale = (rstd.expand(bsz, groups, c // groups).reshape(bsz, c) * w.float()).view(shape)
    return ((xf - mean) * scale + b.float().view(c, *shape[2:])).to(x.dtype)


def chunked_stats_group_norm(x, groups, w, b, eps, chunks: int = 64):
    """Per-(chunk of positions, channel) mean/variance over contiguous row blocks, combined exactly per group."""
    bsz, c = x.shape[:2]
    rows = x.movedim(1, -1).reshape(bsz, chunks, -1, c).float()
    var_p, mean_p = torch.var_mean(rows, dim=2, correction=0)
    mean_p, var_p = mean_p.view(bsz, chunks, groups, -1), var_p.view(bsz, chunks, groups, -1)
    mean_g = mean_p.mean((1, 3), keepdim=True)
    var_g = (var_p + (mean_p - mean_g).square()).mean((1, 3), keepdim=True)
    shape = (bsz, c) + (1,) * (x.ndim - 2)
    mean = mean_g.expand(bsz, 1, groups, c // groups).reshape(shape)
    scale = (torch.rsqrt(var_g + eps).expand(bsz, 1, groups, c // groups).reshape(bsz, c) * w.float()).view(shape)
    return ((x.float() - mean) * scale + b.float().view(c, *shape[2:])).to(x.dtype)


def frame_attention_by_position(attn, x):
    """Temp-Attn on (B, N, F, C) tokens: each position's F frames lie together, so q/k/v re-reads stay local."""
    b, n, f, c = x.shape
    shape = (b, n, f, attn.heads, c // attn.heads)
    weight = torch.cat([attn.to_q.weight, attn.to_k.weight, attn.to_v.weight])
    q, k, v = (t.reshape(shape).float().transpose(1, 2) for t in F.linear(x, weight).split(c, dim=-1))
    out = frame_softmax_attention(q, k, v, attn.scale).transpose(1, 2)
    return attn.to_out[1](attn.to_out[0](out.to(x.dtype).reshape(b, n, f, c)))


def temporal_by_position(block, hidden, num_frames):
    """VideoTransformerBlock.temporal_attention with the LayerNorm writing tokens regrouped by position."""
    bf, n, c = hidden.shape
    video = hidden.reshape(bf // num_frames, num_frames, n, c)
    video = video + frame_position_embedding(num_frames, c, hidden.device, hidden.dtype)[None, :, None, :]
    out = frame_attention_by_position(block.temp_attn, block.temp_norm(video).transpose(1, 2))
    return (video + out.transpose(1, 2)).reshape(bf, n, c)


def temporal_rows(key: str, clips: int, frames: int, c: int, s: int) -> dict[str, float]:
    """The compiled Temp-Attn sub-block, tokens as they lie vs regrouped by position; error vs eager (SDPA)."""
    torch.manual_seed(0)
    block = VideoTransformerBlock(c, c // 64, 1024, 64, True).cuda().to(torch.bfloat16).eval()
    torch.nn.init.normal_(block.temp_attn.to_out[0].weight, std=0.02)
    x = torch.randn(clips * frames, s * s, c, device="cuda", dtype=torch.bfloat16)
    with torch.no_grad():
        ref = block.temporal_attention(x, frames).float()
    runs = {"as_they_lie": torch.compile(lambda t: block.temporal_attention(t, frames), dynamic=False),
            "by_position": torch.compile(lambda t: temporal_by_position(block, t, frames), dynamic=False)}
    row = {}
    for name, fn in runs.items():
        with torch.no_grad():
            err = float((fn(x).float() - ref).norm() / ref.norm())
        row[f"temporal_{name}_ms"] = ms = time_ms(lambda: fn(x))
        print(f"{key} Temp-Attn block {name:12s} {ms:7.3f} ms  rel err vs eager {err:.1e}", flush=True)
    return row


def time_ms(fn, iters: int = 20) -> float:
    """Mean ms per call over `iters` back-to-back calls between CUDA events (launch gaps hidden by the queue)."""
    with torch.no_grad():
        for _ in range(3):
            fn()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def math_attention(q, k, v):
    """Softmax attention written out, for Inductor to fuse (short sequences)."""
    s = (q.float() @ k.float().transpose(-1, -2)) * q.shape[-1] ** -0.5
    return (s.softmax(-1) @ v.float()).to(q.dtype)


def fused_frame_attention(q, k, v):
    """The compiled path's form (`temporal.frame_softmax_attention`) on (B, F, N, heads, d) bf16 tensors."""
    return frame_softmax_attention(q.float(), k.float(), v.float(), q.shape[-1] ** -0.5).to(torch.bfloat16)


def norm_rows(key: str, x: torch.Tensor, norms: dict) -> dict[str, float]:
    """GroupNorm+SiLU variants on the joint (5D) tensor, and torch's on the per-frame (4D) view."""
    c = x.shape[1]
    w, b = torch.rand(c, device=x.device, dtype=x.dtype) + 0.5, torch.randn(c, device=x.device, dtype=x.dtype)
    row = {}
    for name, fn in norms.items():
        row[f"gn_{name}_ms"] = ms = time_ms(lambda: fn(x, w, b))
        print(f"{key} GN+SiLU {name:14s} {ms:7.3f} ms  {4 * x.numel() / 1e9 / ms * 1e3:7.0f} GB/s", flush=True)
    frames = x.transpose(1, 2).reshape(-1, *x.shape[1:2], *x.shape[3:])
    row["gn_per_frame_native_ms"] = ms = time_ms(lambda: norms["native"](frames, w, b))
    print(f"{key} GN+SiLU per-frame native {ms:7.3f} ms", flush=True)
    return row


def conv_rows(key: str, x: torch.Tensor) -> dict[str, float]:
    """The temporal conv as cuDNN Conv3d and as a (3,1) Conv2d, and the per-frame 3x3 conv for scale."""
    c = x.shape[1]
    w3 = (torch.randn(c, c, 3, 1, 1, device=x.device, dtype=x.dtype) * 0.02).contiguous(
        memory_format=torch.channels_last_3d)
    w2 = (torch.randn(c, c, 3, 3, device=x.device, dtype=x.dtype) * 0.02).contiguous(memory_format=torch.channels_last)
    frames = x.transpose(1, 2).reshape(-1, c, *x.shape[3:])
    tf = 2 * x.numel() * c * 3 / 1e12
    convs = {
        "conv3d_311": (lambda: F.conv3d(x, w3, padding=(1, 0, 0)), tf),
        "conv2d_31": (lambda: F.conv2d(x.flatten(3), w3.squeeze(-1), padding=(1, 0)), tf),
        "conv2d_3x3_per_frame": (lambda: F.conv2d(frames, w2, padding=1), 3 * tf),
    }
    row = {}
    for name, (fn, flops) in convs.items():
        row[f"{name}_ms"] = ms = time_ms(fn)
        print(f"{key} {name:22s} {ms:7.3f} ms  {flops / ms * 1e3:6.0f} TFLOP/s", flush=True)
    return row


def attn_rows(key: str, clips: int, frames: int, c: int, s: int, fused) -> dict[str, float]:
    """Temp-Attn: SDPA on gathered frame sequences, compiled math, and Inductor's in-place broadcast form."""
    heads, dev = c // 64, torch.device("cuda")
    q, k, v = (torch.randn(clips * s * s, heads, frames, 64, device=dev, dtype=torch.bfloat16) for _ in range(3))
    qf, kf, vf = (t.view(clips, s * s, heads, frames, 64).permute(0, 3, 1, 2, 4).contiguous() for t in (q, k, v))
    runs = {
        "sdpa": lambda: F.scaled_dot_product_attention(q, k, v),
        "math_compiled": lambda: MATH(q, k, v),
        "fused_in_place": lambda: fused(qf, kf, vf),
    }
    row = {}
    for name, fn in runs.items():
        row[f"temp_attn_{name}_ms"] = ms = time_ms(fn)
        print(f"{key} Temp-Attn {name:14s} {ms:7.3f} ms  {4 * q.numel() * 2 / 1e9 / ms * 1e3:7.0f} GB/s", flush=True)
    return row


def io_rows(clips: int, frames: int) -> dict[str, float]:
    """conv_in (4 -> 320) and conv_out (320 -> 4) at 32x32, as they are and with the 4 channels zero-padded to 8."""
    dev, bf, cl = torch.device("cuda"), torch.bfloat16, torch.channels_last
    n = clips * frames
    row = {}
    for pad in (4, 8):
        x_in = torch.randn(n, pad, 32, 32, device=dev, dtype=bf).contiguous(memory_format=cl)
        w_in = torch.randn(320, pad, 3, 3, device=dev, dtype=bf).contiguous(memory_format=cl)
        x_out = torch.randn(n, 320, 32, 32, device=dev, dtype=bf).contiguous(memory_format=cl)
        w_out = torch.randn(pad, 320, 3, 3, device=dev, dtype=bf).contiguous(memory_format=cl)
        row[f"conv_in_{pad}ch_ms"] = a = time_ms(lambda: F.conv2d(x_in, w_in, padding=1))
        row[f"conv_out_{pad}ch_ms"] = b = time_ms(lambda: F.conv2d(x_out, w_out, padding=1))
        print(f"conv_in {pad} channels {a:7.3f} ms   conv_out {pad} channels {b:7.3f} ms", flush=True)
    return row


MATH = torch.compile(math_attention, dynamic=False)


def main() -> None:
    """Run the chosen parts at every UNet level."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--parts", default="norm,conv,attn,io")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    torch._dynamo.config.cache_size_limit = 64
    norms = {
        "native": torch.compile(dynamic=False)(lambda x, w, b: F.silu(F.group_norm(x, 32, w, b, 1e-5))),
        "channel_stats": torch.compile(dynamic=False)(
            lambda x, w, b: F.silu(channel_stats_group_norm(x, 32, w, b, 1e-5))),
        "sum_sq": torch.compile(dynamic=False)(lambda x, w, b: F.silu(sum_sq_group_norm(x, 32, w, b, 1e-5))),
        "chunked": torch.compile(dynamic=False)(lambda x, w, b: F.silu(chunked_stats_group_norm(x, 32, w, b, 1e-5))),
    }
    fused = torch.compile(fused_frame_attention, dynamic=False)
    res: dict[str, dict] = {}
    for c, s in LEVELS:
        key = f"C{c}_S{s}"
        x = torch.randn(args.clips, c, args.frames, s, s, device="cuda", dtype=torch.bfloat16).contiguous(
            memory_format=torch.channels_last_3d)
        row: dict[str, float] = {}
        row |= norm_rows(key, x, norms) if "norm" in parts else {}
        row |= conv_rows(key, x) if "conv" in parts else {}
        row |= attn_rows(key, args.clips, args.frames, c, s, fused) if "attn" in parts else {}
        row |= temporal_rows(key, args.clips, args.frames, c, s) if "temporal" in parts and s > 4 else {}
        res[key] = row
    if "io" in parts:
        res["io_convs"] = io_rows(args.clips, args.frames)
    print(json.dumps(res, indent=1))
    with open(os.path.join(args.out, "micro_kernels.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
