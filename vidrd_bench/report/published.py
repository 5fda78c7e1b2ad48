"""The UCF-101 zero-shot numbers published in the VidRD paper, shipped as reference_stats/published_results.csv."""

from __future__ import annotations

import os

import pandas as pd

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.resources import shipped
from vidrd_bench.metrics.registry import metric_specs

PUBLISHED_CSV = "reference_stats/published_results.csv"

# The generation protocol the published rows were made under (VidRD paper, section on UCF-101); each metric's
# spec names the protocol of its published column (MetricSpec.paper_protocol).
PAPER_GENERATION = "ucf101-vidrd"


def published_metrics() -> list[str]:
    """The metrics the published rows report: every registered metric with a paper protocol, in column order."""
    return [spec.name for spec in sorted(metric_specs(), key=lambda spec: spec.column) if spec.paper_protocol]


def published_columns() -> list[str]:
    """The header of the published results file: method, train_videos_m, one column per published metric, source,
    note."""
    return ["method", "train_videos_m", *published_metrics(), "source", "note"]


def load_published(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Published rows (published_columns: method, train_videos_m, is, fvd, source, note); missing numbers are NaN,
    missing notes ''."""
    path = path if path is not None else shipped(PUBLISHED_CSV)
    try:
        df = pd.read_csv(path, dtype={"method": str, "source": str, "note": str})
    except FileNotFoundError:
        raise VidrdBenchError(
            f"Published results file {path} does not exist; pass an existing CSV or reinstall vidrd-bench."
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise VidrdBenchError(f"Published results file {path} is not a readable CSV ({e}); fix or replace it.")
    columns = published_columns()
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise VidrdBenchError(
            f"Published results file {path} lacks column(s) {', '.join(missing)}; expected the header "
            f"{','.join(columns)} (numbers may be empty)."
        )
    df = df[columns].copy()
    for col in ("train_videos_m", *published_metrics()):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["note"] = df["note"].fillna("")
    return df
