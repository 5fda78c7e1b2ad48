"""`vidrd-bench calibrate`: every registered protocol of every metric on one real and one generated set, side by side.

Each video set is decoded once for every protocol (one pass feeds each clip rule's clip to every detector that
takes it), and each (video set, detector, clip rule) is run once however many protocols share it (and, with the
features cache on, once across runs). Counts are capped at what the folders hold (the table says where a
protocol's count was not met). For the default FVD protocol it adds FVD@N for N = 256, 512, ..., all, the
FID-infinity style extrapolation FVD_N = FVD_inf + k / N, and the real-vs-real floor (FVD between two disjoint
halves of the real set). This is the table that says how far a number moves between published conventions.

Metrics that score prompts (CLIPSIM) score a generate run's videos against its manifest's prompts, under every
registered variant; their rows carry a note where the videos have no prompts, were made under another caption rule,
or the protocol's optional model (a CLIP folder: --clip-model, or under --weights-dir) is absent.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vidrd_bench.core import distributed
from vidrd_bench.core.devices import pick_device
from vidrd_bench.core.errors import ProtocolMismatchError, VideoError, VidrdBenchError, WeightsError, brief
from vidrd_bench.core.weights import WEIGHT_FILES
from vidrd_bench.datasets import manifest
from vidrd_bench.core.io import write_json_atomic
from vidrd_bench.datasets.video import ShortVideoError, num_frames
from vidrd_bench.metrics.cache import cache_folder, cached_extract, cached_extract_many
from vidrd_bench.metrics.detectors import DETECTORS
from vidrd_bench.metrics.extract import ClipRule, Consumer, ExtractionOptions, Features
from vidrd_bench.metrics.fvd import extrapolate_infinity, fast_frechet_to, fvd_at_sizes, ladder
from vidrd_bench.metrics.registry import METRICS, metric_specs
from vidrd_bench.metrics.spec import MetricInputs, MetricSpec
from vidrd_bench.metrics.stats import gaussian_of
from vidrd_bench.protocols import PROTOCOLS, SMOKE_FVD, FVDProtocol, Protocol, with_counts
from vidrd_bench.results import provenance
from vidrd_bench.runners.score import (ScoreOptions, check_caption_rule, fake_rule, prompt_inputs, protocol_detector,
                                       real_rule, real_stats_from_features, shortfall, shortfall_text)
from vidrd_bench.runners.videos import frame_size, generated_items, real_items

TINY_FVD_RESOLUTION = SMOKE_FVD.resolution
COLUMNS = ["protocol", "metric", "value", "ci_low", "ci_high", "n_fake", "n_real", "diff_to_default",
           "rel_diff_pct", "note"]


@dataclasses.dataclass
class Calibration:
    """The calibrate record: one row per protocol plus the default FVD protocol's ladder, FVD_inf and floor."""

    rows: pd.DataFrame
    ladder: dict[str, list]
    fvd_inf: dict[str, float]
    floor: dict[str, Any]
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        rows = self.rows.astype(object).where(self.rows.notna(), None).to_dict(orient="records")
        for row in rows:  # counts are whole numbers (a column with a missing count is float in pandas)
            row.update({k: int(row[k]) for k in ("n_fake", "n_real") if row.get(k) is not None})
        return {**self.meta, "rows": rows, "fvd_at_n": self.ladder, "fvd_inf": self.fvd_inf,
                "real_vs_real_floor": self.floor}


def _substitute(proto: Protocol, tiny: bool, fvd_resolution: int) -> Protocol:
    """With tiny=True, the protocol on the tiny random detector of its family (`<family>-tiny-random`) at the
    resolution of the smoke protocol registered for that detector (the tiny I3D: `fvd_resolution`), conventions
    otherwise unchanged."""
    if not tiny:
        return proto
    name = DETECTORS.get(f"{proto.detector.split('-')[0]}-tiny-random").name
    smoke = next((p for _, p in PROTOCOLS.items() if getattr(p, "detector", None) == name), proto)
    resolution = fvd_resolution if name == SMOKE_FVD.detector else smoke.resolution
    return dataclasses.replace(proto, detector=name, resolution=resolution)


def optional_model(detector: str) -> bool:
    """Whether every file the detector reads is an optional entry of the weights store (CLIP folders): its absence
    makes a calibrate row's note, not an error."""
    files = DETECTORS.get(detector).weight_files
    return bool(files) and all(WEIGHT_FILES.get(name).optional for name in files)


class _Runner:
    """Holds the sets, detectors and features of one calibrate pass: each (set, detector, clip rule) is extracted
    once (through the features cache, if on) however many protocols share it."""

    def __init__(self, real: Path, fake: Path, split_file, extraction: ExtractionOptions, model: Path | None = None):
        self.fake_dir, self.model = fake, model
        self.fake_items, self.generation, self.fake_found = generated_items(fake, allow_incomplete=False)
        self.real_items, self.real_note = real_items(real, split_file, None)
        self.extraction, self.cache = extraction, cache_folder(extraction.cache_dir)
        self.kw = extraction.extract_kwargs()
        self.detectors: dict[tuple, Any] = {}
        self.features: dict[tuple, Features] = {}

    @staticmethod
    def _detector_key(proto) -> tuple:
        """What builds a protocol's detector: its name, resolution, (IS) preprocessing and clip length."""
        return proto.detector, proto.resolution, getattr(proto, "preprocess", None), proto.num_frames

    def detector(self, proto):
        """The protocol's detector, built once per _detector_key."""
        key = self._detector_key(proto)
        if key not in self.detectors:
            use_model = self.model is not None and optional_model(proto.detector)
            extraction = self.extraction
            if use_model:
                extraction = dataclasses.replace(extraction, detector_path=self.model)
            self.detectors[key] = protocol_detector(proto, extraction)
        return self.detectors[key]

    @functools.cached_property
    def fake_frames(self) -> int:
        """Frames of the first generated video (all are checked again when extracted)."""
        return num_frames(self.fake_items[0].path)

    def fake_rule(self, proto) -> ClipRule:
        """The protocol's generated-clip rule; generated videos shorter than its clip are refused before any
        decoding (a 128-frame protocol on 16-frame videos)."""
        rule = fake_rule(proto)
        span, have = (rule.num_frames - 1) * rule.stride + 1, self.fake_frames
        if have < span:
            raise ShortVideoError(f"the generated videos have {have} frames, the protocol's clip spans {span}",
                                  frames=have, needed=span)
        return rule

    def prefetch(self, plan: list[tuple[MetricSpec, Protocol]], size) -> None:
        """Every planned protocol's features, one extraction per video set: each video decoded once for all the
        (detector, clip rule) pairs, through the features cache; a pair's error is kept for its rows to report."""
        wanted: dict[str, dict[tuple, Consumer]] = {"fake": {}, "real": {}}
        for spec, proto in plan:
            try:
                self.check_prompts(spec, proto)
                rule, detector = self.fake_rule(proto), self.detector(proto)
            except VidrdBenchError:
                continue  # not scorable here, or its detector cannot be built: its row meets that again
            key = self._detector_key(proto)
            wanted["fake"][("fake", key, rule)] = Consumer(detector, rule)
            if spec.needs == "real":
                rule = real_rule(proto, size)
                wanted["real"][("real", key, rule)] = Consumer(detector, rule)
        for side, items in (("fake", self.fake_items), ("real", self.real_items)):
            todo = {k: c for k, c in wanted[side].items() if k not in self.features}
            if todo:
                got = cached_extract_many(items, list(todo.values()), self.cache, errors="return", **self.kw)
                self.features.update(zip(todo, got or [None] * len(todo)))

    def _extract(self, side: str, items, proto, rule) -> Features:
        """`side`'s features under `rule`, extracted once per (side, detector, rule) (prefetch does them all in one
        pass per set); the error that stopped them, if one did."""
        key = (side, self._detector_key(proto), rule)
        if key not in self.features:
            self.features[key] = cached_extract(items, self.detector(proto), rule, self.cache, **self.kw)
        got = self.features[key]
        if isinstance(got, VidrdBenchError):
            raise got
        return got

    def fake(self, proto) -> Features:
        """Generated features under the protocol's clip rule (refused when the videos are shorter than its clip)."""
        return self._extract("fake", self.fake_items, proto, self.fake_rule(proto))

    def real(self, proto: FVDProtocol, size) -> Features:
        """Real features under the protocol's clip rule and preparation."""
        return self._extract("real", self.real_items, proto, real_rule(proto, size))

    def check_prompts(self, spec: MetricSpec, proto) -> None:
        """Refuse a metric that scores prompts where the generated videos have none, or were made under another
        caption rule than the protocol's."""
        if spec.needs == "prompts":
            if not (self.fake_dir / manifest.MANIFEST_FILE).exists():
                raise VideoError(f"{self.fake_dir} has no {manifest.MANIFEST_FILE}: no prompts to score against")
            check_caption_rule(proto, self.generation, self.fake_dir)

    def inputs(self, spec: MetricSpec, proto, size) -> MetricInputs:
        """What `spec` scores under `proto`: the protocol's generated videos and, where it needs them, the real
        statistics of the protocol's real videos, or the prompts (and their embeddings) of a generate run."""
        self.check_prompts(spec, proto)
        fake = self.fake(proto).first(proto.pool_size)
        real = None
        if spec.needs == "real":
            real = real_stats_from_features(self.real(proto, size), proto, self.detector(proto), self.real_note, size,
                                            len(self.real_items), keep_features=True)
        prompts, text = prompt_inputs(spec, self.fake_dir, fake, self.detector(proto))
        return MetricInputs(fake.features, tuple(fake.classes), real, prompts, text)


def _counts_note(proto, n_fake: int, n_real: int | None) -> str:
    """Where the folders held fewer videos than the protocol takes: what `score` says (it refuses them), and the
    derived protocol the value belongs to (the one `score --allow-fewer` scores under)."""
    short = shortfall(proto, n_fake, n_real)
    if not short:
        return ""
    return (f"score refuses {proto.name} here ({shortfall_text(proto, short)}); this value is the derived protocol "
            f"{with_counts(proto, **short).name} (score --allow-fewer), not comparable with published numbers")


def _row(run: _Runner, spec: MetricSpec, proto: Protocol, size, scoring: ScoreOptions) -> tuple[dict, Any]:
    """One protocol's row (a note instead of a value where the videos cannot be scored under it), and the inputs it
    scored."""
    head = {"protocol": proto.name, "metric": spec.name}
    try:
        inputs = run.inputs(spec, proto, size)
    except (VideoError, ProtocolMismatchError) as e:
        return {**head, "note": f"not scorable here: {brief(e, 160)}"}, None
    except WeightsError as e:
        if not optional_model(proto.detector):
            raise
        return {**head, "note": f"no model: {brief(e, 160)}"}, None
    n_real = inputs.real.count if inputs.real is not None else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = spec.compute(inputs, proto, scoring.bootstrap, scoring.seed, False)
    except VidrdBenchError as e:
        return {**head, "n_fake": len(inputs.features), "note": f"not scorable: {brief(e, 160)}"}, None
    low, high = result.interval or (None, None)
    notes = (_counts_note(proto, len(inputs.features), n_real),
             f"std {result.std:.4g}" if result.std is not None else "")
    return {**head, "value": result.value, "ci_low": low, "ci_high": high, "n_fake": len(inputs.features),
            "n_real": n_real, "note": "; ".join(x for x in notes if x)}, inputs


def _default_extras(fake: np.ndarray, real: np.ndarray, proto: FVDProtocol, seed: int) -> tuple[dict, dict, dict]:
    """FVD@N ladder, its FVD_inf fit and the real-vs-real floor, under the default FVD protocol."""
    div = proto.covariance_divisor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mu_r, sigma_r = gaussian_of(real, div)
        sizes = ladder(len(fake))
        values = fvd_at_sizes(fake, mu_r, sigma_r, sizes, seed, div)
        inf, slope = extrapolate_infinity(sizes, values) if len(sizes) >= 2 else (float("nan"), float("nan"))
        order = np.random.default_rng(seed).permutation(len(real))
        half = len(real) // 2
        a, b = real[order[:half]], real[order[half:2 * half]]
        floor = fast_frechet_to(*gaussian_of(b, div))(*gaussian_of(a, div)) if half >= 2 else float("nan")
    return ({"n": sizes, "fvd": values}, {"fvd_inf": inf, "k": slope},
            {"fvd": floor, "n_per_half": half, "rule": f"seeded permutation (seed {seed}), two disjoint halves"})


def _finish(rows: list[dict]) -> pd.DataFrame:
    """Rows as a table with the difference of each value to its metric's default protocol."""
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for spec in metric_specs():
        mask = table["metric"] == spec.name
        ref = table.loc[mask & (table["protocol"] == spec.default_protocol), "value"]
        if len(ref) and pd.notna(ref.iloc[0]):
            table.loc[mask, "diff_to_default"] = table.loc[mask, "value"] - ref.iloc[0]
            table.loc[mask, "rel_diff_pct"] = 100.0 * table.loc[mask, "diff_to_default"] / ref.iloc[0]
    return table


def _plan(tiny: bool, tiny_fvd_resolution: int) -> list[tuple[MetricSpec, Protocol]]:
    """Every metric's protocols in registration order (on the tiny detectors with tiny=True)."""
    return [(spec, _substitute(p, tiny, tiny_fvd_resolution)) for spec in metric_specs() for p in spec.protocols()]


def _rows(run: _Runner, plan: list[tuple[MetricSpec, Protocol]], size,
          scoring: ScoreOptions) -> tuple[list[dict], Any]:
    """Every planned protocol's row, in order, and the default FVD protocol's extras."""
    rows, extras = [], None
    ladder_default = METRICS.get("fvd").default_protocol
    for spec, proto in plan:
        row, inputs = _row(run, spec, proto, size, scoring)
        rows.append(row)
        if spec.name == "fvd" and proto.name == ladder_default and inputs is not None:
            extras = _default_extras(inputs.features, inputs.real.features, proto, scoring.seed)
    return rows, extras


def calibrate(real: str | os.PathLike, fake: str | os.PathLike, extraction: ExtractionOptions = ExtractionOptions(),
              scoring: ScoreOptions = ScoreOptions(bootstrap=50), tiny: bool = False,
              tiny_fvd_resolution: int | None = None,
              clip_model: str | os.PathLike | None = None) -> Calibration | None:
    """Score every registered protocol of every metric on one real and one generated set (None on ranks other than
    0). Of the scoring options it reads bootstrap, seed, split_file and out_path.

    tiny=True runs every protocol on the tiny random detectors (the I3D resizing to `tiny_fvd_resolution`,
    default TINY_FVD_RESOLUTION). `clip_model`: the CLIP folder the CLIPSIM protocols read (each refuses a folder of
    another backbone: its row says so); without it they look under the weights folder.
    """
    tiny_fvd_resolution = tiny_fvd_resolution or TINY_FVD_RESOLUTION
    extraction = dataclasses.replace(extraction, device=pick_device(extraction.device))
    distributed.context()
    run = _Runner(Path(real), Path(fake), scoring.split_file, extraction, Path(clip_model) if clip_model else None)
    size = frame_size(run.fake_items, 16)
    plan = _plan(tiny, tiny_fvd_resolution)
    run.prefetch(plan, size)
    if not distributed.current().is_main:
        return None
    rows, extras = _rows(run, plan, size, scoring)
    ladder_, inf, floor = extras or ({}, {}, {})
    meta = {**provenance(), "real": str(real), "real_set": run.real_note, "fake": str(fake),
            "resolution": list(size), **{f"default_{spec.name}": spec.default_protocol for spec in metric_specs()},
            "bootstrap": scoring.bootstrap, "seed": scoring.seed, "ci_level": 0.95,
            "detectors": {f"{k[0]}@{k[1]}px" + (f"/{k[2]}" if k[2] else ""): d.weights
                          for k, d in run.detectors.items()},
            "substituted_tiny_detectors": tiny, "smoke": tiny or any(d.random_weights for d in run.detectors.values())}
    result = Calibration(_finish(rows), ladder_, inf, floor, meta)
    if scoring.out_path is not None:
        write_json_atomic(scoring.out_path, result.to_dict())
    return result


def format_calibration(cal: Calibration) -> str:
    """The table as text, then FVD@N, FVD_inf and the floor."""
    shown = cal.rows.copy()
    for col in ("value", "ci_low", "ci_high", "diff_to_default", "rel_diff_pct"):
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    for col in ("n_fake", "n_real"):
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else str(int(v)))
    lines = [shown.fillna("").to_string(index=False)]
    if cal.ladder:
        pairs = ", ".join(f"N={n}: {v:.4g}" for n, v in zip(cal.ladder["n"], cal.ladder["fvd"]))
        lines.append(f"FVD@N under {cal.meta['default_fvd']}: {pairs}")
        lines.append(f"FVD_inf (fit FVD_N = FVD_inf + k/N): {cal.fvd_inf['fvd_inf']:.4g} (k = {cal.fvd_inf['k']:.4g})")
        lines.append(f"real-vs-real floor (two disjoint halves of {cal.floor['n_per_half']} real videos): "
                     f"{cal.floor['fvd']:.4g}")
    if cal.meta["smoke"]:
        lines.append("random-weight detectors: a smoke calibration, not comparable to published numbers")
    return "\n".join(lines)
