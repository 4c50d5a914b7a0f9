"""Jira links in the database: one per exported follow-up, with a lease so that one worker at a
time exports it, and a retry schedule with exponential backoff when an export fails."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.jira.gateway import JiraIssue
from storage.models import FollowUp, JiraExportState, JiraLink

LEASE = timedelta(minutes=2)  # longer than a slow export with timeouts; then another may try
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=6)


def marker_for(followup: FollowUp) -> str:
    """The label that identifies this follow-up's issue in Jira (searched before any create)."""
    return f"postmortem-bot-{followup.team_id.lower()}-{followup.id}"


def ensure_link(session: Session, followup: FollowUp, *, by: str, now: datetime) -> JiraLink:
    """The follow-up's link, created (pending) on the first export request."""
    link = session.scalars(select(JiraLink).where(JiraLink.follow_up_id == followup.id)).first()
    if link is None:
        link = JiraLink(
            team_id=followup.team_id,
            follow_up_id=followup.id,
            marker=marker_for(followup),
            state=JiraExportState.PENDING,
            requested_by=by,
            requested_at=now,
            attempts=0,
        )
        session.add(link)
        session.flush()
    return link


def claim(session: Session, link_id: int, now: datetime) -> bool:
    """Take the export lease (one UPDATE, so two workers never both win). Commit before the
    Jira call, so the other workers see the lease."""
    result = session.execute(
        update(JiraLink)
        .where(
            JiraLink.id == link_id,
            JiraLink.state != JiraExportState.EXPORTED,
            or_(JiraLink.lease_until.is_(None), JiraLink.lease_until < now),
        )
        .values(lease_until=now + LEASE)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def record_exported(
    session: Session, link_id: int, issue: JiraIssue, *, assignee_note: str | None, now: datetime
) -> None:
    link = session.get_one(JiraLink, link_id)
    link.state = JiraExportState.EXPORTED
    link.issue_key, link.issue_url = issue.key, issue.url
    link.assignee_note = assignee_note
    link.exported_at = now
    link.lease_until = None
    link.last_error = None
    link.next_attempt_at = None
    link.attempts += 1
    remember(link, issue, now=now)


def record_failed(session: Session, link_id: int, reason: str, *, now: datetime) -> datetime:
    """Keep the reason and schedule the next try (1 min, 2, 4 ... at most 6 h apart)."""
    link = session.get_one(JiraLink, link_id)
    link.attempts += 1
    link.state = JiraExportState.FAILED
    link.last_error = reason
    link.lease_until = None
    link.next_attempt_at = now + backoff(link.attempts)
    return link.next_attempt_at


def backoff(attempts: int) -> timedelta:
    exponent: int = max(0, min(attempts - 1, 20))
    return min(FIRST_RETRY * (1 << exponent), LONGEST_WAIT)


def remember(link: JiraLink, issue: JiraIssue, *, now: datetime) -> None:
    """What Jira says now: later syncs apply only what changes from here."""
    link.status_name, link.status_category = issue.status_name, issue.category
    link.seen_due = issue.due
    link.seen_assignee = _assignee_id(issue)
    link.jira_updated = issue.updated or link.jira_updated
    link.synced_at = now


def _assignee_id(issue: JiraIssue) -> str | None:
    if issue.assignee is None:
        return None
    return issue.assignee.account_id or issue.assignee.name


def due_exports(session: Session, now: datetime, limit: int = 100) -> list[tuple[str, int]]:
    """(team, follow-up id) of exports to try now: failed ones whose time has come, and pending
    ones nobody holds (a process died mid-export, or an auto-export never ran)."""
    rows = session.execute(
        select(JiraLink.team_id, JiraLink.follow_up_id)
        .where(
            or_(
                (JiraLink.state == JiraExportState.FAILED) & (JiraLink.next_attempt_at <= now),
                JiraLink.state == JiraExportState.PENDING,
            ),
            or_(JiraLink.lease_until.is_(None), JiraLink.lease_until < now),
        )
        .order_by(JiraLink.next_attempt_at)
        .limit(limit)
    ).all()
    return [(team, followup_id) for team, followup_id in rows]


def exported_keys(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(JiraLink.issue_key)
            .where(JiraLink.state == JiraExportState.EXPORTED, JiraLink.issue_key.is_not(None))
            .order_by(JiraLink.id)
        )
    )


def link_by_key(session: Session, key: str) -> JiraLink | None:
    return session.scalars(select(JiraLink).where(JiraLink.issue_key == key)).first()


def pending_pushes(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(
        select(JiraLink.team_id, JiraLink.follow_up_id).where(JiraLink.push_status.is_not(None))
    ).all()
    return [(team, followup_id) for team, followup_id in rows]
