"""One writer per part of an output folder: fcntl.flock on `.locks/<part>.lock`, holding host, pid and start time.

A `generate` process locks the lock file of its own slice (shard composed with torchrun rank), so shards and ranks
of one run work side by side, while a second process for the same slice, or for a slice that overlaps a held one
(another --shard layout over the same videos), is refused. flock is released by the kernel when a process dies, so
a lock file that still names a holder but can be taken was left by a dead process: it is taken over with a message.
Short folder-wide updates (run.json, manifest.jsonl) take `.locks/folder.lock` for their duration. Lock files are
opened without following symbolic links and must be regular files: a received folder cannot redirect the writes.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any, Iterator

from vidrd_bench.core.errors import RunStateError
from vidrd_bench.core.io import open_regular

LOCKS_DIR = ".locks"
FOLDER_LOCK = "folder.lock"


def _holder(extra: dict[str, Any]) -> dict[str, Any]:
    """What a lock file says about its holder: host, pid, start time and the caller's fields (e.g. the slice)."""
    start = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": start, **extra}


def _read(fd: int) -> dict[str, Any] | None:
    """The holder recorded in an open lock file, or None when it is empty or unreadable."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 1 << 16).decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    """A holder in words: 'pid 123 on host h (since 2026-...)'."""
    if not holder:
        return "another process (its lock file names no holder)"
    return f"pid {holder.get('pid')} on host {holder.get('host')} (since {holder.get('start')})"


def read_holder(path: Path) -> dict[str, Any] | None:
    """The live holder of the lock at `path` (None when nobody holds it): takes and drops a shared probe lock.

    A lock file that is a symbolic link or not a regular file (a FIFO would block) is refused (RunStateError).
    """
    try:
        fd = open_regular(path, os.O_RDONLY, root=path.parent.parent)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class PartLock:
    """An exclusive, non-blocking lock on one part of an output folder, released by `release` or process exit."""

    def __init__(self, folder: Path, name: str, info: dict[str, Any] | None = None):
        self.path = Path(folder) / LOCKS_DIR / f"{name}.lock"
        self.info = info or {}
        self.fd: int | None = None
        self.took_over: dict[str, Any] | None = None

    def acquire(self) -> "PartLock":
        """Take the lock or raise RunStateError naming the holder; a dead holder's lock is taken over (noted)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_regular(self.path, os.O_RDWR | os.O_CREAT, root=self.path.parent.parent)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise RunStateError(
                f"{self.path.parent.parent} is being written by {_describe(holder)}, which holds {self.path}. Two "
                "writers on one folder would render the same videos twice and overwrite each other's manifest. Wait "
                "for it to finish (or stop it), then re-run this command to resume; to render in parallel, give each "
                "job its own --shard I/N of the same folder, or use another --out folder."
            ) from None
        self.took_over = _read(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_holder(self.info)).encode("utf-8"), 0)
        os.fsync(fd)
        self.fd = fd
        if self.took_over:
            print(f"note: took over the lock {self.path} left by {_describe(self.took_over)}, which is no longer "
                  "running (it was killed or crashed); resuming its work.", file=sys.stderr)
        return self

    def release(self) -> None:
        """Empty the lock file (a clean exit leaves no holder behind) and unlock it."""
        if self.fd is None:
            return
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "PartLock":
        return self if self.fd is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def held_locks(folder: Path) -> dict[str, dict[str, Any]]:
    """Part locks of `folder` held right now by live processes: lock name -> holder."""
    locks = Path(folder) / LOCKS_DIR
    if not locks.is_dir():
        return {}
    held = {}
    for path in sorted(locks.glob("*.lock")):
        holder = read_holder(path) if path.name != FOLDER_LOCK else None
        if holder is not None:
            held[path.stem] = holder
    return held


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold `.locks/folder.lock` (blocking, short) while run.json or manifest.jsonl of `folder` is updated."""
    path = Path(folder) / LOCKS_DIR / FOLDER_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_regular(path, os.O_RDWR | os.O_CREAT, root=Path(folder))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
