"""Prompt files: class name -> one descriptive prompt or a list of prompts to rotate, checked against the classes."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Sequence

from vidrd_bench.core.errors import VidrdBenchError


class PromptsError(VidrdBenchError):
    """A prompts file is unreadable, malformed, or does not cover exactly the dataset's classes."""


def _close(name: str, candidates: Sequence[str]) -> str:
    """' (did you mean X?)' for a misspelt class name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _as_prompt_list(path: Path, name: str, value: object) -> tuple[str, ...]:
    """One class's entry as a non-empty tuple of non-empty strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(p, str) and p.strip() for p in items):
        raise PromptsError(
            f"Prompts file {path}: the entry for class {name!r} must be a non-empty string or a non-empty list "
            f"of non-empty strings, got {json.dumps(value)[:120]}. Fix that entry."
        )
    return tuple(p.strip() for p in items)


def _read_json(path: Path) -> dict:
    """The JSON object in `path`, or a PromptsError saying why it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PromptsError(f"Prompts file {path} does not exist. Pass an existing JSON file with --prompts.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PromptsError(
            f"Prompts file {path} is not valid UTF-8 JSON ({e}). It must be one object mapping each class name "
            "to a prompt or a list of prompts."
        ) from None
    if not isinstance(data, dict):
        raise PromptsError(
            f"Prompts file {path} holds a JSON {type(data).__name__}, expected one object mapping each class "
            'name to a prompt or a list of prompts, e.g. {"Archery": "an archer draws a bow ..."}.'
        )
    return data


def load_prompts(path: str | os.PathLike, classes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Read a prompts file and check it names exactly `classes`; returns class -> prompts, in `classes` order."""
    path = Path(path)
    data = _read_json(path)
    unknown = [k for k in data if k not in set(classes)]
    missing = [c for c in classes if c not in data]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append("unknown classes " + ", ".join(repr(k) + _close(k, missing or classes) for k in unknown))
        if missing:
            parts.append("missing classes " + ", ".join(repr(c) for c in missing))
        raise PromptsError(
            f"Prompts file {path} does not match the dataset's {len(classes)} classes: {'; '.join(parts)}. "
            "Class names must be spelt exactly as in the dataset's class list (e.g. UCF-101 classInd.txt), "
            "with one entry per class."
        )
    return {c: _as_prompt_list(path, c, data[c]) for c in classes}

