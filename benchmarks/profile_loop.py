"""Where does a compiled whole-video batch spend its time? Sustained UNet calls vs the sampler vs the pipeline."""

from __future__ import annotations

import dataclasses
import os

import torch
from torch.profiler import ProfilerActivity, profile

from vidrd_bench.core.timing import timed_call
from vidrd_bench.models.vidrd.pipeline import VidRDPipeline
from vidrd_bench.models.vidrd.sampler import IterativeSampler, draw_noise, make_generators
from vidrd_bench.models.vidrd.settings import VIDRD_SETTINGS


def timed(label: str, fn) -> float:
    """Seconds of one call of fn() by the shared timing rule (vidrd_bench.core.timing), printed."""
    dt = timed_call(fn, torch.device("cuda"))[1] / 1e3
    print(f"{label}: {dt:.2f} s", flush=True)
    return dt


def main() -> None:
    """Compile once, then time sustained calls, the sampler and the pipeline; profile one clip."""
    b = int(os.environ.get("BATCH", "8"))
    protocol = VIDRD_SETTINGS.get("vidrd")
    pipe = VidRDPipeline.from_preset("full-random", device="cuda", compile=True)
    unet = pipe.unet
    x = torch.randn(2 * b, 4, 8, 32, 32, device="cuda", dtype=torch.bfloat16)
    ctx = torch.randn(2 * b, 77, 1024, device="cuda", dtype=torch.bfloat16)
    ts = pipe.scheduler.timesteps.to("cuda") if len(pipe.scheduler.timesteps) else torch.arange(50, device="cuda")
    with torch.no_grad():
        timed("compile (first call)", lambda: unet(x, ts[0], ctx))
        timed("150 sustained UNet calls, same t", lambda: [unet(x, ts[0], ctx) for _ in range(150)])
        tt = torch.arange(999, 0, -20, device="cuda")
        timed("150 sustained UNet calls, t = tensor views", lambda: [unet(x, tt[i % 50], ctx) for i in range(150)])
        cond, uncond = pipe.encode_prompts([f"prompt {i}" for i in range(b)], "watermark")
        noise = draw_noise(make_generators(list(range(b))), protocol, (32, 32), 4).to("cuda")
        sampler = IterativeSampler(unet, pipe.scheduler, protocol, model_dtype=torch.bfloat16)
        timed("sampler, 3 clips x 50 steps", lambda: sampler(cond, uncond, noise))
        timed("pipeline, whole videos", lambda: pipe([f"prompt {i}" for i in range(b)], list(range(b)), protocol))
        one = dataclasses.replace(protocol, num_clips=1, num_inference_steps=10)
        s1 = IterativeSampler(unet, pipe.scheduler, one, model_dtype=torch.bfloat16)
        n1 = draw_noise(make_generators(list(range(b))), one, (32, 32), 4).to("cuda")
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            s1(cond, uncond, n1)
            torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=25, max_name_column_width=60))
    print(torch._dynamo.utils.counters["stats"], dict(torch._dynamo.utils.counters["recompiles"]))


if __name__ == "__main__":
    main()
