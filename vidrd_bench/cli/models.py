"""Commands that build or run generators: weights, generators, bench, generate, smoke."""

from __future__ import annotations

from pathlib import Path

import click

from vidrd_bench.cli.base import (WEIGHTS_DIR_OPTION, announce_device, generator_options, main, positive_ints,
                                  trusting)
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.datasets.registry import DATASETS, CaptionDataset


@main.command("weights")
@WEIGHTS_DIR_OPTION
@trusting
@click.option("--no-hash", is_flag=True, help="Skip sha256 of present files (faster on large checkpoints).")
@click.option("--check", "check", multiple=True, metavar="NAME",
              help="Exit 1 unless every file NAME needs is present: a scoring protocol (fvd-ucf101-10k), a generator "
                   "(vidrd) or GENERATOR:PRESET (vidrd:full); repeatable.")
def weights_cmd(weights_dir: Path | None, no_hash: bool, check: tuple[str, ...]) -> None:
    """List the model and detector files each generator and scoring protocol needs, which are present, and where."""
    from vidrd_bench.core import weights
    from vidrd_bench.runners import doctor

    root = weights.weights_dir(weights_dir)
    from vidrd_bench.datasets.video import video_backend

    click.echo(f"weights folder: {root}  ({'exists' if root.is_dir() else 'does not exist'})")
    decoder = ("decord (PyAV for GIF and files decord cannot read)" if video_backend() == "decord" else
               "PyAV (decord is not installed: it has no wheel for this platform; $VIDRD_BENCH_VIDEO_BACKEND=pyav "
               "also chooses it)")
    click.echo(f"video decoding: {decoder}")
    click.echo(f"  chosen by --weights-dir, else ${weights.ENV_VAR}, else {weights.DEFAULT_DIR}\n")
    rows = doctor.status(root, with_hash=not no_hash)
    by_name = {r.name: r for r in rows}
    needs, protocols = doctor.needed_by(), doctor.protocol_weights()
    for user, names in needs.items():
        kind = "protocol" if user in protocols else "generator"
        click.echo(f"{kind} {user}: " + ", ".join(
            f"{n} [{'ok' if by_name[n].present else by_name[n].problem}]" for n in names))
    click.echo("")
    for r in rows:
        mark = click.style("present", fg="green") if r.present else click.style(r.problem.upper(), fg="red")
        optional = " (optional)" if r.entry.optional else ""
        click.echo(f"{r.name}{optional}: {mark}")
        click.echo(f"  what: {r.entry.what}")
        if r.present:
            click.echo(f"  sha256: {r.sha256 or '(skipped)'}")
        else:
            click.echo(f"  expected: {r.entry.structure}")
            click.echo(f"  obtain from: {r.entry.source}")
    missing = [r for r in rows if not r.present and not r.entry.optional]
    if missing:
        click.echo(f"\n{len(missing)} required file(s) missing; place them under {root}. vidrd-bench never downloads weights.")
    for name in check:
        if doctor.needs_of(name) is None:
            raise VidrdBenchError(f"--check {name!r}: nothing of that name needs files here; known: "
                                  f"{', '.join(needs)} (evaluation protocols need none: check the generator, e.g. "
                                  "vidrd; diffusers generators read --model).")
        absent = [n for n in doctor.needs_of(name) if not by_name[n].present]
        if absent:
            raise VidrdBenchError(f"{name} cannot run: {', '.join(absent)} missing under {root} (guidance listed above).")
        doctor.verify_loads(name, root)
        click.echo(f"{name}: every file it needs is present and loads")


@main.command("generators")
@click.option("--save-tiny", "save_tiny", default=None, metavar="NAME",
              help="Save NAME's tiny random diffusers pipeline (diffusers layout) to --out, for trying --model.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder for --save-tiny.")
def generators_cmd(save_tiny: str | None, out: Path | None) -> None:
    """List the registered text-to-video generators: presets, settings, what each needs, its native frames and size,
    what the conform rule does to them under its evaluation protocol, and whether it compiles."""
    from vidrd_bench.generators import GENERATORS

    if save_tiny is not None:
        from vidrd_bench.generators.tiny import BUILDERS, save_tiny as save

        if save_tiny not in BUILDERS or out is None:
            raise VidrdBenchError(f"--save-tiny takes one of {', '.join(BUILDERS)} and needs --out DIR; got "
                                  f"{save_tiny!r} and --out {out}.")
        click.echo(f"wrote a tiny random {save_tiny} pipeline (random weights: plumbing only) to {save(save_tiny, out)}")
        return
    for name, entry in GENERATORS.items():
        click.echo(f"{click.style(name, bold=True)}: {entry.summary}")
        for p in entry.presets:
            needs = "--model DIR" if p.needs_model else ", ".join(p.needs) or "nothing (random weights)"
            click.echo(f"  --preset {p.name}: {p.help}; settings {p.settings}, protocol {p.protocol}; needs {needs}")
        if entry.model_help:
            click.echo(f"  --model: {entry.model_help}")
        click.echo(f"  --settings: {', '.join(entry.settings.names())}")
        click.echo(f"  --precision: {', '.join(entry.precisions)}")
        _echo_shape(entry)


def _echo_shape(entry) -> None:
    """An entry's native frames/size and frame rule, the conform rule under its default preset's protocol, compile."""
    from vidrd_bench.generators.conform import RULE, describe
    from vidrd_bench.protocols import PROTOCOLS

    protocol = PROTOCOLS.get(entry.default_preset.protocol)
    native = entry.native_shape()
    rule = f"; frames = {entry.frames_rule}" if entry.frames_rule else ""
    target = f"protocol {protocol.name} ({protocol.num_frames} frames at {protocol.height}x{protocol.width})"
    if native is None:
        click.echo(f"  native: the pipeline's own defaults, read from the folder when loaded{rule}")
        click.echo(f"  {target}: {RULE}")
    else:
        click.echo(f"  native: {native[0]} frames at {native[1]}x{native[2]}{rule}")
        click.echo(f"  {target}: {describe(native, protocol)}")
    click.echo("  compile: " + ("yes (--compile; on by default on CUDA)" if entry.compiles else "no (renders eager)"))


@main.command("bench")
@generator_options
@click.option("--device", default=None, help="torch device [default: cuda if available, else cpu].")
@click.option("--batch-sizes", default="1,8", show_default=True, help="Videos per generator call to time, comma-separated.")
@click.option("--compile/--no-compile", "compile_", default=False, show_default=True,
              help="torch.compile the denoiser and VAE decoder where the generator supports it (the first call "
                   "compiles; its time is reported separately).")
@click.option("--iters", type=click.IntRange(1, 1000), default=5, show_default=True, help="Timed repetitions.")
@click.option("--no-detectors", is_flag=True, help="Skip the I3D/C3D throughput rows.")
@click.option("--memory-batch-sizes", default="1,8,16,32", show_default=True,
              help="GPU only: videos per call at which one eager UNet call's peak memory is measured (comma-separated; "
                   "empty to skip); gives the largest batch for 24 GB and 80 GB cards.")
@click.option("--detectors", "detector_names", default=None, metavar="NAME[,NAME...]",
              help="Time only these registered detectors ('all': every one), each at its own clip length and input "
                   "resolution on its full-size network with random weights; no generator is built.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True,
              help="With --detectors: videos per detector call.")
@click.option("--clip-size", type=click.IntRange(1), default=None,
              help="With --detectors: frame size of the timed clips [default: each detector's input resolution].")
@click.option("--flops-only", is_flag=True,
              help="With --detectors: count each detector's FLOP per video (torch's counter) without timing it; runs "
                   "on any machine.")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Time whole videos at this many sampling steps and project them to the settings' own count with "
                   "the timed denoiser call (for models whose whole video outlasts a GPU session).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the JSON here.")
def bench_cmd(generator_name, model, preset, settings_name, precision, device, batch_sizes, compile_, iters,
              no_detectors, memory_batch_sizes, detector_names, batch_size, clip_size, flops_only, steps, out) -> None:
    """Time any generator's denoiser calls, VAE decode and whole videos, detectors and video I/O; project 10K cost.

    Without --preset: the preset reading --model if given, else the first with random weights (vidrd: full-random).
    With --detectors: only those detectors' throughput (videos/s, ms per batch, peak memory, time for 10K videos).
    """
    from vidrd_bench.runners.bench import BenchOptions, format_bench, run_bench
    from vidrd_bench.runners.detector_bench import detector_names as parse_names
    from vidrd_bench.runners.detector_bench import format_detector_bench, run_detector_bench
    from vidrd_bench.core.io import check_output_file, save_or_rescue, write_json_atomic

    if flops_only and detector_names is None:
        raise click.UsageError("--flops-only counts detectors' FLOP: name them with --detectors NAME[,NAME...] or "
                               "--detectors all.")
    if out:
        check_output_file(out)
    if detector_names is not None:
        result = run_detector_bench(parse_names(detector_names), device, batch_size, iters, clip_size, flops_only)
        click.echo(format_detector_bench(result))
    else:
        sizes = positive_ints(batch_sizes, "--batch-sizes")
        memory_sizes = positive_ints(memory_batch_sizes, "--memory-batch-sizes") if memory_batch_sizes else ()
        result = run_bench(BenchOptions(generator=generator_name, preset=preset, settings=settings_name,
                                        model=None if model is None else str(model), device=device,
                                        batch_sizes=sizes, compile=compile_, iters=iters, detectors=not no_detectors,
                                        memory_batch_sizes=memory_sizes, precision=precision, steps=steps))
        click.echo(format_bench(result))
    if out:
        save_or_rescue(out, lambda p: write_json_atomic(p, result), "the table printed above")
        click.echo(f"wrote {out}")


@main.command("generate")
@click.option("--dataset", default="ucf101", show_default=True,
              help="Evaluation set whose class distribution and prompts are used (ucf101), or whose test captions "
                   "are the prompts (msrvtt, with --captions).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder: run.json, manifest.jsonl and videos/; re-running into it resumes the run "
                   "[default: runs/<dataset>].")
@click.option("--num-videos", type=click.IntRange(1), default=None,
              help="Videos in the plan, allotted to classes in proportion to the train split "
                   "[default: the protocol's, 10000 for ucf101-vidrd, 24 for tiny-smoke].")
@generator_options
@click.option("--protocol", "protocol_name", default=None, metavar="NAME",
              help="Evaluation protocol (videos, size, frames, fps, seeds) [default: the preset's: ucf101-vidrd, "
                   "or tiny-smoke for tiny presets].")
@WEIGHTS_DIR_OPTION
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True,
              help="Videos per generator call (16: the fastest measured on an H100/H200).")
@click.option("--shard", default=None, metavar="I/N",
              help="Render only block I of N of the plan (0 <= I < N), e.g. one SLURM array task each; the N "
                   "shards together render the plan once and merge in the same --out folder.")
@click.option("--plan-only", is_flag=True, help="Write run.json and the full plan (manifest.jsonl) without rendering.")
@click.option("--prompts", "prompts_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Your own prompts JSON: {class name: prompt or [prompts to rotate]} covering every class "
                   "[default: the shipped prompts/ucf101.json].")
@click.option("--captions", "captions_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="--dataset msrvtt: the MSR-VTT annotation file (the release's test_videodatainfo.json or "
                   "MSRVTT_data.json) whose test captions are the prompts; never downloaded.")
@click.option("--device", default=None,
              help="torch device [default: cuda (cuda:LOCAL_RANK under torchrun) if available, else cpu].")
@click.option("--compile/--no-compile", "compile_", default=None,
              help="torch.compile the denoiser and VAE decoder (VidRD: first compile ~2.5 min, cached on disk; then "
                   "~2x faster) [default: on for CUDA, for generators that compile].")
@click.option("--allow-partial", is_flag=True,
              help="Load checkpoints that miss some expected tensors (the rest keep SD 2.1 / fresh values); the "
                   "default refuses, naming the missing keys.")
def generate(dataset: str, out_dir: Path | None, num_videos: int | None, generator_name: str, model: Path | None,
             preset: str | None, settings_name: str | None, precision: str, protocol_name: str | None,
             weights_dir: Path | None, batch_size: int, shard: str | None, plan_only: bool,
             prompts_file: Path | None, captions_file: Path | None, device: str | None, compile_: bool | None,
             allow_partial: bool) -> None:
    """Render the evaluation videos: the plan's classes, prompts and seeds through a registered generator.

    Each video is written atomically as a lossless mp4 (libx264rgb, crf 0) and recorded with its sha256
    in the manifest; re-running the same command skips finished videos and re-does partial ones.
    On several GPUs launch one process per GPU, each rendering its own block of the plan:

    \b
      torchrun --nproc-per-node 8 --no-python vidrd-bench generate --out runs/ucf101
    """
    from vidrd_bench.runners.generate import render_settings, run_generate
    from vidrd_bench.generators import GENERATORS

    prompts_file = source_file(dataset, prompts_file, captions_file)
    if not plan_only:
        compiles = GENERATORS.get(generator_name).compiles
        settings = render_settings(device, compile_, batch_size, compiles, precision)
        announce_device(device, settings["dtype"])
        if compile_ and not compiles:
            click.echo(f"note: the {generator_name} generator renders eager (it has no torch.compile path); "
                       "--compile is ignored and run.json records compile false", err=True)
        if settings["compile"]:
            click.echo("torch.compile: the first batch compiles the UNet and VAE decoder, ~2.5 min the first time "
                       "(cached for later runs; --no-compile skips it)", err=True)
    result = run_generate(dataset=dataset, out_dir=out_dir, num_videos=num_videos, generator=generator_name,
                          preset=preset, settings=settings_name, protocol_name=protocol_name, model=model,
                          weights_dir=weights_dir, batch_size=batch_size, shard=shard,
                          plan_only=plan_only, prompts_file=prompts_file, device=device, compile=compile_,
                          allow_partial=allow_partial, precision=precision)
    if plan_only:
        click.echo(f"planned {result.planned} videos in {result.manifest}")
    else:
        adopted = f" ({result.adopted} adopted from an interrupted run)" if result.adopted else ""
        click.echo(f"shard {result.shard}: rendered {result.rendered}, already done {result.skipped}{adopted} "
                   f"of {result.planned} videos; manifest {result.manifest}")


def source_file(dataset: str, prompts_file: Path | None, captions_file: Path | None) -> Path | None:
    """The file the plan reads: --captions for a captioned set (msrvtt), --prompts for a class-conditioned one."""
    captioned = isinstance(DATASETS.get(dataset), CaptionDataset)
    wrong = prompts_file if captioned else captions_file
    if wrong is not None:
        given, wanted = ("--prompts", "--captions") if captioned else ("--captions", "--prompts")
        raise VidrdBenchError(f"{given} does not apply to --dataset {dataset}: its plan reads {wanted} "
                              f"({'the MSR-VTT test annotations' if captioned else 'a prompts JSON per class'}).")
    return captions_file if captioned else prompts_file


@main.command("smoke")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("smoke_out"),
              show_default=True, help="Folder for every smoke output (videos, stats, results, table, reports).")
@click.option("--num-videos", type=click.IntRange(10, 240), default=12, show_default=True,
              help="Tiny videos to render (at least 10: IS uses 10 splits).")
@click.option("--device", default="cpu", show_default=True, help="torch device.")
def smoke_cmd(out_dir: Path, num_videos: int, device: str) -> None:
    """The built-in default: the whole pipeline on tiny random-weight models on the CPU (about a minute).

    prompts -> videos on disk -> features -> FVD and IS -> table -> CI report. A plumbing check:
    every number it prints is labelled as a smoke run, NOT a score.
    """
    from vidrd_bench.core.io import check_output_dir
    from vidrd_bench.runners.smoke import BANNER, run_smoke

    check_output_dir(out_dir)
    click.echo(click.style(BANNER, fg="yellow", bold=True))
    result = run_smoke(out_dir, num_videos=num_videos, device=device)
    click.echo("")
    click.echo(result.table.read_text(encoding="utf-8"))
    click.echo(click.style(BANNER, fg="yellow", bold=True))
    click.echo(f"\nvideos + manifest: {result.run_dir}\nresults: {result.fvd}, {result.is_}\n"
               f"table: {result.table}\nCI report: {result.report_md}, {result.junit}\n"
               f"HTML report: {result.html}\ncontact sheet: {result.contact_sheet}")
