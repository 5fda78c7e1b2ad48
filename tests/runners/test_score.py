"""End to end: real statistics, `score_fvd` and `score_is` on tiny videos with random-weight detectors."""

import json

from click.testing import CliRunner

import numpy as np
import pytest

from vidrd_bench.datasets import manifest
from vidrd_bench.datasets.video import write_video
from vidrd_bench.core.errors import ProtocolMismatchError, RunStateError, VideoError, VidrdBenchError, WeightsError
from vidrd_bench.core.io import sha256_file
from vidrd_bench.api import FVD, compute_real_stats, score_fvd, score_is
from vidrd_bench.cli import main
from vidrd_bench.metrics.detectors.i3d import export_torchscript, tiny_i3d
from vidrd_bench.metrics.stats import load_stats, save_stats
import dataclasses

from vidrd_bench.protocols import PROTOCOLS
from vidrd_bench.results import load_results

from tests.runners.run_fixtures import write_fake_run

CLASSES = ("Diving", "Knitting")
FVD_TEST = PROTOCOLS.get("fvd-smoke-tiny")  # tiny I3D resizing to 64x64: fast on the CPU


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """4 real videos (one too short), 4 generated videos with a manifest and run.json."""
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    for c in CLASSES:
        for g, n in ((1, 20), (2, 10 if c == "Knitting" else 18)):
            write_video(root / "real" / c / f"v_{c}_g{g:02d}_c01.avi", rng.integers(0, 256, (n, 24, 32, 3), np.uint8), 8)
    write_fake_run(root / "fake", rng, CLASSES)
    stats = compute_real_stats(root / "real", protocol=FVD_TEST, size=16, batch_size=4, num_workers=0,
                               out_path=root / "stats.npz", progress=False)
    return root, stats


def test_real_stats_discard_short_videos_and_keep_classes(folders):
    root, stats = folders
    assert stats.count == 3 and stats.extra["skipped_short"] == 1 and stats.extra["resolution"] == [16, 16]
    assert sorted(stats.classes) == ["Diving", "Diving", "Knitting"] and "1 videos too short" in stats.source
    back = load_stats(root / "stats.npz", FVD_TEST)
    feats = back.features.astype(np.float64)  # the protocol's covariance divides by N
    assert np.allclose(back.sigma, np.cov(feats, rowvar=False, bias=True), rtol=1e-5, atol=1e-4)


def test_score_fvd_writes_a_complete_record(folders, tmp_path):
    root, _ = folders
    rec = score_fvd(root / "stats.npz", root / "fake", protocol=FVD_TEST, batch_size=2, num_workers=1,
                    bootstrap=5, out_path=tmp_path / "fvd.json", progress=False)
    saved = load_results(tmp_path / "fvd.json")[0]
    assert saved.metric == "fvd" and saved.n == 4 and saved.smoke and not saved.higher_is_better
    assert saved.value == pytest.approx(rec.value) and rec.value > 0 and saved.ci_low < saved.value < saved.ci_high
    assert saved.protocol == FVD_TEST.to_dict() and saved.generation_protocol["name"] == "tiny-smoke"
    assert saved.generator["name"] == "modelscope" and "generator" not in saved.extra
    assert list(saved.weights) == ["random:i3d-tiny-random"] and "random-weight" in saved.label
    assert set(saved.extra["per_class_fvd"]) == {"Diving"}  # Knitting has one real video: no covariance
    # the videos' frame size and the detector's input size, named apart (issue 29.9: not 'resolution' 64 vs [16, 16])
    assert saved.extra["video_size"] == [16, 16] and saved.extra["detector_resolution"] == FVD_TEST.resolution == 64
    assert "resolution" not in saved.extra
    with pytest.raises(ProtocolMismatchError, match="fvd-ucf101-10k"):
        score_fvd(root / "stats.npz", root / "fake", protocol="fvd-ucf101-10k", progress=False)


def test_records_carry_the_runs_precision_and_its_agreement(folders, tmp_path):
    """A folder rendered at fp8-e4m3: the record has run.json's precision record and its label says so."""
    import shutil

    root, _ = folders
    fake = shutil.copytree(root / "fake", tmp_path / "fake")
    precision = {"name": "fp8-e4m3", "protocol": False, "agreement_to_bf16": {
        "videos": 2, "uint8_mean_abs_diff": 0.9, "uint8_p99_abs_diff": 5.0, "uint8_max_abs_diff": 31}}
    run = json.loads((fake / manifest.RUN_FILE).read_text())
    (fake / manifest.RUN_FILE).write_text(json.dumps({**run, "precision": precision}))
    score_fvd(root / "stats.npz", fake, protocol=FVD_TEST, num_workers=0, bootstrap=0, out_path=tmp_path / "f.json",
              progress=False)
    saved = load_results(tmp_path / "f.json")[0]
    assert saved.precision == precision and "precision" not in saved.extra
    assert "fp8-e4m3, vs bf16 on 2 videos: uint8 mean |diff| 0.9, p99 5.0, max 31; not the protocol's" in saved.label


def test_score_fvd_refuses_real_statistics_at_another_resolution(folders, tmp_path):
    root, _ = folders
    stats = load_stats(root / "stats.npz")
    stats.extra["resolution"] = [8, 8]
    save_stats(tmp_path / "s8.npz", stats)
    with pytest.raises(ProtocolMismatchError, match="8x8"):
        score_fvd(tmp_path / "s8.npz", root / "fake", protocol=FVD_TEST, num_workers=0, progress=False)
    stats.extra["resolution"] = [16, 16]
    stats.detector_sha256 = {"i3d_torchscript.pt": "0" * 64}
    save_stats(tmp_path / "other.npz", stats)
    with pytest.raises(ProtocolMismatchError, match="detector files"):
        score_fvd(tmp_path / "other.npz", root / "fake", protocol=FVD_TEST, num_workers=0, progress=False)


def test_score_is_on_globbed_videos_and_input_checks(folders, tmp_path):
    root, _ = folders
    bare = tmp_path / "bare"
    rng = np.random.default_rng(1)
    for i in range(10):  # no manifest: *.mp4 sorted by name; 10 videos for the 10 splits
        write_video(bare / f"{i:02d}.mp4", rng.integers(0, 256, (16, 16, 16, 3), np.uint8), 8)
    rec = score_is(bare, protocol="is-smoke-tiny", batch_size=4, num_workers=0, bootstrap=4,
                   out_path=tmp_path / "is.json", progress=False)
    saved = load_results(tmp_path / "is.json")[0]
    assert saved.metric == "is" and saved.higher_is_better and saved.n == 10 and saved.smoke
    assert saved.value == pytest.approx(rec.value) and 1.0 <= rec.value <= 101.0 and rec.std is not None
    assert saved.generation_protocol is None and list(saved.weights) == ["random:c3d-tiny-random"]
    with pytest.raises(VidrdBenchError, match="at least 10 videos"):
        score_is(root / "fake", protocol="is-smoke-tiny", num_workers=0, progress=False)
    write_video(bare / "short.mp4", np.zeros((8, 16, 16, 3), np.uint8), 8)
    with pytest.raises(VideoError, match="short.mp4"):
        score_is(bare, protocol="is-smoke-tiny", num_workers=0, progress=False)
    partial = tmp_path / "partial"
    manifest.write_rows(partial / manifest.MANIFEST_FILE,
                        [manifest.ManifestRow(0, "Diving", "p", 1, "videos/00000.mp4", "tiny-smoke")])
    with pytest.raises(RunStateError, match="0 are done"):
        score_is(partial, protocol="is-smoke-tiny", progress=False)


def test_counts_are_the_protocols_fewer_videos_are_refused_or_a_derived_protocol(folders, tmp_path):
    root, _ = folders
    six = dataclasses.replace(FVD_TEST, name="fvd-six", num_fake=6, fake_selection="first")
    with pytest.raises(ProtocolMismatchError, match="takes 6.*--allow-fewer.*'fvd-six-fake4'"):
        score_fvd(root / "real", root / "fake", protocol=six, num_workers=0, bootstrap=0, progress=False)
    rec = score_fvd(root / "real", root / "fake", protocol=six, num_workers=0, bootstrap=0, progress=False,
                    allow_fewer=True)
    assert rec.protocol["name"] == "fvd-six-fake4" and rec.protocol["derived_from"] == "fvd-six" and rec.n == 4
    three = dataclasses.replace(FVD_TEST, name="fvd-three", num_fake=3, fake_selection="first")
    first3 = score_fvd(root / "real", root / "fake", protocol=three, num_workers=0, bootstrap=0, progress=False)
    assert first3.n == 3 and first3.protocol["name"] == "fvd-three"  # more videos than the protocol: the first 3


def test_the_record_carries_the_statistics_file_sha256(folders):
    """A record names the exact statistics file it was scored against (its path alone could be replaced)."""
    root, _ = folders
    rec = score_fvd(root / "stats.npz", root / "fake", protocol=FVD_TEST, num_workers=0, bootstrap=0, progress=False)
    assert rec.extra["real_stats_sha256"] == sha256_file(root / "stats.npz") and rec.extra["real_count"] == 3


def test_features_cache_means_rescoring_never_decodes_again(folders, tmp_path, monkeypatch):
    root, _ = folders
    cache = tmp_path / "cache"
    first = score_is(root / "fake", protocol=dataclasses.replace(PROTOCOLS.get("is-smoke-tiny"), num_splits=2),
                     num_workers=0, bootstrap=0, progress=False, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a video although its features are cached")

    monkeypatch.setattr("vidrd_bench.metrics.extract.read_clips", no_decoding)
    again = score_is(root / "fake", protocol=dataclasses.replace(PROTOCOLS.get("is-smoke-tiny"), num_splits=4,
                                                                 name="is-4"),
                     num_workers=0, bootstrap=0, progress=False, cache_dir=cache)
    assert again.n == first.n == 4 and again.value != first.value
    with pytest.raises(AssertionError, match="decoded"):  # another clip rule (TGAN preprocessing) is a new entry
        score_is(root / "fake", protocol=dataclasses.replace(PROTOCOLS.get("is-c3d-tgan"), detector="c3d-tiny-random",
                                                             num_fake=None, fake_selection="all"),
                 num_workers=0, bootstrap=0, progress=False, cache_dir=cache)


def test_is_tganv2_runs_draw_their_subsets_from_every_video(folders):
    root, _ = folders
    two = dataclasses.replace(PROTOCOLS.get("is-c3d-tganv2"), detector="c3d-tiny-random", num_fake=2)
    rec = score_is(root / "fake", protocol=two, num_workers=0, bootstrap=0, progress=False)
    assert two.pool_size is None and rec.n == 4  # 10 runs of 2 of the 4 videos, not 10 orderings of the first 2
    assert rec.std > 1e-6 and rec.extra["num_runs"] == 10


def test_fewer_real_videos_than_the_protocol_takes_give_a_derived_protocol_from_a_folder_or_a_file(folders, tmp_path):
    root, _ = folders
    five = dataclasses.replace(FVD_TEST, name="fvd-five", num_real=5, real_selection="first-sorted")
    with pytest.raises(ProtocolMismatchError, match="3 real videos where it takes 5.*--allow-fewer"):
        score_fvd(root / "real", root / "fake", protocol=five, num_workers=0, bootstrap=0, progress=False)
    rec = score_fvd(root / "real", root / "fake", protocol=five, num_workers=0, bootstrap=0, progress=False,
                    allow_fewer=True)
    assert rec.protocol["name"] == "fvd-five-real3" and rec.protocol["derived_from"] == "fvd-five"
    assert rec.extra["real_count"] == 3 and rec.n == 4
    compute_real_stats(root / "real", protocol=five, size=16, num_workers=0, out_path=tmp_path / "three.npz",
                       progress=False, allow_fewer=True)
    with pytest.raises(ProtocolMismatchError, match="3 real videos where it takes 5"):
        score_fvd(tmp_path / "three.npz", root / "fake", protocol=five, num_workers=0, bootstrap=0, progress=False)
    again = score_fvd(tmp_path / "three.npz", root / "fake", protocol=five, num_workers=0, bootstrap=0,
                      progress=False, allow_fewer=True)
    assert again.protocol == rec.protocol and again.value == pytest.approx(rec.value)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_the_trust_opt_in_reaches_every_runner_that_loads_a_detector(folders, tmp_path):
    """A TorchScript detector file (a program) is refused by vb.compute_real_stats, vb.score_fvd, vb.FVD, `stats` and
    `score fvd` unless trusted; trusted (trust_detector=True, --trust-detector) each of them scores with it."""
    root, _ = folders
    program = tmp_path / "program.pt"
    export_torchscript(tiny_i3d(64), program)
    proto = dataclasses.replace(FVD_TEST, name="fvd-program-test", detector="i3d-torchscript", resolution=224)
    kw = {"protocol": proto, "detector_path": program, "num_workers": 0, "progress": False, "cache_dir": False}
    with pytest.raises(WeightsError, match="is TorchScript: a program"):
        compute_real_stats(root / "real", size=16, out_path=tmp_path / "no.npz", **kw)
    stats = compute_real_stats(root / "real", size=16, out_path=tmp_path / "p.npz", trust_detector=True, **kw)
    for untrusted in (lambda: score_fvd(tmp_path / "p.npz", root / "fake", bootstrap=0, **kw),
                      lambda: FVD(proto, detector_path=program, device="cpu")):
        with pytest.raises(WeightsError, match="is TorchScript: a program"):
            untrusted()
    rec = score_fvd(tmp_path / "p.npz", root / "fake", bootstrap=0, trust_detector=True, **kw)
    digest = {"program.pt": sha256_file(program)}
    assert stats.count == 3 and stats.detector_sha256 == digest and rec.weights == digest and rec.n == 4
    assert FVD(proto, tmp_path / "p.npz", "cpu", detector_path=program, trust_detector=True).detector.weights == digest
    common = ["--detector-weights", str(program), "--device", "cpu", "--num-workers", "0", "--no-progress",
              "--no-cache", "--protocol", proto.name]
    commands = (["stats", "ucf101", "--videos", str(root / "real"), "--size", "16", "--out", str(tmp_path / "c.npz")],
                ["score", "fvd", "--real", str(tmp_path / "p.npz"), "--fake", str(root / "fake"), "--bootstrap", "0"])
    with PROTOCOLS.registered(proto.name, proto):
        for command in commands:
            res = CliRunner().invoke(main, command + common)
            assert res.exit_code == 2 and "is TorchScript: a program" in res.output and "Traceback" not in res.output
            res = CliRunner().invoke(main, command + common + ["--trust-detector"])
            assert res.exit_code == 0, res.output
    assert load_stats(tmp_path / "c.npz").detector_sha256 == digest


def test_several_metrics_on_the_same_videos_decode_each_once(folders, tmp_path, monkeypatch):
    """score_metrics of FVD and IS: one extraction, each generated video decoded once, the records those of
    score_metric one by one."""
    from collections import Counter
    from pathlib import Path

    from vidrd_bench.metrics import extract
    from vidrd_bench.metrics.extract import ExtractionOptions
    from vidrd_bench.runners.score import ScoreOptions, score_metric, score_metrics

    root, _ = folders
    is2 = dataclasses.replace(PROTOCOLS.get("is-smoke-tiny"), num_splits=2)
    extraction = ExtractionOptions(device="cpu", num_workers=0, progress=False, cache_dir=False)
    jobs = [("fvd", FVD_TEST, ScoreOptions(bootstrap=0), root / "stats.npz"), ("is", is2, ScoreOptions(bootstrap=0),
                                                                                 None)]
    alone = [score_metric(m, root / "fake", p, extraction, s, real=r) for m, p, s, r in jobs]
    decoded = Counter()
    real_read = extract.read_clips
    monkeypatch.setattr(extract, "read_clips", lambda path, requests: decoded.update([Path(path).name]) or real_read(
        path, requests))
    together = score_metrics(root / "fake", jobs, extraction)
    assert decoded == Counter({f"{i:05d}.mp4": 1 for i in range(4)})
    assert [r.metric for r in together] == ["fvd", "is"]
    assert all(a.value == b.value and a.n == b.n for a, b in zip(alone, together))
