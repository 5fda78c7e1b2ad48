"""Browser-playable preview clips for the HTML report: H.264 (yuv420p) mp4 encoded with PyAV, embedded as data URIs.

The run's own videos are lossless RGB H.264 (libx264rgb, High 4:4:4), which few browsers decode; previews are
re-encoded in the profile every browser plays, upscaled (nearest neighbour) so tiny videos stay visible.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

from vidrd_bench.core.limits import IMAGE_PIXELS
from vidrd_bench.datasets.video import read_video
from vidrd_bench.report import escape
from vidrd_bench.report.pictures import SampledVideo

MIN_SIDE = 128
MAX_SIDE = 160  # larger videos are shrunk (area) to this short side: a preview shows content, not detail
MAX_FRAMES = 16  # evenly spaced frames of a longer video
CRF = 28  # H.264 quality of the previews: ~30-60 kB a clip at these sizes, so 48 clips stay a few MB
FPS = 8


@dataclass(frozen=True)
class Preview:
    """One preview clip: the sampled video it shows and its mp4 bytes."""

    video: SampledVideo
    mp4: bytes
    width: int
    height: int


def _shrunk(frames: np.ndarray) -> np.ndarray:
    """At most MAX_FRAMES evenly spaced frames, shrunk (area) to a MAX_SIDE short side where larger."""
    if len(frames) > MAX_FRAMES:
        frames = frames[np.linspace(0, len(frames) - 1, MAX_FRAMES).round().astype(int)]
    short = min(frames.shape[1:3])
    if short <= MAX_SIDE:
        return frames
    size = (round(frames.shape[2] * MAX_SIDE / short), round(frames.shape[1] * MAX_SIDE / short))
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BOX)) for f in frames])


def _upscaled(frames: np.ndarray) -> np.ndarray:
    """Frames enlarged by a whole factor to at least MIN_SIDE on the short side, cropped to even sides."""
    factor = max(1, -(-MIN_SIDE // min(frames.shape[1:3])))
    height, width = frames.shape[1] * factor, frames.shape[2] * factor
    IMAGE_PIXELS.check(height * width, f"A preview of {frames.shape[2]}x{frames.shape[1]} frames (upscaled {factor}x "
                       f"to {width}x{height} for a {MIN_SIDE}-pixel short side)",
                       "Pass --previews 0 to leave preview clips out of the report.")
    big = frames.repeat(factor, axis=1).repeat(factor, axis=2)
    return big[:, : big.shape[1] // 2 * 2, : big.shape[2] // 2 * 2]


def encode_h264(frames: np.ndarray, fps: int = FPS, crf: int = CRF) -> bytes:
    """uint8 (T, H, W, 3) frames as an H.264 yuv420p mp4 in memory."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1], frames.shape[2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast", "profile": "main"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    return buf.getvalue()


def make_previews(videos: list[SampledVideo], fps: int = FPS) -> list[Preview]:
    """A playable preview of each sampled video."""
    out = []
    for video in videos:
        frames = _upscaled(_shrunk(read_video(video.path)))
        out.append(Preview(video, encode_h264(frames, fps), frames.shape[2], frames.shape[1]))
    return out


def previews_html(previews: list[Preview]) -> str:
    """A grid of <figure>s, each a looping muted <video> with class, index and prompt (else its file name) beneath,
    after a line saying how many clips and how many bytes they embed."""
    cells = []
    for p in previews:
        v = p.video
        index = f"#{v.index} " if v.index is not None else ""
        uri = "data:video/mp4;base64," + base64.b64encode(p.mp4).decode("ascii")
        cells.append(
            f'<figure class="preview"><video controls loop muted autoplay playsinline preload="auto" '
            f'width="{p.width}" height="{p.height}" data-class="{escape.html(v.klass)}">'
            f'<source src="{uri}" type="video/mp4"></video>'
            f"<figcaption><b>{escape.html(index + v.klass)}</b><br>{escape.html(v.prompt or v.path.name)}"
            "</figcaption></figure>")
    size = sum(len(p.mp4) for p in previews) * 4 / 3 / 1e6  # base64 in the page
    about = (f'<p class="vidrd-footnotes">{len(previews)} clips, {size:.2f} MB of this page (at most {MAX_FRAMES} '
             f"frames, {MAX_SIDE}-pixel short side, H.264 crf {CRF}); --previews 0 leaves them out.</p>")
    return about + '<div class="previews">' + "\n".join(cells) + "</div>"

