"""One writer per output folder: a second generate refused, shards side by side, stale locks, byte-changing settings."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.runners.test_generate import FakePipeline
from vidrd_bench.runners import generate
from vidrd_bench.datasets import manifest as mf
from vidrd_bench.core.errors import RunStateError, VidrdBenchError
from vidrd_bench.runners.generate import run_generate
from vidrd_bench.core.lock import LOCKS_DIR, PartLock, held_locks


class NestedPipeline(FakePipeline):
    """Runs `inner()` during its first call (while the outer generate holds its lock) and keeps what it raised."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.outcome = inner, None

    def generate(self, prompts, seeds, settings):
        if self.outcome is None:
            try:
                self.outcome = self.inner()
            except VidrdBenchError as e:
                self.outcome = e
        return super().generate(prompts, seeds, settings)


def _run(out, pipe, **kw):
    kw = {"preset": "tiny", "num_videos": 8, "batch_size": 4, "show_progress": False, **kw}
    return run_generate(out_dir=out, instance=pipe, **kw)


def test_second_generate_on_a_running_folder_is_refused(tmp_path):
    second = FakePipeline()
    outer = NestedPipeline(lambda: _run(tmp_path, second))
    _run(tmp_path, outer)
    assert isinstance(outer.outcome, RunStateError) and second.calls == []
    message = str(outer.outcome)
    assert f"pid {os.getpid()}" in message and "is being written by" in message and "\n" not in message
    assert sorted(outer.rendered()) == list(range(42, 50))
    assert held_locks(tmp_path) == {}  # released on exit
    assert _run(tmp_path, FakePipeline()).skipped == 8  # and the folder resumes normally afterwards


def test_shards_of_one_run_work_side_by_side(tmp_path):
    other = FakePipeline()
    outer = NestedPipeline(lambda: _run(tmp_path, other, shard="1/2"))
    _run(tmp_path, outer, shard="0/2")
    assert not isinstance(outer.outcome, Exception) and outer.outcome.rendered == 4
    assert sorted(outer.rendered() + other.rendered()) == list(range(42, 50))
    assert all(r.status == "done" for r in mf.current_rows(tmp_path))


def test_overlapping_shard_layout_is_refused(tmp_path):
    outer = NestedPipeline(lambda: _run(tmp_path, FakePipeline(), shard="1/2"))
    _run(tmp_path, outer)
    assert isinstance(outer.outcome, RunStateError) and "overlap" in str(outer.outcome)


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    lock_file = tmp_path / LOCKS_DIR / "part-00000-of-00001.lock"
    lock_file.parent.mkdir(parents=True)
    lock_file.write_text(json.dumps({"host": "gone", "pid": 999999, "start": "2026-01-01T00:00:00+00:00"}))
    assert _run(tmp_path, FakePipeline()).rendered == 8
    assert "took over the lock" in capsys.readouterr().err and "pid 999999 on host gone" not in lock_file.read_text()
    assert lock_file.read_text() == ""


def test_lock_in_use_names_its_holder(tmp_path):
    with PartLock(tmp_path, "part-x", {"shard": "0/1"}):
        with pytest.raises(RunStateError, match=f"pid {os.getpid()} on host"):
            PartLock(tmp_path, "part-x").acquire()
        assert held_locks(tmp_path)["part-x"]["shard"] == "0/1"
    PartLock(tmp_path, "part-x").acquire().release()


class Interrupt(Exception):
    """Stands in for a kill after the first batch."""


class DyingPipeline(FakePipeline):
    def generate(self, prompts, seeds, settings):
        if self.calls:
            raise Interrupt
        return super().generate(prompts, seeds, settings)


def test_resume_with_another_batch_size_is_refused(tmp_path):
    with pytest.raises(Interrupt):
        _run(tmp_path, DyingPipeline(), batch_size=2)
    assert json.loads((tmp_path / mf.RUN_FILE).read_text())["render"]["batch_size"] == 2
    with pytest.raises(RunStateError, match=r"batch_size 2.*--batch-size 2"):
        _run(tmp_path, FakePipeline(), batch_size=4)
    pipe = FakePipeline()
    _run(tmp_path, pipe, batch_size=2)
    assert all(len(c) <= 2 for c in pipe.calls)


def test_recorded_device_and_compile_are_checked_before_loading(tmp_path, monkeypatch):
    _run(tmp_path, FakePipeline())
    run = json.loads((tmp_path / mf.RUN_FILE).read_text())
    run["render"]["device_type"] = "cuda"
    (tmp_path / mf.RUN_FILE).write_text(json.dumps(run))
    (tmp_path / mf.VIDEOS_DIR / sorted(os.listdir(tmp_path / mf.VIDEOS_DIR))[0]).unlink()
    monkeypatch.setattr(generate, "load_generator", lambda *a: pytest.fail("loaded before the check"))
    with pytest.raises(RunStateError, match="device_type 'cuda'"):
        run_generate(out_dir=tmp_path, preset="tiny", num_videos=8, batch_size=4, device="cpu", show_progress=False)


def test_failed_start_leaves_no_run_json(tmp_path, monkeypatch):
    from vidrd_bench.core.errors import WeightsError

    def missing(*args):
        raise WeightsError("Missing weights file ModelT2V.pth.")

    monkeypatch.setattr(generate, "load_generator", missing)
    with pytest.raises(WeightsError):
        run_generate(out_dir=tmp_path, preset="full", protocol_name="tiny-smoke", num_videos=4, device="cpu",
                     show_progress=False)
    assert not (tmp_path / mf.RUN_FILE).exists()
    assert _run(tmp_path, FakePipeline(), num_videos=4).rendered == 4


def test_tiny_preset_refuses_a_published_protocol(tmp_path):
    for name in generate.PUBLISHED_PROTOCOLS:
        with pytest.raises(VidrdBenchError, match="tiny-smoke"):
            run_generate(out_dir=tmp_path, preset="tiny", protocol_name=name, plan_only=True)
    assert not tmp_path.joinpath(mf.RUN_FILE).exists()


def test_compile_on_cpu_says_it_takes_minutes(monkeypatch, capsys):
    from vidrd_bench.models.vidrd.pipeline import VidRDPipeline
    from vidrd_bench.generators import vidrd

    monkeypatch.setattr(VidRDPipeline, "from_preset", classmethod(lambda cls, *a, **kw: kw["compile"]))
    assert vidrd.load("tiny", device="cpu", compile=True).pipeline is True
    assert "takes minutes" in capsys.readouterr().err
    assert vidrd.load("tiny", device="cpu").pipeline is False
    assert capsys.readouterr().err == ""


def test_killed_between_rename_and_record_is_adopted_not_rerendered(tmp_path, monkeypatch, capsys):
    real_write, part_writes = mf.write_rows, []

    def killed_after_first_batch(path, rows):
        if path.parent.name == mf.PARTS_DIR:
            part_writes.append(path)
            if len(part_writes) == 2:  # the first batch's videos are renamed into place but not recorded
                raise Interrupt
        return real_write(path, rows)

    monkeypatch.setattr(mf, "write_rows", killed_after_first_batch)
    with pytest.raises(Interrupt):
        _run(tmp_path, FakePipeline())
    monkeypatch.setattr(mf, "write_rows", real_write)
    assert sum(r.status == "done" for r in mf.known_rows(tmp_path).values()) == 0
    assert len(list((tmp_path / mf.VIDEOS_DIR).glob("*.mp4"))) == 4
    swapped = sorted((tmp_path / mf.VIDEOS_DIR).glob("*.mp4"))[3]
    swapped.write_bytes(swapped.read_bytes()[:-1] + b"x")  # a journaled file that changed is not adopted
    pipe = FakePipeline()
    result = _run(tmp_path, pipe)
    assert (result.adopted, result.rendered) == (3, 5) and pipe.calls == [[42, 43, 44, 45], [46, 47, 48, 49]]
    assert "adopted 3 finished videos" in capsys.readouterr().err
    assert all(r.status == "done" for r in mf.current_rows(tmp_path))


def test_compile_is_recorded_only_for_generators_that_compile():
    from vidrd_bench.runners.generate import render_settings
    from vidrd_bench.generators import GENERATORS

    assert render_settings("cpu", True, 4, GENERATORS.get("vidrd").compiles)["compile"] is True
    assert render_settings("cpu", True, 4, GENERATORS.get("modelscope").compiles)["compile"] is True
    assert render_settings("cpu", True, 4, compiles=False)["compile"] is False
    assert render_settings("cpu", None, 4, GENERATORS.get("vidrd").compiles)["compile"] is False


LINKED = {
    "part lock": f"{LOCKS_DIR}/part-00000-of-00001.lock",
    "journal": f"{mf.PARTS_DIR}/part-00000-of-00001.written",
    "part manifest": f"{mf.PARTS_DIR}/part-00000-of-00001.jsonl",
    "run.json": mf.RUN_FILE,
    "folder lock": f"{LOCKS_DIR}/folder.lock",
}


@pytest.mark.parametrize("entry", LINKED.values(), ids=LINKED.keys())
def test_resume_refuses_a_symlink_in_the_run_folder_and_leaves_its_target_intact(tmp_path, entry):
    """A received run folder whose lock, journal or manifest file links outside is refused; the outside file keeps
    every byte (a plain resume used to truncate the lock's and the journal's targets to 0 bytes)."""
    run = tmp_path / "run"
    _run(run, FakePipeline())
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n" * 100)
    (run / entry).unlink(missing_ok=True)
    (run / entry).symlink_to(outside)
    with pytest.raises(RunStateError) as err:
        _run(run, FakePipeline())
    assert outside.read_text() == "keep me\n" * 100
    assert "is a symbolic link, not a plain file" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("folder", [LOCKS_DIR, mf.PARTS_DIR, mf.VIDEOS_DIR])
def test_a_linked_sub_folder_is_refused_before_anything_is_written_into_it(tmp_path, folder):
    """`.locks`, `manifest.parts` or `videos` linking to an outside folder: refused, the outside folder unchanged."""
    run = tmp_path / "run"
    _run(run, FakePipeline())
    outside = tmp_path / "elsewhere"
    (run / folder).rename(outside)
    (run / folder).symlink_to(outside, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    with pytest.raises(RunStateError, match="is a symbolic link, not a folder"):
        _run(run, FakePipeline())
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before


@pytest.mark.parametrize("name", ["part-00000-of-00001.lock", "part-00003-of-00004.lock", "folder.lock"])
def test_a_fifo_in_the_locks_folder_is_refused_without_hanging(tmp_path, name):
    """A named pipe where a lock file belongs is refused at once (opening it for reading used to block forever)."""
    run = tmp_path / "run"
    _run(run, FakePipeline())
    (run / LOCKS_DIR / name).unlink(missing_ok=True)
    os.mkfifo(run / LOCKS_DIR / name)
    signal.signal(signal.SIGALRM, _hung)
    signal.alarm(30)
    try:
        with pytest.raises(RunStateError, match=r"is a named pipe \(FIFO\), not a plain file"):
            _run(run, FakePipeline())
    finally:
        signal.alarm(0)


def _hung(*_: object) -> None:
    """SIGALRM handler: the command blocked."""
    raise AssertionError("generate blocked on a FIFO in .locks/")


def test_a_second_writer_is_refused_before_its_model_loads_or_says_it_is_loading(tmp_path, monkeypatch, capsys):
    """The live lock of the first writer refuses a second generate (preset tiny, no instance) before its generator
    is built, and before it prints its 'loading ...' line (which now comes only when the model really loads)."""
    loads = []
    real_load = generate.load_generator
    monkeypatch.setattr(generate, "load_generator", lambda *a: loads.append(a) or real_load(*a))

    def second():
        run_generate(out_dir=tmp_path, preset="tiny", num_videos=8, batch_size=4, device="cpu", show_progress=False)

    outer = NestedPipeline(second)
    _run(tmp_path, outer)
    assert isinstance(outer.outcome, RunStateError) and "is being written by" in str(outer.outcome)
    assert loads == [] and "loading the" not in capsys.readouterr().err
    line = generate.loading_line(generate.resolve("vidrd", "tiny", None, None))
    assert line == "loading the vidrd tiny preset (random weights built in code, nothing read from disk: seconds)..."
    assert "~5 GB" in generate.loading_line(generate.resolve("vidrd", "full", None, None))
