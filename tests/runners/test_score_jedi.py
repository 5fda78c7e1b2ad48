"""End to end: `vidrd-bench stats --protocol jedi-smoke-tiny` keeps the real features JEDi needs, and `vidrd-bench
score jedi` scores a tiny run against that file or a folder of real videos, with the tiny random V-JEPA."""


import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vidrd_bench.cli import main
from vidrd_bench.datasets.video import read_clip, write_video
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.jedi import jedi_distance
from vidrd_bench.metrics.stats import load_stats
from vidrd_bench.protocols import SMOKE_JEDI
from vidrd_bench.results import load_results

from tests.runners.run_fixtures import write_fake_run

CLASSES = ("Diving", "Knitting")
FAST = ["--batch-size", "4", "--num-workers", "0", "--no-progress", "--no-cache"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """3 real videos of 20 frames, 4 generated videos of 16 frames with a manifest and run.json."""
    root = tmp_path_factory.mktemp("jedi")
    rng = np.random.default_rng(0)
    for i in range(3):
        c = CLASSES[i % 2]
        write_video(root / "real" / c / f"v_{c}_g{i + 1:02d}_c01.avi", rng.integers(0, 256, (20, 24, 32, 3), np.uint8), 8)
    write_fake_run(root / "fake", rng, CLASSES)
    return root


def _stats(root, *extra):
    out = CliRunner().invoke(main, ["stats", "ucf101", "--videos", str(root / "real"), "--protocol", SMOKE_JEDI.name,
                                    "--size", "16", "--out", str(root / "jedi.npz"), *FAST, *extra])
    assert out.exit_code == 0, out.output
    return load_stats(root / "jedi.npz", SMOKE_JEDI)


def test_stats_then_score_jedi_from_the_command_line(folders, tmp_path):
    stats = _stats(folders)
    assert stats.count == 3 and stats.features.shape == (3, 64) and stats.detector == "vjepa-tiny-random"
    out = CliRunner().invoke(main, ["score", "jedi", "--fake", str(folders / "fake"), "--real",
                                    str(folders / "jedi.npz"), "--protocol", SMOKE_JEDI.name, "--bootstrap", "20",
                                    "--out", str(tmp_path / "jedi.json"), *FAST])
    assert out.exit_code == 0, out.output
    record = load_results(tmp_path / "jedi.json")[0]
    detector = load_detector("vjepa-tiny-random", resolution=SMOKE_JEDI.resolution)
    fake = torch.cat([detector(torch.from_numpy(read_clip(folders / "fake" / f"videos/{i:05d}.mp4", 16, start=0))
                               .permute(3, 0, 1, 2)[None]) for i in range(4)]).numpy()
    assert record.metric == "jedi" and record.n == 4 and record.smoke and not record.higher_is_better
    assert record.value == pytest.approx(jedi_distance(fake, stats.features), rel=1e-4)
    assert record.ci_low <= record.value <= record.ci_high and record.seeds["num_resamples"] == 20
    assert record.protocol == SMOKE_JEDI.to_dict() and list(record.weights) == ["random:vjepa-tiny-random"]


def test_score_jedi_against_a_folder_of_real_videos_equals_the_statistics_file(folders, tmp_path):
    stats = _stats(folders)
    args = ["score", "jedi", "--fake", str(folders / "fake"), "--protocol", SMOKE_JEDI.name, "--bootstrap", "0", *FAST]
    from_file = CliRunner().invoke(main, [*args, "--real", str(folders / "jedi.npz"), "--out", str(tmp_path / "a.json")])
    from_dir = CliRunner().invoke(main, [*args, "--real", str(folders / "real"), "--out", str(tmp_path / "b.json")])
    assert from_file.exit_code == 0 and from_dir.exit_code == 0, from_file.output + from_dir.output
    a, b = load_results(tmp_path / "a.json")[0], load_results(tmp_path / "b.json")[0]
    assert a.value == pytest.approx(b.value, rel=1e-6) and b.extra["real_count"] == stats.count


def test_jedi_refuses_statistics_without_features_or_of_another_protocol(folders, tmp_path):
    _stats(folders, "--no-features")
    out = CliRunner().invoke(main, ["score", "jedi", "--fake", str(folders / "fake"), "--real",
                                    str(folders / "jedi.npz"), "--protocol", SMOKE_JEDI.name, *FAST])
    assert out.exit_code != 0 and "without --no-features" in out.output
    fvd_stats = CliRunner().invoke(main, ["stats", "ucf101", "--videos", str(folders / "real"), "--protocol",
                                          "fvd-smoke-tiny", "--size", "16", "--out", str(tmp_path / "fvd.npz"), *FAST])
    assert fvd_stats.exit_code == 0, fvd_stats.output
    out = CliRunner().invoke(main, ["score", "jedi", "--fake", str(folders / "fake"), "--real",
                                    str(tmp_path / "fvd.npz"), "--protocol", SMOKE_JEDI.name, *FAST])
    assert out.exit_code != 0 and "real-video settings differ" in out.output
    wrong_kind = CliRunner().invoke(main, ["score", "fvd", "--fake", str(folders / "fake"), "--real",
                                           str(tmp_path / "fvd.npz"), "--protocol", SMOKE_JEDI.name, *FAST])
    assert wrong_kind.exit_code != 0 and "not an FVDProtocol" in wrong_kind.output
