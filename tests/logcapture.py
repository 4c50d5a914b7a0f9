"""The bot's own log set-up (`configure_logging`) writing to a buffer, for tests that read what
an operator would see, then the root logger put back as it was."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bot.core.logs import configure_logging


@dataclass
class Logs:
    stream: io.StringIO = field(default_factory=io.StringIO)

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[str]:
        return self.text().splitlines()


@contextmanager
def captured_logs(level: str = "INFO", log_format: str = "text") -> Iterator[Logs]:
    root, sdk = logging.getLogger(), logging.getLogger("slack_sdk")
    queue = logging.getLogger("waitress.queue")
    handlers, root_level, sdk_level = root.handlers[:], root.level, sdk.level
    queue_filters, queue_level = queue.filters[:], queue.level
    logs = Logs()
    configure_logging(level, log_format, stream=logs.stream)
    try:
        yield logs
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        sdk.setLevel(sdk_level)
        queue.filters[:] = queue_filters
        queue.setLevel(queue_level)
