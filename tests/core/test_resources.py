"""Decode workers default to the cores this process may use; an ask above them is capped with a note."""

import os

from vidrd_bench.core import resources


def test_decode_workers_default_to_the_usable_cores_and_cap_with_a_note(monkeypatch, capsys):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert resources.usable_cores() == 2 and resources.decode_workers(None) == 2
    assert resources.decode_workers(1) == 1 and resources.decode_workers(0) == 0 and capsys.readouterr().err == ""
    assert resources.decode_workers(4) == 2
    assert capsys.readouterr().err == ("note: --num-workers 4 is more than the 2 CPU cores this process may use; "
                                       "using 2.\n")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert resources.decode_workers(None) == resources.MAX_DEFAULT_WORKERS == 8
    from vidrd_bench.metrics.extract import ExtractionOptions
    assert ExtractionOptions().num_workers == 8
