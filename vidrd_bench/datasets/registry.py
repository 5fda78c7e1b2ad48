"""DATASETS: the class-conditioned evaluation sets `generate` can plan; adding a dataset is one entry here."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from vidrd_bench.datasets import ucf101
from vidrd_bench.core.registry import Registry
from vidrd_bench.core.resources import shipped

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Dataset:
    """An evaluation set: its classes with the train-split clip counts the plan follows, and its default prompts."""

    name: str
    counts_file: str
    prompts_resource: str
    split: str

    @functools.cached_property
    def train_counts(self) -> dict[str, int]:
        """Class name -> train clips, in the dataset's class-index order (read from the shipped CSV)."""
        with open(DATA_DIR / self.counts_file, newline="", encoding="utf-8") as f:
            rows = sorted(csv.DictReader(f), key=lambda r: int(r["class_index"]))
        return {r["class_name"]: int(r["train_clips"]) for r in rows}

    @property
    def classes(self) -> list[str]:
        """Class names in class-index order."""
        return list(self.train_counts)

    def default_prompts(self) -> Path:
        """Path of the prompts file the project ships for this dataset."""
        return shipped(self.prompts_resource)


DATASETS: Registry[Dataset] = Registry("dataset", Dataset)
DATASETS.register("ucf101", Dataset("ucf101", ucf101.COUNTS_FILE, ucf101.PROMPTS_RESOURCE, ucf101.SPLIT))
