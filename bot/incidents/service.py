"""Incident lifecycle: declare, change severity and status. Every change lands on the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.errors import UserError
from bot.timeline.service import record_event
from storage.models import EventKind, Incident, IncidentStatus, Severity
from storage.sequences import next_value

DEFAULT_SEVERITY = Severity.SEV3
NO_INCIDENT_HINT = (
    "This channel has no open incident. Declare one here with "
    "`/incident declare <title> [sev1-sev5]`."
)


NO_TIMELINE_HINT = (
    "This channel has no incident, so there is no timeline to add to. Run this in the "
    "incident's channel, or declare one here with `/incident declare <title>`."
)


@dataclass(frozen=True)
class Workspace:
    """Where a request came from: every row is scoped by these ids."""

    team_id: str
    enterprise_id: str | None = None


def open_incident_in_channel(session: Session, team_id: str, channel_id: str) -> Incident | None:
    return session.scalar(
        select(Incident).where(
            Incident.team_id == team_id,
            Incident.channel_id == channel_id,
            Incident.status != IncidentStatus.RESOLVED,
        )
    )


def latest_incident_in_channel(session: Session, team_id: str, channel_id: str) -> Incident | None:
    return session.scalar(
        select(Incident)
        .where(Incident.team_id == team_id, Incident.channel_id == channel_id)
        .order_by(Incident.number.desc())
        .limit(1)
    )


def incident_for_timeline(session: Session, team_id: str, channel_id: str) -> Incident:
    """The channel's incident, open or resolved (events are often added after resolution)."""
    incident = latest_incident_in_channel(session, team_id, channel_id)
    if incident is None:
        raise UserError(NO_TIMELINE_HINT)
    return incident


def require_open_incident(session: Session, team_id: str, channel_id: str) -> Incident:
    incident = open_incident_in_channel(session, team_id, channel_id)
    if incident is not None:
        return incident
    latest = latest_incident_in_channel(session, team_id, channel_id)
    if latest is not None:
        raise UserError(
            f"{latest.key} in this channel is already resolved. To start a new one: "
            "`/incident declare <title> [sev1-sev5]`."
        )
    raise UserError(NO_INCIDENT_HINT)


def declare_incident(
    session: Session,
    *,
    workspace: Workspace,
    channel_id: str,
    channel_private: bool,
    commander_id: str,
    title: str,
    severity: Severity | None,
    now: datetime,
) -> Incident:
    existing = open_incident_in_channel(session, workspace.team_id, channel_id)
    if existing is not None:
        raise _already_open(existing)
    incident = Incident(
        team_id=workspace.team_id,
        enterprise_id=workspace.enterprise_id,
        number=next_value(session, workspace.team_id, "incident"),
        title=title,
        severity=severity or DEFAULT_SEVERITY,
        status=IncidentStatus.ACTIVE,
        channel_id=channel_id,
        channel_private=channel_private,
        commander_id=commander_id,
        declared_at=now,
    )
    try:
        with session.begin_nested():
            session.add(incident)
    except IntegrityError:
        # Two declares raced in one channel: the unique index let only one through.
        winner = open_incident_in_channel(session, workspace.team_id, channel_id)
        if winner is None:
            raise
        raise _already_open(winner) from None
    record_event(
        session,
        incident,
        kind=EventKind.STATUS,
        text=f"Incident declared ({incident.severity.label}): {title}",
        author_id=commander_id,
        occurred_at=now,
        now=now,
    )
    return incident


def _already_open(incident: Incident) -> UserError:
    return UserError(
        f"This channel already has an open incident: *{incident.key}*. "
        "Use `/incident status` to see it, or declare the new one in its own channel."
    )


def change_severity(
    session: Session, incident: Incident, severity: Severity, *, by: str, now: datetime
) -> Severity:
    """Set the severity; returns the previous one."""
    previous = incident.severity
    if severity is previous:
        raise UserError(f"{incident.key} is already {severity.label}.")
    incident.severity = severity
    record_event(
        session,
        incident,
        kind=EventKind.STATUS,
        text=f"Severity changed from {previous.label} to {severity.label}",
        author_id=by,
        occurred_at=now,
        now=now,
    )
    return previous


def change_status(
    session: Session, incident: Incident, status: IncidentStatus, *, by: str, now: datetime
) -> None:
    if incident.status is status:
        raise UserError(f"{incident.key} is already {status.value}.")
    if incident.status is IncidentStatus.RESOLVED:
        raise UserError(f"{incident.key} is resolved; its status can no longer change.")
    if status is IncidentStatus.ACTIVE:
        raise UserError(f"{incident.key} is {incident.status.value}; it can't go back to active.")
    incident.status = status
    if status is IncidentStatus.MITIGATED or incident.mitigated_at is None:
        # Resolving without a separate "mitigated" step means the impact ended now too.
        incident.mitigated_at = now
    if status is IncidentStatus.RESOLVED:
        incident.resolved_at = now
    record_event(
        session,
        incident,
        kind=EventKind.STATUS,
        text=f"Status changed to {status.value}",
        author_id=by,
        occurred_at=now,
        now=now,
    )
