"""Commands that score videos: metrics, score METRIC (one per registered metric), stats, calibrate."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from vidrd_bench.cli.base import (announce_device, detector_options, echo_record, extraction_options, main,
                                  score_options, scoring_options)
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.datasets.registry import DATASETS
from vidrd_bench.metrics.registry import METRICS, metric_specs
from vidrd_bench.metrics.spec import NEEDS, MetricSpec
from vidrd_bench.protocols import DEFAULT_FVD

SPLIT_FILE_HELP = ("With --real a folder: the official split file naming the real videos [default: the protocol's, "
                   "found under --real].")


@main.command("metrics")
def metrics_cmd() -> None:
    """List the registered metrics: what each needs, its direction and floor, and its protocols."""
    for spec in metric_specs():
        click.echo(f"{click.style(spec.name, bold=True)} ({spec.title}): {spec.summary}")
        click.echo(f"  needs: {NEEDS[spec.needs]}")
        click.echo(f"  direction: {spec.direction}; floor {spec.floor:g} (bootstrap intervals are cut there)")
        paper = f"; published rows: {spec.paper_protocol}" if spec.paper_protocol else ""
        click.echo(f"  protocol type: {spec.protocol_type.__name__}; default {spec.default_protocol}{paper}")
        click.echo(f"  --protocol: {', '.join(p.name for p in spec.protocols())}")
        click.echo(f"  run: vidrd-bench score {spec.name}")


class MetricCommands(click.Group):
    """The `score` group: one subcommand per METRICS entry, read from the registry when the command line is parsed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The registered metrics' names, in registration order."""
        return [spec.name for spec in metric_specs()]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """`score NAME` for a registered metric (None, click's 'No such command', for any other name)."""
        return score_command(METRICS.get(name)) if name in METRICS else None


@main.group("score", cls=MetricCommands)
def score_group() -> None:
    """Score generated videos: FVD (I3D, against real UCF-101 statistics) and IS (C3D fine-tuned on UCF-101), or any
    other registered metric (`vidrd-bench metrics` lists them)."""


def score_command(spec: MetricSpec) -> click.Command:
    """`vidrd-bench score NAME` for one registered metric: --real and --split-file where it needs real statistics,
    --no-per-class where it breaks its score down by class."""

    def command(protocol, **opts) -> None:
        from vidrd_bench.runners.score import score_metric

        real, fake = opts.pop("real", None), opts.pop("fake")
        model = opts.pop("model_folder", None)
        if model is not None:
            if opts.get("detector_weights") is not None:
                raise VidrdBenchError(f"Pass either {spec.model_option[0]} or --detector-weights, not both.")
            opts["detector_weights"] = model
        extraction = extraction_options(opts)
        extraction = dataclasses.replace(extraction, device=announce_device(extraction.device, "float32"))
        scoring = scoring_options(opts)
        record = score_metric(spec.name, fake, protocol, extraction, scoring, real=real)
        echo_record(record, spec.title, scoring.out_path)

    names = ", ".join(p.name for p in spec.protocols())
    options = [click.option("--protocol", default=spec.default_protocol, show_default=True,
                            help=f"{spec.title} protocol, one of: {names} (README, Protocols).")]
    if spec.needs == "real":
        options.insert(0, click.option(
            "--real", required=True, type=click.Path(exists=True, path_type=Path),
            help="Real-video statistics file (.npz from `vidrd-bench stats`) or a folder of real videos."))
        options.append(click.option("--split-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                                    default=None, help=SPLIT_FILE_HELP))
    if spec.model_option is not None:
        options.append(click.option(spec.model_option[0], "model_folder", default=None,
                                    type=click.Path(path_type=Path), help=spec.model_option[1]))
    options += [detector_options, score_options]
    if spec.per_class is not None:
        options.append(click.option("--no-per-class", is_flag=True, help=f"Skip per-class {spec.title}."))
    for option in reversed(options):
        command = option(command)
    return click.command(spec.name, help=spec.summary)(command)


@main.command("stats")
@click.argument("dataset", type=click.Choice(DATASETS.names()))
@click.option("--videos", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the real videos (UCF-101/ with v_<Class>_gXX_cYY.avi files; MSR-VTT's TestVideo/ "
                   "with video7010.mp4 ... video9999.mp4).")
@click.option("--split-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="trainlist01.txt: use only the videos it names [default: the protocol's split, found under --videos].")
@click.option("--size", type=click.IntRange(8), default=256, show_default=True,
              help="Resize real frames to SIZE x SIZE: the resolution of the generated videos.")
@click.option("--protocol", default=None,
              help=f"FVD, FID or JEDi protocol the statistics are for [default: the dataset's: {DEFAULT_FVD} for ucf101, "
                   "fvd-msrvtt-2990 for msrvtt].")
@detector_options
@click.option("--allow-fewer", is_flag=True,
              help="With fewer real videos than the protocol takes, write statistics of a derived protocol.")
@click.option("--no-features", is_flag=True,
              help="Store only mu/sigma (no per-video features: no per-class FVD from this file).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Statistics file [default: ./<dataset>_<split>_<protocol>_<size>px.npz; split: train, or test "
                   "for msrvtt].")
def stats_cmd(dataset, videos, size, protocol, no_features, **opts) -> None:
    """Compute real-video feature statistics (mu, sigma, per-class features) for FVD and JEDi, or for frame FID under
    an FID protocol (one sample per frame)."""
    from vidrd_bench.runners.score import compute_real_stats, default_stats_path

    protocol = protocol or DATASETS.get(dataset).real_protocol
    opts["out"] = opts["out"] or default_stats_path(dataset, protocol, size)
    extraction, scoring = extraction_options(opts), scoring_options(opts)
    stats = compute_real_stats(videos, protocol, extraction, scoring, dataset=dataset, size=size,
                               keep_features=not no_features)
    if stats is not None:
        click.echo(f"{stats.count} videos ({stats.extra['skipped_short']} too short, discarded); {stats.source}")
        click.echo(f"wrote {scoring.out_path}")


@main.command("calibrate")
@click.option("--real", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of real videos (used as given, or filtered by --split-file).")
@click.option("--fake", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The --out folder of `vidrd-bench generate`, or any folder of .mp4 files.")
@click.option("--split-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Official split file naming the real videos to use (e.g. trainlist01.txt).")
@click.option("--tiny-detectors", is_flag=True,
              help="Run every protocol's conventions on the tiny random-weight I3D/C3D/CLIP (smoke; no weight files).")
@click.option("--clip-model", type=click.Path(path_type=Path), default=None,
              help="Folder of a transformers CLIPModel for the CLIPSIM rows [default: its folder under --weights-dir]; "
                   "CLIPSIM scores a generate run's videos against its prompts.")
@detector_options
@click.option("--bootstrap", type=click.IntRange(0), default=50, show_default=True,
              help="Bootstrap resamples per protocol for the 95% CI (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of bootstrap, FVD@N subsets and halves.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the calibration record (JSON) here.")
def calibrate_cmd(real, fake, tiny_detectors, clip_model, **opts) -> None:
    """Every registered protocol of every metric on --real/--fake: value, 95% CI, n, difference to the default;
    FVD@N, FVD_inf and the real-vs-real floor. Why your number is not the paper's, in one table."""
    from vidrd_bench.runners.calibrate import calibrate, format_calibration

    extraction, scoring = extraction_options(opts), scoring_options(opts)
    if extraction.detector_path is not None:
        raise VidrdBenchError("calibrate runs several detectors; place their files under --weights-dir instead of "
                              "passing --detector-weights.")
    cal = calibrate(real, fake, extraction, scoring, tiny=tiny_detectors, clip_model=clip_model)
    if cal is not None:
        click.echo(format_calibration(cal))
        if scoring.out_path:
            click.echo(f"wrote {scoring.out_path}")
