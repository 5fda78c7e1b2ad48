"""Test helper: state dicts in the release's (diffusers 0.14) key layout, as `vae_finetuned/` files hold them."""

import torch

from vidrd_bench.models.vidrd.vae import OLD_ATTENTION_NAMES


def legacy_vae_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename today's mid-block attention keys (to_q/to_k/to_v/to_out.0) back to query/key/value/proj_attn."""
    out = {}
    for key, value in state.items():
        for old, new in OLD_ATTENTION_NAMES.items():
            key = key.replace(f".attentions.0.{new}.", f".attentions.0.{old}.")
        out[key] = value
    return out
