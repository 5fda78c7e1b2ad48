"""The shipped UCF-101 class counts: re-derived from the official split files when they are available."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vidrd_bench.datasets import ucf101
from vidrd_bench.datasets.registry import DATA_DIR, DATASETS, Dataset
from vidrd_bench.core.errors import VidrdBenchError

REF = Path("/work/shared/ref/ucf101")


def test_shipped_counts_cover_the_split():
    spec = DATASETS.get("ucf101")
    counts = spec.train_counts
    assert len(counts) == ucf101.NUM_CLASSES
    assert sum(counts.values()) == ucf101.NUM_TRAIN_CLIPS
    assert spec.classes[0] == "ApplyEyeMakeup" and spec.classes[-1] == "YoYo"
    assert (min(counts.values()), max(counts.values())) == (72, 121)
    assert counts["Punch"] == 121 and counts["PlayingViolin"] == 72


@pytest.mark.skipif(not REF.is_dir(), reason="official UCF-101 split files not available here")
def test_shipped_counts_rederive_from_split_files():
    with open(DATA_DIR / ucf101.COUNTS_FILE, newline="") as f:
        shipped = [(int(r["class_index"]), r["class_name"], int(r["train_clips"])) for r in csv.DictReader(f)]
    assert ucf101.derive_train_counts(REF) == shipped


def test_derive_rejects_mismatched_label(tmp_path):
    (tmp_path / "classInd.txt").write_bytes(b"1 Archery\r\n2 Biking\r\n")
    (tmp_path / "trainlist01.txt").write_bytes(b"Archery/v_Archery_g01_c01.avi 1\r\nBiking/v_Biking_g01_c01.avi 1\r\n")
    with pytest.raises(VidrdBenchError, match="label 1"):
        ucf101.derive_train_counts(tmp_path)


def test_derive_counts_crlf_files(tmp_path):
    (tmp_path / "classInd.txt").write_bytes(b"1 Archery\r\n2 Biking\r\n")
    (tmp_path / "trainlist01.txt").write_bytes(b"Biking/a.avi 2\r\nArchery/b.avi 1\r\nBiking/c.avi 2\r\n\r\n")
    assert ucf101.derive_train_counts(tmp_path) == [(1, "Archery", 1), (2, "Biking", 2)]


def test_unknown_dataset_suggests_close_name():
    with pytest.raises(VidrdBenchError, match="Did you mean 'ucf101'"):
        DATASETS.get("ucf-101")
    assert isinstance(DATASETS.get("ucf101"), Dataset)
