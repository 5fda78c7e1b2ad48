"""CUDA-graph replay of the compiled UNet call: one captured graph per input shape, replayed every denoising step.

The denoising loop calls the same static-shape compiled graph 150 times per video. Replaying a captured CUDA graph
launches its ~1,500 kernels as one unit (no per-kernel launch work on the CPU, shorter gaps on the GPU), and makes
the loop's speed independent of what else the CPU does (the mp4 writer thread in `generate`). Unlike
torch.compile's mode="reduce-overhead" this reuses the already compiled default-mode graph (no second compile).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class _Captured:
    """One captured call: its static input buffers, the graph, and the output buffer the graph writes."""

    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    graph: torch.cuda.CUDAGraph
    output: torch.Tensor


class GraphedDenoiser(nn.Module):
    """Wraps a (compiled) `unet(sample, timestep, encoder_hidden_states)`; on CUDA each new input shape is captured
    once into a CUDA graph and later calls copy their inputs into its buffers and replay it. The result is a fresh
    tensor (safe to keep). Where capture fails the wrapped module is called as is, with a warning."""

    def __init__(self, module: nn.Module, warmup: int = 2) -> None:
        super().__init__()
        self.module = module
        self.warmup = warmup
        self._graphs: dict[tuple, _Captured | None] = {}

    @property
    def _orig_mod(self) -> nn.Module:
        """The eager UNet behind the wrapper (and behind torch.compile), for FLOP counting and configuration."""
        return getattr(self.module, "_orig_mod", self.module)

    @property
    def config(self) -> Any:
        """The wrapped UNet's configuration."""
        return self._orig_mod.config

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | int | float,
                encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """The wrapped module's output for these inputs, by graph replay where the inputs are on a GPU."""
        timestep = torch.as_tensor(timestep, device=sample.device)
        if sample.device.type != "cuda" or torch.is_grad_enabled():
            return self.module(sample, timestep, encoder_hidden_states)
        key = tuple((tuple(t.shape), t.dtype, t.device) for t in (sample, timestep, encoder_hidden_states))
        if key not in self._graphs:
            self._graphs[key] = self._capture(sample, timestep, encoder_hidden_states)
        captured = self._graphs[key]
        if captured is None:
            return self.module(sample, timestep, encoder_hidden_states)
        for buf, new in zip(captured.inputs, (sample, timestep, encoder_hidden_states)):
            buf.copy_(new)
        captured.graph.replay()
        return captured.output.clone()

    def _capture(self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor) -> _Captured | None:
        """Warm the module up on a side stream (autotuning, workspaces), then capture one call into a graph."""
        inputs = (sample.clone(), timestep.clone(), context.clone())
        side = torch.cuda.Stream(sample.device)
        side.wait_stream(torch.cuda.current_stream(sample.device))
        try:
            with torch.cuda.stream(side):
                for _ in range(self.warmup):
                    self.module(*inputs)
            torch.cuda.current_stream(sample.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                output = self.module(*inputs)
        except RuntimeError as exc:  # capture refused by some kernel: keep the plain (still compiled) call
            warnings.warn(f"CUDA graph capture of the UNet call failed ({exc}); running it without a graph.",
                          RuntimeWarning, stacklevel=3)
            torch.cuda.synchronize(sample.device)
            return None
        return _Captured(inputs, graph, output)
