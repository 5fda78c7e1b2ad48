"""Scoring your own videos: a folder of .avi files with a CSV of classes, named rows, plan paths filled by the user."""

import dataclasses

import numpy as np
import pytest
import scipy.stats
import torch
from click.testing import CliRunner
from PIL import Image

from tests.datasets.test_folder import write_with
from vidrd_bench.cli import main
from vidrd_bench.datasets import manifest
from vidrd_bench.datasets.video import read_clip
from vidrd_bench.runners.generate import run_generate
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.core.errors import RunStateError
from vidrd_bench.api import compute_real_stats, score_fvd, score_is
from vidrd_bench.protocols import PROTOCOLS
from vidrd_bench.report.tables import build_table
from vidrd_bench.results import load_results

CLASSES = ("Diving", "Knitting", "Surfing")
FVD_TEST = dataclasses.replace(PROTOCOLS.get("fvd-smoke-tiny"), name="fvd-smoke-tiny-32px", resolution=32)


def _clip(rng, c, size=16):
    """16 frames whose brightness depends on the class."""
    return np.clip(rng.normal(60 + 70 * c, 20, (16, size, size, 3)), 0, 255).astype(np.uint8)


def _avi_folder(root, per_class=4):
    """Class-sorted .avi files (mpeg4) with labels.csv beside them, and a stand-in real set in class folders."""
    rng = np.random.default_rng(3)
    lines = ["path,class"]
    for c, klass in enumerate(CLASSES):
        for g in range(per_class):
            write_with(root / "videos" / f"{klass.lower()}_{g:02d}.avi", _clip(rng, c), "avi", "mpeg4", "yuv420p")
            lines.append(f"videos/{klass.lower()}_{g:02d}.avi,{klass}")
            if g < (3 if c == 0 else 1):  # per-class FVD only for Diving: each class costs a slow sqrtm
                write_with(root / "real" / klass / f"v_{klass}_g{g:02d}_c01.avi", _clip(rng, c), "avi", "mpeg4",
                           "yuv420p")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")


def _split_is(probs, splits=10):
    """IS over consecutive splits, re-derived with scipy's KL divergence (independent of metrics.inception_score)."""
    n = len(probs)
    parts = [probs[i * n // splits:(i + 1) * n // splits] for i in range(splits)]
    return float(np.mean([np.exp(np.mean([scipy.stats.entropy(p, part.mean(0)) for p in part])) for part in parts]))


def test_a_folder_of_avi_files_with_a_csv_gets_a_named_fvd_and_is_row(tmp_path):
    _avi_folder(tmp_path)
    fake = tmp_path / "videos"
    runner = CliRunner()
    out = runner.invoke(main, ["score", "is", "--fake", str(fake), "--labels", str(tmp_path / "labels.csv"),
                               "--name", "My model v2", "--protocol", "is-smoke-tiny", "--num-workers", "0",
                               "--bootstrap", "5", "--no-progress", "--out", str(tmp_path / "is.json")])
    assert out.exit_code == 0, out.output
    rec = load_results(tmp_path / "is.json")[0]
    # independent re-derivation: C3D probabilities of each file, in the recorded seeded-shuffle order
    detector = load_detector("c3d-tiny-random", resolution=112)
    paths = sorted(fake.glob("*.avi"))
    clips = torch.stack([torch.from_numpy(read_clip(p, 16)).permute(3, 0, 1, 2) for p in paths])
    probs = detector(clips).numpy().astype(np.float64)
    shuffled = probs[np.random.default_rng(0).permutation(len(paths))]
    assert rec.value == pytest.approx(_split_is(shuffled), rel=1e-6)
    assert rec.value != pytest.approx(_split_is(probs), rel=1e-3)  # file-name order would give another number
    assert rec.name == "My model v2" and rec.n == 12 and "seeded shuffle" in rec.extra["split_order"]
    assert rec.extra["labels_from"].endswith("labels.csv") and rec.extra["videos_from"] == "folder"
    compute_real_stats(tmp_path / "real", protocol=FVD_TEST, size=16, num_workers=0, out_path=tmp_path / "real.npz",
                       progress=False)
    fvd = score_fvd(tmp_path / "real.npz", fake, protocol=FVD_TEST, num_workers=0, bootstrap=0,
                    labels=tmp_path / "labels.csv", name="My model v2", progress=False)
    assert fvd.name == "My model v2" and set(fvd.extra["per_class_fvd"]) == {"Diving"}
    table = build_table([fvd, rec])
    assert list(table[table["kind"] == "ours"]["method"]) == ["My model v2"]  # one row holding both metrics


def test_your_own_videos_at_the_paths_of_a_plan_are_scored(tmp_path):
    run = run_generate(dataset="ucf101", out_dir=tmp_path / "run", num_videos=10, preset="tiny", plan_only=True).out_dir
    rows = manifest.read_rows(run / manifest.MANIFEST_FILE)
    rng = np.random.default_rng(4)
    for row in rows[:9]:  # any format at the planned name: here .avi instead of .mp4
        write_with((run / row.path).with_suffix(".avi"), _clip(rng, 0), "avi", "mpeg4", "yuv420p")
    with pytest.raises(RunStateError, match="only 9 are done or present at their planned paths"):
        score_is(run, protocol="is-smoke-tiny", num_workers=0, progress=False)
    frames = run / rows[9].path.removesuffix(".mp4")  # the last one as a folder of frames
    frames.mkdir()
    for t, f in enumerate(_clip(rng, 1)):
        Image.fromarray(f).save(frames / f"{t:03d}.png")
    rec = score_is(run, protocol="is-smoke-tiny", num_workers=0, bootstrap=0, progress=False, name="mine")
    assert rec.n == 10 and rec.extra["user_videos_at_plan_paths"] == 10 and rec.name == "mine"
    assert rec.extra["split_order"].startswith("plan order") and rec.generation_protocol["name"] == "tiny-smoke"
