"""One incident's page, read from the database (takes a Session; the caller owns it).

The archive is bot.knowledge.search's (`list_incidents`, `search_incidents`), and who may see
what is bot.knowledge.access's: the web view has no rule of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it import MarkdownIt
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.incidents.keytime_service import key_times_of
from bot.incidents.keytimes import KeyTimes, Metrics, metrics
from bot.knowledge.tags import labels_of
from bot.postmortem.context import load_names, timeline_of
from storage.models import (
    FollowUp,
    Incident,
    Postmortem,
    PostmortemVersion,
    TimelineEvent,
)

# CommonMark with tables; raw HTML off, so what people wrote is escaped, never markup, and
# markdown-it's own link check refuses javascript:, vbscript:, file: and data: URLs.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


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
        tags=labels_of(session, incident.id),
        names=load_names(session, incident.team_id, people),
    )
