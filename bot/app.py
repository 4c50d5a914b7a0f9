"""Building the bot: settings → Web API client → Bolt app with every listener registered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import handlers
from bot.services import Services
from bot.settings import README_HINT
from bot.slack_client import make_web_client

LISTENER_THREADS = 16


class SlackStartupError(Exception):
    """Slack cannot be used with these settings; the message says what to fix."""


@dataclass
class Bot:
    """The Bolt app and the threads that run listener work after each ack."""

    app: App
    executor: ThreadPoolExecutor
    closers: list[Callable[[], object]] = field(default_factory=list)

    def close(self) -> None:
        """Finish the work already started (call after the server stops taking requests):
        listeners still running, then what they queued (captured messages)."""
        self.executor.shutdown(wait=True)
        for closer in self.closers:
            closer()


def verify_slack(client: WebClient, api_url: str) -> None:
    """Check the bot token with `auth.test` now, not on the first user request."""
    try:
        client.auth_test()
    except SlackApiError as error:
        code = error.response.get("error", "unknown_error")
        raise SlackStartupError(
            f"Slack rejected SLACK_BOT_TOKEN ({code}). Copy the Bot User OAuth Token "
            "(xoxb-...) from your app's OAuth & Permissions page. " + README_HINT
        ) from None
    except OSError as error:
        raise SlackStartupError(
            f"Couldn't reach Slack at {api_url} ({error}). Check SLACK_API_URL and the network."
        ) from None


def create_bot(services: Services, *, client: WebClient | None = None) -> Bot:
    """Raises ConfigError (missing settings) or SlackStartupError (Slack refuses or is away)."""
    settings = services.settings
    settings.require_slack()
    client = client or make_web_client(settings)
    verify_slack(client, settings.slack_api_url)
    secret = settings.slack_signing_secret
    executor = ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="listener")
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        # Socket Mode requests come over an authenticated websocket and carry no signature.
        request_verification_enabled=not settings.socket_mode,
        # verify_slack just did it; Bolt would call auth.test a second time.
        token_verification_enabled=False,
        process_before_response=False,
        listener_executor=executor,
        logger=logging.getLogger("postmortem_bot.bolt"),
    )
    closers = handlers.register(app, services)
    return Bot(app=app, executor=executor, closers=closers)
