"""Manifest rows, run.json checks (refusing other protocols and other runs), merging parts, stale temp files."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from vidrd_bench.datasets import manifest as mf
from vidrd_bench.datasets.plan import PlannedVideo, Shard
from vidrd_bench.core.errors import ProtocolMismatchError, RunStateError
from vidrd_bench.protocols import PROTOCOLS

TINY = PROTOCOLS.get("tiny-smoke")


def _rows(n=4, protocol="tiny-smoke"):
    return [mf.ManifestRow.from_plan(PlannedVideo(i, "Archery" if i % 2 else "Biking", f"p{i}", 42 + i), protocol)
            for i in range(n)]


def _gen(preset="tiny", **extra):
    return {"name": "vidrd", "preset": preset, "settings": {"name": "tiny"}, **extra}


def _header(rows, protocol=TINY, generator=None, weights=None):
    generator = _gen() if generator is None else generator or None
    return mf.run_header("ucf101", protocol, rows, "prompts.json", generator, weights or {}, {"version": "t"})


def test_row_json_round_trip(tmp_path):
    rows = _rows()
    rows[1].status, rows[1].sha256 = "done", "ab" * 32
    path = mf.write_rows(tmp_path / "m.jsonl", rows)
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"index": 0, "class": "Biking", "prompt": "p0", "seed": 42, "path": "videos/00000_Biking.mp4",
                     "protocol": "tiny-smoke", "status": "planned", "sha256": None}
    assert mf.read_rows(path) == rows


def test_corrupt_manifest_line_is_named(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"index": 0}\n')
    with pytest.raises(RunStateError, match="line 1 is not a vidrd-bench manifest row"):
        mf.read_rows(path)


def test_plan_digest_sees_prompt_and_seed():
    rows = _rows()
    other = _rows()
    other[2].prompt = "changed"
    assert mf.plan_digest(rows) == mf.plan_digest(_rows()) != mf.plan_digest(other)


def test_parts_merge_by_concatenation(tmp_path):
    rows = _rows(6)
    mf.merge(tmp_path, rows)
    halves = [Shard(i, 2).select(rows) for i in range(2)]
    for i, part in enumerate(halves):
        for r in part:
            r.status, r.sha256 = "done", f"{r.index:064d}"
        mf.write_rows(mf.part_path(tmp_path, Shard(i, 2)), part)
    merged = mf.read_rows(mf.merge(tmp_path, _rows(6)))
    assert merged == rows and all(r.status == "done" for r in merged)
    concatenated = [r for i in range(2) for r in mf.read_rows(mf.part_path(tmp_path, Shard(i, 2)))]
    assert sorted(concatenated, key=lambda r: r.index) == merged


def test_current_rows_see_parts_of_an_interrupted_run(tmp_path):
    rows = _rows(4)
    mf.merge(tmp_path, rows)
    part = [mf.ManifestRow.from_json(r.to_json()) for r in rows[2:]]
    part[0].status, part[0].sha256 = "done", "f" * 64
    mf.write_rows(mf.part_path(tmp_path, Shard(1, 2)), part)
    assert [r.status for r in mf.current_rows(tmp_path)] == ["planned", "planned", "done", "planned"]
    assert [r.status for r in mf.read_rows(tmp_path / mf.MANIFEST_FILE)] == ["planned"] * 4
    with pytest.raises(RunStateError, match="not a vidrd-bench generation folder"):
        mf.current_rows(tmp_path / "elsewhere")


def test_check_run_accepts_same_run_and_fills_generator(tmp_path):
    rows = _rows()
    plan_only = _header(rows, generator={})
    assert mf.check_run(tmp_path, plan_only, TINY) is None
    mf.write_run(tmp_path, plan_only, None)
    loaded = _header(rows, generator=_gen(dtype="torch.float32"), weights={"a": "0"})
    mf.write_run(tmp_path, loaded, mf.check_run(tmp_path, loaded, TINY))
    resumed = _header(rows)  # a resume that loads nothing keeps what the loaded run recorded
    mf.write_run(tmp_path, resumed, mf.check_run(tmp_path, resumed, TINY))
    run = json.loads((tmp_path / mf.RUN_FILE).read_text())
    assert run["generator"] == _gen(dtype="torch.float32") and run["weights"] == {"a": "0"}


def test_run_json_of_the_old_combined_protocol_gets_a_clear_message(tmp_path):
    rows = _rows()
    old = {**_header(rows), "protocol": {"name": "ucf101-vidrd", "frames_per_clip": 8, "num_clips": 3}}
    (tmp_path / mf.RUN_FILE).write_text(json.dumps(old))
    with pytest.raises(RunStateError, match="predates the split .* regenerate into a new --out folder"):
        mf.check_run(tmp_path, _header(rows), TINY)


def test_check_run_refuses_other_protocol(tmp_path):
    rows = _rows()
    mf.write_run(tmp_path, _header(rows), None)
    other = PROTOCOLS.get("ucf101-vidrd")
    with pytest.raises(ProtocolMismatchError, match="'tiny-smoke' but this run uses 'ucf101-vidrd'.*another --out"):
        mf.check_run(tmp_path, _header(_rows(protocol="ucf101-vidrd"), protocol=other), other)


def test_rows_of_other_protocol_without_run_json_are_refused(tmp_path):
    mf.write_rows(tmp_path / mf.MANIFEST_FILE, _rows(protocol="ucf101-vidrd"))
    with pytest.raises(ProtocolMismatchError, match="rows of protocol 'ucf101-vidrd'"):
        mf.check_run(tmp_path, _header(_rows()), TINY)


@pytest.mark.parametrize("change,key", [({"num_videos": 5}, "num_videos"), ({"plan_sha256": "x"}, "plan_sha256"),
                                        ({"generator": _gen("full")}, "generator preset"),
                                        ({"generator": {**_gen(), "name": "modelscope"}}, "generator name"),
                                        ({"weights": {"a": "1"}}, "weights")])
def test_check_run_refuses_another_run(tmp_path, change, key):
    rows = _rows()
    mf.write_run(tmp_path, _header(rows, weights={"a": "0"}), None)
    with pytest.raises(RunStateError, match=f"records a run with {key}"):
        mf.check_run(tmp_path, {**_header(rows, weights={"a": "0"}), **change}, TINY)


def test_remove_stale_temps_only_for_named_files(tmp_path):
    names = ["00001_Archery.mp4", "part-00000-of-00001.jsonl"]
    stale = [".00001_Archery.mp4.k2j3.tmp.mp4", ".part-00000-of-00001.jsonl.x9.jsonl.tmp"]
    kept = [".00002_Biking.mp4.zz.tmp.mp4", "00001_Archery.mp4"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    assert mf.remove_stale_temps(tmp_path, names) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def _finished_run(tmp_path):
    """A finished 4-video tiny run rendered by the fake pipeline, and a copy of its first video outside the folder."""
    from tests.runners.test_generate import FakePipeline
    from vidrd_bench.runners.generate import run_generate

    run = run_generate(out_dir=tmp_path / "run", instance=FakePipeline(), preset="tiny", num_videos=4, batch_size=2,
                       show_progress=False).out_dir
    rows = mf.read_rows(run / mf.MANIFEST_FILE)
    outside = tmp_path / "private.mp4"
    outside.write_bytes((run / rows[0].path).read_bytes())
    return run, rows, outside


def _rewrite_first_path(run, rows, path):
    """manifest.jsonl with the first row's path replaced (its sha256 kept: it matches the outside copy)."""
    rows = [dataclasses.replace(rows[0], path=path)] + rows[1:]
    (run / mf.MANIFEST_FILE).write_text("".join(json.dumps(r.to_json()) + "\n" for r in rows))
    shutil.rmtree(run / mf.PARTS_DIR)


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "empty"])
def test_a_manifest_row_naming_a_file_outside_the_folder_is_refused_naming_the_row(tmp_path, kind):
    """An absolute path or '../' in a received manifest.jsonl used to be scored (an outside file with its sha256)."""
    from vidrd_bench.runners.videos import generated_items

    run, rows, outside = _finished_run(tmp_path)
    _rewrite_first_path(run, rows, {"absolute": str(outside), "dotdot": "../private.mp4", "empty": ""}[kind])
    with pytest.raises(RunStateError) as err:
        generated_items(run)
    message = str(err.value)
    assert "manifest.jsonl line 1 (video 0)" in message and "not a path inside the run folder" in message
    assert "\n" not in message


def test_a_video_linked_out_of_the_folder_is_refused(tmp_path):
    """A done row's file replaced by a symbolic link to an outside file with the same sha256: refused, not read."""
    from vidrd_bench.runners.videos import generated_items

    run, rows, outside = _finished_run(tmp_path)
    (run / rows[0].path).unlink()
    (run / rows[0].path).symlink_to(outside)
    with pytest.raises(RunStateError, match=r"\(video 0 of .*\) resolves to .*private.mp4, outside that folder"):
        generated_items(run)
    with pytest.raises(RunStateError, match="outside that folder"):
        mf.done_rows(run)
