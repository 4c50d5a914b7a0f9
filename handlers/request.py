"""One Slack request as a listener sees it, and `listener`, which builds it from Bolt's
arguments and puts the error boundary (`handlers.errors`) around the listener.

Listeners take one `Request` instead of Bolt's injected arguments: the ids every flow needs are
read from the payload in one place, and a test can call a listener with a `Request` it built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_bolt.context.respond import Respond
from slack_bolt.kwargs_injection import Args
from slack_sdk import WebClient

from bot.services import Services
from bot.slack.origin import Origin
from handlers.errors import report

Json = dict[str, Any]


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
    def origin(self) -> Origin:
        return Origin(
            team_id=self.team_id,
            channel_id=self.channel_id,
            user_id=self.user_id,
            enterprise_id=self.context.enterprise_id,
        )

    def reply(self, text: str, blocks: list[Json] | None = None) -> None:
        """Answer privately (after the ack), through the request's response_url. `respond` is
        a handlers.middleware.CheckedRespond: a response_url outside SLACK_RESPONSE_URL_HOSTS is
        never contacted, and the answer goes out with chat.postEphemeral instead."""
        self.respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


Listener = Callable[[Request], None]


def listener(handle: Listener) -> Callable[[Args], None]:
    """Make `handle(request)` a Bolt listener: any error it raises becomes a reply."""

    def wrapper(args: Args) -> None:
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
            handle(request)
        except Exception as error:
            report(error, args)

    # No functools.wraps: Bolt unwraps __wrapped__ and would inject the inner arguments.
    wrapper.__name__ = handle.__name__
    wrapper.__qualname__ = handle.__qualname__
    return wrapper
