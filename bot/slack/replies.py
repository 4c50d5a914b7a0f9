"""Private replies sent after the ack (to a request's `response_url`, or `chat.postEphemeral`),
on threads of their own, so a slow or dead URL never holds a thread that answers Slack.

A reply is best effort: a short timeout and no retries (Bolt's `respond` retries a refused
connection with sleeps, which held request threads for seconds), and a URL that just failed is
not tried again for a minute (an error report must not follow a failed reply to the same dead
URL). The queue is bounded: past it, replies are dropped and logged. Replies are ephemeral
notes to one person; what must survive a crash goes through the outbox instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.slack.response_urls import without_query

log = logging.getLogger("postmortem_bot.replies")

TIMEOUT_SECONDS = 3
FORGET_FAILURE_AFTER = 60.0  # seconds a failed URL is not tried again
MAX_PENDING = 1000
Json = dict[str, Any]


class Replies:
    """The process's reply sender. `allows` says which response_urls may be POSTed to."""

    def __init__(
        self,
        *,
        threads: int = 4,
        allows: Callable[[str], bool] | None = None,
        timeout: int = TIMEOUT_SECONDS,
    ) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="reply")
        self._slots = threading.BoundedSemaphore(MAX_PENDING)
        self._allows = allows
        self._timeout = timeout
        self._failed: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self.dropped = 0

    def respond(self, response_url: str | None, message: Json) -> bool:
        """Queue `message` for `response_url` (returns at once); False if it won't be sent."""
        if not response_url:
            return False
        if not self.allowed(response_url):
            log.warning(
                "not posting to a response_url outside SLACK_RESPONSE_URL_HOSTS: %s",
                without_query(response_url),
            )
            return False
        if self._recently_failed(response_url):
            log.info("not replying again to a response_url that just failed")
            return False
        return self._submit(lambda: self._post(response_url, message))

    def ephemeral(self, client: WebClient, *, channel: str, user: str, text: str) -> bool:
        """Queue a `chat.postEphemeral` (returns at once)."""
        return self._submit(lambda: self._ephemeral(client, channel, user, text))

    def allowed(self, response_url: str) -> bool:
        """Only response_urls SLACK_RESPONSE_URL_HOSTS allows (bot.slack.response_urls): the
        URL comes in the request body, and posting anywhere it says would be a forgery."""
        return self._allows is None or self._allows(response_url)

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued, then stop (call when the bot stops)."""
        self._executor.shutdown(wait=True, cancel_futures=False)

    # -- internals ---------------------------------------------------------------------------

    def _submit(self, send: Callable[[], None]) -> bool:
        if not self._slots.acquire(blocking=False):
            self.dropped += 1
            log.error("reply queue full: dropped a private reply (%d so far)", self.dropped)
            return False

        def run() -> None:
            try:
                send()
            finally:
                self._slots.release()

        try:
            self._executor.submit(run)
        except RuntimeError:  # shutting down
            self._slots.release()
            return False
        return True

    def _post(self, url: str, message: Json) -> None:
        client = WebhookClient(url=url, timeout=self._timeout, retry_handlers=[])
        try:
            response = client.send_dict(message)
        except Exception as error:
            self._remember_failure(url)
            log.info("private reply not delivered (%s)", type(error).__name__)
            return
        if response.status_code >= 400:
            self._remember_failure(url)
            log.info("private reply refused by Slack (HTTP %d)", response.status_code)

    def _ephemeral(self, client: WebClient, channel: str, user: str, text: str) -> None:
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=text)
        except Exception as error:
            log.info("ephemeral message not delivered (%s)", type(error).__name__)

    def _remember_failure(self, url: str) -> None:
        with self._lock:
            self._failed[url] = time.monotonic()
            self._failed.move_to_end(url)
            while len(self._failed) > 10_000:
                self._failed.popitem(last=False)

    def _recently_failed(self, url: str) -> bool:
        with self._lock:
            at = self._failed.get(url)
            if at is None:
                return False
            if time.monotonic() - at > FORGET_FAILURE_AFTER:
                del self._failed[url]
                return False
            return True
