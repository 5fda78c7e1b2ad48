"""The `vidrd-bench` group, its error handling, and the options and helpers its commands share."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from vidrd_bench import __version__
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.precisions import DEFAULT_PRECISION, PRECISIONS

WEIGHTS_DIR_OPTION = click.option(
    "--weights-dir",
    envvar="VIDRD_BENCH_WEIGHTS",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding model and detector files [env VIDRD_BENCH_WEIGHTS; default ~/.cache/vidrd-bench/weights].",
)


INTERRUPTED_EXIT = 130  # 128 + SIGINT, the shell's convention (1 is `report`'s regression code)
INTERRUPTED = ("interrupted (Ctrl-C). Nothing finished is lost: repeat the same command to go on. `generate` resumes "
               "where it stopped (finished videos are kept and verified); `stats`, `score` and `calibrate` start "
               "again, taking every clip already decoded from the features cache; results are written only whole.")


class FriendlyGroup(click.Group):
    """A click group that turns VidrdBenchError into a one-paragraph message and a non-zero exit, and Ctrl-C into
    exit 130 with how to go on."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VidrdBenchError as e:
            click.echo(click.style("error: ", fg="red", bold=True) + str(e), err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo(INTERRUPTED, err=True)
            sys.exit(INTERRUPTED_EXIT)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vidrd-bench")
def main() -> None:
    """vidrd-bench: the VidRD UCF-101 text-to-video benchmark.

    Generate the 10K UCF-101 evaluation videos with the VidRD generator, score them with FVD (I3D)
    and IS (C3D) under named, frozen protocols, and turn the results into comparison tables and CI
    regression reports. Weights are never downloaded: see `vidrd-bench weights`.
    """


TRUST_DETECTOR_OPTION = click.option(
    "--trust-detector", is_flag=True,
    help="Load a TorchScript detector file whose sha256 vidrd-bench does not know: TorchScript is a program and runs "
         "with your permissions, so only pass this for a file from a source you trust [env "
         "VIDRD_BENCH_TRUST_DETECTOR=1].")


def trusting(fn):
    """Add --trust-detector to a command: its body runs with untrusted detector programs allowed when it is given."""

    @functools.wraps(fn)
    def command(*args, trust_detector: bool = False, **kwargs):
        """The command's body, with detector programs trusted when --trust-detector was given."""
        from vidrd_bench.metrics.detectors.base import trusting_detectors

        with trusting_detectors(trust_detector):
            return fn(*args, **kwargs)

    return TRUST_DETECTOR_OPTION(command)


def detector_options(fn):
    """Options shared by `score METRIC`, `stats` and `calibrate`: detector files (and --trust-detector), batching,
    device, cache (extraction_options reads them)."""
    for option in reversed([
        click.option("--detector-weights", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                     help="The detector file itself (overrides the one under --weights-dir)."),
        WEIGHTS_DIR_OPTION,
        click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True, help="Videos per call."),
        click.option("--num-workers", type=click.IntRange(0), default=None,
                     help="Decode worker processes feeding the detector [default: the CPU cores this process may "
                          "use, at most 8; more than those are capped with a note]."),
        click.option("--device", default=None, help="torch device [default: cuda if available, else cpu]."),
        click.option("--no-progress", is_flag=True, help="Hide the progress bar."),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Features cache, one entry per (video set, detector, clip rule) [env VIDRD_BENCH_CACHE; "
                          "default ~/.cache/vidrd-bench/features]."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the features cache."),
        TRUST_DETECTOR_OPTION,
    ]):
        fn = option(fn)
    return fn


def score_options(fn):
    """Options shared by every `score METRIC`: the generated videos, bootstrap, partial runs, output
    (scoring_options reads them)."""
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


def extraction_options(opts: dict):
    """Pop the `detector_options` of a command's keyword arguments into one ExtractionOptions."""
    from vidrd_bench.core.resources import decode_workers
    from vidrd_bench.metrics.extract import ExtractionOptions

    no_cache, cache_dir = opts.pop("no_cache"), opts.pop("cache_dir")
    return ExtractionOptions(weights_dir=opts.pop("weights_dir"), detector_path=opts.pop("detector_weights"),
                             device=opts.pop("device"), batch_size=opts.pop("batch_size"),
                             num_workers=decode_workers(opts.pop("num_workers")), progress=not opts.pop("no_progress"),
                             cache_dir=False if no_cache else cache_dir, trust_detector=opts.pop("trust_detector"))


def scoring_options(opts: dict):
    """Pop the scoring knobs a command has (`score_options`, --split-file, --no-per-class, ...) into ScoreOptions."""
    from vidrd_bench.runners.score import ScoreOptions

    defaults = ScoreOptions()
    return ScoreOptions(bootstrap=opts.pop("bootstrap", defaults.bootstrap), seed=opts.pop("seed", defaults.seed),
                        out_path=opts.pop("out", None), per_class=not opts.pop("no_per_class", False),
                        allow_incomplete=opts.pop("allow_incomplete", False), labels=opts.pop("labels", None),
                        name=opts.pop("name", ""), allow_fewer=opts.pop("allow_fewer", False),
                        split_file=opts.pop("split_file", None))


def save_text(out: Path, text: str) -> None:
    """Write a command's text output; if the write fails after the work, print the text, then the error."""
    from vidrd_bench.core.errors import OutputError
    from vidrd_bench.core.io import save_or_rescue, write_text_atomic

    try:
        save_or_rescue(out, lambda p: write_text_atomic(p, text), "printed to standard output above")
    except OutputError:
        click.echo(text, nl=False)
        raise


def announce_device(device: str | None, dtype: str):
    """Pick the device (a clear error when CUDA cannot start) and say on stderr where and how the work runs."""
    from vidrd_bench.datasets.video import video_backend
    from vidrd_bench.core.devices import describe_device, pick_device

    dev = pick_device(device)
    click.echo(f"running on {describe_device(dev, dtype)}; video decoding with {video_backend()}", err=True)
    return dev


def generator_options(fn):
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
                          "the UNet's feed-forward linears as FP8 GEMMs with calibrated static scales, never the "
                          "protocol: its calibration and its agreement to bf16 on 2 whole videos are recorded with "
                          "every result (speed: README, Performance)."),
    ]):
        fn = option(fn)
    return fn


def echo_record(record, title: str, out: Path | None) -> None:
    """Print a score under its metric's title with its interval and provenance (rank 0 only; other ranks return
    None)."""
    if record is None:
        return
    ci = f"  [{record.ci_low:.2f}, {record.ci_high:.2f}] ({record.ci_level:.0%} CI)" if record.ci_low is not None else ""
    std = f" +- {record.std:.2f} (std over splits)" if record.std is not None else ""
    click.echo(f"{title} = {record.value:.2f}{std}{ci}  n={record.n}  protocol={record.protocol['name']}")
    click.echo("detector files: " + ", ".join(f"{k} sha256 {v[:16]}..." for k, v in record.weights.items()))
    if record.smoke:
        click.echo(click.style("random-weight detector: a smoke-test number, not comparable to published results",
                               fg="yellow"))
    if out:
        click.echo(f"wrote {out}")


def positive_ints(text: str, option: str) -> tuple[int, ...]:
    """A comma-separated list of positive integers, or a usage error naming the option."""
    try:
        values = tuple(int(b) for b in text.split(","))
    except ValueError:
        values = ()
    if not values or any(b <= 0 for b in values):
        raise click.BadParameter(f"{text!r} is not a comma-separated list of positive integers", param_hint=option)
    return values
