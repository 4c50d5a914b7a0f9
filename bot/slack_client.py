"""The one place a Slack Web API client is built (base URL from SLACK_API_URL, retries on)."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import Settings

API_TIMEOUT_SECONDS = 15


def retry_handlers() -> list[RetryHandler]:
    """429 (waiting Retry-After), connection errors and 5xx are retried a few times."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


def make_web_client(settings: Settings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=API_TIMEOUT_SECONDS,
        retry_handlers=retry_handlers(),
    )
