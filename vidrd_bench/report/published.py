"""Published zero-shot numbers: UCF-101 from the VidRD paper (reference_stats/published_results.csv) and MSR-VTT
from each model's paper as indexed online (reference_stats/published_msrvtt.csv), and which set a run belongs to."""

from __future__ import annotations

import os

import pandas as pd

from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.core.resources import shipped
from vidrd_bench.metrics.registry import metric_specs
from vidrd_bench.results import ResultRecord

PUBLISHED_CSV = "reference_stats/published_results.csv"

# The generation protocol the published rows were made under (VidRD paper, section on UCF-101); each metric's
# spec names the protocol of its published column (MetricSpec.paper_protocol).
PAPER_GENERATION = "ucf101-vidrd"

# MSR-VTT: the rows, the metrics they report, and the protocols our runs are held to beside them (the papers state
# neither their FID/FVD implementation nor their frame counts; these are the benchmark's own MSR-VTT protocols).
PUBLISHED_MSRVTT_CSV = "reference_stats/published_msrvtt.csv"
MSRVTT_METRICS = ("clipsim", "fid", "fvd")
MSRVTT_PAPER = {"generation": "msrvtt-one-caption", "fvd": "fvd-msrvtt-2990", "fid": "fid-msrvtt-2990-16f"}
MSRVTT_SPLIT = "msrvtt-test"


def record_dataset(record: ResultRecord) -> str:
    """'msrvtt' for a record scored against the MSR-VTT test videos or rendered from an MSR-VTT plan, else 'ucf101'."""
    generation = record.generation_protocol or {}
    msrvtt = (record.protocol or {}).get("real_split") == MSRVTT_SPLIT or generation.get("dataset") == "msrvtt"
    return "msrvtt" if msrvtt else "ucf101"


def paper_protocols(dataset: str) -> dict[str, str]:
    """The protocols a run of `dataset` must match to sit beside its published rows: 'generation' and one per
    metric with published numbers."""
    if dataset == "msrvtt":
        return dict(MSRVTT_PAPER)
    return {"generation": PAPER_GENERATION, **{s.name: s.paper_protocol for s in metric_specs() if s.paper_protocol}}


def published_for(records: list[ResultRecord]) -> pd.DataFrame:
    """The published rows for these records: MSR-VTT's when every record is an MSR-VTT one, else UCF-101's."""
    datasets = {record_dataset(r) for r in records}
    return load_published(dataset="msrvtt" if datasets == {"msrvtt"} else "ucf101")


def published_metrics() -> list[str]:
    """The metrics the published rows report: every registered metric with a paper protocol, in column order."""
    return [spec.name for spec in sorted(metric_specs(), key=lambda spec: spec.column) if spec.paper_protocol]


def published_columns() -> list[str]:
    """The header of the published results file: method, train_videos_m, one column per published metric, source,
    note."""
    return ["method", "train_videos_m", *published_metrics(), "source", "note"]


def load_published(path: str | os.PathLike | None = None, dataset: str = "ucf101") -> pd.DataFrame:
    """Published rows of `dataset` (ucf101: published_columns; msrvtt: method, train_videos_m, clipsim, fid, fvd,
    source, note); missing numbers are NaN, missing notes ''. The frame's attrs['dataset'] names the set."""
    if dataset not in ("ucf101", "msrvtt"):
        raise VidrdBenchError(f"No published rows for dataset {dataset!r}; there are ucf101 and msrvtt.")
    path = path if path is not None else shipped(PUBLISHED_MSRVTT_CSV if dataset == "msrvtt" else PUBLISHED_CSV)
    try:
        df = pd.read_csv(path, dtype={"method": str, "source": str, "note": str})
    except FileNotFoundError:
        raise VidrdBenchError(
            f"Published results file {path} does not exist; pass an existing CSV or reinstall vidrd-bench."
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise VidrdBenchError(f"Published results file {path} is not a readable CSV ({e}); fix or replace it.")
    metrics = list(MSRVTT_METRICS) if dataset == "msrvtt" else published_metrics()
    columns = ["method", "train_videos_m", *metrics, "source", "note"]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise VidrdBenchError(
            f"Published results file {path} lacks column(s) {', '.join(missing)}; expected the header "
            f"{','.join(columns)} (numbers may be empty)."
        )
    df = df[columns].copy()
    for col in ("train_videos_m", *metrics):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["note"] = df["note"].fillna("")
    df.attrs["dataset"] = dataset
    return df
