"""Which videos a runner scores: a generate run's videos in plan order (every file's sha256 verified, the user's own
videos at planned paths counted), any other folder of videos, the real set filtered by its split file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

from vidrd_bench.core.errors import RunStateError, VidrdBenchError
from vidrd_bench.core.io import visible_files
from vidrd_bench.datasets import manifest, msrvtt
from vidrd_bench.datasets.folder import VIDEO_SUFFIXES, folder_videos
from vidrd_bench.datasets.video import frame_files, read_clip
from vidrd_bench.metrics.extract import Features, VideoItem

UCF_NAME = re.compile(r"^v_(?P<cls>.+)_g\d+_c\d+$")


def ucf101_class(path: Path) -> str | None:
    """UCF-101 class from a file name `v_<Class>_gXX_cYY.avi`, else the parent folder name."""
    match = UCF_NAME.match(path.stem)
    return match.group("cls") if match else path.parent.name or None


def read_split_names(path: Path) -> set[str]:
    """Video file names listed in a UCF-101 split file (`Class/v_Class_gXX_cYY.avi [label]` per line)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError) as e:
        raise VidrdBenchError(f"Split file {path} cannot be read as text ({e}). Pass the official UCF-101 "
                              "trainlist01.txt (lines like 'ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1').") from None
    return {Path(line.split()[0]).name for line in lines if line.strip()}


def real_items(videos: str | os.PathLike | Sequence[str | os.PathLike], split_file: str | os.PathLike | None = None,
               split: str | None = None) -> tuple[list[VideoItem], str]:
    """The real videos, sorted by name (StyleGAN-V's order), filtered by `split_file`, else by the protocol's
    `split` (e.g. trainlist01, found under the folder; an error when absent); MSR-VTT's test split is every test
    video in the folder (datasets/msrvtt.py; an error naming missing ones)."""
    if split == msrvtt.SPLIT and split_file is None and isinstance(videos, (str, os.PathLike)):
        paths = msrvtt.real_test_videos(videos)
        note = f"the {len(paths)} MSR-VTT test videos (video{msrvtt.FIRST_TEST}-video{msrvtt.LAST_TEST})"
        return [VideoItem(p, i, None) for i, p in enumerate(paths)], f"{videos}: {note}"
    if isinstance(videos, (str, os.PathLike)):
        root = Path(videos)
        if not root.is_dir():
            raise VidrdBenchError(f"Real-video folder {root} does not exist. Pass the UCF-101 folder (UCF-101/ with "
                                  "class subfolders of v_<Class>_gXX_cYY.avi files) with --videos.")
        paths = visible_files(root, VIDEO_SUFFIXES)
        if split_file is None and split is not None:
            split_file = next(iter(sorted(root.rglob(f"{split}.txt"))), None)
            if split_file is None:
                raise VidrdBenchError(
                    f"The protocol's real set is the videos named in the official {split}.txt, which is not under "
                    f"{root}. Pass it with --split-file (UCF-101's ucfTrainTestlist/{split}.txt).")
        where = str(root)
    else:
        paths, where = [Path(p) for p in videos], f"{len(videos)} listed files"
    note = "all videos found (no split file)"
    if split_file is not None:
        names = read_split_names(Path(split_file))
        paths = [p for p in paths if p.name in names]
        note = f"videos named in {Path(split_file).name} ({len(names)} listed, {len(paths)} found)"
    if not paths:
        raise VidrdBenchError(f"No real videos found in {where} ({note}). Pass the folder holding the UCF-101 .avi "
                              "files, and the official trainlist01.txt with --split-file.")
    paths = sorted(paths, key=lambda p: (p.stem, p.name))
    return [VideoItem(p, i, ucf101_class(p)) for i, p in enumerate(paths)], f"{where}: {note}"



def _at_plan_path(root: Path, rel: str) -> Path | None:
    """A video the user placed at a plan row's path: the file itself, the same name with another video suffix,
    or a folder of frames named like it."""
    planned = root / rel
    stem = planned.with_suffix("")
    for candidate in (planned, *(stem.with_suffix(s) for s in VIDEO_SUFFIXES), stem):
        if candidate.is_file() or (candidate.is_dir() and frame_files(candidate)):
            return manifest.inside(root, candidate, f"the user's video for plan row {rel}")
    return None


def _manifest_items(root: Path, allow_incomplete: bool) -> tuple[list[VideoItem], dict[str, Any]]:
    """Videos of a run in plan order: done rows (manifest.jsonl and every part, each file's sha256 verified), plus
    the user's own videos at planned rows' paths."""
    manifest_file = root / manifest.MANIFEST_FILE
    rows = manifest.current_rows(root)
    manifest.verify_done(root, [r for r in rows if r.status == "done"])
    items, brought = [], 0
    for r in rows:
        path = manifest.video_file(root, r) if r.status == "done" else _at_plan_path(root, r.path)
        if path is not None:
            items.append(VideoItem(path, r.index, r.class_name))
            brought += r.status != "done"
    if len(items) < len(rows) and not allow_incomplete:
        raise RunStateError(
            f"{manifest_file} lists {len(rows)} videos but only {len(items)} are done or present at their planned "
            "paths. Finish the run (repeat the generate command, it resumes), put your own videos at the planned "
            "paths (videos/<index>_<class>.mp4, any video format or a folder of frames), or pass --allow-incomplete "
            "to score the ones there."
        )
    if not items:
        raise RunStateError(f"{root} plans {len(rows)} videos and none is finished yet: there is nothing to score. "
                            "Run (or resume) the generate command first.")
    info = {"videos_from": f"manifest {manifest_file.name}", "labels_from": "the manifest's classes",
            "split_order": "plan order (classes interleaved by the generation plan)"}
    if brought:
        info["user_videos_at_plan_paths"] = brought
    return items, info


def generated_items(fake_dir: str | os.PathLike, allow_incomplete: bool = False,
                    labels: str | os.PathLike | None = None) -> tuple[list[VideoItem], dict[str, Any] | None, dict]:
    """Videos to score, their run.json generation protocol (if any), and how the videos, classes, order (and, for a
    generate run, the generator preset) came.

    A `vidrd-bench generate` folder is read through its manifest.jsonl; any other folder of videos through
    datasets.folder (classes from `labels`, order a seeded shuffle).
    """
    root = Path(fake_dir)
    run = manifest.read_run(root)
    generation = run.get("protocol") if run else None
    if (root / manifest.MANIFEST_FILE).exists():
        if labels is not None:
            raise VidrdBenchError(f"{root} is a `vidrd-bench generate` folder: its manifest.jsonl gives every video's "
                                  "class. Leave out --labels (it is for folders of your own videos).")
        items, info = _manifest_items(root, allow_incomplete)
        made_by = (run or {}).get("generator") or None
        return items, generation, {**info, "generation_preset": (made_by or {}).get("preset"), "generator": made_by,
                                   "precision": (run or {}).get("precision")}
    found = folder_videos(root, labels)
    items = [VideoItem(p, i, c) for i, (p, c) in enumerate(zip(found.paths, found.classes))]
    return items, generation, {"videos_from": "folder", "labels_from": found.labels_from, "split_order": found.order}


def frame_size(items: list[VideoItem], num_frames: int) -> tuple[int, int]:
    """(h, w) of the first generated video: the size real videos are prepared at (all are checked again when
    batched)."""
    return tuple(read_clip(items[0].path, num_frames).shape[1:3])


def video_prompts(fake_dir: str | os.PathLike, chosen: Features) -> tuple[str, ...]:
    """Each chosen video's prompt, from its generate run's manifest (by plan index)."""
    by_index = {row.index: row.prompt for row in manifest.current_rows(Path(fake_dir))}
    return tuple(by_index[int(i)] for i in chosen.index)
