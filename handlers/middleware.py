"""The Bolt side of the boundary, in HTTP and Socket Mode alike.

1. `refusal`: a second lock behind bot.web.slack_events, checked by Bolt's very first
   middleware (bot.app's `before_authorize`, so even authorization never runs for it): over
   HTTP only requests marked verified there go on; Socket Mode requests come over Slack's
   authenticated websocket. Anything else gets 401 and goes no further.
2. `clean_request_text` (global middleware, registered first by handlers.register): every
   string of the body (commands, modal values, events, keys too) and of the context Bolt derived
   from it is cleaned once (bot.core.sanitise): no NUL or other refused control characters
   reach a listener, the database or Slack.
3. `checked_replies` (global middleware, next): Bolt's `respond` becomes a CheckedRespond,
   which POSTs only to a response_url on SLACK_RESPONSE_URL_HOSTS and otherwise answers with
   chat.postEphemeral.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from ssl import SSLContext
from typing import Any

from slack_bolt import BoltContext, BoltRequest, BoltResponse
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookResponse

from bot.core.sanitise import clean_strings, clean_text
from bot.slack.response_urls import ResponseUrlPolicy, without_query
from bot.web.verify import VERIFIED_CONTEXT_KEY

log = logging.getLogger("postmortem_bot.boundary")

Middleware = Callable[..., Any]
# What CheckedRespond returns when it did not POST to the response_url (callers ignore it).
NOT_POSTED = WebhookResponse(url="", status_code=0, body="", headers={})


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


class CheckedRespond(Respond):
    """Bolt's `respond`, POSTing only to allowed response_urls. For any other URL it logs a
    warning (without the query) and posts the same text privately with chat.postEphemeral
    instead, when `fallback` allows (only verified requests get one)."""

    def __init__(
        self,
        *,
        response_url: str | None,
        policy: ResponseUrlPolicy,
        fallback: Callable[[str, Sequence[Any] | None], None] | None,
        proxy: str | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        super().__init__(response_url=response_url, proxy=proxy, ssl=ssl)
        self.policy = policy
        self._fallback = fallback

    def __call__(
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[dict[str, Any] | Block] | None = None,
        attachments: Sequence[dict[str, Any] | Attachment] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        url = self.response_url
        if url is None or self.policy.allows(url):  # None: Bolt's own ValueError
            return super().__call__(
                text,
                blocks,
                attachments,
                response_type,
                replace_original,
                delete_original,
                unfurl_links,
                unfurl_media,
                thread_ts,
                metadata,
            )
        log.warning(
            "not posting to a response_url outside SLACK_RESPONSE_URL_HOSTS: %s",
            without_query(url),
        )
        if self._fallback is not None:
            if isinstance(text, dict):  # a whole message
                message, text = text, str(text.get("text", ""))
                blocks = message.get("blocks")
            self._fallback(text, blocks)
        return NOT_POSTED


def ephemeral_fallback(
    client: WebClient | None, channel_id: str | None, user_id: str | None
) -> Callable[[str, Sequence[Any] | None], None] | None:
    """Post privately to the person behind the request, where there is a channel to do it in."""
    if client is None or not channel_id or not user_id:
        return None

    def post(text: str, blocks: Sequence[Any] | None) -> None:
        client.chat_postEphemeral(channel=channel_id, user=user_id, text=text, blocks=blocks)

    return post


def checked_replies(policy: ResponseUrlPolicy) -> Middleware:
    def checked_replies_middleware(
        request: BoltRequest,
        context: BoltContext,
        next: Callable[[], None],  # noqa: A002
    ) -> None:
        fallback = None
        if is_verified(request):
            fallback = ephemeral_fallback(context.client, context.channel_id, context.user_id)
        context["respond"] = CheckedRespond(
            response_url=context.response_url,
            policy=policy,
            fallback=fallback,
            proxy=context.client.proxy if context.client else None,
            ssl=context.client.ssl if context.client else None,
        )
        next()

    return checked_replies_middleware
