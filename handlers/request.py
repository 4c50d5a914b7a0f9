"""One Slack request as a listener sees it, and `listener`, which builds it from Bolt's
arguments and puts the error boundary (`handlers.errors`) around the listener.

Listeners take one `Request` instead of Bolt's injected arguments: the ids every flow needs are
read from the payload in one place, and a test can call a listener with a `Request` it built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, BoltContext, BoltResponse
from slack_bolt.context.respond import Respond
from slack_bolt.kwargs_injection import Args
from slack_sdk import WebClient

from bot.services import Services
from bot.slack.origin import Origin
from handlers.errors import report
from storage.write_queue import answering

Json = dict[str, Any]
log = logging.getLogger("postmortem_bot.handlers")


@dataclass(frozen=True)
class Request:
    """What a listener may use: Bolt's `ack` and `respond`, the workspace's client, the body,
    its `payload` (the command, action, view, shortcut or event), and the bot's services."""

    ack: Ack
    respond: Respond
    client: WebClient
    body: Json
    payload: Json
    context: BoltContext
    services: Services

    @property
    def team_id(self) -> str:
        return self.context.team_id or self.body.get("team_id") or ""

    @property
    def user_id(self) -> str:
        """The person who ran the command or clicked (events name theirs in the event)."""
        return str(self.body.get("user_id") or (self.body.get("user") or {}).get("id") or "")

    @property
    def channel_id(self) -> str:
        """The channel of a command, shortcut or message button ("" for modals and Home)."""
        return str(self.body.get("channel_id") or (self.body.get("channel") or {}).get("id") or "")

    @property
    def response_url(self) -> str | None:
        """Where private answers go after the ack (commands, shortcuts, message buttons)."""
        url = self.body.get("response_url") or self.payload.get("response_url")
        if not url:
            urls = self.body.get("response_urls") or []  # a modal with a conversation picker
            url = urls[0].get("response_url") if urls else None
        return str(url) if url else None

    @property
    def trigger_id(self) -> str | None:
        return self.body.get("trigger_id") or None

    @property
    def origin(self) -> Origin:
        return Origin(
            team_id=self.team_id,
            channel_id=self.channel_id,
            user_id=self.user_id,
            enterprise_id=self.context.enterprise_id,
        )

    def answer(self, text: str, blocks: list[Json] | None = None) -> None:
        """Acknowledge with a private answer (slash commands: the HTTP answer carries it)."""
        if blocks is None:
            self.ack(text=text, response_type="ephemeral")
        else:
            self.ack(text=text, blocks=blocks, response_type="ephemeral")

    def reply(
        self, text: str, blocks: list[Json] | None = None, *, replace_original: bool = False
    ) -> None:
        """Answer privately after the ack, through the request's response_url, on a thread of
        its own (the ack is never held up by it)."""
        message: Json = {"text": text, "response_type": "ephemeral"}
        if blocks is not None:
            message["blocks"] = blocks
        message["replace_original"] = replace_original
        self.services.replies.respond(self.response_url, message)

    def confirm(self, text: str, *, channel_id: str | None = None) -> None:
        """Tell the person who clicked or submitted what their change did, privately, after
        the ack: through the response_url when the request has one (message buttons), else as
        an ephemeral message in `channel_id` (a modal's channel, from its metadata) or the
        request's channel. App Home has neither, and shows the change itself."""
        if self.services.replies.respond(
            self.response_url,
            {"text": text, "response_type": "ephemeral", "replace_original": False},
        ):
            return
        channel = channel_id or self.channel_id
        if channel and self.user_id:
            self.services.replies.ephemeral(
                self.client, channel=channel, user=self.user_id, text=text
            )


Listener = Callable[[Request], None]


def listener(handle: Listener) -> Callable[[Args], BoltResponse | None]:
    """Make `handle(request)` a Bolt listener: any error it raises becomes a reply; an Events
    API delivery that could not be handled answers 500, so Slack delivers it again (its claim
    was rolled back with the rest of the transaction)."""

    def wrapper(args: Args) -> BoltResponse | None:
        request = Request(
            ack=args.ack,
            respond=args.respond,
            client=args.client,
            body=args.body,
            payload=args.payload,
            context=args.context,
            services=args.context["services"],
        )
        try:
            # Its writes are for a request not yet acknowledged: they go before work done after
            # other acks (storage.write_queue). Bolt runs a listener after its middleware has
            # returned, so the mark set there (bot.app.before_authorize) has ended by now.
            with answering():
                handle(request)
        except Exception as error:
            if args.body.get("type") == "event_callback":
                log.warning("event %s not handled; Slack will retry it", args.body.get("event_id"))
                log.debug("event failure", exc_info=error)
                return BoltResponse(status=500, body="")
            report(error, args)
        return None

    # No functools.wraps: Bolt unwraps __wrapped__ and would inject the inner arguments.
    wrapper.__name__ = handle.__name__
    wrapper.__qualname__ = handle.__qualname__
    return wrapper
