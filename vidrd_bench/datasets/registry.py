"""DATASETS: the evaluation sets `generate` can plan (class-conditioned UCF-101, captioned MSR-VTT); adding a dataset
is one entry here. Each entry's `plan` turns an evaluation protocol, a video count and the user's prompts or
captions file into the plan."""

from __future__ import annotations

import csv
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.registry import Registry
from vidrd_bench.core.resources import shipped
from vidrd_bench.datasets import msrvtt, ucf101
from vidrd_bench.datasets.plan import PlannedVideo, build_plan
from vidrd_bench.datasets.prompts import load_prompts
from vidrd_bench.protocols import PROTOCOLS, CaptionEvalProtocol, EvalProtocol

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Dataset:
    """An evaluation set: its classes with the train-split clip counts the plan follows, its default prompts, and the
    FVD protocol its real statistics are made under by default."""

    name: str
    counts_file: str
    prompts_resource: str
    split: str
    real_protocol: str = "fvd-ucf101-10k"

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

    def plan(self, protocol: EvalProtocol, num_videos: int,
             source: str | os.PathLike | None) -> tuple[list[PlannedVideo], Path]:
        """The plan of `num_videos` videos and the prompts file it read (`source`, else the shipped prompts)."""
        check_dataset(self.name, protocol)
        path = Path(source) if source else self.default_prompts()
        return build_plan(self.train_counts, load_prompts(path, self.classes), num_videos, protocol.base_seed), path


@dataclass(frozen=True)
class CaptionDataset:
    """A captioned evaluation set (MSR-VTT): one video per caption its protocol's caption rule takes, the captions
    read from the annotation file the user supplies (never downloaded), and its real set's default FVD protocol."""

    name: str
    split: str
    real_protocol: str

    def plan(self, protocol: EvalProtocol, num_videos: int,
             source: str | os.PathLike | None) -> tuple[list[PlannedVideo], Path]:
        """The first `num_videos` videos of the caption plan (datasets/msrvtt.py) and the annotation file read."""
        check_dataset(self.name, protocol, CaptionEvalProtocol)
        if source is None:
            raise VidrdBenchError(f"The {self.name} plan is made from the test captions, which vidrd-bench does not "
                                  f"ship or download. {msrvtt.ANNOTATION_HELP}")
        full = msrvtt.caption_plan(msrvtt.read_captions(source), protocol.caption_rule, protocol.caption_seed,
                                   protocol.base_seed)
        if num_videos > len(full):
            raise VidrdBenchError(
                f"{num_videos:,} videos asked of the {self.name} plan, which under caption rule "
                f"{protocol.caption_rule!r} holds {len(full):,} (from {source}). Ask for at most {len(full):,}, or "
                "use the protocol whose caption rule gives more videos (msrvtt-all-captions: every caption).")
        return full[:num_videos], Path(source)


def check_dataset(name: str, protocol: EvalProtocol, kind: type = EvalProtocol) -> None:
    """Refuse an evaluation protocol made for another dataset (or not of the `kind` the dataset plans with)."""
    if protocol.dataset != name or not isinstance(protocol, kind):
        own = [n for n, p in PROTOCOLS.items() if isinstance(p, kind) and p.dataset == name]
        raise VidrdBenchError(f"Protocol {protocol.name!r} is an evaluation protocol for {protocol.dataset}, not "
                              f"{name}. Pass --protocol with one of {name}'s: {', '.join(own)}.")


DATASETS: Registry[Dataset | CaptionDataset] = Registry("dataset", (Dataset, CaptionDataset))
DATASETS.register("ucf101", Dataset("ucf101", ucf101.COUNTS_FILE, ucf101.PROMPTS_RESOURCE, ucf101.SPLIT))
DATASETS.register("msrvtt", CaptionDataset("msrvtt", msrvtt.SPLIT, "fvd-msrvtt-2990"))
