"""Tests of the iterative FNR/PNS/DSG sampler against small stand-in denoisers and diffusers' DDIM."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from diffusers import DDIMScheduler

from vidrd_bench.models.vidrd.configs import SD21_BASE_SCHEDULER
from vidrd_bench.models.vidrd.sampler import (
    InvalidSettingsError,
    IterativeSampler,
    SamplerNoise,
    assemble_clips,
    assembly_frame_indices,
    draw_noise,
    dsg_pinned_steps,
    make_generators,
)
from vidrd_bench.models.vidrd.settings import VIDRD_SETTINGS, VidRDSettings

HW = (4, 4)
L, D = 3, 5


class Recorder:
    """Stand-in denoiser: per-video, mixes neighbouring frames, depends on frame position and text; records inputs."""

    def __init__(self) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def __call__(self, sample: torch.Tensor, t: torch.Tensor, ehs: torch.Tensor) -> torch.Tensor:
        self.calls.append((sample.clone(), t, ehs.clone()))
        f = sample.shape[2]
        pos = torch.arange(f, dtype=sample.dtype).view(1, 1, f, 1, 1)
        ctx = ehs.mean(dim=(1, 2)).view(-1, 1, 1, 1, 1)
        return 0.1 * sample + 0.05 * sample.roll(1, dims=2) + 0.01 * pos + ctx


def protocol(**kw) -> VidRDSettings:
    """The tiny protocol with overrides."""
    return dataclasses.replace(VIDRD_SETTINGS.get("vidrd-tiny"), **kw)


def scheduler() -> DDIMScheduler:
    """DDIM with the SD 2.1-base settings."""
    return DDIMScheduler(**SD21_BASE_SCHEDULER)


def embeddings(seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-video prompt embeddings (fixed by the seed) and one negative-prompt embedding."""
    cond = torch.stack([torch.randn(L, D, generator=torch.Generator().manual_seed(1000 + s)) for s in seeds])
    return cond, torch.full((1, L, D), -0.3)


def run(p: VidRDSettings, seeds: list[int], unet=None, hw=HW) -> tuple[torch.Tensor, Recorder, SamplerNoise]:
    """Sample with a Recorder (or `unet`); returns release-order latents, the recorder and the noise."""
    rec = unet or Recorder()
    noise = draw_noise(make_generators(seeds), p, hw)
    cond, uncond = embeddings(seeds)
    return IterativeSampler(rec, scheduler(), p)(cond, uncond, noise), rec, noise


def test_dsg_schedule_matches_paper_numbers():
    assert dsg_pinned_steps(4, 50, 0.4) == [20, 15, 10, 5]
    assert dsg_pinned_steps(4, 50, None) == [0, 0, 0, 0]
    assert dsg_pinned_steps(4, 50, 0.0) == [0, 0, 0, 0]
    assert dsg_pinned_steps(4, 50, 1.0) == [50, 38, 25, 13]
    assert dsg_pinned_steps(0, 50, 0.4) == []


def test_unet_calls_count_batch_and_guidance_layout():
    p = protocol(num_clips=3, num_inference_steps=5)
    seeds = [1, 2]
    _, rec, _ = run(p, seeds)
    assert len(rec.calls) == 3 * 5
    cond, uncond = embeddings(seeds)
    timesteps = [int(t) for _, t, _ in rec.calls]
    assert timesteps == [801, 601, 401, 201, 1] * 3
    for sample, _, ehs in rec.calls:
        assert sample.shape == (4, 4, 8, *HW)
        assert torch.equal(sample[:2], sample[2:])
        assert torch.equal(ehs[:2], uncond.expand(2, -1, -1)) and torch.equal(ehs[2:], cond)


def test_single_clip_equals_diffusers_ddim_with_cfg():
    p = protocol(num_clips=1, num_inference_steps=6, guidance_scale=7.5)
    out, _, noise = run(p, [5])
    cond, uncond = embeddings([5])
    ref_unet, sched = Recorder(), scheduler()
    sched.set_timesteps(6)
    z = noise.clips[0].clone()
    for t in sched.timesteps:
        eps = ref_unet(torch.cat([z, z]), t, torch.cat([uncond, cond]))
        eps = eps[:1] + 7.5 * (eps[1:] - eps[:1])
        z = sched.step(eps, t, z, eta=0.0).prev_sample
    torch.testing.assert_close(out, z, rtol=1e-5, atol=1e-5)


def test_fnr_reverses_previous_initial_noise():
    p = protocol(num_clips=3, num_inference_steps=3, pns_alpha=None, dsg_g=None)
    _, rec, noise = run(p, [3, 4])
    first = [rec.calls[c * 3][0][:2] for c in range(3)]
    for c in (1, 2):
        assert torch.equal(first[c][:, :, :4], first[c - 1].flip(2)[:, :, :4])
        assert torch.equal(first[c][:, :, 4:], noise.clips[c][:, :, 4:])
    assert torch.equal(first[0], noise.clips[0])


@pytest.mark.parametrize("alpha", [4.0, 1.0])
def test_pns_keeps_unit_variance_and_correlates_with_past(alpha):
    p = protocol(num_clips=2, num_inference_steps=1, pns_alpha=alpha, dsg_g=None)
    _, rec, noise = run(p, [7, 8, 9, 10], hw=(32, 32))
    past_new = rec.calls[0][0][:4].flip(2)[:, :, 4:].flatten()
    new = rec.calls[1][0][:4][:, :, 4:].flatten()
    assert new.numel() == 4 * 4 * 4 * 32 * 32
    assert abs(new.var().item() - 1.0) < 0.03
    corr = torch.corrcoef(torch.stack([new, past_new]))[0, 1].item()
    assert abs(corr - alpha / math.sqrt(1 + alpha**2)) < 0.01
    fresh = noise.clips[1][:, :, 4:].flatten()
    expected = alpha / math.sqrt(1 + alpha**2) * past_new + fresh / math.sqrt(1 + alpha**2)
    torch.testing.assert_close(new, expected)


def test_dsg_pins_prompt_frames_to_past_at_exactly_the_scheduled_steps():
    p = protocol(num_clips=2, num_inference_steps=50, dsg_g=0.4)
    _, rec, _ = run(p, [12])
    pinned = dsg_pinned_steps(4, 50, 0.4)
    for i in range(50):
        prev, cur = rec.calls[i][0][:1], rec.calls[50 + i][0][:1]
        for k in range(4):
            same = torch.equal(cur[:, :, k], prev[:, :, 7 - k])
            assert same == (i < pinned[k]), (i, k)


def test_dsg_off_leaves_prompt_frames_free_after_step_zero():
    p = protocol(num_clips=2, num_inference_steps=4, dsg_g=None)
    _, rec, _ = run(p, [12])
    assert torch.equal(rec.calls[4][0][:, :, :4], rec.calls[0][0].flip(2)[:, :, :4])
    assert not torch.equal(rec.calls[5][0][:, :, 0], rec.calls[1][0][:, :, 7])


def test_switches_off_give_independent_clips():
    p = protocol(num_clips=3, num_inference_steps=3, fnr=False, pns_alpha=None, dsg_g=None)
    out, _, noise = run(p, [21, 22])
    cond, uncond = embeddings([21, 22])
    single = IterativeSampler(Recorder(), scheduler(), dataclasses.replace(p, num_clips=1))
    for c in range(3):
        alone = single(cond, uncond, SamplerNoise(noise.clips[c:c + 1]))
        assert torch.equal(out[:, :, c * 8:(c + 1) * 8], alone)


@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_same_seed_same_video_whatever_the_batch(eta):
    p = protocol(num_clips=3, num_inference_steps=4, eta=eta)
    batch, _, _ = run(p, [31, 32, 33])
    alone, _, _ = run(p, [32])
    assert torch.equal(batch[1:2], alone)
    assert not torch.allclose(batch[0], batch[1])


def test_eta_draws_ddim_noise_from_the_video_generator():
    zero, _, _ = run(protocol(num_inference_steps=4, eta=0.0), [40])
    noisy, _, noise = run(protocol(num_inference_steps=4, eta=1.0), [40])
    assert noise.steps is not None and noise.steps.shape == (3, 4, 1, 4, 8, *HW)
    assert torch.equal(noise.clips, draw_noise(make_generators([40]), protocol(), HW).clips)
    assert not torch.allclose(zero, noisy)


def test_sampler_is_repeatable_and_leaves_the_given_scheduler_alone():
    p = protocol(num_inference_steps=3)
    noise = draw_noise(make_generators([50]), p, HW)
    cond, uncond = embeddings([50])
    given = scheduler()
    given.set_timesteps(7)
    sampler = IterativeSampler(Recorder(), given, p)
    first = sampler(cond, uncond, noise)
    assert torch.equal(first, sampler(cond, uncond, noise))
    assert len(given.timesteps) == 7


@pytest.mark.parametrize(("clips", "assembly", "frames"), [(3, "video", 16), (3, "release", 24), (1, "video", 8),
                                                           (1, "release", 8)])
def test_assembled_frame_counts(clips, assembly, frames):
    p = protocol(num_clips=clips, assembly=assembly, num_inference_steps=2)
    out, _, _ = run(p, [60])
    assert out.shape == (1, 4, clips * 8, *HW)
    assert assemble_clips(out, p).shape[2] == frames == p.num_frames


def test_video_assembly_order_against_release_order():
    tags = torch.tensor([[c * 100 + k for c in range(3) for k in range(8)]])
    release = assemble_clips(tags, protocol(assembly="release"), dim=1)
    video = assemble_clips(tags, protocol(assembly="video"), dim=1)
    assert release[0].tolist() == tags[0].tolist()
    assert video[0].tolist() == [*range(8), 104, 105, 106, 107, 204, 205, 206, 207]
    assert assembly_frame_indices(3, 8, 4, "video") == [*range(8), 12, 13, 14, 15, 20, 21, 22, 23]


def test_release_clips_are_the_denoised_clips_in_generation_order():
    p = protocol(num_clips=3, num_inference_steps=2)
    out, rec, _ = run(p, [70])
    sched = scheduler()
    sched.set_timesteps(2)
    for c in range(3):
        sample, t, ehs = rec.calls[2 * c + 1]
        eps = Recorder()(sample, t, ehs)
        eps = torch.lerp(eps[:1], eps[1:], p.guidance_scale)
        last = sched.step(eps, int(t), sample[:1], eta=0.0).prev_sample
        torch.testing.assert_close(out[:, :, c * 8:(c + 1) * 8], last)


@pytest.mark.parametrize("field,value", [("prompt_frames", 8), ("num_clips", 0), ("assembly", "boomerang"),
                                         ("pns_alpha", -1.0), ("num_inference_steps", 0)])
def test_bad_protocol_settings_are_refused(field, value):
    with pytest.raises(InvalidSettingsError, match=field):
        IterativeSampler(Recorder(), scheduler(), protocol(**{field: value}))
