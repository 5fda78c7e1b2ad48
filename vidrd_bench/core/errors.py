"""User-facing errors: one paragraph saying what was wrong and what to do, never a traceback."""

import textwrap


class VidrdBenchError(Exception):
    """An error caused by the user's input or files; the CLI prints it and exits non-zero."""

    exit_code = 2


class WeightsError(VidrdBenchError):
    """A model or detector file is missing, unreadable or does not match the expected layout."""


class VideoError(VidrdBenchError):
    """A video file cannot be decoded or is too short for the protocol."""


class ProtocolMismatchError(VidrdBenchError):
    """Two results, statistics files or manifests were made under different protocols."""


class RunStateError(VidrdBenchError):
    """An output folder holds a run that this command must not mix with or overwrite."""


class OutputError(VidrdBenchError):
    """An output path cannot be written (not a folder, read-only, full, no permission)."""


class LimitError(VidrdBenchError):
    """A file asks for more memory than a size limit allows (vidrd_bench.core.limits); the message names the limit."""


def brief(text: object, width: int = 200) -> str:
    """The first line of `text` (an exception's message) cut at a word boundary to `width` characters, marked ' ...'."""
    line = (str(text).strip().splitlines() or [""])[0]
    short = textwrap.shorten(line, width=width, placeholder=" ...")
    return short if short.strip(" .") or not line else f"{line[:width - 4]} ..."
