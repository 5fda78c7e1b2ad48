"""Provenance stamped on every record; intervals that must hold their value."""

import pytest
from click.testing import CliRunner

from tests.report.report_fixtures import make_record
from vidrd_bench.cli import main
from vidrd_bench.core.errors import VidrdBenchError
from vidrd_bench.results import load_results


def test_records_take_the_commit_baked_into_the_image_when_git_is_absent(monkeypatch):
    from vidrd_bench import results

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(results.subprocess, "run", no_git)
    monkeypatch.setenv("VIDRD_BENCH_GIT_COMMIT", "abc1234")
    assert results.provenance()["git_commit"] == "abc1234"
    monkeypatch.delenv("VIDRD_BENCH_GIT_COMMIT")
    assert results.git_commit() is None


@pytest.mark.parametrize("low,high", [(0.0, 5.0), (5001.0, 6000.0), (None, 4999.0), (5000.5, None)])
def test_an_interval_that_misses_its_value_is_refused(tmp_path, low, high):
    """Value 5000 with interval [0, 5] passed a CI gate against a 71.98 baseline ('intervals overlap', exit 0)."""
    make_record("fvd", 5000.0, ci_low=low, ci_high=high).save(tmp_path / "bad.json")
    with pytest.raises(VidrdBenchError, match=r"interval \[.*\] does not contain its value 5000.0"):
        load_results(tmp_path / "bad.json")
    make_record("fvd", 71.98, ci_low=70.0, ci_high=74.0).save(tmp_path / "base.json")
    res = CliRunner().invoke(main, ["report", "--baseline", str(tmp_path / "base.json"), "--current",
                                    str(tmp_path / "bad.json")])
    assert res.exit_code == 2 and "does not contain its value" in res.output


@pytest.mark.parametrize("low,high", [(5000.0, 5000.0), (4990.0, 5010.0), (None, None), (4990.0, None)])
def test_intervals_holding_their_value_load(tmp_path, low, high):
    """Intervals that hold the value, touch it, or are absent load as before."""
    make_record("fvd", 5000.0, ci_low=low, ci_high=high).save(tmp_path / "ok.json")
    assert load_results(tmp_path / "ok.json")[0].ci_low == low


@pytest.mark.parametrize("status, rc, modified", [(" M vidrd_bench/runners/bench.py\n", 0, True), ("", 0, False),
                                                  ("", 128, None)])
def test_records_say_whether_the_code_that_ran_differed_from_its_commit(monkeypatch, status, rc, modified):
    """A device copy of a working tree kept an older HEAD than its files: git_commit alone named code that did not
    run. git_modified says so, and the tables mark the commit."""
    import subprocess

    from vidrd_bench import results

    real = subprocess.run

    def fake(args, **kwargs):
        if "status" in args:
            return subprocess.CompletedProcess(args, rc, stdout=status, stderr="")
        return real(args, **kwargs)

    monkeypatch.setattr(results.subprocess, "run", fake)
    assert results.provenance()["git_modified"] is modified
    rec = make_record("fvd", 100.0, git_commit="0123456789abcdef", git_modified=modified)
    assert rec.commit_label() == "0123456" + (" (modified)" if modified else "")
    assert results.ResultRecord.from_dict(rec.to_dict()).git_modified is modified
    from vidrd_bench.report.tables import build_table

    source = build_table([rec], published=None)["source"].iloc[0]
    assert ("@ 0123456 (modified)" in source) is bool(modified) and "@ 0123456" in source


def test_a_git_modified_that_is_not_a_boolean_is_refused(tmp_path):
    make_record("fvd", 100.0, git_modified="yes").save(tmp_path / "bad.json")
    with pytest.raises(VidrdBenchError, match="git_modified 'yes' \\(true, false or null\\)"):
        load_results(tmp_path / "bad.json")
