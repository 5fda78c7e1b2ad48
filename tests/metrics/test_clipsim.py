"""CLIPSIM pinned against transformers' own CLIPModel.get_image_features / get_text_features and CLIPImageProcessor
on a tiny random CLIP saved in transformers layout; one test per protocol convention; `score clipsim` end to end on
a tiny MSR-VTT run."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from tokenizers.pre_tokenizers import ByteLevel
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

from vidrd_bench.cli import main
from vidrd_bench.core.errors import ProtocolMismatchError, VidrdBenchError, WeightsError
from vidrd_bench.datasets import manifest as mf
from vidrd_bench.datasets.video import read_clip, write_video
from vidrd_bench.metrics.clipsim import compute_clipsim
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.extract import ExtractionOptions
from vidrd_bench.metrics.spec import MetricInputs
from vidrd_bench.protocols import PROTOCOLS, protocol_from_dict
from vidrd_bench.results import load_results
from vidrd_bench.runners.generate import run_generate
from vidrd_bench.runners.score import ScoreOptions, score_metric

from .detectors.detector_recipes import NARROW_CLIP

B32 = PROTOCOLS.get("clipsim-vit-b32-one-caption")
L14 = PROTOCOLS.get("clipscore-vit-l14-x100")
EXTRACT = ExtractionOptions(device="cpu", num_workers=0, progress=False, cache_dir=False)
NO_BOOTSTRAP = ScoreOptions(bootstrap=0)


def write_annotations(path, per_video):
    """An MSR-VTT-shaped annotation file: `per_video` captions for each of the 2,990 test videos."""
    ids = [f"video{v}" for v in range(7010, 10000)]
    sentences = [{"video_id": v, "caption": f"a person in {v} does thing {j}", "sen_id": k * per_video + j}
                 for k, v in enumerate(ids) for j in range(per_video)]
    path.write_text(json.dumps({"videos": [{"video_id": v} for v in ids], "sentences": sentences}))
    return path


def save_tiny_clip(folder, patch=32, projection=512, safe=True, seed=0):
    """A tiny random CLIPModel (transformers' fast-test widths, the backbone's patch, image size 224 and projection),
    a byte-level CLIPTokenizer written here and a default CLIPImageProcessor, saved as transformers saves them."""
    text = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=12, num_attention_heads=4,
                max_position_embeddings=77, vocab_size=49408, bos_token_id=49406, eos_token_id=49407,
                pad_token_id=49407)
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=12 if patch == 32 else 24,
                  num_attention_heads=4, image_size=224, patch_size=patch)
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection))
    model.save_pretrained(folder)
    if not safe:  # the older layout: a pickled torch state dict of tensors, read with weights_only
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    symbols = sorted(ByteLevel.alphabet())
    vocab = {t: i for i, t in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab.update({"<|startoftext|>": 49406, "<|endoftext|>": 49407})
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)  # CLIP's: shortest side 224 bicubic, centre crop 224, mean/std
    return folder


@pytest.fixture(autouse=True)
def narrow(monkeypatch):
    """The backbones' configs at the tiny widths the saved folders have (their loader checks stay on)."""
    for module, attribute, constructor in NARROW_CLIP:
        monkeypatch.setattr(module, attribute, constructor)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny B/32-shaped CLIP folder, a 4-video MSR-VTT run (one seeded caption each, 32x32, 16 frames)."""
    root = tmp_path_factory.mktemp("clipsim")
    ann = write_annotations(root / "test_videodatainfo.json", 3)
    run = root / "run"
    run_generate(dataset="msrvtt", out_dir=run, preset="tiny", protocol_name="msrvtt-tiny-smoke", prompts_file=ann,
                 num_videos=4, batch_size=4, show_progress=False)
    return {"root": root, "clip": save_tiny_clip(root / "clip-b32"), "run": run, "ann": ann}


def reference(folder, run, frames=slice(None), scale=1.0):
    """CLIPSIM by transformers alone: each frame through CLIPImageProcessor and get_image_features, the caption
    through CLIPTokenizer and get_text_features, cosine per frame, mean over frames, then over videos."""
    model = CLIPModel.from_pretrained(folder, local_files_only=True).eval()
    processor = CLIPImageProcessor.from_pretrained(folder, local_files_only=True)
    tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
    per_video = []
    for row in mf.read_rows(run / mf.MANIFEST_FILE):
        video = read_clip(run / row.path, 16)[frames]
        with torch.no_grad():
            image = model.get_image_features(**processor(images=list(video), return_tensors="pt")).pooler_output
            tokens = tokenizer([row.prompt], truncation=True, max_length=77, return_tensors="pt")
            text = model.get_text_features(**tokens).pooler_output
        per_video.append(torch.nn.functional.cosine_similarity(image, text).double().mean().item())
    return max(scale * float(np.mean(per_video)), 0.0) if scale != 1.0 else float(np.mean(per_video))


def score(world, proto, folder=None, **kw):
    """`score_metric('clipsim', ...)` on the run with the folder as the CLIP model."""
    extraction = dataclasses.replace(EXTRACT, detector_path=folder or world["clip"])
    return score_metric("clipsim", kw.pop("fake", world["run"]), proto, extraction, kw.pop("scoring", NO_BOOTSTRAP))


def test_clipsim_equals_transformers_own_computation(world):
    record = score(world, B32)
    assert record.value == pytest.approx(reference(world["clip"], world["run"]), abs=1e-5)
    assert record.n == 4 and record.metric == "clipsim" and record.protocol == B32.to_dict()
    assert record.weights == {"clip-b32": record.weights["clip-b32"]} and len(record.weights["clip-b32"]) == 64
    assert sorted(record.extra["per_class_clipsim"]) == ["video7010", "video7011", "video7012", "video7013"]


def test_pytorch_model_bin_is_read_as_tensors_only_to_the_same_number(world, tmp_path):
    folder = save_tiny_clip(tmp_path / "bin", safe=False)
    assert (folder / "pytorch_model.bin").exists() and not (folder / "model.safetensors").exists()
    assert score(world, B32, folder).value == pytest.approx(score(world, B32).value, abs=1e-6)


def test_scale_cosine_vs_torchmetrics_x100_clipped_at_zero(world):
    x100 = dataclasses.replace(B32, name="b32-x100", scale="x100-clip0")
    cosine = score(world, B32).value
    assert score(world, x100).value == pytest.approx(reference(world["clip"], world["run"], scale=100.0), abs=1e-3)
    assert score(world, x100).value == pytest.approx(max(100 * cosine, 0.0), abs=1e-4)
    away = np.eye(4)[[1, 2, 3, 0]] * 0.5 - np.eye(4) * 0.25  # every video's frames turned from its text
    inputs = MetricInputs(away, text=np.eye(4))
    assert compute_clipsim(inputs, B32, 0, 0).value == pytest.approx(-0.25)
    assert compute_clipsim(inputs, x100, 0, 0).value == 0.0  # clipped at 0 after the mean, as torchmetrics does


def test_frames_used_stride_and_count(world):
    every_other = dataclasses.replace(B32, name="b32-8f-stride2", num_frames=8, frame_stride=2)
    value = score(world, every_other).value
    assert value == pytest.approx(reference(world["clip"], world["run"], frames=slice(0, 16, 2)), abs=1e-5)
    assert value != pytest.approx(score(world, B32).value, abs=1e-6)


def test_backbone_a_b32_folder_is_refused_as_l14(world, tmp_path):
    with pytest.raises(WeightsError, match="is not clip-vit-l14"):
        score(world, dataclasses.replace(L14, caption_rule="one-seeded"))
    l14 = save_tiny_clip(tmp_path / "l14", patch=14, projection=768, seed=1)
    with pytest.raises(WeightsError, match="is not clip-vit-b32"):
        score(world, B32, l14)
    value = score(world, dataclasses.replace(B32, name="l14-cos", detector="clip-vit-l14"), l14).value
    assert value == pytest.approx(reference(l14, world["run"]), abs=1e-5)


def test_caption_rule_runs_of_another_rule_are_refused(world, tmp_path):
    with pytest.raises(ProtocolMismatchError, match="caption rule 'all'.*made under caption rule 'one-seeded'"):
        score(world, PROTOCOLS.get("clipsim-vit-b32-all-captions"))
    plain = shutil.copytree(world["run"], tmp_path / "plain")
    run = json.loads((plain / "run.json").read_text())
    run["protocol"] = PROTOCOLS.get("tiny-smoke").to_dict()
    (plain / "run.json").write_text(json.dumps(run))
    with pytest.raises(ProtocolMismatchError, match="no recorded caption rule"):
        score(world, B32, fake=plain)


def test_long_prompts_get_one_note_not_token_soup(capfd):
    detector = load_detector("clip-tiny-random", resolution=32)
    text = detector.encode_text(["a cat " * 60, "short", "a dog " * 70])
    err = capfd.readouterr().err
    assert text.shape == (3, 32) and np.allclose(np.linalg.norm(text, axis=1), 1.0)
    assert err.count("note: 2 of 3 prompts are longer than CLIP's 77 tokens") == 1
    assert "Token indices" not in err and "a cat a cat" not in err


@pytest.mark.parametrize("where", ["openai/clip-vit-base-patch32", "missing-folder"])
def test_a_hub_id_or_missing_folder_is_refused_without_download(world, where):
    with pytest.raises(WeightsError, match="never downloads weights") as refused:
        score(world, B32, world["root"] / where if where == "missing-folder" else where)
    assert ("hub id" in str(refused.value)) == (where.startswith("openai"))


def test_incomplete_folder_named(world, tmp_path):
    folder = save_tiny_clip(tmp_path / "partial")
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(WeightsError, match="lacks preprocessor_config.json"):
        score(world, B32, folder)


def test_records_round_trip_to_the_clipsim_protocol():
    for proto in (B32, L14, PROTOCOLS.get("clipsim-smoke-tiny")):
        assert protocol_from_dict(proto.to_dict()) == proto


def test_score_clipsim_cli_end_to_end(world, tmp_path):
    out = tmp_path / "clipsim.json"
    common = ["--fake", str(world["run"]), "--device", "cpu", "--num-workers", "0", "--no-progress", "--no-cache"]
    result = CliRunner().invoke(main, ["score", "clipsim", *common, "--clip-model", str(world["clip"]),
                                       "--protocol", B32.name, "--bootstrap", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = load_results(out)[0]
    assert record.value == pytest.approx(reference(world["clip"], world["run"]), abs=1e-5)
    assert record.ci_low <= record.value <= record.ci_high and record.seeds["num_resamples"] == 10
    smoke = CliRunner().invoke(main, ["score", "clipsim", *common, "--protocol", "clipsim-smoke-tiny"])
    assert smoke.exit_code == 0 and "random-weight detector" in smoke.output
    hub = CliRunner().invoke(main, ["score", "clipsim", *common, "--clip-model", "openai/clip-vit-large-patch14"])
    assert hub.exit_code != 0 and "never downloads weights" in hub.output


def test_a_folder_without_manifest_is_refused_clearly(tmp_path):
    write_video(tmp_path / "v" / "a.mp4", np.zeros((16, 32, 32, 3), np.uint8), 8)
    with pytest.raises(VidrdBenchError, match="no manifest.jsonl"):
        score_metric("clipsim", tmp_path / "v", "clipsim-smoke-tiny", EXTRACT, NO_BOOTSTRAP)


def test_num_fake_first_videos_in_manifest_order_and_fewer_refused(world):
    smoke = PROTOCOLS.get("clipsim-smoke-tiny")
    every = score(world, smoke)
    two = score(world, dataclasses.replace(smoke, name="smoke-2", num_fake=2, fake_selection="first"))
    per_video = every.extra["per_class_clipsim"]
    assert two.n == 2 and two.value == pytest.approx((per_video["video7010"] + per_video["video7011"]) / 2)
    with pytest.raises(ProtocolMismatchError, match="--allow-fewer"):
        score(world, dataclasses.replace(smoke, name="smoke-9", num_fake=9, fake_selection="first"))
