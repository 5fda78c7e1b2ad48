"""Configurations of the tiny random diffusers pipelines each diffusers adapter builds in code (tests, smoke runs,
`generators --save-tiny`); sizes follow diffusers' own fast tests of that pipeline."""

from __future__ import annotations

from vidrd_bench.models.vidrd.configs import SD21_BASE_SCHEDULER, SD21_BASE_VAE

# Tiny random diffusers text-to-video pipelines for the adapters' tests, smoke runs and `generators --save-tiny`;
# sizes follow diffusers' own fast tests (tests/pipelines/{text_to_video_synthesis,animatediff,cogvideo}), with a
# 4-level VAE (8x down) so that 32x32 frames denoise on 4x4 latents on the CPU.
TINY_T2V_VAE = {**SD21_BASE_VAE, "block_out_channels": [8, 8, 8, 8], "layers_per_block": 1, "norm_num_groups": 2,
                "sample_size": 32}

TINY_T2V_SCHEDULER = {**SD21_BASE_SCHEDULER}

TINY_T2V_UNET_2D = {
    "block_out_channels": [16, 32],
    "layers_per_block": 1,
    "sample_size": 4,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "cross_attention_dim": 32,
    "attention_head_dim": 4,
    "norm_num_groups": 2,
}

TINY_T2V = {
    "modelscope": {
        "unet": {**TINY_T2V_UNET_2D, "block_out_channels": [8, 16],
                 "down_block_types": ["CrossAttnDownBlock3D", "DownBlock3D"],
                 "up_block_types": ["UpBlock3D", "CrossAttnUpBlock3D"]},
        "vae": TINY_T2V_VAE, "scheduler": TINY_T2V_SCHEDULER,
    },
    "animatediff": {
        "unet": TINY_T2V_UNET_2D,
        "motion_adapter": {
            "block_out_channels": [16, 32],
            "motion_layers_per_block": 1,
            "motion_norm_num_groups": 2,
            "motion_num_attention_heads": 2,
            "motion_max_seq_length": 32,
        },
        "vae": TINY_T2V_VAE, "scheduler": TINY_T2V_SCHEDULER,
    },
    "cogvideox": {
        "transformer": {
            "num_attention_heads": 4,
            "attention_head_dim": 8,
            "in_channels": 4,
            "out_channels": 4,
            "time_embed_dim": 2,
            "text_embed_dim": 32,
            "num_layers": 1,
            "sample_width": 4,
            "sample_height": 4,
            "sample_frames": 17,
            "patch_size": 2,
            "temporal_compression_ratio": 4,
            "max_text_seq_length": 16,
        },
        "vae": {
            "in_channels": 3,
            "out_channels": 3,
            "down_block_types": ["CogVideoXDownBlock3D"] * 4,
            "up_block_types": ["CogVideoXUpBlock3D"] * 4,
            "block_out_channels": [8, 8, 8, 8],
            "latent_channels": 4,
            "layers_per_block": 1,
            "norm_num_groups": 2,
            "temporal_compression_ratio": 4,
        },
        "text_encoder": {
            "d_model": 32,
            "d_kv": 8,
            "d_ff": 37,
            "num_layers": 2,
            "num_heads": 4,
            "relative_attention_num_buckets": 8,
            "decoder_start_token_id": 0,
            "pad_token_id": 0,
            "eos_token_id": 1,
        },
        "scheduler": TINY_T2V_SCHEDULER,
    },
}
