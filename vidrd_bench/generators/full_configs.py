"""Full-size configurations of the diffusers pipelines that `bench --preset full-random` and
benchmarks/diffusers_peer.py build with random weights (timing only: nothing is downloaded, no score is real).

Sizes are the public models' own, written out here:
- modelscope (damo-vilab/text-to-video-ms-1.7b): UNet3DConditionModel with diffusers' defaults, which are that
  model's unet/config.json (block_out_channels 320/640/1280/1280, cross_attention_dim 1024, attention_head_dim 64,
  2 layers per block; diffusers src/diffusers/models/unets/unet_3d_condition.py, __init__ defaults; 1.41 B
  parameters), plus its sample_size 32 (diffusers' default is None): TextToVideoSDPipeline renders
  sample_size x 8 = 256 px when no size is given, the model card's 256x256; the SD 2.x VAE and the 23-layer
  OpenCLIP-H text encoder of Stable Diffusion 2.1, DDIM.
- wan (Wan-AI/Wan2.1-T2V-1.3B-Diffusers): WanTransformer3DModel dim 1536 (12 heads x 128), ffn 8960, 30 layers,
  patch (1, 2, 2), freq_dim 256, text_dim 4096, qk_norm across heads, cross-attention norm (the Wan 2.1 release's
  wan/configs/wan_t2v_1_3B.py); AutoencoderKLWan with diffusers' defaults (base_dim 96, z_dim 16, 4x time, 8x space:
  the Wan 2.1 VAE); a UMT5-XXL-sized encoder (d_model 4096, 24 layers, 64 heads x 64, d_ff 10240, gated GELU) over
  the byte-level vocabulary; UniPC with flow_shift 3.0 (the 1.3B model card's 480p setting).
- animatediff (runwayml/stable-diffusion-v1-5 + guoyww/animatediff-motion-adapter-v1-5-2): SD 1.5's
  UNet2DConditionModel (diffusers' defaults but cross_attention_dim 768 and sample_size 64), MotionAdapter with
  diffusers' defaults (the v1-5-2 adapter: 2 motion layers per block, a motion mid block, 32 positions), the SD VAE,
  CLIP ViT-L/14's text encoder (768 wide, 12 layers, quick GELU).
- cogvideox (THUDM/CogVideoX-2b), ltx (Lightricks/LTX-Video 0.9.0), hunyuanvideo
  (hunyuanvideo-community/HunyuanVideo), mochi (genmo/mochi-1-preview): the denoiser and VAE classes' own
  defaults, which diffusers wrote as those checkpoints' configs (src/diffusers/models/transformers/ and
  autoencoders/, __init__ defaults); T5 v1.1 XXL's encoder (CogVideoX, LTX-Video, Mochi); HunyuanVideo's
  Llama-3-8B-sized text model (4096 wide, 32 layers, 32 heads over 8 key/value heads, MLP 14336) and CLIP ViT-L/14.
- latte (maxin-cn/Latte-1): LatteTransformer3DModel 16 heads x 72 (1152 wide), 28 layers, patch 2, 4 latent
  channels in and 8 out (learned sigma), cross-attention 1152, T5 captions (4096), adaLN-single, 16 frames; the SD
  VAE; T5 v1.1 XXL's encoder.
Text encoders use the byte-level vocabularies of generators.tiny (a few hundred tokens instead of 32-256 K): the
embedding table is smaller, every layer the same size.
"""

from __future__ import annotations

from vidrd_bench.models.vidrd.configs import SD21_BASE_SCHEDULER, SD21_BASE_TEXT, SD21_BASE_VAE, TINY_TEXT

# The byte-level CLIP tokenizer's special ids (generators.tiny): the full-width encoder over its small vocabulary.
FULL_CLIP_TEXT = {**SD21_BASE_TEXT, **{k: TINY_TEXT[k] for k in ("vocab_size", "bos_token_id", "eos_token_id",
                                                                 "pad_token_id")}}

# T5 v1.1 XXL's encoder (google/t5-v1_1-xxl config.json), as CogVideoX, LTX-Video, Mochi and Latte load it.
FULL_T5_XXL = {"d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
               "feed_forward_proj": "gated-gelu", "relative_attention_num_buckets": 32,
               "relative_attention_max_distance": 128, "decoder_start_token_id": 0, "pad_token_id": 0,
               "eos_token_id": 1}

# CLIP ViT-L/14's text encoder (openai/clip-vit-large-patch14), SD 1.5's and HunyuanVideo's second encoder.
FULL_CLIP_L_TEXT = {**FULL_CLIP_TEXT, "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
                    "num_hidden_layers": 12, "hidden_act": "quick_gelu", "projection_dim": 768}

FULL_T2V = {
    "modelscope": {"unet": {"sample_size": 32}, "vae": SD21_BASE_VAE, "scheduler": SD21_BASE_SCHEDULER,
                   "text_encoder": FULL_CLIP_TEXT},
    "wan": {
        "transformer": {
            "patch_size": [1, 2, 2],
            "num_attention_heads": 12,
            "attention_head_dim": 128,
            "in_channels": 16,
            "out_channels": 16,
            "text_dim": 4096,
            "freq_dim": 256,
            "ffn_dim": 8960,
            "num_layers": 30,
            "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads",
            "eps": 1e-6,
        },
        "vae": {},
        "text_encoder": {"d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
                         "feed_forward_proj": "gated-gelu", "decoder_start_token_id": 0, "pad_token_id": 0,
                         "eos_token_id": 1},
        "scheduler": {"class": "UniPCMultistepScheduler", "prediction_type": "flow_prediction",
                      "use_flow_sigmas": True, "num_train_timesteps": 1000, "flow_shift": 3.0},
    },
    "animatediff": {"unet": {"cross_attention_dim": 768, "sample_size": 64}, "motion_adapter": {},
                    "vae": SD21_BASE_VAE, "scheduler": SD21_BASE_SCHEDULER, "text_encoder": FULL_CLIP_L_TEXT},
    "cogvideox": {"transformer": {}, "vae": {}, "text_encoder": FULL_T5_XXL, "scheduler": SD21_BASE_SCHEDULER},
    "ltx": {"transformer": {}, "vae": {}, "text_encoder": FULL_T5_XXL, "scheduler": {}},
    "hunyuanvideo": {
        "transformer": {}, "vae": {},
        "text_encoder": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                         "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_act": "silu",
                         "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 8192},
        "text_encoder_2": FULL_CLIP_L_TEXT, "scheduler": {"shift": 7.0},
    },
    "mochi": {"transformer": {}, "vae": {}, "text_encoder": FULL_T5_XXL, "scheduler": {}},
    "latte": {
        "transformer": {"num_attention_heads": 16, "attention_head_dim": 72, "in_channels": 4, "out_channels": 8,
                        "num_layers": 28, "cross_attention_dim": 1152, "attention_bias": True, "sample_size": 64,
                        "patch_size": 2, "activation_fn": "gelu-approximate", "num_embeds_ada_norm": 1000,
                        "norm_type": "ada_norm_single", "norm_elementwise_affine": False, "norm_eps": 1e-6,
                        "caption_channels": 4096, "video_length": 16},
        "vae": SD21_BASE_VAE, "text_encoder": FULL_T5_XXL, "scheduler": SD21_BASE_SCHEDULER,
    },
}
