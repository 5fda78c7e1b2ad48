"""Library log lines known to be harmless here, filtered; prompt truncation said once instead of per prompt.

diffusers logs a deprecation notice each time a frozen pipeline class (TextToVideoSDPipeline, ...) is built: the
installed version is pinned and the adapters are tested against it. Its CLIP-based pipelines check the untruncated
prompt first (transformers then warns that the ids exceed 77 tokens) and log the cut-off text of every long prompt
(diffusers' pipeline_text_to_video_synth.py, encode_prompt: "The following part of your input was truncated").
"""

from __future__ import annotations

import logging
import sys

HARMLESS = (
    "has been deprecated and will not receive bug fixes",  # diffusers: a frozen pipeline class, version pinned
    "Token indices sequence length is longer than the specified maximum",  # transformers: before the truncation
    "because `accelerate` was not found",  # diffusers: loads without low_cpu_mem_usage, same weights
)
TRUNCATED = "The following part of your input was truncated"
TRUNCATION_NOTE = ("note: a prompt is longer than the pipeline's text encoder takes (77 tokens for CLIP) and is "
                   "truncated, as the pipeline itself does; later truncations are not shown.")


class QuietFilter(logging.Filter):
    """Drops HARMLESS records; drops every truncation record, saying TRUNCATION_NOTE at the first."""

    def __init__(self) -> None:
        super().__init__()
        self.truncated = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the records this module silences."""
        message = record.getMessage()
        if message.startswith(TRUNCATED):
            self.truncated += 1
            if self.truncated == 1:
                print(TRUNCATION_NOTE, file=sys.stderr)
            return False
        return not any(text in message for text in HARMLESS)


FILTER = QuietFilter()


def install() -> None:
    """Attach FILTER to the handlers of diffusers' and transformers' library loggers (once each)."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for logger in (diffusers_logging.get_logger("diffusers"), transformers_logging.get_logger("transformers")):
        for handler in logger.handlers:
            if FILTER not in handler.filters:
                handler.addFilter(FILTER)
