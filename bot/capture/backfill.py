"""Backfilling a channel's history into the capture store (what the bot missed while away).

`conversations.history` (newest first, 200 a page, from `oldest`) and then
`conversations.replies` for every thread found. Each page is committed on its own, so no
transaction is held across a network call and an interrupted backfill keeps what it fetched;
running it again is harmless (rows are keyed by ts, see bot.capture).

Rate limits: the Web API client already retries a 429 a few times (bot/slack_client.py). When a
429 still escapes it, we wait Retry-After and ask again for the SAME page (same cursor): a
backfill never starts over from the first page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy.exc import OperationalError

from bot.capture.events import datetime_to_ts
from bot.capture.service import store_messages
from bot.core.clock import Clock
from storage.db import Database
from storage.models import Incident

log = logging.getLogger("postmortem_bot.backfill")

PAGE_SIZE = 200
MAX_RATE_LIMIT_WAITS = 5  # in a row, for one page, on top of the client's own retries
DEFAULT_RETRY_AFTER = 1  # seconds, when a 429 comes without a usable Retry-After
MAX_RETRY_AFTER = 300
PAGE_WRITE_ATTEMPTS = 3

Sleep = Callable[[float], None]


@dataclass
class BackfillResult:
    pages: int = 0  # pages fetched (history and replies)
    messages: int = 0  # messages stored new or changed (housekeeping ones are skipped)
    threads: int = 0  # threads whose replies were fetched
    rate_limit_waits: int = 0  # 429s that escaped the client's retries and were waited out


def retry_after_seconds(error: SlackApiError) -> float | None:
    """Seconds to wait for a 429 answer; None when the error is not a rate limit."""
    response = error.response
    if response.status_code != 429:
        return None
    headers: dict[str, Any] = dict(response.headers or {})
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return float(min(max(int(raw), 0), MAX_RETRY_AFTER))
            except (TypeError, ValueError):
                break
    return float(DEFAULT_RETRY_AFTER)


class _Pager:
    """Calls one paginated method, waiting out 429s and resuming from the same cursor."""

    def __init__(self, call: Callable[..., SlackResponse], sleep: Sleep, result: BackfillResult):
        self._call, self._sleep, self._result = call, sleep, result

    def pages(self, **params: Any) -> Iterator[SlackResponse]:
        cursor: str | None = None
        while True:
            page = self._fetch(params, cursor)
            self._result.pages += 1
            yield page
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return

    def _fetch(self, params: dict[str, Any], cursor: str | None) -> SlackResponse:
        waits = 0
        while True:
            try:
                if cursor is None:
                    return self._call(**params)
                return self._call(**params, cursor=cursor)
            except SlackApiError as error:
                seconds = retry_after_seconds(error)
                if seconds is None or waits >= MAX_RATE_LIMIT_WAITS:
                    raise
                waits += 1
                self._result.rate_limit_waits += 1
                log.info("rate limited; waiting %.0fs, then asking for the same page", seconds)
                self._sleep(seconds)


def _store_page(
    db: Database, team_id: str, channel_id: str, messages: list[dict[str, Any]], clock: Clock
) -> int:
    """One page, one transaction; tried again when the database gives up on it (a deadlock
    with the live writer storing the same new message, SQLite's lock timing out)."""
    for attempt in range(1, PAGE_WRITE_ATTEMPTS + 1):
        try:
            with db.session() as session:
                return store_messages(
                    session, team_id=team_id, channel_id=channel_id, messages=messages, now=clock()
                )
        except OperationalError:
            if attempt == PAGE_WRITE_ATTEMPTS:
                raise
            log.warning("storing a page of %s failed; trying again", channel_id, exc_info=True)
    raise AssertionError("unreachable")


def _own_ids(client: WebClient) -> set[str]:
    """The bot's own user and bot ids: its messages are not captured (live capture never sees
    them either: Bolt drops the bot's own events), so the channel log is what people said."""
    try:
        identity = client.auth_test()
    except SlackApiError:
        return set()
    return {str(v) for v in (identity.get("user_id"), identity.get("bot_id")) if v}


def _is_own(message: dict[str, Any], mine: set[str]) -> bool:
    return message.get("user") in mine or message.get("bot_id") in mine


def backfill_channel(
    client: WebClient,
    db: Database,
    *,
    team_id: str,
    channel_id: str,
    oldest: datetime,
    clock: Clock,
    sleep: Sleep = time.sleep,
) -> BackfillResult:
    """Store every message of the channel since `oldest`, thread replies included.

    Raises SlackApiError when Slack refuses (missing scope, channel gone, rate limited for
    too long); what was fetched before that is kept.
    """
    result = BackfillResult()
    thread_parents: list[str] = []
    history = _Pager(client.conversations_history, sleep, result)
    mine = _own_ids(client)

    def store(messages: list[dict[str, Any]]) -> None:
        people = [m for m in messages if not _is_own(m, mine)]
        result.messages += _store_page(db, team_id, channel_id, people, clock)

    for page in history.pages(channel=channel_id, oldest=datetime_to_ts(oldest), limit=PAGE_SIZE):
        messages = page.get("messages") or []
        store(messages)
        thread_parents += [m["ts"] for m in messages if int(m.get("reply_count") or 0) > 0]

    replies = _Pager(client.conversations_replies, sleep, result)
    for parent_ts in thread_parents:
        result.threads += 1
        for page in replies.pages(channel=channel_id, ts=parent_ts, limit=PAGE_SIZE):
            # Slack repeats the parent at the top of every page: stored once, by its ts.
            store([m for m in page.get("messages") or [] if m.get("ts") != parent_ts])
    log.info(
        "backfilled %s: %d messages, %d threads, %d pages",
        channel_id,
        result.messages,
        result.threads,
        result.pages,
    )
    return result


def backfill_incident(
    client: WebClient,
    db: Database,
    incident: Incident,
    *,
    leadup: timedelta,
    clock: Clock,
    sleep: Sleep = time.sleep,
) -> BackfillResult:
    """Backfill an incident's channel from `leadup` before it was declared (what the
    declaration and the postmortem generator use)."""
    return backfill_channel(
        client,
        db,
        team_id=incident.team_id,
        channel_id=incident.channel_id,
        oldest=incident.declared_at - leadup,
        clock=clock,
        sleep=sleep,
    )
