"""Follow-ups: create (once per request), change status, owner and due date, find and list.

Every change is kept in `follow_up_changes` with who and when; creating one also puts an automatic
event on the incident's timeline, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.errors import UserError
from bot.core.visibility import visible_incidents_filter
from bot.followups.commands import FollowUpRef, ListScope, NewFollowUp
from bot.incidents.service import latest_incident_in_channel
from bot.timeline.service import record_event
from storage.models import (
    EventKind,
    EventSource,
    FollowUp,
    FollowUpChange,
    FollowUpField,
    FollowUpStatus,
    Incident,
)
from storage.sequences import next_value

OPEN_STATUSES = (FollowUpStatus.OPEN, FollowUpStatus.IN_PROGRESS)
SNOOZE_FOR = timedelta(days=1)
NO_INCIDENT_HINT = (
    "This channel has no incident, so there is nothing to attach a follow-up to. Run this in "
    "the incident's channel (it works after the incident is resolved, too)."
)


@dataclass(frozen=True)
class SourceMessage:
    """The Slack message a follow-up was made from (the *Create follow-up* shortcut)."""

    channel_id: str
    ts: str
    permalink: str | None


@dataclass(frozen=True)
class Change:
    """One change, for the thread of the announcement: `by` changed `field` from → to."""

    field: FollowUpField
    before: str | None
    after: str | None
    by: str


@dataclass(frozen=True)
class Page:
    items: list[FollowUp]
    total: int  # how many match, of which `items` are the first ones


def incident_for_followup(session: Session, team_id: str, channel_id: str) -> Incident:
    """The channel's incident, open or resolved (follow-ups often come after resolution)."""
    incident = latest_incident_in_channel(session, team_id, channel_id)
    if incident is None:
        raise UserError(NO_INCIDENT_HINT)
    return incident


def create_followup(
    session: Session,
    incident: Incident,
    new: NewFollowUp,
    *,
    created_by: str,
    now: datetime,
    description: str = "",
    source: SourceMessage | None = None,
    request_key: str | None = None,
) -> tuple[FollowUp, bool]:
    """Create a follow-up numbered within its incident; returns (follow-up, created).

    A request seen before (same `request_key`: a retried submission or command, even one racing
    on another replica) returns the existing follow-up with created=False.
    """
    existing = _by_request_key(session, request_key)
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():  # a lost race rolls the number back too
            number = next_value(session, incident.team_id, f"incident:{incident.id}:followups")
            followup = FollowUp(
                team_id=incident.team_id,
                incident_id=incident.id,
                incident=incident,
                number=number,
                title=new.title,
                description=description,
                owner_id=new.owner_id,
                due_date=new.due_date,
                priority=new.priority,
                status=FollowUpStatus.OPEN,
                created_by=created_by,
                created_at=now,
                updated_at=now,
                source_channel_id=source.channel_id if source else None,
                source_ts=source.ts if source else None,
                permalink=source.permalink if source else None,
                request_key=request_key,
            )
            session.add(followup)
            session.flush()
    except IntegrityError:
        winner = _by_request_key(session, request_key)
        if winner is None:
            raise
        return winner, False
    _changed(session, followup, FollowUpField.CREATED, None, followup.key, created_by, now)
    record_event(
        session,
        incident,
        kind=EventKind.FOLLOWUP,
        text=f"Follow-up {followup.key} created: {new.title}",
        author_id=created_by,
        occurred_at=now,
        now=now,
        source=EventSource.AUTO,
    )
    return followup, True


def _by_request_key(session: Session, request_key: str | None) -> FollowUp | None:
    if request_key is None:
        return None
    return session.scalar(select(FollowUp).where(FollowUp.request_key == request_key))


def get_followup(session: Session, *, team_id: str, followup_id: int) -> FollowUp:
    followup = session.get(FollowUp, followup_id)
    if followup is None or followup.team_id != team_id:
        raise UserError("That follow-up no longer exists (its incident may have been deleted).")
    return followup


def find_followup(session: Session, *, team_id: str, channel_id: str, ref: FollowUpRef) -> FollowUp:
    """`INC-42-F3` anywhere in the workspace; `F3` / `3` within the channel's incident."""
    if ref.incident_number is None:
        incident = latest_incident_in_channel(session, team_id, channel_id)
        if incident is None:
            raise UserError(
                f"`{ref.label}` needs its incident: use the full id (like `INC-42-F3`), or run "
                "this in the incident's channel."
            )
    else:
        incident = session.scalar(
            select(Incident).where(
                Incident.team_id == team_id, Incident.number == ref.incident_number
            )
        )
        if incident is None:
            raise UserError(f"There is no incident INC-{ref.incident_number} in this workspace.")
    followup = session.scalar(
        select(FollowUp).where(FollowUp.incident_id == incident.id, FollowUp.number == ref.number)
    )
    if followup is None:
        raise UserError(
            f"{incident.key} has no follow-up F{ref.number}. `/followup list all` shows its "
            "follow-ups."
        )
    return followup


def change_status(
    session: Session, followup: FollowUp, status: FollowUpStatus, *, by: str, now: datetime
) -> Change:
    if followup.status is status:
        raise UserError(f"{followup.key} is already {status.label}.")
    before = followup.status
    followup.status = status
    if not status.is_open:
        followup.snoozed_until = None
    return _changed(session, followup, FollowUpField.STATUS, before.value, status.value, by, now)


def reassign(
    session: Session, followup: FollowUp, owner_id: str | None, *, by: str, now: datetime
) -> Change | None:
    """Give the follow-up a new owner; None when nothing changed (the select was re-picked)."""
    if followup.owner_id == owner_id:
        return None
    before = followup.owner_id
    followup.owner_id = owner_id
    followup.snoozed_until = None  # a snooze was the previous owner's
    return _changed(session, followup, FollowUpField.OWNER, before, owner_id, by, now)


def change_due_date(
    session: Session, followup: FollowUp, due: date, *, by: str, now: datetime
) -> Change | None:
    if followup.due_date == due:
        return None
    before = followup.due_date
    followup.due_date = due
    return _changed(
        session, followup, FollowUpField.DUE_DATE, before.isoformat(), due.isoformat(), by, now
    )


def snooze(session: Session, followup: FollowUp, *, by: str, now: datetime) -> Change:
    """Quiet a follow-up for a day (App Home lists it last, reminders skip it)."""
    if not followup.status.is_open:
        raise UserError(f"{followup.key} is {followup.status.label}; there is nothing to snooze.")
    before = followup.snoozed_until
    followup.snoozed_until = now + SNOOZE_FOR
    return _changed(
        session,
        followup,
        FollowUpField.SNOOZED_UNTIL,
        before.isoformat() if before else None,
        followup.snoozed_until.isoformat(),
        by,
        now,
    )


def set_announcement(
    session: Session, followup_id: int, *, channel_id: str, ts: str, permalink: str | None
) -> None:
    followup = session.get_one(FollowUp, followup_id)
    followup.announcement_channel_id = channel_id
    followup.announcement_ts = ts
    followup.announcement_permalink = permalink


def _changed(
    session: Session,
    followup: FollowUp,
    field: FollowUpField,
    before: str | None,
    after: str | None,
    by: str,
    now: datetime,
) -> Change:
    """Stamp the follow-up and keep the change (who, when, what) in its history."""
    followup.updated_at = now
    session.add(
        FollowUpChange(
            team_id=followup.team_id,
            follow_up_id=followup.id,
            changed_by=by,
            changed_at=now,
            field=field,
            old_value=before,
            new_value=after,
        )
    )
    session.flush()
    return Change(field=field, before=before, after=after, by=by)


# -- lists ----------------------------------------------------------------------------------


def incident_followups(
    session: Session, incident: Incident, *, include_closed: bool = True, limit: int | None = None
) -> Page:
    """An incident's follow-ups by due date (the postmortem's corrective actions)."""
    query = select(FollowUp).where(FollowUp.incident_id == incident.id)
    if not include_closed:
        query = query.where(FollowUp.status.in_(OPEN_STATUSES))
    return _page(session, query, limit)


def open_followup_ids(session: Session, incident: Incident) -> list[int]:
    """The incident's open and in-progress follow-ups, by number (`/followup export all`)."""
    return list(
        session.scalars(
            select(FollowUp.id)
            .where(FollowUp.incident_id == incident.id, FollowUp.status.in_(OPEN_STATUSES))
            .order_by(FollowUp.number)
        )
    )


def owned_open(session: Session, *, team_id: str, owner_id: str, limit: int | None) -> Page:
    """Open and in-progress follow-ups someone owns, across incidents (`list mine`, App Home)."""
    query = select(FollowUp).where(
        FollowUp.team_id == team_id,
        FollowUp.owner_id == owner_id,
        FollowUp.status.in_(OPEN_STATUSES),
    )
    return _page(session, query, limit)


def owned_all(session: Session, *, team_id: str, owner_id: str, limit: int | None) -> Page:
    query = select(FollowUp).where(FollowUp.team_id == team_id, FollowUp.owner_id == owner_id)
    return _page(session, query, limit)


def overdue(
    session: Session,
    *,
    team_id: str,
    today: date,
    incident: Incident | None,
    viewer_id: str,
    limit: int | None,
) -> Page:
    """Open follow-ups due before `today`: the incident's, or the team's.

    Team-wide, follow-ups of private incidents are left out unless the viewer is in the
    incident's channel (bot.core.visibility) or owns them (their title is then hidden).
    """
    query = select(FollowUp).where(
        FollowUp.team_id == team_id,
        FollowUp.status.in_(OPEN_STATUSES),
        FollowUp.due_date < today,
    )
    if incident is not None:
        query = query.where(FollowUp.incident_id == incident.id)
    else:
        visible = select(Incident.id).where(visible_incidents_filter(viewer_id))
        query = query.where(or_(FollowUp.incident_id.in_(visible), FollowUp.owner_id == viewer_id))
    return _page(session, query, limit)


def list_followups(
    session: Session,
    scope: ListScope,
    *,
    team_id: str,
    user_id: str,
    incident: Incident | None,
    today: date,
    limit: int | None,
) -> Page:
    """`/followup list [mine|overdue|all]`; `incident` is the channel's, if it has one."""
    if scope is ListScope.MINE:
        return owned_open(session, team_id=team_id, owner_id=user_id, limit=limit)
    if scope is ListScope.OVERDUE:
        return overdue(
            session, team_id=team_id, today=today, incident=incident, viewer_id=user_id, limit=limit
        )
    if incident is None:  # `all` outside an incident channel: everything you own
        return owned_all(session, team_id=team_id, owner_id=user_id, limit=limit)
    include_closed = scope is ListScope.ALL
    return incident_followups(session, incident, include_closed=include_closed, limit=limit)


def _page(session: Session, query: Select[FollowUp], limit: int | None) -> Page:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ordered = query.order_by(FollowUp.due_date, FollowUp.incident_id, FollowUp.number)
    if limit is not None:
        ordered = ordered.limit(limit)
    return Page(items=list(session.scalars(ordered).unique()), total=total)
