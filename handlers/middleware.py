"""The Bolt side of the boundary, in HTTP and Socket Mode alike.

1. `refusal`: a second lock behind bot.web.slack_events, checked by Bolt's very first
   middleware (bot.app's `before_authorize`, so even authorization never runs for it): over
   HTTP only requests marked verified there go on; Socket Mode requests come over Slack's
   authenticated websocket. Anything else gets 401 and goes no further.
2. `clean_request_text` (global middleware, registered first by handlers.register): every
   string of the body (commands, modal values, events, keys too) and of the context Bolt derived
   from it is cleaned once (bot.core.sanitise): no NUL or other refused control characters
   reach a listener, the database or Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltRequest, BoltResponse

from bot.core.sanitise import clean_strings, clean_text
from bot.web.verify import VERIFIED_CONTEXT_KEY

log = logging.getLogger("postmortem_bot.boundary")


def is_verified(request: BoltRequest) -> bool:
    """Came over Socket Mode, or passed bot.web.verify over HTTP."""
    return request.mode == "socket_mode" or request.context.get(VERIFIED_CONTEXT_KEY) is True


def refusal(request: BoltRequest) -> BoltResponse | None:
    """A 401 for a request that is not verified (and an error logged: it means something hands
    Bolt requests around bot.web.slack_events); None for one that is."""
    if is_verified(request):
        return None
    log.error("a request reached Bolt without passing verification; refused")
    return BoltResponse(status=401, body={"error": "invalid request"})


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
