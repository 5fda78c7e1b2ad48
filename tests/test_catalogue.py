"""The bad-input catalogue: many wrong inputs through the CLI in-process; none may print a traceback or succeed."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from tests.hostile import RunsCode, huge_gif, npz_declaring, vidrd_weights_folder
from tests.report.report_fixtures import make_record
from tests.runners.test_generate import FakePipeline
from vidrd_bench.cli import main
from vidrd_bench.datasets import manifest as mf
from vidrd_bench.metrics.detectors.i3d import export_torchscript, tiny_i3d
from vidrd_bench.runners.generate import run_generate
from vidrd_bench.core.lock import PartLock
from vidrd_bench.metrics.stats import StatsFile, save_stats
from vidrd_bench.protocols import PROTOCOLS

BINARY = bytes(range(256)) * 4
MARKER = "hostile-code-ran.txt"  # written only if a hostile file's code runs
NOT_WRITABLE = "/proc/version/out.json"  # under a file of a read-only file system: no one can create it


def _record(tmp, name, **kw):
    """A result JSON file whose record has the fields of make_record overridden by kw (None deletes)."""
    d = make_record("fvd", 371.25).to_dict()
    for k, v in kw.items():
        d.pop(k) if v is None else d.__setitem__(k, v)
    (tmp / name).write_text(json.dumps(d))


def _stats(tmp, name, drop=(), **arrays):
    """A statistics npz made by save_stats, then rewritten without `drop` keys / with `arrays` replaced."""
    mu = np.zeros(400)
    stats = StatsFile(mu=mu, sigma=np.eye(400), count=10, detector="i3d-tiny-random", detector_sha256={},
                      protocol=PROTOCOLS.get("fvd-smoke-tiny").to_dict(), source="test", extra={})
    path = save_stats(tmp / name, stats)
    with np.load(path) as data:
        d = {k: data[k] for k in data.files if k not in drop}
    d.update(arrays)
    np.savez(path, **d)


def _replace(path, link_to):
    """Replace the file or folder `path` by a symbolic link to `link_to`, or by a named pipe when that is None."""
    shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    os.mkfifo(path) if link_to is None else path.symlink_to(link_to)


def _run_folder(tmp, name):
    """A finished tiny-smoke run of 4 videos rendered by the fake pipeline."""
    run_generate(out_dir=tmp / name, instance=FakePipeline(), preset="tiny", num_videos=4, batch_size=2,
                 show_progress=False)
    return tmp / name


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A workspace of good and bad files; keys name what each path holds."""
    t = tmp_path_factory.mktemp("catalogue")
    (t / "a_file").write_text("x")
    (t / "binary.bin").write_bytes(BINARY)
    (t / "empty.json").write_text("")
    (t / "list.json").write_text("[1, 2, 3]")
    (t / "string.json").write_text('"fvd"')
    (t / "empty_list.json").write_text("[]")
    (t / "not_json.json").write_text("{fvd: 1")
    _record(t, "good.json")
    _record(t, "good_is.json", metric="is", value=38.0, higher_is_better=True,
            protocol=PROTOCOLS.get("is-c3d-styleganv-10k").to_dict())
    _record(t, "value_abc.json", value="abc")
    _record(t, "value_nan.json", value=float("nan"))
    _record(t, "value_inf.json", value=float("inf"))
    _record(t, "value_null.json", value=None)
    _record(t, "no_metric.json", metric=None)
    _record(t, "metric_int.json", metric=3)
    _record(t, "n_text.json", n="many")
    _record(t, "protocol_str.json", protocol="fvd")
    _record(t, "ci_nan.json", ci_low=float("nan"), ci_high=1.0)
    _record(t, "std_text.json", std="wide")
    _record(t, "ci_misses_value.json", value=5000.0, ci_low=0.0, ci_high=5.0)
    _record(t, "bad_schema.json", schema="other/v1")
    _record(t, "hib_text.json", higher_is_better="yes")
    (t / "list_of_strings.json").write_text('["a", "b"]')
    (t / "good_then_bad.json").write_text(json.dumps([make_record("fvd", 1.0).to_dict(), {"value": 2}]))
    _stats(t, "stats.npz")
    _stats(t, "stats_no_sigma.npz", drop=("sigma",))
    _stats(t, "stats_no_format.npz", drop=("format",))
    _stats(t, "stats_nan.npz", mu=np.full(400, np.nan))
    _stats(t, "stats_shape.npz", sigma=np.eye(3))
    _stats(t, "stats_bad_json.npz", protocol=np.array("{not json"))
    _stats(t, "stats_count_lies.npz", features=np.zeros((12, 400), np.float32))  # states 10 videos, holds 12
    raw = (t / "stats.npz").read_bytes()
    (t / "stats_truncated.npz").write_bytes(raw[: len(raw) // 2])
    (t / "stats_text.npz").write_text("mu sigma")
    np.save(t / "stats_array.npy", np.zeros(3))
    (t / "stats_array.npz").write_bytes((t / "stats_array.npy").read_bytes())
    with zipfile.ZipFile(t / "stats_zip.npz", "w") as z:
        z.writestr("readme.txt", "hello")
    (t / "split_binary.txt").write_bytes(BINARY)
    (t / "split_other.txt").write_text("Nothing/v_Nothing_g01_c01.avi 1\n")
    (t / "real_empty").mkdir()
    (t / "real_dotfiles").mkdir()
    (t / "real_dotfiles" / ".v_X_g01_c01.avi").write_bytes(b"partial")
    (t / "prompts_empty.json").write_text("{}")
    (t / "prompts_list.json").write_text('["a"]')
    (t / "prompts_partial.json").write_text('{"Diving": "a diver"}')
    (t / "prompts_numbers.json").write_text(json.dumps({c: 5 for c in ["ApplyEyeMakeup"]}))
    good = _run_folder(t, "run")
    for name, damage in {
        "run_swapped": lambda d: (d / "videos" / sorted(x.name for x in (d / "videos").iterdir())[0]).write_bytes(
            (d / "videos" / sorted(x.name for x in (d / "videos").iterdir())[1]).read_bytes()),
        "run_missing": lambda d: (d / "videos" / sorted(x.name for x in (d / "videos").iterdir())[0]).unlink(),
        "run_corrupt_json": lambda d: (d / mf.RUN_FILE).write_text("{"),
        "run_binary_json": lambda d: (d / mf.RUN_FILE).write_bytes(BINARY),
        "run_list_json": lambda d: (d / mf.RUN_FILE).write_text("[]"),
        "run_manifest_line": lambda d: (d / mf.MANIFEST_FILE).write_text("not json\n"),
        "run_manifest_binary": lambda d: (d / mf.MANIFEST_FILE).write_bytes(BINARY),
        "run_manifest_fields": lambda d: (d / mf.MANIFEST_FILE).write_text('{"index": 0}\n'),
        "run_lock_link": lambda d: _replace(d / ".locks" / "part-00000-of-00001.lock", t / "a_file"),
        "run_journal_link": lambda d: _replace(d / mf.PARTS_DIR / "part-00000-of-00001.written", t / "a_file"),
        "run_lock_fifo": lambda d: _replace(d / ".locks" / "part-00000-of-00001.lock", None),
        "run_parts_link": lambda d: _replace(d / mf.PARTS_DIR, t / "real_empty"),
        "run_row_outside": lambda d: (shutil.rmtree(d / mf.PARTS_DIR), (d / mf.MANIFEST_FILE).write_text(
            (d / mf.MANIFEST_FILE).read_text().replace('"path": "videos/', '"path": "../../videos/', 1))),
        "run_video_link": lambda d: _replace(d / mf.read_rows(d / mf.MANIFEST_FILE)[0].path, t / "a_file"),
    }.items():
        folder = _run_folder(t, name)
        damage(folder)
    run_generate(out_dir=t / "run_planned", preset="tiny", num_videos=4, plan_only=True)
    only_dot = t / "videos_dot"
    (only_dot / ".hidden").mkdir(parents=True)
    (only_dot / ".hidden" / "a.mp4").write_bytes((good / "videos" / sorted(
        x.name for x in (good / "videos").iterdir())[0]).read_bytes())
    (only_dot / ".a.mp4.x1y2z3w4.tmp.mp4").write_bytes(b"partial")
    (t / "videos_garbage").mkdir()
    (t / "videos_garbage" / "a.mp4").write_bytes(BINARY)
    w = t / "weights_garbage"
    (w / "stable-diffusion-2-1-base").mkdir(parents=True)
    for member in ("unet/config.json", "vae/config.json", "text_encoder/config.json", "tokenizer/vocab.json",
                   "tokenizer/merges.txt", "scheduler/scheduler_config.json"):
        (w / "stable-diffusion-2-1-base" / member).parent.mkdir(parents=True, exist_ok=True)
        (w / "stable-diffusion-2-1-base" / member).write_text("")
    for name in ("ModelT2V.pth", "i3d_torchscript.pt", "rgb_imagenet.pt", "conv3d_deepnetA_ucf.npz", "mean2.npz"):
        (w / name).write_bytes(BINARY)
    _hostile_weights(t)
    _oversized(t)
    export_torchscript(tiny_i3d(), t / "program.pt")  # a TorchScript detector: a program, never loaded untrusted
    (t / "weights_program").mkdir()
    (t / "weights_program" / "i3d_torchscript.pt").write_bytes((t / "program.pt").read_bytes())
    (t / "split_run.txt").write_text("".join(f"X/{v.name} 1\n" for v in sorted((t / "run" / "videos").iterdir())))
    return t


def _oversized(t):
    """Small files that declare huge contents: a GIF of 8000x8000 frames, an npz with a 20000x20000 sigma header, a
    sparse 100 MB record, a frame folder of 24000x1 images."""
    (t / "videos_huge_gif").mkdir()
    huge_gif(t / "videos_huge_gif" / "bomb.gif")
    npz_declaring(t / "stats_huge_sigma.npz", (20000, 20000))
    with open(t / "record_huge.json", "wb") as f:
        f.truncate(100 << 20)
    (t / "videos_needle" / "clip").mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (24000, 1)).save(t / "videos_needle" / "clip" / f"{i}.png")


def _hostile_weights(t):
    """Weights folders whose ModelT2V.pth or VAE .bin would run code (write MARKER) if fully unpickled."""
    tensors = {"unet.conv_in.weight": torch.zeros(2)}
    vidrd_weights_folder(t / "weights_code_model", {"state_dict": tensors, "hyper_parameters": RunsCode(t / MARKER)},
                         {"decoder.conv_out.weight": torch.zeros(2)})
    vidrd_weights_folder(t / "weights_code_vae", {"state_dict": tensors}, {"x": RunsCode(t / MARKER)})


GEN = ["generate", "--preset", "tiny", "--num-videos", "4", "--batch-size", "2", "--device", "cpu", "--no-compile"]
FVD = ["score", "fvd", "--protocol", "fvd-smoke-tiny", "--num-workers", "0", "--no-progress", "--bootstrap", "0"]
IS = ["score", "is", "--protocol", "is-smoke-tiny", "--num-workers", "0", "--no-progress", "--bootstrap", "0"]
STATS = ["stats", "ucf101", "--protocol", "fvd-smoke-tiny", "--num-workers", "0", "--no-progress"]
REPORT = ["report", "--baseline", "{good.json}", "--current", "{good.json}"]

CASES: list[tuple[str, list[str]]] = [
    # generate: options
    ("gen-num-videos-0", GEN[:3] + ["--num-videos", "0", "--out", "{tmp}/g"]),
    ("gen-num-videos-neg", GEN[:3] + ["--num-videos", "-3", "--out", "{tmp}/g"]),
    ("gen-num-videos-text", GEN[:3] + ["--num-videos", "ten", "--out", "{tmp}/g"]),
    ("gen-batch-0", GEN + ["--batch-size", "0", "--out", "{tmp}/g"]),
    ("gen-batch-neg", GEN + ["--batch-size", "-1", "--out", "{tmp}/g"]),
    ("gen-shard-text", GEN + ["--shard", "half", "--out", "{tmp}/g"]),
    ("gen-shard-out-of-range", GEN + ["--shard", "2/2", "--out", "{tmp}/g"]),
    ("gen-shard-zero", GEN + ["--shard", "0/0", "--out", "{tmp}/g"]),
    ("gen-shard-negative", GEN + ["--shard", "-1/2", "--out", "{tmp}/g"]),
    ("gen-shard-float", GEN + ["--shard", "0.5/2", "--out", "{tmp}/g"]),
    ("gen-unknown-preset", ["generate", "--preset", "huge", "--out", "{tmp}/g"]),
    ("gen-unknown-protocol", GEN + ["--protocol", "ucf202", "--out", "{tmp}/g"]),
    ("gen-scoring-protocol", GEN + ["--protocol", "fvd-ucf101-10k", "--out", "{tmp}/g"]),
    ("gen-tiny-published", GEN + ["--protocol", "ucf101-vidrd", "--out", "{tmp}/g"]),
    ("gen-tiny-release", GEN + ["--protocol", "ucf101-vidrd-release", "--out", "{tmp}/g"]),
    ("gen-unknown-dataset", GEN + ["--dataset", "kinetics", "--out", "{tmp}/g"]),
    ("gen-bad-device", GEN[:-3] + ["--device", "tpu9", "--out", "{tmp}/g"]),
    ("gen-cuda-absent", GEN[:-3] + ["--device", "cuda:7", "--out", "{tmp}/g"]),
    ("gen-resume-other-batch", GEN[:5] + ["--batch-size", "3", "--device", "cpu", "--out", "{run}"]),
    # generate: output folder
    ("gen-out-is-file", GEN + ["--out", "{a_file}"]),
    ("gen-out-under-file", GEN + ["--out", "{a_file}/sub"]),
    ("gen-out-read-only", GEN + ["--out", "/proc/vidrd-bench-out"]),
    ("gen-out-other-protocol", GEN + ["--protocol", "tiny-smoke", "--num-videos", "5", "--out", "{run}"]),
    ("gen-out-corrupt-run-json", GEN + ["--out", "{run_corrupt_json}"]),
    ("gen-out-binary-run-json", GEN + ["--out", "{run_binary_json}"]),
    ("gen-out-list-run-json", GEN + ["--out", "{run_list_json}"]),
    ("gen-out-corrupt-manifest", GEN + ["--out", "{run_manifest_line}"]),
    ("gen-out-binary-manifest", GEN + ["--out", "{run_manifest_binary}"]),
    ("gen-out-manifest-fields", GEN + ["--out", "{run_manifest_fields}"]),
    ("gen-out-locked", GEN + ["--out", "{locked}"]),
    ("gen-out-lock-symlink", GEN + ["--out", "{run_lock_link}"]),
    ("gen-out-journal-symlink", GEN + ["--out", "{run_journal_link}"]),
    ("gen-out-lock-fifo", GEN + ["--out", "{run_lock_fifo}"]),
    ("gen-out-parts-folder-symlink", GEN + ["--out", "{run_parts_link}"]),
    # generate: prompts and weights
    ("gen-prompts-missing", GEN + ["--prompts", "{tmp}/nope.json", "--out", "{tmp}/g"]),
    ("gen-prompts-binary", GEN + ["--prompts", "{binary.bin}", "--out", "{tmp}/g"]),
    ("gen-prompts-empty-file", GEN + ["--prompts", "{empty.json}", "--out", "{tmp}/g"]),
    ("gen-prompts-empty-object", GEN + ["--prompts", "{prompts_empty.json}", "--out", "{tmp}/g"]),
    ("gen-prompts-list", GEN + ["--prompts", "{prompts_list.json}", "--out", "{tmp}/g"]),
    ("gen-prompts-partial", GEN + ["--prompts", "{prompts_partial.json}", "--out", "{tmp}/g"]),
    ("gen-prompts-numbers", GEN + ["--prompts", "{prompts_numbers.json}", "--out", "{tmp}/g"]),
    ("gen-prompts-not-json", GEN + ["--prompts", "{not_json.json}", "--out", "{tmp}/g"]),
    ("gen-full-no-weights", ["generate", "--preset", "full", "--protocol", "tiny-smoke", "--num-videos", "2",
                             "--device", "cpu", "--weights-dir", "{tmp}/none", "--out", "{tmp}/g_full"]),
    ("gen-full-garbage-weights", ["generate", "--preset", "full", "--protocol", "tiny-smoke", "--num-videos", "2",
                                  "--device", "cpu", "--weights-dir", "{weights_garbage}", "--out", "{tmp}/g_full2"]),
    # score fvd
    ("fvd-real-missing", FVD + ["--real", "{tmp}/nope.npz", "--fake", "{run}"]),
    ("fvd-fake-missing", FVD + ["--real", "{stats.npz}", "--fake", "{tmp}/nope"]),
    ("fvd-fake-is-file", FVD + ["--real", "{stats.npz}", "--fake", "{a_file}"]),
    ("fvd-fake-empty", FVD + ["--real", "{stats.npz}", "--fake", "{real_empty}"]),
    ("fvd-fake-only-dotfiles", FVD + ["--real", "{stats.npz}", "--fake", "{videos_dot}"]),
    ("fvd-fake-garbage-video", FVD + ["--real", "{stats.npz}", "--fake", "{videos_garbage}"]),
    ("fvd-swapped-video", FVD + ["--real", "{stats.npz}", "--fake", "{run_swapped}"]),
    ("fvd-missing-video", FVD + ["--real", "{stats.npz}", "--fake", "{run_missing}"]),
    ("fvd-corrupt-run-json", FVD + ["--real", "{stats.npz}", "--fake", "{run_corrupt_json}"]),
    ("fvd-binary-run-json", FVD + ["--real", "{stats.npz}", "--fake", "{run_binary_json}"]),
    ("fvd-list-run-json", FVD + ["--real", "{stats.npz}", "--fake", "{run_list_json}"]),
    ("fvd-corrupt-manifest", FVD + ["--real", "{stats.npz}", "--fake", "{run_manifest_line}"]),
    ("fvd-binary-manifest", FVD + ["--real", "{stats.npz}", "--fake", "{run_manifest_binary}"]),
    ("fvd-parts-folder-symlink", FVD + ["--real", "{stats.npz}", "--fake", "{run_parts_link}"]),
    ("fvd-manifest-row-outside", FVD + ["--real", "{stats.npz}", "--fake", "{run_row_outside}"]),
    ("fvd-video-link-outside", FVD + ["--real", "{stats.npz}", "--fake", "{run_video_link}"]),
    ("fvd-fake-huge-gif", FVD + ["--real", "{stats.npz}", "--fake", "{videos_huge_gif}"]),
    ("fvd-stats-huge-sigma", FVD + ["--real", "{stats_huge_sigma.npz}", "--fake", "{run}"]),
    ("fvd-incomplete", FVD + ["--real", "{stats.npz}", "--fake", "{run_planned}"]),
    ("fvd-none-done", FVD + ["--real", "{stats.npz}", "--fake", "{run_planned}", "--allow-incomplete"]),
    ("fvd-stats-truncated", FVD + ["--real", "{stats_truncated.npz}", "--fake", "{run}"]),
    ("fvd-stats-no-sigma", FVD + ["--real", "{stats_no_sigma.npz}", "--fake", "{run}"]),
    ("fvd-stats-no-format", FVD + ["--real", "{stats_no_format.npz}", "--fake", "{run}"]),
    ("fvd-stats-nan", FVD + ["--real", "{stats_nan.npz}", "--fake", "{run}"]),
    ("fvd-stats-shape", FVD + ["--real", "{stats_shape.npz}", "--fake", "{run}"]),
    ("fvd-stats-bad-json", FVD + ["--real", "{stats_bad_json.npz}", "--fake", "{run}"]),
    ("fvd-stats-count-lies", FVD + ["--real", "{stats_count_lies.npz}", "--fake", "{run}"]),
    ("fvd-stats-text", FVD + ["--real", "{stats_text.npz}", "--fake", "{run}"]),
    ("fvd-stats-npy", FVD + ["--real", "{stats_array.npz}", "--fake", "{run}"]),
    ("fvd-stats-other-zip", FVD + ["--real", "{stats_zip.npz}", "--fake", "{run}"]),
    ("fvd-stats-binary", FVD + ["--real", "{binary.bin}", "--fake", "{run}"]),
    ("fvd-out-is-dir", FVD + ["--real", "{stats.npz}", "--fake", "{run}", "--out", "{real_empty}"]),
    ("fvd-out-under-file", FVD + ["--real", "{stats.npz}", "--fake", "{run}", "--out", "{a_file}/fvd.json"]),
    ("fvd-out-read-only", FVD + ["--real", "{stats.npz}", "--fake", "{run}", "--out", NOT_WRITABLE]),
    ("fvd-unknown-protocol", ["score", "fvd", "--protocol", "fvd-x", "--real", "{stats.npz}", "--fake", "{run}"]),
    ("fvd-is-protocol", ["score", "fvd", "--protocol", "is-smoke-tiny", "--real", "{stats.npz}", "--fake", "{run}"]),
    ("fvd-bootstrap-neg", FVD + ["--bootstrap", "-1", "--real", "{stats.npz}", "--fake", "{run}"]),
    ("fvd-batch-0", FVD + ["--batch-size", "0", "--real", "{stats.npz}", "--fake", "{run}"]),
    ("fvd-workers-neg", FVD + ["--num-workers", "-1", "--real", "{stats.npz}", "--fake", "{run}"]),
    ("fvd-real-folder-empty", FVD + ["--real", "{real_empty}", "--fake", "{run}"]),
    ("fvd-real-folder-dotfiles", FVD + ["--real", "{real_dotfiles}", "--fake", "{run}"]),
    ("fvd-detector-garbage", ["score", "fvd", "--real", "{run}", "--fake", "{run}", "--device", "cpu",
                              "--detector-weights", "{binary.bin}"]),
    ("fvd-detector-untrusted-program", ["score", "fvd", "--real", "{run}", "--split-file", "{split_run.txt}",
                                        "--fake", "{run}", "--device", "cpu", "--detector-weights", "{program.pt}"]),
    ("stats-detector-untrusted-program", ["stats", "ucf101", "--videos", "{run}", "--split-file", "{split_run.txt}",
                                          "--device", "cpu", "--detector-weights", "{program.pt}",
                                          "--out", "{tmp}/s.npz"]),
    ("weights-check-untrusted-program", ["weights", "--no-hash", "--weights-dir", "{weights_program}", "--check",
                                         "fvd-ucf101-10k"]),
    ("fvd-bad-device", FVD + ["--device", "gpu", "--real", "{stats.npz}", "--fake", "{run}"]),
    # score is
    ("is-fake-missing", IS + ["--fake", "{tmp}/nope"]),
    ("is-swapped-video", IS + ["--fake", "{run_swapped}"]),
    ("is-missing-video", IS + ["--fake", "{run_missing}"]),
    ("is-corrupt-run-json", IS + ["--fake", "{run_corrupt_json}"]),
    ("is-incomplete", IS + ["--fake", "{run_planned}"]),
    ("is-none-done", IS + ["--fake", "{run_planned}", "--allow-incomplete"]),
    ("is-only-dotfiles", IS + ["--fake", "{videos_dot}"]),
    ("is-out-is-dir", IS + ["--fake", "{run}", "--out", "{real_empty}"]),
    ("is-out-read-only", IS + ["--fake", "{run}", "--out", NOT_WRITABLE]),
    ("is-fvd-protocol", ["score", "is", "--protocol", "fvd-smoke-tiny", "--fake", "{run}"]),
    ("is-detector-garbage", ["score", "is", "--fake", "{run}", "--device", "cpu", "--weights-dir", "{weights_garbage}",
                             "--detector-weights", "{binary.bin}"]),
    ("is-real-weights-missing", ["score", "is", "--fake", "{run}", "--device", "cpu", "--weights-dir", "{tmp}/none"]),
    ("is-weights-garbage", ["score", "is", "--fake", "{run}", "--device", "cpu", "--weights-dir", "{weights_garbage}"]),
    # stats
    ("stats-videos-missing", STATS + ["--videos", "{tmp}/nope"]),
    ("stats-videos-empty", STATS + ["--videos", "{real_empty}", "--out", "{tmp}/s.npz"]),
    ("stats-videos-dotfiles", STATS + ["--videos", "{real_dotfiles}", "--out", "{tmp}/s.npz"]),
    ("stats-split-binary", STATS + ["--videos", "{run}", "--split-file", "{split_binary.txt}", "--out", "{tmp}/s.npz"]),
    ("stats-split-other", STATS + ["--videos", "{run}", "--split-file", "{split_other.txt}", "--out", "{tmp}/s.npz"]),
    ("stats-size-0", STATS + ["--videos", "{run}", "--size", "0"]),
    ("stats-out-is-dir", STATS + ["--videos", "{run}", "--out", "{real_empty}"]),
    ("stats-out-under-file", STATS + ["--videos", "{run}", "--out", "{a_file}/s.npz"]),
    ("stats-out-read-only", STATS + ["--videos", "{run}", "--out", "/proc/version/s.npz"]),
    ("stats-unknown-dataset", ["stats", "kinetics", "--videos", "{run}"]),
    ("stats-is-protocol", ["stats", "ucf101", "--protocol", "is-smoke-tiny", "--videos", "{run}"]),
    ("stats-real-weights-missing", ["stats", "ucf101", "--videos", "{run}", "--device", "cpu", "--weights-dir",
                                    "{tmp}/none", "--out", "{tmp}/s.npz"]),
    # table
    ("table-missing", ["table", "{tmp}/nope.json"]),
    ("table-binary", ["table", "{binary.bin}"]),
    ("table-empty-file", ["table", "{empty.json}"]),
    ("table-list-of-ints", ["table", "{list.json}"]),
    ("table-list-of-strings", ["table", "{list_of_strings.json}"]),
    ("table-string", ["table", "{string.json}"]),
    ("table-empty-list", ["table", "{empty_list.json}"]),
    ("table-not-json", ["table", "{not_json.json}"]),
    ("table-value-abc", ["table", "{value_abc.json}"]),
    ("table-value-nan", ["table", "{value_nan.json}"]),
    ("table-value-inf", ["table", "{value_inf.json}"]),
    ("table-value-null", ["table", "{value_null.json}"]),
    ("table-no-metric", ["table", "{no_metric.json}"]),
    ("table-metric-int", ["table", "{metric_int.json}"]),
    ("table-n-text", ["table", "{n_text.json}"]),
    ("table-protocol-str", ["table", "{protocol_str.json}"]),
    ("table-ci-nan", ["table", "{ci_nan.json}"]),
    ("table-std-text", ["table", "{std_text.json}"]),
    ("table-bad-schema", ["table", "{bad_schema.json}"]),
    ("table-hib-text", ["table", "{hib_text.json}"]),
    ("table-second-entry-bad", ["table", "{good_then_bad.json}"]),
    ("table-record-huge", ["table", "{record_huge.json}"]),
    ("report-record-huge", ["report", "--baseline", "{good.json}", "--current", "{record_huge.json}"]),
    ("table-a-folder", ["table", "{real_empty}"]),
    ("table-stats-file", ["table", "{stats.npz}"]),
    ("table-bad-format", ["table", "{good.json}", "--format", "pdf"]),
    ("table-out-is-dir", ["table", "{good.json}", "--out", "{real_empty}"]),
    ("table-out-under-file", ["table", "{good.json}", "--out", "{a_file}/t.md"]),
    ("table-out-read-only", ["table", "{good.json}", "--out", "/proc/version/t.md"]),
    # report
    ("report-nan-baseline", ["report", "--baseline", "{value_nan.json}", "--current", "{good.json}"]),
    ("report-nan-current", ["report", "--baseline", "{good.json}", "--current", "{value_nan.json}"]),
    ("report-inf-current", ["report", "--baseline", "{good.json}", "--current", "{value_inf.json}"]),
    ("report-binary-baseline", ["report", "--baseline", "{binary.bin}", "--current", "{good.json}"]),
    ("report-missing-current", ["report", "--baseline", "{good.json}", "--current", "{tmp}/nope.json"]),
    ("report-list-current", ["report", "--baseline", "{good.json}", "--current", "{list.json}"]),
    ("report-value-abc", ["report", "--baseline", "{good.json}", "--current", "{value_abc.json}"]),
    ("report-ci-misses-value", ["report", "--baseline", "{good.json}", "--current", "{ci_misses_value.json}"]),
    ("table-ci-misses-value", ["table", "{ci_misses_value.json}"]),
    ("report-no-common-metric", ["report", "--baseline", "{good.json}", "--current", "{good_is.json}"]),
    ("report-tolerance-text", REPORT + ["--tolerance", "fvd=abc"]),
    ("report-tolerance-neg", REPORT + ["--tolerance", "fvd=-1"]),
    ("report-tolerance-metric", REPORT + ["--tolerance", "psnr=1"]),
    ("report-tolerance-twice", REPORT + ["--tolerance", "fvd=1", "--tolerance", "fvd=2"]),
    ("report-tolerance-nan", REPORT + ["--tolerance", "fvd=nan"]),
    ("report-tolerance-no-eq", REPORT + ["--tolerance", "fvd"]),
    ("report-markdown-dir", REPORT + ["--markdown", "{real_empty}"]),
    ("report-junit-under-file", REPORT + ["--junit", "{a_file}/j.xml"]),
    ("report-html-read-only", REPORT + ["--html", "/proc/version/r.html"]),
    ("report-videos-missing", REPORT + ["--html", "{tmp}/r.html", "--videos", "{tmp}/nope"]),
    ("report-videos-empty", REPORT + ["--html", "{tmp}/r2.html", "--videos", "{real_empty}"]),
    # contact-sheet
    ("sheet-height-neg", ["contact-sheet", "{run}", "--out", "{tmp}/s.png", "--height", "-5"]),
    ("sheet-height-0", ["contact-sheet", "{run}", "--out", "{tmp}/s.png", "--height", "0"]),
    ("sheet-frames-0", ["contact-sheet", "{run}", "--out", "{tmp}/s.png", "--frames", "0"]),
    ("sheet-frames-neg", ["contact-sheet", "{run}", "--out", "{tmp}/s.png", "--frames", "-2"]),
    ("sheet-per-class-0", ["contact-sheet", "{run}", "--out", "{tmp}/s.png", "--per-class", "0"]),
    ("sheet-height-text", ["contact-sheet", "{run}", "--out", "{tmp}/s.png", "--height", "tall"]),
    ("sheet-run-missing", ["contact-sheet", "{tmp}/nope", "--out", "{tmp}/s.png"]),
    ("sheet-run-empty", ["contact-sheet", "{real_empty}", "--out", "{tmp}/s.png"]),
    ("sheet-run-dotfiles", ["contact-sheet", "{videos_dot}", "--out", "{tmp}/s.png"]),
    ("sheet-run-planned", ["contact-sheet", "{run_planned}", "--out", "{tmp}/s.png"]),
    ("sheet-corrupt-manifest", ["contact-sheet", "{run_manifest_line}", "--out", "{tmp}/s.png"]),
    ("sheet-garbage-video", ["contact-sheet", "{videos_garbage}", "--out", "{tmp}/s.png"]),
    ("sheet-manifest-row-outside", ["contact-sheet", "{run_row_outside}", "--out", "{tmp}/s.png"]),
    ("sheet-video-link-outside", ["contact-sheet", "{run_video_link}", "--out", "{tmp}/s.png"]),
    ("sheet-video-changed", ["contact-sheet", "{run_swapped}", "--out", "{tmp}/s.png"]),
    ("report-videos-row-outside", REPORT + ["--html", "{tmp}/r3.html", "--videos", "{run_row_outside}"]),
    ("sheet-needle-frames", ["contact-sheet", "{videos_needle}", "--out", "{tmp}/s.png"]),
    ("sheet-out-is-dir", ["contact-sheet", "{run}", "--out", "{real_empty}"]),
    ("sheet-out-under-file", ["contact-sheet", "{run}", "--out", "{a_file}/s.png"]),
    ("sheet-out-read-only", ["contact-sheet", "{run}", "--out", "/proc/version/s.png"]),
    # weights
    ("weights-check-unknown", ["weights", "--no-hash", "--check", "ucf202"]),
    ("weights-check-missing", ["weights", "--no-hash", "--weights-dir", "{tmp}/none", "--check", "fvd-ucf101-10k"]),
    ("weights-check-garbage-i3d", ["weights", "--no-hash", "--weights-dir", "{weights_garbage}", "--check",
                                   "fvd-ucf101-10k"]),
    ("weights-check-garbage-i3d-pt", ["weights", "--no-hash", "--weights-dir", "{weights_garbage}", "--check",
                                      "fvd-ucf101-10k-i3d-pytorch"]),
    ("weights-check-garbage-c3d", ["weights", "--no-hash", "--weights-dir", "{weights_garbage}", "--check",
                                   "is-c3d-styleganv-10k"]),
    ("weights-check-empty-sd-config", ["weights", "--no-hash", "--weights-dir", "{weights_garbage}", "--check",
                                       "vidrd"]),
    ("weights-check-code-in-model", ["weights", "--no-hash", "--weights-dir", "{weights_code_model}", "--check",
                                     "vidrd"]),
    ("weights-check-code-in-vae", ["weights", "--no-hash", "--weights-dir", "{weights_code_vae}", "--check", "vidrd"]),
    ("gen-full-code-in-model", ["generate", "--preset", "full", "--protocol", "tiny-smoke", "--num-videos", "2",
                                "--device", "cpu", "--weights-dir", "{weights_code_model}", "--out", "{tmp}/g_full3"]),
    # bench and smoke
    ("bench-batch-sizes-0", ["bench", "--preset", "tiny", "--batch-sizes", "0"]),
    ("bench-batch-sizes-text", ["bench", "--preset", "tiny", "--batch-sizes", "a,b"]),
    ("bench-batch-sizes-empty", ["bench", "--preset", "tiny", "--batch-sizes", ""]),
    ("bench-iters-0", ["bench", "--preset", "tiny", "--iters", "0"]),
    ("bench-out-is-dir", ["bench", "--preset", "tiny", "--out", "{real_empty}"]),
    ("bench-out-read-only", ["bench", "--preset", "tiny", "--out", "/proc/version/b.json"]),
    ("bench-unknown-preset", ["bench", "--preset", "huge"]),
    ("smoke-too-few", ["smoke", "--num-videos", "5", "--out", "{tmp}/sm"]),
    ("smoke-out-is-file", ["smoke", "--out", "{a_file}"]),
    ("smoke-out-read-only", ["smoke", "--out", "/proc/vidrd-smoke"]),
    ("unknown-command", ["frobnicate"]),
]


def _expand(args: list[str], ws) -> list[str]:
    """Replace {name} with the workspace path of that name ({tmp}: the workspace itself)."""
    names = {p.name: str(p) for p in ws.iterdir()} | {"tmp": str(ws), "locked": str(ws / "run")}
    return [re.sub(r"\{([^}]+)\}", lambda m: names[m.group(1)], a) for a in args]


def test_catalogue_is_large():
    assert len(CASES) >= 100 and len({name for name, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("name,args", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_without_traceback(ws, name, args, monkeypatch):
    """Exit code 1 or 2 via SystemExit (no uncaught exception), an 'error' line, and no traceback in the output."""
    monkeypatch.setenv("VIDRD_BENCH_WEIGHTS", str(ws / "no-weights-here"))
    lock = PartLock(ws / "run", "part-00000-of-00001").acquire() if name == "gen-out-locked" else None
    try:
        result = CliRunner().invoke(main, _expand(args, ws))
    finally:
        if lock is not None:
            lock.release()
    output = result.output
    assert result.exit_code != 0, f"{name}: silently succeeded:\n{output}"
    assert isinstance(result.exception, SystemExit), f"{name}: uncaught {result.exception!r:.300}"
    assert "Traceback" not in output and "error" in output.lower(), f"{name}:\n{output}"
    assert not (ws / MARKER).exists(), f"{name}: a hostile file's code ran"

