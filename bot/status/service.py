"""Stakeholder updates, affected components, and the public view of them (the status page).

Private incidents (private channels) never reach the public view, and neither do updates posted
without `--public`. The public view is a set of plain dataclasses: `bot.status_page` turns them
into HTML and JSON without touching the database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.core.visibility import public_incidents_filter
from bot.slack.mrkdwn import plain_text
from bot.timeline.service import record_event
from storage.models import (
    EventKind,
    EventSource,
    Incident,
    IncidentComponent,
    IncidentStatus,
    IncidentUpdate,
    Postmortem,
    PostmortemStatus,
    Severity,
)

RECENTLY_RESOLVED = timedelta(days=7)


class ComponentState(enum.StrEnum):
    """Worst first, so `min()` of several states is the worst one."""

    MAJOR_OUTAGE = "major_outage"
    PARTIAL_OUTAGE = "partial_outage"
    DEGRADED = "degraded_performance"
    OPERATIONAL = "operational"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def rank(self) -> int:
        return list(ComponentState).index(self)


def state_for(incident: Incident) -> ComponentState:
    """What an open incident does to the components it affects."""
    if incident.status is IncidentStatus.RESOLVED:
        return ComponentState.OPERATIONAL
    if incident.status is IncidentStatus.MITIGATED:
        return ComponentState.DEGRADED
    if incident.severity in (Severity.SEV1, Severity.SEV2):
        return ComponentState.MAJOR_OUTAGE
    if incident.severity is Severity.SEV3:
        return ComponentState.PARTIAL_OUTAGE
    return ComponentState.DEGRADED


# --- writing -------------------------------------------------------------------------------


def incident_components(session: Session, incident: Incident) -> list[str]:
    return list(
        session.scalars(
            select(IncidentComponent.component)
            .where(IncidentComponent.incident_id == incident.id)
            .order_by(IncidentComponent.component)
        )
    )


def _add_components(session: Session, incident: Incident, names: tuple[str, ...]) -> None:
    existing = set(incident_components(session, incident))
    for name in names:
        if name not in existing:
            session.add(
                IncidentComponent(team_id=incident.team_id, incident_id=incident.id, component=name)
            )
    session.flush()


def set_components(
    session: Session, incident: Incident, names: tuple[str, ...], *, by: str, now: datetime
) -> list[str]:
    """Replace the affected components (an empty tuple clears them); returns the new list."""
    session.execute(delete(IncidentComponent).where(IncidentComponent.incident_id == incident.id))
    _add_components(session, incident, names)
    shown = ", ".join(sorted(names)) or "none"
    record_event(
        session,
        incident,
        kind=EventKind.STATUS,
        text=f"Affected components set to: {shown}",
        author_id=by,
        occurred_at=now,
        now=now,
    )
    return sorted(names)


def post_update(
    session: Session,
    incident: Incident,
    *,
    text: str,
    components: tuple[str, ...],
    public: bool,
    by: str,
    now: datetime,
) -> IncidentUpdate:
    """Store an update, add its components to the incident's, and put it on the timeline."""
    update = IncidentUpdate(
        team_id=incident.team_id,
        incident_id=incident.id,
        text=text,
        components=list(components),
        public=public and not incident.channel_private,
        posted_by=by,
        posted_at=now,
    )
    session.add(update)
    _add_components(session, incident, components)
    label = "Public update" if update.public else "Stakeholder update"
    record_event(
        session,
        incident,
        kind=EventKind.NOTE,
        text=f"{label}: {text}",
        author_id=by,
        occurred_at=now,
        now=now,
        source=EventSource.COMMAND,
    )
    return update


# --- the public view -----------------------------------------------------------------------


@dataclass(frozen=True)
class PublicUpdate:
    text: str  # plain text (mentions and links reduced to their labels)
    components: tuple[str, ...]
    posted_at: datetime


@dataclass(frozen=True)
class PublicIncident:
    key: str
    title: str  # plain text
    status: str
    severity: str
    state: ComponentState
    components: tuple[str, ...]
    declared_at: datetime
    mitigated_at: datetime | None
    resolved_at: datetime | None
    updates: tuple[PublicUpdate, ...]  # newest first
    summary_available: bool  # resolved and its postmortem is Completed

    @property
    def summary_path(self) -> str | None:
        return f"/status/incidents/{self.key}" if self.summary_available else None


@dataclass(frozen=True)
class ComponentView:
    name: str
    state: ComponentState


@dataclass(frozen=True)
class StatusView:
    title: str
    generated_at: datetime
    components: tuple[ComponentView, ...]
    active: tuple[PublicIncident, ...]
    recently_resolved: tuple[PublicIncident, ...]

    @property
    def overall(self) -> ComponentState:
        states = [c.state for c in self.components] + [i.state for i in self.active]
        return min(states, key=lambda s: s.rank, default=ComponentState.OPERATIONAL)


def _public_incident(session: Session, incident: Incident) -> PublicIncident:
    updates = session.scalars(
        select(IncidentUpdate)
        .where(IncidentUpdate.incident_id == incident.id, IncidentUpdate.public.is_(True))
        .order_by(IncidentUpdate.posted_at.desc(), IncidentUpdate.id.desc())
    ).all()
    completed = session.scalar(
        select(Postmortem.id).where(
            Postmortem.incident_id == incident.id,
            Postmortem.status == PostmortemStatus.COMPLETED,
        )
    )
    return PublicIncident(
        key=incident.key,
        title=plain_text(incident.title),
        status=incident.status.value,
        severity=incident.severity.label,
        state=state_for(incident),
        components=tuple(incident_components(session, incident)),
        declared_at=incident.declared_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        updates=tuple(
            PublicUpdate(plain_text(u.text), tuple(u.components), u.posted_at) for u in updates
        ),
        summary_available=incident.status is IncidentStatus.RESOLVED and completed is not None,
    )


def status_view(session: Session, *, title: str, now: datetime) -> StatusView:
    """Everything the status page shows; never a private incident or a non-public update."""
    public = public_incidents_filter()  # the one rule (bot.core.visibility)
    open_incidents = session.scalars(
        select(Incident)
        .where(public, Incident.status != IncidentStatus.RESOLVED)
        .order_by(Incident.severity, Incident.declared_at.desc())
    ).all()
    resolved = session.scalars(
        select(Incident)
        .where(
            public,
            Incident.status == IncidentStatus.RESOLVED,
            Incident.resolved_at >= now - RECENTLY_RESOLVED,
        )
        .order_by(Incident.resolved_at.desc())
    ).all()
    active = tuple(_public_incident(session, i) for i in open_incidents)
    known = session.scalars(
        select(IncidentComponent.component)
        .join(Incident, Incident.id == IncidentComponent.incident_id)
        .where(public)
        .distinct()
    ).all()
    states = {name: ComponentState.OPERATIONAL for name in known}
    for incident in active:
        for name in incident.components:
            states[name] = min(states.get(name, incident.state), incident.state, key=_rank)
    return StatusView(
        title=title,
        generated_at=now,
        components=tuple(ComponentView(n, states[n]) for n in sorted(states)),
        active=active,
        recently_resolved=tuple(_public_incident(session, i) for i in resolved),
    )


def _rank(state: ComponentState) -> int:
    return state.rank


def public_summary(session: Session, key: str) -> PublicIncident | None:
    """A resolved public incident whose postmortem is Completed, by key (`INC-42`); else None."""
    number = key.upper().removeprefix("INC-")
    if not number.isdigit():
        return None
    incident = session.scalar(
        select(Incident)
        .join(Postmortem, Postmortem.incident_id == Incident.id)
        .where(
            Incident.number == int(number),
            public_incidents_filter(),
            Incident.status == IncidentStatus.RESOLVED,
            Postmortem.status == PostmortemStatus.COMPLETED,
        )
        .order_by(Incident.resolved_at.desc())
        .limit(1)
    )
    return None if incident is None else _public_incident(session, incident)
