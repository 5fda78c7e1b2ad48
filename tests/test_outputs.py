"""Outputs never lost: unwritable paths refused before work, results rescued after a failed write, temp files,
directory fsync; scores use only verified videos (part manifests read, sha256 checked, dotfiles ignored)."""

from __future__ import annotations

import errno
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from tests.runners.test_generate import FakePipeline
from tests.core.test_lock import DyingPipeline, Interrupt
from vidrd_bench.core import io
from vidrd_bench.datasets import manifest as mf
from vidrd_bench.core.errors import OutputError, RunStateError, VidrdBenchError
from vidrd_bench.runners.generate import run_generate
from vidrd_bench.metrics.registry import METRICS
from vidrd_bench.metrics.spec import MetricValue
from vidrd_bench.runners.score import ScoreOptions, _record
from vidrd_bench.runners.videos import generated_items
from vidrd_bench.metrics.stats import load_stats
from vidrd_bench.protocols import PROTOCOLS
from vidrd_bench.report.pictures import sample_videos
from vidrd_bench.results import ResultRecord, load_results


def _killed_run(out):
    """A run of 8 videos killed after its first batch of 2 (its manifest.jsonl still says none is done)."""
    with pytest.raises(Interrupt):
        run_generate(out_dir=out, instance=DyingPipeline(), preset="tiny", num_videos=8, batch_size=2,
                     show_progress=False)


def test_score_after_a_kill_sees_every_finished_video_from_the_parts(tmp_path):
    _killed_run(tmp_path)
    assert all(r.status == "planned" for r in mf.read_rows(tmp_path / mf.MANIFEST_FILE))
    with pytest.raises(RunStateError, match="lists 8 videos but only 2 are done"):
        generated_items(tmp_path)
    items, generation, info = generated_items(tmp_path, allow_incomplete=True)
    assert [i.index for i in items] == [0, 1] and generation["name"] == "tiny-smoke"
    assert info["generation_preset"] == "tiny"
    assert [v.path for v in sample_videos(tmp_path, videos_per_class=5)] == sorted(i.path for i in items)


def test_score_refuses_a_swapped_video_naming_it(tmp_path):
    run_generate(out_dir=tmp_path, instance=FakePipeline(), preset="tiny", num_videos=4, batch_size=4,
                 show_progress=False)
    rows = mf.read_rows(tmp_path / mf.MANIFEST_FILE)
    (tmp_path / rows[2].path).write_bytes((tmp_path / rows[0].path).read_bytes())
    with pytest.raises(RunStateError, match=rf"1 finished video\(s\).*{rows[2].path} \(changed\)"):
        generated_items(tmp_path)


def test_dotfiles_and_temp_files_are_never_videos(tmp_path):
    run_generate(out_dir=tmp_path / "run", instance=FakePipeline(), preset="tiny", num_videos=2, batch_size=2,
                 show_progress=False)
    folder = tmp_path / "plain"
    (folder / ".cache").mkdir(parents=True)
    data = next((tmp_path / "run" / "videos").glob("*.mp4")).read_bytes()
    (folder / "a.mp4").write_bytes(data)
    (folder / ".a.mp4.k3j4h5g6.tmp.mp4").write_bytes(data[:100])
    (folder / ".cache" / "b.mp4").write_bytes(data)
    items, generation, info = generated_items(folder)
    assert [i.path.name for i in items] == ["a.mp4"] and generation is None and "generation_preset" not in info
    assert [v.path for v in sample_videos(folder)] == [folder / "a.mp4"]


def test_contact_sheet_of_a_relative_manifest_free_folder(tmp_path, monkeypatch):
    run_generate(out_dir=tmp_path / "run", instance=FakePipeline(), preset="tiny", num_videos=2, batch_size=2,
                 show_progress=False)
    monkeypatch.chdir(tmp_path)
    os.remove("run/manifest.jsonl")
    chosen = sample_videos("run", videos_per_class=5)
    assert len(chosen) == 2 and all(v.path.is_file() for v in chosen)


def test_stale_temp_files_of_an_output_are_removed_before_work(tmp_path):
    out = tmp_path / "fvd.json"
    stale = [tmp_path / ".fvd.json.ab12cd34.json.tmp", tmp_path / ".fvd.json.zz99yy88.tmp.npz"]
    keep = [tmp_path / ".other.json.ab12cd34.json.tmp", tmp_path / "fvd.json.bak"]
    for p in stale + keep:
        p.write_bytes(b"")
    io.check_output_file(out)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in keep)


def test_atomic_writes_flush_the_folder_after_the_rename(tmp_path, monkeypatch):
    flushed = []
    monkeypatch.setattr(io, "fsync_path", lambda p: flushed.append(os.fspath(p)))
    io.write_text_atomic(tmp_path / "sub" / "a.txt", "x")
    assert flushed[-1] == os.fspath(tmp_path / "sub") and (tmp_path / "sub" / "a.txt").read_text() == "x"


@pytest.mark.parametrize("make", ["file", "under_file", "full"])
def test_unwritable_outputs_are_refused_before_work(tmp_path, monkeypatch, make):
    (tmp_path / "f").write_text("x")
    target = {"file": tmp_path / "f", "under_file": tmp_path / "f" / "out.json", "full": tmp_path / "out.json"}[make]
    if make == "full":
        real_write = os.write
        monkeypatch.setattr(io.os, "write", lambda fd, b: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
        with pytest.raises(OutputError, match="No space left.*Nothing was computed yet"):
            io.check_output_file(target)
        monkeypatch.setattr(io.os, "write", real_write)
    elif make == "file":
        with pytest.raises(OutputError, match="exists and is not a folder"):
            io.check_output_dir(target)
    else:
        with pytest.raises(OutputError, match="is a file, not a folder"):
            io.check_output_file(target)
    assert list(tmp_path.iterdir()) == [tmp_path / "f"]  # no probe file left behind


def test_a_failed_write_after_the_work_keeps_the_result(tmp_path, monkeypatch):
    monkeypatch.setattr(io.tempfile, "gettempdir", lambda: str(tmp_path / "rescue"))
    (tmp_path / "rescue").mkdir()
    record = ResultRecord.create(metric="fvd", value=123.5, higher_is_better=False, n=4,
                                 protocol={"name": "fvd-smoke-tiny"})
    calls = []

    def save(path):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        record.save(path)

    with pytest.raises(OutputError, match=r"FVD = 123.5 \(n=4.*saved instead to") as err:
        io.save_or_rescue(tmp_path / "fvd.json", save, record.summary())
    assert load_results(calls[1])[0].value == 123.5 and str(calls[1]) in str(err.value)


def test_nan_scores_are_refused_and_random_generators_are_smoke():
    detector = SimpleNamespace(name="i3d", random_weights=False, weights={"i3d": "abc"})
    proto, fvd = PROTOCOLS.get("fvd-ucf101-10k"), METRICS.get("fvd")
    with pytest.raises(VidrdBenchError, match="came out as nan"):
        _record(fvd, MetricValue(float("nan")), 4, proto, None, detector, {}, ScoreOptions())
    real = _record(fvd, MetricValue(300.0), 4, proto, None, detector, {"generation_preset": "full"}, ScoreOptions())
    tiny = _record(fvd, MetricValue(300.0), 4, proto, None, detector, {"generation_preset": "tiny"}, ScoreOptions())
    assert not real.smoke and tiny.smoke and "random-weight generator" in tiny.label


def test_result_records_of_wrong_shape_are_one_paragraph_errors(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"schema": "vidrd-bench/result/v1", "metric": "fvd", "value": "abc"}))
    with pytest.raises(VidrdBenchError, match=r"r.json: .*value 'abc' \(a finite number\)"):
        load_results(tmp_path / "r.json")


def test_stats_file_truncated_or_missing_sigma(tmp_path):
    from vidrd_bench.metrics.stats import StatsFile, save_stats

    stats = StatsFile(mu=np.zeros(3), sigma=np.eye(3), count=5, detector="d", detector_sha256={}, protocol={},
                      source="s")
    raw = save_stats(tmp_path / "s.npz", stats).read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[:200])
    with pytest.raises(VidrdBenchError, match="cannot be read"):
        load_stats(tmp_path / "t.npz")
    with np.load(tmp_path / "s.npz") as d:
        np.savez(tmp_path / "m.npz", **{k: d[k] for k in d.files if k != "sigma"})
    with pytest.raises(VidrdBenchError, match="the keys sigma are missing"):
        load_stats(tmp_path / "m.npz")
    assert load_stats(tmp_path / "s.npz").count == 5


def test_weights_check_loads_the_files(tmp_path):
    from vidrd_bench.runners import doctor
    from vidrd_bench.core.errors import WeightsError

    with pytest.raises(WeightsError, match="cannot be read as an npz"):
        (tmp_path / "conv3d_deepnetA_ucf.npz").write_bytes(b"\0" * 100)
        (tmp_path / "mean2.npz").write_bytes(b"\0" * 100)
        doctor.verify_loads("is-c3d-styleganv-10k", tmp_path)
    sd = tmp_path / "stable-diffusion-2-1-base"
    for member in doctor.known_files().get("stable-diffusion-2-1-base").required_members:
        (sd / member).parent.mkdir(parents=True, exist_ok=True)
        (sd / member).write_text("{}" if member.endswith(".json") else "x")
    with pytest.raises(WeightsError, match="unet/config.json is empty or not a JSON object"):
        doctor.verify_loads("vidrd", tmp_path)
