"""The real bot on a loopback port, talking to a FakeSlack: for tests, benchmarks and the demo.

Nothing here is a mock of the bot: it is the production app factory, the production HTTP
server and correctly signed requests; only Slack itself is simulated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.app import create_bot
from bot.core.clock import Clock, utc_now
from bot.core.settings import Settings
from bot.services import Services
from bot.web.server import HttpServer, WebApp
from bot.webapp.app import create_web_view
from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import SlackRequests
from storage.db import Database

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example secret
T = TypeVar("T")


@dataclass
class RunningBot:
    url: str
    settings: Settings
    requests: SlackRequests


def sandbox_settings(slack: FakeSlack, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": slack.bot_token,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.api_url,
        "database_url": database_url,
        # The fake's response URLs (and a test's recorders) are plain HTTP on the loopback.
        "slack_response_url_hosts": "hooks.slack.com,http://127.0.0.1",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextmanager
def running_bot(
    slack: FakeSlack,
    db: Database,
    *,
    clock: Clock = utc_now,
    signature_clock: Callable[[], float] = time.time,
    threads: int = 8,
    deliver_events: bool = False,
    **overrides: Any,
) -> Iterator[RunningBot]:
    """Serve the bot until the block ends, then stop it gracefully (in-flight work finishes).
    `clock` is the bot's business time; `signature_clock` (Unix seconds) is what request
    timestamps are checked against. With `deliver_events`, the fake delivers what people do
    (post, edit, react) to the bot as Slack's Events API would; otherwise tests send the events
    they need themselves."""
    settings = sandbox_settings(slack, db.url, **overrides)
    bot = create_bot(Services(settings=settings, db=db, clock=clock))
    server = HttpServer(
        WebApp(
            bot.app,
            db,
            signing_secret=SIGNING_SECRET,
            jira_webhook=bot.jira.handle_webhook if bot.jira else None,
            clock=signature_clock,
            web_view=create_web_view(bot.services),
        ),
        host="127.0.0.1",
        port=0,
        threads=threads,
        on_drained=bot.close,
    ).start_in_background()
    if deliver_events:
        slack.deliver_events_to(server.url, SIGNING_SECRET)
    try:
        yield RunningBot(
            url=server.url,
            settings=settings,
            requests=SlackRequests(server.url, SIGNING_SECRET, team_id=slack.team_id),
        )
    finally:
        server.stop()


def wait_until(check: Callable[[], T | None], timeout: float = 10.0, what: str = "it") -> T:
    """Poll for the result of work the bot does after acknowledging a request."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what}")
        time.sleep(0.02)


def message_event(
    channel_id: str, message: dict[str, Any], *, private: bool = False
) -> dict[str, Any]:
    """The Events API `message` event for a message the fake holds (Slack's shape)."""
    event = {
        "type": "message",
        "channel": channel_id,
        "channel_type": "group" if private else "channel",
        "event_ts": message["ts"],
        **{k: v for k, v in message.items() if k != "reactions"},
    }
    return event
