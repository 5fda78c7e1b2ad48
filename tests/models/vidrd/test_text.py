"""Text conditioning: the byte-level CLIP tokenizer, loading from an SD folder, direct-call equality and the cache."""

from __future__ import annotations

import pytest
import torch

from vidrd_bench.core.errors import WeightsError
from vidrd_bench.models.vidrd import configs
from vidrd_bench.models.vidrd.text import TextEncoder, apply_text_state_dict, byte_level_tokenizer

BOS, EOS, PAD = (configs.TINY_TEXT[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id"))


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    """A tiny random text encoder."""
    return TextEncoder.random(configs.TINY_TEXT, seed=0)


def test_tiny_tokenizer_ids_follow_the_config():
    tok = byte_level_tokenizer()
    assert len(tok) == configs.TINY_TEXT["vocab_size"]
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (BOS, EOS, PAD)
    ids = tok(["A cat", ""], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    assert ids.shape == (2, 77)
    assert tok.convert_ids_to_tokens(ids[0, :6].tolist()) == ["<|startoftext|>", "a</w>", "c", "a", "t</w>",
                                                               "<|endoftext|>"]
    assert ids[0, 6:].eq(PAD).all() and ids[1, :2].tolist() == [BOS, EOS] and ids[1, 2:].eq(PAD).all()


def test_long_prompt_is_truncated_to_77_with_eos(encoder):
    ids = encoder.tokenize(["x" * 300])
    assert ids.shape == (1, 77) and ids[0, 0] == BOS and ids[0, -1] == EOS and (ids[0, 1:-1] != PAD).all()


def test_encode_equals_direct_clip_text_model_call(encoder):
    prompts = ["a person knitting a scarf", "a diver jumping off a board"]
    ids = encoder.tokenizer(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    with torch.no_grad():
        expected = encoder.model(input_ids=ids.input_ids).last_hidden_state
    encoder.clear_cache()
    got = encoder.encode(prompts)
    assert got.shape == (2, 77, configs.TINY_TEXT["hidden_size"])
    torch.testing.assert_close(got, expected)
    assert not torch.equal(got[0], got[1])


def test_each_distinct_prompt_is_encoded_once(encoder):
    calls = []
    handle = encoder.model.register_forward_hook(lambda m, a, kw, out: calls.append(kw["input_ids"].shape[0]),
                                                 with_kwargs=True)
    try:
        encoder.clear_cache()
        first = encoder.encode(["surfing", "rowing", "surfing"])
        second = encoder.encode(["rowing", "surfing", "biking"])
    finally:
        handle.remove()
    assert calls == [2, 1]
    torch.testing.assert_close(first[0], first[2])
    torch.testing.assert_close(second[0], first[1])
    torch.testing.assert_close(second[1], first[0])


def test_cache_is_bounded():
    enc = TextEncoder.random(configs.TINY_TEXT, seed=0)
    enc.cache_size = 2
    enc.encode(["a", "b", "c"])
    assert list(enc._cache) == ["b", "c"]


def test_sd_folder_round_trip(tmp_path, encoder):
    encoder.tokenizer.save_pretrained(tmp_path / "tokenizer")
    encoder.model.save_pretrained(tmp_path / "text_encoder")
    loaded = TextEncoder.from_folder(tmp_path)
    prompts = ["a horse race on a dirt track"]
    assert torch.equal(loaded.tokenize(prompts), encoder.tokenize(prompts))
    torch.testing.assert_close(loaded.encode(prompts), encoder.encode(prompts))


def test_random_is_deterministic_for_a_seed():
    a, b, c = (TextEncoder.random(configs.TINY_TEXT, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.encode(["x"]), b.encode(["x"])) and not torch.equal(a.encode(["x"]), c.encode(["x"]))


def test_missing_sd_folder_raises_weights_error(tmp_path):
    with pytest.raises(WeightsError, match="stable-diffusion-2-1-base"):
        TextEncoder.from_folder(tmp_path / "absent")


def test_release_text_state_dict_applies_and_bad_one_is_refused():
    source = TextEncoder.random(configs.TINY_TEXT, seed=5)
    target = TextEncoder.random(configs.TINY_TEXT, seed=6)
    state = {"text_model." + k: v for k, v in source.model.state_dict().items()}  # transformers 4.30 names
    state["text_model.embeddings.position_ids"] = torch.arange(77)[None]
    assert apply_text_state_dict(target, state, "ModelT2V.pth").complete
    torch.testing.assert_close(target.encode(["tennis"]), source.encode(["tennis"]))
    state["text_model.final_layer_norm.weight"] = torch.ones(3)
    state["text_model.extra.weight"] = torch.ones(1)
    with pytest.raises(WeightsError, match=r"ModelT2V\.pth.*1 unexpected, 1 shape mismatches.*final_layer_norm"):
        apply_text_state_dict(target, state, "ModelT2V.pth")
