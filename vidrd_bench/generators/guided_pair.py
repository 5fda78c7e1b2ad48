"""The guided pair as one batch, for pipelines that call their denoiser twice per sampling step.

Wan (and other pipelines written the same way) call the denoiser with the conditional text embeddings, then again on
the same latents and timestep with the unconditional ones. GuidedPairDenoiser wraps the denoiser and learns the pair
from the first step of each pipeline call (two calls on the same latent tensor with different embeddings). From then
on the conditional call runs both halves as one batch and keeps the unconditional half for the call that follows, so
the pipeline's own loop, scheduler and guidance formula stay as written. Calls are matched by tensor identity, never by
value: a call that does not continue the learned pattern (new prompts, a pipeline that batches its pair itself) runs
as given. tests/generators/test_guided_pair.py checks the videos against the plain pipeline.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vidrd_bench.generators.wrapping import Wrapping


class GuidedPairDenoiser(Wrapping):
    """A denoiser whose conditional/unconditional calls of one step run as one batch (see the module docstring);
    everything else (config, dtype, cache_context...) is the wrapped denoiser's."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__(inner)
        self.batched_calls = 0
        self._pair: tuple[torch.Tensor, torch.Tensor] | None = None
        self._previous: tuple[torch.Tensor, torch.Tensor] | None = None
        self._stash: tuple[torch.Tensor, Any, tuple] | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped denoiser's call, or the half of a batched pair computed by the call before. Only keyword calls
        with hidden_states, timestep and encoder_hidden_states (Wan's form) take part; any other call passes through."""
        hidden_states, encoder_hidden_states = kwargs.get("hidden_states"), kwargs.get("encoder_hidden_states")
        if args or hidden_states is None or encoder_hidden_states is None or "timestep" not in kwargs:
            return self.inner(*args, **kwargs)
        timestep = kwargs["timestep"]
        stash, self._stash = self._stash, None
        if (stash is not None and stash[0] is hidden_states and stash[1] is timestep
                and encoder_hidden_states is self._pair[1]):
            return stash[2]
        if self._pair is not None and encoder_hidden_states is self._pair[0] and kwargs.get("return_dict") is False:
            return self._both(kwargs)
        previous, self._previous = self._previous, (hidden_states, encoder_hidden_states)
        if (previous is not None and previous[0] is hidden_states and previous[1] is not encoder_hidden_states
                and previous[1].shape == encoder_hidden_states.shape):
            self._pair = (previous[1], encoder_hidden_states)
        # The learning step runs the uncompiled module: a compiled one would compile this shape as well.
        return getattr(self.inner, "_orig_mod", self.inner)(**kwargs)

    def steady_call(self, calls: list[tuple[tuple, dict]]) -> dict[str, Any] | None:
        """The one batched call a later step makes, from the calls recorded for one pipeline run (`bench` times it),
        or None where the run's last two calls are not a conditional/unconditional pair on the same latents."""
        if len(calls) < 2 or calls[-2][0] or calls[-1][0]:
            return None
        cond, uncond = calls[-2][1], calls[-1][1]
        if cond.get("hidden_states") is None or cond.get("hidden_states") is not uncond.get("hidden_states") or \
                cond.get("encoder_hidden_states") is None or uncond.get("encoder_hidden_states") is None:
            return None
        return pair_kwargs(cond, (cond["encoder_hidden_states"], uncond["encoder_hidden_states"]))

    def _both(self, kwargs: dict[str, Any]) -> tuple:
        """Run the conditional and unconditional halves as one batch; return the first, stash the second."""
        hidden_states, timestep = kwargs["hidden_states"], kwargs["timestep"]
        out = self.inner(**pair_kwargs(kwargs, self._pair))
        cond, uncond = out[0].chunk(2)
        self._stash = (hidden_states, timestep, (uncond, *out[1:]))
        self.batched_calls += 1
        return (cond, *out[1:])


def pair_kwargs(kwargs: dict[str, Any], embeddings: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
    """A conditional call's keyword arguments with the latents and timestep doubled and both text embeddings."""
    hidden_states, timestep = kwargs["hidden_states"], kwargs["timestep"]
    steps = torch.cat([timestep, timestep]) if isinstance(timestep, torch.Tensor) and timestep.ndim else timestep
    return {**kwargs, "hidden_states": torch.cat([hidden_states, hidden_states]), "timestep": steps,
            "encoder_hidden_states": torch.cat(embeddings)}
