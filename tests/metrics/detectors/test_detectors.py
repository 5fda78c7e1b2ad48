"""I3D and C3D beyond the conformance suite: full-size layouts, reference preprocessing, weight-file errors.

What every registered detector must do (input contract, batch splits, determinism, declared weights) is in
test_conformance.py."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidrd_bench.core.errors import VidrdBenchError, WeightsError
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.detectors.c3d import C3D, C3DClassifier, state_to_npz, tiny_c3d
from vidrd_bench.metrics.detectors.base import TRUST_ENV
from vidrd_bench.metrics.detectors.i3d import InceptionI3d, export_torchscript, same_padding, tiny_i3d


LOW_RES = 64  # tiny models resize to 64x64 in unit tests to stay fast on CPU; registered detectors use 224


def _videos(b=2, t=16, h=32, w=32, seed=0):
    return torch.randint(0, 256, (b, 3, t, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_same_padding_matches_tensorflow_formula():
    for size in range(1, 40):
        for k in (1, 2, 3, 7):
            for s in (1, 2):
                pads = same_padding([size, size, size], [k] * 3, [s] * 3)
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                assert pads[:2] == [total // 2, total - total // 2]


def test_full_i3d_has_the_pytorch_i3d_layout_and_runs_at_protocol_size():
    model = InceptionI3d().eval()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["Conv3d_1a_7x7.conv3d.weight"] == (64, 3, 7, 7, 7)
    assert shapes["Mixed_3b.b0.conv3d.weight"] == (64, 192, 1, 1, 1)
    assert shapes["Mixed_4b.b2b.bn.running_mean"] == (48,)
    assert shapes["Mixed_5c.b1b.conv3d.weight"] == (384, 192, 3, 3, 3)
    assert shapes["logits.conv3d.weight"] == (400, 1024, 1, 1, 1) and shapes["logits.conv3d.bias"] == (400,)
    assert "Conv3d_1a_7x7.conv3d.bias" not in shapes
    with torch.no_grad():
        feats = model(_videos(1), rescale=True, resize=True, return_features=True)
    assert feats.shape == (1, 400) and torch.isfinite(feats).all()


def test_i3d_rescale_and_resize_are_per_frame_bilinear_of_minus_one_to_one():
    model = tiny_i3d(LOW_RES).eval()
    x = _videos(1, h=40, w=24)
    frames = (x.float() / 127.5 - 1).permute(0, 2, 1, 3, 4).reshape(16, 3, 40, 24)
    manual = F.interpolate(frames, size=(LOW_RES, LOW_RES), mode="bilinear", align_corners=False)
    manual = manual.reshape(1, 16, 3, LOW_RES, LOW_RES).permute(0, 2, 1, 3, 4)
    with torch.no_grad():
        a = model(x, rescale=True, resize=True, return_features=True)
        b = model(manual, return_features=True)
        probs = model(x, rescale=True, resize=True)
    assert torch.allclose(a, b, atol=1e-4)
    assert torch.allclose(probs, a.softmax(1), atol=1e-6)


def test_real_detectors_refuse_a_resolution_they_were_not_trained_at():
    with pytest.raises(VidrdBenchError, match="224x224"):
        load_detector("i3d-pytorch", resolution=LOW_RES)
    with pytest.raises(VidrdBenchError, match="112x112"):
        load_detector("c3d-ucf101", resolution=LOW_RES)


def test_i3d_state_dict_round_trip_in_pytorch_i3d_layout(tmp_path):
    model = tiny_i3d(LOW_RES)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}  # old files
    torch.save(state, tmp_path / "rgb_imagenet.pt")
    fresh = InceptionI3d(width_div=8, resolution=LOW_RES)
    from vidrd_bench.metrics.detectors.i3d import load_piergiaj_state
    load_piergiaj_state(fresh, tmp_path / "rgb_imagenet.pt")
    x = _videos(1)
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x, True, True, True), model.eval()(x, True, True, True))
    bad = dict(state)
    bad.pop("Mixed_4c.b0.conv3d.weight")
    bad["logits.conv3d.bias"] = torch.zeros(7)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match=r"bad\.pt.*Mixed_4c\.b0\.conv3d\.weight.*logits\.conv3d\.bias"):
        load_piergiaj_state(InceptionI3d(width_div=8), tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="rgb_imagenet.pt"):
        load_detector("i3d-pytorch", weights_dir=tmp_path / "empty")


def test_torchscript_path_gives_the_same_features(tmp_path):
    model = tiny_i3d(LOW_RES).eval()
    export_torchscript(model, tmp_path / "i3d_torchscript.pt")
    scripted = load_detector("i3d-torchscript", weights_dir=tmp_path, trust_detector=True)
    x = _videos()
    with torch.no_grad():  # the StyleGAN-V call: uint8 in, rescale/resize inside, 400-d features out
        eager = model(x, rescale=True, resize=True, return_features=True)
    assert torch.allclose(scripted(x), eager, atol=1e-5)
    assert list(scripted.weights) == ["i3d_torchscript.pt"] and not scripted.random_weights
    (tmp_path / "broken.pt").write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="broken.pt"):
        load_detector("i3d-torchscript", path=tmp_path / "broken.pt", trust_detector=True)


class ReadsAFile(torch.nn.Module):
    """A 'detector' program whose forward returns the bytes of a local file as features (the issue's reproducer)."""

    def __init__(self, secret: str):
        """Remember the file the program reads."""
        super().__init__()
        self.secret = secret

    def forward(self, videos: torch.Tensor, rescale: bool = True, resize: bool = True,
                return_features: bool = True) -> torch.Tensor:
        """The StyleGAN-V call signature; returns the file's first 400 bytes for every video."""
        data = torch.from_file(self.secret, size=400, dtype=torch.uint8)
        return data.float().unsqueeze(0).repeat(videos.shape[0], 1)


@pytest.mark.filterwarnings("ignore:`torch.jit.save` is deprecated:FutureWarning")
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_a_torchscript_detector_is_a_program_and_loads_only_when_trusted(tmp_path, capsys, monkeypatch):
    """An unpinned TorchScript file is refused (it used to be accepted, and its forward's file read came out as
    features); with the opt-in (argument or environment variable) it loads, and the note says it is a program."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(200)) * 2)
    program = tmp_path / "i3d_torchscript.pt"
    torch.jit.save(torch.jit.script(ReadsAFile(str(secret))), str(program))
    with pytest.raises(WeightsError) as err:
        load_detector("i3d-torchscript", path=program)
    message = str(err.value)
    assert str(program) in message and "is TorchScript: a program" in message and "--trust-detector" in message
    assert TRUST_ENV in message and "\n" not in message
    leaked = load_detector("i3d-torchscript", path=program, trust_detector=True)(_videos())
    assert torch.equal(leaked[0], torch.tensor(list(range(200)) * 2, dtype=torch.float32))  # why it is refused
    assert "is a program and runs with your permissions" in capsys.readouterr().err
    monkeypatch.setenv(TRUST_ENV, "1")
    assert load_detector("i3d-torchscript", path=program).name == "i3d-torchscript"


def test_full_c3d_layout():
    shapes = {k: tuple(v.shape) for k, v in state_to_npz(C3D().state_dict()).items()}
    assert shapes["conv1a/W"] == (64, 3, 3, 3, 3) and shapes["conv5b/b"] == (512,)
    assert shapes["fc6/W"] == (4096, 8192) and shapes["fc8/W"] == (101, 4096) and len(shapes) == 22


def test_c3d_preprocessing_matches_the_tgan_recipe():
    mean = torch.rand(3, 16, 128, 171) * 255
    model = C3DClassifier(C3D(width_div=16), mean, "tgan")
    x = _videos(1, h=128, w=128)
    expected = (x.double().numpy() / 127.5 - 1) * 128 + 128  # [-1, 1] -> x128 + 128
    expected = expected[:, ::-1] - mean.double().numpy()[None, ..., 21:149]  # RGB -> BGR, minus the mean clip
    expected = expected[..., 8:120, 8:120]
    assert np.allclose(model.preprocess(x).numpy(), expected, atol=1e-3)
    assert model.preprocess(_videos(1, h=64, w=48)).shape == (1, 3, 16, 112, 112)


def test_c3d_npz_round_trip_and_probabilities(tmp_path):
    model = tiny_c3d().eval()
    np.savez(tmp_path / "conv3d_deepnetA_ucf.npz", **state_to_npz(model.net.state_dict()))
    np.savez(tmp_path / "mean2.npz", mean=np.full((1, 3, 16, 128, 171), 128.0, np.float32))
    import vidrd_bench.metrics.detectors.c3d as c3d
    small = c3d.C3DClassifier(c3d.load_c3d_weights(C3D(width_div=16), tmp_path / "conv3d_deepnetA_ucf.npz"),
                              c3d.load_mean_clip(tmp_path / "mean2.npz"))
    x = _videos()
    with torch.no_grad():
        probs = small.eval()(x)
    assert torch.allclose(probs, load_detector("c3d-tiny-random")(x), atol=1e-6)
    assert torch.allclose(probs.sum(1), torch.ones(2), atol=1e-5) and (probs >= 0).all()
    with pytest.raises(WeightsError, match=r"conv3d_deepnetA_ucf\.npz.*conv1a/W: file \(4, 3, 3, 3, 3\) vs expected \(64"):
        load_detector("c3d-ucf101", weights_dir=tmp_path)  # the full-size C3D refuses the tiny file
    torch.save(model.net.state_dict(), tmp_path / "c3d.pt")  # plain torch state dict, mean2.npz beside it
    from_pt = c3d._build_tiny()  # same weights as the file
    assert set(from_pt.weights) == {"random:c3d-tiny-random"}
    loaded = c3d.load_c3d_weights(C3D(width_div=16), tmp_path / "c3d.pt")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.net.state_dict().values()))
    np.savez(tmp_path / "badmean.npz", avg=np.zeros(3))
    with pytest.raises(WeightsError, match="badmean.npz.*'mean'"):
        c3d.load_mean_clip(tmp_path / "badmean.npz")


def test_a_c3d_file_with_an_unexpected_key_is_a_clear_error(tmp_path):
    """An extra array in the npz (any name, with or without a '/') is named in a WeightsError, not a KeyError."""
    arrays = state_to_npz(C3D(width_div=16).state_dict())
    np.savez(tmp_path / "c3d.npz", **arrays, **{"fc9/X": np.zeros(2), "extra": np.zeros(1)})
    import vidrd_bench.metrics.detectors.c3d as c3d
    with pytest.raises(WeightsError, match=r"c3d\.npz.*unexpected keys.*'extra'.*'fc9/X'|c3d\.npz.*unexpected keys.*'fc9/X'.*'extra'"):
        c3d.load_c3d_weights(C3D(width_div=16), tmp_path / "c3d.npz")


def test_a_corrupt_i3d_file_message_ends_on_a_whole_word(tmp_path, monkeypatch):
    """torch.jit.load's long first line is cut at a word boundary and marked, never mid-word ('...corrupted. Thi)')."""
    first = ("PytorchStreamReader failed reading zip archive: failed finding central directory. The file may be "
             "corrupted. This happens when a download was interrupted, when the disk was full while it was written, "
             "or when another program wrote over it")

    def fail(*args, **kwargs):
        raise RuntimeError(f"{first}\nsecond line")
    monkeypatch.setattr(torch.jit, "load", fail)
    from vidrd_bench.metrics.detectors.i3d import load_torchscript
    with pytest.raises(WeightsError) as err:
        load_torchscript(tmp_path / "i3d.pt")
    inner = str(err.value).split("torch.jit.load (", 1)[1].split("). Expected", 1)[0]
    assert inner.endswith(" ...") and len(inner) <= 200 and "second line" not in inner
    kept = inner[:-4]
    assert first.startswith(kept) and first[len(kept)] == " "  # the cut falls between two words
