"""GPU check of the fp8-e4m3 precision (issue 17): full-random UNet, bf16 compiled vs fp8 compiled, one call.

The fp8 UNet is converted and calibrated (static activation scales, generator.fp8_calibration) before compiling,
as `generate` builds it; "layers" in the JSON holds the counts and the calibration record.

On an H100/H200 from the checkout (after `bash benchmarks/device_setup.sh`, with its PYTHONPATH):
  python3 benchmarks/check_fp8.py --out $OUT
Steps, each recorded in $OUT/check_fp8.json as soon as it finishes (an error is recorded and the next step runs):
  1. probe: one Fp8Linear through tensor-wise torch._scaled_mm (eager and compiled) against its float32 emulation
     with the same static scales;
  2. one guided UNet call of 16 videos (the pipeline's own first call), bf16 vs fp8, both torch.compile + CUDA graph
     as `generate` runs them: ms per call (median of 10) and the ratio;
  3. the same 16 whole videos through both compiled UNets (eager VAE): s per video and uint8 agreement (all 16 and
     the first 2);
  4. the agreement `generate --precision fp8-e4m3` records (eager, batch 2, VidRDPipeline.precision_agreement).
Before 2, "feed_forward": LayerNorm -> GEGLU feed-forward alone at each level's size, compiled bf16 vs fp8 (ms, error,
the fp8 one's Triton kernel names: are the casts fused?); --ff-only stops after it (minutes, no UNet compile).
--dry-run runs the same steps on the CPU with the tiny preset, fp8 emulated and no compile (tests/benchmarks).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import time
import traceback
from pathlib import Path

import torch

from vidrd_bench.core.timing import time_ms, timed_call
from vidrd_bench.runners.bench import bench_prompts, first_denoiser_call
from vidrd_bench.models.vidrd import fp8
from vidrd_bench.models.vidrd.components import build_components
from vidrd_bench.models.vidrd.fp8_calibration import calibrate_inputs, use_fp8
from vidrd_bench.models.vidrd.graphs import GraphedDenoiser
from vidrd_bench.models.vidrd.pipeline import VidRDPipeline
from vidrd_bench.models.vidrd.settings import VIDRD_SETTINGS
from vidrd_bench.generators.vidrd import VidRDGenerator
from vidrd_bench.precisions import video_agreement
from vidrd_bench.results import provenance


class Report:
    """The JSON result, rewritten after every step; a failing step records its traceback and the run goes on."""

    def __init__(self, path: Path) -> None:
        self.path, self.data = path, {"errors": {}}

    def step(self, name: str, fn) -> object:
        """Run one step, record its result (or traceback) under `name`, print it and save the JSON."""
        start = time.perf_counter()
        try:
            self.data[name] = fn()
        except Exception:  # one shot on the device: keep going, say what failed
            self.data["errors"][name] = traceback.format_exc()[-3000:]
            print(self.data["errors"][name], flush=True)
        print(f"[{time.perf_counter() - start:.0f} s] {name}: {json.dumps(self.data.get(name))[:600]}", flush=True)
        self.path.write_text(json.dumps(self.data, indent=1, default=str))
        return self.data.get(name)


def probe() -> dict:
    """One linear (bias, 3-D input) through tensor-wise _scaled_mm vs the emulation with the same static scales
    (calibrated on this input with fp8.HEADROOM); retries with the bias outside the GEMM."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(320, 1280, device="cuda", dtype=torch.bfloat16)
    x = torch.randn(4, 1024, 320, device="cuda", dtype=torch.bfloat16)
    real, emulated = fp8.Fp8Linear.from_linear(lin), fp8.Fp8Linear.from_linear(lin, emulate=True)
    for layer in (real, emulated):
        layer.set_input_range(float(x.abs().amax()) * fp8.HEADROOM)
    out = {"input_scale": float(real.input_scale), "weight_scale": float(real.weight_scale)}
    for bias_in_gemm in (True, False):
        fp8.BIAS_IN_GEMM = bias_in_gemm
        try:
            with torch.no_grad():
                got, ref, exact = real(x).float(), emulated(x).float(), lin(x).float()
                compiled = torch.compile(real, fullgraph=True)(x).float()
        except Exception as e:  # noqa: BLE001 (a refused kernel or a compile error: try the other way)
            out[f"bias_in_gemm={bias_in_gemm}"] = str(e)[:500]
            continue
        rel = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
        out.update(bias_in_gemm=bias_in_gemm, rel_vs_emulation=rel(got, ref),
                   compiled_rel_vs_emulation=rel(compiled, ref), rel_vs_bf16_linear=rel(got, exact))
        return out
    raise RuntimeError(f"_scaled_mm failed both ways: {out}")


# (tokens, channels) of the transformers' feed-forward in one guided call of 16 videos (8 frames, 256x256), per level
FF_LEVELS = ((262144, 320), (65536, 640), (16384, 1280), (4096, 1280))


def fp8_feed_forward(block: torch.nn.Sequential, x: torch.Tensor, emulate: bool) -> torch.nn.Sequential:
    """A copy of LayerNorm -> FeedForward with both GEMMs as Fp8Linear, input ranges calibrated on x (x HEADROOM)."""
    new = copy.deepcopy(block)
    ff = new[1]
    ff.net[0].proj = fp8.Fp8Linear.from_linear(ff.net[0].proj, emulate=emulate)
    ff.net[2] = fp8.Fp8Linear.from_linear(ff.net[2], emulate=emulate)
    calibrate_inputs(new, lambda: new(x))
    return new


def feed_forward(dev: torch.device, dry: bool) -> dict:
    """LayerNorm -> GEGLU feed-forward (a transformer's last sublayer) per UNet level, compiled, bf16 vs fp8: ms, the
    error, and the Triton kernels of the fp8 one (its casts should sit in the LayerNorm and GEGLU kernels)."""
    import re

    from diffusers.models.attention import FeedForward
    from torch._inductor.utils import run_and_get_code

    out = {}
    for m, c in ((64, 32),) if dry else FF_LEVELS:
        torch.manual_seed(0)
        dtype = torch.float32 if dry else torch.bfloat16
        block = torch.nn.Sequential(torch.nn.LayerNorm(c), FeedForward(c, activation_fn="geglu")).to(dev, dtype)
        x = torch.randn(m, c, device=dev, dtype=dtype)
        blocks = {"bf16": block, "fp8": fp8_feed_forward(block, x, emulate=dry)}
        compiled = {k: b if dry else torch.compile(b, fullgraph=True, dynamic=False) for k, b in blocks.items()}
        with torch.no_grad():
            ref = compiled["bf16"](x).float()
            got, codes = (compiled["fp8"](x), []) if dry else run_and_get_code(compiled["fp8"], x)
        row = {name: time_ms(lambda: f(x), dev, warmup=3, iters=2 if dry else 20)["ms"] for name, f in compiled.items()}
        row.update(rel_vs_bf16=float((got.float() - ref).norm() / ref.norm()),
                   fp8_kernels=re.findall(r"def (triton_\w+)\(", "\n".join(codes)))
        out[f"{m}x{c}"] = row
    return out


def main() -> None:
    """The steps on the GPU (or, --dry-run, on the CPU with the tiny preset)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny preset, fp8 emulated, no compile")
    ap.add_argument("--ff-only", action="store_true", help="only the probe and the feed-forward blocks (no UNet)")
    args = ap.parse_args()
    report = Report(Path(args.out) / "check_fp8.json")
    dry = args.dry_run
    dev = torch.device("cpu" if dry else "cuda")
    videos = 2 if dry else 16
    report.data.update(device="cpu" if dry else torch.cuda.get_device_name(dev), torch=torch.__version__,
                       capability=None if dry else torch.cuda.get_device_capability(dev), **provenance())
    if not dry:
        report.step("probe", probe)
    report.step("feed_forward", lambda: feed_forward(dev, dry))
    if args.ff_only:
        return
    comps = build_components("tiny" if dry else "full-random", device=dev, dtype=torch.float32 if dry else torch.bfloat16)
    comps.unet.set_channels_last(not dry)
    settings = VIDRD_SETTINGS.get("vidrd-tiny" if dry else "vidrd")
    fp8_unet = copy.deepcopy(comps.unet)
    layers, calibration = use_fp8(VidRDPipeline(dataclasses.replace(comps, unet=fp8_unet)), settings, emulate=dry)
    report.data["layers"] = {**layers, "calibration": calibration}
    compile_ = (lambda u: u) if dry else (lambda u: torch.compile(u, fullgraph=True, dynamic=False))
    unets = {name: GraphedDenoiser(compile_(u)) for name, u in (("bf16", comps.unet), ("fp8", fp8_unet))}
    pipes = {name: VidRDPipeline(dataclasses.replace(comps, unet=u)) for name, u in unets.items()}
    a, k = first_denoiser_call(VidRDGenerator(pipes["bf16"], "full-random"), settings, videos)

    def call_ms() -> dict:
        out = {name: time_ms(lambda: u(*a, **k), dev, warmup=3, iters=2 if dry else 10) for name, u in unets.items()}
        out["input"] = str(tuple(a[0].shape))
        out["fp8_speedup"] = round(out["bf16"]["ms"] / out["fp8"]["ms"], 3)
        return out

    report.step("unet_call", call_ms)
    prompts, seeds = bench_prompts(videos)

    def whole_videos() -> dict:
        out, secs = {}, {}
        for name, pipe in pipes.items():
            result, ms = timed_call(lambda p=pipe: p(prompts, seeds, settings), dev)
            out[name], secs[name] = result.videos, round(ms / 1e3 / videos, 4)
        return {"s_per_video_eager_vae": secs, "agreement_all": video_agreement(out["fp8"], out["bf16"]),
                "agreement_first_2": video_agreement(out["fp8"][:2], out["bf16"][:2])}

    report.step("whole_videos_compiled", whole_videos)
    pipes["fp8"].precision = "fp8-e4m3"
    report.step("recorded_agreement_eager_batch_2",
                lambda: pipes["fp8"].precision_agreement(prompts[:2], seeds[:2], settings))
    print(json.dumps(report.data, indent=1, default=str)[:4000], flush=True)


if __name__ == "__main__":
    main()
