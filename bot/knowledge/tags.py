"""Incident tags: free tags people add (`/incident tag database,payments`) and the components
already on an incident, which count as tags for listing, search and recurrence.

A tag is a normalised slug (lowercase, trimmed, `#` dropped), so `Database`, ` database ` and
`#database` are one tag; anything else is refused with a message that says what a tag may be.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, func, or_, select, union
from sqlalchemy.orm import Session

from bot.core.errors import UserError
from bot.knowledge.access import Viewer, viewer_filter
from bot.slack.mrkdwn import quote
from bot.timeline.service import record_event
from storage.models import EventKind, Incident, IncidentComponent, IncidentTag

MAX_TAG_LENGTH = 40
MAX_TAGS = 20  # per incident, and per command
_TAG = re.compile(r"[a-z0-9][a-z0-9._-]*")
TAG_RULES = (
    f"A tag is up to {MAX_TAG_LENGTH} lowercase letters, digits, `-`, `_` or `.`, starting with "
    "a letter or digit; separate tags with commas, for example `database,payments`."
)


def normalise_tag(raw: str) -> str:
    """One tag as people type it → its stored form; a clear UserError otherwise."""
    tag = raw.strip().lstrip("#").strip().lower()
    if not tag:
        raise UserError("An empty tag isn't a tag. " + TAG_RULES)
    if len(tag) > MAX_TAG_LENGTH or not _TAG.fullmatch(tag):
        raise UserError(f"{quote(raw)} isn't a tag. " + TAG_RULES)
    return tag


def parse_tags(raw: str) -> tuple[str, ...]:
    """`database, payments #db` → ("database", "payments", "db"): no repeats, order kept."""
    tags: list[str] = []
    for part in re.split(r"[,\s]+", raw.strip()):
        if not part:
            continue
        tag = normalise_tag(part)
        if tag not in tags:
            tags.append(tag)
    if not tags:
        raise UserError("Name at least one tag. " + TAG_RULES)
    if len(tags) > MAX_TAGS:
        raise UserError(f"That is {len(tags)} tags; name at most {MAX_TAGS} at once.")
    return tuple(tags)


def free_tags(session: Session, incident_id: int) -> list[str]:
    return list(
        session.scalars(
            select(IncidentTag.tag)
            .where(IncidentTag.incident_id == incident_id)
            .order_by(IncidentTag.tag)
        )
    )


def components(session: Session, incident_id: int) -> list[str]:
    return list(
        session.scalars(
            select(IncidentComponent.component)
            .where(IncidentComponent.incident_id == incident_id)
            .order_by(IncidentComponent.component)
        )
    )


def labels_of(session: Session, incident_id: int) -> list[str]:
    """Free tags and components together (what search and recurrence compare), sorted."""
    return sorted(set(free_tags(session, incident_id)) | set(components(session, incident_id)))


def labels_by_incident(session: Session, incident_ids: list[int]) -> dict[int, list[str]]:
    """`labels_of` for many incidents in two queries (a page of results)."""
    found: dict[int, set[str]] = {i: set() for i in incident_ids}
    if not incident_ids:
        return {}
    for incident_id, tag in session.execute(
        select(IncidentTag.incident_id, IncidentTag.tag).where(
            IncidentTag.incident_id.in_(incident_ids)
        )
    ):
        found[incident_id].add(tag)
    for incident_id, name in session.execute(
        select(IncidentComponent.incident_id, IncidentComponent.component).where(
            IncidentComponent.incident_id.in_(incident_ids)
        )
    ):
        found[incident_id].add(name)
    return {i: sorted(names) for i, names in found.items()}


def has_label(tag: str) -> ColumnElement[bool]:
    """A WHERE clause on `Incident`: it carries `tag`, as a free tag or a component."""
    return or_(
        exists().where(IncidentTag.incident_id == Incident.id, IncidentTag.tag == tag),
        exists().where(
            IncidentComponent.incident_id == Incident.id, IncidentComponent.component == tag
        ),
    )


def add_tags(
    session: Session, incident: Incident, tags: tuple[str, ...], *, by: str, now: datetime
) -> list[str]:
    """Add free tags (already normalised); returns those that were new. The change goes on
    the timeline, so the incident's history says who tagged it."""
    have = set(free_tags(session, incident.id))
    new = [t for t in tags if t not in have]
    if len(have) + len(new) > MAX_TAGS:
        raise UserError(
            f"{incident.key} would have {len(have) + len(new)} tags; keep it to {MAX_TAGS} "
            "(`/incident untag <tag>` removes one)."
        )
    for tag in new:
        session.add(
            IncidentTag(
                team_id=incident.team_id,
                incident_id=incident.id,
                tag=tag,
                added_by=by,
                added_at=now,
            )
        )
    if new:
        session.flush()
        record_event(
            session,
            incident,
            kind=EventKind.STATUS,
            text="Tagged " + ", ".join(new),
            author_id=by,
            occurred_at=now,
            now=now,
        )
    return new


def remove_tags(
    session: Session, incident: Incident, tags: tuple[str, ...], *, by: str, now: datetime
) -> list[str]:
    """Remove free tags; returns those that were there. Components are not tags to remove
    here (`/incident components` sets them)."""
    have = set(free_tags(session, incident.id))
    gone = [t for t in tags if t in have]
    if gone:
        session.execute(
            delete(IncidentTag).where(
                IncidentTag.incident_id == incident.id, IncidentTag.tag.in_(gone)
            )
        )
        record_event(
            session,
            incident,
            kind=EventKind.STATUS,
            text="Untagged " + ", ".join(gone),
            author_id=by,
            occurred_at=now,
            now=now,
        )
    return gone


def team_tags(
    session: Session, team_id: str, *, viewer: Viewer, limit: int = 50
) -> list[tuple[str, int]]:
    """The tags (free tags and components) of the incidents `viewer` may see, with how many
    incidents carry each, most used first (a private incident's tags are its own business)."""
    seen = select(Incident.id).where(Incident.team_id == team_id, viewer_filter(viewer))
    both = union(
        select(IncidentTag.tag.label("tag"), IncidentTag.incident_id).where(
            IncidentTag.team_id == team_id, IncidentTag.incident_id.in_(seen)
        ),
        select(IncidentComponent.component.label("tag"), IncidentComponent.incident_id).where(
            IncidentComponent.team_id == team_id, IncidentComponent.incident_id.in_(seen)
        ),
    ).subquery()
    count = func.count().label("n")
    rows = session.execute(
        select(both.c.tag, count)
        .group_by(both.c.tag)
        .order_by(count.desc(), both.c.tag)
        .limit(limit)
    )
    return [(str(tag), int(n)) for tag, n in rows]
