"""Files the project ships (prompts/, reference_stats/): inside the wheel, or beside the package in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # the vidrd_bench package folder


def shipped(relpath: str) -> Path:
    """Path of a shipped file such as 'prompts/ucf101.json', for wheel and editable installs alike."""
    for base in (_PACKAGE, _PACKAGE.parent):
        candidate = base / relpath
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"vidrd-bench data file {relpath!r} is missing from the installation; reinstall the package.")
