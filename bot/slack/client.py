"""The one place a Slack Web API client is built (base URL from SLACK_API_URL, retries on).

Every client built here is an `InstrumentedWebClient`: each Web API call is counted and timed
by method and outcome (bot.core.metrics). Bolt builds a plain WebClient of its own for each
request; `bot.app`'s `instrument_request_client` middleware makes that one count too.
"""

from __future__ import annotations

import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web import SlackResponse

from bot.core.metrics import observe_api_call
from bot.core.settings import Settings

API_TIMEOUT_SECONDS = 15


class InstrumentedWebClient(WebClient):
    """A WebClient that counts and times every call (`api_call` is where every method, paged
    or not, ends up), labelled by method and Slack's error code or the exception's class."""

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        started = time.perf_counter()
        error: str | None = None
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as failure:
            error = str(failure.response.get("error") or "unknown_error")
            raise
        except Exception as failure:
            error = type(failure).__name__
            raise
        finally:
            observe_api_call("slack", api_method, error, time.perf_counter() - started)


def instrumented(client: WebClient) -> WebClient:
    """Make a plain WebClient count its calls (in place: whoever holds it keeps holding it).
    The subclass adds no state, so changing the class of a live client is safe."""
    if type(client) is WebClient:
        client.__class__ = InstrumentedWebClient
    return client


def retry_handlers() -> list[RetryHandler]:
    """429 (waiting Retry-After), connection errors and 5xx are retried a few times."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


def make_web_client(settings: Settings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return client_with_token(settings, token)


def client_with_token(settings: Settings, token: str | None) -> WebClient:
    """A client for `token` (a workspace's installation token, or None for the OAuth exchange)
    with the same base URL, timeout and retries as every other."""
    return InstrumentedWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=API_TIMEOUT_SECONDS,
        retry_handlers=retry_handlers(),
    )
