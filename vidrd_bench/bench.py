"""`vidrd-bench bench`: time the generator, the detectors and video I/O at the protocol's sizes, with FLOP counts."""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from vidrd_bench.devices import pick_device
from vidrd_bench.generator.graphs import GraphedDenoiser
from vidrd_bench.protocols import PROTOCOLS, GenerationProtocol
from vidrd_bench.results import provenance

# Dense bf16 tensor-core rate each chip sustains on large matrix products (measured 769-798 TFLOP/s on H100/H200).
PEAK_BF16_TFLOPS = {"H100": 790.0, "H200": 790.0}
# Memory of common cards as nvidia-smi reports it (RTX 4090 / L4-class 24 GB; H100 80GB), for `memory_fit`.
CARD_MIB = {"24 GB": 24564, "80 GB": 81559}
NUM_VIDEOS = 10_000


def device_peak_tflops(device: torch.device) -> float | None:
    """The bf16 rate used for '% of peak', or None where no figure is known (CPU, other GPUs)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations of one call of `fn`, by torch's FLOP counter (matmuls, convs, attention)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def eager_module(module: torch.nn.Module) -> torch.nn.Module:
    """The plain module behind a torch.compile wrapper (FLOP counting must not disturb the compiled graph)."""
    return getattr(module, "_orig_mod", module)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], Any], device: torch.device, warmup: int = 2, iters: int = 5) -> dict[str, float]:
    """Median and spread of `fn`'s wall time in ms after warm-up, plus the first call's (compilation, autotuning)."""
    with torch.no_grad():
        start = time.perf_counter()
        fn()
        _sync(device)
        first = (time.perf_counter() - start) * 1e3
        for _ in range(warmup - 1):
            fn()
        _sync(device)
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append((time.perf_counter() - start) * 1e3)
    return {"ms": statistics.median(times), "ms_min": min(times), "ms_max": max(times), "iters": iters,
            "first_ms": first}


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory window on a GPU (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device, reserved: bool = False) -> float | None:
    """Peak GPU memory allocated (or reserved by the caching allocator) since the last reset, in GiB."""
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_reserved(device) if reserved else torch.cuda.max_memory_allocated(device)
    return round(peak / 2**30, 3)


@dataclasses.dataclass
class BenchRow:
    """One timed item: what, its shape, ms per call, FLOP, achieved rate and share of the chip's bf16 rate."""

    item: str
    shape: str
    ms: float
    videos: int = 1
    tflop: float | None = None
    tflops: float | None = None
    pct_peak: float | None = None
    per_video_s: float | None = None
    first_call_s: float | None = None
    peak_gib: float | None = None
    note: str = ""

    @classmethod
    def measure(cls, item: str, shape: str, fn: Callable[[], Any], device: torch.device, videos: int = 1,
                flops: Callable[[], Any] | None = None, iters: int = 5, warmup: int = 2,
                note: str = "") -> "BenchRow":
        """Time `fn`; count FLOP on `flops` (the same call on the eager module); `videos` = videos per call.

        peak_gib: the most GPU memory allocated while `fn` ran (weights and everything else resident included).
        """
        reset_peak_memory(device)
        t = time_ms(fn, device, warmup=warmup, iters=iters)
        row = cls(item, shape, round(t["ms"], 3), videos, note=note, per_video_s=round(t["ms"] / 1e3 / videos, 5),
                  first_call_s=round(t["first_ms"] / 1e3, 2), peak_gib=peak_memory_gib(device))
        if flops is not None:
            total = count_flops(flops)
            row.tflop = total / 1e12
            row.tflops = round(total / (t["ms"] / 1e3) / 1e12, 2)
            peak = device_peak_tflops(device)
            row.pct_peak = round(100 * row.tflops / peak, 1) if peak else None
        return row


def _video_rows(pipe, protocol: GenerationProtocol, batch: int, device: torch.device, iters: int) -> list[BenchRow]:
    """Whole-video timing through the pipeline (text, all clips' denoising, VAE decode, uint8)."""
    prompts = [f"a person doing action number {i} in a park, handheld camera" for i in range(batch)]
    seeds = list(range(batch))
    call = lambda: pipe(prompts=prompts, seeds=seeds, protocol=protocol)  # noqa: E731
    row = BenchRow.measure(
        "whole video (pipeline)", f"{batch} videos x {protocol.num_frames} frames {protocol.height}x{protocol.width}",
        call, device, videos=batch, iters=iters, warmup=1,
        note=f"{protocol.num_clips} clips x {protocol.num_inference_steps} steps, guidance {protocol.guidance_scale}",
    )
    return [row]


def _unet_rows(unet, protocol: GenerationProtocol, batch: int, dtype, device, latent_hw, text_dim, iters):
    """One guided UNet call (2B) on one clip of frames_per_clip frames."""
    n = protocol.frames_per_clip
    x = torch.randn(2 * batch, 4, n, *latent_hw, device=device, dtype=dtype)
    ctx = torch.randn(2 * batch, 77, text_dim, device=device, dtype=dtype)
    t = torch.tensor(500, device=device)
    eager = eager_module(unet)
    calls_per_video = protocol.num_clips * protocol.num_inference_steps
    variants = [("UNet call (guided pair)", unet)]
    if isinstance(unet, GraphedDenoiser):
        variants.append(("UNet call, no CUDA graph", unet.module))
    rows = []
    for item, module in variants:
        row = BenchRow.measure(item, f"2x{batch} x 4 x {n} x {latent_hw[0]}x{latent_hw[1]}",
                               lambda: module(x, t, ctx), device, videos=batch, iters=iters,
                               flops=lambda: eager(x, t, ctx))
        row.per_video_s = round(row.ms / 1e3 / batch * calls_per_video, 4)
        row.note = f"x {calls_per_video} calls per video"
        rows.append(row)
    return rows


def _vae_rows(vae, protocol: GenerationProtocol, batch: int, dtype, device, latent_hw, iters) -> list[BenchRow]:
    """Temporal-VAE decode of a batch's clips as the pipeline runs it (each clip alone, in chunks), per video."""
    from vidrd_bench.generator.pipeline import VAE_CHUNK_FRAMES

    c, n = protocol.num_clips, protocol.frames_per_clip
    z = torch.randn(batch * c, 4, n, *latent_hw, device=device, dtype=dtype)
    decode = lambda compiled: vae.decode_video(  # noqa: E731
        z, use_temporal=protocol.temporal_vae, chunk_frames=VAE_CHUNK_FRAMES, compiled=compiled)
    return [BenchRow.measure("VAE decode", f"{batch} videos x {c} clips x 4 x {n} x {latent_hw[0]}x{latent_hw[1]}",
                             lambda: decode(True), device, videos=batch, iters=iters, flops=lambda: decode(False),
                             note=f"{VAE_CHUNK_FRAMES} frames per decoder call")]


def _text_rows(text_encoder, device, iters) -> list[BenchRow]:
    """Text encoding of a batch of 2 distinct new prompts (the cache is bypassed by fresh strings)."""
    counter = iter(range(10**9))
    call = lambda: text_encoder.encode([f"prompt {next(counter)}", f"prompt {next(counter)}"])  # noqa: E731
    return [BenchRow.measure("text encoder", "2 prompts x 77 tokens", call, device, iters=iters,
                             note="once per distinct prompt (101 for UCF-101)")]


def _io_rows(protocol: GenerationProtocol, iters: int) -> list[BenchRow]:
    """mp4 encode (lossless libx264rgb) and decode of one assembled video on the CPU."""
    from vidrd_bench.datasets.video import read_video, write_video

    frames = np.random.default_rng(0).integers(0, 256, (protocol.num_frames, protocol.height, protocol.width, 3),
                                               dtype=np.uint8)
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "v.mp4"
        enc = BenchRow.measure("mp4 encode (CPU)", f"{protocol.num_frames} x {protocol.height}x{protocol.width}",
                               lambda: write_video(path, frames, protocol.fps), cpu, iters=iters)
        dec = BenchRow.measure("mp4 decode (CPU)", f"{protocol.num_frames} x {protocol.height}x{protocol.width}",
                               lambda: read_video(path), cpu, iters=iters)
    return [enc, dec]


def _memory_probe(unet, protocol: GenerationProtocol, sizes: tuple[int, ...], dtype, device, latent_hw,
                  text_dim) -> list[dict[str, Any]]:
    """Peak GPU memory of one eager guided UNet call per batch size (how activation memory grows per video)."""
    n, eager, points = protocol.frames_per_clip, eager_module(unet), []
    for b in sizes:
        x = torch.randn(2 * b, 4, n, *latent_hw, device=device, dtype=dtype)
        ctx = torch.randn(2 * b, 77, text_dim, device=device, dtype=dtype)
        reset_peak_memory(device)
        with torch.no_grad():
            eager(x, torch.tensor(500, device=device), ctx)
        points.append({"videos": b, "eager_unet_call_peak_gib": peak_memory_gib(device)})
        del x, ctx
        torch.cuda.empty_cache()
    return points


def memory_fit(points: list[dict[str, Any]], pipeline_videos: int, pipeline_reserved_gib: float,
               context_gib: float) -> dict[str, Any]:
    """Largest videos per call for common cards: the pipeline's measured reserved peak at `pipeline_videos`, plus
    the per-video growth of activation memory (least-squares slope of the eager probe), plus the CUDA context."""
    xs = np.array([p["videos"] for p in points], dtype=float)
    ys = np.array([p["eager_unet_call_peak_gib"] for p in points], dtype=float)
    slope = float(np.polyfit(xs, ys, 1)[0]) if len(points) > 1 else float("nan")
    fixed = pipeline_reserved_gib - slope * pipeline_videos + context_gib
    fits = {card: max(int((mib / 1024 - fixed) // slope), 0) if slope > 0 else None for card, mib in CARD_MIB.items()}
    return {"per_video_gib": round(slope, 4), "fixed_gib": round(fixed, 3), "context_gib": round(context_gib, 3),
            "max_videos_per_call": fits}


def _memory_section(comps, protocol, sizes, dtype, dev, latent_hw, text_dim, pipeline_peaks) -> dict[str, Any] | None:
    """Peak memory per batch size and the largest batch for 24 GB / 80 GB cards (GPU only)."""
    if dev.type != "cuda" or not sizes:
        return None
    points = _memory_probe(comps.unet, protocol, sizes, dtype, dev, latent_hw, text_dim)
    free, total = torch.cuda.mem_get_info(dev)
    context = (total - free - torch.cuda.memory_reserved(dev)) / 2**30
    videos = max(pipeline_peaks)
    return {"probe": points, "pipeline_reserved_peak_gib": pipeline_peaks,
            **memory_fit(points, videos, pipeline_peaks[videos], context)}


def run_bench(preset: str = "full-random", device: str | None = None, batch_sizes: tuple[int, ...] = (1, 8),
              compile: bool = False, iters: int = 5, protocol_name: str | None = None,
              detectors: bool = True, memory_batch_sizes: tuple[int, ...] = ()) -> dict[str, Any]:
    """Time every stage at the protocol's sizes and project the cost of the 10K-video UCF-101 set; on a GPU, peak
    memory per row and (memory_batch_sizes) per batch size, with the largest batch common cards hold."""
    from vidrd_bench.generator.pipeline import VidRDPipeline

    dev = pick_device(device)
    protocol = PROTOCOLS.get(protocol_name or ("tiny-smoke" if preset == "tiny" else "ucf101-vidrd"))
    pipe = VidRDPipeline.from_preset(preset, device=dev, temporal_vae=protocol.temporal_vae, compile=compile)
    comps = pipe.components
    dtype = next(comps.unet.parameters()).dtype
    scale = 2 ** (len(comps.vae.config.block_out_channels) - 1)
    latent_hw = (protocol.height // scale, protocol.width // scale)
    text_dim = comps.unet.config.cross_attention_dim
    rows: list[BenchRow] = []
    for b in tqdm(batch_sizes, desc="bench UNet", leave=False):
        rows += _unet_rows(comps.unet, protocol, b, dtype, dev, latent_hw, text_dim, iters)
    rows += _vae_rows(comps.vae, protocol, max(batch_sizes), dtype, dev, latent_hw, iters)
    rows += _text_rows(comps.text_encoder, dev, iters)
    pipeline_peaks = {}
    for b in tqdm(batch_sizes, desc="bench video", leave=False):
        if dev.type == "cuda":  # the reserved peak must be the pipeline's own, not blocks cached by earlier rows
            torch.cuda.empty_cache()
        rows += _video_rows(pipe, protocol, b, dev, iters=1)
        pipeline_peaks[b] = peak_memory_gib(dev, reserved=True)
    memory = _memory_section(comps, protocol, memory_batch_sizes, dtype, dev, latent_hw, text_dim, pipeline_peaks)
    rows += _io_rows(protocol, iters)
    detector_rows = _detector_rows(dev, preset) if detectors else []
    best_video = min(r.per_video_s for r in rows if r.item.startswith("whole video"))
    return {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "peak_bf16_tflops": device_peak_tflops(dev),
        "preset": preset, "dtype": str(dtype), "compile": compile, "protocol": protocol.to_dict(),
        "rows": [dataclasses.asdict(r) for r in rows], "detectors": detector_rows,
        "s_per_video": best_video,
        "projected_gpu_hours_10k": round(best_video * NUM_VIDEOS / 3600, 3),
        "peak_memory_gib": max((r.peak_gib for r in rows if r.peak_gib is not None), default=None), "memory": memory,
        "torch": torch.__version__, **provenance(),
    }


def _detector_rows(dev: torch.device, preset: str, batch_size: int = 32, iters: int = 3,
                   size: int = 256) -> list[dict[str, Any]]:
    """I3D and C3D throughput (videos/s) on uint8 16-frame clips with random weights (full size unless tiny).

    Decoding is excluded: it runs in DataLoader workers beside the detector.
    """
    from vidrd_bench.metrics.base import Detector, init_random
    from vidrd_bench.metrics.c3d import C3D, C3DClassifier, tiny_c3d
    from vidrd_bench.metrics.i3d import I3DDetector, InceptionI3d, tiny_i3d

    tiny = preset == "tiny"
    i3d = tiny_i3d() if tiny else init_random(InceptionI3d())
    c3d = tiny_c3d() if tiny else C3DClassifier(init_random(C3D()), torch.full((3, 16, 128, 128), 100.0))
    detectors = [I3DDetector("i3d (random)", i3d, num_frames=16, feature_dim=400, feature="logits", weights={},
                             random_weights=True, device=dev),
                 Detector("c3d (random)", c3d, num_frames=16, feature_dim=101, feature="probs", weights={},
                          random_weights=True, device=dev)]
    videos = torch.randint(0, 256, (batch_size, 3, 16, size, size), dtype=torch.uint8)
    videos = videos.pin_memory() if dev.type == "cuda" else videos
    rows = []
    for det in detectors:
        per_batch = time_ms(lambda: det(videos), dev, warmup=1, iters=iters)["ms"] / 1e3
        rows.append({"detector": det.name, "input": f"{batch_size} x 16 x {size}x{size} uint8",
                     "ms_per_batch": round(per_batch * 1e3, 2), "videos_per_s": round(batch_size / per_batch, 1),
                     "s_for_10k": round(NUM_VIDEOS * per_batch / batch_size, 1)})
    return rows


def format_bench(result: dict[str, Any]) -> str:
    """The bench result as a plain-text table for the terminal."""
    import pandas as pd

    df = pd.DataFrame(result["rows"]).astype(object).fillna("")
    lines = [f"device: {result['device']}  preset: {result['preset']}  dtype: {result['dtype']}  "
             f"compile: {result['compile']}  protocol: {result['protocol']['name']}",
             df.to_string(index=False)]
    if result["detectors"]:
        lines.append(pd.DataFrame(result["detectors"]).to_string(index=False))
    lines.append(f"s per video (best batch): {result['s_per_video']:.3f}   projected GPU-hours for 10K videos: "
                 f"{result['projected_gpu_hours_10k']:.2f}   peak memory: {result['peak_memory_gib']} GiB")
    mem = result.get("memory")
    if mem:
        probe = ", ".join(f"{p['videos']}: {p['eager_unet_call_peak_gib']}" for p in mem["probe"])
        lines.append(f"eager UNet call peak GiB by videos per call: {probe}; pipeline reserved peak GiB: "
                     f"{mem['pipeline_reserved_peak_gib']}; +{mem['per_video_gib']} GiB per video; largest videos "
                     f"per call: {mem['max_videos_per_call']}")
    return "\n".join(lines)
