"""Incident lifecycle: declare, change severity and status. Every change lands on the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.errors import UserError
from bot.incidents.keytime_service import (
    KeyTimeConflict,
    clear_key_times,
    store_key_times,
)
from bot.incidents.keytimes import KeyTimes
from bot.timeline.service import record_event
from storage.models import EventKind, Incident, IncidentStatus, KeyTime, KeyTimeVia, Severity
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


# Looked up on most requests from an incident channel: built once (see storage.first_insert).
_IN_CHANNEL = (
    Incident.team_id == bindparam("team_id"),
    Incident.channel_id == bindparam("channel_id"),
)
_OPEN_IN_CHANNEL = select(Incident).where(*_IN_CHANNEL, Incident.status != IncidentStatus.RESOLVED)
_LATEST_IN_CHANNEL = select(Incident).where(*_IN_CHANNEL).order_by(Incident.number.desc()).limit(1)


def open_incident_in_channel(session: Session, team_id: str, channel_id: str) -> Incident | None:
    return session.scalar(_OPEN_IN_CHANNEL, {"team_id": team_id, "channel_id": channel_id})


def latest_incident_in_channel(session: Session, team_id: str, channel_id: str) -> Incident | None:
    return session.scalar(_LATEST_IN_CHANNEL, {"team_id": team_id, "channel_id": channel_id})


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
        key_time=KeyTime.DECLARED,
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


@dataclass(frozen=True)
class StatusChange:
    """What `change_status` did: the status moved, and/or a key time was set by hand."""

    changed: bool
    key_time_set: bool


_STATUS_KEY_TIME = {
    IncidentStatus.MITIGATED: KeyTime.MITIGATED,
    IncidentStatus.RESOLVED: KeyTime.RESOLVED,
}


def change_status(
    session: Session,
    incident: Incident,
    status: IncidentStatus,
    *,
    by: str,
    now: datetime,
    at: datetime | None = None,
) -> StatusChange:
    """Mitigated or resolved, now or `at` a time someone gives (`/incident mitigated at
    14:32`). Given a time, it is the key time (set by `by`); for an incident already in that
    status, giving the time only corrects the key time. Resolving a resolved incident again,
    or going back to active (that is `/incident reopen`), is refused."""
    when = at or now
    if status is IncidentStatus.ACTIVE:
        raise UserError(
            f"{incident.key} is {incident.status.value}; to make it active again: "
            "`/incident reopen`."
        )
    if incident.status is status and at is None:
        raise UserError(
            f"{incident.key} is already {status.value}. To correct when: "
            f"`/incident {status.value} at 14:32`."
        )
    resolved_already = incident.status is IncidentStatus.RESOLVED
    if resolved_already and status is IncidentStatus.MITIGATED and at is None:
        raise UserError(
            f"{incident.key} is resolved; `/incident reopen` makes it active again, and "
            "`/incident mitigated at 14:32` corrects when it was mitigated."
        )
    key_time = _STATUS_KEY_TIME[status]
    if incident.status is status or resolved_already:
        store_key_times(session, incident, {key_time: when}, by=by, via=KeyTimeVia.COMMAND, now=now)
        return StatusChange(changed=False, key_time_set=True)
    incident.status = status
    if status is IncidentStatus.MITIGATED or incident.mitigated_at is None:
        # Resolving without a separate "mitigated" step means the impact ended then too.
        incident.mitigated_at = when
    if status is IncidentStatus.RESOLVED:
        incident.resolved_at = when
    record_event(
        session,
        incident,
        kind=EventKind.STATUS,
        text=f"Status changed to {status.value}",
        author_id=by,
        occurred_at=when,
        now=now,
        key_time=key_time,
    )
    if at is not None:
        store_key_times(session, incident, {key_time: at}, by=by, via=KeyTimeVia.COMMAND, now=now)
    return StatusChange(changed=True, key_time_set=at is not None)


def set_key_time(
    session: Session,
    incident: Incident,
    kind: KeyTime,
    at: datetime | None,
    *,
    by: str,
    now: datetime,
    via: KeyTimeVia = KeyTimeVia.COMMAND,
) -> KeyTimes:
    """`/incident impact started 13:58 UTC` and friends: set one key time (None: derive it
    again). Mitigated and resolved can only be set once the incident got there."""
    if kind is KeyTime.MITIGATED and at is not None and incident.mitigated_at is None:
        raise UserError(
            f"{incident.key} isn't mitigated yet. When it is: `/incident mitigated at <time>`."
        )
    if kind is KeyTime.RESOLVED and at is not None and incident.resolved_at is None:
        raise UserError(
            f"{incident.key} isn't resolved yet. When it is: `/incident resolved at <time>`."
        )
    return store_key_times(session, incident, {kind: at}, by=by, via=via, now=now)


def save_key_times(
    session: Session,
    incident: Incident,
    values: dict[KeyTime, datetime | None],
    *,
    by: str,
    now: datetime,
) -> dict[KeyTime, str]:
    """The "Edit key times" modal: store every field at once (an empty one: derive it again).
    Returns the errors to show next to fields; nothing is stored when there are any."""
    errors: dict[KeyTime, str] = {}
    if values.get(KeyTime.MITIGATED) is not None and incident.mitigated_at is None:
        errors[KeyTime.MITIGATED] = "It isn't mitigated yet: leave this empty for now."
    if values.get(KeyTime.RESOLVED) is not None and incident.resolved_at is None:
        errors[KeyTime.RESOLVED] = "It isn't resolved yet: leave this empty for now."
    if errors:
        return errors
    try:
        store_key_times(session, incident, values, by=by, via=KeyTimeVia.MODAL, now=now)
    except KeyTimeConflict as conflict:
        return conflict.problems
    return {}


def reopen_incident(session: Session, incident: Incident, *, by: str, now: datetime) -> None:
    """`/incident reopen`: a mitigated or resolved incident is active again.

    The resolution is undone (resolved at, and an impact end or resolution someone set, are
    cleared), and so is the mitigation: when it is mitigated and resolved again, those are the
    times that count. Impact start and detection stay. The channel's one open incident is kept
    by the database: if another was declared here meanwhile, reopening is refused.
    """
    if incident.status is IncidentStatus.ACTIVE:
        raise UserError(f"{incident.key} is already active.")
    latest = latest_incident_in_channel(session, incident.team_id, incident.channel_id)
    if latest is not None and latest.id != incident.id:
        raise UserError(
            f"{latest.key} came after {incident.key} in this channel; only the latest "
            "incident of a channel can be reopened."
        )
    was = incident.status
    ended = incident.resolved_at or incident.mitigated_at
    try:
        with session.begin_nested():
            incident.status = IncidentStatus.ACTIVE
            session.flush()
    except IntegrityError:
        session.refresh(incident)
        winner = open_incident_in_channel(session, incident.team_id, incident.channel_id)
        if winner is None:
            raise
        raise _already_open(winner) from None
    incident.resolved_at = None
    incident.mitigated_at = None
    clear_key_times(session, incident, (KeyTime.MITIGATED, KeyTime.RESOLVED, KeyTime.IMPACT_ENDED))
    shown = f" at {ended.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if ended else ""
    record_event(
        session,
        incident,
        kind=EventKind.STATUS,
        text=f"Incident reopened (it was {was.value}{shown})",
        author_id=by,
        occurred_at=now,
        now=now,
    )
