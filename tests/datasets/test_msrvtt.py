"""MSR-VTT: the annotation file read and checked, the caption plan's exact counts and rules, generate over it
(plan-only, sharded, resumed, with a fake generator), and the real test videos."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
from click.testing import CliRunner

from tests.runners.test_generate import FakePipeline
from vidrd_bench.cli import main
from vidrd_bench.core.errors import RunStateError, VidrdBenchError
from vidrd_bench.datasets import manifest as mf
from vidrd_bench.datasets import msrvtt
from vidrd_bench.datasets.plan import Shard
from vidrd_bench.datasets.registry import DATASETS, CaptionDataset
from vidrd_bench.protocols import PROTOCOLS, CaptionEvalProtocol
from vidrd_bench.runners.generate import run_generate

ONE, ALL = PROTOCOLS.get("msrvtt-one-caption"), PROTOCOLS.get("msrvtt-all-captions")


def write_annotations(path, per_video=20, extra_splits=False, drop=(), layout="release"):
    """An MSR-VTT-shaped annotation file: `per_video` captions per test video, sen_ids in reverse of list order
    (the reader must sort by sen_id), optionally the train videos too (as MSRVTT_data.json holds them)."""
    first = 0 if extra_splits else msrvtt.FIRST_TEST
    ids = [f"video{v}" for v in range(first, msrvtt.LAST_TEST + 1) if f"video{v}" not in drop]
    sentences = [{"caption": f"{v} says {j}", "video_id": v, "sen_id": 10 ** 6 - (k * per_video + j)}
                 for k, v in enumerate(ids) for j in range(per_video)]
    videos = [{"video_id": v, "split": "test", "id": i} for i, v in enumerate(ids)]
    data = {"videos": videos, "sentences": sentences} if layout == "release" else {"sentences": sentences,
                                                                                    "videos": videos, "info": {}}
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def ann(tmp_path_factory):
    """Twenty captions per test video, as the release has."""
    return write_annotations(tmp_path_factory.mktemp("msrvtt") / "test_videodatainfo.json")


def test_captions_cover_the_test_split_in_sen_id_order(ann, tmp_path):
    caps = msrvtt.read_captions(ann)
    assert list(caps) == [f"video{i}" for i in range(7010, 10000)] and len(caps) == msrvtt.NUM_TEST_VIDEOS == 2990
    assert caps["video7010"][:2] == ("video7010 says 19", "video7010 says 18")  # sen_id ascending
    full = msrvtt.read_captions(write_annotations(tmp_path / "MSRVTT_data.json", 2, extra_splits=True,
                                                  layout="data"))
    assert list(full) == list(caps) and "video0" not in full


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not valid JSON"),
    ('{"videos": []}', 'no "sentences" list'),
    ('{"sentences": [{"video_id": "../../etc/passwd", "caption": "x", "sen_id": 1}]}', 'sentence 0'),
    ('{"sentences": [{"video_id": "video7010", "caption": "", "sen_id": 1}]}', 'sentence 0'),
    ('{"sentences": [{"video_id": "video7010", "caption": "a", "sen_id": "1"}]}', 'sentence 0'),
])
def test_malformed_annotations_are_refused(tmp_path, content, needle):
    path = tmp_path / "ann.json"
    path.write_text(content)
    with pytest.raises(msrvtt.CaptionsError, match=needle):
        msrvtt.read_captions(path)
    with pytest.raises(msrvtt.CaptionsError, match="does not exist"):
        msrvtt.read_captions(tmp_path / "absent.json")


def test_missing_test_videos_are_named(tmp_path):
    path = write_annotations(tmp_path / "ann.json", 1, drop=("video7011", "video9999"))
    with pytest.raises(msrvtt.CaptionsError, match=r"2 of the 2990 test videos \(e\.g\. video7011, video9999\)"):
        msrvtt.read_captions(path)


def test_one_caption_plan_exact(ann):
    plan, path = DATASETS.get("msrvtt").plan(ONE, 2990, ann)
    assert path == ann and len(plan) == 2990 and len({p.class_name for p in plan}) == 2990
    assert [p.class_name for p in plan[:2]] == ["video7010", "video7011"] and plan[-1].class_name == "video9999"
    assert [p.seed for p in plan] == list(range(42, 42 + 2990)) and [p.index for p in plan] == list(range(2990))
    caps = msrvtt.read_captions(ann)
    picks = [caps[p.class_name].index(p.prompt) for p in plan]
    assert picks[:4] == [msrvtt.pick_caption(f"video{7010 + i}", 20, 0) for i in range(4)]
    assert len(set(picks)) == 20  # the rule spreads over every caption slot, not always the first


def test_pick_caption_is_the_documented_sha256_rule():
    import hashlib
    digest = hashlib.sha256(b"0:video7010").digest()
    assert msrvtt.pick_caption("video7010", 20, 0) == int.from_bytes(digest[:8], "big") % 20
    assert [msrvtt.pick_caption("video7010", 20, s) for s in range(3)] != [msrvtt.pick_caption("video7010", 20, 0)] * 3


def test_all_captions_plan_exact_and_in_rounds(ann):
    plan, _ = DATASETS.get("msrvtt").plan(ALL, 59_800, ann)
    assert len(plan) == 59_800 == ALL.num_videos
    assert [p.class_name for p in plan[:2990]] == list(msrvtt.TEST_IDS)  # round 0: every video once
    assert plan[0].prompt == "video7010 says 19" and plan[2990].prompt == "video7010 says 18"
    with pytest.raises(VidrdBenchError, match="holds 59,800"):
        DATASETS.get("msrvtt").plan(ALL, 59_801, ann)


def test_swapping_the_caption_rule_or_seed_changes_the_plan(ann):
    spec = DATASETS.get("msrvtt")
    one = [p.prompt for p in spec.plan(ONE, 2990, ann)[0]]
    first_round = [p.prompt for p in spec.plan(ALL, 2990, ann)[0]]
    reseeded = [p.prompt for p in spec.plan(dataclasses.replace(ONE, caption_seed=1), 2990, ann)[0]]
    assert one != first_round and one != reseeded
    assert sum(a != b for a, b in zip(one, reseeded)) > 2500


def test_protocol_and_source_checks(ann):
    spec = DATASETS.get("msrvtt")
    assert isinstance(spec, CaptionDataset) and spec.split == msrvtt.SPLIT
    with pytest.raises(VidrdBenchError, match="msrvtt-one-caption, msrvtt-all-captions, msrvtt-tiny-smoke"):
        spec.plan(PROTOCOLS.get("tiny-smoke"), 24, ann)
    with pytest.raises(VidrdBenchError, match="does not ship or download"):
        spec.plan(ONE, 24, None)
    with pytest.raises(VidrdBenchError, match="for msrvtt, not ucf101"):
        DATASETS.get("ucf101").plan(ONE, 24, None)
    with pytest.raises(ValueError, match="caption_rule"):
        CaptionEvalProtocol(name="x", caption_rule="first")


def test_generate_plan_only_shard_and_resume(ann, tmp_path):
    out = tmp_path / "run"
    result = run_generate(dataset="msrvtt", out_dir=out, plan_only=True, preset="tiny",
                          protocol_name="msrvtt-one-caption", prompts_file=ann)
    rows = mf.read_rows(out / mf.MANIFEST_FILE)
    assert result.planned == len(rows) == 2990 and rows[5].path == "videos/00005_video7015.mp4"
    run = json.loads((out / mf.RUN_FILE).read_text())
    assert run["dataset"] == "msrvtt" and run["protocol"]["caption_rule"] == "one-seeded"
    small = tmp_path / "small"
    kw = dict(dataset="msrvtt", preset="tiny", protocol_name="msrvtt-tiny-smoke", prompts_file=ann, num_videos=6,
              batch_size=3, show_progress=False)
    run_generate(out_dir=small, instance=FakePipeline(), shard="1/2", **kw)
    done = mf.read_rows(small / mf.MANIFEST_FILE)
    assert [r.status for r in done] == ["planned"] * 3 + ["done"] * 3
    assert [r.prompt for r in done] == [r.prompt for r in rows[:6]]
    pipe = FakePipeline()
    second = run_generate(out_dir=small, instance=pipe, **kw)
    assert (second.rendered, second.skipped) == (3, 3) and sorted(pipe.rendered()) == [42, 43, 44]
    other = write_annotations(tmp_path / "other.json", 3)
    with pytest.raises(RunStateError, match="plan_sha256"):
        run_generate(out_dir=small, instance=FakePipeline(), **{**kw, "prompts_file": other})


def test_cli_generate_takes_captions_not_prompts(ann, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["generate", "--dataset", "msrvtt", "--captions", str(ann), "--plan-only",
                              "--protocol", "msrvtt-all-captions", "--out", str(tmp_path / "a")])
    assert ok.exit_code == 0 and "planned 59800 videos" in ok.output
    wrong = runner.invoke(main, ["generate", "--dataset", "msrvtt", "--prompts", str(ann), "--plan-only",
                                 "--protocol", "msrvtt-one-caption", "--out", str(tmp_path / "b")])
    assert wrong.exit_code != 0 and "--prompts does not apply to --dataset msrvtt" in wrong.output
    missing = runner.invoke(main, ["generate", "--dataset", "msrvtt", "--plan-only", "--protocol",
                                   "msrvtt-one-caption", "--out", str(tmp_path / "c")])
    assert missing.exit_code != 0 and "--captions" in missing.output and "Traceback" not in missing.output


def test_real_test_videos_found_checked_and_kept_inside(tmp_path):
    root = tmp_path / "TestVideo"
    root.mkdir()
    for v in msrvtt.TEST_IDS[1:]:
        (root / f"{v}.mp4").write_bytes(b"")
    (root / "video1.mp4").write_bytes(b"")  # a train video: not part of the real set
    with pytest.raises(VidrdBenchError, match=r"lacks 1 of the 2990 MSR-VTT test videos \(e\.g\. video7010\)"):
        msrvtt.real_test_videos(root)
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes(b"")
    os.symlink(outside, root / "video7010.mp4")
    with pytest.raises(VidrdBenchError, match="points outside"):
        msrvtt.real_test_videos(root)
    (root / "video7010.mp4").unlink()
    (root / "video7010.mp4").write_bytes(b"")
    found = msrvtt.real_test_videos(root)
    assert [p.stem for p in found] == list(msrvtt.TEST_IDS)


def test_real_items_of_the_msrvtt_split_and_stats_cli(tmp_path, monkeypatch):
    from vidrd_bench.runners import score
    from vidrd_bench.runners.videos import real_items
    root = tmp_path / "TestVideo"
    root.mkdir()
    for v in reversed(msrvtt.TEST_IDS):
        (root / f"{v}.mp4").write_bytes(b"")
    items, note = real_items(root, None, PROTOCOLS.get("fvd-msrvtt-2990").real_split)
    assert [i.path.stem for i in items] == list(msrvtt.TEST_IDS) and [i.index for i in items] == list(range(2990))
    assert "the 2990 MSR-VTT test videos" in note
    seen = {}
    monkeypatch.setattr(score, "compute_real_stats", lambda videos, protocol, *a, **k: seen.update(p=protocol))
    result = CliRunner().invoke(main, ["stats", "msrvtt", "--videos", str(root), "--out", str(tmp_path / "s.npz")])
    assert result.exit_code == 0 and seen["p"] == "fvd-msrvtt-2990"
    (root / "video8000.mp4").unlink()
    monkeypatch.undo()
    missing = CliRunner().invoke(main, ["stats", "msrvtt", "--videos", str(root), "--device", "cpu"])
    assert missing.exit_code != 0 and "lacks 1 of the 2990 MSR-VTT test videos (e.g. video8000)" in missing.output
