"""Key times on the database: read them (set + derived), set and clear them, with the rules.

Shared by the incident service (commands, the modal, reopening) and the timeline service
(moving a status event moves its key time), so it depends on neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import UserError
from bot.incidents.keytimes import (
    SETTABLE,
    Captured,
    KeyTimes,
    SetKeyTime,
    derive,
    out_of_order,
)
from storage.models import (
    EventKind,
    Incident,
    IncidentKeyTime,
    KeyTime,
    KeyTimeVia,
    TimelineEvent,
)


def captured_of(session: Session, incident: Incident) -> Captured:
    rows = session.execute(
        select(TimelineEvent.kind, TimelineEvent.occurred_at).where(
            TimelineEvent.incident_id == incident.id,
            TimelineEvent.kind.in_((EventKind.DETECTION, EventKind.MITIGATION)),
        )
    ).all()
    return Captured(
        declared_at=incident.declared_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        detections=tuple(at for kind, at in rows if kind is EventKind.DETECTION),
        mitigations=tuple(at for kind, at in rows if kind is EventKind.MITIGATION),
    )


def stored_key_times(session: Session, incident: Incident) -> dict[KeyTime, SetKeyTime]:
    rows = session.scalars(
        select(IncidentKeyTime).where(IncidentKeyTime.incident_id == incident.id)
    )
    return {row.kind: SetKeyTime(row.at, row.set_by, row.via) for row in rows}


def key_times_of(session: Session, incident: Incident) -> KeyTimes:
    """The incident's key times as they stand: what people set, the rest derived."""
    return derive(captured_of(session, incident), stored_key_times(session, incident))


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def check_order(times: KeyTimes, changed: set[KeyTime]) -> dict[KeyTime, str]:
    """What a change would contradict, per changed key time, in words people can act on."""
    problems: dict[KeyTime, str] = {}
    for first, second in out_of_order(times):
        if first.kind not in changed and second.kind not in changed:
            continue  # an old contradiction this change did not make
        blamed = second if second.kind in changed else first
        other = first if blamed is second else second
        assert other.at is not None
        relation = "before" if blamed is second else "after"
        origin = f", from {other.source}" if other.derived else ""
        problems.setdefault(
            blamed.kind,
            f"{blamed.label} can't be {relation} {other.label.lower()} "
            f"({_when(other.at)}{origin}). If that is wrong too, change it in *Edit key times*.",
        )
    return problems


def store_key_times(
    session: Session,
    incident: Incident,
    values: Mapping[KeyTime, datetime | None],
    *,
    by: str,
    via: KeyTimeVia,
    now: datetime,
) -> KeyTimes:
    """Set (a datetime) or clear (None: back to derived) key times together, refusing a
    result whose known times contradict each other. Returns the key times after the change."""
    for kind in values:
        if kind not in SETTABLE:
            raise UserError(f"{kind.label} is recorded by the bot and can't be set.")
    current = stored_key_times(session, incident)
    proposed = dict(current)
    for kind, at in values.items():
        if at is None:
            proposed.pop(kind, None)
        else:
            proposed[kind] = SetKeyTime(at, by, via)
    after = derive(captured_of(session, incident), proposed)
    problems = check_order(after, set(values))
    if problems:
        raise KeyTimeConflict(problems)
    rows = {
        row.kind: row
        for row in session.scalars(
            select(IncidentKeyTime).where(IncidentKeyTime.incident_id == incident.id)
        )
    }
    for kind, at in values.items():
        row = rows.get(kind)
        if at is None:
            if row is not None:
                session.delete(row)
            continue
        if row is None:
            session.add(
                IncidentKeyTime(
                    team_id=incident.team_id,
                    incident_id=incident.id,
                    kind=kind,
                    at=at,
                    set_by=by,
                    set_at=now,
                    via=via,
                )
            )
        elif row.at != at or row.via is not via or row.set_by != by:
            row.at, row.set_by, row.set_at, row.via = at, by, now, via
    session.flush()
    return after


def clear_key_times(session: Session, incident: Incident, kinds: tuple[KeyTime, ...]) -> None:
    """Forget what people set for `kinds` (they are derived again), with no checks: used when
    the incident itself moves back (reopening)."""
    for row in session.scalars(
        select(IncidentKeyTime).where(
            IncidentKeyTime.incident_id == incident.id, IncidentKeyTime.kind.in_(kinds)
        )
    ):
        session.delete(row)
    session.flush()


class KeyTimeConflict(UserError):
    """Key times that would contradict each other; `problems` per key time (modal errors)."""

    def __init__(self, problems: dict[KeyTime, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems
