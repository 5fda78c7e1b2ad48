"""Runners behind `vidrd-bench stats` and `vidrd-bench score METRIC`: find videos (runners/videos.py), extract
(cached), select, score.

One runner, score_metric, scores every entry of METRICS: what it needs (real statistics, prompts) comes from the
metric's spec. Every count, selection and preparation comes from the protocol: a folder with fewer videos than
the protocol takes is refused, or, with allow_fewer, scored under a derived protocol of another name (never
passing for it).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vidrd_bench.core import distributed
from vidrd_bench.core.devices import pick_device
from vidrd_bench.core.errors import ProtocolMismatchError, VidrdBenchError
from vidrd_bench.core.io import check_output_file, save_or_rescue, sha256_file
from vidrd_bench.datasets import manifest
from vidrd_bench.metrics.cache import cache_folder, cached_extract, cached_extract_many
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.detectors.base import Detector
from vidrd_bench.metrics.extract import ClipRule, Consumer, ExtractionOptions, Features, VideoItem
from vidrd_bench.metrics.registry import METRICS
from vidrd_bench.metrics.spec import MetricInputs, MetricSpec, MetricValue
from vidrd_bench.metrics.stats import StatsFile, gaussian_of, load_stats, save_stats, stats_filename
from vidrd_bench.precisions import describe
from vidrd_bench.protocols import FVDProtocol, ISProtocol, Protocol, get_protocol, metric_protocol, with_counts
from vidrd_bench.results import ResultRecord
from vidrd_bench.runners.videos import frame_size, generated_items, real_items, video_prompts

CI_LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class ScoreOptions:
    """The scoring knobs: bootstrap resamples (0: no interval) and their seed, where the record is written, per-class
    breakdowns, which videos count (an unfinished run, classes of a plain folder, fewer than the protocol takes,
    the real split file) and the run's name in tables. `stats` and `calibrate` read the ones they share."""

    bootstrap: int = 100
    seed: int = 0
    out_path: str | os.PathLike | None = None
    per_class: bool = True
    allow_incomplete: bool = False
    labels: str | os.PathLike | None = None
    name: str = ""
    allow_fewer: bool = False
    split_file: str | os.PathLike | None = None


def _start(protocol: str | Protocol, kind: type, out_path: str | os.PathLike | None,
           extraction: ExtractionOptions, subtypes: bool = False) -> tuple[Protocol, ExtractionOptions]:
    """What every runner does before any work: the protocol (of `kind`, or a subclass with `subtypes`), the output
    path checked, the device picked, the process group."""
    proto = metric_protocol(protocol, kind, subtypes)
    if out_path is not None:
        check_output_file(out_path)
    extraction = dataclasses.replace(extraction, device=pick_device(extraction.device))
    distributed.context()
    return proto, extraction


def shortfall(proto: FVDProtocol | ISProtocol, n_fake: int | None, n_real: int | None = None) -> dict[str, int]:
    """{"num_fake" / "num_real": the count} for each side counted (not None) with fewer videos than the protocol takes."""
    return {k: n for k, want, n in (("num_fake", proto.num_fake, n_fake),
                                    ("num_real", getattr(proto, "num_real", None), n_real))
            if want is not None and n is not None and n < want}


def shortfall_text(proto: FVDProtocol | ISProtocol, short: dict[str, int]) -> str:
    """'71 fake videos where it takes 10,000' for each side of a shortfall: the words score and calibrate share."""
    return ", ".join(f"{n:,} {k[4:]} videos where it takes {getattr(proto, k):,}" for k, n in short.items())


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
    have = shortfall_text(proto, short)
    raise ProtocolMismatchError(
        f"Protocol {proto.name} is defined on a fixed number of videos; here there are {have}. A number from "
        f"fewer videos is not comparable with {proto.name}'s (FVD falls as the count grows). Generate or supply "
        f"the rest, or pass --allow-fewer to score it under the derived protocol {derived.name!r}, which tables "
        "mark as differing from the published protocol."
    )


def _size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """An int resolution or (h, w) pair as (h, w)."""
    return (size, size) if isinstance(size, int) else (tuple(size) if size is not None else None)


def fake_rule(proto: FVDProtocol | ISProtocol) -> ClipRule:
    """Generated clips: frames 0, stride, 2*stride, ... (or from the protocol's seeded random offset) as decoded."""
    return ClipRule(proto.num_frames, getattr(proto, "frame_stride", 1),
                    getattr(proto, "fake_clip", "first") == "random-offset", getattr(proto, "fake_seed", 0))


def real_rule(proto: FVDProtocol, size: tuple[int, int] | None) -> ClipRule:
    """Real clips: random offset (or frame 0), the protocol's preparation to the generated size, short ones dropped."""
    return ClipRule(proto.num_frames, proto.frame_stride, proto.real_clip == "random-offset", proto.real_seed,
                    proto.real_preparation, proto.real_jpeg_quality, size, skip_short=True)


def protocol_detector(proto: Protocol, extraction: ExtractionOptions) -> Detector:
    """The protocol's detector at its resolution (with its C3D preprocessing for IS), loaded from the options' files
    onto their device (None: cuda if available, else cpu); a TorchScript file only if pinned or trusted."""
    return load_detector(proto.detector, extraction.weights_dir, pick_device(extraction.device),
                         extraction.detector_path, proto.resolution, getattr(proto, "preprocess", None),
                         num_frames=proto.num_frames, trust_detector=extraction.trust_detector)


def real_stats_from_features(got: Features, proto: FVDProtocol, detector: Detector, note: str,
                             size: tuple[int, int] | None, found: int, keep_features: bool = True) -> StatsFile:
    """The protocol's real statistics from extracted real features: first num_real kept videos, its divisor; one
    sample per frame for a frame detector (FID), per video otherwise."""
    chosen = got.first(proto.num_real)
    stride = f", {proto.frame_stride} apart" if proto.frame_stride > 1 else ""
    clip = f"{proto.num_frames} frames{stride} from a {proto.real_clip} start (seed {proto.real_seed})"
    prep = f"{proto.real_preparation} to {size[0]}x{size[1]}" if size else "native resolution"
    jpeg = f", JPEG q{proto.real_jpeg_quality}" if proto.real_jpeg_quality else ""
    mu, sigma = gaussian_of(chosen.features.reshape(-1, detector.sample_dim), proto.covariance_divisor)
    per_video = detector.feature_dim // detector.sample_dim  # samples per video: its frames for frame FID
    return StatsFile(
        mu=mu, sigma=sigma, count=len(chosen), detector=detector.name, detector_sha256=detector.weights,
        protocol=proto.to_dict(), features=chosen.features if keep_features else None,
        source=f"{note}; {clip}; {prep}{jpeg}; {len(got.skipped)} videos too short, dropped",
        classes=[c or "" for c in chosen.classes] if keep_features else None,
        extra={"resolution": list(size) if size else None, "skipped_short": len(got.skipped),
               "num_videos_found": found, "random_weights": detector.random_weights,
               **({"frames_per_video": per_video} if per_video > 1 else {})},
    )


def compute_real_stats(videos: str | os.PathLike | Sequence[str | os.PathLike],
                       protocol: str | FVDProtocol = "fvd-ucf101-10k",
                       extraction: ExtractionOptions = ExtractionOptions(), scoring: ScoreOptions = ScoreOptions(),
                       dataset: str = "ucf101", size: int | tuple[int, int] | None = 256,
                       keep_features: bool = True) -> StatsFile | None:
    """Real-video statistics under an FVD protocol or one with its real side (JEDi's); writes scoring.out_path (rank
    0) and returns them (None elsewhere). Of the scoring options it reads out_path, split_file and allow_fewer."""
    proto, extraction = _start(protocol, FVDProtocol, scoring.out_path, extraction, subtypes=True)
    items, note = real_items(videos, scoring.split_file, proto.real_split)
    detector = protocol_detector(proto, extraction)
    got = cached_extract(items, detector, real_rule(proto, _size(size)), cache_folder(extraction.cache_dir),
                         **extraction.extract_kwargs())
    if got is None:
        return None
    proto = counted(proto, None, len(got), scoring.allow_fewer)
    stats = real_stats_from_features(got, proto, detector, f"{dataset} {note}", _size(size), len(items),
                                     keep_features)
    stats.extra["dataset"] = dataset
    if scoring.out_path is not None:
        save_or_rescue(scoring.out_path, lambda p: save_stats(p, stats),
                       f"statistics of {stats.count} videos (not printable)")
    return stats


def default_stats_path(dataset: str, protocol: str, size: int | tuple[int, int] | None) -> Path:
    """Where `vidrd-bench stats` writes by default: ./<dataset>_<split>_<protocol>_<res>px.npz, the split "test"
    where the protocol's real set is a test split (MSR-VTT), else "train"."""
    hw = _size(size)
    real_split = getattr(get_protocol(protocol), "real_split", None) or ""
    return Path(stats_filename(dataset, protocol, hw[0] if hw and hw[0] == hw[1] else None,
                               "test" if "test" in real_split else "train"))


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



def _record(spec: MetricSpec, result: MetricValue, n: int, proto: Protocol, generation: dict | None,
            detector: Detector, extra: dict[str, Any], scoring: ScoreOptions) -> ResultRecord:
    """Assemble the result record (smoke-labelled for a random-weight detector or generator); refuse NaN/inf.

    The normal bootstrap interval is cut at the metric's floor (IS >= 1, the exponential of a mean KL; FVD >= 0).
    """
    if not np.isfinite(result.value):
        raise VidrdBenchError(
            f"{spec.title} came out as {result.value} over {n} videos: the detector features hold NaN or infinite "
            "values (e.g. all-identical or corrupt videos, or a broken detector file). No result was written; check "
            "the videos and the detector weights (`vidrd-bench weights --check`)."
        )
    label = f"{spec.title} ({detector.name})"
    random_generator = random_weights_run(extra.get("generator"), extra.get("generation_preset"))
    if detector.random_weights or random_generator:
        label += (f" - random-weight {'detector' if detector.random_weights else 'generator'}, smoke test only, "
                  "not comparable to published numbers")
    generator = extra.pop("generator", None)  # run.json's generator record: a field of its own
    precision = extra.pop("precision", None)  # and its precision (with the agreement to bf16 where not the protocol's)
    if describe(precision):
        label += f" - rendered at precision {describe(precision)}; not the protocol's bf16"
    interval = spec.floored(result)
    return ResultRecord.create(
        metric=spec.name, value=float(result.value), higher_is_better=spec.higher_is_better, n=n,
        protocol=proto.to_dict(), generation_protocol=generation, generator=generator, precision=precision,
        ci_low=interval[0] if interval else None, ci_high=interval[1] if interval else None,
        ci_level=CI_LEVEL if interval else None, std=result.std,
        seeds={"bootstrap": scoring.seed, "num_resamples": result.resamples}, weights=dict(detector.weights),
        label=label, name=scoring.name, smoke=detector.random_weights or random_generator,
        extra={"detector": detector.name, **extra},
    )


def _check_needs(spec: MetricSpec, real: str | os.PathLike | None, fake_dir: str | os.PathLike) -> None:
    """Refuse, before any work, a call that lacks what the metric needs (or brings real videos it does not use)."""
    if spec.needs == "real" and real is None:
        raise VidrdBenchError(f"{spec.title} compares the generated videos with real ones: pass --real (a "
                              "`vidrd-bench stats` file, or a folder of real videos).")
    if spec.needs != "real" and real is not None:
        raise VidrdBenchError(f"{spec.title} needs {spec.needs if spec.needs != 'nothing' else 'no real videos'}; "
                              "leave out the real videos (real=None).")
    if spec.needs == "prompts" and not (Path(fake_dir) / manifest.MANIFEST_FILE).exists():
        raise VidrdBenchError(f"{spec.title} scores each video against its prompt, and {fake_dir} has no "
                              f"{manifest.MANIFEST_FILE} to read them from. Score a `vidrd-bench generate` folder "
                              "(your own videos at a --plan-only plan's paths count).")


def check_caption_rule(proto: Protocol, generation: dict | None, fake_dir: str | os.PathLike) -> None:
    """Refuse, before any work, videos made under another caption rule than the protocol's (where it names one)."""
    want = getattr(proto, "caption_rule", None)
    have = (generation or {}).get("caption_rule")
    if want is not None and have != want:
        made = f"under caption rule {have!r}" if have else "with no recorded caption rule (not an MSR-VTT run)"
        raise ProtocolMismatchError(
            f"Protocol {proto.name} scores videos generated with caption rule {want!r}, but {fake_dir} was made "
            f"{made}. Its number would not be the published convention's: generate with the matching MSR-VTT "
            "protocol (`vidrd-bench generate --dataset msrvtt --protocol ...`), or pick a CLIPSIM protocol of "
            "this rule (`vidrd-bench metrics`)."
        )


def prompt_inputs(spec: MetricSpec, fake_dir: str | os.PathLike, chosen: Features,
                   detector: Detector) -> tuple[tuple[str, ...] | None, np.ndarray | None]:
    """The chosen videos' prompts where the metric needs them, and their embeddings where the detector embeds
    text (CLIP)."""
    if spec.needs != "prompts":
        return None, None
    prompts = video_prompts(fake_dir, chosen)
    encode = getattr(detector, "encode_text", None)
    return prompts, encode(prompts) if encode is not None and prompts else None


@dataclasses.dataclass
class _RealSide:
    """The real statistics a metric scores against (None on ranks other than 0), the generated frame size they
    are prepared at, and how the record names where they came from."""

    stats: StatsFile | None
    size: tuple[int, int]
    source: dict[str, str]

    def extra(self) -> dict[str, Any]:
        """The record fields of the real side."""
        return {**self.source, "real_count": self.stats.count, "real_source": self.stats.source}


def _real_side(real: str | os.PathLike, proto: FVDProtocol, items: list[VideoItem], extraction: ExtractionOptions,
               scoring: ScoreOptions) -> tuple[_RealSide, FVDProtocol]:
    """Real statistics from a file or a folder of real videos (prepared at the generated size), and the protocol
    their count allows (refused, or derived with allow_fewer)."""
    size = frame_size(items, proto.num_frames)
    if Path(real).is_dir():
        options = dataclasses.replace(scoring, out_path=None)
        side = _RealSide(compute_real_stats(real, proto, extraction, options, size=size), size,
                         {"real_videos": str(real)})
    else:
        side = _RealSide(load_stats(real) if distributed.current().is_main else None, size,
                         {"real_stats": str(real), "real_stats_sha256": sha256_file(real)})
    if side.stats is not None:  # fewer real videos than the protocol takes: refused, or its derived protocol
        proto = counted(proto, None, side.stats.count, scoring.allow_fewer)
        proto.check_same_real(side.stats.protocol, what=f"The real-video statistics in {real}")
    return side, proto


@dataclasses.dataclass
class _Job:
    """One metric under one protocol on a folder of generated videos, everything settled before extraction."""

    spec: MetricSpec
    proto: Protocol
    extraction: ExtractionOptions
    scoring: ScoreOptions
    items: list[VideoItem]
    generation: dict | None
    found: dict[str, Any]
    side: _RealSide | None
    detector: Detector

    def consumer(self) -> Consumer:
        """The detector and clip rule its generated videos are extracted with."""
        return Consumer(self.detector, fake_rule(self.proto))


def _job(metric: str | MetricSpec, fake_dir: str | os.PathLike, protocol: str | Protocol | None,
         extraction: ExtractionOptions, scoring: ScoreOptions, real: str | os.PathLike | None,
         detectors: dict[tuple, Detector] | None = None) -> _Job:
    """Check the call, find the videos, settle the real side and the protocol, load the detector (from `detectors`
    when one with the same name, resolution, preprocessing and clip length is there)."""
    spec = metric if isinstance(metric, MetricSpec) else METRICS.get(metric)
    _check_needs(spec, real, fake_dir)
    proto, extraction = _start(spec.protocol(protocol or spec.default_protocol), spec.protocol_type, scoring.out_path,
                               extraction)
    items, generation, found = generated_items(fake_dir, scoring.allow_incomplete, scoring.labels)
    check_caption_rule(proto, generation, fake_dir)
    side = None
    if spec.needs == "real":
        side, proto = _real_side(real, proto, items, extraction, scoring)
    detectors = {} if detectors is None else detectors
    key = (proto.detector, proto.resolution, getattr(proto, "preprocess", None), proto.num_frames)
    if key not in detectors:
        detectors[key] = protocol_detector(proto, extraction)
    detector = detectors[key]
    if side is not None and side.stats is not None:
        _check_real(side.stats, detector, side.size, str(real))
    return _Job(spec, proto, extraction, scoring, items, generation, found, side, detector)


def _scored(job: _Job, fake_dir: str | os.PathLike, got: Features | None) -> ResultRecord | None:
    """Select the protocol's videos of the extracted features, compute the metric, write and return the record."""
    if got is None:
        return None
    spec, side, scoring = job.spec, job.side, job.scoring
    proto = counted(job.proto, len(got), side.stats.count if side else None, scoring.allow_fewer)
    chosen = got.first(proto.pool_size)
    prompts, text = prompt_inputs(spec, fake_dir, chosen, job.detector)
    inputs = MetricInputs(chosen.features, tuple(chosen.classes), side.stats if side else None, prompts, text)
    result = spec.compute(inputs, proto, scoring.bootstrap, scoring.seed, job.extraction.progress)
    extra: dict[str, Any] = {**(side.extra() if side else {}), "fake_dir": str(fake_dir),
                             **({"video_size": list(side.size)} if side else {}),
                             "detector_resolution": getattr(proto, "resolution", None), **result.extra, **job.found}
    if scoring.per_class and spec.per_class is not None and any(inputs.classes):
        extra.update(spec.per_class(inputs, proto, job.extraction.progress))
        if extra.get("per_class_fvd_note"):
            print(f"note: {extra['per_class_fvd_note']}", file=sys.stderr)
    record = _record(spec, result, len(chosen), proto, job.generation, job.detector, extra, scoring)
    if scoring.out_path is not None:
        save_or_rescue(scoring.out_path, record.save, record.summary())
    return record


def score_metric(metric: str | MetricSpec, fake_dir: str | os.PathLike, protocol: str | Protocol | None = None,
                 extraction: ExtractionOptions = ExtractionOptions(), scoring: ScoreOptions = ScoreOptions(),
                 real: str | os.PathLike | None = None) -> ResultRecord | None:
    """Score the videos in `fake_dir` (a generate run, or any folder: see generated_items) with a registered metric
    under `protocol` (default: the metric's), against `real` (statistics file or folder) where the metric needs it;
    writes scoring.out_path (rank 0) and returns the record (None on other ranks)."""
    return score_metrics(fake_dir, [(metric, protocol, scoring, real)], extraction)[0]


ScoreJob = tuple[str | MetricSpec, str | Protocol | None, ScoreOptions, str | os.PathLike | None]


def score_metrics(fake_dir: str | os.PathLike, jobs: list[ScoreJob],
                  extraction: ExtractionOptions = ExtractionOptions()) -> list[ResultRecord | None]:
    """Several (metric, protocol, scoring options, real) on the same generated videos, as score_metric each, but
    each video decoded once for all of them (one extraction feeding every detector and clip rule, through the
    features cache). Every job must find the same videos (the same allow_incomplete and labels)."""
    detectors: dict[tuple, Detector] = {}
    built = [_job(metric, fake_dir, protocol, extraction, scoring, real, detectors)
             for metric, protocol, scoring, real in jobs]
    if any(job.items != built[0].items for job in built):
        raise VidrdBenchError("score_metrics scores one set of generated videos, but its jobs find different ones "
                              "(their allow_incomplete or labels options differ); score those separately.")
    extraction = built[0].extraction
    got = cached_extract_many(built[0].items, [job.consumer() for job in built], cache_folder(extraction.cache_dir),
                              **extraction.extract_kwargs())
    return [_scored(job, fake_dir, g) for job, g in zip(built, got or [None] * len(built))]
