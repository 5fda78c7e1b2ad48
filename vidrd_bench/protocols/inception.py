"""Inception Score protocols: the ISProtocol fields and every registered IS convention, each citing its reference."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vidrd_bench.protocols.base import Protocol, _check_choice, _check_count, cite


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

SMOKE_IS = ISProtocol(name="is-smoke-tiny", detector="c3d-tiny-random",
                      reference="Smoke runs only: tiny random C3D, every video, 10 consecutive splits, no eps.")

IS_PROTOCOLS = (IS_STYLEGANV_10K, IS_STYLEGANV_2048, IS_TGANV2, IS_TGAN)
