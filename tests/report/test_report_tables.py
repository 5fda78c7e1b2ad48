"""Comparison tables: exact text per format (golden files), marks, sorting, grouping of records into runs."""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from report_fixtures import make_record, paper_run, smoke_run
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.precisions import describe
from vidrd_bench.protocols import PROTOCOLS
from vidrd_bench.report.published import load_published
from vidrd_bench.report.tables import FORMATS, build_table, format_score, markdown_table, render_table

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def records():
    """Both known runs together, as a table would receive them."""
    return paper_run() + smoke_run()


@pytest.mark.parametrize("fmt", FORMATS)
def test_table_matches_golden_text(records, fmt):
    """Each format's exact text for the known paper + smoke runs beside the published rows."""
    text = render_table(build_table(records, load_published()), fmt)
    golden = GOLDEN / f"table.{fmt}"
    if os.environ.get("VIDRD_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_published_csv_holds_the_paper_numbers():
    """The shipped CSV carries DESIGN section 5's numbers, with missing values as NaN."""
    pub = load_published().set_index("method")
    assert len(pub) == 9
    assert pub.loc["VidRD (with fine-tuned VAE)", ["is", "fvd", "train_videos_m"]].tolist() == [39.37, 363.19, 5.3]
    assert pub.loc["Make-A-Video", "fvd"] == 367.23 and pub.loc["CogVideo", "is"] == 25.27
    assert math.isnan(pub.loc["MagicVideo", "is"]) and math.isnan(pub.loc["ModelScope", "train_videos_m"])
    assert pub.loc["VideoFactory", "note"].startswith("settings differ")


def test_rows_sorted_by_fvd_and_runs_combine_metrics(records):
    """One row per run holding both metrics; FVD ascending puts our 371.25 between 369.48 and 410."""
    table = build_table(records, load_published())
    assert list(table["fvd"]) == sorted(table["fvd"])
    ours = table[table["kind"] == "ours"].set_index("method")
    assert list(ours.index) == ["vidrd-repro", "smoke"]
    assert ours.loc["vidrd-repro", ["fvd", "is", "fvd_ci_low", "is_std"]].tolist() == [371.25, 38.9, 362.5, 0.45]
    methods = list(table["method"])
    assert methods.index("VidRD (w/o fine-tuned VAE)") + 1 == methods.index("vidrd-repro")


def test_row_with_other_protocol_is_marked(records):
    """A run under a non-paper protocol gets † and its differing protocol names; the paper run does not."""
    other = make_record("fvd", 400.0, label="pytorch-i3d", protocol=PROTOCOLS.get("fvd-ucf101-10k-i3d-pytorch").to_dict())
    table = build_table(records + [other], None).set_index("method")
    assert table.loc["pytorch-i3d", "protocol_differs"] == "fvd-ucf101-10k-i3d-pytorch"
    assert table.loc["vidrd-repro", "protocol_differs"] == ""
    md = render_table(table.reset_index(), "md")
    assert "| pytorch-i3d†" in md and "| vidrd-repro " in md
    assert "† Protocol differs from the paper's" in md


def test_smoke_row_is_marked_and_missing_metric_shown_as_dash():
    """Smoke runs carry the SMOKE label; missing metrics show a dash; a run without FVD sorts last."""
    runs = smoke_run() + [make_record("fvd", 500.0, label="fvd-only"), make_record("is", 30.0, label="is-only")]
    lines = render_table(build_table(runs, None), "md").splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:5]]
    assert [row[0] for row in cells] == ["fvd-only", "smoke† [SMOKE — not a score]", "is-only"]
    assert cells[0][2:5] == ["—", "500.00", "ucf101-vidrd / fvd-ucf101-10k / —"]
    assert cells[2][2:4] == ["30.00", "—"]
    assert any(line.startswith("- SMOKE — not a score:") for line in lines)


def test_scored_records_group_by_videos_folder():
    """Records as `score` writes them (per-metric labels, extra['fake_dir']) form one row named after the folder;
    the same label under two generation protocols stays two rows with distinct names."""
    scored = [make_record("fvd", 380.0, label="FVD (i3d-torchscript)", extra={"fake_dir": "/runs/ckpt-7"}),
              make_record("is", 37.5, label="IS (c3d-ucf101)", extra={"fake_dir": "/runs/ckpt-7"})]
    release = PROTOCOLS.get("ucf101-vidrd-release").to_dict()
    other = [make_record("fvd", 390.0, label="vidrd-repro", generation_protocol=release)]
    table = build_table(scored + paper_run() + other, None).set_index("method")
    assert table.loc["ckpt-7", ["fvd", "is"]].tolist() == [380.0, 37.5]
    assert table.loc["vidrd-repro (ucf101-vidrd-release)", "protocol_differs"] == "ucf101-vidrd-release"
    assert len(table) == 3


def test_csv_round_trips_through_pandas(records):
    """The csv format reads back with the same numbers and flags."""
    table = build_table(records, load_published())
    back = pd.read_csv(io.StringIO(render_table(table, "csv")))
    assert back["fvd"].tolist() == table["fvd"].tolist()
    assert back["smoke"].tolist() == table["smoke"].tolist()
    assert back.loc[back["method"] == "smoke", "n_videos"].item() == 24


def test_duplicate_metric_in_one_run_is_refused():
    """Two FVD records with one label and generation protocol cannot share a row."""
    with pytest.raises(VidrdBenchError, match=r"Two 'fvd' results belong to the same run \('vidrd-repro'"):
        build_table(paper_run() + [make_record("fvd", 380.0)], None)


def test_unknown_format_and_empty_input_are_refused():
    """Bad format names and an empty table give user errors."""
    with pytest.raises(VidrdBenchError, match="Unknown table format 'pdf'"):
        render_table(build_table(paper_run(), None), "pdf")
    with pytest.raises(VidrdBenchError, match="Nothing to tabulate"):
        build_table([], None)


def test_format_score_and_markdown_escaping():
    """CI wins over std; pipes inside cells are escaped so the markdown table keeps its columns."""
    assert format_score(1.0, 0.5, 1.5, 0.1) == "1.00 [0.50, 1.50]"
    assert format_score(1.0, None, None, 0.1) == "1.00 ± 0.10"
    assert format_score(float("nan"), None, None, None) == "—"
    md = markdown_table(pd.DataFrame({"a": ["x|y"], "b": ["1"]}), right=["b"])
    assert md.splitlines() == ["| a    |   b |", "| ---- | --: |", "| x\\|y |   1 |"]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex (texlive-latex-recommended) here")
def test_latex_table_compiles_as_written_and_fits_the_page(records, tmp_path):
    """The LaTeX output in a bare article with the two packages its first line names: no error, no overfull box."""
    text = render_table(build_table(records, load_published()), "latex")
    packages = re.findall(r"\\usepackage\{(\w+)\}", text.splitlines()[0])
    assert packages == ["booktabs", "graphicx"]
    doc = "\\documentclass{article}\n" + "".join(f"\\usepackage{{{p}}}\n" for p in packages)
    (tmp_path / "t.tex").write_text(doc + "\\begin{document}\n" + text + "\\end{document}\n", encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    log = (tmp_path / "t.log").read_text(encoding="latin-1")
    assert run.returncode == 0 and "Overfull \\hbox" not in log and (tmp_path / "t.pdf").stat().st_size > 0


FP8_AGREEMENT = {"videos": 2, "uint8_mean_abs_diff": 1.25, "uint8_p99_abs_diff": 6.0, "uint8_max_abs_diff": 19}


def _records(precision):
    """A smoke FVD + IS run whose records carry `precision`."""
    recs = smoke_run()
    for r in recs:
        r.precision = precision
    return recs


@pytest.mark.parametrize("fmt, mark", [("md", "smoke†§"), ("html", "smoke†§"), ("latex", r"smoke$^\dagger$$^\S$")])
def test_tables_mark_non_protocol_precision_with_its_agreement(fmt, mark):
    """§ after the method and a footnote with the precision's agreement; the protocol's precision gets no mark."""
    fp8 = {"name": "fp8-e4m3", "protocol": False, "agreement_to_bf16": FP8_AGREEMENT}
    text = render_table(build_table(_records(fp8)), fmt)
    assert mark in text
    assert "rendered at precision fp8-e4m3, vs bf16 on 2 videos: uint8 mean |diff| 1.25, p99 6.0, max 19" in text
    plain = render_table(build_table(_records({"name": "bf16", "protocol": True})), fmt)
    assert "§" not in plain and r"\S" not in plain


def test_csv_carries_the_precision_column():
    fp8 = {"name": "fp8-e4m3", "protocol": False, "agreement_to_bf16": None}
    table = build_table(_records(fp8))
    assert table["precision"].tolist() == ["fp8-e4m3 (agreement to bf16 not measured)"]
    assert describe({"name": "bf16", "protocol": True}) == "" and describe(None) == ""


def _msrvtt_run(fvd_protocol: str = "fvd-msrvtt-2990") -> list:
    """An MSR-VTT run: FVD and frame FID under the benchmark's MSR-VTT protocols, rendered from the caption plan."""
    gen = PROTOCOLS.get("msrvtt-one-caption").to_dict()
    return [make_record("fvd", 480.5, protocol=PROTOCOLS.get(fvd_protocol).to_dict(), generation_protocol=gen,
                        label="msrvtt-run", n=2990),
            make_record("fid", 12.5, higher_is_better=False, protocol=PROTOCOLS.get("fid-msrvtt-2990-16f").to_dict(),
                        generation_protocol=gen, label="msrvtt-run", n=2990)]


def test_msrvtt_published_rows_hold_the_sourced_numbers():
    pub = load_published(dataset="msrvtt").set_index("method")
    assert list(pub.columns) == ["train_videos_m", "clipsim", "fid", "fvd", "source", "note"]
    assert pub.loc["ModelScope T2V", ["clipsim", "fid", "fvd"]].tolist() == [0.2930, 11.09, 550.0]
    assert pub.loc["Snap Video (512x288)", ["clipsim", "fvd"]].tolist() == [0.2793, 104.0]
    assert math.isnan(pub.loc["Snap Video (512x288)", "fid"]) and "CLIP-FID" in pub.loc["Snap Video (512x288)", "note"]
    assert pub.loc["PYoCo", "fid"] == 9.73 and pub.loc["Make-A-Video", "clipsim"] == 0.3049
    assert all(s.strip() for s in pub["source"]) and "Video LDM" not in pub.index and "LaVie" not in pub.index


def test_an_msrvtt_run_sits_beside_the_msrvtt_rows_judged_by_the_msrvtt_protocols():
    from vidrd_bench.report.published import published_for, record_dataset
    run = _msrvtt_run()
    assert {record_dataset(r) for r in run} == {"msrvtt"} and record_dataset(paper_run()[0]) == "ucf101"
    table = build_table(run, published_for(run))
    assert "CogVideo" not in set(table["method"]) and "is" not in table.columns
    ours = table[table["kind"] == "ours"].iloc[0]
    assert (ours["method"], ours["fvd"], ours["fid"], ours["protocol_differs"]) == ("msrvtt-run", 480.5, 12.5, "")
    assert list(table["method"][:3]) == ["Snap Video (512x288)", "msrvtt-run", "ModelScope T2V"]  # FVD ascending
    text = render_table(table, "md")
    assert "| FID ↓" in text and "11.09" in text and "paperswithcode.com/paper/modelscope" in text
    other = build_table(_msrvtt_run("fvd-ucf101-10k"), published_for(run))
    assert other[other["kind"] == "ours"].iloc[0]["protocol_differs"] == "fvd-ucf101-10k"
    assert "msrvtt-one-caption / fvd-msrvtt-2990 / fid-msrvtt-2990-16f" in render_table(other, "md")
    assert published_for(run + paper_run()).attrs["dataset"] == "ucf101"  # mixed records: UCF-101's rows
