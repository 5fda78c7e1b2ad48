"""The `table`, `report` and `contact-sheet` commands: outputs written, exit codes 0 / 1 / 2."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from report_fixtures import make_record, paper_run, smoke_run
from vidrd_bench.cli import main
from vidrd_bench.protocols import PROTOCOLS
from vidrd_bench.report.published import load_published
from vidrd_bench.report.tables import build_table, render_table
from vidrd_bench.results import save_results

pytestmark = pytest.mark.skipif("report" not in main.commands, reason="report commands not registered (vidrd_bench/cli/reporting.py)")


@pytest.fixture
def files(tmp_path):
    """Baseline, an improved current, a regressed current, a smoke run and a different-protocol run on disk."""
    paths = {name: tmp_path / f"{name}.json" for name in ("base", "better", "worse", "smoke", "other")}
    save_results(paths["base"], paper_run())
    save_results(paths["better"], [make_record("fvd", 360.0, ci_low=352.0, ci_high=368.0), make_record("is", 39.5)])
    save_results(paths["worse"], [make_record("fvd", 400.0, ci_low=390.0, ci_high=410.0), make_record("is", 38.0)])
    save_results(paths["smoke"], smoke_run())
    save_results(paths["other"], [make_record("fvd", 360.0, protocol=PROTOCOLS.get("fvd-ucf101-10k-i3d-pytorch").to_dict())])
    return paths


@pytest.mark.parametrize("fmt", ["md", "latex"])
def test_table_command_writes_the_rendered_table(files, tmp_path, fmt):
    """`table --out` writes exactly what render_table produces for the same records."""
    out = tmp_path / f"t.{fmt}"
    result = CliRunner().invoke(main, ["table", str(files["base"]), str(files["smoke"]), "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output
    expected = render_table(build_table(paper_run() + smoke_run(), load_published()), fmt)
    assert out.read_text(encoding="utf-8") == expected


def test_table_without_published_rows(files):
    """--no-published prints only our runs."""
    result = CliRunner().invoke(main, ["table", str(files["base"]), "--no-published", "--format", "csv"])
    assert result.exit_code == 0 and len(result.output.strip().splitlines()) == 2


def test_report_exit_codes_and_files(files, tmp_path):
    """Improvement exits 0; regression exits 1 after writing markdown and JUnit; bad tolerance exits 2."""
    runner = CliRunner()
    ok = runner.invoke(main, ["report", "--baseline", str(files["base"]), "--current", str(files["better"])])
    assert ok.exit_code == 0 and "PASS" in ok.output
    md, junit = tmp_path / "s.md", tmp_path / "j.xml"
    bad = runner.invoke(main, ["report", "--baseline", str(files["base"]), "--current", str(files["worse"]),
                               "--tolerance", "is=1", "--markdown", str(md), "--junit", str(junit)])
    assert bad.exit_code == 1 and "FAIL — 1 of 2 metrics regressed" in md.read_text(encoding="utf-8")
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    typo = runner.invoke(main, ["report", "--baseline", str(files["base"]), "--current", str(files["worse"]),
                                "--tolerance", "fvd=five"])
    assert typo.exit_code == 2 and "--tolerance 'fvd=five'" in typo.output


def test_report_reads_one_file_per_metric(files, tmp_path):
    """--baseline/--current repeat, as `score fvd` and `score is` write one file each."""
    fvd, is_ = tmp_path / "fvd.json", tmp_path / "is.json"
    save_results(fvd, paper_run()[:1])
    save_results(is_, paper_run()[1:])
    result = CliRunner().invoke(main, ["report", "--baseline", str(fvd), "--baseline", str(is_),
                                       "--current", str(files["better"])])
    assert result.exit_code == 0 and "PASS — no regression in 2 metrics" in result.output
    assert "Baseline `vidrd-repro`" in result.output  # the run's name, not its file names


def test_report_refuses_other_protocol(files):
    """A different FVD detector is refused with exit 2 and the differing field named."""
    result = CliRunner().invoke(main, ["report", "--baseline", str(files["base"]), "--current", str(files["other"])])
    assert result.exit_code == 2 and "different protocols" in result.output and "i3d-pytorch" in result.output
