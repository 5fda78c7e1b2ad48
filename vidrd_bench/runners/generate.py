"""`vidrd-bench generate`: render a dataset's evaluation plan with any registered generator, sharded, resumable, atomic.

The evaluation protocol (protocols.EvalProtocol) fixes the plan, frame count, size and fps for every generator; the
generator renders with its own settings and its videos are held to the protocol by generators.conform's rule.

One process renders its slice of the plan in the plan's fixed batches (render_loop.BATCH_RULE); each video is
written atomically as a lossless mp4 (libx264rgb, crf 0: frames round-trip bit-exactly) and recorded with its sha256
in the worker's manifest part after every batch. A re-run skips videos whose file matches the recorded sha256 and renders the rest.
Under torchrun every rank takes the slice (shard composed with rank) and renders on cuda:LOCAL_RANK;
rank 0 merges all parts into manifest.jsonl at the end.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence


from vidrd_bench.core import distributed
from vidrd_bench.datasets import manifest as mf
from vidrd_bench.datasets.plan import Shard, check_num_videos, parse_shard
from vidrd_bench.datasets.registry import DATASETS
from vidrd_bench.core.errors import RunStateError, VidrdBenchError
from vidrd_bench.core.io import check_output_dir, sha256_file
from vidrd_bench.core.lock import PartLock, folder_lock, held_locks
from vidrd_bench.generators import GENERATORS, Generator, GeneratorEntry, Preset
from vidrd_bench.generators.conform import conform_record
from vidrd_bench.precisions import (AGREEMENT_VIDEOS, DEFAULT_PRECISION, PRECISIONS, PrecisionError, run_precision,
                                    FLOAT32, used_precision)
from vidrd_bench.protocols import PROTOCOLS, EvalProtocol, GeneratorSettings
from vidrd_bench.results import provenance
from vidrd_bench.runners.render_loop import BATCH_RULE, RenderBatch, render

PUBLISHED_PROTOCOLS = ("ucf101-vidrd", "ucf101-vidrd-release")  # the paper's settings: never with a tiny model
DEFAULT_BATCH_SIZE = 16  # the fastest measured on an H100/H200 (compiled: 8 and 32 per call are slower per video)


@dataclass(frozen=True)
class GenerateResult:
    """What one process did: its slice, how many videos it rendered or found finished, where the manifest is."""

    out_dir: Path
    manifest: Path
    shard: Shard
    planned: int
    rendered: int
    skipped: int
    adopted: int = 0


@dataclass(frozen=True)
class Choice:
    """What renders the run: the generator entry, its preset and settings, and the evaluation protocol."""

    entry: GeneratorEntry
    preset: Preset
    settings: GeneratorSettings
    protocol: EvalProtocol

    def record(self) -> dict[str, Any]:
        """run.json's "generator": name, preset, the settings it renders with, and whether its weights are random
        (scores of such videos are smoke numbers; `score` reads this instead of asking the generator registry)."""
        return {"name": self.entry.name, "preset": self.preset.name, "settings": self.settings.to_dict(),
                "random_weights": self.preset.random_weights}


def resolve(generator: str, preset: str | None, settings: str | GeneratorSettings | None,
            protocol_name: str | EvalProtocol | None) -> Choice:
    """The generator entry, preset, settings (name or object) and evaluation protocol, defaults from the preset."""
    entry = GENERATORS.get(generator)
    chosen = entry.preset(preset)
    if not isinstance(settings, GeneratorSettings):
        settings = entry.settings.get(settings or chosen.settings)
    if chosen.name == "tiny" and protocol_name in PUBLISHED_PROTOCOLS:
        raise VidrdBenchError(
            f"--preset tiny is a small random-weight model for CPU smoke runs; it cannot render the published protocol "
            f"{protocol_name!r}, whose videos would be taken for a real model's. Use --protocol tiny-smoke (the "
            "default with --preset tiny), or a real model's preset."
        )
    protocol = protocol_name if isinstance(protocol_name, EvalProtocol) else PROTOCOLS.get(protocol_name or chosen.protocol)
    if not isinstance(protocol, EvalProtocol):
        evaluation = [n for n in PROTOCOLS.names() if isinstance(PROTOCOLS.get(n), EvalProtocol)]
        raise VidrdBenchError(
            f"Protocol {protocol.name!r} is a scoring protocol, not an evaluation protocol for generation. "
            f"Pass one of {', '.join(evaluation)} to --protocol."
        )
    native = settings.native_size()
    if None not in native:
        conform_record(native, protocol, entry.name)
    return Choice(entry, chosen, settings, protocol)


def plan_rows(dataset: str, protocol: EvalProtocol, num_videos: int | None,
              prompts_file: str | os.PathLike | None) -> tuple[list[mf.ManifestRow], Path]:
    """The run's manifest rows (whole plan) and the prompts or captions file they came from."""
    count = check_num_videos(protocol.num_videos if num_videos is None else num_videos)
    plan, prompts_path = DATASETS.get(dataset).plan(protocol, count, prompts_file)
    return [mf.ManifestRow.from_plan(v, protocol.name) for v in plan], prompts_path


def adopt(out_dir: Path, rows: list[mf.ManifestRow]) -> int:
    """Mark done, in place, the planned rows whose video a killed run renamed into place but never recorded.

    Only a file whose sha256 matches the one journaled just before its rename is adopted; returns how many.
    """
    journal = mf.journaled(out_dir)
    adopted = 0
    for row in rows:
        digest = journal.get((row.index, row.path))
        path = out_dir / row.path
        if row.status != "done" and digest and path.is_file() and sha256_file(path) == digest:
            row.sha256, row.status = digest, "done"
            adopted += 1
    return adopted


def finished(out_dir: Path, rows: Sequence[mf.ManifestRow]) -> list[mf.ManifestRow]:
    """`rows` with status done where the folder records that video and its file still has the recorded sha256."""
    known = mf.known_rows(out_dir)
    result = []
    for row in rows:
        seen = known.get(row.index)
        ok = (seen is not None and seen.status == "done" and seen.sha256 and seen.same_video(row)
              and (out_dir / row.path).is_file() and sha256_file(out_dir / row.path) == seen.sha256)
        result.append(seen if ok else row)
    return result


def render_settings(device: str | None, compile: bool | None, batch_size: int, compiles: bool = True,
                    precision: str = DEFAULT_PRECISION) -> dict[str, Any]:
    """The settings that change a video's bytes besides the protocol: batch size, device type, compile, dtype,
    precision, and the rule that groups videos into batches (BATCH_RULE).

    `compiles`: whether the generator honours compile at all (GeneratorEntry.compiles); if not, it renders eager and
    compile is recorded false whatever was asked.
    """
    from vidrd_bench.core.devices import pick_device

    dev = pick_device(device)
    compiled = compiles and (dev.type == "cuda" if compile is None else bool(compile))
    dtype = "bfloat16" if dev.type == "cuda" else "float32"  # every generator's default (generators/*.load)
    return {"batch_size": batch_size, "device_type": dev.type, "dtype": dtype, "compile": compiled,
            "precision": used_precision(PRECISIONS.get(precision).name, dtype), "batches": BATCH_RULE}


RENDER_FLAGS = {"batch_size": "--batch-size {}", "device_type": "--device {}", "compile": "--compile/--no-compile",
                "dtype": "a {} device", "precision": "--precision {}",
                "batches": "the vidrd-bench version that wrote it (batching rule: {})"}


def check_render(out_dir: Path, existing: dict[str, Any] | None, settings: dict[str, Any]) -> None:
    """Refuse a resume whose batch size, device type, dtype, compile or precision differs from the videos already
    rendered (a run recorded before precisions existed rendered with the protocol's)."""
    recorded = (existing or {}).get("render") or {}
    recorded = {"precision": DEFAULT_PRECISION, **recorded} if recorded else recorded
    if recorded:  # runs recorded before fp32 was named: the protocol's precision in float32 was fp32
        recorded["precision"] = used_precision(recorded["precision"], recorded.get("dtype"))
    for key, value in settings.items():
        if key in recorded and recorded[key] != value:
            shown = f"{DEFAULT_PRECISION} on a CPU" if recorded[key] == FLOAT32 else recorded[key]
            flag = RENDER_FLAGS[key].format(shown)
            raise RunStateError(
                f"{out_dir / mf.RUN_FILE} records videos rendered with {key} {recorded[key]!r}, but this run would "
                f"use {value!r}. The {key} changes the pixels of a video (floating-point order), so one folder must "
                f"not mix the two. Resume with the original setting ({flag}), or start a new run in another --out "
                "folder."
            )


def loading_line(choice: Choice) -> str:
    """What loading the chosen preset reads: random weights built in code, VidRD's ~5 GB, or the --model folder."""
    chosen = choice.preset
    what = ("random weights built in code, nothing read from disk: seconds" if chosen.random_weights else
            "the --model folder: seconds to minutes, by its size" if chosen.needs_model else
            "~5 GB of weights: ~15 s" if choice.entry.name == "vidrd" else "its weight files")
    return f"loading the {choice.entry.name} {chosen.name} preset ({what})..."


def load_generator(choice: Choice, model: str | os.PathLike | None, weights_dir: str | os.PathLike | None,
                   device: str | None, compile: bool | None = None, allow_partial: bool = False,
                   precision: str = DEFAULT_PRECISION) -> Generator:
    """Build the chosen generator (its entry's lazy loader) on `device` (devices.pick_device) at `precision`."""
    print(loading_line(choice), file=sys.stderr)
    return choice.entry.load(preset=choice.preset.name, model=model, weights_dir=weights_dir, device=device,
                             settings=choice.settings, compile=compile, allow_partial=allow_partial,
                             precision=choice.entry.check_precision(precision))


def generator_header(generator: Generator, choice: Choice, allow_partial: bool) -> dict[str, Any]:
    """run.json fields known once the model is loaded: weights' sha256, sources, dtype, and the conform rule."""
    prov = generator.provenance()
    record = {**choice.record(), "model": prov.get("model"), "dtype": prov.get("dtype"),
              "random_weights": choice.preset.random_weights or bool(prov.get("random_weights")),
              "determinism": generator.deterministic_note,
              "conform": conform_record(generator.native_shape(choice.settings), choice.protocol, choice.entry.name)}
    sources = {**prov.get("sources", {}), "allow_partial": str(allow_partial).lower()}
    return {"generator": record, "weights": dict(prov.get("weights", {})), "sources": sources}


def claim_slice(out_dir: Path, slice_: Shard, mine: Sequence[mf.ManifestRow]) -> PartLock:
    """Lock this process's part of the folder; refuse while a live process holds an overlapping part."""
    first, stop = (mine[0].index, mine[-1].index + 1) if mine else (0, 0)
    lock = PartLock(out_dir, mf.part_path(out_dir, slice_).stem, {"shard": str(slice_), "first": first, "stop": stop})
    lock.acquire()
    for name, holder in held_locks(out_dir).items():
        if name != lock.path.stem and holder.get("first", 0) < stop and first < holder.get("stop", 1 << 62):
            lock.release()
            raise RunStateError(
                f"{out_dir} is being written by pid {holder.get('pid')} on host {holder.get('host')} (shard "
                f"{holder.get('shard')}, since {holder.get('start')}), whose videos overlap this run's shard "
                f"{slice_}. Two writers must not render the same videos: wait for it to finish, or give every job of "
                "the run the same --shard I/N layout."
            )
    return lock


def write_folder(out_dir: Path, header: dict[str, Any], protocol: EvalProtocol, rows: list[mf.ManifestRow],
                 is_writer: bool) -> None:
    """Under the folder lock: check the folder again and (rank 0) record run.json and merge manifest.jsonl."""
    with folder_lock(out_dir):
        existing = mf.check_run(out_dir, header, protocol)
        if is_writer:
            mf.write_run(out_dir, header, existing)
            mf.merge(out_dir, rows)


def run_generate(
    dataset: str = "ucf101",
    out_dir: str | os.PathLike | None = None,
    num_videos: int | None = None,
    generator: str = "vidrd",
    preset: str | None = None,
    settings: str | GeneratorSettings | None = None,
    protocol_name: str | EvalProtocol | None = None,
    model: str | os.PathLike | None = None,
    weights_dir: str | os.PathLike | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    shard: str | Shard | None = None,
    plan_only: bool = False,
    prompts_file: str | os.PathLike | None = None,
    device: str | None = None,
    instance: Generator | None = None,
    compile: bool | None = None,
    allow_partial: bool = False,
    show_progress: bool = True,
    precision: str = DEFAULT_PRECISION,
) -> GenerateResult:
    """Plan (and unless plan_only, render) a dataset's evaluation videos into `out_dir` (default runs/<dataset>).

    generator/preset/settings pick the model (GENERATORS); protocol_name the evaluation protocol (default: the
    preset's); model is the generator's folder where its preset needs one; instance replaces loading (tests);
    precision (precisions.PRECISIONS) a non-protocol precision, whose agreement to bf16 run.json records.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise VidrdBenchError(f"--batch-size must be a positive whole number of videos per call, got {batch_size!r}.")
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / dataset
    choice = resolve(generator, preset, settings, protocol_name)
    if model is not None and not choice.preset.needs_model:
        raise VidrdBenchError(f"--model is for generators that read a model folder; {generator!r} preset "
                              f"{choice.preset.name!r} does not (VidRD reads --weights-dir). Drop --model, or pick "
                              "the generator your folder holds (`vidrd-bench generators`).")
    protocol = choice.protocol
    choice.entry.check_precision(precision)
    check_output_dir(out_dir)
    shard = parse_shard(shard)
    rows, prompts_path = plan_rows(dataset, protocol, num_videos, prompts_file)
    header = mf.run_header(dataset, protocol, rows, str(prompts_path), None if plan_only else choice.record(), {},
                           provenance())
    existing = mf.check_run(out_dir, header, protocol)
    rendering = None if plan_only else render_settings(device, compile, batch_size, choice.entry.compiles, precision)
    if rendering is not None and instance is None:
        check_render(out_dir, existing, rendering)
    ctx = distributed.context(join=not plan_only)
    try:
        slice_ = shard.compose(ctx.rank, ctx.world_size)
        if plan_only:
            write_folder(out_dir, header, protocol, rows, ctx.rank == 0)
            return GenerateResult(out_dir, out_dir / mf.MANIFEST_FILE, slice_, len(rows), 0, 0)
        with claim_slice(out_dir, slice_, slice_.select(rows)):
            return _render_slice(out_dir, header, choice, rows, slice_, ctx, instance, rendering,
                                 lambda: load_generator(choice, model, weights_dir, device, compile, allow_partial,
                                                        precision),
                                 allow_partial, show_progress)
    finally:
        ctx.close()


def _render_slice(out_dir: Path, header: dict[str, Any], choice: Choice, rows: list[mf.ManifestRow],
                  slice_: Shard, ctx: distributed.DistContext, instance: Generator | None,
                  rendering: dict[str, Any], load: Callable[[], Generator], allow_partial: bool,
                  show_progress: bool) -> GenerateResult:
    """Holding this slice's lock: find finished videos, load the generator if work is left, record, render, merge."""
    mine = [dataclasses.replace(r) for r in finished(out_dir, slice_.select(rows))]
    adopted = adopt(out_dir, mine)
    if adopted:
        print(f"adopted {adopted} finished videos that an interrupted run had written but not yet recorded "
              "(sha256 matched its journal); they are not rendered again.", file=sys.stderr)
    part = mf.part_path(out_dir, slice_)
    mf.remove_stale_temps(out_dir / mf.VIDEOS_DIR, [Path(r.path).name for r in mine])
    mf.remove_stale_temps(part.parent, [part.name])
    skipped = sum(r.status == "done" for r in mine)
    if skipped:
        print(f"resuming {out_dir}: {skipped} of this slice's {len(mine)} videos are done and kept; "
              f"{len(mine) - skipped} left to render.", file=sys.stderr)
    if skipped < len(mine):
        instance = instance or load()
        dtype = instance.provenance().get("dtype")
        if dtype:
            rendering = {**rendering, "dtype": str(dtype).removeprefix("torch.")}
        rendering = {**rendering, "precision": used_precision(rendering["precision"], rendering["dtype"])}
        if used_precision(instance.precision, rendering["dtype"]) != rendering["precision"]:
            raise PrecisionError(f"The generator renders with precision {instance.precision!r}, but this run asks "
                                 f"for {rendering['precision']!r}; pass the matching --precision.")
        header = {**header, **generator_header(instance, choice, allow_partial), "render": rendering}
        existing = mf.check_run(out_dir, header, choice.protocol)
        check_render(out_dir, existing, rendering)
        if ctx.rank == 0:
            todo = [r for r in mine if r.status != "done"][:AGREEMENT_VIDEOS]
            header["precision"] = run_precision(instance, choice.settings, [r.prompt for r in todo],
                                                [r.seed for r in todo], existing, rendering["dtype"])
    write_folder(out_dir, header, choice.protocol, rows, ctx.rank == 0)
    mf.write_rows(part, mine)
    mf.journal_clear(part)
    rendered = render(instance, choice, out_dir, mine, part, RenderBatch(rows, rendering["batch_size"]),
                      show_progress and ctx.rank == 0)
    ctx.barrier()
    if ctx.rank == 0:
        with folder_lock(out_dir):
            mf.merge(out_dir, rows)
    return GenerateResult(out_dir, out_dir / mf.MANIFEST_FILE, slice_, len(mine), rendered, skipped, adopted)
