"""The Bolt side of the boundary, in HTTP and Socket Mode alike.

`clean_request_text` (global middleware, registered first by handlers.register): every string
of the body (commands, modal values, events, keys too) and of the context Bolt derived from it
is cleaned once (bot.core.sanitise): no NUL or other refused control characters reach a
listener, the database or Slack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext

from bot.core.sanitise import clean_strings, clean_text


def clean_request_text(
    body: dict[str, Any],
    context: BoltContext,
    next: Callable[[], None],  # noqa: A002
) -> None:
    clean_strings(body)  # in place: Bolt's `payload`, `command`, `view`… are parts of it
    for key, value in list(context.items()):
        if isinstance(value, str):
            context[key] = clean_text(value)
    next()
