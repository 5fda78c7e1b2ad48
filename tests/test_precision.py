"""The named precision through generate, run.json, resume, bench and the CLI: a non-protocol precision carries its
name and its measured agreement to bf16, and never mixes with the protocol's (tables: tests/report)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_generate import FakePipeline

from vidrd_bench.cli import main
from vidrd_bench.datasets import manifest as mf
from vidrd_bench.core.errors import RunStateError
from vidrd_bench.runners.generate import run_generate
from vidrd_bench.models.vidrd.fp8 import bf16_linears
from vidrd_bench.models.vidrd.settings import VIDRD_SETTINGS
from vidrd_bench.generators.vidrd import load as load_vidrd
from vidrd_bench.precisions import PrecisionError, float32_record, used_precision, video_agreement
from vidrd_bench.core.registry import UnknownNameError

AGREEMENT = {"videos": 2, "uint8_mean_abs_diff": 1.25, "uint8_p99_abs_diff": 6.0, "uint8_max_abs_diff": 19}


class FakeFp8(FakePipeline):
    """test_generate's seed-determined fake, claiming a precision; records the videos its agreement was measured on."""

    def __init__(self, precision: str = "fp8-e4m3", calibration: dict | None = None) -> None:
        super().__init__()
        self._precision = precision
        self.calibration = calibration
        self.measured: list[list[int]] = []

    def provenance(self):
        return {**super().provenance(), "precision_calibration": self.calibration}

    @property
    def precision(self) -> str:
        return self._precision

    def precision_agreement(self, prompts, seeds, settings):
        self.measured.append(list(seeds))
        return dict(AGREEMENT)


def _run(out, instance=None, **kw):
    kw = {"preset": "tiny", "num_videos": 5, "batch_size": 2, "show_progress": False, "device": "cpu", **kw}
    return run_generate(out_dir=out, instance=instance, **kw)


def _run_json(out):
    return json.loads((out / mf.RUN_FILE).read_text())


def test_run_json_records_precision_and_agreement_measured_once(tmp_path):
    """The first 2 planned videos are measured; a resume keeps that record and measures nothing again."""
    fake = FakeFp8()
    _run(tmp_path, fake, precision="fp8-e4m3")
    run = _run_json(tmp_path)
    first = [r.seed for r in mf.read_rows(tmp_path / mf.MANIFEST_FILE)[:2]]
    assert fake.measured == [first]
    assert run["precision"] == {"name": "fp8-e4m3", "protocol": False, "agreement_to_bf16": AGREEMENT}
    assert run["render"]["precision"] == "fp8-e4m3"
    (tmp_path / mf.read_rows(tmp_path / mf.MANIFEST_FILE)[3].path).unlink()
    again = FakeFp8()
    assert _run(tmp_path, again, precision="fp8-e4m3").rendered == 1
    assert again.measured == [] and _run_json(tmp_path)["precision"] == run["precision"]


CALIBRATION = {"ucf101_classes": ["Archery"], "seeds": [0], "timesteps": [751, 1], "headroom": 2.0,
               "scales_sha256_16": "00aa"}


def test_resume_refuses_a_different_fp8_calibration(tmp_path):
    """run.json records the calibration; a resume with the same one renders on, with another one (or into a folder
    made without calibrated scales) it is refused, saying both."""
    _run(tmp_path / "a", FakeFp8(calibration=CALIBRATION), precision="fp8-e4m3", num_videos=3)
    run = _run_json(tmp_path / "a")
    assert run["precision"] == {"name": "fp8-e4m3", "protocol": False, "agreement_to_bf16": AGREEMENT,
                                "calibration": CALIBRATION}
    rows = mf.read_rows(tmp_path / "a" / mf.MANIFEST_FILE)
    (tmp_path / "a" / rows[2].path).unlink()
    moved = {**CALIBRATION, "scales_sha256_16": "00bb"}
    with pytest.raises(PrecisionError, match=r"digest 00aa.*this run calibrates .*digest 00bb.*new --out"):
        _run(tmp_path / "a", FakeFp8(calibration=moved), precision="fp8-e4m3", num_videos=3)
    same = FakeFp8(calibration=dict(CALIBRATION))
    assert _run(tmp_path / "a", same, precision="fp8-e4m3", num_videos=3).rendered == 1 and same.measured == []
    _run(tmp_path / "b", FakeFp8(), precision="fp8-e4m3", num_videos=2)
    (tmp_path / "b" / mf.read_rows(tmp_path / "b" / mf.MANIFEST_FILE)[1].path).unlink()
    with pytest.raises(PrecisionError, match="made without static calibrated scales"):
        _run(tmp_path / "b", FakeFp8(calibration=CALIBRATION), precision="fp8-e4m3", num_videos=2)


def test_bf16_runs_record_the_protocol_precision(tmp_path):
    """The protocol's precision on the CPU computes in float32, and run.json says so (issue 29.9: not 'bf16' beside
    dtype float32); on CUDA (bfloat16) the record is the protocol's bf16."""
    _run(tmp_path, FakeFp8("bf16"))
    run = _run_json(tmp_path)
    assert run["render"]["dtype"] == "float32" and run["render"]["precision"] == "fp32"
    assert run["precision"] == float32_record() and run["precision"]["name"] == "fp32"
    assert not run["precision"]["protocol"] and "float32" in run["precision"]["note"]
    assert used_precision("bf16", "torch.bfloat16") == "bf16" and used_precision("fp8-e4m3", "float32") == "fp8-e4m3"


def test_resume_refuses_another_precision(tmp_path):
    """fp8 videos never mix with bf16 ones, in either order; a run.json from before precisions counts as bf16 (fp32 where it rendered in float32)."""
    _run(tmp_path / "a", FakeFp8(), precision="fp8-e4m3", num_videos=2)
    with pytest.raises(RunStateError, match=r"precision 'fp8-e4m3'.*would use 'fp32'.*--precision fp8-e4m3"):
        _run(tmp_path / "a", num_videos=2)
    _run(tmp_path / "b", FakeFp8("bf16"), num_videos=2)
    run = _run_json(tmp_path / "b")
    del run["render"]["precision"]
    (tmp_path / "b" / mf.RUN_FILE).write_text(json.dumps(run))
    (tmp_path / "b" / mf.read_rows(tmp_path / "b" / mf.MANIFEST_FILE)[1].path).unlink()
    with pytest.raises(RunStateError, match=r"precision 'fp32'.*would use 'fp8-e4m3'.*--precision bf16 on a CPU"):
        _run(tmp_path / "b", FakeFp8(), precision="fp8-e4m3", num_videos=2)


def test_generator_and_name_checks(tmp_path):
    """An instance at another precision, a generator without the precision, an unknown name: clear errors."""
    with pytest.raises(PrecisionError, match="renders with precision 'bf16', but this run asks for 'fp8-e4m3'"):
        _run(tmp_path / "a", FakeFp8("bf16"), precision="fp8-e4m3")
    with pytest.raises(PrecisionError, match="'modelscope' renders only with precision bf16"):
        _run(tmp_path / "b", FakeFp8(), generator="modelscope", precision="fp8-e4m3")
    with pytest.raises(UnknownNameError, match="Did you mean 'fp8-e4m3'"):
        _run(tmp_path / "c", FakeFp8(), precision="fp8-e4m4")


def test_generators_lists_each_ones_precisions():
    out = CliRunner().invoke(main, ["generators"]).output
    sections = dict(zip(["vidrd", "modelscope"], [out.split("vidrd:", 1)[1].split("modelscope:")[0],
                                                  out.split("modelscope:", 1)[1].split("animatediff:")[0]]))
    assert "--precision: bf16, fp8-e4m3" in sections["vidrd"]
    assert "--precision: bf16\n" in sections["modelscope"]


def test_tiny_vidrd_fp8_agreement_is_its_eager_fp8_vs_bf16_render(tmp_path):
    """The recorded agreement equals the tiny model's own fp8 and bf16-linear renders of the first 2 videos."""
    gen = load_vidrd("tiny", device="cpu", compile=False, precision="fp8-e4m3", fp8_emulation=True)
    assert gen.provenance()["precision"] == "fp8-e4m3" and gen.provenance()["converted_layers"]["converted"] == 12
    _run(tmp_path, gen, precision="fp8-e4m3", num_videos=3)
    record = _run_json(tmp_path)["precision"]
    assert record["calibration"] == gen.pipeline.calibration and record["calibration"]["layers"] == 12
    recorded = record["agreement_to_bf16"]
    rows = mf.read_rows(tmp_path / mf.MANIFEST_FILE)[:2]
    tiny = VIDRD_SETTINGS.get("vidrd-tiny")
    prompts, seeds = [r.prompt for r in rows], [r.seed for r in rows]
    fp8 = gen.pipeline(prompts, seeds, tiny).videos
    with bf16_linears(gen.pipeline.unet):
        ref = gen.pipeline(prompts, seeds, tiny).videos
    diff = (fp8.int() - ref.int()).abs().numpy()
    assert recorded["videos"] == 2 and recorded["uint8_max_abs_diff"] == diff.max() > 0
    assert recorded["uint8_mean_abs_diff"] == pytest.approx(diff.mean(), abs=1e-4)
    assert recorded["uint8_p99_abs_diff"] == np.percentile(diff, 99)


def test_video_agreement_known_values():
    """|diff| over 200 values: 100 zeros, 98 ones, one 7 and one 200: mean 305 / 200 (computed in int, no uint8 wrap-around)."""
    a = torch.zeros(2, 100, dtype=torch.uint8)
    b = a.clone()
    b[1, :98] = 1
    b[1, 98], a[1, 99] = 7, 200
    got = video_agreement(a, b)
    assert got == {"videos": 2, "uint8_mean_abs_diff": 1.525, "uint8_p99_abs_diff": pytest.approx(1 + 6 * 0.01),
                   "uint8_max_abs_diff": 200}


def test_fp8_on_cpu_is_refused_by_generate_and_bench(tmp_path):
    """The CLI prints one paragraph and exits 2 (no GPU with FP8 tensor cores here); nothing is rendered."""
    out = tmp_path / "run"
    for args in (["generate", "--preset", "tiny", "--num-videos", "2", "--out", str(out)], ["bench", "--preset", "tiny"]):
        res = CliRunner().invoke(main, [*args, "--device", "cpu", "--precision", "fp8-e4m3"])
        assert res.exit_code == 2 and "FP8 tensor-core GEMMs" in res.output and "Traceback" not in res.output
    assert not list(out.glob("videos/*.mp4"))
