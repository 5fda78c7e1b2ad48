"""Model configurations in one place: the full SD 2.1-base / VidRD sizes and the tiny ones tests and smoke share."""

from __future__ import annotations

from vidrd_bench.core.weights import WEIGHT_FILES, WeightFile

# The VidRD files under the weights folder: SD 2.1-base (diffusers layout), the release UNet checkpoint, the
# fine-tuned temporal VAE. The loader opens them (components); `vidrd-bench weights --check` lists them.
VIDRD_FILES = SD_NAME, UNET_CKPT_NAME, TEMPORAL_VAE_NAME = ("stable-diffusion-2-1-base", "ModelT2V.pth",
                                                           "vae_finetuned")

# What each of them is and where users obtain it (`vidrd-bench weights` shows these).
for _file in (
    WeightFile(
        "stable-diffusion-2-1-base",
        "Stable Diffusion 2.1-base in diffusers folder layout (unet, vae, text_encoder, tokenizer, scheduler)",
        "Hugging Face stabilityai/stable-diffusion-2-1-base (or any mirror of it); download the whole folder",
        "folder with model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/",
        is_dir=True,
        required_members=("unet/config.json", "vae/config.json", "text_encoder/config.json",
                          "tokenizer/vocab.json", "tokenizer/merges.txt", "scheduler/scheduler_config.json"),
    ),
    WeightFile(
        "ModelT2V.pth",
        "VidRD video UNet (PyTorch Lightning checkpoint)",
        "the authors' README (github.com/anonymous0x233/ReuseAndDiffuse), Google Drive link 'VidRD LDM model'",
        "torch pickle with 'state_dict': keys 'unet.*' in the diffusers 0.14 module tree "
        "(plus temp_convs.* and transformer_blocks.0.temp_attn.*), possibly 'text_encoder.*' and 'vae.*'",
    ),
    WeightFile(
        "vae_finetuned",
        "VidRD temporal VAE (fine-tuned decoder with temporal convs)",
        "the authors' README (github.com/anonymous0x233/ReuseAndDiffuse), Google Drive link 'VidRD Fine-tuned VAE'",
        "folder with diffusion_pytorch_model.bin (state dict, decoder.up_blocks.<b>.temp_convs.*) and config.json",
        is_dir=True,
        required_members=("diffusion_pytorch_model.bin", "config.json"),
        optional=True,
    ),
):
    WEIGHT_FILES.register(_file.name, _file)

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
