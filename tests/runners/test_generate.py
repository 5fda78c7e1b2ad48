"""`run_generate`: plan-only, rendering, resume, disk full, bad input, shards (fake pipeline) and the tiny model."""

from __future__ import annotations

import collections
import dataclasses
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from vidrd_bench.datasets import manifest as mf
from vidrd_bench.datasets.plan import allocate
from vidrd_bench.datasets.registry import DATASETS
from vidrd_bench.datasets.video import read_video
from vidrd_bench.core.errors import ProtocolMismatchError, RunStateError, VidrdBenchError
from vidrd_bench.runners.generate import plan_rows, run_generate
from vidrd_bench.models.vidrd.settings import VIDRD_SETTINGS, VidRDSettings
from vidrd_bench.generators import Generator, conform
from vidrd_bench.core.io import sha256_file
from vidrd_bench.protocols import PROTOCOLS


class FakePipeline(Generator):
    """Stands in for the VidRD generator: seed-determined uint8 frames of the settings' shape; records every call."""

    settings_type = VidRDSettings

    def __init__(self):
        self.calls: list[list[int]] = []

    def generate(self, prompts, seeds, settings):
        self.calls.append(list(seeds))
        shape = self.native_shape(settings) + (3,)
        videos = [torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(s), dtype=torch.uint8)
                  for s in seeds]
        return torch.stack(videos)

    def native_shape(self, settings):
        return settings.num_frames, settings.height, settings.width

    def provenance(self):
        return {"model": "fake", "weights": {"fake.bin": "0" * 64}}

    def modules(self):
        return {}

    def rendered(self) -> list[int]:
        """Seeds rendered so far, in call order."""
        return [s for call in self.calls for s in call]


class BatchSensitive(FakePipeline):
    """A fake whose pixels depend on the batch's make-up, as batched kernels' rounding can (by its first seed)."""

    def generate(self, prompts, seeds, settings):
        return super().generate(prompts, seeds, settings) + seeds[0] % 7


def _run(out, pipe, **kw):
    kw = {"preset": "tiny", "num_videos": 6, "batch_size": 4, "show_progress": False, **kw}
    return run_generate(out_dir=out, instance=pipe, **kw)


def _manifest(out):
    return mf.read_rows(out / mf.MANIFEST_FILE)


def test_plan_only_writes_the_10k_plan(tmp_path):
    result = run_generate(out_dir=tmp_path, plan_only=True)
    rows = _manifest(tmp_path)
    assert result.planned == len(rows) == 10_000 and not (tmp_path / mf.VIDEOS_DIR).exists()
    counts = collections.Counter(r.class_name for r in rows)
    assert counts == collections.Counter(allocate(DATASETS.get("ucf101").train_counts, 10_000))
    assert {r.status for r in rows} == {"planned"} and {r.protocol for r in rows} == {"ucf101-vidrd"}
    run = json.loads((tmp_path / mf.RUN_FILE).read_text())
    assert run["protocol"]["name"] == "ucf101-vidrd" and run["num_videos"] == 10_000 and run["generator"] is None
    assert run["plan_sha256"] == mf.plan_digest(rows) and "version" in run


def test_renders_every_video_bit_exactly(tmp_path):
    pipe = FakePipeline()
    result = _run(tmp_path, pipe)
    rows = _manifest(tmp_path)
    assert (result.rendered, result.skipped) == (6, 0)
    assert sorted(pipe.rendered()) == [r.seed for r in rows] == list(range(42, 48))
    assert [len(c) for c in pipe.calls] == [4, 2]
    for row in rows:
        assert row.status == "done" and row.sha256 == sha256_file(tmp_path / row.path)
        expected = FakePipeline()([row.prompt], [row.seed], VIDRD_SETTINGS.get("vidrd-tiny"))[0].numpy()
        np.testing.assert_array_equal(read_video(tmp_path / row.path), expected)
    run = json.loads((tmp_path / mf.RUN_FILE).read_text())
    assert run["generator"]["name"] == "vidrd" and run["generator"]["preset"] == "tiny"
    assert run["generator"]["settings"] == VIDRD_SETTINGS.get("vidrd-tiny").to_dict() and run["weights"] == {"fake.bin": "0" * 64}
    assert run["generator"]["conform"] == {"rule": conform.RULE, "native": [16, 32, 32], "protocol": [16, 32, 32],
                                           "trimmed": False, "resized": False}


def test_resume_rerenders_only_missing_or_partial(tmp_path, capsys):
    _run(tmp_path, FakePipeline())
    rows = _manifest(tmp_path)
    (tmp_path / rows[1].path).unlink()
    with open(tmp_path / rows[4].path, "r+b") as f:
        f.truncate(100)
    stray = tmp_path / mf.VIDEOS_DIR / f".{(tmp_path / rows[2].path).name}.abc123.tmp.mp4"
    stray.write_bytes(b"partial")
    pipe = FakePipeline()
    result = _run(tmp_path, pipe)
    # Videos 1 and 4 are written again; the generator renders the plan's groups holding them whole (batch 4).
    assert pipe.calls == [[42, 43, 44, 45], [46, 47]] and (result.rendered, result.skipped) == (2, 4)
    assert not stray.exists()
    assert _manifest(tmp_path) == rows
    assert "4 of this slice's 6 videos are done and kept; 2 left to render" in capsys.readouterr().err
    again = FakePipeline()
    assert _run(tmp_path, again).rendered == 0 and again.calls == []


def test_disk_full_keeps_finished_videos_and_resumes(tmp_path, monkeypatch):
    import vidrd_bench.datasets.video as video

    real_write, writes = video.write_video, []

    def filling_disk(path, frames, fps, **kw):
        writes.append(path)
        if len(writes) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, frames, fps, **kw)

    monkeypatch.setattr(video, "write_video", filling_disk)
    with pytest.raises(RunStateError, match="is full .* 3 videos finished so far are kept"):
        _run(tmp_path, FakePipeline(), batch_size=2)
    done = [r for r in mf.known_rows(tmp_path).values() if r.status == "done"]
    assert len(done) == 3 and all(sha256_file(tmp_path / r.path) == r.sha256 for r in done)
    monkeypatch.setattr(video, "write_video", real_write)
    pipe = FakePipeline()
    _run(tmp_path, pipe, batch_size=2)
    assert {r.seed for r in done} == {42, 43, 44} and pipe.calls == [[44, 45], [46, 47]]  # whole groups of 2
    assert all(r.status == "done" for r in _manifest(tmp_path))


def test_other_protocol_in_folder_is_refused(tmp_path):
    run_generate(out_dir=tmp_path, plan_only=True, num_videos=50)
    with pytest.raises(ProtocolMismatchError, match="'ucf101-vidrd' but this run uses 'tiny-smoke'"):
        _run(tmp_path, FakePipeline())


def test_other_plan_in_folder_is_refused(tmp_path):
    _run(tmp_path, FakePipeline())
    with pytest.raises(RunStateError, match="num_videos 6, but this run has 7"):
        _run(tmp_path, FakePipeline(), num_videos=7)


def test_shard_jobs_merge_into_the_plan(tmp_path):
    pipes = [FakePipeline() for _ in range(3)]
    results = [_run(tmp_path, p, num_videos=10, shard=f"{i}/3") for i, p in enumerate(pipes)]
    assert [r.planned for r in results] == [3, 3, 4]
    # Shard bounds 0, 3, 6, 10 cut the plan's groups of 4: each shard renders the groups it touches whole.
    assert [p.calls for p in pipes] == [[[42, 43, 44, 45]], [[42, 43, 44, 45], [46, 47, 48, 49]],
                                        [[46, 47, 48, 49], [50, 51]]]
    rows = _manifest(tmp_path)
    assert [r.index for r in rows] == list(range(10)) and all(r.status == "done" for r in rows)


def test_any_split_renders_the_same_videos_bit_for_bit(tmp_path):
    ways = {"one process": [None], "two shards": ["0/2", "1/2"], "three shards": ["0/3", "1/3", "2/3"]}
    digests = {}
    for name, shards in ways.items():
        for shard in shards:
            _run(tmp_path / name, BatchSensitive(), num_videos=10, shard=shard)
        digests[name] = [r.sha256 for r in _manifest(tmp_path / name)]
    assert len(set(digests["one process"])) == 10
    assert digests["two shards"] == digests["one process"] == digests["three shards"]
    render = json.loads((tmp_path / "two shards" / mf.RUN_FILE).read_text())["render"]
    assert render["batches"].startswith("fixed groups of the plan: plan index // batch_size")


@pytest.mark.parametrize("kw,match", [
    ({"dataset": "ucf-101"}, "Did you mean 'ucf101'"),
    ({"num_videos": 0}, "--num-videos must be a positive"),
    ({"num_videos": -5}, "--num-videos must be a positive"),
    ({"shard": "2/2"}, "--shard must be 'i/n'"),
    ({"batch_size": 0}, "--batch-size must be a positive"),
    ({"preset": "huge"}, "no preset 'huge'; choose one of full, full-random, tiny"),
    ({"generator": "vidr"}, "Did you mean 'vidrd'"),
    ({"model": "some/folder"}, "VidRD reads --weights-dir"),
    ({"settings": "fast"}, "Unknown VidRD settings 'fast'"),
    ({"settings": dataclasses.replace(VIDRD_SETTINGS.get("vidrd-tiny"), num_clips=1)}, "renders 8 frames .* needs 16"),
    ({"protocol_name": "fvd-ucf101-10k"}, "scoring protocol"),
    ({"protocol_name": "tiny-smok"}, "Did you mean 'tiny-smoke'"),
])
def test_bad_input_is_a_clear_error(tmp_path, kw, match):
    with pytest.raises(VidrdBenchError, match=match):
        _run(tmp_path, FakePipeline(), **kw)
    assert not (tmp_path / mf.RUN_FILE).exists()


# The tiny model with fewer steps and clips than tiny-smoke: the same code path, a fraction of the CPU time.
QUICK = dataclasses.replace(VIDRD_SETTINGS.get("vidrd-tiny"), name="tiny-quick-test", num_inference_steps=1, num_clips=2)
QUICK_PROTOCOL = dataclasses.replace(PROTOCOLS.get("tiny-smoke"), name="tiny-quick-test", num_frames=12)


class Recording:
    """Wraps a real generator and records the seeds it renders."""

    def __init__(self, generator):
        self.generator, self.seeds = generator, []

    def __call__(self, prompts, seeds, settings):
        self.seeds += seeds
        return self.generator(prompts, seeds, settings)

    def __getattr__(self, name):
        return getattr(self.generator, name)


def test_tiny_model_resume_rerenders_only_the_damaged_video(tmp_path, monkeypatch):
    import vidrd_bench.runners.generate as generate

    built = []
    real_load = generate.load_generator
    monkeypatch.setattr(generate, "load_generator", lambda *a: built.append(Recording(real_load(*a))) or built[-1])
    kw = {"out_dir": tmp_path, "preset": "tiny", "settings": QUICK, "protocol_name": QUICK_PROTOCOL, "num_videos": 6,
          "batch_size": 3,
          "device": "cpu", "show_progress": False}
    first = run_generate(**kw)
    rows = _manifest(tmp_path)
    assert first.rendered == 6 and built[0].seeds == list(range(42, 48)) and all(r.status == "done" for r in rows)
    assert json.loads((tmp_path / mf.RUN_FILE).read_text())["weights"] == built[0].provenance()["weights"] != {}
    before = {r.index: read_video(tmp_path / r.path) for r in rows}
    assert all(v.shape == (QUICK.num_frames, 32, 32, 3) for v in before.values())
    stamps = {r.index: (tmp_path / r.path).stat().st_mtime_ns for r in rows}
    damaged = tmp_path / rows[3].path
    with open(damaged, "r+b") as f:
        f.truncate(damaged.stat().st_size // 2)
    stray = damaged.parent / f".{damaged.name}.zz9.tmp.mp4"
    stray.write_bytes(b"half a video")
    monkeypatch.setattr(generate, "load_generator", lambda *a: built[0])
    again = run_generate(**kw)
    assert (again.rendered, again.skipped) == (1, 5) and built[0].seeds[6:] == [45, 46, 47] and not stray.exists()
    assert {i for i, t in stamps.items() if (tmp_path / rows[i].path).stat().st_mtime_ns != t} == {3}
    after = _manifest(tmp_path)
    assert after[3].sha256 == sha256_file(damaged) and [r.same_video(a) for r, a in zip(rows, after)] == [True] * 6
    assert after[3].sha256 == rows[3].sha256  # its plan group rendered again whole: the same video, bit for bit
    assert np.mean(read_video(damaged) != before[3]) < 1e-3


TORCHRUN_SCRIPT = """
import dataclasses, json, os, sys
from vidrd_bench.runners.generate import run_generate
from vidrd_bench.models.vidrd.settings import VIDRD_SETTINGS
from vidrd_bench.protocols import PROTOCOLS
quick = dataclasses.replace(VIDRD_SETTINGS.get("vidrd-tiny"), name="tiny-quick-test", num_inference_steps=1, num_clips=2)
protocol = dataclasses.replace(PROTOCOLS.get("tiny-smoke"), name="tiny-quick-test", num_frames=12)
r = run_generate(out_dir=sys.argv[1], preset="tiny", settings=quick, protocol_name=protocol, num_videos=5,
                 batch_size=3, device="cpu", show_progress=False)
with open(os.path.join(sys.argv[1], "rank%s.json" % os.environ["RANK"]), "w") as f:
    json.dump({"shard": [r.shard.index, r.shard.count], "rendered": r.rendered}, f)
"""


def test_torchrun_two_gloo_ranks_render_each_index_once(tmp_path):
    script, out = tmp_path / "gen.py", tmp_path / "out"
    script.write_text(TORCHRUN_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script),
           str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["shard"] for r in ranks] == [[0, 2], [1, 2]] and [r["rendered"] for r in ranks] == [2, 3]
    parts = [mf.read_rows(out / mf.PARTS_DIR / f"part-0000{r}-of-00002.jsonl") for r in range(2)]
    assert [[row.index for row in p] for p in parts] == [[0, 1], [2, 3, 4]]
    planned, _ = plan_rows("ucf101", QUICK_PROTOCOL, 5, None)
    merged = _manifest(out)
    assert len(merged) == 5 and all(m.same_video(p) for m, p in zip(merged, planned))
    for row in merged:
        assert row.status == "done" and row.sha256 == sha256_file(out / row.path)
        assert read_video(out / row.path).shape == (QUICK.num_frames, 32, 32, 3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank above (OMP_NUM_THREADS=1): CPU kernels round by their thread count
    try:
        alone = run_generate(out_dir=tmp_path / "alone", preset="tiny", settings=QUICK, protocol_name=QUICK_PROTOCOL,
                             num_videos=5, batch_size=3, device="cpu", show_progress=False)
    finally:
        torch.set_num_threads(threads)
    assert [r.sha256 for r in _manifest(alone.out_dir)] == [r.sha256 for r in merged]  # one process = two ranks


def _free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def test_torchrun_c10d_rendezvous_renders_the_same_videos_as_one_process(tmp_path):
    """The multi-node launch of the README on one machine: torchrun's c10d rendezvous (--nnodes 1, a rendezvous
    endpoint on localhost) with two gloo CPU ranks writes the same videos (sha256) as one process."""
    script, out = tmp_path / "gen.py", tmp_path / "out"
    script.write_text(TORCHRUN_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
           "--rdzv-backend", "c10d", "--rdzv-endpoint", f"localhost:{_free_port()}", "--rdzv-id", "vidrd-test",
           str(script), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [json.loads((out / f"rank{r}.json").read_text())["shard"] for r in range(2)] == [[0, 2], [1, 2]]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank (OMP_NUM_THREADS=1): CPU kernels round by their thread count
    try:
        alone = run_generate(out_dir=tmp_path / "alone", preset="tiny", settings=QUICK, protocol_name=QUICK_PROTOCOL,
                             num_videos=5, batch_size=3, device="cpu", show_progress=False)
    finally:
        torch.set_num_threads(threads)
    merged = _manifest(out)
    assert len(merged) == 5 and all(row.status == "done" for row in merged)
    assert [r.sha256 for r in _manifest(alone.out_dir)] == [r.sha256 for r in merged]


def test_a_saved_wan_pipeline_renders_and_scores_end_to_end(tmp_path):
    """`generate --generator wan --model DIR --dataset ucf101` on a tiny saved WanPipeline, then `score fvd` on the
    tiny random detectors: a record naming the generator, its settings and the folder's digests."""
    from click.testing import CliRunner

    from vidrd_bench.cli import main
    from vidrd_bench.generators.tiny import save_tiny
    from vidrd_bench.results import load_results
    from vidrd_bench.runners.smoke import write_stand_in_real_videos

    folder = save_tiny("wan", tmp_path / "wan")
    run = tmp_path / "run"
    out = CliRunner().invoke(main, ["generate", "--generator", "wan", "--model", str(folder), "--dataset", "ucf101",
                                    "--num-videos", "2", "--settings", "wan-tiny", "--protocol", "tiny-smoke",
                                    "--device", "cpu", "--batch-size", "2", "--out", str(run)])
    assert out.exit_code == 0, out.output
    record = json.loads((run / mf.RUN_FILE).read_text())
    assert record["generator"]["name"] == "wan" and record["generator"]["settings"]["name"] == "wan-tiny"
    assert record["generator"]["conform"]["native"] == [17, 32, 32] and record["generator"]["conform"]["trimmed"]
    assert record["sources"]["pipeline"] == str(folder) and "transformer" in record["weights"]
    assert record["generator"]["random_weights"] is True and "--save-tiny" in record["sources"]["random_weights"]
    assert [read_video(run / r.path).shape for r in _manifest(run)] == [(16, 32, 32, 3)] * 2
    write_stand_in_real_videos(tmp_path / "real", 32, per_class=1)
    out = CliRunner().invoke(main, ["score", "fvd", "--real", str(tmp_path / "real"), "--fake", str(run),
                                    "--protocol", "fvd-smoke-tiny", "--device", "cpu", "--num-workers", "0",
                                    "--bootstrap", "0", "--no-cache", "--no-progress", "--no-per-class",
                                    "--out", str(tmp_path / "fvd.json")])
    assert out.exit_code == 0, out.output
    result = load_results(tmp_path / "fvd.json")[0]
    assert result.metric == "fvd" and result.n == 2 and result.value > 0 and result.smoke
    assert result.generator["name"] == "wan" and result.generation_protocol["name"] == "tiny-smoke"


@pytest.mark.parametrize("protocol", [None, "tiny-smoke"])
def test_resuming_with_another_preset_is_refused_before_any_model_is_built(tmp_path, monkeypatch, protocol):
    """The cheap refusals (protocol, generator preset) come before loading: a full model is never built for a
    folder it cannot render into."""
    _run(tmp_path, FakePipeline())

    def never(*args, **kwargs):
        """Stands in for loading the generator: must not be reached."""
        raise AssertionError("built the generator before refusing the folder")

    monkeypatch.setattr("vidrd_bench.runners.generate.load_generator", never)
    with pytest.raises((RunStateError, ProtocolMismatchError), match="tiny"):
        run_generate(out_dir=tmp_path, preset="full-random", protocol_name=protocol, num_videos=6, batch_size=4,
                     show_progress=False, device="cpu")
