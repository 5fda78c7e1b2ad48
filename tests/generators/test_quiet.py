"""diffusers' and transformers' harmless log lines are filtered; a long prompt's truncation is said once."""

import logging

from vidrd_bench.generators import quiet


def _emit(name: str, message: str) -> None:
    """Log `message` as that library's module logger does."""
    logging.getLogger(name).warning(message)


def test_harmless_lines_are_dropped_and_truncation_is_one_summary_line(capsys, monkeypatch):
    monkeypatch.setattr(quiet.FILTER, "truncated", 0)  # one filter per process: count from here
    quiet.install()
    from diffusers.utils import logging as diffusers_logging
    handler = diffusers_logging.get_logger("diffusers").handlers[0]
    for _ in range(3):
        _emit("diffusers.pipelines.text_to_video_synthesis.pipeline_text_to_video_synth",
              "The following part of your input was truncated because CLIP can only handle sequences up to 77 "
              "tokens: ['a very long prompt a very long prompt']")
    _emit("diffusers.pipelines.pipeline_utils", "The TextToVideoSDPipeline has been deprecated and will not receive "
          "bug fixes or feature updates after Diffusers version 0.33.1.")
    _emit("transformers.tokenization_utils_base", "Token indices sequence length is longer than the specified "
          "maximum sequence length for this model (600 > 77).")
    _emit("diffusers.models.modeling_utils", "Something that matters")
    err = capsys.readouterr().err
    assert err.count(quiet.TRUNCATION_NOTE) == 1 and quiet.FILTER.truncated == 3
    assert "a very long prompt" not in err and "deprecated" not in err and "Token indices" not in err
    assert quiet.FILTER in handler.filters
    record = logging.LogRecord("diffusers.x", logging.WARNING, "", 0, "Something that matters", None, None)
    assert quiet.FILTER.filter(record)  # other lines pass
