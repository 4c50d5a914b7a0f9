"""The Events API side of the fake: what people do in the fake workspace (post, edit, delete,
react) is delivered to the app's Request URL as Slack delivers it, once subscribed.

Slack's behaviour, reproduced: each event is wrapped in an `event_callback` envelope with a
unique `event_id`, signed with the app's signing secret, and POSTed on its own; a delivery that
is not answered 2xx within 3 seconds is retried up to three times with `X-Slack-Retry-Num` and
`X-Slack-Retry-Reason` (Slack waits about a minute, then five; here `retry_delays`, short by
default so tests stay quick). Deliveries go out in the order the actions happened, from a
thread of their own, as Slack's do: the action returns before the app has seen it.

Events for the app's own messages are not sent (Bolt drops them anyway: they would only add
traffic).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.slack.signed_requests import SlackRequests

log = logging.getLogger("sandbox.slack.events")

SLACK_TIMEOUT = 3.0  # Slack gives up on a delivery after 3 s
JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    status: int | None  # None: no answer (refused, timed out)
    retry_num: int


@dataclass
class EventPusher:
    """Delivers events to one Request URL, in order, retrying like Slack."""

    requests: SlackRequests
    retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0)
    sleep: Callable[[float], None] = time.sleep
    deliveries: list[Delivery] = field(default_factory=list)
    _queue: queue.Queue[JsonDict | None] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _idle: threading.Condition = field(init=False)
    _pending: int = 0

    def __post_init__(self) -> None:
        self._idle = threading.Condition(self._lock)
        self.requests.timeout = SLACK_TIMEOUT

    def push(self, event: JsonDict) -> None:
        """Queue `event` for delivery (returns at once, as Slack's side does)."""
        with self._lock:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fake-events", daemon=True)
                self._thread.start()
        self._queue.put(event)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every queued event was delivered (or given up)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._deliver(event)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, event: JsonDict) -> None:
        event_id = self.requests.new_event_id()
        for retry, delay in enumerate((0.0, *self.retry_delays)):
            if delay:
                self.sleep(delay)
            status = self._post(event, event_id, retry)
            with self._lock:
                self.deliveries.append(Delivery(event_id, str(event.get("type")), status, retry))
            if status is not None and 200 <= status < 300:
                return
        log.info("gave up delivering %s after %d retries", event_id, len(self.retry_delays))

    def _post(self, event: JsonDict, event_id: str, retry: int) -> int | None:
        try:
            reply = self.requests.event(
                event,
                event_id=event_id,
                retry_num=retry or None,
                retry_reason="http_error" if retry else "http_timeout",
            )
        except OSError:
            return None
        return reply.status


# -- the events people's actions produce (Slack's shapes) ------------------------------------


def message_posted(channel_id: str, private: bool, message: JsonDict) -> JsonDict:
    return {
        "type": "message",
        "channel": channel_id,
        "channel_type": "group" if private else "channel",
        "event_ts": message["ts"],
        **{k: v for k, v in message.items() if k not in ("reactions", "metadata")},
    }


def message_changed(
    channel_id: str, private: bool, message: JsonDict, previous: JsonDict
) -> JsonDict:
    now = f"{time.time():.6f}"
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel_id,
        "channel_type": "group" if private else "channel",
        "ts": now,
        "event_ts": now,
        "message": {k: v for k, v in message.items() if k != "reactions"},
        "previous_message": previous,
    }


def message_deleted(channel_id: str, private: bool, previous: JsonDict) -> JsonDict:
    now = f"{time.time():.6f}"
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": channel_id,
        "channel_type": "group" if private else "channel",
        "ts": now,
        "event_ts": now,
        "deleted_ts": previous["ts"],
        "previous_message": previous,
    }


def reaction(
    kind: str, channel_id: str, ts: str, name: str, user: str, item_user: str | None
) -> JsonDict:
    event: JsonDict = {
        "type": kind,  # reaction_added / reaction_removed
        "user": user,
        "reaction": name,
        "item": {"type": "message", "channel": channel_id, "ts": ts},
        "event_ts": f"{time.time():.6f}",
    }
    if item_user:
        event["item_user"] = item_user
    return event
