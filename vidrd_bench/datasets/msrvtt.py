"""MSR-VTT: the official test split (video7010-video9999), its captions from the annotation file the user supplies,
the caption-driven generation plan, and the real test videos.

The annotation file is never downloaded: the MSR-VTT release's test_videodatainfo.json or the widely used
MSRVTT_data.json, both {"videos": [{"video_id": ...}], "sentences": [{"video_id", "caption", "sen_id"}]}.
Only the 2,990 test videos' sentences are read (MSRVTT_data.json also holds the train and validation videos).

Plan order: with one caption per video, the test videos in numeric order, each with the caption its seeded rule
picks; with every caption, round r holds caption r (in sen_id order) of every video that has one, so any prefix
covers the videos evenly. Video i of the plan gets seed base_seed + i, as for UCF-101.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.datasets.plan import PlannedVideo

SPLIT = "msrvtt-test"
FIRST_TEST, LAST_TEST = 7010, 9999
TEST_IDS = tuple(f"video{i}" for i in range(FIRST_TEST, LAST_TEST + 1))
NUM_TEST_VIDEOS = len(TEST_IDS)  # 2,990
CAPTION_RULES = ("one-seeded", "all")
VIDEO_ID = re.compile(r"^video\d{1,5}$")
VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv")

ANNOTATION_HELP = ("Pass the MSR-VTT release's test_videodatainfo.json or MSRVTT_data.json with --captions: a JSON "
                   "object with a \"sentences\" list of {\"video_id\": \"video7010\", \"caption\": ..., \"sen_id\": ...}.")


class CaptionsError(VidrdBenchError):
    """The MSR-VTT annotation file is missing, malformed, or lacks test videos."""


def _load(path: Path) -> dict:
    """The annotation file's JSON object, or a CaptionsError saying why it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaptionsError(f"MSR-VTT annotation file {path} does not exist. {ANNOTATION_HELP}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CaptionsError(f"MSR-VTT annotation file {path} is not valid JSON ({e}). {ANNOTATION_HELP}") from None
    if not isinstance(data, dict) or not isinstance(data.get("sentences"), list):
        raise CaptionsError(f"MSR-VTT annotation file {path} has no \"sentences\" list. {ANNOTATION_HELP}")
    return data


def _sentence(path: Path, i: int, entry: object) -> tuple[str, int, str]:
    """(video_id, sen_id, caption) of one sentence entry, checked."""
    ok = (isinstance(entry, dict) and isinstance(entry.get("video_id"), str) and VIDEO_ID.match(entry["video_id"])
          and isinstance(entry.get("caption"), str) and entry["caption"].strip()
          and isinstance(entry.get("sen_id", i), int) and not isinstance(entry.get("sen_id", i), bool))
    if not ok:
        raise CaptionsError(
            f"MSR-VTT annotation file {path}: sentence {i} must be an object with a \"video_id\" like \"video7010\", "
            f"a non-empty \"caption\" string and an integer \"sen_id\"; got {json.dumps(entry)[:160]}. "
            f"{ANNOTATION_HELP}")
    return entry["video_id"], entry.get("sen_id", i), entry["caption"].strip()


def read_captions(path: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """Test video id -> its captions in sen_id order, for every one of the 2,990 test videos (an error naming
    the missing ones otherwise)."""
    path = Path(path)
    found: dict[str, list[tuple[int, str]]] = {}
    for i, entry in enumerate(_load(path)["sentences"]):
        video, sen_id, caption = _sentence(path, i, entry)
        found.setdefault(video, []).append((sen_id, caption))
    missing = [v for v in TEST_IDS if v not in found]
    if missing:
        raise CaptionsError(
            f"MSR-VTT annotation file {path} has no caption for {len(missing)} of the {NUM_TEST_VIDEOS} test videos "
            f"(e.g. {', '.join(missing[:3])}). The test split is video{FIRST_TEST}-video{LAST_TEST}; pass the "
            "complete test annotations (test_videodatainfo.json, or MSRVTT_data.json which holds every split).")
    return {v: tuple(c for _, c in sorted(found[v])) for v in TEST_IDS}


def pick_caption(video_id: str, count: int, seed: int) -> int:
    """The seeded rule's caption index for a video: sha256 of "<seed>:<video_id>" as an integer, modulo its number
    of captions (the same on every machine and Python version)."""
    digest = hashlib.sha256(f"{seed}:{video_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def caption_plan(captions: dict[str, tuple[str, ...]], rule: str, caption_seed: int,
                 base_seed: int) -> list[PlannedVideo]:
    """The full plan: one seeded caption per test video, or every caption in rounds (module docstring)."""
    if rule == "one-seeded":
        chosen = [(v, c[pick_caption(v, len(c), caption_seed)]) for v, c in captions.items()]
    elif rule == "all":
        rounds = max(len(c) for c in captions.values())
        chosen = [(v, c[r]) for r in range(rounds) for v, c in captions.items() if r < len(c)]
    else:
        raise VidrdBenchError(f"caption rule {rule!r}; implemented: {', '.join(CAPTION_RULES)}")
    return [PlannedVideo(i, v, caption, base_seed + i) for i, (v, caption) in enumerate(chosen)]


def real_test_videos(root: str | os.PathLike) -> list[Path]:
    """The 2,990 test videos (video7010.mp4 ... video9999.mp4, any video suffix) directly in `root` or one folder
    below it, in id order; an error naming the missing ones. Files outside `root` (links out of it) are refused."""
    root = Path(root)
    top = root.resolve()
    by_id: dict[str, Path] = {}
    for path in sorted(root.glob("*")) + sorted(root.glob("*/*")):
        if path.suffix.lower() in VIDEO_SUFFIXES and path.stem in TEST_IDS and path.stem not in by_id:
            if not path.resolve().is_relative_to(top):
                raise VidrdBenchError(f"{path} points outside {root} (to {path.resolve()}). Copy the MSR-VTT test "
                                      "videos into the folder rather than linking them from elsewhere.")
            by_id[path.stem] = path
    missing = [v for v in TEST_IDS if v not in by_id]
    if missing:
        raise VidrdBenchError(
            f"{root} lacks {len(missing)} of the {NUM_TEST_VIDEOS} MSR-VTT test videos (e.g. "
            f"{', '.join(missing[:3])}). The real set is every test video, video{FIRST_TEST}.mp4 to "
            f"video{LAST_TEST}.mp4 (the release's TestVideo folder); pass the folder holding all of them.")
    return [by_id[v] for v in TEST_IDS]
