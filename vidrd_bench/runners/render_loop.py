"""The render loop of `generate`: the plan's fixed batches, mp4 writes on a background thread, the part manifest.

Split from runners.generate, which plans, loads and records; this module only turns planned rows into files.
"""

from __future__ import annotations

import errno
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from vidrd_bench.core.errors import RunStateError
from vidrd_bench.core.io import sha256_file
from vidrd_bench.core.progress import tqdm
from vidrd_bench.datasets import manifest as mf
from vidrd_bench.generators.conform import conform

if TYPE_CHECKING:
    from vidrd_bench.runners.generate import Choice


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(out_dir: Path, rows: Sequence[mf.ManifestRow], e: OSError) -> RunStateError:
    """The error for a full disk: what was kept, and how to resume."""
    done = sum(r.status == "done" for r in rows)
    return RunStateError(
        f"The disk holding {out_dir} is full ({e.strerror} writing {e.filename or 'a video'}). The {done} videos "
        "finished so far are kept and the manifest is intact. Free some space (or move the folder to a larger disk "
        "and pass its new path as --out), then re-run the same command: it resumes where it stopped."
    )


BATCH_RULE = ("fixed groups of the plan: plan index // batch_size; a group that a slice or a resume holds only in "
              "part is rendered whole and only the videos still to do are written, so one process, any torchrun "
              "layout and any --shard split render every video in the same batch, bit for bit")


def plan_batches(todo: Sequence[mf.ManifestRow], plan: Sequence[mf.ManifestRow],
                 batch_size: int) -> list[tuple[list[mf.ManifestRow], list[int], list[mf.ManifestRow]]]:
    """The calls that render `todo` (BATCH_RULE): each plan group holding a row to do, whole; the positions in it of
    the rows to write; and those rows of `todo`. Batched kernels can move a uint8 level with the batch's make-up,
    so the batch must not depend on how the run is split."""
    wanted: dict[int, dict[int, mf.ManifestRow]] = {}
    for row in todo:
        wanted.setdefault(row.index // batch_size, {})[row.index] = row
    by_index = {row.index: row for row in plan}
    calls = []
    for group, rows in sorted(wanted.items()):
        members = [by_index[i] for i in range(group * batch_size, (group + 1) * batch_size) if i in by_index]
        keep = [k for k, row in enumerate(members) if row.index in rows]
        calls.append((members, keep, [rows[members[k].index] for k in keep]))
    return calls


def render(generator: Callable[..., Any], choice: Choice, out_dir: Path, rows: list[mf.ManifestRow],
           part: Path, batch: RenderBatch, show_progress: bool = True) -> int:
    """Render every planned row of `rows` in the plan's fixed batches (plan_batches), held to the protocol; write
    each video, then the part manifest.

    A batch's mp4 files are encoded on a background thread while the GPU denoises the next batch; a batch is
    recorded as done in the manifest only after all its files are on disk.
    """
    todo = [r for r in rows if r.status != "done"]
    steady = SteadyRate()
    with tqdm(total=len(todo), unit="video", desc="generate", disable=not show_progress, dynamic_ncols=True) as bar, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="mp4-writer") as writer:
        pending: Future | None = None
        for members, keep, mine in plan_batches(todo, batch.plan, batch.size):
            videos = generator([r.prompt for r in members], [r.seed for r in members], choice.settings)
            videos = conform(videos, choice.protocol)[keep]
            steady.batch_done(len(mine))
            if steady.s_per_video is not None:
                bar.set_postfix_str(f"steady {steady.s_per_video:.2f} s/video", refresh=False)
            _finish(pending)
            pending = writer.submit(_write_batch, out_dir, mine, videos, choice.protocol.fps, rows, part)
            pending.add_done_callback(lambda f: f.exception() is None and bar.update(f.result()))  # no batch of lag
        _finish(pending)
    return len(todo)


@dataclass(frozen=True)
class RenderBatch:
    """How videos are grouped into generator calls: the whole plan (rows in plan order) and the batch size."""

    plan: list[mf.ManifestRow]
    size: int


class SteadyRate:
    """Seconds per video over the batches after the first (which includes torch.compile's first call), the figure
    to compare with `bench`'s whole-video row; None until two batches are done."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.start: float | None = None
        self.videos = 0
        self.s_per_video: float | None = None

    def batch_done(self, videos: int) -> None:
        """Record a finished batch of `videos` videos."""
        now = self.clock()
        if self.start is None:
            self.start = now
            return
        self.videos += videos
        self.s_per_video = (now - self.start) / self.videos


def _write_batch(out_dir: Path, batch: list[mf.ManifestRow], videos: Any, fps: int, rows: list[mf.ManifestRow],
                 part: Path) -> int:
    """Write one batch's videos (each journaled with its sha256 before its rename), then the part manifest."""
    from vidrd_bench.datasets.video import write_video

    try:
        for row, frames in zip(batch, videos):
            write_video(out_dir / row.path, frames, fps, before_replace=_journaler(part, row))
            row.status = "done"
        mf.write_rows(part, rows)
        mf.journal_clear(part)
    except OSError as e:
        if e.errno not in DISK_FULL:
            raise
        _save_part_quietly(part, rows)
        raise _disk_full(out_dir, rows, e) from None
    return len(batch)


def _journaler(part: Path, row: mf.ManifestRow) -> Callable[[Path], None]:
    """The hook run on a finished temp video: hash it into `row` and journal the hash before the rename."""

    def journal(tmp: Path) -> None:
        row.sha256 = sha256_file(tmp)
        mf.journal_append(part, row, row.sha256)

    return journal


def _finish(pending: Future | None) -> None:
    """Wait for the previous batch's writes, re-raising their error here (the bar advanced when they finished)."""
    if pending is not None:
        pending.result()


def _save_part_quietly(part: Path, rows: Sequence[mf.ManifestRow]) -> None:
    """Best effort to record finished rows before a disk-full error; the previous part stays if this fails."""
    try:
        mf.write_rows(part, rows)
    except OSError:
        pass
