"""Contact sheets from tiny real mp4 files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vidrd_bench.datasets.video import write_video
from vidrd_bench.core.errors import RunStateError, VideoError
from vidrd_bench.core.io import sha256_file
from vidrd_bench.report.pictures import GAP, LABEL_WIDTH, TITLE_HEIGHT, contact_sheet, sample_videos, write_contact_sheet

CLASSES = ["Diving", "Knitting", "Archery"]


def _color(video: int, frame: int) -> tuple[int, int, int]:
    """The flat colour of one frame of one test video."""
    return (30 * video + 10, 25 * frame, 200)


def _write_run(root, with_manifest: bool = True):
    """Six 8-frame 32x48 videos, two per class, each frame one flat colour; optional manifest.jsonl (done rows with
    each file's sha256, as `generate` writes them)."""
    rows = []
    for i in range(6):
        frames = np.stack([np.full((32, 48, 3), _color(i, t), np.uint8) for t in range(8)])
        rel = f"videos/{CLASSES[i % 3]}/{i:05d}.mp4"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_video(root / rel, frames, fps=8)
        rows.append({"index": i, "class": CLASSES[i % 3], "prompt": f"p{i}", "seed": 42 + i, "path": rel,
                     "protocol": "tiny-smoke", "status": "done", "sha256": sha256_file(root / rel)})
    if with_manifest:
        (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_contact_sheet_size_and_frames(tmp_path):
    """3 classes x 1 video, 4 frames of 16 px height (24 px wide at 3:2), GAP apart: exact size and placement."""
    _write_run(tmp_path)
    videos = sample_videos(tmp_path, videos_per_class=1)
    assert [(v.klass, v.path.name) for v in videos] == [("Archery", "00002.mp4"), ("Diving", "00000.mp4"),
                                                        ("Knitting", "00001.mp4")]
    out = write_contact_sheet(tmp_path, tmp_path / "sheet.png", videos_per_class=1, frames_per_video=4, thumb_height=16)
    sheet = np.asarray(Image.open(out).convert("RGB"))
    assert sheet.shape == (TITLE_HEIGHT + 3 * (16 + GAP), LABEL_WIDTH + 4 * (24 + GAP), 3)
    for row, video in enumerate([2, 0, 1]):
        for col, frame in enumerate([0, 2, 5, 7]):
            y, x = TITLE_HEIGHT + row * (16 + GAP), LABEL_WIDTH + col * (24 + GAP)
            assert (sheet[y:y + 16, x:x + 24] == _color(video, frame)).all()
            assert (sheet[y + 16:y + 16 + GAP, x:x + 24] == 255).all()


def test_two_per_class_without_manifest_uses_folder_names(tmp_path):
    """No manifest: *.mp4 found recursively, class from the parent folder; two rows per class."""
    _write_run(tmp_path, with_manifest=False)
    videos = sample_videos(tmp_path, videos_per_class=2)
    assert [v.klass for v in videos] == ["Archery", "Archery", "Diving", "Diving", "Knitting", "Knitting"]
    size = contact_sheet(videos, frames_per_video=3, thumb_height=8).size
    assert size == (LABEL_WIDTH + 3 * (12 + GAP), TITLE_HEIGHT + 6 * (8 + GAP))


def test_manifest_rows_without_files_are_skipped_and_empty_runs_refused(tmp_path):
    """A half-written run shows the videos it has; a folder with none is a clear error."""
    rows = _write_run(tmp_path)
    (tmp_path / rows[0]["path"]).unlink()
    videos = sample_videos(tmp_path, videos_per_class=2)
    assert [v.path.name for v in videos if v.klass == "Diving"] == ["00003.mp4"]
    with pytest.raises(VideoError, match="No finished video files found"):
        sample_videos(tmp_path / "videos" / "nothing-here")


def test_sheets_refuse_rows_outside_the_run_and_videos_that_changed(tmp_path):
    """contact-sheet / report --videos check each shown video like `score`: inside the folder, with its sha256."""
    rows = _write_run(tmp_path / "run")
    outside = tmp_path / "private.mp4"
    outside.write_bytes((tmp_path / "run" / rows[0]["path"]).read_bytes())
    manifest_file = tmp_path / "run" / "manifest.jsonl"
    for path in (str(outside), "../private.mp4"):
        manifest_file.write_text("".join(json.dumps({**r, "path": path} if r["index"] == 0 else r) + "\n"
                                         for r in rows))
        with pytest.raises(RunStateError, match="line 1 .video 0. names the file .* not a path inside the run folder"):
            sample_videos(tmp_path / "run")
    manifest_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    other = tmp_path / "run" / rows[1]["path"]
    other.write_bytes(outside.read_bytes())  # same name, another video's bytes
    with pytest.raises(RunStateError, match=r"videos/Knitting/00001.mp4 \(changed\)"):
        sample_videos(tmp_path / "run")


def test_a_folder_video_linked_outside_is_refused(tmp_path):
    """Without a manifest, a video that is a symbolic link out of the folder is refused."""
    _write_run(tmp_path / "run", with_manifest=False)
    (tmp_path / "run" / "videos" / "Diving" / "00003.mp4").rename(tmp_path / "private.mp4")
    (tmp_path / "run" / "videos" / "Diving" / "00003.mp4").symlink_to(tmp_path / "private.mp4")
    with pytest.raises(RunStateError, match="00003.mp4 .a video of .*private.mp4, outside that folder"):
        sample_videos(tmp_path / "run")
