"""Opt-in (VIDRD_BENCH_CONVS=cudnn): the UNet's convolutions as cuDNN graphs (nvidia-cudnn-frontend), bias and
residual add in the epilogue. Not the default, because inside the compiled UNet it measured slower.

Measured on an H200 at the batch-16 guided-call sizes (benchmarks/NOTES.md, sixth session): alone, with its fastest
plan, a cuDNN graph runs the (3,1,1) Temp-Conv 28-40% faster than torch's conv3d and the 3x3 convs 4-13% faster
(benchmarks/probe_fp8_convs.py); over every conv of one eager UNet call 63.1 vs 77.2 ms, and the eager call 282.0 vs
295.9 ms (benchmarks/micro_convs.py); but the compiled call with CUDA graph took 143.8 vs 136.6 ms
(benchmarks/ab_convs.sh), the cause not yet profiled.

`vidrd::conv` is a torch custom op: under torch.compile it is one extern call, on the CPU (tests) and wherever the
frontend is missing it is torch's conv plus the adds. Each (shapes, strides, dtype) builds one graph and times its
plans once (the fastest is kept; CUDA-graph capture uses it as is). `use_cudnn_convs` swaps a UNet's convs for
`GraphConv2d` / `GraphConv3d`, which share the original parameters (state dicts unchanged).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

BACKEND_TORCH = "torch"
BACKEND_ENV = "VIDRD_BENCH_CONVS"  # "cudnn" turns the cuDNN-graph convs on for the GPU fast path (opt-in)
BACKEND_CUDNN = "cudnn"
MAX_TIMED_PLANS = 8  # plans timed per graph on first use (cuDNN's heuristic order; the fastest is kept)


def frontend() -> Any | None:
    """The cudnn frontend module, or None when the optional package (nvidia-cudnn-frontend) is not installed."""
    try:
        import cudnn
    except ImportError:
        return None
    return cudnn


def wanted() -> bool:
    """Whether the GPU fast path should run its convs as cuDNN graphs: asked for, and the package is there."""
    return os.environ.get(BACKEND_ENV, BACKEND_TORCH) == BACKEND_CUDNN and frontend() is not None


def backend_name() -> str:
    """What the graph convs run on here: 'cudnn-frontend X (cuDNN Y)' or 'torch' (package missing)."""
    cudnn = frontend()
    if cudnn is None or not torch.cuda.is_available():
        return BACKEND_TORCH
    return f"cudnn-frontend {cudnn.__version__} (cuDNN {cudnn.backend_version()})"


def reference_conv(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                   residual: Optional[torch.Tensor], stride: list[int], padding: list[int]) -> torch.Tensor:
    """torch's conv, then the residual add: what the op computes where cuDNN graphs are not used."""
    conv = F.conv2d if x.dim() == 4 else F.conv3d
    out = conv(x, weight, bias, stride=stride, padding=padding)
    return out if residual is None else out + residual


def output_shape(x: torch.Tensor, weight: torch.Tensor, stride: list[int], padding: list[int]) -> list[int]:
    """(N, K, *spatial) of a conv with unit dilation."""
    spatial = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip(x.shape[2:], weight.shape[2:], stride, padding)]
    return [x.shape[0], weight.shape[0], *spatial]


def empty_channels_last(shape: list[int], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor of `shape` in the channels-last layout of its rank, on like's device and dtype."""
    fmt = torch.channels_last if len(shape) == 4 else torch.channels_last_3d
    return torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=fmt)


@torch.library.custom_op("vidrd::conv", mutates_args=())
def graph_conv(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], residual: Optional[torch.Tensor],
               stride: list[int], padding: list[int]) -> torch.Tensor:
    """conv(x, weight) + bias (+ residual), channels-last out: a cuDNN graph on CUDA, torch's conv elsewhere."""
    cudnn = frontend()
    if x.device.type != "cuda" or cudnn is None:
        return channels_last(reference_conv(x, weight, bias, residual, stride, padding))
    x, weight = channels_last(x), channels_last(weight)
    residual = None if residual is None else channels_last(residual)
    out = empty_channels_last(output_shape(x, weight, stride, padding), x)
    plan = graph_plan(GraphKey.of(x, weight, bias, residual, out, stride, padding))
    if plan is None:  # a shape cuDNN's graph engines refuse (e.g. conv_in's 4 channels): torch's conv
        return channels_last(reference_conv(x, weight, bias, residual, stride, padding))
    plan.run(cudnn, {"X": x, "W": weight, "B": bias, "R": residual, "Y": out})
    return out


def channels_last(t: torch.Tensor) -> torch.Tensor:
    """t in the channels-last layout of its rank (no copy when it already is)."""
    return t.contiguous(memory_format=torch.channels_last if t.dim() == 4 else torch.channels_last_3d)


@graph_conv.register_fake
def _graph_conv_fake(x, weight, bias, residual, stride, padding):
    """Shape and channels-last strides of the output, for tracing."""
    return empty_channels_last(output_shape(x, weight, stride, padding), x)


@dataclass(frozen=True)
class GraphKey:
    """Everything a cuDNN graph is specialised to: shapes, strides, dtype, which epilogue inputs, stride, padding."""

    x: tuple
    w: tuple
    out: tuple
    dtype: torch.dtype
    bias: bool
    residual: Optional[tuple]
    stride: tuple
    padding: tuple
    device: int

    @classmethod
    def of(cls, x, weight, bias, residual, out, stride, padding) -> "GraphKey":
        """The key of one call."""
        shape_stride = lambda t: (tuple(t.shape), tuple(t.stride()))  # noqa: E731
        return cls(shape_stride(x), shape_stride(weight), shape_stride(out), x.dtype, bias is not None,
                   None if residual is None else shape_stride(residual), tuple(stride), tuple(padding),
                   x.device.index or 0)


class GraphPlan:
    """One built cuDNN graph, the index of its fastest plan and that plan's workspace size."""

    def __init__(self, graph: Any, tensors: dict[str, Any], index: int, workspace: int) -> None:
        self.graph, self.tensors, self.index, self.workspace = graph, tensors, index, workspace

    def run(self, cudnn: Any, data: dict[str, Optional[torch.Tensor]]) -> None:
        """Execute the chosen plan on the current stream."""
        handle = _handle(torch.cuda.current_device())
        cudnn.set_stream(handle=handle, stream=torch.cuda.current_stream().cuda_stream)
        pack = {t: data[name] for name, t in self.tensors.items()}
        ws = torch.empty(max(self.workspace, 1), dtype=torch.uint8, device=data["X"].device)
        self.graph.execute_plan_at_index(pack, ws, self.index, handle=handle)


@functools.lru_cache(maxsize=None)
def _handle(device: int) -> Any:
    """One cuDNN handle per GPU."""
    with torch.cuda.device(device):
        return frontend().create_handle()


_DTYPES = {torch.bfloat16: "BFLOAT16", torch.float16: "HALF", torch.float32: "FLOAT"}


@functools.lru_cache(maxsize=None)
def graph_plan(key: GraphKey) -> GraphPlan | None:
    """The graph of `key` with its fastest plan (timed once; the heuristic's first during graph capture), or None
    where cuDNN supports no plan for it."""
    try:
        return _build(key)
    except Exception:  # noqa: BLE001 - cudnnGraphNotSupportedError and the backend's refusals
        return None


def _build(key: GraphKey) -> GraphPlan:
    """Build the graph y = conv(X, W) [+ B] [+ R] of `key` and all of its plans."""
    cudnn = frontend()
    dt = cudnn.data_type
    io = getattr(dt, _DTYPES[key.dtype])
    handle = _handle(key.device)
    g = cudnn.pygraph(io_data_type=io, intermediate_data_type=dt.FLOAT, compute_data_type=dt.FLOAT, handle=handle)
    tensor = lambda name, spec: g.tensor(name=name, dim=list(spec[0]), stride=list(spec[1]), data_type=io)  # noqa: E731
    tensors = {"X": tensor("X", key.x), "W": tensor("W", key.w)}
    ones = [1] * (len(key.x[0]) - 2)
    y = g.conv_fprop(image=tensors["X"], weight=tensors["W"], padding=list(key.padding), stride=list(key.stride),
                     dilation=ones, compute_data_type=dt.FLOAT)
    k = key.w[0][0]
    if key.bias:
        tensors["B"] = g.tensor(name="B", dim=[1, k, *ones], stride=[k, 1, *([k] * len(ones))], data_type=io)
        y = g.bias(input=y, bias=tensors["B"])
    if key.residual is not None:
        tensors["R"] = tensor("R", key.residual)
        y = g.add(a=y, b=tensors["R"])
    y.set_output(True).set_data_type(io)
    tensors["Y"] = y
    g.validate()
    g.build_operation_graph()
    g.create_execution_plans([cudnn.heur_mode.A, cudnn.heur_mode.FALLBACK])
    g.check_support()
    g.build_plans(cudnn.build_plan_policy.ALL)
    index = 0 if torch.cuda.is_current_stream_capturing() else _fastest_plan(g, tensors, key)
    return GraphPlan(g, tensors, index, g.get_workspace_size_plan_at_index(index))


def _fastest_plan(g: Any, tensors: dict[str, Any], key: GraphKey) -> int:
    """Time up to MAX_TIMED_PLANS plans on scratch tensors of the key's shapes (CUDA events) and return the fastest."""
    dev = torch.device("cuda", key.device)
    frontend().set_stream(handle=_handle(key.device), stream=torch.cuda.current_stream(dev).cuda_stream)
    scratch = {name: torch.randn(key_shape(key, name), device=dev).to(key.dtype) for name in tensors}
    pack = {t: scratch[name] for name, t in tensors.items()}
    best, best_ms = 0, float("inf")
    handle = _handle(key.device)
    for i in range(min(g.get_execution_plan_count(), MAX_TIMED_PLANS)):
        try:
            ws = torch.empty(max(g.get_workspace_size_plan_at_index(i), 1), dtype=torch.uint8, device=dev)
            ms = _time_plan(lambda: g.execute_plan_at_index(pack, ws, i, handle=handle))
        except Exception:  # noqa: BLE001 - a plan the backend refuses at run time is skipped
            continue
        if ms < best_ms:
            best, best_ms = i, ms
    return best


def key_shape(key: GraphKey, name: str) -> tuple:
    """The storage size of the key's tensor `name` as a flat scratch buffer's shape."""
    shape, stride = {"X": key.x, "W": key.w, "Y": key.out, "R": key.residual}.get(name, ((key.w[0][0],), (1,)))
    return (1 + sum((n - 1) * s for n, s in zip(shape, stride)),)


def _time_plan(fn, iters: int = 3, repeats: int = 3) -> float:
    """Milliseconds per call of fn after one warm-up, by CUDA events: the best of `repeats` runs of `iters` calls
    (the least disturbed by other work on the GPU)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / iters)
    return best


class _GraphConv:
    """Mixin: a conv whose forward is `vidrd::conv` (bias and an optional residual fused)."""

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        """conv(x) + bias (+ residual)."""
        return graph_conv(x, self.weight, self.bias, residual, list(self.stride), list(self.padding))

    @classmethod
    def from_conv(cls, conv: nn.Module) -> nn.Module:
        """A copy of `conv` sharing its weight and bias tensors."""
        with torch.device("meta"):
            new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                      padding=conv.padding, bias=conv.bias is not None)
        new.weight, new.bias = conv.weight, conv.bias
        return new


class GraphConv2d(_GraphConv, nn.Conv2d):
    """nn.Conv2d run as `vidrd::conv`."""


class GraphConv3d(_GraphConv, nn.Conv3d):
    """nn.Conv3d run as `vidrd::conv`."""


def graphable(conv: nn.Module) -> bool:
    """A plain conv the op covers: zero padding given as numbers, unit dilation, one group."""
    return (type(conv) in (nn.Conv2d, nn.Conv3d) and conv.padding_mode == "zeros" and conv.groups == 1
            and not isinstance(conv.padding, str) and all(d == 1 for d in conv.dilation))


def use_cudnn_convs(module: nn.Module) -> int:
    """Replace, in place, every graphable conv inside `module` by its GraphConv twin; returns how many."""
    swaps = [(name, m) for name, m in module.named_modules() if graphable(m)]
    for name, conv in swaps:
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        twin = (GraphConv2d if isinstance(conv, nn.Conv2d) else GraphConv3d).from_conv(conv)
        setattr(parent, child, twin)
    return len(swaps)


def conv_add(conv: nn.Module, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """conv(x) + residual, the add fused into the conv where it is a GraphConv."""
    if isinstance(conv, _GraphConv):
        return conv(x, residual)
    return residual + conv(x)
