"""Capturing incident channels: what a Slack message event (or history item) means for the
stored channel. Pure: no database, no network (storing is bot.capture_store, the live write
path bot.capture_writer, history bot.backfill).

One row per (team, channel, ts), whatever the route (live event, retry, backfill), so nothing is
ever stored twice. The rules that make the routes agree, whatever order they arrive in:
- a newer version of a message wins: `edited.ts` orders versions, an unedited message is the
  oldest version, so a late original (a retry, an old history page) never undoes an edit;
- a deletion is final: the row keeps its key with `deleted_at` set and no text or files, and no
  later event or backfill brings the message back (a deletion seen before the message leaves
  such a tombstone row behind, for the same reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

# Messages people (and integrations) write. Everything else is housekeeping: channel_join,
# channel_leave, topic/purpose/name changes, pins, reminders, tombstones... and is not kept.
KEPT_SUBTYPES = frozenset({None, "bot_message", "thread_broadcast", "file_share", "me_message"})
DELETED_SUBTYPE = "tombstone"  # what a deleted thread parent turns into


class Outcome(StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    DELETED = "deleted"
    UNCHANGED = "unchanged"  # nothing new (same version, an older one, or already deleted)
    IGNORED = "ignored"  # not a message we keep, or not an incident channel
    DUPLICATE = "duplicate"  # an Events API retry of a delivery already processed


@dataclass(frozen=True)
class MessageSnapshot:
    """What we keep of one version of a Slack message."""

    ts: str
    thread_ts: str | None
    user_id: str | None
    bot_id: str | None
    username: str | None
    subtype: str | None
    text: str
    file_names: tuple[str, ...]
    edited_at: datetime | None

    @property
    def posted_at(self) -> datetime:
        return ts_to_datetime(self.ts)


@dataclass(frozen=True)
class Upsert:
    snapshot: MessageSnapshot


@dataclass(frozen=True)
class Delete:
    ts: str
    thread_ts: str | None


Change = Upsert | Delete


@dataclass(frozen=True)
class Delivery:
    """One Events API delivery of a message event, understood and ready to store."""

    team_id: str
    event_id: str | None  # Slack's retries carry the same one
    channel_id: str
    change: Change
    received_at: datetime


def ts_to_datetime(ts: str) -> datetime:
    """A Slack ts ("1596183880.004200") as an aware UTC datetime, exact to the microsecond."""
    seconds, _, fraction = ts.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 6:
        raise ValueError(f"not a Slack ts: {ts!r}")
    micros = int(fraction.ljust(6, "0")) if fraction else 0
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)


def datetime_to_ts(moment: datetime) -> str:
    """The inverse of ts_to_datetime, for `oldest`/`latest` parameters."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return f"{delta // timedelta(seconds=1)}.{delta.microseconds:06d}"


def _file_names(message: Mapping[str, Any]) -> tuple[str, ...]:
    names = []
    for item in message.get("files") or ():
        if isinstance(item, Mapping):
            name = item.get("name") or item.get("title") or item.get("id")
            if isinstance(name, str) and name:
                names.append(name)
    return tuple(names)


def snapshot_of(message: Mapping[str, Any]) -> MessageSnapshot | None:
    """The stored form of a message (event or history item); None for housekeeping subtypes
    and anything without a usable ts."""
    subtype = message.get("subtype")
    ts = message.get("ts")
    if subtype not in KEPT_SUBTYPES or not isinstance(ts, str):
        return None
    try:
        ts_to_datetime(ts)
        edited = message.get("edited") or {}
        edited_at = ts_to_datetime(edited["ts"]) if edited.get("ts") else None
    except (ValueError, TypeError):
        return None
    username = message.get("username") or (message.get("bot_profile") or {}).get("name")
    return MessageSnapshot(
        ts=ts,
        thread_ts=message.get("thread_ts"),
        user_id=message.get("user"),
        bot_id=message.get("bot_id"),
        username=username,
        subtype=subtype,
        text=message.get("text") or "",
        file_names=_file_names(message),
        edited_at=edited_at,
    )


def interpret_event(event: Mapping[str, Any]) -> Change | None:
    """What a `message` event means for the stored channel, or None when it means nothing
    (housekeeping subtypes, message_replied and other notifications)."""
    subtype = event.get("subtype")
    if subtype == "message_deleted":
        deleted_ts = event.get("deleted_ts")
        previous = event.get("previous_message") or {}
        if not isinstance(deleted_ts, str):
            return None
        try:
            ts_to_datetime(deleted_ts)
        except ValueError:
            return None
        return Delete(ts=deleted_ts, thread_ts=previous.get("thread_ts"))
    if subtype == "message_changed":
        message = event.get("message") or {}
        if message.get("subtype") == DELETED_SUBTYPE and isinstance(message.get("ts"), str):
            return Delete(ts=message["ts"], thread_ts=message.get("thread_ts"))
        # Reply counts, unfurls and the like also arrive as changes: storing the same text and
        # files again changes nothing (see capture_store), so they need no special case here.
        snapshot = snapshot_of(message)
        return Upsert(snapshot) if snapshot is not None else None
    snapshot = snapshot_of(event)
    return Upsert(snapshot) if snapshot is not None else None


def delivery_of(
    *, team_id: str, event_id: str | None, event: Mapping[str, Any], received_at: datetime
) -> Delivery | None:
    """The delivery to store, or None when the event means nothing for any channel."""
    channel_id = event.get("channel")
    change = interpret_event(event)
    if change is None or not isinstance(channel_id, str) or not channel_id or not team_id:
        return None
    return Delivery(
        team_id=team_id,
        event_id=event_id,
        channel_id=channel_id,
        change=change,
        received_at=received_at,
    )
