"""Configurations of the tiny random diffusers pipelines each diffusers adapter builds in code (tests, smoke runs,
`generators --save-tiny`); sizes follow diffusers' own fast tests of that pipeline."""

from __future__ import annotations

from vidrd_bench.models.vidrd.configs import SD21_BASE_SCHEDULER, SD21_BASE_VAE

# Tiny random diffusers text-to-video pipelines for the adapters' tests, smoke runs and `generators --save-tiny`;
# sizes follow diffusers' own fast tests (huggingface/diffusers tests/pipelines/<pipeline>/test_*.py,
# get_dummy_components; file and line cited per entry below), with 8x-down VAEs so that 32x32 frames denoise on 4x4
# latents on the CPU. Text encoders are tiny T5/UMT5/Llama/CLIP models over byte-level vocabularies (generators.tiny).
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

# The tiny T5 / UMT5 text encoders: hf-internal-testing/tiny-random-t5's sizes (d_model 32, 4 heads, d_ff 37), 2 layers.
TINY_T5 = {
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 37,
    "num_layers": 2,
    "num_heads": 4,
    "relative_attention_num_buckets": 8,
    "decoder_start_token_id": 0,
    "pad_token_id": 0,
    "eos_token_id": 1,
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
        "text_encoder": TINY_T5,
        "scheduler": TINY_T2V_SCHEDULER,
    },
    # tests/pipelines/wan/test_wan.py lines 37-79: VAE base_dim 3, z_dim 16, 3 downsamples (8x space, 4x time);
    # transformer 2 heads x 12, text_dim 32, ffn 32, 2 layers, FlowMatchEuler shift 7. UMT5 text encoder (WanPipeline's).
    "wan": {
        "transformer": {
            "patch_size": [1, 2, 2],
            "num_attention_heads": 2,
            "attention_head_dim": 12,
            "in_channels": 16,
            "out_channels": 16,
            "text_dim": 32,
            "freq_dim": 256,
            "ffn_dim": 32,
            "num_layers": 2,
            "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads",
            "rope_max_seq_len": 32,
        },
        "vae": {"base_dim": 3, "z_dim": 16, "dim_mult": [1, 1, 1, 1], "num_res_blocks": 1,
                "temperal_downsample": [False, True, True]},
        "text_encoder": TINY_T5,
        "scheduler": {"shift": 7.0},
    },
    # tests/pipelines/ltx/test_ltx.py lines 52-104: 4 heads x 8, 1 layer, caption 32; VAE 8 channels, two
    # spatio-temporal downsamples (4x space, 4x time: a tiny LTX renders 1 + 4k frames, the real one 1 + 8k).
    "ltx": {
        "transformer": {
            "in_channels": 8,
            "out_channels": 8,
            "patch_size": 1,
            "patch_size_t": 1,
            "num_attention_heads": 4,
            "attention_head_dim": 8,
            "cross_attention_dim": 32,
            "num_layers": 1,
            "caption_channels": 32,
        },
        "vae": {
            "in_channels": 3,
            "out_channels": 3,
            "latent_channels": 8,
            "block_out_channels": [8, 8, 8, 8],
            "decoder_block_out_channels": [8, 8, 8, 8],
            "layers_per_block": [1, 1, 1, 1, 1],
            "decoder_layers_per_block": [1, 1, 1, 1, 1],
            "spatio_temporal_scaling": [True, True, False, False],
            "decoder_spatio_temporal_scaling": [True, True, False, False],
            "decoder_inject_noise": [False, False, False, False, False],
            "upsample_residual": [False, False, False, False],
            "upsample_factor": [1, 1, 1, 1],
            "timestep_conditioning": False,
            "patch_size": 1,
            "patch_size_t": 1,
            "encoder_causal": True,
            "decoder_causal": False,
        },
        "text_encoder": TINY_T5,
        "scheduler": {},
    },
    # tests/pipelines/hunyuan_video/test_hunyuan_video.py lines 79-171: transformer 2 heads x 10, 1 + 1 single
    # layers, 1 refiner layer, text_embed_dim 16, rope (2, 4, 4); VAE 8 channels, 8x space, 4x time; Llama hidden 16.
    # Here the Llama has 3 layers (the pipeline reads the hidden state 2 layers from the top, so one layer runs) and
    # the pooled CLIP projection is the shared tiny CLIP's width (32).
    "hunyuanvideo": {
        "transformer": {
            "in_channels": 4,
            "out_channels": 4,
            "num_attention_heads": 2,
            "attention_head_dim": 10,
            "num_layers": 1,
            "num_single_layers": 1,
            "num_refiner_layers": 1,
            "patch_size": 1,
            "patch_size_t": 1,
            "guidance_embeds": True,
            "text_embed_dim": 16,
            "pooled_projection_dim": 32,
            "rope_axes_dim": [2, 4, 4],
        },
        "vae": {
            "in_channels": 3,
            "out_channels": 3,
            "latent_channels": 4,
            "down_block_types": ["HunyuanVideoDownBlock3D"] * 4,
            "up_block_types": ["HunyuanVideoUpBlock3D"] * 4,
            "block_out_channels": [8, 8, 8, 8],
            "layers_per_block": 1,
            "act_fn": "silu",
            "norm_num_groups": 4,
            "scaling_factor": 0.476986,
            "spatial_compression_ratio": 8,
            "temporal_compression_ratio": 4,
            "mid_block_add_attention": True,
        },
        "text_encoder": {
            "hidden_size": 16,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": 3,
            "hidden_act": "gelu",
            "rms_norm_eps": 1e-05,
            "max_position_embeddings": 1024,
        },
        "scheduler": {"shift": 7.0},
    },
    # tests/pipelines/mochi/test_mochi.py lines 63-103: transformer 2 heads x 8, 2 layers, pooled 16, text 32,
    # time 4; VAE 12 latent channels, 32-channel blocks, 8x space, 6x time (temporal_expansions 1, 2, 3).
    "mochi": {
        "transformer": {
            "patch_size": 2,
            "num_attention_heads": 2,
            "attention_head_dim": 8,
            "num_layers": 2,
            "pooled_projection_dim": 16,
            "in_channels": 12,
            "out_channels": None,
            "qk_norm": "rms_norm",
            "text_embed_dim": 32,
            "time_embed_dim": 4,
            "activation_fn": "swiglu",
            "max_sequence_length": 16,
        },
        "vae": {
            "latent_channels": 12,
            "out_channels": 3,
            "encoder_block_out_channels": [32, 32, 32, 32],
            "decoder_block_out_channels": [32, 32, 32, 32],
            "layers_per_block": [1, 1, 1, 1, 1],
        },
        "text_encoder": TINY_T5,
        "scheduler": {},
    },
    # tests/pipelines/latte/test_latte.py lines 89-124: 3 heads x 8, 1 layer, patch 2, caption 32, cross-attention
    # 24, learned sigma (out 8), ada_norm_single; here on the shared 8x-down tiny VAE (latent 4x4 for 32x32 frames).
    "latte": {
        "transformer": {
            "sample_size": 4,
            "num_layers": 1,
            "patch_size": 2,
            "attention_head_dim": 8,
            "num_attention_heads": 3,
            "caption_channels": 32,
            "in_channels": 4,
            "cross_attention_dim": 24,
            "out_channels": 8,
            "attention_bias": True,
            "activation_fn": "gelu-approximate",
            "num_embeds_ada_norm": 1000,
            "norm_type": "ada_norm_single",
            "norm_elementwise_affine": False,
            "norm_eps": 1e-6,
        },
        "vae": TINY_T2V_VAE, "text_encoder": TINY_T5, "scheduler": TINY_T2V_SCHEDULER,
    },
}
