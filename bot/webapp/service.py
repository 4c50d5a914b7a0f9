"""What the web view's pages read from the database (takes a Session; the caller owns it).

Visibility is not decided here: callers pass `visible`, a WHERE clause on `Incident` built by
`bot.webapp.visibility` for the person signed in, and every query of incidents carries it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from markdown_it import MarkdownIt
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from bot.incidents.keytime_service import key_times_of
from bot.incidents.keytimes import KeyTimes, Metrics, metrics
from bot.postmortem.context import load_names, timeline_of
from storage.models import (
    FollowUp,
    Incident,
    IncidentComponent,
    IncidentStatus,
    Postmortem,
    PostmortemVersion,
    Severity,
    TimelineEvent,
)

ARCHIVE_PAGE = 50
_INCIDENT_KEY = re.compile(r"^INC-(\d{1,9})$", re.IGNORECASE)
# CommonMark with tables; raw HTML off, so what people wrote is escaped, never markup, and
# markdown-it's own link check refuses javascript:, vbscript:, file: and data: URLs.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@dataclass(frozen=True)
class ArchiveFilters:
    status: IncidentStatus | None = None
    severity: Severity | None = None
    tag: str | None = None
    since: date | None = None
    until: date | None = None
    words: str | None = None
    page: int = 1


@dataclass(frozen=True)
class ArchivePage:
    incidents: list[Incident]
    total: int
    page: int
    pages: int
    tags: dict[int, list[str]]


@dataclass(frozen=True)
class IncidentPage:
    incident: Incident
    times: KeyTimes
    metrics: Metrics
    timeline: list[TimelineEvent]
    followups: list[FollowUp]
    postmortem: Postmortem | None
    postmortem_html: str | None  # the latest version, rendered safely
    postmortem_version: PostmortemVersion | None
    tags: list[str]
    names: dict[str, str]


def render_markdown(text: str) -> str:
    return str(_markdown.render(text))


def tags_of(session: Session, incident_ids: list[int]) -> dict[int, list[str]]:
    """Each incident's components (services), sorted."""
    found: dict[int, list[str]] = {}
    if not incident_ids:
        return found
    rows = session.execute(
        select(IncidentComponent.incident_id, IncidentComponent.component)
        .where(IncidentComponent.incident_id.in_(incident_ids))
        .order_by(IncidentComponent.component)
    )
    for incident_id, component in rows:
        found.setdefault(incident_id, []).append(component)
    return found


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def archive(
    session: Session, *, team_id: str, visible: ColumnElement[bool], filters: ArchiveFilters
) -> ArchivePage:
    """Incidents of the team the person may see, newest first, filtered, a page at a time."""
    query = select(Incident).where(Incident.team_id == team_id, visible)
    if filters.status is not None:
        query = query.where(Incident.status == filters.status)
    if filters.severity is not None:
        query = query.where(Incident.severity == filters.severity)
    if filters.since is not None:
        query = query.where(Incident.declared_at >= _day_start(filters.since))
    if filters.until is not None:
        query = query.where(Incident.declared_at < _day_start(filters.until + timedelta(days=1)))
    if filters.tag:
        tagged = select(IncidentComponent.incident_id).where(
            IncidentComponent.component == filters.tag.strip().lower()
        )
        query = query.where(Incident.id.in_(tagged))
    if filters.words:
        for word in filters.words.split()[:8]:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            by_title = Incident.title.ilike(f"%{escaped}%", escape="\\")
            key = _INCIDENT_KEY.match(word)
            query = query.where(
                or_(by_title, Incident.number == int(key.group(1))) if key else by_title
            )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // ARCHIVE_PAGE))
    page = min(max(1, filters.page), pages)
    incidents = list(
        session.scalars(
            query.order_by(Incident.declared_at.desc(), Incident.id.desc())
            .offset((page - 1) * ARCHIVE_PAGE)
            .limit(ARCHIVE_PAGE)
        )
    )
    return ArchivePage(incidents, total, page, pages, tags_of(session, [i.id for i in incidents]))


def find_incident(session: Session, *, team_id: str, number: int) -> Incident | None:
    return session.scalar(
        select(Incident).where(Incident.team_id == team_id, Incident.number == number)
    )


def incident_page(session: Session, incident: Incident) -> IncidentPage:
    times = key_times_of(session, incident)
    followups = list(
        session.scalars(
            select(FollowUp).where(FollowUp.incident_id == incident.id).order_by(FollowUp.number)
        ).unique()
    )
    postmortem = session.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))
    version = None
    if postmortem is not None:
        version = session.scalar(
            select(PostmortemVersion)
            .where(PostmortemVersion.postmortem_id == postmortem.id)
            .order_by(PostmortemVersion.version.desc())
            .limit(1)
        )
    timeline = timeline_of(session, incident)
    people = {incident.commander_id}
    people |= {e.author_id for e in timeline if e.author_id}
    people |= {f.owner_id for f in followups if f.owner_id}
    if postmortem is not None:
        people.add(postmortem.owner_id)
    return IncidentPage(
        incident=incident,
        times=times,
        metrics=metrics(times),
        timeline=timeline,
        followups=followups,
        postmortem=postmortem,
        postmortem_html=render_markdown(version.markdown) if version is not None else None,
        postmortem_version=version,
        tags=tags_of(session, [incident.id]).get(incident.id, []),
        names=load_names(session, incident.team_id, people),
    )


def all_tags(session: Session, *, team_id: str) -> list[str]:
    return list(
        session.scalars(
            select(IncidentComponent.component)
            .where(IncidentComponent.team_id == team_id)
            .distinct()
            .order_by(IncidentComponent.component)
        )
    )
