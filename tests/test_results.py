"""Provenance stamped on every record."""


def test_records_take_the_commit_baked_into_the_image_when_git_is_absent(monkeypatch):
    from vidrd_bench import results

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(results.subprocess, "run", no_git)
    monkeypatch.setenv("VIDRD_BENCH_GIT_COMMIT", "abc1234")
    assert results.provenance()["git_commit"] == "abc1234"
    monkeypatch.delenv("VIDRD_BENCH_GIT_COMMIT")
    assert results.git_commit() is None
