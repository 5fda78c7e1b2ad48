"""Atomic file writes and hashing: nothing already written is lost when a run is interrupted."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from vidrd_bench.core.errors import OutputError, RunStateError


def _umask() -> int:
    """The process umask (read by setting and restoring it), so atomic files get the usual permissions."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's or a folder's entries to disk (a folder after a rename, so the rename survives a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None,
                before_replace: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; flush it and rename it onto `path` only if the block succeeds.

    `before_replace(tmp)` runs on the finished temp file just before the rename (e.g. to journal its sha256).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or f"{path.suffix}.tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        fsync_path(tmp_path)
        if before_replace is not None:
            before_replace(tmp_path)
        os.replace(tmp_path, path)
        fsync_path(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically (temp file + fsync + rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON to `path` atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of one file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_tree(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a folder as the hash of its files' relative names and hashes."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(path).as_posix()}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFDIR: "a folder", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFLNK: "a symbolic link"}


def _kind(mode: int) -> str:
    """What a file system entry is, in words."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _not_a_file(path: Path, root: Path, what: str, expected: str = "a plain file") -> RunStateError:
    """The error for a run-folder entry that is a link or a special file where a plain file (or folder) belongs."""
    return RunStateError(
        f"{path} is {what}, not {expected}. vidrd-bench never follows links or opens special files inside a run "
        f"folder ({root}), so that a folder received from someone else cannot make it write or read files elsewhere, "
        "or hang on a pipe. Delete that entry (lock files, journals and manifests are recreated or restored by "
        "re-running the same generate command) and run the command again."
    )


def refuse_linked_folders(root: str | os.PathLike, names: Iterable[str]) -> None:
    """Refuse when any of the sub-folders `names` of `root` that exists is a symbolic link or not a folder."""
    for name in names:
        refuse_links(root, Path(root) / name / "entry")


def refuse_links(root: str | os.PathLike, path: str | os.PathLike) -> None:
    """Refuse when any folder between `root` (exclusive) and `path` (exclusive) is a symbolic link or not a folder."""
    root, path = Path(root), Path(path)
    current = root
    for part in path.relative_to(root).parts[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(mode):
            raise _not_a_file(current, root, _kind(mode), "a folder")


def open_regular(path: str | os.PathLike, flags: int, root: str | os.PathLike | None = None, mode: int = 0o666) -> int:
    """os.open of a file inside a run folder `root` (default: its own folder) that never follows a symbolic link
    (in the file or the folders below `root`), never blocks on a FIFO, and refuses anything but a regular file.

    Pass flags without O_TRUNC and truncate the returned descriptor instead: only a checked file may be emptied.
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    refuse_links(root, path)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise
        raise _not_a_file(path, root, _kind(os.lstat(path).st_mode)) from None
    kind = os.fstat(fd).st_mode
    if not stat.S_ISREG(kind):
        os.close(fd)
        raise _not_a_file(path, root, _kind(kind))
    return fd


def read_text_regular(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """The UTF-8 text of a regular file inside `root`, opened as `open_regular` does (no links, no FIFOs)."""
    with os.fdopen(open_regular(path, os.O_RDONLY, root), "r", encoding="utf-8") as f:
        return f.read()


def visible_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under `root` with one of `suffixes`, never dotfiles or files in dot-folders (temp files, locks)."""
    return [p for p in Path(root).rglob("*") if p.suffix.lower() in suffixes and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)]


def remove_stale_temps(path: str | os.PathLike) -> int:
    """Delete the temp files a killed atomic write of `path` left beside it ('.<name>.<random>...tmp...')."""
    path = Path(path)
    if not path.parent.is_dir():
        return 0
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}.*tmp.*$")
    removed = 0
    for entry in os.scandir(path.parent):
        if pattern.match(entry.name) and entry.is_file():
            os.unlink(entry.path)
            removed += 1
    return removed


def _unwritable(path: Path, folder: Path, e: OSError) -> OutputError:
    """The error for an output that cannot be written, before any work is done."""
    return OutputError(
        f"Cannot write {path}: {e.strerror or e} ({folder}). Nothing was computed yet. Choose a writable location "
        "(a folder that exists or can be created, with free space and write permission) and run the command again."
    )


def _probe(folder: Path, path: Path) -> None:
    """Create, fill, flush and delete a small temp file in `folder`: fails now if the real write would."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe.tmp", dir=folder)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as e:
        raise _unwritable(path, folder, e) from None


def _refuse_file_ancestor(path: Path) -> None:
    """Refuse an output path below an existing file (no folder can be made there)."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"Cannot write {path}: {parent} is a file, not a folder. Nothing was computed yet. "
                                  "Pass an output path inside a folder.")
            return


def check_output_dir(path: str | os.PathLike) -> Path:
    """Make sure `path` is (or can become) a writable folder; a one-paragraph OutputError otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} exists and is not a folder. Pass a folder (new or existing) as the output.")
    _refuse_file_ancestor(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _unwritable(path, path, e) from None
    _probe(path, path / "probe")
    return path


def check_output_file(path: str | os.PathLike) -> Path:
    """Make sure the file `path` can be written (its folder exists or can be made, is writable, has space).

    Also removes temp files an interrupted earlier write of `path` left behind.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; pass a file name for the output (for example {path / 'result.json'}).")
    _refuse_file_ancestor(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _unwritable(path, path.parent, e) from None
    _probe(path.parent, path)
    remove_stale_temps(path)
    return path


def save_or_rescue(path: str | os.PathLike, save: Callable[[Path], Any], result: str) -> Path:
    """Write a computed result with `save(path)`; if that fails, save it to the temp folder and say both, with it."""
    path = Path(path)
    try:
        save(path)
        return path
    except OSError as e:
        rescue = Path(tempfile.gettempdir()) / f"vidrd-bench-unsaved-{os.getpid()}-{path.name}"
        try:
            save(rescue)
            where = f"It was saved instead to {rescue}: move it where it belongs."
        except OSError:
            where = "It could not be saved in the temp folder either."
        raise OutputError(
            f"The work finished but {path} could not be written ({e.strerror or e}). The result: {result}. {where} "
            "Free space or fix permissions before the next run."
        ) from None
