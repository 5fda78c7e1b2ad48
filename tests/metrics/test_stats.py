"""Streaming statistics equal batch statistics; statistics files round-trip and refuse other protocols."""

import numpy as np
import pytest

from vidrd_bench.core.errors import ProtocolMismatchError, VidrdBenchError
from vidrd_bench.metrics.stats import StatsFile, gaussian_of, load_stats, save_stats, stats_filename
from vidrd_bench.protocols import PROTOCOLS, get_protocol, protocol_from_dict


def test_covariance_divisor_n_is_styleganv_and_n_minus_1_is_np_cov():
    x = np.random.default_rng(0).normal(size=(13, 5)) * 3 + 100
    mu, sigma_n = gaussian_of(x, "N")
    _, sigma_n1 = gaussian_of(x, "N-1")
    # StyleGAN-V FeatureStats.get_mean_cov (metric_utils.py:122-127), re-derived: raw sums over N minus mu mu^T.
    raw_cov = (x.T @ x) / len(x) - np.outer(x.mean(0), x.mean(0))
    assert np.allclose(sigma_n, raw_cov, rtol=1e-9) and np.allclose(mu, x.mean(0))
    assert np.allclose(sigma_n1, np.cov(x, rowvar=False), rtol=1e-12)
    assert not np.allclose(sigma_n, sigma_n1)  # swapping the convention is caught
    assert np.allclose(sigma_n * 13 / 12, sigma_n1)
    with pytest.raises(VidrdBenchError, match="at least 2"):
        gaussian_of(x[:1])


def test_stats_file_round_trip_and_protocol_refusal(tmp_path):
    proto = PROTOCOLS.get("fvd-smoke-tiny")
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(6, 3)).astype(np.float32)
    stats = StatsFile(feats.mean(0).astype(np.float64), np.cov(feats, rowvar=False), 6, "i3d-tiny-random",
                      {"random:x": "abc"}, proto.to_dict(), "unit test", feats, ["A", "A", "A", "B", "B", "B"],
                      {"resolution": [32, 32]})
    path = save_stats(tmp_path / stats_filename("ucf101", proto, 32), stats)
    assert path.name == "ucf101_train_fvd-smoke-tiny_32px.npz"
    back = load_stats(path, proto)
    assert np.array_equal(back.mu, stats.mu) and np.array_equal(back.sigma, stats.sigma) and back.count == 6
    assert (back.detector, back.detector_sha256, back.source, back.extra) == (
        "i3d-tiny-random", {"random:x": "abc"}, "unit test", {"resolution": [32, 32]})
    assert np.array_equal(back.features, feats) and back.classes == stats.classes
    assert set(back.class_gaussians()) == {"A", "B"}
    with pytest.raises(ProtocolMismatchError, match="fvd-smoke-tiny"):
        load_stats(path, PROTOCOLS.get("fvd-ucf101-10k"))
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(VidrdBenchError, match="junk.npz"):
        load_stats(tmp_path / "junk.npz")


def test_files_of_retired_protocol_names_are_refused_naming_the_new_ones(tmp_path):
    old = {**PROTOCOLS.get("fvd-ucf101-10k").to_dict(), "name": "fvd-i3d-16f"}
    stats = StatsFile(np.zeros(3), np.eye(3), 4, "i3d-torchscript", {}, old, "made by vidrd-bench 0.1")
    path = save_stats(tmp_path / "old.npz", stats)
    for check in (lambda: load_stats(path, PROTOCOLS.get("fvd-ucf101-10k")),
                  lambda: PROTOCOLS.get("fvd-ucf101-10k").check_same_real(load_stats(path).protocol, "old"),
                  lambda: get_protocol("is-c3d-ucf101"), lambda: protocol_from_dict(old)):
        with pytest.raises(ProtocolMismatchError, match="retired") as err:
            check()
        assert "fvd-ucf101-10k" in str(err.value) or "is-c3d-styleganv-10k" in str(err.value)


@pytest.mark.parametrize("count,drop", [(10000, ()), (5, ()), (10000, ("features",)), (1, ("features", "classes"))])
def test_a_stated_count_that_the_file_does_not_hold_is_refused(tmp_path, count, drop):
    """The count sets the protocol a record claims (a file said 10000 real videos for 12): it must be the number of
    stored features and classes, and at least 2 without them."""
    proto = PROTOCOLS.get("fvd-smoke-tiny")
    feats = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    stats = StatsFile(feats.mean(0).astype(np.float64), np.cov(feats, rowvar=False), 6, "i3d-tiny-random", {},
                      proto.to_dict(), "unit test", feats, ["A"] * 6, {})
    path = save_stats(tmp_path / "s.npz", stats)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k not in drop}
    np.savez(path, **{**arrays, "count": np.array(count)})
    with pytest.raises(VidrdBenchError, match=f"states a count of {count} videos but holds"):
        load_stats(path)


@pytest.mark.parametrize("bad", ["nan", "integers"])
def test_features_that_are_not_finite_floats_are_refused(tmp_path, bad):
    """JEDi reads the stored features themselves: NaN or non-float features make a file unusable."""
    proto = PROTOCOLS.get("jedi-smoke-tiny")
    feats = np.random.default_rng(2).normal(size=(5, 4)).astype(np.float32)
    stats = StatsFile(*gaussian_of(feats), 5, "vjepa-tiny-random", {}, proto.to_dict(), "unit test", feats,
                      ["A"] * 5, {})
    path = save_stats(tmp_path / "s.npz", stats)
    assert np.array_equal(load_stats(path, proto).features, feats)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["features"] = np.where(np.eye(5, 4) > 0, np.nan, feats) if bad == "nan" else np.ones((5, 4), np.int64)
    np.savez(path, **arrays)
    with pytest.raises(VidrdBenchError, match="not finite floating-point"):
        load_stats(path)


def test_a_jedi_protocol_record_decodes_to_its_own_kind():
    """JEDiProtocol has FVDProtocol's fields plus the kernel's: each record decodes to the kind that wrote it."""
    for name in ("jedi-ucf101-5k", "fvd-ucf101-10k"):
        proto = PROTOCOLS.get(name)
        assert protocol_from_dict(proto.to_dict()) == proto and type(protocol_from_dict(proto.to_dict())) is type(proto)


def test_the_default_statistics_name_says_which_split_the_real_videos_are():
    """UCF-101's real set is its train split; MSR-VTT's is its test split, and the file name says so."""
    from vidrd_bench.runners.score import default_stats_path

    assert default_stats_path("ucf101", "fvd-ucf101-10k", 256).name == "ucf101_train_fvd-ucf101-10k_256px.npz"
    assert default_stats_path("msrvtt", "fvd-msrvtt-2990", 256).name == "msrvtt_test_fvd-msrvtt-2990_256px.npz"


def test_a_real_side_mismatch_names_the_stats_command_of_the_protocols_dataset():
    """Statistics of other real settings are refused with the `stats` command of the dataset the protocol reads."""
    msrvtt = get_protocol("fvd-msrvtt-2990")
    other = {**msrvtt.to_dict(), "real_seed": 7}
    with pytest.raises(ProtocolMismatchError, match="vidrd-bench stats msrvtt --protocol fvd-msrvtt-2990"):
        msrvtt.check_same_real(other, "These statistics")
    with pytest.raises(ProtocolMismatchError, match="vidrd-bench stats ucf101 --protocol fvd-ucf101-10k"):
        get_protocol("fvd-ucf101-10k").check_same_real({**other, "real_split": "trainlist01"}, "These statistics")
