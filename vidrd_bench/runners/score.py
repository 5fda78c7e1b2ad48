"""Runners behind `vidrd-bench stats` and `vidrd-bench score fvd|is`: find videos, extract (cached), select, score.

Every count, selection and preparation comes from the protocol: a folder with fewer videos than the protocol
takes is refused, or, with allow_fewer, scored under a derived protocol of another name (never passing for it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vidrd_bench.core import distributed
from vidrd_bench.datasets import manifest
from vidrd_bench.datasets.folder import VIDEO_SUFFIXES, folder_videos
from vidrd_bench.datasets.video import frame_files, read_clip
from vidrd_bench.core.devices import pick_device
from vidrd_bench.core.errors import ProtocolMismatchError, RunStateError, VidrdBenchError
from vidrd_bench.core.io import check_output_file, save_or_rescue, sha256_file, visible_files
from vidrd_bench.metrics.detectors.base import Detector
from vidrd_bench.metrics.cache import cached_extract, default_cache_dir
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import ClipRule, Features, VideoItem
from vidrd_bench.metrics.fvd import bootstrap_fvd, fvd_from_features, per_class_fvd
from vidrd_bench.metrics.inception_score import bootstrap_is, protocol_is
from vidrd_bench.metrics.stats import StatsFile, gaussian_of, load_stats, save_stats, stats_filename
from vidrd_bench.protocols import FVDProtocol, ISProtocol, Protocol, get_protocol, metric_protocols, with_counts
from vidrd_bench.precisions import describe
from vidrd_bench.results import ResultRecord

METRIC_FLOOR = {"fvd": 0.0, "is": 1.0}
UCF_NAME = re.compile(r"^v_(?P<cls>.+)_g\d+_c\d+$")
CacheDir = str | os.PathLike | None | bool


def _protocol(name: str | Protocol, kind: type) -> Protocol:
    """Look up a protocol by name (retired names refused, naming successors) and check its kind (FVD or IS)."""
    proto = get_protocol(name) if isinstance(name, str) else name
    if not isinstance(proto, kind):
        raise VidrdBenchError(f"Protocol {proto.name!r} is not an {kind.__name__}; pick one of "
                              f"{', '.join(p.name for p in metric_protocols(kind))}.")
    return proto


def _start(protocol: str | Protocol, kind: type, out_path: str | os.PathLike | None,
           device: str | torch.device | None) -> tuple[Protocol, torch.device]:
    """What every runner does before any work: the protocol, the output path checked, the device, the process group."""
    proto = _protocol(protocol, kind)
    if out_path is not None:
        check_output_file(out_path)
    device = pick_device(device)
    distributed.context()
    return proto, device


def _cache(cache_dir: CacheDir) -> Path | None:
    """The features cache folder: None -> the default, False -> no cache."""
    if cache_dir is False:
        return None
    return default_cache_dir() if cache_dir is None or cache_dir is True else Path(cache_dir)


def shortfall(proto: FVDProtocol | ISProtocol, n_fake: int | None, n_real: int | None = None) -> dict[str, int]:
    """{"num_fake" / "num_real": the count} for each side counted (not None) with fewer videos than the protocol takes."""
    return {k: n for k, want, n in (("num_fake", proto.num_fake, n_fake),
                                    ("num_real", getattr(proto, "num_real", None), n_real))
            if want is not None and n is not None and n < want}


def counted(proto: FVDProtocol | ISProtocol, n_fake: int | None, n_real: int | None = None,
            allow_fewer: bool = False) -> FVDProtocol | ISProtocol:
    """The protocol these counts (None: not counted) can be scored under: itself, a derived one (allow_fewer), or
    an error."""
    short = shortfall(proto, n_fake, n_real)
    if not short:
        return proto
    derived = with_counts(proto, **short)
    if allow_fewer:
        return derived
    have = ", ".join(f"{n:,} {k[4:]} videos where it takes {getattr(proto, k):,}" for k, n in short.items())
    raise ProtocolMismatchError(
        f"Protocol {proto.name} is defined on a fixed number of videos; here there are {have}. A number from "
        f"fewer videos is not comparable with {proto.name}'s (FVD falls as the count grows). Generate or supply "
        f"the rest, or pass --allow-fewer to score it under the derived protocol {derived.name!r}, which tables "
        "mark as differing from the published protocol."
    )


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


def real_items(videos: str | os.PathLike | Sequence[str | os.PathLike], split_file: str | os.PathLike | None = None,
               split: str | None = None) -> tuple[list[VideoItem], str]:
    """The real videos, sorted by name (StyleGAN-V's order), filtered by `split_file`, else by the protocol's
    `split` (e.g. trainlist01, found under the folder; an error when absent)."""
    if isinstance(videos, (str, os.PathLike)):
        root = Path(videos)
        if not root.is_dir():
            raise VidrdBenchError(f"Real-video folder {root} does not exist. Pass the UCF-101 folder (UCF-101/ with "
                                  "class subfolders of v_<Class>_gXX_cYY.avi files) with --videos.")
        paths = visible_files(root, VIDEO_SUFFIXES)
        if split_file is None and split is not None:
            split_file = next(iter(sorted(root.rglob(f"{split}.txt"))), None)
            if split_file is None:
                raise VidrdBenchError(
                    f"The protocol's real set is the videos named in the official {split}.txt, which is not under "
                    f"{root}. Pass it with --split-file (UCF-101's ucfTrainTestlist/{split}.txt).")
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
    paths = sorted(paths, key=lambda p: (p.stem, p.name))
    return [VideoItem(p, i, ucf101_class(p)) for i, p in enumerate(paths)], f"{where}: {note}"



def _at_plan_path(root: Path, rel: str) -> Path | None:
    """A video the user placed at a plan row's path: the file itself, the same name with another video suffix,
    or a folder of frames named like it."""
    planned = root / rel
    stem = planned.with_suffix("")
    for candidate in (planned, *(stem.with_suffix(s) for s in VIDEO_SUFFIXES), stem):
        if candidate.is_file() or (candidate.is_dir() and frame_files(candidate)):
            return manifest.inside(root, candidate, f"the user's video for plan row {rel}")
    return None


def _manifest_items(root: Path, allow_incomplete: bool) -> tuple[list[VideoItem], dict[str, Any]]:
    """Videos of a run in plan order: done rows (manifest.jsonl and every part, each file's sha256 verified), plus
    the user's own videos at planned rows' paths."""
    manifest_file = root / manifest.MANIFEST_FILE
    rows = manifest.current_rows(root)
    manifest.verify_done(root, [r for r in rows if r.status == "done"])
    items, brought = [], 0
    for r in rows:
        path = manifest.video_file(root, r) if r.status == "done" else _at_plan_path(root, r.path)
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
        return items, generation, {**info, "generation_preset": (made_by or {}).get("preset"), "generator": made_by,
                                   "precision": (run or {}).get("precision")}
    found = folder_videos(root, labels)
    items = [VideoItem(p, i, c) for i, (p, c) in enumerate(zip(found.paths, found.classes))]
    return items, generation, {"videos_from": "folder", "labels_from": found.labels_from, "split_order": found.order}


def _size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """An int resolution or (h, w) pair as (h, w)."""
    return (size, size) if isinstance(size, int) else (tuple(size) if size is not None else None)


def fake_rule(proto: FVDProtocol | ISProtocol) -> ClipRule:
    """Generated clips: frames 0, stride, 2*stride, ... as decoded (no resizing)."""
    return ClipRule(proto.num_frames, getattr(proto, "frame_stride", 1))


def real_rule(proto: FVDProtocol, size: tuple[int, int] | None) -> ClipRule:
    """Real clips: random offset (or frame 0), the protocol's preparation to the generated size, short ones dropped."""
    return ClipRule(proto.num_frames, proto.frame_stride, proto.real_clip == "random-offset", proto.real_seed,
                    proto.real_preparation, proto.real_jpeg_quality, size, skip_short=True)


def _detector(proto: FVDProtocol | ISProtocol, weights_dir, device, detector_path) -> Detector:
    """The protocol's detector (with its C3D preprocessing for IS)."""
    return load_detector(proto.detector, weights_dir, device, detector_path, proto.resolution,
                         getattr(proto, "preprocess", None))


def real_stats_from_features(got: Features, proto: FVDProtocol, detector: Detector, note: str,
                             size: tuple[int, int] | None, found: int, keep_features: bool = True) -> StatsFile:
    """The protocol's real statistics from extracted real features: first num_real kept videos, its divisor."""
    chosen = got.first(proto.num_real)
    stride = f", {proto.frame_stride} apart" if proto.frame_stride > 1 else ""
    clip = f"{proto.num_frames} frames{stride} from a {proto.real_clip} start (seed {proto.real_seed})"
    prep = f"{proto.real_preparation} to {size[0]}x{size[1]}" if size else "native resolution"
    jpeg = f", JPEG q{proto.real_jpeg_quality}" if proto.real_jpeg_quality else ""
    mu, sigma = gaussian_of(chosen.features, proto.covariance_divisor)
    return StatsFile(
        mu=mu, sigma=sigma, count=len(chosen), detector=detector.name, detector_sha256=detector.weights,
        protocol=proto.to_dict(), features=chosen.features if keep_features else None,
        source=f"{note}; {clip}; {prep}{jpeg}; {len(got.skipped)} videos too short, dropped",
        classes=[c or "" for c in chosen.classes] if keep_features else None,
        extra={"resolution": list(size) if size else None, "skipped_short": len(got.skipped),
               "num_videos_found": found, "random_weights": detector.random_weights},
    )


def compute_real_stats(videos: str | os.PathLike | Sequence[str | os.PathLike], dataset: str = "ucf101",
                       protocol: str | FVDProtocol = "fvd-ucf101-10k", weights_dir: str | os.PathLike | None = None,
                       device: str | torch.device | None = None, batch_size: int = 32, num_workers: int = 4,
                       out_path: str | os.PathLike | None = None, size: int | tuple[int, int] | None = 256,
                       split_file: str | os.PathLike | None = None, detector_path: str | os.PathLike | None = None,
                       keep_features: bool = True, progress: bool = True, cache_dir: CacheDir = None,
                       allow_fewer: bool = False) -> StatsFile | None:
    """Real-video statistics under an FVD protocol; writes `out_path` (rank 0) and returns them (None elsewhere)."""
    proto, device = _start(protocol, FVDProtocol, out_path, device)
    items, note = real_items(videos, split_file, proto.real_split)
    detector = _detector(proto, weights_dir, device, detector_path)
    got = cached_extract(items, detector, real_rule(proto, _size(size)), _cache(cache_dir), batch_size=batch_size,
                         num_workers=num_workers, progress=progress)
    if got is None:
        return None
    proto = counted(proto, None, len(got), allow_fewer)
    stats = real_stats_from_features(got, proto, detector, f"{dataset} {note}", _size(size), len(items),
                                     keep_features)
    stats.extra["dataset"] = dataset
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


def _check_real(stats: StatsFile, detector: Detector, fake_size: tuple[int, int], where: str) -> None:
    """Refuse real statistics made with other detector files or at another resolution (their protocol's real side
    is checked before the detector loads)."""
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
            f"{fake_size[0]}x{fake_size[1]}. The protocol prepares real videos at the generated resolution; "
            f"recompute them with `vidrd-bench stats ucf101 --size {fake_size[0]}`."
        )


LEGACY_RANDOM_PRESETS = ("tiny", "full-random")  # the random-weight presets' names before run.json recorded it


def random_weights_run(generator: dict | None, preset: str | None = None) -> bool:
    """Whether run.json's generator record says its weights were random; a run.json written before it recorded
    that: whether its preset has the name of a random-weight preset."""
    generator = generator or {}
    if "random_weights" in generator:
        return bool(generator["random_weights"])
    return (generator.get("preset") or preset) in LEGACY_RANDOM_PRESETS


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
    random_generator = random_weights_run(extra.get("generator"), extra.get("generation_preset"))
    if detector.random_weights or random_generator:
        label += (f" - random-weight {'detector' if detector.random_weights else 'generator'}, smoke test only, "
                  "not comparable to published numbers")
    generator = extra.pop("generator", None)  # run.json's generator record: a field of its own
    precision = extra.pop("precision", None)  # and its precision (with the agreement to bf16 where not the protocol's)
    if describe(precision):
        label += f" - rendered at precision {describe(precision)}; not the protocol's bf16"
    return ResultRecord.create(
        metric=metric, value=float(value), higher_is_better=higher, n=n, protocol=proto.to_dict(),
        generation_protocol=generation, generator=generator, precision=precision,
        ci_low=max(ci[0], METRIC_FLOOR[metric]) if ci else None,
        ci_high=ci[1] if ci else None,
        ci_level=level if ci else None, std=std, seeds={"bootstrap": seed, "num_resamples": len(ci[2]) if ci else 0},
        weights=dict(detector.weights), label=label, name=name, smoke=detector.random_weights or random_generator,
        extra={"detector": detector.name, **extra},
    )


def score_fvd(real: str | os.PathLike, fake_dir: str | os.PathLike, protocol: str | FVDProtocol = "fvd-ucf101-10k",
              weights_dir: str | os.PathLike | None = None, detector_path: str | os.PathLike | None = None,
              device: str | torch.device | None = None, batch_size: int = 32, num_workers: int = 4, bootstrap: int = 100,
              seed: int = 0, out_path: str | os.PathLike | None = None, per_class: bool = True,
              allow_incomplete: bool = False, progress: bool = True, labels: str | os.PathLike | None = None,
              name: str = "", cache_dir: CacheDir = None, allow_fewer: bool = False,
              split_file: str | os.PathLike | None = None) -> ResultRecord | None:
    """FVD of the videos in `fake_dir` (a generate run, or any folder: see generated_items) against real statistics
    (a file) or a folder of real videos; `name` labels the result's row in tables and reports."""
    proto, device = _start(protocol, FVDProtocol, out_path, device)
    items, generation, found = generated_items(fake_dir, allow_incomplete, labels)
    fake_size = _frame_size(items, proto.num_frames)
    if Path(real).is_dir():
        real_stats = compute_real_stats(real, protocol=proto, weights_dir=weights_dir, device=device,
                                        batch_size=batch_size, num_workers=num_workers, size=fake_size,
                                        detector_path=detector_path, progress=progress, cache_dir=cache_dir,
                                        allow_fewer=allow_fewer, split_file=split_file)
        real_desc = {"real_videos": str(real)}
    else:
        real_stats = load_stats(real) if distributed.current().is_main else None
        real_desc = {"real_stats": str(real), "real_stats_sha256": sha256_file(real)}
    if real_stats is not None:  # fewer real videos than the protocol takes: refused, or its derived protocol
        proto = counted(proto, None, real_stats.count, allow_fewer)
        proto.check_same_real(real_stats.protocol, what=f"The real-video statistics in {real}")
    detector = _detector(proto, weights_dir, device, detector_path)
    if real_stats is not None:
        _check_real(real_stats, detector, fake_size, str(real))
    got = cached_extract(items, detector, fake_rule(proto), _cache(cache_dir), batch_size=batch_size,
                         num_workers=num_workers, progress=progress)
    if got is None:
        return None
    proto = counted(proto, len(got), real_stats.count, allow_fewer)
    fake = got.first(proto.num_fake)
    div = proto.covariance_divisor
    value = fvd_from_features(fake.features, real_stats.mu, real_stats.sigma, div)
    ci = (bootstrap_fvd(fake.features, real_stats.mu, real_stats.sigma, bootstrap, seed, divisor=div,
                        progress=progress) if bootstrap else None)
    extra: dict[str, Any] = {**real_desc, "real_count": real_stats.count, "real_source": real_stats.source,
                             "fake_dir": str(fake_dir), "resolution": list(fake_size), **found}
    if per_class and any(fake.classes):
        by_class = per_class_fvd(fake.features, fake.classes, real_stats, divisor=div, progress=progress)
        if by_class:
            extra["per_class_fvd"] = by_class
            extra["per_class_fvd_mean"] = float(np.mean(list(by_class.values())))
    record = _record("fvd", value, False, len(fake), proto, generation, detector, ci, seed, extra, name=name)
    if out_path is not None:
        save_or_rescue(out_path, record.save, record.summary())
    return record


def score_is(fake_dir: str | os.PathLike, protocol: str | ISProtocol = "is-c3d-styleganv-10k",
             weights_dir: str | os.PathLike | None = None, detector_path: str | os.PathLike | None = None,
             device: str | torch.device | None = None, batch_size: int = 32, num_workers: int = 4, bootstrap: int = 100,
             seed: int = 0, out_path: str | os.PathLike | None = None, allow_incomplete: bool = False,
             progress: bool = True, labels: str | os.PathLike | None = None, name: str = "",
             cache_dir: CacheDir = None, allow_fewer: bool = False) -> ResultRecord | None:
    """Inception Score (C3D) of the videos in `fake_dir` under an IS protocol's rules: a generate run in plan
    order, any other folder after a seeded shuffle (see generated_items); `name` labels the result's row."""
    proto, device = _start(protocol, ISProtocol, out_path, device)
    items, generation, found = generated_items(fake_dir, allow_incomplete, labels)
    detector = _detector(proto, weights_dir, device, detector_path)
    got = cached_extract(items, detector, fake_rule(proto), _cache(cache_dir), batch_size=batch_size,
                         num_workers=num_workers, progress=progress)
    if got is None:
        return None
    proto = counted(proto, len(got), allow_fewer=allow_fewer)
    probs = got.first(proto.pool_size).features.astype(np.float64)
    mean, std = protocol_is(probs, proto, seed)
    ci = bootstrap_is(probs, proto, bootstrap, seed, progress=progress) if bootstrap > 0 else None
    extra = {"fake_dir": str(fake_dir), "num_splits": proto.num_splits, "num_runs": proto.num_runs, **found}
    record = _record("is", mean, True, len(probs), proto, generation, detector, ci, seed, extra, std=std, name=name)
    if out_path is not None:
        save_or_rescue(out_path, record.save, record.summary())
    return record
