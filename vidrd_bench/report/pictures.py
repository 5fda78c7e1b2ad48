"""Contact sheets: one PNG per run, a row per sampled video (grouped by class), evenly spaced frames across."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidrd_bench.datasets import manifest
from vidrd_bench.datasets.folder import PATTERNS, find_videos
from vidrd_bench.datasets.video import read_video
from vidrd_bench.core.errors import VideoError
from vidrd_bench.core.io import atomic_path
from vidrd_bench.core.limits import IMAGE_PIXELS

UNLABELLED = "(no class)"  # a plain folder's videos with neither a sub-folder nor a UCF-101 name
TITLE_HEIGHT = 24
LABEL_WIDTH = 160
GAP = 2
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


@dataclass(frozen=True)
class SampledVideo:
    """One video chosen for a contact sheet or preview: its class, file, prompt (empty when unknown) and plan index."""

    klass: str
    path: Path
    prompt: str = ""
    index: int | None = None


def _run_rows(run_dir: Path) -> list[dict]:
    """A run's finished rows (manifest.jsonl and the part manifests) in index order, else every video in the folder
    (datasets.folder.find_videos: any format or frame folder, dotfiles and temp files excluded)."""
    if (run_dir / manifest.MANIFEST_FILE).is_file():
        rows = [r for r in manifest.current_rows(run_dir) if r.status == "done"]
        return [{"class": r.class_name, "path": manifest.video_file(run_dir, r), "prompt": r.prompt, "index": r.index,
                 "row": r} for r in sorted(rows, key=lambda r: r.index)]
    return [{"class": folder_class(run_dir, p), "path": p} for p in find_videos(run_dir)]


def folder_class(run_dir: Path, path: Path) -> str:
    """A plain folder's video class: its sub-folder, else a UCF-101 name's class (v_<Class>_gXX_cYY), else
    UNLABELLED."""
    if path.parent != run_dir:
        return path.parent.name
    match = re.search(PATTERNS["ucf101"], path.name)
    return match.group("class") if match else UNLABELLED


def _spread(rows: list[dict], count: int) -> list[dict]:
    """`count` of a class's rows evenly spaced over them (the first when one), so previews of a folder come from
    its whole length rather than its first files."""
    if len(rows) <= count:
        return rows
    return [rows[i] for i in np.linspace(0, len(rows) - 1, count).round().astype(int)]


def sample_videos(run_dir: str | os.PathLike, videos_per_class: int = 1, max_rows: int = 128) -> list[SampledVideo]:
    """`videos_per_class` finished videos of each class, evenly spread over its videos (manifest order, else every
    video by name; a plain folder's classes from folder_class), capped at `max_rows`."""
    run_dir = Path(run_dir)
    by_class: dict[str, list[dict]] = {}
    for row in _run_rows(run_dir):
        if row["path"].exists():
            by_class.setdefault(str(row["class"]), []).append(row)
    picked = [row for rows in by_class.values() for row in _spread(rows, videos_per_class)]
    chosen = [SampledVideo(str(r["class"]), r["path"], str(r.get("prompt", "")), r.get("index")) for r in picked]
    recorded: list[manifest.ManifestRow] = [r["row"] for r in picked if "row" in r]
    manifest.verify_done(run_dir, recorded)  # the files shown are the ones the generator wrote, as `score` checks
    if not chosen:
        raise VideoError(f"No finished video files found in {run_dir} (looked for done rows of manifest.jsonl and its "
                         "parts, else *.mp4). Pass the output folder of `vidrd-bench generate`.")
    return sorted(chosen, key=lambda v: v.klass)[:max_rows]


def _frame_indices(total: int, count: int) -> list[int]:
    """`count` evenly spaced frame indices from the first to the last frame."""
    return [int(i) for i in np.linspace(0, total - 1, num=count).round()]


def _fit(text: str, draw: ImageDraw.ImageDraw, font, width: int) -> str:
    """Shorten text with an ellipsis until it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def contact_sheet(videos: list[SampledVideo], frames_per_video: int = 6, thumb_height: int = 64,
                  title: str = "") -> Image.Image:
    """A grid image: title band on top, then per video its class label and `frames_per_video` thumbnails.

    Thumbnails keep the first video's aspect ratio and are GAP pixels apart; size is
    (LABEL_WIDTH + frames * (thumb_w + GAP), TITLE_HEIGHT + len(videos) * (thumb_height + GAP)).
    """
    clips = [read_video(v.path) for v in videos]
    h, w = clips[0].shape[1:3]
    thumb_w = max(1, round(thumb_height * w / h))
    size = (LABEL_WIDTH + frames_per_video * (thumb_w + GAP), TITLE_HEIGHT + len(videos) * (thumb_height + GAP))
    IMAGE_PIXELS.check(size[0] * size[1], f"The contact sheet ({size[0]}x{size[1]} for {len(videos)} videos of {w}x{h} "
                       f"frames)", "Ask for fewer or smaller thumbnails (--frames, --height, --per-class).")
    sheet = Image.new("RGB", size, BACKGROUND)
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    draw.text((4, 6), _fit(title, draw, font, sheet.width - 8), fill=INK, font=font)
    for row, (video, frames) in enumerate(zip(videos, clips)):
        top = TITLE_HEIGHT + row * (thumb_height + GAP)
        label = video.klass if video.index is None else f"#{video.index} {video.klass}"
        draw.text((4, top + thumb_height // 2 - 12), _fit(label, draw, font, LABEL_WIDTH - 8), fill=INK, font=font)
        draw.text((4, top + thumb_height // 2 + 2), _fit(video.prompt, draw, font, LABEL_WIDTH - 8), fill=INK, font=font)
        for col, t in enumerate(_frame_indices(len(frames), frames_per_video)):
            thumb = Image.fromarray(frames[t]).resize((thumb_w, thumb_height), Image.Resampling.BILINEAR)
            sheet.paste(thumb, (LABEL_WIDTH + col * (thumb_w + GAP), top))
    return sheet


def write_contact_sheet(run_dir: str | os.PathLike, out_png: str | os.PathLike, videos_per_class: int = 1,
                        frames_per_video: int = 6, thumb_height: int = 64, max_rows: int = 128) -> Path:
    """Sample a run's videos and save their contact sheet as a PNG, atomically."""
    videos = sample_videos(run_dir, videos_per_class, max_rows)
    sheet = contact_sheet(videos, frames_per_video, thumb_height, title=f"{Path(run_dir).name}: {len(videos)} videos")
    with atomic_path(out_png, suffix=".tmp.png") as tmp:
        sheet.save(tmp, format="PNG")
    return Path(out_png)
