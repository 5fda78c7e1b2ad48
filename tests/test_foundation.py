"""Foundation behaviour: registry, protocols, weights lookup, atomic writes, result records, CLI errors."""

import hashlib
import json

import pytest
from click.testing import CliRunner

from vidrd_bench.cli import main
from vidrd_bench.core.errors import ProtocolMismatchError, VidrdBenchError, WeightsError
from vidrd_bench.core.io import atomic_path, sha256_file, sha256_tree, write_json_atomic
from vidrd_bench.protocols import PROTOCOLS, EvalProtocol, protocol_from_dict
from vidrd_bench.core.registry import Registry, UnknownNameError
from vidrd_bench.results import ResultRecord, load_results, save_results
from vidrd_bench.core import weights
from vidrd_bench.runners import doctor


def test_registry_rejects_duplicates_wrong_types_and_suggests_close_names():
    reg: Registry[int] = Registry("widget", int)
    reg.register("alpha", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("alpha", 2)
    with pytest.raises(TypeError):
        reg.register("beta", "not an int")
    with pytest.raises(UnknownNameError, match="Did you mean 'alpha'"):
        reg.get("alpah")
    assert reg.names() == ["alpha"] and "alpha" in reg and len(reg) == 1


def test_protocol_frame_counts_and_mismatch_refusal():
    p = PROTOCOLS.get("ucf101-vidrd")
    assert p.num_frames == 16
    assert PROTOCOLS.get("ucf101-vidrd-release").num_frames == 24
    assert protocol_from_dict(p.to_dict()) == p
    p.check_same(p.to_dict())
    other = EvalProtocol(name="ucf101-vidrd", height=512)
    with pytest.raises(ProtocolMismatchError, match="height"):
        p.check_same(other)
    with pytest.raises(ProtocolMismatchError, match="predates the split"):
        protocol_from_dict({"name": "ucf101-vidrd", "frames_per_clip": 8})


def test_weights_locate_missing_and_incomplete(tmp_path, monkeypatch):
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    with pytest.raises(WeightsError, match="ModelT2V.pth.*Google Drive"):
        weights.locate("ModelT2V.pth", tmp_path)
    (tmp_path / "vae_finetuned").mkdir()
    (tmp_path / "vae_finetuned" / "config.json").write_text("{}")
    with pytest.raises(WeightsError, match="incomplete: missing diffusion_pytorch_model.bin"):
        weights.locate("vae_finetuned", tmp_path)
    (tmp_path / "ModelT2V.pth").write_bytes(b"abc")
    assert weights.locate("ModelT2V.pth", tmp_path) == tmp_path / "ModelT2V.pth"
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path))
    assert weights.weights_dir(None) == tmp_path


def test_each_scoring_protocol_needs_its_detectors_files_from_the_detector_registry():
    needs = doctor.protocol_weights()
    assert needs["fvd-ucf101-10k"] == needs["fvd-styleganv-2048-16f"] == ("i3d_torchscript.pt",)
    assert needs["fvd-ucf101-10k-i3d-pytorch"] == ("rgb_imagenet.pt",)
    assert needs["is-c3d-tgan"] == needs["is-c3d-styleganv-10k"] == ("conv3d_deepnetA_ucf.npz", "mean2.npz")
    assert "fvd-smoke-tiny" not in needs and "is-smoke-tiny" not in needs  # random-weight detectors need no file
    assert all(n in doctor.known_files() for names in needs.values() for n in names)
    assert {k: v for k, v in doctor.needed_by().items() if k in needs} == needs


def test_sha256_and_atomic_write_keep_old_file_on_failure(tmp_path):
    target = tmp_path / "a.json"
    write_json_atomic(target, {"x": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert sha256_file(target) == hashlib.sha256(target.read_bytes()).hexdigest() == sha256_tree(target)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("1")
    before = sha256_tree(tmp_path / "d")
    (tmp_path / "d" / "f").write_text("2")
    assert sha256_tree(tmp_path / "d") != before


def test_result_record_round_trip_and_provenance(tmp_path):
    rec = ResultRecord.create(metric="fvd", value=363.19, higher_is_better=False, n=10000,
                              protocol=PROTOCOLS.get("fvd-ucf101-10k").to_dict(), ci_low=350.0, ci_high=370.0)
    assert rec.version and rec.date
    save_results(tmp_path / "r.json", [rec])
    assert load_results(tmp_path / "r.json") == [rec]
    (tmp_path / "bad.json").write_text('{"metric": "fvd"}')
    with pytest.raises(VidrdBenchError, match="Not a vidrd-bench result"):
        load_results(tmp_path / "bad.json")


def test_cli_weights_lists_every_missing_file_and_check_fails(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["weights", "--weights-dir", str(tmp_path)])
    assert res.exit_code == 0
    for name, _ in doctor.known_files().items():
        assert name in res.output
    assert res.output.count("obtain from:") == len(doctor.known_files())
    res = runner.invoke(main, ["weights", "--weights-dir", str(tmp_path), "--check", "is-c3d-styleganv-10k"])
    assert res.exit_code == 2 and "conv3d_deepnetA_ucf.npz" in res.output and "Traceback" not in res.output
    assert "generator vidrd:full: stable-diffusion-2-1-base [missing], ModelT2V.pth [missing]" in res.output
    res = runner.invoke(main, ["weights", "--weights-dir", str(tmp_path), "--check", "vidrd"])
    assert res.exit_code == 2 and "vidrd cannot run: stable-diffusion-2-1-base, ModelT2V.pth" in res.output
    assert runner.invoke(main, ["weights", "--weights-dir", str(tmp_path), "--check", "modelscope"]).exit_code == 0
    res = runner.invoke(main, ["weights", "--weights-dir", str(tmp_path), "--check", "ucf101-vidrd"])
    assert res.exit_code == 2 and "evaluation protocols need none" in res.output


def test_ctrl_c_exits_130_and_says_how_to_go_on(monkeypatch):
    import vidrd_bench.runners.generate as generate

    def interrupted(**_):
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "run_generate", interrupted)
    res = CliRunner().invoke(main, ["generate", "--preset", "tiny", "--num-videos", "2", "--device", "cpu"])
    assert res.exit_code == 130 and "Aborted" not in res.output
    assert "interrupted (Ctrl-C)" in res.output and "repeat the same command" in res.output


def test_the_package_namespace_shows_only_the_api():
    import vidrd_bench as vb

    assert {"FVD", "fvd", "score_fvd", "score_is", "compute_real_stats", "load_detector"} <= set(dir(vb))
    assert not {"annotations", "importlib"} & set(dir(vb)) and not hasattr(vb, "annotations")
