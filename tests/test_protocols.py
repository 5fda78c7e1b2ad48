"""Each published protocol pinned against an independent re-derivation of its reference, on tiny random weights and
videos written here; each swapped convention (covariance divisor, real-clip preparation, split rule) is caught."""

import dataclasses
import io
import re

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import torch
from PIL import Image

from vidrd_bench.datasets.prepare import prepare_real
from vidrd_bench.datasets.video import write_video
from vidrd_bench.core.errors import ProtocolMismatchError
from vidrd_bench.metrics.detectors.base import init_random
from vidrd_bench.metrics.detectors.c3d import C3D, C3DClassifier
from vidrd_bench.metrics.detectors import load_detector
from vidrd_bench.metrics.inception_score import protocol_is
from vidrd_bench.protocols import PROTOCOLS, with_counts
from vidrd_bench.report.tables import protocol_differences
from vidrd_bench.api import score_fvd
from tests.report.report_fixtures import make_record

REQUIRED = ("fvd-styleganv-2048-16f", "fvd-ucf101-10k", "is-c3d-tgan", "is-c3d-tganv2", "is-c3d-styleganv-2048")


@pytest.mark.parametrize("name", REQUIRED)
def test_required_protocols_are_registered_and_cite_file_and_line(name):
    ref = PROTOCOLS.get(name).reference
    assert re.search(r"\.py:\d+", ref), ref  # file and line of the reference


def _probs(n=60, k=7, seed=0):
    return np.random.default_rng(seed).dirichlet(np.ones(k) * 0.4, size=n)


def test_is_tgan_v1_equals_calc_inception():
    ys = _probs(50)
    p_all = ys.mean(axis=0, keepdims=True)  # TGAN evaluation/calc_inception.py:22-26, one split over everything
    expected = np.exp(np.sum(ys * np.log(ys + 1e-7) - ys * np.log(p_all + 1e-7)) / len(ys))
    proto = dataclasses.replace(PROTOCOLS.get("is-c3d-tgan"), num_fake=None, fake_selection="all")
    assert protocol_is(ys, proto) == pytest.approx((expected, 0.0), rel=1e-12)


def test_is_tganv2_equals_its_loops_of_one_split_with_eps_added():
    ys = _probs(40)
    proto = dataclasses.replace(PROTOCOLS.get("is-c3d-tganv2"), num_fake=25)
    scores = []
    for r in range(10):  # compute_inception_score.py:55-66; each loop's samples = our seeded subset of 25
        part = ys[np.random.default_rng((3, r)).choice(40, 25, replace=False)] + 1e-20
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    assert protocol_is(ys, proto, seed=3) == pytest.approx((np.mean(scores), np.std(scores)), rel=1e-12)


def _styleganv_isv(probs, num_splits=10):
    """StyleGAN-V video_inception_score.py:45-52, re-derived."""
    gen = probs.copy()
    np.random.RandomState(42).shuffle(gen)
    n, scores = len(gen), []
    for i in range(num_splits):
        part = gen[i * n // num_splits:(i + 1) * n // num_splits]
        kl = part * (np.log(part) - np.log(np.mean(part, axis=0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, axis=1))))
    return np.mean(scores), np.std(scores)


def test_is_styleganv_shuffles_then_splits_and_the_split_rule_matters():
    # class-sorted predictions: consecutive splits of the unshuffled order each see about one class
    ys = np.concatenate([_probs(30, seed=1) * 0.1 + np.eye(7)[c] * 0.9 for c in (0, 3)])
    proto = dataclasses.replace(PROTOCOLS.get("is-c3d-styleganv-2048"), num_fake=None, fake_selection="all")
    got = protocol_is(ys, proto)
    assert got == pytest.approx(_styleganv_isv(ys), rel=1e-12)
    unshuffled = dataclasses.replace(proto, shuffle="none")
    assert protocol_is(ys, unshuffled)[0] < got[0] - 0.3  # swapping the split rule is caught


def _cv2_cubic_resize(img, out):
    """cv2 INTER_CUBIC re-derived from its definition: a = -0.75, half-pixel centres, replicated border."""
    def weights(size_in):
        x = (np.arange(out) + 0.5) * size_in / out - 0.5
        base = np.floor(x).astype(int)
        taps = base[:, None] + np.arange(-1, 3)[None]
        d = np.abs(x[:, None] - taps)
        a = -0.75
        w = np.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                     np.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, 0))
        m = np.zeros((out, size_in))
        for i in range(out):
            for t, wt in zip(np.clip(taps[i], 0, size_in - 1), w[i]):
                m[i, t] += wt
        return m
    rows = np.tensordot(weights(img.shape[0]), img, axes=(1, 0))  # (out, W, C)
    return np.tensordot(weights(img.shape[1]), rows, axes=(1, 1)).transpose(1, 0, 2)


def test_c3d_tgan_and_tganv2_preprocessing_follow_their_references():
    rng = np.random.default_rng(0)
    mean = torch.from_numpy(rng.uniform(0, 255, (3, 16, 128, 171)).astype(np.float32))
    video = torch.from_numpy(rng.integers(0, 256, (1, 3, 16, 48, 64), dtype=np.uint8))
    x = video[0].double().numpy() / 127.5 - 1  # (3, T, H, W) in [-1, 1]
    m = mean.double().numpy()
    # TGAN calc_inception.py:68-76: x*128+128, cv2 cubic to 128, BGR, minus mean[..., 21:149], crop 8:120
    frames = np.stack([_cv2_cubic_resize((x[:, t] * 128 + 128).transpose(1, 2, 0), 128) for t in range(16)])
    v1 = frames.transpose(3, 0, 1, 2)[::-1] - m[..., 21:149]
    v1 = v1[:, :, 8:120, 8:120]
    net = init_random(C3D(width_div=16))  # fixed-seed weights: the same network on every run
    got1 = C3DClassifier(net, mean, "tgan").preprocess(video)[0].double().numpy()
    assert np.abs(got1 - v1).max() < 2e-2
    # TGANv2 c3d_ucf101.py:67-73,164-170: BGR*128, bilinear with corners aligned to 112, + 128 - mean[8:120, 8:120]
    rows, cols = np.meshgrid(np.linspace(0, 47, 112), np.linspace(0, 63, 112), indexing="ij")
    bgr = x[::-1] * 128
    v2 = np.stack([[scipy.ndimage.map_coordinates(bgr[c, t], [rows, cols], order=1) for t in range(16)]
                   for c in range(3)]) + 128 - m[:, :, 8:120, 8:120]
    got2 = C3DClassifier(net, mean, "tganv2").preprocess(video)[0].double().numpy()
    assert np.abs(got2 - v2).max() < 5e-3  # float32 arithmetic on values up to ~400
    with torch.no_grad():
        l1, l2 = net(torch.from_numpy(got1).float()[None]), net(torch.from_numpy(got2).float()[None])
    assert (l1 - l2).abs().max() > 0.01 * l1.abs().max()  # C3D sees other inputs: not interchangeable


def _frames_4x3(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(128, 50, (n, 30, 40, 3)), 0, 255).astype(np.uint8)


def _pil_jpeg_as_styleganv_saves(img):
    """Save exactly as the reference writes frames (`q=95`, which PIL ignores), then decode."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", q=95)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def test_real_preparations_equal_their_reference_recipes_and_differ_from_each_other():
    frames = _frames_4x3()
    # SGV scripts/convert_videos_to_frames.py:74-76: shorter side 16 (long side int(16*40/30) = 21), centre crop
    # at round((21 - 16) / 2) = 2, JPEG
    resized = [Image.fromarray(f).resize((21, 16), Image.LANCZOS).crop((2, 0, 18, 16)) for f in frames]
    expected = np.stack([_pil_jpeg_as_styleganv_saves(im) for im in resized])
    got = prepare_real(frames, (16, 16), "styleganv-resize-crop-lanczos", 75)
    assert np.array_equal(got, expected)
    # SGV scripts/convert_video_to_dataset.py:45-47: crop the centre 30x30 first (left round(10/2) = 5), then resize
    cropped = [Image.fromarray(f).crop((5, 0, 35, 30)).resize((16, 16), Image.LANCZOS) for f in frames]
    expected = np.stack([_pil_jpeg_as_styleganv_saves(im) for im in cropped])
    assert np.array_equal(prepare_real(frames, (16, 16), "styleganv-crop-lanczos", 75), expected)
    # cd-fvd data_utils.py:52-65: (16, ceil(40*16/30) = 22) bilinear antialiased, crop from (22 - 16) // 2 = 3
    pil = np.stack([np.asarray(Image.fromarray(f).resize((22, 16), Image.BILINEAR))[:, 3:19] for f in frames])
    cd = prepare_real(frames, (16, 16), "cdfvd-resize-crop-bilinear", None)
    assert np.abs(cd.astype(int) - pil.astype(int)).max() <= 2
    names = ["stretch-bilinear", "styleganv-resize-crop-lanczos", "styleganv-crop-lanczos",
             "cdfvd-resize-crop-bilinear"]
    outs = [prepare_real(frames, (16, 16), n, None).astype(int) for n in names]
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            assert np.abs(outs[i] - outs[j]).mean() > 0.5, (names[i], names[j])  # a swap is visible


def _write_sets(root):
    """Real: 6 4:3 videos (one too short, sorted into the middle); fake: 4 square videos (a plain folder is read in
    a seeded shuffle, so the test gives exactly the protocol's count)."""
    rng = np.random.default_rng(7)
    for name, n in (("v_A_g01_c01", 20), ("v_A_g02_c01", 24), ("v_B_g01_c01", 10), ("v_B_g02_c01", 18),
                    ("v_C_g01_c01", 22), ("v_C_g02_c01", 20)):
        write_video(root / "real" / f"{name}.mp4", np.clip(rng.normal(120, 60, (n, 30, 40, 3)), 0, 255)
                    .astype(np.uint8), 8)
    for i in range(4):
        write_video(root / "fake" / f"{i:02d}.mp4", np.clip(rng.normal(100, 70, (16, 16, 16, 3)), 0, 255)
                    .astype(np.uint8), 8)


def _decode(path):
    import av
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def _styleganv_fvd(root, detector, divisor_n=True, stretch=False):
    """fvd2048_16f re-derived: sorted real videos, short ones dropped, first 4 (the test's count), 16 frames from
    the seeded offset, frames prepared as convert_videos_to_frames.py, features, mean/cov, scipy sqrtm."""
    real_paths = sorted((root / "real").glob("*.mp4"))
    clips = []
    for idx, path in enumerate(real_paths):
        video = _decode(path)
        if len(video) < 16:
            continue
        start = int(np.random.default_rng((0, idx)).integers(0, len(video) - 16 + 1))
        clip = video[start:start + 16]
        if stretch:
            clip = np.stack([np.asarray(Image.fromarray(f).resize((16, 16), Image.BILINEAR)) for f in clip])
        else:
            clip = np.stack([_pil_jpeg_as_styleganv_saves(Image.fromarray(f).resize((21, 16), Image.LANCZOS)
                                                          .crop((2, 0, 18, 16))) for f in clip])
        clips.append(clip)
    fake = [_decode(p)[:16] for p in sorted((root / "fake").glob("*.mp4"))]

    def stats(batch):
        x = torch.from_numpy(np.stack(batch)).permute(0, 4, 1, 2, 3)
        f = detector(x).double().numpy()
        mu = f.mean(0)
        return mu, (f.T @ f) / len(f) - np.outer(mu, mu) if divisor_n else np.cov(f, rowvar=False)

    (mu_r, s_r), (mu_g, s_g) = stats(clips[:4]), stats(fake)
    s = scipy.linalg.sqrtm(s_g @ s_r)  # frechet_video_distance.py:54-56
    return float(np.real(np.square(mu_g - mu_r).sum() + np.trace(s_g + s_r - 2 * s)))


def test_fvd_styleganv_protocol_equals_its_re_derivation_and_catches_swaps(tmp_path):
    _write_sets(tmp_path)
    base = dataclasses.replace(PROTOCOLS.get("fvd-styleganv-2048-16f"), detector="i3d-tiny-random", resolution=32,
                               num_fake=4, num_real=4)
    detector = load_detector("i3d-tiny-random", resolution=32)
    kw = dict(num_workers=0, bootstrap=0, progress=False, cache_dir=tmp_path / "cache", per_class=False)
    rec = score_fvd(tmp_path / "real", tmp_path / "fake", protocol=base, **kw)
    assert rec.n == 4 and rec.extra["real_count"] == 4
    assert rec.value == pytest.approx(_styleganv_fvd(tmp_path, detector), rel=1e-4)
    n_minus_1 = score_fvd(tmp_path / "real", tmp_path / "fake", name="n1",
                          protocol=dataclasses.replace(base, name="n1", covariance_divisor="N-1"), **kw)
    assert n_minus_1.value == pytest.approx(_styleganv_fvd(tmp_path, detector, divisor_n=False), rel=1e-4)
    assert abs(n_minus_1.value - rec.value) > 1e-3 * rec.value  # the divisor swap is caught
    stretch = score_fvd(tmp_path / "real", tmp_path / "fake",
                        protocol=dataclasses.replace(base, name="s", real_preparation="stretch-bilinear",
                                                     real_jpeg_quality=None), **kw)
    assert abs(stretch.value - rec.value) > 1e-3 * rec.value  # the real-clip preparation swap is caught


def test_a_smaller_run_under_a_10k_protocol_is_another_protocol_and_tables_mark_it():
    ten_k = PROTOCOLS.get("fvd-ucf101-10k")
    small = with_counts(ten_k, num_fake=1000)
    assert small.name == "fvd-ucf101-10k-fake1000" and small.derived_from == "fvd-ucf101-10k"
    assert small.num_fake == 1000 and small != ten_k
    with pytest.raises(ProtocolMismatchError):
        ten_k.check_same(small)
    assert protocol_differences({"fvd": make_record("fvd", 400.0, protocol=small.to_dict())}) == [small.name]
    assert protocol_differences({"fvd": make_record("fvd", 400.0)}) == []


def test_real_settings_mismatch_names_the_protocol_without_a_doubled_quote():
    """'... differ from those of 'fvd-ucf101-10k' (...)', never the repr-then-possessive "'fvd-ucf101-10k''s"."""
    import pathlib

    from vidrd_bench.core.errors import ProtocolMismatchError
    mine = PROTOCOLS.get("fvd-ucf101-10k")
    theirs = PROTOCOLS.get("fvd-ucf101-10k-stretch").to_dict()
    with pytest.raises(ProtocolMismatchError) as err:
        mine.check_same_real(theirs, "The statistics")
    assert "differ from those of 'fvd-ucf101-10k' (" in str(err.value) and "''s" not in str(err.value)
    sources = pathlib.Path(__file__).parents[1] / "vidrd_bench"
    assert not [p for p in sources.rglob("*.py") if "!r}'s" in p.read_text(encoding="utf-8")]
