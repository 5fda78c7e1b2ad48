"""`stats msrvtt` and `score fid` end to end on a small MSR-VTT-shaped run (rendered by a fake generator from an
MSR-VTT caption plan) and real videos named as the test split, each FID equal to torch-fidelity's formula on
features computed independently; frames per video and the resize rule are fields that move the number; `table`
shows the published MSR-VTT rows beside the run."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from cleanfid.resize import make_resizer
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from tests.runners.test_generate import FakePipeline
from vidrd_bench.cli import main
from vidrd_bench.datasets import manifest as mf
from vidrd_bench.datasets import msrvtt as msrvtt_data
from vidrd_bench.datasets.prepare import prepare_real
from vidrd_bench.datasets.video import read_clip, write_video
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import ExtractionOptions
from vidrd_bench.protocols import SMOKE_FID
from vidrd_bench.results import load_results
from vidrd_bench.runners.generate import run_generate
from vidrd_bench.runners.score import ScoreOptions, score_metric

FAST = ["--device", "cpu", "--num-workers", "0", "--no-progress", "--no-cache"]


@pytest.fixture(scope="module")
def msrvtt(tmp_path_factory):
    """8 generated videos of an MSR-VTT caption plan and 10 real videos video7010 ... video7019 (40 x 48)."""
    root = tmp_path_factory.mktemp("msrvtt")
    ann = root / "test_videodatainfo.json"  # the release's layout: one caption per test video
    ann.write_text(json.dumps({"videos": [{"video_id": v, "split": "test"} for v in msrvtt_data.TEST_IDS],
                               "sentences": [{"caption": f"{v} happens", "video_id": v, "sen_id": i}
                                             for i, v in enumerate(msrvtt_data.TEST_IDS)]}))
    run_generate(dataset="msrvtt", out_dir=root / "run", instance=FakePipeline(), preset="tiny",
                 protocol_name="msrvtt-tiny-smoke", prompts_file=ann, num_videos=8, batch_size=4, show_progress=False)
    rng = np.random.default_rng(0)
    for v in range(7010, 7020):
        write_video(root / "TestVideo" / f"video{v}.mp4", rng.integers(0, 256, (12, 40, 48, 3), np.uint8), 8)
    return root


def _torch_fidelity_fid(fake: np.ndarray, real: np.ndarray) -> float:
    """torch-fidelity's FID (metric_fid.py:21-45) of two frame-feature matrices."""
    stats = [fid_features_to_statistics(torch.from_numpy(x.astype(np.float64))) for x in (fake, real)]
    return fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]


def _frame_features(paths, proto, size=None) -> np.ndarray:
    """Every frame's tiny-detector features, computed apart from the runners: the first num_frames frames, real
    ones stretched to `size`, resized by clean-fid's own resizer for the protocol's rule, through the network."""
    det = load_detector(proto.detector, resolution=proto.resolution, preprocess=proto.resize)
    library, mode = {"pil-bicubic": ("PIL", "bicubic"), "torch-bilinear": ("PyTorch", "bilinear")}[proto.resize]
    resize = make_resizer(library, False, mode, (proto.resolution, proto.resolution))
    rows = []
    for path in paths:
        clip = read_clip(path, proto.num_frames, start=0)
        clip = prepare_real(clip, size, "stretch-bilinear", None) if size else clip
        frames = torch.from_numpy(np.stack([resize(f).transpose(2, 0, 1) for f in clip]).astype(np.float32))
        with torch.no_grad():
            rows.append(det.module.layers((frames - 128) / 128).flatten(1).numpy())
    return np.concatenate(rows)


def _paths(root):
    """The generated videos in plan order and the real ones in id order."""
    fake = [root / "run" / r.path for r in mf.read_rows(root / "run" / mf.MANIFEST_FILE)]
    return fake, sorted((root / "TestVideo").glob("*.mp4"))


def test_stats_and_score_fid_end_to_end_and_the_table_shows_the_msrvtt_rows(msrvtt, tmp_path):
    runner = CliRunner()
    stats = runner.invoke(main, ["stats", "msrvtt", "--videos", str(msrvtt / "TestVideo"), "--protocol",
                                 "fid-smoke-tiny", "--size", "32", "--out", str(tmp_path / "real.npz"), *FAST])
    assert stats.exit_code == 0, stats.output
    assert "10 videos" in stats.output
    scored = runner.invoke(main, ["score", "fid", "--fake", str(msrvtt / "run"), "--real", str(tmp_path / "real.npz"),
                                  "--protocol", "fid-smoke-tiny", "--bootstrap", "10", "--name", "tiny-msrvtt",
                                  "--out", str(tmp_path / "fid.json"), *FAST])
    assert scored.exit_code == 0, scored.output
    record = load_results(tmp_path / "fid.json")[0]
    fake, real = _paths(msrvtt)
    expected = _torch_fidelity_fid(_frame_features(fake, SMOKE_FID), _frame_features(real, SMOKE_FID, (32, 32)))
    assert record.metric == "fid" and record.n == 8 and record.smoke and record.protocol == SMOKE_FID.to_dict()
    assert record.value == pytest.approx(expected, rel=1e-4)
    assert record.extra["num_frames_scored"] == 32 and record.extra["real_count"] == 10
    assert record.ci_low <= record.value <= record.ci_high
    assert record.generation_protocol["name"] == "msrvtt-tiny-smoke"
    table = runner.invoke(main, ["table", str(tmp_path / "fid.json")])
    assert table.exit_code == 0, table.output
    for text in ("tiny-msrvtt", "ModelScope T2V", "11.09", "550.00", "Snap Video (512x288)", "104.00", "FID ↓",
                 "paperswithcode.com/paper/modelscope-text-to-video-technical-report"):
        assert text in table.output
    assert "CogVideo" not in table.output and "IS ↑" not in table.output  # UCF-101's rows and columns stay out
    ucf = runner.invoke(main, ["table", str(tmp_path / "fid.json"), "--no-published"])
    assert "ModelScope T2V" not in ucf.output
    score_fvd = runner.invoke(main, ["score", "fvd", "--fake", str(msrvtt / "run"), "--real",
                                     str(tmp_path / "real.npz"), "--protocol", "fid-smoke-tiny", *FAST])
    assert score_fvd.exit_code != 0 and "is not an FVDProtocol" in score_fvd.output


def _score(root, proto) -> float:
    """FID of the run against the real folder under `proto` (real statistics made on the fly)."""
    extraction = ExtractionOptions(device="cpu", num_workers=0, progress=False, cache_dir=False)
    return score_metric("fid", root / "run", proto, extraction, ScoreOptions(bootstrap=0),
                        real=root / "TestVideo").value


@pytest.mark.parametrize("field, values", [("num_frames", (4, 2)), ("resize", ("torch-bilinear", "pil-bicubic"))])
def test_frames_per_video_and_resize_rule_are_the_protocols(msrvtt, field, values):
    """Each value of the field gives the independent computation's FID under that value, and the two differ."""
    fake, real = _paths(msrvtt)
    got = []
    for value in values:
        proto = dataclasses.replace(SMOKE_FID, name=f"fid-test-{value}", resolution=24, **{field: value})
        expected = _torch_fidelity_fid(_frame_features(fake, proto), _frame_features(real, proto, (32, 32)))
        got.append(_score(msrvtt, proto))
        assert got[-1] == pytest.approx(expected, rel=1e-4)
    assert got[0] != pytest.approx(got[1], rel=1e-3)


def test_a_real_stats_file_of_other_frames_per_video_is_refused(msrvtt, tmp_path):
    runner = CliRunner()
    runner.invoke(main, ["stats", "msrvtt", "--videos", str(msrvtt / "TestVideo"), "--protocol", "fid-smoke-tiny",
                         "--size", "32", "--out", str(tmp_path / "real.npz"), *FAST])
    saved = np.load(tmp_path / "real.npz")
    assert json.loads(str(saved["extra"]))["frames_per_video"] == 4 and saved["features"].shape == (10, 64)
    other = dataclasses.replace(SMOKE_FID, name="fid-two", num_frames=2)
    extraction = ExtractionOptions(device="cpu", num_workers=0, progress=False, cache_dir=False)
    with pytest.raises(Exception, match="num_frames"):
        score_metric("fid", msrvtt / "run", other, extraction, ScoreOptions(bootstrap=0), real=tmp_path / "real.npz")
