"""Progress counted in videos, and the clear error when DataLoader workers run out of shared memory."""

import pytest

from vidrd_bench.core.progress import SharedMemoryError, video_batches


def _batches(sizes, fail=None):
    """Loader stand-in: batches of `sizes` kept videos, then optionally the error a worker dies with."""
    for i, n in enumerate(sizes):
        yield {"index": list(range(n)), "skipped": [("short.mp4", 3)] if i == 0 else [], "errors": []}
    if fail:
        raise RuntimeError(fail)


def test_bar_counts_videos_kept_and_skipped(capsys):
    got = list(video_batches(_batches([4, 4, 1]), total=10, desc="i3d features", enabled=True))
    assert len(got) == 3
    err = capsys.readouterr().err
    assert "10/10" in err and "video" in err


def test_shared_memory_death_is_a_clear_error_other_errors_pass_through():
    message = ("DataLoader worker (pid 123) is killed by signal: Bus error. It is possible that dataloader's workers "
               "are out of shared memory. Please try to raise your shared memory limit.")
    with pytest.raises(SharedMemoryError, match=r"--ipc=host or --shm-size=8g.*--num-workers 0"):
        list(video_batches(_batches([2], fail=message), total=2, desc="d", enabled=False))
    with pytest.raises(RuntimeError, match="something else"):
        list(video_batches(_batches([2], fail="something else"), total=2, desc="d", enabled=False))


def test_bars_are_plain_text_without_ipywidgets(monkeypatch):
    """Without ipywidgets tqdm.auto warns 'IProgress not found' in notebooks: progress uses tqdm's text bars then,
    and tqdm.auto's only where ipywidgets is installed."""
    import importlib
    import importlib.util

    import tqdm as tqdm_package
    import tqdm.auto

    import vidrd_bench.core.progress as progress
    real = importlib.util.find_spec
    try:
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ipywidgets" else real(name))
        assert importlib.reload(progress).tqdm is tqdm_package.tqdm
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "ipywidgets" else real(name))
        assert importlib.reload(progress).tqdm is tqdm.auto.tqdm
    finally:
        monkeypatch.undo()
        importlib.reload(progress)
