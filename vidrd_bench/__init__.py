"""vidrd-bench: the VidRD UCF-101 text-to-video benchmark (generation, FVD, IS, tables, CI reports).

The public API, imported on first use so that `import vidrd_bench` stays light (no torch until needed):

    import vidrd_bench as vb
    record = vb.score_fvd("ucf101_train_fvd-ucf101-10k_256px.npz", "my_videos/", protocol="fvd-ucf101-10k")
    metric = vb.FVD(real_stats="ucf101_train_fvd-ucf101-10k_256px.npz"); metric.update(videos); metric.compute()
    vb.fvd(features_a, features_b); vb.jedi(real_features, fake_features)
    detector = vb.load_detector("i3d-torchscript", trust_detector=True)
    # TorchScript detectors are programs: load_detector and FVD take trust_detector=True,
    # score_fvd / score_is read $VIDRD_BENCH_TRUST_DETECTOR=1 (README, Trust)
"""

import importlib as _importlib

__version__ = "0.1.0"
__all__ = ["FVD", "compute_real_stats", "fvd", "jedi", "jedi_distance", "load_detector", "score_fvd", "score_is", "__version__"]


def __getattr__(name: str):
    """Import the public API from vidrd_bench.api on first access (PEP 562)."""
    if name in __all__:
        return getattr(_importlib.import_module("vidrd_bench.api"), name)
    raise AttributeError(f"module 'vidrd_bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    """Module attributes, including the lazily imported API."""
    return sorted({n for n in globals() if not n.startswith("_")} | set(__all__) | {"__version__"})
