"""Suite-wide: the features cache goes to a temporary folder, never the user's ~/.cache."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def features_cache(tmp_path_factory):
    """Point VIDRD_BENCH_CACHE at a session folder for every test."""
    old = os.environ.get("VIDRD_BENCH_CACHE")
    os.environ["VIDRD_BENCH_CACHE"] = str(tmp_path_factory.mktemp("features_cache"))
    yield
    if old is None:
        os.environ.pop("VIDRD_BENCH_CACHE", None)
    else:
        os.environ["VIDRD_BENCH_CACHE"] = old
