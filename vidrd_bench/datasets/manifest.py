"""The output folder of a generation run: run.json (protocol, preset, weights, provenance), manifest rows, videos.

Layout of `out/`:
- `run.json`: what the run is (dataset, number of videos, full protocol dict, digest of the plan, preset,
  weights sha256, version/commit). Written first; a later run in the same folder must match it.
- `manifest.jsonl`: one row per planned video, in plan order (index, class, prompt, seed, path, status,
  sha256, protocol). Rewritten atomically; the merge of all that is known.
- `manifest.parts/part-IIIII-of-NNNNN.jsonl`: the rows of one worker's slice (shard and rank composed), rewritten
  atomically after every batch. Parts merge into `manifest.jsonl` by concatenation, later files winning.
- `manifest.parts/part-IIIII-of-NNNNN.written`: the journal of one worker: a line {index, path, sha256} appended
  (and flushed) for each video just before its temp file is renamed into place, emptied after each part rewrite.
  A video renamed into place but not yet in a part (a kill in between) is adopted on resume from this journal.
- `videos/IIIII_Class.mp4`: the videos, each written atomically.

Files of the folder are read and appended to without following symbolic links (core.io.open_regular): a folder
received from someone else cannot redirect a write or a read outside itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterable, Sequence

from vidrd_bench.datasets.plan import PlannedVideo, Shard
from vidrd_bench.core.errors import ProtocolMismatchError, RunStateError
from vidrd_bench.core.io import (open_regular, read_text_regular, refuse_linked_folders, sha256_file, write_json_atomic,
                                 write_text_atomic)
from vidrd_bench.core.lock import LOCKS_DIR
from vidrd_bench.protocols import OLD_GENERATION_RECORD, EvalProtocol

SCHEMA = "vidrd-bench/generation-run/v1"
RUN_FILE = "run.json"
MANIFEST_FILE = "manifest.jsonl"
PARTS_DIR = "manifest.parts"
VIDEOS_DIR = "videos"


@dataclass
class ManifestRow:
    """One planned video and what became of it (status 'planned' or 'done' with the file's sha256)."""

    index: int
    class_name: str
    prompt: str
    seed: int
    path: str
    protocol: str
    status: str = "planned"
    sha256: str | None = None

    @classmethod
    def from_plan(cls, video: PlannedVideo, protocol: str) -> "ManifestRow":
        """The not-yet-rendered row of a planned video; its file lives at videos/<index>_<class>.mp4."""
        path = f"{VIDEOS_DIR}/{video.index:05d}_{video.class_name}.mp4"
        return cls(video.index, video.class_name, video.prompt, video.seed, path, protocol)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of one manifest line ('class' rather than 'class_name')."""
        d = dataclasses.asdict(self)
        return {"index": d.pop("index"), "class": d.pop("class_name"), **d}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ManifestRow":
        """Rebuild a row from one manifest line."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(class_name=d["class"], **{k: v for k, v in d.items() if k in fields})

    def same_video(self, other: "ManifestRow") -> bool:
        """True when both rows describe the same planned video (index, class, prompt, seed, path, protocol)."""
        key = ("index", "class_name", "prompt", "seed", "path", "protocol")
        return all(getattr(self, k) == getattr(other, k) for k in key)


def plan_digest(rows: Sequence[ManifestRow]) -> str:
    """sha256 of the plan (index, class, prompt, seed of every row): two runs with one digest render the same videos."""
    blob = json.dumps([[r.index, r.class_name, r.prompt, r.seed] for r in rows], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def read_rows(path: Path, root: Path | None = None) -> list[ManifestRow]:
    """The rows of one manifest file of the run folder `root` (default: the file's folder); a clear error naming the
    file and line if it is not a manifest, and a refusal if it is a link or a special file."""
    try:
        text = read_text_regular(path, root)
    except (UnicodeDecodeError, OSError) as e:
        raise RunStateError(f"{path} cannot be read as a text manifest ({e}). Restore it, or delete it and re-run the "
                            "same generate command (videos that only this file recorded are rendered again).") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = ManifestRow.from_json(json.loads(line))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise RunStateError(
                f"{path} line {number} is not a vidrd-bench manifest row ({e}). The file was edited or comes "
                "from another tool: restore it, or delete it and re-run the same generate command (videos that only "
                "this file recorded are rendered again)."
            ) from None
        if not _relative_inside(row.path):
            raise RunStateError(
                f"{path} line {number} (video {row.index}) names the file {row.path!r}, which is not a path inside "
                "the run folder (absolute, empty or climbing out with '..'). A manifest row names a file of its own "
                "folder; this manifest was edited or made elsewhere, and is not used: restore the original, or "
                "re-render into a new --out folder."
            )
        rows.append(row)
    return rows


def _relative_inside(rel: object) -> bool:
    """Whether a manifest path is a non-empty relative path with no '..' part (it stays inside the folder)."""
    if not isinstance(rel, str) or not rel.strip() or "\0" in rel:
        return False
    pure = PurePosixPath(rel)
    return not pure.is_absolute() and ".." not in pure.parts and not PureWindowsPath(rel).drive


def video_file(out_dir: Path, row: ManifestRow) -> Path:
    """The file of a row: `out_dir / row.path`, refused when it resolves outside the folder (a symbolic link out)."""
    return inside(out_dir, out_dir / row.path, f"video {row.index}")


def inside(out_dir: Path, path: Path, what: str) -> Path:
    """`path` as given, after checking that it (links followed) lies inside `out_dir`; a RunStateError otherwise."""
    target = Path(os.path.realpath(path))
    if target != Path(os.path.realpath(out_dir)) and Path(os.path.realpath(out_dir)) in target.parents:
        return path
    raise RunStateError(
        f"{path} ({what} of {out_dir}) resolves to {target}, outside that folder: it is a symbolic link out of "
        "the folder, or names no file in it. vidrd-bench reads only files inside the folder it is given, so that a "
        "folder received from someone else cannot make it read (and score or embed) other files. Replace the link by "
        "the file itself, or re-render the video."
    )


def write_rows(path: Path, rows: Iterable[ManifestRow]) -> Path:
    """Write manifest rows as JSON lines, atomically (temp file + rename)."""
    text = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in rows)
    return write_text_atomic(path, text)


def part_path(out_dir: Path, shard: Shard) -> Path:
    """Manifest file of one worker's slice."""
    return out_dir / PARTS_DIR / f"part-{shard.index:05d}-of-{shard.count:05d}.jsonl"


def journal_path(part: Path) -> Path:
    """The journal of written-but-not-yet-recorded videos beside a part manifest."""
    return part.with_suffix(".written")


def journal_append(part: Path, row: ManifestRow, sha256: str) -> None:
    """Record, durably, that `row`'s video with this sha256 is about to be renamed into place."""
    line = json.dumps({"index": row.index, "path": row.path, "sha256": sha256}) + "\n"
    fd = open_regular(journal_path(part), os.O_WRONLY | os.O_APPEND | os.O_CREAT, root=part.parent.parent)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def journal_clear(part: Path) -> None:
    """Empty the journal once the part manifest records everything in it."""
    path = journal_path(part)
    if os.path.lexists(path):
        fd = open_regular(path, os.O_WRONLY, root=part.parent.parent)
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)


def journaled(out_dir: Path) -> dict[tuple[int, str], str]:
    """(index, path) -> sha256 of every journaled video of the folder; a torn last line (a kill) is skipped."""
    found: dict[tuple[int, str], str] = {}
    for path in sorted((out_dir / PARTS_DIR).glob("part-*.written")):
        with os.fdopen(open_regular(path, os.O_RDONLY, root=out_dir), "r", encoding="utf-8", errors="replace") as f:
            text = f.read()
        for line in text.splitlines():
            try:
                d = json.loads(line)
                found[(int(d["index"]), str(d["path"]))] = str(d["sha256"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
    return found


def known_rows(out_dir: Path) -> dict[int, ManifestRow]:
    """Everything recorded in the folder, by index: manifest.jsonl, then parts oldest first; 'done' rows win."""
    files = [out_dir / MANIFEST_FILE] if (out_dir / MANIFEST_FILE).exists() else []
    files += sorted((out_dir / PARTS_DIR).glob("part-*.jsonl"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    known: dict[int, ManifestRow] = {}
    for path in files:
        for row in read_rows(path, out_dir):
            if row.status == "done" or row.index not in known:
                known[row.index] = row
    return known


def _overlay(plan_rows: Sequence[ManifestRow], known: dict[int, ManifestRow]) -> list[ManifestRow]:
    """`plan_rows`, each replaced by the known done row of the same video where there is one."""
    merged = []
    for row in plan_rows:
        seen = known.get(row.index)
        merged.append(seen if seen is not None and seen.status == "done" and seen.same_video(row) else row)
    return merged


def merge(out_dir: Path, plan_rows: Sequence[ManifestRow]) -> Path:
    """Write manifest.jsonl: every planned row in plan order, marked done where a matching done row is known."""
    return write_rows(out_dir / MANIFEST_FILE, _overlay(plan_rows, known_rows(out_dir)))


def current_rows(out_dir: str | os.PathLike) -> list[ManifestRow]:
    """A run's rows as they stand, also mid-run or after an interruption (manifest.jsonl plus every part)."""
    out_dir = Path(out_dir)
    refuse_linked_folders(out_dir, (PARTS_DIR, VIDEOS_DIR, LOCKS_DIR))
    if not (out_dir / MANIFEST_FILE).is_file():
        raise RunStateError(
            f"{out_dir} holds no {MANIFEST_FILE}: it is not a vidrd-bench generation folder. Pass the --out folder "
            "of `vidrd-bench generate`."
        )
    return _overlay(read_rows(out_dir / MANIFEST_FILE), known_rows(out_dir))


def read_run(out_dir: Path) -> dict[str, Any] | None:
    """The folder's run.json as a dict (None when absent); a one-paragraph error when it is damaged or foreign."""
    run_file = Path(out_dir) / RUN_FILE
    if not os.path.lexists(run_file):
        return None
    try:
        existing = json.loads(read_text_regular(run_file))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
        raise RunStateError(f"{run_file} cannot be read as JSON ({e}). It was damaged (e.g. edited or copied "
                            "half-way): restore it from the original run, or re-render into another --out folder."
                            ) from None
    if not isinstance(existing, dict) or existing.get("schema") != SCHEMA:
        raise RunStateError(f"{run_file} is not a vidrd-bench generation run (no schema {SCHEMA!r}); pass the --out "
                            "folder of `vidrd-bench generate`, or choose another --out folder.")
    if not isinstance(existing.get("protocol", {}), dict):
        raise RunStateError(f"{run_file} has no protocol object; restore it from the original run.")
    return existing


def verify_done(out_dir: Path, rows: Sequence[ManifestRow], threads: int = 4) -> None:
    """Refuse when any done row's file is missing or no longer has the sha256 its row records (hashed in threads)."""
    from concurrent.futures import ThreadPoolExecutor

    def digest(row: ManifestRow) -> str | None:
        path = video_file(out_dir, row)
        return sha256_file(path) if path.is_file() else None

    with ThreadPoolExecutor(threads) as pool:
        bad = [(r, d) for r, d in zip(rows, pool.map(digest, rows)) if d != r.sha256]
    if bad:
        names = ", ".join(f"{r.path} ({'missing' if d is None else 'changed'})" for r, d in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise RunStateError(
            f"{len(bad)} finished video(s) of {out_dir} are not the files the generator wrote: {names}{more} (each "
            "manifest row records the sha256 of its video). A changed or swapped file would be scored as the "
            "generator's. Restore the original files, or delete them and re-run the same generate command to render "
            "them again."
        )


def done_rows(out_dir: str | os.PathLike, allow_incomplete: bool = False) -> list[ManifestRow]:
    """The finished, sha256-verified rows of a run (manifest.jsonl and every part), refusing an unfinished run."""
    out_dir = Path(out_dir)
    rows = current_rows(out_dir)
    done = [r for r in rows if r.status == "done"]
    if len(done) < len(rows) and not allow_incomplete:
        raise RunStateError(
            f"{out_dir} plans {len(rows)} videos but only {len(done)} are done. Finish the run (repeat the generate "
            "command, it resumes) or pass --allow-incomplete to score the finished ones."
        )
    if not done:
        raise RunStateError(f"{out_dir} plans {len(rows)} videos and none is finished yet: there is nothing to score. "
                            "Run (or resume) the generate command first.")
    verify_done(out_dir, done)
    return done


def run_header(
    dataset: str, protocol: EvalProtocol, plan_rows: Sequence[ManifestRow], prompts_file: str,
    generator: dict[str, Any] | None, weights: dict[str, str], provenance: dict[str, Any],
    sources: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The run.json object: the evaluation protocol, and the generator (name, preset, settings) with its weights."""
    return {
        "schema": SCHEMA, "dataset": dataset, "num_videos": len(plan_rows), "plan_sha256": plan_digest(plan_rows),
        "prompts_file": prompts_file, "protocol": protocol.to_dict(), "generator": generator, "weights": weights,
        "sources": sources or {}, **provenance,
    }


def _check_rows_protocol(out_dir: Path, protocol: EvalProtocol) -> None:
    """Refuse a folder whose manifest rows name another protocol (a folder without run.json)."""
    for name, row in known_rows(out_dir).items():
        if row.protocol != protocol.name:
            raise ProtocolMismatchError(
                f"{out_dir} holds manifest rows of protocol {row.protocol!r} (e.g. video {name}) but this run uses "
                f"{protocol.name!r}. Videos of two protocols must not be mixed: pass --protocol {row.protocol} to "
                "continue that run, or choose another --out folder."
            )


def _mismatch(out_dir: Path, what: str, theirs: Any, mine: Any) -> RunStateError:
    """The error for a folder whose run differs from this one in `what`."""
    return RunStateError(
        f"{out_dir / RUN_FILE} records a run with {what} {theirs!r}, but this run has {mine!r}. Refusing to mix "
        "two different runs in one folder: repeat the original command (same dataset, --num-videos, --prompts, "
        "--generator, --preset, --settings and weights) to resume it, or choose another --out folder."
    )


def check_run(out_dir: Path, header: dict[str, Any], protocol: EvalProtocol) -> dict[str, Any] | None:
    """Raise unless the folder is empty of runs or holds this same run (and its sub-folders are real folders, not
    links out of it); returns its run.json, if any."""
    refuse_linked_folders(out_dir, (PARTS_DIR, VIDEOS_DIR, LOCKS_DIR))
    existing = read_run(out_dir)
    if existing is None:
        _check_rows_protocol(out_dir, protocol)
        return None
    if "frames_per_clip" in existing.get("protocol", {}):
        raise RunStateError(f"{out_dir / RUN_FILE}: " + OLD_GENERATION_RECORD.format(name=existing["protocol"].get("name")))
    try:
        protocol.check_same(existing.get("protocol", {}), what=f"The videos in {out_dir}")
    except ProtocolMismatchError as e:
        raise ProtocolMismatchError(f"{e} To start a new run, choose another --out folder.") from None
    for key in ("dataset", "num_videos", "plan_sha256"):
        if existing.get(key) != header[key]:
            raise _mismatch(out_dir, key, existing.get(key), header[key])
    theirs, mine = existing.get("generator") or {}, header["generator"] or {}
    for key in ("name", "preset", "settings") if theirs and mine else ():
        if theirs.get(key) != mine.get(key):
            raise _mismatch(out_dir, f"generator {key}", theirs.get(key), mine.get(key))
    if existing.get("weights") and header["weights"] and existing["weights"] != header["weights"]:
        raise _mismatch(out_dir, "weights", existing["weights"], header["weights"])
    return existing


FILLED_LATER = ("generator", "weights", "sources", "render", "precision")


def write_run(out_dir: Path, header: dict[str, Any], existing: dict[str, Any] | None) -> None:
    """Write run.json for a new run, or fill in the generator/weights/sources/render/precision a --plan-only run (or
    an earlier resume) left empty."""
    if existing is None:
        write_json_atomic(out_dir / RUN_FILE, header)
    else:
        filled = {k: _fill(existing.get(k), header.get(k)) for k in FILLED_LATER}
        if any(filled[k] != existing.get(k) for k in FILLED_LATER):
            write_json_atomic(out_dir / RUN_FILE, {**existing, **filled})


def _fill(old: Any, new: Any) -> Any:
    """A run.json field after this run: dicts gain the new keys (check_run already refused conflicting values)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **new}
    return new or old


def remove_stale_temps(folder: Path, names: Iterable[str]) -> int:
    """Delete temp files a killed writer left for any of `names` (atomic writes call them '.<name>.<random>...')."""
    if not folder.is_dir():
        return 0
    wanted = set(names)
    removed = 0
    for entry in os.scandir(folder):
        final = ".".join(entry.name[1:].split(".", 2)[:2])  # our file names have exactly one dot
        if entry.name.startswith(".") and final in wanted and entry.is_file():
            os.unlink(entry.path)
            removed += 1
    return removed
