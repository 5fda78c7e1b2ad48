"""Frozen, named protocols: a changed setting gets a new name, so two results are comparable or refuse to be."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from typing import Any

from vidrd_bench.core.errors import ProtocolMismatchError, VidrdBenchError
from vidrd_bench.core.registry import UnknownNameError
from vidrd_bench.core.registry import Registry


def differences(mine: dict[str, Any], theirs: dict[str, Any]) -> str:
    """"key: theirs vs mine" for every setting whose values differ, sorted by key (a mismatch error's detail)."""
    keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    return ", ".join(f"{k}: {theirs.get(k)!r} vs {mine.get(k)!r}" for k in keys)


@dataclass(frozen=True)
class Protocol:
    """Base of every protocol: a name plus settings that fully determine the numbers produced."""

    name: str
    reference: str = field(default="", compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON records and statistics files (the reference text is documentation, not a setting)."""
        d = dataclasses.asdict(self)
        d.pop("reference")
        return d

    def check_same(self, other: dict[str, Any] | "Protocol", what: str = "these inputs") -> None:
        """Raise ProtocolMismatchError unless `other` carries exactly this protocol (retired names named as such)."""
        theirs = other.to_dict() if isinstance(other, Protocol) else dict(other)
        check_not_retired(str(theirs.get("name")), what)
        mine = self.to_dict()
        if theirs != mine:
            detail = differences(mine, theirs)
            raise ProtocolMismatchError(
                f"{what} were made under protocol {theirs.get('name')!r} but this run uses {self.name!r} "
                f"(differences: {detail}). Scores made under different protocols are not comparable; "
                "recompute them under one protocol, or pass the matching --protocol."
            )


@dataclass(frozen=True)
class EvalProtocol(Protocol):
    """What every generator is held to: the evaluation set, video count, frame size and count, fps and seed rule.

    How a model makes its videos (steps, guidance, sampler) is its own settings (vidrd_bench.generators); two runs
    are comparable when their evaluation protocols match. Video i of the plan gets seed base_seed + i.
    """

    dataset: str = "ucf101"
    num_videos: int = 10_000
    height: int = 256
    width: int = 256
    num_frames: int = 16
    fps: int = 8
    base_seed: int = 42


@dataclass(frozen=True)
class CaptionEvalProtocol(EvalProtocol):
    """An evaluation protocol over a captioned set (MSR-VTT): which captions become prompts is a field.

    `caption_rule`: "one-seeded" (one caption per test video, picked by sha256 of "<caption_seed>:<video id>"
    modulo its caption count; datasets/msrvtt.py) or "all" (every caption, one video each).
    """

    dataset: str = "msrvtt"
    num_videos: int = 2_990
    caption_rule: str = "one-seeded"
    caption_seed: int = 0

    def __post_init__(self) -> None:
        _check_choice(self, "caption_rule", ("one-seeded", "all"))


@dataclass(frozen=True)
class GeneratorSettings(Protocol):
    """Base of a generator's own settings (frozen, named): how the model renders, not what the benchmark asks."""

    def native_size(self) -> tuple[int | None, int | None, int | None]:
        """(frames, height, width) these settings render; None where the model's own default applies."""
        return (getattr(self, "num_frames", None), getattr(self, "height", None), getattr(self, "width", None))


@dataclass(frozen=True)
class FVDProtocol(Protocol):
    """Frechet Video Distance: every convention that moves the number is a field.

    Clips: `num_frames` frames `frame_stride` apart; generated clips from frame 0, real clips from a uniform
    random offset seeded by (real_seed, sorted position). Real frames are prepared by `real_preparation`
    (datasets/prepare.py) to the generated videos' resolution, optionally through JPEG at `real_jpeg_quality`,
    and real videos with fewer than num_frames * frame_stride frames are dropped. `num_fake` / `num_real`:
    how many videos enter the statistics (None: all), chosen by `fake_selection` (manifest order) and
    `real_selection` (sorted file names, after dropping short ones). `covariance_divisor`: "N" or "N-1".
    `real_split`: the official split file whose videos form the real set (None: the folder as given).
    `derived_from`: set on a protocol made from a registered one with other counts (not comparable to it).
    """

    detector: str = "i3d-torchscript"
    num_frames: int = 16
    resolution: int = 224
    frame_stride: int = 1
    fake_clip: str = "first"
    real_clip: str = "random-offset"
    real_seed: int = 0
    real_preparation: str = "styleganv-resize-crop-lanczos"
    real_jpeg_quality: int | None = 75
    num_fake: int | None = None
    fake_selection: str = "all"
    num_real: int | None = None
    real_selection: str = "all"
    real_split: str | None = "trainlist01"
    covariance_divisor: str = "N"
    derived_from: str | None = None

    def check_same_real(self, other: dict[str, Any], what: str) -> None:
        """Like check_same, on the real-side settings only (fake count and name may differ: they do not touch
        real statistics)."""
        check_not_retired(str(other.get("name")), what)
        fake_side = ("name", "num_fake", "fake_selection", "derived_from")
        mine = {k: v for k, v in self.to_dict().items() if k not in fake_side}
        theirs = {k: v for k, v in other.items() if k not in fake_side}
        if mine != theirs:
            raise ProtocolMismatchError(
                f"{what} were made under protocol {other.get('name')!r}, whose real-video settings differ from "
                f"{self.name!r}'s ({differences(mine, theirs)}). "
                f"Recompute them with `vidrd-bench stats ucf101 --protocol {self.name}`."
            )

    def __post_init__(self) -> None:
        _check_choice(self, "covariance_divisor", ("N", "N-1"))
        _check_choice(self, "fake_clip", ("first",))
        _check_choice(self, "real_clip", ("random-offset", "first"))
        _check_count(self, "num_fake", "fake_selection", "first")
        _check_count(self, "num_real", "real_selection", "first-sorted")

    @property
    def pool_size(self) -> int | None:
        """How many generated videos, in manifest order, the score draws on (None: all): num_fake."""
        return self.num_fake


@dataclass(frozen=True)
class ISProtocol(Protocol):
    """Inception Score with C3D fine-tuned on UCF-101: preprocessing variant and aggregation as fields.

    `preprocess`: "tgan" (TGAN v1) or "tganv2" (TGANv2, ported by StyleGAN-V), see metrics/c3d.py. `num_fake`
    videos (None: all) in manifest order; `shuffle`: "none", "styleganv-seed42" (numpy RandomState(42).shuffle
    of the probabilities) or "subsets-per-run" (each of `num_runs` runs scores its own seeded subset of
    num_fake videos drawn from all of them, standing in for TGANv2's fresh samples per loop; `pool_size`). The score of a split is
    exp(mean KL(p(y|x) || p(y))) with `eps` used as `eps_rule` says: "none", "log-args" (TGAN v1:
    log(p + eps) - log(p_y + eps), times p) or "added" (TGANv2: p + eps everywhere). Reported: mean and std
    over the splits, or over the runs when num_runs > 1.
    """

    detector: str = "c3d-ucf101"
    num_frames: int = 16
    resolution: int = 112
    preprocess: str = "tganv2"
    num_fake: int | None = None
    fake_selection: str = "all"
    num_splits: int = 10
    shuffle: str = "none"
    num_runs: int = 1
    eps: float = 0.0
    eps_rule: str = "none"
    derived_from: str | None = None

    def __post_init__(self) -> None:
        _check_choice(self, "preprocess", ("tgan", "tganv2"))
        _check_choice(self, "shuffle", ("none", "styleganv-seed42", "subsets-per-run"))
        _check_choice(self, "eps_rule", ("none", "log-args", "added"))
        _check_count(self, "num_fake", "fake_selection", "first")
        if (self.shuffle == "subsets-per-run") != (self.num_runs > 1):
            raise ValueError(f"{self.name}: num_runs > 1 goes with shuffle='subsets-per-run' and only with it")

    @property
    def pool_size(self) -> int | None:
        """How many videos, in manifest order, the score draws on (None: all): num_fake, or every video where each
        run draws its own subset of num_fake ('subsets-per-run'; cutting to num_fake first would make every run the
        same videos and the std over runs 0)."""
        return None if self.shuffle == "subsets-per-run" else self.num_fake


def _check_choice(proto: Protocol, name: str, allowed: tuple[str, ...]) -> None:
    """Refuse a field value outside the implemented conventions."""
    if getattr(proto, name) not in allowed:
        raise ValueError(f"{proto.name}: {name}={getattr(proto, name)!r}; implemented: {', '.join(allowed)}")


def _check_count(proto: Protocol, count: str, selection: str, rule: str) -> None:
    """A sample count goes with its selection rule: None with 'all', a number with `rule`."""
    n, sel = getattr(proto, count), getattr(proto, selection)
    if (n is None and sel != "all") or (n is not None and (sel != rule or n < 2)):
        raise ValueError(f"{proto.name}: {count}={n!r} with {selection}={sel!r}; use None with 'all' or a count "
                         f">= 2 with {rule!r}")


def cite(proto: Protocol, reference: str) -> Protocol:
    """The protocol with its reference text (file and line of each convention) attached."""
    return dataclasses.replace(proto, reference=reference.strip())


def with_counts(proto: FVDProtocol | ISProtocol, num_fake: int | None = None,
                num_real: int | None = None) -> FVDProtocol | ISProtocol:
    """The protocol with other sample counts: a new name and `derived_from`, so it never passes for the original."""
    changes: dict[str, Any] = {}
    if num_fake is not None and num_fake != proto.num_fake:
        changes.update(num_fake=num_fake, fake_selection="first")
    if num_real is not None and num_real != getattr(proto, "num_real", num_real):
        changes.update(num_real=num_real, real_selection="first-sorted")
    if not changes:
        return proto
    suffix = "".join(f"-{k.split('_')[1]}{v}" for k, v in changes.items() if k.startswith("num_"))
    return dataclasses.replace(proto, name=f"{proto.name}{suffix}", derived_from=proto.derived_from or proto.name,
                               reference=f"{proto.name} with other sample counts: not comparable to it.", **changes)


# References, read at these commits: universome/stylegan-v 3fecd69 (SGV), pfnet-research/tgan (TGAN),
# pfnet-research/tgan2 f892bc4 (TGAN2), songweige/content-debiased-fvd a1e037a (CDFVD).
FVD_STYLEGANV_2048 = FVDProtocol(name="fvd-styleganv-2048-16f", num_fake=2048, fake_selection="first", num_real=2048,
                                 real_selection="first-sorted", real_split=None)
FVD_STYLEGANV_2048 = cite(FVD_STYLEGANV_2048, """StyleGAN-V `fvd2048_16f` (SGV src/metrics/metric_main.py:115-118).

I3D TorchScript called with rescale/resize/return_features (frechet_video_distance.py:23); 16 consecutive frames
(:26), generated clips from frame 0 (:39, metric_utils.py:309), real clips from a uniform random offset
(training/dataset.py:402-406) after dropping videos shorter than 16 (frechet_video_distance.py:28,
dataset.py:323-324); the first 2,048 real videos in sorted order (dataset.py:283,299; metric_utils.py:222-230)
and 2,048 generated; covariance divided by N (metric_utils.py:122-127). Real frames as its video-folder
conversion writes them (scripts/convert_videos_to_frames.py:74-76): shorter side to the target size with
Lanczos, centre crop, JPEG; the `q=95` there is not a PIL option, so PIL's default quality 75 is what is stored.
""")
FVD_UCF101_10K = FVDProtocol(name="fvd-ucf101-10k", num_fake=10_000, fake_selection="first")
FVD_UCF101_10K = cite(FVD_UCF101_10K, """The 10K UCF-101 zero-shot FVD: 10,000 generated videos against every trainlist01 video.

Counts as in the text-to-video papers VidRD compares with; every other convention is StyleGAN-V's
(fvd-styleganv-2048-16f: real frames per convert_videos_to_frames.py:74-76, covariance / N per
metric_utils.py:122-127, random-offset real clips per dataset.py:402-406).
""")
FVD_VARIANTS = (
    # SGV scripts/convert_video_to_dataset.py:45-47: centre crop to a square first, then Lanczos, JPEG (PIL q75).
    dataclasses.replace(FVD_UCF101_10K, name="fvd-ucf101-10k-crop-first",
                        real_preparation="styleganv-crop-lanczos"),
    # CDFVD cdfvd/utils/data_utils.py:52-65: shorter side (ceil) bilinear antialiased, floor centre crop, no JPEG;
    # covariance / N (cdfvd/utils/metric_utils.py:125-135).
    dataclasses.replace(FVD_UCF101_10K, name="fvd-ucf101-10k-cdfvd-prep", real_preparation="cdfvd-resize-crop-bilinear",
                        real_jpeg_quality=None),
    # vidrd-bench 0.1 (retired fvd-i3d-16f): whole frame stretched bilinear, no JPEG, np.cov's N - 1.
    dataclasses.replace(FVD_UCF101_10K, name="fvd-ucf101-10k-stretch", real_preparation="stretch-bilinear",
                        real_jpeg_quality=None, covariance_divisor="N-1"),
    # SGV frechet_video_distance.py:18,27 subsample_factor (fvd2048_128f_subsample8f uses 8); stride 3 is TATS'.
    dataclasses.replace(FVD_UCF101_10K, name="fvd-ucf101-10k-stride3", frame_stride=3),
    # The DeepMind weights in the pytorch-i3d layout: a different detector file, a different number.
    dataclasses.replace(FVD_UCF101_10K, name="fvd-ucf101-10k-i3d-pytorch", detector="i3d-pytorch"),
)
FVD_MSRVTT = FVDProtocol(name="fvd-msrvtt-2990", num_fake=2_990, fake_selection="first", real_split="msrvtt-test")
FVD_MSRVTT = cite(FVD_MSRVTT, """Zero-shot FVD on MSR-VTT: the first 2,990 generated videos (one per test video under
either caption rule: the all-captions plan's first round) against the 2,990 test videos (video7010-video9999).

Every other convention is fvd-ucf101-10k's (StyleGAN-V's real-frame preparation per
convert_videos_to_frames.py:74-76, covariance / N per metric_utils.py:122-127, random-offset real clips per
dataset.py:402-406); the MSR-VTT papers do not state theirs.
""")
IS_TGAN = ISProtocol(name="is-c3d-tgan", preprocess="tgan", num_fake=9984, fake_selection="first", num_splits=1,
                     eps=1e-7, eps_rule="log-args")
IS_TGAN = cite(IS_TGAN, """TGAN v1 (TGAN evaluation/calc_inception.py; the C3D of evaluation/c3d_ft.py:21-58).

Preprocessing calc_inception.py:68-76 (x*128+128, cv2 INTER_CUBIC (:38) to 128x128, RGB->BGR, minus the mean clip cut at columns
21:149 (:60-61), crop [8:120, 8:120]); 10000 // 48 batches of 48 = 9,984 videos (:34,:58,:65); one split with
eps 1e-7 inside both logarithms (:22-26).
""")
IS_TGANV2 = ISProtocol(name="is-c3d-tganv2", num_fake=2048, fake_selection="first", num_splits=1,
                       shuffle="subsets-per-run", num_runs=10, eps=1e-20, eps_rule="added")
IS_TGANV2 = cite(IS_TGANV2, """TGANv2 (TGAN2 scripts/compute_inception_score.py, tgan2/evaluations/inception_score.py).

Preprocessing tgan2/models/c3d/c3d_ucf101.py:67-73,164-170 (RGB->BGR x128, the whole frame resized to 112x112 by
chainer's bilinear resize_images with corners aligned, plus 128 minus the mean clip cut at [8:120, 8:120]);
2,048 samples, 1 split, 10 loops (compute_inception_score.py:24-25,55-66), mean and std over the loops; eps 1e-20
added to p (inception_score.py:13,57-64). Each loop draws fresh samples there; here each run a seeded subset.
""")
IS_STYLEGANV_2048 = ISProtocol(name="is-c3d-styleganv-2048", num_fake=2048, fake_selection="first",
                               shuffle="styleganv-seed42")
IS_STYLEGANV_2048 = cite(IS_STYLEGANV_2048, """StyleGAN-V `isv2048_ucf` (SGV src/metrics/metric_main.py:134-137).

TGANv2's C3D ported to TorchScript (video_inception_score.py:15-19): the tganv2 preprocessing; 2,048 generated
videos (:38-40), shuffled by numpy RandomState(42) (:46), 10 consecutive splits with no eps (:47-51), mean and
std over the splits (:52).
""")
IS_STYLEGANV_10K = dataclasses.replace(IS_STYLEGANV_2048, name="is-c3d-styleganv-10k", num_fake=10_000)
IS_STYLEGANV_10K = cite(IS_STYLEGANV_10K, """StyleGAN-V's `isv` convention (is-c3d-styleganv-2048) on the 10,000 UCF-101 videos.""")

FVD_STYLEGANV_2048_128F = dataclasses.replace(FVD_STYLEGANV_2048, name="fvd-styleganv-2048-128f", num_frames=128)
FVD_STYLEGANV_2048_128F = cite(FVD_STYLEGANV_2048_128F, """StyleGAN-V `fvd2048_128f` (SGV src/metrics/metric_main.py:121-124).

compute_fvd(max_real=2048, num_gen=2048, num_frames=128) (metric_main.py:123): the I3D TorchScript fed all 128
consecutive frames at once (frechet_video_distance.py:26 load_n_consecutive), its logits averaged over time;
generated clips frames 0-127 (:39, metric_utils.py:309); real clips from a uniform random offset in
[0, len - 128] (training/dataset.py:402-406) after dropping videos shorter than 128 (frechet_video_distance.py:28,
dataset.py:323-324). Every other convention as fvd-styleganv-2048-16f. Scores long videos (vidrd-long128).
""")
FVD_STYLEGANV_2048_128F_SUB8 = dataclasses.replace(FVD_STYLEGANV_2048, name="fvd-styleganv-2048-128f-subsample8f",
                                                   frame_stride=8)
FVD_STYLEGANV_2048_128F_SUB8 = cite(FVD_STYLEGANV_2048_128F_SUB8, """StyleGAN-V `fvd2048_128f_subsample8f` (SGV src/metrics/metric_main.py:127-131).

compute_fvd(max_real=2048, num_gen=2048, num_frames=16, subsample_factor=8) (metric_main.py:130): 16 frames 8
apart, covering 121 frames of a 128-frame window (frechet_video_distance.py:27; dataset.py:406: np.arange(0, 16 * 8, 8) + offset);
generated clips frames 0, 8, ..., 120 (frechet_video_distance.py:38-40); real clips from a uniform random offset
in [0, len - 16 * 8 + 8 - 1] (dataset.py:403) after dropping videos shorter than 16 * 8 = 128 frames
(dataset.py:323-324). Every other convention as fvd-styleganv-2048-16f.
""")

# Defaults for ucf101-vidrd (README "Protocols" says why).
DEFAULT_FVD, DEFAULT_IS = FVD_UCF101_10K.name, IS_STYLEGANV_10K.name

SMOKE_FVD = FVDProtocol(name="fvd-smoke-tiny", detector="i3d-tiny-random", resolution=64,
                        real_preparation="stretch-bilinear",
                        real_jpeg_quality=None, real_split=None,
                        reference="Smoke runs only: tiny random I3D, every video, real frames stretched.")
SMOKE_IS = ISProtocol(name="is-smoke-tiny", detector="c3d-tiny-random",
                      reference="Smoke runs only: tiny random C3D, every video, 10 consecutive splits, no eps.")

PROTOCOLS: Registry[Protocol] = Registry("protocol", Protocol)
PROTOCOLS.register("ucf101-vidrd", EvalProtocol(name="ucf101-vidrd"))
PROTOCOLS.register("ucf101-vidrd-release", EvalProtocol(name="ucf101-vidrd-release", num_frames=24))
PROTOCOLS.register("tiny-smoke", EvalProtocol(name="tiny-smoke", num_videos=24, height=32, width=32))
PROTOCOLS.register("msrvtt-one-caption", CaptionEvalProtocol(
    name="msrvtt-one-caption", reference="MSR-VTT zero-shot: one seeded caption per test video, 2,990 videos."))
PROTOCOLS.register("msrvtt-all-captions", CaptionEvalProtocol(
    name="msrvtt-all-captions", num_videos=59_800, caption_rule="all",
    reference="MSR-VTT zero-shot: every test caption (20 per video), 59,800 videos."))
PROTOCOLS.register("msrvtt-tiny-smoke", CaptionEvalProtocol(
    name="msrvtt-tiny-smoke", num_videos=24, height=32, width=32,
    reference="Smoke runs only: the first 24 videos of the one-caption MSR-VTT plan at 32x32."))
PROTOCOLS.register("ucf101-vidrd-long128", EvalProtocol(name="ucf101-vidrd-long128", num_videos=2048, num_frames=128))
for _proto in (FVD_UCF101_10K, FVD_STYLEGANV_2048, *FVD_VARIANTS, FVD_MSRVTT, IS_STYLEGANV_10K, IS_STYLEGANV_2048, IS_TGANV2,
               IS_TGAN, SMOKE_FVD, SMOKE_IS):
    PROTOCOLS.register(_proto.name, _proto)
for _proto in (FVD_STYLEGANV_2048_128F, FVD_STYLEGANV_2048_128F_SUB8):
    PROTOCOLS.register(_proto.name, _proto)

# Names used before the conventions became fields: their files and results are refused, naming the successors.
RETIRED = {
    "fvd-i3d-16f": ("fvd-ucf101-10k", "fvd-styleganv-2048-16f", "fvd-ucf101-10k-stretch"),
    "fvd-i3d-pytorch-16f": ("fvd-ucf101-10k-i3d-pytorch",),
    "is-c3d-ucf101": ("is-c3d-styleganv-10k", "is-c3d-tgan", "is-c3d-tganv2", "is-c3d-styleganv-2048"),
    "fvd-tiny-random": ("fvd-smoke-tiny",),
    "is-tiny-random": ("is-smoke-tiny",),
}


def check_not_retired(name: str, what: str = "This input") -> None:
    """Refuse a retired protocol name with a message naming the protocols that replace it."""
    if name in RETIRED:
        raise ProtocolMismatchError(
            f"{what} use protocol {name!r}, retired when every FVD/IS convention became a protocol field (its "
            f"real-clip preparation, covariance divisor and split rule match no published protocol exactly). "
            f"Recompute under one of: {', '.join(RETIRED[name])} (see README, Protocols)."
        )


def get_protocol(name: str) -> Protocol:
    """The registered protocol `name`; retired names raise an error naming their successors."""
    try:
        return PROTOCOLS.get(name)
    except UnknownNameError:
        check_not_retired(name, "These settings")
        raise


def metric_protocols(kind: type) -> list[Protocol]:
    """Registered protocols of one kind (FVDProtocol or ISProtocol), in registration order."""
    return [p for _, p in PROTOCOLS.items() if isinstance(p, kind)]


def metric_protocol(protocol: str | Protocol, kind: type) -> Protocol:
    """The protocol `protocol` names (a Protocol passes through; retired names refused, naming successors), checked
    to be of `kind` (FVDProtocol, ISProtocol, ...): a metric scores only under protocols of its own kind."""
    proto = get_protocol(protocol) if isinstance(protocol, str) else protocol
    if not isinstance(proto, kind):
        raise VidrdBenchError(f"Protocol {proto.name!r} is not an {kind.__name__}; pick one of "
                              f"{', '.join(p.name for p in metric_protocols(kind))}.")
    return proto


OLD_GENERATION_RECORD = (
    "This record's generation protocol {name!r} predates the split into an evaluation protocol and generator "
    "settings (it carries VidRD's sampler fields such as frames_per_clip). Its videos still score, but it cannot be "
    "resumed or compared with newer runs: regenerate into a new --out folder to get a comparable record."
)


def protocol_from_dict(d: dict[str, Any]) -> Protocol:
    """Rebuild a protocol from its JSON record, choosing the dataclass by its distinctive fields."""
    check_not_retired(str(d.get("name")), "This record")
    if "frames_per_clip" in d:
        raise ProtocolMismatchError(OLD_GENERATION_RECORD.format(name=d.get("name")))
    if "caption_rule" in d:
        return CaptionEvalProtocol(**d)
    if "dataset" in d:
        return EvalProtocol(**d)
    if "num_splits" in d:
        return ISProtocol(**d)
    return FVDProtocol(**d)


def check_prompts_seeds(prompts: list[str], seeds: list[int], error: type[Exception]) -> None:
    """Refuse anything but one prompt string and one integer seed per video (raising `error`)."""
    if isinstance(prompts, str) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise error(f"prompts must be a non-empty list of strings, got {prompts!r:.200}; pass one prompt per video.")
    if len(seeds) != len(prompts) or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in seeds):
        raise error(f"Expected one integer seed per prompt: {len(prompts)} prompts but seeds "
                    f"{list(seeds)!r:.200}. Each video's seed fixes its noise; take them from the run's plan.")
