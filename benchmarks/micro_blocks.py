"""Time whole compiled UNet down blocks (ResNet + Temp-Conv + transformer with Temp-Attn) at 16 guided videos per
call (32 clips x 8 frames), to measure a change where it meets the fusions it meets inside the UNet.

Variants: `old` (the frame embedding traced as arithmetic, which Inductor recomputed, exp/sin/cos per element, in
Temp-Attn's LayerNorm kernel), `pe` (the embedding a graph constant, `temporal.frame_position_embedding`, the
default). Prints ms and the error against the block in float32; writes micro_blocks.json to --out.
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from micro_kernels import time_ms  # the same timing rule as the kernel micro-benchmarks (CUDA events)
from vidrd_bench.models.vidrd import temporal
from vidrd_bench.models.vidrd.norm import use_channel_stats_norms
from vidrd_bench.models.vidrd.unet3d import DownBlock3D, LayerSpec, conv_weights_channels_last

# (in channels, out channels, side, heads or None) of SD 2.1's four down blocks at 256x256
BLOCKS = ((320, 320, 32, 5), (320, 640, 16, 10), (640, 1280, 8, 20), (1280, 1280, 4, None))
SPEC = LayerSpec(32, 1e-5, "silu", 1024, True, False, True, True, 64, 0.1)
CLIPS, FRAMES = 32, 8


def build(level: int) -> tuple[DownBlock3D, tuple]:
    """Down block `level` in bf16, channels-last, random weights (temporal outputs not zero), and its inputs."""
    cin, cout, side, heads = BLOCKS[level]
    torch.manual_seed(level)
    block = DownBlock3D(SPEC, cin, cout, 1280, 2, heads, level < 3, 1).cuda().eval()
    for p in block.parameters():
        if p.ndim > 1:
            torch.nn.init.normal_(p, std=0.02)
    use_channel_stats_norms(block)
    conv_weights_channels_last(block, True)
    x = torch.randn(CLIPS, cin, FRAMES, side, side, device="cuda").contiguous(memory_format=torch.channels_last_3d)
    temb = torch.randn(CLIPS, 1280, device="cuda")
    ctx = torch.randn(CLIPS, 77, 1024, device="cuda")
    return block, (x, temb, ctx)


def set_variant(variant: str) -> None:
    """The frame embedding a compile-time constant (`pe`) or traced (`old`)."""
    temporal.frame_position_embedding._dynamo_marked_constant = variant == "pe"


def run_level(level: int, variants: list[str]) -> dict:
    """Compile and time every variant of one block; error of each vs the float32 eager block."""
    block, inputs = build(level)
    with torch.no_grad():
        ref = block(*inputs)[0].float()
    block = block.to(torch.bfloat16)
    low = tuple(t.to(torch.bfloat16) for t in inputs)
    row = {}
    for variant in variants:
        torch._dynamo.reset()
        set_variant(variant)
        fn = torch.compile(block, fullgraph=True, dynamic=False)
        with torch.no_grad():
            out = fn(*low)[0].float()
        row[f"{variant}_ms"] = ms = time_ms(lambda: fn(*low))
        row[f"{variant}_err"] = err = float((out - ref).norm() / ref.norm())
        print(f"down block {level} {variant:4s} {ms:8.3f} ms  rel err vs fp32 {err:.1e}", flush=True)
    return row


def main() -> None:
    """Every level, every variant; the JSON after each level."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--levels", default="0,1,2")
    ap.add_argument("--variants", default="old,pe")
    args = ap.parse_args()
    res = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    for level in map(int, args.levels.split(",")):
        res[f"down{level}"] = run_level(level, args.variants.split(","))
        with open(os.path.join(args.out, "micro_blocks.json"), "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
