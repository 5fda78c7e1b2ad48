"""End-to-end tests of VidRDPipeline with the tiny random-weight preset, plus the uint8 frame conversion."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from vidrd_bench.models.vidrd.pipeline import GenerationInputError, VidRDPipeline, VidRDPipelineOutput, to_uint8
from vidrd_bench.models.vidrd.sampler import assembly_frame_indices
from vidrd_bench.models.vidrd.settings import VIDRD_SETTINGS

PROMPTS = ["a man juggling three balls in a park", "a woman rowing a boat on a lake", "a child kicking a ball"]


@pytest.fixture(scope="module")
def pipe() -> VidRDPipeline:
    """The tiny preset on CPU in float32."""
    return VidRDPipeline.from_preset("tiny", device="cpu")


def protocol(**kw):
    """tiny-smoke (32x32, 3 clips of 8 frames, prompt frames 4) with 2 steps unless overridden."""
    return dataclasses.replace(VIDRD_SETTINGS.get("vidrd-tiny"), **{"num_inference_steps": 2, **kw})


def test_to_uint8_known_values():
    x = torch.tensor([-1.5, -1.0, -0.5, 0.0, 0.3, 0.999, 1.0, 2.0])
    assert to_uint8(x).tolist() == [0, 0, 64, 128, 166, 255, 255, 255]
    assert to_uint8(x).dtype == torch.uint8


def test_to_uint8_computes_in_float32_for_bfloat16_frames():
    x = torch.linspace(-1, 1, 4001).to(torch.bfloat16)
    assert torch.equal(to_uint8(x), to_uint8(x.float()))


@pytest.fixture(scope="module")
def release(pipe) -> VidRDPipelineOutput:
    """Two tiny videos under the release assembly (all 24 frames), with their latents."""
    return pipe(PROMPTS[:2], [3, 4], protocol(assembly="release"), return_latents=True)


def test_tiny_end_to_end_gives_uint8_videos_at_the_protocol_size(pipe, release):
    p = protocol()
    out = pipe(PROMPTS[:2], [3, 4], p, return_latents=True)
    assert isinstance(out, VidRDPipelineOutput)
    assert out.videos.dtype == torch.uint8 and out.videos.device.type == "cpu"
    assert out.videos.shape == (2, 16, 32, 32, 3) and p.num_frames == 16
    assert out.latents.shape == (2, 4, 24, 4, 4)
    assert out.settings == p.to_dict() and out.seeds == [3, 4]
    assert out.videos.float().std() > 0
    assert release.videos.shape == (2, 24, 32, 32, 3)
    assert torch.equal(out.latents, release.latents)
    assert torch.equal(out.videos, release.videos[:, assembly_frame_indices(3, 8, 4, "video")])


def test_each_clip_is_decoded_as_its_own_video(pipe, release):
    vae = copy.deepcopy(pipe.vae)
    torch.manual_seed(0)
    for block in vae.decoder.up_blocks:
        for temporal in block.temp_convs:
            torch.nn.init.normal_(temporal.convs[-1].weight, std=0.05)
    decoder = VidRDPipeline(dataclasses.replace(pipe.components, vae=vae))
    frames = decoder.decode_latents(release.latents, protocol(assembly="release"))
    assert frames.shape == (2, 3, 24, 32, 32)
    for c in range(3):
        clip = vae.decode_video(release.latents[:, :, c * 8:(c + 1) * 8], use_temporal=True)
        torch.testing.assert_close(frames[:, :, c * 8:(c + 1) * 8], clip)
    joint = vae.decode_video(release.latents, use_temporal=True)
    assert not torch.allclose(frames, joint, atol=1e-4)
    plain = decoder.decode_latents(release.latents, protocol(assembly="release", temporal_vae=False))
    assert not torch.allclose(frames, plain, atol=1e-4)


def test_same_seed_same_video_in_any_batch_and_seeds_differ(pipe):
    p = protocol(num_clips=2)
    batch = pipe(PROMPTS, [10, 11, 12], p, return_latents=True)
    alone = pipe(PROMPTS[1:2], [11], p, return_latents=True)
    torch.testing.assert_close(alone.latents, batch.latents[1:2], rtol=1e-4, atol=1e-4)
    assert (alone.videos.int() - batch.videos[1:2].int()).abs().max() <= 1
    other = pipe(PROMPTS[1:2], [99], p, return_latents=True)
    assert not torch.allclose(other.latents, alone.latents)


def test_prompts_and_negative_prompt_are_encoded(pipe, monkeypatch):
    seen: list[list[str]] = []
    encode = pipe.text_encoder.encode
    monkeypatch.setattr(pipe.text_encoder, "encode", lambda prompts: seen.append(list(prompts)) or encode(prompts))
    pipe(PROMPTS[:2], [1, 2], protocol(num_clips=1, num_inference_steps=1))
    assert seen == [PROMPTS[:2], ["watermark"]]


@pytest.mark.parametrize("prompts,seeds,kw", [
    ("one string", [1], {}),
    (PROMPTS[:2], [1], {}),
    (PROMPTS[:1], [1.5], {}),
    ([], [], {}),
    (PROMPTS[:1], [1], {"height": 36}),
])
def test_bad_inputs_are_refused_with_a_clear_error(pipe, prompts, seeds, kw):
    with pytest.raises(GenerationInputError):
        pipe(prompts, seeds, protocol(**kw))


def test_padding_to_the_compiled_batch_keeps_each_video(pipe):
    """With a fixed (compiled) batch size, a short batch is padded and the padding dropped: videos unchanged."""
    one_clip = protocol(num_clips=1)
    alone = pipe(["a red kite"], [5], one_clip).videos
    pipe.fixed_batch = 3
    try:
        padded = pipe(["a red kite"], [5], one_clip)
    finally:
        pipe.fixed_batch = None
    assert padded.videos.shape == alone.shape and padded.seeds == [5]
    assert (padded.videos.int() - alone.int()).abs().max() <= 1
