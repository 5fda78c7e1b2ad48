"""Commands that score videos: score fvd, score is, stats, calibrate."""

from __future__ import annotations

from pathlib import Path

import click

from vidrd_bench.cli.base import announce_device, detector_options, echo_record, main, score_options
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.protocols import DEFAULT_FVD, DEFAULT_IS, FVDProtocol, ISProtocol, metric_protocols


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
@detector_options
@score_options
@click.option("--no-per-class", is_flag=True, help="Skip per-class FVD.")
def score_fvd_cmd(real, fake, labels, name, protocol, split_file, detector_weights, weights_dir, batch_size,
                  num_workers, device, no_progress, cache_dir, no_cache, bootstrap, seed, no_per_class,
                  allow_incomplete, allow_fewer, out) -> None:
    """Frechet Video Distance of the generated videos in --fake against --real."""
    from vidrd_bench.runners.score import score_fvd

    record = score_fvd(real, fake, protocol=protocol, weights_dir=weights_dir, detector_path=detector_weights,
                       device=announce_device(device, "float32"), batch_size=batch_size, num_workers=num_workers,
                       bootstrap=bootstrap,
                       seed=seed, out_path=out, per_class=not no_per_class, allow_incomplete=allow_incomplete,
                       progress=not no_progress, labels=labels, name=name,
                       cache_dir=False if no_cache else cache_dir, allow_fewer=allow_fewer, split_file=split_file)
    echo_record(record, out)


@score_group.command("is")
@click.option("--protocol", default=DEFAULT_IS, show_default=True,
              help=f"IS protocol, one of: {', '.join(p.name for p in metric_protocols(ISProtocol))} (README, Protocols).")
@detector_options
@score_options
def score_is_cmd(fake, labels, name, protocol, detector_weights, weights_dir, batch_size, num_workers, device,
                 no_progress, cache_dir, no_cache, bootstrap, seed, allow_incomplete, allow_fewer, out) -> None:
    """Inception Score (C3D) of the generated videos in --fake, split and aggregated as the protocol says."""
    from vidrd_bench.runners.score import score_is

    record = score_is(fake, protocol=protocol, weights_dir=weights_dir, detector_path=detector_weights,
                      device=announce_device(device, "float32"), batch_size=batch_size, num_workers=num_workers,
                      bootstrap=bootstrap,
                      seed=seed, out_path=out, allow_incomplete=allow_incomplete, progress=not no_progress,
                      labels=labels, name=name, cache_dir=False if no_cache else cache_dir, allow_fewer=allow_fewer)
    echo_record(record, out)


@main.command("stats")
@click.argument("dataset", type=click.Choice(["ucf101"]))
@click.option("--videos", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the real videos (UCF-101/ with v_<Class>_gXX_cYY.avi files).")
@click.option("--split-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="trainlist01.txt: use only the videos it names [default: the protocol's split, found under --videos].")
@click.option("--size", type=click.IntRange(8), default=256, show_default=True,
              help="Resize real frames to SIZE x SIZE: the resolution of the generated videos.")
@click.option("--protocol", default=DEFAULT_FVD, show_default=True, help="FVD protocol the statistics are for.")
@detector_options
@click.option("--allow-fewer", is_flag=True,
              help="With fewer real videos than the protocol takes, write statistics of a derived protocol.")
@click.option("--no-features", is_flag=True,
              help="Store only mu/sigma (no per-video features: no per-class FVD from this file).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Statistics file [default: ./<dataset>_train_<protocol>_<size>px.npz].")
def stats_cmd(dataset, videos, split_file, size, protocol, detector_weights, weights_dir, batch_size, num_workers,
              device, no_progress, cache_dir, no_cache, allow_fewer, no_features, out) -> None:
    """Compute real-video feature statistics (mu, sigma, per-class features) for FVD."""
    from vidrd_bench.runners.score import compute_real_stats, default_stats_path

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
@detector_options
@click.option("--bootstrap", type=click.IntRange(0), default=50, show_default=True,
              help="Bootstrap resamples per protocol for the 95% CI (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of bootstrap, FVD@N subsets and halves.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the calibration record (JSON) here.")
def calibrate_cmd(real, fake, split_file, tiny_detectors, detector_weights, weights_dir, batch_size, num_workers,
                  device, no_progress, cache_dir, no_cache, bootstrap, seed, out) -> None:
    """Every registered FVD and IS protocol on --real/--fake: value, 95% CI, n, difference to the default;
    FVD@N, FVD_inf and the real-vs-real floor. Why your number is not the paper's, in one table."""
    from vidrd_bench.runners.calibrate import calibrate, format_calibration

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
