"""A folder of the user's own videos: every format and frame folders found, classes from CSV/JSONL/pattern, order."""

import json
import os
import sys

import av
import numpy as np
import pytest
from PIL import Image

from vidrd_bench.datasets.folder import find_videos, folder_videos
from vidrd_bench.datasets.video import read_clip, read_video, video_backend, write_video
from vidrd_bench.core.errors import VidrdBenchError


def write_with(path, frames, fmt, codec, pix_fmt):
    """Encode frames with PyAV in a given container and codec (the formats users' models write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=8)
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], pix_fmt
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


FORMATS = {".avi": ("avi", "mpeg4", "yuv420p"), ".mov": ("mov", "libx264", "yuv420p"),
           ".webm": ("webm", "libvpx-vp9", "yuv420p"), ".gif": ("gif", "gif", "rgb8"),
           ".mkv": ("matroska", "ffv1", "yuv444p")}


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_every_format_decodes_to_its_frames(tmp_path, suffix):
    # smooth frames, so the lossy codecs stay close; gif quantises to 256 colours
    y, x = np.mgrid[0:32, 0:64]
    frames = np.stack([np.stack([(x * 4 + t * 8) % 256, (y * 8) % 256, np.full_like(x, 40 * (t % 6))], -1)
                       for t in range(18)]).astype(np.uint8)
    path = tmp_path / f"v{suffix}"
    write_with(path, frames, *FORMATS[suffix])
    got = read_video(path)
    assert got.shape == frames.shape
    assert np.abs(got.astype(int) - frames).mean() < (24 if suffix == ".gif" else 12)  # gif: 256 colours
    assert np.array_equal(read_clip(path, 16, start=2), got[2:18])


def test_frame_folder_is_one_video_in_natural_order(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (12, 8, 10, 3), np.uint8)
    (tmp_path / "clip").mkdir()
    for t, f in enumerate(frames):  # frame_2 must come before frame_10
        Image.fromarray(f).save(tmp_path / "clip" / f"frame_{t}.png")
    assert np.array_equal(read_video(tmp_path / "clip"), frames)
    assert find_videos(tmp_path) == [tmp_path / "clip"]


def _folder(root, classes=("Diving", "Knitting", "Surfing"), per_class=4):
    """Class-sorted file names: the order in which consecutive IS splits go wrong."""
    rng = np.random.default_rng(1)
    names = []
    for c in classes:
        for g in range(per_class):
            name = f"v_{c}_g{g + 1:02d}_c01.mp4"
            write_video(root / "sub" / c / name, rng.integers(0, 256, (4, 8, 8, 3), np.uint8), 8)
            names.append((f"sub/{c}/{name}", c))
    (root / "sub" / ".hidden.mp4").write_bytes(b"")
    (root / "sub" / ".x.mp4.tmp.mp4").write_bytes(b"")
    return names


def test_labels_from_csv_jsonl_and_patterns_agree_and_order_is_a_seeded_shuffle(tmp_path):
    names = _folder(tmp_path)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,class\n" + "".join(f"{p},{c}\n" for p, c in names))
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text("".join(json.dumps({"path": p, "class": c}) + "\n" for p, c in names))
    truth = {tmp_path / p: c for p, c in names}
    sorted_paths = sorted(truth)
    for labels in (csv, jsonl, "ucf101", "folder", r"v_(?P<class>[A-Z][a-z]+)_g"):
        got = folder_videos(tmp_path, labels)
        assert len(got.paths) == 12 and all(truth[p] == c for p, c in zip(got.paths, got.classes))
        expected = [sorted_paths[i] for i in np.random.default_rng(0).permutation(12)]
        assert got.paths == expected and got.paths != sorted_paths and "seeded shuffle" in got.order
    bare = folder_videos(tmp_path)
    assert bare.classes == [None] * 12 and bare.paths == expected


def test_label_problems_are_clear_errors(tmp_path):
    names = _folder(tmp_path)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,class\n" + "".join(f"{p},{c}\n" for p, c in names[1:]) + "gone.mp4,Diving\n")
    with pytest.raises(VidrdBenchError, match=r"1 video\(s\) have no row .*1 row\(s\) name no video"):
        folder_videos(tmp_path, csv)
    (tmp_path / "bad.csv").write_text("file,label\na,b\n")
    with pytest.raises(VidrdBenchError, match="needs `path` and `class`"):
        folder_videos(tmp_path, tmp_path / "bad.csv")
    with pytest.raises(VidrdBenchError, match="does not exist"):
        folder_videos(tmp_path, tmp_path / "missing.csv")
    with pytest.raises(VidrdBenchError, match=r"no \(\?P<class>"):
        folder_videos(tmp_path, "v_.*")
    with pytest.raises(VidrdBenchError, match="matches no class in 4 of 12"):
        folder_videos(tmp_path, r"v_(?P<class>Diving|Surfing)_")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VidrdBenchError, match="No videos"):
        folder_videos(tmp_path / "empty")


def test_without_decord_pyav_decodes_the_same_frames(tmp_path, monkeypatch):
    frames = np.random.default_rng(2).integers(0, 256, (18, 32, 64, 3), np.uint8)
    write_video(tmp_path / "v.mp4", frames, fps=8)
    assert video_backend() == "decord"
    monkeypatch.setitem(sys.modules, "decord", None)  # as on Linux aarch64 / macOS arm64: no decord wheel
    assert video_backend() == "pyav"
    assert np.array_equal(read_video(tmp_path / "v.mp4"), frames)  # lossless files stay bit-exact
    assert np.array_equal(read_clip(tmp_path / "v.mp4", 16, start=1), frames[1:17])


def test_label_rows_naming_files_outside_the_folder_are_refused_and_never_opened(tmp_path):
    """Label rows only name the folder's own videos: one pointing outside (absolute or '../') names no video."""
    names = _folder(tmp_path / "in")
    outside = tmp_path / "private.mp4"
    os.mkfifo(outside)  # opening it would block: the refusal must come without reading it
    for row in (str(outside), "../private.mp4"):
        csv = tmp_path / "labels.csv"
        csv.write_text("path,class\n" + "".join(f"{p},{c}\n" for p, c in names) + f"{row},Diving\n")
        with pytest.raises(VidrdBenchError, match=r"1 row\(s\) name no video in the folder \(e.g. .*private.mp4\)"):
            folder_videos(tmp_path / "in", csv)
