"""`vidrd-bench bench`: time the generator, the detectors and video I/O at the protocol's sizes, with FLOP counts."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vidrd_bench.core.devices import pick_device
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.timing import count_flops, peak_memory_gib, reset_peak_memory, time_ms, timed_call
from vidrd_bench.core.progress import tqdm
from vidrd_bench.generators import Generator, GeneratorEntry
from vidrd_bench.generators.guided_pair import GuidedPairDenoiser
from vidrd_bench.metrics.detectors import DETECTORS, DetectorSpec
from vidrd_bench.precisions import AGREEMENT_VIDEOS, DEFAULT_PRECISION, describe, run_precision
from vidrd_bench.protocols import EvalProtocol
from vidrd_bench.results import provenance
from vidrd_bench.runners.detector_bench import NUM_VIDEOS, time_detector

# Dense bf16 tensor-core rate each chip sustains on large matrix products (measured 769-798 TFLOP/s on H100/H200).
PEAK_BF16_TFLOPS = {"H100": 790.0, "H200": 790.0}
# Memory of common cards as nvidia-smi reports it (RTX 4090 / L4-class 24 GB; H100 80GB), for `memory_fit`.
CARD_MIB = {"24 GB": 24564, "80 GB": 81559}


def device_peak_tflops(device: torch.device) -> float | None:
    """The bf16 rate used for '% of peak', or None where no figure is known (CPU, other GPUs)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def eager_module(module: torch.nn.Module) -> torch.nn.Module:
    """The plain module behind a torch.compile wrapper (FLOP counting must not disturb the compiled graph)."""
    return getattr(module, "_orig_mod", module)


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
                  first_call_s=None if t["first_ms"] is None else round(t["first_ms"] / 1e3, 2),
                  peak_gib=peak_memory_gib(device))
        if flops is not None:
            total = count_flops(flops)
            row.tflop = total / 1e12
            row.tflops = round(total / (t["ms"] / 1e3) / 1e12, 2)
            peak = device_peak_tflops(device)
            row.pct_peak = round(100 * row.tflops / peak, 1) if peak else None
        return row


@dataclasses.dataclass
class Captured:
    """The denoiser's and decoder's calls during one whole-video generator call (replayed for timing)."""

    denoiser: list[tuple[tuple, dict]]
    decoder: list[tuple[tuple, dict]]


def capture_calls(generator: Generator, call: Callable[[], Any]) -> Captured:
    """Run `call` once, recording every call of the generator's denoiser (forward) and decoder (decode method)."""
    mods = generator.modules()
    den, vae = mods["denoiser"], mods["decoder"]
    seen = Captured([], [])
    hook = den.register_forward_pre_hook(lambda m, a, k: seen.denoiser.append((a, k)), with_kwargs=True)
    method = getattr(vae, generator.decode_method)

    def recording(*a: Any, **k: Any) -> Any:
        seen.decoder.append((a, k))
        return method(*a, **k)

    setattr(vae, generator.decode_method, recording)
    try:
        with torch.no_grad():
            call()
    finally:
        hook.remove()
        delattr(vae, generator.decode_method)
    return seen


def call_shape(args: tuple, kwargs: dict | None = None) -> str:
    """The first tensor argument's shape (positional, else keyword), as 'a x b x ...'."""
    first = next((a for a in (*args, *(kwargs or {}).values()) if isinstance(a, torch.Tensor)), None)
    return " x ".join(str(d) for d in first.shape) if first is not None else "?"


def bench_prompts(count: int) -> tuple[list[str], list[int]]:
    """The prompts and seeds bench renders (one per video)."""
    return [f"a person doing action number {i} in a park, handheld camera" for i in range(count)], list(range(count))


def _model_rows(generator: Generator, settings: Any, batch: int, device: torch.device,
                iters: int) -> tuple[list[BenchRow], float | None]:
    """Whole videos, one denoiser call and the VAE decode of a batch, for any registered generator; and the whole
    video's reserved GPU memory peak (None on the CPU)."""
    prompts, seeds = bench_prompts(batch)
    frames, height, width = generator.native_shape(settings)
    video = lambda: generator(prompts, seeds, settings)  # noqa: E731
    # also the whole video's warm-up (compiling, CUDA-graph capture), so the rows below warm up with one call
    seen, first_ms = timed_call(lambda: capture_calls(generator, video), device)
    first_s = round(first_ms / 1e3, 2)
    rows = [BenchRow.measure("whole video (pipeline)", f"{batch} videos x {frames} frames {height}x{width}", video,
                             device, videos=batch, iters=1, warmup=0, note=f"settings {settings.name}")]
    rows[0].first_call_s = first_s
    reserved = peak_memory_gib(device, reserved=True)
    modules = generator.modules()
    den, vae = modules["denoiser"], modules["decoder"]
    variants = [("denoiser call", den)] + ([("denoiser call, no CUDA graph", modules["denoiser_ungraphed"])]
                                           if "denoiser_ungraphed" in modules else [])
    for item, module in variants if seen.denoiser else []:
        rows.append(_denoiser_row(item, module, seen.denoiser, batch, device, iters))
    if seen.decoder:
        decode = getattr(vae, generator.decode_method)
        replay = lambda extra: [decode(*a, **{**k, **extra}) for a, k in seen.decoder]  # noqa: E731
        rows.append(BenchRow.measure("VAE decode", call_shape(seen.decoder[0][0]), lambda: replay({}), device,
                                     videos=batch, iters=iters, flops=lambda: replay(generator.eager_decode_kwargs),
                                     warmup=1,
                                     note=f"{type(vae).__name__}.{generator.decode_method}, "
                                          f"{len(seen.decoder)} calls per batch"))
    return rows, reserved


def _denoiser_row(item: str, module: torch.nn.Module, calls: list[tuple[tuple, dict]], batch: int,
                  device: torch.device, iters: int) -> BenchRow:
    """One denoiser call as the sampling loop makes it: the first recorded call, or where the generator runs its
    guided pair as one batch (GuidedPairDenoiser), that pair's batched call, counted once per step."""
    a, k = calls[0]
    count, how = len(calls), "calls"
    pair = module.steady_call(calls) if isinstance(module, GuidedPairDenoiser) else None
    if pair is not None:
        module, a, k, count, how = module.inner, (), pair, len(calls) // 2, "guided pairs as one batch"
    eager = eager_module(module)
    row = BenchRow.measure(item, call_shape(a, k), lambda: module(*a, **k), device, videos=batch, iters=iters,
                           flops=lambda: eager(*a, **k), warmup=1)
    row.per_video_s = round(row.ms / 1e3 / batch * count, 4)
    row.note = f"{type(eager).__name__}, x {count} {how} per batch"
    return row


def _io_rows(protocol: EvalProtocol, iters: int) -> list[BenchRow]:
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


class _FirstCallSeen(Exception):
    """Raised by a forward pre-hook to stop a generator call once its denoiser's first call is recorded."""


def first_denoiser_call(generator: Generator, settings: Any, batch: int) -> tuple[tuple, dict]:
    """The arguments of the denoiser's first call when the generator renders `batch` videos (the rest not run), at
    exactly that batch (Generator.unpadded: a compiled VidRD would pad it to its compiled size)."""
    seen: list[tuple[tuple, dict]] = []

    def stop(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        seen.append((args, kwargs))
        raise _FirstCallSeen

    hook = generator.modules()["denoiser"].register_forward_pre_hook(stop, with_kwargs=True)
    try:
        with torch.no_grad(), generator.unpadded():
            generator(*bench_prompts(batch), settings)
    except _FirstCallSeen:
        pass
    finally:
        hook.remove()
    return seen[0]


def _memory_probe(generator: Generator, settings: Any, sizes: tuple[int, ...], device) -> list[dict[str, Any]]:
    """Peak GPU memory of one eager denoiser call per batch size (how activation memory grows per video)."""
    eager, points = eager_module(generator.modules()["denoiser"]), []
    for b in sizes:
        a, k = first_denoiser_call(generator, settings, b)
        reset_peak_memory(device)
        with torch.no_grad():
            eager(*a, **k)
        points.append({"videos": b, "eager_unet_call_peak_gib": peak_memory_gib(device)})
        del a, k
        torch.cuda.empty_cache()
    return points


def memory_fit(points: list[dict[str, Any]], pipeline_videos: int, pipeline_reserved_gib: float,
               context_gib: float, videos_per_call: int | None = None) -> dict[str, Any]:
    """Largest videos per call for common cards: the pipeline's measured reserved peak at `pipeline_videos`, plus
    the per-video growth of activation memory (least-squares slope of the eager probe), plus the CUDA context; with
    no growth measured (one probe point: per_video_gib None), the batch the pipeline ran where its peak fits. Capped
    at `videos_per_call` for a generator that renders no more per model call."""
    xs = np.array([p["videos"] for p in points], dtype=float)
    ys = np.array([p["eager_unet_call_peak_gib"] for p in points], dtype=float)
    slope = float(np.polyfit(xs, ys, 1)[0]) if len(set(xs)) > 1 else None
    fixed = pipeline_reserved_gib - (slope or 0.0) * pipeline_videos + context_gib
    if slope is None or slope <= 0:  # no growth measured: the batch the pipeline ran, where its peak fits
        fits = {card: pipeline_videos if pipeline_reserved_gib + context_gib <= mib / 1024 else 0
                for card, mib in CARD_MIB.items()}
    else:
        fits = {card: max(int((mib / 1024 - fixed) // slope), 0) for card, mib in CARD_MIB.items()}
    if videos_per_call is not None:
        fits = {card: min(n, videos_per_call) for card, n in fits.items()}
    return {"per_video_gib": None if slope is None else round(slope, 4), "fixed_gib": round(fixed, 3),
            "context_gib": round(context_gib, 3), "videos_per_call": videos_per_call, "max_videos_per_call": fits}


def _memory_section(generator: Generator, settings: Any, sizes: tuple[int, ...], dev: torch.device,
                    pipeline_peaks: dict[int, float]) -> dict[str, Any] | None:
    """Peak memory per batch size and the largest batch for 24 GB / 80 GB cards (GPU only); batch sizes above the
    generator's videos_per_call are not probed (its model never sees them)."""
    if dev.type != "cuda" or not sizes:
        return None
    cap = generator.videos_per_call
    points = _memory_probe(generator, settings, tuple(b for b in sizes if cap is None or b <= cap) or (1,), dev)
    free, total = torch.cuda.mem_get_info(dev)
    context = (total - free - torch.cuda.memory_reserved(dev)) / 2**30
    videos = max(pipeline_peaks)
    return {"probe": points, "pipeline_reserved_peak_gib": pipeline_peaks,
            **memory_fit(points, videos, pipeline_peaks[videos], context, cap)}


def bench_preset(entry: GeneratorEntry, model: str | None) -> str:
    """What bench builds without --preset: the preset reading --model if given, else the first with random weights."""
    wanted = [p for p in entry.presets if p.needs_model == (model is not None) and not p.needs]
    if not wanted:
        raise VidrdBenchError(f"Generator {entry.name!r} has no preset bench can build "
                              f"{'from --model' if model else 'without weights'}; pass --preset.")
    return wanted[0].name


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    """What `bench` times: the generator as `generate` builds it, the batch sizes, and (steps) whole videos timed at
    fewer sampling steps and projected to the settings' own, for models whose whole video outlasts a GPU session."""

    generator: str = "vidrd"
    preset: str | None = None
    settings: str | None = None
    model: str | None = None
    device: str | None = None
    batch_sizes: tuple[int, ...] = (1, 8)
    compile: bool = False
    iters: int = 5
    protocol_name: str | None = None
    detectors: bool = True
    memory_batch_sizes: tuple[int, ...] = ()
    precision: str = DEFAULT_PRECISION
    steps: int | None = None


def timed_settings(settings: Any, steps: int | None) -> Any:
    """The settings whole videos are timed at: as given, or renamed with `steps` sampling steps (a changed setting
    gets a new name); refused where the settings name no step count to project to, or no fewer steps."""
    if steps is None:
        return settings
    full = getattr(settings, "num_inference_steps", None)
    if full is None or not 1 <= steps < full:
        sampled = "the pipeline's own step count" if full is None else f"{full} steps"
        allowed = f"a number from 1 to {full - 1}" if full and full > 1 else "settings that name more steps"
        raise VidrdBenchError(f"bench --steps {steps}: settings {settings.name!r} sample {sampled}; --steps times "
                              f"whole videos at fewer steps than the settings name and projects them to that count. "
                              f"Pass {allowed}, or settings with num_inference_steps (vidrd-bench generators lists "
                              f"them).")
    return dataclasses.replace(settings, name=f"{settings.name}-steps{steps}", num_inference_steps=steps)


def projected_row(rows: list[BenchRow], steps: int, full_steps: int) -> BenchRow:
    """A batch's whole video at `full_steps`, from its rows timed at `steps`: each further step costs one step's
    denoiser calls as the denoiser row timed them (the text encoder and VAE decode run once either way)."""
    whole = rows[0]
    denoiser = next(r for r in rows if r.item == "denoiser call")
    step_ms = denoiser.per_video_s * 1e3 * whole.videos / steps
    ms = whole.ms + (full_steps - steps) * step_ms
    return BenchRow("whole video (projected)", whole.shape, round(ms, 3), whole.videos,
                    per_video_s=round(ms / 1e3 / whole.videos, 5), peak_gib=whole.peak_gib,
                    note=f"{steps} steps timed, {full_steps} projected: + {full_steps - steps} x {step_ms:.1f} ms")


def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Time any registered generator's stages at its settings' sizes and project the cost of 10K videos; on a GPU,
    peak memory per row and (memory_batch_sizes) per batch size, with the largest batch common cards hold; at a
    non-protocol precision also its agreement to bf16 on whole videos (precisions.run_precision)."""
    from vidrd_bench.runners.generate import load_generator, resolve
    from vidrd_bench.generators import GENERATORS

    o = options
    dev = pick_device(o.device)
    preset = o.preset or bench_preset(GENERATORS.get(o.generator), o.model)
    choice = resolve(o.generator, preset, o.settings, o.protocol_name)
    settings = timed_settings(choice.settings, o.steps)
    gen = load_generator(choice, o.model, None, str(dev), o.compile, precision=o.precision)
    rows: list[BenchRow] = []
    pipeline_peaks = {}
    for b in tqdm(o.batch_sizes, desc="bench", leave=False):
        if dev.type == "cuda":  # the reserved peak must be the pipeline's own, not blocks cached by earlier rows
            torch.cuda.empty_cache()
        with gen.kernel_context():
            batch_rows, pipeline_peaks[b] = _model_rows(gen, settings, b, dev, o.iters)
        if o.steps is not None:
            batch_rows.insert(1, projected_row(batch_rows, o.steps, choice.settings.num_inference_steps))
        rows += batch_rows
    memory = _memory_section(gen, settings, o.memory_batch_sizes, dev, pipeline_peaks)
    rows += _io_rows(choice.protocol, o.iters)
    precision_record = run_precision(gen, settings, *bench_prompts(AGREEMENT_VIDEOS), None)
    detector_rows = _detector_rows(dev, preset) if o.detectors else []
    whole = "whole video (pipeline)" if o.steps is None else "whole video (projected)"
    best_video = min(r.per_video_s for r in rows if r.item == whole)
    return {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "peak_bf16_tflops": device_peak_tflops(dev), "generator": o.generator,
        "preset": preset, "dtype": gen.provenance().get("dtype"), "compile": o.compile, "precision": precision_record,
        "protocol": choice.protocol.to_dict(), "settings": choice.settings.to_dict(),
        "timed_settings": settings.to_dict(), "steps_timed": settings.num_inference_steps if o.steps else None,
        "rows": [dataclasses.asdict(r) for r in rows], "detectors": detector_rows,
        "s_per_video": best_video,
        "projected_gpu_hours_10k": round(best_video * NUM_VIDEOS / 3600, 3),
        "peak_memory_gib": max((r.peak_gib for r in rows if r.peak_gib is not None), default=None), "memory": memory,
        "torch": torch.__version__, **provenance(),
    }


def bench_detectors(preset: str) -> list[DetectorSpec]:
    """The detectors bench times: the tiny random ones for the tiny preset, else every real one (random weights)."""
    tiny = preset == "tiny"
    return [spec for _, spec in DETECTORS.items() if spec.random_weights == tiny]


def _detector_rows(dev: torch.device, preset: str, batch_size: int = 32, iters: int = 3,
                   size: int = 256) -> list[dict[str, Any]]:
    """Throughput of each detector `bench_detectors` picks (runners/detector_bench.time_detector) on uint8 clips of
    its frame count at `size`, built by its spec's `random_build`; row "detector" is the spec's name."""
    return [dataclasses.asdict(time_detector(spec, dev, batch_size, iters, size)) for spec in bench_detectors(preset)]


def growth(memory: dict[str, Any]) -> str:
    """The memory section's per-video growth in words (or why there is none)."""
    if memory.get("videos_per_call") is not None:
        return f"at most {memory['videos_per_call']} video(s) per model call"
    per_video = memory.get("per_video_gib")
    return "one batch size probed: no per-video growth" if per_video is None else f"+{per_video} GiB per video"


def format_bench(result: dict[str, Any]) -> str:
    """The bench result as a plain-text table for the terminal."""
    import pandas as pd

    df = pd.DataFrame(result["rows"]).astype(object).fillna("")
    lines = [f"device: {result['device']}  generator: {result['generator']}  preset: {result['preset']}  "
             f"settings: {result['settings']['name']}  dtype: {result['dtype']}  compile: {result['compile']}  "
             f"precision: {describe(result.get('precision')) or DEFAULT_PRECISION}",
             df.to_string(index=False)]
    if result["detectors"]:
        lines.append(pd.DataFrame(result["detectors"]).to_string(index=False))
    lines.append(f"s per video (best batch): {result['s_per_video']:.3f}   projected GPU-hours for 10K videos: "
                 f"{result['projected_gpu_hours_10k']:.2f}   peak memory: {result['peak_memory_gib']} GiB")
    mem = result.get("memory")
    if mem:
        probe = ", ".join(f"{p['videos']}: {p['eager_unet_call_peak_gib']}" for p in mem["probe"])
        lines.append(f"eager UNet call peak GiB by videos per call: {probe}; pipeline reserved peak GiB: "
                     f"{mem['pipeline_reserved_peak_gib']}; {growth(mem)}; largest videos per call: "
                     f"{mem['max_videos_per_call']}")
    return "\n".join(lines)
