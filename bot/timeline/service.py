"""The incident timeline: recording, listing, editing and deleting events."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import NotRequired, TypedDict, Unpack

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.capture.events import ts_to_datetime
from bot.core.errors import UserError
from bot.incidents.keytime_service import store_key_times
from storage.models import EventKind, EventSource, Incident, KeyTime, KeyTimeVia, TimelineEvent

_EVENT_COLUMNS = [column.key for column in TimelineEvent.__table__.columns if column.key != "id"]
_INSERT_EVENT = insert(TimelineEvent).returning(TimelineEvent.id)


class EventFields(TypedDict):
    """What a new event says; the rest comes from its incident. Named once here for both
    record_event and new_event."""

    kind: EventKind
    text: str
    author_id: str | None
    occurred_at: datetime
    now: datetime  # when it was recorded
    source: NotRequired[EventSource]  # default: automatic
    added_by: NotRequired[str | None]  # default: the author
    source_channel_id: NotRequired[str | None]
    source_ts: NotRequired[str | None]
    permalink: NotRequired[str | None]
    key_time: NotRequired[KeyTime | None]


def record_event(
    session: Session, incident: Incident, **fields: Unpack[EventFields]
) -> TimelineEvent:
    event = new_event(incident, **fields)
    session.add(event)
    session.flush()
    return event


def insert_event(session: Session, event: TimelineEvent) -> None:
    """Store `event` (from new_event) with one statement and set its id, leaving it out of
    the session: `/timeline <text>` is the busiest write before an ack, and the ORM's unit of
    work cost several times the insert (on SQLite, holding the lock other requests wait for)."""
    values = {key: getattr(event, key) for key in _EVENT_COLUMNS}
    event.id = session.connection().execute(_INSERT_EVENT, values).scalar_one()


def new_event(incident: Incident, **fields: Unpack[EventFields]) -> TimelineEvent:
    """An event of `incident`, not stored yet (record_event or insert_event stores it)."""
    author_id = fields["author_id"]
    return TimelineEvent(
        team_id=incident.team_id,
        incident_id=incident.id,
        occurred_at=fields["occurred_at"],
        kind=fields["kind"],
        text=fields["text"],
        author_id=author_id,
        recorded_at=fields["now"],
        source=fields.get("source", EventSource.AUTO),
        added_by=fields.get("added_by") or author_id,
        source_channel_id=fields.get("source_channel_id"),
        source_ts=fields.get("source_ts"),
        permalink=fields.get("permalink"),
        key_time=fields.get("key_time"),
    )


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


def check_can_change(
    event: TimelineEvent, *, by: str, admins: Collection[str], action: str = "change"
) -> None:
    """Who may edit or delete an event: whoever put it on the timeline or said it, the
    incident's commander, or someone in POSTMORTEM_ADMINS."""
    allowed = {event.added_by, event.author_id, event.incident.commander_id, *admins}
    if by not in allowed:
        commander = event.incident.commander_id
        raise UserError(
            f"Only whoever logged this event, the incident commander (<@{commander}>) or a "
            f"postmortem admin can {action} it. Log a correction with `/timeline <text>`."
        )


def edit_event(
    session: Session,
    event: TimelineEvent,
    *,
    text: str,
    kind: EventKind,
    occurred_at: datetime,
    by: str,
    now: datetime,
    admins: Collection[str] = frozenset(),
) -> None:
    """Edit an event (by someone allowed to). An event that records a key time keeps its
    kind; moving "Status changed to mitigated" moves the mitigated key time (set by `by`);
    the declaration stays when it happened."""
    check_can_change(event, by=by, admins=admins, action="edit")
    if event.key_time is not None:
        if kind is not event.kind:
            raise UserError(
                "This event records when the incident was "
                f"{event.key_time.label.lower()}; it stays a `{event.kind.value}` event."
            )
        moved = occurred_at != event.occurred_at
        if moved and event.key_time is KeyTime.DECLARED:
            raise UserError(
                "The declaration is when `/incident declare` ran, so its time can't move. "
                "If the incident started earlier, set *impact started* "
                "(`/incident impact started 13:58`)."
            )
        if moved:
            _move_key_time(session, event, occurred_at, by=by, now=now)
    event.text = text
    event.kind = kind
    event.occurred_at = occurred_at
    event.edited_by = by
    event.edited_at = now


def _move_key_time(
    session: Session, event: TimelineEvent, occurred_at: datetime, *, by: str, now: datetime
) -> None:
    incident = event.incident
    if event.key_time is KeyTime.MITIGATED:
        incident.mitigated_at = occurred_at
    elif event.key_time is KeyTime.RESOLVED:
        incident.resolved_at = occurred_at
    if event.key_time in (KeyTime.MITIGATED, KeyTime.RESOLVED):
        store_key_times(
            session,
            incident,
            {event.key_time: occurred_at},
            by=by,
            via=KeyTimeVia.EVENT_EDIT,
            now=now,
        )


def delete_event(
    session: Session,
    event: TimelineEvent,
    *,
    by: str | None = None,
    admins: Collection[str] = frozenset(),
) -> None:
    """Delete an event (by someone allowed to, when `by` is given). The declaration can't be
    deleted: it is the incident's start on the record."""
    if event.key_time is KeyTime.DECLARED:
        raise UserError(
            "The “Incident declared” event can't be deleted: it is when the incident began on "
            "the record. Edit its text if it needs a correction."
        )
    if by is not None:
        check_can_change(event, by=by, admins=admins, action="delete")
    session.delete(event)
