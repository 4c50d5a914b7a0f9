"""What needs a reminder now: indexed queries, then each item's reminder in its reader's day.

Selection reads across every team. Follow-ups come from the partial index of open follow-ups
by due date; postmortems from (status, status_changed_at). Local dates differ by time zone, so
queries take a UTC-day margin and `classify_*` decide per recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, joinedload

from bot.reminders.claims import ClaimKey
from storage.models import (
    FollowUp,
    FollowUpStatus,
    Incident,
    Postmortem,
    PostmortemStatus,
    ReminderItem,
    ReminderKind,
)

OPEN = (FollowUpStatus.OPEN, FollowUpStatus.IN_PROGRESS)
MARGIN = timedelta(days=1)  # time zones run from UTC-12 to UTC+14


@dataclass(frozen=True)
class Rules:
    due_soon_days: int
    draft_sla: timedelta
    review_sla: timedelta


@dataclass(frozen=True)
class Candidates:
    followups: list[FollowUp]
    postmortems: list[Postmortem]


@dataclass(frozen=True)
class Reminder:
    """One item in one person's DM."""

    key: ClaimKey
    team_id: str
    recipient_id: str
    followup: FollowUp | None = None
    postmortem: Postmortem | None = None


def followups_query(*, now: datetime, rules: Rules) -> Select[FollowUp]:
    """Open, not snoozed follow-ups due by the widest 'soon' of any time zone."""
    horizon = (now + MARGIN).date() + timedelta(days=rules.due_soon_days)
    return (
        select(FollowUp)
        .where(
            FollowUp.status.in_(OPEN),
            FollowUp.due_date <= horizon,
            or_(FollowUp.snoozed_until.is_(None), FollowUp.snoozed_until <= now),
        )
        .order_by(FollowUp.due_date, FollowUp.id)
    )


def postmortem_queries(*, now: datetime, rules: Rules) -> list[Select[Postmortem]]:
    """Drafts past the SLA since their incident was resolved; reviews past theirs."""
    drafts = (
        select(Postmortem)
        .join(Incident, Incident.id == Postmortem.incident_id)
        .where(
            Postmortem.status == PostmortemStatus.DRAFT,
            Incident.resolved_at <= now - rules.draft_sla,
        )
    )
    reviews = select(Postmortem).where(
        Postmortem.status == PostmortemStatus.IN_REVIEW,
        Postmortem.status_changed_at <= now - rules.review_sla,
    )
    return [drafts, reviews]


def select_followups(session: Session, *, now: datetime, rules: Rules) -> list[FollowUp]:
    return list(session.scalars(followups_query(now=now, rules=rules)).unique())


def select_postmortems(session: Session, *, now: datetime, rules: Rules) -> list[Postmortem]:
    found = [
        item
        for query in postmortem_queries(now=now, rules=rules)
        for item in session.scalars(query.options(joinedload(Postmortem.incident)))
    ]
    return sorted(found, key=lambda p: p.id)


def select_candidates(session: Session, *, now: datetime, rules: Rules) -> Candidates:
    return Candidates(
        followups=select_followups(session, now=now, rules=rules),
        postmortems=select_postmortems(session, now=now, rules=rules),
    )


def followup_recipient(followup: FollowUp) -> str:
    return followup.owner_id or followup.incident.commander_id


def classify_followup(followup: FollowUp, *, today: date, rules: Rules) -> Reminder | None:
    """Overdue (daily, keyed by the reader's date) or due soon (once, keyed by the due date)."""
    if followup.due_date < today:
        kind, day = ReminderKind.OVERDUE, today
    elif (followup.due_date - today).days <= rules.due_soon_days:
        kind, day = ReminderKind.DUE_SOON, followup.due_date
    else:
        return None
    return Reminder(
        key=ClaimKey(ReminderItem.FOLLOWUP, followup.id, kind, day),
        team_id=followup.team_id,
        recipient_id=followup_recipient(followup),
        followup=followup,
    )


def classify_postmortem(postmortem: Postmortem, *, today: date) -> Reminder:
    kind = (
        ReminderKind.DRAFT_STALE
        if postmortem.status is PostmortemStatus.DRAFT
        else ReminderKind.REVIEW_STALE
    )
    return Reminder(
        key=ClaimKey(ReminderItem.POSTMORTEM, postmortem.id, kind, today),
        team_id=postmortem.team_id,
        recipient_id=postmortem.owner_id,
        postmortem=postmortem,
    )
