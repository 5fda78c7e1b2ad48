"""ModelScope's SD VAE decode on the GPU (compiled decoder, bf16, random weights at full size): one video's 16 frames,
eight videos' 128 frames in 16-frame chunks (FrameChunks, as generate runs it), and the 128 in one call; prints."""

import torch
from diffusers import AutoencoderKL

from vidrd_bench.core.timing import time_ms
from vidrd_bench.generators.diffusers_speed import FrameChunks
from vidrd_bench.models.vidrd.configs import SD21_BASE_VAE


def main() -> None:
    """Time each form of the decode (CUDA-event-synchronised wall clock, median of 10 after 2)."""
    dev = torch.device("cuda")
    config = {k: v for k, v in SD21_BASE_VAE.items() if not k.startswith("_")}
    vae = AutoencoderKL(**config).to(dev, torch.bfloat16).eval()
    vae.decoder.compile(dynamic=False)
    z16, z128 = (torch.randn(n, 4, 32, 32, device=dev, dtype=torch.bfloat16) for n in (16, 128))
    inner = vae.decoder
    with torch.no_grad():
        print("16 frames", time_ms(lambda: vae.decode(z16), dev, iters=10))
        vae.decoder = FrameChunks(inner, 16)
        print("128 chunked", time_ms(lambda: vae.decode(z128), dev, iters=10))
        print("8 x 16 contiguous", time_ms(lambda: [vae.decode(z16) for _ in range(8)], dev, iters=10))
        chunks = lambda: [inner(c.clone()) for c in vae.post_quant_conv(z128).split(16)]  # noqa: E731
        print("128 chunks cloned", time_ms(chunks, dev, iters=10))
        torch._dynamo.reset()
        vae.decoder = inner
        print("128 whole (recompiled)", time_ms(lambda: vae.decode(z128), dev, iters=10))


if __name__ == "__main__":
    main()
