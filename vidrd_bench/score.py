"""Runners behind `vidrd-bench stats` and `vidrd-bench score fvd|is`: find videos, extract, score, record."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vidrd_bench.datasets import manifest
from vidrd_bench.datasets.folder import VIDEO_SUFFIXES, folder_videos
from vidrd_bench.datasets.video import frame_files, read_clip
from vidrd_bench.devices import pick_device
from vidrd_bench.errors import ProtocolMismatchError, RunStateError, VidrdBenchError
from vidrd_bench import distributed
from vidrd_bench.io import check_output_file, save_or_rescue, visible_files
from vidrd_bench.metrics.base import Detector
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import VideoItem, extract
from vidrd_bench.metrics.fvd import bootstrap_fvd, frechet_distance, per_class_fvd
from vidrd_bench.metrics.inception_score import bootstrap_is, inception_score
from vidrd_bench.metrics.stats import StatsFile, load_stats, save_stats, stats_filename
from vidrd_bench.protocols import PROTOCOLS, FVDProtocol, ISProtocol, Protocol
from vidrd_bench.results import ResultRecord

METRIC_FLOOR = {"fvd": 0.0, "is": 1.0}
UCF_NAME = re.compile(r"^v_(?P<cls>.+)_g\d+_c\d+$")


def _protocol(name: str | Protocol, kind: type) -> Protocol:
    """Look up a protocol by name and check it is the expected kind (FVD or IS)."""
    proto = PROTOCOLS.get(name) if isinstance(name, str) else name
    if not isinstance(proto, kind):
        raise VidrdBenchError(f"Protocol {proto.name!r} is not an {kind.__name__}; pick one of "
                              f"{', '.join(n for n in PROTOCOLS if isinstance(PROTOCOLS.get(n), kind))}.")
    return proto


def ucf101_class(path: Path) -> str | None:
    """UCF-101 class from a file name `v_<Class>_gXX_cYY.avi`, else the parent folder name."""
    match = UCF_NAME.match(path.stem)
    return match.group("cls") if match else path.parent.name or None


def read_split_names(path: Path) -> set[str]:
    """Video file names listed in a UCF-101 split file (`Class/v_Class_gXX_cYY.avi [label]` per line)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError) as e:
        raise VidrdBenchError(f"Split file {path} cannot be read as text ({e}). Pass the official UCF-101 "
                              "trainlist01.txt (lines like 'ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1').") from None
    return {Path(line.split()[0]).name for line in lines if line.strip()}


def real_items(videos: str | os.PathLike | Sequence[str | os.PathLike],
               split_file: str | os.PathLike | None = None) -> tuple[list[VideoItem], str]:
    """The real videos to use, sorted by name, filtered by a trainlist file when one is given or found."""
    if isinstance(videos, (str, os.PathLike)):
        root = Path(videos)
        if not root.is_dir():
            raise VidrdBenchError(f"Real-video folder {root} does not exist. Pass the UCF-101 folder (UCF-101/ with "
                                  "class subfolders of v_<Class>_gXX_cYY.avi files) with --videos.")
        paths = visible_files(root, VIDEO_SUFFIXES)
        split_file = split_file or next(iter(sorted(root.rglob("trainlist01.txt"))), None)
        where = str(root)
    else:
        paths, where = [Path(p) for p in videos], f"{len(videos)} listed files"
    note = "all videos found (no split file)"
    if split_file is not None:
        names = read_split_names(Path(split_file))
        paths = [p for p in paths if p.name in names]
        note = f"videos named in {Path(split_file).name} ({len(names)} listed, {len(paths)} found)"
    if not paths:
        raise VidrdBenchError(f"No real videos found in {where} ({note}). Pass the folder holding the UCF-101 .avi "
                              "files, and the official trainlist01.txt with --split-file.")
    paths = sorted(paths, key=lambda p: p.name)
    return [VideoItem(p, i, ucf101_class(p)) for i, p in enumerate(paths)], f"{where}: {note}"


RANDOM_PRESETS = ("tiny", "full-random")  # generators with random weights: their scores are smoke numbers


def _at_plan_path(root: Path, rel: str) -> Path | None:
    """A video the user placed at a plan row's path: the file itself, the same name with another video suffix,
    or a folder of frames named like it."""
    planned = root / rel
    stem = planned.with_suffix("")
    for candidate in (planned, *(stem.with_suffix(s) for s in VIDEO_SUFFIXES), stem):
        if candidate.is_file() or (candidate.is_dir() and frame_files(candidate)):
            return candidate
    return None


def _manifest_items(root: Path, allow_incomplete: bool) -> tuple[list[VideoItem], dict[str, Any]]:
    """Videos of a run in plan order: done rows (manifest.jsonl and every part, each file's sha256 verified), plus
    the user's own videos at planned rows' paths."""
    manifest_file = root / manifest.MANIFEST_FILE
    rows = manifest.current_rows(root)
    manifest.verify_done(root, [r for r in rows if r.status == "done"])
    items, brought = [], 0
    for r in rows:
        path = root / r.path if r.status == "done" else _at_plan_path(root, r.path)
        if path is not None:
            items.append(VideoItem(path, r.index, r.class_name))
            brought += r.status != "done"
    if len(items) < len(rows) and not allow_incomplete:
        raise RunStateError(
            f"{manifest_file} lists {len(rows)} videos but only {len(items)} are done or present at their planned "
            "paths. Finish the run (repeat the generate command, it resumes), put your own videos at the planned "
            "paths (videos/<index>_<class>.mp4, any video format or a folder of frames), or pass --allow-incomplete "
            "to score the ones there."
        )
    if not items:
        raise RunStateError(f"{root} plans {len(rows)} videos and none is finished yet: there is nothing to score. "
                            "Run (or resume) the generate command first.")
    info = {"videos_from": f"manifest {manifest_file.name}", "labels_from": "the manifest's classes",
            "split_order": "plan order (classes interleaved by the generation plan)"}
    if brought:
        info["user_videos_at_plan_paths"] = brought
    return items, info


def generated_items(fake_dir: str | os.PathLike, allow_incomplete: bool = False,
                    labels: str | os.PathLike | None = None) -> tuple[list[VideoItem], dict[str, Any] | None, dict]:
    """Videos to score, their run.json generation protocol (if any), and how the videos, classes, order (and, for a
    generate run, the generator preset) came.

    A `vidrd-bench generate` folder is read through its manifest.jsonl; any other folder of videos through
    datasets.folder (classes from `labels`, order a seeded shuffle).
    """
    root = Path(fake_dir)
    run = manifest.read_run(root)
    generation = run.get("protocol") if run else None
    if (root / manifest.MANIFEST_FILE).exists():
        if labels is not None:
            raise VidrdBenchError(f"{root} is a `vidrd-bench generate` folder: its manifest.jsonl gives every video's "
                                  "class. Leave out --labels (it is for folders of your own videos).")
        items, info = _manifest_items(root, allow_incomplete)
        made_by = (run or {}).get("generator") or None
        return items, generation, {**info, "generation_preset": (made_by or {}).get("preset"), "generator": made_by}
    found = folder_videos(root, labels)
    items = [VideoItem(p, i, c) for i, (p, c) in enumerate(zip(found.paths, found.classes))]
    return items, generation, {"videos_from": "folder", "labels_from": found.labels_from, "split_order": found.order}


def _size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """An int resolution or (h, w) pair as (h, w)."""
    return (size, size) if isinstance(size, int) else (tuple(size) if size is not None else None)


def compute_real_stats(videos: str | os.PathLike | Sequence[str | os.PathLike], dataset: str = "ucf101",
                       protocol: str | FVDProtocol = "fvd-i3d-16f", weights_dir: str | os.PathLike | None = None,
                       device: str | torch.device | None = None, batch_size: int = 32, num_workers: int = 4,
                       out_path: str | os.PathLike | None = None, size: int | tuple[int, int] | None = 256,
                       split_file: str | os.PathLike | None = None, detector_path: str | os.PathLike | None = None,
                       keep_features: bool = True, progress: bool = True) -> StatsFile | None:
    """Real-video statistics: one clip per video from a seeded random offset, short videos discarded and counted.

    Writes `out_path` (rank 0) when given; returns the statistics on rank 0, None on other ranks.
    """
    proto = _protocol(protocol, FVDProtocol)
    if out_path is not None:
        check_output_file(out_path)
    device = pick_device(device)
    distributed.context()
    items, note = real_items(videos, split_file)
    detector = load_detector(proto.detector, weights_dir, device, detector_path, proto.resolution)
    got = extract(items, detector, batch_size, num_workers, random_offset=True, seed=proto.real_seed,
                  size=_size(size), skip_short=True, keep_features=keep_features, progress=progress)
    if got is None:
        return None
    feats, classes = got.stats.features()
    hw = _size(size)
    clip = f"{proto.num_frames} consecutive frames from a random offset (seed {proto.real_seed})"
    resized = f", resized to {hw[0]}x{hw[1]}" if hw else ", native resolution"
    stats = StatsFile(
        mu=got.stats.mean(), sigma=got.stats.cov(), count=got.stats.count, detector=detector.name,
        detector_sha256=detector.weights, protocol=proto.to_dict(),
        source=f"{dataset} {note}; {clip}{resized}; {len(got.skipped)} videos shorter than the clip discarded",
        features=feats if keep_features else None, classes=[c or "" for c in classes] if keep_features else None,
        extra={"dataset": dataset, "resolution": list(hw) if hw else None, "skipped_short": len(got.skipped),
               "num_videos_found": len(items), "random_weights": detector.random_weights},
    )
    if out_path is not None:
        save_or_rescue(out_path, lambda p: save_stats(p, stats), f"statistics of {stats.count} videos (not printable)")
    return stats


def default_stats_path(dataset: str, protocol: str, size: int | tuple[int, int] | None) -> Path:
    """Where `vidrd-bench stats` writes by default: ./<dataset>_train_<protocol>_<res>px.npz."""
    hw = _size(size)
    return Path(stats_filename(dataset, protocol, hw[0] if hw and hw[0] == hw[1] else None))


def _frame_size(items: list[VideoItem], num_frames: int) -> tuple[int, int]:
    """(h, w) of the first generated video (all are checked again when batched)."""
    return tuple(read_clip(items[0].path, num_frames).shape[1:3])


def _check_real(stats: StatsFile, proto: FVDProtocol, detector: Detector, fake_size: tuple[int, int],
                where: str) -> None:
    """Refuse real statistics made by another detector file or at another resolution than the videos."""
    proto.check_same(stats.protocol, what=f"The real-video statistics in {where}")
    if stats.detector_sha256 != detector.weights:
        raise ProtocolMismatchError(
            f"The real-video statistics in {where} were made with detector files {stats.detector_sha256}, but this "
            f"run uses {detector.weights}. Features of different detector files are not comparable; recompute the "
            "statistics with the same files (`vidrd-bench stats`)."
        )
    res = stats.extra.get("resolution")
    if res and tuple(res) != tuple(fake_size):
        raise ProtocolMismatchError(
            f"The real-video statistics in {where} were made at {res[0]}x{res[1]} but the generated videos are "
            f"{fake_size[0]}x{fake_size[1]}. The protocol resizes real videos to the generated resolution; recompute "
            f"them with `vidrd-bench stats ucf101 --size {fake_size[0]}`."
        )


def _record(metric: str, value: float, higher: bool, n: int, proto: Protocol, generation: dict | None,
            detector: Detector, ci: tuple[float, float, np.ndarray] | None, seed: int, extra: dict[str, Any],
            std: float | None = None, level: float = 0.95, name: str = "") -> ResultRecord:
    """Assemble the result record (smoke-labelled for a random-weight detector or generator); refuse NaN/inf.

    The normal bootstrap interval is cut at the metric's floor (IS >= 1, the exponential of a mean KL; FVD >= 0).
    """
    if not np.isfinite(value):
        raise VidrdBenchError(
            f"{metric.upper()} came out as {value} over {n} videos: the detector features hold NaN or infinite values "
            "(e.g. all-identical or corrupt videos, or a broken detector file). No result was written; check the "
            "videos and the detector weights (`vidrd-bench weights --check`)."
        )
    label = f"{metric.upper()} ({detector.name})"
    random_generator = extra.get("generation_preset") in RANDOM_PRESETS
    if detector.random_weights or random_generator:
        label += (f" - random-weight {'detector' if detector.random_weights else 'generator'}, smoke test only, "
                  "not comparable to published numbers")
    generator = extra.pop("generator", None)  # run.json's generator record: a field of its own
    return ResultRecord.create(
        metric=metric, value=float(value), higher_is_better=higher, n=n, protocol=proto.to_dict(),
        generation_protocol=generation, generator=generator,
        ci_low=max(ci[0], METRIC_FLOOR[metric]) if ci else None,
        ci_high=ci[1] if ci else None,
        ci_level=level if ci else None, std=std, seeds={"bootstrap": seed, "num_resamples": len(ci[2]) if ci else 0},
        weights=dict(detector.weights), label=label, name=name, smoke=detector.random_weights or random_generator,
        extra={"detector": detector.name, **extra},
    )


def score_fvd(real: str | os.PathLike, fake_dir: str | os.PathLike, protocol: str | FVDProtocol = "fvd-i3d-16f",
              weights_dir: str | os.PathLike | None = None, detector_path: str | os.PathLike | None = None,
              device: str | torch.device | None = None, batch_size: int = 32, num_workers: int = 4, bootstrap: int = 100,
              seed: int = 0, out_path: str | os.PathLike | None = None, per_class: bool = True,
              allow_incomplete: bool = False, progress: bool = True, labels: str | os.PathLike | None = None,
              name: str = "") -> ResultRecord | None:
    """FVD of the videos in `fake_dir` (a generate run, or any folder: see generated_items) against real statistics
    (a file) or a folder of real videos; `name` labels the result's row in tables and reports."""
    proto = _protocol(protocol, FVDProtocol)
    if out_path is not None:
        check_output_file(out_path)
    device = pick_device(device)
    distributed.context()
    items, generation, found = generated_items(fake_dir, allow_incomplete, labels)
    fake_size = _frame_size(items, proto.num_frames)
    if Path(real).is_dir():
        real_stats = compute_real_stats(real, protocol=proto, weights_dir=weights_dir, device=device,
                                        batch_size=batch_size, num_workers=num_workers, size=fake_size,
                                        detector_path=detector_path, progress=progress)
        real_desc = {"real_videos": str(real)}
    else:
        real_stats = load_stats(real, proto) if distributed.current().is_main else None
        real_desc = {"real_stats": str(real)}
    detector = load_detector(proto.detector, weights_dir, device, detector_path, proto.resolution)
    if real_stats is not None:
        _check_real(real_stats, proto, detector, fake_size, str(real))
    got = extract(items, detector, batch_size, num_workers, progress=progress)
    if got is None:
        return None
    feats, classes = got.stats.features()
    value = frechet_distance(got.stats.mean(), got.stats.cov(), real_stats.mu, real_stats.sigma)
    ci = (bootstrap_fvd(feats, real_stats.mu, real_stats.sigma, bootstrap, seed, progress=progress)
          if bootstrap > 0 else None)
    extra: dict[str, Any] = {**real_desc, "real_count": real_stats.count, "real_source": real_stats.source,
                             "fake_dir": str(fake_dir), "resolution": list(fake_size), **found}
    if per_class and any(classes):
        by_class = per_class_fvd(feats, classes, real_stats, progress=progress)
        if by_class:
            extra["per_class_fvd"] = by_class
            extra["per_class_fvd_mean"] = float(np.mean(list(by_class.values())))
    record = _record("fvd", value, False, got.stats.count, proto, generation, detector, ci, seed, extra, name=name)
    if out_path is not None:
        save_or_rescue(out_path, record.save, record.summary())
    return record


def score_is(fake_dir: str | os.PathLike, protocol: str | ISProtocol = "is-c3d-ucf101",
             weights_dir: str | os.PathLike | None = None, detector_path: str | os.PathLike | None = None,
             device: str | torch.device | None = None, batch_size: int = 32, num_workers: int = 4, bootstrap: int = 100,
             seed: int = 0, out_path: str | os.PathLike | None = None, allow_incomplete: bool = False,
             progress: bool = True, labels: str | os.PathLike | None = None, name: str = "") -> ResultRecord | None:
    """Inception Score (C3D) of the videos in `fake_dir`: splits in plan order for a generate run, after a seeded
    shuffle for any other folder (see generated_items); `name` labels the result's row."""
    proto = _protocol(protocol, ISProtocol)
    if out_path is not None:
        check_output_file(out_path)
    device = pick_device(device)
    distributed.context()
    items, generation, found = generated_items(fake_dir, allow_incomplete, labels)
    detector = load_detector(proto.detector, weights_dir, device, detector_path, proto.resolution)
    got = extract(items, detector, batch_size, num_workers, progress=progress)
    if got is None:
        return None
    probs = got.stats.features()[0].astype(np.float64)
    mean, std = inception_score(probs, proto.num_splits)
    ci = bootstrap_is(probs, proto.num_splits, bootstrap, seed, progress=progress) if bootstrap > 0 else None
    extra = {"fake_dir": str(fake_dir), "num_splits": proto.num_splits, **found}
    record = _record("is", mean, True, len(probs), proto, generation, detector, ci, seed, extra, std=std, name=name)
    if out_path is not None:
        save_or_rescue(out_path, record.save, record.summary())
    return record
