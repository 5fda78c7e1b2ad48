"""The guided pair as one batch renders the plain pipeline's videos, batches every step after the first where the
pipeline calls its denoiser twice, and leaves a pipeline that batches its own pair (or new prompts) alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from vidrd_bench.generators.diffusers_speed import SpeedOptions, speed_up
from vidrd_bench.generators.guided_pair import GuidedPairDenoiser
from vidrd_bench.generators.tiny import build_tiny

STEPS = 3


def render(pipe, prompt="a man playing the cello on a stage", seed=3):
    """One tiny video as float frames in [0, 1] through diffusers' own call."""
    with torch.no_grad():
        return pipe(prompt=prompt, negative_prompt="blurry", num_frames=5, height=32, width=32,
                    num_inference_steps=STEPS, generator=torch.Generator().manual_seed(seed), output_type="np").frames[0]


def test_wan_pair_in_one_batch_renders_the_plain_video_and_batches_every_later_step():
    """Wan calls its transformer twice per step: the first step teaches the pair, the other steps run batched, and
    a second call with other prompts learns its own pair (no stale embeddings)."""
    plain = build_tiny("wan")
    pipe = build_tiny("wan")
    done = speed_up(pipe, SpeedOptions(compile=False, guided_pair=True))
    assert done["guided_pair"] == ["transformer"] and isinstance(pipe.transformer, GuidedPairDenoiser)
    np.testing.assert_allclose(render(pipe), render(plain), atol=1e-5)
    assert pipe.transformer.batched_calls == STEPS - 1
    np.testing.assert_allclose(render(pipe, "a dog running", 5), render(plain, "a dog running", 5), atol=1e-5)
    assert pipe.transformer.batched_calls == 2 * (STEPS - 1)


def test_a_pipeline_that_batches_its_own_pair_is_left_as_it_runs():
    """ModelScope makes one UNet call per step on the guided pair: nothing to pair, the same video."""
    pipe = build_tiny("modelscope")
    cpu = SpeedOptions(compile=False).on(torch.device("cpu"))  # the CPU's levers, and the pair forced on
    speed_up(pipe, dataclasses.replace(cpu, guided_pair=True))
    with torch.no_grad():
        frames = pipe(prompt="a cello", num_frames=4, height=32, width=32, num_inference_steps=2,
                      generator=torch.Generator().manual_seed(0), output_type="np").frames[0]
        want = build_tiny("modelscope")(prompt="a cello", num_frames=4, height=32, width=32, num_inference_steps=2,
                                        generator=torch.Generator().manual_seed(0), output_type="np").frames[0]
    np.testing.assert_array_equal(frames, want)
    assert pipe.unet.batched_calls == 0


def test_a_call_that_breaks_the_pattern_runs_as_given():
    """A stashed half is returned only to the call with the same latents, timestep and unconditional embeddings."""
    calls = []

    class Echo(torch.nn.Module):
        def forward(self, hidden_states, timestep, encoder_hidden_states, return_dict=True):
            calls.append(hidden_states.shape[0])
            return (hidden_states + encoder_hidden_states.sum(),)

    den = GuidedPairDenoiser(Echo())
    x, t, cond, uncond = torch.zeros(1, 2), torch.ones(1), torch.ones(1, 3), torch.zeros(1, 3)
    call = lambda h, e: den(hidden_states=h, timestep=t, encoder_hidden_states=e, return_dict=False)[0]  # noqa: E731
    call(x, cond), call(x, uncond)  # learns the pair
    x2 = torch.ones(1, 2)
    assert torch.equal(call(x2, cond), x2 + 3)  # batched
    other = torch.full((1, 2), 7.0)
    assert torch.equal(call(other, uncond), other)  # other latents: not the stash
    assert torch.equal(den(x2, t, cond)[0], x2 + 3)  # a positional call passes through
    assert calls == [1, 1, 2, 1, 1]
