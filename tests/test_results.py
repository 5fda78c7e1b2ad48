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
