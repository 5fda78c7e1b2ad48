"""GPU check: the fast path (bf16, channels-last, torch.compile) against the plain fp32 path, full-size model."""

from __future__ import annotations

import argparse
import copy

import torch

from vidrd_bench.models.vidrd.components import build_components
from vidrd_bench.models.vidrd.pipeline import VAE_CHUNK_FRAMES, VidRDPipeline, to_uint8
from vidrd_bench.models.vidrd.settings import VIDRD_SETTINGS


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| in float64."""
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm())


def check_vae(vae32: torch.nn.Module) -> None:
    """The temporal VAE decode of 2 videos' clips: bf16 eager and bf16 compiled against fp32 eager."""
    z = torch.randn(6, 4, 8, 32, 32, device="cuda", generator=torch.Generator("cuda").manual_seed(2))
    vae16 = copy.deepcopy(vae32).to(torch.bfloat16)
    with torch.no_grad():
        ref = vae32.decode_video(z, chunk_frames=VAE_CHUNK_FRAMES)
        eager = vae16.decode_video(z, chunk_frames=VAE_CHUNK_FRAMES)
        vae16.compile_decoder()
        compiled = vae16.decode_video(z, chunk_frames=VAE_CHUNK_FRAMES)
    for name, out in (("bf16 eager", eager), ("bf16 compiled", compiled)):
        diff = (to_uint8(out).int() - to_uint8(ref).int()).abs().float()
        print(f"VAE decode, {name} vs fp32: rel err {rel(out.float(), ref):.2e}; uint8 mean |diff| "
              f"{diff.mean():.2f} levels, 99th pct {diff.flatten().quantile(0.99):.0f}, max {diff.max():.0f}",
              flush=True)


def main() -> None:
    """Relative error of one UNet call per variant, then whole videos fp32-eager vs bf16-compiled."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--vae-only", action="store_true", help="only the VAE decode check")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    comps = build_components("full-random", device="cuda", dtype=torch.float32)
    check_vae(comps.vae)
    if args.vae_only:
        return
    unet32 = comps.unet.eval()
    unet16 = copy.deepcopy(unet32).to(torch.bfloat16)
    g = torch.Generator("cuda").manual_seed(1)
    x = torch.randn(4, 4, 8, 32, 32, device="cuda", generator=g)
    ctx = torch.randn(4, 77, 1024, device="cuda", generator=g)
    t = torch.tensor(601, device="cuda")
    with torch.no_grad():
        ref = unet32(x, t, ctx)
        out = {"bf16 eager": unet16(x.bfloat16(), t, ctx.bfloat16())}
        unet16.set_channels_last(True)
        out["bf16 channels-last"] = unet16(x.bfloat16(), t, ctx.bfloat16())
        compiled = torch.compile(unet16, fullgraph=True, dynamic=False)
        out["bf16 channels-last compiled"] = compiled(x.bfloat16(), t, ctx.bfloat16())
    for name, o in out.items():
        print(f"UNet call, {name} vs fp32: rel err {rel(o.float(), ref):.2e}", flush=True)
    protocol = VIDRD_SETTINGS.get("vidrd")
    prompts, seeds = ["a man rowing a boat on a lake", "a girl juggling balls in a park"], [3, 4]
    plain = VidRDPipeline(comps)(prompts, seeds, protocol, return_latents=True)
    fast_comps = copy.copy(comps)
    fast_comps.unet = compiled
    fast_comps.vae = copy.deepcopy(comps.vae).to(torch.bfloat16)
    fast_comps.vae.compile_decoder()
    fast = VidRDPipeline(fast_comps)(prompts, seeds, protocol, return_latents=True)
    diff = (fast.videos.int() - plain.videos.int()).abs().float()
    print(f"whole videos (3 clips x 50 steps): latents rel err {rel(fast.latents, plain.latents):.2e}; uint8 frames "
          f"mean |diff| {diff.mean():.2f} levels, 99th pct {diff.flatten().quantile(0.99):.0f}", flush=True)


if __name__ == "__main__":
    main()
