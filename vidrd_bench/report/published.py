"""The UCF-101 zero-shot numbers published in the VidRD paper, shipped as reference_stats/published_results.csv."""

from __future__ import annotations

import os

import pandas as pd

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.resources import shipped

PUBLISHED_CSV = "reference_stats/published_results.csv"
COLUMNS = ["method", "train_videos_m", "is", "fvd", "source", "note"]

# The protocols the published rows were measured under (VidRD paper, section on UCF-101).
PAPER_GENERATION = "ucf101-vidrd"
PAPER_METRICS = {"fvd": "fvd-ucf101-10k", "is": "is-c3d-styleganv-10k"}


def load_published(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Published rows (method, train_videos_m, is, fvd, source, note); missing numbers are NaN, missing notes ''."""
    path = path if path is not None else shipped(PUBLISHED_CSV)
    try:
        df = pd.read_csv(path, dtype={"method": str, "source": str, "note": str})
    except FileNotFoundError:
        raise VidrdBenchError(
            f"Published results file {path} does not exist; pass an existing CSV or reinstall vidrd-bench."
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise VidrdBenchError(f"Published results file {path} is not a readable CSV ({e}); fix or replace it.")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise VidrdBenchError(
            f"Published results file {path} lacks column(s) {', '.join(missing)}; expected the header "
            f"{','.join(COLUMNS)} (numbers may be empty)."
        )
    df = df[COLUMNS].copy()
    for col in ("train_videos_m", "is", "fvd"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["note"] = df["note"].fillna("")
    return df
