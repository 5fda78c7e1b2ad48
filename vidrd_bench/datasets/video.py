"""Video files: write lossless mp4 with PyAV (libx264rgb, crf 0); read files with decord or PyAV, or folders of frames."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from vidrd_bench.core.errors import VideoError, brief
from vidrd_bench.core.io import atomic_path
from vidrd_bench.core.limits import FRAME_PIXELS, VIDEO_PIXELS

CODEC = "libx264rgb"
SHORT_VIDEO_POLICY = (
    "Under the FVD/IS protocols, real videos shorter than the clip length are discarded (and counted) "
    "when statistics are computed, while a generated video that is too short is an error: regenerate it "
    "with enough frames or pass a protocol with a shorter clip."
)


class ShortVideoError(VideoError):
    """A video has fewer frames than the protocol's clip length (real statistics skip these, generated must not)."""

    def __init__(self, message: str, frames: int = -1, needed: int = -1):
        super().__init__(message)
        self.frames = frames
        self.needed = needed


def _as_uint8_frames(frames: np.ndarray | torch.Tensor, where: str) -> np.ndarray:
    """Check and convert frames to a contiguous uint8 (T, H, W, 3) numpy array."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise VideoError(
            f"Cannot write {where}: frames must be a non-empty uint8 array shaped (T, H, W, 3), got "
            f"dtype {frames.dtype} shape {tuple(frames.shape)}. Convert with (x * 127.5 + 128).clamp(0, 255) "
            "and permute channels last before writing."
        )
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise VideoError(
            f"Cannot write {where}: libx264 needs even height and width, got {frames.shape[1]}x{frames.shape[2]}. "
            "Generate or crop to an even resolution."
        )
    return np.ascontiguousarray(frames)


def write_video(path: str | os.PathLike, frames: np.ndarray | torch.Tensor, fps: int,
                before_replace: Callable[[Path], None] | None = None) -> None:
    """Write uint8 (T, H, W, 3) frames as a lossless mp4 (libx264rgb crf 0), atomically (io.atomic_path)."""
    import av

    path = Path(path)
    frames = _as_uint8_frames(frames, str(path))
    with atomic_path(path, suffix=".tmp.mp4", before_replace=before_replace) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream(CODEC, rate=Fraction(int(fps)))
            stream.height, stream.width = int(frames.shape[1]), int(frames.shape[2])
            stream.pix_fmt = "rgb24"
            stream.options = {"crf": "0", "preset": "medium"}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)


BACKEND_ENV = "VIDRD_BENCH_VIDEO_BACKEND"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
PYAV_ONLY_SUFFIXES = (".gif",)  # decord cannot count GIF frames


def video_backend() -> str:
    """The decoder used for video files: decord when installed (unless $VIDRD_BENCH_VIDEO_BACKEND=pyav), else PyAV.

    decord has no wheels for Linux aarch64 or macOS arm64; PyAV decodes the same files (both are ffmpeg), and
    the lossless libx264rgb files of `generate` decode bit-exactly with either (tests/datasets/test_video.py).
    """
    if os.environ.get(BACKEND_ENV, "").lower() == "pyav":
        return "pyav"
    try:
        import decord  # noqa: F401
    except ImportError:
        return "pyav"
    return "decord"


def _natural_key(path: Path) -> list:
    """Sort key that orders frame_2.png before frame_10.png."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of a folder-of-frames video, in natural name order (dotfiles ignored)."""
    return sorted((p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith(".")), key=_natural_key)


class FrameFolder:
    """A video stored as a folder of image files (one per frame, natural name order)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files = frame_files(folder)

    def __len__(self) -> int:
        """Number of frames."""
        return len(self.files)

    def size(self, index: int) -> tuple[int, int]:
        """(height, width) of one frame from its image header, refused over the per-frame limit before decoding."""
        try:
            with Image.open(self.files[index]) as image:
                width, height = image.size
        except Image.DecompressionBombError:
            width, height = 1 << 20, 1 << 20  # over any sane limit: PIL refused to even open it
        except OSError as e:
            raise VideoError(f"Frame {self.files[index]} of {self.folder} cannot be read as an image ({e}); "
                             "replace it or remove it from the folder.") from None
        FRAME_PIXELS.check(width * height, f"Frame {self.files[index]} ({width}x{height})")
        return height, width

    def get(self, indices: list[int]) -> np.ndarray:
        """The frames at `indices` as uint8 (T, H, W, 3), each checked against the per-frame limit first."""
        for i in indices:
            self.size(i)
        frames = [np.asarray(Image.open(self.files[i]).convert("RGB")) for i in indices]
        if len({f.shape for f in frames}) > 1:
            raise VideoError(f"The frames in {self.folder} have different sizes; every frame of a video must have "
                             "the same height and width.")
        return np.stack(frames)


class PyAVReader:
    """All frames of a video file decoded once with PyAV (GIF, and every format where decord is not installed)."""

    def __init__(self, path: Path):
        import av

        try:
            with av.open(str(path)) as container:
                self.frames = []
                for frame in container.decode(video=0):
                    VIDEO_PIXELS.check((len(self.frames) + 1) * frame.width * frame.height, f"Video file {path}")
                    self.frames.append(frame.to_ndarray(format="rgb24"))
        except (av.error.FFmpegError, ValueError, IndexError) as e:
            raise VideoError(
                f"Video file {path} cannot be decoded ({brief(e)}). It is corrupt, truncated or not a video; "
                "delete it and regenerate (generated videos) or re-download it (real videos)."
            ) from None

    def __len__(self) -> int:
        """Number of frames."""
        return len(self.frames)

    def get(self, indices: list[int]) -> np.ndarray:
        """The frames at `indices` as uint8 (T, H, W, 3)."""
        return np.stack([self.frames[i] for i in indices])


def _open_decord(path: Path):
    """A decord VideoReader, or None when decord cannot open the file (PyAV is tried next)."""
    import decord

    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        return reader if len(reader) > 0 else None
    except (decord.DECORDError, RuntimeError, ValueError):
        return None


def header_size(path: Path) -> tuple[int, int, int] | None:
    """(frames, height, width) of a video file from its container header, without decoding a frame (frames 0 when
    the header does not say); None when PyAV cannot read the header (the decoder then reports the file)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return int(stream.frames or 0), int(stream.codec_context.height), int(stream.codec_context.width)
    except (av.error.FFmpegError, ValueError, IndexError, OSError):
        return None


def check_size(path: Path) -> tuple[int, int] | None:
    """Refuse a video whose header promises frames or a video larger than the limits (core.limits), before any
    frame is decoded; a folder of frames is checked on its first frame and its number of files. Returns (height,
    width), None when the header is unreadable."""
    if path.is_dir():
        files = FrameFolder(path)
        size = (len(files), *files.size(0)) if len(files) else None
    else:
        size = header_size(path)
    if size is None:
        return None
    frames, height, width = size
    FRAME_PIXELS.check(height * width, f"Video {path} ({width}x{height} frames)")
    VIDEO_PIXELS.check(frames * height * width, f"Video {path} ({frames} frames of {width}x{height})")
    return height, width


def _open(path: str | os.PathLike):
    """A frame reader for a video file or folder of frames, its size checked against the limits first; an
    undecodable or empty one is a VideoError."""
    path = Path(path)
    if not path.is_dir() and not path.is_file():
        raise VideoError(f"Video file {path} does not exist. Check the path or the run's manifest.jsonl.")
    size = check_size(path)
    if path.is_dir():
        reader = FrameFolder(path)
    else:
        use_decord = video_backend() == "decord" and path.suffix.lower() not in PYAV_ONLY_SUFFIXES
        reader = (_open_decord(path) if use_decord else None) or PyAVReader(path)
        if size is not None and not isinstance(reader, PyAVReader):  # decord counts frames a header may not state
            VIDEO_PIXELS.check(len(reader) * size[0] * size[1], f"Video {path} ({len(reader)} frames of "
                               f"{size[1]}x{size[0]})")
    if len(reader) == 0:
        raise VideoError(f"Video {path} holds no frames. It is empty or not a video; replace or remove it.")
    return reader


def num_frames(path: str | os.PathLike) -> int:
    """Number of frames in a video file or folder of frames."""
    return len(_open(path))


def _decode_with_pyav(path: str | os.PathLike, indices: list[int]) -> np.ndarray:
    """Decode the frames at `indices` with PyAV; used where decord mislays rows (some narrow widths)."""
    reader = PyAVReader(Path(path))
    if indices[-1] >= len(reader):
        raise VideoError(
            f"Video file {path} ended before frame {indices[-1]} ({len(reader)} frames decoded). "
            "The file is truncated; delete it and regenerate or re-download it."
        )
    return reader.get(indices)


def _get_frames(reader, indices: list[int], path: str | os.PathLike) -> np.ndarray:
    """Decode the frames at `indices` as uint8 (T, H, W, 3), with decord falling back to PyAV on layout bugs."""
    if isinstance(reader, (FrameFolder, PyAVReader)):
        return reader.get(indices)
    import decord

    try:
        batch = reader.get_batch(indices).asnumpy()
        if batch.ndim == 4 and batch.shape[-1] == 3:
            return batch
    except (decord.DECORDError, RuntimeError):
        pass
    return _decode_with_pyav(path, indices)


def read_video(path: str | os.PathLike) -> np.ndarray:
    """All frames of a video file as uint8 (T, H, W, 3)."""
    reader = _open(path)
    return _get_frames(reader, list(range(len(reader))), path)


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 (T, H, W, 3) frames to `size` (h, w) with bilinear filtering (antialiased when shrinking)."""
    if tuple(frames.shape[1:3]) == tuple(size):
        return frames
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    shrinking = size[0] < frames.shape[1] or size[1] < frames.shape[2]
    y = torch.nn.functional.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=shrinking)
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def clip_indices(total: int, num_frames: int = 16, start: int | None = None, rng: np.random.Generator | None = None,
                 stride: int = 1, path: str | os.PathLike = "video") -> list[int]:
    """The frame numbers of `num_frames` frames `stride` apart in a video of `total` frames: from `start`, a random
    offset drawn from `rng`, or 0 (read_clip's rule; ShortVideoError when the video is too short)."""
    span = (num_frames - 1) * stride + 1
    needed = num_frames * stride if start is None and rng is not None else span
    if total < needed:
        raise ShortVideoError(
            f"Video file {path} has {total} frames but the protocol needs {needed} ({num_frames} frames {stride} "
            "apart). " + SHORT_VIDEO_POLICY, frames=total, needed=needed,
        )
    if start is None:
        start = int(rng.integers(0, total - span + 1)) if rng is not None else 0
    if not 0 <= start <= total - span:
        raise VideoError(
            f"Clip start {start} is out of range for video {path} ({total} frames, clip spanning {span}); "
            f"pass a start between 0 and {total - span}."
        )
    return list(range(start, start + span, stride))


@dataclass(frozen=True)
class ClipRequest:
    """One clip wanted from a video: `num_frames` frames `stride` apart from `start`, a random offset drawn from
    `rng`, or frame 0 (clip_indices)."""

    num_frames: int = 16
    start: int | None = None
    rng: np.random.Generator | None = field(default=None, compare=False)
    stride: int = 1


def read_clips(path: str | os.PathLike, requests: list[ClipRequest]) -> list[np.ndarray | ShortVideoError]:
    """Several clips of one video, opened and decoded once: the union of their frames in one pass, each clip cut
    from it as uint8 (T, H, W, 3); a clip the video is too short for is its ShortVideoError instead."""
    reader = _open(path)
    wanted: list[list[int] | ShortVideoError] = []
    for r in requests:
        try:
            wanted.append(clip_indices(len(reader), r.num_frames, r.start, r.rng, r.stride, path))
        except ShortVideoError as e:
            wanted.append(e)
    union = sorted({i for w in wanted if isinstance(w, list) for i in w})
    frames = _get_frames(reader, union, path) if union else None
    where = {f: n for n, f in enumerate(union)}
    return [w if isinstance(w, ShortVideoError) else frames[[where[i] for i in w]] for w in wanted]


def read_clip(
    path: str | os.PathLike,
    num_frames: int = 16,
    start: int | None = None,
    rng: np.random.Generator | None = None,
    stride: int = 1,
) -> np.ndarray:
    """`num_frames` frames `stride` apart as uint8 (T, H, W, 3): from `start`, a random offset drawn from `rng`, or 0.

    A random offset needs num_frames * stride frames (StyleGAN-V's rule for dropping short real videos) and is
    uniform over every start whose clip fits; a fixed start needs (num_frames - 1) * stride + 1 frames.
    """
    reader = _open(path)
    return _get_frames(reader, clip_indices(len(reader), num_frames, start, rng, stride, path), path)
