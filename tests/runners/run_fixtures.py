"""A generated-run folder the scoring tests share: tiny mp4s of random frames, their manifest and run.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vidrd_bench.core.io import sha256_file
from vidrd_bench.datasets import manifest
from vidrd_bench.datasets.video import write_video
from vidrd_bench.protocols import PROTOCOLS


def write_fake_run(fake: Path, rng: np.random.Generator, classes: tuple[str, ...], count: int = 4) -> Path:
    """`count` done videos of 16 frames at 16x16 (classes alternating) made by the tiny modelscope preset."""
    rows = []
    for i in range(count):
        row = manifest.ManifestRow(i, classes[i % len(classes)], f"a prompt {i}", 100 + i, f"videos/{i:05d}.mp4",
                                   "tiny-smoke", status="done")
        write_video(fake / row.path, rng.integers(0, 256, (16, 16, 16, 3), np.uint8), 8)
        row.sha256 = sha256_file(fake / row.path)
        rows.append(row)
    manifest.write_rows(fake / manifest.MANIFEST_FILE, rows)
    made_by = {"name": "modelscope", "preset": "tiny", "settings": {"name": "modelscope-tiny"}}
    (fake / manifest.RUN_FILE).write_text(json.dumps({"schema": manifest.SCHEMA, "generator": made_by,
                                                      "protocol": PROTOCOLS.get("tiny-smoke").to_dict()}))
    return fake
