"""The `vidrd-bench` command line: a thin click layer over one module per concern."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from vidrd_bench import __version__
from vidrd_bench.errors import VidrdBenchError
from vidrd_bench.precisions import DEFAULT_PRECISION, PRECISIONS
from vidrd_bench.protocols import DEFAULT_FVD, DEFAULT_IS, FVDProtocol, ISProtocol, metric_protocols

WEIGHTS_DIR_OPTION = click.option(
    "--weights-dir",
    envvar="VIDRD_BENCH_WEIGHTS",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding model and detector files [env VIDRD_BENCH_WEIGHTS; default ~/.cache/vidrd-bench/weights].",
)


class FriendlyGroup(click.Group):
    """A click group that turns VidrdBenchError into a one-paragraph message and a non-zero exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VidrdBenchError as e:
            click.echo(click.style("error: ", fg="red", bold=True) + str(e), err=True)
            sys.exit(e.exit_code)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vidrd-bench")
def main() -> None:
    """vidrd-bench: the VidRD UCF-101 text-to-video benchmark.

    Generate the 10K UCF-101 evaluation videos with the VidRD generator, score them with FVD (I3D)
    and IS (C3D) under named, frozen protocols, and turn the results into comparison tables and CI
    regression reports. Weights are never downloaded: see `vidrd-bench weights`.
    """


def _detector_options(fn):
    """Options shared by `score fvd`, `score is` and `stats`: detector files, batching, device."""
    for option in reversed([
        click.option("--detector-weights", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                     help="The detector file itself (overrides the one under --weights-dir)."),
        WEIGHTS_DIR_OPTION,
        click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True, help="Videos per call."),
        click.option("--num-workers", type=click.IntRange(0), default=4, show_default=True,
                     help="Decode worker processes feeding the detector."),
        click.option("--device", default=None, help="torch device [default: cuda if available, else cpu]."),
        click.option("--no-progress", is_flag=True, help="Hide the progress bar."),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Features cache, one entry per (video set, detector, clip rule) [env VIDRD_BENCH_CACHE; "
                          "default ~/.cache/vidrd-bench/features]."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the features cache."),
    ]):
        fn = option(fn)
    return fn


def _score_options(fn):
    """Options shared by `score fvd` and `score is`: the generated videos, bootstrap, partial runs, output."""
    for option in reversed([
        click.option("--fake", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help="The --out folder of `vidrd-bench generate` (manifest.jsonl; your own videos at a "
                          "--plan-only plan's paths count), or any folder of videos: mp4, avi, mov, webm, mkv, gif "
                          "files or folders of frames."),
        click.option("--labels", default=None, metavar="CSV|JSONL|PATTERN",
                     help="Classes of a plain --fake folder: a CSV `path,class`, a JSON-lines manifest (path, class), "
                          "'ucf101' (v_<Class>_gXX_cYY names), 'folder' (<Class>/<video>) or a regex with "
                          "(?P<class>...). Without labels: no per-class FVD. Plain folders are scored in a seeded "
                          "shuffle (IS splits never follow file-name order); the record says so."),
        click.option("--name", default="", help="Name of this run in tables and report titles [default: the folder's]."),
        click.option("--bootstrap", type=click.IntRange(0), default=100, show_default=True,
                     help="Bootstrap resamples for the confidence interval (0: none)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resampling."),
        click.option("--allow-incomplete", is_flag=True, help="Score the finished videos of an unfinished run."),
        click.option("--allow-fewer", is_flag=True,
                     help="With fewer videos than the protocol takes, score under a derived protocol of another "
                          "name (marked not comparable) instead of refusing."),
        click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Write the JSON result here."),
    ]):
        fn = option(fn)
    return fn


def _save_text(out: Path, text: str) -> None:
    """Write a command's text output; if the write fails after the work, print the text, then the error."""
    from vidrd_bench.errors import OutputError
    from vidrd_bench.io import save_or_rescue, write_text_atomic

    try:
        save_or_rescue(out, lambda p: write_text_atomic(p, text), "printed to standard output above")
    except OutputError:
        click.echo(text, nl=False)
        raise


def _announce_device(device: str | None, dtype: str):
    """Pick the device (a clear error when CUDA cannot start) and say on stderr where and how the work runs."""
    from vidrd_bench.datasets.video import video_backend
    from vidrd_bench.devices import describe_device, pick_device

    dev = pick_device(device)
    click.echo(f"running on {describe_device(dev, dtype)}; video decoding with {video_backend()}", err=True)
    return dev


def _generator_options(fn):
    """Options shared by `generate` and `bench`: which registered generator, its model folder, preset and settings."""
    for option in reversed([
        click.option("--generator", "generator_name", default="vidrd", show_default=True, metavar="NAME",
                     help="The text-to-video model (`vidrd-bench generators` lists them and what each needs)."),
        click.option("--model", type=click.Path(exists=True, path_type=Path), default=None,
                     help="The generator's model: a diffusers pipeline folder (model_index.json) for the diffusers "
                          "generators; VidRD reads --weights-dir instead."),
        click.option("--preset", default=None, metavar="NAME",
                     help="The generator's preset; vidrd: full (the VidRD weights from --weights-dir), full-random "
                          "(random weights, timing only), tiny (small random model for CPU smoke runs); diffusers "
                          "generators: model (--model DIR), tiny."),
        click.option("--settings", "settings_name", default=None, metavar="NAME",
                     help="The generator's named settings (steps, guidance, sampler) [default: the preset's]."),
        click.option("--precision", type=click.Choice(PRECISIONS.names()), default=DEFAULT_PRECISION,
                     show_default=True,
                     help="Numeric precision: bf16 is the protocol's; fp8-e4m3 (VidRD on H100/H200-class GPUs) runs "
                          "the UNet's transformer linears as FP8 GEMMs, never the protocol: its agreement to bf16 on "
                          "2 whole videos is measured and recorded with every result (measured slower than bf16 on "
                          "an H200: README, Performance)."),
    ]):
        fn = option(fn)
    return fn


def _echo_record(record, out: Path | None) -> None:
    """Print a score with its interval and provenance (rank 0 only; other ranks return None)."""
    if record is None:
        return
    ci = f"  [{record.ci_low:.2f}, {record.ci_high:.2f}] ({record.ci_level:.0%} CI)" if record.ci_low is not None else ""
    std = f" +- {record.std:.2f} (std over splits)" if record.std is not None else ""
    click.echo(f"{record.metric.upper()} = {record.value:.2f}{std}{ci}  n={record.n}  protocol={record.protocol['name']}")
    click.echo("detector files: " + ", ".join(f"{k} sha256 {v[:16]}..." for k, v in record.weights.items()))
    if record.smoke:
        click.echo(click.style("random-weight detector: a smoke-test number, not comparable to published results",
                               fg="yellow"))
    if out:
        click.echo(f"wrote {out}")


@main.command("weights")
@WEIGHTS_DIR_OPTION
@click.option("--no-hash", is_flag=True, help="Skip sha256 of present files (faster on large checkpoints).")
@click.option("--check", "check", multiple=True, metavar="NAME",
              help="Exit 1 unless every file NAME needs is present: a scoring protocol (fvd-ucf101-10k), a generator "
                   "(vidrd) or GENERATOR:PRESET (vidrd:full); repeatable.")
def weights_cmd(weights_dir: Path | None, no_hash: bool, check: tuple[str, ...]) -> None:
    """List the model and detector files each generator and scoring protocol needs, which are present, and where."""
    from vidrd_bench import weights

    root = weights.weights_dir(weights_dir)
    from vidrd_bench.datasets.video import video_backend

    click.echo(f"weights folder: {root}  ({'exists' if root.is_dir() else 'does not exist'})")
    decoder = ("decord (PyAV for GIF and files decord cannot read)" if video_backend() == "decord" else
               "PyAV (decord is not installed: it has no wheel for this platform; $VIDRD_BENCH_VIDEO_BACKEND=pyav "
               "also chooses it)")
    click.echo(f"video decoding: {decoder}")
    click.echo(f"  chosen by --weights-dir, else ${weights.ENV_VAR}, else {weights.DEFAULT_DIR}\n")
    rows = weights.status(root, with_hash=not no_hash)
    by_name = {r.name: r for r in rows}
    needs = weights.needed_by()
    for user, names in needs.items():
        kind = "protocol" if user in weights.PROTOCOL_WEIGHTS else "generator"
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
        if weights.needs_of(name) is None:
            raise VidrdBenchError(f"--check {name!r}: nothing of that name needs files here; known: "
                                  f"{', '.join(needs)} (evaluation protocols need none: check the generator, e.g. "
                                  "vidrd; diffusers generators read --model).")
        absent = [n for n in weights.needs_of(name) if not by_name[n].present]
        if absent:
            raise VidrdBenchError(f"{name} cannot run: {', '.join(absent)} missing under {root} (guidance listed above).")
        weights.verify_loads(name, root)
        click.echo(f"{name}: every file it needs is present and loads")


@main.command("generators")
@click.option("--save-tiny", "save_tiny", default=None, metavar="NAME",
              help="Save NAME's tiny random diffusers pipeline (diffusers layout) to --out, for trying --model.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder for --save-tiny.")
def generators_cmd(save_tiny: str | None, out: Path | None) -> None:
    """List the registered text-to-video generators: presets, settings, and what each needs."""
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


def _positive_ints(text: str, option: str) -> tuple[int, ...]:
    """A comma-separated list of positive integers, or a usage error naming the option."""
    try:
        values = tuple(int(b) for b in text.split(","))
    except ValueError:
        values = ()
    if not values or any(b <= 0 for b in values):
        raise click.BadParameter(f"{text!r} is not a comma-separated list of positive integers", param_hint=option)
    return values


@main.command("bench")
@_generator_options
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
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the JSON here.")
def bench_cmd(generator_name, model, preset, settings_name, precision, device, batch_sizes, compile_, iters,
              no_detectors, memory_batch_sizes, out) -> None:
    """Time any generator's denoiser calls, VAE decode and whole videos, detectors and video I/O; project 10K cost.

    Without --preset: the preset reading --model if given, else the first with random weights (vidrd: full-random).
    """
    from vidrd_bench.bench import format_bench, run_bench
    from vidrd_bench.io import check_output_file, save_or_rescue, write_json_atomic

    if out:
        check_output_file(out)
    sizes = _positive_ints(batch_sizes, "--batch-sizes")
    memory_sizes = _positive_ints(memory_batch_sizes, "--memory-batch-sizes") if memory_batch_sizes else ()
    result = run_bench(generator=generator_name, preset=preset, settings=settings_name,
                       model=None if model is None else str(model), device=device, batch_sizes=sizes, compile=compile_,
                       iters=iters, detectors=not no_detectors, memory_batch_sizes=memory_sizes, precision=precision)
    click.echo(format_bench(result))
    if out:
        save_or_rescue(out, lambda p: write_json_atomic(p, result), "the table printed above")
        click.echo(f"wrote {out}")


@main.group("score")
def score_group() -> None:
    """Score generated videos: FVD (I3D, against real UCF-101 statistics) and IS (C3D fine-tuned on UCF-101)."""


@score_group.command("fvd")
@click.option("--real", required=True, type=click.Path(exists=True, path_type=Path),
              help="Real-video statistics file (.npz from `vidrd-bench stats`) or a folder of real videos.")
@click.option("--protocol", default=DEFAULT_FVD, show_default=True,
              help=f"FVD protocol, one of: {', '.join(p.name for p in metric_protocols(FVDProtocol))} (README, Protocols).")
@click.option("--split-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With --real a folder: the official split file naming the real videos [default: the protocol's, "
                   "found under --real].")
@_detector_options
@_score_options
@click.option("--no-per-class", is_flag=True, help="Skip per-class FVD.")
def score_fvd_cmd(real, fake, labels, name, protocol, split_file, detector_weights, weights_dir, batch_size,
                  num_workers, device, no_progress, cache_dir, no_cache, bootstrap, seed, no_per_class,
                  allow_incomplete, allow_fewer, out) -> None:
    """Frechet Video Distance of the generated videos in --fake against --real."""
    from vidrd_bench.score import score_fvd

    record = score_fvd(real, fake, protocol=protocol, weights_dir=weights_dir, detector_path=detector_weights,
                       device=_announce_device(device, "float32"), batch_size=batch_size, num_workers=num_workers,
                       bootstrap=bootstrap,
                       seed=seed, out_path=out, per_class=not no_per_class, allow_incomplete=allow_incomplete,
                       progress=not no_progress, labels=labels, name=name,
                       cache_dir=False if no_cache else cache_dir, allow_fewer=allow_fewer, split_file=split_file)
    _echo_record(record, out)


@score_group.command("is")
@click.option("--protocol", default=DEFAULT_IS, show_default=True,
              help=f"IS protocol, one of: {', '.join(p.name for p in metric_protocols(ISProtocol))} (README, Protocols).")
@_detector_options
@_score_options
def score_is_cmd(fake, labels, name, protocol, detector_weights, weights_dir, batch_size, num_workers, device,
                 no_progress, cache_dir, no_cache, bootstrap, seed, allow_incomplete, allow_fewer, out) -> None:
    """Inception Score (C3D) of the generated videos in --fake, split and aggregated as the protocol says."""
    from vidrd_bench.score import score_is

    record = score_is(fake, protocol=protocol, weights_dir=weights_dir, detector_path=detector_weights,
                      device=_announce_device(device, "float32"), batch_size=batch_size, num_workers=num_workers,
                      bootstrap=bootstrap,
                      seed=seed, out_path=out, allow_incomplete=allow_incomplete, progress=not no_progress,
                      labels=labels, name=name, cache_dir=False if no_cache else cache_dir, allow_fewer=allow_fewer)
    _echo_record(record, out)


@main.command("stats")
@click.argument("dataset", type=click.Choice(["ucf101"]))
@click.option("--videos", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the real videos (UCF-101/ with v_<Class>_gXX_cYY.avi files).")
@click.option("--split-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="trainlist01.txt: use only the videos it names [default: the protocol's split, found under --videos].")
@click.option("--size", type=click.IntRange(8), default=256, show_default=True,
              help="Resize real frames to SIZE x SIZE: the resolution of the generated videos.")
@click.option("--protocol", default=DEFAULT_FVD, show_default=True, help="FVD protocol the statistics are for.")
@_detector_options
@click.option("--allow-fewer", is_flag=True,
              help="With fewer real videos than the protocol takes, write statistics of a derived protocol.")
@click.option("--no-features", is_flag=True,
              help="Store only mu/sigma (no per-video features: no per-class FVD from this file).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Statistics file [default: ./<dataset>_train_<protocol>_<size>px.npz].")
def stats_cmd(dataset, videos, split_file, size, protocol, detector_weights, weights_dir, batch_size, num_workers,
              device, no_progress, cache_dir, no_cache, allow_fewer, no_features, out) -> None:
    """Compute real-video feature statistics (mu, sigma, per-class features) for FVD."""
    from vidrd_bench.score import compute_real_stats, default_stats_path

    out = out or default_stats_path(dataset, protocol, size)
    stats = compute_real_stats(videos, dataset=dataset, protocol=protocol, weights_dir=weights_dir,
                               device=device, batch_size=batch_size, num_workers=num_workers, out_path=out,
                               size=size, split_file=split_file, detector_path=detector_weights,
                               keep_features=not no_features, progress=not no_progress,
                               cache_dir=False if no_cache else cache_dir, allow_fewer=allow_fewer)
    if stats is not None:
        click.echo(f"{stats.count} videos ({stats.extra['skipped_short']} too short, discarded); {stats.source}")
        click.echo(f"wrote {out}")


@main.command("calibrate")
@click.option("--real", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of real videos (used as given, or filtered by --split-file).")
@click.option("--fake", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The --out folder of `vidrd-bench generate`, or any folder of .mp4 files.")
@click.option("--split-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Official split file naming the real videos to use (e.g. trainlist01.txt).")
@click.option("--tiny-detectors", is_flag=True,
              help="Run every protocol's conventions on the tiny random-weight I3D/C3D (smoke; no weight files).")
@_detector_options
@click.option("--bootstrap", type=click.IntRange(0), default=50, show_default=True,
              help="Bootstrap resamples per protocol for the 95% CI (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of bootstrap, FVD@N subsets and halves.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the calibration record (JSON) here.")
def calibrate_cmd(real, fake, split_file, tiny_detectors, detector_weights, weights_dir, batch_size, num_workers,
                  device, no_progress, cache_dir, no_cache, bootstrap, seed, out) -> None:
    """Every registered FVD and IS protocol on --real/--fake: value, 95% CI, n, difference to the default;
    FVD@N, FVD_inf and the real-vs-real floor. Why your number is not the paper's, in one table."""
    from vidrd_bench.calibrate import calibrate, format_calibration

    if detector_weights is not None:
        raise VidrdBenchError("calibrate runs several detectors; place their files under --weights-dir instead of "
                              "passing --detector-weights.")
    cal = calibrate(real, fake, tiny=tiny_detectors, weights_dir=weights_dir, device=device, batch_size=batch_size,
                    num_workers=num_workers, bootstrap=bootstrap, seed=seed,
                    cache_dir=False if no_cache else cache_dir, split_file=split_file, out_path=out,
                    progress=not no_progress)
    if cal is not None:
        click.echo(format_calibration(cal))
        if out:
            click.echo(f"wrote {out}")


@main.command("generate")
@click.option("--dataset", default="ucf101", show_default=True,
              help="Evaluation set whose class distribution and prompts are used.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder: run.json, manifest.jsonl and videos/; re-running into it resumes the run "
                   "[default: runs/<dataset>].")
@click.option("--num-videos", type=click.IntRange(1), default=None,
              help="Videos in the plan, allotted to classes in proportion to the train split "
                   "[default: the protocol's, 10000 for ucf101-vidrd, 24 for tiny-smoke].")
@_generator_options
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
@click.option("--device", default=None,
              help="torch device [default: cuda (cuda:LOCAL_RANK under torchrun) if available, else cpu].")
@click.option("--compile/--no-compile", "compile_", default=None,
              help="torch.compile the UNet and VAE decoder (first compile ~2.5 min, cached on disk; then ~2x faster) "
                   "[default: on for CUDA].")
@click.option("--allow-partial", is_flag=True,
              help="Load checkpoints that miss some expected tensors (the rest keep SD 2.1 / fresh values); the "
                   "default refuses, naming the missing keys.")
def generate(dataset: str, out_dir: Path | None, num_videos: int | None, generator_name: str, model: Path | None,
             preset: str | None, settings_name: str | None, precision: str, protocol_name: str | None,
             weights_dir: Path | None, batch_size: int, shard: str | None, plan_only: bool,
             prompts_file: Path | None, device: str | None, compile_: bool | None, allow_partial: bool) -> None:
    """Render the evaluation videos: the plan's classes, prompts and seeds through a registered generator.

    Each video is written atomically as a lossless mp4 (libx264rgb, crf 0) and recorded with its sha256
    in the manifest; re-running the same command skips finished videos and re-does partial ones.
    On several GPUs launch one process per GPU, each rendering its own block of the plan:

    \b
      torchrun --nproc-per-node 8 --no-python vidrd-bench generate --out runs/ucf101
    """
    from vidrd_bench.generate import render_settings, run_generate
    from vidrd_bench.generators import GENERATORS

    if not plan_only:
        compiles = GENERATORS.get(generator_name).compiles
        settings = render_settings(device, compile_, batch_size, compiles, precision)
        _announce_device(device, settings["dtype"])
        if compile_ and not compiles:
            click.echo(f"note: the {generator_name} generator renders eager (vidrd-bench compiles only VidRD); "
                       "--compile is ignored and run.json records compile false", err=True)
        if settings["compile"]:
            click.echo("torch.compile: the first batch compiles the UNet and VAE decoder, ~2.5 min the first time "
                       "(cached for later runs; --no-compile skips it)", err=True)
        click.echo(f"loading the {generator_name} {preset or 'default'} preset (VidRD's full preset reads ~5 GB of "
                   "weights: ~15 s)...", err=True)
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


@main.command("table")
@click.argument("results", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "latex", "html"]), default="md", show_default=True,
              help="Output format; csv keeps raw numeric columns, the others show readable cells and footnotes.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the table here (default: print to stdout).")
@click.option("--published/--no-published", default=True, show_default=True,
              help="Include the VidRD paper's published UCF-101 rows (reference_stats/published_results.csv).")
def table_cmd(results: tuple[Path, ...], fmt: str, out: Path | None, published: bool) -> None:
    """Our runs (RESULT.json files from `score`) beside the published UCF-101 numbers, sorted by FVD."""
    from vidrd_bench.io import check_output_file
    from vidrd_bench.report.published import load_published
    from vidrd_bench.report.tables import build_table, render_table
    from vidrd_bench.results import load_results

    if out is not None:
        check_output_file(out)
    records = [rec for path in results for rec in load_results(path)]
    text = render_table(build_table(records, load_published() if published else None), fmt)
    if out is None:
        click.echo(text, nl=False)
    else:
        _save_text(out, text)
        click.echo(f"wrote {out}", err=True)


@main.command("report")
@click.option("--baseline", required=True, multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Result JSON of the accepted checkpoint (repeatable: e.g. its fvd.json and is.json).")
@click.option("--current", required=True, multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Result JSON of the checkpoint under test (repeatable, like --baseline).")
@click.option("--tolerance", "tolerances", multiple=True, metavar="METRIC=AMOUNT",
              help="Allowed worsening per metric (repeatable): fvd=5 absolute, fvd=2% relative to the baseline, "
                   "fvd=ci bootstrap intervals must overlap. Default: ci when both results have intervals, else 0.")
@click.option("--markdown", "markdown_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the markdown summary here (it is always printed to stdout).")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write JUnit XML here: one test case per metric, a failure on regression.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a self-contained HTML report (table, charts with intervals, per-class FVD, preview clips, "
                   "contact sheets).")
@click.option("--videos", "video_dirs", multiple=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Run folder(s) of generated videos for contact sheets in the HTML report (repeatable).")
@click.option("--previews", "previews_per_class", type=click.IntRange(0), default=1, show_default=True,
              help="Browser-playable preview clips (H.264) per class from each --videos folder in the HTML report.")
@click.option("--max-previews", type=click.IntRange(0), default=24, show_default=True,
              help="At most this many preview clips per --videos folder (they are embedded in the page).")
@click.option("--calibration", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="A `vidrd-bench calibrate` record: its FVD@N curve is drawn in the HTML report.")
@click.option("--published/--no-published", default=True, show_default=True,
              help="Include the published UCF-101 rows in the HTML report's table.")
def report_cmd(baseline: tuple[Path, ...], current: tuple[Path, ...], tolerances: tuple[str, ...],
               markdown_out: Path | None, junit_out: Path | None, html_out: Path | None,
               video_dirs: tuple[Path, ...], previews_per_class: int, max_previews: int, calibration: Path | None,
               published: bool) -> None:
    """CI regression report of CURRENT against BASELINE; exit 1 on regression, 2 on unusable input."""
    from vidrd_bench.io import check_output_file, save_or_rescue, write_text_atomic
    from vidrd_bench.report.html import ReportParts, report_runs, write_html_report
    from vidrd_bench.report.junit import write_junit
    from vidrd_bench.report.pictures import contact_sheet, sample_videos
    from vidrd_bench.report.plots import read_calibration
    from vidrd_bench.report.previews import make_previews
    from vidrd_bench.report.published import load_published
    from vidrd_bench.report.regression import compare_files

    for path in (markdown_out, junit_out, html_out):
        if path is not None:
            check_output_file(path)
    videos = {str(d): sample_videos(d) for d in video_dirs} if html_out is not None else {}
    started = time.perf_counter()
    report = compare_files(baseline, current, tolerances)
    summary = report.to_markdown()
    click.echo(summary, nl=False)
    verdict = "REGRESSION" if report.regressed else "no regression"
    if markdown_out is not None:
        save_or_rescue(markdown_out, lambda p: write_text_atomic(p, summary), f"{verdict}; the summary is printed above")
    if junit_out is not None:
        save_or_rescue(junit_out, lambda p: write_junit(report, p, started), f"{verdict}; the summary is printed above")
    if html_out is not None:
        parts = ReportParts(report, calibration=read_calibration(calibration) if calibration else None,
                            sheets={name: contact_sheet(chosen, title=Path(name).name)
                                    for name, chosen in videos.items()},
                            previews={name: make_previews(sample_videos(name, previews_per_class, max_previews))
                                      for name in videos if previews_per_class and max_previews})
        save_or_rescue(html_out, lambda p: write_html_report(
            p, report_runs(report), load_published() if published else None, parts,
            title=f"vidrd-bench report: {report.current_name} vs {report.baseline_name}"),
            f"{verdict}; the summary is printed above")
    if report.regressed:
        click.echo("regression beyond tolerance: exit 1", err=True)
        sys.exit(1)


@main.command("contact-sheet")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PNG file to write.")
@click.option("--per-class", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Videos per class (one row each).")
@click.option("--frames", type=click.IntRange(1, 1000), default=6, show_default=True,
              help="Evenly spaced frames per video.")
@click.option("--height", type=click.IntRange(8, 4096), default=64, show_default=True,
              help="Thumbnail height in pixels.")
def contact_sheet_cmd(run_dir: Path, out: Path, per_class: int, frames: int, height: int) -> None:
    """A PNG grid of frames from a run's videos, one row per sampled video, grouped by class."""
    from vidrd_bench.io import check_output_file
    from vidrd_bench.report.pictures import write_contact_sheet

    check_output_file(out)
    click.echo(f"wrote {write_contact_sheet(run_dir, out, per_class, frames, height)}")


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
    from vidrd_bench.io import check_output_dir
    from vidrd_bench.smoke import BANNER, run_smoke

    check_output_dir(out_dir)
    click.echo(click.style(BANNER, fg="yellow", bold=True))
    result = run_smoke(out_dir, num_videos=num_videos, device=device)
    click.echo("")
    click.echo(result.table.read_text(encoding="utf-8"))
    click.echo(click.style(BANNER, fg="yellow", bold=True))
    click.echo(f"\nvideos + manifest: {result.run_dir}\nresults: {result.fvd}, {result.is_}\n"
               f"table: {result.table}\nCI report: {result.report_md}, {result.junit}\n"
               f"HTML report: {result.html}\ncontact sheet: {result.contact_sheet}")


if __name__ == "__main__":
    main()
