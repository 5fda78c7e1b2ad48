"""A module that wraps another and answers for it: the pipeline reads the wrapped network's attributes (config,
dtype, up_blocks...) through the wrapper the speed levers put in its place (GuidedPairDenoiser, FrameChunks)."""

from __future__ import annotations

from typing import Any

from torch import nn


class Wrapping(nn.Module):
    """Holds `inner`; every attribute the wrapper lacks is the wrapped module's."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        """The wrapper's own attribute, else the wrapped module's."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)
