"""Size limits checked before anything is decoded or allocated, so that no small file (a GIF of huge frames, an npz
with a huge array header, a record of hundreds of megabytes) can exhaust memory. Each limit is raised with an
environment variable, which the refusal names.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from vidrd_bench.core.errors import LimitError, VidrdBenchError


@dataclass(frozen=True)
class Limit:
    """One size limit: what it counts, its environment variable and its default."""

    what: str
    env: str
    default: int

    def value(self) -> int:
        """The limit in force: the environment variable when set (a positive whole number), else the default."""
        text = os.environ.get(self.env, "").strip().replace("_", "")
        if not text:
            return self.default
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise VidrdBenchError(f"${self.env}={os.environ[self.env]!r} is not a positive whole number; set it to "
                                  f"the largest number of {self.what} to accept (default {self.default:,}).")
        return value

    def check(self, amount: int, subject: str, remedy: str = "") -> None:
        """Refuse `subject` when `amount` is over the limit, before the memory is taken; `remedy` names the options
        that ask for less."""
        limit = self.value()
        if amount > limit:
            raise LimitError(
                f"{subject} needs {amount:,} {self.what}, over the limit of {limit:,} (${self.env}). The limit keeps "
                f"a small file from taking all memory before it is decoded. {remedy + ' ' if remedy else ''}If the "
                "input is genuine and the machine has the memory, raise the limit: "
                f"{self.env}={1 << (amount - 1).bit_length()} vidrd-bench ..."
            )


FRAME_PIXELS = Limit("pixels per frame (height x width)", "VIDRD_BENCH_MAX_FRAME_PIXELS", 1 << 22)
VIDEO_PIXELS = Limit("pixels per video (frames x height x width)", "VIDRD_BENCH_MAX_VIDEO_PIXELS", 1 << 28)
ARRAY_ELEMENTS = Limit("elements in one array of an npz file", "VIDRD_BENCH_MAX_ARRAY_ELEMENTS", 1 << 27)
IMAGE_PIXELS = Limit("pixels in one contact sheet or preview frame", "VIDRD_BENCH_MAX_IMAGE_PIXELS", 1 << 25)
RECORD_BYTES = Limit("bytes in one result or calibration record", "VIDRD_BENCH_MAX_RECORD_BYTES", 64 << 20)
LIMITS = (FRAME_PIXELS, VIDEO_PIXELS, ARRAY_ELEMENTS, IMAGE_PIXELS, RECORD_BYTES)


def _check_npy_header(f: BinaryIO, subject: str) -> None:
    """Refuse an .npy stream whose header declares more elements than ARRAY_ELEMENTS (only the header is read)."""
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, _ = read(f)
    except (ValueError, EOFError, OSError):
        return  # not an array header: the loader reports the file
    ARRAY_ELEMENTS.check(math.prod(shape), f"{subject} (an array of shape {tuple(shape)})")


def check_arrays(path: str | os.PathLike, subject: str) -> None:
    """Refuse an npz (or npy) file any of whose arrays, by its header, is larger than ARRAY_ELEMENTS, and any other
    member larger than that many bytes, before anything is loaded; unreadable files pass (the loader reports them)."""
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as f:
                _check_npy_header(f, subject)
            return
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    ARRAY_ELEMENTS.check(info.file_size, f"{subject}, member {info.filename} ({info.file_size:,} "
                                         "bytes once decompressed)")
                    continue
                with archive.open(info) as f:
                    _check_npy_header(f, f"{subject}, member {info.filename}")
    except (OSError, zipfile.BadZipFile, EOFError):
        return


def read_text(path: str | os.PathLike, limit: Limit, subject: str) -> str:
    """A UTF-8 text file read whole, refused (by its size, before reading) when larger than `limit` bytes; a stream
    whose size is unknown is read up to the limit only."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        limit.check(size, f"{subject} ({size:,} bytes)")
        data = f.read(limit.value() + 1)
    limit.check(len(data), f"{subject} (more than {len(data) - 1:,} bytes)")
    return data.decode("utf-8")
