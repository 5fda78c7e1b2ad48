"""The one torch.distributed setup: torchrun's environment read once, single-process behaviour."""

from vidrd_bench.core import distributed


def test_single_process_is_rank_zero_of_one(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    ctx = distributed.context()
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.owns_group) == (0, 1, True, False)
    assert ctx.gather({"x": 1}) == [{"x": 1}]


def test_reads_torchrun_environment_without_joining(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ctx = distributed.context(join=False)
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.is_main) == (3, 4, 1, False)
