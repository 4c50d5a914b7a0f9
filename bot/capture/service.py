"""Storing captured messages: CapturedMessage upserts keyed by (team, channel, ts), following
the rules in bot.capture (newest version wins, a deletion is final)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.capture.events import (
    Delete,
    Delivery,
    MessageSnapshot,
    Outcome,
    snapshot_of,
    ts_to_datetime,
)
from bot.slack.event_claims import claim_event
from storage.captured import message_is, messages_are
from storage.models import CapturedMessage, Incident


def is_incident_channel(session: Session, team_id: str, channel_id: str) -> bool:
    """A channel that has (or had) an incident: its messages are worth keeping."""
    found = session.scalar(
        select(Incident.id)
        .where(Incident.team_id == team_id, Incident.channel_id == channel_id)
        .limit(1)
    )
    return found is not None


class IncidentChannels:
    """is_incident_channel with a memory of the yeses: an incident never leaves its channel,
    so a yes stays true (on every replica); a no is asked again each time, as an incident
    may be declared at any moment. One per process and database."""

    def __init__(self, limit: int = 10_000) -> None:
        self._known: set[tuple[str, str]] = set()
        self._limit = limit

    def contains(self, session: Session, team_id: str, channel_id: str) -> bool:
        key = (team_id, channel_id)
        if key in self._known:
            return True
        if not is_incident_channel(session, team_id, channel_id):
            return False
        if len(self._known) >= self._limit:
            self._known.clear()
        self._known.add(key)
        return True


def _find(session: Session, team_id: str, channel_id: str, ts: str) -> CapturedMessage | None:
    return session.scalar(select(CapturedMessage).where(*message_is(team_id, channel_id, ts)))


_INSERT_COLUMNS = (
    "team_id",
    "channel_id",
    "ts",
    "thread_ts",
    "posted_at",
    "user_id",
    "bot_id",
    "username",
    "subtype",
    "text",
    "file_names",
    "edited_at",
    "deleted_at",
    "captured_at",
)
_inserts: dict[str, Any] = {}  # dialect name → the statement, built once (this is the hot path)


def _insert_statement(dialect: str) -> Any:
    statement = _inserts.get(dialect)
    if statement is None:
        table = CapturedMessage.__table__
        assert isinstance(table, Table)
        module: Any = postgresql if dialect == "postgresql" else sqlite
        statement = module.insert(table).on_conflict_do_nothing(
            index_elements=["team_id", "channel_id", "ts"]
        )
        _inserts[dialect] = statement
    return statement


def _insert_new(session: Session, values: dict[str, Any]) -> bool:
    """INSERT unless the key exists (a concurrent writer may have just stored it): True if new."""
    table = CapturedMessage.__table__
    assert isinstance(table, Table)
    statement = _insert_statement(session.get_bind().dialect.name).returning(table.c.id)
    row = {name: values.get(name) for name in _INSERT_COLUMNS}
    return session.execute(statement, row).first() is not None


def _is_newer(snapshot: MessageSnapshot, row: CapturedMessage) -> bool:
    if row.edited_at is None:
        return True  # the stored version is the original: anything is at least as new
    return snapshot.edited_at is not None and snapshot.edited_at >= row.edited_at


def _merge(row: CapturedMessage, snapshot: MessageSnapshot) -> Outcome:
    if row.deleted_at is not None or not _is_newer(snapshot, row):
        return Outcome.UNCHANGED
    changed = False
    wanted: dict[str, Any] = {
        "text": snapshot.text,
        "file_names": list(snapshot.file_names),
        "edited_at": snapshot.edited_at or row.edited_at,
        "thread_ts": snapshot.thread_ts or row.thread_ts,
        "user_id": snapshot.user_id or row.user_id,
        "bot_id": snapshot.bot_id or row.bot_id,
        "username": snapshot.username or row.username,
        "subtype": snapshot.subtype or row.subtype,
    }
    for name, value in wanted.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return Outcome.UPDATED if changed else Outcome.UNCHANGED


def store_snapshot(
    session: Session, *, team_id: str, channel_id: str, snapshot: MessageSnapshot, now: datetime
) -> Outcome:
    """Insert the message, or bring the stored one up to date (never reviving a deleted one)."""
    inserted = _insert_new(session, _row(team_id, channel_id, snapshot, now))
    if inserted:
        return Outcome.INSERTED
    row = _find(session, team_id, channel_id, snapshot.ts)
    assert row is not None, "the conflicting row must exist"
    return _merge(row, snapshot)


def store_messages(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    messages: Iterable[Mapping[str, Any]],
    now: datetime,
) -> int:
    """Store history items (conversations.history/replies) in bulk: one INSERT … ON CONFLICT
    DO NOTHING for the page, one lookup of the rows that were there already, and an update of
    those the page has a newer version of. Returns how many rows were inserted or changed.

    The lookup names team, channel, the page's ts values and its time span, so it is an index
    search whatever the planner's statistics say (storage.captured: a channel-wide scan per
    lookup made generation quadratic on a PostgreSQL without fresh statistics).
    """
    snapshots = {s.ts: s for s in map(snapshot_of, messages) if s is not None}
    if not snapshots:
        return 0
    # Oldest first, as every page is written: concurrent writers of a channel take row locks
    # in the same order, so they wait for each other instead of deadlocking.
    ordered = sorted(snapshots.values(), key=lambda s: s.posted_at)
    rows = [_row(team_id, channel_id, snapshot, now) for snapshot in ordered]
    table = CapturedMessage.__table__
    assert isinstance(table, Table)
    statement = _insert_statement(session.get_bind().dialect.name).returning(table.c.ts)
    inserted = {row.ts for row in session.execute(statement, rows)}
    present = [ts for ts in snapshots if ts not in inserted]
    changed = 0
    if present:
        # No ORDER BY: with one, PostgreSQL (before 17) keeps the ts list out of the index
        # condition to return rows in index order, and scans the channel. Updates are flushed
        # in primary key order anyway, so concurrent writers still lock rows in one order.
        existing = session.scalars(
            select(CapturedMessage).where(*messages_are(team_id, channel_id, present))
        ).all()
        for row in existing:
            changed += _merge(row, snapshots[row.ts]) is Outcome.UPDATED
    return len(inserted) + changed


def _row(team_id: str, channel_id: str, snapshot: MessageSnapshot, now: datetime) -> dict[str, Any]:
    return {
        "team_id": team_id,
        "channel_id": channel_id,
        "ts": snapshot.ts,
        "thread_ts": snapshot.thread_ts,
        "posted_at": snapshot.posted_at,
        "user_id": snapshot.user_id,
        "bot_id": snapshot.bot_id,
        "username": snapshot.username,
        "subtype": snapshot.subtype,
        "text": snapshot.text,
        "file_names": list(snapshot.file_names),
        "edited_at": snapshot.edited_at,
        "deleted_at": None,
        "captured_at": now,
    }


def mark_deleted(
    session: Session, *, team_id: str, channel_id: str, change: Delete, now: datetime
) -> Outcome:
    """Clear the message and mark it deleted, for good (a tombstone row if it is unknown)."""
    try:
        posted_at = ts_to_datetime(change.ts)
    except ValueError:
        return Outcome.IGNORED
    tombstone: dict[str, Any] = {
        "team_id": team_id,
        "channel_id": channel_id,
        "ts": change.ts,
        "thread_ts": change.thread_ts,
        "posted_at": posted_at,
        "text": "",
        "file_names": [],
        "deleted_at": now,
        "captured_at": now,
    }
    if _insert_new(session, tombstone):
        return Outcome.DELETED  # deleted before we saw it: the tombstone stops a revival
    row = _find(session, team_id, channel_id, change.ts)
    assert row is not None, "the conflicting row must exist"
    if row.deleted_at is not None:
        return Outcome.UNCHANGED
    row.deleted_at, row.text, row.file_names = now, "", []
    return Outcome.DELETED


def apply_delivery(session: Session, delivery: Delivery, channels: IncidentChannels) -> Outcome:
    """Store one live event, in the caller's transaction, once per event id.

    The claim is made in the same transaction as the write: if the write fails, so does the
    claim, and Slack's retry gets processed. Nothing is written for other channels.
    """
    if not channels.contains(session, delivery.team_id, delivery.channel_id):
        return Outcome.IGNORED
    if delivery.event_id and not claim_event(
        session, team_id=delivery.team_id, event_id=delivery.event_id, now=delivery.received_at
    ):
        return Outcome.DUPLICATE
    where = {"team_id": delivery.team_id, "channel_id": delivery.channel_id}
    if isinstance(delivery.change, Delete):
        return mark_deleted(session, **where, change=delivery.change, now=delivery.received_at)
    return store_snapshot(
        session, **where, snapshot=delivery.change.snapshot, now=delivery.received_at
    )


def declared_by(session: Session, team_id: str, channel_id: str, at: datetime) -> datetime | None:
    """When the incident the channel was running at `at` was declared (None: none was)."""
    return session.scalar(
        select(func.max(Incident.declared_at)).where(
            Incident.team_id == team_id,
            Incident.channel_id == channel_id,
            Incident.declared_at <= at,
        )
    )
