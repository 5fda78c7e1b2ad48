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
"""

from __future__ import annotations

from vidrd_bench.models.vidrd.configs import SD21_BASE_SCHEDULER, SD21_BASE_TEXT, SD21_BASE_VAE, TINY_TEXT

# The byte-level CLIP tokenizer's special ids (generators.tiny): the full-width encoder over its small vocabulary.
FULL_CLIP_TEXT = {**SD21_BASE_TEXT, **{k: TINY_TEXT[k] for k in ("vocab_size", "bos_token_id", "eos_token_id",
                                                                 "pad_token_id")}}

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
}
