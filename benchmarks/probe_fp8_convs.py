"""Probe: e4m3 convolutions through cuDNN's graph API (nvidia-cudnn-frontend) and static-scale e4m3 GEMMs, timed
against bf16 at the batch-16 guided-call shapes (32 clips x 8 frames).

Answers, before any UNet code changes: does this cuDNN run e4m3 3x3 and (3,1,1) convs on the H200, which plans are
fastest, how far from bf16's time, can the call be captured in a CUDA graph, and what does a static-scale
`_scaled_mm` give over bf16 at the feed-forward sizes. Writes `probe_fp8_convs.json` to --out.
Caveat for reading `torch_bf16_ms`: it is torch's eager conv WITH bias, which cuDNN adds in a second pass; the
compiled UNet peels the bias off into the next fused kernel (torch/_inductor/kernel/conv.py), so the cuDNN-graph rows
(bias in the epilogue) are not faster than what the compiled UNet runs (benchmarks/NOTES.md, sixth session).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import traceback

import torch
import torch.nn.functional as F

from micro_kernels import time_ms  # CUDA-event timing, as every kernel micro-benchmark here

E4M3 = torch.float8_e4m3fn
LEVELS = {0: (320, 32), 1: (640, 16), 2: (1280, 8), 3: (1280, 4)}  # channels, latent side per level


def cudnn_conv_graph(cudnn, handle, x, w, padding, io_fp8: bool, per_channel: bool):
    """A cuDNN graph y = conv(x, w) * descale + bias (bf16 out); x, w are bf16 or e4m3 torch tensors (NHWC)."""
    dt = cudnn.data_type
    g = cudnn.pygraph(io_data_type=dt.BFLOAT16, intermediate_data_type=dt.FLOAT, compute_data_type=dt.FLOAT,
                      handle=handle)
    in_type = dt.FP8_E4M3 if io_fp8 else dt.BFLOAT16
    X = g.tensor(name="X", dim=list(x.shape), stride=list(x.stride()), data_type=in_type)
    W = g.tensor(name="W", dim=list(w.shape), stride=list(w.stride()), data_type=in_type)
    ones = [1] * (x.dim() - 2)
    y = g.conv_fprop(image=X, weight=W, padding=padding, stride=ones, dilation=ones, compute_data_type=dt.FLOAT)
    k = w.shape[0]
    vec_dim = [1, k] + ones
    vec_stride = [k, 1] + [k] * len(ones)
    S = g.tensor(name="S", dim=vec_dim if per_channel else [1] * x.dim(),
                 stride=vec_stride if per_channel else [1] * x.dim(), data_type=dt.FLOAT)
    B = g.tensor(name="B", dim=vec_dim, stride=vec_stride, data_type=dt.FLOAT)
    y = g.add(a=g.mul(a=y, b=S), b=B)
    y.set_output(True).set_data_type(dt.BFLOAT16)
    g.validate()
    g.build_operation_graph()
    g.create_execution_plans([cudnn.heur_mode.A, cudnn.heur_mode.FALLBACK])
    g.check_support()
    g.build_plans(cudnn.build_plan_policy.ALL)
    return g, (X, W, S, B, y)


def conv_case(cudnn, handle, name: str, x: torch.Tensor, w: torch.Tensor, padding) -> dict:
    """Time torch's bf16 conv, cuDNN-graph bf16 and e4m3 convs (every plan) and compare the e4m3 output."""
    conv = F.conv2d if x.dim() == 4 else F.conv3d
    bias = torch.randn(w.shape[0], device="cuda", dtype=torch.bfloat16)
    row = {"case": name, "x": list(x.shape), "w": list(w.shape)}
    flop = 2 * x.numel() // x.shape[1] * w.numel()
    row["gflop"] = flop / 1e9
    ref = conv(x, w, bias, padding=padding)
    row["torch_bf16_ms"] = time_ms(lambda: conv(x, w, bias, padding=padding))
    xs, ws = x.float().abs().amax() / 448, w.float().abs().amax() / 448
    xq = (x.float() / xs).to(E4M3).contiguous(memory_format=x_format(x))
    wq = (w.float() / ws).to(E4M3).contiguous(memory_format=x_format(w))
    for label, xin, win, scale in (("cudnn_bf16", x, w, 1.0), ("cudnn_fp8", xq, wq, float(xs * ws))):
        for per_channel in (False, True):
            key = f"{label}{'_perchannel' if per_channel else ''}"
            try:
                row[key] = graph_timings(cudnn, handle, xin, win, padding, label.endswith("fp8"), per_channel,
                                         scale, bias, ref)
            except Exception as exc:  # noqa: BLE001 - a probe records what the library refused
                row[key] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    row["cast_to_e4m3_ms"] = time_ms(lambda: x.to(E4M3))
    return row


def x_format(t: torch.Tensor):
    """channels-last for 4D, channels-last-3d for 5D."""
    return torch.channels_last if t.dim() == 4 else torch.channels_last_3d


def graph_timings(cudnn, handle, xin, win, padding, fp8, per_channel, scale, bias, ref) -> dict:
    """Build one graph, time each of its plans, report the best plan, its error against bf16 and CUDA-graph capture."""
    g, (X, W, S, B, Y) = cudnn_conv_graph(cudnn, handle, xin, win, padding, fp8, per_channel)
    k = win.shape[0]
    s = torch.full((k,) if per_channel else (1,), scale, device="cuda", dtype=torch.float32)
    b = bias.float()
    out = torch.empty_like(ref)
    ws = torch.empty(max(g.get_workspace_size(), 1), device="cuda", dtype=torch.uint8)
    pack = {X: xin, W: win, S: s, B: b, Y: out}
    result = {"plans": g.get_execution_plan_count(), "plan_ms": {}}
    for i in range(min(g.get_execution_plan_count(), 6)):
        try:
            wsi = torch.empty(max(g.get_workspace_size_plan_at_index(i), 1), device="cuda", dtype=torch.uint8)
            result["plan_ms"][g.get_plan_name_at_index(i)] = time_ms(
                lambda: g.execute_plan_at_index(pack, wsi, i, handle=handle))
        except Exception as exc:  # noqa: BLE001
            result["plan_ms"][f"#{i}"] = f"{type(exc).__name__}: {exc}"[:200]
    result["heuristic_ms"] = time_ms(lambda: g.execute(pack, ws, handle=handle))
    g.execute(pack, ws, handle=handle)
    torch.cuda.synchronize()
    result["rel_err_vs_torch_bf16"] = float((out.float() - ref.float()).norm() / ref.float().norm())
    result["cuda_graph"] = capture_check(cudnn, handle, g, pack, ws, out)
    return result


def capture_check(cudnn, handle, g, pack, ws, out) -> str:
    """Capture one execute on a torch CUDA graph, replay it and check that it rewrote the output."""
    try:
        stream = torch.cuda.Stream()
        expect = out.clone()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.stream(stream):
            cudnn.set_stream(handle=handle, stream=stream.cuda_stream)
            g.execute(pack, ws, handle=handle)
            torch.cuda.synchronize()
            with torch.cuda.graph(graph, stream=stream):
                g.execute(pack, ws, handle=handle)
        out.zero_()
        graph.replay()
        torch.cuda.synchronize()
        cudnn.set_stream(handle=handle, stream=torch.cuda.current_stream().cuda_stream)
        return "ok" if torch.equal(out, expect) else "replayed, output differs"
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"[:300]


def gemm_rows() -> list[dict]:
    """bf16 mm vs e4m3 `_scaled_mm` with per-tensor (static) and row-wise scales at the UNet's linear sizes."""
    rows = []
    for m, k, n in ((262144, 320, 2560), (262144, 1280, 320), (262144, 320, 320), (65536, 640, 5120),
                    (65536, 2560, 640), (16384, 1280, 10240), (16384, 5120, 1280), (4096, 1280, 10240)):
        a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
        aq, bq = a.to(E4M3), b.to(E4M3)
        one = torch.ones((), device="cuda")
        ra, rb = torch.ones(m, 1, device="cuda"), torch.ones(1, n, device="cuda")
        row = {"m": m, "k": k, "n": n, "gflop": 2 * m * k * n / 1e9,
               "bf16_ms": time_ms(lambda: a @ b.t()),
               "fp8_tensor_ms": time_ms(lambda: torch._scaled_mm(aq, bq.t(), one, one, out_dtype=torch.bfloat16)),
               "fp8_rowwise_ms": time_ms(lambda: torch._scaled_mm(aq, bq.t(), ra, rb, out_dtype=torch.bfloat16)),
               "cast_a_ms": time_ms(lambda: a.to(E4M3))}
        rows.append(row)
    return rows


def conv_rows(cudnn) -> list[dict]:
    """The 3x3 per-frame and (3,1,1) Temp-Conv cases at every level."""
    handle = cudnn.create_handle()
    cudnn.set_stream(handle=handle, stream=torch.cuda.current_stream().cuda_stream)
    rows = []
    for level, (c, side) in LEVELS.items():
        x4 = torch.randn(256, c, side, side, device="cuda", dtype=torch.bfloat16).to(memory_format=torch.channels_last)
        w4 = (torch.randn(c, c, 3, 3, device="cuda", dtype=torch.bfloat16) / (3 * c ** 0.5)).to(
            memory_format=torch.channels_last)
        rows.append(conv_case(cudnn, handle, f"L{level} 3x3", x4, w4, [1, 1]))
        x5 = torch.randn(32, c, 8, side, side, device="cuda", dtype=torch.bfloat16).to(
            memory_format=torch.channels_last_3d)
        w5 = (torch.randn(c, c, 3, 1, 1, device="cuda", dtype=torch.bfloat16) / (3 * c ** 0.5)).to(
            memory_format=torch.channels_last_3d)
        rows.append(conv_case(cudnn, handle, f"L{level} temp (3,1,1)", x5, w5, [1, 0, 0]))
        print(json.dumps(rows[-2:], indent=1), flush=True)
    return rows


def main() -> None:
    """Run every probe, print and save the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "cudnn_torch": torch.backends.cudnn.version(), "nvcc": shutil.which("nvcc")}
    try:
        from torch.utils.cpp_extension import CUDA_HOME
        report["cuda_home"] = CUDA_HOME
    except Exception as exc:  # noqa: BLE001
        report["cuda_home"] = repr(exc)
    report["gemms"] = gemm_rows()
    print(json.dumps(report, indent=1), flush=True)
    try:
        import cudnn
        report["cudnn_frontend"] = cudnn.__version__
        report["cudnn_backend"] = cudnn.backend_version()
        report["convs"] = conv_rows(cudnn)
    except Exception:  # noqa: BLE001
        report["cudnn_error"] = traceback.format_exc()[-2000:]
        print(report["cudnn_error"], flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "probe_fp8_convs.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
