"""UCF-101: the 101 classes and the trainlist01 clip counts the evaluation plan follows, from the split files."""

from __future__ import annotations

import collections
import os
from pathlib import Path

from vidrd_bench.core.errors import VidrdBenchError

COUNTS_FILE = "ucf101_trainlist01_counts.csv"
PROMPTS_RESOURCE = "prompts/ucf101.json"
SPLIT = "trainlist01"
NUM_CLASSES = 101
NUM_TRAIN_CLIPS = 9537


def _lines(path: Path) -> list[str]:
    """Non-empty lines of a split file, tolerant of the CRLF endings of the official release."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VidrdBenchError(
            f"UCF-101 split file {path} does not exist. Pass the folder of the official "
            "UCF101TrainTestSplits-RecognitionTask release (classInd.txt, trainlist01.txt)."
        ) from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def derive_train_counts(split_dir: str | os.PathLike, split: str = SPLIT) -> list[tuple[int, str, int]]:
    """(class index, class name, clip count) per class, in classInd order, counted from `split`.txt."""
    split_dir = Path(split_dir)
    classes = [line.split(maxsplit=1) for line in _lines(split_dir / "classInd.txt")]
    names = {int(i): name for i, name in classes}
    counts: collections.Counter[str] = collections.Counter()
    for line in _lines(split_dir / f"{split}.txt"):
        clip, label = line.split()
        name = clip.split("/", 1)[0]
        if names.get(int(label)) != name:
            raise VidrdBenchError(
                f"{split_dir / (split + '.txt')}: clip {clip} has label {label} but classInd.txt names that class "
                f"{names.get(int(label))!r}. The split files do not belong together; use one official release."
            )
        counts[name] += 1
    return [(int(i), name, counts[name]) for i, name in classes]
