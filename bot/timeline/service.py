"""The incident timeline: recording, listing, editing and deleting events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.capture.events import ts_to_datetime
from bot.core.errors import UserError
from storage.models import EventKind, EventSource, Incident, TimelineEvent


def record_event(
    session: Session,
    incident: Incident,
    *,
    kind: EventKind,
    text: str,
    author_id: str | None,
    occurred_at: datetime,
    now: datetime,
    source: EventSource = EventSource.AUTO,
    added_by: str | None = None,
    source_channel_id: str | None = None,
    source_ts: str | None = None,
    permalink: str | None = None,
) -> TimelineEvent:
    event = TimelineEvent(
        team_id=incident.team_id,
        incident_id=incident.id,
        occurred_at=occurred_at,
        kind=kind,
        text=text,
        author_id=author_id,
        recorded_at=now,
        source=source,
        added_by=added_by or author_id,
        source_channel_id=source_channel_id,
        source_ts=source_ts,
        permalink=permalink,
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class SlackMessage:
    """The parts of a Slack message the timeline keeps."""

    channel_id: str
    ts: str
    text: str
    author_id: str | None  # a user id, or a bot id for bot messages


def event_for_message(
    session: Session, incident: Incident, message: SlackMessage
) -> TimelineEvent | None:
    return session.scalar(
        select(TimelineEvent).where(
            TimelineEvent.incident_id == incident.id,
            TimelineEvent.source_channel_id == message.channel_id,
            TimelineEvent.source_ts == message.ts,
        )
    )


def add_message(
    session: Session,
    incident: Incident,
    message: SlackMessage,
    *,
    source: EventSource,
    added_by: str,
    permalink: str | None,
    now: datetime,
) -> tuple[TimelineEvent, bool]:
    """Put a Slack message on the timeline at the message's own time, once.

    Returns (event, created); a second attempt (another shortcut, a reaction, a retry, a race
    with another replica) returns the existing event with created=False.
    """
    existing = event_for_message(session, incident, message)
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            event = record_event(
                session,
                incident,
                kind=EventKind.NOTE,
                text=message.text,
                author_id=message.author_id,
                occurred_at=ts_to_datetime(message.ts),
                now=now,
                source=source,
                added_by=added_by,
                source_channel_id=message.channel_id,
                source_ts=message.ts,
                permalink=permalink,
            )
        return event, True
    except IntegrityError:
        winner = event_for_message(session, incident, message)
        if winner is None:
            raise
        return winner, False


def remove_reaction_event(session: Session, incident: Incident, channel_id: str, ts: str) -> bool:
    """Undo a reaction: remove the event only if a reaction is what put it there."""
    event = event_for_message(session, incident, SlackMessage(channel_id, ts, "", None))
    if event is None or event.source is not EventSource.REACTION:
        return False
    session.delete(event)
    return True


def list_events(session: Session, incident: Incident) -> list[TimelineEvent]:
    return list(
        session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident.id)
            .order_by(TimelineEvent.occurred_at, TimelineEvent.id)
        )
    )


def latest_events(
    session: Session, incident: Incident, limit: int
) -> tuple[list[TimelineEvent], int]:
    """The last `limit` events in time order, and how many there are in all."""
    total = (
        session.scalar(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.incident_id == incident.id)
        )
        or 0
    )
    newest = session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident.id)
        .order_by(TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(newest)), total


def get_event(session: Session, *, team_id: str, event_id: int) -> TimelineEvent:
    event = session.get(TimelineEvent, event_id)
    if event is None or event.team_id != team_id:
        raise UserError("That timeline event no longer exists (someone may have deleted it).")
    return event


def edit_event(
    session: Session,
    event: TimelineEvent,
    *,
    text: str,
    kind: EventKind,
    occurred_at: datetime,
    by: str,
    now: datetime,
) -> None:
    event.text = text
    event.kind = kind
    event.occurred_at = occurred_at
    event.edited_by = by
    event.edited_at = now


def delete_event(session: Session, event: TimelineEvent) -> None:
    session.delete(event)
