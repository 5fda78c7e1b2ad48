"""Model configurations in one place: the full SD 2.1-base / VidRD sizes and the tiny ones tests and smoke share."""

from __future__ import annotations

# The VidRD files under the weights folder: SD 2.1-base (diffusers layout), the release UNet checkpoint, the
# fine-tuned temporal VAE. The loader opens them (generator.components); the registry lists them (weights --check).
VIDRD_FILES = SD_NAME, UNET_CKPT_NAME, TEMPORAL_VAE_NAME = ("stable-diffusion-2-1-base", "ModelT2V.pth",
                                                           "vae_finetuned")

SD21_BASE_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "attention_head_dim": [5, 10, 20, 20],
    "cross_attention_dim": 1024,
    "use_linear_projection": True,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "act_fn": "silu",
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
}

SD21_BASE_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
    "act_fn": "silu",
}

SD21_BASE_TEXT = {
    "vocab_size": 49408,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_attention_heads": 16,
    "num_hidden_layers": 23,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "projection_dim": 512,
    "bos_token_id": 49406,
    "eos_token_id": 49407,
    "pad_token_id": 1,
}

SD21_BASE_SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
}

VIDRD_TEMPORAL = {"add_temp_embed": True, "add_temp_conv": True, "temp_attn_head_dim": 64, "temp_dropout": 0.1}

TINY_UNET = {
    **SD21_BASE_UNET,
    "sample_size": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [32, 64],
    "attention_head_dim": [2, 4],
    "cross_attention_dim": 32,
    "norm_num_groups": 8,
}

TINY_VAE = {
    **SD21_BASE_VAE,
    "block_out_channels": [8, 8, 16, 16],
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "sample_size": 32,
}

TINY_TEXT = {
    **SD21_BASE_TEXT,
    "vocab_size": 514,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "projection_dim": 32,
    "bos_token_id": 512,
    "eos_token_id": 513,
    "pad_token_id": 0,
}

TINY_TEMPORAL = {**VIDRD_TEMPORAL, "temp_attn_head_dim": 16}

PRESETS = {
    "full": {"unet": SD21_BASE_UNET, "vae": SD21_BASE_VAE, "text": SD21_BASE_TEXT,
             "scheduler": SD21_BASE_SCHEDULER, "temporal": VIDRD_TEMPORAL},
    "tiny": {"unet": TINY_UNET, "vae": TINY_VAE, "text": TINY_TEXT,
             "scheduler": SD21_BASE_SCHEDULER, "temporal": TINY_TEMPORAL},
}

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
