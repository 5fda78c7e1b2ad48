"""A folder of the user's own videos: find every video (files of any common format, or folders of frames) and its
class, from a CSV (`path,class`), a JSON-lines manifest (`path`, `class` keys) or a file-name pattern.

Videos are returned in a seeded shuffle of their sorted order, never in file-name order: IS splits are consecutive
blocks of the scoring order, and class-sorted names would put one or two classes in each split (an IS several
times too low on the same predictions).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vidrd_bench.datasets.manifest import inside
from vidrd_bench.datasets.video import IMAGE_SUFFIXES, frame_files
from vidrd_bench.core.errors import VidrdBenchError, brief

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".gif")
SHUFFLE_SEED = 0
# Named patterns for --labels; anything else given as a pattern is a regular expression with a (?P<class>...) group.
PATTERNS = {
    "ucf101": r"(^|/)v_(?P<class>[^/]+?)_g\d+_c\d+[^/]*$",  # v_<Class>_gXX_cYY.avi
    "folder": r"(^|/)(?P<class>[^/]+)/[^/]+$",  # <Class>/<video>
}


@dataclass(frozen=True)
class FolderVideos:
    """Videos of a folder in scoring order, their classes (None without labels), and how both were decided."""

    paths: list[Path]
    classes: list[str | None]
    labels_from: str
    order: str


def _hidden_or_temp(rel: Path) -> bool:
    """Dotfiles, dot-folders and the temp files of atomic writes are never videos."""
    return any(part.startswith(".") for part in rel.parts) or ".tmp." in rel.name


def find_videos(root: str | os.PathLike) -> list[Path]:
    """Every video under `root`, sorted: files with a video suffix, and folders whose files are frames; a symbolic
    link to a file outside `root` is refused (manifest.inside)."""
    root = Path(root)
    found = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    frame_dirs = {p.parent for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    found += [d for d in frame_dirs if d != root and frame_files(d)]
    return sorted(inside(root, p, "a video") for p in found if not _hidden_or_temp(p.relative_to(root)))


def _rel(path: Path, root: Path) -> str:
    """A video's path relative to the folder, with forward slashes."""
    return path.relative_to(root).as_posix()


def _table_labels(file: Path) -> dict[str, str]:
    """path -> class from a CSV with columns path,class or a JSON-lines file with 'path' and 'class' keys."""
    try:
        if file.suffix.lower() == ".jsonl":
            rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
            frame = pd.DataFrame(rows)
        else:
            frame = pd.read_csv(file, dtype=str, skipinitialspace=True)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise VidrdBenchError(f"Labels file {file} cannot be read ({brief(e)}). Give a CSV with the header "
                              "`path,class`, or a JSON-lines manifest with 'path' and 'class' keys.") from None
    if not {"path", "class"} <= set(frame.columns):
        raise VidrdBenchError(f"Labels file {file} has columns {list(frame.columns)}; it needs `path` and `class` "
                              "(CSV header `path,class`, one video per line, paths relative to the video folder).")
    frame = frame.dropna(subset=["path", "class"])
    return {Path(str(p)).as_posix().removeprefix("./"): str(c).strip() for p, c in zip(frame["path"], frame["class"])}


def _match_table(paths: list[Path], root: Path, table: dict[str, str], file: Path) -> list[str]:
    """Each video's class from the table (by relative path, else by unique file name); all must be covered."""
    by_name: dict[str, list[str]] = {}
    for key, cls in table.items():
        by_name.setdefault(Path(key).name, []).append(cls)
    classes, missing, used = [], [], set()
    for p in paths:
        rel = _rel(p, root)
        cls = table.get(rel)
        if cls is None and len(by_name.get(p.name, [])) == 1:
            cls = by_name[p.name][0]
        if cls is None:
            missing.append(rel)
        classes.append(cls)
        used.update({rel, p.name})
    absent = [k for k in table if k not in used and Path(k).name not in used]
    if missing or absent:
        detail = (f"{len(missing)} video(s) have no row (e.g. {', '.join(missing[:3])})" if missing else "") + \
                 ("; " if missing and absent else "") + \
                 (f"{len(absent)} row(s) name no video in the folder (e.g. {', '.join(absent[:3])})" if absent else "")
        raise VidrdBenchError(f"Labels file {file} does not match the videos in {root}: {detail}. Give one row per "
                              "video, paths relative to the video folder (or unique file names).")
    return classes


def _pattern_labels(paths: list[Path], root: Path, pattern: str) -> list[str]:
    """Each video's class from the (?P<class>...) group of a regular expression searched in its relative path."""
    try:
        regex = re.compile(PATTERNS.get(pattern, pattern))
    except re.error as e:
        raise VidrdBenchError(f"--labels pattern {pattern!r} is not a regular expression ({e}).") from None
    if "class" not in regex.groupindex:
        raise VidrdBenchError(f"--labels pattern {pattern!r} has no (?P<class>...) group; e.g. "
                              r"'v_(?P<class>[A-Za-z]+)_g\d+' or one of the named patterns: " + ", ".join(PATTERNS))
    classes, unmatched = [], []
    for p in paths:
        match = regex.search(_rel(p, root))
        classes.append(match.group("class") if match else None)
        if not match:
            unmatched.append(_rel(p, root))
    if unmatched:
        raise VidrdBenchError(f"--labels pattern {pattern!r} matches no class in {len(unmatched)} of {len(paths)} "
                              f"video paths (e.g. {', '.join(unmatched[:3])}). Fix the pattern (it is searched in the "
                              "path relative to the folder) or label the videos with a CSV `path,class`.")
    return classes


def folder_videos(root: str | os.PathLike, labels: str | os.PathLike | None = None,
                  seed: int = SHUFFLE_SEED) -> FolderVideos:
    """The videos of a folder with their classes (labels: a CSV/JSONL file, a named pattern, a regex, or None)."""
    root = Path(root)
    paths = find_videos(root)
    if not paths:
        raise VidrdBenchError(
            f"No videos in {root}: looked for {', '.join(VIDEO_SUFFIXES)} files and folders of "
            f"{', '.join(IMAGE_SUFFIXES)} frames (neither is there a manifest.jsonl of `vidrd-bench generate`).")
    if labels is None:
        classes, labels_from = [None] * len(paths), "none (no per-class FVD)"
    elif Path(labels).suffix.lower() in (".csv", ".jsonl") and not Path(labels).is_file():
        raise VidrdBenchError(f"Labels file {labels} does not exist. Give a CSV `path,class`, a JSON-lines manifest, "
                              f"or a pattern: {', '.join(PATTERNS)} or a regex with a (?P<class>...) group.")
    elif Path(labels).is_file():
        classes, labels_from = _match_table(paths, root, _table_labels(Path(labels)), Path(labels)), str(labels)
    else:
        classes, labels_from = _pattern_labels(paths, root, str(labels)), f"pattern {labels}"
    order = np.random.default_rng(seed).permutation(len(paths))
    return FolderVideos([paths[i] for i in order], [classes[i] for i in order], labels_from,
                        f"seeded shuffle (numpy default_rng({seed}).permutation) of the {len(paths)} sorted paths")
